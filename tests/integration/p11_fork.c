/*
 * p11_fork: a child forked from a process that uses the module starts
 * uninitialised (PKCS#11 v3.0 section 5.4).  The parent logs in and keeps
 * a session with a key; after fork() the child's calls on the parent's
 * session answer CKR_CRYPTOKI_NOT_INITIALIZED, its C_Initialize answers
 * CKR_OK (not CKR_CRYPTOKI_ALREADY_INITIALIZED), the parent's session
 * handle is then CKR_SESSION_HANDLE_INVALID, and the child opens its own
 * session, logs in and signs with the token key (the same MAC).  The parent
 * keeps signing on its session, during and after the child.  Twice: the
 * second child forks again (a grandchild) after its own C_Initialize.
 * Child and grandchild each write a token key through their own store
 * connection; the parent finds both and writes after them.
 */
#include <sys/wait.h>

#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include "p11client.h"

#define TOKEN	"fork"
#define LABEL	"fork-key"

static const uint8_t MSG[] = "fork test message";
static uint8_t want[32];

/* One HMAC on s with key h; CKR_OK and the parent's MAC expected. */
static int
sign_ok(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h)
{
	uint8_t mac[32];
	CK_ULONG ml = sizeof(mac);

	return p11c_sign(s, CKM_SHA256_HMAC, h, MSG, sizeof(MSG), mac,
	    &ml) == CKR_OK && ml == 32 && memcmp(mac, want, 32) == 0;
}

/* The child's checks; depth 0 forks once more. */
static void
child(CK_SLOT_ID slot, CK_SESSION_HANDLE ps, CK_OBJECT_HANDLE pk, int depth)
{
	CK_MECHANISM m = { CKM_SHA256_HMAC, NULL, 0 };
	CK_SESSION_INFO si;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE, nk;
	char label[32];
	uint8_t mac[32];
	CK_ULONG ml = sizeof(mac);
	pid_t pid;
	int st = 0;

	CHECK_RV(F->C_SignInit(ps, &m, pk), CKR_CRYPTOKI_NOT_INITIALIZED,
	    "child %d: C_SignInit on the parent's session before "
	    "C_Initialize", depth);
	CHECK_RV(F->C_Sign(ps, (CK_BYTE_PTR)MSG, sizeof(MSG), mac, &ml),
	    CKR_CRYPTOKI_NOT_INITIALIZED, "child %d: C_Sign on the parent's "
	    "session before C_Initialize", depth);
	CHECK_RV(F->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED,
	    "child %d: C_Finalize before C_Initialize", depth);
	CHECK_RV(F->C_Initialize(NULL), CKR_OK, "child %d: C_Initialize",
	    depth);
	CHECK_RV(F->C_GetSessionInfo(ps, &si), CKR_SESSION_HANDLE_INVALID,
	    "child %d: the parent's session is not the child's", depth);
	CHECK_RV(F->C_SignInit(ps, &m, pk), CKR_SESSION_HANDLE_INVALID,
	    "child %d: C_SignInit on the parent's session", depth);
	ml = sizeof(mac);
	CHECK_RV(F->C_Sign(ps, (CK_BYTE_PTR)MSG, sizeof(MSG), mac, &ml),
	    CKR_SESSION_HANDLE_INVALID, "child %d: C_Sign on the parent's "
	    "session", depth);
	CHECK_RV(F->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
	    NULL, NULL, &s), CKR_OK, "child %d: C_OpenSession", depth);
	CHECK_RV(F->C_GetSessionInfo(s, &si), CKR_OK,
	    "child %d: C_GetSessionInfo", depth);
	CHECK(si.state == CKS_RW_PUBLIC_SESSION, "child %d: not logged in "
	    "(state %lu)", depth, (unsigned long)si.state);
	CHECK(p11c_count_label(s, LABEL, (CK_ULONG)~0UL, NULL) == 0,
	    "child %d: the private key is invisible before C_Login", depth);
	CHECK_RV(F->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)P11C_USER_PIN,
	    strlen(P11C_USER_PIN)), CKR_OK, "child %d: C_Login", depth);
	CHECK(p11c_count_label(s, LABEL, (CK_ULONG)~0UL, &h) == 1,
	    "child %d: the token key is found", depth);
	CHECK(sign_ok(s, h), "child %d: C_Sign on its own session gives the "
	    "parent's MAC", depth);
	/* the child writes to the store through its own connection */
	snprintf(label, sizeof(label), "child-%d", depth);
	CHECK_RV(p11c_import_ex(s, CK_M2M_ROLE_KE2E_MSG_AUTH, label,
	    CKK_GENERIC_SECRET, want, 32, CK_TRUE, NULL, 0, &nk), CKR_OK,
	    "child %d: C_CreateObject of a token key", depth);
	if (depth == 0) {
		fflush(stdout);
		if ((pid = fork()) < 0)
			p11c_bail("fork: %s", strerror(errno));
		if (pid == 0) {
			child(slot, s, h, 1);
			_exit(p11c_nfailed == 0 ? 0 : 1);
		}
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		    "grandchild: every check passed (status 0x%x)", st);
		CHECK(sign_ok(s, h), "child 0: C_Sign after its own child");
	}
	CHECK_RV(F->C_Finalize(NULL), CKR_OK, "child %d: C_Finalize", depth);
}

