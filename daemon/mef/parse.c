/*
 * m2m-mef: parsers of the bootstrap body, the fetchCredentials path and
 * identifiers (parse.h).
 */
#include <ctype.h>
#include <string.h>

#include <json-c/json.h>

#include "ipc.h"
#include "parse.h"

#define JSON_DEPTH_MAX	4	/* object > array > string */

/* see parse.h */
int
mef_id_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n, k;
	unsigned long cp;

	if (s == NULL || len == 0 || len > MEF_ID_MAX)
		return 0;
	while (i < len) {
		if (p[i] < 0x80) {
			if (p[i] < 0x20 || p[i] == 0x7f)
				return 0;
			i++;
			continue;
		}
		if ((p[i] & 0xe0) == 0xc0) {
			n = 1;
			cp = p[i] & 0x1f;
		} else if ((p[i] & 0xf0) == 0xe0) {
			n = 2;
			cp = p[i] & 0x0f;
		} else if ((p[i] & 0xf8) == 0xf0) {
			n = 3;
			cp = p[i] & 0x07;
		} else
			return 0;
		if (len - i <= n)
			return 0;
		for (k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
		    (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff) ||
		    (cp >= 0x80 && cp <= 0x9f))
			return 0;
		i += n + 1;
	}
	return 1;
}

/* see parse.h */
int
mef_fqdn_valid(const char *s)
{
	size_t i, n, lab = 0;

	if (s == NULL || (n = strlen(s)) == 0 || n > MEF_FQDN_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (lab == 0)
				return 0;
			lab = 0;
			continue;
		}
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return 0;
		if (++lab > 63)
			return 0;
	}
	return lab > 0;
}

/* see parse.h */
int
mef_parse_bootstrap(const char *body, size_t len, struct mef_targets *ret,
    const char **ret_why)
{
	struct json_tokener *tok = NULL;
	struct json_object *root = NULL, *arr = NULL, *el;
	struct mef_targets t;
	const char *why = "the body is not one JSON object";
	const char *s;
	size_t i, j, end, sl;
	int r = MEF_ERR_INVALID;

	memset(&t, 0, sizeof(t));
	if (body == NULL || ret == NULL || ret_why == NULL)
		return MEF_ERR_INTERNAL;
	if (len == 0) {
		why = "the body is empty";
		goto out;
	}
	if (len > MEF_BODY_MAX) {
		why = "the body is too large";
		goto out;
	}
	/*
	 * json-c keeps the last of two equal members, and reads a
	 * single-quoted name: neither is JSON a client should send
	 * (m2m_ipc_names_once, daemon/common/ipc.h).
	 */
	if (!m2m_ipc_names_once(body, len, M2M_IPC_NAMES_MAX)) {
		why = "a member name is repeated, escaped or single-quoted";
		goto out;
	}
	if ((tok = json_tokener_new_ex(JSON_DEPTH_MAX)) == NULL) {
		r = MEF_ERR_NOMEM;
		goto out;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_ALLOW_TRAILING_CHARS | JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, body, (int)len);
	if (root == NULL) {
		if (json_tokener_get_error(tok) == json_tokener_error_depth)
			why = "the body is nested too deeply";
		else if (json_tokener_get_error(tok) == json_tokener_continue)
			why = "the body is truncated";
		goto out;
	}
	for (end = json_tokener_get_parse_end(tok); end < len; end++)
		if (!isspace((unsigned char)body[end])) {
			why = "data after the JSON object";
			goto out;
		}
	if (!json_object_is_type(root, json_type_object))
		goto out;
	if (!json_object_object_get_ex(root, "Targets", &arr)) {
		why = "member Targets is missing";
		goto out;
	}
	if (json_object_object_length(root) != 1) {
		why = "a member other than Targets";
		goto out;
	}
	if (!json_object_is_type(arr, json_type_array)) {
		why = "Targets is not an array";
		goto out;
	}
	if (json_object_array_length(arr) < 1 ||
	    json_object_array_length(arr) > MEF_TARGETS_MAX) {
		why = "Targets must hold 1 to 16 targets";
		goto out;
	}
	for (i = 0; i < json_object_array_length(arr); i++) {
		el = json_object_array_get_idx(arr, i);
		if (!json_object_is_type(el, json_type_string)) {
			why = "a target is not a string";
			goto out;
		}
		s = json_object_get_string(el);
		sl = (size_t)json_object_get_string_len(el);
		if (strlen(s) != sl || !mef_id_valid(s, sl)) {
			why = "a target is not a valid ID";
			goto out;
		}
		for (j = 0; j < t.n; j++)
			if (strcmp(t.id[j], s) == 0) {
				why = "a target is named twice";
				goto out;
			}
		memcpy(t.id[t.n], s, sl + 1);
		t.n++;
	}
	*ret = t;
	r = 0;
 out:
	json_object_put(root);
	if (tok != NULL)
		json_tokener_free(tok);
	if (r == MEF_ERR_INVALID)
		*ret_why = why;
	return r;
}

