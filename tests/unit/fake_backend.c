/* m2mtoken: a software backend for unit tests.  See fake_backend.h. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "err.h"
#include "fake_backend.h"
#include "secret.h"

#define FAKE_MAGIC	"M2MF"
#define FAKE_MAGIC_LEN	4
#define FAKE_HDR_LEN	(FAKE_MAGIC_LEN + 1)	/* magic || kind */
#define FAKE_NONCE_LEN	12
#define FAKE_TAG_LEN	16
#define FAKE_KEK_LEN	32
#define FAKE_OVERHEAD	(FAKE_HDR_LEN + FAKE_NONCE_LEN + FAKE_TAG_LEN)
#define FAKE_GCM_IV_MAX	128	/* OpenSSL 3's GCM limit (contract: 256) */

struct fake {
	struct m2m_secret	*kek;		/* the "wrapping key" */
	struct m2m_secret	*bindkey;	/* the "binding key" */
	unsigned long		 commands;	/* atomic */
	unsigned long		 loads;		/* atomic */
};

/* Operations left before the injected failure; < 0: none.  Atomic. */
static int fake_fail_countdown = -1;

/* see fake_backend.h */
void
m2m_fake_backend_fail_after(int n)
{
	__atomic_store_n(&fake_fail_countdown, n < 0 ? -1 : n,
	    __ATOMIC_SEQ_CST);
}

/* 1 if this operation is the one to fail (and turns injection off). */
static int
fake_injected(void)
{
	int v, next;

	v = __atomic_load_n(&fake_fail_countdown, __ATOMIC_SEQ_CST);
	do {
		if (v < 0)
			return 0;
		next = v == 0 ? -1 : v - 1;
	} while (!__atomic_compare_exchange_n(&fake_fail_countdown, &v, next,
	    0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
	return v == 0;
}

/* Count one operation; M2M_ERR_BACKEND when it is the injected failure. */
static int
fake_begin(struct fake *f)
{
	if (f == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	__atomic_add_fetch(&f->commands, 1, __ATOMIC_RELAXED);
	return fake_injected() ? M2M_ERR_BACKEND : 0;
}

static const EVP_MD *
fake_md(enum m2m_hash h)
{
	switch (h) {
	case M2M_HASH_SHA256:	return EVP_sha256();
	case M2M_HASH_SHA384:	return EVP_sha384();
	case M2M_HASH_SHA512:	return EVP_sha512();
	default:		return NULL;
	}
}

static const EVP_CIPHER *
fake_gcm(size_t keylen)
{
	switch (keylen) {
	case 16:	return EVP_aes_128_gcm();
	case 24:	return EVP_aes_192_gcm();
	case 32:	return EVP_aes_256_gcm();
	default:	return NULL;
	}
}

/* Open the blob of key; want 0 accepts either kind. */
static int
fake_unwrap(struct fake *f, const struct m2m_keyref *key,
    enum m2m_key_kind want, struct m2m_secret **ret)
{
	struct m2m_secret *s = NULL;
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t tag[FAKE_TAG_LEN];
	const uint8_t *b;
	size_t keylen;
	int n, r = M2M_ERR_INTERNAL;

	if (key == NULL || key->blob == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if (want != 0 && key->kind != want)
		return M2M_ERR_KEY_TYPE;
	b = key->blob;
	if (key->bloblen <= FAKE_OVERHEAD || key->bloblen > M2M_BLOB_MAX ||
	    key->bloblen - FAKE_OVERHEAD > M2M_KEY_MAX ||
	    memcmp(b, FAKE_MAGIC, FAKE_MAGIC_LEN) != 0 ||
	    b[FAKE_MAGIC_LEN] != (uint8_t)key->kind)
		return M2M_ERR_BACKEND;
	keylen = key->bloblen - FAKE_OVERHEAD;
	memcpy(tag, b + key->bloblen - FAKE_TAG_LEN, FAKE_TAG_LEN);
	if ((r = m2m_secret_new(keylen, &s)) != 0)
		goto out;
	r = M2M_ERR_BACKEND;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		goto out;
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL,
	    m2m_secret_data(f->kek), b + FAKE_HDR_LEN) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &n, b, FAKE_HDR_LEN) != 1 ||
	    EVP_DecryptUpdate(ctx, m2m_secret_data(s), &n,
	    b + FAKE_HDR_LEN + FAKE_NONCE_LEN, (int)keylen) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, FAKE_TAG_LEN,
	    tag) != 1 ||
	    EVP_DecryptFinal_ex(ctx, m2m_secret_data(s) + n, &n) != 1)
		goto out;
	__atomic_add_fetch(&f->loads, 1, __ATOMIC_RELAXED);
	*ret = s;
	s = NULL;	/* transferred */
	r = 0;
 out:
	EVP_CIPHER_CTX_free(ctx);
	m2m_secret_free(s);
	return r;
}

