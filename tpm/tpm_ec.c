/*
 * m2mtoken: ECDSA keys in the TPM, backend.h's ec_generate, ec_import and
 * ec_sign.  Keys are ECC signing keys under the storage primary (templates
 * in tpm_blob.c, TPM2_Create and TPM2_Import in tpm_create.c), loaded
 * through the key cache of tpm_load.c like every key, so both [tpm] modes
 * hold; TPM2_Sign runs through the salted session with the key's authValue.
 *
 * The digest: TPM2_Sign takes an unticketed digest only of the scheme
 * hash's size (TPM_RC_SIZE otherwise), and the key's scheme hash is the one
 * of the curve's size (SHA-256 on P-256, SHA-384 on P-384).  ECDSA uses the
 * leftmost bits of the digest, as many as the group order has (256 or 384,
 * whole bytes here): so a longer digest is truncated to the curve's size
 * and a shorter one is left-padded with zero bytes, which leaves its
 * integer value, hence the signature, as ECDSA over the original digest
 * would have it.  Any digest of 1..64 bytes (CKM_ECDSA's SHA-1, SHA-224,
 * SHA-256, SHA-384, SHA-512 sizes and others) is signed so.
 *
 * Assurance levels: ec_generate and ec_sign H (the private key is made and
 * used only inside the TPM); ec_import T (the scalar was in the host by
 * definition; from here it crosses the bus only inside the import's inner
 * wrapper, whose key the session encrypts).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>

#include <tss2/tss2_esys.h>

#include "backend.h"
#include "err.h"
#include "log.h"
#include "secret.h"
#include "tpm_int.h"

#define EC_DIGEST_MAX	M2M_HASH_MAX_LEN	/* longest digest taken */

/* The public point of pub (x, y of cs bytes each) as 0x04 || X || Y. */
static int
ec_point_out(const TPM2B_PUBLIC *pub, size_t cs, uint8_t *out,
    size_t *ret_len)
{
	const TPMS_ECC_POINT *p = &pub->publicArea.unique.ecc;

	if (p->x.size != cs || p->y.size != cs || 1 + 2 * cs >
	    M2M_EC_POINT_MAX) {
		m2m_error("tpm: EC public point of %u/%u bytes, expected %zu",
		    (unsigned)p->x.size, (unsigned)p->y.size, cs);
		return M2M_ERR_BACKEND;
	}
	out[0] = 0x04;
	memcpy(out + 1, p->x.buffer, cs);
	memcpy(out + 1 + cs, p->y.buffer, cs);
	*ret_len = 1 + 2 * cs;
	return 0;
}

/* The arguments every EC op shares; 0 or an M2M_ERR_*. */
static int
ec_args(struct tpm *t, enum m2m_key_kind kind, const uint8_t *auth,
    size_t authlen, uint8_t **ret_blob, size_t *ret_bloblen, uint8_t *pub,
    size_t *ret_publen)
{
	if (t == NULL || ret_blob == NULL || ret_bloblen == NULL ||
	    pub == NULL || ret_publen == NULL ||
	    (auth == NULL && authlen != 0) || authlen > TPM_PIN_MAX)
		return M2M_ERR_INVALID_ARGUMENT;
	if (m2m_tpm_ec_size(kind) == 0)
		return M2M_ERR_KEY_TYPE;
	return 0;
}

/* see tpm_int.h */
int
m2m_tpm_ec_generate(void *impl, enum m2m_key_kind kind, const uint8_t *auth,
    size_t authlen, uint8_t **ret_blob, size_t *ret_bloblen, uint8_t *pub,
    size_t *ret_publen)
{
	struct tpm *t = impl;
	TPM2B_PUBLIC p;
	TPM2B_AUTH a;
	uint8_t *blob = NULL, pt[M2M_EC_POINT_MAX];
	size_t bloblen = 0, ptlen = 0;
	int r = M2M_ERR_INTERNAL;

	memset(&a, 0, sizeof(a));
	memset(&p, 0, sizeof(p));
	if ((r = ec_args(t, kind, auth, authlen, ret_blob, ret_bloblen, pub,
	    ret_publen)) != 0)
		return r;
	if ((r = m2m_tpm_auth_value(auth, authlen, 0, &a)) != 0)
		goto out;
	pthread_mutex_lock(&t->lock);
	TPM_RUN_CALL(t, r, m2m_tpm_ec_create_locked(t, kind, &a, &blob,
	    &bloblen, &p));
	pthread_mutex_unlock(&t->lock);
	if (r != 0)
		goto out;
	if ((r = ec_point_out(&p, m2m_tpm_ec_size(kind), pt, &ptlen)) != 0)
		goto out;
	memcpy(pub, pt, ptlen);
	*ret_publen = ptlen;
	*ret_blob = blob;
	blob = NULL;	/* transferred */
	*ret_bloblen = bloblen;
	r = 0;
 out:
	free(blob);
	m2m_wipe(&a, sizeof(a));
	return r;
}

