/*
 * m2mtoken HSM backend: the CK_RV border (see hsm_int.h): CK_RV to
 * M2M_ERR_*, the names, and what a lost session does to the connection
 * (m2m_hsm_ckr, m2m_hsm_disconnect), below both the connection
 * (hsm_conn.c) and the keys' setup (hsm_wrapkey.c).
 */
#include <stddef.h>
#include <stdio.h>

#include "err.h"
#include "hsm_int.h"
#include "log.h"

/* PKCS#11 v3.0; absent from the v2.40 base header. */
#ifndef CKR_AEAD_DECRYPT_FAILED
#define CKR_AEAD_DECRYPT_FAILED	0x00000035UL
#endif

/* see hsm_int.h */
int
m2m_err_from_ckr(CK_RV rv, enum m2m_hsm_op op)
{
	switch (rv) {
	case CKR_OK:
		return 0;
	case CKR_HOST_MEMORY:
		return M2M_ERR_NO_MEMORY;
	case CKR_PIN_INCORRECT:
	case CKR_PIN_INVALID:
	case CKR_PIN_LEN_RANGE:
	case CKR_PIN_EXPIRED:
	case CKR_PIN_LOCKED:
	case CKR_USER_PIN_NOT_INITIALIZED:
	case CKR_USER_NOT_LOGGED_IN:
	case CKR_USER_TYPE_INVALID:
		return M2M_ERR_BACKEND_AUTH;
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_CLOSED:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_TOKEN_NOT_RECOGNIZED:
	case CKR_DEVICE_REMOVED:
	case CKR_SLOT_ID_INVALID:
	case CKR_CRYPTOKI_NOT_INITIALIZED:
		return M2M_ERR_BACKEND_ABSENT;
	case CKR_MECHANISM_INVALID:
		return M2M_ERR_MECHANISM;
	case CKR_MECHANISM_PARAM_INVALID:
		return M2M_ERR_MECHANISM_PARAM;
	case CKR_KEY_TYPE_INCONSISTENT:
		return M2M_ERR_KEY_TYPE;
	case CKR_KEY_SIZE_RANGE:
		return M2M_ERR_KEY_SIZE;
	case CKR_KEY_FUNCTION_NOT_PERMITTED:
		return M2M_ERR_KEY_FUNCTION;
	case CKR_ATTRIBUTE_SENSITIVE:
		return M2M_ERR_ATTRIBUTE_SENSITIVE;
	case CKR_DATA_LEN_RANGE:
		return M2M_ERR_DATA_LEN;
	case CKR_DATA_INVALID:
	case CKR_WRAPPED_KEY_INVALID:
	case CKR_WRAPPED_KEY_LEN_RANGE:
		return M2M_ERR_DATA_INVALID;
	case CKR_ENCRYPTED_DATA_INVALID:
	case CKR_ENCRYPTED_DATA_LEN_RANGE:
	case CKR_AEAD_DECRYPT_FAILED:
		if (op == M2M_HSM_OP_UNWRAP)
			return M2M_ERR_DATA_INVALID;
		return M2M_ERR_ENCRYPTED_DATA_INVALID;
	case CKR_SIGNATURE_INVALID:
		if (op == M2M_HSM_OP_DECRYPT)
			return M2M_ERR_ENCRYPTED_DATA_INVALID;
		return M2M_ERR_SIGNATURE_INVALID;
	case CKR_BUFFER_TOO_SMALL:
		return M2M_ERR_BUFFER_TOO_SMALL;
	case CKR_RANDOM_NO_RNG:
	case CKR_RANDOM_SEED_NOT_SUPPORTED:
		return M2M_ERR_RANDOM;
	case CKR_GENERAL_ERROR:
	case CKR_FUNCTION_FAILED:
		/*
		 * SoftHSM2 2.6.1 answers a wrong GCM tag and a failed RFC 5649
		 * integrity check with CKR_GENERAL_ERROR; by then the key,
		 * mechanism and lengths have all been accepted.
		 */
		switch (op) {
		case M2M_HSM_OP_DECRYPT:
			return M2M_ERR_ENCRYPTED_DATA_INVALID;
		case M2M_HSM_OP_UNWRAP:
			return M2M_ERR_DATA_INVALID;
		case M2M_HSM_OP_RANDOM:
			return M2M_ERR_RANDOM;
		default:
			return M2M_ERR_BACKEND;
		}
	default:
		return M2M_ERR_BACKEND;
	}
}

/* see hsm_int.h */
int
m2m_hsm_ckr_lost(CK_RV rv)
{
	switch (rv) {
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_CLOSED:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_DEVICE_REMOVED:
	/*
	 * The handles we hold are gone: someone logged the token out (login
	 * state is per process; SoftHSM2 then answers CKR_OBJECT_HANDLE_
	 * INVALID for our private session objects) or destroyed an object.
	 */
	case CKR_USER_NOT_LOGGED_IN:
	case CKR_OBJECT_HANDLE_INVALID:
	case CKR_KEY_HANDLE_INVALID:
	case CKR_WRAPPING_KEY_HANDLE_INVALID:
	case CKR_UNWRAPPING_KEY_HANDLE_INVALID:
		return 1;
	default:
		return 0;
	}
}

