/*
 * m2m-keycheck: every secret key of a token, and whether its value can be
 * read through PKCS#11 (it must not).
 *
 *   m2m-keycheck --token LABEL --pin-file FILE
 *
 * Logs in to the token LABEL of $M2MTOKEN_MODULE ($M2MTOKEN_CONF) as its
 * user, finds every secret key object, and for each asks
 * C_GetAttributeValue(CKA_VALUE) twice (length query, then into a buffer)
 * and reads CKA_SENSITIVE, CKA_EXTRACTABLE.  One line per key on stdout:
 *   key<TAB>ROLE<TAB>LABEL<TAB>CKA_VALUE refused (CKR_ATTRIBUTE_SENSITIVE)
 * then "keys N readable 0".  Exits 0 only when no value came out and every
 * key is sensitive and not extractable; 1 otherwise, 2 on a usage error.
 * The lines are meant for scripts too (tests/flows): ROLE and LABEL say
 * which keys the token holds.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include <m2mtoken/pkcs11-m2m.h>

#define MAX_KEYS	4096

static const char *
role_name(CK_ULONG r)
{
	switch (r) {
	case CK_M2M_ROLE_KPM: return "kpm";
	case CK_M2M_ROLE_KE: return "ke";
	case CK_M2M_ROLE_KER: return "ker";
	case CK_M2M_ROLE_KM: return "km";
	case CK_M2M_ROLE_KPSA: return "kpsa";
	case CK_M2M_ROLE_KUC: return "kuc";
	case CK_M2M_ROLE_KC: return "kc";
	case CK_M2M_ROLE_KE2E_MASTER: return "e2e-master";
	case CK_M2M_ROLE_KE2E_MSG_AUTH: return "e2e-msg-auth";
	case CK_M2M_ROLE_KE2E_MSG_CONF: return "e2e-msg-conf";
	case CK_M2M_ROLE_KE2E_ATT_AUTH: return "e2e-att-auth";
	case CK_M2M_ROLE_KE2E_ATT_CONF: return "e2e-att-conf";
	default: return "other";
	}
}

static const char *
rv_name(CK_RV rv)
{
	static char buf[32];

	switch (rv) {
	case CKR_OK: return "CKR_OK";
	case CKR_ATTRIBUTE_SENSITIVE: return "CKR_ATTRIBUTE_SENSITIVE";
	case CKR_ATTRIBUTE_TYPE_INVALID: return "CKR_ATTRIBUTE_TYPE_INVALID";
	default:
		snprintf(buf, sizeof(buf), "CKR_0x%lx", (unsigned long)rv);
		return buf;
	}
}

int
main(int argc, char **argv)
{
	const char *token = NULL, *pin_file = NULL;
	const char *module = getenv("M2MTOKEN_MODULE");
	CK_FUNCTION_LIST_PTR f = NULL;
	CK_C_GetFunctionList gfl;
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE want = { CKA_CLASS, &cls, sizeof(cls) };
	static CK_OBJECT_HANDLE h[MAX_KEYS];
	CK_SLOT_ID slots[64];
	CK_ULONG ns = 64, n = 0, i;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_TOKEN_INFO ti;
	char pin[258];
	size_t tl, pl;
	long readable = 0;
	FILE *fp;
	void *dl;
	int rc = 1;

	for (i = 1; i + 1 < (CK_ULONG)argc; i += 2) {
		if (strcmp(argv[i], "--token") == 0)
			token = argv[i + 1];
		else if (strcmp(argv[i], "--pin-file") == 0)
			pin_file = argv[i + 1];
		else
			break;
	}
	if (i != (CK_ULONG)argc || token == NULL || pin_file == NULL ||
	    (tl = strlen(token)) > 32) {
		fprintf(stderr, "usage: m2m-keycheck --token LABEL "
		    "--pin-file FILE\n");
		return 2;
	}
	if ((fp = fopen(pin_file, "r")) == NULL ||
	    fgets(pin, sizeof(pin), fp) == NULL) {
		fprintf(stderr, "m2m-keycheck: cannot read %s\n", pin_file);
		if (fp != NULL)
			fclose(fp);
		return 1;
	}
	fclose(fp);
	pl = strcspn(pin, "\n");
	pin[pl] = '\0';
	if (module == NULL || (dl = dlopen(module, RTLD_NOW)) == NULL) {
		fprintf(stderr, "m2m-keycheck: cannot load $M2MTOKEN_MODULE\n");
		goto out;
	}
	*(void **)&gfl = dlsym(dl, "C_GetFunctionList");
	if (gfl == NULL || gfl(&f) != CKR_OK || f->C_Initialize(NULL) !=
	    CKR_OK) {
		f = NULL;
		fprintf(stderr, "m2m-keycheck: cannot initialise the module\n");
		goto out;
	}
	if (f->C_GetSlotList(CK_TRUE, slots, &ns) != CKR_OK)
		ns = 0;
	for (i = 0; i < ns && s == CK_INVALID_HANDLE; i++)
		if (f->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
		    memcmp(ti.label, token, tl) == 0 &&
		    (tl == 32 || ti.label[tl] == ' ') &&
		    f->C_OpenSession(slots[i], CKF_SERIAL_SESSION, NULL, NULL,
		    &s) != CKR_OK)
			s = CK_INVALID_HANDLE;
	if (s == CK_INVALID_HANDLE ||
	    f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, pl) != CKR_OK) {
		fprintf(stderr, "m2m-keycheck: token '%s' not found or login "
		    "failed\n", token);
		goto out;
	}
	if (f->C_FindObjectsInit(s, &want, 1) != CKR_OK ||
	    f->C_FindObjects(s, h, MAX_KEYS, &n) != CKR_OK) {
		fprintf(stderr, "m2m-keycheck: C_FindObjects failed\n");
		goto out;
	}
	f->C_FindObjectsFinal(s);
	for (i = 0; i < n; i++) {
		char label[257];
		CK_ULONG role = 0;
		CK_BBOOL sens = CK_FALSE, extr = CK_TRUE;
		uint8_t buf[512];
		CK_ATTRIBUTE a[] = {
			{ CKA_LABEL, label, sizeof(label) - 1 },
			{ CKA_M2M_ROLE, &role, sizeof(role) },
			{ CKA_SENSITIVE, &sens, sizeof(sens) },
			{ CKA_EXTRACTABLE, &extr, sizeof(extr) },
		};
		CK_ATTRIBUTE q = { CKA_VALUE, NULL, 0 };
		CK_ATTRIBUTE v = { CKA_VALUE, buf, sizeof(buf) };
		CK_RV rq, rv;

		if (f->C_GetAttributeValue(s, h[i], a, 4) != CKR_OK)
			a[0].ulValueLen = 0;
		if (a[0].ulValueLen >= sizeof(label))
			a[0].ulValueLen = 0;
		label[a[0].ulValueLen] = '\0';
		rq = f->C_GetAttributeValue(s, h[i], &q, 1);
		rv = f->C_GetAttributeValue(s, h[i], &v, 1);
		OPENSSL_cleanse(buf, sizeof(buf));
		if (rq == CKR_OK || rv == CKR_OK || !sens || extr) {
			readable++;
			printf("key\t%s\t%s\tCKA_VALUE %s (%s%s%s)\n",
			    role_name(role), label, rv == CKR_OK ?
			    "READABLE" : "refused", rv_name(rv),
			    sens ? "" : ", not sensitive",
			    extr ? ", extractable" : "");
		} else
			printf("key\t%s\t%s\tCKA_VALUE refused (%s)\n",
			    role_name(role), label, rv_name(rv));
	}
	printf("keys %lu readable %ld\n", (unsigned long)n, readable);
	rc = readable == 0 ? 0 : 1;
 out:
	OPENSSL_cleanse(pin, sizeof(pin));
	if (f != NULL) {
		if (s != CK_INVALID_HANDLE)
			f->C_CloseSession(s);
		f->C_Finalize(NULL);
	}
	return rc;
}
