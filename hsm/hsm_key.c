/*
 * m2mtoken HSM backend: loaded keys.  A blob unwrapped into a session
 * object (sensitive, level H, kept in the LRU of cache.c) for operations,
 * or into a readable one that lives for one call (level T, only blobs of
 * the readable wrapping key).  Contracts in hsm_int.h;
 * docs/architecture.md.
 */
#include <stdint.h>
#include <string.h>

#include "backend.h"
#include "err.h"
#include "hsm_int.h"
#include "log.h"
#include "secret.h"

/*
 * see hsm_int.h
 *
 * Operation objects are public (CKA_PRIVATE FALSE).  PKCS#11 login is per
 * application and this backend's session stays logged in for as long as
 * its session objects exist (they die with it), so CKA_PRIVATE would hide
 * them from no session; their value cannot be read either way.  What it
 * would cost: SoftHSM2 keeps private objects encrypted in its memory,
 * under a key it keeps (masked) in the same memory, and decrypts the key
 * at every C_SignInit, which nearly doubles an HMAC (measured in
 * bench/README.md, bench_tls and "Public or private working copies").  The
 * readable (level-T) objects stay private: they live for one call.  An HSM
 * whose policy refuses public secret keys (CKR_TEMPLATE_INCONSISTENT or
 * CKR_ATTRIBUTE_VALUE_INVALID) gets private ones from then on.
 */
int
m2m_hsm_unwrap(struct hsm *h, const struct blob *b, int readable,
    CK_OBJECT_HANDLE *ret_obj)
{
	CK_MECHANISM mech = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	int hmac = b->kind == M2M_KIND_HMAC;
	CK_BBOOL priv = readable || h->private_ops ? CK_TRUE : CK_FALSE;
	CK_ATTRIBUTE tmpl[] = {
		ATTR(CKA_CLASS, &ck_secret, sizeof(ck_secret)),
		ATTR(CKA_KEY_TYPE, hmac ? &ck_generic : &ck_aes,
		    sizeof(CK_KEY_TYPE)),
		ATTR_BOOL(CKA_TOKEN, 0),
		ATTR(CKA_PRIVATE, &priv, sizeof(priv)),
		ATTR_BOOL(CKA_SENSITIVE, !readable),
		ATTR_BOOL(CKA_EXTRACTABLE, readable),
		ATTR_BOOL(CKA_SIGN, !readable && hmac),
		ATTR_BOOL(CKA_VERIFY, !readable && hmac),
		ATTR_BOOL(CKA_ENCRYPT, !readable && !hmac),
		ATTR_BOOL(CKA_DECRYPT, !readable && !hmac),
		/* not left to the HSM's defaults (SoftHSM2: TRUE) */
		ATTR_BOOL(CKA_WRAP, 0),
		ATTR_BOOL(CKA_UNWRAP, 0),
		ATTR_BOOL(CKA_DERIVE, 0),
	};
	/* an ECDSA private key: sign only (blob version 4) */
	CK_ATTRIBUTE ectmpl[] = {
		ATTR(CKA_CLASS, &ck_private, sizeof(ck_private)),
		ATTR(CKA_KEY_TYPE, &ck_ec, sizeof(ck_ec)),
		ATTR_BOOL(CKA_TOKEN, 0),
		ATTR(CKA_PRIVATE, &priv, sizeof(priv)),
		ATTR_BOOL(CKA_SENSITIVE, 1),
		ATTR_BOOL(CKA_EXTRACTABLE, 0),
		ATTR_BOOL(CKA_SIGN, 1),
		ATTR_BOOL(CKA_DECRYPT, 0),
		ATTR_BOOL(CKA_UNWRAP, 0),
		ATTR_BOOL(CKA_DERIVE, 0),
	};
	CK_OBJECT_HANDLE wk = CK_INVALID_HANDLE;
	CK_ATTRIBUTE *t = tmpl;
	CK_ULONG nt = sizeof(tmpl) / sizeof(tmpl[0]);
	CK_RV rv;
	int rd, r;

	if (b->kind == M2M_KIND_EC_P256 || b->kind == M2M_KIND_EC_P384) {
		if (readable)
			return M2M_ERR_ATTRIBUTE_SENSITIVE;
		t = ectmpl;
		nt = sizeof(ectmpl) / sizeof(ectmpl[0]);
	}
	if ((r = m2m_hsm_wrapkey_lookup(h, b->wrapkey_id, &wk, &rd)) != 0)
		return r;
	/* an EC blob under the EC wrapping key only, and only EC blobs */
	if ((t == ectmpl) != (rd == M2M_HSM_WK_EC))
		return M2M_ERR_DATA_INVALID;
	rv = P11(h, C_UnwrapKey)(h->session, &mech, wk,
	    (CK_BYTE_PTR)b->wrapped, b->wrappedlen, t, nt, ret_obj);
	if ((rv == CKR_TEMPLATE_INCONSISTENT ||
	    rv == CKR_ATTRIBUTE_VALUE_INVALID) && !readable &&
	    !h->private_ops && t == tmpl) {
		m2m_info("HSM token '%s' refuses public session keys: the "
		    "working copies of keys will be private", h->label);
		h->private_ops = 1;
		priv = CK_TRUE;
		rv = P11(h, C_UnwrapKey)(h->session, &mech, wk,
		    (CK_BYTE_PTR)b->wrapped, b->wrappedlen, t, nt, ret_obj);
	}
	if ((r = m2m_hsm_ckr(h, rv, M2M_HSM_OP_UNWRAP)) != 0)
		return r;
	h->loads++;
	return 0;
}

