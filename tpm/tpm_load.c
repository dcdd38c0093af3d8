/*
 * m2mtoken: the TPM backend's loaded keys: the storage primary (loaded
 * again for a call in shared mode), the cache of loaded keys (LRU, keyed
 * by store id, checked against the blob and auth) and TPM2_Load.
 *
 * At most (transient slots - 2) keys are loaded at any time, so the
 * primary plus one scratch slot (TPM2_Create's new object, an HMAC
 * sequence, a persistent primary being used) always fit, with or without
 * a resource manager.  Contracts in tpm_int.h.
 */
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>

#include "err.h"
#include "log.h"
#include "secret.h"
#include "tpm_int.h"

/* see tpm_int.h */
void
m2m_tpm_ent_unload(struct tpm *t, struct tpm_ent *e)
{
	if (e->id == 0 || e->handle == ESYS_TR_NONE)
		return;
	m2m_tpm_flush(t, &e->handle);
	t->nloaded--;
}

/* see tpm_int.h */
void
m2m_tpm_ent_clear(struct tpm *t, struct tpm_ent *e)
{
	if (e->id == 0)
		return;
	m2m_tpm_ent_unload(t, e);
	free(e->blob);
	m2m_tpm_esys_free_wiped(e->ctx, sizeof(*e->ctx));
	m2m_wipe(e, sizeof(*e));
	e->handle = ESYS_TR_NONE;
}

/* see tpm_int.h */
struct tpm_ent *
m2m_tpm_ent_find(struct tpm *t, uint64_t id)
{
	size_t i;

	for (i = 0; i < t->nents; i++)
		if (t->ents[i].id == id)
			return &t->ents[i];
	return NULL;
}

/* The least recently used entry (only loaded ones if live), or NULL. */
static struct tpm_ent *
ent_lru(struct tpm *t, int live)
{
	struct tpm_ent *lru = NULL;
	size_t i;

	for (i = 0; i < t->nents; i++)
		if (t->ents[i].id != 0 &&
		    (!live || t->ents[i].handle != ESYS_TR_NONE) &&
		    (lru == NULL || t->ents[i].used < lru->used))
			lru = &t->ents[i];
	return lru;
}

/* see tpm_int.h */
int
m2m_tpm_make_room(struct tpm *t)
{
	struct tpm_ent *lru;

	while (t->nloaded >= t->cap) {
		if (M2M_NEVER((lru = ent_lru(t, 1)) == NULL))
			return M2M_ERR_INTERNAL;
		if (t->shared)
			m2m_tpm_ent_unload(t, lru);
		else
			m2m_tpm_ent_clear(t, lru);
	}
	return 0;
}

/* see tpm_int.h */
int
m2m_tpm_load_obj(struct tpm *t, const struct tpm_obj *o, ESYS_TR *ret)
{
	ESYS_TR h = ESYS_TR_NONE;
	TSS2_RC rc;
	int r;

	if ((r = m2m_tpm_make_room(t)) != 0 ||
	    (r = m2m_tpm_need_primary(t)) != 0)
		return r;
	/*
	 * Password authorisation: the primary's authValue is empty and
	 * inPrivate is already sealed to the primary, so a session would
	 * protect nothing here (and would cost shared mode its context load).
	 */
	TPM_CMD(t);
	rc = Esys_Load(t->esys, t->primary, ESYS_TR_PASSWORD, ESYS_TR_NONE,
	    ESYS_TR_NONE, &o->priv, &o->pub, &h);
	if (rc != TSS2_RC_SUCCESS) {
		r = m2m_tpm_fail(t, "Load", rc, TPM_CTX_LOAD);
		if (m2m_tpm_rc_base(rc) == TPM2_RC_INTEGRITY)
			m2m_error("tpm: the TPM refused a stored key: the "
			    "owner hierarchy was cleared or the key belongs "
			    "to another TPM");
		return r;
	}
	t->st.loads++;
	t->nloaded++;
	*ret = h;
	return 0;
}

/* see tpm_int.h */
void
m2m_tpm_unload_tmp(struct tpm *t, ESYS_TR *h)
{
	if (*h == ESYS_TR_NONE)
		return;
	m2m_tpm_flush(t, h);
	t->nloaded--;
}

/* Shared mode: reload a cached key from its saved context. */
static int
ent_reload(struct tpm *t, struct tpm_ent *e)
{
	ESYS_TR h = ESYS_TR_NONE;
	TSS2_RC rc;
	int r;

	if ((r = m2m_tpm_make_room(t)) != 0)
		return r;
	TPM_CMD(t);
	if ((rc = Esys_ContextLoad(t->esys, e->ctx, &h)) != TSS2_RC_SUCCESS)
		return m2m_tpm_fail(t, "ContextLoad", rc, TPM_CTX_OP);
	t->nloaded++;
	e->handle = h;
	return 0;
}

/* see tpm_int.h */
int
m2m_tpm_ref_open(const struct m2m_keyref *ref, struct tpm_blob *b,
    TPM2B_AUTH *a)
{
	int r;

	if (ref == NULL || (ref->auth == NULL && ref->authlen != 0) ||
	    ref->authlen > TPM_PIN_MAX)
		return M2M_ERR_INVALID_ARGUMENT;
	if ((r = m2m_tpm_blob_parse(ref->blob, ref->bloblen, b)) != 0)
		return r;
	if ((int)ref->kind != b->kind || b->kind == TPM_KIND_PIN)
		return M2M_ERR_KEY_TYPE;
	return m2m_tpm_auth_value(ref->auth, ref->authlen, 0, a);
}

