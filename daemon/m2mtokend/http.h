/*
 * m2mtokend: the small HTTP/1.1 client side of its talks with the MEF
 * (docs/mef-http.md): a request writer and a strict response reader.
 *
 * The reader takes the bytes received so far and says "need more",
 * "complete" or "malformed".  It accepts only: a status line
 * "HTTP/1.1 DDD reason" CRLF, header lines "Name: value" CRLF (token
 * names, values of visible ASCII, space and tab), an empty line, and a
 * body of exactly Content-Length bytes.  Content-Length is required
 * (given once, decimal); Transfer-Encoding, obs-fold, bare LF, a head
 * over MTD_HTTP_HEAD_MAX or a body over MTD_HTTP_BODY_MAX are refused.
 */
#ifndef M2MTOKEND_HTTP_H
#define M2MTOKEND_HTTP_H

#include <stddef.h>

#define MTD_HTTP_HEAD_MAX	8192	/* status line and headers */
#define MTD_HTTP_BODY_MAX	16384
#define MTD_HTTP_HEADERS_MAX	64

/* Reader results (besides 0, complete). */
#define MTD_HTTP_MORE		1	/* need more bytes */
#define MTD_HTTP_ERR_SYNTAX	(-1)	/* malformed response */
#define MTD_HTTP_ERR_TOO_LARGE	(-2)	/* head or body over its cap */
#define MTD_HTTP_ERR_FRAMING	(-3)	/* no/dup Content-Length, chunked */
#define MTD_HTTP_ERR_TRAILING	(-4)	/* bytes after the body */

struct mtd_http_resp {
	int		 status;	/* 100..599 */
	int		 rsc;		/* X-M2M-RSC, -1 if absent */
	const char	*body;		/* into the caller's buffer */
	size_t		 body_len;
	size_t		 total;		/* bytes of head and body */
	int		 json;		/* Content-Type application/json */
};

/*
 * Parses the len bytes at buf as one response.  0: complete, *ret filled
 * (body points into buf); MTD_HTTP_MORE: a prefix of a valid response;
 * < 0: MTD_HTTP_ERR_*.  Never reads past len; buf need not be
 * NUL-terminated.  Bytes after the body are MTD_HTTP_ERR_TRAILING (one
 * request per connection).
 */
int mtd_http_parse_response(const char *buf, size_t len,
    struct mtd_http_resp *ret);

/*
 * Writes one request into a new buffer *ret_buf (*ret_len bytes, NUL
 * after them not counted; free() it): "METHOD path HTTP/1.1", Host,
 * X-M2M-Origin (if origin), X-M2M-RI, Connection: close, and for a body
 * Content-Type: application/json and Content-Length.  Every value must be
 * free of control characters and the path must start with '/':
 * -1 otherwise, -2 out of memory.
 */
int mtd_http_request(const char *method, const char *path, const char *host,
    const char *origin, const char *ri, const char *body, size_t body_len,
    char **ret_buf, size_t *ret_len);

#endif /* M2MTOKEND_HTTP_H */
