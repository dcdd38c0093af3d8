/* m2mtoken: the INI configuration.  See conf.h. */
#define _GNU_SOURCE	/* secure_getenv */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include <m2mtoken/conf-path.h>

#include "conf.h"
#include "conf_int.h"
#include "err.h"
#include "log.h"
#include "secret.h"

#define CACHE_SIZE_MIN		1
#define CACHE_SIZE_MAX		65536
#define CACHE_SIZE_DEFAULT	64
#define PIN_MIN_DEFAULT		4
#define PIN_MAX_DEFAULT		64
#define PIN_LEN_LIMIT		255	/* largest pin_max */
#define PIN_TRIES_DEFAULT	5
#define PIN_TRIES_LIMIT		100
/*
 * [token] max_objects.  The default is far above any token of this
 * project's flows (a device holds tens of keys; a gateway a Kpsa per
 * device it serves and five E2E keys per peer) and bounds what one
 * logged-in client can put in the store that client mode shares among
 * tokens (docs/security-model.md).  The check reads one row, the token's
 * count in token_counts, which triggers keep (token/store_open.c,
 * token/store_object.c), so its cost does not grow with the limit; 0
 * turns the check off.
 */
#define MAX_OBJECTS_DEFAULT	100000
#define MAX_OBJECTS_LIMIT	10000000
/*
 * [token] max_bytes: what one token's object rows may take together
 * (docs/operations.md, "Token objects: the quota").  max_objects alone
 * bounds no disk: a row takes up to some 38 KiB, 3.9 GB at 100,000.  The
 * keys of these flows take 460 to 1,515 bytes a row (measured, both
 * backends); 256 MiB is 2,684 bytes for each of MAX_OBJECTS_DEFAULT
 * objects, so a token of keys meets max_objects first, and it is some
 * ten times a gateway's token serving 5,000 devices (20 to 32 MB), while
 * it bounds what one logged-in client adds to the store every token of
 * client mode shares (docs/security-model.md).  The largest is 1 TiB; 0
 * turns the check off.
 */
#define MAX_BYTES_DEFAULT	(256ULL << 20)
#define MAX_BYTES_LIMIT		(1ULL << 40)
#define TOKEN_LABEL_MAX		32	/* CK_TOKEN_INFO.label */
#define TPM_HANDLE_MIN		0x81000000UL
#define TPM_HANDLE_MAX		0x81FFFFFFUL
#define NAME_SHOW_MAX		24	/* longest unknown name shown */
#define DAEMON_SOCKET_MAX	108	/* sizeof(sun_path) */
#define DAEMON_TIMEOUT_DEFAULT	60
#define DAEMON_TIMEOUT_MAX	86400

static const char *const conf_sections[] = {
	"store", "backend", "hsm", "tpm", "token", "log", "daemon"
};
_Static_assert(sizeof(conf_sections) / sizeof(conf_sections[0]) == NSECTIONS,
    "NSECTIONS in conf_int.h counts conf_sections");
/* the sections a client-mode file must not have: no backend secret */
#define CLIENT_BARRED	4	/* store, backend, hsm, tpm: the first 4 */

static int
is_blank(uint8_t ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' ||
	    ch == '\f';
}

/*
 * 1 if an unknown section or key name may appear in a message: it has the
 * shape of every real name ([a-z0-9_], at most NAME_SHOW_MAX bytes).  Any
 * other text on a line might be a misplaced PIN, so it is named by its line
 * number instead.
 */
static int
showable(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > NAME_SHOW_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	}
	return 1;
}

/* The index of a known section name, or -1. */
static int
known_section(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < NSECTIONS; i++) {
		if (strlen(conf_sections[i]) == len &&
		    memcmp(conf_sections[i], s, len) == 0)
			return (int)i;
	}
	return -1;
}

/*
 * Check a section header line (comment already cut): "[name]" with a known
 * name and nothing but blanks after it.  inih itself accepts junk after ']'
 * and never reports a section without keys, so we do it here.
 */
