/*
 * Unit tests for token/backend.c and token/err.c's helpers: the limits
 * every backend applies (key lengths, AES-GCM lengths) and the one
 * error-buffer helper.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "backend.h"
#include "err.h"

static void
test_key_len(void **state)
{
	size_t len;

	(void)state;
	for (len = 0; len <= M2M_KEY_MAX + 1; len++) {
		assert_int_equal(m2m_backend_key_len_ok(M2M_KIND_HMAC, len),
		    len >= 1 && len <= M2M_KEY_MAX);
		assert_int_equal(m2m_backend_key_len_ok(M2M_KIND_AES, len),
		    len == 16 || len == 24 || len == 32);
		assert_int_equal(m2m_backend_key_len_ok((enum m2m_key_kind)7,
		    len), 0);
	}
}

static void
test_gcm(void **state)
{
	(void)state;
	assert_int_equal(m2m_backend_gcm_check(12, 16), 0);
	assert_int_equal(m2m_backend_gcm_check(1, M2M_GCM_TAG_MIN), 0);
	assert_int_equal(m2m_backend_gcm_check(M2M_GCM_IV_MAX,
	    M2M_GCM_TAG_MAX), 0);
	assert_int_equal(m2m_backend_gcm_check(0, 16),
	    M2M_ERR_MECHANISM_PARAM);
	assert_int_equal(m2m_backend_gcm_check(M2M_GCM_IV_MAX + 1, 16),
	    M2M_ERR_MECHANISM_PARAM);
	assert_int_equal(m2m_backend_gcm_check(12, M2M_GCM_TAG_MIN - 1),
	    M2M_ERR_MECHANISM_PARAM);
	assert_int_equal(m2m_backend_gcm_check(12, M2M_GCM_TAG_MAX + 1),
	    M2M_ERR_MECHANISM_PARAM);
}

static void
test_errbuf(void **state)
{
	char buf[8];

	(void)state;
	memset(buf, 'x', sizeof(buf));
	m2m_errbuf_set(buf, sizeof(buf), "%s %d", "abc", 42);
	assert_string_equal(buf, "abc 42");
	m2m_errbuf_set(buf, sizeof(buf), "%s", "a longer message");
	assert_string_equal(buf, "a longe");	/* cut, NUL-terminated */
	memset(buf, 'x', sizeof(buf));
	m2m_errbuf_set(buf, 0, "%s", "nothing");
	assert_int_equal(buf[0], 'x');
	m2m_errbuf_set(NULL, 16, "%s", "nothing");	/* no crash */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_len),
		cmocka_unit_test(test_gcm),
		cmocka_unit_test(test_errbuf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
