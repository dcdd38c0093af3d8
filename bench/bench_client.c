/*
 * bench_client: HMAC-SHA-256 ops/s through libm2mtoken in client mode
 * (every call forwarded to m2mtokend) against the same module in-process,
 * in the same process and the same run, with 1 and 8 client threads.
 *
 * Two instances of the module live in this process: $M2MTOKEN_MODULE
 * (local mode, $M2MTOKEN_CONF) and $BENCH_CLIENT_MODULE, a copy of the
 * same file loaded while M2MTOKEN_DAEMON_SOCKET=$BENCH_CLIENT_SOCKET is
 * set (client mode: a copy, because the dynamic loader hands out one
 * instance per file).  The daemon behind the socket serves the same
 * configuration, so both sides use the same key of the same store on the
 * same backend.  The sides alternate A B A B, one round of each per
 * thread count; the table has each side's median ops/s and the median of
 * the per-round ratios.  Prints markdown rows; asserts nothing on time.
 *
 * Usage: bench_client [--quick] [BACKEND-NAME]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define MSG_LEN		64
#define TOKEN_LABEL	"bench-client"
#define KEY_LABEL	"bench-client@mef.example.com"
#define MAX_THREADS	8

struct side {
	const char		*name;
	struct bench_mod	*m;
	CK_SLOT_ID		 slot;
	CK_OBJECT_HANDLE	 key;		/* found by label */
	CK_SESSION_HANDLE	 s[MAX_THREADS];
};

struct worker {
	const struct side	*sd;
	int			 i;
	double			 until;
	unsigned long		 n;
	pthread_t		 t;
};

static void *
work(void *arg)
{
	struct worker *w = arg;
	CK_BYTE msg[MSG_LEN], mac[32];
	unsigned long i;

	memset(msg, w->i, sizeof(msg));
	while (bench_now() < w->until) {
		for (i = 0; i < 32; i++) {
			msg[0] = (CK_BYTE)w->n;
			bench_ck(bench_hmac(w->sd->m, w->sd->s[w->i],
			    w->sd->key, msg, sizeof(msg), mac), w->sd->name);
			w->n++;
		}
	}
	return NULL;
}

/* HMACs per second of nthreads threads over secs seconds. */
static double
round_ops(const struct side *sd, int nthreads, double secs)
{
	struct worker w[MAX_THREADS];
	double t0 = bench_now(), t1;
	unsigned long n = 0;
	int i;

	for (i = 0; i < nthreads; i++) {
		w[i].sd = sd;
		w[i].i = i;
		w[i].until = t0 + secs;
		w[i].n = 0;
		if (pthread_create(&w[i].t, NULL, work, &w[i]) != 0)
			bench_die("pthread_create failed");
	}
	for (i = 0; i < nthreads; i++) {
		pthread_join(w[i].t, NULL);
		n += w[i].n;
	}
	t1 = bench_now();
	return (double)n / (t1 - t0);
}

static CK_OBJECT_HANDLE
find_key(struct bench_mod *m, CK_SESSION_HANDLE s)
{
	CK_ATTRIBUTE t[] = {
		{ CKA_LABEL, (CK_VOID_PTR)KEY_LABEL, sizeof(KEY_LABEL) - 1 }
	};
	CK_OBJECT_HANDLE h[2];
	CK_ULONG n = 0;

	bench_ck(m->f->C_FindObjectsInit(s, t, 1), "C_FindObjectsInit");
	bench_ck(m->f->C_FindObjects(s, h, 2, &n), "C_FindObjects");
	bench_ck(m->f->C_FindObjectsFinal(s), "C_FindObjectsFinal");
	if (n != 1)
		bench_die("%lu keys labelled %s", (unsigned long)n, KEY_LABEL);
	return h[0];
}

