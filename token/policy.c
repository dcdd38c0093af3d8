/*
 * m2mtoken: role policy and attribute rules of secret keys, and the
 * template helpers policy_obj.c shares (policy_int.h).  See policy.h and
 * docs/security-model.md.
 */
#include <stdlib.h>
#include <string.h>

#include <m2mtoken/pkcs11-m2m.h>

#include "ec.h"
#include "err.h"
#include "ident.h"
#include "log.h"
#include "object.h"
#include "policy.h"
#include "policy_int.h"
#include "backend.h"

enum akind { A_BOOL, A_ULONG, A_BYTES, A_UTF8, A_DATE, A_TIMESTAMP };

/* how an attribute may be given and changed */
#define F_CREATE	0x01	/* may appear in a creation template */
#define F_MODIFY	0x02	/* may be changed by C_SetAttributeValue */
#define F_COPY		0x04	/* may be changed by C_CopyObject */
#define F_SEARCH	0x08	/* may be searched for (all but VALUE) */

static const struct attr_rule {
	unsigned long	type;
	enum akind	kind;
	unsigned int	flags;
} attr_rules[] = {
	{ CKA_CLASS,		A_ULONG, F_CREATE | F_SEARCH },
	{ CKA_TOKEN,		A_BOOL,  F_CREATE | F_COPY | F_SEARCH },
	{ CKA_PRIVATE,		A_BOOL,  F_CREATE | F_COPY | F_SEARCH },
	{ CKA_MODIFIABLE,	A_BOOL,  F_CREATE | F_COPY | F_SEARCH },
	{ CKA_COPYABLE,		A_BOOL,  F_CREATE | F_COPY | F_SEARCH },
	{ CKA_DESTROYABLE,	A_BOOL,  F_CREATE | F_COPY | F_SEARCH },
	{ CKA_LABEL,		A_BYTES, F_CREATE | F_MODIFY | F_COPY | F_SEARCH },
	{ CKA_KEY_TYPE,		A_ULONG, F_CREATE | F_SEARCH },
	{ CKA_ID,		A_BYTES, F_CREATE | F_MODIFY | F_COPY | F_SEARCH },
	{ CKA_START_DATE,	A_DATE,  F_CREATE | F_MODIFY | F_COPY | F_SEARCH },
	{ CKA_END_DATE,		A_DATE,  F_CREATE | F_MODIFY | F_COPY | F_SEARCH },
	{ CKA_DERIVE,		A_BOOL,  F_CREATE | F_MODIFY | F_COPY | F_SEARCH },
	{ CKA_LOCAL,		A_BOOL,  F_SEARCH },
	{ CKA_KEY_GEN_MECHANISM, A_ULONG, F_SEARCH },
	{ CKA_SENSITIVE,	A_BOOL,  F_CREATE | F_MODIFY | F_COPY | F_SEARCH },
	{ CKA_ENCRYPT,		A_BOOL,  F_CREATE | F_MODIFY | F_COPY | F_SEARCH },
	{ CKA_DECRYPT,		A_BOOL,  F_CREATE | F_MODIFY | F_COPY | F_SEARCH },
	{ CKA_SIGN,		A_BOOL,  F_CREATE | F_MODIFY | F_COPY | F_SEARCH },
	{ CKA_VERIFY,		A_BOOL,  F_CREATE | F_MODIFY | F_COPY | F_SEARCH },
	{ CKA_WRAP,		A_BOOL,  F_CREATE | F_MODIFY | F_COPY | F_SEARCH },
	{ CKA_UNWRAP,		A_BOOL,  F_CREATE | F_MODIFY | F_COPY | F_SEARCH },
	{ CKA_EXTRACTABLE,	A_BOOL,  F_CREATE | F_MODIFY | F_COPY | F_SEARCH },
	{ CKA_ALWAYS_SENSITIVE,	A_BOOL,  F_SEARCH },
	{ CKA_NEVER_EXTRACTABLE, A_BOOL, F_SEARCH },
	{ CKA_WRAP_WITH_TRUSTED, A_BOOL, F_CREATE | F_MODIFY | F_COPY | F_SEARCH },
	{ CKA_TRUSTED,		A_BOOL,  F_SEARCH },
	{ CKA_VALUE,		A_BYTES, F_CREATE },
	{ CKA_VALUE_LEN,	A_ULONG, F_CREATE | F_SEARCH },
	{ CKA_M2M_ROLE,		A_ULONG, F_CREATE | F_SEARCH },
	{ CKA_M2M_PEER_ID,	A_UTF8,  F_CREATE | F_SEARCH },
	{ CKA_M2M_ENROLEE_ID,	A_UTF8,  F_CREATE | F_SEARCH },
	{ CKA_M2M_EXPIRES,	A_TIMESTAMP, F_CREATE | F_SEARCH },
	/* data objects (CKO_DATA) only */
	{ CKA_APPLICATION,	A_BYTES, F_CREATE | F_MODIFY | F_COPY | F_SEARCH },
	{ CKA_OBJECT_ID,	A_BYTES, F_CREATE | F_MODIFY | F_COPY | F_SEARCH },
	/* EC keys and certificates only (m2m_policy_build_ec_key, m2m_policy_build_cert) */
	{ CKA_EC_PARAMS,	A_BYTES, F_CREATE | F_SEARCH },
	{ CKA_EC_POINT,		A_BYTES, F_CREATE | F_SEARCH },
	{ CKA_SUBJECT,		A_BYTES, F_CREATE | F_SEARCH },
	{ CKA_SIGN_RECOVER,	A_BOOL,  F_CREATE | F_SEARCH },
	{ CKA_VERIFY_RECOVER,	A_BOOL,  F_CREATE | F_SEARCH },
	{ CKA_ALWAYS_AUTHENTICATE, A_BOOL, F_CREATE | F_SEARCH },
	{ CKA_CERTIFICATE_TYPE,	A_ULONG, F_CREATE | F_SEARCH },
	{ CKA_CERTIFICATE_CATEGORY, A_ULONG, F_CREATE | F_SEARCH },
	{ CKA_ISSUER,		A_BYTES, F_CREATE | F_SEARCH },
	{ CKA_SERIAL_NUMBER,	A_BYTES, F_CREATE | F_SEARCH },
	{ CKA_URL,		A_BYTES, F_CREATE | F_SEARCH },
	{ CKA_HASH_OF_SUBJECT_PUBLIC_KEY, A_BYTES, F_CREATE | F_SEARCH },
	{ CKA_HASH_OF_ISSUER_PUBLIC_KEY, A_BYTES, F_CREATE | F_SEARCH },
};

