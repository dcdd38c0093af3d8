/*
 * The token core: one open store and one open backend, token records with
 * their PINs, the wrapping of new key values, the key operations pkcs11/
 * runs (HMAC, AES-GCM, random, reveal, forget) and the token-object
 * cache.  Used by pkcs11/; knows nothing of PKCS#11 sessions.  Not thread
 * safe: the caller serialises (all but m2m_core_pin_verify, see there).
 */
#ifndef M2M_CORE_H
#define M2M_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "store.h"

struct m2m_conf;
struct m2m_core;
struct m2m_object;
struct m2m_secret;
struct m2m_store;

/*
 * Open the store and the backend named by conf (ownership of conf passes
 * to the core, also on failure).  The backend is opened inside an exclusive
 * store transaction so that two processes creating a fresh backing key do
 * not race.  Errors from store or backend, reason in errbuf.
 */
int	m2m_core_open(struct m2m_conf *conf, struct m2m_core **ret,
	    char *errbuf, size_t errlen);
/*
 * m2m_core_open with the backend ops given instead of the one conf names
 * (conf->backend is not looked at): for the core's unit tests over a
 * software backend.  Ownership of conf and errors as m2m_core_open.
 */
int	m2m_core_open_ops(struct m2m_conf *conf,
	    const struct m2m_backend_ops *ops, struct m2m_core **ret,
	    char *errbuf, size_t errlen);
void	m2m_core_close(struct m2m_core *c);

/*
 * A token's user logged out (or its last session closed): the backend
 * destroys the keys it holds loaded (backend.h, flush), those of every
 * token (the cache does not know tokens).  NULL accepted.
 */
void	m2m_core_flush(struct m2m_core *c);

struct m2m_store	*m2m_core_store(struct m2m_core *c);
/*
 * The open backend: for the derivations of kdf.h, which run their HMAC
 * steps on it, and for tests.  pkcs11/ never calls its ops: every key
 * operation goes through a m2m_core_* or m2m_kdf_* function
 * (tests/lint/include_direction.sh checks this).
 */
const struct m2m_backend *m2m_core_backend(struct m2m_core *c);
const struct m2m_conf	*m2m_core_conf(struct m2m_core *c);

/*
 * C_InitToken: token_id 0 creates a new token (*ret_id), else re-initialises
 * token_id after checking its SO PIN (counted; M2M_ERR_PIN_INCORRECT /
 * _PIN_LOCKED), deleting all its objects in the same transaction.
 * label: exactly 32 bytes, blank padded.
 */
int	m2m_core_token_init(struct m2m_core *c, uint64_t token_id,
	    const uint8_t *so_pin, size_t so_pinlen, const uint8_t *label32,
	    uint64_t *ret_id);

/*
 * Check a PIN of token_id (so: 1 for the SO, 0 for the user), counting
 * failures in the store.  On success *ret_objauth (may be NULL when the
 * backend has no PIN binding) is the token's object-authorisation secret.
 * Errors: M2M_ERR_PIN_INCORRECT, _PIN_LOCKED, _PIN_LEN, M2M_ERR_NOT_FOUND
 * (user PIN not initialised).  m2m_core_pin_reserve, _verify and _record
 * in one call.
 */
int	m2m_core_token_login(struct m2m_core *c, uint64_t token_id, int so,
	    const uint8_t *pin, size_t pinlen, struct m2m_secret **ret_objauth);

/*
 * A login in three steps, so that the slow check (PBKDF2, or the TPM)
 * runs without the caller's lock and a guess is counted before it is
 * checked: N processes together get at most max_pin_tries guesses.
 *
 * m2m_core_pin_reserve: in one store transaction, check that the PIN is
 * set (else M2M_ERR_NOT_FOUND) and not locked (fails < max_pin_tries,
 * else M2M_ERR_PIN_LOCKED), that pinlen is allowed (M2M_ERR_PIN_LEN, not
 * counted), and count the guess as failed (fails + 1).  *ret holds the
 * verifier the guess is to be checked against (wipe it when done).
 *
 * m2m_core_pin_verify: check pin against t; touches neither the store nor
 * the core's state (only the backend's pin_check, which serialises
 * itself), so it may run without the lock that serialises the other core
 * calls, while they run.  0 and *ret_objauth (may be NULL), or
 * M2M_ERR_PIN_INCORRECT, _PIN_LOCKED (hardware lockout), or another error.
 *
 * m2m_core_pin_record: under the lock again, record the outcome r of
 * m2m_core_pin_verify and return the login's result: on success the
 * counter goes back to 0, but only if the verifier is still t's (else the
 * PIN was changed meanwhile: M2M_ERR_PIN_INCORRECT, and the caller frees
 * the objauth it got); a hardware lockout locks the store's counter too;
 * a wrong PIN leaves the reserved count; any other error (no verdict: out
 * of memory, a backend failure) gives the reserved guess back.
 */
