/*
 * p11_ec: EC key pairs, certificates and data objects through the public
 * PKCS#11 API (issue 14).
 *
 * C_GenerateKeyPair(CKM_EC_KEY_PAIR_GEN) on P-256 and P-384 (token and
 * session objects), the attributes of both halves, CKM_ECDSA,
 * CKM_ECDSA_SHA256 and CKM_ECDSA_SHA384 one-shot and multi-part, verified
 * by the token (C_Verify with the public key) and by OpenSSL from
 * CKA_EC_POINT; the attribute policy of the private key; import of a
 * private key refused by default ([token] ec_import = no) and done when the
 * configuration allows it; a public key imported; X.509 certificates
 * (fields from the DER, found by the attributes clients search on) and
 * data objects; and the bad input of item 5: malformed certificates and
 * points, unsupported curves, conflicting key templates, each with its
 * exact CK_RV and nothing stored.
 *
 * A backend without EC keys (ec_generate NULL: the TPM backend before its
 * EC ops) must not list the mechanisms and answer CKR_MECHANISM_INVALID;
 * the key pair checks are then skipped, saying so.
 */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "p11client.h"

#ifndef CKR_CURVE_NOT_SUPPORTED
#define CKR_CURVE_NOT_SUPPORTED	0x140UL
#endif

static CK_SESSION_HANDLE S;
static CK_SLOT_ID SLOT;
static int has_ec;

static const uint8_t P256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d,
    0x03, 0x01, 0x07 };
static const uint8_t P384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
static const uint8_t K256[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a };
static const uint8_t P521[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23 };
static const uint8_t JUNK[] = { 0x01, 0x02, 0x03 };

static CK_OBJECT_CLASS C_PUB = CKO_PUBLIC_KEY, C_PRIV = CKO_PRIVATE_KEY;
static CK_OBJECT_CLASS C_CERT = CKO_CERTIFICATE, C_DATA = CKO_DATA;
static CK_KEY_TYPE K_EC = CKK_EC;
static CK_CERTIFICATE_TYPE X509T = CKC_X_509;
static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

/* ------------------------------------------------------------------ */
/* helpers                                                             */
/* ------------------------------------------------------------------ */

static CK_RV
attr(CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE t, void *buf, CK_ULONG *len)
{
	CK_ATTRIBUTE a = { t, buf, *len };
	CK_RV rv = F->C_GetAttributeValue(S, h, &a, 1);

	*len = a.ulValueLen;
	return rv;
}

static int
attr_bool(CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE t)
{
	CK_BBOOL b = 0xff;
	CK_ULONG n = 1;

	if (attr(h, t, &b, &n) != CKR_OK || n != 1)
		return -1;
	return b;
}

static CK_ULONG
attr_ulong(CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE t)
{
	CK_ULONG v = ~0UL, n = sizeof(v);

	if (attr(h, t, &v, &n) != CKR_OK || n != sizeof(v))
		return ~0UL;
	return v;
}

/* 1 if sig (r || s) verifies over dg with the point (0x04 X Y) of curve. */
static int
ossl_verify(const char *curve, const uint8_t *pt, size_t ptlen,
    const uint8_t *dg, size_t dlen, const uint8_t *sig, size_t siglen)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *pc = NULL, *vc = NULL;
	EVP_PKEY *pk = NULL;
	ECDSA_SIG *es = ECDSA_SIG_new();
	unsigned char *der = NULL;
	int derlen, ok = 0;

	if (bld == NULL || es == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    curve, 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
	    pt, ptlen) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(pc) != 1 ||
	    EVP_PKEY_fromdata(pc, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1 ||
	    !ECDSA_SIG_set0(es, BN_bin2bn(sig, (int)siglen / 2, NULL),
	    BN_bin2bn(sig + siglen / 2, (int)siglen / 2, NULL)) ||
	    (derlen = i2d_ECDSA_SIG(es, &der)) <= 0 ||
	    (vc = EVP_PKEY_CTX_new(pk, NULL)) == NULL ||
	    EVP_PKEY_verify_init(vc) != 1)
		goto out;
	ok = EVP_PKEY_verify(vc, der, (size_t)derlen, dg, dlen) == 1;
 out:
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	EVP_PKEY_CTX_free(vc);
	EVP_PKEY_CTX_free(pc);
	EVP_PKEY_free(pk);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return ok;
}

struct pair {
	const char		*curve;		/* OpenSSL's name */
	size_t			 size;		/* 32, 48 */
	CK_OBJECT_HANDLE	 pub, priv;
	uint8_t			 point[97];
	size_t			 ptlen;
};

/* A key pair of curve params (token objects when tok), or the CK_RV. */
static CK_RV
keygen(const uint8_t *params, size_t plen, CK_BBOOL tok, const char *id,
    struct pair *p)
{
	CK_MECHANISM m = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_ATTRIBUTE pubt[] = {
		{ CKA_EC_PARAMS, (void *)params, plen },
		{ CKA_TOKEN, &tok, 1 }, { CKA_VERIFY, &yes, 1 },
		{ CKA_ID, (void *)id, strlen(id) },
		{ CKA_LABEL, (void *)id, strlen(id) },
	};
	CK_ATTRIBUTE privt[] = {
		{ CKA_TOKEN, &tok, 1 }, { CKA_SIGN, &yes, 1 },
		{ CKA_LABEL, (void *)id, strlen(id) },
	};

	return F->C_GenerateKeyPair(S, &m, pubt, 5, privt, 3, &p->pub,
	    &p->priv);
}

/* The pair's point from CKA_EC_POINT (DER OCTET STRING). */
static void
read_point(struct pair *p)
{
	uint8_t buf[128];
	CK_ULONG n = sizeof(buf);

	p->ptlen = 0;
	if (!CHECK(attr(p->pub, CKA_EC_POINT, buf, &n) == CKR_OK &&
	    n == 2 * p->size + 3 && buf[0] == 0x04 &&
	    buf[1] == 2 * p->size + 1 && buf[2] == 0x04,
	    "%s: CKA_EC_POINT is a DER OCTET STRING of the uncompressed "
	    "point", p->curve))
		return;
	memcpy(p->point, buf + 2, n - 2);
	p->ptlen = n - 2;
}

/* ------------------------------------------------------------------ */
/* mechanisms                                                          */
/* ------------------------------------------------------------------ */

