/*
 * m2mtoken-demo: what the token is for, in one run.
 *
 * A plain PKCS#11 client (dlopen of $M2MTOKEN_MODULE, the public header
 * only) that initialises a token, imports a Kpm and the Ke of the worked
 * example in onem2m-keys.md section 7, derives Km, Kpsa, the E2E master and
 * the four E2E keys inside the token, protects a message with them, and then
 * tries every standard way of getting a key out.  One line per step; the
 * exit status is 0 only if every step behaved as expected, so the demo is a
 * check as well.
 *
 * Usage: m2mtoken-demo [-v]      (-v: one line per key for the attacks)
 * Environment: M2MTOKEN_MODULE (default ./libm2mtoken.so), M2MTOKEN_CONF.
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <m2mtoken/pkcs11-m2m.h>

#define SO_PIN		"so-pin-5678"
#define USER_PIN	"user-pin-1234"
#define TOKEN_LABEL	"m2m-demo"

#define KPM_ID		"kpm-0001@mef.example.com"
#define KE_ID		"000102030405060708090a0b0c0d0e0f@mef.example.com"
#define MAF_ID		"maf.example.com"
#define ENROLEE_B_ID	"/in-cse.example.com/CAE01"

#define NKEYS		9
#define LABEL_MAX	128

/* onem2m-keys.md section 7 */
static const CK_BYTE ke_value[32] = {
	0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
	0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
	0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27,
	0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f
};
static const CK_BYTE t1_value[32] = {	/* Ke2e_msg_auth */
	0x0a, 0x18, 0xef, 0xc7, 0x7a, 0x30, 0x74, 0xd4,
	0x07, 0xe3, 0xe4, 0x6a, 0x5b, 0xe3, 0x8b, 0x51,
	0x88, 0x6a, 0x7b, 0xd6, 0x7d, 0x41, 0x4f, 0xda,
	0x33, 0xdb, 0x83, 0x29, 0x76, 0x1d, 0xec, 0xa5
};
static const CK_BYTE t2_value[32] = {	/* Ke2e_msg_conf */
	0xff, 0x4e, 0x23, 0xd8, 0x90, 0x35, 0x40, 0x11,
	0x52, 0xa1, 0x81, 0x7f, 0x9e, 0x7d, 0xc1, 0x5d,
	0xfc, 0xe2, 0x22, 0xcb, 0x06, 0x29, 0x2a, 0x38,
	0x78, 0xb3, 0x4b, 0xf5, 0x25, 0xb3, 0xd8, 0x87
};
/* a Kpm as an operator would provision it (any 32 bytes) */
static const CK_BYTE kpm_value[32] = {
	0x4b, 0x70, 0x6d, 0x2d, 0x64, 0x65, 0x6d, 0x6f,
	0x2d, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x2d, 0x30,
	0x30, 0x30, 0x31, 0x2d, 0x6f, 0x6e, 0x65, 0x4d,
	0x32, 0x4d, 0x2d, 0x4b, 0x70, 0x6d, 0x21, 0x21
};

static const char message[] =
	"{\"m2m:cin\":{\"con\":\"21.5\",\"cnf\":\"text/plain:0\"}}";

static CK_FUNCTION_LIST_PTR f;
static CK_SESSION_HANDLE sess;
static int verbose;
static int nsteps, nfailed;

/* the keys the attacks are tried on */
static struct {
	const char		*name;
	CK_OBJECT_HANDLE	 h;
} keys[NKEYS];
static size_t nkeys;

