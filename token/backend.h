/*
 * The backend interface: what the token core asks of the hardware (a TPM or
 * an underlying PKCS#11 HSM).  A backend knows nothing of oneM2M, roles,
 * labels or PKCS#11 sessions: it wraps secrets into opaque blobs and runs
 * HMAC / AES-GCM with the key a blob names, inside the hardware.
 *
 * Blobs are not secret (they are wrapped by a key that never leaves the
 * hardware) and are what the store keeps.  Every function is thread safe
 * (a backend serialises internally as its hardware requires).
 *
 * Loaded keys are cached by keyref.id (bounded LRU, size from the config).
 * A cache entry is only used when the blob is byte-for-byte the one it was
 * loaded from, so a reused id can never select the wrong key.
 */
#ifndef M2M_BACKEND_H
#define M2M_BACKEND_H

#include <stddef.h>
#include <stdint.h>

struct m2m_conf;
struct m2m_secret;

/* What a wrapped key is for; fixes the hardware key type. */
enum m2m_key_kind {
	M2M_KIND_HMAC = 1,	/* generic secret, any length 1..128: HMAC key */
	M2M_KIND_AES = 2,	/* AES key, 16, 24 or 32 bytes: AES-GCM */
	M2M_KIND_EC_P256 = 3,	/* ECDSA private key on NIST P-256 */
	M2M_KIND_EC_P384 = 4	/* ECDSA private key on NIST P-384 */
};

enum m2m_hash {
	M2M_HASH_SHA256 = 1,	/* 32-byte output */
	M2M_HASH_SHA384 = 2,	/* 48 */
	M2M_HASH_SHA512 = 3	/* 64 */
};
#define M2M_HASH_MAX_LEN	64
/* Output length of h, or 0 for an unknown value. */
size_t	m2m_hash_len(enum m2m_hash h);

#define M2M_BLOB_MAX		4096	/* largest wrapped blob accepted */
#define M2M_EC_POINT_MAX	97	/* uncompressed P-384 point */
#define M2M_EC_SIG_MAX		96	/* r || s on P-384 */
#define M2M_KEY_MAX		128	/* largest secret a backend wraps */

/*
 * The limits every backend applies, checked in one place (backend.c):
 *
 * m2m_backend_key_len_ok: may a key of this kind be len bytes (HMAC
 * 1..M2M_KEY_MAX, AES 16, 24 or 32)?  1 or 0; 0 for an unknown kind.
 *
 * m2m_backend_gcm_check: the AES-GCM lengths of aes_gcm below; 0, or
 * M2M_ERR_MECHANISM_PARAM for an IV of 0 or over M2M_GCM_IV_MAX bytes or
 * a tag outside M2M_GCM_TAG_MIN..M2M_GCM_TAG_MAX bytes.
 */
#define M2M_GCM_IV_MAX		256
#define M2M_GCM_TAG_MIN		4
#define M2M_GCM_TAG_MAX		16
int	m2m_backend_key_len_ok(enum m2m_key_kind kind, size_t len);
int	m2m_backend_gcm_check(size_t ivlen, size_t taglen);

/*
 * The lock file a backend serialises its processes with (name "hsm" or
 * "tpm"), open for a POSIX record lock (fcntl; not flock(2), which a child
 * forked without exec would share): the first of $XDG_RUNTIME_DIR/m2mtoken-NAME.lock,
 * /tmp/m2mtoken-NAME-UID.lock and the store's directory's
 * .m2mtoken-NAME.lock (store_path may be NULL) that is a regular file of
 * this user (made 0600, never through a symbolic link).  The per-user
 * places come first so that every process of the user on one backend
 * shares one lock whatever its store; a file another user made first in
 * /tmp is passed over (a warning line: the store's file serialises only
 * that store's processes).  -1, and an error line, when none is.
 */
int	m2m_backend_lock_file(const char *name, const char *store_path);

