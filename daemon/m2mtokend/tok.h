/*
 * m2mtokend: the daemon's token, reached only through the PKCS#11 API of
 * libm2mtoken (dlopen of [token] module, C_GetFunctionList).  One R/W
 * session, logged in as the user for the daemon's lifetime.  The daemon
 * never reads a key value: the only key bytes that pass through here are
 * values being imported (Ke from the TLS export, a credential from the
 * MEF), which the caller wipes.
 *
 * Results are CK_RV of the module, except mtd_tok_find()'s ambiguity.
 */
#ifndef M2MTOKEND_TOK_H
#define M2MTOKEND_TOK_H

#include <stddef.h>
#include <stdint.h>

#include <m2mtoken/pkcs11-m2m.h>

#define MTD_LABEL_MAX		255	/* bytes of a key identifier */
#define MTD_ROLE_ANY		((CK_ULONG)-1)

struct mtd_tok;

/* A key as ListKeys shows it: identifiers only, never a value. */
struct mtd_keyinfo {
	char		label[MTD_LABEL_MAX + 1];
	char		peer[MTD_LABEL_MAX + 1];	/* "" if none */
	char		enrolee[MTD_LABEL_MAX + 1];	/* "" if none */
	char		expires[32];			/* "" if none */
	CK_ULONG	role;
};

/*
 * Loads the module for local use: module_conf, if not NULL, becomes
 * $M2MTOKEN_CONF of this process first, and $M2MTOKEN_DAEMON_SOCKET is
 * removed (the daemon is never a client of itself).  *ret_dl (dlclose
 * it) on success; else a CK_RV and a line in err.
 */
CK_RV mtd_tok_dlopen(const char *module, const char *module_conf,
    void **ret_dl, char *err, size_t errlen);

/*
 * Loads the module (mtd_tok_dlopen(); module_conf, if not NULL, becomes $M2MTOKEN_CONF of
 * this process first), finds the initialised token labelled label, opens
 * one R/W session and logs in with the PIN (not kept).  *ret_tok on
 * success.  On failure a CK_RV, and a line saying which step failed in
 * err (never the PIN).
 */
CK_RV mtd_tok_open(const char *module, const char *module_conf,
    const char *label, const char *pin, size_t pin_len,
    struct mtd_tok **ret_tok, char *err, size_t errlen);

/* Logs out, closes the session, finalises and unloads; NULL is fine. */
void mtd_tok_close(struct mtd_tok *tok);

/* The token's info; CKR_TOKEN_NOT_PRESENT when tok is NULL. */
CK_RV mtd_tok_info(struct mtd_tok *tok, CK_TOKEN_INFO *ret);

/* A static name of a role ("kpsa", "e2e-msg-auth"...), NULL if none. */
const char *mtd_role_name(CK_ULONG role);
/* The role named name; -1 if none. */
int mtd_role_from_name(const char *name, CK_ULONG *ret_role);

/*
 * The one secret key with CKA_LABEL label, role role (MTD_ROLE_ANY: any)
 * and CKA_M2M_PEER_ID peer (NULL: any).  CKR_OK and *ret_h;
 * CKR_KEY_HANDLE_INVALID if none; CKR_OK with *ret_ambiguous = 1 if
 * several match (then *ret_h is unset).  Found keys are remembered by
 * that name (up to 64; each hit re-checked against the object's label and
 * role; emptied whenever this daemon creates or destroys a key).
 */
CK_RV mtd_tok_find(struct mtd_tok *tok, const char *label, CK_ULONG role,
    const char *peer, CK_OBJECT_HANDLE *ret_h, int *ret_ambiguous);

/*
 * Calls fn for each secret key with a role, in no particular order;
 * stops at max keys.  The module's own access rules apply.
 */
CK_RV mtd_tok_list(struct mtd_tok *tok, size_t max,
    void (*fn)(const struct mtd_keyinfo *, void *), void *arg);

/* The identifiers of h into *ret. */
CK_RV mtd_tok_keyinfo(struct mtd_tok *tok, CK_OBJECT_HANDLE h,
    struct mtd_keyinfo *ret);

/*
 * C_DeriveKey(mech, param) from base into a token object (CKA_TOKEN=TRUE,
 * and CKA_LABEL label when not NULL; else the module's identifier rules).
 */
CK_RV mtd_tok_derive(struct mtd_tok *tok, CK_OBJECT_HANDLE base,
    CK_MECHANISM_TYPE mech, void *param, CK_ULONG param_len,
    const char *label, CK_OBJECT_HANDLE *ret_h);

/*
 * Imports value (secret, caller wipes) as a token key of role, CKA_LABEL
 * label, with CKA_M2M_ENROLEE_ID / CKA_M2M_EXPIRES when not NULL.
 * Sensitive and non-extractable by the module's policy.
 */