struct m2m_pin_try {
	uint64_t	token_id;
	int		so;
	unsigned int	fails;		/* the count with this guess */
	uint8_t		v[M2M_PIN_VERIFIER_MAX];	/* the verifier */
	size_t		vlen;
};
int	m2m_core_pin_reserve(struct m2m_core *c, uint64_t token_id, int so,
	    size_t pinlen, struct m2m_pin_try *ret);
int	m2m_core_pin_verify(struct m2m_core *c, const struct m2m_pin_try *t,
	    const uint8_t *pin, size_t pinlen, struct m2m_secret **ret_objauth);
int	m2m_core_pin_record(struct m2m_core *c, const struct m2m_pin_try *t,
	    int r);

/*
 * C_InitPIN and C_SetPIN in steps, for a caller that drops its lock around
 * the slow part as for m2m_core_pin_verify:
 *
 * m2m_core_pin_len_check: 0, or M2M_ERR_PIN_LEN when len is outside
 * [pin_min, pin_max].
 *
 * m2m_core_pin_make: a new verifier of pin into ret[M2M_PIN_VERIFIER_MAX]
 * (*ret_len bytes): PBKDF2, or the backend's pin_seal of objauth (NULL: a
 * fresh one).  Like m2m_core_pin_verify it touches neither the store nor
 * the core's state, so it may run without the caller's lock.
 *
 * m2m_core_pin_store: write it as token_id's SO (so = 1) or user PIN, that
 * column only; fails M2M_PIN_FAILS_RESET: also set that PIN's failure counter to 0 (the
 * SO's C_InitPIN unlocks the user PIN; a C_SetPIN leaves it).
 */
int	m2m_core_pin_len_check(struct m2m_core *c, size_t len);
int	m2m_core_pin_make(struct m2m_core *c, const uint8_t *pin,
	    size_t pinlen, const struct m2m_secret *objauth, uint8_t *ret,
	    size_t *ret_len);
enum m2m_pin_fails {
	M2M_PIN_FAILS_KEEP = 0,
	M2M_PIN_FAILS_RESET = 1
};
int	m2m_core_pin_store(struct m2m_core *c, uint64_t token_id, int so,
	    const uint8_t *v, size_t vlen, enum m2m_pin_fails fails);

/* C_InitPIN (SO logged in; objauth from the SO login, may be NULL). */
int	m2m_core_token_init_pin(struct m2m_core *c, uint64_t token_id,
	    const struct m2m_secret *objauth, const uint8_t *pin,
	    size_t pinlen);

/* C_SetPIN of the logged-in user (so = 0) or SO (so = 1). */
int	m2m_core_token_set_pin(struct m2m_core *c, uint64_t token_id, int so,
	    const uint8_t *oldpin, size_t oldlen, const uint8_t *newpin,
	    size_t newlen);

/*
 * Wrap val[0..len) into o->blob with the backend (AES kind for CKK_AES,
 * HMAC otherwise), and for PSK roles also its RFC 4279 premaster form into
 * o->aux.  objauth may be NULL.  o is unchanged on failure.
 */
int	m2m_core_wrap(struct m2m_core *c, struct m2m_object *o,
	    const uint8_t *val, size_t len, const struct m2m_secret *objauth);

/*
 * An HMAC key longer than M2M_KEY_MAX (m2m_policy_key_prehashed): RFC 2104
 * hashes it with the HMAC's own hash first, so o->blob gets SHA-256(K)
 * and its alternate form (o->aux) SHA-512(K), the HMAC-SHA-512 key; K
 * itself is only in val, the hashes only in locked memory until wrapped.
 */
