/*
 * The allocation-failure loop at the PKCS#11 boundary (STYLE.md): the whole
 * module (pkcs11/, token/, hsm/ or tpm/), linked statically, on a throw-away
 * SoftHSM2 (argument "hsm", the default) or swtpm ("tpm"), with the Nth
 * allocation of one PKCS#11 call failing, for every N (support_alloc.c),
 * until a run sees no injected failure.
 *
 * test_torture.c does the same for token/ alone; this one covers what
 * pkcs11/ adds on top (templates, the object cache, default labels and
 * identifiers of derived keys, NFKC of identifiers, find, login) and the
 * backends.  SoftHSM2, SQLite, OpenSSL and tpm2-tss allocate in their
 * shared libraries: never failed.
 *
 * For each run:
 *   - the call answers CKR_OK or CKR_HOST_MEMORY, nothing else;
 *   - CKR_HOST_MEMORY only when the failure was injected;
 *   - after CKR_HOST_MEMORY the token holds exactly the objects it held
 *     before (no half-made key: a derived key without its label, say), and
 *     an object that was to be changed or destroyed is as it was;
 *   - after CKR_OK the result is the one an undisturbed call gives
 *     (attributes, MACs and extractable values compared with a reference
 *     run);
 *   - everything is freed: ASan's LeakSanitizer and valgrind check at exit.
 * M2M_TORTURE_FILTER=<substring> runs only the scenarios whose name holds it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include <m2mtoken/pkcs11-m2m.h>

#include "../integration/p11client.h"
#include "support_alloc.h"
#include "support_softhsm.h"
#ifdef M2M_HAVE_TPM
#include "support_swtpm.h"
#endif

#define HSM_PIN		"hsm-pin-1234"
#define HSM_SO_PIN	"hsm-so-5678"
#define KEID		"000102030405060708090a0b0c0d0e0f@mef.example.com"
#define ENROLEE		"/in-cse.example.com/CAE01"	/* g_kpsa's */
#define ENROLEE2	"/in-cse.example.com/CAE02"	/* the scenario's */
#define SALT		"setup-salt"			/* g_master's */
#define MAF_WIDE	"\xef\xbd\x8d\xef\xbd\x81\xef\xbd\x86.example.com"
#define FP_MAX		1024	/* a fingerprint's bytes */
#define RUNS_MAX	20000	/* a scenario that never ends is a bug */

CK_RV	C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR);

static struct m2m_softhsm *g_hsm;
#ifdef M2M_HAVE_TPM
static struct m2m_swtpm *g_tpm;
#endif
static int g_use_tpm;
static char g_conf[512];
static CK_SLOT_ID g_slot;
static CK_SESSION_HANDLE S;

/* The keys every scenario starts from, made once, unarmed. */
static CK_OBJECT_HANDLE g_ke, g_kpm, g_kpsa, g_master, g_auth, g_plain;

/* ---- helpers ------------------------------------------------------------ */

/* The attributes that tell two keys apart, and a MAC or value if allowed. */
struct fp {
	uint8_t	b[FP_MAX];
	size_t	len;
};

static void
fp_add(struct fp *f, CK_ATTRIBUTE_TYPE t, CK_OBJECT_HANDLE h)
{
	uint8_t buf[256];
	CK_ULONG len = sizeof(buf);
	CK_RV rv;

	rv = p11c_get_bytes(S, h, t, buf, &len);
	if (rv != CKR_OK)
		len = 0;	/* absent or sensitive: part of the print too */
	assert_true(f->len + 2 * sizeof(CK_ULONG) + len <= sizeof(f->b));
	memcpy(f->b + f->len, &t, sizeof(t));
	f->len += sizeof(t);
	memcpy(f->b + f->len, &rv, sizeof(rv));
	f->len += sizeof(rv);
	memcpy(f->b + f->len, buf, len);
	f->len += len;
}

