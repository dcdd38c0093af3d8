/*
 * The HSM backend (hsm/) against a real SoftHSM2, one fresh token per test.
 *
 * Known answers come from the RFCs: RFC 4231 (HMAC-SHA-256/512) and the
 * GCM specification's test cases (McGrew-Viega, 13, 14, 16, 17, 18);
 * everything else is checked against OpenSSL computing the same function
 * directly, or against the module itself through plain PKCS#11 calls.
 */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dlfcn.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <valgrind/valgrind.h>

#include "backend.h"
#include "conf.h"
#include "err.h"
#include "log.h"
#include "secret.h"
#include "support_softhsm.h"
#include "../../hsm/hsm.h"

/*
 * Rounds of the two open races: fewer under valgrind, which runs one
 * thread at a time and looks for memory errors there; the normal and
 * ASan runs of this file race the full count.
 */
#define RACE_ROUNDS	(RUNNING_ON_VALGRIND ? 3 : 10)
#define RACE_P_ROUNDS	(RUNNING_ON_VALGRIND ? 3 : 8)

#define LABEL	"m2m-backing"
#define PIN	"user-pin-1234"
#define SOPIN	"so-pin-5678"
#define POISON	0xa5

static const struct m2m_backend_ops *ops = &m2m_hsm_backend_ops;

struct fx {
	struct m2m_softhsm	*sh;
	struct m2m_conf		 conf;
	void			*be;
	char			 err[512];
};

/* ------------------------------------------------------------------ */
/* Helpers                                                            */
/* ------------------------------------------------------------------ */

static void
conf_fill(struct m2m_conf *c, const char *module, const char *label,
    const char *pin, size_t cache)
{
	m2m_secret_free(c->hsm_pin);
	memset(c, 0, sizeof(*c));
	c->backend = M2M_BACKEND_HSM;
	c->hsm_module = (char *)module;
	c->hsm_token_label = (char *)label;
	c->cache_size = cache;
	assert_int_equal(m2m_secret_from(pin, strlen(pin), &c->hsm_pin), 0);
}

static int
setup(void **state)
{
	struct fx *fx;

	if ((fx = calloc(1, sizeof(*fx))) == NULL)
		return -1;
	if (m2m_softhsm_new(LABEL, PIN, SOPIN, &fx->sh) != 0) {
		free(fx);
		return -1;
	}
	conf_fill(&fx->conf, m2m_softhsm_module(), LABEL, PIN, 0);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *fx = *state;

	ops->close(fx->be);
	m2m_secret_free(fx->conf.hsm_pin);
	m2m_softhsm_free(fx->sh);
	free(fx);
	return 0;
}

static void
open_be(struct fx *fx)
{
	int r;

	r = ops->open(&fx->conf, &fx->be, fx->err, sizeof(fx->err));
	if (r != 0)
		print_error("open: %s: %s\n", m2m_strerror(r), fx->err);
	assert_int_equal(r, 0);
	assert_non_null(fx->be);
}

static size_t
unhex(const char *s, uint8_t *out, size_t max)
{
	size_t n = strlen(s) / 2, i;
	unsigned int v;

	assert_int_equal(strlen(s) % 2, 0);
	assert_true(n <= max);
	for (i = 0; i < n; i++) {
		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

static int
all_bytes(const uint8_t *p, size_t len, uint8_t v)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != v)
			return 0;
	return 1;
}

static void
wrap_ok(void *be, enum m2m_key_kind kind, const uint8_t *key, size_t len,
    uint64_t id, struct m2m_keyref *ref)
{
	uint8_t *blob = NULL;
	size_t bloblen = 0;

	assert_int_equal(ops->wrap(be, kind, key, len, &blob, &bloblen), 0);
	assert_non_null(blob);
	assert_true(bloblen > M2M_HSM_HDR_LEN && bloblen <= M2M_BLOB_MAX);
	memset(ref, 0, sizeof(*ref));
	ref->id = id;
	ref->kind = kind;
	ref->blob = blob;
	ref->bloblen = bloblen;
}

/* As wrap_ok, through wrap_readable (a key the core may reveal). */
static void
wrap_readable_ok(void *be, enum m2m_key_kind kind, const uint8_t *key,
    size_t len, uint64_t id, struct m2m_keyref *ref)
{
	uint8_t *blob = NULL;
	size_t bloblen = 0;

	assert_int_equal(ops->wrap_readable(be, kind, key, len, &blob,
	    &bloblen), 0);
	assert_non_null(blob);
	memset(ref, 0, sizeof(*ref));
	ref->id = id;
	ref->kind = kind;
	ref->blob = blob;
	ref->bloblen = bloblen;
}

static void
ref_free(struct m2m_keyref *ref)
{
	free((void *)ref->blob);
	ref->blob = NULL;
}

static const EVP_MD *
md_of(enum m2m_hash h)
{
	switch (h) {
	case M2M_HASH_SHA256:	return EVP_sha256();
	case M2M_HASH_SHA384:	return EVP_sha384();
	default:		return EVP_sha512();
	}
}

/* HMAC computed by OpenSSL directly: the independent reference. */
static void
ref_hmac(enum m2m_hash h, const uint8_t *key, size_t keylen,
    const uint8_t *msg, size_t msglen, uint8_t *out)
{
	static const uint8_t z[1];
	unsigned int len = 0;

	assert_non_null(HMAC(md_of(h), keylen ? key : z, (int)keylen,
	    msglen ? msg : z, msglen, out, &len));
	assert_int_equal(len, m2m_hash_len(h));
}

static void
hmac_check(void *be, const struct m2m_keyref *ref, enum m2m_hash h,
    const uint8_t *msg, size_t msglen, const uint8_t *want)
{
	uint8_t out[M2M_HASH_MAX_LEN];

	memset(out, POISON, sizeof(out));
	assert_int_equal(ops->hmac(be, ref, h, msg, msglen, out), 0);
	assert_memory_equal(out, want, m2m_hash_len(h));
}

static struct m2m_backend_stats
stats(void *be)
{
	struct m2m_backend_stats s;

	memset(&s, 0, sizeof(s));
	ops->stats(be, &s);
	return s;
}

/* Plain PKCS#11 access to the same token, as an independent client. */
struct p11 {
	void			*dl;
	CK_FUNCTION_LIST_PTR	 fl;
	CK_SLOT_ID		 slot;
	CK_SESSION_HANDLE	 s;
	int			 finalize;
};

static void
p11_open(struct p11 *p, const char *label)
{
	CK_C_GetFunctionList gfl;
	CK_C_INITIALIZE_ARGS ia;
	CK_SLOT_ID slots[16];
	CK_TOKEN_INFO ti;
	CK_ULONG n = 16, i;
	char want[32];
	CK_RV rv;
	int found = 0;

	memset(p, 0, sizeof(*p));
	assert_non_null(p->dl = dlopen(m2m_softhsm_module(),
	    RTLD_NOW | RTLD_LOCAL));
	gfl = (CK_C_GetFunctionList)dlsym(p->dl, "C_GetFunctionList");
	assert_non_null(gfl);
	assert_int_equal(gfl(&p->fl), CKR_OK);
	memset(&ia, 0, sizeof(ia));
	ia.flags = CKF_OS_LOCKING_OK;
	rv = p->fl->C_Initialize(&ia);
	assert_true(rv == CKR_OK || rv == CKR_CRYPTOKI_ALREADY_INITIALIZED);
	p->finalize = rv == CKR_OK;
	assert_int_equal(p->fl->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
	memset(want, ' ', sizeof(want));
	memcpy(want, label, strlen(label));
	for (i = 0; i < n && !found; i++) {
		assert_int_equal(p->fl->C_GetTokenInfo(slots[i], &ti), CKR_OK);
		if (memcmp(ti.label, want, sizeof(want)) == 0) {
			p->slot = slots[i];
			found = 1;
		}
	}
	assert_true(found);
	assert_int_equal(p->fl->C_OpenSession(p->slot,
	    CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &p->s), CKR_OK);
	rv = p->fl->C_Login(p->s, CKU_USER, (CK_UTF8CHAR_PTR)PIN, strlen(PIN));
	assert_true(rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN);
}

static void
p11_close(struct p11 *p)
{
	(void)p->fl->C_CloseSession(p->s);
	if (p->finalize)
		(void)p->fl->C_Finalize(NULL);
	dlclose(p->dl);
}

/* The token's wrapping keys (label "m2mtoken-wrap"). */
static CK_ULONG
p11_wrapkeys(struct p11 *p, CK_OBJECT_HANDLE *found, CK_ULONG max)
{
	CK_ATTRIBUTE t = { CKA_LABEL, M2M_HSM_WRAP_LABEL,
	    sizeof(M2M_HSM_WRAP_LABEL) - 1 };
	CK_ULONG n = 0;

	assert_int_equal(p->fl->C_FindObjectsInit(p->s, &t, 1), CKR_OK);
	assert_int_equal(p->fl->C_FindObjects(p->s, found, max, &n), CKR_OK);
	assert_int_equal(p->fl->C_FindObjectsFinal(p->s), CKR_OK);
	return n;
}

/*
 * The unwrap template hsm/ gives its wrapping key (hsm_wrapkey.c, strict_unwrap),
 * and the same attributes as an unwrapping template asks for them.
 */
static CK_BBOOL		 ck_t = CK_TRUE, ck_f = CK_FALSE;
static CK_ATTRIBUTE	 strict_tmpl[] = {
	{ CKA_SENSITIVE, &ck_t, 1 }, { CKA_EXTRACTABLE, &ck_f, 1 },
	{ CKA_WRAP, &ck_f, 1 }, { CKA_UNWRAP, &ck_f, 1 },
	{ CKA_DERIVE, &ck_f, 1 },
};

/*
 * A competing wrapping key with the given CKA_ID, as another process would
 * make it; legacy: without an unwrap template, as modules before it did.
 */
static CK_OBJECT_HANDLE
p11_make_wrapkey2(struct p11 *p, const uint8_t *id, size_t idlen,
    CK_BBOOL extractable, int legacy)
{
	CK_MECHANISM m = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_ULONG len = 32;
	CK_BBOOL t = CK_TRUE, f = CK_FALSE;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_VALUE_LEN, &len, sizeof(len) },
		{ CKA_LABEL, M2M_HSM_WRAP_LABEL,
		    sizeof(M2M_HSM_WRAP_LABEL) - 1 },
		{ CKA_ID, (void *)id, idlen },
		{ CKA_TOKEN, &t, 1 },
		{ CKA_PRIVATE, &t, 1 },
		{ CKA_SENSITIVE, &t, 1 },
		{ CKA_EXTRACTABLE, &extractable, 1 },
		{ CKA_WRAP, &t, 1 },
		{ CKA_UNWRAP, &t, 1 },
		{ CKA_ENCRYPT, &f, 1 },
		{ CKA_UNWRAP_TEMPLATE, strict_tmpl, sizeof(strict_tmpl) },
	};
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;

	assert_int_equal(p->fl->C_GenerateKey(p->s, &m, tmpl,
	    sizeof(tmpl) / sizeof(tmpl[0]) - (legacy ? 1 : 0), &h), CKR_OK);
	return h;
}

static CK_OBJECT_HANDLE
p11_make_wrapkey(struct p11 *p, const uint8_t *id, size_t idlen,
    CK_BBOOL extractable)
{
	return p11_make_wrapkey2(p, id, idlen, extractable, 0);
}

/* The length of a blob's first wrapped value (hsm.h). */
static size_t
first_wrapped(const struct m2m_keyref *ref)
{
	size_t len = (size_t)ref->blob[6] << 8 | ref->blob[7];

	if (ref->blob[5] == M2M_KIND_HMAC && len < M2M_HSM_HMAC_PAD)
		len = M2M_HSM_HMAC_PAD;
	return ((len + 7) / 8) * 8 + 8;
}

/* C_UnwrapKey of a backend blob's wrapped part with the given key. */
static CK_RV
p11_unwrap(struct p11 *p, CK_OBJECT_HANDLE wk, const struct m2m_keyref *ref)
{
	CK_MECHANISM m = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_BBOOL f = CK_FALSE;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &f, 1 },
		/* what the wrapping key's unwrap template demands */
		{ CKA_SENSITIVE, &ck_t, 1 }, { CKA_EXTRACTABLE, &ck_f, 1 },
		{ CKA_WRAP, &ck_f, 1 }, { CKA_UNWRAP, &ck_f, 1 },
		{ CKA_DERIVE, &ck_f, 1 },
	};
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_RV rv;

	/* the first wrapped value: its length from the header */
	rv = p->fl->C_UnwrapKey(p->s, &m, wk,
	    (CK_BYTE_PTR)ref->blob + M2M_HSM_HDR_LEN, first_wrapped(ref),
	    tmpl, sizeof(tmpl) / sizeof(tmpl[0]), &h);
	if (rv == CKR_OK)
		(void)p->fl->C_DestroyObject(p->s, h);
	return rv;
}

/* ------------------------------------------------------------------ */
/* open()                                                             */
/* ------------------------------------------------------------------ */

static void
test_open_wrong_label(void **state)
{
	struct fx *fx = *state;
	void *impl = (void *)&impl;

	conf_fill(&fx->conf, m2m_softhsm_module(), "no-such-token", PIN, 0);
	assert_int_equal(ops->open(&fx->conf, &impl, fx->err,
	    sizeof(fx->err)), M2M_ERR_BACKEND_ABSENT);
	assert_ptr_equal(impl, (void *)&impl);
	assert_non_null(strstr(fx->err,
	    "no token labelled 'no-such-token' in "));
	assert_non_null(strstr(fx->err, m2m_softhsm_module()));

	/* a prefix of the real label is not the label */
	conf_fill(&fx->conf, m2m_softhsm_module(), "m2m-back", PIN, 0);
	assert_int_equal(ops->open(&fx->conf, &impl, fx->err,
	    sizeof(fx->err)), M2M_ERR_BACKEND_ABSENT);
	/* longer than a token label can be */
	conf_fill(&fx->conf, m2m_softhsm_module(),
	    "m2m-backing-m2m-backing-m2m-backing", PIN, 0);
	assert_int_equal(ops->open(&fx->conf, &impl, fx->err,
	    sizeof(fx->err)), M2M_ERR_BACKEND_ABSENT);
	assert_ptr_equal(impl, (void *)&impl);
}

static void
test_open_wrong_module(void **state)
{
	struct fx *fx = *state;
	void *impl = (void *)&impl;
	const char *nope = "/nonexistent/libnope-pkcs11.so";

	conf_fill(&fx->conf, nope, LABEL, PIN, 0);
	assert_int_equal(ops->open(&fx->conf, &impl, fx->err,
	    sizeof(fx->err)), M2M_ERR_BACKEND_ABSENT);
	assert_ptr_equal(impl, (void *)&impl);
	assert_int_equal(strncmp(fx->err, "cannot load HSM module "
	    "/nonexistent/libnope-pkcs11.so: ", 55), 0);
	assert_true(strlen(fx->err) > 55);	/* dlerror() follows */

	/* a library that is not a PKCS#11 module */
	conf_fill(&fx->conf, "libc.so.6", LABEL, PIN, 0);
	assert_int_equal(ops->open(&fx->conf, &impl, fx->err,
	    sizeof(fx->err)), M2M_ERR_BACKEND_ABSENT);
	assert_ptr_equal(impl, (void *)&impl);
	assert_non_null(strstr(fx->err, "cannot load HSM module libc.so.6: "));
	assert_non_null(strstr(fx->err, "C_GetFunctionList"));
}

static void
test_open_wrong_pin(void **state)
{
	struct fx *fx = *state;
	void *impl = (void *)&impl;

	conf_fill(&fx->conf, m2m_softhsm_module(), LABEL, "wrong-pin-9876", 0);
	assert_int_equal(ops->open(&fx->conf, &impl, fx->err,
	    sizeof(fx->err)), M2M_ERR_BACKEND_AUTH);
	assert_ptr_equal(impl, (void *)&impl);
	assert_non_null(strstr(fx->err, "refused the user PIN"));
	assert_null(strstr(fx->err, "wrong-pin-9876"));
	assert_null(strstr(fx->err, PIN));

	/* and the right one still works afterwards */
	conf_fill(&fx->conf, m2m_softhsm_module(), LABEL, PIN, 0);
	open_be(fx);
}

