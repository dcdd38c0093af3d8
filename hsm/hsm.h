/*
 * Private to hsm/ and its tests: the HSM backend's blob format, labels and
 * named maxima, and m2m_hsm_blob_parse().  Nothing else outside hsm/
 * includes this header; the backend's public face is token/backend.h, and
 * what hsm/'s files share among themselves is in hsm_int.h.
 */
#ifndef M2M_HSM_H
#define M2M_HSM_H

#include <stddef.h>
#include <stdint.h>

#include <m2mtoken/pkcs11-m2m.h>

#include "backend.h"

/*
 * Blob layout, version 1 (every blob but those of versions 2 and 3 below):
 *
 *   offset 0  4 bytes  magic "M2MH"
 *          4  1 byte   version (1)
 *          5  1 byte   enum m2m_key_kind
 *          6  2 bytes  length of the caller's key, big endian (1..M2M_KEY_MAX)
 *          8 16 bytes  CKA_ID of the "m2mtoken-wrap" key that wrapped it
 *         24  ...      the HSM object's value wrapped with CKM_AES_KEY_WRAP_PAD
 *                      (RFC 5649) under that key
 *
 * The wrapped value is the key itself, except for HMAC keys shorter than
 * M2M_HSM_HMAC_PAD bytes, which are stored zero-padded to that length (see
 * hsm_blob.c: an equivalent HMAC key that HSMs enforcing "key >= hash length"
 * accept).  The length field lets reveal() and hmac_keymsg() return the
 * caller's bytes; the padding tail is checked to be zero when read back.
 *
 * Only the wrapped value is authenticated (RFC 5649's integrity check).
 * The header is not: the kind cannot be changed unnoticed (HMAC values are
 * >= 64 bytes, AES keys 16..32, and the wrapped length must match), a
 * changed key id names no key, but an HMAC key's length can be moved
 * within zero padding (ours for keys under 64 bytes; on a module that
 * leaves RFC 5649 padding in place, also within the last 8-byte block):
 * that adds or drops trailing zero bytes of the key as read back by
 * reveal(), hmac_keymsg() and the level-T HMAC-SHA-256 path, and changes
 * no MAC computed inside the HSM.  The store protects the header.
 */
/*
 * Version 2: an HMAC key longer than M2M_HSM_HMAC_PAD (64) bytes, laid out
 * as version 1 followed by a second wrapped value, SHA-256(key) zero-padded
 * to 64 bytes (M2M_HSM_PREHASH_WRAPPED_LEN bytes wrapped).  RFC 2104 hashes
 * a key longer than the block, so HMAC-SHA-256 with the key and with this
 * form are the same function; the HSM runs HMAC-SHA-256 with the second
 * (level H), every other hash and reveal() use the first.  Why keep it:
 * SoftHSM2 2.6.1 gives back an RFC 5649-wrapped key with its padding (see
 * probe_unwrap_padding() in hsm_conn.c), which for such keys changes an
 * HMAC-SHA-256 in the HSM; version 1 blobs of those keys fall back to the
 * host (level T).  The TLS-PSK premaster of a 32-byte PSK is 68 bytes.
 * Both wrapped values are checked by RFC 5649 on unwrap; the header
 * (version included) is not authenticated, and the version must agree
 * with kind and length.
 */
/*
 * Version 3: an HMAC key wrapped under the strict wrapping key (see
 * M2M_HSM_WRAP_LABEL) that no HSM object holds exactly as it is: shorter
 * than M2M_HSM_HMAC_PAD (stored zero padded) or of a length that is not
 * a multiple of 8 (RFC 5649 unwrapping may leave it padded).  Laid out as
 * version 1, then (keys over 64 bytes) the pre-hashed form of version 2,
 * then the key's message form: p = (8 - len % 8) % 8 bytes 0x36 followed
 * by the key, wrapped (len + p + 8 bytes).  hmac_keymsg() hashes it inside
 * the HSM (C_DigestKey) after the first block - p bytes of the HMAC's
 * inner block K0 ^ ipad, which for an HMAC key K0 of at most block - p
 * bytes ends with those p bytes 0x36: the HSM hashes exactly
 * (K0 ^ ipad) || key, and the key never needs to be readable.  Keys
 * wrapped by wrap_nomsg() (a role that is never an HMAC message,
 * backend.h) get no message form: version 1, or 2 over 64 bytes.
 */
/*
 * Version 4: an ECDSA private key (kind M2M_KIND_EC_P256 or _P384): bytes
 * 6..7 hold the length of the wrapped value (a multiple of 8, 16 up to
 * M2M_HSM_EC_WRAPPED_MAX), which is the private key as the HSM's
 * C_WrapKey(CKM_AES_KEY_WRAP_PAD) gives it (RFC 5649 over the module's
 * PKCS#8 encoding) under the EC wrapping key (M2M_HSM_WRAP_LABEL_EC).
 * Generated in the HSM (ec_generate) or imported (ec_import); unwrapped
 * only into sensitive, non-extractable sign-only session objects (the
 * wrapping key's unwrap template).  The public point is not in the blob:
 * the store keeps it.
 */
#define M2M_HSM_MAGIC		"M2MH"
#define M2M_HSM_VERSION		1
#define M2M_HSM_VERSION_PREHASH	2
#define M2M_HSM_VERSION_MSG	3
#define M2M_HSM_VERSION_EC	4
#define M2M_HSM_EC_WRAPPED_MAX	512
#define M2M_HSM_HDR_LEN		24
#define M2M_HSM_HMAC_PAD	64	/* largest output, smallest block */
#define M2M_HSM_WRAPPED_MIN	16	/* RFC 5649: AIV + one 8-byte block */
#define M2M_HSM_WRAPPED_MAX	(M2M_KEY_MAX + 8)
#define M2M_HSM_PREHASH_WRAPPED_LEN (M2M_HSM_HMAC_PAD + 8)
/* the longest blob of a secret key (versions 1 to 3), and of any blob */
#define M2M_HSM_SYM_BLOB_MAX	(M2M_HSM_HDR_LEN + M2M_HSM_WRAPPED_MAX + \
				    M2M_HSM_PREHASH_WRAPPED_LEN + \
				    M2M_HSM_WRAPPED_MAX)
