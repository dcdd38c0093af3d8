/*
 * m2mtokend: reading a call's parameters (docs/protocol.md, "Methods").
 * Every function returns 0 or M2M_IPC_ERR_INVALID_PARAMETER (or
 * _NO_MEMORY) and then puts a one-line reason naming the parameter, never
 * its value, into err->detail.
 */
#ifndef M2MTOKEND_PARAMS_H
#define M2MTOKEND_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "tok.h"

#define MTD_DATA_MAX	32768	/* bytes of data, plaintext or ciphertext */
#define MTD_ID_MAX	255	/* bytes of an identifier */
#define MTD_TARGETS_MAX	16
#define MTD_SALT_MAX	64

/* What a failed call adds to its error reply (never a secret). */
struct mtd_err {
	char	detail[200];	/* "" or one line: parameters.detail */
	int	status;		/* the MEF's HTTP status, 0 if none */
	int	rsc;		/* the MEF's X-M2M-RSC, -1 if none */
};

/* How a caller names a key: its label, and role / peer where shared. */
struct mtd_keyref {
	const char	*label;		/* "key", owned by the params */
	CK_ULONG	 role;		/* MTD_ROLE_ANY if not given */
	const char	*peer;		/* NULL if not given */
};

/* Refuses a member of params not in the NULL-terminated list allowed. */
int mtd_p_only(struct json_object *params, const char *const *allowed,
    struct mtd_err *err);

/*
 * The string member name: 1..max bytes, no control characters.
 * *ret NULL if absent and !required.
 */
int mtd_p_str(struct json_object *params, const char *name, int required,
    size_t max, const char **ret, struct mtd_err *err);

/* An integer member in lo..hi; *ret = def if absent and !required. */
int mtd_p_int(struct json_object *params, const char *name, int required,
    long lo, long hi, long def, long *ret, struct mtd_err *err);

/*
 * A base64 (RFC 4648, padded, no white space) member decoding to at most
 * max bytes: a new buffer *ret (free it; wipe first if secret) of
 * *ret_len bytes.  Absent and !required: *ret NULL, *ret_len 0.
 */
int mtd_p_b64(struct json_object *params, const char *name, int required,
    size_t max, uint8_t **ret, size_t *ret_len, struct mtd_err *err);

/* "key", "role" (a role name) and "peer" into *ret. */
int mtd_p_keyref(struct json_object *params, struct mtd_keyref *ret,
    struct mtd_err *err);

/*
 * "use": "message" (default) or "attribute" -> the E2E role for auth
 * (conf = 0) or confidentiality (conf = 1).
 */
int mtd_p_e2e_use(struct json_object *params, int conf, CK_ULONG *ret_role,
    struct mtd_err *err);

/* "targets": an array of 1..MTD_TARGETS_MAX identifiers (owned by params). */
int mtd_p_targets(struct json_object *params, const char **ret,
    size_t *ret_n, struct mtd_err *err);

/* Base64 of len bytes into a new string (free it); NULL out of memory. */
char *mtd_b64(const uint8_t *data, size_t len);

/*
 * Strict base64 decode of the len chars at s into out (cap bytes):
 * *ret_len, or -1 (malformed, or over cap).
 */
int mtd_unb64(const char *s, size_t len, uint8_t *out, size_t cap,
    size_t *ret_len);

#endif /* M2MTOKEND_PARAMS_H */
