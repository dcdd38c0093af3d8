/*
 * m2mtokend: reading a call's parameters (see params.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "errors.h"
#include "params.h"

#define BAD(err, ...) do {						\
	snprintf((err)->detail, sizeof((err)->detail), __VA_ARGS__);	\
	return M2M_IPC_ERR_INVALID_PARAMETER;				\
} while (0)

/* see params.h */
int
mtd_p_only(struct json_object *params, const char *const *allowed,
    struct mtd_err *err)
{
	size_t i;

	json_object_object_foreach(params, key, val) {
		(void)val;
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (allowed[i] == NULL)
			BAD(err, "unknown parameter (allowed: see "
			    "docs/protocol.md)");
	}
	return 0;
}

static int
text_ok(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/* see params.h */
int
mtd_p_str(struct json_object *params, const char *name, int required,
    size_t max, const char **ret, struct mtd_err *err)
{
	struct json_object *v;
	const char *s;
	size_t n;

	*ret = NULL;
	if (!json_object_object_get_ex(params, name, &v)) {
		if (required)
			BAD(err, "parameter %s is required", name);
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		BAD(err, "parameter %s must be a string", name);
	s = json_object_get_string(v);
	n = (size_t)json_object_get_string_len(v);
	if (n == 0 || n > max)
		BAD(err, "parameter %s must be 1..%zu bytes", name, max);
	if (!text_ok(s, n))
		BAD(err, "parameter %s holds a control character", name);
	*ret = s;
	return 0;
}

/* see params.h */
int
mtd_p_int(struct json_object *params, const char *name, int required,
    long lo, long hi, long def, long *ret, struct mtd_err *err)
{
	struct json_object *v;
	int64_t n;

	if (!json_object_object_get_ex(params, name, &v)) {
		if (required)
			BAD(err, "parameter %s is required", name);
		*ret = def;
		return 0;
	}
	if (!json_object_is_type(v, json_type_int))
		BAD(err, "parameter %s must be an integer", name);
	n = json_object_get_int64(v);
	if (n < lo || n > hi)
		BAD(err, "parameter %s must be %ld..%ld", name, lo, hi);
	*ret = (long)n;
	return 0;
}

/* see params.h */
int
mtd_unb64(const char *s, size_t len, uint8_t *out, size_t cap,
    size_t *ret_len)
{
	size_t i, pad = 0, n;
	int d;

	if (len % 4 != 0)
		return -1;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c == '=') {
			/* only at the end, at most two */
			if (i < len - 2)
				return -1;
			pad++;
			continue;
		}
		if (pad > 0)
			return -1;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '+' || c == '/'))
			return -1;
	}
	n = len / 4 * 3 - pad;
	if (n > cap)
		return -1;
	if (len == 0) {
		*ret_len = 0;
		return 0;
	}
	{
		/* EVP_DecodeBlock writes whole groups: decode into a temp */
		uint8_t *tmp = malloc(len / 4 * 3 + 1);

		if (tmp == NULL)
			return -1;
		d = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)len);
		if (d < 0 || (size_t)d != len / 4 * 3) {
			OPENSSL_cleanse(tmp, len / 4 * 3 + 1);
			free(tmp);
			return -1;
		}
		memcpy(out, tmp, n);
		OPENSSL_cleanse(tmp, len / 4 * 3 + 1);
		free(tmp);
	}
	*ret_len = n;
	return 0;
}

/* see params.h */
char *
mtd_b64(const uint8_t *data, size_t len)
{
	char *s;

	if (len > MTD_DATA_MAX + 64)
		return NULL;
	if ((s = malloc((len + 2) / 3 * 4 + 1)) == NULL)
		return NULL;
	EVP_EncodeBlock((unsigned char *)s, data, (int)len);
	return s;
}

