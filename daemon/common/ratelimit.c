/*
 * m2mtoken daemons: at most one log line a second per reason
 * (ratelimit.h).
 */
#include <time.h>

#include "ratelimit.h"

/* see ratelimit.h */
int
m2m_rate_pass(struct m2m_rate *r, unsigned long *ret_dropped)
{
	struct timespec ts;
	long long now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (r->used && now - r->last_ms < 1000) {
		r->dropped++;
		return 0;
	}
	*ret_dropped = r->dropped;
	r->used = 1;
	r->last_ms = now;
	r->dropped = 0;
	return 1;
}
