/*
 * daemon/common: the one error table (see errors.h).  Every row is listed
 * in docs/protocol.md; test_ipc_errors checks that each name is there.
 */
#include <stddef.h>

#include "errors.h"

#define IPC(c, name)	{ M2M_IPC_ERRK_IPC, (unsigned long)(c), #c, name }
#define CKR(c, name)	{ M2M_IPC_ERRK_CKR, (unsigned long)(c), #c, name }

#define E_INVALID_FRAME		"io.m2mtoken.InvalidFrame"
#define E_FRAME_TOO_LARGE	"io.m2mtoken.FrameTooLarge"
#define E_METHOD_NOT_FOUND	"io.m2mtoken.MethodNotFound"
#define E_INVALID_PARAMETER	"io.m2mtoken.InvalidParameter"
#define E_PERMISSION_DENIED	"io.m2mtoken.PermissionDenied"
#define E_OUT_OF_MEMORY		"io.m2mtoken.OutOfMemory"
#define E_VERIFICATION_FAILED	"io.m2mtoken.VerificationFailed"
#define E_INTERNAL		M2M_IPC_ERROR_INTERNAL

static const struct m2m_ipc_errdef errtab[] = {
	/* the IPC layer and the daemon's dispatch */
	IPC(M2M_IPC_ERR_INTERNAL,		E_INTERNAL),
	IPC(M2M_IPC_ERR_NO_MEMORY,		E_OUT_OF_MEMORY),
	IPC(M2M_IPC_ERR_FRAME_TOO_LARGE,	E_FRAME_TOO_LARGE),
	IPC(M2M_IPC_ERR_TRUNCATED,		E_INVALID_FRAME),
	IPC(M2M_IPC_ERR_INVALID_JSON,		E_INVALID_FRAME),
	IPC(M2M_IPC_ERR_INVALID_UTF8,		E_INVALID_FRAME),
	IPC(M2M_IPC_ERR_NUL_ESCAPE,		E_INVALID_FRAME),
	IPC(M2M_IPC_ERR_TOO_DEEP,		E_INVALID_FRAME),
	IPC(M2M_IPC_ERR_NOT_OBJECT,		E_INVALID_FRAME),
	IPC(M2M_IPC_ERR_NO_METHOD,		E_INVALID_FRAME),
	IPC(M2M_IPC_ERR_METHOD_TYPE,		E_INVALID_FRAME),
	IPC(M2M_IPC_ERR_METHOD_NAME,		E_INVALID_FRAME),
	IPC(M2M_IPC_ERR_UNKNOWN_MEMBER,		E_INVALID_FRAME),
	IPC(M2M_IPC_ERR_DUPLICATE_MEMBER,	E_INVALID_FRAME),
	IPC(M2M_IPC_ERR_PARAMETERS_TYPE,	E_INVALID_FRAME),
	IPC(M2M_IPC_ERR_ERROR_NAME,		E_INVALID_FRAME),
	IPC(M2M_IPC_ERR_METHOD_NOT_FOUND,	E_METHOD_NOT_FOUND),
	IPC(M2M_IPC_ERR_INVALID_PARAMETER,	E_INVALID_PARAMETER),
	IPC(M2M_IPC_ERR_PERMISSION_DENIED,	E_PERMISSION_DENIED),
	IPC(M2M_IPC_ERR_NO_PEER,		E_PERMISSION_DENIED),
	IPC(M2M_IPC_ERR_NOT_CONFIGURED,		"io.m2mtoken.NotConfigured"),
	IPC(M2M_IPC_ERR_MEF_UNREACHABLE,	"io.m2mtoken.MefUnreachable"),
	IPC(M2M_IPC_ERR_MEF_REFUSED,		"io.m2mtoken.MefRefused"),
	IPC(M2M_IPC_ERR_MEF_PROTOCOL,		"io.m2mtoken.MefProtocolError"),
	IPC(M2M_IPC_ERR_AMBIGUOUS_KEY,		"io.m2mtoken.AmbiguousKey"),

	/* the module's CK_RV */
	CKR(CKR_PIN_INCORRECT,			"io.m2mtoken.PinIncorrect"),
	CKR(CKR_PIN_INVALID,			"io.m2mtoken.PinIncorrect"),
	CKR(CKR_PIN_LEN_RANGE,			"io.m2mtoken.PinIncorrect"),
	CKR(CKR_PIN_LOCKED,			"io.m2mtoken.PinLocked"),
	CKR(CKR_PIN_EXPIRED,			"io.m2mtoken.PinLocked"),
	CKR(CKR_USER_NOT_LOGGED_IN,		"io.m2mtoken.TokenLocked"),
	CKR(CKR_KEY_HANDLE_INVALID,		"io.m2mtoken.NoSuchKey"),
	CKR(CKR_OBJECT_HANDLE_INVALID,		"io.m2mtoken.NoSuchKey"),
	CKR(CKR_KEY_FUNCTION_NOT_PERMITTED,	"io.m2mtoken.KeyNotPermitted"),
	CKR(CKR_KEY_TYPE_INCONSISTENT,		"io.m2mtoken.KeyNotPermitted"),
	CKR(CKR_ATTRIBUTE_SENSITIVE,		"io.m2mtoken.KeyNotPermitted"),
	CKR(CKR_MECHANISM_INVALID,		"io.m2mtoken.NotSupported"),
	CKR(CKR_FUNCTION_NOT_SUPPORTED,		"io.m2mtoken.NotSupported"),
	CKR(CKR_ARGUMENTS_BAD,			E_INVALID_PARAMETER),
	CKR(CKR_ATTRIBUTE_TYPE_INVALID,		E_INVALID_PARAMETER),
	CKR(CKR_ATTRIBUTE_VALUE_INVALID,	E_INVALID_PARAMETER),
	CKR(CKR_TEMPLATE_INCOMPLETE,		E_INVALID_PARAMETER),
	CKR(CKR_TEMPLATE_INCONSISTENT,		E_INVALID_PARAMETER),
	CKR(CKR_MECHANISM_PARAM_INVALID,	E_INVALID_PARAMETER),
	CKR(CKR_KEY_SIZE_RANGE,			E_INVALID_PARAMETER),
	CKR(CKR_DATA_LEN_RANGE,			E_INVALID_PARAMETER),
	CKR(CKR_DATA_INVALID,			E_INVALID_PARAMETER),
	CKR(CKR_SIGNATURE_INVALID,		E_VERIFICATION_FAILED),
	CKR(CKR_SIGNATURE_LEN_RANGE,		E_VERIFICATION_FAILED),
	CKR(CKR_ENCRYPTED_DATA_INVALID,		E_VERIFICATION_FAILED),
	CKR(CKR_ENCRYPTED_DATA_LEN_RANGE,	E_VERIFICATION_FAILED),
	CKR(CKR_TOKEN_NOT_PRESENT,		"io.m2mtoken.TokenUnavailable"),
	CKR(CKR_TOKEN_NOT_RECOGNIZED,		"io.m2mtoken.TokenUnavailable"),
	CKR(CKR_DEVICE_REMOVED,			"io.m2mtoken.TokenUnavailable"),
	CKR(CKR_SLOT_ID_INVALID,		"io.m2mtoken.TokenUnavailable"),
	CKR(CKR_DEVICE_ERROR,			"io.m2mtoken.TokenFailure"),
	CKR(CKR_DEVICE_MEMORY,			"io.m2mtoken.TokenFailure"),
	CKR(CKR_TOKEN_WRITE_PROTECTED,		"io.m2mtoken.TokenReadOnly"),
	CKR(CKR_HOST_MEMORY,			E_OUT_OF_MEMORY),
	CKR(CKR_GENERAL_ERROR,			E_INTERNAL),
	CKR(CKR_FUNCTION_FAILED,		E_INTERNAL),
};

