/*
 * m2mtoken: the TPM backend's command plumbing: the one TSS2_RC mapping
 * and log point (m2m_tpm_fail), authValues and names, and the session
 * commands (prepare, run, retry) over tpm_sess.c's salted session, and
 * the shared mode's primary (m2m_tpm_need_primary).
 * Contracts in tpm_int.h; docs/architecture.md for the layout.
 */
#include <string.h>

#include <openssl/evp.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>

#include "err.h"
#include "log.h"
#include "secret.h"
#include "tpm_int.h"

/* see tpm_int.h */
int
m2m_tpm_fail(struct tpm *t, const char *what, TSS2_RC rc, enum tpm_rc_ctx ctx)
{
	int r = m2m_err_from_tss2(rc, ctx);

	switch (m2m_tpm_rc_base(rc)) {
	case TPM2_RC_OBJECT_MEMORY:
	case TPM2_RC_SESSION_MEMORY:
	case TPM2_RC_MEMORY:
	case TPM2_RC_OBJECT_HANDLES:
	case TPM2_RC_SESSION_HANDLES:
		if ((rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER ||
		    (rc & TSS2_RC_LAYER_MASK) == TSS2_RESMGR_TPM_RC_LAYER) {
			t->oom = 1;
			if (t->shared) {
				m2m_debug("tpm: %s: %s (will retry)", what,
				    Tss2_RC_Decode(rc));
				return r;
			}
		}
		break;
	default:
		break;
	}

	if (r == M2M_ERR_BACKEND || r == M2M_ERR_BACKEND_ABSENT ||
	    r == M2M_ERR_NO_MEMORY)
		m2m_error("tpm: %s: %s", what, Tss2_RC_Decode(rc));
	else
		m2m_debug("tpm: %s: %s", what, Tss2_RC_Decode(rc));
	return r;
}

/* see tpm_int.h */
TPMI_ALG_HASH
m2m_tpm_hash_alg(enum m2m_hash h)
{
	switch (h) {
	case M2M_HASH_SHA256:	return TPM2_ALG_SHA256;
	case M2M_HASH_SHA384:	return TPM2_ALG_SHA384;
	case M2M_HASH_SHA512:	return TPM2_ALG_SHA512;
	default:		return TPM2_ALG_NULL;
	}
}

/* see tpm_int.h */
const EVP_MD *
m2m_tpm_evp_md(enum m2m_hash h)
{
	switch (h) {
	case M2M_HASH_SHA256:	return EVP_sha256();
	case M2M_HASH_SHA384:	return EVP_sha384();
	case M2M_HASH_SHA512:	return EVP_sha512();
	default:		return NULL;
	}
}

/* see tpm_int.h */
int
m2m_tpm_auth_value(const uint8_t *auth, size_t len, int always, TPM2B_AUTH *ret)
{
	unsigned int n = 0;

	memset(ret, 0, sizeof(*ret));
	if (len == 0 && !always)
		return 0;
	if (EVP_Digest(len ? auth : (const uint8_t *)"", len, ret->buffer, &n,
	    EVP_sha256(), NULL) != 1 || n != TPM_AUTH_LEN) {
		m2m_wipe(ret, sizeof(*ret));
		return M2M_ERR_INTERNAL;
	}
	while (n > 0 && ret->buffer[n - 1] == 0)
		n--;
	ret->size = (UINT16)n;
	return 0;
}

/* see tpm_int.h */
int
m2m_tpm_obj_name(const TPMT_PUBLIC *pub, TPM2B_NAME *ret)
{
	uint8_t buf[sizeof(TPMT_PUBLIC)];
	const EVP_MD *md = NULL;
	unsigned int n = 0;
	size_t off = 0;

	switch (pub->nameAlg) {
	case TPM2_ALG_SHA256:	md = m2m_tpm_evp_md(M2M_HASH_SHA256); break;
	case TPM2_ALG_SHA384:	md = m2m_tpm_evp_md(M2M_HASH_SHA384); break;
	case TPM2_ALG_SHA512:	md = m2m_tpm_evp_md(M2M_HASH_SHA512); break;
	default:		return M2M_ERR_DATA_INVALID;
	}
	if (Tss2_MU_TPMT_PUBLIC_Marshal(pub, buf, sizeof(buf), &off) !=
	    TSS2_RC_SUCCESS ||
	    EVP_Digest(buf, off, ret->name + 2, &n, md, NULL) != 1)
		return M2M_ERR_INTERNAL;
	ret->name[0] = (uint8_t)(pub->nameAlg >> 8);
	ret->name[1] = (uint8_t)pub->nameAlg;
	ret->size = (UINT16)(2 + n);
	return 0;
}

/* see tpm_int.h */
int
m2m_tpm_auth_of(struct tpm *t, ESYS_TR h, const TPMT_PUBLIC *pub,
    const TPM2B_AUTH *a, struct tpm_auth *ret)
{
	TSS2_RC rc;
	int r;

	memset(ret, 0, sizeof(*ret));
	if ((rc = Esys_TR_GetTpmHandle(t->esys, h, &ret->handle)) !=
	    TSS2_RC_SUCCESS)
		return m2m_tpm_fail(t, "object's handle", rc, TPM_CTX_OP);
	if ((r = m2m_tpm_obj_name(pub, &ret->name)) != 0)
		return r;
	if (a != NULL)
		ret->auth = *a;
	return 0;
}


/* see tpm_int.h */
int
m2m_tpm_cmd_prep(struct tpm *t, TSS2_SYS_CONTEXT **ret)
{
	int r;

	if ((r = m2m_tpm_need_sess(t)) != 0)
		return r;
	*ret = m2m_tpm_sess_sys(t->fs);
	return 0;
}


/* see tpm_int.h */
int
m2m_tpm_cmd_run(struct tpm *t, const char *what, TSS2_RC rc, TPM2_CC cc,
    const struct tpm_auth *a, int flags, enum tpm_rc_ctx ctx,
    unsigned *tries)
{
	if (rc == TSS2_RC_SUCCESS) {
		TPM_CMD(t);
		rc = m2m_tpm_sess_run(t->fs, cc, a != NULL ? &a->name : NULL,
		    a != NULL ? &a->auth : NULL, flags);
	}
	if (rc == TSS2_RC_SUCCESS)
		return 0;
	m2m_tpm_sess_clean(t->fs);
	if (m2m_tpm_rc_retry(rc) && ++*tries < TPM_TRIES_MAX) {
		m2m_debug("tpm: %s: %s (sent again)", what,
		    Tss2_RC_Decode(rc));
		return TPM_AGAIN;
	}
	return m2m_tpm_fail(t, what, rc, ctx);
}

/* see tpm_int.h */
void
m2m_tpm_flush(struct tpm *t, ESYS_TR *h)
{
	TSS2_RC rc;

	if (*h == ESYS_TR_NONE)
		return;
	TPM_CMD(t);
	if ((rc = Esys_FlushContext(t->esys, *h)) != TSS2_RC_SUCCESS)
		m2m_debug("tpm: FlushContext: %s", Tss2_RC_Decode(rc));
	*h = ESYS_TR_NONE;
}

/* see tpm_int.h */
void
m2m_tpm_esys_free_wiped(void *p, size_t len)
{
	if (p == NULL)
		return;
	m2m_wipe(p, len);
	Esys_Free(p);
}

/* see tpm_int.h */
int
m2m_tpm_need_sess(struct tpm *t)
{
	TPM2_HANDLE h = 0;
	TSS2_RC rc;
	int r;

	switch (m2m_tpm_sess_state(t->fs)) {
	case TPM_SESS_LOADED:
		return 0;
	case TPM_SESS_SAVED:
		TPM_CMD(t);
		if ((rc = m2m_tpm_sess_load(t->fs)) == TSS2_RC_SUCCESS)
			return 0;
		r = m2m_tpm_fail(t, "ContextLoad (session)", rc, TPM_CTX_OP);
		if (t->oom)
			return r;	/* retried with the context */
		TPM_CMD(t);
		m2m_tpm_sess_forget(t->fs);
		break;
	default:
		break;
	}
	if ((r = m2m_tpm_need_primary(t)) != 0)
		return r;
	if ((rc = Esys_TR_GetTpmHandle(t->esys, t->primary, &h)) !=
	    TSS2_RC_SUCCESS)
		return m2m_tpm_fail(t, "primary's handle", rc, TPM_CTX_OP);
	TPM_CMD(t);
	if ((rc = m2m_tpm_sess_start(t->fs, h, &t->primary_pub)) !=
	    TSS2_RC_SUCCESS)
		return m2m_tpm_fail(t, "StartAuthSession", rc, TPM_CTX_OP);
	return 0;
}

/* see tpm_int.h */
int
m2m_tpm_need_primary(struct tpm *t)
{
	TSS2_RC rc;

	if (!t->shared || t->primary_persistent || t->primary_live)
		return 0;
	TPM_CMD(t);
	rc = Esys_ContextLoad(t->esys, t->primary_ctx, &t->primary);
	if (rc != TSS2_RC_SUCCESS) {
		t->primary = ESYS_TR_NONE;
		return m2m_tpm_fail(t, "ContextLoad (primary)", rc, TPM_CTX_OP);
	}
	t->primary_live = 1;
	return 0;
}
