/*
 * Private to tpm/: the TPM 2.0 backend's internal contracts.  Nothing outside
 * tpm/ (and its unit test) includes this file.
 *
 * Blob format (what the store keeps for a TPM key; all integers big-endian):
 *
 *	"M2MT" | version (1) | kind (1) | flags (1) | 0 (1)
 *	| TPM2B_PUBLIC | TPM2B_PRIVATE		the object used by the op
 *	[ | TPM2B_PUBLIC | TPM2B_PRIVATE ]	sealed copy (flags bit 0)
 *
 * kind: backend.h's enum m2m_key_kind, or TPM_KIND_PIN.  The sealed copy
 * (every HMAC and AES key; never a PIN object or an EC key) holds the same
 * value, for the level-T operations (tpm.c).  An EC key's object is an
 * ECC signing key (tpm_ec.c) whose public area holds the public point.
 *
 * Both parts are TPM-marshalled (Tss2_MU_*) and wrapped under the storage
 * primary key, so a blob is usable only in the TPM that made it.
 */
#ifndef M2M_TPM_INT_H
#define M2M_TPM_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include <tss2/tss2_common.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_sys.h>
#include <tss2/tss2_tcti.h>
#include <tss2/tss2_tpm2_types.h>

#include "backend.h"

#define TPM_BLOB_MAGIC		"M2MT"
#define TPM_BLOB_VERSION	1
#define TPM_BLOB_HDRLEN		8
#define TPM_BLOB_F_SEALED	0x01	/* a sealed copy follows */

/* Blob kinds: the four of backend.h plus the PIN-sealed objauth. */
#define TPM_KIND_PIN		0x50

#define TPM_AUTH_LEN		32	/* authValue = SHA-256(auth or PIN) */
#define TPM_OBJAUTH_LEN		32	/* objauth made by pin_seal */
#define TPM_PIN_MAX		256	/* longest PIN accepted */
#define TPM_HMAC_KEY_MAX	1024	/* longest hmac_keymsg key (salt) */
#define TPM_GCM_DATA_MAX	(1u << 20) /* longest AES-GCM input or AAD */
#define TPM_RANDOM_MAX		65536	/* largest random() request */
#define TPM_SYM_DATA_MAX	128	/* TPM's MAX_SYM_DATA: sealed bytes */
#define TPM_HMAC_SHA256_KEY_MAX	64	/* longest key for a SHA-256 nameAlg */

/* What a failing command was doing: decides the meaning of an auth error. */
enum tpm_rc_ctx {
	TPM_CTX_OP = 0,		/* key use: auth failure = BACKEND_AUTH */
	TPM_CTX_LOAD,		/* TPM2_Load of a stored blob */
	TPM_CTX_CREATE,		/* TPM2_Create of a new key */
	TPM_CTX_PIN,		/* pin_check unseal: auth failure = PIN_* */
	TPM_CTX_OPEN		/* open: unreachable TPM = BACKEND_ABSENT */
};

/*
 * The one place where a TSS2_RC becomes an M2M_ERR_* (never 0: rc must be a
 * failure).  Tss2_RC_Decode is used only for log text, by the caller.
 */
int	m2m_err_from_tss2(TSS2_RC rc, enum tpm_rc_ctx ctx);
/* The TPM response code without session/handle/parameter numbers. */
TSS2_RC	m2m_tpm_rc_base(TSS2_RC rc);
/*
 * 1 if the TPM did not start the command and asks for it again (RETRY,
 * YIELDED, TESTING): ESAPI's synchronous calls resend it, and so does the
 * backend for the commands it sends itself.
 */
int	m2m_tpm_rc_retry(TSS2_RC rc);

/* One object of a blob: its public and private parts. */
struct tpm_obj {
	TPM2B_PUBLIC	pub;
	TPM2B_PRIVATE	priv;
};

/* A parsed blob. */
struct tpm_blob {
	int		kind;	/* M2M_KIND_* or TPM_KIND_PIN */
	int		flags;
	struct tpm_obj	obj;	/* the operational object */
	struct tpm_obj	sealed;	/* valid when flags & TPM_BLOB_F_SEALED */
};

/*
 * Parse and check blob[0..len): header, exact TPM marshalling, nothing
 * trailing, and each public area matching the template this backend makes
 * for its kind.  0 or M2M_ERR_DATA_INVALID (never reads past len).
 */
