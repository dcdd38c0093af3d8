/*
 * m2mtokend: HTTP/1.1 request writer and strict response reader (see
 * http.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"

static int
is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int
is_vchar_or_ws(unsigned char c)
{
	return (c >= 0x20 && c < 0x7f) || c == '\t' || c >= 0x80;
}

/* A decimal of at most 9 digits into *ret; -1 if not one. */
static int
decimal(const char *s, size_t n, long *ret)
{
	long v = 0;
	size_t i;

	if (n == 0 || n > 9)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	return 0;
}

/* see http.h */
int
mtd_http_parse_response(const char *buf, size_t len,
    struct mtd_http_resp *ret)
{
	struct mtd_http_resp r;
	const char *p, *eol, *colon, *v, *vend, *end;
	size_t head, i, nhdr = 0;
	long cl = -1, n;

	if (buf == NULL || ret == NULL)
		return MTD_HTTP_ERR_SYNTAX;
	memset(&r, 0, sizeof(r));
	r.rsc = -1;
	/* find the end of the head: the first CRLF CRLF */
	for (i = 0; i + 3 < len; i++)
		if (memcmp(buf + i, "\r\n\r\n", 4) == 0)
			break;
	if (i + 3 >= len) {
		/* no end yet: every byte so far must be plausible */
		if (len > MTD_HTTP_HEAD_MAX)
			return MTD_HTTP_ERR_TOO_LARGE;
		for (i = 0; i < len; i++) {
			if (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r'))
				return MTD_HTTP_ERR_SYNTAX;
			if (buf[i] == '\0')
				return MTD_HTTP_ERR_SYNTAX;
		}
		if (len >= 5 && memcmp(buf, "HTTP/", 5) != 0)
			return MTD_HTTP_ERR_SYNTAX;
		if (len < 5 && memcmp(buf, "HTTP/", len) != 0)
			return MTD_HTTP_ERR_SYNTAX;
		return MTD_HTTP_MORE;
	}
	head = i + 4;
	if (head > MTD_HTTP_HEAD_MAX)
		return MTD_HTTP_ERR_TOO_LARGE;
	end = buf + head - 2;	/* the last CRLF of the head */

	/* status line: HTTP/1.1 SP 3DIGIT SP reason CRLF */
	p = buf;
	eol = memchr(p, '\r', (size_t)(end - p));
	if (eol == NULL || eol[1] != '\n')
		return MTD_HTTP_ERR_SYNTAX;
	if (eol - p < 13 || memcmp(p, "HTTP/1.1 ", 9) != 0 ||
	    decimal(p + 9, 3, &n) != 0 || n < 100 || n > 599 || p[12] != ' ')
		return MTD_HTTP_ERR_SYNTAX;
	for (v = p + 13; v < eol; v++)
		if (!is_vchar_or_ws((unsigned char)*v))
			return MTD_HTTP_ERR_SYNTAX;
	r.status = (int)n;
	p = eol + 2;

	/* header fields */
	while (p < end) {
		eol = memchr(p, '\r', (size_t)(end - p));
		if (eol == NULL || eol[1] != '\n')
			return MTD_HTTP_ERR_SYNTAX;
		if (++nhdr > MTD_HTTP_HEADERS_MAX)
			return MTD_HTTP_ERR_TOO_LARGE;
		colon = memchr(p, ':', (size_t)(eol - p));
		if (colon == NULL || colon == p)
			return MTD_HTTP_ERR_SYNTAX;	/* also obs-fold */
		for (v = p; v < colon; v++)
			if (!is_tchar((unsigned char)*v))
				return MTD_HTTP_ERR_SYNTAX;
		v = colon + 1;
		while (v < eol && (*v == ' ' || *v == '\t'))
			v++;
		vend = eol;
		while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
			vend--;
		for (i = 0; v + i < vend; i++)
			if (!is_vchar_or_ws((unsigned char)v[i]))
				return MTD_HTTP_ERR_SYNTAX;
#define NAME_IS(s) ((size_t)(colon - p) == sizeof(s) - 1 && \
	strncasecmp(p, s, sizeof(s) - 1) == 0)
		if (NAME_IS("Content-Length")) {
			if (cl != -1)
				return MTD_HTTP_ERR_FRAMING;
			if (decimal(v, (size_t)(vend - v), &cl) != 0)
				return MTD_HTTP_ERR_FRAMING;
		} else if (NAME_IS("Transfer-Encoding")) {
			return MTD_HTTP_ERR_FRAMING;
		} else if (NAME_IS("X-M2M-RSC")) {
			if (r.rsc != -1 || decimal(v, (size_t)(vend - v),
			    &n) != 0 || n > 9999)
				return MTD_HTTP_ERR_SYNTAX;
			r.rsc = (int)n;
		} else if (NAME_IS("Content-Type")) {
			r.json = (size_t)(vend - v) >= 16 &&
			    strncasecmp(v, "application/json", 16) == 0 &&
			    ((size_t)(vend - v) == 16 || v[16] == ';');
		}
#undef NAME_IS
		p = eol + 2;
	}
	if (cl < 0)
		return MTD_HTTP_ERR_FRAMING;
	if (cl > MTD_HTTP_BODY_MAX)
		return MTD_HTTP_ERR_TOO_LARGE;
	if (len - head < (size_t)cl)
		return MTD_HTTP_MORE;
	if (len - head > (size_t)cl)
		return MTD_HTTP_ERR_TRAILING;
	r.body = buf + head;
	r.body_len = (size_t)cl;
	r.total = head + (size_t)cl;
	*ret = r;
	return 0;
}

static int
clean(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/* see http.h */
int
mtd_http_request(const char *method, const char *path, const char *host,
    const char *origin, const char *ri, const char *body, size_t body_len,
    char **ret_buf, size_t *ret_len)
{
	char *buf = NULL;
	size_t cap;
	int n;

	if (method == NULL || path == NULL || host == NULL || ri == NULL ||
	    ret_buf == NULL || ret_len == NULL || path[0] != '/' ||
	    !clean(method) || !clean(path) || !clean(host) ||
	    !clean(origin) || !clean(ri) || strchr(path, ' ') != NULL ||
	    (body == NULL && body_len > 0) || body_len > MTD_HTTP_BODY_MAX)
		return -1;
	cap = strlen(method) + strlen(path) + strlen(host) +
	    (origin ? strlen(origin) : 0) + strlen(ri) + body_len + 256;
	if ((buf = malloc(cap)) == NULL)
		return -2;
	n = snprintf(buf, cap, "%s %s HTTP/1.1\r\nHost: %s\r\n%s%s%s"
	    "X-M2M-RI: %s\r\nConnection: close\r\n", method, path, host,
	    origin ? "X-M2M-Origin: " : "", origin ? origin : "",
	    origin ? "\r\n" : "", ri);
	if (n < 0 || (size_t)n >= cap)
		goto fail;
	if (body != NULL) {
		n += snprintf(buf + n, cap - (size_t)n,
		    "Content-Type: application/json\r\n"
		    "Content-Length: %zu\r\n\r\n", body_len);
		if ((size_t)n + body_len >= cap)
			goto fail;
		memcpy(buf + n, body, body_len);
		n += (int)body_len;
	} else {
		n += snprintf(buf + n, cap - (size_t)n, "\r\n");
	}
	buf[n] = '\0';
	*ret_buf = buf;
	*ret_len = (size_t)n;
	return 0;
 fail:
	free(buf);
	return -1;
}
