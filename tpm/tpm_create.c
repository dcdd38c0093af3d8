/*
 * m2mtoken: creating TPM keys: TPM2_Create under the storage primary
 * through the salted session (the key bytes travel encrypted), and the
 * blob of a new key: its operational object and its sealed copy (the top
 * of tpm.c says what the copy is for); ECDSA keys made by TPM2_Create or
 * brought in by TPM2_Import.  Contracts in tpm_int.h; blob
 * format there too.
 */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>

#include "err.h"
#include "log.h"
#include "secret.h"
#include "tpm_int.h"

/* The storage primary (made if need be) as a command's parent: *pa. */
static int
primary_auth(struct tpm *t, struct tpm_auth *pa)
{
	TSS2_RC rc;
	int r;

	if ((r = m2m_tpm_need_primary(t)) != 0)
		return r;
	if ((rc = Esys_TR_GetTpmHandle(t->esys, t->primary, &pa->handle)) !=
	    TSS2_RC_SUCCESS)
		return m2m_tpm_fail(t, "primary's handle", rc, TPM_CTX_OP);
	pa->name = t->primary_name;	/* empty authValue */
	return 0;
}

/*
 * TPM2_Create under the primary, through the session: inSensitive (the key
 * bytes) encrypted; outPrivate is sealed to the primary anyway.
 */
static int
create_obj(struct tpm *t, const TPM2B_PUBLIC *tmpl,
    const TPM2B_SENSITIVE_CREATE *s, struct tpm_obj *ret)
{
	TSS2_SYS_CONTEXT *sys;
	struct tpm_auth pa;
	TPM2B_DATA outside;
	TPML_PCR_SELECTION pcrs;
	TPM2B_CREATION_DATA cdata;
	TPM2B_DIGEST chash;
	TPMT_TK_CREATION ticket;
	unsigned tries = 0;
	TSS2_RC rc;
	int r;

	memset(&pa, 0, sizeof(pa));
	memset(&outside, 0, sizeof(outside));
	memset(&pcrs, 0, sizeof(pcrs));
	memset(&cdata, 0, sizeof(cdata));
	memset(&ticket, 0, sizeof(ticket));
	memset(&chash, 0, sizeof(chash));
	if ((r = primary_auth(t, &pa)) != 0)
		return r;
	do {
		if ((r = m2m_tpm_cmd_prep(t, &sys)) != 0)
			return r;
		rc = Tss2_Sys_Create_Prepare(sys, pa.handle, s, tmpl,
		    &outside, &pcrs);
	} while ((r = m2m_tpm_cmd_run(t, "Create", rc, TPM2_CC_Create, &pa,
	    TPM_SESS_IN, TPM_CTX_CREATE, &tries)) == TPM_AGAIN);
	if (r != 0)
		return r;
	rc = Tss2_Sys_Create_Complete(sys, &ret->priv, &ret->pub, &cdata,
	    &chash, &ticket);
	m2m_tpm_sess_clean(t->fs);
	if (rc != TSS2_RC_SUCCESS)
		return m2m_tpm_fail(t, "Create (response)", rc, TPM_CTX_CREATE);
	return 0;
}

/* see tpm_int.h */
int
m2m_tpm_wrap_locked(struct tpm *t, int kind, const uint8_t *key,
    size_t len, const TPM2B_AUTH *a, uint8_t **ret_blob, size_t *ret_len)
{
	TPM2B_SENSITIVE_CREATE s;
	TPM2B_PUBLIC tmpl;
	struct tpm_blob b;
	int r = M2M_ERR_INTERNAL;

	memset(&s, 0, sizeof(s));
	memset(&b, 0, sizeof(b));
	s.sensitive.userAuth = *a;
	s.sensitive.data.size = (UINT16)len;
	memcpy(s.sensitive.data.buffer, key, len);
	b.kind = kind;
	switch (kind) {
	case M2M_KIND_HMAC:
		m2m_tpm_tmpl_hmac(len, &tmpl);
		break;
	case M2M_KIND_AES:
		m2m_tpm_tmpl_aes((unsigned)len * 8, &tmpl);
		break;
	default:
		m2m_tpm_tmpl_sealed(1, &tmpl);	/* TPM_KIND_PIN */
		break;
	}
	if ((r = create_obj(t, &tmpl, &s, &b.obj)) != 0)
		goto out;
	if (kind != TPM_KIND_PIN) {
		m2m_tpm_tmpl_sealed(0, &tmpl);
		if ((r = create_obj(t, &tmpl, &s, &b.sealed)) != 0)
			goto out;
		b.flags |= TPM_BLOB_F_SEALED;
	}
	r = m2m_tpm_blob_build(&b, ret_blob, ret_len);
 out:
	m2m_wipe(&s, sizeof(s));
	return r;
}