static int
fake_open(const struct m2m_conf *conf, void **ret_impl, char *errbuf,
    size_t errlen)
{
	struct fake *f = NULL;
	int r = M2M_ERR_INTERNAL;

	(void)conf;
	if (ret_impl == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if ((f = calloc(1, sizeof(*f))) == NULL) {
		r = M2M_ERR_NO_MEMORY;
		goto out;
	}
	if ((r = m2m_secret_new(FAKE_KEK_LEN, &f->kek)) != 0)
		goto out;
	if (RAND_bytes(m2m_secret_data(f->kek), FAKE_KEK_LEN) != 1) {
		r = M2M_ERR_RANDOM;
		goto out;
	}
	if ((r = m2m_secret_new(FAKE_KEK_LEN, &f->bindkey)) != 0)
		goto out;
	if (RAND_bytes(m2m_secret_data(f->bindkey), FAKE_KEK_LEN) != 1) {
		r = M2M_ERR_RANDOM;
		goto out;
	}
	*ret_impl = f;
	f = NULL;	/* transferred */
	r = 0;
 out:
	if (r != 0 && errbuf != NULL && errlen != 0)
		snprintf(errbuf, errlen, "fake backend: %s", m2m_strerror(r));
	if (f != NULL) {
		m2m_secret_free(f->kek);
		m2m_secret_free(f->bindkey);
		free(f);
	}
	return r;
}

static void
fake_close(void *impl)
{
	struct fake *f = impl;

	if (f == NULL)
		return;
	m2m_secret_free(f->kek);
	m2m_secret_free(f->bindkey);
	free(f);
}

static int
fake_wrap(void *impl, enum m2m_key_kind kind, const uint8_t *key, size_t len,
    uint8_t **ret_blob, size_t *ret_bloblen)
{
	struct fake *f = impl;
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t *blob = NULL, *nonce;
	size_t bloblen;
	int n, r;

	if ((r = fake_begin(f)) != 0)
		return r;
	if (key == NULL || ret_blob == NULL || ret_bloblen == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	switch (kind) {
	case M2M_KIND_HMAC:
		if (len < 1 || len > M2M_KEY_MAX)
			return M2M_ERR_KEY_SIZE;
		break;
	case M2M_KIND_AES:
		if (fake_gcm(len) == NULL)
			return M2M_ERR_KEY_SIZE;
		break;
	default:
		return M2M_ERR_INVALID_ARGUMENT;
	}
	bloblen = FAKE_OVERHEAD + len;
	if ((blob = malloc(bloblen)) == NULL)
		return M2M_ERR_NO_MEMORY;
	memcpy(blob, FAKE_MAGIC, FAKE_MAGIC_LEN);
	blob[FAKE_MAGIC_LEN] = (uint8_t)kind;
	nonce = blob + FAKE_HDR_LEN;
	if (RAND_bytes(nonce, FAKE_NONCE_LEN) != 1) {
		r = M2M_ERR_RANDOM;
		goto out;
	}
	r = M2M_ERR_BACKEND;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		goto out;
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL,
	    m2m_secret_data(f->kek), nonce) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &n, blob, FAKE_HDR_LEN) != 1 ||
	    EVP_EncryptUpdate(ctx, nonce + FAKE_NONCE_LEN, &n, key,
	    (int)len) != 1 ||
	    EVP_EncryptFinal_ex(ctx, nonce + FAKE_NONCE_LEN + n, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, FAKE_TAG_LEN,
	    blob + bloblen - FAKE_TAG_LEN) != 1)
		goto out;
	*ret_blob = blob;
	*ret_bloblen = bloblen;
	blob = NULL;	/* transferred */
	r = 0;
 out:
	EVP_CIPHER_CTX_free(ctx);
	free(blob);
	return r;
}

