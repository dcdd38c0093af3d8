/*
 * m2mtokend: a device's EC key and certificate for the certificate-based
 * bootstrap (docs/protocol.md, "KeyGen", "Csr", "CertImport"): the key pair
 * made in the token, a PKCS#10 request the token signs, and the issued
 * certificate stored next to its key once its public key is checked to be
 * the token key's.  Only the daemon holds the token: the m2mtoken command
 * asks for these over the flow IPC, under the caller ACL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certparse.h"
#include "errors.h"
#include "methods.h"
#include "methods_int.h"

#define PARAMS_MAX	64
#define POINT_MAX	160
#define ID_MAX		64
#define CERT_MAX	16384	/* CertImport input, DER or PEM */

/* The curves the token's EC keys use, and their DER OIDs (CKA_EC_PARAMS). */
static const struct {
	const char	*name;
	int		 nid;
	uint8_t		 der[10];
	size_t		 der_len;
} curves[] = {
	{ "P-256", NID_X9_62_prime256v1,
	    { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 },
	    10 },
	{ "P-384", NID_secp384r1,
	    { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 }, 7 },
};
#define NCURVES	(sizeof(curves) / sizeof(curves[0]))

static void
hex(const uint8_t *b, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	out[2 * n] = '\0';
}

/*
 * The token's public key labelled label as an EVP_PKEY (*ret), its CKA_ID
 * into id / *id_len and its curve's index into *ret_curve.  0, a CK_RV, or
 * M2M_IPC_ERR_* with err->detail.
 */
static long
token_pub(struct mtd *d, const char *label, EVP_PKEY **ret, uint8_t *id,
    size_t *id_len, size_t *ret_curve, struct mtd_err *err)
{
	uint8_t params[PARAMS_MAX], point[POINT_MAX];
	size_t pl = sizeof(params), ptl = sizeof(point), i;
	const unsigned char *p;
	ASN1_OCTET_STRING *os = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *op = NULL;
	EVP_PKEY_CTX *pc = NULL;
	const uint8_t *pt = point;
	size_t ptlen;
	long r;

	*id_len = ID_MAX;
	if ((r = (long)mtd_tok_ec_public(d->tok, label, params, &pl, point,
	    &ptl, id, id_len)) != CKR_OK) {
		if (r == CKR_KEY_HANDLE_INVALID)
			snprintf(err->detail, sizeof(err->detail), "no EC key "
			    "pair with this label in the token");
		return r;
	}
	for (i = 0; i < NCURVES; i++)
		if (pl == curves[i].der_len &&
		    memcmp(params, curves[i].der, pl) == 0)
			break;
	if (i == NCURVES) {
		snprintf(err->detail, sizeof(err->detail), "the key is not "
		    "on P-256 or P-384");
		return M2M_IPC_ERR_INVALID_PARAMETER;
	}
	*ret_curve = i;
	/* CKA_EC_POINT: the DER OCTET STRING of the point (or the point) */
	ptlen = ptl;
	p = point;
	if (ptl > 0 && point[0] == 0x04 && (os = d2i_ASN1_OCTET_STRING(NULL,
	    &p, (long)ptl)) != NULL && p == point + ptl) {
		pt = ASN1_STRING_get0_data(os);
		ptlen = (size_t)ASN1_STRING_length(os);
	}
	r = M2M_IPC_ERR_INTERNAL;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    OBJ_nid2sn(curves[i].nid), 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
	    pt, ptlen) || (op = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(pc) <= 0 ||
	    EVP_PKEY_fromdata(pc, ret, EVP_PKEY_PUBLIC_KEY, op) <= 0) {
		snprintf(err->detail, sizeof(err->detail), "the token's "
		    "public key cannot be read");
		goto out;
	}
	r = 0;
 out:
	EVP_PKEY_CTX_free(pc);
	OSSL_PARAM_free(op);
	OSSL_PARAM_BLD_free(bld);
	ASN1_OCTET_STRING_free(os);
	return r;
}

/* The key label parameter "key": 1..MTD_ID_MAX bytes. */
static long
key_label(struct json_object *params, const char **ret, struct mtd_err *err)
{
	return mtd_p_str(params, "key", 1, MTD_ID_MAX, ret, err);
}

/* see methods_int.h */
long
mtd_h_keygen(struct mtd_call *c, struct json_object *params,
    struct json_object *reply, struct mtd_err *err)
{
	static const char *const allowed[] = { "key", "id", "curve", NULL };
	struct mtd *d = c->d;
	const char *label, *cv = NULL;
	uint8_t *id = NULL, rnd[8], idb[ID_MAX];
	char idhex[2 * ID_MAX + 1], *pem = NULL;
	size_t idlen = 0, i, ci;
	EVP_PKEY *pub = NULL;
	BIO *b = NULL;
	BUF_MEM *bm;
	int exists = 0;
	long r;

