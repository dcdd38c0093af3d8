/*
 * m2mtoken: PKCS#11 object management: templates, handles and what a
 * session may see, C_CreateObject, C_CopyObject, C_DestroyObject,
 * attributes, C_FindObjects* and the derive lookup.  Session objects'
 * table is in p11_state.c, the token-object cache in token/objcache.c.
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
#include "secret.h"
#include "store.h"

/* see p11.h */
CK_RV
p11_template_in(CK_ATTRIBUTE_PTR t, CK_ULONG n, struct m2m_attr **ret)
{
	struct m2m_attr *a;
	CK_ULONG i;

	*ret = NULL;
	if (t == NULL && n != 0)
		return CKR_ARGUMENTS_BAD;
	if (n > P11_TEMPLATE_MAX)
		return CKR_TEMPLATE_INCONSISTENT;
	if ((a = calloc(n + 1, sizeof(*a))) == NULL)
		return CKR_HOST_MEMORY;
	for (i = 0; i < n; i++) {
		if (t[i].pValue == NULL && t[i].ulValueLen != 0) {
			free(a);
			return CKR_ATTRIBUTE_VALUE_INVALID;
		}
		if (t[i].ulValueLen > M2M_ATTR_MAX_LEN) {
			free(a);
			return CKR_ATTRIBUTE_VALUE_INVALID;
		}
		a[i].type = t[i].type;
		a[i].val = t[i].pValue;	/* borrowed, never freed */
		a[i].len = t[i].ulValueLen;
	}
	*ret = a;
	return CKR_OK;
}

/* see p11.h */
void
p11_template_free(struct m2m_attr *a)
{
	free(a);	/* values are the caller's */
}

static int
visible(const struct p11_session *s, const struct m2m_object *o)
{
	return o->token_id == s->token_id &&
	    (!m2m_policy_is_private(o) || p11_user_logged_in(s));
}

/* see p11.h */
int
p11_object_get(struct p11_session *s, CK_OBJECT_HANDLE h,
    struct m2m_object **ret)
{
	struct m2m_object *o = NULL;
	int r;

	*ret = NULL;
	if (h == CK_INVALID_HANDLE)
		return M2M_ERR_NOT_FOUND;
	if (P11_IS_SESSION_OBJECT(h)) {
		if ((o = p11_sobj_get(h)) == NULL)
			return M2M_ERR_NOT_FOUND;
		o = m2m_object_ref(o);
	} else if ((r = m2m_core_object_get(p11.core, s->token_id, h,
	    &o)) != 0) {
		if (r != M2M_ERR_NOT_FOUND)
			m2m_error("cannot read object %lu: %s", h,
			    m2m_strerror(r));
		return r;
	}
	if (!visible(s, o)) {
		m2m_object_free(o);
		return M2M_ERR_NOT_FOUND;
	}
	*ret = o;
	return 0;
}

/* see p11.h */
int
p11_object_load(struct p11_session *s, CK_OBJECT_HANDLE h,
    struct m2m_object **ret)
{
	struct m2m_object *o = NULL, *c = NULL;
	int r;

	*ret = NULL;
	if ((r = p11_object_get(s, h, &o)) != 0)
		return r;
	if (!m2m_object_shared(o)) {
		*ret = o;
		return 0;
	}
	r = m2m_object_dup(o, &c);
	m2m_object_free(o);
	if (r != 0)
		return r;
	*ret = c;
	return 0;
}

static CK_RV
session_rights(struct p11_session *s, const struct m2m_object *o)
{
	if (o->on_token && !p11_session_is_rw(s))
		return CKR_SESSION_READ_ONLY;
	if (m2m_policy_is_private(o) && !p11_user_logged_in(s))
		return CKR_USER_NOT_LOGGED_IN;
	return CKR_OK;
}

