/*
 * bench_ipc: a MIC through m2mtokend's flow IPC (libm2mtoken-client,
 * io.m2mtoken.Mic, one round trip per MIC) against the same HMAC made
 * in-process (C_SignInit + C_Sign with CKM_SHA256_HMAC on the same E2E
 * message-authentication key, libm2mtoken.so loaded in this process), at
 * 1 and 8 concurrent clients (threads; each its own connection or its own
 * PKCS#11 session).  The two sides alternate, round after round, in the
 * same run.
 *
 * A third side, the floor, is the least any one-loop daemon on this module
 * could do per MIC: a thread of this process answers each client on a Unix
 * socket pair (one epoll loop, as m2mtokend's), reads 64 raw bytes, makes
 * the HMAC with C_SignInit + C_Sign through libm2mtoken.so and writes the
 * 32-byte MAC back: no JSON, no caller check, no key lookup.  Its ratio to
 * in-process C_Sign bounds what m2mtokend's design can reach on this
 * machine.  Nothing asserts on time: it prints a markdown table.
 *
 *   bench_ipc SOCKET TOKEN-LABEL E2EKEYID
 *
 * Environment: M2MTOKEN_MODULE, M2MTOKEN_CONF (the daemon's token),
 * M2MTOKEN_USER_PIN (default 1234), BENCH_SECONDS (one round of one side,
 * default 1), BENCH_ROUNDS (default 5).  bench/run_ipc sets it all up.
 */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <m2mtoken/client.h>

#include "bench.h"

#define MSG_LEN		64
#define CLIENTS_MAX	8

static const char *sock_path, *e2e_id;
static struct bench_mod mod;
static CK_SLOT_ID slot;

enum side { LOCAL, IPC, FLOOR };

struct worker {
	pthread_t	 t;
	enum side	 side;
	int		 fd;		/* FLOOR: this client's end */
	double		 until;
	unsigned long	 ops;
	struct m2m_client *c;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key;
};

/* The floor's server: one thread, one epoll loop over the socket pairs. */
static struct {
	pthread_t		 t;
	int			 ep;
	int			 fd[CLIENTS_MAX];	/* server ends */
	CK_BYTE			 buf[CLIENTS_MAX][MSG_LEN];
	size_t			 have[CLIENTS_MAX];
	CK_SESSION_HANDLE	 s;
	CK_OBJECT_HANDLE	 key;
	volatile int		 stop;
} fl;

static CK_OBJECT_HANDLE find_key(CK_SESSION_HANDLE);

static void *
floor_serve(void *arg)
{
	struct epoll_event ev[CLIENTS_MAX];
	CK_BYTE mac[32];
	ssize_t r;
	int n, i, k;

	(void)arg;
	while (!fl.stop) {
		if ((n = epoll_wait(fl.ep, ev, CLIENTS_MAX, 100)) < 0) {
			if (errno == EINTR)
				continue;
			bench_die("epoll_wait");
		}
		for (i = 0; i < n; i++) {
			k = ev[i].data.u32;
			r = recv(fl.fd[k], fl.buf[k] + fl.have[k],
			    MSG_LEN - fl.have[k], MSG_DONTWAIT);
			if (r <= 0)
				continue;
			if ((fl.have[k] += (size_t)r) < MSG_LEN)
				continue;
			fl.have[k] = 0;
			bench_ck(bench_hmac(&mod, fl.s, fl.key, fl.buf[k],
			    MSG_LEN, mac), "floor C_Sign");
			if (send(fl.fd[k], mac, sizeof(mac), MSG_NOSIGNAL) !=
			    (ssize_t)sizeof(mac))
				bench_die("floor send");
		}
	}
	return NULL;
}

/* The floor's server, and one socket pair per worker. */
static void
floor_start(struct worker *ws)
{
	struct epoll_event e;
	int sv[2], k;

	bench_m2m_login(&mod, slot, &fl.s);
	fl.key = find_key(fl.s);
	if ((fl.ep = epoll_create1(0)) < 0)
		bench_die("epoll_create1");
	for (k = 0; k < CLIENTS_MAX; k++) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
			bench_die("socketpair");
		ws[k].fd = sv[0];
		fl.fd[k] = sv[1];
		memset(&e, 0, sizeof(e));
		e.events = EPOLLIN;
		e.data.u32 = (uint32_t)k;
		if (epoll_ctl(fl.ep, EPOLL_CTL_ADD, sv[1], &e) != 0)
			bench_die("epoll_ctl");
	}
	if (pthread_create(&fl.t, NULL, floor_serve, NULL) != 0)
		bench_die("pthread_create");
}

