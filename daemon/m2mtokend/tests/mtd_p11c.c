/*
 * mtd_p11c: a PKCS#11 client of $M2MTOKEN_MODULE for the client-mode
 * tests of m2mtokend (test_m2mtokend_p11.sh, test_m2mtokend_sep.sh); in
 * client mode when $M2MTOKEN_DAEMON_SOCKET is set.  The public PKCS#11
 * API only.
 *
 *   mtd_p11c setup TOKEN KPSAHEX   make TOKEN (user PIN P11C_USER_PIN),
 *                                  import the Kpsa, derive its E2E master
 *                                  and T(1) "t1" (token objects); prints
 *                                  MAC <HMAC-SHA-256(T(1), "probe")>
 *   mtd_p11c slots                 SLOTS n, then TOKEN <label> per slot
 *   mtd_p11c use TOKEN N           N MACs with "t1" (all alike): MAC <hex>;
 *                                  CKA_VALUE of every object: VALUE <rv>;
 *                                  OBJECTS n
 *   mtd_p11c loop TOKEN SECONDS    MACs with "t1" for SECONDS: LOOP n
 *   mtd_p11c ghost TOKEN           a session key "ghost", READY, sleep
 *   mtd_p11c count TOKEN LABEL     COUNT n: objects labelled LABEL
 *   mtd_p11c tokenwrite TOKEN      public CKO_DATA objects in an R/W
 *                                  session, without and with a login:
 *                                  one line per call, "<WHAT> <rv>", and
 *                                  "COUNT <n>" of those labelled
 *                                  "planted" (see tokenwrite())
 *   mtd_p11c fill TOKEN MAX        logged in, CKO_DATA token objects
 *                                  until one is refused, at most MAX:
 *                                  FILLED <n made> <rv that stopped it,
 *                                  or CKR_OK>; then a session object:
 *                                  SESSION <rv>
 *
 * Exit 0, or 1 with a line on stderr.
 */
#include <time.h>
#include <unistd.h>

#include "p11client.h"

static CK_SESSION_HANDLE
open_token(const char *label)
{
	P11C_MUST(F->C_Initialize(NULL));
	return p11c_user_session(p11c_token_slot(label));
}

/* HMAC-SHA-256 of "probe" with the key labelled "t1", in hex. */
static void
mac_t1(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE t1, char hex[65])
{
	uint8_t mac[32];
	CK_ULONG ml = sizeof(mac);

	P11C_MUST(p11c_sign(s, CKM_SHA256_HMAC, t1, "probe", 5, mac, &ml));
	if (ml != 32)
		p11c_bail("MAC of %lu bytes", (unsigned long)ml);
	p11c_tohex(mac, 32, hex);
}

static CK_OBJECT_HANDLE
find_t1(CK_SESSION_HANDLE s)
{
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;

	if (p11c_count_label(s, "t1", ~(CK_ULONG)0, &h) != 1)
		p11c_bail("not exactly one key labelled t1");
	return h;
}

static void
setup(const char *label, const char *kpsahex)
{
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE tok[] = { { CKA_TOKEN, &yes, 1 },
	    { CKA_LABEL, "e2e-sep", 7 } };
	CK_ATTRIBUTE t1t[] = { { CKA_TOKEN, &yes, 1 },
	    { CKA_LABEL, "t1", 2 } };
	CK_OBJECT_HANDLE kpsa, m, t1;
	CK_SESSION_HANDLE s;
	uint8_t v[32], n = 1;
	char hex[65];

	if (p11c_unhex(kpsahex, v, 32) != 32)
		p11c_bail("KPSAHEX: 32 bytes of hex");
	s = p11c_setup(label, NULL);
	P11C_MUST(p11c_import_ex(s, CK_M2M_ROLE_KPSA, "kpsa-sep",
	    CKK_GENERIC_SECRET, v, 32, CK_TRUE, NULL, 0, &kpsa));
	P11C_MUST(p11c_derive(s, CKM_M2M_E2E_MASTER_SHA256, NULL, 0, kpsa,
	    tok, 2, &m));
	P11C_MUST(p11c_derive(s, CKM_M2M_E2E_EXPAND, &n, 1, m, t1t, 2, &t1));
	mac_t1(s, t1, hex);
	printf("MAC %s\n", hex);
	explicit_bzero(v, sizeof(v));
	P11C_MUST(F->C_Finalize(NULL));
}

