/*
 * The allocation-failure loop over the core (STYLE.md, after curl's torture
 * tests): fail the Nth allocation, for every N, no crash, no leak.
 *
 * The failures come from support_alloc.c: every allocator the statically
 * linked code calls (token/ and, under it, the fake backend) is wrapped.
 * SQLite, OpenSSL and libunistring allocate inside their shared libraries;
 * those allocations are not failed.
 *
 * Each scenario is one core operation (what one PKCS#11 call asks of
 * token/) on a fresh copy of a golden store: one token with SO and user
 * PIN and four keys, on a shared fake backend with a PIN binding of this
 * file's own (so the objauth paths of core.c run too).  The scenario runs
 * for N = 1, 2, ... with the Nth allocation failing, until a run sees no
 * injected failure.  A run whose operation fails must return
 * M2M_ERR_NO_MEMORY with its outputs untouched, free everything
 * (LeakSanitizer and valgrind check that at exit), and leave the store,
 * reopened with working allocations, exactly as it was: same tokens, same
 * PIN verifiers and counters, same objects byte for byte.  A run that
 * succeeds must have the right result, checked against OpenSSL.
 *
 * Under valgrind the loop is the same except that each scenario fails one
 * N in TT_VG_STRIDE (the two long life_* ones: their own stride), and its
 * first and last few (see tt_stride): PBKDF2 and thousands of runs are
 * slow there, and valgrind looks for what ASan cannot (uninitialised
 * reads) on a sample of the failure paths.  The normal and ASan builds
 * fail every N.  M2M_TORTURE_FILTER=<substring> runs only the scenarios whose name
 * holds it.
 */
#define _GNU_SOURCE	/* reallocarray, strndup */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <uninorm.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND	0
#endif

#include <m2mtoken/pkcs11-m2m.h>

#include "conf.h"
#include "core.h"
#include "err.h"
#include "fake_backend.h"
#include "ident.h"
#include "kdf.h"
#include "object.h"
#include "policy.h"
#include "secret.h"
#include "store.h"
#include "support_alloc.h"

/* ---------------------------------------------------------------------- */
/* The backend: one fake instance for the whole file, plus a PIN binding */

static struct m2m_backend	tt_fake;	/* shared, so blobs survive */
static struct m2m_backend_ops	tt_ops;	/* fake + PIN binding */

#define TT_OBJAUTH_LEN	32

static int
tt_be_open(const struct m2m_conf *conf, void **ret_impl, char *errbuf,
    size_t errlen)
{
	(void)conf;
	(void)errbuf;
	(void)errlen;
	*ret_impl = tt_fake.impl;
	return 0;
}

static void
tt_be_close(void *impl)
{
	(void)impl;	/* the shared instance outlives every core */
}

/* The binder a core over tt_ops gives its store, for stores opened alone. */
static int
tt_bind(void *arg, const uint8_t *msg, size_t len, uint8_t *out)
{
	(void)arg;
	return tt_fake.ops->bind_mac(tt_fake.impl, msg, len, out);
}

static int
tt_store_open(const char *path, struct m2m_store **ret, char *err,
    size_t errlen)
{
	int r = m2m_store_open(path, ret, err, errlen);

	if (r == 0)
		m2m_store_set_binder(*ret, tt_bind, NULL);
	return r;
}

/* Seal = SHA-256(pin) || objauth: no protection, only the core's paths. */
static int
tt_pin_seal(void *impl, const uint8_t *pin, size_t pinlen,
    const struct m2m_secret *objauth, uint8_t **ret_blob,
    size_t *ret_bloblen)
{
	struct m2m_secret *fresh = NULL;
	uint8_t *blob = NULL;
	unsigned int mdlen = 0;
	int r = M2M_ERR_INTERNAL;

	(void)impl;
	if (objauth == NULL) {
		if ((r = m2m_secret_new(TT_OBJAUTH_LEN, &fresh)) != 0)
			goto out;
		if (RAND_bytes(m2m_secret_data(fresh), TT_OBJAUTH_LEN) != 1) {
			r = M2M_ERR_RANDOM;
			goto out;
		}
		objauth = fresh;
	}
	if ((blob = malloc(32 + TT_OBJAUTH_LEN)) == NULL) {
		r = M2M_ERR_NO_MEMORY;
		goto out;
	}
	if (EVP_Digest(pin, pinlen, blob, &mdlen, EVP_sha256(), NULL) != 1) {
		r = M2M_ERR_BACKEND;
		goto out;
	}
	memcpy(blob + 32, m2m_secret_data(objauth), TT_OBJAUTH_LEN);
	*ret_blob = blob;
	*ret_bloblen = 32 + TT_OBJAUTH_LEN;
	blob = NULL;	/* transferred */
	r = 0;
 out:
	free(blob);
	m2m_secret_free(fresh);
	return r;
}

static int
tt_pin_check(void *impl, const uint8_t *blob, size_t bloblen,
    const uint8_t *pin, size_t pinlen, struct m2m_secret **ret_objauth)
{
	uint8_t md[32];
	unsigned int mdlen = 0;

	(void)impl;
	if (bloblen != 32 + TT_OBJAUTH_LEN)
		return M2M_ERR_BACKEND;
	if (EVP_Digest(pin, pinlen, md, &mdlen, EVP_sha256(), NULL) != 1)
		return M2M_ERR_BACKEND;
	if (!m2m_ct_equal(md, blob, 32))
		return M2M_ERR_PIN_INCORRECT;
	return m2m_secret_from(blob + 32, TT_OBJAUTH_LEN, ret_objauth);
}

static int
tt_wrap_auth(void *impl, enum m2m_key_kind kind, const uint8_t *key,
    size_t len, const uint8_t *auth, size_t authlen, uint8_t **ret_blob,
    size_t *ret_bloblen)
{
	if (auth == NULL || authlen != TT_OBJAUTH_LEN)
		return M2M_ERR_BACKEND_AUTH;
	return m2m_fake_backend_ops.wrap(impl, kind, key, len, ret_blob,
	    ret_bloblen);
}

/* ---------------------------------------------------------------------- */
/* Fixed data */

#define TT_SO_PIN	"so-pin-1234"
#define TT_USER_PIN	"user-pin-5678"
#define TT_NEW_PIN	"new-pin-9012"
#define TT_LABEL32	"torture                         "
#define TT_LABEL32_2	"second                          "
#define TT_LABEL32_3	"again                           "
#define TT_FQDN		"mef.example.com"
#define TT_KEID		"00112233445566778899aabbccddeeff@" TT_FQDN
#define TT_KPSAID	"ffeeddccbbaa99887766554433221100@" TT_FQDN
#define TT_MASTERID	"0f1e2d3c4b5a69788796a5b4c3d2e1f0@" TT_FQDN
/* "ｃａｅ" in full width: NFKC makes it "cae" */
#define TT_PEER		"/in-cse.example.com/\xef\xbd\x83\xef\xbd\x81" \
			"\xef\xbd\x85" "01"
#define TT_PEER_NFKC	"/in-cse.example.com/cae01"
#define TT_MAF		"maf.example.com"
#define TT_TARGET	"mn-cse.example.com"
#define TT_SUID		22

static const uint8_t tt_ke[32] = {
	0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
	0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
	0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27,
	0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f
};
static const uint8_t tt_kpsa[32] = {
	0xd7, 0xf3, 0x99, 0xf9, 0xaa, 0x35, 0x64, 0xb7,
	0xb9, 0x41, 0xa8, 0x88, 0x08, 0x4d, 0xc1, 0x14,
	0x98, 0x23, 0xce, 0xf8, 0xff, 0x2d, 0x66, 0x30,
	0x84, 0x5b, 0xd4, 0xe6, 0xfb, 0xcc, 0xf2, 0x54
};
static const uint8_t tt_master[32] = {
	0x6d, 0xa6, 0xd4, 0x79, 0xba, 0x01, 0xd0, 0x0c,
	0xf3, 0x13, 0x67, 0x90, 0xbd, 0x11, 0x07, 0x4c,
	0xa3, 0xa8, 0x32, 0x98, 0xa8, 0x9d, 0x33, 0xad,
	0xc6, 0x91, 0xb5, 0xe9, 0xe5, 0x19, 0x64, 0x4a
};
static const uint8_t tt_plain[16] = {
	0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
	0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf
};
static const uint8_t tt_salt[5] = { 1, 2, 3, 4, 5 };

static CK_BBOOL tt_true = CK_TRUE;
static CK_BBOOL tt_false = CK_FALSE;
static CK_ULONG tt_cls_secret = CKO_SECRET_KEY;
static CK_ULONG tt_kt_aes = CKK_AES;
static CK_ULONG tt_role_ke = CK_M2M_ROLE_KE;
static CK_ULONG tt_role_kpsa = CK_M2M_ROLE_KPSA;
static CK_ULONG tt_role_master = CK_M2M_ROLE_KE2E_MASTER;

#define TT_ATTR(t, p, n)	{ (t), (uint8_t *)(uintptr_t)(p), (n) }
#define TT_ULONG(t, v)		TT_ATTR(t, &(v), sizeof(CK_ULONG))
#define TT_BOOL(t, v)		TT_ATTR(t, &(v), sizeof(CK_BBOOL))
#define TT_STR(t, s)		TT_ATTR(t, s, strlen(s))
#define TT_NELEM(a)		(sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------------- */
/* What the pkcs11/ layer does with token/, one call at a time */

/*
 * A token/ call that failed wrote no output (STYLE.md: outputs only on
 * success).  Checked on the spot, inside the armed run; assertions do not
 * allocate.
 */
#define TT_UNWRITTEN(r, p)	do {					\
	if ((r) != 0)							\
		assert_null(p);						\
} while (0)

/* FNV-1a over an object's attributes and blobs: no allocation. */
static uint64_t
tt_object_hash(const struct m2m_object *o)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	size_t i, j;

#define TT_MIX(b)	(h = (h ^ (uint8_t)(b)) * UINT64_C(0x100000001b3))
	for (i = 0; i < o->nattrs; i++) {
		for (j = 0; j < sizeof(o->attrs[i].type); j++)
			TT_MIX(o->attrs[i].type >> (8 * j));
		for (j = 0; j < sizeof(o->attrs[i].len); j++)
			TT_MIX(o->attrs[i].len >> (8 * j));
		for (j = 0; j < o->attrs[i].len; j++)
			TT_MIX(o->attrs[i].val[j]);
	}
	for (j = 0; j < o->bloblen; j++)
		TT_MIX(o->blob[j]);
	for (j = 0; j < o->auxlen; j++)
		TT_MIX(o->aux[j]);
	TT_MIX(o->cls);
	TT_MIX(o->key_type);
	TT_MIX(o->role);
	TT_MIX(o->on_token);
#undef TT_MIX
	return h ^ o->nattrs;
}

/* C_CreateObject: template to object, wrap its value, store it. */
static int
tt_import(struct m2m_core *c, uint64_t token, const struct m2m_secret *oa,
    const struct m2m_attr *tmpl, size_t n, uint64_t *ret_id)
{
	struct m2m_policy_mech pm = { CK_UNAVAILABLE_INFORMATION, 0,
	    (unsigned long)-1, 0, 0, NULL };
	struct m2m_object *o = NULL;
	const struct m2m_attr *value = NULL;
	size_t vlen = 0;
	int r = M2M_ERR_INTERNAL;

	r = m2m_policy_build(M2M_ORIGIN_CREATE, tmpl, n, &pm, &o, &value,
	    &vlen);
	TT_UNWRITTEN(r, o);
	if (r != 0)
		goto out;
	/* a failed wrap leaves the object as it was: without blobs */
	r = m2m_core_wrap(c, o, value->val, value->len, oa);
	TT_UNWRITTEN(r, o->blob);
	TT_UNWRITTEN(r, o->aux);
	if (r != 0)
		goto out;
	o->token_id = token;
	if ((r = m2m_store_object_insert(m2m_core_store(c), o)) != 0)
		goto out;
	*ret_id = o->id;
	r = 0;
 out:
	m2m_object_free(o);
	return r;
}

