/*
 * p11_policy: every row of the policy table of pkcs11-contract.md section 3.
 *
 * For each role a key is imported or derived and every use is tried
 * (sign/verify with HMAC, AES-GCM encrypt/decrypt, C_DeriveKey with each
 * vendor mechanism, HKDF and the TLS 1.2 PSK master secret, all with valid
 * parameters): the allowed ones succeed, the others answer exactly the
 * CK_RV of the table below and create no object.  Then the attribute rules
 * (sensitive, never extractable, read-only role, no copy or wrap that
 * relaxes them), creation templates, expiry, the TLS_MASTER result (its
 * value against an independent TLS 1.2 PRF) and role-less keys.
 */
#include "p11client.h"

#define KEID		"000102030405060708090a0b0c0d0e0f@mef.example.com"
#define KE_HEX		"101112131415161718191a1b1c1d1e1f" \
			"202122232425262728292a2b2c2d2e2f"
#define KPSA_HEX	"d7f399f9aa3564b7b941a888084dc114" \
			"9823cef8ff2d6630845bd4e6fbccf254"
#define MAF_ID		"maf.example.com"
#define ENROLEE_B	"/in-cse.example.com/CAE01"
#define KUC_TARGET	"mn-cse.example.com"

static CK_SESSION_HANDLE S;
static CK_SLOT_ID SLOT;
static const uint8_t IV[12] = { 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2 };
static const uint8_t CRAND[32] = { 0xc1, 0xc2, 0xc3, 0xc4, 0xc5 };
static const uint8_t SRAND[32] = { 0x51, 0x52, 0x53, 0x54, 0x55 };
static const uint8_t SHASH[32] = { 0x4a, 0x4b, 0x4c, 0x4d };

enum use {
	U_SIGN, U_VERIFY, U_SIGN512, U_SIGN_GEN, U_ENC, U_DEC,
	U_KM, U_KPSA, U_KUC, U_E2E256, U_E2E512, U_EXPAND, U_TLS, U_HKDF,
	NUSES
};

static const char *const use_name[NUSES] = {
	"C_SignInit(SHA256_HMAC)", "C_VerifyInit(SHA256_HMAC)",
	"C_SignInit(SHA512_HMAC)", "C_SignInit(SHA256_HMAC_GENERAL)",
	"C_EncryptInit(AES_GCM)", "C_DecryptInit(AES_GCM)",
	"derive CKM_M2M_KM_DERIVE", "derive CKM_M2M_KPSA_DERIVE",
	"derive CKM_M2M_KUC_DERIVE", "derive CKM_M2M_E2E_MASTER_SHA256",
	"derive CKM_M2M_E2E_MASTER_SHA512", "derive CKM_M2M_E2E_EXPAND",
	"derive CKM_M2M_TLS12_PSK_MASTER", "derive CKM_HKDF_DERIVE",
};

#define B(u)	(1u << (u))
#define HMAC_USES	(B(U_SIGN) | B(U_VERIFY) | B(U_SIGN512) | B(U_SIGN_GEN))
#define PSK_USES	(B(U_TLS) | B(U_E2E256) | B(U_E2E512))

/* One row: the role, the allowed uses, and refusals other than NOT_PERMITTED */
struct row {
	const char	*name;
	CK_ULONG	 role;
	unsigned int	 allowed;
	CK_OBJECT_HANDLE h;
	CK_RV		 other[NUSES];	/* 0: CKR_KEY_FUNCTION_NOT_PERMITTED */
};

static struct row rows[] = {
	{ "KPM", CK_M2M_ROLE_KPM, B(U_TLS), 0, { 0 } },
	{ "KE", CK_M2M_ROLE_KE, B(U_KM) | B(U_KPSA) | B(U_KUC), 0, { 0 } },
	/* contract: KER is "HMAC-SHA-256 sign/verify" */
	{ "KER", CK_M2M_ROLE_KER, B(U_SIGN) | B(U_VERIFY) | B(U_SIGN_GEN), 0,
	  { 0 } },
	{ "KM", CK_M2M_ROLE_KM, PSK_USES, 0, { 0 } },
	{ "KPSA", CK_M2M_ROLE_KPSA, PSK_USES, 0, { 0 } },
	{ "KUC", CK_M2M_ROLE_KUC, PSK_USES, 0, { 0 } },
	{ "KC", CK_M2M_ROLE_KC, PSK_USES, 0, { 0 } },
	{ "KE2E_MASTER", CK_M2M_ROLE_KE2E_MASTER, B(U_EXPAND), 0, { 0 } },
	{ "KE2E_MSG_AUTH", CK_M2M_ROLE_KE2E_MSG_AUTH, HMAC_USES, 0, { 0 } },
	{ "KE2E_MSG_CONF", CK_M2M_ROLE_KE2E_MSG_CONF, B(U_ENC) | B(U_DEC), 0,
	  { 0 } },
	{ "KE2E_ATT_AUTH", CK_M2M_ROLE_KE2E_ATT_AUTH, HMAC_USES, 0, { 0 } },
	{ "KE2E_ATT_CONF", CK_M2M_ROLE_KE2E_ATT_CONF, B(U_ENC) | B(U_DEC), 0,
	  { 0 } },
	{ "TLS_MASTER", CK_M2M_ROLE_TLS_MASTER, 0, 0, { 0 } },
	/* role-less keys: ordinary PKCS#11 usage flags (module defaults) */
	{ "role-less generic secret", 0, HMAC_USES | B(U_HKDF), 0, { 0 } },
	{ "role-less AES", 0, B(U_ENC) | B(U_DEC), 0,
	  { [U_HKDF] = CKR_KEY_TYPE_INCONSISTENT } },
	{ "role-less generic, CKA_ENCRYPT/DECRYPT", 0, HMAC_USES | B(U_HKDF),
	  0, { [U_ENC] = CKR_KEY_TYPE_INCONSISTENT,
	  [U_DEC] = CKR_KEY_TYPE_INCONSISTENT } },
	{ "role-less AES, CKA_SIGN/VERIFY", 0, B(U_ENC) | B(U_DEC), 0,
	  { [U_SIGN] = CKR_KEY_TYPE_INCONSISTENT,
	  [U_VERIFY] = CKR_KEY_TYPE_INCONSISTENT,
	  [U_SIGN512] = CKR_KEY_TYPE_INCONSISTENT,
	  [U_SIGN_GEN] = CKR_KEY_TYPE_INCONSISTENT,
	  [U_HKDF] = CKR_KEY_TYPE_INCONSISTENT } },
};
#define NROWS	(sizeof(rows) / sizeof(rows[0]))

static struct row *
row_of(CK_ULONG role)
{
	size_t i;

	for (i = 0; i < NROWS; i++)
		if (rows[i].role == role && role != 0)
			return &rows[i];
	p11c_bail("no row for role %lu", role);
}

/* ------------------------------------------------------------------ */
/* the keys                                                            */
/* ------------------------------------------------------------------ */

static CK_M2M_TLS12_PSK_PARAMS
tls_params(CK_MECHANISM_TYPE hash, int ems)
{
	CK_M2M_TLS12_PSK_PARAMS p;

	memset(&p, 0, sizeof(p));
	p.prfHashMechanism = hash;
	p.bExtendedMasterSecret = ems ? CK_TRUE : CK_FALSE;
	if (ems) {
		p.pSessionHash = (CK_BYTE_PTR)SHASH;
		p.ulSessionHashLen = sizeof(SHASH);
	} else {
		p.pClientRandom = (CK_BYTE_PTR)CRAND;
		p.ulClientRandomLen = 32;
		p.pServerRandom = (CK_BYTE_PTR)SRAND;
		p.ulServerRandomLen = 32;
	}
	return p;
}

