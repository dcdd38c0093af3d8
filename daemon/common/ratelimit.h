/*
 * m2mtoken daemons: the gate of a log line that a peer can cause at will
 * (a refused connection or handshake): at most one a second per reason,
 * and the next line logged says how many were not.  Shared by m2mtokend
 * (mtd_log_limited) and m2m-mef (mef_log_decision_limited).  The module
 * (token/log.c) and libm2mtls (tls/tls_log.c) keep their own: a lower
 * layer does not include daemon/.
 */
#ifndef M2M_RATELIMIT_H
#define M2M_RATELIMIT_H

/* One reason's lines.  Zeroed to start; not thread-safe. */
struct m2m_rate {
	long long	 last_ms;	/* CLOCK_MONOTONIC, of the last line */
	unsigned long	 dropped;	/* lines not logged since */
	int		 used;		/* a line was logged */
};

/*
 * 1 if a line of r may be logged now: *ret_dropped is then how many were
 * not since the last one, and the count starts again.  0 if less than a
 * second has passed since the last one: this line is counted instead.
 */
int	m2m_rate_pass(struct m2m_rate *r, unsigned long *ret_dropped);

#endif /* M2M_RATELIMIT_H */
