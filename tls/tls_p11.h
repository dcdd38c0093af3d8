/*
 * tls/: the PKCS#11 plumbing of libm2mtls (dlopen of the module, slots,
 * PSK key lookup), also used by the TLS test peer and the benchmark.
 * Public PKCS#11 API only: no header of token/, pkcs11/, hsm/ or tpm/.
 */
#ifndef M2M_TLS_P11_H
#define M2M_TLS_P11_H

#include <stddef.h>
#include <stdint.h>
#include <m2mtoken/pkcs11-m2m.h>

/*
 * Load the module at path (NULL: $M2MTOKEN_MODULE) and C_Initialize it,
 * once per process: later calls share it (reference counted; a different
 * path fails).  Returns the function list, or NULL with an error line
 * logged (tls_log.h).
 */
CK_FUNCTION_LIST_PTR m2m_p11_load(const char *path);

/* Drop one reference; the last one finalises and unloads. */
void	m2m_p11_unload(void);

/*
 * The slot whose initialised token is labelled label; with init != 0 and
 * no such token, initialise the first free token with that label, so_pin
 * and user pin.  Returns CKR_OK or the failing CK_RV (CKR_TOKEN_NOT_PRESENT
 * when none is found).
 */
CK_RV	m2m_p11_find_token(CK_FUNCTION_LIST_PTR f, const char *label, int init,
	    const char *so_pin, const char *pin, CK_SLOT_ID *ret_slot);

/*
 * The first secret key labelled label whose CKA_M2M_ROLE can key a TLS-PSK
 * handshake (KPM, KPSA, KM, KUC, KC).  CKR_OK, CKR_KEY_HANDLE_INVALID when
 * there is none, or the failing CK_RV.
 */
CK_RV	m2m_p11_find_psk(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
	    const uint8_t *label, size_t label_len, CK_OBJECT_HANDLE *ret);

/*
 * Whether h still is what m2m_p11_find_psk() would accept for label: a
 * secret key labelled exactly label (label_len bytes) whose CKA_M2M_ROLE
 * can key a TLS-PSK handshake.  One C_GetAttributeValue.  CKR_OK, or
 * CKR_KEY_HANDLE_INVALID (whatever the reason: gone, renamed, other class
 * or role, no access).
 */
CK_RV	m2m_p11_check_psk(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
	    CK_OBJECT_HANDLE h, const uint8_t *label, size_t label_len);

/* Whether role is one of the PSK-capable roles. */
int	m2m_p11_role_is_psk(CK_ULONG role);

/*
 * Import a PSK (value, len bytes; the caller wipes it) as a token object
 * with CKA_LABEL label, CKA_M2M_ROLE role and, unless NULL,
 * CKA_M2M_EXPIRES expires (m2m:timestamp).  Needs a R/W user session.
 */
CK_RV	m2m_p11_import_psk(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
	    const char *label, CK_ULONG role, const uint8_t *value, size_t len,
	    const char *expires);

/* The name of a CK_RV ("CKR_PIN_INCORRECT"), or "CKR_0x..." in buf. */
const char *m2m_p11_rv_name(CK_RV rv);

#endif /* M2M_TLS_P11_H */