CK_RV mtd_tok_import(struct mtd_tok *tok, CK_ULONG role, const char *label,
    const uint8_t *value, size_t len, const char *enrolee,
    const char *expires, CK_OBJECT_HANDLE *ret_h);

/* Destroys h (a key this daemon just made, on a later failure). */
CK_RV mtd_tok_destroy(struct mtd_tok *tok, CK_OBJECT_HANDLE h);

/* HMAC (CKM_SHA256_HMAC or CKM_SHA512_HMAC) sign / verify with h. */
CK_RV mtd_tok_mac(struct mtd_tok *tok, CK_OBJECT_HANDLE h,
    CK_MECHANISM_TYPE mech, const uint8_t *data, size_t len, uint8_t *mac,
    size_t *mac_len);
CK_RV mtd_tok_mac_verify(struct mtd_tok *tok, CK_OBJECT_HANDLE h,
    CK_MECHANISM_TYPE mech, const uint8_t *data, size_t len,
    const uint8_t *mac, size_t mac_len);

/*
 * AES-GCM (12-byte IV, 128-bit tag) with h.  seal: out needs len + 16
 * bytes; open: out needs len - 16 bytes; *ret_len is written.
 */
CK_RV mtd_tok_seal(struct mtd_tok *tok, CK_OBJECT_HANDLE h,
    const uint8_t iv[12], const uint8_t *aad, size_t aad_len,
    const uint8_t *in, size_t len, uint8_t *out, size_t *ret_len);
CK_RV mtd_tok_open_sealed(struct mtd_tok *tok, CK_OBJECT_HANDLE h,
    const uint8_t iv[12], const uint8_t *aad, size_t aad_len,
    const uint8_t *in, size_t len, uint8_t *out, size_t *ret_len);

/* CKA_VALUE_LEN of h (not secret), 0 if unknown. */
CK_ULONG mtd_tok_value_len(struct mtd_tok *tok, CK_OBJECT_HANDLE h);

/* len random bytes from the token. */
CK_RV mtd_tok_random(struct mtd_tok *tok, uint8_t *out, size_t len);

/*
 * An EC key pair (CKM_EC_KEY_PAIR_GEN on the curve of the DER
 * params) labelled label with CKA_ID id: the private key sensitive, never
 * extractable, signing only.  CKR_ATTRIBUTE_VALUE_INVALID and
 * *ret_exists 1 when an EC private key with that label exists already
 * (nothing made); any other failure, of the search included, is its own
 * CK_RV with *ret_exists 0.
 */
CK_RV mtd_tok_ec_keygen(struct mtd_tok *tok, const char *label,
    const uint8_t *id, size_t id_len, const uint8_t *params,
    size_t params_len, int *ret_exists);
/*
 * The public half of the EC key pair labelled label: CKA_EC_PARAMS,
 * CKA_EC_POINT and CKA_ID into the buffers (each *len in: its size; out:
 * the length).  CKR_KEY_HANDLE_INVALID if none, CKR_GENERAL_ERROR if
 * several.
 */
CK_RV mtd_tok_ec_public(struct mtd_tok *tok, const char *label,
    uint8_t *params, size_t *params_len, uint8_t *point, size_t *point_len,
    uint8_t *id, size_t *id_len);
/* C_Sign(mech) of data with the EC private key labelled label. */
CK_RV mtd_tok_ec_sign(struct mtd_tok *tok, const char *label,
    CK_MECHANISM_TYPE mech, const uint8_t *data, size_t len, uint8_t *sig,
    size_t *sig_len);
/*
 * A public X.509 certificate object (CKO_CERTIFICATE, CKC_X_509) labelled
 * label with CKA_ID id and the given DER fields.  The caller checked that
 * its key is the token key's.  *ret_exists is 1 (and the result
 * CKR_ATTRIBUTE_VALUE_INVALID) when a certificate with that label exists,
 * else 0: the module's own CKR_ATTRIBUTE_VALUE_INVALID (a value over
 * CK_M2M_ATTR_MAX_LEN bytes) is not that.  Nothing stored unless CKR_OK.
 */
CK_RV mtd_tok_cert_import(struct mtd_tok *tok, const char *label,
    const uint8_t *id, size_t id_len, const uint8_t *der, size_t der_len,
    const uint8_t *subject, size_t subject_len, const uint8_t *issuer,
    size_t issuer_len, const uint8_t *serial, size_t serial_len,
    int *ret_exists);
/* A static name of rv ("CKR_PIN_INCORRECT"), or "CKR_0x..." */
const char *mtd_rv_name(CK_RV rv);

#endif /* M2MTOKEND_TOK_H */
