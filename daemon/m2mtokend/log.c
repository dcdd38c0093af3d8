/*
 * m2mtokend: log lines (see log.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"

static int level = MTD_LOG_INFO;

/* see log.h */
void
mtd_log_set_level(int prio)
{
	level = prio;
}

/* see log.h */
void
mtd_log(int prio, const char *fmt, ...)
{
	static int journal = -1;
	char line[1024];
	va_list ap;

	if (prio > level)
		return;
	if (journal == -1)
		journal = getenv("JOURNAL_STREAM") != NULL;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (journal)
		fprintf(stderr, "<%d>%s\n", prio, line);
	else
		fprintf(stderr, "m2mtokend: %s%s\n", prio <= MTD_LOG_ERR ?
		    "error: " : prio == MTD_LOG_WARNING ? "warning: " : "",
		    line);
}

/* see log.h */
void
mtd_log_limited(struct mtd_log_limit *l, int prio, const char *fmt, ...)
{
	unsigned long dropped = 0;
	char line[1024];
	va_list ap;

	if (!m2m_rate_pass(&l->rate, &dropped))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (dropped != 0)
		mtd_log(prio, "%s (%lu more like it not logged)", line,
		    dropped);
	else
		mtd_log(prio, "%s", line);
}

/* see log.h */
const char *
mtd_log_safe(const char *s, char *buf, size_t cap)
{
	size_t i;

	if (s == NULL)
		return "-";
	for (i = 0; s[i] != '\0' && i + 1 < cap; i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}
