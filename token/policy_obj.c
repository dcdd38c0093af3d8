/*
 * m2mtoken: role policy, the objects that are not secret keys (policy_obj.c:
 * EC key pairs, X.509 certificates, data objects), built from the
 * template helpers of policy.c; and m2m_policy_build, which sends each
 * class to its builder (secret keys: m2m_policy_build_secret, policy.c).
 * Internal to token/; see policy.h.
 */
#include <stdlib.h>
#include <string.h>

#include <m2mtoken/pkcs11-m2m.h>

#include "ec.h"
#include "err.h"
#include "log.h"
#include "object.h"
#include "policy.h"
#include "policy_int.h"
#include "backend.h"

/*
 * What the template of an EC key or a certificate may hold, and each
 * attribute's value when the template leaves it out: a CK_BBOOL (0, 1),
 * D_EMPTY (empty bytes), D_ULONG0 (CK_ULONG 0) or D_OMIT (none here:
 * required, or set by the builder).  D_SECRET: allowed in the template,
 * never copied into the object (a private key's CKA_VALUE: the caller
 * has the backend wrap it).
 */
#define D_OMIT		(-1)
#define D_EMPTY		(-2)
#define D_ULONG0	(-3)
#define D_SECRET	(-4)
struct listed {
	unsigned long	type;
	int		def;
};
#define COMMON_ATTRS(priv)						\
	{ CKA_CLASS, D_OMIT }, { CKA_TOKEN, 0 }, { CKA_PRIVATE, priv },	\
	{ CKA_MODIFIABLE, 1 }, { CKA_COPYABLE, 1 },			\
	{ CKA_DESTROYABLE, 1 }, { CKA_LABEL, D_EMPTY },			\
	{ CKA_ID, D_EMPTY }, { CKA_START_DATE, D_EMPTY },		\
	{ CKA_END_DATE, D_EMPTY }
static const struct listed ecpub_attrs[] = {
	COMMON_ATTRS(0),
	{ CKA_KEY_TYPE, D_OMIT }, { CKA_SUBJECT, D_EMPTY },
	{ CKA_EC_PARAMS, D_OMIT }, { CKA_EC_POINT, D_OMIT },
	{ CKA_VERIFY, 1 }, { CKA_VERIFY_RECOVER, 0 }, { CKA_ENCRYPT, 0 },
	{ CKA_WRAP, 0 }, { CKA_DERIVE, 0 }, { CKA_TRUSTED, 0 },
};
static const struct listed ecpriv_attrs[] = {
	COMMON_ATTRS(1),
	{ CKA_KEY_TYPE, D_OMIT }, { CKA_SUBJECT, D_EMPTY },
	{ CKA_EC_PARAMS, D_OMIT }, { CKA_VALUE, D_SECRET },
	{ CKA_SENSITIVE, 1 }, { CKA_EXTRACTABLE, 0 }, { CKA_SIGN, 1 },
	{ CKA_SIGN_RECOVER, 0 }, { CKA_DECRYPT, 0 }, { CKA_UNWRAP, 0 },
	{ CKA_DERIVE, 0 }, { CKA_WRAP_WITH_TRUSTED, 0 },
	{ CKA_ALWAYS_AUTHENTICATE, 0 },
};
/* the values an EC key always has: a template may only repeat them */
/*
 * (CKA_DERIVE is kept as the template says: pkcs11-tool asks it TRUE by
 * default, and no EC derive mechanism exists here, so it allows nothing.)
 */
