/*
 * m2mtoken: the PKCS#11 functions of the library, slots and tokens, PINs,
 * sessions and login.  Each C_* enters through P11_CALL or
 * P11_SESSION_CALL (p11.h) and runs one function of this file under the
 * module lock; the state they work on is in p11_state.c.
 */
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "core.h"
#include "err.h"
#include "log.h"
#include "p11.h"
#include "secret.h"
#include "store.h"

static void
pad_copy(CK_UTF8CHAR *dst, size_t n, const char *src)
{
	size_t l = strlen(src);

	memset(dst, ' ', n);
	memcpy(dst, src, l < n ? l : n);
}

/* ------------------------------------------------------------------ */
/* general purpose                                                     */
/* ------------------------------------------------------------------ */

CK_RV
p11_C_Initialize(CK_VOID_PTR pInitArgs)
{
	return p11_state_open(pInitArgs);
}

CK_RV
p11_C_Finalize(CK_VOID_PTR pReserved)
{
	if (pReserved != NULL)
		return CKR_ARGUMENTS_BAD;
	return p11_state_close();
}

static CK_RV
get_info(CK_INFO_PTR pInfo)
{
	if (pInfo == NULL)
		return CKR_ARGUMENTS_BAD;
	memset(pInfo, 0, sizeof(*pInfo));
	pInfo->cryptokiVersion.major = 3;
	pInfo->cryptokiVersion.minor = 0;
	pad_copy(pInfo->manufacturerID, sizeof(pInfo->manufacturerID),
	    "m2mtoken");
	pad_copy(pInfo->libraryDescription,
	    sizeof(pInfo->libraryDescription), "m2mtoken oneM2M key token");
	pInfo->libraryVersion.major = 0;
	pInfo->libraryVersion.minor = 1;
	return CKR_OK;
}

CK_RV
p11_C_GetInfo(CK_INFO_PTR pInfo)
{
	P11_CALL(get_info, pInfo);
}

/* ------------------------------------------------------------------ */
/* slots and tokens                                                    */
/* ------------------------------------------------------------------ */

static CK_RV
get_slot_list(CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount)
{
	CK_ULONG n, i;
	CK_RV rv;

	if (pulCount == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((rv = p11_tokens_refresh()) != CKR_OK)
		return rv;
	n = p11.ntokens + 1;
	if (pSlotList == NULL) {
		*pulCount = n;
		return CKR_OK;
	}
	if (*pulCount < n) {
		*pulCount = n;
		return CKR_BUFFER_TOO_SMALL;
	}
	for (i = 0; i < p11.ntokens; i++)
		pSlotList[i] = p11.tokens[i].id;
	pSlotList[i] = p11_free_slot_id();
	*pulCount = n;
	return CKR_OK;
}

CK_RV
p11_C_GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList,
    CK_ULONG_PTR pulCount)
{
	(void)tokenPresent;	/* every slot holds a token (maybe blank) */
	P11_CALL(get_slot_list, pSlotList, pulCount);
}

static CK_RV
get_slot_info(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo)
{
	struct p11_token *t;
	CK_RV rv;

	if (pInfo == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((rv = p11_slot_check(slotID, &t)) != CKR_OK)
		return rv;
	memset(pInfo, 0, sizeof(*pInfo));
	pad_copy(pInfo->slotDescription, sizeof(pInfo->slotDescription),
	    "m2mtoken slot");
	pad_copy(pInfo->manufacturerID, sizeof(pInfo->manufacturerID),
	    "m2mtoken");
	pInfo->flags = CKF_TOKEN_PRESENT;
	pInfo->hardwareVersion.major = 0;
	pInfo->firmwareVersion.major = 0;
	pInfo->firmwareVersion.minor = 1;
	return CKR_OK;
}

CK_RV
p11_C_GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo)
{
	P11_CALL(get_slot_info, slotID, pInfo);
}

static void
pin_flags(CK_FLAGS *f, unsigned fails, unsigned max, CK_FLAGS low,
    CK_FLAGS final, CK_FLAGS locked)
{
	if (fails >= max)
		*f |= locked;
	else if (fails + 1 == max)
		*f |= final | low;
	else if (fails > 0)
		*f |= low;
}

