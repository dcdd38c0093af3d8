/*
 * p11_concurrency: 2 processes x 8 threads on one token.
 *
 * Each thread opens its own session and creates 20 token keys with unique
 * labels (signing with each and finding it by label), derives a token Kpsa
 * with a unique label from a KE shared by everyone, derives it again (same
 * handle), and derives NRACE Kpsa that every thread of both processes asks
 * for with the same (label, peer).  Run once with CKF_OS_LOCKING_OK and once
 * with the application's own pthread mutex callbacks.  Afterwards the
 * parent initialises again and checks that every expected label exists
 * exactly once (nothing lost, nothing doubled) and that no call failed.
 *
 * A TPM reached without a resource manager (swtpm/mssim TCTI, as in the
 * harness) serves one process at a time: the module refuses a second one
 * with a clear error, so there the processes run one after the other (the
 * threads of each still run together).
 *
 * Threads of two processes derive the same (role, label, peer) at once:
 * each such key must exist exactly once (C_DeriveKey looks up and inserts
 * in one store write transaction).
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include "p11client.h"

#define NPROC		2
#define NTHREAD		8
#define NKEYS		20
#define KEID		"00112233445566778899aabbccddeeff@mef.example.com"
#define SHARED_LABEL	"shared-kpsa"	/* + "-<mode>-<n>" */
#define NRACE		10
#define SHARED_PEER	"/in-cse.example.com/shared"

static CK_SLOT_ID SLOT;
static unsigned int t_errors;	/* failures in this process's threads */

/* a check inside a thread: prints only failures */
#define T_RV(expr, want, ...) do {					\
	CK_RV t_rv_ = (expr);						\
	if (t_rv_ != (want)) {						\
		char t_w_[160];						\
		snprintf(t_w_, sizeof(t_w_), __VA_ARGS__);		\
		printf("not ok - [%s] %s: got %s, want %s\n",		\
		    p11c_backend, t_w_, p11c_rvname(t_rv_),		\
		    p11c_rvname(want));					\
		__atomic_add_fetch(&t_errors, 1, __ATOMIC_RELAXED);	\
	}								\
} while (0)
#define T_OK(cond, ...) do {						\
	if (!(cond)) {							\
		char t_w_[160];						\
		snprintf(t_w_, sizeof(t_w_), __VA_ARGS__);		\
		printf("not ok - [%s] %s\n", p11c_backend, t_w_);	\
		__atomic_add_fetch(&t_errors, 1, __ATOMIC_RELAXED);	\
	}								\
} while (0)

struct job {
	char		 mode;	/* 'o' OS locking, 'a' application mutexes */
	int		 proc;
	int		 thread;
};

/* ------------------------------------------------------------------ */
/* application mutexes                                                 */
/* ------------------------------------------------------------------ */

static unsigned int mx_created, mx_locks;

static CK_RV
mx_create(CK_VOID_PTR_PTR ret)
{
	pthread_mutex_t *m = malloc(sizeof(*m));

	if (m == NULL || pthread_mutex_init(m, NULL) != 0) {
		free(m);
		return CKR_HOST_MEMORY;
	}
	__atomic_add_fetch(&mx_created, 1, __ATOMIC_RELAXED);
	*ret = m;
	return CKR_OK;
}

static CK_RV
mx_destroy(CK_VOID_PTR m)
{
	if (pthread_mutex_destroy(m) != 0)
		return CKR_MUTEX_BAD;
	free(m);
	return CKR_OK;
}

static CK_RV
mx_lock(CK_VOID_PTR m)
{
	__atomic_add_fetch(&mx_locks, 1, __ATOMIC_RELAXED);
	return pthread_mutex_lock(m) == 0 ? CKR_OK : CKR_MUTEX_BAD;
}

static CK_RV
mx_unlock(CK_VOID_PTR m)
{
	return pthread_mutex_unlock(m) == 0 ? CKR_OK : CKR_MUTEX_NOT_LOCKED;
}

/* ------------------------------------------------------------------ */
/* one thread                                                          */
/* ------------------------------------------------------------------ */

