/* m2mtoken: the configuration file read, the HSM PIN sources.  See conf.h. */
#define _GNU_SOURCE	/* secure_getenv, GNU strerror_r */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "conf_int.h"
#include "err.h"
#include "log.h"
#include "secret.h"

/* see conf_int.h */
int
conf_read_file(struct conf_parse *p, struct m2m_secret **ret)
{
	struct m2m_secret *s = NULL;
	struct stat st;
	char ebuf[128];
	size_t cap, got = 0;
	ssize_t n;
	int fd = -1, r = M2M_ERR_CONFIG;

	if ((fd = open(p->path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) == -1 || fstat(fd, &st) == -1) {
		conf_fail(p, M2M_ERR_CONFIG, NULL, "cannot open: %s",
		    strerror_r(errno, ebuf, sizeof(ebuf)));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		conf_fail(p, M2M_ERR_CONFIG, NULL, "cannot open: %s",
		    "not a regular file");
		goto out;
	}
	if (st.st_size < 0 || st.st_size > CONF_FILE_MAX) {
		conf_fail(p, M2M_ERR_CONFIG, NULL,
		    "larger than %d bytes", CONF_FILE_MAX);
		goto out;
	}
	p->mode = (unsigned int)st.st_mode;
	/* it names the store, the backend and the module loaded: warn */
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
		m2m_error("%.200s: writable by group or others (mode %04o): "
		    "whoever can write it chooses the store and the PKCS#11 "
		    "module this process loads (chmod go-w it)", p->path,
		    (unsigned int)(st.st_mode & 07777));
	/* one byte more than the size, to notice a file that grew */
	cap = (size_t)st.st_size + 1;
	if ((r = m2m_secret_new(cap, &s)) != 0) {
		conf_fail(p, r, NULL, "out of memory");
		goto out;
	}
	r = M2M_ERR_CONFIG;
	while (got < cap) {
		n = read(fd, m2m_secret_data(s) + got, cap - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			conf_fail(p, r, NULL, "cannot read: %s",
			    strerror_r(errno, ebuf, sizeof(ebuf)));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got == cap) {
		conf_fail(p, r, NULL, "changed while being read");
		goto out;
	}
	m2m_secret_truncate(s, got);
	*ret = s;
	s = NULL;	/* transferred */
	r = 0;
 out:
	m2m_secret_free(s);
	if (fd != -1)
		close(fd);
	return r;
}

/*
 * A path or variable name from the file as a message may show it: at most
 * len - 1 bytes, each control byte (which could break the one-line message
 * or drive a terminal) replaced by '?'.  Returns buf.
 */
static const char *
shown(const char *s, char *buf, size_t len)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < len; i++)
		buf[i] = (uint8_t)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	buf[i] = '\0';
	return buf;
}