static const struct attr_rule *
rule_of(unsigned long type)
{
	size_t i;

	for (i = 0; i < sizeof(attr_rules) / sizeof(attr_rules[0]); i++)
		if (attr_rules[i].type == type)
			return &attr_rules[i];
	return NULL;
}

/* usage flags a role key carries; all others are FALSE */
static const unsigned long usage_flags[] = {
	CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN, CKA_VERIFY, CKA_WRAP, CKA_UNWRAP,
	CKA_DERIVE
};

/* 1 if type is one of usage_flags[]. */
static int
is_usage_flag(unsigned long type)
{
	size_t i;

	for (i = 0; i < sizeof(usage_flags) / sizeof(usage_flags[0]); i++)
		if (usage_flags[i] == type)
			return 1;
	return 0;
}

static int
role_flag(unsigned long role, unsigned long flag)
{
	switch (role) {
	case CK_M2M_ROLE_KPM:
	case CK_M2M_ROLE_KE:
	case CK_M2M_ROLE_KM:
	case CK_M2M_ROLE_KPSA:
	case CK_M2M_ROLE_KUC:
	case CK_M2M_ROLE_KC:
	case CK_M2M_ROLE_KE2E_MASTER:
		return flag == CKA_DERIVE;
	case CK_M2M_ROLE_KER:
	case CK_M2M_ROLE_KE2E_MSG_AUTH:
	case CK_M2M_ROLE_KE2E_ATT_AUTH:
		return flag == CKA_SIGN || flag == CKA_VERIFY;
	case CK_M2M_ROLE_KE2E_MSG_CONF:
	case CK_M2M_ROLE_KE2E_ATT_CONF:
		return flag == CKA_ENCRYPT || flag == CKA_DECRYPT;
	case CK_M2M_ROLE_IBC_SSK:
		return flag == CKA_SIGN;
	default:
		return 0;
	}
}

/* see policy.h */
int
m2m_policy_role_valid(unsigned long role)
{
	return (role >= CK_M2M_ROLE_KPM && role <= CK_M2M_ROLE_KE2E_ATT_CONF) ||
	    role == CK_M2M_ROLE_IBC_SSK || role == CK_M2M_ROLE_IBC_KSAK ||
	    role == CK_M2M_ROLE_TLS_MASTER;
}

/* see policy.h */
int
m2m_policy_role_kept_plain(unsigned long role)
{
	return role == CK_M2M_ROLE_TLS_MASTER;
}

/* see policy.h */
int
m2m_policy_kept_plain(const struct m2m_object *o)
{
	if (m2m_policy_role_kept_plain(o->role))
		return 1;
	static const unsigned long use[] = { CKA_SIGN, CKA_VERIFY,
	    CKA_ENCRYPT, CKA_DECRYPT, CKA_DERIVE, CKA_WRAP, CKA_UNWRAP };
	size_t i;

	if (o->role != CK_M2M_ROLE_NONE || o->cls != CKO_SECRET_KEY ||
	    o->on_token || !m2m_object_bool(o, CKA_EXTRACTABLE, 0) ||
	    m2m_object_bool(o, CKA_SENSITIVE, 1))
		return 0;
	/* only to be read: a key with a use keeps a backend form */
	for (i = 0; i < sizeof(use) / sizeof(use[0]); i++)
		if (m2m_object_bool(o, use[i], 1))
			return 0;
	return 1;
}

/* see policy.h */
int
m2m_policy_role_message(unsigned long role)
{
	struct m2m_object k;

	if (role == CK_M2M_ROLE_NONE)
		return 1;
	/* the role's answer alone: no attributes, so nothing expires */
	memset(&k, 0, sizeof(k));
	k.cls = CKO_SECRET_KEY;
	k.role = role;
	return m2m_policy_check_use(&k, M2M_USE_E2E_MASTER, 0) == 0 ||
	    m2m_policy_check_use(&k, M2M_USE_HKDF, 0) == 0;
}

/* see policy.h */
int
m2m_policy_role_is_psk(unsigned long role)
{
	return role == CK_M2M_ROLE_KPM || role == CK_M2M_ROLE_KPSA ||
	    role == CK_M2M_ROLE_KM || role == CK_M2M_ROLE_KUC ||
	    role == CK_M2M_ROLE_KC;
}

/* see policy.h */
unsigned long
m2m_policy_role_key_type(unsigned long role)
{
	if (role == CK_M2M_ROLE_KE2E_MSG_CONF ||
	    role == CK_M2M_ROLE_KE2E_ATT_CONF)
		return CKK_AES;
	return CKK_GENERIC_SECRET;
}