/* see p11.h */
CK_RV
p11_object_store(struct p11_session *s, struct m2m_object *o,
    CK_OBJECT_HANDLE *ret_handle)
{
	CK_RV rv;
	int r;

	if ((rv = session_rights(s, o)) != CKR_OK)
		return rv;
	o->token_id = s->token_id;
	if (!o->on_token)
		return p11_sobj_add(s, o, ret_handle);
	if ((r = m2m_store_object_insert(m2m_core_store(p11.core), o)) != 0) {
		/* a full token: the store said so, at most once a second */
		if (r != M2M_ERR_TOKEN_FULL)
			m2m_error("cannot store a new object: %s",
			    m2m_strerror(r));
		return p11_rv(r);
	}
	*ret_handle = (CK_OBJECT_HANDLE)o->id;
	return CKR_OK;
}

/* o is a key derived from base (item of a derive lookup). */
static int
derived_from(const struct m2m_object *o, const struct m2m_object *base)
{
	return o->origin == M2M_ORIGIN_DERIVE &&
	    m2m_object_derived_from(o, base);
}

/* see p11.h */
int
p11_object_lookup(struct p11_session *s, const struct m2m_object *base,
    unsigned long role, const struct m2m_object *like,
    int (*same)(struct p11_session *, const struct m2m_object *,
    const void *), const void *arg, CK_OBJECT_HANDLE *ret)
{
	const struct m2m_attr *label = m2m_object_attr(like, CKA_LABEL);
	const struct m2m_attr *peer = m2m_object_attr(like, CKA_M2M_PEER_ID);
	struct m2m_store_query q;
	struct m2m_object *o = NULL;
	uint64_t *ids = NULL;
	size_t n = 0, i;
	CK_ULONG r = role;
	struct m2m_attr t[3];
	size_t nt = 0;
	int found = 0;

	if (label == NULL || label->len == 0 || base == NULL)
		return 0;
	t[nt].type = CKA_M2M_ROLE;
	t[nt].val = (uint8_t *)&r;
	t[nt++].len = sizeof(r);
	t[nt++] = *label;
	if (peer != NULL)
		t[nt++] = *peer;
	for (i = 0; i < p11.nsobjs && !found; i++) {
		if (visible(s, p11.sobjs[i]) &&
		    like->on_token == p11.sobjs[i]->on_token &&
		    derived_from(p11.sobjs[i], base) &&
		    m2m_policy_match(p11.sobjs[i], t, nt) &&
		    same(s, p11.sobjs[i], arg)) {
			*ret = p11.sobjs[i]->id;
			found = 1;
		}
	}
	if (found || !like->on_token)
		return found;
	/* the derived keys of this base, through the (token, base) index */
	memset(&q, 0, sizeof(q));
	q.has_base = 1;
	q.base_id = base->id;
	if (m2m_store_object_find(m2m_core_store(p11.core), s->token_id, &q,
	    &ids, &n) != 0)
		return 0;
	for (i = 0; i < n && !found; i++) {
		if (m2m_core_object_get(p11.core, s->token_id, ids[i], &o) != 0)
			continue;
		if (visible(s, o) && derived_from(o, base) &&
		    m2m_policy_match(o, t, nt) && same(s, o, arg)) {
			*ret = (CK_OBJECT_HANDLE)o->id;
			found = 1;
		}
		m2m_object_free(o);
		o = NULL;
	}
	free(ids);
	return found;
}

