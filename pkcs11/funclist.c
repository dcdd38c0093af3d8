/*
 * m2mtoken: the one place the C_* names are bound to this module's
 * functions: the v2.40 and v3.0 function lists, C_GetFunctionList,
 * C_GetInterfaceList and C_GetInterface, the v3.0 message functions this
 * token does not offer, and the table the exported C_* symbols call
 * through (p11_bound: exports.c).  Client mode (remote.c) is the other
 * pair of lists and interface table here, chosen once per process by
 * p11_client_mode().
 */
#include <string.h>

#include "p11.h"

#define EXPORT	__attribute__((visibility("default")))

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

CK_RV C_GetInterfaceList(CK_INTERFACE_PTR, CK_ULONG_PTR);
CK_RV C_GetInterface(CK_UTF8CHAR_PTR, CK_VERSION_PTR, CK_INTERFACE_PTR_PTR,
    CK_FLAGS);

/*
 * const: the lists and the interface tables live in read-only memory
 * (with -z relro -z now), so no code in the process can redirect an entry
 * point.  PKCS#11 hands them out through non-const pointers; a caller
 * writing through one faults instead of hooking every other caller's
 * calls.  The message functions are the same stubs in both modes.
 */
#define MSG_FUNCTIONS							\
	.C_MessageEncryptInit = msg_init,				\
	.C_EncryptMessage = msg_crypt,					\
	.C_EncryptMessageBegin = msg_begin,				\
	.C_EncryptMessageNext = msg_next,				\
	.C_MessageEncryptFinal = msg_final,				\
	.C_MessageDecryptInit = msg_init,				\
	.C_DecryptMessage = msg_crypt,					\
	.C_DecryptMessageBegin = msg_begin,				\
	.C_DecryptMessageNext = msg_next,				\
	.C_MessageDecryptFinal = msg_final,				\
	.C_MessageSignInit = msg_init,					\
	.C_SignMessage = msg_sign,					\
	.C_SignMessageBegin = msg_sign_begin,				\
	.C_SignMessageNext = msg_sign,					\
	.C_MessageSignFinal = msg_final,				\
	.C_MessageVerifyInit = msg_init,				\
	.C_VerifyMessage = msg_verify,					\
	.C_VerifyMessageBegin = msg_sign_begin,				\
	.C_VerifyMessageNext = msg_verify,				\
	.C_MessageVerifyFinal = msg_final

/* local mode: p11_C_<name> */
#define BIND(name)	.name = p11_##name,

static const CK_FUNCTION_LIST functions_240 = {
	.version = { 2, 40 },
	.C_GetFunctionList = C_GetFunctionList,
	P11_FUNCTIONS_240(BIND)
};

static const CK_FUNCTION_LIST_3_0 functions_300 = {
	.version = { 3, 0 },
	.C_GetFunctionList = C_GetFunctionList,
	P11_FUNCTIONS_240(BIND)
	.C_GetInterfaceList = C_GetInterfaceList,
	.C_GetInterface = C_GetInterface,
	BIND(C_LoginUser)
	BIND(C_SessionCancel)
	MSG_FUNCTIONS
};

/* client mode: rc_C_<name> */
#define BIND_RC(name)	.name = rc_##name,

static const CK_FUNCTION_LIST rc_functions_240 = {
	.version = { 2, 40 },
	.C_GetFunctionList = C_GetFunctionList,
	P11_FUNCTIONS_240(BIND_RC)
};

static const CK_FUNCTION_LIST_3_0 rc_functions_300 = {
	.version = { 3, 0 },
	.C_GetFunctionList = C_GetFunctionList,
	P11_FUNCTIONS_240(BIND_RC)
	.C_GetInterfaceList = C_GetInterfaceList,
	.C_GetInterface = C_GetInterface,
	BIND_RC(C_LoginUser)
	BIND_RC(C_SessionCancel)
	MSG_FUNCTIONS
};

/* see p11.h */
const CK_FUNCTION_LIST_3_0 *
p11_bound(void)
{
	return p11_client_mode() ? &rc_functions_300 : &functions_300;
}

static const CK_INTERFACE interfaces[2] = {
	{ (CK_CHAR_PTR)"PKCS 11", (CK_VOID_PTR)&functions_300, 0 },
	{ (CK_CHAR_PTR)"PKCS 11", (CK_VOID_PTR)&functions_240, 0 }
};
static const CK_INTERFACE rc_interfaces[2] = {
	{ (CK_CHAR_PTR)"PKCS 11", (CK_VOID_PTR)&rc_functions_300, 0 },
	{ (CK_CHAR_PTR)"PKCS 11", (CK_VOID_PTR)&rc_functions_240, 0 }
};
#define NINTERFACES 2

/* The interface table of the mode. */
static const CK_INTERFACE *
mode_interfaces(void)
{
	return p11_client_mode() ? rc_interfaces : interfaces;
}

EXPORT CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
	if (ppFunctionList == NULL)
		return CKR_ARGUMENTS_BAD;
	*ppFunctionList = p11_client_mode() ?
	    (CK_FUNCTION_LIST_PTR)&rc_functions_240 :
	    (CK_FUNCTION_LIST_PTR)&functions_240;
	return CKR_OK;
}

EXPORT CK_RV
C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount)
{
	const CK_INTERFACE *interfaces = mode_interfaces();
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
	const CK_INTERFACE *interfaces = mode_interfaces();
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
