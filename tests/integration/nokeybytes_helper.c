/*
 * nokeybytes_helper: the PKCS#11 half of test_nokeybytes.sh (not a ctest of
 * its own: the name does not start with p11_).
 *
 *   nokeybytes_helper hsm|tpm KPM_HEX KE_HEX KEID MAF_ID ENROLEE_B_ID FIFO
 *
 * Makes a token, imports Kpm (label "kpm-nokeybytes-label") and Ke (label
 * KEID) as token objects, derives Km and Kpsa, an E2E master (SHA-256, no
 * salt) and T(1..4) from each of them, all on the token.  Prints, for the
 * script to check its own computation of the key values against:
 *   MAC_KPSA_T1 <hex of HMAC-SHA-256(T(1) from Kpsa, "probe")>
 *   MAC_KM_T1 <hex of HMAC-SHA-256(T(1) from Km, "probe")>
 *   READY
 * then waits for a line on FIFO (the script searches the files while the
 * module still has them open), C_Finalizes and prints DONE.
 */
#include "p11client.h"

static CK_SESSION_HANDLE S;

static void
chain(const char *name, CK_OBJECT_HANDLE base)
{
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE tok[] = { { CKA_TOKEN, &yes, 1 } };
	CK_OBJECT_HANDLE m, t[4];
	uint8_t mac[32], n;
	CK_ULONG ml = sizeof(mac);
	char hex[65];

	CHECK_RV(p11c_derive(S, CKM_M2M_E2E_MASTER_SHA256, NULL, 0, base, tok,
	    1, &m), CKR_OK, "%s: E2E master", name);
	for (n = 1; n <= 4; n++)
		CHECK_RV(p11c_derive(S, CKM_M2M_E2E_EXPAND, &n, 1, m, tok, 1,
		    &t[n - 1]), CKR_OK, "%s: T(%u)", name, n);
	CHECK_RV(p11c_sign(S, CKM_SHA256_HMAC, t[0], "probe", 5, mac, &ml),
	    CKR_OK, "%s: MAC with T(1)", name);
	p11c_tohex(mac, 32, hex);
	printf("MAC_%s_T1 %s\n", name, hex);
}

int
main(int argc, char **argv)
{
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE tok[] = { { CKA_TOKEN, &yes, 1 } };
	CK_OBJECT_HANDLE kpm, ke, km, kpsa;
	uint8_t kpmv[32], kev[32];
	char line[16];
	FILE *f;

	if (argc != 8)
		p11c_bail("usage: nokeybytes_helper hsm|tpm KPM KE KEID MAF "
		    "ENROLEE FIFO");
	p11c_load(argc, argv);
	if (p11c_unhex(argv[2], kpmv, 32) != 32 ||
	    p11c_unhex(argv[3], kev, 32) != 32)
		p11c_bail("KPM and KE must be 32 bytes of hex");
	S = p11c_setup("nokeybytes", NULL);
	CHECK_RV(p11c_import_ex(S, CK_M2M_ROLE_KPM, "kpm-nokeybytes-label",
	    CKK_GENERIC_SECRET, kpmv, 32, CK_TRUE, NULL, 0, &kpm), CKR_OK,
	    "import Kpm");
	CHECK_RV(p11c_import_ex(S, CK_M2M_ROLE_KE, argv[4], CKK_GENERIC_SECRET,
	    kev, 32, CK_TRUE, NULL, 0, &ke), CKR_OK, "import Ke");
	memset(kpmv, 0, sizeof(kpmv));
	memset(kev, 0, sizeof(kev));
	CHECK_RV(p11c_derive(S, CKM_M2M_KM_DERIVE, argv[5], strlen(argv[5]),
	    ke, tok, 1, &km), CKR_OK, "derive Km");
	CHECK_RV(p11c_derive(S, CKM_M2M_KPSA_DERIVE, argv[6], strlen(argv[6]),
	    ke, tok, 1, &kpsa), CKR_OK, "derive Kpsa");
	chain("KPSA", kpsa);
	chain("KM", km);
	printf("READY\n");
	fflush(stdout);
	if ((f = fopen(argv[7], "r")) == NULL)
		p11c_bail("cannot open %s", argv[7]);
	if (fgets(line, sizeof(line), f) == NULL)
		p11c_bail("no line on %s", argv[7]);
	fclose(f);
	CHECK_RV(F->C_Finalize(NULL), CKR_OK, "C_Finalize");
	printf("DONE\n");
	return p11c_finish();
}
