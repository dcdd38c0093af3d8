/*
 * m2mtoken: oneM2M derivations as backend HMAC steps.  See kdf.h.
 * The formulas are those of shared/spec/onem2m-keys.md sections 3-4.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/hmac.h>

#include "err.h"
#include "ident.h"
#include "kdf.h"
#include "secret.h"

static int
hmac_step(const struct m2m_backend *be, const struct m2m_keyref *key,
    enum m2m_hash hash, const uint8_t *msg, size_t msglen,
    struct m2m_secret **ret)
{
	struct m2m_secret *out = NULL;
	int r;

	if ((r = m2m_secret_new(m2m_hash_len(hash), &out)) != 0)
		return r;
	if ((r = be->ops->hmac(be->impl, key, hash, msg, msglen,
	    m2m_secret_data(out))) != 0) {
		m2m_secret_free(out);
		return r;
	}
	*ret = out;
	return 0;
}

/* see kdf.h */
int
m2m_kdf_from_ke(const struct m2m_backend *be, const struct m2m_keyref *ke,
    enum m2m_ke_kdf which, unsigned long suid, const uint8_t *id,
    size_t idlen, struct m2m_secret **ret)
{
	char digits[32] = "";
	const char *label;
	uint8_t *msg = NULL;
	size_t llen, dlen = 0, off = 0;
	int r = M2M_ERR_INTERNAL;

	if (be == NULL || ke == NULL || id == NULL || ret == NULL ||
	    idlen == 0 || idlen > M2M_ID_MAX)
		return M2M_ERR_INVALID_ARGUMENT;
	switch (which) {
	case M2M_KDF_KM:
		label = M2M_LABEL_KM;
		break;
	case M2M_KDF_KPSA:
		label = M2M_LABEL_KPSA;
		break;
	case M2M_KDF_KUC:
		label = M2M_LABEL_KUC;
		/*
		 * [profile] SUID as its two decimal ASCII digits: one digit
		 * would make (SUID, id) ambiguous, nothing separates them
		 */
		if (suid < 10 || suid > 99)
			return M2M_ERR_INVALID_ARGUMENT;
		dlen = (size_t)snprintf(digits, sizeof(digits), "%lu", suid);
		break;
	default:
		return M2M_ERR_INVALID_ARGUMENT;
	}
	llen = strlen(label);
	if ((msg = malloc(llen + dlen + idlen)) == NULL)
		return M2M_ERR_NO_MEMORY;
	memcpy(msg, label, llen);
	off = llen;
	memcpy(msg + off, digits, dlen);
	off += dlen;
	memcpy(msg + off, id, idlen);
	off += idlen;
	r = hmac_step(be, ke, M2M_HASH_SHA256, msg, off, ret);
	free(msg);
	return r;
}

/* see kdf.h */
int
m2m_kdf_e2e_master(const struct m2m_backend *be, const uint8_t *salt,
    size_t saltlen, const struct m2m_keyref *base, enum m2m_hash hash,
    struct m2m_secret **ret)
{
	uint8_t zero[M2M_HASH_MAX_LEN] = { 0 };
	struct m2m_secret *out = NULL;
	size_t hl = m2m_hash_len(hash);
	int r;

	if (be == NULL || base == NULL || ret == NULL || hl == 0 ||
	    (salt == NULL && saltlen != 0) || saltlen > M2M_KEY_MAX)
		return M2M_ERR_INVALID_ARGUMENT;
	if (salt == NULL || saltlen == 0) {
		/* [profile] missing salt = HashLen zero bytes (RFC 5869) */
		salt = zero;
		saltlen = hl;
	}
	if ((r = m2m_secret_new(hl, &out)) != 0)
		return r;
	if ((r = be->ops->hmac_keymsg(be->impl, salt, saltlen, base, hash,
	    m2m_secret_data(out))) != 0) {
		m2m_secret_free(out);
		return r;
	}
	*ret = out;
	return 0;
}

