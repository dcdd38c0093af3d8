/*
 * p11_misc: small findings of the security review (issue 10, item 8) and
 * conformance cases after google/pkcs11test (item 11), each with the exact
 * CK_RV: AES-GCM tag lengths and the token-generated IV, a derived key's
 * CKA_M2M_EXPIRES, the defaults of an imported role-less secret, the token
 * table's limit, data objects, C_SeedRandom's argument check and the
 * operation-state functions.
 */
#include <fcntl.h>
#include <unistd.h>

#include "p11client.h"

#define TOKEN	"misc"

static CK_SESSION_HANDLE S;
static CK_SLOT_ID SLOT;

static CK_OBJECT_HANDLE
aes_key(void)
{
	uint8_t k[32];
	CK_OBJECT_HANDLE h;

	memset(k, 0x42, sizeof(k));
	P11C_MUST(p11c_import_ex(S, 0, NULL, CKK_AES, k, sizeof(k), CK_FALSE,
	    NULL, 0, &h));
	return h;
}

/* Encrypt then decrypt pt with the IV in p (p may be changed by init). */
static CK_RV
gcm_roundtrip(CK_OBJECT_HANDLE key, CK_GCM_PARAMS *p, const void *pt,
    CK_ULONG ptlen, uint8_t *ct, CK_ULONG *ctlen)
{
	CK_MECHANISM m = { CKM_AES_GCM, p, sizeof(*p) };
	uint8_t back[256];
	CK_ULONG bl = sizeof(back);
	CK_RV rv;

	if ((rv = F->C_EncryptInit(S, &m, key)) != CKR_OK)
		return rv;
	if ((rv = F->C_Encrypt(S, (CK_BYTE_PTR)pt, ptlen, ct, ctlen)) !=
	    CKR_OK)
		return rv;
	if ((rv = F->C_DecryptInit(S, &m, key)) != CKR_OK)
		return rv;
	if ((rv = F->C_Decrypt(S, ct, *ctlen, back, &bl)) != CKR_OK)
		return rv;
	return bl == ptlen && memcmp(back, pt, ptlen) == 0 ? CKR_OK :
	    CKR_GENERAL_ERROR;
}