static CK_RV
get_token_info(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo)
{
	const struct m2m_conf *conf;
	struct m2m_token_rec rec;
	struct p11_token *t;
	CK_RV rv;
	int r;

	if (pInfo == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((rv = p11_slot_check(slotID, &t)) != CKR_OK)
		return rv;
	conf = m2m_core_conf(p11.core);
	memset(pInfo, 0, sizeof(*pInfo));
	memset(&rec, 0, sizeof(rec));
	if (t != NULL && (r = m2m_store_token_get(m2m_core_store(p11.core),
	    t->id, &rec)) != 0)
		return p11_rv(r);
	pad_copy(pInfo->label, sizeof(pInfo->label), t ? rec.label : "");
	pad_copy(pInfo->manufacturerID, sizeof(pInfo->manufacturerID),
	    "m2mtoken");
	pad_copy(pInfo->model, sizeof(pInfo->model),
	    conf->backend == M2M_BACKEND_TPM ? "m2mtoken TPM" :
	    "m2mtoken HSM");
	pad_copy(pInfo->serialNumber, sizeof(pInfo->serialNumber),
	    t ? rec.serial : "");
	pInfo->flags = CKF_RNG | CKF_LOGIN_REQUIRED;
	if (t != NULL) {
		pInfo->flags |= CKF_TOKEN_INITIALIZED;
		if (rec.user_pin_set)
			pInfo->flags |= CKF_USER_PIN_INITIALIZED;
		pin_flags(&pInfo->flags, rec.user_fails, conf->max_pin_tries,
		    CKF_USER_PIN_COUNT_LOW, CKF_USER_PIN_FINAL_TRY,
		    CKF_USER_PIN_LOCKED);
		pin_flags(&pInfo->flags, rec.so_fails, conf->max_pin_tries,
		    CKF_SO_PIN_COUNT_LOW, CKF_SO_PIN_FINAL_TRY,
		    CKF_SO_PIN_LOCKED);
	}
	pInfo->ulMaxSessionCount = P11_MAX_SESSIONS;
	pInfo->ulSessionCount = t ? p11_session_count(t->id,
	    P11_COUNT_ALL) : 0;
	pInfo->ulMaxRwSessionCount = P11_MAX_SESSIONS;
	pInfo->ulRwSessionCount = t ? p11_session_count(t->id,
	    P11_COUNT_RW) : 0;
	pInfo->ulMaxPinLen = conf->pin_max;
	pInfo->ulMinPinLen = conf->pin_min;
	pInfo->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
	pInfo->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
	pInfo->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
	pInfo->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
	pInfo->firmwareVersion.minor = 1;
	memset(pInfo->utcTime, ' ', sizeof(pInfo->utcTime));
	m2m_wipe(&rec, sizeof(rec));
	return CKR_OK;
}

CK_RV
p11_C_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo)
{
	P11_CALL(get_token_info, slotID, pInfo);
}

