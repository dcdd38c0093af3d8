/*
 * m2mtoken: PKCS#11 cryptographic functions: mechanisms, HMAC sign/verify,
 * AES-GCM, SHA-256 digest, key generation, the oneM2M derivations, HKDF,
 * the TLS 1.2 PSK master secret and random numbers.  Keys are used only
 * through the backend; this file sees key bytes only for the moment a
 * derived value is handed to the backend to wrap.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core.h"
#include "err.h"
#include "ident.h"
#include "kdf.h"
#include "log.h"
#include "object.h"
#include "p11.h"
#include "policy.h"
#include "secret.h"

#define EXPORT	__attribute__((visibility("default")))

#define GCM_IV_MAX	256
#define GCM_IV_GEN_LEN	12	/* a token-generated IV: 96 random bits */
#define GCM_TAG_MIN	96	/* shortest tag, in bits (SP 800-38D 5.2.1.2) */
#define GCM_AAD_MAX	(64u << 10)
#define SALT_MAX	M2M_KEY_MAX
#define HKDF_INFO_MAX	1024

static const struct mech_info {
	CK_MECHANISM_TYPE	type;
	CK_ULONG		min, max;
	CK_FLAGS		flags;
} mechs[] = {
	{ CKM_GENERIC_SECRET_KEY_GEN, 1, M2M_KEY_MAX, CKF_GENERATE },
	{ CKM_AES_KEY_GEN, 16, 32, CKF_GENERATE },
	{ CKM_SHA256_HMAC, 1, M2M_HMAC_KEY_MAX, CKF_SIGN | CKF_VERIFY },
	{ CKM_SHA256_HMAC_GENERAL, 1, M2M_HMAC_KEY_MAX, CKF_SIGN | CKF_VERIFY },
	{ CKM_SHA512_HMAC, 1, M2M_HMAC_KEY_MAX, CKF_SIGN | CKF_VERIFY },
	{ CKM_SHA512_HMAC_GENERAL, 1, M2M_HMAC_KEY_MAX, CKF_SIGN | CKF_VERIFY },
	{ CKM_AES_GCM, 16, 32, CKF_ENCRYPT | CKF_DECRYPT },
	{ CKM_SHA256, 0, 0, CKF_DIGEST },
	{ CKM_HKDF_DERIVE, 1, M2M_KEY_MAX, CKF_DERIVE },
	{ CKM_M2M_KM_DERIVE, 32, 32, CKF_DERIVE },
	{ CKM_M2M_KPSA_DERIVE, 32, 32, CKF_DERIVE },
	{ CKM_M2M_KUC_DERIVE, 32, 32, CKF_DERIVE },
	{ CKM_M2M_E2E_MASTER_SHA256, 1, 62, CKF_DERIVE },
	{ CKM_M2M_E2E_MASTER_SHA512, 1, 62, CKF_DERIVE },
	{ CKM_M2M_E2E_EXPAND, 32, 64, CKF_DERIVE },
	{ CKM_M2M_TLS12_PSK_MASTER, 1, 62, CKF_DERIVE },
};
#define NMECHS (sizeof(mechs) / sizeof(mechs[0]))

static CK_RV
slot_ok(CK_SLOT_ID slot)
{
	CK_SLOT_ID list[P11_MAX_TOKENS + 1];
	CK_ULONG n = P11_MAX_TOKENS + 1, i;
	CK_RV rv;

	if ((rv = C_GetSlotList(CK_FALSE, list, &n)) != CKR_OK)
		return rv;
	for (i = 0; i < n; i++)
		if (list[i] == slot)
			return CKR_OK;
	return CKR_SLOT_ID_INVALID;
}

