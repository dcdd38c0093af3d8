/*
 * p11_bind: issue 10, items 5 and 6, through the PKCS#11 API on a real
 * backend, with the store file changed by sqlite3 between two
 * C_Initialize, as anyone who can write it could.
 *
 * Item 5: a stored key's attributes and wrapped blobs are bound to each
 * other, to its row and its token by the backend's MAC.  Making a role
 * key (or a sensitive role-less key) extractable, giving it another role,
 * another expiry or another use, swapping blobs between two rows, moving a
 * row to another token or copying it to another id: every such row is
 * refused (CKR_DEVICE_ERROR, the store's "damaged" answer) and its value
 * is never returned.  Put back as it was, it works again.
 *
 * Item 6: a derived key's identity includes its base key.  KM derived from
 * Ke_A and from Ke_B with the same label and MAF-ID are two keys with
 * different values (a TLS master secret from each); an imported KM with
 * the label and peer a derivation would give is not what the derivation
 * returns; deriving again from the same base returns the same object,
 * also after C_Finalize.
 *
 * Tampering needs the store's path: $M2M_TMP/store.db (lib.sh).  This
 * client links SQLite for that alone.
 */
#include <sqlite3.h>

#include "p11client.h"

#define KE_LABEL	"KeId-1@m2m.example"
#define KER_LABEL	"KerId-1"
#define KM_LABEL	"KmId-shared"
#define MAF_ID		"maf-1.m2m.example"

static char store_path[1024];
static CK_SLOT_ID slot;

