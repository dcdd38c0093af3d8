/*
 * m2mtokend: the host daemon of m2mtoken (docs/operations.md, "m2mtokend").
 *
 *   m2mtokend [-c CONFIG] [-t] [-h] [-V]
 *   m2mtokend --pkcs11-worker -c CONFIG -- [PATTERN...]   (p11listen.h)
 *
 * Hardening first (umask 077, no core dumps, not dumpable), then the
 * configuration and the rights of its files, the token (PIN from a
 * private file or a systemd credential), the TLS contexts for the MEF,
 * the sockets (systemd's, named "flow" and "pkcs11", or its own), and the
 * event loop.  Runs in the foreground; under systemd it says READY=1 /
 * STOPPING=1 with sd_notify.
 */
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dlfcn.h>
#include <openssl/crypto.h>
#include <systemd/sd-daemon.h>

#include <m2mtoken/tls.h>

#include "acl.h"
#include "conf.h"
#include "log.h"
#include "methods.h"
#include "p11listen.h"
#include "p11worker.h"
#include "server.h"
#include "tok.h"

static void
usage(FILE *f)
{
	fprintf(f, "usage: m2mtokend [-c CONFIG] [-t] [-h] [-V]\n"
	    "  -c, --config CONFIG  configuration file (default %s)\n"
	    "  -t, --check          check the configuration and the PIN "
	    "file, then exit\n"
	    "  -h, --help           this help\n"
	    "  -V, --version        version\n"
	    "Runs in the foreground; stop it with SIGTERM.  See "
	    "docs/operations.md.\n", MTD_CONF_DEFAULT);
}

static int
harden(void)
{
	struct rlimit rl = { 0, 0 };

	umask(077);
	if (setrlimit(RLIMIT_CORE, &rl) != 0 ||
	    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		mtd_log(MTD_LOG_ERR, "cannot disable core dumps: %s",
		    strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Our own listening socket at path (mode, group: NULL for ours); sec
 * names the configuration section in messages.  The fd or -1.
 */
static int
own_socket(const char *path, mode_t mode, const char *group,
    const char *sec)
{
	struct sockaddr_un sun;
	struct stat st;
	struct group *gr;
	int fd = -1, probe;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		mtd_log(MTD_LOG_ERR, "[%s] socket: path too long", sec);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			mtd_log(MTD_LOG_ERR, "%s exists and is not a socket",
			    path);
			return -1;
		}
		/* a live daemon answers; a stale socket file does not */
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe != -1 && connect(probe, (struct sockaddr *)&sun,
		    sizeof(sun)) == 0) {
			close(probe);
			mtd_log(MTD_LOG_ERR, "%s: another m2mtokend is "
			    "serving it", path);
			return -1;
		}
		if (probe != -1)
			close(probe);
		unlink(path);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		mtd_log(MTD_LOG_ERR, "cannot bind %s: %s (does its directory "
		    "exist?)", path, strerror(errno));
		goto fail;
	}
	if (group != NULL) {
		if ((gr = getgrnam(group)) == NULL) {
			mtd_log(MTD_LOG_ERR, "[%s] socket_group %s: no "
			    "such group", sec, group);
			goto fail;
		}
		if (chown(path, (uid_t)-1, gr->gr_gid) != 0) {
			mtd_log(MTD_LOG_ERR, "chown %s: %s", path,
			    strerror(errno));
			goto fail;
		}
	}
	if (chmod(path, mode) != 0 ||
	    listen(fd, 128) != 0) {
		mtd_log(MTD_LOG_ERR, "%s: %s", path,
		    strerror(errno));
		goto fail;
	}
	return fd;
 fail:
	if (fd != -1) {
		close(fd);
		unlink(path);
	}
	return -1;
}

static void
notify_ready(void)
{
	sd_notify(0, "READY=1\nSTATUS=serving");
	mtd_log(MTD_LOG_INFO, "ready");
}

