/*
 * m2mtoken: the PKCS#11 operations on data: HMAC sign and verify, AES-GCM
 * encrypt and decrypt (C_*Init through the mechanism table, p11_mech.c;
 * the key operations through token/core.h) and the SHA-256 digest of
 * public data.  Input is buffered in the session until the final call.
 */
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "err.h"
#include "object.h"
#include "p11.h"
#include "secret.h"

/* ------------------------------------------------------------------ */
/* the operation's input                                               */
/* ------------------------------------------------------------------ */

static int
op_append(struct p11_session *s, const uint8_t *p, size_t n)
{
	uint8_t *nb;
	size_t cap;

	if (n == 0)
		return 0;
	if (p == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if (n > P11_DATA_MAX - s->op_len)
		return M2M_ERR_DATA_LEN;
	if (s->op_len + n > s->op_cap) {
		cap = s->op_cap ? s->op_cap : 256;
		while (cap < s->op_len + n)
			cap *= 2;
		if ((nb = malloc(cap)) == NULL)
			return M2M_ERR_NO_MEMORY;
		if (s->op_len != 0)
			memcpy(nb, s->op_buf, s->op_len);
		if (s->op_buf != NULL) {
			m2m_wipe(s->op_buf, s->op_cap);
			free(s->op_buf);
		}
		s->op_buf = nb;
		s->op_cap = cap;
	}
	memcpy(s->op_buf + s->op_len, p, n);
	s->op_len += n;
	return 0;
}

/*
 * The one-part call (C_Sign, C_Verify, C_Encrypt, C_Decrypt): the input
 * replaces what was buffered.  An error ends the operation.
 */
static CK_RV
op_input(struct p11_session *s, const uint8_t *in, CK_ULONG inlen)
{
	int r;

	if (in == NULL && inlen != 0) {
		p11_session_op_reset(s);
		return CKR_ARGUMENTS_BAD;
	}
	s->op_len = 0;
	if ((r = op_append(s, in, inlen)) != 0) {
		p11_session_op_reset(s);
		return p11_rv(r);
	}
	return CKR_OK;
}

/* C_*Update: buffer a part; an error ends the operation. */
static CK_RV
op_update(struct p11_session *s, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
	int r;

	if ((r = op_append(s, pPart, ulPartLen)) != 0) {
		p11_session_op_reset(s);
		return p11_rv(r);
	}
	return CKR_OK;
}

/* ------------------------------------------------------------------ */
/* sign / verify (HMAC)                                                */
/* ------------------------------------------------------------------ */

/*
 * The MAC of data (the buffered parts, or C_Sign's data as it is: a
 * one-part call copies nothing) into pSig.  A size query keeps the
 * operation; else it ends.
 */
static CK_RV
sign_data(struct p11_session *s, const uint8_t *data, size_t len,
    CK_BYTE_PTR pSig, CK_ULONG_PTR pulSigLen)
{
	uint8_t mac[M2M_HASH_MAX_LEN];
	CK_RV rv;
	int r;

	if (pulSigLen == NULL) {
		p11_session_op_reset(s);
		return CKR_ARGUMENTS_BAD;
	}
	if (pSig == NULL) {
		*pulSigLen = s->op_maclen;
		return CKR_OK;
	}
	if (*pulSigLen < s->op_maclen) {
		*pulSigLen = s->op_maclen;
		return CKR_BUFFER_TOO_SMALL;
	}
	if (s->op_key->cls == CKO_PRIVATE_KEY) {
		/* ECDSA: the signature is public */
		r = p11_ecdsa_sign(s, data, len, pSig);
	} else if (s->op_maclen == m2m_hash_len(s->op_hash)) {
		/* the whole MAC, the caller's to read: straight into pSig */
		r = m2m_core_hmac(p11.core, s->op_key, s->op_hash,
		    p11_session_objauth(s), data, len, pSig);
	} else {
		/* truncated (CKM_*_HMAC_GENERAL): the rest is never shown */
		r = m2m_core_hmac(p11.core, s->op_key, s->op_hash,
		    p11_session_objauth(s), data, len, mac);
		if (r == 0)
			memcpy(pSig, mac, s->op_maclen);
		m2m_wipe(mac, sizeof(mac));
	}
	if (r == 0) {
		*pulSigLen = s->op_maclen;
		rv = CKR_OK;
	} else
		rv = p11_rv(r);
	p11_session_op_reset(s);
	return rv;
}

/* C_SignFinal: the buffered parts. */
static CK_RV
sign_final(struct p11_session *s, CK_BYTE_PTR pSig, CK_ULONG_PTR pulSigLen)
{
	return sign_data(s, s->op_buf, s->op_len, pSig, pulSigLen);
}

/* C_Sign: pData as it is, not buffered (its size checked as if it were). */
static CK_RV
sign(struct p11_session *s, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
    CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
	if (pData == NULL && ulDataLen != 0) {
		p11_session_op_reset(s);
		return CKR_ARGUMENTS_BAD;
	}
	if (s->op_len != 0 && pSignature != NULL) {
		/* C_Sign after C_SignUpdate is not allowed */
		p11_session_op_reset(s);
		return CKR_OPERATION_ACTIVE;
	}
	if (ulDataLen > P11_DATA_MAX) {
		p11_session_op_reset(s);
		return p11_rv(M2M_ERR_DATA_LEN);
	}
	/* a size query forgets the parts (as C_Sign's input replaces them) */
	if (pSignature == NULL)
		p11_session_op_clear_input(s);
	return sign_data(s, pData, ulDataLen, pSignature, pulSignatureLen);
}

/*
 * The check of pSig against the MAC of data (the buffered parts, or
 * C_Verify's data as it is); the operation ends.
 */
static CK_RV
verify_data(struct p11_session *s, const uint8_t *data, size_t len,
    CK_BYTE_PTR pSig, CK_ULONG ulSigLen)
{
	uint8_t mac[M2M_HASH_MAX_LEN];
	CK_RV rv;
	int r;

	if (pSig == NULL && ulSigLen != 0)
		rv = CKR_ARGUMENTS_BAD;
	else if (ulSigLen != s->op_maclen)
		rv = CKR_SIGNATURE_LEN_RANGE;
	else if (s->op_key->cls == CKO_PUBLIC_KEY)
		rv = p11_rv(p11_ecdsa_verify(s, data, len, pSig));
	else if ((r = m2m_core_hmac(p11.core, s->op_key, s->op_hash,
	    p11_session_objauth(s), data, len, mac)) != 0)
		rv = p11_rv(r);
	else
		rv = m2m_ct_equal(mac, pSig, s->op_maclen) ? CKR_OK :
		    CKR_SIGNATURE_INVALID;
	/* the expected MAC would forge this message: wiped */
	m2m_wipe(mac, sizeof(mac));
	p11_session_op_reset(s);
	return rv;
}

static CK_RV
verify_final(struct p11_session *s, CK_BYTE_PTR pSig, CK_ULONG ulSigLen)
{
	return verify_data(s, s->op_buf, s->op_len, pSig, ulSigLen);
}

static CK_RV
verify(struct p11_session *s, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
    CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen)
{
	if (pData == NULL && ulDataLen != 0) {
		p11_session_op_reset(s);
		return CKR_ARGUMENTS_BAD;
	}
	if (ulDataLen > P11_DATA_MAX) {
		p11_session_op_reset(s);
		return p11_rv(M2M_ERR_DATA_LEN);
	}
	/* the input replaces what was buffered, as for the other one-part calls */
	return verify_data(s, pData, ulDataLen, pSignature, ulSignatureLen);
}

#define NEED_SIGN	P11_NEED_OP(P11_OP_SIGN)
#define NEED_VERIFY	P11_NEED_OP(P11_OP_VERIFY)
#define NEED_ENCRYPT	P11_NEED_OP(P11_OP_ENCRYPT)
#define NEED_DECRYPT	P11_NEED_OP(P11_OP_DECRYPT)

CK_RV
p11_C_SignInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
    CK_OBJECT_HANDLE hKey)
{
	P11_SESSION_CALL(hSession, P11_NEED_SESSION, p11_op_init,
	    P11_OP_SIGN, pMechanism, hKey);
}