static void *
worker(void *arg)
{
	const struct job *j = arg;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE h, ke, kpsa, kpsa2, shared;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE lt[] = { { CKA_LABEL, NULL, 0 } };
	CK_ATTRIBUTE dt[] = { { CKA_TOKEN, &yes, 1 }, { CKA_LABEL, NULL, 0 } };
	CK_ULONG n, ml;
	uint8_t v[32], mac[32];
	char label[64], peer[96];
	int i;

	T_RV(F->C_OpenSession(SLOT, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
	    NULL, &s), CKR_OK, "%c p%d t%d: C_OpenSession", j->mode, j->proc,
	    j->thread);
	n = p11c_count_label(s, KEID, CK_M2M_ROLE_KE, &ke);
	T_OK(n == 1, "%c p%d t%d: the shared KE is found", j->mode, j->proc,
	    j->thread);
	/* first, while the other process starts too: the same Kpsa */
	for (i = 0; i < NRACE; i++) {
		snprintf(label, sizeof(label), SHARED_LABEL "-%c-%d", j->mode,
		    i);
		dt[1].pValue = label;
		dt[1].ulValueLen = strlen(label);
		T_RV(p11c_derive(s, CKM_M2M_KPSA_DERIVE, SHARED_PEER,
		    strlen(SHARED_PEER), ke, dt, 2, &shared), CKR_OK,
		    "%c p%d t%d: derive %s", j->mode, j->proc, j->thread,
		    label);
	}
	for (i = 0; i < NKEYS; i++) {
		snprintf(label, sizeof(label), "%c-p%d-t%d-k%d", j->mode,
		    j->proc, j->thread, i);
		memset(v, (int)(i + 16 * j->thread), sizeof(v));
		T_RV(p11c_import_ex(s, 0, label, CKK_GENERIC_SECRET, v, 32,
		    CK_TRUE, NULL, 0, &h), CKR_OK, "%s: create", label);
		ml = sizeof(mac);
		T_RV(p11c_sign(s, CKM_SHA256_HMAC, h, label, strlen(label),
		    mac, &ml), CKR_OK, "%s: sign", label);
		T_OK(ml == 32, "%s: 32-byte MAC", label);
		lt[0].pValue = label;
		lt[0].ulValueLen = strlen(label);
		n = p11c_find(s, lt, 1, NULL, 0);
		T_OK(n == 1, "%s: found %lu times by label", label, n);
	}
	snprintf(label, sizeof(label), "kpsa-%c-p%d-t%d", j->mode, j->proc,
	    j->thread);
	snprintf(peer, sizeof(peer), "/in-cse.example.com/%s", label);
	dt[1].pValue = label;
	dt[1].ulValueLen = strlen(label);
	T_RV(p11c_derive(s, CKM_M2M_KPSA_DERIVE, peer, strlen(peer), ke, dt, 2,
	    &kpsa), CKR_OK, "%s: derive", label);
	T_RV(p11c_derive(s, CKM_M2M_KPSA_DERIVE, peer, strlen(peer), ke, dt, 2,
	    &kpsa2), CKR_OK, "%s: derive again", label);
	T_OK(kpsa == kpsa2, "%s: the same handle twice", label);
	T_RV(F->C_CloseSession(s), CKR_OK, "%c p%d t%d: C_CloseSession",
	    j->mode, j->proc, j->thread);
	return NULL;
}

/* One child process: initialise, log in, run the threads, finalise. */
static int
child(char mode, int proc)
{
	CK_C_INITIALIZE_ARGS ia;
	CK_SESSION_HANDLE s;
	pthread_t th[NTHREAD];
	struct job jobs[NTHREAD];
	int i;

	memset(&ia, 0, sizeof(ia));
	if (mode == 'o')
		ia.flags = CKF_OS_LOCKING_OK;
	else {
		ia.CreateMutex = mx_create;
		ia.DestroyMutex = mx_destroy;
		ia.LockMutex = mx_lock;
		ia.UnlockMutex = mx_unlock;
	}
	T_RV(F->C_Initialize(&ia), CKR_OK, "%c p%d: C_Initialize", mode,
	    proc);
	if (t_errors != 0)
		return 1;
	s = p11c_user_session(SLOT);
	for (i = 0; i < NTHREAD; i++) {
		jobs[i] = (struct job){ mode, proc, i };
		if (pthread_create(&th[i], NULL, worker, &jobs[i]) != 0)
			p11c_bail("pthread_create");
	}
	for (i = 0; i < NTHREAD; i++)
		pthread_join(th[i], NULL);
	T_RV(F->C_CloseSession(s), CKR_OK, "%c p%d: C_CloseSession", mode,
	    proc);
	T_RV(F->C_Finalize(NULL), CKR_OK, "%c p%d: C_Finalize", mode, proc);
	if (mode == 'a')
		T_OK(mx_created >= 1 && mx_locks > 0, "%c p%d: the module used "
		    "the application's mutexes (%u created, %u locks)", mode,
		    proc, mx_created, mx_locks);
	printf("# [%s] %c p%d: %d threads done, %u failures\n", p11c_backend,
	    mode, proc, NTHREAD, t_errors);
	return t_errors == 0 ? 0 : 1;
}

