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
