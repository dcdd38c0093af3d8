/*
 * m2mtoken: ECDSA in PKCS#11: C_GenerateKeyPair (CKM_EC_KEY_PAIR_GEN, the
 * key made in the backend through token/core.h), and the sign and verify
 * steps of CKM_ECDSA, CKM_ECDSA_SHA256 and CKM_ECDSA_SHA384 that
 * p11_crypto.c runs for an EC key: hashing here, signing in the backend,
 * verifying with the public key object's point (public data only).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "core.h"
#include "ec.h"
#include "err.h"
#include "log.h"
#include "object.h"
#include "p11.h"
#include "policy.h"
#include "store.h"

/*
 * The digest ECDSA signs: the data hashed with the operation's hash, or
 * for CKM_ECDSA (op_hash 0) the data itself, 1..M2M_HASH_MAX_LEN bytes
 * (else M2M_ERR_DATA_LEN).  *ret points at out or at data.
 */
static int
ecdsa_digest(const struct p11_session *s, const uint8_t *data, size_t len,
    uint8_t *out, const uint8_t **ret, size_t *ret_len)
{
	const EVP_MD *md;
	unsigned int n = 0;

	if (s->op_hash == 0) {
		if (len < 1 || len > M2M_HASH_MAX_LEN)
			return M2M_ERR_DATA_LEN;
		*ret = data;
		*ret_len = len;
		return 0;
	}
	md = s->op_hash == M2M_HASH_SHA384 ? EVP_sha384() : EVP_sha256();
	if (EVP_Digest(len == 0 ? (const uint8_t *)"" : data, len, out, &n,
	    md, NULL) != 1)
		return M2M_ERR_INTERNAL;
	*ret = out;
	*ret_len = n;
	return 0;
}

/* see p11.h */
int
p11_ecdsa_sign(struct p11_session *s, const uint8_t *data, size_t len,
    uint8_t *sig)
{
	uint8_t dg[M2M_HASH_MAX_LEN], out[M2M_EC_SIG_MAX];
	const uint8_t *d = NULL;
	size_t dlen = 0, siglen = 0;
	int r;

	if ((r = ecdsa_digest(s, data, len, dg, &d, &dlen)) != 0)
		return r;
	if ((r = m2m_core_ec_sign(p11.core, s->op_key, p11_session_objauth(s),
	    d, dlen, out, &siglen)) != 0)
		return r;
	if (siglen != s->op_maclen)
		return M2M_ERR_BACKEND;
	memcpy(sig, out, siglen);
	return 0;
}

/* see p11.h */
int
p11_ecdsa_verify(struct p11_session *s, const uint8_t *data, size_t len,
    const uint8_t *sig)
{
	uint8_t dg[M2M_HASH_MAX_LEN];
	const struct m2m_attr *a;
	const uint8_t *d = NULL, *pt = NULL;
	size_t dlen = 0, ptlen = 0;
	enum m2m_key_kind kind;
	int r;

	if ((r = ecdsa_digest(s, data, len, dg, &d, &dlen)) != 0)
		return r;
	if ((r = m2m_ec_object_curve(s->op_key, &kind)) != 0 ||
	    (a = m2m_object_attr(s->op_key, CKA_EC_POINT)) == NULL ||
	    (r = m2m_ec_point_parse(kind, a->val, a->len, &pt,
	    &ptlen)) != 0)
		return M2M_ERR_KEY_TYPE;
	return m2m_ec_verify(kind, pt, ptlen, d, dlen, sig, s->op_maclen);
}

/* see p11.h */
CK_RV
p11_ecdsa_start(struct p11_session *s, enum m2m_hash hash)
{
	enum m2m_key_kind kind;

	if (!m2m_core_has_ec(p11.core))
		return CKR_MECHANISM_INVALID;
	if (m2m_ec_object_curve(s->op_key, &kind) != 0)
		return CKR_KEY_TYPE_INCONSISTENT;
	s->op_hash = hash;
	s->op_maclen = 2 * m2m_ec_size(kind);
	return CKR_OK;
}

/*
 * CKA_ID of a pair whose templates gave none: SHA-1 of the public point,
 * as OpenSC and p11tool name keys, so that a certificate can name it.
 */
static int
default_id(struct m2m_object *pub, struct m2m_object *priv,
    const uint8_t *pt, size_t ptlen)
{
	const struct m2m_attr *a = m2m_object_attr(priv, CKA_ID);
	uint8_t id[20];
	int r;

	if (a != NULL && a->len != 0)
		return 0;
	if (EVP_Digest(pt, ptlen, id, NULL, EVP_sha1(), NULL) != 1)
		return M2M_ERR_INTERNAL;
	if ((r = m2m_object_attr_set(pub, CKA_ID, id, sizeof(id))) != 0 ||
	    (r = m2m_object_attr_set(priv, CKA_ID, id, sizeof(id))) != 0)
		return r;
	return 0;
}