static const struct listed ecpub_fixed[] = {
	{ CKA_VERIFY_RECOVER, 0 }, { CKA_ENCRYPT, 0 }, { CKA_WRAP, 0 },
	{ CKA_TRUSTED, 0 },
};
static const struct listed ecpriv_fixed[] = {
	{ CKA_PRIVATE, 1 }, { CKA_SENSITIVE, 1 }, { CKA_EXTRACTABLE, 0 },
	{ CKA_SIGN_RECOVER, 0 }, { CKA_DECRYPT, 0 }, { CKA_UNWRAP, 0 },
	{ CKA_ALWAYS_AUTHENTICATE, 0 },
};
static const struct listed cert_attrs[] = {
	COMMON_ATTRS(0),
	{ CKA_CERTIFICATE_TYPE, D_OMIT }, { CKA_VALUE, D_OMIT },
	{ CKA_SUBJECT, D_OMIT }, { CKA_ISSUER, D_OMIT },
	{ CKA_SERIAL_NUMBER, D_OMIT }, { CKA_CERTIFICATE_CATEGORY, D_ULONG0 },
	{ CKA_TRUSTED, 0 }, { CKA_URL, D_EMPTY },
	{ CKA_HASH_OF_SUBJECT_PUBLIC_KEY, D_EMPTY },
	{ CKA_HASH_OF_ISSUER_PUBLIC_KEY, D_EMPTY },
};
#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* what a data object's template may hold, and its defaults */
static const struct {
	unsigned long	type;
	int		def;	/* CK_BBOOL default, or -1: empty bytes */
} data_attrs[] = {
	{ CKA_CLASS, -2 }, { CKA_TOKEN, 0 }, { CKA_PRIVATE, 1 },
	{ CKA_MODIFIABLE, 1 }, { CKA_COPYABLE, 1 }, { CKA_DESTROYABLE, 1 },
	{ CKA_LABEL, -1 }, { CKA_APPLICATION, -1 }, { CKA_OBJECT_ID, -1 },
	{ CKA_VALUE, -1 },
};


/*
 * A data object (C_CreateObject of CKO_DATA): public application data, no
 * key, nothing wrapped; its CKA_VALUE is a plain attribute.  The template
 * is already checked (m2m_policy_check_template).
 */
/* see policy_int.h */
int
m2m_policy_build_data(const struct m2m_attr *tmpl, size_t n, struct m2m_object **ret)
{
	struct m2m_object *o = NULL;
	const struct m2m_attr *a;
	size_t i, j;
	int r = M2M_ERR_INTERNAL;

	for (i = 0; i < n; i++) {
		for (j = 0; j < sizeof(data_attrs) / sizeof(data_attrs[0]); j++)
			if (data_attrs[j].type == tmpl[i].type)
				break;
		if (j == sizeof(data_attrs) / sizeof(data_attrs[0])) {
			m2m_info("attribute 0x%lx is not one of a data object",
			    tmpl[i].type);
			return M2M_ERR_TEMPLATE_INCONSISTENT;
		}
	}
	if ((r = m2m_object_new(&o)) != 0)
		return r;
	for (j = 0; j < sizeof(data_attrs) / sizeof(data_attrs[0]); j++) {
		a = m2m_policy_tmpl_find(tmpl, n, data_attrs[j].type);
		if (a != NULL)
			r = m2m_policy_attr_store(o, a);
		else if (data_attrs[j].def >= 0)
			r = m2m_object_attr_set_bool(o, data_attrs[j].type,
			    data_attrs[j].def);
		else if (data_attrs[j].def == -1)
			r = m2m_object_attr_set(o, data_attrs[j].type, NULL, 0);
		else
			r = m2m_object_attr_set_ulong(o, CKA_CLASS, CKO_DATA);
		if (r != 0)
			goto out;
	}
	m2m_object_sync_fields(o);
	*ret = o;
	o = NULL;	/* transferred */
	r = 0;
 out:
	m2m_object_free(o);
	return r;
}

/*
 * A new object from the template t (already checked by m2m_policy_check_template)
 * and the list l of what it may hold: every attribute of t must be in l
 * (else M2M_ERR_TEMPLATE_INCONSISTENT), every one of l absent from t gets
 * its default.  what names the object for the log.
 */