static void
test_mechanisms(void)
{
	CK_MECHANISM_TYPE list[64];
	CK_ULONG n = 64, i;
	CK_MECHANISM_INFO mi;
	int gen = 0, ecdsa = 0;
	struct pair p;

	P11C_MUST(F->C_GetMechanismList(SLOT, list, &n));
	for (i = 0; i < n; i++) {
		gen += list[i] == CKM_EC_KEY_PAIR_GEN;
		ecdsa += list[i] == CKM_ECDSA || list[i] == CKM_ECDSA_SHA256 ||
		    list[i] == CKM_ECDSA_SHA384;
	}
	has_ec = gen != 0;
	/* both backends have EC keys: a backend that lost them must fail */
	CHECK(has_ec && ecdsa == 3, "CKM_EC_KEY_PAIR_GEN and the three "
	    "ECDSA mechanisms listed (both backends have EC keys)");
	if (!has_ec) {
		CHECK(ecdsa == 0, "no ECDSA mechanism listed without EC keys");
		CHECK_RV(keygen(P256, sizeof(P256), no, "x", &p),
		    CKR_MECHANISM_INVALID,
		    "C_GenerateKeyPair without EC keys in the backend");
		return;
	}
	CHECK(ecdsa == 3, "CKM_ECDSA, CKM_ECDSA_SHA256, _SHA384 listed");
	CHECK_RV(F->C_GetMechanismInfo(SLOT, CKM_EC_KEY_PAIR_GEN, &mi),
	    CKR_OK, "C_GetMechanismInfo(CKM_EC_KEY_PAIR_GEN)");
	CHECK(mi.ulMinKeySize == 256 && mi.ulMaxKeySize == 384 &&
	    (mi.flags & CKF_GENERATE_KEY_PAIR) &&
	    (mi.flags & CKF_EC_NAMEDCURVE) && (mi.flags & CKF_EC_UNCOMPRESS),
	    "CKM_EC_KEY_PAIR_GEN: 256..384 bits, named curves, uncompressed");
	CHECK_RV(F->C_GetMechanismInfo(SLOT, CKM_ECDSA_SHA384, &mi), CKR_OK,
	    "C_GetMechanismInfo(CKM_ECDSA_SHA384)");
	CHECK((mi.flags & (CKF_SIGN | CKF_VERIFY)) ==
	    (CKF_SIGN | CKF_VERIFY), "CKM_ECDSA_SHA384 signs and verifies");
}

/* ------------------------------------------------------------------ */
/* key pairs and signatures                                            */
/* ------------------------------------------------------------------ */

static void
check_pair_attrs(struct pair *p, const uint8_t *params, size_t plen)
{
	uint8_t buf[128], id1[64], id2[64];
	CK_ULONG n, n1 = sizeof(id1), n2 = sizeof(id2);

	CHECK(attr_ulong(p->priv, CKA_CLASS) == CKO_PRIVATE_KEY &&
	    attr_ulong(p->pub, CKA_CLASS) == CKO_PUBLIC_KEY &&
	    attr_ulong(p->priv, CKA_KEY_TYPE) == CKK_EC &&
	    attr_ulong(p->pub, CKA_KEY_TYPE) == CKK_EC,
	    "%s: classes and CKK_EC", p->curve);
	n = sizeof(buf);
	CHECK(attr(p->priv, CKA_EC_PARAMS, buf, &n) == CKR_OK && n == plen &&
	    memcmp(buf, params, plen) == 0,
	    "%s: the private key answers CKA_EC_PARAMS (the curve's OID)",
	    p->curve);
	n = sizeof(buf);
	CHECK(attr(p->priv, CKA_EC_POINT, buf, &n) == CKR_OK &&
	    n == p->ptlen + 2 && memcmp(buf + 2, p->point, p->ptlen) == 0,
	    "%s: the private key answers the same CKA_EC_POINT (libp11)",
	    p->curve);
	CHECK(attr_bool(p->priv, CKA_SENSITIVE) == 1 &&
	    attr_bool(p->priv, CKA_EXTRACTABLE) == 0 &&
	    attr_bool(p->priv, CKA_ALWAYS_SENSITIVE) == 1 &&
	    attr_bool(p->priv, CKA_NEVER_EXTRACTABLE) == 1 &&
	    attr_bool(p->priv, CKA_LOCAL) == 1 &&
	    attr_bool(p->priv, CKA_PRIVATE) == 1 &&
	    attr_bool(p->priv, CKA_SIGN) == 1 &&
	    attr_bool(p->priv, CKA_DECRYPT) == 0 &&
	    attr_ulong(p->priv, CKA_KEY_GEN_MECHANISM) == CKM_EC_KEY_PAIR_GEN,
	    "%s: private key sensitive, never extractable, local, private, "
	    "sign only, made by CKM_EC_KEY_PAIR_GEN", p->curve);
	CHECK(attr_bool(p->pub, CKA_VERIFY) == 1 &&
	    attr_bool(p->pub, CKA_PRIVATE) == 0 &&
	    attr_bool(p->pub, CKA_LOCAL) == 1 &&
	    attr_bool(p->pub, CKA_ENCRYPT) == 0,
	    "%s: public key public, local, verify only", p->curve);
	CHECK(attr(p->pub, CKA_ID, id1, &n1) == CKR_OK &&
	    attr(p->priv, CKA_ID, id2, &n2) == CKR_OK && n1 == n2 &&
	    n1 != 0 && memcmp(id1, id2, n1) == 0,
	    "%s: CKA_ID of the public template names both keys", p->curve);
	n = sizeof(buf);
	CHECK_RV(attr(p->priv, CKA_VALUE, buf, &n), CKR_ATTRIBUTE_SENSITIVE,
	    "%s: C_GetAttributeValue(CKA_VALUE) of the private key",
	    p->curve);
	CHECK(n == CK_UNAVAILABLE_INFORMATION,
	    "%s: ... and its length is unavailable", p->curve);
}

