/*
 * m2mtoken: the mechanism table (what C_GetMechanismInfo says, and for the
 * sign/verify/encrypt/decrypt mechanisms the key type and the parameter
 * parser) and the one operation init that runs from it.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core.h"
#include "err.h"
#include "log.h"
#include "object.h"
#include "p11.h"
#include "policy.h"

#define GCM_IV_GEN_LEN	12	/* a token-generated IV: 96 random bits */
#define GCM_TAG_MIN	96	/* shortest tag, in bits (SP 800-38D 5.2.1.2) */
#define GCM_AAD_MAX	(64u << 10)

/* An operation's parsed mechanism parameter. */
struct op_param {
	enum m2m_hash	 hash;		/* HMAC */
	size_t		 maclen;
	CK_GCM_PARAMS	 gcm;		/* AES-GCM */
};

/*
 * A parameter parser: CKR_OK and *p filled, or CKR_MECHANISM_PARAM_INVALID.
 * A start hook: the operation's key is s->op_key, checked; fills the rest
 * of the session's operation state from p.
 */
typedef CK_RV	(*param_fn)(const CK_MECHANISM *m, struct op_param *p);
typedef CK_RV	(*start_fn)(struct p11_session *s, CK_MECHANISM_PTR m,
		    struct op_param *p);

static const struct mech_info {
	CK_MECHANISM_TYPE	type;
	CK_ULONG		min, max;
	CK_FLAGS		flags;
	/* sign, verify, encrypt, decrypt: the key and the parameter */
	CK_KEY_TYPE		key_type;
	enum m2m_hash		hash;
	param_fn		param;
	start_fn		start;
} *mech_find(CK_MECHANISM_TYPE t);

static CK_RV	hmac_param(const CK_MECHANISM *m, struct op_param *p);
static CK_RV	hmac_general_param(const CK_MECHANISM *m, struct op_param *p);
static CK_RV	gcm_param(const CK_MECHANISM *m, struct op_param *p);
static CK_RV	hmac_start(struct p11_session *s, CK_MECHANISM_PTR m,
		    struct op_param *p);
static CK_RV	ecdsa_param(const CK_MECHANISM *m, struct op_param *p);
static CK_RV	ecdsa_start(struct p11_session *s, CK_MECHANISM_PTR m,
		    struct op_param *p);
static CK_RV	gcm_start(struct p11_session *s, CK_MECHANISM_PTR m,
		    struct op_param *p);

#define P11_VERIFY_MAC_MIN	(GCM_TAG_MIN / 8) /* bytes a C_Verify checks */

#define HMAC_MECH(type, hash, param)					\
	{ type, 1, M2M_HMAC_KEY_MAX, CKF_SIGN | CKF_VERIFY,		\
	  CKK_GENERIC_SECRET, hash, param, hmac_start }
#define DERIVE_MECH(type, min, max)					\
	{ type, min, max, CKF_DERIVE, 0, 0, NULL, NULL }
/* key sizes in bits, and the curves: named, uncompressed, over F_p */
#define EC_FLAGS	(CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS)
#define ECDSA_MECH(type, hash)						\
	{ type, 256, 384, CKF_SIGN | CKF_VERIFY | EC_FLAGS, CKK_EC,	\
	  hash, ecdsa_param, ecdsa_start }

