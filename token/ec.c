/*
 * m2mtoken: curves, public points, ECDSA verification and certificate
 * fields, over public data only.  See ec.h.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include <m2mtoken/pkcs11-m2m.h>

#include "ec.h"
#include "err.h"
#include "object.h"

static const uint8_t oid_p256[] = {
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07
};
static const uint8_t oid_p384[] = {
	0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22
};

/* 1 if v is the DER PrintableString of name. */
static int
is_name(const uint8_t *v, size_t len, const char *name)
{
	size_t n = strlen(name);

	return len == n + 2 && v[0] == 0x13 && v[1] == n &&
	    memcmp(v + 2, name, n) == 0;
}

/* see ec.h */
int
m2m_ec_curve(const uint8_t *params, size_t len, enum m2m_key_kind *ret)
{
	if (params == NULL)
		return M2M_ERR_CURVE;
	if ((len == sizeof(oid_p256) &&
	    memcmp(params, oid_p256, len) == 0) ||
	    is_name(params, len, "prime256v1") ||
	    is_name(params, len, "P-256")) {
		*ret = M2M_KIND_EC_P256;
		return 0;
	}
	if ((len == sizeof(oid_p384) &&
	    memcmp(params, oid_p384, len) == 0) ||
	    is_name(params, len, "secp384r1") ||
	    is_name(params, len, "P-384")) {
		*ret = M2M_KIND_EC_P384;
		return 0;
	}
	return M2M_ERR_CURVE;
}

/* see ec.h */
int
m2m_ec_object_curve(const struct m2m_object *o, enum m2m_key_kind *ret)
{
	const struct m2m_attr *a = m2m_object_attr(o, CKA_EC_PARAMS);

	if (a == NULL)
		return M2M_ERR_CURVE;
	return m2m_ec_curve(a->val, a->len, ret);
}

/* see ec.h */
size_t
m2m_ec_size(enum m2m_key_kind kind)
{
	return kind == M2M_KIND_EC_P256 ? 32 :
	    kind == M2M_KIND_EC_P384 ? 48 : 0;
}

/* see ec.h */
void
m2m_ec_params(enum m2m_key_kind kind, const uint8_t **ret, size_t *ret_len)
{
	if (kind == M2M_KIND_EC_P384) {
		*ret = oid_p384;
		*ret_len = sizeof(oid_p384);
	} else {
		*ret = oid_p256;
		*ret_len = sizeof(oid_p256);
	}
}

/* see ec.h */
void
m2m_ec_point_der(const uint8_t *pt, size_t len, uint8_t *out,
    size_t *ret_len)
{
	out[0] = 0x04;
	out[1] = (uint8_t)len;
	memcpy(out + 2, pt, len);
	*ret_len = len + 2;
}

/* The public key of point pt on kind, or NULL (not a point of it). */
static EVP_PKEY *
pkey_of(enum m2m_key_kind kind, const uint8_t *pt, size_t len, int *ret_r)
{
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pk = NULL;

	*ret_r = M2M_ERR_NO_MEMORY;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    kind == M2M_KIND_EC_P256 ? "prime256v1" : "secp384r1", 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
	    pt, len) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1)
		goto out;
	/* the point is decoded, and checked to be on the curve, here */
	if (EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		pk = NULL;
		*ret_r = M2M_ERR_ATTRIBUTE_VALUE;
		goto out;
	}
	*ret_r = 0;
 out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return pk;
}

/* see ec.h */
int
m2m_ec_point_parse(enum m2m_key_kind kind, const uint8_t *v, size_t len,
    const uint8_t **ret, size_t *ret_len)
{
	size_t plen = 2 * m2m_ec_size(kind) + 1;
	EVP_PKEY *pk;
	int r;

	if (plen == 1 || v == NULL)
		return M2M_ERR_ATTRIBUTE_VALUE;
	if (len == plen + 2 && v[0] == 0x04 && v[1] == plen)
		v += 2;
	else if (len != plen)
		return M2M_ERR_ATTRIBUTE_VALUE;
	if (v[0] != 0x04)
		return M2M_ERR_ATTRIBUTE_VALUE;	/* uncompressed only */
	if ((pk = pkey_of(kind, v, plen, &r)) == NULL)
		return r;
	EVP_PKEY_free(pk);
	*ret = v;
	*ret_len = plen;
	return 0;
}