int	m2m_core_wrap_prehashed(struct m2m_core *c, struct m2m_object *o,
	    const uint8_t *val, size_t len, const struct m2m_secret *objauth);

/*
 * Give the new object o its value *value: kept as it is in o->plain when
 * m2m_policy_kept_plain(o) says so (a session secret, or a readable
 * role-less session key; o must not be a token object, else
 * M2M_ERR_INTERNAL), else m2m_core_wrap()ped.
 * On success *value is consumed (NULL; a wrapped value is wiped now); on
 * failure o and *value are unchanged.
 */
int	m2m_core_set_value(struct m2m_core *c, struct m2m_object *o,
	    struct m2m_secret **value, const struct m2m_secret *objauth);

/*
 * The store's generation (m2m_store_generation, store.h): unchanged means
 * no process has written the store since it was read, so an object found
 * then still exists.  M2M_ERR_UNSUPPORTED without the shared counter.
 */
int	m2m_core_generation(struct m2m_core *c, uint64_t *ret);

/*
 * Token object id of token_id through the core's object cache
 * (objcache.h): a shared reference, never to be changed; release it with
 * m2m_object_free().  Errors as m2m_store_object_get.
 */
int	m2m_core_object_get(struct m2m_core *c, uint64_t token_id,
	    uint64_t id, struct m2m_object **ret);
/* Forget every cached object (a forked child's, C_Finalize).  NULL ok. */
void	m2m_core_cache_drop(struct m2m_core *c);

/* Which of an object's wrapped forms a keyref names. */
enum m2m_key_form {
	M2M_FORM_VALUE = 0,	/* o->blob: the key itself */
	/*
	 * o->aux: the RFC 4279 premaster of a PSK role, or SHA-512(K) of
	 * an HMAC key longer than M2M_KEY_MAX (m2m_policy_key_prehashed)
	 */
	M2M_FORM_ALT = 1
};
/* Set in the backend cache id of an alternate form (never a rowid). */
#define M2M_KEYREF_ALT_BIT	(1ULL << 62)

/*
 * Fill *ret to name o's key in the given form for one backend call.  The
 * keyref borrows o and objauth: keep both alive for the call.
 */
void	m2m_core_keyref(const struct m2m_object *o, enum m2m_key_form form,
	    const struct m2m_secret *objauth, struct m2m_keyref *ret);

/*
 * The key operations of pkcs11/, each one backend call on the key object
 * (objauth: the logged-in token's, may be NULL); results and errors as
 * the backend's op of the same name (backend.h).
 *
 * m2m_core_hmac: HMAC-hash over msg into out (m2m_hash_len(hash) bytes);
 * a long pre-hashed key's SHA-512 form for HMAC-SHA-512.
 */
int	m2m_core_hmac(struct m2m_core *c, const struct m2m_object *key,
	    enum m2m_hash hash, const struct m2m_secret *objauth,
	    const uint8_t *msg, size_t msglen, uint8_t *out);
/* AES-GCM with key: the operation's parameters, checked by the caller. */
struct m2m_gcm_args {
	int		 encrypt;
	const uint8_t	*iv;
	size_t		 ivlen;
	const uint8_t	*aad;
	size_t		 aadlen;
	size_t		 taglen;	/* bytes */
};
int	m2m_core_aes_gcm(struct m2m_core *c, const struct m2m_object *key,
	    const struct m2m_secret *objauth, const struct m2m_gcm_args *a,
	    const uint8_t *in, size_t inlen, uint8_t *out, size_t *ret_outlen);
/*
 * The same-key check of a derived key (pkcs11/p11_derive.c: deriving the
 * same key again returns the existing object only if it holds the value
 * derived now).  Under an HMAC key (CKK_GENERIC_SECRET), HMAC-SHA-256 of a
 * fixed 16-byte message; under an AES key, its AES-GCM ciphertext and tag
 * with a fixed IV: M2M_SAME_CHECK_LEN bytes, a secret to compare in
 * constant time and wipe.  m2m_core_same_check_value computes it on the
 * host from a value in hand; m2m_core_same_check, in the backend under a
 * key object.  M2M_ERR_KEY_TYPE for any other key type.
 */
