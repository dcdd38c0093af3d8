/*
 * bench_hmac: HMAC-SHA-256 over 64-byte messages (C_SignInit + C_Sign per
 * operation) through libm2mtoken against SoftHSM2 called directly, in the
 * same process and the same run.  The same 32-byte key value is a role
 * KE2E_MSG_AUTH key in m2mtoken (once as a token object, once as a session
 * object) and a CKK_GENERIC_SECRET session key in SoftHSM2.  After a
 * warm-up the two sides run alternately, A B A B ..., for a fixed time
 * each; the table shows the median rate of each side and the median of
 * the per-round ratios (each A round against the B round right after it,
 * which makes the ratio robust to load that drifts during the run).  Prints markdown table rows on stdout and
 * progress on stderr; asserts nothing about time.
 *
 * Usage: bench_hmac [--quick]
 *
 * BENCH_HMAC_KEYS=token or session runs only that comparison (for the
 * callgrind count in bench/README.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define MSG_LEN		64
#define GOAL_RATIO	0.95	/* the entry-layer issue's (an earlier one asked 0.9x) */

struct side {
	struct bench_mod	*m;
	CK_SESSION_HANDLE	 s;
	CK_OBJECT_HANDLE	 key;
};

static CK_BYTE msg[MSG_LEN];

/* HMACs per second over about secs seconds. */
static double
round_ops(const struct side *sd, double secs)
{
	CK_BYTE mac[32];
	double t0 = bench_now(), t = t0;
	unsigned long n = 0, i;

	while (t - t0 < secs) {
		for (i = 0; i < 64; i++) {
			msg[0] = (CK_BYTE)n;	/* a different message each time */
			bench_ck(bench_hmac(sd->m, sd->s, sd->key, msg,
			    sizeof(msg), mac), "C_SignInit/C_Sign");
			n++;
		}
		t = bench_now();
	}
	return (double)n / (t - t0);
}

static void
compare(const char *what, const struct side *a, const struct side *b,
    const struct bench_opts *o)
{
	double *va, *vb, *vr, ma, mb, ratio;
	char ca[32], cb[32];
	int i;

	if ((va = calloc((size_t)o->rounds, sizeof(*va))) == NULL ||
	    (vb = calloc((size_t)o->rounds, sizeof(*vb))) == NULL ||
	    (vr = calloc((size_t)o->rounds, sizeof(*vr))) == NULL)
		bench_die("out of memory");
	(void)round_ops(a, o->seconds / 2);	/* warm-up: caches, loaded keys */
	(void)round_ops(b, o->seconds / 2);
	for (i = 0; i < o->rounds; i++) {
		va[i] = round_ops(a, o->seconds);
		vb[i] = round_ops(b, o->seconds);
		vr[i] = va[i] / vb[i];
		fprintf(stderr, "  %s round %d: m2mtoken %.0f/s, SoftHSM2 "
		    "%.0f/s\n", what, i + 1, va[i], vb[i]);
	}
	ma = bench_median(va, (size_t)o->rounds);
	mb = bench_median(vb, (size_t)o->rounds);
	/* neighbouring rounds share the machine's state: compare pairs */
	ratio = bench_median(vr, (size_t)o->rounds);
	printf("| HMAC-SHA-256, 64-byte messages, %s (ops/s, median of %d) "
	    "| %s | %s | %.2fx | >= %.2fx: %s |\n", what, o->rounds,
	    bench_count(ma, ca, sizeof(ca)), bench_count(mb, cb, sizeof(cb)),
	    ratio, GOAL_RATIO, ratio >= GOAL_RATIO ? "met" : "MISSED");
	fflush(stdout);
	free(va);
	free(vb);
	free(vr);
}

int
main(int argc, char **argv)
{
	const char *sh = getenv("BENCH_SOFTHSM_MODULE"), *keys;
	struct bench_mod m2m, hsm;
	struct bench_opts o;
	struct side tok, ses, direct;
	CK_BYTE key[32], mac1[32], mac2[32], mac3[32];
	CK_SLOT_ID slot;

	bench_opts(bench_quick_arg(argc, argv), &o);
	if (sh == NULL || *sh == '\0')
		sh = "/usr/lib/softhsm/libsofthsm2.so";
	bench_random(key, sizeof(key));
	bench_random(msg, sizeof(msg));

	/* m2mtoken first: its HSM backend initialises SoftHSM2 */
	bench_load(getenv("M2MTOKEN_MODULE"), &m2m);
	bench_load(sh, &hsm);
	tok.m = ses.m = &m2m;
	bench_m2m_token(&m2m, "bench-hmac", &slot, &tok.s);
	ses.s = tok.s;
	bench_ck(bench_secret(&m2m, tok.s, CKK_GENERIC_SECRET,
	    CK_M2M_ROLE_KE2E_MSG_AUTH, 1, "bench-hmac@mef.example.com", key,
	    sizeof(key), &tok.key), "m2mtoken C_CreateObject (token)");
	bench_ck(bench_secret(&m2m, ses.s, CKK_GENERIC_SECRET,
	    CK_M2M_ROLE_KE2E_MSG_AUTH, 0, "bench-hmac-s@mef.example.com", key,
	    sizeof(key), &ses.key), "m2mtoken C_CreateObject (session)");
	direct.m = &hsm;
	bench_softhsm_session(&hsm, &direct.s);
	bench_ck(bench_secret(&hsm, direct.s, CKK_GENERIC_SECRET, 0, 0, NULL,
	    key, sizeof(key), &direct.key), "SoftHSM2 C_CreateObject");

	/* the three keys must compute the same MAC */
	bench_ck(bench_hmac(&m2m, tok.s, tok.key, msg, sizeof(msg), mac1),
	    "m2mtoken HMAC");
	bench_ck(bench_hmac(&m2m, ses.s, ses.key, msg, sizeof(msg), mac2),
	    "m2mtoken HMAC");
	bench_ck(bench_hmac(&hsm, direct.s, direct.key, msg, sizeof(msg),
	    mac3), "SoftHSM2 HMAC");
	if (memcmp(mac1, mac3, 32) != 0 || memcmp(mac2, mac3, 32) != 0)
		bench_die("m2mtoken and SoftHSM2 disagree on the HMAC");

	fprintf(stderr, "bench_hmac: %d rounds of %.1f s per side\n",
	    o.rounds, o.seconds);
	keys = getenv("BENCH_HMAC_KEYS");
	if (keys == NULL || strcmp(keys, "session") != 0)
		compare("token-object key", &tok, &direct, &o);
	if (keys == NULL || strcmp(keys, "token") != 0)
		compare("session-object key", &ses, &direct, &o);

	(void)hsm.f->C_CloseSession(direct.s);
	bench_unload(&hsm);
	bench_unload(&m2m);
	return 0;
}