static CK_RV
init_token(CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen,
    CK_UTF8CHAR_PTR pLabel)
{
	struct p11_token *t;
	uint64_t id = 0;
	CK_RV rv;
	int r;

	if (pPin == NULL || pLabel == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((rv = p11_slot_check(slotID, &t)) != CKR_OK)
		return rv;
	if (t != NULL && p11_session_count(t->id, P11_COUNT_ALL) != 0)
		return CKR_SESSION_EXISTS;
	if (t == NULL && p11.ntokens >= P11_MAX_TOKENS) {
		m2m_info("C_InitToken: the store holds %d tokens, the most "
		    "this module shows (P11_MAX_TOKENS)", P11_MAX_TOKENS);
		return CKR_DEVICE_MEMORY;
	}
	r = m2m_core_token_init(p11.core, t ? t->id : 0, pPin, ulPinLen,
	    pLabel, &id);
	if (r != 0) {
		m2m_info("C_InitToken: %s", m2m_strerror(r));
		return p11_rv(r);
	}
	if (t == NULL && id != slotID) {
		/* another process took this slot first */
		m2m_warn("C_InitToken: slot %lu was taken concurrently; the "
		    "new token is in slot %llu", slotID,
		    (unsigned long long)id);
	}
	if (t != NULL)
		p11_token_logout(t);
	return p11_tokens_refresh();
}

CK_RV
p11_C_InitToken(CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen,
    CK_UTF8CHAR_PTR pLabel)
{
	P11_CALL(init_token, slotID, pPin, ulPinLen, pLabel);
}

/* ------------------------------------------------------------------ */
/* PINs                                                                */
/* ------------------------------------------------------------------ */

/*
 * C_InitPIN and C_SetPIN make the new verifier (PBKDF2, or the TPM's seal)
 * without the module lock, as C_Login checks a PIN (see login()); the old
 * PIN of C_SetPIN is checked the same way.  The session must still be
 * open when the new verifier is stored.
 */
static CK_RV
init_pin(struct p11_session *s, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
	CK_SESSION_HANDLE h = s->handle;
	struct m2m_secret *objauth = NULL;
	uint8_t v[M2M_PIN_VERIFIER_MAX];
	size_t vlen = 0;
	uint64_t token_id = s->token_id;
	CK_RV rv;
	int r;

	if (pPin == NULL && ulPinLen != 0)
		return CKR_ARGUMENTS_BAD;
	if ((r = m2m_core_pin_len_check(p11.core, ulPinLen)) != 0)
		return p11_rv(r);
	/* a copy: a C_Logout may free the token's while the lock is off */
	if (p11_session_objauth(s) != NULL && (r = m2m_secret_from(
	    m2m_secret_data(p11_session_objauth(s)),
	    m2m_secret_len(p11_session_objauth(s)), &objauth)) != 0)
		return p11_rv(r);

	p11_unlocked_begin();
	r = m2m_core_pin_make(p11.core, pPin, ulPinLen, objauth, v, &vlen);
	p11_unlocked_end();

	if (r != 0) {
		rv = p11_rv(r);
		goto out;
	}
	if ((s = p11_session_find(h)) == NULL) {
		rv = CKR_SESSION_CLOSED;
		goto out;
	}
	if (s->token_id != token_id || !p11_so_logged_in(s)) {
		rv = CKR_USER_NOT_LOGGED_IN;
		goto out;
	}
	r = m2m_core_pin_store(p11.core, token_id, 0, v, vlen,
	    M2M_PIN_FAILS_RESET);
	rv = p11_rv(r);
 out:
	m2m_secret_free(objauth);
	m2m_wipe(v, sizeof(v));
	return rv;
}

CK_RV
p11_C_InitPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
	P11_SESSION_CALL(hSession, P11_NEED_SO | P11_NEED_RW, init_pin, pPin,
	    ulPinLen);
}

static CK_RV
set_pin(struct p11_session *s, CK_UTF8CHAR_PTR pOldPin, CK_ULONG ulOldLen,
    CK_UTF8CHAR_PTR pNewPin, CK_ULONG ulNewLen)
{
	CK_SESSION_HANDLE h = s->handle;
	struct m2m_secret *objauth = NULL;
	struct m2m_pin_try pt;
	uint8_t v[M2M_PIN_VERIFIER_MAX];
	size_t vlen = 0;
	uint64_t token_id = s->token_id;
	int r, rmake = 0, so = p11_so_logged_in(s);
	CK_RV rv;

	if ((pOldPin == NULL && ulOldLen != 0) ||
	    (pNewPin == NULL && ulNewLen != 0))
		return CKR_ARGUMENTS_BAD;
	memset(&pt, 0, sizeof(pt));
	if ((r = m2m_core_pin_len_check(p11.core, ulNewLen)) != 0 ||
	    (r = m2m_core_pin_reserve(p11.core, token_id, so, ulOldLen,
	    &pt)) != 0) {
		rv = p11_rv_in(P11_RV_PIN, r);
		goto out;
	}

	p11_unlocked_begin();
	r = m2m_core_pin_verify(p11.core, &pt, pOldPin, ulOldLen, &objauth);
	if (r == 0)
		rmake = m2m_core_pin_make(p11.core, pNewPin, ulNewLen, objauth,
		    v, &vlen);
	p11_unlocked_end();

	if ((r = m2m_core_pin_record(p11.core, &pt, r)) != 0) {
		rv = p11_rv_in(P11_RV_PIN, r);
		goto out;
	}
	if (rmake != 0) {
		rv = p11_rv(rmake);
		goto out;
	}
	if (p11_session_find(h) == NULL) {
		rv = CKR_SESSION_CLOSED;
		goto out;
	}
	r = m2m_core_pin_store(p11.core, token_id, so, v, vlen,
	    M2M_PIN_FAILS_KEEP);
	rv = p11_rv_in(P11_RV_PIN, r);
 out:
	m2m_secret_free(objauth);
	m2m_wipe(v, sizeof(v));
	m2m_wipe(&pt, sizeof(pt));
	return rv;
}

