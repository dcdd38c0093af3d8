/*
 * p11client.h: shared helper of the integration clients p11_*.c.
 *
 * Header-only on purpose: tests/integration/CMakeLists.txt builds every *.c
 * of this folder as a program of its own, so the helper cannot be a .c file.
 * Every function is static; each client is one translation unit.
 *
 * A client uses ONLY the public PKCS#11 API: it dlopen()s $M2MTOKEN_MODULE
 * and calls C_GetFunctionList; no internal header, no test library.
 *
 * Output: one line per check, "ok - <what>" or "not ok - <what>: got X,
 * want Y"; p11c_finish() prints a summary and gives the exit status (0 only
 * when every check passed).  Setup steps that must work use P11C_MUST: a
 * failure there ends the client at once ("Bail out!").
 */
#ifndef M2M_P11CLIENT_H
#define M2M_P11CLIENT_H

#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <m2mtoken/pkcs11-m2m.h>

#define P11C_SO_PIN	"so-pin-5678"
#define P11C_USER_PIN	"user-pin-1234"
#define P11C_MAX_OBJS	4096

static CK_FUNCTION_LIST_PTR F;		/* the module's v2.40 list */
static void *p11c_dl;
static const char *p11c_backend = "hsm";
static unsigned int p11c_nchecks, p11c_nfailed;