/* Run sql on the store with a connection of our own; bail on error. */
static void
sql_exec(const char *sql)
{
	sqlite3 *db = NULL;
	char *err = NULL;

	if (sqlite3_open_v2(store_path, &db, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK)
		p11c_bail("sqlite3 open %s", store_path);
	sqlite3_busy_timeout(db, 10000);
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		p11c_bail("sqlite3: %s: %s", sql, err ? err : "?");
	sqlite3_close(db);
}

/*
 * Set the first value byte of attribute type of row id to v, in the
 * encoded attribute list ({u32be type-low, u32be type-high, u32be len,
 * bytes} repeated), leaving the MAC as it is.
 */
static void
attr_poke(CK_OBJECT_HANDLE id, CK_ATTRIBUTE_TYPE type, uint8_t v)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	uint8_t buf[8192];
	size_t n, off = 0;
	int done = 0;

	if (sqlite3_open_v2(store_path, &db, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK || sqlite3_prepare_v2(db, "SELECT attrs FROM objects "
	    "WHERE id = ?1", -1, &st, NULL) != SQLITE_OK)
		p11c_bail("sqlite3: cannot read row %lu", id);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
	if (sqlite3_step(st) != SQLITE_ROW ||
	    (n = (size_t)sqlite3_column_bytes(st, 0)) > sizeof(buf))
		p11c_bail("sqlite3: no row %lu", id);
	memcpy(buf, sqlite3_column_blob(st, 0), n);
	sqlite3_finalize(st);
	while (off + 12 <= n && !done) {
		uint32_t t = (uint32_t)buf[off] << 24 |
		    (uint32_t)buf[off + 1] << 16 |
		    (uint32_t)buf[off + 2] << 8 | buf[off + 3];
		uint32_t l = (uint32_t)buf[off + 8] << 24 |
		    (uint32_t)buf[off + 9] << 16 |
		    (uint32_t)buf[off + 10] << 8 | buf[off + 11];

		if (t == (uint32_t)type && l > 0) {
			buf[off + 12] = v;
			done = 1;
		}
		off += 12 + l;
	}
	if (!done)
		p11c_bail("row %lu has no attribute 0x%lx", id, type);
	if (sqlite3_prepare_v2(db, "UPDATE objects SET attrs = ?1 "
	    "WHERE id = ?2", -1, &st, NULL) != SQLITE_OK)
		p11c_bail("sqlite3: update");
	sqlite3_bind_blob(st, 1, buf, (int)n, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)id);
	if (sqlite3_step(st) != SQLITE_DONE)
		p11c_bail("sqlite3: update row %lu", id);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* End the module's use of the store, so that sqlite3 can change it. */
static void
module_down(CK_SESSION_HANDLE *s)
{
	(void)F->C_CloseSession(*s);
	P11C_MUST(F->C_Finalize(NULL));
}

static void
module_up(CK_SESSION_HANDLE *s)
{
	P11C_MUST(F->C_Initialize(NULL));
	*s = p11c_user_session(slot);
}

/* Keep a copy of rows (id list) in table keep, to put them back later. */
static void
keep_rows(const char *ids)
{
	char sql[512];

	snprintf(sql, sizeof(sql), "CREATE TABLE IF NOT EXISTS keep AS "
	    "SELECT * FROM objects WHERE 0; DELETE FROM keep; INSERT INTO keep "
	    "SELECT * FROM objects WHERE id IN (%s)", ids);
	sql_exec(sql);
}

static void
restore_rows(const char *ids)
{
	char sql[512];

	snprintf(sql, sizeof(sql), "DELETE FROM objects WHERE id IN (%s); "
	    "INSERT INTO objects SELECT * FROM keep", ids);
	sql_exec(sql);
}

/*
 * Key h is refused: no value comes out (the buffer stays as it was), no
 * signing; what="..." names the change.
 */
static void
check_refused(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, const char *what)
{
	uint8_t val[64], mac[32];
	CK_ATTRIBUTE a = { CKA_VALUE, val, sizeof(val) };
	CK_MECHANISM m = { CKM_SHA256_HMAC, NULL, 0 };
	CK_RV rv;
	size_t i;
	int untouched = 1;

	memset(val, 0xee, sizeof(val));
	memset(mac, 0, sizeof(mac));
	rv = F->C_GetAttributeValue(s, h, &a, 1);
	p11c_check_rv(rv, CKR_DEVICE_ERROR, "%s: C_GetAttributeValue("
	    "CKA_VALUE) refused", what);
	for (i = 0; i < sizeof(val); i++)
		untouched &= val[i] == 0xee;
	p11c_check(untouched, "%s: no byte of a value returned", what);
	p11c_check_rv(F->C_SignInit(s, &m, h), CKR_DEVICE_ERROR,
	    "%s: C_SignInit refused", what);
}

/* h signs again (the row as the module wrote it). */
static void
check_works(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, const char *what)
{
	uint8_t mac[32];
	CK_ULONG ml = sizeof(mac);

	p11c_check_rv(p11c_sign(s, CKM_SHA256_HMAC, h, "m", 1, mac, &ml),
	    CKR_OK, "%s: put back, the key signs again", what);
}

/* Item 5. */
static void
test_tamper(CK_SESSION_HANDLE *s)
{
	static const uint8_t v1[32] = { 1, 2, 3 }, v2[32] = { 4, 5, 6 };
	static const uint8_t v3[32] = { 7, 8, 9 };
	CK_ULONG role = CK_M2M_ROLE_KER;
	CK_BBOOL tf = CK_FALSE;
	char exp[] = "20991231T000000";
	CK_ATTRIBUTE x_exp[] = {
		{ CKA_M2M_EXPIRES, exp, sizeof(exp) - 1 },
	};
	CK_ATTRIBUTE x_plain[] = {
		{ CKA_SENSITIVE, &(CK_BBOOL){ CK_TRUE }, 1 },
		{ CKA_EXTRACTABLE, &tf, 1 },
	};
	CK_OBJECT_HANDLE ker, ker2, plain;
	CK_SLOT_ID slot2;
	CK_SESSION_HANDLE s2;
	uint8_t val[64];
	CK_ATTRIBUTE a = { CKA_VALUE, val, sizeof(val) };
	char ids[64], sql[256];

	P11C_MUST(p11c_import_ex(*s, role, KER_LABEL, CKK_GENERIC_SECRET, v1,
	    sizeof(v1), CK_TRUE, x_exp, 1, &ker));
	P11C_MUST(p11c_import_ex(*s, role, "KerId-2", CKK_GENERIC_SECRET, v2,
	    sizeof(v2), CK_TRUE, NULL, 0, &ker2));
	/* a role-less key that is sensitive and not extractable */
	P11C_MUST(p11c_import_ex(*s, 0, "plain", CKK_GENERIC_SECRET, v3,
	    sizeof(v3), CK_TRUE, x_plain, 2, &plain));
	p11c_check_rv(F->C_GetAttributeValue(*s, ker, &a, 1),
	    CKR_ATTRIBUTE_SENSITIVE, "a stored KER: value sensitive");
	snprintf(ids, sizeof(ids), "%lu, %lu, %lu", ker, ker2, plain);
	module_down(s);
	keep_rows(ids);

	/* made readable: CKA_SENSITIVE FALSE and CKA_EXTRACTABLE TRUE */
	attr_poke(ker, CKA_SENSITIVE, CK_FALSE);
	attr_poke(ker, CKA_EXTRACTABLE, CK_TRUE);
	attr_poke(plain, CKA_SENSITIVE, CK_FALSE);
	attr_poke(plain, CKA_EXTRACTABLE, CK_TRUE);
	module_up(s);
	check_refused(*s, ker, "KER made extractable");
	check_refused(*s, plain, "sensitive role-less key made extractable");
	module_down(s);
	restore_rows(ids);
	module_up(s);
	check_works(*s, ker, "KER");
	check_works(*s, plain, "role-less key");
	module_down(s);

	/* another role (column and attribute) */
	snprintf(sql, sizeof(sql), "UPDATE objects SET role = 0 WHERE id = "
	    "%lu", ker);
	sql_exec(sql);
	attr_poke(ker, CKA_M2M_ROLE, 0);
	module_up(s);
	check_refused(*s, ker, "KER given no role");
	module_down(s);
	restore_rows(ids);

	/* another expiry, another use */
	attr_poke(ker, CKA_M2M_EXPIRES, '1');
	attr_poke(ker2, CKA_DERIVE, CK_TRUE);
	module_up(s);
	check_refused(*s, ker, "KER with another expiry");
	check_refused(*s, ker2, "KER allowed to derive");
	module_down(s);
	restore_rows(ids);

	/* blobs swapped between two rows of the token */
	snprintf(sql, sizeof(sql), "UPDATE objects SET blob = (SELECT blob "
	    "FROM keep WHERE keep.id != objects.id AND keep.id IN (%lu, %lu)) "
	    "WHERE id IN (%lu, %lu)", ker, ker2, ker, ker2);
	sql_exec(sql);
	module_up(s);
	check_refused(*s, ker, "KER with the other KER's blob");
	check_refused(*s, ker2, "the other KER with KER's blob");
	module_down(s);
	restore_rows(ids);
	module_up(s);
	check_works(*s, ker, "KER after the swap");
	check_works(*s, ker2, "the other KER after the swap");

	/* moved to another token, and copied to another id */
	slot2 = p11c_new_token("bind-other");
	module_down(s);
	snprintf(sql, sizeof(sql), "UPDATE objects SET token_id = (SELECT "
	    "max(id) FROM tokens) WHERE id = %lu", ker);
	sql_exec(sql);
	snprintf(sql, sizeof(sql), "UPDATE keep SET id = %lu WHERE id = %lu;"
	    " INSERT INTO objects SELECT * FROM keep WHERE id = %lu",
	    ker2 + 1000, ker2, ker2 + 1000);
	sql_exec(sql);
	module_up(s);
	s2 = p11c_user_session(slot2);
	check_refused(s2, ker, "KER moved to another token");
	check_refused(*s, ker2 + 1000, "a copy of a KER row under another id");
	check_works(*s, ker2, "the original of the copied row");
	(void)F->C_CloseSession(s2);
}

/* The 48-byte TLS master secret derived from a PSK-role key h. */
static CK_RV
tls_master(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, uint8_t out[48])
{
	static const uint8_t cr[32] = { 0xc1 }, sr[32] = { 0x5e };
	CK_M2M_TLS12_PSK_PARAMS p;
	CK_MECHANISM m = { CKM_M2M_TLS12_PSK_MASTER, &p, sizeof(p) };
	CK_OBJECT_HANDLE ms = CK_INVALID_HANDLE;
	CK_ATTRIBUTE a = { CKA_VALUE, out, 48 };
	CK_RV rv;

	memset(&p, 0, sizeof(p));
	p.prfHashMechanism = CKM_SHA256;
	p.pClientRandom = (CK_BYTE_PTR)cr;
	p.ulClientRandomLen = sizeof(cr);
	p.pServerRandom = (CK_BYTE_PTR)sr;
	p.ulServerRandomLen = sizeof(sr);
	if ((rv = F->C_DeriveKey(s, &m, h, NULL, 0, &ms)) != CKR_OK)
		return rv;
	rv = F->C_GetAttributeValue(s, ms, &a, 1);
	(void)F->C_DestroyObject(s, ms);
	return rv;
}

/* KM from base with the label KM_LABEL and MAF_ID. */
static CK_RV
derive_km(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE base, CK_OBJECT_HANDLE *ret)
{
	CK_BBOOL t = CK_TRUE;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_TOKEN, &t, 1 },
		{ CKA_LABEL, KM_LABEL, sizeof(KM_LABEL) - 1 },
	};

	return p11c_derive(s, CKM_M2M_KM_DERIVE, MAF_ID, sizeof(MAF_ID) - 1,
	    base, tmpl, 2, ret);
}

