/*
 * m2mtokend: configuration file (see conf.h).
 */
#define _GNU_SOURCE	/* secure_getenv, as the module reads M2MTOKEN_CONF */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>
#include <libgen.h>
#include <openssl/crypto.h>

#include <m2mtoken/conf-path.h>

#include "conf.h"
#include "errors.h"
#include "log.h"
#include "p11wire.h"

struct parse {
	struct mtd_conf	*c;
	char		 why[200];
	int		 failed;
	int		 nomem;
};

static void
failf(struct parse *p, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return;
	p->failed = 1;
	va_start(ap, fmt);
	vsnprintf(p->why, sizeof(p->why), fmt, ap);
	va_end(ap);
}

/* 1 if s holds a control character (values are shown in errors). */
static int
has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

static int
set_str(struct parse *p, const char *sec, const char *key, const char *v,
    int path, char **dst)
{
	if (*dst != NULL) {
		failf(p, "[%s] %s given twice", sec, key);
		return 0;
	}
	if (*v == '\0' || has_ctl(v) || strlen(v) > PATH_MAX) {
		failf(p, "[%s] %s: empty, too long or has control characters",
		    sec, key);
		return 0;
	}
	if (path && v[0] != '/') {
		failf(p, "[%s] %s: needs an absolute path", sec, key);
		return 0;
	}
	if ((*dst = strdup(v)) == NULL) {
		p->nomem = 1;
		failf(p, "out of memory");
		return 0;
	}
	return 1;
}

static int
set_num(struct parse *p, const char *sec, const char *key, const char *v,
    int base, unsigned long lo, unsigned long hi, unsigned int *dst)
{
	unsigned long n;
	char *end;

	errno = 0;
	if (*v < '0' || *v > '9' || (n = strtoul(v, &end, base), errno) != 0 ||
	    *end != '\0' || n < lo || n > hi) {
		failf(p, base == 8 ? "[%s] %s: an octal number %lo..%lo" :
		    "[%s] %s: a number %lu..%lu", sec, key, lo, hi);
		return 0;
	}
	*dst = (unsigned int)n;
	return 1;
}

