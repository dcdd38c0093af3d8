/*
 * Unit tests for token/log.c: the threshold, "off" among the levels, and
 * that a line below the threshold (or any line when off) never reaches
 * stderr; the rate-limited lines (at most one a second per limit, the
 * next one counting those not logged).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "support_capture.h"

/* What the module wrote on stderr while fn ran at the given level. */
static size_t
captured(enum m2m_log_level threshold, enum m2m_log_level at, char *out,
    size_t outlen)
{
	FILE *tmp = tmpfile();
	int saved;
	size_t n;

	assert_non_null(tmp);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
	m2m_log_set_level(threshold);
	m2m_log(at, "a %s line", "test");
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	m2m_log_set_level(M2M_LOG_ERROR);
	rewind(tmp);
	n = fread(out, 1, outlen - 1, tmp);
	out[n] = '\0';
	fclose(tmp);
	return n;
}

static void
test_parse(void **state)
{
	enum m2m_log_level l = M2M_LOG_DEBUG;

	(void)state;
	assert_int_equal(m2m_log_parse_level("off", &l), 0);
	assert_int_equal(l, M2M_LOG_OFF);
	assert_int_equal(m2m_log_parse_level("error", &l), 0);
	assert_int_equal(l, M2M_LOG_ERROR);
	assert_int_equal(m2m_log_parse_level("debug", &l), 0);
	assert_int_equal(l, M2M_LOG_DEBUG);
	assert_int_equal(m2m_log_parse_level("none", &l), -1);
	assert_int_equal(m2m_log_parse_level("", &l), -1);
	assert_int_equal(m2m_log_parse_level(NULL, &l), -1);
}

static void
test_threshold(void **state)
{
	char out[256];

	(void)state;
	assert_true(captured(M2M_LOG_ERROR, M2M_LOG_ERROR, out,
	    sizeof(out)) > 0);
	assert_string_equal(out, "m2mtoken: error: a test line\n");
	assert_int_equal(captured(M2M_LOG_ERROR, M2M_LOG_INFO, out,
	    sizeof(out)), 0);
	assert_true(captured(M2M_LOG_INFO, M2M_LOG_INFO, out,
	    sizeof(out)) > 0);
	/* off: not even an error line */
	assert_int_equal(captured(M2M_LOG_OFF, M2M_LOG_ERROR, out,
	    sizeof(out)), 0);
	m2m_log_set_level(M2M_LOG_OFF);
	assert_int_equal(m2m_log_get_level(), M2M_LOG_OFF);
	m2m_log_set_level((enum m2m_log_level)9);	/* ignored */
	assert_int_equal(m2m_log_get_level(), M2M_LOG_OFF);
	m2m_log_set_level(M2M_LOG_ERROR);
}

static void
test_limited(void **state)
{
	struct m2m_log_limit l, other;
	char out[512];
	FILE *tmp;
	int saved;

	(void)state;
	memset(&l, 0, sizeof(l));
	memset(&other, 0, sizeof(other));
	m2m_log_set_level(M2M_LOG_ERROR);
	/* the first line goes out, the next two within the second do not */
	tmp = capture_start(&saved);
	m2m_log_limited(&l, M2M_LOG_ERROR, "full %d", 1);
	m2m_log_limited(&l, M2M_LOG_ERROR, "full %d", 2);
	m2m_log_limited(&l, M2M_LOG_ERROR, "full %d", 3);
	/* another limit is another reason: its line goes out */
	m2m_log_limited(&other, M2M_LOG_ERROR, "other");
	/* below the threshold: neither logged nor counted */
	m2m_log_limited(&l, M2M_LOG_INFO, "quiet");
	capture_end(tmp, saved, out, sizeof(out));
	assert_string_equal(out, "m2mtoken: error: full 1\n"
	    "m2mtoken: error: other\n");
	assert_int_equal(l.dropped, 2);
	/* a second later the next line says how many were not logged */
	l.last_ms -= 1000;
	tmp = capture_start(&saved);
	m2m_log_limited(&l, M2M_LOG_ERROR, "full %d", 4);
	m2m_log_limited(&l, M2M_LOG_ERROR, "full %d", 5);
	capture_end(tmp, saved, out, sizeof(out));
	assert_string_equal(out,
	    "m2mtoken: error: full 4 (2 more like it not logged)\n");
	assert_int_equal(l.dropped, 1);
	/* off: nothing, and nothing counted */
	m2m_log_set_level(M2M_LOG_OFF);
	l.last_ms -= 1000;
	tmp = capture_start(&saved);
	m2m_log_limited(&l, M2M_LOG_ERROR, "full %d", 6);
	m2m_log_limited(NULL, M2M_LOG_ERROR, "no limit");
	capture_end(tmp, saved, out, sizeof(out));
	assert_string_equal(out, "");
	assert_int_equal(l.dropped, 1);
	m2m_log_set_level(M2M_LOG_ERROR);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_threshold),
		cmocka_unit_test(test_limited),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
