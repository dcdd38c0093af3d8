/*
 * m2mtoken: the exported C_* symbols, for applications that link or
 * dlsym them instead of asking C_GetFunctionList.  Each calls the same
 * entry of the bound function list (p11_bound(), funclist.c), so the lists
 * stay the one place where a C_* name meets its implementation.
 * C_GetFunctionList, C_GetInterfaceList and C_GetInterface are
 * funclist.c's own.
 */
#include "p11.h"

#define FORWARD(name, params, args)					\
	__attribute__((visibility("default"))) CK_RV			\
	name params							\
	{								\
		return p11_bound()->name args;				\
	}

FORWARD(C_Initialize, (CK_VOID_PTR init_args), (init_args))
FORWARD(C_Finalize, (CK_VOID_PTR reserved), (reserved))
FORWARD(C_GetInfo, (CK_INFO_PTR info), (info))
FORWARD(C_GetSlotList, (CK_BBOOL token_present, CK_SLOT_ID_PTR slot_list,
    CK_ULONG_PTR count), (token_present, slot_list, count))
FORWARD(C_GetSlotInfo, (CK_SLOT_ID slot_id, CK_SLOT_INFO_PTR info),
    (slot_id, info))
FORWARD(C_GetTokenInfo, (CK_SLOT_ID slot_id, CK_TOKEN_INFO_PTR info),
    (slot_id, info))
FORWARD(C_WaitForSlotEvent, (CK_FLAGS flags, CK_SLOT_ID_PTR slot,
    CK_VOID_PTR reserved), (flags, slot, reserved))
FORWARD(C_GetMechanismList, (CK_SLOT_ID slot_id, CK_MECHANISM_TYPE_PTR
    mechanism_list, CK_ULONG_PTR count), (slot_id, mechanism_list, count))
FORWARD(C_GetMechanismInfo, (CK_SLOT_ID slot_id, CK_MECHANISM_TYPE type,
    CK_MECHANISM_INFO_PTR info), (slot_id, type, info))
FORWARD(C_InitToken, (CK_SLOT_ID slot_id, CK_BYTE_PTR pin, CK_ULONG pin_len,
    CK_BYTE_PTR label), (slot_id, pin, pin_len, label))
FORWARD(C_InitPIN, (CK_SESSION_HANDLE session, CK_BYTE_PTR pin, CK_ULONG
    pin_len), (session, pin, pin_len))
FORWARD(C_SetPIN, (CK_SESSION_HANDLE session, CK_BYTE_PTR old_pin, CK_ULONG
    old_len, CK_BYTE_PTR new_pin, CK_ULONG new_len), (session, old_pin, old_len,
    new_pin, new_len))
FORWARD(C_OpenSession, (CK_SLOT_ID slot_id, CK_FLAGS flags, CK_VOID_PTR
    application, CK_NOTIFY notify, CK_SESSION_HANDLE_PTR session), (slot_id,
    flags, application, notify, session))
FORWARD(C_CloseSession, (CK_SESSION_HANDLE session), (session))
FORWARD(C_CloseAllSessions, (CK_SLOT_ID slot_id), (slot_id))
FORWARD(C_GetSessionInfo, (CK_SESSION_HANDLE session, CK_SESSION_INFO_PTR
    info), (session, info))
FORWARD(C_GetOperationState, (CK_SESSION_HANDLE session, CK_BYTE_PTR
    operation_state, CK_ULONG_PTR operation_state_len), (session,
    operation_state, operation_state_len))
FORWARD(C_SetOperationState, (CK_SESSION_HANDLE session, CK_BYTE_PTR
    operation_state, CK_ULONG operation_state_len, CK_OBJECT_HANDLE
    encryption_key, CK_OBJECT_HANDLE authentiation_key), (session,
    operation_state, operation_state_len, encryption_key, authentiation_key))