static CK_RV
tls_derive(CK_OBJECT_HANDLE base, CK_MECHANISM_TYPE hash, int ems,
    CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE *ret)
{
	CK_M2M_TLS12_PSK_PARAMS p = tls_params(hash, ems);

	return p11c_derive(S, CKM_M2M_TLS12_PSK_MASTER, &p, sizeof(p), base,
	    t, n, ret);
}

static void
make_keys(void)
{
	uint8_t v[32];
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE enc[] = {
		{ CKA_ENCRYPT, &yes, 1 }, { CKA_DECRYPT, &yes, 1 },
	};
	CK_ATTRIBUTE sig[] = {
		{ CKA_SIGN, &yes, 1 }, { CKA_VERIFY, &yes, 1 },
	};
	CK_M2M_KUC_PARAMS kp = { 22, (CK_UTF8CHAR_PTR)KUC_TARGET,
	    strlen(KUC_TARGET) };
	CK_ULONG i;
	uint8_t n;

	memset(v, 0x5a, sizeof(v));
	P11C_MUST(p11c_import(S, CK_M2M_ROLE_KPM, "kpm-1", v, 32,
	    &row_of(CK_M2M_ROLE_KPM)->h));
	p11c_unhex(KE_HEX, v, 32);
	P11C_MUST(p11c_import(S, CK_M2M_ROLE_KE, KEID, v, 32,
	    &row_of(CK_M2M_ROLE_KE)->h));
	memset(v, 0x3c, sizeof(v));
	P11C_MUST(p11c_import(S, CK_M2M_ROLE_KER, "ker@mef.example.com", v,
	    32, &row_of(CK_M2M_ROLE_KER)->h));
	P11C_MUST(p11c_import(S, CK_M2M_ROLE_KC, "kc@mef.example.com", v, 32,
	    &row_of(CK_M2M_ROLE_KC)->h));
	P11C_MUST(p11c_derive(S, CKM_M2M_KM_DERIVE, MAF_ID, strlen(MAF_ID),
	    row_of(CK_M2M_ROLE_KE)->h, NULL, 0, &row_of(CK_M2M_ROLE_KM)->h));
	P11C_MUST(p11c_derive(S, CKM_M2M_KPSA_DERIVE, ENROLEE_B,
	    strlen(ENROLEE_B), row_of(CK_M2M_ROLE_KE)->h, NULL, 0,
	    &row_of(CK_M2M_ROLE_KPSA)->h));
	P11C_MUST(p11c_derive(S, CKM_M2M_KUC_DERIVE, &kp, sizeof(kp),
	    row_of(CK_M2M_ROLE_KE)->h, NULL, 0, &row_of(CK_M2M_ROLE_KUC)->h));
	P11C_MUST(p11c_derive(S, CKM_M2M_E2E_MASTER_SHA256, NULL, 0,
	    row_of(CK_M2M_ROLE_KPSA)->h, NULL, 0,
	    &row_of(CK_M2M_ROLE_KE2E_MASTER)->h));
	for (n = 1; n <= 4; n++)
		P11C_MUST(p11c_expand(S, row_of(CK_M2M_ROLE_KE2E_MASTER)->h,
		    n, &row_of(CK_M2M_ROLE_KE2E_MASTER + n)->h));
	P11C_MUST(tls_derive(row_of(CK_M2M_ROLE_KPSA)->h, CKM_SHA256, 0, NULL,
	    0, &row_of(CK_M2M_ROLE_TLS_MASTER)->h));
	for (i = 0; i < NROWS; i++) {
		if (rows[i].role != 0)
			continue;
		memset(v, 0x11 * (int)(i + 1), sizeof(v));
		if (strstr(rows[i].name, "AES") != NULL)
			P11C_MUST(p11c_import_ex(S, 0, NULL, CKK_AES, v, 32,
			    CK_FALSE, strstr(rows[i].name, "SIGN") ? sig :
			    NULL, strstr(rows[i].name, "SIGN") ? 2 : 0,
			    &rows[i].h));
		else
			P11C_MUST(p11c_import_ex(S, 0, NULL,
			    CKK_GENERIC_SECRET, v, 32, CK_FALSE,
			    strstr(rows[i].name, "ENCRYPT") ? enc : NULL,
			    strstr(rows[i].name, "ENCRYPT") ? 2 : 0,
			    &rows[i].h));
	}
}

/* ------------------------------------------------------------------ */
/* uses                                                                */
/* ------------------------------------------------------------------ */

/*
 * Try one use of key h.  For the operations, a successful init is
 * completed (so the session is free for the next one).
 */
static CK_RV
try_use(CK_OBJECT_HANDLE h, enum use u)
{
	static const char maf[] = MAF_ID, eb[] = ENROLEE_B;
	CK_M2M_KUC_PARAMS kp = { 22, (CK_UTF8CHAR_PTR)KUC_TARGET,
	    strlen(KUC_TARGET) };
	CK_HKDF_PARAMS hp;
	CK_ULONG len32 = 32, gl = 16, ol;
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_ATTRIBUTE ht[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_VALUE_LEN, &len32, sizeof(len32) },
	};
	CK_GCM_PARAMS gp = { (CK_BYTE_PTR)IV, 12, 96, NULL, 0, 128 };
	CK_MECHANISM m = { 0, NULL, 0 };
	CK_OBJECT_HANDLE nk;
	uint8_t out[128], ct[64];
	CK_ULONG ctl = sizeof(ct);
	uint8_t one = 1;
	CK_RV rv;

	switch (u) {
	case U_SIGN:
	case U_SIGN512:
	case U_SIGN_GEN:
		m.mechanism = u == U_SIGN ? CKM_SHA256_HMAC :
		    u == U_SIGN512 ? CKM_SHA512_HMAC : CKM_SHA256_HMAC_GENERAL;
		if (u == U_SIGN_GEN) {
			m.pParameter = &gl;
			m.ulParameterLen = sizeof(gl);
		}
		if ((rv = F->C_SignInit(S, &m, h)) != CKR_OK)
			return rv;
		ol = sizeof(out);
		P11C_MUST(F->C_Sign(S, (CK_BYTE_PTR)"x", 1, out, &ol));
		return CKR_OK;
	case U_VERIFY:
		m.mechanism = CKM_SHA256_HMAC;
		if ((rv = F->C_VerifyInit(S, &m, h)) != CKR_OK)
			return rv;
		memset(out, 0, 32);
		rv = F->C_Verify(S, (CK_BYTE_PTR)"x", 1, out, 32);
		if (rv != CKR_SIGNATURE_INVALID)
			p11c_bail("C_Verify of a zero MAC: %s",
			    p11c_rvname(rv));
		return CKR_OK;
	case U_ENC:
	case U_DEC:
		m.mechanism = CKM_AES_GCM;
		m.pParameter = &gp;
		m.ulParameterLen = sizeof(gp);
		if (u == U_DEC) {
			/* a ciphertext to decrypt, if this key may encrypt */
			if (p11c_gcm_encrypt(S, h, IV, NULL, 0, "msg", 3, ct,
			    &ctl) != CKR_OK)
				ctl = 0;
			if ((rv = F->C_DecryptInit(S, &m, h)) != CKR_OK)
				return rv;
			ol = sizeof(out);
			rv = F->C_Decrypt(S, ct, ctl, out, &ol);
			if (ctl != 0 && rv != CKR_OK)
				p11c_bail("C_Decrypt: %s", p11c_rvname(rv));
			return CKR_OK;
		}
		if ((rv = F->C_EncryptInit(S, &m, h)) != CKR_OK)
			return rv;
		ol = sizeof(out);
		P11C_MUST(F->C_Encrypt(S, (CK_BYTE_PTR)"msg", 3, out, &ol));
		return CKR_OK;
	case U_KM:
		return p11c_derive(S, CKM_M2M_KM_DERIVE, maf, strlen(maf), h,
		    NULL, 0, &nk);
	case U_KPSA:
		return p11c_derive(S, CKM_M2M_KPSA_DERIVE, eb, strlen(eb), h,
		    NULL, 0, &nk);
	case U_KUC:
		return p11c_derive(S, CKM_M2M_KUC_DERIVE, &kp, sizeof(kp), h,
		    NULL, 0, &nk);
	case U_E2E256:
	case U_E2E512:
		return p11c_derive(S, u == U_E2E256 ?
		    CKM_M2M_E2E_MASTER_SHA256 : CKM_M2M_E2E_MASTER_SHA512,
		    NULL, 0, h, NULL, 0, &nk);
	case U_EXPAND:
		return p11c_derive(S, CKM_M2M_E2E_EXPAND, &one, 1, h, NULL, 0,
		    &nk);
	case U_TLS:
		return tls_derive(h, CKM_SHA256, 0, NULL, 0, &nk);
	case U_HKDF:
		memset(&hp, 0, sizeof(hp));
		hp.bExtract = CK_TRUE;
		hp.bExpand = CK_TRUE;
		hp.prfHashMechanism = CKM_SHA256;
		hp.ulSaltType = CKF_HKDF_SALT_NULL;
		return p11c_derive(S, CKM_HKDF_DERIVE, &hp, sizeof(hp), h, ht,
		    3, &nk);
	default:
		p11c_bail("bad use %d", u);
	}
}

