/*
 * m2mtoken HSM backend: the blob format (layout and versions 1 to 4 in
 * hsm.h): the lengths a key's HSM objects have, parsing a blob and its
 * pre-hashed and message forms, and building one.  Pure format: no call
 * into the module.  Contracts in hsm.h and hsm_int.h; docs/architecture.md.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "err.h"
#include "hsm_int.h"

/* see hsm_int.h */
size_t
m2m_hsm_value_len(enum m2m_key_kind kind, size_t keylen)
{
	/*
	 * HMAC (RFC 2104) zero-pads a key to the hash's block size, so K and
	 * K || 0^n are the same HMAC key while the result fits in a block.
	 * SoftHSM2 refuses HMAC keys shorter than the hash output
	 * (CKR_KEY_SIZE_RANGE for a 32-byte key with SHA-512); padding short
	 * keys to 64 bytes (the largest output, and SHA-256's block size)
	 * keeps every key usable with every hash and changes no result.
	 */
	if (kind == M2M_KIND_HMAC && keylen < M2M_HSM_HMAC_PAD)
		return M2M_HSM_HMAC_PAD;
	return keylen;
}

/* see hsm_int.h */
size_t
m2m_hsm_msg_pad(size_t keylen)
{
	return (8 - keylen % 8) % 8;
}

/* see hsm_int.h */
int
m2m_hsm_msgform_needed(size_t keylen)
{
	return keylen < M2M_HSM_HMAC_PAD || keylen % 8 != 0;
}

/* A version-4 blob (ECDSA private key), magic and version checked. */
static int
ec_parse(const struct m2m_keyref *key, struct blob *ret)
{
	const uint8_t *p = key->blob;
	size_t wlen;

	if (p[5] != M2M_KIND_EC_P256 && p[5] != M2M_KIND_EC_P384)
		return M2M_ERR_DATA_INVALID;
	if (p[5] != key->kind)
		return M2M_ERR_KEY_TYPE;
	wlen = (size_t)p[6] << 8 | p[7];
	if (wlen < M2M_HSM_WRAPPED_MIN || wlen > M2M_HSM_EC_WRAPPED_MAX ||
	    wlen % 8 != 0 || key->bloblen != M2M_HSM_HDR_LEN + wlen)
		return M2M_ERR_DATA_INVALID;
	memset(ret, 0, sizeof(*ret));
	ret->kind = p[5];
	ret->wrapkey_id = p + 8;
	ret->wrapped = p + M2M_HSM_HDR_LEN;
	ret->wrappedlen = wlen;
	return 0;
}