static int
build_listed(const struct m2m_attr *t, size_t n, const struct listed *l,
    size_t nl, const char *what, struct m2m_object **ret)
{
	struct m2m_object *o = NULL;
	const struct m2m_attr *a;
	size_t i, j;
	int r = M2M_ERR_INTERNAL;

	for (i = 0; i < n; i++) {
		for (j = 0; j < nl; j++)
			if (l[j].type == t[i].type)
				break;
		if (j == nl) {
			m2m_info("attribute 0x%lx is not one of %s",
			    t[i].type, what);
			return M2M_ERR_TEMPLATE_INCONSISTENT;
		}
	}
	if ((r = m2m_object_new(&o)) != 0)
		return r;
	for (j = 0; j < nl; j++) {
		a = m2m_policy_tmpl_find(t, n, l[j].type);
		if (l[j].def == D_SECRET)
			r = 0;
		else if (a != NULL)
			r = m2m_policy_attr_store(o, a);
		else if (l[j].def >= 0)
			r = m2m_object_attr_set_bool(o, l[j].type, l[j].def);
		else if (l[j].def == D_EMPTY)
			r = m2m_object_attr_set(o, l[j].type, NULL, 0);
		else if (l[j].def == D_ULONG0)
			r = m2m_object_attr_set_ulong(o, l[j].type, 0);
		else
			r = 0;
		if (r != 0)
			goto out;
	}
	*ret = o;
	o = NULL;	/* transferred */
	r = 0;
 out:
	m2m_object_free(o);
	return r;
}

/* 0 if t repeats only the values of fixed[], else TEMPLATE_INCONSISTENT. */
static int
check_fixed(const struct m2m_attr *t, size_t n, const struct listed *fixed,
    size_t nf, const char *what)
{
	size_t j;
	int b;

	for (j = 0; j < nf; j++) {
		b = m2m_policy_tmpl_bool(t, n, fixed[j].type);
		if (b >= 0 && b != fixed[j].def) {
			m2m_info("%s: attribute 0x%lx must be %s", what,
			    fixed[j].type, fixed[j].def ? "TRUE" : "FALSE");
			return M2M_ERR_TEMPLATE_INCONSISTENT;
		}
	}
	return 0;
}

/* Compare a template's field with the certificate's, or fill it in. */
static int
cert_field(struct m2m_object *o, unsigned long type, const uint8_t *v,
    size_t len)
{
	const struct m2m_attr *a = m2m_object_attr(o, type);

	if (a == NULL)
		return m2m_object_attr_set(o, type, v, len);
	if (a->len != len || memcmp(a->val, v, len) != 0) {
		m2m_info("certificate: attribute 0x%lx does not match the "
		    "certificate's", type);
		return M2M_ERR_TEMPLATE_INCONSISTENT;
	}
	return 0;
}

/*
 * A certificate (C_CreateObject of CKO_CERTIFICATE): X.509 only, its DER
 * in CKA_VALUE, CKA_SUBJECT, CKA_ISSUER and CKA_SERIAL_NUMBER taken from
 * it or checked against it.  Public unless the template says CKA_PRIVATE.
 */
