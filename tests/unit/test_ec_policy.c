/*
 * Unit tests of the object model and policy of EC keys, certificates and
 * public-key data (token/policy.c, token/ec.c): what a key pair template
 * becomes, which templates are refused with which error, the uses each
 * class allows, which attributes are readable and may change, the
 * certificate fields taken from the DER, curves and points.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <m2mtoken/pkcs11-m2m.h>

#include "ec.h"
#include "err.h"
#include "object.h"
#include "policy.h"

static const uint8_t P256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d,
    0x03, 0x01, 0x07 };
static const uint8_t P384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
static const uint8_t K256[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a };
static const uint8_t P521[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23 };
static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

#define A(t, p, l)	{ (t), (uint8_t *)(p), (l) }

static int
obool(const struct m2m_object *o, unsigned long t)
{
	const struct m2m_attr *a = m2m_object_attr(o, t);

	assert_non_null(a);
	assert_int_equal(a->len, 1);
	return a->val[0];
}

static unsigned long
oulong(const struct m2m_object *o, unsigned long t)
{
	const struct m2m_attr *a = m2m_object_attr(o, t);
	CK_ULONG v;

	assert_non_null(a);
	assert_int_equal(a->len, sizeof(v));
	memcpy(&v, a->val, sizeof(v));
	return v;
}

static void
test_curves(void **state)
{
	enum m2m_key_kind k = 0;
	const uint8_t *p;
	size_t n;

	(void)state;
	assert_int_equal(m2m_ec_curve(P256, sizeof(P256), &k), 0);
	assert_int_equal(k, M2M_KIND_EC_P256);
	assert_int_equal(m2m_ec_curve(P384, sizeof(P384), &k), 0);
	assert_int_equal(k, M2M_KIND_EC_P384);
	assert_int_equal(m2m_ec_curve((const uint8_t *)"\x13\x0aprime256v1",
	    12, &k), 0);
	assert_int_equal(k, M2M_KIND_EC_P256);
	assert_int_equal(m2m_ec_curve(K256, sizeof(K256), &k), M2M_ERR_CURVE);
	assert_int_equal(m2m_ec_curve(P521, sizeof(P521), &k), M2M_ERR_CURVE);
	assert_int_equal(m2m_ec_curve(P256, sizeof(P256) - 1, &k),
	    M2M_ERR_CURVE);
	assert_int_equal(m2m_ec_curve(NULL, 0, &k), M2M_ERR_CURVE);
	assert_int_equal(m2m_ec_size(M2M_KIND_EC_P384), 48);
	assert_int_equal(m2m_ec_size(M2M_KIND_HMAC), 0);
	m2m_ec_params(M2M_KIND_EC_P384, &p, &n);
	assert_int_equal(n, sizeof(P384));
	assert_memory_equal(p, P384, n);
}

static void
test_points(void **state)
{
	static const char G[] = "046b17d1f2e12c4247f8bce6e563a440f277037d812de"
	    "b33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b"
	    "315ececbb6406837bf51f5";
	uint8_t g[65], der[M2M_EC_POINT_DER_MAX];
	const uint8_t *pt;
	size_t n, i, dlen;
	unsigned int v;

	(void)state;
	for (i = 0; i < 65; i++) {
		assert_int_equal(sscanf(G + 2 * i, "%2x", &v), 1);
		g[i] = (uint8_t)v;
	}
	assert_int_equal(m2m_ec_point_parse(M2M_KIND_EC_P256, g, 65, &pt,
	    &n), 0);
	assert_ptr_equal(pt, g);
	assert_int_equal(n, 65);
	m2m_ec_point_der(g, 65, der, &dlen);
	assert_int_equal(dlen, 67);
	assert_memory_equal(der, "\x04\x41\x04", 3);
	assert_int_equal(m2m_ec_point_parse(M2M_KIND_EC_P256, der, dlen, &pt,
	    &n), 0);
	assert_ptr_equal(pt, der + 2);
	/* on the other curve, truncated, off the curve, compressed */
	assert_int_equal(m2m_ec_point_parse(M2M_KIND_EC_P384, der, dlen, &pt,
	    &n), M2M_ERR_ATTRIBUTE_VALUE);
	assert_int_equal(m2m_ec_point_parse(M2M_KIND_EC_P256, der, dlen - 1,
	    &pt, &n), M2M_ERR_ATTRIBUTE_VALUE);
	der[dlen - 1] ^= 1;
	assert_int_equal(m2m_ec_point_parse(M2M_KIND_EC_P256, der, dlen, &pt,
	    &n), M2M_ERR_ATTRIBUTE_VALUE);
	der[dlen - 1] ^= 1;
	der[2] = 0x02;
	assert_int_equal(m2m_ec_point_parse(M2M_KIND_EC_P256, der, dlen, &pt,
	    &n), M2M_ERR_ATTRIBUTE_VALUE);
	assert_int_equal(m2m_ec_point_parse(M2M_KIND_HMAC, g, 65, &pt, &n),
	    M2M_ERR_ATTRIBUTE_VALUE);
}