static void
test_gcm(void)
{
	static const uint8_t PT[] = "gcm plaintext";
	static const uint8_t AAD[] = "aad";
	static const CK_ULONG bad[] = { 8, 32, 64, 88 };
	static const CK_ULONG good[] = { 96, 104, 112, 120, 128 };
	static const uint8_t zero[12];
	CK_OBJECT_HANDLE key = aes_key();
	uint8_t iv[12], iv1[12], iv2[12], ct[256], ct2[256], out[256];
	CK_GCM_PARAMS p;
	CK_MECHANISM m = { CKM_AES_GCM, &p, sizeof(p) };
	CK_ULONG cl, cl2, ol;
	size_t i;

	memset(iv, 7, sizeof(iv));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = (CK_GCM_PARAMS){ iv, 12, 96, NULL, 0, bad[i] };
		CHECK_RV(F->C_EncryptInit(S, &m, key),
		    CKR_MECHANISM_PARAM_INVALID, "AES-GCM C_EncryptInit, "
		    "%lu-bit tag", bad[i]);
		CHECK_RV(F->C_DecryptInit(S, &m, key),
		    CKR_MECHANISM_PARAM_INVALID, "AES-GCM C_DecryptInit, "
		    "%lu-bit tag", bad[i]);
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		p = (CK_GCM_PARAMS){ iv, 12, 96, NULL, 0, good[i] };
		cl = sizeof(ct);
		CHECK_RV(gcm_roundtrip(key, &p, PT, sizeof(PT), ct, &cl),
		    CKR_OK, "AES-GCM, %lu-bit tag: encrypt and decrypt",
		    good[i]);
		CHECK(cl == sizeof(PT) + good[i] / 8, "%lu-bit tag: %lu "
		    "bytes out", good[i], cl);
	}

	/* the token's IV: 12 zero bytes with ulIvBits 0 ask for it */
	memset(iv1, 0, sizeof(iv1));
	p = (CK_GCM_PARAMS){ iv1, 12, 0, (CK_BYTE_PTR)AAD, sizeof(AAD), 128 };
	cl = sizeof(ct);
	CHECK_RV(gcm_roundtrip(key, &p, PT, sizeof(PT), ct, &cl), CKR_OK,
	    "AES-GCM with a token IV: encrypt, then decrypt with the IV "
	    "returned in pIv");
	CHECK(memcmp(iv1, zero, 12) != 0, "the token's IV is returned in "
	    "pIv");
	memset(iv2, 0, sizeof(iv2));
	p = (CK_GCM_PARAMS){ iv2, 12, 0, (CK_BYTE_PTR)AAD, sizeof(AAD), 128 };
	cl2 = sizeof(ct2);
	CHECK_RV(gcm_roundtrip(key, &p, PT, sizeof(PT), ct2, &cl2), CKR_OK,
	    "AES-GCM with a token IV, again");
	CHECK(memcmp(iv2, zero, 12) != 0 && memcmp(iv1, iv2, 12) != 0 &&
	    cl == cl2 && memcmp(ct, ct2, cl) != 0,
	    "two encryptions: two IVs, two ciphertexts");
	/* the ciphertext is bound to the returned IV, not to zeros */
	memset(iv, 0, sizeof(iv));
	p = (CK_GCM_PARAMS){ iv, 12, 96, (CK_BYTE_PTR)AAD, sizeof(AAD), 128 };
	ol = sizeof(out);
	CHECK_RV(F->C_DecryptInit(S, &m, key), CKR_OK,
	    "C_DecryptInit with the zero IV");
	CHECK_RV(F->C_Decrypt(S, ct, cl, out, &ol), CKR_ENCRYPTED_DATA_INVALID,
	    "the zero IV does not decrypt it");
	/* a zero IV with ulIvBits 96 is the caller's own: used as given */
	cl = sizeof(ct);
	CHECK_RV(gcm_roundtrip(key, &p, PT, sizeof(PT), ct, &cl), CKR_OK,
	    "AES-GCM with a caller's zero IV, ulIvBits 96");
	CHECK(memcmp(iv, zero, 12) == 0, "a caller's IV is not replaced");
	/* decryption never generates */
	memset(iv, 0, sizeof(iv));
	p = (CK_GCM_PARAMS){ iv, 12, 0, (CK_BYTE_PTR)AAD, sizeof(AAD), 128 };
	CHECK_RV(F->C_DecryptInit(S, &m, key), CKR_OK,
	    "C_DecryptInit, zero IV, ulIvBits 0");
	CHECK(memcmp(iv, zero, 12) == 0, "C_DecryptInit leaves pIv alone");
	ol = sizeof(out);
	CHECK_RV(F->C_Decrypt(S, ct, cl, out, &ol), CKR_OK,
	    "and decrypts with the zero IV");
	P11C_MUST(F->C_DestroyObject(S, key));
}

/* A derived key never outlives its base (refused, not clamped). */
static void
test_derive_expiry(void)
{
	static const char base[] = "20991231T235959";
	static const char later[] = "21000101T000000";
	static const char earlier[] = "20500101T000000";
	CK_ATTRIBUTE tb[] = { { CKA_M2M_EXPIRES, (void *)base, 15 } };
	CK_ATTRIBUTE tl[] = { { CKA_M2M_EXPIRES, (void *)later, 15 } };
	CK_ATTRIBUTE te[] = { { CKA_M2M_EXPIRES, (void *)earlier, 15 } };
	CK_OBJECT_HANDLE ke, h;
	uint8_t v[32];
	char buf[32];
	CK_ULONG n0, l;

	memset(v, 0x99, sizeof(v));
	P11C_MUST(p11c_import_ex(S, CK_M2M_ROLE_KE, "exp@mef.example.com",
	    CKK_GENERIC_SECRET, v, 32, CK_FALSE, tb, 1, &ke));
	n0 = p11c_count(S);
	CHECK_RV(p11c_derive(S, CKM_M2M_KPSA_DERIVE, "CAE-B", 5, ke, tl, 1,
	    &h), CKR_ATTRIBUTE_VALUE_INVALID, "derive a Kpsa that expires "
	    "after its KE");
	CHECK_RV(p11c_derive(S, CKM_M2M_KM_DERIVE, "maf-1", 5, ke, tl, 1,
	    &h), CKR_ATTRIBUTE_VALUE_INVALID, "derive a Km that expires "
	    "after its KE");
	CHECK(p11c_count(S) == n0, "nothing was created");
	CHECK_RV(p11c_derive(S, CKM_M2M_KPSA_DERIVE, "CAE-B", 5, ke, te, 1,
	    &h), CKR_OK, "derive a Kpsa that expires before its KE");
	l = sizeof(buf);
	CHECK(p11c_get_bytes(S, h, CKA_M2M_EXPIRES, buf, &l) == CKR_OK &&
	    l == 15 && memcmp(buf, earlier, 15) == 0,
	    "it keeps the earlier expiry");
	CHECK_RV(p11c_derive(S, CKM_M2M_KM_DERIVE, "maf-1", 5, ke, NULL, 0,
	    &h), CKR_OK, "derive a Km without CKA_M2M_EXPIRES");
	l = sizeof(buf);
	CHECK(p11c_get_bytes(S, h, CKA_M2M_EXPIRES, buf, &l) == CKR_OK &&
	    l == 15 && memcmp(buf, base, 15) == 0,
	    "it inherits the KE's expiry");
}

