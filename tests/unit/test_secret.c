/* Unit tests for token/secret.c: the locked, wiped secret type. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "secret.h"

#define SENTINEL_PTR	((struct m2m_secret *)(uintptr_t)0x5a5a5a5a)

static int
all_zero(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] != 0)
			return 0;
	}
	return 1;
}

static void
test_new(void **state)
{
	const size_t lens[] = { 1, 31, 4095, 4096, 4097, 100000 };
	struct m2m_secret *s = NULL;
	long ps = sysconf(_SC_PAGESIZE);
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		assert_int_equal(m2m_secret_new(lens[i], &s), 0);
		assert_non_null(s);
		assert_int_equal(m2m_secret_len(s), lens[i]);
		assert_true(all_zero(m2m_secret_data(s), lens[i]));
		/* page-aligned, so mlock/madvise cover only its own pages */
		assert_int_equal((uintptr_t)m2m_secret_data(s) %
		    (uintptr_t)(ps > 0 ? ps : 4096), 0);
		/* the whole length is writable (ASan/valgrind check this) */
		memset(m2m_secret_data(s), 0xa5, lens[i]);
		m2m_secret_free(s);
		s = NULL;
	}
}

static void
test_zero_length(void **state)
{
	struct m2m_secret *s = NULL;

	(void)state;
	assert_int_equal(m2m_secret_new(0, &s), 0);
	assert_non_null(s);
	assert_int_equal(m2m_secret_len(s), 0);
	assert_non_null(m2m_secret_data(s));
	m2m_secret_truncate(s, 0);
	assert_int_equal(m2m_secret_len(s), 0);
	m2m_secret_free(s);

	s = NULL;
	assert_int_equal(m2m_secret_from(NULL, 0, &s), 0);
	assert_non_null(s);
	assert_int_equal(m2m_secret_len(s), 0);
	m2m_secret_free(s);

	s = NULL;
	assert_int_equal(m2m_secret_from("abc", 0, &s), 0);
	assert_int_equal(m2m_secret_len(s), 0);
	m2m_secret_free(s);
}

static void
test_from(void **state)
{
	uint8_t src[300];
	struct m2m_secret *s = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(m2m_secret_from(src, sizeof(src), &s), 0);
	assert_int_equal(m2m_secret_len(s), sizeof(src));
	assert_memory_equal(m2m_secret_data(s), src, sizeof(src));
	/* a copy, not a reference */
	assert_ptr_not_equal(m2m_secret_data(s), src);
	src[0] ^= 0xff;
	assert_int_not_equal(m2m_secret_data(s)[0], src[0]);
	m2m_secret_free(s);
}