/*
 * Client mode: forks while another thread's calls are in flight (the
 * fork handlers take the connection's lock; the child wipes and frees
 * the parent's waiters): each child initialises and works.  Not in local
 * mode: there the child initialises the backend's library in-process,
 * whose locks the signing thread may hold at fork (SoftHSM2 has no fork
 * handlers; the child hung under ASan).  Tried again once the module's
 * fork handler also waited for the PIN checks (every backend call then
 * runs under the lock the handler holds): passes in the normal build, a
 * child still hung in 1 of 6 ASan runs; not diagnosed, so not run.
 */
#define FORKS	16

struct signer {
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE k;
	int stop;
	int bad;
	int n;
};

static void *
signer_run(void *arg)
{
	struct signer *g = arg;

	while (!__atomic_load_n(&g->stop, __ATOMIC_ACQUIRE)) {
		if (!sign_ok(g->s, g->k))
			g->bad++;
		__atomic_add_fetch(&g->n, 1, __ATOMIC_ACQ_REL);
	}
	return NULL;
}

static void
fork_in_flight(CK_SLOT_ID slot, CK_OBJECT_HANDLE k)
{
	struct signer g = { .k = k };
	CK_SESSION_HANDLE cs;
	pthread_t th;
	uint8_t rnd[16];
	pid_t pid;
	int i, st, ok = 0;

	P11C_MUST(F->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL,
	    &g.s));
	if (pthread_create(&th, NULL, signer_run, &g) != 0)
		p11c_bail("pthread_create");
	for (i = 0; i < FORKS; i++) {
		while (__atomic_load_n(&g.n, __ATOMIC_ACQUIRE) < i)
			;
		fflush(stdout);
		if ((pid = fork()) < 0)
			p11c_bail("fork: %s", strerror(errno));
		if (pid == 0) {
			/* no CHECK output: one status per child */
			if (F->C_Initialize(NULL) != CKR_OK ||
			    F->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL,
			    NULL, &cs) != CKR_OK ||
			    F->C_GenerateRandom(cs, rnd, sizeof(rnd)) !=
			    CKR_OK || F->C_Finalize(NULL) != CKR_OK)
				_exit(1);
			_exit(0);
		}
		st = -1;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			ok++;
	}
	__atomic_store_n(&g.stop, 1, __ATOMIC_RELEASE);
	(void)pthread_join(th, NULL);
	CHECK(ok == FORKS, "fork during another thread's C_Sign: %d of %d "
	    "children initialised and worked", ok, FORKS);
	CHECK(g.bad == 0 && g.n >= FORKS, "the signing thread: %d of %d "
	    "C_Sign failed", g.bad, g.n);
	CHECK_RV(F->C_CloseSession(g.s), CKR_OK, "C_CloseSession of the "
	    "signing thread's session");
}

int
main(int argc, char **argv)
{
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE k, k2;
	CK_ULONG ml = sizeof(want);
	uint8_t v[32];
	pid_t pid;
	int st = 0;

	p11c_load(argc, argv);
	s = p11c_setup(TOKEN, &slot);
	memset(v, 0x3c, sizeof(v));
	P11C_MUST(p11c_import_ex(s, CK_M2M_ROLE_KE2E_MSG_AUTH, LABEL,
	    CKK_GENERIC_SECRET, v, sizeof(v), CK_TRUE, NULL, 0, &k));
	P11C_MUST(p11c_sign(s, CKM_SHA256_HMAC, k, MSG, sizeof(MSG), want,
	    &ml));

	fflush(stdout);
	if ((pid = fork()) < 0)
		p11c_bail("fork: %s", strerror(errno));
	if (pid == 0) {
		child(slot, s, k, 0);
		fflush(stdout);
		_exit(p11c_nfailed == 0 ? 0 : 1);
	}
	CHECK(sign_ok(s, k), "parent: C_Sign while the child runs");
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "child: every check passed (status 0x%x)", st);
	CHECK(sign_ok(s, k), "parent: C_Sign after the child");
	CHECK(p11c_count_label(s, LABEL, (CK_ULONG)~0UL, NULL) == 1,
	    "parent: C_FindObjects after the child");
	CHECK(p11c_count_label(s, "child-0", (CK_ULONG)~0UL, NULL) == 1 &&
	    p11c_count_label(s, "child-1", (CK_ULONG)~0UL, NULL) == 1,
	    "parent: the keys its child and grandchild made are found");
	P11C_MUST(p11c_import_ex(s, CK_M2M_ROLE_KE2E_MSG_AUTH, "parent-2",
	    CKK_GENERIC_SECRET, v, sizeof(v), CK_TRUE, NULL, 0, &k2));
	CHECK(p11c_count_label(s, "parent-2", (CK_ULONG)~0UL, NULL) == 1,
	    "parent: writes to the store after the child");
	if (getenv("M2MTOKEN_DAEMON_SOCKET") != NULL)
		fork_in_flight(slot, k);
	CHECK_RV(F->C_Logout(s), CKR_OK, "parent: still logged in");
	CHECK_RV(F->C_Finalize(NULL), CKR_OK, "parent: C_Finalize");
	return p11c_finish();
}