EXPORT CK_RV
C_GetMechanismList(CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pList,
    CK_ULONG_PTR pulCount)
{
	size_t i;
	CK_RV rv;

	if ((rv = slot_ok(slotID)) != CKR_OK)
		return rv;
	if (pulCount == NULL)
		return CKR_ARGUMENTS_BAD;
	if (pList == NULL) {
		*pulCount = NMECHS;
		return CKR_OK;
	}
	if (*pulCount < NMECHS) {
		*pulCount = NMECHS;
		return CKR_BUFFER_TOO_SMALL;
	}
	for (i = 0; i < NMECHS; i++)
		pList[i] = mechs[i].type;
	*pulCount = NMECHS;
	return CKR_OK;
}

static const struct mech_info *
mech_find(CK_MECHANISM_TYPE t)
{
	size_t i;

	for (i = 0; i < NMECHS; i++)
		if (mechs[i].type == t)
			return &mechs[i];
	return NULL;
}

EXPORT CK_RV
C_GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type,
    CK_MECHANISM_INFO_PTR pInfo)
{
	const struct mech_info *m;
	CK_RV rv;

	if ((rv = slot_ok(slotID)) != CKR_OK)
		return rv;
	if (pInfo == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((m = mech_find(type)) == NULL)
		return CKR_MECHANISM_INVALID;
	pInfo->ulMinKeySize = m->min;
	pInfo->ulMaxKeySize = m->max;
	pInfo->flags = m->flags | CKF_HW;
	return CKR_OK;
}

static int64_t
now(void)
{
	return (int64_t)time(NULL);
}

/* ------------------------------------------------------------------ */
/* sign / verify (HMAC)                                                */
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

static CK_RV
op_begin(struct p11_session *s, enum p11_op op, CK_MECHANISM_PTR pMech,
    CK_OBJECT_HANDLE hKey, enum m2m_use use)
{
	struct m2m_object *k = NULL;
	CK_RV rv;
	int r;

	if (pMech == NULL)
		return CKR_ARGUMENTS_BAD;
	if (s->op != P11_OP_NONE)
		return CKR_OPERATION_ACTIVE;
	if ((rv = p11_object_get(s, hKey, &k)) != CKR_OK)
		return rv == CKR_OBJECT_HANDLE_INVALID ? CKR_KEY_HANDLE_INVALID :
		    rv;
	if ((r = m2m_policy_check_use(k, use, now())) != 0) {
		m2m_info("key %lu: %s", hKey, m2m_strerror(r));
		m2m_object_free(k);
		return p11_rv(r);
	}
	s->op = op;
	s->op_mech = pMech->mechanism;
	s->op_key = k;
	s->op_len = 0;
	return CKR_OK;
}

static CK_RV
hmac_init(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMech,
    CK_OBJECT_HANDLE hKey, enum p11_op op)
{
	struct p11_session *s;
	enum m2m_hash hash;
	size_t maclen;
	CK_RV rv;

	if ((rv = p11_enter_session(hSession, &s)) != CKR_OK)
		return rv;
	if (pMech == NULL) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	switch (pMech->mechanism) {
	case CKM_SHA256_HMAC:
	case CKM_SHA256_HMAC_GENERAL:
		hash = M2M_HASH_SHA256;
		break;
	case CKM_SHA512_HMAC:
	case CKM_SHA512_HMAC_GENERAL:
		hash = M2M_HASH_SHA512;
		break;
	default:
		rv = mech_find(pMech->mechanism) ? CKR_KEY_FUNCTION_NOT_PERMITTED :
		    CKR_MECHANISM_INVALID;
		if (rv == CKR_KEY_FUNCTION_NOT_PERMITTED)
			rv = CKR_MECHANISM_INVALID;
		goto out;
	}
	maclen = m2m_hash_len(hash);
	if (pMech->mechanism == CKM_SHA256_HMAC_GENERAL ||
	    pMech->mechanism == CKM_SHA512_HMAC_GENERAL) {
		CK_ULONG l;	/* CK_MAC_GENERAL_PARAMS */

		if (pMech->pParameter == NULL ||
		    pMech->ulParameterLen != sizeof(l)) {
			rv = CKR_MECHANISM_PARAM_INVALID;
			goto out;
		}
		memcpy(&l, pMech->pParameter, sizeof(l));
		if (l < 1 || l > maclen) {
			rv = CKR_MECHANISM_PARAM_INVALID;
			goto out;
		}
		maclen = l;
	} else if (pMech->ulParameterLen != 0) {
		rv = CKR_MECHANISM_PARAM_INVALID;
		goto out;
	}
	if ((rv = op_begin(s, op, pMech, hKey, op == P11_OP_SIGN ?
	    M2M_USE_SIGN : M2M_USE_VERIFY)) != CKR_OK)
		goto out;
	if (s->op_key->key_type != CKK_GENERIC_SECRET) {
		p11_session_op_reset(s);
		rv = CKR_KEY_TYPE_INCONSISTENT;
		goto out;
	}
	/* contract section 3: Ker is an HMAC-SHA-256 key */
	if (s->op_key->role == CK_M2M_ROLE_KER && hash != M2M_HASH_SHA256) {
		m2m_info("key %lu: Ker allows HMAC-SHA-256 only", hKey);
		p11_session_op_reset(s);
		rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
		goto out;
	}
	s->op_hash = hash;
	s->op_maclen = maclen;
 out:
	p11_leave();
	return rv;
}

static int
op_hmac(struct p11_session *s, uint8_t *mac)
{
	const struct m2m_backend *be = m2m_core_backend(p11.core);
	struct m2m_keyref kr;

	/* a pre-hashed long key: SHA-512(K) is in the aux blob */
	m2m_core_keyref(s->op_key, s->op_hash == M2M_HASH_SHA512 &&
	    m2m_policy_key_prehashed(s->op_key), p11_session_objauth(s), &kr);
	return be->ops->hmac(be->impl, &kr, s->op_hash, s->op_buf, s->op_len,
	    mac);
}

/* C_Sign / C_SignFinal: size query keeps the operation; else it ends. */
static CK_RV
sign_finish(struct p11_session *s, CK_BYTE_PTR pSig, CK_ULONG_PTR pulSigLen)
{
	uint8_t mac[M2M_HASH_MAX_LEN];
	CK_RV rv;
	int r;

	if (pulSigLen == NULL) {
		rv = CKR_ARGUMENTS_BAD;
		goto end;
	}
	if (pSig == NULL) {
		*pulSigLen = s->op_maclen;
		return CKR_OK;
	}
	if (*pulSigLen < s->op_maclen) {
		*pulSigLen = s->op_maclen;
		return CKR_BUFFER_TOO_SMALL;
	}
	if ((r = op_hmac(s, mac)) != 0) {
		rv = p11_rv(r);
		goto end;
	}
	memcpy(pSig, mac, s->op_maclen);
	*pulSigLen = s->op_maclen;
	rv = CKR_OK;
 end:
	m2m_wipe(mac, sizeof(mac));
	p11_session_op_reset(s);
	return rv;
}

static CK_RV
verify_finish(struct p11_session *s, CK_BYTE_PTR pSig, CK_ULONG ulSigLen)
{
	uint8_t mac[M2M_HASH_MAX_LEN];
	CK_RV rv;
	int r;

	if (pSig == NULL && ulSigLen != 0)
		rv = CKR_ARGUMENTS_BAD;
	else if (ulSigLen != s->op_maclen)
		rv = CKR_SIGNATURE_LEN_RANGE;
	else if ((r = op_hmac(s, mac)) != 0)
		rv = p11_rv(r);
	else
		rv = m2m_ct_equal(mac, pSig, s->op_maclen) ? CKR_OK :
		    CKR_SIGNATURE_INVALID;
	m2m_wipe(mac, sizeof(mac));
	p11_session_op_reset(s);
	return rv;
}

#define SESSION_OP(h, s, want) do {					\
	if ((rv = p11_enter_session((h), &(s))) != CKR_OK)		\
		return rv;						\
	if ((s)->op != (want)) {					\
		p11_leave();						\
		return CKR_OPERATION_NOT_INITIALIZED;			\
	}								\
} while (0)

