/* m2mtoken: the core's PINs: verifiers, token init, login.  See core.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "conf.h"
#include "core.h"
#include "core_int.h"
#include "err.h"
#include "log.h"
#include "secret.h"
#include "store.h"

/*
 * Two verifier formats; which one a token has follows from the backend:
 *   "M2P1" || u32be iterations || salt || PBKDF2 || u16be 0
 *	when the backend has no PIN binding (HSM: the HSM's own login guards
 *	its keys; the store counts failures);
 *   "M2S1" || the backend's PIN seal
 *	when it has (TPM): the hardware checks the PIN and counts failures
 *	with its dictionary-attack protection, and the store holds nothing a
 *	guess could be tested against offline (no hash of the PIN at all).
 */
#define PIN_MAGIC	"M2P1"
#define SEAL_MAGIC	"M2S1"
#define PIN_SALT_LEN	16
#define PIN_HASH_LEN	32
#define PIN_ITER	20000	/* PBKDF2-HMAC-SHA-256 rounds */
#define PIN_HDR_LEN	(4 + 4 + PIN_SALT_LEN + PIN_HASH_LEN + 2)

static int
pin_len_ok(struct m2m_core *c, size_t len)
{
	return len >= c->conf->pin_min && len <= c->conf->pin_max;
}

/* A new verifier of pin (format above) into out[M2M_PIN_VERIFIER_MAX]. */
static int
pin_verifier_make(struct m2m_core *c, const uint8_t *pin, size_t pinlen,
    const struct m2m_secret *objauth, uint8_t *out, size_t *ret_len)
{
	uint8_t *seal = NULL, *p = out;
	size_t seallen = 0;
	int r = M2M_ERR_INTERNAL;

	if (c->be.ops->pin_seal != NULL) {
		if ((r = c->be.ops->pin_seal(c->be.impl, pin, pinlen, objauth,
		    &seal, &seallen)) != 0)
			return r;
		if (seallen == 0 || seallen > M2M_PIN_VERIFIER_MAX - 4) {
			free(seal);
			return M2M_ERR_BACKEND;
		}
		memcpy(p, SEAL_MAGIC, 4);
		memcpy(p + 4, seal, seallen);
		free(seal);
		*ret_len = 4 + seallen;
		return 0;
	}
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
	p[PIN_HDR_LEN - 2] = 0;
	p[PIN_HDR_LEN - 1] = 0;
	*ret_len = PIN_HDR_LEN;
	return 0;
}