static const struct {
	CK_RV		 rv;
	const char	*name;
} p11c_rvnames[] = {
#define P11C_RV(x)	{ x, #x }
	P11C_RV(CKR_OK), P11C_RV(CKR_HOST_MEMORY),
	P11C_RV(CKR_SLOT_ID_INVALID), P11C_RV(CKR_GENERAL_ERROR),
	P11C_RV(CKR_FUNCTION_FAILED), P11C_RV(CKR_ARGUMENTS_BAD),
	P11C_RV(CKR_CANT_LOCK), P11C_RV(CKR_ATTRIBUTE_READ_ONLY),
	P11C_RV(CKR_ATTRIBUTE_SENSITIVE), P11C_RV(CKR_ATTRIBUTE_TYPE_INVALID),
	P11C_RV(CKR_ATTRIBUTE_VALUE_INVALID), P11C_RV(CKR_ACTION_PROHIBITED),
	P11C_RV(CKR_DATA_INVALID), P11C_RV(CKR_DATA_LEN_RANGE),
	P11C_RV(CKR_DEVICE_ERROR), P11C_RV(CKR_DEVICE_MEMORY),
	P11C_RV(CKR_ENCRYPTED_DATA_INVALID),
	P11C_RV(CKR_ENCRYPTED_DATA_LEN_RANGE),
	P11C_RV(CKR_FUNCTION_NOT_SUPPORTED),
	P11C_RV(CKR_KEY_HANDLE_INVALID), P11C_RV(CKR_KEY_SIZE_RANGE),
	P11C_RV(CKR_KEY_TYPE_INCONSISTENT),
	P11C_RV(CKR_KEY_FUNCTION_NOT_PERMITTED),
	P11C_RV(CKR_KEY_UNEXTRACTABLE), P11C_RV(CKR_KEY_INDIGESTIBLE),
	P11C_RV(CKR_MECHANISM_INVALID), P11C_RV(CKR_MECHANISM_PARAM_INVALID),
	P11C_RV(CKR_OBJECT_HANDLE_INVALID), P11C_RV(CKR_OPERATION_ACTIVE),
	P11C_RV(CKR_OPERATION_NOT_INITIALIZED), P11C_RV(CKR_PIN_INCORRECT),
	P11C_RV(CKR_PIN_INVALID), P11C_RV(CKR_PIN_LEN_RANGE),
	P11C_RV(CKR_PIN_LOCKED), P11C_RV(CKR_SESSION_COUNT),
	P11C_RV(CKR_SESSION_HANDLE_INVALID),
	P11C_RV(CKR_SESSION_PARALLEL_NOT_SUPPORTED),
	P11C_RV(CKR_SESSION_READ_ONLY), P11C_RV(CKR_SESSION_EXISTS),
	P11C_RV(CKR_SESSION_READ_ONLY_EXISTS),
	P11C_RV(CKR_SESSION_READ_WRITE_SO_EXISTS),
	P11C_RV(CKR_SIGNATURE_INVALID), P11C_RV(CKR_SIGNATURE_LEN_RANGE),
	P11C_RV(CKR_TEMPLATE_INCOMPLETE), P11C_RV(CKR_TEMPLATE_INCONSISTENT),
	P11C_RV(CKR_TOKEN_NOT_PRESENT), P11C_RV(CKR_TOKEN_NOT_RECOGNIZED),
	P11C_RV(CKR_TOKEN_WRITE_PROTECTED), P11C_RV(CKR_USER_ALREADY_LOGGED_IN),
	P11C_RV(CKR_USER_NOT_LOGGED_IN), P11C_RV(CKR_USER_PIN_NOT_INITIALIZED),
	P11C_RV(CKR_USER_TYPE_INVALID),
	P11C_RV(CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
	P11C_RV(CKR_BUFFER_TOO_SMALL), P11C_RV(CKR_SAVED_STATE_INVALID),
	P11C_RV(CKR_STATE_UNSAVEABLE), P11C_RV(CKR_RANDOM_SEED_NOT_SUPPORTED),
	P11C_RV(CKR_CRYPTOKI_NOT_INITIALIZED),
	P11C_RV(CKR_CRYPTOKI_ALREADY_INITIALIZED),
	P11C_RV(CKR_FUNCTION_NOT_PARALLEL), P11C_RV(CKR_CURVE_NOT_SUPPORTED),
#undef P11C_RV
};

static inline const char *
p11c_rvname(CK_RV rv)
{
	static __thread char buf[32];
	size_t i;

	for (i = 0; i < sizeof(p11c_rvnames) / sizeof(p11c_rvnames[0]); i++)
		if (p11c_rvnames[i].rv == rv)
			return p11c_rvnames[i].name;
	snprintf(buf, sizeof(buf), "CKR_0x%lx", (unsigned long)rv);
	return buf;
}

static inline void
p11c_vline(int ok, const char *detail, const char *fmt, va_list ap)
{
	char what[512];

	vsnprintf(what, sizeof(what), fmt, ap);
	__atomic_add_fetch(&p11c_nchecks, 1, __ATOMIC_RELAXED);
	if (!ok)
		__atomic_add_fetch(&p11c_nfailed, 1, __ATOMIC_RELAXED);
	/* one write per line: threads do not interleave */
	printf("%s - [%s] %s%s%s\n", ok ? "ok" : "not ok", p11c_backend, what,
	    detail[0] ? ": " : "", detail);
	fflush(stdout);
}

/* One check: prints the line, returns cond. */
static inline int __attribute__((format(printf, 2, 3)))
p11c_check(int cond, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	p11c_vline(cond, "", fmt, ap);
	va_end(ap);
	return cond;
}

/* One check of an exact CK_RV: prints the line, returns got == want. */
static inline int __attribute__((format(printf, 3, 4)))
p11c_check_rv(CK_RV got, CK_RV want, const char *fmt, ...)
{
	char detail[128];
	va_list ap;

	if (got == want)
		snprintf(detail, sizeof(detail), "%s", p11c_rvname(got));
	else
		snprintf(detail, sizeof(detail), "got %s, want %s",
		    p11c_rvname(got), p11c_rvname(want));
	va_start(ap, fmt);
	p11c_vline(got == want, detail, fmt, ap);
	va_end(ap);
	return got == want;
}

/*
 * A check of a known module deviation, reported and not yet fixed: printed
 * like any check with "# TODO <why>" (TAP), never counted as a failure, so
 * that the line turns up in the logs until the module is fixed.
 */
static inline int __attribute__((format(printf, 4, 5)))
p11c_todo_rv(CK_RV got, CK_RV want, const char *why, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	printf("%s - [%s] %s: got %s, want %s # TODO %s\n",
	    got == want ? "ok" : "not ok", p11c_backend, what,
	    p11c_rvname(got), p11c_rvname(want), why);
	fflush(stdout);
	return got == want;
}

/* p11c_todo_rv for a condition. */
static inline int __attribute__((format(printf, 3, 4)))
p11c_todo(int cond, const char *why, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	printf("%s - [%s] %s # TODO %s\n", cond ? "ok" : "not ok",
	    p11c_backend, what, why);
	fflush(stdout);
	return cond;
}

#define CHECK(cond, ...)		p11c_check(!!(cond), __VA_ARGS__)
#define CHECK_RV(expr, want, ...) \
	p11c_check_rv((expr), (want), __VA_ARGS__)

/* A note that is not a check (cmocka/TAP style comment). */
static inline void __attribute__((format(printf, 1, 2)))
p11c_note(const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	printf("# [%s] %s\n", p11c_backend, what);
	fflush(stdout);
}

static inline void __attribute__((noreturn, format(printf, 1, 2)))
p11c_bail(const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	printf("Bail out! [%s] %s\n", p11c_backend, what);
	fflush(stdout);
	exit(2);
}

/*
 * The module's configuration plus text, for the next C_Initialize: a copy
 * of $M2MTOKEN_CONF with text appended, named by M2MTOKEN_CONF from now
 * on.  In client mode the module's configuration is the daemon's, read
 * again by the worker of each new connection: text goes into that file.
 */
static inline void
p11c_conf_append(const char *text)
{
	static char path[4096];
	const char *orig = getenv("M2MTOKEN_CONF");
	FILE *in, *out;
	char buf[4096];
	size_t n;

	if (orig == NULL)
		p11c_bail("M2MTOKEN_CONF is not set");
	if (getenv("M2MTOKEN_DAEMON_SOCKET") != NULL) {
		if ((out = fopen(orig, "a")) == NULL)
			p11c_bail("cannot append to %s", orig);
		fputs(text, out);
		if (fclose(out) != 0)
			p11c_bail("cannot write %s", orig);
		return;
	}
	snprintf(path, sizeof(path), "%s.more", orig);
	if ((in = fopen(orig, "r")) == NULL || (out = fopen(path, "w")) ==
	    NULL)
		p11c_bail("cannot copy %s", orig);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, n, out);
	fputs(text, out);
	fclose(in);
	if (fclose(out) != 0)
		p11c_bail("cannot write %s", path);
	setenv("M2MTOKEN_CONF", path, 1);
}