/*
 * C_DeriveKey's last step: in one store write transaction, the object of
 * the same role and label if there is one, else o inserted.
 */
static int
tt_store_once(struct m2m_store *s, struct m2m_object *o, uint64_t *ret_id)
{
	struct m2m_store_query q;
	struct m2m_object *x = NULL;
	const struct m2m_attr *label = m2m_object_attr(o, CKA_LABEL);
	uint64_t *ids = NULL, id = 0;
	size_t n = 0, i;
	int r = M2M_ERR_INTERNAL, in_txn = 0;

	if (label == NULL)
		return M2M_ERR_INTERNAL;
	if ((r = m2m_store_begin(s)) != 0)
		goto out;
	in_txn = 1;
	memset(&q, 0, sizeof(q));
	q.label = label->val;
	q.label_len = label->len;
	r = m2m_store_object_find(s, o->token_id, &q, &ids, &n);
	TT_UNWRITTEN(r, ids);
	if (r != 0)
		goto out;
	for (i = 0; i < n && id == 0; i++) {
		r = m2m_store_object_get(s, o->token_id, ids[i], &x);
		TT_UNWRITTEN(r, x);
		if (r != 0)
			goto out;
		if (x->role == o->role)
			id = x->id;
		m2m_object_free(x);
		x = NULL;
	}
	if (id == 0) {
		if ((r = m2m_store_object_insert(s, o)) != 0)
			goto out;
		id = o->id;
	}
	if ((r = m2m_store_commit(s)) != 0)
		goto out;
	in_txn = 0;
	*ret_id = id;
	r = 0;
 out:
	if (in_txn)
		m2m_store_rollback(s);
	m2m_object_free(x);
	free(ids);
	return r;
}

/* Derive template to object, wrap value, add peer, store once. */
static int
tt_derived_store(struct m2m_core *c, uint64_t token,
    const struct m2m_secret *oa, const struct m2m_policy_mech *pm,
    const char *label, const struct m2m_secret *value, const uint8_t *peer,
    size_t peerlen, uint64_t *ret_id)
{
	struct m2m_attr tmpl[] = {
		TT_BOOL(CKA_TOKEN, tt_true),
		TT_STR(CKA_LABEL, label),
	};
	struct m2m_object *o = NULL;
	const struct m2m_attr *v = NULL;
	size_t vlen = 0;
	int r = M2M_ERR_INTERNAL;

	r = m2m_policy_build(M2M_ORIGIN_DERIVE, tmpl, TT_NELEM(tmpl), pm, &o,
	    &v, &vlen);
	TT_UNWRITTEN(r, o);
	if (r != 0)
		goto out;
	r = m2m_core_wrap(c, o, m2m_secret_data(value), m2m_secret_len(value),
	    oa);
	TT_UNWRITTEN(r, o->blob);
	TT_UNWRITTEN(r, o->aux);
	if (r != 0)
		goto out;
	if (peer != NULL && (r = m2m_object_attr_set(o, CKA_M2M_PEER_ID, peer,
	    peerlen)) != 0)
		goto out;
	o->token_id = token;
	if ((r = tt_store_once(m2m_core_store(c), o, ret_id)) != 0)
		goto out;
	r = 0;
 out:
	m2m_object_free(o);
	return r;
}

/* The base key of a derivation, checked for use. */
static int
tt_base(struct m2m_core *c, uint64_t token, uint64_t id, enum m2m_use use,
    struct m2m_object **ret)
{
	struct m2m_object *o = NULL;
	int r = M2M_ERR_INTERNAL;

	r = m2m_store_object_get(m2m_core_store(c), token, id, &o);
	TT_UNWRITTEN(r, o);
	if (r != 0)
		goto out;
	if ((r = m2m_policy_check_use(o, use, (int64_t)time(NULL))) != 0)
		goto out;
	*ret = o;
	o = NULL;	/* transferred */
	r = 0;
 out:
	m2m_object_free(o);
	return r;
}

/* CKM_M2M_KM/KPSA/KUC_DERIVE on the Ke object. */
static int
tt_derive_ke(struct m2m_core *c, uint64_t token, const struct m2m_secret *oa,
    uint64_t ke_id, enum m2m_ke_kdf which, uint64_t *ret_id)
{
	static const struct {
		unsigned long	mech, role, suid;
		const char	*peer, *label;
	} k[] = {
		[M2M_KDF_KM] = { CKM_M2M_KM_DERIVE, CK_M2M_ROLE_KM, 0,
		    TT_MAF, TT_KEID },
		[M2M_KDF_KPSA] = { CKM_M2M_KPSA_DERIVE, CK_M2M_ROLE_KPSA, 0,
		    TT_PEER, TT_KEID },
		[M2M_KDF_KUC] = { CKM_M2M_KUC_DERIVE, CK_M2M_ROLE_KUC, TT_SUID,
		    TT_TARGET, TT_KEID "/22" },
	};
	struct m2m_policy_mech pm;
	struct m2m_object *base = NULL;
	struct m2m_secret *value = NULL;
	struct m2m_keyref kr;
	uint8_t *peer = NULL;
	size_t peerlen = 0;
	int r = M2M_ERR_INTERNAL;

	if ((r = tt_base(c, token, ke_id, M2M_USE_DERIVE_KE, &base)) != 0)
		goto out;
	m2m_core_keyref(base, 0, oa, &kr);
	r = m2m_ident_nfkc((const uint8_t *)k[which].peer,
	    strlen(k[which].peer), &peer, &peerlen);
	TT_UNWRITTEN(r, peer);
	if (r != 0)
		goto out;
	r = m2m_kdf_from_ke(m2m_core_backend(c), &kr, which, k[which].suid,
	    peer, peerlen, &value);
	TT_UNWRITTEN(r, value);
	if (r != 0)
		goto out;
	memset(&pm, 0, sizeof(pm));
	pm.mechanism = k[which].mech;
	pm.role = k[which].role;
	pm.base = base;
	pm.key_type = CKK_GENERIC_SECRET;
	pm.value_len = 32;
	if ((r = tt_derived_store(c, token, oa, &pm, k[which].label, value,
	    peer, peerlen, ret_id)) != 0)
		goto out;
	r = 0;
 out:
	m2m_secret_free(value);
	free(peer);
	m2m_object_free(base);
	return r;
}

/* CKM_M2M_E2E_MASTER_SHA256 with a salt, labelled with its E2EKeyId. */
static int
tt_derive_master(struct m2m_core *c, uint64_t token,
    const struct m2m_secret *oa, uint64_t kpsa_id, uint64_t *ret_id)
{
	struct m2m_policy_mech pm = { CKM_M2M_E2E_MASTER_SHA256,
	    CK_M2M_ROLE_KE2E_MASTER, CKK_GENERIC_SECRET, 32, 0, NULL };
	struct m2m_attr tmpl[] = { TT_BOOL(CKA_TOKEN, tt_true) };
	struct m2m_object *base = NULL, *o = NULL;
	struct m2m_secret *value = NULL;
	const struct m2m_attr *v = NULL, *a;
	const uint8_t *fqdn;
	struct m2m_keyref kr;
	char *id = NULL;
	size_t vlen = 0, fl = 0;
	int r = M2M_ERR_INTERNAL;

	if ((r = tt_base(c, token, kpsa_id, M2M_USE_E2E_MASTER, &base)) != 0)
		goto out;
	m2m_core_keyref(base, 0, oa, &kr);
	r = m2m_kdf_e2e_master(m2m_core_backend(c), tt_salt, sizeof(tt_salt),
	    &kr, M2M_HASH_SHA256, &value);
	TT_UNWRITTEN(r, value);
	if (r != 0)
		goto out;
	pm.base = base;
	r = m2m_policy_build(M2M_ORIGIN_DERIVE, tmpl, TT_NELEM(tmpl), &pm, &o,
	    &v, &vlen);
	TT_UNWRITTEN(r, o);
	if (r != 0)
		goto out;
	r = m2m_core_wrap(c, o, m2m_secret_data(value), m2m_secret_len(value),
	    oa);
	TT_UNWRITTEN(r, o->blob);
	if (r != 0)
		goto out;
	a = m2m_object_attr(base, CKA_LABEL);
	fqdn = a != NULL ? m2m_ident_fqdn(a->val, a->len, &fl) : NULL;
	if (fqdn == NULL) {
		r = M2M_ERR_INTERNAL;
		goto out;
	}
	m2m_core_keyref(o, 0, oa, &kr);
	kr.id = 0;
	r = m2m_kdf_e2e_keyid(m2m_core_backend(c), &kr, M2M_HASH_SHA256, fqdn,
	    fl, &id);
	TT_UNWRITTEN(r, id);
	if (r != 0)
		goto out;
	if ((r = m2m_object_attr_set(o, CKA_LABEL, id, strlen(id))) != 0 ||
	    (r = m2m_object_attr_set(o, CKA_ID, id, strlen(id))) != 0)
		goto out;
	o->token_id = token;
	if ((r = tt_store_once(m2m_core_store(c), o, ret_id)) != 0)
		goto out;
	r = 0;
 out:
	free(id);
	m2m_secret_free(value);
	m2m_object_free(o);
	m2m_object_free(base);
	return r;
}

/* CKM_M2M_E2E_EXPAND with parameter n on the master object. */
static int
tt_derive_expand(struct m2m_core *c, uint64_t token,
    const struct m2m_secret *oa, uint64_t master_id, unsigned n,
    uint64_t *ret_id)
{
	struct m2m_policy_mech pm;
	struct m2m_object *base = NULL;
	struct m2m_secret *value = NULL;
	struct m2m_keyref kr;
	int r = M2M_ERR_INTERNAL;

	if ((r = tt_base(c, token, master_id, M2M_USE_E2E_EXPAND,
	    &base)) != 0)
		goto out;
	m2m_core_keyref(base, 0, oa, &kr);
	r = m2m_kdf_e2e_expand(m2m_core_backend(c), &kr, M2M_HASH_SHA256, n,
	    &value);
	TT_UNWRITTEN(r, value);
	if (r != 0)
		goto out;
	memset(&pm, 0, sizeof(pm));
	pm.mechanism = CKM_M2M_E2E_EXPAND;
	pm.role = CK_M2M_ROLE_KE2E_MASTER + n;
	pm.base = base;
	pm.key_type = (n == 2 || n == 4) ? CKK_AES : CKK_GENERIC_SECRET;
	pm.value_len = 32;
	if ((r = tt_derived_store(c, token, oa, &pm, TT_MASTERID, value,
	    NULL, 0, ret_id)) != 0)
		goto out;
	r = 0;
 out:
	m2m_secret_free(value);
	m2m_object_free(base);
	return r;
}

/*
 * CKM_M2M_TLS12_PSK_MASTER on the Kpsa object's premaster form: a session
 * object (not stored) holding the 48-byte master secret as it is, in
 * locked memory (o->plain), then copied as C_CopyObject copies a session
 * object.
 */
static int
tt_derive_tls(struct m2m_core *c, uint64_t token,
    const struct m2m_secret *oa, uint64_t kpsa_id, const uint8_t seed[64],
    struct m2m_object **ret)
{
	struct m2m_policy_mech pm = { CKM_M2M_TLS12_PSK_MASTER,
	    CK_M2M_ROLE_TLS_MASTER, CKK_GENERIC_SECRET, 48, 0, NULL };
	struct m2m_object *base = NULL, *o = NULL, *copy = NULL;
	struct m2m_secret *value = NULL;
	const struct m2m_attr *v = NULL;
	struct m2m_keyref kr;
	size_t vlen = 0;
	int r = M2M_ERR_INTERNAL;

