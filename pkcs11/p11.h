/*
 * pkcs11/ internals: the module's global state, slots, sessions, the
 * operation state of a session, and the one way into a C_* call.  Only
 * this layer knows CK_RV, handles and the PKCS#11 size-query rules.
 */
#ifndef M2M_P11_H
#define M2M_P11_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include <m2mtoken/pkcs11-m2m.h>

#include "backend.h"

struct m2m_attr;
struct m2m_core;
struct m2m_object;
struct m2m_secret;

#define P11_SESSION_OBJ_BIT	(1ULL << 61)	/* handle of a session object */
#define P11_DATA_MAX		(16u << 20)	/* most data one operation buffers */
#define P11_TEMPLATE_MAX	64		/* most attributes in a template */
#define P11_MAX_SESSIONS	1024
#define P11_MAX_SESSION_OBJECTS	1000000
/*
 * Most tokens (slots) one store holds: C_InitToken of one more is
 * CKR_DEVICE_MEMORY.  (Two processes racing for the last one can still
 * make one more; it is not shown, with an error in the log.)
 */
#define P11_MAX_TOKENS		64

enum p11_op {
	P11_OP_NONE = 0,
	P11_OP_SIGN,
	P11_OP_VERIFY,
	P11_OP_ENCRYPT,
	P11_OP_DECRYPT
};

/* Who is logged in to a token, in this application. */
enum p11_login {
	P11_LOGIN_NONE = 0,
	P11_LOGIN_USER,
	P11_LOGIN_SO
};

/* The state of a token as seen by this application. */
struct p11_token {
	uint64_t		 id;		/* store id == slot id */
	enum p11_login		 login;
	struct m2m_secret	*objauth;	/* while logged in; may be NULL */
};

struct p11_session {
	CK_SESSION_HANDLE	 handle;	/* 0: free entry */
	uint64_t		 token_id;
	struct p11_token	*token;		/* in p11.tokens, never moves */
	CK_FLAGS		 flags;		/* CKF_RW_SESSION, _SERIAL */

	/* C_FindObjects */
	int			 find_active;
	CK_OBJECT_HANDLE	*find_ids;
	size_t			 find_n;
	size_t			 find_pos;

	/* sign / verify / encrypt / decrypt (one at a time) */
	enum p11_op		 op;
	CK_MECHANISM_TYPE	 op_mech;
	struct m2m_object	*op_key;	/* shared reference to the key */
	/* the store's generation before op_key was read, if op_gen_ok */
	uint64_t		 op_gen;
	int			 op_gen_ok;
	enum m2m_hash		 op_hash;
	size_t			 op_maclen;
	uint8_t			*op_iv;
	size_t			 op_ivlen;
	uint8_t			*op_aad;
	size_t			 op_aadlen;
	size_t			 op_taglen;
	uint8_t			*op_buf;	/* accumulated input */
	size_t			 op_len;
	size_t			 op_cap;

	/* digest */
	EVP_MD_CTX		*digest;
};

/* Global state; every field is guarded by the module lock. */
struct p11_global {
	struct m2m_core		*core;
	struct p11_token	 tokens[P11_MAX_TOKENS];
	size_t			 ntokens;
	unsigned int		 tokens_hidden;	/* refreshes that hid one */
	struct p11_session	*sessions;	/* P11_MAX_SESSIONS entries */
	CK_SESSION_HANDLE	 next_session;
	struct m2m_object	**sobjs;	/* session objects */
	CK_SESSION_HANDLE	*sobj_owner;
	size_t			 nsobjs;
	uint64_t		 next_sobj;
	unsigned int		 pin_checks;	/* C_Logins checking unlocked */
	/* sessions whose operation holds a key: p11_object_gone's scan */
	unsigned int		 op_keys;
};

extern struct p11_global p11;

/* ------------------------------------------------------------------ */
/* The way in (p11_state.c)                                            */
/* ------------------------------------------------------------------ */

/*
 * What a session-bound call needs, checked by p11_enter_session under the
 * module lock, in this order, after the session lookup
 * (CKR_SESSION_HANDLE_INVALID):
 */
#define P11_NEED_SESSION	0u	/* an open session, nothing more */
#define P11_NEED_SO		0x1u	/* SO logged in: CKR_USER_NOT_LOGGED_IN */
#define P11_NEED_RW		0x2u	/* R/W session: CKR_SESSION_READ_ONLY */
/* the session's operation is op: CKR_OPERATION_NOT_INITIALIZED */
#define P11_NEED_OP(op)		((unsigned int)(op) << 4)

/*
 * Enter the module: check initialisation (CKR_CRYPTOKI_NOT_INITIALIZED)
 * and take the module lock.  p11_enter_session also looks the session up
 * under the lock and checks need; on failure the lock is not held.  Every
 * successful enter is paired with one p11_leave.
 */
