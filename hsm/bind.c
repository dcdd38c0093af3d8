/*
 * m2mtoken: the HSM backend's binding key.  See hsm.h (labels)
 * and hsm_int.h (contracts).
 *
 * "m2mtoken-bind" is a 32-byte generic secret token key generated inside
 * the backing HSM (CKA_LOCAL): sensitive, never extractable, CKA_SIGN and
 * CKA_VERIFY only.  The store's binding MACs (token/store.h) are
 * HMAC-SHA-256 under it, computed in the HSM.  It is never wrapped and
 * never in the store, so whoever can write the store, or create keys
 * through the module, can neither learn nor replace it.
 */
#include <string.h>
#include <time.h>

#include "backend.h"
#include "hsm_int.h"

#define CALL(fl, n, fn)	((*(n))++, (fl)->fn)
#define NATTR(a)	(sizeof(a) / sizeof((a)[0]))

static const CK_BBOOL		 b_true = CK_TRUE;
static const CK_BBOOL		 b_false = CK_FALSE;
static const CK_OBJECT_CLASS	 c_secret = CKO_SECRET_KEY;
static const CK_KEY_TYPE	 k_generic = CKK_GENERIC_SECRET;

#define A(t, p, l)	{ (t), (void *)(p), (l) }
#define AB(t, v)	A((t), (v) ? &b_true : &b_false, sizeof(CK_BBOOL))
#define LABEL_ATTR	A(CKA_LABEL, M2M_HSM_BIND_LABEL, \
			    sizeof(M2M_HSM_BIND_LABEL) - 1)

/*
 * The usable binding key with the smallest CKA_ID, or CK_INVALID_HANDLE.
 * A key under the label that is not a sensitive, never-extractable,
 * HSM-generated 32-byte signing key is ignored.
 */
static CK_RV
bindkey_find(CK_FUNCTION_LIST_PTR fl, CK_SESSION_HANDLE s,
    unsigned long *n, CK_OBJECT_HANDLE *ret)
{
	CK_ATTRIBUTE tmpl[] = {
		A(CKA_CLASS, &c_secret, sizeof(c_secret)),
		A(CKA_KEY_TYPE, &k_generic, sizeof(k_generic)),
		AB(CKA_TOKEN, 1),
		LABEL_ATTR,
	};
	CK_OBJECT_HANDLE found[M2M_HSM_BINDKEYS_MAX];
	uint8_t id[M2M_HSM_BIND_ID_LEN], best[M2M_HSM_BIND_ID_LEN];
	CK_BBOOL ext, sens, sign, local, never;
	CK_ULONG nf = 0, i, len;
	CK_ATTRIBUTE a[] = {
		A(CKA_EXTRACTABLE, &ext, sizeof(ext)),
		A(CKA_SENSITIVE, &sens, sizeof(sens)),
		A(CKA_SIGN, &sign, sizeof(sign)),
		A(CKA_LOCAL, &local, sizeof(local)),
		A(CKA_NEVER_EXTRACTABLE, &never, sizeof(never)),
		A(CKA_VALUE_LEN, &len, sizeof(len)),
		A(CKA_ID, id, sizeof(id)),
	};
	CK_RV rv;

	*ret = CK_INVALID_HANDLE;
	if ((rv = CALL(fl, n, C_FindObjectsInit)(s, tmpl, NATTR(tmpl))) !=
	    CKR_OK)
		return rv;
	rv = CALL(fl, n, C_FindObjects)(s, found, M2M_HSM_BINDKEYS_MAX, &nf);
	(void)CALL(fl, n, C_FindObjectsFinal)(s);
	if (rv != CKR_OK)
		return rv;
	for (i = 0; i < nf; i++) {
		ext = never = CK_TRUE;
		sens = sign = local = CK_FALSE;
		len = 0;
		a[6].ulValueLen = sizeof(id);
		rv = CALL(fl, n, C_GetAttributeValue)(s, found[i], a,
		    NATTR(a));
		if (rv == CKR_OBJECT_HANDLE_INVALID)
			continue;	/* a racing process destroyed it */
		if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL &&
		    rv != CKR_ATTRIBUTE_SENSITIVE &&
		    rv != CKR_ATTRIBUTE_TYPE_INVALID)
			return rv;
		if (rv != CKR_OK || ext != CK_FALSE || never != CK_TRUE ||
		    sens != CK_TRUE || sign != CK_TRUE || local != CK_TRUE ||
		    len != 32 || a[6].ulValueLen != sizeof(id))
			continue;	/* not ours: never used */
		if (*ret == CK_INVALID_HANDLE ||
		    memcmp(id, best, sizeof(id)) < 0) {
			memcpy(best, id, sizeof(id));
			*ret = found[i];
		}
	}
	return CKR_OK;
}

/* A new binding key; CKA_ID = creation time (ns) || 8 random bytes. */
static CK_RV
bindkey_generate(CK_FUNCTION_LIST_PTR fl, CK_SESSION_HANDLE s,
    unsigned long *n, CK_OBJECT_HANDLE *ret)
{
	CK_MECHANISM mech = { CKM_GENERIC_SECRET_KEY_GEN, NULL, 0 };
	CK_ULONG keylen = 32;
	uint8_t id[M2M_HSM_BIND_ID_LEN];
	CK_ATTRIBUTE tmpl[] = {
		A(CKA_CLASS, &c_secret, sizeof(c_secret)),
		A(CKA_KEY_TYPE, &k_generic, sizeof(k_generic)),
		A(CKA_VALUE_LEN, &keylen, sizeof(keylen)),
		LABEL_ATTR,
		A(CKA_ID, id, sizeof(id)),
		AB(CKA_TOKEN, 1),
		AB(CKA_PRIVATE, 1),
		AB(CKA_SENSITIVE, 1),
		AB(CKA_EXTRACTABLE, 0),
		AB(CKA_SIGN, 1),
		AB(CKA_VERIFY, 1),
		AB(CKA_ENCRYPT, 0),
		AB(CKA_DECRYPT, 0),
		AB(CKA_WRAP, 0),
		AB(CKA_UNWRAP, 0),
		AB(CKA_DERIVE, 0),
	};
	struct timespec ts;
	uint64_t ns;
	CK_RV rv;
	int i;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		memset(&ts, 0, sizeof(ts));
	ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	for (i = 0; i < 8; i++)
		id[i] = (uint8_t)(ns >> (56 - 8 * i));
	if ((rv = CALL(fl, n, C_GenerateRandom)(s, id + 8,
	    sizeof(id) - 8)) != CKR_OK)
		return rv;
	return CALL(fl, n, C_GenerateKey)(s, &mech, tmpl, NATTR(tmpl), ret);
}

