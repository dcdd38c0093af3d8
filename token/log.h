/*
 * Logging.  The module lives inside other people's processes, so by default
 * it logs only M2M_LOG_ERROR lines: failures of its own environment (config,
 * store, backend).  Caller mistakes are logged at M2M_LOG_INFO.  The level
 * comes from $M2MTOKEN_LOG_LEVEL (error|warning|info|debug), else from the
 * config file's [log] level, else "error".  Lines go to stderr, prefixed
 * "m2mtoken: <level>: ".  Never pass secret bytes to these functions.
 */
#ifndef M2M_LOG_H
#define M2M_LOG_H

enum m2m_log_level {
	M2M_LOG_OFF = -1,	/* as a threshold: no line at all */
	M2M_LOG_ERROR = 0,
	M2M_LOG_WARNING = 1,
	M2M_LOG_INFO = 2,
	M2M_LOG_DEBUG = 3
};

/* Set the threshold; lines above it are dropped.  Thread safe. */
void	m2m_log_set_level(enum m2m_log_level level);
/*
 * Parse "off"/"error"/"warning"/"info"/"debug"; 0 and *ret on success,
 * else -1.
 */
int	m2m_log_parse_level(const char *s, enum m2m_log_level *ret);
/* Apply $M2MTOKEN_LOG_LEVEL if set and valid; returns 1 if applied. */
int	m2m_log_from_env(void);
enum m2m_log_level m2m_log_get_level(void);
/* printf-style; one line (a trailing newline is added). */
void	m2m_log(enum m2m_log_level level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/*
 * The lines of one reason that a caller can cause at will (a token at
 * its [token] max_objects): at most one a second.  Zeroed to start.
 */
struct m2m_log_limit {
	long long	 last_ms;	/* CLOCK_MONOTONIC, of the last line */
	unsigned long	 dropped;	/* lines not logged since */
	int		 used;		/* a line was logged */
};

/*
 * As m2m_log(), unless a line of l was logged less than a second ago:
 * then the line is counted, not logged; the next line logged says how
 * many were not ("(N more like it not logged)").  A line below the
 * threshold is neither logged nor counted.  Not thread safe: the caller
 * serialises the lines of one l (the store's, under the module lock).
 */
void	m2m_log_limited(struct m2m_log_limit *l, enum m2m_log_level level,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define m2m_error(...)	m2m_log(M2M_LOG_ERROR, __VA_ARGS__)
#define m2m_warn(...)	m2m_log(M2M_LOG_WARNING, __VA_ARGS__)
#define m2m_info(...)	m2m_log(M2M_LOG_INFO, __VA_ARGS__)
#define m2m_debug(...)	m2m_log(M2M_LOG_DEBUG, __VA_ARGS__)

/*
 * SQLite-style guard for impossible states that must also be caught in
 * release builds: evaluates to the truth of x, logs when it is true.
 */
#define M2M_NEVER(x) \
	((x) ? (m2m_error("internal: %s at %s:%d", #x, __FILE__, __LINE__), 1) \
	    : 0)

#endif /* M2M_LOG_H */