static CK_RV
generate_key_pair(struct p11_session *s, CK_MECHANISM_PTR pMechanism,
    CK_ATTRIBUTE_PTR pPubTemplate, CK_ULONG ulPubCount,
    CK_ATTRIBUTE_PTR pPrivTemplate, CK_ULONG ulPrivCount,
    CK_OBJECT_HANDLE_PTR phPub, CK_OBJECT_HANDLE_PTR phPriv)
{
	struct m2m_attr *pt = NULL, *qt = NULL;
	struct m2m_object *pub = NULL, *priv = NULL;
	struct m2m_store *st = m2m_core_store(p11.core);
	CK_OBJECT_HANDLE hpub = CK_INVALID_HANDLE, hpriv = CK_INVALID_HANDLE;
	const struct m2m_attr *a;
	uint8_t point[M2M_EC_POINT_MAX];
	size_t plen = 0;
	int in_txn = 0, r;
	CK_RV rv;

	if (pMechanism == NULL || phPub == NULL || phPriv == NULL)
		return CKR_ARGUMENTS_BAD;
	if (pMechanism->mechanism != CKM_EC_KEY_PAIR_GEN ||
	    !m2m_core_has_ec(p11.core))
		return CKR_MECHANISM_INVALID;
	if (pMechanism->ulParameterLen != 0)
		return CKR_MECHANISM_PARAM_INVALID;
	if ((rv = p11_template_in(pPubTemplate, ulPubCount, &pt)) != CKR_OK ||
	    (rv = p11_template_in(pPrivTemplate, ulPrivCount, &qt)) != CKR_OK)
		goto out;
	if ((r = m2m_policy_build_ec_pair(pt, ulPubCount, qt, ulPrivCount,
	    &pub, &priv)) != 0) {
		m2m_info("C_GenerateKeyPair: %s", m2m_strerror(r));
		rv = p11_rv(r);
		goto out;
	}
	if ((pub->on_token || priv->on_token) && !p11_session_is_rw(s)) {
		rv = CKR_SESSION_READ_ONLY;
		goto out;
	}
	if (!p11_user_logged_in(s)) {
		rv = CKR_USER_NOT_LOGGED_IN;	/* the private key is private */
		goto out;
	}
	if ((r = m2m_core_ec_generate(p11.core, priv, p11_session_objauth(s),
	    point, &plen)) != 0) {
		m2m_error("C_GenerateKeyPair: %s", m2m_strerror(r));
		rv = p11_rv(r);
		goto out;
	}
	a = m2m_object_attr(priv, CKA_EC_POINT);
	if ((r = m2m_object_attr_set(pub, CKA_EC_POINT, a->val,
	    a->len)) != 0 || (r = default_id(pub, priv, point, plen)) != 0) {
		rv = p11_rv(r);
		goto out;
	}
	m2m_object_sync_fields(pub);
	m2m_object_sync_fields(priv);
	/* both objects or neither */
	if (pub->on_token || priv->on_token) {
		if ((r = m2m_store_begin(st)) != 0) {
			rv = p11_rv(r);
			goto out;
		}
		in_txn = 1;
	}
	if ((rv = p11_object_store(s, pub, &hpub)) != CKR_OK)
		goto out;
	if ((rv = p11_object_store(s, priv, &hpriv)) != CKR_OK) {
		if (P11_IS_SESSION_OBJECT(hpub))
			p11_sobj_remove(hpub);
		goto out;
	}
	if (in_txn && (r = m2m_store_commit(st)) != 0) {
		rv = p11_rv(r);
		if (P11_IS_SESSION_OBJECT(hpub))
			p11_sobj_remove(hpub);
		if (P11_IS_SESSION_OBJECT(hpriv))
			p11_sobj_remove(hpriv);
		goto out;
	}
	in_txn = 0;
	*phPub = hpub;
	*phPriv = hpriv;
	rv = CKR_OK;
 out:
	if (in_txn)
		m2m_store_rollback(st);
	m2m_object_free(pub);
	m2m_object_free(priv);
	p11_template_free(pt);
	p11_template_free(qt);
	return rv;
}

CK_RV
p11_C_GenerateKeyPair(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
    CK_ATTRIBUTE_PTR pPubTemplate, CK_ULONG ulPubCount,
    CK_ATTRIBUTE_PTR pPrivTemplate, CK_ULONG ulPrivCount,
    CK_OBJECT_HANDLE_PTR phPub, CK_OBJECT_HANDLE_PTR phPriv)
{
	P11_SESSION_CALL(hSession, P11_NEED_SESSION, generate_key_pair,
	    pMechanism, pPubTemplate, ulPubCount, pPrivTemplate, ulPrivCount,
	    phPub, phPriv);
}
