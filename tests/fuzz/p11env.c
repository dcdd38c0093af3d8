/* tests/fuzz: the module over the fake backend.  See p11env.h. */
#define _GNU_SOURCE	/* nftw */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "core.h"
#include "fake_backend.h"
#include "p11env.h"

#define SO_PIN	"fuzz-so-123456"

static struct fuzz_p11 env;
static int env_ready;
static char env_dir[256];

int	__wrap_m2m_core_open(struct m2m_conf *conf, struct m2m_core **ret,
	    char *errbuf, size_t errlen);

/* m2m_core_open of pkcs11/p11.c's C_Initialize, on the fake backend. */
int
__wrap_m2m_core_open(struct m2m_conf *conf, struct m2m_core **ret,
    char *errbuf, size_t errlen)
{
	return m2m_core_open_ops(conf, &m2m_fake_backend_ops, ret, errbuf,
	    errlen);
}

static void
must(CK_RV rv, const char *what)
{
	if (rv != CKR_OK) {
		fprintf(stderr, "fuzz p11env: %s: CKR 0x%lx\n", what, rv);
		abort();
	}
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
env_cleanup(void)
{
	if (env_ready && env.f != NULL)
		(void)env.f->C_Finalize(NULL);
	if (env_dir[0] != '\0')
		(void)nftw(env_dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* A token object: class secret key, type kt, role (0: none), label. */
static CK_OBJECT_HANDLE
import(CK_ULONG role, CK_KEY_TYPE kt, const char *label, CK_BBOOL uses)
{
	static const uint8_t val[32] = {
		0x0b, 0xad, 0xc0, 0xde, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
		12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26,
		27, 28
	};
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE t[12];
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_ULONG n = 0;

	t[n++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof(cls) };
	t[n++] = (CK_ATTRIBUTE){ CKA_KEY_TYPE, &kt, sizeof(kt) };
	t[n++] = (CK_ATTRIBUTE){ CKA_TOKEN, &yes, sizeof(yes) };
	t[n++] = (CK_ATTRIBUTE){ CKA_VALUE, (void *)val, sizeof(val) };
	t[n++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label, strlen(label) };
	if (role != 0)
		t[n++] = (CK_ATTRIBUTE){ CKA_M2M_ROLE, &role, sizeof(role) };
	if (uses) {
		t[n++] = (CK_ATTRIBUTE){ CKA_SIGN, &yes, sizeof(yes) };
		t[n++] = (CK_ATTRIBUTE){ CKA_VERIFY, &yes, sizeof(yes) };
		t[n++] = (CK_ATTRIBUTE){ CKA_DERIVE, &yes, sizeof(yes) };
		t[n++] = (CK_ATTRIBUTE){ CKA_ENCRYPT, &yes, sizeof(yes) };
		t[n++] = (CK_ATTRIBUTE){ CKA_DECRYPT, &yes, sizeof(yes) };
	}
	must(env.f->C_CreateObject(env.login, t, n, &h), label);
	return h;
}

static void
setup(void)
{
	const char *tmp = getenv("TMPDIR");
	char conf[512], store[512];
	CK_UTF8CHAR lab[32];
	CK_SESSION_HANDLE so;
	CK_MECHANISM m = { CKM_M2M_E2E_MASTER_SHA256, NULL, 0 };
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE tok = { CKA_TOKEN, &yes, sizeof(yes) };
	CK_SLOT_ID slots[8];
	CK_ULONG ns = 8;
	FILE *fp;

	if (tmp == NULL || *tmp == '\0')
		tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(env_dir, sizeof(env_dir), "%s/m2m-fuzz-XXXXXX", tmp);
	if (mkdtemp(env_dir) == NULL) {
		perror("fuzz p11env: mkdtemp");
		abort();
	}
	atexit(env_cleanup);
	snprintf(conf, sizeof(conf), "%s/m2mtoken.conf", env_dir);
	snprintf(store, sizeof(store), "%s/store.db", env_dir);
	/* [hsm] is required by the parser; the fake backend ignores it */
	if ((fp = fopen(conf, "w")) == NULL) {
		perror("fuzz p11env: conf");
		abort();
	}
	fprintf(fp, "[store]\npath = %s\n[backend]\ntype = hsm\n"
	    "[hsm]\nmodule = /nonexistent.so\ntoken_label = fuzz\n"
	    "pin = 0000\n", store);
	fclose(fp);
	setenv("M2MTOKEN_CONF", conf, 1);

	must(C_GetFunctionList(&env.f), "C_GetFunctionList");
	must(env.f->C_Initialize(NULL), "C_Initialize");
	env_ready = 1;
	must(env.f->C_GetSlotList(CK_FALSE, slots, &ns), "C_GetSlotList");
	if (ns == 0)
		abort();
	env.slot = slots[ns - 1];
	memset(lab, ' ', sizeof(lab));
	memcpy(lab, "fuzz", 4);
	must(env.f->C_InitToken(env.slot, (CK_UTF8CHAR_PTR)SO_PIN,
	    strlen(SO_PIN), lab), "C_InitToken");
	must(env.f->C_OpenSession(env.slot, CKF_SERIAL_SESSION |
	    CKF_RW_SESSION, NULL, NULL, &so), "C_OpenSession");
	must(env.f->C_Login(so, CKU_SO, (CK_UTF8CHAR_PTR)SO_PIN,
	    strlen(SO_PIN)), "C_Login(SO)");
	must(env.f->C_InitPIN(so, (CK_UTF8CHAR_PTR)FUZZ_USER_PIN,
	    strlen(FUZZ_USER_PIN)), "C_InitPIN");
	must(env.f->C_Logout(so), "C_Logout");
	must(env.f->C_CloseSession(so), "C_CloseSession");
	must(env.f->C_OpenSession(env.slot, CKF_SERIAL_SESSION |
	    CKF_RW_SESSION, NULL, NULL, &env.login), "C_OpenSession");
	must(env.f->C_Login(env.login, CKU_USER,
	    (CK_UTF8CHAR_PTR)FUZZ_USER_PIN, strlen(FUZZ_USER_PIN)),
	    "C_Login(user)");

	env.keys[FUZZ_KEY_KE] = import(CK_M2M_ROLE_KE, CKK_GENERIC_SECRET,
	    FUZZ_KE_LABEL, CK_FALSE);
	env.keys[FUZZ_KEY_KPSA] = import(CK_M2M_ROLE_KPSA,
	    CKK_GENERIC_SECRET, FUZZ_KPSA_LABEL, CK_FALSE);
	env.keys[FUZZ_KEY_KPM] = import(CK_M2M_ROLE_KPM, CKK_GENERIC_SECRET,
	    FUZZ_KPM_LABEL, CK_FALSE);
	must(env.f->C_DeriveKey(env.login, &m, env.keys[FUZZ_KEY_KPSA], &tok,
	    1, &env.keys[FUZZ_KEY_E2E_MASTER]), "derive E2E master");
	env.keys[FUZZ_KEY_MSG_AUTH] = import(CK_M2M_ROLE_KE2E_MSG_AUTH,
	    CKK_GENERIC_SECRET, "msg-auth-fuzz", CK_FALSE);
	env.keys[FUZZ_KEY_MSG_CONF] = import(CK_M2M_ROLE_KE2E_MSG_CONF,
	    CKK_AES, "msg-conf-fuzz", CK_FALSE);
	env.keys[FUZZ_KEY_GENERIC] = import(0, CKK_GENERIC_SECRET,
	    "generic-fuzz", CK_TRUE);
	env.keys[FUZZ_KEY_AES] = import(0, CKK_AES, "aes-fuzz", CK_TRUE);
}

/* see p11env.h */
const struct fuzz_p11 *
fuzz_p11_get(void)
{
	if (!env_ready)
		setup();
	return &env;
}

/* see p11env.h */
int
fuzz_p11_is_base(CK_OBJECT_HANDLE h)
{
	size_t i;

	for (i = 0; i < FUZZ_KEY_COUNT; i++)
		if (env.keys[i] == h)
			return 1;
	return 0;
}
