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
 * The sealed copy (every key; never a PIN object) holds the same value,
 * for the level-T operations (tpm.c).
 *
 * Both parts are TPM-marshalled (Tss2_MU_*) and wrapped under the storage
 * primary key, so a blob is usable only in the TPM that made it.
 */
#ifndef M2M_TPM_INT_H
#define M2M_TPM_INT_H

#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_common.h>
#include <tss2/tss2_sys.h>
#include <tss2/tss2_tcti.h>
#include <tss2/tss2_tpm2_types.h>

#include "backend.h"

#define TPM_BLOB_MAGIC		"M2MT"
#define TPM_BLOB_VERSION	1
#define TPM_BLOB_HDRLEN		8
#define TPM_BLOB_F_SEALED	0x01	/* a sealed copy follows */

/* Blob kinds: the two of backend.h plus the PIN-sealed objauth. */
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
	int		kind;	/* M2M_KIND_HMAC, _AES or TPM_KIND_PIN */
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
/* ContextSave / ContextLoad of a session (no-ops when there is none). */
TSS2_RC	m2m_tpm_sess_save(struct tpm_sess *s);
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
 * For the unit test only: behave as on a TPM without TPM2_EncryptDecrypt2
 * (AES-GCM at level T).
 */
void	m2m_tpm_test_level_t(void *impl);

#endif /* M2M_TPM_INT_H */
