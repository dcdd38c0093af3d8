/*
 * m2m-mef: the MEF's token, reached only through the PKCS#11 API of the
 * module (dlopen, C_GetFunctionList).  One R/W session, logged in as the
 * user; single-threaded use.
 *
 * Every function returns 0 or a negative MEF_ERR_*; a failing PKCS#11 call
 * is logged once (its name and CK_RV, never a value).  No key byte passes
 * through here except the value given to mef_tok_import() (the caller's,
 * which it wipes) and the delivered credential of mef_tok_derive_read().
 */
#ifndef M2M_MEF_P11_H
#define M2M_MEF_P11_H

#include <stddef.h>
#include <stdint.h>

#include <m2mtoken/pkcs11-m2m.h>

#include "mef.h"

struct mef_tok;

/*
 * Load the module at path, C_Initialize it (an already initialised module
 * is shared), find the initialised token labelled token_label, open a R/W
 * session and log in with pin[0..pin_len) (the caller owns and wipes it).
 * MEF_ERR_TOKEN on any failure, with a line saying which step.
 */
int	mef_tok_open(const char *path, const char *token_label,
	    const char *pin, size_t pin_len, struct mef_tok **ret);

/* Close the session, finalise the module if we initialised it; NULL ok. */
void	mef_tok_close(struct mef_tok *t);

/*
 * Import value[0..len) as a token secret key: CKA_LABEL = CKA_ID = label,
 * CKA_M2M_ROLE = role, sensitive and non-extractable, with
 * CKA_M2M_ENROLEE_ID and CKA_M2M_EXPIRES when not NULL.  The module keeps
 * the value only wrapped in its backend; the caller wipes its copy.
 */
int	mef_tok_import(struct mef_tok *t, const char *label,
	    unsigned long role, const uint8_t *value, size_t len,
	    const char *enrolee_id, const char *expires);

/*
 * Destroy every secret key labelled label with CKA_M2M_ROLE role.  The
 * number destroyed (0 when none) or a negative MEF_ERR_*.
 */
int	mef_tok_destroy(struct mef_tok *t, const char *label,
	    unsigned long role);

/* 1 when a secret key labelled label with role role exists, 0, or < 0. */
int	mef_tok_exists(struct mef_tok *t, const char *label,
	    unsigned long role);

/*
 * Call cb with the label of every secret key of role role (labels longer
 * than MEF_KEID_MAX are skipped).  A non-zero cb return stops the walk and
 * is returned.  The walk collects labels first (at most 100000 per call),
 * so cb may destroy keys.
 */
int	mef_tok_list(struct mef_tok *t, unsigned long role,
	    int (*cb)(const char *label, void *arg), void *arg);

/*
 * Derive the credential for target from the Ke labelled ke_id: Kpsa
 * (CKM_M2M_KPSA_DERIVE) when suid is 0, else Kuc for that SUID
 * (CKM_M2M_KUC_DERIVE), as a role-less, non-sensitive, extractable session
 * key (the module's deliver_derived rule), read its 32 bytes into out,
 * and destroy the object.  out is secret: the caller wipes it.
 * MEF_ERR_NOTFOUND when there is no such Ke; MEF_ERR_TOKEN otherwise.
 */
int	mef_tok_derive_read(struct mef_tok *t, const char *ke_id,
	    const char *target, unsigned int suid, uint8_t out[MEF_KEY_LEN]);

/* The name of the CK_RV of the last failed call ("CKR_..."), for logs. */
const char *mef_tok_last_error(const struct mef_tok *t);

#endif /* M2M_MEF_P11_H */
