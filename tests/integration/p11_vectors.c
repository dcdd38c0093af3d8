/*
 * p11_vectors: known answers through the public PKCS#11 API.
 *
 * - RFC 4231 HMAC-SHA-256/-512 test cases 1-4, 6, 7 (C_Sign, C_Verify) and
 *   test case 5 through the _GENERAL mechanisms (truncated MAC);
 * - RFC 5869 HKDF test case 1 (CKM_HKDF_DERIVE, extract+expand and
 *   extract only) on a role-less extractable key;
 * - the worked example of onem2m-keys.md section 7: Ke -> Km, Kpsa ->
 *   Ke2e_master -> T(1..4), and Kuc, SHA-512 masters and a salted master.
 *
 * Role keys are not extractable, so their values are checked exactly but
 * indirectly: a MAC (or an AES-GCM ciphertext) made with the derived key
 * must equal the one made with a role-less key that holds the expected
 * value; values the spec does not list are computed here from the formulas
 * with the module's own HMAC, which the RFC 4231 cases check first.
 */
#include "p11client.h"

#define KEID		"000102030405060708090a0b0c0d0e0f@mef.example.com"
#define KE_HEX		"101112131415161718191a1b1c1d1e1f" \
			"202122232425262728292a2b2c2d2e2f"
#define KM_HEX		"28a823bfe683d7acfed2e53dea75e63f" \
			"39c5fc4bc3d6ffc2b2aa469237dcf4d8"
#define KPSA_HEX	"d7f399f9aa3564b7b941a888084dc114" \
			"9823cef8ff2d6630845bd4e6fbccf254"
#define MASTER_HEX	"6da6d479ba01d00cf3136790bd11074c" \
			"a3a83298a89d33adc691b5e9e519644a"
/* E2EKeyId of the example, computed offline from section 4's formula */
#define E2EID		"a5586cce85f24a864c132686ad349498@mef.example.com"
#define MAF_ID		"maf.example.com"
#define ENROLEE_B	"/in-cse.example.com/CAE01"
#define KUC_TARGET	"mn-cse.example.com"

#define L_KM	"oneM2M Enrolment Key to Master Credential derivation"
#define L_KPSA	"oneM2M Enrolment Key to Provisioned Secure Connection Key " \
		"derivation"
#define L_KUC	"oneM2M Enrolment Key to Usage-Constrained Symmetric Key " \
		"derivation"

static const char *const T_HEX[4] = {
	"0a18efc77a3074d407e3e46a5be38b51886a7bd67d414fda33db8329761deca5",
	"ff4e23d89035401152a1817f9e7dc15dfce222cb06292a3878b34bf525b3d887",
	"10bd4078071e453571e032e2d90fcee8c30c5b4078d453912fdbc6bbb8c7071b",
	"dbebf2b5438ec6b4204c93354bd718e95d5b9b790f37ab31c5148aab9aa81061",
};
static const char *const T_LABEL[4] = {
	"E2E Message Authentication Key",
	"E2E Message Confidentiality Key",
	"E2E Attribute Authenticity Key",
	"E2E Attribute Confidentiality Key",
};