int	m2m_tpm_blob_parse(const uint8_t *blob, size_t len,
	    struct tpm_blob *ret);
/* Serialise b into a new malloc'd buffer.  0, NO_MEMORY or INTERNAL. */
int	m2m_tpm_blob_build(const struct tpm_blob *b, uint8_t **ret_blob,
	    size_t *ret_len);

/*
 * The public templates this backend creates (and the only ones parse
 * accepts).  keylen for the HMAC template: the key's length in bytes (it
 * decides the nameAlg); keybits for AES: 128, 192 or 256.
 */
void	m2m_tpm_tmpl_primary(TPM2B_PUBLIC *ret);
void	m2m_tpm_tmpl_hmac(size_t keylen, TPM2B_PUBLIC *ret);
void	m2m_tpm_tmpl_aes(unsigned keybits, TPM2B_PUBLIC *ret);
void	m2m_tpm_tmpl_sealed(int da_protected, TPM2B_PUBLIC *ret);
/*
 * The template of an ECDSA key of kind M2M_KIND_EC_P256 or _P384 (another
 * kind gives P-256): generated (TPM2_Create: fixedTPM, fixedParent,
 * sensitiveDataOrigin) or imported (TPM2_Import, which allows neither
 * fixed attribute); unique left empty.
 */
void	m2m_tpm_tmpl_ec(int kind, int generated, TPM2B_PUBLIC *ret);
/* The size of an EC kind's scalars and coordinates (32, 48), else 0. */
size_t	m2m_tpm_ec_size(int kind);
/*
 * The binding key's template (tpm_bind.c): a keyedHash HMAC-SHA-256
 * primary key of the owner hierarchy with a fixed unique field, so the
 * same key is re-created from the owner seed whenever bind_mac needs it.
 */
void	m2m_tpm_tmpl_bind(TPM2B_PUBLIC *ret);

/*
 * AES-GCM (NIST SP 800-38D) composed from a block-encryption oracle: ecb
 * sets out[i] = E_K(in[i]) for n 16-byte blocks (n <= maxblocks) and
 * returns 0 or a negative M2M_ERR_*.  GHASH runs here on the host; every
 * use of K is a call to ecb.  Arguments as backend.h's aes_gcm (already
 * checked by the caller); on a bad tag returns
 * M2M_ERR_ENCRYPTED_DATA_INVALID with out untouched.
 */
typedef int (*tpm_ecb_fn)(void *arg, const uint8_t *in, uint8_t *out,
    size_t n);
int	m2m_tpm_gcm(tpm_ecb_fn ecb, void *arg, size_t maxblocks, int encrypt,
	    const uint8_t *iv, size_t ivlen, const uint8_t *aad, size_t aadlen,
	    size_t taglen, const uint8_t *in, size_t inlen, uint8_t *out,
	    size_t *ret_outlen);

/*
 * The backend's salted HMAC session (tpm_sess.c, which explains why and
 * how), through a tss2-sys context on the backend's TCTI.
 * Not thread-safe: the caller holds its lock.  TSS2_RC results are the
 * TPM's or TCTI's, or ESAPI-layer codes for local failures (MEMORY,
 * GENERAL_FAILURE: crypto, MALFORMED_RESPONSE, RSP_AUTH_FAILED: the
 * response's HMAC is wrong, nothing of it was used).
 */
struct tpm_sess;
enum { TPM_SESS_NONE, TPM_SESS_LOADED, TPM_SESS_SAVED };

/* A context with no session yet.  0, NO_MEMORY or INTERNAL. */
int	m2m_tpm_sess_new(TSS2_TCTI_CONTEXT *tcti, struct tpm_sess **ret);
/* Free (the session itself must have been forgotten); NULL accepted. */
void	m2m_tpm_sess_free(struct tpm_sess *s);
int	m2m_tpm_sess_state(const struct tpm_sess *s);
/*
 * Start a session salted to tpmkey, the loaded storage primary (ECC
 * P-256, SHA-256 name), whose public area is pub.  Any old one is
 * forgotten first.
 */
TSS2_RC	m2m_tpm_sess_start(struct tpm_sess *s, TPM2_HANDLE tpmkey,
	    const TPMT_PUBLIC *pub);