static void
sign_verify(struct pair *p, CK_MECHANISM_TYPE mt, const char *name)
{
	CK_MECHANISM m = { mt, NULL, 0 };
	uint8_t msg[300], dg[64], sig[96], sig2[96];
	CK_ULONG siglen = 0, sig2len = sizeof(sig2);
	const EVP_MD *md;
	unsigned int dlen = 0;
	uint8_t *in = msg;
	CK_ULONG inlen = sizeof(msg);

	memset(msg, 'm', sizeof(msg));
	md = mt == CKM_ECDSA_SHA384 ? EVP_sha384() : EVP_sha256();
	EVP_Digest(msg, sizeof(msg), dg, &dlen, md, NULL);
	if (mt == CKM_ECDSA) {
		in = dg;	/* raw ECDSA: the digest itself */
		inlen = dlen;
	}
	CHECK_RV(F->C_SignInit(S, &m, p->priv), CKR_OK, "%s %s: C_SignInit",
	    p->curve, name);
	CHECK_RV(F->C_Sign(S, in, inlen, NULL, &siglen), CKR_OK,
	    "%s %s: C_Sign size query", p->curve, name);
	CHECK(siglen == 2 * p->size, "%s %s: the signature is r || s, %zu "
	    "bytes", p->curve, name, 2 * p->size);
	CHECK_RV(F->C_Sign(S, in, inlen, sig, &siglen), CKR_OK,
	    "%s %s: C_Sign", p->curve, name);
	CHECK(ossl_verify(p->curve, p->point, p->ptlen, dg, dlen, sig,
	    siglen), "%s %s: OpenSSL verifies the signature with "
	    "CKA_EC_POINT", p->curve, name);
	/* multi-part */
	CHECK_RV(F->C_SignInit(S, &m, p->priv), CKR_OK,
	    "%s %s: C_SignInit (parts)", p->curve, name);
	CHECK_RV(F->C_SignUpdate(S, in, 10), CKR_OK, "%s %s: C_SignUpdate",
	    p->curve, name);
	CHECK_RV(F->C_SignUpdate(S, in + 10, inlen - 10), CKR_OK,
	    "%s %s: C_SignUpdate", p->curve, name);
	CHECK_RV(F->C_SignFinal(S, sig2, &sig2len), CKR_OK,
	    "%s %s: C_SignFinal", p->curve, name);
	CHECK(sig2len == siglen && ossl_verify(p->curve, p->point, p->ptlen,
	    dg, dlen, sig2, sig2len), "%s %s: the multi-part signature "
	    "verifies", p->curve, name);
	/* the token verifies with the public key */
	CHECK_RV(F->C_VerifyInit(S, &m, p->pub), CKR_OK,
	    "%s %s: C_VerifyInit(public key)", p->curve, name);
	CHECK_RV(F->C_Verify(S, in, inlen, sig, siglen), CKR_OK,
	    "%s %s: C_Verify", p->curve, name);
	CHECK_RV(F->C_VerifyInit(S, &m, p->pub), CKR_OK,
	    "%s %s: C_VerifyInit (parts)", p->curve, name);
	CHECK_RV(F->C_VerifyUpdate(S, in, 7), CKR_OK, "%s %s: C_VerifyUpdate",
	    p->curve, name);
	CHECK_RV(F->C_VerifyUpdate(S, in + 7, inlen - 7), CKR_OK,
	    "%s %s: C_VerifyUpdate", p->curve, name);
	CHECK_RV(F->C_VerifyFinal(S, sig2, sig2len), CKR_OK,
	    "%s %s: C_VerifyFinal", p->curve, name);
	sig[5] ^= 1;
	CHECK_RV(F->C_VerifyInit(S, &m, p->pub), CKR_OK,
	    "%s %s: C_VerifyInit", p->curve, name);
	CHECK_RV(F->C_Verify(S, in, inlen, sig, siglen),
	    CKR_SIGNATURE_INVALID, "%s %s: C_Verify of a changed signature",
	    p->curve, name);
	CHECK_RV(F->C_VerifyInit(S, &m, p->pub), CKR_OK,
	    "%s %s: C_VerifyInit", p->curve, name);
	CHECK_RV(F->C_Verify(S, in, inlen, sig, siglen - 1),
	    CKR_SIGNATURE_LEN_RANGE, "%s %s: C_Verify of a short signature",
	    p->curve, name);
}