static int
expired(const struct m2m_object *o, int64_t now)
{
	const struct m2m_attr *a;
	int64_t t;

	/* read when the attributes last changed (object.h) */
	if (o->facts.valid) {
		if (o->facts.expires == M2M_EXPIRES_NEVER)
			return 0;
		if (o->facts.expires != M2M_EXPIRES_AT)
			return 1;	/* unparsable: fail closed */
		return now >= o->facts.expires_at;
	}
	a = m2m_object_attr(o, CKA_M2M_EXPIRES);
	if (a == NULL || a->len == 0)
		return 0;
	if (m2m_ident_timestamp_parse(a->val, a->len, &t) != 0)
		return 1;	/* unparsable: fail closed */
	return now >= t;
}

/* see policy.h */
int
m2m_policy_check_expiry(const struct m2m_object *derived,
    const struct m2m_object *base)
{
	const struct m2m_attr *b = m2m_object_attr(base, CKA_M2M_EXPIRES);
	const struct m2m_attr *d = m2m_object_attr(derived, CKA_M2M_EXPIRES);
	int64_t tb, td;

	if (b == NULL || b->len == 0)
		return 0;	/* the base never expires */
	if (d == NULL || d->len == 0 ||
	    m2m_ident_timestamp_parse(b->val, b->len, &tb) != 0 ||
	    m2m_ident_timestamp_parse(d->val, d->len, &td) != 0 || td > tb) {
		m2m_info("a derived key cannot expire after its base");
		return M2M_ERR_ATTRIBUTE_VALUE;
	}
	return 0;
}

/* see policy.h */
int
m2m_policy_check_use(const struct m2m_object *key, enum m2m_use use,
    int64_t now)
{
	unsigned long role = key->role;
	int ok = 0;

	if (key->cls == CKO_PRIVATE_KEY || key->cls == CKO_PUBLIC_KEY) {
		/* an EC key: signs (private) or verifies (public), no more */
		if (key->key_type != CKK_EC)
			return M2M_ERR_KEY_TYPE;
		if (use == M2M_USE_SIGN && key->cls == CKO_PRIVATE_KEY)
			ok = m2m_object_bool(key, CKA_SIGN, 0);
		else if (use == M2M_USE_VERIFY && key->cls == CKO_PUBLIC_KEY)
			ok = m2m_object_bool(key, CKA_VERIFY, 0);
		if (!ok)
			return M2M_ERR_KEY_FUNCTION;
		return expired(key, now) ? M2M_ERR_KEY_EXPIRED : 0;
	}
	if (key->cls != CKO_SECRET_KEY)
		return M2M_ERR_KEY_TYPE;
	if (role == CK_M2M_ROLE_NONE && key->plain != NULL) {
		/* held in memory to be read (a delivered key): no use */
		m2m_info("a key held for reading has no other use");
		return M2M_ERR_KEY_FUNCTION;
	}
	if (role == CK_M2M_ROLE_NONE) {
		switch (use) {
		case M2M_USE_SIGN:
			ok = m2m_object_bool(key, CKA_SIGN, 0);
			break;
		case M2M_USE_VERIFY:
			ok = m2m_object_bool(key, CKA_VERIFY, 0);
			break;
		case M2M_USE_ENCRYPT:
			ok = m2m_object_bool(key, CKA_ENCRYPT, 0);
			break;
		case M2M_USE_DECRYPT:
			ok = m2m_object_bool(key, CKA_DECRYPT, 0);
			break;
		case M2M_USE_HKDF:
			/* a pre-hashed key is not its value: HMAC only */
			ok = m2m_object_bool(key, CKA_DERIVE, 0) &&
			    !m2m_policy_key_prehashed(key);
			break;
		case M2M_USE_WRAP:
			ok = m2m_object_bool(key, CKA_EXTRACTABLE, 0) &&
			    !m2m_policy_key_prehashed(key);
			break;
		default:
			ok = 0;	/* oneM2M mechanisms need a role */
		}
		if (!ok)
			return M2M_ERR_KEY_FUNCTION;
		/* a role-less key expires too (docs/profile.md) */
		return expired(key, now) ? M2M_ERR_KEY_EXPIRED : 0;
	}
	switch (role) {
	case CK_M2M_ROLE_KPM:
		ok = use == M2M_USE_TLS_MASTER;
		break;
	case CK_M2M_ROLE_KE:
		ok = use == M2M_USE_DERIVE_KE;
		break;
	case CK_M2M_ROLE_KER:
	case CK_M2M_ROLE_KE2E_MSG_AUTH:
	case CK_M2M_ROLE_KE2E_ATT_AUTH:
		ok = use == M2M_USE_SIGN || use == M2M_USE_VERIFY;
		break;
	case CK_M2M_ROLE_KM:
	case CK_M2M_ROLE_KPSA:
	case CK_M2M_ROLE_KUC:
	case CK_M2M_ROLE_KC:
		ok = use == M2M_USE_TLS_MASTER || use == M2M_USE_E2E_MASTER;
		break;
	case CK_M2M_ROLE_KE2E_MASTER:
		ok = use == M2M_USE_E2E_EXPAND;
		break;
	case CK_M2M_ROLE_KE2E_MSG_CONF:
	case CK_M2M_ROLE_KE2E_ATT_CONF:
		ok = use == M2M_USE_ENCRYPT || use == M2M_USE_DECRYPT;
		break;
	case CK_M2M_ROLE_IBC_SSK:
		ok = use == M2M_USE_ECCSI_SIGN;
		break;
	default:
		ok = 0;	/* IBC_KSAK (PKG only), TLS_MASTER: no use here */
	}
	if (!ok)
		return M2M_ERR_KEY_FUNCTION;
	if (expired(key, now))
		return M2M_ERR_KEY_EXPIRED;
	return 0;
}

