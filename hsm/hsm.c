/*
 * m2mtoken: the HSM backend, over any PKCS#11 module (SoftHSM2 in CI): its
 * operations (wrap, HMAC, HMAC over a key as message, AES-GCM, reveal,
 * random, forget, flush, stats, bind_mac) and the op table.  Contract in
 * backend.h, blob format in hsm.h, what hsm/'s files share in hsm_int.h;
 * docs/architecture.md and docs/security-model.md (assurance levels).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "backend.h"
#include "err.h"
#include "hsm_int.h"
#include "log.h"
#include "secret.h"

#define GCM_STACK_BUF	512	/* smaller AES-GCM results stay on the stack */
static uint8_t		 empty[1];	/* a non-NULL pointer for 0 bytes */

static CK_MECHANISM_TYPE
hmac_mech(enum m2m_hash hash)
{
	switch (hash) {
	case M2M_HASH_SHA256:	return CKM_SHA256_HMAC;
	case M2M_HASH_SHA384:	return CKM_SHA384_HMAC;
	case M2M_HASH_SHA512:	return CKM_SHA512_HMAC;
	default:		return CKM_VENDOR_DEFINED;
	}
}

static CK_MECHANISM_TYPE
digest_mech(enum m2m_hash hash)
{
	switch (hash) {
	case M2M_HASH_SHA256:	return CKM_SHA256;
	case M2M_HASH_SHA384:	return CKM_SHA384;
	case M2M_HASH_SHA512:	return CKM_SHA512;
	default:		return CKM_VENDOR_DEFINED;
	}
}

static const EVP_MD *
hash_md(enum m2m_hash hash)
{
	switch (hash) {
	case M2M_HASH_SHA256:	return EVP_sha256();
	case M2M_HASH_SHA384:	return EVP_sha384();
	default:		return EVP_sha512();
	}
}

static const char *
hash_name(enum m2m_hash hash)
{
	switch (hash) {
	case M2M_HASH_SHA256:	return "SHA256";
	case M2M_HASH_SHA384:	return "SHA384";
	case M2M_HASH_SHA512:	return "SHA512";
	default:		return NULL;
	}
}

/* HMAC-hash(key, msg) in host memory with OpenSSL; out: the hash length. */
static int
host_hmac(struct hsm *h, const uint8_t *key, size_t keylen,
    enum m2m_hash hash, const uint8_t *msg, size_t msglen, uint8_t *out)
{
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	size_t outl = 0, want = m2m_hash_len(hash);
	int r = M2M_ERR_INTERNAL;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)hash_name(hash), 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((ctx = EVP_MAC_CTX_new(h->mac)) == NULL) {
		r = M2M_ERR_NO_MEMORY;
		goto out;
	}
	/* a NULL key would mean "keep the previous key" to OpenSSL */
	if (EVP_MAC_init(ctx, keylen == 0 ? empty : key, keylen, params) != 1 ||
	    EVP_MAC_update(ctx, msglen == 0 ? empty : msg, msglen) != 1 ||
	    EVP_MAC_final(ctx, out, &outl, want) != 1 || outl != want) {
		r = M2M_ERR_INTERNAL;
		goto out;
	}
	r = 0;
 out:
	EVP_MAC_CTX_free(ctx);	/* wipes its key schedule */
	return r;
}

/* ------------------------------------------------------------------ */
/* Operations                                                         */
/* ------------------------------------------------------------------ */

/*
 * Wrap value[0..vlen) as an HSM object of kind: create a session object,
 * C_WrapKey it under wk into out (exactly roundup8(vlen) + 8 bytes,
 * *ret_len), destroy it.  Under h->lock.
 *
 * The object is public (CKA_PRIVATE FALSE) like the working copies, for
 * the same reason (hsm_key.c): login is per application, so private would
 * hide it from no code of the process during its one call, and SoftHSM2
 * encrypts a private object's attributes when it is made and decrypts
 * them for C_WrapKey (public: an E2E key set about 1.3x faster,
 * bench/README.md).  An HSM that refuses public secret keys gets a
 * private one, as for the working copies.
 */