/* The pair a plain pkcs11-tool template makes. */
static void
pair_ok(const uint8_t *params, size_t plen, struct m2m_object **pub,
    struct m2m_object **priv)
{
	struct m2m_attr pt[] = {
		A(CKA_EC_PARAMS, params, plen), A(CKA_TOKEN, &yes, 1),
		A(CKA_VERIFY, &yes, 1), A(CKA_ID, "\x01\x02", 2),
		A(CKA_DERIVE, &yes, 1),
	};
	struct m2m_attr qt[] = {
		A(CKA_TOKEN, &yes, 1), A(CKA_PRIVATE, &yes, 1),
		A(CKA_SENSITIVE, &yes, 1), A(CKA_SIGN, &yes, 1),
		A(CKA_LABEL, "k", 1),
	};

	assert_int_equal(m2m_policy_build_ec_pair(pt, 5, qt, 5, pub, priv),
	    0);
}

static void
test_pair_attrs(void **state)
{
	struct m2m_object *pub = NULL, *priv = NULL;
	const struct m2m_attr *a;

	(void)state;
	pair_ok(P384, sizeof(P384), &pub, &priv);
	assert_int_equal(priv->cls, CKO_PRIVATE_KEY);
	assert_int_equal(pub->cls, CKO_PUBLIC_KEY);
	assert_int_equal(priv->key_type, CKK_EC);
	assert_int_equal(priv->role, 0);
	assert_int_equal(priv->origin, M2M_ORIGIN_GENERATE);
	assert_true(priv->on_token);
	assert_null(m2m_object_attr(priv, CKA_M2M_ROLE));
	assert_int_equal(obool(priv, CKA_SENSITIVE), 1);
	assert_int_equal(obool(priv, CKA_EXTRACTABLE), 0);
	assert_int_equal(obool(priv, CKA_ALWAYS_SENSITIVE), 1);
	assert_int_equal(obool(priv, CKA_NEVER_EXTRACTABLE), 1);
	assert_int_equal(obool(priv, CKA_LOCAL), 1);
	assert_int_equal(obool(priv, CKA_PRIVATE), 1);
	assert_int_equal(obool(priv, CKA_SIGN), 1);
	assert_int_equal(obool(priv, CKA_DECRYPT), 0);
	assert_int_equal(obool(priv, CKA_DERIVE), 0);
	assert_int_equal(obool(pub, CKA_DERIVE), 1);	/* as asked */
	assert_int_equal(obool(pub, CKA_PRIVATE), 0);
	assert_int_equal(obool(pub, CKA_VERIFY), 1);
	assert_int_equal(obool(pub, CKA_ENCRYPT), 0);
	assert_int_equal(oulong(priv, CKA_KEY_GEN_MECHANISM),
	    CKM_EC_KEY_PAIR_GEN);
	/* the curve in both, the CKA_ID of the public template in both */
	a = m2m_object_attr(priv, CKA_EC_PARAMS);
	assert_non_null(a);
	assert_int_equal(a->len, sizeof(P384));
	assert_memory_equal(a->val, P384, sizeof(P384));
	a = m2m_object_attr(priv, CKA_ID);
	assert_non_null(a);
	assert_int_equal(a->len, 2);
	assert_memory_equal(a->val, "\x01\x02", 2);
	assert_null(m2m_object_attr(priv, CKA_VALUE));
	assert_null(m2m_object_attr(pub, CKA_EC_POINT));	/* not yet */
	/* uses: the private key signs, the public one verifies, no more */
	assert_int_equal(m2m_policy_check_use(priv, M2M_USE_SIGN, 0), 0);
	assert_int_equal(m2m_policy_check_use(priv, M2M_USE_VERIFY, 0),
	    M2M_ERR_KEY_FUNCTION);
	assert_int_equal(m2m_policy_check_use(priv, M2M_USE_DECRYPT, 0),
	    M2M_ERR_KEY_FUNCTION);
	assert_int_equal(m2m_policy_check_use(priv, M2M_USE_HKDF, 0),
	    M2M_ERR_KEY_FUNCTION);
	assert_int_equal(m2m_policy_check_use(priv, M2M_USE_WRAP, 0),
	    M2M_ERR_KEY_FUNCTION);
	assert_int_equal(m2m_policy_check_use(pub, M2M_USE_VERIFY, 0), 0);
	assert_int_equal(m2m_policy_check_use(pub, M2M_USE_SIGN, 0),
	    M2M_ERR_KEY_FUNCTION);
	/* CKA_VALUE of a private key: never, even with a blob */
	assert_int_equal(m2m_policy_readable(priv, CKA_VALUE),
	    M2M_ERR_ATTRIBUTE_SENSITIVE);
	assert_int_equal(m2m_object_set_blob(priv, (const uint8_t *)"b", 1),
	    0);
	assert_int_equal(m2m_policy_readable(priv, CKA_VALUE),
	    M2M_ERR_ATTRIBUTE_SENSITIVE);
	assert_int_equal(m2m_policy_readable(pub, CKA_VALUE),
	    M2M_ERR_ATTRIBUTE_TYPE);
	assert_int_equal(m2m_policy_readable(priv, CKA_EC_PARAMS), 0);
	m2m_object_free(pub);
	m2m_object_free(priv);
}

