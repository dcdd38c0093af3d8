/*
 * oneM2M key derivations (onem2m-keys.md sections 3-4), RFC 5869 HKDF and
 * the TLS 1.2 PSK master secret, each written once as steps of "HMAC with a stored key over
 * data" that the backend executes inside the hardware.  Outputs that become
 * keys are returned in struct m2m_secret (locked memory) for the caller to
 * wrap at once and free.
 */
#ifndef M2M_KDF_H
#define M2M_KDF_H

#include <stddef.h>
#include <stdint.h>
#include "backend.h"

struct m2m_secret;

#define M2M_LABEL_KM	"oneM2M Enrolment Key to Master Credential derivation"
#define M2M_LABEL_KPSA	"oneM2M Enrolment Key to Provisioned Secure Connection Key derivation"
#define M2M_LABEL_KUC	"oneM2M Enrolment Key to Usage-Constrained Symmetric Key derivation"
#define M2M_LABEL_E2E_1	"E2E Message Authentication Key"
#define M2M_LABEL_E2E_2	"E2E Message Confidentiality Key"
#define M2M_LABEL_E2E_3	"E2E Attribute Authenticity Key"
#define M2M_LABEL_E2E_4	"E2E Attribute Confidentiality Key"
#define M2M_LABEL_E2E_ID "E2E Key Identifier"

enum m2m_ke_kdf {
	M2M_KDF_KM = 1,
	M2M_KDF_KPSA = 2,
	M2M_KDF_KUC = 3
};

/*
 * Km / Kpsa / Kuc = HMAC-SHA-256(Ke, label || [decimal SUID] || id), where
 * id is already NFKC-normalised UTF-8 (ident.h).  suid is used for KUC only,
 * and must then be 10..99 (two digits, so that SUID and id cannot run into
 * each other), else M2M_ERR_INVALID_ARGUMENT.  *ret: 32-byte secret.
 */
int	m2m_kdf_from_ke(const struct m2m_backend *be,
	    const struct m2m_keyref *ke, enum m2m_ke_kdf which,
	    unsigned long suid, const uint8_t *id, size_t idlen,
	    struct m2m_secret **ret);

/*
 * Ke2e_master = HMAC-hash(salt, base): salt is the HMAC key, the stored
 * key the message.  salt NULL/0: hash-length zero bytes.  *ret: hash-length.
 */
int	m2m_kdf_e2e_master(const struct m2m_backend *be,
	    const uint8_t *salt, size_t saltlen,
	    const struct m2m_keyref *base, enum m2m_hash hash,
	    struct m2m_secret **ret);

/*
 * T(n) of the chained expansion, n = 1..4, computing T(1)..T(n-1) on the
 * way (wiped).  *ret: hash-length secret.
 */
int	m2m_kdf_e2e_expand(const struct m2m_backend *be,
	    const struct m2m_keyref *master, enum m2m_hash hash, unsigned n,
	    struct m2m_secret **ret);
/*
 * One step of it: T(n) = HMAC(master, T(n-1) || label_n || n) from prev =
 * T(n-1) (hash-length; NULL for n = 1).  *ret: hash-length secret.
 */
int	m2m_kdf_e2e_step(const struct m2m_backend *be,
	    const struct m2m_keyref *master, enum m2m_hash hash, unsigned n,
	    const struct m2m_secret *prev, struct m2m_secret **ret);

/*
 * E2EKeyId [profile] = hex(first 16 bytes of HMAC-hash(master,
 * "E2E Key Identifier")) "@" fqdn.  *ret malloc'd, NUL-terminated.
 */
int	m2m_kdf_e2e_keyid(const struct m2m_backend *be,
	    const struct m2m_keyref *master, enum m2m_hash hash,
	    const uint8_t *fqdn, size_t fqdnlen, char **ret);
/*
 * The same from the master's value while it is still in locked memory
 * (C_DeriveKey, before the value is wrapped): HMAC in host memory with
 * OpenSSL, no backend call.  The master is a level-T key at that moment
 * in any case (docs/security-model.md).
 */
int	m2m_kdf_e2e_keyid_value(const struct m2m_secret *master,
	    enum m2m_hash hash, const uint8_t *fqdn, size_t fqdnlen,
	    char **ret);

/*
 * RFC 4279 section 2 premaster of a plain PSK: uint16(N) || N zeros ||
 * uint16(N) || psk.  N = 1..M2M_PSK_MAX.  *ret: 2N + 4 byte secret.
 */
#define M2M_PSK_MAX	62	/* premaster stays within M2M_KEY_MAX */
int	m2m_kdf_psk_premaster(const uint8_t *psk, size_t len,
	    struct m2m_secret **ret);

/*
 * TLS 1.2 PRF (RFC 5246 section 5) P_hash(secret, label || seed) with the
 * secret a wrapped HMAC key: outlen bytes into out (not wiped by us: the
 * caller owns out and decides).  Every HMAC runs in the backend.
 */
int	m2m_kdf_tls12_prf(const struct m2m_backend *be,
	    const struct m2m_keyref *secret, enum m2m_hash hash,
	    const uint8_t *label, size_t labellen,
	    const uint8_t *seed, size_t seedlen, uint8_t *out, size_t outlen);

/*
 * The TLS 1.2 master secret (RFC 5246 section 8.1, RFC 7627 section 4):
 * PRF(premaster, "master secret" or, ems != 0, "extended master secret",
 * seed), seed the two randoms or the session hash.  *ret: 48 bytes.
 */
#define M2M_TLS12_MASTER_LEN	48
int	m2m_kdf_tls12_master(const struct m2m_backend *be,
	    const struct m2m_keyref *premaster, enum m2m_hash hash, int ems,
	    const uint8_t *seed, size_t seedlen, struct m2m_secret **ret);

/*
 * RFC 5869 HKDF with the input keying material a wrapped HMAC key:
 * extract (PRK = HMAC(salt, IKM), the stored key as the message; salt
 * NULL: hash-length zero bytes) and/or expand (T(i) = HMAC(PRK, T(i-1) ||
 * info || i), every HMAC in the backend; after an extract the PRK is
 * wrapped for that).  want: output length when expanding (else the hash
 * length).  *ret: the output.  M2M_ERR_MECHANISM_PARAM for arguments out
 * of range, M2M_ERR_TEMPLATE_INCOMPLETE for want 0, M2M_ERR_KEY_SIZE for
 * want over M2M_KEY_MAX or 255 blocks.
 */
#define M2M_HKDF_INFO_MAX	1024
struct m2m_hkdf_args {
	enum m2m_hash	 hash;
	int		 extract;
	const uint8_t	*salt;		/* NULL: no salt */
	size_t		 saltlen;
	int		 expand;
	const uint8_t	*info;
	size_t		 infolen;
};
int	m2m_kdf_hkdf(const struct m2m_backend *be,
	    const struct m2m_keyref *ikm, const struct m2m_hkdf_args *a,
	    size_t want, struct m2m_secret **ret);

#endif /* M2M_KDF_H */
