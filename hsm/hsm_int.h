/*
 * Private to hsm/: what its files share.  The backend's state (struct
 * hsm), the helpers every file uses, and one contract per function that
 * crosses a file: hsm_conn.c (module, session, login, reconnect),
 * hsm_wrapkey.c (the wrapping keys and their setup lock), hsm_blob.c (the
 * blob format of hsm.h), hsm_key.c (loaded and read keys), bind.c,
 * cache.c and ckr.c.  hsm.c holds the operations and the op table.
 * docs/architecture.md lists the files.  Every function below that takes
 * a struct hsm runs under h->lock, or in open before h is shared.
 */
#ifndef M2M_HSM_INT_H
#define M2M_HSM_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <openssl/evp.h>

#include "backend.h"
#include "hsm.h"
#include "secret.h"

/*
 * A wrapping key of the token, named by its CKA_ID in every blob.  handle
 * is what C_WrapKey and C_UnwrapKey use: the key's copy in the backend's
 * session (hsm_wrapkey.c, wrapkey_copy), or the token object itself when
 * the HSM does not copy it.
 */
struct wrapkey {
	uint8_t			 id[M2M_HSM_WRAP_ID_LEN];
	CK_OBJECT_HANDLE	 handle;
	CK_OBJECT_HANDLE	 token;		/* the token object */
};

/* The token's wrapping keys under one label, by CKA_ID. */
struct wrapkeys {
	struct wrapkey		 k[M2M_HSM_WRAPKEYS_MAX];
	size_t			 n;
	size_t			 cur;		/* the entry new blobs use */
};

struct hsm {
	pthread_mutex_t		 lock;
	int			 lock_init;
	void			*dl;
	CK_FUNCTION_LIST_PTR	 fl;
	int			 module_ref;	/* counted in modules */
	char			*module_path;
	char			*store_path;	/* NULL: none; the lock's place */
	char			*label;
	struct m2m_secret	*pin;		/* kept to log in again */
	int			 connected;
	CK_SESSION_HANDLE	 session;
	struct wrapkeys		 wk;		/* M2M_HSM_WRAP_LABEL */
	struct wrapkeys		 rk;		/* ..._LABEL_READABLE */
	struct wrapkeys		 ek;		/* ..._LABEL_EC */
	int			 legacy_logged;	/* hsm_wrapkey.c */
	CK_OBJECT_HANDLE	 bindkey;	/* see bind.c */
	int			 unwrap_pads;	/* probe_unwrap_padding() */
	int			 private_ops;	/* see m2m_hsm_unwrap() */
	size_t			 gcm_iv_max;	/* probe_gcm_long_iv() */
	struct m2m_hsm_cache	*cache;
	EVP_MAC			*mac;
	CK_RV			 last_rv;	/* of the last failed call */
	unsigned long		 commands;
	unsigned long		 loads;
};

/*
 * Every call into the module goes through P11(), so that stats() counts
 * them all; the cached HMAC path makes exactly two (C_SignInit, C_Sign).
 */
#define P11(h, fn)	((h)->commands++, (h)->fl->fn)

/* Attribute values for templates (not every file uses every one). */
#define HSM_MAYBE_UNUSED __attribute__((unused))
static const CK_BBOOL	 ck_true HSM_MAYBE_UNUSED = CK_TRUE;
static const CK_BBOOL	 ck_false HSM_MAYBE_UNUSED = CK_FALSE;
static const CK_OBJECT_CLASS ck_secret HSM_MAYBE_UNUSED = CKO_SECRET_KEY;
static const CK_KEY_TYPE ck_aes HSM_MAYBE_UNUSED = CKK_AES;
static const CK_KEY_TYPE ck_generic HSM_MAYBE_UNUSED = CKK_GENERIC_SECRET;
static const CK_OBJECT_CLASS ck_private HSM_MAYBE_UNUSED = CKO_PRIVATE_KEY;
static const CK_OBJECT_CLASS ck_public HSM_MAYBE_UNUSED = CKO_PUBLIC_KEY;
static const CK_KEY_TYPE ck_ec HSM_MAYBE_UNUSED = CKK_EC;

#define ATTR(t, p, l)	{ (t), (void *)(p), (l) }
#define ATTR_BOOL(t, v)	ATTR((t), (v) ? &ck_true : &ck_false, sizeof(CK_BBOOL))

