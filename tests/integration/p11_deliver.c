/*
 * p11_deliver: a MEF delivers Kpsa / Kuc to an enrolment target
 * ([token] deliver_derived, docs/security-model.md "Delivering a derived
 * key").  Without the switch a template asking CKA_M2M_ROLE = 0 is refused;
 * with it the derived key is a role-less session secret whose value is the
 * spec's Kpsa vector, and it can be nothing else: not a token object, not
 * from KM_DERIVE, not a PSK, not an E2E base, and the Ke stays unreadable.
 * One asked with no use (what m2m-mef asks) is held in module memory and
 * refuses every use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "p11client.h"

#define TOKEN	"deliver"
#define KEID	"000102030405060708090a0b0c0d0e0f@mef.example.com"
#define TARGET	"/in-cse.example.com/CAE01"
#define KE_HEX	"101112131415161718191a1b1c1d1e1f" \
		"202122232425262728292a2b2c2d2e2f"
#define KPSA_HEX "d7f399f9aa3564b7b941a888084dc114" \
		"9823cef8ff2d6630845bd4e6fbccf254"

static CK_SESSION_HANDLE S;
static CK_SLOT_ID SLOT;


static CK_OBJECT_HANDLE
import_ke(void)
{
	uint8_t ke[32];
	CK_OBJECT_HANDLE h;

	p11c_unhex(KE_HEX, ke, sizeof(ke));
	P11C_MUST(p11c_import(S, CK_M2M_ROLE_KE, KEID, ke, sizeof(ke), &h));
	return h;
}

/* C_DeriveKey of mech from ke asking for a role-less delivered key. */
static CK_RV
derive_delivered(CK_MECHANISM_PTR m, CK_OBJECT_HANDLE ke, CK_BBOOL token,
    CK_OBJECT_HANDLE *ret)
{
	CK_ULONG none = CK_M2M_ROLE_NONE;
	CK_BBOOL f = CK_FALSE, t = CK_TRUE;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_M2M_ROLE, &none, sizeof(none) },
		{ CKA_TOKEN, &token, sizeof(token) },
		{ CKA_SENSITIVE, &f, sizeof(f) },
		{ CKA_EXTRACTABLE, &t, sizeof(t) },
	};

	*ret = CK_INVALID_HANDLE;
	return F->C_DeriveKey(S, m, ke, tmpl, 4, ret);
}

static void
start(int deliver)
{
	if (deliver) {
		p11c_conf_append("\n[token]\ndeliver_derived = yes\n");
		P11C_MUST(F->C_Initialize(NULL));
		S = p11c_user_session(SLOT);
	} else
		S = p11c_setup(TOKEN, &SLOT);	/* initialises */
}

static void
stop(void)
{
	P11C_MUST(F->C_Finalize(NULL));
}

/* A normal token (the default) never lets a role key out. */
static void
test_refused_without_switch(void)
{
	CK_MECHANISM m = { CKM_M2M_KPSA_DERIVE, TARGET, strlen(TARGET) };
	CK_M2M_KUC_PARAMS kp = { 22, (CK_UTF8CHAR_PTR)TARGET, strlen(TARGET) };
	CK_MECHANISM mk = { CKM_M2M_KUC_DERIVE, &kp, sizeof(kp) };
	CK_OBJECT_HANDLE ke = import_ke(), h;

	p11c_check_rv(derive_delivered(&m, ke, CK_FALSE, &h),
	    CKR_ATTRIBUTE_VALUE_INVALID,
	    "deliver_derived off: KPSA_DERIVE with CKA_M2M_ROLE 0");
	p11c_check_rv(derive_delivered(&mk, ke, CK_FALSE, &h),
	    CKR_ATTRIBUTE_VALUE_INVALID,
	    "deliver_derived off: KUC_DERIVE with CKA_M2M_ROLE 0");
	P11C_MUST(F->C_DestroyObject(S, ke));
}

