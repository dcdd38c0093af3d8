/*
 * m2mtoken: the TPM backend's binding key and its bind_mac op.  See
 * tpm_int.h.
 *
 * The store's binding MACs (token/store.h) are HMAC-SHA-256 under a
 * keyedHash primary key of the owner hierarchy, re-created from the owner
 * seed with the fixed template below whenever a MAC is made: the same key
 * in every process and after every restart, never in a blob nor in the
 * store, and its value never leaves the TPM (fixedTPM, fixedParent, made
 * by the TPM: sensitiveDataOrigin).  The template's unique field makes it
 * a key of its own: no other primary this backend (or anyone following
 * the TCG templates) creates has this public area.  Clearing the owner
 * hierarchy changes it, as it makes every stored blob unusable anyway.
 */
#include <pthread.h>
#include <string.h>

#include <tss2/tss2_esys.h>

#include "err.h"
#include "secret.h"
#include "tpm_int.h"

/* "m2mtoken binding key v1", zero-padded: the template's unique field. */
static const char bind_unique[] = "m2mtoken binding key v1";

/* see tpm_int.h */
void
m2m_tpm_tmpl_bind(TPM2B_PUBLIC *ret)
{
	TPMT_PUBLIC *p = &ret->publicArea;

	memset(ret, 0, sizeof(*ret));
	p->type = TPM2_ALG_KEYEDHASH;
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
	    TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
	    TPMA_OBJECT_NODA | TPMA_OBJECT_SIGN_ENCRYPT;
	p->parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_HMAC;
	p->parameters.keyedHashDetail.scheme.details.hmac.hashAlg =
	    TPM2_ALG_SHA256;
	p->unique.keyedHash.size = 32;
	memcpy(p->unique.keyedHash.buffer, bind_unique,
	    sizeof(bind_unique) - 1);
}

/*
 * CreatePrimary of the binding key (in a scratch slot, like a key loaded
 * for one call), one TPM2_HMAC through the session, flush.
 */
static int
bind_op(struct tpm *t, const uint8_t *msg, size_t msglen, uint8_t *out)
{
	TPM2B_PUBLIC *pub = NULL, tmpl;
	TPM2B_SENSITIVE_CREATE sens;
	TPM2B_DATA outside;
	TPML_PCR_SELECTION pcrs;
	struct tpm_auth a;
	ESYS_TR h = ESYS_TR_NONE;
	TSS2_RC rc;
	int r;

	memset(&sens, 0, sizeof(sens));
	memset(&outside, 0, sizeof(outside));
	memset(&pcrs, 0, sizeof(pcrs));
	memset(&a, 0, sizeof(a));
	m2m_tpm_tmpl_bind(&tmpl);
	if ((r = m2m_tpm_make_room(t)) != 0)
		return r;
	TPM_CMD(t);
	rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD,
	    ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl, &outside, &pcrs, &h,
	    &pub, NULL, NULL, NULL);
	if (rc != TSS2_RC_SUCCESS)
		return m2m_tpm_fail(t, "CreatePrimary (binding key)", rc,
		    TPM_CTX_OP);
	t->nloaded++;
	if ((r = m2m_tpm_auth_of(t, h, &pub->publicArea, NULL, &a)) == 0)
		r = m2m_tpm_hmac_one(t, &a, TPM2_ALG_SHA256,
		    M2M_BIND_MAC_LEN, msg, msglen, out);
	m2m_wipe(&a, sizeof(a));
	m2m_tpm_unload_tmp(t, &h);
	Esys_Free(pub);
	return r;
}

/* see tpm_int.h */
int
m2m_tpm_bind_mac(void *impl, const uint8_t *msg, size_t msglen, uint8_t *out)
{
	struct tpm *t = impl;
	uint8_t res[M2M_BIND_MAC_LEN];
	int r = M2M_ERR_INTERNAL;

	if (t == NULL || msg == NULL || msglen == 0 ||
	    msglen > M2M_BIND_MSG_MAX || msglen > t->maxbuf || out == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	pthread_mutex_lock(&t->lock);
	TPM_RUN_CALL(t, r, bind_op(t, msg, msglen, res));
	pthread_mutex_unlock(&t->lock);
	if (r == 0)
		memcpy(out, res, sizeof(res));
	return r;
}
