/*
 * Unit tests of the certificate methods' input checks
 * (daemon/m2mtokend/certparse.c): Csr's subjectAltName values and
 * CertImport's certificate (DER, not BER; PEM, one block and nothing but
 * white space after it).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "certparse.h"

#define NOT_ONE	"not one X.509 certificate (DER or PEM)"
#define NOT_DER	"not DER (a BER encoding, such as a long-form length, " \
		"that re-encodes to other bytes)"
#define TRAIL	"more than white space after the END CERTIFICATE line " \
		"(one certificate only)"

static void
test_san_dns(void **state)
{
	static const char *const good[] = { "dev7.example.com", "localhost",
	    "a", "x-1.Example.COM", "xn--dv7-bma.example.com", "0.1a", NULL };
	static const char *const bad[] = { "", "x,dirName:s",
	    "dev7.example.com,URI:urn:x", "dev7 example.com",
	    "d\xc3\xa9v7.example.com", "*.example.com", "-a.example.com",
	    "a-.example.com", "a..b", ".a", "a.", "dev_7.example.com",
	    "a:b", "a/b", NULL };
	char s[MTD_SAN_DNS_MAX + 3];
	size_t i;

	(void)state;
	for (i = 0; good[i] != NULL; i++)
		if (mtd_san_dns_ok(good[i]) != 0)
			fail_msg("sanDns \"%s\" refused", good[i]);
	for (i = 0; bad[i] != NULL; i++)
		if (mtd_san_dns_ok(bad[i]) == 0)
			fail_msg("sanDns \"%s\" accepted", bad[i]);
	assert_int_not_equal(mtd_san_dns_ok(NULL), 0);
	/* a label of 63 bytes, not 64 */
	memset(s, 'a', 63);
	memcpy(s + 63, ".b", 3);
	assert_int_equal(mtd_san_dns_ok(s), 0);
	memset(s, 'a', 64);
	memcpy(s + 64, ".b", 3);
	assert_int_not_equal(mtd_san_dns_ok(s), 0);
	/* MTD_SAN_DNS_MAX bytes in all, not one more */
	for (i = 0; i < MTD_SAN_DNS_MAX; i++)
		s[i] = i % 2 == 0 ? 'a' : '.';
	s[MTD_SAN_DNS_MAX] = '\0';
	assert_int_equal(mtd_san_dns_ok(s), 0);
	memcpy(s + MTD_SAN_DNS_MAX, ".a", 3);
	assert_int_not_equal(mtd_san_dns_ok(s), 0);
}

static void
test_san_uri(void **state)
{
	static const char *const good[] = { "urn:m2m:dev7",
	    "https://dev7.example.com:8443/a/b?c=d&e=f#g",
	    "urn:dev1%2CDNS:x", "mailto:a@example.com", "x:y",
	    "coap+tcp://[2001:db8::1]/~a!$'()*;=", NULL };
	static const char *const bad[] = { "", "urn:dev1,DNS:mef.example.com",
	    "urn:dev1,IP:10.0.0.1", "urn:dev 7", "urn:d\xc3\xa9v7", "dev7/x",
	    ":x", "1x:y", "urn:", "urn:a%2", "urn:a%G7", "urn:a\"b",
	    "urn:<a>", "urn:a\\b", "urn:a|b", "urn:a^b", "urn:a`b",
	    "urn:{a}", NULL };
	size_t i;

	(void)state;
	for (i = 0; good[i] != NULL; i++)
		if (mtd_san_uri_ok(good[i]) != 0)
			fail_msg("sanUri \"%s\" refused", good[i]);
	for (i = 0; bad[i] != NULL; i++)
		if (mtd_san_uri_ok(bad[i]) == 0)
			fail_msg("sanUri \"%s\" accepted", bad[i]);
	assert_int_not_equal(mtd_san_uri_ok(NULL), 0);
}

