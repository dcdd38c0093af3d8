/*
 * m2mtoken: the core's insides, shared by its files only: core.c (open and
 * close, wrapping, key operations, E2E, EC keys) and core_pin.c (PIN
 * verifiers, token init, login, PIN changes).  Nothing outside token/core*.c
 * includes it.  The public contract is core.h.
 */
#ifndef M2M_CORE_INT_H
#define M2M_CORE_INT_H

#include <stdint.h>

#include "backend.h"
#include "conf.h"
#include "core.h"
#include "objcache.h"
#include "secret.h"
#include "store.h"

/* The last E2E expansion block made (m2m_core_e2e_expand). */
struct e2e_memo {
	uint64_t		 id;		/* the master's keyref id */
	uint8_t			 blob_digest[32];	/* SHA-256 of its blob */
	enum m2m_hash		 hash;
	unsigned		 n;
	struct m2m_secret	*t;		/* T(n), or NULL: empty */
};

/* The core (core.h keeps it opaque to everything outside token/core*.c). */
struct m2m_core {
	struct m2m_conf		*conf;
	struct m2m_store	*store;
	struct m2m_backend	 be;
	struct m2m_objcache	 cache;		/* token objects read */
	struct e2e_memo		 e2e;
};

#endif /* M2M_CORE_INT_H */
