/*
 * m2mtoken: the PKCS#11 face of the module.
 *
 * Vendor constants exactly as in the contract (shared/spec/pkcs11-contract.md
 * section 2), plus the PKCS#11 v3.0 definitions that the v2.40 base header
 * (p11-kit's pkcs11.h, from Debian) does not carry: interfaces, the v3.0
 * function list and HKDF.  Include this header instead of a bare pkcs11.h.
 */
#ifndef M2MTOKEN_PKCS11_M2M_H
#define M2MTOKEN_PKCS11_M2M_H

#include <p11-kit/pkcs11.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Vendor constants (contract section 2)                              */
/* ------------------------------------------------------------------ */
#define CKM_M2M_BASE	(CKM_VENDOR_DEFINED | 0x4D324D00UL)	/* 0xCD324D00 */
#define CKA_M2M_BASE	(CKA_VENDOR_DEFINED | 0x4D324D00UL)
#define CKK_M2M_BASE	(CKK_VENDOR_DEFINED | 0x4D324D00UL)

#define CKA_M2M_ROLE		(CKA_M2M_BASE + 0x01UL)	/* CK_ULONG */
#define CKA_M2M_PEER_ID		(CKA_M2M_BASE + 0x02UL)	/* UTF-8 */
#define CKA_M2M_ENROLEE_ID	(CKA_M2M_BASE + 0x03UL)	/* UTF-8 */
#define CKA_M2M_EXPIRES		(CKA_M2M_BASE + 0x04UL)	/* m2m:timestamp */

/* CKA_M2M_ROLE values */
#define CK_M2M_ROLE_NONE		0UL	/* role-less (not a contract value) */
#define CK_M2M_ROLE_KPM			1UL
#define CK_M2M_ROLE_KE			2UL
#define CK_M2M_ROLE_KER			3UL
#define CK_M2M_ROLE_KM			4UL
#define CK_M2M_ROLE_KPSA		5UL
#define CK_M2M_ROLE_KUC			6UL
#define CK_M2M_ROLE_KC			7UL
#define CK_M2M_ROLE_KE2E_MASTER		8UL
#define CK_M2M_ROLE_KE2E_MSG_AUTH	9UL
#define CK_M2M_ROLE_KE2E_MSG_CONF	10UL
#define CK_M2M_ROLE_KE2E_ATT_AUTH	11UL
#define CK_M2M_ROLE_KE2E_ATT_CONF	12UL
#define CK_M2M_ROLE_IBC_SSK		20UL
#define CK_M2M_ROLE_IBC_KSAK		21UL
#define CK_M2M_ROLE_TLS_MASTER		30UL

#define CKM_M2M_KM_DERIVE		(CKM_M2M_BASE + 0x01UL)
#define CKM_M2M_KPSA_DERIVE		(CKM_M2M_BASE + 0x02UL)
#define CKM_M2M_KUC_DERIVE		(CKM_M2M_BASE + 0x03UL)
#define CKM_M2M_E2E_MASTER_SHA256	(CKM_M2M_BASE + 0x04UL)
#define CKM_M2M_E2E_MASTER_SHA512	(CKM_M2M_BASE + 0x05UL)
#define CKM_M2M_E2E_EXPAND		(CKM_M2M_BASE + 0x06UL)
#define CKM_M2M_TLS12_PSK_MASTER	(CKM_M2M_BASE + 0x10UL)
#define CKM_M2M_ECCSI			(CKM_M2M_BASE + 0x20UL)

/*
 * The longest attribute value the module takes (a certificate's or data
 * object's CKA_VALUE, a label, ...): a longer one is
 * CKR_ATTRIBUTE_VALUE_INVALID.  A limit of this module, not a contract
 * constant; token/object.h's M2M_ATTR_MAX_LEN is this.
 */
#define CK_M2M_ATTR_MAX_LEN		4096

/* Parameter of CKM_M2M_KUC_DERIVE */
typedef struct CK_M2M_KUC_PARAMS {
	CK_ULONG	ulSuid;
	CK_UTF8CHAR_PTR	pTargetId;
	CK_ULONG	ulTargetIdLen;
} CK_M2M_KUC_PARAMS;
typedef CK_M2M_KUC_PARAMS *CK_M2M_KUC_PARAMS_PTR;

