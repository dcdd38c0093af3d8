/*
 * m2mtokend: the methods of the flow IPC (see methods.h and
 * docs/protocol.md, "Methods").  Keys are reached only through tok.h
 * (PKCS#11); no reply carries key material.
 */
#include <sys/mman.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <m2mtoken/tls.h>

#include "acl.h"
#include "errors.h"
#include "http.h"
#include "mef.h"
#include "methods.h"

#define M2MTOKEND_VERSION	"0.1.0"
#define LISTKEYS_MAX		4096
#define KEID_HEX		32

#define BAD(err, ...) do {						\
	snprintf((err)->detail, sizeof((err)->detail), __VA_ARGS__);	\
	return M2M_IPC_ERR_INVALID_PARAMETER;				\
} while (0)

/* Adds a string member (a copy); M2M_IPC_ERR_NO_MEMORY on failure. */
static int
add_str(struct json_object *o, const char *k, const char *v)
{
	struct json_object *s;

	if (v == NULL)
		return json_object_object_add(o, k, NULL) == 0 ? 0 :
		    M2M_IPC_ERR_NO_MEMORY;
	if ((s = json_object_new_string(v)) == NULL)
		return M2M_IPC_ERR_NO_MEMORY;
	if (json_object_object_add(o, k, s) != 0) {
		json_object_put(s);
		return M2M_IPC_ERR_NO_MEMORY;
	}
	return 0;
}

static int
add_int(struct json_object *o, const char *k, int64_t v)
{
	struct json_object *s;

	if ((s = json_object_new_int64(v)) == NULL)
		return M2M_IPC_ERR_NO_MEMORY;
	if (json_object_object_add(o, k, s) != 0) {
		json_object_put(s);
		return M2M_IPC_ERR_NO_MEMORY;
	}
	return 0;
}

static int
add_b64(struct json_object *o, const char *k, const uint8_t *v, size_t n)
{
	char *s;
	int r;

	if ((s = mtd_b64(v, n)) == NULL)
		return M2M_IPC_ERR_NO_MEMORY;
	r = add_str(o, k, s);
	free(s);
	return r;
}

/* The key a caller named, through tok.h; long as handlers return. */
static long
find_key(struct mtd *d, const struct mtd_keyref *kr, CK_OBJECT_HANDLE *ret,
    struct mtd_err *err)
{
	int amb = 0;
	CK_RV rv;

	rv = mtd_tok_find(d->tok, kr->label, kr->role, kr->peer, ret, &amb);
	if (rv != CKR_OK)
		return (long)rv;
	if (amb) {
		snprintf(err->detail, sizeof(err->detail), "several keys "
		    "are labelled so: add role and/or peer");
		return M2M_IPC_ERR_AMBIGUOUS_KEY;
	}
	return 0;
}

/* Reply members naming key h: key, role, peer (if any). */
static long
reply_key(struct mtd *d, CK_OBJECT_HANDLE h, struct json_object *reply)
{
	struct mtd_keyinfo ki;
	const char *rn;
	CK_RV rv;
	int r;

	if ((rv = mtd_tok_keyinfo(d->tok, h, &ki)) != CKR_OK)
		return (long)rv;
	rn = mtd_role_name(ki.role);
	if ((r = add_str(reply, "key", ki.label)) != 0 ||
	    (r = add_str(reply, "role", rn != NULL ? rn : "none")) != 0 ||
	    (ki.peer[0] != '\0' && (r = add_str(reply, "peer",
	    ki.peer)) != 0) ||
	    (ki.enrolee[0] != '\0' && (r = add_str(reply, "enroleeId",
	    ki.enrolee)) != 0) ||
	    (ki.expires[0] != '\0' && (r = add_str(reply, "expires",
	    ki.expires)) != 0))
		return r;
	return 0;
}

/* ---- Status ---------------------------------------------------------- */

static void
trim32(char *dst, const CK_UTF8CHAR *src)
{
	size_t n = 32;

	memcpy(dst, src, 32);
	while (n > 0 && dst[n - 1] == ' ')
		n--;
	dst[n] = '\0';
}

static long
h_status(struct mtd_call *c, struct json_object *params,
    struct json_object *reply, struct mtd_err *err)
{
	static const char *const allowed[] = { NULL };
	struct mtd *d = c->d;
	struct json_object *tok = NULL;
	CK_TOKEN_INFO ti;
	char s[33];
	long r;