static void
test_open_bad_conf(void **state)
{
	struct fx *fx = *state;
	void *impl = (void *)&impl;
	struct m2m_secret *pin;

	conf_fill(&fx->conf, m2m_softhsm_module(), LABEL, PIN,
	    M2M_HSM_CACHE_MAX + 1);
	assert_int_equal(ops->open(&fx->conf, &impl, fx->err,
	    sizeof(fx->err)), M2M_ERR_CONFIG);
	conf_fill(&fx->conf, m2m_softhsm_module(), LABEL, PIN, 0);
	pin = fx->conf.hsm_pin;
	fx->conf.hsm_pin = NULL;
	assert_int_equal(ops->open(&fx->conf, &impl, fx->err,
	    sizeof(fx->err)), M2M_ERR_CONFIG);
	fx->conf.hsm_pin = pin;
	assert_int_equal(ops->open(NULL, &impl, fx->err, sizeof(fx->err)),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_ptr_equal(impl, (void *)&impl);
	/* no errbuf is fine */
	conf_fill(&fx->conf, m2m_softhsm_module(), "absent", PIN, 0);
	assert_int_equal(ops->open(&fx->conf, &impl, NULL, 0),
	    M2M_ERR_BACKEND_ABSENT);
	ops->close(NULL);
}

/* ------------------------------------------------------------------ */
/* HMAC                                                               */
/* ------------------------------------------------------------------ */

/* RFC 4231 section 4: test cases 1, 2, 3, 4, 6, 7. */
static const struct {
	int		 n;
	const char	*key;	/* hex, or NULL: keyfill x keylen */
	uint8_t		 keyfill;
	size_t		 keylen;
	const char	*data;	/* text, or NULL: datafill x datalen */
	uint8_t		 datafill;
	size_t		 datalen;
	const char	*sha256;
	const char	*sha512;
} rfc4231[] = {
	{ 1, NULL, 0x0b, 20, "Hi There", 0, 0,
	  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
	  "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
	  "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854" },
	{ 2, "4a656665", 0, 0, "what do ya want for nothing?", 0, 0,
	  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
	  "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
	  "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737" },
	{ 3, NULL, 0xaa, 20, NULL, 0xdd, 50,
	  "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
	  "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39"
	  "bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb" },
	{ 4, "0102030405060708090a0b0c0d0e0f10111213141516171819", 0, 0,
	  NULL, 0xcd, 50,
	  "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
	  "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3db"
	  "a91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd" },
	{ 6, NULL, 0xaa, 131,
	  "Test Using Larger Than Block-Size Key - Hash Key First", 0, 0,
	  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
	  "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352"
	  "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598" },
	{ 7, NULL, 0xaa, 131,
	  "This is a test using a larger than block-size key and a larger "
	  "than block-size data. The key needs to be hashed before being "
	  "used by the HMAC algorithm.", 0, 0,
	  "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
	  "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944"
	  "b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58" },
};

static void
run_rfc4231(struct fx *fx, enum m2m_hash h)
{
	uint8_t key[256], data[256], want[64], *blob;
	size_t keylen, datalen, i, bloblen;
	struct m2m_keyref ref;
	int rep;

	open_be(fx);
	for (i = 0; i < sizeof(rfc4231) / sizeof(rfc4231[0]); i++) {
		if (rfc4231[i].key != NULL)
			keylen = unhex(rfc4231[i].key, key, sizeof(key));
		else {
			keylen = rfc4231[i].keylen;
			memset(key, rfc4231[i].keyfill, keylen);
		}
		if (rfc4231[i].data != NULL) {
			datalen = strlen(rfc4231[i].data);
			memcpy(data, rfc4231[i].data, datalen);
		} else {
			datalen = rfc4231[i].datalen;
			memset(data, rfc4231[i].datafill, datalen);
		}
		unhex(h == M2M_HASH_SHA256 ? rfc4231[i].sha256 :
		    rfc4231[i].sha512, want, sizeof(want));
		if (keylen > M2M_KEY_MAX) {
			/* the raw 131-byte key is over the limit ... */
			blob = (uint8_t *)&blob;
			bloblen = 77;
			assert_int_equal(ops->wrap(fx->be, M2M_KIND_HMAC, key,
			    keylen, &blob, &bloblen), M2M_ERR_KEY_SIZE);
			assert_ptr_equal(blob, (uint8_t *)&blob);
			assert_int_equal(bloblen, 77);
			/*
			 * ... so wrap the key HMAC really uses (RFC 2104:
			 * a key longer than the block is hashed first).
			 */
			if (h == M2M_HASH_SHA256) {
				SHA256(key, keylen, key);
				keylen = SHA256_DIGEST_LENGTH;
			} else {
				SHA512(key, keylen, key);
				keylen = SHA512_DIGEST_LENGTH;
			}
		}
		wrap_ok(fx->be, M2M_KIND_HMAC, key, keylen, 100 + i, &ref);
		for (rep = 0; rep < 2; rep++)	/* loaded, then cached */
			hmac_check(fx->be, &ref, h, data, datalen, want);
		ref.id = 0;			/* uncached */
		hmac_check(fx->be, &ref, h, data, datalen, want);
		ref_free(&ref);
	}
}

static void
test_hmac_rfc4231_sha256(void **state)
{
	run_rfc4231(*state, M2M_HASH_SHA256);
}

static void
test_hmac_rfc4231_sha512(void **state)
{
	run_rfc4231(*state, M2M_HASH_SHA512);
}

/*
 * Every key length 1..M2M_KEY_MAX with every hash, against OpenSSL: covers
 * the zero padding of short keys and the module's RFC 5649 padding of
 * long ones.
 */
static void
test_hmac_all_key_lengths(void **state)
{
	struct fx *fx = *state;
	static const enum m2m_hash hs[] = {
		M2M_HASH_SHA256, M2M_HASH_SHA384, M2M_HASH_SHA512
	};
	uint8_t key[M2M_KEY_MAX], msg[200], want[64];
	struct m2m_keyref ref;
	size_t len, j;

	open_be(fx);
	assert_int_equal(RAND_bytes(msg, sizeof(msg)), 1);
	for (len = 1; len <= M2M_KEY_MAX; len++) {
		assert_int_equal(RAND_bytes(key, len), 1);
		key[len - 1] |= 1;	/* a trailing zero would hide a bug */
		wrap_ok(fx->be, M2M_KIND_HMAC, key, len, len, &ref);
		for (j = 0; j < 3; j++) {
			ref_hmac(hs[j], key, len, msg, len + 1, want);
			hmac_check(fx->be, &ref, hs[j], msg, len + 1, want);
		}
		ref_free(&ref);
	}
	/* an empty message */
	wrap_ok(fx->be, M2M_KIND_HMAC, key, 32, 0, &ref);
	ref_hmac(M2M_HASH_SHA256, key, 32, NULL, 0, want);
	hmac_check(fx->be, &ref, M2M_HASH_SHA256, NULL, 0, want);
	ref_free(&ref);
}

/*
 * HMAC keys longer than 64 bytes (the TLS-PSK premaster of a 32-byte PSK
 * is 68) carry a pre-hashed form (hsm.h, version 2): HMAC-SHA-256 runs in
 * the HSM with it, cached, two commands per use, whether or not the
 * module leaves RFC 5649 padding; a version-1 blob of such a key still
 * works (the old path); a header that disagrees with the layout is refused.
 */
static void
test_hmac_long_key_prehash(void **state)
{
	struct fx *fx = *state;
	static const size_t lens[] = { 65, 68, 100, 127, 128 };
	static const enum m2m_hash hs[] = {
		M2M_HASH_SHA256, M2M_HASH_SHA384, M2M_HASH_SHA512
	};
	uint8_t key[M2M_KEY_MAX], msg[100], want[64], out[64], *v1;
	struct m2m_backend_stats a, b;
	struct m2m_keyref ref, old;
	size_t i, j, wl, mf;
	int r;

	open_be(fx);
	assert_int_equal(RAND_bytes(msg, sizeof(msg)), 1);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		assert_int_equal(RAND_bytes(key, lens[i]), 1);
		wrap_ok(fx->be, M2M_KIND_HMAC, key, lens[i], 50 + i, &ref);
		wl = ((lens[i] + 7) / 8) * 8 + 8;
		/* lengths not a multiple of 8 get a message form too */
		mf = lens[i] % 8 == 0 ? 0 : ((lens[i] + 7) / 8) * 8 + 8;
		assert_int_equal(ref.bloblen, M2M_HSM_HDR_LEN + wl +
		    M2M_HSM_PREHASH_WRAPPED_LEN + mf);
		assert_int_equal(ref.blob[4], mf != 0 ? M2M_HSM_VERSION_MSG :
		    M2M_HSM_VERSION_PREHASH);
		for (j = 0; j < 3; j++) {
			ref_hmac(hs[j], key, lens[i], msg, sizeof(msg), want);
			hmac_check(fx->be, &ref, hs[j], msg, sizeof(msg),
			    want);
		}
		/* cached and in the HSM: C_SignInit + C_Sign, no unwrap */
		ref_hmac(M2M_HASH_SHA256, key, lens[i], msg, sizeof(msg), want);
		a = stats(fx->be);
		hmac_check(fx->be, &ref, M2M_HASH_SHA256, msg, sizeof(msg),
		    want);
		b = stats(fx->be);
		assert_int_equal(b.loads - a.loads, 0);
		assert_int_equal(b.commands - a.commands, 2);
		/* forget() drops the pre-hashed handle too */
		ops->forget(fx->be, ref.id);
		a = stats(fx->be);
		hmac_check(fx->be, &ref, M2M_HASH_SHA256, msg, sizeof(msg),
		    want);
		b = stats(fx->be);
		assert_int_equal(b.loads - a.loads, 1);

		/* the same key as a version-1 blob (no pre-hashed form) */
		assert_non_null(v1 = malloc(M2M_HSM_HDR_LEN + wl));
		memcpy(v1, ref.blob, M2M_HSM_HDR_LEN + wl);
		v1[4] = M2M_HSM_VERSION;
		old = ref;
		old.id = 80 + i;
		old.blob = v1;
		old.bloblen = M2M_HSM_HDR_LEN + wl;
		for (j = 0; j < 3; j++) {
			ref_hmac(hs[j], key, lens[i], msg, sizeof(msg), want);
			memset(out, POISON, sizeof(out));
			r = ops->hmac(fx->be, &old, hs[j], msg, sizeof(msg),
			    out);
			/*
			 * HMAC-SHA-256 with a padded key would be wrong; the
			 * host path needs a readable key, which the strict
			 * wrapping key never gives (only version-1 blobs of
			 * modules before version 2 took it).
			 */
			if (hs[j] == M2M_HASH_SHA256 && lens[i] % 8 != 0) {
				assert_int_equal(r,
				    M2M_ERR_ATTRIBUTE_SENSITIVE);
				continue;
			}
			assert_int_equal(r, 0);
			assert_memory_equal(out, want, m2m_hash_len(hs[j]));
		}
		/* version and layout must agree */
		v1[4] = M2M_HSM_VERSION_PREHASH;
		old.id = 0;
		assert_int_equal(ops->hmac(fx->be, &old, M2M_HASH_SHA256, msg,
		    sizeof(msg), out), M2M_ERR_DATA_INVALID);
		free(v1);
		((uint8_t *)ref.blob)[4] = mf != 0 ? M2M_HSM_VERSION_PREHASH :
		    M2M_HSM_VERSION;
		ref.id = 0;
		assert_int_equal(ops->hmac(fx->be, &ref, M2M_HASH_SHA256, msg,
		    sizeof(msg), out), M2M_ERR_DATA_INVALID);
		ref_free(&ref);
	}
	/* a 64-byte key has neither the second form nor a message form */
	assert_int_equal(RAND_bytes(key, 64), 1);
	wrap_ok(fx->be, M2M_KIND_HMAC, key, 64, 0, &ref);
	assert_int_equal(ref.blob[4], M2M_HSM_VERSION);
	((uint8_t *)ref.blob)[4] = M2M_HSM_VERSION_PREHASH;
	assert_int_equal(ops->hmac(fx->be, &ref, M2M_HASH_SHA256, msg,
	    sizeof(msg), out), M2M_ERR_DATA_INVALID);
	ref_free(&ref);
}

/*
 * A stored key as the HMAC message (Ke2e_master = HMAC(Salt, Kpsa), HKDF
 * extract), against OpenSSL: for wrap()'s blobs the key is hashed inside
 * the HSM (hsm.c, digest_hmac: its message form and C_DigestKey), for
 * wrap_readable()'s in host memory; every key and HMAC-key length around
 * the edges (8-byte multiples, the 64- and 128-byte blocks).
 */
static void
test_hmac_keymsg(void **state)
{
	struct fx *fx = *state;
	static const size_t klens[] = { 1, 20, 32, 63, 64, 65, 100, 128 };
	static const enum m2m_hash hs[] = {
		M2M_HASH_SHA256, M2M_HASH_SHA384, M2M_HASH_SHA512
	};
	static const size_t hlens[] = { 0, 32, 57, 58, 64, 65, 128, 200 };
	uint8_t k[M2M_KEY_MAX], hk[200], want[64], out[64];
	struct m2m_keyref ref;
	size_t i, j, n, h, pad, bs;
	int rd, r;

	open_be(fx);
	for (i = 0; i < sizeof(klens) / sizeof(klens[0]) * 2; i++) {
		/* wrap(): hashed in the HSM; wrap_readable(): in the host */
		rd = i >= sizeof(klens) / sizeof(klens[0]);
		n = i % (sizeof(klens) / sizeof(klens[0]));
		assert_int_equal(RAND_bytes(k, klens[n]), 1);
		k[klens[n] - 1] |= 1;
		if (rd)
			wrap_readable_ok(fx->be, M2M_KIND_HMAC, k, klens[n],
			    i + 1, &ref);
		else
			wrap_ok(fx->be, M2M_KIND_HMAC, k, klens[n], i + 1,
			    &ref);
		pad = (8 - klens[n] % 8) % 8;
		for (j = 0; j < sizeof(hlens) / sizeof(hlens[0]); j++) {
			assert_int_equal(RAND_bytes(hk, sizeof(hk)), 1);
			for (h = 0; h < 3; h++) {
				bs = hs[h] == M2M_HASH_SHA256 ? 64 : 128;
				ref_hmac(hs[h], hk, hlens[j], k, klens[n],
				    want);
				memset(out, POISON, sizeof(out));
				r = ops->hmac_keymsg(fx->be, hk, hlens[j],
				    &ref, hs[h], out);
				/*
				 * in the HSM, an HMAC key K0 (the key, or its
				 * hash when longer than the block) must leave
				 * the block's last pad bytes as ipad
				 */
				if (!rd && hlens[j] <= bs &&
				    hlens[j] > bs - pad) {
					assert_int_equal(r, M2M_ERR_KEY_SIZE);
					assert_true(all_bytes(out, sizeof(out),
					    POISON));
					continue;
				}
				assert_int_equal(r, 0);
				assert_memory_equal(out, want,
				    m2m_hash_len(hs[h]));
			}
		}
		ref_free(&ref);
	}
	/* an AES key's value as the message */
	wrap_ok(fx->be, M2M_KIND_AES, k, 32, 0, &ref);
	ref_hmac(M2M_HASH_SHA256, hk, 32, k, 32, want);
	assert_int_equal(ops->hmac_keymsg(fx->be, hk, 32, &ref,
	    M2M_HASH_SHA256, out), 0);
	assert_memory_equal(out, want, 32);

	/* refusals write nothing */
	memset(out, POISON, sizeof(out));
	assert_int_equal(ops->hmac_keymsg(fx->be, hk, 32, &ref, 0, out),
	    M2M_ERR_MECHANISM);
	assert_int_equal(ops->hmac_keymsg(fx->be, hk, M2M_HSM_HOSTKEY_MAX + 1,
	    &ref, M2M_HASH_SHA256, out), M2M_ERR_KEY_SIZE);
	assert_int_equal(ops->hmac_keymsg(fx->be, NULL, 5, &ref,
	    M2M_HASH_SHA256, out), M2M_ERR_INVALID_ARGUMENT);
	ref.kind = M2M_KIND_HMAC;
	assert_int_equal(ops->hmac_keymsg(fx->be, hk, 32, &ref,
	    M2M_HASH_SHA256, out), M2M_ERR_KEY_TYPE);
	assert_true(all_bytes(out, sizeof(out), POISON));
	assert_int_equal(ops->hmac_keymsg(fx->be, hk, 32, &ref,
	    M2M_HASH_SHA256, NULL), M2M_ERR_INVALID_ARGUMENT);
	ref_free(&ref);
}

/*
 * wrap_nomsg(): no message form (a blob of version 1, or 2 over 64
 * bytes), the same HMACs as wrap()'s blob, and hmac_keymsg() of a key
 * that would need the form refused with M2M_ERR_KEY_SIZE, nothing written.
 */
static void
test_wrap_nomsg(void **state)
{
	struct fx *fx = *state;
	static const size_t klens[] = { 20, 32, 64, 65, 100 };
	uint8_t k[M2M_KEY_MAX], hk[32], want[64], out[64], *blob;
	struct m2m_keyref ref;
	size_t i, bloblen;

	open_be(fx);
	memset(hk, 0x42, sizeof(hk));
	for (i = 0; i < sizeof(klens) / sizeof(klens[0]); i++) {
		assert_int_equal(RAND_bytes(k, klens[i]), 1);
		blob = NULL;
		assert_int_equal(ops->wrap_nomsg(fx->be, M2M_KIND_HMAC, k,
		    klens[i], &blob, &bloblen), 0);
		memset(&ref, 0, sizeof(ref));
		ref.id = i + 1;
		ref.kind = M2M_KIND_HMAC;
		ref.blob = blob;
		ref.bloblen = bloblen;
		assert_int_equal(blob[4], klens[i] > 64 ?
		    M2M_HSM_VERSION_PREHASH : M2M_HSM_VERSION);
		ref_hmac(M2M_HASH_SHA256, k, klens[i], hk, 32, want);
		hmac_check(fx->be, &ref, M2M_HASH_SHA256, hk, 32, want);
		ref_hmac(M2M_HASH_SHA512, k, klens[i], hk, 32, want);
		hmac_check(fx->be, &ref, M2M_HASH_SHA512, hk, 32, want);
		memset(out, POISON, sizeof(out));
		/* the message form is needed below 64 bytes or off 8 */
		if (klens[i] < 64 || klens[i] % 8 != 0) {
			assert_int_equal(ops->hmac_keymsg(fx->be, hk, 32,
			    &ref, M2M_HASH_SHA256, out), M2M_ERR_KEY_SIZE);
			assert_true(all_bytes(out, sizeof(out), POISON));
		} else {
			ref_hmac(M2M_HASH_SHA256, hk, 32, k, klens[i], want);
			assert_int_equal(ops->hmac_keymsg(fx->be, hk, 32,
			    &ref, M2M_HASH_SHA256, out), 0);
			assert_memory_equal(out, want, 32);
		}
		ref_free(&ref);
	}
}

/*
 * hmac_keymsg() keeps the message form's working copy in the cache (id |
 * M2M_HSM_ID_MSGFORM): the second call loads nothing, forget(id) and
 * flush() drop it, and a blob of another key under the same id is never
 * served from it.
 */
static void
test_keymsg_cached(void **state)
{
	struct fx *fx = *state;
	uint8_t k[32], k2[32], hk[32], want[32], out[32];
	struct m2m_keyref ref, ref2;
	unsigned long loads;

	open_be(fx);
	assert_int_equal(RAND_bytes(k, sizeof(k)), 1);
	assert_int_equal(RAND_bytes(k2, sizeof(k2)), 1);
	memset(hk, 0x5a, sizeof(hk));
	wrap_ok(fx->be, M2M_KIND_HMAC, k, 32, 7, &ref);
	assert_int_equal(ref.blob[4], M2M_HSM_VERSION_MSG);
	ref_hmac(M2M_HASH_SHA256, hk, 32, k, 32, want);
	assert_int_equal(ops->hmac_keymsg(fx->be, hk, 32, &ref,
	    M2M_HASH_SHA256, out), 0);
	assert_memory_equal(out, want, 32);
	loads = stats(fx->be).loads;
	assert_int_equal(ops->hmac_keymsg(fx->be, hk, 32, &ref,
	    M2M_HASH_SHA256, out), 0);
	assert_memory_equal(out, want, 32);
	assert_int_equal(stats(fx->be).loads, loads);
	/* another key's blob under the same id: loaded, its own value */
	wrap_ok(fx->be, M2M_KIND_HMAC, k2, 32, 7, &ref2);
	ref_hmac(M2M_HASH_SHA256, hk, 32, k2, 32, want);
	assert_int_equal(ops->hmac_keymsg(fx->be, hk, 32, &ref2,
	    M2M_HASH_SHA256, out), 0);
	assert_memory_equal(out, want, 32);
	assert_int_equal(stats(fx->be).loads, loads + 1);
	ops->forget(fx->be, 7);
	assert_int_equal(ops->hmac_keymsg(fx->be, hk, 32, &ref2,
	    M2M_HASH_SHA256, out), 0);
	assert_int_equal(stats(fx->be).loads, loads + 2);
	ops->flush(fx->be);
	assert_int_equal(ops->hmac_keymsg(fx->be, hk, 32, &ref2,
	    M2M_HASH_SHA256, out), 0);
	assert_memory_equal(out, want, 32);
	assert_int_equal(stats(fx->be).loads, loads + 3);
	ref_free(&ref);
	ref_free(&ref2);
}

/* ------------------------------------------------------------------ */
/* AES-GCM                                                            */
/* ------------------------------------------------------------------ */

#define K16 "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"
#define P16 "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" \
	    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
#define A16 "feedfacedeadbeeffeedfacedeadbeefabaddad2"
#define Z32 "0000000000000000000000000000000000000000000000000000000000000000"