static int
check_section(struct conf_parse *p, const char *line, size_t len)
{
	char prefix[64];
	const char *close;
	size_t i = 0, namelen;
	int sec;

	while (i < len && is_blank((uint8_t)line[i]))
		i++;
	if (i == len || line[i] != '[')
		return 0;
	close = memchr(line + i, ']', len - i);
	if (close == NULL)
		goto syntax;
	namelen = (size_t)(close - (line + i + 1));
	for (i = (size_t)(close - line) + 1; i < len; i++) {
		if (!is_blank((uint8_t)line[i]))
			goto syntax;
	}
	if ((sec = known_section(close - namelen, namelen)) < 0) {
		if (showable(close - namelen, namelen))
			snprintf(prefix, sizeof(prefix), "[%.*s]",
			    (int)namelen, close - namelen);
		else
			snprintf(prefix, sizeof(prefix), "line %u",
			    p->lineno);
		conf_fail(p, M2M_ERR_CONFIG, prefix, "unknown section");
		return -1;
	}
	p->sec_seen[sec] = 1;
	return 0;
 syntax:
	snprintf(prefix, sizeof(prefix), "line %u", p->lineno);
	conf_fail(p, M2M_ERR_CONFIG, prefix, "syntax error");
	return -1;
}

/*
 * The ini_reader: hands inih one line at a time, counting lines so that
 * handler errors can name them, and cuts comments itself so that the result
 * does not depend on how inih was built or on its process-wide settings:
 * a line whose first non-blank is ';' or '#' is a comment, and so is the
 * rest of a line from a ';' or '#' that follows a blank.  Stops (NULL) at
 * the end or after the first error, wiping inih's line buffer, which may
 * have held the PIN.
 */
static char *
conf_reader(char *str, int num, void *stream)
{
	struct conf_parse *p = stream;
	const uint8_t *line, *nl;
	size_t len, cut, i;
	char prefix[32];

	if (num < 4)
		return NULL;
	if (p->r != 0 || p->off >= p->len)
		goto stop;
	line = p->buf + p->off;
	nl = memchr(line, '\n', p->len - p->off);
	len = nl != NULL ? (size_t)(nl - line) : p->len - p->off;
	p->off += len + (nl != NULL);
	p->lineno++;
	/* a UTF-8 byte order mark */
	if (p->lineno == 1 && len >= 3 &&
	    memcmp(line, "\xef\xbb\xbf", 3) == 0) {
		line += 3;
		len -= 3;
	}
	/* inih needs room for the newline and the NUL (see ini.h) */
	if (len > (size_t)num - 3) {
		snprintf(prefix, sizeof(prefix), "line %u", p->lineno);
		conf_fail(p, M2M_ERR_CONFIG, prefix,
		    "line too long (at most %d bytes)", num - 3);
		goto stop;
	}
	cut = len;
	for (i = 0; i < len; i++) {
		if ((line[i] == ';' || line[i] == '#') &&
		    (i == 0 || is_blank(line[i - 1]))) {
			cut = i;
			break;
		}
	}
	memcpy(str, line, cut);
	str[cut] = '\n';
	str[cut + 1] = '\0';
	if (check_section(p, str, cut) != 0)
		goto stop;
	return str;
 stop:
	m2m_wipe(str, (size_t)num);
	return NULL;
}

/* A decimal or (hex != 0, "0x" prefix required) number; -1 if malformed. */
static int
parse_ull(const char *s, int hex, unsigned long long *ret)
{
	unsigned long long v;
	char *end = NULL;

	if (hex) {
		if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
			return -1;
		s += 2;
		if (strchr("0123456789abcdefABCDEF", s[0]) == NULL ||
		    s[0] == '\0')
			return -1;
	} else if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, hex ? 16 : 10);
	if (errno != 0 || end == s || *end != '\0')
		return -1;
	*ret = v;
	return 0;
}

/* A number in [lo, hi] for key k; -1 (error recorded) otherwise. */
static int
number(struct conf_parse *p, enum conf_key k, const char *v,
    unsigned long long lo, unsigned long long hi, unsigned long long *ret)
{
	unsigned long long n;

	if (parse_ull(v, 0, &n) != 0 || n < lo || n > hi) {
		key_fail(p, k, "must be a number from %llu to %llu", lo, hi);
		return -1;
	}
	*ret = n;
	return 0;
}

/* A copy of v into *dst; -1 (error recorded) on allocation failure. */
static int
string(struct conf_parse *p, const char *v, char **dst)
{
	if ((*dst = strdup(v)) == NULL) {
		conf_fail(p, M2M_ERR_NO_MEMORY, NULL, "out of memory");
		return -1;
	}
	return 0;
}