static const uint8_t MSG[] = "oneM2M integration test message";
static const uint8_t IV[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
static const uint8_t AAD[] = "aad";

static CK_SESSION_HANDLE S;
static CK_SLOT_ID SLOT;

/* ------------------------------------------------------------------ */
/* RFC 4231                                                            */
/* ------------------------------------------------------------------ */

struct rfc4231 {
	int		 tc;
	const char	*key;	/* hex */
	int		 keyrep;	/* key = keyrep times key[0] if > 0 */
	const char	*data;	/* text, or hex if datarep > 0 */
	int		 datarep;
	const char	*h256;
	const char	*h512;
};

static const char TC7_DATA[] =
    "This is a test using a larger than block-size key and a larger "
    "than block-size data. The key needs to be hashed before being used "
    "by the HMAC algorithm.";

static const struct rfc4231 rfc4231[] = {
	{ 1, "0b", 20, "Hi There", 0,
	  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
	  "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
	  "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854" },
	{ 2, "4a656665", 0, "what do ya want for nothing?", 0,
	  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
	  "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
	  "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737" },
	{ 3, "aa", 20, "dd", 50,
	  "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
	  "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39"
	  "bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb" },
	{ 4, "0102030405060708090a0b0c0d0e0f10111213141516171819", 0,
	  "cd", 50,
	  "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
	  "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3db"
	  "a91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd" },
	{ 6, "aa", 131,
	  "Test Using Larger Than Block-Size Key - Hash Key First", 0,
	  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
	  "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352"
	  "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598" },
	{ 7, "aa", 131, TC7_DATA, 0,
	  "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
	  "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944"
	  "b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58" },
};

/* Sign and verify data with key h under mech; want = expected MAC. */
static void
mac_case(const char *what, CK_MECHANISM_TYPE mech, CK_OBJECT_HANDLE h,
    const uint8_t *data, CK_ULONG dlen, const uint8_t *want, CK_ULONG wlen)
{
	uint8_t mac[64], bad[64];
	CK_ULONG ml = sizeof(mac);
	CK_MECHANISM m = { mech, NULL, 0 };

	CHECK_RV(p11c_sign(S, mech, h, data, dlen, mac, &ml), CKR_OK,
	    "%s: C_Sign", what);
	CHECK(ml == wlen && memcmp(mac, want, wlen) == 0,
	    "%s: MAC equals the RFC value", what);
	CHECK_RV(F->C_VerifyInit(S, &m, h), CKR_OK, "%s: C_VerifyInit", what);
	CHECK_RV(F->C_Verify(S, (CK_BYTE_PTR)data, dlen, (CK_BYTE_PTR)want,
	    wlen), CKR_OK, "%s: C_Verify of the RFC value", what);
	memcpy(bad, want, wlen);
	bad[wlen - 1] ^= 0x01;
	CHECK_RV(F->C_VerifyInit(S, &m, h), CKR_OK, "%s: C_VerifyInit", what);
	CHECK_RV(F->C_Verify(S, (CK_BYTE_PTR)data, dlen, bad, wlen),
	    CKR_SIGNATURE_INVALID, "%s: C_Verify of a changed MAC", what);
}

static void
test_rfc4231(void)
{
	uint8_t key[256], data[256], want[64];
	CK_ULONG kl, dl, wl, vl;
	CK_OBJECT_HANDLE h, h2;
	size_t i;
	char what[64];

	for (i = 0; i < sizeof(rfc4231) / sizeof(rfc4231[0]); i++) {
		const struct rfc4231 *c = &rfc4231[i];

		if (c->keyrep > 0) {
			p11c_unhex(c->key, key, 1);
			memset(key, key[0], (size_t)c->keyrep);
			kl = (CK_ULONG)c->keyrep;
		} else
			kl = p11c_unhex(c->key, key, sizeof(key));
		if (c->datarep > 0) {
			p11c_unhex(c->data, data, 1);
			memset(data, data[0], (size_t)c->datarep);
			dl = (CK_ULONG)c->datarep;
		} else {
			dl = strlen(c->data);
			memcpy(data, c->data, dl);
		}
		/*
		 * Test cases 6 and 7 use a 131-byte key: longer than a
		 * block of either hash, the module takes it as RFC 2104 does
		 * (hashed with the HMAC's own hash first).
		 */
		CHECK_RV(p11c_import(S, 0, NULL, key, kl, &h), CKR_OK,
		    "RFC 4231 TC%d: import the %lu-byte key", c->tc, kl);
		if (kl > 128) {
			CHECK(p11c_get_bool(S, h, CKA_SENSITIVE) == 1 &&
			    p11c_get_bool(S, h, CKA_EXTRACTABLE) == 0 &&
			    p11c_get_bool(S, h, CKA_DERIVE) == 0,
			    "TC%d: sensitive, not extractable, no derive",
			    c->tc);
			CHECK(p11c_get_ulong(S, h, CKA_VALUE_LEN, &vl) ==
			    CKR_OK && vl == kl, "TC%d: CKA_VALUE_LEN %lu",
			    c->tc, vl);
		}
		h2 = h;
		wl = p11c_unhex(c->h256, want, sizeof(want));
		snprintf(what, sizeof(what), "RFC 4231 TC%d HMAC-SHA-256",
		    c->tc);
		mac_case(what, CKM_SHA256_HMAC, h, data, dl, want, wl);
		wl = p11c_unhex(c->h512, want, sizeof(want));
		snprintf(what, sizeof(what), "RFC 4231 TC%d HMAC-SHA-512",
		    c->tc);
		mac_case(what, CKM_SHA512_HMAC, h2, data, dl, want, wl);
		P11C_MUST(F->C_DestroyObject(S, h));
		if (h2 != h)
			P11C_MUST(F->C_DestroyObject(S, h2));
	}

	/* test case 5: truncation to 128 bits with the _GENERAL mechanisms */
	{
		static const char *const want5[2] = {
			"a3b6167473100ee06e0c796c2955552b",
			"415fad6271580a531d4179bc891d87a6",
		};
		static const CK_MECHANISM_TYPE gen[2] = {
			CKM_SHA256_HMAC_GENERAL, CKM_SHA512_HMAC_GENERAL,
		};
		CK_ULONG tl = 16;
		CK_MECHANISM m;
		uint8_t mac[64];
		CK_ULONG ml;
		int j;

		memset(key, 0x0c, 20);
		P11C_MUST(p11c_import(S, 0, NULL, key, 20, &h));
		for (j = 0; j < 2; j++) {
			m = (CK_MECHANISM){ gen[j], &tl, sizeof(tl) };
			wl = p11c_unhex(want5[j], want, sizeof(want));
			ml = sizeof(mac);
			CHECK_RV(F->C_SignInit(S, &m, h), CKR_OK,
			    "RFC 4231 TC5 %s: C_SignInit(len 16)",
			    j ? "SHA512_GENERAL" : "SHA256_GENERAL");
			CHECK_RV(F->C_Sign(S, (CK_BYTE_PTR)"Test With "
			    "Truncation", 20, mac, &ml), CKR_OK,
			    "RFC 4231 TC5: C_Sign");
			CHECK(ml == 16 && memcmp(mac, want, 16) == 0,
			    "RFC 4231 TC5 %s: 16-byte MAC equals the RFC",
			    j ? "SHA-512" : "SHA-256");
			CHECK_RV(F->C_VerifyInit(S, &m, h), CKR_OK,
			    "RFC 4231 TC5: C_VerifyInit");
			CHECK_RV(F->C_Verify(S, (CK_BYTE_PTR)"Test With "
			    "Truncation", 20, want, 16), CKR_OK,
			    "RFC 4231 TC5: C_Verify truncated MAC");
		}
		P11C_MUST(F->C_DestroyObject(S, h));
	}
}

/* ------------------------------------------------------------------ */
/* RFC 5869                                                            */
/* ------------------------------------------------------------------ */

static void
test_hkdf(void)
{
	uint8_t ikm[22], salt[13], info[10], okm[64], want[64];
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG len = 42, ol, i;
	CK_OBJECT_HANDLE base, h;
	CK_HKDF_PARAMS p;
	CK_MECHANISM m = { CKM_HKDF_DERIVE, &p, sizeof(p) };
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_SENSITIVE, &no, sizeof(no) },
		{ CKA_EXTRACTABLE, &yes, sizeof(yes) },
		{ CKA_VALUE_LEN, &len, sizeof(len) },
	};

	memset(ikm, 0x0b, sizeof(ikm));
	for (i = 0; i < sizeof(salt); i++)
		salt[i] = (uint8_t)i;
	for (i = 0; i < sizeof(info); i++)
		info[i] = (uint8_t)(0xf0 + i);
	P11C_MUST(p11c_import(S, 0, NULL, ikm, sizeof(ikm), &base));
	memset(&p, 0, sizeof(p));
	p.bExtract = CK_TRUE;
	p.bExpand = CK_TRUE;
	p.prfHashMechanism = CKM_SHA256;
	p.ulSaltType = CKF_HKDF_SALT_DATA;
	p.pSalt = salt;
	p.ulSaltLen = sizeof(salt);
	p.pInfo = info;
	p.ulInfoLen = sizeof(info);
	CHECK_RV(F->C_DeriveKey(S, &m, base, t, 5, &h), CKR_OK,
	    "RFC 5869 TC1: C_DeriveKey(CKM_HKDF_DERIVE, L=42)");
	ol = sizeof(okm);
	CHECK_RV(p11c_get_bytes(S, h, CKA_VALUE, okm, &ol), CKR_OK,
	    "RFC 5869 TC1: read CKA_VALUE of the OKM");
	p11c_unhex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56"
	    "ecc4c5bf34007208d5b887185865", want, sizeof(want));
	CHECK(ol == 42 && memcmp(okm, want, 42) == 0,
	    "RFC 5869 TC1: OKM equals the RFC value");

	/* extract only: the PRK */
	p.bExpand = CK_FALSE;
	p.pInfo = NULL;
	p.ulInfoLen = 0;
	CHECK_RV(F->C_DeriveKey(S, &m, base, t, 4, &h), CKR_OK,
	    "RFC 5869 TC1: C_DeriveKey(extract only)");
	ol = sizeof(okm);
	CHECK_RV(p11c_get_bytes(S, h, CKA_VALUE, okm, &ol), CKR_OK,
	    "RFC 5869 TC1: read the PRK");
	p11c_unhex("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844a"
	    "d7c2b3e5", want, sizeof(want));
	CHECK(ol == 32 && memcmp(okm, want, 32) == 0,
	    "RFC 5869 TC1: PRK equals the RFC value");
}