/* see hsm_int.h */
int
m2m_hsm_key_get(struct hsm *h, const struct m2m_keyref *key,
    const struct blob *b, CK_OBJECT_HANDLE *ret_obj, int *ret_temp)
{
	CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE, old = CK_INVALID_HANDLE;
	int r;

	if (m2m_hsm_cache_get(h->cache, key->id, key->blob, key->bloblen,
	    &obj) == 0) {
		*ret_obj = obj;
		*ret_temp = 0;
		return 0;
	}
	if ((r = m2m_hsm_unwrap(h, b, 0, &obj)) != 0)
		return r;
	if (key->id == 0 || m2m_hsm_cache_put(h->cache, key->id, key->blob,
	    key->bloblen, obj, &old) != 0) {
		*ret_obj = obj;
		*ret_temp = 1;
		return 0;
	}
	/* evicted, or the same id's previous blob */
	m2m_hsm_destroy(h, old);
	*ret_obj = obj;
	*ret_temp = 0;
	return 0;
}

/* see hsm_int.h */
int
m2m_hsm_key_read(struct hsm *h, const struct blob *b,
    struct m2m_secret **ret)
{
	CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE, wk;
	struct m2m_secret *s = NULL;
	CK_ATTRIBUTE a;
	const uint8_t *v;
	uint8_t acc = 0;
	size_t i;
	int rd, r = M2M_ERR_INTERNAL;

	/* the strict wrapping key's blobs unwrap into sensitive keys only */
	if ((r = m2m_hsm_wrapkey_lookup(h, b->wrapkey_id, &wk, &rd)) != 0)
		goto out;
	if (rd != M2M_HSM_WK_READABLE) {
		r = M2M_ERR_ATTRIBUTE_SENSITIVE;
		goto out;
	}
	if ((r = m2m_hsm_unwrap(h, b, 1, &obj)) != 0)
		goto out;
	if ((r = m2m_secret_new(M2M_HSM_WRAPPED_MAX, &s)) != 0)
		goto out;
	a.type = CKA_VALUE;
	a.pValue = m2m_secret_data(s);
	a.ulValueLen = M2M_HSM_WRAPPED_MAX;
	if ((r = m2m_hsm_ckr(h, P11(h, C_GetAttributeValue)(h->session, obj,
	    &a, 1), M2M_HSM_OP_OTHER)) != 0)
		goto out;
	/* exact, or as a module that leaves RFC 5649 padding returns it */
	if (a.ulValueLen != (h->unwrap_pads ? roundup8(b->valuelen) :
	    b->valuelen) || a.ulValueLen < b->keylen) {
		r = M2M_ERR_DATA_INVALID;
		goto out;
	}
	/* our padding (and a module's RFC 5649 padding) must be zeros */
	v = m2m_secret_data(s);
	for (i = b->keylen; i < a.ulValueLen; i++)
		acc |= v[i];
	if (acc != 0) {
		r = M2M_ERR_DATA_INVALID;
		goto out;
	}
	m2m_secret_truncate(s, b->keylen);
	*ret = s;
	s = NULL;	/* transferred */
	r = 0;
 out:
	m2m_hsm_destroy(h, obj);
	m2m_secret_free(s);
	return r;
}