	if ((r = mtd_p_only(params, allowed, err)) != 0)
		return r;
	if ((tok = json_object_new_object()) == NULL)
		return M2M_IPC_ERR_NO_MEMORY;
	if (json_object_object_add(reply, "token", tok) != 0) {
		json_object_put(tok);
		return M2M_IPC_ERR_NO_MEMORY;
	}
	if (mtd_tok_info(d->tok, &ti) == CKR_OK) {
		trim32(s, ti.label);
		if ((r = add_str(tok, "label", s)) != 0)
			return r;
		trim32(s, ti.manufacturerID);
		if ((r = add_str(tok, "manufacturer", s)) != 0)
			return r;
		memcpy(s, ti.model, 16);
		s[16] = '\0';
		while (s[0] != '\0' && s[strlen(s) - 1] == ' ')
			s[strlen(s) - 1] = '\0';
		if ((r = add_str(tok, "model", s)) != 0 ||
		    (r = add_str(tok, "state", "ready")) != 0)
			return r;
	} else if ((r = add_str(tok, "state", "unavailable")) != 0)
		return r;
	if ((r = add_str(reply, "version", M2MTOKEND_VERSION)) != 0 ||
	    (r = add_str(reply, "enroleeKpmId", d->conf->kpm_id)) != 0 ||
	    (r = add_str(reply, "targetId", d->conf->target_id)) != 0 ||
	    (r = add_str(reply, "mef", d->conf->mef_fqdn)) != 0 ||
	    (r = add_int(reply, "uptime", (int64_t)(time(NULL) -
	    d->started))) != 0 ||
	    (r = add_int(reply, "connections", d->nconns)) != 0 ||
	    (r = add_int(reply, "calls", (int64_t)d->calls)) != 0)
		return r;
	return 0;
}

/* ---- ListKeys -------------------------------------------------------- */

struct list_arg {
	struct mtd_call		*call;
	struct json_object	*arr;
	CK_ULONG		 role;
	int			 r;
};

static void
list_one(const struct mtd_keyinfo *ki, void *v)
{
	struct list_arg *a = v;
	struct m2m_acl_verdict vd;
	struct json_object *o;
	const char *rn = mtd_role_name(ki->role);

	if (a->r != 0 || (a->role != MTD_ROLE_ANY && ki->role != a->role))
		return;
	/* only the keys this caller may name */
	if (m2m_acl_check(a->call->d->conf->acl, a->call->peer->uid,
	    a->call->peer->groups, a->call->peer->ngroups, a->call->method,
	    ki->label, &vd) != 0 || !vd.allow)
		return;
	if ((o = json_object_new_object()) == NULL ||
	    json_object_array_add(a->arr, o) != 0) {
		json_object_put(o);
		a->r = M2M_IPC_ERR_NO_MEMORY;
		return;
	}
	if (add_str(o, "key", ki->label) != 0 ||
	    add_str(o, "role", rn != NULL ? rn : "none") != 0 ||
	    (ki->peer[0] != '\0' && add_str(o, "peer", ki->peer) != 0) ||
	    (ki->enrolee[0] != '\0' &&
	    add_str(o, "enroleeId", ki->enrolee) != 0) ||
	    (ki->expires[0] != '\0' &&
	    add_str(o, "expires", ki->expires) != 0))
		a->r = M2M_IPC_ERR_NO_MEMORY;
}

static long
h_listkeys(struct mtd_call *c, struct json_object *params,
    struct json_object *reply, struct mtd_err *err)
{
	static const char *const allowed[] = { "role", NULL };
	struct list_arg a;
	const char *role = NULL;
	CK_RV rv;
	long r;

	memset(&a, 0, sizeof(a));
	a.call = c;
	a.role = MTD_ROLE_ANY;
	if ((r = mtd_p_only(params, allowed, err)) != 0 ||
	    (r = mtd_p_str(params, "role", 0, 32, &role, err)) != 0)
		return r;
	if (role != NULL && mtd_role_from_name(role, &a.role) != 0)
		BAD(err, "parameter role: not a role name");
	if ((a.arr = json_object_new_array()) == NULL)
		return M2M_IPC_ERR_NO_MEMORY;
	if (json_object_object_add(reply, "keys", a.arr) != 0) {
		json_object_put(a.arr);
		return M2M_IPC_ERR_NO_MEMORY;
	}
	if ((rv = mtd_tok_list(c->d->tok, LISTKEYS_MAX, list_one, &a)) !=
	    CKR_OK)
		return (long)rv;
	return a.r;
}

/* ---- Derive* --------------------------------------------------------- */

/* The KE key named by parameters.key (role KE). */
static long
ke_of(struct mtd *d, struct json_object *params, CK_OBJECT_HANDLE *ret,
    struct mtd_err *err)
{
	struct mtd_keyref kr;
	long r;

	memset(&kr, 0, sizeof(kr));
	if ((r = mtd_p_str(params, "key", 1, MTD_ID_MAX, &kr.label,
	    err)) != 0)
		return r;
	kr.role = CK_M2M_ROLE_KE;
	return find_key(d, &kr, ret, err);
}

static long
derive_bytes(struct mtd_call *c, struct json_object *params,
    struct json_object *reply, struct mtd_err *err, const char *idparam,
    CK_MECHANISM_TYPE mech)
{
	static const char *const allowed_t[] = { "key", "target", NULL };
	static const char *const allowed_m[] = { "key", "maf", NULL };
	CK_OBJECT_HANDLE base, h;
	const char *id;
	long r;

	if ((r = mtd_p_only(params, mech == CKM_M2M_KM_DERIVE ? allowed_m :
	    allowed_t, err)) != 0 ||
	    (r = mtd_p_str(params, idparam, 1, MTD_ID_MAX, &id, err)) != 0 ||
	    (r = ke_of(c->d, params, &base, err)) != 0)
		return r;
	if ((r = (long)mtd_tok_derive(c->d->tok, base, mech, (void *)id,
	    (CK_ULONG)strlen(id), NULL, &h)) != CKR_OK)
		return r;
	return reply_key(c->d, h, reply);
}

