/*
 * m2mtokend: the method table of the flow IPC and the methods that stay on
 * this host: Status, ListKeys, the derivations, ProvisionEndToEnd, Mic /
 * VerifyMic, Seal / Open (see methods.h and docs/protocol.md, "Methods");
 * the MEF flows are in flow_mef.c.  Keys are reached only through tok.h
 * (PKCS#11); no reply carries key material.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "acl.h"
#include "errors.h"
#include "methods.h"
#include "methods_int.h"

#define M2MTOKEND_VERSION	"0.1.0"
#define LISTKEYS_MAX		4096


/* see methods_int.h */
int
mtd_add_str(struct json_object *o, const char *k, const char *v)
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
	r = mtd_add_str(o, k, s);
	/* it may be a plaintext (Open) */
	OPENSSL_cleanse(s, strlen(s));
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

/* see methods_int.h */
long
mtd_reply_key(struct mtd *d, CK_OBJECT_HANDLE h, struct json_object *reply)
{
	struct mtd_keyinfo ki;
	const char *rn;
	CK_RV rv;
	int r;

	if ((rv = mtd_tok_keyinfo(d->tok, h, &ki)) != CKR_OK)
		return (long)rv;
	rn = mtd_role_name(ki.role);
	if ((r = mtd_add_str(reply, "key", ki.label)) != 0 ||
	    (r = mtd_add_str(reply, "role", rn != NULL ? rn : "none")) != 0 ||
	    (ki.peer[0] != '\0' && (r = mtd_add_str(reply, "peer",
	    ki.peer)) != 0) ||
	    (ki.enrolee[0] != '\0' && (r = mtd_add_str(reply, "enroleeId",
	    ki.enrolee)) != 0) ||
	    (ki.expires[0] != '\0' && (r = mtd_add_str(reply, "expires",
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
		if ((r = mtd_add_str(tok, "label", s)) != 0)
			return r;
		trim32(s, ti.manufacturerID);
		if ((r = mtd_add_str(tok, "manufacturer", s)) != 0)
			return r;
		memcpy(s, ti.model, 16);
		s[16] = '\0';
		while (s[0] != '\0' && s[strlen(s) - 1] == ' ')
			s[strlen(s) - 1] = '\0';
		if ((r = mtd_add_str(tok, "model", s)) != 0 ||
		    (r = mtd_add_str(tok, "state", "ready")) != 0)
			return r;
	} else if ((r = mtd_add_str(tok, "state", "unavailable")) != 0)
		return r;
	if ((r = mtd_add_str(reply, "version", M2MTOKEND_VERSION)) != 0 ||
	    (r = mtd_add_str(reply, "enroleeKpmId", d->conf->kpm_id)) != 0 ||
	    (r = mtd_add_str(reply, "targetId", d->conf->target_id)) != 0 ||
	    (r = mtd_add_str(reply, "mef", d->conf->mef_fqdn)) != 0 ||
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
	if (mtd_add_str(o, "key", ki->label) != 0 ||
	    mtd_add_str(o, "role", rn != NULL ? rn : "none") != 0 ||
	    (ki->peer[0] != '\0' && mtd_add_str(o, "peer", ki->peer) != 0) ||
	    (ki->enrolee[0] != '\0' &&
	    mtd_add_str(o, "enroleeId", ki->enrolee) != 0) ||
	    (ki->expires[0] != '\0' &&
	    mtd_add_str(o, "expires", ki->expires) != 0))
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
	return mtd_reply_key(c->d, h, reply);
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
	    (r = mtd_p_int(params, "suid", 1, 10, 99, 0, &suid, err)) != 0 ||
	    (r = ke_of(c->d, params, &base, err)) != 0)
		return r;
	kp.ulSuid = (CK_ULONG)suid;
	kp.pTargetId = (CK_UTF8CHAR_PTR)id;
	kp.ulTargetIdLen = (CK_ULONG)strlen(id);
	if ((r = (long)mtd_tok_derive(c->d->tok, base, CKM_M2M_KUC_DERIVE,
	    &kp, sizeof(kp), NULL, &h)) != CKR_OK)
		return r;
	return mtd_reply_key(c->d, h, reply);
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
	if ((r = mtd_add_str(reply, "e2eKeyId", ki.label)) != 0 ||
	    (r = mtd_add_str(reply, "hash", mech == CKM_M2M_E2E_MASTER_SHA512 ?
	    "sha512" : "sha256")) != 0 ||
	    (ki.peer[0] != '\0' && (r = mtd_add_str(reply, "peer",
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

/* ---- the table ------------------------------------------------------- */

/* name, handler, the key the ACL checks, stores keys (logged at info) */
static const struct mtd_method methods[] = {
	{ "io.m2mtoken.Status",
	    h_status, MTD_KEY_NONE, 0 },
	{ "io.m2mtoken.ListKeys",
	    h_listkeys, MTD_KEY_NONE, 0 },
	{ "io.m2mtoken.Bootstrap",
	    mtd_h_bootstrap, MTD_KEY_KPMID, 1 },
	{ "io.m2mtoken.DeriveKpsa",
	    h_derive_kpsa, MTD_KEY_PARAM, 1 },
	{ "io.m2mtoken.DeriveKm",
	    h_derive_km, MTD_KEY_PARAM, 1 },
	{ "io.m2mtoken.DeriveUsageConstrained",
	    h_derive_kuc, MTD_KEY_PARAM, 1 },
	{ "io.m2mtoken.FetchCredentials",
	    mtd_h_fetch, MTD_KEY_KEID, 1 },
	{ "io.m2mtoken.KeyGen",
	    mtd_h_keygen, MTD_KEY_PARAM, 1 },
	{ "io.m2mtoken.Csr",
	    mtd_h_csr, MTD_KEY_PARAM, 0 },
	{ "io.m2mtoken.CertImport",
	    mtd_h_cert_import, MTD_KEY_PARAM, 1 },
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