static int
handler(void *user, const char *sec, const char *key, const char *v)
{
	struct parse *p = user;
	struct mtd_conf *c = p->c;
	unsigned int mode;

	if (p->failed)
		return 0;
	if (strncmp(sec, M2M_ACL_SECTION_PREFIX,
	    sizeof(M2M_ACL_SECTION_PREFIX) - 1) == 0)
		return 1;	/* the ACL parser's */
	if (key == NULL)
		return 1;	/* a section header alone */
	if (strcmp(sec, "daemon") == 0) {
		if (strcmp(key, "socket") == 0)
			return set_str(p, sec, key, v, 1, &c->socket_path);
		if (strcmp(key, "socket_mode") == 0) {
			if (!set_num(p, sec, key, v, 8, 0, 0777, &mode))
				return 0;
			c->socket_mode = (mode_t)mode;
			return 1;
		}
		if (strcmp(key, "socket_group") == 0)
			return set_str(p, sec, key, v, 0, &c->socket_group);
		if (strcmp(key, "max_connections") == 0)
			return set_num(p, sec, key, v, 10, 1, 4096,
			    &c->max_connections);
		if (strcmp(key, "max_connections_per_uid") == 0)
			return set_num(p, sec, key, v, 10, 1, 4096,
			    &c->max_conn_per_uid);
		if (strcmp(key, "idle_timeout") == 0)
			return set_num(p, sec, key, v, 10, 1, 3600,
			    &c->idle_timeout);
		if (strcmp(key, "log_level") == 0) {
			if (strcmp(v, "error") == 0)
				c->log_level = MTD_LOG_ERR;
			else if (strcmp(v, "warning") == 0)
				c->log_level = MTD_LOG_WARNING;
			else if (strcmp(v, "info") == 0)
				c->log_level = MTD_LOG_INFO;
			else if (strcmp(v, "debug") == 0)
				c->log_level = MTD_LOG_DEBUG;
			else {
				failf(p, "[daemon] log_level: error, warning, "
				    "info or debug");
				return 0;
			}
			return 1;
		}
	} else if (strcmp(sec, "token") == 0) {
		if (strcmp(key, "module") == 0)
			return set_str(p, sec, key, v, 1, &c->module);
		if (strcmp(key, "config") == 0)
			return set_str(p, sec, key, v, 1, &c->module_config);
		if (strcmp(key, "label") == 0) {
			if (strlen(v) > 32) {
				failf(p, "[token] label: at most 32 bytes");
				return 0;
			}
			return set_str(p, sec, key, v, 0, &c->token_label);
		}
		if (strcmp(key, "pin_file") == 0)
			return set_str(p, sec, key, v, 1, &c->pin_file);
		if (strcmp(key, "pin_credential") == 0) {
			if (strchr(v, '/') != NULL || strcmp(v, ".") == 0 ||
			    strcmp(v, "..") == 0) {
				failf(p, "[token] pin_credential: a name, "
				    "not a path");
				return 0;
			}
			return set_str(p, sec, key, v, 0, &c->pin_credential);
		}
	} else if (strcmp(sec, "pkcs11") == 0) {
		if (strcmp(key, "socket") == 0)
			return set_str(p, sec, key, v, 1, &c->p11_socket);
		if (strcmp(key, "socket_mode") == 0) {
			if (!set_num(p, sec, key, v, 8, 0, 0777, &mode))
				return 0;
			c->p11_socket_mode = (mode_t)mode;
			return 1;
		}
		if (strcmp(key, "socket_group") == 0)
			return set_str(p, sec, key, v, 0,
			    &c->p11_socket_group);
		if (strcmp(key, "max_clients") == 0)
			return set_num(p, sec, key, v, 10, 1, 4096,
			    &c->p11_max_clients);
		if (strcmp(key, "max_clients_per_uid") == 0)
			return set_num(p, sec, key, v, 10, 1, 4096,
			    &c->p11_max_per_uid);
		if (strcmp(key, "frame_max") == 0)
			return set_num(p, sec, key, v, 10, P11W_FRAME_MIN,
			    P11W_FRAME_HARD_MAX, &c->p11_frame_max);
		if (strcmp(key, "stall_timeout") == 0)
			return set_num(p, sec, key, v, 10, 1, 3600,
			    &c->p11_stall_timeout);
		if (strcmp(key, "hello_timeout") == 0)
			return set_num(p, sec, key, v, 10, 1, 60,
			    &c->p11_hello_timeout);
		if (strcmp(key, "idle_timeout") == 0)
			return set_num(p, sec, key, v, 10, 0, 86400,
			    &c->p11_idle_timeout);
	} else if (strcmp(sec, "mef") == 0) {
		if (strcmp(key, "host") == 0)
			return set_str(p, sec, key, v, 0, &c->mef_host);
		if (strcmp(key, "port") == 0)
			return set_num(p, sec, key, v, 10, 1, 65535,
			    &c->mef_port);
		if (strcmp(key, "fqdn") == 0)
			return set_str(p, sec, key, v, 0, &c->mef_fqdn);
		if (strcmp(key, "timeout") == 0)
			return set_num(p, sec, key, v, 10, 1, 300,
			    &c->mef_timeout);
		if (strcmp(key, "cert_port") == 0)
			return set_num(p, sec, key, v, 10, 1, 65535,
			    &c->mef_cert_port);
	} else if (strcmp(sec, "enrolee") == 0) {
		if (strcmp(key, "kpm_id") == 0)
			return set_str(p, sec, key, v, 0, &c->kpm_id);
		if (strcmp(key, "cert_key") == 0)
			return set_str(p, sec, key, v, 0, &c->cert_key);
		if (strcmp(key, "cert") == 0)
			return set_str(p, sec, key, v, strncmp(v, "pkcs11:",
			    7) != 0, &c->cert);
		if (strcmp(key, "ca") == 0)
			return set_str(p, sec, key, v, 1, &c->enrolee_ca);
	} else if (strcmp(sec, "target") == 0) {
		if (strcmp(key, "id") == 0)
			return set_str(p, sec, key, v, 0, &c->target_id);
	} else {
		failf(p, "unknown section [%.64s]", sec);
		return 0;
	}
	failf(p, "[%s] unknown key %.64s", sec, key);
	return 0;
}