static void
test_uses(void)
{
	CK_ULONG before, after;
	CK_RV want, got;
	size_t i;
	int u, derive;

	for (i = 0; i < NROWS; i++) {
		for (u = 0; u < NUSES; u++) {
			derive = u >= U_KM;
			before = p11c_count(S);
			got = try_use(rows[i].h, (enum use)u);
			after = p11c_count(S);
			if (rows[i].allowed & B(u)) {
				CHECK_RV(got, CKR_OK, "%s: %s allowed",
				    rows[i].name, use_name[u]);
				continue;
			}
			want = rows[i].other[u] ? rows[i].other[u] :
			    CKR_KEY_FUNCTION_NOT_PERMITTED;
			CHECK_RV(got, want, "%s: %s refused", rows[i].name,
			    use_name[u]);
			if (derive || after != before)
				CHECK(after == before, "%s: %s created no "
				    "object (%lu -> %lu)", rows[i].name,
				    use_name[u], before, after);
		}
	}
}

/* ------------------------------------------------------------------ */
/* attributes of role keys                                             */
/* ------------------------------------------------------------------ */

static void
test_role_attributes(void)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG role99 = 99, role, n0, n1, i, len;
	CK_ATTRIBUTE a;
	CK_OBJECT_HANDLE nh, wrapkey;
	uint8_t buf[256], aes[32];
	static const CK_MECHANISM_TYPE wm[] = {
		CKM_AES_KEY_WRAP, CKM_AES_KEY_WRAP_PAD, CKM_AES_GCM,
		CKM_AES_CBC_PAD, CKM_M2M_KPSA_DERIVE,
	};
	CK_ATTRIBUTE wt[] = { { CKA_WRAP, &yes, 1 } };
	CK_ATTRIBUTE ext[] = { { CKA_EXTRACTABLE, &yes, 1 } };
	CK_ATTRIBUTE sens[] = { { CKA_SENSITIVE, &no, 1 } };
	CK_ATTRIBUTE rolet[] = { { CKA_M2M_ROLE, &role99, sizeof(role99) } };
	size_t w;

	memset(aes, 0x77, sizeof(aes));
	P11C_MUST(p11c_import_ex(S, 0, NULL, CKK_AES, aes, 32, CK_FALSE, wt,
	    1, &wrapkey));
	for (i = 0; i < NROWS; i++) {
		const char *nm = rows[i].name;
		CK_OBJECT_HANDLE h = rows[i].h;

		if (rows[i].role == 0 ||
		    rows[i].role == CK_M2M_ROLE_TLS_MASTER)
			continue;
		a = (CK_ATTRIBUTE){ CKA_VALUE, buf, sizeof(buf) };
		CHECK_RV(F->C_GetAttributeValue(S, h, &a, 1),
		    CKR_ATTRIBUTE_SENSITIVE, "%s: CKA_VALUE", nm);
		CHECK(a.ulValueLen == CK_UNAVAILABLE_INFORMATION,
		    "%s: CKA_VALUE length is CK_UNAVAILABLE_INFORMATION", nm);
		a = (CK_ATTRIBUTE){ CKA_VALUE, NULL, 0 };
		CHECK_RV(F->C_GetAttributeValue(S, h, &a, 1),
		    CKR_ATTRIBUTE_SENSITIVE, "%s: CKA_VALUE size query", nm);
		CHECK(p11c_get_bool(S, h, CKA_SENSITIVE) == 1 &&
		    p11c_get_bool(S, h, CKA_ALWAYS_SENSITIVE) == 1 &&
		    p11c_get_bool(S, h, CKA_NEVER_EXTRACTABLE) == 1 &&
		    p11c_get_bool(S, h, CKA_EXTRACTABLE) == 0 &&
		    p11c_get_bool(S, h, CKA_PRIVATE) == 1,
		    "%s: SENSITIVE, ALWAYS_SENSITIVE, NEVER_EXTRACTABLE, "
		    "PRIVATE TRUE; EXTRACTABLE FALSE", nm);
		CHECK_RV(F->C_SetAttributeValue(S, h, sens, 1),
		    CKR_ATTRIBUTE_READ_ONLY, "%s: set CKA_SENSITIVE=FALSE", nm);
		CHECK_RV(F->C_SetAttributeValue(S, h, ext, 1),
		    CKR_ATTRIBUTE_READ_ONLY, "%s: set CKA_EXTRACTABLE=TRUE",
		    nm);
		CHECK_RV(F->C_SetAttributeValue(S, h, rolet, 1),
		    CKR_ATTRIBUTE_READ_ONLY, "%s: change CKA_M2M_ROLE", nm);
		CHECK(p11c_get_bool(S, h, CKA_SENSITIVE) == 1 &&
		    p11c_get_bool(S, h, CKA_EXTRACTABLE) == 0 &&
		    p11c_get_ulong(S, h, CKA_M2M_ROLE, &role) == CKR_OK &&
		    role == rows[i].role, "%s: unchanged", nm);
		n0 = p11c_count(S);
		CHECK_RV(F->C_CopyObject(S, h, ext, 1, &nh),
		    CKR_ATTRIBUTE_READ_ONLY, "%s: C_CopyObject(EXTRACTABLE="
		    "TRUE)", nm);
		CHECK_RV(F->C_CopyObject(S, h, sens, 1, &nh),
		    CKR_ATTRIBUTE_READ_ONLY, "%s: C_CopyObject(SENSITIVE="
		    "FALSE)", nm);
		CHECK_RV(F->C_CopyObject(S, h, rolet, 1, &nh),
		    CKR_ATTRIBUTE_READ_ONLY, "%s: C_CopyObject(M2M_ROLE=99)",
		    nm);
		n1 = p11c_count(S);
		CHECK(n1 == n0, "%s: no copy was made", nm);
		for (w = 0; w < sizeof(wm) / sizeof(wm[0]); w++) {
			CK_MECHANISM m = { wm[w], NULL, 0 };
			CK_ULONG wl = sizeof(buf);

			CHECK_RV(F->C_WrapKey(S, &m, wrapkey, h, buf, &wl),
			    CKR_KEY_UNEXTRACTABLE, "%s: C_WrapKey(mech 0x%lx, "
			    "AES wrapping key)", nm, wm[w]);
			len = 0;
			CHECK_RV(F->C_WrapKey(S, &m, h, h, NULL, &len),
			    CKR_KEY_UNEXTRACTABLE, "%s: C_WrapKey(mech 0x%lx, "
			    "itself, size query)", nm, wm[w]);
		}
	}
}