/* A setup step that must return CKR_OK, or the client stops. */
#define P11C_MUST(expr) do {						\
	CK_RV p11c_rv_ = (expr);					\
	if (p11c_rv_ != CKR_OK)						\
		p11c_bail("%s:%d: %s: %s", __FILE__, __LINE__, #expr,	\
		    p11c_rvname(p11c_rv_));				\
} while (0)

/*
 * Load the module named by $M2MTOKEN_MODULE and take its v2.40 function
 * list; argv[1] is the backend name (hsm | tpm).  Does not C_Initialize.
 */
static inline void
p11c_load(int argc, char **argv)
{
	CK_C_GetFunctionList gfl;
	const char *path = getenv("M2MTOKEN_MODULE");

	if (argc > 1 && argv[1] != NULL)
		p11c_backend = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (path == NULL)
		p11c_bail("M2MTOKEN_MODULE is not set");
	if ((p11c_dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL)
		p11c_bail("dlopen %s: %s", path, dlerror());
	*(void **)&gfl = dlsym(p11c_dl, "C_GetFunctionList");
	if (gfl == NULL)
		p11c_bail("no C_GetFunctionList in %s", path);
	P11C_MUST(gfl(&F));
}

/* Summary line; the exit status of the client. */
static inline int
p11c_finish(void)
{
	printf("# [%s] %u checks, %u failed\n", p11c_backend, p11c_nchecks,
	    p11c_nfailed);
	fflush(stdout);
	return p11c_nfailed == 0 && p11c_nchecks > 0 ? 0 : 1;
}

/* ------------------------------------------------------------------ */
/* bytes                                                               */
/* ------------------------------------------------------------------ */

/* Parse hex (blanks allowed) into out; returns the byte count. */
static inline size_t
p11c_unhex(const char *hex, uint8_t *out, size_t max)
{
	size_t n = 0;
	int hi = -1, v;

	for (; *hex != '\0'; hex++) {
		if (*hex >= '0' && *hex <= '9')
			v = *hex - '0';
		else if (*hex >= 'a' && *hex <= 'f')
			v = *hex - 'a' + 10;
		else if (*hex >= 'A' && *hex <= 'F')
			v = *hex - 'A' + 10;
		else
			continue;
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (n == max)
			p11c_bail("hex constant longer than %zu bytes", max);
		out[n++] = (uint8_t)(hi << 4 | v);
		hi = -1;
	}
	if (hi >= 0)
		p11c_bail("odd hex constant");
	return n;
}

/* Lower-case hex of in into out (2 * n + 1 bytes). */
static inline void
p11c_tohex(const uint8_t *in, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = d[in[i] >> 4];
		out[2 * i + 1] = d[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* ------------------------------------------------------------------ */
/* slots, tokens, sessions                                             */
/* ------------------------------------------------------------------ */

/* The slot of the uninitialised token (the module always offers one). */
static inline CK_SLOT_ID
p11c_free_slot(void)
{
	CK_SLOT_ID slots[128];
	CK_ULONG n = 128, i;
	CK_TOKEN_INFO ti;

	P11C_MUST(F->C_GetSlotList(CK_FALSE, slots, &n));
	for (i = n; i-- > 0;) {
		P11C_MUST(F->C_GetTokenInfo(slots[i], &ti));
		if ((ti.flags & CKF_TOKEN_INITIALIZED) == 0)
			return slots[i];
	}
	p11c_bail("no free slot");
}

/* 32-byte blank-padded token label. */
static inline void
p11c_pad32(const char *label, CK_UTF8CHAR out[32])
{
	size_t l = strlen(label);

	memset(out, ' ', 32);
	memcpy(out, label, l < 32 ? l : 32);
}

/* The slot of the initialised token labelled label (bails when none). */
static inline CK_SLOT_ID
p11c_token_slot(const char *label)
{
	CK_SLOT_ID slots[128];
	CK_ULONG n = 128, i;
	CK_TOKEN_INFO ti;
	CK_UTF8CHAR lab[32];

	p11c_pad32(label, lab);
	P11C_MUST(F->C_GetSlotList(CK_TRUE, slots, &n));
	for (i = 0; i < n; i++) {
		P11C_MUST(F->C_GetTokenInfo(slots[i], &ti));
		if ((ti.flags & CKF_TOKEN_INITIALIZED) &&
		    memcmp(ti.label, lab, 32) == 0)
			return slots[i];
	}
	p11c_bail("no token labelled %s (%lu slots)", label,
	    (unsigned long)n);
}

/*
 * A new token in the free slot: C_InitToken (P11C_SO_PIN) then C_InitPIN
 * (P11C_USER_PIN) in a temporary SO session; returns its slot.
 */
static inline CK_SLOT_ID
p11c_new_token(const char *label)
{
	CK_UTF8CHAR lab[32];
	CK_SESSION_HANDLE s;
	CK_SLOT_ID slot = p11c_free_slot();

	p11c_pad32(label, lab);
	P11C_MUST(F->C_InitToken(slot, (CK_UTF8CHAR_PTR)P11C_SO_PIN,
	    strlen(P11C_SO_PIN), lab));
	P11C_MUST(F->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
	    NULL, NULL, &s));
	P11C_MUST(F->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)P11C_SO_PIN,
	    strlen(P11C_SO_PIN)));
	P11C_MUST(F->C_InitPIN(s, (CK_UTF8CHAR_PTR)P11C_USER_PIN,
	    strlen(P11C_USER_PIN)));
	P11C_MUST(F->C_Logout(s));
	P11C_MUST(F->C_CloseSession(s));
	return slot;
}

