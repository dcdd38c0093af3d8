/*
 * bench_e2e: the time to derive one full E2E key set through libm2mtoken,
 * i.e. Ke2e_master from a Kpsa (CKM_M2M_E2E_MASTER_SHA256, which also
 * computes the E2EKeyId) and the four keys (CKM_M2M_E2E_EXPAND n = 1..4),
 * all as session objects (CKA_TOKEN FALSE), against the raw cost of five
 * HMAC-SHA-256 done by SoftHSM2 directly (C_SignInit + C_Sign, one 32-byte
 * session key, messages of the sizes the derivation hashes).  The five
 * derived objects are destroyed after each set, outside the timed part
 * (deriving the same key again would return the existing object).  Sides
 * alternate A B A B ...; the table shows each side's median and the median
 * of the per-round ratios.
 *
 * A third side, the floor, shows what the goal (<= 3x the five HMACs)
 * leaves to any module that keeps the derived keys inside SoftHSM2: the
 * five HMACs again, each output then created as a sensitive session key in
 * SoftHSM2 (C_CreateObject), since SoftHSM2 has no HMAC-based derivation
 * that would leave the value inside it.  Its ratio to the five HMACs is a
 * lower bound for any such module on this machine.  Prints markdown table
 * rows on stdout and progress on stderr; asserts nothing about time.
 *
 * Usage: bench_e2e [--quick]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define KPSA_ID	"00112233445566778899aabbccddeeff@mef.example.com"

static struct bench_mod m2m, hsm;
static CK_SESSION_HANDLE m2m_s, hsm_s;
static CK_OBJECT_HANDLE kpsa, hkey;

/* One E2E set through m2mtoken; returns the seconds it took. */
static double
e2e_set(void)
{
	CK_MECHANISM master = { CKM_M2M_E2E_MASTER_SHA256, NULL, 0 };
	CK_MECHANISM expand = { CKM_M2M_E2E_EXPAND, NULL, 1 };
	CK_BBOOL no = CK_FALSE;
	CK_ATTRIBUTE t = { CKA_TOKEN, &no, sizeof(no) };
	CK_OBJECT_HANDLE h[5];
	CK_BYTE n;
	double t0, t1;
	int i;

	t0 = bench_now();
	bench_ck(m2m.f->C_DeriveKey(m2m_s, &master, kpsa, &t, 1, &h[0]),
	    "C_DeriveKey(E2E_MASTER_SHA256)");
	for (i = 1; i <= 4; i++) {
		n = (CK_BYTE)i;
		expand.pParameter = &n;
		bench_ck(m2m.f->C_DeriveKey(m2m_s, &expand, h[0], &t, 1,
		    &h[i]), "C_DeriveKey(E2E_EXPAND)");
	}
	t1 = bench_now();
	for (i = 4; i >= 0; i--)
		bench_ck(m2m.f->C_DestroyObject(m2m_s, h[i]),
		    "C_DestroyObject");
	return t1 - t0;
}

/*
 * Five HMACs by SoftHSM2 directly, each output kept as a session key
 * inside SoftHSM2 when keep (the floor); returns the seconds they took.
 * The kept keys are destroyed after the timed part.
 */
static double
hmacs(int keep)
{
	/* master: 32-byte message; T(n): 32 + label + 1; E2EKeyId: label */
	static const CK_ULONG lens[5] = { 32, 63, 64, 63, 65 };
	CK_BYTE msg[96], mac[32];
	CK_OBJECT_HANDLE h[5];
	double t0, t1;
	int i;

	memset(msg, 0x5a, sizeof(msg));
	t0 = bench_now();
	for (i = 0; i < 5; i++) {
		bench_ck(bench_hmac(&hsm, hsm_s, hkey, msg, lens[i], mac),
		    "SoftHSM2 HMAC");
		if (keep)
			bench_ck(bench_secret(&hsm, hsm_s, CKK_GENERIC_SECRET,
			    0, 0, NULL, mac, sizeof(mac), &h[i]),
			    "SoftHSM2 C_CreateObject");
		memcpy(msg, mac, sizeof(mac));
	}
	t1 = bench_now();
	for (i = 0; keep && i < 5; i++)
		bench_ck(hsm.f->C_DestroyObject(hsm_s, h[i]),
		    "SoftHSM2 C_DestroyObject");
	return t1 - t0;
}

static double
five_hmacs(void)
{
	return hmacs(0);
}

static double
five_hmacs_kept(void)
{
	return hmacs(1);
}

