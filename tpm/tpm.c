/*
 * m2mtoken: the TPM 2.0 backend's operations and its op table, through
 * tpm2-tss: ESAPI for the commands without a session, tss2-sys and our own
 * salted session for the others (tpm_sess.c; docs/security-model.md says
 * why).  See backend.h for the contract, tpm_int.h for the blob format and
 * the files' contracts, docs/architecture.md for the files of tpm/:
 * opening (tpm_open.c), loaded keys (tpm_load.c), commands (tpm_cmd.c),
 * new keys (tpm_create.c), shared mode (tpm_shared.c), the binding key
 * (tpm_bind.c), ECDSA keys (tpm_ec.c).
 *
 * Assurance levels (docs/security-model.md, the TPM table): hmac() and
 * aes_gcm() H, the key used only in the TPM (GCM composed on
 * TPM2_EncryptDecrypt2, tpm_gcm.c); reveal(), hmac_keymsg() and AES-GCM
 * on a TPM without EncryptDecrypt2 T: they unseal the sealed copy that
 * every key blob carries next to its operational object (keyedHash data
 * object: fixedTPM, fixedParent, same authValue) into locked memory for
 * one call, as the HSM backend unwraps its blobs.
 *
 * Object authorisation: authValue = SHA-256(auth) (keyref.auth, wrap_auth)
 * or SHA-256(PIN) (pin_seal), trailing zero bytes removed as the TPM does.
 * Only PIN objects are DA-protected.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>

#include "backend.h"
#include "err.h"
#include "log.h"
#include "secret.h"
#include "tpm_int.h"

#define TPM_DATA_MAX		(16u << 20) /* longest HMAC message */
#define TPM_RANDOM_CHUNK	64	/* bytes asked per TPM2_GetRandom */
#define TPM_SEQ_AUTH_LEN	32	/* an HMAC sequence's authValue */

/* ---- wrapping keys (TPM2_Create: tpm_create.c) ---------------------- */

static int
wrap_common(void *impl, enum m2m_key_kind kind, const uint8_t *key,
    size_t len, const uint8_t *auth, size_t authlen, uint8_t **ret_blob,
    size_t *ret_bloblen)
{
	struct tpm *t = impl;
	TPM2B_AUTH a;
	uint8_t *blob = NULL;
	size_t bloblen = 0;
	int r = M2M_ERR_INTERNAL;

	memset(&a, 0, sizeof(a));
	if (t == NULL || key == NULL || ret_blob == NULL ||
	    ret_bloblen == NULL || (auth == NULL && authlen != 0) ||
	    authlen > TPM_PIN_MAX)
		return M2M_ERR_INVALID_ARGUMENT;
	if (kind != M2M_KIND_HMAC && kind != M2M_KIND_AES)
		return M2M_ERR_INVALID_ARGUMENT;
	if (!m2m_backend_key_len_ok(kind, len))
		return M2M_ERR_KEY_SIZE;
	if ((r = m2m_tpm_auth_value(auth, authlen, 0, &a)) != 0)
		return r;
	pthread_mutex_lock(&t->lock);
	TPM_RUN_CALL(t, r, m2m_tpm_wrap_locked(t, kind, key, len, &a, &blob,
	    &bloblen));
	pthread_mutex_unlock(&t->lock);
	m2m_wipe(&a, sizeof(a));
	if (r != 0)
		return r;
	*ret_blob = blob;
	*ret_bloblen = bloblen;
	return 0;
}

static int
tpm_wrap(void *impl, enum m2m_key_kind kind, const uint8_t *key, size_t len,
    uint8_t **ret_blob, size_t *ret_bloblen)
{
	return wrap_common(impl, kind, key, len, NULL, 0, ret_blob,
	    ret_bloblen);
}

static int
tpm_wrap_auth(void *impl, enum m2m_key_kind kind, const uint8_t *key,
    size_t len, const uint8_t *auth, size_t authlen, uint8_t **ret_blob,
    size_t *ret_bloblen)
{
	return wrap_common(impl, kind, key, len, auth, authlen, ret_blob,
	    ret_bloblen);
}

/* ---- HMAC --------------------------------------------------------------- */

