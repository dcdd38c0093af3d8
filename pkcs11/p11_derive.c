/*
 * m2mtoken: key generation and derivation (the oneM2M mechanisms, HKDF,
 * the TLS 1.2 PSK master secret: parameters here, the arithmetic in
 * token/kdf.c), random numbers, and the functions this token refuses
 * (wrapping, key pairs, recovery, dual functions).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "core.h"
#include "err.h"
#include "ident.h"
#include "kdf.h"
#include "log.h"
#include "object.h"
#include "p11.h"
#include "policy.h"
#include "secret.h"
#include "store.h"

#define SALT_MAX	M2M_KEY_MAX
#define RANDOM_MAX	(1u << 20)	/* most bytes one C_GenerateRandom */
#define RANDOM_CHUNK	1024		/* most bytes one backend call */
#define TLS_SEED_MAX	64

/* What one derivation produced, before it becomes an object. */
struct derived {
	struct m2m_policy_mech	 pm;
	struct m2m_secret	*value;
	uint8_t			*peer;		/* NFKC id, or NULL */
	size_t			 peerlen;
	char			*label;		/* default label, or NULL */
	enum m2m_hash		 e2e_hash;	/* for the E2E key id */
	int			 want_e2e_id;
};

static void
derived_clear(struct derived *d)
{
	m2m_secret_free(d->value);
	free(d->peer);
	free(d->label);
	memset(d, 0, sizeof(*d));
}

static CK_RV
use_ok(const struct m2m_object *base, enum m2m_use use)
{
	int r = m2m_policy_check_use(base, use, (int64_t)time(NULL));

	if (r != 0)
		m2m_info("C_DeriveKey: base key: %s", m2m_strerror(r));
	return p11_rv(r);
}

static CK_RV
param_id(CK_MECHANISM_PTR m, uint8_t **ret, size_t *ret_len)
{
	int r;

	if (m->pParameter == NULL || m->ulParameterLen == 0 ||
	    m->ulParameterLen > M2M_ID_MAX)
		return CKR_MECHANISM_PARAM_INVALID;
	if ((r = m2m_ident_nfkc(m->pParameter, m->ulParameterLen, ret,
	    ret_len)) != 0)
		return p11_rv_in(P11_RV_MECH_PARAM, r);
	return CKR_OK;
}

/*
 * The base key's label followed by suffix into *ret (malloc'd), or NULL in
 * *ret when the base has no usable label (the caller then needs
 * CKA_LABEL from the template).  CKR_HOST_MEMORY when out of memory: a
 * derived key must never be stored without the identifier it should have.
 */
static CK_RV
base_label(const struct m2m_object *base, const char *suffix, char **ret)
{
	const struct m2m_attr *a = m2m_object_attr(base, CKA_LABEL);
	size_t n, sl = suffix ? strlen(suffix) : 0;
	char *s;

	*ret = NULL;
	if (a == NULL || a->len == 0 || a->len > M2M_ID_MAX)
		return CKR_OK;
	n = a->len;
	if ((s = malloc(n + sl + 1)) == NULL)
		return CKR_HOST_MEMORY;
	memcpy(s, a->val, n);
	if (sl != 0)
		memcpy(s + n, suffix, sl);
	s[n + sl] = '\0';
	*ret = s;
	return CKR_OK;
}

