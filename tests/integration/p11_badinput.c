/*
 * p11_badinput: what the module answers to wrong calls, exactly, and that a
 * refused call changed nothing.
 *
 * - configuration, store and backend failures, each in a fresh child
 *   process: C_Initialize gives CKR_GENERAL_ERROR and exactly one line
 *   "m2mtoken: error: ..." on stderr that names the problem, no crash;
 * - calls before C_Initialize, bad C_Initialize arguments, NULL pointers,
 *   invalid session/object/slot handles, unknown mechanisms, bad mechanism
 *   parameters, bad templates, the size-query rules, tampered AEAD data and
 *   MACs, PINs (length, wrong, lockout), read-only sessions and private
 *   objects without login.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "p11client.h"

#define KEID		"000102030405060708090a0b0c0d0e0f@mef.example.com"
#define BOGUS		0x7fff1234UL	/* no such handle */

static CK_SESSION_HANDLE S;
static CK_SLOT_ID SLOT;
static const uint8_t IV[12] = { 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144 };

/* ------------------------------------------------------------------ */
/* configuration failures (fresh processes)                           */
/* ------------------------------------------------------------------ */

static char tmpdir[512];
static char *base_conf;

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (f == NULL)
		p11c_bail("cannot open %s", path);
	if ((buf = calloc(1, 65537)) == NULL)
		p11c_bail("out of memory");
	n = fread(buf, 1, 65536, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* path with data, mode 0600 (a configuration with a PIN in it is so) */
static void
spit(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0 ||
	    chmod(path, 0600) != 0)
		p11c_bail("cannot write %s", path);
}

/*
 * The harness's configuration with the first line starting with key (e.g.
 * "module =") replaced by repl (NULL key: repl appended after the line
 * "[store]").  Written to tmpdir/name; returns the path (static buffer).
 */
static const char *
conf_variant(const char *name, const char *key, const char *repl)
{
	static char path[1024];
	char *out, *p, *line;
	size_t cap = strlen(base_conf) + strlen(repl) + 16, off = 0, l;
	int done = 0;

	if ((out = malloc(cap)) == NULL)
		p11c_bail("out of memory");
	for (p = base_conf; *p != '\0'; p += l) {
		line = p;
		l = strcspn(p, "\n");
		if (p[l] == '\n')
			l++;
		if (!done && key != NULL && strncmp(line, key,
		    strlen(key)) == 0) {
			off += (size_t)snprintf(out + off, cap - off, "%s\n",
			    repl);
			done = 1;
			continue;
		}
		memcpy(out + off, line, l);
		off += l;
		if (!done && key == NULL && strncmp(line, "[store]", 7) == 0) {
			off += (size_t)snprintf(out + off, cap - off, "%s\n",
			    repl);
			done = 1;
		}
	}
	if (!done)
		p11c_bail("conf_variant %s: no line '%s'", name,
		    key ? key : "[store]");
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	spit(path, out, off);
	free(out);
	return path;
}

/* Read fd to EOF into buf (NUL-terminated). */
static void
drain(int fd, char *buf, size_t max)
{
	size_t off = 0;
	ssize_t n;

	for (;;) {
		n = read(fd, buf + off, max - 1 - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
		if (off == max - 1)
			break;
	}
	buf[off] = '\0';
}

/*
 * C_Initialize in a child with M2MTOKEN_CONF=conf; checks CKR_GENERAL_ERROR,
 * a normal exit, exactly one stderr line "m2mtoken: error: ..." holding
 * each of the (up to 2) keywords.
 */
static void
conf_case(const char *what, const char *conf, const char *kw1,
    const char *kw2)
{
	int out[2], err[2], status = 0, nl = 0;
	char obuf[256], ebuf[4096];
	unsigned long rv = ~0UL;
	const char *c;
	pid_t pid;

	if (pipe(out) != 0 || pipe(err) != 0)
		p11c_bail("pipe: %s", strerror(errno));
	fflush(stdout);
	if ((pid = fork()) < 0)
		p11c_bail("fork: %s", strerror(errno));
	if (pid == 0) {
		char line[64];

		close(out[0]);
		close(err[0]);
		dup2(err[1], 2);
		setenv("M2MTOKEN_CONF", conf, 1);
		unsetenv("M2MTOKEN_LOG_LEVEL");
		rv = F->C_Initialize(NULL);
		snprintf(line, sizeof(line), "%lu", rv);
		if (write(out[1], line, strlen(line)) < 0)
			_exit(3);
		if (rv == CKR_OK)
			F->C_Finalize(NULL);
		_exit(0);
	}
	close(out[1]);
	close(err[1]);
	drain(err[0], ebuf, sizeof(ebuf));
	drain(out[0], obuf, sizeof(obuf));
	close(out[0]);
	close(err[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "%s: the child exits normally (status 0x%x)", what, status);
	if (obuf[0] != '\0')
		rv = strtoul(obuf, NULL, 10);
	CHECK_RV(rv, CKR_GENERAL_ERROR, "%s: C_Initialize", what);
	for (c = ebuf; *c != '\0'; c++)
		nl += *c == '\n';
	CHECK(nl == 1 && strncmp(ebuf, "m2mtoken: error:", 16) == 0,
	    "%s: exactly one stderr line 'm2mtoken: error: ...' (%d lines)",
	    what, nl);
	CHECK(strstr(ebuf, kw1) != NULL && (kw2 == NULL ||
	    strstr(ebuf, kw2) != NULL), "%s: the line names '%s'%s%s", what,
	    kw1, kw2 ? " and " : "", kw2 ? kw2 : "");
	if (nl != 1 || strstr(ebuf, kw1) == NULL)
		p11c_note("%s: stderr was: %s", what, ebuf);
}

static void
test_config_failures(void)
{
	const char *conf = getenv("M2MTOKEN_CONF");
	const char *tmp = getenv("M2M_TMP");
	char p[1024], line[1100];
	uint8_t junk[4096];
	size_t i;

	if (conf == NULL)
		p11c_bail("M2MTOKEN_CONF is not set");
	if (getenv("M2MTOKEN_DAEMON_SOCKET") != NULL) {
		/* the daemon's own start checks its module's configuration */
		p11c_note("client mode: no store or backend configuration in "
		    "this process; skipped (the local run covers it)");
		return;
	}
	snprintf(tmpdir, sizeof(tmpdir), "%s/badinput.XXXXXX",
	    tmp ? tmp : "/tmp");
	if (mkdtemp(tmpdir) == NULL)
		p11c_bail("mkdtemp: %s", strerror(errno));
	base_conf = slurp(conf);

	snprintf(p, sizeof(p), "%s/no-such.conf", tmpdir);
	conf_case("missing config file", p, p, NULL);
	snprintf(p, sizeof(p), "%s", conf_variant("syntax.conf", "[backend]",
	    "[backend"));
	conf_case("syntax error", p, p, "syntax");
	conf_case("unknown key", conf_variant("unknown.conf", NULL,
	    "bogus_key = 1"), "bogus_key", "unknown");

	snprintf(p, sizeof(p), "%s/no/such/dir/store.db", tmpdir);
	snprintf(line, sizeof(line), "path = %s", p);
	conf_case("store in a missing directory",
	    conf_variant("nodir.conf", "path =", line), p, NULL);
	snprintf(p, sizeof(p), "%s/garbage.db", tmpdir);
	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 131 + 7);
	spit(p, junk, sizeof(junk));
	snprintf(line, sizeof(line), "path = %s", p);
	conf_case("store file of garbage bytes",
	    conf_variant("garbage.conf", "path =", line), p, NULL);

	if (strcmp(p11c_backend, "hsm") != 0)
		return;
	conf_case("[hsm] module that does not exist",
	    conf_variant("module.conf", "module =",
	    "module = /nonexistent/libnosuchhsm.so"),
	    "/nonexistent/libnosuchhsm.so", NULL);
	conf_case("[hsm] token_label that does not exist",
	    conf_variant("label.conf", "token_label =",
	    "token_label = no-such-token"), "no-such-token", "label");
	conf_case("wrong HSM PIN",
	    conf_variant("pin.conf", "pin =", "pin = 987654321"), "PIN",
	    NULL);
}

/* ------------------------------------------------------------------ */
/* before and around C_Initialize                                      */
/* ------------------------------------------------------------------ */

static CK_RV
mx_create(CK_VOID_PTR_PTR m)
{
	*m = (void *)1;
	return CKR_OK;
}

static CK_RV
mx_other(CK_VOID_PTR m)
{
	(void)m;
	return CKR_OK;
}

static void
test_not_initialized(void)
{
	const CK_RV NI = CKR_CRYPTOKI_NOT_INITIALIZED;
	CK_INFO info;
	CK_SLOT_ID slots[4];
	CK_ULONG n = 4;
	CK_SLOT_INFO si;
	CK_TOKEN_INFO ti;
	CK_MECHANISM_INFO mi;
	CK_SESSION_HANDLE s;
	CK_SESSION_INFO ssi;
	CK_OBJECT_HANDLE h;
	CK_MECHANISM m = { CKM_SHA256_HMAC, NULL, 0 };
	CK_UTF8CHAR lab[32];
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof(cls) } };
	CK_FUNCTION_LIST_PTR fl = NULL;
	CK_C_INITIALIZE_ARGS ia;
	uint8_t buf[16];

	p11c_pad32("x", lab);
	CHECK_RV(F->C_Finalize(NULL), NI, "C_Finalize before C_Initialize");
	CHECK_RV(F->C_GetInfo(&info), NI, "C_GetInfo before C_Initialize");
	CHECK_RV(F->C_GetSlotList(CK_FALSE, slots, &n), NI,
	    "C_GetSlotList before C_Initialize");
	CHECK_RV(F->C_GetSlotInfo(1, &si), NI, "C_GetSlotInfo before init");
	CHECK_RV(F->C_GetTokenInfo(1, &ti), NI, "C_GetTokenInfo before init");
	CHECK_RV(F->C_GetMechanismList(1, NULL, &n), NI,
	    "C_GetMechanismList before init");
	CHECK_RV(F->C_GetMechanismInfo(1, CKM_SHA256_HMAC, &mi), NI,
	    "C_GetMechanismInfo before init");
	CHECK_RV(F->C_InitToken(1, (CK_UTF8CHAR_PTR)"12345678", 8, lab), NI,
	    "C_InitToken before init");
	CHECK_RV(F->C_OpenSession(1, CKF_SERIAL_SESSION, NULL, NULL, &s), NI,
	    "C_OpenSession before init");
	CHECK_RV(F->C_CloseSession(1), NI, "C_CloseSession before init");
	CHECK_RV(F->C_CloseAllSessions(1), NI, "C_CloseAllSessions before "
	    "init");
	CHECK_RV(F->C_GetSessionInfo(1, &ssi), NI, "C_GetSessionInfo before "
	    "init");
	CHECK_RV(F->C_Login(1, CKU_USER, (CK_UTF8CHAR_PTR)"1234", 4), NI,
	    "C_Login before init");
	CHECK_RV(F->C_Logout(1), NI, "C_Logout before init");
	CHECK_RV(F->C_CreateObject(1, t, 1, &h), NI, "C_CreateObject before "
	    "init");
	CHECK_RV(F->C_FindObjectsInit(1, t, 1), NI, "C_FindObjectsInit before "
	    "init");
	CHECK_RV(F->C_SignInit(1, &m, 1), NI, "C_SignInit before init");
	CHECK_RV(F->C_EncryptInit(1, &m, 1), NI, "C_EncryptInit before init");
	CHECK_RV(F->C_DeriveKey(1, &m, 1, NULL, 0, &h), NI,
	    "C_DeriveKey before init");
	CHECK_RV(F->C_GenerateRandom(1, buf, sizeof(buf)), NI,
	    "C_GenerateRandom before init");
	CHECK_RV(F->C_DigestInit(1, &m), NI, "C_DigestInit before init");
	CHECK_RV(F->C_WaitForSlotEvent(0, slots, NULL), NI,
	    "C_WaitForSlotEvent before init");
	CHECK_RV(F->C_GetFunctionList(NULL), CKR_ARGUMENTS_BAD,
	    "C_GetFunctionList(NULL)");
	CHECK_RV(F->C_GetFunctionList(&fl), CKR_OK,
	    "C_GetFunctionList works before C_Initialize");

	memset(&ia, 0, sizeof(ia));
	ia.pReserved = (void *)&ia;
	CHECK_RV(F->C_Initialize(&ia), CKR_ARGUMENTS_BAD,
	    "C_Initialize(pReserved non-NULL)");
	memset(&ia, 0, sizeof(ia));
	ia.CreateMutex = mx_create;
	ia.DestroyMutex = mx_other;
	CHECK_RV(F->C_Initialize(&ia), CKR_ARGUMENTS_BAD,
	    "C_Initialize(2 of the 4 mutex functions)");
	ia.flags = CKF_OS_LOCKING_OK;
	CHECK_RV(F->C_Initialize(&ia), CKR_ARGUMENTS_BAD,
	    "C_Initialize(2 of 4 mutex functions, CKF_OS_LOCKING_OK)");
	CHECK_RV(F->C_GetInfo(&info), NI, "still not initialised");
	memset(&ia, 0, sizeof(ia));
	ia.flags = CKF_OS_LOCKING_OK;
	CHECK_RV(F->C_Initialize(&ia), CKR_OK,
	    "C_Initialize(CKF_OS_LOCKING_OK)");
	CHECK_RV(F->C_Initialize(NULL), CKR_CRYPTOKI_ALREADY_INITIALIZED,
	    "C_Initialize twice");
	CHECK_RV(F->C_Finalize((void *)&ia), CKR_ARGUMENTS_BAD,
	    "C_Finalize(non-NULL)");
	CHECK_RV(F->C_Finalize(NULL), CKR_OK, "C_Finalize");
	CHECK_RV(F->C_Finalize(NULL), NI, "C_Finalize twice");
}

