/*
 * Unit tests of daemon/mef/parse.c: the bootstrap body, the
 * fetchCredentials path, IDs, FQDNs, timestamps and hex, each failure
 * with its exact error and reason, and the output untouched on failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "parse.h"

static void
bad_body(const char *body, const char *want)
{
	struct mef_targets t;
	const char *why = NULL;

	memset(&t, 0x5a, sizeof(t));
	assert_int_equal(mef_parse_bootstrap(body, strlen(body), &t, &why),
	    MEF_ERR_INVALID);
	assert_non_null(why);
	assert_string_equal(why, want);
	/* nothing written on failure */
	assert_int_equal(t.n, (size_t)0x5a5a5a5a5a5a5a5aULL);
}

static void
test_body_ok(void **state)
{
	struct mef_targets t;
	const char *why = NULL;
	const char *b = " {\"Targets\": [\"gw1.example.com\", "
	    "\"/in-cse/C\\u00e9\"]}\r\n ";

	(void)state;
	assert_int_equal(mef_parse_bootstrap(b, strlen(b), &t, &why), 0);
	assert_int_equal(t.n, 2);
	assert_string_equal(t.id[0], "gw1.example.com");
	assert_string_equal(t.id[1], "/in-cse/C\xc3\xa9");
}

static void
test_body_16(void **state)
{
	struct mef_targets t;
	const char *why = NULL;
	char b[1024];
	size_t o = 0;
	int i;

	(void)state;
	o += (size_t)snprintf(b, sizeof(b), "{\"Targets\":[");
	for (i = 0; i < 16; i++)
		o += (size_t)snprintf(b + o, sizeof(b) - o, "%s\"t%d\"",
		    i ? "," : "", i);
	snprintf(b + o, sizeof(b) - o, "]}");
	assert_int_equal(mef_parse_bootstrap(b, strlen(b), &t, &why), 0);
	assert_int_equal(t.n, 16);
	assert_string_equal(t.id[15], "t15");
	/* 17 */
	b[o] = '\0';
	snprintf(b + o, sizeof(b) - o, ",\"x\"]}");
	bad_body(b, "Targets must hold 1 to 16 targets");
}

static void
test_body_bad(void **state)
{
	char big[300];

	(void)state;
	bad_body("", "the body is empty");
	bad_body("{", "the body is truncated");
	bad_body("{\"Targets\": [\"a\"", "the body is truncated");
	bad_body("nul", "the body is truncated");
	bad_body("xyz", "the body is not one JSON object");
	bad_body("[]", "the body is not one JSON object");
	bad_body("\"x\"", "the body is not one JSON object");
	bad_body("{\"Targets\": [\"a\"]} x", "data after the JSON object");
	bad_body("{\"Targets\": [\"a\"]}{}", "data after the JSON object");
	bad_body("{}", "member Targets is missing");
	bad_body("{\"Targets\": [\"a\"], \"b\": 1}",
	    "a member other than Targets");
	/* json-c would keep the second, and read 'Targets' */
	bad_body("{\"Targets\": [\"a\"], \"Targets\": [\"b\"]}",
	    "a member name is repeated, escaped or single-quoted");
	bad_body("{'Targets': [\"a\"]}",
	    "a member name is repeated, escaped or single-quoted");
	bad_body("{\"T\\u0061rgets\": [\"a\"]}",
	    "a member name is repeated, escaped or single-quoted");
	bad_body("{\"Targets\": {}}", "Targets is not an array");
	bad_body("{\"Targets\": null}", "Targets is not an array");
	bad_body("{\"Targets\": []}", "Targets must hold 1 to 16 targets");
	bad_body("{\"Targets\": [null]}", "a target is not a string");
	bad_body("{\"Targets\": [\"\"]}", "a target is not a valid ID");
	bad_body("{\"Targets\": [\"a\\u0000b\"]}",
	    "a target is not a valid ID");
	bad_body("{\"Targets\": [\"a\\nb\"]}", "a target is not a valid ID");
	bad_body("{\"Targets\": [\"a\\u0085\"]}", "a target is not a valid ID");
	bad_body("{\"Targets\": [\"a\", \"a\"]}", "a target is named twice");
	bad_body("{\"Targets\": [[[[\"a\"]]]]}",
	    "the body is nested too deeply");
	bad_body("{\"Targets\": [\"\xc3\x28\"]}",
	    "the body is not one JSON object");
	bad_body("{'Targets': ['a']}",
	    "a member name is repeated, escaped or single-quoted");
	memset(big, 'a', sizeof(big));
	memcpy(big, "{\"Targets\": [\"", 14);
	memcpy(big + sizeof(big) - 4, "\"]}", 4);
	bad_body(big, "a target is not a valid ID");
}