static CK_RV
create_object(struct p11_session *s, CK_ATTRIBUTE_PTR pTemplate,
    CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phObject)
{
	struct m2m_attr *t = NULL;
	struct m2m_object *o = NULL;
	const struct m2m_attr *value = NULL;
	struct m2m_policy_mech pm = { CK_UNAVAILABLE_INFORMATION, 0,
	    (unsigned long)-1, 0, 0, NULL };
	size_t vlen = 0;
	CK_RV rv;
	int r;

	if (phObject == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((rv = p11_template_in(pTemplate, ulCount, &t)) != CKR_OK)
		goto out;
	if ((r = m2m_policy_build(M2M_ORIGIN_CREATE, t, ulCount, &pm, &o,
	    &value, &vlen)) != 0) {
		m2m_info("C_CreateObject: %s", m2m_strerror(r));
		rv = p11_rv(r);
		goto out;
	}
	if ((rv = session_rights(s, o)) != CKR_OK)
		goto out;
	if (o->cls == CKO_CERTIFICATE &&
	    m2m_object_bool(o, CKA_TRUSTED, 0) && !p11_so_logged_in(s)) {
		m2m_info("C_CreateObject: only the SO sets CKA_TRUSTED");
		rv = CKR_ATTRIBUTE_READ_ONLY;
		goto out;
	}
	if (value != NULL && o->cls == CKO_PRIVATE_KEY &&
	    !m2m_core_ec_import_allowed(p11.core)) {
		m2m_info("C_CreateObject: importing an EC private key is off "
		    "([token] ec_import = no)");
		rv = CKR_TEMPLATE_INCONSISTENT;
		goto out;
	}
	if (value != NULL && o->cls == CKO_PRIVATE_KEY)
		r = m2m_core_ec_import(p11.core, o, value->val, value->len,
		    p11_session_objauth(s));
	else if (value != NULL && m2m_policy_key_prehashed(o))
		r = m2m_core_wrap_prehashed(p11.core, o, value->val,
		    value->len, p11_session_objauth(s));
	else if (value != NULL)
		r = m2m_core_wrap(p11.core, o, value->val, value->len,
		    p11_session_objauth(s));
	else
		r = 0;	/* a data object, a certificate: nothing to wrap */
	if (r == M2M_ERR_ATTRIBUTE_VALUE) {
		m2m_info("C_CreateObject: not a key of its curve");
		rv = p11_rv(r);
		goto out;
	}
	if (r != 0) {
		m2m_error("C_CreateObject: backend cannot wrap the key: %s",
		    m2m_strerror(r));
		rv = p11_rv(r);
		goto out;
	}
	rv = p11_object_store(s, o, phObject);
 out:
	m2m_object_free(o);
	p11_template_free(t);
	return rv;
}

CK_RV
p11_C_CreateObject(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate,
    CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phObject)
{
	P11_SESSION_CALL(hSession, P11_NEED_SESSION, create_object,
	    pTemplate, ulCount, phObject);
}

static CK_RV
copy_object(struct p11_session *s, CK_OBJECT_HANDLE hObject,
    CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
    CK_OBJECT_HANDLE_PTR phNewObject)
{
	struct m2m_attr *t = NULL;
	struct m2m_object *o = NULL;
	CK_RV rv;
	int r;

	if (phNewObject == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((rv = p11_template_in(pTemplate, ulCount, &t)) != CKR_OK)
		goto out;
	if ((r = p11_object_load(s, hObject, &o)) != 0) {
		rv = p11_rv(r);
		goto out;
	}
	if ((r = m2m_policy_apply(o, t, ulCount, M2M_APPLY_COPY)) != 0) {
		m2m_info("C_CopyObject: %s", m2m_strerror(r));
		rv = p11_rv_in(P11_RV_COPY, r);
		goto out;
	}
	o->id = 0;
	rv = p11_object_store(s, o, phNewObject);
 out:
	m2m_object_free(o);
	p11_template_free(t);
	return rv;
}

CK_RV
p11_C_CopyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
    CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
    CK_OBJECT_HANDLE_PTR phNewObject)
{
	P11_SESSION_CALL(hSession, P11_NEED_SESSION, copy_object, hObject,
	    pTemplate, ulCount, phNewObject);
}

static CK_RV
destroy_object(struct p11_session *s, CK_OBJECT_HANDLE hObject)
{
	struct m2m_object *o = NULL;
	CK_RV rv;
	int r;

	if ((r = p11_object_get(s, hObject, &o)) != 0)
		return p11_rv(r);
	if (o->on_token && !p11_session_is_rw(s)) {
		rv = CKR_SESSION_READ_ONLY;
		goto out;
	}
	if (!m2m_object_bool(o, CKA_DESTROYABLE, 1)) {
		rv = CKR_ACTION_PROHIBITED;
		goto out;
	}
	if (P11_IS_SESSION_OBJECT(hObject))
		p11_sobj_remove(hObject);
	else {
		if ((r = m2m_store_object_delete(m2m_core_store(p11.core),
		    s->token_id, hObject)) != 0) {
			rv = p11_rv(r);
			goto out;
		}
		p11_object_gone(s->token_id, hObject);
	}
	rv = CKR_OK;
 out:
	m2m_object_free(o);
	return rv;
}

CK_RV
p11_C_DestroyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject)
{
	P11_SESSION_CALL(hSession, P11_NEED_SESSION, destroy_object, hObject);
}

