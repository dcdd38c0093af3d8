/*
 * m2mtoken: creating TPM keys: TPM2_Create under the storage primary
 * through the salted session (the key bytes travel encrypted), and the
 * blob of a new key: its operational object and its sealed copy (the top
 * of tpm.c says what the copy is for).  Contracts in tpm_int.h; blob
 * format there too.
 */
#include <string.h>

#include <tss2/tss2_esys.h>

#include "err.h"
#include "secret.h"
#include "tpm_int.h"

/*
 * TPM2_Create under the primary, through the session: inSensitive (the key
 * bytes) encrypted; outPrivate is sealed to the primary anyway.
 */
static int
create_obj(struct tpm *t, const TPM2B_PUBLIC *tmpl,
    const TPM2B_SENSITIVE_CREATE *s, struct tpm_obj *ret)
{
	TSS2_SYS_CONTEXT *sys;
	struct tpm_auth pa;
	TPM2B_DATA outside;
	TPML_PCR_SELECTION pcrs;
	TPM2B_CREATION_DATA cdata;
	TPM2B_DIGEST chash;
	TPMT_TK_CREATION ticket;
	unsigned tries = 0;
	TSS2_RC rc;
	int r;

	memset(&pa, 0, sizeof(pa));
	memset(&outside, 0, sizeof(outside));
	memset(&pcrs, 0, sizeof(pcrs));
	memset(&cdata, 0, sizeof(cdata));
	memset(&ticket, 0, sizeof(ticket));
	memset(&chash, 0, sizeof(chash));
	if ((r = m2m_tpm_need_primary(t)) != 0)
		return r;
	if ((rc = Esys_TR_GetTpmHandle(t->esys, t->primary, &pa.handle)) !=
	    TSS2_RC_SUCCESS)
		return m2m_tpm_fail(t, "primary's handle", rc, TPM_CTX_OP);
	pa.name = t->primary_name;	/* empty authValue */
	do {
		if ((r = m2m_tpm_cmd_prep(t, &sys)) != 0)
			return r;
		rc = Tss2_Sys_Create_Prepare(sys, pa.handle, s, tmpl,
		    &outside, &pcrs);
	} while ((r = m2m_tpm_cmd_run(t, "Create", rc, TPM2_CC_Create, &pa,
	    TPM_SESS_IN, TPM_CTX_CREATE, &tries)) == TPM_AGAIN);
	if (r != 0)
		return r;
	rc = Tss2_Sys_Create_Complete(sys, &ret->priv, &ret->pub, &cdata,
	    &chash, &ticket);
	m2m_tpm_sess_clean(t->fs);
	if (rc != TSS2_RC_SUCCESS)
		return m2m_tpm_fail(t, "Create (response)", rc, TPM_CTX_CREATE);
	return 0;
}

/* see tpm_int.h */
int
m2m_tpm_wrap_locked(struct tpm *t, int kind, const uint8_t *key,
    size_t len, const TPM2B_AUTH *a, uint8_t **ret_blob, size_t *ret_len)
{
	TPM2B_SENSITIVE_CREATE s;
	TPM2B_PUBLIC tmpl;
	struct tpm_blob b;
	int r = M2M_ERR_INTERNAL;

	memset(&s, 0, sizeof(s));
	memset(&b, 0, sizeof(b));
	s.sensitive.userAuth = *a;
	s.sensitive.data.size = (UINT16)len;
	memcpy(s.sensitive.data.buffer, key, len);
	b.kind = kind;
	switch (kind) {
	case M2M_KIND_HMAC:
		m2m_tpm_tmpl_hmac(len, &tmpl);
		break;
	case M2M_KIND_AES:
		m2m_tpm_tmpl_aes((unsigned)len * 8, &tmpl);
		break;
	default:
		m2m_tpm_tmpl_sealed(1, &tmpl);	/* TPM_KIND_PIN */
		break;
	}
	if ((r = create_obj(t, &tmpl, &s, &b.obj)) != 0)
		goto out;
	if (kind != TPM_KIND_PIN) {
		m2m_tpm_tmpl_sealed(0, &tmpl);
		if ((r = create_obj(t, &tmpl, &s, &b.sealed)) != 0)
			goto out;
		b.flags |= TPM_BLOB_F_SEALED;
	}
	r = m2m_tpm_blob_build(&b, ret_blob, ret_len);
 out:
	m2m_wipe(&s, sizeof(s));
	return r;
}
