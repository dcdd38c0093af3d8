/*
 * bench_ecdsa: ECDSA P-256 signatures per second (C_SignInit + C_Sign with
 * CKM_ECDSA over a 32-byte digest per operation), through libm2mtoken
 * against a reference module in the same process, with a key pair each
 * side made by C_GenerateKeyPair (CKM_EC_KEY_PAIR_GEN, prime256v1):
 *
 *   bench_ecdsa tpm    libm2mtoken ([backend] type = tpm, [tpm] mode =
 *                      exclusive, then shared) against tpm2-pkcs11, on the
 *                      same swtpm (issue 14: goal >= 1.5x tpm2-pkcs11)
 *   bench_ecdsa hsm    libm2mtoken ([backend] type = hsm) against SoftHSM2
 *                      directly (goal >= 0.9x SoftHSM2), with a token key
 *                      (what a client of SoftHSM2 keeps) and with a
 *                      session key made at each round (what hsm/ signs
 *                      with: a working copy, CKA_TOKEN and CKA_PRIVATE
 *                      FALSE)
 *
 * Rounds alternate the sides (A B C, then C B A, ...); every round
 * initialises its module, logs in, finds its key by label, warms up with a
 * few untimed signatures, signs for a fixed time and finalises the module
 * (swtpm has 3 transient slots and no resource manager: the TPM modules
 * must never hold objects at the same time).  Each side's first signature
 * is checked with C_Verify on its own public key, so a side that signs
 * garbage fails the run.  The table shows medians of rates and of the
 * per-round ratios.
 *
 * Environment: bench/run sets it all (bench.h's, and for tpm the variables
 * bench_tpm.c lists: BENCH_TPM_DIR, BENCH_SWTPM_PORT,
 * BENCH_TPM2_PKCS11_MODULE, _TOKEN, _PIN, TPM2_PKCS11_STORE).  Prints one
 * markdown table on stdout, progress on stderr; asserts nothing about time.
 *
 * Usage: bench_ecdsa tpm|hsm [--quick]
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define GOAL_TPM	1.5
#define GOAL_HSM	0.9
#define WARM_OPS	8
#define SIG_MAX		132	/* r || s on P-521, at most */
#define M2M_LABEL	"bench-ecdsa"
#define KEY_LABEL	"bench-ecdsa-p256"
#define TPM2_PKCS11_DEFAULT \
	"/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so"
#define SOFTHSM_DEFAULT	"/usr/lib/softhsm/libsofthsm2.so"
#define NSIDES		3

/* DER of the prime256v1 OID: CKA_EC_PARAMS */
static CK_BYTE p256_oid[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d,
    0x03, 0x01, 0x07 };
static CK_BYTE digest[32];

enum side_kind { SIDE_M2M, SIDE_TPM2_PKCS11, SIDE_SOFTHSM };

struct side {
	const char		*name;
	struct bench_mod	*m;
	enum side_kind		 kind;
	const char		*conf;	/* m2m: M2MTOKEN_CONF */
	const char		*token;	/* token label */
	const char		*pin;	/* user PIN (tpm2-pkcs11) */
	int			 session; /* key pair made per round */
	CK_SESSION_HANDLE	 s;
	CK_OBJECT_HANDLE	 priv;
	CK_OBJECT_HANDLE	 pub;
};

/* The one object of class cls labelled KEY_LABEL. */
static CK_OBJECT_HANDLE
find_key(struct side *sd, CK_OBJECT_CLASS cls)
{
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)KEY_LABEL, strlen(KEY_LABEL) },
	};
	CK_FUNCTION_LIST_PTR f = sd->m->f;
	CK_OBJECT_HANDLE h;
	CK_ULONG n = 0;

	bench_ck(f->C_FindObjectsInit(sd->s, t, 2), "C_FindObjectsInit");
	bench_ck(f->C_FindObjects(sd->s, &h, 1, &n), "C_FindObjects");
	bench_ck(f->C_FindObjectsFinal(sd->s), "C_FindObjectsFinal");
	if (n != 1)
		bench_die("%s: no key labelled %s", sd->name, KEY_LABEL);
	return h;
}

