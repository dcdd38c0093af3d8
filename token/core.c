/* m2mtoken: the token core.  See core.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <m2mtoken/pkcs11-m2m.h>

#include "conf.h"
#include "core.h"
#include "core_int.h"
#include "ec.h"
#include "err.h"
#include "kdf.h"
#include "log.h"
#include "objcache.h"
#include "object.h"
#include "policy.h"
#include "secret.h"
#include "store.h"

static void
e2e_memo_clear(struct e2e_memo *m)
{
	m2m_secret_free(m->t);
	memset(m, 0, sizeof(*m));
}

/* see core.h */
int
m2m_core_open(struct m2m_conf *conf, struct m2m_core **ret, char *errbuf,
    size_t errlen)
{
	const struct m2m_backend_ops *ops = NULL;

	if (conf == NULL || ret == NULL) {
		m2m_conf_free(conf);
		return M2M_ERR_INVALID_ARGUMENT;
	}
	switch (conf->backend) {
	case M2M_BACKEND_HSM:
		ops = &m2m_hsm_backend_ops;
		break;
	case M2M_BACKEND_TPM:
#ifdef M2M_HAVE_TPM
		ops = &m2m_tpm_backend_ops;
#endif
		break;
	}
	if (ops == NULL) {
		m2m_errbuf_set(errbuf, errlen, "%s: [backend] type: this build "
		    "has no such backend", conf->path);
		m2m_conf_free(conf);
		return M2M_ERR_CONFIG;
	}
	return m2m_core_open_ops(conf, ops, ret, errbuf, errlen);
}

/* The store's binder (store.h): the backend's binding MAC. */
static int
core_bind_mac(void *arg, const uint8_t *msg, size_t len, uint8_t *out)
{
	struct m2m_core *c = arg;

	return c->be.ops->bind_mac(c->be.impl, msg, len, out);
}

/* The store's meta key for the backend's anchor (backend.h). */
static void
anchor_key(const struct m2m_backend_ops *ops, char *key, size_t cap)
{
	snprintf(key, cap, "anchor.%s", ops->name);
}

/* The anchor the store keeps, into conf; none (first open) is fine. */
static int
anchor_get(struct m2m_store *s, const struct m2m_backend_ops *ops,
    struct m2m_conf *conf, char *errbuf, size_t errlen)
{
	uint8_t *v = NULL;
	size_t n = 0;
	char key[64];
	int r;

	conf->backend_anchor_len = 0;
	if (ops->anchor == NULL)
		return 0;
	anchor_key(ops, key, sizeof(key));
	if ((r = m2m_store_meta_get(s, key, &v, &n)) == M2M_ERR_NOT_FOUND)
		return 0;
	if (r == 0 && (n == 0 || n > sizeof(conf->backend_anchor)))
		r = M2M_ERR_STORE_CORRUPT;
	if (r != 0) {
		m2m_errbuf_set(errbuf, errlen, "%s: cannot read the %s "
		    "backend's anchor: %s", conf->store_path, ops->name,
		    m2m_strerror(r));
		free(v);
		return r;
	}
	memcpy(conf->backend_anchor, v, n);
	conf->backend_anchor_len = n;
	free(v);
	return 0;
}

/*
 * At the first open, the store keeps the backend's anchor (backend.h).
 * A store that has tokens but no anchor had it removed (meta rows are not
 * bound: whoever can write the store can remove or replace it), or was
 * made before anchors: the open trusts the backend as a first open does,
 * and a warning says so (docs/security-model.md).
 */