/* ------------------------------------------------------------------ */
/* NULL pointers and invalid handles                                   */
/* ------------------------------------------------------------------ */

static void
test_null_pointers(CK_OBJECT_HANDLE mac, CK_OBJECT_HANDLE aes,
    CK_OBJECT_HANDLE ke)
{
	const CK_RV AB = CKR_ARGUMENTS_BAD;
	CK_MECHANISM hm = { CKM_SHA256_HMAC, NULL, 0 };
	CK_MECHANISM gk = { CKM_GENERIC_SECRET_KEY_GEN, NULL, 0 };
	CK_MECHANISM sha = { CKM_SHA256, NULL, 0 };
	CK_GCM_PARAMS gp = { (CK_BYTE_PTR)IV, 12, 96, NULL, 0, 128 };
	CK_MECHANISM gcm = { CKM_AES_GCM, &gp, sizeof(gp) };
	CK_MECHANISM kpsa = { CKM_M2M_KPSA_DERIVE, "/x", 2 };
	CK_ULONG len = 32, n, before;
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof(cls) } };
	CK_ATTRIBUTE vl[] = { { CKA_VALUE_LEN, &len, sizeof(len) } };
	CK_OBJECT_HANDLE h, objs[4];
	CK_UTF8CHAR lab[32];
	CK_SESSION_HANDLE s2;
	CK_INTERFACE ifs[4];
	CK_C_GetInterfaceList gil;
	CK_C_GetInterface gi;
	uint8_t buf[64];

	p11c_pad32("x", lab);
	before = p11c_count(S);
	CHECK_RV(F->C_GetInfo(NULL), AB, "C_GetInfo(NULL)");
	CHECK_RV(F->C_GetSlotList(CK_FALSE, NULL, NULL), AB,
	    "C_GetSlotList(pulCount NULL)");
	CHECK_RV(F->C_GetSlotInfo(SLOT, NULL), AB, "C_GetSlotInfo(NULL)");
	CHECK_RV(F->C_GetTokenInfo(SLOT, NULL), AB, "C_GetTokenInfo(NULL)");
	CHECK_RV(F->C_GetMechanismList(SLOT, NULL, NULL), AB,
	    "C_GetMechanismList(pulCount NULL)");
	CHECK_RV(F->C_GetMechanismInfo(SLOT, CKM_SHA256_HMAC, NULL), AB,
	    "C_GetMechanismInfo(NULL)");
	CHECK_RV(F->C_InitToken(p11c_free_slot(), NULL, 8, lab), AB,
	    "C_InitToken(pPin NULL)");
	CHECK_RV(F->C_InitToken(p11c_free_slot(), (CK_UTF8CHAR_PTR)"12345678",
	    8, NULL), AB, "C_InitToken(pLabel NULL)");
	CHECK_RV(F->C_OpenSession(SLOT, CKF_SERIAL_SESSION, NULL, NULL, NULL),
	    AB, "C_OpenSession(phSession NULL)");
	CHECK_RV(F->C_GetSessionInfo(S, NULL), AB, "C_GetSessionInfo(NULL)");
	P11C_MUST(F->C_OpenSession(SLOT, CKF_SERIAL_SESSION, NULL, NULL, &s2));
	CHECK_RV(F->C_Login(s2, CKU_SO, NULL, 8), AB,
	    "C_Login(pPin NULL, length 8)");
	P11C_MUST(F->C_CloseSession(s2));
	CHECK_RV(F->C_SetPIN(S, NULL, 8, (CK_UTF8CHAR_PTR)"abcdefgh", 8), AB,
	    "C_SetPIN(pOldPin NULL)");
	CHECK_RV(F->C_SetPIN(S, (CK_UTF8CHAR_PTR)"abcdefgh", 8, NULL, 8), AB,
	    "C_SetPIN(pNewPin NULL)");
	CHECK_RV(F->C_CreateObject(S, NULL, 3, &h), AB,
	    "C_CreateObject(pTemplate NULL, 3)");
	CHECK_RV(F->C_CreateObject(S, t, 1, NULL), AB,
	    "C_CreateObject(phObject NULL)");
	CHECK_RV(F->C_CopyObject(S, mac, NULL, 0, NULL), AB,
	    "C_CopyObject(phNewObject NULL)");
	CHECK_RV(F->C_CopyObject(S, mac, NULL, 2, &h), AB,
	    "C_CopyObject(pTemplate NULL, 2)");
	CHECK_RV(F->C_GetAttributeValue(S, mac, NULL, 1), AB,
	    "C_GetAttributeValue(pTemplate NULL, 1)");
	CHECK_RV(F->C_SetAttributeValue(S, mac, NULL, 1), AB,
	    "C_SetAttributeValue(pTemplate NULL, 1)");
	CHECK_RV(F->C_GetObjectSize(S, mac, NULL), AB,
	    "C_GetObjectSize(NULL)");
	CHECK_RV(F->C_FindObjectsInit(S, NULL, 1), AB,
	    "C_FindObjectsInit(pTemplate NULL, 1)");
	P11C_MUST(F->C_FindObjectsInit(S, NULL, 0));
	CHECK_RV(F->C_FindObjects(S, NULL, 4, &n), AB,
	    "C_FindObjects(phObject NULL)");
	CHECK_RV(F->C_FindObjects(S, objs, 4, NULL), AB,
	    "C_FindObjects(pulObjectCount NULL)");
	P11C_MUST(F->C_FindObjectsFinal(S));
	CHECK_RV(F->C_SignInit(S, NULL, mac), AB, "C_SignInit(NULL)");
	CHECK_RV(F->C_VerifyInit(S, NULL, mac), AB, "C_VerifyInit(NULL)");
	CHECK_RV(F->C_EncryptInit(S, NULL, aes), AB, "C_EncryptInit(NULL)");
	CHECK_RV(F->C_DecryptInit(S, NULL, aes), AB, "C_DecryptInit(NULL)");
	P11C_MUST(F->C_SignInit(S, &hm, mac));
	n = sizeof(buf);
	CHECK_RV(F->C_Sign(S, NULL, 5, buf, &n), AB, "C_Sign(pData NULL, 5)");
	P11C_MUST(F->C_SignInit(S, &hm, mac));
	CHECK_RV(F->C_Sign(S, (CK_BYTE_PTR)"x", 1, buf, NULL), AB,
	    "C_Sign(pulSignatureLen NULL)");
	P11C_MUST(F->C_VerifyInit(S, &hm, mac));
	CHECK_RV(F->C_Verify(S, (CK_BYTE_PTR)"x", 1, NULL, 32), AB,
	    "C_Verify(pSignature NULL, 32)");
	P11C_MUST(F->C_EncryptInit(S, &gcm, aes));
	CHECK_RV(F->C_Encrypt(S, (CK_BYTE_PTR)"x", 1, buf, NULL), AB,
	    "C_Encrypt(pulEncryptedDataLen NULL)");
	P11C_MUST(F->C_DecryptInit(S, &gcm, aes));
	n = sizeof(buf);
	CHECK_RV(F->C_Decrypt(S, NULL, 20, buf, &n), AB,
	    "C_Decrypt(pEncryptedData NULL, 20)");
	CHECK_RV(F->C_DigestInit(S, NULL), AB, "C_DigestInit(NULL)");
	P11C_MUST(F->C_DigestInit(S, &sha));
	CHECK_RV(F->C_Digest(S, (CK_BYTE_PTR)"x", 1, buf, NULL), AB,
	    "C_Digest(pulDigestLen NULL)");
	CHECK_RV(F->C_GenerateKey(S, NULL, vl, 1, &h), AB,
	    "C_GenerateKey(pMechanism NULL)");
	CHECK_RV(F->C_GenerateKey(S, &gk, vl, 1, NULL), AB,
	    "C_GenerateKey(phKey NULL)");
	CHECK_RV(F->C_DeriveKey(S, NULL, ke, NULL, 0, &h), AB,
	    "C_DeriveKey(pMechanism NULL)");
	CHECK_RV(F->C_DeriveKey(S, &kpsa, ke, NULL, 0, NULL), AB,
	    "C_DeriveKey(phKey NULL)");
	CHECK_RV(F->C_GenerateRandom(S, NULL, 16), AB,
	    "C_GenerateRandom(NULL, 16)");
	CHECK_RV(F->C_WrapKey(S, NULL, aes, mac, buf, &n), AB,
	    "C_WrapKey(pMechanism NULL)");
	CHECK_RV(F->C_WrapKey(S, &gcm, aes, mac, buf, NULL), AB,
	    "C_WrapKey(pulWrappedKeyLen NULL)");
	CHECK_RV(F->C_UnwrapKey(S, NULL, aes, buf, 16, t, 1, &h), AB,
	    "C_UnwrapKey(pMechanism NULL)");
	CHECK_RV(F->C_GenerateKeyPair(S, NULL, NULL, 0, NULL, 0, &h, &h), AB,
	    "C_GenerateKeyPair(pMechanism NULL)");
	CHECK_RV(F->C_GetOperationState(S, NULL, NULL), AB,
	    "C_GetOperationState(pulOperationStateLen NULL)");
	*(void **)&gil = dlsym(p11c_dl, "C_GetInterfaceList");
	*(void **)&gi = dlsym(p11c_dl, "C_GetInterface");
	CHECK(gil != NULL && gi != NULL, "C_GetInterfaceList and "
	    "C_GetInterface are exported");
	if (gil != NULL && gi != NULL) {
		CHECK_RV(gil(ifs, NULL), AB, "C_GetInterfaceList(pulCount "
		    "NULL)");
		CHECK_RV(gi(NULL, NULL, NULL, 0), AB,
		    "C_GetInterface(ppInterface NULL)");
	}
	CHECK(p11c_count(S) == before, "NULL-pointer calls created nothing");
}

