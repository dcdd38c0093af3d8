/*
 * fuzz_cert: the public-key data parsers of token/ec.c that C_CreateObject
 * and C_GenerateKeyPair run on caller bytes: m2m_cert_parse() (an X.509
 * certificate's DER, OpenSSL's d2i_X509 and the extraction of CKA_SUBJECT,
 * CKA_ISSUER and CKA_SERIAL_NUMBER), m2m_ec_curve() (CKA_EC_PARAMS) and
 * m2m_ec_point_parse() (CKA_EC_POINT on P-256 or P-384).  The first input
 * byte picks the parser (low two bits), the rest is the value.  Checks
 * beyond memory and UB errors: only the documented errors; on success the
 * fields are non-empty DER that parses again (a Name, an INTEGER), the
 * curve is one of the two, and the point lies inside the value with the
 * curve's length and the uncompressed form.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/x509.h>

#include "ec.h"
#include "err.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_cert(const uint8_t *p, size_t n)
{
	struct m2m_cert_fields f;
	const unsigned char *q;
	X509_NAME *nm;
	ASN1_INTEGER *i;
	int r;

	r = m2m_cert_parse(p, n, &f);
	if (r != 0) {
		if ((r != M2M_ERR_ATTRIBUTE_VALUE && r != M2M_ERR_NO_MEMORY) ||
		    f.subject != NULL || f.issuer != NULL || f.serial != NULL)
			abort();
		return;
	}
	if (f.subject_len == 0 || f.issuer_len == 0 || f.serial_len < 3)
		abort();
	q = f.subject;
	if ((nm = d2i_X509_NAME(NULL, &q, (long)f.subject_len)) == NULL ||
	    q != f.subject + f.subject_len)
		abort();
	X509_NAME_free(nm);
	q = f.serial;
	if ((i = d2i_ASN1_INTEGER(NULL, &q, (long)f.serial_len)) == NULL ||
	    q != f.serial + f.serial_len)
		abort();
	ASN1_INTEGER_free(i);
	m2m_cert_fields_free(&f);
	if (f.subject != NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum m2m_key_kind kind = 0;
	const uint8_t *pt = NULL;
	uint8_t *copy;
	size_t n, plen = 0;
	int r;

	if (size < 1)
		return 0;
	/* an exact-size heap copy: ASan sees any read past its end */
	n = size - 1;
	if ((copy = malloc(n == 0 ? 1 : n)) == NULL)
		abort();
	memcpy(copy, data + 1, n);
	switch (data[0] & 3) {
	case 0:
		check_cert(copy, n);
		break;
	case 1:
		r = m2m_ec_curve(copy, n, &kind);
		if ((r == 0 && kind != M2M_KIND_EC_P256 &&
		    kind != M2M_KIND_EC_P384) || (r != 0 && r != M2M_ERR_CURVE))
			abort();
		break;
	default:
		kind = (data[0] & 3) == 2 ? M2M_KIND_EC_P256 : M2M_KIND_EC_P384;
		r = m2m_ec_point_parse(kind, copy, n, &pt, &plen);
		if (r == 0 && (plen != 2 * m2m_ec_size(kind) + 1 ||
		    pt < copy || pt + plen > copy + n || pt[0] != 0x04))
			abort();
		if (r != 0 && r != M2M_ERR_ATTRIBUTE_VALUE &&
		    r != M2M_ERR_NO_MEMORY)
			abort();
	}
	free(copy);
	return 0;
}
