/*
 * m2mtokend: log lines on stderr (the journal under systemd, with the
 * sd-daemon "<N>" priority prefix when $JOURNAL_STREAM is set).  Never a
 * secret: callers log identifiers, method names, uids and outcomes only,
 * and strings that came from a client go through mtd_log_safe().
 */
#ifndef M2MTOKEND_LOG_H
#define M2MTOKEND_LOG_H


#include <stddef.h>

#include "ratelimit.h"

#define MTD_LOG_ERR	3
#define MTD_LOG_WARNING	4
#define MTD_LOG_INFO	6
#define MTD_LOG_DEBUG	7

/* Lines above prio (less urgent) are dropped; MTD_LOG_INFO by default. */
void mtd_log_set_level(int prio);

void mtd_log(int prio, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * The lines of one reason that a peer can cause at will (a connection
 * refused or closed): at most one a second.  Zeroed to start.
 */
struct mtd_log_limit {
	struct m2m_rate	 rate;		/* daemon/common/ratelimit.h */
};

/*
 * As mtd_log(), unless a line of l was logged less than a second ago:
 * then the line is counted, not logged; the next line logged says how
 * many were not ("(N more like it not logged)").  Not thread-safe: for
 * one thread's lines (the event loop's).
 */
void mtd_log_limited(struct mtd_log_limit *l, int prio, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* s (NULL: "-") cut to cap - 1 bytes, control and non-ASCII bytes as '?'. */
const char *mtd_log_safe(const char *s, char *buf, size_t cap);

#endif /* M2MTOKEND_LOG_H */