/* Item 6. */
static void
test_derive_identity(CK_SESSION_HANDLE *s)
{
	static const uint8_t ka[32] = { 0xa }, kb[32] = { 0xb };
	static const uint8_t kc[32] = { 0xc }, kplant[32] = { 0x99 };
	CK_ULONG km_role = CK_M2M_ROLE_KM;
	CK_BBOOL t = CK_TRUE;
	CK_ATTRIBUTE x_peer[] = {
		{ CKA_M2M_PEER_ID, MAF_ID, sizeof(MAF_ID) - 1 },
		{ CKA_ID, KM_LABEL, sizeof(KM_LABEL) - 1 },
	};
	CK_ATTRIBUTE tmpl_sess[] = {
		{ CKA_TOKEN, &t, 1 },
		{ CKA_LABEL, "KmId-sess", 9 },
	};
	CK_OBJECT_HANDLE ke_a, ke_b, ke_c, ke_s, km_a, km_b, km_c, again;
	CK_OBJECT_HANDLE planted, km_s, km_s2;
	uint8_t ma[48], mb[48], mc[48], mp[48];

	P11C_MUST(p11c_import_ex(*s, CK_M2M_ROLE_KE, KE_LABEL,
	    CKK_GENERIC_SECRET, ka, sizeof(ka), CK_TRUE, NULL, 0, &ke_a));
	P11C_MUST(p11c_import_ex(*s, CK_M2M_ROLE_KE, KE_LABEL,
	    CKK_GENERIC_SECRET, kb, sizeof(kb), CK_TRUE, NULL, 0, &ke_b));
	P11C_MUST(derive_km(*s, ke_a, &km_a));
	P11C_MUST(derive_km(*s, ke_b, &km_b));
	p11c_check(km_a != km_b, "KM from Ke_A and from Ke_B, same label and "
	    "MAF-ID: two objects (%lu, %lu)", km_a, km_b);
	P11C_MUST(tls_master(*s, km_a, ma));
	P11C_MUST(tls_master(*s, km_b, mb));
	p11c_check(memcmp(ma, mb, sizeof(ma)) != 0, "their keys differ (a "
	    "TLS master secret from each)");
	p11c_check(p11c_count_label(*s, KM_LABEL, km_role, NULL) == 2,
	    "two KM objects with that label");

	/* the same base again: the same object, also in a new module life */
	P11C_MUST(derive_km(*s, ke_a, &again));
	p11c_check(again == km_a, "KM from Ke_A again: the same object");
	module_down(s);
	module_up(s);
	P11C_MUST(derive_km(*s, ke_b, &again));
	p11c_check(again == km_b, "KM from Ke_B after C_Finalize: the same "
	    "object");
	/*
	 * again, with an expiry (or other flags) the existing key has not:
	 * refused, not that key with other attributes (found in review)
	 */
	{
		static const char later[] = "20991231T000000";
		CK_BBOOL f = CK_FALSE;
		CK_ATTRIBUTE exp[] = {
			{ CKA_TOKEN, &t, 1 },
			{ CKA_LABEL, KM_LABEL, sizeof(KM_LABEL) - 1 },
			{ CKA_M2M_EXPIRES, (CK_VOID_PTR)later,
			    sizeof(later) - 1 },
		};
		CK_ATTRIBUTE nosign[] = {
			{ CKA_TOKEN, &t, 1 },
			{ CKA_LABEL, KM_LABEL, sizeof(KM_LABEL) - 1 },
			{ CKA_DERIVE, &f, 1 },
		};
		CK_RV rv;

		again = CK_INVALID_HANDLE;
		rv = p11c_derive(*s, CKM_M2M_KM_DERIVE, MAF_ID,
		    sizeof(MAF_ID) - 1, ke_a, exp, 3, &again);
		p11c_check(rv == CKR_TEMPLATE_INCONSISTENT, "KM from Ke_A "
		    "again with an expiry: refused (0x%lx), not the key "
		    "without one", rv);
		p11c_check(again != km_a, "and its handle not returned");
		rv = p11c_derive(*s, CKM_M2M_KM_DERIVE, MAF_ID,
		    sizeof(MAF_ID) - 1, ke_a, nosign, 3, &again);
		p11c_check(rv == CKR_TEMPLATE_INCONSISTENT, "KM from Ke_A "
		    "again with other usage flags: refused (0x%lx)", rv);
		/* another CKA_ID or enrolee: refused too (found in review) */
		exp[2] = (CK_ATTRIBUTE){ CKA_ID, "other-id", 8 };
		rv = p11c_derive(*s, CKM_M2M_KM_DERIVE, MAF_ID,
		    sizeof(MAF_ID) - 1, ke_a, exp, 3, &again);
		p11c_check(rv == CKR_TEMPLATE_INCONSISTENT, "KM from Ke_A "
		    "again with another CKA_ID: refused (0x%lx)", rv);
		exp[2] = (CK_ATTRIBUTE){ CKA_M2M_ENROLEE_ID,
		    "/in-cse.example.com/CAE99", 25 };
		rv = p11c_derive(*s, CKM_M2M_KM_DERIVE, MAF_ID,
		    sizeof(MAF_ID) - 1, ke_a, exp, 3, &again);
		p11c_check(rv == CKR_TEMPLATE_INCONSISTENT, "KM from Ke_A "
		    "again with a CKA_M2M_ENROLEE_ID: refused (0x%lx)", rv);
		exp[2] = (CK_ATTRIBUTE){ CKA_ID, KM_LABEL,
		    sizeof(KM_LABEL) - 1 };
		rv = p11c_derive(*s, CKM_M2M_KM_DERIVE, MAF_ID,
		    sizeof(MAF_ID) - 1, ke_a, exp, 3, &again);
		p11c_check(rv == CKR_OK && again == km_a, "KM from Ke_A "
		    "again naming its CKA_ID (the label): the same object "
		    "(0x%lx)", rv);
		P11C_MUST(tls_master(*s, km_a, mp));
		p11c_check(memcmp(mp, ma, sizeof(mp)) == 0, "the existing "
		    "KM unchanged and usable");
	}

	/* a planted import with the label and peer the derivation gives */
	P11C_MUST(p11c_import_ex(*s, CK_M2M_ROLE_KE, "KeId-3@m2m.example",
	    CKK_GENERIC_SECRET, kc, sizeof(kc), CK_TRUE, NULL, 0, &ke_c));
	P11C_MUST(p11c_import_ex(*s, km_role, KM_LABEL, CKK_GENERIC_SECRET,
	    kplant, sizeof(kplant), CK_TRUE, x_peer, 2, &planted));
	P11C_MUST(derive_km(*s, ke_c, &km_c));
	p11c_check(km_c != planted && km_c != km_a && km_c != km_b,
	    "KM from Ke_C is neither the planted import nor another base's");
	P11C_MUST(tls_master(*s, km_c, mc));
	P11C_MUST(tls_master(*s, planted, mp));
	p11c_check(memcmp(mc, mp, sizeof(mc)) != 0 &&
	    memcmp(mc, ma, sizeof(mc)) != 0, "and its key is its own");

	/* a session base key gives token keys of its own too */
	P11C_MUST(p11c_import(*s, CK_M2M_ROLE_KE, "KeId-s@m2m.example", ka,
	    sizeof(ka), &ke_s));
	P11C_MUST(p11c_derive(*s, CKM_M2M_KM_DERIVE, MAF_ID,
	    sizeof(MAF_ID) - 1, ke_s, tmpl_sess, 2, &km_s));
	P11C_MUST(p11c_derive(*s, CKM_M2M_KM_DERIVE, MAF_ID,
	    sizeof(MAF_ID) - 1, ke_s, tmpl_sess, 2, &km_s2));
	p11c_check(km_s == km_s2 && km_s != km_a, "KM from a session Ke: "
	    "its own object, the same when derived again");
}

