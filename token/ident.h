/*
 * oneM2M identifiers (onem2m-keys.md section 2.3, 4): NFKC normalisation,
 * hex, KeId, E2EKeyId, m2m:timestamp.  Pure functions, no backend.
 */
#ifndef M2M_IDENT_H
#define M2M_IDENT_H

#include <stddef.h>
#include <stdint.h>

#define M2M_ID_MAX	1024	/* longest identifier accepted (bytes) */

/*
 * NFKC of the UTF-8 string s[0..len) (libunistring), into a malloc'd,
 * NUL-terminated buffer; *ret_len excludes the NUL.  Invalid UTF-8, an
 * embedded NUL, len 0 or len > M2M_ID_MAX: M2M_ERR_ATTRIBUTE_VALUE.
 */
int	m2m_ident_nfkc(const uint8_t *s, size_t len, uint8_t **ret,
	    size_t *ret_len);

/* Lower-case hex of p[0..len) into out (2*len + 1 bytes, NUL-terminated). */
void	m2m_hex_encode(const uint8_t *p, size_t len, char *out);
/*
 * Decode exactly 2*outlen hex digits (either case) from s[0..slen).
 * M2M_ERR_INVALID_ARGUMENT on a wrong length or a non-hex character.
 */
int	m2m_hex_decode(const char *s, size_t slen, uint8_t *out,
	    size_t outlen);

/*
 * KeId = hex(rel[0..16)) "@" fqdn, malloc'd NUL-terminated.  fqdn must be
 * non-empty, <= 255 bytes, of a host name's characters only (letters,
 * digits, '-', '.'), else M2M_ERR_ATTRIBUTE_VALUE.
 */
int	m2m_ident_keid(const uint8_t rel[16], const char *fqdn, size_t fqdnlen,
	    char **ret);
/*
 * 1 if the identifiers a and b name the same key under the [profile] rule:
 * the part before the last '@' and the part after it compare
 * case-insensitively (ASCII); else 0.
 */
int	m2m_ident_equal(const uint8_t *a, size_t alen, const uint8_t *b,
	    size_t blen);
/*
 * The FQDN of an identifier of the form X "@" FQDN [ "/" SUID ]: pointer
 * into id and its length (up to a '/', as in a Kuc's label), or NULL when
 * there is no '@' or no FQDN follows it.
 */
const uint8_t *m2m_ident_fqdn(const uint8_t *id, size_t len,
	    size_t *ret_len);

/*
 * Parse an m2m:timestamp "YYYYMMDDTHHMMSS" (optionally with ",ffffff"
 * fractional seconds, ignored) as UTC seconds since the epoch.
 * M2M_ERR_ATTRIBUTE_VALUE on any other form or an impossible date.
 */
int	m2m_ident_timestamp_parse(const uint8_t *s, size_t len, int64_t *ret);

#endif /* M2M_IDENT_H */