static void
test_pair_refused(void **state)
{
	CK_ULONG role = CK_M2M_ROLE_KER;
	CK_KEY_TYPE aes = CKK_AES;
	struct {
		struct m2m_attr	 pub[2];
		size_t		 npub;
		struct m2m_attr	 priv[2];
		size_t		 npriv;
		int		 want;
	} t[] = {
		{ { A(CKA_EC_PARAMS, K256, sizeof(K256)) }, 1, { { 0 } }, 0,
		  M2M_ERR_CURVE },
		{ { A(CKA_EC_PARAMS, P521, sizeof(P521)) }, 1, { { 0 } }, 0,
		  M2M_ERR_CURVE },
		{ { A(CKA_VERIFY, &yes, 1) }, 1, { { 0 } }, 0,
		  M2M_ERR_TEMPLATE_INCOMPLETE },
		{ { A(CKA_EC_PARAMS, P256, sizeof(P256)) }, 1,
		  { A(CKA_EXTRACTABLE, &yes, 1) }, 1,
		  M2M_ERR_TEMPLATE_INCONSISTENT },
		{ { A(CKA_EC_PARAMS, P256, sizeof(P256)) }, 1,
		  { A(CKA_SENSITIVE, &no, 1) }, 1,
		  M2M_ERR_TEMPLATE_INCONSISTENT },
		{ { A(CKA_EC_PARAMS, P256, sizeof(P256)) }, 1,
		  { A(CKA_DECRYPT, &yes, 1) }, 1,
		  M2M_ERR_TEMPLATE_INCONSISTENT },
		{ { A(CKA_EC_PARAMS, P256, sizeof(P256)) }, 1,
		  { A(CKA_PRIVATE, &no, 1) }, 1,
		  M2M_ERR_TEMPLATE_INCONSISTENT },
		{ { A(CKA_EC_PARAMS, P256, sizeof(P256)) }, 1,
		  { A(CKA_M2M_ROLE, &role, sizeof(role)) }, 1,
		  M2M_ERR_TEMPLATE_INCONSISTENT },
		{ { A(CKA_EC_PARAMS, P256, sizeof(P256)) }, 1,
		  { A(CKA_KEY_TYPE, &aes, sizeof(aes)) }, 1,
		  M2M_ERR_TEMPLATE_INCONSISTENT },
		{ { A(CKA_EC_PARAMS, P256, sizeof(P256)) }, 1,
		  { A(CKA_VALUE, "0123456789abcdef0123456789abcdef", 32) }, 1,
		  M2M_ERR_TEMPLATE_INCONSISTENT },
		{ { A(CKA_EC_PARAMS, P256, sizeof(P256)),
		  A(CKA_WRAP, &yes, 1) }, 2, { { 0 } }, 0,
		  M2M_ERR_TEMPLATE_INCONSISTENT },
		{ { A(CKA_EC_PARAMS, P256, sizeof(P256)),
		  A(CKA_APPLICATION, "x", 1) }, 2, { { 0 } }, 0,
		  M2M_ERR_TEMPLATE_INCONSISTENT },
		{ { A(CKA_EC_PARAMS, P256, sizeof(P256)) }, 1,
		  { A(CKA_EC_PARAMS, P384, sizeof(P384)) }, 1,
		  M2M_ERR_TEMPLATE_INCONSISTENT },
	};
	struct m2m_object *pub = NULL, *priv = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(m2m_policy_build_ec_pair(t[i].pub, t[i].npub,
		    t[i].priv, t[i].npriv, &pub, &priv), t[i].want);
		assert_null(pub);
		assert_null(priv);
	}
}

