/*
 * Unit tests of m2mtokend's HTTP/1.1 response reader and request writer
 * (daemon/m2mtokend/http.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http.h"

#define OK_RESP "HTTP/1.1 200 OK\r\nX-M2M-RSC: 2001\r\n" \
	"Content-Type: application/json; charset=utf-8\r\n" \
	"Content-Length: 15\r\n\r\n{\"Status\":true}"

static int
parse(const char *s, struct mtd_http_resp *r)
{
	return mtd_http_parse_response(s, strlen(s), r);
}

static void
test_complete(void **state)
{
	struct mtd_http_resp r;

	(void)state;
	assert_int_equal(parse(OK_RESP, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.rsc, 2001);
	assert_int_equal(r.json, 1);
	assert_int_equal(r.body_len, 15);
	assert_memory_equal(r.body, "{\"Status\":true}", 15);
	assert_int_equal(r.total, strlen(OK_RESP));
}

/* every proper prefix is "need more", whatever the split */
static void
test_every_split(void **state)
{
	struct mtd_http_resp r;
	size_t i, n = strlen(OK_RESP);

	(void)state;
	for (i = 0; i < n; i++)
		assert_int_equal(mtd_http_parse_response(OK_RESP, i, &r),
		    MTD_HTTP_MORE);
}

static void
test_no_rsc_empty_body(void **state)
{
	struct mtd_http_resp r;

	(void)state;
	assert_int_equal(parse("HTTP/1.1 404 Not Found\r\n"
	    "content-length: 0\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 404);
	assert_int_equal(r.rsc, -1);
	assert_int_equal(r.json, 0);
	assert_int_equal(r.body_len, 0);
}

static void
test_malformed(void **state)
{
	static const struct {
		const char	*in;
		int		 want;
	} t[] = {
		{ "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
		    MTD_HTTP_ERR_SYNTAX },
		{ "HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n",
		    MTD_HTTP_ERR_SYNTAX },
		{ "HTTP/1.1 099 X\r\nContent-Length: 0\r\n\r\n",
		    MTD_HTTP_ERR_SYNTAX },
		{ "HTTP/1.1 200OK\r\nContent-Length: 0\r\n\r\n",
		    MTD_HTTP_ERR_SYNTAX },
		{ "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
		    MTD_HTTP_ERR_SYNTAX },		/* bare LF */
		{ "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n folded\r\n\r\n",
		    MTD_HTTP_ERR_SYNTAX },		/* obs-fold */
		{ "HTTP/1.1 200 OK\r\nBad Name: 1\r\nContent-Length: 0\r\n\r\n",
		    MTD_HTTP_ERR_SYNTAX },
		{ "HTTP/1.1 200 OK\r\n: x\r\nContent-Length: 0\r\n\r\n",
		    MTD_HTTP_ERR_SYNTAX },
		{ "HTTP/1.1 200 OK\r\nX-M2M-RSC: 20x1\r\nContent-Length: 0\r\n"
		    "\r\n", MTD_HTTP_ERR_SYNTAX },
		{ "HTTP/1.1 200 OK\r\nX-M2M-RSC: 2001\r\nX-M2M-RSC: 2001\r\n"
		    "Content-Length: 0\r\n\r\n", MTD_HTTP_ERR_SYNTAX },
		{ "HTTP/1.1 200 OK\r\n\r\n", MTD_HTTP_ERR_FRAMING },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2"
		    "\r\n\r\n{}", MTD_HTTP_ERR_FRAMING },
		{ "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		    MTD_HTTP_ERR_FRAMING },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n",
		    MTD_HTTP_ERR_FRAMING },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 9999999999\r\n\r\n",
		    MTD_HTTP_ERR_FRAMING },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		    MTD_HTTP_ERR_FRAMING },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 16385\r\n\r\n",
		    MTD_HTTP_ERR_TOO_LARGE },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}x",
		    MTD_HTTP_ERR_TRAILING },
		{ "GET / HTTP/1.1\r\n", MTD_HTTP_ERR_SYNTAX },
		{ "HTTX", MTD_HTTP_ERR_SYNTAX },
	};
	struct mtd_http_resp r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(&r, 0x5a, sizeof(r));
		if (parse(t[i].in, &r) != t[i].want)
			fail_msg("case %zu: got %d, want %d", i,
			    parse(t[i].in, &r), t[i].want);
	}
	/* a NUL in the head */
	assert_int_equal(mtd_http_parse_response("HTTP/1.1 200 \0K\r\n", 16,
	    &r), MTD_HTTP_ERR_SYNTAX);
}