static int
anchor_keep(struct m2m_core *c, char *errbuf, size_t errlen)
{
	struct m2m_token_rec *toks = NULL;
	uint8_t v[M2M_BACKEND_ANCHOR_MAX];
	size_t n = 0, ntok = 0;
	char key[64];
	int r;

	if (c->be.ops->anchor == NULL || c->conf->backend_anchor_len != 0)
		return 0;
	anchor_key(c->be.ops, key, sizeof(key));
	if (m2m_store_token_list(c->store, &toks, &ntok) == 0 && ntok != 0)
		m2m_warn("%s: the store has %zu token(s) but no %s anchor "
		    "(meta row %s): it was removed, or the store is older "
		    "than anchors; the %s backend answering now is trusted as "
		    "at a first open", c->conf->store_path, ntok,
		    c->be.ops->name, key, c->be.ops->name);
	if (toks != NULL)
		m2m_wipe(toks, ntok * sizeof(*toks));	/* PIN verifiers */
	free(toks);
	if ((r = c->be.ops->anchor(c->be.impl, v, sizeof(v), &n)) != 0 ||
	    (r = m2m_store_meta_put(c->store, key, v, n)) != 0) {
		m2m_errbuf_set(errbuf, errlen, "%s: cannot keep the %s "
		    "backend's anchor: %s", c->conf->store_path,
		    c->be.ops->name, m2m_strerror(r));
		return r;
	}
	m2m_info("%s: the %s backend's anchor is kept in the store from now "
	    "on", c->conf->store_path, c->be.ops->name);
	return 0;
}

/* see core.h */
int
m2m_core_open_ops(struct m2m_conf *conf, const struct m2m_backend_ops *ops,
    struct m2m_core **ret, char *errbuf, size_t errlen)
{
	struct m2m_core *c = NULL;
	int r = M2M_ERR_INTERNAL, in_txn = 0;

	if (conf == NULL || ops == NULL || ret == NULL) {
		m2m_conf_free(conf);
		return M2M_ERR_INVALID_ARGUMENT;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		m2m_conf_free(conf);
		return M2M_ERR_NO_MEMORY;
	}
	c->conf = conf;
	if ((r = m2m_store_open(conf->store_path, &c->store, errbuf,
	    errlen)) != 0)
		goto out;
	/* the one place every token object is inserted checks it */
	m2m_store_set_max_objects(c->store, conf->max_objects);
	m2m_store_set_max_bytes(c->store, conf->max_bytes);
	if ((r = m2m_store_begin(c->store)) != 0) {
		m2m_errbuf_set(errbuf, errlen, "%s: cannot lock the store: %s",
		    conf->store_path, m2m_strerror(r));
		goto out;
	}
	in_txn = 1;
	if ((r = anchor_get(c->store, ops, conf, errbuf, errlen)) != 0 ||
	    (r = ops->open(conf, &c->be.impl, errbuf, errlen)) != 0)
		goto out;
	c->be.ops = ops;
	if ((r = anchor_keep(c, errbuf, errlen)) != 0)
		goto out;
	if (ops->bind_mac == NULL) {
		m2m_errbuf_set(errbuf, errlen, "backend %s has no object "
		    "binding", ops->name);
		r = M2M_ERR_BACKEND;
		goto out;
	}
	m2m_store_set_binder(c->store, core_bind_mac, c);
	if ((r = m2m_store_commit(c->store)) != 0)
		goto out;
	in_txn = 0;
	*ret = c;
	c = NULL;	/* transferred */
	r = 0;
 out:
	if (in_txn)
		m2m_store_rollback(c->store);
	m2m_core_close(c);
	return r;
}

/* see core.h */
void
m2m_core_close(struct m2m_core *c)
{
	if (c == NULL)
		return;
	e2e_memo_clear(&c->e2e);
	m2m_objcache_drop(&c->cache);
	if (c->be.ops != NULL)
		c->be.ops->close(c->be.impl);
	m2m_store_close(c->store);
	m2m_conf_free(c->conf);
	free(c);
}

/* see core.h */
struct m2m_store *
m2m_core_store(struct m2m_core *c)
{
	return c->store;
}

/* see core.h */
const struct m2m_backend *
m2m_core_backend(struct m2m_core *c)
{
	return &c->be;
}

