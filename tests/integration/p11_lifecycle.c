/*
 * p11_lifecycle: interfaces and function lists, library info, the slot
 * list with its one free slot, C_InitToken, C_SetPIN (user and SO), login
 * and session states, C_CloseAllSessions, C_GenerateRandom, C_GenerateKey
 * and the mechanism list of contract sections 2 and 4.
 */
#include "p11client.h"

static int
blank_padded(const CK_UTF8CHAR *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < 0x20)
			return 0;
	return s[0] != ' ';
}

static CK_STATE
state(CK_SESSION_HANDLE s)
{
	CK_SESSION_INFO si;

	if (F->C_GetSessionInfo(s, &si) != CKR_OK)
		return (CK_STATE)~0UL;
	return si.state;
}

static void
test_interfaces(void)
{
	CK_C_GetInterfaceList gil;
	CK_C_GetInterface gi;
	CK_INTERFACE list[4];
	CK_INTERFACE_PTR ifc = NULL;
	CK_VERSION v240 = { 2, 40 }, v300 = { 3, 0 }, v999 = { 9, 9 };
	CK_FUNCTION_LIST_PTR f2;
	CK_FUNCTION_LIST_3_0_PTR f3;
	CK_ULONG n = 0;

	*(void **)&gil = dlsym(p11c_dl, "C_GetInterfaceList");
	*(void **)&gi = dlsym(p11c_dl, "C_GetInterface");
	if (!CHECK(gil != NULL && gi != NULL, "C_GetInterfaceList and "
	    "C_GetInterface are exported"))
		return;
	CHECK_RV(gil(NULL, &n), CKR_OK, "C_GetInterfaceList(NULL): count");
	CHECK(n == 2, "two interfaces (%lu)", n);
	n = 1;
	CHECK_RV(gil(list, &n), CKR_BUFFER_TOO_SMALL,
	    "C_GetInterfaceList(1 entry)");
	CHECK(n == 2, "the count needed (%lu)", n);
	n = 4;
	CHECK_RV(gil(list, &n), CKR_OK, "C_GetInterfaceList");
	if (n == 2) {
		CK_VERSION *a = list[0].pFunctionList;
		CK_VERSION *b = list[1].pFunctionList;

		CHECK(strcmp((char *)list[0].pInterfaceName, "PKCS 11") == 0 &&
		    strcmp((char *)list[1].pInterfaceName, "PKCS 11") == 0,
		    "both are named \"PKCS 11\"");
		CHECK(a->major == 3 && a->minor == 0, "first: a v3.0 list "
		    "(%u.%u)", a->major, a->minor);
		CHECK(b->major == 2 && b->minor == 40, "second: a v2.40 list "
		    "(%u.%u)", b->major, b->minor);
		CHECK((void *)b == (void *)F, "the v2.40 list is the one of "
		    "C_GetFunctionList");
	}
	CHECK_RV(gi(NULL, NULL, &ifc, 0), CKR_OK, "C_GetInterface(default)");
	CHECK(ifc != NULL && ((CK_VERSION *)ifc->pFunctionList)->major == 3,
	    "the default interface is v3.0");
	CHECK_RV(gi((CK_UTF8CHAR_PTR)"PKCS 11", &v240, &ifc, 0), CKR_OK,
	    "C_GetInterface(\"PKCS 11\", 2.40)");
	f2 = ifc->pFunctionList;
	CHECK(f2->version.major == 2 && f2->version.minor == 40 &&
	    f2->C_Initialize == F->C_Initialize, "it is the v2.40 list");
	CHECK_RV(gi((CK_UTF8CHAR_PTR)"PKCS 11", &v300, &ifc, 0), CKR_OK,
	    "C_GetInterface(\"PKCS 11\", 3.0)");
	f3 = ifc->pFunctionList;
	CHECK(f3->version.major == 3 && f3->version.minor == 0 &&
	    f3->C_Initialize == F->C_Initialize &&
	    f3->C_DeriveKey == F->C_DeriveKey &&
	    f3->C_GetInterface == gi && f3->C_GetInterfaceList == gil &&
	    f3->C_LoginUser != NULL && f3->C_SessionCancel != NULL,
	    "the v3.0 list: the same v2.40 functions plus the v3.0 ones");
	CHECK_RV(gi((CK_UTF8CHAR_PTR)"PKCS 11", &v999, &ifc, 0),
	    CKR_FUNCTION_FAILED, "C_GetInterface(version 9.9)");
	CHECK_RV(gi((CK_UTF8CHAR_PTR)"Vendor m2m", NULL, &ifc, 0),
	    CKR_FUNCTION_FAILED, "C_GetInterface(unknown name)");
	CHECK_RV(gi(NULL, NULL, &ifc, CKF_INTERFACE_FORK_SAFE),
	    CKR_FUNCTION_FAILED, "C_GetInterface(CKF_INTERFACE_FORK_SAFE): "
	    "not offered");
}