static void
test_caps(void **state)
{
	struct mtd_http_resp r;
	char *big;
	size_t n;

	(void)state;
	/* a head that never ends: refused once past the cap */
	big = malloc(MTD_HTTP_HEAD_MAX + 200);
	assert_non_null(big);
	n = (size_t)snprintf(big, 64, "HTTP/1.1 200 OK\r\nX-Pad: ");
	memset(big + n, 'a', MTD_HTTP_HEAD_MAX + 100 - n);
	assert_int_equal(mtd_http_parse_response(big, MTD_HTTP_HEAD_MAX, &r),
	    MTD_HTTP_MORE);
	assert_int_equal(mtd_http_parse_response(big, MTD_HTTP_HEAD_MAX + 1,
	    &r), MTD_HTTP_ERR_TOO_LARGE);
	free(big);
	/* more than MTD_HTTP_HEADERS_MAX header lines */
	big = malloc(65536);
	assert_non_null(big);
	n = (size_t)snprintf(big, 65536, "HTTP/1.1 200 OK\r\n");
	for (int i = 0; i <= MTD_HTTP_HEADERS_MAX; i++)
		n += (size_t)snprintf(big + n, 65536 - n, "X-%d: 1\r\n", i);
	n += (size_t)snprintf(big + n, 65536 - n, "\r\n");
	assert_int_equal(mtd_http_parse_response(big, n, &r),
	    MTD_HTTP_ERR_TOO_LARGE);
	free(big);
	/* the body cap itself is accepted */
	big = malloc(MTD_HTTP_BODY_MAX + 100);
	assert_non_null(big);
	n = (size_t)snprintf(big, 100, "HTTP/1.1 200 OK\r\nContent-Length: "
	    "%d\r\n\r\n", MTD_HTTP_BODY_MAX);
	memset(big + n, 'b', MTD_HTTP_BODY_MAX);
	assert_int_equal(mtd_http_parse_response(big, n + MTD_HTTP_BODY_MAX,
	    &r), 0);
	assert_int_equal(r.body_len, MTD_HTTP_BODY_MAX);
	free(big);
}

static void
test_request(void **state)
{
	char *buf = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(mtd_http_request("POST", "/bootstrap",
	    "mef.example.com", "kpm-1", "ri-1", "{}", 2, &buf, &len), 0);
	assert_string_equal(buf, "POST /bootstrap HTTP/1.1\r\n"
	    "Host: mef.example.com\r\nX-M2M-Origin: kpm-1\r\n"
	    "X-M2M-RI: ri-1\r\nConnection: close\r\n"
	    "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
	assert_int_equal(len, strlen(buf));
	free(buf);
	assert_int_equal(mtd_http_request("GET", "/fetchCredentials/x@y",
	    "mef", NULL, "ri", NULL, 0, &buf, &len), 0);
	assert_string_equal(buf, "GET /fetchCredentials/x@y HTTP/1.1\r\n"
	    "Host: mef\r\nX-M2M-RI: ri\r\nConnection: close\r\n\r\n");
	free(buf);
	/* header injection and bad paths are refused */
	buf = NULL;
	assert_int_equal(mtd_http_request("GET", "/a", "mef",
	    "x\r\nEvil: 1", "ri", NULL, 0, &buf, &len), -1);
	assert_int_equal(mtd_http_request("GET", "/a b", "mef", NULL, "ri",
	    NULL, 0, &buf, &len), -1);
	assert_int_equal(mtd_http_request("GET", "a", "mef", NULL, "ri",
	    NULL, 0, &buf, &len), -1);
	assert_int_equal(mtd_http_request("GET", "/a", "me\nf", NULL, "ri",
	    NULL, 0, &buf, &len), -1);
	assert_null(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_complete),
		cmocka_unit_test(test_every_split),
		cmocka_unit_test(test_no_rsc_empty_body),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_request),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