static void
fingerprint(CK_OBJECT_HANDLE h, struct fp *f)
{
	static const CK_ATTRIBUTE_TYPE attrs[] = {
		CKA_CLASS, CKA_KEY_TYPE, CKA_TOKEN, CKA_PRIVATE, CKA_LABEL,
		CKA_ID, CKA_VALUE_LEN, CKA_SENSITIVE, CKA_EXTRACTABLE,
		CKA_M2M_ROLE, CKA_M2M_PEER_ID, CKA_M2M_ENROLEE_ID,
		CKA_M2M_EXPIRES, CKA_VALUE,
	};
	uint8_t mac[64];
	CK_ULONG maclen = sizeof(mac), role = 0;
	size_t i;

	memset(f, 0, sizeof(*f));
	for (i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
		fp_add(f, attrs[i], h);
	(void)p11c_get_ulong(S, h, CKA_M2M_ROLE, &role);
	if (role == CK_M2M_ROLE_KE2E_MSG_AUTH) {
		assert_int_equal(p11c_sign(S, CKM_SHA256_HMAC, h, "torture",
		    7, mac, &maclen), CKR_OK);
		memcpy(f->b + f->len, mac, maclen);
		f->len += maclen;
	}
}

/* Every handle the session sees, sorted. */
static CK_ULONG
all_objects(CK_OBJECT_HANDLE *out, CK_ULONG max)
{
	CK_ULONG n = p11c_find(S, NULL, 0, out, max), i, j;
	CK_OBJECT_HANDLE t;

	assert_true(n <= max);
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && out[j - 1] > out[j]; j--) {
			t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return n;
}

static void
destroy(CK_OBJECT_HANDLE h)
{
	assert_int_equal(F->C_DestroyObject(S, h), CKR_OK);
}

/* ---- scenarios ---------------------------------------------------------- */

/*
 * One scenario: prep (unarmed, may be NULL) sets up what op needs; op is the
 * one PKCS#11 call under failure, returning its CK_RV and the object it made
 * (or CK_INVALID_HANDLE); on CKR_OK, check compares with the reference run
 * (ref: 1 for that run, whose print it records) and undo (unarmed) puts the
 * token back as it was.
 */
struct scen {
	const char	*name;
	void		(*prep)(void);
	CK_RV		(*op)(CK_OBJECT_HANDLE *made);
	void		(*undo)(CK_OBJECT_HANDLE made);
};

static void
undo_destroy(CK_OBJECT_HANDLE made)
{
	destroy(made);
}

static CK_RV
op_create_token(CK_OBJECT_HANDLE *made)
{
	static const uint8_t v[32] = { 1, 2, 3, 4, 5, 6, 7, 8 };

	return p11c_import_ex(S, CK_M2M_ROLE_KPM, "kpm-torture",
	    CKK_GENERIC_SECRET, v, 32, CK_TRUE, NULL, 0, made);
}

static CK_RV
op_create_long_hmac(CK_OBJECT_HANDLE *made)
{
	uint8_t v[131];

	/* RFC 4231 test case 6's key: kept as SHA-256(K) and SHA-512(K) */
	memset(v, 0xaa, sizeof(v));
	return p11c_import_ex(S, 0, "long-hmac", CKK_GENERIC_SECRET, v,
	    sizeof(v), CK_TRUE, NULL, 0, made);
}

static CK_RV
op_create_data(CK_OBJECT_HANDLE *made)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL tr = CK_TRUE;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_TOKEN, &tr, sizeof(tr) },
		{ CKA_APPLICATION, "torture-app", 11 },
		{ CKA_VALUE, "torture data", 12 },
	};

	*made = CK_INVALID_HANDLE;
	return F->C_CreateObject(S, t, 4, made);
}

static CK_RV
op_kpsa_token(CK_OBJECT_HANDLE *made)
{
	CK_BBOOL tr = CK_TRUE;
	CK_ATTRIBUTE t[] = { { CKA_TOKEN, &tr, sizeof(tr) } };

	/* no label or ID given: both from the base key's label (KeId) */
	return p11c_derive(S, CKM_M2M_KPSA_DERIVE, ENROLEE2,
	    strlen(ENROLEE2), g_ke, t, 1, made);
}

