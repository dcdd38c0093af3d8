/* m2mtoken: oneM2M identifiers.  See ident.h. */
#include <stdlib.h>
#include <string.h>

#include <unistr.h>
#include <uninorm.h>

#include "err.h"
#include "ident.h"

#define FQDN_MAX	255	/* longest MEF FQDN in a KeId */
#define REL_KEID_LEN	16	/* RelativeKeId bytes */
#define TS_BASE_LEN	15	/* "YYYYMMDDTHHMMSS" */
#define TS_FRAC_MAX	9	/* digits after ',' accepted (and ignored) */

static const char hexdigits[] = "0123456789abcdef";

/* see ident.h */
int
m2m_ident_nfkc(const uint8_t *s, size_t len, uint8_t **ret, size_t *ret_len)
{
	uint8_t *norm = NULL, *out = NULL;
	size_t normlen = 0;
	int r = M2M_ERR_INTERNAL;

	if (ret == NULL || ret_len == NULL || (s == NULL && len != 0))
		return M2M_ERR_INVALID_ARGUMENT;
	if (len == 0 || len > M2M_ID_MAX)
		return M2M_ERR_ATTRIBUTE_VALUE;
	if (memchr(s, '\0', len) != NULL || u8_check(s, len) != NULL)
		return M2M_ERR_ATTRIBUTE_VALUE;
	if ((norm = u8_normalize(UNINORM_NFKC, s, len, NULL,
	    &normlen)) == NULL) {
		/* the input was checked: only allocation can fail here */
		r = M2M_ERR_NO_MEMORY;
		goto out;
	}
	/* NFKC may expand (U+FDFA: 3 bytes -> 33); keep the named bound */
	if (normlen == 0 || normlen > M2M_ID_MAX) {
		r = M2M_ERR_ATTRIBUTE_VALUE;
		goto out;
	}
	if ((out = malloc(normlen + 1)) == NULL) {
		r = M2M_ERR_NO_MEMORY;
		goto out;
	}
	memcpy(out, norm, normlen);
	out[normlen] = '\0';
	*ret = out;
	*ret_len = normlen;
	out = NULL;	/* transferred */
	r = 0;
 out:
	free(out);
	free(norm);
	return r;
}

/* see ident.h */
void
m2m_hex_encode(const uint8_t *p, size_t len, char *out)
{
	size_t i;

	if (out == NULL)
		return;
	for (i = 0; i < len; i++) {
		out[2 * i] = hexdigits[p[i] >> 4];
		out[2 * i + 1] = hexdigits[p[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

/* The value of one hex digit, or -1. */
static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* see ident.h */
int
m2m_hex_decode(const char *s, size_t slen, uint8_t *out, size_t outlen)
{
	size_t i;

	if ((s == NULL && slen != 0) || (out == NULL && outlen != 0))
		return M2M_ERR_INVALID_ARGUMENT;
	if (outlen > SIZE_MAX / 2 || slen != 2 * outlen)
		return M2M_ERR_INVALID_ARGUMENT;
	/* validate everything first: nothing is written on failure */
	for (i = 0; i < slen; i++) {
		if (hexval(s[i]) < 0)
			return M2M_ERR_INVALID_ARGUMENT;
	}
	for (i = 0; i < outlen; i++)
		out[i] = (uint8_t)(hexval(s[2 * i]) << 4 |
		    hexval(s[2 * i + 1]));
	return 0;
}

/* A host name's characters only: letters, digits, '-' and '.'. */
static int
ldh(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '.'))
			return 0;
	return 1;
}

/* see ident.h */
int
m2m_ident_keid(const uint8_t rel[16], const char *fqdn, size_t fqdnlen,
    char **ret)
{
	char *id = NULL;
	size_t n;

	if (rel == NULL || fqdn == NULL || ret == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if (fqdnlen == 0 || fqdnlen > FQDN_MAX || !ldh(fqdn, fqdnlen))
		return M2M_ERR_ATTRIBUTE_VALUE;
	n = 2 * REL_KEID_LEN + 1 + fqdnlen;
	if ((id = malloc(n + 1)) == NULL)
		return M2M_ERR_NO_MEMORY;
	m2m_hex_encode(rel, REL_KEID_LEN, id);
	id[2 * REL_KEID_LEN] = '@';
	memcpy(id + 2 * REL_KEID_LEN + 1, fqdn, fqdnlen);
	id[n] = '\0';
	*ret = id;
	return 0;
}

static uint8_t
ascii_lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c - 'A' + 'a') : c;
}

/* 1 if a and b (both n bytes) are equal ignoring ASCII case. */
static int
ascii_caseeq(const uint8_t *a, const uint8_t *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (ascii_lower(a[i]) != ascii_lower(b[i]))
			return 0;
	}
	return 1;
}

