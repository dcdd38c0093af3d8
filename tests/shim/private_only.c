/*
 * Test PKCS#11 module: a shim over a real one ($M2M_SHIM_TARGET, SoftHSM2
 * in the tests) that behaves as an HSM whose policy refuses public secret
 * keys: C_UnwrapKey, C_CreateObject and C_GenerateKey answer
 * CKR_TEMPLATE_INCONSISTENT to a template with CKA_PRIVATE FALSE; every
 * other call goes to the real module unchanged.  For hsm/'s fallback to
 * private working keys (test_hsm_backend.c, test_private_only_hsm).  It
 * can also fail the next n C_GenerateKey calls with CKR_GENERAL_ERROR, as
 * SoftHSM2 does now and then when two threads write a fresh token
 * (m2m_shim_fail_generate; test_wrapkey_setup_retried).
 */
#include <dlfcn.h>
#include <stdlib.h>

#include <m2mtoken/pkcs11-m2m.h>

static CK_FUNCTION_LIST	 shim;
static CK_FUNCTION_LIST_PTR real;
static void		*real_dl;
static unsigned long	 refused;
static unsigned long	 fail_generate;	/* calls still to fail */

/* 1 if tmpl asks for a public object. */
static int
asks_public(CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
	CK_ULONG i;

	for (i = 0; i < n; i++)
		if (tmpl[i].type == CKA_PRIVATE &&
		    tmpl[i].ulValueLen == sizeof(CK_BBOOL) &&
		    tmpl[i].pValue != NULL &&
		    *(CK_BBOOL *)tmpl[i].pValue == CK_FALSE)
			return 1;
	return 0;
}

static CK_RV
shim_unwrap(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k,
    CK_BYTE_PTR w, CK_ULONG wl, CK_ATTRIBUTE_PTR t, CK_ULONG n,
    CK_OBJECT_HANDLE_PTR ret)
{
	if (asks_public(t, n)) {
		refused++;
		return CKR_TEMPLATE_INCONSISTENT;
	}
	return real->C_UnwrapKey(s, m, k, w, wl, t, n, ret);
}

static CK_RV
shim_create(CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t, CK_ULONG n,
    CK_OBJECT_HANDLE_PTR ret)
{
	if (asks_public(t, n)) {
		refused++;
		return CKR_TEMPLATE_INCONSISTENT;
	}
	return real->C_CreateObject(s, t, n, ret);
}

static CK_RV
shim_generate(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR t,
    CK_ULONG n, CK_OBJECT_HANDLE_PTR ret)
{
	if (fail_generate > 0) {
		fail_generate--;
		return CKR_GENERAL_ERROR;
	}
	if (asks_public(t, n)) {
		refused++;
		return CKR_TEMPLATE_INCONSISTENT;
	}
	return real->C_GenerateKey(s, m, t, n, ret);
}

/*
 * The real module is unloaded with the last C_Finalize, so that no state of
 * it outlives the test that used the shim.
 */
static CK_RV
shim_finalize(CK_VOID_PTR args)
{
	CK_RV rv = real->C_Finalize(args);

	if (rv == CKR_OK) {
		real = NULL;
		(void)dlclose(real_dl);
		real_dl = NULL;
	}
	return rv;
}

#define EXPORT	__attribute__((visibility("default")))

/* How many templates were refused (the test reads it with dlsym). */
EXPORT unsigned long
m2m_shim_refused(void)
{
	return refused;
}

/* Fail the next n C_GenerateKey calls with CKR_GENERAL_ERROR. */
EXPORT void
m2m_shim_fail_generate(unsigned long n)
{
	fail_generate = n;
}

EXPORT CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ret)
{
	CK_C_GetFunctionList gfl;
	const char *path = getenv("M2M_SHIM_TARGET");

	if (ret == NULL)
		return CKR_ARGUMENTS_BAD;
	if (real == NULL) {
		if (path == NULL || (real_dl == NULL &&
		    (real_dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL))
			return CKR_GENERAL_ERROR;
		*(void **)&gfl = dlsym(real_dl, "C_GetFunctionList");
		if (gfl == NULL || gfl(&real) != CKR_OK) {
			real = NULL;
			return CKR_GENERAL_ERROR;
		}
		shim = *real;
		shim.C_GetFunctionList = C_GetFunctionList;
		shim.C_Finalize = shim_finalize;
		shim.C_UnwrapKey = shim_unwrap;
		shim.C_CreateObject = shim_create;
		shim.C_GenerateKey = shim_generate;
	}
	*ret = &shim;
	return CKR_OK;
}
