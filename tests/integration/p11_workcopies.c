/*
 * m2m-label: local-only (it looks into the backend's SoftHSM2 instance in
 * this process; in client mode that instance is the daemon's worker's)
 * p11_workcopies: the HSM backend's working copies of keys (session
 * objects in the backing SoftHSM2 token, public: any code of the process
 * can see and use them) do not outlive the login.  While the user is
 * logged in and has used two keys, the backing token holds their copies;
 * after C_Logout it holds none, and none after the last C_CloseSession of
 * the token either.  The observer is a second party in the same process:
 * SoftHSM2 loaded directly (the module is already initialised by the
 * backend), a session of its own without a login, C_FindObjects for
 * session secret keys.  HSM backend only (the TPM has no such copies).
 *
 * A key destroyed while another session's operation holds it (C_SignInit
 * on session 1, C_DestroyObject on session 2, found in review): the
 * operation ends with it, so C_Sign on session 1 fails and no working copy
 * of the dead key is made or kept; for a session key, a token key, a
 * multi-part operation, and a token key destroyed by another process (a
 * forked child with its own C_Initialize).
 */
#include <sys/wait.h>

#include <errno.h>
#include <dlfcn.h>
#include <unistd.h>

#include "p11client.h"

#define TOKEN		"workcopies"

static const uint8_t MSG[] = "working copies";

/* The second party: SoftHSM2 itself, a session on the backing token. */
static CK_FUNCTION_LIST_PTR	 sh;
static CK_SESSION_HANDLE	 shs;

static void
observer_open(void)
{
	p11c_backing_open(&sh, &shs);
}

#define BIND_COPY	"m2mtoken-bind-copy"	/* hsm/bind.c */
#define WRAP_COPY	"m2mtoken-wrap-copy"	/* hsm/hsm_wrapkey.c */

/* 1 when the label of o is s. */
static int
labelled(CK_OBJECT_HANDLE o, const char *s)
{
	char label[64] = "";
	CK_ATTRIBUTE a = { CKA_LABEL, label, sizeof(label) - 1 };

	return sh->C_GetAttributeValue(shs, o, &a, 1) == CKR_OK &&
	    a.ulValueLen == strlen(s) && memcmp(label, s, a.ulValueLen) == 0;
}

/*
 * Session secret keys the second party sees in the backing token, less the
 * session copies of the binding key (which MACs store rows) and of the
 * wrapping key (which wraps and unwraps them): no working copies.
 */
static CK_ULONG
copies(void)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_BBOOL f = CK_FALSE;
	CK_ATTRIBUTE q[] = {
		{ CKA_CLASS, &cls, sizeof(cls) }, { CKA_TOKEN, &f, sizeof(f) },
	};
	CK_OBJECT_HANDLE found[64];
	CK_ULONG n = 0;

	CK_ULONG i, keys = 0;

	P11C_MUST(sh->C_FindObjectsInit(shs, q, 2));
	P11C_MUST(sh->C_FindObjects(shs, found, 64, &n));
	P11C_MUST(sh->C_FindObjectsFinal(shs));
	/* not the backend's copies of its own keys: no keys of the store */
	for (i = 0; i < n; i++) {
		if (!labelled(found[i], BIND_COPY) &&
		    !labelled(found[i], WRAP_COPY))
			keys++;
	}
	return keys;
}

/* One check of the count of copies (HSM backend; the TPM has none). */
static void
expect_copies(CK_ULONG want, const char *what)
{
	CK_ULONG n;

	if (sh == NULL)
		return;
	n = copies();
	p11c_check(n == want, "%s: %lu working copies in the backing token",
	    what, n);
}

/* Use both keys once: each leaves a working copy behind. */
static void
use(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k1, CK_OBJECT_HANDLE k2)
{
	uint8_t mac[32];
	CK_ULONG ml;

	ml = sizeof(mac);
	P11C_MUST(p11c_sign(s, CKM_SHA256_HMAC, k1, MSG, sizeof(MSG), mac,
	    &ml));
	ml = sizeof(mac);
	P11C_MUST(p11c_sign(s, CKM_SHA256_HMAC, k2, MSG, sizeof(MSG), mac,
	    &ml));
}

enum destroyer { BY_SESSION, BY_PROCESS };

/* Session dst destroys h; or a forked child, its own process, does. */
static void
destroy(CK_SLOT_ID slot, CK_SESSION_HANDLE dst, CK_OBJECT_HANDLE h,
    enum destroyer by)
{
	CK_SESSION_HANDLE cs;
	pid_t pid;
	int st = 0;