/* see core.h */
void
m2m_core_flush(struct m2m_core *c)
{
	if (c == NULL)
		return;
	e2e_memo_clear(&c->e2e);
	if (c->be.ops == NULL || c->be.ops->flush == NULL)
		return;
	c->be.ops->flush(c->be.impl);
}

/* see core.h */
const struct m2m_conf *
m2m_core_conf(struct m2m_core *c)
{
	return c->conf;
}

/* see core.h */
int
m2m_core_set_value(struct m2m_core *c, struct m2m_object *o,
    struct m2m_secret **value, const struct m2m_secret *objauth)
{
	int r;

	if (c == NULL || o == NULL || value == NULL || *value == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if (m2m_policy_kept_plain(o)) {
		if (M2M_NEVER(o->on_token || o->plain != NULL))
			return M2M_ERR_INTERNAL;	/* policy forbids it */
		o->plain = *value;
		*value = NULL;	/* transferred */
		return 0;
	}
	if ((r = m2m_core_wrap(c, o, m2m_secret_data(*value),
	    m2m_secret_len(*value), objauth)) != 0)
		return r;
	m2m_secret_free(*value);	/* wrapped: wipe the host copy now */
	*value = NULL;
	return 0;
}

/* see core.h */
int
m2m_core_wrap(struct m2m_core *c, struct m2m_object *o, const uint8_t *val,
    size_t len, const struct m2m_secret *objauth)
{
	const struct m2m_backend_ops *ops = c->be.ops;
	struct m2m_secret *pms = NULL;
	enum m2m_key_kind kind;
	uint8_t *blob = NULL, *aux = NULL;
	size_t bloblen = 0, auxlen = 0;
	const uint8_t *au = objauth ? m2m_secret_data(objauth) : NULL;
	size_t aulen = objauth ? m2m_secret_len(objauth) : 0;
	int r = M2M_ERR_INTERNAL;

	if (c == NULL || o == NULL || val == NULL || len == 0)
		return M2M_ERR_INVALID_ARGUMENT;
	kind = o->key_type == CKK_AES ? M2M_KIND_AES : M2M_KIND_HMAC;
#define WRAP(k, v, l, b, bl) \
	(ops->wrap_auth != NULL && au != NULL ? \
	    ops->wrap_auth(c->be.impl, k, v, l, au, aulen, b, bl) : \
	    ops->wrap(c->be.impl, k, v, l, b, bl))
	/* a key C_GetAttributeValue may reveal: see backend.h */
	if (ops->wrap_readable != NULL &&
	    m2m_object_bool(o, CKA_EXTRACTABLE, 0) &&
	    !m2m_object_bool(o, CKA_SENSITIVE, 1))
		r = ops->wrap_readable(c->be.impl, kind, val, len, &blob,
		    &bloblen);
	else if (ops->wrap_nomsg != NULL &&
	    !(ops->wrap_auth != NULL && au != NULL) &&
	    !m2m_policy_role_message(o->role))
		/* never an HMAC message: no message form (backend.h) */
		r = ops->wrap_nomsg(c->be.impl, kind, val, len, &blob,
		    &bloblen);
	else
		r = WRAP(kind, val, len, &blob, &bloblen);
	if (r != 0)
		goto out;
	if (m2m_policy_role_is_psk(o->role)) {
		if ((r = m2m_kdf_psk_premaster(val, len, &pms)) != 0)
			goto out;
		if ((r = WRAP(M2M_KIND_HMAC, m2m_secret_data(pms),
		    m2m_secret_len(pms), &aux, &auxlen)) != 0)
			goto out;
	}
#undef WRAP
	if ((r = m2m_object_set_blob(o, blob, bloblen)) != 0)
		goto out;
	if (aux != NULL && (r = m2m_object_set_aux(o, aux, auxlen)) != 0) {
		m2m_object_set_blob(o, NULL, 0);
		goto out;
	}
	r = 0;
 out:
	m2m_secret_free(pms);
	free(blob);
	free(aux);
	return r;
}

/* see core.h */
int
m2m_core_wrap_prehashed(struct m2m_core *c, struct m2m_object *o,
    const uint8_t *val, size_t len, const struct m2m_secret *objauth)
{
	struct m2m_secret *h256 = NULL, *h512 = NULL;
	int r = M2M_ERR_INTERNAL;

	if ((r = m2m_secret_new(32, &h256)) != 0 ||
	    (r = m2m_secret_new(64, &h512)) != 0)
		goto out;
	if (EVP_Digest(val, len, m2m_secret_data(h256), NULL,
	    EVP_sha256(), NULL) != 1 || EVP_Digest(val, len,
	    m2m_secret_data(h512), NULL, EVP_sha512(), NULL) != 1) {
		r = M2M_ERR_INTERNAL;
		goto out;
	}
	/* the SHA-512 form first, moved to aux; then the SHA-256 blob */
	if ((r = m2m_core_wrap(c, o, m2m_secret_data(h512), 64,
	    objauth)) != 0 ||
	    (r = m2m_object_set_aux(o, o->blob, o->bloblen)) != 0 ||
	    (r = m2m_core_wrap(c, o, m2m_secret_data(h256), 32,
	    objauth)) != 0)
		goto out;
	r = 0;
 out:
	m2m_secret_free(h256);
	m2m_secret_free(h512);
	return r;
}

/* see core.h */
void
m2m_core_keyref(const struct m2m_object *o, enum m2m_key_form form,
    const struct m2m_secret *objauth, struct m2m_keyref *ret)
{
	int alt = form == M2M_FORM_ALT;

	memset(ret, 0, sizeof(*ret));
	/* ids of alternate forms and session objects never collide with rowids */
	ret->id = o->id | (alt ? M2M_KEYREF_ALT_BIT : 0);
	ret->kind = (!alt && o->key_type == CKK_AES) ? M2M_KIND_AES :
	    M2M_KIND_HMAC;
	if (o->key_type == CKK_EC && m2m_ec_object_curve(o, &ret->kind) != 0)
		ret->kind = 0;	/* no curve we know: no backend takes it */
	ret->blob = alt ? o->aux : o->blob;
	ret->bloblen = alt ? o->auxlen : o->bloblen;
	if (objauth != NULL) {
		ret->auth = m2m_secret_data(objauth);
		ret->authlen = m2m_secret_len(objauth);
	}
}

/* see core.h */
int
m2m_core_hmac(struct m2m_core *c, const struct m2m_object *key,
    enum m2m_hash hash, const struct m2m_secret *objauth,
    const uint8_t *msg, size_t msglen, uint8_t *out)
{
	struct m2m_keyref kr;

	/* a pre-hashed long key: SHA-512(K) is its alternate form */
	m2m_core_keyref(key, hash == M2M_HASH_SHA512 &&
	    m2m_policy_key_prehashed(key) ? M2M_FORM_ALT : M2M_FORM_VALUE,
	    objauth, &kr);
	return c->be.ops->hmac(c->be.impl, &kr, hash, msg, msglen, out);
}

/* see core.h */
int
m2m_core_aes_gcm(struct m2m_core *c, const struct m2m_object *key,
    const struct m2m_secret *objauth, const struct m2m_gcm_args *a,
    const uint8_t *in, size_t inlen, uint8_t *out, size_t *ret_outlen)
{
	struct m2m_keyref kr;

	m2m_core_keyref(key, M2M_FORM_VALUE, objauth, &kr);
	return c->be.ops->aes_gcm(c->be.impl, &kr, a->encrypt, a->iv,
	    a->ivlen, a->aad, a->aadlen, a->taglen, in, inlen, out,
	    ret_outlen);
}

#define SAME_MSG	"m2mtoken-same-v1"	/* one AES block */
#define SAME_MSG_LEN	16
static const uint8_t same_iv[12];

/* see core.h */
int
m2m_core_same_check_value(unsigned long key_type,
    const struct m2m_secret *value, uint8_t out[M2M_SAME_CHECK_LEN])
{
	const EVP_CIPHER *ci;
	EVP_CIPHER_CTX *x;
	unsigned int ml = 0;
	size_t vl = m2m_secret_len(value);
	int l = 0, l2 = 0, ok;

	if (key_type == CKK_GENERIC_SECRET)
		return HMAC(EVP_sha256(), m2m_secret_data(value), (int)vl,
		    (const uint8_t *)SAME_MSG, SAME_MSG_LEN, out, &ml) !=
		    NULL && ml == M2M_SAME_CHECK_LEN ? 0 : M2M_ERR_INTERNAL;
	if (key_type != CKK_AES)
		return M2M_ERR_KEY_TYPE;
	ci = vl == 16 ? EVP_aes_128_gcm() : vl == 24 ? EVP_aes_192_gcm() :
	    vl == 32 ? EVP_aes_256_gcm() : NULL;
	if (ci == NULL)
		return M2M_ERR_KEY_SIZE;
	if ((x = EVP_CIPHER_CTX_new()) == NULL)
		return M2M_ERR_NO_MEMORY;
	ok = EVP_EncryptInit_ex(x, ci, NULL, m2m_secret_data(value),
	    same_iv) == 1 && EVP_EncryptUpdate(x, out, &l,
	    (const uint8_t *)SAME_MSG, SAME_MSG_LEN) == 1 &&
	    l == SAME_MSG_LEN && EVP_EncryptFinal_ex(x, out + l, &l2) == 1 &&
	    l2 == 0 && EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_GET_TAG, 16,
	    out + SAME_MSG_LEN) == 1;
	EVP_CIPHER_CTX_free(x);
	return ok ? 0 : M2M_ERR_INTERNAL;
}

