/*
 * m2mtoken: what policy.c and policy_obj.c share (token/ only).  The
 * arrow runs one way: policy_obj.c (the objects, and m2m_policy_build,
 * which sends each class to its builder) calls policy.c (templates,
 * attribute rules, secret keys), never the other way.
 */
#ifndef M2M_POLICY_INT_H
#define M2M_POLICY_INT_H

#include <stddef.h>

#include "object.h"
#include "policy.h"

/* The attribute of type in t[0..n), or NULL. */
const struct m2m_attr *m2m_policy_tmpl_find(const struct m2m_attr *t,
	    size_t n, unsigned long type);
/* 1 and *v when t has type as a CK_ULONG, else 0. */
int	m2m_policy_tmpl_ulong(const struct m2m_attr *t, size_t n,
	    unsigned long type, unsigned long *v);
/* -1 when t lacks type, else its CK_BBOOL as 0 or 1. */
int	m2m_policy_tmpl_bool(const struct m2m_attr *t, size_t n,
	    unsigned long type);
/* The type, length and duplicate checks of every template: 0 or M2M_ERR_*. */
int	m2m_policy_check_template(const struct m2m_attr *t, size_t n);
/*
 * Set a's attribute on o as m2m_object_attr_set does, but a CK_BBOOL as
 * CK_TRUE or CK_FALSE, whatever non-zero byte the template held: searches
 * compare bytes, so a key stored with 0x02 was not found by CK_TRUE.
 */
int	m2m_policy_attr_store(struct m2m_object *o, const struct m2m_attr *a);

/*
 * The objects without a secret to wrap, from a checked template: a data
 * object (CKO_DATA), an X.509 certificate (fields filled from, or checked
 * against, its DER), an EC public or private key object of cls (origin:
 * created from a template or generated).  0 and *ret, or M2M_ERR_*.
 */
int	m2m_policy_build_data(const struct m2m_attr *tmpl, size_t n,
	    struct m2m_object **ret);
int	m2m_policy_build_cert(const struct m2m_attr *t, size_t n,
	    struct m2m_object **ret);
int	m2m_policy_build_ec_key(enum m2m_origin origin, unsigned long cls,
	    const struct m2m_attr *t, size_t n, struct m2m_object **ret);

/*
 * policy.c, for m2m_policy_build (policy_obj.c): M2M_ERR_ATTRIBUTE_READ_ONLY
 * when an attribute of t may not appear in a creation template, else 0.
 */
int	m2m_policy_attrs_creatable(const struct m2m_attr *t, size_t n);
/*
 * policy.c, for m2m_policy_build (policy_obj.c): the rest of
 * m2m_policy_build for a template of class cls (CKO_SECRET_KEY unless the
 * template names one) that is neither a certificate, an EC key nor a
 * data object, its template already checked.  Same contract.
 */
int	m2m_policy_build_secret(enum m2m_origin origin, unsigned long cls,
	    const struct m2m_attr *tmpl, size_t n,
	    const struct m2m_policy_mech *mech, struct m2m_object **ret,
	    const struct m2m_attr **ret_value, size_t *ret_value_len);

#endif /* M2M_POLICY_INT_H */