/* ------------------------------------------------------------------ */
/* creation templates                                                  */
/* ------------------------------------------------------------------ */

static void
test_templates(void)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE bad[3][1] = {
		{ { CKA_EXTRACTABLE, &yes, 1 } },
		{ { CKA_SENSITIVE, &no, 1 } },
		{ { CKA_PRIVATE, &no, 1 } },
	};
	static const char *const badname[3] = {
		"CKA_EXTRACTABLE=TRUE", "CKA_SENSITIVE=FALSE",
		"CKA_PRIVATE=FALSE",
	};
	static const CK_ULONG refused_roles[] = {
		CK_M2M_ROLE_IBC_SSK, CK_M2M_ROLE_IBC_KSAK,
		CK_M2M_ROLE_TLS_MASTER,
	};
	uint8_t v[32];
	CK_ULONG role, n0, i;
	CK_OBJECT_HANDLE h;
	char lab[32];
	int b;

	memset(v, 0x42, sizeof(v));
	n0 = p11c_count(S);
	for (role = CK_M2M_ROLE_KPM; role <= CK_M2M_ROLE_KE2E_ATT_CONF;
	    role++) {
		CK_KEY_TYPE kt = role == CK_M2M_ROLE_KE2E_MSG_CONF ||
		    role == CK_M2M_ROLE_KE2E_ATT_CONF ? CKK_AES :
		    CKK_GENERIC_SECRET;

		snprintf(lab, sizeof(lab), "tmpl-%lu@x.example", role);
		for (b = 0; b < 3; b++)
			CHECK_RV(p11c_import_ex(S, role, lab, kt, v, 32,
			    CK_FALSE, bad[b], 1, &h),
			    CKR_TEMPLATE_INCONSISTENT,
			    "import role %lu with %s", role, badname[b]);
		CHECK(p11c_count(S) == n0, "role %lu: refused imports created "
		    "nothing", role);
		CHECK_RV(p11c_import_ex(S, role, lab, kt, v, 32, CK_FALSE,
		    NULL, 0, &h), CKR_OK, "import role %lu", role);
		P11C_MUST(F->C_DestroyObject(S, h));
	}
	{
		CK_ULONG r99 = 99, r0 = 0;
		CK_ATTRIBUTE t99[] = { { CKA_M2M_ROLE, &r99, sizeof(r99) } };
		CK_ATTRIBUTE t0[] = { { CKA_M2M_ROLE, &r0, sizeof(r0) } };

		CHECK_RV(p11c_import_ex(S, 0, "r99", CKK_GENERIC_SECRET, v, 32,
		    CK_FALSE, t99, 1, &h), CKR_ATTRIBUTE_VALUE_INVALID,
		    "import with CKA_M2M_ROLE 99");
		CHECK_RV(p11c_import_ex(S, 0, "r0", CKK_GENERIC_SECRET, v, 32,
		    CK_FALSE, t0, 1, &h), CKR_ATTRIBUTE_VALUE_INVALID,
		    "import with CKA_M2M_ROLE 0 (not a contract role)");
	}
	for (i = 0; i < sizeof(refused_roles) / sizeof(refused_roles[0]);
	    i++)
		CHECK_RV(p11c_import(S, refused_roles[i], "no", v, 32, &h),
		    CKR_TEMPLATE_INCONSISTENT,
		    "import role %lu (never imported this way)",
		    refused_roles[i]);
	/* conf keys are AES-256: a generic secret for them is refused */
	CHECK_RV(p11c_import(S, CK_M2M_ROLE_KE2E_MSG_CONF, "gen", v, 32, &h),
	    CKR_TEMPLATE_INCONSISTENT, "KE2E_MSG_CONF as CKK_GENERIC_SECRET");
	CHECK(p11c_count(S) == n0, "refused imports created nothing");

	/* derivations: the template cannot relax the policy either */
	for (b = 0; b < 3; b++) {
		CK_OBJECT_HANDLE ke = row_of(CK_M2M_ROLE_KE)->h;
		CK_OBJECT_HANDLE kpsa = row_of(CK_M2M_ROLE_KPSA)->h;
		CK_OBJECT_HANDLE hm = row_of(CK_M2M_ROLE_KE2E_MASTER)->h;
		uint8_t n = 2;

		CHECK_RV(p11c_derive(S, CKM_M2M_KPSA_DERIVE, "/other", 6, ke,
		    bad[b], 1, &h), CKR_TEMPLATE_INCONSISTENT,
		    "derive Kpsa with %s", badname[b]);
		CHECK_RV(p11c_derive(S, CKM_M2M_E2E_MASTER_SHA512, NULL, 0,
		    kpsa, bad[b], 1, &h), CKR_TEMPLATE_INCONSISTENT,
		    "derive E2E master with %s", badname[b]);
		CHECK_RV(p11c_derive(S, CKM_M2M_E2E_EXPAND, &n, 1, hm, bad[b],
		    1, &h), CKR_TEMPLATE_INCONSISTENT,
		    "derive E2E expand with %s", badname[b]);
	}
	CHECK(p11c_count(S) == n0, "refused derivations created nothing");
}

/* ------------------------------------------------------------------ */
/* expiry                                                              */
/* ------------------------------------------------------------------ */

static void
test_expiry(void)
{
	static const char past[] = "20000101T000000";
	static const char future[] = "20991231T235959";
	CK_ATTRIBUTE tp[] = { { CKA_M2M_EXPIRES, (void *)past, 15 } };
	CK_ATTRIBUTE tf[] = { { CKA_M2M_EXPIRES, (void *)future, 15 } };
	CK_ATTRIBUTE tb[] = { { CKA_M2M_EXPIRES, (void *)"2000-01-01", 10 } };
	CK_OBJECT_HANDLE kep, kef, ker, h;
	uint8_t v[32], mac[32];
	char buf[64];
	CK_ULONG n0, l = sizeof(buf), ml = sizeof(mac);

	memset(v, 0x99, sizeof(v));
	CHECK_RV(p11c_import_ex(S, CK_M2M_ROLE_KE, "old@mef.example.com",
	    CKK_GENERIC_SECRET, v, 32, CK_FALSE, tp, 1, &kep), CKR_OK,
	    "import a KE that expired in 2000");
	CHECK_RV(p11c_import_ex(S, CK_M2M_ROLE_KE, "new@mef.example.com",
	    CKK_GENERIC_SECRET, v, 32, CK_FALSE, tf, 1, &kef), CKR_OK,
	    "import a KE that expires in 2099");
	CHECK_RV(p11c_import_ex(S, CK_M2M_ROLE_KE, "bad@mef.example.com",
	    CKK_GENERIC_SECRET, v, 32, CK_FALSE, tb, 1, &h),
	    CKR_ATTRIBUTE_VALUE_INVALID, "CKA_M2M_EXPIRES not an "
	    "m2m:timestamp");
	n0 = p11c_count(S);
	CHECK_RV(p11c_derive(S, CKM_M2M_KPSA_DERIVE, ENROLEE_B,
	    strlen(ENROLEE_B), kep, NULL, 0, &h),
	    CKR_KEY_FUNCTION_NOT_PERMITTED, "derive Kpsa from the expired KE");
	CHECK_RV(p11c_derive(S, CKM_M2M_KM_DERIVE, MAF_ID, strlen(MAF_ID),
	    kep, NULL, 0, &h), CKR_KEY_FUNCTION_NOT_PERMITTED,
	    "derive Km from the expired KE");
	CHECK(p11c_count(S) == n0, "nothing created from the expired KE");
	CHECK_RV(p11c_derive(S, CKM_M2M_KPSA_DERIVE, ENROLEE_B,
	    strlen(ENROLEE_B), kef, NULL, 0, &h), CKR_OK,
	    "derive Kpsa from the KE that expires in 2099");
	CHECK(p11c_get_bytes(S, h, CKA_M2M_EXPIRES, buf, &l) == CKR_OK &&
	    l == 15 && memcmp(buf, future, 15) == 0,
	    "the Kpsa inherits CKA_M2M_EXPIRES");
	CHECK_RV(p11c_import_ex(S, CK_M2M_ROLE_KER, "oldker",
	    CKK_GENERIC_SECRET, v, 32, CK_FALSE, tp, 1, &ker), CKR_OK,
	    "import an expired KER");
	CHECK_RV(p11c_sign(S, CKM_SHA256_HMAC, ker, "x", 1, mac, &ml),
	    CKR_KEY_FUNCTION_NOT_PERMITTED, "sign with the expired KER");
}

