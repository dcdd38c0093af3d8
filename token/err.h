/*
 * One internal error space: every m2mtoken function returns 0 or a negative
 * M2M_ERR_* value.  Foreign codes (CK_RV of an HSM, TSS2_RC, SQLite) are
 * mapped once at their border; pkcs11/ maps these to CK_RV in one table.
 */
#ifndef M2M_ERR_H
#define M2M_ERR_H

enum m2m_err {
	M2M_OK = 0,
	M2M_ERR_INTERNAL = -1,		/* a bug or impossible state */
	M2M_ERR_INVALID_ARGUMENT = -2,	/* bad pointer/length from a caller */
	M2M_ERR_NO_MEMORY = -3,
	M2M_ERR_NOT_FOUND = -4,		/* no such object/token/row */
	M2M_ERR_EXISTS = -5,		/* unique constraint */
	M2M_ERR_KEY_FUNCTION = -6,	/* role/flags do not allow this use */
	M2M_ERR_KEY_EXPIRED = -7,	/* CKA_M2M_EXPIRES is in the past */
	M2M_ERR_TEMPLATE_INCONSISTENT = -8,
	M2M_ERR_TEMPLATE_INCOMPLETE = -9,
	M2M_ERR_ATTRIBUTE_TYPE = -10,	/* unknown attribute type */
	M2M_ERR_ATTRIBUTE_VALUE = -11,	/* bad attribute value/length */
	M2M_ERR_ATTRIBUTE_READ_ONLY = -12,
	M2M_ERR_ATTRIBUTE_SENSITIVE = -13,
	M2M_ERR_MECHANISM = -14,	/* unknown/unsupported mechanism */
	M2M_ERR_MECHANISM_PARAM = -15,	/* bad mechanism parameter */
	M2M_ERR_KEY_TYPE = -16,		/* key type does not fit mechanism */
	M2M_ERR_KEY_SIZE = -17,
	M2M_ERR_DATA_LEN = -18,
	M2M_ERR_DATA_INVALID = -19,
	M2M_ERR_SIGNATURE_INVALID = -20,
	M2M_ERR_ENCRYPTED_DATA_INVALID = -21, /* AEAD tag mismatch */
	M2M_ERR_BUFFER_TOO_SMALL = -22,
	M2M_ERR_PIN_INCORRECT = -23,
	M2M_ERR_PIN_LOCKED = -24,
	M2M_ERR_PIN_LEN = -25,
	M2M_ERR_CONFIG = -26,		/* missing or wrong configuration */
	M2M_ERR_STORE = -27,		/* store I/O or SQL failure */
	M2M_ERR_STORE_READONLY = -28,
	M2M_ERR_STORE_CORRUPT = -29,	/* not a store / wrong schema / bad row */
	M2M_ERR_BACKEND = -30,		/* TPM/HSM refused or failed */
	M2M_ERR_BACKEND_ABSENT = -31,	/* module/token/TPM not reachable */
	M2M_ERR_BACKEND_AUTH = -32,	/* backend refused authorisation */
	M2M_ERR_BUSY = -33,		/* store or TPM lock held past its wait */
	M2M_ERR_UNSUPPORTED = -34,	/* a valid request we do not implement */
	M2M_ERR_RANDOM = -35,		/* RNG failure */
	M2M_ERR_CURVE = -36,		/* an elliptic curve not supported */
	M2M_ERR_TOKEN_FULL = -37,	/* [token] max_objects or max_bytes */
	M2M_ERR_LAST = -38
};

/* A static, secret-free English description of r; never NULL. */
const char *m2m_strerror(int r);

#include <stddef.h>

/*
 * The one way to fill a caller's error buffer (the errbuf, errlen pair
 * of the open functions): printf into buf[0..len), cut to fit; buf NULL
 * or len 0: nothing.  Never pass secret bytes.
 */
void	m2m_errbuf_set(char *buf, size_t len, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

#endif /* M2M_ERR_H */
