/*
 * client_probe: a small client of the module for test_client_mode.sh
 * (public PKCS#11 API only: dlopen of $M2MTOKEN_MODULE).  Prints one line
 * per call, "<name> 0x<rv>", and for timed calls the milliseconds taken.
 *
 *   client_probe init          C_Initialize, C_GetInfo, C_Finalize
 *   client_probe timeout       C_Initialize, C_CloseSession (timed),
 *                              C_GetInfo (timed), C_Finalize
 *   client_probe closed        C_Initialize, then (with SIGPIPE's default
 *                              action) waits for EOF on stdin, the sign
 *                              that the daemon closed the connection,
 *                              then C_GetInfo, C_Finalize
 *   client_probe inflight N    C_Initialize, N threads each one
 *                              C_CloseSession at once, C_Finalize
 *   client_probe mktoken LABEL C_InitToken of the free slot; "slot N"
 *   client_probe slots         "slots K" and "slot N LABEL" per slot
 *   client_probe tokeninfo N   C_GetTokenInfo of slot N
 *   client_probe inittoken N LABEL
 *                              C_InitToken of slot N
 */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <m2mtoken/pkcs11-m2m.h>

#define THREADS_MAX	64

#define SO_PIN		"so-pin-5678"
#define SLOTS_MAX	128

static CK_FUNCTION_LIST_PTR F;

static void
pad(CK_UTF8CHAR out[32], const char *s)
{
	size_t n = strlen(s);

	memset(out, ' ', 32);
	memcpy(out, s, n < 32 ? n : 32);
}

static int
slots(void)
{
	CK_SLOT_ID list[SLOTS_MAX];
	CK_ULONG n = SLOTS_MAX, i;
	CK_TOKEN_INFO ti;
	CK_RV rv;
	int len;

	if ((rv = F->C_GetSlotList(CK_FALSE, list, &n)) != CKR_OK) {
		printf("C_GetSlotList 0x%lx\n", rv);
		return 1;
	}
	printf("slots %lu\n", n);
	for (i = 0; i < n; i++) {
		if ((rv = F->C_GetTokenInfo(list[i], &ti)) != CKR_OK) {
			printf("slot %lu C_GetTokenInfo 0x%lx\n", list[i], rv);
			continue;
		}
		for (len = 32; len > 0 && ti.label[len - 1] == ' '; len--)
			;
		printf("slot %lu %.*s\n", list[i], len, (char *)ti.label);
	}
	return 0;
}

static int
mktoken(const char *label)
{
	CK_SLOT_ID list[SLOTS_MAX];
	CK_ULONG n = SLOTS_MAX, i;
	CK_TOKEN_INFO ti;
	CK_UTF8CHAR l[32];

	if (F->C_GetSlotList(CK_FALSE, list, &n) != CKR_OK)
		return 1;
	for (i = 0; i < n; i++) {
		if (F->C_GetTokenInfo(list[i], &ti) != CKR_OK ||
		    (ti.flags & CKF_TOKEN_INITIALIZED) != 0)
			continue;
		pad(l, label);
		if (F->C_InitToken(list[i], (CK_UTF8CHAR_PTR)SO_PIN,
		    strlen(SO_PIN), l) != CKR_OK)
			return 1;
		printf("slot %lu\n", list[i]);
		return 0;
	}
	return 1;
}

static long
ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 +
	    (t.tv_nsec - t0->tv_nsec) / 1000000;
}

struct job {
	CK_SESSION_HANDLE	h;
	CK_RV			rv;
};

static void *
close_one(void *arg)
{
	struct job *j = arg;

	j->rv = F->C_CloseSession(j->h);
	return NULL;
}

int
main(int argc, char **argv)
{
	CK_C_GetFunctionList get;
	const char *module = getenv("M2MTOKEN_MODULE");
	pthread_t th[THREADS_MAX];
	struct job jobs[THREADS_MAX];
	struct timespec t0;
	CK_TOKEN_INFO tinfo;
	CK_UTF8CHAR label[32];
	CK_INFO info;
	CK_RV rv;
	void *dl;
	int i, n;

	if (argc < 2 || module == NULL || (dl = dlopen(module,
	    RTLD_NOW)) == NULL || (get = (CK_C_GetFunctionList)dlsym(dl,
	    "C_GetFunctionList")) == NULL || get(&F) != CKR_OK) {
		fprintf(stderr, "usage: M2MTOKEN_MODULE=... client_probe "
		    "init|closed|timeout|inflight N|...\n");
		return 2;
	}
	/* a test runner may ignore SIGPIPE: an application need not */
	if (signal(SIGPIPE, SIG_DFL) == SIG_ERR)
		return 2;
	rv = F->C_Initialize(NULL);
	printf("C_Initialize 0x%lx\n", rv);
	fflush(stdout);
	if (strcmp(argv[1], "init") == 0) {
		printf("C_GetInfo 0x%lx\n", F->C_GetInfo(&info));
	} else if (strcmp(argv[1], "closed") == 0) {
		while (getchar() != EOF)
			;
		printf("C_GetInfo 0x%lx\n", F->C_GetInfo(&info));
	} else if (strcmp(argv[1], "timeout") == 0) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		rv = F->C_CloseSession(1);
		printf("C_CloseSession 0x%lx %ld\n", rv, ms_since(&t0));
		clock_gettime(CLOCK_MONOTONIC, &t0);
		rv = F->C_GetInfo(&info);
		printf("C_GetInfo 0x%lx %ld\n", rv, ms_since(&t0));
	} else if (strcmp(argv[1], "inflight") == 0 && argc > 2) {
		n = (int)strtol(argv[2], NULL, 10);
		if (n < 1 || n > THREADS_MAX)
			return 2;
		for (i = 0; i < n; i++) {
			jobs[i].h = (CK_SESSION_HANDLE)i + 1;
			jobs[i].rv = 0xdead;
			if (pthread_create(&th[i], NULL, close_one,
			    &jobs[i]) != 0)
				return 1;
		}
		for (i = 0; i < n; i++) {
			pthread_join(th[i], NULL);
			printf("C_CloseSession 0x%lx\n", jobs[i].rv);
		}
	} else if (strcmp(argv[1], "mktoken") == 0 && argc > 2) {
		if (mktoken(argv[2]) != 0)
			return 1;
	} else if (strcmp(argv[1], "slots") == 0) {
		if (slots() != 0)
			return 1;
	} else if (strcmp(argv[1], "tokeninfo") == 0 && argc > 2) {
		printf("C_GetTokenInfo 0x%lx\n", F->C_GetTokenInfo(
		    strtoul(argv[2], NULL, 10), &tinfo));
	} else if (strcmp(argv[1], "inittoken") == 0 && argc > 3) {
		pad(label, argv[3]);
		printf("C_InitToken 0x%lx\n", F->C_InitToken(
		    strtoul(argv[2], NULL, 10), (CK_UTF8CHAR_PTR)SO_PIN,
		    strlen(SO_PIN), label));
	} else
		return 2;
	printf("C_Finalize 0x%lx\n", F->C_Finalize(NULL));
	return 0;
}