static int key_get(struct tpm *, const struct m2m_keyref *, int, ESYS_TR *,
    int *, TPMT_PUBLIC *, TPM2B_AUTH *);

/* see tpm_int.h */
int
m2m_tpm_key_acquire(struct tpm *t, const struct m2m_keyref *ref, int kind,
    ESYS_TR *ret, int *ret_tmp, struct tpm_auth *ret_auth)
{
	ESYS_TR h = ESYS_TR_NONE;
	TPMT_PUBLIC pub;
	TPM2B_AUTH a;
	int tmp = 0, r;

	memset(&a, 0, sizeof(a));
	if ((r = key_get(t, ref, kind, &h, &tmp, &pub, &a)) != 0)
		return r;
	if ((r = m2m_tpm_auth_of(t, h, &pub, &a, ret_auth)) != 0)
		m2m_tpm_key_release(t, &h, tmp);
	m2m_wipe(&a, sizeof(a));
	if (r == 0) {
		*ret = h;
		*ret_tmp = tmp;
	}
	return r;
}

/* m2m_tpm_key_acquire's first part: also the public area and authValue. */
static int
key_get(struct tpm *t, const struct m2m_keyref *ref, int kind, ESYS_TR *ret,
    int *ret_tmp, TPMT_PUBLIC *ret_pub, TPM2B_AUTH *ret_a)
{
	struct tpm_blob b;
	struct tpm_ent *e;
	TPM2B_AUTH a;
	TPMS_CONTEXT *ctx = NULL;
	ESYS_TR h = ESYS_TR_NONE;
	uint8_t *copy = NULL;
	TSS2_RC rc;
	int r = M2M_ERR_INTERNAL;

	memset(&a, 0, sizeof(a));
	if (ref != NULL && (int)ref->kind != kind) {
		r = M2M_ERR_KEY_TYPE;
		goto out;
	}
	if ((r = m2m_tpm_ref_open(ref, &b, &a)) != 0)
		goto out;
	*ret_pub = b.obj.pub.publicArea;
	*ret_a = a;
	if (ref->id != 0 && (e = m2m_tpm_ent_find(t, ref->id)) != NULL) {
		if (e->bloblen == ref->bloblen &&
		    memcmp(e->blob, ref->blob, ref->bloblen) == 0 &&
		    e->authlen == a.size &&
		    m2m_ct_equal(e->auth, a.buffer, a.size)) {
			if (e->handle == ESYS_TR_NONE &&
			    (r = ent_reload(t, e)) != 0)
				goto out;
			e->used = ++t->clock;
			*ret = e->handle;
			*ret_tmp = 0;
			r = 0;
			goto out;
		}
		m2m_tpm_ent_clear(t, e);	/* same id, another key */
	}
	if (ref->id != 0 && (copy = malloc(ref->bloblen)) == NULL) {
		r = M2M_ERR_NO_MEMORY;
		goto out;
	}
	if ((r = m2m_tpm_load_obj(t, &b.obj, &h)) != 0)
		goto out;
	if (ref->id == 0) {
		*ret = h;
		*ret_tmp = 1;
		r = 0;
		goto out;
	}
	if (t->shared) {
		TPM_CMD(t);
		if ((rc = Esys_ContextSave(t->esys, h, &ctx)) !=
		    TSS2_RC_SUCCESS) {
			ctx = NULL;
			r = m2m_tpm_fail(t, "ContextSave", rc, TPM_CTX_OP);
			m2m_tpm_unload_tmp(t, &h);
			goto out;
		}
		/* a full cache gives up its least recently used entry */
		if (m2m_tpm_ent_find(t, 0) == NULL)
			m2m_tpm_ent_clear(t, ent_lru(t, 0));
	}
	/* exclusive: make_room left nloaded < cap = nents: one is free */
	if (M2M_NEVER((e = m2m_tpm_ent_find(t, 0)) == NULL)) {
		m2m_tpm_unload_tmp(t, &h);
		r = M2M_ERR_INTERNAL;
		goto out;
	}
	memcpy(copy, ref->blob, ref->bloblen);
	e->id = ref->id;
	e->handle = h;
	e->ctx = ctx;
	ctx = NULL;	/* transferred */
	e->blob = copy;
	copy = NULL;	/* transferred */
	e->bloblen = ref->bloblen;
	memcpy(e->auth, a.buffer, a.size);
	e->authlen = a.size;
	e->used = ++t->clock;
	*ret = h;
	*ret_tmp = 0;
	r = 0;
 out:
	free(copy);
	m2m_tpm_esys_free_wiped(ctx, sizeof(*ctx));
	m2m_wipe(&a, sizeof(a));
	return r;
}

/* see tpm_int.h */
void
m2m_tpm_key_release(struct tpm *t, ESYS_TR *h, int tmp)
{
	if (tmp)
		m2m_tpm_unload_tmp(t, h);
}