/* The GCM specification (McGrew, Viega), appendix B, AES-256 cases. */
static const struct {
	int		 n;
	const char	*key, *iv, *aad, *pt, *ct, *tag;
} gcmkat[] = {
	{ 13, Z32, "000000000000000000000000", "", "", "",
	  "530f8afbc74536b9a963b4f1c4cb738b" },
	{ 14, Z32, "000000000000000000000000", "",
	  "00000000000000000000000000000000",
	  "cea7403d4d606b6e074ec5d3baf39d18",
	  "d0d1c8a799996bf0265b98b5d48ab919" },
	{ 16, K16, "cafebabefacedbaddecaf888", A16, P16,
	  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
	  "76fc6ece0f4e1768cddf8853bb2d551b" },
	{ 17, K16, "cafebabefacedbad", A16, P16,	/* 64-bit IV */
	  "c3762df1ca787d32ae47c13bf19844cbaf1ae14d0b976afac52ff7d79bba9de0"
	  "feb582d33934a4f0954cc2363bc73f7862ac430e64abe499f47c9b1f",
	  "3a337dbf46a792c45e454913fe2ea8f2" },
	{ 18, K16,					/* 480-bit IV */
	  "9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728"
	  "c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b",
	  A16, P16,
	  "5a8def2f0c9e53f1f75d7853659e2a20eeb2b22aafde6419a058ab4f6f746bf4"
	  "0fc0c3b780f244452da3ebf1c5d82cdea2418997200ef82e44ae7e3f",
	  "a44a8266ee1c8eb0c8b5d4cf5ae9f19a" },
};

static void
test_gcm_known_answers(void **state)
{
	struct fx *fx = *state;
	uint8_t key[32], iv[64], aad[32], pt[64], want[96], out[96];
	size_t ivlen, aadlen, ptlen, ctlen, outlen, i;
	struct m2m_keyref ref;

	open_be(fx);
	for (i = 0; i < sizeof(gcmkat) / sizeof(gcmkat[0]); i++) {
		unhex(gcmkat[i].key, key, sizeof(key));
		ivlen = unhex(gcmkat[i].iv, iv, sizeof(iv));
		aadlen = unhex(gcmkat[i].aad, aad, sizeof(aad));
		ptlen = unhex(gcmkat[i].pt, pt, sizeof(pt));
		ctlen = unhex(gcmkat[i].ct, want, sizeof(want));
		unhex(gcmkat[i].tag, want + ctlen, 16);
		wrap_ok(fx->be, M2M_KIND_AES, key, 32, 50 + i, &ref);

		memset(out, POISON, sizeof(out));
		outlen = 0;
		assert_int_equal(ops->aes_gcm(fx->be, &ref, 1, iv, ivlen,
		    aad, aadlen, 16, pt, ptlen, out, &outlen), 0);
		assert_int_equal(outlen, ptlen + 16);
		assert_memory_equal(out, want, outlen);
		assert_true(all_bytes(out + outlen, sizeof(out) - outlen,
		    POISON));

		memset(out, POISON, sizeof(out));
		outlen = 0;
		assert_int_equal(ops->aes_gcm(fx->be, &ref, 0, iv, ivlen,
		    aad, aadlen, 16, want, ctlen + 16, out, &outlen), 0);
		assert_int_equal(outlen, ptlen);
		if (ptlen > 0)
			assert_memory_equal(out, pt, ptlen);
		ref_free(&ref);
	}
}

static void
ref_gcm_encrypt(const uint8_t *key, size_t keylen, const uint8_t *iv,
    size_t ivlen, const uint8_t *aad, size_t aadlen, const uint8_t *pt,
    size_t ptlen, size_t taglen, uint8_t *out)
{
	const EVP_CIPHER *c = keylen == 16 ? EVP_aes_128_gcm() :
	    keylen == 24 ? EVP_aes_192_gcm() : EVP_aes_256_gcm();
	EVP_CIPHER_CTX *x;
	int l = 0;

	assert_non_null(x = EVP_CIPHER_CTX_new());
	assert_int_equal(EVP_EncryptInit_ex(x, c, NULL, NULL, NULL), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_IVLEN,
	    (int)ivlen, NULL), 1);
	assert_int_equal(EVP_EncryptInit_ex(x, NULL, NULL, key, iv), 1);
	if (aadlen > 0)
		assert_int_equal(EVP_EncryptUpdate(x, NULL, &l, aad,
		    (int)aadlen), 1);
	if (ptlen > 0)
		assert_int_equal(EVP_EncryptUpdate(x, out, &l, pt,
		    (int)ptlen), 1);
	assert_int_equal(EVP_EncryptFinal_ex(x, out + ptlen, &l), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_GET_TAG,
	    (int)taglen, out + ptlen), 1);
	EVP_CIPHER_CTX_free(x);
}

static void
test_gcm_round_trip(void **state)
{
	struct fx *fx = *state;
	static const size_t lens[] = { 0, 1, 15, 16, 17, 496, 497, 512, 4096,
	    70000 };
	static const size_t tags[] = { 4, 8, 12, 13, 16 };
	static const size_t ivs[] = { 1, 12, 16, 128 };	/* OpenSSL: <= 128 */
	static const size_t keys[] = { 16, 24, 32 };
	uint8_t key[32], iv[256], aad[40];
	uint8_t *pt, *ct, *want, *back;
	size_t i, j, outlen, len;
	struct m2m_keyref ref;

	open_be(fx);
	assert_non_null(pt = malloc(70000));
	assert_non_null(ct = malloc(70016));
	assert_non_null(want = malloc(70016));
	assert_non_null(back = malloc(70016));
	assert_int_equal(RAND_bytes(pt, 70000), 1);
	assert_int_equal(RAND_bytes(iv, sizeof(iv)), 1);
	assert_int_equal(RAND_bytes(aad, sizeof(aad)), 1);
	for (i = 0; i < 3; i++) {
		assert_int_equal(RAND_bytes(key, keys[i]), 1);
		wrap_ok(fx->be, M2M_KIND_AES, key, keys[i], 7, &ref);
		for (j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
			size_t tl = tags[j % 5], il = ivs[j % 4];
			size_t al = j % 3 == 0 ? 0 : sizeof(aad);

			len = lens[j];
			ref_gcm_encrypt(key, keys[i], iv, il, aad, al, pt, len,
			    tl, want);
			assert_int_equal(ops->aes_gcm(fx->be, &ref, 1, iv, il,
			    al ? aad : NULL, al, tl, pt, len, ct, &outlen), 0);
			assert_int_equal(outlen, len + tl);
			assert_memory_equal(ct, want, outlen);
			assert_int_equal(ops->aes_gcm(fx->be, &ref, 0, iv, il,
			    al ? aad : NULL, al, tl, ct, len + tl, back,
			    &outlen), 0);
			assert_int_equal(outlen, len);
			if (len > 0)
				assert_memory_equal(back, pt, len);
		}
		ref_free(&ref);
	}
	free(pt);
	free(ct);
	free(want);
	free(back);
}

static void
test_gcm_tampered(void **state)
{
	struct fx *fx = *state;
	uint8_t key[32], iv[12], aad[20], pt[60], ct[76], bad[76], out[128];
	size_t outlen, i;
	struct m2m_keyref ref;

	open_be(fx);
	unhex(K16, key, sizeof(key));
	unhex("cafebabefacedbaddecaf888", iv, sizeof(iv));
	unhex(A16, aad, sizeof(aad));
	unhex(P16, pt, sizeof(pt));
	wrap_ok(fx->be, M2M_KIND_AES, key, 32, 1, &ref);
	assert_int_equal(ops->aes_gcm(fx->be, &ref, 1, iv, 12, aad, 20, 16,
	    pt, 60, ct, &outlen), 0);
	assert_int_equal(outlen, 76);

	/* every single-bit change of ciphertext or tag */
	for (i = 0; i < 76 * 8; i += 7) {
		memcpy(bad, ct, sizeof(bad));
		bad[i / 8] ^= (uint8_t)(1 << (i % 8));
		memset(out, POISON, sizeof(out));
		outlen = 12345;
		assert_int_equal(ops->aes_gcm(fx->be, &ref, 0, iv, 12, aad, 20,
		    16, bad, 76, out, &outlen), M2M_ERR_ENCRYPTED_DATA_INVALID);
		assert_true(all_bytes(out, sizeof(out), POISON));
		assert_int_equal(outlen, 12345);
	}
	/* the last tag byte, the AAD, the IV, a shorter tag, no AAD */
	memcpy(bad, ct, sizeof(bad));
	bad[75] ^= 0x80;
	assert_int_equal(ops->aes_gcm(fx->be, &ref, 0, iv, 12, aad, 20, 16,
	    bad, 76, out, &outlen), M2M_ERR_ENCRYPTED_DATA_INVALID);
	aad[0] ^= 1;
	assert_int_equal(ops->aes_gcm(fx->be, &ref, 0, iv, 12, aad, 20, 16,
	    ct, 76, out, &outlen), M2M_ERR_ENCRYPTED_DATA_INVALID);
	aad[0] ^= 1;
	iv[11] ^= 1;
	assert_int_equal(ops->aes_gcm(fx->be, &ref, 0, iv, 12, aad, 20, 16,
	    ct, 76, out, &outlen), M2M_ERR_ENCRYPTED_DATA_INVALID);
	iv[11] ^= 1;
	assert_int_equal(ops->aes_gcm(fx->be, &ref, 0, iv, 12, aad, 20, 15,
	    ct, 76, out, &outlen), M2M_ERR_ENCRYPTED_DATA_INVALID);
	assert_int_equal(ops->aes_gcm(fx->be, &ref, 0, iv, 12, NULL, 0, 16,
	    ct, 76, out, &outlen), M2M_ERR_ENCRYPTED_DATA_INVALID);
	assert_true(all_bytes(out, sizeof(out), POISON));
	assert_int_equal(outlen, 12345);
	/* the untouched ciphertext still opens */
	assert_int_equal(ops->aes_gcm(fx->be, &ref, 0, iv, 12, aad, 20, 16,
	    ct, 76, out, &outlen), 0);
	assert_int_equal(outlen, 60);
	assert_memory_equal(out, pt, 60);
	ref_free(&ref);
}