EXPORT CK_RV
C_SignInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
    CK_OBJECT_HANDLE hKey)
{
	return hmac_init(hSession, pMechanism, hKey, P11_OP_SIGN);
}

EXPORT CK_RV
C_Sign(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
    CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
	struct p11_session *s;
	CK_RV rv;
	int r;

	SESSION_OP(hSession, s, P11_OP_SIGN);
	if (pData == NULL && ulDataLen != 0) {
		p11_session_op_reset(s);
		rv = CKR_ARGUMENTS_BAD;
	} else if (s->op_len != 0 && pSignature != NULL) {
		/* C_Sign after C_SignUpdate is not allowed */
		p11_session_op_reset(s);
		rv = CKR_OPERATION_ACTIVE;
	} else {
		s->op_len = 0;
		if ((r = op_append(s, pData, ulDataLen)) != 0) {
			p11_session_op_reset(s);
			rv = p11_rv(r);
		} else {
			rv = sign_finish(s, pSignature, pulSignatureLen);
			if (pSignature == NULL || rv == CKR_BUFFER_TOO_SMALL)
				s->op_len = 0;	/* kept for the real call */
		}
	}
	p11_leave();
	return rv;
}

/* C_SignUpdate / C_VerifyUpdate: buffer a part; an error ends the op. */
static CK_RV
mac_update(CK_SESSION_HANDLE hSession, enum p11_op op, CK_BYTE_PTR pPart,
    CK_ULONG ulPartLen)
{
	struct p11_session *s;
	CK_RV rv;
	int r;

	SESSION_OP(hSession, s, op);
	if ((r = op_append(s, pPart, ulPartLen)) != 0) {
		p11_session_op_reset(s);
		rv = p11_rv(r);
	}
	p11_leave();
	return rv;
}