	if ((r = tt_base(c, token, kpsa_id, M2M_USE_TLS_MASTER, &base)) != 0)
		goto out;
	r = m2m_secret_new(48, &value);
	TT_UNWRITTEN(r, value);
	if (r != 0)
		goto out;
	m2m_core_keyref(base, 1, oa, &kr);
	if ((r = m2m_kdf_tls12_prf(m2m_core_backend(c), &kr, M2M_HASH_SHA256,
	    (const uint8_t *)"master secret", 13, seed, 64,
	    m2m_secret_data(value), 48)) != 0)
		goto out;
	pm.base = base;
	r = m2m_policy_build(M2M_ORIGIN_DERIVE, NULL, 0, &pm, &o, &v, &vlen);
	TT_UNWRITTEN(r, o);
	if (r != 0)
		goto out;
	o->token_id = token;
	r = m2m_core_set_value(c, o, &value, oa);
	TT_UNWRITTEN(r, o->plain);
	TT_UNWRITTEN(r, o->blob);
	if (r != 0)
		goto out;
	r = m2m_object_dup(o, &copy);
	TT_UNWRITTEN(r, copy);
	if (r != 0)
		goto out;
	*ret = copy;
	copy = NULL;	/* transferred */
	r = 0;
 out:
	m2m_secret_free(value);
	m2m_object_free(copy);
	m2m_object_free(o);
	m2m_object_free(base);
	return r;
}

/* C_SetAttributeValue (copy 0) or C_CopyObject (copy 1) of object id. */
static int
tt_modify(struct m2m_core *c, uint64_t token, uint64_t id,
    const struct m2m_attr *tmpl, size_t n, int copy, uint64_t *ret_id)
{
	struct m2m_store *s = m2m_core_store(c);
	struct m2m_object *o = NULL;
	uint64_t h;
	int r = M2M_ERR_INTERNAL;

	r = m2m_store_object_get(s, token, id, &o);
	TT_UNWRITTEN(r, o);
	if (r != 0)
		goto out;
	/* all or nothing: a failed apply leaves o as it was */
	h = tt_object_hash(o);
	if ((r = m2m_policy_apply(o, tmpl, n, copy)) != 0) {
		assert_true(tt_object_hash(o) == h);
		goto out;
	}
	if (copy)
		r = m2m_store_object_insert(s, o);
	else
		r = m2m_store_object_update(s, o);
	if (r != 0)
		goto out;
	*ret_id = o->id;
	r = 0;
 out:
	m2m_object_free(o);
	return r;
}

/* C_FindObjects: candidates from the store, filtered on the template. */
static int
tt_find(struct m2m_store *s, uint64_t token, const struct m2m_store_query *q,
    const struct m2m_attr *tmpl, size_t n, uint64_t **ret_ids,
    size_t *ret_n)
{
	struct m2m_object *o = NULL;
	uint64_t *ids = NULL, *out = NULL;
	size_t nids = 0, nout = 0, i;
	int r = M2M_ERR_INTERNAL;

	r = m2m_store_object_find(s, token, q, &ids, &nids);
	TT_UNWRITTEN(r, ids);
	if (r != 0)
		goto out;
	if (nids != 0 && (out = calloc(nids, sizeof(*out))) == NULL) {
		r = M2M_ERR_NO_MEMORY;
		goto out;
	}
	for (i = 0; i < nids; i++) {
		r = m2m_store_object_get(s, token, ids[i], &o);
		TT_UNWRITTEN(r, o);
		if (r != 0)
			goto out;
		if (m2m_policy_match(o, tmpl, n))
			out[nout++] = o->id;
		m2m_object_free(o);
		o = NULL;
	}
	*ret_ids = out;
	*ret_n = nout;
	out = NULL;	/* transferred */
	r = 0;
 out:
	m2m_object_free(o);
	free(out);
	free(ids);
	return r;
}

/* ---------------------------------------------------------------------- */
/* Expected values, from OpenSSL */

static void
tt_hmac(const EVP_MD *md, const void *key, size_t keylen, const void *msg,
    size_t msglen, uint8_t *out)
{
	unsigned int n = 0;

	assert_non_null(HMAC(md, key, (int)keylen, msg, msglen, out, &n));
}

/* HMAC-SHA-256(Ke, label || [suid] || id) */
static void
tt_expect_ke(enum m2m_ke_kdf which, uint8_t out[32])
{
	char msg[512];
	int n = 0;

	switch (which) {
	case M2M_KDF_KM:
		n = snprintf(msg, sizeof(msg), "%s%s", M2M_LABEL_KM, TT_MAF);
		break;
	case M2M_KDF_KPSA:
		n = snprintf(msg, sizeof(msg), "%s%s", M2M_LABEL_KPSA,
		    TT_PEER_NFKC);
		break;
	case M2M_KDF_KUC:
		n = snprintf(msg, sizeof(msg), "%s%d%s", M2M_LABEL_KUC,
		    TT_SUID, TT_TARGET);
		break;
	}
	assert_true(n > 0 && (size_t)n < sizeof(msg));
	tt_hmac(EVP_sha256(), tt_ke, sizeof(tt_ke), msg, (size_t)n, out);
}

/* T(n) of the E2E expansion of tt_master */
static void
tt_expect_expand(unsigned n, uint8_t out[32])
{
	static const char *const labels[4] = {
		M2M_LABEL_E2E_1, M2M_LABEL_E2E_2, M2M_LABEL_E2E_3,
		M2M_LABEL_E2E_4
	};
	uint8_t msg[128], t[32];
	size_t off, l;
	unsigned i;

	for (i = 1; i <= n; i++) {
		off = 0;
		if (i > 1) {
			memcpy(msg, t, 32);
			off = 32;
		}
		l = strlen(labels[i - 1]);
		memcpy(msg + off, labels[i - 1], l);
		off += l;
		msg[off++] = (uint8_t)i;
		tt_hmac(EVP_sha256(), tt_master, sizeof(tt_master), msg, off,
		    t);
	}
	memcpy(out, t, 32);
}

/* TLS 1.2 master secret from the RFC 4279 premaster of tt_kpsa */
static void
tt_expect_tls(const uint8_t seed[64], uint8_t out[48])
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "TLS1-PRF", NULL);
	EVP_KDF_CTX *kc = NULL;
	uint8_t pms[2 * 32 + 4], lseed[13 + 64];
	OSSL_PARAM p[4];

	assert_non_null(kdf);
	memset(pms, 0, sizeof(pms));
	pms[1] = 32;
	pms[35] = 32;
	memcpy(pms + 36, tt_kpsa, 32);
	memcpy(lseed, "master secret", 13);
	memcpy(lseed + 13, seed, 64);
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, pms,
	    sizeof(pms));
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, lseed,
	    sizeof(lseed));
	p[3] = OSSL_PARAM_construct_end();
	assert_non_null(kc = EVP_KDF_CTX_new(kdf));
	assert_int_equal(EVP_KDF_derive(kc, out, 48, p), 1);
	EVP_KDF_CTX_free(kc);
	EVP_KDF_free(kdf);
}

/* ---------------------------------------------------------------------- */
/* Store snapshots: everything a failed operation must leave alone */

struct tt_buf {
	uint8_t	*p;
	size_t	 n, cap;
};

static void
tt_put(struct tt_buf *b, const void *p, size_t n)
{
	uint8_t *np;

	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		assert_non_null(np = realloc(b->p, b->cap));
		b->p = np;
	}
	if (n != 0)
		memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void
tt_put_u64(struct tt_buf *b, uint64_t v)
{
	tt_put(b, &v, sizeof(v));
}

static void
tt_put_bytes(struct tt_buf *b, const uint8_t *p, size_t n)
{
	tt_put_u64(b, n);
	tt_put(b, p, n);
}

/* Tokens (every field), then each token's objects (every byte). */
static void
tt_snapshot(struct m2m_store *s, struct tt_buf *b)
{
	struct m2m_token_rec *recs = NULL;
	struct m2m_object *o = NULL;
	uint64_t *ids = NULL;
	uint8_t *enc = NULL;
	size_t nrecs = 0, nids = 0, enclen = 0, i, j;

	b->n = 0;
	assert_int_equal(m2m_store_token_list(s, &recs, &nrecs), 0);
	tt_put_u64(b, nrecs);
	for (i = 0; i < nrecs; i++) {
		tt_put_u64(b, recs[i].id);
		tt_put(b, recs[i].label, sizeof(recs[i].label));
		tt_put(b, recs[i].serial, sizeof(recs[i].serial));
		tt_put_u64(b, (uint64_t)recs[i].initialized);
		tt_put_u64(b, (uint64_t)recs[i].user_pin_set);
		tt_put_bytes(b, recs[i].so_pin, recs[i].so_pin_len);
		tt_put_bytes(b, recs[i].user_pin, recs[i].user_pin_len);
		tt_put_u64(b, recs[i].so_fails);
		tt_put_u64(b, recs[i].user_fails);
		assert_int_equal(m2m_store_object_find(s, recs[i].id, NULL,
		    &ids, &nids), 0);
		tt_put_u64(b, nids);
		for (j = 0; j < nids; j++) {
			assert_int_equal(m2m_store_object_get(s, recs[i].id,
			    ids[j], &o), 0);
			assert_int_equal(m2m_object_attrs_encode(o, &enc,
			    &enclen), 0);
			tt_put_u64(b, o->id);
			tt_put_u64(b, o->cls);
			tt_put_u64(b, o->key_type);
			tt_put_u64(b, o->role);
			tt_put_u64(b, o->origin);
			tt_put_u64(b, o->base_id);
			tt_put_bytes(b, o->base_digest,
			    sizeof(o->base_digest));
			tt_put_bytes(b, enc, enclen);
			tt_put_bytes(b, o->blob, o->bloblen);
			tt_put_bytes(b, o->aux, o->auxlen);
			free(enc);
			enc = NULL;
			m2m_object_free(o);
			o = NULL;
		}
		free(ids);
		ids = NULL;
	}
	free(recs);
}

/* ---------------------------------------------------------------------- */
/* The golden store and each run's copy */

struct tt_golden {
	uint8_t			*db;	/* the file's bytes */
	size_t			 dblen;
	struct tt_buf		 snap;		/* its snapshot */
	struct tt_buf		 empty;	/* a new store's snapshot */
	struct m2m_secret	*objauth;	/* the token's */
	uint64_t		 token;
	uint64_t		 ke, kpsa, master, plain;	/* ids */
	uint64_t		 nobjs;
	uint64_t		 token2;	/* with TT_MANY keys */
	uint64_t		 last;		/* the highest id */
};

#define TT_NTOKENS	5	/* more than a token list's first 4 */
#define TT_MANY		17	/* more than a find's first 16 ids */

static struct tt_golden tt_g;

/* One run of one scenario. */
struct tt {
	char			 dir[64];
	char			 path[128];
	struct m2m_core		*core;
	struct m2m_conf		*conf;	/* made unarmed */
	/* outputs of the operation; the sentinels say "not written" */
	int			 r;
	uint64_t		 id;
	struct m2m_object	*obj;
	struct m2m_secret	*sec;
	struct m2m_core		*newcore;
	uint64_t		*ids;
	size_t			 nids;
	struct m2m_token_rec	*recs;
	size_t			 nrecs;
	uint8_t			*bytes;
	size_t			 nbytes;
	int			 flag;
	size_t			 counts[3];
	uint8_t			 seed[64];
	char			 errbuf[256];
};

static char tt_sentinel_byte;
#define TT_SENTINEL	((void *)&tt_sentinel_byte)
#define TT_ID_SENTINEL	UINT64_C(0xdeadbeefcafe)

static void
tt_outputs_reset(struct tt *t)
{
	t->id = TT_ID_SENTINEL;
	t->obj = TT_SENTINEL;
	t->sec = TT_SENTINEL;
	t->newcore = TT_SENTINEL;
	t->ids = TT_SENTINEL;
	t->nids = 77;
	t->recs = TT_SENTINEL;
	t->nrecs = 77;
	t->bytes = TT_SENTINEL;
	t->nbytes = 77;
	t->flag = 0;
	memset(t->counts, 0, sizeof(t->counts));
	t->errbuf[0] = '\0';
}

