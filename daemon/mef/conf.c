/*
 * m2m-mef: the configuration file (conf.h).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>
#include <openssl/crypto.h>

#include "conf.h"
#include "log.h"
#include "parse.h"

struct load {
	struct mef_conf	*c;
	const char	*path;
	int		bad;
};

static int
set_str(char **dst, const char *v)
{
	char *d;

	if ((d = strdup(v)) == NULL)
		return 0;
	free(*dst);
	*dst = d;
	return 1;
}

static int
parse_uint(const char *v, unsigned long max, unsigned int *ret)
{
	char *end;
	unsigned long n;

	if (!isdigit((unsigned char)*v))
		return 0;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno != 0 || *end != '\0' || n > max)
		return 0;
	*ret = (unsigned int)n;
	return 1;
}

static int
handler(void *arg, const char *sec, const char *key, const char *v)
{
	struct load *l = arg;
	struct mef_conf *c = l->c;
	size_t i;
	int ok = 1;

#define IS(s, k) (strcmp(sec, s) == 0 && strcmp(key, k) == 0)
	if (IS("mef", "fqdn")) {
		if ((ok = mef_fqdn_valid(v)) != 0) {
			for (i = 0; v[i] != '\0'; i++)
				c->fqdn[i] = (char)tolower((unsigned char)v[i]);
			c->fqdn[i] = '\0';
		}
	} else if (IS("listen", "address"))
		ok = set_str(&c->address, v);
	else if (IS("listen", "port"))
		ok = parse_uint(v, 65535, &c->port);
	else if (IS("listen", "timeout"))
		ok = parse_uint(v, 3600, &c->timeout) && c->timeout > 0;
	else if (IS("listen", "max_connections"))
		ok = parse_uint(v, 65535, &c->max_connections) &&
		    c->max_connections > 0;
	else if (IS("token", "module"))
		ok = *v == '/' && set_str(&c->module, v);
	else if (IS("token", "config"))
		ok = *v == '/' && set_str(&c->token_conf, v);
	else if (IS("token", "label"))
		ok = *v != '\0' && strlen(v) <= 32 &&
		    set_str(&c->token_label, v);
	else if (IS("token", "pin_file"))
		ok = *v == '/' && set_str(&c->pin_file, v);
	else if (IS("registry", "path"))
		ok = *v != '\0' && set_str(&c->registry, v);
	else if (IS("bootstrap", "kes_per_enrolee"))
		ok = parse_uint(v, MEF_KES_PER_ENROLEE_MAX,
		    &c->kes_per_enrolee) && c->kes_per_enrolee > 0;
	else if (IS("cert", "port"))
		ok = (c->cert_on = parse_uint(v, 65535, &c->cert_port));
	else if (IS("cert", "key"))
		ok = strncmp(v, "pkcs11:", 7) == 0 && set_str(&c->cert_key, v);
	else if (IS("cert", "cert"))
		ok = *v == '/' && set_str(&c->cert_file, v);
	else if (IS("cert", "ca"))
		ok = *v == '/' && set_str(&c->cert_ca, v);
	else if (IS("cert", "crl"))
		ok = *v == '/' && set_str(&c->cert_crl, v);
	else if (IS("cert", "crl_check")) {
		c->cert_crl_check_set = 1;
		if (strcmp(v, "leaf") == 0)
			c->cert_crl_check = MEF_CRL_LEAF;
		else if (strcmp(v, "chain") == 0)
			c->cert_crl_check = MEF_CRL_CHAIN;
		else
			ok = 0;
	} else if (IS("cert", "map")) {
		if (strcmp(v, "cn") == 0)
			c->cert_map = MEF_MAP_CN;
		else if (strcmp(v, "san-uri") == 0)
			c->cert_map = MEF_MAP_SAN_URI;
		else if (strcmp(v, "san-dns") == 0)
			c->cert_map = MEF_MAP_SAN_DNS;
		else
			ok = 0;
	}
	else {
		mef_log("%s: unknown key [%s] %s", l->path, sec, key);
		l->bad = 1;
		return 1;
	}
#undef IS
	if (!ok) {
		mef_log("%s: bad value for [%s] %s", l->path, sec, key);
		l->bad = 1;
	}
	return 1;
}

/* see conf.h */
int
mef_conf_load(const char *path, struct mef_conf **ret)
{
	struct mef_conf *c = NULL;
	struct load l;
	int r = MEF_ERR_CONF, rc;

	if (path == NULL || ret == NULL)
		return MEF_ERR_INVALID;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return MEF_ERR_NOMEM;
	c->port = 8443;
	c->timeout = 10;
	c->max_connections = 512;
	c->kes_per_enrolee = 2;
	if (!set_str(&c->address, "127.0.0.1") ||
	    !set_str(&c->token_label, "mef") ||
	    !set_str(&c->registry, "/var/lib/m2m-mef/registry.db")) {
		r = MEF_ERR_NOMEM;
		goto out;
	}
	l.c = c;
	l.path = path;
	l.bad = 0;
	if ((rc = ini_parse(path, handler, &l)) != 0) {
		if (rc < 0)
			mef_log("%s: cannot read the file", path);
		else
			mef_log("%s:%d: syntax error", path, rc);
		goto out;
	}
	if (l.bad)
		goto out;
	if (c->fqdn[0] == '\0' || c->module == NULL || c->pin_file == NULL) {
		mef_log("%s: [mef] fqdn, [token] module and [token] pin_file "
		    "are required", path);
		goto out;
	}
	if ((c->cert_on || c->cert_key != NULL ||
	    c->cert_file != NULL || c->cert_ca != NULL) &&
	    (!c->cert_on || c->cert_key == NULL ||
	    c->cert_file == NULL || c->cert_ca == NULL)) {
		mef_log("%s: the certificate listener needs [cert] port, key, "
		    "cert and ca", path);
		goto out;
	}
	if (c->cert_crl_check_set && c->cert_crl == NULL) {
		mef_log("%s: [cert] crl_check needs [cert] crl, the file of "
		    "the CRLs to check", path);
		goto out;
	}
	*ret = c;
	c = NULL;	/* transferred */
	r = 0;
 out:
	mef_conf_free(c);
	return r;
}