static CK_RV
op_km_nfkc(CK_OBJECT_HANDLE *made)
{
	/* a full-width MAF-ID: NFKC turns it into "maf.example.com" */
	return p11c_derive(S, CKM_M2M_KM_DERIVE, MAF_WIDE, strlen(MAF_WIDE),
	    g_ke, NULL, 0, made);
}

static CK_RV
op_e2e_master(CK_OBJECT_HANDLE *made)
{
	/* no salt (g_master has one); label: the E2EKeyId of the new key */
	return p11c_derive(S, CKM_M2M_E2E_MASTER_SHA256, NULL, 0, g_kpsa,
	    NULL, 0, made);
}

static CK_RV
op_e2e_expand(CK_OBJECT_HANDLE *made)
{
	return p11c_expand(S, g_master, 3, made);	/* Ke2e_att_auth */
}

static CK_RV
op_tls_master(CK_OBJECT_HANDLE *made)
{
	static uint8_t sh[32] = { 9, 8, 7 };
	CK_M2M_TLS12_PSK_PARAMS p;
	CK_MECHANISM m = { CKM_M2M_TLS12_PSK_MASTER, &p, sizeof(p) };

	memset(&p, 0, sizeof(p));
	p.prfHashMechanism = CKM_SHA256;
	p.bExtendedMasterSecret = CK_TRUE;
	p.pSessionHash = sh;
	p.ulSessionHashLen = sizeof(sh);
	*made = CK_INVALID_HANDLE;
	return F->C_DeriveKey(S, &m, g_kpm, NULL, 0, made);
}

static CK_RV
op_copy(CK_OBJECT_HANDLE *made)
{
	static const char lab[] = "copied";
	CK_ATTRIBUTE t[] = { { CKA_LABEL, (void *)lab, sizeof(lab) - 1 } };

	*made = CK_INVALID_HANDLE;
	return F->C_CopyObject(S, g_plain, t, 1, made);
}

/* No object made: the MAC goes into a print of its own. */
static struct fp g_sign_fp;

static CK_RV
op_sign(CK_OBJECT_HANDLE *made)
{
	uint8_t mac[32];
	CK_ULONG len = sizeof(mac);
	CK_MECHANISM m = { CKM_SHA256_HMAC, NULL, 0 };
	CK_RV rv;

	*made = CK_INVALID_HANDLE;
	if ((rv = F->C_SignInit(S, &m, g_auth)) != CKR_OK)
		return rv;
	if ((rv = F->C_Sign(S, (CK_BYTE_PTR)"message", 7, mac, &len)) !=
	    CKR_OK)
		return rv;
	memset(&g_sign_fp, 0, sizeof(g_sign_fp));
	memcpy(g_sign_fp.b, mac, len);
	g_sign_fp.len = len;
	return CKR_OK;
}

static CK_RV
op_find(CK_OBJECT_HANDLE *made)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)KEID, strlen(KEID) },
	};
	CK_OBJECT_HANDLE h[8];
	CK_ULONG n = 0;
	CK_RV rv;

	*made = CK_INVALID_HANDLE;
	if ((rv = F->C_FindObjectsInit(S, t, 2)) != CKR_OK)
		return rv;
	rv = F->C_FindObjects(S, h, 8, &n);
	(void)F->C_FindObjectsFinal(S);
	if (rv != CKR_OK)
		return rv;
	memset(&g_sign_fp, 0, sizeof(g_sign_fp));
	memcpy(g_sign_fp.b, &n, sizeof(n));
	memcpy(g_sign_fp.b + sizeof(n), h, n * sizeof(h[0]));
	g_sign_fp.len = sizeof(n) + n * sizeof(h[0]);
	return CKR_OK;
}

static CK_RV
op_relabel(CK_OBJECT_HANDLE *made)
{
	static const char lab[] = "relabelled";
	CK_ATTRIBUTE t[] = { { CKA_LABEL, (void *)lab, sizeof(lab) - 1 } };

	*made = CK_INVALID_HANDLE;
	return F->C_SetAttributeValue(S, g_plain, t, 1);
}