FORWARD(C_Login, (CK_SESSION_HANDLE session, CK_USER_TYPE user_type,
    CK_BYTE_PTR pin, CK_ULONG pin_len), (session, user_type, pin, pin_len))
FORWARD(C_Logout, (CK_SESSION_HANDLE session), (session))
FORWARD(C_CreateObject, (CK_SESSION_HANDLE session, CK_ATTRIBUTE_PTR templ,
    CK_ULONG count, CK_OBJECT_HANDLE_PTR object), (session, templ, count,
    object))
FORWARD(C_CopyObject, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
    CK_ATTRIBUTE_PTR templ, CK_ULONG count, CK_OBJECT_HANDLE_PTR new_object),
    (session, object, templ, count, new_object))
FORWARD(C_DestroyObject, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE
    object), (session, object))
FORWARD(C_GetObjectSize, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE
    object, CK_ULONG_PTR size), (session, object, size))
FORWARD(C_GetAttributeValue, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE
    object, CK_ATTRIBUTE_PTR templ, CK_ULONG count), (session, object, templ,
    count))
FORWARD(C_SetAttributeValue, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE
    object, CK_ATTRIBUTE_PTR templ, CK_ULONG count), (session, object, templ,
    count))
FORWARD(C_FindObjectsInit, (CK_SESSION_HANDLE session, CK_ATTRIBUTE_PTR
    templ, CK_ULONG count), (session, templ, count))
FORWARD(C_FindObjects, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE_PTR
    object, CK_ULONG max_object_count, CK_ULONG_PTR object_count), (session,
    object, max_object_count, object_count))
FORWARD(C_FindObjectsFinal, (CK_SESSION_HANDLE session), (session))
FORWARD(C_EncryptInit, (CK_SESSION_HANDLE session, CK_MECHANISM_PTR
    mechanism, CK_OBJECT_HANDLE key), (session, mechanism, key))
FORWARD(C_Encrypt, (CK_SESSION_HANDLE session, CK_BYTE_PTR data, CK_ULONG
    data_len, CK_BYTE_PTR encrypted_data, CK_ULONG_PTR encrypted_data_len),
    (session, data, data_len, encrypted_data, encrypted_data_len))
FORWARD(C_EncryptUpdate, (CK_SESSION_HANDLE session, CK_BYTE_PTR part,
    CK_ULONG part_len, CK_BYTE_PTR encrypted_part, CK_ULONG_PTR
    encrypted_part_len), (session, part, part_len, encrypted_part,
    encrypted_part_len))
FORWARD(C_EncryptFinal, (CK_SESSION_HANDLE session, CK_BYTE_PTR
    last_encrypted_part, CK_ULONG_PTR last_encrypted_part_len), (session,
    last_encrypted_part, last_encrypted_part_len))
FORWARD(C_DecryptInit, (CK_SESSION_HANDLE session, CK_MECHANISM_PTR
    mechanism, CK_OBJECT_HANDLE key), (session, mechanism, key))
FORWARD(C_Decrypt, (CK_SESSION_HANDLE session, CK_BYTE_PTR encrypted_data,
    CK_ULONG encrypted_data_len, CK_BYTE_PTR data, CK_ULONG_PTR data_len),
    (session, encrypted_data, encrypted_data_len, data, data_len))
FORWARD(C_DecryptUpdate, (CK_SESSION_HANDLE session, CK_BYTE_PTR
    encrypted_part, CK_ULONG encrypted_part_len, CK_BYTE_PTR part, CK_ULONG_PTR
    part_len), (session, encrypted_part, encrypted_part_len, part, part_len))
FORWARD(C_DecryptFinal, (CK_SESSION_HANDLE session, CK_BYTE_PTR last_part,
    CK_ULONG_PTR last_part_len), (session, last_part, last_part_len))
FORWARD(C_DigestInit, (CK_SESSION_HANDLE session, CK_MECHANISM_PTR
    mechanism), (session, mechanism))