static void
test_pairs(struct pair *p256)
{
	struct pair p384, ps;
	CK_MECHANISM ecdsa = { CKM_ECDSA, NULL, 0 };
	CK_MECHANISM hm = { CKM_SHA256_HMAC, NULL, 0 };
	CK_MECHANISM kg = { CKM_GENERIC_SECRET_KEY_GEN, NULL, 0 };
	CK_ULONG vl = 32;
	CK_ATTRIBUTE hk[] = { { CKA_VALUE_LEN, &vl, sizeof(vl) } };
	CK_OBJECT_HANDLE hmac;
	uint8_t big[65], sig[96];
	CK_ULONG siglen = sizeof(sig);
	CK_ATTRIBUTE byid[] = { { CKA_CLASS, &C_PRIV, sizeof(C_PRIV) },
	    { CKA_ID, "p256", 4 } };
	CK_ATTRIBUTE bytype[] = { { CKA_KEY_TYPE, &K_EC, sizeof(K_EC) } };
	CK_OBJECT_HANDLE h[8];

	memset(p256, 0, sizeof(*p256));
	memset(&p384, 0, sizeof(p384));
	p256->curve = "prime256v1";
	p256->size = 32;
	p384.curve = "secp384r1";
	p384.size = 48;
	CHECK_RV(keygen(P256, sizeof(P256), yes, "p256", p256), CKR_OK,
	    "C_GenerateKeyPair P-256 (token objects)");
	CHECK_RV(keygen(P384, sizeof(P384), yes, "p384", &p384), CKR_OK,
	    "C_GenerateKeyPair P-384 (token objects)");
	read_point(p256);
	read_point(&p384);
	check_pair_attrs(p256, P256, sizeof(P256));
	check_pair_attrs(&p384, P384, sizeof(P384));
	sign_verify(p256, CKM_ECDSA, "CKM_ECDSA");
	sign_verify(p256, CKM_ECDSA_SHA256, "CKM_ECDSA_SHA256");
	sign_verify(p256, CKM_ECDSA_SHA384, "CKM_ECDSA_SHA384");
	sign_verify(&p384, CKM_ECDSA, "CKM_ECDSA");
	sign_verify(&p384, CKM_ECDSA_SHA256, "CKM_ECDSA_SHA256");
	sign_verify(&p384, CKM_ECDSA_SHA384, "CKM_ECDSA_SHA384");

	/* session objects */
	memset(&ps, 0, sizeof(ps));
	ps.curve = "prime256v1";
	ps.size = 32;
	CHECK_RV(keygen(P256, sizeof(P256), no, "sess", &ps), CKR_OK,
	    "C_GenerateKeyPair P-256 (session objects)");
	read_point(&ps);
	CHECK(attr_bool(ps.priv, CKA_TOKEN) == 0 &&
	    attr_bool(ps.pub, CKA_TOKEN) == 0, "session pair: CKA_TOKEN FALSE");
	sign_verify(&ps, CKM_ECDSA_SHA256, "CKM_ECDSA_SHA256 (session)");
	CHECK_RV(F->C_DestroyObject(S, ps.priv), CKR_OK,
	    "C_DestroyObject(session private key)");
	CHECK_RV(F->C_DestroyObject(S, ps.pub), CKR_OK,
	    "C_DestroyObject(session public key)");

	/* found by class and CKA_ID, and by key type */
	CHECK(p11c_find(S, byid, 2, h, 8) == 1 && h[0] == p256->priv,
	    "C_FindObjects(CKO_PRIVATE_KEY, CKA_ID) finds the P-256 key");
	CHECK(p11c_find(S, bytype, 1, NULL, 0) == 4,
	    "C_FindObjects(CKA_KEY_TYPE CKK_EC) finds both pairs");

	/* uses the keys do not have */
	CHECK_RV(F->C_SignInit(S, &ecdsa, p256->pub),
	    CKR_KEY_FUNCTION_NOT_PERMITTED, "C_SignInit with the public key");
	CHECK_RV(F->C_VerifyInit(S, &ecdsa, p256->priv),
	    CKR_KEY_FUNCTION_NOT_PERMITTED,
	    "C_VerifyInit with the private key");
	CHECK_RV(F->C_SignInit(S, &hm, p256->priv), CKR_KEY_TYPE_INCONSISTENT,
	    "C_SignInit(CKM_SHA256_HMAC) with an EC key");
	P11C_MUST(F->C_GenerateKey(S, &kg, hk, 1, &hmac));
	CHECK_RV(F->C_SignInit(S, &ecdsa, hmac), CKR_KEY_TYPE_INCONSISTENT,
	    "C_SignInit(CKM_ECDSA) with an HMAC key");
	CHECK_RV(F->C_EncryptInit(S, &ecdsa, p256->pub),
	    CKR_MECHANISM_INVALID, "C_EncryptInit(CKM_ECDSA)");
	/* raw ECDSA takes a digest: 1..64 bytes */
	memset(big, 1, sizeof(big));
	CHECK_RV(F->C_SignInit(S, &ecdsa, p256->priv), CKR_OK,
	    "C_SignInit(CKM_ECDSA)");
	CHECK_RV(F->C_Sign(S, big, sizeof(big), sig, &siglen),
	    CKR_DATA_LEN_RANGE, "CKM_ECDSA over 65 bytes");

	/* the private key's attributes never relax */
	{
		CK_ATTRIBUTE ext[] = { { CKA_EXTRACTABLE, &yes, 1 } };
		CK_ATTRIBUTE sens[] = { { CKA_SENSITIVE, &no, 1 } };
		CK_ATTRIBUTE dec[] = { { CKA_DECRYPT, &yes, 1 } };
		CK_ATTRIBUTE pub[] = { { CKA_PRIVATE, &no, 1 } };
		CK_ATTRIBUTE val[] = { { CKA_VALUE, big, 32 } };
		CK_ATTRIBUTE lab[] = { { CKA_LABEL, "renamed", 7 } };
		CK_OBJECT_HANDLE c;

		CHECK_RV(F->C_SetAttributeValue(S, p256->priv, ext, 1),
		    CKR_ATTRIBUTE_READ_ONLY, "set CKA_EXTRACTABLE TRUE");
		CHECK_RV(F->C_SetAttributeValue(S, p256->priv, sens, 1),
		    CKR_ATTRIBUTE_READ_ONLY, "set CKA_SENSITIVE FALSE");
		CHECK_RV(F->C_SetAttributeValue(S, p256->priv, dec, 1),
		    CKR_ATTRIBUTE_READ_ONLY, "set CKA_DECRYPT TRUE");
		CHECK_RV(F->C_SetAttributeValue(S, p256->priv, val, 1),
		    CKR_ATTRIBUTE_READ_ONLY, "set CKA_VALUE");
		CHECK_RV(F->C_CopyObject(S, p256->priv, pub, 1, &c),
		    CKR_ATTRIBUTE_READ_ONLY,
		    "C_CopyObject of the private key with CKA_PRIVATE FALSE");
		CHECK_RV(F->C_SetAttributeValue(S, p256->priv, lab, 1), CKR_OK,
		    "set CKA_LABEL of the private key");
	}
}

