/*
 * m2mtokend: the calls of one client-mode connection on the local
 * module (see p11srv.h).  The codec (p11wire/codec.c) decodes a request
 * into arguments with the client's NULL pointers and buffer sizes; this
 * file calls the real function with them and encodes the reply.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "log.h"
#include "p11srv.h"

#define SLOTS_MAX	256	/* most slots the filter looks at */

struct p11srv {
	CK_FUNCTION_LIST_3_0	*fl;
	p11srv_visible_fn	 visible;
	void			*arg;
	struct p11w_arena	 ar;
	int			 initialized;
	struct mtd_log_limit	 lim_login[8];	/* token writes refused, per
						   call (token_writes) */
};

/* see p11srv.h */
struct p11srv *
p11srv_new(CK_FUNCTION_LIST_3_0 *fl, p11srv_visible_fn visible, void *arg,
    size_t frame_max)
{
	struct p11srv *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if (p11w_arena_init(&s->ar, frame_max) != 0) {
		free(s);
		return NULL;
	}
	s->fl = fl;
	s->visible = visible;
	s->arg = arg;
	return s;
}

/* see p11srv.h */
void
p11srv_free(struct p11srv *s)
{
	if (s == NULL)
		return;
	if (s->initialized)
		(void)s->fl->C_Finalize(NULL);
	p11w_arena_free(&s->ar);
	free(s);
}

/*
 * May this connection see slot?  A slot the module does not know (or a
 * module error) passes: the real call gives its own answer.
 */
static int
slot_visible(struct p11srv *s, CK_SLOT_ID slot)
{
	CK_TOKEN_INFO ti;

	if (s->visible == NULL)
		return 1;
	if (s->fl->C_GetTokenInfo(slot, &ti) != CKR_OK)
		return 1;
	return s->visible(s->arg, ti.label);
}

static CK_RV
get_slot_list(struct p11srv *s, CK_BBOOL present, CK_SLOT_ID_PTR list,
    CK_ULONG_PTR count)
{
	CK_SLOT_ID all[SLOTS_MAX];
	CK_ULONG n = SLOTS_MAX, i, k = 0;
	CK_RV rv;

	if (s->visible == NULL || count == NULL)
		return s->fl->C_GetSlotList(present, list, count);
	if ((rv = s->fl->C_GetSlotList(present, all, &n)) != CKR_OK)
		return rv == CKR_BUFFER_TOO_SMALL ? CKR_DEVICE_MEMORY : rv;
	for (i = 0; i < n; i++)
		if (slot_visible(s, all[i]))
			all[k++] = all[i];
	if (list == NULL) {
		*count = k;
		return CKR_OK;
	}
	if (*count < k) {
		*count = k;
		return CKR_BUFFER_TOO_SMALL;
	}
	memcpy(list, all, k * sizeof(*list));
	*count = k;
	return CKR_OK;
}

static CK_RV
init_token(struct p11srv *s, CK_SLOT_ID slot, CK_UTF8CHAR_PTR pin,
    CK_ULONG pinlen, CK_UTF8CHAR_PTR label)
{
	char shown[64], text[33];

	if (label != NULL && s->visible != NULL &&
	    !s->visible(s->arg, label)) {
		memcpy(text, label, 32);
		text[32] = '\0';
		mtd_log(MTD_LOG_WARNING, "pkcs11: C_InitToken: label '%s' "
		    "is not one this client may see",
		    mtd_log_safe(text, shown, sizeof(shown)));
		return CKR_TOKEN_WRITE_PROTECTED;
	}
	return s->fl->C_InitToken(slot, pin, pinlen, label);
}

/*
 * What a template says of CKA_TOKEN: 1 a token object (TRUE, or a value
 * that is not a plain FALSE: the module refuses it, but not before this
 * check), 0 FALSE, -1 not given.
 */
static int
tmpl_token(const CK_ATTRIBUTE *t, CK_ULONG n)
{
	CK_ULONG i;
	int r = -1;

	for (i = 0; t != NULL && i < n; i++) {
		if (t[i].type != CKA_TOKEN)
			continue;
		if (t[i].pValue == NULL ||
		    t[i].ulValueLen != sizeof(CK_BBOOL) ||
		    *(const CK_BBOOL *)t[i].pValue != CK_FALSE)
			return 1;
		r = 0;
	}
	return r;
}