/* Check pin against verifier v; no store access, no core state changed. */
static int
pin_verifier_check(struct m2m_core *c, const uint8_t *v, size_t vlen,
    const uint8_t *pin, size_t pinlen, struct m2m_secret **ret_objauth)
{
	uint8_t calc[PIN_HASH_LEN];
	uint32_t iter;
	int r = M2M_ERR_INTERNAL;

	if (c->be.ops->pin_check != NULL) {
		/* the hardware decides, and counts failures itself */
		if (vlen <= 4 || memcmp(v, SEAL_MAGIC, 4) != 0)
			return M2M_ERR_STORE_CORRUPT;
		return c->be.ops->pin_check(c->be.impl, v + 4, vlen - 4, pin,
		    pinlen, ret_objauth);
	}
	if (vlen != PIN_HDR_LEN || memcmp(v, PIN_MAGIC, 4) != 0 ||
	    v[PIN_HDR_LEN - 2] != 0 || v[PIN_HDR_LEN - 1] != 0)
		return M2M_ERR_STORE_CORRUPT;
	iter = (uint32_t)v[4] << 24 | (uint32_t)v[5] << 16 |
	    (uint32_t)v[6] << 8 | v[7];
	if (iter < 1000 || iter > 10000000)
		return M2M_ERR_STORE_CORRUPT;
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
m2m_core_pin_reserve(struct m2m_core *c, uint64_t token_id, int so,
    size_t pinlen, struct m2m_pin_try *ret)
{
	struct m2m_token_rec rec;
	unsigned int fails;
	int r = M2M_ERR_INTERNAL, in_txn = 0;

	if (c == NULL || ret == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	memset(&rec, 0, sizeof(rec));
	/* BEGIN IMMEDIATE: no other process counts between check and + 1 */
	if ((r = m2m_store_begin(c->store)) != 0)
		goto out;
	in_txn = 1;
	if ((r = m2m_store_token_get(c->store, token_id, &rec)) != 0)
		goto out;
	fails = so ? rec.so_fails : rec.user_fails;
	if (!so && !rec.user_pin_set) {
		r = M2M_ERR_NOT_FOUND;
		goto out;
	}
	if (fails >= c->conf->max_pin_tries) {
		r = M2M_ERR_PIN_LOCKED;
		goto out;
	}
	if (!pin_len_ok(c, pinlen)) {
		r = M2M_ERR_PIN_LEN;
		goto out;
	}
	if ((r = m2m_store_token_pin_fail(c->store, token_id, so)) != 0 ||
	    (r = m2m_store_commit(c->store)) != 0)
		goto out;
	in_txn = 0;
	memset(ret, 0, sizeof(*ret));
	ret->token_id = token_id;
	ret->so = so != 0;
	ret->fails = fails + 1;
	ret->vlen = so ? rec.so_pin_len : rec.user_pin_len;
	memcpy(ret->v, so ? rec.so_pin : rec.user_pin, ret->vlen);
	r = 0;
 out:
	if (in_txn)
		m2m_store_rollback(c->store);
	m2m_wipe(&rec, sizeof(rec));
	return r;
}

/* see core.h */
int
m2m_core_pin_verify(struct m2m_core *c, const struct m2m_pin_try *t,
    const uint8_t *pin, size_t pinlen, struct m2m_secret **ret_objauth)
{
	int r;

	if (c == NULL || t == NULL || (pin == NULL && pinlen != 0) ||
	    ret_objauth == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	r = pin_verifier_check(c, t->v, t->vlen, pin, pinlen, ret_objauth);
	if (r == M2M_ERR_STORE_CORRUPT)
		m2m_error("token %llu: bad %s PIN verifier: want %s%s",
		    (unsigned long long)t->token_id, t->so ? "SO" : "user",
		    c->be.ops->pin_check != NULL ? "the backend's PIN seal "
		    "alone" : "PBKDF2", c->be.ops->pin_check != NULL ?
		    " (older versions kept a PBKDF2 hash next to it): "
		    "re-initialise the token" : "");
	return r;
}

/* see core.h */
int
m2m_core_pin_record(struct m2m_core *c, const struct m2m_pin_try *t, int r)
{
	const char *who;
	int r2;

	if (c == NULL || t == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	who = t->so ? "SO" : "user";
	if (r == 0) {
		r2 = m2m_store_token_pin_ok(c->store, t->token_id, t->so, t->v,
		    t->vlen);
		if (r2 == M2M_ERR_NOT_FOUND) {
			m2m_info("token %llu: the %s PIN changed during the "
			    "login", (unsigned long long)t->token_id, who);
			return M2M_ERR_PIN_INCORRECT;
		}
		return r2;
	}
	if (r == M2M_ERR_PIN_LOCKED) {
		/*
		 * The backend's own lockout (a TPM's dictionary-attack
		 * lockout) is one for every token on it, and says nothing
		 * about this PIN: the try is given back and nothing is kept
		 * for this token, which logs in again once the backend
		 * recovers (a second review: another token's wrong PINs
		 * locked this one for good).
		 */
		(void)m2m_store_token_pin_unfail(c->store, t->token_id,
		    t->so);
		m2m_warn("token %llu: %s login refused: the %s backend is in "
		    "its dictionary-attack lockout (one for every token on "
		    "it); nothing is kept for this token: it recovers by "
		    "itself, or at once with tpm2_dictionarylockout -c",
		    (unsigned long long)t->token_id, who, c->be.ops->name);
	} else if (r == M2M_ERR_PIN_INCORRECT) {
		if (t->fails >= c->conf->max_pin_tries)
			m2m_warn("token %llu: %s PIN locked after %u failed "
			    "logins", (unsigned long long)t->token_id, who,
			    t->fails);
	} else {
		/* no verdict (out of memory, backend down): give it back */
		(void)m2m_store_token_pin_unfail(c->store, t->token_id,
		    t->so);
	}
	return r;
}

/* see core.h */
int
m2m_core_token_login(struct m2m_core *c, uint64_t token_id, int so,
    const uint8_t *pin, size_t pinlen, struct m2m_secret **ret_objauth)
{
	struct m2m_pin_try t;
	struct m2m_secret *objauth = NULL;
	int r = M2M_ERR_INTERNAL;

	if (c == NULL || (pin == NULL && pinlen != 0) || ret_objauth == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	memset(&t, 0, sizeof(t));
	if ((r = m2m_core_pin_reserve(c, token_id, so, pinlen, &t)) != 0)
		goto out;
	r = m2m_core_pin_verify(c, &t, pin, pinlen, &objauth);
	if ((r = m2m_core_pin_record(c, &t, r)) != 0)
		goto out;
	*ret_objauth = objauth;
	objauth = NULL;	/* transferred */
	r = 0;
 out:
	m2m_secret_free(objauth);
	m2m_wipe(&t, sizeof(t));
	return r;
}

/* see core.h */
int
m2m_core_pin_len_check(struct m2m_core *c, size_t len)
{
	if (c == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	return pin_len_ok(c, len) ? 0 : M2M_ERR_PIN_LEN;
}

/* see core.h */
int
m2m_core_pin_make(struct m2m_core *c, const uint8_t *pin, size_t pinlen,
    const struct m2m_secret *objauth, uint8_t *ret, size_t *ret_len)
{
	if (c == NULL || (pin == NULL && pinlen != 0) || ret == NULL ||
	    ret_len == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if (!pin_len_ok(c, pinlen))
		return M2M_ERR_PIN_LEN;
	return pin_verifier_make(c, pin, pinlen, objauth, ret, ret_len);
}

/* see core.h */
int
m2m_core_pin_store(struct m2m_core *c, uint64_t token_id, int so,
    const uint8_t *v, size_t vlen, enum m2m_pin_fails fails)
{
	int reset_fails = fails == M2M_PIN_FAILS_RESET;

	if (c == NULL || v == NULL || vlen == 0)
		return M2M_ERR_INVALID_ARGUMENT;
	return m2m_store_token_pin_set(c->store, token_id, so, v, vlen,
	    reset_fails);
}

/* see core.h */
int
m2m_core_token_init_pin(struct m2m_core *c, uint64_t token_id,
    const struct m2m_secret *objauth, const uint8_t *pin, size_t pinlen)
{
	uint8_t v[M2M_PIN_VERIFIER_MAX];
	size_t vlen = 0;
	int r;

	if (c == NULL || (pin == NULL && pinlen != 0))
		return M2M_ERR_INVALID_ARGUMENT;
	if (!pin_len_ok(c, pinlen))
		return M2M_ERR_PIN_LEN;
	if ((r = pin_verifier_make(c, pin, pinlen, objauth, v, &vlen)) != 0)
		goto out;
	/* the verifier and its counter only (the SO unlocks the user PIN) */
	r = m2m_store_token_pin_set(c->store, token_id, 0, v, vlen, 1);
 out:
	m2m_wipe(v, sizeof(v));
	return r;
}

/* see core.h */
int
m2m_core_token_set_pin(struct m2m_core *c, uint64_t token_id, int so,
    const uint8_t *oldpin, size_t oldlen, const uint8_t *newpin,
    size_t newlen)
{
	struct m2m_secret *objauth = NULL;
	uint8_t v[M2M_PIN_VERIFIER_MAX];
	size_t vlen = 0;
	int r;

	if (c == NULL || (newpin == NULL && newlen != 0))
		return M2M_ERR_INVALID_ARGUMENT;
	if (!pin_len_ok(c, newlen))
		return M2M_ERR_PIN_LEN;
	if ((r = m2m_core_token_login(c, token_id, so, oldpin, oldlen,
	    &objauth)) != 0)
		return r;
	if ((r = pin_verifier_make(c, newpin, newlen, objauth, v,
	    &vlen)) != 0)
		goto out;
	/* the verifier only: failures counted meanwhile stay counted */
	r = m2m_store_token_pin_set(c->store, token_id, so, v, vlen, 0);
 out:
	m2m_secret_free(objauth);
	m2m_wipe(v, sizeof(v));
	return r;
}