/* Conflicting and unsupported key pair templates: refused, nothing made. */
static void
test_bad_keygen(void)
{
	CK_MECHANISM m = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_MECHANISM mp = { CKM_EC_KEY_PAIR_GEN, (void *)P256, sizeof(P256) };
	CK_ULONG before = p11c_count(S), role = CK_M2M_ROLE_KER;
	CK_KEY_TYPE rsa = CKK_RSA;
	CK_OBJECT_HANDLE hp, hq;
	uint8_t pt[65];
	struct {
		const char	*what;
		CK_ATTRIBUTE	 pub[2];
		CK_ULONG	 npub;
		CK_ATTRIBUTE	 priv[2];
		CK_ULONG	 npriv;
		CK_RV		 want;
	} t[] = {
		{ "secp256k1",
		  { { CKA_EC_PARAMS, (void *)K256, sizeof(K256) } }, 1,
		  { { 0 } }, 0, CKR_CURVE_NOT_SUPPORTED },
		{ "P-521", { { CKA_EC_PARAMS, (void *)P521, sizeof(P521) } },
		  1, { { 0 } }, 0, CKR_CURVE_NOT_SUPPORTED },
		{ "a garbage CKA_EC_PARAMS",
		  { { CKA_EC_PARAMS, (void *)JUNK, sizeof(JUNK) } }, 1,
		  { { 0 } }, 0, CKR_CURVE_NOT_SUPPORTED },
		{ "no CKA_EC_PARAMS", { { CKA_VERIFY, &yes, 1 } }, 1,
		  { { 0 } }, 0, CKR_TEMPLATE_INCOMPLETE },
		{ "CKA_EXTRACTABLE TRUE on the private key",
		  { { CKA_EC_PARAMS, (void *)P256, sizeof(P256) } }, 1,
		  { { CKA_EXTRACTABLE, &yes, 1 } }, 1,
		  CKR_TEMPLATE_INCONSISTENT },
		{ "CKA_SENSITIVE FALSE on the private key",
		  { { CKA_EC_PARAMS, (void *)P256, sizeof(P256) } }, 1,
		  { { CKA_SENSITIVE, &no, 1 } }, 1, CKR_TEMPLATE_INCONSISTENT },
		{ "CKA_DECRYPT TRUE on the private key",
		  { { CKA_EC_PARAMS, (void *)P256, sizeof(P256) } }, 1,
		  { { CKA_DECRYPT, &yes, 1 } }, 1, CKR_TEMPLATE_INCONSISTENT },
		{ "CKA_ENCRYPT TRUE on the public key",
		  { { CKA_EC_PARAMS, (void *)P256, sizeof(P256) },
		  { CKA_ENCRYPT, &yes, 1 } }, 2, { { 0 } }, 0,
		  CKR_TEMPLATE_INCONSISTENT },
		{ "CKA_PRIVATE FALSE on the private key",
		  { { CKA_EC_PARAMS, (void *)P256, sizeof(P256) } }, 1,
		  { { CKA_PRIVATE, &no, 1 } }, 1, CKR_TEMPLATE_INCONSISTENT },
		{ "a role on the private key",
		  { { CKA_EC_PARAMS, (void *)P256, sizeof(P256) } }, 1,
		  { { CKA_M2M_ROLE, &role, sizeof(role) } }, 1,
		  CKR_TEMPLATE_INCONSISTENT },
		{ "a CKA_EC_POINT in the public template",
		  { { CKA_EC_PARAMS, (void *)P256, sizeof(P256) },
		  { CKA_EC_POINT, pt, sizeof(pt) } }, 2, { { 0 } }, 0,
		  CKR_TEMPLATE_INCONSISTENT },
		{ "different curves in the two templates",
		  { { CKA_EC_PARAMS, (void *)P256, sizeof(P256) } }, 1,
		  { { CKA_EC_PARAMS, (void *)P384, sizeof(P384) } }, 1,
		  CKR_TEMPLATE_INCONSISTENT },
		{ "CKK_RSA", { { CKA_EC_PARAMS, (void *)P256, sizeof(P256) } },
		  1, { { CKA_KEY_TYPE, &rsa, sizeof(rsa) } }, 1,
		  CKR_TEMPLATE_INCONSISTENT },
	};
	size_t i;

	memset(pt, 4, sizeof(pt));
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		CHECK_RV(F->C_GenerateKeyPair(S, &m, t[i].pub, t[i].npub,
		    t[i].npriv ? t[i].priv : NULL, t[i].npriv, &hp, &hq),
		    t[i].want, "C_GenerateKeyPair with %s", t[i].what);
	CHECK_RV(F->C_GenerateKeyPair(S, &mp, t[4].pub, 1, NULL, 0, &hp, &hq),
	    CKR_MECHANISM_PARAM_INVALID,
	    "CKM_EC_KEY_PAIR_GEN with a parameter");
	{
		CK_ATTRIBUTE tok[] = {
			{ CKA_EC_PARAMS, (void *)P256, sizeof(P256) },
			{ CKA_TOKEN, &yes, 1 },
		};
		CK_SESSION_HANDLE ro;

		P11C_MUST(F->C_OpenSession(SLOT, CKF_SERIAL_SESSION, NULL,
		    NULL, &ro));
		CHECK_RV(F->C_GenerateKeyPair(ro, &m, tok, 2, NULL, 0, &hp,
		    &hq), CKR_SESSION_READ_ONLY,
		    "C_GenerateKeyPair of token objects in a read-only "
		    "session");
		P11C_MUST(F->C_CloseSession(ro));
	}
	CHECK(p11c_count(S) == before,
	    "no refused C_GenerateKeyPair left an object");
}

/* ------------------------------------------------------------------ */
/* import                                                              */
/* ------------------------------------------------------------------ */

static CK_RV
import_priv(const uint8_t *d, size_t dlen, const uint8_t *params,
    size_t plen, CK_OBJECT_HANDLE *h)
{
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &C_PRIV, sizeof(C_PRIV) },
		{ CKA_KEY_TYPE, &K_EC, sizeof(K_EC) },
		{ CKA_TOKEN, &yes, 1 },
		{ CKA_EC_PARAMS, (void *)params, plen },
		{ CKA_VALUE, (void *)d, dlen },
		{ CKA_LABEL, "imported", 8 },
	};

	return F->C_CreateObject(S, t, 6, h);
}

