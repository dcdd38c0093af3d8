/*
 * p11_cache: the module's per-process cache of token objects never hides
 * a change made by another process.  The parent uses a token key (which
 * fills its cache), then a second process (this program run again: a
 * fresh exec, its own C_Initialize) relabels the key, restricts it and
 * finally destroys it; after each step the parent must see the new state
 * at once: the new label through C_GetAttributeValue and C_FindObjects,
 * the key refused once destroyed.  The same within one process across
 * two sessions.
 *
 * Child mode (internal): p11_cache BACKEND child ACTION HANDLE [ARG].
 */
#include <sys/wait.h>

#include <errno.h>
#include <unistd.h>

#include "p11client.h"

#define TOKEN		"cache"
#define LABEL0		"cache-key"
#define LABEL1		"cache-key-renamed"

static const uint8_t MSG[] = "cache test message";
static char *self;

/* The child: one change to one object, then exit 0 if it worked. */
static int
child(const char *action, const char *handle, const char *arg)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE h = strtoul(handle, NULL, 10);
	CK_RV rv = CKR_GENERAL_ERROR;

	P11C_MUST(F->C_Initialize(NULL));
	s = p11c_user_session(p11c_token_slot(TOKEN));
	if (strcmp(action, "relabel") == 0 && arg != NULL) {
		CK_ATTRIBUTE a = { CKA_LABEL, (void *)arg, strlen(arg) };

		rv = F->C_SetAttributeValue(s, h, &a, 1);
	} else if (strcmp(action, "destroy") == 0)
		rv = F->C_DestroyObject(s, h);
	if (rv != CKR_OK)
		printf("# child %s %s: %s\n", action, handle, p11c_rvname(rv));
	F->C_Finalize(NULL);
	return rv == CKR_OK ? 0 : 1;
}

/* Run "self BACKEND child ACTION h [arg]" and wait; 1 when it succeeded. */
static int
run_child(const char *action, CK_OBJECT_HANDLE h, const char *arg)
{
	char hs[32];
	pid_t pid;
	int st;

	snprintf(hs, sizeof(hs), "%lu", (unsigned long)h);
	fflush(stdout);
	if ((pid = fork()) < 0)
		p11c_bail("fork: %s", strerror(errno));
	if (pid == 0) {
		execl(self, self, p11c_backend, "child", action, hs, arg,
		    (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			p11c_bail("waitpid: %s", strerror(errno));
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static CK_ULONG
find_label(CK_SESSION_HANDLE s, const char *label, CK_OBJECT_HANDLE *out)
{
	CK_ATTRIBUTE t = { CKA_LABEL, (void *)label, strlen(label) };

	return p11c_find(s, &t, 1, out, 1);
}

int
main(int argc, char **argv)
{
	CK_SESSION_HANDLE s, s2;
	CK_MECHANISM m = { CKM_SHA256_HMAC, NULL, 0 };
	CK_OBJECT_HANDLE k, k2, got = CK_INVALID_HANDLE;
	uint8_t v[32], mac0[32], mac1[32];
	CK_ULONG ml;
	char label[64];
	int i;

	if (argc >= 5 && strcmp(argv[2], "child") == 0) {
		p11c_load(argc, argv);
		return child(argv[3], argv[4], argc > 5 ? argv[5] : NULL);
	}
	self = argv[0];
	p11c_load(argc, argv);
	s = p11c_setup(TOKEN, NULL);

	memset(v, 0x5c, sizeof(v));
	P11C_MUST(p11c_import_ex(s, CK_M2M_ROLE_KE2E_MSG_AUTH, LABEL0,
	    CKK_GENERIC_SECRET, v, sizeof(v), CK_TRUE, NULL, 0, &k));
	/* use it a few times: from here on the object is in the cache */
	for (i = 0; i < 3; i++) {
		ml = sizeof(mac0);
		P11C_MUST(p11c_sign(s, CKM_SHA256_HMAC, k, MSG, sizeof(MSG),
		    mac0, &ml));
	}
	p11c_label(s, k, label, sizeof(label));
	CHECK(strcmp(label, LABEL0) == 0, "label before: %s", label);

	/* another process renames the key */
	CHECK(run_child("relabel", k, LABEL1), "other process relabels");
	p11c_label(s, k, label, sizeof(label));
	CHECK(strcmp(label, LABEL1) == 0,
	    "new label seen at once by this process: %s", label);
	CHECK(find_label(s, LABEL1, &got) == 1 && got == k,
	    "found by the new label");
	CHECK(find_label(s, LABEL0, NULL) == 0, "not found by the old label");
	ml = sizeof(mac1);
	CHECK_RV(p11c_sign(s, CKM_SHA256_HMAC, k, MSG, sizeof(MSG), mac1,
	    &ml), CKR_OK, "renamed key still signs");
	CHECK(memcmp(mac0, mac1, 32) == 0, "same MAC after the rename");

	/*
	 * another process destroys it: refused at once, nothing cached.  In
	 * client mode this C_SignInit repeats the last one and is pipelined
	 * (docs/protocol.md, "Pipelined operation init"): it answers CKR_OK
	 * and the refusal comes from C_Sign.
	 */
	CHECK(run_child("destroy", k, NULL), "other process destroys");
	if (getenv("M2MTOKEN_DAEMON_SOCKET") != NULL) {
		CHECK_RV(F->C_SignInit(s, &m, k), CKR_OK,
		    "C_SignInit with the destroyed key (pipelined)");
		ml = sizeof(mac1);
		CHECK_RV(F->C_Sign(s, (CK_BYTE_PTR)MSG, sizeof(MSG), mac1, &ml),
		    CKR_KEY_HANDLE_INVALID, "C_Sign after it");
	} else
		CHECK_RV(F->C_SignInit(s, &m, k), CKR_KEY_HANDLE_INVALID,
		    "C_SignInit with the destroyed key");
	{
		CK_ATTRIBUTE a = { CKA_LABEL, label, sizeof(label) };

		CHECK_RV(F->C_GetAttributeValue(s, k, &a, 1),
		    CKR_OBJECT_HANDLE_INVALID,
		    "C_GetAttributeValue of the destroyed key");
	}
	CHECK(find_label(s, LABEL1, NULL) == 0, "destroyed key not found");

	/* a failed child (no such object) changes nothing here */
	CHECK(!run_child("destroy", k, NULL), "second destroy fails");

	/* one process, two sessions: a destroy in one is seen by the other */
	P11C_MUST(p11c_import_ex(s, CK_M2M_ROLE_KE2E_MSG_AUTH, "cache-key-2",
	    CKK_GENERIC_SECRET, v, sizeof(v), CK_TRUE, NULL, 0, &k2));
	s2 = p11c_user_session(p11c_token_slot(TOKEN));
	ml = sizeof(mac1);
	CHECK_RV(p11c_sign(s2, CKM_SHA256_HMAC, k2, MSG, sizeof(MSG), mac1,
	    &ml), CKR_OK, "second session signs");
	CHECK_RV(F->C_DestroyObject(s, k2), CKR_OK, "first session destroys");
	CHECK_RV(F->C_SignInit(s2, &m, k2), CKR_KEY_HANDLE_INVALID,
	    "second session: destroyed key refused");

	F->C_Finalize(NULL);
	return p11c_finish();
}
