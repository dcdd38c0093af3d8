/*
 * m2mtoken: the session table of pipelined operation init in client mode
 * (see remote_pipe.h).
 */
#include <stdlib.h>
#include <string.h>

#include "remote_pipe.h"

/* What the client knows of a session's operation. */
enum rp_state {
	RP_UNKNOWN = 0,		/* anything may be active: no pipelining */
	RP_IDLE,		/* no operation active */
	RP_ACTIVE_SIGN,		/* a sign operation, started by an init */
	RP_ACTIVE_VERIFY
};

/* An init answered CKR_OK by the daemon. */
struct rp_cached {
	int			 valid;
	uint64_t		 epoch;
	CK_MECHANISM_TYPE	 mech;
	CK_OBJECT_HANDLE	 key;
	size_t			 plen;
	uint8_t			 param[RP_PARAM_MAX];
};

struct rp_sess {
	struct rp_sess		*next;
	CK_SESSION_HANDLE	 h;
	uint64_t		 gen;
	enum rp_state		 state;
	struct rp_cached	 cache[2];	/* RP_SIGN, RP_VERIFY */
	uint32_t		 pipe_id;	/* pipelined, not answered */
	uint64_t		 pipe_seq;	/* the last pipelined, its seq */
	int			 pend_kind;	/* -1, RP_SIGN, RP_VERIFY */
	CK_RV			 pend_rv;
};

static struct rp_sess *sessions;
static uint64_t next_gen = 1;

/* RP_SIGN, RP_VERIFY: the operation call belongs to; -1 otherwise. */
static int
op_kind(uint32_t call)
{
	switch (call) {
	case P11W_CALL_C_SignInit:
	case P11W_CALL_C_Sign:
	case P11W_CALL_C_SignUpdate:
	case P11W_CALL_C_SignFinal:
	case P11W_CALL_C_SignEncryptUpdate:
		return RP_SIGN;
	case P11W_CALL_C_VerifyInit:
	case P11W_CALL_C_Verify:
	case P11W_CALL_C_VerifyUpdate:
	case P11W_CALL_C_VerifyFinal:
	case P11W_CALL_C_DecryptVerifyUpdate:
		return RP_VERIFY;
	}
	return -1;
}

/* see remote_pipe.h */
int
rp_keeps_epoch(uint32_t call)
{
	switch (call) {
	case P11W_CALL_C_GetInfo:
	case P11W_CALL_C_GetSlotList:
	case P11W_CALL_C_GetSlotInfo:
	case P11W_CALL_C_GetTokenInfo:
	case P11W_CALL_C_GetMechanismList:
	case P11W_CALL_C_GetMechanismInfo:
	case P11W_CALL_C_GetSessionInfo:
	case P11W_CALL_C_GetAttributeValue:
	case P11W_CALL_C_FindObjectsInit:
	case P11W_CALL_C_FindObjects:
	case P11W_CALL_C_FindObjectsFinal:
	case P11W_CALL_C_GenerateRandom:
	case P11W_CALL_C_EncryptInit:
	case P11W_CALL_C_Encrypt:
	case P11W_CALL_C_EncryptUpdate:
	case P11W_CALL_C_EncryptFinal:
	case P11W_CALL_C_DecryptInit:
	case P11W_CALL_C_Decrypt:
	case P11W_CALL_C_DecryptUpdate:
	case P11W_CALL_C_DecryptFinal:
	case P11W_CALL_C_DigestInit:
	case P11W_CALL_C_Digest:
	case P11W_CALL_C_DigestUpdate:
	case P11W_CALL_C_DigestFinal:
	case P11W_CALL_C_SignInit:
	case P11W_CALL_C_Sign:
	case P11W_CALL_C_SignUpdate:
	case P11W_CALL_C_SignFinal:
	case P11W_CALL_C_VerifyInit:
	case P11W_CALL_C_Verify:
	case P11W_CALL_C_VerifyUpdate:
	case P11W_CALL_C_VerifyFinal:
		return 1;
	}
	return 0;
}

/* see remote_pipe.h */
int
rp_mech_ok(CK_MECHANISM_TYPE type)
{
	switch (type) {
	case CKM_SHA_1_HMAC:
	case CKM_SHA_1_HMAC_GENERAL:
	case CKM_SHA224_HMAC:
	case CKM_SHA224_HMAC_GENERAL:
	case CKM_SHA256_HMAC:
	case CKM_SHA256_HMAC_GENERAL:
	case CKM_SHA384_HMAC:
	case CKM_SHA384_HMAC_GENERAL:
	case CKM_SHA512_HMAC:
	case CKM_SHA512_HMAC_GENERAL:
	case CKM_ECDSA:
	case CKM_ECDSA_SHA1:
	case CKM_ECDSA_SHA224:
	case CKM_ECDSA_SHA256:
	case CKM_ECDSA_SHA384:
	case CKM_ECDSA_SHA512:
		return 1;
	}
	return 0;
}

/*
 * 1 for a call that takes a session (its first argument) and cannot
 * change that session's operation: it leaves the table as it is.
 */