/* Store the value of key k. */
static int
set_key(struct conf_parse *p, enum conf_key k, const char *v)
{
	struct m2m_conf *c = p->c;
	unsigned long long n;

	switch (k) {
	case K_STORE_PATH:
		return string(p, v, &c->store_path);
	case K_BACKEND_TYPE:
		if (strcmp(v, "hsm") == 0)
			c->backend = M2M_BACKEND_HSM;
		else if (strcmp(v, "tpm") == 0)
			c->backend = M2M_BACKEND_TPM;
		else {
			key_fail(p, k, "must be hsm or tpm");
			return -1;
		}
		return 0;
	case K_BACKEND_CACHE_SIZE:
		if (number(p, k, v, CACHE_SIZE_MIN, CACHE_SIZE_MAX, &n) != 0)
			return -1;
		c->cache_size = n;
		return 0;
	case K_HSM_MODULE:
		return string(p, v, &c->hsm_module);
	case K_HSM_TOKEN_LABEL:
		if (strlen(v) > TOKEN_LABEL_MAX) {
			key_fail(p, k, "longer than %d bytes",
			    TOKEN_LABEL_MAX);
			return -1;
		}
		return string(p, v, &c->hsm_token_label);
	case K_HSM_PIN:
		/* resolved once the whole file is read; may be the PIN */
		if (m2m_secret_from(v, strlen(v), &p->pinspec) != 0) {
			conf_fail(p, M2M_ERR_NO_MEMORY, NULL,
			    "out of memory");
			return -1;
		}
		return 0;
	case K_TPM_TCTI:
		return string(p, v, &c->tpm_tcti);
	case K_TPM_PRIMARY_HANDLE:
		if (parse_ull(v, 1, &n) != 0 || n < TPM_HANDLE_MIN ||
		    n > TPM_HANDLE_MAX) {
			key_fail(p, k, "must be a persistent handle "
			    "0x81000000..0x81FFFFFF");
			return -1;
		}
		c->tpm_primary_handle = n;
		return 0;
	case K_TPM_MODE:
		if (strcmp(v, "auto") == 0)
			c->tpm_mode = M2M_TPM_MODE_AUTO;
		else if (strcmp(v, "shared") == 0)
			c->tpm_mode = M2M_TPM_MODE_SHARED;
		else if (strcmp(v, "exclusive") == 0)
			c->tpm_mode = M2M_TPM_MODE_EXCLUSIVE;
		else {
			key_fail(p, k, "must be auto, shared or exclusive");
			return -1;
		}
		return 0;
	case K_TOKEN_PIN_MIN:
		if (number(p, k, v, 1, PIN_LEN_LIMIT, &n) != 0)
			return -1;
		c->pin_min = n;
		return 0;
	case K_TOKEN_PIN_MAX:
		if (number(p, k, v, 1, PIN_LEN_LIMIT, &n) != 0)
			return -1;
		c->pin_max = n;
		return 0;
	case K_TOKEN_MAX_PIN_TRIES:
		if (number(p, k, v, 1, PIN_TRIES_LIMIT, &n) != 0)
			return -1;
		c->max_pin_tries = (unsigned int)n;
		return 0;
	case K_TOKEN_DELIVER_DERIVED:
		if (strcmp(v, "yes") == 0)
			c->deliver_derived = 1;
		else if (strcmp(v, "no") == 0)
			c->deliver_derived = 0;
		else {
			key_fail(p, k, "must be yes or no");
			return -1;
		}
		return 0;
	case K_TOKEN_EC_IMPORT:
		if (strcmp(v, "yes") == 0)
			c->ec_import = 1;
		else if (strcmp(v, "no") == 0)
			c->ec_import = 0;
		else {
			key_fail(p, k, "must be yes or no");
			return -1;
		}
		return 0;
	case K_TOKEN_MAX_OBJECTS:
		if (number(p, k, v, 0, MAX_OBJECTS_LIMIT, &n) != 0)
			return -1;
		c->max_objects = n;
		return 0;
	case K_TOKEN_MAX_BYTES:
		if (number(p, k, v, 0, MAX_BYTES_LIMIT, &n) != 0)
			return -1;
		c->max_bytes = n;
		return 0;
	case K_LOG_LEVEL:
		if (m2m_log_parse_level(v, &c->log_level) != 0) {
			key_fail(p, k, "must be off, error, warning, info or "
			    "debug");
			return -1;
		}
		c->log_level_set = 1;
		return 0;
	case K_DAEMON_SOCKET:
		if (v[0] != '/' || strlen(v) >= DAEMON_SOCKET_MAX) {
			key_fail(p, k, "must be an absolute path shorter than "
			    "%d bytes", DAEMON_SOCKET_MAX);
			return -1;
		}
		return string(p, v, &c->daemon_socket);
	case K_DAEMON_TIMEOUT:
		if (number(p, k, v, 0, DAEMON_TIMEOUT_MAX, &n) != 0)
			return -1;
		c->daemon_timeout = (unsigned int)n;
		return 0;
	default:
		break;
	}
	conf_fail(p, M2M_ERR_INTERNAL, NULL, "internal error");
	return -1;
}

