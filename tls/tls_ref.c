/*
 * Key references (format in tls_int.h, design in docs/architecture.md,
 * libm2mtls): what the PSK callbacks hand libssl instead of a PSK, and the
 * MAC with a per-process key that binds one to its key's label, its
 * context and its process.  Calls nothing else of tls/: the PSK cache
 * (tls_cache.c) makes references here, the master-secret step
 * (tls_master.c) checks them here.
 */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "tls_int.h"

#define REF_MAC_LEN	32

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static uint8_t proc_key[32];
static int proc_key_ok;

static void
proc_key_init(void)
{
	proc_key_ok = RAND_bytes(proc_key, sizeof(proc_key)) == 1;
}

/* HMAC(process key, hdr || label || nonce || pid) into mac */
static int
ref_mac(const struct m2m_tls *t, const uint8_t *hdr, const uint8_t *label,
    size_t label_len, uint8_t mac[REF_MAC_LEN])
{
	uint8_t buf[M2M_TLS_REF_HDR_LEN + M2M_TLS_LABEL_MAX + 16 + 4];
	uint32_t pid = (uint32_t)getpid();
	EVP_MAC_CTX *c = NULL;
	size_t n = 0, maclen = 0;
	int ok;

	if (t->refmac == NULL || label_len > M2M_TLS_LABEL_MAX)
		return 0;
	memcpy(buf, hdr, M2M_TLS_REF_HDR_LEN);
	n += M2M_TLS_REF_HDR_LEN;
	memcpy(buf + n, label, label_len);
	n += label_len;
	memcpy(buf + n, t->nonce, sizeof(t->nonce));
	n += sizeof(t->nonce);
	memcpy(buf + n, &pid, sizeof(pid));
	n += sizeof(pid);
	/* a copy of the keyed context: no fetch, no key schedule per call */
	ok = (c = EVP_MAC_CTX_dup(t->refmac)) != NULL &&
	    EVP_MAC_update(c, buf, n) == 1 &&
	    EVP_MAC_final(c, mac, &maclen, REF_MAC_LEN) == 1 &&
	    maclen == REF_MAC_LEN;
	EVP_MAC_CTX_free(c);
	OPENSSL_cleanse(buf, sizeof(buf));
	return ok;
}

/* see tls_int.h */
int
m2m_tls_ref_init(struct m2m_tls *t)
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
	if (!ref_mac(t, r, label, label_len, r + M2M_TLS_REF_HDR_LEN))
		return 0;
	memcpy(ret, r, sizeof(r));
	return 1;
}

/* see tls_int.h */
int
m2m_tls_ref_wellformed(const uint8_t *ref, size_t len)
{
	return len == M2M_TLS_REF_LEN &&
	    memcmp(ref, M2M_TLS_REF_MAGIC, 4) == 0 &&
	    ref[4] == M2M_TLS_REF_VERSION;
}

/* see tls_int.h */
void
m2m_tls_ref_key(const uint8_t *ref, uint32_t *ret_slot,
    CK_OBJECT_HANDLE *ret_h)
{
	uint64_t hv = 0;
	size_t i;

	for (i = 0; i < 8; i++)
		hv = hv << 8 | ref[9 + i];
	*ret_slot = (uint32_t)ref[5] << 24 | (uint32_t)ref[6] << 16 |
	    (uint32_t)ref[7] << 8 | ref[8];
	*ret_h = (CK_OBJECT_HANDLE)hv;
}

/* see tls_int.h */
int
m2m_tls_ref_verify(const struct m2m_tls *t, const uint8_t *ref,
    const uint8_t *label, size_t label_len)
{
	uint8_t mac[REF_MAC_LEN];
	int ok;

	ok = ref_mac(t, ref, label, label_len, mac) &&
	    CRYPTO_memcmp(mac, ref + M2M_TLS_REF_HDR_LEN, sizeof(mac)) == 0;
	OPENSSL_cleanse(mac, sizeof(mac));
	return ok;
}
