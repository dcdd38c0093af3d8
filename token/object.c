/* m2mtoken: the object model.  See object.h. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <m2mtoken/pkcs11-m2m.h>

#include "err.h"
#include "ident.h"
#include "object.h"
#include "secret.h"

/* see object.h */
int
m2m_object_new(struct m2m_object **ret)
{
	struct m2m_object *o;

	if (ret == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if ((o = calloc(1, sizeof(*o))) == NULL)
		return M2M_ERR_NO_MEMORY;
	o->cls = (unsigned long)-1;
	o->key_type = (unsigned long)-1;
	*ret = o;
	return 0;
}

static void
attrs_free(struct m2m_attr *a, size_t n)
{
	size_t i;

	for (i = 0; a != NULL && i < n; i++)
		free(a[i].val);
	free(a);
}

/* see object.h */
void
m2m_object_free(struct m2m_object *o)
{
	if (o == NULL)
		return;
	/* not the last holder: one fewer */
	if (__atomic_load_n(&o->extra_refs, __ATOMIC_ACQUIRE) != 0 &&
	    __atomic_fetch_sub(&o->extra_refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	attrs_free(o->attrs, o->nattrs);
	free(o->blob);
	free(o->aux);
	m2m_secret_free(o->plain);
	free(o);
}

/* see object.h */
struct m2m_object *
m2m_object_ref(struct m2m_object *o)
{
	if (o != NULL)
		__atomic_add_fetch(&o->extra_refs, 1, __ATOMIC_ACQ_REL);
	return o;
}

/* see object.h */
int
m2m_object_shared(const struct m2m_object *o)
{
	return o != NULL &&
	    __atomic_load_n(&o->extra_refs, __ATOMIC_ACQUIRE) != 0;
}

static int
dup_bytes(const uint8_t *p, size_t n, uint8_t **ret)
{
	uint8_t *q;

	*ret = NULL;
	if (n == 0)
		return 0;
	if ((q = malloc(n)) == NULL)
		return M2M_ERR_NO_MEMORY;
	memcpy(q, p, n);
	*ret = q;
	return 0;
}

/* see object.h */
int
m2m_object_dup(const struct m2m_object *o, struct m2m_object **ret)
{
	struct m2m_object *c = NULL;
	size_t i;
	int r = M2M_ERR_NO_MEMORY;

	if (o == NULL || ret == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto out;
	*c = *o;
	c->extra_refs = 0;
	c->attrs = NULL;
	c->nattrs = 0;
	c->blob = c->aux = NULL;
	c->plain = NULL;
	if (o->nattrs != 0) {
		if ((c->attrs = calloc(o->nattrs, sizeof(*c->attrs))) == NULL)
			goto out;
		for (i = 0; i < o->nattrs; i++) {
			c->attrs[i].type = o->attrs[i].type;
			c->attrs[i].len = o->attrs[i].len;
			c->nattrs = i + 1;
			if (dup_bytes(o->attrs[i].val, o->attrs[i].len,
			    &c->attrs[i].val) != 0)
				goto out;
		}
	}
	if (dup_bytes(o->blob, o->bloblen, &c->blob) != 0 ||
	    dup_bytes(o->aux, o->auxlen, &c->aux) != 0)
		goto out;
	if (o->plain != NULL && (r = m2m_secret_from(
	    m2m_secret_data(o->plain), m2m_secret_len(o->plain),
	    &c->plain)) != 0)
		goto out;
	*ret = c;
	c = NULL;	/* transferred */
	r = 0;
 out:
	m2m_object_free(c);
	return r;
}

/* see object.h */
const struct m2m_attr *
m2m_object_attr(const struct m2m_object *o, unsigned long type)
{
	size_t i;

	for (i = 0; o != NULL && i < o->nattrs; i++)
		if (o->attrs[i].type == type)
			return &o->attrs[i];
	return NULL;
}

/*
 * The facts of struct m2m_object from its attribute list, as the policy
 * would read them per use: m2m_object_bool(o, CKA_PRIVATE, 1) and the
 * CKA_M2M_EXPIRES timestamp (policy.c).
 */
static void
facts_update(struct m2m_object *o)
{
	const struct m2m_attr *a = m2m_object_attr(o, CKA_M2M_EXPIRES);
	struct m2m_object_facts *f = &o->facts;

	f->priv = (unsigned int)m2m_object_bool(o, CKA_PRIVATE, 1);
	f->expires_at = 0;
	if (a == NULL || a->len == 0)
		f->expires = M2M_EXPIRES_NEVER;
	else if (m2m_ident_timestamp_parse(a->val, a->len,
	    &f->expires_at) == 0)
		f->expires = M2M_EXPIRES_AT;
	else
		f->expires = M2M_EXPIRES_BAD;
	f->valid = 1;
}

/* see object.h */
int
m2m_object_attr_set(struct m2m_object *o, unsigned long type,
    const void *val, size_t len)
{
	struct m2m_attr *a = NULL, *na;
	uint8_t *copy = NULL;
	size_t i;

	if (o == NULL || (val == NULL && len != 0) || len > M2M_ATTR_MAX_LEN)
		return M2M_ERR_INVALID_ARGUMENT;
	if (dup_bytes(val, len, &copy) != 0)
		return M2M_ERR_NO_MEMORY;
	for (i = 0; i < o->nattrs; i++)
		if (o->attrs[i].type == type)
			a = &o->attrs[i];
	if (a == NULL) {
		if (o->nattrs >= M2M_ATTRS_MAX * 2) {
			free(copy);
			return M2M_ERR_TEMPLATE_INCONSISTENT;
		}
		na = realloc(o->attrs, (o->nattrs + 1) * sizeof(*na));
		if (na == NULL) {
			free(copy);
			return M2M_ERR_NO_MEMORY;
		}
		o->attrs = na;
		a = &o->attrs[o->nattrs++];
		a->type = type;
		a->val = NULL;
	}
	free(a->val);
	a->val = copy;
	a->len = len;
	if (type == CKA_PRIVATE || type == CKA_M2M_EXPIRES || !o->facts.valid)
		facts_update(o);
	return 0;
}

/* see object.h */
int
m2m_object_bool(const struct m2m_object *o, unsigned long type, int def)
{
	const struct m2m_attr *a = m2m_object_attr(o, type);

	if (a == NULL || a->len != sizeof(CK_BBOOL))
		return def;
	return a->val[0] != CK_FALSE;
}

/* see object.h */
int
m2m_object_attr_set_bool(struct m2m_object *o, unsigned long type, int v)
{
	CK_BBOOL b = v ? CK_TRUE : CK_FALSE;

	return m2m_object_attr_set(o, type, &b, sizeof(b));
}

/* see object.h */
int
m2m_object_attr_set_ulong(struct m2m_object *o, unsigned long type,
    unsigned long v)
{
	CK_ULONG u = v;

	return m2m_object_attr_set(o, type, &u, sizeof(u));
}

static int
get_ulong(const struct m2m_object *o, unsigned long type, unsigned long *v)
{
	const struct m2m_attr *a = m2m_object_attr(o, type);
	CK_ULONG u;

	if (a == NULL || a->len != sizeof(CK_ULONG))
		return -1;
	memcpy(&u, a->val, sizeof(u));
	*v = u;
	return 0;
}

/* see object.h */
void
m2m_object_sync_fields(struct m2m_object *o)
{
	unsigned long v;

	o->cls = get_ulong(o, CKA_CLASS, &v) == 0 ? v : (unsigned long)-1;
	o->key_type = get_ulong(o, CKA_KEY_TYPE, &v) == 0 ? v :
	    (unsigned long)-1;
	o->role = get_ulong(o, CKA_M2M_ROLE, &v) == 0 ? v : 0;
	o->on_token = m2m_object_bool(o, CKA_TOKEN, 0);
	facts_update(o);
}

static int
set_bytes(uint8_t **dst, size_t *dstlen, const uint8_t *b, size_t n)
{
	uint8_t *c = NULL;

	if (b == NULL && n != 0)
		return M2M_ERR_INVALID_ARGUMENT;
	if (dup_bytes(b, n, &c) != 0)
		return M2M_ERR_NO_MEMORY;
	free(*dst);
	*dst = c;
	*dstlen = n;
	return 0;
}

/* see object.h */
int
m2m_object_set_blob(struct m2m_object *o, const uint8_t *b, size_t n)
{
	return set_bytes(&o->blob, &o->bloblen, b, n);
}

/* see object.h */
int
m2m_object_set_aux(struct m2m_object *o, const uint8_t *b, size_t n)
{
	return set_bytes(&o->aux, &o->auxlen, b, n);
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* see object.h */
int
m2m_object_attrs_encode(const struct m2m_object *o, uint8_t **ret,
    size_t *ret_len)
{
	size_t i, n = 0, off = 0;
	uint8_t *buf;

	if (o == NULL || ret == NULL || ret_len == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	for (i = 0; i < o->nattrs; i++)
		n += 12 + o->attrs[i].len;
	if ((buf = malloc(n == 0 ? 1 : n)) == NULL)
		return M2M_ERR_NO_MEMORY;
	for (i = 0; i < o->nattrs; i++) {
		uint64_t t = o->attrs[i].type;

		put32(buf + off, (uint32_t)t);
		put32(buf + off + 4, (uint32_t)(t >> 32));
		put32(buf + off + 8, (uint32_t)o->attrs[i].len);
		if (o->attrs[i].len != 0)
			memcpy(buf + off + 12, o->attrs[i].val,
			    o->attrs[i].len);
		off += 12 + o->attrs[i].len;
	}
	*ret = buf;
	*ret_len = n;
	return 0;
}

/* see object.h */
int
m2m_object_attrs_decode(struct m2m_object *o, const uint8_t *p, size_t len)
{
	struct m2m_object *tmp = NULL;
	size_t off = 0;
	int r = M2M_ERR_STORE_CORRUPT;

	if (o == NULL || (p == NULL && len != 0))
		return M2M_ERR_INVALID_ARGUMENT;
	if ((r = m2m_object_new(&tmp)) != 0)
		return r;
	r = M2M_ERR_STORE_CORRUPT;
	while (off < len) {
		uint64_t t;
		uint32_t n;

		if (len - off < 12)
			goto out;
		t = (uint64_t)get32(p + off) |
		    (uint64_t)get32(p + off + 4) << 32;
		n = get32(p + off + 8);
		off += 12;
		if (n > M2M_ATTR_MAX_LEN || n > len - off ||
		    tmp->nattrs >= M2M_ATTRS_MAX * 2 ||
		    m2m_object_attr(tmp, (unsigned long)t) != NULL)
			goto out;
		if (m2m_object_attr_set(tmp, (unsigned long)t, p + off,
		    n) != 0) {
			r = M2M_ERR_NO_MEMORY;
			goto out;
		}
		off += n;
	}
	attrs_free(o->attrs, o->nattrs);
	o->attrs = tmp->attrs;
	o->nattrs = tmp->nattrs;
	tmp->attrs = NULL;	/* transferred */
	tmp->nattrs = 0;
	m2m_object_sync_fields(o);
	r = 0;
 out:
	m2m_object_free(tmp);
	return r;
}

static void
put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

/* Hash u32be len || p[0..n). */
static int
digest_lp(EVP_MD_CTX *ctx, const uint8_t *p, size_t n)
{
	uint8_t l[4];

	if (n > UINT32_MAX)
		return 0;
	put32(l, (uint32_t)n);
	return EVP_DigestUpdate(ctx, l, sizeof(l)) == 1 &&
	    (n == 0 || EVP_DigestUpdate(ctx, p, n) == 1);
}

/* see object.h */
int
m2m_object_set_base(struct m2m_object *o, const struct m2m_object *base)
{
	EVP_MD_CTX *ctx = NULL;
	uint8_t md[M2M_OBJECT_DIGEST_LEN];
	unsigned int mdlen = 0;
	int r = M2M_ERR_INTERNAL;

	if (o == NULL || base == NULL || base->id == 0)
		return M2M_ERR_INVALID_ARGUMENT;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return M2M_ERR_NO_MEMORY;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    !digest_lp(ctx, base->blob, base->bloblen) ||
	    !digest_lp(ctx, base->aux, base->auxlen) ||
	    EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != sizeof(md))
		goto out;
	o->base_id = base->id;
	memcpy(o->base_digest, md, sizeof(md));
	r = 0;
 out:
	EVP_MD_CTX_free(ctx);
	return r;
}

/* see object.h */
int
m2m_object_derived_from(const struct m2m_object *o,
    const struct m2m_object *base)
{
	struct m2m_object probe;

	if (o == NULL || base == NULL || o->base_id == 0 ||
	    o->base_id != base->id)
		return 0;
	memset(&probe, 0, sizeof(probe));
	if (m2m_object_set_base(&probe, base) != 0)
		return 0;
	return CRYPTO_memcmp(probe.base_digest, o->base_digest,
	    sizeof(o->base_digest)) == 0;
}

/* see object.h */
int
m2m_object_bind_msg(const struct m2m_object *o, uint64_t token_id,
    uint64_t id, const uint8_t *attrs, size_t attrslen, uint8_t *out)
{
	static const char domain[] = M2M_OBJECT_BIND_DOMAIN;
	EVP_MD_CTX *ctx = NULL;
	uint8_t nums[7 * 8], md[M2M_OBJECT_DIGEST_LEN];
	unsigned int mdlen = 0;
	int r = M2M_ERR_INTERNAL;

	if (o == NULL || out == NULL || (attrs == NULL && attrslen != 0))
		return M2M_ERR_INVALID_ARGUMENT;
	put64(nums, token_id);
	put64(nums + 8, id);
	put64(nums + 16, (uint64_t)o->cls);
	put64(nums + 24, (uint64_t)o->key_type);
	put64(nums + 32, (uint64_t)o->role);
	put64(nums + 40, (uint64_t)o->origin);
	put64(nums + 48, o->base_id);
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return M2M_ERR_NO_MEMORY;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    !digest_lp(ctx, (const uint8_t *)domain, sizeof(domain) - 1) ||
	    EVP_DigestUpdate(ctx, nums, sizeof(nums)) != 1 ||
	    !digest_lp(ctx, o->base_digest, sizeof(o->base_digest)) ||
	    !digest_lp(ctx, attrs, attrslen) ||
	    !digest_lp(ctx, o->blob, o->bloblen) ||
	    !digest_lp(ctx, o->aux, o->auxlen) ||
	    EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != sizeof(md))
		goto out;
	memcpy(out, domain, sizeof(domain) - 1);
	memcpy(out + sizeof(domain) - 1, md, sizeof(md));
	r = 0;
 out:
	EVP_MD_CTX_free(ctx);
	return r;
}
