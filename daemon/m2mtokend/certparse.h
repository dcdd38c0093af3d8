/*
 * m2mtokend: the parsers of the certificate methods (flow_cert.c), apart
 * so that they are fuzzed alone (tests/fuzz/fuzz_mtd_certparse.c).  Both
 * read caller input (IPC parameters).
 */
#ifndef M2MTOKEND_CERTPARSE_H
#define M2MTOKEND_CERTPARSE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#define MTD_SUBJECT_MAX	1024	/* bytes of a Csr subject */

/*
 * Adds the entries of subject "/TYPE=value/TYPE=value..." to name, in
 * order ('\' escapes the next byte; types as OpenSSL names them: CN, O,
 * OU, C, ...; values UTF-8).  0, or -1 when subject is malformed, longer
 * than MTD_SUBJECT_MAX, names an unknown type or has no entry (name may
 * then hold some entries: the caller frees it).
 */
int	mtd_parse_subject(const char *subject, X509_NAME *name);

/*
 * The one X.509 certificate in buf (len bytes): PEM when buf begins with
 * "-----BEGIN CERTIFICATE-----", else DER that must fill buf exactly.
 * NULL when it is not one (X509_free the result).
 */
X509	*mtd_parse_cert(const uint8_t *buf, size_t len);

#endif /* M2MTOKEND_CERTPARSE_H */