static int
wrap_value(struct hsm *h, const struct wrapkey *wk, enum m2m_key_kind kind,
    uint8_t *value, size_t vlen, uint8_t *out, size_t *ret_len)
{
	CK_MECHANISM mech = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
	CK_ULONG wlen = M2M_HSM_WRAPPED_MAX;
	CK_BBOOL priv = h->private_ops ? CK_TRUE : CK_FALSE;
	CK_ATTRIBUTE tmpl[] = {
		ATTR(CKA_CLASS, &ck_secret, sizeof(ck_secret)),
		ATTR(CKA_KEY_TYPE, kind == M2M_KIND_AES ? &ck_aes : &ck_generic,
		    sizeof(CK_KEY_TYPE)),
		ATTR(CKA_VALUE, value, vlen),
		ATTR_BOOL(CKA_TOKEN, 0),
		ATTR(CKA_PRIVATE, &priv, sizeof(priv)),
		ATTR_BOOL(CKA_SENSITIVE, 1),
		/*
		 * Extractable so that C_WrapKey may take it; no
		 * CKA_WRAP_WITH_TRUSTED (SoftHSM2 defaults it to FALSE, and
		 * TRUE would need a CKA_TRUSTED wrapping key, set by the SO).
		 */
		ATTR_BOOL(CKA_EXTRACTABLE, 1),
		/* only to be wrapped, during this call: no use of its own */
		ATTR_BOOL(CKA_SIGN, 0),
		ATTR_BOOL(CKA_VERIFY, 0),
		ATTR_BOOL(CKA_ENCRYPT, 0),
		ATTR_BOOL(CKA_DECRYPT, 0),
		ATTR_BOOL(CKA_WRAP, 0),
		ATTR_BOOL(CKA_UNWRAP, 0),
		ATTR_BOOL(CKA_DERIVE, 0),
	};
	CK_RV rv;
	int r = M2M_ERR_INTERNAL;

	rv = P11(h, C_CreateObject)(h->session, tmpl,
	    sizeof(tmpl) / sizeof(tmpl[0]), &obj);
	if ((rv == CKR_TEMPLATE_INCONSISTENT ||
	    rv == CKR_ATTRIBUTE_VALUE_INVALID) && !priv) {
		m2m_info("HSM token '%s' refuses public session keys: the "
		    "working copies of keys will be private", h->label);
		h->private_ops = 1;
		priv = CK_TRUE;
		rv = P11(h, C_CreateObject)(h->session, tmpl,
		    sizeof(tmpl) / sizeof(tmpl[0]), &obj);
	}
	if ((r = m2m_hsm_ckr(h, rv, M2M_HSM_OP_OTHER)) != 0)
		goto out;
	if ((r = m2m_hsm_ckr(h, P11(h, C_WrapKey)(h->session, &mech,
	    wk->handle, obj, out, &wlen),
	    M2M_HSM_OP_OTHER)) != 0)
		goto out;
	if (wlen != roundup8(vlen) + 8) {
		m2m_error("HSM token '%s': C_WrapKey(CKM_AES_KEY_WRAP_PAD) "
		    "gave %lu bytes for a %zu-byte key", h->label,
		    (unsigned long)wlen, vlen);
		r = M2M_ERR_BACKEND;
		goto out;
	}
	*ret_len = wlen;
	r = 0;
 out:
	m2m_hsm_destroy(h, obj);
	return r;
}

/*
 * wrap(), wrap_readable() and wrap_nomsg(): readable blobs go under the
 * readable wrapping key (made at its first use), all others under the
 * strict one with, for HMAC keys, their message form
 * (M2M_HSM_VERSION_MSG) unless nomsg (a key never used as a message).
 */
enum wrap_how { WRAP_STRICT, WRAP_READABLE, WRAP_NOMSG };