EXPORT CK_RV
C_SignUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
	return mac_update(hSession, P11_OP_SIGN, pPart, ulPartLen);
}

EXPORT CK_RV
C_SignFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature,
    CK_ULONG_PTR pulSignatureLen)
{
	struct p11_session *s;
	CK_RV rv;

	SESSION_OP(hSession, s, P11_OP_SIGN);
	rv = sign_finish(s, pSignature, pulSignatureLen);
	p11_leave();
	return rv;
}

EXPORT CK_RV
C_VerifyInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
    CK_OBJECT_HANDLE hKey)
{
	return hmac_init(hSession, pMechanism, hKey, P11_OP_VERIFY);
}

EXPORT CK_RV
C_Verify(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
    CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen)
{
	struct p11_session *s;
	CK_RV rv;
	int r;

	SESSION_OP(hSession, s, P11_OP_VERIFY);
	if ((pData == NULL && ulDataLen != 0)) {
		p11_session_op_reset(s);
		rv = CKR_ARGUMENTS_BAD;
	} else {
		s->op_len = 0;
		if ((r = op_append(s, pData, ulDataLen)) != 0) {
			p11_session_op_reset(s);
			rv = p11_rv(r);
		} else
			rv = verify_finish(s, pSignature, ulSignatureLen);
	}
	p11_leave();
	return rv;
}

EXPORT CK_RV
C_VerifyUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart,
    CK_ULONG ulPartLen)
{
	return mac_update(hSession, P11_OP_VERIFY, pPart, ulPartLen);
}

EXPORT CK_RV
C_VerifyFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature,
    CK_ULONG ulSignatureLen)
{
	struct p11_session *s;
	CK_RV rv;

	SESSION_OP(hSession, s, P11_OP_VERIFY);
	rv = verify_finish(s, pSignature, ulSignatureLen);
	p11_leave();
	return rv;
}

/* ------------------------------------------------------------------ */
/* encrypt / decrypt (AES-GCM)                                         */
/* ------------------------------------------------------------------ */

/*
 * Does an encryption ask the token for its IV?  Our convention, documented
 * in docs/operations.md: ulIvLen 12, ulIvBits 0 and pIv all zero bytes (an
 * IV no caller should use twice, so taking it over costs nothing); the
 * generated IV is written to pIv at C_EncryptInit.
 */
