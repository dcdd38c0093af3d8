/*
 * Public-key data of the token: the named curves of ECDSA key pairs
 * (CKA_EC_PARAMS), their public points (CKA_EC_POINT), ECDSA verification
 * with public data only, and the fields of an X.509 certificate
 * (CKA_SUBJECT, CKA_ISSUER, CKA_SERIAL_NUMBER).  OpenSSL in host memory;
 * nothing here touches a private key.
 */
#ifndef M2M_EC_H
#define M2M_EC_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"

struct m2m_object;

/*
 * The curve CKA_EC_PARAMS names: the DER of the OID of prime256v1 or
 * secp384r1, or the DER PrintableString of those names (PKCS#11 3.0
 * curveName).  0 and *ret (M2M_KIND_EC_P256 / _P384), else M2M_ERR_CURVE
 * for every other value (another curve, explicit parameters, garbage).
 */
int	m2m_ec_curve(const uint8_t *params, size_t len,
	    enum m2m_key_kind *ret);
/* The curve of an EC key object (its CKA_EC_PARAMS); as m2m_ec_curve. */
int	m2m_ec_object_curve(const struct m2m_object *o,
	    enum m2m_key_kind *ret);
/* The curve's size in bytes (32 or 48), 0 for any other kind. */
size_t	m2m_ec_size(enum m2m_key_kind kind);
/* CKA_EC_PARAMS of kind: the DER of its OID (static). */
void	m2m_ec_params(enum m2m_key_kind kind, const uint8_t **ret,
	    size_t *ret_len);

/* Longest CKA_EC_POINT: a DER OCTET STRING around the longest point. */
#define M2M_EC_POINT_DER_MAX	(M2M_EC_POINT_MAX + 2)
/*
 * CKA_EC_POINT of the uncompressed point pt[0..len): 0x04 len pt (a DER
 * OCTET STRING, as pkcs11-tool, p11tool and libp11 read it) into
 * out[M2M_EC_POINT_DER_MAX], *ret_len its length.  len at most 127.
 */
void	m2m_ec_point_der(const uint8_t *pt, size_t len, uint8_t *out,
	    size_t *ret_len);
/*
 * The uncompressed point of a CKA_EC_POINT value v (a DER OCTET STRING,
 * or the bare point) on the curve kind: *ret points into v, *ret_len =
 * 2 * size + 1.  M2M_ERR_ATTRIBUTE_VALUE when it is not such a point or
 * not on the curve.
 */
int	m2m_ec_point_parse(enum m2m_key_kind kind, const uint8_t *v,
	    size_t len, const uint8_t **ret, size_t *ret_len);
/*
 * Verify the ECDSA signature sig = r || s (2 * size bytes) over digest
 * with the public point pt (uncompressed) of curve kind.  0,
 * M2M_ERR_SIGNATURE_INVALID, M2M_ERR_ATTRIBUTE_VALUE (a bad point),
 * M2M_ERR_NO_MEMORY.  A sig of the wrong length is the caller's check.
 */
int	m2m_ec_verify(enum m2m_key_kind kind, const uint8_t *pt, size_t ptlen,
	    const uint8_t *digest, size_t dlen, const uint8_t *sig,
	    size_t siglen);

/* The fields of a certificate, DER encoded, malloc'd. */
struct m2m_cert_fields {
	uint8_t	*subject;	/* Name */
	size_t	 subject_len;
	uint8_t	*issuer;	/* Name */
	size_t	 issuer_len;
	uint8_t	*serial;	/* INTEGER, tag and length included */
	size_t	 serial_len;
};
/*
 * Parse the DER X.509 certificate der[0..len) (every byte of it: trailing
 * bytes are refused) into *ret.  0, M2M_ERR_ATTRIBUTE_VALUE (not a
 * certificate), M2M_ERR_NO_MEMORY; *ret is zeroed on failure.
 */
int	m2m_cert_parse(const uint8_t *der, size_t len,
	    struct m2m_cert_fields *ret);
/* Free what m2m_cert_parse made; NULL accepted. */
void	m2m_cert_fields_free(struct m2m_cert_fields *f);

#endif /* M2M_EC_H */