/*
 * What the failing call was doing: SoftHSM2 reports a failed AES-GCM tag
 * check and a failed RFC 5649 integrity check as CKR_GENERAL_ERROR, so the
 * meaning of that code depends on the call.
 */
enum m2m_hsm_op {
	M2M_HSM_OP_OTHER = 0,
	M2M_HSM_OP_UNWRAP,	/* C_UnwrapKey of a stored blob */
	M2M_HSM_OP_DECRYPT,	/* C_Decrypt after a successful C_DecryptInit */
	M2M_HSM_OP_RANDOM	/* C_GenerateRandom */
};

/* ckr.c: the CK_RV border -------------------------------------------- */

/*
 * The one place a CK_RV of the underlying module becomes an M2M_ERR_*:
 * 0 for CKR_OK, else a negative M2M_ERR_* (M2M_ERR_BACKEND for anything
 * without a closer meaning).
 */
int	m2m_err_from_ckr(CK_RV rv, enum m2m_hsm_op op);
/* A static name for rv ("CKR_PIN_INCORRECT"), or NULL when unknown. */
const char *m2m_hsm_ckr_name(CK_RV rv);
/*
 * 1 when rv means the session, its login or the token is gone: drop the
 * session and reconnect.
 */
int	m2m_hsm_ckr_lost(CK_RV rv);

/* A printable name for rv, for messages: static, or written into buf. */
const char *m2m_hsm_ckr_str(CK_RV rv, char *buf, size_t len);

/* n rounded up to a multiple of 8 (an RFC 5649 block). */
static inline size_t
roundup8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/* hsm_conn.c: module, session, login, reconnect ------------------------ */

/*
 * backend.h's open: load the module named in conf, open and log in a
 * session on the token of conf's label, find or create its wrapping and
 * binding keys.  *ret_impl: a struct hsm for m2m_hsm_close().
 */
int	m2m_hsm_open(const struct m2m_conf *conf, void **ret_impl,
	    char *errbuf, size_t errlen);
/* backend.h's close: free impl and its session; NULL accepted. */
void	m2m_hsm_close(void *impl);
/*
 * Reconnect after a lost session: 0 when connected (again), else the
 * M2M_ERR_* of the failed attempt (logged at debug level).
 */
int	m2m_hsm_ready(struct hsm *h);
/* Destroy obj in the session; CK_INVALID_HANDLE or no session: nothing. */
void	m2m_hsm_destroy(struct hsm *h, CK_OBJECT_HANDLE obj);

/* ckr.c: a call's CK_RV and a lost session ---------------------------- */

/*
 * Forget the session (and with it every loaded key: the cache is cleared
 * and the wrapping key lists emptied); nothing when not connected.
 */
void	m2m_hsm_disconnect(struct hsm *h);
/*
 * The M2M_ERR_* for rv returned by a call on the session, 0 for CKR_OK;
 * remembers rv in h->last_rv.  A session or token that has gone away
 * drops the session and the cache (the next call reconnects) and is
 * M2M_ERR_BACKEND_ABSENT.
 */
int	m2m_hsm_ckr(struct hsm *h, CK_RV rv, enum m2m_hsm_op op);

/* hsm_wrapkey.c: the wrapping keys ----------------------------------- */

/* The sets of wrapping keys, by label (hsm.h): "which" below. */
#define M2M_HSM_WK_STRICT	0	/* M2M_HSM_WRAP_LABEL */
#define M2M_HSM_WK_READABLE	1	/* M2M_HSM_WRAP_LABEL_READABLE */
#define M2M_HSM_WK_EC		2	/* M2M_HSM_WRAP_LABEL_EC */
#define M2M_HSM_WK_SETS		3

/*
 * Load the token's wrapping keys into h->wk, h->rk and h->ek, creating one
 * under the label of which (M2M_HSM_WK_*) on first use, under
 * m2m_hsm_setup_lock(); tried again up to M2M_HSM_WRAPKEY_TRIES times when
 * the module failed (M2M_ERR_BACKEND).  0, else an M2M_ERR_* with errbuf
 * saying why.
 */
int	m2m_hsm_wrapkey_setup(struct hsm *h, int which, char *errbuf,
	    size_t errlen);
/*
 * The wrapping key a blob names (id: M2M_HSM_WRAP_ID_LEN bytes): 0, *ret
 * and *ret_which (its M2M_HSM_WK_* set), searching the token once more
 * for a key not known yet; M2M_ERR_DATA_INVALID when none has id.
 */