/* A role-less secret whose template says nothing is sensitive. */
static void
test_secret_defaults(void)
{
	CK_BBOOL f = CK_FALSE, t = CK_TRUE;
	CK_ATTRIBUTE open[] = { { CKA_SENSITIVE, &f, 1 },
	    { CKA_EXTRACTABLE, &t, 1 } };
	CK_ULONG len = 32;
	CK_ATTRIBUTE gt[] = { { CKA_VALUE_LEN, &len, sizeof(len) } };
	CK_MECHANISM gm = { CKM_GENERIC_SECRET_KEY_GEN, NULL, 0 };
	CK_OBJECT_HANDLE h;
	uint8_t v[32], out[32];
	CK_ULONG ol;

	memset(v, 0x17, sizeof(v));
	P11C_MUST(p11c_import(S, 0, "plain-import", v, sizeof(v), &h));
	CHECK(p11c_get_bool(S, h, CKA_SENSITIVE) == 1, "import without "
	    "CKA_SENSITIVE: CKA_SENSITIVE TRUE");
	CHECK(p11c_get_bool(S, h, CKA_EXTRACTABLE) == 0, "import without "
	    "CKA_EXTRACTABLE: CKA_EXTRACTABLE FALSE");
	CHECK(p11c_get_bool(S, h, CKA_ALWAYS_SENSITIVE) == 1 &&
	    p11c_get_bool(S, h, CKA_NEVER_EXTRACTABLE) == 1,
	    "CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE TRUE");
	ol = sizeof(out);
	CHECK_RV(p11c_get_bytes(S, h, CKA_VALUE, out, &ol),
	    CKR_ATTRIBUTE_SENSITIVE, "its CKA_VALUE cannot be read");
	CHECK_RV(F->C_GenerateKey(S, &gm, gt, 1, &h), CKR_OK,
	    "C_GenerateKey with CKA_VALUE_LEN only");
	CHECK(p11c_get_bool(S, h, CKA_SENSITIVE) == 1 &&
	    p11c_get_bool(S, h, CKA_EXTRACTABLE) == 0,
	    "the generated key is sensitive and not extractable");
	/* asking for it still works */
	P11C_MUST(p11c_import_ex(S, 0, "open-import", CKK_GENERIC_SECRET, v,
	    sizeof(v), CK_FALSE, open, 2, &h));
	ol = sizeof(out);
	CHECK_RV(p11c_get_bytes(S, h, CKA_VALUE, out, &ol), CKR_OK,
	    "CKA_SENSITIVE FALSE, CKA_EXTRACTABLE TRUE: CKA_VALUE readable");
	CHECK(ol == 32 && memcmp(out, v, 32) == 0, "and it is the value");
}

/*
 * The store takes up to 64 tokens (P11_MAX_TOKENS); one more is refused
 * with CKR_DEVICE_MEMORY, and every token made stays in the slot list.
 * Runs last: it fills the store.
 */
static void
test_token_limit(void)
{
	CK_SLOT_ID slots[80];
	CK_ULONG n = 80, i, ninit = 0, made = 0;
	CK_TOKEN_INFO ti;
	CK_UTF8CHAR lab[32];
	CK_RV rv = CKR_OK;
	char name[32];

	for (i = 0; i < 70 && rv == CKR_OK; i++) {
		snprintf(name, sizeof(name), "limit-%lu", i);
		p11c_pad32(name, lab);
		rv = F->C_InitToken(p11c_free_slot(),
		    (CK_UTF8CHAR_PTR)P11C_SO_PIN, strlen(P11C_SO_PIN), lab);
		if (rv == CKR_OK)
			made++;
	}
	CHECK_RV(rv, CKR_DEVICE_MEMORY, "C_InitToken past 64 tokens");
	P11C_MUST(F->C_GetSlotList(CK_TRUE, slots, &n));
	for (i = 0; i < n; i++) {
		P11C_MUST(F->C_GetTokenInfo(slots[i], &ti));
		if (ti.flags & CKF_TOKEN_INITIALIZED)
			ninit++;
	}
	CHECK(ninit == 64 && made == 63 && n == 65, "64 tokens (this one and "
	    "%lu made), all in the slot list of %lu slots", made, n);
}