/* ------------------------------------------------------------------ */
/* TLS_MASTER                                                          */
/* ------------------------------------------------------------------ */

/*
 * RFC 5246 PRF with P_SHA256 over the RFC 4279 premaster of psk, with the
 * module's HMAC on a role-less copy of the premaster.
 */
static void
tls_prf_expected(const uint8_t *psk, size_t n, const char *label,
    const uint8_t *seed, size_t seedlen, uint8_t out[48])
{
	uint8_t pms[2 * 64 + 4], a[32], msg[32 + 64 + 64], blk[32];
	size_t ll = strlen(label), sl, off = 0, pl = 2 * n + 4;
	CK_OBJECT_HANDLE k;
	CK_ULONG bl;

	memset(pms, 0, sizeof(pms));
	pms[0] = (uint8_t)(n >> 8);
	pms[1] = (uint8_t)n;
	pms[n + 2] = (uint8_t)(n >> 8);
	pms[n + 3] = (uint8_t)n;
	memcpy(pms + n + 4, psk, n);
	P11C_MUST(p11c_import(S, 0, NULL, pms, pl, &k));
	/* A(1) = HMAC(pms, label || seed) */
	memcpy(msg, label, ll);
	memcpy(msg + ll, seed, seedlen);
	sl = ll + seedlen;
	bl = 32;
	P11C_MUST(p11c_sign(S, CKM_SHA256_HMAC, k, msg, sl, a, &bl));
	while (off < 48) {
		/* block = HMAC(pms, A(i) || label || seed) */
		memmove(msg + 32, msg, sl);
		memcpy(msg, a, 32);
		bl = 32;
		P11C_MUST(p11c_sign(S, CKM_SHA256_HMAC, k, msg, 32 + sl, blk,
		    &bl));
		memcpy(out + off, blk, 48 - off < 32 ? 48 - off : 32);
		off += 32;
		/* A(i+1) = HMAC(pms, A(i)) */
		bl = 32;
		P11C_MUST(p11c_sign(S, CKM_SHA256_HMAC, k, a, 32, a, &bl));
		memmove(msg, msg + 32, sl);
	}
	P11C_MUST(F->C_DestroyObject(S, k));
}

static void
tls_check(const char *what, CK_OBJECT_HANDLE base, const uint8_t psk[32],
    int ems)
{
	uint8_t got[64], want[48], seed[64];
	CK_OBJECT_HANDLE h;
	CK_ULONG l = sizeof(got), v;

	CHECK_RV(tls_derive(base, CKM_SHA256, ems, NULL, 0, &h), CKR_OK,
	    "%s: CKM_M2M_TLS12_PSK_MASTER (%s)", what,
	    ems ? "extended master secret" : "master secret");
	CHECK(p11c_get_bool(S, h, CKA_TOKEN) == 0, "%s: CKA_TOKEN FALSE",
	    what);
	CHECK(p11c_get_bool(S, h, CKA_EXTRACTABLE) == 1 &&
	    p11c_get_bool(S, h, CKA_SENSITIVE) == 0,
	    "%s: EXTRACTABLE TRUE, SENSITIVE FALSE", what);
	CHECK(p11c_get_ulong(S, h, CKA_M2M_ROLE, &v) == CKR_OK &&
	    v == CK_M2M_ROLE_TLS_MASTER, "%s: role TLS_MASTER", what);
	CHECK(p11c_get_ulong(S, h, CKA_KEY_TYPE, &v) == CKR_OK &&
	    v == CKK_GENERIC_SECRET, "%s: CKK_GENERIC_SECRET", what);
	CHECK_RV(p11c_get_bytes(S, h, CKA_VALUE, got, &l), CKR_OK,
	    "%s: read CKA_VALUE", what);
	CHECK(l == 48, "%s: 48 bytes (%lu)", what, l);
	if (ems)
		tls_prf_expected(psk, 32, "extended master secret", SHASH,
		    sizeof(SHASH), want);
	else {
		memcpy(seed, CRAND, 32);
		memcpy(seed + 32, SRAND, 32);
		tls_prf_expected(psk, 32, "master secret", seed, 64, want);
	}
	CHECK(l == 48 && memcmp(got, want, 48) == 0,
	    "%s: equals PRF(premaster, label, seed) computed here", what);
}

static void
test_tls_master(void)
{
	uint8_t kpsa[32], kpm[32], a[64], b[64];
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE tok[] = { { CKA_TOKEN, &yes, 1 } };
	CK_OBJECT_HANDLE h, h2, tm = row_of(CK_M2M_ROLE_TLS_MASTER)->h;
	CK_ULONG n0, al = sizeof(a), bl = sizeof(b);

	p11c_unhex(KPSA_HEX, kpsa, 32);
	memset(kpm, 0x5a, sizeof(kpm));
	tls_check("Kpsa", row_of(CK_M2M_ROLE_KPSA)->h, kpsa, 0);
	tls_check("Kpsa", row_of(CK_M2M_ROLE_KPSA)->h, kpsa, 1);
	tls_check("Kpm", row_of(CK_M2M_ROLE_KPM)->h, kpm, 0);
	n0 = p11c_count(S);
	CHECK_RV(tls_derive(row_of(CK_M2M_ROLE_KPSA)->h, CKM_SHA256, 0, tok, 1,
	    &h), CKR_TEMPLATE_INCONSISTENT, "TLS master with CKA_TOKEN TRUE");
	CHECK(p11c_count(S) == n0, "and no object");
	CHECK_RV(F->C_CopyObject(S, tm, tok, 1, &h), CKR_TEMPLATE_INCONSISTENT,
	    "TLS master: C_CopyObject(CKA_TOKEN TRUE)");
	/* CKA_TOKEN is never modifiable (PKCS#11 table 4): read-only */
	CHECK_RV(F->C_SetAttributeValue(S, tm, tok, 1),
	    CKR_ATTRIBUTE_READ_ONLY, "TLS master: set CKA_TOKEN TRUE");
	CHECK(p11c_get_bool(S, tm, CKA_TOKEN) == 0 && p11c_count(S) == n0,
	    "TLS master: still a session object, no copy");
	/* SHA-384 PRF: a different 48-byte secret */
	CHECK_RV(tls_derive(row_of(CK_M2M_ROLE_KPSA)->h, CKM_SHA384, 0, NULL, 0,
	    &h2), CKR_OK, "TLS master with the SHA-384 PRF");
	P11C_MUST(tls_derive(row_of(CK_M2M_ROLE_KPSA)->h, CKM_SHA256, 0, NULL,
	    0, &h));
	CHECK(p11c_get_bytes(S, h, CKA_VALUE, a, &al) == CKR_OK &&
	    p11c_get_bytes(S, h2, CKA_VALUE, b, &bl) == CKR_OK && al == 48 &&
	    bl == 48 && memcmp(a, b, 48) != 0,
	    "SHA-384 and SHA-256 PRFs give different 48-byte secrets");
}