/* The default cap per uid of a total: a quarter, at least 1. */
static unsigned int
per_uid_default(unsigned int total)
{
	return total / 4 > 0 ? total / 4 : 1;
}

/* see conf.h */
void
mtd_conf_free(struct mtd_conf *c)
{
	if (c == NULL)
		return;
	free(c->socket_path);
	free(c->socket_group);
	free(c->module);
	free(c->module_config);
	free(c->token_label);
	free(c->pin_file);
	free(c->pin_credential);
	free(c->p11_socket);
	free(c->p11_socket_group);
	free(c->mef_host);
	free(c->mef_fqdn);
	free(c->kpm_id);
	free(c->cert_key);
	free(c->cert);
	free(c->enrolee_ca);
	free(c->target_id);
	m2m_acl_free(c->acl);
	free(c);
}

/* see conf.h */
int
mtd_conf_parse_string(const char *text, struct mtd_conf **ret_conf,
    char *err, size_t errlen)
{
	struct parse p;
	struct mtd_conf *c = NULL;
	char aclerr[200];
	int line, r = -1;

	memset(&p, 0, sizeof(p));
	if (text == NULL || ret_conf == NULL) {
		snprintf(err, errlen, "no configuration");
		return -1;
	}
	if (strlen(text) > MTD_CONF_TEXT_MAX) {
		snprintf(err, errlen, "longer than %d bytes",
		    MTD_CONF_TEXT_MAX);
		return -1;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -2;
	}
	c->socket_mode = 0660;
	c->max_connections = 64;
	c->idle_timeout = 30;
	c->log_level = MTD_LOG_INFO;
	c->mef_port = 443;
	c->mef_cert_port = 8444;
	c->mef_timeout = 10;
	c->p11_socket_mode = 0660;
	c->p11_max_clients = 64;
	c->p11_frame_max = P11W_FRAME_DEFAULT;
	c->p11_stall_timeout = 10;
	c->p11_hello_timeout = 5;
	c->p11_idle_timeout = 0;
	p.c = c;
	line = ini_parse_string(text, handler, &p);
	if (p.nomem) {
		snprintf(err, errlen, "out of memory");
		r = -2;
		goto out;
	}
	if (line != 0) {
		if (!p.failed)
			snprintf(p.why, sizeof(p.why), "syntax error");
		snprintf(err, errlen, "line %d: %s", line, p.why);
		goto out;
	}
	if (c->module == NULL) {
		snprintf(err, errlen, "[token] needs module");
		goto out;
	}
	/* one uid may not take every connection: a quarter by default */
	if (c->max_conn_per_uid == 0)
		c->max_conn_per_uid = per_uid_default(c->max_connections);
	if (c->max_conn_per_uid > c->max_connections) {
		snprintf(err, errlen, "[daemon] max_connections_per_uid: a "
		    "number 1..%u (max_connections)", c->max_connections);
		goto out;
	}
	if (c->p11_max_per_uid == 0)
		c->p11_max_per_uid = per_uid_default(c->p11_max_clients);
	if (c->p11_max_per_uid > c->p11_max_clients) {
		snprintf(err, errlen, "[pkcs11] max_clients_per_uid: a number "
		    "1..%u (max_clients)", c->p11_max_clients);
		goto out;
	}
	if (c->p11_socket == NULL && c->token_label == NULL) {
		snprintf(err, errlen, "[token] needs label (or [pkcs11] "
		    "socket, for a daemon serving client mode only)");
		goto out;
	}
	if (c->token_label != NULL && c->pin_file == NULL &&
	    c->pin_credential == NULL) {
		snprintf(err, errlen, "[token] needs pin_file or "
		    "pin_credential (the PIN never comes from argv or env)");
		goto out;
	}
	if (c->token_label == NULL && (c->pin_file != NULL ||
	    c->pin_credential != NULL)) {
		snprintf(err, errlen, "[token] has a PIN but no label");
		goto out;
	}
	if ((c->mef_host == NULL) != (c->mef_fqdn == NULL)) {
		snprintf(err, errlen, "[mef] needs host and fqdn together");
		goto out;
	}
	if (c->mef_host != NULL && c->token_label == NULL) {
		snprintf(err, errlen, "[mef] needs [token] label and a PIN");
		goto out;
	}
	if (c->socket_path == NULL &&
	    (c->socket_path = strdup(MTD_SOCKET_DEFAULT)) == NULL) {
		snprintf(err, errlen, "out of memory");
		r = -2;
		goto out;
	}
	if ((r = m2m_acl_parse_string(text, &c->acl, aclerr,
	    sizeof(aclerr))) != 0) {
		snprintf(err, errlen, "%s", r == M2M_IPC_ERR_NO_MEMORY ?
		    "out of memory" : aclerr);
		r = r == M2M_IPC_ERR_NO_MEMORY ? -2 : -1;
		goto out;
	}
	*ret_conf = c;
	c = NULL;	/* transferred */
	r = 0;
 out:
	mtd_conf_free(c);
	return r;
}