/* see tpm_int.h */
int
m2m_tpm_ec_create_locked(struct tpm *t, int kind, const TPM2B_AUTH *a,
    uint8_t **ret_blob, size_t *ret_len, TPM2B_PUBLIC *ret_pub)
{
	TPM2B_SENSITIVE_CREATE s;
	TPM2B_PUBLIC tmpl;
	struct tpm_blob b;
	int r = M2M_ERR_INTERNAL;

	memset(&s, 0, sizeof(s));
	memset(&b, 0, sizeof(b));
	s.sensitive.userAuth = *a;	/* data empty: the TPM makes the key */
	b.kind = kind;
	m2m_tpm_tmpl_ec(kind, 1, &tmpl);
	if ((r = create_obj(t, &tmpl, &s, &b.obj)) != 0)
		goto out;
	if ((r = m2m_tpm_blob_build(&b, ret_blob, ret_len)) != 0)
		goto out;
	*ret_pub = b.obj.pub;
	r = 0;
 out:
	m2m_wipe(&s, sizeof(s));
	return r;
}

/*
 * The duplicate TPM2_Import takes, with the inner wrapper only (Part 1,
 * "Inner Duplication Wrapper"; no outer wrapper, so no seed):
 * AES-128-CFB(k, IV 0, TPM2B_DIGEST(H(sens || name)) || sens), with sens
 * the marshalled TPM2B_SENSITIVE and H the nameAlg (SHA-256).  k travels
 * as TPM2_Import's first parameter, encrypted by the session, so the
 * scalar never crosses the bus in clear.  dup and k are secret.
 */
static int
make_duplicate(const TPM2B_SENSITIVE *sens, const TPM2B_NAME *name,
    const uint8_t *k, TPM2B_PRIVATE *dup)
{
	uint8_t plain[sizeof(dup->buffer)];
	size_t off = 2 + TPM2_SHA256_DIGEST_SIZE, slen;
	EVP_MD_CTX *md = NULL;
	EVP_CIPHER_CTX *c = NULL;
	static const uint8_t iv[16];
	unsigned int n = 0;
	int len = 0, fin = 0, r = M2M_ERR_INTERNAL;

	if (Tss2_MU_TPM2B_SENSITIVE_Marshal(sens, plain, sizeof(plain),
	    &off) != TSS2_RC_SUCCESS)
		goto out;
	slen = off - (2 + TPM2_SHA256_DIGEST_SIZE);
	plain[0] = 0;
	plain[1] = TPM2_SHA256_DIGEST_SIZE;
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, plain + 2 + TPM2_SHA256_DIGEST_SIZE,
	    slen) != 1 ||
	    EVP_DigestUpdate(md, name->name, name->size) != 1 ||
	    EVP_DigestFinal_ex(md, plain + 2, &n) != 1 ||
	    n != TPM2_SHA256_DIGEST_SIZE)
		goto out;
	if ((c = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_EncryptInit_ex(c, EVP_aes_128_cfb128(), NULL, k, iv) != 1 ||
	    EVP_EncryptUpdate(c, dup->buffer, &len, plain, (int)off) != 1 ||
	    EVP_EncryptFinal_ex(c, dup->buffer + len, &fin) != 1 ||
	    (size_t)(len + fin) != off)
		goto out;
	dup->size = (UINT16)off;
	r = 0;
 out:
	EVP_CIPHER_CTX_free(c);
	EVP_MD_CTX_free(md);
	m2m_wipe(plain, sizeof(plain));
	return r;
}

