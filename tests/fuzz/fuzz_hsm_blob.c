/*
 * fuzz_hsm_blob: the HSM backend's blob header parser, m2m_hsm_blob_parse()
 * (hsm/hsm_blob.c; layout and versions 1 to 4 in hsm/hsm.h), which every key
 * operation runs on the blob read from the store before anything reaches
 * the HSM.  The first input byte is the kind the caller expects
 * (keyref.kind: HMAC, AES, EC P-256 or P-384 by its low two bits), the
 * rest the blob.  Checks beyond memory and UB errors:
 * on success every pointer and length it returns lies inside the blob
 * and they add up to it exactly; the kind is the expected one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "hsm.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct m2m_keyref kr;
	struct blob b;
	uint8_t *copy;
	size_t n, ph, ml;
	int r;

	if (size < 1)
		return 0;
	/* an exact-size heap copy: ASan sees any read past its end */
	n = size - 1;
	if ((copy = malloc(n == 0 ? 1 : n)) == NULL)
		abort();
	memcpy(copy, data + 1, n);
	memset(&kr, 0, sizeof(kr));
	kr.id = 1;
	kr.kind = (enum m2m_key_kind)((data[0] & 3) + 1);
	kr.blob = copy;
	kr.bloblen = n;
	memset(&b, 0xa5, sizeof(b));
	r = m2m_hsm_blob_parse(&kr, &b);
	if (r == 0 && (kr.kind == M2M_KIND_EC_P256 ||
	    kr.kind == M2M_KIND_EC_P384)) {
		/* version 4: one wrapped value, the rest of the blob */
		if (b.kind != kr.kind || copy[4] != M2M_HSM_VERSION_EC ||
		    b.wrapkey_id != copy + 8 ||
		    b.wrapped != copy + M2M_HSM_HDR_LEN ||
		    b.wrappedlen < M2M_HSM_WRAPPED_MIN ||
		    b.wrappedlen > M2M_HSM_EC_WRAPPED_MAX ||
		    b.wrappedlen % 8 != 0 || b.prehash != NULL ||
		    b.msgform != NULL || M2M_HSM_HDR_LEN + b.wrappedlen != n)
			abort();
	} else if (r == 0) {
		if (b.kind != kr.kind || b.keylen == 0 ||
		    b.keylen > M2M_KEY_MAX || b.valuelen < b.keylen ||
		    b.wrapkey_id != copy + 8 ||
		    b.wrapped != copy + M2M_HSM_HDR_LEN ||
		    b.wrappedlen < M2M_HSM_WRAPPED_MIN ||
		    b.wrappedlen % 8 != 0 || b.wrappedlen < b.valuelen + 8)
			abort();
		ph = b.prehash != NULL ? M2M_HSM_PREHASH_WRAPPED_LEN : 0;
		if (b.prehash != NULL && (b.prehash != b.wrapped +
		    b.wrappedlen || b.kind != M2M_KIND_HMAC ||
		    b.keylen <= M2M_HSM_HMAC_PAD))
			abort();
		/* version 3: the message form, p bytes 0x36 || key, wrapped */
		ml = b.msgform != NULL ? b.keylen + (8 - b.keylen % 8) % 8 + 8 :
		    0;
		if (b.msgform != NULL && (copy[4] != M2M_HSM_VERSION_MSG ||
		    b.kind != M2M_KIND_HMAC ||
		    b.msgform != b.wrapped + b.wrappedlen + ph))
			abort();
		if (M2M_HSM_HDR_LEN + b.wrappedlen + ph + ml != n)
			abort();
	} else if (r != M2M_ERR_DATA_INVALID && r != M2M_ERR_KEY_TYPE)
		abort();
	free(copy);
	return 0;
}