/* see tpm_int.h */
int
m2m_tpm_hmac_one(struct tpm *t, const struct tpm_auth *key, TPMI_ALG_HASH alg,
    size_t olen, const uint8_t *msg, size_t msglen, uint8_t *out)
{
	TSS2_SYS_CONTEXT *sys;
	TPM2B_MAX_BUFFER buf;
	TPM2B_DIGEST res;
	unsigned tries = 0;
	TSS2_RC rc;
	int r;

	memset(&res, 0, sizeof(res));
	buf.size = (UINT16)msglen;
	if (msglen > 0)
		memcpy(buf.buffer, msg, msglen);
	do {
		if ((r = m2m_tpm_cmd_prep(t, &sys)) != 0)
			break;
		rc = Tss2_Sys_HMAC_Prepare(sys, key->handle, &buf, alg);
	} while ((r = m2m_tpm_cmd_run(t, "HMAC", rc, TPM2_CC_HMAC, key,
	    TPM_SESS_IN | TPM_SESS_OUT, TPM_CTX_OP, &tries)) == TPM_AGAIN);
	m2m_wipe(&buf, sizeof(buf));
	if (r != 0)
		return r;
	rc = Tss2_Sys_HMAC_Complete(sys, &res);
	m2m_tpm_sess_clean(t->fs);
	if (rc != TSS2_RC_SUCCESS)
		r = m2m_tpm_fail(t, "HMAC (response)", rc, TPM_CTX_OP);
	else if (res.size != olen) {
		m2m_error("tpm: HMAC of %u bytes, expected %zu",
		    (unsigned)res.size, olen);
		r = M2M_ERR_BACKEND;
	} else
		memcpy(out, res.buffer, olen);
	m2m_wipe(&res, sizeof(res));
	return r;
}

/*
 * An HMAC sequence, for a message longer than one TPM buffer: HMAC_Start
 * with the key, SequenceUpdate for every full buffer, SequenceComplete
 * (MAC out encrypted).  The sequence object has an empty name (its
 * nameAlg is TPM_ALG_NULL), so its authValue is what binds Update and
 * Complete to it: a fresh random one, sent encrypted (HMAC_Start's first
 * parameter).  With an empty one, anything on the bus could complete the
 * sequence with a message of its own and read the key's HMAC of it, or
 * swap in a sequence of its own (test_seq_auth).
 */