/* A public key imported from its point; works on every backend. */
static void
test_import_public(void)
{
	/* P-256 generator: a point of the curve */
	static const char G[] = "046b17d1f2e12c4247f8bce6e563a440f277037d812de"
	    "b33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b"
	    "315ececbb6406837bf51f5";
	uint8_t pt[67], buf[80];
	CK_ULONG n, before;
	CK_OBJECT_HANDLE h;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &C_PUB, sizeof(C_PUB) },
		{ CKA_KEY_TYPE, &K_EC, sizeof(K_EC) },
		{ CKA_EC_PARAMS, (void *)P256, sizeof(P256) },
		{ CKA_EC_POINT, pt, sizeof(pt) },
	};

	pt[0] = 0x04;
	pt[1] = 65;
	p11c_unhex(G, pt + 2, 65);
	CHECK_RV(F->C_CreateObject(S, t, 4, &h), CKR_OK,
	    "C_CreateObject of an EC public key");
	n = sizeof(buf);
	CHECK(attr(h, CKA_EC_POINT, buf, &n) == CKR_OK && n == 67 &&
	    memcmp(buf, pt, 67) == 0, "its CKA_EC_POINT reads back");
	CHECK(attr_bool(h, CKA_LOCAL) == 0 &&
	    attr_ulong(h, CKA_KEY_GEN_MECHANISM) == CK_UNAVAILABLE_INFORMATION,
	    "an imported public key is not local");
	P11C_MUST(F->C_DestroyObject(S, h));
	before = p11c_count(S);
	/* the bare point is taken too, and stored in the DER form */
	t[3].pValue = pt + 2;
	t[3].ulValueLen = 65;
	CHECK_RV(F->C_CreateObject(S, t, 4, &h), CKR_OK,
	    "C_CreateObject of an EC public key given as the bare point");
	P11C_MUST(F->C_DestroyObject(S, h));
	/* a point off the curve, a truncated one, a compressed one */
	t[3].pValue = pt;
	t[3].ulValueLen = 67;
	pt[66] ^= 1;
	CHECK_RV(F->C_CreateObject(S, t, 4, &h), CKR_ATTRIBUTE_VALUE_INVALID,
	    "C_CreateObject of a point not on P-256");
	pt[66] ^= 1;
	t[3].ulValueLen = 66;
	CHECK_RV(F->C_CreateObject(S, t, 4, &h), CKR_ATTRIBUTE_VALUE_INVALID,
	    "C_CreateObject of a truncated CKA_EC_POINT");
	t[3].pValue = pt + 2;
	t[3].ulValueLen = 33;
	pt[2] = 0x02;
	CHECK_RV(F->C_CreateObject(S, t, 4, &h), CKR_ATTRIBUTE_VALUE_INVALID,
	    "C_CreateObject of a compressed point");
	pt[2] = 0x04;
	t[3].pValue = pt;
	t[3].ulValueLen = 67;
	t[2].pValue = (void *)P384;
	t[2].ulValueLen = sizeof(P384);
	CHECK_RV(F->C_CreateObject(S, t, 4, &h), CKR_ATTRIBUTE_VALUE_INVALID,
	    "C_CreateObject of a P-256 point named P-384");
	t[2].pValue = (void *)K256;
	t[2].ulValueLen = sizeof(K256);
	CHECK_RV(F->C_CreateObject(S, t, 4, &h), CKR_CURVE_NOT_SUPPORTED,
	    "C_CreateObject of a secp256k1 public key");
	CHECK(p11c_count(S) == before, "no refused public key was stored");
}

static void
test_import_off(void)
{
	uint8_t d[32];
	CK_OBJECT_HANDLE h;
	CK_ULONG before = p11c_count(S);

	memset(d, 0x11, sizeof(d));
	CHECK_RV(import_priv(d, 32, P256, sizeof(P256), &h),
	    CKR_TEMPLATE_INCONSISTENT,
	    "C_CreateObject of an EC private key with [token] ec_import = no");
	CHECK(p11c_count(S) == before, "... nothing stored");
}

/* Append "[token] ec_import = yes" to the configuration and restart. */
static void
enable_import(void)
{
	const char *path = getenv("M2MTOKEN_CONF");
	FILE *f;

	if (path == NULL || (f = fopen(path, "a")) == NULL)
		p11c_bail("cannot append to M2MTOKEN_CONF");
	fprintf(f, "\n[token]\nec_import = yes\n");
	fclose(f);
	P11C_MUST(F->C_Finalize(NULL));
	P11C_MUST(F->C_Initialize(NULL));
	S = p11c_user_session(SLOT);
}

static void
test_import_on(void)
{
	/* d = 1 on P-256: the public point is the generator */
	static const char G[] = "046b17d1f2e12c4247f8bce6e563a440f277037d812de"
	    "b33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b"
	    "315ececbb6406837bf51f5";
	static const char N[] = "ffffffff00000000ffffffffffffffffbce6faada71"
	    "79e84f3b9cac2fc632551";
	uint8_t d[48], g[65], buf[80], dg[32], sig[64];
	CK_ULONG n, siglen = sizeof(sig), before;
	CK_MECHANISM m = { CKM_ECDSA, NULL, 0 };
	CK_OBJECT_HANDLE h;

	memset(d, 0, sizeof(d));
	d[31] = 1;
	p11c_unhex(G, g, sizeof(g));
	CHECK_RV(import_priv(d, 32, P256, sizeof(P256), &h), CKR_OK,
	    "C_CreateObject of an EC private key with [token] ec_import = yes");
	n = sizeof(buf);
	CHECK(attr(h, CKA_EC_POINT, buf, &n) == CKR_OK && n == 67 &&
	    memcmp(buf + 2, g, 65) == 0,
	    "the imported key's CKA_EC_POINT is d * G");
	CHECK(attr_bool(h, CKA_SENSITIVE) == 1 &&
	    attr_bool(h, CKA_EXTRACTABLE) == 0 &&
	    attr_bool(h, CKA_ALWAYS_SENSITIVE) == 0 &&
	    attr_bool(h, CKA_NEVER_EXTRACTABLE) == 0 &&
	    attr_bool(h, CKA_LOCAL) == 0,
	    "an imported key: sensitive, not extractable, neither always "
	    "sensitive nor never extractable, not local");
	n = sizeof(buf);
	CHECK_RV(attr(h, CKA_VALUE, buf, &n), CKR_ATTRIBUTE_SENSITIVE,
	    "CKA_VALUE of the imported key");
	memset(dg, 7, sizeof(dg));
	CHECK_RV(F->C_SignInit(S, &m, h), CKR_OK, "C_SignInit(imported)");
	CHECK_RV(F->C_Sign(S, dg, sizeof(dg), sig, &siglen), CKR_OK,
	    "C_Sign(imported)");
	CHECK(ossl_verify("prime256v1", g, 65, dg, sizeof(dg), sig, siglen),
	    "OpenSSL verifies the imported key's signature");
	P11C_MUST(F->C_DestroyObject(S, h));

	before = p11c_count(S);
	d[31] = 0;
	CHECK_RV(import_priv(d, 32, P256, sizeof(P256), &h),
	    CKR_ATTRIBUTE_VALUE_INVALID, "import of d = 0");
	p11c_unhex(N, d, sizeof(d));
	CHECK_RV(import_priv(d, 32, P256, sizeof(P256), &h),
	    CKR_ATTRIBUTE_VALUE_INVALID, "import of d = n");
	CHECK_RV(import_priv(d, 31, P256, sizeof(P256), &h),
	    CKR_ATTRIBUTE_VALUE_INVALID, "import of a 31-byte d on P-256");
	CHECK_RV(import_priv(d, 32, K256, sizeof(K256), &h),
	    CKR_CURVE_NOT_SUPPORTED, "import of a secp256k1 key");
	memset(d, 0x22, sizeof(d));
	CHECK_RV(import_priv(d, 48, P384, sizeof(P384), &h), CKR_OK,
	    "import of a P-384 key");
	P11C_MUST(F->C_DestroyObject(S, h));
	CHECK(p11c_count(S) == before, "no refused import was stored");
}