#define M2M_SAME_CHECK_LEN	32
int	m2m_core_same_check_value(unsigned long key_type,
	    const struct m2m_secret *value, uint8_t out[M2M_SAME_CHECK_LEN]);
int	m2m_core_same_check(struct m2m_core *c, const struct m2m_object *key,
	    const struct m2m_secret *objauth,
	    uint8_t out[M2M_SAME_CHECK_LEN]);
/* len bytes from the backend's RNG. */
int	m2m_core_random(struct m2m_core *c, uint8_t *out, size_t len);
/*
 * The value of o into a new secret: a held session secret's copy, or the
 * backend's reveal of its blob (not cached).  Only for a key the policy
 * lets be read (m2m_policy_readable of CKA_VALUE).
 */
int	m2m_core_reveal(struct m2m_core *c, const struct m2m_object *o,
	    const struct m2m_secret *objauth, struct m2m_secret **ret);
/*
 * Object id is gone: the backend drops what it cached for both forms, and
 * the E2E expansion's last block is wiped if it was id's.
 */
void	m2m_core_forget(struct m2m_core *c, uint64_t id);

/*
 * CKM_M2M_E2E_EXPAND: T(n) with the E2E master key (kdf.h), *ret a
 * hash-length secret.  The core keeps the last block it made, T(n), of
 * the last master it expanded (by the master's id and a digest of its
 * blob) in locked memory, so that n + 1 of the same master costs one
 * backend HMAC instead of n + 1 (a key set asks n = 1..4 in turn).  Only
 * T(n - 1) is taken from it: every call still runs one HMAC with the
 * master in the backend.  The block is wiped when another master is
 * expanded, when the master is forgotten (m2m_core_forget), at
 * m2m_core_flush (a logout) and at m2m_core_close.  Called under the
 * module's lock, like the object cache.
 */
int	m2m_core_e2e_expand(struct m2m_core *c, const struct m2m_keyref *master,
	    enum m2m_hash hash, unsigned n, struct m2m_secret **ret);

/*
 * ECDSA key pairs (backend.h ec_generate, ec_import, ec_sign).
 *
 * m2m_core_has_ec: 1 when the backend makes and signs with EC keys (the
 * mechanisms are offered), else 0.  m2m_core_ec_import_allowed: 1 when
 * [token] ec_import = yes and the backend imports, else 0.
 *
 * m2m_core_ec_generate: a new key pair in the backend for the private key
 * object o (its CKA_EC_PARAMS name the curve): o->blob and o's
 * CKA_EC_POINT (DER OCTET STRING) are set, and the point itself is
 * written into pub[M2M_EC_POINT_MAX] (*ret_publen bytes) for the public
 * key object.  Errors: M2M_ERR_MECHANISM (no EC in this backend),
 * M2M_ERR_CURVE, the backend's.  On failure o may hold the point but no
 * blob: the caller drops it.
 *
 * m2m_core_ec_import: o gets the blob and CKA_EC_POINT of the private
 * scalar d (the curve's size, big-endian), which passes through the
 * backend once; the caller wipes d.  M2M_ERR_TEMPLATE_INCONSISTENT when
 * import is not allowed, M2M_ERR_ATTRIBUTE_VALUE for a d of the wrong
 * length or not a scalar of the curve.
 *
 * m2m_core_ec_sign: ECDSA with the private key object key over digest
 * into sig[M2M_EC_SIG_MAX] (r || s), in the backend.
 */
int	m2m_core_has_ec(const struct m2m_core *c);
int	m2m_core_ec_import_allowed(const struct m2m_core *c);
int	m2m_core_ec_generate(struct m2m_core *c, struct m2m_object *o,
	    const struct m2m_secret *objauth, uint8_t *pub,
	    size_t *ret_publen);
int	m2m_core_ec_import(struct m2m_core *c, struct m2m_object *o,
	    const uint8_t *d, size_t dlen, const struct m2m_secret *objauth);
int	m2m_core_ec_sign(struct m2m_core *c, const struct m2m_object *key,
	    const struct m2m_secret *objauth, const uint8_t *digest,
	    size_t dlen, uint8_t *sig, size_t *ret_siglen);
#endif /* M2M_CORE_H */