static void
slots(void)
{
	CK_SLOT_ID sl[64];
	CK_ULONG n = 64, i;
	CK_TOKEN_INFO ti;

	P11C_MUST(F->C_Initialize(NULL));
	P11C_MUST(F->C_GetSlotList(CK_FALSE, sl, &n));
	printf("SLOTS %lu\n", (unsigned long)n);
	for (i = 0; i < n; i++) {
		P11C_MUST(F->C_GetTokenInfo(sl[i], &ti));
		printf("TOKEN %.32s\n", (const char *)ti.label);
	}
	P11C_MUST(F->C_Finalize(NULL));
}

static void
use(const char *label, long times)
{
	CK_OBJECT_HANDLE objs[256];
	CK_SESSION_HANDLE s = open_token(label);
	CK_OBJECT_HANDLE t1 = find_t1(s);
	uint8_t buf[512];
	CK_ATTRIBUTE a;
	CK_ULONG n, i;
	char first[65], hex[65];
	long k;

	mac_t1(s, t1, first);
	for (k = 1; k < times; k++) {
		mac_t1(s, t1, hex);
		if (strcmp(hex, first) != 0)
			p11c_bail("MAC %ld differs", k);
	}
	printf("MAC %s\n", first);
	n = p11c_find(s, NULL, 0, objs, 256);
	for (i = 0; i < n && i < 256; i++) {
		a = (CK_ATTRIBUTE){ CKA_VALUE, buf, sizeof(buf) };
		printf("VALUE %s\n", p11c_rvname(F->C_GetAttributeValue(s,
		    objs[i], &a, 1)));
	}
	printf("OBJECTS %lu\n", (unsigned long)n);
	explicit_bzero(buf, sizeof(buf));
	P11C_MUST(F->C_Finalize(NULL));
}

static void
loop(const char *label, long secs)
{
	CK_SESSION_HANDLE s = open_token(label);
	CK_OBJECT_HANDLE t1 = find_t1(s);
	time_t end = time(NULL) + secs;
	char first[65], hex[65];
	long k = 0;

	mac_t1(s, t1, first);
	while (time(NULL) < end) {
		mac_t1(s, t1, hex);
		if (strcmp(hex, first) != 0)
			p11c_bail("MAC %ld differs", k);
		k++;
		usleep(2000);
	}
	printf("LOOP %ld\n", k);
	P11C_MUST(F->C_Finalize(NULL));
}

static void
ghost(const char *label)
{
	CK_SESSION_HANDLE s = open_token(label);
	CK_OBJECT_HANDLE h;
	uint8_t v[32];

	memset(v, 0x5a, sizeof(v));
	P11C_MUST(p11c_import(s, CK_M2M_ROLE_KPSA, "ghost", v, 32, &h));
	if (p11c_count_label(s, "ghost", ~(CK_ULONG)0, NULL) != 1)
		p11c_bail("the ghost key is not there");
	printf("READY\n");
	for (;;)
		pause();
}

static void
count(const char *label, const char *obj)
{
	CK_SESSION_HANDLE s = open_token(label);

	printf("COUNT %lu\n", (unsigned long)p11c_count_label(s, obj,
	    ~(CK_ULONG)0, NULL));
	P11C_MUST(F->C_Finalize(NULL));
}

/*
 * What a client without the user PIN may write: session objects, not
 * token objects (in client mode the daemon refuses those, whatever the
 * module's own rule).  Without a login: create a token object, count it,
 * create a session object, copy it to the token, relabel and destroy it;
 * then logged in: create the token object; logged out: relabel and
 * destroy it; logged in again: destroy it.
 */