/* ------------------------------------------------------------------ */
/* certificates                                                        */
/* ------------------------------------------------------------------ */

/* A self-signed P-256 certificate for cn, DER into *der (malloc'd). */
static int
make_cert(const char *cn, long serial, uint8_t **der)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "prime256v1");
	X509 *x = X509_new();
	X509_NAME *nm;
	int n = -1;

	*der = NULL;
	if (k == NULL || x == NULL)
		goto out;
	nm = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, nm);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	if (X509_sign(x, k, EVP_sha256()) <= 0)
		goto out;
	n = i2d_X509(x, der);
 out:
	X509_free(x);
	EVP_PKEY_free(k);
	return n;
}

static void
test_certificates(const struct pair *p256)
{
	uint8_t *der = NULL, *der2 = NULL, buf[2048], subj[256];
	int len, len2;
	CK_ULONG n, before, sn, serial_len;
	CK_OBJECT_HANDLE h, h2, found[8];
	X509 *x;
	const unsigned char *cp;
	uint8_t *subjp = subj, serial[32], *serialp = serial;
	CK_ULONG cat = 2;

	P11C_MUST((len = make_cert("device 1", 4242, &der)) > 0 ?
	    CKR_OK : CKR_GENERAL_ERROR);
	P11C_MUST((len2 = make_cert("device 2", 7, &der2)) > 0 ?
	    CKR_OK : CKR_GENERAL_ERROR);
	cp = der;
	x = d2i_X509(NULL, &cp, len);
	sn = (CK_ULONG)i2d_X509_NAME(X509_get_subject_name(x), &subjp);
	serial_len = (CK_ULONG)i2d_ASN1_INTEGER(X509_get0_serialNumber(x),
	    &serialp);
	X509_free(x);

	{
		CK_ATTRIBUTE t[] = {
			{ CKA_CLASS, &C_CERT, sizeof(C_CERT) },
			{ CKA_CERTIFICATE_TYPE, &X509T, sizeof(X509T) },
			{ CKA_TOKEN, &yes, 1 },
			{ CKA_VALUE, der, (CK_ULONG)len },
			{ CKA_ID, "p256", 4 },
			{ CKA_LABEL, "device-cert", 11 },
			{ CKA_CERTIFICATE_CATEGORY, &cat, sizeof(cat) },
		};

		CHECK_RV(F->C_CreateObject(S, t, 7, &h), CKR_OK,
		    "C_CreateObject of an X.509 certificate (CKA_ID of the "
		    "P-256 key)");
	}
	n = sizeof(buf);
	CHECK(attr(h, CKA_VALUE, buf, &n) == CKR_OK && n == (CK_ULONG)len &&
	    memcmp(buf, der, n) == 0, "CKA_VALUE reads back the DER");
	n = sizeof(buf);
	CHECK(attr(h, CKA_SUBJECT, buf, &n) == CKR_OK && n == sn &&
	    memcmp(buf, subj, n) == 0, "CKA_SUBJECT taken from the DER");
	n = sizeof(buf);
	CHECK(attr(h, CKA_SERIAL_NUMBER, buf, &n) == CKR_OK &&
	    n == serial_len && memcmp(buf, serial, n) == 0,
	    "CKA_SERIAL_NUMBER taken from the DER (DER INTEGER)");
	CHECK(attr_bool(h, CKA_PRIVATE) == 0 &&
	    attr_bool(h, CKA_TRUSTED) == 0 &&
	    attr_ulong(h, CKA_CERTIFICATE_TYPE) == CKC_X_509 &&
	    attr_ulong(h, CKA_CERTIFICATE_CATEGORY) == 2,
	    "the certificate is public, not trusted, X.509, category 2");

	/* found the ways clients look */
	{
		CK_ATTRIBUTE byid[] = { { CKA_CLASS, &C_CERT, sizeof(C_CERT) },
		    { CKA_ID, "p256", 4 } };
		CK_ATTRIBUTE bysubj[] = { { CKA_SUBJECT, subj, sn } };
		CK_ATTRIBUTE byis[] = { { CKA_ISSUER, subj, sn },
		    { CKA_SERIAL_NUMBER, serial, serial_len } };
		CK_ATTRIBUTE bylabel[] = { { CKA_LABEL, "device-cert", 11 } };
		CK_ATTRIBUTE bytype[] = { { CKA_CERTIFICATE_TYPE, &X509T,
		    sizeof(X509T) } };
		CK_ATTRIBUTE byval[] = { { CKA_VALUE, der, (CK_ULONG)len } };
		CK_ATTRIBUTE keyid[] = { { CKA_ID, "p256", 4 } };

		CHECK(p11c_find(S, byid, 2, found, 8) == 1 && found[0] == h,
		    "found by CKA_CLASS + CKA_ID");
		CHECK(p11c_find(S, bysubj, 1, found, 8) == 1 && found[0] == h,
		    "found by CKA_SUBJECT");
		CHECK(p11c_find(S, byis, 2, found, 8) == 1 && found[0] == h,
		    "found by CKA_ISSUER + CKA_SERIAL_NUMBER");
		CHECK(p11c_find(S, bylabel, 1, found, 8) == 1 &&
		    found[0] == h, "found by CKA_LABEL");
		CHECK(p11c_find(S, bytype, 1, NULL, 0) == 1,
		    "found by CKA_CERTIFICATE_TYPE");
		CHECK(p11c_find(S, byval, 1, found, 8) == 1 && found[0] == h,
		    "found by CKA_VALUE");
		if (has_ec)
			CHECK(p11c_find(S, keyid, 1, NULL, 0) == 3,
			    "CKA_ID links the certificate and both keys");
		/* a public object: seen after logout, the key is not */
		P11C_MUST(F->C_Logout(S));
		CHECK(p11c_find(S, byid, 2, NULL, 0) == 1,
		    "the certificate is found without login");
		CHECK(p11c_find(S, keyid, 1, NULL, 0) == (has_ec ? 2 : 1),
		    "... the private key is not");
		P11C_MUST(F->C_Login(S, CKU_USER,
		    (CK_UTF8CHAR_PTR)P11C_USER_PIN, strlen(P11C_USER_PIN)));
	}
	(void)p256;

	/* bad certificates: refused with their code, nothing stored */
	before = p11c_count(S);
	{
		uint8_t bad[2048];
		CK_ATTRIBUTE t[] = {
			{ CKA_CLASS, &C_CERT, sizeof(C_CERT) },
			{ CKA_CERTIFICATE_TYPE, &X509T, sizeof(X509T) },
			{ CKA_TOKEN, &yes, 1 },
			{ CKA_VALUE, der, (CK_ULONG)len - 1 },
			{ CKA_SUBJECT, subj, sn },
		};
		CK_CERTIFICATE_TYPE wtls = CKC_WTLS;

		CHECK_RV(F->C_CreateObject(S, t, 4, &h2),
		    CKR_ATTRIBUTE_VALUE_INVALID, "a truncated DER certificate");
		memcpy(bad, der, (size_t)len);
		bad[len] = 0;
		t[3].pValue = bad;
		t[3].ulValueLen = (CK_ULONG)len + 1;
		CHECK_RV(F->C_CreateObject(S, t, 4, &h2),
		    CKR_ATTRIBUTE_VALUE_INVALID,
		    "a DER certificate with a trailing byte");
		memset(bad, 0x30, 64);
		t[3].ulValueLen = 64;
		CHECK_RV(F->C_CreateObject(S, t, 4, &h2),
		    CKR_ATTRIBUTE_VALUE_INVALID, "garbage as a certificate");
		t[3].pValue = der2;
		t[3].ulValueLen = (CK_ULONG)len2;
		CHECK_RV(F->C_CreateObject(S, t, 5, &h2),
		    CKR_TEMPLATE_INCONSISTENT,
		    "a CKA_SUBJECT that is not the certificate's");
		CHECK_RV(F->C_CreateObject(S, t, 2, &h2),
		    CKR_TEMPLATE_INCOMPLETE, "a certificate without CKA_VALUE");
		t[1].pValue = &wtls;
		CHECK_RV(F->C_CreateObject(S, t, 4, &h2),
		    CKR_ATTRIBUTE_VALUE_INVALID, "a CKC_WTLS certificate");
		t[1].pValue = &X509T;
		t[4].type = CKA_TRUSTED;
		t[4].pValue = &yes;
		t[4].ulValueLen = 1;
		CHECK_RV(F->C_CreateObject(S, t, 5, &h2),
		    CKR_ATTRIBUTE_READ_ONLY,
		    "CKA_TRUSTED TRUE set by the user (SO only)");
	}
	CHECK(p11c_count(S) == before, "no refused certificate was stored");

	/* a certificate whose CKA_ID names no key is stored all the same */
	{
		CK_ATTRIBUTE t[] = {
			{ CKA_CLASS, &C_CERT, sizeof(C_CERT) },
			{ CKA_CERTIFICATE_TYPE, &X509T, sizeof(X509T) },
			{ CKA_VALUE, der2, (CK_ULONG)len2 },
			{ CKA_ID, "nokey", 5 },
		};
		CK_ATTRIBUTE lab[] = { { CKA_SUBJECT, subj, sn } };

		CHECK_RV(F->C_CreateObject(S, t, 4, &h2), CKR_OK,
		    "a certificate whose CKA_ID names no key");
		CHECK_RV(F->C_SetAttributeValue(S, h2, lab, 1),
		    CKR_ATTRIBUTE_READ_ONLY, "its CKA_SUBJECT cannot change");
		CHECK_RV(F->C_DestroyObject(S, h2), CKR_OK,
		    "C_DestroyObject(certificate)");
	}
	CHECK_RV(F->C_DestroyObject(S, h), CKR_OK,
	    "C_DestroyObject(token certificate)");
	CHECK(p11c_count(S) == before - 1, "the certificate is gone");
	OPENSSL_free(der);
	OPENSSL_free(der2);
}