/* Free whatever the operation returned. */
static void
tt_outputs_free(struct tt *t)
{
	if (t->obj != TT_SENTINEL)
		m2m_object_free(t->obj);
	if (t->sec != TT_SENTINEL)
		m2m_secret_free(t->sec);
	if (t->newcore != TT_SENTINEL)
		m2m_core_close(t->newcore);
	if (t->ids != TT_SENTINEL)
		free(t->ids);
	if (t->recs != TT_SENTINEL)
		free(t->recs);
	if (t->bytes != TT_SENTINEL)
		free(t->bytes);
	/* t->id stays, for the check of the reopened store */
	t->obj = TT_SENTINEL;
	t->sec = TT_SENTINEL;
	t->newcore = TT_SENTINEL;
	t->ids = TT_SENTINEL;
	t->recs = TT_SENTINEL;
	t->bytes = TT_SENTINEL;
}

/* A conf for m2m_core_open_ops (which takes it). */
static struct m2m_conf *
tt_conf(const char *store_path)
{
	struct m2m_conf *conf;

	assert_non_null(conf = calloc(1, sizeof(*conf)));
	assert_non_null(conf->path = strdup("torture.conf"));
	assert_non_null(conf->store_path = strdup(store_path));
	conf->backend = M2M_BACKEND_HSM;	/* not looked at */
	conf->cache_size = 64;
	conf->pin_min = 4;
	conf->pin_max = 64;
	conf->max_pin_tries = 5;
	return conf;
}

static struct m2m_core *
tt_core_open(const char *path)
{
	struct m2m_core *c = NULL;
	char err[256];

	if (m2m_core_open_ops(tt_conf(path), &tt_ops, &c, err,
	    sizeof(err)) != 0)
		fail_msg("core open: %s", err);
	return c;
}

