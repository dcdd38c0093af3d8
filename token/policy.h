/*
 * Role policy and attribute rules (contract section 3): how a template
 * becomes an object, which attributes may change, and what each key may be
 * used for.  Pure functions over struct m2m_object; no backend, no store.
 */
#ifndef M2M_POLICY_H
#define M2M_POLICY_H

#include <stddef.h>
#include <stdint.h>

struct m2m_attr;
struct m2m_object;

enum m2m_use {
	M2M_USE_SIGN = 1,	/* HMAC sign */
	M2M_USE_VERIFY,		/* HMAC verify */
	M2M_USE_ENCRYPT,	/* AES-GCM */
	M2M_USE_DECRYPT,
	M2M_USE_DERIVE_KE,	/* CKM_M2M_KM/KPSA/KUC_DERIVE */
	M2M_USE_E2E_MASTER,	/* CKM_M2M_E2E_MASTER_* */
	M2M_USE_E2E_EXPAND,	/* CKM_M2M_E2E_EXPAND */
	M2M_USE_TLS_MASTER,	/* CKM_M2M_TLS12_PSK_MASTER */
	M2M_USE_HKDF,		/* CKM_HKDF_DERIVE */
	M2M_USE_ECCSI_SIGN,	/* CKM_M2M_ECCSI */
	M2M_USE_WRAP		/* C_WrapKey of this key */
};

/*
 * May key be used for use at time now (seconds since the epoch)?  0, or
 * M2M_ERR_KEY_FUNCTION (role or usage flag forbids it), M2M_ERR_KEY_EXPIRED
 * (CKA_M2M_EXPIRES has passed).
 */
int	m2m_policy_check_use(const struct m2m_object *key, enum m2m_use use,
	    int64_t now);

/*
 * May a key derived from base carry the CKA_M2M_EXPIRES it has?  A derived
 * key never outlives its base: when base expires, derived must expire too,
 * no later.  0, or M2M_ERR_ATTRIBUTE_VALUE (no expiry, a later one, or one
 * that does not parse).  Refused rather than clamped: a template asking
 * for more than the base allows is the caller's error, said at once.
 */
int	m2m_policy_check_expiry(const struct m2m_object *derived,
	    const struct m2m_object *base);
/*
 * Longest HMAC key C_CreateObject takes.  A role-less generic secret longer
 * than M2M_KEY_MAX (the longest a backend holds, longer than every block
 * we hash with) is kept as RFC 2104 would use it: SHA-256(K) in the blob,
 * SHA-512(K) in the aux blob, CKA_VALUE_LEN its own length.  Such a key is
 * sensitive, not extractable, and for HMAC only (m2m_policy_key_prehashed).
 */
#define M2M_HMAC_KEY_MAX	4096
/* 1 if o is such a pre-hashed long HMAC key, else 0. */
int	m2m_policy_key_prehashed(const struct m2m_object *o);
/* 1 if role is a contract role value (section 2), else 0. */
int	m2m_policy_role_valid(unsigned long role);
/* 1 if the role's secret is a TLS PSK (KPM, KPSA, KM, KUC, KC). */
int	m2m_policy_role_is_psk(unsigned long role);
/*
 * 1 if a key of this role may ever be the message of an HMAC (the base
 * of CKM_M2M_E2E_MASTER_*, or the input of an HKDF extract): role-less
 * keys and every role m2m_policy_check_use() lets do M2M_USE_E2E_MASTER
 * or M2M_USE_HKDF.  A role is fixed when a key is made, so a key of any
 * other role never needs a backend's message form (backend.h wrap_nomsg).
 */
int	m2m_policy_role_message(unsigned long role);
/*
 * 1 if the role's value is a session secret kept as it is, in locked module
 * memory, never wrapped into the backend nor stored, nor looked up as "the
 * same derived key" again (TLS_MASTER: contract section 3), else 0.
 */
int	m2m_policy_role_kept_plain(unsigned long role);
/*
 * 1 if the new derived key o keeps its value as it is, in locked module
 * memory (o->plain), never wrapped into the backend: a role whose value is
 * a session secret (m2m_policy_role_kept_plain), or a role-less session key
 * whose value may be read (extractable, not sensitive: a key derived for
 * delivery, [token] deliver_derived) and that has no use (CKA_SIGN,
 * CKA_VERIFY, CKA_ENCRYPT, CKA_DECRYPT, CKA_DERIVE, CKA_WRAP, CKA_UNWRAP all
 * FALSE; m2m_policy_check_use refuses it every use).  Such a key is only
 * read: wrapping it into the HSM to unwrap it again for the read cost two
 * HSM session objects per key, and SoftHSM2 2.6.1 keeps the memory of every
 * destroyed session object until C_Finalize (m2m-mef grew 0.45 KiB per
 * fetchCredentials).  Else 0.
 */
int	m2m_policy_kept_plain(const struct m2m_object *o);
/* CKK_AES or CKK_GENERIC_SECRET for a symmetric role. */
unsigned long m2m_policy_role_key_type(unsigned long role);

enum m2m_origin {
	M2M_ORIGIN_CREATE = 1,	/* C_CreateObject (import) */
	M2M_ORIGIN_GENERATE,	/* C_GenerateKey */
	M2M_ORIGIN_DERIVE	/* C_DeriveKey */
};

