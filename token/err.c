/* m2mtoken: error strings.  See err.h. */
#include <stdarg.h>
#include <stdio.h>

#include "err.h"

/* see err.h */
const char *
m2m_strerror(int r)
{
	switch (r) {
	case M2M_OK:				return "success";
	case M2M_ERR_INTERNAL:			return "internal error";
	case M2M_ERR_INVALID_ARGUMENT:		return "invalid argument";
	case M2M_ERR_NO_MEMORY:			return "out of memory";
	case M2M_ERR_NOT_FOUND:			return "not found";
	case M2M_ERR_EXISTS:			return "already exists";
	case M2M_ERR_KEY_FUNCTION:		return "key use not permitted";
	case M2M_ERR_KEY_EXPIRED:		return "key lifetime has ended";
	case M2M_ERR_TEMPLATE_INCONSISTENT:	return "template inconsistent";
	case M2M_ERR_TEMPLATE_INCOMPLETE:	return "template incomplete";
	case M2M_ERR_ATTRIBUTE_TYPE:		return "attribute type invalid";
	case M2M_ERR_ATTRIBUTE_VALUE:		return "attribute value invalid";
	case M2M_ERR_ATTRIBUTE_READ_ONLY:	return "attribute read-only";
	case M2M_ERR_ATTRIBUTE_SENSITIVE:	return "attribute sensitive";
	case M2M_ERR_MECHANISM:			return "mechanism invalid";
	case M2M_ERR_MECHANISM_PARAM:		return "mechanism parameter invalid";
	case M2M_ERR_KEY_TYPE:			return "key type inconsistent";
	case M2M_ERR_KEY_SIZE:			return "key size out of range";
	case M2M_ERR_DATA_LEN:			return "data length out of range";
	case M2M_ERR_DATA_INVALID:		return "data invalid";
	case M2M_ERR_SIGNATURE_INVALID:		return "signature invalid";
	case M2M_ERR_ENCRYPTED_DATA_INVALID:	return "encrypted data invalid";
	case M2M_ERR_BUFFER_TOO_SMALL:		return "buffer too small";
	case M2M_ERR_PIN_INCORRECT:		return "PIN incorrect";
	case M2M_ERR_PIN_LOCKED:		return "PIN locked";
	case M2M_ERR_PIN_LEN:			return "PIN length out of range";
	case M2M_ERR_CONFIG:			return "configuration error";
	case M2M_ERR_STORE:			return "store error";
	case M2M_ERR_STORE_READONLY:		return "store is read-only";
	case M2M_ERR_STORE_CORRUPT:		return "store is corrupt";
	case M2M_ERR_BACKEND:			return "backend error";
	case M2M_ERR_BACKEND_ABSENT:		return "backend not present";
	case M2M_ERR_BACKEND_AUTH:		return "backend refused authorisation";
	case M2M_ERR_BUSY:			return "busy (the store, or the TPM lock between processes)";
	case M2M_ERR_UNSUPPORTED:		return "not supported";
	case M2M_ERR_RANDOM:			return "random number generator failed";
	case M2M_ERR_CURVE:			return "curve not supported";
	case M2M_ERR_TOKEN_FULL:
		return "token full ([token] max_objects or max_bytes)";
	default:				return "unknown error";
	}
}

/* see err.h */
void
m2m_errbuf_set(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (buf == NULL || len == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}