int	m2m_hsm_wrapkey_lookup(struct hsm *h, const uint8_t *id,
	    CK_OBJECT_HANDLE *ret, int *ret_which);
/*
 * Take the lock that makes "find the key, else create it" one step for
 * every m2mtoken of this user (threads and processes; the binding key's
 * setup takes it too); its mutex is taken after h->lock, never before.
 * Returns the descriptor for m2m_hsm_setup_unlock(), or -1 when no lock
 * file is usable (only this process's threads are serialised).
 */
int	m2m_hsm_setup_lock(struct hsm *h);
/* Release the lock of m2m_hsm_setup_lock(fd). */
void	m2m_hsm_setup_unlock(int fd);

/* hsm_blob.c: the blob format (layout in hsm.h) ------------------------ */

/*
 * The length of the HSM object that holds a key of this kind and length:
 * keylen, or M2M_HSM_HMAC_PAD for shorter HMAC keys (stored zero padded).
 */
size_t	m2m_hsm_value_len(enum m2m_key_kind kind, size_t keylen);
/* The 0x36 bytes in front of a key's message form (M2M_HSM_VERSION_MSG). */
size_t	m2m_hsm_msg_pad(size_t keylen);
/*
 * 1 when no HSM object holds an HMAC key of keylen bytes exactly as it
 * is, so that a message form is needed: stored zero padded
 * (m2m_hsm_value_len), or of a length that RFC 5649 unwrapping may leave
 * padded.
 */
int	m2m_hsm_msgform_needed(size_t keylen);
/*
 * The pre-hashed form of b (see M2M_HSM_VERSION_PREHASH) as a blob of its
 * own in *ret: an HMAC key of 32 bytes stored as 64, same wrapping key.
 * b->prehash must not be NULL; *ret points into b's blob.
 */
void	m2m_hsm_blob_prehash(const struct blob *b, struct blob *ret);
/*
 * The message form of b (see M2M_HSM_VERSION_MSG) as a blob of its own
 * in *ret: a generic secret of keylen + m2m_hsm_msg_pad(keylen) bytes,
 * same wrapping key.  b->msgform must not be NULL; *ret points into b's
 * blob.
 */
void	m2m_hsm_blob_msgform(const struct blob *b, struct blob *ret);
/*
 * A new blob (layout in hsm.h) from the parts b names: its version from
 * which of b->prehash and b->msgform are set, each wrapped value of the
 * length m2m_hsm_blob_parse() demands.  0, *ret_blob (malloc'd, the
 * caller frees it) and *ret_bloblen, else M2M_ERR_NO_MEMORY.
 */
int	m2m_hsm_blob_build(const struct blob *b, uint8_t **ret_blob,
	    size_t *ret_bloblen);

/* hsm_key.c: loaded and read keys ------------------------------------ */

/*
 * Unwrap b into a new session object, *ret_obj, for the caller to
 * destroy: for operations (sensitive, not extractable, usable for HMAC or
 * AES-GCM by kind) or, with readable, a private, non-sensitive,
 * extractable object whose value can be read (level T).  Counts a load.
 */
int	m2m_hsm_unwrap(struct hsm *h, const struct blob *b, int readable,
	    CK_OBJECT_HANDLE *ret_obj);
/*
 * The operation object for key (b: its parsed blob): from the cache when
 * the blob is the one it was loaded from (no allocation, no extra call),
 * else unwrapped and cached.  *ret_temp: 1 when the caller destroys the
 * object after use (id 0, or the cache could not take it).
 */
int	m2m_hsm_key_get(struct hsm *h, const struct m2m_keyref *key,
	    const struct blob *b, CK_OBJECT_HANDLE *ret_obj, int *ret_temp);
/*
 * The caller's key bytes of b, read from a readable session object that
 * is destroyed again at once (level T).  *ret is a new secret.  Only for
 * blobs of the readable wrapping key (wrap_readable()), else
 * M2M_ERR_ATTRIBUTE_SENSITIVE; M2M_ERR_DATA_INVALID when the value read
 * back has the wrong length or non-zero padding.
 */
int	m2m_hsm_key_read(struct hsm *h, const struct blob *b,
	    struct m2m_secret **ret);

/* hsm_ec.c: ECDSA key pairs (backend.h ec_generate, ec_import, ec_sign) */