static int
check_value(const struct attr_rule *rule, const struct m2m_attr *a)
{
	uint8_t *norm = NULL;
	size_t nlen;
	int64_t t;
	int r;

	switch (rule->kind) {
	case A_BOOL:
		return a->len == sizeof(CK_BBOOL) ? 0 : M2M_ERR_ATTRIBUTE_VALUE;
	case A_ULONG:
		return a->len == sizeof(CK_ULONG) ? 0 : M2M_ERR_ATTRIBUTE_VALUE;
	case A_DATE:
		return a->len == 0 || a->len == sizeof(CK_DATE) ? 0 :
		    M2M_ERR_ATTRIBUTE_VALUE;
	case A_UTF8:
		if (a->len == 0)
			return M2M_ERR_ATTRIBUTE_VALUE;
		/* running out of memory is not a bad value */
		if ((r = m2m_ident_nfkc(a->val, a->len, &norm, &nlen)) != 0)
			return r == M2M_ERR_NO_MEMORY ? r :
			    M2M_ERR_ATTRIBUTE_VALUE;
		free(norm);
		return 0;
	case A_TIMESTAMP:
		return m2m_ident_timestamp_parse(a->val, a->len, &t) == 0 ? 0 :
		    M2M_ERR_ATTRIBUTE_VALUE;
	case A_BYTES:
	default:
		return a->len <= M2M_ATTR_MAX_LEN ? 0 : M2M_ERR_ATTRIBUTE_VALUE;
	}
}

/* Type, length and duplicate checks common to every template. */
/* see policy_int.h */
int
m2m_policy_check_template(const struct m2m_attr *t, size_t n)
{
	const struct attr_rule *rule;
	size_t i, j;
	int r;

	if (n > M2M_ATTRS_MAX || (t == NULL && n != 0))
		return M2M_ERR_TEMPLATE_INCONSISTENT;
	for (i = 0; i < n; i++) {
		if ((rule = rule_of(t[i].type)) == NULL) {
			m2m_info("attribute 0x%lx is not supported",
			    t[i].type);
			return M2M_ERR_ATTRIBUTE_TYPE;
		}
		if (t[i].len > M2M_ATTR_MAX_LEN ||
		    (t[i].val == NULL && t[i].len != 0))
			return M2M_ERR_ATTRIBUTE_VALUE;
		if ((r = check_value(rule, &t[i])) != 0) {
			m2m_info("attribute 0x%lx has a bad value",
			    t[i].type);
			return r;
		}
		for (j = 0; j < i; j++)
			if (t[j].type == t[i].type)
				return M2M_ERR_TEMPLATE_INCONSISTENT;
	}
	return 0;
}

/* see policy_int.h */
int
m2m_policy_attr_store(struct m2m_object *o, const struct m2m_attr *a)
{
	const struct attr_rule *rule = rule_of(a->type);

	if (rule != NULL && rule->kind == A_BOOL && a->len == sizeof(CK_BBOOL))
		return m2m_object_attr_set_bool(o, a->type,
		    a->val[0] != CK_FALSE);
	return m2m_object_attr_set(o, a->type, a->val, a->len);
}

/* see policy_int.h */
const struct m2m_attr *
m2m_policy_tmpl_find(const struct m2m_attr *t, size_t n, unsigned long type)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (t[i].type == type)
			return &t[i];
	return NULL;
}

/* see policy_int.h */
int
m2m_policy_tmpl_ulong(const struct m2m_attr *t, size_t n, unsigned long type,
    unsigned long *v)
{
	const struct m2m_attr *a = m2m_policy_tmpl_find(t, n, type);
	CK_ULONG u;

	if (a == NULL)
		return 0;
	memcpy(&u, a->val, sizeof(u));
	*v = u;
	return 1;
}

/* -1 absent, else 0/1 */
/* see policy_int.h */
int
m2m_policy_tmpl_bool(const struct m2m_attr *t, size_t n, unsigned long type)
{
	const struct m2m_attr *a = m2m_policy_tmpl_find(t, n, type);

	if (a == NULL)
		return -1;
	return a->val[0] != CK_FALSE;
}

/* see policy.h */
int
m2m_policy_key_prehashed(const struct m2m_object *o)
{
	const struct m2m_attr *a = m2m_object_attr(o, CKA_VALUE_LEN);
	unsigned long len;

	if (o->cls != CKO_SECRET_KEY || o->role != 0 ||
	    o->key_type != CKK_GENERIC_SECRET || a == NULL ||
	    a->len != sizeof(len))
		return 0;
	memcpy(&len, a->val, sizeof(len));
	return len > M2M_KEY_MAX;
}

static int
key_len_ok(unsigned long key_type, unsigned long role, size_t len)
{
	if (key_type == CKK_AES)
		return len == 16 || len == 24 || len == 32;
	if (len == 0 || len > M2M_KEY_MAX)
		return 0;
	if (m2m_policy_role_is_psk(role) && len > 62)
		return 0;	/* the premaster must fit a backend key */
	return 1;
}

/* Set each boolean to the template's value or to def. */
static int
set_bool_default(struct m2m_object *o, const struct m2m_attr *t, size_t n,
    unsigned long type, int def)
{
	int v = m2m_policy_tmpl_bool(t, n, type);

	return m2m_object_attr_set_bool(o, type, v < 0 ? def : v);
}

/* see policy_int.h */
int
m2m_policy_attrs_creatable(const struct m2m_attr *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if ((rule_of(t[i].type)->flags & F_CREATE) == 0) {
			m2m_info("attribute 0x%lx cannot be set", t[i].type);
			return M2M_ERR_ATTRIBUTE_READ_ONLY;
		}
	}
	return 0;
}

