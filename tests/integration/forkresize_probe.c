/*
 * forkresize_probe: a fork while another thread's frame buffer grows, for
 * test_client_forkresize.sh, which runs it under gdb against a fake daemon
 * (public PKCS#11 API only: dlopen of $M2MTOKEN_MODULE).
 *
 *   forkresize_probe login     C_Login with a PIN of PIN_LEN bytes: the
 *                              request buffer grows (256 -> 4096 bytes)
 *   forkresize_probe random    C_GenerateRandom of RANDOM_LEN bytes: the
 *                              reply buffer grows, in the reader
 *
 * The main thread sets forkresize_armed just before that call; gdb stops
 * it inside p11wire's resize (a breakpoint on that condition) and sets
 * forkresize_go, then lets the forker thread alone run: it forks, the
 * child calls C_Initialize (which frees the parent's buffers) and
 * C_Finalize.  The forker prints "child exit N" or "child signal N" and
 * calls forkresize_forked (gdb stops there); the main thread prints
 * "<call> 0x<rv>".  Exit status 0 only when the child exited 0.
 *
 * SIGALRM is blocked in every thread but the forker, which sets alarm(2)
 * just before fork(): a fork that waits for the resize to end (while gdb
 * runs the forker alone) is stopped by it instead of hanging.
 */
#include <sys/wait.h>

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <m2mtoken/pkcs11-m2m.h>

#define PIN_LEN		3000
#define RANDOM_LEN	3000

static CK_FUNCTION_LIST_PTR F;
static int child_ok;
/* set and read by gdb too: not static, not cached in a register */
volatile int forkresize_armed, forkresize_go, forkresize_quit;

/* gdb's breakpoint: the forker is done */
__attribute__((noinline)) void
forkresize_forked(void)
{
	__asm__ volatile("" ::: "memory");
}

static void *
forker(void *arg)
{
	const struct timespec ms = { 0, 1000000 };
	sigset_t alrm;
	CK_RV rv;
	pid_t pid;
	int st;

	(void)arg;
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	pthread_sigmask(SIG_UNBLOCK, &alrm, NULL);
	while (!forkresize_go && !forkresize_quit)
		nanosleep(&ms, NULL);
	if (forkresize_quit)
		return NULL;
	alarm(2);
	if ((pid = fork()) == -1) {
		perror("fork");
		return NULL;
	}
	if (pid == 0) {
		rv = F->C_Initialize(NULL);
		printf("child: C_Initialize 0x%lx\n", rv);
		if (rv == CKR_OK)
			rv = F->C_Finalize(NULL);
		_exit(rv == CKR_OK ? 0 : 2);
	}
	alarm(0);
	if (waitpid(pid, &st, 0) != pid)
		perror("waitpid");
	else if (WIFSIGNALED(st))
		printf("child signal %d\n", WTERMSIG(st));
	else {
		printf("child exit %d\n", WEXITSTATUS(st));
		child_ok = WEXITSTATUS(st) == 0;
	}
	forkresize_forked();
	return NULL;
}

int
main(int argc, char **argv)
{
	static CK_UTF8CHAR pin[PIN_LEN];
	static CK_BYTE rnd[RANDOM_LEN];
	CK_RV (*gfl)(CK_FUNCTION_LIST_PTR_PTR);
	const char *mod = getenv("M2MTOKEN_MODULE");
	sigset_t alrm;
	pthread_t t;
	void *dl;
	CK_RV rv;
	int login;

	if (argc != 2 || (strcmp(argv[1], "login") != 0 &&
	    strcmp(argv[1], "random") != 0)) {
		fprintf(stderr, "usage: forkresize_probe login|random\n");
		return 2;
	}
	login = strcmp(argv[1], "login") == 0;
	/* the parent's and the child's lines in order, none twice */
	setvbuf(stdout, NULL, _IONBF, 0);
	if (mod == NULL || (dl = dlopen(mod, RTLD_NOW)) == NULL ||
	    (gfl = (CK_RV (*)(CK_FUNCTION_LIST_PTR_PTR))dlsym(dl,
	    "C_GetFunctionList")) == NULL || gfl(&F) != CKR_OK) {
		fprintf(stderr, "cannot load the module: %s\n", dlerror());
		return 2;
	}
	printf("C_Initialize 0x%lx\n", F->C_Initialize(NULL));
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &alrm, NULL);
	if (pthread_create(&t, NULL, forker, NULL) != 0)
		return 2;
	forkresize_armed = 1;
	if (login) {
		memset(pin, 'p', sizeof(pin));
		rv = F->C_Login(1, CKU_USER, pin, sizeof(pin));
	} else
		rv = F->C_GenerateRandom(1, rnd, sizeof(rnd));
	forkresize_armed = 0;
	printf("%s 0x%lx\n", login ? "C_Login" : "C_GenerateRandom", rv);
	if (!forkresize_go) {
		printf("no resize seen\n");
		forkresize_quit = 1;
	}
	pthread_join(t, NULL);
	(void)F->C_Finalize(NULL);
	return child_ok && rv == CKR_OK ? 0 : 1;
}