/* Names a wrapped key for one operation; nothing here is owned. */
struct m2m_keyref {
	uint64_t		 id;	/* cache key; 0 = do not cache */
	enum m2m_key_kind	 kind;
	const uint8_t		*blob;
	size_t			 bloblen;
	/*
	 * Object authorisation (PIN binding, see pin_seal): NULL/0 for none.
	 * Backends without PIN binding ignore it.
	 */
	const uint8_t		*auth;
	size_t			 authlen;
};

/* Counters for benchmarks: hardware commands issued since open. */
struct m2m_backend_stats {
	unsigned long	commands;	/* HSM C_* calls / TPM commands */
	unsigned long	loads;		/* cache misses that loaded a key */
};

struct m2m_backend_ops {
	const char *name;	/* "hsm", "tpm", "fake" */

	/*
	 * Open the backend described by conf (the [hsm] or [tpm] section),
	 * creating the backend's wrapping/storage key on first use.  Errors:
	 * M2M_ERR_BACKEND_ABSENT (module/TPM/token not there),
	 * M2M_ERR_BACKEND_AUTH (PIN refused), M2M_ERR_BACKEND; the reason is
	 * written (secret-free, one line) into errbuf.
	 */
	int	(*open)(const struct m2m_conf *conf, void **ret_impl,
		    char *errbuf, size_t errlen);
	/* Flush cached keys, close; NULL accepted. */
	void	(*close)(void *impl);

	/*
	 * Wrap key[0..len) as a key of the given kind; *ret_blob (malloc'd,
	 * caller frees with free()) and *ret_bloblen on success.  The bytes
	 * pass through the hardware; the backend keeps no copy.
	 */
	int	(*wrap)(void *impl, enum m2m_key_kind kind, const uint8_t *key,
		    size_t len, uint8_t **ret_blob, size_t *ret_bloblen);

	/*
	 * HMAC-hash with the wrapped key over msg, inside the hardware.  out
	 * must hold m2m_hash_len(hash) bytes; the caller decides whether the
	 * output is secret (a derived key) and stores it accordingly.
	 * kind must be M2M_KIND_HMAC, else M2M_ERR_KEY_TYPE.
	 */
	int	(*hmac)(void *impl, const struct m2m_keyref *key,
		    enum m2m_hash hash, const uint8_t *msg, size_t msglen,
		    uint8_t *out);

	/*
	 * HMAC-hash(hmac_key, M = the wrapped key's value): the stored key is
	 * the message (oneM2M Ke2e_master = HMAC(Salt, Kpsa)).  When the
	 * hardware cannot do this, the value is unwrapped into locked memory
	 * for this call only (assurance level T) and wiped.  M2M_ERR_KEY_SIZE
	 * for a combination of lengths the hardware cannot do (HSM backend:
	 * hsm/hsm.h, M2M_HSM_VERSION_MSG).
	 */
	int	(*hmac_keymsg)(void *impl, const uint8_t *hmac_key,
		    size_t hmac_keylen, const struct m2m_keyref *msgkey,
		    enum m2m_hash hash, uint8_t *out);

	/*
	 * AES-GCM with the wrapped AES key.  encrypt: out = ciphertext||tag
	 * (inlen + taglen bytes); decrypt: in = ciphertext||tag, out =
	 * plaintext (inlen - taglen), M2M_ERR_ENCRYPTED_DATA_INVALID on a
	 * bad tag with nothing written.  taglen and ivlen: m2m_backend_gcm_check.
	 */
	int	(*aes_gcm)(void *impl, const struct m2m_keyref *key,
		    int encrypt, const uint8_t *iv, size_t ivlen,
		    const uint8_t *aad, size_t aadlen, size_t taglen,
		    const uint8_t *in, size_t inlen, uint8_t *out,
		    size_t *ret_outlen);

	/*
	 * The value of a wrapped key, into a new secret.  The core calls this
	 * only for objects whose CKA_EXTRACTABLE is TRUE and CKA_SENSITIVE is
	 * FALSE (session secrets such as a TLS master secret, role-less keys).
	 */
	int	(*reveal)(void *impl, const struct m2m_keyref *key,
		    struct m2m_secret **ret);