static const struct mech_info mechs[] = {
	{ CKM_GENERIC_SECRET_KEY_GEN, 1, M2M_KEY_MAX, CKF_GENERATE,
	  0, 0, NULL, NULL },
	{ CKM_AES_KEY_GEN, 16, 32, CKF_GENERATE, 0, 0, NULL, NULL },
	HMAC_MECH(CKM_SHA256_HMAC, M2M_HASH_SHA256, hmac_param),
	HMAC_MECH(CKM_SHA256_HMAC_GENERAL, M2M_HASH_SHA256,
	    hmac_general_param),
	HMAC_MECH(CKM_SHA512_HMAC, M2M_HASH_SHA512, hmac_param),
	HMAC_MECH(CKM_SHA512_HMAC_GENERAL, M2M_HASH_SHA512,
	    hmac_general_param),
	{ CKM_AES_GCM, 16, 32, CKF_ENCRYPT | CKF_DECRYPT, CKK_AES, 0,
	  gcm_param, gcm_start },
	{ CKM_SHA256, 0, 0, CKF_DIGEST, 0, 0, NULL, NULL },
	DERIVE_MECH(CKM_HKDF_DERIVE, 1, M2M_KEY_MAX),
	DERIVE_MECH(CKM_M2M_KM_DERIVE, 32, 32),
	DERIVE_MECH(CKM_M2M_KPSA_DERIVE, 32, 32),
	DERIVE_MECH(CKM_M2M_KUC_DERIVE, 32, 32),
	DERIVE_MECH(CKM_M2M_E2E_MASTER_SHA256, 1, 62),
	DERIVE_MECH(CKM_M2M_E2E_MASTER_SHA512, 1, 62),
	DERIVE_MECH(CKM_M2M_E2E_EXPAND, 32, 64),
	DERIVE_MECH(CKM_M2M_TLS12_PSK_MASTER, 1, 62),
	/* offered only when the backend has EC keys (mech_offered) */
	{ CKM_EC_KEY_PAIR_GEN, 256, 384, CKF_GENERATE_KEY_PAIR | EC_FLAGS,
	  CKK_EC, 0, NULL, NULL },
	ECDSA_MECH(CKM_ECDSA, 0),
	ECDSA_MECH(CKM_ECDSA_SHA256, M2M_HASH_SHA256),
	ECDSA_MECH(CKM_ECDSA_SHA384, M2M_HASH_SHA384),
};
#define NMECHS (sizeof(mechs) / sizeof(mechs[0]))

/* 1 if this token offers m: EC mechanisms only with a backend that has EC */
static int
mech_offered(const struct mech_info *m)
{
	return m->key_type != CKK_EC || m2m_core_has_ec(p11.core);
}

static const struct mech_info *
mech_find(CK_MECHANISM_TYPE t)
{
	size_t i;

	for (i = 0; i < NMECHS; i++)
		if (mechs[i].type == t && mech_offered(&mechs[i]))
			return &mechs[i];
	return NULL;
}

static CK_RV
slot_ok(CK_SLOT_ID slot)
{
	struct p11_token *t;

	return p11_slot_check(slot, &t);
}

static CK_RV
get_mechanism_list(CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pList,
    CK_ULONG_PTR pulCount)
{
	size_t i, n = 0, k = 0;
	CK_RV rv;

	if ((rv = slot_ok(slotID)) != CKR_OK)
		return rv;
	if (pulCount == NULL)
		return CKR_ARGUMENTS_BAD;
	for (i = 0; i < NMECHS; i++)
		n += mech_offered(&mechs[i]);
	if (pList == NULL) {
		*pulCount = n;
		return CKR_OK;
	}
	if (*pulCount < n) {
		*pulCount = n;
		return CKR_BUFFER_TOO_SMALL;
	}
	for (i = 0; i < NMECHS; i++)
		if (mech_offered(&mechs[i]))
			pList[k++] = mechs[i].type;
	*pulCount = n;
	return CKR_OK;
}

CK_RV
p11_C_GetMechanismList(CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pList,
    CK_ULONG_PTR pulCount)
{
	P11_CALL(get_mechanism_list, slotID, pList, pulCount);
}

static CK_RV
get_mechanism_info(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type,
    CK_MECHANISM_INFO_PTR pInfo)
{
	const struct mech_info *m;
	CK_RV rv;

	if ((rv = slot_ok(slotID)) != CKR_OK)
		return rv;
	if (pInfo == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((m = mech_find(type)) == NULL)
		return CKR_MECHANISM_INVALID;
	pInfo->ulMinKeySize = m->min;
	pInfo->ulMaxKeySize = m->max;
	pInfo->flags = m->flags | CKF_HW;
	return CKR_OK;
}

CK_RV
p11_C_GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type,
    CK_MECHANISM_INFO_PTR pInfo)
{
	P11_CALL(get_mechanism_info, slotID, type, pInfo);
}

/* ------------------------------------------------------------------ */
/* parameters                                                          */
/* ------------------------------------------------------------------ */

static CK_RV
hmac_param(const CK_MECHANISM *m, struct op_param *p)
{
	if (m->ulParameterLen != 0)
		return CKR_MECHANISM_PARAM_INVALID;
	p->maclen = m2m_hash_len(p->hash);
	return CKR_OK;
}

