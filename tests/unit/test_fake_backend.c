/* Unit tests for the fake (software) backend used by the core's unit tests. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "backend.h"
#include "err.h"
#include "fake_backend.h"
#include "secret.h"

#define SENTINEL_PTR	((void *)(uintptr_t)0x5a5a5a5a)
#define SENTINEL_LEN	((size_t)0xa5a5a5a5)

struct blob {
	uint8_t	*p;
	size_t	 len;
};

static int
setup(void **state)
{
	struct m2m_backend *be;

	m2m_fake_backend_fail_after(-1);
	if ((be = calloc(1, sizeof(*be))) == NULL)
		return -1;
	if (m2m_fake_backend_open(be) != 0) {
		free(be);
		return -1;
	}
	*state = be;
	return 0;
}

static int
teardown(void **state)
{
	struct m2m_backend *be = *state;

	m2m_fake_backend_fail_after(-1);
	be->ops->close(be->impl);
	free(be);
	return 0;
}

static size_t
unhex(const char *s, uint8_t *out, size_t max)
{
	size_t n = strlen(s) / 2, i;
	unsigned int v;

	assert_true(n <= max);
	for (i = 0; i < n; i++) {
		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

static struct blob
wrap(struct m2m_backend *be, enum m2m_key_kind kind, const uint8_t *key,
    size_t len)
{
	struct blob b = { NULL, 0 };

	assert_int_equal(be->ops->wrap(be->impl, kind, key, len, &b.p, &b.len),
	    0);
	assert_non_null(b.p);
	return b;
}

static struct m2m_keyref
ref(struct blob b, enum m2m_key_kind kind)
{
	struct m2m_keyref k;

	k.id = 0;
	k.kind = kind;
	k.blob = b.p;
	k.bloblen = b.len;
	return k;
}

/* RFC 4231 test cases 1-4, 6 and 7 (5 is a truncation test). */
struct rfc4231 {
	const char	*name;
	uint8_t		 key[131];
	size_t		 keylen;
	const char	*data;		/* NULL: databyte repeated datalen */
	uint8_t		 databyte;
	size_t		 datalen;
	const char	*sha256;
	const char	*sha512;
};

static struct rfc4231 vec[6];

static void
init_vectors(void)
{
	size_t i;

	memset(vec, 0, sizeof(vec));
	vec[0].name = "1";
	memset(vec[0].key, 0x0b, 20);
	vec[0].keylen = 20;
	vec[0].data = "Hi There";
	vec[0].sha256 = "b0344c61d8db38535ca8afceaf0bf12b"
	    "881dc200c9833da726e9376c2e32cff7";
	vec[0].sha512 = "87aa7cdea5ef619d4ff0b4241a1d6cb0"
	    "2379f4e2ce4ec2787ad0b30545e17cde"
	    "daa833b7d6b8a702038b274eaea3f4e4"
	    "be9d914eeb61f1702e696c203a126854";

	vec[1].name = "2";
	memcpy(vec[1].key, "Jefe", 4);
	vec[1].keylen = 4;
	vec[1].data = "what do ya want for nothing?";
	vec[1].sha256 = "5bdcc146bf60754e6a042426089575c7"
	    "5a003f089d2739839dec58b964ec3843";
	vec[1].sha512 = "164b7a7bfcf819e2e395fbe73b56e0a3"
	    "87bd64222e831fd610270cd7ea250554"
	    "9758bf75c05a994a6d034f65f8f0e6fd"
	    "caeab1a34d4a6b4b636e070a38bce737";

	vec[2].name = "3";
	memset(vec[2].key, 0xaa, 20);
	vec[2].keylen = 20;
	vec[2].databyte = 0xdd;
	vec[2].datalen = 50;
	vec[2].sha256 = "773ea91e36800e46854db8ebd09181a7"
	    "2959098b3ef8c122d9635514ced565fe";
	vec[2].sha512 = "fa73b0089d56a284efb0f0756c890be9"
	    "b1b5dbdd8ee81a3655f83e33b2279d39"
	    "bf3e848279a722c806b485a47e67c807"
	    "b946a337bee8942674278859e13292fb";

	vec[3].name = "4";
	for (i = 0; i < 25; i++)
		vec[3].key[i] = (uint8_t)(i + 1);
	vec[3].keylen = 25;
	vec[3].databyte = 0xcd;
	vec[3].datalen = 50;
	vec[3].sha256 = "82558a389a443c0ea4cc819899f2083a"
	    "85f0faa3e578f8077a2e3ff46729665b";
	vec[3].sha512 = "b0ba465637458c6990e5a8c5f61d4af7"
	    "e576d97ff94b872de76f8050361ee3db"
	    "a91ca5c11aa25eb4d679275cc5788063"
	    "a5f19741120c4f2de2adebeb10a298dd";

	vec[4].name = "6";
	memset(vec[4].key, 0xaa, 131);
	vec[4].keylen = 131;
	vec[4].data = "Test Using Larger Than Block-Size Key - Hash Key First";
	vec[4].sha256 = "60e431591ee0b67f0d8a26aacbf5b77f"
	    "8e0bc6213728c5140546040f0ee37f54";
	vec[4].sha512 = "80b24263c7c1a3ebb71493c1dd7be8b4"
	    "9b46d1f41b4aeec1121b013783f8f352"
	    "6b56d037e05f2598bd0fd2215d6a1e52"
	    "95e64f73f63f0aec8b915a985d786598";

	vec[5].name = "7";
	memset(vec[5].key, 0xaa, 131);
	vec[5].keylen = 131;
	vec[5].data = "This is a test using a larger than block-size key "
	    "and a larger than block-size data. The key needs to be hashed "
	    "before being used by the HMAC algorithm.";
	vec[5].sha256 = "9b09ffa71b942fcb27635fbcd5b0e944"
	    "bfdc63644f0713938a7f51535c3a35e2";
	vec[5].sha512 = "e37b6a775dc87dbaa4dfa9f96e5e3ffd"
	    "debd71f8867289865df5a32d20cdc944"
	    "b6022cac3c4982b10d5eeb55c3e4de15"
	    "134676fb6de0446065c97440fa8c6a58";
}