static int
leaves_op(uint32_t call)
{
	switch (call) {
	case P11W_CALL_C_GetSessionInfo:
	case P11W_CALL_C_GetAttributeValue:
	case P11W_CALL_C_GetObjectSize:
	case P11W_CALL_C_FindObjectsInit:
	case P11W_CALL_C_FindObjects:
	case P11W_CALL_C_FindObjectsFinal:
	case P11W_CALL_C_GenerateRandom:
	case P11W_CALL_C_SeedRandom:
	case P11W_CALL_C_GetOperationState:
		return 1;
	}
	return 0;
}

/* see remote_pipe.h */
int
rp_tracks(uint32_t call)
{
	switch (call) {
	case P11W_CALL_HELLO:
	case P11W_CALL_C_Initialize:
	case P11W_CALL_C_Finalize:
	case P11W_CALL_C_GetInfo:
	case P11W_CALL_C_GetSlotList:
	case P11W_CALL_C_GetSlotInfo:
	case P11W_CALL_C_GetTokenInfo:
	case P11W_CALL_C_GetMechanismList:
	case P11W_CALL_C_GetMechanismInfo:
	case P11W_CALL_C_OpenSession:
	case P11W_CALL_C_WaitForSlotEvent:
		return 0;
	}
	return call < P11W_CALL_COUNT && !leaves_op(call);
}

static struct rp_sess *
find(CK_SESSION_HANDLE h)
{
	struct rp_sess *s;

	for (s = sessions; s != NULL && s->h != h; s = s->next)
		;
	return s;
}

static void
forget(CK_SESSION_HANDLE h)
{
	struct rp_sess *s, **sp;

	for (sp = &sessions; (s = *sp) != NULL; sp = &s->next) {
		if (s->h == h) {
			*sp = s->next;
			free(s);
			return;
		}
	}
}

/* The init's mechanism as a cache entry would hold it: 0, or -1. */
static int
mech_fits(const CK_MECHANISM *m)
{
	if (m == NULL || !rp_mech_ok(m->mechanism) ||
	    m->ulParameterLen > RP_PARAM_MAX ||
	    (m->ulParameterLen != 0 && m->pParameter == NULL))
		return -1;
	return 0;
}

/* see remote_pipe.h */
int
rp_may_pipeline(uint32_t call, const struct p11w_arg *a, uint64_t epoch,
    uint64_t *ret_gen)
{
	const CK_MECHANISM *m = a[1].p;
	const struct rp_cached *c;
	struct rp_sess *s;
	int k;

	if ((call != P11W_CALL_C_SignInit && call != P11W_CALL_C_VerifyInit) ||
	    mech_fits(m) != 0 || (s = find(a[0].v)) == NULL)
		return 0;
	k = op_kind(call);
	c = &s->cache[k];
	if (s->state != RP_IDLE || s->pipe_id != 0 || s->pend_kind != -1 ||
	    !c->valid || c->epoch != epoch || c->mech != m->mechanism ||
	    c->key != a[2].v || c->plen != m->ulParameterLen ||
	    (c->plen != 0 && memcmp(c->param, m->pParameter, c->plen) != 0))
		return 0;
	*ret_gen = s->gen;
	return 1;
}

/* see remote_pipe.h */
void
rp_pipelined(uint32_t call, CK_SESSION_HANDLE h, uint32_t id, uint64_t seq)
{
	struct rp_sess *s;

	if ((s = find(h)) == NULL)
		return;
	s->state = op_kind(call) == RP_SIGN ? RP_ACTIVE_SIGN :
	    RP_ACTIVE_VERIFY;
	s->pipe_id = id;
	s->pipe_seq = seq;
}

/* see remote_pipe.h */
int
rp_init_reply(uint32_t call, CK_SESSION_HANDLE h, uint64_t gen, uint32_t id,
    CK_RV rv)
{
	struct rp_sess *s;

	if ((s = find(h)) == NULL || s->gen != gen || s->pipe_id != id)
		return 0;
	s->pipe_id = 0;
	if (rv == CKR_OK)
		return 0;
	/* the operation never began: no init of it is pipelined again */
	s->state = RP_UNKNOWN;
	s->cache[op_kind(call)].valid = 0;
	s->pend_kind = op_kind(call);
	s->pend_rv = rv;
	return 1;
}

/* see remote_pipe.h */
CK_RV
rp_take_pending(uint32_t call, const struct p11w_arg *a, uint64_t seq,
    int *ret_overtaken, int *ret_earlier)
{
	struct rp_sess *s;
	CK_RV rv;
	int k;

	*ret_overtaken = 0;
	*ret_earlier = 0;
	if ((k = op_kind(call)) == -1 || (s = find(a[0].v)) == NULL)
		return CKR_OK;
	/*
	 * Sent before the session's last pipelined init (another thread's
	 * call on the same session, which PKCS#11 leaves to the
	 * application): its reply comes first, and the init's error is not
	 * its own.
	 */
	if (s->pipe_seq != 0 && seq < s->pipe_seq) {
		*ret_earlier = 1;
		return CKR_OK;
	}
	if (s->pipe_id != 0) {
		*ret_overtaken = 1;
		return CKR_OK;
	}
	if (s->pend_kind != k)
		return CKR_OK;
	rv = s->pend_rv;
	s->pend_kind = -1;
	s->pend_rv = CKR_OK;
	return rv;
}