static SSL_CTX *
mef_ctx(const struct mtd_conf *c, const char *identity, const char *pin,
    size_t pin_len)
{
	struct m2m_tls_opts o;
	SSL_CTX *ctx = NULL;
	int r;

	memset(&o, 0, sizeof(o));
	o.module = c->module;
	o.token_label = c->token_label;
	o.pin = pin;
	o.pin_len = pin_len;
	o.role = M2M_TLS_CLIENT;
	o.sni = c->mef_fqdn;
	o.identity = identity;
	if ((r = m2m_tls_ctx_new(&o, &ctx)) != 0) {
		mtd_log(MTD_LOG_ERR, "TLS context for identity %s: %s",
		    identity, m2m_tls_strerror(r));
		return NULL;
	}
	return ctx;
}

/* The token patterns of a worker, for its visible() callback. */
struct patterns {
	const char *const	*v;
	size_t			 n;
};

static int
worker_visible(void *arg, const CK_UTF8CHAR label[32])
{
	const struct patterns *p = arg;

	return m2m_acl_label_match(p->v, p->n, (const char *)label, 32);
}

/*
 * m2mtokend --pkcs11-worker -c CONFIG -- [PATTERN...]: serves the
 * client-mode connection on fd 3 (p11listen.h) with the module loaded as
 * the daemon loads it.  Its exit status.
 */
static int
worker_main(int argc, char **argv)
{
	struct mtd_conf *conf = NULL;
	struct mtd_p11worker_limits lim;
	struct patterns pat;
	CK_C_GetInterface gi;
	CK_INTERFACE_PTR iface = NULL;
	CK_VERSION v3 = { 3, 0 };
	struct stat st;
	char err[300];
	void *dl = NULL;
	int rc = 1;

	if (argc < 5 || strcmp(argv[2], "-c") != 0 ||
	    strcmp(argv[4], "--") != 0) {
		mtd_log(MTD_LOG_ERR, "usage: m2mtokend %s -c CONFIG -- "
		    "[PATTERN...]", MTD_P11_WORKER_ARG);
		return 2;
	}
	pat.v = (const char *const *)argv + 5;
	pat.n = (size_t)(argc - 5);
	/* systemd hears from the daemon alone */
	(void)unsetenv("NOTIFY_SOCKET");
	/* ps and top name it (exec'd as /proc/self/exe, it would be "exe") */
	(void)prctl(PR_SET_NAME, "m2mtokend-p11", 0, 0, 0);
	if (fstat(MTD_P11_WORKER_FD, &st) != 0 || !S_ISSOCK(st.st_mode)) {
		mtd_log(MTD_LOG_ERR, "pkcs11 worker: fd %d is not a socket",
		    MTD_P11_WORKER_FD);
		return 2;
	}
	if (mtd_conf_load(argv[3], &conf, err, sizeof(err)) != 0) {
		mtd_log(MTD_LOG_ERR, "%s: %s", argv[3], err);
		goto out;
	}
	mtd_log_set_level(conf->log_level);
	if (mtd_tok_dlopen(conf->module, conf->module_config, &dl, err,
	    sizeof(err)) != CKR_OK) {
		mtd_log(MTD_LOG_ERR, "pkcs11 worker: %s", err);
		goto out;
	}
	gi = (CK_C_GetInterface)dlsym(dl, "C_GetInterface");
	if (gi == NULL || gi((CK_UTF8CHAR_PTR)"PKCS 11", &v3, &iface, 0) !=
	    CKR_OK || iface == NULL || iface->pFunctionList == NULL) {
		mtd_log(MTD_LOG_ERR, "pkcs11 worker: %s has no PKCS #11 3.0 "
		    "interface", conf->module);
		goto out;
	}
	lim.frame_max = conf->p11_frame_max;
	lim.stall_s = conf->p11_stall_timeout;
	lim.hello_s = conf->p11_hello_timeout;
	lim.idle_s = conf->p11_idle_timeout;
	rc = mtd_p11worker_run(MTD_P11_WORKER_FD,
	    (CK_FUNCTION_LIST_3_0 *)iface->pFunctionList, worker_visible,
	    &pat, &lim);
 out:
	close(MTD_P11_WORKER_FD);
	if (dl != NULL)
		dlclose(dl);
	mtd_conf_free(conf);
	return rc;
}