/* A self-signed P-256 certificate: its DER (*der, *der_len) and PEM. */
static void
make_cert(unsigned char **der, int *der_len, char **pem)
{
	EVP_PKEY *k;
	X509 *x;
	BIO *b;
	char *p;
	long n;
	int i;

	assert_non_null(k = EVP_EC_gen("P-256"));
	assert_non_null(x = X509_new());
	assert_true(X509_set_version(x, 2));
	assert_true(ASN1_INTEGER_set(X509_get_serialNumber(x), 7));
	/* names long enough for a tbsCertificate over 255 bytes */
	for (i = 0; i < 3; i++)
		assert_true(X509_NAME_add_entry_by_txt(
		    X509_get_subject_name(x), i == 0 ? "CN" : "OU",
		    MBSTRING_ASC, (const unsigned char *)"dev7.example.com, "
		    "a device of the certificate parse test", -1, -1, 0));
	assert_true(X509_set_issuer_name(x, X509_get_subject_name(x)));
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	assert_true(X509_set_pubkey(x, k));
	assert_true(X509_sign(x, k, EVP_sha256()));
	*der = NULL;
	assert_true((*der_len = i2d_X509(x, der)) > 0);
	/* the test's BER forms below rewrite a two-byte long-form length */
	assert_int_equal((*der)[0], 0x30);
	assert_int_equal((*der)[1], 0x82);
	assert_int_equal((*der)[4], 0x30);
	assert_int_equal((*der)[5], 0x82);
	assert_non_null(b = BIO_new(BIO_s_mem()));
	assert_true(PEM_write_bio_X509(b, x));
	n = BIO_get_mem_data(b, &p);
	assert_non_null(*pem = calloc(1, (size_t)n + 1));
	memcpy(*pem, p, (size_t)n);
	BIO_free(b);
	X509_free(x);
	EVP_PKEY_free(k);
}

/* mtd_parse_cert() of len bytes at buf refuses them with reason why. */
static void
refused(const void *buf, size_t len, const char *why)
{
	const char *w = NULL;
	X509 *x;

	x = mtd_parse_cert(buf, len, &w);
	if (x != NULL) {
		X509_free(x);
		fail_msg("accepted, not refused with \"%s\"", why);
	}
	assert_non_null(w);
	assert_string_equal(w, why);
}

/* mtd_parse_cert() of buf accepts it, its DER being der. */
static void
accepted(const void *buf, size_t len, const unsigned char *der, int der_len)
{
	unsigned char *enc = NULL;
	const char *w = NULL;
	X509 *x;

	if ((x = mtd_parse_cert(buf, len, &w)) == NULL)
		fail_msg("refused: %s", w);
	assert_int_equal(i2d_X509(x, &enc), der_len);
	assert_memory_equal(enc, der, (size_t)der_len);
	OPENSSL_free(enc);
	X509_free(x);
}

/*
 * BER that d2i_X509() takes (a long-form length of three bytes, "83 00 01
 * 6e", for "82 01 6e"), outside and in the signed part: refused, as not
 * what would be stored; DER with data after it; garbage.
 */
static void
test_cert_der(void **state)
{
	unsigned char *der, *ber;
	const unsigned char *p;
	char *pem;
	int len;
	X509 *x;

	(void)state;
	make_cert(&der, &len, &pem);
	accepted(der, (size_t)len, der, len);
	/* mtd_parse_cert() takes why NULL */
	assert_null(mtd_parse_cert(der, (size_t)len - 1, NULL));
	refused(der, (size_t)len - 1, NOT_ONE);
	refused("\x30\x82\x01\x00\x01\x02", 6, NOT_ONE);

	assert_non_null(ber = calloc(1, (size_t)len * 2 + 1));
	/* the outer SEQUENCE: 30 83 00 LL LL */
	ber[0] = 0x30;
	ber[1] = 0x83;
	ber[2] = 0x00;
	memcpy(ber + 3, der + 2, (size_t)len - 2);
	p = ber;
	assert_non_null(x = d2i_X509(NULL, &p, len + 1));
	X509_free(x);
	assert_ptr_equal(p, ber + len + 1);
	refused(ber, (size_t)len + 1, NOT_DER);

	/* the signed part (tbsCertificate): 30 82 LL+1 30 83 00 ll ll */
	memcpy(ber, der, 4);
	ber[2] = (unsigned char)((len - 4 + 1) >> 8);
	ber[3] = (unsigned char)((len - 4 + 1) & 0xff);
	ber[4] = 0x30;
	ber[5] = 0x83;
	ber[6] = 0x00;
	memcpy(ber + 7, der + 6, (size_t)len - 6);
	p = ber;
	assert_non_null(x = d2i_X509(NULL, &p, len + 1));
	X509_free(x);
	refused(ber, (size_t)len + 1, NOT_DER);

	/* one byte more, a second certificate */
	memcpy(ber, der, (size_t)len);
	ber[len] = 0;
	refused(ber, (size_t)len + 1, "more than one certificate (data "
	    "after the first)");
	memcpy(ber + len, der, (size_t)len);
	refused(ber, (size_t)len * 2, "more than one certificate (data "
	    "after the first)");
	free(ber);
	free(pem);
	OPENSSL_free(der);
}

