/*
 * mtd_keytool: test set-up for the m2mtokend integration tests, over the
 * public PKCS#11 API of $M2MTOKEN_MODULE only.
 *
 *   mtd_keytool init TOKEN                 initialise TOKEN (SO PIN
 *                                          $M2M_SO_PIN, user PIN
 *                                          $M2MTOKEN_USER_PIN)
 *   mtd_keytool import TOKEN ROLE LABEL HEX [EXPIRES]
 *                                          a token key of ROLE (kpm, ke,
 *                                          kpsa, km, kuc, kc)
 *   mtd_keytool count TOKEN LABEL          how many keys are so labelled
 *
 * Exit 0 on success, 1 on failure (a line on stderr).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <m2mtoken/pkcs11-m2m.h>

static CK_FUNCTION_LIST_PTR F;

static const char *
envor(const char *n, const char *d)
{
	const char *v = getenv(n);

	return v != NULL && *v != '\0' ? v : d;
}

static int
label_is(const CK_UTF8CHAR lab[32], const char *label)
{
	size_t n = strlen(label), i;

	if (n > 32 || memcmp(lab, label, n) != 0)
		return 0;
	for (i = n; i < 32; i++)
		if (lab[i] != ' ')
			return 0;
	return 1;
}

/* The slot of the token labelled label (init: of a free one). */
static int
find_slot(const char *label, int init, CK_SLOT_ID *ret)
{
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64, i;
	CK_TOKEN_INFO ti;

	if (F->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
		return -1;
	for (i = 0; i < n; i++) {
		if (F->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		if (init ? !(ti.flags & CKF_TOKEN_INITIALIZED) :
		    ((ti.flags & CKF_TOKEN_INITIALIZED) &&
		    label_is(ti.label, label))) {
			*ret = slots[i];
			return 0;
		}
	}
	return -1;
}

static int
role_of(const char *s, CK_ULONG *ret)
{
	static const struct { const char *n; CK_ULONG r; } t[] = {
		{ "kpm", CK_M2M_ROLE_KPM }, { "ke", CK_M2M_ROLE_KE },
		{ "kpsa", CK_M2M_ROLE_KPSA }, { "km", CK_M2M_ROLE_KM },
		{ "kuc", CK_M2M_ROLE_KUC }, { "kc", CK_M2M_ROLE_KC },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(s, t[i].n) == 0) {
			*ret = t[i].r;
			return 0;
		}
	return -1;
}

int
main(int argc, char **argv)
{
	const char *pin = envor("M2MTOKEN_USER_PIN", "1234");
	const char *so = envor("M2M_SO_PIN", "5678");
	CK_C_GetFunctionList gfl;
	CK_SESSION_HANDLE s;
	CK_SLOT_ID slot;
	CK_UTF8CHAR lab[32];
	CK_RV rv;
	void *dl;

	if (argc < 3 || (dl = dlopen(envor("M2MTOKEN_MODULE", ""),
	    RTLD_NOW)) == NULL ||
	    (gfl = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList")) ==
	    NULL || gfl(&F) != CKR_OK || F->C_Initialize(NULL) != CKR_OK) {
		fprintf(stderr, "mtd_keytool: usage, or no module\n");
		return 1;
	}
	if (strcmp(argv[1], "init") == 0) {
		if (find_slot(argv[2], 1, &slot) != 0 || strlen(argv[2]) > 32)
			return fprintf(stderr, "no free slot\n"), 1;
		memset(lab, ' ', sizeof(lab));
		memcpy(lab, argv[2], strlen(argv[2]));
		if ((rv = F->C_InitToken(slot, (CK_UTF8CHAR_PTR)so, strlen(so),
		    lab)) != CKR_OK)
			return fprintf(stderr, "C_InitToken 0x%lx\n", rv), 1;
		if (find_slot(argv[2], 0, &slot) != 0 ||
		    F->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
		    NULL, NULL, &s) != CKR_OK ||
		    F->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)so, strlen(so)) !=
		    CKR_OK || F->C_InitPIN(s, (CK_UTF8CHAR_PTR)pin,
		    strlen(pin)) != CKR_OK)
			return fprintf(stderr, "mtd_keytool: InitPIN\n"), 1;
		F->C_Finalize(NULL);
		return 0;
	}
	if (find_slot(argv[2], 0, &slot) != 0 ||
	    F->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
	    NULL, &s) != CKR_OK ||
	    F->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)) !=
	    CKR_OK) {
		fprintf(stderr, "mtd_keytool: token %s: no session\n", argv[2]);
		return 1;
	}
	if (strcmp(argv[1], "import") == 0 && (argc == 6 || argc == 7)) {
		CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
		CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
		CK_BBOOL yes = CK_TRUE;
		CK_ULONG role, n = 0;
		CK_BYTE val[64];
		CK_OBJECT_HANDLE h;
		CK_ATTRIBUTE t[8];
		size_t i, vl = strlen(argv[5]) / 2;
		unsigned int v;

		if (role_of(argv[3], &role) != 0 || vl > sizeof(val))
			return fprintf(stderr, "mtd_keytool: bad role\n"), 1;
		for (i = 0; i < vl; i++) {
			if (sscanf(argv[5] + 2 * i, "%2x", &v) != 1)
				return 1;
			val[i] = (CK_BYTE)v;
		}
		t[n++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof(cls) };
		t[n++] = (CK_ATTRIBUTE){ CKA_KEY_TYPE, &kt, sizeof(kt) };
		t[n++] = (CK_ATTRIBUTE){ CKA_TOKEN, &yes, sizeof(yes) };
		t[n++] = (CK_ATTRIBUTE){ CKA_VALUE, val, vl };
		t[n++] = (CK_ATTRIBUTE){ CKA_M2M_ROLE, &role, sizeof(role) };
		t[n++] = (CK_ATTRIBUTE){ CKA_LABEL, argv[4], strlen(argv[4]) };
		if (argc == 7)
			t[n++] = (CK_ATTRIBUTE){ CKA_M2M_EXPIRES, argv[6],
			    strlen(argv[6]) };
		if ((rv = F->C_CreateObject(s, t, n, &h)) != CKR_OK)
			return fprintf(stderr, "C_CreateObject 0x%lx\n", rv), 1;
	} else if (strcmp(argv[1], "count") == 0 && argc == 4) {
		CK_ATTRIBUTE t[] = { { CKA_LABEL, argv[3], strlen(argv[3]) } };
		CK_OBJECT_HANDLE h[64];
		CK_ULONG n = 0;

		if (F->C_FindObjectsInit(s, t, 1) != CKR_OK ||
		    F->C_FindObjects(s, h, 64, &n) != CKR_OK)
			return 1;
		F->C_FindObjectsFinal(s);
		printf("%lu\n", (unsigned long)n);
	} else {
		fprintf(stderr, "mtd_keytool: usage\n");
		return 1;
	}
	F->C_Logout(s);
	F->C_CloseSession(s);
	F->C_Finalize(NULL);
	return 0;
}