/* see errors.h */
const struct m2m_ipc_errdef *
m2m_ipc_error_table(size_t *ret_n)
{
	if (ret_n != NULL)
		*ret_n = sizeof(errtab) / sizeof(errtab[0]);
	return errtab;
}

static const char *
lookup(enum m2m_ipc_err_kind kind, unsigned long value)
{
	size_t i;

	for (i = 0; i < sizeof(errtab) / sizeof(errtab[0]); i++)
		if (errtab[i].kind == kind && errtab[i].value == value)
			return errtab[i].name;
	return E_INTERNAL;
}

/* see errors.h */
const char *
m2m_ipc_error_name(int r)
{
	return lookup(M2M_IPC_ERRK_IPC, (unsigned long)r);
}

/* see errors.h */
const char *
m2m_ipc_error_from_rv(CK_RV rv)
{
	return lookup(M2M_IPC_ERRK_CKR, (unsigned long)rv);
}

/* see errors.h */
const char *
m2m_ipc_strerror(int r)
{
	switch (r) {
	case M2M_IPC_OK:			return "success";
	case M2M_IPC_ERR_INTERNAL:		return "internal error";
	case M2M_IPC_ERR_INVALID_ARGUMENT:	return "invalid argument";
	case M2M_IPC_ERR_NO_MEMORY:		return "out of memory";
	case M2M_IPC_ERR_IO:			return "socket I/O error";
	case M2M_IPC_ERR_TIMEOUT:		return "timed out";
	case M2M_IPC_ERR_EOF:			return "connection closed";
	case M2M_IPC_ERR_TRUNCATED:
		return "connection closed inside a frame";
	case M2M_IPC_ERR_FRAME_TOO_LARGE:	return "frame too large";
	case M2M_IPC_ERR_INVALID_JSON:		return "frame is not JSON";
	case M2M_IPC_ERR_INVALID_UTF8:		return "string not UTF-8";
	case M2M_IPC_ERR_TOO_DEEP:		return "JSON nested too deep";
	case M2M_IPC_ERR_NOT_OBJECT:		return "frame is not an object";
	case M2M_IPC_ERR_NO_METHOD:		return "call without method";
	case M2M_IPC_ERR_METHOD_TYPE:		return "method not a string";
	case M2M_IPC_ERR_METHOD_NAME:
		return "method not io.m2mtoken.[A-Za-z]+";
	case M2M_IPC_ERR_UNKNOWN_MEMBER:	return "unknown member";
	case M2M_IPC_ERR_PARAMETERS_TYPE:
		return "parameters not an object";
	case M2M_IPC_ERR_ERROR_NAME:
		return "error not io.m2mtoken.[A-Za-z]+";
	case M2M_IPC_ERR_METHOD_NOT_FOUND:	return "no such method";
	case M2M_IPC_ERR_INVALID_PARAMETER:	return "invalid parameter";
	case M2M_IPC_ERR_PERMISSION_DENIED:	return "permission denied";
	case M2M_IPC_ERR_ACL_SYNTAX:		return "caller ACL malformed";
	case M2M_IPC_ERR_NO_PEER:		return "no peer credentials";
	case M2M_IPC_ERR_NUL_ESCAPE:		return "\\u0000 in a string";
	case M2M_IPC_ERR_DUPLICATE_MEMBER:	return "member given twice";
	case M2M_IPC_ERR_NOT_CONFIGURED:
		return "the daemon is not configured for this method";
	case M2M_IPC_ERR_MEF_UNREACHABLE:
		return "the MEF cannot be reached";
	case M2M_IPC_ERR_MEF_REFUSED:		return "the MEF refused the request";
	case M2M_IPC_ERR_MEF_PROTOCOL:
		return "the MEF's answer is malformed";
	case M2M_IPC_ERR_AMBIGUOUS_KEY:
		return "several keys match; name the role or peer";
	default:				return "unknown error";
	}
}
