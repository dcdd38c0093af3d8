/*
 * The logging of libm2mtls (contract in tls_log.h, switch in
 * docs/operations.md): a library inside other programs, so every line
 * passes one threshold that the program's environment can turn off.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "tls_log.h"

#define LINE_MAX_LEN	512

static pthread_once_t level_once = PTHREAD_ONCE_INIT;
static int level = M2M_TLS_LOG_ERROR;

static void
level_init(void)
{
	const char *s = getenv("M2MTOKEN_TLS_LOG");

	if (s == NULL)
		return;
	if (strcmp(s, "off") == 0)
		level = 0;
	else if (strcmp(s, "debug") == 0)
		level = M2M_TLS_LOG_DEBUG;
	/* "error", or anything else: the default */
}

/* see tls_log.h */
void
m2m_tls_log(enum m2m_tls_log_level lv, const char *fmt, ...)
{
	char line[LINE_MAX_LEN], *big = NULL;
	va_list ap, again;
	int n;

	pthread_once(&level_once, level_init);
	if ((int)lv > level)
		return;
	/* one fprintf per line, as before: a long line is not cut */
	va_start(ap, fmt);
	va_copy(again, ap);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n >= (int)sizeof(line) && (big = malloc((size_t)n + 1)) != NULL)
		vsnprintf(big, (size_t)n + 1, fmt, again);
	va_end(again);
	va_end(ap);
	fprintf(stderr, "m2mtls: %s\n", big != NULL ? big : line);
	free(big);
}

/* see tls_log.h */
void
m2m_tls_refuse(const char *fmt, ...)
{
	char line[LINE_MAX_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	ERR_raise_data(ERR_LIB_USER, 100, "m2mtoken: %s", line);
	m2m_tls_log(M2M_TLS_LOG_ERROR, "handshake refused: %s", line);
}

/* see tls_log.h */
const char *
m2m_tls_printable(char *dst, size_t n, const char *src, size_t len)
{
	size_t i;

	if (n == 0)
		return dst;
	if (src == NULL) {
		src = "(none)";
		len = strlen(src);
	}
	for (i = 0; i + 1 < n && i < len && src[i] != '\0'; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = c < 0x20 || c > 0x7e ? '?' : (char)c;
	}
	dst[i] = '\0';
	return dst;
}