/* What the mechanism fixes for a generated or derived key. */
struct m2m_policy_mech {
	unsigned long	mechanism;	/* CKA_KEY_GEN_MECHANISM */
	unsigned long	role;		/* 0: role-less unless the template
					   names one (create/generate) */
	unsigned long	key_type;	/* (unsigned long)-1: from template */
	size_t		value_len;	/* 0: from template CKA_VALUE_LEN */
	int		deliverable;	/* a template may ask CKA_M2M_ROLE = 0:
					   a role-less session key, read once
					   by a MEF to deliver it
					   ([token] deliver_derived) */
	const struct m2m_object *base;	/* M2M_ORIGIN_DERIVE: the base key.
					   The new key is CKA_ALWAYS_SENSITIVE
					   (CKA_NEVER_EXTRACTABLE) only if the
					   base is too; never with no base */
};

/*
 * Build a new object from a caller template under the policy.  For
 * M2M_ORIGIN_CREATE, *ret_value points at the template's CKA_VALUE (not
 * copied; the caller wraps it), or is NULL for a data object (CKO_DATA:
 * CKA_APPLICATION, CKA_OBJECT_ID, CKA_VALUE kept as plain attributes,
 * CKA_PRIVATE TRUE unless the template says FALSE).  *ret_value_len is
 * the key length to make.
 * Errors: M2M_ERR_ATTRIBUTE_TYPE, _ATTRIBUTE_VALUE, _ATTRIBUTE_READ_ONLY,
 * _TEMPLATE_INCOMPLETE, _TEMPLATE_INCONSISTENT, _KEY_SIZE, NO_MEMORY.
 */
int	m2m_policy_build(enum m2m_origin origin, const struct m2m_attr *tmpl,
	    size_t n, const struct m2m_policy_mech *mech,
	    struct m2m_object **ret, const struct m2m_attr **ret_value,
	    size_t *ret_value_len);

/*
 * Build the two objects of C_GenerateKeyPair(CKM_EC_KEY_PAIR_GEN) from
 * their templates: EC keys, role-less, CKA_EC_PARAMS (from either
 * template, the same in both if in both) naming P-256 or P-384
 * (M2M_ERR_CURVE otherwise, M2M_ERR_TEMPLATE_INCOMPLETE when absent) and
 * stored as the curve's OID in both; CKA_ID given in one is copied to the
 * other.  The private key is private, sensitive, never extractable,
 * CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE, for CKA_SIGN only: a
 * template asking otherwise (CKA_EXTRACTABLE TRUE, CKA_DECRYPT TRUE,
 * CKA_DERIVE TRUE, ...) is M2M_ERR_TEMPLATE_INCONSISTENT, as is a
 * CKA_VALUE or CKA_EC_POINT (the token makes them) or a CKA_M2M_ROLE.
 * The public key verifies only.  Neither has its point nor blob yet.
 * Errors as m2m_policy_build.
 *
 * C_CreateObject of an EC key goes through m2m_policy_build: CKO_PUBLIC_KEY
 * with CKA_EC_PARAMS and CKA_EC_POINT (checked to be on the curve:
 * M2M_ERR_ATTRIBUTE_VALUE), CKO_PRIVATE_KEY with CKA_EC_PARAMS and
 * CKA_VALUE (*ret_value, for m2m_core_ec_import), neither local.  The
 * same for CKO_CERTIFICATE (CKC_X_509, CKA_VALUE the DER: not one is
 * M2M_ERR_ATTRIBUTE_VALUE; CKA_SUBJECT, CKA_ISSUER, CKA_SERIAL_NUMBER
 * taken from it, or M2M_ERR_TEMPLATE_INCONSISTENT when the template's
 * differ; CKA_PRIVATE FALSE unless said; CKA_TRUSTED as the template says,
 * the caller checks who may say TRUE), *ret_value NULL.
 */
int	m2m_policy_build_ec_pair(const struct m2m_attr *pubt, size_t npub,
	    const struct m2m_attr *privt, size_t npriv,
	    struct m2m_object **ret_pub, struct m2m_object **ret_priv);

/* What m2m_policy_apply's template is for. */
enum m2m_apply {
	M2M_APPLY_SET = 0,	/* C_SetAttributeValue */
	M2M_APPLY_COPY = 1	/* C_CopyObject */
};
/*
 * Apply a C_SetAttributeValue or C_CopyObject template (as said by
 * what) to o, all or nothing: on error o is unchanged.  Errors as
 * m2m_policy_build plus M2M_ERR_ATTRIBUTE_READ_ONLY for fixed attributes,
 * and M2M_ERR_KEY_FUNCTION when the object is not modifiable/copyable.
 */
int	m2m_policy_apply(struct m2m_object *o, const struct m2m_attr *tmpl,
	    size_t n, enum m2m_apply what);

/*
 * May attribute type be read from o?  0 (readable, a plain attribute or
 * CKA_VALUE of an extractable non-sensitive key), M2M_ERR_ATTRIBUTE_SENSITIVE,
 * M2M_ERR_ATTRIBUTE_TYPE (not an attribute of this object).  CKA_VALUE of
 * a key with a role is never readable, whatever its attributes say, except
 * a TLS_MASTER session secret held in memory (o->plain, no blob, not a
 * token object).
 */
int	m2m_policy_readable(const struct m2m_object *o, unsigned long type);

/* 1 if the object needs a logged-in user to be seen (CKA_PRIVATE). */
int	m2m_policy_is_private(const struct m2m_object *o);

/*
 * 1 if o matches every attribute of the search template (CKA_VALUE never
 * matches), else 0.
 */
int	m2m_policy_match(const struct m2m_object *o, const struct m2m_attr *t,
	    size_t n);

#endif /* M2M_POLICY_H */