	/* len random bytes from the hardware RNG. */
	int	(*random)(void *impl, uint8_t *out, size_t len);

	/* Drop any cached handle for id (object destroyed). */
	void	(*forget)(void *impl, uint64_t id);
	/*
	 * Optional (NULL: nothing is held): destroy every loaded key the
	 * backend holds in the hardware (the HSM's working copies), so that
	 * none outlives a logout; the next use loads the key again.
	 */
	void	(*flush)(void *impl);

	/* Counters; may be NULL. */
	void	(*stats)(void *impl, struct m2m_backend_stats *ret);

	/*
	 * Optional (NULL when the backend has none): PIN binding.
	 *
	 * pin_seal: make a blob that opens only with pin and holds objauth
	 * (the token's object-authorisation secret, 32 bytes; NULL: the
	 * backend creates a fresh random one).  The core keeps one such blob
	 * per PIN (SO and user) of a token, so both PINs open the same
	 * objauth and a C_SetPIN re-seals the same value.
	 *
	 * pin_check: open the blob with pin.  0 and *ret_objauth (new secret)
	 * on success; M2M_ERR_PIN_INCORRECT (counted by the hardware's
	 * dictionary-attack protection) or M2M_ERR_PIN_LOCKED (hardware
	 * lockout).  The core then passes objauth in every keyref.auth and
	 * to wrap_auth, so keys are usable only after a successful login.
	 *
	 * Both run without the module's lock (C_Login, C_SetPIN, C_InitPIN
	 * do their PIN work unlocked), at the same time as any other op of
	 * the same impl: a backend that has them serialises itself.
	 */
	int	(*pin_seal)(void *impl, const uint8_t *pin, size_t pinlen,
		    const struct m2m_secret *objauth, uint8_t **ret_blob,
		    size_t *ret_bloblen);
	int	(*pin_check)(void *impl, const uint8_t *blob, size_t bloblen,
		    const uint8_t *pin, size_t pinlen,
		    struct m2m_secret **ret_objauth);
	/*
	 * Optional: wrap() with an object authorisation value; when present
	 * the core uses it instead of wrap() whenever it has an objauth.
	 */
	int	(*wrap_auth)(void *impl, enum m2m_key_kind kind,
		    const uint8_t *key, size_t len, const uint8_t *auth,
		    size_t authlen, uint8_t **ret_blob, size_t *ret_bloblen);
	/*
	 * Optional: wrap() for a key whose value the core may reveal()
	 * later (CKA_EXTRACTABLE TRUE, CKA_SENSITIVE FALSE).  A backend that
	 * has it may refuse reveal() of every blob wrap() made
	 * (M2M_ERR_ATTRIBUTE_SENSITIVE): the HSM backend keeps wrap()'s
	 * blobs unwrappable into sensitive keys only.  NULL: wrap()'s blobs
	 * can be revealed.  Not combined with wrap_auth (the HSM backend,
	 * the only one with it, has no PIN binding).
	 */
	int	(*wrap_readable)(void *impl, enum m2m_key_kind kind,
		    const uint8_t *key, size_t len, uint8_t **ret_blob,
		    size_t *ret_bloblen);
	/*
	 * Optional: wrap() for a key the core never passes to
	 * hmac_keymsg() (its role can never be an HMAC message:
	 * m2m_policy_role_message() in policy.h).  A backend may leave out
	 * what only hmac_keymsg() needs (the HSM backend: the message form,
	 * one C_CreateObject + C_WrapKey less per HMAC key under 64 bytes);
	 * hmac_keymsg() of such a blob may fail with M2M_ERR_KEY_SIZE.
	 * NULL: the core uses wrap().  Not combined with wrap_auth.
	 */
	int	(*wrap_nomsg)(void *impl, enum m2m_key_kind kind,
		    const uint8_t *key, size_t len, uint8_t **ret_blob,
		    size_t *ret_bloblen);