/* see core.h */
int
m2m_core_same_check(struct m2m_core *c, const struct m2m_object *key,
    const struct m2m_secret *objauth, uint8_t out[M2M_SAME_CHECK_LEN])
{
	struct m2m_gcm_args g;
	size_t ol = 0;
	int r;

	if (key->key_type == CKK_GENERIC_SECRET)
		return m2m_core_hmac(c, key, M2M_HASH_SHA256, objauth,
		    (const uint8_t *)SAME_MSG, SAME_MSG_LEN, out);
	if (key->key_type != CKK_AES)
		return M2M_ERR_KEY_TYPE;
	memset(&g, 0, sizeof(g));
	g.encrypt = 1;
	g.iv = same_iv;
	g.ivlen = sizeof(same_iv);
	g.taglen = 16;
	r = m2m_core_aes_gcm(c, key, objauth, &g, (const uint8_t *)SAME_MSG,
	    SAME_MSG_LEN, out, &ol);
	if (r == 0 && ol != M2M_SAME_CHECK_LEN) {
		m2m_wipe(out, M2M_SAME_CHECK_LEN);
		r = M2M_ERR_INTERNAL;
	}
	return r;
}

/* see core.h */
int
m2m_core_random(struct m2m_core *c, uint8_t *out, size_t len)
{
	return c->be.ops->random(c->be.impl, out, len);
}