/*
 * Is obj a token object?  0 when the module cannot say (a bad handle, an
 * object this session may not see): the real call answers then.
 */
static int
obj_token(struct p11srv *s, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj)
{
	CK_BBOOL v = CK_FALSE;
	CK_ATTRIBUTE a = { CKA_TOKEN, &v, sizeof(v) };

	if (s->fl->C_GetAttributeValue(h, obj, &a, 1) != CKR_OK ||
	    a.ulValueLen != sizeof(v))
		return 0;
	return v != CK_FALSE;
}

/*
 * A call that creates, changes or destroys a token object (token: 1)
 * needs a session logged in (as the user, or as the SO): in client mode
 * the token's store is the daemon's, shared by every client, and a
 * client without a PIN must not fill it or plant objects whose labels
 * shadow the real ones (found in review: the module asks only an R/W
 * session of a public token object).  Session objects stay free.
 * CKR_OK, or CKR_USER_NOT_LOGGED_IN and a log line.  A session the
 * module does not know passes: the real call answers.
 */
static CK_RV
token_write(struct p11srv *s, uint32_t call, int k, CK_SESSION_HANDLE h,
    int token)
{
	CK_SESSION_INFO si;

	if (token != 1 || s->fl->C_GetSessionInfo(h, &si) != CKR_OK ||
	    si.state == CKS_RO_USER_FUNCTIONS ||
	    si.state == CKS_RW_USER_FUNCTIONS ||
	    si.state == CKS_RW_SO_FUNCTIONS)
		return CKR_OK;
	mtd_log_limited(&s->lim_login[k], MTD_LOG_WARNING, "pkcs11: %s of a "
	    "token object without a login: CKR_USER_NOT_LOGGED_IN",
	    p11w_call_name(call));
	return CKR_USER_NOT_LOGGED_IN;
}

/*
 * The token objects call would create, change or destroy (token_write);
 * each call its own line limit (s->lim_login[k]).
 */
static CK_RV
token_writes(struct p11srv *s, uint32_t call, struct p11w_arg *a)
{
	CK_SESSION_HANDLE h = a[0].v;
	int t;

	switch (call) {
	case P11W_CALL_C_CreateObject:
		return token_write(s, call, 0, h, tmpl_token(a[1].p, a[1].v));
	case P11W_CALL_C_CopyObject:
		/* the copy is on the token if the source is, unless told */
		if ((t = tmpl_token(a[2].p, a[2].v)) == -1)
			t = obj_token(s, h, a[1].v);
		return token_write(s, call, 1, h, t);
	case P11W_CALL_C_SetAttributeValue:
		t = tmpl_token(a[2].p, a[2].v) == 1 || obj_token(s, h, a[1].v);
		return token_write(s, call, 2, h, t);
	case P11W_CALL_C_DestroyObject:
		return token_write(s, call, 3, h, obj_token(s, h, a[1].v));
	case P11W_CALL_C_GenerateKey:
		return token_write(s, call, 4, h, tmpl_token(a[2].p, a[2].v));
	case P11W_CALL_C_GenerateKeyPair:
		t = tmpl_token(a[2].p, a[2].v) == 1 ||
		    tmpl_token(a[3].p, a[3].v) == 1;
		return token_write(s, call, 5, h, t);
	case P11W_CALL_C_UnwrapKey:
		return token_write(s, call, 6, h, tmpl_token(a[4].p, a[4].v));
	case P11W_CALL_C_DeriveKey:
		return token_write(s, call, 7, h, tmpl_token(a[3].p, a[3].v));
	}
	return CKR_OK;
}

#define V(i)	(a[i].v)
#define P(i)	(a[i].p)
#define LP(i)	(a[i].lp)
#define CASE(name, ...)							\
	case P11W_CALL_##name:						\
		return fl->name(__VA_ARGS__);