CK_RV
p11_C_SetPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pOldPin,
    CK_ULONG ulOldLen, CK_UTF8CHAR_PTR pNewPin, CK_ULONG ulNewLen)
{
	P11_SESSION_CALL(hSession, P11_NEED_RW, set_pin, pOldPin, ulOldLen,
	    pNewPin, ulNewLen);
}

/* ------------------------------------------------------------------ */
/* sessions                                                            */
/* ------------------------------------------------------------------ */

static CK_RV
open_session(CK_SLOT_ID slotID, CK_FLAGS flags,
    CK_SESSION_HANDLE_PTR phSession)
{
	struct p11_token *t;
	struct p11_session *s;
	CK_RV rv;

	if (phSession == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((flags & CKF_SERIAL_SESSION) == 0)
		return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
	if ((rv = p11_slot_check(slotID, &t)) != CKR_OK)
		return rv;
	if (t == NULL)
		return CKR_TOKEN_NOT_RECOGNIZED;
	if ((flags & CKF_RW_SESSION) == 0 && t->login == P11_LOGIN_SO)
		return CKR_SESSION_READ_WRITE_SO_EXISTS;
	if ((rv = p11_session_open(t, flags, &s)) != CKR_OK)
		return rv;
	*phSession = s->handle;
	return CKR_OK;
}

CK_RV
p11_C_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication,
    CK_NOTIFY Notify, CK_SESSION_HANDLE_PTR phSession)
{
	(void)pApplication;
	(void)Notify;
	P11_CALL(open_session, slotID, flags, phSession);
}

static CK_RV
close_session(struct p11_session *s)
{
	p11_session_close(s);
	return CKR_OK;
}

CK_RV
p11_C_CloseSession(CK_SESSION_HANDLE hSession)
{
	P11_SESSION_CALL(hSession, P11_NEED_SESSION, close_session);
}

static CK_RV
close_all_sessions(CK_SLOT_ID slotID)
{
	struct p11_token *t;
	size_t i;
	CK_RV rv;

	if ((rv = p11_slot_check(slotID, &t)) != CKR_OK || t == NULL)
		return rv;
	for (i = 0; i < P11_MAX_SESSIONS; i++)
		if (p11.sessions[i].handle != 0 &&
		    p11.sessions[i].token_id == t->id)
			p11_session_close(&p11.sessions[i]);
	return CKR_OK;
}

CK_RV
p11_C_CloseAllSessions(CK_SLOT_ID slotID)
{
	P11_CALL(close_all_sessions, slotID);
}

static CK_RV
get_session_info(struct p11_session *s, CK_SESSION_INFO_PTR pInfo)
{
	int rw = p11_session_is_rw(s);

	if (pInfo == NULL)
		return CKR_ARGUMENTS_BAD;
	memset(pInfo, 0, sizeof(*pInfo));
	pInfo->slotID = s->token_id;
	pInfo->flags = s->flags;
	if (p11_so_logged_in(s))
		pInfo->state = CKS_RW_SO_FUNCTIONS;
	else if (p11_user_logged_in(s))
		pInfo->state = rw ? CKS_RW_USER_FUNCTIONS :
		    CKS_RO_USER_FUNCTIONS;
	else
		pInfo->state = rw ? CKS_RW_PUBLIC_SESSION :
		    CKS_RO_PUBLIC_SESSION;
	return CKR_OK;
}