/* google/pkcs11test SeedRandomBadArguments: the arguments come first. */
static void
test_seed_random(void)
{
	uint8_t seed[8] = { 1 };

	CHECK_RV(F->C_SeedRandom(S, NULL, 1), CKR_ARGUMENTS_BAD,
	    "C_SeedRandom(NULL, 1)");
	CHECK_RV(F->C_SeedRandom(CK_INVALID_HANDLE, NULL, 1),
	    CKR_ARGUMENTS_BAD, "C_SeedRandom(no session, NULL, 1): the "
	    "arguments are checked first");
	CHECK_RV(F->C_SeedRandom(CK_INVALID_HANDLE, seed, 8),
	    CKR_SESSION_HANDLE_INVALID, "C_SeedRandom(no session, seed, 8)");
	CHECK_RV(F->C_SeedRandom(S, seed, 8), CKR_RANDOM_SEED_NOT_SUPPORTED,
	    "C_SeedRandom(seed, 8)");
	CHECK_RV(F->C_SeedRandom(S, NULL, 0), CKR_RANDOM_SEED_NOT_SUPPORTED,
	    "C_SeedRandom(NULL, 0)");
}

/*
 * google/pkcs11test GetSetOperationState(Invalid): no operation is
 * CKR_OPERATION_NOT_INITIALIZED, an active one CKR_STATE_UNSAVEABLE (its
 * key is in the hardware); no saved state is valid.
 */
static void
test_operation_state(void)
{
	CK_MECHANISM hm = { CKM_SHA256_HMAC, NULL, 0 };
	CK_MECHANISM dm = { CKM_SHA256, NULL, 0 };
	CK_OBJECT_HANDLE h;
	uint8_t v[32], data[1024], out[32];
	CK_ULONG len = sizeof(data), ol = sizeof(out);

	memset(v, 0x21, sizeof(v));
	P11C_MUST(p11c_import(S, 0, NULL, v, sizeof(v), &h));
	CHECK_RV(F->C_GetOperationState(S, NULL, &len),
	    CKR_OPERATION_NOT_INITIALIZED, "C_GetOperationState, no "
	    "operation");
	CHECK_RV(F->C_GetOperationState(CK_INVALID_HANDLE, NULL, &len),
	    CKR_SESSION_HANDLE_INVALID, "C_GetOperationState, no session");
	CHECK_RV(F->C_GetOperationState(S, NULL, NULL), CKR_ARGUMENTS_BAD,
	    "C_GetOperationState(NULL, NULL)");
	CHECK_RV(F->C_SetOperationState(CK_INVALID_HANDLE, data, len, 0, 0),
	    CKR_SESSION_HANDLE_INVALID, "C_SetOperationState, no session");
	CHECK_RV(F->C_SetOperationState(S, NULL, 0, 0, 0), CKR_ARGUMENTS_BAD,
	    "C_SetOperationState(NULL, 0)");
	memset(data, 0, sizeof(data));
	CHECK_RV(F->C_SetOperationState(S, data, len, 0, 0),
	    CKR_SAVED_STATE_INVALID, "C_SetOperationState(1024 zero bytes)");
	P11C_MUST(F->C_SignInit(S, &hm, h));
	P11C_MUST(F->C_SignUpdate(S, v, 8));
	CHECK_RV(F->C_GetOperationState(S, NULL, &len), CKR_STATE_UNSAVEABLE,
	    "C_GetOperationState during an HMAC");
	CHECK_RV(F->C_SignFinal(S, out, &ol), CKR_OK,
	    "the HMAC goes on after it");
	P11C_MUST(F->C_DigestInit(S, &dm));
	CHECK_RV(F->C_GetOperationState(S, NULL, &len), CKR_STATE_UNSAVEABLE,
	    "C_GetOperationState during a digest");
	ol = sizeof(out);
	P11C_MUST(F->C_DigestFinal(S, out, &ol));
	P11C_MUST(F->C_DestroyObject(S, h));
}