/* ------------------------------------------------------------------ */
/* onem2m-keys.md section 7                                            */
/* ------------------------------------------------------------------ */

static int
label_is(CK_OBJECT_HANDLE h, const char *want)
{
	char lab[256];

	p11c_label(S, h, lab, sizeof(lab));
	return strcmp(lab, want) == 0;
}

static int
attr_is(CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE t, const char *want)
{
	char buf[256];
	CK_ULONG len = sizeof(buf);

	if (p11c_get_bytes(S, h, t, buf, &len) != CKR_OK)
		return 0;
	return len == strlen(want) && memcmp(buf, want, len) == 0;
}

static int
ulong_is(CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE t, CK_ULONG want)
{
	CK_ULONG v = ~0UL;

	return p11c_get_ulong(S, h, t, &v) == CKR_OK && v == want;
}

/* "hex32@fqdn" with 32 lower-case hex digits */
static int
is_e2e_id(const char *s, const char *fqdn)
{
	size_t i;

	for (i = 0; i < 32; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[32] == '@' && strcmp(s + 33, fqdn) == 0;
}

/* HMAC by the module on a role-less copy; bails on error. */
static void
hmac(int hash, const uint8_t *k, size_t kl, const uint8_t *m, size_t ml,
    uint8_t *out)
{
	P11C_MUST(p11c_hmac(S, hash, k, kl, m, ml, out));
}

/* T(n) from a master value, following section 4 (tprev: T(n-1)). */
static void
expand_value(int hash, const uint8_t *master, size_t hl, int n,
    const uint8_t *tprev, uint8_t *out)
{
	uint8_t msg[128 + 64];
	size_t ml = 0, l = strlen(T_LABEL[n - 1]);

	if (n > 1) {
		memcpy(msg, tprev, hl);
		ml = hl;
	}
	memcpy(msg + ml, T_LABEL[n - 1], l);
	ml += l;
	msg[ml++] = (uint8_t)n;
	hmac(hash, master, hl, msg, ml, out);
}

/*
 * The MAC of MSG by the auth key h (mech) equals the MAC by a role-less key
 * holding want (wl bytes).
 */
static void
same_mac(const char *what, CK_OBJECT_HANDLE h, CK_MECHANISM_TYPE mech,
    const uint8_t *want, CK_ULONG wl)
{
	uint8_t a[64], b[64];
	CK_ULONG al = sizeof(a), bl = sizeof(b);
	CK_OBJECT_HANDLE r;

	CHECK_RV(p11c_sign(S, mech, h, MSG, sizeof(MSG), a, &al), CKR_OK,
	    "%s: C_Sign with the derived key", what);
	P11C_MUST(p11c_import(S, 0, NULL, want, wl, &r));
	P11C_MUST(p11c_sign(S, mech, r, MSG, sizeof(MSG), b, &bl));
	P11C_MUST(F->C_DestroyObject(S, r));
	CHECK(al == bl && memcmp(a, b, al) == 0,
	    "%s: MAC equals the MAC under the expected value", what);
}

/* AES-GCM by the conf key h equals AES-GCM under the expected value. */
static void
same_gcm(const char *what, CK_OBJECT_HANDLE h, const uint8_t *want)
{
	uint8_t a[128], b[128], pt[128];
	CK_ULONG al = sizeof(a), bl = sizeof(b), pl = sizeof(pt);
	CK_OBJECT_HANDLE r;

	CHECK_RV(p11c_gcm_encrypt(S, h, IV, AAD, 3, MSG, sizeof(MSG), a, &al),
	    CKR_OK, "%s: AES-GCM encrypt with the derived key", what);
	P11C_MUST(p11c_import_ex(S, 0, NULL, CKK_AES, want, 32, CK_FALSE,
	    NULL, 0, &r));
	P11C_MUST(p11c_gcm_encrypt(S, r, IV, AAD, 3, MSG, sizeof(MSG), b,
	    &bl));
	CHECK(al == sizeof(MSG) + 16 && al == bl && memcmp(a, b, al) == 0,
	    "%s: ciphertext and tag equal those under the expected value",
	    what);
	CHECK_RV(p11c_gcm_decrypt(S, h, IV, AAD, 3, b, bl, pt, &pl), CKR_OK,
	    "%s: the derived key decrypts", what);
	CHECK(pl == sizeof(MSG) && memcmp(pt, MSG, pl) == 0,
	    "%s: plaintext back", what);
	P11C_MUST(F->C_DestroyObject(S, r));
}

/*
 * A PSK-role key (Km, Kpsa, Kuc) holds want: derive a SHA-256 master
 * (label given: the default needs an "@FQDN" base label) and T(1) from it
 * and compare with T(1) computed from want.
 */
static void
psk_holds(const char *what, CK_OBJECT_HANDLE k, const uint8_t want[32])
{
	uint8_t zero[32] = { 0 }, m[32], t1[32];
	char lab[64];
	CK_ATTRIBUTE t[] = { { CKA_LABEL, lab, 0 } };
	CK_OBJECT_HANDLE hm, h1;

	snprintf(lab, sizeof(lab), "check-%s", what);
	t[0].ulValueLen = strlen(lab);
	CHECK_RV(p11c_derive(S, CKM_M2M_E2E_MASTER_SHA256, NULL, 0, k, t, 1,
	    &hm), CKR_OK, "%s: E2E master (SHA-256) from it", what);
	CHECK_RV(p11c_expand(S, hm, 1, &h1), CKR_OK, "%s: expand T(1)", what);
	hmac(256, zero, 32, want, 32, m);
	expand_value(256, m, 32, 1, NULL, t1);
	same_mac(what, h1, CKM_SHA256_HMAC, t1, 32);
}

static void
test_worked_example(CK_OBJECT_HANDLE *ret_ke, CK_OBJECT_HANDLE *ret_kpsa)
{
	uint8_t ke[32], km[32], kpsa[32], master[32], t[4][32], v[256];
	char lab[256], e2eid[128];
	CK_OBJECT_HANDLE hke, hkm, hkpsa, hkpsa2, hm, hm2, hx[4], hx2, hcopy;
	CK_ULONG n0, n1, i;
	static const CK_ULONG kt[4] = {
		CKK_GENERIC_SECRET, CKK_AES, CKK_GENERIC_SECRET, CKK_AES,
	};
	static const CK_ULONG role[4] = {
		CK_M2M_ROLE_KE2E_MSG_AUTH, CK_M2M_ROLE_KE2E_MSG_CONF,
		CK_M2M_ROLE_KE2E_ATT_AUTH, CK_M2M_ROLE_KE2E_ATT_CONF,
	};

	p11c_unhex(KE_HEX, ke, 32);
	p11c_unhex(KM_HEX, km, 32);
	p11c_unhex(KPSA_HEX, kpsa, 32);
	p11c_unhex(MASTER_HEX, master, 32);
	for (i = 0; i < 4; i++)
		p11c_unhex(T_HEX[i], t[i], 32);

	/* the spec's numbers follow its formulas (module HMAC) */
	memcpy(v, L_KM, strlen(L_KM));
	memcpy(v + strlen(L_KM), MAF_ID, strlen(MAF_ID));
	{
		uint8_t out[32];

		hmac(256, ke, 32, v, strlen(L_KM) + strlen(MAF_ID), out);
		CHECK(memcmp(out, km, 32) == 0,
		    "section 7: Km = HMAC(Ke, label || MAF-ID)");
	}

	CHECK_RV(p11c_import(S, CK_M2M_ROLE_KE, KEID, ke, 32, &hke), CKR_OK,
	    "import Ke (role KE, label KeId)");
	CHECK(label_is(hke, KEID), "Ke: CKA_LABEL is KeId");
	CHECK(attr_is(hke, CKA_ID, KEID), "Ke: CKA_ID holds the same bytes");

	CHECK_RV(p11c_derive(S, CKM_M2M_KM_DERIVE, MAF_ID, strlen(MAF_ID),
	    hke, NULL, 0, &hkm), CKR_OK, "derive Km (MAF-ID %s)", MAF_ID);
	CHECK(ulong_is(hkm, CKA_M2M_ROLE, CK_M2M_ROLE_KM), "Km: role KM");
	CHECK(label_is(hkm, KEID), "Km: label KmId = KeId");
	CHECK(attr_is(hkm, CKA_M2M_PEER_ID, MAF_ID), "Km: peer = MAF-ID");
	CHECK(ulong_is(hkm, CKA_VALUE_LEN, 32), "Km: 32 bytes");

	CHECK_RV(p11c_derive(S, CKM_M2M_KPSA_DERIVE, ENROLEE_B,
	    strlen(ENROLEE_B), hke, NULL, 0, &hkpsa), CKR_OK,
	    "derive Kpsa (Enrolee-B-ID %s)", ENROLEE_B);
	CHECK(ulong_is(hkpsa, CKA_M2M_ROLE, CK_M2M_ROLE_KPSA),
	    "Kpsa: role KPSA");
	CHECK(label_is(hkpsa, KEID), "Kpsa: label KpsaId = KeId");
	CHECK(attr_is(hkpsa, CKA_M2M_PEER_ID, ENROLEE_B),
	    "Kpsa: peer = Enrolee-B-ID");
	CHECK(hkpsa != hkm, "Kpsa and Km are different objects");

	n0 = p11c_count(S);
	CHECK_RV(p11c_derive(S, CKM_M2M_KPSA_DERIVE, ENROLEE_B,
	    strlen(ENROLEE_B), hke, NULL, 0, &hkpsa2), CKR_OK,
	    "derive Kpsa again");
	CHECK(hkpsa2 == hkpsa, "deriving Kpsa twice returns the same handle");
	CHECK(p11c_count(S) == n0, "and creates no object");

	/* Ke2e_master = HMAC-SHA-256(32 zero bytes, Kpsa) */
	CHECK_RV(p11c_derive(S, CKM_M2M_E2E_MASTER_SHA256, NULL, 0, hkpsa,
	    NULL, 0, &hm), CKR_OK, "derive Ke2e_master (SHA-256, no salt)");
	CHECK(ulong_is(hm, CKA_M2M_ROLE, CK_M2M_ROLE_KE2E_MASTER),
	    "master: role KE2E_MASTER");
	CHECK(ulong_is(hm, CKA_VALUE_LEN, 32), "master: 32 bytes");
	p11c_label(S, hm, e2eid, sizeof(e2eid));
	CHECK(is_e2e_id(e2eid, "mef.example.com"),
	    "master label '%s' has the E2EKeyId form hex32@mef.example.com",
	    e2eid);
	CHECK(strcmp(e2eid, E2EID) == 0, "E2EKeyId is %s", E2EID);
	{
		uint8_t id[32];
		char hex[65];

		hmac(256, master, 32, (const uint8_t *)"E2E Key Identifier",
		    18, id);
		p11c_tohex(id, 16, hex);
		CHECK(strncmp(e2eid, hex, 32) == 0,
		    "E2EKeyId = hex(HMAC(master, \"E2E Key Identifier\")"
		    "[0..16])");
	}

	for (i = 0; i < 4; i++) {
		char what[64];

		snprintf(what, sizeof(what), "T(%lu)", i + 1);
		CHECK_RV(p11c_expand(S, hm, (uint8_t)(i + 1), &hx[i]), CKR_OK,
		    "expand n=%lu", i + 1);
		CHECK(ulong_is(hx[i], CKA_M2M_ROLE, role[i]),
		    "%s: role %lu", what, role[i]);
		CHECK(ulong_is(hx[i], CKA_KEY_TYPE, kt[i]), "%s: key type %s",
		    what, kt[i] == CKK_AES ? "CKK_AES" : "CKK_GENERIC_SECRET");
		CHECK(ulong_is(hx[i], CKA_VALUE_LEN, 32), "%s: 32 bytes",
		    what);
		CHECK(label_is(hx[i], e2eid), "%s: inherits the master's label",
		    what);
		if (kt[i] == CKK_AES)
			same_gcm(what, hx[i], t[i]);
		else
			same_mac(what, hx[i], CKM_SHA256_HMAC, t[i], 32);
	}
	CHECK_RV(p11c_expand(S, hm, 1, &hx2), CKR_OK, "expand n=1 again");
	CHECK(hx2 == hx[0], "expand n=1 twice gives the same handle");

	/* the spec's T(n) follow from its master (module HMAC) */
	{
		uint8_t c[4][32];

		for (i = 0; i < 4; i++)
			expand_value(256, master, 32, (int)i + 1,
			    i ? c[i - 1] : NULL, c[i]);
		CHECK(memcmp(c, t, sizeof(c)) == 0,
		    "section 7: T(1..4) follow from Ke2e_master");
	}

	/* an imported copy of the expected Kpsa derives the same T(1) */
	CHECK_RV(p11c_import(S, CK_M2M_ROLE_KPSA, "copy@mef.example.com",
	    kpsa, 32, &hcopy), CKR_OK, "import the expected Kpsa as a KPSA");
	CHECK_RV(p11c_derive(S, CKM_M2M_E2E_MASTER_SHA256, NULL, 0, hcopy,
	    NULL, 0, &hm2), CKR_OK, "master from the copy");
	p11c_label(S, hm2, lab, sizeof(lab));
	CHECK(strcmp(lab, e2eid) == 0,
	    "the copy's master has the same E2EKeyId (same value)");
	/* another base object: a key of its own (issue 10, item 6) */
	CHECK(hm2 != hm, "same (role, label, peer), another base key: "
	    "another object");
	CHECK_RV(p11c_expand(S, hm2, 1, &hx2), CKR_OK, "T(1) from the copy");
	same_mac("T(1) via the imported Kpsa", hx2, CKM_SHA256_HMAC, t[0],
	    32);

	/* Km and Kpsa hold the spec values (through their E2E children) */
	psk_holds("Km", hkm, km);
	psk_holds("Kpsa", hkpsa, kpsa);

	n1 = p11c_count(S);
	CHECK(n1 > n0, "objects were created (%lu)", n1);
	*ret_ke = hke;
	*ret_kpsa = hkpsa;
}

/* CKM_M2M_KUC_DERIVE: SUID 22, target mn-cse.example.com */
static void
test_kuc(CK_OBJECT_HANDLE hke)
{
	uint8_t ke[32], msg[256], kuc[32];
	CK_M2M_KUC_PARAMS kp = { 22, (CK_UTF8CHAR_PTR)KUC_TARGET,
	    strlen(KUC_TARGET) };
	CK_OBJECT_HANDLE h, h2;
	size_t ml = 0;

	CHECK_RV(p11c_derive(S, CKM_M2M_KUC_DERIVE, &kp, sizeof(kp), hke,
	    NULL, 0, &h), CKR_OK, "derive Kuc (SUID 22, %s)", KUC_TARGET);
	CHECK(ulong_is(h, CKA_M2M_ROLE, CK_M2M_ROLE_KUC), "Kuc: role KUC");
	CHECK(label_is(h, KEID "/22"), "Kuc: label is KeId/22");
	CHECK(attr_is(h, CKA_M2M_PEER_ID, KUC_TARGET), "Kuc: peer = target");
	CHECK(ulong_is(h, CKA_VALUE_LEN, 32), "Kuc: 32 bytes");
	CHECK_RV(p11c_derive(S, CKM_M2M_KUC_DERIVE, &kp, sizeof(kp), hke,
	    NULL, 0, &h2), CKR_OK, "derive Kuc again");
	CHECK(h2 == h, "Kuc twice: the same handle");
	/* Kuc = HMAC(Ke, label || "22" || target) */
	p11c_unhex(KE_HEX, ke, 32);
	memcpy(msg, L_KUC, strlen(L_KUC));
	ml = strlen(L_KUC);
	memcpy(msg + ml, "22", 2);
	ml += 2;
	memcpy(msg + ml, KUC_TARGET, strlen(KUC_TARGET));
	ml += strlen(KUC_TARGET);
	hmac(256, ke, 32, msg, ml, kuc);
	psk_holds("Kuc", h, kuc);
	/*
	 * Nothing separates the SUID's digits from the target id: with one
	 * digit, Kuc(SUID 2, "2" KUC_TARGET) was Kuc(SUID 22, KUC_TARGET),
	 * the same message (found in review).  The SUID is 10..99.
	 */
	{
		static const char t2[] = "2" KUC_TARGET;
		static const CK_ULONG bad[] = { 0, 2, 9, 100 };
		CK_M2M_KUC_PARAMS k2;
		size_t i;

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			k2 = (CK_M2M_KUC_PARAMS){ bad[i],
			    (CK_UTF8CHAR_PTR)t2, strlen(t2) };
			CHECK_RV(p11c_derive(S, CKM_M2M_KUC_DERIVE, &k2,
			    sizeof(k2), hke, NULL, 0, &h2),
			    CKR_MECHANISM_PARAM_INVALID,
			    "derive Kuc (SUID %lu, %s)", bad[i], t2);
		}
		k2 = (CK_M2M_KUC_PARAMS){ 10, (CK_UTF8CHAR_PTR)t2,
		    strlen(t2) };
		CHECK_RV(p11c_derive(S, CKM_M2M_KUC_DERIVE, &k2, sizeof(k2),
		    hke, NULL, 0, &h2), CKR_OK, "derive Kuc (SUID 10)");
		CHECK(label_is(h2, KEID "/10"), "Kuc: label is KeId/10");
		k2.ulSuid = 99;
		CHECK_RV(p11c_derive(S, CKM_M2M_KUC_DERIVE, &k2, sizeof(k2),
		    hke, NULL, 0, &h2), CKR_OK, "derive Kuc (SUID 99)");
	}
}

