/*
 * fuzz_mtd_certparse: the parsers of m2mtokend's certificate methods
 * (daemon/m2mtokend/certparse.c), which read IPC parameters: the Csr
 * subject "/TYPE=value/..." and the CertImport certificate (DER or PEM).
 * Beyond memory and UB errors it checks
 * the contract of certparse.h:
 *   - a subject accepted begins with '/', holds a '=', is at most
 *     MTD_SUBJECT_MAX bytes and gives a name of at least one entry that
 *     encodes;
 *   - a DER certificate accepted fills the input exactly and is DER: its
 *     encoding is the input, byte for byte (mtd_parse_cert refuses BER,
 *     which d2i_X509 takes);
 *   - a PEM certificate accepted re-encodes to a DER that parses again,
 *     and after its END CERTIFICATE line there is white space only;
 *   - a refusal has a reason;
 *   - a Csr sanDns accepted is 1..MTD_SAN_DNS_MAX bytes of letters,
 *     digits, '-' and '.', no label empty or over 63 bytes, no '-' at a
 *     label's ends; a sanUri accepted is printable ASCII without ' ' or
 *     ',' and holds a ':' after a letter-led scheme (mtd_san_*_ok).
 * The first byte picks the parser (bits 0 and 1).
 */
#define _GNU_SOURCE	/* memmem */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "certparse.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
subject(const uint8_t *data, size_t len)
{
	X509_NAME *n;
	char *s, line[256];

	if ((s = malloc(len + 1)) == NULL || (n = X509_NAME_new()) == NULL)
		abort();
	memcpy(s, data, len);
	s[len] = '\0';
	if (mtd_parse_subject(s, n) == 0) {
		if (X509_NAME_entry_count(n) < 1 || s[0] != '/' ||
		    strchr(s, '=') == NULL || strlen(s) > MTD_SUBJECT_MAX)
			abort();
		/* the name is usable: it encodes and prints */
		if (X509_NAME_oneline(n, line, sizeof(line)) == NULL ||
		    i2d_X509_NAME(n, NULL) <= 0)
			abort();
	}
	X509_NAME_free(n);
	free(s);
}

/* An accepted PEM input: white space only after its first END line. */
static void
pem_end(const uint8_t *data, size_t len)
{
	static const char end[] = "-----END CERTIFICATE-----";
	const uint8_t *e;
	size_t i;

	if ((e = memmem(data, len, end, sizeof(end) - 1)) == NULL)
		abort();
	for (i = (size_t)(e - data) + sizeof(end) - 1; i < len; i++)
		if (data[i] != ' ' && data[i] != '\t' && data[i] != '\r' &&
		    data[i] != '\n')
			abort();
}

static void
cert(const uint8_t *data, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	unsigned char *der = NULL;
	const unsigned char *p;
	const char *why = NULL;
	X509 *x, *y;
	int n;

	if (copy == NULL)
		abort();
	memcpy(copy, data, len);
	if ((x = mtd_parse_cert(copy, len, &why)) == NULL) {
		if (why == NULL || *why == '\0')
			abort();
	} else {
		if ((n = i2d_X509(x, &der)) <= 0)
			abort();
		p = der;
		if ((y = d2i_X509(NULL, &p, n)) == NULL)
			abort();
		X509_free(y);
		if (len > 0 && copy[0] != '-' &&
		    ((size_t)n != len || memcmp(der, copy, len) != 0))
			abort();
		if (len > 0 && copy[0] == '-')
			pem_end(copy, len);
		OPENSSL_free(der);
		X509_free(x);
	}
	free(copy);
}

/* A sanDns accepted: the host-name rules of certparse.h, checked again. */
static void
san_dns_check(const char *s)
{
	size_t n = strlen(s), i, lab = 0;

	if (n < 1 || n > MTD_SAN_DNS_MAX)
		abort();
	for (i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (lab < 1 || lab > 63 || s[i - 1] == '-' ||
			    s[i - lab] == '-')
				abort();
			lab = 0;
			continue;
		}
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			abort();
		lab++;
	}
}

/* A sanUri accepted: printable ASCII, no ' ' or ',', a scheme and ':'. */
static void
san_uri_check(const char *s)
{
	const char *c = strchr(s, ':');
	size_t i;

	if (c == NULL || c == s || c[1] == '\0' ||
	    !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		abort();
	for (i = 0; s[i] != '\0'; i++)
		if (s[i] <= ' ' || s[i] >= 0x7f || s[i] == ',')
			abort();
}

static void
san(const uint8_t *data, size_t len, int uri)
{
	char *s;

	if ((s = malloc(len + 1)) == NULL)
		abort();
	memcpy(s, data, len);
	s[len] = '\0';
	if (uri && mtd_san_uri_ok(s) == 0)
		san_uri_check(s);
	else if (!uri && mtd_san_dns_ok(s) == 0)
		san_dns_check(s);
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] & 3) {
	case 0:
		cert(data + 1, size - 1);
		break;
	case 1:
		subject(data + 1, size - 1);
		break;
	case 2:
		san(data + 1, size - 1, 0);
		break;
	default:
		san(data + 1, size - 1, 1);
		break;
	}
	return 0;
}