/*
 * CK_MAC_GENERAL_PARAMS: the MAC length, 1 up to the hash length (to
 * verify, at least P11_VERIFY_MAC_MIN: hmac_start)
 */
static CK_RV
hmac_general_param(const CK_MECHANISM *m, struct op_param *p)
{
	CK_ULONG l;

	if (m->pParameter == NULL || m->ulParameterLen != sizeof(l))
		return CKR_MECHANISM_PARAM_INVALID;
	memcpy(&l, m->pParameter, sizeof(l));
	if (l < 1 || l > m2m_hash_len(p->hash))
		return CKR_MECHANISM_PARAM_INVALID;
	p->maclen = l;
	return CKR_OK;
}

/* the ECDSA mechanisms take no parameter */
static CK_RV
ecdsa_param(const CK_MECHANISM *m, struct op_param *p)
{
	(void)p;
	return m->ulParameterLen != 0 ? CKR_MECHANISM_PARAM_INVALID : CKR_OK;
}

static CK_RV
gcm_param(const CK_MECHANISM *m, struct op_param *p)
{
	CK_GCM_PARAMS *g = &p->gcm;

	if (m->pParameter == NULL || m->ulParameterLen != sizeof(*g))
		return CKR_MECHANISM_PARAM_INVALID;
	memcpy(g, m->pParameter, sizeof(*g));
	if (g->pIv == NULL || g->ulIvLen < 1 || g->ulIvLen > M2M_GCM_IV_MAX ||
	    (g->pAAD == NULL && g->ulAADLen != 0) || g->ulAADLen > GCM_AAD_MAX ||
	    g->ulTagBits < GCM_TAG_MIN || g->ulTagBits > 8 * M2M_GCM_TAG_MAX ||
	    g->ulTagBits % 8 != 0)
		return CKR_MECHANISM_PARAM_INVALID;
	return CKR_OK;
}

/* ------------------------------------------------------------------ */
/* starting an operation                                               */
/* ------------------------------------------------------------------ */

static CK_RV
hmac_start(struct p11_session *s, CK_MECHANISM_PTR m, struct op_param *p)
{
	(void)m;
	/* contract section 3: Ker is an HMAC-SHA-256 key */
	if (s->op_key->role == CK_M2M_ROLE_KER && p->hash != M2M_HASH_SHA256) {
		m2m_info("key %llu: Ker allows HMAC-SHA-256 only",
		    (unsigned long long)s->op_key->id);
		return CKR_KEY_FUNCTION_NOT_PERMITTED;
	}
	/*
	 * A short MAC to check is an oracle: a byte at a time, 256 guesses
	 * each, C_Verify would give the whole HMAC of any message, a
	 * signature from a key that may only verify (found in review).  So
	 * a verification checks at least P11_VERIFY_MAC_MIN bytes: the 96
	 * bits of GCM_TAG_MIN.
	 */
	if (s->op == P11_OP_VERIFY && p->maclen < P11_VERIFY_MAC_MIN) {
		m2m_info("C_VerifyInit: a MAC of %zu bytes is too short to "
		    "check (at least %d)", p->maclen, P11_VERIFY_MAC_MIN);
		return CKR_MECHANISM_PARAM_INVALID;
	}
	s->op_hash = p->hash;
	s->op_maclen = p->maclen;
	return CKR_OK;
}

static CK_RV
ecdsa_start(struct p11_session *s, CK_MECHANISM_PTR m, struct op_param *p)
{
	(void)m;
	return p11_ecdsa_start(s, p->hash);
}

/*
 * Does an encryption ask the token for its IV?  Our convention, documented
 * in docs/operations.md: ulIvLen 12, ulIvBits 0 and pIv all zero bytes (an
 * IV no caller should use twice, so taking it over costs nothing); the
 * generated IV is written to pIv at C_EncryptInit.
 */
static int
gcm_iv_wanted(const CK_GCM_PARAMS *p)
{
	uint8_t acc = 0;
	size_t i;

	if (p->ulIvLen != GCM_IV_GEN_LEN || p->ulIvBits != 0)
		return 0;
	for (i = 0; i < GCM_IV_GEN_LEN; i++)
		acc |= p->pIv[i];
	return acc == 0;
}