CK_RV
p11_C_GetSessionInfo(CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo)
{
	P11_SESSION_CALL(hSession, P11_NEED_SESSION, get_session_info, pInfo);
}

static CK_RV
get_operation_state(struct p11_session *s, CK_ULONG_PTR pulLen)
{
	/* an operation's state holds a key in the hardware: never saved */
	if (pulLen == NULL)
		return CKR_ARGUMENTS_BAD;
	if (s->op == P11_OP_NONE && s->digest == NULL)
		return CKR_OPERATION_NOT_INITIALIZED;
	return CKR_STATE_UNSAVEABLE;
}

CK_RV
p11_C_GetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pState,
    CK_ULONG_PTR pulLen)
{
	(void)pState;
	P11_SESSION_CALL(hSession, P11_NEED_SESSION, get_operation_state,
	    pulLen);
}

static CK_RV
set_operation_state(struct p11_session *s, CK_BYTE_PTR pState)
{
	(void)s;
	/* no state is ever saved (C_GetOperationState), so none is valid */
	return pState == NULL ? CKR_ARGUMENTS_BAD : CKR_SAVED_STATE_INVALID;
}

CK_RV
p11_C_SetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pState,
    CK_ULONG ulLen, CK_OBJECT_HANDLE hEnc, CK_OBJECT_HANDLE hAuth)
{
	(void)ulLen;
	(void)hEnc;
	(void)hAuth;
	P11_SESSION_CALL(hSession, P11_NEED_SESSION, set_operation_state,
	    pState);
}

static CK_RV
session_cancel(struct p11_session *s, CK_FLAGS flags)
{
	if (flags & (CKF_SIGN | CKF_VERIFY | CKF_ENCRYPT | CKF_DECRYPT))
		p11_session_op_reset(s);
	if ((flags & CKF_FIND_OBJECTS) != 0)
		p11_session_find_reset(s);
	if ((flags & CKF_DIGEST) != 0)
		p11_session_digest_reset(s);
	return CKR_OK;
}

CK_RV
p11_C_SessionCancel(CK_SESSION_HANDLE hSession, CK_FLAGS flags)
{
	P11_SESSION_CALL(hSession, P11_NEED_SESSION, session_cancel, flags);
}

/* ------------------------------------------------------------------ */
/* login                                                               */
/* ------------------------------------------------------------------ */

/*
 * The login checks that need the module lock: on the session (still open:
 * the PIN check runs unlocked, so it may have been closed meanwhile) and
 * on the token's login state.  *ret_t the session's token.
 */
static CK_RV
login_state_check(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType,
    struct p11_token **ret_t)
{
	struct p11_session *s;
	struct p11_token *t;
	size_t i;

	if ((s = p11_session_find(hSession)) == NULL)
		return CKR_SESSION_HANDLE_INVALID;
	t = s->token;
	if (userType == CKU_CONTEXT_SPECIFIC)
		return t->login == P11_LOGIN_USER ?
		    CKR_OPERATION_NOT_INITIALIZED : CKR_USER_NOT_LOGGED_IN;
	if (userType != CKU_SO && userType != CKU_USER)
		return CKR_USER_TYPE_INVALID;
	if (t->login == (userType == CKU_SO ? P11_LOGIN_SO : P11_LOGIN_USER))
		return CKR_USER_ALREADY_LOGGED_IN;
	if (t->login != P11_LOGIN_NONE)
		return CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
	if (userType == CKU_SO) {
		for (i = 0; i < P11_MAX_SESSIONS; i++) {
			if (p11.sessions[i].handle != 0 &&
			    p11.sessions[i].token_id == t->id &&
			    !p11_session_is_rw(&p11.sessions[i]))
				return CKR_SESSION_READ_ONLY_EXISTS;
		}
	}
	*ret_t = t;
	return CKR_OK;
}

/*
 * C_Login in three steps (core.h): the guess is counted in the store under
 * the module lock, checked (PBKDF2 or the TPM, the slow part) without it,
 * so that other threads' calls go on meanwhile, and recorded under the
 * lock again, where the session and login state are checked once more.
 */