static void
test_delivered(void)
{
	CK_MECHANISM m = { CKM_M2M_KPSA_DERIVE, TARGET, strlen(TARGET) };
	CK_M2M_KUC_PARAMS kp = { 22, (CK_UTF8CHAR_PTR)TARGET, strlen(TARGET) };
	CK_MECHANISM mk = { CKM_M2M_KUC_DERIVE, &kp, sizeof(kp) };
	CK_MECHANISM mm = { CKM_M2M_KM_DERIVE, "maf.example.com", 15 };
	CK_MECHANISM e2e = { CKM_M2M_E2E_MASTER_SHA256, NULL, 0 };
	CK_M2M_TLS12_PSK_PARAMS tp;
	CK_MECHANISM tls = { CKM_M2M_TLS12_PSK_MASTER, &tp, sizeof(tp) };
	uint8_t want[32], got[64], rnd[32];
	CK_ULONG len = sizeof(got);
	CK_OBJECT_HANDLE ke = import_ke(), h, h2, x;
	CK_ULONG role;
	CK_RV rv;

	p11c_unhex(KPSA_HEX, want, sizeof(want));
	p11c_check_rv(derive_delivered(&m, ke, CK_TRUE, &h),
	    CKR_TEMPLATE_INCONSISTENT, "a delivered key on the token");
	if (!p11c_check_rv(derive_delivered(&m, ke, CK_FALSE, &h), CKR_OK,
	    "KPSA_DERIVE for delivery"))
		return;
	role = 99;
	rv = p11c_get_ulong(S, h, CKA_M2M_ROLE, &role);
	p11c_check(rv == CKR_ATTRIBUTE_TYPE_INVALID ||
	    (rv == CKR_OK && role == CK_M2M_ROLE_NONE),
	    "the delivered key has no role (%s, %lu)", p11c_rvname(rv), role);
	p11c_check(p11c_get_bool(S, h, CKA_TOKEN) == 0,
	    "the delivered key is a session object");
	p11c_check_rv(p11c_get_bytes(S, h, CKA_VALUE, got, &len), CKR_OK,
	    "the MEF reads the delivered key");
	p11c_check(len == 32 && memcmp(got, want, 32) == 0,
	    "its value is the spec's Kpsa vector");

	/* a delivered key that may sign is still never copied to the token */
	{
		CK_BBOOL yes = CK_TRUE;
		CK_ATTRIBUTE sign[] = { { CKA_SIGN, &yes, 1 } };
		CK_ATTRIBUTE tok[] = { { CKA_TOKEN, &yes, 1 } };

		P11C_MUST(F->C_SetAttributeValue(S, h, sign, 1));
		p11c_check_rv(F->C_CopyObject(S, h, tok, 1, &x),
		    CKR_TEMPLATE_INCONSISTENT, "a delivered key copied onto "
		    "the token");
		p11c_check_rv(F->C_SetAttributeValue(S, h, tok, 1),
		    CKR_ATTRIBUTE_READ_ONLY, "a delivered key made a token "
		    "object");
	}

	/* Kuc too; KM (for a MAF, not delivered this way) never */
	p11c_check_rv(derive_delivered(&mk, ke, CK_FALSE, &h2), CKR_OK,
	    "KUC_DERIVE for delivery");
	p11c_check_rv(derive_delivered(&mm, ke, CK_FALSE, &x),
	    CKR_ATTRIBUTE_VALUE_INVALID, "KM_DERIVE for delivery");

	/* the delivered key is no role key: no PSK, no E2E base */
	memset(&tp, 0, sizeof(tp));
	memset(rnd, 7, sizeof(rnd));
	tp.prfHashMechanism = CKM_SHA256;
	tp.pClientRandom = rnd;
	tp.ulClientRandomLen = 32;
	tp.pServerRandom = rnd;
	tp.ulServerRandomLen = 32;
	p11c_check_rv(F->C_DeriveKey(S, &tls, h, NULL, 0, &x),
	    CKR_KEY_FUNCTION_NOT_PERMITTED, "a delivered key as a TLS PSK");
	p11c_check_rv(F->C_DeriveKey(S, &e2e, h, NULL, 0, &x),
	    CKR_KEY_FUNCTION_NOT_PERMITTED, "a delivered key as E2E base");

	/* the role keys stay as sealed as ever, switch or not */
	len = sizeof(got);
	p11c_check_rv(p11c_get_bytes(S, ke, CKA_VALUE, got, &len),
	    CKR_ATTRIBUTE_SENSITIVE, "Ke stays unreadable");
	P11C_MUST(p11c_derive(S, CKM_M2M_KPSA_DERIVE, TARGET, strlen(TARGET),
	    ke, NULL, 0, &x));
	len = sizeof(got);
	p11c_check_rv(p11c_get_bytes(S, x, CKA_VALUE, got, &len),
	    CKR_ATTRIBUTE_SENSITIVE, "a Kpsa derived as usual stays "
	    "unreadable on a MEF token");
	P11C_MUST(F->C_DestroyObject(S, h));
	P11C_MUST(F->C_DestroyObject(S, h2));
	P11C_MUST(F->C_DestroyObject(S, ke));
}