/* see core.h */
int
m2m_core_reveal(struct m2m_core *c, const struct m2m_object *o,
    const struct m2m_secret *objauth, struct m2m_secret **ret)
{
	struct m2m_keyref kr;

	if (o->plain != NULL)	/* held: m2m_policy_kept_plain() */
		return m2m_secret_from(m2m_secret_data(o->plain),
		    m2m_secret_len(o->plain), ret);
	m2m_core_keyref(o, M2M_FORM_VALUE, objauth, &kr);
	kr.id = 0;	/* a one-off load: do not cache */
	return c->be.ops->reveal(c->be.impl, &kr, ret);
}

/* see core.h */
void
m2m_core_forget(struct m2m_core *c, uint64_t id)
{
	if (c->e2e.t != NULL && c->e2e.id == id)
		e2e_memo_clear(&c->e2e);
	c->be.ops->forget(c->be.impl, id);
	c->be.ops->forget(c->be.impl, id | M2M_KEYREF_ALT_BIT);
}

/* see core.h */
int
m2m_core_object_get(struct m2m_core *c, uint64_t token_id, uint64_t id,
    struct m2m_object **ret)
{
	return m2m_objcache_get(&c->cache, c->store, token_id, id, ret);
}

/* see core.h */
int
m2m_core_generation(struct m2m_core *c, uint64_t *ret)
{
	return m2m_store_generation(c->store, ret);
}

