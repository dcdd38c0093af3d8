/* Shared helpers of the benchmark programs.  See bench.h. */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

#define SO_PIN		"bench-so-pin"
#define USER_PIN	"bench-user-pin"

static const struct {
	CK_RV		 rv;
	const char	*name;
} names[] = {
	{ CKR_OK, "CKR_OK" },
	{ CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR" },
	{ CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD" },
	{ CKR_ATTRIBUTE_VALUE_INVALID, "CKR_ATTRIBUTE_VALUE_INVALID" },
	{ CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR" },
	{ CKR_DEVICE_MEMORY, "CKR_DEVICE_MEMORY" },
	{ CKR_KEY_FUNCTION_NOT_PERMITTED, "CKR_KEY_FUNCTION_NOT_PERMITTED" },
	{ CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID" },
	{ CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT" },
	{ CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID" },
	{ CKR_TEMPLATE_INCOMPLETE, "CKR_TEMPLATE_INCOMPLETE" },
	{ CKR_TEMPLATE_INCONSISTENT, "CKR_TEMPLATE_INCONSISTENT" },
	{ CKR_TOKEN_NOT_RECOGNIZED, "CKR_TOKEN_NOT_RECOGNIZED" },
	{ CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN" },
	{ CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED" },
};

/* see bench.h */
const char *
bench_ckr(CK_RV rv)
{
	static char buf[24];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].rv == rv)
			return names[i].name;
	snprintf(buf, sizeof(buf), "CKR_0x%08lx", (unsigned long)rv);
	return buf;
}

/* see bench.h */
void
bench_die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

/* see bench.h */
void
bench_ck(CK_RV rv, const char *what)
{
	if (rv != CKR_OK)
		bench_die("%s: %s", what, bench_ckr(rv));
}

/* see bench.h */
double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* see bench.h */
double
bench_median(double *v, size_t n)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* see bench.h */
double
bench_percentile(const double *v, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

/* see bench.h */
void
bench_load(const char *path, struct bench_mod *m)
{
	CK_C_GetFunctionList getfl;
	CK_C_INITIALIZE_ARGS ia;
	CK_RV rv;

	memset(m, 0, sizeof(*m));
	if (path == NULL || *path == '\0')
		bench_die("no module path (set M2MTOKEN_MODULE)");
	m->path = path;
	if ((m->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL)
		bench_die("cannot load %s: %s", path, dlerror());
	*(void **)&getfl = dlsym(m->dl, "C_GetFunctionList");
	if (getfl == NULL || getfl(&m->f) != CKR_OK)
		bench_die("%s: no C_GetFunctionList", path);
	memset(&ia, 0, sizeof(ia));
	ia.flags = CKF_OS_LOCKING_OK;
	rv = m->f->C_Initialize(&ia);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
		bench_die("%s: C_Initialize: %s", path, bench_ckr(rv));
	m->finalize = rv == CKR_OK;
}

/* see bench.h */
void
bench_init(struct bench_mod *m)
{
	CK_C_INITIALIZE_ARGS ia;

	memset(&ia, 0, sizeof(ia));
	ia.flags = CKF_OS_LOCKING_OK;
	bench_ck(m->f->C_Initialize(&ia), "C_Initialize");
}

/* see bench.h */
void
bench_load_final(const char *path, struct bench_mod *m)
{
	bench_load(path, m);
	bench_ck(m->f->C_Finalize(NULL), "C_Finalize");
	m->finalize = 0;
}

/* see bench.h */
void
bench_unload(struct bench_mod *m)
{
	if (m->f != NULL && m->finalize)
		(void)m->f->C_Finalize(NULL);
	if (m->dl != NULL)
		dlclose(m->dl);
	memset(m, 0, sizeof(*m));
}

/* The first slot whose token is (not) initialised, and (if label) has it. */
static int
find_slot(struct bench_mod *m, int initialized, const char *label,
    CK_SLOT_ID *ret)
{
	CK_SLOT_ID *slots;
	CK_TOKEN_INFO ti;
	CK_ULONG n = 0, i;
	size_t ll = label ? strlen(label) : 0;
	int found = 0;

	bench_ck(m->f->C_GetSlotList(CK_TRUE, NULL, &n), "C_GetSlotList");
	if ((slots = calloc(n + 1, sizeof(*slots))) == NULL)
		bench_die("out of memory");
	bench_ck(m->f->C_GetSlotList(CK_TRUE, slots, &n), "C_GetSlotList");
	for (i = 0; i < n && !found; i++) {
		if (m->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		if (((ti.flags & CKF_TOKEN_INITIALIZED) != 0) != initialized)
			continue;
		if (label != NULL && (ll > sizeof(ti.label) ||
		    memcmp(ti.label, label, ll) != 0 ||
		    (ll < sizeof(ti.label) && ti.label[ll] != ' ')))
			continue;
		*ret = slots[i];
		found = 1;
	}
	free(slots);
	return found;
}

/* see bench.h */
CK_SLOT_ID
bench_slot(struct bench_mod *m, const char *label)
{
	CK_SLOT_ID slot;

	if (!find_slot(m, 1, label, &slot))
		bench_die("%s: no token labelled %s", m->path, label);
	return slot;
}

/* see bench.h */
void
bench_login(struct bench_mod *m, CK_SLOT_ID slot, const char *pin,
    const char *who, CK_SESSION_HANDLE *ret_sess)
{
	CK_SESSION_HANDLE s;
	CK_RV rv;

	rv = m->f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
	    NULL, NULL, &s);
	if (rv != CKR_OK)
		bench_die("%s C_OpenSession: %s", who, bench_ckr(rv));
	rv = m->f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
		bench_die("%s C_Login: %s", who, bench_ckr(rv));
	*ret_sess = s;
}

/* see bench.h */
void
bench_m2m_login(struct bench_mod *m, CK_SLOT_ID slot,
    CK_SESSION_HANDLE *ret_sess)
{
	bench_login(m, slot, USER_PIN, "m2mtoken", ret_sess);
}

/* see bench.h */
void
bench_m2m_token(struct bench_mod *m, const char *label, CK_SLOT_ID *ret_slot,
    CK_SESSION_HANDLE *ret_sess)
{
	CK_UTF8CHAR lab[32];
	CK_SESSION_HANDLE s;
	CK_SLOT_ID slot;

	if (strlen(label) > sizeof(lab))
		bench_die("token label too long: %s", label);
	if (!find_slot(m, 0, NULL, &slot))
		bench_die("m2mtoken offers no free slot");
	memset(lab, ' ', sizeof(lab));
	memcpy(lab, label, strlen(label));
	bench_ck(m->f->C_InitToken(slot, (CK_UTF8CHAR_PTR)SO_PIN,
	    strlen(SO_PIN), lab), "m2mtoken C_InitToken");
	if (!find_slot(m, 1, label, &slot))
		bench_die("the new m2mtoken token %s is not listed", label);
	bench_ck(m->f->C_OpenSession(slot, CKF_SERIAL_SESSION |
	    CKF_RW_SESSION, NULL, NULL, &s), "m2mtoken C_OpenSession");
	bench_ck(m->f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)SO_PIN,
	    strlen(SO_PIN)), "m2mtoken C_Login(SO)");
	bench_ck(m->f->C_InitPIN(s, (CK_UTF8CHAR_PTR)USER_PIN,
	    strlen(USER_PIN)), "m2mtoken C_InitPIN");
	bench_ck(m->f->C_Logout(s), "m2mtoken C_Logout");
	bench_ck(m->f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN,
	    strlen(USER_PIN)), "m2mtoken C_Login(user)");
	*ret_slot = slot;
	*ret_sess = s;
}

/* see bench.h */
void
bench_softhsm_session(struct bench_mod *m, CK_SESSION_HANDLE *ret)
{
	const char *label = getenv("BENCH_SOFTHSM_TOKEN");
	const char *pin = getenv("BENCH_SOFTHSM_PIN");
	CK_SLOT_ID slot;

	if (label == NULL || *label == '\0')
		label = "bench-direct";
	if (pin == NULL || *pin == '\0')
		pin = "1234";
	if (!find_slot(m, 1, label, &slot))
		bench_die("SoftHSM2 has no token labelled %s (bench/run makes "
		    "one)", label);
	bench_login(m, slot, pin, "SoftHSM2", ret);
}

/* see bench.h */
CK_RV
bench_secret(struct bench_mod *m, CK_SESSION_HANDLE s, CK_KEY_TYPE kt,
    CK_ULONG role, int token, const char *label, const CK_BYTE *value,
    CK_ULONG len, CK_OBJECT_HANDLE *ret)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_BBOOL tok = token ? CK_TRUE : CK_FALSE, yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE t[10];
	CK_ULONG n = 0;

	t[n].type = CKA_CLASS;
	t[n].pValue = &cls;
	t[n++].ulValueLen = sizeof(cls);
	t[n].type = CKA_KEY_TYPE;
	t[n].pValue = &kt;
	t[n++].ulValueLen = sizeof(kt);
	t[n].type = CKA_TOKEN;
	t[n].pValue = &tok;
	t[n++].ulValueLen = sizeof(tok);
	t[n].type = CKA_VALUE;
	t[n].pValue = (void *)value;
	t[n++].ulValueLen = len;
	if (label != NULL) {
		t[n].type = CKA_LABEL;
		t[n].pValue = (void *)label;
		t[n++].ulValueLen = strlen(label);
	}
	if (role != 0) {
		t[n].type = CKA_M2M_ROLE;
		t[n].pValue = &role;
		t[n++].ulValueLen = sizeof(role);
	} else {
		t[n].type = CKA_SIGN;
		t[n].pValue = &yes;
		t[n++].ulValueLen = sizeof(yes);
		t[n].type = CKA_VERIFY;
		t[n].pValue = &yes;
		t[n++].ulValueLen = sizeof(yes);
		/*
		 * A baseline key in SoftHSM2: what hsm/ makes of a cached key
		 * (sensitive, public: hsm_key.c, m2m_hsm_unwrap), so that both sides pay
		 * SoftHSM2 the same per HMAC.
		 */
		t[n].type = CKA_SENSITIVE;
		t[n].pValue = &yes;
		t[n++].ulValueLen = sizeof(yes);
		t[n].type = CKA_PRIVATE;
		t[n].pValue = &no;
		t[n++].ulValueLen = sizeof(no);
	}
	return m->f->C_CreateObject(s, t, n, ret);
}

/* see bench.h */
CK_RV
bench_hmac(struct bench_mod *m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key,
    const CK_BYTE *msg, CK_ULONG len, CK_BYTE *mac)
{
	CK_MECHANISM mech = { CKM_SHA256_HMAC, NULL, 0 };
	CK_ULONG maclen = 32;
	CK_RV rv;

	if ((rv = m->f->C_SignInit(s, &mech, key)) != CKR_OK)
		return rv;
	return m->f->C_Sign(s, (CK_BYTE_PTR)msg, len, mac, &maclen);
}

/* see bench.h */
const char *
bench_env(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : def;
}

/* see bench.h */
int
bench_swtpm(const char **ret_dir)
{
	const char *dir, *p;
	int port;

	if ((dir = getenv("BENCH_TPM_DIR")) == NULL || *dir == '\0')
		bench_die("BENCH_TPM_DIR is not set (bench/run sets it)");
	if ((p = getenv("BENCH_SWTPM_PORT")) == NULL ||
	    (port = (int)strtol(p, NULL, 10)) <= 0 || port > 65534)
		bench_die("BENCH_SWTPM_PORT is not set (bench/run sets it)");
	*ret_dir = dir;
	return port;
}

/* see bench.h */
void
bench_tpm_conf(const char *path, const char *store, int port,
    const char *mode)
{
	FILE *fp;

	if ((fp = fopen(path, "w")) == NULL)
		bench_die("%s: %s", path, strerror(errno));
	fprintf(fp, "[store]\npath = %s\n\n[backend]\ntype = tpm\n\n"
	    "[tpm]\ntcti = swtpm:host=127.0.0.1,port=%d\nmode = %s\n", store,
	    port, mode);
	if (fclose(fp) != 0)
		bench_die("%s: %s", path, strerror(errno));
}

/* see bench.h */
void
bench_random(void *buf, size_t n)
{
	FILE *fp = fopen("/dev/urandom", "rb");

	if (fp == NULL || fread(buf, 1, n, fp) != n)
		bench_die("/dev/urandom: %s", strerror(errno));
	fclose(fp);
}

/* see bench.h */
const char *
bench_count(double v, char *buf, size_t len)
{
	char digits[32];
	size_t nd, i, o = 0;

	snprintf(digits, sizeof(digits), "%.0f", v < 0 ? 0 : v);
	nd = strlen(digits);
	for (i = 0; i < nd && o + 2 < len; i++) {
		if (i != 0 && (nd - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
	return buf;
}

/* see bench.h */
void
bench_opts(int quick, struct bench_opts *o)
{
	const char *e;

	o->quick = quick;
	o->seconds = quick ? 0.3 : 1.0;
	o->rounds = quick ? 3 : 5;
	if ((e = getenv("BENCH_SECONDS")) != NULL && *e != '\0')
		o->seconds = strtod(e, NULL);
	if ((e = getenv("BENCH_ROUNDS")) != NULL && *e != '\0')
		o->rounds = (int)strtol(e, NULL, 10);
	if (o->seconds <= 0)
		o->seconds = 1.0;
	if (o->rounds < 1)
		o->rounds = 1;
}

/* see bench.h */
int
bench_quick_arg(int argc, char **argv)
{
	if (argc == 1)
		return 0;
	if (argc == 2 && strcmp(argv[1], "--quick") == 0)
		return 1;
	fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
	exit(2);
}
