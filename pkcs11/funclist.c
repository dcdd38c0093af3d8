/*
 * m2mtoken: the v2.40 and v3.0 function lists, C_GetFunctionList,
 * C_GetInterfaceList and C_GetInterface, and the v3.0 message functions
 * this token does not offer.
 */
#include <string.h>

#include "p11.h"

#define EXPORT	__attribute__((visibility("default")))

#define NOT_SUPPORTED_MSG(name, args) \
	static CK_RV name args { return CKR_FUNCTION_NOT_SUPPORTED; }

static CK_RV
msg_init(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
	(void)h; (void)m; (void)k;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV
msg_crypt(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR a,
    CK_ULONG al, CK_BYTE_PTR i, CK_ULONG il, CK_BYTE_PTR o, CK_ULONG_PTR ol)
{
	(void)h; (void)p; (void)pl; (void)a; (void)al; (void)i; (void)il;
	(void)o; (void)ol;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV
msg_begin(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR a,
    CK_ULONG al)
{
	(void)h; (void)p; (void)pl; (void)a; (void)al;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV
msg_next(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR i,
    CK_ULONG il, CK_BYTE_PTR o, CK_ULONG_PTR ol, CK_FLAGS f)
{
	(void)h; (void)p; (void)pl; (void)i; (void)il; (void)o; (void)ol;
	(void)f;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV
msg_final(CK_SESSION_HANDLE h)
{
	(void)h;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV
msg_sign(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR d,
    CK_ULONG dl, CK_BYTE_PTR s, CK_ULONG_PTR sl)
{
	(void)h; (void)p; (void)pl; (void)d; (void)dl; (void)s; (void)sl;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV
msg_sign_begin(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pl)
{
	(void)h; (void)p; (void)pl;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV
msg_verify(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR d,
    CK_ULONG dl, CK_BYTE_PTR s, CK_ULONG sl)
{
	(void)h; (void)p; (void)pl; (void)d; (void)dl; (void)s; (void)sl;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

#define V240_FUNCTIONS \
	C_Initialize, C_Finalize, C_GetInfo, C_GetFunctionList,		\
	C_GetSlotList, C_GetSlotInfo, C_GetTokenInfo, C_GetMechanismList,\
	C_GetMechanismInfo, C_InitToken, C_InitPIN, C_SetPIN,		\
	C_OpenSession, C_CloseSession, C_CloseAllSessions,		\
	C_GetSessionInfo, C_GetOperationState, C_SetOperationState,	\
	C_Login, C_Logout, C_CreateObject, C_CopyObject,		\
	C_DestroyObject, C_GetObjectSize, C_GetAttributeValue,		\
	C_SetAttributeValue, C_FindObjectsInit, C_FindObjects,		\
	C_FindObjectsFinal, C_EncryptInit, C_Encrypt, C_EncryptUpdate,	\
	C_EncryptFinal, C_DecryptInit, C_Decrypt, C_DecryptUpdate,	\
	C_DecryptFinal, C_DigestInit, C_Digest, C_DigestUpdate,		\
	C_DigestKey, C_DigestFinal, C_SignInit, C_Sign, C_SignUpdate,	\
	C_SignFinal, C_SignRecoverInit, C_SignRecover, C_VerifyInit,	\
	C_Verify, C_VerifyUpdate, C_VerifyFinal, C_VerifyRecoverInit,	\
	C_VerifyRecover, C_DigestEncryptUpdate, C_DecryptDigestUpdate,	\
	C_SignEncryptUpdate, C_DecryptVerifyUpdate, C_GenerateKey,	\
	C_GenerateKeyPair, C_WrapKey, C_UnwrapKey, C_DeriveKey,		\
	C_SeedRandom, C_GenerateRandom, C_GetFunctionStatus,		\
	C_CancelFunction, C_WaitForSlotEvent

CK_RV C_GetInterfaceList(CK_INTERFACE_PTR, CK_ULONG_PTR);
CK_RV C_GetInterface(CK_UTF8CHAR_PTR, CK_VERSION_PTR, CK_INTERFACE_PTR_PTR,
    CK_FLAGS);
CK_RV C_LoginUser(CK_SESSION_HANDLE, CK_USER_TYPE, CK_UTF8CHAR_PTR, CK_ULONG,
    CK_UTF8CHAR_PTR, CK_ULONG);
CK_RV C_SessionCancel(CK_SESSION_HANDLE, CK_FLAGS);

/*
 * const: the lists and the interface table live in read-only memory (with
 * -z relro -z now), so no code in the process can redirect an entry point.
 * PKCS#11 hands them out through non-const pointers; a caller writing
 * through one faults instead of hooking every other caller's calls.
 */
static const CK_FUNCTION_LIST functions_240 = {
	{ 2, 40 },
	V240_FUNCTIONS
};

static const CK_FUNCTION_LIST_3_0 functions_300 = {
	{ 3, 0 },
	V240_FUNCTIONS,
	C_GetInterfaceList, C_GetInterface, C_LoginUser, C_SessionCancel,
	msg_init, msg_crypt, msg_begin, msg_next, msg_final,
	msg_init, msg_crypt, msg_begin, msg_next, msg_final,
	msg_init, msg_sign, msg_sign_begin, msg_sign, msg_final,
	msg_init, msg_verify, msg_sign_begin, msg_verify, msg_final
};

static const CK_INTERFACE interfaces[] = {
	{ (CK_CHAR_PTR)"PKCS 11", (CK_VOID_PTR)&functions_300, 0 },
	{ (CK_CHAR_PTR)"PKCS 11", (CK_VOID_PTR)&functions_240, 0 }
};
#define NINTERFACES (sizeof(interfaces) / sizeof(interfaces[0]))

EXPORT CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
	if (ppFunctionList == NULL)
		return CKR_ARGUMENTS_BAD;
	*ppFunctionList = (CK_FUNCTION_LIST_PTR)&functions_240;
	return CKR_OK;
}

EXPORT CK_RV
C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount)
{
	size_t i;

	if (pulCount == NULL)
		return CKR_ARGUMENTS_BAD;
	if (pInterfacesList == NULL) {
		*pulCount = NINTERFACES;
		return CKR_OK;
	}
	if (*pulCount < NINTERFACES) {
		*pulCount = NINTERFACES;
		return CKR_BUFFER_TOO_SMALL;
	}
	for (i = 0; i < NINTERFACES; i++)
		pInterfacesList[i] = interfaces[i];
	*pulCount = NINTERFACES;
	return CKR_OK;
}

EXPORT CK_RV
C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
    CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags)
{
	size_t i;

	if (ppInterface == NULL)
		return CKR_ARGUMENTS_BAD;
	for (i = 0; i < NINTERFACES; i++) {
		const CK_VERSION *v = interfaces[i].pFunctionList;

		if (pInterfaceName != NULL &&
		    strcmp((const char *)pInterfaceName,
		    (const char *)interfaces[i].pInterfaceName) != 0)
			continue;
		if (pVersion != NULL && (pVersion->major != v->major ||
		    pVersion->minor != v->minor))
			continue;
		if ((interfaces[i].flags & flags) != flags)
			continue;
		*ppInterface = (CK_INTERFACE_PTR)&interfaces[i];
		return CKR_OK;
	}
	return CKR_FUNCTION_FAILED;
}
