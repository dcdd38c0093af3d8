/*
 * The token's step of a TLS 1.2 PSK handshake (docs/architecture.md,
 * libm2mtls): a key reference the provider's TLS1-PRF found in a premaster
 * (tls_prov.c) is checked (tls_ref.c, or vouched for by the PSK cache,
 * tls_cache.c) and the master secret comes from the token with
 * CKM_M2M_TLS12_PSK_MASTER.  The function keeps the name m2m_tls_ref_derive
 * that docs/fuzzing.md and tests/fuzz/ use.
 */
#include <pthread.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "tls_int.h"
#include "tls_log.h"

#define EMS_LABEL	"extended master secret"
#define MS_LABEL	"master secret"
#define LABEL_SHOWN	64	/* bytes of a key label in a log line */

/* label (len bytes) for a log line: at most 64 bytes, non-ASCII as '?' */
static const char *
printable(char lab[M2M_TLS_PRINTABLE_MAX], const uint8_t *label, size_t len)
{
	return m2m_tls_printable(lab, M2M_TLS_PRINTABLE_MAX,
	    (const char *)label, len > LABEL_SHOWN ? LABEL_SHOWN : len);
}

/* see tls_int.h */
int
m2m_tls_ref_derive(struct m2m_tls *t, const uint8_t *ref, size_t len,
    const char *mdname, const uint8_t *seed, size_t seedlen, uint8_t *out,
    size_t outlen)
{
	uint8_t label[M2M_TLS_LABEL_MAX], ms[M2M_TLS_MASTER_LEN];
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
	uint32_t slot = 0;
	size_t ll;
	int locked = 0, ok = 0;
	CK_RV rv;
	char lab[M2M_TLS_PRINTABLE_MAX];

	if (!m2m_tls_ref_wellformed(ref, len)) {
		m2m_tls_refuse("malformed key reference");
		goto out;
	}
	if (outlen != M2M_TLS_MASTER_LEN) {
		m2m_tls_refuse("key reference used for something else "
		    "than the master secret");
		goto out;
	}
	m2m_tls_ref_key(ref, &slot, &h);
	if (slot != (uint32_t)t->slot) {
		m2m_tls_refuse("key reference of another token");
		goto out;
	}
	pthread_mutex_lock(&t->lock);
	locked = 1;
	if (h == CK_INVALID_HANDLE || (rv = t->f->C_GetAttributeValue(
	    t->session, h, a, 2)) != CKR_OK ||
	    a[1].ulValueLen != sizeof(role)) {
		m2m_tls_refuse("key reference does not verify");
		goto out;
	}
	ll = a[0].ulValueLen;
	/* a reference the cache made for h while h had this label: its MAC
	   holds by construction (see tls_cache.c); else compute it */
	if (!m2m_tls_cache_vouches(t, h, ref, label, ll) &&
	    !m2m_tls_ref_verify(t, ref, label, ll)) {
		m2m_tls_refuse("key reference does not verify (forged, "
		    "tampered or from another context)");
		goto out;
	}
	if (!m2m_p11_role_is_psk(role)) {
		m2m_tls_refuse("key '%s' has no PSK role",
		    printable(lab, label, ll));
		goto out;
	}
	memset(&p, 0, sizeof(p));
	/* by name against the digests fetched once (any alias matches) */
	if (EVP_MD_is_a(t->sha256, mdname))
		p.prfHashMechanism = CKM_SHA256;
	else if (EVP_MD_is_a(t->sha384, mdname))
		p.prfHashMechanism = CKM_SHA384;
	else {
		m2m_tls_refuse("PRF digest '%s' is not SHA-256 or SHA-384",
		    mdname);
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
		m2m_tls_refuse("key reference used with an unknown PRF "
		    "label");
		goto out;
	}
	rv = t->f->C_DeriveKey(t->session, &m, h, tmpl, 1, &mk);
	if (rv == CKR_KEY_FUNCTION_NOT_PERMITTED) {
		m2m_tls_refuse("key '%s' may not be used for TLS-PSK (expired, "
		    "or role not allowed): CKR_KEY_FUNCTION_NOT_PERMITTED",
		    printable(lab, label, ll));
		goto out;
	} else if (rv != CKR_OK) {
		m2m_tls_refuse("token cannot derive the master secret: %s",
		    m2m_p11_rv_name(rv));
		goto out;
	}
	if ((rv = t->f->C_GetAttributeValue(t->session, mk, &va, 1)) !=
	    CKR_OK || va.ulValueLen != sizeof(ms)) {
		m2m_tls_refuse("cannot read the master secret from the "
		    "token");
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
	return ok;
}