static CK_RV
derive_from_ke(const struct m2m_object *base, CK_MECHANISM_PTR m,
    const struct m2m_keyref *kr, struct derived *d)
{
	const struct m2m_backend *be = m2m_core_backend(p11.core);
	enum m2m_ke_kdf which;
	CK_M2M_KUC_PARAMS kp;
	unsigned long suid = 0;
	char suffix[32];
	CK_RV rv;
	int r;

	if ((rv = use_ok(base, M2M_USE_DERIVE_KE)) != CKR_OK)
		return rv;
	if (m->mechanism == CKM_M2M_KUC_DERIVE) {
		if (m->pParameter == NULL || m->ulParameterLen != sizeof(kp))
			return CKR_MECHANISM_PARAM_INVALID;
		memcpy(&kp, m->pParameter, sizeof(kp));
		/*
		 * [profile] SUID 10..99, always two digits: the KDF writes it
		 * with no separator before the target id, so with one digit
		 * Kuc(2, "2mn-cse...") was Kuc(22, "mn-cse...") (found in
		 * review).  TS-0004's SUIDs are two digits.
		 */
		if (kp.pTargetId == NULL || kp.ulTargetIdLen == 0 ||
		    kp.ulTargetIdLen > M2M_ID_MAX || kp.ulSuid < 10 ||
		    kp.ulSuid > 99)
			return CKR_MECHANISM_PARAM_INVALID;
		if ((r = m2m_ident_nfkc(kp.pTargetId, kp.ulTargetIdLen,
		    &d->peer, &d->peerlen)) != 0)
			return p11_rv_in(P11_RV_MECH_PARAM, r);
		suid = kp.ulSuid;
		which = M2M_KDF_KUC;
		d->pm.role = CK_M2M_ROLE_KUC;
		d->pm.deliverable = m2m_core_conf(p11.core)->deliver_derived;
		/* [profile] Kuc label: KeId "/" SUID */
		snprintf(suffix, sizeof(suffix), "/%lu", suid);
		if ((rv = base_label(base, suffix, &d->label)) != CKR_OK)
			return rv;
	} else {
		if ((rv = param_id(m, &d->peer, &d->peerlen)) != CKR_OK)
			return rv;
		which = m->mechanism == CKM_M2M_KM_DERIVE ? M2M_KDF_KM :
		    M2M_KDF_KPSA;
		d->pm.deliverable = which == M2M_KDF_KPSA &&
		    m2m_core_conf(p11.core)->deliver_derived;
		d->pm.role = which == M2M_KDF_KM ? CK_M2M_ROLE_KM :
		    CK_M2M_ROLE_KPSA;
		/* KpsaId = KmId = KeId */
		if ((rv = base_label(base, NULL, &d->label)) != CKR_OK)
			return rv;
	}
	d->pm.key_type = CKK_GENERIC_SECRET;
	d->pm.value_len = 32;
	if ((r = m2m_kdf_from_ke(be, kr, which, suid, d->peer, d->peerlen,
	    &d->value)) != 0)
		return p11_rv(r);
	return CKR_OK;
}

/*
 * The hash of an E2E master: the mechanism that made it; for an imported
 * one (no such mechanism), its length, as an HMAC's output tells its hash
 * (found in review: a 64-byte SHA-512 master imported was expanded with
 * SHA-256, silently giving other keys than the peer's).
 */
static enum m2m_hash
master_hash(const struct m2m_object *master)
{
	const struct m2m_attr *a = m2m_object_attr(master,
	    CKA_KEY_GEN_MECHANISM);
	const struct m2m_attr *v = m2m_object_attr(master, CKA_VALUE_LEN);
	CK_ULONG m = CK_UNAVAILABLE_INFORMATION, len = 0;

	if (a != NULL && a->len == sizeof(m))
		memcpy(&m, a->val, sizeof(m));
	if (m == CKM_M2M_E2E_MASTER_SHA512)
		return M2M_HASH_SHA512;
	if (m == CKM_M2M_E2E_MASTER_SHA256)
		return M2M_HASH_SHA256;
	if (v != NULL && v->len == sizeof(len))
		memcpy(&len, v->val, sizeof(len));
	return len == 64 ? M2M_HASH_SHA512 : M2M_HASH_SHA256;
}

static CK_RV
derive_e2e(const struct m2m_object *base, CK_MECHANISM_PTR m,
    const struct m2m_keyref *kr, struct derived *d)
{
	const struct m2m_backend *be = m2m_core_backend(p11.core);
	enum m2m_hash hash;
	uint8_t n;
	CK_RV rv;
	int r;

	if (m->mechanism == CKM_M2M_E2E_EXPAND) {
		if ((rv = use_ok(base, M2M_USE_E2E_EXPAND)) != CKR_OK)
			return rv;
		if (m->pParameter == NULL || m->ulParameterLen != 1)
			return CKR_MECHANISM_PARAM_INVALID;
		n = *(const uint8_t *)m->pParameter;
		if (n < 1 || n > 4)
			return CKR_MECHANISM_PARAM_INVALID;
		hash = master_hash(base);
		if ((r = m2m_core_e2e_expand(p11.core, kr, hash, n,
		    &d->value)) != 0)
			return p11_rv(r);
		d->pm.role = CK_M2M_ROLE_KE2E_MASTER + n;
		if (n == 2 || n == 4) {
			/* [profile] conf keys: AES-256, first 32 bytes */
			d->pm.key_type = CKK_AES;
			m2m_secret_truncate(d->value, 32);
		} else
			d->pm.key_type = CKK_GENERIC_SECRET;
		d->pm.value_len = m2m_secret_len(d->value);
		return base_label(base, NULL, &d->label);
	}
	if ((rv = use_ok(base, M2M_USE_E2E_MASTER)) != CKR_OK)
		return rv;
	if ((m->pParameter == NULL && m->ulParameterLen != 0) ||
	    m->ulParameterLen > SALT_MAX)
		return CKR_MECHANISM_PARAM_INVALID;
	hash = m->mechanism == CKM_M2M_E2E_MASTER_SHA512 ? M2M_HASH_SHA512 :
	    M2M_HASH_SHA256;
	if ((r = m2m_kdf_e2e_master(be, m->pParameter, m->ulParameterLen, kr,
	    hash, &d->value)) != 0)
		return p11_rv(r);
	d->pm.role = CK_M2M_ROLE_KE2E_MASTER;
	d->pm.key_type = CKK_GENERIC_SECRET;
	d->pm.value_len = m2m_secret_len(d->value);
	d->e2e_hash = hash;
	d->want_e2e_id = 1;
	return CKR_OK;
}