static void
test_info_and_slots(CK_SLOT_ID *ret_slot)
{
	CK_INFO info;
	CK_SLOT_ID slots[8];
	CK_ULONG n = 8;
	CK_SLOT_INFO si;
	CK_TOKEN_INFO ti;
	CK_UTF8CHAR lab[32];
	CK_SLOT_ID s1, s2;

	CHECK_RV(F->C_GetInfo(&info), CKR_OK, "C_GetInfo");
	CHECK(info.cryptokiVersion.major == 3 &&
	    info.cryptokiVersion.minor == 0, "cryptokiVersion 3.0");
	CHECK(blank_padded(info.manufacturerID, 32) &&
	    blank_padded(info.libraryDescription, 32),
	    "manufacturerID and libraryDescription are blank-padded text");
	CHECK(info.flags == 0, "flags 0");

	CHECK_RV(F->C_GetSlotList(CK_FALSE, slots, &n), CKR_OK,
	    "C_GetSlotList on a new store");
	CHECK(n == 1, "one slot (%lu)", n);
	CHECK_RV(F->C_GetSlotInfo(slots[0], &si), CKR_OK, "C_GetSlotInfo");
	CHECK((si.flags & CKF_TOKEN_PRESENT) != 0, "CKF_TOKEN_PRESENT");
	CHECK_RV(F->C_GetTokenInfo(slots[0], &ti), CKR_OK, "C_GetTokenInfo");
	CHECK((ti.flags & CKF_TOKEN_INITIALIZED) == 0, "the slot holds an "
	    "uninitialised token");
	s1 = slots[0];
	p11c_pad32("lifecycle-1", lab);
	CHECK_RV(F->C_InitToken(s1, (CK_UTF8CHAR_PTR)"12", 2, lab),
	    CKR_PIN_LEN_RANGE, "C_InitToken with a 2-character SO PIN");
	CHECK_RV(F->C_InitToken(s1, (CK_UTF8CHAR_PTR)P11C_SO_PIN,
	    strlen(P11C_SO_PIN), lab), CKR_OK, "C_InitToken on the free slot");
	n = 8;
	P11C_MUST(F->C_GetSlotList(CK_FALSE, slots, &n));
	CHECK(n == 2 && slots[0] == s1, "two slots now, the token first");
	P11C_MUST(F->C_GetTokenInfo(s1, &ti));
	CHECK(memcmp(ti.label, lab, 32) == 0 &&
	    (ti.flags & CKF_TOKEN_INITIALIZED) != 0 &&
	    (ti.flags & CKF_USER_PIN_INITIALIZED) == 0 &&
	    (ti.flags & CKF_LOGIN_REQUIRED) != 0 && (ti.flags & CKF_RNG) != 0,
	    "token: label, INITIALIZED, LOGIN_REQUIRED, RNG, no user PIN");
	CHECK(blank_padded(ti.serialNumber, 16), "a serial number");
	s2 = slots[1];
	P11C_MUST(F->C_GetTokenInfo(s2, &ti));
	CHECK(s2 != s1 && (ti.flags & CKF_TOKEN_INITIALIZED) == 0,
	    "the new last slot is free");
	n = 8;
	P11C_MUST(F->C_GetSlotList(CK_TRUE, slots, &n));
	CHECK(n == 2, "C_GetSlotList(tokenPresent) lists the free slot too");
	p11c_pad32("lifecycle-2", lab);
	CHECK_RV(F->C_InitToken(s2, (CK_UTF8CHAR_PTR)P11C_SO_PIN,
	    strlen(P11C_SO_PIN), lab), CKR_OK, "C_InitToken on the next free "
	    "slot");
	n = 8;
	P11C_MUST(F->C_GetSlotList(CK_FALSE, slots, &n));
	CHECK(n == 3 && slots[0] == s1 && slots[1] == s2,
	    "three slots: two tokens and a free one");
	P11C_MUST(F->C_GetTokenInfo(slots[2], &ti));
	CHECK((ti.flags & CKF_TOKEN_INITIALIZED) == 0, "the last is free");
	*ret_slot = s1;
}