/* Open an RW session on the side's token and log in as the user. */
static void
side_login(struct side *sd)
{
	CK_SLOT_ID slot;

	if (sd->kind == SIDE_SOFTHSM) {
		bench_softhsm_session(sd->m, &sd->s);
		return;
	}
	slot = bench_slot(sd->m, sd->token);
	if (sd->kind == SIDE_M2M)
		bench_m2m_login(sd->m, slot, &sd->s);
	else
		bench_login(sd->m, slot, sd->pin, sd->name, &sd->s);
}

static void
side_env(struct side *sd)
{
	if (sd->kind == SIDE_M2M && setenv("M2MTOKEN_CONF", sd->conf, 1) != 0)
		bench_die("setenv failed");
}

static void	gen_pair(struct side *, CK_BBOOL);

/* Initialise the side's module, log in, find (or make) the key pair. */
static void
side_open(struct side *sd)
{
	side_env(sd);
	bench_init(sd->m);
	side_login(sd);
	if (sd->session) {
		gen_pair(sd, CK_FALSE);
		return;
	}
	sd->priv = find_key(sd, CKO_PRIVATE_KEY);
	sd->pub = find_key(sd, CKO_PUBLIC_KEY);
}

/* Log out and finalise: the module flushes what it loaded. */
static void
side_close(struct side *sd)
{
	(void)sd->m->f->C_Logout(sd->s);
	bench_ck(sd->m->f->C_CloseSession(sd->s), "C_CloseSession");
	bench_ck(sd->m->f->C_Finalize(NULL), "C_Finalize");
}

/* One C_SignInit + C_Sign; the signature's length. */
static CK_ULONG
side_sign(struct side *sd, CK_BYTE *sig)
{
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	CK_ULONG n = SIG_MAX;
	CK_RV rv;

	if ((rv = sd->m->f->C_SignInit(sd->s, &mech, sd->priv)) != CKR_OK ||
	    (rv = sd->m->f->C_Sign(sd->s, digest, sizeof(digest), sig,
	    &n)) != CKR_OK)
		bench_die("%s: C_SignInit/C_Sign: %s", sd->name,
		    bench_ckr(rv));
	return n;
}

/*
 * A P-256 key pair by C_GenerateKeyPair (token objects with a private
 * key, or session objects with CKA_PRIVATE FALSE, as hsm/'s working
 * copies: SoftHSM2 encrypts a private object's attributes even in a
 * session object; the private key sensitive and non-extractable either
 * way), and one signature checked by C_Verify.
 */
static void
gen_pair(struct side *sd, CK_BBOOL token)
{
	CK_MECHANISM mech = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE pubt[] = {
		{ CKA_TOKEN, &token, sizeof(token) },
		{ CKA_VERIFY, &yes, sizeof(yes) },
		{ CKA_EC_PARAMS, p256_oid, sizeof(p256_oid) },
		{ CKA_LABEL, (void *)KEY_LABEL, strlen(KEY_LABEL) },
	};
	CK_ATTRIBUTE privt[] = {
		{ CKA_TOKEN, &token, sizeof(token) },
		{ CKA_PRIVATE, &token, sizeof(token) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_EXTRACTABLE, &no, sizeof(no) },
		{ CKA_SIGN, &yes, sizeof(yes) },
		{ CKA_LABEL, (void *)KEY_LABEL, strlen(KEY_LABEL) },
	};
	CK_MECHANISM vm = { CKM_ECDSA, NULL, 0 };
	CK_BYTE sig[SIG_MAX];
	CK_ULONG n;
	CK_RV rv;

	rv = sd->m->f->C_GenerateKeyPair(sd->s, &mech, pubt,
	    sizeof(pubt) / sizeof(pubt[0]), privt,
	    sizeof(privt) / sizeof(privt[0]), &sd->pub, &sd->priv);
	if (rv != CKR_OK)
		bench_die("%s: C_GenerateKeyPair(CKM_EC_KEY_PAIR_GEN, P-256): "
		    "%s", sd->name, bench_ckr(rv));
	n = side_sign(sd, sig);
	if (n != 64)
		bench_die("%s: a P-256 signature of %lu bytes", sd->name,
		    (unsigned long)n);
	if ((rv = sd->m->f->C_VerifyInit(sd->s, &vm, sd->pub)) != CKR_OK ||
	    (rv = sd->m->f->C_Verify(sd->s, digest, sizeof(digest), sig,
	    n)) != CKR_OK)
		bench_die("%s: its own signature does not verify: %s",
		    sd->name, bench_ckr(rv));
}