static CK_RV
derive_tls_master(const struct m2m_object *base, CK_MECHANISM_PTR m,
    struct p11_session *s, struct derived *d)
{
	const struct m2m_backend *be = m2m_core_backend(p11.core);
	CK_M2M_TLS12_PSK_PARAMS p;
	struct m2m_keyref kr;
	uint8_t seed[2 * TLS_SEED_MAX];
	size_t seedlen;
	enum m2m_hash hash;
	CK_RV rv;
	int r;

	if ((rv = use_ok(base, M2M_USE_TLS_MASTER)) != CKR_OK)
		return rv;
	if (base->aux == NULL) {
		m2m_error("C_DeriveKey: key has no PSK premaster form");
		return CKR_KEY_FUNCTION_NOT_PERMITTED;
	}
	if (m->pParameter == NULL || m->ulParameterLen != sizeof(p))
		return CKR_MECHANISM_PARAM_INVALID;
	memcpy(&p, m->pParameter, sizeof(p));
	if (p.prfHashMechanism == CKM_SHA256)
		hash = M2M_HASH_SHA256;
	else if (p.prfHashMechanism == CKM_SHA384)
		hash = M2M_HASH_SHA384;
	else
		return CKR_MECHANISM_PARAM_INVALID;
	if (p.bExtendedMasterSecret) {
		if (p.pSessionHash == NULL || p.ulSessionHashLen == 0 ||
		    p.ulSessionHashLen > TLS_SEED_MAX ||
		    p.pClientRandom != NULL || p.ulClientRandomLen != 0 ||
		    p.pServerRandom != NULL || p.ulServerRandomLen != 0)
			return CKR_MECHANISM_PARAM_INVALID;
		memcpy(seed, p.pSessionHash, p.ulSessionHashLen);
		seedlen = p.ulSessionHashLen;
	} else {
		if (p.pClientRandom == NULL || p.ulClientRandomLen != 32 ||
		    p.pServerRandom == NULL || p.ulServerRandomLen != 32 ||
		    p.pSessionHash != NULL || p.ulSessionHashLen != 0)
			return CKR_MECHANISM_PARAM_INVALID;
		memcpy(seed, p.pClientRandom, 32);
		memcpy(seed + 32, p.pServerRandom, 32);
		seedlen = 64;
	}
	m2m_core_keyref(base, M2M_FORM_ALT, p11_session_objauth(s), &kr);
	if ((r = m2m_kdf_tls12_master(be, &kr, hash,
	    p.bExtendedMasterSecret != 0, seed, seedlen, &d->value)) != 0)
		return p11_rv(r);
	d->pm.role = CK_M2M_ROLE_TLS_MASTER;
	d->pm.key_type = CKK_GENERIC_SECRET;
	d->pm.value_len = M2M_TLS12_MASTER_LEN;
	return CKR_OK;
}

/* RFC 5869 HKDF on a role-less generic secret. */
static CK_RV
derive_hkdf(const struct m2m_object *base, CK_MECHANISM_PTR m,
    const struct m2m_keyref *kr, const struct m2m_attr *t, size_t nt,
    struct derived *d)
{
	struct m2m_hkdf_args a;
	CK_HKDF_PARAMS p;
	size_t want = 0, i;
	CK_ULONG u;
	CK_RV rv;
	int r;

