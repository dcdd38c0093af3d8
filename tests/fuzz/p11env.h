/*
 * tests/fuzz: the module (pkcs11/ + token/, linked statically) over the
 * software backend of tests/unit/fake_backend.c, with one initialised token,
 * the user logged in and one key of each kind the parameter parsers need.
 * The fuzz targets reach the module only through its C_* functions.
 *
 * How the fake backend gets in: targets that link p11env.c are linked with
 * --wrap=m2m_core_open (tests/fuzz/CMakeLists.txt), and __wrap_m2m_core_open
 * opens the core with m2m_fake_backend_ops; the module's code is unchanged.
 */
#ifndef M2M_FUZZ_P11ENV_H
#define M2M_FUZZ_P11ENV_H

#include <stddef.h>
#include <stdint.h>

#include <m2mtoken/pkcs11-m2m.h>

#define FUZZ_USER_PIN		"fuzz-user-1234"
#define FUZZ_KE_LABEL		"ke-fuzz@m2m.example.com"
#define FUZZ_KPSA_LABEL		"kpsa-fuzz@in.example.com"
#define FUZZ_KPM_LABEL		"kpm-fuzz@mef.example.com"

/* The base keys, all token objects: the order of fuzz_p11.keys[]. */
enum fuzz_key {
	FUZZ_KEY_KE,		/* role KE: KM, KPSA, KUC derivations */
	FUZZ_KEY_KPSA,		/* role KPSA (with premaster): E2E, TLS */
	FUZZ_KEY_KPM,		/* role KPM (has a premaster): TLS */
	FUZZ_KEY_E2E_MASTER,	/* role KE2E_MASTER: E2E expand */
	FUZZ_KEY_MSG_AUTH,	/* role KE2E_MSG_AUTH: HMAC sign/verify */
	FUZZ_KEY_MSG_CONF,	/* role KE2E_MSG_CONF (AES-256): GCM */
	FUZZ_KEY_GENERIC,	/* role-less generic: HKDF, HMAC */
	FUZZ_KEY_AES,		/* role-less AES-256: GCM */
	FUZZ_KEY_COUNT
};

struct fuzz_p11 {
	CK_FUNCTION_LIST_PTR	f;
	CK_SLOT_ID		slot;
	CK_SESSION_HANDLE	login;	/* open: the user stays in */
	CK_OBJECT_HANDLE	keys[FUZZ_KEY_COUNT];
};

/*
 * Set the environment up once per process (a temporary store under
 * $TMPDIR, else /dev/shm or /tmp, removed at exit but not after a crash:
 * tests/fuzz/run points TMPDIR into the target's scratch directory).
 * Aborts with a message on any failure: a fuzzer without its environment
 * must not run.
 */
const struct fuzz_p11 *fuzz_p11_get(void);

/* 1 when h is one of the base keys (never to be destroyed). */
int	fuzz_p11_is_base(CK_OBJECT_HANDLE h);

#endif /* M2M_FUZZ_P11ENV_H */
