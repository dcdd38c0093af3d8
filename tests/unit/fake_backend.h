/*
 * A software backend for UNIT tests of the core only (never linked into the
 * module).  Keys are "wrapped" with a random AES-256 key that lives in process
 * memory: blob = "M2MF" || kind (1 byte) || nonce (12) || AES-256-GCM(key)
 * || tag (16), the 5-byte header being the AAD, so any change to a blob makes
 * it fail.  bind_mac is HMAC-SHA-256 under a second random key of the
 * instance.  Every op of backend.h is implemented with OpenSSL; pin_seal and
 * pin_check are NULL; forget is a no-op; stats counts calls (commands) and
 * blob unwraps (loads).  Error codes: bad pointers M2M_ERR_INVALID_ARGUMENT,
 * a wrong key length M2M_ERR_KEY_SIZE, a blob of the wrong kind
 * M2M_ERR_KEY_TYPE, a damaged or foreign blob M2M_ERR_BACKEND, bad GCM
 * parameters M2M_ERR_MECHANISM_PARAM, a ciphertext shorter than its tag
 * M2M_ERR_DATA_LEN, a bad tag M2M_ERR_ENCRYPTED_DATA_INVALID.  OpenSSL 3
 * takes GCM IVs of at most 128 bytes, so ivlen 129..256 (allowed by
 * backend.h) gives M2M_ERR_UNSUPPORTED.  Outputs are written only on success.
 */
#ifndef M2M_FAKE_BACKEND_H
#define M2M_FAKE_BACKEND_H

#include "backend.h"

#define M2M_FAKE_DATA_MAX	(1u << 20)	/* largest AES-GCM input */

extern const struct m2m_backend_ops m2m_fake_backend_ops;

/*
 * Fill ret->ops and ret->impl with a new fake backend (no conf needed).
 * Close it with ret->ops->close(ret->impl).  0 or M2M_ERR_NO_MEMORY /
 * M2M_ERR_RANDOM; ret is written only on success.
 */
int	m2m_fake_backend_open(struct m2m_backend *ret);

/*
 * Failure injection, process-wide: after n more operations succeed, the
 * next one (wrap, hmac, hmac_keymsg, aes_gcm, reveal, random or bind_mac,
 * on any fake backend) returns M2M_ERR_BACKEND without writing anything;
 * then injection is off again.  n < 0 turns it off.  open, close, forget
 * and stats are not operations and are never failed.
 */
void	m2m_fake_backend_fail_after(int n);

#endif /* M2M_FAKE_BACKEND_H */