static void
test_handles(CK_OBJECT_HANDLE mac, CK_OBJECT_HANDLE ke)
{
	const CK_RV SHI = CKR_SESSION_HANDLE_INVALID;
	CK_SESSION_INFO si;
	CK_SLOT_INFO sli;
	CK_TOKEN_INFO ti;
	CK_SESSION_HANDLE s2, closed;
	CK_MECHANISM hm = { CKM_SHA256_HMAC, NULL, 0 };
	CK_MECHANISM kpsa = { CKM_M2M_KPSA_DERIVE, "/x", 2 };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof(cls) } };
	CK_ATTRIBUTE lab[] = { { CKA_LABEL, "l", 1 } };
	CK_OBJECT_HANDLE h, sobj;
	CK_ULONG n;
	uint8_t buf[32], v[32];
	static const CK_OBJECT_HANDLE bad[2] = { CK_INVALID_HANDLE, BOGUS };
	int i;

	CHECK_RV(F->C_GetSessionInfo(BOGUS, &si), SHI,
	    "C_GetSessionInfo(bogus session)");
	CHECK_RV(F->C_GetSessionInfo(CK_INVALID_HANDLE, &si), SHI,
	    "C_GetSessionInfo(CK_INVALID_HANDLE)");
	CHECK_RV(F->C_CloseSession(BOGUS), SHI, "C_CloseSession(bogus)");
	CHECK_RV(F->C_Login(BOGUS, CKU_USER, (CK_UTF8CHAR_PTR)"12345678", 8),
	    SHI, "C_Login(bogus session)");
	CHECK_RV(F->C_CreateObject(BOGUS, t, 1, &h), SHI,
	    "C_CreateObject(bogus session)");
	CHECK_RV(F->C_SignInit(BOGUS, &hm, mac), SHI,
	    "C_SignInit(bogus session)");
	CHECK_RV(F->C_FindObjectsInit(BOGUS, NULL, 0), SHI,
	    "C_FindObjectsInit(bogus session)");
	CHECK_RV(F->C_GenerateRandom(BOGUS, buf, 8), SHI,
	    "C_GenerateRandom(bogus session)");
	P11C_MUST(F->C_OpenSession(SLOT, CKF_SERIAL_SESSION | CKF_RW_SESSION,
	    NULL, NULL, &closed));
	memset(v, 0x21, sizeof(v));
	P11C_MUST(p11c_import(closed, 0, NULL, v, 32, &sobj));
	P11C_MUST(F->C_CloseSession(closed));
	CHECK_RV(F->C_GetSessionInfo(closed, &si), SHI,
	    "C_GetSessionInfo(closed session)");
	CHECK_RV(F->C_GetSlotInfo(9999, &sli), CKR_SLOT_ID_INVALID,
	    "C_GetSlotInfo(9999)");
	CHECK_RV(F->C_GetTokenInfo(9999, &ti), CKR_SLOT_ID_INVALID,
	    "C_GetTokenInfo(9999)");
	CHECK_RV(F->C_OpenSession(9999, CKF_SERIAL_SESSION, NULL, NULL, &s2),
	    CKR_SLOT_ID_INVALID, "C_OpenSession(slot 9999)");
	CHECK_RV(F->C_OpenSession(SLOT, 0, NULL, NULL, &s2),
	    CKR_SESSION_PARALLEL_NOT_SUPPORTED,
	    "C_OpenSession without CKF_SERIAL_SESSION");
	CHECK_RV(F->C_OpenSession(p11c_free_slot(), CKF_SERIAL_SESSION, NULL,
	    NULL, &s2), CKR_TOKEN_NOT_RECOGNIZED,
	    "C_OpenSession on the uninitialised slot");
	for (i = 0; i < 2; i++) {
		CK_ATTRIBUTE a = { CKA_LABEL, buf, sizeof(buf) };

		CHECK_RV(F->C_GetAttributeValue(S, bad[i], &a, 1),
		    CKR_OBJECT_HANDLE_INVALID, "C_GetAttributeValue(object "
		    "0x%lx)", bad[i]);
		CHECK_RV(F->C_SetAttributeValue(S, bad[i], lab, 1),
		    CKR_OBJECT_HANDLE_INVALID, "C_SetAttributeValue(object "
		    "0x%lx)", bad[i]);
		CHECK_RV(F->C_DestroyObject(S, bad[i]),
		    CKR_OBJECT_HANDLE_INVALID, "C_DestroyObject(0x%lx)",
		    bad[i]);
		CHECK_RV(F->C_CopyObject(S, bad[i], NULL, 0, &h),
		    CKR_OBJECT_HANDLE_INVALID, "C_CopyObject(0x%lx)", bad[i]);
		CHECK_RV(F->C_GetObjectSize(S, bad[i], &n),
		    CKR_OBJECT_HANDLE_INVALID, "C_GetObjectSize(0x%lx)",
		    bad[i]);
		CHECK_RV(F->C_SignInit(S, &hm, bad[i]), CKR_KEY_HANDLE_INVALID,
		    "C_SignInit(key 0x%lx)", bad[i]);
		CHECK_RV(F->C_DeriveKey(S, &kpsa, bad[i], NULL, 0, &h),
		    CKR_KEY_HANDLE_INVALID, "C_DeriveKey(base 0x%lx)", bad[i]);
	}
	{
		CK_ATTRIBUTE a = { CKA_LABEL, buf, sizeof(buf) };

		CHECK_RV(F->C_GetAttributeValue(S, sobj, &a, 1),
		    CKR_OBJECT_HANDLE_INVALID, "session object of a closed "
		    "session is gone");
	}
	(void)ke;
}

/* ------------------------------------------------------------------ */
/* mechanisms and parameters                                           */
/* ------------------------------------------------------------------ */

