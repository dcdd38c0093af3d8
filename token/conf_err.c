/* m2mtoken: the configuration's key names and first error.  See conf_int.h. */
#include <stdarg.h>
#include <stdio.h>

#include "conf_int.h"
#include "err.h"

#define CONF_MSG_MAX		256	/* longest problem text in a message */

/* see conf_int.h */
const struct conf_key_name conf_keys[K_COUNT] = {
	[K_STORE_PATH] =		{ "store", "path" },
	[K_BACKEND_TYPE] =		{ "backend", "type" },
	[K_BACKEND_CACHE_SIZE] =	{ "backend", "cache_size" },
	[K_HSM_MODULE] =		{ "hsm", "module" },
	[K_HSM_TOKEN_LABEL] =		{ "hsm", "token_label" },
	[K_HSM_PIN] =			{ "hsm", "pin" },
	[K_TPM_TCTI] =			{ "tpm", "tcti" },
	[K_TPM_PRIMARY_HANDLE] =	{ "tpm", "primary_handle" },
	[K_TPM_MODE] =			{ "tpm", "mode" },
	[K_TOKEN_PIN_MIN] =		{ "token", "pin_min" },
	[K_TOKEN_PIN_MAX] =		{ "token", "pin_max" },
	[K_TOKEN_MAX_PIN_TRIES] =	{ "token", "max_pin_tries" },
	[K_TOKEN_DELIVER_DERIVED] =	{ "token", "deliver_derived" },
	[K_TOKEN_EC_IMPORT] =		{ "token", "ec_import" },
	[K_TOKEN_MAX_OBJECTS] =		{ "token", "max_objects" },
	[K_TOKEN_MAX_BYTES] =		{ "token", "max_bytes" },
	[K_LOG_LEVEL] =			{ "log", "level" },
	[K_DAEMON_SOCKET] =		{ "daemon", "socket" },
	[K_DAEMON_TIMEOUT] =		{ "daemon", "timeout" },
};

/* see conf_int.h */
void
conf_fail(struct conf_parse *p, int r, const char *prefix,
    const char *fmt, ...)
{
	char msg[CONF_MSG_MAX];
	va_list ap;

	if (p->r != 0)
		return;
	p->r = r;
	p->errline = p->lineno;
	if (p->errbuf == NULL || p->errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (prefix != NULL)
		snprintf(p->errbuf, p->errlen, "%s: %s: %s", p->path, prefix,
		    msg);
	else
		snprintf(p->errbuf, p->errlen, "%s: %s", p->path, msg);
}

/* see conf_int.h */
void
key_fail(struct conf_parse *p, enum conf_key k, const char *fmt, ...)
{
	char prefix[64], msg[CONF_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(prefix, sizeof(prefix), "[%s] %s", conf_keys[k].section,
	    conf_keys[k].name);
	conf_fail(p, M2M_ERR_CONFIG, prefix, "%s", msg);
}