CK_RV	p11_enter(void);
CK_RV	p11_enter_session(CK_SESSION_HANDLE h, unsigned int need,
	    struct p11_session **ret);
void	p11_leave(void);

/*
 * The body of every C_*: enter, run fn under the lock, leave, return its
 * CK_RV.  fn(args...) / fn(session, args...) never takes or drops the
 * lock itself (but see p11_unlocked_begin).
 */
#define P11_CALL(fn, ...) do {						\
	CK_RV rv_ = p11_enter();					\
									\
	if (rv_ == CKR_OK) {						\
		rv_ = fn(__VA_ARGS__);					\
		p11_leave();						\
	}								\
	return rv_;							\
} while (0)

#define P11_SESSION_CALL(h, need, fn, ...) do {				\
	struct p11_session *s_;						\
	CK_RV rv_ = p11_enter_session((h), (need), &s_);		\
									\
	if (rv_ == CKR_OK) {						\
		rv_ = fn(s_, ##__VA_ARGS__);				\
		p11_leave();						\
	}								\
	return rv_;							\
} while (0)

/*
 * For the slow PIN work of C_Login, C_InitPIN and C_SetPIN: drop the lock
 * (C_Finalize and a fork wait until every such call has taken it back;
 * p11_unlocked_begin waits while a fork does) and take it again.  After
 * p11_unlocked_end every pointer into the state (sessions, tokens) must be
 * looked up anew.
 */
void	p11_unlocked_begin(void);
void	p11_unlocked_end(void);

/* ------------------------------------------------------------------ */
/* Module, slots, sessions, login (p11_state.c)                        */
/* ------------------------------------------------------------------ */

/*
 * C_Initialize and C_Finalize without their argument checks: open the
 * configured core and the state, close them.  init_lock is taken inside.
 */
CK_RV	p11_state_open(CK_VOID_PTR init_args);
CK_RV	p11_state_close(void);
/* The module is initialised (for calls that take no lock). */
int	p11_initialized(void);

/* Reload the token list from the store (other processes may add). */
CK_RV	p11_tokens_refresh(void);
/*
 * Is slot a slot: *ret the token in it, or NULL for the free slot (the
 * one a new token would get); else CKR_SLOT_ID_INVALID.
 */
CK_RV	p11_slot_check(CK_SLOT_ID slot, struct p11_token **ret);
/* The slot id a new token would get: one past the highest. */
CK_SLOT_ID p11_free_slot_id(void);
struct p11_token	*p11_token_find(uint64_t id);
/* Open sessions on token_id: all, or the read/write ones only. */
enum p11_count { P11_COUNT_ALL = 0, P11_COUNT_RW = 1 };
size_t	p11_session_count(uint64_t token_id, enum p11_count which);
/* A new session on t; CKR_SESSION_COUNT when all are taken. */
CK_RV	p11_session_open(struct p11_token *t, CK_FLAGS flags,
	    struct p11_session **ret);
struct p11_session	*p11_session_find(CK_SESSION_HANDLE h);
/* Close s (and log its token out when it was the token's last). */
void	p11_session_close(struct p11_session *s);
/* Log t out: forget its secret, end its sessions' operations. */
void	p11_token_logout(struct p11_token *t);

/*
 * Session objects (p11.sobjs, owned by a session): p11_sobj_get gives
 * the object of handle h, borrowed, or NULL; p11_sobj_add makes o (the
 * caller keeps its own reference) a session object of s; p11_sobj_remove
 * drops h's and its backend cache; p11_sobj_replace puts o (taken) in
 * place of h's, or M2M_ERR_NOT_FOUND.  p11_session_objects_drop: those
 * of session h (h == 0: all, and their table).
 */
#define P11_IS_SESSION_OBJECT(h)	(((h) & P11_SESSION_OBJ_BIT) != 0)
struct m2m_object *p11_sobj_get(CK_OBJECT_HANDLE h);
CK_RV	p11_sobj_add(struct p11_session *s, struct m2m_object *o,
	    CK_OBJECT_HANDLE *ret_handle);
void	p11_sobj_remove(CK_OBJECT_HANDLE h);
int	p11_sobj_replace(CK_OBJECT_HANDLE h, struct m2m_object *o);
void	p11_session_objects_drop(CK_SESSION_HANDLE h);
/*
 * Object id of token token_id is destroyed: the backend forgets its
 * working copies, and every session's operation on it ends (its next call
 * answers CKR_OPERATION_NOT_INITIALIZED).
 */
void	p11_object_gone(uint64_t token_id, uint64_t id);

/* Login predicates of a session's token. */
int	p11_session_is_rw(const struct p11_session *s);
int	p11_user_logged_in(const struct p11_session *s);
int	p11_so_logged_in(const struct p11_session *s);
const struct m2m_secret *p11_session_objauth(const struct p11_session *s);
/*
 * End the session's operation: drop its key, wipe its input; the input
 * buffer stays allocated (for the next operation) up to P11_OP_BUF_KEEP
 * bytes, and is freed with the session.
 */