/* Flush the session (loaded or saved) from the TPM, if any; wipe keys. */
void	m2m_tpm_sess_forget(struct tpm_sess *s);
/*
 * ContextLoad of a saved session (a no-op when there is none, or it is
 * loaded).  Nothing saves one since shared mode flushes its session at
 * the end of each call (tpm_shared.c); kept for the state it reads.
 */
TSS2_RC	m2m_tpm_sess_load(struct tpm_sess *s);
/*
 * Run the command prepared in the session's SAPI context (m2m_tpm_sess_sys,
 * Tss2_Sys_*_Prepare) through the loaded session: authorising the command's
 * one handle, whose name and authValue are given (name NULL: a command
 * with no handle, the session only encrypts), the first command parameter
 * encrypted (TPM_SESS_IN), the first response parameter (TPM_SESS_OUT).
 * On success the response is in the context, decrypted, for
 * Tss2_Sys_*_Complete; then m2m_tpm_sess_clean() wipes it.  After a failure
 * past sending the session is forgotten (its nonces are in doubt), except
 * when the TPM did not start the command (m2m_tpm_rc_retry): then the
 * command must be prepared and run again.
 */
#define TPM_SESS_IN		0x01
#define TPM_SESS_OUT		0x02
#define TPM_SESS_PARAM_MAX	4096	/* a parameter's bytes, at most */
TSS2_SYS_CONTEXT *m2m_tpm_sess_sys(struct tpm_sess *s);
TSS2_RC	m2m_tpm_sess_run(struct tpm_sess *s, TPM2_CC cc,
	    const TPM2B_NAME *name, const TPM2B_AUTH *auth, int flags);
/* Wipe the SAPI context's command and response buffers. */
void	m2m_tpm_sess_clean(struct tpm_sess *s);

/*
 * The backend's state, shared by tpm.c (the ops), tpm_open.c, tpm_load.c,
 * tpm_cmd.c, tpm_create.c, tpm_shared.c and tpm_bind.c.  Every function
 * below that takes a struct tpm is called with t->lock held (open and
 * close excepted).
 */

/* A loaded key kept in the cache. */
struct tpm_ent {
	uint64_t	 id;		/* 0: free */
	ESYS_TR		 handle;	/* ESYS_TR_NONE: not loaded now */
	TPMS_CONTEXT	*ctx;		/* shared mode: the saved context */
	uint8_t		*blob;		/* the bytes it was loaded from */
	size_t		 bloblen;
	uint8_t		 auth[TPM_AUTH_LEN]; /* the authValue it was given */
	size_t		 authlen;
	unsigned long	 used;		/* LRU clock */
};

struct tpm {
	pthread_mutex_t		 lock;	/* around every ESAPI call */
	TSS2_TCTI_CONTEXT	*tcti;
	ESYS_CONTEXT		*esys;
	int			 shared; /* see the top of tpm_shared.c */
	int			 oom;	/* a command found the TPM full */
	uint64_t		 seed;	/* shared: retry jitter */
	int			 lockfd; /* shared: the lock file (record lock) */
	ESYS_TR			 primary;
	int			 primary_persistent;
	int			 primary_live; /* shared: loaded in this call */
	TPMS_CONTEXT		*primary_ctx; /* shared: saved, transient */
	TPMT_PUBLIC		 primary_pub; /* salts the session */
	TPM2B_NAME		 primary_name;
	TPM2B_NAME		 anchor;	/* the primary's name it must
						   have (conf's, or the first
						   one seen); size 0: none */
	struct tpm_sess		*fs;	/* salted, parameter-encrypting */
	size_t			 maxbuf; /* TPM2_PT_INPUT_BUFFER, <= 1024 */
	int			 have_encdec; /* TPM2_EncryptDecrypt2 */
	size_t			 cap;	/* keys loaded at most (cache + temp) */
	size_t			 nloaded; /* keys loaded now */
	struct tpm_ent		*ents;
	size_t			 nents;	/* exclusive: cap; shared: saved max */
	unsigned long		 clock;
	struct m2m_backend_stats st;
};

/* Count one command that reaches the TPM. */
#define TPM_CMD(t)	((t)->st.commands++)

/* The handle a command authorises: what the session needs of it. */
struct tpm_auth {
	TPM2_HANDLE	handle;
	TPM2B_NAME	name;
	TPM2B_AUTH	auth;	/* secret */
};

/* ---- open and close (tpm_open.c): the backend's open and close ops ---- */