static void
test_body_too_large(void **state)
{
	static char b[MEF_BODY_MAX + 2];
	struct mef_targets t;
	const char *why = NULL;

	(void)state;
	memset(b, ' ', sizeof(b) - 1);
	memcpy(b, "{\"Targets\": [\"a\"]}", 18);
	assert_int_equal(mef_parse_bootstrap(b, MEF_BODY_MAX, &t, &why), 0);
	assert_int_equal(mef_parse_bootstrap(b, MEF_BODY_MAX + 1, &t, &why),
	    MEF_ERR_INVALID);
	assert_string_equal(why, "the body is too large");
}

static void
test_body_not_nul_terminated(void **state)
{
	const char *b = "{\"Targets\": [\"a\"]}GARBAGE";
	struct mef_targets t;
	const char *why = NULL;

	(void)state;
	assert_int_equal(mef_parse_bootstrap(b, 18, &t, &why), 0);
	assert_string_equal(t.id[0], "a");
	assert_int_equal(mef_parse_bootstrap(b, 17, &t, &why),
	    MEF_ERR_INVALID);
	assert_string_equal(why, "the body is truncated");
}

#define KEID "000102030405060708090a0b0c0d0e0f@mef.example.com"

static void
bad_path(const char *uri, int want, const char *why_want)
{
	struct mef_fetch_path p;
	const char *why = NULL;

	memset(&p, 0x5a, sizeof(p));
	assert_int_equal(mef_parse_fetch_path(uri, &p, &why), want);
	if (why_want != NULL)
		assert_string_equal(why, why_want);
	assert_int_equal(p.suid, 0x5a5a5a5aU);
}

static void
test_path_ok(void **state)
{
	struct mef_fetch_path p;
	const char *why = NULL;

	(void)state;
	assert_int_equal(mef_parse_fetch_path("/fetchCredentials/" KEID, &p,
	    &why), 0);
	assert_string_equal(p.ke_id, KEID);
	assert_int_equal(p.suid, 0);
	assert_int_equal(mef_parse_fetch_path(
	    "/fetchCredentials/000102030405060708090A0B0C0D0E0F@MEF.Example.COM/22",
	    &p, &why), 0);
	assert_string_equal(p.ke_id, KEID);
	assert_int_equal(p.suid, 22);
	assert_int_equal(mef_parse_fetch_path("/fetchCredentials/" KEID "/10",
	    &p, &why), 0);
	assert_int_equal(p.suid, 10);
	assert_int_equal(mef_parse_fetch_path("/fetchCredentials/" KEID "/99",
	    &p, &why), 0);
	assert_int_equal(p.suid, 99);
}

static void
test_path_bad(void **state)
{
	char longk[400];

	(void)state;
	bad_path("/", MEF_ERR_NOTFOUND, NULL);
	bad_path("/bootstrap", MEF_ERR_NOTFOUND, NULL);
	bad_path("/fetchCredentialsX/" KEID, MEF_ERR_NOTFOUND, NULL);
	bad_path("/fetchcredentials/" KEID, MEF_ERR_NOTFOUND, NULL);
	bad_path("fetchCredentials/" KEID, MEF_ERR_NOTFOUND, NULL);
	bad_path("/fetchCredentials", MEF_ERR_INVALID,
	    "the path names no KeId");
	bad_path("/fetchCredentials/", MEF_ERR_INVALID,
	    "the path names no KeId");
	bad_path("/fetchCredentials?a", MEF_ERR_INVALID,
	    "the path holds a query, fragment or escape");
	bad_path("/fetchCredentials/" KEID "?x", MEF_ERR_INVALID,
	    "the path holds a query, fragment or escape");
	bad_path("/fetchCredentials/" KEID "#x", MEF_ERR_INVALID,
	    "the path holds a query, fragment or escape");
	bad_path("/fetchCredentials/%30" KEID, MEF_ERR_INVALID,
	    "the path holds a query, fragment or escape");
	bad_path("/fetchCredentials/00@mef.example.com", MEF_ERR_INVALID,
	    "the KeId is malformed");
	bad_path("/fetchCredentials/000102030405060708090a0b0c0d0e0g@m",
	    MEF_ERR_INVALID, "the KeId is malformed");
	bad_path("/fetchCredentials/000102030405060708090a0b0c0d0e0f@",
	    MEF_ERR_INVALID, "the KeId is malformed");
	bad_path("/fetchCredentials/000102030405060708090a0b0c0d0e0f@a..b",
	    MEF_ERR_INVALID, "the KeId is malformed");
	bad_path("/fetchCredentials/000102030405060708090a0b0c0d0e0f@a_b",
	    MEF_ERR_INVALID, "the KeId is malformed");
	bad_path("/fetchCredentials/000102030405060708090a0b0c0d0e0f",
	    MEF_ERR_INVALID, "the KeId is malformed");
	bad_path("/fetchCredentials//" KEID, MEF_ERR_INVALID,
	    "the KeId is malformed");
	bad_path("/fetchCredentials/" KEID "/", MEF_ERR_INVALID,
	    "the SUID is not a number 10 to 99");
	bad_path("/fetchCredentials/" KEID "/9", MEF_ERR_INVALID,
	    "the SUID is not a number 10 to 99");
	bad_path("/fetchCredentials/" KEID "/09", MEF_ERR_INVALID,
	    "the SUID is not a number 10 to 99");
	bad_path("/fetchCredentials/" KEID "/100", MEF_ERR_INVALID,
	    "the SUID is not a number 10 to 99");
	bad_path("/fetchCredentials/" KEID "/1a", MEF_ERR_INVALID,
	    "the SUID is not a number 10 to 99");
	bad_path("/fetchCredentials/" KEID "/12/", MEF_ERR_INVALID,
	    "the SUID is not a number 10 to 99");
	memset(longk, 'a', sizeof(longk));
	memcpy(longk, "/fetchCredentials/000102030405060708090a0b0c0d0e0f@",
	    51);
	longk[sizeof(longk) - 1] = '\0';
	bad_path(longk, MEF_ERR_INVALID, "the KeId is malformed");
}