static void
undo_relabel(CK_OBJECT_HANDLE made)
{
	static const char lab[] = "plain";
	CK_ATTRIBUTE t[] = { { CKA_LABEL, (void *)lab, sizeof(lab) - 1 } };

	(void)made;
	assert_int_equal(F->C_SetAttributeValue(S, g_plain, t, 1), CKR_OK);
}

/* Destroy: a fresh token key each run, made by prep. */
static CK_OBJECT_HANDLE g_victim = CK_INVALID_HANDLE;

static void
prep_victim(void)
{
	static const uint8_t v[16] = { 0x42 };

	if (g_victim == CK_INVALID_HANDLE)
		assert_int_equal(p11c_import_ex(S, 0, "victim", CKK_AES, v,
		    16, CK_TRUE, NULL, 0, &g_victim), CKR_OK);
}

static CK_RV
op_destroy(CK_OBJECT_HANDLE *made)
{
	CK_RV rv;

	*made = CK_INVALID_HANDLE;
	rv = F->C_DestroyObject(S, g_victim);
	if (rv == CKR_OK)
		g_victim = CK_INVALID_HANDLE;
	return rv;
}

static const struct scen scens[] = {
	{ "create_token_key", NULL, op_create_token, undo_destroy },
	{ "create_long_hmac_key", NULL, op_create_long_hmac, undo_destroy },
	{ "create_data_object", NULL, op_create_data, undo_destroy },
	{ "derive_kpsa_default_label", NULL, op_kpsa_token, undo_destroy },
	{ "derive_km_nfkc", NULL, op_km_nfkc, undo_destroy },
	{ "derive_e2e_master", NULL, op_e2e_master, undo_destroy },
	{ "derive_e2e_expand", NULL, op_e2e_expand, undo_destroy },
	{ "derive_tls_master", NULL, op_tls_master, undo_destroy },
	{ "copy_object", NULL, op_copy, undo_destroy },
	{ "sign", NULL, op_sign, NULL },
	{ "find", NULL, op_find, NULL },
	{ "set_label", NULL, op_relabel, undo_relabel },
	{ "destroy", prep_victim, op_destroy, NULL },
};

/* The print of what a run of sc did (the object, or its own output). */
static void
print_of(const struct scen *sc, CK_OBJECT_HANDLE made, struct fp *f)
{
	if (made != CK_INVALID_HANDLE)
		fingerprint(made, f);
	else if (sc->op == op_relabel)
		fingerprint(g_plain, f);
	else if (sc->op == op_destroy)
		memset(f, 0, sizeof(*f));
	else
		*f = g_sign_fp;
}

static void
run_scenario(const struct scen *sc)
{
	CK_OBJECT_HANDLE before[P11C_MAX_OBJS], after[P11C_MAX_OBJS];
	CK_OBJECT_HANDLE made;
	struct fp want, got, keep;
	CK_ULONG nb, na;
	unsigned long n, failed = 0;
	int injected;
	CK_RV rv;

	/* the reference run */
	if (sc->prep != NULL)
		sc->prep();
	assert_int_equal(sc->op(&made), CKR_OK);
	print_of(sc, made, &want);
	if (sc->undo != NULL)
		sc->undo(made);

	for (n = 1; n <= RUNS_MAX; n++) {
		if (sc->prep != NULL)
			sc->prep();
		nb = all_objects(before, P11C_MAX_OBJS);
		if (sc->op == op_relabel)
			fingerprint(g_plain, &keep);
		made = CK_INVALID_HANDLE;
		m2m_alloc_arm(n);
		rv = sc->op(&made);
		injected = m2m_alloc_disarm();
		if (rv == CKR_OK) {
			print_of(sc, made, &got);
			if (got.len != want.len ||
			    memcmp(got.b, want.b, got.len) != 0)
				fail_msg("%s: run %lu (failure %s): CKR_OK with "
				    "another result", sc->name, n,
				    injected ? "injected" : "not reached");
			if (sc->undo != NULL)
				sc->undo(made);
		} else {
			if (rv != CKR_HOST_MEMORY || !injected)
				fail_msg("%s: run %lu (failure %s): %s, want "
				    "CKR_HOST_MEMORY", sc->name, n,
				    injected ? "injected" : "not reached",
				    p11c_rvname(rv));
			failed++;
			na = all_objects(after, P11C_MAX_OBJS);
			if (na != nb || memcmp(before, after,
			    nb * sizeof(before[0])) != 0)
				fail_msg("%s: run %lu: CKR_HOST_MEMORY but the "
				    "token holds %lu objects, %lu before",
				    sc->name, n, na, nb);
			if (sc->op == op_relabel) {
				fingerprint(g_plain, &got);
				assert_memory_equal(got.b, keep.b, keep.len);
			}
		}
		if (!injected)
			break;
	}
	assert_true(n <= RUNS_MAX);
	print_message("%-28s %5lu allocations, %5lu runs failed with "
	    "CKR_HOST_MEMORY\n", sc->name, n - 1, failed);
}