static void
tt_write_file(const char *path, const uint8_t *p, size_t n)
{
	int fd;

	assert_true((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static void
tt_read_file(const char *path, uint8_t **ret, size_t *ret_len)
{
	struct stat st;
	uint8_t *p;
	int fd;

	assert_true((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(st.st_size > 0);
	assert_non_null(p = malloc((size_t)st.st_size));
	assert_int_equal(read(fd, p, (size_t)st.st_size), st.st_size);
	close(fd);
	*ret = p;
	*ret_len = (size_t)st.st_size;
}

/* Remove the run's store and the files beside it. */
static void
tt_remove_store(const char *path)
{
	static const char *const suffix[] = { "-wal", "-shm", "-gen" };
	char p[160];
	size_t i;

	unlink(path);
	for (i = 0; i < TT_NELEM(suffix); i++) {
		snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
		unlink(p);
	}
}

static void
tt_login(struct m2m_core *c, uint64_t token, int so, const char *pin,
    struct m2m_secret **ret)
{
	assert_int_equal(m2m_core_token_login(c, token, so,
	    (const uint8_t *)pin, strlen(pin), ret), 0);
}

/*
 * One token, SO and user PIN, and four keys: Ke, Kpsa (with a peer, so a
 * premaster form too), an E2E master, and a role-less AES key.
 */
static void
tt_golden_build(void)
{
	struct m2m_attr ke[] = {
		TT_ULONG(CKA_CLASS, tt_cls_secret),
		TT_ULONG(CKA_M2M_ROLE, tt_role_ke),
		TT_BOOL(CKA_TOKEN, tt_true),
		TT_STR(CKA_LABEL, TT_KEID),
		TT_ATTR(CKA_VALUE, tt_ke, sizeof(tt_ke)),
	};
	struct m2m_attr kpsa[] = {
		TT_ULONG(CKA_CLASS, tt_cls_secret),
		TT_ULONG(CKA_M2M_ROLE, tt_role_kpsa),
		TT_BOOL(CKA_TOKEN, tt_true),
		TT_STR(CKA_LABEL, TT_KPSAID),
		TT_STR(CKA_M2M_PEER_ID, TT_PEER_NFKC),
		TT_ATTR(CKA_VALUE, tt_kpsa, sizeof(tt_kpsa)),
	};
	struct m2m_attr master[] = {
		TT_ULONG(CKA_CLASS, tt_cls_secret),
		TT_ULONG(CKA_M2M_ROLE, tt_role_master),
		TT_BOOL(CKA_TOKEN, tt_true),
		TT_STR(CKA_LABEL, TT_MASTERID),
		TT_ATTR(CKA_VALUE, tt_master, sizeof(tt_master)),
	};
	struct m2m_attr plain[] = {
		TT_ULONG(CKA_CLASS, tt_cls_secret),
		TT_ULONG(CKA_KEY_TYPE, tt_kt_aes),
		TT_BOOL(CKA_TOKEN, tt_true),
		TT_STR(CKA_LABEL, "plain"),
		TT_STR(CKA_ID, "plain-id"),
		TT_ATTR(CKA_VALUE, tt_plain, sizeof(tt_plain)),
	};
	struct m2m_attr small[] = {
		TT_ULONG(CKA_CLASS, tt_cls_secret),
		TT_ULONG(CKA_KEY_TYPE, tt_kt_aes),
		TT_BOOL(CKA_TOKEN, tt_true),
		TT_ATTR(CKA_VALUE, tt_plain, sizeof(tt_plain)),
	};
	struct m2m_secret *so = NULL, *oa2 = NULL;
	struct m2m_core *c;
	struct m2m_store *s = NULL;
	char dir[] = "/tmp/m2m-torture-XXXXXX", path[128], err[256];
	uint64_t id = 0;
	int i;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/store.db", dir);
	c = tt_core_open(path);
	assert_int_equal(m2m_core_token_init(c, 0, (const uint8_t *)TT_SO_PIN,
	    strlen(TT_SO_PIN), (const uint8_t *)TT_LABEL32, &tt_g.token), 0);
	tt_login(c, tt_g.token, 1, TT_SO_PIN, &so);
	assert_non_null(so);
	assert_int_equal(m2m_core_token_init_pin(c, tt_g.token, so,
	    (const uint8_t *)TT_USER_PIN, strlen(TT_USER_PIN)), 0);
	m2m_secret_free(so);
	tt_login(c, tt_g.token, 0, TT_USER_PIN, &tt_g.objauth);
	assert_non_null(tt_g.objauth);
	assert_int_equal(tt_import(c, tt_g.token, tt_g.objauth, ke,
	    TT_NELEM(ke), &tt_g.ke), 0);
	assert_int_equal(tt_import(c, tt_g.token, tt_g.objauth, kpsa,
	    TT_NELEM(kpsa), &tt_g.kpsa), 0);
	assert_int_equal(tt_import(c, tt_g.token, tt_g.objauth, master,
	    TT_NELEM(master), &tt_g.master), 0);
	assert_int_equal(tt_import(c, tt_g.token, tt_g.objauth, plain,
	    TT_NELEM(plain), &tt_g.plain), 0);
	tt_g.nobjs = 4;
	/* more tokens; the second with more keys than a find's first block */
	for (i = 1; i < TT_NTOKENS; i++) {
		assert_int_equal(m2m_core_token_init(c, 0,
		    (const uint8_t *)TT_SO_PIN, strlen(TT_SO_PIN),
		    (const uint8_t *)TT_LABEL32_2, &id), 0);
		if (i == 1)
			tt_g.token2 = id;
	}
	tt_login(c, tt_g.token2, 1, TT_SO_PIN, &so);
	assert_int_equal(m2m_core_token_init_pin(c, tt_g.token2, so,
	    (const uint8_t *)TT_USER_PIN, strlen(TT_USER_PIN)), 0);
	m2m_secret_free(so);
	tt_login(c, tt_g.token2, 0, TT_USER_PIN, &oa2);
	for (i = 0; i < TT_MANY; i++)
		assert_int_equal(tt_import(c, tt_g.token2, oa2, small,
		    TT_NELEM(small), &tt_g.last), 0);
	m2m_secret_free(oa2);
	/* the last connection closes: the WAL is checkpointed and removed */
	m2m_core_close(c);
	tt_read_file(path, &tt_g.db, &tt_g.dblen);
	assert_int_equal(tt_store_open(path, &s, err, sizeof(err)), 0);
	tt_snapshot(s, &tt_g.snap);
	m2m_store_close(s);
	tt_remove_store(path);
	assert_int_equal(tt_store_open(path, &s, err, sizeof(err)), 0);
	tt_snapshot(s, &tt_g.empty);
	m2m_store_close(s);
	tt_remove_store(path);
	assert_int_equal(rmdir(dir), 0);	/* nothing left behind */
}

/* ---------------------------------------------------------------------- */
/* Checks */

/* The value of a stored key, revealed by the backend. */
static void
tt_expect_value(const struct m2m_object *o, int aux, const uint8_t *want,
    size_t n)
{
	struct m2m_secret *v = NULL;
	struct m2m_keyref kr;

	m2m_core_keyref(o, aux, tt_g.objauth, &kr);
	assert_int_equal(tt_fake.ops->reveal(tt_fake.impl, &kr, &v), 0);
	assert_int_equal(m2m_secret_len(v), n);
	assert_memory_equal(m2m_secret_data(v), want, n);
	m2m_secret_free(v);
}

/* The RFC 4279 premaster of a 32-byte PSK. */
static void
tt_expect_premaster(const struct m2m_object *o, const uint8_t psk[32])
{
	uint8_t pms[2 * 32 + 4];

	memset(pms, 0, sizeof(pms));
	pms[1] = 32;
	pms[35] = 32;
	memcpy(pms + 36, psk, 32);
	tt_expect_value(o, 1, pms, sizeof(pms));
}

static void
tt_expect_attr(const struct m2m_object *o, unsigned long type,
    const void *want, size_t n)
{
	const struct m2m_attr *a = m2m_object_attr(o, type);

	assert_non_null(a);
	assert_int_equal(a->len, n);
	if (n != 0)
		assert_memory_equal(a->val, want, n);
}

static void
tt_expect_str(const struct m2m_object *o, unsigned long type, const char *s)
{
	tt_expect_attr(o, type, s, strlen(s));
}

static uint64_t
tt_count(struct m2m_store *s, uint64_t token)
{
	uint64_t n = 0;

	assert_int_equal(m2m_store_object_count(s, token, &n), 0);
	return n;
}

static struct m2m_object *
tt_get(struct m2m_store *s, uint64_t token, uint64_t id)
{
	struct m2m_object *o = NULL;

	assert_int_equal(m2m_store_object_get(s, token, id, &o), 0);
	return o;
}

/* The store holds the golden objects plus object id, which is returned. */
static struct m2m_object *
tt_one_more(struct m2m_store *s, uint64_t id)
{
	assert_int_equal(tt_count(s, tt_g.token), tt_g.nobjs + 1);
	assert_true(id != TT_ID_SENTINEL && id > tt_g.last);
	return tt_get(s, tt_g.token, id);
}

/* PIN pin of the token opens with objauth want (NULL: any). */
static void
tt_expect_pin(struct m2m_store *s, uint64_t token, int so, const char *pin,
    const struct m2m_secret *want)
{
	struct m2m_token_rec rec;
	struct m2m_secret *oa = NULL;
	const uint8_t *v;
	size_t vlen;

	assert_int_equal(m2m_store_token_get(s, token, &rec), 0);
	v = so ? rec.so_pin : rec.user_pin;
	vlen = so ? rec.so_pin_len : rec.user_pin_len;
	/* "M2S1" || the seal: no PBKDF2 next to a backend's PIN seal */
	assert_true(vlen == 4 + 32 + TT_OBJAUTH_LEN);
	assert_memory_equal(v, "M2S1", 4);
	assert_int_equal(tt_pin_check(NULL, v + 4, vlen - 4,
	    (const uint8_t *)pin, strlen(pin), &oa), 0);
	if (want != NULL)
		assert_memory_equal(m2m_secret_data(oa),
		    m2m_secret_data(want), TT_OBJAUTH_LEN);
	m2m_secret_free(oa);
}

/* ---------------------------------------------------------------------- */
/* Scenarios */

enum tt_start {
	TT_GOLDEN_CORE = 0,	/* a copy of the golden store, open */
	TT_GOLDEN,		/* a copy of the golden store */
	TT_EMPTY		/* an empty directory */
};

struct tt_scenario {
	const char	*name;
	enum tt_start	 start;
	unsigned long	 vg_stride;	/* under valgrind; 0: TT_VG_STRIDE */
	/* the operation, run armed; t->r is its result */
	int		(*op)(struct tt *);
	/* r == 0: the outputs are right (the core still open) */
	void		(*ok)(struct tt *);
	/* r == 0: the reopened store holds the new state */
	void		(*stored)(struct tt *, struct m2m_store *);
	/* r != 0: the reopened store is as before (NULL: the golden one) */
	void		(*failed)(struct tt *, struct m2m_store *);
};

/* The run's conf, for an open that takes it. */
static struct m2m_conf *
tt_take_conf(struct tt *t)
{
	struct m2m_conf *conf = t->conf;

	t->conf = NULL;	/* transferred */
	return conf;
}

/* open: a new store, with a backend instance of its own */
static int
op_open_new(struct tt *t)
{
	return m2m_core_open_ops(tt_take_conf(t), &m2m_fake_backend_ops,
	    &t->newcore, t->errbuf, sizeof(t->errbuf));
}

static void
ok_open(struct tt *t)
{
	assert_non_null(t->newcore);
	assert_true(t->newcore != TT_SENTINEL);
	assert_non_null(m2m_core_store(t->newcore));
}

static void
stored_unchanged_empty(struct tt *t, struct m2m_store *s)
{
	struct tt_buf b = { 0 };

	(void)t;
	tt_snapshot(s, &b);
	assert_int_equal(b.n, tt_g.empty.n);
	assert_memory_equal(b.p, tt_g.empty.p, b.n);
	free(b.p);
}

/* open: the golden store */
static int
op_open_existing(struct tt *t)
{
	return m2m_core_open_ops(tt_take_conf(t), &tt_ops, &t->newcore,
	    t->errbuf, sizeof(t->errbuf));
}

static void
ok_open_existing(struct tt *t)
{
	ok_open(t);
	assert_int_equal(tt_count(m2m_core_store(t->newcore), tt_g.token),
	    tt_g.nobjs);
}

static void
stored_unchanged(struct tt *t, struct m2m_store *s)
{
	struct tt_buf b = { 0 };

	(void)t;
	tt_snapshot(s, &b);
	assert_int_equal(b.n, tt_g.snap.n);
	assert_memory_equal(b.p, tt_g.snap.p, b.n);
	free(b.p);
}

/* C_InitToken of a new token */
static int
op_token_new(struct tt *t)
{
	return m2m_core_token_init(t->core, 0, (const uint8_t *)TT_SO_PIN,
	    strlen(TT_SO_PIN), (const uint8_t *)TT_LABEL32_2,
	    &t->id);
}

static void
stored_token_new(struct tt *t, struct m2m_store *s)
{
	struct m2m_token_rec rec;

	assert_true(t->id != TT_ID_SENTINEL && t->id != tt_g.token);
	assert_int_equal(m2m_store_token_get(s, t->id, &rec), 0);
	assert_memory_equal(rec.label, "second", 6);
	assert_int_equal(rec.user_pin_set, 0);
	assert_int_equal(tt_count(s, t->id), 0);
	assert_int_equal(tt_count(s, tt_g.token), tt_g.nobjs);
	tt_expect_pin(s, t->id, 1, TT_SO_PIN, NULL);
}

/* C_InitToken over the golden token: objects go, the SO PIN stays */
static int
op_token_reinit(struct tt *t)
{
	return m2m_core_token_init(t->core, tt_g.token,
	    (const uint8_t *)TT_SO_PIN, strlen(TT_SO_PIN),
	    (const uint8_t *)TT_LABEL32_3, &t->id);
}

static void
stored_token_reinit(struct tt *t, struct m2m_store *s)
{
	struct m2m_token_rec rec;
	struct m2m_token_rec *recs = NULL;
	size_t n = 0;

	assert_int_equal(t->id, tt_g.token);
	assert_int_equal(m2m_store_token_list(s, &recs, &n), 0);
	assert_int_equal(n, TT_NTOKENS);
	free(recs);
	assert_int_equal(m2m_store_token_get(s, tt_g.token, &rec), 0);
	assert_memory_equal(rec.label, "again", 5);
	assert_int_equal(tt_count(s, tt_g.token2), TT_MANY);
	assert_int_equal(rec.user_pin_set, 0);
	assert_int_equal(tt_count(s, tt_g.token), 0);
	tt_expect_pin(s, tt_g.token, 1, TT_SO_PIN, NULL);
}

/* C_Login of the user */
static int
op_login(struct tt *t)
{
	return m2m_core_token_login(t->core, tt_g.token, 0,
	    (const uint8_t *)TT_USER_PIN, strlen(TT_USER_PIN), &t->sec);
}

static void
ok_login(struct tt *t)
{
	assert_true(t->sec != TT_SENTINEL);
	assert_non_null(t->sec);
	assert_int_equal(m2m_secret_len(t->sec), TT_OBJAUTH_LEN);
	assert_memory_equal(m2m_secret_data(t->sec),
	    m2m_secret_data(tt_g.objauth), TT_OBJAUTH_LEN);
}

/* C_Login with a wrong PIN: counted */
static int
op_login_wrong(struct tt *t)
{
	int r;

	r = m2m_core_token_login(t->core, tt_g.token, 0,
	    (const uint8_t *)TT_NEW_PIN, strlen(TT_NEW_PIN), &t->sec);
	if (r == M2M_ERR_PIN_INCORRECT) {
		t->flag = 1;
		r = 0;
	}
	return r;
}

static void
ok_login_wrong(struct tt *t)
{
	assert_int_equal(t->flag, 1);
	assert_ptr_equal(t->sec, TT_SENTINEL);
}

static void
stored_login_wrong(struct tt *t, struct m2m_store *s)
{
	struct m2m_token_rec rec;

	(void)t;
	assert_int_equal(m2m_store_token_get(s, tt_g.token, &rec), 0);
	assert_int_equal(rec.user_fails, 1);
	assert_int_equal(rec.so_fails, 0);
}

/* C_InitPIN (by the SO, who has the objauth) */
static int
op_init_pin(struct tt *t)
{
	return m2m_core_token_init_pin(t->core, tt_g.token, tt_g.objauth,
	    (const uint8_t *)TT_NEW_PIN, strlen(TT_NEW_PIN));
}

static void
stored_user_new_pin(struct tt *t, struct m2m_store *s)
{
	struct m2m_token_rec rec;

	(void)t;
	tt_expect_pin(s, tt_g.token, 0, TT_NEW_PIN, tt_g.objauth);
	tt_expect_pin(s, tt_g.token, 1, TT_SO_PIN, tt_g.objauth);
	assert_int_equal(m2m_store_token_get(s, tt_g.token, &rec), 0);
	assert_int_equal(rec.user_pin_set, 1);
	assert_int_equal(tt_count(s, tt_g.token), tt_g.nobjs);
}

/* C_SetPIN of the user and of the SO */
static int
op_set_pin_user(struct tt *t)
{
	return m2m_core_token_set_pin(t->core, tt_g.token, 0,
	    (const uint8_t *)TT_USER_PIN, strlen(TT_USER_PIN),
	    (const uint8_t *)TT_NEW_PIN, strlen(TT_NEW_PIN));
}

static int
op_set_pin_so(struct tt *t)
{
	return m2m_core_token_set_pin(t->core, tt_g.token, 1,
	    (const uint8_t *)TT_SO_PIN, strlen(TT_SO_PIN),
	    (const uint8_t *)TT_NEW_PIN, strlen(TT_NEW_PIN));
}

static void
stored_so_new_pin(struct tt *t, struct m2m_store *s)
{
	(void)t;
	tt_expect_pin(s, tt_g.token, 1, TT_NEW_PIN, tt_g.objauth);
	tt_expect_pin(s, tt_g.token, 0, TT_USER_PIN, tt_g.objauth);
}

/* C_CreateObject of a Kpsa with a peer id to normalise */
static int
op_create_kpsa(struct tt *t)
{
	struct m2m_attr tmpl[] = {
		TT_ULONG(CKA_CLASS, tt_cls_secret),
		TT_ULONG(CKA_M2M_ROLE, tt_role_kpsa),
		TT_BOOL(CKA_TOKEN, tt_true),
		TT_STR(CKA_LABEL, "kpsa-2@" TT_FQDN),
		TT_STR(CKA_M2M_PEER_ID, TT_PEER),
		TT_ATTR(CKA_VALUE, tt_ke, sizeof(tt_ke)),
	};

	return tt_import(t->core, tt_g.token, tt_g.objauth, tmpl,
	    TT_NELEM(tmpl), &t->id);
}

static void
stored_create_kpsa(struct tt *t, struct m2m_store *s)
{
	struct m2m_object *o = tt_one_more(s, t->id);

	assert_int_equal(o->role, CK_M2M_ROLE_KPSA);
	tt_expect_str(o, CKA_LABEL, "kpsa-2@" TT_FQDN);
	tt_expect_str(o, CKA_ID, "kpsa-2@" TT_FQDN);
	tt_expect_str(o, CKA_M2M_PEER_ID, TT_PEER);
	tt_expect_value(o, 0, tt_ke, sizeof(tt_ke));
	tt_expect_premaster(o, tt_ke);
	m2m_object_free(o);
}

/* C_CreateObject of a role-less AES key (no premaster form) */
static int
op_create_aes(struct tt *t)
{
	struct m2m_attr tmpl[] = {
		TT_ULONG(CKA_CLASS, tt_cls_secret),
		TT_ULONG(CKA_KEY_TYPE, tt_kt_aes),
		TT_BOOL(CKA_TOKEN, tt_true),
		TT_BOOL(CKA_SENSITIVE, tt_true),
		TT_STR(CKA_LABEL, "aes"),
		TT_ATTR(CKA_VALUE, tt_plain, sizeof(tt_plain)),
	};

	return tt_import(t->core, tt_g.token, tt_g.objauth, tmpl,
	    TT_NELEM(tmpl), &t->id);
}

static void
stored_create_aes(struct tt *t, struct m2m_store *s)
{
	struct m2m_object *o = tt_one_more(s, t->id);

	assert_int_equal(o->key_type, CKK_AES);
	assert_null(o->aux);
	tt_expect_str(o, CKA_LABEL, "aes");
	assert_int_equal(m2m_object_bool(o, CKA_SENSITIVE, 0), 1);
	tt_expect_value(o, 0, tt_plain, sizeof(tt_plain));
	m2m_object_free(o);
}

/* An object handle used: the object read back */
static int
op_get(struct tt *t)
{
	return m2m_store_object_get(m2m_core_store(t->core), tt_g.token,
	    tt_g.kpsa, &t->obj);
}

static void
ok_get(struct tt *t)
{
	assert_true(t->obj != TT_SENTINEL);
	assert_int_equal(t->obj->id, tt_g.kpsa);
	assert_int_equal(t->obj->role, CK_M2M_ROLE_KPSA);
	tt_expect_str(t->obj, CKA_LABEL, TT_KPSAID);
	tt_expect_str(t->obj, CKA_M2M_PEER_ID, TT_PEER_NFKC);
	tt_expect_value(t->obj, 0, tt_kpsa, sizeof(tt_kpsa));
	tt_expect_premaster(t->obj, tt_kpsa);
}

/* C_FindObjects by label, by role + template, and of everything */
static int
op_find(struct tt *t)
{
	struct m2m_store *s = m2m_core_store(t->core);
	struct m2m_attr by_label[] = { TT_STR(CKA_LABEL, TT_KEID) };
	struct m2m_attr by_role[] = {
		TT_ULONG(CKA_M2M_ROLE, tt_role_master),
		TT_BOOL(CKA_TOKEN, tt_true),
	};
	struct m2m_store_query q;
	uint64_t *a = NULL, *b = NULL, *c = NULL, *all = NULL;
	size_t na = 0, nb = 0, nc = 0;
	int r = M2M_ERR_INTERNAL;

	memset(&q, 0, sizeof(q));
	q.label = (const uint8_t *)TT_KEID;
	q.label_len = strlen(TT_KEID);
	if ((r = tt_find(s, tt_g.token, &q, by_label, 1, &a, &na)) != 0)
		goto out;
	memset(&q, 0, sizeof(q));
	q.has_role = 1;
	q.role = CK_M2M_ROLE_KE2E_MASTER;
	if ((r = tt_find(s, tt_g.token, &q, by_role, 2, &b, &nb)) != 0)
		goto out;
	if ((r = tt_find(s, tt_g.token, NULL, NULL, 0, &c, &nc)) != 0)
		goto out;
	/* one list: label hits, role hits, all */
	if ((all = calloc(na + nb + nc + 1, sizeof(*all))) == NULL) {
		r = M2M_ERR_NO_MEMORY;
		goto out;
	}
	if (na != 0)
		memcpy(all, a, na * sizeof(*a));
	if (nb != 0)
		memcpy(all + na, b, nb * sizeof(*b));
	if (nc != 0)
		memcpy(all + na + nb, c, nc * sizeof(*c));
	t->ids = all;
	t->nids = na + nb + nc;
	t->counts[0] = na;
	t->counts[1] = nb;
	t->counts[2] = nc;
	all = NULL;	/* transferred */
	r = 0;
 out:
	free(all);
	free(a);
	free(b);
	free(c);
	return r;
}

static void
ok_find(struct tt *t)
{
	assert_true(t->ids != TT_SENTINEL);
	assert_int_equal(t->nids, 6);
	assert_int_equal(t->counts[0], 1);
	assert_int_equal(t->counts[1], 1);
	assert_int_equal(t->counts[2], 4);
	assert_int_equal(t->ids[0], tt_g.ke);
	assert_int_equal(t->ids[1], tt_g.master);
	assert_int_equal(t->ids[2], tt_g.ke);
	assert_int_equal(t->ids[3], tt_g.kpsa);
	assert_int_equal(t->ids[4], tt_g.master);
	assert_int_equal(t->ids[5], tt_g.plain);
}

/* C_GetSlotList: the token list */
static int
op_token_list(struct tt *t)
{
	return m2m_store_token_list(m2m_core_store(t->core), &t->recs,
	    &t->nrecs);
}

static void
ok_token_list(struct tt *t)
{
	assert_true(t->recs != TT_SENTINEL);
	assert_int_equal(t->nrecs, TT_NTOKENS);
	assert_int_equal(t->recs[0].id, tt_g.token);
	assert_memory_equal(t->recs[0].label, TT_LABEL32, 32);
}

/* C_FindObjects of every key of the token with many */
static int
op_find_many(struct tt *t)
{
	return m2m_store_object_find(m2m_core_store(t->core), tt_g.token2,
	    NULL, &t->ids, &t->nids);
}

static void
ok_find_many(struct tt *t)
{
	size_t i;

	assert_true(t->ids != TT_SENTINEL);
	assert_int_equal(t->nids, TT_MANY);
	for (i = 0; i < TT_MANY; i++)
		assert_int_equal(t->ids[i], tt_g.last - TT_MANY + 1 + i);
}

/* C_SetAttributeValue: new label and id, derive off */
static int
op_update(struct tt *t)
{
	struct m2m_attr tmpl[] = {
		TT_STR(CKA_LABEL, "renamed"),
		TT_STR(CKA_ID, "renamed-id"),
		TT_BOOL(CKA_DERIVE, tt_false),
	};

	return tt_modify(t->core, tt_g.token, tt_g.plain, tmpl,
	    TT_NELEM(tmpl), 0, &t->id);
}

static void
stored_update(struct tt *t, struct m2m_store *s)
{
	struct m2m_object *o;

	assert_int_equal(t->id, tt_g.plain);
	assert_int_equal(tt_count(s, tt_g.token), tt_g.nobjs);
	o = tt_get(s, tt_g.token, tt_g.plain);
	tt_expect_str(o, CKA_LABEL, "renamed");
	tt_expect_str(o, CKA_ID, "renamed-id");
	assert_int_equal(m2m_object_bool(o, CKA_DERIVE, 1), 0);
	tt_expect_value(o, 0, tt_plain, sizeof(tt_plain));
	m2m_object_free(o);
}

/* C_CopyObject with a new label */
static int
op_copy(struct tt *t)
{
	struct m2m_attr tmpl[] = {
		TT_STR(CKA_LABEL, "copy"),
		TT_BOOL(CKA_MODIFIABLE, tt_false),
	};

	return tt_modify(t->core, tt_g.token, tt_g.plain, tmpl,
	    TT_NELEM(tmpl), 1, &t->id);
}

static void
stored_copy(struct tt *t, struct m2m_store *s)
{
	struct m2m_object *o = tt_one_more(s, t->id);

	tt_expect_str(o, CKA_LABEL, "copy");
	tt_expect_str(o, CKA_ID, "plain-id");
	assert_int_equal(m2m_object_bool(o, CKA_MODIFIABLE, 1), 0);
	tt_expect_value(o, 0, tt_plain, sizeof(tt_plain));
	m2m_object_free(o);
}

/* C_DestroyObject */
static int
op_destroy(struct tt *t)
{
	struct m2m_core *c = t->core;
	int r;

	if ((r = m2m_store_object_delete(m2m_core_store(c), tt_g.token,
	    tt_g.plain)) != 0)
		return r;
	m2m_core_backend(c)->ops->forget(m2m_core_backend(c)->impl,
	    tt_g.plain);
	return 0;
}

static void
stored_destroy(struct tt *t, struct m2m_store *s)
{
	struct m2m_object *o = NULL;

	(void)t;
	assert_int_equal(tt_count(s, tt_g.token), tt_g.nobjs - 1);
	assert_int_equal(m2m_store_object_get(s, tt_g.token, tt_g.plain, &o),
	    M2M_ERR_NOT_FOUND);
	assert_null(o);
}

/* C_DeriveKey: Km, Kpsa, Kuc from Ke */
static void
stored_derived_ke(uint64_t id, struct m2m_store *s, enum m2m_ke_kdf which)
{
	static const unsigned long role[] = {
		[M2M_KDF_KM] = CK_M2M_ROLE_KM,
		[M2M_KDF_KPSA] = CK_M2M_ROLE_KPSA,
		[M2M_KDF_KUC] = CK_M2M_ROLE_KUC,
	};
	static const char *const peer[] = {
		[M2M_KDF_KM] = TT_MAF,
		[M2M_KDF_KPSA] = TT_PEER_NFKC,
		[M2M_KDF_KUC] = TT_TARGET,
	};
	struct m2m_object *o = tt_one_more(s, id);
	uint8_t want[32];

	tt_expect_ke(which, want);
	assert_int_equal(o->role, role[which]);
	tt_expect_str(o, CKA_LABEL, which == M2M_KDF_KUC ? TT_KEID "/22" :
	    TT_KEID);
	tt_expect_str(o, CKA_M2M_PEER_ID, peer[which]);
	tt_expect_value(o, 0, want, sizeof(want));
	tt_expect_premaster(o, want);
	m2m_object_free(o);
}

static int
op_derive_km(struct tt *t)
{
	return tt_derive_ke(t->core, tt_g.token, tt_g.objauth, tt_g.ke,
	    M2M_KDF_KM, &t->id);
}

static void
stored_derive_km(struct tt *t, struct m2m_store *s)
{
	stored_derived_ke(t->id, s, M2M_KDF_KM);
}

static int
op_derive_kpsa(struct tt *t)
{
	return tt_derive_ke(t->core, tt_g.token, tt_g.objauth, tt_g.ke,
	    M2M_KDF_KPSA, &t->id);
}

static void
stored_derive_kpsa(struct tt *t, struct m2m_store *s)
{
	stored_derived_ke(t->id, s, M2M_KDF_KPSA);
}

static int
op_derive_kuc(struct tt *t)
{
	return tt_derive_ke(t->core, tt_g.token, tt_g.objauth, tt_g.ke,
	    M2M_KDF_KUC, &t->id);
}

static void
stored_derive_kuc(struct tt *t, struct m2m_store *s)
{
	stored_derived_ke(t->id, s, M2M_KDF_KUC);
}

/* C_DeriveKey: Ke2e_master from Kpsa, and T(1), T(4) from the master */
static int
op_derive_master(struct tt *t)
{
	return tt_derive_master(t->core, tt_g.token, tt_g.objauth, tt_g.kpsa,
	    &t->id);
}

static void
stored_derive_master(struct tt *t, struct m2m_store *s)
{
	struct m2m_object *o = tt_one_more(s, t->id);
	const struct m2m_attr *a;
	uint8_t want[32], id[32];

	tt_hmac(EVP_sha256(), tt_salt, sizeof(tt_salt), tt_kpsa,
	    sizeof(tt_kpsa), want);
	tt_expect_value(o, 0, want, sizeof(want));
	tt_hmac(EVP_sha256(), want, sizeof(want), M2M_LABEL_E2E_ID,
	    strlen(M2M_LABEL_E2E_ID), id);
	assert_non_null(a = m2m_object_attr(o, CKA_LABEL));
	assert_int_equal(a->len, 32 + 1 + strlen(TT_FQDN));
	{
		char hex[33];

		m2m_hex_encode(id, 16, hex);
		assert_memory_equal(a->val, hex, 32);
	}
	assert_memory_equal(a->val + 32, "@" TT_FQDN, 1 + strlen(TT_FQDN));
	assert_int_equal(o->role, CK_M2M_ROLE_KE2E_MASTER);
	assert_null(o->aux);
	m2m_object_free(o);
}

static int
op_derive_expand1(struct tt *t)
{
	return tt_derive_expand(t->core, tt_g.token, tt_g.objauth,
	    tt_g.master, 1, &t->id);
}

static int
op_derive_expand4(struct tt *t)
{
	return tt_derive_expand(t->core, tt_g.token, tt_g.objauth,
	    tt_g.master, 4, &t->id);
}

static void
stored_expand(struct tt *t, struct m2m_store *s, unsigned n)
{
	struct m2m_object *o = tt_one_more(s, t->id);
	uint8_t want[32];

	tt_expect_expand(n, want);
	assert_int_equal(o->role, CK_M2M_ROLE_KE2E_MASTER + n);
	assert_int_equal(o->key_type, n == 4 ? CKK_AES : CKK_GENERIC_SECRET);
	tt_expect_str(o, CKA_LABEL, TT_MASTERID);
	tt_expect_value(o, 0, want, sizeof(want));
	m2m_object_free(o);
}

static void
stored_expand1(struct tt *t, struct m2m_store *s)
{
	stored_expand(t, s, 1);
}

static void
stored_expand4(struct tt *t, struct m2m_store *s)
{
	stored_expand(t, s, 4);
}

/* C_DeriveKey: TLS 1.2 master secret from Kpsa's premaster form */
static int
op_derive_tls(struct tt *t)
{
	return tt_derive_tls(t->core, tt_g.token, tt_g.objauth, tt_g.kpsa,
	    t->seed, &t->obj);
}

static void
ok_derive_tls(struct tt *t)
{
	uint8_t want[48];

	assert_true(t->obj != TT_SENTINEL);
	assert_int_equal(t->obj->role, CK_M2M_ROLE_TLS_MASTER);
	assert_int_equal(t->obj->on_token, 0);
	assert_null(t->obj->blob);
	assert_non_null(t->obj->plain);
	tt_expect_tls(t->seed, want);
	assert_int_equal(m2m_secret_len(t->obj->plain), sizeof(want));
	assert_memory_equal(m2m_secret_data(t->obj->plain), want,
	    sizeof(want));
	assert_int_equal(m2m_policy_readable(t->obj, CKA_VALUE), 0);
}

/* Module metadata, written and read back */
static int
op_meta(struct tt *t)
{
	static const uint8_t v[3] = { 7, 8, 9 };
	int r;

	if ((r = m2m_store_meta_put(m2m_core_store(t->core), "torture", v,
	    sizeof(v))) != 0)
		return r;
	return m2m_store_meta_get(m2m_core_store(t->core), "torture",
	    &t->bytes, &t->nbytes);
}

static void
ok_meta(struct tt *t)
{
	assert_true(t->bytes != TT_SENTINEL);
	assert_int_equal(t->nbytes, 3);
	assert_int_equal(t->bytes[2], 9);
}

/*
 * A token's life from an empty directory: open, C_InitToken, SO login,
 * C_InitPIN, user login, C_SetPIN, close.
 */
static int
op_life_token(struct tt *t)
{
	struct m2m_core *c = NULL;
	struct m2m_secret *so = NULL, *oa = NULL;
	uint64_t token = 0;
	int r = M2M_ERR_INTERNAL;

	if ((r = m2m_core_open_ops(tt_take_conf(t), &tt_ops, &c, t->errbuf,
	    sizeof(t->errbuf))) != 0)
		goto out;
	if ((r = m2m_core_token_init(c, 0, (const uint8_t *)TT_SO_PIN,
	    strlen(TT_SO_PIN), (const uint8_t *)TT_LABEL32, &token)) != 0 ||
	    (r = m2m_core_token_login(c, token, 1, (const uint8_t *)TT_SO_PIN,
	    strlen(TT_SO_PIN), &so)) != 0 ||
	    (r = m2m_core_token_init_pin(c, token, so,
	    (const uint8_t *)TT_USER_PIN, strlen(TT_USER_PIN))) != 0 ||
	    (r = m2m_core_token_login(c, token, 0,
	    (const uint8_t *)TT_USER_PIN, strlen(TT_USER_PIN), &oa)) != 0 ||
	    (r = m2m_core_token_set_pin(c, token, 0,
	    (const uint8_t *)TT_USER_PIN, strlen(TT_USER_PIN),
	    (const uint8_t *)TT_NEW_PIN, strlen(TT_NEW_PIN))) != 0)
		goto out;
	if (!m2m_ct_equal(m2m_secret_data(so), m2m_secret_data(oa),
	    TT_OBJAUTH_LEN)) {
		r = M2M_ERR_INTERNAL;
		goto out;
	}
	t->id = token;
	r = 0;
 out:
	m2m_secret_free(oa);
	m2m_secret_free(so);
	m2m_core_close(c);
	return r;
}

/*
 * A session's work on the golden store in one run: open, user login,
 * import a second Ke, derive Km and Kpsa from it, the E2E master from that
 * Kpsa and T(2) from the master, a TLS master secret (a session object),
 * rename T(2), copy the AES key, find T(2) by its new id, destroy the new
 * Kpsa, close.
 */
static int
op_life_keys(struct tt *t)
{
	struct m2m_attr ke[] = {
		TT_ULONG(CKA_CLASS, tt_cls_secret),
		TT_ULONG(CKA_M2M_ROLE, tt_role_ke),
		TT_BOOL(CKA_TOKEN, tt_true),
		TT_STR(CKA_LABEL, "1234@other.example.com"),
		TT_ATTR(CKA_VALUE, tt_kpsa, sizeof(tt_kpsa)),
	};
	struct m2m_attr rename[] = { TT_STR(CKA_ID, "e2e-2") };
	struct m2m_attr by_id[] = { TT_STR(CKA_ID, "e2e-2") };
	struct m2m_attr copy[] = { TT_STR(CKA_LABEL, "copy") };
	struct m2m_store_query q;
	struct m2m_core *c = NULL;
	struct m2m_object *tls = NULL;
	struct m2m_secret *oa = NULL;
	uint64_t token = tt_g.token, ke_id = 0, km_id = 0, kpsa_id = 0;
	uint64_t master_id = 0, t2 = 0, x = 0, *ids = NULL;
	size_t n = 0;
	int r = M2M_ERR_INTERNAL;

	if ((r = m2m_core_open_ops(tt_take_conf(t), &tt_ops, &c, t->errbuf,
	    sizeof(t->errbuf))) != 0)
		goto out;
	if ((r = m2m_core_token_login(c, token, 0,
	    (const uint8_t *)TT_USER_PIN, strlen(TT_USER_PIN), &oa)) != 0)
		goto out;
	if ((r = tt_import(c, token, oa, ke, TT_NELEM(ke), &ke_id)) != 0 ||
	    (r = tt_derive_ke(c, token, oa, ke_id, M2M_KDF_KM, &km_id)) != 0 ||
	    (r = tt_derive_ke(c, token, oa, ke_id, M2M_KDF_KPSA,
	    &kpsa_id)) != 0 ||
	    (r = tt_derive_master(c, token, oa, kpsa_id, &master_id)) != 0 ||
	    (r = tt_derive_expand(c, token, oa, master_id, 2, &t2)) != 0 ||
	    (r = tt_derive_tls(c, token, oa, kpsa_id, t->seed, &tls)) != 0)
		goto out;
	if ((r = tt_modify(c, token, t2, rename, TT_NELEM(rename), 0,
	    &x)) != 0 ||
	    (r = tt_modify(c, token, tt_g.plain, copy, TT_NELEM(copy), 1,
	    &x)) != 0)
		goto out;
	memset(&q, 0, sizeof(q));
	q.ckid = (const uint8_t *)"e2e-2";
	q.ckid_len = 5;
	if ((r = tt_find(m2m_core_store(c), token, &q, by_id,
	    TT_NELEM(by_id), &ids, &n)) != 0)
		goto out;
	if (n != 1 || ids[0] != t2 || km_id == kpsa_id) {
		r = M2M_ERR_INTERNAL;
		goto out;
	}
	if ((r = m2m_store_object_delete(m2m_core_store(c), token,
	    kpsa_id)) != 0)
		goto out;
	t->id = token;
	r = 0;
 out:
	free(ids);
	m2m_object_free(tls);
	m2m_secret_free(oa);
	m2m_core_close(c);
	return r;
}

/* Every object of every token is whole: attributes and blobs open. */
static void
tt_all_whole(struct m2m_store *s)
{
	struct m2m_token_rec *recs = NULL;
	struct m2m_object *o = NULL;
	struct m2m_secret *v = NULL, *oa = NULL;
	struct m2m_keyref kr;
	uint64_t *ids = NULL;
	const struct m2m_attr *a;
	size_t nrecs = 0, nids = 0, i, j;
	CK_ULONG len;

	assert_int_equal(m2m_store_token_list(s, &recs, &nrecs), 0);
	for (i = 0; i < nrecs; i++) {
		/* the SO PIN opens; the user PIN, old or new, if set */
		assert_int_equal(tt_pin_check(NULL, recs[i].so_pin + 4,
		    recs[i].so_pin_len - 4, (const uint8_t *)TT_SO_PIN,
		    strlen(TT_SO_PIN), &oa), 0);
		m2m_secret_free(oa);
		oa = NULL;
		if (recs[i].user_pin_set && tt_pin_check(NULL,
		    recs[i].user_pin + 4, recs[i].user_pin_len - 4,
		    (const uint8_t *)TT_USER_PIN, strlen(TT_USER_PIN),
		    &oa) != 0)
			assert_int_equal(tt_pin_check(NULL,
			    recs[i].user_pin + 4, recs[i].user_pin_len - 4,
			    (const uint8_t *)TT_NEW_PIN, strlen(TT_NEW_PIN),
			    &oa), 0);
		assert_int_equal(m2m_store_object_find(s, recs[i].id, NULL,
		    &ids, &nids), 0);
		for (j = 0; j < nids; j++) {
			assert_non_null(oa);
			assert_int_equal(m2m_store_object_get(s, recs[i].id,
			    ids[j], &o), 0);
			assert_non_null(a = m2m_object_attr(o,
			    CKA_VALUE_LEN));
			assert_int_equal(a->len, sizeof(len));
			memcpy(&len, a->val, sizeof(len));
			m2m_core_keyref(o, 0, oa, &kr);
			assert_int_equal(tt_fake.ops->reveal(tt_fake.impl,
			    &kr, &v), 0);
			assert_int_equal(m2m_secret_len(v), len);
			m2m_secret_free(v);
			v = NULL;
			if (m2m_policy_role_is_psk(o->role)) {
				m2m_core_keyref(o, 1, oa, &kr);
				assert_int_equal(tt_fake.ops->reveal(
				    tt_fake.impl, &kr, &v), 0);
				assert_int_equal(m2m_secret_len(v),
				    2 * len + 4);
				m2m_secret_free(v);
				v = NULL;
			} else
				assert_null(o->aux);
			m2m_object_free(o);
			o = NULL;
		}
		free(ids);
		ids = NULL;
		m2m_secret_free(oa);
		oa = NULL;
	}
	free(recs);
}

static void
failed_whole(struct tt *t, struct m2m_store *s)
{
	(void)t;
	tt_all_whole(s);
}

static void
stored_life_token(struct tt *t, struct m2m_store *s)
{
	struct m2m_token_rec *recs = NULL;
	size_t n = 0;

	assert_int_equal(m2m_store_token_list(s, &recs, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(recs[0].id, t->id);
	assert_int_equal(recs[0].user_pin_set, 1);
	free(recs);
	tt_expect_pin(s, t->id, 0, TT_NEW_PIN, NULL);
	tt_expect_pin(s, t->id, 1, TT_SO_PIN, NULL);
}

static void
stored_life_keys(struct tt *t, struct m2m_store *s)
{
	assert_int_equal(t->id, tt_g.token);
	/* + Ke, Km, master, T(2), the copy */
	assert_int_equal(tt_count(s, t->id), tt_g.nobjs + 5);
	tt_all_whole(s);
}

/* name, start, vg_stride, op, ok, stored, failed */
static const struct tt_scenario tt_scenarios[] = {
	{ "open_new", TT_EMPTY, 0, op_open_new, ok_open, stored_unchanged_empty,
	    stored_unchanged_empty },
	{ "open_existing", TT_GOLDEN, 0, op_open_existing, ok_open_existing,
	    stored_unchanged, NULL },
	{ "token_init_new", TT_GOLDEN_CORE, 0, op_token_new, NULL,
	    stored_token_new, NULL },
	{ "token_reinit", TT_GOLDEN_CORE, 0, op_token_reinit, NULL,
	    stored_token_reinit, NULL },
	{ "login", TT_GOLDEN_CORE, 0, op_login, ok_login, stored_unchanged,
	    NULL },
	{ "login_wrong_pin", TT_GOLDEN_CORE, 0, op_login_wrong, ok_login_wrong,
	    stored_login_wrong, NULL },
	{ "init_pin", TT_GOLDEN_CORE, 0, op_init_pin, NULL, stored_user_new_pin,
	    NULL },
	{ "set_pin_user", TT_GOLDEN_CORE, 0, op_set_pin_user, NULL,
	    stored_user_new_pin, NULL },
	{ "set_pin_so", TT_GOLDEN_CORE, 0, op_set_pin_so, NULL,
	    stored_so_new_pin, NULL },
	{ "create_kpsa", TT_GOLDEN_CORE, 0, op_create_kpsa, NULL,
	    stored_create_kpsa, NULL },
	{ "create_aes", TT_GOLDEN_CORE, 0, op_create_aes, NULL,
	    stored_create_aes, NULL },
	{ "get", TT_GOLDEN_CORE, 0, op_get, ok_get, stored_unchanged, NULL },
	{ "find", TT_GOLDEN_CORE, 0, op_find, ok_find, stored_unchanged, NULL },
	{ "find_many", TT_GOLDEN_CORE, 0, op_find_many, ok_find_many,
	    stored_unchanged, NULL },
	{ "token_list", TT_GOLDEN_CORE, 0, op_token_list, ok_token_list,
	    stored_unchanged, NULL },
	{ "set_attributes", TT_GOLDEN_CORE, 0, op_update, NULL, stored_update,
	    NULL },
	{ "copy", TT_GOLDEN_CORE, 0, op_copy, NULL, stored_copy, NULL },
	{ "destroy", TT_GOLDEN_CORE, 0, op_destroy, NULL, stored_destroy,
	    NULL },
	{ "derive_km", TT_GOLDEN_CORE, 0, op_derive_km, NULL, stored_derive_km,
	    NULL },
	{ "derive_kpsa", TT_GOLDEN_CORE, 0, op_derive_kpsa, NULL,
	    stored_derive_kpsa, NULL },
	{ "derive_kuc", TT_GOLDEN_CORE, 0, op_derive_kuc, NULL,
	    stored_derive_kuc, NULL },
	{ "derive_e2e_master", TT_GOLDEN_CORE, 0, op_derive_master, NULL,
	    stored_derive_master, NULL },
	{ "derive_e2e_t1", TT_GOLDEN_CORE, 0, op_derive_expand1, NULL,
	    stored_expand1, NULL },
	{ "derive_e2e_t4", TT_GOLDEN_CORE, 0, op_derive_expand4, NULL,
	    stored_expand4, NULL },
	{ "derive_tls_master", TT_GOLDEN_CORE, 0, op_derive_tls, ok_derive_tls,
	    stored_unchanged, NULL },
	{ "meta", TT_GOLDEN_CORE, 0, op_meta, ok_meta, NULL, NULL },
	{ "life_token", TT_EMPTY, 7, op_life_token, NULL, stored_life_token,
	    failed_whole },
	{ "life_keys", TT_GOLDEN, 16, op_life_keys, NULL, stored_life_keys,
	    failed_whole },
};

/* The ones whose outputs must stay untouched on failure are checked here. */
static void
tt_expect_untouched(const struct tt *t)
{
	assert_int_equal(t->id, TT_ID_SENTINEL);
	assert_ptr_equal(t->obj, TT_SENTINEL);
	assert_ptr_equal(t->sec, TT_SENTINEL);
	assert_ptr_equal(t->newcore, TT_SENTINEL);
	assert_ptr_equal(t->ids, TT_SENTINEL);
	assert_int_equal(t->nids, 77);
	assert_ptr_equal(t->recs, TT_SENTINEL);
	assert_int_equal(t->nrecs, 77);
	assert_ptr_equal(t->bytes, TT_SENTINEL);
	assert_int_equal(t->nbytes, 77);
}

#define TT_VG_STRIDE	4	/* under valgrind, of a scenario without its own */

/*
 * Under valgrind, a scenario with a stride k fails N = 1, 1 + k, 1 + 2k,
 * ... and then every N of the last k: its first and last allocations and
 * one in k between.  The normal and ASan builds fail every N.
 */
static unsigned long
tt_stride(const struct tt_scenario *sc)
{
	if (!RUNNING_ON_VALGRIND)
		return 1;
	return sc->vg_stride != 0 ? sc->vg_stride : TT_VG_STRIDE;
}

/* One run with allocation n failing; 1 if the failure was injected. */
static int
tt_run(const struct tt_scenario *sc, struct tt *t, unsigned long n)
{
	struct m2m_store *s = NULL;
	char err[256];
	int injected;

	tt_outputs_reset(t);
	tt_remove_store(t->path);
	t->core = NULL;
	if (sc->start != TT_EMPTY)
		tt_write_file(t->path, tt_g.db, tt_g.dblen);
	if (sc->start == TT_GOLDEN_CORE)
		t->core = tt_core_open(t->path);
	assert_int_equal(RAND_bytes(t->seed, sizeof(t->seed)), 1);
	t->conf = tt_conf(t->path);

	m2m_alloc_arm(n);
	t->r = sc->op(t);
	injected = m2m_alloc_disarm();

	if (t->r == 0) {
		if (sc->ok != NULL)
			sc->ok(t);
	} else {
		if (t->r != M2M_ERR_NO_MEMORY || !injected)
			fail_msg("%s: allocation %lu of %lu failed: %s (%d)",
			    sc->name, n, m2m_alloc_seen(), m2m_strerror(t->r), t->r);
		tt_expect_untouched(t);
	}
	tt_outputs_free(t);
	m2m_conf_free(t->conf);
	t->conf = NULL;
	m2m_core_close(t->core);
	t->core = NULL;

	/* the store, reopened with allocations working */
	assert_int_equal(tt_store_open(t->path, &s, err, sizeof(err)), 0);
	if (t->r == 0) {
		if (sc->stored != NULL)
			sc->stored(t, s);
	} else if (sc->failed != NULL)
		sc->failed(t, s);
	else
		stored_unchanged(t, s);
	m2m_store_close(s);
	return injected;
}

/*
 * m2m_core_set_value: a TLS_MASTER value is kept as it is (no blob), any
 * other is wrapped (no plain copy); the impossible cases (a TLS_MASTER
 * token object, a value given twice) and bad arguments fail with o and the
 * value unchanged.  (Its allocation failures run in the loop above:
 * derive_tls_master and the derives.)
 */
static void
test_set_value(void **state)
{
	char dir[] = "/tmp/m2m-setvalue-XXXXXX", path[128];
	struct m2m_object *tls = NULL, *mac = NULL;
	struct m2m_secret *v = NULL, *keep;
	struct m2m_core *c;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/store.db", dir);
	c = tt_core_open(path);
	assert_int_equal(m2m_object_new(&tls), 0);
	tls->role = CK_M2M_ROLE_TLS_MASTER;
	tls->key_type = CKK_GENERIC_SECRET;
	assert_int_equal(m2m_secret_new(48, &v), 0);
	memset(m2m_secret_data(v), 0x4d, 48);
	keep = v;

	assert_int_equal(m2m_core_set_value(NULL, tls, &v, NULL),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(m2m_core_set_value(c, NULL, &v, NULL),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(m2m_core_set_value(c, tls, NULL, NULL),
	    M2M_ERR_INVALID_ARGUMENT);
	tls->on_token = 1;		/* the policy never makes this */
	assert_int_equal(m2m_core_set_value(c, tls, &v, NULL),
	    M2M_ERR_INTERNAL);
	assert_ptr_equal(v, keep);
	assert_null(tls->plain);
	tls->on_token = 0;
	assert_int_equal(m2m_core_set_value(c, tls, &v, NULL), 0);
	assert_null(v);
	assert_ptr_equal(tls->plain, keep);
	assert_null(tls->blob);
	assert_int_equal(m2m_secret_new(48, &v), 0);
	assert_int_equal(m2m_core_set_value(c, tls, &v, NULL),
	    M2M_ERR_INTERNAL);	/* given twice */
	assert_ptr_equal(tls->plain, keep);
	assert_int_equal(m2m_core_set_value(c, tls, &(struct m2m_secret *){
	    NULL }, NULL), M2M_ERR_INVALID_ARGUMENT);

	assert_int_equal(m2m_object_new(&mac), 0);
	mac->role = CK_M2M_ROLE_KE2E_MSG_AUTH;
	mac->key_type = CKK_GENERIC_SECRET;
	assert_int_equal(m2m_core_set_value(c, mac, &v, NULL), 0);
	assert_null(v);
	assert_non_null(mac->blob);
	assert_null(mac->plain);

	m2m_object_free(tls);
	m2m_object_free(mac);
	m2m_core_close(c);
	tt_remove_store(path);
	assert_int_equal(rmdir(dir), 0);
}

/*
 * m2m_policy_role_message: the roles whose keys may be an HMAC message
 * (the E2E master's base, an HKDF input) and so keep a backend's message
 * form; every other role's key is wrapped without it (backend.h
 * wrap_nomsg).
 */
static void
test_role_message(void **state)
{
	static const unsigned long yes[] = {
		CK_M2M_ROLE_NONE, CK_M2M_ROLE_KM, CK_M2M_ROLE_KPSA,
		CK_M2M_ROLE_KUC, CK_M2M_ROLE_KC,
	};
	static const unsigned long no[] = {
		CK_M2M_ROLE_KPM, CK_M2M_ROLE_KE, CK_M2M_ROLE_KER,
		CK_M2M_ROLE_KE2E_MASTER, CK_M2M_ROLE_KE2E_MSG_AUTH,
		CK_M2M_ROLE_KE2E_MSG_CONF, CK_M2M_ROLE_KE2E_ATT_AUTH,
		CK_M2M_ROLE_KE2E_ATT_CONF, CK_M2M_ROLE_IBC_SSK,
		CK_M2M_ROLE_IBC_KSAK, CK_M2M_ROLE_TLS_MASTER, 99,
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		assert_int_equal(m2m_policy_role_message(yes[i]), 1);
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		assert_int_equal(m2m_policy_role_message(no[i]), 0);
}

static void
test_torture(void **state)
{
	char dir[] = "/tmp/m2m-torture-XXXXXX";
	struct tt *t;
	size_t i;
	unsigned long n, k, step, total, runs;
	struct timespec t0, t1;
	const char *only = getenv("M2M_TORTURE_FILTER");

	(void)state;
	assert_non_null(t = calloc(1, sizeof(*t)));
	assert_non_null(mkdtemp(dir));
	snprintf(t->dir, sizeof(t->dir), "%s", dir);
	snprintf(t->path, sizeof(t->path), "%s/store.db", dir);
	for (i = 0; i < TT_NELEM(tt_scenarios); i++) {
		const struct tt_scenario *sc = &tt_scenarios[i];

		if (only != NULL && strstr(sc->name, only) == NULL)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		step = tt_stride(sc);
		runs = 0;
		for (n = 1;; n += step) {
			runs++;
			if (!tt_run(sc, t, n))
				break;
		}
		total = m2m_alloc_seen();	/* of the run that saw no failure */
		/* with a stride, the last allocations get their turn too */
		for (k = n > step ? n - step + 1 : n; step > 1 && k < n &&
		    k <= total; k++, runs++)
			(void)tt_run(sc, t, k);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		printf("torture: %-18s %4lu allocations, %4lu runs%s"
		    " (%.2f s)\n", sc->name, total, runs,
		    step > 1 ? ", a stride under valgrind" : "",
		    (double)(t1.tv_sec - t0.tv_sec) +
		    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
		fflush(stdout);
	}
	tt_remove_store(t->path);
	assert_int_equal(rmdir(dir), 0);	/* nothing left behind */
	free(t);
}

static int
group_setup(void **state)
{
	(void)state;
	if (m2m_fake_backend_open(&tt_fake) != 0)
		return -1;
	tt_ops = m2m_fake_backend_ops;
	tt_ops.name = "fake+pin";
	tt_ops.open = tt_be_open;
	tt_ops.close = tt_be_close;
	tt_ops.pin_seal = tt_pin_seal;
	tt_ops.pin_check = tt_pin_check;
	tt_ops.wrap_auth = tt_wrap_auth;
	tt_golden_build();
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	free(tt_g.db);
	free(tt_g.snap.p);
	free(tt_g.empty.p);
	m2m_secret_free(tt_g.objauth);
	tt_fake.ops->close(tt_fake.impl);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_torture),
		cmocka_unit_test(test_set_value),
		cmocka_unit_test(test_role_message),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