/*
 * Check d (cs bytes) is a scalar of kind's curve (1 <= d < n) and put its
 * public point d*G into the unique field of pub.  M2M_ERR_KEY_SIZE for a
 * d out of range.  The scalar's copies are cleared (BN_clear_free).
 */
static int
ec_public_of(int kind, const uint8_t *d, size_t cs, TPM2B_PUBLIC *pub)
{
	EC_GROUP *g = NULL;
	EC_POINT *q = NULL;
	BIGNUM *k = NULL, *x = NULL, *y = NULL;
	BN_CTX *bc = NULL;
	TPMS_ECC_POINT *u = &pub->publicArea.unique.ecc;
	int r = M2M_ERR_INTERNAL;

	if ((g = EC_GROUP_new_by_curve_name(kind == M2M_KIND_EC_P384 ?
	    NID_secp384r1 : NID_X9_62_prime256v1)) == NULL ||
	    (bc = BN_CTX_secure_new()) == NULL ||
	    (k = BN_secure_new()) == NULL || (x = BN_new()) == NULL ||
	    (y = BN_new()) == NULL || (q = EC_POINT_new(g)) == NULL) {
		r = M2M_ERR_NO_MEMORY;
		goto out;
	}
	BN_set_flags(k, BN_FLG_CONSTTIME);
	if (BN_bin2bn(d, (int)cs, k) == NULL)
		goto out;
	if (BN_is_zero(k) || BN_cmp(k, EC_GROUP_get0_order(g)) >= 0) {
		r = M2M_ERR_KEY_SIZE;
		goto out;
	}
	if (EC_POINT_mul(g, q, k, NULL, NULL, bc) != 1 ||
	    EC_POINT_get_affine_coordinates(g, q, x, y, bc) != 1 ||
	    BN_bn2binpad(x, u->x.buffer, (int)cs) != (int)cs ||
	    BN_bn2binpad(y, u->y.buffer, (int)cs) != (int)cs)
		goto out;
	u->x.size = (UINT16)cs;
	u->y.size = (UINT16)cs;
	r = 0;
 out:
	EC_POINT_clear_free(q);
	BN_clear_free(k);
	BN_free(x);
	BN_free(y);
	BN_CTX_free(bc);
	EC_GROUP_free(g);
	return r;
}