/* Run sql on the store with the sqlite3 shell; 1 when it worked. */
static int
store_sql(const char *sql)
{
	const char *tmp = getenv("M2M_TMP");
	char cmd[1024];

	if (tmp == NULL)
		p11c_bail("M2M_TMP is not set");
	snprintf(cmd, sizeof(cmd), "sqlite3 '%s/store.db' \"%s\"", tmp,
	    sql);
	return system(cmd) == 0;
}

/*
 * One corrupt row (its attributes blob overwritten by sqlite3) is skipped
 * by C_FindObjectsInit with a log line naming its id; the token's other
 * objects are still found.
 */
static void
test_corrupt_row(void)
{
	static const char *const labels[3] = { "row-a", "row-b", "row-c" };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE t = { CKA_CLASS, &cls, sizeof(cls) };
	CK_OBJECT_HANDLE h[3], found[8];
	CK_ULONG n, i;
	char sql[256], log[4096], want[64], path[512];
	uint8_t v[32];
	int fd, saved, seen[3] = { 0, 0, 0 };
	ssize_t got;

	memset(v, 0x5a, sizeof(v));
	for (i = 0; i < 3; i++)
		P11C_MUST(p11c_import_ex(S, CK_M2M_ROLE_KE2E_MSG_AUTH,
		    labels[i], CKK_GENERIC_SECRET, v, sizeof(v), CK_TRUE,
		    NULL, 0, &h[i]));
	/* a new module instance: nothing cached from before the change */
	P11C_MUST(F->C_Finalize(NULL));
	snprintf(sql, sizeof(sql), "UPDATE objects SET attrs = x'00000001' "
	    "WHERE id = %lu", (unsigned long)h[1]);
	CHECK(store_sql(sql), "sqlite3: %s", sql);
	P11C_MUST(F->C_Initialize(NULL));
	S = p11c_user_session(SLOT);

	snprintf(path, sizeof(path), "%s/corrupt.log", getenv("M2M_TMP"));
	fflush(stderr);
	if ((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) < 0 ||
	    (saved = dup(2)) < 0 || dup2(fd, 2) < 0)
		p11c_bail("cannot redirect stderr to %s", path);
	n = 0;
	CHECK_RV(F->C_FindObjectsInit(S, &t, 1), CKR_OK,
	    "C_FindObjectsInit with one corrupt row");
	CHECK_RV(F->C_FindObjects(S, found, 8, &n), CKR_OK, "C_FindObjects");
	CHECK_RV(F->C_FindObjectsFinal(S), CKR_OK, "C_FindObjectsFinal");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	got = pread(fd, log, sizeof(log) - 1, 0);
	close(fd);
	log[got > 0 ? got : 0] = '\0';
	for (i = 0; i < n; i++) {
		seen[0] |= found[i] == h[0];
		seen[1] |= found[i] == h[1];
		seen[2] |= found[i] == h[2];
	}
	CHECK(seen[0] && seen[2] && !seen[1], "the good rows are found, the "
	    "corrupt one is not (%lu found)", n);
	snprintf(want, sizeof(want), "object %lu (store row id) skipped",
	    (unsigned long)h[1]);
	/* client mode: the module's lines are in the daemon's log */
	if (getenv("M2M_MTD_LOG") != NULL && (fd = open(getenv("M2M_MTD_LOG"),
	    O_RDONLY)) >= 0) {
		got = read(fd, log, sizeof(log) - 1);
		close(fd);
		log[got > 0 ? got : 0] = '\0';
	}
	CHECK(strstr(log, want) != NULL, "the log names the row: '%s'",
	    want);
	if (strstr(log, want) == NULL)
		p11c_note("stderr was: %s", log);
	CHECK(p11c_count_label(S, "row-b", (CK_ULONG)~0UL, NULL) == 0,
	    "a search for the corrupt row's label finds nothing");
	CHECK(p11c_count_label(S, "row-c", (CK_ULONG)~0UL, NULL) == 1,
	    "a search for a good row's label finds it");
}

/* Objects of class CKO_DATA with application `app`, seen by session s. */
static CK_ULONG
count_app(CK_SESSION_HANDLE s, const char *app, CK_OBJECT_HANDLE *first)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE t[2] = { { CKA_CLASS, &cls, sizeof(cls) },
	    { CKA_APPLICATION, (void *)app, strlen(app) } };

	return p11c_find(s, t, 2, first, 1);
}