/* see core.h */
void
m2m_core_cache_drop(struct m2m_core *c)
{
	if (c != NULL)
		m2m_objcache_drop(&c->cache);
}

/* see core.h */
int
m2m_core_e2e_expand(struct m2m_core *c, const struct m2m_keyref *master,
    enum m2m_hash hash, unsigned n, struct m2m_secret **ret)
{
	struct e2e_memo *m;
	struct m2m_secret *t = NULL, *keep = NULL;
	uint8_t dg[32];
	size_t hl = m2m_hash_len(hash);
	int r;

	if (c == NULL || master == NULL || master->blob == NULL || ret == NULL ||
	    hl == 0 || n < 1 || n > 4)
		return M2M_ERR_INVALID_ARGUMENT;
	m = &c->e2e;
	if (master->id == 0)	/* nothing names it: no memory of it */
		return m2m_kdf_e2e_expand(&c->be, master, hash, n, ret);
	/* the blob is not secret; its digest tells a reused id apart */
	if (EVP_Digest(master->blob, master->bloblen, dg, NULL, EVP_sha256(),
	    NULL) != 1)
		return M2M_ERR_INTERNAL;
	if (n > 1 && m->t != NULL && m->id == master->id && m->hash == hash &&
	    m->n == n - 1 && memcmp(m->blob_digest, dg, sizeof(dg)) == 0)
		r = m2m_kdf_e2e_step(&c->be, master, hash, n, m->t, &t);
	else
		r = m2m_kdf_e2e_expand(&c->be, master, hash, n, &t);
	e2e_memo_clear(m);
	if (r != 0)
		return r;
	/* remember T(n) for n + 1; without memory only the next call pays */
	if (n < 4 && m2m_secret_new(hl, &keep) == 0) {
		memcpy(m2m_secret_data(keep), m2m_secret_data(t), hl);
		m->id = master->id;
		memcpy(m->blob_digest, dg, sizeof(dg));
		m->hash = hash;
		m->n = n;
		m->t = keep;
	}
	*ret = t;
	return 0;
}

/* see core.h */
int
m2m_core_has_ec(const struct m2m_core *c)
{
	return c != NULL && c->be.ops->ec_generate != NULL &&
	    c->be.ops->ec_sign != NULL;
}

/* see core.h */
int
m2m_core_ec_import_allowed(const struct m2m_core *c)
{
	return c != NULL && c->conf->ec_import &&
	    c->be.ops->ec_import != NULL && c->be.ops->ec_sign != NULL;
}

/* The public point into o's CKA_EC_POINT (a DER OCTET STRING). */
static int
ec_point_set(struct m2m_object *o, const uint8_t *pub, size_t publen)
{
	uint8_t der[M2M_EC_POINT_DER_MAX];
	size_t derlen;

	if (publen == 0 || publen > M2M_EC_POINT_MAX)
		return M2M_ERR_BACKEND;
	m2m_ec_point_der(pub, publen, der, &derlen);
	return m2m_object_attr_set(o, CKA_EC_POINT, der, derlen);
}