/* ------------------------------------------------------------------ */
/* role-less keys: ordinary PKCS#11                                    */
/* ------------------------------------------------------------------ */

/*
 * CKM_HKDF_DERIVE makes role-less keys: a template that names a oneM2M role
 * for the output is refused (contract section 3: a derived key's role is
 * its mechanism's), so HKDF cannot mint a Ke or a Kpm.
 */
static void
test_hkdf_no_role(void)
{
	static const CK_ULONG roles[] = { CK_M2M_ROLE_KPM, CK_M2M_ROLE_KE,
	    CK_M2M_ROLE_KPSA, CK_M2M_ROLE_KE2E_MASTER };
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE plain[] = {
		{ CKA_SENSITIVE, &no, 1 }, { CKA_EXTRACTABLE, &yes, 1 },
	};
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_ULONG len32 = 32, role = 0;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_VALUE_LEN, &len32, sizeof(len32) },
		{ CKA_M2M_ROLE, &role, sizeof(role) },
	};
	CK_HKDF_PARAMS hp;
	CK_OBJECT_HANDLE ikm, out;
	uint8_t v[32];
	size_t i;

	memset(v, 0x5c, sizeof(v));
	P11C_MUST(p11c_import_ex(S, 0, "hkdf-ikm", CKK_GENERIC_SECRET, v, 32,
	    CK_FALSE, plain, 2, &ikm));
	memset(&hp, 0, sizeof(hp));
	hp.bExtract = CK_TRUE;
	hp.bExpand = CK_TRUE;
	hp.prfHashMechanism = CKM_SHA256;
	hp.ulSaltType = CKF_HKDF_SALT_NULL;
	for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		role = roles[i];
		CHECK_RV(p11c_derive(S, CKM_HKDF_DERIVE, &hp, sizeof(hp), ikm,
		    t, 4, &out), CKR_TEMPLATE_INCONSISTENT,
		    "HKDF with CKA_M2M_ROLE %lu in the template", role);
	}
	P11C_MUST(p11c_derive(S, CKM_HKDF_DERIVE, &hp, sizeof(hp), ikm, t, 3,
	    &out));
	P11C_MUST(F->C_DestroyObject(S, out));
	P11C_MUST(F->C_DestroyObject(S, ikm));
}

/* CKM_HKDF_DERIVE of base, extract and expand, 32 bytes, the defaults. */
static CK_RV
hkdf_default(CK_OBJECT_HANDLE base, CK_OBJECT_HANDLE *ret)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_ULONG len = 32;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_VALUE_LEN, &len, sizeof(len) },
	};
	CK_HKDF_PARAMS hp;

	memset(&hp, 0, sizeof(hp));
	hp.bExtract = CK_TRUE;
	hp.bExpand = CK_TRUE;
	hp.prfHashMechanism = CKM_SHA256;
	hp.ulSaltType = CKF_HKDF_SALT_NULL;
	return p11c_derive(S, CKM_HKDF_DERIVE, &hp, sizeof(hp), base, t, 3,
	    ret);
}

/*
 * PKCS #11: a derived key is CKA_ALWAYS_SENSITIVE only if its base is (and
 * it is sensitive), CKA_NEVER_EXTRACTABLE likewise.  The HKDF output of a
 * once readable IKM claimed both (found in review).  what names the base;
 * as, ne: what the base's two attributes are.
 */
static void
derived_claims(const char *what, CK_OBJECT_HANDLE base, int as, int ne)
{
	CK_OBJECT_HANDLE d;

	CHECK(p11c_get_bool(S, base, CKA_ALWAYS_SENSITIVE) == as &&
	    p11c_get_bool(S, base, CKA_NEVER_EXTRACTABLE) == ne,
	    "%s: ALWAYS_SENSITIVE %d, NEVER_EXTRACTABLE %d", what, as, ne);
	P11C_MUST(hkdf_default(base, &d));
	CHECK(p11c_get_bool(S, d, CKA_SENSITIVE) == 1 &&
	    p11c_get_bool(S, d, CKA_EXTRACTABLE) == 0,
	    "HKDF of %s: sensitive, not extractable (the defaults)", what);
	CHECK(p11c_get_bool(S, d, CKA_ALWAYS_SENSITIVE) == as &&
	    p11c_get_bool(S, d, CKA_NEVER_EXTRACTABLE) == ne,
	    "HKDF of %s: ALWAYS_SENSITIVE %d, NEVER_EXTRACTABLE %d, as its "
	    "base (got %d, %d)", what, as, ne,
	    p11c_get_bool(S, d, CKA_ALWAYS_SENSITIVE),
	    p11c_get_bool(S, d, CKA_NEVER_EXTRACTABLE));
	P11C_MUST(F->C_DestroyObject(S, d));
}