/* Kuc with SUID suid for target KUC_T from base; template tmpl[n]. */
#define KUC_T	"in-cse.target.m2m.example"
static CK_RV
derive_kuc(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE base, CK_ULONG suid,
    CK_ATTRIBUTE_PTR tmpl, CK_ULONG n, CK_OBJECT_HANDLE *ret)
{
	CK_M2M_KUC_PARAMS kp = { suid, (CK_UTF8CHAR_PTR)KUC_T,
	    sizeof(KUC_T) - 1 };

	return p11c_derive(s, CKM_M2M_KUC_DERIVE, &kp, sizeof(kp), base,
	    tmpl, n, ret);
}

/*
 * A derived key's label and peer do not make it "the same key": a module
 * user who relabels a derived key, or names at derivation a label or a
 * peer of its choosing, must not make a later derivation return a key
 * made from other inputs (security-model.md, "plant ... a key a later
 * derivation returns").  Deriving the same inputs again still returns the
 * same object, for HMAC and AES keys.
 */
static void
test_derive_not_planted(CK_SESSION_HANDLE *s)
{
	static const uint8_t kd[32] = { 0xd };
	CK_BBOOL t = CK_TRUE;
	CK_ATTRIBUTE evil[] = {
		{ CKA_TOKEN, &t, 1 },
		{ CKA_M2M_PEER_ID, MAF_ID, sizeof(MAF_ID) - 1 },
	};
	CK_ATTRIBUTE same_peer[] = {
		{ CKA_TOKEN, &t, 1 },
		{ CKA_M2M_PEER_ID, MAF_ID, sizeof(MAF_ID) - 1 },
	};
	CK_ATTRIBUTE tok[] = { { CKA_TOKEN, &t, 1 } };
	CK_ATTRIBUTE relabel[] = {
		{ CKA_LABEL, "KeId-4@m2m.example/22", 21 },
		{ CKA_ID, "KeId-4@m2m.example/22", 21 },
	};
	CK_ATTRIBUTE named[] = {
		{ CKA_TOKEN, &t, 1 },
		{ CKA_LABEL, "KeId-4@m2m.example/40", 21 },
	};
	CK_OBJECT_HANDLE ke, km, kuc10, kuc22, kuc22b, kuc30, kuc40, kpsa;
	CK_OBJECT_HANDLE master, e[5], again;
	uint8_t m1[48], m2[48];
	int i;

	P11C_MUST(p11c_import_ex(*s, CK_M2M_ROLE_KE, "KeId-4@m2m.example",
	    CKK_GENERIC_SECRET, kd, sizeof(kd), CK_TRUE, NULL, 0, &ke));
	/* a template naming another peer than the mechanism's */
	CHECK_RV(p11c_derive(*s, CKM_M2M_KM_DERIVE, "maf-evil", 8, ke, evil,
	    2, &km), CKR_TEMPLATE_INCONSISTENT, "KM for maf-evil with "
	    "CKA_M2M_PEER_ID %s in the template", MAF_ID);
	/* repeating the mechanism's own peer is fine */
	P11C_MUST(p11c_derive(*s, CKM_M2M_KM_DERIVE, MAF_ID,
	    sizeof(MAF_ID) - 1, ke, same_peer, 2, &km));

	/* relabel Kuc(SUID 10) as SUID 22's, then derive SUID 22 */
	P11C_MUST(derive_kuc(*s, ke, 10, tok, 1, &kuc10));
	P11C_MUST(F->C_SetAttributeValue(*s, kuc10, relabel, 2));
	P11C_MUST(derive_kuc(*s, ke, 22, tok, 1, &kuc22));
	p11c_check(kuc22 != kuc10, "Kuc(SUID 22) after Kuc(SUID 10) was "
	    "relabelled as its: a new object (%lu, %lu)", kuc22, kuc10);
	P11C_MUST(tls_master(*s, kuc10, m1));
	P11C_MUST(tls_master(*s, kuc22, m2));
	p11c_check(memcmp(m1, m2, sizeof(m1)) != 0, "with its own key");
	P11C_MUST(derive_kuc(*s, ke, 22, tok, 1, &kuc22b));
	p11c_check(kuc22b == kuc22, "Kuc(SUID 22) again: the same object");
	/*
	 * an E2E master from the Kuc (label <KeId>/22): its E2EKeyId names
	 * the MEF's FQDN, as one from the Kpsa would (found in review: it
	 * named "fqdn/22")
	 */
	{
		CK_OBJECT_HANDLE km;
		char lab[160], kel[160];
		CK_ULONG ll = sizeof(lab) - 1, kl = sizeof(kel) - 1;
		const char *at, *kat;

		P11C_MUST(p11c_derive(*s, CKM_M2M_E2E_MASTER_SHA256, NULL, 0,
		    kuc22, tok, 1, &km));
		P11C_MUST(p11c_get_bytes(*s, km, CKA_LABEL, (uint8_t *)lab,
		    &ll));
		P11C_MUST(p11c_get_bytes(*s, ke, CKA_LABEL, (uint8_t *)kel,
		    &kl));
		lab[ll] = '\0';
		kel[kl] = '\0';
		at = strrchr(lab, '@');
		kat = strrchr(kel, '@');
		p11c_check(at != NULL && kat != NULL && strcmp(at, kat) == 0 &&
		    at - lab == 32, "E2E master from a Kuc: E2EKeyId %s "
		    "names the Ke's FQDN (%s)", lab, kat ? kat : "?");
	}

	/* a label named at derivation: Kuc(30) labelled as Kuc(40)'s */
	P11C_MUST(derive_kuc(*s, ke, 30, named, 2, &kuc30));
	P11C_MUST(derive_kuc(*s, ke, 40, tok, 1, &kuc40));
	p11c_check(kuc40 != kuc30, "Kuc(SUID 40) after Kuc(SUID 30) named "
	    "with its label: a new object");

	/* HMAC and AES keys derived again: the same objects */
	P11C_MUST(p11c_derive(*s, CKM_M2M_KPSA_DERIVE, MAF_ID,
	    sizeof(MAF_ID) - 1, ke, tok, 1, &kpsa));
	P11C_MUST(p11c_derive(*s, CKM_M2M_E2E_MASTER_SHA256, NULL, 0, kpsa,
	    tok, 1, &master));
	P11C_MUST(p11c_derive(*s, CKM_M2M_E2E_MASTER_SHA256, NULL, 0, kpsa,
	    tok, 1, &again));
	p11c_check(again == master, "the E2E master again: the same object");
	for (i = 1; i <= 4; i++) {
		uint8_t n = (uint8_t)i;

		P11C_MUST(p11c_derive(*s, CKM_M2M_E2E_EXPAND, &n, 1, master,
		    tok, 1, &e[i]));
		P11C_MUST(p11c_derive(*s, CKM_M2M_E2E_EXPAND, &n, 1, master,
		    tok, 1, &again));
		p11c_check(again == e[i], "E2E key %d again: the same object",
		    i);
	}
}

