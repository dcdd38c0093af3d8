/*
 * daemon/common: a peer's text made safe to show (see text.h).
 */
#include <string.h>

#include "text.h"

/* see text.h */
size_t
m2m_utf8_char(const unsigned char *s, size_t avail, unsigned long *cp)
{
	size_t n, k;
	unsigned long c;

	if (avail == 0)
		return 0;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 1;
		c = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 2;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 3;
		c = s[0] & 0x07;
	} else
		return 0;
	if (avail - 1 < n)
		return 0;
	for (k = 1; k <= n; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[k] & 0x3f);
	}
	if ((n == 2 && c < 0x800) || (n == 3 && c < 0x10000) ||
	    (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
		return 0;
	*cp = c;
	return n + 1;
}

/* see text.h */
int
m2m_text_char(const char *s, int newline_ok, size_t *len, unsigned long *cp)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned long c;
	size_t n;
	int bad = 0;

	/* strnlen: no character reads past the NUL */
	if ((n = m2m_utf8_char(u, strnlen(s, 4), &c)) == 0) {
		n = 1;
		c = u[0];
		bad = 1;
	}
	*len = n;
	if (cp != NULL)
		*cp = c;
	if (bad)
		return 0;
	if (c == '\n')
		return newline_ok;
	/* not C0, DEL or C1 (U+0080..U+009F: "c2 80".."c2 9f") */
	return c >= 0x20 && (c < 0x7f || c >= 0xa0);
}

/* see text.h */
size_t
m2m_text_copy(char *dst, size_t cap, const char *src, int newline_ok)
{
	size_t i = 0, o = 0, n, w;
	int ok;

	while (src[i] != '\0') {
		ok = m2m_text_char(src + i, newline_ok, &n, NULL);
		w = ok ? n : 1;
		if (o + w >= cap)
			break;	/* never half a character */
		if (ok)
			memcpy(dst + o, src + i, n);
		else
			dst[o] = '?';
		o += w;
		i += n;
	}
	dst[o] = '\0';
	return o;
}