/* see tpm_int.h */
int
m2m_tpm_ec_import(void *impl, enum m2m_key_kind kind, const uint8_t *d,
    size_t dlen, const uint8_t *auth, size_t authlen, uint8_t **ret_blob,
    size_t *ret_bloblen, uint8_t *pub, size_t *ret_publen)
{
	struct tpm *t = impl;
	TPM2B_PUBLIC p;
	TPM2B_AUTH a;
	uint8_t *blob = NULL, pt[M2M_EC_POINT_MAX];
	size_t bloblen = 0, ptlen = 0, cs;
	int r = M2M_ERR_INTERNAL;

	memset(&a, 0, sizeof(a));
	if ((r = ec_args(t, kind, auth, authlen, ret_blob, ret_bloblen, pub,
	    ret_publen)) != 0)
		return r;
	if (d == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	cs = m2m_tpm_ec_size(kind);
	if (dlen != cs)
		return M2M_ERR_KEY_SIZE;
	m2m_tpm_tmpl_ec(kind, 0, &p);
	if ((r = ec_public_of(kind, d, cs, &p)) != 0 ||
	    (r = ec_point_out(&p, cs, pt, &ptlen)) != 0 ||
	    (r = m2m_tpm_auth_value(auth, authlen, 0, &a)) != 0)
		goto out;
	pthread_mutex_lock(&t->lock);
	TPM_RUN_CALL(t, r, m2m_tpm_ec_import_locked(t, kind, &p, d, dlen, &a,
	    &blob, &bloblen));
	pthread_mutex_unlock(&t->lock);
	if (r != 0)
		goto out;
	memcpy(pub, pt, ptlen);
	*ret_publen = ptlen;
	*ret_blob = blob;
	blob = NULL;	/* transferred */
	*ret_bloblen = bloblen;
	r = 0;
 out:
	free(blob);
	m2m_wipe(&a, sizeof(a));
	return r;
}

/* Copy a TPM2B_ECC_PARAMETER into cs bytes, left-padded with zeros. */
static int
ec_param_out(const TPM2B_ECC_PARAMETER *v, size_t cs, uint8_t *out)
{
	if (v->size == 0 || v->size > cs)
		return M2M_ERR_BACKEND;
	memset(out, 0, cs - v->size);
	memcpy(out + cs - v->size, v->buffer, v->size);
	return 0;
}

/* One TPM2_Sign with the key ref over dg (cs bytes); sig gets r || s. */
static int
sign_op(struct tpm *t, const struct m2m_keyref *ref, const uint8_t *dg,
    size_t cs, uint8_t *sig)
{
	TSS2_SYS_CONTEXT *sys;
	struct tpm_auth a;
	TPM2B_DIGEST digest;
	TPMT_SIG_SCHEME scheme;
	TPMT_TK_HASHCHECK tk;
	TPMT_SIGNATURE out;
	ESYS_TR h = ESYS_TR_NONE;
	unsigned tries = 0;
	TSS2_RC rc;
	int tmp = 0, r;

	memset(&digest, 0, sizeof(digest));
	memset(&scheme, 0, sizeof(scheme));
	memset(&tk, 0, sizeof(tk));
	memset(&out, 0, sizeof(out));
	if ((r = m2m_tpm_key_acquire(t, ref, ref->kind, &h, &tmp, &a)) != 0)
		return r;
	digest.size = (UINT16)cs;
	memcpy(digest.buffer, dg, cs);
	scheme.scheme = TPM2_ALG_ECDSA;
	scheme.details.ecdsa.hashAlg = cs == 48 ? TPM2_ALG_SHA384 :
	    TPM2_ALG_SHA256;
	tk.tag = TPM2_ST_HASHCHECK;
	tk.hierarchy = TPM2_RH_NULL;
	/* nothing secret goes in or out: the session authorises only */
	do {
		if ((r = m2m_tpm_cmd_prep(t, &sys)) != 0)
			goto out;
		rc = Tss2_Sys_Sign_Prepare(sys, a.handle, &digest, &scheme,
		    &tk);
	} while ((r = m2m_tpm_cmd_run(t, "Sign", rc, TPM2_CC_Sign, &a, 0,
	    TPM_CTX_OP, &tries)) == TPM_AGAIN);
	if (r != 0)
		goto out;
	rc = Tss2_Sys_Sign_Complete(sys, &out);
	m2m_tpm_sess_clean(t->fs);
	if (rc != TSS2_RC_SUCCESS) {
		r = m2m_tpm_fail(t, "Sign (response)", rc, TPM_CTX_OP);
		goto out;
	}
	if (out.sigAlg != TPM2_ALG_ECDSA ||
	    ec_param_out(&out.signature.ecdsa.signatureR, cs, sig) != 0 ||
	    ec_param_out(&out.signature.ecdsa.signatureS, cs, sig + cs) != 0) {
		m2m_error("tpm: Sign returned an unexpected signature");
		r = M2M_ERR_BACKEND;
		goto out;
	}
	r = 0;
 out:
	m2m_wipe(&a, sizeof(a));
	m2m_tpm_key_release(t, &h, tmp);
	return r;
}

/* see tpm_int.h */
int
m2m_tpm_ec_sign(void *impl, const struct m2m_keyref *key, const uint8_t *digest,
    size_t digestlen, uint8_t *sig, size_t *ret_siglen)
{
	struct tpm *t = impl;
	uint8_t dg[EC_DIGEST_MAX], res[M2M_EC_SIG_MAX];
	size_t cs;
	int r = M2M_ERR_INTERNAL;

	if (t == NULL || key == NULL || digest == NULL || sig == NULL ||
	    ret_siglen == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if ((cs = m2m_tpm_ec_size(key->kind)) == 0)
		return M2M_ERR_KEY_TYPE;
	if (digestlen == 0 || digestlen > EC_DIGEST_MAX)
		return M2M_ERR_DATA_LEN;
	/* the curve's size: truncated, or left-padded (top of this file) */
	memset(dg, 0, sizeof(dg));
	if (digestlen >= cs)
		memcpy(dg, digest, cs);
	else
		memcpy(dg + cs - digestlen, digest, digestlen);
	pthread_mutex_lock(&t->lock);
	TPM_RUN_CALL(t, r, sign_op(t, key, dg, cs, res));
	pthread_mutex_unlock(&t->lock);
	if (r != 0)
		return r;
	memcpy(sig, res, 2 * cs);
	*ret_siglen = 2 * cs;
	return 0;
}