/*
 * Two derivation details found in review: a template may repeat the
 * mechanism's peer unnormalised (it is compared after NFKC, and stored
 * so); an imported 64-byte E2E master is a SHA-512 one (an HMAC's output
 * tells its hash), so its keys are 64 bytes, as the peer's.
 */
static void
test_nfkc_and_imported_master(CK_SESSION_HANDLE *s)
{
	/* "maf" in full-width letters, then ".example.com" */
	static const char wide[] = "\xef\xbd\x8d\xef\xbd\x81\xef\xbd\x86"
	    ".example.com";
	static const uint8_t kv[32] = { 0x4e }, mv[64] = { 0x64 };
	CK_BBOOL t = CK_TRUE;
	CK_ATTRIBUTE peer[] = {
		{ CKA_TOKEN, &t, 1 },
		{ CKA_M2M_PEER_ID, (CK_VOID_PTR)wide, sizeof(wide) - 1 },
	};
	CK_ATTRIBUTE tok[] = { { CKA_TOKEN, &t, 1 } };
	CK_OBJECT_HANDLE ke, km, master, k1;
	uint8_t got[64];
	CK_ULONG gl = sizeof(got), vlen = 0;
	uint8_t n = 1;

	P11C_MUST(p11c_import_ex(*s, CK_M2M_ROLE_KE, "KeId-n@m2m.example",
	    CKK_GENERIC_SECRET, kv, sizeof(kv), CK_TRUE, NULL, 0, &ke));
	CHECK_RV(p11c_derive(*s, CKM_M2M_KM_DERIVE, wide, sizeof(wide) - 1, ke,
	    peer, 2, &km), CKR_OK, "KM with a full-width MAF-ID repeated in "
	    "the template");
	P11C_MUST(p11c_get_bytes(*s, km, CKA_M2M_PEER_ID, got, &gl));
	p11c_check(gl == 15 && memcmp(got, "maf.example.com", 15) == 0,
	    "its CKA_M2M_PEER_ID is the NFKC form");

	P11C_MUST(p11c_import_ex(*s, CK_M2M_ROLE_KE2E_MASTER,
	    "0123456789abcdef0123456789abcdef@m2m.example", CKK_GENERIC_SECRET,
	    mv, sizeof(mv), CK_TRUE, NULL, 0, &master));
	P11C_MUST(p11c_derive(*s, CKM_M2M_E2E_EXPAND, &n, 1, master, tok, 1,
	    &k1));
	P11C_MUST(p11c_get_ulong(*s, k1, CKA_VALUE_LEN, &vlen));
	p11c_check(vlen == 64, "T(1) of an imported 64-byte master: 64 bytes "
	    "(HMAC-SHA-512), got %lu", vlen);
}

int
main(int argc, char **argv)
{
	CK_SESSION_HANDLE s;
	const char *tmp = getenv("M2M_TMP");

	p11c_load(argc, argv);
	if (tmp == NULL)
		p11c_bail("M2M_TMP is not set (run through run_c.sh)");
	snprintf(store_path, sizeof(store_path), "%s/store.db", tmp);
	s = p11c_setup("bind", &slot);
	test_tamper(&s);
	test_derive_identity(&s);
	test_derive_not_planted(&s);
	test_nfkc_and_imported_master(&s);
	(void)F->C_CloseSession(s);
	P11C_MUST(F->C_Finalize(NULL));
	return p11c_finish();
}
