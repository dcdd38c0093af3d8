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