	if (by == BY_SESSION) {
		P11C_MUST(F->C_DestroyObject(dst, h));
		return;
	}
	fflush(stdout);
	if ((pid = fork()) < 0)
		p11c_bail("fork: %s", strerror(errno));
	if (pid == 0) {
		alarm(10);
		_exit(F->C_Initialize(NULL) != CKR_OK ||
		    F->C_OpenSession(slot, CKF_SERIAL_SESSION |
		    CKF_RW_SESSION, NULL, NULL, &cs) != CKR_OK ||
		    F->C_Login(cs, CKU_USER, (CK_UTF8CHAR_PTR)P11C_USER_PIN,
		    strlen(P11C_USER_PIN)) != CKR_OK ||
		    F->C_DestroyObject(cs, h) != CKR_OK ||
		    F->C_Finalize(NULL) != CKR_OK);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		p11c_bail("the destroying child failed (status 0x%x)", st);
}

/*
 * C_SignInit (and one C_SignUpdate when multi) on s1 with a new key, the
 * key destroyed, then C_Sign (C_SignFinal): not CKR_OK, no working copy.
 */
static void
destroy_in_flight(CK_SLOT_ID slot, CK_SESSION_HANDLE s1,
    CK_SESSION_HANDLE s2, int token, int multi, enum destroyer by)
{
	CK_MECHANISM m = { CKM_SHA256_HMAC, NULL, 0 };
	CK_OBJECT_HANDLE k;
	char what[96];
	uint8_t v[32], mac[32];
	CK_ULONG ml = sizeof(mac);
	CK_RV rv;

	snprintf(what, sizeof(what), "%s key destroyed%s during %s",
	    token ? "token" : "session", by == BY_PROCESS ?
	    " by another process" : "", multi ? "C_SignUpdate" :
	    "C_SignInit");
	memset(v, 0x5a + token + 2 * multi, sizeof(v));
	P11C_MUST(p11c_import_ex(s1, CK_M2M_ROLE_KE2E_MSG_AUTH, "wc-dead",
	    CKK_GENERIC_SECRET, v, sizeof(v), token ? CK_TRUE : CK_FALSE,
	    NULL, 0, &k));
	P11C_MUST(F->C_SignInit(s1, &m, k));
	if (multi)
		P11C_MUST(F->C_SignUpdate(s1, (CK_BYTE_PTR)MSG, sizeof(MSG)));
	destroy(slot, s2, k, by);
	if (multi)
		rv = F->C_SignFinal(s1, mac, &ml);
	else
		rv = F->C_Sign(s1, (CK_BYTE_PTR)MSG, sizeof(MSG), mac, &ml);
	CHECK_RV(rv, CKR_OPERATION_NOT_INITIALIZED, "%s: the operation "
	    "ended with its key", what);
	expect_copies(0, what);
	/* and gone for a new operation */
	CHECK_RV(F->C_SignInit(s1, &m, k), CKR_KEY_HANDLE_INVALID,
	    "%s: C_SignInit with it", what);
}

int
main(int argc, char **argv)
{
	CK_SESSION_HANDLE s, s2;
	CK_OBJECT_HANDLE k1, k2;
	CK_SLOT_ID slot;
	uint8_t v[32];

	p11c_load(argc, argv);
	s = p11c_setup(TOKEN, &slot);
	if (strcmp(p11c_backend, "hsm") == 0)
		observer_open();
	else
		p11c_note("no backing HSM: only the keys' use is checked");
	memset(v, 0x3c, sizeof(v));
	P11C_MUST(p11c_import_ex(s, CK_M2M_ROLE_KE2E_MSG_AUTH, "wc-1",
	    CKK_GENERIC_SECRET, v, sizeof(v), CK_TRUE, NULL, 0, &k1));
	v[0] ^= 1;
	P11C_MUST(p11c_import_ex(s, CK_M2M_ROLE_KE2E_MSG_AUTH, "wc-2",
	    CKK_GENERIC_SECRET, v, sizeof(v), CK_TRUE, NULL, 0, &k2));

	use(s, k1, k2);
	expect_copies(2, "logged in, two keys used");
	P11C_MUST(F->C_Logout(s));
	expect_copies(0, "after C_Logout");

	/* logged in again through a second session; the first one closes */
	s2 = p11c_user_session(slot);
	use(s2, k1, k2);
	expect_copies(2, "logged in again, both keys used");
	P11C_MUST(F->C_CloseSession(s));
	expect_copies(2, "one session closed, another still logged in");
	P11C_MUST(F->C_CloseSession(s2));
	expect_copies(0, "after the token's last C_CloseSession");

	/* the keys work after all this */
	s = p11c_user_session(slot);
	use(s, k1, k2);
	p11c_check(1, "both keys usable after logout and close");
	P11C_MUST(F->C_CloseSession(s));

	s = p11c_user_session(slot);
	P11C_MUST(F->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
	    NULL, NULL, &s2));
	destroy_in_flight(slot, s, s2, 0, 0, BY_SESSION);
	destroy_in_flight(slot, s, s2, 1, 0, BY_SESSION);
	destroy_in_flight(slot, s, s2, 0, 1, BY_SESSION);
	destroy_in_flight(slot, s, s2, 1, 1, BY_SESSION);
	destroy_in_flight(slot, s, s2, 1, 0, BY_PROCESS);
	destroy_in_flight(slot, s, s2, 1, 1, BY_PROCESS);
	P11C_MUST(F->C_CloseSession(s2));
	P11C_MUST(F->C_CloseSession(s));
	if (sh != NULL)
		(void)sh->C_CloseSession(shs);
	P11C_MUST(F->C_Finalize(NULL));
	return p11c_finish();
}
