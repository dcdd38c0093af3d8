/*
 * m2mtokend: one exchange with the MEF (docs/mef-http.md): TCP connect,
 * TLS 1.2 PSK handshake over a libm2mtls client context (the PSK in the
 * token, SNI = the MEF's FQDN), optionally the RFC 5705 export, one HTTP
 * request, one response.  Blocking, bounded by the [mef] timeout.
 */
#ifndef M2MTOKEND_MEF_H
#define M2MTOKEND_MEF_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include <m2mtoken/tls.h>

#include "http.h"

#define MTD_MEF_RESP_MAX	(MTD_HTTP_HEAD_MAX + MTD_HTTP_BODY_MAX)

struct mtd_mef_target {
	const char	*host;
	unsigned int	 port;
	const char	*fqdn;
	unsigned int	 timeout;	/* s, the whole exchange */
};

struct mtd_mef_result {
	char			 buf[MTD_MEF_RESP_MAX + 1];
	struct mtd_http_resp	 resp;	/* body points into buf */
};

/*
 * Runs the exchange.  ekm (48 bytes, secret: the caller wipes) receives
 * the export when not NULL.  0 and *res; M2M_IPC_ERR_MEF_UNREACHABLE
 * (resolve, connect, handshake, timeout, I/O; the step in detail) or
 * M2M_IPC_ERR_MEF_PROTOCOL (a malformed response), _NO_MEMORY.
 */
int mtd_mef_exchange(SSL_CTX *ctx, const struct mtd_mef_target *t,
    const char *req, size_t req_len, uint8_t *ekm,
    struct mtd_mef_result *res, char *detail, size_t dlen);

#endif /* M2MTOKEND_MEF_H */