/* see policy_int.h */
int
m2m_policy_build_cert(const struct m2m_attr *t, size_t n, struct m2m_object **ret)
{
	struct m2m_cert_fields f;
	struct m2m_object *o = NULL;
	const struct m2m_attr *v;
	unsigned long ct;
	int r = M2M_ERR_INTERNAL;

	memset(&f, 0, sizeof(f));
	if (!m2m_policy_tmpl_ulong(t, n, CKA_CERTIFICATE_TYPE, &ct) ||
	    (v = m2m_policy_tmpl_find(t, n, CKA_VALUE)) == NULL)
		return M2M_ERR_TEMPLATE_INCOMPLETE;
	if (ct != CKC_X_509) {
		m2m_info("certificate type %lu is not supported", ct);
		return M2M_ERR_ATTRIBUTE_VALUE;
	}
	if ((r = m2m_cert_parse(v->val, v->len, &f)) != 0) {
		m2m_info("certificate: CKA_VALUE is not a DER X.509 "
		    "certificate");
		return r;
	}
	if ((r = build_listed(t, n, cert_attrs, NELEM(cert_attrs),
	    "a certificate", &o)) != 0)
		goto out;
	if ((r = cert_field(o, CKA_SUBJECT, f.subject, f.subject_len)) != 0 ||
	    (r = cert_field(o, CKA_ISSUER, f.issuer, f.issuer_len)) != 0 ||
	    (r = cert_field(o, CKA_SERIAL_NUMBER, f.serial,
	    f.serial_len)) != 0)
		goto out;
	m2m_object_sync_fields(o);
	o->origin = M2M_ORIGIN_CREATE;
	*ret = o;
	o = NULL;	/* transferred */
	r = 0;
 out:
	m2m_cert_fields_free(&f);
	m2m_object_free(o);
	return r;
}

/*
 * An EC key of class cls (CKO_PUBLIC_KEY, CKO_PRIVATE_KEY), made by
 * origin: C_CreateObject (a public key with its CKA_EC_POINT, a private
 * key with its CKA_VALUE, wrapped by the caller) or one half of
 * C_GenerateKeyPair (neither).  Role-less; a private key is private,
 * sensitive, never extractable and signs only.  CKA_EC_PARAMS, when
 * given, must name a supported curve (M2M_ERR_CURVE) and is stored as the
 * curve's OID.
 */