static int
hmac_seq(struct tpm *t, const struct tpm_auth *key, TPMI_ALG_HASH alg,
    size_t olen, const uint8_t *msg, size_t msglen, uint8_t *out)
{
	TSS2_SYS_CONTEXT *sys;
	struct tpm_auth seq;
	TPM2B_MAX_BUFFER buf;
	TPM2B_DIGEST res;
	TPMT_TK_HASHCHECK tk;
	unsigned tries = 0;
	size_t n;
	TSS2_RC rc;
	int r;

	memset(&seq, 0, sizeof(seq));
	memset(&res, 0, sizeof(res));
	seq.auth.size = TPM_SEQ_AUTH_LEN;
	if (RAND_bytes(seq.auth.buffer, TPM_SEQ_AUTH_LEN) != 1)
		return M2M_ERR_INTERNAL;
	/* no trailing zero byte, which the TPM would drop from it */
	seq.auth.buffer[TPM_SEQ_AUTH_LEN - 1] |= 1;
	do {
		if ((r = m2m_tpm_cmd_prep(t, &sys)) != 0)
			goto out;
		rc = Tss2_Sys_HMAC_Start_Prepare(sys, key->handle, &seq.auth,
		    alg);
	} while ((r = m2m_tpm_cmd_run(t, "HMAC_Start", rc,
	    TPM2_CC_HMAC_Start, key, TPM_SESS_IN, TPM_CTX_OP, &tries)) ==
	    TPM_AGAIN);
	if (r != 0)
		goto out;
	rc = Tss2_Sys_HMAC_Start_Complete(sys, &seq.handle);
	m2m_tpm_sess_clean(t->fs);
	if (rc != TSS2_RC_SUCCESS) {
		r = m2m_tpm_fail(t, "HMAC_Start (response)", rc, TPM_CTX_OP);
		/*
		 * The handle is read before the rest of the response: if it
		 * was, the TPM made the sequence, and in shared mode nobody
		 * else would ever flush it.
		 */
		goto flush;
	}
	seq.name.size = 0;	/* a sequence has no nameAlg, so no name */

	for (;;) {
		n = msglen > t->maxbuf ? t->maxbuf : msglen;
		buf.size = (UINT16)n;
		memcpy(buf.buffer, msg, n);
		if (n == msglen) {
			do {
				if ((r = m2m_tpm_cmd_prep(t, &sys)) != 0)
					break;
				rc = Tss2_Sys_SequenceComplete_Prepare(sys,
				    seq.handle, &buf, TPM2_RH_NULL);
			} while ((r = m2m_tpm_cmd_run(t, "SequenceComplete", rc,
			    TPM2_CC_SequenceComplete, &seq,
			    TPM_SESS_IN | TPM_SESS_OUT, TPM_CTX_OP, &tries)) ==
			    TPM_AGAIN);
			if (r != 0)
				break;
			rc = Tss2_Sys_SequenceComplete_Complete(sys, &res,
			    &tk);
			m2m_tpm_sess_clean(t->fs);
			seq.handle = 0;	/* the TPM flushed it */
			if (rc != TSS2_RC_SUCCESS)
				r = m2m_tpm_fail(t,
				    "SequenceComplete (response)", rc,
				    TPM_CTX_OP);
			else if (res.size != olen) {
				m2m_error("tpm: HMAC of %u bytes, expected "
				    "%zu", (unsigned)res.size, olen);
				r = M2M_ERR_BACKEND;
			} else
				memcpy(out, res.buffer, olen);
			break;
		}
		do {
			if ((r = m2m_tpm_cmd_prep(t, &sys)) != 0)
				break;
			rc = Tss2_Sys_SequenceUpdate_Prepare(sys, seq.handle,
			    &buf);
		} while ((r = m2m_tpm_cmd_run(t, "SequenceUpdate", rc,
		    TPM2_CC_SequenceUpdate, &seq, TPM_SESS_IN, TPM_CTX_OP,
		    &tries)) == TPM_AGAIN);
		if (r != 0)
			break;
		m2m_tpm_sess_clean(t->fs);
		msg += n;
		msglen -= n;
	}
 flush:
	if (seq.handle != 0) {
		TPM_CMD(t);
		if ((rc = Tss2_Sys_FlushContext(m2m_tpm_sess_sys(t->fs),
		    seq.handle)) != TSS2_RC_SUCCESS)
			m2m_debug("tpm: FlushContext (sequence): %s",
			    Tss2_RC_Decode(rc));
		m2m_tpm_sess_clean(t->fs);
	}
	m2m_wipe(&buf, sizeof(buf));
	m2m_wipe(&res, sizeof(res));
 out:
	m2m_wipe(&seq, sizeof(seq));
	return r;
}

/* One HMAC call: the key, then TPM2_HMAC or a sequence. */
static int
hmac_op(struct tpm *t, const struct m2m_keyref *key, enum m2m_hash hash,
    const uint8_t *msg, size_t msglen, uint8_t *res)
{
	struct tpm_auth a;
	ESYS_TR h = ESYS_TR_NONE;
	int tmp = 0, r;

	if ((r = m2m_tpm_key_acquire(t, key, M2M_KIND_HMAC, &h, &tmp, &a)) != 0)
		return r;
	if (msglen <= t->maxbuf)
		r = m2m_tpm_hmac_one(t, &a, m2m_tpm_hash_alg(hash),
		    m2m_hash_len(hash), msg, msglen, res);
	else
		r = hmac_seq(t, &a, m2m_tpm_hash_alg(hash),
		    m2m_hash_len(hash), msg, msglen, res);
	m2m_wipe(&a, sizeof(a));
	m2m_tpm_key_release(t, &h, tmp);
	return r;
}

