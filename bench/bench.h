/*
 * Shared helpers of the benchmark programs (bench_hmac, bench_e2e,
 * bench_find, bench_ecdsa, bench_tpm, ...).  They are PKCS#11 clients
 * only: libm2mtoken.so, SoftHSM2 and tpm2-pkcs11 are loaded with dlopen
 * and called through their function lists.  Nothing here asserts on
 * time: the programs only print.
 *
 * Environment:
 *   M2MTOKEN_MODULE      libm2mtoken.so (required)
 *   M2MTOKEN_CONF        its configuration (as for any client)
 *   BENCH_SOFTHSM_MODULE SoftHSM2 (default /usr/lib/softhsm/libsofthsm2.so)
 *   BENCH_SOFTHSM_TOKEN  label of the SoftHSM2 token for the baselines
 *                        (default bench-direct)
 *   BENCH_SOFTHSM_PIN    its user PIN (default 1234)
 */
#ifndef M2M_BENCH_H
#define M2M_BENCH_H

#include <stddef.h>

#include <m2mtoken/pkcs11-m2m.h>

struct bench_mod {
	const char		*path;
	void			*dl;
	CK_FUNCTION_LIST_PTR	 f;
	int			 finalize;	/* we initialised it */
};

/* Print "bench: <msg>" on stderr and exit 1. */
void	bench_die(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
/* Die with the name of rv unless rv is CKR_OK. */
void	bench_ck(CK_RV rv, const char *what);
const char *bench_ckr(CK_RV rv);

/* Monotonic time in seconds. */
double	bench_now(void);
/* Median (sorts v in place); 0 for n == 0. */
double	bench_median(double *v, size_t n);
/* The p-th percentile, 0 <= p <= 100, of sorted v. */
double	bench_percentile(const double *v, size_t n, double p);

/* dlopen path, C_GetFunctionList, C_Initialize (ALREADY_INITIALIZED ok). */
void	bench_load(const char *path, struct bench_mod *m);
/* C_Initialize (CKF_OS_LOCKING_OK), as after a C_Finalize; dies on error. */
void	bench_init(struct bench_mod *m);
/* bench_load, then C_Finalize: each round initialises the module. */
void	bench_load_final(const char *path, struct bench_mod *m);
/* C_Finalize if we initialised it; dlclose. */
void	bench_unload(struct bench_mod *m);

/*
 * m2mtoken: C_InitToken on the free slot with label, C_InitPIN, open an RW
 * session and log in as the user.  *ret_slot is the token's slot.
 */
void	bench_m2m_token(struct bench_mod *m, const char *label,
	    CK_SLOT_ID *ret_slot, CK_SESSION_HANDLE *ret_sess);
/* The slot of the initialised token labelled label; dies if none. */
CK_SLOT_ID bench_slot(struct bench_mod *m, const char *label);
/*
 * Open an RW session on slot and log in as the user with pin (already
 * logged in is fine); who names the module in the error that ends the run.
 */
void	bench_login(struct bench_mod *m, CK_SLOT_ID slot, const char *pin,
	    const char *who, CK_SESSION_HANDLE *ret_sess);
/* m2mtoken: open an RW session on slot and log in as the user. */
void	bench_m2m_login(struct bench_mod *m, CK_SLOT_ID slot,
	    CK_SESSION_HANDLE *ret_sess);
/* SoftHSM2: RW session on the token labelled $BENCH_SOFTHSM_TOKEN, user. */
void	bench_softhsm_session(struct bench_mod *m, CK_SESSION_HANDLE *ret);

/*
 * C_CreateObject of a secret key: role 0 means role-less (then it gets
 * CKA_SIGN, CKA_VERIFY, and CKA_SENSITIVE TRUE, CKA_PRIVATE FALSE: the
 * baselines' keys in SoftHSM2 look like hsm/'s working copies); token
 * selects CKA_TOKEN; label may be NULL.
 */
CK_RV	bench_secret(struct bench_mod *m, CK_SESSION_HANDLE s,
	    CK_KEY_TYPE kt, CK_ULONG role, int token, const char *label,
	    const CK_BYTE *value, CK_ULONG len, CK_OBJECT_HANDLE *ret);

/* One C_SignInit + C_Sign with CKM_SHA256_HMAC; the MAC into mac[32]. */
CK_RV	bench_hmac(struct bench_mod *m, CK_SESSION_HANDLE s,
	    CK_OBJECT_HANDLE key, const CK_BYTE *msg, CK_ULONG len,
	    CK_BYTE *mac);

/* $name, or def when it is unset or empty. */
const char *bench_env(const char *name, const char *def);

/*
 * The swtpm bench/run started: its server port from $BENCH_SWTPM_PORT
 * (returned) and the private directory $BENCH_TPM_DIR (*ret_dir); dies
 * when either is not set.
 */
int	bench_swtpm(const char **ret_dir);
/*
 * Write libm2mtoken's configuration to path: store, [backend] type = tpm,
 * [tpm] tcti = swtpm on 127.0.0.1:port, mode.
 */
void	bench_tpm_conf(const char *path, const char *store, int port,
	    const char *mode);

/* Fill buf with n random bytes from /dev/urandom. */
void	bench_random(void *buf, size_t n);

/* "12,345" style thousands separators into buf. */
const char *bench_count(double v, char *buf, size_t len);

/*
 * Seconds per round and rounds per side: defaults (shorter with quick),
 * overridden by $BENCH_SECONDS and $BENCH_ROUNDS.
 */
struct bench_opts {
	double	seconds;	/* one round of one side */
	int	rounds;		/* rounds per side, alternating A/B */
	int	quick;
};
void	bench_opts(int quick, struct bench_opts *o);
/* 1 if argv[1..] is exactly "--quick", 0 if empty; else usage and exit. */
int	bench_quick_arg(int argc, char **argv);

#endif /* M2M_BENCH_H */
