/*
 * p11_nodisk: deriving session objects writes nothing to disk.  A MEF's
 * fetchCredentials (CKM_M2M_KPSA_DERIVE of a delivered session key, its
 * CKA_VALUE read, the key destroyed) and a ProvisionE2E key set
 * (CKM_M2M_E2E_MASTER_SHA256 then CKM_M2M_E2E_EXPAND n = 1..4, session
 * objects, one MAC, all destroyed), repeated, must leave every file of the
 * store and of the backing SoftHSM2 token directory as it was: same set of
 * files, same sizes, same modification times (nanoseconds).  The first
 * round is not counted (the HSM backend makes its readable wrapping key,
 * a token object, at its first use).  A request in a session of its own
 * whose C_Login finds the user logged in is covered too; a C_Login from
 * the logged-out state does write (the PIN failure counter is raised and
 * committed before the PIN is checked), so a
 * server keeps one session logged in rather than logging in per request.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "p11client.h"

#define TOKEN	"nodisk"
#define KEID	"000102030405060708090a0b0c0d0e0f@mef.example.com"
#define KPSAID	"101112131415161718191a1b1c1d1e1f@in.example.com"
#define TARGET	"/in-cse.example.com/CAE01"
#define ROUNDS	20
#define FILES_MAX 256

struct file {
	char		 path[512];
	off_t		 size;
	struct timespec	 mtime;
};

struct snap {
	struct file	 f[FILES_MAX];
	size_t		 n;
};

static CK_SESSION_HANDLE S;
static CK_SLOT_ID SLOT;

/* Every regular file under dir (recursively) whose name starts with pfx. */
static void
scan(struct snap *sn, const char *dir, const char *pfx)
{
	char path[512];
	struct dirent *e;
	struct stat st;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		p11c_bail("cannot open %s", dir);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (pfx != NULL && strncmp(e->d_name, pfx, strlen(pfx)) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (lstat(path, &st) != 0)
			continue;	/* gone since readdir */
		if (S_ISDIR(st.st_mode)) {
			scan(sn, path, NULL);
			continue;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		if (sn->n == FILES_MAX)
			p11c_bail("more than %d files under %s", FILES_MAX, dir);
		snprintf(sn->f[sn->n].path, sizeof(sn->f[sn->n].path), "%s",
		    path);
		sn->f[sn->n].size = st.st_size;
		sn->f[sn->n].mtime = st.st_mtim;
		sn->n++;
	}
	closedir(d);
}

/* The store's files ($M2M_TMP/store.db*) and SoftHSM2's token directory. */
static void
snapshot(struct snap *sn)
{
	const char *tmp = getenv("M2M_TMP");
	char dir[512];

	if (tmp == NULL)
		p11c_bail("M2M_TMP is not set");
	sn->n = 0;
	scan(sn, tmp, "store.db");
	snprintf(dir, sizeof(dir), "%s/softhsm", tmp);
	scan(sn, dir, NULL);
}

/* 1 when b has exactly a's files, sizes and times; says what differs. */
static int
same(const struct snap *a, const struct snap *b)
{
	size_t i, j;
	int ok = 1;

	for (i = 0; i < a->n; i++) {
		for (j = 0; j < b->n; j++)
			if (strcmp(a->f[i].path, b->f[j].path) == 0)
				break;
		if (j == b->n) {
			p11c_note("removed: %s", a->f[i].path);
			ok = 0;
		} else if (a->f[i].size != b->f[j].size ||
		    a->f[i].mtime.tv_sec != b->f[j].mtime.tv_sec ||
		    a->f[i].mtime.tv_nsec != b->f[j].mtime.tv_nsec) {
			p11c_note("written: %s", a->f[i].path);
			ok = 0;
		}
	}
	if (b->n != a->n) {
		p11c_note("%zu files before, %zu after", a->n, b->n);
		ok = 0;
	}
	return ok;
}


/* A token object of role with a fixed 32-byte value. */
static CK_OBJECT_HANDLE
import_token_key(CK_ULONG role, const char *label, uint8_t fill)
{
	uint8_t v[32];
	CK_OBJECT_HANDLE h;

	memset(v, fill, sizeof(v));
	P11C_MUST(p11c_import_ex(S, role, label, CKK_GENERIC_SECRET, v,
	    sizeof(v), CK_TRUE, NULL, 0, &h));
	return h;
}

/* fetchCredentials: a delivered Kpsa derived, read, destroyed. */
static int
fetch_in(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE ke)
{
	CK_MECHANISM m = { CKM_M2M_KPSA_DERIVE, TARGET, strlen(TARGET) };
	CK_ULONG none = CK_M2M_ROLE_NONE;
	CK_BBOOL f = CK_FALSE, t = CK_TRUE;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_M2M_ROLE, &none, sizeof(none) },
		{ CKA_TOKEN, &f, sizeof(f) },
		{ CKA_SENSITIVE, &f, sizeof(f) },
		{ CKA_EXTRACTABLE, &t, sizeof(t) },
	};
	uint8_t v[64];
	CK_ATTRIBUTE a = { CKA_VALUE, v, sizeof(v) };
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	int ok;

	if (F->C_DeriveKey(s, &m, ke, tmpl, 4, &h) != CKR_OK)
		return 0;
	ok = F->C_GetAttributeValue(s, h, &a, 1) == CKR_OK &&
	    a.ulValueLen == 32;
	ok &= F->C_DestroyObject(s, h) == CKR_OK;
	return ok;
}