static CK_RV
get_object_size(struct p11_session *s, CK_OBJECT_HANDLE hObject,
    CK_ULONG_PTR pulSize)
{
	struct m2m_object *o = NULL;
	int r;

	if (pulSize == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((r = p11_object_get(s, hObject, &o)) != 0)
		return p11_rv(r);
	*pulSize = CK_UNAVAILABLE_INFORMATION;
	m2m_object_free(o);
	return CKR_OK;
}

CK_RV
p11_C_GetObjectSize(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
    CK_ULONG_PTR pulSize)
{
	P11_SESSION_CALL(hSession, P11_NEED_SESSION, get_object_size, hObject,
	    pulSize);
}

/* CKA_VALUE of an extractable, non-sensitive key, through token/. */
static CK_RV
value_get(struct p11_session *s, const struct m2m_object *o,
    CK_ATTRIBUTE_PTR a)
{
	struct m2m_secret *v = NULL;
	CK_RV rv;
	int r;

	if ((r = m2m_core_reveal(p11.core, o, p11_session_objauth(s),
	    &v)) != 0)
		return p11_rv(r);
	if (a->pValue == NULL)
		a->ulValueLen = m2m_secret_len(v);
	else if (a->ulValueLen < m2m_secret_len(v)) {
		a->ulValueLen = CK_UNAVAILABLE_INFORMATION;
		rv = CKR_BUFFER_TOO_SMALL;
		goto out;
	} else {
		memcpy(a->pValue, m2m_secret_data(v), m2m_secret_len(v));
		a->ulValueLen = m2m_secret_len(v);
	}
	rv = CKR_OK;
 out:
	m2m_secret_free(v);
	return rv;
}

static CK_RV
get_attribute_value(struct p11_session *s, CK_OBJECT_HANDLE hObject,
    CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
	struct m2m_object *o = NULL;
	const struct m2m_attr *a;
	CK_ULONG i;
	CK_RV rv = CKR_OK, one;
	int r, data;

	if (pTemplate == NULL && ulCount != 0)
		return CKR_ARGUMENTS_BAD;
	if ((r = p11_object_get(s, hObject, &o)) != 0)
		return p11_rv(r);
	for (i = 0; i < ulCount; i++) {
		CK_ATTRIBUTE_PTR t = &pTemplate[i];

		one = CKR_OK;
		/* a data object's or certificate's value: plain, no key */
		data = (o->cls == CKO_DATA || o->cls == CKO_CERTIFICATE) &&
		    t->type == CKA_VALUE && m2m_object_attr(o, t->type) != NULL;
		if (!data && (r = m2m_policy_readable(o, t->type)) != 0) {
			one = p11_rv(r);
			t->ulValueLen = CK_UNAVAILABLE_INFORMATION;
		} else if (!data && t->type == CKA_VALUE) {
			one = value_get(s, o, t);
		} else {
			a = m2m_object_attr(o, t->type);
			if (t->pValue == NULL)
				t->ulValueLen = a->len;
			else if (t->ulValueLen < a->len) {
				t->ulValueLen = CK_UNAVAILABLE_INFORMATION;
				one = CKR_BUFFER_TOO_SMALL;
			} else {
				if (a->len != 0)
					memcpy(t->pValue, a->val, a->len);
				t->ulValueLen = a->len;
			}
		}
		/* keep going; report the first of these errors */
		if (one != CKR_OK && rv == CKR_OK)
			rv = one;
	}
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_SENSITIVE &&
	    rv != CKR_ATTRIBUTE_TYPE_INVALID && rv != CKR_BUFFER_TOO_SMALL)
		m2m_info("C_GetAttributeValue: 0x%lx", rv);
	m2m_object_free(o);
	return rv;
}