/* SHA-512 master + expand; and a salted SHA-256 master */
static void
test_sha512_and_salt(CK_OBJECT_HANDLE hkpsa)
{
	uint8_t kpsa[32], zero[64] = { 0 }, m[64], t[4][64], id[64];
	char e2eid[128], hex[65], want[128];
	CK_OBJECT_HANDLE hm, hx;
	static const char salt[] = "an E2E salt";
	static const CK_ULONG len[4] = { 64, 32, 64, 32 };
	int i;

	p11c_unhex(KPSA_HEX, kpsa, 32);
	CHECK_RV(p11c_derive(S, CKM_M2M_E2E_MASTER_SHA512, NULL, 0, hkpsa,
	    NULL, 0, &hm), CKR_OK, "derive Ke2e_master (SHA-512, no salt)");
	CHECK(ulong_is(hm, CKA_VALUE_LEN, 64), "SHA-512 master: 64 bytes");
	hmac(512, zero, 64, kpsa, 32, m);
	hmac(512, m, 64, (const uint8_t *)"E2E Key Identifier", 18, id);
	p11c_tohex(id, 16, hex);
	snprintf(want, sizeof(want), "%s@mef.example.com", hex);
	p11c_label(S, hm, e2eid, sizeof(e2eid));
	CHECK(strcmp(e2eid, want) == 0,
	    "SHA-512 master: E2EKeyId from HMAC-SHA-512 (%s)", e2eid);
	for (i = 0; i < 4; i++) {
		char what[64];

		snprintf(what, sizeof(what), "SHA-512 T(%d)", i + 1);
		expand_value(512, m, 64, i + 1, i ? t[i - 1] : NULL, t[i]);
		CHECK_RV(p11c_expand(S, hm, (uint8_t)(i + 1), &hx), CKR_OK,
		    "SHA-512 expand n=%d", i + 1);
		CHECK(ulong_is(hx, CKA_VALUE_LEN, len[i]),
		    "%s: CKA_VALUE_LEN %lu", what, len[i]);
		CHECK(ulong_is(hx, CKA_KEY_TYPE, i % 2 ? CKK_AES :
		    CKK_GENERIC_SECRET), "%s: key type", what);
		if (i % 2)
			same_gcm(what, hx, t[i]);	/* first 32 bytes */
		else
			same_mac(what, hx, CKM_SHA512_HMAC, t[i], 64);
	}

	/* Ke2e_master = HMAC-SHA-256(salt, Kpsa) */
	CHECK_RV(p11c_derive(S, CKM_M2M_E2E_MASTER_SHA256, salt,
	    strlen(salt), hkpsa, NULL, 0, &hm), CKR_OK,
	    "derive Ke2e_master (SHA-256, salt)");
	hmac(256, (const uint8_t *)salt, strlen(salt), kpsa, 32, m);
	expand_value(256, m, 32, 1, NULL, t[0]);
	CHECK_RV(p11c_expand(S, hm, 1, &hx), CKR_OK, "salted expand n=1");
	same_mac("salted T(1)", hx, CKM_SHA256_HMAC, t[0], 32);
}