static size_t
vec_data(const struct rfc4231 *v, uint8_t *out, size_t max)
{
	size_t n;

	if (v->data != NULL) {
		n = strlen(v->data);
		assert_true(n <= max);
		memcpy(out, v->data, n);
	} else {
		n = v->datalen;
		assert_true(n <= max);
		memset(out, v->databyte, n);
	}
	return n;
}

/*
 * HMAC through wrap + hmac.  A key longer than the hash's block size is
 * replaced by its hash (RFC 2104), which is how test cases 6 and 7, whose
 * 131-byte key exceeds M2M_KEY_MAX, pass through the backend.
 */
static void
test_rfc4231_wrap_hmac(void **state)
{
	struct m2m_backend *be = *state;
	const struct { enum m2m_hash h; const EVP_MD *(*md)(void);
	    size_t block; } hashes[] = {
		{ M2M_HASH_SHA256, EVP_sha256, 64 },
		{ M2M_HASH_SHA512, EVP_sha512, 128 },
	};
	uint8_t data[256], want[64], out[64], key[131];
	unsigned int keylen;
	size_t i, j, datalen, wantlen;
	struct blob b;
	struct m2m_keyref k;

	init_vectors();
	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		datalen = vec_data(&vec[i], data, sizeof(data));
		for (j = 0; j < 2; j++) {
			wantlen = unhex(j == 0 ? vec[i].sha256 : vec[i].sha512,
			    want, sizeof(want));
			assert_int_equal(wantlen, m2m_hash_len(hashes[j].h));
			if (vec[i].keylen > hashes[j].block) {
				assert_int_equal(EVP_Digest(vec[i].key,
				    vec[i].keylen, key, &keylen,
				    hashes[j].md(), NULL), 1);
			} else {
				memcpy(key, vec[i].key, vec[i].keylen);
				keylen = (unsigned int)vec[i].keylen;
			}
			b = wrap(be, M2M_KIND_HMAC, key, keylen);
			k = ref(b, M2M_KIND_HMAC);
			memset(out, 0, sizeof(out));
			assert_int_equal(be->ops->hmac(be->impl, &k,
			    hashes[j].h, data, datalen, out), 0);
			if (memcmp(out, want, wantlen) != 0)
				fail_msg("RFC 4231 test case %s, hash %zu",
				    vec[i].name, j);
			free(b.p);
		}
	}
	/* the 131-byte key itself is beyond M2M_KEY_MAX */
	b.p = SENTINEL_PTR;
	b.len = SENTINEL_LEN;
	assert_int_equal(be->ops->wrap(be->impl, M2M_KIND_HMAC, vec[4].key,
	    131, &b.p, &b.len), M2M_ERR_KEY_SIZE);
	assert_ptr_equal(b.p, SENTINEL_PTR);
	assert_int_equal(b.len, SENTINEL_LEN);
}