/* see policy_int.h */
int
m2m_policy_build_secret(enum m2m_origin origin, unsigned long cls,
    const struct m2m_attr *tmpl, size_t n, const struct m2m_policy_mech *mech,
    struct m2m_object **ret, const struct m2m_attr **ret_value,
    size_t *ret_value_len)
{
	struct m2m_object *o = NULL;
	const struct m2m_attr *value = NULL, *label, *id;
	unsigned long kt = (unsigned long)-1;
	unsigned long role = 0, u, vlen = 0, genmech;
	size_t i, len = 0;
	int r = M2M_ERR_INTERNAL, has_vlen, sens, extr, b, long_hmac = 0;
	int always, never;

	if (m2m_policy_tmpl_find(tmpl, n, CKA_APPLICATION) != NULL ||
	    m2m_policy_tmpl_find(tmpl, n, CKA_OBJECT_ID) != NULL)
		return M2M_ERR_TEMPLATE_INCONSISTENT;	/* data only */
	for (i = 0; i < n; i++) {
		if (tmpl[i].type == CKA_EC_PARAMS ||
		    tmpl[i].type == CKA_EC_POINT ||
		    tmpl[i].type == CKA_SUBJECT ||
		    (tmpl[i].type >= CKA_CERTIFICATE_TYPE &&
		    tmpl[i].type <= CKA_HASH_OF_ISSUER_PUBLIC_KEY &&
		    tmpl[i].type != CKA_TRUSTED) ||
		    tmpl[i].type == CKA_SIGN_RECOVER ||
		    tmpl[i].type == CKA_VERIFY_RECOVER ||
		    tmpl[i].type == CKA_ALWAYS_AUTHENTICATE) {
			m2m_info("attribute 0x%lx is not one of a secret key",
			    tmpl[i].type);
			return M2M_ERR_TEMPLATE_INCONSISTENT;
		}
	}
	if (cls != CKO_SECRET_KEY)
		return origin == M2M_ORIGIN_CREATE ? M2M_ERR_ATTRIBUTE_VALUE :
		    M2M_ERR_TEMPLATE_INCONSISTENT;
	if (m2m_policy_tmpl_ulong(tmpl, n, CKA_M2M_ROLE, &u) && u == CK_M2M_ROLE_NONE &&
	    origin == M2M_ORIGIN_DERIVE && mech->deliverable) {
		/*
		 * A MEF delivering Kpsa / Kuc to an enrolment target: the key
		 * leaves by design, so it is made role-less (usable for
		 * nothing a role key is) and never kept on the token.
		 */
		if (m2m_policy_tmpl_bool(tmpl, n, CKA_TOKEN) == 1) {
			m2m_info("a key derived for delivery is a session "
			    "key (CKA_TOKEN FALSE)");
			return M2M_ERR_TEMPLATE_INCONSISTENT;
		}
		role = CK_M2M_ROLE_NONE;
	} else if (m2m_policy_tmpl_ulong(tmpl, n, CKA_M2M_ROLE, &u)) {
		if (!m2m_policy_role_valid(u) || u == 0)
			return M2M_ERR_ATTRIBUTE_VALUE;
		/* a derived key's role is its mechanism's (HKDF: none) */
		if ((mech->role != 0 || origin == M2M_ORIGIN_DERIVE) &&
		    u != mech->role)
			return M2M_ERR_TEMPLATE_INCONSISTENT;
		role = u;
	} else
		role = mech->role;
	if (role == CK_M2M_ROLE_IBC_SSK || role == CK_M2M_ROLE_IBC_KSAK ||
	    (role == CK_M2M_ROLE_TLS_MASTER && mech->role != role)) {
		m2m_info("role %lu keys cannot be made this way", role);
		return M2M_ERR_TEMPLATE_INCONSISTENT;
	}
	if (m2m_policy_tmpl_ulong(tmpl, n, CKA_KEY_TYPE, &u)) {
		if (u != CKK_GENERIC_SECRET && u != CKK_AES)
			return origin == M2M_ORIGIN_CREATE ?
			    M2M_ERR_ATTRIBUTE_VALUE :
			    M2M_ERR_TEMPLATE_INCONSISTENT;
		kt = u;
	}
	if (mech->key_type != (unsigned long)-1) {
		if (kt != (unsigned long)-1 && kt != mech->key_type)
			return M2M_ERR_TEMPLATE_INCONSISTENT;
		kt = mech->key_type;
	}
	if (role != 0) {
		if (kt != (unsigned long)-1 &&
		    kt != m2m_policy_role_key_type(role))
			return M2M_ERR_TEMPLATE_INCONSISTENT;
		kt = m2m_policy_role_key_type(role);
	}
	if (kt == (unsigned long)-1) {
		if (origin == M2M_ORIGIN_CREATE)
			return M2M_ERR_TEMPLATE_INCOMPLETE;
		kt = CKK_GENERIC_SECRET;
	}

	/* value and its length */
	value = m2m_policy_tmpl_find(tmpl, n, CKA_VALUE);
	has_vlen = m2m_policy_tmpl_ulong(tmpl, n, CKA_VALUE_LEN, &vlen);
	if (origin == M2M_ORIGIN_CREATE) {
		if (value == NULL)
			return M2M_ERR_TEMPLATE_INCOMPLETE;
		if (has_vlen)
			return M2M_ERR_TEMPLATE_INCONSISTENT;
		len = value->len;
		if (len > M2M_KEY_MAX && len <= M2M_HMAC_KEY_MAX &&
		    role == 0 && kt == CKK_GENERIC_SECRET) {
			/* an HMAC key for RFC 2104's hash: HMAC only */
			long_hmac = 1;
			if (m2m_policy_tmpl_bool(tmpl, n, CKA_SENSITIVE) == 0 ||
			    m2m_policy_tmpl_bool(tmpl, n, CKA_EXTRACTABLE) == 1 ||
			    m2m_policy_tmpl_bool(tmpl, n, CKA_DERIVE) == 1) {
				m2m_info("an HMAC key over %d bytes is "
				    "sensitive, not extractable, HMAC only",
				    M2M_KEY_MAX);
				return M2M_ERR_TEMPLATE_INCONSISTENT;
			}
		} else if (!key_len_ok(kt, role, len))
			return M2M_ERR_ATTRIBUTE_VALUE;
	} else {
		if (value != NULL)
			return M2M_ERR_TEMPLATE_INCONSISTENT;
		if (mech->value_len != 0) {
			if (has_vlen && vlen != mech->value_len)
				return M2M_ERR_TEMPLATE_INCONSISTENT;
			len = mech->value_len;
		} else if (has_vlen) {
			len = vlen;
		} else if (kt == CKK_AES && role != 0) {
			len = 32;
		} else
			return M2M_ERR_TEMPLATE_INCOMPLETE;
		if (!key_len_ok(kt, role, len))
			return origin == M2M_ORIGIN_GENERATE ?
			    M2M_ERR_KEY_SIZE : M2M_ERR_ATTRIBUTE_VALUE;
	}

	/* sensitivity */
	sens = m2m_policy_tmpl_bool(tmpl, n, CKA_SENSITIVE);
	extr = m2m_policy_tmpl_bool(tmpl, n, CKA_EXTRACTABLE);
	if (role == CK_M2M_ROLE_TLS_MASTER) {
		if (m2m_policy_tmpl_bool(tmpl, n, CKA_TOKEN) == 1)
			return M2M_ERR_TEMPLATE_INCONSISTENT;
		sens = 0;
		extr = 1;
	} else if (role != 0) {
		if (sens == 0 || extr == 1 ||
		    m2m_policy_tmpl_bool(tmpl, n, CKA_PRIVATE) == 0 ||
		    m2m_policy_tmpl_bool(tmpl, n, CKA_WRAP_WITH_TRUSTED) == 1) {
			m2m_info("role %lu keys are always sensitive and "
			    "non-extractable", role);
			return M2M_ERR_TEMPLATE_INCONSISTENT;
		}
		for (i = 0; i < sizeof(usage_flags) / sizeof(usage_flags[0]);
		    i++) {
			b = m2m_policy_tmpl_bool(tmpl, n, usage_flags[i]);
			if (b >= 0 && b != role_flag(role, usage_flags[i]))
				return M2M_ERR_TEMPLATE_INCONSISTENT;
		}
		sens = 1;
		extr = 0;
	} else {
		/* unsaid is the safe side: sensitive, not extractable */
		if (sens < 0)
			sens = 1;
		if (extr < 0)
			extr = 0;
	}
	always = sens;
	never = !extr;
	if (origin == M2M_ORIGIN_DERIVE) {
		/*
		 * PKCS #11: a derived key is ALWAYS_SENSITIVE only if its
		 * base is, NEVER_EXTRACTABLE likewise: what was read of the
		 * base gives the new key (found in review: the HKDF output of
		 * a readable IKM claimed both)
		 */
		always = always && mech->base != NULL &&
		    m2m_object_bool(mech->base, CKA_ALWAYS_SENSITIVE, 0);
		never = never && mech->base != NULL &&
		    m2m_object_bool(mech->base, CKA_NEVER_EXTRACTABLE, 0);
	}

	if ((r = m2m_object_new(&o)) != 0)
		return r;
	/* copy the caller's plain attributes (never CKA_VALUE) */
	for (i = 0; i < n; i++) {
		if (tmpl[i].type == CKA_VALUE || tmpl[i].type == CKA_VALUE_LEN)
			continue;
		if ((r = m2m_policy_attr_store(o, &tmpl[i])) != 0)
			goto out;
	}
	genmech = origin == M2M_ORIGIN_CREATE ? CK_UNAVAILABLE_INFORMATION :
	    mech->mechanism;
	if ((r = m2m_object_attr_set_ulong(o, CKA_CLASS, cls)) != 0 ||
	    (r = m2m_object_attr_set_ulong(o, CKA_KEY_TYPE, kt)) != 0 ||
	    (r = m2m_object_attr_set_ulong(o, CKA_VALUE_LEN, len)) != 0 ||
	    (r = m2m_object_attr_set_ulong(o, CKA_KEY_GEN_MECHANISM,
	    genmech)) != 0 ||
	    (r = m2m_object_attr_set_bool(o, CKA_LOCAL,
	    origin == M2M_ORIGIN_GENERATE)) != 0 ||
	    (r = m2m_object_attr_set_bool(o, CKA_SENSITIVE, sens)) != 0 ||
	    (r = m2m_object_attr_set_bool(o, CKA_EXTRACTABLE, extr)) != 0 ||
	    (r = m2m_object_attr_set_bool(o, CKA_ALWAYS_SENSITIVE,
	    always)) != 0 ||
	    (r = m2m_object_attr_set_bool(o, CKA_NEVER_EXTRACTABLE,
	    never)) != 0 ||
	    (r = m2m_object_attr_set_bool(o, CKA_TRUSTED, 0)) != 0 ||
	    (r = set_bool_default(o, tmpl, n, CKA_TOKEN, 0)) != 0 ||
	    (r = set_bool_default(o, tmpl, n, CKA_PRIVATE, 1)) != 0 ||
	    (r = set_bool_default(o, tmpl, n, CKA_MODIFIABLE, 1)) != 0 ||
	    (r = set_bool_default(o, tmpl, n, CKA_COPYABLE, 1)) != 0 ||
	    (r = set_bool_default(o, tmpl, n, CKA_DESTROYABLE, 1)) != 0 ||
	    (r = set_bool_default(o, tmpl, n, CKA_WRAP_WITH_TRUSTED, 0)) != 0)
		goto out;
	if (role != 0) {
		if ((r = m2m_object_attr_set_ulong(o, CKA_M2M_ROLE,
		    role)) != 0)
			goto out;
		for (i = 0; i < sizeof(usage_flags) / sizeof(usage_flags[0]);
		    i++)
			if ((r = m2m_object_attr_set_bool(o, usage_flags[i],
			    role_flag(role, usage_flags[i]))) != 0)
				goto out;
		if (role == CK_M2M_ROLE_TLS_MASTER &&
		    (r = m2m_object_attr_set_bool(o, CKA_TOKEN, 0)) != 0)
			goto out;
		if (role != CK_M2M_ROLE_TLS_MASTER &&
		    (r = m2m_object_attr_set_bool(o, CKA_PRIVATE, 1)) != 0)
			goto out;
		/* CKA_LABEL and CKA_ID carry the same identifier */
		label = m2m_object_attr(o, CKA_LABEL);
		id = m2m_object_attr(o, CKA_ID);
		if (label != NULL && id == NULL)
			r = m2m_object_attr_set(o, CKA_ID, label->val,
			    label->len);
		else if (id != NULL && label == NULL)
			r = m2m_object_attr_set(o, CKA_LABEL, id->val, id->len);
		if (r != 0)
			goto out;
	} else {
		int sign = kt == CKK_GENERIC_SECRET, enc = kt == CKK_AES;

		if ((r = set_bool_default(o, tmpl, n, CKA_SIGN, sign)) != 0 ||
		    (r = set_bool_default(o, tmpl, n, CKA_VERIFY, sign)) != 0 ||
		    (r = set_bool_default(o, tmpl, n, CKA_ENCRYPT, enc)) != 0 ||
		    (r = set_bool_default(o, tmpl, n, CKA_DECRYPT, enc)) != 0 ||
		    (r = set_bool_default(o, tmpl, n, CKA_WRAP, 0)) != 0 ||
		    (r = set_bool_default(o, tmpl, n, CKA_UNWRAP, 0)) != 0 ||
		    (r = set_bool_default(o, tmpl, n, CKA_DERIVE,
		    !long_hmac)) != 0)
			goto out;
		if (!m2m_object_attr(o, CKA_LABEL) &&
		    (r = m2m_object_attr_set(o, CKA_LABEL, NULL, 0)) != 0)
			goto out;
		if (!m2m_object_attr(o, CKA_ID) &&
		    (r = m2m_object_attr_set(o, CKA_ID, NULL, 0)) != 0)
			goto out;
	}
	if (!m2m_object_attr(o, CKA_START_DATE) &&
	    ((r = m2m_object_attr_set(o, CKA_START_DATE, NULL, 0)) != 0 ||
	    (r = m2m_object_attr_set(o, CKA_END_DATE, NULL, 0)) != 0))
		goto out;
	m2m_object_sync_fields(o);
	o->origin = origin;
	*ret = o;
	o = NULL;	/* transferred */
	*ret_value = value;
	*ret_value_len = len;
	r = 0;
 out:
	m2m_object_free(o);
	return r;
}