static void
test_ec_apply(void **state)
{
	struct m2m_object *pub = NULL, *priv = NULL;
	struct m2m_attr ext[] = { A(CKA_EXTRACTABLE, &yes, 1) };
	struct m2m_attr dec[] = { A(CKA_DECRYPT, &yes, 1) };
	struct m2m_attr priv0[] = { A(CKA_PRIVATE, &no, 1) };
	struct m2m_attr priv1[] = { A(CKA_PRIVATE, &yes, 1) };
	struct m2m_attr sign0[] = { A(CKA_SIGN, &no, 1) };
	struct m2m_attr lab[] = { A(CKA_LABEL, "new", 3) };
	struct m2m_attr par[] = { A(CKA_EC_PARAMS, P384, sizeof(P384)) };

	(void)state;
	pair_ok(P256, sizeof(P256), &pub, &priv);
	assert_int_equal(m2m_policy_apply(priv, ext, 1, M2M_APPLY_SET),
	    M2M_ERR_ATTRIBUTE_READ_ONLY);
	assert_int_equal(m2m_policy_apply(priv, dec, 1, M2M_APPLY_SET),
	    M2M_ERR_ATTRIBUTE_READ_ONLY);
	assert_int_equal(m2m_policy_apply(priv, priv0, 1, M2M_APPLY_COPY),
	    M2M_ERR_ATTRIBUTE_READ_ONLY);
	assert_int_equal(m2m_policy_apply(priv, par, 1, M2M_APPLY_SET),
	    M2M_ERR_ATTRIBUTE_READ_ONLY);
	assert_int_equal(m2m_policy_apply(priv, lab, 1, M2M_APPLY_SET), 0);
	assert_int_equal(m2m_policy_apply(priv, sign0, 1, M2M_APPLY_SET), 0);
	assert_int_equal(m2m_policy_check_use(priv, M2M_USE_SIGN, 0),
	    M2M_ERR_KEY_FUNCTION);
	/* a copy of the public key may be private */
	assert_int_equal(m2m_policy_apply(pub, priv1, 1, M2M_APPLY_COPY), 0);
	assert_int_equal(obool(pub, CKA_PRIVATE), 1);
	m2m_object_free(pub);
	m2m_object_free(priv);
}

