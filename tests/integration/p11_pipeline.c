/*
 * p11_pipeline: pipelined C_SignInit / C_VerifyInit of client mode
 * (docs/protocol.md, "Pipelined operation init").  A repeated init (same
 * session, call, mechanism and key, answered CKR_OK before, nothing since
 * that could change its answer, no operation active) is answered CKR_OK
 * by the module and its frame leaves with the next one.
 *
 *   1. many SignInit + Sign (and Update/Final, Verify, a size query)
 *      rounds, on one session and on 4 threads, give OpenSSL's MACs;
 *   2. another process (this program run again: its own connection)
 *      destroys a key between two rounds: in client mode the next
 *      C_SignInit answers CKR_OK (pipelined) and C_Sign the init's error,
 *      its output untouched, with one log line; in local mode C_SignInit
 *      answers the error itself.  The same for C_VerifyInit.  When the
 *      next call is another init, it returns the pending error and the
 *      operation the daemon began for it is cancelled.  The session works
 *      on afterwards;
 *   3. not pipelined (the error comes from the init itself, in both
 *      modes) after C_Logout + C_Login, after this process destroyed
 *      another object, with another mechanism, parameter or key, and with
 *      an operation active (C_SignInit twice, after a size query, after
 *      CKR_BUFFER_TOO_SMALL: CKR_OPERATION_ACTIVE);
 *   4. a held frame at fork and at C_Finalize is dropped (no leak under
 *      ASan);
 *   5. the key's CKA_M2M_EXPIRES passes between two inits: the second
 *      init answers CKR_KEY_FUNCTION_NOT_PERMITTED in local mode; in
 *      client mode it is pipelined and C_Sign answers it;
 *   6. two threads on one session, one pipelining inits while the other
 *      signs without one: PKCS#11 errors, never CKR_DEVICE_ERROR.
 *
 * Child mode (internal): p11_pipeline BACKEND child LABEL (destroys it).
 */
#include <sys/wait.h>

#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "p11client.h"

#define TOKEN		"pipeline"
#define NROUNDS		300
#define NTHREADS	4

static char *self;
static int client_mode;
static CK_SLOT_ID slot;

/* The key value of label: 32 bytes, from its name. */
static void
key_value(const char *label, uint8_t v[32])
{
	size_t i, n = strlen(label);

	for (i = 0; i < 32; i++)
		v[i] = (uint8_t)(label[i % n] + i);
}

/* A token HMAC key named label (CKA_SIGN false when nosign). */
static CK_OBJECT_HANDLE
make_key(CK_SESSION_HANDLE s, const char *label, int nosign)
{
	CK_BBOOL no = CK_FALSE;
	CK_ATTRIBUTE x[] = { { CKA_SIGN, &no, sizeof(no) } };
	CK_OBJECT_HANDLE k;
	uint8_t v[32];

	key_value(label, v);
	P11C_MUST(p11c_import_ex(s, 0, label, CKK_GENERIC_SECRET, v,
	    sizeof(v), CK_TRUE, x, nosign ? 1 : 0, &k));
	return k;
}

/* OpenSSL's HMAC of msg under label's key (hash: EVP_sha256() ...). */
static void
ossl_mac(const EVP_MD *md, const char *label, const void *msg, size_t n,
    uint8_t *out)
{
	uint8_t v[32];
	unsigned int ol = 0;

	key_value(label, v);
	if (HMAC(md, v, sizeof(v), msg, n, out, &ol) == NULL)
		p11c_bail("HMAC failed");
}

/* One round: C_SignInit + C_Sign of msg #i; 1 when the MAC is OpenSSL's. */
static int
round_ok(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k, const char *label, int i)
{
	CK_MECHANISM m = { CKM_SHA256_HMAC, NULL, 0 };
	uint8_t msg[64], mac[32], want[32];
	CK_ULONG ml = sizeof(mac);

	memset(msg, i & 0xff, sizeof(msg));
	snprintf((char *)msg, sizeof(msg), "round %d", i);
	ossl_mac(EVP_sha256(), label, msg, sizeof(msg), want);
	if (F->C_SignInit(s, &m, k) != CKR_OK ||
	    F->C_Sign(s, msg, sizeof(msg), mac, &ml) != CKR_OK ||
	    ml != 32)
		return 0;
	return memcmp(mac, want, 32) == 0;
}

