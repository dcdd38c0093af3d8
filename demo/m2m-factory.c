/*
 * m2m-factory: the factory step of the story, on a device's or a
 * gateway's token: make the token if it is not there, and import a key
 * that is provisioned before the device ever runs (a Kpm shared with the
 * MEF, or the PSK a gateway shares with the MEF as an enrolment target).
 *
 *   m2m-factory --token LABEL --pin-file FILE
 *               [--import kpm|kpsa|kc --label ID --value-file FILE|-]
 *
 * The token LABEL of $M2MTOKEN_MODULE (with $M2MTOKEN_CONF) is initialised
 * when missing (SO PIN from $M2M_SO_PIN, default 5678; the user PIN from
 * FILE).  The key value comes from a file or stdin (never argv): 16 to 64
 * bytes, raw, or as hex text with an optional final newline.  It becomes a
 * non-extractable, sensitive token object labelled ID with that role; the
 * bytes are wiped here at once.  Public PKCS#11 API only.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <m2mtoken/pkcs11-m2m.h>

#define VALUE_MIN	16
#define VALUE_MAX	64
#define TEXT_MAX	(2 * VALUE_MAX + 2)

static CK_FUNCTION_LIST_PTR f;

static int
fail(const char *msg)
{
	fprintf(stderr, "m2m-factory: %s\n", msg);
	return 1;
}

static void
usage(void)
{
	fprintf(stderr, "usage: m2m-factory --token LABEL --pin-file FILE\n"
	    "           [--import kpm|kpsa|kc --label ID "
	    "--value-file FILE|-]\n");
	exit(2);
}

/* Up to max bytes of path ("-": stdin) into buf; the count, or -1. */
static long
slurp(const char *path, uint8_t *buf, size_t max)
{
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	size_t n;

	if (fp == NULL)
		return -1;
	n = fread(buf, 1, max, fp);
	if (fp != stdin)
		fclose(fp);
	return (long)n;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The key in text (n bytes): hex text or raw bytes, into v; its length. */
static long
key_value(const uint8_t *text, size_t n, uint8_t *v)
{
	size_t i, m = n;
	int hex = 1;

	if (m > 0 && text[m - 1] == '\n')
		m--;
	for (i = 0; i < m && hex; i++)
		hex = hexval(text[i]) >= 0;
	if (hex && m % 2 == 0 && m / 2 >= VALUE_MIN && m / 2 <= VALUE_MAX) {
		for (i = 0; i < m / 2; i++)
			v[i] = (uint8_t)(hexval(text[2 * i]) << 4 |
			    hexval(text[2 * i + 1]));
		return (long)(m / 2);
	}
	if (n < VALUE_MIN || n > VALUE_MAX)
		return -1;
	memcpy(v, text, n);
	return (long)n;
}

static int
role_of(const char *s, CK_ULONG *ret)
{
	if (strcmp(s, "kpm") == 0)
		*ret = CK_M2M_ROLE_KPM;
	else if (strcmp(s, "kpsa") == 0)
		*ret = CK_M2M_ROLE_KPSA;
	else if (strcmp(s, "kc") == 0)
		*ret = CK_M2M_ROLE_KC;
	else
		return -1;
	return 0;
}

/* The slot of the token labelled lab (32 bytes, blank padded), made on the
   first free slot if missing. */
static int
token_slot(const CK_UTF8CHAR lab[32], const char *pin, int *made,
    CK_SLOT_ID *ret)
{
	const char *so = getenv("M2M_SO_PIN");
	CK_SLOT_ID slots[64], free_slot = 0;
	CK_ULONG n = 64, i;
	CK_TOKEN_INFO ti;
	CK_SESSION_HANDLE s;
	int have_free = 0;

	if (so == NULL || *so == '\0')
		so = "5678";
	if (f->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
		return -1;
	for (i = 0; i < n; i++) {
		if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		if (!(ti.flags & CKF_TOKEN_INITIALIZED)) {
			if (!have_free) {
				free_slot = slots[i];
				have_free = 1;
			}
		} else if (memcmp(ti.label, lab, 32) == 0) {
			*ret = slots[i];
			return 0;
		}
	}
	if (!have_free || f->C_InitToken(free_slot, (CK_UTF8CHAR_PTR)so,
	    strlen(so), (CK_UTF8CHAR_PTR)lab) != CKR_OK ||
	    f->C_OpenSession(free_slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
	    NULL, NULL, &s) != CKR_OK)
		return -1;
	if (f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)so, strlen(so)) !=
	    CKR_OK || f->C_InitPIN(s, (CK_UTF8CHAR_PTR)pin, strlen(pin)) !=
	    CKR_OK) {
		f->C_CloseSession(s);
		return -1;
	}
	f->C_CloseSession(s);
	*made = 1;
	*ret = free_slot;
	return 0;
}

