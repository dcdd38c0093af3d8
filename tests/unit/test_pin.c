/*
 * PIN handling of the whole module (pkcs11/ and token/, linked statically)
 * on a throw-away SoftHSM2 (argument "hsm", the default) or swtpm ("tpm"):
 *
 *   - test_no_offline_verifier (tpm): when the TPM guards the PINs the
 *     store's token row holds nothing a guess can be tested against
 *     offline (no PBKDF2 of the PIN at any offset, no SHA-256 of it, not
 *     the PIN), after C_InitToken, C_InitPIN and C_SetPIN of both PINs.
 *   - test_old_tpm_verifier_refused (tpm): a verifier of the old form
 *     (PBKDF2 next to the seal) is refused, not used.
 *   - test_login_locks: wrong PIN, right PIN, lock at max_pin_tries.
 *   - test_guesses_counted_across_processes (hsm: a swtpm without a
 *     resource manager serves one process): 24 processes guessing at once
 *     get at most max_pin_tries CKR_PIN_INCORRECT answers between them.
 *   - test_guesses_counted_across_threads: the same with 24 threads of one
 *     process (both backends), whose PIN checks run in parallel.
 *   - test_setpin_vs_wrong_logins (hsm): wrong logins of other processes
 *     never undo a C_SetPIN.
 *   - test_login_does_not_block_others: a thread looping on C_Login,
 *     C_SetPIN and C_InitPIN lets another thread's C_Sign calls run during
 *     its PIN checks (counted through the application's mutex callbacks,
 *     not timed).
 *   - test_close_during_login: a session closed while its C_Login checks
 *     the PIN leaves nobody logged in; one closed during C_SetPIN leaves
 *     either the new PIN or the old one, never a half change.
 */
#define _GNU_SOURCE	/* memmem */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>
#include <valgrind/valgrind.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include <m2mtoken/pkcs11-m2m.h>

#include "../integration/p11client.h"
#include "support_softhsm.h"
#ifdef M2M_HAVE_TPM
#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

#include "support_swtpm.h"
#endif

#define HSM_PIN		"hsm-pin-1234"
#define HSM_SO_PIN	"hsm-so-5678"
#define NEW_USER_PIN	"user-pin-after"
#define NEW_SO_PIN	"so-pin-after"
#define WRONG_PIN	"wrong-pin-0000"
#define MAX_TRIES	5	/* the module's default max_pin_tries */
#define NPROC		24	/* guessing processes */
#define NGUESS		4	/* guesses of each */
#define NWRONG		4	/* wrong-login processes against C_SetPIN */
#define NWRONG_MAX	24	/* wrong logins of each (4 x 24 + 1 < 100) */
#define NSETPIN		10	/* C_SetPIN calls in a row */
#define NLOGIN_ITER	10	/* rounds of PIN calls against C_Sign */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN	1	/* the build's -fsanitize=address (GCC) */
#else
#define UNDER_ASAN	0
#endif
/*
 * Under valgrind (one thread at a time, PBKDF2 fifty times slower) the
 * races run smaller: valgrind looks for memory errors on these paths,
 * and the normal and ASan runs of this same file keep the full counts.
 */
#define VG_NPROC	6	/* 6 x 4 guesses still run into the lock */
#define VG_NSETPIN	3
#define VG_NWRONG_MAX	6

/* NPROC, or VG_NPROC under valgrind */
static int
nproc(void)
{
	return RUNNING_ON_VALGRIND ? VG_NPROC : NPROC;
}

/* NSETPIN, or VG_NSETPIN under valgrind */
static int
nsetpin(void)
{
	return RUNNING_ON_VALGRIND ? VG_NSETPIN : NSETPIN;
}

CK_RV	C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR);

static struct m2m_softhsm *g_hsm;
#ifdef M2M_HAVE_TPM
static struct m2m_swtpm *g_tpm;
#endif
static int g_use_tpm;
static char g_conf[512], g_conf100[512], g_store[512];

/* ---- helpers ------------------------------------------------------------ */

static CK_RV
login(CK_SESSION_HANDLE s, CK_USER_TYPE who, const char *pin)
{
	return F->C_Login(s, who, (CK_UTF8CHAR_PTR)pin, strlen(pin));
}