static long
h_derive_kpsa(struct mtd_call *c, struct json_object *params,
    struct json_object *reply, struct mtd_err *err)
{
	return derive_bytes(c, params, reply, err, "target",
	    CKM_M2M_KPSA_DERIVE);
}

static long
h_derive_km(struct mtd_call *c, struct json_object *params,
    struct json_object *reply, struct mtd_err *err)
{
	return derive_bytes(c, params, reply, err, "maf", CKM_M2M_KM_DERIVE);
}

static long
h_derive_kuc(struct mtd_call *c, struct json_object *params,
    struct json_object *reply, struct mtd_err *err)
{
	static const char *const allowed[] = { "key", "target", "suid",
	    NULL };
	CK_M2M_KUC_PARAMS kp;
	CK_OBJECT_HANDLE base, h;
	const char *id;
	long suid, r;

	if ((r = mtd_p_only(params, allowed, err)) != 0 ||
	    (r = mtd_p_str(params, "target", 1, MTD_ID_MAX, &id, err)) != 0 ||
	    (r = mtd_p_int(params, "suid", 1, 0, 99, 0, &suid, err)) != 0 ||
	    (r = ke_of(c->d, params, &base, err)) != 0)
		return r;
	kp.ulSuid = (CK_ULONG)suid;
	kp.pTargetId = (CK_UTF8CHAR_PTR)id;
	kp.ulTargetIdLen = (CK_ULONG)strlen(id);
	if ((r = (long)mtd_tok_derive(c->d->tok, base, CKM_M2M_KUC_DERIVE,
	    &kp, sizeof(kp), NULL, &h)) != CKR_OK)
		return r;
	return reply_key(c->d, h, reply);
}

/* ---- ProvisionE2E ---------------------------------------------------- */

static long
h_provision_e2e(struct mtd_call *c, struct json_object *params,
    struct json_object *reply, struct mtd_err *err)
{
	static const char *const allowed[] = { "key", "role", "peer", "salt",
	    "hash", NULL };
	struct mtd_keyref kr;
	struct mtd_keyinfo ki;
	CK_OBJECT_HANDLE base, master, h;
	CK_MECHANISM_TYPE mech = CKM_M2M_E2E_MASTER_SHA256;
	const char *hash = NULL;
	uint8_t *salt = NULL, n;
	size_t salt_len = 0;
	long r;

	if ((r = mtd_p_only(params, allowed, err)) != 0 ||
	    (r = mtd_p_keyref(params, &kr, err)) != 0 ||
	    (r = mtd_p_str(params, "hash", 0, 16, &hash, err)) != 0)
		return r;
	if (hash != NULL && strcmp(hash, "sha512") == 0)
		mech = CKM_M2M_E2E_MASTER_SHA512;
	else if (hash != NULL && strcmp(hash, "sha256") != 0)
		BAD(err, "parameter hash: \"sha256\" or \"sha512\"");
	if (kr.role != MTD_ROLE_ANY && kr.role != CK_M2M_ROLE_KPSA &&
	    kr.role != CK_M2M_ROLE_KM && kr.role != CK_M2M_ROLE_KUC)
		BAD(err, "parameter role: kpsa, km or kuc");
	if ((r = mtd_p_b64(params, "salt", 0, MTD_SALT_MAX, &salt, &salt_len,
	    err)) != 0)
		return r;
	if ((r = find_key(c->d, &kr, &base, err)) != 0)
		goto out;
	/* the module names the master E2EKeyId and checks the base's role */
	if ((r = (long)mtd_tok_derive(c->d->tok, base, mech, salt,
	    (CK_ULONG)salt_len, NULL, &master)) != CKR_OK)
		goto out;
	/*
	 * The four keys, T(1)..T(4); deriving again returns the existing
	 * key, so a call that failed half way completes when repeated.
	 */
	for (n = 1; n <= 4; n++)
		if ((r = (long)mtd_tok_derive(c->d->tok, master,
		    CKM_M2M_E2E_EXPAND, &n, 1, NULL, &h)) != CKR_OK)
			goto out;
	if ((r = (long)mtd_tok_keyinfo(c->d->tok, master, &ki)) != CKR_OK)
		goto out;
	if ((r = add_str(reply, "e2eKeyId", ki.label)) != 0 ||
	    (r = add_str(reply, "hash", mech == CKM_M2M_E2E_MASTER_SHA512 ?
	    "sha512" : "sha256")) != 0 ||
	    (ki.peer[0] != '\0' && (r = add_str(reply, "peer",
	    ki.peer)) != 0))
		goto out;
	r = 0;
 out:
	free(salt);	/* a salt is public */
	return r;
}

/* ---- Mic / VerifyMic / Seal / Open ----------------------------------- */