/* backend.h's open: errbuf gets a readable reason on failure. */
int	m2m_tpm_open(const struct m2m_conf *conf, void **ret_impl,
	    char *errbuf, size_t errlen);
/* backend.h's close: everything unloaded and freed; NULL accepted. */
void	m2m_tpm_close(void *impl);

/* ---- commands and the session (tpm_cmd.c) ---- */

/*
 * Map rc (one place: m2m_err_from_tss2) and log what failed, secret-free.
 * Notes (t->oom) when the TPM was out of object or session memory: in
 * shared mode the call is then retried.  Returns the M2M_ERR_*.
 */
int	m2m_tpm_fail(struct tpm *t, const char *what, TSS2_RC rc,
	    enum tpm_rc_ctx ctx);
/* The TPM hash algorithm for h, or TPM2_ALG_NULL. */
TPMI_ALG_HASH m2m_tpm_hash_alg(enum m2m_hash h);
/* OpenSSL's digest for h, or NULL. */
const EVP_MD *m2m_tpm_evp_md(enum m2m_hash h);
/*
 * The authValue for auth bytes: empty when there are none (unless always,
 * for a PIN, where even an empty PIN is hashed), else SHA-256(auth) with
 * trailing zero bytes removed, as the TPM stores it.  ret is secret.
 * 0 or INTERNAL.
 */
int	m2m_tpm_auth_value(const uint8_t *auth, size_t len, int always,
	    TPM2B_AUTH *ret);
/*
 * An object's name: nameAlg || H_nameAlg(TPMT_PUBLIC), what the TPM
 * computes at TPM2_Load (ESAPI's Esys_TR_GetName would hash it again, in a
 * new OpenSSL library context, at every call).  0, DATA_INVALID, INTERNAL.
 */
int	m2m_tpm_obj_name(const TPMT_PUBLIC *pub, TPM2B_NAME *ret);
/*
 * What a session command needs of the loaded object h with public area
 * pub and authValue a (may be NULL).  ret is secret: wipe it.
 */
int	m2m_tpm_auth_of(struct tpm *t, ESYS_TR h, const TPMT_PUBLIC *pub,
	    const TPM2B_AUTH *a, struct tpm_auth *ret);
/*
 * Before a session command's Tss2_Sys_*_Prepare: the session loaded (or
 * started), and its SAPI context, which the command is prepared in.
 */
int	m2m_tpm_cmd_prep(struct tpm *t, TSS2_SYS_CONTEXT **ret);
/*
 * Send the prepared command cc through the session, authorising a (NULL:
 * no handle), parameters encrypted as flags say (TPM_SESS_IN/_OUT).  rc:
 * the Prepare's result (kept a TSS2_RC; mapped here, once), so that one
 * check follows the whole sequence.  TPM_AGAIN when the TPM did not start
 * the command (counted in *tries, at most TPM_TRIES_MAX): the caller
 * prepares it again, as ESAPI's calls do.  The pattern:
 *
 *	do {
 *		if ((r = m2m_tpm_cmd_prep(t, &sys)) != 0) ...
 *		rc = Tss2_Sys_X_Prepare(sys, ...);
 *	} while ((r = m2m_tpm_cmd_run(t, "X", rc, ..., &tries)) ==
 *	    TPM_AGAIN);
 */
#define TPM_AGAIN	1	/* m2m_tpm_cmd_run: prepare the command again */
#define TPM_TRIES_MAX	100	/* times a command is sent at most */
int	m2m_tpm_cmd_run(struct tpm *t, const char *what, TSS2_RC rc,
	    TPM2_CC cc, const struct tpm_auth *a, int flags,
	    enum tpm_rc_ctx ctx, unsigned *tries);
/* FlushContext of *h (if not ESYS_TR_NONE); *h becomes ESYS_TR_NONE. */
void	m2m_tpm_flush(struct tpm *t, ESYS_TR *h);
/* Wipe and free ESAPI output holding secret or key-derived bytes. */
void	m2m_tpm_esys_free_wiped(void *p, size_t len);
/*
 * The session (tpm_sess.c), loaded: back from its saved context in shared
 * mode (at its first use in a call), or started (at open, or after it was
 * lost).
 */
int	m2m_tpm_need_sess(struct tpm *t);
/*
 * One TPM2_HMAC (tpm.c) with the authorised key: msg[0..msglen) (at most
 * t->maxbuf) in, the olen-byte MAC out, both encrypted.
 */