/* A read-write session on slot with the user logged in. */
static inline CK_SESSION_HANDLE
p11c_user_session(CK_SLOT_ID slot)
{
	CK_SESSION_HANDLE s;
	CK_RV rv;

	P11C_MUST(F->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
	    NULL, NULL, &s));
	rv = F->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)P11C_USER_PIN,
	    strlen(P11C_USER_PIN));
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
		p11c_bail("C_Login(user): %s", p11c_rvname(rv));
	return s;
}

/* C_Initialize(NULL args) + a new token + a user session. */
static inline CK_SESSION_HANDLE
p11c_setup(const char *label, CK_SLOT_ID *ret_slot)
{
	CK_SLOT_ID slot;

	P11C_MUST(F->C_Initialize(NULL));
	slot = p11c_new_token(label);
	if (ret_slot != NULL)
		*ret_slot = slot;
	return p11c_user_session(slot);
}

/* ------------------------------------------------------------------ */
/* objects                                                             */
/* ------------------------------------------------------------------ */

/* Handles matching tmpl (all visible objects for n == 0); count only. */
static inline CK_ULONG
p11c_find(CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n,
    CK_OBJECT_HANDLE *out, CK_ULONG max)
{
	CK_OBJECT_HANDLE h[64];
	CK_ULONG got, total = 0, i;

	P11C_MUST(F->C_FindObjectsInit(s, tmpl, n));
	do {
		P11C_MUST(F->C_FindObjects(s, h, 64, &got));
		for (i = 0; i < got; i++, total++)
			if (out != NULL && total < max)
				out[total] = h[i];
	} while (got != 0);
	P11C_MUST(F->C_FindObjectsFinal(s));
	return total;
}