/* see core.h */
int
m2m_core_ec_generate(struct m2m_core *c, struct m2m_object *o,
    const struct m2m_secret *objauth, uint8_t *pub, size_t *ret_publen)
{
	const struct m2m_backend_ops *ops;
	enum m2m_key_kind kind;
	uint8_t *blob = NULL;
	size_t bloblen = 0;
	int r = M2M_ERR_INTERNAL;

	if (c == NULL || o == NULL || pub == NULL || ret_publen == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	ops = c->be.ops;
	if (ops->ec_generate == NULL)
		return M2M_ERR_MECHANISM;
	if ((r = m2m_ec_object_curve(o, &kind)) != 0)
		return r;
	if ((r = ops->ec_generate(c->be.impl, kind,
	    objauth ? m2m_secret_data(objauth) : NULL,
	    objauth ? m2m_secret_len(objauth) : 0, &blob, &bloblen, pub,
	    ret_publen)) != 0)
		goto out;
	if (*ret_publen != 2 * m2m_ec_size(kind) + 1) {
		r = M2M_ERR_BACKEND;
		goto out;
	}
	if ((r = ec_point_set(o, pub, *ret_publen)) != 0 ||
	    (r = m2m_object_set_blob(o, blob, bloblen)) != 0)
		goto out;
	r = 0;
 out:
	free(blob);
	return r;
}

/* see core.h */
int
m2m_core_ec_import(struct m2m_core *c, struct m2m_object *o,
    const uint8_t *d, size_t dlen, const struct m2m_secret *objauth)
{
	const struct m2m_backend_ops *ops;
	enum m2m_key_kind kind;
	uint8_t pub[M2M_EC_POINT_MAX], *blob = NULL;
	size_t publen = 0, bloblen = 0;
	int r = M2M_ERR_INTERNAL;

	if (c == NULL || o == NULL || d == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	ops = c->be.ops;
	if (!m2m_core_ec_import_allowed(c))
		return M2M_ERR_TEMPLATE_INCONSISTENT;
	if ((r = m2m_ec_object_curve(o, &kind)) != 0)
		return r;
	if (dlen != m2m_ec_size(kind))
		return M2M_ERR_ATTRIBUTE_VALUE;
	if ((r = ops->ec_import(c->be.impl, kind, d, dlen,
	    objauth ? m2m_secret_data(objauth) : NULL,
	    objauth ? m2m_secret_len(objauth) : 0, &blob, &bloblen, pub,
	    &publen)) != 0) {
		/* not a scalar of the curve: a bad CKA_VALUE */
		if (r == M2M_ERR_KEY_SIZE)
			r = M2M_ERR_ATTRIBUTE_VALUE;
		goto out;
	}
	if (publen != 2 * dlen + 1) {
		r = M2M_ERR_BACKEND;
		goto out;
	}
	if ((r = ec_point_set(o, pub, publen)) != 0 ||
	    (r = m2m_object_set_blob(o, blob, bloblen)) != 0)
		goto out;
	r = 0;
 out:
	free(blob);
	return r;
}

/* see core.h */
int
m2m_core_ec_sign(struct m2m_core *c, const struct m2m_object *key,
    const struct m2m_secret *objauth, const uint8_t *digest, size_t dlen,
    uint8_t *sig, size_t *ret_siglen)
{
	struct m2m_keyref kr;

	if (c == NULL || key == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if (c->be.ops->ec_sign == NULL)
		return M2M_ERR_MECHANISM;
	m2m_core_keyref(key, M2M_FORM_VALUE, objauth, &kr);
	if (kr.kind != M2M_KIND_EC_P256 && kr.kind != M2M_KIND_EC_P384)
		return M2M_ERR_KEY_TYPE;
	return c->be.ops->ec_sign(c->be.impl, &kr, digest, dlen, sig,
	    ret_siglen);
}