/* see hsm_int.h */
const char *
m2m_hsm_ckr_name(CK_RV rv)
{
	switch (rv) {
#define N(x)	case x: return #x
	N(CKR_OK);
	N(CKR_HOST_MEMORY);
	N(CKR_SLOT_ID_INVALID);
	N(CKR_GENERAL_ERROR);
	N(CKR_FUNCTION_FAILED);
	N(CKR_ARGUMENTS_BAD);
	N(CKR_CANT_LOCK);
	N(CKR_ATTRIBUTE_SENSITIVE);
	N(CKR_ATTRIBUTE_TYPE_INVALID);
	N(CKR_ATTRIBUTE_VALUE_INVALID);
	N(CKR_DATA_INVALID);
	N(CKR_DATA_LEN_RANGE);
	N(CKR_DEVICE_ERROR);
	N(CKR_DEVICE_MEMORY);
	N(CKR_DEVICE_REMOVED);
	N(CKR_ENCRYPTED_DATA_INVALID);
	N(CKR_ENCRYPTED_DATA_LEN_RANGE);
	N(CKR_FUNCTION_NOT_SUPPORTED);
	N(CKR_KEY_HANDLE_INVALID);
	N(CKR_KEY_SIZE_RANGE);
	N(CKR_KEY_TYPE_INCONSISTENT);
	N(CKR_KEY_FUNCTION_NOT_PERMITTED);
	N(CKR_KEY_UNEXTRACTABLE);
	N(CKR_MECHANISM_INVALID);
	N(CKR_MECHANISM_PARAM_INVALID);
	N(CKR_OBJECT_HANDLE_INVALID);
	N(CKR_OPERATION_ACTIVE);
	N(CKR_OPERATION_NOT_INITIALIZED);
	N(CKR_PIN_INCORRECT);
	N(CKR_PIN_INVALID);
	N(CKR_PIN_LEN_RANGE);
	N(CKR_PIN_EXPIRED);
	N(CKR_PIN_LOCKED);
	N(CKR_SESSION_CLOSED);
	N(CKR_SESSION_COUNT);
	N(CKR_SESSION_HANDLE_INVALID);
	N(CKR_SIGNATURE_INVALID);
	N(CKR_TEMPLATE_INCOMPLETE);
	N(CKR_TEMPLATE_INCONSISTENT);
	N(CKR_TOKEN_NOT_PRESENT);
	N(CKR_TOKEN_NOT_RECOGNIZED);
	N(CKR_USER_ALREADY_LOGGED_IN);
	N(CKR_USER_NOT_LOGGED_IN);
	N(CKR_USER_PIN_NOT_INITIALIZED);
	N(CKR_USER_TYPE_INVALID);
	N(CKR_WRAPPED_KEY_INVALID);
	N(CKR_WRAPPED_KEY_LEN_RANGE);
	N(CKR_WRAPPING_KEY_HANDLE_INVALID);
	N(CKR_UNWRAPPING_KEY_HANDLE_INVALID);
	N(CKR_RANDOM_NO_RNG);
	N(CKR_BUFFER_TOO_SMALL);
	N(CKR_CRYPTOKI_NOT_INITIALIZED);
	N(CKR_CRYPTOKI_ALREADY_INITIALIZED);
#undef N
	default:
		return NULL;
	}
}

/* see hsm_int.h */
const char *
m2m_hsm_ckr_str(CK_RV rv, char *buf, size_t len)
{
	const char *n;

	if ((n = m2m_hsm_ckr_name(rv)) != NULL)
		return n;
	(void)snprintf(buf, len, "CK_RV 0x%lx", (unsigned long)rv);
	return buf;
}

/* see hsm_int.h */
void
m2m_hsm_disconnect(struct hsm *h)
{
	if (!h->connected)
		return;
	/* closing the session destroys its objects, so no C_DestroyObject */
	m2m_hsm_cache_clear(h->cache);
	(void)P11(h, C_CloseSession)(h->session);
	h->session = CK_INVALID_HANDLE;
	h->wk.n = h->wk.cur = 0;
	h->rk.n = h->rk.cur = 0;
	h->ek.n = h->ek.cur = 0;
	h->connected = 0;
}

/* see hsm_int.h */
int
m2m_hsm_ckr(struct hsm *h, CK_RV rv, enum m2m_hsm_op op)
{
	char b[32];

	if (rv == CKR_OK)
		return 0;
	h->last_rv = rv;
	if (m2m_hsm_ckr_lost(rv)) {
		m2m_error("HSM token '%s': session lost (%s); %zu loaded keys "
		    "dropped, reconnecting at the next call", h->label,
		    m2m_hsm_ckr_str(rv, b, sizeof(b)), m2m_hsm_cache_count(h->cache));
		m2m_hsm_disconnect(h);
		return M2M_ERR_BACKEND_ABSENT;
	}
	return m2m_err_from_ckr(rv, op);
}
