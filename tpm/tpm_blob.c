/* m2mtoken: TPM key blobs and object templates.  See tpm_int.h. */
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_mu.h>

#include "err.h"
#include "tpm_int.h"

/*
 * Storage primary key: ECC NIST P-256 (fast to re-derive from the owner seed
 * at every open), restricted decrypt with AES-128-CFB, as the TCG provisioning
 * guidance's SRK.  fixedTPM|fixedParent: never leaves this TPM;
 * sensitiveDataOrigin: the TPM derives it from the seed, so the same template
 * gives the same key until the owner hierarchy is cleared; userWithAuth with
 * an empty authValue, and noDA: that empty auth guards nothing, and a
 * dictionary-attack lockout must not make every stored key unusable.
 * The unique field is empty.
 */
#define PRIMARY_ATTRS	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | \
	TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH | \
	TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT)
/*
 * HMAC key: keyedHash with scheme NULL, so that TPM2_HMAC takes the hash per
 * call.  The reference TPM (SchemeChecks) allows scheme NULL only when sign
 * and decrypt are equal, so decrypt is SET too; an unrestricted keyedHash
 * has no decryption operation (it cannot be a parent, and XOR needs a
 * scheme), so this grants nothing.  The value comes from the caller (no
 * sensitiveDataOrigin).  Keys are noDA: their authValue is the token's
 * 32-byte random objauth, which cannot be guessed, and a PIN lockout must
 * not stop the keys of a logged-in session.
 */
#define HMAC_ATTRS	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | \
	TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_SIGN_ENCRYPT | \
	TPMA_OBJECT_DECRYPT | TPMA_OBJECT_NODA)
/*
 * AES key: symcipher, CFB, decrypt only: AES-GCM uses CFB decryption as a
 * block-encryption oracle (tpm.c), never TPM encryption.
 */
#define AES_ATTRS	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | \
	TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_DECRYPT | TPMA_OBJECT_NODA)
/*
 * ECDSA key made in the TPM: an unrestricted signing key (no decrypt), the
 * private part from the TPM's RNG (sensitiveDataOrigin), never leaving this
 * TPM or its parent.  noDA as the other keys: their authValue is objauth.
 */
#define EC_GEN_ATTRS	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | \
	TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH | \
	TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_NODA)
/*
 * ECDSA key imported (TPM2_Import, tpm_create.c): TPM2_Import refuses an
 * objectPublic with fixedTPM or fixedParent SET (Part 3, TPM2_Import), so
 * both are CLEAR.  The empty authPolicy keeps it in this TPM all the same:
 * TPM2_Duplicate needs the DUP role, which only a policy session whose
 * digest equals authPolicy has, and an empty authPolicy equals none.
 */
#define EC_IMP_ATTRS	(TPMA_OBJECT_USERWITHAUTH | \
	TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_NODA)
/* Sealed data: keyedHash without sign/decrypt, so only TPM2_Unseal reads it. */
#define SEALED_ATTRS	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | \
	TPMA_OBJECT_USERWITHAUTH)

/* see tpm_int.h */
void
m2m_tpm_tmpl_primary(TPM2B_PUBLIC *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->publicArea.type = TPM2_ALG_ECC;
	ret->publicArea.nameAlg = TPM2_ALG_SHA256;
	ret->publicArea.objectAttributes = PRIMARY_ATTRS;
	ret->publicArea.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
	ret->publicArea.parameters.eccDetail.symmetric.keyBits.aes = 128;
	ret->publicArea.parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
	ret->publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
	ret->publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	ret->publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
}

/*
 * With scheme NULL the TPM limits an HMAC key to the block size of the
 * object's nameAlg: SHA-256 (64 bytes) up to 64 bytes, SHA-384 (128 bytes,
 * more common in TPMs than SHA-512) above.
 */
/* see tpm_int.h */
void
m2m_tpm_tmpl_hmac(size_t keylen, TPM2B_PUBLIC *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->publicArea.type = TPM2_ALG_KEYEDHASH;
	ret->publicArea.nameAlg = keylen > TPM_HMAC_SHA256_KEY_MAX ?
	    TPM2_ALG_SHA384 : TPM2_ALG_SHA256;
	ret->publicArea.objectAttributes = HMAC_ATTRS;
	ret->publicArea.parameters.keyedHashDetail.scheme.scheme =
	    TPM2_ALG_NULL;
}

/* see tpm_int.h */
void
m2m_tpm_tmpl_aes(unsigned keybits, TPM2B_PUBLIC *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->publicArea.type = TPM2_ALG_SYMCIPHER;
	ret->publicArea.nameAlg = TPM2_ALG_SHA256;
	ret->publicArea.objectAttributes = AES_ATTRS;
	ret->publicArea.parameters.symDetail.sym.algorithm = TPM2_ALG_AES;
	ret->publicArea.parameters.symDetail.sym.keyBits.aes = keybits;
	ret->publicArea.parameters.symDetail.sym.mode.aes = TPM2_ALG_CFB;
}