static void
test_calls(void **state)
{
	const char *filter = getenv("M2M_TORTURE_FILTER");
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(scens) / sizeof(scens[0]); i++)
		if (filter == NULL || strstr(scens[i].name, filter) != NULL)
			run_scenario(&scens[i]);
}

/*
 * C_Login with every allocation failing in turn: never CKR_PIN_INCORRECT,
 * and a failure for want of memory never counts as a wrong PIN (else the
 * loop would lock the user out after max_pin_tries).
 */
static void
test_login(void **state)
{
	CK_TOKEN_INFO ti;
	unsigned long n;
	int injected;
	CK_RV rv;

	(void)state;
	for (n = 1; n <= RUNS_MAX; n++) {
		assert_int_equal(F->C_Logout(S), CKR_OK);
		m2m_alloc_arm(n);
		rv = F->C_Login(S, CKU_USER, (CK_UTF8CHAR_PTR)P11C_USER_PIN,
		    strlen(P11C_USER_PIN));
		injected = m2m_alloc_disarm();
		if (rv != CKR_OK) {
			if (rv != CKR_HOST_MEMORY || !injected)
				fail_msg("C_Login run %lu: %s", n,
				    p11c_rvname(rv));
			assert_int_equal(F->C_Login(S, CKU_USER,
			    (CK_UTF8CHAR_PTR)P11C_USER_PIN,
			    strlen(P11C_USER_PIN)), CKR_OK);
		}
		assert_int_equal(F->C_GetTokenInfo(g_slot, &ti), CKR_OK);
		assert_int_equal(ti.flags & (CKF_USER_PIN_COUNT_LOW |
		    CKF_USER_PIN_LOCKED), 0);
		if (!injected)
			break;
	}
	print_message("%-28s %5lu allocations\n", "login", n - 1);
}

/* C_Initialize with every allocation failing in turn. */
static void
test_initialize(void **state)
{
	unsigned long n;
	int injected;
	CK_RV rv;

	(void)state;
	assert_int_equal(F->C_Finalize(NULL), CKR_OK);
	for (n = 1; n <= RUNS_MAX; n++) {
		m2m_alloc_arm(n);
		rv = F->C_Initialize(NULL);
		injected = m2m_alloc_disarm();
		if (rv != CKR_OK && (rv != CKR_HOST_MEMORY || !injected))
			fail_msg("C_Initialize run %lu: %s", n,
			    p11c_rvname(rv));
		if (rv == CKR_OK)
			assert_int_equal(F->C_Finalize(NULL), CKR_OK);
		if (!injected)
			break;
	}
	print_message("%-28s %5lu allocations\n", "initialize", n - 1);
	assert_int_equal(F->C_Initialize(NULL), CKR_OK);
	S = p11c_user_session(g_slot);
}

/* ---- fixtures ----------------------------------------------------------- */