static void
test_bad_arguments(void **state)
{
	struct m2m_secret *s = SENTINEL_PTR;

	(void)state;
	assert_int_equal(m2m_secret_new(16, NULL), M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(m2m_secret_from(NULL, 1, &s),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_ptr_equal(s, SENTINEL_PTR);
	/* absurd sizes are refused before anything is allocated */
	assert_int_equal(m2m_secret_new(SIZE_MAX, &s),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(m2m_secret_new((64u << 20) + 1, &s),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_ptr_equal(s, SENTINEL_PTR);
	m2m_secret_free(NULL);
	m2m_secret_truncate(NULL, 0);
}

static void
test_truncate(void **state)
{
	uint8_t src[64];
	struct m2m_secret *s = NULL;
	uint8_t *d;

	(void)state;
	memset(src, 0xc3, sizeof(src));
	assert_int_equal(m2m_secret_from(src, sizeof(src), &s), 0);
	d = m2m_secret_data(s);

	m2m_secret_truncate(s, 20);
	assert_int_equal(m2m_secret_len(s), 20);
	assert_ptr_equal(m2m_secret_data(s), d);
	assert_memory_equal(d, src, 20);
	/* the cut tail is wiped (the allocation is a whole page) */
	assert_true(all_zero(d + 20, sizeof(src) - 20));

	/* growing is not truncating: nothing changes */
	m2m_secret_truncate(s, 40);
	assert_int_equal(m2m_secret_len(s), 20);
	m2m_secret_truncate(s, 20);
	assert_int_equal(m2m_secret_len(s), 20);
	assert_memory_equal(d, src, 20);

	m2m_secret_truncate(s, 0);
	assert_int_equal(m2m_secret_len(s), 0);
	assert_true(all_zero(d, sizeof(src)));
	m2m_secret_free(s);
}

/*
 * Freed memory cannot be read back without undefined behaviour, so the wipe
 * in m2m_secret_free() is checked indirectly: under valgrind and ASan this
 * test shows that free releases everything it allocated, and m2m_wipe() (the
 * same OPENSSL_cleanse) is checked directly.
 */
static void
test_free_and_wipe(void **state)
{
	uint8_t buf[48];
	struct m2m_secret *s = NULL;
	int i;

	(void)state;
	for (i = 0; i < 64; i++) {
		assert_int_equal(m2m_secret_new((size_t)i * 100, &s), 0);
		memset(m2m_secret_data(s), 0xee, (size_t)i * 100);
		m2m_secret_free(s);
	}
	memset(buf, 0x77, sizeof(buf));
	m2m_wipe(buf + 8, 32);
	assert_true(all_zero(buf + 8, 32));
	assert_int_equal(buf[7], 0x77);
	assert_int_equal(buf[40], 0x77);
	m2m_wipe(NULL, 0);
	m2m_wipe(NULL, 10);
	m2m_wipe(buf, 0);
	assert_int_equal(buf[0], 0x77);
}

/*
 * Pages kept for reuse come back zeroed, also after a secret wrote its
 * whole page, and many secrets alive at once (more than are kept) are all
 * distinct and zeroed.
 */
static void
test_reuse_zeroed(void **state)
{
	struct m2m_secret *s[80];
	size_t ps = (size_t)sysconf(_SC_PAGESIZE), i, j;

	(void)state;
	for (i = 0; i < 80; i++) {
		assert_int_equal(m2m_secret_new(32, &s[i]), 0);
		assert_true(all_zero(m2m_secret_data(s[i]), ps));
		memset(m2m_secret_data(s[i]), 0xa5, ps);
		for (j = 0; j < i; j++)
			assert_ptr_not_equal(m2m_secret_data(s[i]),
			    m2m_secret_data(s[j]));
	}
	for (i = 0; i < 80; i++)
		m2m_secret_free(s[i]);
	for (i = 0; i < 80; i++) {
		assert_int_equal(m2m_secret_new(i % 2 ? 48 : ps, &s[i]), 0);
		assert_true(all_zero(m2m_secret_data(s[i]), ps));
	}
	for (i = 0; i < 80; i++)
		m2m_secret_free(s[i]);
}

static void
test_ct_equal(void **state)
{
	uint8_t a[33], b[33];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(a); i++)
		a[i] = b[i] = (uint8_t)(0x30 + i);
	assert_int_equal(m2m_ct_equal(a, b, sizeof(a)), 1);
	assert_int_equal(m2m_ct_equal(a, b, 0), 1);
	for (i = 0; i < sizeof(a); i++) {
		b[i] ^= 0x01;
		assert_int_equal(m2m_ct_equal(a, b, sizeof(a)), 0);
		/* only the first len bytes count */
		assert_int_equal(m2m_ct_equal(a, b, i), 1);
		b[i] ^= 0x01;
		b[i] ^= 0x80;
		assert_int_equal(m2m_ct_equal(a, b, sizeof(a)), 0);
		b[i] ^= 0x80;
	}
	assert_int_equal(m2m_ct_equal(a, b, sizeof(a)), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new),
		cmocka_unit_test(test_zero_length),
		cmocka_unit_test(test_from),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_truncate),
		cmocka_unit_test(test_free_and_wipe),
		cmocka_unit_test(test_reuse_zeroed),
		cmocka_unit_test(test_ct_equal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
