/*
 * The PSK cache of an m2m_tls context: identity -> (key handle, reference),
 * so that a handshake with a known identity needs neither the token's
 * search (C_FindObjects*) nor a reference MAC, on either side.  Nothing in
 * it is trusted: an entry is reused only after one C_GetAttributeValue has
 * shown that its handle still is a secret key with that label and a PSK
 * role (else a fresh lookup replaces it), and at derivation a reference is
 * accepted on the strength of an entry only when it equals the entry's
 * reference and the key's label is still the entry's identity, i.e. when
 * its MAC would verify anyway.  Expiry and role policy stay with the token
 * (C_DeriveKey checks them on every use).
 */
#include <pthread.h>
#include <string.h>

#include <openssl/crypto.h>

#include "tls_int.h"

/*
 * A reference binds the process (its pid is in the MAC); the cache notices
 * a fork without a getpid() system call per handshake: the child's entries
 * have an older generation and are ignored.
 */
static pthread_once_t gen_once = PTHREAD_ONCE_INIT;
static volatile unsigned long fork_gen = 1;

static void
gen_child(void)
{
	fork_gen++;	/* the child runs this alone, before anything else */
}

static void
gen_init(void)
{
	if (pthread_atfork(NULL, NULL, gen_child) != 0)
		fork_gen = 0;	/* cannot tell: never trust an entry */
}

static unsigned long
gen_now(void)
{
	pthread_once(&gen_once, gen_init);
	return fork_gen;
}

static struct m2m_tls_psk *
entry_find(struct m2m_tls *t, const uint8_t *id, size_t idlen,
    unsigned long gen)
{
	size_t i;

	for (i = 0; i < M2M_TLS_CACHE_MAX; i++) {
		struct m2m_tls_psk *e = &t->psk[i];

		if (e->idlen == idlen && e->gen == gen &&
		    memcmp(e->id, id, idlen) == 0)
			return e;
	}
	return NULL;
}

static void
entry_clear(struct m2m_tls_psk *e)
{
	OPENSSL_cleanse(e, sizeof(*e));
}

/* see tls_int.h */
CK_RV
m2m_tls_psk_ref(struct m2m_tls *t, const uint8_t *id, size_t idlen,
    uint8_t *ret)
{
	struct m2m_tls_psk *e;
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	uint8_t ref[M2M_TLS_REF_LEN];
	unsigned long gen = gen_now();
	CK_RV rv;

	if (idlen == 0 || idlen > M2M_TLS_LABEL_MAX)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&t->lock);
	if ((e = entry_find(t, id, idlen, gen)) != NULL) {
		if (gen != 0 && m2m_p11_check_psk(t->f, t->session, e->h, id,
		    idlen) == CKR_OK) {
			memcpy(ret, e->ref, sizeof(e->ref));
			rv = CKR_OK;
			goto out;
		}
		entry_clear(e);	/* stale: renamed, destroyed, replaced */
	}
	if ((rv = m2m_p11_find_psk(t->f, t->session, id, idlen, &h)) !=
	    CKR_OK)
		goto out;
	if (!m2m_tls_ref_make(t, h, id, idlen, ref)) {
		rv = CKR_FUNCTION_FAILED;
		goto out;
	}
	if (gen != 0) {
		e = &t->psk[t->psk_next];
		t->psk_next = (t->psk_next + 1) % M2M_TLS_CACHE_MAX;
		entry_clear(e);
		e->h = h;
		e->gen = gen;
		memcpy(e->id, id, idlen);
		e->idlen = idlen;
		memcpy(e->ref, ref, sizeof(ref));
	}
	memcpy(ret, ref, sizeof(ref));
	rv = CKR_OK;
 out:
	pthread_mutex_unlock(&t->lock);
	OPENSSL_cleanse(ref, sizeof(ref));
	return rv;
}

/* see tls_int.h */
int
m2m_tls_cache_vouches(const struct m2m_tls *t, CK_OBJECT_HANDLE h,
    const uint8_t *ref, const uint8_t *label, size_t label_len)
{
	unsigned long gen = gen_now();
	size_t i;

	if (gen == 0)
		return 0;
	for (i = 0; i < M2M_TLS_CACHE_MAX; i++) {
		const struct m2m_tls_psk *e = &t->psk[i];

		if (e->idlen != 0 && e->gen == gen && e->h == h &&
		    e->idlen == label_len &&
		    memcmp(e->id, label, label_len) == 0 &&
		    CRYPTO_memcmp(e->ref, ref, sizeof(e->ref)) == 0)
			return 1;
	}
	return 0;
}