/*
 * PEM: one block and white space after it; not a second certificate or
 * anything else after the END line, no headers, no BER inside.
 */
static void
test_cert_pem(void **state)
{
	unsigned char *der, *ber, *bp;
	char *pem, *s, *b64;
	size_t n;
	int len;
	BIO *b;

	(void)state;
	make_cert(&der, &len, &pem);
	n = strlen(pem);
	assert_non_null(s = calloc(1, 3 * n + 64));
	accepted(pem, n, der, len);
	snprintf(s, 3 * n + 64, "%s\n \t\r\n\n", pem);
	accepted(s, strlen(s), der, len);
	/* CRLF lines */
	for (bp = (unsigned char *)pem, b64 = s; *bp != '\0'; bp++) {
		if (*bp == '\n')
			*b64++ = '\r';
		*b64++ = (char)*bp;
	}
	*b64 = '\0';
	accepted(s, strlen(s), der, len);

	snprintf(s, 3 * n + 64, "%s%s", pem, pem);
	refused(s, strlen(s), TRAIL);
	snprintf(s, 3 * n + 64, "%s\n%s", pem, pem);
	refused(s, strlen(s), TRAIL);
	snprintf(s, 3 * n + 64, "%sx", pem);
	refused(s, strlen(s), TRAIL);
	snprintf(s, 3 * n + 64, "%s\n\n# a comment\n", pem);
	refused(s, strlen(s), TRAIL);
	snprintf(s, 3 * n + 64, "%s-----BEGIN PRIVATE KEY-----\n", pem);
	refused(s, strlen(s), TRAIL);
	/* NUL is no white space */
	memcpy(s, pem, n);
	s[n] = '\0';
	refused(s, n + 1, TRAIL);
	/*
	 * bytes on the END line itself, after its dashes: PEM_read_bio
	 * takes such a long line (found by fuzz_mtd_certparse in a CI run)
	 */
	memcpy(s, pem, n - 1);			/* without the last '\n' */
	memset(s + n - 1, 0xff, 123);		/* as the fuzzer's input */
	s[n - 1 + 123] = '\n';
	refused(s, n + 123, TRAIL);

	/* headers */
	b64 = strchr(pem, '\n') + 1;
	snprintf(s, 3 * n + 64, "-----BEGIN CERTIFICATE-----\nProc-Type: "
	    "4,ENCRYPTED\nDEK-Info: AES-128-CBC,00000000000000000000000000000000"
	    "\n\n%s", b64);
	refused(s, strlen(s), "a PEM block with headers (Proc-Type, ...)");
	/* a truncated block, another label's block */
	refused(pem, n - 10, NOT_ONE);
	snprintf(s, 3 * n + 64, "-----BEGIN CERTIFICATE-----X\n%s", b64);
	refused(s, strlen(s), NOT_ONE);

	/* the PEM of the outer-BER DER of test_cert_der */
	assert_non_null(ber = calloc(1, (size_t)len + 1));
	ber[0] = 0x30;
	ber[1] = 0x83;
	ber[2] = 0x00;
	memcpy(ber + 3, der + 2, (size_t)len - 2);
	assert_non_null(b = BIO_new(BIO_s_mem()));
	assert_true(PEM_write_bio(b, "CERTIFICATE", "", ber, len + 1));
	n = (size_t)BIO_get_mem_data(b, &b64);
	refused(b64, n, NOT_DER);
	BIO_free(b);
	free(ber);
	free(s);
	free(pem);
	OPENSSL_free(der);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_san_dns),
		cmocka_unit_test(test_san_uri),
		cmocka_unit_test(test_cert_der),
		cmocka_unit_test(test_cert_pem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