/* Number of objects the session sees. */
static inline CK_ULONG
p11c_count(CK_SESSION_HANDLE s)
{
	return p11c_find(s, NULL, 0, NULL, 0);
}

/* Number of objects with this CKA_LABEL (and role, unless role == ~0). */
static inline CK_ULONG
p11c_count_label(CK_SESSION_HANDLE s, const char *label, CK_ULONG role,
    CK_OBJECT_HANDLE *ret_first)
{
	CK_ATTRIBUTE t[2] = {
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_M2M_ROLE, &role, sizeof(role) },
	};
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_ULONG n;

	n = p11c_find(s, t, role == (CK_ULONG)~0UL ? 1 : 2, &h, 1);
	if (ret_first != NULL)
		*ret_first = h;
	return n;
}

static inline CK_RV
p11c_get_ulong(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE t,
    CK_ULONG *v)
{
	CK_ATTRIBUTE a = { t, v, sizeof(*v) };

	return F->C_GetAttributeValue(s, h, &a, 1);
}

/* A CK_BBOOL attribute: 0/1, or -1 when it cannot be read. */
static inline int
p11c_get_bool(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE t)
{
	CK_BBOOL b = 2;
	CK_ATTRIBUTE a = { t, &b, sizeof(b) };

	if (F->C_GetAttributeValue(s, h, &a, 1) != CKR_OK ||
	    a.ulValueLen != 1)
		return -1;
	return b != CK_FALSE;
}

/* A byte attribute into buf; *len: in the size of buf, out the length. */
static inline CK_RV
p11c_get_bytes(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE t,
    void *buf, CK_ULONG *len)
{
	CK_ATTRIBUTE a = { t, buf, *len };
	CK_RV rv;

	rv = F->C_GetAttributeValue(s, h, &a, 1);
	*len = a.ulValueLen;
	return rv;
}

/* CKA_LABEL as a C string ("" if unreadable). */
static inline void
p11c_label(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, char *out, size_t max)
{
	CK_ULONG len = max - 1;

	if (p11c_get_bytes(s, h, CKA_LABEL, out, &len) != CKR_OK ||
	    len >= max)
		len = 0;
	out[len] = '\0';
}

/*
 * Import a secret: role (0: role-less), label (NULL: none), key type
 * (CKK_GENERIC_SECRET / CKK_AES), token object or session object, plus up
 * to 8 extra attributes.  Returns the CK_RV; the handle on success.
 */