/* expected[] holds T(1..4) of hash (256 or 512); check key n of master hm */
static void
expand_check(const char *what, int hash, CK_OBJECT_HANDLE hm, int n,
    uint8_t expected[4][64])
{
	char w[96];
	CK_OBJECT_HANDLE hx;

	snprintf(w, sizeof(w), "%s: T(%d)", what, n);
	if (!CHECK_RV(p11c_expand(S, hm, (uint8_t)n, &hx), CKR_OK,
	    "%s: expand", w))
		return;
	if (n % 2 == 0)
		same_gcm(w, hx, expected[n - 1]);	/* first 32 bytes */
	else
		same_mac(w, hx, hash == 512 ? CKM_SHA512_HMAC :
		    CKM_SHA256_HMAC, expected[n - 1], hash / 8);
	P11C_MUST(F->C_DestroyObject(S, hx));
}

/* T(1..4) of the master HMAC-hash(salt or zeros, Kpsa) into t. */
static void
expand_expected(int hash, const char *salt, uint8_t t[4][64])
{
	uint8_t kpsa[32], zero[64] = { 0 }, m[64];
	size_t hl = (size_t)hash / 8;
	int i;

	p11c_unhex(KPSA_HEX, kpsa, 32);
	if (salt != NULL)
		hmac(hash, (const uint8_t *)salt, strlen(salt), kpsa, 32, m);
	else
		hmac(hash, zero, hl, kpsa, 32, m);
	for (i = 0; i < 4; i++)
		expand_value(hash, m, hl, i + 1, i ? t[i - 1] : NULL, t[i]);
}