/* see conf.h */
int
mtd_conf_load(const char *path, struct mtd_conf **ret_conf, char *err,
    size_t errlen)
{
	char *text = NULL;
	size_t got = 0;
	FILE *f = NULL;
	int r = -1;

	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "cannot open: %s",
		    strerror(errno));
		return -1;
	}
	if ((text = malloc(MTD_CONF_TEXT_MAX + 2)) == NULL) {
		snprintf(err, errlen, "out of memory");
		r = -2;
		goto out;
	}
	got = fread(text, 1, MTD_CONF_TEXT_MAX + 1, f);
	if (ferror(f)) {
		snprintf(err, errlen, "read error");
		goto out;
	}
	if (got > MTD_CONF_TEXT_MAX) {
		snprintf(err, errlen, "longer than %d bytes",
		    MTD_CONF_TEXT_MAX);
		goto out;
	}
	text[got] = '\0';
	if (memchr(text, '\0', got) != NULL) {
		snprintf(err, errlen, "a NUL byte in the file");
		goto out;
	}
	r = mtd_conf_parse_string(text, ret_conf, err, errlen);
 out:
	free(text);
	fclose(f);
	return r;
}

/* see conf.h */
int
mtd_conf_read_pin(const struct mtd_conf *c, char *pin, size_t *ret_len,
    char *err, size_t errlen)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	char path[PATH_MAX];
	struct stat st;
	size_t got = 0;
	ssize_t n;
	int fd = -1, r = -1;

	if (c->pin_credential != NULL && dir != NULL && *dir == '/') {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
		    c->pin_credential) >= sizeof(path)) {
			snprintf(err, errlen, "credential path too long");
			return -1;
		}
	} else if (c->pin_file != NULL) {
		snprintf(path, sizeof(path), "%s", c->pin_file);
	} else {
		snprintf(err, errlen, "[token] pin_credential is set but "
		    "$CREDENTIALS_DIRECTORY is not (run under systemd with "
		    "LoadCredential=, or set pin_file)");
		return -1;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) == -1 || fstat(fd, &st) == -1) {
		snprintf(err, errlen, "PIN file %.150s: %s", path,
		    strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "PIN file %.150s is not a regular file",
		    path);
		goto out;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		snprintf(err, errlen, "PIN file %.150s is owned by uid %lu, "
		    "not by this user (uid %lu) or root", path,
		    (unsigned long)st.st_uid, (unsigned long)geteuid());
		goto out;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		snprintf(err, errlen, "PIN file %.150s has mode %04o: group "
		    "or others may access it (chmod go= it)", path,
		    (unsigned int)(st.st_mode & 07777));
		goto out;
	}
	while (got < MTD_PIN_MAX + 1) {
		n = read(fd, pin + got, MTD_PIN_MAX + 1 - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "PIN file %.150s: %s", path,
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > MTD_PIN_MAX) {
		snprintf(err, errlen, "PIN file %.150s: longer than %d bytes",
		    path, MTD_PIN_MAX);
		goto out;
	}
	if (got > 0 && pin[got - 1] == '\n')
		got--;
	if (got == 0) {
		snprintf(err, errlen, "PIN file %.150s is empty", path);
		goto out;
	}
	pin[got] = '\0';
	*ret_len = got;
	r = 0;
 out:
	if (r != 0)
		OPENSSL_cleanse(pin, MTD_PIN_MAX + 1);
	if (fd != -1)
		close(fd);
	return r;
}