/* HMAC-hash(key, msg) into out (m2m_hash_len(hash) bytes). */
static int
fake_do_hmac(enum m2m_hash hash, const uint8_t *key, size_t keylen,
    const uint8_t *msg, size_t msglen, uint8_t *out)
{
	static const uint8_t empty[1];
	uint8_t md[M2M_HASH_MAX_LEN];
	unsigned int mdlen = 0;
	const EVP_MD *evp;
	int r = M2M_ERR_BACKEND;

	if ((evp = fake_md(hash)) == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if (keylen > INT_MAX)
		return M2M_ERR_KEY_SIZE;
	if (HMAC(evp, keylen != 0 ? key : empty, (int)keylen,
	    msglen != 0 ? msg : empty, msglen, md, &mdlen) == NULL ||
	    mdlen != m2m_hash_len(hash))
		goto out;
	memcpy(out, md, mdlen);
	r = 0;
 out:
	m2m_wipe(md, sizeof(md));
	return r;
}

static int
fake_hmac(void *impl, const struct m2m_keyref *key, enum m2m_hash hash,
    const uint8_t *msg, size_t msglen, uint8_t *out)
{
	struct fake *f = impl;
	struct m2m_secret *k = NULL;
	int r;

	if ((r = fake_begin(f)) != 0)
		return r;
	if (key == NULL || out == NULL || (msg == NULL && msglen != 0))
		return M2M_ERR_INVALID_ARGUMENT;
	if (fake_md(hash) == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if ((r = fake_unwrap(f, key, M2M_KIND_HMAC, &k)) != 0)
		goto out;
	r = fake_do_hmac(hash, m2m_secret_data(k), m2m_secret_len(k), msg,
	    msglen, out);
 out:
	m2m_secret_free(k);
	return r;
}

static int
fake_hmac_keymsg(void *impl, const uint8_t *hmac_key, size_t hmac_keylen,
    const struct m2m_keyref *msgkey, enum m2m_hash hash, uint8_t *out)
{
	struct fake *f = impl;
	struct m2m_secret *m = NULL;
	int r;

	if ((r = fake_begin(f)) != 0)
		return r;
	if ((hmac_key == NULL && hmac_keylen != 0) || msgkey == NULL ||
	    out == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if (fake_md(hash) == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if ((r = fake_unwrap(f, msgkey, 0, &m)) != 0)
		goto out;
	r = fake_do_hmac(hash, hmac_key, hmac_keylen, m2m_secret_data(m),
	    m2m_secret_len(m), out);
 out:
	m2m_secret_free(m);
	return r;
}

static int
fake_aes_gcm(void *impl, const struct m2m_keyref *key, int encrypt,
    const uint8_t *iv, size_t ivlen, const uint8_t *aad, size_t aadlen,
    size_t taglen, const uint8_t *in, size_t inlen, uint8_t *out,
    size_t *ret_outlen)
{
	struct fake *f = impl;
	struct m2m_secret *k = NULL, *tmp = NULL;
	EVP_CIPHER_CTX *ctx = NULL;
	const EVP_CIPHER *cipher;
	uint8_t tag[16], *t;
	size_t datalen, outlen;
	int n, r;

	if ((r = fake_begin(f)) != 0)
		return r;
	if (key == NULL || iv == NULL || out == NULL || ret_outlen == NULL ||
	    (aad == NULL && aadlen != 0) || (in == NULL && inlen != 0))
		return M2M_ERR_INVALID_ARGUMENT;
	if (taglen < 4 || taglen > 16 || ivlen < 1 || ivlen > 256)
		return M2M_ERR_MECHANISM_PARAM;
	if (ivlen > FAKE_GCM_IV_MAX)
		return M2M_ERR_UNSUPPORTED;
	if (inlen > M2M_FAKE_DATA_MAX || aadlen > M2M_FAKE_DATA_MAX ||
	    (!encrypt && inlen < taglen))
		return M2M_ERR_DATA_LEN;
	datalen = encrypt ? inlen : inlen - taglen;
	outlen = encrypt ? inlen + taglen : datalen;
	if ((r = fake_unwrap(f, key, M2M_KIND_AES, &k)) != 0)
		goto out;
	if ((cipher = fake_gcm(m2m_secret_len(k))) == NULL) {
		r = M2M_ERR_KEY_SIZE;
		goto out;
	}
	/* the result goes to out only once the tag is right */
	if ((r = m2m_secret_new(outlen, &tmp)) != 0)
		goto out;
	t = m2m_secret_data(tmp);
	r = M2M_ERR_BACKEND;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		goto out;
	if (EVP_CipherInit_ex(ctx, cipher, NULL, NULL, NULL,
	    encrypt ? 1 : 0) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, (int)ivlen,
	    NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, m2m_secret_data(k), iv, -1) != 1)
		goto out;
	if (aadlen != 0 &&
	    EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aadlen) != 1)
		goto out;
	if (datalen != 0 &&
	    EVP_CipherUpdate(ctx, t, &n, in, (int)datalen) != 1)
		goto out;
	if (encrypt) {
		if (EVP_CipherFinal_ex(ctx, t + datalen, &n) != 1 ||
		    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG,
		    (int)taglen, t + datalen) != 1)
			goto out;
	} else {
		memcpy(tag, in + datalen, taglen);
		if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG,
		    (int)taglen, tag) != 1)
			goto out;
		if (EVP_CipherFinal_ex(ctx, t + datalen, &n) != 1) {
			r = M2M_ERR_ENCRYPTED_DATA_INVALID;
			goto out;
		}
	}
	if (outlen != 0)
		memcpy(out, t, outlen);
	*ret_outlen = outlen;
	r = 0;
 out:
	EVP_CIPHER_CTX_free(ctx);
	m2m_secret_free(tmp);
	m2m_secret_free(k);
	return r;
}