static void
test_pins_and_states(CK_SLOT_ID slot)
{
	CK_SESSION_HANDLE rw, ro, s;
	CK_SESSION_INFO si;
	CK_TOKEN_INFO ti;

	P11C_MUST(F->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
	    NULL, NULL, &rw));
	P11C_MUST(F->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &ro));
	CHECK(state(rw) == CKS_RW_PUBLIC_SESSION, "RW session: "
	    "CKS_RW_PUBLIC_SESSION");
	CHECK(state(ro) == CKS_RO_PUBLIC_SESSION, "RO session: "
	    "CKS_RO_PUBLIC_SESSION");
	CHECK_RV(F->C_GetSessionInfo(ro, &si), CKR_OK, "C_GetSessionInfo");
	CHECK(si.slotID == slot && si.flags == CKF_SERIAL_SESSION,
	    "session info: slot and flags");
	P11C_MUST(F->C_GetTokenInfo(slot, &ti));
	CHECK(ti.ulSessionCount == 2 && ti.ulRwSessionCount == 1,
	    "token info counts 2 sessions, 1 RW");
	CHECK_RV(F->C_Login(rw, CKU_USER, (CK_UTF8CHAR_PTR)P11C_USER_PIN,
	    strlen(P11C_USER_PIN)), CKR_USER_PIN_NOT_INITIALIZED,
	    "user login before C_InitPIN");
	CHECK_RV(F->C_Login(rw, CKU_SO, (CK_UTF8CHAR_PTR)P11C_SO_PIN,
	    strlen(P11C_SO_PIN)), CKR_SESSION_READ_ONLY_EXISTS,
	    "SO login while an RO session exists");
	P11C_MUST(F->C_CloseSession(ro));
	CHECK_RV(F->C_Login(rw, CKU_SO, (CK_UTF8CHAR_PTR)P11C_SO_PIN,
	    strlen(P11C_SO_PIN)), CKR_OK, "SO login");
	CHECK(state(rw) == CKS_RW_SO_FUNCTIONS, "CKS_RW_SO_FUNCTIONS");
	CHECK_RV(F->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &ro),
	    CKR_SESSION_READ_WRITE_SO_EXISTS, "RO session while SO is in");
	CHECK_RV(F->C_Login(rw, CKU_SO, (CK_UTF8CHAR_PTR)P11C_SO_PIN,
	    strlen(P11C_SO_PIN)), CKR_USER_ALREADY_LOGGED_IN, "SO login twice");
	CHECK_RV(F->C_Login(rw, CKU_USER, (CK_UTF8CHAR_PTR)P11C_USER_PIN,
	    strlen(P11C_USER_PIN)), CKR_USER_ANOTHER_ALREADY_LOGGED_IN,
	    "user login while SO is in");
	CHECK_RV(F->C_InitPIN(rw, (CK_UTF8CHAR_PTR)"123", 3),
	    CKR_PIN_LEN_RANGE, "C_InitPIN with a 3-character PIN");
	CHECK_RV(F->C_InitPIN(rw, (CK_UTF8CHAR_PTR)P11C_USER_PIN,
	    strlen(P11C_USER_PIN)), CKR_OK, "C_InitPIN");
	/* SO changes its own PIN */
	CHECK_RV(F->C_SetPIN(rw, (CK_UTF8CHAR_PTR)"wrong-so-pin", 12,
	    (CK_UTF8CHAR_PTR)"new-so-pin", 10), CKR_PIN_INCORRECT,
	    "SO C_SetPIN with a wrong old PIN");
	CHECK_RV(F->C_SetPIN(rw, (CK_UTF8CHAR_PTR)P11C_SO_PIN,
	    strlen(P11C_SO_PIN), (CK_UTF8CHAR_PTR)"new-so-pin", 10), CKR_OK,
	    "SO C_SetPIN");
	CHECK_RV(F->C_Logout(rw), CKR_OK, "SO logout");
	CHECK(state(rw) == CKS_RW_PUBLIC_SESSION, "back to public");
	CHECK_RV(F->C_Login(rw, CKU_SO, (CK_UTF8CHAR_PTR)P11C_SO_PIN,
	    strlen(P11C_SO_PIN)), CKR_PIN_INCORRECT, "the old SO PIN fails");
	CHECK_RV(F->C_Login(rw, CKU_SO, (CK_UTF8CHAR_PTR)"new-so-pin", 10),
	    CKR_OK, "the new SO PIN works");
	P11C_MUST(F->C_SetPIN(rw, (CK_UTF8CHAR_PTR)"new-so-pin", 10,
	    (CK_UTF8CHAR_PTR)P11C_SO_PIN, strlen(P11C_SO_PIN)));
	P11C_MUST(F->C_Logout(rw));

	/* the user */
	P11C_MUST(F->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &ro));
	CHECK_RV(F->C_Login(ro, CKU_USER, (CK_UTF8CHAR_PTR)P11C_USER_PIN,
	    strlen(P11C_USER_PIN)), CKR_OK, "user login (from an RO session)");
	CHECK(state(ro) == CKS_RO_USER_FUNCTIONS, "RO: CKS_RO_USER_FUNCTIONS");
	CHECK(state(rw) == CKS_RW_USER_FUNCTIONS, "RW: CKS_RW_USER_FUNCTIONS");
	CHECK_RV(F->C_Login(rw, CKU_USER, (CK_UTF8CHAR_PTR)P11C_USER_PIN,
	    strlen(P11C_USER_PIN)), CKR_USER_ALREADY_LOGGED_IN,
	    "user login twice");
	CHECK_RV(F->C_Login(rw, CKU_SO, (CK_UTF8CHAR_PTR)P11C_SO_PIN,
	    strlen(P11C_SO_PIN)), CKR_USER_ANOTHER_ALREADY_LOGGED_IN,
	    "SO login while the user is in");
	CHECK_RV(F->C_SetPIN(rw, (CK_UTF8CHAR_PTR)P11C_USER_PIN,
	    strlen(P11C_USER_PIN), (CK_UTF8CHAR_PTR)"ab", 2),
	    CKR_PIN_LEN_RANGE, "user C_SetPIN to a 2-character PIN");
	CHECK_RV(F->C_SetPIN(rw, (CK_UTF8CHAR_PTR)P11C_USER_PIN,
	    strlen(P11C_USER_PIN), (CK_UTF8CHAR_PTR)"new-user-pin", 12),
	    CKR_OK, "user C_SetPIN");
	CHECK_RV(F->C_Logout(ro), CKR_OK, "user logout");
	CHECK(state(ro) == CKS_RO_PUBLIC_SESSION &&
	    state(rw) == CKS_RW_PUBLIC_SESSION, "both sessions public again");
	CHECK_RV(F->C_Login(rw, CKU_USER, (CK_UTF8CHAR_PTR)P11C_USER_PIN,
	    strlen(P11C_USER_PIN)), CKR_PIN_INCORRECT, "the old user PIN "
	    "fails");
	CHECK_RV(F->C_SetPIN(rw, (CK_UTF8CHAR_PTR)"new-user-pin", 12,
	    (CK_UTF8CHAR_PTR)P11C_USER_PIN, strlen(P11C_USER_PIN)), CKR_OK,
	    "C_SetPIN when nobody is logged in changes the user PIN");
	CHECK_RV(F->C_Login(rw, CKU_USER, (CK_UTF8CHAR_PTR)P11C_USER_PIN,
	    strlen(P11C_USER_PIN)), CKR_OK, "user login with it");

	/* C_CloseAllSessions logs out */
	CHECK_RV(F->C_CloseAllSessions(slot), CKR_OK, "C_CloseAllSessions");
	CHECK_RV(F->C_GetSessionInfo(rw, &si), CKR_SESSION_HANDLE_INVALID,
	    "the RW session is closed");
	CHECK_RV(F->C_GetSessionInfo(ro, &si), CKR_SESSION_HANDLE_INVALID,
	    "the RO session is closed");
	P11C_MUST(F->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
	    NULL, NULL, &s));
	CHECK(state(s) == CKS_RW_PUBLIC_SESSION,
	    "a new session after C_CloseAllSessions is public (logged out)");
	/* closing the last session logs out too */
	P11C_MUST(F->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)P11C_USER_PIN,
	    strlen(P11C_USER_PIN)));
	P11C_MUST(F->C_CloseSession(s));
	P11C_MUST(F->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s));
	CHECK(state(s) == CKS_RO_PUBLIC_SESSION,
	    "closing the last session logged the user out");
	P11C_MUST(F->C_CloseSession(s));
}