/* see conf.h */
void
mef_conf_free(struct mef_conf *c)
{
	if (c == NULL)
		return;
	free(c->address);
	free(c->module);
	free(c->token_conf);
	free(c->token_label);
	free(c->pin_file);
	free(c->registry);
	free(c->cert_key);
	free(c->cert_file);
	free(c->cert_ca);
	free(c->cert_crl);
	free(c);
}

/* see conf.h */
int
mef_conf_read_pin(const char *path, char out[MEF_PIN_MAX + 1],
    size_t *ret_len)
{
	char buf[MEF_PIN_MAX + 2];
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd = -1, r = MEF_ERR_CONF;

	if (path == NULL || out == NULL || ret_len == NULL)
		return MEF_ERR_INVALID;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
	    O_NONBLOCK)) == -1 || fstat(fd, &st) == -1) {
		mef_log("PIN file %s: %s", path, strerror(errno));
		r = MEF_ERR_IO;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		mef_log("PIN file %s: not a regular file", path);
		goto out;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		mef_log("PIN file %s: owned by uid %lu, neither root nor "
		    "this process's user (%lu)", path,
		    (unsigned long)st.st_uid, (unsigned long)geteuid());
		goto out;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		mef_log("PIN file %s: mode %04o gives group or others access "
		    "(chmod 600)", path, (unsigned int)(st.st_mode & 07777));
		goto out;
	}
	while (len < sizeof(buf)) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			mef_log("PIN file %s: %s", path, strerror(errno));
			r = MEF_ERR_IO;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len == 0 || len > MEF_PIN_MAX || memchr(buf, '\0', len) ||
	    memchr(buf, '\n', len)) {
		mef_log("PIN file %s: not one line of 1 to %d bytes", path,
		    MEF_PIN_MAX);
		goto out;
	}
	memcpy(out, buf, len);
	out[len] = '\0';
	*ret_len = len;
	r = 0;
 out:
	OPENSSL_cleanse(buf, sizeof(buf));
	if (fd != -1)
		close(fd);
	return r;
}