static void
test_mechanisms(CK_OBJECT_HANDLE mac, CK_OBJECT_HANDLE aes,
    CK_OBJECT_HANDLE ke, CK_OBJECT_HANDLE kpsa, CK_OBJECT_HANDLE master,
    CK_OBJECT_HANDLE ikm)
{
	const CK_RV MI = CKR_MECHANISM_INVALID;
	const CK_RV PI = CKR_MECHANISM_PARAM_INVALID;
	CK_MECHANISM m;
	CK_MECHANISM_INFO mi;
	CK_GCM_PARAMS gp;
	CK_M2M_KUC_PARAMS kp;
	CK_M2M_TLS12_PSK_PARAMS tp;
	CK_HKDF_PARAMS hp;
	CK_ULONG l, len32 = 32, before;
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_ATTRIBUTE ht[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_VALUE_LEN, &len32, sizeof(len32) },
	};
	CK_OBJECT_HANDLE h;
	uint8_t n, rnd[32] = { 0 };

	before = p11c_count(S);
	m = (CK_MECHANISM){ CKM_MD5_HMAC, NULL, 0 };
	CHECK_RV(F->C_SignInit(S, &m, mac), MI, "C_SignInit(CKM_MD5_HMAC)");
	CHECK_RV(F->C_VerifyInit(S, &m, mac), MI,
	    "C_VerifyInit(CKM_MD5_HMAC)");
	m = (CK_MECHANISM){ CKM_M2M_ECCSI, NULL, 0 };
	CHECK_RV(F->C_SignInit(S, &m, mac), MI,
	    "C_SignInit(CKM_M2M_ECCSI) on an HMAC key");
	m = (CK_MECHANISM){ CKM_AES_CBC, rnd, 16 };	/* an IV of 16 */
	CHECK_RV(F->C_EncryptInit(S, &m, aes), MI, "C_EncryptInit(AES_CBC)");
	CHECK_RV(F->C_DecryptInit(S, &m, aes), MI, "C_DecryptInit(AES_CBC)");
	m = (CK_MECHANISM){ CKM_SHA256_KEY_DERIVATION, NULL, 0 };
	CHECK_RV(F->C_DeriveKey(S, &m, ke, NULL, 0, &h), MI,
	    "C_DeriveKey(CKM_SHA256_KEY_DERIVATION)");
	m = (CK_MECHANISM){ CKM_M2M_BASE + 0xffUL, NULL, 0 };
	CHECK_RV(F->C_DeriveKey(S, &m, ke, NULL, 0, &h), MI,
	    "C_DeriveKey(unknown vendor mechanism)");
	m = (CK_MECHANISM){ CKM_MD5, NULL, 0 };
	CHECK_RV(F->C_DigestInit(S, &m), MI, "C_DigestInit(CKM_MD5)");
	m = (CK_MECHANISM){ CKM_DES_KEY_GEN, NULL, 0 };
	CHECK_RV(F->C_GenerateKey(S, &m, NULL, 0, &h), MI,
	    "C_GenerateKey(CKM_DES_KEY_GEN)");
	CHECK_RV(F->C_GetMechanismInfo(SLOT, CKM_MD5, &mi), MI,
	    "C_GetMechanismInfo(CKM_MD5)");

	/* HMAC */
	l = 16;
	m = (CK_MECHANISM){ CKM_SHA256_HMAC, &l, sizeof(l) };
	CHECK_RV(F->C_SignInit(S, &m, mac), PI,
	    "CKM_SHA256_HMAC with a parameter");
	m = (CK_MECHANISM){ CKM_SHA256_HMAC_GENERAL, &l, 4 };
	CHECK_RV(F->C_SignInit(S, &m, mac), PI,
	    "CKM_SHA256_HMAC_GENERAL, ulParameterLen 4");
	m = (CK_MECHANISM){ CKM_SHA256_HMAC_GENERAL, NULL, sizeof(l) };
	CHECK_RV(F->C_SignInit(S, &m, mac), PI,
	    "CKM_SHA256_HMAC_GENERAL, pParameter NULL");
	l = 0;
	m = (CK_MECHANISM){ CKM_SHA256_HMAC_GENERAL, &l, sizeof(l) };
	CHECK_RV(F->C_SignInit(S, &m, mac), PI,
	    "CKM_SHA256_HMAC_GENERAL, length 0");
	l = 33;
	CHECK_RV(F->C_SignInit(S, &m, mac), PI,
	    "CKM_SHA256_HMAC_GENERAL, length 33");
	l = 65;
	m.mechanism = CKM_SHA512_HMAC_GENERAL;
	CHECK_RV(F->C_VerifyInit(S, &m, mac), PI,
	    "CKM_SHA512_HMAC_GENERAL, length 65");
	/*
	 * a MAC to verify of under 12 bytes: refused (a byte-at-a-time
	 * oracle that would sign for a verify-only key; found in review);
	 * to sign, any length; 12 bytes verify
	 */
	m.mechanism = CKM_SHA256_HMAC_GENERAL;
	for (l = 1; l < 12; l++)
		CHECK_RV(F->C_VerifyInit(S, &m, mac), PI,
		    "CKM_SHA256_HMAC_GENERAL verify, under 12 bytes");
	{
		CK_BYTE sig[32], data[3] = "abc";
		CK_ULONG sl = sizeof(sig);

		l = 1;
		CHECK_RV(F->C_SignInit(S, &m, mac), CKR_OK,
		    "CKM_SHA256_HMAC_GENERAL sign, 1 byte");
		CHECK_RV(F->C_Sign(S, data, 3, sig, &sl), CKR_OK,
		    "C_Sign, 1 byte");
		l = 12;
		sl = sizeof(sig);
		CHECK_RV(F->C_SignInit(S, &m, mac), CKR_OK,
		    "CKM_SHA256_HMAC_GENERAL sign, 12 bytes");
		CHECK_RV(F->C_Sign(S, data, 3, sig, &sl), CKR_OK,
		    "C_Sign, 12 bytes");
		CHECK_RV(F->C_VerifyInit(S, &m, mac), CKR_OK,
		    "CKM_SHA256_HMAC_GENERAL verify, 12 bytes");
		CHECK_RV(F->C_Verify(S, data, 3, sig, 12), CKR_OK,
		    "C_Verify, 12 bytes");
	}

	/* AES-GCM */
	gp = (CK_GCM_PARAMS){ (CK_BYTE_PTR)IV, 12, 96, NULL, 0, 128 };
	m = (CK_MECHANISM){ CKM_AES_GCM, &gp, sizeof(gp) - 1 };
	CHECK_RV(F->C_EncryptInit(S, &m, aes), PI,
	    "AES_GCM, wrong ulParameterLen");
	m = (CK_MECHANISM){ CKM_AES_GCM, NULL, 0 };
	CHECK_RV(F->C_EncryptInit(S, &m, aes), PI, "AES_GCM, no parameter");
	m = (CK_MECHANISM){ CKM_AES_GCM, &gp, sizeof(gp) };
	gp.ulTagBits = 0;
	CHECK_RV(F->C_EncryptInit(S, &m, aes), PI, "AES_GCM, tag bits 0");
	gp.ulTagBits = 129;
	CHECK_RV(F->C_EncryptInit(S, &m, aes), PI, "AES_GCM, tag bits 129");
	gp.ulTagBits = 100;
	CHECK_RV(F->C_DecryptInit(S, &m, aes), PI, "AES_GCM, tag bits 100");
	gp.ulTagBits = 128;
	gp.ulIvLen = 0;
	CHECK_RV(F->C_EncryptInit(S, &m, aes), PI, "AES_GCM, IV length 0");
	gp.ulIvLen = 12;
	gp.pIv = NULL;
	CHECK_RV(F->C_DecryptInit(S, &m, aes), PI, "AES_GCM, IV NULL");
	gp.pIv = (CK_BYTE_PTR)IV;
	gp.ulAADLen = 5;
	CHECK_RV(F->C_EncryptInit(S, &m, aes), PI, "AES_GCM, AAD NULL, 5");
	gp.ulAADLen = 0;
	{
		/*
		 * An IV that fits a frame of 1 MiB (m2mtokend's default
		 * frame_max) but not the reply's room: in client mode the
		 * worker called it malformed and the daemon dropped the
		 * connection (found in review); refused as locally, and the
		 * connection and the session still work
		 */
		const size_t big = (1u << 20) - 512;
		CK_SESSION_INFO si;
		CK_INFO info;
		uint8_t *biv;

		if ((biv = calloc(1, big)) == NULL)
			p11c_bail("out of memory");
		gp.pIv = biv;
		gp.ulIvLen = big;
		CHECK_RV(F->C_EncryptInit(S, &m, aes), PI,
		    "AES_GCM, an IV of 1 MiB - 512 bytes");
		CHECK_RV(F->C_DecryptInit(S, &m, aes), PI,
		    "AES_GCM decrypt, an IV of 1 MiB - 512 bytes");
		CHECK_RV(F->C_GetInfo(&info), CKR_OK,
		    "C_GetInfo after the long IV");
		CHECK_RV(F->C_GetSessionInfo(S, &si), CKR_OK,
		    "C_GetSessionInfo after the long IV");
		free(biv);
		gp.pIv = (CK_BYTE_PTR)IV;
		gp.ulIvLen = 12;
	}

	/* oneM2M derivations */
	m = (CK_MECHANISM){ CKM_M2M_KPSA_DERIVE, NULL, 0 };
	CHECK_RV(F->C_DeriveKey(S, &m, ke, NULL, 0, &h), PI,
	    "KPSA_DERIVE without Enrolee-B-ID");
	m = (CK_MECHANISM){ CKM_M2M_KM_DERIVE, "maf", 0 };
	CHECK_RV(F->C_DeriveKey(S, &m, ke, NULL, 0, &h), PI,
	    "KM_DERIVE with an empty MAF-ID");
	m = (CK_MECHANISM){ CKM_M2M_KPSA_DERIVE, "\xff\xfe", 2 };
	CHECK_RV(F->C_DeriveKey(S, &m, ke, NULL, 0, &h), PI,
	    "KPSA_DERIVE with an ID that is not UTF-8");
	kp = (CK_M2M_KUC_PARAMS){ 22, NULL, 5 };
	m = (CK_MECHANISM){ CKM_M2M_KUC_DERIVE, &kp, sizeof(kp) };
	CHECK_RV(F->C_DeriveKey(S, &m, ke, NULL, 0, &h), PI,
	    "KUC_DERIVE with a NULL target");
	kp = (CK_M2M_KUC_PARAMS){ 22, (CK_UTF8CHAR_PTR)"t", 0 };
	CHECK_RV(F->C_DeriveKey(S, &m, ke, NULL, 0, &h), PI,
	    "KUC_DERIVE with an empty target");
	kp = (CK_M2M_KUC_PARAMS){ 22, (CK_UTF8CHAR_PTR)"t", 1 };
	m.ulParameterLen = sizeof(kp) - 1;
	CHECK_RV(F->C_DeriveKey(S, &m, ke, NULL, 0, &h), PI,
	    "KUC_DERIVE, wrong ulParameterLen");
	for (n = 0; n <= 5; n += 5) {
		m = (CK_MECHANISM){ CKM_M2M_E2E_EXPAND, &n, 1 };
		CHECK_RV(F->C_DeriveKey(S, &m, master, NULL, 0, &h), PI,
		    "E2E_EXPAND n=%u", n);
	}
	m = (CK_MECHANISM){ CKM_M2M_E2E_EXPAND, "\x01", 2 };	/* 01 00 */
	CHECK_RV(F->C_DeriveKey(S, &m, master, NULL, 0, &h), PI,
	    "E2E_EXPAND, ulParameterLen 2");
	m = (CK_MECHANISM){ CKM_M2M_E2E_MASTER_SHA256, NULL, 4 };
	CHECK_RV(F->C_DeriveKey(S, &m, kpsa, NULL, 0, &h), PI,
	    "E2E_MASTER salt NULL, length 4");
	memset(&tp, 0, sizeof(tp));
	tp.prfHashMechanism = CKM_SHA256;
	tp.pClientRandom = rnd;
	tp.ulClientRandomLen = 32;
	tp.pServerRandom = rnd;
	tp.ulServerRandomLen = 32;
	m = (CK_MECHANISM){ CKM_M2M_TLS12_PSK_MASTER, &tp, sizeof(tp) - 1 };
	CHECK_RV(F->C_DeriveKey(S, &m, kpsa, NULL, 0, &h), PI,
	    "TLS12_PSK_MASTER, wrong ulParameterLen");
	m.ulParameterLen = sizeof(tp);
	tp.prfHashMechanism = CKM_MD5;
	CHECK_RV(F->C_DeriveKey(S, &m, kpsa, NULL, 0, &h), PI,
	    "TLS12_PSK_MASTER, PRF hash MD5");
	tp.prfHashMechanism = CKM_SHA256;
	tp.ulServerRandomLen = 31;
	CHECK_RV(F->C_DeriveKey(S, &m, kpsa, NULL, 0, &h), PI,
	    "TLS12_PSK_MASTER, 31-byte server random");
	tp.ulServerRandomLen = 32;
	tp.bExtendedMasterSecret = CK_TRUE;
	CHECK_RV(F->C_DeriveKey(S, &m, kpsa, NULL, 0, &h), PI,
	    "TLS12_PSK_MASTER, EMS with randoms and no session hash");
	memset(&hp, 0, sizeof(hp));
	hp.bExtract = CK_TRUE;
	hp.bExpand = CK_TRUE;
	hp.prfHashMechanism = CKM_SHA256;
	hp.ulSaltType = CKF_HKDF_SALT_NULL;
	m = (CK_MECHANISM){ CKM_HKDF_DERIVE, &hp, sizeof(hp) - 1 };
	CHECK_RV(F->C_DeriveKey(S, &m, ikm, ht, 3, &h), PI,
	    "HKDF, wrong ulParameterLen");
	m.ulParameterLen = sizeof(hp);
	hp.bExtract = hp.bExpand = CK_FALSE;
	CHECK_RV(F->C_DeriveKey(S, &m, ikm, ht, 3, &h), PI,
	    "HKDF, neither extract nor expand");
	hp.bExtract = hp.bExpand = CK_TRUE;
	hp.prfHashMechanism = CKM_MD5;
	CHECK_RV(F->C_DeriveKey(S, &m, ikm, ht, 3, &h), PI,
	    "HKDF, PRF MD5");
	hp.prfHashMechanism = CKM_SHA256;
	hp.ulSaltType = CKF_HKDF_SALT_DATA;
	CHECK_RV(F->C_DeriveKey(S, &m, ikm, ht, 3, &h), PI,
	    "HKDF, salt type DATA with no salt");
	m = (CK_MECHANISM){ CKM_SHA256, &l, sizeof(l) };
	CHECK_RV(F->C_DigestInit(S, &m), PI, "C_DigestInit(SHA256) with a "
	    "parameter");
	CHECK(p11c_count(S) == before, "refused mechanisms created nothing");
}