/* Data objects: found by CKA_APPLICATION and CKA_OBJECT_ID. */
static void
test_data(void)
{
	static const uint8_t OID[] = { 0x06, 0x03, 0x2a, 0x03, 0x05 };
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &C_DATA, sizeof(C_DATA) },
		{ CKA_TOKEN, &yes, 1 }, { CKA_PRIVATE, &no, 1 },
		{ CKA_APPLICATION, "gateway", 7 },
		{ CKA_OBJECT_ID, (void *)OID, sizeof(OID) },
		{ CKA_VALUE, "settings", 8 },
	};
	CK_ATTRIBUTE byapp[] = { { CKA_CLASS, &C_DATA, sizeof(C_DATA) },
	    { CKA_APPLICATION, "gateway", 7 } };
	CK_ATTRIBUTE byoid[] = { { CKA_OBJECT_ID, (void *)OID, sizeof(OID) } };
	CK_OBJECT_HANDLE h, f[4];
	uint8_t buf[16];
	CK_ULONG n = sizeof(buf);

	CHECK_RV(F->C_CreateObject(S, t, 6, &h), CKR_OK,
	    "C_CreateObject(CKO_DATA) with CKA_APPLICATION, CKA_OBJECT_ID");
	CHECK(p11c_find(S, byapp, 2, f, 4) == 1 && f[0] == h,
	    "data object found by CKA_APPLICATION");
	CHECK(p11c_find(S, byoid, 1, f, 4) == 1 && f[0] == h,
	    "data object found by CKA_OBJECT_ID");
	CHECK(attr(h, CKA_VALUE, buf, &n) == CKR_OK && n == 8 &&
	    memcmp(buf, "settings", 8) == 0, "its CKA_VALUE reads back");
	CHECK_RV(F->C_DestroyObject(S, h), CKR_OK, "C_DestroyObject(data)");
}

int
main(int argc, char **argv)
{
	struct pair p256;

	p11c_load(argc, argv);
	S = p11c_setup("ec", &SLOT);
	memset(&p256, 0, sizeof(p256));
	test_mechanisms();
	if (has_ec) {
		test_pairs(&p256);
		test_bad_keygen();
		test_import_off();
	}
	test_import_public();
	test_certificates(&p256);
	test_data();
	if (has_ec) {
		enable_import();
		test_import_on();
	}
	P11C_MUST(F->C_Finalize(NULL));
	return p11c_finish();
}