/*
 * google/pkcs11test DataObjectTest: C_CreateObject of CKO_DATA with
 * CKA_APPLICATION, CKA_OBJECT_ID and CKA_VALUE, public or private, found
 * by CKA_APPLICATION, its value readable; it is never a key.
 */
static void
test_data_objects(void)
{
	static const char VAL[] = "some application data";
	static const uint8_t OID[] = { 0x06, 0x03, 0x2a, 0x03, 0x04 };
	CK_OBJECT_CLASS data = CKO_DATA;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG role = CK_M2M_ROLE_KER;
	CK_ATTRIBUTE pub[] = {
		{ CKA_CLASS, &data, sizeof(data) },
		{ CKA_TOKEN, &no, 1 }, { CKA_PRIVATE, &no, 1 },
		{ CKA_LABEL, "pub-data", 8 },
		{ CKA_APPLICATION, "m2m-app-pub", 11 },
		{ CKA_OBJECT_ID, (void *)OID, sizeof(OID) },
		{ CKA_VALUE, (void *)VAL, sizeof(VAL) },
	};
	CK_ATTRIBUTE priv[] = {
		{ CKA_CLASS, &data, sizeof(data) },
		{ CKA_TOKEN, &yes, 1 },
		{ CKA_APPLICATION, "m2m-app-priv", 12 },
		{ CKA_VALUE, (void *)VAL, 4 },
	};
	CK_ATTRIBUTE withrole[] = {
		{ CKA_CLASS, &data, sizeof(data) },
		{ CKA_M2M_ROLE, &role, sizeof(role) },
		{ CKA_VALUE, (void *)VAL, 4 },
	};
	CK_ATTRIBUTE keyapp[] = {
		{ CKA_APPLICATION, "m2m-app", 7 },
	};
	CK_MECHANISM hm = { CKM_SHA256_HMAC, NULL, 0 };
	CK_OBJECT_HANDLE hp, hv, h;
	CK_SESSION_HANDLE ro;
	uint8_t buf[64], v[32];
	CK_ULONG l;

	CHECK_RV(F->C_CreateObject(S, pub, 7, &hp), CKR_OK,
	    "C_CreateObject(CKO_DATA, public session object)");
	CHECK_RV(F->C_CreateObject(S, priv, 4, &hv), CKR_OK,
	    "C_CreateObject(CKO_DATA, private token object by default)");
	CHECK(count_app(S, "m2m-app-pub", &h) == 1 && h == hp,
	    "the public one is found by CKA_APPLICATION");
	CHECK(count_app(S, "m2m-app-priv", &h) == 1 && h == hv,
	    "the private one is found by CKA_APPLICATION");
	l = sizeof(buf);
	CHECK(p11c_get_bytes(S, hp, CKA_VALUE, buf, &l) == CKR_OK &&
	    l == sizeof(VAL) && memcmp(buf, VAL, l) == 0,
	    "its CKA_VALUE is readable");
	l = sizeof(buf);
	CHECK(p11c_get_bytes(S, hp, CKA_OBJECT_ID, buf, &l) == CKR_OK &&
	    l == sizeof(OID) && memcmp(buf, OID, l) == 0,
	    "its CKA_OBJECT_ID is readable");
	l = sizeof(buf);
	CHECK(p11c_get_bytes(S, hv, CKA_VALUE, buf, &l) == CKR_OK &&
	    l == 4 && memcmp(buf, VAL, 4) == 0, "the private one's too");
	CHECK(p11c_get_bool(S, hv, CKA_PRIVATE) == 1 &&
	    p11c_get_bool(S, hv, CKA_TOKEN) == 1 &&
	    p11c_get_bool(S, hp, CKA_PRIVATE) == 0,
	    "CKA_PRIVATE as given, TRUE by default");
	l = sizeof(buf);
	CHECK_RV(p11c_get_bytes(S, hp, CKA_SENSITIVE, buf, &l),
	    CKR_ATTRIBUTE_TYPE_INVALID, "a data object has no CKA_SENSITIVE");
	CHECK_RV(F->C_SignInit(S, &hm, hp), CKR_KEY_TYPE_INCONSISTENT,
	    "a data object is not a key");
	CHECK_RV(F->C_CreateObject(S, withrole, 3, &h),
	    CKR_TEMPLATE_INCONSISTENT, "a data object with CKA_M2M_ROLE");
	memset(v, 1, sizeof(v));
	CHECK_RV(p11c_import_ex(S, 0, NULL, CKK_GENERIC_SECRET, v, 32,
	    CK_FALSE, keyapp, 1, &h), CKR_TEMPLATE_INCONSISTENT,
	    "a secret key with CKA_APPLICATION");
	/*
	 * nor later (found in review: C_SetAttributeValue and C_CopyObject
	 * took CKA_APPLICATION and CKA_OBJECT_ID on a key); a data object's
	 * may change
	 */
	{
		CK_ATTRIBUTE keyoid[] = {
			{ CKA_OBJECT_ID, (void *)OID, sizeof(OID) },
		};
		CK_ATTRIBUTE app2[] = { { CKA_APPLICATION, "m2m-app-2", 9 } };
		CK_OBJECT_HANDLE k, c = CK_INVALID_HANDLE;
		CK_ULONG n0;

		P11C_MUST(p11c_import_ex(S, 0, NULL, CKK_GENERIC_SECRET, v, 32,
		    CK_FALSE, NULL, 0, &k));
		n0 = p11c_count(S);
		CHECK_RV(F->C_SetAttributeValue(S, k, keyapp, 1),
		    CKR_TEMPLATE_INCONSISTENT,
		    "C_SetAttributeValue(CKA_APPLICATION) of a secret key");
		CHECK_RV(F->C_SetAttributeValue(S, k, keyoid, 1),
		    CKR_TEMPLATE_INCONSISTENT,
		    "C_SetAttributeValue(CKA_OBJECT_ID) of a secret key");
		CHECK_RV(F->C_CopyObject(S, k, keyapp, 1, &c),
		    CKR_TEMPLATE_INCONSISTENT,
		    "C_CopyObject(CKA_APPLICATION) of a secret key");
		CHECK_RV(F->C_CopyObject(S, k, keyoid, 1, &c),
		    CKR_TEMPLATE_INCONSISTENT,
		    "C_CopyObject(CKA_OBJECT_ID) of a secret key");
		l = sizeof(buf);
		CHECK(c == CK_INVALID_HANDLE && p11c_count(S) == n0 &&
		    p11c_get_bytes(S, k, CKA_APPLICATION, buf, &l) ==
		    CKR_ATTRIBUTE_TYPE_INVALID, "no copy, no CKA_APPLICATION");
		P11C_MUST(F->C_DestroyObject(S, k));
		CHECK_RV(F->C_SetAttributeValue(S, hp, app2, 1), CKR_OK,
		    "C_SetAttributeValue(CKA_APPLICATION) of a data object");
		CHECK(count_app(S, "m2m-app-2", &h) == 1 && h == hp,
		    "found by its new CKA_APPLICATION");
		P11C_MUST(F->C_SetAttributeValue(S, hp, &pub[4], 1));
	}
	/* a data object's CK_BBOOL other than 0 or 1 is stored as CK_TRUE */
	{
		CK_BBOOL two = 2;
		CK_ATTRIBUTE d2[] = {
			{ CKA_CLASS, &data, sizeof(data) },
			{ CKA_PRIVATE, &two, 1 },
			{ CKA_APPLICATION, "m2m-app-bool", 12 },
		};
		CK_ATTRIBUTE find[] = {
			{ CKA_APPLICATION, "m2m-app-bool", 12 },
			{ CKA_PRIVATE, &yes, 1 },
		};
		CK_BBOOL got = 0;
		CK_ATTRIBUTE g = { CKA_PRIVATE, &got, 1 };

		CHECK_RV(F->C_CreateObject(S, d2, 3, &h), CKR_OK,
		    "C_CreateObject(CKO_DATA, CKA_PRIVATE 0x02)");
		P11C_MUST(F->C_GetAttributeValue(S, h, &g, 1));
		CHECK(got == CK_TRUE && p11c_find(S, find, 2, NULL, 0) == 1,
		    "its CKA_PRIVATE reads back CK_TRUE (got 0x%02x) and is "
		    "found so", got);
		P11C_MUST(F->C_DestroyObject(S, h));
	}
	/* without a login only the public one is seen */
	P11C_MUST(F->C_OpenSession(SLOT, CKF_SERIAL_SESSION, NULL, NULL, &ro));
	P11C_MUST(F->C_Logout(S));
	CHECK(count_app(ro, "m2m-app-pub", NULL) == 1 &&
	    count_app(ro, "m2m-app-priv", NULL) == 0,
	    "logged out: the public data object only");
	l = sizeof(buf);
	CHECK(p11c_get_bytes(ro, hp, CKA_VALUE, buf, &l) == CKR_OK &&
	    l == sizeof(VAL), "logged out: the public value is readable");
	P11C_MUST(F->C_CloseSession(ro));
	P11C_MUST(F->C_Login(S, CKU_USER, (CK_UTF8CHAR_PTR)P11C_USER_PIN,
	    strlen(P11C_USER_PIN)));
	CHECK_RV(F->C_DestroyObject(S, hp), CKR_OK, "C_DestroyObject(public)");
	CHECK_RV(F->C_DestroyObject(S, hv), CKR_OK,
	    "C_DestroyObject(private token)");
	CHECK(count_app(S, "m2m-app-priv", NULL) == 0, "gone");
}