/* 1 if the processes cannot share the backend at the same time */
static int
one_process_at_a_time(void)
{
	const char *tcti = getenv("M2M_TCTI");

	return strcmp(p11c_backend, "tpm") == 0 && tcti != NULL &&
	    (strncmp(tcti, "swtpm", 5) == 0 || strncmp(tcti, "mssim", 5) == 0);
}

static void
wait_child(char mode, int i, pid_t pid)
{
	int status = 0;

	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "%s: process %d: every call succeeded (status 0x%x)",
	    mode == 'o' ? "CKF_OS_LOCKING_OK" : "application mutexes", i,
	    status);
}

static void
run_phase(char mode)
{
	pid_t pid[NPROC];
	int i, serial = one_process_at_a_time();

	if (serial)
		p11c_note("TPM without a resource manager (%s): the processes "
		    "run one after the other", getenv("M2M_TCTI"));
	fflush(stdout);
	for (i = 0; i < NPROC; i++) {
		if ((pid[i] = fork()) < 0)
			p11c_bail("fork: %s", strerror(errno));
		if (pid[i] == 0) {
			int r = child(mode, i);

			fflush(stdout);
			_exit(r);
		}
		if (serial)
			wait_child(mode, i, pid[i]);
	}
	for (i = 0; i < NPROC && !serial; i++)
		wait_child(mode, i, pid[i]);
}

/* every expected label exactly once */
static void
verify(char mode)
{
	CK_SESSION_HANDLE s;
	CK_ULONG n, bad = 0, total = 0;
	char label[64];
	int p, t, k;

	s = p11c_user_session(SLOT);
	for (p = 0; p < NPROC; p++) {
		for (t = 0; t < NTHREAD; t++) {
			for (k = 0; k < NKEYS; k++) {
				snprintf(label, sizeof(label), "%c-p%d-t%d-k%d",
				    mode, p, t, k);
				n = p11c_count_label(s, label, (CK_ULONG)~0UL,
				    NULL);
				total++;
				if (n != 1) {
					bad++;
					p11c_note("%s found %lu times", label,
					    n);
				}
			}
			snprintf(label, sizeof(label), "kpsa-%c-p%d-t%d", mode,
			    p, t);
			n = p11c_count_label(s, label, CK_M2M_ROLE_KPSA, NULL);
			total++;
			if (n != 1) {
				bad++;
				p11c_note("%s found %lu times", label, n);
			}
		}
	}
	CHECK(bad == 0, "%s: all %lu keys and Kpsa exist exactly once "
	    "(%lu wrong)", mode == 'o' ? "CKF_OS_LOCKING_OK" :
	    "application mutexes", total, bad);
	for (k = 0, bad = 0; k < NRACE; k++) {
		snprintf(label, sizeof(label), SHARED_LABEL "-%c-%d", mode, k);
		n = p11c_count_label(s, label, CK_M2M_ROLE_KPSA, NULL);
		CHECK(n >= 1, "%s (derived by %d threads) exists", label,
		    NPROC * NTHREAD);
		if (n > 1)
			bad++;
	}
	CHECK(bad == 0, "%s: each of %d Kpsa derived by %d "
	    "threads with the same (label, peer) exists once (%lu doubled)",
	    mode == 'o' ? "CKF_OS_LOCKING_OK" : "application mutexes", NRACE,
	    NPROC * NTHREAD, bad);
	P11C_MUST(F->C_CloseSession(s));
}

int
main(int argc, char **argv)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE ke;
	uint8_t v[32];

	p11c_load(argc, argv);
	s = p11c_setup("concurrency", &SLOT);
	memset(v, 0xee, sizeof(v));
	P11C_MUST(p11c_import_ex(s, CK_M2M_ROLE_KE, KEID, CKK_GENERIC_SECRET,
	    v, 32, CK_TRUE, NULL, 0, &ke));
	P11C_MUST(F->C_Finalize(NULL));

	run_phase('o');
	run_phase('a');

	P11C_MUST(F->C_Initialize(NULL));
	verify('o');
	verify('a');
	CHECK_RV(F->C_Finalize(NULL), CKR_OK, "C_Finalize");
	return p11c_finish();
}