	if ((rv = use_ok(base, M2M_USE_HKDF)) != CKR_OK)
		return rv;
	if (base->key_type != CKK_GENERIC_SECRET)
		return CKR_KEY_TYPE_INCONSISTENT;
	if (m->pParameter == NULL || m->ulParameterLen != sizeof(p))
		return CKR_MECHANISM_PARAM_INVALID;
	memcpy(&p, m->pParameter, sizeof(p));
	memset(&a, 0, sizeof(a));
	if (p.prfHashMechanism == CKM_SHA256)
		a.hash = M2M_HASH_SHA256;
	else if (p.prfHashMechanism == CKM_SHA384)
		a.hash = M2M_HASH_SHA384;
	else if (p.prfHashMechanism == CKM_SHA512)
		a.hash = M2M_HASH_SHA512;
	else
		return CKR_MECHANISM_PARAM_INVALID;
	if ((!p.bExtract && !p.bExpand) ||
	    (p.pInfo == NULL && p.ulInfoLen != 0) ||
	    p.ulInfoLen > M2M_HKDF_INFO_MAX)
		return CKR_MECHANISM_PARAM_INVALID;
	/*
	 * Expand only: the base is the PRK, the HMAC key of T(1) =
	 * HMAC(base, info || 0x01), and the caller chooses info, so the
	 * output is a MAC under the base of a message of the caller's: a
	 * signature.  It needs the base's sign use besides derive (found in
	 * review: a verify-only key signed this way, C_Verify took it).
	 * Extract (with or without expand) is fine with derive alone: the
	 * base is the message of HMAC(salt, base), not its key, and all that
	 * follows is keyed by that PRK, never by the base.
	 */
	if (!p.bExtract && (rv = use_ok(base, M2M_USE_SIGN)) != CKR_OK)
		return rv;
	if (p.bExtract) {
		if (p.ulSaltType == CKF_HKDF_SALT_NULL) {
			if (p.pSalt != NULL || p.ulSaltLen != 0)
				return CKR_MECHANISM_PARAM_INVALID;
		} else if (p.ulSaltType == CKF_HKDF_SALT_DATA) {
			if (p.pSalt == NULL || p.ulSaltLen == 0 ||
			    p.ulSaltLen > SALT_MAX)
				return CKR_MECHANISM_PARAM_INVALID;
			a.salt = p.pSalt;
			a.saltlen = p.ulSaltLen;
		} else
			return CKR_MECHANISM_PARAM_INVALID;
	}
	a.extract = p.bExtract != 0;
	a.expand = p.bExpand != 0;
	a.info = p.pInfo;
	a.infolen = p.ulInfoLen;
	for (i = 0; i < nt; i++)
		if (t[i].type == CKA_VALUE_LEN && t[i].len == sizeof(u)) {
			memcpy(&u, t[i].val, sizeof(u));
			want = u;
		}
	if ((r = m2m_kdf_hkdf(m2m_core_backend(p11.core), kr, &a, want,
	    &d->value)) != 0)
		return p11_rv(r);
	d->pm.role = 0;
	d->pm.key_type = (unsigned long)-1;
	d->pm.value_len = m2m_secret_len(d->value);
	return CKR_OK;
}

static int
set_if_absent(struct m2m_object *o, unsigned long type, const void *v,
    size_t n)
{
	if (m2m_object_attr(o, type) != NULL || v == NULL || n == 0)
		return 0;
	return m2m_object_attr_set(o, type, v, n);
}

/*
 * p11_object_lookup's predicate: does cand hold the value whose same-key
 * check (m2m_core_same_check) is *arg?  Said in the log when it does not.
 */
static int
same_key(struct p11_session *s, const struct m2m_object *cand,
    const void *arg)
{
	uint8_t got[M2M_SAME_CHECK_LEN];
	int r, same;

	r = m2m_core_same_check(p11.core, cand, p11_session_objauth(s), got);
	same = r == 0 && m2m_ct_equal(got, arg, sizeof(got));
	m2m_wipe(got, sizeof(got));
	if (r == 0 && !same)
		m2m_error("C_DeriveKey: object %llu has this key's role, label, "
		    "peer and base but holds another value: not returned",
		    (unsigned long long)cand->id);
	return same;
}

/*
 * The attributes a derivation's template chooses (or inherits from its
 * base) that an existing key derived the same way must also have, for
 * that key to be the one asked for.  CKA_ID and CKA_M2M_ENROLEE_ID too: a
 * caller naming another id or enrolee was silently handed the key with
 * the first (found in review).
 */
static const CK_ATTRIBUTE_TYPE chosen[] = {
	CKA_M2M_EXPIRES, CKA_SENSITIVE, CKA_EXTRACTABLE, CKA_PRIVATE,
	CKA_SIGN, CKA_VERIFY, CKA_ENCRYPT, CKA_DECRYPT, CKA_DERIVE,
	CKA_MODIFIABLE, CKA_COPYABLE, CKA_DESTROYABLE, CKA_ID,
	CKA_M2M_ENROLEE_ID,
};

/*
 * The key h that p11_object_lookup found for o (same base, identity and
 * value): CKR_OK if it also has o's chosen attributes, else
 * CKR_TEMPLATE_INCONSISTENT, never the key silently with other ones
 * (found in review: a later expiry asked, an earlier key without one
 * returned).
 */