CK_RV
p11_C_Sign(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
    CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
	P11_SESSION_CALL(hSession, NEED_SIGN, sign, pData, ulDataLen,
	    pSignature, pulSignatureLen);
}

CK_RV
p11_C_SignUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart,
    CK_ULONG ulPartLen)
{
	P11_SESSION_CALL(hSession, NEED_SIGN, op_update, pPart, ulPartLen);
}

CK_RV
p11_C_SignFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature,
    CK_ULONG_PTR pulSignatureLen)
{
	P11_SESSION_CALL(hSession, NEED_SIGN, sign_final, pSignature,
	    pulSignatureLen);
}

CK_RV
p11_C_VerifyInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
    CK_OBJECT_HANDLE hKey)
{
	P11_SESSION_CALL(hSession, P11_NEED_SESSION, p11_op_init,
	    P11_OP_VERIFY, pMechanism, hKey);
}

CK_RV
p11_C_Verify(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData,
    CK_ULONG ulDataLen, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen)
{
	P11_SESSION_CALL(hSession, NEED_VERIFY, verify, pData, ulDataLen,
	    pSignature, ulSignatureLen);
}

CK_RV
p11_C_VerifyUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart,
    CK_ULONG ulPartLen)
{
	P11_SESSION_CALL(hSession, NEED_VERIFY, op_update, pPart, ulPartLen);
}