/* see kdf.h */
int
m2m_kdf_e2e_step(const struct m2m_backend *be,
    const struct m2m_keyref *master, enum m2m_hash hash, unsigned n,
    const struct m2m_secret *prev, struct m2m_secret **ret)
{
	static const char *const labels[4] = {
		M2M_LABEL_E2E_1, M2M_LABEL_E2E_2, M2M_LABEL_E2E_3,
		M2M_LABEL_E2E_4
	};
	struct m2m_secret *msg = NULL;
	size_t hl = m2m_hash_len(hash), llen, off = 0;
	int r;

	if (be == NULL || master == NULL || ret == NULL || hl == 0 ||
	    n < 1 || n > 4 || (n == 1) != (prev == NULL) ||
	    (prev != NULL && m2m_secret_len(prev) != hl))
		return M2M_ERR_INVALID_ARGUMENT;
	/* T(n) = HMAC(master, T(n-1) || label_n || n); T(0) empty */
	llen = strlen(labels[n - 1]);
	if ((r = m2m_secret_new(hl + llen + 1, &msg)) != 0)
		return r;
	if (prev != NULL) {
		memcpy(m2m_secret_data(msg), m2m_secret_data(prev), hl);
		off = hl;
	}
	memcpy(m2m_secret_data(msg) + off, labels[n - 1], llen);
	off += llen;
	m2m_secret_data(msg)[off++] = (uint8_t)n;
	r = hmac_step(be, master, hash, m2m_secret_data(msg), off, ret);
	m2m_secret_free(msg);
	return r;
}

/* see kdf.h */
int
m2m_kdf_e2e_expand(const struct m2m_backend *be,
    const struct m2m_keyref *master, enum m2m_hash hash, unsigned n,
    struct m2m_secret **ret)
{
	struct m2m_secret *prev = NULL, *t = NULL;
	unsigned i;
	int r;

	if (be == NULL || master == NULL || ret == NULL ||
	    m2m_hash_len(hash) == 0 || n < 1 || n > 4)
		return M2M_ERR_INVALID_ARGUMENT;
	for (i = 1; i <= n; i++) {
		r = m2m_kdf_e2e_step(be, master, hash, i, prev, &t);
		m2m_secret_free(prev);
		prev = NULL;
		if (r != 0)
			return r;
		prev = t;
		t = NULL;
	}
	*ret = prev;
	return 0;
}

/* see kdf.h */
int
m2m_kdf_e2e_keyid(const struct m2m_backend *be,
    const struct m2m_keyref *master, enum m2m_hash hash, const uint8_t *fqdn,
    size_t fqdnlen, char **ret)
{
	uint8_t mac[M2M_HASH_MAX_LEN];
	const char *label = M2M_LABEL_E2E_ID;
	char *id = NULL;
	int r;

	if (be == NULL || master == NULL || fqdn == NULL || ret == NULL ||
	    m2m_hash_len(hash) < 16)
		return M2M_ERR_INVALID_ARGUMENT;
	if ((r = be->ops->hmac(be->impl, master, hash,
	    (const uint8_t *)label, strlen(label), mac)) != 0)
		goto out;
	/* the identifier is public: first 16 bytes, hex, "@" FQDN */
	r = m2m_ident_keid(mac, (const char *)fqdn, fqdnlen, &id);
	if (r != 0)
		goto out;
	*ret = id;
	r = 0;
 out:
	m2m_wipe(mac, sizeof(mac));
	return r;
}

/* see kdf.h */
int
m2m_kdf_e2e_keyid_value(const struct m2m_secret *master, enum m2m_hash hash,
    const uint8_t *fqdn, size_t fqdnlen, char **ret)
{
	uint8_t mac[M2M_HASH_MAX_LEN];
	const char *label = M2M_LABEL_E2E_ID;
	const EVP_MD *md;
	unsigned int maclen = 0;
	char *id = NULL;
	int r = M2M_ERR_INTERNAL;

	if (master == NULL || fqdn == NULL || ret == NULL ||
	    m2m_hash_len(hash) < 16 || m2m_secret_len(master) == 0)
		return M2M_ERR_INVALID_ARGUMENT;
	md = hash == M2M_HASH_SHA512 ? EVP_sha512() :
	    hash == M2M_HASH_SHA384 ? EVP_sha384() : EVP_sha256();
	if (HMAC(md, m2m_secret_data(master), (int)m2m_secret_len(master),
	    (const uint8_t *)label, strlen(label), mac, &maclen) == NULL ||
	    maclen != m2m_hash_len(hash))
		goto out;
	/* the identifier is public: first 16 bytes, hex, "@" FQDN */
	if ((r = m2m_ident_keid(mac, (const char *)fqdn, fqdnlen, &id)) != 0)
		goto out;
	*ret = id;
	r = 0;
 out:
	m2m_wipe(mac, sizeof(mac));
	return r;
}

