/*
 * p11_persist: token objects survive C_Finalize / C_Initialize and stay
 * usable (same MAC, same ciphertext as before); session objects do not;
 * token info is unchanged; C_InitToken on the same slot with the SO PIN
 * wipes every object.
 */
#include "p11client.h"

#define KEID		"0f0e0d0c0b0a09080706050403020100@mef.example.com"
#define PEER		"/in-cse.example.com/CAE01"
#define PEER2		"/in-cse.example.com/session-only"

static const uint8_t MSG[] = "persistence test message";
static const uint8_t IV[12] = { 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7 };

static CK_SLOT_ID SLOT;

static int
same_info(const CK_TOKEN_INFO *a, const CK_TOKEN_INFO *b)
{
	const CK_FLAGS keep = CKF_TOKEN_INITIALIZED | CKF_USER_PIN_INITIALIZED |
	    CKF_RNG | CKF_LOGIN_REQUIRED | CKF_WRITE_PROTECTED;

	return memcmp(a->label, b->label, 32) == 0 &&
	    memcmp(a->serialNumber, b->serialNumber, 16) == 0 &&
	    memcmp(a->model, b->model, 16) == 0 &&
	    (a->flags & keep) == (b->flags & keep) &&
	    a->ulMinPinLen == b->ulMinPinLen &&
	    a->ulMaxPinLen == b->ulMaxPinLen;
}