CK_RV
p11_C_GetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
    CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
	P11_SESSION_CALL(hSession, P11_NEED_SESSION, get_attribute_value,
	    hObject, pTemplate, ulCount);
}

static CK_RV
set_attribute_value(struct p11_session *s, CK_OBJECT_HANDLE hObject,
    CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
	struct m2m_attr *t = NULL;
	struct m2m_object *o = NULL;
	CK_RV rv;
	int r;

	if ((rv = p11_template_in(pTemplate, ulCount, &t)) != CKR_OK)
		goto out;
	if ((r = p11_object_load(s, hObject, &o)) != 0) {
		rv = p11_rv(r);
		goto out;
	}
	if (o->on_token && !p11_session_is_rw(s)) {
		rv = CKR_SESSION_READ_ONLY;
		goto out;
	}
	if ((r = m2m_policy_apply(o, t, ulCount, M2M_APPLY_SET)) != 0) {
		m2m_info("C_SetAttributeValue: %s", m2m_strerror(r));
		rv = p11_rv(r);
		goto out;
	}
	if (P11_IS_SESSION_OBJECT(hObject)) {
		if ((r = p11_sobj_replace(hObject, o)) != 0) {
			rv = p11_rv(r);
			goto out;
		}
		o = NULL;	/* transferred */
	} else if ((r = m2m_store_object_update(m2m_core_store(p11.core),
	    o)) != 0) {
		rv = p11_rv(r);
		goto out;
	}
	rv = CKR_OK;
 out:
	m2m_object_free(o);
	p11_template_free(t);
	return rv;
}

CK_RV
p11_C_SetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
    CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
	P11_SESSION_CALL(hSession, P11_NEED_SESSION, set_attribute_value,
	    hObject, pTemplate, ulCount);
}

static int
add_handle(struct p11_session *s, CK_OBJECT_HANDLE h, size_t *cap)
{
	CK_OBJECT_HANDLE *n;

	if (s->find_n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		if ((n = realloc(s->find_ids, *cap * sizeof(*n))) == NULL)
			return -1;
		s->find_ids = n;
	}
	s->find_ids[s->find_n++] = h;
	return 0;
}

/* The store query of a template: the indexed attributes it gives. */
static void
find_query(const struct m2m_attr *t, size_t n, struct m2m_store_query *q)
{
	CK_ULONG u;
	size_t i;

	memset(q, 0, sizeof(*q));
	for (i = 0; i < n; i++) {
		if (t[i].type == CKA_LABEL) {
			q->label = t[i].val;
			q->label_len = t[i].len;
		} else if (t[i].type == CKA_ID) {
			q->ckid = t[i].val;
			q->ckid_len = t[i].len;
		} else if (t[i].type == CKA_M2M_ROLE &&
		    t[i].len == sizeof(CK_ULONG)) {
			memcpy(&u, t[i].val, sizeof(u));
			q->has_role = 1;
			q->role = u;
		} else if (t[i].type == CKA_CLASS &&
		    t[i].len == sizeof(CK_ULONG)) {
			memcpy(&u, t[i].val, sizeof(u));
			q->has_cls = 1;
			q->cls = u;
		}
	}
}