static void
test_gcm_bad_arguments(void **state)
{
	struct fx *fx = *state;
	uint8_t key[32] = { 1 }, iv[257] = { 0 }, in[64] = { 0 }, out[128];
	size_t outlen = 999;
	struct m2m_keyref ref, href;

	open_be(fx);
	wrap_ok(fx->be, M2M_KIND_AES, key, 32, 1, &ref);
	wrap_ok(fx->be, M2M_KIND_HMAC, key, 32, 2, &href);
	memset(out, POISON, sizeof(out));
	assert_int_equal(ops->aes_gcm(fx->be, &ref, 1, iv, 12, NULL, 0, 3,
	    in, 16, out, &outlen), M2M_ERR_MECHANISM_PARAM);
	assert_int_equal(ops->aes_gcm(fx->be, &ref, 1, iv, 12, NULL, 0, 17,
	    in, 16, out, &outlen), M2M_ERR_MECHANISM_PARAM);
	assert_int_equal(ops->aes_gcm(fx->be, &ref, 1, iv, 0, NULL, 0, 16,
	    in, 16, out, &outlen), M2M_ERR_MECHANISM_PARAM);
	assert_int_equal(ops->aes_gcm(fx->be, &ref, 1, iv, 257, NULL, 0, 16,
	    in, 16, out, &outlen), M2M_ERR_MECHANISM_PARAM);
	assert_int_equal(ops->aes_gcm(fx->be, &ref, 0, iv, 12, NULL, 0, 16,
	    in, 15, out, &outlen), M2M_ERR_ENCRYPTED_DATA_INVALID);
	assert_int_equal(ops->aes_gcm(fx->be, &href, 1, iv, 12, NULL, 0, 16,
	    in, 16, out, &outlen), M2M_ERR_KEY_TYPE);
	assert_int_equal(ops->aes_gcm(fx->be, &ref, 1, NULL, 12, NULL, 0, 16,
	    in, 16, out, &outlen), M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(ops->aes_gcm(fx->be, &ref, 1, iv, 12, NULL, 5, 16,
	    in, 16, out, &outlen), M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(ops->aes_gcm(fx->be, &ref, 1, iv, 12, NULL, 0, 16,
	    in, 16, NULL, &outlen), M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(ops->aes_gcm(fx->be, &ref, 1, iv, 12, NULL, 0, 16,
	    in, M2M_HSM_AEAD_MAX + 1, out, &outlen), M2M_ERR_DATA_LEN);
	assert_true(all_bytes(out, sizeof(out), POISON));
	assert_int_equal(outlen, 999);
	/* the limits themselves are accepted (long IVs: see below) */
	assert_int_equal(ops->aes_gcm(fx->be, &ref, 1, iv, 1, NULL, 0, 4,
	    in, 16, out, &outlen), 0);
	assert_int_equal(outlen, 20);
	assert_int_equal(ops->aes_gcm(fx->be, &ref, 0, iv, 1, NULL, 0, 4,
	    out, 20, out + 32, &outlen), 0);
	assert_int_equal(outlen, 16);
	assert_memory_equal(out + 32, in, 16);
	ref_free(&ref);
	ref_free(&href);
}

/*
 * IVs over 128 bytes: OpenSSL (hence the reference above and SoftHSM2)
 * cannot do them, and SoftHSM2 2.6.1 silently used only the first 12
 * bytes.  The answers below follow the GCM definition (J0 = GHASH of the
 * padded IV and its length) for key 11..11, IV 00 01 02 .., 16 zero bytes;
 * the same computation gives the module's answer for 60 and 128 bytes.
 * The backend must give the right answer or refuse, never another one.
 */
static void
test_gcm_long_iv(void **state)
{
	struct fx *fx = *state;
	static const struct {
		size_t		 ivlen;
		const char	*want;
	} v[] = {
		{ 60, "1122a20f434bc441f2f91c00752a0114"
		      "40abb5af0ae8c81e029680c6d5eaa3c3" },
		{ 128, "cddcb2911e72a301c20c994f027aad07"
		       "aa2139bb2c42c0b4c6be0698f3469dee" },
		{ 129, "600af2e88cbe047ba77688fe5d55d668"
		       "d3b85c22f27b5f77e561eb51e028105f" },
		{ 256, "491fd074e7ca20e2e48ead7a4a932101"
		       "aa975c25cfdb62f8087b55f7f9ffe844" },
	};
	uint8_t key[32], iv[256], zero[16] = { 0 }, want[32], out[64];
	struct m2m_keyref ref;
	size_t i, outlen;
	int r;

	open_be(fx);
	memset(key, 0x11, sizeof(key));
	for (i = 0; i < sizeof(iv); i++)
		iv[i] = (uint8_t)i;
	wrap_ok(fx->be, M2M_KIND_AES, key, 32, 1, &ref);
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		unhex(v[i].want, want, sizeof(want));
		memset(out, POISON, sizeof(out));
		outlen = 777;
		r = ops->aes_gcm(fx->be, &ref, 1, iv, v[i].ivlen, NULL, 0, 16,
		    zero, 16, out, &outlen);
		if (v[i].ivlen <= 128 || r == 0) {
			assert_int_equal(r, 0);
			assert_int_equal(outlen, 32);
			assert_memory_equal(out, want, 32);
			continue;
		}
		print_message("IV of %zu bytes refused by this module\n",
		    v[i].ivlen);
		assert_int_equal(r, M2M_ERR_MECHANISM_PARAM);
		assert_int_equal(ops->aes_gcm(fx->be, &ref, 0, iv, v[i].ivlen,
		    NULL, 0, 16, want, 32, out, &outlen),
		    M2M_ERR_MECHANISM_PARAM);
		assert_true(all_bytes(out, sizeof(out), POISON));
		assert_int_equal(outlen, 777);
	}
	ref_free(&ref);
}

/* ------------------------------------------------------------------ */
/* Blobs                                                              */
/* ------------------------------------------------------------------ */

static void
test_wrap_limits(void **state)
{
	struct fx *fx = *state;
	uint8_t key[M2M_KEY_MAX + 1] = { 7 };
	uint8_t *blob = (uint8_t *)&blob;
	size_t bloblen = 4242;

	open_be(fx);
	assert_int_equal(ops->wrap(fx->be, M2M_KIND_HMAC, key, 0, &blob,
	    &bloblen), M2M_ERR_KEY_SIZE);
	assert_int_equal(ops->wrap(fx->be, M2M_KIND_HMAC, key,
	    M2M_KEY_MAX + 1, &blob, &bloblen), M2M_ERR_KEY_SIZE);
	assert_int_equal(ops->wrap(fx->be, M2M_KIND_AES, key, 20, &blob,
	    &bloblen), M2M_ERR_KEY_SIZE);
	assert_int_equal(ops->wrap(fx->be, M2M_KIND_AES, key, 64, &blob,
	    &bloblen), M2M_ERR_KEY_SIZE);
	assert_int_equal(ops->wrap(fx->be, (enum m2m_key_kind)3, key, 32,
	    &blob, &bloblen), M2M_ERR_KEY_TYPE);
	assert_int_equal(ops->wrap(fx->be, M2M_KIND_HMAC, NULL, 32, &blob,
	    &bloblen), M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(ops->wrap(NULL, M2M_KIND_HMAC, key, 32, &blob,
	    &bloblen), M2M_ERR_INVALID_ARGUMENT);
	assert_ptr_equal(blob, (uint8_t *)&blob);
	assert_int_equal(bloblen, 4242);
	/* the edges are accepted */
	assert_int_equal(ops->wrap(fx->be, M2M_KIND_HMAC, key, M2M_KEY_MAX,
	    &blob, &bloblen), 0);
	assert_int_equal(bloblen, M2M_HSM_SYM_BLOB_MAX - M2M_HSM_WRAPPED_MAX);
	assert_memory_equal(blob, "M2MH\x02\x01\x00\x80", 8);
	free(blob);
	/* the longest blob: all three forms */
	assert_int_equal(ops->wrap(fx->be, M2M_KIND_HMAC, key,
	    M2M_KEY_MAX - 1, &blob, &bloblen), 0);
	assert_int_equal(bloblen, M2M_HSM_SYM_BLOB_MAX);
	assert_memory_equal(blob, "M2MH\x03\x01\x00\x7f", 8);
	free(blob);
	assert_int_equal(ops->wrap(fx->be, M2M_KIND_HMAC, key, 1, &blob,
	    &bloblen), 0);
	free(blob);
}

static void
test_wrong_kind(void **state)
{
	struct fx *fx = *state;
	uint8_t key[32] = { 3 }, iv[12] = { 0 }, out[64], blob[M2M_BLOB_MAX];
	struct m2m_secret *s = (struct m2m_secret *)&s;
	struct m2m_keyref aes, mac, x;
	size_t outlen = 31;

	open_be(fx);
	wrap_ok(fx->be, M2M_KIND_AES, key, 32, 1, &aes);
	wrap_ok(fx->be, M2M_KIND_HMAC, key, 32, 2, &mac);
	memset(out, POISON, sizeof(out));
	/* the operation does not fit the key */
	assert_int_equal(ops->hmac(fx->be, &aes, M2M_HASH_SHA256, key, 4, out),
	    M2M_ERR_KEY_TYPE);
	assert_int_equal(ops->aes_gcm(fx->be, &mac, 1, iv, 12, NULL, 0, 16,
	    key, 16, out, &outlen), M2M_ERR_KEY_TYPE);
	/* the blob is of another kind than the keyref says */
	x = aes;
	x.kind = M2M_KIND_HMAC;
	assert_int_equal(ops->hmac(fx->be, &x, M2M_HASH_SHA256, key, 4, out),
	    M2M_ERR_KEY_TYPE);
	assert_int_equal(ops->reveal(fx->be, &x, &s), M2M_ERR_KEY_TYPE);
	x = mac;
	x.kind = M2M_KIND_AES;
	assert_int_equal(ops->aes_gcm(fx->be, &x, 1, iv, 12, NULL, 0, 16,
	    key, 16, out, &outlen), M2M_ERR_KEY_TYPE);
	/* a blob from another backend or another version */
	memcpy(blob, mac.blob, mac.bloblen);
	memcpy(blob, "TPM2", 4);
	x = mac;
	x.blob = blob;
	assert_int_equal(ops->hmac(fx->be, &x, M2M_HASH_SHA256, key, 4, out),
	    M2M_ERR_DATA_INVALID);
	memcpy(blob, "M2MH\x02", 5);
	assert_int_equal(ops->hmac(fx->be, &x, M2M_HASH_SHA256, key, 4, out),
	    M2M_ERR_DATA_INVALID);
	assert_int_equal(ops->hmac(fx->be, &mac, (enum m2m_hash)9, key, 4,
	    out), M2M_ERR_MECHANISM);
	assert_true(all_bytes(out, sizeof(out), POISON));
	assert_int_equal(outlen, 31);
	assert_ptr_equal(s, (struct m2m_secret *)&s);
	ref_free(&aes);
	ref_free(&mac);
}

/*
 * Every single-bit change and every truncation of a blob is refused, and
 * never gives a wrong MAC.  The length field is not authenticated (see
 * hsm.h): a change that only moves it within the zero padding of a short
 * HMAC key may still give the right MAC, never another one.
 */
static void
test_corrupt_blob(void **state)
{
	struct fx *fx = *state;
	uint8_t key[32], msg[] = "message", want[32], out[32];
	uint8_t blob[M2M_BLOB_MAX];
	struct m2m_keyref ref, x;
	size_t i, bit, mstart, accepted = 0;
	int r;

	open_be(fx);
	assert_int_equal(RAND_bytes(key, sizeof(key)), 1);
	key[31] |= 1;
	wrap_ok(fx->be, M2M_KIND_HMAC, key, 32, 5, &ref);
	/* version 3: the message form (32 + 8 bytes) comes last */
	assert_int_equal(ref.blob[4], M2M_HSM_VERSION_MSG);
	mstart = ref.bloblen - (32 + 8);
	ref_hmac(M2M_HASH_SHA256, key, 32, msg, sizeof(msg), want);
	hmac_check(fx->be, &ref, M2M_HASH_SHA256, msg, sizeof(msg), want);
	x = ref;
	x.blob = blob;
	for (i = 0; i < ref.bloblen; i++) {
		for (bit = 0; bit < 8; bit++) {
			memcpy(blob, ref.blob, ref.bloblen);
			blob[i] ^= (uint8_t)(1 << bit);
			memset(out, POISON, sizeof(out));
			x.id = bit & 1 ? 5 : 0;	/* the cached id too */
			r = ops->hmac(fx->be, &x, M2M_HASH_SHA256, msg,
			    sizeof(msg), out);
			if (r == 0) {
				/* an HMAC does not read the message form */
				assert_true(i >= mstart);
				assert_memory_equal(out, want, 32);
				accepted++;
				/* hmac_keymsg() does, and RFC 5649 says no */
				assert_int_equal(ops->hmac_keymsg(fx->be, key,
				    32, &x, M2M_HASH_SHA256, out),
				    M2M_ERR_DATA_INVALID);
				continue;
			}
			if (i == 5)	/* the kind byte */
				assert_true(r == M2M_ERR_DATA_INVALID ||
				    r == M2M_ERR_KEY_TYPE);
			else
				assert_int_equal(r, M2M_ERR_DATA_INVALID);
			assert_true(all_bytes(out, sizeof(out), POISON));
		}
	}
	/*
	 * Only the message form's bits; a changed key length (within the
	 * padding, accepted by version 1) no longer fits the message form's
	 * length.
	 */
	assert_int_equal(accepted, (ref.bloblen - mstart) * 8);
	for (i = 0; i < ref.bloblen; i++) {
		memcpy(blob, ref.blob, ref.bloblen);
		x.bloblen = i;
		assert_int_equal(ops->hmac(fx->be, &x, M2M_HASH_SHA256, msg,
		    sizeof(msg), out), M2M_ERR_DATA_INVALID);
	}
	x.bloblen = ref.bloblen + 8;
	memset(blob + ref.bloblen, 0, 8);
	assert_int_equal(ops->hmac(fx->be, &x, M2M_HASH_SHA256, msg,
	    sizeof(msg), out), M2M_ERR_DATA_INVALID);
	x.bloblen = M2M_BLOB_MAX + 1;
	assert_int_equal(ops->hmac(fx->be, &x, M2M_HASH_SHA256, msg,
	    sizeof(msg), out), M2M_ERR_DATA_INVALID);
	/* the real blob is still fine, from the cache */
	hmac_check(fx->be, &ref, M2M_HASH_SHA256, msg, sizeof(msg), want);
	ref_free(&ref);
}

static void
test_reveal(void **state)
{
	struct fx *fx = *state;
	static const size_t hl[] = { 1, 20, 48, 63, 64, 65, 100, 127, 128 };
	static const size_t al[] = { 16, 24, 32 };
	uint8_t key[M2M_KEY_MAX];
	struct m2m_secret *s = NULL;
	struct m2m_keyref ref;
	size_t i;

	open_be(fx);
	for (i = 0; i < sizeof(hl) / sizeof(hl[0]); i++) {
		assert_int_equal(RAND_bytes(key, hl[i]), 1);
		key[hl[i] - 1] = 0;	/* trailing zeros are part of the key */
		/* wrap()'s blobs unwrap into sensitive keys only */
		wrap_ok(fx->be, M2M_KIND_HMAC, key, hl[i], i + 1, &ref);
		assert_int_equal(ops->reveal(fx->be, &ref, &s),
		    M2M_ERR_ATTRIBUTE_SENSITIVE);
		assert_null(s);
		ref_free(&ref);
		wrap_readable_ok(fx->be, M2M_KIND_HMAC, key, hl[i], i + 1,
		    &ref);
		assert_int_equal(ops->reveal(fx->be, &ref, &s), 0);
		assert_int_equal(m2m_secret_len(s), hl[i]);
		assert_memory_equal(m2m_secret_data(s), key, hl[i]);
		m2m_secret_free(s);
		s = NULL;
		ref_free(&ref);
	}
	for (i = 0; i < sizeof(al) / sizeof(al[0]); i++) {
		assert_int_equal(RAND_bytes(key, al[i]), 1);
		wrap_ok(fx->be, M2M_KIND_AES, key, al[i], 0, &ref);
		assert_int_equal(ops->reveal(fx->be, &ref, &s),
		    M2M_ERR_ATTRIBUTE_SENSITIVE);
		ref_free(&ref);
		wrap_readable_ok(fx->be, M2M_KIND_AES, key, al[i], 0, &ref);
		assert_int_equal(ops->reveal(fx->be, &ref, &s), 0);
		assert_int_equal(m2m_secret_len(s), al[i]);
		assert_memory_equal(m2m_secret_data(s), key, al[i]);
		m2m_secret_free(s);
		s = NULL;
		ref_free(&ref);
	}
	assert_int_equal(ops->reveal(fx->be, NULL, &s),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_null(s);
}

/* ------------------------------------------------------------------ */
/* The cache                                                          */
/* ------------------------------------------------------------------ */

static void
test_cache_lru(void **state)
{
	struct fx *fx = *state;
	uint8_t keys[5][32], msg[64], want[5][32];
	struct m2m_keyref ref[5];
	struct m2m_backend_stats a, b;
	int round, k, i;

	fx->conf.cache_size = 2;
	open_be(fx);
	assert_int_equal(RAND_bytes(msg, sizeof(msg)), 1);
	for (k = 0; k < 5; k++) {
		assert_int_equal(RAND_bytes(keys[k], 32), 1);
		wrap_ok(fx->be, M2M_KIND_HMAC, keys[k], 32, k + 1, &ref[k]);
		ref_hmac(M2M_HASH_SHA256, keys[k], 32, msg, 64, want[k]);
	}
	/* round robin over 5 keys with room for 2: every use loads */
	a = stats(fx->be);
	for (round = 0; round < 3; round++)
		for (k = 0; k < 5; k++)
			hmac_check(fx->be, &ref[k], M2M_HASH_SHA256, msg, 64,
			    want[k]);
	b = stats(fx->be);
	assert_int_equal(b.loads - a.loads, 15);

	/* the cached path: exactly C_SignInit + C_Sign, nothing else */
	a = stats(fx->be);
	for (i = 0; i < 10; i++)
		hmac_check(fx->be, &ref[4], M2M_HASH_SHA256, msg, 64, want[4]);
	b = stats(fx->be);
	assert_int_equal(b.loads - a.loads, 0);
	assert_int_equal(b.commands - a.commands, 20);

	/* two keys alternating fit: 2 loads (each evicting one), then hits */
	a = stats(fx->be);
	for (i = 0; i < 10; i++)
		hmac_check(fx->be, &ref[i % 2], M2M_HASH_SHA256, msg, 64,
		    want[i % 2]);
	b = stats(fx->be);
	assert_int_equal(b.loads - a.loads, 2);
	/* per load: C_UnwrapKey + C_DestroyObject of the evicted handle */
	assert_int_equal(b.commands - a.commands, 2 * 2 + 10 * 2);

	/* LRU, not FIFO: touch 1, load 3: 2 is evicted, 1 stays */
	hmac_check(fx->be, &ref[0], M2M_HASH_SHA256, msg, 64, want[0]);
	hmac_check(fx->be, &ref[2], M2M_HASH_SHA256, msg, 64, want[2]);
	a = stats(fx->be);
	hmac_check(fx->be, &ref[0], M2M_HASH_SHA256, msg, 64, want[0]);
	b = stats(fx->be);
	assert_int_equal(b.loads - a.loads, 0);
	hmac_check(fx->be, &ref[1], M2M_HASH_SHA256, msg, 64, want[1]);
	a = stats(fx->be);
	assert_int_equal(a.loads - b.loads, 1);

	/* forget() drops the handle: the next use loads again */
	ops->forget(fx->be, 2);
	ops->forget(fx->be, 2);		/* twice is harmless */
	ops->forget(fx->be, 999);	/* unknown is harmless */
	a = stats(fx->be);
	hmac_check(fx->be, &ref[1], M2M_HASH_SHA256, msg, 64, want[1]);
	b = stats(fx->be);
	assert_int_equal(b.loads - a.loads, 1);

	/* id 0 is never cached: unwrap, sign, destroy every time */
	ref[3].id = 0;
	a = stats(fx->be);
	for (i = 0; i < 3; i++)
		hmac_check(fx->be, &ref[3], M2M_HASH_SHA256, msg, 64, want[3]);
	b = stats(fx->be);
	assert_int_equal(b.loads - a.loads, 3);
	assert_int_equal(b.commands - a.commands, 3 * 4);
	for (k = 0; k < 5; k++)
		ref_free(&ref[k]);
}

static void
test_cache_same_id_new_blob(void **state)
{
	struct fx *fx = *state;
	uint8_t ka[32], kb[32], msg[] = "abc", wa[64], wb[64];
	struct m2m_keyref a, b;
	struct m2m_backend_stats s0, s1;

	open_be(fx);
	assert_int_equal(RAND_bytes(ka, 32), 1);
	assert_int_equal(RAND_bytes(kb, 32), 1);
	wrap_ok(fx->be, M2M_KIND_HMAC, ka, 32, 9, &a);
	wrap_ok(fx->be, M2M_KIND_HMAC, kb, 32, 9, &b);	/* the same id */
	ref_hmac(M2M_HASH_SHA512, ka, 32, msg, 3, wa);
	ref_hmac(M2M_HASH_SHA512, kb, 32, msg, 3, wb);
	hmac_check(fx->be, &a, M2M_HASH_SHA512, msg, 3, wa);
	s0 = stats(fx->be);
	hmac_check(fx->be, &b, M2M_HASH_SHA512, msg, 3, wb);
	s1 = stats(fx->be);
	assert_int_equal(s1.loads - s0.loads, 1);
	hmac_check(fx->be, &b, M2M_HASH_SHA512, msg, 3, wb);
	s0 = stats(fx->be);
	assert_int_equal(s0.loads - s1.loads, 0);
	hmac_check(fx->be, &a, M2M_HASH_SHA512, msg, 3, wa);
	s1 = stats(fx->be);
	assert_int_equal(s1.loads - s0.loads, 1);
	/* the same bytes at another address are the same blob */
	{
		uint8_t copy[M2M_BLOB_MAX];
		struct m2m_keyref c = a;

		memcpy(copy, a.blob, a.bloblen);
		c.blob = copy;
		hmac_check(fx->be, &c, M2M_HASH_SHA512, msg, 3, wa);
		s0 = stats(fx->be);
		assert_int_equal(s0.loads - s1.loads, 0);
	}
	ref_free(&a);
	ref_free(&b);
}

struct worker {
	void			*be;
	struct m2m_keyref	*refs;
	uint8_t			(*want)[32];
	const uint8_t		*msg;
	int			 seed;
	int			 bad;
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	uint8_t out[32];
	int i, k;

	for (i = 0; i < 300; i++) {
		k = (i * 7 + w->seed) % 5;
		if (ops->hmac(w->be, &w->refs[k], M2M_HASH_SHA256, w->msg, 16,
		    out) != 0 || memcmp(out, w->want[k], 32) != 0)
			w->bad++;
	}
	return NULL;
}

static void
test_threads(void **state)
{
	struct fx *fx = *state;
	uint8_t keys[5][32], msg[16], want[5][32];
	struct m2m_keyref ref[5];
	struct worker w[4];
	pthread_t t[4];
	int k;

	fx->conf.cache_size = 3;
	open_be(fx);
	assert_int_equal(RAND_bytes(msg, sizeof(msg)), 1);
	for (k = 0; k < 5; k++) {
		assert_int_equal(RAND_bytes(keys[k], 32), 1);
		wrap_ok(fx->be, M2M_KIND_HMAC, keys[k], 32, k + 1, &ref[k]);
		ref_hmac(M2M_HASH_SHA256, keys[k], 32, msg, 16, want[k]);
	}
	for (k = 0; k < 4; k++) {
		w[k] = (struct worker){ fx->be, ref, want, msg, k, 0 };
		assert_int_equal(pthread_create(&t[k], NULL, worker_run,
		    &w[k]), 0);
	}
	for (k = 0; k < 4; k++) {
		assert_int_equal(pthread_join(t[k], NULL), 0);
		assert_int_equal(w[k].bad, 0);
	}
	for (k = 0; k < 5; k++)
		ref_free(&ref[k]);
}

/* ------------------------------------------------------------------ */
/* The wrapping key and the token                                     */
/* ------------------------------------------------------------------ */

static CK_ULONG p11_labelled(struct p11 *, const char *, CK_OBJECT_HANDLE *,
    CK_ULONG);

/*
 * 1 when o is one of the backend's session copies of its own keys (the
 * binding key's, a wrapping key's): no working copy of a stored key.
 */
static int
backend_copy(struct p11 *p, CK_OBJECT_HANDLE o)
{
	char label[64] = "";
	CK_ATTRIBUTE a = { CKA_LABEL, label, sizeof(label) - 1 };

	if (p->fl->C_GetAttributeValue(p->s, o, &a, 1) != CKR_OK)
		return 0;
	return strcmp(label, M2M_HSM_BIND_COPY_LABEL) == 0 ||
	    strcmp(label, M2M_HSM_WRAP_COPY_LABEL) == 0;
}

/*
 * Wrapping key o as another session sees it: a sensitive, never
 * extractable AES-256 wrap/unwrap key generated in the HSM (CKA_LOCAL,
 * which a C_CopyObject copy keeps), private, a token object or not as
 * token says; its value unreadable; its CKA_ID into id.
 */
static void
wrapkey_is(struct p11 *p, CK_OBJECT_HANDLE o, CK_BBOOL token,
    uint8_t id[M2M_HSM_WRAP_ID_LEN])
{
	CK_BBOOL tok = !token, priv = 0, sens = 0, ext = 1, wrap = 0;
	CK_BBOOL unwrap = 0, enc = 1, dec = 1, asens = 0, nextr = 0;
	CK_BBOOL local = 0;
	CK_ULONG len = 0;
	uint8_t b[64], value[64];
	CK_ATTRIBUTE a[] = {
		{ CKA_TOKEN, &tok, 1 }, { CKA_PRIVATE, &priv, 1 },
		{ CKA_SENSITIVE, &sens, 1 }, { CKA_EXTRACTABLE, &ext, 1 },
		{ CKA_WRAP, &wrap, 1 }, { CKA_UNWRAP, &unwrap, 1 },
		{ CKA_ENCRYPT, &enc, 1 }, { CKA_DECRYPT, &dec, 1 },
		{ CKA_ALWAYS_SENSITIVE, &asens, 1 },
		{ CKA_NEVER_EXTRACTABLE, &nextr, 1 },
		{ CKA_LOCAL, &local, 1 },
		{ CKA_VALUE_LEN, &len, sizeof(len) },
		{ CKA_ID, b, sizeof(b) },
	};
	CK_ATTRIBUTE v = { CKA_VALUE, value, sizeof(value) };

	assert_int_equal(p->fl->C_GetAttributeValue(p->s, o, a,
	    sizeof(a) / sizeof(a[0])), CKR_OK);
	assert_int_equal(tok, token);
	assert_int_equal(ext, CK_FALSE);
	assert_int_equal(nextr, CK_TRUE);
	assert_int_equal(sens, CK_TRUE);
	assert_int_equal(asens, CK_TRUE);
	assert_int_equal(local, CK_TRUE);
	assert_int_equal(priv, CK_TRUE);
	assert_int_equal(wrap, CK_TRUE);
	assert_int_equal(unwrap, CK_TRUE);
	assert_int_equal(enc, CK_FALSE);
	assert_int_equal(dec, CK_FALSE);
	assert_int_equal(len, 32);
	assert_int_equal(a[12].ulValueLen, M2M_HSM_WRAP_ID_LEN);
	memcpy(id, b, M2M_HSM_WRAP_ID_LEN);
	assert_int_equal(p->fl->C_GetAttributeValue(p->s, o, &v, 1),
	    CKR_ATTRIBUTE_SENSITIVE);
}

static void
test_wrapkey_in_hsm(void **state)
{
	struct fx *fx = *state;
	CK_OBJECT_HANDLE found[8];
	uint8_t id[M2M_HSM_WRAP_ID_LEN], copy_id[M2M_HSM_WRAP_ID_LEN];
	uint8_t value[64], key[32] = { 9 };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE all = { CKA_CLASS, &cls, sizeof(cls) };
	CK_BBOOL t = CK_TRUE;
	CK_ATTRIBUTE tokobj = { CKA_TOKEN, &t, 1 };
	struct m2m_keyref ref;
	struct p11 p;
	CK_ULONG n = 0;
	int i;

	open_be(fx);
	for (i = 0; i < 10; i++) {	/* work that must leave nothing */
		wrap_ok(fx->be, M2M_KIND_HMAC, key, 32, 0, &ref);
		/*
		 * a blob naming a wrapping key the backend does not know
		 * makes it read the token's wrapping keys again: that keeps
		 * the session copy it has, and makes no second one
		 */
		((uint8_t *)ref.blob)[8] ^= 0xff;
		assert_int_equal(ops->hmac(fx->be, &ref, M2M_HASH_SHA256,
		    key, 1, value), M2M_ERR_DATA_INVALID);
		((uint8_t *)ref.blob)[8] ^= 0xff;
		assert_int_equal(ops->hmac(fx->be, &ref, M2M_HASH_SHA256,
		    key, 1, value), 0);
		ref_free(&ref);
	}
	p11_open(&p, LABEL);
	assert_int_equal(p11_wrapkeys(&p, found, 8), 1);
	wrapkey_is(&p, found[0], CK_TRUE, id);
	/*
	 * With the binding key, the only token objects there are; no
	 * session key outlived its use.
	 */
	assert_int_equal(p.fl->C_FindObjectsInit(p.s, &tokobj, 1), CKR_OK);
	assert_int_equal(p.fl->C_FindObjects(p.s, found, 8, &n), CKR_OK);
	assert_int_equal(p.fl->C_FindObjectsFinal(p.s), CKR_OK);
	assert_int_equal(n, 2);
	assert_int_equal(p.fl->C_FindObjectsInit(p.s, &all, 1), CKR_OK);
	assert_int_equal(p.fl->C_FindObjects(p.s, found, 8, &n), CKR_OK);
	assert_int_equal(p.fl->C_FindObjectsFinal(p.s), CKR_OK);
	/* and the session copies of the binding key and the wrapping key */
	assert_int_equal(n, 4);
	assert_int_equal(p11_labelled(&p, M2M_HSM_BIND_COPY_LABEL, found, 8),
	    1);
	/* the wrapping key's copy keeps its limits, and its CKA_ID */
	assert_int_equal(p11_labelled(&p, M2M_HSM_WRAP_COPY_LABEL, found, 8),
	    1);
	wrapkey_is(&p, found[0], CK_FALSE, copy_id);
	assert_memory_equal(id, copy_id, M2M_HSM_WRAP_ID_LEN);
	p11_close(&p);
}

/* The token's keys under label. */
static CK_ULONG
p11_labelled(struct p11 *p, const char *label, CK_OBJECT_HANDLE *found,
    CK_ULONG max)
{
	CK_ATTRIBUTE t = { CKA_LABEL, (void *)label, strlen(label) };
	CK_ULONG n = 0;

	assert_int_equal(p->fl->C_FindObjectsInit(p->s, &t, 1), CKR_OK);
	assert_int_equal(p->fl->C_FindObjects(p->s, found, max, &n), CKR_OK);
	assert_int_equal(p->fl->C_FindObjectsFinal(p->s), CKR_OK);
	return n;
}

/*
 * The binding key (hsm/bind.c, issue 10 item 5): one token key
 * "m2mtoken-bind" made in the HSM, sensitive, never extractable, sign and
 * verify only; bind_mac is HMAC-SHA-256 with it, the same for every open
 * of the token.  A planted key under the label that could be read
 * (extractable, imported with a known value) is never used, even with a
 * smaller CKA_ID.
 */
static void
test_bindkey_in_hsm(void **state)
{
	struct fx *fx = *state;
	static const uint8_t msg[] = "m2mtoken object binding v1 test";
	CK_OBJECT_HANDLE found[8], planted = CK_INVALID_HANDLE;
	CK_BBOOL tok = 0, priv = 0, sens = 0, ext = 1, sign = 0, ver = 0;
	CK_BBOOL wrap = 1, unwrap = 1, enc = 1, dec = 1, der = 1, local = 0;
	CK_BBOOL nextr = 0, t = CK_TRUE, f = CK_FALSE;
	CK_ULONG len = 0, maclen = 32;
	uint8_t value[64], mac1[32], mac2[32], ref[32], known[32];
	CK_ATTRIBUTE a[] = {
		{ CKA_TOKEN, &tok, 1 }, { CKA_PRIVATE, &priv, 1 },
		{ CKA_SENSITIVE, &sens, 1 }, { CKA_EXTRACTABLE, &ext, 1 },
		{ CKA_SIGN, &sign, 1 }, { CKA_VERIFY, &ver, 1 },
		{ CKA_WRAP, &wrap, 1 }, { CKA_UNWRAP, &unwrap, 1 },
		{ CKA_ENCRYPT, &enc, 1 }, { CKA_DECRYPT, &dec, 1 },
		{ CKA_DERIVE, &der, 1 }, { CKA_LOCAL, &local, 1 },
		{ CKA_NEVER_EXTRACTABLE, &nextr, 1 },
		{ CKA_VALUE_LEN, &len, sizeof(len) },
	};
	CK_ATTRIBUTE v = { CKA_VALUE, value, sizeof(value) };
	CK_MECHANISM hm = { CKM_SHA256_HMAC, NULL, 0 };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	uint8_t zero_id[M2M_HSM_BIND_ID_LEN] = { 0 };
	CK_ATTRIBUTE plant[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_VALUE, known, sizeof(known) },
		{ CKA_LABEL, M2M_HSM_BIND_LABEL,
		    sizeof(M2M_HSM_BIND_LABEL) - 1 },
		{ CKA_ID, zero_id, sizeof(zero_id) },
		{ CKA_TOKEN, &t, 1 }, { CKA_SENSITIVE, &t, 1 },
		{ CKA_EXTRACTABLE, &f, 1 }, { CKA_SIGN, &t, 1 },
	};
	struct p11 p;
	struct timespec t0, t1;
	unsigned int n = 0;
	int i;

	open_be(fx);
	assert_int_equal(ops->bind_mac(fx->be, msg, sizeof(msg), mac1), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < 1000; i++) {
		assert_int_equal(ops->bind_mac(fx->be, msg, sizeof(msg), mac2),
		    0);
		assert_memory_equal(mac1, mac2, 32);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	print_message("bind_mac: %.1f us each\n",
	    ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) /
	    1e3 / 1000);
	assert_int_equal(ops->bind_mac(fx->be, msg, 0, mac2),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(ops->bind_mac(fx->be, msg, M2M_BIND_MSG_MAX + 1,
	    mac2), M2M_ERR_INVALID_ARGUMENT);

	p11_open(&p, LABEL);
	assert_int_equal(p11_labelled(&p, M2M_HSM_BIND_LABEL, found, 8), 1);
	assert_int_equal(p.fl->C_GetAttributeValue(p.s, found[0], a,
	    sizeof(a) / sizeof(a[0])), CKR_OK);
	assert_int_equal(tok, CK_TRUE);
	assert_int_equal(priv, CK_TRUE);
	assert_int_equal(sens, CK_TRUE);
	assert_int_equal(ext, CK_FALSE);
	assert_int_equal(nextr, CK_TRUE);
	assert_int_equal(local, CK_TRUE);
	assert_int_equal(sign, CK_TRUE);
	assert_int_equal(ver, CK_TRUE);
	assert_int_equal(wrap, CK_FALSE);
	assert_int_equal(unwrap, CK_FALSE);
	assert_int_equal(enc, CK_FALSE);
	assert_int_equal(dec, CK_FALSE);
	assert_int_equal(der, CK_FALSE);
	assert_int_equal(len, 32);
	assert_int_equal(p.fl->C_GetAttributeValue(p.s, found[0], &v, 1),
	    CKR_ATTRIBUTE_SENSITIVE);
	/* bind_mac is HMAC-SHA-256 with that key, computed in the HSM */
	assert_int_equal(p.fl->C_SignInit(p.s, &hm, found[0]), CKR_OK);
	assert_int_equal(p.fl->C_Sign(p.s, (CK_BYTE_PTR)msg, sizeof(msg),
	    ref, &maclen), CKR_OK);
	assert_memory_equal(ref, mac1, 32);
	/* the MACs run on its session copy: same attributes */
	assert_int_equal(p11_labelled(&p, M2M_HSM_BIND_COPY_LABEL, found, 8),
	    1);
	assert_int_equal(p.fl->C_GetAttributeValue(p.s, found[0], a,
	    sizeof(a) / sizeof(a[0])), CKR_OK);
	assert_int_equal(tok, CK_FALSE);
	assert_int_equal(priv, CK_TRUE);
	assert_int_equal(sens, CK_TRUE);
	assert_int_equal(ext, CK_FALSE);
	assert_int_equal(sign, CK_TRUE);
	assert_int_equal(wrap, CK_FALSE);
	assert_int_equal(unwrap, CK_FALSE);
	assert_int_equal(der, CK_FALSE);
	assert_int_equal(p.fl->C_GetAttributeValue(p.s, found[0], &v, 1),
	    CKR_ATTRIBUTE_SENSITIVE);

	/* a planted, known key under the label with the smallest CKA_ID */
	memset(known, 0x42, sizeof(known));
	assert_int_equal(p.fl->C_CreateObject(p.s, plant,
	    sizeof(plant) / sizeof(plant[0]), &planted), CKR_OK);
	p11_close(&p);
	ops->close(fx->be);
	fx->be = NULL;
	open_be(fx);	/* finds the same key, not the planted one */
	p11_open(&p, LABEL);
	assert_int_equal(ops->bind_mac(fx->be, msg, sizeof(msg), mac2), 0);
	assert_memory_equal(mac1, mac2, 32);
	assert_non_null(HMAC(EVP_sha256(), known, sizeof(known), msg,
	    sizeof(msg), ref, &n));
	assert_memory_not_equal(ref, mac2, 32);
	assert_int_equal(p11_labelled(&p, M2M_HSM_BIND_LABEL, found, 8), 2);
	p11_close(&p);
}

/*
 * The backend's working copies of cached keys (hsm_key.c, m2m_hsm_unwrap): session
 * objects, sensitive, never extractable, public (the backend's login
 * covers every session of the process anyway), usable only for their
 * kind's operation (no wrap, unwrap or derive, whatever the HSM's
 * defaults); no readable (level-T) copy outlives its call.
 */
static void op_objects_are(CK_BBOOL);
static void use_two_keys(struct fx *, struct m2m_keyref *,
    struct m2m_keyref *);

static void
test_op_objects(void **state)
{
	struct fx *fx = *state;
	struct m2m_keyref ref, aref;

	open_be(fx);
	use_two_keys(fx, &ref, &aref);
	op_objects_are(CK_FALSE);
	ref_free(&ref);
	ref_free(&aref);
}

/*
 * The backend's two cached working copies, as another session of the
 * process sees them: sensitive, never extractable, only for their kind's
 * operation, CKA_PRIVATE priv.
 */
static void
op_objects_are(CK_BBOOL want_priv)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_BBOOL f = CK_FALSE;
	CK_ATTRIBUTE q[] = {
		{ CKA_CLASS, &cls, sizeof(cls) }, { CKA_TOKEN, &f, 1 },
	};
	CK_OBJECT_HANDLE found[8];
	CK_ULONG n = 0, i, kt, keys = 0;
	uint8_t value[64];
	struct p11 p;

	p11_open(&p, LABEL);
	assert_int_equal(p.fl->C_FindObjectsInit(p.s, q, 2), CKR_OK);
	assert_int_equal(p.fl->C_FindObjects(p.s, found, 8, &n), CKR_OK);
	assert_int_equal(p.fl->C_FindObjectsFinal(p.s), CKR_OK);
	/*
	 * the two cached keys, and the copies of the binding key and of the
	 * two wrapping keys (strict and readable), no more
	 */
	assert_int_equal(n, 5);
	for (i = 0; i < n; i++) {
		/* the backend's own copies: test_wrapkey_in_hsm */
		if (backend_copy(&p, found[i]))
			continue;
		keys++;
		CK_BBOOL priv = 1, sens = 0, ext = 1, sign = 0, enc = 0;
		CK_BBOOL wrap = 1, derive = 1;
		CK_ATTRIBUTE a[] = {
			{ CKA_PRIVATE, &priv, 1 }, { CKA_SENSITIVE, &sens, 1 },
			{ CKA_EXTRACTABLE, &ext, 1 }, { CKA_SIGN, &sign, 1 },
			{ CKA_ENCRYPT, &enc, 1 }, { CKA_WRAP, &wrap, 1 },
			{ CKA_DERIVE, &derive, 1 },
			{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		};
		CK_ATTRIBUTE va = { CKA_VALUE, value, sizeof(value) };

		assert_int_equal(p.fl->C_GetAttributeValue(p.s, found[i], a,
		    sizeof(a) / sizeof(a[0])), CKR_OK);
		assert_int_equal(priv, want_priv);
		assert_int_equal(sens, CK_TRUE);
		assert_int_equal(ext, CK_FALSE);
		assert_int_equal(wrap, CK_FALSE);
		assert_int_equal(derive, CK_FALSE);
		assert_int_equal(sign, kt == CKK_GENERIC_SECRET);
		assert_int_equal(enc, kt == CKK_AES);
		assert_int_equal(p.fl->C_GetAttributeValue(p.s, found[i], &va,
		    1), CKR_ATTRIBUTE_SENSITIVE);
	}
	assert_int_equal(keys, 2);
	p11_close(&p);
}

/* Two keys, each used once (cached), and a reveal (level T). */
static void
use_two_keys(struct fx *fx, struct m2m_keyref *ref, struct m2m_keyref *aref)
{
	uint8_t key[32] = { 1, 2, 3 }, aes[16] = { 4 }, msg[] = "op";
	uint8_t want[32], iv[12] = { 0 }, out[64];
	struct m2m_secret *v = NULL;
	struct m2m_keyref r;
	size_t outlen = 0;

	wrap_ok(fx->be, M2M_KIND_HMAC, key, 32, 1, ref);
	wrap_ok(fx->be, M2M_KIND_AES, aes, 16, 2, aref);
	ref_hmac(M2M_HASH_SHA256, key, 32, msg, sizeof(msg), want);
	hmac_check(fx->be, ref, M2M_HASH_SHA256, msg, sizeof(msg), want);
	assert_int_equal(ops->aes_gcm(fx->be, aref, 1, iv, sizeof(iv), NULL,
	    0, 16, msg, sizeof(msg), out, &outlen), 0);
	wrap_readable_ok(fx->be, M2M_KIND_HMAC, key, 32, 0, &r);
	assert_int_equal(ops->reveal(fx->be, &r, &v), 0);
	assert_memory_equal(m2m_secret_data(v), key, 32);
	m2m_secret_free(v);
	ref_free(&r);
}

/* Session secret keys of the backing token, as another party sees them. */
static CK_ULONG
p11_session_keys(void)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE q[] = {
		{ CKA_CLASS, &cls, sizeof(cls) }, { CKA_TOKEN, &ck_f, 1 },
	};
	CK_OBJECT_HANDLE found[16];
	CK_ULONG n = 0;
	CK_ULONG i, keys = 0;
	struct p11 p;

	p11_open(&p, LABEL);
	assert_int_equal(p.fl->C_FindObjectsInit(p.s, q, 2), CKR_OK);
	assert_int_equal(p.fl->C_FindObjects(p.s, found, 16, &n), CKR_OK);
	assert_int_equal(p.fl->C_FindObjectsFinal(p.s), CKR_OK);
	/* the backend's copies of its own keys are no working copies */
	for (i = 0; i < n; i++) {
		if (!backend_copy(&p, found[i]))
			keys++;
	}
	p11_close(&p);
	return keys;
}

/*
 * flush() (the core calls it at a logout) destroys every working copy in
 * the backing token; the keys work again afterwards, unwrapped anew.
 */
static void
test_flush(void **state)
{
	struct fx *fx = *state;
	struct m2m_keyref ref, aref;
	struct m2m_backend_stats a, b;
	uint8_t key[32] = { 1, 2, 3 }, msg[] = "op", want[32];

	open_be(fx);
	use_two_keys(fx, &ref, &aref);
	assert_int_equal(p11_session_keys(), 2);
	ops->flush(fx->be);
	assert_int_equal(p11_session_keys(), 0);
	ops->flush(fx->be);		/* nothing left: no harm */
	ops->flush(NULL);
	a = stats(fx->be);
	ref_hmac(M2M_HASH_SHA256, key, 32, msg, sizeof(msg), want);
	hmac_check(fx->be, &ref, M2M_HASH_SHA256, msg, sizeof(msg), want);
	b = stats(fx->be);
	assert_int_equal(b.loads - a.loads, 1);
	assert_int_equal(p11_session_keys(), 1);
	ref_free(&ref);
	ref_free(&aref);
}

/*
 * The wrapping key's setup on a fresh token is tried again when the module
 * fails (hsm_wrapkey.c, wrapkey_setup): with C_GenerateKey failing 3 times (the
 * shim) open still succeeds; failing M2M_HSM_WRAPKEY_TRIES times, open
 * fails with M2M_ERR_BACKEND and says which key it could not make.
 */
static void
test_wrapkey_setup_retried(void **state)
{
	struct fx *fx = *state;
	const char *shim = getenv("M2M_SHIM_PRIVATE_ONLY");
	void (*fail_generate)(unsigned long);
	static const uint8_t key[32] = { 7 };
	uint8_t msg[] = "retry", want[32];
	struct m2m_keyref ref;
	void *dl;
	int r;

	if (shim == NULL) {
		print_message("M2M_SHIM_PRIVATE_ONLY not set (run by ctest)\n");
		skip();
	}
	assert_int_equal(setenv("M2M_SHIM_TARGET", m2m_softhsm_module(), 1),
	    0);
	/* held open, so that the backend's dlopen finds this instance */
	assert_non_null(dl = dlopen(shim, RTLD_NOW | RTLD_LOCAL));
	*(void **)&fail_generate = dlsym(dl, "m2m_shim_fail_generate");
	assert_non_null(fail_generate);
	conf_fill(&fx->conf, shim, LABEL, PIN, 0);

	fail_generate(M2M_HSM_WRAPKEY_TRIES);
	r = ops->open(&fx->conf, &fx->be, fx->err, sizeof(fx->err));
	assert_int_equal(r, M2M_ERR_BACKEND);
	assert_null(fx->be);
	assert_non_null(strstr(fx->err, "cannot find or create the wrapping "
	    "key"));

	fail_generate(M2M_HSM_WRAPKEY_TRIES - 1);
	open_be(fx);
	ref_hmac(M2M_HASH_SHA256, key, 32, msg, sizeof(msg), want);
	wrap_ok(fx->be, M2M_KIND_HMAC, key, 32, 1, &ref);
	hmac_check(fx->be, &ref, M2M_HASH_SHA256, msg, sizeof(msg), want);
	ops->close(fx->be);
	fx->be = NULL;
	ref_free(&ref);
	dlclose(dl);
}

/*
 * An HSM whose policy refuses public secret keys (tests/shim/
 * private_only.c over SoftHSM2): the backend notices at the first unwrap
 * and makes every working copy private from then on; everything works.
 */
static void
test_private_only_hsm(void **state)
{
	struct fx *fx = *state;
	const char *shim = getenv("M2M_SHIM_PRIVATE_ONLY");
	unsigned long (*refused)(void);
	struct m2m_keyref ref, aref;
	void *dl;

	if (shim == NULL) {
		print_message("M2M_SHIM_PRIVATE_ONLY not set (run by ctest)\n");
		skip();
	}
	assert_int_equal(setenv("M2M_SHIM_TARGET", m2m_softhsm_module(), 1),
	    0);
	conf_fill(&fx->conf, shim, LABEL, PIN, 0);
	open_be(fx);
	use_two_keys(fx, &ref, &aref);
	op_objects_are(CK_TRUE);
	assert_non_null(dl = dlopen(shim, RTLD_NOW | RTLD_NOLOAD));
	*(void **)&refused = dlsym(dl, "m2m_shim_refused");
	assert_non_null(refused);
	assert_int_equal(refused(), 1);	/* once, then remembered */
	dlclose(dl);
	ref_free(&ref);
	ref_free(&aref);
}

static void
test_second_open_reuses_key(void **state)
{
	struct fx *fx = *state;
	uint8_t key[32], msg[] = "shared", want[32];
	CK_OBJECT_HANDLE found[8];
	struct m2m_keyref ref;
	void *b = NULL, *c = NULL;
	struct p11 p;

	open_be(fx);
	assert_int_equal(RAND_bytes(key, 32), 1);
	wrap_ok(fx->be, M2M_KIND_HMAC, key, 32, 1, &ref);
	ref_hmac(M2M_HASH_SHA256, key, 32, msg, sizeof(msg), want);
	/* B, open at the same time in the same process */
	assert_int_equal(ops->open(&fx->conf, &b, fx->err, sizeof(fx->err)),
	    0);
	hmac_check(b, &ref, M2M_HASH_SHA256, msg, sizeof(msg), want);
	/* A closing must not finalise the module under B */
	ops->close(fx->be);
	fx->be = NULL;
	hmac_check(b, &ref, M2M_HASH_SHA256, msg, sizeof(msg), want);
	ops->close(b);
	/* C, after the module was finalised: the key comes from disk */
	assert_int_equal(ops->open(&fx->conf, &c, fx->err, sizeof(fx->err)),
	    0);
	hmac_check(c, &ref, M2M_HASH_SHA256, msg, sizeof(msg), want);
	p11_open(&p, LABEL);
	assert_int_equal(p11_wrapkeys(&p, found, 8), 1);
	p11_close(&p);
	ops->close(c);
	ref_free(&ref);
}

/* The smallest CKA_ID wins when several wrapping keys exist. */
static void
test_smallest_wrapkey_wins(void **state)
{
	struct fx *fx = *state;
	static const uint8_t id1[16] = { 0x01 }, id2[16] = { 0x02 };
	uint8_t key[32] = { 5 };
	CK_OBJECT_HANDLE k1, k2, found[8];
	struct m2m_keyref ref;
	struct p11 p;

	p11_open(&p, LABEL);
	k2 = p11_make_wrapkey(&p, id2, sizeof(id2), CK_FALSE);
	k1 = p11_make_wrapkey(&p, id1, sizeof(id1), CK_FALSE);
	open_be(fx);
	wrap_ok(fx->be, M2M_KIND_HMAC, key, 32, 0, &ref);
	assert_int_equal(p11_unwrap(&p, k1, &ref), CKR_OK);
	assert_int_not_equal(p11_unwrap(&p, k2, &ref), CKR_OK);
	assert_memory_equal(ref.blob + 8, id1, 16);	/* names its key */
	/* neither was destroyed and no third was made */
	assert_int_equal(p11_wrapkeys(&p, found, 8), 2);
	ops->close(fx->be);
	fx->be = NULL;
	p11_close(&p);
	ref_free(&ref);
}

/* A blob keeps working when a key with a smaller CKA_ID appears later. */
static void
test_blob_names_its_wrapkey(void **state)
{
	struct fx *fx = *state;
	static const uint8_t id0[16] = { 0x00 };
	uint8_t key[32], msg[] = "m", want[32];
	struct m2m_keyref ref, ref2;
	struct p11 p;

	assert_int_equal(RAND_bytes(key, 32), 1);
	ref_hmac(M2M_HASH_SHA256, key, 32, msg, 1, want);
	open_be(fx);
	wrap_ok(fx->be, M2M_KIND_HMAC, key, 32, 1, &ref);
	/* another process adds a key with a smaller id while we run */
	p11_open(&p, LABEL);
	(void)p11_make_wrapkey(&p, id0, sizeof(id0), CK_FALSE);
	p11_close(&p);
	hmac_check(fx->be, &ref, M2M_HASH_SHA256, msg, 1, want);
	ops->close(fx->be);
	fx->be = NULL;
	/* a new open wraps with the smaller id, the old blob still opens */
	open_be(fx);
	wrap_ok(fx->be, M2M_KIND_HMAC, key, 32, 2, &ref2);
	assert_memory_equal(ref2.blob + 8, id0, 16);
	assert_memory_not_equal(ref.blob + 8, id0, 16);
	hmac_check(fx->be, &ref, M2M_HASH_SHA256, msg, 1, want);
	hmac_check(fx->be, &ref2, M2M_HASH_SHA256, msg, 1, want);
	ref_free(&ref);
	ref_free(&ref2);
}

/* A planted extractable key under our label is never used. */
static void
test_ignores_extractable_wrapkey(void **state)
{
	struct fx *fx = *state;
	static const uint8_t id0[16] = { 0x00 };
	uint8_t key[32] = { 8 }, msg[] = "p", want[32];
	CK_OBJECT_HANDLE bad, found[8];
	struct m2m_keyref ref, x;
	struct p11 p;

	p11_open(&p, LABEL);
	bad = p11_make_wrapkey(&p, id0, sizeof(id0), CK_TRUE);
	open_be(fx);
	wrap_ok(fx->be, M2M_KIND_HMAC, key, 32, 1, &ref);
	assert_memory_not_equal(ref.blob + 8, id0, 16);	/* a new key */
	assert_int_not_equal(p11_unwrap(&p, bad, &ref), CKR_OK);
	assert_int_equal(p11_wrapkeys(&p, found, 8), 2);
	ref_hmac(M2M_HASH_SHA256, key, 32, msg, 1, want);
	hmac_check(fx->be, &ref, M2M_HASH_SHA256, msg, 1, want);
	/* a blob naming the planted key does not open */
	x = ref;
	x.id = 0;
	x.blob = malloc(ref.bloblen);
	assert_non_null(x.blob);
	memcpy((uint8_t *)x.blob, ref.blob, ref.bloblen);
	memcpy((uint8_t *)x.blob + 8, id0, 16);
	assert_int_equal(ops->hmac(fx->be, &x, M2M_HASH_SHA256, msg, 1,
	    want), M2M_ERR_DATA_INVALID);
	ops->close(fx->be);
	fx->be = NULL;
	p11_close(&p);
	ref_free(&x);
	ref_free(&ref);
}

/*
 * The attacker of issue 10: code in the process (or anyone with the
 * backing token's PIN) loads SoftHSM2 directly, takes a blob from the
 * store and unwraps it with the backend's wrapping key into a key it can
 * read.  Every wrapped value of every kind of blob wrap() makes (the key,
 * its pre-hashed and message forms, the TLS-PSK premaster form of a PSK)
 * must refuse: SoftHSM2 enforces the wrapping key's CKA_UNWRAP_TEMPLATE
 * (CKR_TEMPLATE_INCONSISTENT), the template cannot be changed, and what
 * does unwrap is sensitive, never extractable and stays so.  Fails on a
 * wrapping key without the template (before issue 10: the first unwrap
 * gives CKR_OK and CKA_VALUE reads the key).
 */
static void
try_steal(struct p11 *p, CK_OBJECT_HANDLE wk, const uint8_t *w, size_t wl,
    CK_KEY_TYPE kt)
{
	CK_MECHANISM m = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_MECHANISM km = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE aes = CKK_AES;
	CK_ULONG len = 32;
	uint8_t v[256];
	CK_ATTRIBUTE va = { CKA_VALUE, v, sizeof(v) };
	/* readable; readable by default; sensitive but extractable; derive */
	CK_ATTRIBUTE t[4][9] = {
		{ { CKA_CLASS, &cls, sizeof(cls) }, { CKA_KEY_TYPE, &kt,
		  sizeof(kt) }, { CKA_TOKEN, &ck_f, 1 },
		  { CKA_SENSITIVE, &ck_f, 1 }, { CKA_EXTRACTABLE, &ck_t, 1 } },
		{ { CKA_CLASS, &cls, sizeof(cls) }, { CKA_KEY_TYPE, &kt,
		  sizeof(kt) }, { CKA_TOKEN, &ck_f, 1 } },
		{ { CKA_CLASS, &cls, sizeof(cls) }, { CKA_KEY_TYPE, &kt,
		  sizeof(kt) }, { CKA_TOKEN, &ck_f, 1 },
		  { CKA_SENSITIVE, &ck_t, 1 }, { CKA_EXTRACTABLE, &ck_t, 1 },
		  { CKA_WRAP, &ck_f, 1 }, { CKA_UNWRAP, &ck_f, 1 },
		  { CKA_DERIVE, &ck_f, 1 } },
		{ { CKA_CLASS, &cls, sizeof(cls) }, { CKA_KEY_TYPE, &kt,
		  sizeof(kt) }, { CKA_TOKEN, &ck_f, 1 },
		  { CKA_SENSITIVE, &ck_t, 1 }, { CKA_EXTRACTABLE, &ck_f, 1 },
		  { CKA_WRAP, &ck_f, 1 }, { CKA_UNWRAP, &ck_f, 1 },
		  { CKA_DERIVE, &ck_t, 1 } },
	};
	static const CK_ULONG nt[4] = { 5, 3, 8, 8 };
	CK_ATTRIBUTE ok[8], relax[2] = {
		{ CKA_SENSITIVE, &ck_f, 1 }, { CKA_EXTRACTABLE, &ck_t, 1 },
	};
	CK_ATTRIBUTE ak[] = {
		{ CKA_CLASS, &cls, sizeof(cls) }, { CKA_KEY_TYPE, &aes,
		sizeof(aes) }, { CKA_VALUE_LEN, &len, sizeof(len) },
		{ CKA_TOKEN, &ck_f, 1 }, { CKA_WRAP, &ck_t, 1 },
	};
	CK_OBJECT_HANDLE h, c, mine;
	CK_ULONG ml = sizeof(v);
	int i;

	for (i = 0; i < 4; i++) {
		h = CK_INVALID_HANDLE;
		assert_int_equal(p->fl->C_UnwrapKey(p->s, &m, wk,
		    (CK_BYTE_PTR)w, wl, t[i], nt[i], &h),
		    CKR_TEMPLATE_INCONSISTENT);
		assert_int_equal(h, CK_INVALID_HANDLE);
	}
	/* what the template allows: usable, never readable */
	memcpy(ok, t[3], sizeof(ok));
	ok[7].pValue = &ck_f;
	assert_int_equal(p->fl->C_UnwrapKey(p->s, &m, wk, (CK_BYTE_PTR)w,
	    wl, ok, 8, &h), CKR_OK);
	assert_int_equal(p->fl->C_GetAttributeValue(p->s, h, &va, 1),
	    CKR_ATTRIBUTE_SENSITIVE);
	assert_int_not_equal(p->fl->C_SetAttributeValue(p->s, h, &relax[0],
	    1), CKR_OK);
	assert_int_not_equal(p->fl->C_SetAttributeValue(p->s, h, &relax[1],
	    1), CKR_OK);
	assert_int_not_equal(p->fl->C_CopyObject(p->s, h, relax, 2, &c),
	    CKR_OK);
	assert_int_equal(p->fl->C_GenerateKey(p->s, &km, ak,
	    sizeof(ak) / sizeof(ak[0]), &mine), CKR_OK);
	assert_int_equal(p->fl->C_WrapKey(p->s, &m, mine, h, v, &ml),
	    CKR_KEY_UNEXTRACTABLE);
	assert_int_equal(p->fl->C_DestroyObject(p->s, mine), CKR_OK);
	assert_int_equal(p->fl->C_DestroyObject(p->s, h), CKR_OK);
}

static void
test_unwrap_template_enforced(void **state)
{
	struct fx *fx = *state;
	static const size_t lens[] = { 1, 20, 32, 64, 68, 100, 128 };
	CK_ATTRIBUTE chg = { CKA_UNWRAP_TEMPLATE, NULL, 0 };
	CK_OBJECT_HANDLE found[8], copy[8];
	struct m2m_keyref ref;
	uint8_t key[M2M_KEY_MAX];
	const uint8_t *w;
	size_t i, j, len, part[3], tried = 0;
	struct p11 p;

	open_be(fx);
	p11_open(&p, LABEL);
	assert_int_equal(p11_wrapkeys(&p, found, 8), 1);
	/* the backend's session copy of it is held to the same template */
	assert_int_equal(p11_labelled(&p, M2M_HSM_WRAP_COPY_LABEL, copy, 8),
	    1);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]) + 2; i++) {
		assert_int_equal(RAND_bytes(key, sizeof(key)), 1);
		if (i < sizeof(lens) / sizeof(lens[0]))
			wrap_ok(fx->be, M2M_KIND_HMAC, key, lens[i], 0, &ref);
		else
			wrap_ok(fx->be, M2M_KIND_AES, key, i % 2 ? 32 : 16, 0,
			    &ref);
		/* every wrapped value of the blob (hsm.h) */
		len = (size_t)ref.blob[6] << 8 | ref.blob[7];
		part[0] = first_wrapped(&ref);
		part[1] = ref.blob[4] == M2M_HSM_VERSION_PREHASH ||
		    (ref.blob[4] == M2M_HSM_VERSION_MSG && len > 64) ?
		    M2M_HSM_PREHASH_WRAPPED_LEN : 0;
		part[2] = ref.blob[4] == M2M_HSM_VERSION_MSG ?
		    len + (8 - len % 8) % 8 + 8 : 0;
		assert_int_equal(M2M_HSM_HDR_LEN + part[0] + part[1] + part[2],
		    ref.bloblen);
		w = ref.blob + M2M_HSM_HDR_LEN;
		for (j = 0; j < 3; w += part[j], j++) {
			if (part[j] == 0)
				continue;
			try_steal(&p, found[0], w, part[j], j == 0 &&
			    ref.blob[5] == M2M_KIND_AES ? CKK_AES :
			    CKK_GENERIC_SECRET);
			try_steal(&p, copy[0], w, part[j], j == 0 &&
			    ref.blob[5] == M2M_KIND_AES ? CKK_AES :
			    CKK_GENERIC_SECRET);
			tried++;
		}
		ref_free(&ref);
	}
	assert_int_equal(tried, 15 + 2);	/* HMAC: 2+2+2+1+3+3+2, AES */
	/* nobody relaxes the template afterwards */
	assert_int_equal(p.fl->C_SetAttributeValue(p.s, found[0], &chg, 1),
	    CKR_ATTRIBUTE_READ_ONLY);
	assert_int_equal(p.fl->C_SetAttributeValue(p.s, copy[0], &chg, 1),
	    CKR_ATTRIBUTE_READ_ONLY);
	p11_close(&p);
}