static void
test_roleless(void)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE plain[] = {
		{ CKA_SENSITIVE, &no, 1 }, { CKA_EXTRACTABLE, &yes, 1 },
	};
	CK_ATTRIBUTE s_on[] = { { CKA_SENSITIVE, &yes, 1 } };
	CK_ATTRIBUTE s_off[] = { { CKA_SENSITIVE, &no, 1 } };
	CK_ATTRIBUTE x_off[] = { { CKA_EXTRACTABLE, &no, 1 } };
	CK_ATTRIBUTE x_on[] = { { CKA_EXTRACTABLE, &yes, 1 } };
	uint8_t v[32], got[64];
	CK_OBJECT_HANDLE h, h2, c;
	CK_ULONG l, n0;

	memset(v, 0xab, sizeof(v));
	P11C_MUST(p11c_import_ex(S, 0, "plain", CKK_GENERIC_SECRET, v, 32,
	    CK_FALSE, plain, 2, &h));
	l = sizeof(got);
	CHECK(p11c_get_bytes(S, h, CKA_VALUE, got, &l) == CKR_OK && l == 32 &&
	    memcmp(got, v, 32) == 0,
	    "role-less, extractable, not sensitive: CKA_VALUE readable");
	CHECK(p11c_get_bool(S, h, CKA_ALWAYS_SENSITIVE) == 0 &&
	    p11c_get_bool(S, h, CKA_NEVER_EXTRACTABLE) == 0,
	    "role-less: ALWAYS_SENSITIVE, NEVER_EXTRACTABLE FALSE");
	derived_claims("a readable key", h, 0, 0);
	n0 = p11c_count(S);
	CHECK_RV(F->C_CopyObject(S, h, s_on, 1, &c), CKR_OK,
	    "role-less: C_CopyObject(SENSITIVE TRUE)");
	CHECK(p11c_count(S) == n0 + 1 && p11c_get_bool(S, c, CKA_SENSITIVE) ==
	    1, "role-less: the copy exists and is sensitive");
	CHECK_RV(F->C_SetAttributeValue(S, h, s_on, 1), CKR_OK,
	    "role-less: SENSITIVE FALSE -> TRUE");
	l = sizeof(got);
	CHECK_RV(p11c_get_bytes(S, h, CKA_VALUE, got, &l),
	    CKR_ATTRIBUTE_SENSITIVE, "role-less, now sensitive: CKA_VALUE");
	CHECK(p11c_get_bool(S, h, CKA_ALWAYS_SENSITIVE) == 0,
	    "role-less: ALWAYS_SENSITIVE stays FALSE");
	CHECK_RV(F->C_SetAttributeValue(S, h, s_off, 1),
	    CKR_ATTRIBUTE_READ_ONLY, "role-less: SENSITIVE TRUE -> FALSE");
	CHECK(p11c_get_bool(S, h, CKA_SENSITIVE) == 1,
	    "role-less: still sensitive");

	P11C_MUST(p11c_import_ex(S, 0, "plain2", CKK_GENERIC_SECRET, v, 32,
	    CK_FALSE, plain, 2, &h2));
	CHECK_RV(F->C_SetAttributeValue(S, h2, x_off, 1), CKR_OK,
	    "role-less: EXTRACTABLE TRUE -> FALSE");
	l = sizeof(got);
	CHECK_RV(p11c_get_bytes(S, h2, CKA_VALUE, got, &l),
	    CKR_ATTRIBUTE_SENSITIVE, "role-less, unextractable: CKA_VALUE");
	CHECK_RV(F->C_SetAttributeValue(S, h2, x_on, 1),
	    CKR_ATTRIBUTE_READ_ONLY, "role-less: EXTRACTABLE FALSE -> TRUE");
	CHECK(p11c_get_bool(S, h2, CKA_EXTRACTABLE) == 0 &&
	    p11c_get_bool(S, h2, CKA_NEVER_EXTRACTABLE) == 0,
	    "role-less: still unextractable, NEVER_EXTRACTABLE FALSE");
	derived_claims("a once extractable key", h2, 0, 0);
	{
		CK_OBJECT_HANDLE hs;

		P11C_MUST(p11c_import_ex(S, 0, "sensitive", CKK_GENERIC_SECRET,
		    v, 32, CK_FALSE, NULL, 0, &hs));
		derived_claims("a key sensitive from the start", hs, 1, 1);
		P11C_MUST(F->C_DestroyObject(S, hs));
	}
	n0 = p11c_count(S);
	CHECK_RV(F->C_CopyObject(S, h2, x_on, 1, &c), CKR_ATTRIBUTE_READ_ONLY,
	    "role-less: C_CopyObject(EXTRACTABLE TRUE) of an unextractable "
	    "key");
	CHECK(p11c_count(S) == n0, "role-less: no copy");

	/*
	 * A CK_BBOOL other than 0 or 1 is stored as CK_TRUE: kept as given
	 * (found in review), CKA_SENSITIVE 0x02 read back 2 and a search for
	 * CK_TRUE missed the key.  A secret key's creation did so already
	 * (a data object's now does too: test_data_objects, p11_misc).
	 */
	{
		CK_BBOOL two = 2, three = 3, got = 0;
		CK_ATTRIBUTE s2[] = { { CKA_SENSITIVE, &two, 1 } };
		CK_ATTRIBUTE v3[] = { { CKA_VERIFY, &three, 1 } };
		CK_ATTRIBUTE g = { CKA_SENSITIVE, &got, 1 };
		CK_ATTRIBUTE find[] = {
			{ CKA_LABEL, "bool-2", 6 },
			{ CKA_SENSITIVE, &yes, 1 },
		};
		CK_OBJECT_HANDLE hb;

		P11C_MUST(p11c_import_ex(S, 0, "bool-2", CKK_GENERIC_SECRET,
		    v, 32, CK_FALSE, plain, 2, &hb));
		CHECK_RV(F->C_SetAttributeValue(S, hb, s2, 1), CKR_OK,
		    "role-less: C_SetAttributeValue(CKA_SENSITIVE 0x02)");
		P11C_MUST(F->C_GetAttributeValue(S, hb, &g, 1));
		CHECK(got == CK_TRUE, "role-less: CKA_SENSITIVE reads back "
		    "CK_TRUE (got 0x%02x)", got);
		CHECK(p11c_find(S, find, 2, NULL, 0) == 1,
		    "role-less: found by CKA_SENSITIVE CK_TRUE");
		CHECK_RV(F->C_CopyObject(S, hb, v3, 1, &c), CKR_OK,
		    "role-less: C_CopyObject(CKA_VERIFY 0x03)");
		g.type = CKA_VERIFY;
		P11C_MUST(F->C_GetAttributeValue(S, c, &g, 1));
		CHECK(got == CK_TRUE, "role-less: the copy's CKA_VERIFY reads "
		    "back CK_TRUE (got 0x%02x)", got);
		P11C_MUST(F->C_DestroyObject(S, c));
		P11C_MUST(F->C_DestroyObject(S, hb));
	}
}

/* CKM_HKDF_DERIVE of base, 32 readable bytes. */
static CK_RV
hkdf_readable(CK_OBJECT_HANDLE base, CK_BBOOL extract, const void *info,
    CK_ULONG infolen, CK_OBJECT_HANDLE *ret)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG len = 32;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_VALUE_LEN, &len, sizeof(len) },
		{ CKA_SENSITIVE, &no, 1 }, { CKA_EXTRACTABLE, &yes, 1 },
	};
	CK_HKDF_PARAMS hp;

	memset(&hp, 0, sizeof(hp));
	hp.bExtract = extract;
	hp.bExpand = CK_TRUE;
	hp.prfHashMechanism = CKM_SHA256;
	hp.ulSaltType = CKF_HKDF_SALT_NULL;
	hp.pInfo = (CK_BYTE_PTR)info;
	hp.ulInfoLen = infolen;
	return p11c_derive(S, CKM_HKDF_DERIVE, &hp, sizeof(hp), base, t, 5,
	    ret);
}

/*
 * An expand-only HKDF is an HMAC under its base: T(1) = HMAC(base, info
 * || 0x01), info the caller's.  A verify-only key (CKA_DERIVE TRUE by
 * default) signed any message ending in 0x01 this way, and C_Verify took
 * the MAC (found in review).  It needs the base's sign use too; extract
 * and expand (the base the message of HMAC(salt, base)) needs derive only.
 */