static CK_RV
same_attrs(struct p11_session *s, const struct m2m_object *o,
    CK_OBJECT_HANDLE h)
{
	const struct m2m_attr *a, *b;
	struct m2m_object *x = NULL;
	size_t i;
	int r;

	if ((r = p11_object_get(s, h, &x)) != 0)
		return p11_rv(r);
	for (i = 0; i < sizeof(chosen) / sizeof(chosen[0]); i++) {
		a = m2m_object_attr(o, chosen[i]);
		b = m2m_object_attr(x, chosen[i]);
		if ((a == NULL) != (b == NULL) || (a != NULL &&
		    (a->len != b->len || memcmp(a->val, b->val, a->len) != 0)))
			break;
	}
	m2m_object_free(x);
	if (i == sizeof(chosen) / sizeof(chosen[0]))
		return CKR_OK;
	m2m_info("C_DeriveKey: object %lu was derived the same way but its "
	    "attribute 0x%lx differs from this template's: destroy it to "
	    "derive the key anew", (unsigned long)h,
	    (unsigned long)chosen[i]);
	return CKR_TEMPLATE_INCONSISTENT;
}

static CK_RV
derive_key(struct p11_session *s, CK_MECHANISM_PTR pMechanism,
    CK_OBJECT_HANDLE hBaseKey, CK_ATTRIBUTE_PTR pTemplate,
    CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey)
{
	struct m2m_attr *t = NULL;
	struct m2m_object *base = NULL, *o = NULL;
	const struct m2m_attr *value, *a;
	struct m2m_keyref kr;
	struct derived d;
	char *e2eid = NULL;
	size_t vlen, fl;
	const uint8_t *fqdn;
	uint8_t same[M2M_SAME_CHECK_LEN];
	int have_same = 0;
	CK_RV rv;
	int r, in_txn = 0;

	memset(&d, 0, sizeof(d));
	if (pMechanism == NULL || phKey == NULL) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if ((rv = p11_template_in(pTemplate, ulAttributeCount, &t)) != CKR_OK)
		goto out;
	if ((r = p11_object_get(s, hBaseKey, &base)) != 0) {
		rv = p11_rv_in(P11_RV_KEY, r);
		goto out;
	}
	m2m_core_keyref(base, M2M_FORM_VALUE, p11_session_objauth(s), &kr);
	d.pm.mechanism = pMechanism->mechanism;
	d.pm.base = base;
	switch (pMechanism->mechanism) {
	case CKM_M2M_KM_DERIVE:
	case CKM_M2M_KPSA_DERIVE:
	case CKM_M2M_KUC_DERIVE:
		rv = derive_from_ke(base, pMechanism, &kr, &d);
		break;
	case CKM_M2M_E2E_MASTER_SHA256:
	case CKM_M2M_E2E_MASTER_SHA512:
	case CKM_M2M_E2E_EXPAND:
		rv = derive_e2e(base, pMechanism, &kr, &d);
		break;
	case CKM_M2M_TLS12_PSK_MASTER:
		rv = derive_tls_master(base, pMechanism, s, &d);
		break;
	case CKM_HKDF_DERIVE:
		rv = derive_hkdf(base, pMechanism, &kr, t, ulAttributeCount,
		    &d);
		break;
	default:
		rv = CKR_MECHANISM_INVALID;
	}
	if (rv != CKR_OK) {
		m2m_info("C_DeriveKey(0x%lx): 0x%lx", pMechanism->mechanism,
		    rv);
		goto out;
	}
	if ((r = m2m_policy_build(M2M_ORIGIN_DERIVE, t, ulAttributeCount,
	    &d.pm, &o, &value, &vlen)) != 0) {
		m2m_info("C_DeriveKey: template: %s", m2m_strerror(r));
		rv = p11_rv(r);
		goto out;
	}
	if ((rv = m2m_object_bool(o, CKA_TOKEN, 0) && !p11_session_is_rw(s) ?
	    CKR_SESSION_READ_ONLY : CKR_OK) != CKR_OK)
		goto out;
	o->delivered = d.pm.deliverable && o->role == CK_M2M_ROLE_NONE;
	/*
	 * The peer a key is bound to is the mechanism's (or the base's): a
	 * template may repeat it, not name another (contract section 3: a
	 * derived key's template sets CKA_LABEL, CKA_ID, CKA_TOKEN,
	 * CKA_M2M_EXPIRES).
	 */
	if ((a = m2m_object_attr(o, CKA_M2M_PEER_ID)) != NULL) {
		const struct m2m_attr *bp = m2m_object_attr(base,
		    CKA_M2M_PEER_ID);
		const uint8_t *pv = d.peer != NULL ? d.peer :
		    bp != NULL ? bp->val : NULL;
		size_t pl = d.peer != NULL ? d.peerlen :
		    bp != NULL ? bp->len : 0;

		uint8_t *np = NULL;
		size_t nl = 0;

		/* compared as the mechanism's is: after NFKC (found in
		   review: a template repeating it unnormalised was refused) */
		if (pv == NULL ||
		    m2m_ident_nfkc(a->val, a->len, &np, &nl) != 0 ||
		    nl != pl || memcmp(np, pv, pl) != 0) {
			free(np);
			m2m_info("C_DeriveKey: CKA_M2M_PEER_ID is the "
			    "mechanism's, not the template's");
			rv = CKR_TEMPLATE_INCONSISTENT;
			goto out;
		}
		r = m2m_object_attr_set(o, CKA_M2M_PEER_ID, np, nl);
		free(np);
		if (r != 0) {
			rv = p11_rv(r);
			goto out;
		}
	}
	/* the base key is part of the new key's identity (and its MAC) */
	if ((r = m2m_object_set_base(o, base)) != 0) {
		rv = p11_rv(r);
		goto out;
	}
	if (d.want_e2e_id && m2m_object_attr(o, CKA_LABEL) == NULL) {
		/*
		 * [profile] E2EKeyId = hex(HMAC(master, id label)[0..16]) @
		 * FQDN, from the master's value before it is wrapped: no
		 * backend call, no working copy loaded for it.
		 */
		a = m2m_object_attr(base, CKA_LABEL);
		fqdn = a ? m2m_ident_fqdn(a->val, a->len, &fl) : NULL;
		if (fqdn == NULL) {
			m2m_info("C_DeriveKey: base label has no @FQDN; give "
			    "CKA_LABEL for the E2E master");
			rv = CKR_TEMPLATE_INCOMPLETE;
			goto out;
		}
		if ((r = m2m_kdf_e2e_keyid_value(d.value, d.e2e_hash, fqdn,
		    fl, &e2eid)) != 0) {
			rv = p11_rv(r);
			goto out;
		}
		d.label = e2eid;
		e2eid = NULL;
	}
	/*
	 * Wrapped into the backend, or for a session secret that goes to the
	 * caller's TLS stack next (TLS_MASTER) or a key derived for delivery
	 * (read once by the MEF, then destroyed) kept as it is in locked
	 * memory rather than wrapped only to be unwrapped and read at once
	 * (m2m_policy_kept_plain).
	 */
	if (o->plain == NULL && (o->key_type == CKK_GENERIC_SECRET ||
	    o->key_type == CKK_AES) &&
	    m2m_core_same_check_value(o->key_type, d.value, same) == 0)
		have_same = 1;
	if ((r = m2m_core_set_value(p11.core, o, &d.value,
	    p11_session_objauth(s))) != 0) {
		m2m_error("C_DeriveKey: backend cannot wrap: %s",
		    m2m_strerror(r));
		rv = p11_rv(r);
		goto out;
	}
	/* identifiers and bindings the template did not give */
	if (m2m_object_attr(o, CKA_LABEL) == NULL && d.label != NULL &&
	    ((r = m2m_object_attr_set(o, CKA_LABEL, d.label,
	    strlen(d.label))) != 0 || (m2m_object_attr(o, CKA_ID) == NULL &&
	    (r = m2m_object_attr_set(o, CKA_ID, d.label,
	    strlen(d.label))) != 0))) {
		rv = p11_rv(r);
		goto out;
	}
	if ((a = m2m_object_attr(base, CKA_M2M_PEER_ID)) != NULL &&
	    d.peer == NULL && (r = set_if_absent(o, CKA_M2M_PEER_ID, a->val,
	    a->len)) != 0) {
		rv = p11_rv(r);
		goto out;
	}
	if ((r = set_if_absent(o, CKA_M2M_PEER_ID, d.peer, d.peerlen)) != 0 ||
	    ((a = m2m_object_attr(base, CKA_M2M_ENROLEE_ID)) != NULL &&
	    (r = set_if_absent(o, a->type, a->val, a->len)) != 0) ||
	    ((a = m2m_object_attr(base, CKA_M2M_EXPIRES)) != NULL &&
	    (r = set_if_absent(o, a->type, a->val, a->len)) != 0) ||
	    (r = m2m_policy_check_expiry(o, base)) != 0) {
		rv = p11_rv(r);
		goto out;
	}
	/*
	 * Deriving the same (role, label, peer) from the same base key again
	 * gives the same key, also across processes: look up and insert in
	 * one store write transaction (BEGIN IMMEDIATE serialises the
	 * writers).  Only a key derived from this base (same id and wrapped
	 * blobs) is returned: never one derived from another base, imported
	 * or generated with the same label.
	 */
	if (o->on_token) {
		if ((r = m2m_store_begin(m2m_core_store(p11.core))) != 0) {
			rv = p11_rv(r);
			goto out;
		}
		in_txn = 1;
	}
	if (o->plain == NULL && have_same &&
	    p11_object_lookup(s, base, o->role, o, same_key, same, phKey)) {
		if ((rv = same_attrs(s, o, *phKey)) != CKR_OK)
			*phKey = CK_INVALID_HANDLE;
		goto out;
	}
	rv = p11_object_store(s, o, phKey);
 out:
	if (in_txn) {
		if (rv == CKR_OK &&
		    (r = m2m_store_commit(m2m_core_store(p11.core))) != 0)
			rv = p11_rv(r);
		if (rv != CKR_OK)
			m2m_store_rollback(m2m_core_store(p11.core));
	}
	derived_clear(&d);
	m2m_wipe(same, sizeof(same));
	free(e2eid);
	m2m_object_free(o);
	m2m_object_free(base);
	p11_template_free(t);
	return rv;
}