/*
 * A wrapping key made before issue 10 (no unwrap template) is not used:
 * the backend makes a new one, wraps with it, and a blob naming the old
 * one does not open (an error line says why and what to do).
 */
static void
test_legacy_wrapkey_refused(void **state)
{
	struct fx *fx = *state;
	static const uint8_t id0[16] = { 0x00 };
	uint8_t key[32] = { 3 }, msg[] = "l", out[32];
	CK_OBJECT_HANDLE old, found[8];
	struct m2m_keyref ref, x;
	struct p11 p;

	p11_open(&p, LABEL);
	old = p11_make_wrapkey2(&p, id0, sizeof(id0), CK_FALSE, 1);
	open_be(fx);
	wrap_ok(fx->be, M2M_KIND_HMAC, key, 32, 1, &ref);
	assert_memory_not_equal(ref.blob + 8, id0, 16);	/* a new key */
	assert_int_equal(p11_wrapkeys(&p, found, 8), 2);
	/* the old key would have unwrapped it: it is a blob under id0 */
	x = ref;
	x.id = 0;
	assert_non_null(x.blob = malloc(ref.bloblen));
	memcpy((uint8_t *)x.blob, ref.blob, ref.bloblen);
	memcpy((uint8_t *)x.blob + 8, id0, 16);
	memset(out, POISON, sizeof(out));
	assert_int_equal(ops->hmac(fx->be, &x, M2M_HASH_SHA256, msg, 1,
	    out), M2M_ERR_DATA_INVALID);
	assert_true(all_bytes(out, sizeof(out), POISON));
	(void)old;
	ops->close(fx->be);
	fx->be = NULL;
	p11_close(&p);
	ref_free(&x);
	ref_free(&ref);
}