int	m2m_tpm_hmac_one(struct tpm *t, const struct tpm_auth *key,
	    TPMI_ALG_HASH alg, size_t olen, const uint8_t *msg, size_t msglen,
	    uint8_t *out);

/* Shared mode: load the saved primary for this call if it is not
   (tpm_cmd.c, beside the commands that need it). */
int	m2m_tpm_need_primary(struct tpm *t);

/* ---- the loaded keys (tpm_load.c) ---- */

/* Unload a cached key, keeping the entry (and its saved context). */
void	m2m_tpm_ent_unload(struct tpm *t, struct tpm_ent *e);
/* Drop a cache entry (unloaded, wiped, free again). */
void	m2m_tpm_ent_clear(struct tpm *t, struct tpm_ent *e);
/* The cache entry of key id (0: a free entry), or NULL. */
struct tpm_ent *m2m_tpm_ent_find(struct tpm *t, uint64_t id);
/*
 * Unload least recently used keys until one more can be loaded (exclusive
 * mode drops their entries; shared mode keeps the saved contexts).
 */
int	m2m_tpm_make_room(struct tpm *t);
/*
 * Load one object under the primary; counts in nloaded (the caller caches
 * it or unloads it with m2m_tpm_unload_tmp).  Its authValue is given to
 * the session at each use (struct tpm_auth), never to ESAPI.
 */
int	m2m_tpm_load_obj(struct tpm *t, const struct tpm_obj *o,
	    ESYS_TR *ret);
/* Flush an object loaded for one call (none: no-op); uncounts it. */
void	m2m_tpm_unload_tmp(struct tpm *t, ESYS_TR *h);
/*
 * The checks every use of a keyref makes: its arguments, its blob parsed
 * into b (of the kind the keyref says, not a PIN object) and its authValue
 * into a (secret).
 */
int	m2m_tpm_ref_open(const struct m2m_keyref *ref, struct tpm_blob *b,
	    TPM2B_AUTH *a);
/*
 * The loaded handle for ref, which must be of the given kind: from the
 * cache (same id, same blob bytes, same auth) or loaded now.  *ret_tmp
 * says whether it is loaded for this call only (id 0: not cached); give
 * both back to m2m_tpm_key_release.  ret_auth gets what a session command
 * needs to use it (secret: wipe it).
 */
int	m2m_tpm_key_acquire(struct tpm *t, const struct m2m_keyref *ref,
	    int kind, ESYS_TR *ret, int *ret_tmp, struct tpm_auth *ret_auth);
/* Done with an acquired handle: unloaded if it was temporary. */
void	m2m_tpm_key_release(struct tpm *t, ESYS_TR *h, int tmp);

/* ---- creating keys (tpm_create.c) ---- */

/*
 * A new blob of the given kind (M2M_KIND_HMAC, _AES or TPM_KIND_PIN;
 * len already checked for it) holding key[0..len) with authValue a: the
 * operational object and, for every key but a PIN object, the sealed copy
 * (the top of tpm.c).  *ret_blob is malloc'd, the caller's.  0 or an
 * M2M_ERR_*.
 */
int	m2m_tpm_wrap_locked(struct tpm *t, int kind, const uint8_t *key,
	    size_t len, const TPM2B_AUTH *a, uint8_t **ret_blob,
	    size_t *ret_len);

/*
 * A new ECDSA key of kind M2M_KIND_EC_P256 or _P384 made by TPM2_Create
 * (template m2m_tpm_tmpl_ec, generated) with authValue a: its blob
 * (malloc'd, the caller's) and its public area (the point in unique).
 */
int	m2m_tpm_ec_create_locked(struct tpm *t, int kind, const TPM2B_AUTH *a,
	    uint8_t **ret_blob, size_t *ret_len, TPM2B_PUBLIC *ret_pub);
/*
 * The blob of an existing ECDSA private scalar d[0..dlen) (big-endian,
 * already checked against the curve) of the given kind, brought under the
 * primary by TPM2_Import with an inner wrapper whose key travels
 * encrypted by the session; pub: the imported template (m2m_tpm_tmpl_ec,
 * not generated) with the public point in unique.  Every copy of d made
 * here is wiped.
 */