CK_RV
p11_C_DeriveKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
    CK_OBJECT_HANDLE hBaseKey, CK_ATTRIBUTE_PTR pTemplate,
    CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey)
{
	P11_SESSION_CALL(hSession, P11_NEED_SESSION, derive_key, pMechanism,
	    hBaseKey, pTemplate, ulAttributeCount, phKey);
}

static CK_RV
generate_key(struct p11_session *s, CK_MECHANISM_PTR pMechanism,
    CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phKey)
{
	struct m2m_attr *t = NULL;
	struct m2m_object *o = NULL;
	struct m2m_secret *v = NULL;
	const struct m2m_attr *value;
	struct m2m_policy_mech pm;
	size_t vlen;
	CK_RV rv;
	int r;

	if (pMechanism == NULL || phKey == NULL)
		return CKR_ARGUMENTS_BAD;
	memset(&pm, 0, sizeof(pm));
	pm.mechanism = pMechanism->mechanism;
	if (pMechanism->mechanism == CKM_GENERIC_SECRET_KEY_GEN)
		pm.key_type = CKK_GENERIC_SECRET;
	else if (pMechanism->mechanism == CKM_AES_KEY_GEN)
		pm.key_type = CKK_AES;
	else
		return CKR_MECHANISM_INVALID;
	if (pMechanism->ulParameterLen != 0)
		return CKR_MECHANISM_PARAM_INVALID;
	if ((rv = p11_template_in(pTemplate, ulCount, &t)) != CKR_OK)
		goto out;
	if ((r = m2m_policy_build(M2M_ORIGIN_GENERATE, t, ulCount, &pm, &o,
	    &value, &vlen)) != 0) {
		m2m_info("C_GenerateKey: %s", m2m_strerror(r));
		rv = p11_rv(r);
		goto out;
	}
	if (o->on_token && !p11_session_is_rw(s)) {
		rv = CKR_SESSION_READ_ONLY;
		goto out;
	}
	if ((r = m2m_secret_new(vlen, &v)) != 0 ||
	    (r = m2m_core_random(p11.core, m2m_secret_data(v), vlen)) != 0 ||
	    (r = m2m_core_wrap(p11.core, o, m2m_secret_data(v), vlen,
	    p11_session_objauth(s))) != 0) {
		m2m_error("C_GenerateKey: %s", m2m_strerror(r));
		rv = p11_rv(r);
		goto out;
	}
	rv = p11_object_store(s, o, phKey);
 out:
	m2m_secret_free(v);
	m2m_object_free(o);
	p11_template_free(t);
	return rv;
}