/* see policy_int.h */
int
m2m_policy_build_ec_key(enum m2m_origin origin, unsigned long cls,
    const struct m2m_attr *t, size_t n, struct m2m_object **ret)
{
	int priv = cls == CKO_PRIVATE_KEY, gen = origin == M2M_ORIGIN_GENERATE;
	const char *what = priv ? "an EC private key" : "an EC public key";
	struct m2m_object *o = NULL;
	const struct m2m_attr *a;
	enum m2m_key_kind kind = 0;
	const uint8_t *params, *pt;
	size_t plen, ptlen;
	unsigned long u;
	int r = M2M_ERR_INTERNAL;

	if (m2m_policy_tmpl_ulong(t, n, CKA_CLASS, &u) && u != cls)
		return M2M_ERR_TEMPLATE_INCONSISTENT;
	if (!m2m_policy_tmpl_ulong(t, n, CKA_KEY_TYPE, &u)) {
		if (!gen)
			return M2M_ERR_TEMPLATE_INCOMPLETE;
	} else if (u != CKK_EC) {
		m2m_info("%s: key type %lu is not supported", what, u);
		return gen ? M2M_ERR_TEMPLATE_INCONSISTENT :
		    M2M_ERR_ATTRIBUTE_VALUE;
	}
	if (m2m_policy_tmpl_find(t, n, CKA_M2M_ROLE) != NULL) {
		m2m_info("%s has no role", what);
		return M2M_ERR_TEMPLATE_INCONSISTENT;
	}
	if ((r = check_fixed(t, n, priv ? ecpriv_fixed : ecpub_fixed,
	    priv ? NELEM(ecpriv_fixed) : NELEM(ecpub_fixed), what)) != 0)
		return r;
	/* the key's value is the token's to make, or the template's */
	if (gen && (m2m_policy_tmpl_find(t, n, CKA_VALUE) != NULL ||
	    m2m_policy_tmpl_find(t, n, CKA_EC_POINT) != NULL))
		return M2M_ERR_TEMPLATE_INCONSISTENT;
	if (!gen && priv && (a = m2m_policy_tmpl_find(t, n, CKA_VALUE)) == NULL)
		return M2M_ERR_TEMPLATE_INCOMPLETE;
	if (!gen && !priv && m2m_policy_tmpl_find(t, n, CKA_EC_POINT) == NULL)
		return M2M_ERR_TEMPLATE_INCOMPLETE;
	if ((a = m2m_policy_tmpl_find(t, n, CKA_EC_PARAMS)) != NULL) {
		if ((r = m2m_ec_curve(a->val, a->len, &kind)) != 0) {
			m2m_info("%s: CKA_EC_PARAMS names a curve this token "
			    "does not support", what);
			return r;
		}
	} else if (!gen)
		return M2M_ERR_TEMPLATE_INCOMPLETE;
	if (!gen && !priv) {
		a = m2m_policy_tmpl_find(t, n, CKA_EC_POINT);
		if ((r = m2m_ec_point_parse(kind, a->val, a->len, &pt,
		    &ptlen)) != 0) {
			m2m_info("%s: CKA_EC_POINT is not a point of its "
			    "curve", what);
			return r;
		}
	}
	if ((r = build_listed(t, n, priv ? ecpriv_attrs : ecpub_attrs,
	    priv ? NELEM(ecpriv_attrs) : NELEM(ecpub_attrs), what, &o)) != 0)
		return r;
	if (!gen && !priv) {
		uint8_t der[M2M_EC_POINT_DER_MAX];
		size_t derlen;

		m2m_ec_point_der(pt, ptlen, der, &derlen);
		if ((r = m2m_object_attr_set(o, CKA_EC_POINT, der,
		    derlen)) != 0)
			goto out;
	}
	if (kind != 0) {
		m2m_ec_params(kind, &params, &plen);
		if ((r = m2m_object_attr_set(o, CKA_EC_PARAMS, params,
		    plen)) != 0)
			goto out;
	}
	if ((r = m2m_object_attr_set_ulong(o, CKA_CLASS, cls)) != 0 ||
	    (r = m2m_object_attr_set_ulong(o, CKA_KEY_TYPE, CKK_EC)) != 0 ||
	    (r = m2m_object_attr_set_bool(o, CKA_LOCAL, gen)) != 0 ||
	    (r = m2m_object_attr_set_ulong(o, CKA_KEY_GEN_MECHANISM, gen ?
	    CKM_EC_KEY_PAIR_GEN : CK_UNAVAILABLE_INFORMATION)) != 0)
		goto out;
	if (priv && ((r = m2m_object_attr_set_bool(o, CKA_ALWAYS_SENSITIVE,
	    gen)) != 0 || (r = m2m_object_attr_set_bool(o,
	    CKA_NEVER_EXTRACTABLE, gen)) != 0))
		goto out;
	m2m_object_sync_fields(o);
	o->origin = origin;
	*ret = o;
	o = NULL;	/* transferred */
	r = 0;
 out:
	m2m_object_free(o);
	return r;
}