static CK_RV
login(struct p11_session *s, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin,
    CK_ULONG ulPinLen)
{
	CK_SESSION_HANDLE h = s->handle;
	struct p11_token *t = NULL;
	struct m2m_secret *objauth = NULL;
	struct m2m_pin_try pt;
	uint64_t token_id;
	int so = userType == CKU_SO, r;
	CK_RV rv;

	if (pPin == NULL && ulPinLen != 0)
		return CKR_ARGUMENTS_BAD;
	if ((rv = login_state_check(h, userType, &t)) != CKR_OK)
		return rv;
	token_id = t->id;
	memset(&pt, 0, sizeof(pt));
	if ((r = m2m_core_pin_reserve(p11.core, token_id, so, ulPinLen,
	    &pt)) != 0) {
		m2m_info("C_Login: %s", m2m_strerror(r));
		rv = p11_rv_in(P11_RV_PIN, r);
		goto out;
	}

	p11_unlocked_begin();
	r = m2m_core_pin_verify(p11.core, &pt, pPin, ulPinLen, &objauth);
	p11_unlocked_end();

	if ((r = m2m_core_pin_record(p11.core, &pt, r)) != 0) {
		m2m_info("C_Login: %s", m2m_strerror(r));
		rv = p11_rv_in(P11_RV_PIN, r);
		goto out;
	}
	/* the world may have changed while the lock was not held */
	if ((rv = login_state_check(h, userType, &t)) != CKR_OK) {
		if (rv == CKR_SESSION_HANDLE_INVALID)
			rv = CKR_SESSION_CLOSED;
		goto out;
	}
	if (M2M_NEVER(t->id != token_id)) {
		rv = CKR_GENERAL_ERROR;
		goto out;
	}
	t->login = so ? P11_LOGIN_SO : P11_LOGIN_USER;
	t->objauth = objauth;
	objauth = NULL;	/* transferred */
	rv = CKR_OK;
 out:
	m2m_secret_free(objauth);
	m2m_wipe(&pt, sizeof(pt));
	return rv;
}

CK_RV
p11_C_Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin,
    CK_ULONG ulPinLen)
{
	P11_SESSION_CALL(hSession, P11_NEED_SESSION, login, userType, pPin,
	    ulPinLen);
}

CK_RV
p11_C_LoginUser(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType,
    CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen, CK_UTF8CHAR_PTR pUsername,
    CK_ULONG ulUsernameLen)
{
	/* this token has no user names: only the empty one */
	if (pUsername == NULL || ulUsernameLen != 0)
		return CKR_ARGUMENTS_BAD;
	P11_SESSION_CALL(hSession, P11_NEED_SESSION, login, userType, pPin,
	    ulPinLen);
}

static CK_RV
logout(struct p11_session *s)
{
	if (s->token->login == P11_LOGIN_NONE)
		return CKR_USER_NOT_LOGGED_IN;
	p11_token_logout(s->token);
	return CKR_OK;
}

CK_RV
p11_C_Logout(CK_SESSION_HANDLE hSession)
{
	P11_SESSION_CALL(hSession, P11_NEED_SESSION, logout);
}

/* ------------------------------------------------------------------ */
/* functions this token does not offer                                 */
/* ------------------------------------------------------------------ */

CK_RV
p11_C_GetFunctionStatus(CK_SESSION_HANDLE hSession)
{
	(void)hSession;
	return p11_initialized() ? CKR_FUNCTION_NOT_PARALLEL :
	    CKR_CRYPTOKI_NOT_INITIALIZED;
}

CK_RV
p11_C_CancelFunction(CK_SESSION_HANDLE hSession)
{
	(void)hSession;
	return p11_initialized() ? CKR_FUNCTION_NOT_PARALLEL :
	    CKR_CRYPTOKI_NOT_INITIALIZED;
}

CK_RV
p11_C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR pSlot, CK_VOID_PTR pRes)
{
	(void)flags;
	(void)pSlot;
	(void)pRes;
	return p11_initialized() ? CKR_FUNCTION_NOT_SUPPORTED :
	    CKR_CRYPTOKI_NOT_INITIALIZED;
}
