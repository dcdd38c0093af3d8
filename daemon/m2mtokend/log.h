/*
 * m2mtokend: log lines on stderr (the journal under systemd, with the
 * sd-daemon "<N>" priority prefix when $JOURNAL_STREAM is set).  Never a
 * secret: callers log identifiers, method names, uids and outcomes only,
 * and strings that came from a client go through mtd_log_safe().
 */
#ifndef M2MTOKEND_LOG_H
#define M2MTOKEND_LOG_H

#include <stddef.h>

#define MTD_LOG_ERR	3
#define MTD_LOG_WARNING	4
#define MTD_LOG_INFO	6
#define MTD_LOG_DEBUG	7

/* Lines above prio (less urgent) are dropped; MTD_LOG_INFO by default. */
void mtd_log_set_level(int prio);

void mtd_log(int prio, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* s (NULL: "-") cut to cap - 1 bytes, control and non-ASCII bytes as '?'. */
const char *mtd_log_safe(const char *s, char *buf, size_t cap);

#endif /* M2MTOKEND_LOG_H */