/* see kdf.h */
int
m2m_kdf_psk_premaster(const uint8_t *psk, size_t len,
    struct m2m_secret **ret)
{
	struct m2m_secret *pms = NULL;
	uint8_t *p;
	int r;

	if (psk == NULL || ret == NULL || len == 0 || len > M2M_PSK_MAX)
		return M2M_ERR_INVALID_ARGUMENT;
	if ((r = m2m_secret_new(2 * len + 4, &pms)) != 0)
		return r;
	p = m2m_secret_data(pms);	/* zero-filled by m2m_secret_new */
	p[0] = (uint8_t)(len >> 8);
	p[1] = (uint8_t)len;
	p[len + 2] = (uint8_t)(len >> 8);
	p[len + 3] = (uint8_t)len;
	memcpy(p + len + 4, psk, len);
	*ret = pms;
	return 0;
}

/* see kdf.h */
int
m2m_kdf_tls12_prf(const struct m2m_backend *be,
    const struct m2m_keyref *secret, enum m2m_hash hash,
    const uint8_t *label, size_t labellen, const uint8_t *seed,
    size_t seedlen, uint8_t *out, size_t outlen)
{
	uint8_t a[M2M_HASH_MAX_LEN], blk[M2M_HASH_MAX_LEN];
	uint8_t *msg = NULL;
	size_t hl = m2m_hash_len(hash), ls = labellen + seedlen, off = 0, n;
	int r = M2M_ERR_INTERNAL;

	if (be == NULL || secret == NULL || out == NULL || hl == 0 ||
	    (label == NULL && labellen != 0) || (seed == NULL && seedlen != 0) ||
	    ls > 1024 || outlen > 1024)
		return M2M_ERR_INVALID_ARGUMENT;
	if ((msg = malloc(hl + ls + 1)) == NULL)
		return M2M_ERR_NO_MEMORY;
	/* A(0) = label || seed; A(i) = HMAC(secret, A(i-1)) */
	if (labellen != 0)
		memcpy(msg, label, labellen);
	if (seedlen != 0)
		memcpy(msg + labellen, seed, seedlen);
	if ((r = be->ops->hmac(be->impl, secret, hash, msg, ls, a)) != 0)
		goto out;
	while (off < outlen) {
		/* P_hash block = HMAC(secret, A(i) || label || seed) */
		memcpy(msg, a, hl);
		if (labellen != 0)
			memcpy(msg + hl, label, labellen);
		if (seedlen != 0)
			memcpy(msg + hl + labellen, seed, seedlen);
		if ((r = be->ops->hmac(be->impl, secret, hash, msg, hl + ls,
		    blk)) != 0)
			goto out;
		n = outlen - off < hl ? outlen - off : hl;
		memcpy(out + off, blk, n);
		off += n;
		if (off < outlen) {
			memcpy(msg, a, hl);	/* input and output differ */
			if ((r = be->ops->hmac(be->impl, secret, hash, msg, hl,
			    a)) != 0)
				goto out;
		}
	}
	r = 0;
 out:
	m2m_wipe(a, sizeof(a));
	m2m_wipe(blk, sizeof(blk));
	m2m_wipe(msg, hl + ls + 1);
	free(msg);
	return r;
}

