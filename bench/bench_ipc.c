/*
 * bench_ipc: a MIC through m2mtokend's flow IPC (libm2mtoken-client,
 * io.m2mtoken.Mic, one round trip per MIC) against the same HMAC made
 * in-process (C_SignInit + C_Sign with CKM_SHA256_HMAC on the same E2E
 * message-authentication key, libm2mtoken.so loaded in this process), at
 * 1 and 8 concurrent clients (threads; each its own connection or its own
 * PKCS#11 session).  The two sides alternate, round after round, in the
 * same run.  Nothing asserts on time: it prints a markdown table.
 *
 *   bench_ipc SOCKET TOKEN-LABEL E2EKEYID
 *
 * Environment: M2MTOKEN_MODULE, M2MTOKEN_CONF (the daemon's token),
 * M2MTOKEN_USER_PIN (default 1234), BENCH_SECONDS (one round of one side,
 * default 1), BENCH_ROUNDS (default 5).  bench/run_ipc sets it all up.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <m2mtoken/client.h>

#include "bench.h"

#define MSG_LEN		64
#define CLIENTS_MAX	8

static const char *sock_path, *e2e_id;
static struct bench_mod mod;
static CK_SLOT_ID slot;

struct worker {
	pthread_t	 t;
	int		 ipc;		/* 1: IPC, 0: in-process */
	double		 until;
	unsigned long	 ops;
	struct m2m_client *c;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key;
};

static CK_OBJECT_HANDLE
find_key(CK_SESSION_HANDLE s)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ULONG role = CK_M2M_ROLE_KE2E_MSG_AUTH, n = 0;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)e2e_id, strlen(e2e_id) },
		{ CKA_M2M_ROLE, &role, sizeof(role) },
	};
	CK_OBJECT_HANDLE h[2];

	bench_ck(mod.f->C_FindObjectsInit(s, t, 3), "C_FindObjectsInit");
	bench_ck(mod.f->C_FindObjects(s, h, 2, &n), "C_FindObjects");
	mod.f->C_FindObjectsFinal(s);
	if (n != 1)
		bench_die("%lu E2E message-auth keys labelled %s", n, e2e_id);
	return h[0];
}

static void *
run(void *arg)
{
	struct worker *w = arg;
	struct m2m_client_error err;
	CK_BYTE msg[MSG_LEN], mac[64];
	size_t ml;

	bench_random(msg, sizeof(msg));
	while (bench_now() < w->until) {
		if (w->ipc) {
			if (m2m_client_mic(w->c, e2e_id, 0, msg, sizeof(msg),
			    mac, &ml, &err) != 0)
				bench_die("Mic: %s %s", err.name, err.detail);
		} else {
			bench_ck(bench_hmac(&mod, w->s, w->key, msg,
			    sizeof(msg), mac), "C_Sign");
		}
		msg[0]++;
		w->ops++;
	}
	return NULL;
}

/* One round of n clients of one side: operations per second. */
static double
round_of(struct worker *ws, int n, int ipc, double seconds)
{
	double t0, until;
	unsigned long ops = 0;
	int i;

	t0 = bench_now();
	until = t0 + seconds;
	for (i = 0; i < n; i++) {
		ws[i].ipc = ipc;
		ws[i].until = until;
		ws[i].ops = 0;
		if (pthread_create(&ws[i].t, NULL, run, &ws[i]) != 0)
			bench_die("pthread_create");
	}
	for (i = 0; i < n; i++) {
		pthread_join(ws[i].t, NULL);
		ops += ws[i].ops;
	}
	return (double)ops / (bench_now() - t0);
}

int
main(int argc, char **argv)
{
	static const int counts[] = { 1, 8 };
	struct worker ws[CLIENTS_MAX];
	CK_C_INITIALIZE_ARGS ia;
	CK_C_GetFunctionList gfl;
	CK_SLOT_ID slots[64];
	CK_ULONG ns = 64, i;
	CK_TOKEN_INFO ti;
	const char *env;
	double seconds = 1, ipc[16], loc[16], mi, ml;
	int rounds = 5, r, k, c;
	char b1[32], b2[32];

	if (argc != 4)
		bench_die("usage: bench_ipc SOCKET TOKEN-LABEL E2EKEYID");
	sock_path = argv[1];
	e2e_id = argv[3];
	if ((env = getenv("BENCH_SECONDS")) != NULL && atof(env) > 0)
		seconds = atof(env);
	if ((env = getenv("BENCH_ROUNDS")) != NULL &&
	    strtol(env, NULL, 10) > 0 && strtol(env, NULL, 10) <= 16)
		rounds = (int)strtol(env, NULL, 10);

	/* the module in this process, thread-safe (OS locking) */
	mod.path = getenv("M2MTOKEN_MODULE");
	if (mod.path == NULL || (mod.dl = dlopen(mod.path, RTLD_NOW)) == NULL)
		bench_die("cannot load $M2MTOKEN_MODULE");
	gfl = (CK_C_GetFunctionList)dlsym(mod.dl, "C_GetFunctionList");
	if (gfl == NULL || gfl(&mod.f) != CKR_OK)
		bench_die("no C_GetFunctionList");
	memset(&ia, 0, sizeof(ia));
	ia.flags = CKF_OS_LOCKING_OK;
	bench_ck(mod.f->C_Initialize(&ia), "C_Initialize");
	mod.finalize = 1;
	bench_ck(mod.f->C_GetSlotList(CK_TRUE, slots, &ns), "C_GetSlotList");
	for (i = 0; i < ns; i++) {
		if (mod.f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		if (strncmp((char *)ti.label, argv[2], strlen(argv[2])) == 0 &&
		    ti.label[strlen(argv[2])] == ' ')
			break;
	}
	if (i == ns)
		bench_die("no token %s", argv[2]);
	slot = slots[i];
	memset(ws, 0, sizeof(ws));
	for (k = 0; k < CLIENTS_MAX; k++) {
		bench_m2m_login(&mod, slot, &ws[k].s);
		ws[k].key = find_key(ws[k].s);
		if (m2m_client_connect(sock_path, 10000, &ws[k].c) != 0)
			bench_die("cannot connect to %s", sock_path);
	}
	/* warm both sides up */
	round_of(ws, 1, 1, seconds / 4);
	round_of(ws, 1, 0, seconds / 4);

	printf("| clients | IPC Mic round trips/s (median of %d) | in-process "
	    "C_Sign/s (median) | IPC / in-process | goal |\n", rounds);
	printf("|---|---|---|---|---|\n");
	for (c = 0; c < 2; c++) {
		for (r = 0; r < rounds; r++) {
			ipc[r] = round_of(ws, counts[c], 1, seconds);
			loc[r] = round_of(ws, counts[c], 0, seconds);
		}
		mi = bench_median(ipc, (size_t)rounds);
		ml = bench_median(loc, (size_t)rounds);
		printf("| %d | %s | %s | %.2fx | %s |\n", counts[c],
		    bench_count(mi, b1, sizeof(b1)),
		    bench_count(ml, b2, sizeof(b2)), mi / ml,
		    counts[c] == 8 ? (mi >= 0.5 * ml ? ">= 0.5x: met" :
		    ">= 0.5x: not met") : "-");
	}
	for (k = 0; k < CLIENTS_MAX; k++) {
		m2m_client_close(ws[k].c);
		mod.f->C_CloseSession(ws[k].s);
	}
	mod.f->C_Finalize(NULL);
	return 0;
}
