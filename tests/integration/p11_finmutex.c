/*
 * p11_finmutex: C_Finalize while other threads enter the module, with the
 * application's mutex callbacks (CK_C_INITIALIZE_ARGS without
 * CKF_OS_LOCKING_OK).  A thread blocked in LockMutex while C_Finalize held
 * the mutex used to wake after C_Finalize had destroyed it, find the
 * module uninitialised and unlock the module's own lock instead, which it
 * never took: the application's mutex stayed locked for good (the next
 * round's threads hung on it) and was locked after its DestroyMutex.
 * ROUNDS times: C_Initialize with the callbacks, THREADS threads calling
 * C_GetInfo in a loop, C_Finalize under them, join.  The callbacks check a
 * magic (a lock or unlock after DestroyMutex is counted), an error-checking
 * mutex counts unlocks by a thread that does not hold it, and every mutex
 * must be unlocked when destroyed.  An alarm fails the test, not hangs it.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "p11client.h"

#define ROUNDS		30
#define THREADS		4
#define ALARM_SECS	20
#define MAGIC		0x6d757478u
#define DEAD		0xdeadu

struct amx {
	unsigned int	 magic;
	pthread_mutex_t	 m;
};

static struct amx *made[ROUNDS * 2];
static int nmade;
static int after_destroy, bad_unlock, destroyed_locked;
static int stop;

static void
count(int *n)
{
	__atomic_add_fetch(n, 1, __ATOMIC_SEQ_CST);
}

static CK_RV
create_mutex(CK_VOID_PTR_PTR pp)
{
	pthread_mutexattr_t at;
	struct amx *a;

	if (nmade == ROUNDS * 2 || (a = calloc(1, sizeof(*a))) == NULL)
		return CKR_HOST_MEMORY;
	pthread_mutexattr_init(&at);
	pthread_mutexattr_settype(&at, PTHREAD_MUTEX_ERRORCHECK);
	pthread_mutex_init(&a->m, &at);
	pthread_mutexattr_destroy(&at);
	a->magic = MAGIC;
	made[nmade++] = a;	/* C_Initialize: one thread */
	*pp = a;
	return CKR_OK;
}

/* Kept, not freed: a later use is seen by its magic, not a crash. */
static CK_RV
destroy_mutex(CK_VOID_PTR p)
{
	struct amx *a = p;

	if (pthread_mutex_trylock(&a->m) != 0)
		count(&destroyed_locked);
	else
		pthread_mutex_unlock(&a->m);
	a->magic = DEAD;
	return CKR_OK;
}

static CK_RV
lock_mutex(CK_VOID_PTR p)
{
	struct amx *a = p;

	if (a->magic != MAGIC)
		count(&after_destroy);
	pthread_mutex_lock(&a->m);
	if (a->magic != MAGIC)
		count(&after_destroy);
	return CKR_OK;
}

static CK_RV
unlock_mutex(CK_VOID_PTR p)
{
	struct amx *a = p;

	if (a->magic != MAGIC)
		count(&after_destroy);
	if (pthread_mutex_unlock(&a->m) != 0)
		count(&bad_unlock);
	return CKR_OK;
}

static void *
caller(void *arg)
{
	CK_INFO info;

	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE))
		(void)F->C_GetInfo(&info);
	return NULL;
}

static void
hung(int sig)
{
	static const char msg[] = "not ok - a thread hung on the "
	    "application's mutex (SIGALRM)\n";

	(void)sig;
	/* a signal handler: nothing to do if the line is lost */
	if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(1);
	_exit(1);
}

int
main(int argc, char **argv)
{
	CK_C_INITIALIZE_ARGS ia = { create_mutex, destroy_mutex, lock_mutex,
	    unlock_mutex, 0, NULL };
	pthread_t th[THREADS];
	int i, round;

	p11c_load(argc, argv);
	signal(SIGALRM, hung);
	alarm(ALARM_SECS);
	for (round = 0; round < ROUNDS; round++) {
		P11C_MUST(F->C_Initialize(&ia));
		__atomic_store_n(&stop, 0, __ATOMIC_RELEASE);
		for (i = 0; i < THREADS; i++)
			if (pthread_create(&th[i], NULL, caller, NULL) != 0)
				p11c_bail("pthread_create");
		usleep(500);
		P11C_MUST(F->C_Finalize(NULL));
		usleep(200);
		__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
		for (i = 0; i < THREADS; i++)
			pthread_join(th[i], NULL);
	}
	alarm(0);
	CHECK(after_destroy == 0, "no lock or unlock of a destroyed "
	    "application mutex (%d)", after_destroy);
	CHECK(bad_unlock == 0, "no unlock of the application's mutex by a "
	    "thread not holding it (%d)", bad_unlock);
	CHECK(destroyed_locked == 0, "the application's mutex is unlocked "
	    "when destroyed (%d)", destroyed_locked);
	CHECK(nmade == ROUNDS, "one mutex per C_Initialize (%d)", nmade);
	for (i = 0; i < nmade; i++) {
		pthread_mutex_destroy(&made[i]->m);
		free(made[i]);
	}
	return p11c_finish();
}