static void
test_random_and_keygen(CK_SLOT_ID slot)
{
	CK_SESSION_HANDLE s;
	uint8_t a[32], b[32], z[32] = { 0 };
	CK_MECHANISM gk = { CKM_GENERIC_SECRET_KEY_GEN, NULL, 0 };
	CK_MECHANISM ak = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_ULONG len = 32, v;
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof(cls) },
	    { CKA_VALUE_LEN, &len, sizeof(len) } };
	CK_OBJECT_HANDLE h;
	uint8_t mac[32], ct[64];
	CK_ULONG ml = sizeof(mac), cl = sizeof(ct);
	static const uint8_t iv[12];

	P11C_MUST(F->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s));
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	CHECK_RV(F->C_GenerateRandom(s, a, sizeof(a)), CKR_OK,
	    "C_GenerateRandom(32) in a public RO session");
	CHECK_RV(F->C_GenerateRandom(s, b, sizeof(b)), CKR_OK,
	    "C_GenerateRandom(32) again");
	CHECK(memcmp(a, b, 32) != 0 && memcmp(a, z, 32) != 0,
	    "two calls give different, non-zero bytes");
	CHECK_RV(F->C_GenerateRandom(s, a, 0), CKR_OK, "C_GenerateRandom(0)");
	CHECK_RV(F->C_GenerateRandom(s, NULL, 0), CKR_OK,
	    "C_GenerateRandom(NULL, 0)");
	CHECK_RV(F->C_SeedRandom(s, a, 8), CKR_RANDOM_SEED_NOT_SUPPORTED,
	    "C_SeedRandom");
	P11C_MUST(F->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)P11C_USER_PIN,
	    strlen(P11C_USER_PIN)));
	CHECK_RV(F->C_GenerateKey(s, &gk, t, 2, &h), CKR_OK,
	    "C_GenerateKey(GENERIC_SECRET_KEY_GEN, 32)");
	CHECK(p11c_get_bool(s, h, CKA_LOCAL) == 1 &&
	    p11c_get_ulong(s, h, CKA_KEY_TYPE, &v) == CKR_OK &&
	    v == CKK_GENERIC_SECRET, "generated: CKA_LOCAL, generic secret");
	CHECK_RV(p11c_sign(s, CKM_SHA256_HMAC, h, "x", 1, mac, &ml), CKR_OK,
	    "the generated key signs");
	CHECK_RV(F->C_GenerateKey(s, &ak, t, 2, &h), CKR_OK,
	    "C_GenerateKey(AES_KEY_GEN, 32)");
	CHECK(p11c_get_ulong(s, h, CKA_KEY_TYPE, &v) == CKR_OK && v == CKK_AES,
	    "generated: CKK_AES");
	CHECK_RV(p11c_gcm_encrypt(s, h, iv, NULL, 0, "x", 1, ct, &cl), CKR_OK,
	    "the generated AES key encrypts");
	len = 17;
	CHECK_RV(F->C_GenerateKey(s, &ak, t, 2, &h), CKR_KEY_SIZE_RANGE,
	    "C_GenerateKey(AES_KEY_GEN, 17)");
	CHECK_RV(F->C_GetFunctionStatus(s), CKR_FUNCTION_NOT_PARALLEL,
	    "C_GetFunctionStatus");
	CHECK_RV(F->C_CancelFunction(s), CKR_FUNCTION_NOT_PARALLEL,
	    "C_CancelFunction");
	P11C_MUST(F->C_CloseSession(s));
}