	/*
	 * Optional (NULL: the backend has no EC keys): ECDSA key pairs.
	 * kind is M2M_KIND_EC_P256 or _P384, else M2M_ERR_KEY_TYPE.
	 *
	 * ec_generate: a new key pair made inside the hardware; the private
	 * key never leaves it in clear (TPM: an ECC signing key under the
	 * storage primary, fixedTPM | fixedParent | sensitiveDataOrigin |
	 * userWithAuth | sign, no decrypt; HSM: generated with CKA_SENSITIVE
	 * and CKA_EXTRACTABLE only towards the wrapping key, wrapped out).
	 * *ret_blob as wrap(); pub (M2M_EC_POINT_MAX bytes) receives the
	 * public point uncompressed (0x04 || X || Y: 65 or 97 bytes),
	 * *ret_publen its length.  auth/authlen: object authorisation as
	 * wrap_auth() has it (NULL/0: none).
	 *
	 * ec_import: the same for an existing private scalar d (big-endian,
	 * exactly the curve's size: 32 or 48 bytes), which passes through
	 * the hardware as wrap()'s key does; M2M_ERR_KEY_SIZE for a d that
	 * is not a valid scalar of the curve.  The core calls it only when
	 * the token allows import ([token] ec_import).
	 *
	 * ec_sign: ECDSA with the wrapped key over digest (1..64 bytes,
	 * already hashed; longer digests are truncated as ECDSA says), in
	 * the hardware.  sig (M2M_EC_SIG_MAX bytes) receives r || s, each
	 * the curve's size (PKCS#11 CKM_ECDSA form), *ret_siglen the total.
	 */
	int	(*ec_generate)(void *impl, enum m2m_key_kind kind,
		    const uint8_t *auth, size_t authlen, uint8_t **ret_blob,
		    size_t *ret_bloblen, uint8_t *pub, size_t *ret_publen);
	int	(*ec_import)(void *impl, enum m2m_key_kind kind,
		    const uint8_t *d, size_t dlen, const uint8_t *auth,
		    size_t authlen, uint8_t **ret_blob, size_t *ret_bloblen,
		    uint8_t *pub, size_t *ret_publen);
	int	(*ec_sign)(void *impl, const struct m2m_keyref *key,
		    const uint8_t *digest, size_t digestlen, uint8_t *sig,
		    size_t *ret_siglen);

	/*
	 * Required: the binding MAC of stored objects (store.h).
	 * out = HMAC-SHA-256(B, msg) (M2M_BIND_MAC_LEN bytes) under the
	 * backend's binding key B: a key that exists only inside the
	 * hardware, is never in a blob or in the store, and is the same
	 * for every process and every open of this backend (HSM: the token
	 * key "m2mtoken-bind"; TPM: a keyedHash primary key of the owner
	 * hierarchy).  msglen 1..M2M_BIND_MSG_MAX.  Not a secret output, but
	 * only the backend can make it.  out is written only on success.
	 */
	int	(*bind_mac)(void *impl, const uint8_t *msg, size_t msglen,
		    uint8_t *out);

	/*
	 * Optional (NULL: nothing to anchor): the public identity of the
	 * hardware key the backend trusts with its secrets (TPM: the name
	 * of the storage primary its sessions are salted to), at most
	 * M2M_BACKEND_ANCHOR_MAX bytes, into out; *ret_len.  The core keeps
	 * the one of the first open in the store and passes it back in
	 * conf->backend_anchor at every later open, where the backend
	 * refuses any other (M2M_ERR_BACKEND) before it sends anything
	 * secret: nothing on the way to the hardware can answer for it.
	 */
	int	(*anchor)(void *impl, uint8_t *out, size_t cap,
		    size_t *ret_len);
};

#define M2M_BIND_MAC_LEN	32	/* HMAC-SHA-256 */
#define M2M_BIND_MSG_MAX	256	/* longest bind_mac message */

/* An open backend: its operations and its private state. */
struct m2m_backend {
	const struct m2m_backend_ops	*ops;
	void				*impl;
};

extern const struct m2m_backend_ops m2m_hsm_backend_ops;	/* hsm/ */
extern const struct m2m_backend_ops m2m_tpm_backend_ops;	/* tpm/ */

#endif /* M2M_BACKEND_H */