/* The same vectors with the data as the wrapped key (hmac_keymsg). */
static void
test_rfc4231_keymsg(void **state)
{
	struct m2m_backend *be = *state;
	uint8_t data[256], want[64], out[64];
	size_t i, datalen;
	struct blob b;
	struct m2m_keyref k;

	init_vectors();
	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		datalen = vec_data(&vec[i], data, sizeof(data));
		if (datalen > M2M_KEY_MAX)
			continue;	/* case 7: 152 bytes */
		b = wrap(be, M2M_KIND_HMAC, data, datalen);
		k = ref(b, M2M_KIND_HMAC);
		unhex(vec[i].sha256, want, sizeof(want));
		assert_int_equal(be->ops->hmac_keymsg(be->impl, vec[i].key,
		    vec[i].keylen, &k, M2M_HASH_SHA256, out), 0);
		assert_memory_equal(out, want, 32);
		unhex(vec[i].sha512, want, sizeof(want));
		assert_int_equal(be->ops->hmac_keymsg(be->impl, vec[i].key,
		    vec[i].keylen, &k, M2M_HASH_SHA512, out), 0);
		assert_memory_equal(out, want, 64);
		free(b.p);
	}
}

/* hmac_keymsg against OpenSSL's HMAC, random keys, salts and hashes. */
static void
test_keymsg_vs_openssl(void **state)
{
	struct m2m_backend *be = *state;
	const enum m2m_hash hs[] = {
		M2M_HASH_SHA256, M2M_HASH_SHA384, M2M_HASH_SHA512
	};
	const EVP_MD *mds[3];
	uint8_t salt[200], key[M2M_KEY_MAX], out[64], want[64];
	size_t saltlens[] = { 0, 1, 32, 64, 65, 200 };
	size_t keylens[] = { 1, 16, 32, 64, M2M_KEY_MAX };
	unsigned int wantlen;
	size_t i, j, h;
	struct blob b;
	struct m2m_keyref k;

	mds[0] = EVP_sha256();
	mds[1] = EVP_sha384();
	mds[2] = EVP_sha512();
	assert_int_equal(RAND_bytes(salt, sizeof(salt)), 1);
	for (i = 0; i < sizeof(keylens) / sizeof(keylens[0]); i++) {
		assert_int_equal(RAND_bytes(key, sizeof(key)), 1);
		b = wrap(be, M2M_KIND_HMAC, key, keylens[i]);
		k = ref(b, M2M_KIND_HMAC);
		for (j = 0; j < sizeof(saltlens) / sizeof(saltlens[0]); j++) {
			for (h = 0; h < 3; h++) {
				assert_non_null(HMAC(mds[h], salt,
				    (int)saltlens[j], key, keylens[i], want,
				    &wantlen));
				assert_int_equal(wantlen, m2m_hash_len(hs[h]));
				memset(out, 0, sizeof(out));
				assert_int_equal(be->ops->hmac_keymsg(
				    be->impl, saltlens[j] ? salt : NULL,
				    saltlens[j], &k, hs[h], out), 0);
				assert_memory_equal(out, want, wantlen);
			}
		}
		free(b.p);
	}
}