int
main(int argc, char **argv)
{
	CK_SESSION_HANDLE s;
	CK_TOKEN_INFO ti0, ti1;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE tok[] = { { CKA_TOKEN, &yes, 1 } };
	CK_OBJECT_HANDLE ke, kpsa, master, t[4], h, sobj, skpsa;
	CK_SLOT_ID slots0[16], slots1[16];
	CK_ULONG ns0 = 16, ns1 = 16, ntok, n;
	CK_UTF8CHAR lab[32];
	uint8_t v[32], mac0[32], mac1[32], ct[64], pt[64];
	CK_ULONG ml = sizeof(mac0), ctl = sizeof(ct), ptl;
	char e2eid[128];
	uint8_t i;

	p11c_load(argc, argv);
	s = p11c_setup("persist", &SLOT);

	/* token objects: KE, Kpsa, E2E master and its four keys */
	memset(v, 0x3e, sizeof(v));
	P11C_MUST(p11c_import_ex(s, CK_M2M_ROLE_KE, KEID, CKK_GENERIC_SECRET,
	    v, 32, CK_TRUE, NULL, 0, &ke));
	P11C_MUST(p11c_derive(s, CKM_M2M_KPSA_DERIVE, PEER, strlen(PEER), ke,
	    tok, 1, &kpsa));
	P11C_MUST(p11c_derive(s, CKM_M2M_E2E_MASTER_SHA256, NULL, 0, kpsa,
	    tok, 1, &master));
	p11c_label(s, master, e2eid, sizeof(e2eid));
	for (i = 1; i <= 4; i++)
		P11C_MUST(p11c_derive(s, CKM_M2M_E2E_EXPAND, &i, 1, master,
		    tok, 1, &t[i - 1]));
	ntok = p11c_count(s);
	CHECK(ntok == 7, "7 token objects (%lu)", ntok);
	P11C_MUST(p11c_sign(s, CKM_SHA256_HMAC, t[0], MSG, sizeof(MSG), mac0,
	    &ml));
	P11C_MUST(p11c_gcm_encrypt(s, t[1], IV, NULL, 0, MSG, sizeof(MSG), ct,
	    &ctl));
	/* session objects */
	P11C_MUST(p11c_import(s, 0, "session-object", v, 32, &sobj));
	P11C_MUST(p11c_derive(s, CKM_M2M_KPSA_DERIVE, PEER2, strlen(PEER2), ke,
	    NULL, 0, &skpsa));
	CHECK(p11c_count(s) == ntok + 2, "plus 2 session objects");
	P11C_MUST(F->C_GetTokenInfo(SLOT, &ti0));
	P11C_MUST(F->C_GetSlotList(CK_FALSE, slots0, &ns0));

	CHECK_RV(F->C_Finalize(NULL), CKR_OK, "C_Finalize");
	CHECK_RV(F->C_Initialize(NULL), CKR_OK, "C_Initialize again");

	P11C_MUST(F->C_GetTokenInfo(SLOT, &ti1));
	CHECK(same_info(&ti0, &ti1), "token info (label, serial, model, "
	    "flags, PIN lengths) unchanged");
	P11C_MUST(F->C_GetSlotList(CK_FALSE, slots1, &ns1));
	CHECK(ns0 == ns1 && memcmp(slots0, slots1, ns0 * sizeof(slots0[0]))
	    == 0, "the same slot list (%lu slots)", ns1);
	P11C_MUST(F->C_OpenSession(SLOT, CKF_SERIAL_SESSION | CKF_RW_SESSION,
	    NULL, NULL, &s));
	CHECK(p11c_count(s) == 0, "before login: private objects invisible");
	CHECK_RV(F->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)P11C_USER_PIN,
	    strlen(P11C_USER_PIN)), CKR_OK, "login with the same user PIN");
	n = p11c_count(s);
	CHECK(n == ntok, "the %lu token objects are back, session objects "
	    "gone (%lu)", ntok, n);
	CHECK(p11c_count_label(s, KEID, CK_M2M_ROLE_KE, &h) == 1 && h == ke,
	    "KE found by label (same handle)");
	CHECK(p11c_count_label(s, KEID, CK_M2M_ROLE_KPSA, &h) == 1 &&
	    h == kpsa, "Kpsa found by label, once (the session Kpsa is gone)");
	CHECK(p11c_count_label(s, e2eid, CK_M2M_ROLE_KE2E_MASTER, &h) == 1 &&
	    h == master, "E2E master found by its E2EKeyId");
	for (i = 0; i < 4; i++)
		CHECK(p11c_count_label(s, e2eid, CK_M2M_ROLE_KE2E_MSG_AUTH + i,
		    &h) == 1 && h == t[i], "E2E key %u found by label and role",
		    i + 1);
	CHECK(p11c_count_label(s, "session-object", (CK_ULONG)~0UL, NULL) == 0,
	    "the role-less session object is gone");
	ml = sizeof(mac1);
	CHECK_RV(p11c_sign(s, CKM_SHA256_HMAC, t[0], MSG, sizeof(MSG), mac1,
	    &ml), CKR_OK, "sign with Ke2e_msg_auth after the restart");
	CHECK(ml == 32 && memcmp(mac0, mac1, 32) == 0, "the same MAC as "
	    "before");
	ptl = sizeof(pt);
	CHECK_RV(p11c_gcm_decrypt(s, t[1], IV, NULL, 0, ct, ctl, pt, &ptl),
	    CKR_OK, "Ke2e_msg_conf decrypts what it encrypted before");
	CHECK(ptl == sizeof(MSG) && memcmp(pt, MSG, ptl) == 0,
	    "the plaintext back");
	CHECK_RV(p11c_derive(s, CKM_M2M_KPSA_DERIVE, PEER, strlen(PEER), ke,
	    tok, 1, &h), CKR_OK, "derive the same Kpsa after the restart");
	CHECK(h == kpsa && p11c_count(s) == ntok, "the stored Kpsa is "
	    "returned, nothing new");
	CHECK_RV(p11c_derive(s, CKM_M2M_KPSA_DERIVE, PEER2, strlen(PEER2), ke,
	    NULL, 0, &h), CKR_OK, "the session Kpsa can be derived again");
	CHECK(p11c_count(s) == ntok + 1, "as a new (session) object");

	/* C_InitToken again wipes everything */
	P11C_MUST(F->C_CloseSession(s));
	p11c_pad32("persist-2", lab);
	CHECK_RV(F->C_InitToken(SLOT, (CK_UTF8CHAR_PTR)"wrong-so-pin", 12,
	    lab), CKR_PIN_INCORRECT, "C_InitToken with a wrong SO PIN");
	P11C_MUST(F->C_OpenSession(SLOT, CKF_SERIAL_SESSION | CKF_RW_SESSION,
	    NULL, NULL, &s));
	P11C_MUST(F->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)P11C_USER_PIN,
	    strlen(P11C_USER_PIN)));
	CHECK(p11c_count(s) == ntok, "a refused C_InitToken wiped nothing");
	P11C_MUST(F->C_CloseSession(s));
	CHECK_RV(F->C_InitToken(SLOT, (CK_UTF8CHAR_PTR)P11C_SO_PIN,
	    strlen(P11C_SO_PIN), lab), CKR_OK,
	    "C_InitToken on the same slot with the SO PIN");
	P11C_MUST(F->C_GetTokenInfo(SLOT, &ti1));
	CHECK(memcmp(ti1.label, lab, 32) == 0, "the new label");
	CHECK((ti1.flags & CKF_USER_PIN_INITIALIZED) == 0 &&
	    (ti1.flags & CKF_TOKEN_INITIALIZED) != 0,
	    "initialised, no user PIN");
	ns1 = 16;
	P11C_MUST(F->C_GetSlotList(CK_FALSE, slots1, &ns1));
	CHECK(ns1 == ns0, "no new slot was used (%lu)", ns1);
	P11C_MUST(F->C_OpenSession(SLOT, CKF_SERIAL_SESSION | CKF_RW_SESSION,
	    NULL, NULL, &s));
	CHECK_RV(F->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)P11C_USER_PIN,
	    strlen(P11C_USER_PIN)), CKR_USER_PIN_NOT_INITIALIZED,
	    "the old user PIN is gone");
	P11C_MUST(F->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)P11C_SO_PIN,
	    strlen(P11C_SO_PIN)));
	P11C_MUST(F->C_InitPIN(s, (CK_UTF8CHAR_PTR)P11C_USER_PIN,
	    strlen(P11C_USER_PIN)));
	P11C_MUST(F->C_Logout(s));
	P11C_MUST(F->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)P11C_USER_PIN,
	    strlen(P11C_USER_PIN)));
	n = p11c_count(s);
	CHECK(n == 0, "C_InitToken wiped every object (%lu left)", n);
	CHECK(p11c_count_label(s, KEID, (CK_ULONG)~0UL, NULL) == 0,
	    "the KE is gone");
	{
		CK_ATTRIBUTE a = { CKA_LABEL, NULL, 0 };

		CHECK_RV(F->C_GetAttributeValue(s, ke, &a, 1),
		    CKR_OBJECT_HANDLE_INVALID, "the KE's old handle is "
		    "invalid");
	}
	CHECK_RV(F->C_Finalize(NULL), CKR_OK, "C_Finalize");
	CHECK_RV(F->C_Initialize(NULL), CKR_OK, "C_Initialize");
	s = p11c_user_session(SLOT);
	CHECK(p11c_count(s) == 0, "still empty after a restart");
	CHECK_RV(F->C_Finalize(NULL), CKR_OK, "C_Finalize");
	return p11c_finish();
}