	if ((r = mtd_p_only(params, allowed, err)) != 0 ||
	    (r = key_label(params, &label, err)) != 0 ||
	    (r = mtd_p_str(params, "curve", 0, 16, &cv, err)) != 0 ||
	    (r = mtd_p_b64(params, "id", 0, ID_MAX, &id, &idlen, err)) != 0)
		return r;
	for (i = 0; i < NCURVES; i++)
		if (strcmp(cv != NULL ? cv : "P-256", curves[i].name) == 0)
			break;
	if (i == NCURVES) {
		free(id);
		BAD(err, "parameter curve: P-256 or P-384 (the curves the "
		    "token supports)");
	}
	if (id == NULL || idlen == 0) {
		if ((r = (long)mtd_tok_random(d->tok, rnd, sizeof(rnd))) !=
		    CKR_OK)
			goto out;
		free(id);
		id = NULL;
	}
	r = (long)mtd_tok_ec_keygen(d->tok, label, id != NULL ? id : rnd,
	    id != NULL ? idlen : sizeof(rnd), curves[i].der,
	    curves[i].der_len, &exists);
	if (exists) {
		snprintf(err->detail, sizeof(err->detail), "an EC key "
		    "with this label exists already: nothing made");
		r = M2M_IPC_ERR_INVALID_PARAMETER;
	}
	if (r != 0)
		goto out;
	if ((r = token_pub(d, label, &pub, idb, &idlen, &ci, err)) != 0)
		goto out;
	hex(idb, idlen, idhex);
	r = M2M_IPC_ERR_NO_MEMORY;
	if ((b = BIO_new(BIO_s_mem())) == NULL ||
	    !PEM_write_bio_PUBKEY(b, pub) || BIO_write(b, "", 1) != 1)
		goto out;
	BIO_get_mem_ptr(b, &bm);
	pem = bm->data;
	if ((r = mtd_add_str(reply, "key", label)) != 0 ||
	    (r = mtd_add_str(reply, "id", idhex)) != 0 ||
	    (r = mtd_add_str(reply, "curve", curves[ci].name)) != 0 ||
	    (r = mtd_add_str(reply, "publicKey", pem)) != 0)
		goto out;
	r = 0;
 out:
	BIO_free(b);
	EVP_PKEY_free(pub);
	free(id);
	return r;
}

/* raw r||s (2n bytes) into a DER ECDSA-Sig-Value in *ret (OPENSSL_free). */
static int
sig_der(const uint8_t *raw, size_t len, unsigned char **ret, int *ret_len)
{
	ECDSA_SIG *sig;
	BIGNUM *r, *s;
	int n;

	*ret = NULL;
	if (len == 0 || len % 2 != 0 || (sig = ECDSA_SIG_new()) == NULL)
		return -1;
	r = BN_bin2bn(raw, (int)(len / 2), NULL);
	s = BN_bin2bn(raw + len / 2, (int)(len / 2), NULL);
	if (r == NULL || s == NULL || !ECDSA_SIG_set0(sig, r, s)) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(sig);
		return -1;
	}
	n = i2d_ECDSA_SIG(sig, ret);
	ECDSA_SIG_free(sig);
	if (n <= 0)
		return -1;
	*ret_len = n;
	return 0;
}

/* Appends a GeneralName of type (GEN_URI, GEN_DNS) holding v to gens. */
static int
san_add(GENERAL_NAMES *gens, int type, const char *v)
{
	ASN1_IA5STRING *s;
	GENERAL_NAME *g;

	if ((g = GENERAL_NAME_new()) == NULL)
		return -1;
	if ((s = ASN1_IA5STRING_new()) == NULL ||
	    !ASN1_STRING_set(s, v, (int)strlen(v))) {
		ASN1_IA5STRING_free(s);
		GENERAL_NAME_free(g);
		return -1;
	}
	GENERAL_NAME_set0_value(g, type, s);
	if (!sk_GENERAL_NAME_push(gens, g)) {
		GENERAL_NAME_free(g);
		return -1;
	}
	return 0;
}

/* see methods_int.h */
long
mtd_h_csr(struct mtd_call *c, struct json_object *params,
    struct json_object *reply, struct mtd_err *err)
{
	static const char *const allowed[] = { "key", "subject", "sanUri",
	    "sanDns", NULL };
	struct mtd *d = c->d;
	const char *label, *subject, *uri = NULL, *dns = NULL;
	uint8_t idb[ID_MAX], raw[160];
	size_t idlen, ci, rawlen = sizeof(raw);
	unsigned char *tbs = NULL, *der = NULL;
	const ASN1_BIT_STRING *csig;
	const X509_ALGOR *calg;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	GENERAL_NAMES *san = NULL;
	X509_NAME *name = NULL;
	X509_REQ *req = NULL;
	EVP_PKEY *pub = NULL;
	BIO *b = NULL;
	BUF_MEM *bm;
	int tbslen, derlen;
	long r;