/* A self-signed certificate, DER, OpenSSL-allocated. */
static int
make_cert(const char *cn, uint8_t **der)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "prime256v1");
	X509 *x = X509_new();
	int n;

	assert_non_null(k);
	assert_non_null(x);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	    MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	ASN1_INTEGER_set(X509_get_serialNumber(x), 99);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	*der = NULL;
	n = i2d_X509(x, der);
	assert_true(n > 0);
	X509_free(x);
	EVP_PKEY_free(k);
	return n;
}

static void
test_cert_build(void **state)
{
	CK_OBJECT_CLASS cc = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE x509 = CKC_X_509, wtls = CKC_WTLS;
	uint8_t *der = NULL, *der2 = NULL;
	struct m2m_cert_fields f;
	struct m2m_object *o = NULL;
	const struct m2m_attr *v, *a;
	int n = make_cert("one", &der), n2 = make_cert("two", &der2);
	struct m2m_attr t[] = {
		A(CKA_CLASS, &cc, sizeof(cc)),
		A(CKA_CERTIFICATE_TYPE, &x509, sizeof(x509)),
		A(CKA_VALUE, der, (size_t)n),
		A(CKA_ID, "id", 2),
		A(CKA_SUBJECT, NULL, 0),	/* set below */
	};
	struct m2m_policy_mech pm = { 0, 0, (unsigned long)-1, 0, 0, NULL };
	size_t vlen = 1;

	(void)state;
	assert_int_equal(m2m_cert_parse(der, (size_t)n, &f), 0);
	assert_int_equal(m2m_policy_build(M2M_ORIGIN_CREATE, t, 4, &pm, &o,
	    &v, &vlen), 0);
	assert_null(v);
	assert_int_equal(vlen, 0);
	assert_int_equal(o->cls, CKO_CERTIFICATE);
	a = m2m_object_attr(o, CKA_SUBJECT);
	assert_non_null(a);
	assert_int_equal(a->len, f.subject_len);
	assert_memory_equal(a->val, f.subject, a->len);
	a = m2m_object_attr(o, CKA_SERIAL_NUMBER);
	assert_int_equal(a->len, f.serial_len);
	assert_memory_equal(a->val, "\x02\x01\x63", 3);	/* INTEGER 99 */
	assert_int_equal(obool(o, CKA_PRIVATE), 0);
	assert_int_equal(obool(o, CKA_TRUSTED), 0);
	assert_int_equal(oulong(o, CKA_CERTIFICATE_CATEGORY), 0);
	/* its value is public data: readable, matched by a search */
	assert_int_equal(m2m_policy_readable(o, CKA_VALUE), 0);
	assert_true(m2m_policy_match(o, &t[2], 1));
	assert_int_equal(m2m_policy_check_use(o, M2M_USE_SIGN, 0),
	    M2M_ERR_KEY_TYPE);
	m2m_object_free(o);
	o = NULL;
	/* the template's subject must be the certificate's */
	t[4].val = f.subject;
	t[4].len = f.subject_len;
	assert_int_equal(m2m_policy_build(M2M_ORIGIN_CREATE, t, 5, &pm, &o,
	    &v, &vlen), 0);
	m2m_object_free(o);
	o = NULL;
	t[2].val = der2;
	t[2].len = (size_t)n2;
	assert_int_equal(m2m_policy_build(M2M_ORIGIN_CREATE, t, 5, &pm, &o,
	    &v, &vlen), M2M_ERR_TEMPLATE_INCONSISTENT);
	assert_null(o);
	/* malformed DER, trailing bytes, another type, no value */
	t[2].val = der;
	t[2].len = (size_t)n - 1;
	assert_int_equal(m2m_policy_build(M2M_ORIGIN_CREATE, t, 4, &pm, &o,
	    &v, &vlen), M2M_ERR_ATTRIBUTE_VALUE);
	t[1].val = (uint8_t *)&wtls;
	t[2].len = (size_t)n;
	assert_int_equal(m2m_policy_build(M2M_ORIGIN_CREATE, t, 4, &pm, &o,
	    &v, &vlen), M2M_ERR_ATTRIBUTE_VALUE);
	t[1].val = (uint8_t *)&x509;
	t[2].type = CKA_LABEL;
	assert_int_equal(m2m_policy_build(M2M_ORIGIN_CREATE, t, 4, &pm, &o,
	    &v, &vlen), M2M_ERR_TEMPLATE_INCOMPLETE);
	assert_null(o);
	m2m_cert_fields_free(&f);
	OPENSSL_free(der);
	OPENSSL_free(der2);
}

