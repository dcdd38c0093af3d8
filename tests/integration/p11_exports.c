/*
 * p11_exports: the module's exported C_* symbols and its function lists
 * are one implementation (pkcs11/exports.c calls through the bound list
 * of pkcs11/funclist.c): every v2.40 and v3.0 name is exported; calls
 * through the symbols and through the lists mix in one session; an HMAC
 * made through C_Sign's symbol equals the one made through the list; the
 * symbols give the lists' errors (not initialised, bad handle).
 */
#include "p11client.h"

#define TOKEN	"exports"

static const char *const names[] = {
	"C_Initialize", "C_Finalize", "C_GetInfo", "C_GetFunctionList",
	"C_GetSlotList", "C_GetSlotInfo", "C_GetTokenInfo",
	"C_GetMechanismList", "C_GetMechanismInfo", "C_InitToken",
	"C_InitPIN", "C_SetPIN", "C_OpenSession", "C_CloseSession",
	"C_CloseAllSessions", "C_GetSessionInfo", "C_GetOperationState",
	"C_SetOperationState", "C_Login", "C_Logout", "C_CreateObject",
	"C_CopyObject", "C_DestroyObject", "C_GetObjectSize",
	"C_GetAttributeValue", "C_SetAttributeValue", "C_FindObjectsInit",
	"C_FindObjects", "C_FindObjectsFinal", "C_EncryptInit", "C_Encrypt",
	"C_EncryptUpdate", "C_EncryptFinal", "C_DecryptInit", "C_Decrypt",
	"C_DecryptUpdate", "C_DecryptFinal", "C_DigestInit", "C_Digest",
	"C_DigestUpdate", "C_DigestKey", "C_DigestFinal", "C_SignInit",
	"C_Sign", "C_SignUpdate", "C_SignFinal", "C_SignRecoverInit",
	"C_SignRecover", "C_VerifyInit", "C_Verify", "C_VerifyUpdate",
	"C_VerifyFinal", "C_VerifyRecoverInit", "C_VerifyRecover",
	"C_DigestEncryptUpdate", "C_DecryptDigestUpdate",
	"C_SignEncryptUpdate", "C_DecryptVerifyUpdate", "C_GenerateKey",
	"C_GenerateKeyPair", "C_WrapKey", "C_UnwrapKey", "C_DeriveKey",
	"C_SeedRandom", "C_GenerateRandom", "C_GetFunctionStatus",
	"C_CancelFunction", "C_WaitForSlotEvent",
	"C_GetInterfaceList", "C_GetInterface", "C_LoginUser",
	"C_SessionCancel"
};

static void *
sym(const char *name)
{
	void *p = dlsym(p11c_dl, name);

	if (p == NULL)
		p11c_bail("%s is not exported", name);
	return p;
}

static void
test_all_exported(void)
{
	size_t i, missing = 0;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (dlsym(p11c_dl, names[i]) == NULL) {
			p11c_check(0, "%s is exported", names[i]);
			missing++;
		}
	p11c_check(missing == 0, "all %zu PKCS#11 names are exported",
	    sizeof(names) / sizeof(names[0]));
}

static void
test_not_initialized(void)
{
	CK_C_GetInfo get_info;
	CK_C_Sign sign;
	CK_INFO info;
	CK_ULONG n = 0;

	*(void **)&get_info = sym("C_GetInfo");
	*(void **)&sign = sym("C_Sign");
	p11c_check_rv(get_info(&info), CKR_CRYPTOKI_NOT_INITIALIZED,
	    "exported C_GetInfo before C_Initialize");
	p11c_check_rv(sign(1, NULL, 0, NULL, &n),
	    CKR_CRYPTOKI_NOT_INITIALIZED, "exported C_Sign before C_Initialize");
}

static void
test_hmac_both_ways(void)
{
	static const uint8_t key[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
	static const uint8_t msg[] = "one implementation, two doors";
	CK_MECHANISM mech = { CKM_SHA256_HMAC, NULL, 0 };
	CK_C_SignInit sign_init;
	CK_C_Sign sign;
	CK_C_GetSessionInfo get_session_info;
	CK_SESSION_INFO si;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE k;
	uint8_t a[32], b[32];
	CK_ULONG al = sizeof(a), bl = sizeof(b);

	*(void **)&sign_init = sym("C_SignInit");
	*(void **)&sign = sym("C_Sign");
	*(void **)&get_session_info = sym("C_GetSessionInfo");
	s = p11c_setup(TOKEN, NULL);
	P11C_MUST(p11c_import(s, 0, "exports-key", key, sizeof(key), &k));
	p11c_check_rv(get_session_info(s, &si), CKR_OK,
	    "exported C_GetSessionInfo on a session the list opened");
	p11c_check(si.state == CKS_RW_USER_FUNCTIONS,
	    "the symbol sees the list's login (state %lu)", si.state);
	/* init through the symbol, finish through the list, and back */
	p11c_check_rv(sign_init(s, &mech, k), CKR_OK, "exported C_SignInit");
	p11c_check_rv(F->C_Sign(s, (CK_BYTE_PTR)msg, sizeof(msg), a, &al),
	    CKR_OK, "the list's C_Sign ends it");
	p11c_check_rv(F->C_SignInit(s, &mech, k), CKR_OK,
	    "the list's C_SignInit");
	p11c_check_rv(sign(s, (CK_BYTE_PTR)msg, sizeof(msg), b, &bl), CKR_OK,
	    "exported C_Sign ends it");
	p11c_check(al == 32 && bl == 32 && memcmp(a, b, 32) == 0,
	    "the same MAC both ways");
	p11c_check_rv(sign(s, (CK_BYTE_PTR)msg, sizeof(msg), b, &bl),
	    CKR_OPERATION_NOT_INITIALIZED,
	    "exported C_Sign with no operation");
	p11c_check_rv(sign_init(s + 1000, &mech, k),
	    CKR_SESSION_HANDLE_INVALID, "exported C_SignInit, bad session");
}

int
main(int argc, char **argv)
{
	CK_C_Finalize finalize;

	p11c_load(argc, argv);
	test_all_exported();
	test_not_initialized();
	test_hmac_both_ways();
	*(void **)&finalize = sym("C_Finalize");
	p11c_check_rv(finalize(NULL), CKR_OK, "exported C_Finalize");
	p11c_check_rv(F->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED,
	    "the list's C_Finalize after the symbol's");
	return p11c_finish();
}
