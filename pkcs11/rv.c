/*
 * m2mtoken: the one map from M2M_ERR_* to CK_RV, and the rows where a
 * call's context means another CK_RV.  See p11.h.
 */
#include "err.h"
#include "p11.h"

/* see p11.h */
CK_RV
p11_rv(int r)
{
	switch (r) {
	case M2M_OK:				return CKR_OK;
	case M2M_ERR_INVALID_ARGUMENT:		return CKR_ARGUMENTS_BAD;
	case M2M_ERR_NO_MEMORY:			return CKR_HOST_MEMORY;
	case M2M_ERR_NOT_FOUND:			return CKR_OBJECT_HANDLE_INVALID;
	case M2M_ERR_KEY_FUNCTION:
	case M2M_ERR_KEY_EXPIRED:		return CKR_KEY_FUNCTION_NOT_PERMITTED;
	case M2M_ERR_TEMPLATE_INCONSISTENT:	return CKR_TEMPLATE_INCONSISTENT;
	case M2M_ERR_TEMPLATE_INCOMPLETE:	return CKR_TEMPLATE_INCOMPLETE;
	case M2M_ERR_ATTRIBUTE_TYPE:		return CKR_ATTRIBUTE_TYPE_INVALID;
	case M2M_ERR_ATTRIBUTE_VALUE:		return CKR_ATTRIBUTE_VALUE_INVALID;
	case M2M_ERR_ATTRIBUTE_READ_ONLY:	return CKR_ATTRIBUTE_READ_ONLY;
	case M2M_ERR_ATTRIBUTE_SENSITIVE:	return CKR_ATTRIBUTE_SENSITIVE;
	case M2M_ERR_MECHANISM:			return CKR_MECHANISM_INVALID;
	case M2M_ERR_MECHANISM_PARAM:		return CKR_MECHANISM_PARAM_INVALID;
	case M2M_ERR_KEY_TYPE:			return CKR_KEY_TYPE_INCONSISTENT;
	case M2M_ERR_KEY_SIZE:			return CKR_KEY_SIZE_RANGE;
	case M2M_ERR_DATA_LEN:			return CKR_DATA_LEN_RANGE;
	case M2M_ERR_DATA_INVALID:		return CKR_DATA_INVALID;
	case M2M_ERR_SIGNATURE_INVALID:		return CKR_SIGNATURE_INVALID;
	case M2M_ERR_ENCRYPTED_DATA_INVALID:	return CKR_ENCRYPTED_DATA_INVALID;
	case M2M_ERR_BUFFER_TOO_SMALL:		return CKR_BUFFER_TOO_SMALL;
	case M2M_ERR_PIN_INCORRECT:		return CKR_PIN_INCORRECT;
	case M2M_ERR_PIN_LOCKED:		return CKR_PIN_LOCKED;
	case M2M_ERR_PIN_LEN:			return CKR_PIN_LEN_RANGE;
	case M2M_ERR_STORE_READONLY:		return CKR_TOKEN_WRITE_PROTECTED;
	case M2M_ERR_BACKEND_ABSENT:		return CKR_TOKEN_NOT_PRESENT;
	case M2M_ERR_BACKEND_AUTH:		return CKR_USER_NOT_LOGGED_IN;
	case M2M_ERR_UNSUPPORTED:		return CKR_FUNCTION_NOT_SUPPORTED;
	case M2M_ERR_CURVE:			return CKR_CURVE_NOT_SUPPORTED;
	case M2M_ERR_TOKEN_FULL:		return CKR_DEVICE_MEMORY;
	case M2M_ERR_EXISTS:
	case M2M_ERR_CONFIG:
	case M2M_ERR_INTERNAL:			return CKR_GENERAL_ERROR;
	case M2M_ERR_STORE:
	case M2M_ERR_STORE_CORRUPT:
	case M2M_ERR_BACKEND:
	case M2M_ERR_BUSY:
	case M2M_ERR_RANDOM:			return CKR_DEVICE_ERROR;
	default:				return CKR_GENERAL_ERROR;
	}
}

/* The rows of a context: err M2M_ERR_ANY stands for every other error. */
#define M2M_ERR_ANY	1
static const struct {
	enum p11_rv_ctx	 ctx;
	int		 err;
	CK_RV		 rv;
} ctx_rows[] = {
	{ P11_RV_KEY,		M2M_ERR_NOT_FOUND,	CKR_KEY_HANDLE_INVALID },
	{ P11_RV_PIN,		M2M_ERR_NOT_FOUND,
	  CKR_USER_PIN_NOT_INITIALIZED },
	{ P11_RV_COPY,		M2M_ERR_KEY_FUNCTION,	CKR_ACTION_PROHIBITED },
	{ P11_RV_MECH_PARAM,	M2M_ERR_NO_MEMORY,	CKR_HOST_MEMORY },
	{ P11_RV_MECH_PARAM,	M2M_ERR_ANY,	CKR_MECHANISM_PARAM_INVALID },
	{ P11_RV_OPEN,		M2M_ERR_NO_MEMORY,	CKR_HOST_MEMORY },
	{ P11_RV_OPEN,		M2M_ERR_ANY,		CKR_GENERAL_ERROR },
	{ P11_RV_WRAP_KEY,	M2M_ERR_ANY,		CKR_KEY_HANDLE_INVALID },
};

/* see p11.h */
CK_RV
p11_rv_in(enum p11_rv_ctx ctx, int r)
{
	size_t i;

	if (r == M2M_OK)
		return CKR_OK;
	for (i = 0; i < sizeof(ctx_rows) / sizeof(ctx_rows[0]); i++)
		if (ctx_rows[i].ctx == ctx && (ctx_rows[i].err == r ||
		    ctx_rows[i].err == M2M_ERR_ANY))
			return ctx_rows[i].rv;
	return p11_rv(r);
}