/* see tpm_int.h */
void
m2m_tpm_tmpl_sealed(int da_protected, TPM2B_PUBLIC *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->publicArea.type = TPM2_ALG_KEYEDHASH;
	ret->publicArea.nameAlg = TPM2_ALG_SHA256;
	ret->publicArea.objectAttributes = SEALED_ATTRS |
	    (da_protected ? 0 : TPMA_OBJECT_NODA);
	ret->publicArea.parameters.keyedHashDetail.scheme.scheme =
	    TPM2_ALG_NULL;
}

/* see tpm_int.h */
size_t
m2m_tpm_ec_size(int kind)
{
	switch (kind) {
	case M2M_KIND_EC_P256:	return 32;
	case M2M_KIND_EC_P384:	return 48;
	default:		return 0;
	}
}

/*
 * The scheme is fixed in the key (ECDSA with SHA-256 on P-256, SHA-384 on
 * P-384): ec_sign (tpm_ec.c) always gives TPM2_Sign a digest of exactly
 * the curve's size, which is then also the scheme hash's size, as
 * TPM2_Sign requires of an unticketed digest.
 */
/* see tpm_int.h */
void
m2m_tpm_tmpl_ec(int kind, int generated, TPM2B_PUBLIC *ret)
{
	TPMS_ECC_PARMS *e = &ret->publicArea.parameters.eccDetail;

	memset(ret, 0, sizeof(*ret));
	ret->publicArea.type = TPM2_ALG_ECC;
	ret->publicArea.nameAlg = TPM2_ALG_SHA256;
	ret->publicArea.objectAttributes = generated ? EC_GEN_ATTRS :
	    EC_IMP_ATTRS;
	e->symmetric.algorithm = TPM2_ALG_NULL;
	e->scheme.scheme = TPM2_ALG_ECDSA;
	e->kdf.scheme = TPM2_ALG_NULL;
	if (kind == M2M_KIND_EC_P384) {
		e->scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA384;
		e->curveID = TPM2_ECC_NIST_P384;
	} else {
		e->scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
		e->curveID = TPM2_ECC_NIST_P256;
	}
}

/* The ECC parameters of a blob's key equal the template's?  1 or 0. */
static int
ecc_same_shape(const TPMS_ECC_PARMS *p, const TPMS_ECC_PARMS *t)
{
	return p->symmetric.algorithm == TPM2_ALG_NULL &&
	    p->scheme.scheme == TPM2_ALG_ECDSA &&
	    p->scheme.details.ecdsa.hashAlg ==
	    t->scheme.details.ecdsa.hashAlg &&
	    p->curveID == t->curveID && p->kdf.scheme == TPM2_ALG_NULL;
}

/* The size of a coordinate on template t's curve. */
static size_t
ecc_coord_len(const TPMT_PUBLIC *t)
{
	return t->parameters.eccDetail.curveID == TPM2_ECC_NIST_P384 ?
	    48 : 32;
}

/* Does pub (from a blob) have exactly the shape of template t?  1 or 0. */
static int
same_shape(const TPMT_PUBLIC *pub, const TPMT_PUBLIC *t)
{
	size_t dlen = pub->nameAlg == TPM2_ALG_SHA384 ?
	    TPM2_SHA384_DIGEST_SIZE : TPM2_SHA256_DIGEST_SIZE;

	if (pub->type != t->type || pub->nameAlg != t->nameAlg ||
	    pub->objectAttributes != t->objectAttributes ||
	    pub->authPolicy.size != 0)
		return 0;
	switch (t->type) {
	case TPM2_ALG_KEYEDHASH:
		return pub->parameters.keyedHashDetail.scheme.scheme ==
		    TPM2_ALG_NULL && pub->unique.keyedHash.size == dlen;
	case TPM2_ALG_SYMCIPHER:
		return pub->parameters.symDetail.sym.algorithm ==
		    TPM2_ALG_AES &&
		    pub->parameters.symDetail.sym.keyBits.aes ==
		    t->parameters.symDetail.sym.keyBits.aes &&
		    pub->parameters.symDetail.sym.mode.aes == TPM2_ALG_CFB &&
		    pub->unique.sym.size == TPM2_SHA256_DIGEST_SIZE;
	case TPM2_ALG_ECC:
		return ecc_same_shape(&pub->parameters.eccDetail,
		    &t->parameters.eccDetail) &&
		    pub->unique.ecc.x.size == ecc_coord_len(t) &&
		    pub->unique.ecc.y.size == ecc_coord_len(t);
	default:
		return 0;
	}
}