CK_RV
p11_C_VerifyFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature,
    CK_ULONG ulSignatureLen)
{
	P11_SESSION_CALL(hSession, NEED_VERIFY, verify_final, pSignature,
	    ulSignatureLen);
}

/* ------------------------------------------------------------------ */
/* encrypt / decrypt (AES-GCM)                                         */
/* ------------------------------------------------------------------ */

/* Run the buffered GCM operation; size rules as for sign_final. */
static CK_RV
crypt_final(struct p11_session *s, CK_BYTE_PTR pOut, CK_ULONG_PTR pulOutLen)
{
	struct m2m_gcm_args g;
	size_t need, outlen = 0;
	int enc = s->op == P11_OP_ENCRYPT, r;
	CK_RV rv;

	if (pulOutLen == NULL) {
		rv = CKR_ARGUMENTS_BAD;
		goto end;
	}
	if (!enc && s->op_len < s->op_taglen) {
		rv = CKR_ENCRYPTED_DATA_LEN_RANGE;
		goto end;
	}
	need = enc ? s->op_len + s->op_taglen : s->op_len - s->op_taglen;
	if (pOut == NULL) {
		*pulOutLen = need;
		return CKR_OK;
	}
	if (*pulOutLen < need) {
		*pulOutLen = need;
		return CKR_BUFFER_TOO_SMALL;
	}
	g.encrypt = enc;
	g.iv = s->op_iv;
	g.ivlen = s->op_ivlen;
	g.aad = s->op_aad;
	g.aadlen = s->op_aadlen;
	g.taglen = s->op_taglen;
	if ((r = m2m_core_aes_gcm(p11.core, s->op_key, p11_session_objauth(s),
	    &g, s->op_buf, s->op_len, pOut, &outlen)) != 0) {
		rv = p11_rv(r);
		goto end;
	}
	*pulOutLen = outlen;
	rv = CKR_OK;
 end:
	p11_session_op_reset(s);
	return rv;
}

static CK_RV
crypt_one(struct p11_session *s, CK_BYTE_PTR in, CK_ULONG inlen,
    CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
	CK_RV rv;

	if ((rv = op_input(s, in, inlen)) != CKR_OK)
		return rv;
	rv = crypt_final(s, out, outlen);
	if (s->op != P11_OP_NONE)	/* size query: the call comes again */
		p11_session_op_clear_input(s);	/* a plaintext: wiped */
	return rv;
}

