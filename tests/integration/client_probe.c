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
 *   client_probe finrace S     for S seconds: C_Initialize, 3 threads
 *                              calling C_CloseSession in a loop while
 *                              C_Finalize comes after 0 to 2 ms; each
 *                              call must return CKR_OK or
 *                              CKR_CRYPTOKI_NOT_INITIALIZED; "rounds N"
 *   client_probe finblocked    C_Initialize, a thread's C_CloseSession
 *                              that gets no reply, C_Finalize after
 *                              200 ms: both lines timed
 *   client_probe mktoken LABEL C_InitToken of the free slot; "slot N"
 *   client_probe slots         "slots K" and "slot N LABEL" per slot
 *   client_probe tokeninfo N   C_GetTokenInfo of slot N
 *   client_probe inittoken N LABEL
 *                              C_InitToken of slot N
 */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
	long			ms;
	int			stop;
};

static void *
close_one(void *arg)
{
	struct job *j = arg;
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	j->rv = F->C_CloseSession(j->h);
	j->ms = ms_since(&t0);
	return NULL;
}

/* C_CloseSession until C_Finalize ends the module or a call goes wrong */
static void *
close_loop(void *arg)
{
	struct job *j = arg;
	CK_RV rv;

	while (!__atomic_load_n(&j->stop, __ATOMIC_ACQUIRE)) {
		rv = F->C_CloseSession(j->h);
		if (rv == CKR_CRYPTOKI_NOT_INITIALIZED)
			break;
		if (rv != CKR_OK) {
			j->rv = rv;
			break;
		}
	}
	return NULL;
}

/*
 * C_Finalize while other threads are in calls (PKCS#11 leaves it to the
 * module): the module must wait for them, wake the one that reads, and
 * free nothing they still use.  Under ASan the old module read freed
 * waiters.  0, or 1 with a line on what went wrong.
 */
static int
finrace(int seconds)
{
	pthread_t th[3];
	struct job jobs[3];
	struct timespec t0;
	unsigned int seed = 1;
	CK_RV rv;
	long rounds = 0;
	int i;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (ms_since(&t0) < seconds * 1000L) {
		if (rounds > 0 && (rv = F->C_Initialize(NULL)) != CKR_OK) {
			printf("round %ld: C_Initialize 0x%lx\n", rounds, rv);
			return 1;
		}
		for (i = 0; i < 3; i++) {
			jobs[i] = (struct job){ 1, CKR_OK, 0, 0 };
			if (pthread_create(&th[i], NULL, close_loop,
			    &jobs[i]) != 0)
				return 1;
		}
		usleep(rand_r(&seed) % 2000);
		if ((rv = F->C_Finalize(NULL)) != CKR_OK) {
			printf("round %ld: C_Finalize 0x%lx\n", rounds, rv);
			return 1;
		}
		for (i = 0; i < 3; i++) {
			__atomic_store_n(&jobs[i].stop, 1, __ATOMIC_RELEASE);
			pthread_join(th[i], NULL);
		}
		for (i = 0; i < 3; i++) {
			if (jobs[i].rv != CKR_OK) {
				printf("round %ld: C_CloseSession 0x%lx\n",
				    rounds, jobs[i].rv);
				return 1;
			}
		}
		rounds++;
	}
	printf("rounds %ld\n", rounds);
	/* main's own C_Finalize follows: the module is initialised again */
	return F->C_Initialize(NULL) == CKR_OK ? 0 : 1;
}

/*
 * A C_GenerateRandom in flight on one thread while this one's repeated
 * C_SignInit is held (pipelined, not sent): fake mode "early" answers
 * the held init's id before it was sent, then the C_GenerateRandom.
 */
static void *
random_one(void *arg)
{
	CK_RV *rv = arg;
	uint8_t buf[16];

	*rv = F->C_GenerateRandom(7, buf, sizeof(buf));
	return NULL;
}

static int
early(void)
{
	CK_MECHANISM m = { CKM_SHA256_HMAC, NULL, 0 };
	uint8_t mac[32];
	CK_ULONG ml = sizeof(mac);
	CK_RV rv = 0xdead;
	pthread_t th;

	printf("C_SignInit 0x%lx\n", F->C_SignInit(1, &m, 2));
	printf("C_Sign 0x%lx\n", F->C_Sign(1, (CK_BYTE_PTR)"x", 1, mac,
	    &ml));
	if (pthread_create(&th, NULL, random_one, &rv) != 0)
		return 1;
	usleep(200000);
	printf("C_SignInit(held) 0x%lx\n", F->C_SignInit(1, &m, 2));
	fflush(stdout);
	pthread_join(th, NULL);
	printf("C_GenerateRandom 0x%lx\n", rv);
	return 0;
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
	} else if (strcmp(argv[1], "finrace") == 0 && argc > 2) {
		alarm(60);	/* a hang is a failure, not a stuck test */
		if (finrace((int)strtol(argv[2], NULL, 10)) != 0)
			return 1;
	} else if (strcmp(argv[1], "finblocked") == 0) {
		alarm(60);
		jobs[0] = (struct job){ 1, 0xdead, 0, 0 };
		if (pthread_create(&th[0], NULL, close_one, &jobs[0]) != 0)
			return 1;
		usleep(200000);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		rv = F->C_Finalize(NULL);
		printf("C_Finalize(blocked) 0x%lx %ld\n", rv, ms_since(&t0));
		pthread_join(th[0], NULL);
		printf("C_CloseSession 0x%lx %ld\n", jobs[0].rv,
		    jobs[0].ms - 200);
		return 0;
	} else if (strcmp(argv[1], "inflight") == 0 && argc > 2) {
		n = (int)strtol(argv[2], NULL, 10);
		if (n < 1 || n > THREADS_MAX)
			return 2;
		for (i = 0; i < n; i++) {
			jobs[i] = (struct job){ (CK_SESSION_HANDLE)i + 1,
			    0xdead, 0, 0 };
			if (pthread_create(&th[i], NULL, close_one,
			    &jobs[i]) != 0)
				return 1;
		}
		for (i = 0; i < n; i++) {
			pthread_join(th[i], NULL);
			printf("C_CloseSession 0x%lx\n", jobs[i].rv);
		}
	} else if (strcmp(argv[1], "early") == 0) {
		alarm(60);
		if (early() != 0)
			return 1;
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