/* TPM2_Import of dup (inner key k) under the primary, through the session. */
static int
import_obj(struct tpm *t, const TPM2B_PUBLIC *pub, const TPM2B_DATA *k,
    const TPM2B_PRIVATE *dup, struct tpm_obj *ret)
{
	TSS2_SYS_CONTEXT *sys;
	struct tpm_auth pa;
	TPM2B_ENCRYPTED_SECRET seed;
	TPMT_SYM_DEF_OBJECT sym;
	unsigned tries = 0;
	TSS2_RC rc;
	int r;

	memset(&pa, 0, sizeof(pa));
	memset(&seed, 0, sizeof(seed));	/* no outer wrapper */
	memset(&sym, 0, sizeof(sym));
	sym.algorithm = TPM2_ALG_AES;
	sym.keyBits.aes = 128;
	sym.mode.aes = TPM2_ALG_CFB;
	if ((r = primary_auth(t, &pa)) != 0)
		return r;
	do {
		if ((r = m2m_tpm_cmd_prep(t, &sys)) != 0)
			return r;
		rc = Tss2_Sys_Import_Prepare(sys, pa.handle, k, pub, dup,
		    &seed, &sym);
	} while ((r = m2m_tpm_cmd_run(t, "Import", rc, TPM2_CC_Import, &pa,
	    TPM_SESS_IN, TPM_CTX_CREATE, &tries)) == TPM_AGAIN);
	if (r != 0)
		return r;
	rc = Tss2_Sys_Import_Complete(sys, &ret->priv);
	m2m_tpm_sess_clean(t->fs);
	if (rc != TSS2_RC_SUCCESS)
		return m2m_tpm_fail(t, "Import (response)", rc, TPM_CTX_CREATE);
	ret->pub = *pub;
	return 0;
}

/* see tpm_int.h */
int
m2m_tpm_ec_import_locked(struct tpm *t, int kind, const TPM2B_PUBLIC *pub,
    const uint8_t *d, size_t dlen, const TPM2B_AUTH *a, uint8_t **ret_blob,
    size_t *ret_len)
{
	TPM2B_SENSITIVE sens;
	TPM2B_PRIVATE dup;
	TPM2B_DATA k;
	TPM2B_NAME name;
	struct tpm_blob b;
	int r = M2M_ERR_INTERNAL;

	memset(&sens, 0, sizeof(sens));
	memset(&dup, 0, sizeof(dup));
	memset(&k, 0, sizeof(k));
	memset(&b, 0, sizeof(b));
	if (M2M_NEVER(dlen == 0 || dlen > sizeof(sens.sensitiveArea.
	    sensitive.ecc.buffer)))
		goto out;
	sens.sensitiveArea.sensitiveType = TPM2_ALG_ECC;
	sens.sensitiveArea.authValue = *a;
	sens.sensitiveArea.sensitive.ecc.size = (UINT16)dlen;
	memcpy(sens.sensitiveArea.sensitive.ecc.buffer, d, dlen);
	k.size = 16;
	if (RAND_bytes(k.buffer, k.size) != 1) {
		r = M2M_ERR_RANDOM;
		goto out;
	}
	if ((r = m2m_tpm_obj_name(&pub->publicArea, &name)) != 0 ||
	    (r = make_duplicate(&sens, &name, k.buffer, &dup)) != 0 ||
	    (r = import_obj(t, pub, &k, &dup, &b.obj)) != 0)
		goto out;
	b.kind = kind;
	r = m2m_tpm_blob_build(&b, ret_blob, ret_len);
 out:
	m2m_wipe(&sens, sizeof(sens));
	m2m_wipe(&dup, sizeof(dup));
	m2m_wipe(&k, sizeof(k));
	return r;
}
