/* Unit tests for token/ident.c: NFKC, hex, KeId, comparison, timestamps. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "ident.h"

#define SENTINEL_PTR	((uint8_t *)(uintptr_t)0x5a5a5a5a)
#define SENTINEL_LEN	((size_t)0xa5a5a5a5)

/* NFKC of in must be exactly want. */
static void
nfkc_is(const char *in, size_t inlen, const char *want)
{
	uint8_t *out = NULL;
	size_t outlen = 0;

	assert_int_equal(m2m_ident_nfkc((const uint8_t *)in, inlen, &out,
	    &outlen), 0);
	assert_non_null(out);
	assert_int_equal(outlen, strlen(want));
	assert_memory_equal(out, want, outlen);
	assert_int_equal(out[outlen], '\0');
	free(out);
}

/* NFKC of in must fail with want_r and write nothing. */
static void
nfkc_fails(const void *in, size_t inlen, int want_r)
{
	uint8_t *out = SENTINEL_PTR;
	size_t outlen = SENTINEL_LEN;

	assert_int_equal(m2m_ident_nfkc(in, inlen, &out, &outlen), want_r);
	assert_ptr_equal(out, SENTINEL_PTR);
	assert_int_equal(outlen, SENTINEL_LEN);
}

static void
test_nfkc_examples(void **state)
{
	(void)state;
	/* fullwidth U+FF4D U+FF45 U+FF46 */
	nfkc_is("\xef\xbd\x8d\xef\xbd\x85\xef\xbd\x86", 9, "mef");
	/* U+FB01 LATIN SMALL LIGATURE FI */
	nfkc_is("\xef\xac\x81", 3, "fi");
	/* U+2126 OHM SIGN -> U+03A9 GREEK CAPITAL LETTER OMEGA */
	nfkc_is("\xe2\x84\xa6", 3, "\xce\xa9");
	/* e + U+0301 COMBINING ACUTE -> U+00E9 (composition) */
	nfkc_is("caf\x65\xcc\x81", 6, "caf\xc3\xa9");
	/* U+00B2 SUPERSCRIPT TWO -> "2" */
	nfkc_is("CAE\xc2\xb2", 5, "CAE2");
	/* already normal: unchanged, case kept */
	nfkc_is("/in-cse.example.com/CAE01", 25, "/in-cse.example.com/CAE01");
	nfkc_is("mef.example.com", 15, "mef.example.com");
}

static void
test_nfkc_invalid_utf8(void **state)
{
	(void)state;
	nfkc_fails("\xff", 1, M2M_ERR_ATTRIBUTE_VALUE);
	nfkc_fails("abc\x80", 4, M2M_ERR_ATTRIBUTE_VALUE);
	/* overlong "/" */
	nfkc_fails("\xc0\xaf", 2, M2M_ERR_ATTRIBUTE_VALUE);
	/* truncated U+2126 */
	nfkc_fails("\xe2\x84", 2, M2M_ERR_ATTRIBUTE_VALUE);
	/* a UTF-16 surrogate encoded in UTF-8 */
	nfkc_fails("\xed\xa0\x80", 3, M2M_ERR_ATTRIBUTE_VALUE);
	/* beyond U+10FFFF */
	nfkc_fails("\xf4\x90\x80\x80", 4, M2M_ERR_ATTRIBUTE_VALUE);
}