static void
test_id(void **state)
{
	char s[MEF_ID_MAX + 2];

	(void)state;
	assert_true(mef_id_valid("a", 1));
	assert_true(mef_id_valid("\xc3\xa9", 2));
	assert_true(mef_id_valid("\xf0\x9f\x98\x80", 4));
	assert_false(mef_id_valid("", 0));
	assert_false(mef_id_valid("a\x7f", 2));
	assert_false(mef_id_valid("a\x1f", 2));
	assert_false(mef_id_valid("\xc0\xaf", 2));		/* overlong */
	assert_false(mef_id_valid("\xed\xa0\x80", 3));		/* surrogate */
	assert_false(mef_id_valid("\xf4\x90\x80\x80", 4));	/* > U+10FFFF */
	assert_false(mef_id_valid("\xc3", 1));			/* truncated */
	assert_false(mef_id_valid("\xc2\x85", 2));		/* C1 */
	assert_false(mef_id_valid("\x80", 1));
	memset(s, 'x', sizeof(s));
	assert_true(mef_id_valid(s, MEF_ID_MAX));
	assert_false(mef_id_valid(s, MEF_ID_MAX + 1));
	assert_false(mef_id_valid(NULL, 1));
}

static void
test_fqdn(void **state)
{
	char s[300];

	(void)state;
	assert_true(mef_fqdn_valid("mef.example.com"));
	assert_true(mef_fqdn_valid("a"));
	assert_false(mef_fqdn_valid(""));
	assert_false(mef_fqdn_valid(".a"));
	assert_false(mef_fqdn_valid("a."));
	assert_false(mef_fqdn_valid("a..b"));
	assert_false(mef_fqdn_valid("a b"));
	assert_false(mef_fqdn_valid("a@b"));
	memset(s, 'a', 64);
	s[64] = '\0';
	assert_false(mef_fqdn_valid(s));	/* a 64-byte label */
	s[63] = '\0';
	assert_true(mef_fqdn_valid(s));
}

static void
test_timestamp(void **state)
{
	char ts[MEF_TS_LEN + 1];

	(void)state;
	assert_int_equal(mef_timestamp(0, ts), 0);
	assert_string_equal(ts, "19700101T000000");
	assert_int_equal(mef_timestamp(1826841600, ts), 0);
	assert_string_equal(ts, "20271122T000000");
}

static void
test_hex(void **state)
{
	uint8_t b[4];

	(void)state;
	assert_int_equal(mef_hex_decode("00ff7A", 6, b, sizeof(b)), 3);
	assert_int_equal(b[0], 0x00);
	assert_int_equal(b[1], 0xff);
	assert_int_equal(b[2], 0x7a);
	assert_int_equal(mef_hex_decode("0011\n", 5, b, sizeof(b)), 2);
	assert_int_equal(mef_hex_decode("001", 3, b, sizeof(b)),
	    MEF_ERR_INVALID);
	assert_int_equal(mef_hex_decode("0g", 2, b, sizeof(b)),
	    MEF_ERR_INVALID);
	assert_int_equal(mef_hex_decode("", 0, b, sizeof(b)),
	    MEF_ERR_INVALID);
	assert_int_equal(mef_hex_decode("0011223344", 10, b, sizeof(b)),
	    MEF_ERR_INVALID);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_body_ok),
		cmocka_unit_test(test_body_16),
		cmocka_unit_test(test_body_bad),
		cmocka_unit_test(test_body_too_large),
		cmocka_unit_test(test_body_not_nul_terminated),
		cmocka_unit_test(test_path_ok),
		cmocka_unit_test(test_path_bad),
		cmocka_unit_test(test_id),
		cmocka_unit_test(test_fqdn),
		cmocka_unit_test(test_timestamp),
		cmocka_unit_test(test_hex),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