CK_RV
p11_C_GenerateKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
    CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phKey)
{
	P11_SESSION_CALL(hSession, P11_NEED_SESSION, generate_key, pMechanism,
	    pTemplate, ulCount, phKey);
}

static CK_RV
generate_random(struct p11_session *s, CK_BYTE_PTR pRandomData,
    CK_ULONG ulRandomLen)
{
	size_t off, n;
	int r;

	(void)s;
	if (pRandomData == NULL && ulRandomLen != 0)
		return CKR_ARGUMENTS_BAD;
	if (ulRandomLen > RANDOM_MAX)
		return CKR_DATA_LEN_RANGE;
	for (off = 0; off < ulRandomLen; off += n) {
		n = ulRandomLen - off > RANDOM_CHUNK ? RANDOM_CHUNK :
		    ulRandomLen - off;
		if ((r = m2m_core_random(p11.core, pRandomData + off,
		    n)) != 0) {
			m2m_error("C_GenerateRandom: %s", m2m_strerror(r));
			return p11_rv(r);
		}
	}
	return CKR_OK;
}

CK_RV
p11_C_GenerateRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pRandomData,
    CK_ULONG ulRandomLen)
{
	P11_SESSION_CALL(hSession, P11_NEED_SESSION, generate_random,
	    pRandomData, ulRandomLen);
}

/* Functions this token refuses, once the session is known. */
static CK_RV
refuse(struct p11_session *s, CK_RV rv)
{
	(void)s;
	return rv;
}