#define M2M_HSM_BLOB_MAX	(M2M_HSM_HDR_LEN + M2M_HSM_EC_WRAPPED_MAX)
/* A parsed blob header: pointers into the blob it was parsed from. */
struct blob {
	enum m2m_key_kind	 kind;
	size_t			 keylen;	/* the caller's key */
	size_t			 valuelen;	/* the HSM object's value */
	const uint8_t		*wrapkey_id;
	const uint8_t		*wrapped;
	size_t			 wrappedlen;
	const uint8_t		*prehash;	/* wrapped SHA-256(key), or NULL */
	const uint8_t		*msgform;	/* message form, or NULL */
};

/*
 * The DER of the named curves' OIDs (CKA_EC_PARAMS): prime256v1 and
 * secp384r1.
 */
#define M2M_HSM_OID_P256	"\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07"
#define M2M_HSM_OID_P384	"\x06\x05\x2b\x81\x04\x00\x22"

/*
 * Parse and check the header of key->blob (layout above) against
 * key->kind; the wrapped values are not looked at.  0 and *ret, else
 * M2M_ERR_INVALID_ARGUMENT (NULL key or blob), M2M_ERR_KEY_TYPE (a blob
 * of the other kind) or M2M_ERR_DATA_INVALID; never reads past bloblen.
 * Exposed for tests/fuzz/fuzz_hsm_blob.c.
 */
int	m2m_hsm_blob_parse(const struct m2m_keyref *key, struct blob *ret);

/*
 * Cache id of a key's pre-hashed form: its own id with bit 63 set (bit 62
 * marks a key's TLS-PSK premaster form, bit 61 session objects); of its
 * message form (version 3, hmac_keymsg()): bit 60.
 */
#define M2M_HSM_ID_PREHASH	(1ULL << 63)
#define M2M_HSM_ID_MSGFORM	(1ULL << 60)

/*
 * The wrapping keys' labels and CKA_ID length.  M2M_HSM_WRAP_LABEL: every
 * blob but the readable ones; its CKA_UNWRAP_TEMPLATE makes whatever is
 * unwrapped with it sensitive and never extractable (a key of that label
 * without the template is not used).  M2M_HSM_WRAP_LABEL_READABLE: the
 * blobs of wrap_readable() (keys whose CKA_VALUE the core may reveal),
 * no unwrap template; made at its first use.
 */
#define M2M_HSM_WRAP_LABEL	"m2mtoken-wrap"
#define M2M_HSM_WRAP_LABEL_READABLE "m2mtoken-wrap-readable"
/*
 * M2M_HSM_WRAP_LABEL_EC: the blobs of ECDSA private keys (version 4); its
 * CKA_UNWRAP_TEMPLATE makes whatever is unwrapped with it sensitive, never
 * extractable, unable to decrypt, unwrap or derive; made at its first use.
 */
#define M2M_HSM_WRAP_LABEL_EC	"m2mtoken-wrap-ec"
/*
 * Wrapping and unwrapping run on a copy of each wrapping key in the
 * backend's session (same attributes, private, checked after the copy;
 * faster in SoftHSM2 than the token object), under this label.
 */
#define M2M_HSM_WRAP_COPY_LABEL	"m2mtoken-wrap-copy"
#define M2M_HSM_WRAPKEY_TRIES	4	/* setups of the wrapping key tried */
#define M2M_HSM_WRAP_ID_LEN	16

/*
 * The binding key (hsm/bind.c): the token key "m2mtoken-bind", a 32-byte
 * generic secret generated in the HSM (CKA_LOCAL), sensitive, never
 * extractable, sign/verify only, found by its label like the wrapping key.
 * backend.h's bind_mac is HMAC-SHA-256 under it.  A key under the label
 * that is not such a key is never used; with several (processes racing on
 * a fresh token) the smallest CKA_ID wins and a loser destroys its own.
 * The MACs run on a copy of it in the backend's session (a private session
 * object, faster in SoftHSM2 than the token object).  Its functions are
 * in hsm_int.h.
 */
#define M2M_HSM_BIND_LABEL	"m2mtoken-bind"
#define M2M_HSM_BIND_COPY_LABEL	"m2mtoken-bind-copy"	/* session copy */
#define M2M_HSM_BIND_ID_LEN	16
#define M2M_HSM_BINDKEYS_MAX	64	/* binding keys examined, at most */

/* Named maxima for lengths that come from outside. */
#define M2M_HSM_CACHE_DEFAULT	64
#define M2M_HSM_CACHE_MAX	65536
#define M2M_HSM_SLOTS_MAX	1024	/* slots listed by a module */
#define M2M_HSM_WRAPKEYS_MAX	64	/* competing wrapping keys examined */
#define M2M_HSM_PIN_MAX		256
#define M2M_HSM_LABEL_LEN	32	/* CK_TOKEN_INFO.label, blank padded */
#define M2M_HSM_HOSTKEY_MAX	1024	/* hmac_keymsg's host-memory key */
#define M2M_HSM_AEAD_MAX	(16UL << 20)	/* AES-GCM input, bytes */

#endif /* M2M_HSM_H */
