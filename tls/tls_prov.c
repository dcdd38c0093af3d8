/*
 * The "m2mtoken" provider of an m2m_tls context: TLS1-PRF only.  A PRF call
 * whose secret is the RFC 4279 premaster of one of our key references gets
 * its master secret from the token (tls_master.c); every other call goes
 * to the default provider's TLS1-PRF unchanged.  docs/architecture.md,
 * libm2mtls, has the design.
 */
#include <stdint.h>
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>

#include "tls_int.h"
#include "tls_log.h"

#define MDNAME_MAX	64
#define SEED_MAX	(64 + 128)

struct kdf_ctx {
	struct m2m_tls	*t;
	EVP_KDF_CTX	*inner;
	char		mdname[MDNAME_MAX];
	uint8_t		*secret;
	size_t		secretlen;
	uint8_t		seed[SEED_MAX];
	size_t		seedlen;
	int		seed_overflow;
};

static __thread struct m2m_tls *pending;	/* for prov_init */

static void *
kdf_new(void *provctx)
{
	struct m2m_tls *t = provctx;
	struct kdf_ctx *c;

	if (t == NULL || t->prf == NULL ||
	    (c = OPENSSL_zalloc(sizeof(*c))) == NULL)
		return NULL;
	c->t = t;
	if ((c->inner = EVP_KDF_CTX_new(t->prf)) == NULL) {
		OPENSSL_free(c);
		return NULL;
	}
	return c;
}

static void
kdf_clear(struct kdf_ctx *c)
{
	OPENSSL_clear_free(c->secret, c->secretlen);
	c->secret = NULL;
	c->secretlen = 0;
	OPENSSL_cleanse(c->seed, sizeof(c->seed));
	c->seedlen = 0;
	c->seed_overflow = 0;
	c->mdname[0] = '\0';
}

static void
kdf_free(void *vctx)
{
	struct kdf_ctx *c = vctx;

	if (c == NULL)
		return;
	kdf_clear(c);
	EVP_KDF_CTX_free(c->inner);
	OPENSSL_free(c);
}

static void
kdf_reset(void *vctx)
{
	struct kdf_ctx *c = vctx;

	kdf_clear(c);
	EVP_KDF_CTX_reset(c->inner);
}

static int
kdf_set_params(void *vctx, const OSSL_PARAM params[])
{
	struct kdf_ctx *c = vctx;
	const OSSL_PARAM *p;
	char *name;
	void *sec = NULL;
	size_t sl = 0;

	if (params == NULL)
		return 1;
	if ((p = OSSL_PARAM_locate_const(params, OSSL_KDF_PARAM_DIGEST)) !=
	    NULL) {
		name = c->mdname;
		/* a name that does not fit may be left unterminated */
		if (!OSSL_PARAM_get_utf8_string(p, &name, sizeof(c->mdname))) {
			c->mdname[0] = '\0';
			return 0;
		}
	}
	if ((p = OSSL_PARAM_locate_const(params, OSSL_KDF_PARAM_SECRET)) !=
	    NULL) {
		if (!OSSL_PARAM_get_octet_string(p, &sec, 0, &sl))
			return 0;
		OPENSSL_clear_free(c->secret, c->secretlen);
		c->secret = sec;
		c->secretlen = sl;
	}
	if ((p = OSSL_PARAM_locate_const(params, OSSL_KDF_PARAM_SEED)) !=
	    NULL) {
		c->seedlen = 0;
		c->seed_overflow = 0;
		for (; p != NULL; p = OSSL_PARAM_locate_const(p + 1,
		    OSSL_KDF_PARAM_SEED)) {
			const void *q;
			size_t ql;

			if (!OSSL_PARAM_get_octet_string_ptr(p, &q, &ql))
				return 0;
			if (ql > sizeof(c->seed) - c->seedlen) {
				c->seed_overflow = 1;	/* not a master secret */
				continue;
			}
			if (ql > 0)
				memcpy(c->seed + c->seedlen, q, ql);
			c->seedlen += ql;
		}
	}
	return EVP_KDF_CTX_set_params(c->inner, params);
}

/*
 * The reference in secret if secret is the RFC 4279 premaster
 * uint16(N) || N zeros || uint16(N) || psk whose psk starts with our magic.
 */
static const uint8_t *
find_ref(const uint8_t *s, size_t sl, size_t *ret_len)
{
	size_t n, i;

	if (s == NULL || sl < 4)
		return NULL;
	n = (size_t)s[0] << 8 | s[1];
	if (n < 4 || sl != 4 + 2 * n)
		return NULL;
	for (i = 0; i < n; i++)
		if (s[2 + i] != 0)
			return NULL;
	if (((size_t)s[2 + n] << 8 | s[3 + n]) != n ||
	    memcmp(s + 4 + n, M2M_TLS_REF_MAGIC, 4) != 0)
		return NULL;
	*ret_len = n;
	return s + 4 + n;
}

/*
 * 1 if secret is a premaster other_secret || psk (RFC 4279 section 2 form,
 * lengths prefixed) whose psk is one of our key references but whose
 * other_secret is not N zeros: a DHE-, ECDHE- or RSA-PSK suite.  The token
 * derives plain-PSK master secrets only; such a secret must fail by name,
 * never reach the default PRF with the reference as key material.
 */
static int
ref_in_other_premaster(const uint8_t *s, size_t sl)
{
	size_t l1, n;

	if (s == NULL || sl < 4)
		return 0;
	l1 = (size_t)s[0] << 8 | s[1];
	if (sl < 4 + l1)
		return 0;
	n = (size_t)s[2 + l1] << 8 | s[3 + l1];
	return n >= 4 && sl == 4 + l1 + n &&
	    memcmp(s + 4 + l1, M2M_TLS_REF_MAGIC, 4) == 0;
}

