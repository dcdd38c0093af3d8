/*
 * Unit tests of daemon/mef/log.c: mef_log_quote writes every byte a
 * terminal could take as a control (C0, DEL, C1 such as CSI 0x9b, and
 * every other byte >= 0x80), a quote or a backslash as \xHH;
 * mef_log_decision_limited writes one line a second per limit, and the
 * next says how many it did not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../unit/support_capture.h"
#include "log.h"

static void
quoted(const char *s, const char *want)
{
	char out[1024];

	mef_log_quote(out, sizeof(out), s);
	assert_string_equal(out, want);
}

static void
test_quote_plain(void **state)
{
	(void)state;
	quoted("kpm-dev1", "\"kpm-dev1\"");
	quoted(NULL, "\"-\"");
	quoted("", "\"\"");
	quoted("a b~", "\"a b~\"");
}

static void
test_quote_c0(void **state)
{
	(void)state;
	quoted("a\nb\x1b[31m\x7f", "\"a\\x0ab\\x1b[31m\\x7f\"");
	quoted("\"\\", "\"\\x22\\x5c\"");
}

/* C1 controls, alone or UTF-8 encoded (U+009B is c2 9b), and the rest */
static void
test_quote_high(void **state)
{
	char out[1024];
	size_t i;

	(void)state;
	quoted("a\xc2\x9b" "b", "\"a\\xc2\\x9bb\"");
	quoted("a\x9b" "b", "\"a\\x9bb\"");
	quoted("evil\xc2\x9b" "31m", "\"evil\\xc2\\x9b31m\"");
	quoted("\x80\xff", "\"\\x80\\xff\"");
	/* no byte >= 0x80 and no control is left for any input byte */
	for (i = 1; i < 256; i++) {
		char s[2] = { (char)i, '\0' };
		const char *p;

		mef_log_quote(out, sizeof(out), s);
		for (p = out; *p != '\0'; p++)
			assert_true((unsigned char)*p >= 0x20 &&
			    (unsigned char)*p < 0x7f);
	}
}

/* the cap holds: the quote is closed and the string ended */
static void
test_quote_cap(void **state)
{
	char out[12], big[600];

	(void)state;
	memset(big, 0x9b, sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	mef_log_quote(out, sizeof(out), big);
	assert_string_equal(out, "\"\\x9b\\x9b\"");
	mef_log_quote(out, 2, "x");
	assert_string_equal(out, "");
}

static void
test_limited(void **state)
{
	struct mef_log_limit l, other;
	char out[1024];
	FILE *tmp;
	int saved;

	(void)state;
	memset(&l, 0, sizeof(l));
	memset(&other, 0, sizeof(other));
	/* the first line goes out, the next two within the second do not */
	tmp = capture_start(&saved);
	mef_log_decision_limited(&l, "handshake", "a", "p:1", "refused",
	    "bad record mac", NULL);
	mef_log_decision_limited(&l, "handshake", "b", "p:2", "refused",
	    "bad record mac", NULL);
	mef_log_decision_limited(&l, "handshake", "c", "p:3", "refused",
	    "bad record mac", NULL);
	/* another limit is another reason: its line goes out */
	mef_log_decision_limited(&other, "handshake", "d", "p:4", "refused",
	    "unrecognized name", NULL);
	capture_end(tmp, saved, out, sizeof(out));
	assert_string_equal(out, "m2m-mef: event=handshake who=\"a\" "
	    "peer=\"p:1\" outcome=refused reason=\"bad record mac\"\n"
	    "m2m-mef: event=handshake who=\"d\" peer=\"p:4\" "
	    "outcome=refused reason=\"unrecognized name\"\n");
	assert_int_equal(l.rate.dropped, 2);
	/* a second later the next line says how many were not logged */
	l.rate.last_ms -= 1000;
	tmp = capture_start(&saved);
	mef_log_decision_limited(&l, "handshake", "e", "p:5", "refused",
	    "bad record mac", NULL);
	mef_log_decision_limited(&l, "handshake", "f", "p:6", "refused",
	    "bad record mac", NULL);
	capture_end(tmp, saved, out, sizeof(out));
	assert_string_equal(out, "m2m-mef: event=handshake who=\"e\" "
	    "peer=\"p:5\" outcome=refused reason=\"bad record mac\" "
	    "(2 more like it not logged)\n");
	assert_int_equal(l.rate.dropped, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quote_plain),
		cmocka_unit_test(test_quote_c0),
		cmocka_unit_test(test_quote_high),
		cmocka_unit_test(test_quote_cap),
		cmocka_unit_test(test_limited),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
