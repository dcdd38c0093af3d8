/* m2mtoken: logging to stderr.  See log.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

static volatile int log_level = M2M_LOG_ERROR;

static const char *const level_names[] = {
	"error", "warning", "info", "debug"
};

/* see log.h */
void
m2m_log_set_level(enum m2m_log_level level)
{
	if (level >= M2M_LOG_OFF && level <= M2M_LOG_DEBUG)
		__atomic_store_n(&log_level, (int)level, __ATOMIC_RELAXED);
}

/* see log.h */
enum m2m_log_level
m2m_log_get_level(void)
{
	return (enum m2m_log_level)__atomic_load_n(&log_level,
	    __ATOMIC_RELAXED);
}

/* see log.h */
int
m2m_log_parse_level(const char *s, enum m2m_log_level *ret)
{
	size_t i;

	if (s == NULL || ret == NULL)
		return -1;
	if (strcmp(s, "off") == 0) {
		*ret = M2M_LOG_OFF;
		return 0;
	}
	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*ret = (enum m2m_log_level)i;
			return 0;
		}
	}
	return -1;
}

/* see log.h */
int
m2m_log_from_env(void)
{
	const char *s = getenv("M2MTOKEN_LOG_LEVEL");
	enum m2m_log_level l;

	if (s == NULL || m2m_log_parse_level(s, &l) != 0)
		return 0;
	m2m_log_set_level(l);
	return 1;
}

/* 1 when a line at level is written (the threshold lets it through). */
static int
log_passes(enum m2m_log_level level)
{
	return (int)level >= 0 && (int)level <= M2M_LOG_DEBUG &&
	    (int)level <= __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

/* see log.h */
void
m2m_log(enum m2m_log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!log_passes(level))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* one write per line so that threads do not interleave */
	fprintf(stderr, "m2mtoken: %s: %s\n", level_names[level], line);
}

/* see log.h */
void
m2m_log_limited(struct m2m_log_limit *l, enum m2m_log_level level,
    const char *fmt, ...)
{
	struct timespec ts;
	long long now;
	char line[1024];
	va_list ap;

	if (l == NULL || !log_passes(level))
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (l->used && now - l->last_ms < 1000) {
		l->dropped++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (l->dropped != 0)
		fprintf(stderr, "m2mtoken: %s: %s (%lu more like it not "
		    "logged)\n", level_names[level], line, l->dropped);
	else
		fprintf(stderr, "m2mtoken: %s: %s\n", level_names[level],
		    line);
	l->used = 1;
	l->last_ms = now;
	l->dropped = 0;
}