int	m2m_tpm_ec_import_locked(struct tpm *t, int kind,
	    const TPM2B_PUBLIC *pub, const uint8_t *d, size_t dlen,
	    const TPM2B_AUTH *a, uint8_t **ret_blob, size_t *ret_len);

/* ---- shared mode: lock and retry (tpm_shared.c) ---- */

/*
 * Shared mode: open the lock file that serialises the calls of this
 * user's m2mtoken processes (one file for all simulators: they are for
 * tests, and a file per TCTI would pile up) into t->lockfd
 * (m2m_backend_lock_file).  Without one (none creatable or ours: an error
 * line) calls still work, relying on the retries.
 */
void	m2m_tpm_shared_lock_open(struct tpm *t, const char *store_path);
/* Close t->lockfd (under the lock of this process: tpm_shared.c). */
void	m2m_tpm_shared_lock_close(struct tpm *t);
/*
 * Shared mode: take the lock between processes (and this process's
 * backends), waiting until the call that began at start (m2m_tpm_now_ms)
 * has used its 20 s: 0, or M2M_ERR_BUSY (an error line).  Else 0.
 */
int	m2m_tpm_shared_lock(struct tpm *t, uint64_t start);
/* Shared mode: release what m2m_tpm_shared_lock took; else nothing. */
void	m2m_tpm_shared_unlock(struct tpm *t);
/*
 * End of a call in shared mode: unload everything, keeping the primary and
 * the keys as saved contexts and flushing the session, so that between
 * calls this process holds nothing in the TPM, not even a session slot.
 * Nothing in exclusive mode.
 */
void	m2m_tpm_call_end(struct tpm *t);
/* A monotonic clock in milliseconds. */
uint64_t m2m_tpm_now_ms(void);
/*
 * Shared mode: wait a few milliseconds (random, so that processes do not
 * retry in step) before a call is retried; 0, or -1 once the call has been
 * retried for TPM_RETRY_MS since start.
 */
int	m2m_tpm_backoff(struct tpm *t, unsigned attempt, uint64_t start);

/*
 * Run one call (an expression setting r) with t->lock held: in shared
 * mode under the lock between processes (not had within 20 s: r is
 * M2M_ERR_BUSY), followed by m2m_tpm_call_end and, when the TPM was full
 * because another process was mid-call, undone and retried.
 */
#define TPM_RUN_CALL(t, r, call) do {					\
	uint64_t start_ = (t)->shared ? m2m_tpm_now_ms() : 0;		\
	unsigned attempt_ = 0;						\
	if (((r) = m2m_tpm_shared_lock((t), start_)) == 0) {		\
		for (;;) {						\
			(t)->oom = 0;					\
			(r) = (call);					\
			m2m_tpm_call_end(t);				\
			if ((r) == 0 || !(t)->oom || !(t)->shared ||	\
			    m2m_tpm_backoff((t), ++attempt_, start_) != 0) \
				break;					\
		}							\
		m2m_tpm_shared_unlock(t);				\
	}								\
	(t)->oom = 0;							\
} while (0)

/* ---- the binding key (tpm_bind.c) ---- */

/* backend.h's bind_mac. */
int	m2m_tpm_bind_mac(void *impl, const uint8_t *msg, size_t msglen,
	    uint8_t *out);

/* ---- ECDSA keys (tpm_ec.c): backend.h's ec_generate, ec_import, ec_sign */

int	m2m_tpm_ec_generate(void *impl, enum m2m_key_kind kind,
	    const uint8_t *auth, size_t authlen, uint8_t **ret_blob,
	    size_t *ret_bloblen, uint8_t *pub, size_t *ret_publen);
int	m2m_tpm_ec_import(void *impl, enum m2m_key_kind kind,
	    const uint8_t *d, size_t dlen, const uint8_t *auth,
	    size_t authlen, uint8_t **ret_blob, size_t *ret_bloblen,
	    uint8_t *pub, size_t *ret_publen);
int	m2m_tpm_ec_sign(void *impl, const struct m2m_keyref *key,
	    const uint8_t *digest, size_t digestlen, uint8_t *sig,
	    size_t *ret_siglen);

/*
 * For the unit test only: behave as on a TPM without TPM2_EncryptDecrypt2
 * (AES-GCM at level T).
 */
void	m2m_tpm_test_level_t(void *impl);

#endif /* M2M_TPM_INT_H */