#define P11_OP_BUF_KEEP	4096
void	p11_session_op_reset(struct p11_session *s);
/* Forget the operation's buffered input (wiped); the operation stays. */
void	p11_session_op_clear_input(struct p11_session *s);
void	p11_session_find_reset(struct p11_session *s);
void	p11_session_digest_reset(struct p11_session *s);

/* ------------------------------------------------------------------ */
/* Errors (rv.c)                                                       */
/* ------------------------------------------------------------------ */

/* One table from the internal error space to CK_RV. */
CK_RV	p11_rv(int r);

/*
 * Where one internal error means something else to the caller: the same
 * table, with the rows of that context (rv.c) looked at first.
 */
enum p11_rv_ctx {
	P11_RV_KEY = 1,		/* the handle names a key: KEY_HANDLE_INVALID */
	P11_RV_PIN,		/* user PIN not set: USER_PIN_NOT_INITIALIZED */
	P11_RV_COPY,		/* C_CopyObject: a role forbids it */
	P11_RV_MECH_PARAM,	/* a mechanism parameter failed to parse */
	P11_RV_OPEN,		/* C_Initialize could not open the core */
	P11_RV_WRAP_KEY		/* C_WrapKey: no usable key at that handle */
};
CK_RV	p11_rv_in(enum p11_rv_ctx ctx, int r);

/* ------------------------------------------------------------------ */
/* Mechanisms (p11_mech.c)                                             */
/* ------------------------------------------------------------------ */

/*
 * C_SignInit, C_VerifyInit, C_EncryptInit, C_DecryptInit: the mechanism
 * table says which key type and which parameter the mechanism takes;
 * begins op on s with the key hKey.
 */
CK_RV	p11_op_init(struct p11_session *s, enum p11_op op,
	    CK_MECHANISM_PTR m, CK_OBJECT_HANDLE hKey);

/* ------------------------------------------------------------------ */
/* ECDSA (p11_ec.c)                                                    */
/* ------------------------------------------------------------------ */

/*
 * The start of a CKM_ECDSA (hash 0: the data is the digest) or
 * CKM_ECDSA_SHA256/384 operation on s->op_key: op_hash, and op_maclen the
 * signature's length (r || s).  CKR_MECHANISM_INVALID when the backend
 * has no EC keys, CKR_KEY_TYPE_INCONSISTENT for a key of no known curve.
 */
CK_RV	p11_ecdsa_start(struct p11_session *s, enum m2m_hash hash);
/*
 * Sign data (hashed here unless CKM_ECDSA) with the private key s->op_key
 * in the backend, into sig (s->op_maclen bytes); verify sig (op_maclen
 * bytes) over data with the public key s->op_key's CKA_EC_POINT.  0 or
 * an M2M_ERR_* (M2M_ERR_DATA_LEN: CKM_ECDSA input of 0 or over 64 bytes;
 * M2M_ERR_SIGNATURE_INVALID).
 */
int	p11_ecdsa_sign(struct p11_session *s, const uint8_t *data, size_t len,
	    uint8_t *sig);
int	p11_ecdsa_verify(struct p11_session *s, const uint8_t *data,
	    size_t len, const uint8_t *sig);

/* ------------------------------------------------------------------ */
/* Objects (p11_obj.c)                                                 */
/* ------------------------------------------------------------------ */

/* Convert and validate a caller template (pointers, lengths, count). */
CK_RV	p11_template_in(CK_ATTRIBUTE_PTR t, CK_ULONG n, struct m2m_attr **ret);
void	p11_template_free(struct m2m_attr *a);
/*
 * The object a handle names, visible to s, as a shared read-only reference
 * (it may be the cached or the session-object copy itself): never change
 * it; release it with m2m_object_free().  0, M2M_ERR_NOT_FOUND (no such
 * object, or not visible to s), or a store error.
 */
int	p11_object_get(struct p11_session *s, CK_OBJECT_HANDLE h,
	    struct m2m_object **ret);
/* The same, as a private copy the caller may change and must free. */
int	p11_object_load(struct p11_session *s, CK_OBJECT_HANDLE h,
	    struct m2m_object **ret);
/*
 * Store a new object built by the policy (token or session object),
 * checking the session's rights; sets *ret_handle.  The caller keeps its
 * reference to o (and frees it) but must not change o afterwards: a
 * session object is o itself, shared (m2m_object_ref).
 */
CK_RV	p11_object_store(struct p11_session *s, struct m2m_object *o,
	    CK_OBJECT_HANDLE *ret_handle);