static CK_RV
find_objects_init(struct p11_session *s, CK_ATTRIBUTE_PTR pTemplate,
    CK_ULONG ulCount)
{
	struct m2m_attr *t = NULL;
	struct m2m_store_query q;
	struct m2m_object *o = NULL;
	uint64_t *ids = NULL;
	size_t n = 0, i, cap = 0;
	CK_RV rv;
	int r;

	if (s->find_active) {
		/* a second init ends the search too */
		rv = CKR_OPERATION_ACTIVE;
		goto out;
	}
	if ((rv = p11_template_in(pTemplate, ulCount, &t)) != CKR_OK)
		goto out;
	find_query(t, ulCount, &q);
	s->find_n = s->find_pos = 0;
	/* session objects first, then the store through its indexes */
	for (i = 0; i < p11.nsobjs; i++) {
		if (visible(s, p11.sobjs[i]) &&
		    m2m_policy_match(p11.sobjs[i], t, ulCount) &&
		    add_handle(s, p11.sobjs[i]->id, &cap) != 0) {
			rv = CKR_HOST_MEMORY;
			goto out;
		}
	}
	if ((r = m2m_store_object_find(m2m_core_store(p11.core), s->token_id,
	    &q, &ids, &n)) != 0) {
		m2m_error("C_FindObjectsInit: store: %s", m2m_strerror(r));
		rv = p11_rv(r);
		goto out;
	}
	for (i = 0; i < n; i++) {
		r = m2m_core_object_get(p11.core, s->token_id, ids[i], &o);
		if (r == M2M_ERR_NOT_FOUND)
			continue;	/* deleted by another process */
		if (r == M2M_ERR_STORE_CORRUPT) {
			/* one bad row does not hide the token's others */
			m2m_error("C_FindObjectsInit: object %llu (store row "
			    "id) skipped: %s", (unsigned long long)ids[i],
			    m2m_strerror(r));
			continue;
		}
		if (r != 0) {
			rv = p11_rv(r);
			goto out;
		}
		if (visible(s, o) && m2m_policy_match(o, t, ulCount) &&
		    add_handle(s, (CK_OBJECT_HANDLE)o->id, &cap) != 0) {
			rv = CKR_HOST_MEMORY;
			goto out;
		}
		m2m_object_free(o);
		o = NULL;
	}
	s->find_active = 1;
	rv = CKR_OK;
 out:
	if (rv != CKR_OK)
		p11_session_find_reset(s);
	m2m_object_free(o);
	free(ids);
	p11_template_free(t);
	return rv;
}

CK_RV
p11_C_FindObjectsInit(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate,
    CK_ULONG ulCount)
{
	P11_SESSION_CALL(hSession, P11_NEED_SESSION, find_objects_init,
	    pTemplate, ulCount);
}

static CK_RV
find_objects(struct p11_session *s, CK_OBJECT_HANDLE_PTR phObject,
    CK_ULONG ulMaxObjectCount, CK_ULONG_PTR pulObjectCount)
{
	CK_ULONG k = 0;

	if ((phObject == NULL && ulMaxObjectCount != 0) ||
	    pulObjectCount == NULL)
		return CKR_ARGUMENTS_BAD;
	if (!s->find_active)
		return CKR_OPERATION_NOT_INITIALIZED;
	while (k < ulMaxObjectCount && s->find_pos < s->find_n)
		phObject[k++] = s->find_ids[s->find_pos++];
	*pulObjectCount = k;
	return CKR_OK;
}

CK_RV
p11_C_FindObjects(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject,
    CK_ULONG ulMaxObjectCount, CK_ULONG_PTR pulObjectCount)
{
	P11_SESSION_CALL(hSession, P11_NEED_SESSION, find_objects, phObject,
	    ulMaxObjectCount, pulObjectCount);
}

static CK_RV
find_objects_final(struct p11_session *s)
{
	if (!s->find_active)
		return CKR_OPERATION_NOT_INITIALIZED;
	p11_session_find_reset(s);
	return CKR_OK;
}

CK_RV
p11_C_FindObjectsFinal(CK_SESSION_HANDLE hSession)
{
	P11_SESSION_CALL(hSession, P11_NEED_SESSION, find_objects_final);
}
