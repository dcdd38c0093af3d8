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
#include <time.h>

#include <openssl/err.h>

#include "tls_log.h"

#define LINE_MAX_LEN	512

static pthread_once_t level_once = PTHREAD_ONCE_INIT;
static int level = M2M_TLS_LOG_ERROR;

/*
 * The limited lines' state, one per reason, for the whole process: a flood
 * fills one log (stderr), whichever context it reaches.
 */
static pthread_mutex_t limit_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	long long	last_ms;	/* CLOCK_MONOTONIC, of the last line */
	unsigned long	dropped;	/* lines not written since */
	int		used;		/* a line was written */
} limits[M2M_TLS_LIM_N];

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
m2m_tls_error_limited(enum m2m_tls_limit reason, const char *fmt, ...)
{
	char line[LINE_MAX_LEN];
	struct timespec ts;
	unsigned long dropped;
	long long now;
	va_list ap;

	pthread_once(&level_once, level_init);
	if ((int)M2M_TLS_LOG_ERROR > level || (int)reason < 0 ||
	    reason >= M2M_TLS_LIM_N)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	pthread_mutex_lock(&limit_lock);
	if (limits[reason].used && now - limits[reason].last_ms < 1000) {
		limits[reason].dropped++;
		pthread_mutex_unlock(&limit_lock);
		return;
	}
	dropped = limits[reason].dropped;
	limits[reason].used = 1;
	limits[reason].last_ms = now;
	limits[reason].dropped = 0;
	pthread_mutex_unlock(&limit_lock);
	/* cut at 511 bytes: these lines hold at most an 80-byte identity */
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (dropped != 0)
		m2m_tls_log(M2M_TLS_LOG_ERROR, "%s (%lu more like it not "
		    "logged)", line, dropped);
	else
		m2m_tls_log(M2M_TLS_LOG_ERROR, "%s", line);
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