/*
 * The core remembers the last block of the last master it expanded
 * (m2m_core_e2e_expand): every order of n, two masters interleaved, and a
 * master destroyed and replaced by another must still give the section 4
 * values.
 */
static void
test_expand_orders(CK_OBJECT_HANDLE hkpsa)
{
	static uint8_t a[4][64], b[4][64], c[4][64], d[4][64];
	CK_ATTRIBUTE la[] = { { CKA_LABEL, "order-a", 7 } };
	CK_ATTRIBUTE lb[] = { { CKA_LABEL, "order-b", 7 } };
	CK_ATTRIBUTE lc[] = { { CKA_LABEL, "order-c", 7 } };
	CK_ATTRIBUTE ld[] = { { CKA_LABEL, "order-d", 7 } };
	CK_OBJECT_HANDLE ha, hb, hc, hd;
	int n;

	expand_expected(256, NULL, a);
	expand_expected(512, NULL, b);
	expand_expected(256, "salt c", c);
	expand_expected(256, "salt d", d);
	P11C_MUST(p11c_derive(S, CKM_M2M_E2E_MASTER_SHA256, NULL, 0, hkpsa,
	    la, 1, &ha));
	P11C_MUST(p11c_derive(S, CKM_M2M_E2E_MASTER_SHA512, NULL, 0, hkpsa,
	    lb, 1, &hb));
	for (n = 4; n >= 1; n--)
		expand_check("n = 4..1", 256, ha, n, a);
	for (n = 1; n <= 4; n++) {
		expand_check("two masters in turn, SHA-256", 256, ha, n, a);
		expand_check("two masters in turn, SHA-512", 512, hb, n, b);
	}
	expand_check("n = 2 twice", 256, ha, 1, a);
	expand_check("n = 2 twice", 256, ha, 2, a);
	expand_check("n = 2 twice", 256, ha, 2, a);
	expand_check("n = 2 twice", 256, ha, 3, a);
	/* T(2) of master c remembered; d, same hash, asks n = 3 */
	P11C_MUST(p11c_derive(S, CKM_M2M_E2E_MASTER_SHA256, "salt c", 6,
	    hkpsa, lc, 1, &hc));
	P11C_MUST(p11c_derive(S, CKM_M2M_E2E_MASTER_SHA256, "salt d", 6,
	    hkpsa, ld, 1, &hd));
	expand_check("master c", 256, hc, 1, c);
	expand_check("master c", 256, hc, 2, c);
	expand_check("master d after c's T(2)", 256, hd, 3, d);
	P11C_MUST(F->C_DestroyObject(S, hd));
	/* the same, c destroyed before d is made */
	expand_check("master c", 256, hc, 2, c);
	P11C_MUST(F->C_DestroyObject(S, hc));
	P11C_MUST(p11c_derive(S, CKM_M2M_E2E_MASTER_SHA256, "salt d", 6,
	    hkpsa, lc, 1, &hd));
	expand_check("master d after c destroyed", 256, hd, 3, d);
	expand_check("master d after c destroyed", 256, hd, 4, d);
	P11C_MUST(F->C_DestroyObject(S, hd));
	P11C_MUST(F->C_DestroyObject(S, ha));
	P11C_MUST(F->C_DestroyObject(S, hb));
}

int
main(int argc, char **argv)
{
	CK_OBJECT_HANDLE hke, hkpsa;

	p11c_load(argc, argv);
	S = p11c_setup("vectors", &SLOT);
	test_rfc4231();
	test_hkdf();
	test_worked_example(&hke, &hkpsa);
	test_kuc(hke);
	test_sha512_and_salt(hkpsa);
	test_expand_orders(hkpsa);
	CHECK_RV(F->C_Finalize(NULL), CKR_OK, "C_Finalize");
	return p11c_finish();
}