/* see kdf.h */
int
m2m_kdf_hkdf(const struct m2m_backend *be, const struct m2m_keyref *ikm,
    const struct m2m_hkdf_args *a, size_t want, struct m2m_secret **ret)
{
	struct m2m_secret *prk = NULL, *okm = NULL;
	const struct m2m_keyref *kr = ikm;
	struct m2m_keyref pk;
	uint8_t *blob = NULL, *msg = NULL, blk[M2M_HASH_MAX_LEN];
	uint8_t zero[M2M_HASH_MAX_LEN] = { 0 };
	size_t bloblen = 0, hl = m2m_hash_len(a->hash), off = 0, ml, n;
	size_t msgcap = hl + a->infolen + 1;
	unsigned int i;
	int r = M2M_ERR_INTERNAL;

	if (hl == 0 || (!a->extract && !a->expand) ||
	    (a->info == NULL && a->infolen != 0) ||
	    a->infolen > M2M_HKDF_INFO_MAX ||
	    (a->salt == NULL && a->saltlen != 0) ||
	    a->saltlen > M2M_KEY_MAX)
		return M2M_ERR_MECHANISM_PARAM;
	if (!a->expand)
		want = hl;
	if (want == 0)
		return M2M_ERR_TEMPLATE_INCOMPLETE;
	if (want > M2M_KEY_MAX || want > 255 * hl)
		return M2M_ERR_KEY_SIZE;
	if (a->extract) {
		/* PRK = HMAC(salt, IKM): the stored key is the message */
		if ((r = m2m_secret_new(hl, &prk)) != 0)
			return r;
		if ((r = be->ops->hmac_keymsg(be->impl,
		    a->salt ? a->salt : zero, a->salt ? a->saltlen : hl, ikm,
		    a->hash, m2m_secret_data(prk))) != 0)
			goto out;
		if (!a->expand) {
			*ret = prk;
			prk = NULL;	/* transferred */
			r = 0;
			goto out;
		}
		/* the PRK becomes a transient backend key for the expand */
		if ((r = be->ops->wrap(be->impl, M2M_KIND_HMAC,
		    m2m_secret_data(prk), hl, &blob, &bloblen)) != 0)
			goto out;
		memset(&pk, 0, sizeof(pk));
		pk.kind = M2M_KIND_HMAC;
		pk.blob = blob;
		pk.bloblen = bloblen;
		kr = &pk;
	}
	if ((r = m2m_secret_new(want, &okm)) != 0)
		goto out;
	if ((msg = malloc(msgcap)) == NULL) {
		r = M2M_ERR_NO_MEMORY;
		goto out;
	}
	/* T(i) = HMAC(PRK, T(i-1) || info || i) */
	for (i = 1; off < want; i++) {
		ml = 0;
		if (i > 1) {
			memcpy(msg, blk, hl);
			ml = hl;
		}
		if (a->infolen != 0)
			memcpy(msg + ml, a->info, a->infolen);
		ml += a->infolen;
		msg[ml++] = (uint8_t)i;
		if ((r = be->ops->hmac(be->impl, kr, a->hash, msg, ml,
		    blk)) != 0)
			goto out;
		n = want - off < hl ? want - off : hl;
		memcpy(m2m_secret_data(okm) + off, blk, n);
		off += n;
	}
	*ret = okm;
	okm = NULL;	/* transferred */
	r = 0;
 out:
	if (msg != NULL) {
		m2m_wipe(msg, msgcap);
		free(msg);
	}
	m2m_wipe(blk, sizeof(blk));
	free(blob);
	m2m_secret_free(prk);
	m2m_secret_free(okm);
	return r;
}

/* see kdf.h */
int
m2m_kdf_tls12_master(const struct m2m_backend *be,
    const struct m2m_keyref *premaster, enum m2m_hash hash, int ems,
    const uint8_t *seed, size_t seedlen, struct m2m_secret **ret)
{
	const char *label = ems ? "extended master secret" : "master secret";
	struct m2m_secret *ms = NULL;
	int r;

	if ((r = m2m_secret_new(M2M_TLS12_MASTER_LEN, &ms)) != 0)
		return r;
	if ((r = m2m_kdf_tls12_prf(be, premaster, hash,
	    (const uint8_t *)label, strlen(label), seed, seedlen,
	    m2m_secret_data(ms), M2M_TLS12_MASTER_LEN)) != 0) {
		m2m_secret_free(ms);
		return r;
	}
	*ret = ms;
	return 0;
}