static long
e2e_key(struct mtd *d, struct json_object *params, int conf,
    CK_OBJECT_HANDLE *ret, CK_ULONG *ret_role, struct mtd_err *err)
{
	struct mtd_keyref kr;
	long r;

	memset(&kr, 0, sizeof(kr));
	if ((r = mtd_p_str(params, "key", 1, MTD_ID_MAX, &kr.label,
	    err)) != 0 ||
	    (r = mtd_p_str(params, "peer", 0, MTD_ID_MAX, &kr.peer,
	    err)) != 0 ||
	    (r = mtd_p_e2e_use(params, conf, &kr.role, err)) != 0)
		return r;
	*ret_role = kr.role;
	return find_key(d, &kr, ret, err);
}

/*
 * The HMAC of an E2E auth key: [profile] the master's hash, seen in the
 * key's CKA_VALUE_LEN (64 bytes: SHA-512), which is not secret.
 */
static CK_MECHANISM_TYPE
mac_mech(struct mtd *d, CK_OBJECT_HANDLE h)
{
	return mtd_tok_value_len(d->tok, h) == 64 ? CKM_SHA512_HMAC :
	    CKM_SHA256_HMAC;
}

static long
mic_common(struct mtd_call *c, struct json_object *params,
    struct json_object *reply, struct mtd_err *err, int verify)
{
	static const char *const allowed_m[] = { "key", "peer", "use",
	    "data", NULL };
	static const char *const allowed_v[] = { "key", "peer", "use",
	    "data", "mic", NULL };
	CK_OBJECT_HANDLE h;
	CK_ULONG role;
	uint8_t *data = NULL, *mic = NULL, out[64];
	size_t dlen, mlen, olen = sizeof(out);
	long r;

	if ((r = mtd_p_only(params, verify ? allowed_v : allowed_m,
	    err)) != 0 ||
	    (r = mtd_p_b64(params, "data", 1, MTD_DATA_MAX, &data, &dlen,
	    err)) != 0 ||
	    (verify && (r = mtd_p_b64(params, "mic", 1, 64, &mic, &mlen,
	    err)) != 0) ||
	    (r = e2e_key(c->d, params, 0, &h, &role, err)) != 0)
		goto out;
	if (verify) {
		if ((r = (long)mtd_tok_mac_verify(c->d->tok, h,
		    mac_mech(c->d, h), data, dlen, mic, mlen)) != CKR_OK)
			goto out;
		r = json_object_object_add(reply, "valid",
		    json_object_new_boolean(1)) == 0 ? 0 :
		    M2M_IPC_ERR_NO_MEMORY;
		goto out;
	}
	if ((r = (long)mtd_tok_mac(c->d->tok, h, mac_mech(c->d, h), data,
	    dlen, out, &olen)) != CKR_OK)
		goto out;
	r = add_b64(reply, "mic", out, olen);
 out:
	free(data);
	free(mic);
	return r;
}

static long
h_mic(struct mtd_call *c, struct json_object *params,
    struct json_object *reply, struct mtd_err *err)
{
	return mic_common(c, params, reply, err, 0);
}

static long
h_verify_mic(struct mtd_call *c, struct json_object *params,
    struct json_object *reply, struct mtd_err *err)
{
	return mic_common(c, params, reply, err, 1);
}

static long
h_seal(struct mtd_call *c, struct json_object *params,
    struct json_object *reply, struct mtd_err *err)
{
	static const char *const allowed[] = { "key", "peer", "use",
	    "plaintext", "aad", NULL };
	CK_OBJECT_HANDLE h;
	CK_ULONG role;
	uint8_t *pt = NULL, *aad = NULL, *ct = NULL, iv[12];
	size_t ptlen, aadlen, ctlen = 0;
	long r;

	if ((r = mtd_p_only(params, allowed, err)) != 0 ||
	    (r = mtd_p_b64(params, "plaintext", 1, MTD_DATA_MAX, &pt, &ptlen,
	    err)) != 0 ||
	    (r = mtd_p_b64(params, "aad", 0, MTD_DATA_MAX, &aad, &aadlen,
	    err)) != 0 ||
	    (r = e2e_key(c->d, params, 1, &h, &role, err)) != 0)
		goto out;
	if ((ct = malloc(ptlen + 16)) == NULL) {
		r = M2M_IPC_ERR_NO_MEMORY;
		goto out;
	}
	/* a fresh random IV from the token for every message */
	if ((r = (long)mtd_tok_random(c->d->tok, iv, sizeof(iv))) != CKR_OK ||
	    (r = (long)mtd_tok_seal(c->d->tok, h, iv, aad, aadlen, pt, ptlen,
	    ct, &ctlen)) != CKR_OK)
		goto out;
	if ((r = add_b64(reply, "iv", iv, sizeof(iv))) != 0 ||
	    (r = add_b64(reply, "ciphertext", ct, ctlen)) != 0)
		goto out;
	r = 0;
 out:
	if (pt != NULL) {
		OPENSSL_cleanse(pt, ptlen);
		free(pt);
	}
	free(aad);
	free(ct);
	return r;
}

static long
h_open(struct mtd_call *c, struct json_object *params,
    struct json_object *reply, struct mtd_err *err)
{
	static const char *const allowed[] = { "key", "peer", "use", "iv",
	    "ciphertext", "aad", NULL };
	CK_OBJECT_HANDLE h;
	CK_ULONG role;
	uint8_t *ct = NULL, *aad = NULL, *iv = NULL, *pt = NULL;
	size_t ctlen, aadlen, ivlen, ptlen = 0;
	long r;