static CK_RV
bindkey_setup_once(CK_FUNCTION_LIST_PTR fl, CK_SESSION_HANDLE s,
    unsigned long *n, CK_OBJECT_HANDLE *ret)
{
	CK_OBJECT_HANDLE mine = CK_INVALID_HANDLE, k = CK_INVALID_HANDLE;
	CK_RV rv;

	if ((rv = bindkey_find(fl, s, n, &k)) != CKR_OK)
		return rv;
	if (k == CK_INVALID_HANDLE) {
		if ((rv = bindkey_generate(fl, s, n, &mine)) != CKR_OK)
			return rv;
		/* another process may have made one meanwhile */
		if ((rv = bindkey_find(fl, s, n, &k)) != CKR_OK)
			return rv;
		if (k == CK_INVALID_HANDLE)
			return CKR_GENERAL_ERROR;	/* retried */
		if (k != mine)
			(void)CALL(fl, n, C_DestroyObject)(s, mine);
	}
	*ret = k;
	return CKR_OK;
}

/*
 * The working copy of token key k: a session object of session s with k's
 * attributes (private, sensitive, never extractable, sign/verify only).
 * SoftHSM2 checks a token object's file at every use, so a MAC with the
 * copy costs well under half of one with k (bench/README.md, "The binding
 * key's working copy").  It dies with the session.  k itself when the HSM does not copy it.
 */
static CK_OBJECT_HANDLE
bindkey_copy(CK_FUNCTION_LIST_PTR fl, CK_SESSION_HANDLE s, unsigned long *n,
    CK_OBJECT_HANDLE k)
{
	CK_ATTRIBUTE ct[] = {
		AB(CKA_TOKEN, 0),
		A(CKA_LABEL, M2M_HSM_BIND_COPY_LABEL,
		    sizeof(M2M_HSM_BIND_COPY_LABEL) - 1),
	};
	CK_OBJECT_HANDLE c = CK_INVALID_HANDLE;

	if (CALL(fl, n, C_CopyObject)(s, k, ct, NATTR(ct), &c) == CKR_OK)
		return c;
	return k;
}

/*
 * SoftHSM2 answers CKR_GENERAL_ERROR, or CKR_TEMPLATE_INCONSISTENT to
 * C_GenerateKey with this constant template, or does not find a key just
 * made, while another thread or process writes the same fresh token
 * (test_two_opens_race): tried again.
 */
static int
retryable(CK_RV rv)
{
	return rv == CKR_GENERAL_ERROR || rv == CKR_FUNCTION_FAILED ||
	    rv == CKR_TEMPLATE_INCONSISTENT || rv == CKR_DEVICE_ERROR;
}

/* see hsm_int.h */
CK_RV
m2m_hsm_bindkey_setup(CK_FUNCTION_LIST_PTR fl, CK_SESSION_HANDLE s,
    unsigned long *commands, CK_OBJECT_HANDLE *ret)
{
	CK_OBJECT_HANDLE k = CK_INVALID_HANDLE;
	struct timespec ts;
	int attempt;
	CK_RV rv;

	for (attempt = 1;; attempt++) {
		rv = bindkey_setup_once(fl, s, commands, &k);
		if (rv == CKR_OK) {
			*ret = bindkey_copy(fl, s, commands, k);
			return CKR_OK;
		}
		if (!retryable(rv) || attempt == M2M_HSM_WRAPKEY_TRIES)
			return rv;
		ts.tv_sec = 0;
		ts.tv_nsec = 10000000L * attempt;	/* 10, 20, ... ms */
		(void)nanosleep(&ts, NULL);
	}
}

/* see hsm_int.h */
CK_RV
m2m_hsm_bind_mac(CK_FUNCTION_LIST_PTR fl, CK_SESSION_HANDLE s,
    unsigned long *commands, CK_OBJECT_HANDLE key, const uint8_t *msg,
    size_t msglen, uint8_t *out)
{
	CK_MECHANISM mech = { CKM_SHA256_HMAC, NULL, 0 };
	uint8_t mac[M2M_HASH_MAX_LEN];
	CK_ULONG maclen = sizeof(mac);
	CK_RV rv;

	if (key == CK_INVALID_HANDLE)
		return CKR_KEY_HANDLE_INVALID;
	if ((rv = CALL(fl, commands, C_SignInit)(s, &mech, key)) != CKR_OK)
		return rv;
	/* a buffer for any hash, so the operation always completes */
	if ((rv = CALL(fl, commands, C_Sign)(s, (CK_BYTE_PTR)msg, msglen,
	    mac, &maclen)) != CKR_OK)
		return rv;
	if (maclen != M2M_BIND_MAC_LEN)
		return CKR_GENERAL_ERROR;
	memcpy(out, mac, M2M_BIND_MAC_LEN);
	return CKR_OK;
}