/* see policy.h */
int
m2m_policy_apply(struct m2m_object *o, const struct m2m_attr *t, size_t n,
    enum m2m_apply what)
{
	int copy = what == M2M_APPLY_COPY;
	struct m2m_object *c = NULL;
	const struct attr_rule *rule;
	size_t i;
	int r, cur, v;

	if (o == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if ((r = m2m_policy_check_template(t, n)) != 0)
		return r;
	if (copy && !m2m_object_bool(o, CKA_COPYABLE, 1))
		return M2M_ERR_KEY_FUNCTION;
	if (!copy && n != 0 && !m2m_object_bool(o, CKA_MODIFIABLE, 1))
		return M2M_ERR_ATTRIBUTE_READ_ONLY;
	for (i = 0; i < n; i++) {
		rule = rule_of(t[i].type);
		if ((rule->flags & (copy ? F_COPY : F_MODIFY)) == 0) {
			m2m_info("attribute 0x%lx is read-only", t[i].type);
			return M2M_ERR_ATTRIBUTE_READ_ONLY;
		}
		/* a data object's attributes, as at creation (found in review) */
		if ((t[i].type == CKA_APPLICATION ||
		    t[i].type == CKA_OBJECT_ID) && o->cls != CKO_DATA) {
			m2m_info("attribute 0x%lx is a data object's only",
			    t[i].type);
			return M2M_ERR_TEMPLATE_INCONSISTENT;
		}
		if (rule->kind != A_BOOL)
			continue;
		v = t[i].val[0] != CK_FALSE;
		cur = m2m_object_bool(o, t[i].type, 0);
		if (v == cur)
			continue;
		/* one-way switches: sensitive only on, extractable only off */
		if ((t[i].type == CKA_SENSITIVE && !v) ||
		    (t[i].type == CKA_EXTRACTABLE && v) ||
		    (t[i].type == CKA_WRAP_WITH_TRUSTED && !v))
			return M2M_ERR_ATTRIBUTE_READ_ONLY;
		/*
		 * A secret or private key, once private, stays private
		 * ([profile]): a public copy of it was usable with no login,
		 * on the HSM backend after C_Logout (found in review; the
		 * TPM's authValue refused it).  CKA_PRIVATE changes only in
		 * a copy (F_COPY), so this is C_CopyObject's rule.
		 */
		if (t[i].type == CKA_PRIVATE && !v &&
		    m2m_policy_is_private(o) &&
		    (o->cls == CKO_SECRET_KEY || o->cls == CKO_PRIVATE_KEY)) {
			m2m_info("a private key cannot be made public");
			return M2M_ERR_ATTRIBUTE_READ_ONLY;
		}
		/*
		 * A use, once off, stays off ([profile]): else an
		 * encrypt-only key would decrypt and a verify-only key sign
		 * after one C_SetAttributeValue or C_CopyObject (found in a
		 * second review; docs/security-model.md).
		 */
		if (v && is_usage_flag(t[i].type)) {
			m2m_info("attribute 0x%lx: a use that is off cannot "
			    "be switched on", t[i].type);
			return M2M_ERR_ATTRIBUTE_READ_ONLY;
		}
		/* an EC key's usage is fixed but for its one use */
		if ((o->cls == CKO_PRIVATE_KEY || o->cls == CKO_PUBLIC_KEY) &&
		    t[i].type != CKA_TOKEN && t[i].type != CKA_MODIFIABLE &&
		    t[i].type != CKA_COPYABLE &&
		    t[i].type != CKA_DESTROYABLE &&
		    !(o->cls == CKO_PRIVATE_KEY && t[i].type == CKA_SIGN) &&
		    !(o->cls == CKO_PUBLIC_KEY && (t[i].type == CKA_VERIFY ||
		    t[i].type == CKA_PRIVATE)))
			return M2M_ERR_ATTRIBUTE_READ_ONLY;
		/* a role key's usage and visibility are fixed */
		if (o->role != 0 && t[i].type != CKA_TOKEN &&
		    t[i].type != CKA_MODIFIABLE && t[i].type != CKA_COPYABLE &&
		    t[i].type != CKA_DESTROYABLE)
			return M2M_ERR_ATTRIBUTE_READ_ONLY;
		/* a value held in memory, a delivered key: never stored */
		if ((o->plain != NULL || o->delivered) &&
		    t[i].type == CKA_TOKEN)
			return M2M_ERR_TEMPLATE_INCONSISTENT;
		if (copy && (t[i].type == CKA_MODIFIABLE ||
		    t[i].type == CKA_COPYABLE ||
		    t[i].type == CKA_DESTROYABLE) && v)
			return M2M_ERR_ATTRIBUTE_READ_ONLY;
	}
	if ((r = m2m_object_dup(o, &c)) != 0)
		return r;
	for (i = 0; i < n; i++)
		if ((r = m2m_policy_attr_store(c, &t[i])) != 0)
			goto out;
	m2m_object_sync_fields(c);
	/* commit: swap the attribute lists */
	{
		struct m2m_attr *a = o->attrs;
		size_t na = o->nattrs;

		o->attrs = c->attrs;
		o->nattrs = c->nattrs;
		c->attrs = a;
		c->nattrs = na;
	}
	m2m_object_sync_fields(o);
	r = 0;
 out:
	m2m_object_free(c);
	return r;
}

/* see policy.h */
int
m2m_policy_readable(const struct m2m_object *o, unsigned long type)
{
	if (type == CKA_VALUE && (o->cls == CKO_DATA ||
	    o->cls == CKO_CERTIFICATE))
		return m2m_object_attr(o, type) != NULL ? 0 :
		    M2M_ERR_ATTRIBUTE_TYPE;	/* public data, no key */
	if (type == CKA_VALUE && o->cls == CKO_PRIVATE_KEY)
		return M2M_ERR_ATTRIBUTE_SENSITIVE;	/* never, whatever */
	if (type == CKA_VALUE) {
		if (o->blob == NULL && o->plain == NULL)
			return M2M_ERR_ATTRIBUTE_TYPE;
		/*
		 * A role key never, whatever its attributes say; the one
		 * exception is the session secret the module holds in
		 * memory (TLS_MASTER: never wrapped, never stored).
		 */
		if (o->role != 0 && !(m2m_policy_role_kept_plain(o->role) &&
		    o->plain != NULL && o->blob == NULL && !o->on_token))
			return M2M_ERR_ATTRIBUTE_SENSITIVE;
		if (m2m_object_bool(o, CKA_SENSITIVE, 1) ||
		    !m2m_object_bool(o, CKA_EXTRACTABLE, 0))
			return M2M_ERR_ATTRIBUTE_SENSITIVE;
		return 0;
	}
	return m2m_object_attr(o, type) != NULL ? 0 : M2M_ERR_ATTRIBUTE_TYPE;
}

/* see policy.h */
int
m2m_policy_is_private(const struct m2m_object *o)
{
	if (o->facts.valid)	/* read when the attributes changed */
		return o->facts.priv != 0;
	return m2m_object_bool(o, CKA_PRIVATE, 1);
}

/* see policy.h */
int
m2m_policy_match(const struct m2m_object *o, const struct m2m_attr *t,
    size_t n)
{
	const struct m2m_attr *a;
	size_t i;

	for (i = 0; i < n; i++) {
		/* a key's value is never an attribute; public data's is */
		if (t[i].type == CKA_VALUE && o->cls != CKO_DATA &&
		    o->cls != CKO_CERTIFICATE)
			return 0;
		if ((a = m2m_object_attr(o, t[i].type)) == NULL ||
		    a->len != t[i].len ||
		    (a->len != 0 && memcmp(a->val, t[i].val, a->len) != 0))
			return 0;
	}
	return 1;
}
