/* m2mtoken: logging to stderr.  See log.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* see log.h */
void
m2m_log(enum m2m_log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if ((int)level > __atomic_load_n(&log_level, __ATOMIC_RELAXED) ||
	    (int)level < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* one write per line so that threads do not interleave */
	fprintf(stderr, "m2mtoken: %s: %s\n", level_names[level], line);
}