/* ------------------------------------------------------------------ */
/* templates                                                           */
/* ------------------------------------------------------------------ */

static void
test_templates(CK_OBJECT_HANDLE mac)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY, data = CKO_DOMAIN_PARAMETERS;
	CK_KEY_TYPE gen = CKK_GENERIC_SECRET, aes = CKK_AES;
	CK_BBOOL no = CK_FALSE;
	CK_ULONG four = 4, vl = 32, before;
	uint8_t v[32], buf[64];
	CK_ULONG vendor = CKA_VENDOR_DEFINED | 0x1234;
	CK_OBJECT_HANDLE h;
	CK_ATTRIBUTE a, arr[5], inner[4], pat[4];
	CK_BBOOL sign = CK_FALSE;

#define BASE	{ CKA_CLASS, &cls, sizeof(cls) }, \
		{ CKA_KEY_TYPE, &gen, sizeof(gen) }, \
		{ CKA_TOKEN, &no, sizeof(no) }
	CK_ATTRIBUTE unknown[] = { BASE, { CKA_VALUE, v, 32 },
	    { vendor, v, 4 } };
	CK_ATTRIBUTE bool4[] = { { CKA_CLASS, &cls, sizeof(cls) },
	    { CKA_KEY_TYPE, &gen, sizeof(gen) }, { CKA_TOKEN, &four, 4 },
	    { CKA_VALUE, v, 32 } };
	CK_ATTRIBUTE ulong3[] = { { CKA_CLASS, &cls, 3 },
	    { CKA_KEY_TYPE, &gen, sizeof(gen) }, { CKA_VALUE, v, 32 } };
	CK_ATTRIBUTE dup[] = { BASE, { CKA_VALUE, v, 32 },
	    { CKA_LABEL, "a", 1 }, { CKA_LABEL, "a", 1 } };
	CK_ATTRIBUTE dup2[] = { BASE, { CKA_VALUE, v, 32 },
	    { CKA_LABEL, "a", 1 }, { CKA_LABEL, "b", 1 } };
	CK_ATTRIBUTE noclass[] = { { CKA_KEY_TYPE, &gen, sizeof(gen) },
	    { CKA_VALUE, v, 32 } };
	CK_ATTRIBUTE novalue[] = { BASE };
	CK_ATTRIBUTE notype[] = { { CKA_CLASS, &cls, sizeof(cls) },
	    { CKA_VALUE, v, 32 } };
	CK_ATTRIBUTE aes17[] = { { CKA_CLASS, &cls, sizeof(cls) },
	    { CKA_KEY_TYPE, &aes, sizeof(aes) }, { CKA_VALUE, v, 17 } };
	CK_ATTRIBUTE dataobj[] = { { CKA_CLASS, &data, sizeof(data) },
	    { CKA_VALUE, v, 32 } };
	CK_ATTRIBUTE nullval[] = { BASE, { CKA_VALUE, NULL, 32 } };
	CK_ATTRIBUTE withlen[] = { BASE, { CKA_VALUE, v, 32 },
	    { CKA_VALUE_LEN, &vl, sizeof(vl) } };
	CK_ATTRIBUTE setunknown[] = { { vendor, v, 4 } };
	CK_ATTRIBUTE setbool4[] = { { CKA_SIGN, &four, 4 } };