/* see hsm.h */
int
m2m_hsm_blob_parse(const struct m2m_keyref *key, struct blob *ret)
{
	const uint8_t *p;
	size_t keylen, valuelen, wlen, phlen, mlen;

	if (key == NULL || key->blob == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	p = key->blob;
	if (key->bloblen >= M2M_HSM_HDR_LEN && p[4] == M2M_HSM_VERSION_EC &&
	    memcmp(p, M2M_HSM_MAGIC, 4) == 0)
		return ec_parse(key, ret);
	if (key->bloblen < M2M_HSM_HDR_LEN + M2M_HSM_WRAPPED_MIN ||
	    key->bloblen > M2M_HSM_SYM_BLOB_MAX ||
	    memcmp(p, M2M_HSM_MAGIC, 4) != 0 ||
	    (p[4] != M2M_HSM_VERSION && p[4] != M2M_HSM_VERSION_PREHASH &&
	    p[4] != M2M_HSM_VERSION_MSG))
		return M2M_ERR_DATA_INVALID;
	if (p[5] != M2M_KIND_HMAC && p[5] != M2M_KIND_AES)
		return M2M_ERR_DATA_INVALID;
	if (p[5] != key->kind)
		return M2M_ERR_KEY_TYPE;
	keylen = (size_t)p[6] << 8 | p[7];
	if (!m2m_backend_key_len_ok(p[5], keylen))
		return M2M_ERR_DATA_INVALID;
	/*
	 * The pre-hashed form: only HMAC keys longer than a block have one
	 * (wrap() gives it to all of them; version-1 blobs of such keys,
	 * written before it existed, work without).
	 */
	phlen = p[4] == M2M_HSM_VERSION_PREHASH ||
	    (p[4] == M2M_HSM_VERSION_MSG && keylen > M2M_HSM_HMAC_PAD) ?
	    M2M_HSM_PREHASH_WRAPPED_LEN : 0;
	if (phlen != 0 && (p[5] != M2M_KIND_HMAC ||
	    keylen <= M2M_HSM_HMAC_PAD))
		return M2M_ERR_DATA_INVALID;
	/* the message form: only keys no HSM object holds as they are */
	mlen = 0;
	if (p[4] == M2M_HSM_VERSION_MSG) {
		if (p[5] != M2M_KIND_HMAC || !m2m_hsm_msgform_needed(keylen))
			return M2M_ERR_DATA_INVALID;
		mlen = keylen + m2m_hsm_msg_pad(keylen) + 8;
	}
	valuelen = m2m_hsm_value_len(p[5], keylen);
	/* RFC 5649 output is exactly the padded value plus 8 bytes */
	wlen = roundup8(valuelen) + 8;
	if (key->bloblen - M2M_HSM_HDR_LEN != wlen + phlen + mlen)
		return M2M_ERR_DATA_INVALID;
	ret->kind = p[5];
	ret->keylen = keylen;
	ret->valuelen = valuelen;
	ret->wrapkey_id = p + 8;
	ret->wrapped = p + M2M_HSM_HDR_LEN;
	ret->wrappedlen = wlen;
	ret->prehash = phlen != 0 ? ret->wrapped + wlen : NULL;
	ret->msgform = mlen != 0 ? ret->wrapped + wlen + phlen : NULL;
	return 0;
}

/* see hsm_int.h */
void
m2m_hsm_blob_prehash(const struct blob *b, struct blob *ret)
{
	ret->kind = M2M_KIND_HMAC;
	ret->keylen = 32;
	ret->valuelen = M2M_HSM_HMAC_PAD;
	ret->wrapkey_id = b->wrapkey_id;
	ret->wrapped = b->prehash;
	ret->wrappedlen = M2M_HSM_PREHASH_WRAPPED_LEN;
	ret->prehash = NULL;
	ret->msgform = NULL;
}

/* see hsm_int.h */
void
m2m_hsm_blob_msgform(const struct blob *b, struct blob *ret)
{
	ret->kind = M2M_KIND_HMAC;
	ret->keylen = b->keylen + m2m_hsm_msg_pad(b->keylen);
	ret->valuelen = ret->keylen;
	ret->wrapkey_id = b->wrapkey_id;
	ret->wrapped = b->msgform;
	ret->wrappedlen = ret->keylen + 8;
	ret->prehash = NULL;
	ret->msgform = NULL;
}

/* see hsm_int.h */
int
m2m_hsm_blob_build(const struct blob *b, uint8_t **ret_blob,
    size_t *ret_bloblen)
{
	uint8_t *blob;
	size_t phlen, mlen, len;

	phlen = b->prehash != NULL ? M2M_HSM_PREHASH_WRAPPED_LEN : 0;
	mlen = b->msgform != NULL ?
	    b->keylen + m2m_hsm_msg_pad(b->keylen) + 8 : 0;
	len = M2M_HSM_HDR_LEN + b->wrappedlen + phlen + mlen;
	if ((blob = malloc(len)) == NULL)
		return M2M_ERR_NO_MEMORY;
	memcpy(blob, M2M_HSM_MAGIC, 4);
	blob[4] = mlen != 0 ? M2M_HSM_VERSION_MSG : phlen != 0 ?
	    M2M_HSM_VERSION_PREHASH : M2M_HSM_VERSION;
	blob[5] = (uint8_t)b->kind;
	blob[6] = (uint8_t)(b->keylen >> 8);
	blob[7] = (uint8_t)b->keylen;
	if (b->kind == M2M_KIND_EC_P256 || b->kind == M2M_KIND_EC_P384) {
		/* version 4: the wrapped length in place of the key's */
		blob[4] = M2M_HSM_VERSION_EC;
		blob[6] = (uint8_t)(b->wrappedlen >> 8);
		blob[7] = (uint8_t)b->wrappedlen;
	}
	memcpy(blob + 8, b->wrapkey_id, M2M_HSM_WRAP_ID_LEN);
	memcpy(blob + M2M_HSM_HDR_LEN, b->wrapped, b->wrappedlen);
	if (phlen != 0)
		memcpy(blob + M2M_HSM_HDR_LEN + b->wrappedlen, b->prehash,
		    phlen);
	if (mlen != 0)
		memcpy(blob + M2M_HSM_HDR_LEN + b->wrappedlen + phlen,
		    b->msgform, mlen);
	*ret_blob = blob;
	*ret_bloblen = len;
	return 0;
}