/*
 * AES-KWP (RFC 5649) unwrap of w[0..wl) with kek, computed by OpenSSL
 * outside the HSM: 1 when it opens.
 */
static int
ossl_kwp_unwrap(const uint8_t kek[32], const uint8_t *w, size_t wl)
{
	uint8_t out[M2M_HSM_EC_WRAPPED_MAX + 16];
	EVP_CIPHER_CTX *c;
	int l = 0, fl = 0, ok;

	assert_true(wl <= M2M_HSM_EC_WRAPPED_MAX);
	assert_non_null(c = EVP_CIPHER_CTX_new());
	ok = EVP_DecryptInit_ex(c, EVP_aes_256_wrap_pad(), NULL, kek,
	    NULL) == 1 && EVP_DecryptUpdate(c, out, &l, w, (int)wl) == 1 &&
	    EVP_DecryptFinal_ex(c, out + l, &fl) == 1 && l > 0;
	EVP_CIPHER_CTX_free(c);
	OPENSSL_cleanse(out, sizeof(out));
	return ok;
}

/*
 * Another application logged in to the backing token plants an AES-256
 * key whose value it chose under each wrapping key's label, with the
 * smallest CKA_ID and every attribute C_CreateObject lets it set
 * (sensitive, non-extractable, private, wrap/unwrap only, the unwrap
 * template the module's own key has).  Only CKA_LOCAL,
 * CKA_NEVER_EXTRACTABLE and CKA_ALWAYS_SENSITIVE tell it apart, and it
 * cannot set them.  The backend must not wrap with it: a new blob names
 * the module's own key and does not open with the planted value.  Before
 * the fix every blob named the planted key and OpenSSL unwrapped it.
 */