/* backend.h's ec_generate: C_GenerateKeyPair in the HSM, wrapped out. */
int	m2m_hsm_ec_generate(void *impl, enum m2m_key_kind kind,
	    const uint8_t *auth, size_t authlen, uint8_t **ret_blob,
	    size_t *ret_bloblen, uint8_t *pub, size_t *ret_publen);
/* backend.h's ec_import: d into a session object, wrapped out. */
int	m2m_hsm_ec_import(void *impl, enum m2m_key_kind kind,
	    const uint8_t *d, size_t dlen, const uint8_t *auth,
	    size_t authlen, uint8_t **ret_blob, size_t *ret_bloblen,
	    uint8_t *pub, size_t *ret_publen);
/* backend.h's ec_sign: CKM_ECDSA with the cached working copy. */
int	m2m_hsm_ec_sign(void *impl, const struct m2m_keyref *key,
	    const uint8_t *digest, size_t digestlen, uint8_t *sig,
	    size_t *ret_siglen);

/* bind.c: the binding key -------------------------------------------- */

/*
 * Find, else generate, the binding key (M2M_HSM_BIND_LABEL in hsm.h) of
 * the token open in session s; *ret: its session copy (or the key itself
 * if the HSM cannot copy it).  Returns the module's CK_RV (the caller
 * maps it) and counts every call in *commands.
 */
CK_RV	m2m_hsm_bindkey_setup(CK_FUNCTION_LIST_PTR fl, CK_SESSION_HANDLE s,
	    unsigned long *commands, CK_OBJECT_HANDLE *ret);
/*
 * out = HMAC-SHA-256(key, msg), 32 bytes, written only on success.
 * Returns the module's CK_RV and counts every call in *commands.
 */
CK_RV	m2m_hsm_bind_mac(CK_FUNCTION_LIST_PTR fl, CK_SESSION_HANDLE s,
	    unsigned long *commands, CK_OBJECT_HANDLE key, const uint8_t *msg,
	    size_t msglen, uint8_t *out);

/* cache.c: the LRU of loaded key handles ----------------------------- */

/*
 * A bounded LRU of loaded key handles keyed by keyref id, each entry keeping
 * a copy of the blob it was loaded from.  Not thread safe (the backend's
 * lock covers it).  Destroying HSM objects is the caller's job: every call
 * that drops an entry hands its handle back.
 */
struct m2m_hsm_cache;

/* A cache for capacity entries (1..M2M_HSM_CACHE_MAX). */
int	m2m_hsm_cache_new(size_t capacity, struct m2m_hsm_cache **ret);
/* Free the cache (handles are not destroyed); NULL accepted. */
void	m2m_hsm_cache_free(struct m2m_hsm_cache *c);
/*
 * The handle loaded for id from exactly blob[0..bloblen), made most
 * recently used: 0 and *ret_handle, else M2M_ERR_NOT_FOUND.  Allocates
 * nothing.
 */
int	m2m_hsm_cache_get(struct m2m_hsm_cache *c, uint64_t id,
	    const uint8_t *blob, size_t bloblen, CK_OBJECT_HANDLE *ret_handle);
/*
 * Remember handle as loaded for id from blob (id != 0, handle valid).  An
 * entry for the same id is replaced, else the least recently used entry is
 * evicted when full; *ret_drop is the handle that left the cache (to be
 * destroyed) or CK_INVALID_HANDLE.  M2M_ERR_NO_MEMORY leaves the cache as
 * it was and handle with the caller.
 */
int	m2m_hsm_cache_put(struct m2m_hsm_cache *c, uint64_t id,
	    const uint8_t *blob, size_t bloblen, CK_OBJECT_HANDLE handle,
	    CK_OBJECT_HANDLE *ret_drop);
/* Drop id: its handle (to be destroyed), or CK_INVALID_HANDLE if absent. */
CK_OBJECT_HANDLE m2m_hsm_cache_remove(struct m2m_hsm_cache *c, uint64_t id);
/*
 * Drop the least recently used entry: its handle (to be destroyed), or
 * CK_INVALID_HANDLE when the cache is empty.
 */
CK_OBJECT_HANDLE m2m_hsm_cache_pop(struct m2m_hsm_cache *c);
/* Drop every entry without handing handles back (the session is gone). */
void	m2m_hsm_cache_clear(struct m2m_hsm_cache *c);
/* Entries held now. */
size_t	m2m_hsm_cache_count(const struct m2m_hsm_cache *c);

#endif /* M2M_HSM_INT_H */