static int
wrap_common(struct hsm *h, enum wrap_how how, enum m2m_key_kind kind,
    const uint8_t *key, size_t len, uint8_t **ret_blob, size_t *ret_bloblen)
{
	const struct wrapkey *wk;
	struct wrapkeys *ks;
	struct blob b;
	uint8_t value[M2M_KEY_MAX], wrapped[M2M_HSM_WRAPPED_MAX];
	uint8_t ph[M2M_HSM_HMAC_PAD], phw[M2M_HSM_PREHASH_WRAPPED_LEN];
	uint8_t mf[M2M_KEY_MAX + 8], mfw[M2M_HSM_WRAPPED_MAX];
	uint8_t *blob = NULL;
	size_t vlen, wlen = 0, phwlen = 0, mflen = 0, mfwlen = 0, bloblen = 0;
	char why[256];
	int readable = how == WRAP_READABLE;
	int locked = 0, prehash, r = M2M_ERR_INTERNAL;

	if (h == NULL || key == NULL || ret_blob == NULL ||
	    ret_bloblen == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if (kind != M2M_KIND_HMAC && kind != M2M_KIND_AES)
		return M2M_ERR_KEY_TYPE;
	if (!m2m_backend_key_len_ok(kind, len))
		return M2M_ERR_KEY_SIZE;
	vlen = m2m_hsm_value_len(kind, len);
	memset(value, 0, sizeof(value));
	memcpy(value, key, len);
	/* see M2M_HSM_VERSION_MSG in hsm.h */
	if (how == WRAP_STRICT && kind == M2M_KIND_HMAC &&
	    m2m_hsm_msgform_needed(len)) {
		mflen = m2m_hsm_msg_pad(len);
		memset(mf, 0x36, mflen);
		memcpy(mf + mflen, key, len);
		mflen += len;
	}
	/* see M2M_HSM_VERSION_PREHASH in hsm.h */
	memset(ph, 0, sizeof(ph));
	prehash = kind == M2M_KIND_HMAC && len > M2M_HSM_HMAC_PAD;
	if (prehash && EVP_Digest(key, len, ph, NULL, EVP_sha256(),
	    NULL) != 1) {
		m2m_error("HSM token '%s': SHA-256 failed", h->label);
		r = M2M_ERR_INTERNAL;
		goto out;
	}

	pthread_mutex_lock(&h->lock);
	locked = 1;
	if ((r = m2m_hsm_ready(h)) != 0)
		goto out;
	ks = readable ? &h->rk : &h->wk;
	if (readable && ks->n == 0 &&
	    (r = m2m_hsm_wrapkey_setup(h, M2M_HSM_WK_READABLE, why,
	    sizeof(why))) != 0) {
		m2m_error("%s", why);
		goto out;
	}
	if (ks->n == 0) {
		/* every wrapping key vanished since we loaded them */
		m2m_error("HSM token '%s': no wrapping key left", h->label);
		m2m_hsm_disconnect(h);
		r = M2M_ERR_BACKEND_ABSENT;
		goto out;
	}
	wk = &ks->k[ks->cur];
	if ((r = wrap_value(h, wk, kind, value, vlen, wrapped, &wlen)) != 0)
		goto out;
	if (prehash && ((r = wrap_value(h, wk, M2M_KIND_HMAC, ph, sizeof(ph),
	    phw, &phwlen)) != 0))
		goto out;
	if (mflen != 0 && ((r = wrap_value(h, wk, M2M_KIND_HMAC, mf, mflen,
	    mfw, &mfwlen)) != 0))
		goto out;
	/* the lengths are the ones wrap_value() checked */
	b.kind = kind;
	b.keylen = len;
	b.valuelen = vlen;
	b.wrapkey_id = wk->id;
	b.wrapped = wrapped;
	b.wrappedlen = wlen;
	b.prehash = prehash ? phw : NULL;
	b.msgform = mflen != 0 ? mfw : NULL;
	if ((r = m2m_hsm_blob_build(&b, &blob, &bloblen)) != 0)
		goto out;
	*ret_blob = blob;
	*ret_bloblen = bloblen;
	blob = NULL;	/* transferred */
	r = 0;
 out:
	if (locked)
		pthread_mutex_unlock(&h->lock);
	free(blob);
	m2m_wipe(value, sizeof(value));
	m2m_wipe(ph, sizeof(ph));
	m2m_wipe(mf, sizeof(mf));
	return r;
}

/* see backend.h */
static int
hsm_wrap(void *impl, enum m2m_key_kind kind, const uint8_t *key, size_t len,
    uint8_t **ret_blob, size_t *ret_bloblen)
{
	return wrap_common(impl, WRAP_STRICT, kind, key, len, ret_blob,
	    ret_bloblen);
}

/* see backend.h */
static int
hsm_wrap_readable(void *impl, enum m2m_key_kind kind, const uint8_t *key,
    size_t len, uint8_t **ret_blob, size_t *ret_bloblen)
{
	return wrap_common(impl, WRAP_READABLE, kind, key, len, ret_blob,
	    ret_bloblen);
}

/* see backend.h: version 1 or 2 blobs, without the message form */
static int
hsm_wrap_nomsg(void *impl, enum m2m_key_kind kind, const uint8_t *key,
    size_t len, uint8_t **ret_blob, size_t *ret_bloblen)
{
	return wrap_common(impl, WRAP_NOMSG, kind, key, len, ret_blob,
	    ret_bloblen);
}

/* see backend.h */
static int
hsm_hmac(void *impl, const struct m2m_keyref *key, enum m2m_hash hash,
    const uint8_t *msg, size_t msglen, uint8_t *out)
{
	struct hsm *h = impl;
	struct m2m_secret *value = NULL;
	CK_MECHANISM mech = { hmac_mech(hash), NULL, 0 };
	CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
	struct m2m_keyref ph;
	struct blob b, pb;
	uint8_t mac[M2M_HASH_MAX_LEN];
	CK_ULONG maclen = sizeof(mac);
	size_t outlen = m2m_hash_len(hash);
	int temp = 0, r = M2M_ERR_INTERNAL;

	if (h == NULL || key == NULL || out == NULL ||
	    (msg == NULL && msglen != 0))
		return M2M_ERR_INVALID_ARGUMENT;
	if (outlen == 0)
		return M2M_ERR_MECHANISM;
	if (key->kind != M2M_KIND_HMAC)
		return M2M_ERR_KEY_TYPE;
	if ((r = m2m_hsm_blob_parse(key, &b)) != 0)
		return r;
	if (msglen == 0)
		msg = empty;

	if (hash == M2M_HASH_SHA256 && b.prehash != NULL) {
		/* HMAC-SHA-256 with a key over 64 bytes: the hashed form */
		ph = *key;
		ph.id = key->id != 0 ? key->id | M2M_HSM_ID_PREHASH : 0;
		key = &ph;
		m2m_hsm_blob_prehash(&b, &pb);
		b = pb;
	}

	pthread_mutex_lock(&h->lock);
	if ((r = m2m_hsm_ready(h)) != 0)
		goto out;
	if (hash == M2M_HASH_SHA256 && h->unwrap_pads &&
	    b.keylen > M2M_HSM_HMAC_PAD && b.keylen % 8 != 0) {
		/* level T on such a module: probe_unwrap_padding() */
		if ((r = m2m_hsm_key_read(h, &b, &value)) != 0 ||
		    (r = host_hmac(h, m2m_secret_data(value),
		    m2m_secret_len(value), hash, msg, msglen, mac)) != 0)
			goto out;
		maclen = outlen;
	} else {
		if ((r = m2m_hsm_key_get(h, key, &b, &obj, &temp)) != 0)
			goto out;
		if ((r = m2m_hsm_ckr(h, P11(h, C_SignInit)(h->session, &mech,
		    obj), M2M_HSM_OP_OTHER)) != 0)
			goto out;
		/* a buffer for any hash, so the operation always completes */
		if ((r = m2m_hsm_ckr(h, P11(h, C_Sign)(h->session,
		    (CK_BYTE_PTR)msg, msglen, mac, &maclen),
		    M2M_HSM_OP_OTHER)) != 0)
			goto out;
	}
	if (M2M_NEVER(maclen != outlen)) {
		r = M2M_ERR_BACKEND;
		goto out;
	}
	memcpy(out, mac, outlen);
	r = 0;
 out:
	if (temp)
		m2m_hsm_destroy(h, obj);
	pthread_mutex_unlock(&h->lock);
	m2m_secret_free(value);
	m2m_wipe(mac, sizeof(mac));
	return r;
}

/*
 * HMAC-hash(hmac_key, the key of b) with the key hashed inside the HSM
 * (level H): HMAC(K, M) = H((K0 ^ opad) || H((K0 ^ ipad) || M)), K0 the
 * HMAC key zero padded to the block.  The inner hash runs in the HSM over
 * the first block - p bytes of K0 ^ ipad (C_DigestUpdate) and the object
 * that holds 0x36^p || M (C_DigestKey: b's message form, or the key's own
 * object when it holds M exactly); the outer hash runs in host memory
 * over public K0 ^ opad and the inner hash.  That object is a working
 * copy like any other (m2m_hsm_key_get): the message form is cached under
 * the key's id | M2M_HSM_ID_MSGFORM, so a Kpsa that makes E2E master after
 * E2E master is unwrapped once.  Under h->lock.
 */
static int
digest_hmac(struct hsm *h, const struct m2m_keyref *key,
    const struct blob *b, const uint8_t *hmac_key, size_t hmac_keylen,
    enum m2m_hash hash, uint8_t *out)
{
	CK_MECHANISM mech = { digest_mech(hash), NULL, 0 };
	CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
	const EVP_MD *md = hash_md(hash);
	uint8_t k0[128], pad[128], inner[M2M_HASH_MAX_LEN];
	size_t bs = hash == M2M_HASH_SHA256 ? 64 : 128;
	size_t hl = m2m_hash_len(hash), k0len, p, i;
	CK_ULONG il = sizeof(inner);
	EVP_MD_CTX *ctx = NULL;
	struct m2m_keyref fk = *key;
	struct blob f;
	int temp = 0, r = M2M_ERR_INTERNAL;

	memset(k0, 0, sizeof(k0));
	memset(pad, 0, sizeof(pad));
	memset(inner, 0, sizeof(inner));
	if (b->msgform != NULL) {
		m2m_hsm_blob_msgform(b, &f);
		p = m2m_hsm_msg_pad(b->keylen);
		/* its own cache entry; the whole blob still names the key */
		fk.id = key->id != 0 ? key->id | M2M_HSM_ID_MSGFORM : 0;
		fk.kind = M2M_KIND_HMAC;
	} else if (b->kind == M2M_KIND_AES ||
	    !m2m_hsm_msgform_needed(b->keylen)) {
		f = *b;		/* its object holds the key exactly */
		p = 0;
	} else {
		m2m_error("HSM token '%s': a %zu-byte HMAC key wrapped without "
		    "a message form cannot be an HMAC message", h->label,
		    b->keylen);
		r = M2M_ERR_KEY_SIZE;
		goto out;
	}
	if (hmac_keylen > bs) {
		if (EVP_Digest(hmac_key, hmac_keylen, k0, NULL, md, NULL) !=
		    1)
			goto out;
		k0len = hl;
	} else {
		if (hmac_keylen != 0)
			memcpy(k0, hmac_key, hmac_keylen);
		k0len = hmac_keylen;
	}
	if (k0len > bs - p) {
		/* K0 ^ ipad would not end with p bytes 0x36 */
		m2m_info("HSM token '%s': a %zu-byte HMAC key over a %zu-byte "
		    "key as message is not supported", h->label, hmac_keylen,
		    b->keylen);
		r = M2M_ERR_KEY_SIZE;
		goto out;
	}
	for (i = 0; i < bs; i++)
		pad[i] = k0[i] ^ 0x36;
	if ((r = m2m_hsm_key_get(h, &fk, &f, &obj, &temp)) != 0)
		goto out;
	if ((r = m2m_hsm_ckr(h, P11(h, C_DigestInit)(h->session, &mech),
	    M2M_HSM_OP_OTHER)) != 0 ||
	    (r = m2m_hsm_ckr(h, P11(h, C_DigestUpdate)(h->session, pad, bs - p),
	    M2M_HSM_OP_OTHER)) != 0 ||
	    (r = m2m_hsm_ckr(h, P11(h, C_DigestKey)(h->session, obj),
	    M2M_HSM_OP_OTHER)) != 0 ||
	    (r = m2m_hsm_ckr(h, P11(h, C_DigestFinal)(h->session, inner, &il),
	    M2M_HSM_OP_OTHER)) != 0)
		goto out;
	if (M2M_NEVER(il != hl)) {
		r = M2M_ERR_BACKEND;
		goto out;
	}
	for (i = 0; i < bs; i++)
		pad[i] = k0[i] ^ 0x5c;
	if ((ctx = EVP_MD_CTX_new()) == NULL) {
		r = M2M_ERR_NO_MEMORY;
		goto out;
	}
	if (EVP_DigestInit_ex(ctx, md, NULL) != 1 ||
	    EVP_DigestUpdate(ctx, pad, bs) != 1 ||
	    EVP_DigestUpdate(ctx, inner, hl) != 1 ||
	    EVP_DigestFinal_ex(ctx, out, NULL) != 1) {
		r = M2M_ERR_INTERNAL;
		goto out;
	}
	r = 0;
 out:
	if (temp)
		m2m_hsm_destroy(h, obj);
	EVP_MD_CTX_free(ctx);
	m2m_wipe(k0, sizeof(k0));
	m2m_wipe(pad, sizeof(pad));
	m2m_wipe(inner, sizeof(inner));
	return r;
}

/*
 * see backend.h
 *
 * Assurance level H for blobs of the strict wrapping key (digest_hmac()).
 * A blob of the readable wrapping key (a key the core may reveal anyway)
 * is level T: unwrapped into a readable session object, read into locked
 * memory, the object destroyed at once, the HMAC computed with OpenSSL
 * and every copy wiped.
 */
static int
hsm_hmac_keymsg(void *impl, const uint8_t *hmac_key, size_t hmac_keylen,
    const struct m2m_keyref *msgkey, enum m2m_hash hash, uint8_t *out)
{
	struct hsm *h = impl;
	struct m2m_secret *value = NULL;
	CK_OBJECT_HANDLE wk;
	struct blob b;
	uint8_t mac[M2M_HASH_MAX_LEN];
	size_t outlen = m2m_hash_len(hash);
	int rd, r = M2M_ERR_INTERNAL;

	if (h == NULL || msgkey == NULL || out == NULL ||
	    (hmac_key == NULL && hmac_keylen != 0))
		return M2M_ERR_INVALID_ARGUMENT;
	if (hmac_keylen > M2M_HSM_HOSTKEY_MAX)
		return M2M_ERR_KEY_SIZE;
	if (outlen == 0)
		return M2M_ERR_MECHANISM;
	if ((r = m2m_hsm_blob_parse(msgkey, &b)) != 0)
		return r;

	pthread_mutex_lock(&h->lock);
	if ((r = m2m_hsm_ready(h)) != 0 ||
	    (r = m2m_hsm_wrapkey_lookup(h, b.wrapkey_id, &wk, &rd)) != 0)
		goto out;
	if (rd != M2M_HSM_WK_READABLE) {
		if ((r = digest_hmac(h, msgkey, &b, hmac_key, hmac_keylen,
		    hash, mac)) != 0)
			goto out;
	} else {
		if ((r = m2m_hsm_key_read(h, &b, &value)) != 0 ||
		    (r = host_hmac(h, hmac_key, hmac_keylen, hash,
		    m2m_secret_data(value), m2m_secret_len(value), mac)) != 0)
			goto out;
	}
	memcpy(out, mac, outlen);
	r = 0;
 out:
	pthread_mutex_unlock(&h->lock);
	m2m_secret_free(value);
	m2m_wipe(mac, sizeof(mac));
	return r;
}

/* see backend.h */
static int
hsm_aes_gcm(void *impl, const struct m2m_keyref *key, int encrypt,
    const uint8_t *iv, size_t ivlen, const uint8_t *aad, size_t aadlen,
    size_t taglen, const uint8_t *in, size_t inlen, uint8_t *out,
    size_t *ret_outlen)
{
	struct hsm *h = impl;
	struct m2m_secret *heap = NULL;
	CK_GCM_PARAMS gp;
	CK_MECHANISM mech = { CKM_AES_GCM, &gp, sizeof(gp) };
	CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
	struct blob b;
	uint8_t sbuf[GCM_STACK_BUF], *buf;
	size_t outlen, bufcap;
	CK_ULONG n;
	int temp = 0, r = M2M_ERR_INTERNAL;

	if (h == NULL || key == NULL || iv == NULL || ret_outlen == NULL ||
	    (aad == NULL && aadlen != 0) || (in == NULL && inlen != 0))
		return M2M_ERR_INVALID_ARGUMENT;
	if ((r = m2m_backend_gcm_check(ivlen, taglen)) != 0)
		return r;
	if (key->kind != M2M_KIND_AES)
		return M2M_ERR_KEY_TYPE;
	if (inlen > M2M_HSM_AEAD_MAX || aadlen > M2M_HSM_AEAD_MAX)
		return M2M_ERR_DATA_LEN;
	if (!encrypt && inlen < taglen)
		return M2M_ERR_ENCRYPTED_DATA_INVALID;	/* no room for a tag */
	outlen = encrypt ? inlen + taglen : inlen - taglen;
	if (out == NULL && outlen != 0)
		return M2M_ERR_INVALID_ARGUMENT;
	if ((r = m2m_hsm_blob_parse(key, &b)) != 0)
		return r;
	/* SoftHSM2 wants room for inlen bytes even when decrypting */
	bufcap = encrypt ? inlen + taglen : inlen;
	if (bufcap <= sizeof(sbuf))
		buf = sbuf;
	else {
		if ((r = m2m_secret_new(bufcap, &heap)) != 0)
			return r;
		buf = m2m_secret_data(heap);
	}
	memset(&gp, 0, sizeof(gp));
	gp.pIv = (CK_BYTE_PTR)iv;
	gp.ulIvLen = ivlen;
	gp.ulIvBits = ivlen * 8;	/* SoftHSM2 2.6.1 ignores it */
	gp.pAAD = aadlen == 0 ? NULL : (CK_BYTE_PTR)aad;
	gp.ulAADLen = aadlen;
	gp.ulTagBits = taglen * 8;
	if (inlen == 0)
		in = empty;

	pthread_mutex_lock(&h->lock);
	if ((r = m2m_hsm_ready(h)) != 0)
		goto out;
	if (ivlen > h->gcm_iv_max) {
		m2m_info("HSM token '%s': AES-GCM IVs over %zu bytes are "
		    "refused (the module gets them wrong)", h->label,
		    h->gcm_iv_max);
		r = M2M_ERR_MECHANISM_PARAM;
		goto out;
	}
	if ((r = m2m_hsm_key_get(h, key, &b, &obj, &temp)) != 0)
		goto out;
	n = bufcap;
	if (encrypt) {
		if ((r = m2m_hsm_ckr(h, P11(h, C_EncryptInit)(h->session,
		    &mech, obj), M2M_HSM_OP_OTHER)) != 0 ||
		    (r = m2m_hsm_ckr(h, P11(h, C_Encrypt)(h->session,
		    (CK_BYTE_PTR)in, inlen, buf, &n), M2M_HSM_OP_OTHER)) != 0)
			goto out;
	} else {
		if ((r = m2m_hsm_ckr(h, P11(h, C_DecryptInit)(h->session,
		    &mech, obj), M2M_HSM_OP_OTHER)) != 0 ||
		    (r = m2m_hsm_ckr(h, P11(h, C_Decrypt)(h->session,
		    (CK_BYTE_PTR)in, inlen, buf, &n), M2M_HSM_OP_DECRYPT)) != 0)
			goto out;
	}
	if (n != outlen) {
		m2m_error("HSM token '%s': AES-GCM gave %lu bytes, not %zu",
		    h->label, (unsigned long)n, outlen);
		r = M2M_ERR_BACKEND;
		goto out;
	}
	if (outlen != 0)
		memcpy(out, buf, outlen);
	*ret_outlen = outlen;
	r = 0;
 out:
	if (temp)
		m2m_hsm_destroy(h, obj);
	pthread_mutex_unlock(&h->lock);
	if (buf == sbuf)
		m2m_wipe(sbuf, bufcap);
	m2m_secret_free(heap);
	return r;
}

/* see backend.h */
static int
hsm_reveal(void *impl, const struct m2m_keyref *key, struct m2m_secret **ret)
{
	struct hsm *h = impl;
	struct m2m_secret *value = NULL;
	struct blob b;
	int r = M2M_ERR_INTERNAL;

	if (h == NULL || key == NULL || ret == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if ((r = m2m_hsm_blob_parse(key, &b)) != 0)
		return r;
	pthread_mutex_lock(&h->lock);
	if ((r = m2m_hsm_ready(h)) != 0 ||
	    (r = m2m_hsm_key_read(h, &b, &value)) != 0)
		goto out;
	*ret = value;
	value = NULL;	/* transferred */
	r = 0;
 out:
	pthread_mutex_unlock(&h->lock);
	m2m_secret_free(value);
	return r;
}

/* see backend.h */
static int
hsm_random(void *impl, uint8_t *out, size_t len)
{
	struct hsm *h = impl;
	int r = M2M_ERR_INTERNAL;

	if (h == NULL || (out == NULL && len != 0))
		return M2M_ERR_INVALID_ARGUMENT;
	if (len == 0)
		return 0;
	pthread_mutex_lock(&h->lock);
	if ((r = m2m_hsm_ready(h)) != 0)
		goto out;
	r = m2m_hsm_ckr(h, P11(h, C_GenerateRandom)(h->session, out, len),
	    M2M_HSM_OP_RANDOM);
 out:
	pthread_mutex_unlock(&h->lock);
	return r;
}

/* see backend.h */
static void
hsm_forget(void *impl, uint64_t id)
{
	struct hsm *h = impl;

	if (h == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	m2m_hsm_destroy(h, m2m_hsm_cache_remove(h->cache, id));
	m2m_hsm_destroy(h, m2m_hsm_cache_remove(h->cache,
	    id | M2M_HSM_ID_PREHASH));
	m2m_hsm_destroy(h, m2m_hsm_cache_remove(h->cache,
	    id | M2M_HSM_ID_MSGFORM));
	pthread_mutex_unlock(&h->lock);
}

/*
 * see backend.h
 *
 * The working copies are public session objects of our session: any code
 * of the process could use them, and SoftHSM2 keeps their values in its
 * memory, until they are destroyed.  A logout of the module (the core's
 * flush) destroys them all; the next use unwraps again.
 */
static void
hsm_flush(void *impl)
{
	struct hsm *h = impl;
	CK_OBJECT_HANDLE obj;

	if (h == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	while ((obj = m2m_hsm_cache_pop(h->cache)) != CK_INVALID_HANDLE)
		m2m_hsm_destroy(h, obj);
	pthread_mutex_unlock(&h->lock);
}

/* see backend.h */
static void
hsm_stats(void *impl, struct m2m_backend_stats *ret)
{
	struct hsm *h = impl;

	if (h == NULL || ret == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	ret->commands = h->commands;
	ret->loads = h->loads;
	pthread_mutex_unlock(&h->lock);
}

/* see backend.h and bind.c */
static int
hsm_bind_mac(void *impl, const uint8_t *msg, size_t msglen, uint8_t *out)
{
	struct hsm *h = impl;
	CK_RV rv;
	int r, again;

	if (h == NULL || msg == NULL || msglen == 0 ||
	    msglen > M2M_BIND_MSG_MAX || out == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	pthread_mutex_lock(&h->lock);
	for (again = 1;; again = 0) {
		if ((r = m2m_hsm_ready(h)) != 0)
			break;
		rv = m2m_hsm_bind_mac(h->fl, h->session, &h->commands,
		    h->bindkey, msg, msglen, out);
		/* the session copy gone (a private one after a logout) */
		if (again && (rv == CKR_KEY_HANDLE_INVALID ||
		    rv == CKR_OBJECT_HANDLE_INVALID)) {
			m2m_hsm_disconnect(h);
			continue;
		}
		r = m2m_hsm_ckr(h, rv, M2M_HSM_OP_OTHER);
		/* a lost session is reconnected once, at once */
		if (!again || r != M2M_ERR_BACKEND_ABSENT)
			break;
	}
	pthread_mutex_unlock(&h->lock);
	return r;
}

const struct m2m_backend_ops m2m_hsm_backend_ops = {
	.name = "hsm",
	.open = m2m_hsm_open,
	.close = m2m_hsm_close,
	.wrap = hsm_wrap,
	.hmac = hsm_hmac,
	.hmac_keymsg = hsm_hmac_keymsg,
	.aes_gcm = hsm_aes_gcm,
	.reveal = hsm_reveal,
	.random = hsm_random,
	.forget = hsm_forget,
	.flush = hsm_flush,
	.stats = hsm_stats,
	.pin_seal = NULL,	/* the HSM's own login guards its keys */
	.pin_check = NULL,
	.wrap_auth = NULL,
	.wrap_readable = hsm_wrap_readable,
	.wrap_nomsg = hsm_wrap_nomsg,
	.ec_generate = m2m_hsm_ec_generate,
	.ec_import = m2m_hsm_ec_import,
	.ec_sign = m2m_hsm_ec_sign,
	.bind_mac = hsm_bind_mac,
};

