/*
 * client_probe: a small client of the module for test_client_mode.sh
 * (public PKCS#11 API only: dlopen of $M2MTOKEN_MODULE).  Prints one line
 * per call, "<name> 0x<rv>", and for timed calls the milliseconds taken.
 *
 *   client_probe init          C_Initialize, C_GetInfo, C_Finalize
 *   client_probe timeout       C_Initialize, C_CloseSession (timed),
 *                              C_GetInfo (timed), C_Finalize
 *   client_probe inflight N    C_Initialize, N threads each one
 *                              C_CloseSession at once, C_Finalize
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <m2mtoken/pkcs11-m2m.h>

#define THREADS_MAX	64

static CK_FUNCTION_LIST_PTR F;

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
	CK_INFO info;
	CK_RV rv;
	void *dl;
	int i, n;

	if (argc < 2 || module == NULL || (dl = dlopen(module,
	    RTLD_NOW)) == NULL || (get = (CK_C_GetFunctionList)dlsym(dl,
	    "C_GetFunctionList")) == NULL || get(&F) != CKR_OK) {
		fprintf(stderr, "usage: M2MTOKEN_MODULE=... client_probe "
		    "init|timeout|inflight N\n");
		return 2;
	}
	rv = F->C_Initialize(NULL);
	printf("C_Initialize 0x%lx\n", rv);
	if (strcmp(argv[1], "init") == 0) {
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
	} else
		return 2;
	printf("C_Finalize 0x%lx\n", F->C_Finalize(NULL));
	return 0;
}
