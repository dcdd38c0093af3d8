/*
 * tls/: the one logging function of libm2mtls.  Lines go to stderr as
 * "m2mtls: <message>", as far as $M2MTOKEN_TLS_LOG allows (off | error |
 * debug; default error): see docs/operations.md.  Never pass secret bytes.
 */
#ifndef M2M_TLS_LOG_H
#define M2M_TLS_LOG_H

#include <stddef.h>

enum m2m_tls_log_level {
	M2M_TLS_LOG_ERROR = 1,	/* a refused handshake or context */
	M2M_TLS_LOG_DEBUG = 2
};

/* Longest printable copy m2m_tls_printable() writes, with its NUL. */
#define M2M_TLS_PRINTABLE_MAX	80

/*
 * One line "m2mtls: <fmt...>\n" on stderr if level is within the threshold
 * read from $M2MTOKEN_TLS_LOG at the first call; else nothing.
 */
void	m2m_tls_log(enum m2m_tls_log_level level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#define m2m_tls_error(...)	m2m_tls_log(M2M_TLS_LOG_ERROR, __VA_ARGS__)
#define m2m_tls_debug(...)	m2m_tls_log(M2M_TLS_LOG_DEBUG, __VA_ARGS__)

/*
 * The reasons a server refuses a handshake that a peer without credentials
 * can cause at will, each as often as it likes: their lines are limited
 * (m2m_tls_error_limited).
 */
enum m2m_tls_limit {
	M2M_TLS_LIM_UNUSABLE,	/* a PSK identity no key can have */
	M2M_TLS_LIM_UNKNOWN,	/* no PSK key labelled with the identity */
	M2M_TLS_LIM_CONTROL,	/* control characters: not for the hook */
	M2M_TLS_LIM_HOOK,	/* the unknown-identity hook refused it */
	M2M_TLS_LIM_HOOK_NOKEY,	/* the hook said yes, the key is not there */
	M2M_TLS_LIM_LOOKUP,	/* the token's lookup failed */
	M2M_TLS_LIM_SNI,	/* a server name other than ours */
	M2M_TLS_LIM_N
};

/*
 * As m2m_tls_error(), but at most one line a second for each reason in the
 * process: a line within a second of the last one of its reason is
 * counted, not written, and the next line written says how many were not
 * ("(N more like it not logged)").  A line the threshold drops is not
 * counted.  Thread safe.
 */
void	m2m_tls_error_limited(enum m2m_tls_limit reason, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/*
 * A handshake step refused: "m2mtoken: <fmt...>" on the OpenSSL error stack
 * (always, whatever the log switch says) and the error line "m2mtls:
 * handshake refused: <fmt...>".  The message is cut at 511 bytes.
 */
void	m2m_tls_refuse(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));

/*
 * src (at most len bytes, up to its NUL; NULL: "(none)") for a log line:
 * cut to n - 1 bytes, every byte outside printable ASCII as '?'.  Not for
 * secrets (labels and identities may be hostile, not secret).  Returns dst.
 */
const char *m2m_tls_printable(char *dst, size_t n, const char *src,
	    size_t len);

#endif /* M2M_TLS_LOG_H */
