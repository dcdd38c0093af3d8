/* m2mtoken: backend-independent helpers.  See backend.h. */
#include "backend.h"
#include "err.h"

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

/* see backend.h */
int
m2m_backend_key_len_ok(enum m2m_key_kind kind, size_t len)
{
	switch (kind) {
	case M2M_KIND_HMAC:	return len >= 1 && len <= M2M_KEY_MAX;
	case M2M_KIND_AES:	return len == 16 || len == 24 || len == 32;
	default:		return 0;
	}
}

/* see backend.h */
int
m2m_backend_gcm_check(size_t ivlen, size_t taglen)
{
	if (ivlen < 1 || ivlen > M2M_GCM_IV_MAX || taglen < M2M_GCM_TAG_MIN ||
	    taglen > M2M_GCM_TAG_MAX)
		return M2M_ERR_MECHANISM_PARAM;
	return 0;
}