static CK_RV
gcm_start(struct p11_session *s, CK_MECHANISM_PTR m, struct op_param *p)
{
	CK_GCM_PARAMS *g = &p->gcm;
	int r;

	(void)m;
	s->op_iv = malloc(g->ulIvLen);
	s->op_aad = malloc(g->ulAADLen ? g->ulAADLen : 1);
	if (s->op_iv == NULL || s->op_aad == NULL)
		return CKR_HOST_MEMORY;
	/*
	 * GCM is a counter mode: encrypting a ciphertext again under its IV
	 * gives the plaintext back.  So a key that may encrypt but not
	 * decrypt takes only the token's IV (found in review).
	 */
	if (s->op == P11_OP_ENCRYPT && !gcm_iv_wanted(g) &&
	    m2m_policy_check_use(s->op_key, M2M_USE_DECRYPT, 0) != 0) {
		m2m_info("C_EncryptInit: key %llu may not decrypt, so it "
		    "takes only the token's IV (12 zero bytes in pIv)",
		    (unsigned long long)s->op_key->id);
		return CKR_MECHANISM_PARAM_INVALID;
	}
	if (s->op == P11_OP_ENCRYPT && gcm_iv_wanted(g)) {
		if ((r = m2m_core_random(p11.core, s->op_iv,
		    GCM_IV_GEN_LEN)) != 0) {
			m2m_error("C_EncryptInit: IV: %s", m2m_strerror(r));
			return p11_rv(r);
		}
		memcpy(g->pIv, s->op_iv, GCM_IV_GEN_LEN);	/* to the caller */
	} else
		memcpy(s->op_iv, g->pIv, g->ulIvLen);
	s->op_ivlen = g->ulIvLen;
	if (g->ulAADLen != 0)
		memcpy(s->op_aad, g->pAAD, g->ulAADLen);
	s->op_aadlen = g->ulAADLen;
	s->op_taglen = g->ulTagBits / 8;
	return CKR_OK;
}

static const struct {
	CK_FLAGS	flag;
	enum m2m_use	use;
} op_kind[] = {
	[P11_OP_SIGN] = { CKF_SIGN, M2M_USE_SIGN },
	[P11_OP_VERIFY] = { CKF_VERIFY, M2M_USE_VERIFY },
	[P11_OP_ENCRYPT] = { CKF_ENCRYPT, M2M_USE_ENCRYPT },
	[P11_OP_DECRYPT] = { CKF_DECRYPT, M2M_USE_DECRYPT },
};

/* see p11.h */
CK_RV
p11_op_init(struct p11_session *s, enum p11_op op, CK_MECHANISM_PTR pMech,
    CK_OBJECT_HANDLE hKey)
{
	const struct mech_info *m;
	struct m2m_object *k = NULL;
	struct op_param p;
	uint64_t gen = 0;
	CK_RV rv;
	int r, gen_ok;

	if (pMech == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((m = mech_find(pMech->mechanism)) == NULL ||
	    (m->flags & op_kind[op].flag) == 0)
		return CKR_MECHANISM_INVALID;
	memset(&p, 0, sizeof(p));
	p.hash = m->hash;
	if ((rv = m->param(pMech, &p)) != CKR_OK)
		return rv;
	if (s->op != P11_OP_NONE)
		return CKR_OPERATION_ACTIVE;
	/* before the key is read: op_key_check's "nothing written since" */
	gen_ok = m2m_core_generation(p11.core, &gen) == 0;
	if ((r = p11_object_get(s, hKey, &k)) != 0)
		return p11_rv_in(P11_RV_KEY, r);
	if ((r = m2m_policy_check_use(k, op_kind[op].use,
	    (int64_t)time(NULL))) != 0) {
		m2m_info("key %lu: %s", hKey, m2m_strerror(r));
		m2m_object_free(k);
		return p11_rv(r);
	}
	s->op = op;
	s->op_mech = pMech->mechanism;
	s->op_key = k;
	p11.op_keys++;		/* s->op was none: op_key was NULL */
	s->op_gen = gen;
	s->op_gen_ok = gen_ok;
	s->op_len = 0;
	if (k->key_type != m->key_type)
		rv = CKR_KEY_TYPE_INCONSISTENT;
	else
		rv = m->start(s, pMech, &p);
	if (rv != CKR_OK)
		p11_session_op_reset(s);
	return rv;
}