/*
 * The sockets systemd passed: the one named "pkcs11" into *p11_fd, the
 * other one (named "flow", or unnamed) into *flow_fd.  0, or -1 (logged).
 */
static int
systemd_sockets(int *flow_fd, int *p11_fd)
{
	char **names = NULL;
	int fd, i, n, r = -1;

	if ((n = sd_listen_fds_with_names(1, &names)) < 0) {
		mtd_log(MTD_LOG_ERR, "sd_listen_fds: %s", strerror(-n));
		return -1;
	}
	for (i = 0; i < n; i++) {
		fd = SD_LISTEN_FDS_START + i;
		if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
			mtd_log(MTD_LOG_ERR, "socket %d from systemd is not "
			    "a listening Unix stream socket", i);
			goto out;
		}
		if (names != NULL && names[i] != NULL &&
		    strcmp(names[i], "pkcs11") == 0 && *p11_fd == -1)
			*p11_fd = fd;
		else if (*flow_fd == -1 && (names == NULL ||
		    names[i] == NULL || strcmp(names[i], "pkcs11") != 0))
			*flow_fd = fd;
		else {
			mtd_log(MTD_LOG_ERR, "systemd passed %d sockets; "
			    "expected one named flow and one named pkcs11",
			    n);
			goto out;
		}
	}
	r = 0;
 out:
	for (i = 0; names != NULL && names[i] != NULL; i++)
		free(names[i]);
	free(names);
	return r;
}