	if ((r = mtd_p_only(params, allowed, err)) != 0 ||
	    (r = mtd_p_b64(params, "iv", 1, 12, &iv, &ivlen, err)) != 0 ||
	    (r = mtd_p_b64(params, "ciphertext", 1, MTD_DATA_MAX + 16, &ct,
	    &ctlen, err)) != 0 ||
	    (r = mtd_p_b64(params, "aad", 0, MTD_DATA_MAX, &aad, &aadlen,
	    err)) != 0)
		goto out;
	if (ivlen != 12) {
		snprintf(err->detail, sizeof(err->detail),
		    "parameter iv must be 12 bytes");
		r = M2M_IPC_ERR_INVALID_PARAMETER;
		goto out;
	}
	if (ctlen < 16) {
		snprintf(err->detail, sizeof(err->detail),
		    "parameter ciphertext is shorter than its 16-byte tag");
		r = M2M_IPC_ERR_INVALID_PARAMETER;
		goto out;
	}
	if ((r = e2e_key(c->d, params, 1, &h, &role, err)) != 0)
		goto out;
	if ((pt = malloc(ctlen)) == NULL) {
		r = M2M_IPC_ERR_NO_MEMORY;
		goto out;
	}
	if ((r = (long)mtd_tok_open_sealed(c->d->tok, h, iv, aad, aadlen, ct,
	    ctlen, pt, &ptlen)) != CKR_OK)
		goto out;
	r = add_b64(reply, "plaintext", pt, ptlen);
 out:
	if (pt != NULL) {
		OPENSSL_cleanse(pt, ctlen);
		free(pt);
	}
	free(ct);
	free(aad);
	free(iv);
	return r;
}

/* ---- the MEF: Bootstrap, FetchCredentials ---------------------------- */

/* A request id for X-M2M-RI: "m2mtokend-" and 16 hex digits. */
static void
request_id(char out[32])
{
	uint8_t b[8];
	size_t i;

	if (RAND_bytes(b, sizeof(b)) != 1)
		memset(b, 0, sizeof(b));
	memcpy(out, "m2mtokend-", 10);
	for (i = 0; i < sizeof(b); i++)
		snprintf(out + 10 + 2 * i, 3, "%02x", b[i]);
}