	if ((r = mtd_p_only(params, allowed, err)) != 0 ||
	    (r = key_label(params, &label, err)) != 0 ||
	    (r = mtd_p_str(params, "subject", 1, MTD_SUBJECT_MAX, &subject,
	    err)) != 0 ||
	    (r = mtd_p_str(params, "sanUri", 0, MTD_ID_MAX, &uri, err)) != 0 ||
	    (r = mtd_p_str(params, "sanDns", 0, MTD_ID_MAX, &dns, err)) != 0)
		return r;
	if (uri != NULL && mtd_san_uri_ok(uri) != 0)
		BAD(err, "parameter sanUri: an absolute URI (scheme:rest) of "
		    "RFC 3986 characters, no space or ',' (write %%2C)");
	if (dns != NULL && mtd_san_dns_ok(dns) != 0)
		BAD(err, "parameter sanDns: a host name (ASCII letters, "
		    "digits, '-' in '.'-joined labels of 1..63 bytes, at most "
		    "%d bytes)", MTD_SAN_DNS_MAX);
	if ((name = X509_NAME_new()) == NULL)
		return M2M_IPC_ERR_NO_MEMORY;
	if (mtd_parse_subject(subject, name) != 0) {
		X509_NAME_free(name);
		BAD(err, "parameter subject: /TYPE=value/... with known "
		    "attribute types (e.g. /CN=dev1.example.com/O=Example)");
	}
	if ((r = token_pub(d, label, &pub, idb, &idlen, &ci, err)) != 0)
		goto out;
	r = M2M_IPC_ERR_NO_MEMORY;
	if ((req = X509_REQ_new()) == NULL || !X509_REQ_set_version(req, 0) ||
	    !X509_REQ_set_subject_name(req, name) ||
	    !X509_REQ_set_pubkey(req, pub))
		goto out;
	/* the names as given, one GeneralName each: nothing parses them */
	if (uri != NULL || dns != NULL) {
		if ((san = GENERAL_NAMES_new()) == NULL ||
		    (uri != NULL && san_add(san, GEN_URI, uri) != 0) ||
		    (dns != NULL && san_add(san, GEN_DNS, dns) != 0) ||
		    X509V3_add1_i2d(&exts, NID_subject_alt_name, san, 0,
		    X509V3_ADD_DEFAULT) != 1 ||
		    !X509_REQ_add_extensions(req, exts))
			goto out;
	}
	/* the token signs the request's CertificationRequestInfo */
	if ((tbslen = i2d_re_X509_REQ_tbs(req, &tbs)) <= 0)
		goto out;
	if ((r = (long)mtd_tok_ec_sign(d->tok, label, CKM_ECDSA_SHA256, tbs,
	    (size_t)tbslen, raw, &rawlen)) != CKR_OK)
		goto out;
	r = M2M_IPC_ERR_INTERNAL;
	X509_REQ_get0_signature(req, &csig, &calg);
	if (sig_der(raw, rawlen, &der, &derlen) != 0 ||
	    !X509_ALGOR_set0((X509_ALGOR *)calg,
	    OBJ_nid2obj(NID_ecdsa_with_SHA256), V_ASN1_UNDEF, NULL) ||
	    !ASN1_BIT_STRING_set((ASN1_BIT_STRING *)csig, der, derlen))
		goto out;
	((ASN1_BIT_STRING *)csig)->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT |
	    0x07);
	((ASN1_BIT_STRING *)csig)->flags |= ASN1_STRING_FLAG_BITS_LEFT;
	if (X509_REQ_verify(req, pub) != 1) {
		snprintf(err->detail, sizeof(err->detail), "the token's "
		    "signature of the request does not verify");
		goto out;
	}
	r = M2M_IPC_ERR_NO_MEMORY;
	if ((b = BIO_new(BIO_s_mem())) == NULL ||
	    !PEM_write_bio_X509_REQ(b, req) || BIO_write(b, "", 1) != 1)
		goto out;
	BIO_get_mem_ptr(b, &bm);
	if ((r = mtd_add_str(reply, "key", label)) != 0 ||
	    (r = mtd_add_str(reply, "csr", bm->data)) != 0)
		goto out;
	r = 0;
 out:
	BIO_free(b);
	OPENSSL_free(tbs);
	OPENSSL_free(der);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	GENERAL_NAMES_free(san);
	X509_REQ_free(req);
	X509_NAME_free(name);
	EVP_PKEY_free(pub);
	return r;
}