static inline CK_RV
p11c_import_ex(CK_SESSION_HANDLE s, CK_ULONG role, const char *label,
    CK_KEY_TYPE kt, const void *val, CK_ULONG len, CK_BBOOL token,
    const CK_ATTRIBUTE *extra, CK_ULONG nextra, CK_OBJECT_HANDLE *ret)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[16];
	CK_ULONG n = 0, i;

	t[n++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof(cls) };
	t[n++] = (CK_ATTRIBUTE){ CKA_KEY_TYPE, &kt, sizeof(kt) };
	t[n++] = (CK_ATTRIBUTE){ CKA_TOKEN, &token, sizeof(token) };
	t[n++] = (CK_ATTRIBUTE){ CKA_VALUE, (void *)val, len };
	if (role != 0)
		t[n++] = (CK_ATTRIBUTE){ CKA_M2M_ROLE, &role, sizeof(role) };
	if (label != NULL)
		t[n++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label,
		    strlen(label) };
	for (i = 0; i < nextra && n < 16; i++)
		t[n++] = extra[i];
	*ret = CK_INVALID_HANDLE;
	return F->C_CreateObject(s, t, n, ret);
}

/* A role key, generic secret, session object. */
static inline CK_RV
p11c_import(CK_SESSION_HANDLE s, CK_ULONG role, const char *label,
    const void *val, CK_ULONG len, CK_OBJECT_HANDLE *ret)
{
	return p11c_import_ex(s, role, label, CKK_GENERIC_SECRET, val, len,
	    CK_FALSE, NULL, 0, ret);
}

/* C_DeriveKey with a byte-string parameter and an optional template. */
static inline CK_RV
p11c_derive(CK_SESSION_HANDLE s, CK_MECHANISM_TYPE mech, const void *param,
    CK_ULONG plen, CK_OBJECT_HANDLE base, CK_ATTRIBUTE_PTR tmpl,
    CK_ULONG n, CK_OBJECT_HANDLE *ret)
{
	CK_MECHANISM m = { mech, (void *)param, plen };

	*ret = CK_INVALID_HANDLE;
	return F->C_DeriveKey(s, &m, base, tmpl, n, ret);
}

/* CKM_M2M_E2E_EXPAND with n. */
static inline CK_RV
p11c_expand(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE master, uint8_t n,
    CK_OBJECT_HANDLE *ret)
{
	return p11c_derive(s, CKM_M2M_E2E_EXPAND, &n, 1, master, NULL, 0,
	    ret);
}

/* One-shot C_Sign with mech over data. */
static inline CK_RV
p11c_sign(CK_SESSION_HANDLE s, CK_MECHANISM_TYPE mech, CK_OBJECT_HANDLE key,
    const void *data, CK_ULONG dlen, uint8_t *mac, CK_ULONG *maclen)
{
	CK_MECHANISM m = { mech, NULL, 0 };
	CK_RV rv;

	if ((rv = F->C_SignInit(s, &m, key)) != CKR_OK)
		return rv;
	return F->C_Sign(s, (CK_BYTE_PTR)data, dlen, mac, maclen);
}

/*
 * HMAC-SHA-256 / -512 (hash = 256 | 512) of msg under the raw key, computed
 * by the module on a role-less session key imported for the purpose (the
 * module's HMAC itself is checked against RFC 4231 in p11_vectors).
 */
static inline CK_RV
p11c_hmac(CK_SESSION_HANDLE s, int hash, const void *key, CK_ULONG keylen,
    const void *msg, CK_ULONG msglen, uint8_t *out)
{
	CK_OBJECT_HANDLE h;
	CK_ULONG ol = 64;
	CK_RV rv;

	if ((rv = p11c_import(s, 0, NULL, key, keylen, &h)) != CKR_OK)
		return rv;
	rv = p11c_sign(s, hash == 512 ? CKM_SHA512_HMAC : CKM_SHA256_HMAC, h,
	    msg, msglen, out, &ol);
	if (F->C_DestroyObject(s, h) != CKR_OK && rv == CKR_OK)
		rv = CKR_GENERAL_ERROR;
	return rv;
}