static int
fake_reveal(void *impl, const struct m2m_keyref *key, struct m2m_secret **ret)
{
	struct fake *f = impl;
	struct m2m_secret *s = NULL;
	int r;

	if ((r = fake_begin(f)) != 0)
		return r;
	if (key == NULL || ret == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if ((r = fake_unwrap(f, key, 0, &s)) != 0)
		return r;
	*ret = s;
	return 0;
}

static int
fake_random(void *impl, uint8_t *out, size_t len)
{
	struct fake *f = impl;
	int r;

	if ((r = fake_begin(f)) != 0)
		return r;
	if ((out == NULL && len != 0) || len > INT_MAX)
		return M2M_ERR_INVALID_ARGUMENT;
	if (len != 0 && RAND_bytes(out, (int)len) != 1)
		return M2M_ERR_RANDOM;
	return 0;
}

static int
fake_bind_mac(void *impl, const uint8_t *msg, size_t msglen, uint8_t *out)
{
	struct fake *f = impl;
	int r;

	if ((r = fake_begin(f)) != 0)
		return r;
	if (msg == NULL || msglen == 0 || msglen > M2M_BIND_MSG_MAX ||
	    out == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	return fake_do_hmac(M2M_HASH_SHA256, m2m_secret_data(f->bindkey),
	    m2m_secret_len(f->bindkey), msg, msglen, out);
}

static void
fake_forget(void *impl, uint64_t id)
{
	/* nothing is cached */
	(void)impl;
	(void)id;
}

static void
fake_stats(void *impl, struct m2m_backend_stats *ret)
{
	struct fake *f = impl;

	if (f == NULL || ret == NULL)
		return;
	ret->commands = __atomic_load_n(&f->commands, __ATOMIC_RELAXED);
	ret->loads = __atomic_load_n(&f->loads, __ATOMIC_RELAXED);
}

const struct m2m_backend_ops m2m_fake_backend_ops = {
	.name = "fake",
	.open = fake_open,
	.close = fake_close,
	.wrap = fake_wrap,
	.hmac = fake_hmac,
	.hmac_keymsg = fake_hmac_keymsg,
	.aes_gcm = fake_aes_gcm,
	.reveal = fake_reveal,
	.random = fake_random,
	.forget = fake_forget,
	.stats = fake_stats,
	.pin_seal = NULL,
	.pin_check = NULL,
	.bind_mac = fake_bind_mac,
};

/* see fake_backend.h */
int
m2m_fake_backend_open(struct m2m_backend *ret)
{
	void *impl = NULL;
	int r;

	if (ret == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if ((r = fake_open(NULL, &impl, NULL, 0)) != 0)
		return r;
	ret->ops = &m2m_fake_backend_ops;
	ret->impl = impl;
	return 0;
}