/*
 * What m2m-mef asks for: a delivered key with no use at all.  The module
 * holds its value in memory (no HSM object per fetch: bench/README.md,
 * memory over 100,000 requests); it reads as the Kpsa vector, copies as a
 * session object only, and refuses every use, even after CKA_SIGN is set.
 */
static void
test_read_only(void)
{
	CK_MECHANISM m = { CKM_M2M_KPSA_DERIVE, TARGET, strlen(TARGET) };
	CK_ULONG none = CK_M2M_ROLE_NONE;
	CK_BBOOL f = CK_FALSE, t = CK_TRUE;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_M2M_ROLE, &none, sizeof(none) },
		{ CKA_TOKEN, &f, sizeof(f) },
		{ CKA_SENSITIVE, &f, sizeof(f) },
		{ CKA_EXTRACTABLE, &t, sizeof(t) },
		{ CKA_SIGN, &f, sizeof(f) },
		{ CKA_VERIFY, &f, sizeof(f) },
		{ CKA_ENCRYPT, &f, sizeof(f) },
		{ CKA_DECRYPT, &f, sizeof(f) },
		{ CKA_DERIVE, &f, sizeof(f) },
		{ CKA_WRAP, &f, sizeof(f) },
		{ CKA_UNWRAP, &f, sizeof(f) },
	};
	CK_ATTRIBUTE on_token = { CKA_TOKEN, &t, sizeof(t) };
	CK_ATTRIBUTE sign = { CKA_SIGN, &t, sizeof(t) };
	CK_MECHANISM hmac = { CKM_SHA256_HMAC, NULL, 0 };
	CK_OBJECT_HANDLE ke = import_ke(), h, h2, c = CK_INVALID_HANDLE;
	uint8_t want[32], got[64];
	CK_ULONG len = sizeof(got);
	int i;

	p11c_unhex(KPSA_HEX, want, sizeof(want));
	/* many times, as a MEF does: each is read and destroyed */
	for (i = 0; i < 50; i++) {
		if (!p11c_check_rv(F->C_DeriveKey(S, &m, ke, tmpl, 11, &h),
		    CKR_OK, "KPSA_DERIVE for delivery, no use (%d)", i))
			return;
		len = sizeof(got);
		if (p11c_get_bytes(S, h, CKA_VALUE, got, &len) != CKR_OK ||
		    len != 32 || memcmp(got, want, 32) != 0) {
			p11c_check(0, "read %d of a read-only delivered key "
			    "is the Kpsa vector", i);
			return;
		}
		P11C_MUST(F->C_DestroyObject(S, h));
	}
	P11C_MUST(F->C_DeriveKey(S, &m, ke, tmpl, 11, &h));
	/* derived again while the first lives: another object, same value */
	P11C_MUST(F->C_DeriveKey(S, &m, ke, tmpl, 11, &h2));
	p11c_check(h2 != h, "a second read-only derivation is its own object");
	P11C_MUST(F->C_DestroyObject(S, h2));
	p11c_check_rv(F->C_SignInit(S, &hmac, h),
	    CKR_KEY_FUNCTION_NOT_PERMITTED, "a read-only key does not sign");
	/* a use that is off stays off (docs/profile.md) */
	p11c_check_rv(F->C_SetAttributeValue(S, h, &sign, 1),
	    CKR_ATTRIBUTE_READ_ONLY,
	    "CKA_SIGN switched on on a read-only delivered key");
	p11c_check_rv(F->C_SignInit(S, &hmac, h),
	    CKR_KEY_FUNCTION_NOT_PERMITTED,
	    "... which still does not sign: its value is only held to be read");
	p11c_check_rv(F->C_CopyObject(S, h, &on_token, 1, &c),
	    CKR_TEMPLATE_INCONSISTENT, "a read-only key copied to the token");
	if (p11c_check_rv(F->C_CopyObject(S, h, NULL, 0, &c), CKR_OK,
	    "a read-only key copied as a session object")) {
		len = sizeof(got);
		p11c_check_rv(p11c_get_bytes(S, c, CKA_VALUE, got, &len),
		    CKR_OK, "the copy reads");
		p11c_check(len == 32 && memcmp(got, want, 32) == 0,
		    "the copy's value is the Kpsa vector");
		P11C_MUST(F->C_DestroyObject(S, c));
	}
	P11C_MUST(F->C_DestroyObject(S, h));
	P11C_MUST(F->C_DestroyObject(S, ke));
}

int
main(int argc, char **argv)
{
	p11c_load(argc, argv);
	start(0);
	test_refused_without_switch();
	stop();
	start(1);
	test_delivered();
	test_read_only();
	stop();
	return p11c_finish();
}