/*
 * Parameter of CKM_M2M_TLS12_PSK_MASTER (C_DeriveKey on a KPM, KPSA, KM, KUC
 * or KC key).  The module computes the TLS 1.2 master secret (RFC 5246
 * section 8.1) from the RFC 4279 section 2 premaster of the key's PSK with
 * the PRF of RFC 5246 section 5 over prfHashMechanism (CKM_SHA256 or
 * CKM_SHA384):
 *   bExtendedMasterSecret == CK_FALSE:
 *     PRF(pms, "master secret", pClientRandom || pServerRandom)[0..48)
 *     (both randoms exactly 32 bytes; pSessionHash must be NULL/0)
 *   bExtendedMasterSecret == CK_TRUE (RFC 7627):
 *     PRF(pms, "extended master secret", pSessionHash)[0..48)
 *     (session hash 1..64 bytes; the randoms must be NULL/0)
 * The result is a 48-byte CKK_GENERIC_SECRET with CKA_M2M_ROLE TLS_MASTER,
 * CKA_TOKEN=FALSE, CKA_SENSITIVE=FALSE, CKA_EXTRACTABLE=TRUE: a session
 * secret the TLS stack reads with C_GetAttributeValue(CKA_VALUE).
 */
typedef struct CK_M2M_TLS12_PSK_PARAMS {
	CK_MECHANISM_TYPE	prfHashMechanism;
	CK_BBOOL		bExtendedMasterSecret;
	CK_BYTE_PTR		pClientRandom;
	CK_ULONG		ulClientRandomLen;
	CK_BYTE_PTR		pServerRandom;
	CK_ULONG		ulServerRandomLen;
	CK_BYTE_PTR		pSessionHash;
	CK_ULONG		ulSessionHashLen;
} CK_M2M_TLS12_PSK_PARAMS;
typedef CK_M2M_TLS12_PSK_PARAMS *CK_M2M_TLS12_PSK_PARAMS_PTR;

/* ------------------------------------------------------------------ */
/* PKCS#11 v3.0 definitions missing from the v2.40 base header         */
/* ------------------------------------------------------------------ */
#ifndef CKM_HKDF_DERIVE
#define CKM_HKDF_DERIVE		0x0000402aUL
#define CKM_HKDF_DATA		0x0000402bUL
#define CKM_HKDF_KEY_GEN	0x0000402cUL
#define CKK_HKDF		0x00000042UL
#define CKF_HKDF_SALT_NULL	0x00000001UL
#define CKF_HKDF_SALT_DATA	0x00000002UL
#define CKF_HKDF_SALT_KEY	0x00000004UL
typedef struct CK_HKDF_PARAMS {
	CK_BBOOL		bExtract;
	CK_BBOOL		bExpand;
	CK_MECHANISM_TYPE	prfHashMechanism;
	CK_ULONG		ulSaltType;
	CK_BYTE_PTR		pSalt;
	CK_ULONG		ulSaltLen;
	CK_OBJECT_HANDLE	hSaltKey;
	CK_BYTE_PTR		pInfo;
	CK_ULONG		ulInfoLen;
} CK_HKDF_PARAMS;
typedef CK_HKDF_PARAMS *CK_HKDF_PARAMS_PTR;
#endif

#ifndef CKF_INTERFACE_FORK_SAFE
#define CKF_INTERFACE_FORK_SAFE	0x00000001UL
#define CKF_END_OF_MESSAGE	0x00000001UL
#define CKF_MESSAGE_ENCRYPT	0x00000002UL
#define CKF_MESSAGE_DECRYPT	0x00000004UL
#define CKF_MESSAGE_SIGN	0x00000008UL
#define CKF_MESSAGE_VERIFY	0x00000010UL
#define CKF_FIND_OBJECTS	0x00000040UL

typedef struct CK_INTERFACE {
	CK_CHAR_PTR	pInterfaceName;
	CK_VOID_PTR	pFunctionList;
	CK_FLAGS	flags;
} CK_INTERFACE;
typedef CK_INTERFACE *CK_INTERFACE_PTR;
typedef CK_INTERFACE_PTR *CK_INTERFACE_PTR_PTR;