/* The ini_handler: one "name = value" of section. */
static int
conf_handler(void *user, const char *section, const char *name,
    const char *value)
{
	struct conf_parse *p = user;
	char prefix[64];
	int k;

	/*
	 * Errors are kept in p->r and the reader stops at the next line, so
	 * this always returns 1: inih's own stop-on-error (a process-wide
	 * setting) must not skip the reader's final wipe of its buffer.
	 */
	if (p->r != 0)
		return 1;
	for (k = 0; k < K_COUNT; k++) {
		if (strcmp(section, conf_keys[k].section) == 0 &&
		    strcmp(name, conf_keys[k].name) == 0)
			break;
	}
	if (k == K_COUNT) {
		if (*section == '\0') {
			snprintf(prefix, sizeof(prefix), "line %u",
			    p->lineno);
			conf_fail(p, M2M_ERR_CONFIG, prefix,
			    "key outside any section");
		} else if (showable(name, strlen(name))) {
			snprintf(prefix, sizeof(prefix), "[%s] %s", section,
			    name);
			conf_fail(p, M2M_ERR_CONFIG, prefix, "unknown key");
		} else {
			snprintf(prefix, sizeof(prefix), "line %u",
			    p->lineno);
			conf_fail(p, M2M_ERR_CONFIG, prefix,
			    "unknown key in [%s]", section);
		}
		return 1;
	}
	if (p->seen[k]) {
		/* also an indented line, which inih takes as a continuation */
		key_fail(p, k, "given more than once (line %u)", p->lineno);
		return 1;
	}
	p->seen[k] = 1;
	if (value == NULL || *value == '\0') {
		key_fail(p, k, "empty value");
		return 1;
	}
	(void)set_key(p, (enum conf_key)k, value);
	return 1;
}

/* The checks and defaults that need the whole file. */
static int
check_conf(struct conf_parse *p)
{
	struct m2m_conf *c = p->c;
	char prefix[32];
	size_t i;

	/*
	 * A MEF's token (only it may deliver derived keys) keeps a Kpm per
	 * enrolee and a Ke per bootstrap: no quota unless the file sets one
	 * (docs/operations.md, "Token objects: the quota").
	 */
	if (c->deliver_derived) {
		if (!p->seen[K_TOKEN_MAX_OBJECTS])
			c->max_objects = 0;
		if (!p->seen[K_TOKEN_MAX_BYTES])
			c->max_bytes = 0;
	}
	if (p->seen[K_DAEMON_SOCKET]) {
		/* client mode: no store, no backend, no backend secret */
		for (i = 0; i < CLIENT_BARRED; i++) {
			if (!p->sec_seen[i])
				continue;
			snprintf(prefix, sizeof(prefix), "[%s]",
			    conf_sections[i]);
			conf_fail(p, M2M_ERR_CONFIG, prefix, "not allowed "
			    "with [daemon] socket (client mode keeps no "
			    "store or backend)");
			return M2M_ERR_CONFIG;
		}
		return 0;
	}
	if (p->seen[K_DAEMON_TIMEOUT]) {
		key_fail(p, K_DAEMON_TIMEOUT, "without [daemon] socket");
		return M2M_ERR_CONFIG;
	}
	if (!p->seen[K_STORE_PATH]) {
		key_fail(p, K_STORE_PATH, "missing");
		return M2M_ERR_CONFIG;
	}
	if (!p->seen[K_BACKEND_TYPE]) {
		key_fail(p, K_BACKEND_TYPE, "missing");
		return M2M_ERR_CONFIG;
	}
	if (c->backend == M2M_BACKEND_HSM) {
		if (!p->seen[K_HSM_MODULE]) {
			key_fail(p, K_HSM_MODULE, "missing (type is hsm)");
			return M2M_ERR_CONFIG;
		}
		if (!p->seen[K_HSM_TOKEN_LABEL]) {
			key_fail(p, K_HSM_TOKEN_LABEL,
			    "missing (type is hsm)");
			return M2M_ERR_CONFIG;
		}
		if (!p->seen[K_HSM_PIN]) {
			key_fail(p, K_HSM_PIN, "missing (type is hsm)");
			return M2M_ERR_CONFIG;
		}
	} else {
		if (!p->seen[K_TPM_TCTI]) {
			key_fail(p, K_TPM_TCTI, "missing (type is tpm)");
			return M2M_ERR_CONFIG;
		}
	}
	if (c->pin_min > c->pin_max) {
		key_fail(p, K_TOKEN_PIN_MIN, "greater than pin_max (%zu)",
		    c->pin_max);
		return M2M_ERR_CONFIG;
	}
	return 0;
}