CK_RV
p11_C_SeedRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSeed,
    CK_ULONG ulSeedLen)
{
	/* the arguments first, before the session (google/pkcs11test) */
	if (pSeed == NULL && ulSeedLen != 0)
		return CKR_ARGUMENTS_BAD;
	P11_SESSION_CALL(hSession, P11_NEED_SESSION, refuse,
	    CKR_RANDOM_SEED_NOT_SUPPORTED);
}

static CK_RV
wrap_key(struct p11_session *s, CK_MECHANISM_PTR pMechanism,
    CK_OBJECT_HANDLE hKey, CK_ULONG_PTR pulWrappedKeyLen)
{
	struct m2m_object *k = NULL;
	CK_RV rv;
	int r;

	if (pMechanism == NULL || pulWrappedKeyLen == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((r = p11_object_get(s, hKey, &k)) != 0)
		return p11_rv_in(P11_RV_WRAP_KEY, r);
	/* no key leaves this token wrapped: role keys least of all */
	if (m2m_policy_check_use(k, M2M_USE_WRAP, 0) != 0 ||
	    !m2m_object_bool(k, CKA_EXTRACTABLE, 0)) {
		m2m_info("C_WrapKey: key %lu is not extractable", hKey);
		rv = CKR_KEY_UNEXTRACTABLE;
	} else
		rv = CKR_MECHANISM_INVALID;
	m2m_object_free(k);
	return rv;
}

CK_RV
p11_C_WrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
    CK_OBJECT_HANDLE hWrappingKey, CK_OBJECT_HANDLE hKey,
    CK_BYTE_PTR pWrappedKey, CK_ULONG_PTR pulWrappedKeyLen)
{
	(void)hWrappingKey;
	(void)pWrappedKey;
	P11_SESSION_CALL(hSession, P11_NEED_SESSION, wrap_key, pMechanism,
	    hKey, pulWrappedKeyLen);
}

CK_RV
p11_C_UnwrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
    CK_OBJECT_HANDLE hUnwrappingKey, CK_BYTE_PTR pWrappedKey,
    CK_ULONG ulWrappedKeyLen, CK_ATTRIBUTE_PTR pTemplate,
    CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey)
{
	(void)hUnwrappingKey;
	(void)pWrappedKey;
	(void)ulWrappedKeyLen;
	(void)pTemplate;
	(void)ulAttributeCount;
	P11_SESSION_CALL(hSession, P11_NEED_SESSION, refuse,
	    pMechanism == NULL || phKey == NULL ? CKR_ARGUMENTS_BAD :
	    CKR_MECHANISM_INVALID);
}

/* Recovery and dual-function calls: none of this token's mechanisms. */
#define NOT_SUPPORTED(h)						\
	P11_SESSION_CALL((h), P11_NEED_SESSION, refuse,			\
	    CKR_FUNCTION_NOT_SUPPORTED)

CK_RV
p11_C_SignRecoverInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m,
    CK_OBJECT_HANDLE k)
{
	(void)m;
	(void)k;
	NOT_SUPPORTED(h);
}

CK_RV
p11_C_SignRecover(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dl,
    CK_BYTE_PTR s, CK_ULONG_PTR sl)
{
	(void)d; (void)dl; (void)s; (void)sl;
	NOT_SUPPORTED(h);
}

CK_RV
p11_C_VerifyRecoverInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m,
    CK_OBJECT_HANDLE k)
{
	(void)m;
	(void)k;
	NOT_SUPPORTED(h);
}

CK_RV
p11_C_VerifyRecover(CK_SESSION_HANDLE h, CK_BYTE_PTR s, CK_ULONG sl,
    CK_BYTE_PTR d, CK_ULONG_PTR dl)
{
	(void)d; (void)dl; (void)s; (void)sl;
	NOT_SUPPORTED(h);
}

CK_RV
p11_C_DigestEncryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR p, CK_ULONG pl,
    CK_BYTE_PTR e, CK_ULONG_PTR el)
{
	(void)p; (void)pl; (void)e; (void)el;
	NOT_SUPPORTED(h);
}

CK_RV
p11_C_DecryptDigestUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR e, CK_ULONG el,
    CK_BYTE_PTR p, CK_ULONG_PTR pl)
{
	(void)p; (void)pl; (void)e; (void)el;
	NOT_SUPPORTED(h);
}

CK_RV
p11_C_SignEncryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR p, CK_ULONG pl,
    CK_BYTE_PTR e, CK_ULONG_PTR el)
{
	(void)p; (void)pl; (void)e; (void)el;
	NOT_SUPPORTED(h);
}

CK_RV
p11_C_DecryptVerifyUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR e, CK_ULONG el,
    CK_BYTE_PTR p, CK_ULONG_PTR pl)
{
	(void)p; (void)pl; (void)e; (void)el;
	NOT_SUPPORTED(h);
}