/* A few rounds: from the second on, the init may be pipelined. */
static int
warm(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k, const char *label)
{
	int i, ok = 1;

	for (i = 0; i < 3; i++)
		ok &= round_ok(s, k, label, i);
	return ok;
}

/* The child: destroy the token key named label; exit 0 if it worked. */
static int
child(const char *label)
{
	CK_SESSION_HANDLE s;
	CK_ATTRIBUTE t = { CKA_LABEL, (void *)label, strlen(label) };
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_RV rv;

	P11C_MUST(F->C_Initialize(NULL));
	s = p11c_user_session(p11c_token_slot(TOKEN));
	if (p11c_find(s, &t, 1, &h, 1) != 1)
		p11c_bail("child: no key '%s'", label);
	rv = F->C_DestroyObject(s, h);
	F->C_Finalize(NULL);
	return rv == CKR_OK ? 0 : 1;
}

/* Another process (its own connection) destroys label; 1 if it did. */
static int
other_destroys(const char *label)
{
	pid_t pid;
	int st;

	fflush(stdout);
	if ((pid = fork()) < 0)
		p11c_bail("fork: %s", strerror(errno));
	if (pid == 0) {
		execl(self, self, p11c_backend, "child", label, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			p11c_bail("waitpid: %s", strerror(errno));
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/*
 * The init's error where each mode gives it: in client mode init answers
 * CKR_OK (pipelined) and the operation's next call (C_Sign, C_Verify)
 * want, with its output untouched; in local mode init answers want.
 */
static void
init_error(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k, int verify, CK_RV want,
    const char *what)
{
	CK_MECHANISM m = { CKM_SHA256_HMAC, NULL, 0 };
	uint8_t msg[16] = "pipelined", out[32], mac[32];
	CK_ULONG ol = sizeof(out);
	CK_RV rv;
	size_t i;
	int untouched = 1;

	memset(out, 0xa5, sizeof(out));
	memset(mac, 0, sizeof(mac));
	rv = verify ? F->C_VerifyInit(s, &m, k) : F->C_SignInit(s, &m, k);
	if (!client_mode) {
		CHECK_RV(rv, want, "%s: local mode: the init answers it", what);
		return;
	}
	CHECK_RV(rv, CKR_OK, "%s: client mode: the init is pipelined", what);
	if (verify)
		rv = F->C_Verify(s, msg, sizeof(msg), mac, sizeof(mac));
	else
		rv = F->C_Sign(s, msg, sizeof(msg), out, &ol);
	CHECK_RV(rv, want, "%s: client mode: %s answers the init's error",
	    what, verify ? "C_Verify" : "C_Sign");
	for (i = 0; i < sizeof(out); i++)
		untouched &= out[i] == 0xa5;
	CHECK(untouched && ol == sizeof(out), "%s: the output is untouched",
	    what);
}

/* The init answers want itself, in both modes (not pipelined). */
static void
init_direct(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE k,
    CK_RV want, const char *what)
{
	CHECK_RV(F->C_SignInit(s, m, k), want, "%s: C_SignInit answers it",
	    what);
}

struct thr {
	CK_SESSION_HANDLE	 s;
	CK_OBJECT_HANDLE	 k;
	const char		*label;
	int			 ok;
	int			 id;
};

static void *
thr_main(void *arg)
{
	struct thr *t = arg;
	int i;

	t->ok = 1;
	for (i = 0; i < NROUNDS; i++)
		t->ok &= round_ok(t->s, t->k, t->label, t->id * 1000 + i);
	return NULL;
}

/* 1. the MACs */
static void
macs(CK_SESSION_HANDLE s)
{
	CK_MECHANISM m = { CKM_SHA256_HMAC, NULL, 0 };
	CK_ULONG glen = 16;
	CK_MECHANISM g = { CKM_SHA256_HMAC_GENERAL, &glen, sizeof(glen) };
	struct thr t[NTHREADS];
	pthread_t tid[NTHREADS];
	CK_OBJECT_HANDLE k = make_key(s, "pipe-macs", 0);
	uint8_t msg[100], mac[32], want[32];
	CK_ULONG ml;
	int i, ok = 1;

	for (i = 0; i < NROUNDS; i++)
		ok &= round_ok(s, k, "pipe-macs", i);
	CHECK(ok, "%d rounds of C_SignInit + C_Sign give OpenSSL's MACs",
	    NROUNDS);

	/* multi-part, a size query, a short buffer, verify, truncated */
	memset(msg, 0x3c, sizeof(msg));
	ossl_mac(EVP_sha256(), "pipe-macs", msg, sizeof(msg), want);
	for (ok = 1, i = 0; i < 20; i++) {
		ml = sizeof(mac);
		ok &= F->C_SignInit(s, &m, k) == CKR_OK &&
		    F->C_SignUpdate(s, msg, 40) == CKR_OK &&
		    F->C_SignUpdate(s, msg + 40, 60) == CKR_OK &&
		    F->C_SignFinal(s, mac, &ml) == CKR_OK &&
		    memcmp(mac, want, 32) == 0;
		ml = 0;
		ok &= F->C_SignInit(s, &m, k) == CKR_OK &&
		    F->C_Sign(s, msg, sizeof(msg), NULL, &ml) == CKR_OK &&
		    ml == 32;
		ml = 8;
		ok &= F->C_Sign(s, msg, sizeof(msg), mac, &ml) ==
		    CKR_BUFFER_TOO_SMALL && ml == 32;
		ok &= F->C_Sign(s, msg, sizeof(msg), mac, &ml) == CKR_OK &&
		    memcmp(mac, want, 32) == 0;
		ok &= F->C_VerifyInit(s, &m, k) == CKR_OK &&
		    F->C_Verify(s, msg, sizeof(msg), want, 32) == CKR_OK;
		want[0] ^= 1;
		ok &= F->C_VerifyInit(s, &m, k) == CKR_OK &&
		    F->C_Verify(s, msg, sizeof(msg), want, 32) ==
		    CKR_SIGNATURE_INVALID;
		want[0] ^= 1;
		ml = sizeof(mac);
		ok &= F->C_SignInit(s, &g, k) == CKR_OK &&
		    F->C_Sign(s, msg, sizeof(msg), mac, &ml) == CKR_OK &&
		    ml == 16 && memcmp(mac, want, 16) == 0;
	}
	CHECK(ok, "multi-part, size query, short buffer, verify (good and "
	    "bad), HMAC_GENERAL rounds are right");

	for (i = 0; i < NTHREADS; i++) {
		t[i].s = p11c_user_session(slot);
		t[i].k = k;
		t[i].label = "pipe-macs";
		t[i].id = i + 1;
		if (pthread_create(&tid[i], NULL, thr_main, &t[i]) != 0)
			p11c_bail("pthread_create");
	}
	for (ok = 1, i = 0; i < NTHREADS; i++) {
		pthread_join(tid[i], NULL);
		ok &= t[i].ok;
		P11C_MUST(F->C_CloseSession(t[i].s));
	}
	CHECK(ok, "%d threads x %d rounds give OpenSSL's MACs", NTHREADS,
	    NROUNDS);
}

/* Run f with stderr in a temporary file; that file's text into buf. */
static void
stderr_of(void (*f)(CK_SESSION_HANDLE, CK_OBJECT_HANDLE),
    CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k, char *buf, size_t max)
{
	FILE *tf = tmpfile();
	int saved;
	size_t n;

	if (tf == NULL || (saved = dup(2)) < 0)
		p11c_bail("tmpfile: %s", strerror(errno));
	fflush(stderr);
	(void)dup2(fileno(tf), 2);
	f(s, k);
	fflush(stderr);
	(void)dup2(saved, 2);
	close(saved);
	rewind(tf);
	n = fread(buf, 1, max - 1, tf);
	buf[n] = '\0';
	fclose(tf);
}

static void
destroyed_sign(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k)
{
	init_error(s, k, 0, CKR_KEY_HANDLE_INVALID, "key destroyed by "
	    "another process");
}

/* 2. another process destroys the key */
static void
destroyed(CK_SESSION_HANDLE s)
{
	CK_OBJECT_HANDLE ka = make_key(s, "pipe-a", 0);
	CK_OBJECT_HANDLE kb = make_key(s, "pipe-b", 0);
	CK_OBJECT_HANDLE kv = make_key(s, "pipe-v", 0);
	CK_MECHANISM m = { CKM_SHA256_HMAC, NULL, 0 };
	uint8_t msg[16] = "pipelined", mac[32], want[32];
	CK_ULONG ml;
	char log[4096];
	int i;

	CHECK(warm(s, ka, "pipe-a"), "pipe-a: rounds before");
	CHECK(other_destroys("pipe-a"), "another process destroys pipe-a");
	stderr_of(destroyed_sign, s, ka, log, sizeof(log));
	if (client_mode)
		CHECK(strstr(log, "a pipelined C_SignInit on session") !=
		    NULL && strstr(log, "failed with CKR 0x60") != NULL &&
		    strchr(log, '\n') == strrchr(log, '\n'),
		    "one log line names the pipelined init's failure: %s",
		    log);
	ml = sizeof(mac);
	CHECK_RV(F->C_Sign(s, msg, sizeof(msg), mac, &ml),
	    CKR_OPERATION_NOT_INITIALIZED, "the operation has ended");
	CHECK(warm(s, kb, "pipe-b"), "the session signs on with another key");
	CHECK_RV(F->C_SignInit(s, &m, ka), CKR_KEY_HANDLE_INVALID,
	    "a new init with the destroyed key fails in C_SignInit");

	/*
	 * the next call is another init, which the daemon answers CKR_OK:
	 * in client mode it returns the pending error and the daemon's
	 * operation is cancelled; in local mode the first init failed and
	 * the second one works
	 */
	ka = make_key(s, "pipe-a2", 0);
	CHECK(warm(s, ka, "pipe-a2"), "pipe-a2: rounds before");
	CHECK(other_destroys("pipe-a2"), "another process destroys pipe-a2");
	if (client_mode) {
		CHECK_RV(F->C_SignInit(s, &m, ka), CKR_OK, "pipe-a2: the init "
		    "is pipelined");
		CHECK_RV(F->C_SignInit(s, &m, kb), CKR_KEY_HANDLE_INVALID,
		    "pipe-a2: the next C_SignInit answers the pending error");
		ml = sizeof(mac);
		CHECK_RV(F->C_Sign(s, msg, sizeof(msg), mac, &ml),
		    CKR_OPERATION_NOT_INITIALIZED, "pipe-a2: and its operation "
		    "was cancelled");
	} else {
		CHECK_RV(F->C_SignInit(s, &m, ka), CKR_KEY_HANDLE_INVALID,
		    "pipe-a2: C_SignInit answers the error");
		CHECK_RV(F->C_SignInit(s, &m, kb), CKR_OK, "pipe-a2: another "
		    "C_SignInit works");
		ml = sizeof(mac);
		CHECK_RV(F->C_Sign(s, msg, sizeof(msg), mac, &ml), CKR_OK,
		    "pipe-a2: and signs");
	}
	CHECK(warm(s, kb, "pipe-b"), "the session signs on after pipe-a2");

	/* the same for verify */
	ossl_mac(EVP_sha256(), "pipe-v", msg, sizeof(msg), want);
	for (i = 0; i < 3; i++)
		CHECK_RV(F->C_VerifyInit(s, &m, kv) == CKR_OK ?
		    F->C_Verify(s, msg, sizeof(msg), want, 32) :
		    CKR_GENERAL_ERROR, CKR_OK, "pipe-v: verify round %d", i);
	CHECK(other_destroys("pipe-v"), "another process destroys pipe-v");
	init_error(s, kv, 1, CKR_KEY_HANDLE_INVALID, "verify key destroyed "
	    "by another process");
	CHECK(warm(s, kb, "pipe-b"), "the session signs on after verify");
}

/* 3. where the init is not pipelined */
static void
not_pipelined(CK_SESSION_HANDLE s)
{
	CK_MECHANISM m = { CKM_SHA256_HMAC, NULL, 0 };
	CK_MECHANISM m512 = { CKM_SHA512_HMAC, NULL, 0 };
	CK_ULONG l16 = 16, l20 = 20;
	CK_MECHANISM g16 = { CKM_SHA256_HMAC_GENERAL, &l16, sizeof(l16) };
	CK_MECHANISM g20 = { CKM_SHA256_HMAC_GENERAL, &l20, sizeof(l20) };
	CK_OBJECT_HANDLE k, x, kn;
	uint8_t msg[16] = "active", mac[32], want[32], v[16];
	CK_ULONG ml;
	int i;

	/* C_Logout + C_Login */
	k = make_key(s, "pipe-login", 0);
	CHECK(warm(s, k, "pipe-login"), "pipe-login: rounds before");
	CHECK(other_destroys("pipe-login"), "another process destroys "
	    "pipe-login");
	CHECK_RV(F->C_Logout(s), CKR_OK, "C_Logout");
	CHECK_RV(F->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)P11C_USER_PIN,
	    strlen(P11C_USER_PIN)), CKR_OK, "C_Login");
	init_direct(s, &m, k, CKR_KEY_HANDLE_INVALID, "after C_Logout and "
	    "C_Login");

	/* this process destroys another object */
	k = make_key(s, "pipe-other", 0);
	memset(v, 7, sizeof(v));
	P11C_MUST(p11c_import(s, 0, "pipe-scratch", v, sizeof(v), &x));
	CHECK(warm(s, k, "pipe-other"), "pipe-other: rounds before");
	CHECK(other_destroys("pipe-other"), "another process destroys "
	    "pipe-other");
	CHECK_RV(F->C_DestroyObject(s, x), CKR_OK, "this process destroys "
	    "another object");
	init_direct(s, &m, k, CKR_KEY_HANDLE_INVALID, "after this process's "
	    "C_DestroyObject");

	/* another mechanism, another parameter */
	k = make_key(s, "pipe-mech", 0);
	CHECK(warm(s, k, "pipe-mech"), "pipe-mech: rounds before");
	CHECK(other_destroys("pipe-mech"), "another process destroys "
	    "pipe-mech");
	init_direct(s, &m512, k, CKR_KEY_HANDLE_INVALID, "another mechanism");
	k = make_key(s, "pipe-param", 0);
	for (i = 0; i < 3; i++) {
		ml = sizeof(mac);
		CHECK_RV(F->C_SignInit(s, &g16, k) == CKR_OK ?
		    F->C_Sign(s, msg, sizeof(msg), mac, &ml) :
		    CKR_GENERAL_ERROR, CKR_OK, "pipe-param: 16-byte MAC %d",
		    i);
	}
	CHECK(other_destroys("pipe-param"), "another process destroys "
	    "pipe-param");
	init_direct(s, &g20, k, CKR_KEY_HANDLE_INVALID, "another parameter");

	/* another key: one without CKA_SIGN */
	k = make_key(s, "pipe-key", 0);
	kn = make_key(s, "pipe-nosign", 1);
	CHECK(warm(s, k, "pipe-key"), "pipe-key: rounds before");
	init_direct(s, &m, kn, CKR_KEY_FUNCTION_NOT_PERMITTED, "another key, "
	    "without CKA_SIGN");

	/* an operation active */
	CHECK(warm(s, k, "pipe-key"), "pipe-key: rounds again");
	ossl_mac(EVP_sha256(), "pipe-key", msg, sizeof(msg), want);
	CHECK_RV(F->C_SignInit(s, &m, k), CKR_OK, "C_SignInit");
	init_direct(s, &m, k, CKR_OPERATION_ACTIVE, "C_SignInit twice");
	ml = sizeof(mac);
	CHECK(F->C_Sign(s, msg, sizeof(msg), mac, &ml) == CKR_OK &&
	    memcmp(mac, want, 32) == 0, "the first operation signs");
	CHECK_RV(F->C_SignInit(s, &m, k), CKR_OK, "C_SignInit");
	ml = 0;
	CHECK_RV(F->C_Sign(s, msg, sizeof(msg), NULL, &ml), CKR_OK,
	    "a size query");
	init_direct(s, &m, k, CKR_OPERATION_ACTIVE, "after a size query");
	ml = 4;
	CHECK_RV(F->C_Sign(s, msg, sizeof(msg), mac, &ml),
	    CKR_BUFFER_TOO_SMALL, "a short buffer");
	init_direct(s, &m, k, CKR_OPERATION_ACTIVE, "after "
	    "CKR_BUFFER_TOO_SMALL");
	ml = sizeof(mac);
	CHECK(F->C_Sign(s, msg, sizeof(msg), mac, &ml) == CKR_OK &&
	    memcmp(mac, want, 32) == 0, "and then signs");
	CHECK_RV(F->C_SignInit(s, &m, k), CKR_OK, "C_SignInit");
	CHECK_RV(F->C_SignUpdate(s, msg, sizeof(msg)), CKR_OK, "C_SignUpdate");
	init_direct(s, &m, k, CKR_OPERATION_ACTIVE, "after C_SignUpdate");
	ml = sizeof(mac);
	CHECK(F->C_SignFinal(s, mac, &ml) == CKR_OK &&
	    memcmp(mac, want, 32) == 0, "C_SignFinal");
	CHECK(warm(s, k, "pipe-key"), "pipe-key: rounds after");
}

/* 4. a held frame at fork and at C_Finalize */
static void
held(CK_SESSION_HANDLE s)
{
	CK_MECHANISM m = { CKM_SHA256_HMAC, NULL, 0 };
	CK_OBJECT_HANDLE k = make_key(s, "pipe-held", 0);
	uint8_t msg[16] = "held", mac[32], want[32];
	CK_ULONG ml = sizeof(mac);
	pid_t pid;
	int st;

	ossl_mac(EVP_sha256(), "pipe-held", msg, sizeof(msg), want);
	CHECK(warm(s, k, "pipe-held"), "pipe-held: rounds before");
	CHECK_RV(F->C_SignInit(s, &m, k), CKR_OK, "C_SignInit before fork");
	fflush(stdout);
	if ((pid = fork()) < 0)
		p11c_bail("fork: %s", strerror(errno));
	if (pid == 0) {
		/* the parent's held frame is not the child's */
		CK_SESSION_HANDLE cs;
		CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
		CK_ATTRIBUTE t = { CKA_LABEL, (void *)"pipe-held", 9 };

		if (F->C_Initialize(NULL) != CKR_OK)
			_exit(2);
		cs = p11c_user_session(p11c_token_slot(TOKEN));
		if (p11c_find(cs, &t, 1, &h, 1) != 1 ||
		    !warm(cs, h, "pipe-held"))
			_exit(3);
		F->C_Finalize(NULL);
		_exit(0);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			p11c_bail("waitpid: %s", strerror(errno));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a forked child signs "
	    "on its own connection (status 0x%x)", st);
	CHECK(F->C_Sign(s, msg, sizeof(msg), mac, &ml) == CKR_OK &&
	    memcmp(mac, want, 32) == 0, "the parent's operation signs");
	CHECK_RV(F->C_SignInit(s, &m, k), CKR_OK, "C_SignInit, then "
	    "C_Finalize");
}

/*
 * The key's CKA_M2M_EXPIRES passes between two inits: local mode refuses
 * the second init itself; client mode pipelines it (nothing in the
 * process changed) and C_Sign answers the daemon's refusal.
 */
static void
expired(CK_SESSION_HANDLE s)
{
	char exp[32];
	CK_ATTRIBUTE x[] = { { CKA_M2M_EXPIRES, exp, 15 } };
	CK_OBJECT_HANDLE k;
	struct tm tm;
	time_t t = time(NULL) + 3;
	uint8_t v[32];

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(exp, sizeof(exp), "%Y%m%dT%H%M%S", &tm) != 15)
		p11c_bail("expiry time");
	key_value("expiring", v);
	P11C_MUST(p11c_import_ex(s, 0, "expiring", CKK_GENERIC_SECRET, v,
	    sizeof(v), CK_TRUE, x, 1, &k));
	CHECK(warm(s, k, "expiring"), "a key that expires in 3 s signs");
	while (time(NULL) <= t)
		sleep(1);
	init_error(s, k, 0, CKR_KEY_FUNCTION_NOT_PERMITTED,
	    "the key expired since the last init");
	CHECK(warm(s, make_key(s, "after-expiry", 0), "after-expiry"),
	    "the session signs with another key after");
}