/* Median seconds per call of fn over a round of about secs seconds. */
static double
round_median(double (*fn)(void), double secs)
{
	size_t cap = 1024, n = 0;
	double *v, t0 = bench_now(), m;

	if ((v = malloc(cap * sizeof(*v))) == NULL)
		bench_die("out of memory");
	while (bench_now() - t0 < secs || n < 5) {
		if (n == cap) {
			cap *= 2;
			if ((v = realloc(v, cap * sizeof(*v))) == NULL)
				bench_die("out of memory");
		}
		v[n++] = fn();
	}
	m = bench_median(v, n);
	free(v);
	return m;
}

int
main(int argc, char **argv)
{
	const char *sh = getenv("BENCH_SOFTHSM_MODULE");
	struct bench_opts o;
	CK_BYTE value[32];
	CK_SLOT_ID slot;
	double *va, *vb, *vc, *vr, *vf, ma, mb, mc, ratio, floor;
	int i;

	bench_opts(bench_quick_arg(argc, argv), &o);
	if (sh == NULL || *sh == '\0')
		sh = "/usr/lib/softhsm/libsofthsm2.so";
	bench_random(value, sizeof(value));
	bench_load(getenv("M2MTOKEN_MODULE"), &m2m);
	bench_load(sh, &hsm);
	bench_m2m_token(&m2m, "bench-e2e", &slot, &m2m_s);
	bench_ck(bench_secret(&m2m, m2m_s, CKK_GENERIC_SECRET,
	    CK_M2M_ROLE_KPSA, 1, KPSA_ID, value, sizeof(value), &kpsa),
	    "m2mtoken C_CreateObject (Kpsa)");
	bench_softhsm_session(&hsm, &hsm_s);
	bench_ck(bench_secret(&hsm, hsm_s, CKK_GENERIC_SECRET, 0, 0, NULL,
	    value, sizeof(value), &hkey), "SoftHSM2 C_CreateObject");

	if ((va = calloc((size_t)o.rounds, sizeof(*va))) == NULL ||
	    (vb = calloc((size_t)o.rounds, sizeof(*vb))) == NULL ||
	    (vc = calloc((size_t)o.rounds, sizeof(*vc))) == NULL ||
	    (vr = calloc((size_t)o.rounds, sizeof(*vr))) == NULL ||
	    (vf = calloc((size_t)o.rounds, sizeof(*vf))) == NULL)
		bench_die("out of memory");
	fprintf(stderr, "bench_e2e: %d rounds of %.1f s per side\n", o.rounds,
	    o.seconds);
	(void)round_median(e2e_set, o.seconds / 2);	/* warm-up */
	(void)round_median(five_hmacs, o.seconds / 2);
	(void)round_median(five_hmacs_kept, o.seconds / 2);
	for (i = 0; i < o.rounds; i++) {
		va[i] = round_median(e2e_set, o.seconds);
		vb[i] = round_median(five_hmacs, o.seconds);
		vc[i] = round_median(five_hmacs_kept, o.seconds);
		vr[i] = va[i] / vb[i];
		vf[i] = vc[i] / vb[i];
		fprintf(stderr, "  round %d: m2mtoken %.3f ms/set, SoftHSM2 "
		    "%.3f ms/5 HMACs, %.3f ms/5 HMACs kept as keys\n", i + 1,
		    va[i] * 1e3, vb[i] * 1e3, vc[i] * 1e3);
	}
	ma = bench_median(va, (size_t)o.rounds);
	mb = bench_median(vb, (size_t)o.rounds);
	mc = bench_median(vc, (size_t)o.rounds);
	ratio = bench_median(vr, (size_t)o.rounds);	/* per-round pairs */
	floor = bench_median(vf, (size_t)o.rounds);
	printf("| E2E key set (master + 4 keys, session objects) vs 5 HMACs "
	    "(ms, median of %d) | %.3f | %.3f | %.1fx the time | <= 3x: "
	    "%s |\n", o.rounds, ma * 1e3, mb * 1e3, ratio,
	    ratio <= 3.0 ? "met" : "MISSED");
	printf("| floor: 5 HMACs kept as SoftHSM2 session keys vs 5 HMACs "
	    "(ms, median of %d) | %.3f (SoftHSM2) | %.3f | %.1fx the time | "
	    "lower bound for any module on SoftHSM2 |\n", o.rounds,
	    mc * 1e3, mb * 1e3, floor);
	fflush(stdout);
	free(va);
	free(vb);
	free(vc);
	free(vr);
	free(vf);
	(void)hsm.f->C_CloseSession(hsm_s);
	bench_unload(&hsm);
	bench_unload(&m2m);
	return 0;
}