int
main(int argc, char **argv)
{
	const char *token = NULL, *pin_file = NULL, *role_s = NULL;
	const char *label = NULL, *value_file = NULL;
	const char *module = getenv("M2MTOKEN_MODULE");
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_BBOOL yes = CK_TRUE;
	CK_C_GetFunctionList gfl;
	CK_UTF8CHAR lab[32];
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE h;
	CK_SLOT_ID slot;
	CK_ULONG role = 0;
	uint8_t text[TEXT_MAX], v[VALUE_MAX];
	char pin[258];
	long n, vl = 0;
	int i, made = 0, rc = 1;
	void *dl;
	CK_RV rv;

	for (i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--token") == 0)
			token = argv[i + 1];
		else if (strcmp(argv[i], "--pin-file") == 0)
			pin_file = argv[i + 1];
		else if (strcmp(argv[i], "--import") == 0)
			role_s = argv[i + 1];
		else if (strcmp(argv[i], "--label") == 0)
			label = argv[i + 1];
		else if (strcmp(argv[i], "--value-file") == 0)
			value_file = argv[i + 1];
		else
			usage();
	}
	if (i != argc || token == NULL || pin_file == NULL ||
	    strlen(token) > 32 || (role_s != NULL && (label == NULL ||
	    value_file == NULL || role_of(role_s, &role) != 0)) ||
	    (role_s == NULL && (label != NULL || value_file != NULL)))
		usage();
	if ((n = slurp(pin_file, (uint8_t *)pin, sizeof(pin) - 1)) <= 0)
		return fail("cannot read the PIN file");
	if (pin[n - 1] == '\n')
		n--;
	pin[n] = '\0';
	if (role_s != NULL) {
		n = slurp(value_file, text, sizeof(text));
		vl = n > 0 ? key_value(text, (size_t)n, v) : -1;
		OPENSSL_cleanse(text, sizeof(text));
		if (vl < 0) {
			OPENSSL_cleanse(pin, sizeof(pin));
			return fail("the key must be 16 to 64 bytes, raw or "
			    "as hex text");
		}
	}
	if (module == NULL || (dl = dlopen(module, RTLD_NOW)) == NULL) {
		fail("cannot load $M2MTOKEN_MODULE");
		goto out;
	}
	*(void **)&gfl = dlsym(dl, "C_GetFunctionList");
	if (gfl == NULL || gfl(&f) != CKR_OK || f->C_Initialize(NULL) !=
	    CKR_OK) {
		f = NULL;
		fail("cannot initialise the module (is M2MTOKEN_CONF set?)");
		goto out;
	}
	memset(lab, ' ', sizeof(lab));
	memcpy(lab, token, strlen(token));
	if (token_slot(lab, pin, &made, &slot) != 0) {
		fail("cannot find or make the token");
		goto out;
	}
	printf("token '%s' %s\n", token, made ? "made" : "found");
	if (role_s != NULL) {
		CK_ATTRIBUTE t[] = {
			{ CKA_CLASS, &cls, sizeof(cls) },
			{ CKA_KEY_TYPE, &kt, sizeof(kt) },
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_LABEL, (CK_VOID_PTR)label, strlen(label) },
			{ CKA_M2M_ROLE, &role, sizeof(role) },
			{ CKA_VALUE, v, (CK_ULONG)vl },
		};

		if ((rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION |
		    CKF_RW_SESSION, NULL, NULL, &s)) != CKR_OK ||
		    (rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin,
		    strlen(pin))) != CKR_OK ||
		    (rv = f->C_CreateObject(s, t, 6, &h)) != CKR_OK) {
			fprintf(stderr, "m2m-factory: import of %s '%s' "
			    "failed: CK_RV 0x%lx\n", role_s, label,
			    (unsigned long)rv);
			goto out;
		}
		printf("imported %s '%s' (%ld bytes, sensitive, never "
		    "extractable)\n", role_s, label, vl);
	}
	rc = 0;
 out:
	OPENSSL_cleanse(v, sizeof(v));
	OPENSSL_cleanse(pin, sizeof(pin));
	if (f != NULL) {
		if (s != CK_INVALID_HANDLE)
			f->C_CloseSession(s);
		f->C_Finalize(NULL);
	}
	return rc;
}
