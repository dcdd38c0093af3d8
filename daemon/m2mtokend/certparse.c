/*
 * m2mtokend: the parsers of the certificate methods (certparse.h).
 */
#define _GNU_SOURCE	/* memmem */
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "certparse.h"

/* see certparse.h */
int
mtd_parse_subject(const char *s, X509_NAME *name)
{
	char buf[MTD_SUBJECT_MAX + 1], *type, *val, *o;
	const char *p = s;

	if (s == NULL || strlen(s) > MTD_SUBJECT_MAX || *p++ != '/')
		return -1;
	while (*p != '\0') {
		o = buf;
		type = buf;
		val = NULL;
		while (*p != '\0' && *p != '/') {
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '=' && val == NULL) {
				*o++ = '\0';
				val = o;
				p++;
				continue;
			}
			*o++ = *p++;
		}
		*o = '\0';
		if (val == NULL || *type == '\0' || *val == '\0' ||
		    !X509_NAME_add_entry_by_txt(name, type, MBSTRING_UTF8,
		    (const unsigned char *)val, -1, -1, 0))
			return -1;
		if (*p == '/')
			p++;
	}
	return X509_NAME_entry_count(name) > 0 ? 0 : -1;
}

static int
alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
xdigit(int c)
{
	return digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* see certparse.h */
int
mtd_san_dns_ok(const char *s)
{
	size_t n, lab = 0;

	if (s == NULL || (n = strlen(s)) == 0 || n > MTD_SAN_DNS_MAX)
		return -1;
	for (; *s != '\0'; s++) {
		if (*s == '.') {
			if (lab == 0 || s[-1] == '-')
				return -1;
			lab = 0;
			continue;
		}
		if (!alpha(*s) && !digit(*s) && *s != '-')
			return -1;
		if ((lab == 0 && *s == '-') || ++lab > 63)
			return -1;
	}
	return lab > 0 && s[-1] != '-' ? 0 : -1;
}

/* see certparse.h */
int
mtd_san_uri_ok(const char *s)
{
	/* RFC 3986 unreserved, gen-delims and sub-delims but ',' */
	static const char other[] = "-._~:/?#[]@!$&'()*+;=";
	const char *p;

	if (s == NULL || !alpha(*s))
		return -1;
	for (p = s + 1; alpha(*p) || digit(*p) || *p == '+' || *p == '-' ||
	    *p == '.'; p++)
		;
	if (*p++ != ':' || *p == '\0')
		return -1;
	for (; *p != '\0'; p++) {
		if (*p == '%') {
			if (!xdigit(p[1]) || !xdigit(p[2]))
				return -1;
			p += 2;
		} else if (!alpha(*p) && !digit(*p) &&
		    strchr(other, *p) == NULL)
			return -1;
	}
	return 0;
}

/*
 * The DER certificate that fills buf exactly and re-encodes to the same
 * bytes, or NULL and *why.
 */
static X509 *
parse_der(const unsigned char *buf, long len, const char **why)
{
	const unsigned char *p = buf;
	unsigned char *enc = NULL;
	X509 *x;

	if ((x = d2i_X509(NULL, &p, len)) == NULL)
		return NULL;
	if (p != buf + len) {
		*why = "more than one certificate (data after the first)";
		goto bad;
	}
	/*
	 * d2i_X509() takes BER (a long-form length "83 00 01 6e", ...): its
	 * re-encoding is then other bytes than the ones given.  The signed
	 * part would be written back as read, so it is marked for encoding
	 * anew first (i2d_re_X509_tbs).
	 */
	if (i2d_re_X509_tbs(x, NULL) <= 0 || i2d_X509(x, &enc) != len ||
	    memcmp(enc, buf, (size_t)len) != 0) {
		*why = "not DER (a BER encoding, such as a long-form length, "
		    "that re-encodes to other bytes)";
		goto bad;
	}
	OPENSSL_free(enc);
	return x;
 bad:
	OPENSSL_free(enc);
	X509_free(x);
	return NULL;
}

/* see certparse.h */
X509 *
mtd_parse_cert(const uint8_t *buf, size_t len, const char **why)
{
	static const char pem[] = "-----BEGIN CERTIFICATE-----";
	static const char end[] = "-----END CERTIFICATE-----";
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	const uint8_t *e;
	const char *dummy;
	size_t i;
	long dlen;
	X509 *x = NULL;
	BIO *b;

	if (why == NULL)
		why = &dummy;
	*why = "not one X.509 certificate (DER or PEM)";
	if (buf == NULL || len == 0 || len > INT32_MAX)
		return NULL;
	if (len <= sizeof(pem) - 1 || memcmp(buf, pem, sizeof(pem) - 1) != 0)
		return parse_der(buf, (long)len, why);
	if ((b = BIO_new_mem_buf(buf, (int)len)) == NULL)
		return NULL;
	if (!PEM_read_bio(b, &name, &header, &data, &dlen) ||
	    strcmp(name, "CERTIFICATE") != 0)
		goto out;
	if (header[0] != '\0') {
		*why = "a PEM block with headers (Proc-Type, ...)";
		goto out;
	}
	/*
	 * After the dashes of the first END CERTIFICATE: white space only.
	 * Not what PEM_read_bio leaves unread, which starts after the END
	 * line: it takes bytes on that line after its dashes (found by
	 * fuzz_mtd_certparse).
	 */
	if ((e = memmem(buf, len, end, sizeof(end) - 1)) == NULL) {
		*why = "no END CERTIFICATE line";
		goto out;
	}
	for (i = (size_t)(e - buf) + sizeof(end) - 1; i < len; i++)
		if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\r' &&
		    buf[i] != '\n')
			break;
	if (i < len) {
		*why = "more than white space after the END CERTIFICATE line "
		    "(one certificate only)";
		goto out;
	}
	x = parse_der(data, dlen, why);
 out:
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(data);
	BIO_free(b);
	return x;
}
