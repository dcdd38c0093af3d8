/*
 * m2mtokend: the parsers of the certificate methods (flow_cert.c), apart
 * so that they are fuzzed alone (tests/fuzz/fuzz_mtd_certparse.c), and
 * the checks of Csr's subjectAltName values.  All read caller input (IPC
 * parameters).  flow_cert.c puts the checked names into the request as
 * GeneralNames, never through an OpenSSL configuration string.
 */
#ifndef M2MTOKEND_CERTPARSE_H
#define M2MTOKEND_CERTPARSE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#define MTD_SUBJECT_MAX	1024	/* bytes of a Csr subject */
#define MTD_SAN_DNS_MAX	253	/* bytes of a Csr sanDns (RFC 1035) */

/*
 * Adds the entries of subject "/TYPE=value/TYPE=value..." to name, in
 * order ('\' escapes the next byte; types as OpenSSL names them: CN, O,
 * OU, C, ...; values UTF-8).  0, or -1 when subject is malformed, longer
 * than MTD_SUBJECT_MAX, names an unknown type or has no entry (name may
 * then hold some entries: the caller frees it).
 */
int	mtd_parse_subject(const char *subject, X509_NAME *name);

/*
 * 0 when s is a host name for a subjectAltName dNSName: labels of 1..63
 * ASCII letters, digits and '-' (not first or last), joined by '.', at
 * most MTD_SAN_DNS_MAX bytes in all (no trailing dot, no wildcard);
 * else -1.
 */
int	mtd_san_dns_ok(const char *s);

/*
 * 0 when s is an absolute URI for a subjectAltName
 * uniformResourceIdentifier (RFC 5280 4.2.1.6): a scheme (a letter, then
 * letters, digits, '+', '-', '.'), ':' and a non-empty rest of RFC 3986
 * characters, '%' only before two hex digits, and no ',' (written %2C),
 * which a reader of the printed names ("URI:a, DNS:b") could take for a
 * second name; else -1.
 */
int	mtd_san_uri_ok(const char *s);

/*
 * The one X.509 certificate in buf (len bytes): PEM when buf begins with
 * "-----BEGIN CERTIFICATE-----" (one block, no headers, nothing but white
 * space after its END line), else DER that must fill buf exactly.  Either
 * way the DER must be DER, not BER: it re-encodes to the same bytes, so
 * what is stored is what was given.  NULL when it is not one, and then
 * *why (if why is not NULL) a static one-line reason.  X509_free the
 * result.
 */
X509	*mtd_parse_cert(const uint8_t *buf, size_t len, const char **why);

#endif /* M2MTOKEND_CERTPARSE_H */