static void
test_nfkc_nul_empty_long(void **state)
{
	uint8_t *buf;
	uint8_t *out = NULL;
	size_t outlen = 0, i;

	(void)state;
	nfkc_fails("a\0b", 3, M2M_ERR_ATTRIBUTE_VALUE);
	nfkc_fails("\0", 1, M2M_ERR_ATTRIBUTE_VALUE);
	nfkc_fails("x", 0, M2M_ERR_ATTRIBUTE_VALUE);

	buf = malloc(M2M_ID_MAX + 1);
	assert_non_null(buf);
	memset(buf, 'a', M2M_ID_MAX + 1);
	/* exactly the maximum is accepted */
	assert_int_equal(m2m_ident_nfkc(buf, M2M_ID_MAX, &out, &outlen), 0);
	assert_int_equal(outlen, M2M_ID_MAX);
	free(out);
	nfkc_fails(buf, M2M_ID_MAX + 1, M2M_ERR_ATTRIBUTE_VALUE);

	/* U+FDFA expands 3 -> 33 bytes: the result exceeds the maximum */
	for (i = 0; i + 3 <= M2M_ID_MAX; i += 3)
		memcpy(buf + i, "\xef\xb7\xba", 3);
	nfkc_fails(buf, i, M2M_ERR_ATTRIBUTE_VALUE);
	free(buf);

	nfkc_fails(NULL, 3, M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(m2m_ident_nfkc((const uint8_t *)"a", 1, NULL,
	    &outlen), M2M_ERR_INVALID_ARGUMENT);
}

static void
test_hex(void **state)
{
	static const uint8_t bytes[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xff };
	uint8_t out[6], keep[6];
	char hex[2 * sizeof(bytes) + 1];

	(void)state;
	memset(hex, 'X', sizeof(hex));
	m2m_hex_encode(bytes, sizeof(bytes), hex);
	assert_string_equal(hex, "00017f80abff");
	m2m_hex_encode(bytes, 0, hex);
	assert_string_equal(hex, "");

	assert_int_equal(m2m_hex_decode("00017f80abff", 12, out, 6), 0);
	assert_memory_equal(out, bytes, 6);
	assert_int_equal(m2m_hex_decode("00017F80ABFF", 12, out, 6), 0);
	assert_memory_equal(out, bytes, 6);
	assert_int_equal(m2m_hex_decode("DEADbeef", 8, out, 4), 0);
	assert_memory_equal(out, "\xde\xad\xbe\xef", 4);
	assert_int_equal(m2m_hex_decode("", 0, out, 0), 0);

	/* failures write nothing */
	memset(out, 0xa5, sizeof(out));
	memcpy(keep, out, sizeof(out));
	assert_int_equal(m2m_hex_decode("00017f80abfg", 12, out, 6),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(m2m_hex_decode("zz", 2, out, 1),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(m2m_hex_decode("0 ", 2, out, 1),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(m2m_hex_decode("0x", 2, out, 1),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(m2m_hex_decode("a\0", 2, out, 1),
	    M2M_ERR_INVALID_ARGUMENT);
	/* wrong lengths: odd, short, long */
	assert_int_equal(m2m_hex_decode("abc", 3, out, 1),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(m2m_hex_decode("abcd", 4, out, 3),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(m2m_hex_decode("abcdef", 6, out, 2),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(m2m_hex_decode(NULL, 2, out, 1),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_memory_equal(out, keep, sizeof(out));

	/* round trip of every byte value */
	{
		uint8_t all[256], back[256];
		char h[513];
		size_t i;

		for (i = 0; i < 256; i++)
			all[i] = (uint8_t)i;
		m2m_hex_encode(all, 256, h);
		assert_int_equal(strlen(h), 512);
		assert_int_equal(m2m_hex_decode(h, 512, back, 256), 0);
		assert_memory_equal(all, back, 256);
	}
}

static void
test_keid_worked_example(void **state)
{
	uint8_t ekm[48];
	char *keid = NULL;
	size_t i;

	(void)state;
	/* onem2m-keys.md 7: EKM = 00 01 .. 2f, RelativeKeId = EKM[0..15] */
	for (i = 0; i < sizeof(ekm); i++)
		ekm[i] = (uint8_t)i;
	assert_int_equal(m2m_ident_keid(ekm, "mef.example.com", 15, &keid),
	    0);
	assert_string_equal(keid,
	    "000102030405060708090a0b0c0d0e0f@mef.example.com");
	free(keid);

	/* only fqdnlen bytes are used */
	assert_int_equal(m2m_ident_keid(ekm + 16, "mef.example.comXYZ", 15,
	    &keid), 0);
	assert_string_equal(keid,
	    "101112131415161718191a1b1c1d1e1f@mef.example.com");
	free(keid);
}

static void
test_keid_bad_fqdn(void **state)
{
	char fqdn[257], *keid = (char *)SENTINEL_PTR;
	uint8_t rel[16] = { 0 };

	(void)state;
	memset(fqdn, 'a', sizeof(fqdn));
	assert_int_equal(m2m_ident_keid(rel, fqdn, 255, &keid), 0);
	assert_int_equal(strlen(keid), 32 + 1 + 255);
	free(keid);

	keid = (char *)SENTINEL_PTR;
	assert_int_equal(m2m_ident_keid(rel, fqdn, 256, &keid),
	    M2M_ERR_ATTRIBUTE_VALUE);
	assert_int_equal(m2m_ident_keid(rel, "", 0, &keid),
	    M2M_ERR_ATTRIBUTE_VALUE);
	assert_int_equal(m2m_ident_keid(rel, "a@b.example", 11, &keid),
	    M2M_ERR_ATTRIBUTE_VALUE);
	assert_int_equal(m2m_ident_keid(rel, "ab\0.example", 11, &keid),
	    M2M_ERR_ATTRIBUTE_VALUE);
	/* only a host name's characters (found in review: "mef/22") */
	assert_int_equal(m2m_ident_keid(rel, "mef.example/22", 14, &keid),
	    M2M_ERR_ATTRIBUTE_VALUE);
	assert_int_equal(m2m_ident_keid(rel, "mef example", 11, &keid),
	    M2M_ERR_ATTRIBUTE_VALUE);
	assert_int_equal(m2m_ident_keid(rel, "m\x1b[2J", 5, &keid),
	    M2M_ERR_ATTRIBUTE_VALUE);
	assert_int_equal(m2m_ident_keid(NULL, "mef", 3, &keid),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(m2m_ident_keid(rel, NULL, 3, &keid),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(m2m_ident_keid(rel, "mef", 3, NULL),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_ptr_equal(keid, SENTINEL_PTR);
}

static int
eq(const char *a, const char *b)
{
	return m2m_ident_equal((const uint8_t *)a, strlen(a),
	    (const uint8_t *)b, strlen(b));
}

static void
test_ident_equal(void **state)
{
	(void)state;
	assert_int_equal(eq("000102030405060708090a0b0c0d0e0f@mef.example.com",
	    "000102030405060708090A0B0C0D0E0F@MEF.Example.COM"), 1);
	assert_int_equal(eq("000102030405060708090a0b0c0d0e0f@mef.example.com",
	    "000102030405060708090a0b0c0d0e0f@mef.example.com"), 1);
	/* one hex digit differs */
	assert_int_equal(eq("000102030405060708090a0b0c0d0e0f@mef.example.com",
	    "000102030405060708090a0b0c0d0e0e@mef.example.com"), 0);
	/* the FQDN differs */
	assert_int_equal(eq("0001@mef.example.com", "0001@mef.example.org"),
	    0);
	/* a prefix is not equal */
	assert_int_equal(eq("0001@mef.example.com", "0001@mef.example.co"),
	    0);
	assert_int_equal(eq("0001@mef", "0001"), 0);
	/* the last '@' splits; its position must match */
	assert_int_equal(eq("a@b@C.example", "A@B@c.EXAMPLE"), 1);
	assert_int_equal(eq("ab@c", "a@bc"), 0);
	/* no '@' at all: the whole identifier, case-insensitively */
	assert_int_equal(eq("KpmId-1", "kpmid-1"), 1);
	/* only ASCII folds: U+00E9 and U+00C9 differ */
	assert_int_equal(eq("caf\xc3\xa9@x", "caf\xc3\x89@x"), 0);
	/* '@' (0x40) vs '`' (0x60) must not fold together */
	assert_int_equal(eq("a@b", "a`b"), 0);
	assert_int_equal(eq("", ""), 1);
	assert_int_equal(m2m_ident_equal(NULL, 3, (const uint8_t *)"abc", 3),
	    0);
}

static void
test_ident_fqdn(void **state)
{
	const uint8_t *id, *f;
	size_t len = SENTINEL_LEN;

	(void)state;
	id = (const uint8_t *)"000102@mef.example.com";
	f = m2m_ident_fqdn(id, 22, &len);
	assert_ptr_equal(f, id + 7);
	assert_int_equal(len, 15);

	id = (const uint8_t *)"a@b@c.example";
	f = m2m_ident_fqdn(id, 13, &len);
	assert_ptr_equal(f, id + 4);
	assert_int_equal(len, 9);

	/* only len bytes count: "a@b" */
	f = m2m_ident_fqdn(id, 3, &len);
	assert_ptr_equal(f, id + 2);
	assert_int_equal(len, 1);

	/* a Kuc's label: the FQDN ends at the '/' */
	id = (const uint8_t *)"000102@mef.example.com/22";
	f = m2m_ident_fqdn(id, 25, &len);
	assert_ptr_equal(f, id + 7);
	assert_int_equal(len, 15);

	len = SENTINEL_LEN;
	assert_null(m2m_ident_fqdn((const uint8_t *)"x@/22", 5, &len));
	assert_null(m2m_ident_fqdn((const uint8_t *)"noat", 4, &len));
	assert_null(m2m_ident_fqdn((const uint8_t *)"x@", 2, &len));
	assert_null(m2m_ident_fqdn(id, 4, &len));	/* "a@b@" */
	assert_null(m2m_ident_fqdn((const uint8_t *)"", 0, &len));
	assert_null(m2m_ident_fqdn(NULL, 4, &len));
	assert_int_equal(len, SENTINEL_LEN);
}

/* Expected values: date -u -d '<date>T<time>Z' +%s */
static void
ts_is(const char *s, int64_t want)
{
	int64_t t = 0x5a5a;

	assert_int_equal(m2m_ident_timestamp_parse((const uint8_t *)s,
	    strlen(s), &t), 0);
	assert_int_equal(t, want);
}

static void
ts_fails(const char *s, size_t len)
{
	int64_t t = 0x5a5a;

	assert_int_equal(m2m_ident_timestamp_parse((const uint8_t *)s, len,
	    &t), M2M_ERR_ATTRIBUTE_VALUE);
	assert_int_equal(t, 0x5a5a);
}

static void
test_timestamp(void **state)
{
	int64_t t = 0x5a5a;

	(void)state;
	ts_is("20271122T000000", 1826841600);
	ts_is("20271122T000000,123456", 1826841600);
	ts_is("20271122T000000,5", 1826841600);
	ts_is("19700101T000000", 0);
	ts_is("19691231T235959", -1);
	ts_is("20000229T123456", 951827696);
	ts_is("20240229T235959", 1709251199);
	ts_is("99991231T235959", 253402300799);

	ts_fails("20271322T000000", 15);	/* month 13 */
	ts_fails("20271100T000000", 15);	/* day 0 */
	ts_fails("20270230T000000", 15);	/* 30 February */
	ts_fails("20230229T000000", 15);	/* not a leap year */
	ts_fails("21000229T000000", 15);	/* century, not a leap year */
	ts_fails("20270431T000000", 15);	/* 31 April */
	ts_fails("20271122T240000", 15);
	ts_fails("20271122T006000", 15);
	ts_fails("20271122T000060", 15);
	ts_fails("2027-11-22", 10);
	ts_fails("2027-11-22T00:00:00", 19);
	ts_fails("20271122 000000", 15);
	ts_fails("20271122t000000", 15);
	ts_fails("2027112T000000", 14);
	ts_fails("20271122T000000Z", 16);	/* trailing garbage */
	ts_fails("20271122T0000000", 16);
	ts_fails("20271122T000000,", 16);
	ts_fails("20271122T000000.5", 17);
	ts_fails("20271122T000000,12a", 19);
	ts_fails("20271122T000000,1234567890", 26);
	ts_fails("20271122T000000\0", 16);
	ts_fails("+0271122T000000", 15);
	ts_fails("", 0);
	assert_int_equal(m2m_ident_timestamp_parse(NULL, 15, &t),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(m2m_ident_timestamp_parse(
	    (const uint8_t *)"20271122T000000", 15, NULL),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(t, 0x5a5a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nfkc_examples),
		cmocka_unit_test(test_nfkc_invalid_utf8),
		cmocka_unit_test(test_nfkc_nul_empty_long),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_keid_worked_example),
		cmocka_unit_test(test_keid_bad_fqdn),
		cmocka_unit_test(test_ident_equal),
		cmocka_unit_test(test_ident_fqdn),
		cmocka_unit_test(test_timestamp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