/* The PIN named by "file:/path": at most CONF_PIN_MAX bytes, one '\n' cut. */
static int
pin_from_file(struct conf_parse *p, const char *path, struct m2m_secret **ret)
{
	struct m2m_secret *s = NULL;
	struct stat st;
	char ebuf[128], show[201];
	size_t got = 0;
	ssize_t n;
	uint8_t *d;
	int fd = -1, r = M2M_ERR_CONFIG;

	if (path[0] != '/') {
		key_fail(p, K_HSM_PIN, "file: needs an absolute path");
		goto out;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) == -1 || fstat(fd, &st) == -1) {
		key_fail(p, K_HSM_PIN, "cannot open %s: %s",
		    shown(path, show, sizeof(show)),
		    strerror_r(errno, ebuf, sizeof(ebuf)));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		key_fail(p, K_HSM_PIN, "%s is not a regular file",
		    shown(path, show, sizeof(show)));
		goto out;
	}
	/* as OpenSSH for its keys: the PIN is for this user's eyes only */
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		key_fail(p, K_HSM_PIN, "%s is owned by uid %lu, not by "
		    "this process's user (uid %lu) or root",
		    shown(path, show, sizeof(show)),
		    (unsigned long)st.st_uid, (unsigned long)geteuid());
		goto out;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		key_fail(p, K_HSM_PIN, "%s has mode %04o: group or others "
		    "may access it (chmod go= it)",
		    shown(path, show, sizeof(show)),
		    (unsigned int)(st.st_mode & 07777));
		goto out;
	}
	if ((r = m2m_secret_new(CONF_PIN_MAX + 1, &s)) != 0) {
		conf_fail(p, r, NULL, "out of memory");
		goto out;
	}
	r = M2M_ERR_CONFIG;
	d = m2m_secret_data(s);
	while (got < CONF_PIN_MAX + 1) {
		n = read(fd, d + got, CONF_PIN_MAX + 1 - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			key_fail(p, K_HSM_PIN, "cannot read %s: %s",
			    shown(path, show, sizeof(show)),
			    strerror_r(errno, ebuf, sizeof(ebuf)));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > CONF_PIN_MAX) {
		key_fail(p, K_HSM_PIN, "%s is longer than %d bytes",
		    shown(path, show, sizeof(show)), CONF_PIN_MAX);
		goto out;
	}
	if (got > 0 && d[got - 1] == '\n')
		got--;
	if (got == 0) {
		key_fail(p, K_HSM_PIN, "%s holds an empty PIN",
		    shown(path, show, sizeof(show)));
		goto out;
	}
	m2m_secret_truncate(s, got);
	*ret = s;
	s = NULL;	/* transferred */
	r = 0;
 out:
	m2m_secret_free(s);
	if (fd != -1)
		close(fd);
	return r;
}

/* The PIN named by "env:NAME". */
static int
pin_from_env(struct conf_parse *p, const char *name, struct m2m_secret **ret)
{
	const char *v;
	char show[65];
	size_t len;
	int r;

	if (*name == '\0') {
		key_fail(p, K_HSM_PIN, "env: needs a variable name");
		return M2M_ERR_CONFIG;
	}
	if ((v = secure_getenv(name)) == NULL) {
		key_fail(p, K_HSM_PIN, "environment variable %s is not set",
		    shown(name, show, sizeof(show)));
		return M2M_ERR_CONFIG;
	}
	if ((len = strlen(v)) == 0 || len > CONF_PIN_MAX) {
		key_fail(p, K_HSM_PIN, "environment variable %s must hold "
		    "1 to %d bytes", shown(name, show, sizeof(show)),
		    CONF_PIN_MAX);
		return M2M_ERR_CONFIG;
	}
	if ((r = m2m_secret_from(v, len, ret)) != 0)
		conf_fail(p, r, NULL, "out of memory");
	return r;
}

/* see conf_int.h */
int
conf_resolve_pin(struct conf_parse *p, struct m2m_secret **ret)
{
	struct m2m_secret *spec = p->pinspec;
	const char *v;
	size_t len;
	int r;

	/* a NUL-terminated copy: the spec is a string without NUL bytes */
	len = m2m_secret_len(spec);
	if ((r = m2m_secret_new(len + 1, &spec)) != 0) {
		conf_fail(p, r, NULL, "out of memory");
		return r;
	}
	memcpy(m2m_secret_data(spec), m2m_secret_data(p->pinspec), len);
	v = (const char *)m2m_secret_data(spec);
	if (strncmp(v, "env:", 4) == 0)
		r = pin_from_env(p, v + 4, ret);
	else if (strncmp(v, "file:", 5) == 0)
		r = pin_from_file(p, v + 5, ret);
	else if (len > CONF_PIN_MAX) {
		key_fail(p, K_HSM_PIN, "longer than %d bytes", CONF_PIN_MAX);
		r = M2M_ERR_CONFIG;
	} else if ((r = m2m_secret_from(v, len, ret)) != 0)
		conf_fail(p, r, NULL, "out of memory");
	else if ((p->mode & (S_IRGRP | S_IROTH)) != 0)
		/* the load goes on, as for a writable file (conf.h) */
		m2m_error("%.200s: holds the HSM PIN itself and group or "
		    "others may read it (mode %04o): put the PIN in a file "
		    "only this user reads (pin = file:PATH) or chmod go= it",
		    p->path, p->mode & 07777);
	m2m_secret_free(spec);
	return r;
}