/*
 * 6. two threads on one session (PKCS#11 leaves the result to the
 * application): one C_Sign after another with no init of its own, the
 * other SignInit + Sign rounds, so that a C_Sign is sent before a
 * pipelined init and answered while that init is unanswered.  Each call
 * answers a PKCS#11 error or CKR_OK, never CKR_DEVICE_ERROR (a connection
 * failed for a reply "overtaking" an init sent after it), and the session
 * signs on afterwards.
 */
#define MISUSE_ROUNDS	3000

struct misuse {
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE k;
	int stop;
	int dead;		/* CKR_DEVICE_ERROR or CKR_GENERAL_ERROR */
};

static void *
misuse_sign(void *arg)
{
	struct misuse *u = arg;
	uint8_t mac[32];
	CK_ULONG ml;
	CK_RV rv;

	while (!__atomic_load_n(&u->stop, __ATOMIC_ACQUIRE)) {
		ml = sizeof(mac);
		rv = F->C_Sign(u->s, (CK_BYTE_PTR)"other", 5, mac, &ml);
		if (rv == CKR_DEVICE_ERROR || rv == CKR_GENERAL_ERROR)
			__atomic_add_fetch(&u->dead, 1, __ATOMIC_ACQ_REL);
	}
	return NULL;
}

static void
misuse(CK_SESSION_HANDLE s)
{
	CK_MECHANISM m = { CKM_SHA256_HMAC, NULL, 0 };
	struct misuse u = { .s = s };
	uint8_t mac[32];
	CK_ULONG ml;
	CK_RV rv;
	pthread_t th;
	int i, dead = 0;

	u.k = make_key(s, "misuse", 0);
	CHECK(warm(s, u.k, "misuse"), "misuse: the key signs");
	if (pthread_create(&th, NULL, misuse_sign, &u) != 0)
		p11c_bail("pthread_create");
	for (i = 0; i < MISUSE_ROUNDS; i++) {
		ml = sizeof(mac);
		if ((rv = F->C_SignInit(s, &m, u.k)) == CKR_OK)
			rv = F->C_Sign(s, (CK_BYTE_PTR)"mine", 4, mac, &ml);
		if (rv == CKR_DEVICE_ERROR || rv == CKR_GENERAL_ERROR)
			dead++;
	}
	__atomic_store_n(&u.stop, 1, __ATOMIC_RELEASE);
	(void)pthread_join(th, NULL);
	CHECK(dead == 0 && u.dead == 0, "two threads on one session: no "
	    "CKR_DEVICE_ERROR (%d and %d)", dead, u.dead);
	CHECK(warm(s, u.k, "misuse"), "misuse: the session signs on after");
}

int
main(int argc, char **argv)
{
	CK_SESSION_HANDLE s;

	if (argc >= 4 && strcmp(argv[2], "child") == 0) {
		p11c_load(argc, argv);
		return child(argv[3]);
	}
	self = argv[0];
	client_mode = getenv("M2MTOKEN_DAEMON_SOCKET") != NULL;
	p11c_load(argc, argv);
	s = p11c_setup(TOKEN, &slot);
	p11c_note("%s mode", client_mode ? "client" : "local");

	macs(s);
	destroyed(s);
	not_pipelined(s);
	expired(s);
	misuse(s);
	held(s);	/* last: it leaves an init held for C_Finalize */

	CHECK_RV(F->C_Finalize(NULL), CKR_OK, "C_Finalize with a held frame");
	return p11c_finish();
}