/*
 * The same in a session of its own, opened for the request with a
 * C_Login that finds the user logged in already (another session keeps
 * the login), closed after it.
 */
static int
fetch(CK_OBJECT_HANDLE ke)
{
	CK_SESSION_HANDLE s;
	int ok;

	if (fetch_in(S, ke) == 0 || F->C_OpenSession(SLOT,
	    CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s) != CKR_OK)
		return 0;
	ok = F->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)P11C_USER_PIN,
	    strlen(P11C_USER_PIN)) == CKR_USER_ALREADY_LOGGED_IN;
	ok = ok && fetch_in(s, ke);
	ok &= F->C_CloseSession(s) == CKR_OK;
	return ok;
}

/* ProvisionE2E: master and four keys as session objects, one MAC. */
static int
e2e_set(CK_OBJECT_HANDLE kpsa)
{
	CK_BBOOL f = CK_FALSE;
	CK_ATTRIBUTE tmpl[] = { { CKA_TOKEN, &f, sizeof(f) } };
	CK_OBJECT_HANDLE master, k[4];
	uint8_t mac[64];
	CK_ULONG maclen = sizeof(mac);
	int ok = 1, i;

	if (p11c_derive(S, CKM_M2M_E2E_MASTER_SHA256, NULL, 0, kpsa, tmpl, 1,
	    &master) != CKR_OK)
		return 0;
	for (i = 0; i < 4; i++)
		ok &= p11c_expand(S, master, (uint8_t)(i + 1), &k[i]) ==
		    CKR_OK;
	ok &= ok && p11c_sign(S, CKM_SHA256_HMAC, k[0], "msg", 3, mac,
	    &maclen) == CKR_OK;
	for (i = 0; i < 4; i++)
		if (k[i] != CK_INVALID_HANDLE)
			(void)F->C_DestroyObject(S, k[i]);
	ok &= F->C_DestroyObject(S, master) == CKR_OK;
	return ok;
}

static void
test_no_writes(void)
{
	static struct snap before, after;
	CK_OBJECT_HANDLE ke, kpsa;
	int ok = 1, i;

	ke = import_token_key(CK_M2M_ROLE_KE, KEID, 0x11);
	kpsa = import_token_key(CK_M2M_ROLE_KPSA, KPSAID, 0x22);
	if (!p11c_check(fetch(ke) && e2e_set(kpsa), "warm-up round"))
		return;
	snapshot(&before);
	p11c_check(before.n > 0, "%zu files watched", before.n);
	/* a write in the same clock tick would keep the time: wait one */
	usleep(20000);
	for (i = 0; i < ROUNDS && ok; i++)
		ok = fetch(ke) && e2e_set(kpsa);
	p11c_check(ok, "%d rounds of fetchCredentials and an E2E key set",
	    ROUNDS);
	snapshot(&after);
	p11c_check(same(&before, &after), "no file of the store or of "
	    "SoftHSM2 written by session-object derivations");
	P11C_MUST(F->C_DestroyObject(S, ke));
	P11C_MUST(F->C_DestroyObject(S, kpsa));
}

int
main(int argc, char **argv)
{
	p11c_load(argc, argv);
	/* the token first, then the module again with delivery on */
	S = p11c_setup(TOKEN, &SLOT);
	P11C_MUST(F->C_Finalize(NULL));
	p11c_conf_append("\n[token]\ndeliver_derived = yes\n");
	P11C_MUST(F->C_Initialize(NULL));
	S = p11c_user_session(SLOT);
	test_no_writes();
	P11C_MUST(F->C_Finalize(NULL));
	return p11c_finish();
}
