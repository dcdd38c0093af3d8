/*
 * m2mtokend: the parsers of the certificate methods (certparse.h).
 */
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

/* see certparse.h */
X509 *
mtd_parse_cert(const uint8_t *buf, size_t len)
{
	static const char pem[] = "-----BEGIN CERTIFICATE-----";
	const unsigned char *p = buf;
	X509 *x = NULL;
	BIO *b;

	if (buf == NULL || len == 0 || len > INT32_MAX)
		return NULL;
	if (len > sizeof(pem) - 1 && memcmp(buf, pem, sizeof(pem) - 1) == 0) {
		if ((b = BIO_new_mem_buf(buf, (int)len)) == NULL)
			return NULL;
		x = PEM_read_bio_X509(b, NULL, NULL, NULL);
		BIO_free(b);
		return x;
	}
	if ((x = d2i_X509(NULL, &p, (long)len)) != NULL && p != buf + len) {
		X509_free(x);
		x = NULL;
	}
	return x;
}