static const struct {
	CK_RV		 rv;
	const char	*name;
} ckr_names[] = {
	{ CKR_OK, "CKR_OK" },
	{ CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR" },
	{ CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD" },
	{ CKR_ATTRIBUTE_READ_ONLY, "CKR_ATTRIBUTE_READ_ONLY" },
	{ CKR_ATTRIBUTE_SENSITIVE, "CKR_ATTRIBUTE_SENSITIVE" },
	{ CKR_ATTRIBUTE_TYPE_INVALID, "CKR_ATTRIBUTE_TYPE_INVALID" },
	{ CKR_ATTRIBUTE_VALUE_INVALID, "CKR_ATTRIBUTE_VALUE_INVALID" },
	{ CKR_ACTION_PROHIBITED, "CKR_ACTION_PROHIBITED" },
	{ CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR" },
	{ CKR_ENCRYPTED_DATA_INVALID, "CKR_ENCRYPTED_DATA_INVALID" },
	{ CKR_ENCRYPTED_DATA_LEN_RANGE, "CKR_ENCRYPTED_DATA_LEN_RANGE" },
	{ CKR_FUNCTION_NOT_SUPPORTED, "CKR_FUNCTION_NOT_SUPPORTED" },
	{ CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID" },
	{ CKR_KEY_FUNCTION_NOT_PERMITTED, "CKR_KEY_FUNCTION_NOT_PERMITTED" },
	{ CKR_KEY_NOT_WRAPPABLE, "CKR_KEY_NOT_WRAPPABLE" },
	{ CKR_KEY_UNEXTRACTABLE, "CKR_KEY_UNEXTRACTABLE" },
	{ CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID" },
	{ CKR_MECHANISM_PARAM_INVALID, "CKR_MECHANISM_PARAM_INVALID" },
	{ CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID" },
	{ CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT" },
	{ CKR_PIN_LEN_RANGE, "CKR_PIN_LEN_RANGE" },
	{ CKR_PIN_LOCKED, "CKR_PIN_LOCKED" },
	{ CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID" },
	{ CKR_SESSION_READ_ONLY, "CKR_SESSION_READ_ONLY" },
	{ CKR_SIGNATURE_INVALID, "CKR_SIGNATURE_INVALID" },
	{ CKR_SIGNATURE_LEN_RANGE, "CKR_SIGNATURE_LEN_RANGE" },
	{ CKR_SLOT_ID_INVALID, "CKR_SLOT_ID_INVALID" },
	{ CKR_TEMPLATE_INCOMPLETE, "CKR_TEMPLATE_INCOMPLETE" },
	{ CKR_TEMPLATE_INCONSISTENT, "CKR_TEMPLATE_INCONSISTENT" },
	{ CKR_TOKEN_NOT_RECOGNIZED, "CKR_TOKEN_NOT_RECOGNIZED" },
	{ CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN" },
	{ CKR_USER_PIN_NOT_INITIALIZED, "CKR_USER_PIN_NOT_INITIALIZED" },
	{ CKR_BUFFER_TOO_SMALL, "CKR_BUFFER_TOO_SMALL" },
	{ CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED" },
};

static const char *
ckr(CK_RV rv)
{
	static char buf[4][24];	/* a few calls may share one printf */
	static unsigned int next;
	char *b;
	size_t i;

	for (i = 0; i < sizeof(ckr_names) / sizeof(ckr_names[0]); i++)
		if (ckr_names[i].rv == rv)
			return ckr_names[i].name;
	b = buf[next++ % 4];
	snprintf(b, sizeof(buf[0]), "CKR_0x%08lx", (unsigned long)rv);
	return b;
}

/* "  ✓ <what>   <outcome>", the outcome aligned in one column. */
static int
step(int ok, const char *outcome, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	nsteps++;
	if (!ok)
		nfailed++;
	printf("  %s %-64s %s\n", ok ? "\xe2\x9c\x93" : "\xe2\x9c\x97", what,
	    outcome);
	return ok;
}

/* A call that must succeed. */
static int
expect_ok(CK_RV rv, const char *fmt, ...)
{
	char what[160], outcome[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (rv == CKR_OK)
		return step(1, "ok", "%s", what);
	snprintf(outcome, sizeof(outcome), "FAILED (%s)", ckr(rv));
	return step(0, outcome, "%s", what);
}

/* A call that must be refused with want (or, if want2 != CKR_OK, want2). */
static int
expect_refused(CK_RV rv, CK_RV want, CK_RV want2, const char *fmt, ...)
{
	char what[160], outcome[128];
	va_list ap;
	int ok = rv != CKR_OK && (rv == want || rv == want2);

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (rv == CKR_OK)
		snprintf(outcome, sizeof(outcome), "ACCEPTED (expected %s)",
		    ckr(want));
	else if (ok)
		snprintf(outcome, sizeof(outcome), "REFUSED (%s)", ckr(rv));
	else
		snprintf(outcome, sizeof(outcome), "REFUSED (%s, expected %s)",
		    ckr(rv), ckr(want));
	return step(ok, outcome, "%s", what);
}

static void
section(const char *title)
{
	printf("%s\n", title);
}

static void
add_key(const char *name, CK_OBJECT_HANDLE h)
{
	if (nkeys < NKEYS) {
		keys[nkeys].name = name;
		keys[nkeys].h = h;
		nkeys++;
	}
}

/* CKA_LABEL of h as a C string ("?" when it cannot be read). */
static const char *
label_of(CK_OBJECT_HANDLE h, char *buf, size_t len)
{
	CK_ATTRIBUTE a = { CKA_LABEL, buf, len - 1 };

	if (f->C_GetAttributeValue(sess, h, &a, 1) != CKR_OK ||
	    a.ulValueLen >= len) {
		snprintf(buf, len, "?");
		return buf;
	}
	buf[a.ulValueLen] = '\0';
	return buf;
}

/* "0a18efc7…" : the first bytes, enough to recognise a value */
static const char *
short_hex(const CK_BYTE *p, size_t n, char *buf, size_t len)
{
	size_t i, k = n < 4 ? n : 4;

	buf[0] = '\0';
	for (i = 0; i < k && 2 * i + 3 < len; i++)
		snprintf(buf + 2 * i, len - 2 * i, "%02x", p[i]);
	if (n > k && strlen(buf) + 4 < len)
		memcpy(buf + strlen(buf), "\xe2\x80\xa6", 4);
	return buf;
}

static CK_SLOT_ID
find_slot(int initialized, const char *label, int *found)
{
	CK_SLOT_ID *slots = NULL, slot = 0;
	CK_TOKEN_INFO ti;
	CK_ULONG n = 0, i;
	size_t ll = label ? strlen(label) : 0;

	*found = 0;
	if (f->C_GetSlotList(CK_TRUE, NULL, &n) != CKR_OK || n == 0)
		return 0;
	if ((slots = calloc(n, sizeof(*slots))) == NULL)
		return 0;
	if (f->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
		n = 0;
	for (i = 0; i < n && !*found; i++) {
		if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		if (((ti.flags & CKF_TOKEN_INITIALIZED) != 0) != initialized)
			continue;
		if (label != NULL && (memcmp(ti.label, label, ll) != 0 ||
		    (ll < sizeof(ti.label) && ti.label[ll] != ' ')))
			continue;
		slot = slots[i];
		*found = 1;
	}
	free(slots);
	return slot;
}

/* Token life cycle: C_InitToken, C_InitPIN, C_Login. */
static int
token_setup(void)
{
	CK_SLOT_ID slot;
	CK_UTF8CHAR label[32];
	CK_RV rv;
	int found;

	section("Token");
	slot = find_slot(0, NULL, &found);
	if (!step(found, found ? "ok" : "FAILED", "find the free "
	    "(uninitialised) slot"))
		return 0;
	memset(label, ' ', sizeof(label));
	memcpy(label, TOKEN_LABEL, strlen(TOKEN_LABEL));
	rv = f->C_InitToken(slot, (CK_UTF8CHAR_PTR)SO_PIN, strlen(SO_PIN),
	    label);
	if (!expect_ok(rv, "C_InitToken on slot %lu, label \"%s\"",
	    (unsigned long)slot, TOKEN_LABEL))
		return 0;
	/* normally the same slot; find it by label in case it moved */
	slot = find_slot(1, TOKEN_LABEL, &found);
	if (!found)
		return step(0, "FAILED", "the new token is not listed");
	rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
	    NULL, &sess);
	if (rv == CKR_OK)
		rv = f->C_Login(sess, CKU_SO, (CK_UTF8CHAR_PTR)SO_PIN,
		    strlen(SO_PIN));
	if (rv == CKR_OK)
		rv = f->C_InitPIN(sess, (CK_UTF8CHAR_PTR)USER_PIN,
		    strlen(USER_PIN));
	if (rv == CKR_OK)
		rv = f->C_Logout(sess);
	if (!expect_ok(rv, "C_Login(SO) + C_InitPIN: set the user PIN"))
		return 0;
	rv = f->C_Login(sess, CKU_USER, (CK_UTF8CHAR_PTR)"wrong-pin", 9);
	expect_refused(rv, CKR_PIN_INCORRECT, CKR_OK,
	    "C_Login(user) with a wrong PIN");
	rv = f->C_Login(sess, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN,
	    strlen(USER_PIN));
	return expect_ok(rv, "C_Login(user) with the right PIN");
}

static CK_RV
import_key(CK_ULONG role, const char *label, const CK_BYTE *value,
    CK_ULONG len, CK_OBJECT_HANDLE *ret)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_M2M_ROLE, &role, sizeof(role) },
		{ CKA_VALUE, (void *)value, len },
	};

	return f->C_CreateObject(sess, t, sizeof(t) / sizeof(t[0]), ret);
}

static CK_RV
derive(CK_MECHANISM_TYPE mech, const void *param, CK_ULONG plen,
    CK_OBJECT_HANDLE base, CK_OBJECT_HANDLE *ret)
{
	CK_MECHANISM m = { mech, (void *)param, plen };
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE t[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
	};

	return f->C_DeriveKey(sess, &m, base, t, 1, ret);
}

struct handles {
	CK_OBJECT_HANDLE	kpm, ke, km, kpsa, master;
	CK_OBJECT_HANDLE	e2e[4];	/* msg_auth, msg_conf, att_auth, att_conf */
};

static int
keys_setup(struct handles *k)
{
	static const char *const e2e_names[4] = {
		"Ke2e_msg_auth", "Ke2e_msg_conf", "Ke2e_att_auth",
		"Ke2e_att_conf"
	};
	char label[LABEL_MAX], master_label[LABEL_MAX];
	CK_BYTE n;
	CK_RV rv;
	int ok = 1, i;

	section("Import (the values are handed over once, then wrapped by "
	    "the backend)");
	rv = import_key(CK_M2M_ROLE_KPM, KPM_ID, kpm_value, sizeof(kpm_value),
	    &k->kpm);
	if (!expect_ok(rv, "Kpm  KpmId = %s", KPM_ID))
		return 0;
	add_key("Kpm", k->kpm);
	rv = import_key(CK_M2M_ROLE_KE, KE_ID, ke_value, sizeof(ke_value),
	    &k->ke);
	if (!expect_ok(rv, "Ke   KeId  = %s", KE_ID))
		return 0;
	add_key("Ke", k->ke);

	section("Derive (inside the token, onem2m-keys.md sections 3-4)");
	rv = derive(CKM_M2M_KM_DERIVE, MAF_ID, strlen(MAF_ID), k->ke, &k->km);
	if (!expect_ok(rv, "Km   from Ke, MAF-ID %s", MAF_ID))
		return 0;
	add_key("Km", k->km);
	printf("       KmId   = %s\n", label_of(k->km, label, sizeof(label)));
	rv = derive(CKM_M2M_KPSA_DERIVE, ENROLEE_B_ID, strlen(ENROLEE_B_ID),
	    k->ke, &k->kpsa);
	if (!expect_ok(rv, "Kpsa from Ke, Enrolee-B-ID %s", ENROLEE_B_ID))
		return 0;
	add_key("Kpsa", k->kpsa);
	printf("       KpsaId = %s\n", label_of(k->kpsa, label,
	    sizeof(label)));
	rv = derive(CKM_M2M_E2E_MASTER_SHA256, NULL, 0, k->kpsa, &k->master);
	if (!expect_ok(rv, "Ke2e_master from Kpsa (SHA-256, zero salt)"))
		return 0;
	add_key("Ke2e_master", k->master);
	label_of(k->master, master_label, sizeof(master_label));
	printf("       E2EKeyId = %s\n", master_label);
	for (i = 0; i < 4; i++) {
		n = (CK_BYTE)(i + 1);
		rv = derive(CKM_M2M_E2E_EXPAND, &n, 1, k->master, &k->e2e[i]);
		ok &= expect_ok(rv, "%-13s = T(%d), label %s", e2e_names[i],
		    i + 1, strcmp(label_of(k->e2e[i], label, sizeof(label)),
		    master_label) == 0 ? "E2EKeyId" : label);
		if (rv == CKR_OK)
			add_key(e2e_names[i], k->e2e[i]);
	}
	return ok;
}

static CK_RV
hmac(CK_OBJECT_HANDLE key, const void *msg, CK_ULONG len, CK_BYTE *mac,
    CK_ULONG *maclen)
{
	CK_MECHANISM m = { CKM_SHA256_HMAC, NULL, 0 };
	CK_RV rv;

	if ((rv = f->C_SignInit(sess, &m, key)) != CKR_OK)
		return rv;
	return f->C_Sign(sess, (CK_BYTE_PTR)msg, len, mac, maclen);
}

static CK_RV
hmac_verify(CK_OBJECT_HANDLE key, const void *msg, CK_ULONG len,
    CK_BYTE *mac, CK_ULONG maclen)
{
	CK_MECHANISM m = { CKM_SHA256_HMAC, NULL, 0 };
	CK_RV rv;

	if ((rv = f->C_VerifyInit(sess, &m, key)) != CKR_OK)
		return rv;
	return f->C_Verify(sess, (CK_BYTE_PTR)msg, len, mac, maclen);
}

static CK_RV
gcm(int enc, CK_OBJECT_HANDLE key, CK_BYTE *iv, const CK_BYTE *in,
    CK_ULONG inlen, CK_BYTE *out, CK_ULONG *outlen)
{
	CK_GCM_PARAMS p;
	CK_MECHANISM m = { CKM_AES_GCM, &p, sizeof(p) };
	CK_RV rv;

	memset(&p, 0, sizeof(p));
	p.pIv = iv;
	p.ulIvLen = 12;
	p.ulIvBits = 96;
	p.pAAD = NULL;
	p.ulAADLen = 0;
	p.ulTagBits = 128;
	if (enc) {
		if ((rv = f->C_EncryptInit(sess, &m, key)) != CKR_OK)
			return rv;
		return f->C_Encrypt(sess, (CK_BYTE_PTR)in, inlen, out, outlen);
	}
	if ((rv = f->C_DecryptInit(sess, &m, key)) != CKR_OK)
		return rv;
	return f->C_Decrypt(sess, (CK_BYTE_PTR)in, inlen, out, outlen);
}

/* A role-less session key with a known value: the section 7 check. */
static CK_RV
plain_session_key(CK_KEY_TYPE kt, const CK_BYTE *value, CK_ULONG len,
    CK_OBJECT_HANDLE *ret)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_BBOOL no = CK_FALSE;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &no, sizeof(no) },
		{ CKA_VALUE, (void *)value, len },
	};

	return f->C_CreateObject(sess, t, sizeof(t) / sizeof(t[0]), ret);
}

static int
protect_message(const struct handles *k)
{
	CK_BYTE mac[64], mac2[64], iv[12], sealed[256], opened[256];
	CK_ULONG maclen = sizeof(mac), mac2len = sizeof(mac2);
	CK_ULONG sealedlen = sizeof(sealed), openedlen = sizeof(opened);
	CK_ULONG msglen = sizeof(message) - 1;
	CK_OBJECT_HANDLE ref = CK_INVALID_HANDLE;
	char hex[16], outcome[64], *modified = NULL;
	CK_RV rv;
	int ok = 1;

	section("Protect a message end to end");
	printf("       message: %s\n", message);
	rv = hmac(k->e2e[0], message, msglen, mac, &maclen);
	if (rv == CKR_OK) {
		snprintf(outcome, sizeof(outcome), "ok (%lu bytes, %s)",
		    (unsigned long)maclen, short_hex(mac, maclen, hex,
		    sizeof(hex)));
		step(1, outcome, "MIC = HMAC-SHA-256(Ke2e_msg_auth, message)");
	} else
		return expect_ok(rv, "MIC = HMAC-SHA-256(Ke2e_msg_auth, "
		    "message)");
	/* the same MIC from T(1) of section 7, imported as a plain key */
	rv = plain_session_key(CKK_GENERIC_SECRET, t1_value, sizeof(t1_value),
	    &ref);
	if (rv == CKR_OK)
		rv = hmac(ref, message, msglen, mac2, &mac2len);
	if (rv == CKR_OK)
		ok &= step(mac2len == maclen && memcmp(mac, mac2, maclen) == 0,
		    mac2len == maclen && memcmp(mac, mac2, maclen) == 0 ?
		    "ok" : "MISMATCH", "MIC matches section 7 (T(1) as a "
		    "known-answer key)");
	else
		ok &= expect_ok(rv, "MIC matches section 7 (T(1) as a "
		    "known-answer key)");
	if (ref != CK_INVALID_HANDLE)
		(void)f->C_DestroyObject(sess, ref);
	ref = CK_INVALID_HANDLE;
	rv = hmac_verify(k->e2e[0], message, msglen, mac, maclen);
	ok &= expect_ok(rv, "verify the MIC on the message");
	if ((modified = malloc(msglen)) == NULL)
		return step(0, "FAILED", "out of memory");
	memcpy(modified, message, msglen);
	modified[strlen("{\"m2m:cin\":{\"con\":\"2")] = '9';	/* 21.5 -> 29.5 */
	rv = hmac_verify(k->e2e[0], modified, msglen, mac, maclen);
	ok &= expect_refused(rv, CKR_SIGNATURE_INVALID, CKR_OK,
	    "verify the MIC on a modified message (\"con\":\"29.5\")");
	free(modified);

	/* seal and open with Ke2e_msg_conf */
	if ((rv = f->C_GenerateRandom(sess, iv, sizeof(iv))) != CKR_OK)
		return expect_ok(rv, "C_GenerateRandom (IV)");
	rv = gcm(1, k->e2e[1], iv, (const CK_BYTE *)message, msglen, sealed,
	    &sealedlen);
	if (rv == CKR_OK) {
		snprintf(outcome, sizeof(outcome), "ok (%lu+16 bytes)",
		    (unsigned long)msglen);
		step(sealedlen == msglen + 16, outcome, "seal with "
		    "Ke2e_msg_conf (AES-256-GCM, 12-byte IV)");
	} else
		return expect_ok(rv, "seal with Ke2e_msg_conf (AES-256-GCM, "
		    "12-byte IV)");
	rv = gcm(0, k->e2e[1], iv, sealed, sealedlen, opened, &openedlen);
	if (rv == CKR_OK && (openedlen != msglen ||
	    memcmp(opened, message, msglen) != 0))
		ok &= step(0, "WRONG PLAINTEXT", "open the sealed message");
	else
		ok &= expect_ok(rv, "open the sealed message");
	rv = plain_session_key(CKK_AES, t2_value, sizeof(t2_value), &ref);
	openedlen = sizeof(opened);
	if (rv == CKR_OK)
		rv = gcm(0, ref, iv, sealed, sealedlen, opened, &openedlen);
	if (rv == CKR_OK && (openedlen != msglen ||
	    memcmp(opened, message, msglen) != 0))
		ok &= step(0, "MISMATCH", "section 7's T(2) opens it too");
	else
		ok &= expect_ok(rv, "section 7's T(2) opens it too");
	if (ref != CK_INVALID_HANDLE)
		(void)f->C_DestroyObject(sess, ref);
	sealed[3] ^= 0x01;
	openedlen = sizeof(opened);
	rv = gcm(0, k->e2e[1], iv, sealed, sealedlen, opened, &openedlen);
	ok &= expect_refused(rv, CKR_ENCRYPTED_DATA_INVALID, CKR_OK,
	    "open it with one ciphertext bit flipped");
	return ok;
}

/*
 * One attack on every key: the attack's result must be one of the two
 * refusals.  Prints one line (or one per key with -v, or when a key
 * answers differently).
 */
typedef CK_RV (*attack_fn)(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE);

static CK_RV
attack_read(CK_OBJECT_HANDLE h, CK_OBJECT_HANDLE aux)
{
	CK_BYTE buf[128];
	CK_ATTRIBUTE a = { CKA_VALUE, buf, sizeof(buf) };

	(void)aux;
	return f->C_GetAttributeValue(sess, h, &a, 1);
}

static CK_RV
attack_set_extractable(CK_OBJECT_HANDLE h, CK_OBJECT_HANDLE aux)
{
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE a = { CKA_EXTRACTABLE, &yes, sizeof(yes) };

	(void)aux;
	return f->C_SetAttributeValue(sess, h, &a, 1);
}

static CK_RV
attack_wrap(CK_OBJECT_HANDLE h, CK_OBJECT_HANDLE wrapping)
{
	CK_MECHANISM m = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_BYTE out[256];
	CK_ULONG outlen = sizeof(out);

	return f->C_WrapKey(sess, &m, wrapping, h, out, &outlen);
}

static CK_RV
attack_copy(CK_OBJECT_HANDLE h, CK_OBJECT_HANDLE aux)
{
	CK_BBOOL no = CK_FALSE;
	CK_ATTRIBUTE a = { CKA_SENSITIVE, &no, sizeof(no) };
	CK_OBJECT_HANDLE copy = CK_INVALID_HANDLE;
	CK_RV rv;

	(void)aux;
	rv = f->C_CopyObject(sess, h, &a, 1, &copy);
	if (rv == CKR_OK)
		(void)f->C_DestroyObject(sess, copy);
	return rv;
}

static int
attack(const char *what, attack_fn fn, CK_OBJECT_HANDLE aux, CK_RV want,
    CK_RV want2)
{
	char outcome[96];
	CK_RV rv, first = CKR_OK;
	size_t i, refused = 0;
	int same = 1;

	for (i = 0; i < nkeys; i++) {
		rv = fn(keys[i].h, aux);
		if (rv != CKR_OK && (rv == want || rv == want2))
			refused++;
		if (i == 0)
			first = rv;
		else if (rv != first)
			same = 0;
		if (verbose || rv == CKR_OK || (rv != want && rv != want2))
			expect_refused(rv, want, want2, "  %s on %s", what,
			    keys[i].name);
	}
	if (refused == nkeys && same)
		snprintf(outcome, sizeof(outcome), "REFUSED (%s) %zu/%zu",
		    ckr(first), refused, nkeys);
	else if (refused == nkeys)
		snprintf(outcome, sizeof(outcome), "REFUSED %zu/%zu", refused,
		    nkeys);
	else
		snprintf(outcome, sizeof(outcome), "refused only %zu/%zu",
		    refused, nkeys);
	return step(refused == nkeys, outcome, "%s", what);
}

/* After all attacks, each key must still be sensitive, never extractable. */
static int
still_sealed(void)
{
	CK_BBOOL sens, extr, asens, nextr;
	CK_ATTRIBUTE a[] = {
		{ CKA_SENSITIVE, &sens, sizeof(sens) },
		{ CKA_EXTRACTABLE, &extr, sizeof(extr) },
		{ CKA_ALWAYS_SENSITIVE, &asens, sizeof(asens) },
		{ CKA_NEVER_EXTRACTABLE, &nextr, sizeof(nextr) },
	};
	char outcome[32];
	size_t i, good = 0;

	for (i = 0; i < nkeys; i++) {
		if (f->C_GetAttributeValue(sess, keys[i].h, a, 4) == CKR_OK &&
		    sens && !extr && asens && nextr)
			good++;
		else
			step(0, "CHANGED", "  %s lost its protection",
			    keys[i].name);
	}
	snprintf(outcome, sizeof(outcome), "ok %zu/%zu", good, nkeys);
	return step(good == nkeys, outcome, "afterwards: still SENSITIVE, "
	    "NEVER_EXTRACTABLE");
}

static int
attacks(void)
{
	CK_MECHANISM gen = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_ULONG len = 32;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE t[] = {
		{ CKA_VALUE_LEN, &len, sizeof(len) },
		{ CKA_TOKEN, &no, sizeof(no) },
		{ CKA_WRAP, &yes, sizeof(yes) },
	};
	CK_OBJECT_HANDLE wrapping = CK_INVALID_HANDLE;
	size_t i;
	CK_RV rv;
	int ok = 1;

	printf("Try to get a key out, 4 ways, on each of %zu keys\n"
	    "      ", nkeys);
	for (i = 0; i < nkeys; i++)
		printf(" %s", keys[i].name);
	printf("\n");
	ok &= attack("C_GetAttributeValue(CKA_VALUE)", attack_read,
	    CK_INVALID_HANDLE, CKR_ATTRIBUTE_SENSITIVE, CKR_OK);
	ok &= attack("C_SetAttributeValue(CKA_EXTRACTABLE=TRUE)",
	    attack_set_extractable, CK_INVALID_HANDLE,
	    CKR_ATTRIBUTE_READ_ONLY, CKR_TEMPLATE_INCONSISTENT);
	rv = f->C_GenerateKey(sess, &gen, t, sizeof(t) / sizeof(t[0]),
	    &wrapping);
	if (!expect_ok(rv, "a wrapping key (AES-256, session, CKA_WRAP)"))
		return 0;
	ok &= attack("C_WrapKey(CKM_AES_KEY_WRAP_PAD)", attack_wrap, wrapping,
	    CKR_KEY_UNEXTRACTABLE, CKR_KEY_NOT_WRAPPABLE);
	(void)f->C_DestroyObject(sess, wrapping);
	ok &= attack("C_CopyObject(CKA_SENSITIVE=FALSE)", attack_copy,
	    CK_INVALID_HANDLE, CKR_ATTRIBUTE_READ_ONLY,
	    CKR_TEMPLATE_INCONSISTENT);
	ok &= still_sealed();
	return ok;
}

int
main(int argc, char **argv)
{
	const char *path = getenv("M2MTOKEN_MODULE");
	CK_C_GetFunctionList getfl;
	struct handles k;
	CK_INFO info;
	void *dl = NULL;
	CK_RV rv;
	int i, initialized = 0, ok = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-v") == 0)
			verbose = 1;
		else {
			fprintf(stderr, "usage: %s [-v]\n", argv[0]);
			return 2;
		}
	}
	if (path == NULL || *path == '\0')
		path = "./libm2mtoken.so";
	printf("m2mtoken demo: oneM2M keys that never leave the token\n");
	if ((dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		fprintf(stderr, "cannot load %s: %s\n", path, dlerror());
		return 1;
	}
	*(void **)&getfl = dlsym(dl, "C_GetFunctionList");
	if (getfl == NULL || getfl(&f) != CKR_OK) {
		fprintf(stderr, "%s: no C_GetFunctionList\n", path);
		goto out;
	}
	if ((rv = f->C_Initialize(NULL)) != CKR_OK) {
		fprintf(stderr, "C_Initialize: %s (is M2MTOKEN_CONF set?)\n",
		    ckr(rv));
		goto out;
	}
	initialized = 1;
	if (f->C_GetInfo(&info) == CKR_OK)
		printf("module: %s (%.8s, PKCS#11 %u.%u)\n", path,
		    (const char *)info.manufacturerID,
		    info.cryptokiVersion.major, info.cryptokiVersion.minor);
	printf("\n");
	memset(&k, 0, sizeof(k));
	if (!token_setup() || !keys_setup(&k))
		goto out;
	ok = protect_message(&k);
	ok &= attacks();
 out:
	if (initialized) {
		if (sess != CK_INVALID_HANDLE)
			(void)f->C_CloseSession(sess);
		(void)f->C_Finalize(NULL);
	}
	if (dl != NULL)
		dlclose(dl);
	if (ok && nfailed == 0) {
		printf("\nall %d steps behaved as expected\n", nsteps);
		return 0;
	}
	printf("\n%d of %d steps did NOT behave as expected\n",
	    nfailed ? nfailed : 1, nsteps);
	return 1;
}