/* The state after a call of the active operation k that returned rv. */
static enum rp_state
op_next(uint32_t call, const struct p11w_arg *a, CK_RV rv)
{
	enum rp_state same = op_kind(call) == RP_SIGN ? RP_ACTIVE_SIGN :
	    RP_ACTIVE_VERIFY;

	switch (call) {
	case P11W_CALL_C_Sign:
	case P11W_CALL_C_SignFinal:
		/* 'o', the signature: C_Sign's a[2], C_SignFinal's a[1] */
		a += call == P11W_CALL_C_Sign ? 2 : 1;
		if (rv == CKR_OK)
			return a->p == NULL ? same : RP_IDLE;
		return rv == CKR_BUFFER_TOO_SMALL ? same : RP_UNKNOWN;
	case P11W_CALL_C_Verify:
	case P11W_CALL_C_VerifyFinal:
		return rv == CKR_OK || rv == CKR_SIGNATURE_INVALID ? RP_IDLE :
		    RP_UNKNOWN;
	case P11W_CALL_C_SignUpdate:
	case P11W_CALL_C_VerifyUpdate:
		return rv == CKR_OK ? same : RP_UNKNOWN;
	}
	return RP_UNKNOWN;
}

/* An init answered rv by the daemon: the session's entry after it. */
static void
init_done(uint32_t call, const struct p11w_arg *a, CK_RV rv,
    uint64_t epoch0, uint64_t epoch1)
{
	const CK_MECHANISM *m = a[1].p;
	struct rp_cached *c;
	struct rp_sess *s;
	int k = op_kind(call);

	if ((s = find(a[0].v)) == NULL) {
		if (rv != CKR_OK || epoch0 != epoch1 || mech_fits(m) != 0)
			return;
		/* out of memory: this session is not pipelined */
		if ((s = calloc(1, sizeof(*s))) == NULL)
			return;
		s->h = a[0].v;
		s->gen = next_gen++;
		s->pend_kind = -1;
		s->next = sessions;
		sessions = s;
	}
	if (rv != CKR_OK) {
		s->state = RP_UNKNOWN;
		return;
	}
	s->state = k == RP_SIGN ? RP_ACTIVE_SIGN : RP_ACTIVE_VERIFY;
	c = &s->cache[k];
	c->valid = 0;
	if (epoch0 != epoch1 || mech_fits(m) != 0)
		return;
	c->valid = 1;
	c->epoch = epoch0;
	c->mech = m->mechanism;
	c->key = a[2].v;
	c->plen = m->ulParameterLen;
	if (c->plen != 0)
		memcpy(c->param, m->pParameter, c->plen);
}

/* see remote_pipe.h */
void
rp_after(uint32_t call, const struct p11w_arg *a, CK_RV rv, int substituted,
    uint64_t epoch0, uint64_t epoch1)
{
	struct rp_sess *s;
	enum rp_state active;
	int k;

	switch (call) {
	case P11W_CALL_C_CloseSession:
		forget(a[0].v);
		return;
	case P11W_CALL_C_CloseAllSessions:
	case P11W_CALL_C_InitToken:
		rp_clear();
		return;
	case P11W_CALL_C_Login:
	case P11W_CALL_C_LoginUser:
	case P11W_CALL_C_Logout:
		/* every session of the token; a logout ends operations */
		for (s = sessions; s != NULL; s = s->next) {
			s->state = RP_UNKNOWN;
			if (call == P11W_CALL_C_Logout && rv == CKR_OK) {
				s->pend_kind = -1;
				s->pend_rv = CKR_OK;
			}
		}
		return;
	}
	if (!substituted && (call == P11W_CALL_C_SignInit ||
	    call == P11W_CALL_C_VerifyInit)) {
		init_done(call, a, rv, epoch0, epoch1);
		return;
	}
	if ((s = find(a[0].v)) == NULL)
		return;
	if (call == P11W_CALL_C_SessionCancel) {
		if ((s->pend_kind == RP_SIGN && (a[1].v & CKF_SIGN)) ||
		    (s->pend_kind == RP_VERIFY && (a[1].v & CKF_VERIFY))) {
			s->pend_kind = -1;
			s->pend_rv = CKR_OK;
		}
		s->state = RP_UNKNOWN;
		return;
	}
	k = op_kind(call);
	active = k == RP_SIGN ? RP_ACTIVE_SIGN : RP_ACTIVE_VERIFY;
	if (substituted || k == -1 || s->state != active)
		s->state = RP_UNKNOWN;
	else
		s->state = op_next(call, a, rv);
}

/* see remote_pipe.h */
void
rp_clear(void)
{
	struct rp_sess *s;

	while ((s = sessions) != NULL) {
		sessions = s->next;
		free(s);
	}
}

/* see remote_pipe.h */
size_t
rp_count(void)
{
	struct rp_sess *s;
	size_t n = 0;

	for (s = sessions; s != NULL; s = s->next)
		n++;
	return n;
}