#undef BASE

	memset(v, 0x61, sizeof(v));
	before = p11c_count(S);
	CHECK_RV(F->C_CreateObject(S, unknown, 5, &h),
	    CKR_ATTRIBUTE_TYPE_INVALID, "C_CreateObject with an unknown "
	    "attribute type");
	CHECK_RV(F->C_CreateObject(S, bool4, 4, &h),
	    CKR_ATTRIBUTE_VALUE_INVALID, "CK_BBOOL CKA_TOKEN of length 4");
	CHECK_RV(F->C_CreateObject(S, ulong3, 3, &h),
	    CKR_ATTRIBUTE_VALUE_INVALID, "CK_ULONG CKA_CLASS of length 3");
	CHECK_RV(F->C_CreateObject(S, dup, 6, &h), CKR_TEMPLATE_INCONSISTENT,
	    "duplicate attribute (same value)");
	CHECK_RV(F->C_CreateObject(S, dup2, 6, &h), CKR_TEMPLATE_INCONSISTENT,
	    "duplicate attribute (different values)");
	CHECK_RV(F->C_CreateObject(S, noclass, 2, &h), CKR_TEMPLATE_INCOMPLETE,
	    "C_CreateObject without CKA_CLASS");
	CHECK_RV(F->C_CreateObject(S, novalue, 3, &h), CKR_TEMPLATE_INCOMPLETE,
	    "C_CreateObject without CKA_VALUE");
	CHECK_RV(F->C_CreateObject(S, notype, 2, &h), CKR_TEMPLATE_INCOMPLETE,
	    "role-less C_CreateObject without CKA_KEY_TYPE");
	CHECK_RV(F->C_CreateObject(S, aes17, 3, &h),
	    CKR_ATTRIBUTE_VALUE_INVALID, "AES key of 17 bytes");
	CHECK_RV(F->C_CreateObject(S, dataobj, 2, &h),
	    CKR_ATTRIBUTE_VALUE_INVALID, "CKO_DOMAIN_PARAMETERS object (keys, "
	    "certificates and data only)");
	CHECK_RV(F->C_CreateObject(S, nullval, 4, &h),
	    CKR_ATTRIBUTE_VALUE_INVALID, "CKA_VALUE pValue NULL, length 32");
	CHECK_RV(F->C_CreateObject(S, withlen, 5, &h),
	    CKR_TEMPLATE_INCONSISTENT, "CKA_VALUE_LEN with CKA_VALUE");
	CHECK(p11c_count(S) == before, "refused templates created nothing");

	a = (CK_ATTRIBUTE){ vendor, buf, sizeof(buf) };
	CHECK_RV(F->C_GetAttributeValue(S, mac, &a, 1),
	    CKR_ATTRIBUTE_TYPE_INVALID, "C_GetAttributeValue(unknown type)");
	CHECK(a.ulValueLen == CK_UNAVAILABLE_INFORMATION,
	    "unknown type: ulValueLen CK_UNAVAILABLE_INFORMATION");
	/*
	 * the CKF_ARRAY_ATTRIBUTE types (values of pointers) among others:
	 * every one answered, those unavailable, as in local mode
	 */
	memset(inner, 0xa5, sizeof(inner));
	memset(buf, 0, sizeof(buf));
	arr[0] = (CK_ATTRIBUTE){ CKA_LABEL, buf, sizeof(buf) };
	arr[1] = (CK_ATTRIBUTE){ CKA_WRAP_TEMPLATE, inner, sizeof(inner) };
	arr[2] = (CK_ATTRIBUTE){ CKA_SIGN, &sign, sizeof(sign) };
	arr[3] = (CK_ATTRIBUTE){ CKA_DERIVE_TEMPLATE, NULL, 0 };
	arr[4] = (CK_ATTRIBUTE){ CKA_UNWRAP_TEMPLATE, NULL, 0 };
	a = (CK_ATTRIBUTE){ CKA_LABEL, NULL, 0 };
	CHECK_RV(F->C_GetAttributeValue(S, mac, &a, 1), CKR_OK,
	    "C_GetAttributeValue(CKA_LABEL, NULL)");
	CHECK_RV(F->C_GetAttributeValue(S, mac, arr, 5),
	    CKR_ATTRIBUTE_TYPE_INVALID, "C_GetAttributeValue(CKA_LABEL, "
	    "CKA_WRAP_TEMPLATE, CKA_SIGN, CKA_DERIVE_TEMPLATE, "
	    "CKA_UNWRAP_TEMPLATE)");
	CHECK(arr[0].ulValueLen == a.ulValueLen && a.ulValueLen != 0 &&
	    a.ulValueLen != CK_UNAVAILABLE_INFORMATION,
	    "array attributes: CKA_LABEL's length");
	CHECK(arr[1].ulValueLen == CK_UNAVAILABLE_INFORMATION &&
	    arr[3].ulValueLen == CK_UNAVAILABLE_INFORMATION &&
	    arr[4].ulValueLen == CK_UNAVAILABLE_INFORMATION,
	    "array attributes: CK_UNAVAILABLE_INFORMATION");
	CHECK(arr[2].ulValueLen == sizeof(sign) && sign == CK_TRUE,
	    "array attributes: CKA_SIGN read");
	memset(pat, 0xa5, sizeof(pat));
	CHECK(memcmp(inner, pat, sizeof(inner)) == 0,
	    "array attributes: the buffer untouched");
	CHECK_RV(F->C_SetAttributeValue(S, mac, setunknown, 1),
	    CKR_ATTRIBUTE_TYPE_INVALID, "C_SetAttributeValue(unknown type)");
	CHECK_RV(F->C_SetAttributeValue(S, mac, setbool4, 1),
	    CKR_ATTRIBUTE_VALUE_INVALID, "C_SetAttributeValue(CKA_SIGN, "
	    "length 4)");
	CHECK(p11c_get_bool(S, mac, CKA_SIGN) == 1, "CKA_SIGN unchanged");
}

/* ------------------------------------------------------------------ */
/* size queries, AEAD and MAC failures                                 */
/* ------------------------------------------------------------------ */

static void
test_size_queries(CK_OBJECT_HANDLE mac, CK_OBJECT_HANDLE aes)
{
	CK_MECHANISM hm = { CKM_SHA256_HMAC, NULL, 0 };
	CK_MECHANISM sha = { CKM_SHA256, NULL, 0 };
	CK_GCM_PARAMS gp = { (CK_BYTE_PTR)IV, 12, 96, (CK_BYTE_PTR)"aad", 3,
	    128 };
	CK_MECHANISM gcm = { CKM_AES_GCM, &gp, sizeof(gp) };
	uint8_t ref[64], out[128], ct[128], pt[128];
	CK_ULONG rl = sizeof(ref), ol, ctl, ptl, n;
	CK_ATTRIBUTE a;
	CK_SLOT_ID slots[1];
	CK_MECHANISM_TYPE mechs[1];
	static const uint8_t msg[] = "size query message";
	static const char abc256[] = "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad";

	P11C_MUST(p11c_sign(S, CKM_SHA256_HMAC, mac, msg, sizeof(msg), ref,
	    &rl));
	/* C_Sign: NULL -> length, short -> BUFFER_TOO_SMALL, then the MAC */
	P11C_MUST(F->C_SignInit(S, &hm, mac));
	ol = 0;
	CHECK_RV(F->C_Sign(S, (CK_BYTE_PTR)msg, sizeof(msg), NULL, &ol),
	    CKR_OK, "C_Sign(NULL): size query");
	CHECK(ol == 32, "C_Sign(NULL): length 32 (%lu)", ol);
	ol = 16;
	CHECK_RV(F->C_Sign(S, (CK_BYTE_PTR)msg, sizeof(msg), out, &ol),
	    CKR_BUFFER_TOO_SMALL, "C_Sign(16-byte buffer)");
	CHECK(ol == 32, "C_Sign(short): length 32 (%lu)", ol);
	ol = sizeof(out);
	CHECK_RV(F->C_Sign(S, (CK_BYTE_PTR)msg, sizeof(msg), out, &ol),
	    CKR_OK, "C_Sign after the queries: the operation continued");
	CHECK(ol == 32 && memcmp(out, ref, 32) == 0,
	    "C_Sign after the queries: the right MAC");
	ol = sizeof(out);
	CHECK_RV(F->C_Sign(S, (CK_BYTE_PTR)msg, sizeof(msg), out, &ol),
	    CKR_OPERATION_NOT_INITIALIZED, "C_Sign again: the operation ended");
	/* C_SignUpdate / C_SignFinal */
	P11C_MUST(F->C_SignInit(S, &hm, mac));
	CHECK_RV(F->C_SignInit(S, &hm, mac), CKR_OPERATION_ACTIVE,
	    "C_SignInit while one is active");
	P11C_MUST(F->C_SignUpdate(S, (CK_BYTE_PTR)msg, 5));
	P11C_MUST(F->C_SignUpdate(S, (CK_BYTE_PTR)msg + 5, sizeof(msg) - 5));
	ol = 0;
	CHECK_RV(F->C_SignFinal(S, NULL, &ol), CKR_OK, "C_SignFinal(NULL)");
	ol = 31;
	CHECK_RV(F->C_SignFinal(S, out, &ol), CKR_BUFFER_TOO_SMALL,
	    "C_SignFinal(31-byte buffer)");
	ol = sizeof(out);
	CHECK_RV(F->C_SignFinal(S, out, &ol), CKR_OK, "C_SignFinal");
	CHECK(ol == 32 && memcmp(out, ref, 32) == 0,
	    "multi-part MAC equals the one-shot MAC");
	/* C_Verify: wrong MAC, wrong length */
	P11C_MUST(F->C_VerifyInit(S, &hm, mac));
	memcpy(out, ref, 32);
	out[0] ^= 0x80;
	CHECK_RV(F->C_Verify(S, (CK_BYTE_PTR)msg, sizeof(msg), out, 32),
	    CKR_SIGNATURE_INVALID, "C_Verify with a wrong MAC");
	P11C_MUST(F->C_VerifyInit(S, &hm, mac));
	CHECK_RV(F->C_Verify(S, (CK_BYTE_PTR)msg, sizeof(msg), ref, 31),
	    CKR_SIGNATURE_LEN_RANGE, "C_Verify with a 31-byte MAC");
	P11C_MUST(F->C_VerifyInit(S, &hm, mac));
	CHECK_RV(F->C_Verify(S, (CK_BYTE_PTR)msg, sizeof(msg), ref, 33),
	    CKR_SIGNATURE_LEN_RANGE, "C_Verify with a 33-byte MAC");
	P11C_MUST(F->C_VerifyInit(S, &hm, mac));
	P11C_MUST(F->C_VerifyUpdate(S, (CK_BYTE_PTR)msg, sizeof(msg)));
	CHECK_RV(F->C_VerifyFinal(S, ref, 32), CKR_OK,
	    "C_VerifyUpdate/C_VerifyFinal with the right MAC");
	CHECK_RV(F->C_Verify(S, (CK_BYTE_PTR)msg, sizeof(msg), ref, 32),
	    CKR_OPERATION_NOT_INITIALIZED, "C_Verify without C_VerifyInit");
	/* one-part calls take their data as it is: in place, replacing parts */
	memcpy(out, msg, sizeof(msg));
	P11C_MUST(F->C_SignInit(S, &hm, mac));
	ol = sizeof(out);
	CHECK_RV(F->C_Sign(S, out, sizeof(msg), out, &ol), CKR_OK,
	    "C_Sign with the MAC over its own data");
	CHECK(ol == 32 && memcmp(out, ref, 32) == 0,
	    "C_Sign in place: the right MAC");
	P11C_MUST(F->C_VerifyInit(S, &hm, mac));
	P11C_MUST(F->C_VerifyUpdate(S, (CK_BYTE_PTR)"other", 5));
	CHECK_RV(F->C_Verify(S, (CK_BYTE_PTR)msg, sizeof(msg), ref, 32),
	    CKR_OK, "C_Verify after C_VerifyUpdate: its data replace the parts");
	P11C_MUST(F->C_SignInit(S, &hm, mac));
	ol = sizeof(out);
	CHECK_RV(F->C_Sign(S, (CK_BYTE_PTR)msg, (CK_ULONG)(16u << 20) + 1, out,
	    &ol), CKR_DATA_LEN_RANGE, "C_Sign over 16 MiB (never read)");
	ol = sizeof(out);
	CHECK_RV(F->C_Sign(S, (CK_BYTE_PTR)msg, sizeof(msg), out, &ol),
	    CKR_OPERATION_NOT_INITIALIZED, "C_Sign over 16 MiB ended it");
	P11C_MUST(F->C_VerifyInit(S, &hm, mac));
	CHECK_RV(F->C_Verify(S, (CK_BYTE_PTR)msg, (CK_ULONG)(16u << 20) + 1,
	    ref, 32), CKR_DATA_LEN_RANGE, "C_Verify over 16 MiB (never read)");

	/* AES-GCM */
	P11C_MUST(F->C_EncryptInit(S, &gcm, aes));
	ctl = 0;
	CHECK_RV(F->C_Encrypt(S, (CK_BYTE_PTR)msg, sizeof(msg), NULL, &ctl),
	    CKR_OK, "C_Encrypt(NULL): size query");
	CHECK(ctl == sizeof(msg) + 16, "C_Encrypt(NULL): plaintext + tag "
	    "(%lu)", ctl);
	ctl = sizeof(msg);
	CHECK_RV(F->C_Encrypt(S, (CK_BYTE_PTR)msg, sizeof(msg), ct, &ctl),
	    CKR_BUFFER_TOO_SMALL, "C_Encrypt(short buffer)");
	CHECK(ctl == sizeof(msg) + 16, "C_Encrypt(short): the length needed");
	ctl = sizeof(ct);
	CHECK_RV(F->C_Encrypt(S, (CK_BYTE_PTR)msg, sizeof(msg), ct, &ctl),
	    CKR_OK, "C_Encrypt after the queries");
	P11C_MUST(F->C_DecryptInit(S, &gcm, aes));
	ptl = 0;
	CHECK_RV(F->C_Decrypt(S, ct, ctl, NULL, &ptl), CKR_OK,
	    "C_Decrypt(NULL): size query");
	CHECK(ptl == sizeof(msg), "C_Decrypt(NULL): length %lu", ptl);
	ptl = 3;
	CHECK_RV(F->C_Decrypt(S, ct, ctl, pt, &ptl), CKR_BUFFER_TOO_SMALL,
	    "C_Decrypt(short buffer)");
	ptl = sizeof(pt);
	CHECK_RV(F->C_Decrypt(S, ct, ctl, pt, &ptl), CKR_OK,
	    "C_Decrypt after the queries");
	CHECK(ptl == sizeof(msg) && memcmp(pt, msg, ptl) == 0,
	    "C_Decrypt: the plaintext back");
	ct[ctl - 1] ^= 1;
	ptl = sizeof(pt);
	CHECK_RV(p11c_gcm_decrypt(S, aes, IV, "aad", 3, ct, ctl, pt, &ptl),
	    CKR_ENCRYPTED_DATA_INVALID, "AES-GCM with a tampered tag");
	ct[ctl - 1] ^= 1;
	ct[0] ^= 1;
	ptl = sizeof(pt);
	CHECK_RV(p11c_gcm_decrypt(S, aes, IV, "aad", 3, ct, ctl, pt, &ptl),
	    CKR_ENCRYPTED_DATA_INVALID, "AES-GCM with a tampered ciphertext");
	ct[0] ^= 1;
	ptl = sizeof(pt);
	CHECK_RV(p11c_gcm_decrypt(S, aes, IV, "aaX", 3, ct, ctl, pt, &ptl),
	    CKR_ENCRYPTED_DATA_INVALID, "AES-GCM with other AAD");
	ptl = sizeof(pt);
	CHECK_RV(p11c_gcm_decrypt(S, aes, IV, "aad", 3, ct, 15, pt, &ptl),
	    CKR_ENCRYPTED_DATA_LEN_RANGE, "AES-GCM input shorter than the tag");

	/* digest */
	P11C_MUST(F->C_DigestInit(S, &sha));
	ol = 0;
	CHECK_RV(F->C_Digest(S, (CK_BYTE_PTR)"abc", 3, NULL, &ol), CKR_OK,
	    "C_Digest(NULL): size query");
	ol = 8;
	CHECK_RV(F->C_Digest(S, (CK_BYTE_PTR)"abc", 3, out, &ol),
	    CKR_BUFFER_TOO_SMALL, "C_Digest(8-byte buffer)");
	ol = sizeof(out);
	CHECK_RV(F->C_Digest(S, (CK_BYTE_PTR)"abc", 3, out, &ol), CKR_OK,
	    "C_Digest after the queries");
	p11c_unhex(abc256, ref, sizeof(ref));
	CHECK(ol == 32 && memcmp(out, ref, 32) == 0,
	    "C_Digest: SHA-256(\"abc\") (FIPS 180-2)");

	/* attributes */
	a = (CK_ATTRIBUTE){ CKA_LABEL, NULL, 0 };
	CHECK_RV(F->C_GetAttributeValue(S, mac, &a, 1), CKR_OK,
	    "C_GetAttributeValue(CKA_LABEL, NULL): size query");
	CHECK(a.ulValueLen == 7, "CKA_LABEL length 7 (%lu)", a.ulValueLen);
	a = (CK_ATTRIBUTE){ CKA_LABEL, out, 3 };
	CHECK_RV(F->C_GetAttributeValue(S, mac, &a, 1), CKR_BUFFER_TOO_SMALL,
	    "C_GetAttributeValue(CKA_LABEL, 3 bytes)");
	CHECK(a.ulValueLen == CK_UNAVAILABLE_INFORMATION,
	    "short attribute buffer: CK_UNAVAILABLE_INFORMATION");
	n = 0;
	CHECK_RV(F->C_GetSlotList(CK_FALSE, slots, &n), CKR_BUFFER_TOO_SMALL,
	    "C_GetSlotList(0-entry buffer)");
	CHECK(n >= 2, "C_GetSlotList: the count needed (%lu)", n);
	n = 0;
	CHECK_RV(F->C_GetMechanismList(SLOT, mechs, &n), CKR_BUFFER_TOO_SMALL,
	    "C_GetMechanismList(0-entry buffer)");
	CHECK(n >= 10, "C_GetMechanismList: the count needed (%lu)", n);
}