/* Index of the last '@' in p[0..len), or len when there is none. */
static size_t
last_at(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = len; i > 0; i--) {
		if (p[i - 1] == '@')
			return i - 1;
	}
	return len;
}

/* see ident.h */
int
m2m_ident_equal(const uint8_t *a, size_t alen, const uint8_t *b,
    size_t blen)
{
	size_t aat, bat;

	if ((a == NULL && alen != 0) || (b == NULL && blen != 0))
		return 0;
	if (alen != blen)
		return 0;
	aat = last_at(a, alen);
	bat = last_at(b, blen);
	/* the local parts and the FQDNs must line up */
	if (aat != bat)
		return 0;
	return ascii_caseeq(a, b, aat) &&
	    ascii_caseeq(a + aat, b + bat, alen - aat);
}

/* The bytes of p[n] before the first c (n if none). */
static size_t
strcspn_n(const uint8_t *p, size_t n, uint8_t c)
{
	const uint8_t *e = memchr(p, c, n);

	return e != NULL ? (size_t)(e - p) : n;
}

/* see ident.h */
const uint8_t *
m2m_ident_fqdn(const uint8_t *id, size_t len, size_t *ret_len)
{
	size_t at, n;

	if (id == NULL || ret_len == NULL)
		return NULL;
	at = last_at(id, len);
	if (at == len || at + 1 == len)
		return NULL;
	/*
	 * up to a '/': a Kuc's label is <KeId>/<SUID>, and an E2E master
	 * derived from it names the MEF's FQDN, not "fqdn/SUID" (found in
	 * review: the two ends would compute other E2EKeyIds)
	 */
	if ((n = strcspn_n(id + at + 1, len - at - 1, '/')) == 0)
		return NULL;
	*ret_len = n;
	return id + at + 1;
}

/* The number in the n ASCII digits at s, or -1 if one is not a digit. */
static int
digits(const uint8_t *s, size_t n)
{
	int v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static int
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Leap years in [0, y) of the proleptic Gregorian calendar, y >= 0. */
static int64_t
leaps_before(int64_t y)
{
	return (y + 3) / 4 - (y + 99) / 100 + (y + 399) / 400;
}

/* Days from 1970-01-01 to y-m-d (m 1..12, d valid). */
static int64_t
days_from_epoch(int y, int m, int d)
{
	static const int before[12] = {
		0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334
	};
	int64_t days;

	days = 365 * (int64_t)y + leaps_before(y);
	days -= 365 * (int64_t)1970 + leaps_before(1970);
	days += before[m - 1] + (m > 2 && is_leap(y)) + (d - 1);
	return days;
}

/* see ident.h */
int
m2m_ident_timestamp_parse(const uint8_t *s, size_t len, int64_t *ret)
{
	static const int mdays[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};
	int y, mo, d, h, mi, se, dim;

	if (s == NULL || ret == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if (len < TS_BASE_LEN || len > TS_BASE_LEN + 1 + TS_FRAC_MAX)
		return M2M_ERR_ATTRIBUTE_VALUE;
	if (s[8] != 'T')
		return M2M_ERR_ATTRIBUTE_VALUE;
	if ((y = digits(s, 4)) < 0 || (mo = digits(s + 4, 2)) < 0 ||
	    (d = digits(s + 6, 2)) < 0 || (h = digits(s + 9, 2)) < 0 ||
	    (mi = digits(s + 11, 2)) < 0 || (se = digits(s + 13, 2)) < 0)
		return M2M_ERR_ATTRIBUTE_VALUE;
	if (len > TS_BASE_LEN) {
		/* ",f" .. ",fffffffff": fractional seconds, ignored */
		if (s[TS_BASE_LEN] != ',' || len == TS_BASE_LEN + 1 ||
		    digits(s + TS_BASE_LEN + 1, len - TS_BASE_LEN - 1) < 0)
			return M2M_ERR_ATTRIBUTE_VALUE;
	}
	if (mo < 1 || mo > 12 || h > 23 || mi > 59 || se > 59)
		return M2M_ERR_ATTRIBUTE_VALUE;
	dim = mdays[mo - 1] + (mo == 2 && is_leap(y));
	if (d < 1 || d > dim)
		return M2M_ERR_ATTRIBUTE_VALUE;
	*ret = days_from_epoch(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
	return 0;
}