static int
gcm_iv_wanted(const CK_GCM_PARAMS *p)
{
	uint8_t acc = 0;
	size_t i;

	if (p->ulIvLen != GCM_IV_GEN_LEN || p->ulIvBits != 0)
		return 0;
	for (i = 0; i < GCM_IV_GEN_LEN; i++)
		acc |= p->pIv[i];
	return acc == 0;
}

static CK_RV
gcm_init(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMech,
    CK_OBJECT_HANDLE hKey, enum p11_op op)
{
	const struct m2m_backend *be;
	struct p11_session *s;
	CK_GCM_PARAMS p;
	CK_RV rv;
	int gen, r;

	if ((rv = p11_enter_session(hSession, &s)) != CKR_OK)
		return rv;
	if (pMech == NULL) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if (pMech->mechanism != CKM_AES_GCM) {
		rv = CKR_MECHANISM_INVALID;
		goto out;
	}
	if (pMech->pParameter == NULL || pMech->ulParameterLen != sizeof(p)) {
		rv = CKR_MECHANISM_PARAM_INVALID;
		goto out;
	}
	memcpy(&p, pMech->pParameter, sizeof(p));
	if (p.pIv == NULL || p.ulIvLen < 1 || p.ulIvLen > GCM_IV_MAX ||
	    (p.pAAD == NULL && p.ulAADLen != 0) || p.ulAADLen > GCM_AAD_MAX ||
	    p.ulTagBits < GCM_TAG_MIN || p.ulTagBits > 128 ||
	    p.ulTagBits % 8 != 0) {
		rv = CKR_MECHANISM_PARAM_INVALID;
		goto out;
	}
	gen = op == P11_OP_ENCRYPT && gcm_iv_wanted(&p);
	if ((rv = op_begin(s, op, pMech, hKey, op == P11_OP_ENCRYPT ?
	    M2M_USE_ENCRYPT : M2M_USE_DECRYPT)) != CKR_OK)
		goto out;
	if (s->op_key->key_type != CKK_AES) {
		p11_session_op_reset(s);
		rv = CKR_KEY_TYPE_INCONSISTENT;
		goto out;
	}
	s->op_iv = malloc(p.ulIvLen);
	s->op_aad = malloc(p.ulAADLen ? p.ulAADLen : 1);
	if (s->op_iv == NULL || s->op_aad == NULL) {
		p11_session_op_reset(s);
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	if (gen) {
		be = m2m_core_backend(p11.core);
		if ((r = be->ops->random(be->impl, s->op_iv,
		    GCM_IV_GEN_LEN)) != 0) {
			m2m_error("C_EncryptInit: IV: %s", m2m_strerror(r));
			p11_session_op_reset(s);
			rv = p11_rv(r);
			goto out;
		}
		memcpy(p.pIv, s->op_iv, GCM_IV_GEN_LEN);	/* to the caller */
	} else
		memcpy(s->op_iv, p.pIv, p.ulIvLen);
	s->op_ivlen = p.ulIvLen;
	if (p.ulAADLen != 0)
		memcpy(s->op_aad, p.pAAD, p.ulAADLen);
	s->op_aadlen = p.ulAADLen;
	s->op_taglen = p.ulTagBits / 8;
 out:
	p11_leave();
	return rv;
}

/* Run the buffered GCM operation; size rules as for sign_finish. */
static CK_RV
gcm_finish(struct p11_session *s, CK_BYTE_PTR pOut, CK_ULONG_PTR pulOutLen)
{
	const struct m2m_backend *be = m2m_core_backend(p11.core);
	struct m2m_keyref kr;
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
	m2m_core_keyref(s->op_key, 0, p11_session_objauth(s), &kr);
	r = be->ops->aes_gcm(be->impl, &kr, enc, s->op_iv, s->op_ivlen,
	    s->op_aad, s->op_aadlen, s->op_taglen, s->op_buf, s->op_len, pOut,
	    &outlen);
	if (r != 0) {
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
crypt_one(CK_SESSION_HANDLE hSession, enum p11_op op, CK_BYTE_PTR in,
    CK_ULONG inlen, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
	struct p11_session *s;
	CK_RV rv;
	int r;

	SESSION_OP(hSession, s, op);
	if (in == NULL && inlen != 0) {
		p11_session_op_reset(s);
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	s->op_len = 0;
	if ((r = op_append(s, in, inlen)) != 0) {
		p11_session_op_reset(s);
		rv = p11_rv(r);
		goto out;
	}
	rv = gcm_finish(s, out, outlen);
	if (s->op != P11_OP_NONE)
		s->op_len = 0;	/* size query: the call will come again */
 out:
	p11_leave();
	return rv;
}

static CK_RV
crypt_update(CK_SESSION_HANDLE hSession, enum p11_op op, CK_BYTE_PTR in,
    CK_ULONG inlen, CK_ULONG_PTR outlen)
{
	struct p11_session *s;
	CK_RV rv;
	int r;

	SESSION_OP(hSession, s, op);
	if (outlen == NULL) {
		p11_session_op_reset(s);
		rv = CKR_ARGUMENTS_BAD;
	} else if ((r = op_append(s, in, inlen)) != 0) {
		p11_session_op_reset(s);
		rv = p11_rv(r);
	} else
		*outlen = 0;	/* GCM output comes with the final call */
	p11_leave();
	return rv;
}

static CK_RV
crypt_final(CK_SESSION_HANDLE hSession, enum p11_op op, CK_BYTE_PTR out,
    CK_ULONG_PTR outlen)
{
	struct p11_session *s;
	CK_RV rv;

	SESSION_OP(hSession, s, op);
	rv = gcm_finish(s, out, outlen);
	p11_leave();
	return rv;
}

EXPORT CK_RV
C_EncryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
    CK_OBJECT_HANDLE hKey)
{
	return gcm_init(hSession, pMechanism, hKey, P11_OP_ENCRYPT);
}

EXPORT CK_RV
C_Encrypt(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
    CK_BYTE_PTR pEncryptedData, CK_ULONG_PTR pulEncryptedDataLen)
{
	return crypt_one(hSession, P11_OP_ENCRYPT, pData, ulDataLen,
	    pEncryptedData, pulEncryptedDataLen);
}

EXPORT CK_RV
C_EncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart,
    CK_ULONG ulPartLen, CK_BYTE_PTR pEncryptedPart,
    CK_ULONG_PTR pulEncryptedPartLen)
{
	(void)pEncryptedPart;
	return crypt_update(hSession, P11_OP_ENCRYPT, pPart, ulPartLen,
	    pulEncryptedPartLen);
}

EXPORT CK_RV
C_EncryptFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastEncryptedPart,
    CK_ULONG_PTR pulLastEncryptedPartLen)
{
	return crypt_final(hSession, P11_OP_ENCRYPT, pLastEncryptedPart,
	    pulLastEncryptedPartLen);
}

EXPORT CK_RV
C_DecryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
    CK_OBJECT_HANDLE hKey)
{
	return gcm_init(hSession, pMechanism, hKey, P11_OP_DECRYPT);
}

