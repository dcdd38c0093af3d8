/*
 * m2mtoken: the TPM backend's binding key.  See tpm_int.h.
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
#include <string.h>

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