/* Unmarshal one public/private pair at *off. */
static int
parse_obj(const uint8_t *blob, size_t len, size_t *off, struct tpm_obj *o)
{
	size_t start = *off;

	memset(o, 0, sizeof(*o));
	if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(blob, len, off, &o->pub) !=
	    TSS2_RC_SUCCESS)
		return M2M_ERR_DATA_INVALID;
	/* tss2-mu does not hold the TPM2B size to what it consumed: we do */
	if (*off - start - 2 !=
	    (((size_t)blob[start] << 8) | blob[start + 1]))
		return M2M_ERR_DATA_INVALID;
	if (Tss2_MU_TPM2B_PRIVATE_Unmarshal(blob, len, off, &o->priv) !=
	    TSS2_RC_SUCCESS || o->priv.size == 0)
		return M2M_ERR_DATA_INVALID;
	return 0;
}

/* see tpm_int.h */
int
m2m_tpm_blob_parse(const uint8_t *blob, size_t len, struct tpm_blob *ret)
{
	struct tpm_blob b;
	TPM2B_PUBLIC t;
	size_t off = TPM_BLOB_HDRLEN;
	unsigned bits;
	int r = M2M_ERR_DATA_INVALID;

	memset(&b, 0, sizeof(b));
	if (blob == NULL || len < TPM_BLOB_HDRLEN || len > M2M_BLOB_MAX)
		goto out;
	if (memcmp(blob, TPM_BLOB_MAGIC, 4) != 0 ||
	    blob[4] != TPM_BLOB_VERSION || blob[7] != 0)
		goto out;
	b.kind = blob[5];
	b.flags = blob[6];
	if (b.kind != M2M_KIND_HMAC && b.kind != M2M_KIND_AES &&
	    b.kind != TPM_KIND_PIN && m2m_tpm_ec_size(b.kind) == 0)
		goto out;
	/* secret keys carry a sealed copy, PIN objects and EC keys never */
	if ((b.flags & ~TPM_BLOB_F_SEALED) != 0 ||
	    ((b.flags & TPM_BLOB_F_SEALED) && (b.kind == TPM_KIND_PIN ||
	    m2m_tpm_ec_size(b.kind) != 0)))
		goto out;
	if (parse_obj(blob, len, &off, &b.obj) != 0)
		goto out;
	switch (b.kind) {
	case M2M_KIND_HMAC:
		/* the nameAlg tells the template (by key length) */
		m2m_tpm_tmpl_hmac(b.obj.pub.publicArea.nameAlg ==
		    TPM2_ALG_SHA384 ? M2M_KEY_MAX : 1, &t);
		break;
	case M2M_KIND_AES:
		bits = b.obj.pub.publicArea.parameters.symDetail.sym.
		    keyBits.aes;
		if (bits != 128 && bits != 192 && bits != 256)
			goto out;
		m2m_tpm_tmpl_aes(bits, &t);
		break;
	case M2M_KIND_EC_P256:
	case M2M_KIND_EC_P384:
		/* made in the TPM or imported: the attributes tell */
		m2m_tpm_tmpl_ec(b.kind, b.obj.pub.publicArea.objectAttributes &
		    TPMA_OBJECT_SENSITIVEDATAORIGIN, &t);
		break;
	default:
		m2m_tpm_tmpl_sealed(1, &t);
		break;
	}
	if (!same_shape(&b.obj.pub.publicArea, &t.publicArea))
		goto out;
	if (b.flags & TPM_BLOB_F_SEALED) {
		if (parse_obj(blob, len, &off, &b.sealed) != 0)
			goto out;
		m2m_tpm_tmpl_sealed(0, &t);
		if (!same_shape(&b.sealed.pub.publicArea, &t.publicArea))
			goto out;
	}
	if (off != len)
		goto out;
	*ret = b;
	r = 0;
 out:
	return r;
}

/* see tpm_int.h */
int
m2m_tpm_blob_build(const struct tpm_blob *b, uint8_t **ret_blob,
    size_t *ret_len)
{
	uint8_t buf[M2M_BLOB_MAX], *p = NULL;
	size_t off = TPM_BLOB_HDRLEN;
	int r = M2M_ERR_INTERNAL;

	memcpy(buf, TPM_BLOB_MAGIC, 4);
	buf[4] = TPM_BLOB_VERSION;
	buf[5] = (uint8_t)b->kind;
	buf[6] = (uint8_t)b->flags;
	buf[7] = 0;
	if (Tss2_MU_TPM2B_PUBLIC_Marshal(&b->obj.pub, buf, sizeof(buf),
	    &off) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_PRIVATE_Marshal(&b->obj.priv, buf, sizeof(buf),
	    &off) != TSS2_RC_SUCCESS)
		goto out;
	if ((b->flags & TPM_BLOB_F_SEALED) &&
	    (Tss2_MU_TPM2B_PUBLIC_Marshal(&b->sealed.pub, buf, sizeof(buf),
	    &off) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_PRIVATE_Marshal(&b->sealed.priv, buf, sizeof(buf),
	    &off) != TSS2_RC_SUCCESS))
		goto out;
	if ((p = malloc(off)) == NULL) {
		r = M2M_ERR_NO_MEMORY;
		goto out;
	}
	memcpy(p, buf, off);
	*ret_blob = p;
	*ret_len = off;
	r = 0;
 out:
	return r;
}
