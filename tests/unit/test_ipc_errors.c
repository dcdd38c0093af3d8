/*
 * Unit tests for daemon/common/errors.c: the one table from M2M_IPC_ERR_*
 * and CK_RV to io.m2mtoken.* names, and its documentation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "errors.h"
#include "ipc.h"

/* Each (kind, value) once; every name well-formed. */
static void
test_rows_unique(void **state)
{
	const struct m2m_ipc_errdef *t;
	size_t n, i, j;

	(void)state;
	t = m2m_ipc_error_table(&n);
	assert_true(n > 0);
	for (i = 0; i < n; i++) {
		assert_true(t[i].kind == M2M_IPC_ERRK_IPC ||
		    t[i].kind == M2M_IPC_ERRK_CKR);
		if (!m2m_ipc_name_valid(t[i].name))
			fail_msg("row %zu: bad name %s", i, t[i].name);
		if (t[i].kind == M2M_IPC_ERRK_CKR)
			assert_true(t[i].value != CKR_OK);
		else
			assert_true((int)t[i].value < 0 &&
			    (int)t[i].value > M2M_IPC_ERR_LAST);
		for (j = i + 1; j < n; j++)
			if (t[i].kind == t[j].kind &&
			    t[i].value == t[j].value)
				fail_msg("rows %zu and %zu: same code", i, j);
	}
}

/* Each code has its own description. */
static void
test_strerror_distinct(void **state)
{
	int a, b;

	(void)state;
	for (a = M2M_IPC_OK; a > M2M_IPC_ERR_LAST; a--) {
		assert_string_not_equal(m2m_ipc_strerror(a),
		    "unknown error");
		for (b = a - 1; b > M2M_IPC_ERR_LAST; b--)
			assert_string_not_equal(m2m_ipc_strerror(a),
			    m2m_ipc_strerror(b));
	}
	assert_string_equal(m2m_ipc_strerror(M2M_IPC_ERR_LAST),
	    "unknown error");
	assert_string_equal(m2m_ipc_strerror(1), "unknown error");
}

/* The names the flows rely on. */
static void
test_known_names(void **state)
{
	(void)state;
	assert_string_equal(m2m_ipc_error_from_rv(CKR_PIN_INCORRECT),
	    "io.m2mtoken.PinIncorrect");
	assert_string_equal(m2m_ipc_error_from_rv(CKR_PIN_LOCKED),
	    "io.m2mtoken.PinLocked");
	assert_string_equal(m2m_ipc_error_from_rv(CKR_KEY_HANDLE_INVALID),
	    "io.m2mtoken.NoSuchKey");
	assert_string_equal(m2m_ipc_error_from_rv(CKR_OBJECT_HANDLE_INVALID),
	    "io.m2mtoken.NoSuchKey");
	assert_string_equal(m2m_ipc_error_from_rv(
	    CKR_KEY_FUNCTION_NOT_PERMITTED), "io.m2mtoken.KeyNotPermitted");
	assert_string_equal(m2m_ipc_error_from_rv(CKR_SIGNATURE_INVALID),
	    "io.m2mtoken.VerificationFailed");
	assert_string_equal(m2m_ipc_error_from_rv(CKR_TOKEN_NOT_PRESENT),
	    "io.m2mtoken.TokenUnavailable");
	assert_string_equal(m2m_ipc_error_from_rv(CKR_USER_NOT_LOGGED_IN),
	    "io.m2mtoken.TokenLocked");
	/* not an error, or not in the table */
	assert_string_equal(m2m_ipc_error_from_rv(CKR_OK),
	    M2M_IPC_ERROR_INTERNAL);
	assert_string_equal(m2m_ipc_error_from_rv(CKR_SESSION_HANDLE_INVALID),
	    M2M_IPC_ERROR_INTERNAL);
	assert_string_equal(m2m_ipc_error_from_rv(CKR_VENDOR_DEFINED | 7),
	    M2M_IPC_ERROR_INTERNAL);

	assert_string_equal(m2m_ipc_error_name(M2M_IPC_ERR_FRAME_TOO_LARGE),
	    "io.m2mtoken.FrameTooLarge");
	assert_string_equal(m2m_ipc_error_name(M2M_IPC_ERR_TOO_DEEP),
	    "io.m2mtoken.InvalidFrame");
	assert_string_equal(m2m_ipc_error_name(M2M_IPC_ERR_TRUNCATED),
	    "io.m2mtoken.InvalidFrame");
	assert_string_equal(m2m_ipc_error_name(
	    M2M_IPC_ERR_METHOD_NOT_FOUND), "io.m2mtoken.MethodNotFound");
	assert_string_equal(m2m_ipc_error_name(
	    M2M_IPC_ERR_INVALID_PARAMETER), "io.m2mtoken.InvalidParameter");
	assert_string_equal(m2m_ipc_error_name(
	    M2M_IPC_ERR_PERMISSION_DENIED), "io.m2mtoken.PermissionDenied");
	assert_string_equal(m2m_ipc_error_name(M2M_IPC_ERR_NO_MEMORY),
	    "io.m2mtoken.OutOfMemory");
	assert_string_equal(m2m_ipc_error_name(M2M_IPC_OK),
	    M2M_IPC_ERROR_INTERNAL);
	assert_string_equal(m2m_ipc_error_name(M2M_IPC_ERR_EOF),
	    M2M_IPC_ERROR_INTERNAL);
	assert_string_equal(m2m_ipc_error_name(-1000),
	    M2M_IPC_ERROR_INTERNAL);
}