/* ------------------------------------------------------------------ */
/* PINs, read-only sessions, private objects                           */
/* ------------------------------------------------------------------ */

static CK_FLAGS
token_flags(CK_SLOT_ID slot)
{
	CK_TOKEN_INFO ti;

	P11C_MUST(F->C_GetTokenInfo(slot, &ti));
	return ti.flags;
}

static void
test_pins(void)
{
	const CK_FLAGS PINF = CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY |
	    CKF_USER_PIN_LOCKED;
	CK_SLOT_ID slot = p11c_new_token("lockout");
	CK_SESSION_HANDLE s;
	CK_FLAGS f;
	int i;

	P11C_MUST(F->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
	    NULL, NULL, &s));
	CHECK((token_flags(slot) & PINF) == 0, "fresh token: no PIN flags");
	CHECK_RV(F->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)"12", 2),
	    CKR_PIN_LEN_RANGE, "user PIN of 2 characters");
	CHECK_RV(F->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)"", 0),
	    CKR_PIN_LEN_RANGE, "empty user PIN");
	CHECK((token_flags(slot) & PINF) == 0,
	    "PIN_LEN_RANGE is not a failed attempt");
	CHECK_RV(F->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)"wrong-pin-1",
	    11), CKR_PIN_INCORRECT, "wrong user PIN");
	f = token_flags(slot);
	CHECK((f & PINF) == CKF_USER_PIN_COUNT_LOW,
	    "after 1 failure: CKF_USER_PIN_COUNT_LOW only (0x%lx)", f & PINF);
	CHECK_RV(F->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)P11C_USER_PIN,
	    strlen(P11C_USER_PIN)), CKR_OK, "right PIN");
	CHECK((token_flags(slot) & PINF) == 0,
	    "a good login clears the counter");
	P11C_MUST(F->C_Logout(s));
	for (i = 1; i <= 5; i++) {
		CHECK_RV(F->C_Login(s, CKU_USER,
		    (CK_UTF8CHAR_PTR)"wrong-pin-2", 11), CKR_PIN_INCORRECT,
		    "wrong user PIN, attempt %d", i);
		f = token_flags(slot) & PINF;
		if (i < 4)
			CHECK(f == CKF_USER_PIN_COUNT_LOW, "after %d failures: "
			    "COUNT_LOW (0x%lx)", i, f);
		else if (i == 4)
			CHECK(f == (CKF_USER_PIN_COUNT_LOW |
			    CKF_USER_PIN_FINAL_TRY), "after 4 failures: "
			    "COUNT_LOW | FINAL_TRY (0x%lx)", f);
		else
			CHECK((f & CKF_USER_PIN_LOCKED) != 0, "after 5 "
			    "failures: CKF_USER_PIN_LOCKED (0x%lx)", f);
	}
	CHECK_RV(F->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)P11C_USER_PIN,
	    strlen(P11C_USER_PIN)), CKR_PIN_LOCKED,
	    "locked: the right PIN is refused");
	CHECK_RV(F->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)"wrong-pin-3", 11),
	    CKR_PIN_LOCKED, "locked: a wrong PIN too");
	CHECK_RV(F->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)"wrong-so-pin", 12),
	    CKR_PIN_INCORRECT, "wrong SO PIN");
	CHECK((token_flags(slot) & CKF_SO_PIN_COUNT_LOW) != 0,
	    "CKF_SO_PIN_COUNT_LOW after a wrong SO PIN");
	CHECK_RV(F->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)P11C_SO_PIN,
	    strlen(P11C_SO_PIN)), CKR_OK, "SO login");
	CHECK_RV(F->C_InitPIN(s, (CK_UTF8CHAR_PTR)"new-user-pin", 12), CKR_OK,
	    "SO resets the user PIN (C_InitPIN)");
	P11C_MUST(F->C_Logout(s));
	CHECK((token_flags(slot) & (PINF | CKF_SO_PIN_COUNT_LOW)) == 0,
	    "PIN flags cleared");
	CHECK_RV(F->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)"new-user-pin", 12),
	    CKR_OK, "user login with the new PIN");
	CHECK_RV(F->C_Login(s, 7, (CK_UTF8CHAR_PTR)"new-user-pin", 12),
	    CKR_USER_TYPE_INVALID, "C_Login(user type 7)");
	P11C_MUST(F->C_CloseSession(s));
}

