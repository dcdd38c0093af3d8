/* m2mtoken: backend-independent helpers.  See backend.h. */
#include "backend.h"

/* see backend.h */
size_t
m2m_hash_len(enum m2m_hash h)
{
	switch (h) {
	case M2M_HASH_SHA256:	return 32;
	case M2M_HASH_SHA384:	return 48;
	case M2M_HASH_SHA512:	return 64;
	default:		return 0;
	}
}