/* Every frame error the reader can give has a protocol name of its own. */
static void
test_frame_errors_named(void **state)
{
	static const int codes[] = {
		M2M_IPC_ERR_TRUNCATED, M2M_IPC_ERR_FRAME_TOO_LARGE,
		M2M_IPC_ERR_INVALID_JSON, M2M_IPC_ERR_INVALID_UTF8,
		M2M_IPC_ERR_TOO_DEEP, M2M_IPC_ERR_NOT_OBJECT,
		M2M_IPC_ERR_NO_METHOD, M2M_IPC_ERR_METHOD_TYPE,
		M2M_IPC_ERR_METHOD_NAME, M2M_IPC_ERR_UNKNOWN_MEMBER,
		M2M_IPC_ERR_PARAMETERS_TYPE, M2M_IPC_ERR_ERROR_NAME,
		M2M_IPC_ERR_NUL_ESCAPE, M2M_IPC_ERR_DUPLICATE_MEMBER,
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		assert_string_not_equal(m2m_ipc_error_name(codes[i]),
		    M2M_IPC_ERROR_INTERNAL);
}

/* docs/protocol.md names every row: its name and its source code. */
static void
test_documented(void **state)
{
	const struct m2m_ipc_errdef *t;
	const char *src = getenv("M2M_SRC");
	char path[4096], *doc;
	size_t n, i, len;
	FILE *f;

	(void)state;
	assert_non_null(src);
	snprintf(path, sizeof(path), "%s/docs/protocol.md", src);
	assert_non_null(f = fopen(path, "r"));
	assert_non_null(doc = calloc(1, 1024 * 1024));
	len = fread(doc, 1, 1024 * 1024 - 1, f);
	fclose(f);
	assert_true(len > 0);
	assert_non_null(strstr(doc, M2M_IPC_ERROR_INTERNAL));
	t = m2m_ipc_error_table(&n);
	for (i = 0; i < n; i++) {
		if (strstr(doc, t[i].name) == NULL)
			fail_msg("docs/protocol.md lacks %s", t[i].name);
		if (strstr(doc, t[i].code) == NULL)
			fail_msg("docs/protocol.md lacks %s", t[i].code);
	}
	free(doc);
}

/* m2m_ckr_name: every CK_RV of the error table by its own C name. */
static void
test_ckr_names(void **state)
{
	const struct m2m_ipc_errdef *t;
	char buf[32];
	size_t i, n;

	(void)state;
	t = m2m_ipc_error_table(&n);
	for (i = 0; i < n; i++)
		if (t[i].kind == M2M_IPC_ERRK_CKR)
			assert_string_equal(m2m_ckr_name(t[i].value, buf,
			    sizeof(buf)), t[i].code);
	assert_string_equal(m2m_ckr_name(CKR_OK, buf, sizeof(buf)), "CKR_OK");
	assert_string_equal(m2m_ckr_name(CKR_SIGNATURE_INVALID, buf,
	    sizeof(buf)), "CKR_SIGNATURE_INVALID");
	assert_string_equal(m2m_ckr_name(CKR_VENDOR_DEFINED | 7, buf,
	    sizeof(buf)), "CKR_0x80000007");
	assert_string_equal(buf, "CKR_0x80000007");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows_unique),
		cmocka_unit_test(test_strerror_distinct),
		cmocka_unit_test(test_known_names),
		cmocka_unit_test(test_frame_errors_named),
		cmocka_unit_test(test_documented),
		cmocka_unit_test(test_ckr_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