static int
is_hex(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

/* see parse.h */
int
mef_parse_fetch_path(const char *uri, struct mef_fetch_path *ret,
    const char **ret_why)
{
	static const char pre[] = "/fetchCredentials";
	const size_t plen = sizeof(pre) - 1;
	struct mef_fetch_path p;
	const char *k, *slash, *at;
	char fqdn[MEF_FQDN_MAX + 1];
	size_t klen, i;

	if (uri == NULL || ret == NULL || ret_why == NULL)
		return MEF_ERR_INTERNAL;
	if (strncmp(uri, pre, plen) != 0 ||
	    (uri[plen] != '\0' && uri[plen] != '/' && uri[plen] != '?'))
		return MEF_ERR_NOTFOUND;
	memset(&p, 0, sizeof(p));
	if (strpbrk(uri, "?#%") != NULL) {
		*ret_why = "the path holds a query, fragment or escape";
		return MEF_ERR_INVALID;
	}
	if (uri[plen] != '/' || uri[plen + 1] == '\0') {
		*ret_why = "the path names no KeId";
		return MEF_ERR_INVALID;
	}
	k = uri + plen + 1;
	slash = strchr(k, '/');
	klen = slash != NULL ? (size_t)(slash - k) : strlen(k);
	at = memchr(k, '@', klen);
	if (klen > MEF_KEID_MAX || at == NULL || at - k != MEF_KEID_HEX) {
		*ret_why = "the KeId is malformed";
		return MEF_ERR_INVALID;
	}
	for (i = 0; i < MEF_KEID_HEX; i++)
		if (!is_hex((unsigned char)k[i])) {
			*ret_why = "the KeId is malformed";
			return MEF_ERR_INVALID;
		}
	memcpy(fqdn, at + 1, klen - MEF_KEID_HEX - 1);
	fqdn[klen - MEF_KEID_HEX - 1] = '\0';
	if (!mef_fqdn_valid(fqdn)) {
		*ret_why = "the KeId is malformed";
		return MEF_ERR_INVALID;
	}
	for (i = 0; i < klen; i++)
		p.ke_id[i] = (char)tolower((unsigned char)k[i]);
	p.ke_id[klen] = '\0';
	if (slash != NULL) {
		if (strlen(slash + 1) != 2 || slash[1] < '1' ||
		    slash[1] > '9' || slash[2] < '0' || slash[2] > '9') {
			*ret_why = "the SUID is not a number 10 to 99";
			return MEF_ERR_INVALID;
		}
		p.suid = (unsigned int)((slash[1] - '0') * 10 +
		    (slash[2] - '0'));
	}
	*ret = p;
	return 0;
}

/* see parse.h */
int
mef_timestamp(time_t t, char out[MEF_TS_LEN + 1])
{
	struct tm tm;

	if (out == NULL || gmtime_r(&t, &tm) == NULL ||
	    tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0 ||
	    strftime(out, MEF_TS_LEN + 1, "%Y%m%dT%H%M%S", &tm) !=
	    MEF_TS_LEN)
		return MEF_ERR_INVALID;
	return 0;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* see parse.h */
int
mef_hex_decode(const char *s, size_t len, uint8_t *out, size_t cap)
{
	size_t i, n;
	int hi, lo;

	if (s == NULL || out == NULL)
		return MEF_ERR_INVALID;
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		len--;
	if (len == 0 || len % 2 != 0 || len / 2 > cap)
		return MEF_ERR_INVALID;
	n = len / 2;
	for (i = 0; i < n; i++) {
		hi = hexval((unsigned char)s[2 * i]);
		lo = hexval((unsigned char)s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return MEF_ERR_INVALID;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return (int)n;
}