static int
group_setup(void **state)
{
	static const uint8_t ke[32] = { 0x10, 0x11, 0x12 }, kpm[32] = { 7 };
	static const uint8_t auth[32] = { 0x5a }, plain[32] = { 0x33 };
	char path[600];
	FILE *f;

	(void)state;
	if (m2m_softhsm_new("m2m-backing", HSM_PIN, HSM_SO_PIN, &g_hsm) != 0)
		return -1;
	(void)snprintf(g_conf, sizeof(g_conf), "%s/m2mtoken.conf",
	    m2m_softhsm_dir(g_hsm));
	(void)snprintf(path, sizeof(path), "%s/store.db",
	    m2m_softhsm_dir(g_hsm));
	if ((f = fopen(g_conf, "w")) == NULL)
		return -1;
	fprintf(f, "[store]\npath = %s\n\n[backend]\ntype = %s\n\n"
	    "[hsm]\nmodule = %s\ntoken_label = m2m-backing\n"
	    "pin = env:M2M_TORTURE_HSM_PIN\n", path,
	    g_use_tpm ? "tpm" : "hsm", m2m_softhsm_module());
#ifdef M2M_HAVE_TPM
	if (g_use_tpm) {
		/* exclusive: one process owns this swtpm */
		if (m2m_swtpm_start(&g_tpm) != 0) {
			(void)fclose(f);
			return -1;
		}
		fprintf(f, "\n[tpm]\ntcti = %s\nmode = exclusive\n",
		    m2m_swtpm_tcti(g_tpm));
	}
#endif
	if (fclose(f) != 0)
		return -1;
	if (setenv("M2M_TORTURE_HSM_PIN", HSM_PIN, 1) != 0 ||
	    setenv("M2MTOKEN_CONF", g_conf, 1) != 0)
		return -1;

	if (C_GetFunctionList(&F) != CKR_OK)
		return -1;
	S = p11c_setup("torture", &g_slot);
	if (p11c_import_ex(S, CK_M2M_ROLE_KE, KEID, CKK_GENERIC_SECRET, ke,
	    32, CK_TRUE, NULL, 0, &g_ke) != CKR_OK ||
	    p11c_import(S, CK_M2M_ROLE_KPM, "kpm", kpm, 32, &g_kpm) !=
	    CKR_OK ||
	    p11c_derive(S, CKM_M2M_KPSA_DERIVE, ENROLEE, strlen(ENROLEE),
	    g_ke, NULL, 0, &g_kpsa) != CKR_OK ||
	    p11c_derive(S, CKM_M2M_E2E_MASTER_SHA256, SALT, strlen(SALT),
	    g_kpsa, NULL, 0, &g_master) != CKR_OK ||
	    p11c_import_ex(S, CK_M2M_ROLE_KE2E_MSG_AUTH, "auth",
	    CKK_GENERIC_SECRET, auth, 32, CK_TRUE, NULL, 0, &g_auth) !=
	    CKR_OK ||
	    p11c_import_ex(S, 0, "plain", CKK_GENERIC_SECRET, plain, 32,
	    CK_TRUE, NULL, 0, &g_plain) != CKR_OK)
		return -1;
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	if (F != NULL)
		(void)F->C_Finalize(NULL);
	m2m_softhsm_free(g_hsm);
	g_hsm = NULL;
#ifdef M2M_HAVE_TPM
	m2m_swtpm_free(g_tpm);
	g_tpm = NULL;
#endif
	return 0;
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_calls),
		cmocka_unit_test(test_login),
		cmocka_unit_test(test_initialize),
	};

	if (argc > 1 && strcmp(argv[1], "tpm") == 0) {
#ifdef M2M_HAVE_TPM
		g_use_tpm = 1;
#else
		fprintf(stderr, "built without the TPM backend\n");
		return 77;
#endif
	} else if (argc > 1 && strcmp(argv[1], "hsm") != 0) {
		fprintf(stderr, "usage: %s [hsm | tpm]\n", argv[0]);
		return 2;
	}
	print_message("backend: %s\n", g_use_tpm ? "tpm" : "hsm");
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