/* see conf.h; m2mtokend checks the same file (<m2mtoken/conf-path.h>) */
const char *
m2m_conf_default_path(void)
{
	return m2mtoken_conf_path(secure_getenv(M2MTOKEN_CONF_ENV));
}

/* see conf.h */
int
m2m_conf_load(const char *path, struct m2m_conf **ret, char *errbuf,
    size_t errlen)
{
	struct conf_parse p;
	struct m2m_secret *text = NULL;
	struct m2m_conf *c = NULL;
	char prefix[32];
	int r = M2M_ERR_INTERNAL, rv;

	if (errbuf != NULL && errlen != 0)
		errbuf[0] = '\0';
	if (path == NULL || ret == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	memset(&p, 0, sizeof(p));
	p.path = path;
	p.errbuf = errbuf;
	p.errlen = errlen;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->path = strdup(path)) == NULL) {
		conf_fail(&p, M2M_ERR_NO_MEMORY, NULL, "out of memory");
		r = M2M_ERR_NO_MEMORY;
		goto out;
	}
	c->cache_size = CACHE_SIZE_DEFAULT;
	c->pin_min = PIN_MIN_DEFAULT;
	c->pin_max = PIN_MAX_DEFAULT;
	c->max_pin_tries = PIN_TRIES_DEFAULT;
	c->max_objects = MAX_OBJECTS_DEFAULT;
	c->max_bytes = MAX_BYTES_DEFAULT;
	c->log_level = M2M_LOG_ERROR;
	c->daemon_timeout = DAEMON_TIMEOUT_DEFAULT;
	p.c = c;
	if ((r = conf_read_file(&p, &text)) != 0)
		goto out;
	p.buf = m2m_secret_data(text);
	p.len = m2m_secret_len(text);
	if (memchr(p.buf, '\0', p.len) != NULL) {
		conf_fail(&p, M2M_ERR_CONFIG, NULL, "contains a NUL byte");
		r = p.r;
		goto out;
	}
	rv = ini_parse_stream(conf_reader, &p, conf_handler, &p);
	/* inih's syntax error wins over a later error of ours */
	if (rv > 0 && (p.r == 0 || (p.r == M2M_ERR_CONFIG &&
	    (unsigned int)rv < p.errline))) {
		p.r = 0;
		snprintf(prefix, sizeof(prefix), "line %d", rv);
		conf_fail(&p, M2M_ERR_CONFIG, prefix, "syntax error");
	}
	if (rv == -2)
		conf_fail(&p, M2M_ERR_NO_MEMORY, NULL, "out of memory");
	else if (rv < 0)
		conf_fail(&p, M2M_ERR_CONFIG, NULL, "cannot parse");
	if (p.r != 0) {
		r = p.r;
		goto out;
	}
	if ((r = check_conf(&p)) != 0)
		goto out;
	if (c->backend == M2M_BACKEND_HSM &&
	    (r = conf_resolve_pin(&p, &c->hsm_pin)) != 0)
		goto out;
	*ret = c;
	c = NULL;	/* transferred */
	r = 0;
 out:
	m2m_conf_free(c);
	m2m_secret_free(p.pinspec);
	m2m_secret_free(text);
	return r;
}

/* see conf.h */
int
m2m_conf_names_daemon(const char *path)
{
	struct conf_parse p;
	struct m2m_secret *text = NULL;
	struct m2m_conf *c = NULL;
	int r = 0;

	memset(&p, 0, sizeof(p));
	p.path = path;
	if (path == NULL || (c = calloc(1, sizeof(*c))) == NULL)
		goto out;
	p.c = c;
	if (conf_read_file(&p, &text) != 0)
		goto out;
	p.buf = m2m_secret_data(text);
	p.len = m2m_secret_len(text);
	if (memchr(p.buf, '\0', p.len) != NULL)
		goto out;
	(void)ini_parse_stream(conf_reader, &p, conf_handler, &p);
	r = p.seen[K_DAEMON_SOCKET];
 out:
	m2m_conf_free(c);
	m2m_secret_free(p.pinspec);
	m2m_secret_free(text);
	return r;
}

/* see conf.h */
void
m2m_conf_free(struct m2m_conf *c)
{
	if (c == NULL)
		return;
	free(c->path);
	free(c->store_path);
	free(c->hsm_module);
	free(c->hsm_token_label);
	m2m_secret_free(c->hsm_pin);
	free(c->tpm_tcti);
	free(c->daemon_socket);
	free(c);
}