/* What the check needs of the module's configuration. */
struct modconf {
	int	 daemon;	/* a [daemon] section */
	int	 literal_pin;	/* [hsm] pin is the PIN itself */
	char	 store[PATH_MAX];	/* [store] path, "" if none */
};

static int
modconf_handler(void *user, const char *sec, const char *key,
    const char *v)
{
	struct modconf *m = user;

	if (strcmp(sec, "daemon") == 0)
		m->daemon = 1;
	if (key != NULL && strcmp(sec, "store") == 0 &&
	    strcmp(key, "path") == 0)
		snprintf(m->store, sizeof(m->store), "%s", v);
	if (key != NULL && strcmp(sec, "hsm") == 0 &&
	    strcmp(key, "pin") == 0 && strncmp(v, "file:", 5) != 0 &&
	    strncmp(v, "env:", 4) != 0)
		m->literal_pin = 1;
	return 1;	/* the module judges the rest */
}

/* 0 if path is a file others may not access; else -1 and err. */
static int
private_file(const char *what, const char *path, struct stat *st,
    char *err, size_t errlen)
{
	if (stat(path, st) != 0) {
		snprintf(err, errlen, "%s %.150s: %s", what, path,
		    strerror(errno));
		return -1;
	}
	if ((st->st_mode & S_IRWXO) != 0) {
		snprintf(err, errlen, "%s %.150s has mode %04o: others may "
		    "access it (chmod o= it)", what, path,
		    (unsigned int)(st->st_mode & 07777));
		return -1;
	}
	return 0;
}

/* see conf.h */
int
mtd_conf_check_files(const struct mtd_conf *c, const char *conf_path,
    char *err, size_t errlen)
{
	struct modconf m;
	struct stat st;
	mode_t mode;
	const char *mod;
	char dir[PATH_MAX];
	FILE *f = NULL;
	int r = -1;

	memset(&m, 0, sizeof(m));
	if (private_file("configuration", conf_path, &st, err, errlen) != 0)
		goto out;
	/*
	 * The file the module will read: [token] config (tok.c makes it
	 * $M2MTOKEN_CONF), else what the module finds by itself.  Without
	 * [token] config this check was skipped, and a literal HSM PIN in
	 * the default file (root:m2mtoken 0640) started the daemon (found
	 * in review).
	 */
	mod = c->module_config != NULL ? c->module_config :
	    m2mtoken_conf_path(secure_getenv(M2MTOKEN_CONF_ENV));
	if (private_file("module configuration", mod, &st, err, errlen) != 0)
		goto out;
	mode = st.st_mode;
	if ((f = fopen(mod, "re")) == NULL) {
		snprintf(err, errlen, "module configuration %.150s: %s",
		    mod, strerror(errno));
		goto out;
	}
	/* a syntax error is the module's to report, at C_Initialize */
	(void)ini_parse_file(f, modconf_handler, &m);
	if (m.daemon) {
		snprintf(err, errlen, "module configuration %.150s has a "
		    "[daemon] section: that is client mode, and the daemon "
		    "must run the token itself (remove the section)", mod);
		goto out;
	}
	/*
	 * The file's group is usually the daemon's, which the flow socket's
	 * callers share: they could read a PIN written in it.
	 */
	if (m.literal_pin && (mode & S_IRWXG) != 0) {
		snprintf(err, errlen, "module configuration %.150s holds the "
		    "HSM PIN itself and has mode %04o: its group may read it "
		    "(put the PIN in a file of the daemon's user, mode 0600, "
		    "with pin = file:PATH, or chmod g= it)", mod,
		    (unsigned int)(mode & 07777));
		goto out;
	}
	if (m.store[0] == '/') {
		snprintf(dir, sizeof(dir), "%s", m.store);
		if (stat(dirname(dir), &st) == 0 &&
		    (st.st_mode & (S_IROTH | S_IXOTH)) != 0)
			mtd_log(MTD_LOG_WARNING, "store directory %.150s has "
			    "mode %04o: others may list it (chmod o= it)",
			    dir, (unsigned int)(st.st_mode & 07777));
	}
	r = 0;
 out:
	if (f != NULL)
		fclose(f);
	return r;
}