#define SLOT_CASE(name, ...)						\
	case P11W_CALL_##name:						\
		if (!slot_visible(s, V(0)))				\
			return CKR_SLOT_ID_INVALID;			\
		return fl->name(__VA_ARGS__);

/* The real function of call over the decoded arguments. */
static CK_RV
dispatch(struct p11srv *s, uint32_t call, struct p11w_arg *a)
{
	CK_FUNCTION_LIST_3_0 *fl = s->fl;

	switch (call) {
	CASE(C_GetInfo, P(0))
	case P11W_CALL_C_GetSlotList:
		return get_slot_list(s, (CK_BBOOL)V(0), P(1), LP(1));
	SLOT_CASE(C_GetSlotInfo, V(0), P(1))
	SLOT_CASE(C_GetTokenInfo, V(0), P(1))
	SLOT_CASE(C_GetMechanismList, V(0), P(1), LP(1))
	SLOT_CASE(C_GetMechanismInfo, V(0), V(1), P(2))
	case P11W_CALL_C_InitToken:
		if (!slot_visible(s, V(0)))
			return CKR_SLOT_ID_INVALID;
		return init_token(s, V(0), P(1), V(1), P(2));
	CASE(C_InitPIN, V(0), P(1), V(1))
	CASE(C_SetPIN, V(0), P(1), V(1), P(2), V(2))
	SLOT_CASE(C_OpenSession, V(0), V(1), NULL, NULL, P(2))
	CASE(C_CloseSession, V(0))
	SLOT_CASE(C_CloseAllSessions, V(0))
	CASE(C_GetSessionInfo, V(0), P(1))
	CASE(C_GetOperationState, V(0), P(1), LP(1))
	CASE(C_SetOperationState, V(0), P(1), V(1), V(2), V(3))
	CASE(C_Login, V(0), V(1), P(2), V(2))
	CASE(C_Logout, V(0))
	CASE(C_CreateObject, V(0), P(1), V(1), P(2))
	CASE(C_CopyObject, V(0), V(1), P(2), V(2), P(3))
	CASE(C_DestroyObject, V(0), V(1))
	CASE(C_GetObjectSize, V(0), V(1), P(2))
	CASE(C_GetAttributeValue, V(0), V(1), P(2), V(2))
	CASE(C_SetAttributeValue, V(0), V(1), P(2), V(2))
	CASE(C_FindObjectsInit, V(0), P(1), V(1))
	CASE(C_FindObjects, V(0), P(1), V(1), LP(1))
	CASE(C_FindObjectsFinal, V(0))
	CASE(C_EncryptInit, V(0), P(1), V(2))
	CASE(C_Encrypt, V(0), P(1), V(1), P(2), LP(2))
	CASE(C_EncryptUpdate, V(0), P(1), V(1), P(2), LP(2))
	CASE(C_EncryptFinal, V(0), P(1), LP(1))
	CASE(C_DecryptInit, V(0), P(1), V(2))
	CASE(C_Decrypt, V(0), P(1), V(1), P(2), LP(2))
	CASE(C_DecryptUpdate, V(0), P(1), V(1), P(2), LP(2))
	CASE(C_DecryptFinal, V(0), P(1), LP(1))
	CASE(C_DigestInit, V(0), P(1))
	CASE(C_Digest, V(0), P(1), V(1), P(2), LP(2))
	CASE(C_DigestUpdate, V(0), P(1), V(1))
	CASE(C_DigestKey, V(0), V(1))
	CASE(C_DigestFinal, V(0), P(1), LP(1))
	CASE(C_SignInit, V(0), P(1), V(2))
	CASE(C_Sign, V(0), P(1), V(1), P(2), LP(2))
	CASE(C_SignUpdate, V(0), P(1), V(1))
	CASE(C_SignFinal, V(0), P(1), LP(1))
	CASE(C_SignRecoverInit, V(0), P(1), V(2))
	CASE(C_SignRecover, V(0), P(1), V(1), P(2), LP(2))
	CASE(C_VerifyInit, V(0), P(1), V(2))
	CASE(C_Verify, V(0), P(1), V(1), P(2), V(2))
	CASE(C_VerifyUpdate, V(0), P(1), V(1))
	CASE(C_VerifyFinal, V(0), P(1), V(1))
	CASE(C_VerifyRecoverInit, V(0), P(1), V(2))
	CASE(C_VerifyRecover, V(0), P(1), V(1), P(2), LP(2))
	CASE(C_DigestEncryptUpdate, V(0), P(1), V(1), P(2), LP(2))
	CASE(C_DecryptDigestUpdate, V(0), P(1), V(1), P(2), LP(2))
	CASE(C_SignEncryptUpdate, V(0), P(1), V(1), P(2), LP(2))
	CASE(C_DecryptVerifyUpdate, V(0), P(1), V(1), P(2), LP(2))
	CASE(C_GenerateKey, V(0), P(1), P(2), V(2), P(3))
	CASE(C_GenerateKeyPair, V(0), P(1), P(2), V(2), P(3), V(3), P(4),
	    P(5))
	CASE(C_WrapKey, V(0), P(1), V(2), V(3), P(4), LP(4))
	CASE(C_UnwrapKey, V(0), P(1), V(2), P(3), V(3), P(4), V(4), P(5))
	CASE(C_DeriveKey, V(0), P(1), V(2), P(3), V(3), P(4))
	CASE(C_SeedRandom, V(0), P(1), V(1))
	CASE(C_GenerateRandom, V(0), P(1), V(1))
	CASE(C_GetFunctionStatus, V(0))
	CASE(C_CancelFunction, V(0))
	CASE(C_WaitForSlotEvent, V(0), P(1), NULL)
	CASE(C_LoginUser, V(0), V(1), P(2), V(2), P(3), V(3))
	CASE(C_SessionCancel, V(0), V(1))
	}
	return CKR_FUNCTION_NOT_SUPPORTED;
}