static void
floor_stop(struct worker *ws)
{
	int k;

	fl.stop = 1;
	pthread_join(fl.t, NULL);
	for (k = 0; k < CLIENTS_MAX; k++) {
		close(ws[k].fd);
		close(fl.fd[k]);
	}
	close(fl.ep);
	mod.f->C_CloseSession(fl.s);
}

/* One floor MIC: 64 bytes out, the 32-byte MAC back. */
static void
floor_mic(int fd, const CK_BYTE *msg, CK_BYTE *mac)
{
	size_t got = 0;
	ssize_t r;

	if (send(fd, msg, MSG_LEN, MSG_NOSIGNAL) != MSG_LEN)
		bench_die("floor client send");
	while (got < 32) {
		if ((r = recv(fd, mac + got, 32 - got, 0)) <= 0)
			bench_die("floor client recv");
		got += (size_t)r;
	}
}

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
		switch (w->side) {
		case IPC:
			if (m2m_client_mic(w->c, e2e_id, 0, msg, sizeof(msg),
			    mac, &ml, &err) != 0)
				bench_die("Mic: %s %s", err.name, err.detail);
			break;
		case FLOOR:
			floor_mic(w->fd, msg, mac);
			break;
		case LOCAL:
			bench_ck(bench_hmac(&mod, w->s, w->key, msg,
			    sizeof(msg), mac), "C_Sign");
			break;
		}
		msg[0]++;
		w->ops++;
	}
	return NULL;
}

/* One round of n clients of one side: operations per second. */
static double
round_of(struct worker *ws, int n, enum side side, double seconds)
{
	double t0, until;
	unsigned long ops = 0;
	int i;

	t0 = bench_now();
	until = t0 + seconds;
	for (i = 0; i < n; i++) {
		ws[i].side = side;
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
	double seconds = 1, ipc[16], loc[16], flo[16], mi, ml, mf;
	int rounds = 5, r, k, c;
	char b1[32], b2[32], b3[32];

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
	floor_start(ws);
	/* warm the sides up */
	round_of(ws, 1, IPC, seconds / 4);
	round_of(ws, 1, LOCAL, seconds / 4);
	round_of(ws, 1, FLOOR, seconds / 4);

	printf("| clients | IPC Mic round trips/s (median of %d) | in-process "
	    "C_Sign/s (median) | IPC / in-process | goal | floor: raw "
	    "socket MIC/s (median) | floor / in-process |\n", rounds);
	printf("|---|---|---|---|---|---|---|\n");
	for (c = 0; c < 2; c++) {
		for (r = 0; r < rounds; r++) {
			ipc[r] = round_of(ws, counts[c], IPC, seconds);
			loc[r] = round_of(ws, counts[c], LOCAL, seconds);
			flo[r] = round_of(ws, counts[c], FLOOR, seconds);
		}
		mi = bench_median(ipc, (size_t)rounds);
		ml = bench_median(loc, (size_t)rounds);
		mf = bench_median(flo, (size_t)rounds);
		printf("| %d | %s | %s | %.2fx | %s | %s | %.2fx |\n",
		    counts[c], bench_count(mi, b1, sizeof(b1)),
		    bench_count(ml, b2, sizeof(b2)), mi / ml,
		    counts[c] == 8 ? (mi >= 0.5 * ml ? ">= 0.5x: met" :
		    ">= 0.5x: not met") : "-",
		    bench_count(mf, b3, sizeof(b3)), mf / ml);
	}
	floor_stop(ws);
	for (k = 0; k < CLIENTS_MAX; k++) {
		m2m_client_close(ws[k].c);
		mod.f->C_CloseSession(ws[k].s);
	}
	mod.f->C_Finalize(NULL);
	return 0;
}