int
main(int argc, char **argv)
{
	const char *conf_path = MTD_CONF_DEFAULT;
	struct mtd d;
	char err[300], pin[MTD_PIN_MAX + 1];
	size_t pin_len = 0;
	int ch, check = 0, fd = -1, own = 0, p11fd = -1, own11 = 0, rc = 1;
	CK_RV rv;

	memset(&d, 0, sizeof(d));
	memset(pin, 0, sizeof(pin));
	if (harden() != 0)
		return 1;
	if (argc >= 2 && strcmp(argv[1], MTD_P11_WORKER_ARG) == 0)
		return worker_main(argc, argv);
	/*
	 * SIGHUP must not end the daemon while it starts (token, MEF
	 * contexts, sockets) or stops: ignored from here on.  The event
	 * loop's handler (server.c: "SIGHUP: ignored") takes it over while
	 * the loop runs, and libevent puts this disposition back when that
	 * event is freed.  systemd takes a death by SIGHUP for a clean exit:
	 * Restart=on-failure would not restart the daemon.  The workers
	 * start from the loop, with its handler, so their exec() gives them
	 * the default again.
	 */
	signal(SIGHUP, SIG_IGN);
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};

	while ((ch = getopt_long(argc, argv, "c:thV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			conf_path = optarg;
			break;
		case 't':
			check = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("m2mtokend 0.1.0\n");
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (getenv("M2MTOKEN_DAEMON_SOCKET") != NULL)
		mtd_log(MTD_LOG_INFO, "M2MTOKEN_DAEMON_SOCKET is set: ignored "
		    "(the daemon runs the token itself)");
	if (mtd_conf_load(conf_path, &d.conf, err, sizeof(err)) != 0) {
		mtd_log(MTD_LOG_ERR, "%s: %s", conf_path, err);
		return 1;
	}
	mtd_log_set_level(d.conf->log_level);
	if (mtd_conf_check_files(d.conf, conf_path, err, sizeof(err)) != 0) {
		mtd_log(MTD_LOG_ERR, "%s", err);
		goto out;
	}
	if (d.conf->token_label != NULL && mtd_conf_read_pin(d.conf, pin,
	    &pin_len, err, sizeof(err)) != 0) {
		mtd_log(MTD_LOG_ERR, "%s", err);
		goto out;
	}
	if (check) {
		printf("%s: configuration OK, %zu caller rules\n", conf_path,
		    m2m_acl_rules(d.conf->acl));
		rc = 0;
		goto out;
	}
	if (d.conf->token_label != NULL && (rv = mtd_tok_open(d.conf->module,
	    d.conf->module_config, d.conf->token_label, pin, pin_len, &d.tok,
	    err, sizeof(err))) != CKR_OK) {
		mtd_log(MTD_LOG_ERR, "token '%s': %s", d.conf->token_label,
		    err);
		goto out;
	}
	if (d.conf->mef_host != NULL && d.conf->kpm_id != NULL &&
	    (d.enrolee_ctx = mef_ctx(d.conf, d.conf->kpm_id, pin,
	    pin_len)) == NULL)
		goto out;
	if (d.conf->mef_host != NULL && d.conf->target_id != NULL &&
	    (d.target_ctx = mef_ctx(d.conf, d.conf->target_id, pin,
	    pin_len)) == NULL)
		goto out;
	OPENSSL_cleanse(pin, sizeof(pin));
	if (systemd_sockets(&fd, &p11fd) != 0)
		goto out;
	if (fd == -1) {
		if ((fd = own_socket(d.conf->socket_path, d.conf->socket_mode,
		    d.conf->socket_group, "daemon")) == -1)
			goto out;
		own = 1;
	}
	if (d.conf->p11_socket != NULL && p11fd == -1) {
		if ((p11fd = own_socket(d.conf->p11_socket,
		    d.conf->p11_socket_mode, d.conf->p11_socket_group,
		    "pkcs11")) == -1)
			goto out;
		own11 = 1;
	}
	if (p11fd != -1) {
		/* the listener owns p11fd from here on */
		d.p11 = mtd_p11listen_new(d.conf, conf_path, p11fd);
		if (d.p11 == NULL) {
			mtd_log(MTD_LOG_ERR, "out of memory");
			goto out;
		}
		mtd_log(MTD_LOG_INFO, "client mode on %s (at most %u clients, "
		    "frame_max %u, stall_timeout %u s)", own11 ?
		    d.conf->p11_socket : "the pkcs11 socket from systemd",
		    d.conf->p11_max_clients, d.conf->p11_frame_max,
		    d.conf->p11_stall_timeout);
	}
	mtd_log(MTD_LOG_INFO, "serving %s (token '%s'%s%s%s%s)",
	    own ? d.conf->socket_path : "the socket from systemd",
	    d.conf->token_label != NULL ? d.conf->token_label :
	    "- (client mode only)", d.enrolee_ctx ? ", enrolee " : "",
	    d.enrolee_ctx ? d.conf->kpm_id : "",
	    d.target_ctx ? ", target " : "",
	    d.target_ctx ? d.conf->target_id : "");
	d.started = time(NULL);
	if (mtd_server_run(&d, fd, notify_ready) != 0)
		goto out;
	sd_notify(0, "STOPPING=1");
	rc = 0;
 out:
	OPENSSL_cleanse(pin, sizeof(pin));
	mtd_p11listen_free(d.p11);	/* NULL after mtd_server_run */
	if (p11fd != -1 && d.p11 == NULL && own11)
		unlink(d.conf->p11_socket);
	if (fd != -1) {
		close(fd);
		if (own)
			unlink(d.conf->socket_path);
	}
	m2m_tls_ctx_free(d.enrolee_ctx);
	m2m_tls_ctx_free(d.target_ctx);
	mtd_tok_close(d.tok);
	mtd_conf_free(d.conf);
	return rc;
}