/* see ec.h */
int
m2m_ec_verify(enum m2m_key_kind kind, const uint8_t *pt, size_t ptlen,
    const uint8_t *digest, size_t dlen, const uint8_t *sig, size_t siglen)
{
	size_t size = m2m_ec_size(kind);
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pk = NULL;
	ECDSA_SIG *es = NULL;
	BIGNUM *br = NULL, *bs = NULL;
	unsigned char *der = NULL;
	int derlen, r = M2M_ERR_INTERNAL;

	if (size == 0 || siglen != 2 * size || digest == NULL || dlen == 0)
		return M2M_ERR_INVALID_ARGUMENT;
	if ((pk = pkey_of(kind, pt, ptlen, &r)) == NULL)
		return r;
	r = M2M_ERR_NO_MEMORY;
	if ((es = ECDSA_SIG_new()) == NULL ||
	    (br = BN_bin2bn(sig, (int)size, NULL)) == NULL ||
	    (bs = BN_bin2bn(sig + size, (int)size, NULL)) == NULL)
		goto out;
	if (ECDSA_SIG_set0(es, br, bs) != 1)
		goto out;
	br = bs = NULL;	/* es has them */
	if ((derlen = i2d_ECDSA_SIG(es, &der)) <= 0 ||
	    (ctx = EVP_PKEY_CTX_new(pk, NULL)) == NULL ||
	    EVP_PKEY_verify_init(ctx) != 1)
		goto out;
	/* r or s out of range (0, or n and above) is a bad signature too */
	r = EVP_PKEY_verify(ctx, der, (size_t)derlen, digest, dlen) == 1 ?
	    0 : M2M_ERR_SIGNATURE_INVALID;
 out:
	OPENSSL_free(der);
	BN_free(br);
	BN_free(bs);
	ECDSA_SIG_free(es);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pk);
	return r;
}

/* *ret, *ret_len = i2d of an object; 0, or M2M_ERR_ATTRIBUTE_VALUE. */
#define I2D(fn, x, ret, ret_len) do {					\
	int n_ = (x) == NULL ? -1 : fn((x), (ret));			\
									\
	if (n_ <= 0) {							\
		r = M2M_ERR_ATTRIBUTE_VALUE;				\
		goto out;						\
	}								\
	*(ret_len) = (size_t)n_;					\
} while (0)

/* see ec.h */
int
m2m_cert_parse(const uint8_t *der, size_t len, struct m2m_cert_fields *ret)
{
	const unsigned char *p = der;
	X509 *x = NULL;
	int r = M2M_ERR_INTERNAL;

	memset(ret, 0, sizeof(*ret));
	if (der == NULL || len == 0 || len > M2M_ATTR_MAX_LEN)
		return M2M_ERR_ATTRIBUTE_VALUE;
	if ((x = d2i_X509(NULL, &p, (long)len)) == NULL ||
	    p != der + len) {
		r = M2M_ERR_ATTRIBUTE_VALUE;
		goto out;
	}
	I2D(i2d_X509_NAME, X509_get_subject_name(x), &ret->subject,
	    &ret->subject_len);
	I2D(i2d_X509_NAME, X509_get_issuer_name(x), &ret->issuer,
	    &ret->issuer_len);
	I2D(i2d_ASN1_INTEGER, X509_get0_serialNumber(x), &ret->serial,
	    &ret->serial_len);
	r = 0;
 out:
	if (r != 0)
		m2m_cert_fields_free(ret);
	X509_free(x);
	return r;
}

/* see ec.h */
void
m2m_cert_fields_free(struct m2m_cert_fields *f)
{
	if (f == NULL)
		return;
	OPENSSL_free(f->subject);
	OPENSSL_free(f->issuer);
	OPENSSL_free(f->serial);
	memset(f, 0, sizeof(*f));
}