static CK_RV
crypt_update(struct p11_session *s, CK_BYTE_PTR in, CK_ULONG inlen,
    CK_ULONG_PTR outlen)
{
	CK_RV rv;

	if (outlen == NULL) {
		p11_session_op_reset(s);
		return CKR_ARGUMENTS_BAD;
	}
	if ((rv = op_update(s, in, inlen)) == CKR_OK)
		*outlen = 0;	/* GCM output comes with the final call */
	return rv;
}

CK_RV
p11_C_EncryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
    CK_OBJECT_HANDLE hKey)
{
	P11_SESSION_CALL(hSession, P11_NEED_SESSION, p11_op_init,
	    P11_OP_ENCRYPT, pMechanism, hKey);
}

CK_RV
p11_C_Encrypt(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData,
    CK_ULONG ulDataLen, CK_BYTE_PTR pEncryptedData,
    CK_ULONG_PTR pulEncryptedDataLen)
{
	P11_SESSION_CALL(hSession, NEED_ENCRYPT, crypt_one, pData, ulDataLen,
	    pEncryptedData, pulEncryptedDataLen);
}

CK_RV
p11_C_EncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart,
    CK_ULONG ulPartLen, CK_BYTE_PTR pEncryptedPart,
    CK_ULONG_PTR pulEncryptedPartLen)
{
	(void)pEncryptedPart;
	P11_SESSION_CALL(hSession, NEED_ENCRYPT, crypt_update, pPart,
	    ulPartLen, pulEncryptedPartLen);
}

CK_RV
p11_C_EncryptFinal(CK_SESSION_HANDLE hSession,
    CK_BYTE_PTR pLastEncryptedPart, CK_ULONG_PTR pulLastEncryptedPartLen)
{
	P11_SESSION_CALL(hSession, NEED_ENCRYPT, crypt_final,
	    pLastEncryptedPart, pulLastEncryptedPartLen);
}

CK_RV
p11_C_DecryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
    CK_OBJECT_HANDLE hKey)
{
	P11_SESSION_CALL(hSession, P11_NEED_SESSION, p11_op_init,
	    P11_OP_DECRYPT, pMechanism, hKey);
}

CK_RV
p11_C_Decrypt(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedData,
    CK_ULONG ulEncryptedDataLen, CK_BYTE_PTR pData, CK_ULONG_PTR pulDataLen)
{
	P11_SESSION_CALL(hSession, NEED_DECRYPT, crypt_one, pEncryptedData,
	    ulEncryptedDataLen, pData, pulDataLen);
}

CK_RV
p11_C_DecryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
    CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen)
{
	(void)pPart;
	P11_SESSION_CALL(hSession, NEED_DECRYPT, crypt_update, pEncryptedPart,
	    ulEncryptedPartLen, pulPartLen);
}

CK_RV
p11_C_DecryptFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastPart,
    CK_ULONG_PTR pulLastPartLen)
{
	P11_SESSION_CALL(hSession, NEED_DECRYPT, crypt_final, pLastPart,
	    pulLastPartLen);
}

/* ------------------------------------------------------------------ */
/* digest (SHA-256, public data only)                                  */
/* ------------------------------------------------------------------ */

static CK_RV
digest_init(struct p11_session *s, CK_MECHANISM_PTR pMechanism)
{
	if (pMechanism == NULL)
		return CKR_ARGUMENTS_BAD;
	if (s->digest != NULL)
		return CKR_OPERATION_ACTIVE;
	if (pMechanism->mechanism != CKM_SHA256)
		return CKR_MECHANISM_INVALID;
	if (pMechanism->ulParameterLen != 0)
		return CKR_MECHANISM_PARAM_INVALID;
	if ((s->digest = EVP_MD_CTX_new()) == NULL)
		return CKR_HOST_MEMORY;
	if (EVP_DigestInit_ex(s->digest, EVP_sha256(), NULL) != 1) {
		p11_session_digest_reset(s);
		return CKR_FUNCTION_FAILED;
	}
	return CKR_OK;
}

CK_RV
p11_C_DigestInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism)
{
	P11_SESSION_CALL(hSession, P11_NEED_SESSION, digest_init, pMechanism);
}