FORWARD(C_Digest, (CK_SESSION_HANDLE session, CK_BYTE_PTR data, CK_ULONG
    data_len, CK_BYTE_PTR digest, CK_ULONG_PTR digest_len), (session, data,
    data_len, digest, digest_len))
FORWARD(C_DigestUpdate, (CK_SESSION_HANDLE session, CK_BYTE_PTR part,
    CK_ULONG part_len), (session, part, part_len))
FORWARD(C_DigestKey, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key),
    (session, key))
FORWARD(C_DigestFinal, (CK_SESSION_HANDLE session, CK_BYTE_PTR digest,
    CK_ULONG_PTR digest_len), (session, digest, digest_len))
FORWARD(C_SignInit, (CK_SESSION_HANDLE session, CK_MECHANISM_PTR mechanism,
    CK_OBJECT_HANDLE key), (session, mechanism, key))
FORWARD(C_Sign, (CK_SESSION_HANDLE session, CK_BYTE_PTR data, CK_ULONG
    data_len, CK_BYTE_PTR signature, CK_ULONG_PTR signature_len), (session,
    data, data_len, signature, signature_len))
FORWARD(C_SignUpdate, (CK_SESSION_HANDLE session, CK_BYTE_PTR part, CK_ULONG
    part_len), (session, part, part_len))
FORWARD(C_SignFinal, (CK_SESSION_HANDLE session, CK_BYTE_PTR signature,
    CK_ULONG_PTR signature_len), (session, signature, signature_len))
FORWARD(C_SignRecoverInit, (CK_SESSION_HANDLE session, CK_MECHANISM_PTR
    mechanism, CK_OBJECT_HANDLE key), (session, mechanism, key))
FORWARD(C_SignRecover, (CK_SESSION_HANDLE session, CK_BYTE_PTR data,
    CK_ULONG data_len, CK_BYTE_PTR signature, CK_ULONG_PTR signature_len),
    (session, data, data_len, signature, signature_len))
FORWARD(C_VerifyInit, (CK_SESSION_HANDLE session, CK_MECHANISM_PTR
    mechanism, CK_OBJECT_HANDLE key), (session, mechanism, key))
FORWARD(C_Verify, (CK_SESSION_HANDLE session, CK_BYTE_PTR data, CK_ULONG
    data_len, CK_BYTE_PTR signature, CK_ULONG signature_len), (session, data,
    data_len, signature, signature_len))
FORWARD(C_VerifyUpdate, (CK_SESSION_HANDLE session, CK_BYTE_PTR part,
    CK_ULONG part_len), (session, part, part_len))
FORWARD(C_VerifyFinal, (CK_SESSION_HANDLE session, CK_BYTE_PTR signature,
    CK_ULONG signature_len), (session, signature, signature_len))
FORWARD(C_VerifyRecoverInit, (CK_SESSION_HANDLE session, CK_MECHANISM_PTR
    mechanism, CK_OBJECT_HANDLE key), (session, mechanism, key))
FORWARD(C_VerifyRecover, (CK_SESSION_HANDLE session, CK_BYTE_PTR signature,
    CK_ULONG signature_len, CK_BYTE_PTR data, CK_ULONG_PTR data_len), (session,
    signature, signature_len, data, data_len))
FORWARD(C_DigestEncryptUpdate, (CK_SESSION_HANDLE session, CK_BYTE_PTR part,
    CK_ULONG part_len, CK_BYTE_PTR encrypted_part, CK_ULONG_PTR
    encrypted_part_len), (session, part, part_len, encrypted_part,
    encrypted_part_len))
FORWARD(C_DecryptDigestUpdate, (CK_SESSION_HANDLE session, CK_BYTE_PTR
    encrypted_part, CK_ULONG encrypted_part_len, CK_BYTE_PTR part, CK_ULONG_PTR
    part_len), (session, encrypted_part, encrypted_part_len, part, part_len))
