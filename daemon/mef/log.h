/*
 * m2m-mef: log lines on stderr (the journal under systemd).
 *
 * mef_log() is for the program's own events; mef_log_decision() writes the
 * one structured line of every decision about a peer:
 *   m2m-mef: event=<what> who="<PSK identity>" peer=<address:port>
 *       outcome=<ok|refused|error> [reason="..."] [k=v ...]
 * Values are quoted and escaped (every byte outside printable ASCII, a
 * quote or a backslash as \xHH; at most 255 bytes each), so a peer cannot
 * forge a line.  Never pass a secret.
 */
#ifndef M2M_MEF_LOG_H
#define M2M_MEF_LOG_H

#include <stddef.h>

#include "ratelimit.h"

/* One line "m2m-mef: <message>" on stderr. */
void	mef_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * One decision line.  who and peer may be NULL ("-"); reason may be NULL;
 * extra is NULL or a NULL-terminated list of key, value pairs.
 */
void	mef_log_decision(const char *event, const char *who,
	    const char *peer, const char *outcome, const char *reason,
	    const char *const *extra);

/*
 * The decision lines of one reason that a peer without credentials can
 * cause at will (a refused handshake): at most one a second.  Zeroed to
 * start.
 */
struct mef_log_limit {
	struct m2m_rate	 rate;		/* daemon/common/ratelimit.h */
};

/*
 * As mef_log_decision(), unless a line of l was logged less than a second
 * ago: then the line is counted, not logged; the next line logged ends
 * with how many were not: "(N more like it not logged)" (as m2mtokend's
 * mtd_log_limited).  Not thread safe: for the event loop's lines.
 */
void	mef_log_decision_limited(struct mef_log_limit *l, const char *event,
	    const char *who, const char *peer, const char *outcome,
	    const char *reason, const char *const *extra);

/* Write s as a quoted, escaped value into out (cap bytes, NUL ended). */
void	mef_log_quote(char *out, size_t cap, const char *s);

#endif /* M2M_MEF_LOG_H */
