/*
 * fuzz_mtd_http: m2mtokend's strict HTTP/1.1 response reader,
 * mtd_http_parse_response() (daemon/m2mtokend/http.c), which reads what
 * the MEF sends.  Beyond memory and UB errors it checks the contract of
 * http.h:
 *   - a complete response (0) has a status 100..599, an X-M2M-RSC of -1
 *     or 0..9999, a body inside the input of at most MTD_HTTP_BODY_MAX
 *     bytes ending exactly at the end of the input;
 *   - every proper prefix of a complete response is "need more": a
 *     response does not depend on how its bytes arrived;
 *   - every result is 0, MTD_HTTP_MORE or an MTD_HTTP_ERR_*;
 *   - a prefix that is malformed makes every longer input malformed too
 *     (an error is never taken back by more bytes), checked at a split
 *     the first byte chooses.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
parse(const uint8_t *data, size_t len, struct mtd_http_resp *r)
{
	/* an exact-size copy, so ASan sees any read past len */
	char *copy = malloc(len ? len : 1);
	int v;

	if (copy == NULL)
		abort();
	memcpy(copy, data, len);
	v = mtd_http_parse_response(copy, len, r);
	if (v == 0 && (r->body < copy || r->body + r->body_len != copy + len))
		abort();
	free(copy);
	return v;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mtd_http_resp r, p;
	size_t split, i;
	int v, w;

	if (size < 1)
		return 0;
	split = data[0];
	data++;
	size--;
	if (size > MTD_HTTP_HEAD_MAX + MTD_HTTP_BODY_MAX + 64)
		return 0;
	v = parse(data, size, &r);
	if (v != 0 && v != MTD_HTTP_MORE && v != MTD_HTTP_ERR_SYNTAX &&
	    v != MTD_HTTP_ERR_TOO_LARGE && v != MTD_HTTP_ERR_FRAMING &&
	    v != MTD_HTTP_ERR_TRAILING)
		abort();
	if (v == 0) {
		if (r.status < 100 || r.status > 599 || r.rsc < -1 ||
		    r.rsc > 9999 || r.body_len > MTD_HTTP_BODY_MAX ||
		    r.total != size)
			abort();
		/* proper prefixes: need more (all of them for small inputs) */
		for (i = 0; i < size; i += size < 512 ? 1 : 1 + size / 64)
			if (parse(data, i, &p) != MTD_HTTP_MORE)
				abort();
	}
	split = size > 0 ? (split * size) / 255 : 0;
	w = parse(data, split, &p);
	if (w < 0 && w != MTD_HTTP_ERR_TRAILING && v >= 0)
		abort();
	return 0;
}