static void
test_hmac_errors(void **state)
{
	struct m2m_backend *be = *state;
	uint8_t key[32] = { 1 }, out[64], keep[64];
	struct blob b, a;
	struct m2m_keyref k;

	memset(out, 0xa5, sizeof(out));
	memcpy(keep, out, sizeof(out));
	b = wrap(be, M2M_KIND_HMAC, key, sizeof(key));
	a = wrap(be, M2M_KIND_AES, key, sizeof(key));

	/* an AES key is no HMAC key */
	k = ref(a, M2M_KIND_AES);
	assert_int_equal(be->ops->hmac(be->impl, &k, M2M_HASH_SHA256,
	    (const uint8_t *)"m", 1, out), M2M_ERR_KEY_TYPE);
	/* a keyref claiming a kind its blob does not have */
	k = ref(a, M2M_KIND_HMAC);
	assert_int_equal(be->ops->hmac(be->impl, &k, M2M_HASH_SHA256,
	    (const uint8_t *)"m", 1, out), M2M_ERR_BACKEND);
	k = ref(b, M2M_KIND_HMAC);
	assert_int_equal(be->ops->hmac(be->impl, &k, (enum m2m_hash)0,
	    (const uint8_t *)"m", 1, out), M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(be->ops->hmac(be->impl, &k, (enum m2m_hash)99,
	    (const uint8_t *)"m", 1, out), M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(be->ops->hmac(be->impl, &k, M2M_HASH_SHA256,
	    NULL, 1, out), M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(be->ops->hmac(be->impl, NULL, M2M_HASH_SHA256,
	    (const uint8_t *)"m", 1, out), M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(be->ops->hmac_keymsg(be->impl, NULL, 4, &k,
	    M2M_HASH_SHA256, out), M2M_ERR_INVALID_ARGUMENT);
	assert_memory_equal(out, keep, sizeof(out));

	/* an empty message is fine */
	assert_int_equal(be->ops->hmac(be->impl, &k, M2M_HASH_SHA384, NULL,
	    0, out), 0);

	/* wrap: lengths per kind */
	free(a.p);
	a.p = SENTINEL_PTR;
	a.len = SENTINEL_LEN;
	assert_int_equal(be->ops->wrap(be->impl, M2M_KIND_HMAC, key, 0, &a.p,
	    &a.len), M2M_ERR_KEY_SIZE);
	assert_int_equal(be->ops->wrap(be->impl, M2M_KIND_AES, key, 20, &a.p,
	    &a.len), M2M_ERR_KEY_SIZE);
	assert_int_equal(be->ops->wrap(be->impl, (enum m2m_key_kind)7, key,
	    16, &a.p, &a.len), M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(be->ops->wrap(be->impl, M2M_KIND_HMAC, NULL, 16,
	    &a.p, &a.len), M2M_ERR_INVALID_ARGUMENT);
	assert_ptr_equal(a.p, SENTINEL_PTR);
	assert_int_equal(a.len, SENTINEL_LEN);
	free(b.p);
	b = wrap(be, M2M_KIND_AES, key, 16);
	free(b.p);
	b = wrap(be, M2M_KIND_AES, key, 24);
	free(b.p);
}

/* Every byte of a blob matters; so do its length and the backend. */
static void
test_tampered_blob(void **state)
{
	struct m2m_backend *be = *state, other;
	uint8_t key[32], out[32], keep[32], *t;
	struct m2m_secret *s = SENTINEL_PTR;
	struct blob b;
	struct m2m_keyref k;
	size_t i;
	int bit;

	assert_int_equal(RAND_bytes(key, sizeof(key)), 1);
	memset(out, 0x5a, sizeof(out));
	memcpy(keep, out, sizeof(out));
	b = wrap(be, M2M_KIND_HMAC, key, sizeof(key));
	assert_true(b.len > sizeof(key));
	assert_memory_equal(b.p, "M2MF", 4);
	/* the key does not appear in its blob */
	for (i = 0; i + sizeof(key) <= b.len; i++)
		assert_memory_not_equal(b.p + i, key, sizeof(key));
	t = malloc(b.len + 1);
	assert_non_null(t);
	for (i = 0; i < b.len; i++) {
		for (bit = 0; bit < 8; bit += 7) {
			memcpy(t, b.p, b.len);
			t[i] ^= (uint8_t)(1u << bit);
			k.id = 0;
			k.kind = M2M_KIND_HMAC;
			k.blob = t;
			k.bloblen = b.len;
			assert_int_equal(be->ops->hmac(be->impl, &k,
			    M2M_HASH_SHA256, (const uint8_t *)"x", 1, out),
			    M2M_ERR_BACKEND);
			assert_int_equal(be->ops->reveal(be->impl, &k, &s),
			    M2M_ERR_BACKEND);
		}
	}
	memcpy(t, b.p, b.len);
	k.blob = t;
	k.bloblen = b.len - 1;
	assert_int_equal(be->ops->hmac(be->impl, &k, M2M_HASH_SHA256,
	    (const uint8_t *)"x", 1, out), M2M_ERR_BACKEND);
	t[b.len] = 0;
	k.bloblen = b.len + 1;
	assert_int_equal(be->ops->hmac(be->impl, &k, M2M_HASH_SHA256,
	    (const uint8_t *)"x", 1, out), M2M_ERR_BACKEND);
	k.bloblen = 0;
	assert_int_equal(be->ops->hmac(be->impl, &k, M2M_HASH_SHA256,
	    (const uint8_t *)"x", 1, out), M2M_ERR_BACKEND);
	k.bloblen = M2M_BLOB_MAX + 1;
	assert_int_equal(be->ops->hmac(be->impl, &k, M2M_HASH_SHA256,
	    (const uint8_t *)"x", 1, out), M2M_ERR_BACKEND);
	assert_memory_equal(out, keep, sizeof(out));
	assert_ptr_equal(s, SENTINEL_PTR);

	/* the untouched blob still works */
	k.bloblen = b.len;
	assert_int_equal(be->ops->hmac(be->impl, &k, M2M_HASH_SHA256,
	    (const uint8_t *)"x", 1, out), 0);

	/* another backend instance has another wrapping key */
	assert_int_equal(m2m_fake_backend_open(&other), 0);
	k = ref(b, M2M_KIND_HMAC);
	memcpy(out, keep, sizeof(out));
	assert_int_equal(other.ops->hmac(other.impl, &k, M2M_HASH_SHA256,
	    (const uint8_t *)"x", 1, out), M2M_ERR_BACKEND);
	assert_memory_equal(out, keep, sizeof(out));
	other.ops->close(other.impl);
	free(t);
	free(b.p);
}

/* AES-GCM encryption with OpenSSL directly, for comparison. */
static void
gcm_ref(const uint8_t *key, size_t keylen, const uint8_t *iv, size_t ivlen,
    const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t inlen,
    size_t taglen, uint8_t *out)
{
	const EVP_CIPHER *c = keylen == 16 ? EVP_aes_128_gcm() :
	    keylen == 24 ? EVP_aes_192_gcm() : EVP_aes_256_gcm();
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n;

	assert_non_null(ctx);
	assert_int_equal(EVP_EncryptInit_ex(ctx, c, NULL, NULL, NULL), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN,
	    (int)ivlen, NULL), 1);
	assert_int_equal(EVP_EncryptInit_ex(ctx, NULL, NULL, key, iv), 1);
	if (aadlen)
		assert_int_equal(EVP_EncryptUpdate(ctx, NULL, &n, aad,
		    (int)aadlen), 1);
	if (inlen)
		assert_int_equal(EVP_EncryptUpdate(ctx, out, &n, in,
		    (int)inlen), 1);
	assert_int_equal(EVP_EncryptFinal_ex(ctx, out + inlen, &n), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG,
	    (int)taglen, out + inlen), 1);
	EVP_CIPHER_CTX_free(ctx);
}

static void
test_aes_gcm_roundtrip(void **state)
{
	struct m2m_backend *be = *state;
	const size_t keylens[] = { 16, 24, 32 };
	const size_t ivlens[] = { 1, 12, 16, 128 };
	const size_t taglens[] = { 4, 8, 12, 16 };
	const size_t ptlens[] = { 0, 1, 16, 33 };
	uint8_t key[32], iv[256], aad[40], pt[33], ct[33 + 16],
	    want[33 + 16], back[33];
	size_t a, i, t, p, outlen;
	struct blob b;
	struct m2m_keyref k;

	assert_int_equal(RAND_bytes(iv, sizeof(iv)), 1);
	assert_int_equal(RAND_bytes(aad, sizeof(aad)), 1);
	assert_int_equal(RAND_bytes(pt, sizeof(pt)), 1);
	for (a = 0; a < 3; a++) {
		assert_int_equal(RAND_bytes(key, sizeof(key)), 1);
		b = wrap(be, M2M_KIND_AES, key, keylens[a]);
		k = ref(b, M2M_KIND_AES);
		for (i = 0; i < 4; i++)
		for (t = 0; t < 4; t++)
		for (p = 0; p < 4; p++) {
			size_t aadlen = (i + t + p) % 2 ? sizeof(aad) : 0;

			gcm_ref(key, keylens[a], iv, ivlens[i], aad, aadlen,
			    pt, ptlens[p], taglens[t], want);
			outlen = 0;
			assert_int_equal(be->ops->aes_gcm(be->impl, &k, 1, iv,
			    ivlens[i], aadlen ? aad : NULL, aadlen,
			    taglens[t], pt, ptlens[p], ct, &outlen), 0);
			assert_int_equal(outlen, ptlens[p] + taglens[t]);
			assert_memory_equal(ct, want, outlen);
			assert_int_equal(be->ops->aes_gcm(be->impl, &k, 0, iv,
			    ivlens[i], aadlen ? aad : NULL, aadlen,
			    taglens[t], ct, outlen, back, &outlen), 0);
			assert_int_equal(outlen, ptlens[p]);
			if (outlen)
				assert_memory_equal(back, pt, outlen);
		}
		free(b.p);
	}
}

/* AES-256 "Test Case 14" of McGrew and Viega's GCM specification. */
static void
test_aes_gcm_known_answer(void **state)
{
	struct m2m_backend *be = *state;
	uint8_t key[32] = { 0 }, iv[12] = { 0 }, pt[16] = { 0 }, ct[32],
	    want[32];
	size_t outlen = 0;
	struct blob b;
	struct m2m_keyref k;

	unhex("cea7403d4d606b6e074ec5d3baf39d18"
	    "d0d1c8a799996bf0265b98b5d48ab919", want, sizeof(want));
	b = wrap(be, M2M_KIND_AES, key, 32);
	k = ref(b, M2M_KIND_AES);
	assert_int_equal(be->ops->aes_gcm(be->impl, &k, 1, iv, 12, NULL, 0,
	    16, pt, 16, ct, &outlen), 0);
	assert_int_equal(outlen, 32);
	assert_memory_equal(ct, want, 32);
	free(b.p);
}

static void
test_aes_gcm_tamper(void **state)
{
	struct m2m_backend *be = *state;
	uint8_t key[32], iv[256] = { 0 }, aad[8] = "header!",
	    pt[20] = "attack at dawn",
	    ct[36], t[36], out[20], keep[20];
	size_t outlen = 0, i;
	struct blob b, h;
	struct m2m_keyref k;

	assert_int_equal(RAND_bytes(key, sizeof(key)), 1);
	assert_int_equal(RAND_bytes(iv, sizeof(iv)), 1);
	b = wrap(be, M2M_KIND_AES, key, 32);
	k = ref(b, M2M_KIND_AES);
	assert_int_equal(be->ops->aes_gcm(be->impl, &k, 1, iv, 12, aad, 8, 16,
	    pt, 20, ct, &outlen), 0);
	assert_int_equal(outlen, 36);
	memset(out, 0xa5, sizeof(out));
	memcpy(keep, out, sizeof(out));

	/* every bit of ciphertext and tag is checked */
	for (i = 0; i < 36 * 8; i++) {
		memcpy(t, ct, 36);
		t[i / 8] ^= (uint8_t)(1u << (i % 8));
		outlen = SENTINEL_LEN;
		assert_int_equal(be->ops->aes_gcm(be->impl, &k, 0, iv, 12, aad,
		    8, 16, t, 36, out, &outlen),
		    M2M_ERR_ENCRYPTED_DATA_INVALID);
		assert_int_equal(outlen, SENTINEL_LEN);
		assert_memory_equal(out, keep, sizeof(out));
	}
	/* so are the AAD, the IV and the tag length */
	aad[0] ^= 1;
	assert_int_equal(be->ops->aes_gcm(be->impl, &k, 0, iv, 12, aad, 8, 16,
	    ct, 36, out, &outlen), M2M_ERR_ENCRYPTED_DATA_INVALID);
	aad[0] ^= 1;
	assert_int_equal(be->ops->aes_gcm(be->impl, &k, 0, iv, 12, NULL, 0,
	    16, ct, 36, out, &outlen), M2M_ERR_ENCRYPTED_DATA_INVALID);
	iv[11] ^= 0x80;
	assert_int_equal(be->ops->aes_gcm(be->impl, &k, 0, iv, 12, aad, 8, 16,
	    ct, 36, out, &outlen), M2M_ERR_ENCRYPTED_DATA_INVALID);
	iv[11] ^= 0x80;
	assert_int_equal(be->ops->aes_gcm(be->impl, &k, 0, iv, 11, aad, 8, 16,
	    ct, 36, out, &outlen), M2M_ERR_ENCRYPTED_DATA_INVALID);
	assert_int_equal(be->ops->aes_gcm(be->impl, &k, 0, iv, 12, aad, 8, 12,
	    ct, 36, out, &outlen), M2M_ERR_ENCRYPTED_DATA_INVALID);
	assert_memory_equal(out, keep, sizeof(out));

	/* parameter checks */
	outlen = SENTINEL_LEN;
	assert_int_equal(be->ops->aes_gcm(be->impl, &k, 0, iv, 12, aad, 8, 16,
	    ct, 15, out, &outlen), M2M_ERR_DATA_LEN);
	assert_int_equal(be->ops->aes_gcm(be->impl, &k, 1, iv, 12, aad, 8, 3,
	    pt, 20, ct, &outlen), M2M_ERR_MECHANISM_PARAM);
	assert_int_equal(be->ops->aes_gcm(be->impl, &k, 1, iv, 12, aad, 8, 17,
	    pt, 20, ct, &outlen), M2M_ERR_MECHANISM_PARAM);
	assert_int_equal(be->ops->aes_gcm(be->impl, &k, 1, iv, 0, aad, 8, 16,
	    pt, 20, ct, &outlen), M2M_ERR_MECHANISM_PARAM);
	assert_int_equal(be->ops->aes_gcm(be->impl, &k, 1, iv, 257, aad, 8, 16,
	    pt, 20, ct, &outlen), M2M_ERR_MECHANISM_PARAM);
	/* 129..256 is valid but beyond OpenSSL (see fake_backend.h) */
	assert_int_equal(be->ops->aes_gcm(be->impl, &k, 1, iv, 129, aad, 8, 16,
	    pt, 20, ct, &outlen), M2M_ERR_UNSUPPORTED);
	assert_int_equal(be->ops->aes_gcm(be->impl, &k, 1, NULL, 12, aad, 8,
	    16, pt, 20, ct, &outlen), M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(be->ops->aes_gcm(be->impl, &k, 1, iv, 12, aad, 8, 16,
	    pt, M2M_FAKE_DATA_MAX + 1, ct, &outlen), M2M_ERR_DATA_LEN);
	h = wrap(be, M2M_KIND_HMAC, key, 32);
	k = ref(h, M2M_KIND_HMAC);
	assert_int_equal(be->ops->aes_gcm(be->impl, &k, 1, iv, 12, aad, 8, 16,
	    pt, 20, ct, &outlen), M2M_ERR_KEY_TYPE);
	assert_int_equal(outlen, SENTINEL_LEN);
	free(h.p);
	free(b.p);
}

static void
test_reveal_random_stats(void **state)
{
	struct m2m_backend *be = *state;
	struct m2m_backend_stats st, st2;
	struct m2m_secret *s = NULL;
	uint8_t key[48], r1[64] = { 0 }, r2[64] = { 0 }, zero[64] = { 0 };
	struct blob b;
	struct m2m_keyref k;

	be->ops->stats(be->impl, &st);
	assert_int_equal(RAND_bytes(key, sizeof(key)), 1);
	b = wrap(be, M2M_KIND_HMAC, key, sizeof(key));
	k = ref(b, M2M_KIND_HMAC);
	assert_int_equal(be->ops->reveal(be->impl, &k, &s), 0);
	assert_int_equal(m2m_secret_len(s), sizeof(key));
	assert_memory_equal(m2m_secret_data(s), key, sizeof(key));
	m2m_secret_free(s);

	assert_int_equal(be->ops->random(be->impl, r1, sizeof(r1)), 0);
	assert_int_equal(be->ops->random(be->impl, r2, sizeof(r2)), 0);
	assert_memory_not_equal(r1, zero, sizeof(r1));
	assert_memory_not_equal(r1, r2, sizeof(r1));
	assert_int_equal(be->ops->random(be->impl, NULL, 0), 0);
	assert_int_equal(be->ops->random(be->impl, NULL, 1),
	    M2M_ERR_INVALID_ARGUMENT);
	be->ops->forget(be->impl, 42);

	/* wrap, reveal, 4 x random (a refused call counts too): 6, 1 load */
	be->ops->stats(be->impl, &st2);
	assert_int_equal(st2.commands - st.commands, 6);
	assert_int_equal(st2.loads - st.loads, 1);
	assert_null(be->ops->pin_seal);
	assert_null(be->ops->pin_check);
	assert_string_equal(be->ops->name, "fake");
	free(b.p);
}

static void
test_fail_after(void **state)
{
	struct m2m_backend *be = *state, other;
	struct m2m_secret *s = SENTINEL_PTR;
	uint8_t key[32] = { 7 }, out[32], keep[32];
	struct blob b, w;
	struct m2m_keyref k;
	int i;

	memset(out, 0x5a, sizeof(out));
	memcpy(keep, out, sizeof(out));
	b = wrap(be, M2M_KIND_HMAC, key, sizeof(key));
	k = ref(b, M2M_KIND_HMAC);

	/* n = 0: the very next operation fails, the one after works */
	m2m_fake_backend_fail_after(0);
	assert_int_equal(be->ops->hmac(be->impl, &k, M2M_HASH_SHA256,
	    (const uint8_t *)"x", 1, out), M2M_ERR_BACKEND);
	assert_memory_equal(out, keep, sizeof(out));
	assert_int_equal(be->ops->hmac(be->impl, &k, M2M_HASH_SHA256,
	    (const uint8_t *)"x", 1, out), 0);

	/* n = 2: two succeed, the third fails (nothing written), then on */
	m2m_fake_backend_fail_after(2);
	assert_int_equal(be->ops->random(be->impl, out, 4), 0);
	assert_int_equal(be->ops->reveal(be->impl, &k, &s), 0);
	m2m_secret_free(s);
	s = SENTINEL_PTR;
	assert_int_equal(be->ops->reveal(be->impl, &k, &s), M2M_ERR_BACKEND);
	assert_ptr_equal(s, SENTINEL_PTR);
	assert_int_equal(be->ops->reveal(be->impl, &k, &s), 0);
	m2m_secret_free(s);

	/* each operation can be the failing one */
	m2m_fake_backend_fail_after(0);
	w.p = SENTINEL_PTR;
	w.len = SENTINEL_LEN;
	assert_int_equal(be->ops->wrap(be->impl, M2M_KIND_HMAC, key, 32, &w.p,
	    &w.len), M2M_ERR_BACKEND);
	assert_ptr_equal(w.p, SENTINEL_PTR);
	assert_int_equal(w.len, SENTINEL_LEN);
	memcpy(out, keep, sizeof(out));
	m2m_fake_backend_fail_after(0);
	assert_int_equal(be->ops->random(be->impl, out, sizeof(out)),
	    M2M_ERR_BACKEND);
	m2m_fake_backend_fail_after(0);
	assert_int_equal(be->ops->hmac_keymsg(be->impl, key, 32, &k,
	    M2M_HASH_SHA256, out), M2M_ERR_BACKEND);
	m2m_fake_backend_fail_after(0);
	assert_int_equal(be->ops->aes_gcm(be->impl, &k, 1, key, 12, NULL, 0,
	    16, key, 4, out, &w.len), M2M_ERR_BACKEND);
	assert_memory_equal(out, keep, sizeof(out));
	assert_int_equal(w.len, SENTINEL_LEN);

	/* process-wide: counts operations on any fake backend */
	assert_int_equal(m2m_fake_backend_open(&other), 0);
	m2m_fake_backend_fail_after(1);
	assert_int_equal(other.ops->random(other.impl, out, 4), 0);
	assert_int_equal(be->ops->random(be->impl, out, 4), M2M_ERR_BACKEND);
	other.ops->close(other.impl);

	/* n < 0: off */
	m2m_fake_backend_fail_after(1);
	m2m_fake_backend_fail_after(-5);
	for (i = 0; i < 20; i++)
		assert_int_equal(be->ops->random(be->impl, out, 4), 0);
	free(b.p);
}

static void
test_open_args(void **state)
{
	const struct m2m_backend_ops *ops = &m2m_fake_backend_ops;
	char err[64] = "";
	void *impl = NULL;

	(void)state;
	assert_int_equal(m2m_fake_backend_open(NULL),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(ops->open(NULL, NULL, err, sizeof(err)),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(ops->open(NULL, &impl, err, sizeof(err)), 0);
	assert_non_null(impl);
	ops->close(impl);
	ops->close(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rfc4231_wrap_hmac, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rfc4231_keymsg, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_keymsg_vs_openssl, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_hmac_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tampered_blob, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_aes_gcm_roundtrip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_aes_gcm_known_answer,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_aes_gcm_tamper, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reveal_random_stats,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_fail_after, setup,
		    teardown),
		cmocka_unit_test(test_open_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