/*
 * An HMAC key longer than 128 bytes (RFC 4231 test cases 6 and 7; the
 * answers are checked in p11_vectors) is HMAC only: no HKDF, no wrap, not
 * even after CKA_DERIVE is set; a template asking otherwise, or a key over
 * 4096 bytes, is refused.
 */
static void
test_long_hmac_key(void)
{
	static uint8_t k[4097];
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE ext[] = { { CKA_EXTRACTABLE, &yes, 1 } };
	CK_ATTRIBUTE der[] = { { CKA_DERIVE, &yes, 1 } };
	CK_HKDF_PARAMS hp;
	CK_MECHANISM hm = { CKM_HKDF_DERIVE, &hp, sizeof(hp) };
	CK_MECHANISM_INFO mi;
	CK_OBJECT_HANDLE h, d;
	CK_ULONG len = 32;
	CK_ATTRIBUTE dt[] = { { CKA_VALUE_LEN, &len, sizeof(len) } };

	memset(k, 0xaa, sizeof(k));
	CHECK_RV(F->C_GetMechanismInfo(SLOT, CKM_SHA256_HMAC, &mi), CKR_OK,
	    "C_GetMechanismInfo(SHA256_HMAC)");
	CHECK(mi.ulMaxKeySize == 4096, "ulMaxKeySize %lu", mi.ulMaxKeySize);
	CHECK_RV(p11c_import(S, 0, NULL, k, 4097, &h),
	    CKR_ATTRIBUTE_VALUE_INVALID, "a 4097-byte HMAC key");
	CHECK_RV(p11c_import_ex(S, 0, NULL, CKK_GENERIC_SECRET, k, 131,
	    CK_FALSE, ext, 1, &h), CKR_TEMPLATE_INCONSISTENT,
	    "a 131-byte key asked to be extractable");
	CHECK_RV(p11c_import_ex(S, 0, NULL, CKK_GENERIC_SECRET, k, 131,
	    CK_FALSE, der, 1, &h), CKR_TEMPLATE_INCONSISTENT,
	    "a 131-byte key asked to derive");
	CHECK_RV(p11c_import_ex(S, 0, NULL, CKK_AES, k, 131, CK_FALSE, NULL,
	    0, &h), CKR_ATTRIBUTE_VALUE_INVALID, "a 131-byte AES key");
	P11C_MUST(p11c_import(S, 0, NULL, k, 4096, &h));
	memset(&hp, 0, sizeof(hp));
	hp.bExtract = CK_TRUE;
	hp.bExpand = CK_TRUE;
	hp.prfHashMechanism = CKM_SHA256;
	hp.ulSaltType = CKF_HKDF_SALT_NULL;
	CHECK_RV(F->C_DeriveKey(S, &hm, h, dt, 1, &d),
	    CKR_KEY_FUNCTION_NOT_PERMITTED, "HKDF from a 4096-byte HMAC key");
	/* a use that is off stays off (docs/profile.md) */
	CHECK_RV(F->C_SetAttributeValue(S, h, der, 1),
	    CKR_ATTRIBUTE_READ_ONLY, "C_SetAttributeValue(CKA_DERIVE TRUE)");
	CHECK_RV(F->C_DeriveKey(S, &hm, h, dt, 1, &d),
	    CKR_KEY_FUNCTION_NOT_PERMITTED, "HKDF still refused: the key "
	    "is held hashed");
	P11C_MUST(F->C_DestroyObject(S, h));
}

int
main(int argc, char **argv)
{
	p11c_load(argc, argv);
	S = p11c_setup(TOKEN, &SLOT);
	test_gcm();
	test_derive_expiry();
	test_secret_defaults();
	test_seed_random();
	test_operation_state();
	test_data_objects();
	test_long_hmac_key();
	test_corrupt_row();
	test_token_limit();
	P11C_MUST(F->C_Finalize(NULL));
	return p11c_finish();
}