static CK_SESSION_HANDLE
rw_session(CK_SLOT_ID slot)
{
	CK_SESSION_HANDLE s;

	assert_int_equal(F->C_OpenSession(slot,
	    CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
	return s;
}

/* A config over the same store and backing token, max_pin_tries = tries. */
static int
write_conf(const char *path, unsigned int tries)
{
	FILE *f;

	if ((f = fopen(path, "w")) == NULL)
		return -1;
	fprintf(f, "[store]\npath = %s\n\n[backend]\ntype = %s\n\n"
	    "[hsm]\nmodule = %s\ntoken_label = m2m-backing\n"
	    "pin = env:M2M_TEST_PIN_HSM_PIN\n\n[token]\nmax_pin_tries = %u\n",
	    g_store, g_use_tpm ? "tpm" : "hsm", m2m_softhsm_module(), tries);
#ifdef M2M_HAVE_TPM
	if (g_use_tpm)
		fprintf(f, "\n[tpm]\ntcti = %s\nmode = exclusive\n",
		    m2m_swtpm_tcti(g_tpm));
#endif
	return fclose(f) == 0 ? 0 : -1;
}

#ifdef M2M_HAVE_TPM
/*
 * The TPM's dictionary-attack counter cleared and allowed max_tries
 * failures (tpm_da_room: room enough that the store counts first).
 */
static int
tpm_da_set(UINT32 max_tries)
{
	TSS2_TCTI_CONTEXT *tcti = NULL;
	ESYS_CONTEXT *e = NULL;
	int ok;

	if (Tss2_TctiLdr_Initialize(m2m_swtpm_tcti(g_tpm), &tcti) !=
	    TSS2_RC_SUCCESS)
		return -1;
	ok = Esys_Initialize(&e, tcti, NULL) == TSS2_RC_SUCCESS &&
	    Esys_DictionaryAttackLockReset(e, ESYS_TR_RH_LOCKOUT,
	    ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE) ==
	    TSS2_RC_SUCCESS &&
	    Esys_DictionaryAttackParameters(e, ESYS_TR_RH_LOCKOUT,
	    ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, max_tries, 600,
	    600) == TSS2_RC_SUCCESS;
	Esys_Finalize(&e);
	Tss2_TctiLdr_Finalize(&tcti);
	return ok ? 0 : -1;
}

static int
tpm_da_room(void)
{
	return tpm_da_set(64);
}
#endif

/* ---- the store holds no offline oracle ---------------------------------- */

/*
 * Whether blob b[0..n) lets pin be tested offline: the PIN itself, its
 * SHA-256 (the TPM's authValue), or PBKDF2-HMAC-SHA-256(pin, any 16 bytes
 * of b as the salt, 20000 rounds as this module uses) found anywhere in b.
 */
static int
offline_oracle(const uint8_t *b, size_t n, const char *pin)
{
	uint8_t h[32];
	unsigned int hl = 0;
	size_t o;

	if (memmem(b, n, pin, strlen(pin)) != NULL)
		return 1;
	assert_int_equal(EVP_Digest(pin, strlen(pin), h, &hl, EVP_sha256(),
	    NULL), 1);
	if (memmem(b, n, h, sizeof(h)) != NULL)
		return 1;
	/*
	 * The PBKDF2 scan (20000 rounds at every offset) takes minutes under
	 * valgrind and a minute in the ASan build (OpenSSL's allocations go
	 * through ASan's allocator), which look for memory errors, not for
	 * oracles: there it is left to the normal build's run of this test.
	 */
	if (RUNNING_ON_VALGRIND || UNDER_ASAN)
		return 0;
	for (o = 0; o + 16 <= n; o++) {
		assert_int_equal(PKCS5_PBKDF2_HMAC(pin, (int)strlen(pin),
		    b + o, 16, 20000, EVP_sha256(), sizeof(h), h), 1);
		if (memmem(b, n, h, sizeof(h)) != NULL)
			return 1;
	}
	return 0;
}

/*
 * Every blob column of token slot's row (so_pin and user_pin, each
 * "M2S1" || a TPM seal): none is an oracle for either PIN.
 */
static void
row_no_oracle(CK_SLOT_ID slot, const char *so_pin, const char *user_pin)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int i, nblob = 0;

	assert_int_equal(sqlite3_open_v2(g_store, &db, SQLITE_OPEN_READONLY,
	    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
	    "SELECT * FROM tokens WHERE id = ?1", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_bind_int64(st, 1, (sqlite3_int64)slot),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	for (i = 0; i < sqlite3_column_count(st); i++) {
		const char *name = sqlite3_column_name(st, i);
		const uint8_t *b;
		size_t n;

		if (sqlite3_column_type(st, i) != SQLITE_BLOB)
			continue;
		b = sqlite3_column_blob(st, i);
		n = (size_t)sqlite3_column_bytes(st, i);
		nblob++;
		if (offline_oracle(b, n, so_pin))
			fail_msg("column %s: the SO PIN can be tested offline",
			    name);
		if (offline_oracle(b, n, user_pin))
			fail_msg("column %s: the user PIN can be tested "
			    "offline", name);
		/* the format: a TPM seal, nothing else */
		if (strcmp(name, "so_pin") == 0 ||
		    strcmp(name, "user_pin") == 0) {
			assert_true(n > 4);
			assert_memory_equal(b, "M2S1", 4);
		}
	}
	assert_int_equal(nblob, 2);	/* so_pin, user_pin */
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* Login with the given PINs of slot: right works, wrong fails, it locks. */
static void
expect_login_locks(CK_SLOT_ID slot, const char *user_pin)
{
	CK_SESSION_HANDLE s = rw_session(slot);
	int i;

	assert_int_equal(login(s, CKU_USER, WRONG_PIN), CKR_PIN_INCORRECT);
	assert_int_equal(login(s, CKU_USER, user_pin), CKR_OK);
	assert_int_equal(F->C_Logout(s), CKR_OK);
	for (i = 0; i < MAX_TRIES; i++)
		assert_int_equal(login(s, CKU_USER, WRONG_PIN),
		    CKR_PIN_INCORRECT);
	assert_int_equal(login(s, CKU_USER, WRONG_PIN), CKR_PIN_LOCKED);
	assert_int_equal(login(s, CKU_USER, user_pin), CKR_PIN_LOCKED);
	assert_int_equal(F->C_CloseSession(s), CKR_OK);
}

static void
test_no_offline_verifier(void **state)
{
	CK_SESSION_HANDLE s;
	CK_SLOT_ID slot;

	(void)state;
	if (!g_use_tpm) {
		/* the HSM's own login guards the keys; PBKDF2 is kept */
		skip();
	}
	assert_int_equal(F->C_Initialize(NULL), CKR_OK);
	slot = p11c_new_token("no-oracle");
	row_no_oracle(slot, P11C_SO_PIN, P11C_USER_PIN);
	/* C_SetPIN of the user (public R/W session) and of the SO */
	s = rw_session(slot);
	assert_int_equal(F->C_SetPIN(s, (CK_UTF8CHAR_PTR)P11C_USER_PIN,
	    strlen(P11C_USER_PIN), (CK_UTF8CHAR_PTR)NEW_USER_PIN,
	    strlen(NEW_USER_PIN)), CKR_OK);
	assert_int_equal(login(s, CKU_SO, P11C_SO_PIN), CKR_OK);
	assert_int_equal(F->C_SetPIN(s, (CK_UTF8CHAR_PTR)P11C_SO_PIN,
	    strlen(P11C_SO_PIN), (CK_UTF8CHAR_PTR)NEW_SO_PIN,
	    strlen(NEW_SO_PIN)), CKR_OK);
	assert_int_equal(F->C_Logout(s), CKR_OK);
	assert_int_equal(F->C_CloseSession(s), CKR_OK);
	row_no_oracle(slot, NEW_SO_PIN, NEW_USER_PIN);
	/* the TPM still checks them */
	expect_login_locks(slot, NEW_USER_PIN);
	s = rw_session(slot);
	assert_int_equal(login(s, CKU_SO, P11C_SO_PIN), CKR_PIN_INCORRECT);
	assert_int_equal(login(s, CKU_SO, NEW_SO_PIN), CKR_OK);
	assert_int_equal(F->C_CloseSession(s), CKR_OK);
	assert_int_equal(F->C_Finalize(NULL), CKR_OK);
}

/*
 * A TPM token whose user verifier is of the old form ("M2P1", PBKDF2 of
 * the PIN, then the seal) is refused, not used: CKR_DEVICE_ERROR, for the
 * right PIN too, and no guess is counted.
 */
static void
test_old_tpm_verifier_refused(void **state)
{
	uint8_t old[600];
	const uint8_t *seal;
	size_t seallen, n;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	CK_SESSION_HANDLE s;
	CK_SLOT_ID slot;
	int i;

	(void)state;
	if (!g_use_tpm)
		skip();
	assert_int_equal(F->C_Initialize(NULL), CKR_OK);
	slot = p11c_new_token("old-format");
	assert_int_equal(sqlite3_open(g_store, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
	    "SELECT user_pin FROM tokens WHERE id = ?1", -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_bind_int64(st, 1, (sqlite3_int64)slot),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	seal = (const uint8_t *)sqlite3_column_blob(st, 0) + 4;
	seallen = (size_t)sqlite3_column_bytes(st, 0) - 4;
	assert_true(58 + seallen <= sizeof(old));
	memcpy(old, "M2P1\0\0\x4e\x20", 8);	/* 20000 rounds */
	memset(old + 8, 0x11, 16);
	assert_int_equal(PKCS5_PBKDF2_HMAC(P11C_USER_PIN,
	    (int)strlen(P11C_USER_PIN), old + 8, 16, 20000, EVP_sha256(), 32,
	    old + 24), 1);
	old[56] = (uint8_t)(seallen >> 8);
	old[57] = (uint8_t)seallen;
	memcpy(old + 58, seal, seallen);
	n = 58 + seallen;
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(db,
	    "UPDATE tokens SET user_pin = ?2 WHERE id = ?1", -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_bind_int64(st, 1, (sqlite3_int64)slot),
	    SQLITE_OK);
	assert_int_equal(sqlite3_bind_blob(st, 2, old, (int)n,
	    SQLITE_STATIC), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);

	s = rw_session(slot);
	for (i = 0; i < MAX_TRIES + 1; i++)
		assert_int_equal(login(s, CKU_USER, P11C_USER_PIN),
		    CKR_DEVICE_ERROR);
	assert_int_equal(login(s, CKU_USER, WRONG_PIN), CKR_DEVICE_ERROR);
	assert_int_equal(F->C_Finalize(NULL), CKR_OK);
}

static void
test_login_locks(void **state)
{
	CK_SLOT_ID slot;

	(void)state;
	assert_int_equal(F->C_Initialize(NULL), CKR_OK);
	slot = p11c_new_token("locks");
	expect_login_locks(slot, P11C_USER_PIN);
	assert_int_equal(F->C_Finalize(NULL), CKR_OK);
}

/*
 * TPM: its dictionary-attack counter is one for every token on it, so one
 * token's wrong PINs can put it in lockout, and then another token's
 * right PIN is refused too (CKR_PIN_LOCKED: docs/security-model.md).  But
 * that refusal is the TPM's, not the other token's: nothing is kept for
 * that token, and once the TPM recovers it logs in (a second review: its
 * PIN was kept locked in the store until its SO reset it).
 */
static void
test_tpm_lockout_not_kept(void **state)
{
#ifdef M2M_HAVE_TPM
	CK_SESSION_HANDLE sa, sb;
	CK_SLOT_ID a, b;
	int i;

	(void)state;
	if (!g_use_tpm)
		skip();
	assert_int_equal(F->C_Initialize(NULL), CKR_OK);
	a = p11c_new_token("tenant-a");
	b = p11c_new_token("tenant-b");
	sa = rw_session(a);
	sb = rw_session(b);
	assert_int_equal(tpm_da_set(2), 0);
	assert_int_equal(login(sa, CKU_USER, WRONG_PIN), CKR_PIN_INCORRECT);
	assert_int_equal(login(sa, CKU_USER, WRONG_PIN), CKR_PIN_INCORRECT);
	/* the TPM is in lockout: b's right PIN is refused, by the TPM */
	assert_int_equal(login(sb, CKU_USER, P11C_USER_PIN), CKR_PIN_LOCKED);
	assert_int_equal(login(sb, CKU_USER, P11C_USER_PIN), CKR_PIN_LOCKED);
	/* the TPM recovers (here: its lockout reset); b was never wrong */
	assert_int_equal(tpm_da_room(), 0);
	assert_int_equal(login(sb, CKU_USER, P11C_USER_PIN), CKR_OK);
	assert_int_equal(F->C_Logout(sb), CKR_OK);
	/* a's own two failures were counted: MAX_TRIES - 2 more lock it */
	for (i = 2; i < MAX_TRIES; i++)
		assert_int_equal(login(sa, CKU_USER, WRONG_PIN),
		    CKR_PIN_INCORRECT);
	assert_int_equal(login(sa, CKU_USER, P11C_USER_PIN), CKR_PIN_LOCKED);
	assert_int_equal(F->C_CloseSession(sa), CKR_OK);
	assert_int_equal(F->C_CloseSession(sb), CKR_OK);
	assert_int_equal(F->C_Finalize(NULL), CKR_OK);
#else
	(void)state;
	skip();
#endif
}

/* ---- many processes --------------------------------------------------- */

struct tally {
	unsigned int	incorrect, locked, other;
	CK_RV		other_rv;
};

/*
 * A child: tell the parent on rfd whether C_Initialize and C_OpenSession
 * worked ('R') or not ('E', then exit), then block until the parent closes
 * the write end of the barrier pipe bfd.  The parent starts the children
 * one at a time (each opening the store and the backend), then all at once.
 */
static void
child_ready(CK_SLOT_ID slot, CK_SESSION_HANDLE *s, int rfd, int bfd)
{
	char c = 'R';

	if (F->C_Initialize(NULL) != CKR_OK ||
	    F->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, s) !=
	    CKR_OK)
		c = 'E';
	if (write(rfd, &c, 1) != 1 || c != 'R')
		_exit(3);
	while (read(bfd, &c, 1) == -1 && errno == EINTR)
		;
}

/* The parent: wait for the child just forked. */
static void
child_wait_ready(int rfd)
{
	char c = 0;

	assert_int_equal(read(rfd, &c, 1), 1);
	assert_int_equal(c, 'R');
}

/* A child: guess NGUESS wrong PINs of slot, report the answers on wfd. */
static void __attribute__((noreturn))
guesser(CK_SLOT_ID slot, int rfd, int bfd, int wfd)
{
	struct tally t;
	CK_SESSION_HANDLE s;
	CK_RV rv;
	int i;

	memset(&t, 0, sizeof(t));
	child_ready(slot, &s, rfd, bfd);
	for (i = 0; i < NGUESS; i++) {
		rv = login(s, CKU_USER, WRONG_PIN);
		if (rv == CKR_PIN_INCORRECT)
			t.incorrect++;
		else if (rv == CKR_PIN_LOCKED)
			t.locked++;
		else {
			t.other++;
			t.other_rv = rv;
		}
	}
	(void)F->C_Finalize(NULL);
	if (write(wfd, &t, sizeof(t)) != (ssize_t)sizeof(t))
		_exit(4);
	_exit(0);
}

static void
test_guesses_counted_across_processes(void **state)
{
	struct tally sum, t;
	CK_SESSION_HANDLE s;
	CK_SLOT_ID slot;
	pid_t pids[NPROC];
	int bar[2], res[2], rdy[2], i, st;

	(void)state;
	if (g_use_tpm)
		skip();	/* one process at a time on a swtpm without an RM */
	assert_int_equal(F->C_Initialize(NULL), CKR_OK);
	slot = p11c_new_token("guesses");
	assert_int_equal(F->C_Finalize(NULL), CKR_OK);

	assert_int_equal(pipe(bar), 0);
	assert_int_equal(pipe(res), 0);
	assert_int_equal(pipe(rdy), 0);
	for (i = 0; i < nproc(); i++) {
		assert_true((pids[i] = fork()) != -1);
		if (pids[i] == 0) {
			close(bar[1]);
			close(res[0]);
			close(rdy[0]);
			guesser(slot, rdy[1], bar[0], res[1]);
		}
		child_wait_ready(rdy[0]);
	}
	close(rdy[0]);
	close(rdy[1]);
	close(bar[0]);
	close(res[1]);
	close(bar[1]);	/* go */
	memset(&sum, 0, sizeof(sum));
	for (i = 0; i < nproc(); i++) {
		assert_int_equal(read(res[0], &t, sizeof(t)),
		    (ssize_t)sizeof(t));
		sum.incorrect += t.incorrect;
		sum.locked += t.locked;
		sum.other += t.other;
		if (t.other != 0)
			sum.other_rv = t.other_rv;
	}
	close(res[0]);
	for (i = 0; i < nproc(); i++) {
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	print_message("%d processes x %d wrong PINs: %u CKR_PIN_INCORRECT, "
	    "%u CKR_PIN_LOCKED, %u other\n", nproc(), NGUESS, sum.incorrect,
	    sum.locked, sum.other);
	if (sum.other != 0)
		fail_msg("an answer was %s", p11c_rvname(sum.other_rv));
	/* every guess beyond max_pin_tries met the lock */
	assert_int_equal(sum.incorrect, MAX_TRIES);
	assert_int_equal(sum.locked, nproc() * NGUESS - MAX_TRIES);

	assert_int_equal(F->C_Initialize(NULL), CKR_OK);
	s = rw_session(slot);
	assert_int_equal(login(s, CKU_USER, P11C_USER_PIN), CKR_PIN_LOCKED);
	assert_int_equal(F->C_Finalize(NULL), CKR_OK);
}

struct guess_thread {
	CK_SLOT_ID	slot;
	struct tally	t;
};

static void *
guess_thread_main(void *arg)
{
	struct guess_thread *g = arg;
	CK_SESSION_HANDLE s;
	CK_RV rv;
	int i;

	if (F->C_OpenSession(g->slot, CKF_SERIAL_SESSION, NULL, NULL, &s) !=
	    CKR_OK) {
		g->t.other++;
		return NULL;
	}
	for (i = 0; i < NGUESS; i++) {
		rv = login(s, CKU_USER, WRONG_PIN);
		if (rv == CKR_PIN_INCORRECT)
			g->t.incorrect++;
		else if (rv == CKR_PIN_LOCKED)
			g->t.locked++;
		else {
			g->t.other++;
			g->t.other_rv = rv;
		}
	}
	return NULL;
}

/*
 * The same with NPROC threads of one process, on both backends: the PIN
 * checks run in parallel (no module lock), the count stays exact.
 */
static void
test_guesses_counted_across_threads(void **state)
{
	struct guess_thread g[NPROC];
	pthread_t th[NPROC];
	unsigned int incorrect = 0, locked = 0;
	CK_SESSION_HANDLE s;
	CK_SLOT_ID slot;
	int i;

	(void)state;
	assert_int_equal(F->C_Initialize(NULL), CKR_OK);
	slot = p11c_new_token("threads");
	memset(g, 0, sizeof(g));
	for (i = 0; i < nproc(); i++) {
		g[i].slot = slot;
		assert_int_equal(pthread_create(&th[i], NULL,
		    guess_thread_main, &g[i]), 0);
	}
	for (i = 0; i < nproc(); i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		if (g[i].t.other != 0)
			fail_msg("an answer was %s",
			    p11c_rvname(g[i].t.other_rv));
		incorrect += g[i].t.incorrect;
		locked += g[i].t.locked;
	}
	print_message("%d threads x %d wrong PINs: %u CKR_PIN_INCORRECT, "
	    "%u CKR_PIN_LOCKED\n", nproc(), NGUESS, incorrect, locked);
	assert_int_equal(incorrect, MAX_TRIES);
	assert_int_equal(locked, nproc() * NGUESS - MAX_TRIES);
	s = rw_session(slot);
	assert_int_equal(login(s, CKU_USER, P11C_USER_PIN), CKR_PIN_LOCKED);
	assert_int_equal(F->C_Finalize(NULL), CKR_OK);
}

/* A child: wrong logins on slot until the stop pipe closes. */
static void __attribute__((noreturn))
wrong_logger(CK_SLOT_ID slot, int rfd, int bfd, int stopfd, int wfd)
{
	struct pollfd p = { .fd = stopfd, .events = POLLIN };
	struct tally t;
	CK_SESSION_HANDLE s;
	CK_RV rv;

	memset(&t, 0, sizeof(t));
	child_ready(slot, &s, rfd, bfd);
	/* at most NWRONG_MAX each: never max_pin_tries (100) in all */
	while (t.incorrect + t.other < (RUNNING_ON_VALGRIND ? VG_NWRONG_MAX :
	    NWRONG_MAX) && poll(&p, 1, 0) == 0) {
		rv = login(s, CKU_USER, WRONG_PIN);
		if (rv == CKR_PIN_INCORRECT)
			t.incorrect++;
		else {
			t.other++;
			t.other_rv = rv;
		}
	}
	(void)F->C_Finalize(NULL);
	if (write(wfd, &t, sizeof(t)) != (ssize_t)sizeof(t))
		_exit(4);
	_exit(0);
}

static void
test_setpin_vs_wrong_logins(void **state)
{
	struct tally t;
	CK_SESSION_HANDLE s;
	CK_SLOT_ID slot;
	char pins[NSETPIN + 1][32];
	pid_t pids[NWRONG];
	int bar[2], stop[2], res[2], rdy[2], i, st;
	unsigned int wrong = 0;

	(void)state;
	if (g_use_tpm)
		skip();	/* one process at a time on a swtpm without an RM */
	/* room for every wrong login of this test: the PIN must not lock */
	assert_int_equal(setenv("M2MTOKEN_CONF", g_conf100, 1), 0);
	assert_int_equal(F->C_Initialize(NULL), CKR_OK);
	slot = p11c_new_token("setpin");
	assert_int_equal(F->C_Finalize(NULL), CKR_OK);
	for (i = 0; i <= NSETPIN; i++)
		snprintf(pins[i], sizeof(pins[i]), "pin-number-%02d", i);
	snprintf(pins[0], sizeof(pins[0]), "%s", P11C_USER_PIN);

	assert_int_equal(pipe(bar), 0);
	assert_int_equal(pipe(stop), 0);
	assert_int_equal(pipe(res), 0);
	assert_int_equal(pipe(rdy), 0);
	for (i = 0; i < NWRONG; i++) {
		assert_true((pids[i] = fork()) != -1);
		if (pids[i] == 0) {
			close(bar[1]);
			close(stop[1]);
			close(res[0]);
			close(rdy[0]);
			wrong_logger(slot, rdy[1], bar[0], stop[0], res[1]);
		}
		child_wait_ready(rdy[0]);
	}
	close(rdy[0]);
	close(rdy[1]);
	close(bar[0]);
	close(stop[0]);
	close(res[1]);
	assert_int_equal(F->C_Initialize(NULL), CKR_OK);
	s = rw_session(slot);
	close(bar[1]);	/* go */
	for (i = 1; i <= nsetpin(); i++) {
		CK_RV rv = F->C_SetPIN(s, (CK_UTF8CHAR_PTR)pins[i - 1],
		    strlen(pins[i - 1]), (CK_UTF8CHAR_PTR)pins[i],
		    strlen(pins[i]));

		if (rv != CKR_OK)
			fail_msg("C_SetPIN %d (%s -> %s): %s: a PIN change "
			    "was undone", i, pins[i - 1], pins[i],
			    p11c_rvname(rv));
	}
	close(stop[1]);	/* stop */
	for (i = 0; i < NWRONG; i++) {
		assert_int_equal(read(res[0], &t, sizeof(t)),
		    (ssize_t)sizeof(t));
		if (t.other != 0)
			fail_msg("a wrong login answered %s",
			    p11c_rvname(t.other_rv));
		wrong += t.incorrect;
	}
	close(res[0]);
	for (i = 0; i < NWRONG; i++) {
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	print_message("%d C_SetPIN calls during %u wrong logins of %d "
	    "processes\n", nsetpin(), wrong, NWRONG);
	assert_true(wrong > 0);
	/* the last PIN set works, every earlier one fails */
	assert_int_equal(login(s, CKU_USER, pins[nsetpin() - 1]),
	    CKR_PIN_INCORRECT);
	assert_int_equal(login(s, CKU_USER, pins[0]), CKR_PIN_INCORRECT);
	assert_int_equal(login(s, CKU_USER, pins[nsetpin()]), CKR_OK);
	assert_int_equal(F->C_Finalize(NULL), CKR_OK);
	assert_int_equal(setenv("M2MTOKEN_CONF", g_conf, 1), 0);
}

/* ---- threads ------------------------------------------------------------ */

/*
 * The module lock, given to the module as the application's mutex
 * callbacks, so that the test sees who takes it when.  Every field below
 * is written with the lock held.
 */
static pthread_mutex_t	mx;
static pthread_t	mx_login_thread;
static int		mx_in_login;	/* atomic: the thread is in C_Login */
static unsigned int	mx_login_locks;	/* its lock takings in this call */
static unsigned long	mx_pending;	/* other takings since its first */
static unsigned long	mx_between;	/* ... confirmed by a second one */
static int		mx_handed;	/* its first release was seen */
/* the hand-over after that first release (not the module lock) */
static pthread_mutex_t	hand_mx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	hand_cv = PTHREAD_COND_INITIALIZER;
static int		hand_taken;	/* another thread took the lock */

static CK_RV
mx_create(CK_VOID_PTR_PTR ret)
{
	*ret = &mx;
	return CKR_OK;
}

static CK_RV
mx_destroy(CK_VOID_PTR m)
{
	(void)m;
	return CKR_OK;
}

/*
 * Count the other threads' takings of the lock that fall between two
 * takings by one C_Login call of the login thread: calls that ran while
 * that C_Login checked its PIN.  A C_Login that holds the lock for the
 * whole check takes it once: it confirms none.
 */
static CK_RV
mx_lock(CK_VOID_PTR m)
{
	pthread_mutex_lock(m);
	if (!__atomic_load_n(&mx_in_login, __ATOMIC_ACQUIRE))
		return CKR_OK;
	if (pthread_equal(pthread_self(), mx_login_thread)) {
		if (mx_login_locks++ > 0) {
			mx_between += mx_pending;
			mx_pending = 0;
		}
	} else if (mx_login_locks > 0) {
		mx_pending++;
		pthread_mutex_lock(&hand_mx);
		hand_taken = 1;
		pthread_cond_signal(&hand_cv);
		pthread_mutex_unlock(&hand_mx);
	}
	return CKR_OK;
}

/*
 * When the login thread releases the lock for the first time in a counted
 * call, it waits (up to 5 s) until another thread has taken it: so the
 * count does not hang on the scheduler.  A call that keeps the lock for
 * all its PIN work releases it first at its end: what runs then is not
 * confirmed by a second taking, and it counts 0 all the same.
 */
static CK_RV
mx_unlock(CK_VOID_PTR m)
{
	struct timespec dl;
	int first = 0;

	if (__atomic_load_n(&mx_in_login, __ATOMIC_ACQUIRE) &&
	    pthread_equal(pthread_self(), mx_login_thread) && !mx_handed) {
		mx_handed = 1;
		first = 1;
	}
	pthread_mutex_unlock(m);
	if (!first)
		return CKR_OK;
	(void)clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 5;
	pthread_mutex_lock(&hand_mx);
	while (!hand_taken &&
	    pthread_cond_timedwait(&hand_cv, &hand_mx, &dl) == 0)
		;
	pthread_mutex_unlock(&hand_mx);
	return CKR_OK;
}

/* Start and end one counted call of the login thread. */
static unsigned long
counted_begin(void)
{
	unsigned long before;

	pthread_mutex_lock(&mx);
	mx_login_locks = 0;
	mx_pending = 0;
	mx_handed = 0;
	before = mx_between;
	pthread_mutex_unlock(&mx);
	pthread_mutex_lock(&hand_mx);
	hand_taken = 0;
	pthread_mutex_unlock(&hand_mx);
	__atomic_store_n(&mx_in_login, 1, __ATOMIC_RELEASE);
	return before;
}

/* The other thread's lock takings during the call's PIN work. */
static unsigned long
counted_end(unsigned long before)
{
	unsigned long n;

	__atomic_store_n(&mx_in_login, 0, __ATOMIC_RELEASE);
	pthread_mutex_lock(&mx);
	n = mx_between - before;
	pthread_mutex_unlock(&mx);
	return n;
}

/* The PIN calls under test, each counted in its own tally. */
enum { K_LOGIN, K_SETPIN, K_INITPIN, K_COUNT };

struct kind_tally {
	unsigned long	calls;
	unsigned long	between;
};

#define COUNTED(tally, k, expr, want) do {				\
	unsigned long b_ = counted_begin();				\
	assert_int_equal((expr), (want));				\
	(tally)[k].between += counted_end(b_);				\
	(tally)[k].calls++;						\
} while (0)

struct signer {
	CK_SESSION_HANDLE	s;
	CK_OBJECT_HANDLE	key;
	int			stop;		/* atomic */
	unsigned long		signs;
	unsigned long		errors;
};

static void *
signer_main(void *arg)
{
	struct signer *g = arg;
	uint8_t mac[32];
	CK_ULONG maclen;

	while (!__atomic_load_n(&g->stop, __ATOMIC_ACQUIRE)) {
		maclen = sizeof(mac);
		if (p11c_sign(g->s, CKM_SHA256_HMAC, g->key, "data", 4, mac,
		    &maclen) != CKR_OK)
			g->errors++;
		else
			g->signs++;
	}
	return NULL;
}

static void
test_login_does_not_block_others(void **state)
{
	static const char *const names[K_COUNT] = {
		"C_Login", "C_SetPIN", "C_InitPIN"
	};
	static const uint8_t auth[32] = { 0x5a, 0xa5 };
	CK_C_INITIALIZE_ARGS args;
	struct kind_tally k[K_COUNT];
	struct signer g;
	pthread_t th;
	CK_SESSION_HANDLE s;
	CK_SLOT_ID slot;
	const char *p = P11C_USER_PIN, *q = NEW_USER_PIN;
	int i;

	(void)state;
	if (RUNNING_ON_VALGRIND) {
		/*
		 * valgrind runs one thread at a time and hands a contended
		 * lock back to the spinning signer: the ten rounds took over
		 * ten minutes there.  What this test shows is about threads
		 * running side by side; the normal and ASan runs check it.
		 */
		print_message("under valgrind: left to the other runs\n");
		skip();
	}
	memset(&g, 0, sizeof(g));
	memset(k, 0, sizeof(k));
	memset(&args, 0, sizeof(args));
	args.CreateMutex = mx_create;
	args.DestroyMutex = mx_destroy;
	args.LockMutex = mx_lock;
	args.UnlockMutex = mx_unlock;
	assert_int_equal(pthread_mutex_init(&mx, NULL), 0);
	mx_login_thread = pthread_self();
	mx_between = 0;
	/* token A: a user session signing; token B: the PIN calls */
	assert_int_equal(F->C_Initialize(&args), CKR_OK);
	g.s = p11c_user_session(p11c_new_token("signer"));
	assert_int_equal(p11c_import_ex(g.s, CK_M2M_ROLE_KE2E_MSG_AUTH,
	    "auth", CKK_GENERIC_SECRET, auth, 32, CK_FALSE, NULL, 0, &g.key),
	    CKR_OK);
	slot = p11c_new_token("logins");
	s = rw_session(slot);
	assert_int_equal(pthread_create(&th, NULL, signer_main, &g), 0);
	for (i = 0; i < NLOGIN_ITER; i++) {
		COUNTED(k, K_LOGIN, login(s, CKU_USER, WRONG_PIN),
		    CKR_PIN_INCORRECT);
		COUNTED(k, K_LOGIN, login(s, CKU_USER, P11C_USER_PIN),
		    CKR_OK);
		assert_int_equal(F->C_Logout(s), CKR_OK);
		COUNTED(k, K_SETPIN, F->C_SetPIN(s, (CK_UTF8CHAR_PTR)p,
		    strlen(p), (CK_UTF8CHAR_PTR)q, strlen(q)), CKR_OK);
		COUNTED(k, K_SETPIN, F->C_SetPIN(s, (CK_UTF8CHAR_PTR)q,
		    strlen(q), (CK_UTF8CHAR_PTR)p, strlen(p)), CKR_OK);
		COUNTED(k, K_LOGIN, login(s, CKU_SO, P11C_SO_PIN), CKR_OK);
		COUNTED(k, K_INITPIN, F->C_InitPIN(s, (CK_UTF8CHAR_PTR)p,
		    strlen(p)), CKR_OK);
		assert_int_equal(F->C_Logout(s), CKR_OK);
	}
	__atomic_store_n(&g.stop, 1, __ATOMIC_RELEASE);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(g.errors, 0);
	/*
	 * A call that holds the module lock for all of its PIN work takes
	 * it once: the other thread can run nothing during that work (0).
	 * Without the lock, its calls (2 per C_Sign) go on meanwhile: at
	 * least one per PIN call, of every kind.
	 */
	for (i = 0; i < K_COUNT; i++) {
		print_message("%lu %s calls: the signing thread took the "
		    "module lock %lu times during their PIN work\n",
		    k[i].calls, names[i], k[i].between);
		if (k[i].between < k[i].calls)
			fail_msg("%s blocks the other threads during its PIN "
			    "work", names[i]);
	}
	print_message("%lu signs in all\n", g.signs);
	assert_int_equal(F->C_Finalize(NULL), CKR_OK);
	(void)pthread_mutex_destroy(&mx);
}

struct closer {
	CK_SESSION_HANDLE	s;
	CK_RV			rv;
	const char		*from, *to;	/* C_SetPIN's PINs */
};

static void *
setpin_main(void *arg)
{
	struct closer *c = arg;

	c->rv = F->C_SetPIN(c->s, (CK_UTF8CHAR_PTR)c->from, strlen(c->from),
	    (CK_UTF8CHAR_PTR)c->to, strlen(c->to));
	return NULL;
}

static void *
login_main(void *arg)
{
	struct closer *c = arg;

	c->rv = login(c->s, CKU_USER, P11C_USER_PIN);
	return NULL;
}

static void
test_close_during_login(void **state)
{
	struct timespec ts = { 0, 3000000 };
	CK_SESSION_INFO si;
	struct closer c;
	pthread_t th;
	CK_SESSION_HANDLE s2;
	CK_SLOT_ID slot;
	unsigned int closed = 0, ok = 0;
	int i;

	(void)state;
	assert_int_equal(F->C_Initialize(NULL), CKR_OK);
	slot = p11c_new_token("close");
	/* valgrind: fewer rounds (each login's PIN check is slow there) */
	for (i = 0; i < (RUNNING_ON_VALGRIND ? 4 : 10); i++) {
		c.s = rw_session(slot);
		c.rv = CKR_GENERAL_ERROR;
		assert_int_equal(pthread_create(&th, NULL, login_main, &c),
		    0);
		(void)nanosleep(&ts, NULL);
		assert_int_equal(F->C_CloseSession(c.s), CKR_OK);
		assert_int_equal(pthread_join(th, NULL), 0);
		if (c.rv == CKR_SESSION_CLOSED ||
		    c.rv == CKR_SESSION_HANDLE_INVALID)
			closed++;
		else if (c.rv == CKR_OK)
			ok++;
		else
			fail_msg("C_Login: %s", p11c_rvname(c.rv));
		/* the last session closed: nobody may be logged in */
		s2 = rw_session(slot);
		assert_int_equal(F->C_GetSessionInfo(s2, &si), CKR_OK);
		assert_int_equal(si.state, CKS_RW_PUBLIC_SESSION);
		assert_int_equal(F->C_CloseSession(s2), CKR_OK);
	}
	print_message("closed during the login: %u, login first: %u\n",
	    closed, ok);
	/* and the right PIN was never counted as a failure */
	s2 = rw_session(slot);
	assert_int_equal(login(s2, CKU_USER, P11C_USER_PIN), CKR_OK);
	assert_int_equal(F->C_CloseSession(s2), CKR_OK);

	/* C_SetPIN: done (the new PIN works) or not at all (the old one) */
	closed = ok = 0;
	for (i = 0; i < (RUNNING_ON_VALGRIND ? 4 : 6); i++) {	/* even */
		c.s = rw_session(slot);
		c.rv = CKR_GENERAL_ERROR;
		c.from = i % 2 ? NEW_USER_PIN : P11C_USER_PIN;
		c.to = i % 2 ? P11C_USER_PIN : NEW_USER_PIN;
		assert_int_equal(pthread_create(&th, NULL, setpin_main, &c),
		    0);
		(void)nanosleep(&ts, NULL);
		assert_int_equal(F->C_CloseSession(c.s), CKR_OK);
		assert_int_equal(pthread_join(th, NULL), 0);
		s2 = rw_session(slot);
		if (c.rv == CKR_SESSION_CLOSED ||
		    c.rv == CKR_SESSION_HANDLE_INVALID) {
			closed++;
			assert_int_equal(login(s2, CKU_USER, c.from), CKR_OK);
			/* put it where the loop expects it */
			assert_int_equal(F->C_Logout(s2), CKR_OK);
			assert_int_equal(F->C_SetPIN(s2,
			    (CK_UTF8CHAR_PTR)c.from, strlen(c.from),
			    (CK_UTF8CHAR_PTR)c.to, strlen(c.to)), CKR_OK);
		} else if (c.rv == CKR_OK) {
			ok++;
			assert_int_equal(login(s2, CKU_USER, c.from),
			    CKR_PIN_INCORRECT);
			assert_int_equal(login(s2, CKU_USER, c.to), CKR_OK);
		} else
			fail_msg("C_SetPIN: %s", p11c_rvname(c.rv));
		assert_int_equal(F->C_CloseSession(s2), CKR_OK);
	}
	print_message("closed during C_SetPIN: %u, C_SetPIN first: %u\n",
	    closed, ok);
	assert_int_equal(F->C_Finalize(NULL), CKR_OK);
}

/* ---- fixtures ----------------------------------------------------------- */

/* After each test, also a failed one: the module closed, the usual conf. */
static int
test_teardown(void **state)
{
	(void)state;
	(void)F->C_Finalize(NULL);
	return setenv("M2MTOKEN_CONF", g_conf, 1) == 0 ? 0 : -1;
}

static int
group_setup(void **state)
{
	(void)state;
	if (m2m_softhsm_new("m2m-backing", HSM_PIN, HSM_SO_PIN, &g_hsm) != 0)
		return -1;
	(void)snprintf(g_conf, sizeof(g_conf), "%s/m2mtoken.conf",
	    m2m_softhsm_dir(g_hsm));
	(void)snprintf(g_conf100, sizeof(g_conf100), "%s/m2mtoken100.conf",
	    m2m_softhsm_dir(g_hsm));
	(void)snprintf(g_store, sizeof(g_store), "%s/store.db",
	    m2m_softhsm_dir(g_hsm));
#ifdef M2M_HAVE_TPM
	if (g_use_tpm && (m2m_swtpm_start(&g_tpm) != 0 || tpm_da_room() != 0))
		return -1;
#endif
	if (write_conf(g_conf, MAX_TRIES) != 0 ||
	    write_conf(g_conf100, 100) != 0)
		return -1;
	if (setenv("M2M_TEST_PIN_HSM_PIN", HSM_PIN, 1) != 0 ||
	    setenv("M2MTOKEN_CONF", g_conf, 1) != 0)
		return -1;
	return C_GetFunctionList(&F) == CKR_OK ? 0 : -1;
}

static int
group_teardown(void **state)
{
	(void)state;
	if (F != NULL)
		(void)F->C_Finalize(NULL);
	m2m_softhsm_free(g_hsm);
	g_hsm = NULL;
#ifdef M2M_HAVE_TPM
	m2m_swtpm_free(g_tpm);
	g_tpm = NULL;
#endif
	return 0;
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_no_offline_verifier,
		    test_teardown),
		cmocka_unit_test_teardown(test_old_tpm_verifier_refused,
		    test_teardown),
		cmocka_unit_test_teardown(test_login_locks,
		    test_teardown),
		cmocka_unit_test_teardown(test_tpm_lockout_not_kept,
		    test_teardown),
		cmocka_unit_test_teardown(test_guesses_counted_across_processes,
		    test_teardown),
		cmocka_unit_test_teardown(test_guesses_counted_across_threads,
		    test_teardown),
		cmocka_unit_test_teardown(test_setpin_vs_wrong_logins,
		    test_teardown),
		cmocka_unit_test_teardown(test_login_does_not_block_others,
		    test_teardown),
		cmocka_unit_test_teardown(test_close_during_login,
		    test_teardown),
	};

	if (argc > 1 && strcmp(argv[1], "tpm") == 0) {
#ifdef M2M_HAVE_TPM
		g_use_tpm = 1;
#else
		fprintf(stderr, "built without the TPM backend\n");
		return 77;
#endif
	} else if (argc > 1 && strcmp(argv[1], "hsm") != 0) {
		fprintf(stderr, "usage: %s [hsm | tpm]\n", argv[0]);
		return 2;
	}
	print_message("backend: %s\n", g_use_tpm ? "tpm" : "hsm");
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