struct CK_FUNCTION_LIST_3_0;
typedef CK_RV (*CK_C_GetInterfaceList)(CK_INTERFACE_PTR, CK_ULONG_PTR);
typedef CK_RV (*CK_C_GetInterface)(CK_UTF8CHAR_PTR, CK_VERSION_PTR,
    CK_INTERFACE_PTR_PTR, CK_FLAGS);
typedef CK_RV (*CK_C_LoginUser)(CK_SESSION_HANDLE, CK_USER_TYPE,
    CK_UTF8CHAR_PTR, CK_ULONG, CK_UTF8CHAR_PTR, CK_ULONG);
typedef CK_RV (*CK_C_SessionCancel)(CK_SESSION_HANDLE, CK_FLAGS);
typedef CK_RV (*CK_C_MessageInit)(CK_SESSION_HANDLE, CK_MECHANISM_PTR,
    CK_OBJECT_HANDLE);
typedef CK_RV (*CK_C_MessageCrypt)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG,
    CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);
typedef CK_RV (*CK_C_MessageBegin)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG,
    CK_BYTE_PTR, CK_ULONG);
typedef CK_RV (*CK_C_MessageNext)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG,
    CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR, CK_FLAGS);
typedef CK_RV (*CK_C_MessageFinal)(CK_SESSION_HANDLE);
typedef CK_RV (*CK_C_MessageSign)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG,
    CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);
typedef CK_RV (*CK_C_MessageSignBegin)(CK_SESSION_HANDLE, CK_VOID_PTR,
    CK_ULONG);
typedef CK_RV (*CK_C_MessageSignNext)(CK_SESSION_HANDLE, CK_VOID_PTR,
    CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);
typedef CK_RV (*CK_C_MessageVerify)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG,
    CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG);
typedef CK_RV (*CK_C_MessageVerifyNext)(CK_SESSION_HANDLE, CK_VOID_PTR,
    CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG);

/*
 * The v3.0 function list: the v2.40 list (version 3.0) followed by the
 * v3.0 additions, in the order of the standard.
 */