/* A visible-ASCII copy of s (at most n bytes) for a detail line. */
static void
shown(char *dst, size_t cap, const char *s)
{
	size_t i;

	for (i = 0; s != NULL && s[i] != '\0' && i + 1 < cap; i++)
		dst[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	dst[i] = '\0';
}

/*
 * Parses the response body as JSON; the tokener's scratch buffer, which
 * held every string of it, is wiped before it is freed (the body may
 * carry a credential).
 */
static struct json_object *
parse_body(const char *body, size_t len)
{
	struct json_tokener *tok;
	struct json_object *o;

	if ((tok = json_tokener_new_ex(8)) == NULL)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, body, (int)len);
	if (o != NULL && json_tokener_get_parse_end(tok) != len) {
		json_object_put(o);
		o = NULL;
	}
	if (tok->pb != NULL && tok->pb->buf != NULL && tok->pb->size > 0)
		OPENSSL_cleanse(tok->pb->buf, (size_t)tok->pb->size);
	json_tokener_free(tok);
	if (o != NULL && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

/* A string member of the MEF's body: 1..max bytes of visible text. */
static const char *
body_str(struct json_object *o, const char *k, size_t max)
{
	struct json_object *v;
	const char *s;
	size_t i, n;

	if (!json_object_object_get_ex(o, k, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	n = (size_t)json_object_get_string_len(v);
	if (n == 0 || n > max || strlen(s) != n)
		return NULL;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return NULL;
	return s;
}

/* YYYYMMDDTHHMMSS */
static int
timestamp_ok(const char *s)
{
	size_t i;

	if (s == NULL || strlen(s) != 15 || s[8] != 'T')
		return 0;
	for (i = 0; i < 15; i++)
		if (i != 8 && !isdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

/* A refusal of the MEF into err: HTTP status, RSC and its ErrorString. */
static long
mef_refused(struct mtd_mef_result *res, struct mtd_err *err)
{
	struct json_object *o;
	char why[120] = "";

	err->status = res->resp.status;
	err->rsc = res->resp.rsc;
	if ((o = parse_body(res->resp.body, res->resp.body_len)) != NULL) {
		shown(why, sizeof(why), body_str(o, "ErrorString", 200));
		json_object_put(o);
	}
	snprintf(err->detail, sizeof(err->detail), "HTTP %d, X-M2M-RSC %d%s%s",
	    res->resp.status, res->resp.rsc, why[0] ? ": " : "", why);
	return M2M_IPC_ERR_MEF_REFUSED;
}

static int
mef_target(struct mtd *d, struct mtd_mef_target *t)
{
	if (d->conf->mef_host == NULL)
		return -1;
	t->host = d->conf->mef_host;
	t->port = d->conf->mef_port;
	t->fqdn = d->conf->mef_fqdn;
	t->timeout = d->conf->mef_timeout;
	return 0;
}

/* KeId: 32 hex digits "@" an FQDN of [A-Za-z0-9.-] (safe in a path). */
static int
keid_ok(const char *s)
{
	size_t i;

	for (i = 0; i < KEID_HEX; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	if (s[i++] != '@' || s[i] == '\0')
		return 0;
	for (; s[i] != '\0'; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != '-')
			return 0;
	return 1;
}

/* see methods.h */
struct mtd_job *
mtd_job_new(void)
{
	struct mtd_job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return NULL;
	/* it will hold the EKM (Ke) or a credential: keep it out of swap */
	(void)mlock(j, sizeof(*j));
	j->rc = M2M_IPC_ERR_INTERNAL;
	return j;
}

/* see methods.h */
void
mtd_job_run(struct mtd_job *j)
{
	j->rc = mtd_mef_exchange(j->ctx, &j->mt, j->req, j->req_len,
	    j->want_ekm ? j->ekm : NULL, &j->res, j->detail,
	    sizeof(j->detail));
}

/* see methods.h */
void
mtd_job_free(struct mtd_job *j)
{
	if (j == NULL)
		return;
	free(j->req);
	/* the export (Ke), and a response that may hold a credential */
	OPENSSL_cleanse(j, sizeof(*j));
	(void)munlock(j, sizeof(*j));
	free(j);
}

/* A job for the MEF exchange of req (taken); NULL out of memory. */
static long
job_for(struct mtd_call *c, SSL_CTX *ctx, const struct mtd_mef_target *mt,
    char *req, size_t req_len, int want_ekm,
    long (*finish)(struct mtd_call *, struct mtd_job *,
    struct json_object *, struct mtd_err *), struct mtd_job **ret)
{
	struct mtd_job *j;

	(void)c;
	if ((j = mtd_job_new()) == NULL) {
		free(req);
		return M2M_IPC_ERR_NO_MEMORY;
	}
	j->ctx = ctx;
	j->mt = *mt;
	j->req = req;
	j->req_len = req_len;
	j->want_ekm = want_ekm;
	j->finish = finish;
	*ret = j;
	return 0;
}

/*
 * Bootstrap, after the exchange (main thread): check the MEF's answer,
 * then import Ke.  Nothing is stored on any failure.
 */
static long
bootstrap_finish(struct mtd_call *c, struct mtd_job *j,
    struct json_object *reply, struct mtd_err *err)
{
	struct mtd *d = c->d;
	struct json_object *o = NULL, *v, *e2e;
	const char *enrolee, *keid, *life;
	char keidbuf[KEID_HEX + 2 + MTD_ID_MAX];
	CK_OBJECT_HANDLE h;
	size_t i;
	long r;

	/* KeId = lower-hex(EKM[0..15]) "@" MEF-FQDN */
	for (i = 0; i < 16; i++)
		snprintf(keidbuf + 2 * i, 3, "%02x", j->ekm[i]);
	snprintf(keidbuf + KEID_HEX, sizeof(keidbuf) - KEID_HEX, "@%s",
	    j->mt.fqdn);
	if (j->res.resp.status != 200) {
		r = mef_refused(&j->res, err);
		goto out;
	}
	r = M2M_IPC_ERR_MEF_PROTOCOL;
	if ((o = parse_body(j->res.resp.body, j->res.resp.body_len)) ==
	    NULL || !json_object_object_get_ex(o, "Status", &v) ||
	    !json_object_get_boolean(v) ||
	    (enrolee = body_str(o, "EnroleeID", MTD_ID_MAX)) == NULL ||
	    (keid = body_str(o, "KeId", sizeof(keidbuf) - 1)) == NULL ||
	    !timestamp_ok(life = body_str(o, "Lifetime", 15))) {
		snprintf(err->detail, sizeof(err->detail), "the MEF's "
		    "bootstrap answer lacks Status, EnroleeID, KeId or "
		    "Lifetime");
		goto out;
	}
	/* [profile] KeId compared case-insensitively */
	if (strcasecmp(keid, keidbuf) != 0) {
		snprintf(err->detail, sizeof(err->detail), "the MEF's KeId "
		    "is not the one this session exported: nothing stored");
		goto out;
	}
	/* Ke = EKM[16..47]; the only key bytes the daemon ever holds */
	r = (long)mtd_tok_import(d->tok, CK_M2M_ROLE_KE, keidbuf,
	    j->ekm + 16, 32, enrolee, life, &h);
	OPENSSL_cleanse(j->ekm, sizeof(j->ekm));
	if (r != CKR_OK)
		goto out;
	if ((r = add_str(reply, "keId", keidbuf)) != 0 ||
	    (r = add_str(reply, "enroleeId", enrolee)) != 0 ||
	    (r = add_str(reply, "lifetime", life)) != 0)
		goto out;
	if (json_object_object_get_ex(o, "Targets", &v) &&
	    json_object_is_type(v, json_type_array) &&
	    json_object_object_add(reply, "targets", json_object_get(v)) != 0) {
		r = M2M_IPC_ERR_NO_MEMORY;
		goto out;
	}
	if (json_object_object_get_ex(o, "E2E", &e2e) &&
	    json_object_is_type(e2e, json_type_object)) {
		struct json_object *x = json_object_new_object();
		const char *hs = body_str(e2e, "Hash", 16);
		const char *salt = body_str(e2e, "Salt", 128);

		if (x == NULL || json_object_object_add(reply, "e2e", x)) {
			json_object_put(x);
			r = M2M_IPC_ERR_NO_MEMORY;
			goto out;
		}
		if ((hs != NULL && (r = add_str(x, "hash",
		    strcmp(hs, "SHA-512") == 0 ? "sha512" : "sha256")) != 0) ||
		    (salt != NULL && (r = add_str(x, "salt", salt)) != 0))
			goto out;
	}
	r = 0;
 out:
	OPENSSL_cleanse(j->ekm, sizeof(j->ekm));
	json_object_put(o);
	return r;
}

/*
 * Bootstrap: checks and the request here; the TLS exchange runs in the
 * server's worker thread (mtd_job_run), bootstrap_finish() after it.
 */
static long
h_bootstrap(struct mtd_call *c, struct json_object *params,
    struct json_object *reply, struct mtd_err *err)
{
	static const char *const allowed[] = { "targets", NULL };
	struct mtd *d = c->d;
	struct mtd_mef_target mt;
	struct json_object *body = NULL, *arr = NULL;
	const char *targets[MTD_TARGETS_MAX], *js;
	char ri[32], *req = NULL;
	size_t nt = 0, i, reqlen;
	long r;

	(void)reply;
	if ((r = mtd_p_only(params, allowed, err)) != 0 ||
	    (r = mtd_p_targets(params, targets, &nt, err)) != 0)
		return r;
	if (d->conf->kpm_id == NULL || d->enrolee_ctx == NULL ||
	    mef_target(d, &mt) != 0) {
		snprintf(err->detail, sizeof(err->detail), "Bootstrap needs "
		    "[enrolee] kpm_id and [mef] host, fqdn");
		return M2M_IPC_ERR_NOT_CONFIGURED;
	}
	if ((body = json_object_new_object()) == NULL ||
	    (arr = json_object_new_array()) == NULL) {
		r = M2M_IPC_ERR_NO_MEMORY;
		goto out;
	}
	for (i = 0; i < nt; i++)
		if (json_object_array_add(arr,
		    json_object_new_string(targets[i])) != 0) {
			r = M2M_IPC_ERR_NO_MEMORY;
			goto out;
		}
	if (json_object_object_add(body, "Targets", arr) != 0) {
		r = M2M_IPC_ERR_NO_MEMORY;
		goto out;
	}
	arr = NULL;	/* transferred */
	js = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	request_id(ri);
	if ((r = mtd_http_request("POST", "/bootstrap", d->conf->mef_fqdn,
	    d->conf->kpm_id, ri, js, strlen(js), &req, &reqlen)) != 0) {
		r = r == -2 ? M2M_IPC_ERR_NO_MEMORY :
		    M2M_IPC_ERR_INVALID_PARAMETER;
		goto out;
	}
	r = job_for(c, d->enrolee_ctx, &mt, req, reqlen, 1, bootstrap_finish,
	    &c->job);
	req = NULL;	/* transferred */
 out:
	free(req);
	json_object_put(arr);
	json_object_put(body);
	return r;
}

/* FetchCredentials, after the exchange: check, import, wipe. */
static long
fetch_finish(struct mtd_call *c, struct mtd_job *j,
    struct json_object *reply, struct mtd_err *err)
{
	struct mtd *d = c->d;
	struct json_object *o = NULL, *v, *cv;
	const char *enrolee, *life, *cred;
	uint8_t value[64];
	CK_OBJECT_HANDLE h;
	size_t vlen = 0, clen;
	long r;

	if (j->res.resp.status != 200) {
		r = mef_refused(&j->res, err);
		goto out;
	}
	r = M2M_IPC_ERR_MEF_PROTOCOL;
	if ((o = parse_body(j->res.resp.body, j->res.resp.body_len)) ==
	    NULL || !json_object_object_get_ex(o, "Status", &v) ||
	    !json_object_get_boolean(v) ||
	    (enrolee = body_str(o, "EnroleeID", MTD_ID_MAX)) == NULL ||
	    !timestamp_ok(life = body_str(o, "Lifetime", 15)) ||
	    !json_object_object_get_ex(o, "Credential", &cv) ||
	    !json_object_is_type(cv, json_type_string)) {
		snprintf(err->detail, sizeof(err->detail), "the MEF's answer "
		    "lacks Status, Credential, EnroleeID or Lifetime");
		goto out;
	}
	cred = json_object_get_string(cv);
	clen = (size_t)json_object_get_string_len(cv);
	if (mtd_unb64(cred, clen, value, sizeof(value), &vlen) != 0 ||
	    vlen != 32) {
		snprintf(err->detail, sizeof(err->detail), "the MEF's "
		    "Credential is not base64 of 32 bytes");
		goto out;
	}
	r = (long)mtd_tok_import(d->tok, j->role, j->label, value, vlen,
	    enrolee, life, &h);
	OPENSSL_cleanse(value, sizeof(value));
	if (r != CKR_OK)
		goto out;
	if ((r = reply_key(d, h, reply)) != 0 ||
	    (r = add_str(reply, "source", "mef")) != 0)
		goto out;
	r = 0;
 out:
	OPENSSL_cleanse(value, sizeof(value));
	if (o != NULL) {
		/* the base64 of the credential, inside json-c */
		if (json_object_object_get_ex(o, "Credential", &cv) &&
		    json_object_is_type(cv, json_type_string))
			OPENSSL_cleanse((char *)json_object_get_string(cv),
			    (size_t)json_object_get_string_len(cv));
		json_object_put(o);
	}
	return r;
}

static long
h_fetch(struct mtd_call *c, struct json_object *params,
    struct json_object *reply, struct mtd_err *err)
{
	static const char *const allowed[] = { "key", "suid", NULL };
	struct mtd *d = c->d;
	struct mtd_mef_target mt;
	const char *keid;
	char path[MTD_ID_MAX + 64], label[MTD_ID_MAX + 8], ri[32], *req = NULL;
	CK_OBJECT_HANDLE h;
	CK_ULONG role;
	size_t reqlen;
	long suid, r;
	int amb = 0;

	if ((r = mtd_p_only(params, allowed, err)) != 0 ||
	    (r = mtd_p_str(params, "key", 1, MTD_ID_MAX, &keid, err)) != 0 ||
	    (r = mtd_p_int(params, "suid", 0, 10, 99, -1, &suid, err)) != 0)
		return r;
	if (!keid_ok(keid))
		BAD(err, "parameter key: a KeId (32 hex digits @ the MEF's "
		    "FQDN)");
	if (d->conf->target_id == NULL || d->target_ctx == NULL ||
	    mef_target(d, &mt) != 0) {
		snprintf(err->detail, sizeof(err->detail), "FetchCredentials "
		    "needs [target] id and [mef] host, fqdn");
		return M2M_IPC_ERR_NOT_CONFIGURED;
	}
	role = suid < 0 ? CK_M2M_ROLE_KPSA : CK_M2M_ROLE_KUC;
	if (suid < 0) {
		snprintf(label, sizeof(label), "%s", keid);
		snprintf(path, sizeof(path), "/fetchCredentials/%s", keid);
	} else {
		snprintf(label, sizeof(label), "%s/%ld", keid, suid);
		snprintf(path, sizeof(path), "/fetchCredentials/%s/%ld", keid,
		    suid);
	}
	/* already here: no second fetch */
	if (mtd_tok_find(d->tok, label, role, NULL, &h, &amb) == CKR_OK) {
		if (amb)
			return M2M_IPC_ERR_AMBIGUOUS_KEY;
		if ((r = reply_key(d, h, reply)) != 0)
			return r;
		return add_str(reply, "source", "token");
	}
	request_id(ri);
	if ((r = mtd_http_request("GET", path, d->conf->mef_fqdn,
	    d->conf->target_id, ri, NULL, 0, &req, &reqlen)) != 0)
		return r == -2 ? M2M_IPC_ERR_NO_MEMORY :
		    M2M_IPC_ERR_INVALID_PARAMETER;
	if ((r = job_for(c, d->target_ctx, &mt, req, reqlen, 0, fetch_finish,
	    &c->job)) != 0)
		return r;
	snprintf(c->job->label, sizeof(c->job->label), "%s", label);
	c->job->role = role;
	return 0;
}

/* ---- the table ------------------------------------------------------- */

/* name, handler, the key the ACL checks, stores keys (logged at info) */
static const struct mtd_method methods[] = {
	{ "io.m2mtoken.Status",
	    h_status, MTD_KEY_NONE, 0 },
	{ "io.m2mtoken.ListKeys",
	    h_listkeys, MTD_KEY_NONE, 0 },
	{ "io.m2mtoken.Bootstrap",
	    h_bootstrap, MTD_KEY_KPMID, 1 },
	{ "io.m2mtoken.DeriveKpsa",
	    h_derive_kpsa, MTD_KEY_PARAM, 1 },
	{ "io.m2mtoken.DeriveKm",
	    h_derive_km, MTD_KEY_PARAM, 1 },
	{ "io.m2mtoken.DeriveUsageConstrained",
	    h_derive_kuc, MTD_KEY_PARAM, 1 },
	{ "io.m2mtoken.FetchCredentials",
	    h_fetch, MTD_KEY_PARAM, 1 },
	{ "io.m2mtoken.ProvisionEndToEnd",
	    h_provision_e2e, MTD_KEY_PARAM, 1 },
	{ "io.m2mtoken.Mic",
	    h_mic, MTD_KEY_PARAM, 0 },
	{ "io.m2mtoken.VerifyMic",
	    h_verify_mic, MTD_KEY_PARAM, 0 },
	{ "io.m2mtoken.Seal",
	    h_seal, MTD_KEY_PARAM, 0 },
	{ "io.m2mtoken.Open",
	    h_open, MTD_KEY_PARAM, 0 },
};

/* see methods.h */
const struct mtd_method *
mtd_method_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(methods[i].name, name) == 0)
			return &methods[i];
	return NULL;
}

/* see methods.h */
const struct mtd_method *
mtd_methods(size_t *ret_n)
{
	*ret_n = sizeof(methods) / sizeof(methods[0]);
	return methods;
}