static int
tpm_hmac(void *impl, const struct m2m_keyref *key, enum m2m_hash hash,
    const uint8_t *msg, size_t msglen, uint8_t *out)
{
	struct tpm *t = impl;
	uint8_t res[M2M_HASH_MAX_LEN];
	size_t olen = m2m_hash_len(hash);
	int r = M2M_ERR_INTERNAL;

	if (t == NULL || key == NULL || (msg == NULL && msglen != 0) ||
	    out == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if (olen == 0 || m2m_tpm_hash_alg(hash) == TPM2_ALG_NULL)
		return M2M_ERR_MECHANISM;
	if (msglen > TPM_DATA_MAX)
		return M2M_ERR_DATA_LEN;
	pthread_mutex_lock(&t->lock);
	TPM_RUN_CALL(t, r, hmac_op(t, key, hash, msg, msglen, res));
	pthread_mutex_unlock(&t->lock);
	if (r == 0)
		memcpy(out, res, olen);
	m2m_wipe(res, sizeof(res));
	return r;
}

/* ---- unsealing: HMAC keys' sealed copies, PIN objects ------------------- */

/*
 * Load the sealed object o and unseal it with authValue a (response
 * encrypted) into a new secret; the object is flushed again.
 */
static int
unseal_locked(struct tpm *t, const struct tpm_obj *o, const TPM2B_AUTH *a,
    enum tpm_rc_ctx ctx, struct m2m_secret **ret)
{
	TSS2_SYS_CONTEXT *sys;
	struct tpm_auth ia;
	TPM2B_SENSITIVE_DATA d;
	ESYS_TR h = ESYS_TR_NONE;
	unsigned tries = 0;
	TSS2_RC rc;
	int r;

	memset(&ia, 0, sizeof(ia));
	memset(&d, 0, sizeof(d));
	if ((r = m2m_tpm_load_obj(t, o, &h)) != 0 ||
	    (r = m2m_tpm_auth_of(t, h, &o->pub.publicArea, a, &ia)) != 0)
		goto out;
	do {
		if ((r = m2m_tpm_cmd_prep(t, &sys)) != 0)
			goto out;
		rc = Tss2_Sys_Unseal_Prepare(sys, ia.handle);
	} while ((r = m2m_tpm_cmd_run(t, "Unseal", rc, TPM2_CC_Unseal, &ia,
	    TPM_SESS_OUT, ctx, &tries)) == TPM_AGAIN);
	if (r != 0) {
		if (r == M2M_ERR_PIN_LOCKED)
			m2m_error("tpm: TPM is in dictionary-attack lockout: "
			    "PIN checks are refused until it recovers");
		goto out;
	}
	rc = Tss2_Sys_Unseal_Complete(sys, &d);
	m2m_tpm_sess_clean(t->fs);
	if (rc != TSS2_RC_SUCCESS)
		r = m2m_tpm_fail(t, "Unseal (response)", rc, ctx);
	else
		r = m2m_secret_from(d.buffer, d.size, ret);
 out:
	m2m_tpm_unload_tmp(t, &h);
	m2m_wipe(&d, sizeof(d));
	m2m_wipe(&ia, sizeof(ia));
	return r;
}

/* The value of an HMAC key, from its sealed copy (level T). */
static int
reveal_locked(struct tpm *t, const struct m2m_keyref *ref,
    struct m2m_secret **ret)
{
	struct tpm_blob b;
	TPM2B_AUTH a;
	int r = M2M_ERR_INTERNAL;

	memset(&a, 0, sizeof(a));
	if ((r = m2m_tpm_ref_open(ref, &b, &a)) != 0)
		goto out;
	if (!(b.flags & TPM_BLOB_F_SEALED)) {
		/* (not made by this version) no copy: the value stays inside */
		r = M2M_ERR_UNSUPPORTED;
		goto out;
	}
	r = unseal_locked(t, &b.sealed, &a, TPM_CTX_OP, ret);
 out:
	m2m_wipe(&a, sizeof(a));
	return r;
}

static int
tpm_reveal(void *impl, const struct m2m_keyref *key, struct m2m_secret **ret)
{
	struct tpm *t = impl;
	struct m2m_secret *s = NULL;
	int r;

	if (t == NULL || key == NULL || ret == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	pthread_mutex_lock(&t->lock);
	TPM_RUN_CALL(t, r, reveal_locked(t, key, &s));
	pthread_mutex_unlock(&t->lock);
	if (r == 0)
		*ret = s;
	return r;
}

static int
tpm_hmac_keymsg(void *impl, const uint8_t *hmac_key, size_t hmac_keylen,
    const struct m2m_keyref *msgkey, enum m2m_hash hash, uint8_t *out)
{
	struct tpm *t = impl;
	struct m2m_secret *k = NULL;
	uint8_t res[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	const EVP_MD *md = m2m_tpm_evp_md(hash);
	static const uint8_t empty[1];
	int r = M2M_ERR_INTERNAL;

	if (t == NULL || (hmac_key == NULL && hmac_keylen != 0) ||
	    msgkey == NULL || out == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if (md == NULL)
		return M2M_ERR_MECHANISM;
	if (hmac_keylen > TPM_HMAC_KEY_MAX)
		return M2M_ERR_DATA_LEN;
	if (msgkey->kind != M2M_KIND_HMAC)
		return M2M_ERR_KEY_TYPE;
	pthread_mutex_lock(&t->lock);
	TPM_RUN_CALL(t, r, reveal_locked(t, msgkey, &k));
	pthread_mutex_unlock(&t->lock);
	if (r != 0)
		goto out;
	if (HMAC(md, hmac_keylen ? hmac_key : empty, (int)hmac_keylen,
	    m2m_secret_data(k), m2m_secret_len(k), res, &n) == NULL ||
	    n != m2m_hash_len(hash)) {
		r = M2M_ERR_INTERNAL;
		goto out;
	}
	memcpy(out, res, n);
	r = 0;
 out:
	m2m_wipe(res, sizeof(res));
	m2m_secret_free(k);
	return r;
}

/* ---- AES-GCM ------------------------------------------------------------ */

struct ecb_arg {
	struct tpm		*t;
	const struct tpm_auth	*key;
};

/*
 * out[i] = E_K(in[i]) for n blocks, in one TPM2_EncryptDecrypt2: CFB
 * decryption with IV = in[0] and ciphertext c = in[1..n-1] || 0^128 gives
 * p[i] = c[i] ^ E_K(c[i-1]) (c[-1] = IV), so E_K(in[i]) = p[i] ^ c[i].
 * CFB is the one mode every TPM with AES implements.
 */
static int
ecb_cfb(void *argp, const uint8_t *in, uint8_t *out, size_t n)
{
	struct ecb_arg *arg = argp;
	struct tpm *t = arg->t;
	TSS2_SYS_CONTEXT *sys;
	TPM2B_MAX_BUFFER c, p;
	TPM2B_IV iv, ivout;
	size_t i, len = n * 16;
	unsigned tries = 0;
	TSS2_RC rc;
	int r = M2M_ERR_INTERNAL;

	memset(&c, 0, sizeof(c));
	memset(&p, 0, sizeof(p));
	memset(&iv, 0, sizeof(iv));
	memset(&ivout, 0, sizeof(ivout));
	if (M2M_NEVER(n == 0 || len > t->maxbuf))
		goto out;
	iv.size = 16;
	memcpy(iv.buffer, in, 16);
	c.size = (UINT16)len;
	memcpy(c.buffer, in + 16, len - 16);
	memset(c.buffer + len - 16, 0, 16);
	do {
		if ((r = m2m_tpm_cmd_prep(t, &sys)) != 0)
			goto out;
		rc = Tss2_Sys_EncryptDecrypt2_Prepare(sys, arg->key->handle,
		    &c, TPM2_YES, TPM2_ALG_CFB, &iv);
	} while ((r = m2m_tpm_cmd_run(t, "EncryptDecrypt2", rc,
	    TPM2_CC_EncryptDecrypt2, arg->key, TPM_SESS_IN | TPM_SESS_OUT,
	    TPM_CTX_OP, &tries)) == TPM_AGAIN);
	if (r != 0)
		goto out;
	rc = Tss2_Sys_EncryptDecrypt2_Complete(sys, &p, &ivout);
	m2m_tpm_sess_clean(t->fs);
	if (rc != TSS2_RC_SUCCESS) {
		r = m2m_tpm_fail(t, "EncryptDecrypt2 (response)", rc,
		    TPM_CTX_OP);
		goto out;
	}
	if (p.size != len) {
		m2m_error("tpm: EncryptDecrypt2 returned %u bytes, "
		    "expected %zu", (unsigned)p.size, len);
		r = M2M_ERR_BACKEND;
		goto out;
	}
	for (i = 0; i < len; i++)
		out[i] = p.buffer[i] ^ c.buffer[i];
	r = 0;
 out:
	m2m_wipe(&c, sizeof(c));
	m2m_wipe(&p, sizeof(p));
	m2m_wipe(&iv, sizeof(iv));
	m2m_wipe(&ivout, sizeof(ivout));
	return r;
}

/* The host oracle of level T: AES-ECB with the unsealed key. */
static int
ecb_host(void *argp, const uint8_t *in, uint8_t *out, size_t n)
{
	EVP_CIPHER_CTX *c = argp;
	int len = 0;

	if (n > INT_MAX / 16 ||
	    EVP_EncryptUpdate(c, out, &len, in, (int)(n * 16)) != 1 ||
	    (size_t)len != n * 16)
		return M2M_ERR_INTERNAL;
	return 0;
}

/*
 * AES-GCM at level T, for TPMs without TPM2_EncryptDecrypt2: the key is
 * unsealed into locked memory for this call only, then wiped.
 */
static int
aes_gcm_level_t(struct tpm *t, const struct m2m_keyref *key, int encrypt,
    const uint8_t *iv, size_t ivlen, const uint8_t *aad, size_t aadlen,
    size_t taglen, const uint8_t *in, size_t inlen, uint8_t *out,
    size_t *ret_outlen)
{
	struct m2m_secret *k = NULL;
	EVP_CIPHER_CTX *c = NULL;
	const EVP_CIPHER *ci;
	size_t outlen = 0;
	int r = M2M_ERR_INTERNAL;

	if (key->kind != M2M_KIND_AES)
		return M2M_ERR_KEY_TYPE;
	pthread_mutex_lock(&t->lock);
	TPM_RUN_CALL(t, r, reveal_locked(t, key, &k));
	pthread_mutex_unlock(&t->lock);
	if (r != 0)
		goto out;
	switch (m2m_secret_len(k)) {
	case 16:	ci = EVP_aes_128_ecb(); break;
	case 24:	ci = EVP_aes_192_ecb(); break;
	case 32:	ci = EVP_aes_256_ecb(); break;
	default:	r = M2M_ERR_BACKEND; goto out;
	}
	if ((c = EVP_CIPHER_CTX_new()) == NULL) {
		r = M2M_ERR_NO_MEMORY;
		goto out;
	}
	if (EVP_EncryptInit_ex(c, ci, NULL, m2m_secret_data(k), NULL) != 1 ||
	    EVP_CIPHER_CTX_set_padding(c, 0) != 1) {
		r = M2M_ERR_INTERNAL;
		goto out;
	}
	r = m2m_tpm_gcm(ecb_host, c, 64, encrypt, iv, ivlen, aad, aadlen,
	    taglen, in, inlen, out, &outlen);
 out:
	EVP_CIPHER_CTX_free(c);	/* cleanses the key schedule */
	m2m_secret_free(k);
	if (r == 0)
		*ret_outlen = outlen;
	return r;
}

/* see tpm_int.h */
void
m2m_tpm_test_level_t(void *impl)
{
	struct tpm *t = impl;

	t->have_encdec = 0;
}

/* One AES-GCM call at level H (out is written only on success). */
static int
gcm_op(struct tpm *t, const struct m2m_keyref *key, int encrypt,
    const uint8_t *iv, size_t ivlen, const uint8_t *aad, size_t aadlen,
    size_t taglen, const uint8_t *in, size_t inlen, uint8_t *out,
    size_t *ret_outlen)
{
	struct tpm_auth a;
	struct ecb_arg arg;
	ESYS_TR h = ESYS_TR_NONE;
	int tmp = 0, r;

	if ((r = m2m_tpm_key_acquire(t, key, M2M_KIND_AES, &h, &tmp, &a)) != 0)
		return r;
	arg.t = t;
	arg.key = &a;
	r = m2m_tpm_gcm(ecb_cfb, &arg, t->maxbuf / 16, encrypt, iv, ivlen,
	    aad, aadlen, taglen, in, inlen, out, ret_outlen);
	m2m_wipe(&a, sizeof(a));
	m2m_tpm_key_release(t, &h, tmp);
	return r;
}

static int
tpm_aes_gcm(void *impl, const struct m2m_keyref *key, int encrypt,
    const uint8_t *iv, size_t ivlen, const uint8_t *aad, size_t aadlen,
    size_t taglen, const uint8_t *in, size_t inlen, uint8_t *out,
    size_t *ret_outlen)
{
	struct tpm *t = impl;
	size_t outlen = 0;
	int r = M2M_ERR_INTERNAL;

	if (t == NULL || key == NULL || (aad == NULL && aadlen != 0) ||
	    (in == NULL && inlen != 0) || out == NULL || ret_outlen == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if (iv == NULL)
		return M2M_ERR_MECHANISM_PARAM;
	if ((r = m2m_backend_gcm_check(ivlen, taglen)) != 0)
		return r;
	if (inlen > TPM_GCM_DATA_MAX || aadlen > TPM_GCM_DATA_MAX ||
	    (!encrypt && inlen < taglen))
		return M2M_ERR_DATA_LEN;
	if (!t->have_encdec)
		return aes_gcm_level_t(t, key, encrypt, iv, ivlen, aad, aadlen,
		    taglen, in, inlen, out, ret_outlen);
	pthread_mutex_lock(&t->lock);
	TPM_RUN_CALL(t, r, gcm_op(t, key, encrypt, iv, ivlen, aad, aadlen,
	    taglen, in, inlen, out, &outlen));
	pthread_mutex_unlock(&t->lock);
	if (r == 0)
		*ret_outlen = outlen;
	return r;
}

/* ---- random, forget, stats ---------------------------------------------- */

/* len random bytes from TPM2_GetRandom (response encrypted) into out. */
static int
random_locked(struct tpm *t, uint8_t *out, size_t len)
{
	TSS2_SYS_CONTEXT *sys;
	TPM2B_DIGEST rb;
	unsigned tries = 0;
	size_t n;
	TSS2_RC rc;
	int r;

	while (len > 0) {
		/* no handle: the session only encrypts the bytes */
		do {
			if ((r = m2m_tpm_cmd_prep(t, &sys)) != 0)
				return r;
			rc = Tss2_Sys_GetRandom_Prepare(sys,
			    len < TPM_RANDOM_CHUNK ? (UINT16)len :
			    TPM_RANDOM_CHUNK);
		} while ((r = m2m_tpm_cmd_run(t, "GetRandom", rc,
		    TPM2_CC_GetRandom, NULL, TPM_SESS_OUT, TPM_CTX_OP,
		    &tries)) == TPM_AGAIN);
		if (r != 0)
			return r;
		rc = Tss2_Sys_GetRandom_Complete(sys, &rb);
		m2m_tpm_sess_clean(t->fs);
		if (rc != TSS2_RC_SUCCESS) {
			m2m_wipe(&rb, sizeof(rb));
			return m2m_tpm_fail(t, "GetRandom (response)", rc,
			    TPM_CTX_OP);
		}
		n = rb.size;
		if (n == 0 || n > len) {
			m2m_wipe(&rb, sizeof(rb));
			m2m_error("tpm: GetRandom returned %zu bytes", n);
			return M2M_ERR_RANDOM;
		}
		memcpy(out, rb.buffer, n);
		m2m_wipe(&rb, sizeof(rb));
		out += n;
		len -= n;
	}
	return 0;
}

static int
tpm_random(void *impl, uint8_t *out, size_t len)
{
	struct tpm *t = impl;
	struct m2m_secret *s = NULL;
	int r;

	if (t == NULL || (out == NULL && len != 0))
		return M2M_ERR_INVALID_ARGUMENT;
	if (len > TPM_RANDOM_MAX)
		return M2M_ERR_DATA_LEN;
	if ((r = m2m_secret_new(len, &s)) != 0)
		return r;
	pthread_mutex_lock(&t->lock);
	TPM_RUN_CALL(t, r, random_locked(t, m2m_secret_data(s), len));
	pthread_mutex_unlock(&t->lock);
	if (r == 0 && len > 0)
		memcpy(out, m2m_secret_data(s), len);
	m2m_secret_free(s);
	return r;
}

static void
tpm_forget(void *impl, uint64_t id)
{
	struct tpm *t = impl;
	struct tpm_ent *e;

	if (t == NULL || id == 0)
		return;
	pthread_mutex_lock(&t->lock);
	if ((e = m2m_tpm_ent_find(t, id)) != NULL)
		m2m_tpm_ent_clear(t, e);
	pthread_mutex_unlock(&t->lock);
}

static void
tpm_stats(void *impl, struct m2m_backend_stats *ret)
{
	struct tpm *t = impl;

	if (t == NULL || ret == NULL)
		return;
	pthread_mutex_lock(&t->lock);
	*ret = t->st;
	pthread_mutex_unlock(&t->lock);
}

/* ---- PIN binding -------------------------------------------------------- */

/* pin_seal in the TPM: a fresh objauth when asked, sealed under a. */
static int
pin_seal_op(struct tpm *t, int fresh, uint8_t *val, size_t vlen,
    const TPM2B_AUTH *a, uint8_t **ret_blob, size_t *ret_bloblen)
{
	int r;

	if (fresh && (r = random_locked(t, val, vlen)) != 0)
		return r;
	return m2m_tpm_wrap_locked(t, TPM_KIND_PIN, val, vlen, a, ret_blob,
	    ret_bloblen);
}

static int
tpm_pin_seal(void *impl, const uint8_t *pin, size_t pinlen,
    const struct m2m_secret *objauth, uint8_t **ret_blob, size_t *ret_bloblen)
{
	struct tpm *t = impl;
	uint8_t val[TPM_SYM_DATA_MAX];
	size_t vlen = TPM_OBJAUTH_LEN;
	uint8_t *blob = NULL;
	size_t bloblen = 0;
	TPM2B_AUTH a;
	int r = M2M_ERR_INTERNAL;

	memset(&a, 0, sizeof(a));
	if (t == NULL || (pin == NULL && pinlen != 0) || ret_blob == NULL ||
	    ret_bloblen == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if (pinlen > TPM_PIN_MAX)
		return M2M_ERR_PIN_LEN;
	if (objauth != NULL) {
		vlen = m2m_secret_len(objauth);
		if (vlen == 0 || vlen > sizeof(val))
			return M2M_ERR_INVALID_ARGUMENT;
	}
	if ((r = m2m_tpm_auth_value(pin, pinlen, 1, &a)) != 0)
		return r;
	if (objauth != NULL)
		memcpy(val, m2m_secret_data(objauth), vlen);
	pthread_mutex_lock(&t->lock);
	TPM_RUN_CALL(t, r, pin_seal_op(t, objauth == NULL, val, vlen, &a, &blob,
	    &bloblen));
	pthread_mutex_unlock(&t->lock);
	m2m_wipe(val, sizeof(val));
	m2m_wipe(&a, sizeof(a));
	if (r != 0)
		return r;
	*ret_blob = blob;
	*ret_bloblen = bloblen;
	return 0;
}

/* pin_check in the TPM: load the PIN object, unseal with the PIN. */
static int
pin_check_op(struct tpm *t, const struct tpm_obj *o, const TPM2B_AUTH *a,
    struct m2m_secret **ret)
{
	return unseal_locked(t, o, a, TPM_CTX_PIN, ret);
}

static int
tpm_pin_check(void *impl, const uint8_t *blob, size_t bloblen,
    const uint8_t *pin, size_t pinlen, struct m2m_secret **ret_objauth)
{
	struct tpm *t = impl;
	struct m2m_secret *s = NULL;
	struct tpm_blob b;
	TPM2B_AUTH a;
	int r = M2M_ERR_INTERNAL;

	memset(&a, 0, sizeof(a));
	if (t == NULL || (pin == NULL && pinlen != 0) || ret_objauth == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if (pinlen > TPM_PIN_MAX)
		return M2M_ERR_PIN_LEN;
	if ((r = m2m_tpm_blob_parse(blob, bloblen, &b)) != 0)
		return r;
	if (b.kind != TPM_KIND_PIN)
		return M2M_ERR_KEY_TYPE;
	if ((r = m2m_tpm_auth_value(pin, pinlen, 1, &a)) != 0)
		return r;
	pthread_mutex_lock(&t->lock);
	TPM_RUN_CALL(t, r, pin_check_op(t, &b.obj, &a, &s));
	pthread_mutex_unlock(&t->lock);
	m2m_wipe(&a, sizeof(a));
	if (r != 0)
		return r;
	*ret_objauth = s;
	return 0;
}


/* see backend.h: the storage primary's name, which salts every session */
static int
tpm_anchor(void *impl, uint8_t *out, size_t cap, size_t *ret_len)
{
	struct tpm *t = impl;

	if (t == NULL || out == NULL || ret_len == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	pthread_mutex_lock(&t->lock);
	if (t->anchor.size == 0 || t->anchor.size > cap) {
		pthread_mutex_unlock(&t->lock);
		return M2M_ERR_INTERNAL;
	}
	memcpy(out, t->anchor.name, t->anchor.size);
	*ret_len = t->anchor.size;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

const struct m2m_backend_ops m2m_tpm_backend_ops = {
	.name = "tpm",
	.open = m2m_tpm_open,
	.close = m2m_tpm_close,
	.wrap = tpm_wrap,
	.hmac = tpm_hmac,
	.hmac_keymsg = tpm_hmac_keymsg,
	.aes_gcm = tpm_aes_gcm,
	.reveal = tpm_reveal,
	.random = tpm_random,
	.forget = tpm_forget,
	.stats = tpm_stats,
	.pin_seal = tpm_pin_seal,
	.pin_check = tpm_pin_check,
	.wrap_auth = tpm_wrap_auth,
	.ec_generate = m2m_tpm_ec_generate,
	.ec_import = m2m_tpm_ec_import,
	.ec_sign = m2m_tpm_ec_sign,
	.bind_mac = m2m_tpm_bind_mac,
	.anchor = tpm_anchor,
};
