/*
 * p11_forklogin: fork() while other threads' C_Login check the PIN.  The
 * PIN check runs without the module lock (a TPM command, or PBKDF2); a
 * fork landing in it gave the child the TPM connection with a command in
 * flight, and the child's C_Initialize and the parent's next TPM command
 * both blocked.  The fork handlers now wait until no PIN check is in
 * flight.  Two threads log in and out in a loop; the main thread forks
 * FORKS times, and each child must initialise, open a session, log in and
 * finalise within CHILD_SECS; the parent's login threads must go on.  An
 * alarm in the parent kills the child it waits for and fails the test
 * rather than hanging it.
 */
#include <sys/wait.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "p11client.h"

#define TOKEN		"forklogin"
#define FORKS		12
#define LOGGERS		3
#define CHILD_SECS	4
#define PARENT_SECS	30

static CK_SLOT_ID slot;
static int stop;
static unsigned long logins[LOGGERS];
static volatile pid_t child_pid;

/* One thread: C_Login and C_Logout on its own session until stop. */
static void *
logger(void *arg)
{
	unsigned long *n = arg;
	CK_SESSION_HANDLE s;

	P11C_MUST(F->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s));
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		if (F->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)P11C_USER_PIN,
		    strlen(P11C_USER_PIN)) == CKR_OK) {
			__atomic_add_fetch(n, 1, __ATOMIC_RELAXED);
			(void)F->C_Logout(s);
		}
	}
	return NULL;
}

/* The parent hangs: stop its child too, and fail. */
static void
parent_alarm(int sig)
{
	static const char msg[] = "not ok - the parent hung (SIGALRM)\n";

	(void)sig;
	if (child_pid > 0)
		(void)kill(child_pid, SIGKILL);
	/* a signal handler: nothing to do if the line is lost */
	if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(1);
	_exit(1);
}

/* The child's work: 0 when every call answered CKR_OK. */
static int
child(void)
{
	CK_SESSION_HANDLE s;

	signal(SIGALRM, SIG_DFL);	/* the parent's handler is not the child's */
	alarm(CHILD_SECS);
	if (F->C_Initialize(NULL) != CKR_OK ||
	    F->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s) !=
	    CKR_OK ||
	    F->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)P11C_USER_PIN,
	    strlen(P11C_USER_PIN)) != CKR_OK ||
	    F->C_Finalize(NULL) != CKR_OK)
		return 1;
	return 0;
}

int
main(int argc, char **argv)
{
	pthread_t th[LOGGERS];
	CK_SESSION_HANDLE s;
	unsigned long before;
	int i, st, hung = 0, failed = 0;
	pid_t pid;

	p11c_load(argc, argv);
	s = p11c_setup(TOKEN, &slot);
	P11C_MUST(F->C_Logout(s));
	signal(SIGALRM, parent_alarm);
	alarm(PARENT_SECS);
	for (i = 0; i < LOGGERS; i++)
		if (pthread_create(&th[i], NULL, logger, &logins[i]) != 0)
			p11c_bail("pthread_create");
	/* both threads are in their loops before the first fork */
	while (__atomic_load_n(&logins[0], __ATOMIC_RELAXED) == 0 ||
	    __atomic_load_n(&logins[LOGGERS - 1], __ATOMIC_RELAXED) == 0)
		usleep(1000);
	for (i = 0; i < FORKS; i++) {
		usleep(1000 + 500 * i);
		fflush(stdout);
		if ((pid = fork()) < 0)
			p11c_bail("fork: %s", strerror(errno));
		if (pid == 0)
			_exit(child());
		child_pid = pid;
		st = 0;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		child_pid = 0;
		if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM) {
			hung++;
			p11c_note("child %d hung (SIGALRM)", i);
		} else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			failed++;
			p11c_note("child %d failed (status 0x%x)", i, st);
		}
	}
	CHECK(hung == 0, "fork during other threads' C_Login: %d of %d "
	    "children hung", hung, FORKS);
	CHECK(failed == 0, "every other child initialised, logged in and "
	    "finalised (%d failed)", failed);
	/* the parent goes on: its threads log in after the last fork */
	before = __atomic_load_n(&logins[0], __ATOMIC_RELAXED);
	while (__atomic_load_n(&logins[0], __ATOMIC_RELAXED) == before)
		usleep(1000);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < LOGGERS; i++)
		pthread_join(th[i], NULL);
	alarm(0);
	CHECK(1, "the parent's C_Login threads went on (%lu, %lu logins)",
	    logins[0], logins[LOGGERS - 1]);
	CHECK_RV(F->C_Finalize(NULL), CKR_OK, "C_Finalize");
	return p11c_finish();
}
