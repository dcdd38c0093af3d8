/*
 * m2mtoken: the configuration parser's insides, shared by its files only:
 * conf.c (sections, values, checks, load), conf_pin.c (the file read and
 * the HSM PIN's sources) and conf_err.c (key names, the first error), which
 * the other two use.  Nothing outside token/conf*.c includes it.  The
 * public contract is conf.h.
 */
#ifndef M2M_CONF_INT_H
#define M2M_CONF_INT_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "secret.h"

#define CONF_FILE_MAX		65536	/* largest configuration file */
#define CONF_PIN_MAX		256	/* longest HSM PIN (env/file/literal) */

enum conf_key {
	K_STORE_PATH,
	K_BACKEND_TYPE,
	K_BACKEND_CACHE_SIZE,
	K_HSM_MODULE,
	K_HSM_TOKEN_LABEL,
	K_HSM_PIN,
	K_TPM_TCTI,
	K_TPM_PRIMARY_HANDLE,
	K_TPM_MODE,
	K_TOKEN_PIN_MIN,
	K_TOKEN_PIN_MAX,
	K_TOKEN_MAX_PIN_TRIES,
	K_TOKEN_DELIVER_DERIVED,
	K_TOKEN_EC_IMPORT,
	K_TOKEN_MAX_OBJECTS,
	K_TOKEN_MAX_BYTES,
	K_LOG_LEVEL,
	K_DAEMON_SOCKET,
	K_DAEMON_TIMEOUT,
	K_COUNT
};

/* The number of sections: conf.c's conf_sections (checked there). */
#define NSECTIONS	7

/* State of one m2m_conf_load(). */
struct conf_parse {
	struct m2m_conf		*c;
	const char		*path;
	char			*errbuf;
	size_t			 errlen;
	int			 r;		/* first error, 0 if none */
	unsigned int		 errline;	/* line of that error, or 0 */
	int			 seen[K_COUNT];
	int			 sec_seen[NSECTIONS];
	struct m2m_secret	*pinspec;	/* raw "pin =" value (secret) */
	unsigned int		 mode;		/* the file's, from its read */
	/* the reader over the file's bytes */
	const uint8_t		*buf;
	size_t			 len;
	size_t			 off;
	unsigned int		 lineno;
};

/* The section and name of each key. */
struct conf_key_name {
	const char	*section;
	const char	*name;
};
extern const struct conf_key_name conf_keys[K_COUNT];

/*
 * Record the first error as "<path>: <prefix>: <problem>" (prefix NULL:
 * "<path>: <problem>").  prefix is "[section] key", "[section]" or "line N".
 * No caller ever formats a configuration value, so no PIN can reach the
 * message.
 */
void	conf_fail(struct conf_parse *p, int r, const char *prefix,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* conf_fail() for a key: prefix "[section] key". */
void	key_fail(struct conf_parse *p, enum conf_key k, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/*
 * Read the whole regular file at p->path into a new secret (it may hold a
 * PIN): 0 and *ret, or M2M_ERR_* (error recorded in p).
 */
int	conf_read_file(struct conf_parse *p, struct m2m_secret **ret);
/*
 * Turn the "pin =" value p->pinspec (env:NAME, file:/path or the PIN
 * itself) into the PIN bytes: 0 and *ret, or M2M_ERR_* (error recorded).
 */
int	conf_resolve_pin(struct conf_parse *p, struct m2m_secret **ret);

#endif /* M2M_CONF_INT_H */