/* see policy.h */
int
m2m_policy_build(enum m2m_origin origin, const struct m2m_attr *tmpl,
    size_t n, const struct m2m_policy_mech *mech, struct m2m_object **ret,
    const struct m2m_attr **ret_value, size_t *ret_value_len)
{
	unsigned long cls = CKO_SECRET_KEY, u;
	int r;

	if (ret == NULL || ret_value == NULL || ret_value_len == NULL ||
	    mech == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if ((r = m2m_policy_check_template(tmpl, n)) != 0)
		return r;
	if (origin == M2M_ORIGIN_CREATE &&
	    m2m_policy_tmpl_ulong(tmpl, n, CKA_CLASS, &u) &&
	    (u == CKO_CERTIFICATE || u == CKO_PUBLIC_KEY ||
	    u == CKO_PRIVATE_KEY)) {
		*ret_value = NULL;
		*ret_value_len = 0;
		if (u == CKO_CERTIFICATE)
			return m2m_policy_build_cert(tmpl, n, ret);
		if ((r = m2m_policy_build_ec_key(M2M_ORIGIN_CREATE, u, tmpl, n,
		    ret)) != 0)
			return r;
		*ret_value = m2m_policy_tmpl_find(tmpl, n, CKA_VALUE);
		*ret_value_len = *ret_value != NULL ? (*ret_value)->len : 0;
		return 0;
	}
	if ((r = m2m_policy_attrs_creatable(tmpl, n)) != 0)
		return r;
	/* the class: a data object here, a secret key in policy.c */
	if (!m2m_policy_tmpl_ulong(tmpl, n, CKA_CLASS, &cls) &&
	    origin == M2M_ORIGIN_CREATE)
		return M2M_ERR_TEMPLATE_INCOMPLETE;
	if (cls == CKO_DATA && origin == M2M_ORIGIN_CREATE) {
		*ret_value = NULL;	/* nothing to wrap */
		*ret_value_len = 0;
		return m2m_policy_build_data(tmpl, n, ret);
	}
	return m2m_policy_build_secret(origin, cls, tmpl, n, mech, ret,
	    ret_value, ret_value_len);
}

/* see policy.h */
int
m2m_policy_build_ec_pair(const struct m2m_attr *pubt, size_t npub,
    const struct m2m_attr *privt, size_t npriv, struct m2m_object **ret_pub,
    struct m2m_object **ret_priv)
{
	struct m2m_object *pub = NULL, *priv = NULL;
	const struct m2m_attr *pp, *qp, *pid, *qid;
	enum m2m_key_kind kind;
	const uint8_t *params;
	size_t plen;
	int r = M2M_ERR_INTERNAL;

	if (ret_pub == NULL || ret_priv == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if ((r = m2m_policy_check_template(pubt, npub)) != 0 ||
	    (r = m2m_policy_check_template(privt, npriv)) != 0)
		return r;
	/* the curve: the public template's, the private one may repeat it */
	pp = m2m_policy_tmpl_find(pubt, npub, CKA_EC_PARAMS);
	qp = m2m_policy_tmpl_find(privt, npriv, CKA_EC_PARAMS);
	if (pp == NULL && qp == NULL)
		return M2M_ERR_TEMPLATE_INCOMPLETE;
	if (pp != NULL && qp != NULL && (pp->len != qp->len ||
	    memcmp(pp->val, qp->val, pp->len) != 0))
		return M2M_ERR_TEMPLATE_INCONSISTENT;
	if (pp == NULL)
		pp = qp;
	if ((r = m2m_ec_curve(pp->val, pp->len, &kind)) != 0) {
		m2m_info("C_GenerateKeyPair: CKA_EC_PARAMS names a curve this "
		    "token does not support");
		return r;
	}
	if ((r = m2m_policy_build_ec_key(M2M_ORIGIN_GENERATE, CKO_PUBLIC_KEY, pubt,
	    npub, &pub)) != 0 ||
	    (r = m2m_policy_build_ec_key(M2M_ORIGIN_GENERATE, CKO_PRIVATE_KEY, privt,
	    npriv, &priv)) != 0)
		goto out;
	m2m_ec_params(kind, &params, &plen);
	if ((r = m2m_object_attr_set(pub, CKA_EC_PARAMS, params, plen)) != 0 ||
	    (r = m2m_object_attr_set(priv, CKA_EC_PARAMS, params, plen)) != 0)
		goto out;
	/* one CKA_ID names the pair (and its certificate) */
	pid = m2m_policy_tmpl_find(pubt, npub, CKA_ID);
	qid = m2m_policy_tmpl_find(privt, npriv, CKA_ID);
	if (pid != NULL && qid == NULL)
		r = m2m_object_attr_set(priv, CKA_ID, pid->val, pid->len);
	else if (qid != NULL && pid == NULL)
		r = m2m_object_attr_set(pub, CKA_ID, qid->val, qid->len);
	if (r != 0)
		goto out;
	*ret_pub = pub;
	*ret_priv = priv;
	pub = priv = NULL;	/* transferred */
	r = 0;
 out:
	m2m_object_free(pub);
	m2m_object_free(priv);
	return r;
}