/*
 * For derive idempotency: 1 and *ret when a visible object derived from
 * base (m2m_object_derived_from: same base id and blob digest; origin
 * M2M_ORIGIN_DERIVE, so never an imported or generated key) has the
 * (role, label, peer) of like and same(s, object, arg) says it holds the
 * value just derived, else 0.
 */
int	p11_object_lookup(struct p11_session *s,
	    const struct m2m_object *base, unsigned long role,
	    const struct m2m_object *like,
	    int (*same)(struct p11_session *, const struct m2m_object *,
	    const void *), const void *arg, CK_OBJECT_HANDLE *ret);

/* ------------------------------------------------------------------ */
/* The implementations of the C_* functions                           */
/* ------------------------------------------------------------------ */

/*
 * Each PKCS#11 function of this module is implemented as p11_C_<name>
 * (p11.c, p11_mech.c, p11_crypto.c, p11_obj.c, p11_derive.c) and bound to
 * its C_* name in one place only: the function lists of funclist.c, which
 * the exported C_* symbols (exports.c) call through.  The v2.40 functions
 * in the order of CK_FUNCTION_LIST, C_GetFunctionList aside:
 */
#define P11_FUNCTIONS_240(X) X(C_Initialize) X(C_Finalize) X(C_GetInfo)	\
	X(C_GetSlotList) X(C_GetSlotInfo) X(C_GetTokenInfo)	\
	X(C_GetMechanismList) X(C_GetMechanismInfo) X(C_InitToken)	\
	X(C_InitPIN) X(C_SetPIN) X(C_OpenSession) X(C_CloseSession)	\
	X(C_CloseAllSessions) X(C_GetSessionInfo) X(C_GetOperationState)	\
	X(C_SetOperationState) X(C_Login) X(C_Logout) X(C_CreateObject)	\
	X(C_CopyObject) X(C_DestroyObject) X(C_GetObjectSize)	\
	X(C_GetAttributeValue) X(C_SetAttributeValue) X(C_FindObjectsInit)	\
	X(C_FindObjects) X(C_FindObjectsFinal) X(C_EncryptInit) X(C_Encrypt)	\
	X(C_EncryptUpdate) X(C_EncryptFinal) X(C_DecryptInit) X(C_Decrypt)	\
	X(C_DecryptUpdate) X(C_DecryptFinal) X(C_DigestInit) X(C_Digest)	\
	X(C_DigestUpdate) X(C_DigestKey) X(C_DigestFinal) X(C_SignInit)	\
	X(C_Sign) X(C_SignUpdate) X(C_SignFinal) X(C_SignRecoverInit)	\
	X(C_SignRecover) X(C_VerifyInit) X(C_Verify) X(C_VerifyUpdate)	\
	X(C_VerifyFinal) X(C_VerifyRecoverInit) X(C_VerifyRecover)	\
	X(C_DigestEncryptUpdate) X(C_DecryptDigestUpdate)	\
	X(C_SignEncryptUpdate) X(C_DecryptVerifyUpdate) X(C_GenerateKey)	\
	X(C_GenerateKeyPair) X(C_WrapKey) X(C_UnwrapKey) X(C_DeriveKey)	\
	X(C_SeedRandom) X(C_GenerateRandom) X(C_GetFunctionStatus)	\
	X(C_CancelFunction) X(C_WaitForSlotEvent)
#define P11_DECLARE(name)	extern __typeof__(name) p11_##name;
P11_FUNCTIONS_240(P11_DECLARE)
extern __typeof__(*(CK_C_LoginUser)0) p11_C_LoginUser;
extern __typeof__(*(CK_C_SessionCancel)0) p11_C_SessionCancel;

/*
 * Client mode (remote.c): the same functions as rc_C_<name>, forwarding
 * each call to m2mtokend (docs/protocol.md, "Client mode").
 */
#define P11_DECLARE_RC(name)	extern __typeof__(name) rc_##name;
P11_FUNCTIONS_240(P11_DECLARE_RC)
extern __typeof__(*(CK_C_LoginUser)0) rc_C_LoginUser;
extern __typeof__(*(CK_C_SessionCancel)0) rc_C_SessionCancel;

/*
 * 1 in client mode: M2MTOKEN_DAEMON_SOCKET is set and not empty, or the
 * configuration file has [daemon] socket.  Chosen once per process, at
 * the first call that asks (remote.c).
 */
int	p11_client_mode(void);

/*
 * C_Initialize's check of pInitArgs, the same in both modes:
 * CKR_ARGUMENTS_BAD for pReserved set or some but not all of the four
 * mutex functions; CKR_OK otherwise.
 */
CK_RV	p11_init_args_check(CK_VOID_PTR pInitArgs);

/* The function list of the mode, which the exported C_* symbols call
   (funclist.c). */
const CK_FUNCTION_LIST_3_0	*p11_bound(void);

#endif /* M2M_P11_H */