static void
test_ec_create(void **state)
{
	CK_OBJECT_CLASS pc = CKO_PRIVATE_KEY, uc = CKO_PUBLIC_KEY;
	CK_KEY_TYPE ec = CKK_EC;
	uint8_t d[32];
	struct m2m_attr t[] = {
		A(CKA_CLASS, &pc, sizeof(pc)), A(CKA_KEY_TYPE, &ec, sizeof(ec)),
		A(CKA_EC_PARAMS, P256, sizeof(P256)), A(CKA_VALUE, d, 32),
	};
	struct m2m_policy_mech pm = { 0, 0, (unsigned long)-1, 0, 0, NULL };
	struct m2m_object *o = NULL;
	const struct m2m_attr *v = NULL;
	size_t vlen = 0;

	(void)state;
	memset(d, 1, sizeof(d));
	assert_int_equal(m2m_policy_build(M2M_ORIGIN_CREATE, t, 4, &pm, &o,
	    &v, &vlen), 0);
	assert_ptr_equal(v, &t[3]);
	assert_int_equal(vlen, 32);
	assert_null(m2m_object_attr(o, CKA_VALUE));	/* wrapped, not kept */
	assert_int_equal(obool(o, CKA_ALWAYS_SENSITIVE), 0);
	assert_int_equal(obool(o, CKA_NEVER_EXTRACTABLE), 0);
	assert_int_equal(obool(o, CKA_LOCAL), 0);
	assert_int_equal(o->origin, M2M_ORIGIN_CREATE);
	m2m_object_free(o);
	o = NULL;
	/* a public key needs its point; an unsupported curve is said */
	t[0].val = (uint8_t *)&uc;
	t[3].type = CKA_LABEL;
	assert_int_equal(m2m_policy_build(M2M_ORIGIN_CREATE, t, 4, &pm, &o,
	    &v, &vlen), M2M_ERR_TEMPLATE_INCOMPLETE);
	t[3].type = CKA_EC_POINT;
	assert_int_equal(m2m_policy_build(M2M_ORIGIN_CREATE, t, 4, &pm, &o,
	    &v, &vlen), M2M_ERR_ATTRIBUTE_VALUE);
	t[2].val = (uint8_t *)K256;
	t[2].len = sizeof(K256);
	assert_int_equal(m2m_policy_build(M2M_ORIGIN_CREATE, t, 4, &pm, &o,
	    &v, &vlen), M2M_ERR_CURVE);
	assert_null(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_curves),
		cmocka_unit_test(test_points),
		cmocka_unit_test(test_pair_attrs),
		cmocka_unit_test(test_pair_refused),
		cmocka_unit_test(test_ec_apply),
		cmocka_unit_test(test_cert_build),
		cmocka_unit_test(test_ec_create),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
