/*
 * The "m2mtoken" provider of an m2m_tls context: TLS1-PRF only.  A PRF call
 * whose secret is the RFC 4279 premaster of one of our key references gets
 * its master secret from the token (CKM_M2M_TLS12_PSK_MASTER); every other
 * call goes to the default provider's TLS1-PRF unchanged.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include "tls_int.h"

#define MDNAME_MAX	64
#define SEED_MAX	(64 + 128)
#define REF_HDR_LEN	17	/* magic, version, slot, handle */
#define EMS_LABEL	"extended master secret"
#define MS_LABEL	"master secret"

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

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static uint8_t proc_key[32];
static int proc_key_ok;
static __thread struct m2m_tls *pending;	/* for prov_init */

static void
proc_key_init(void)
{
	proc_key_ok = RAND_bytes(proc_key, sizeof(proc_key)) == 1;
}

static void
fail(const char *fmt, const char *arg)
{
	char line[512];

	snprintf(line, sizeof(line), fmt, arg);
	ERR_raise_data(ERR_LIB_USER, 100, "m2mtoken: %s", line);
	fprintf(stderr, "m2mtls: handshake refused: %s\n", line);
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* label (len bytes) for a log line: at most 64 bytes, non-ASCII as '?' */
static const char *
printable(char lab[80], const uint8_t *label, size_t len)
{
	size_t i;

	snprintf(lab, 80, "%.*s", (int)(len > 64 ? 64 : len),
	    (const char *)label);
	for (i = 0; lab[i] != '\0'; i++)
		if (lab[i] < 0x20 || lab[i] > 0x7e)
			lab[i] = '?';
	return lab;
}

/* HMAC(process key, hdr || label || nonce || pid) into mac */
static int
ref_mac(const struct m2m_tls *t, const uint8_t *hdr, const uint8_t *label,
    size_t label_len, uint8_t mac[32])
{
	uint8_t buf[REF_HDR_LEN + M2M_TLS_LABEL_MAX + 16 + 4];
	uint32_t pid = (uint32_t)getpid();
	EVP_MAC_CTX *c = NULL;
	size_t n = 0, maclen = 0;
	int ok;

	if (t->refmac == NULL || label_len > M2M_TLS_LABEL_MAX)
		return 0;
	memcpy(buf, hdr, REF_HDR_LEN);
	n += REF_HDR_LEN;
	memcpy(buf + n, label, label_len);
	n += label_len;
	memcpy(buf + n, t->nonce, sizeof(t->nonce));
	n += sizeof(t->nonce);
	memcpy(buf + n, &pid, sizeof(pid));
	n += sizeof(pid);
	/* a copy of the keyed context: no fetch, no key schedule per call */
	ok = (c = EVP_MAC_CTX_dup(t->refmac)) != NULL &&
	    EVP_MAC_update(c, buf, n) == 1 &&
	    EVP_MAC_final(c, mac, &maclen, 32) == 1 && maclen == 32;
	EVP_MAC_CTX_free(c);
	OPENSSL_cleanse(buf, sizeof(buf));
	return ok;
}

/* The keyed HMAC context ref_mac() copies; 1 on success. */
static int
ref_mac_init(struct m2m_tls *t)
{
	EVP_MAC *m = NULL;
	OSSL_PARAM p[2];
	int ok;

	pthread_once(&key_once, proc_key_init);
	if (!proc_key_ok)
		return 0;
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA2-256", 0);
	p[1] = OSSL_PARAM_construct_end();
	ok = (m = EVP_MAC_fetch(t->libctx, "HMAC", "provider=default")) !=
	    NULL && (t->refmac = EVP_MAC_CTX_new(m)) != NULL &&
	    EVP_MAC_init(t->refmac, proc_key, sizeof(proc_key), p) == 1;
	EVP_MAC_free(m);
	return ok;
}

/* see tls_int.h */
int
m2m_tls_ref_make(const struct m2m_tls *t, CK_OBJECT_HANDLE h,
    const uint8_t *label, size_t label_len, uint8_t *ret)
{
	uint8_t r[M2M_TLS_REF_LEN];
	uint64_t hv = h;
	int i;

	memcpy(r, M2M_TLS_REF_MAGIC, 4);
	r[4] = M2M_TLS_REF_VERSION;
	for (i = 0; i < 4; i++)
		r[5 + i] = (uint8_t)(t->slot >> (24 - 8 * i));
	for (i = 0; i < 8; i++)
		r[9 + i] = (uint8_t)(hv >> (56 - 8 * i));
	if (!ref_mac(t, r, label, label_len, r + REF_HDR_LEN))
		return 0;
	memcpy(ret, r, sizeof(r));
	return 1;
}

/* see tls_int.h */
int
m2m_tls_ref_derive(struct m2m_tls *t, const uint8_t *ref, size_t len,
    const char *mdname, const uint8_t *seed, size_t seedlen, uint8_t *out,
    size_t outlen)
{
	uint8_t label[M2M_TLS_LABEL_MAX], mac[32], ms[M2M_TLS_MASTER_LEN];
	CK_ULONG role = 0;
	CK_ATTRIBUTE a[] = {
		{ CKA_LABEL, label, sizeof(label) },
		{ CKA_M2M_ROLE, &role, sizeof(role) },
	};
	CK_BBOOL no = CK_FALSE;
	CK_ATTRIBUTE tmpl[] = { { CKA_TOKEN, &no, sizeof(no) } };
	CK_ATTRIBUTE va = { CKA_VALUE, ms, sizeof(ms) };
	CK_M2M_TLS12_PSK_PARAMS p;
	CK_MECHANISM m = { CKM_M2M_TLS12_PSK_MASTER, &p, sizeof(p) };
	CK_OBJECT_HANDLE h = 0, mk = CK_INVALID_HANDLE;
	uint64_t hv = 0;
	size_t ll, i;
	int locked = 0, ok = 0;
	CK_RV rv;
	char lab[80];

	if (len != M2M_TLS_REF_LEN || memcmp(ref, M2M_TLS_REF_MAGIC, 4) != 0 ||
	    ref[4] != M2M_TLS_REF_VERSION) {
		fail("%s", "malformed key reference");
		goto out;
	}
	if (outlen != M2M_TLS_MASTER_LEN) {
		fail("%s", "key reference used for something else than the "
		    "master secret");
		goto out;
	}
	if (be32(ref + 5) != (uint32_t)t->slot) {
		fail("%s", "key reference of another token");
		goto out;
	}
	for (i = 0; i < 8; i++)
		hv = hv << 8 | ref[9 + i];
	h = (CK_OBJECT_HANDLE)hv;
	pthread_mutex_lock(&t->lock);
	locked = 1;
	if (h == CK_INVALID_HANDLE || (rv = t->f->C_GetAttributeValue(
	    t->session, h, a, 2)) != CKR_OK || a[1].ulValueLen != sizeof(role)) {
		fail("%s", "key reference does not verify");
		goto out;
	}
	ll = a[0].ulValueLen;
	/* a reference the cache made for h while h had this label: its MAC
	   holds by construction (see tls_cache.c); else compute it */
	if (!m2m_tls_cache_vouches(t, h, ref, label, ll) &&
	    (!ref_mac(t, ref, label, ll, mac) ||
	    CRYPTO_memcmp(mac, ref + REF_HDR_LEN, sizeof(mac)) != 0)) {
		fail("%s", "key reference does not verify (forged, tampered "
		    "or from another context)");
		goto out;
	}
	if (!m2m_p11_role_is_psk(role)) {
		fail("key '%s' has no PSK role", printable(lab, label, ll));
		goto out;
	}
	memset(&p, 0, sizeof(p));
	/* by name against the digests fetched once (any alias matches) */
	if (EVP_MD_is_a(t->sha256, mdname))
		p.prfHashMechanism = CKM_SHA256;
	else if (EVP_MD_is_a(t->sha384, mdname))
		p.prfHashMechanism = CKM_SHA384;
	else {
		fail("PRF digest '%s' is not SHA-256 or SHA-384", mdname);
		goto out;
	}
	if (seedlen > strlen(EMS_LABEL) &&
	    memcmp(seed, EMS_LABEL, strlen(EMS_LABEL)) == 0) {
		p.bExtendedMasterSecret = CK_TRUE;
		p.pSessionHash = (CK_BYTE_PTR)seed + strlen(EMS_LABEL);
		p.ulSessionHashLen = seedlen - strlen(EMS_LABEL);
	} else if (seedlen == strlen(MS_LABEL) + 64 &&
	    memcmp(seed, MS_LABEL, strlen(MS_LABEL)) == 0) {
		p.bExtendedMasterSecret = CK_FALSE;
		p.pClientRandom = (CK_BYTE_PTR)seed + strlen(MS_LABEL);
		p.ulClientRandomLen = 32;
		p.pServerRandom = p.pClientRandom + 32;
		p.ulServerRandomLen = 32;
	} else {
		fail("%s", "key reference used with an unknown PRF label");
		goto out;
	}
	rv = t->f->C_DeriveKey(t->session, &m, h, tmpl, 1, &mk);
	if (rv == CKR_KEY_FUNCTION_NOT_PERMITTED) {
		fail("key '%s' may not be used for TLS-PSK (expired, or "
		    "role not allowed): CKR_KEY_FUNCTION_NOT_PERMITTED",
		    printable(lab, label, ll));
		goto out;
	} else if (rv != CKR_OK) {
		char why[128];

		snprintf(why, sizeof(why), "token cannot derive the master "
		    "secret: %s", m2m_p11_rv_name(rv));
		fail("%s", why);
		goto out;
	}
	if ((rv = t->f->C_GetAttributeValue(t->session, mk, &va, 1)) !=
	    CKR_OK || va.ulValueLen != sizeof(ms)) {
		fail("%s", "cannot read the master secret from the token");
		goto out;
	}
	memcpy(out, ms, sizeof(ms));
	ok = 1;
 out:
	if (mk != CK_INVALID_HANDLE)
		t->f->C_DestroyObject(t->session, mk);
	if (locked)
		pthread_mutex_unlock(&t->lock);
	OPENSSL_cleanse(ms, sizeof(ms));
	OPENSSL_cleanse(mac, sizeof(mac));
	return ok;
}

/* ---------------------------------------------------------------- */
/* The KDF                                                           */
/* ---------------------------------------------------------------- */

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
		if (!OSSL_PARAM_get_utf8_string(p, &name, sizeof(c->mdname)))
			return 0;
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
			fail("%s", "key reference in a premaster with an "
			    "other_secret (DHE-, ECDHE- or RSA-PSK suite): "
			    "only plain PSK suites can use the token's PSK");
			return 0;
		}
		return EVP_KDF_derive(c->inner, key, keylen, NULL);
	}
	if (c->seed_overflow) {
		fail("%s", "key reference used with an oversized seed");
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
	return t->prf != NULL && t->sha256 != NULL && t->sha384 != NULL &&
	    ref_mac_init(t);
}

/* see tls_int.h */
EVP_KDF *
m2m_tls_prov_kdf(struct m2m_tls *t)
{
	return EVP_KDF_fetch(t->libctx, "TLS1-PRF",
	    "provider=" M2M_TLS_PROV_NAME);
}