/* One-shot AES-GCM encryption (12-byte IV, 128-bit tag). */
static inline CK_RV
p11c_gcm_encrypt(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key,
    const uint8_t iv[12], const void *aad, CK_ULONG aadlen, const void *pt,
    CK_ULONG ptlen, uint8_t *out, CK_ULONG *outlen)
{
	CK_GCM_PARAMS p = { (CK_BYTE_PTR)iv, 12, 96, (CK_BYTE_PTR)aad,
	    aadlen, 128 };
	CK_MECHANISM m = { CKM_AES_GCM, &p, sizeof(p) };
	CK_RV rv;

	if ((rv = F->C_EncryptInit(s, &m, key)) != CKR_OK)
		return rv;
	return F->C_Encrypt(s, (CK_BYTE_PTR)pt, ptlen, out, outlen);
}

static inline CK_RV
p11c_gcm_decrypt(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key,
    const uint8_t iv[12], const void *aad, CK_ULONG aadlen, const void *ct,
    CK_ULONG ctlen, uint8_t *out, CK_ULONG *outlen)
{
	CK_GCM_PARAMS p = { (CK_BYTE_PTR)iv, 12, 96, (CK_BYTE_PTR)aad,
	    aadlen, 128 };
	CK_MECHANISM m = { CKM_AES_GCM, &p, sizeof(p) };
	CK_RV rv;

	if ((rv = F->C_DecryptInit(s, &m, key)) != CKR_OK)
		return rv;
	return F->C_Decrypt(s, (CK_BYTE_PTR)ct, ctlen, out, outlen);
}

/* The v3.0 function list through C_GetInterface, or NULL. */
static inline CK_FUNCTION_LIST_3_0_PTR
p11c_v3(void)
{
	CK_C_GetInterface gi;
	CK_INTERFACE_PTR ifc = NULL;
	CK_VERSION v = { 3, 0 };

	*(void **)&gi = dlsym(p11c_dl, "C_GetInterface");
	if (gi == NULL || gi((CK_UTF8CHAR_PTR)"PKCS 11", &v, &ifc, 0) !=
	    CKR_OK || ifc == NULL)
		return NULL;
	return ifc->pFunctionList;
}

/*
 * A session of SoftHSM2 itself on the HSM backend's backing token (label
 * "m2m-backing"), in this process: the module's own SoftHSM2 instance
 * ($M2M_SOFTHSM_MODULE, else Debian's path), already initialised by the
 * module's C_Initialize; no login (public objects need none).  For tests
 * that look at what the backend left in the HSM.  Bails on failure.
 */
static inline void
p11c_backing_open(CK_FUNCTION_LIST_PTR *ret_fl, CK_SESSION_HANDLE *ret_s)
{
	const char *path = getenv("M2M_SOFTHSM_MODULE");
	CK_FUNCTION_LIST_PTR sh = NULL;
	CK_C_GetFunctionList gfl;
	CK_SLOT_ID slots[16];
	CK_ULONG n = 16, i;
	CK_TOKEN_INFO ti;
	CK_UTF8CHAR lab[32];
	CK_RV rv;
	void *dl;

	if (path == NULL || *path == '\0')
		path = "/usr/lib/softhsm/libsofthsm2.so";
	if ((dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL)
		p11c_bail("dlopen %s: %s", path, dlerror());
	/* POSIX: a dlsym() result may be converted to a function pointer */
	gfl = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList");
	if (gfl == NULL || gfl(&sh) != CKR_OK)
		p11c_bail("%s: no C_GetFunctionList", path);
	rv = sh->C_Initialize(NULL);
	if (rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
		p11c_bail("SoftHSM2 is not the backend's instance: %s",
		    p11c_rvname(rv));
	P11C_MUST(sh->C_GetSlotList(CK_TRUE, slots, &n));
	p11c_pad32("m2m-backing", lab);
	for (i = 0; i < n; i++) {
		P11C_MUST(sh->C_GetTokenInfo(slots[i], &ti));
		if (memcmp(ti.label, lab, 32) == 0)
			break;
	}
	if (i == n)
		p11c_bail("no backing token 'm2m-backing'");
	P11C_MUST(sh->C_OpenSession(slots[i], CKF_SERIAL_SESSION, NULL, NULL,
	    ret_s));
	*ret_fl = sh;
}

#endif /* M2M_P11CLIENT_H */
