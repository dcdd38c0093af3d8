/*
 * pkcs11/ internals: the module's global state, slots, sessions and the
 * operation state of a session.  Only this layer knows CK_RV, handles and
 * the PKCS#11 size-query rules.
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

/* The state of a token as seen by this application. */
struct p11_token {
	uint64_t		 id;		/* store id == slot id */
	int			 login;		/* -1 none, CKU_USER, CKU_SO */
	struct m2m_secret	*objauth;	/* while logged in; may be NULL */
};

struct p11_session {
	CK_SESSION_HANDLE	 handle;	/* 0: free entry */
	uint64_t		 token_id;
	CK_FLAGS		 flags;		/* CKF_RW_SESSION, _SERIAL */

	/* C_FindObjects */
	int			 find_active;
	CK_OBJECT_HANDLE	*find_ids;
	size_t			 find_n;
	size_t			 find_pos;

	/* sign / verify / encrypt / decrypt (one at a time) */
	enum p11_op		 op;
	CK_MECHANISM_TYPE	 op_mech;
	struct m2m_object	*op_key;	/* a copy of the key object */
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
};

extern struct p11_global p11;

/*
 * Enter the module (take its lock, check initialisation) and look up the
 * session under the lock; every successful enter is paired with p11_leave.
 */
CK_RV	p11_enter_session(CK_SESSION_HANDLE h, struct p11_session **ret);
CK_RV	p11_enter_plain(void);
void	p11_leave(void);

/* One table from the internal error space to CK_RV. */
CK_RV	p11_rv(int r);

/* Slots and sessions (p11.c) */
struct p11_token	*p11_token_find(uint64_t id);
struct p11_session	*p11_session_find(CK_SESSION_HANDLE h);
int	p11_session_is_rw(const struct p11_session *s);
int	p11_user_logged_in(const struct p11_session *s);
const struct m2m_secret *p11_session_objauth(const struct p11_session *s);
/*
 * End the session's operation: drop its key, wipe its input; the input
 * buffer stays allocated (for the next operation) up to P11_OP_BUF_KEEP
 * bytes, and is freed with the session.
 */
#define P11_OP_BUF_KEEP	4096
void	p11_session_op_reset(struct p11_session *s);
void	p11_session_find_reset(struct p11_session *s);

/* Objects (p11_obj.c) */
/* Convert and validate a caller template (pointers, lengths, count). */
CK_RV	p11_template_in(CK_ATTRIBUTE_PTR t, CK_ULONG n, struct m2m_attr **ret);
void	p11_template_free(struct m2m_attr *a);
/*
 * The object a handle names, visible to s, as a shared read-only reference
 * (it may be the cached or the session-object copy itself): never change
 * it; release it with m2m_object_free().
 */
CK_RV	p11_object_get(struct p11_session *s, CK_OBJECT_HANDLE h,
	    struct m2m_object **ret);
/* The same, as a private copy the caller may change and must free. */
CK_RV	p11_object_load(struct p11_session *s, CK_OBJECT_HANDLE h,
	    struct m2m_object **ret);
/* Forget every cached token object (C_Finalize). */
void	p11_object_cache_drop(void);
/*
 * Store a new object built by the policy (token or session object),
 * checking the session's rights; sets *ret_handle.  The caller keeps its
 * reference to o (and frees it) but must not change o afterwards: a
 * session object is o itself, shared (m2m_object_ref).
 */
CK_RV	p11_object_store(struct p11_session *s, struct m2m_object *o,
	    CK_OBJECT_HANDLE *ret_handle);
/* Session objects owned by a closing session (or all with h == 0). */
void	p11_session_objects_drop(CK_SESSION_HANDLE h, uint64_t token_id);
/*
 * For derive idempotency: 1 and *ret when a visible object derived from
 * base (m2m_object_derived_from: same base id and blob digest; origin
 * M2M_ORIGIN_DERIVE, so never an imported or generated key) has the
 * (role, label, peer) of like, else 0.
 */
int	p11_object_lookup(struct p11_session *s,
	    const struct m2m_object *base, unsigned long role,
	    const struct m2m_object *like, CK_OBJECT_HANDLE *ret);

#endif /* M2M_P11_H */