EXPORT CK_RV
C_Decrypt(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedData,
    CK_ULONG ulEncryptedDataLen, CK_BYTE_PTR pData, CK_ULONG_PTR pulDataLen)
{
	return crypt_one(hSession, P11_OP_DECRYPT, pEncryptedData,
	    ulEncryptedDataLen, pData, pulDataLen);
}

EXPORT CK_RV
C_DecryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
    CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen)
{
	(void)pPart;
	return crypt_update(hSession, P11_OP_DECRYPT, pEncryptedPart,
	    ulEncryptedPartLen, pulPartLen);
}

EXPORT CK_RV
C_DecryptFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastPart,
    CK_ULONG_PTR pulLastPartLen)
{
	return crypt_final(hSession, P11_OP_DECRYPT, pLastPart,
	    pulLastPartLen);
}

/* ------------------------------------------------------------------ */
/* digest (SHA-256, public data only)                                  */
/* ------------------------------------------------------------------ */

EXPORT CK_RV
C_DigestInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism)
{
	struct p11_session *s;
	CK_RV rv;

	if ((rv = p11_enter_session(hSession, &s)) != CKR_OK)
		return rv;
	if (pMechanism == NULL)
		rv = CKR_ARGUMENTS_BAD;
	else if (s->digest != NULL)
		rv = CKR_OPERATION_ACTIVE;
	else if (pMechanism->mechanism != CKM_SHA256)
		rv = CKR_MECHANISM_INVALID;
	else if (pMechanism->ulParameterLen != 0)
		rv = CKR_MECHANISM_PARAM_INVALID;
	else if ((s->digest = EVP_MD_CTX_new()) == NULL)
		rv = CKR_HOST_MEMORY;
	else if (EVP_DigestInit_ex(s->digest, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(s->digest);
		s->digest = NULL;
		rv = CKR_FUNCTION_FAILED;
	}
	p11_leave();
	return rv;
}

static void
digest_end(struct p11_session *s)
{
	EVP_MD_CTX_free(s->digest);
	s->digest = NULL;
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

EXPORT CK_RV
C_Digest(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
    CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen)
{
	struct p11_session *s;
	EVP_MD_CTX *tmp = NULL;
	CK_RV rv;
	int ended = 1;

	if ((rv = p11_enter_session(hSession, &s)) != CKR_OK)
		return rv;
	if (s->digest == NULL) {
		rv = CKR_OPERATION_NOT_INITIALIZED;
		goto out;
	}
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
	tmp = NULL;
	rv = digest_out(s, pDigest, pulDigestLen, &ended);
	if (!ended) {
		/* restart so the next C_Digest sees the data once */
		EVP_DigestInit_ex(s->digest, EVP_sha256(), NULL);
	}
 end:
	if (ended)
		digest_end(s);
 out:
	EVP_MD_CTX_free(tmp);
	p11_leave();
	return rv;
}

EXPORT CK_RV
C_DigestUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart,
    CK_ULONG ulPartLen)
{
	struct p11_session *s;
	CK_RV rv;

	if ((rv = p11_enter_session(hSession, &s)) != CKR_OK)
		return rv;
	if (s->digest == NULL)
		rv = CKR_OPERATION_NOT_INITIALIZED;
	else if ((pPart == NULL && ulPartLen != 0) ||
	    EVP_DigestUpdate(s->digest, pPart, ulPartLen) != 1) {
		rv = pPart == NULL ? CKR_ARGUMENTS_BAD : CKR_FUNCTION_FAILED;
		digest_end(s);
	}
	p11_leave();
	return rv;
}

EXPORT CK_RV
C_DigestKey(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hKey)
{
	struct p11_session *s;
	CK_RV rv;

	(void)hKey;
	if ((rv = p11_enter_session(hSession, &s)) != CKR_OK)
		return rv;
	if (s->digest == NULL)
		rv = CKR_OPERATION_NOT_INITIALIZED;
	else {
		/* a key's value never feeds a host-side digest */
		rv = CKR_KEY_INDIGESTIBLE;
		digest_end(s);
	}
	p11_leave();
	return rv;
}

EXPORT CK_RV
C_DigestFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pDigest,
    CK_ULONG_PTR pulDigestLen)
{
	struct p11_session *s;
	CK_RV rv;
	int ended;

	if ((rv = p11_enter_session(hSession, &s)) != CKR_OK)
		return rv;
	if (s->digest == NULL)
		rv = CKR_OPERATION_NOT_INITIALIZED;
	else {
		rv = digest_out(s, pDigest, pulDigestLen, &ended);
		if (ended)
			digest_end(s);
	}
	p11_leave();
	return rv;
}