static void
tokenwrite(const char *label)
{
	CK_OBJECT_CLASS data = CKO_DATA;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE tok[] = { { CKA_CLASS, &data, sizeof(data) },
	    { CKA_TOKEN, &yes, 1 }, { CKA_PRIVATE, &no, 1 },
	    { CKA_LABEL, "planted", 7 }, { CKA_VALUE, "x", 1 } };
	CK_ATTRIBUTE ses[] = { { CKA_CLASS, &data, sizeof(data) },
	    { CKA_TOKEN, &no, 1 }, { CKA_PRIVATE, &no, 1 },
	    { CKA_LABEL, "session", 7 }, { CKA_VALUE, "x", 1 } };
	CK_ATTRIBUTE ontoken[] = { { CKA_TOKEN, &yes, 1 } };
	CK_ATTRIBUTE relabel[] = { { CKA_LABEL, "renamed", 7 } };
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE, hs = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE ht = CK_INVALID_HANDLE;
	CK_SESSION_HANDLE s;
	CK_ULONG pl = strlen(P11C_USER_PIN);

	P11C_MUST(F->C_Initialize(NULL));
	P11C_MUST(F->C_OpenSession(p11c_token_slot(label),
	    CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s));
	printf("CREATE-TOKEN %s\n", p11c_rvname(F->C_CreateObject(s, tok, 5,
	    &h)));
	printf("COUNT %lu\n", (unsigned long)p11c_count_label(s, "planted",
	    ~(CK_ULONG)0, NULL));
	printf("CREATE-SESSION %s\n", p11c_rvname(F->C_CreateObject(s, ses,
	    5, &hs)));
	printf("COPY-TO-TOKEN %s\n", p11c_rvname(F->C_CopyObject(s, hs,
	    ontoken, 1, &h)));
	printf("SET-SESSION %s\n", p11c_rvname(F->C_SetAttributeValue(s, hs,
	    relabel, 1)));
	printf("DESTROY-SESSION %s\n", p11c_rvname(F->C_DestroyObject(s,
	    hs)));
	P11C_MUST(F->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)P11C_USER_PIN,
	    pl));
	printf("LOGIN-CREATE-TOKEN %s\n", p11c_rvname(F->C_CreateObject(s,
	    tok, 5, &ht)));
	printf("COUNT %lu\n", (unsigned long)p11c_count_label(s, "planted",
	    ~(CK_ULONG)0, NULL));
	P11C_MUST(F->C_Logout(s));
	printf("SET-TOKEN %s\n", p11c_rvname(F->C_SetAttributeValue(s, ht,
	    relabel, 1)));
	printf("DESTROY-TOKEN %s\n", p11c_rvname(F->C_DestroyObject(s, ht)));
	printf("COUNT %lu\n", (unsigned long)p11c_count_label(s, "planted",
	    ~(CK_ULONG)0, NULL));
	P11C_MUST(F->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)P11C_USER_PIN,
	    pl));
	printf("LOGIN-DESTROY-TOKEN %s\n", p11c_rvname(F->C_DestroyObject(s,
	    ht)));
	printf("COUNT %lu\n", (unsigned long)p11c_count_label(s, "planted",
	    ~(CK_ULONG)0, NULL));
	P11C_MUST(F->C_Finalize(NULL));
}

/*
 * A logged-in client filling its token ([token] max_objects of the
 * daemon's module configuration stops it), then making a session object.
 */
static void
fill(const char *label, long max)
{
	CK_OBJECT_CLASS data = CKO_DATA;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE tok[] = { { CKA_CLASS, &data, sizeof(data) },
	    { CKA_TOKEN, &yes, 1 }, { CKA_LABEL, "fill", 4 },
	    { CKA_VALUE, "x", 1 } };
	CK_ATTRIBUTE ses[] = { { CKA_CLASS, &data, sizeof(data) },
	    { CKA_TOKEN, &no, 1 }, { CKA_LABEL, "fill-session", 12 },
	    { CKA_VALUE, "x", 1 } };
	CK_SESSION_HANDLE s = open_token(label);
	CK_OBJECT_HANDLE h;
	CK_RV rv = CKR_OK;
	long n = 0;

	while (n < max && (rv = F->C_CreateObject(s, tok, 4, &h)) == CKR_OK)
		n++;
	printf("FILLED %ld %s\n", n, p11c_rvname(rv));
	printf("SESSION %s\n", p11c_rvname(F->C_CreateObject(s, ses, 4,
	    &h)));
	P11C_MUST(F->C_Finalize(NULL));
}

int
main(int argc, char **argv)
{
	p11c_load(1, argv);
	if (argc == 4 && strcmp(argv[1], "setup") == 0)
		setup(argv[2], argv[3]);
	else if (argc == 2 && strcmp(argv[1], "slots") == 0)
		slots();
	else if (argc == 4 && strcmp(argv[1], "use") == 0)
		use(argv[2], strtol(argv[3], NULL, 10));
	else if (argc == 4 && strcmp(argv[1], "loop") == 0)
		loop(argv[2], strtol(argv[3], NULL, 10));
	else if (argc == 3 && strcmp(argv[1], "ghost") == 0)
		ghost(argv[2]);
	else if (argc == 3 && strcmp(argv[1], "tokenwrite") == 0)
		tokenwrite(argv[2]);
	else if (argc == 4 && strcmp(argv[1], "count") == 0)
		count(argv[2], argv[3]);
	else if (argc == 4 && strcmp(argv[1], "fill") == 0)
		fill(argv[2], strtol(argv[3], NULL, 10));
	else
		p11c_bail("usage: mtd_p11c "
		    "setup|slots|use|loop|ghost|count|tokenwrite|fill");
	return 0;
}
