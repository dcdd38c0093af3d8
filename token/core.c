/* m2mtoken: the token core.  See core.h. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <m2mtoken/pkcs11-m2m.h>

#include "conf.h"
#include "core.h"
#include "err.h"
#include "kdf.h"
#include "log.h"
#include "object.h"
#include "policy.h"
#include "secret.h"
#include "store.h"

#define PIN_MAGIC	"M2P1"
#define PIN_SALT_LEN	16
#define PIN_HASH_LEN	32
#define PIN_ITER	20000	/* PBKDF2-HMAC-SHA-256 rounds */
#define PIN_HDR_LEN	(4 + 4 + PIN_SALT_LEN + PIN_HASH_LEN + 2)

struct m2m_core {
	struct m2m_conf		*conf;
	struct m2m_store	*store;
	struct m2m_backend	 be;
};

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
		snprintf(errbuf, errlen, "%s: [backend] type: this build "
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
	if ((r = m2m_store_begin(c->store)) != 0) {
		snprintf(errbuf, errlen, "%s: cannot lock the store: %s",
		    conf->store_path, m2m_strerror(r));
		goto out;
	}
	in_txn = 1;
	if ((r = ops->open(conf, &c->be.impl, errbuf, errlen)) != 0)
		goto out;
	c->be.ops = ops;
	if (ops->bind_mac == NULL) {
		snprintf(errbuf, errlen, "backend %s has no object binding",
		    ops->name);
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
const struct m2m_conf *
m2m_core_conf(struct m2m_core *c)
{
	return c->conf;
}

static int
pin_len_ok(struct m2m_core *c, size_t len)
{
	return len >= c->conf->pin_min && len <= c->conf->pin_max;
}

/*
 * Verifier = "M2P1" || u32be iterations || salt || PBKDF2 || u16be n ||
 * n bytes of backend PIN seal (0 when the backend has none).
 */
static int
pin_verifier_make(struct m2m_core *c, const uint8_t *pin, size_t pinlen,
    const struct m2m_secret *objauth, uint8_t *out, size_t *ret_len)
{
	uint8_t *seal = NULL, *p = out;
	size_t seallen = 0;
	int r = M2M_ERR_INTERNAL;

	if (RAND_bytes(p + 8, PIN_SALT_LEN) != 1)
		return M2M_ERR_RANDOM;
	memcpy(p, PIN_MAGIC, 4);
	p[4] = (uint8_t)(PIN_ITER >> 24);
	p[5] = (uint8_t)(PIN_ITER >> 16);
	p[6] = (uint8_t)(PIN_ITER >> 8);
	p[7] = (uint8_t)PIN_ITER;
	if (PKCS5_PBKDF2_HMAC((const char *)pin, (int)pinlen, p + 8,
	    PIN_SALT_LEN, PIN_ITER, EVP_sha256(), PIN_HASH_LEN,
	    p + 8 + PIN_SALT_LEN) != 1)
		return M2M_ERR_INTERNAL;
	if (c->be.ops->pin_seal != NULL) {
		if ((r = c->be.ops->pin_seal(c->be.impl, pin, pinlen, objauth,
		    &seal, &seallen)) != 0)
			return r;
		if (seallen > M2M_PIN_VERIFIER_MAX - PIN_HDR_LEN) {
			free(seal);
			return M2M_ERR_BACKEND;
		}
	}
	p[PIN_HDR_LEN - 2] = (uint8_t)(seallen >> 8);
	p[PIN_HDR_LEN - 1] = (uint8_t)seallen;
	if (seallen != 0)
		memcpy(p + PIN_HDR_LEN, seal, seallen);
	free(seal);
	*ret_len = PIN_HDR_LEN + seallen;
	return 0;
}

static int
pin_verifier_check(struct m2m_core *c, const uint8_t *v, size_t vlen,
    const uint8_t *pin, size_t pinlen, struct m2m_secret **ret_objauth)
{
	uint8_t calc[PIN_HASH_LEN];
	uint32_t iter;
	size_t seallen;
	int r = M2M_ERR_INTERNAL;

	if (vlen < PIN_HDR_LEN || memcmp(v, PIN_MAGIC, 4) != 0)
		return M2M_ERR_STORE_CORRUPT;
	iter = (uint32_t)v[4] << 24 | (uint32_t)v[5] << 16 |
	    (uint32_t)v[6] << 8 | v[7];
	seallen = (size_t)v[PIN_HDR_LEN - 2] << 8 | v[PIN_HDR_LEN - 1];
	if (iter < 1000 || iter > 10000000 || seallen != vlen - PIN_HDR_LEN)
		return M2M_ERR_STORE_CORRUPT;
	if (seallen != 0) {
		/* the hardware decides, and counts failures itself */
		if (c->be.ops->pin_check == NULL)
			return M2M_ERR_STORE_CORRUPT;
		return c->be.ops->pin_check(c->be.impl, v + PIN_HDR_LEN,
		    seallen, pin, pinlen, ret_objauth);
	}
	if (PKCS5_PBKDF2_HMAC((const char *)pin, (int)pinlen, v + 8,
	    PIN_SALT_LEN, (int)iter, EVP_sha256(), PIN_HASH_LEN, calc) != 1)
		goto out;
	r = m2m_ct_equal(calc, v + 8 + PIN_SALT_LEN, PIN_HASH_LEN) ? 0 :
	    M2M_ERR_PIN_INCORRECT;
	if (r == 0)
		*ret_objauth = NULL;
 out:
	m2m_wipe(calc, sizeof(calc));
	return r;
}

/* see core.h */
int
m2m_core_token_init(struct m2m_core *c, uint64_t token_id,
    const uint8_t *so_pin, size_t so_pinlen, const uint8_t *label32,
    uint64_t *ret_id)
{
	struct m2m_token_rec rec;
	struct m2m_secret *objauth = NULL;
	uint8_t serial[8];
	uint64_t id = token_id;
	int r = M2M_ERR_INTERNAL, in_txn = 0;

	if (c == NULL || so_pin == NULL || label32 == NULL || ret_id == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if (!pin_len_ok(c, so_pinlen))
		return M2M_ERR_PIN_LEN;
	memset(&rec, 0, sizeof(rec));
	if (token_id != 0) {
		if ((r = m2m_core_token_login(c, token_id, 1, so_pin,
		    so_pinlen, &objauth)) != 0)
			goto out;
		if ((r = m2m_store_token_get(c->store, token_id, &rec)) != 0)
			goto out;
	} else {
		if (RAND_bytes(serial, sizeof(serial)) != 1) {
			r = M2M_ERR_RANDOM;
			goto out;
		}
		for (size_t i = 0; i < sizeof(serial); i++)
			snprintf(rec.serial + 2 * i, 3, "%02x", serial[i]);
	}
	memcpy(rec.label, label32, 32);
	rec.label[32] = '\0';
	rec.initialized = 1;
	rec.user_pin_set = 0;
	rec.user_pin_len = 0;
	rec.so_fails = rec.user_fails = 0;
	/* a fresh object-authorisation secret for a (re)initialised token */
	m2m_secret_free(objauth);
	objauth = NULL;
	if ((r = pin_verifier_make(c, so_pin, so_pinlen, NULL, rec.so_pin,
	    &rec.so_pin_len)) != 0)
		goto out;
	if ((r = m2m_store_begin(c->store)) != 0)
		goto out;
	in_txn = 1;
	if (token_id != 0) {
		if ((r = m2m_store_token_clear_objects(c->store,
		    token_id)) != 0 ||
		    (r = m2m_store_token_update(c->store, &rec)) != 0)
			goto out;
	} else if ((r = m2m_store_token_insert(c->store, &rec, &id)) != 0)
		goto out;
	if ((r = m2m_store_commit(c->store)) != 0)
		goto out;
	in_txn = 0;
	*ret_id = id;
	r = 0;
 out:
	if (in_txn)
		m2m_store_rollback(c->store);
	m2m_secret_free(objauth);
	m2m_wipe(&rec, sizeof(rec));
	return r;
}

/* see core.h */
int
m2m_core_token_login(struct m2m_core *c, uint64_t token_id, int so,
    const uint8_t *pin, size_t pinlen, struct m2m_secret **ret_objauth)
{
	struct m2m_token_rec rec;
	struct m2m_secret *objauth = NULL;
	unsigned int *fails;
	int r = M2M_ERR_INTERNAL;

	if (c == NULL || (pin == NULL && pinlen != 0) || ret_objauth == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if ((r = m2m_store_token_get(c->store, token_id, &rec)) != 0)
		return r;
	fails = so ? &rec.so_fails : &rec.user_fails;
	if (!so && !rec.user_pin_set) {
		r = M2M_ERR_NOT_FOUND;
		goto out;
	}
	if (*fails >= c->conf->max_pin_tries) {
		r = M2M_ERR_PIN_LOCKED;
		goto out;
	}
	if (!pin_len_ok(c, pinlen)) {
		r = M2M_ERR_PIN_LEN;
		goto out;
	}
	r = pin_verifier_check(c, so ? rec.so_pin : rec.user_pin,
	    so ? rec.so_pin_len : rec.user_pin_len, pin, pinlen, &objauth);
	if (r == M2M_ERR_PIN_INCORRECT || r == M2M_ERR_PIN_LOCKED) {
		int r2;

		(*fails)++;
		if (r == M2M_ERR_PIN_LOCKED)
			*fails = c->conf->max_pin_tries;
		if ((r2 = m2m_store_token_update(c->store, &rec)) != 0)
			r = r2;
		else if (*fails >= c->conf->max_pin_tries)
			m2m_warn("token %llu: %s PIN locked after %u failed "
			    "logins", (unsigned long long)token_id,
			    so ? "SO" : "user", *fails);
		goto out;
	}
	if (r != 0)
		goto out;
	if (*fails != 0) {
		*fails = 0;
		if ((r = m2m_store_token_update(c->store, &rec)) != 0)
			goto out;
	}
	*ret_objauth = objauth;
	objauth = NULL;	/* transferred */
	r = 0;
 out:
	m2m_secret_free(objauth);
	m2m_wipe(&rec, sizeof(rec));
	return r;
}

/* see core.h */
int
m2m_core_token_init_pin(struct m2m_core *c, uint64_t token_id,
    const struct m2m_secret *objauth, const uint8_t *pin, size_t pinlen)
{
	struct m2m_token_rec rec;
	int r;

	if (c == NULL || (pin == NULL && pinlen != 0))
		return M2M_ERR_INVALID_ARGUMENT;
	if (!pin_len_ok(c, pinlen))
		return M2M_ERR_PIN_LEN;
	if ((r = m2m_store_token_get(c->store, token_id, &rec)) != 0)
		return r;
	if ((r = pin_verifier_make(c, pin, pinlen, objauth, rec.user_pin,
	    &rec.user_pin_len)) != 0)
		goto out;
	rec.user_pin_set = 1;
	rec.user_fails = 0;
	r = m2m_store_token_update(c->store, &rec);
 out:
	m2m_wipe(&rec, sizeof(rec));
	return r;
}

/* see core.h */
int
m2m_core_token_set_pin(struct m2m_core *c, uint64_t token_id, int so,
    const uint8_t *oldpin, size_t oldlen, const uint8_t *newpin,
    size_t newlen)
{
	struct m2m_token_rec rec;
	struct m2m_secret *objauth = NULL;
	int r;

	if (c == NULL || (newpin == NULL && newlen != 0))
		return M2M_ERR_INVALID_ARGUMENT;
	if (!pin_len_ok(c, newlen))
		return M2M_ERR_PIN_LEN;
	if ((r = m2m_core_token_login(c, token_id, so, oldpin, oldlen,
	    &objauth)) != 0)
		return r;
	if ((r = m2m_store_token_get(c->store, token_id, &rec)) != 0)
		goto out;
	if ((r = pin_verifier_make(c, newpin, newlen, objauth,
	    so ? rec.so_pin : rec.user_pin,
	    so ? &rec.so_pin_len : &rec.user_pin_len)) != 0)
		goto out;
	r = m2m_store_token_update(c->store, &rec);
 out:
	m2m_secret_free(objauth);
	m2m_wipe(&rec, sizeof(rec));
	return r;
}

/* see core.h */
int
m2m_core_set_value(struct m2m_core *c, struct m2m_object *o,
    struct m2m_secret **value, const struct m2m_secret *objauth)
{
	int r;

	if (c == NULL || o == NULL || value == NULL || *value == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if (m2m_policy_role_kept_plain(o->role)) {
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
	if ((r = WRAP(kind, val, len, &blob, &bloblen)) != 0)
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
void
m2m_core_keyref(const struct m2m_object *o, int aux,
    const struct m2m_secret *objauth, struct m2m_keyref *ret)
{
	memset(ret, 0, sizeof(*ret));
	/* ids of aux blobs and session objects never collide with rowids */
	ret->id = o->id | (aux ? (1ULL << 62) : 0);
	ret->kind = (!aux && o->key_type == CKK_AES) ? M2M_KIND_AES :
	    M2M_KIND_HMAC;
	ret->blob = aux ? o->aux : o->blob;
	ret->bloblen = aux ? o->auxlen : o->bloblen;
	if (objauth != NULL) {
		ret->auth = m2m_secret_data(objauth);
		ret->authlen = m2m_secret_len(objauth);
	}
}
