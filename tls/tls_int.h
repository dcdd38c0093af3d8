/*
 * tls/: internals of libm2mtls shared by its files; calls run one way:
 * tls_ctx.c (contexts) -> tls_prov.c (provider) -> tls_master.c (master
 * secret in the token) -> tls_cache.c (PSK cache) -> tls_ref.c (key
 * references), each also using the ones below it.  docs/architecture.md,
 * libm2mtls, has the design.
 */
#ifndef M2M_TLS_INT_H
#define M2M_TLS_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/core.h>
#include <openssl/kdf.h>
#include <openssl/ssl.h>

#include <m2mtoken/tls.h>
#include "tls_p11.h"

#define M2M_TLS_PROV_NAME	"m2mtoken"
#define M2M_TLS_PROPQ		"?provider=m2mtoken"

/*
 * A key reference, what the PSK callbacks give libssl instead of a PSK:
 *   magic "m2mR" (4) || version 1 (1) || slot (4, BE) || handle (8, BE)
 *   || HMAC-SHA-256(process key, magic..handle || label || ctx nonce) (32)
 * It binds the key (slot, object handle, CKA_LABEL) to this process (the
 * key is random per process) and to one m2m_tls context (the nonce).
 */
#define M2M_TLS_REF_MAGIC	"m2mR"
#define M2M_TLS_REF_VERSION	1
#define M2M_TLS_REF_HDR_LEN	17	/* magic, version, slot, handle */
#define M2M_TLS_REF_LEN		49
#define M2M_TLS_MASTER_LEN	48
#define M2M_TLS_LABEL_MAX	256
#define M2M_TLS_CACHE_MAX	8

/*
 * One entry of a context's PSK cache (tls_cache.c): the reference made for
 * identity id, whose key was h when it was looked up.  A hint only: h is
 * checked against the token (class, label, role) before each reuse, and at
 * derivation a reference is vouched for by an entry only when it equals
 * ref byte for byte and h is still labelled id, which is exactly when its
 * MAC would verify.  gen is the process's fork generation when made.
 */
struct m2m_tls_psk {
	CK_OBJECT_HANDLE	h;
	unsigned long		gen;
	size_t			idlen;		/* 0: unused */
	uint8_t			id[M2M_TLS_LABEL_MAX];
	uint8_t			ref[M2M_TLS_REF_LEN];
};

/* One m2m_tls_ctx_new() context. */
struct m2m_tls {
	OSSL_LIB_CTX		*libctx;
	OSSL_PROVIDER		*prov_default;
	OSSL_PROVIDER		*prov_m2m;
	EVP_KDF			*prf;		/* the default TLS1-PRF */
	EVP_MD			*sha256;	/* PRF digests, fetched once */
	EVP_MD			*sha384;
	EVP_MAC_CTX		*refmac;	/* HMAC keyed with the process
						   key, copied per reference */
	CK_FUNCTION_LIST_PTR	f;
	CK_SLOT_ID		slot;
	CK_SESSION_HANDLE	session;
	pthread_mutex_t		lock;		/* serialises session use */
	uint8_t			nonce[16];
	struct m2m_tls_psk	psk[M2M_TLS_CACHE_MAX];	/* under lock */
	unsigned int		psk_next;	/* next entry to replace */
	int			role;
	int			dtls;
	char			*sni;
	char			*identity;
	m2m_tls_unknown_psk_fn	unknown_psk;	/* server, or NULL */
	void			*unknown_psk_arg;
	CK_OBJECT_HANDLE	decoy;		/* server: the PSK of an
						   identity without one */
};

/*
 * Register the provider in t->libctx and load it there (with the default
 * provider), fetch the default TLS1-PRF and the PRF digests.  1 on
 * success, 0 on failure.  (tls_prov.c)
 */
int	m2m_tls_prov_load(struct m2m_tls *t);

/*
 * Key references (tls_ref.c).  Key t->refmac with the process key (random,
 * made once per process) for t's references; needs the default provider in
 * t->libctx.  1 on success, 0 on failure.
 */
int	m2m_tls_ref_init(struct m2m_tls *t);

/*
 * Make the reference of key h (label, label_len bytes) of t's slot.
 * ret holds M2M_TLS_REF_LEN bytes.  1 on success, 0 on failure.
 */
int	m2m_tls_ref_make(const struct m2m_tls *t, CK_OBJECT_HANDLE h,
	    const uint8_t *label, size_t label_len, uint8_t *ret);

/* Whether ref (len bytes) has a reference's length, magic and version. */
int	m2m_tls_ref_wellformed(const uint8_t *ref, size_t len);

/* The slot and object handle a well-formed ref names (not verified). */
void	m2m_tls_ref_key(const uint8_t *ref, uint32_t *ret_slot,
	    CK_OBJECT_HANDLE *ret_h);

/*
 * Whether the MAC of the well-formed ref verifies, in constant time, for
 * a key labelled label (label_len bytes) in t and this process.  1 or 0.
 */
int	m2m_tls_ref_verify(const struct m2m_tls *t, const uint8_t *ref,
	    const uint8_t *label, size_t label_len);

/*
 * Verify ref (len bytes) against t in constant time (or by the PSK cache,
 * m2m_tls_cache_vouches()) and compute the 48-byte master secret in the
 * token: mdname is the PRF digest (SHA2-256 or SHA2-384), seed the PRF
 * seed ("master secret" || randoms, or "extended master secret" || session
 * hash).  out (outlen must be 48) is secret.  1 on success, 0 with an
 * error on the OpenSSL error stack and an error line logged (tls_log.h)
 * otherwise.  Takes t->lock.  (tls_master.c)
 */
int	m2m_tls_ref_derive(struct m2m_tls *t, const uint8_t *ref, size_t len,
	    const char *mdname, const uint8_t *seed, size_t seedlen,
	    uint8_t *out, size_t outlen);

/*
 * The reference of the PSK key labelled id (idlen bytes, 1 to
 * M2M_TLS_LABEL_MAX) into ret (M2M_TLS_REF_LEN bytes), from the cache when
 * its entry still names a secret key labelled id with a PSK role, else from
 * a fresh lookup (m2m_p11_find_psk), which then replaces the entry.  Takes
 * t->lock.  CKR_OK, CKR_KEY_HANDLE_INVALID when the token has no such key,
 * CKR_FUNCTION_FAILED when the reference cannot be made (OpenSSL), or the
 * failing CK_RV of the lookup.  (tls_cache.c)
 */
CK_RV	m2m_tls_psk_ref(struct m2m_tls *t, const uint8_t *id, size_t idlen,
	    uint8_t *ret);

/*
 * Whether ref (M2M_TLS_REF_LEN bytes) is, in constant time, one that
 * m2m_tls_psk_ref() made for key h in this process, and h is labelled
 * label (label_len bytes) now: then its MAC verifies without being
 * computed.  0 means "not known", not "forged": check the MAC then.
 * Call with t->lock held.
 */
int	m2m_tls_cache_vouches(const struct m2m_tls *t, CK_OBJECT_HANDLE h,
	    const uint8_t *ref, const uint8_t *label, size_t label_len);

/*
 * For tests: the provider's KDF of t, as a plain EVP_KDF fetch would give it
 * (EVP_KDF_fetch(t->libctx, "TLS1-PRF", "provider=m2mtoken")).
 */
EVP_KDF	*m2m_tls_prov_kdf(struct m2m_tls *t);

/* The m2m_tls of an SSL_CTX from m2m_tls_ctx_new(), or NULL. */
struct m2m_tls *m2m_tls_of(SSL_CTX *ctx);

#endif /* M2M_TLS_INT_H */