#undef V
#undef P
#undef LP
#undef CASE
#undef SLOT_CASE

/* C_Initialize and C_Finalize: no arguments on the wire. */
static CK_RV
init_fini(struct p11srv *s, uint32_t call)
{
	CK_C_INITIALIZE_ARGS args;
	CK_RV rv;

	if (call == P11W_CALL_C_Finalize) {
		rv = s->fl->C_Finalize(NULL);
		if (rv == CKR_OK)
			s->initialized = 0;
		return rv;
	}
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	rv = s->fl->C_Initialize(&args);
	if (rv == CKR_OK)
		s->initialized = 1;
	return rv;
}

/* see p11srv.h */
int
p11srv_call(struct p11srv *s, uint32_t call, const uint8_t *body,
    size_t len, struct p11w_buf *reply, char *err, size_t errlen)
{
	struct p11w_arg a[P11W_MAX_ARGS];
	struct p11w_rd r;
	const char *name = p11w_call_name(call);
	CK_RV rv;
	int ret = P11W_OK;

	if (call == P11W_CALL_HELLO || name == NULL) {
		snprintf(err, errlen, "call %u is not a call after HELLO",
		    call);
		return P11W_ERR_ORDER;
	}
	if (call == P11W_CALL_C_Initialize || call == P11W_CALL_C_Finalize) {
		if (len != 0) {
			snprintf(err, errlen, "%s takes no arguments (%zu "
			    "bytes)", name, len);
			return P11W_ERR_MALFORMED;
		}
		p11w_put_u64(reply, init_fini(s, call));
		goto out;
	}
	p11w_rd_init(&r, body, len);
	if (p11w_req_decode(&r, call, a, &s->ar) != 0) {
		snprintf(err, errlen, "the arguments of %s (%zu bytes) do "
		    "not decode", name, len);
		ret = P11W_ERR_MALFORMED;
		goto out;
	}
	if ((rv = token_writes(s, call, a)) == CKR_OK)
		rv = dispatch(s, call, a);
	p11w_reply_encode(reply, call, a, rv);
 out:
	p11w_arena_reset(&s->ar);
	if (ret == P11W_OK && reply->failed) {
		snprintf(err, errlen, "the reply of %s does not fit", name);
		ret = P11W_ERR_INTERNAL;
	}
	explicit_bzero(a, sizeof(a));
	return ret;
}