typedef struct CK_FUNCTION_LIST_3_0 {
	CK_VERSION			version;
	CK_C_Initialize			C_Initialize;
	CK_C_Finalize			C_Finalize;
	CK_C_GetInfo			C_GetInfo;
	CK_C_GetFunctionList		C_GetFunctionList;
	CK_C_GetSlotList		C_GetSlotList;
	CK_C_GetSlotInfo		C_GetSlotInfo;
	CK_C_GetTokenInfo		C_GetTokenInfo;
	CK_C_GetMechanismList		C_GetMechanismList;
	CK_C_GetMechanismInfo		C_GetMechanismInfo;
	CK_C_InitToken			C_InitToken;
	CK_C_InitPIN			C_InitPIN;
	CK_C_SetPIN			C_SetPIN;
	CK_C_OpenSession		C_OpenSession;
	CK_C_CloseSession		C_CloseSession;
	CK_C_CloseAllSessions		C_CloseAllSessions;
	CK_C_GetSessionInfo		C_GetSessionInfo;
	CK_C_GetOperationState		C_GetOperationState;
	CK_C_SetOperationState		C_SetOperationState;
	CK_C_Login			C_Login;
	CK_C_Logout			C_Logout;
	CK_C_CreateObject		C_CreateObject;
	CK_C_CopyObject			C_CopyObject;
	CK_C_DestroyObject		C_DestroyObject;
	CK_C_GetObjectSize		C_GetObjectSize;
	CK_C_GetAttributeValue		C_GetAttributeValue;
	CK_C_SetAttributeValue		C_SetAttributeValue;
	CK_C_FindObjectsInit		C_FindObjectsInit;
	CK_C_FindObjects		C_FindObjects;
	CK_C_FindObjectsFinal		C_FindObjectsFinal;
	CK_C_EncryptInit		C_EncryptInit;
	CK_C_Encrypt			C_Encrypt;
	CK_C_EncryptUpdate		C_EncryptUpdate;
	CK_C_EncryptFinal		C_EncryptFinal;
	CK_C_DecryptInit		C_DecryptInit;
	CK_C_Decrypt			C_Decrypt;
	CK_C_DecryptUpdate		C_DecryptUpdate;
	CK_C_DecryptFinal		C_DecryptFinal;
	CK_C_DigestInit			C_DigestInit;
	CK_C_Digest			C_Digest;
	CK_C_DigestUpdate		C_DigestUpdate;
	CK_C_DigestKey			C_DigestKey;
	CK_C_DigestFinal		C_DigestFinal;
	CK_C_SignInit			C_SignInit;
	CK_C_Sign			C_Sign;
	CK_C_SignUpdate			C_SignUpdate;
	CK_C_SignFinal			C_SignFinal;
	CK_C_SignRecoverInit		C_SignRecoverInit;
	CK_C_SignRecover		C_SignRecover;
	CK_C_VerifyInit			C_VerifyInit;
	CK_C_Verify			C_Verify;
	CK_C_VerifyUpdate		C_VerifyUpdate;
	CK_C_VerifyFinal		C_VerifyFinal;
	CK_C_VerifyRecoverInit		C_VerifyRecoverInit;
	CK_C_VerifyRecover		C_VerifyRecover;
	CK_C_DigestEncryptUpdate	C_DigestEncryptUpdate;
	CK_C_DecryptDigestUpdate	C_DecryptDigestUpdate;
	CK_C_SignEncryptUpdate		C_SignEncryptUpdate;
	CK_C_DecryptVerifyUpdate	C_DecryptVerifyUpdate;
	CK_C_GenerateKey		C_GenerateKey;
	CK_C_GenerateKeyPair		C_GenerateKeyPair;
	CK_C_WrapKey			C_WrapKey;
	CK_C_UnwrapKey			C_UnwrapKey;
	CK_C_DeriveKey			C_DeriveKey;
	CK_C_SeedRandom			C_SeedRandom;
	CK_C_GenerateRandom		C_GenerateRandom;
	CK_C_GetFunctionStatus		C_GetFunctionStatus;
	CK_C_CancelFunction		C_CancelFunction;
	CK_C_WaitForSlotEvent		C_WaitForSlotEvent;
	CK_C_GetInterfaceList		C_GetInterfaceList;
	CK_C_GetInterface		C_GetInterface;
	CK_C_LoginUser			C_LoginUser;
	CK_C_SessionCancel		C_SessionCancel;
	CK_C_MessageInit		C_MessageEncryptInit;
	CK_C_MessageCrypt		C_EncryptMessage;
	CK_C_MessageBegin		C_EncryptMessageBegin;
	CK_C_MessageNext		C_EncryptMessageNext;
	CK_C_MessageFinal		C_MessageEncryptFinal;
	CK_C_MessageInit		C_MessageDecryptInit;
	CK_C_MessageCrypt		C_DecryptMessage;
	CK_C_MessageBegin		C_DecryptMessageBegin;
	CK_C_MessageNext		C_DecryptMessageNext;
	CK_C_MessageFinal		C_MessageDecryptFinal;
	CK_C_MessageInit		C_MessageSignInit;
	CK_C_MessageSign		C_SignMessage;
	CK_C_MessageSignBegin		C_SignMessageBegin;
	CK_C_MessageSignNext		C_SignMessageNext;
	CK_C_MessageFinal		C_MessageSignFinal;
	CK_C_MessageInit		C_MessageVerifyInit;
	CK_C_MessageVerify		C_VerifyMessage;
	CK_C_MessageSignBegin		C_VerifyMessageBegin;
	CK_C_MessageVerifyNext		C_VerifyMessageNext;
	CK_C_MessageFinal		C_MessageVerifyFinal;
} CK_FUNCTION_LIST_3_0;
typedef CK_FUNCTION_LIST_3_0 *CK_FUNCTION_LIST_3_0_PTR;
#endif /* CKF_INTERFACE_FORK_SAFE */

#ifdef __cplusplus
}
#endif
#endif /* M2MTOKEN_PKCS11_M2M_H */