static void
test_planted_wrapkey_ignored(void **state)
{
	struct fx *fx = *state;
	static const char *labels[3] = { M2M_HSM_WRAP_LABEL,
	    M2M_HSM_WRAP_LABEL_READABLE, M2M_HSM_WRAP_LABEL_EC };
	static const uint8_t id0[M2M_HSM_WRAP_ID_LEN] = { 0 };
	static CK_ATTRIBUTE ec_tmpl[] = {
		{ CKA_SENSITIVE, &ck_t, 1 }, { CKA_EXTRACTABLE, &ck_f, 1 },
		{ CKA_DECRYPT, &ck_f, 1 }, { CKA_UNWRAP, &ck_f, 1 },
		{ CKA_DERIVE, &ck_f, 1 },
	};
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	uint8_t known[3][32], key[32], msg[] = "k", want[32];
	uint8_t pub[M2M_EC_POINT_MAX], *blob = NULL, w[64];
	CK_BBOOL local, never, always;
	CK_ATTRIBUTE plant[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_VALUE, NULL, 32 },
		{ CKA_LABEL, NULL, 0 },
		{ CKA_ID, (void *)id0, sizeof(id0) },
		{ CKA_TOKEN, &ck_t, 1 },
		{ CKA_PRIVATE, &ck_t, 1 },
		{ CKA_SENSITIVE, &ck_t, 1 },
		{ CKA_EXTRACTABLE, &ck_f, 1 },
		{ CKA_WRAP, &ck_t, 1 },
		{ CKA_UNWRAP, &ck_t, 1 },
		{ CKA_ENCRYPT, &ck_f, 1 },
		{ CKA_DECRYPT, &ck_f, 1 },
		{ CKA_SIGN, &ck_f, 1 },
		{ CKA_VERIFY, &ck_f, 1 },
		{ CKA_DERIVE, &ck_f, 1 },
		{ CKA_UNWRAP_TEMPLATE, NULL, 0 },	/* last */
	};
	const CK_ULONG np = sizeof(plant) / sizeof(plant[0]);
	CK_ULONG n;
	CK_ATTRIBUTE claim[] = {
		{ CKA_LOCAL, &ck_t, 1 }, { CKA_NEVER_EXTRACTABLE, &ck_t, 1 },
		{ CKA_ALWAYS_SENSITIVE, &ck_t, 1 },
	}, got[] = {
		{ CKA_LOCAL, &local, 1 }, { CKA_NEVER_EXTRACTABLE, &never, 1 },
		{ CKA_ALWAYS_SENSITIVE, &always, 1 },
	}, more[sizeof(plant) / sizeof(plant[0]) + 1];
	CK_OBJECT_HANDLE h, found[8];
	EVP_CIPHER_CTX *c;
	struct m2m_keyref ref[3];
	size_t publen = 0, bloblen = 0, i, j;
	int l = 0, fl = 0;
	struct p11 p;

	p11_open(&p, LABEL);
	for (i = 0; i < 3; i++) {
		assert_int_equal(RAND_bytes(known[i], 32), 1);
		plant[2].pValue = known[i];
		plant[3].pValue = (void *)labels[i];
		plant[3].ulValueLen = strlen(labels[i]);
		plant[np - 1].pValue = i == 0 ? strict_tmpl : ec_tmpl;
		plant[np - 1].ulValueLen = i == 0 ? sizeof(strict_tmpl) :
		    sizeof(ec_tmpl);
		/* the readable key has no unwrap template */
		n = np - (i == 1 ? 1 : 0);
		/* the three attributes it lacks cannot be claimed */
		memcpy(more, plant, sizeof(plant));
		for (j = 0; j < 3; j++) {
			more[n] = claim[j];
			h = CK_INVALID_HANDLE;
			assert_int_equal(p.fl->C_CreateObject(p.s, more, n + 1,
			    &h), CKR_ATTRIBUTE_READ_ONLY);
		}
		assert_int_equal(p.fl->C_CreateObject(p.s, plant, n, &h),
		    CKR_OK);
		local = never = always = CK_TRUE;
		assert_int_equal(p.fl->C_GetAttributeValue(p.s, h, got, 3),
		    CKR_OK);
		assert_int_equal(local, CK_FALSE);
		assert_int_equal(never, CK_FALSE);
		assert_int_equal(always, CK_FALSE);
	}
	/* ossl_kwp_unwrap opens a value wrapped under the known key */
	assert_non_null(c = EVP_CIPHER_CTX_new());
	memset(key, 7, sizeof(key));
	assert_int_equal(EVP_EncryptInit_ex(c, EVP_aes_256_wrap_pad(), NULL,
	    known[0], NULL), 1);
	assert_int_equal(EVP_EncryptUpdate(c, w, &l, key, sizeof(key)), 1);
	assert_int_equal(EVP_EncryptFinal_ex(c, w + l, &fl), 1);
	EVP_CIPHER_CTX_free(c);
	assert_int_equal(l + fl, 40);
	assert_true(ossl_kwp_unwrap(known[0], w, 40));
	assert_false(ossl_kwp_unwrap(known[1], w, 40));

	open_be(fx);
	assert_int_equal(RAND_bytes(key, 32), 1);
	wrap_ok(fx->be, M2M_KIND_HMAC, key, 32, 1, &ref[0]);
	wrap_readable_ok(fx->be, M2M_KIND_AES, key, 32, 2, &ref[1]);
	assert_int_equal(ops->ec_generate(fx->be, M2M_KIND_EC_P256, NULL, 0,
	    &blob, &bloblen, pub, &publen), 0);
	memset(&ref[2], 0, sizeof(ref[2]));
	ref[2].id = 3;
	ref[2].kind = M2M_KIND_EC_P256;
	ref[2].blob = blob;
	ref[2].bloblen = bloblen;
	for (i = 0; i < 3; i++) {
		assert_memory_not_equal(ref[i].blob + 8, id0, sizeof(id0));
		assert_false(ossl_kwp_unwrap(known[i],
		    ref[i].blob + M2M_HSM_HDR_LEN, i == 2 ?
		    bloblen - M2M_HSM_HDR_LEN : first_wrapped(&ref[i])));
		/* the planted key is still there, next to the module's */
		assert_int_equal(p11_labelled(&p, labels[i], found, 8), 2);
	}
	ref_hmac(M2M_HASH_SHA256, key, 32, msg, 1, want);
	hmac_check(fx->be, &ref[0], M2M_HASH_SHA256, msg, 1, want);
	ops->close(fx->be);
	fx->be = NULL;
	p11_close(&p);
	for (i = 0; i < 3; i++)
		ref_free(&ref[i]);
}

/* Files under dir that contain needle[0..len); counted by nftw(). */
static const uint8_t	*scan_needle;
static size_t		 scan_len;
static int		 scan_hits;

static int
scan_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	uint8_t *buf;
	FILE *fp;
	size_t n;

	(void)f;
	if (flag != FTW_F || st->st_size <= 0 || st->st_size > (16 << 20))
		return 0;
	assert_non_null(buf = malloc((size_t)st->st_size));
	assert_non_null(fp = fopen(path, "rb"));
	n = fread(buf, 1, (size_t)st->st_size, fp);
	fclose(fp);
	if (memmem(buf, n, scan_needle, scan_len) != NULL)
		scan_hits++;
	free(buf);
	return 0;
}

static int
dir_contains(const char *dir, const uint8_t *needle, size_t len)
{
	scan_needle = needle;
	scan_len = len;
	scan_hits = 0;
	assert_int_equal(nftw(dir, scan_one, 16, FTW_PHYS), 0);
	return scan_hits;
}

static void
test_key_bytes_not_on_disk(void **state)
{
	struct fx *fx = *state;
	uint8_t keys[3][32], msg[8] = { 0 }, out[32];
	struct m2m_keyref ref;
	char path[4200];
	FILE *fp;
	int k;

	open_be(fx);
	for (k = 0; k < 3; k++) {
		assert_int_equal(RAND_bytes(keys[k], 32), 1);
		wrap_ok(fx->be, k == 2 ? M2M_KIND_AES : M2M_KIND_HMAC,
		    keys[k], 32, k + 1, &ref);
		if (k < 2)
			assert_int_equal(ops->hmac(fx->be, &ref,
			    M2M_HASH_SHA256, msg, 8, out), 0);
		ref_free(&ref);
	}
	ops->close(fx->be);	/* everything flushed */
	fx->be = NULL;
	for (k = 0; k < 3; k++) {
		assert_int_equal(dir_contains(m2m_softhsm_token_dir(fx->sh),
		    keys[k], 32), 0);
		assert_int_equal(dir_contains(m2m_softhsm_token_dir(fx->sh),
		    keys[k], 8), 0);
	}
	/* the scan does find bytes that are there */
	snprintf(path, sizeof(path), "%s/control.bin",
	    m2m_softhsm_dir(fx->sh));
	assert_non_null(fp = fopen(path, "wb"));
	assert_int_equal(fwrite(msg, 1, 3, fp), 3);
	assert_int_equal(fwrite(keys[1], 1, 32, fp), 32);
	fclose(fp);
	assert_int_equal(dir_contains(m2m_softhsm_dir(fx->sh), keys[1], 32), 1);
}

static void
test_session_lost(void **state)
{
	struct fx *fx = *state;
	uint8_t key[32], msg[] = "x", want[32], out[32];
	struct m2m_backend_stats a, b;
	struct m2m_keyref ref, ref0;
	struct p11 p;
	uint8_t *blob;
	size_t bloblen = 0;

	open_be(fx);
	assert_int_equal(RAND_bytes(key, 32), 1);
	wrap_ok(fx->be, M2M_KIND_HMAC, key, 32, 1, &ref);
	ref_hmac(M2M_HASH_SHA256, key, 32, msg, 1, want);
	hmac_check(fx->be, &ref, M2M_HASH_SHA256, msg, 1, want);
	/* someone closes every session on the token */
	p11_open(&p, LABEL);
	assert_int_equal(p.fl->C_CloseAllSessions(p.slot), CKR_OK);
	memset(out, POISON, sizeof(out));
	assert_int_equal(ops->hmac(fx->be, &ref, M2M_HASH_SHA256, msg, 1, out),
	    M2M_ERR_BACKEND_ABSENT);
	assert_true(all_bytes(out, sizeof(out), POISON));
	/* the next call logs in again and reloads the key */
	a = stats(fx->be);
	hmac_check(fx->be, &ref, M2M_HASH_SHA256, msg, 1, want);
	b = stats(fx->be);
	assert_int_equal(b.loads - a.loads, 1);
	p11_close(&p);

	/*
	 * Someone logs the token out (login state is per process).  The
	 * cached working copy is a public session object (hsm_key.c, m2m_hsm_unwrap): it
	 * survives and still gives the right MAC.  What needs the private
	 * wrapping key (wrapping, unwrapping) fails once, and the next call
	 * logs in again.
	 */
	p11_open(&p, LABEL);
	assert_int_equal(p.fl->C_Logout(p.s), CKR_OK);
	hmac_check(fx->be, &ref, M2M_HASH_SHA256, msg, 1, want);
	blob = NULL;
	assert_int_equal(ops->wrap(fx->be, M2M_KIND_HMAC, key, 32, &blob,
	    &bloblen), M2M_ERR_BACKEND_ABSENT);
	assert_null(blob);
	wrap_ok(fx->be, M2M_KIND_HMAC, key, 32, 0, &ref0);
	hmac_check(fx->be, &ref0, M2M_HASH_SHA256, msg, 1, want);
	hmac_check(fx->be, &ref, M2M_HASH_SHA256, msg, 1, want);
	p11_close(&p);
	ref_free(&ref);
	ref_free(&ref0);
}

/*
 * The binding key's session copy (bind.c) is private: after every session
 * was closed, or the token logged out, by someone else, bind_mac makes a
 * new session and copy at once and gives the same MAC.
 */
static void
test_bindkey_session_lost(void **state)
{
	struct fx *fx = *state;
	static const uint8_t msg[] = "bind";
	uint8_t mac[32], mac2[32];
	struct p11 p;

	open_be(fx);
	assert_int_equal(ops->bind_mac(fx->be, msg, sizeof(msg), mac), 0);
	p11_open(&p, LABEL);
	assert_int_equal(p.fl->C_CloseAllSessions(p.slot), CKR_OK);
	memset(mac2, 0, sizeof(mac2));
	assert_int_equal(ops->bind_mac(fx->be, msg, sizeof(msg), mac2), 0);
	assert_memory_equal(mac, mac2, 32);
	p11_close(&p);
	p11_open(&p, LABEL);
	assert_int_equal(p.fl->C_Logout(p.s), CKR_OK);
	memset(mac2, 0, sizeof(mac2));
	assert_int_equal(ops->bind_mac(fx->be, msg, sizeof(msg), mac2), 0);
	assert_memory_equal(mac, mac2, 32);
	p11_close(&p);
}