static void
test_ro_and_private(void)
{
	CK_SLOT_ID slot = p11c_new_token("ro-private");
	CK_SESSION_HANDLE rw, ro;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE tok[] = { { CKA_TOKEN, &yes, 1 } };
	CK_ATTRIBUTE pub[] = { { CKA_PRIVATE, &no, 1 } };
	CK_ATTRIBUTE lab[] = { { CKA_LABEL, "changed", 7 } };
	CK_ULONG len32 = 32;
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE gen[] = { { CKA_CLASS, &cls, sizeof(cls) },
	    { CKA_TOKEN, &yes, 1 }, { CKA_VALUE_LEN, &len32, sizeof(len32) } };
	CK_MECHANISM gk = { CKM_GENERIC_SECRET_KEY_GEN, NULL, 0 };
	CK_MECHANISM hm = { CKM_SHA256_HMAC, NULL, 0 };
	CK_MECHANISM kpsa = { CKM_M2M_KPSA_DERIVE, "/ro", 3 };
	CK_OBJECT_HANDLE tke, tmac, h, pubh;
	CK_ULONG before, n;
	CK_UTF8CHAR l32[32];
	uint8_t v[32], buf[32];
	char label[64];

	memset(v, 0x71, sizeof(v));
	rw = p11c_user_session(slot);
	P11C_MUST(p11c_import_ex(rw, CK_M2M_ROLE_KE, KEID,
	    CKK_GENERIC_SECRET, v, 32, CK_TRUE, NULL, 0, &tke));
	P11C_MUST(p11c_import_ex(rw, 0, "tokmac", CKK_GENERIC_SECRET, v, 32,
	    CK_TRUE, NULL, 0, &tmac));
	P11C_MUST(F->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &ro));
	before = p11c_count(ro);
	CHECK_RV(p11c_import_ex(ro, 0, "x", CKK_GENERIC_SECRET, v, 32,
	    CK_TRUE, NULL, 0, &h), CKR_SESSION_READ_ONLY,
	    "RO session: C_CreateObject of a token object");
	CHECK_RV(F->C_GenerateKey(ro, &gk, gen, 3, &h), CKR_SESSION_READ_ONLY,
	    "RO session: C_GenerateKey of a token object");
	CHECK_RV(F->C_DeriveKey(ro, &kpsa, tke, tok, 1, &h),
	    CKR_SESSION_READ_ONLY, "RO session: C_DeriveKey of a token object");
	CHECK_RV(F->C_CopyObject(ro, tmac, NULL, 0, &h), CKR_SESSION_READ_ONLY,
	    "RO session: C_CopyObject of a token object");
	CHECK_RV(F->C_SetAttributeValue(ro, tmac, lab, 1),
	    CKR_SESSION_READ_ONLY, "RO session: C_SetAttributeValue on a "
	    "token object");
	CHECK_RV(F->C_DestroyObject(ro, tmac), CKR_SESSION_READ_ONLY,
	    "RO session: C_DestroyObject of a token object");
	CHECK_RV(F->C_SetPIN(ro, (CK_UTF8CHAR_PTR)P11C_USER_PIN,
	    strlen(P11C_USER_PIN), (CK_UTF8CHAR_PTR)"abcdefgh", 8),
	    CKR_SESSION_READ_ONLY, "RO session: C_SetPIN");
	CHECK(p11c_count(ro) == before, "RO refusals changed nothing");
	p11c_label(ro, tmac, label, sizeof(label));
	CHECK(strcmp(label, "tokmac") == 0, "label unchanged");
	CHECK_RV(p11c_import(ro, 0, "sess", v, 32, &h), CKR_OK,
	    "RO session: a session object is fine");
	CHECK_RV(p11c_derive(ro, CKM_M2M_KPSA_DERIVE, "/ro", 3, tke, NULL, 0,
	    &h), CKR_OK, "RO session: deriving a session object is fine");
	/*
	 * A private key stays private: a public copy of one signed with no
	 * PIN after C_Logout on the HSM backend (found in review; the TPM
	 * backend refused it).  CKA_PRIVATE changes only in a copy, and
	 * there only from FALSE to TRUE, for secret (and private) keys.
	 */
	{
		CK_ATTRIBUTE priv[] = { { CKA_PRIVATE, &yes, 1 } };
		CK_OBJECT_HANDLE sk, pk, c;
		CK_ULONG n0;

		P11C_MUST(p11c_import(rw, 0, "sess-private", v, 32, &sk));
		n0 = p11c_count(rw);
		c = CK_INVALID_HANDLE;
		CHECK_RV(F->C_CopyObject(rw, sk, pub, 1, &c),
		    CKR_ATTRIBUTE_READ_ONLY, "C_CopyObject(CKA_PRIVATE FALSE) "
		    "of a private secret key");
		CHECK_RV(F->C_CopyObject(rw, tmac, pub, 1, &c),
		    CKR_ATTRIBUTE_READ_ONLY, "C_CopyObject(CKA_PRIVATE FALSE) "
		    "of a private token secret key");
		CHECK(c == CK_INVALID_HANDLE && p11c_count(rw) == n0,
		    "no public copy made");
		CHECK_RV(F->C_SetAttributeValue(rw, sk, pub, 1),
		    CKR_ATTRIBUTE_READ_ONLY, "C_SetAttributeValue(CKA_PRIVATE "
		    "FALSE) of a private secret key");
		CHECK(p11c_get_bool(rw, sk, CKA_PRIVATE) == 1, "still private");
		P11C_MUST(F->C_DestroyObject(rw, sk));
		P11C_MUST(p11c_import_ex(rw, 0, "sess-public",
		    CKK_GENERIC_SECRET, v, 32, CK_FALSE, pub, 1, &pk));
		CHECK_RV(F->C_SetAttributeValue(rw, pk, priv, 1),
		    CKR_ATTRIBUTE_READ_ONLY, "C_SetAttributeValue(CKA_PRIVATE "
		    "TRUE): only in a copy");
		/* public stays public when the copy says so: no change */
		CHECK_RV(F->C_CopyObject(rw, pk, pub, 1, &c), CKR_OK,
		    "C_CopyObject(CKA_PRIVATE FALSE) of a public secret key");
		CHECK(p11c_get_bool(rw, c, CKA_PRIVATE) == 0,
		    "that copy is public");
		P11C_MUST(F->C_DestroyObject(rw, c));
		CHECK_RV(F->C_CopyObject(rw, pk, priv, 1, &c), CKR_OK,
		    "C_CopyObject(CKA_PRIVATE TRUE) of a public secret key");
		CHECK(p11c_get_bool(rw, c, CKA_PRIVATE) == 1,
		    "the copy is private");
		P11C_MUST(F->C_DestroyObject(rw, c));
		P11C_MUST(F->C_DestroyObject(rw, pk));
	}
	p11c_pad32("again", l32);
	CHECK_RV(F->C_InitToken(slot, (CK_UTF8CHAR_PTR)P11C_SO_PIN,
	    strlen(P11C_SO_PIN), l32), CKR_SESSION_EXISTS,
	    "C_InitToken with sessions open");

	/* without login: private objects invisible, role keys refused */
	P11C_MUST(F->C_Logout(rw));
	n = p11c_count(ro);
	CHECK(n == 0, "logged out: no private object visible (%lu)", n);
	{
		CK_ATTRIBUTE a = { CKA_LABEL, buf, sizeof(buf) };

		CHECK_RV(F->C_GetAttributeValue(ro, tmac, &a, 1),
		    CKR_OBJECT_HANDLE_INVALID, "logged out: a private "
		    "object's attributes");
	}
	CHECK_RV(F->C_SignInit(ro, &hm, tmac), CKR_KEY_HANDLE_INVALID,
	    "logged out: C_SignInit with a private key");
	CHECK_RV(F->C_DeriveKey(ro, &kpsa, tke, NULL, 0, &h),
	    CKR_KEY_HANDLE_INVALID, "logged out: C_DeriveKey from a private "
	    "KE");
	CHECK_RV(p11c_import(ro, 0, "priv", v, 32, &h), CKR_USER_NOT_LOGGED_IN,
	    "logged out: C_CreateObject of a private object");
	CHECK_RV(p11c_import(ro, CK_M2M_ROLE_KE, "ke2", v, 32, &h),
	    CKR_USER_NOT_LOGGED_IN, "logged out: C_CreateObject of a role key");
	CHECK_RV(p11c_import_ex(ro, 0, "public", CKK_GENERIC_SECRET, v, 32,
	    CK_FALSE, pub, 1, &pubh), CKR_OK,
	    "logged out: a public session object is fine");
	CHECK(p11c_count(ro) == 1, "logged out: only the public object");
	CHECK_RV(F->C_Logout(ro), CKR_USER_NOT_LOGGED_IN,
	    "C_Logout when nobody is logged in");
	P11C_MUST(F->C_CloseSession(ro));
	P11C_MUST(F->C_CloseSession(rw));
}

int
main(int argc, char **argv)
{
	CK_OBJECT_HANDLE mac, aes, ke, kpsa, master, ikm;
	uint8_t v[32];

	p11c_load(argc, argv);
	test_config_failures();
	test_not_initialized();
	S = p11c_setup("badinput", &SLOT);
	memset(v, 0x5c, sizeof(v));
	P11C_MUST(p11c_import(S, 0, "mac-key", v, 32, &mac));
	P11C_MUST(p11c_import_ex(S, 0, "aes-key", CKK_AES, v, 32, CK_FALSE,
	    NULL, 0, &aes));
	P11C_MUST(p11c_import(S, CK_M2M_ROLE_KE, KEID, v, 32, &ke));
	P11C_MUST(p11c_derive(S, CKM_M2M_KPSA_DERIVE, "/in-cse/CAE01", 13, ke,
	    NULL, 0, &kpsa));
	P11C_MUST(p11c_derive(S, CKM_M2M_E2E_MASTER_SHA256, NULL, 0, kpsa,
	    NULL, 0, &master));
	P11C_MUST(p11c_import(S, 0, "ikm", v, 22, &ikm));
	test_null_pointers(mac, aes, ke);
	test_handles(mac, ke);
	test_mechanisms(mac, aes, ke, kpsa, master, ikm);
	test_templates(mac);
	test_size_queries(mac, aes);
	test_pins();
	test_ro_and_private();
	CHECK_RV(F->C_Finalize(NULL), CKR_OK, "C_Finalize");
	return p11c_finish();
}
