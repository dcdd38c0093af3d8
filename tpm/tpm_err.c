/* m2mtoken: TSS2_RC -> M2M_ERR_*, the TPM backend's border.  See tpm_int.h. */
#include <tss2/tss2_common.h>
#include <tss2/tss2_tpm2_types.h>

#include "err.h"
#include "tpm_int.h"

/* see tpm_int.h */
TSS2_RC
m2m_tpm_rc_base(TSS2_RC rc)
{
	TSS2_RC code = rc & 0xfff;

	/* format 1: drop the handle/session/parameter number and P bit */
	if (code & TPM2_RC_FMT1)
		return code & (TPM2_RC_FMT1 | 0x3f);
	return code;
}

/* A code from the TPM itself (directly or passed on by a resource manager). */
static int
from_tpm(TSS2_RC rc, enum tpm_rc_ctx ctx)
{
	switch (m2m_tpm_rc_base(rc)) {
	case TPM2_RC_AUTH_FAIL:
	case TPM2_RC_BAD_AUTH:
		return ctx == TPM_CTX_PIN ? M2M_ERR_PIN_INCORRECT :
		    M2M_ERR_BACKEND_AUTH;
	case TPM2_RC_LOCKOUT:
		return ctx == TPM_CTX_PIN ? M2M_ERR_PIN_LOCKED :
		    M2M_ERR_BACKEND_AUTH;
	case TPM2_RC_AUTH_MISSING:
	case TPM2_RC_AUTH_UNAVAILABLE:
	case TPM2_RC_POLICY_FAIL:
		return M2M_ERR_BACKEND_AUTH;
	case TPM2_RC_KEY_SIZE:
	case TPM2_RC_SYMMETRIC:
	case TPM2_RC_VALUE:
	case TPM2_RC_SIZE:
		/*
		 * Create with our fixed templates: the only variable is the
		 * key's size (e.g. AES-192, which libtpms 0.9 lacks, fails to
		 * unmarshal with TPM_RC_VALUE).
		 */
		return ctx == TPM_CTX_CREATE ? M2M_ERR_KEY_SIZE :
		    M2M_ERR_BACKEND;
	case TPM2_RC_HASH:
		return ctx == TPM_CTX_OP ? M2M_ERR_MECHANISM : M2M_ERR_BACKEND;
	default:
		/*
		 * INTEGRITY on Load (owner cleared / another TPM's blob),
		 * OBJECT_MEMORY, FAILURE, NV_*: the TPM refused or failed.
		 */
		return M2M_ERR_BACKEND;
	}
}

/* see tpm_int.h */
int
m2m_err_from_tss2(TSS2_RC rc, enum tpm_rc_ctx ctx)
{
	TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;
	TSS2_RC base = rc & ~TSS2_RC_LAYER_MASK;

	if (rc == TSS2_RC_SUCCESS)
		return M2M_ERR_INTERNAL;	/* not a failure: a bug */
	if (layer == TSS2_TPM_RC_LAYER || layer == TSS2_RESMGR_TPM_RC_LAYER)
		return from_tpm(rc, ctx);
	switch (base) {
	case TSS2_BASE_RC_MEMORY:
		return M2M_ERR_NO_MEMORY;
	case TSS2_BASE_RC_IO_ERROR:
	case TSS2_BASE_RC_NO_CONNECTION:
		return M2M_ERR_BACKEND_ABSENT;
	default:
		break;
	}
	/* opening: any TCTI failure means we never reached a TPM */
	if (ctx == TPM_CTX_OPEN && layer == TSS2_TCTI_RC_LAYER)
		return M2M_ERR_BACKEND_ABSENT;
	/* RSP_AUTH_FAILED (response HMAC wrong), malformed responses, ... */
	return M2M_ERR_BACKEND;
}

/* see tpm_int.h */
int
m2m_tpm_rc_retry(TSS2_RC rc)
{
	TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;

	if (layer != TSS2_TPM_RC_LAYER && layer != TSS2_RESMGR_TPM_RC_LAYER)
		return 0;
	switch (m2m_tpm_rc_base(rc)) {
	case TPM2_RC_RETRY:
	case TPM2_RC_YIELDED:
	case TPM2_RC_TESTING:
		return 1;
	default:
		return 0;
	}
}
