/*
 * daemon/common: a peer's text made safe to show on a terminal.
 *
 * The flow IPC lets only valid UTF-8 through, but UTF-8 encodes the C1
 * controls too (U+0080..U+009F): "c2 9b" is CSI, which terminals obey as
 * ESC [ does.  A string shown to a user (a reply's label, an error's
 * reason) keeps every printable character, UTF-8 labels included, and
 * has each control character (C0, DEL, C1) and each byte that does not
 * start a UTF-8 character shown as one '?'.
 */
#ifndef M2M_DCOMMON_TEXT_H
#define M2M_DCOMMON_TEXT_H

#include <stddef.h>

/*
 * The UTF-8 character at s, of at most avail bytes: its length (1..4),
 * its code point in *cp; 0 if the bytes there are not one as RFC 3629
 * defines it (shortest form, no surrogates, nothing above U+10FFFF).
 */
size_t m2m_utf8_char(const unsigned char *s, size_t avail,
    unsigned long *cp);

/*
 * The character at s (a NUL-terminated string, s not at its NUL): its
 * length in *len (1 for a byte that starts no UTF-8 character) and its
 * code point (or that byte) in *cp (may be NULL).  1 if it may be shown
 * as it is: printable ASCII, '\n' if newline_ok, any other character from
 * U+00A0 on; 0 if it is shown as one '?'.
 */
int m2m_text_char(const char *s, int newline_ok, size_t *len,
    unsigned long *cp);

/*
 * src into dst (cap > 0 bytes, always NUL-terminated) as m2m_text_char()
 * shows it, cut only between characters: dst is valid UTF-8 without
 * control characters ('\n' if newline_ok).  Returns the bytes written.
 */
size_t m2m_text_copy(char *dst, size_t cap, const char *src,
    int newline_ok);

#endif /* M2M_DCOMMON_TEXT_H */