static void
test_mechanisms(CK_SLOT_ID slot)
{
	static const struct {
		CK_MECHANISM_TYPE	m;
		const char		*name;
		CK_FLAGS		flags;
	} want[] = {
		{ CKM_M2M_KM_DERIVE, "CKM_M2M_KM_DERIVE", CKF_DERIVE },
		{ CKM_M2M_KPSA_DERIVE, "CKM_M2M_KPSA_DERIVE", CKF_DERIVE },
		{ CKM_M2M_KUC_DERIVE, "CKM_M2M_KUC_DERIVE", CKF_DERIVE },
		{ CKM_M2M_E2E_MASTER_SHA256, "CKM_M2M_E2E_MASTER_SHA256",
		  CKF_DERIVE },
		{ CKM_M2M_E2E_MASTER_SHA512, "CKM_M2M_E2E_MASTER_SHA512",
		  CKF_DERIVE },
		{ CKM_M2M_E2E_EXPAND, "CKM_M2M_E2E_EXPAND", CKF_DERIVE },
		{ CKM_M2M_TLS12_PSK_MASTER, "CKM_M2M_TLS12_PSK_MASTER",
		  CKF_DERIVE },
		{ CKM_M2M_ECCSI, "CKM_M2M_ECCSI", CKF_SIGN },
		{ CKM_GENERIC_SECRET_KEY_GEN, "CKM_GENERIC_SECRET_KEY_GEN",
		  CKF_GENERATE },
		{ CKM_AES_KEY_GEN, "CKM_AES_KEY_GEN", CKF_GENERATE },
		{ CKM_SHA256_HMAC, "CKM_SHA256_HMAC", CKF_SIGN | CKF_VERIFY },
		{ CKM_SHA256_HMAC_GENERAL, "CKM_SHA256_HMAC_GENERAL",
		  CKF_SIGN | CKF_VERIFY },
		{ CKM_SHA512_HMAC, "CKM_SHA512_HMAC", CKF_SIGN | CKF_VERIFY },
		{ CKM_SHA512_HMAC_GENERAL, "CKM_SHA512_HMAC_GENERAL",
		  CKF_SIGN | CKF_VERIFY },
		{ CKM_AES_GCM, "CKM_AES_GCM", CKF_ENCRYPT | CKF_DECRYPT },
		{ CKM_HKDF_DERIVE, "CKM_HKDF_DERIVE", CKF_DERIVE },
		{ CKM_SHA256, "CKM_SHA256", CKF_DIGEST },
	};
	CK_MECHANISM_TYPE list[64];
	CK_MECHANISM_INFO mi;
	CK_ULONG n = 64, i, k;
	size_t w;
	int found;

	CHECK_RV(F->C_GetMechanismList(slot, list, &n), CKR_OK,
	    "C_GetMechanismList");
	for (w = 0; w < sizeof(want) / sizeof(want[0]); w++) {
		for (found = 0, i = 0; i < n; i++)
			found |= list[i] == want[w].m;
		if (want[w].m == CKM_M2M_ECCSI) {
			/* not built yet (IBC enrolment): never offered */
			CHECK(!found, "mechanism list has no %s (IBC_SSK "
			    "signing is not built yet)", want[w].name);
			continue;
		}
		CHECK(found, "mechanism list has %s", want[w].name);
		if (!found)
			continue;
		CHECK_RV(F->C_GetMechanismInfo(slot, want[w].m, &mi), CKR_OK,
		    "C_GetMechanismInfo(%s)", want[w].name);
		CHECK((mi.flags & want[w].flags) == want[w].flags,
		    "%s: flags 0x%lx include 0x%lx", want[w].name, mi.flags,
		    want[w].flags);
	}
	for (i = 0; i < n; i++)
		for (k = i + 1; k < n; k++)
			if (list[i] == list[k])
				CHECK(0, "mechanism 0x%lx listed twice",
				    list[i]);
}

int
main(int argc, char **argv)
{
	CK_SLOT_ID slot;

	p11c_load(argc, argv);
	test_interfaces();
	CHECK_RV(F->C_Initialize(NULL), CKR_OK, "C_Initialize");
	test_info_and_slots(&slot);
	test_pins_and_states(slot);
	test_random_and_keygen(slot);
	test_mechanisms(slot);
	CHECK_RV(F->C_Finalize(NULL), CKR_OK, "C_Finalize");
	return p11c_finish();
}