/* see methods_int.h */
long
mtd_h_cert_import(struct mtd_call *c, struct json_object *params,
    struct json_object *reply, struct mtd_err *err)
{
	static const char *const allowed[] = { "key", "certificate", NULL };
	struct mtd *d = c->d;
	const char *label, *why;
	uint8_t *buf = NULL, idb[ID_MAX];
	unsigned char *der = NULL, *subj = NULL, *iss = NULL, *ser = NULL;
	int derlen, sl, il, snl, nid, exists;
	size_t len, idlen, ci, i;
	char idhex[2 * ID_MAX + 1];
	EVP_PKEY *pub = NULL, *cpub;
	X509 *x = NULL;
	long r;

	if ((r = mtd_p_only(params, allowed, err)) != 0 ||
	    (r = key_label(params, &label, err)) != 0 ||
	    (r = mtd_p_b64(params, "certificate", 1, CERT_MAX, &buf, &len,
	    err)) != 0)
		return r;
	r = M2M_IPC_ERR_INVALID_PARAMETER;
	if ((x = mtd_parse_cert(buf, len, &why)) == NULL) {
		snprintf(err->detail, sizeof(err->detail), "parameter "
		    "certificate: %s: nothing stored", why);
		goto out;
	}
	/* the module stores a CKA_VALUE of CK_M2M_ATTR_MAX_LEN bytes at most */
	if ((derlen = i2d_X509(x, &der)) <= 0) {
		r = M2M_IPC_ERR_INTERNAL;
		goto out;
	}
	if (derlen > CK_M2M_ATTR_MAX_LEN) {
		snprintf(err->detail, sizeof(err->detail), "parameter "
		    "certificate: %d bytes of DER, more than the token stores "
		    "(%d): nothing stored", derlen, CK_M2M_ATTR_MAX_LEN);
		goto out;
	}
	if ((cpub = X509_get0_pubkey(x)) == NULL ||
	    EVP_PKEY_get_base_id(cpub) != EVP_PKEY_EC) {
		snprintf(err->detail, sizeof(err->detail), "the "
		    "certificate's key is not an EC key: nothing stored");
		goto out;
	}
	{
		char gname[64] = "";
		size_t gl = 0;

		(void)EVP_PKEY_get_utf8_string_param(cpub,
		    OSSL_PKEY_PARAM_GROUP_NAME, gname, sizeof(gname), &gl);
		nid = OBJ_sn2nid(gname);
		for (i = 0; i < NCURVES; i++)
			if (curves[i].nid == nid)
				break;
		if (i == NCURVES) {
			snprintf(err->detail, sizeof(err->detail), "the "
			    "certificate's key is on curve %.40s, not P-256 "
			    "or P-384 (the curves the token supports): "
			    "nothing stored", gname[0] ? gname : "?");
			goto out;
		}
	}
	if ((r = token_pub(d, label, &pub, idb, &idlen, &ci, err)) != 0)
		goto out;
	if (EVP_PKEY_eq(cpub, pub) != 1) {
		snprintf(err->detail, sizeof(err->detail), "the "
		    "certificate's public key is not the token key's: "
		    "nothing stored");
		r = M2M_IPC_ERR_INVALID_PARAMETER;
		goto out;
	}
	r = M2M_IPC_ERR_INTERNAL;
	if ((sl = i2d_X509_NAME(X509_get_subject_name(x), &subj)) <= 0 ||
	    (il = i2d_X509_NAME(X509_get_issuer_name(x), &iss)) <= 0 ||
	    (snl = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &ser)) <= 0)
		goto out;
	r = (long)mtd_tok_cert_import(d->tok, label, idb, idlen, der,
	    (size_t)derlen, subj, (size_t)sl, iss, (size_t)il, ser,
	    (size_t)snl, &exists);
	if (exists) {
		snprintf(err->detail, sizeof(err->detail), "a certificate "
		    "with this label is in the token already: nothing "
		    "stored");
		r = M2M_IPC_ERR_INVALID_PARAMETER;
	}
	if (r != 0)
		goto out;
	hex(idb, idlen, idhex);
	if ((r = mtd_add_str(reply, "key", label)) != 0 ||
	    (r = mtd_add_str(reply, "id", idhex)) != 0)
		goto out;
	r = 0;
 out:
	OPENSSL_free(der);
	OPENSSL_free(subj);
	OPENSSL_free(iss);
	OPENSSL_free(ser);
	X509_free(x);
	EVP_PKEY_free(pub);
	free(buf);
	return r;
}
