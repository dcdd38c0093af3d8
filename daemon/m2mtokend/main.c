/*
 * m2mtokend: the host daemon of m2mtoken (docs/operations.md, "m2mtokend").
 *
 *   m2mtokend [-c CONFIG] [-t] [-h] [-V]
 *
 * Hardening first (umask 077, no core dumps, not dumpable), then the
 * configuration, the token (PIN from a root-only file or a systemd
 * credential), the TLS contexts for the MEF, the socket (systemd's, or
 * its own), and the event loop.  Runs in the foreground; under systemd it
 * says READY=1 / STOPPING=1 with sd_notify.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <systemd/sd-daemon.h>

#include <m2mtoken/tls.h>

#include "conf.h"
#include "log.h"
#include "methods.h"
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

/* Our own listening socket at conf->socket_path; the fd or -1. */
static int
own_socket(const struct mtd_conf *c)
{
	struct sockaddr_un sun;
	struct stat st;
	struct group *gr;
	int fd = -1, probe;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(c->socket_path) >= sizeof(sun.sun_path)) {
		mtd_log(MTD_LOG_ERR, "[daemon] socket: path too long");
		return -1;
	}
	memcpy(sun.sun_path, c->socket_path, strlen(c->socket_path));
	if (lstat(c->socket_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			mtd_log(MTD_LOG_ERR, "%s exists and is not a socket",
			    c->socket_path);
			return -1;
		}
		/* a live daemon answers; a stale socket file does not */
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe != -1 && connect(probe, (struct sockaddr *)&sun,
		    sizeof(sun)) == 0) {
			close(probe);
			mtd_log(MTD_LOG_ERR, "%s: another m2mtokend is "
			    "serving it", c->socket_path);
			return -1;
		}
		if (probe != -1)
			close(probe);
		unlink(c->socket_path);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		mtd_log(MTD_LOG_ERR, "cannot bind %s: %s (does its directory "
		    "exist?)", c->socket_path, strerror(errno));
		goto fail;
	}
	if (c->socket_group != NULL) {
		if ((gr = getgrnam(c->socket_group)) == NULL) {
			mtd_log(MTD_LOG_ERR, "[daemon] socket_group %s: no "
			    "such group", c->socket_group);
			goto fail;
		}
		if (chown(c->socket_path, (uid_t)-1, gr->gr_gid) != 0) {
			mtd_log(MTD_LOG_ERR, "chown %s: %s", c->socket_path,
			    strerror(errno));
			goto fail;
		}
	}
	if (chmod(c->socket_path, c->socket_mode) != 0 ||
	    listen(fd, 128) != 0) {
		mtd_log(MTD_LOG_ERR, "%s: %s", c->socket_path,
		    strerror(errno));
		goto fail;
	}
	return fd;
 fail:
	if (fd != -1) {
		close(fd);
		unlink(c->socket_path);
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

int
main(int argc, char **argv)
{
	const char *conf_path = MTD_CONF_DEFAULT;
	struct mtd d;
	char err[300], pin[MTD_PIN_MAX + 1];
	size_t pin_len = 0;
	int ch, check = 0, fd = -1, own = 0, n, rc = 1;
	CK_RV rv;

	memset(&d, 0, sizeof(d));
	if (harden() != 0)
		return 1;
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
	if (mtd_conf_load(conf_path, &d.conf, err, sizeof(err)) != 0) {
		mtd_log(MTD_LOG_ERR, "%s: %s", conf_path, err);
		return 1;
	}
	mtd_log_set_level(d.conf->log_level);
	if (mtd_conf_read_pin(d.conf, pin, &pin_len, err, sizeof(err)) != 0) {
		mtd_log(MTD_LOG_ERR, "%s", err);
		goto out;
	}
	if (check) {
		printf("%s: configuration OK, %zu caller rules\n", conf_path,
		    m2m_acl_rules(d.conf->acl));
		rc = 0;
		goto out;
	}
	if ((rv = mtd_tok_open(d.conf->module, d.conf->module_config,
	    d.conf->token_label, pin, pin_len, &d.tok, err, sizeof(err))) !=
	    CKR_OK) {
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
	if ((n = sd_listen_fds(1)) > 1) {
		mtd_log(MTD_LOG_ERR, "systemd passed %d sockets; expected 1",
		    n);
		goto out;
	} else if (n == 1) {
		fd = SD_LISTEN_FDS_START;
		if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
			mtd_log(MTD_LOG_ERR, "the socket systemd passed is "
			    "not a listening Unix stream socket");
			goto out;
		}
	} else {
		if ((fd = own_socket(d.conf)) == -1)
			goto out;
		own = 1;
	}
	mtd_log(MTD_LOG_INFO, "serving %s (token '%s'%s%s%s%s)",
	    own ? d.conf->socket_path : "the socket from systemd",
	    d.conf->token_label, d.enrolee_ctx ? ", enrolee " : "",
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