/* The slot whose token is labelled TOKEN_LABEL. */
static CK_SLOT_ID
find_slot(struct bench_mod *m)
{
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64, i;
	CK_TOKEN_INFO ti;

	bench_ck(m->f->C_GetSlotList(CK_TRUE, slots, &n), "C_GetSlotList");
	for (i = 0; i < n; i++) {
		if (m->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		if (memcmp(ti.label, TOKEN_LABEL, sizeof(TOKEN_LABEL) - 1) ==
		    0 && ti.label[sizeof(TOKEN_LABEL) - 1] == ' ')
			return slots[i];
	}
	bench_die("no token %s", TOKEN_LABEL);
}

static void
sessions(struct side *sd)
{
	int i;

	/* one login serves every session of the application */
	bench_m2m_login(sd->m, sd->slot, &sd->s[0]);
	for (i = 1; i < MAX_THREADS; i++)
		bench_ck(sd->m->f->C_OpenSession(sd->slot, CKF_SERIAL_SESSION |
		    CKF_RW_SESSION, NULL, NULL, &sd->s[i]), "C_OpenSession");
	sd->key = find_key(sd->m, sd->s[0]);
}

static void
compare(const char *backend, int nthreads, const struct side *cl,
    const struct side *lo, const struct bench_opts *o, double goal)
{
	double *va, *vb, *vr, ma, mb, ratio;
	char ca[32], cb[32];
	int i;

	if ((va = calloc((size_t)o->rounds, sizeof(*va))) == NULL ||
	    (vb = calloc((size_t)o->rounds, sizeof(*vb))) == NULL ||
	    (vr = calloc((size_t)o->rounds, sizeof(*vr))) == NULL)
		bench_die("out of memory");
	(void)round_ops(cl, nthreads, o->seconds / 2);	/* warm-up */
	(void)round_ops(lo, nthreads, o->seconds / 2);
	for (i = 0; i < o->rounds; i++) {
		va[i] = round_ops(cl, nthreads, o->seconds);
		vb[i] = round_ops(lo, nthreads, o->seconds);
		vr[i] = va[i] / vb[i];
		fprintf(stderr, "  %s, %d threads, round %d: client mode "
		    "%.0f/s, in-process %.0f/s\n", backend, nthreads, i + 1,
		    va[i], vb[i]);
	}
	ma = bench_median(va, (size_t)o->rounds);
	mb = bench_median(vb, (size_t)o->rounds);
	ratio = bench_median(vr, (size_t)o->rounds);
	printf("| HMAC-SHA-256, %s backend, %d thread%s (ops/s, median of "
	    "%d) | %s | %s | %.2fx | %s |\n", backend, nthreads,
	    nthreads == 1 ? "" : "s", o->rounds,
	    bench_count(ma, ca, sizeof(ca)), bench_count(mb, cb, sizeof(cb)),
	    ratio, goal == 0 ? "informative" : ratio >= goal ? "met" :
	    "MISSED");
	fflush(stdout);
	free(va);
	free(vb);
	free(vr);
}

int
main(int argc, char **argv)
{
	const char *sock = getenv("BENCH_CLIENT_SOCKET");
	const char *copy = getenv("BENCH_CLIENT_MODULE");
	const char *backend = "hsm";
	struct bench_mod local, client;
	struct side lo, cl;
	struct bench_opts o;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE k;
	CK_BYTE key[32], mac1[32], mac2[32], msg[MSG_LEN];
	CK_SLOT_ID slot;
	double goal8;
	int i;

	/* the backend's name comes last: the rest is bench_quick_arg's */
	if (argc > 1 && strcmp(argv[argc - 1], "--quick") != 0)
		backend = argv[--argc];
	bench_opts(bench_quick_arg(argc, argv), &o);
	if (sock == NULL || *sock == '\0' || copy == NULL || *copy == '\0')
		bench_die("BENCH_CLIENT_SOCKET and BENCH_CLIENT_MODULE must be "
		    "set (bench/run_client sets them)");
	goal8 = strcmp(backend, "tpm") == 0 ? 0.9 : 0.3;

	/* the local side makes the token and the key */
	if (unsetenv("M2MTOKEN_DAEMON_SOCKET") != 0)
		bench_die("unsetenv failed");
	bench_load(getenv("M2MTOKEN_MODULE"), &local);
	bench_m2m_token(&local, TOKEN_LABEL, &slot, &s);
	bench_random(key, sizeof(key));
	bench_ck(bench_secret(&local, s, CKK_GENERIC_SECRET,
	    CK_M2M_ROLE_KE2E_MSG_AUTH, 1, KEY_LABEL, key, sizeof(key), &k),
	    "C_CreateObject");
	explicit_bzero(key, sizeof(key));
	bench_ck(local.f->C_CloseSession(s), "C_CloseSession");

	if (setenv("M2MTOKEN_DAEMON_SOCKET", sock, 1) != 0)
		bench_die("setenv failed");
	bench_load(copy, &client);
	if (unsetenv("M2MTOKEN_DAEMON_SOCKET") != 0)
		bench_die("unsetenv failed");

	memset(&lo, 0, sizeof(lo));
	memset(&cl, 0, sizeof(cl));
	lo.name = "in-process HMAC";
	lo.m = &local;
	lo.slot = slot;
	cl.name = "client-mode HMAC";
	cl.m = &client;
	cl.slot = find_slot(&client);
	sessions(&lo);
	sessions(&cl);

	/* both sides must compute the same MAC with the same key */
	bench_random(msg, sizeof(msg));
	bench_ck(bench_hmac(&local, lo.s[0], lo.key, msg, sizeof(msg), mac1),
	    "in-process HMAC");
	bench_ck(bench_hmac(&client, cl.s[0], cl.key, msg, sizeof(msg), mac2),
	    "client-mode HMAC");
	if (memcmp(mac1, mac2, sizeof(mac1)) != 0)
		bench_die("client mode and in-process disagree on the HMAC");

	fprintf(stderr, "bench_client (%s): %d rounds of %.1f s per side\n",
	    backend, o.rounds, o.seconds);
	compare(backend, 1, &cl, &lo, &o, 0);
	compare(backend, 8, &cl, &lo, &o, goal8);

	for (i = 0; i < MAX_THREADS; i++) {
		(void)client.f->C_CloseSession(cl.s[i]);
		(void)local.f->C_CloseSession(lo.s[i]);
	}
	bench_unload(&client);
	bench_unload(&local);
	return 0;
}