static int
kdf_derive(void *vctx, unsigned char *key, size_t keylen,
    const OSSL_PARAM params[])
{
	struct kdf_ctx *c = vctx;
	const uint8_t *ref;
	size_t rl;

	if (!kdf_set_params(c, params))
		return 0;
	if ((ref = find_ref(c->secret, c->secretlen, &rl)) == NULL) {
		if (ref_in_other_premaster(c->secret, c->secretlen)) {
			m2m_tls_refuse("key reference in a premaster with an "
			    "other_secret (DHE-, ECDHE- or RSA-PSK suite): "
			    "only plain PSK suites can use the token's PSK");
			return 0;
		}
		return EVP_KDF_derive(c->inner, key, keylen, NULL);
	}
	if (c->seed_overflow) {
		m2m_tls_refuse("key reference used with an oversized seed");
		return 0;
	}
	return m2m_tls_ref_derive(c->t, ref, rl, c->mdname, c->seed,
	    c->seedlen, key, keylen);
}

static const OSSL_PARAM *
kdf_settable(void *vctx, void *provctx)
{
	static const OSSL_PARAM ps[] = {
		OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_PROPERTIES, NULL, 0),
		OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_DIGEST, NULL, 0),
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_SECRET, NULL, 0),
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_SEED, NULL, 0),
		OSSL_PARAM_END
	};

	(void)vctx;
	(void)provctx;
	return ps;
}

static int
kdf_get_params(void *vctx, OSSL_PARAM params[])
{
	OSSL_PARAM *p;

	(void)vctx;
	if ((p = OSSL_PARAM_locate(params, OSSL_KDF_PARAM_SIZE)) != NULL)
		return OSSL_PARAM_set_size_t(p, SIZE_MAX);
	return -2;
}

static const OSSL_PARAM *
kdf_gettable(void *vctx, void *provctx)
{
	static const OSSL_PARAM ps[] = {
		OSSL_PARAM_size_t(OSSL_KDF_PARAM_SIZE, NULL),
		OSSL_PARAM_END
	};

	(void)vctx;
	(void)provctx;
	return ps;
}

typedef void (*fn_t)(void);

static const OSSL_DISPATCH kdf_fns[] = {
	{ OSSL_FUNC_KDF_NEWCTX, (fn_t)kdf_new },
	{ OSSL_FUNC_KDF_FREECTX, (fn_t)kdf_free },
	{ OSSL_FUNC_KDF_RESET, (fn_t)kdf_reset },
	{ OSSL_FUNC_KDF_DERIVE, (fn_t)kdf_derive },
	{ OSSL_FUNC_KDF_SETTABLE_CTX_PARAMS, (fn_t)kdf_settable },
	{ OSSL_FUNC_KDF_SET_CTX_PARAMS, (fn_t)kdf_set_params },
	{ OSSL_FUNC_KDF_GETTABLE_CTX_PARAMS, (fn_t)kdf_gettable },
	{ OSSL_FUNC_KDF_GET_CTX_PARAMS, (fn_t)kdf_get_params },
	{ 0, NULL }
};

static const OSSL_ALGORITHM kdfs[] = {
	{ "TLS1-PRF", "provider=" M2M_TLS_PROV_NAME, kdf_fns,
	    "TLS 1.2 PRF with the PSK master secret in the token" },
	{ NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM *
prov_query(void *provctx, int operation_id, int *no_cache)
{
	(void)provctx;
	*no_cache = 0;
	return operation_id == OSSL_OP_KDF ? kdfs : NULL;
}

static void
prov_teardown(void *provctx)
{
	(void)provctx;	/* the m2m_tls outlives its provider */
}

static const OSSL_DISPATCH prov_fns[] = {
	{ OSSL_FUNC_PROVIDER_QUERY_OPERATION, (fn_t)prov_query },
	{ OSSL_FUNC_PROVIDER_TEARDOWN, (fn_t)prov_teardown },
	{ 0, NULL }
};

static int
prov_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
    const OSSL_DISPATCH **out, void **provctx)
{
	(void)handle;
	(void)in;
	if (pending == NULL)
		return 0;
	*out = prov_fns;
	*provctx = pending;
	return 1;
}

/* see tls_int.h */
int
m2m_tls_prov_load(struct m2m_tls *t)
{
	if (!OSSL_PROVIDER_add_builtin(t->libctx, M2M_TLS_PROV_NAME,
	    prov_init))
		return 0;
	if ((t->prov_default = OSSL_PROVIDER_load(t->libctx, "default")) ==
	    NULL)
		return 0;
	pending = t;
	t->prov_m2m = OSSL_PROVIDER_load(t->libctx, M2M_TLS_PROV_NAME);
	pending = NULL;
	if (t->prov_m2m == NULL)
		return 0;
	t->prf = EVP_KDF_fetch(t->libctx, "TLS1-PRF", "provider=default");
	t->sha256 = EVP_MD_fetch(t->libctx, "SHA2-256", "provider=default");
	t->sha384 = EVP_MD_fetch(t->libctx, "SHA2-384", "provider=default");
	return t->prf != NULL && t->sha256 != NULL && t->sha384 != NULL;
}

/* see tls_int.h */
EVP_KDF *
m2m_tls_prov_kdf(struct m2m_tls *t)
{
	return EVP_KDF_fetch(t->libctx, "TLS1-PRF",
	    "provider=" M2M_TLS_PROV_NAME);
}
