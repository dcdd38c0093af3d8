/*
 * fuzz_tls_psk_id: the PSK identity a TLS client sends, as the server's
 * PSK callback (tls/tls_ctx.c) hands it to m2m_tls_psk_ref()
 * (tls/tls_cache.c, tls_int.h): the cache lookup and refresh, and the
 * token search by CKA_LABEL (m2m_p11_find_psk, tls/tls_p11.c; in the
 * module, C_FindObjects with the identity in the template), over the module
 * on the fake backend (p11env.h, tlsenv.h).
 *
 * Input: the identity (1 to M2M_TLS_LABEL_MAX bytes, as the callback
 * allows).  Checks beyond memory and UB errors: a reference comes back
 * exactly for the labels of the token's PSK keys, and is the same as the
 * context makes for them; any other identity gives CKR_KEY_HANDLE_INVALID.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11env.h"
#include "tls_int.h"
#include "tlsenv.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const psk[] = { FUZZ_KPSA_LABEL, FUZZ_KPM_LABEL };
	struct m2m_tls *t = fuzz_tls_get();
	uint8_t *id, ref[M2M_TLS_REF_LEN], want[M2M_TLS_REF_LEN];
	size_t i;
	int known = -1;
	CK_RV rv;

	if (size == 0 || size > M2M_TLS_LABEL_MAX)
		return 0;
	/* an exact-size heap copy: ASan sees any read past its end */
	if ((id = malloc(size)) == NULL)
		abort();
	memcpy(id, data, size);
	for (i = 0; i < sizeof(psk) / sizeof(psk[0]); i++)
		if (strlen(psk[i]) == size && memcmp(psk[i], id, size) == 0)
			known = (int)i;
	rv = m2m_tls_psk_ref(t, id, size, ref);
	if (known < 0) {
		if (rv != CKR_KEY_HANDLE_INVALID) {
			fprintf(stderr, "fuzz_tls_psk_id: 0x%lx for an "
			    "unknown identity\n", rv);
			abort();
		}
	} else {
		/* again: from the cache now, the same reference */
		if (rv != CKR_OK || m2m_tls_psk_ref(t, id, size, want) !=
		    CKR_OK || memcmp(ref, want, sizeof(ref)) != 0)
			abort();
	}
	free(id);
	return 0;
}