static void
hkdf_no_sign(CK_OBJECT_HANDLE vo)
{
	static const uint8_t msg[] = "pay 1000 EUR to mallory\x01";
	CK_ULONG ml = sizeof(msg) - 1, l, n0;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE sv[] = { { CKA_SIGN, &yes, 1 }, { CKA_VERIFY, &yes, 1 } };
	CK_OBJECT_HANDLE d, sk;
	uint8_t v[32], out[64], mac[64];

	CHECK(p11c_get_bool(S, vo, CKA_SIGN) == 0 &&
	    p11c_get_bool(S, vo, CKA_DERIVE) == 1,
	    "verify-only HMAC key: CKA_SIGN FALSE, CKA_DERIVE TRUE");
	n0 = p11c_count(S);
	CHECK_RV(hkdf_readable(vo, CK_FALSE, msg, ml - 1, &d),
	    CKR_KEY_FUNCTION_NOT_PERMITTED,
	    "verify-only HMAC key: HKDF expand only (an HMAC under it)");
	CHECK(d == CK_INVALID_HANDLE && p11c_count(S) == n0,
	    "verify-only HMAC key: no HKDF output made");
	CHECK_RV(hkdf_readable(vo, CK_TRUE, msg, ml - 1, &d), CKR_OK,
	    "verify-only HMAC key: HKDF extract and expand (derive only)");
	P11C_MUST(F->C_DestroyObject(S, d));
	/* why: with a key that may sign, expand only gives its signature */
	memset(v, 0x6e, sizeof(v));
	P11C_MUST(p11c_import_ex(S, 0, "sign-verify", CKK_GENERIC_SECRET, v,
	    32, CK_FALSE, sv, 2, &sk));
	CHECK_RV(hkdf_readable(sk, CK_FALSE, msg, ml - 1, &d), CKR_OK,
	    "sign and derive HMAC key: HKDF expand only");
	l = sizeof(out);
	P11C_MUST(p11c_get_bytes(S, d, CKA_VALUE, out, &l));
	l = sizeof(mac);
	P11C_MUST(p11c_sign(S, CKM_SHA256_HMAC, sk, msg, ml, mac, &l));
	CHECK(l == 32 && memcmp(out, mac, 32) == 0,
	    "sign and derive HMAC key: HKDF expand only = its HMAC of info "
	    "|| 0x01");
	P11C_MUST(F->C_DestroyObject(S, d));
	P11C_MUST(F->C_DestroyObject(S, sk));
}

/*
 * An AES key that may encrypt but not decrypt: GCM is a counter mode, so
 * encrypting a ciphertext again under its IV would decrypt it.  Such a
 * key takes only the token's IV (found in review); with both uses, any.
 */
static void
test_encrypt_only(void)
{
	static const uint8_t own[12] = { 1, 2, 3 };
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE eo[] = {
		{ CKA_ENCRYPT, &yes, 1 }, { CKA_DECRYPT, &no, 1 },
	};
	CK_ATTRIBUTE ed[] = {
		{ CKA_ENCRYPT, &yes, 1 }, { CKA_DECRYPT, &yes, 1 },
	};
	uint8_t v[32], iv[12], ct[64], back[64];
	CK_OBJECT_HANDLE h, h2;
	CK_ULONG l;

	memset(v, 0x6e, sizeof(v));
	P11C_MUST(p11c_import_ex(S, 0, "enc-only", CKK_AES, v, 32, CK_FALSE,
	    eo, 2, &h));
	l = sizeof(ct);
	CHECK_RV(p11c_gcm_encrypt(S, h, own, NULL, 0, "secret", 6, ct, &l),
	    CKR_MECHANISM_PARAM_INVALID,
	    "encrypt-only AES key: C_EncryptInit with the caller's IV");
	memset(iv, 0, sizeof(iv));
	{
		/* the token's IV: 12 zero bytes, ulIvBits 0 (operations.md) */
		CK_GCM_PARAMS gp = { iv, 12, 0, NULL, 0, 128 };
		CK_MECHANISM m = { CKM_AES_GCM, &gp, sizeof(gp) };
		static const uint8_t zero[12];

		l = sizeof(ct);
		CHECK_RV(F->C_EncryptInit(S, &m, h), CKR_OK,
		    "encrypt-only AES key: C_EncryptInit with the token's IV");
		CHECK_RV(F->C_Encrypt(S, (CK_BYTE_PTR)"secret", 6, ct, &l),
		    CKR_OK, "encrypt-only AES key: C_Encrypt");
		CHECK(l == 6 + 16 && memcmp(iv, zero, 12) != 0,
		    "encrypt-only AES key: a ciphertext, its tag and the IV");
	}
	/* the attack: encrypt the ciphertext again under its IV */
	l = sizeof(back);
	CHECK_RV(p11c_gcm_encrypt(S, h, iv, NULL, 0, ct, 6, back, &l),
	    CKR_MECHANISM_PARAM_INVALID,
	    "encrypt-only AES key: the ciphertext again under its IV");
	CHECK_RV(p11c_gcm_decrypt(S, h, iv, NULL, 0, ct, 22, back, &l),
	    CKR_KEY_FUNCTION_NOT_PERMITTED, "encrypt-only AES key: decrypt");
	/*
	 * Switch the use back on (a second review): by C_SetAttributeValue
	 * and in a C_CopyObject, for decrypt and for a verify-only key's
	 * sign.  A use that is off stays off; switching one off still works.
	 */
	{
		CK_ATTRIBUTE dec = { CKA_DECRYPT, &yes, 1 };
		CK_ATTRIBUTE sgn = { CKA_SIGN, &yes, 1 };
		CK_ATTRIBUTE vo[] = {
			{ CKA_SIGN, &no, 1 }, { CKA_VERIFY, &yes, 1 },
		};
		CK_ATTRIBUTE enc_off = { CKA_ENCRYPT, &no, 1 };
		CK_OBJECT_HANDLE c = CK_INVALID_HANDLE, hv;
		CK_BBOOL b = CK_TRUE;
		CK_ATTRIBUTE get = { CKA_DECRYPT, &b, 1 };

		CHECK_RV(F->C_SetAttributeValue(S, h, &dec, 1),
		    CKR_ATTRIBUTE_READ_ONLY,
		    "encrypt-only AES key: C_SetAttributeValue(CKA_DECRYPT)");
		CHECK_RV(F->C_CopyObject(S, h, &dec, 1, &c),
		    CKR_ATTRIBUTE_READ_ONLY,
		    "encrypt-only AES key: C_CopyObject(CKA_DECRYPT)");
		CHECK(c == CK_INVALID_HANDLE, "no copy made");
		CHECK_RV(F->C_GetAttributeValue(S, h, &get, 1), CKR_OK,
		    "C_GetAttributeValue(CKA_DECRYPT)");
		CHECK(b == CK_FALSE, "encrypt-only AES key: still no decrypt");
		P11C_MUST(p11c_import_ex(S, 0, "verify-only", CKK_GENERIC_SECRET,
		    v, 32, CK_FALSE, vo, 2, &hv));
		CHECK_RV(F->C_SetAttributeValue(S, hv, &sgn, 1),
		    CKR_ATTRIBUTE_READ_ONLY,
		    "verify-only HMAC key: C_SetAttributeValue(CKA_SIGN)");
		CHECK_RV(F->C_CopyObject(S, hv, &sgn, 1, &c),
		    CKR_ATTRIBUTE_READ_ONLY,
		    "verify-only HMAC key: C_CopyObject(CKA_SIGN)");
		CHECK(c == CK_INVALID_HANDLE, "no copy made");
		CHECK_RV(F->C_SetAttributeValue(S, h, &enc_off, 1), CKR_OK,
		    "encrypt-only AES key: switching CKA_ENCRYPT off");
		hkdf_no_sign(hv);
		P11C_MUST(F->C_DestroyObject(S, hv));
	}
	P11C_MUST(p11c_import_ex(S, 0, "enc-dec", CKK_AES, v, 32, CK_FALSE,
	    ed, 2, &h2));
	l = sizeof(ct);
	CHECK_RV(p11c_gcm_encrypt(S, h2, own, NULL, 0, "secret", 6, ct, &l),
	    CKR_OK, "encrypt and decrypt AES key: the caller's IV");
}

int
main(int argc, char **argv)
{
	p11c_load(argc, argv);
	S = p11c_setup("policy", &SLOT);
	make_keys();
	test_uses();
	test_role_attributes();
	test_templates();
	test_expiry();
	test_tls_master();
	test_roleless();
	test_hkdf_no_role();
	test_encrypt_only();
	CHECK_RV(F->C_Finalize(NULL), CKR_OK, "C_Finalize");
	return p11c_finish();
}