static CK_RV
digest_out(struct p11_session *s, CK_BYTE_PTR out, CK_ULONG_PTR outlen,
    int *ended)
{
	unsigned int n = 0;

	*ended = 0;
	if (outlen == NULL) {
		*ended = 1;
		return CKR_ARGUMENTS_BAD;
	}
	if (out == NULL) {
		*outlen = 32;
		return CKR_OK;
	}
	if (*outlen < 32) {
		*outlen = 32;
		return CKR_BUFFER_TOO_SMALL;
	}
	*ended = 1;
	if (EVP_DigestFinal_ex(s->digest, out, &n) != 1)
		return CKR_FUNCTION_FAILED;
	*outlen = n;
	return CKR_OK;
}

static CK_RV
digest(struct p11_session *s, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
    CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen)
{
	EVP_MD_CTX *tmp = NULL;
	CK_RV rv;
	int ended = 1;

	if (s->digest == NULL)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (pData == NULL && ulDataLen != 0) {
		rv = CKR_ARGUMENTS_BAD;
		goto end;
	}
	/* a size query must not consume the data: digest a copy */
	if ((tmp = EVP_MD_CTX_new()) == NULL ||
	    EVP_MD_CTX_copy_ex(tmp, s->digest) != 1 ||
	    EVP_DigestUpdate(tmp, pData, ulDataLen) != 1) {
		rv = CKR_FUNCTION_FAILED;
		goto end;
	}
	EVP_MD_CTX_free(s->digest);
	s->digest = tmp;
	tmp = NULL;	/* transferred */
	rv = digest_out(s, pDigest, pulDigestLen, &ended);
	if (!ended) {
		/* restart so the next C_Digest sees the data once */
		EVP_DigestInit_ex(s->digest, EVP_sha256(), NULL);
	}
 end:
	if (ended)
		p11_session_digest_reset(s);
	EVP_MD_CTX_free(tmp);
	return rv;
}

CK_RV
p11_C_Digest(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData,
    CK_ULONG ulDataLen, CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen)
{
	P11_SESSION_CALL(hSession, P11_NEED_SESSION, digest, pData, ulDataLen,
	    pDigest, pulDigestLen);
}

static CK_RV
digest_update(struct p11_session *s, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
	if (s->digest == NULL)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (pPart == NULL && ulPartLen != 0) {
		p11_session_digest_reset(s);
		return CKR_ARGUMENTS_BAD;
	}
	if (EVP_DigestUpdate(s->digest, pPart, ulPartLen) != 1) {
		p11_session_digest_reset(s);
		return CKR_FUNCTION_FAILED;
	}
	return CKR_OK;
}

CK_RV
p11_C_DigestUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart,
    CK_ULONG ulPartLen)
{
	P11_SESSION_CALL(hSession, P11_NEED_SESSION, digest_update, pPart,
	    ulPartLen);
}

static CK_RV
digest_key(struct p11_session *s, CK_OBJECT_HANDLE hKey)
{
	(void)hKey;
	if (s->digest == NULL)
		return CKR_OPERATION_NOT_INITIALIZED;
	/* a key's value never feeds a host-side digest */
	p11_session_digest_reset(s);
	return CKR_KEY_INDIGESTIBLE;
}

CK_RV
p11_C_DigestKey(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hKey)
{
	P11_SESSION_CALL(hSession, P11_NEED_SESSION, digest_key, hKey);
}

static CK_RV
digest_final(struct p11_session *s, CK_BYTE_PTR pDigest,
    CK_ULONG_PTR pulDigestLen)
{
	CK_RV rv;
	int ended;

	if (s->digest == NULL)
		return CKR_OPERATION_NOT_INITIALIZED;
	rv = digest_out(s, pDigest, pulDigestLen, &ended);
	if (ended)
		p11_session_digest_reset(s);
	return rv;
}

CK_RV
p11_C_DigestFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pDigest,
    CK_ULONG_PTR pulDigestLen)
{
	P11_SESSION_CALL(hSession, P11_NEED_SESSION, digest_final, pDigest,
	    pulDigestLen);
}