static void
test_random(void **state)
{
	struct fx *fx = *state;
	uint8_t a[32], b[32], z[32] = { 0 };

	open_be(fx);
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	assert_int_equal(ops->random(fx->be, a, sizeof(a)), 0);
	assert_int_equal(ops->random(fx->be, b, sizeof(b)), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_memory_not_equal(a, z, sizeof(a));
	assert_int_equal(ops->random(fx->be, NULL, 0), 0);
	assert_int_equal(ops->random(fx->be, NULL, 1),
	    M2M_ERR_INVALID_ARGUMENT);
}

struct racer {
	pthread_barrier_t	*start;
	const struct m2m_conf	*conf;
	void			*be;
	uint8_t			*blob;
	size_t			 bloblen;
	int			 r;
	char			 err[256];
};

static void *
racer_run(void *arg)
{
	static const uint8_t key[32] = { 0x42 };
	struct racer *x = arg;

	(void)pthread_barrier_wait(x->start);
	if ((x->r = ops->open(x->conf, &x->be, x->err, sizeof(x->err))) != 0)
		return NULL;
	/* wrap() has no message of its own: say which step failed */
	if ((x->r = ops->wrap(x->be, M2M_KIND_HMAC, key, 32, &x->blob,
	    &x->bloblen)) != 0)
		snprintf(x->err, sizeof(x->err), "opened, then wrap failed");
	return NULL;
}

/*
 * Two backends open a fresh token at the same moment (the core prevents
 * this with a store transaction; this is the backend's own defence).
 * Both succeed, each one's blobs open in the other, and exactly one
 * wrapping key is made: the setup lock (hsm_wrapkey.c, m2m_hsm_setup_lock) lets the second
 * opener find the first one's key.  Without it, SoftHSM2 failed a
 * C_WrapKey with CKR_GENERAL_ERROR while the other thread was generating
 * or destroying its competing key (one run in ten under stress -c 2), and
 * two keys were left in some rounds of almost every run.
 */
static void
test_two_opens_race(void **state)
{
	struct fx *fx = *state;
	static const uint8_t key[32] = { 0x42 };
	uint8_t msg[] = "race", want[32], out[32];
	pthread_barrier_t start;
	struct racer x[2];
	CK_OBJECT_HANDLE found[8];
	struct m2m_keyref ref;
	char label[32];
	pthread_t t[2];
	struct p11 p;
	CK_ULONG n;
	int round, c, d, bad;

	ref_hmac(M2M_HASH_SHA256, key, 32, msg, sizeof(msg), want);
	for (round = 0; round < RACE_ROUNDS; round++) {
		snprintf(label, sizeof(label), "race-%d", round);
		assert_int_equal(m2m_softhsm_add_token(fx->sh, label, PIN,
		    SOPIN), 0);
		conf_fill(&fx->conf, m2m_softhsm_module(), label, PIN, 0);
		assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
		for (c = 0; c < 2; c++) {
			memset(&x[c], 0, sizeof(x[c]));
			x[c].start = &start;
			x[c].conf = &fx->conf;
			assert_int_equal(pthread_create(&t[c], NULL,
			    racer_run, &x[c]), 0);
		}
		for (c = 0; c < 2; c++)
			assert_int_equal(pthread_join(t[c], NULL), 0);
		pthread_barrier_destroy(&start);
		/* check without asserting, so that a failure cleans up */
		bad = 0;
		for (c = 0; c < 2; c++) {
			if (x[c].r != 0) {
				print_error("racer %d: %s: %s\n", c,
				    m2m_strerror(x[c].r), x[c].err);
				bad++;
			}
		}
		for (c = 0; c < 2 && bad == 0; c++) {
			for (d = 0; d < 2; d++) {
				memset(&ref, 0, sizeof(ref));
				ref.kind = M2M_KIND_HMAC;
				ref.blob = x[d].blob;
				ref.bloblen = x[d].bloblen;
				if (ops->hmac(x[c].be, &ref, M2M_HASH_SHA256,
				    msg, sizeof(msg), out) != 0 ||
				    memcmp(out, want, 32) != 0)
					bad++;
			}
		}
		for (c = 0; c < 2; c++) {
			ops->close(x[c].be);
			free(x[c].blob);
		}
		assert_int_equal(bad, 0);
		p11_open(&p, label);
		n = p11_wrapkeys(&p, found, 8);
		p11_close(&p);
		assert_int_equal(n, 1);
	}
}

/*
 * The same with two processes.  SoftHSM2's file store is not safe for a
 * token being written by another process: C_GetTokenInfo and C_Login
 * then fail now and then (CKR_GENERAL_ERROR, a token that looks blank),
 * so a child may fail to open, cleanly (in some rounds, more under load).
 * What must hold: no child crashes, every blob a child made opens in a
 * later process, and both children succeed in some round.
 */
static void
test_two_processes_race(void **state)
{
	struct fx *fx = *state;
	uint8_t key[32] = { 0x42 }, msg[] = "race", want[32];
	uint8_t blob[2][M2M_BLOB_MAX];
	size_t bloblen[2];
	CK_OBJECT_HANDLE found[8];
	char label[32];
	struct m2m_keyref ref;
	struct p11 p;
	int round, c, go[2], res[2][2], st, both = 0;
	ssize_t got;
	CK_ULONG n;
	pid_t pid[2];

	ref_hmac(M2M_HASH_SHA256, key, 32, msg, sizeof(msg), want);
	for (round = 0; round < RACE_P_ROUNDS; round++) {
		snprintf(label, sizeof(label), "race-p%d", round);
		assert_int_equal(m2m_softhsm_add_token(fx->sh, label, PIN,
		    SOPIN), 0);
		conf_fill(&fx->conf, m2m_softhsm_module(), label, PIN, 0);
		assert_int_equal(pipe(go), 0);
		for (c = 0; c < 2; c++) {
			assert_int_equal(pipe(res[c]), 0);
			if ((pid[c] = fork()) == 0) {
				void *be = NULL;
				uint8_t *b = NULL;
				size_t bl = 0;
				char ch;
				int ok;

				close(go[1]);
				close(res[c][0]);
				if (read(go[0], &ch, 1) < 0)	/* EOF: go */
					_exit(2);
				ok = ops->open(&fx->conf, &be, NULL, 0) == 0 &&
				    ops->wrap(be, M2M_KIND_HMAC, key, 32, &b,
				    &bl) == 0 &&
				    write(res[c][1], &bl, sizeof(bl)) ==
				    sizeof(bl) &&
				    write(res[c][1], b, bl) == (ssize_t)bl;
				free(b);
				ops->close(be);
				_exit(ok ? 0 : 3);
			}
			assert_true(pid[c] > 0);
			close(res[c][1]);
		}
		close(go[0]);
		close(go[1]);	/* both start now */
		for (c = 0; c < 2; c++) {
			bloblen[c] = 0;
			got = read(res[c][0], &bloblen[c], sizeof(size_t));
			assert_true(got == 0 || got == sizeof(size_t));
			assert_true(bloblen[c] <= M2M_BLOB_MAX);
			if (got != 0)
				assert_int_equal(read(res[c][0], blob[c],
				    bloblen[c]), (ssize_t)bloblen[c]);
			close(res[c][0]);
			assert_int_equal(waitpid(pid[c], &st, 0), pid[c]);
			assert_true(WIFEXITED(st));	/* no crash */
			assert_true(WEXITSTATUS(st) == 0 ||
			    WEXITSTATUS(st) == 3);
			assert_int_equal(WEXITSTATUS(st) == 0, got != 0);
		}
		both += bloblen[0] != 0 && bloblen[1] != 0;
		open_be(fx);
		for (c = 0; c < 2; c++) {
			if (bloblen[c] == 0)
				continue;
			memset(&ref, 0, sizeof(ref));
			ref.kind = M2M_KIND_HMAC;
			ref.blob = blob[c];
			ref.bloblen = bloblen[c];
			hmac_check(fx->be, &ref, M2M_HASH_SHA256, msg,
			    sizeof(msg), want);
		}
		ops->close(fx->be);
		fx->be = NULL;
		p11_open(&p, label);
		n = p11_wrapkeys(&p, found, 8);
		assert_true(n == 1 || n == 2);
		p11_close(&p);
	}
	print_message("processes: both opened in %d of %d rounds\n", both,
	    RACE_P_ROUNDS);
	assert_true(both >= 1);
}

static void
test_bad_arguments(void **state)
{
	struct fx *fx = *state;
	uint8_t key[32] = { 1 }, out[64];
	struct m2m_keyref ref;
	struct m2m_backend_stats s = { 77, 88 };
	const uint8_t *saved;

	open_be(fx);
	wrap_ok(fx->be, M2M_KIND_HMAC, key, 32, 1, &ref);
	memset(out, POISON, sizeof(out));
	assert_int_equal(ops->hmac(NULL, &ref, M2M_HASH_SHA256, key, 1, out),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(ops->hmac(fx->be, NULL, M2M_HASH_SHA256, key, 1, out),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(ops->hmac(fx->be, &ref, M2M_HASH_SHA256, NULL, 1,
	    out), M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(ops->hmac(fx->be, &ref, M2M_HASH_SHA256, key, 1,
	    NULL), M2M_ERR_INVALID_ARGUMENT);
	saved = ref.blob;
	ref.blob = NULL;
	assert_int_equal(ops->hmac(fx->be, &ref, M2M_HASH_SHA256, key, 1, out),
	    M2M_ERR_INVALID_ARGUMENT);
	ref.blob = saved;
	assert_true(all_bytes(out, sizeof(out), POISON));
	ops->stats(NULL, &s);
	assert_int_equal(s.commands, 77);
	ops->stats(fx->be, NULL);
	ops->forget(NULL, 1);
	assert_null(ops->pin_seal);
	assert_null(ops->pin_check);
	assert_null(ops->wrap_auth);
	assert_string_equal(ops->name, "hsm");
	ref_free(&ref);
}

/* ------------------------------------------------------------------ */
/* ECDSA key pairs (blob version 4)                                   */
/* ------------------------------------------------------------------ */

/* 1 if sig (r || s) verifies over digest with the public point pub. */
static int
ossl_ec_verify(enum m2m_key_kind kind, const uint8_t *pub, size_t publen,
    const uint8_t *digest, size_t dlen, const uint8_t *sig, size_t siglen)
{
	const char *curve = kind == M2M_KIND_EC_P256 ? "prime256v1" :
	    "secp384r1";
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *pc = NULL, *vc = NULL;
	EVP_PKEY *pk = NULL;
	ECDSA_SIG *es = NULL;
	unsigned char *der = NULL;
	int derlen, ok = 0;

	assert_non_null(bld);
	assert_int_equal(OSSL_PARAM_BLD_push_utf8_string(bld,
	    OSSL_PKEY_PARAM_GROUP_NAME, curve, 0), 1);
	assert_int_equal(OSSL_PARAM_BLD_push_octet_string(bld,
	    OSSL_PKEY_PARAM_PUB_KEY, pub, publen), 1);
	assert_non_null(params = OSSL_PARAM_BLD_to_param(bld));
	assert_non_null(pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL));
	assert_int_equal(EVP_PKEY_fromdata_init(pc), 1);
	assert_int_equal(EVP_PKEY_fromdata(pc, &pk, EVP_PKEY_PUBLIC_KEY,
	    params), 1);
	assert_non_null(es = ECDSA_SIG_new());
	assert_int_equal(ECDSA_SIG_set0(es,
	    BN_bin2bn(sig, (int)siglen / 2, NULL),
	    BN_bin2bn(sig + siglen / 2, (int)siglen / 2, NULL)), 1);
	assert_true((derlen = i2d_ECDSA_SIG(es, &der)) > 0);
	assert_non_null(vc = EVP_PKEY_CTX_new(pk, NULL));
	assert_int_equal(EVP_PKEY_verify_init(vc), 1);
	ok = EVP_PKEY_verify(vc, der, (size_t)derlen, digest, dlen) == 1;
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	EVP_PKEY_CTX_free(vc);
	EVP_PKEY_CTX_free(pc);
	EVP_PKEY_free(pk);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return ok;
}

static void
ec_generate_sign(struct fx *fx, enum m2m_key_kind kind, size_t size)
{
	uint8_t pub[M2M_EC_POINT_MAX], sig[M2M_EC_SIG_MAX], dg[48];
	uint8_t *blob = NULL;
	size_t publen = 0, siglen = 0, bloblen = 0;
	struct m2m_backend_stats st0, st1;
	struct m2m_keyref ref;

	assert_int_equal(ops->ec_generate(fx->be, kind, NULL, 0, &blob,
	    &bloblen, pub, &publen), 0);
	assert_int_equal(publen, 2 * size + 1);
	assert_int_equal(pub[0], 0x04);
	assert_memory_equal(blob, "M2MH\x04", 5);
	assert_int_equal(blob[5], kind);
	assert_int_equal(((size_t)blob[6] << 8 | blob[7]) + M2M_HSM_HDR_LEN,
	    bloblen);
	memset(&ref, 0, sizeof(ref));
	ref.id = 77;
	ref.kind = kind;
	ref.blob = blob;
	ref.bloblen = bloblen;
	RAND_bytes(dg, sizeof(dg));
	assert_int_equal(ops->ec_sign(fx->be, &ref, dg, size, sig, &siglen),
	    0);
	assert_int_equal(siglen, 2 * size);
	assert_true(ossl_ec_verify(kind, pub, publen, dg, size, sig, siglen));
	/* another digest does not verify with that signature */
	dg[0] ^= 1;
	assert_false(ossl_ec_verify(kind, pub, publen, dg, size, sig,
	    siglen));
	/* the working copy is cached: one C_SignInit + C_Sign, no load */
	ops->stats(fx->be, &st0);
	assert_int_equal(ops->ec_sign(fx->be, &ref, dg, size, sig, &siglen),
	    0);
	ops->stats(fx->be, &st1);
	assert_int_equal(st1.commands - st0.commands, 2);
	assert_int_equal(st1.loads, st0.loads);
	assert_true(ossl_ec_verify(kind, pub, publen, dg, size, sig, siglen));
	/* the other curve's kind, an HMAC kind: refused */
	ref.kind = kind == M2M_KIND_EC_P256 ? M2M_KIND_EC_P384 :
	    M2M_KIND_EC_P256;
	assert_int_equal(ops->ec_sign(fx->be, &ref, dg, size, sig, &siglen),
	    M2M_ERR_KEY_TYPE);
	ref.kind = M2M_KIND_HMAC;
	assert_int_equal(ops->ec_sign(fx->be, &ref, dg, size, sig, &siglen),
	    M2M_ERR_KEY_TYPE);
	ref.kind = kind;
	assert_int_equal(ops->ec_sign(fx->be, &ref, dg, 0, sig, &siglen),
	    M2M_ERR_DATA_LEN);
	/* a blob whose wrapped key was changed does not unwrap */
	ref.id = 0;
	blob[bloblen - 3] ^= 0x40;
	assert_int_not_equal(ops->ec_sign(fx->be, &ref, dg, size, sig,
	    &siglen), 0);
	/* a truncated one does not parse */
	blob[bloblen - 3] ^= 0x40;
	ref.bloblen = bloblen - 8;
	assert_int_equal(ops->ec_sign(fx->be, &ref, dg, size, sig, &siglen),
	    M2M_ERR_DATA_INVALID);
	/* never revealed */
	{
		struct m2m_secret *v = NULL;

		ref.bloblen = bloblen;
		assert_int_equal(ops->reveal(fx->be, &ref, &v),
		    M2M_ERR_ATTRIBUTE_SENSITIVE);
		assert_null(v);
	}
	free(blob);
}

static void
test_ec_generate_sign(void **state)
{
	struct fx *fx = *state;

	open_be(fx);
	ec_generate_sign(fx, M2M_KIND_EC_P256, 32);
	ec_generate_sign(fx, M2M_KIND_EC_P384, 48);
}

static void
test_ec_import(void **state)
{
	struct fx *fx = *state;
	/* d = 1: the public point is the generator */
	static const char g256[] = "046b17d1f2e12c4247f8bce6e563a440f277037d"
	    "812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce3"
	    "3576b315ececbb6406837bf51f5";
	static const char n256[] = "ffffffff00000000ffffffffffffffffbce6faad"
	    "a7179e84f3b9cac2fc632551";
	uint8_t d[48], pub[M2M_EC_POINT_MAX], want[M2M_EC_POINT_MAX];
	uint8_t sig[M2M_EC_SIG_MAX], dg[32], *blob = NULL;
	size_t publen = 0, siglen = 0, bloblen = 0;
	struct m2m_keyref ref;

	open_be(fx);
	memset(d, 0, sizeof(d));
	d[31] = 1;
	assert_int_equal(ops->ec_import(fx->be, M2M_KIND_EC_P256, d, 32,
	    NULL, 0, &blob, &bloblen, pub, &publen), 0);
	assert_int_equal(publen, unhex(g256, want, sizeof(want)));
	assert_memory_equal(pub, want, publen);
	memset(&ref, 0, sizeof(ref));
	ref.kind = M2M_KIND_EC_P256;
	ref.blob = blob;
	ref.bloblen = bloblen;
	RAND_bytes(dg, sizeof(dg));
	assert_int_equal(ops->ec_sign(fx->be, &ref, dg, sizeof(dg), sig,
	    &siglen), 0);
	assert_true(ossl_ec_verify(M2M_KIND_EC_P256, pub, publen, dg,
	    sizeof(dg), sig, siglen));
	free(blob);
	blob = NULL;
	/* 0, n and a scalar of the wrong length are not keys */
	d[31] = 0;
	assert_int_equal(ops->ec_import(fx->be, M2M_KIND_EC_P256, d, 32,
	    NULL, 0, &blob, &bloblen, pub, &publen), M2M_ERR_KEY_SIZE);
	unhex(n256, d, sizeof(d));
	assert_int_equal(ops->ec_import(fx->be, M2M_KIND_EC_P256, d, 32,
	    NULL, 0, &blob, &bloblen, pub, &publen), M2M_ERR_KEY_SIZE);
	assert_int_equal(ops->ec_import(fx->be, M2M_KIND_EC_P384, d, 32,
	    NULL, 0, &blob, &bloblen, pub, &publen), M2M_ERR_KEY_SIZE);
	assert_int_equal(ops->ec_import(fx->be, M2M_KIND_AES, d, 32,
	    NULL, 0, &blob, &bloblen, pub, &publen), M2M_ERR_KEY_TYPE);
	assert_null(blob);
	/* a P-384 scalar */
	memset(d, 0x11, sizeof(d));
	assert_int_equal(ops->ec_import(fx->be, M2M_KIND_EC_P384, d, 48,
	    NULL, 0, &blob, &bloblen, pub, &publen), 0);
	assert_int_equal(publen, 97);
	ref.kind = M2M_KIND_EC_P384;
	ref.blob = blob;
	ref.bloblen = bloblen;
	assert_int_equal(ops->ec_sign(fx->be, &ref, dg, sizeof(dg), sig,
	    &siglen), 0);
	assert_int_equal(siglen, 96);
	assert_true(ossl_ec_verify(M2M_KIND_EC_P384, pub, publen, dg,
	    sizeof(dg), sig, siglen));
	free(blob);
}

/*
 * Anyone logged in to the backing token can C_UnwrapKey an EC blob with
 * m2mtoken-wrap-ec; its unwrap template makes the result sensitive and
 * never extractable, as a private or as a secret key.
 */
static void
test_ec_unwrap_template_enforced(void **state)
{
	struct fx *fx = *state;
	uint8_t pub[M2M_EC_POINT_MAX], *blob = NULL, v[512];
	size_t publen = 0, bloblen = 0, i;
	CK_MECHANISM m = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_OBJECT_CLASS pc = CKO_PRIVATE_KEY, sc = CKO_SECRET_KEY;
	CK_KEY_TYPE ec = CKK_EC, gen = CKK_GENERIC_SECRET;
	CK_ATTRIBUTE lab = { CKA_LABEL, M2M_HSM_WRAP_LABEL_EC,
	    sizeof(M2M_HSM_WRAP_LABEL_EC) - 1 };
	CK_ATTRIBUTE chg = { CKA_UNWRAP_TEMPLATE, NULL, 0 };
	CK_ATTRIBUTE va = { CKA_VALUE, v, sizeof(v) };
	CK_ATTRIBUTE t[4][8] = {
		{ { CKA_CLASS, &pc, sizeof(pc) }, { CKA_KEY_TYPE, &ec,
		  sizeof(ec) }, { CKA_TOKEN, &ck_f, 1 },
		  { CKA_SENSITIVE, &ck_f, 1 }, { CKA_EXTRACTABLE, &ck_t, 1 } },
		{ { CKA_CLASS, &pc, sizeof(pc) }, { CKA_KEY_TYPE, &ec,
		  sizeof(ec) }, { CKA_TOKEN, &ck_f, 1 } },
		{ { CKA_CLASS, &pc, sizeof(pc) }, { CKA_KEY_TYPE, &ec,
		  sizeof(ec) }, { CKA_TOKEN, &ck_f, 1 },
		  { CKA_SENSITIVE, &ck_t, 1 }, { CKA_EXTRACTABLE, &ck_t, 1 },
		  { CKA_DECRYPT, &ck_f, 1 }, { CKA_UNWRAP, &ck_f, 1 },
		  { CKA_DERIVE, &ck_f, 1 } },
		{ { CKA_CLASS, &sc, sizeof(sc) }, { CKA_KEY_TYPE, &gen,
		  sizeof(gen) }, { CKA_TOKEN, &ck_f, 1 },
		  { CKA_SENSITIVE, &ck_f, 1 }, { CKA_EXTRACTABLE, &ck_t, 1 } },
	};
	static const CK_ULONG nt[4] = { 5, 3, 8, 5 };
	CK_OBJECT_HANDLE wk[4], h;
	CK_ULONG n = 0;
	CK_RV rv;
	struct p11 p;

	open_be(fx);
	assert_int_equal(ops->ec_generate(fx->be, M2M_KIND_EC_P256, NULL, 0,
	    &blob, &bloblen, pub, &publen), 0);
	p11_open(&p, LABEL);
	assert_int_equal(p.fl->C_FindObjectsInit(p.s, &lab, 1), CKR_OK);
	assert_int_equal(p.fl->C_FindObjects(p.s, wk, 4, &n), CKR_OK);
	assert_int_equal(p.fl->C_FindObjectsFinal(p.s), CKR_OK);
	assert_int_equal(n, 1);
	for (i = 0; i < 4; i++) {
		h = CK_INVALID_HANDLE;
		rv = p.fl->C_UnwrapKey(p.s, &m, wk[0], blob + M2M_HSM_HDR_LEN,
		    bloblen - M2M_HSM_HDR_LEN, t[i], nt[i], &h);
		assert_int_not_equal(rv, CKR_OK);
		va.ulValueLen = sizeof(v);
		if (h != CK_INVALID_HANDLE)
			assert_int_not_equal(p.fl->C_GetAttributeValue(p.s, h,
			    &va, 1), CKR_OK);
	}
	/* nobody relaxes the template afterwards */
	assert_int_equal(p.fl->C_SetAttributeValue(p.s, wk[0], &chg, 1),
	    CKR_ATTRIBUTE_READ_ONLY);
	p11_close(&p);
	free(blob);
}

/* version-4 headers: kind, length and version must agree */
static void
test_ec_blob_parse(void **state)
{
	uint8_t blob[M2M_HSM_BLOB_MAX + 8];
	struct m2m_keyref ref;
	struct blob b;

	(void)state;
	memset(blob, 0, sizeof(blob));
	memcpy(blob, "M2MH\x04\x03\x00\x90", 8);
	memset(&ref, 0, sizeof(ref));
	ref.kind = M2M_KIND_EC_P256;
	ref.blob = blob;
	ref.bloblen = M2M_HSM_HDR_LEN + 0x90;
	assert_int_equal(m2m_hsm_blob_parse(&ref, &b), 0);
	assert_int_equal(b.wrappedlen, 0x90);
	ref.kind = M2M_KIND_EC_P384;
	assert_int_equal(m2m_hsm_blob_parse(&ref, &b), M2M_ERR_KEY_TYPE);
	ref.kind = M2M_KIND_EC_P256;
	ref.bloblen--;
	assert_int_equal(m2m_hsm_blob_parse(&ref, &b), M2M_ERR_DATA_INVALID);
	/* a length that is not a multiple of 8, or too long */
	blob[7] = 0x91;
	ref.bloblen = M2M_HSM_HDR_LEN + 0x91;
	assert_int_equal(m2m_hsm_blob_parse(&ref, &b), M2M_ERR_DATA_INVALID);
	blob[6] = (M2M_HSM_EC_WRAPPED_MAX + 8) >> 8;
	blob[7] = (M2M_HSM_EC_WRAPPED_MAX + 8) & 0xff;
	ref.bloblen = M2M_HSM_HDR_LEN + M2M_HSM_EC_WRAPPED_MAX + 8;
	assert_int_equal(m2m_hsm_blob_parse(&ref, &b), M2M_ERR_DATA_INVALID);
	/* an EC kind in an older version, an HMAC kind in version 4 */
	memcpy(blob, "M2MH\x01\x03\x00\x20", 8);
	ref.bloblen = M2M_HSM_HDR_LEN + 0x28;
	assert_int_equal(m2m_hsm_blob_parse(&ref, &b), M2M_ERR_DATA_INVALID);
	memcpy(blob, "M2MH\x04\x01\x00\x28", 8);
	ref.kind = M2M_KIND_HMAC;
	assert_int_equal(m2m_hsm_blob_parse(&ref, &b), M2M_ERR_DATA_INVALID);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_open_wrong_label),
		T(test_open_wrong_module),
		T(test_open_wrong_pin),
		T(test_open_bad_conf),
		T(test_hmac_rfc4231_sha256),
		T(test_hmac_rfc4231_sha512),
		T(test_hmac_all_key_lengths),
		T(test_hmac_long_key_prehash),
		T(test_hmac_keymsg),
		T(test_wrap_nomsg),
		T(test_keymsg_cached),
		T(test_gcm_known_answers),
		T(test_gcm_round_trip),
		T(test_gcm_long_iv),
		T(test_gcm_tampered),
		T(test_gcm_bad_arguments),
		T(test_wrap_limits),
		T(test_wrong_kind),
		T(test_corrupt_blob),
		T(test_reveal),
		T(test_cache_lru),
		T(test_cache_same_id_new_blob),
		T(test_threads),
		T(test_wrapkey_in_hsm),
		T(test_bindkey_in_hsm),
		T(test_bindkey_session_lost),
		T(test_op_objects),
		T(test_flush),
		T(test_second_open_reuses_key),
		T(test_smallest_wrapkey_wins),
		T(test_blob_names_its_wrapkey),
		T(test_ignores_extractable_wrapkey),
		T(test_unwrap_template_enforced),
		T(test_legacy_wrapkey_refused),
		T(test_planted_wrapkey_ignored),
		T(test_key_bytes_not_on_disk),
		T(test_session_lost),
		T(test_random),
		T(test_two_opens_race),
		T(test_two_processes_race),
		T(test_bad_arguments),
		T(test_ec_generate_sign),
		T(test_ec_import),
		T(test_ec_blob_parse),
		T(test_ec_unwrap_template_enforced),
		T(test_wrapkey_setup_retried),	/* last: they load a shim */
		T(test_private_only_hsm),
#undef T
	};

	(void)m2m_log_from_env();	/* M2MTOKEN_LOG_LEVEL=debug */
	/* M2M_TEST_FILTER=test_two_opens*: run only the matching tests */
	if (getenv("M2M_TEST_FILTER") != NULL)
		cmocka_set_test_filter(getenv("M2M_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