/* The side's token key pair (none for a session side). */
static void
side_setup(struct side *sd)
{
	CK_SLOT_ID slot;

	if (sd->session)
		return;
	side_env(sd);
	bench_init(sd->m);
	if (sd->kind == SIDE_M2M)
		bench_m2m_token(sd->m, sd->token, &slot, &sd->s);
	else
		side_login(sd);
	gen_pair(sd, CK_TRUE);
	side_close(sd);
}

/* One round: signatures per second over about secs seconds. */
static double
round_ops(struct side *sd, double secs)
{
	CK_BYTE sig[SIG_MAX];
	double t0, t;
	unsigned long n = 0, i;

	side_open(sd);
	for (i = 0; i < WARM_OPS; i++)
		(void)side_sign(sd, sig);
	t0 = t = bench_now();
	while (t - t0 < secs) {
		for (i = 0; i < 4; i++) {
			digest[0] = (CK_BYTE)n;	/* a new digest each time */
			(void)side_sign(sd, sig);
			n++;
		}
		t = bench_now();
	}
	side_close(sd);
	return (double)n / (t - t0);
}

int
main(int argc, char **argv)
{
	struct bench_mod m2m, ref;
	struct bench_opts o;
	struct side sides[NSIDES], *order[NSIDES];
	static char store[PATH_MAX], conf[2][PATH_MAX];
	double *v[NSIDES], *ratio[NSIDES][NSIDES], rmed, goal;
	char ca[32], cb[32], tcti[64];
	const char *dir;
	int tpm, swtpm = 0, nm2m, nside, i, j, k;

	if (argc < 2 || (strcmp(argv[1], "tpm") != 0 &&
	    strcmp(argv[1], "hsm") != 0)) {
		fprintf(stderr, "usage: bench_ecdsa tpm|hsm [--quick]\n");
		return 2;
	}
	tpm = strcmp(argv[1], "tpm") == 0;
	bench_opts(bench_quick_arg(argc - 1, argv + 1), &o);
	bench_random(digest, sizeof(digest));
	memset(sides, 0, sizeof(sides));

	/* sides 0..nm2m-1: libm2mtoken; nm2m..nside-1: the references */
	if (tpm) {
		swtpm = bench_swtpm(&dir);
		if ((size_t)snprintf(store, sizeof(store), "%s/ecdsa.db",
		    dir) >= sizeof(store) ||
		    (size_t)snprintf(conf[0], sizeof(conf[0]),
		    "%s/ecdsa-exclusive.conf", dir) >= sizeof(conf[0]) ||
		    (size_t)snprintf(conf[1], sizeof(conf[1]),
		    "%s/ecdsa-shared.conf", dir) >= sizeof(conf[1]))
			bench_die("%s: path too long", dir);
		bench_tpm_conf(conf[0], store, swtpm, "exclusive");
		bench_tpm_conf(conf[1], store, swtpm, "shared");
		snprintf(tcti, sizeof(tcti), "swtpm:host=127.0.0.1,port=%d",
		    swtpm);
		if (setenv("TPM2_PKCS11_TCTI", tcti, 1) != 0)
			bench_die("setenv failed");
		nm2m = 2;
		nside = 3;
		sides[0] = (struct side){ "libm2mtoken [tpm] mode = exclusive",
		    &m2m, SIDE_M2M, conf[0], M2M_LABEL, NULL, 0, 0, 0, 0 };
		sides[1] = sides[0];
		sides[1].name = "libm2mtoken [tpm] mode = shared";
		sides[1].conf = conf[1];
		sides[2] = (struct side){ "tpm2-pkcs11", &ref,
		    SIDE_TPM2_PKCS11, NULL,
		    bench_env("BENCH_TPM2_PKCS11_TOKEN", "bench-tpm2"),
		    bench_env("BENCH_TPM2_PKCS11_PIN", "bench-user-pin"), 0, 0, 0,
		    0 };
		goal = GOAL_TPM;
		if (setenv("M2MTOKEN_CONF", conf[0], 1) != 0)
			bench_die("setenv failed");
		bench_load_final(getenv("M2MTOKEN_MODULE"), &m2m);
		bench_load_final(bench_env("BENCH_TPM2_PKCS11_MODULE",
		    TPM2_PKCS11_DEFAULT), &ref);
	} else {
		nm2m = 1;
		nside = 3;
		sides[0] = (struct side){ "libm2mtoken [backend] type = hsm",
		    &m2m, SIDE_M2M, bench_env("M2MTOKEN_CONF", ""), M2M_LABEL,
		    NULL, 0, 0, 0, 0 };
		sides[1] = (struct side){ "SoftHSM2 direct, token key", &ref,
		    SIDE_SOFTHSM, NULL, NULL, NULL, 0, 0, 0, 0 };
		sides[2] = sides[1];
		sides[2].name = "SoftHSM2 direct, session key";
		sides[2].session = 1;
		goal = GOAL_HSM;
		bench_load_final(getenv("M2MTOKEN_MODULE"), &m2m);
		bench_load_final(bench_env("BENCH_SOFTHSM_MODULE", SOFTHSM_DEFAULT),
		    &ref);
	}

	/* the token key pairs: one m2mtoken token serves both modes */
	for (k = nside - 1; k >= nm2m - 1; k--)
		side_setup(&sides[k]);

	for (k = 0; k < nside; k++) {
		if ((v[k] = calloc((size_t)o.rounds, sizeof(double))) == NULL)
			bench_die("out of memory");
		for (j = nm2m; j < nside; j++)
			if ((ratio[k][j] = calloc((size_t)o.rounds,
			    sizeof(double))) == NULL)
				bench_die("out of memory");
	}
	fprintf(stderr, "bench_ecdsa %s: %d rounds of %.1f s per side\n",
	    argv[1], o.rounds, o.seconds);
	for (i = 0; i < o.rounds; i++) {
		/* A B C, then C B A */
		for (j = 0; j < nside; j++)
			order[j] = &sides[i % 2 ? nside - 1 - j : j];
		for (j = 0; j < nside; j++)
			v[order[j] - sides][i] = round_ops(order[j],
			    o.seconds);
		fprintf(stderr, "  round %d:", i + 1);
		for (k = 0; k < nside; k++) {
			for (j = nm2m; j < nside && k < nm2m; j++)
				ratio[k][j][i] = v[k][i] / v[j][i];
			fprintf(stderr, " %s %.0f/s%s", sides[k].name, v[k][i],
			    k < nside - 1 ? "," : "\n");
		}
	}
	printf("| benchmark (ECDSA P-256, CKM_ECDSA over a 32-byte digest, "
	    "C_SignInit + C_Sign; signatures/s, median of %d rounds) | "
	    "libm2mtoken | reference | ratio (median of per-round ratios) "
	    "| goal |\n", o.rounds);
	printf("|---|---|---|---|---|\n");
	for (k = 0; k < nm2m; k++)
		for (j = nm2m; j < nside; j++) {
			rmed = bench_median(ratio[k][j], (size_t)o.rounds);
			printf("| %s against %s | %s | %s | %.2fx | >= %.1fx: "
			    "%s |\n", sides[k].name, sides[j].name,
			    bench_count(bench_median(v[k], (size_t)o.rounds),
			    ca, sizeof(ca)), bench_count(bench_median(v[j],
			    (size_t)o.rounds), cb, sizeof(cb)), rmed, goal,
			    rmed >= goal ? "met" : "MISSED");
		}
	fflush(stdout);
	for (k = 0; k < nside; k++) {
		free(v[k]);
		for (j = nm2m; j < nside; j++)
			free(ratio[k][j]);
	}
	bench_unload(&ref);
	bench_unload(&m2m);
	return 0;
}