/* see params.h */
int
mtd_p_b64(struct json_object *params, const char *name, int required,
    size_t max, uint8_t **ret, size_t *ret_len, struct mtd_err *err)
{
	struct json_object *v;
	uint8_t *buf = NULL;
	size_t n;

	*ret = NULL;
	*ret_len = 0;
	if (!json_object_object_get_ex(params, name, &v)) {
		if (required)
			BAD(err, "parameter %s is required", name);
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		BAD(err, "parameter %s must be a base64 string", name);
	n = (size_t)json_object_get_string_len(v);
	if (n > (max + 2) / 3 * 4)
		BAD(err, "parameter %s: more than %zu bytes", name, max);
	if ((buf = malloc(n / 4 * 3 + 1)) == NULL)
		return M2M_IPC_ERR_NO_MEMORY;
	if (mtd_unb64(json_object_get_string(v), n, buf, max, &n) != 0) {
		free(buf);
		BAD(err, "parameter %s is not base64 (RFC 4648, padded) of "
		    "at most %zu bytes", name, max);
	}
	*ret = buf;
	*ret_len = n;
	return 0;
}

/* see params.h */
int
mtd_p_keyref(struct json_object *params, struct mtd_keyref *ret,
    struct mtd_err *err)
{
	const char *role = NULL;
	int r;

	ret->role = MTD_ROLE_ANY;
	if ((r = mtd_p_str(params, "key", 1, MTD_ID_MAX, &ret->label,
	    err)) != 0 ||
	    (r = mtd_p_str(params, "role", 0, 32, &role, err)) != 0 ||
	    (r = mtd_p_str(params, "peer", 0, MTD_ID_MAX, &ret->peer,
	    err)) != 0)
		return r;
	if (role != NULL && mtd_role_from_name(role, &ret->role) != 0)
		BAD(err, "parameter role: not a role name (kpm, ke, km, kpsa, "
		    "kuc, kc, e2e-master, e2e-msg-auth, e2e-msg-conf, "
		    "e2e-att-auth, e2e-att-conf)");
	return 0;
}

/* see params.h */
int
mtd_p_e2e_use(struct json_object *params, int conf, CK_ULONG *ret_role,
    struct mtd_err *err)
{
	const char *use = NULL;
	int r;

	if ((r = mtd_p_str(params, "use", 0, 16, &use, err)) != 0)
		return r;
	if (use == NULL || strcmp(use, "message") == 0)
		*ret_role = conf ? CK_M2M_ROLE_KE2E_MSG_CONF :
		    CK_M2M_ROLE_KE2E_MSG_AUTH;
	else if (strcmp(use, "attribute") == 0)
		*ret_role = conf ? CK_M2M_ROLE_KE2E_ATT_CONF :
		    CK_M2M_ROLE_KE2E_ATT_AUTH;
	else
		BAD(err, "parameter use: \"message\" or \"attribute\"");
	return 0;
}

/* see params.h */
int
mtd_p_targets(struct json_object *params, const char **ret, size_t *ret_n,
    struct mtd_err *err)
{
	struct json_object *v, *e;
	size_t i, n;

	if (!json_object_object_get_ex(params, "targets", &v))
		BAD(err, "parameter targets is required");
	if (!json_object_is_type(v, json_type_array))
		BAD(err, "parameter targets must be an array of strings");
	n = json_object_array_length(v);
	if (n == 0 || n > MTD_TARGETS_MAX)
		BAD(err, "parameter targets: 1..%d identifiers",
		    MTD_TARGETS_MAX);
	for (i = 0; i < n; i++) {
		e = json_object_array_get_idx(v, i);
		if (!json_object_is_type(e, json_type_string) ||
		    json_object_get_string_len(e) == 0 ||
		    json_object_get_string_len(e) > MTD_ID_MAX ||
		    !text_ok(json_object_get_string(e),
		    (size_t)json_object_get_string_len(e)))
			BAD(err, "parameter targets: element %zu must be "
			    "1..%d bytes of text", i, MTD_ID_MAX);
		ret[i] = json_object_get_string(e);
	}
	*ret_n = n;
	return 0;
}