FORWARD(C_SignEncryptUpdate, (CK_SESSION_HANDLE session, CK_BYTE_PTR part,
    CK_ULONG part_len, CK_BYTE_PTR encrypted_part, CK_ULONG_PTR
    encrypted_part_len), (session, part, part_len, encrypted_part,
    encrypted_part_len))
FORWARD(C_DecryptVerifyUpdate, (CK_SESSION_HANDLE session, CK_BYTE_PTR
    encrypted_part, CK_ULONG encrypted_part_len, CK_BYTE_PTR part, CK_ULONG_PTR
    part_len), (session, encrypted_part, encrypted_part_len, part, part_len))
FORWARD(C_GenerateKey, (CK_SESSION_HANDLE session, CK_MECHANISM_PTR
    mechanism, CK_ATTRIBUTE_PTR templ, CK_ULONG count, CK_OBJECT_HANDLE_PTR
    key), (session, mechanism, templ, count, key))
FORWARD(C_GenerateKeyPair, (CK_SESSION_HANDLE session, CK_MECHANISM_PTR
    mechanism, CK_ATTRIBUTE_PTR public_key_template, CK_ULONG
    public_key_attribute_count, CK_ATTRIBUTE_PTR private_key_template, CK_ULONG
    private_key_attribute_count, CK_OBJECT_HANDLE_PTR public_key,
    CK_OBJECT_HANDLE_PTR private_key), (session, mechanism, public_key_template,
    public_key_attribute_count, private_key_template,
    private_key_attribute_count, public_key, private_key))
FORWARD(C_WrapKey, (CK_SESSION_HANDLE session, CK_MECHANISM_PTR mechanism,
    CK_OBJECT_HANDLE wrapping_key, CK_OBJECT_HANDLE key, CK_BYTE_PTR
    wrapped_key, CK_ULONG_PTR wrapped_key_len), (session, mechanism,
    wrapping_key, key, wrapped_key, wrapped_key_len))
FORWARD(C_UnwrapKey, (CK_SESSION_HANDLE session, CK_MECHANISM_PTR mechanism,
    CK_OBJECT_HANDLE unwrapping_key, CK_BYTE_PTR wrapped_key, CK_ULONG
    wrapped_key_len, CK_ATTRIBUTE_PTR templ, CK_ULONG attribute_count,
    CK_OBJECT_HANDLE_PTR key), (session, mechanism, unwrapping_key, wrapped_key,
    wrapped_key_len, templ, attribute_count, key))
FORWARD(C_DeriveKey, (CK_SESSION_HANDLE session, CK_MECHANISM_PTR mechanism,
    CK_OBJECT_HANDLE base_key, CK_ATTRIBUTE_PTR templ, CK_ULONG attribute_count,
    CK_OBJECT_HANDLE_PTR key), (session, mechanism, base_key, templ,
    attribute_count, key))
FORWARD(C_SeedRandom, (CK_SESSION_HANDLE session, CK_BYTE_PTR seed, CK_ULONG
    seed_len), (session, seed, seed_len))
FORWARD(C_GenerateRandom, (CK_SESSION_HANDLE session, CK_BYTE_PTR
    random_data, CK_ULONG random_len), (session, random_data, random_len))
FORWARD(C_GetFunctionStatus, (CK_SESSION_HANDLE session), (session))
FORWARD(C_CancelFunction, (CK_SESSION_HANDLE session), (session))
FORWARD(C_LoginUser, (CK_SESSION_HANDLE session, CK_USER_TYPE user_type,
    CK_BYTE_PTR pin, CK_ULONG pin_len, CK_BYTE_PTR username, CK_ULONG
    username_len), (session, user_type, pin, pin_len, username, username_len))
FORWARD(C_SessionCancel, (CK_SESSION_HANDLE session, CK_FLAGS flags),
    (session, flags))
