/*
 * m2mtokend: the token through PKCS#11 (see tok.h).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "tok.h"

#define FIND_MAX	256	/* keys sharing one label */
#define SLOTS_MAX	64
#define CACHE_MAX	64

/*
 * A found key, by the name it was asked for: (label, role, peer) -> its
 * handle and CKA_VALUE_LEN.  A hit is checked against the object (its
 * label and role, one C_GetAttributeValue); every key this daemon
 * creates empties the cache (a new key may make a name ambiguous).
 */
struct cache_ent {
	char			 label[MTD_LABEL_MAX + 1];
	char			 peer[MTD_LABEL_MAX + 1];
	int			 any_peer;
	CK_ULONG		 role;
	CK_OBJECT_HANDLE	 h;
	CK_ULONG		 value_len;
	int			 used;
};

struct mtd_tok {
	void			*dl;
	CK_FUNCTION_LIST_PTR	 f;
	CK_SLOT_ID		 slot;
	CK_SESSION_HANDLE	 s;
	int			 finalize;
	int			 logged_in;
	struct cache_ent	 cache[CACHE_MAX];
	unsigned int		 cache_next;
};

static void
cache_clear(struct mtd_tok *t)
{
	memset(t->cache, 0, sizeof(t->cache));
}

static struct cache_ent *
cache_get(struct mtd_tok *t, const char *label, CK_ULONG role,
    const char *peer)
{
	CK_ULONG r = 0;
	char lab[MTD_LABEL_MAX + 1];
	CK_ATTRIBUTE a[2] = {
		{ CKA_M2M_ROLE, &r, sizeof(r) },
		{ CKA_LABEL, lab, MTD_LABEL_MAX },
	};
	struct cache_ent *e;
	size_t i;

	if (strlen(label) > MTD_LABEL_MAX ||
	    (peer != NULL && strlen(peer) > MTD_LABEL_MAX))
		return NULL;
	for (i = 0; i < CACHE_MAX; i++) {
		e = &t->cache[i];
		if (!e->used || e->role != role ||
		    strcmp(e->label, label) != 0 ||
		    e->any_peer != (peer == NULL) ||
		    (peer != NULL && strcmp(e->peer, peer) != 0))
			continue;
		/* still that object? */
		if (t->f->C_GetAttributeValue(t->s, e->h, a, 2) == CKR_OK &&
		    (role == MTD_ROLE_ANY || r == role) &&
		    a[1].ulValueLen == strlen(label) &&
		    memcmp(lab, label, a[1].ulValueLen) == 0)
			return e;
		e->used = 0;
		return NULL;
	}
	return NULL;
}

static void
cache_put(struct mtd_tok *t, const char *label, CK_ULONG role,
    const char *peer, CK_OBJECT_HANDLE h)
{
	CK_ULONG n = 0;
	CK_ATTRIBUTE a = { CKA_VALUE_LEN, &n, sizeof(n) };
	struct cache_ent *e;

	if (strlen(label) > MTD_LABEL_MAX ||
	    (peer != NULL && strlen(peer) > MTD_LABEL_MAX))
		return;
	if (t->f->C_GetAttributeValue(t->s, h, &a, 1) != CKR_OK)
		n = 0;
	e = &t->cache[t->cache_next++ % CACHE_MAX];
	memset(e, 0, sizeof(*e));
	snprintf(e->label, sizeof(e->label), "%s", label);
	snprintf(e->peer, sizeof(e->peer), "%s", peer ? peer : "");
	e->any_peer = peer == NULL;
	e->role = role;
	e->h = h;
	e->value_len = n;
	e->used = 1;
}

static const struct {
	const char	*name;
	CK_ULONG	 role;
} roles[] = {
	{ "kpm",		CK_M2M_ROLE_KPM },
	{ "ke",			CK_M2M_ROLE_KE },
	{ "ker",		CK_M2M_ROLE_KER },
	{ "km",			CK_M2M_ROLE_KM },
	{ "kpsa",		CK_M2M_ROLE_KPSA },
	{ "kuc",		CK_M2M_ROLE_KUC },
	{ "kc",			CK_M2M_ROLE_KC },
	{ "e2e-master",		CK_M2M_ROLE_KE2E_MASTER },
	{ "e2e-msg-auth",	CK_M2M_ROLE_KE2E_MSG_AUTH },
	{ "e2e-msg-conf",	CK_M2M_ROLE_KE2E_MSG_CONF },
	{ "e2e-att-auth",	CK_M2M_ROLE_KE2E_ATT_AUTH },
	{ "e2e-att-conf",	CK_M2M_ROLE_KE2E_ATT_CONF },
	{ "ibc-ssk",		CK_M2M_ROLE_IBC_SSK },
	{ "ibc-ksak",		CK_M2M_ROLE_IBC_KSAK },
};

/* see tok.h */
const char *
mtd_role_name(CK_ULONG role)
{
	size_t i;

	for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (roles[i].role == role)
			return roles[i].name;
	return NULL;
}

/* see tok.h */
int
mtd_role_from_name(const char *name, CK_ULONG *ret_role)
{
	size_t i;

	for (i = 0; name != NULL && i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(roles[i].name, name) == 0) {
			*ret_role = roles[i].role;
			return 0;
		}
	return -1;
}

/* see tok.h */
const char *
mtd_rv_name(CK_RV rv)
{
	static __thread char buf[32];

	return m2m_ckr_name(rv, buf, sizeof(buf));
}

static int
label_is(const CK_UTF8CHAR lab[32], const char *label)
{
	size_t n = strlen(label), i;

	if (n > 32 || memcmp(lab, label, n) != 0)
		return 0;
	for (i = n; i < 32; i++)
		if (lab[i] != ' ')
			return 0;
	return 1;
}

/* see tok.h */
CK_RV
mtd_tok_dlopen(const char *module, const char *module_conf, void **ret_dl,
    char *err, size_t errlen)
{
	void *dl;

	if (module_conf != NULL && setenv("M2MTOKEN_CONF", module_conf, 1)) {
		snprintf(err, errlen, "cannot set M2MTOKEN_CONF");
		return CKR_GENERAL_ERROR;
	}
	/* the daemon runs the token: never a client of itself */
	if (unsetenv("M2MTOKEN_DAEMON_SOCKET") != 0) {
		snprintf(err, errlen, "cannot unset M2MTOKEN_DAEMON_SOCKET");
		return CKR_GENERAL_ERROR;
	}
	if ((dl = dlopen(module, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		snprintf(err, errlen, "cannot load module %.150s: %.100s",
		    module, dlerror());
		return CKR_TOKEN_NOT_PRESENT;
	}
	*ret_dl = dl;
	return CKR_OK;
}

/* see tok.h */
CK_RV
mtd_tok_open(const char *module, const char *module_conf, const char *label,
    const char *pin, size_t pin_len, struct mtd_tok **ret_tok, char *err,
    size_t errlen)
{
	CK_C_GetFunctionList gfl;
	CK_SLOT_ID slots[SLOTS_MAX];
	CK_ULONG n = SLOTS_MAX, i;
	CK_TOKEN_INFO ti;
	CK_C_INITIALIZE_ARGS ia;
	struct mtd_tok *t = NULL;
	CK_RV rv = CKR_GENERAL_ERROR;

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return CKR_HOST_MEMORY;
	}
	t->s = CK_INVALID_HANDLE;
	if ((rv = mtd_tok_dlopen(module, module_conf, &t->dl, err,
	    errlen)) != CKR_OK)
		goto out;
	gfl = (CK_C_GetFunctionList)dlsym(t->dl, "C_GetFunctionList");
	if (gfl == NULL || gfl(&t->f) != CKR_OK || t->f == NULL) {
		snprintf(err, errlen, "%.150s: no C_GetFunctionList", module);
		rv = CKR_TOKEN_NOT_PRESENT;
		goto out;
	}
	/* the MEF worker thread uses the module too (libm2mtls) */
	memset(&ia, 0, sizeof(ia));
	ia.flags = CKF_OS_LOCKING_OK;
	rv = t->f->C_Initialize(&ia);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		snprintf(err, errlen, "C_Initialize: %s (see the module's "
		    "line above: its configuration or backend)",
		    mtd_rv_name(rv));
		goto out;
	}
	t->finalize = rv == CKR_OK;
	if ((rv = t->f->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK) {
		snprintf(err, errlen, "C_GetSlotList: %s", mtd_rv_name(rv));
		goto out;
	}
	for (i = 0; i < n; i++)
		if (t->f->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
		    (ti.flags & CKF_TOKEN_INITIALIZED) &&
		    label_is(ti.label, label))
			break;
	if (i == n) {
		snprintf(err, errlen, "no initialised token labelled '%.32s'",
		    label);
		rv = CKR_TOKEN_NOT_PRESENT;
		goto out;
	}
	t->slot = slots[i];
	if ((rv = t->f->C_OpenSession(t->slot, CKF_SERIAL_SESSION |
	    CKF_RW_SESSION, NULL, NULL, &t->s)) != CKR_OK) {
		snprintf(err, errlen, "C_OpenSession: %s", mtd_rv_name(rv));
		goto out;
	}
	rv = t->f->C_Login(t->s, CKU_USER, (CK_UTF8CHAR_PTR)pin,
	    (CK_ULONG)pin_len);
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
		snprintf(err, errlen, "C_Login: %s%s", mtd_rv_name(rv),
		    rv == CKR_PIN_INCORRECT ? " (the PIN file does not hold "
		    "the token's user PIN)" : "");
		goto out;
	}
	t->logged_in = rv == CKR_OK;
	*ret_tok = t;
	t = NULL;	/* transferred */
	rv = CKR_OK;
 out:
	mtd_tok_close(t);
	return rv;
}

/* see tok.h */
void
mtd_tok_close(struct mtd_tok *t)
{
	if (t == NULL)
		return;
	if (t->f != NULL && t->s != CK_INVALID_HANDLE) {
		if (t->logged_in)
			t->f->C_Logout(t->s);
		t->f->C_CloseSession(t->s);
	}
	if (t->f != NULL && t->finalize)
		t->f->C_Finalize(NULL);
	if (t->dl != NULL)
		dlclose(t->dl);
	free(t);
}

/* see tok.h */
CK_RV
mtd_tok_info(struct mtd_tok *t, CK_TOKEN_INFO *ret)
{
	if (t == NULL)
		return CKR_TOKEN_NOT_PRESENT;
	return t->f->C_GetTokenInfo(t->slot, ret);
}

/* A string attribute of h into buf (cap bytes, NUL-ended; "" if absent). */
static CK_RV
get_str(struct mtd_tok *t, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type,
    char *buf, size_t cap)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };
	CK_RV rv;

	buf[0] = '\0';
	rv = t->f->C_GetAttributeValue(t->s, h, &a, 1);
	if (rv == CKR_ATTRIBUTE_TYPE_INVALID ||
	    a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen == 0)
		return CKR_OK;
	if (rv != CKR_OK)
		return rv;
	if (a.ulValueLen >= cap)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	a.pValue = buf;
	if ((rv = t->f->C_GetAttributeValue(t->s, h, &a, 1)) != CKR_OK)
		return rv;
	buf[a.ulValueLen] = '\0';
	return CKR_OK;
}

/* see tok.h */
CK_RV
mtd_tok_keyinfo(struct mtd_tok *t, CK_OBJECT_HANDLE h,
    struct mtd_keyinfo *ret)
{
	CK_ATTRIBUTE a = { CKA_M2M_ROLE, &ret->role, sizeof(ret->role) };
	CK_RV rv;

	memset(ret, 0, sizeof(*ret));
	if (t->f->C_GetAttributeValue(t->s, h, &a, 1) != CKR_OK)
		ret->role = CK_M2M_ROLE_NONE;
	if ((rv = get_str(t, h, CKA_LABEL, ret->label,
	    sizeof(ret->label))) != CKR_OK ||
	    (rv = get_str(t, h, CKA_M2M_PEER_ID, ret->peer,
	    sizeof(ret->peer))) != CKR_OK ||
	    (rv = get_str(t, h, CKA_M2M_ENROLEE_ID, ret->enrolee,
	    sizeof(ret->enrolee))) != CKR_OK ||
	    (rv = get_str(t, h, CKA_M2M_EXPIRES, ret->expires,
	    sizeof(ret->expires))) != CKR_OK)
		return rv;
	return CKR_OK;
}

/* see tok.h */
CK_RV
mtd_tok_find(struct mtd_tok *t, const char *label, CK_ULONG role,
    const char *peer, CK_OBJECT_HANDLE *ret_h, int *ret_ambiguous)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE tmpl[3] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_M2M_ROLE, &role, sizeof(role) },
	};
	CK_OBJECT_HANDLE h[FIND_MAX], found = CK_INVALID_HANDLE;
	CK_ULONG n = 0, got, i;
	char p[MTD_LABEL_MAX + 1];
	struct cache_ent *e;
	size_t matches = 0;
	CK_RV rv;

	*ret_ambiguous = 0;
	if ((e = cache_get(t, label, role, peer)) != NULL) {
		*ret_h = e->h;
		return CKR_OK;
	}
	if ((rv = t->f->C_FindObjectsInit(t->s, tmpl,
	    role == MTD_ROLE_ANY ? 2 : 3)) != CKR_OK)
		return rv;
	/* every object so labelled (up to FIND_MAX), then their peers */
	do {
		got = 0;
		if ((rv = t->f->C_FindObjects(t->s, h + n, FIND_MAX - n,
		    &got)) != CKR_OK)
			break;
		n += got;
	} while (got > 0 && n < FIND_MAX);
	t->f->C_FindObjectsFinal(t->s);
	if (rv != CKR_OK)
		return rv;
	for (i = 0; i < n; i++) {
		if (peer != NULL) {
			if ((rv = get_str(t, h[i], CKA_M2M_PEER_ID, p,
			    sizeof(p))) != CKR_OK)
				return rv;
			if (strcmp(p, peer) != 0)
				continue;
		}
		found = h[i];
		matches++;
	}
	if (matches == 0)
		return CKR_KEY_HANDLE_INVALID;
	if (matches > 1) {
		*ret_ambiguous = 1;
		return CKR_OK;
	}
	cache_put(t, label, role, peer, found);
	*ret_h = found;
	return CKR_OK;
}

/* see tok.h */
CK_RV
mtd_tok_list(struct mtd_tok *t, size_t max,
    void (*fn)(const struct mtd_keyinfo *, void *), void *arg)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &cls, sizeof(cls) } };
	CK_OBJECT_HANDLE *h = NULL;
	struct mtd_keyinfo ki;
	CK_ULONG n = 0, i;
	CK_RV rv;

	if (max == 0 || max > 100000)
		return CKR_ARGUMENTS_BAD;
	if ((h = calloc(max, sizeof(*h))) == NULL)
		return CKR_HOST_MEMORY;
	/* the handles first, then their attributes, outside the search */
	if ((rv = t->f->C_FindObjectsInit(t->s, tmpl, 1)) != CKR_OK)
		goto out;
	rv = t->f->C_FindObjects(t->s, h, (CK_ULONG)max, &n);
	t->f->C_FindObjectsFinal(t->s);
	if (rv != CKR_OK)
		goto out;
	for (i = 0; i < n; i++) {
		if (mtd_tok_keyinfo(t, h[i], &ki) != CKR_OK ||
		    ki.role == CK_M2M_ROLE_NONE ||
		    ki.role == CK_M2M_ROLE_TLS_MASTER)
			continue;
		fn(&ki, arg);
	}
	rv = CKR_OK;
 out:
	free(h);
	return rv;
}

/* see tok.h */
CK_RV
mtd_tok_derive(struct mtd_tok *t, CK_OBJECT_HANDLE base,
    CK_MECHANISM_TYPE mech, void *param, CK_ULONG param_len,
    const char *label, CK_OBJECT_HANDLE *ret_h)
{
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE tmpl[2] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_LABEL, (void *)label, label ? strlen(label) : 0 },
	};
	CK_MECHANISM m = { mech, param, param_len };

	*ret_h = CK_INVALID_HANDLE;
	cache_clear(t);
	return t->f->C_DeriveKey(t->s, &m, base, tmpl, label ? 2 : 1, ret_h);
}

/* see tok.h */
CK_RV
mtd_tok_import(struct mtd_tok *t, CK_ULONG role, const char *label,
    const uint8_t *value, size_t len, const char *enrolee,
    const char *expires, CK_OBJECT_HANDLE *ret_h)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE tmpl[10];
	CK_ULONG n = 0;

	tmpl[n++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof(cls) };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_KEY_TYPE, &kt, sizeof(kt) };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_TOKEN, &yes, sizeof(yes) };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_SENSITIVE, &yes, sizeof(yes) };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_EXTRACTABLE, &no, sizeof(no) };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_VALUE, (void *)value, len };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_M2M_ROLE, &role, sizeof(role) };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label, strlen(label) };
	if (enrolee != NULL)
		tmpl[n++] = (CK_ATTRIBUTE){ CKA_M2M_ENROLEE_ID,
		    (void *)enrolee, strlen(enrolee) };
	if (expires != NULL)
		tmpl[n++] = (CK_ATTRIBUTE){ CKA_M2M_EXPIRES, (void *)expires,
		    strlen(expires) };
	*ret_h = CK_INVALID_HANDLE;
	cache_clear(t);
	return t->f->C_CreateObject(t->s, tmpl, n, ret_h);
}

/* see tok.h */
CK_RV
mtd_tok_destroy(struct mtd_tok *t, CK_OBJECT_HANDLE h)
{
	cache_clear(t);
	return t->f->C_DestroyObject(t->s, h);
}

/* see tok.h */
CK_RV
mtd_tok_mac(struct mtd_tok *t, CK_OBJECT_HANDLE h, CK_MECHANISM_TYPE mech,
    const uint8_t *data, size_t len, uint8_t *mac, size_t *mac_len)
{
	CK_MECHANISM m = { mech, NULL, 0 };
	CK_ULONG ml = (CK_ULONG)*mac_len;
	CK_RV rv;

	if ((rv = t->f->C_SignInit(t->s, &m, h)) != CKR_OK)
		return rv;
	if ((rv = t->f->C_Sign(t->s, (CK_BYTE_PTR)data, (CK_ULONG)len, mac,
	    &ml)) != CKR_OK)
		return rv;
	*mac_len = ml;
	return CKR_OK;
}

/* see tok.h */
CK_RV
mtd_tok_mac_verify(struct mtd_tok *t, CK_OBJECT_HANDLE h,
    CK_MECHANISM_TYPE mech, const uint8_t *data, size_t len,
    const uint8_t *mac, size_t mac_len)
{
	CK_MECHANISM m = { mech, NULL, 0 };
	CK_RV rv;

	if ((rv = t->f->C_VerifyInit(t->s, &m, h)) != CKR_OK)
		return rv;
	return t->f->C_Verify(t->s, (CK_BYTE_PTR)data, (CK_ULONG)len,
	    (CK_BYTE_PTR)mac, (CK_ULONG)mac_len);
}

static CK_RV
gcm(struct mtd_tok *t, int enc, CK_OBJECT_HANDLE h, const uint8_t iv[12],
    const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t len,
    uint8_t *out, size_t *ret_len)
{
	CK_GCM_PARAMS p;
	CK_MECHANISM m = { CKM_AES_GCM, &p, sizeof(p) };
	CK_ULONG ol = (CK_ULONG)(enc ? len + 16 : len);
	CK_RV rv;

	memset(&p, 0, sizeof(p));
	p.pIv = (CK_BYTE_PTR)iv;
	p.ulIvLen = 12;
	p.ulIvBits = 96;
	p.pAAD = (CK_BYTE_PTR)aad;
	p.ulAADLen = (CK_ULONG)aad_len;
	p.ulTagBits = 128;
	if (enc) {
		if ((rv = t->f->C_EncryptInit(t->s, &m, h)) != CKR_OK)
			return rv;
		rv = t->f->C_Encrypt(t->s, (CK_BYTE_PTR)in, (CK_ULONG)len,
		    out, &ol);
	} else {
		if ((rv = t->f->C_DecryptInit(t->s, &m, h)) != CKR_OK)
			return rv;
		rv = t->f->C_Decrypt(t->s, (CK_BYTE_PTR)in, (CK_ULONG)len,
		    out, &ol);
	}
	if (rv == CKR_OK)
		*ret_len = ol;
	return rv;
}

/* see tok.h */
CK_RV
mtd_tok_seal(struct mtd_tok *t, CK_OBJECT_HANDLE h, const uint8_t iv[12],
    const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t len,
    uint8_t *out, size_t *ret_len)
{
	return gcm(t, 1, h, iv, aad, aad_len, in, len, out, ret_len);
}

/* see tok.h */
CK_RV
mtd_tok_open_sealed(struct mtd_tok *t, CK_OBJECT_HANDLE h,
    const uint8_t iv[12], const uint8_t *aad, size_t aad_len,
    const uint8_t *in, size_t len, uint8_t *out, size_t *ret_len)
{
	if (len < 16)
		return CKR_ENCRYPTED_DATA_LEN_RANGE;
	return gcm(t, 0, h, iv, aad, aad_len, in, len, out, ret_len);
}

/* see tok.h */
CK_RV
mtd_tok_random(struct mtd_tok *t, uint8_t *out, size_t len)
{
	return t->f->C_GenerateRandom(t->s, out, (CK_ULONG)len);
}

/* see tok.h */
CK_ULONG
mtd_tok_value_len(struct mtd_tok *t, CK_OBJECT_HANDLE h)
{
	CK_ULONG n = 0;
	CK_ATTRIBUTE a = { CKA_VALUE_LEN, &n, sizeof(n) };
	size_t i;

	for (i = 0; i < CACHE_MAX; i++)
		if (t->cache[i].used && t->cache[i].h == h &&
		    t->cache[i].value_len != 0)
			return t->cache[i].value_len;

	if (t->f->C_GetAttributeValue(t->s, h, &a, 1) != CKR_OK)
		return 0;
	return n;
}

/*
 * The one object of class cls with CKA_LABEL label (and CKK_EC for keys):
 * CKR_OK and *ret_h, CKR_KEY_HANDLE_INVALID if none, CKR_GENERAL_ERROR
 * with *ret_ambiguous = 1 if several.
 */
static CK_RV
find_class(struct mtd_tok *t, CK_OBJECT_CLASS cls, const char *label,
    CK_OBJECT_HANDLE *ret_h, int *ret_ambiguous)
{
	CK_KEY_TYPE kt = CKK_EC;
	CK_ATTRIBUTE tmpl[3];
	CK_OBJECT_HANDLE h[2];
	CK_ULONG n = 0, found = 0;
	CK_RV rv;

	*ret_ambiguous = 0;
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof(cls) };
	tmpl[n++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label, strlen(label) };
	if (cls != CKO_CERTIFICATE)
		tmpl[n++] = (CK_ATTRIBUTE){ CKA_KEY_TYPE, &kt, sizeof(kt) };
	if ((rv = t->f->C_FindObjectsInit(t->s, tmpl, n)) != CKR_OK)
		return rv;
	rv = t->f->C_FindObjects(t->s, h, 2, &found);
	t->f->C_FindObjectsFinal(t->s);
	if (rv != CKR_OK)
		return rv;
	if (found == 0)
		return CKR_KEY_HANDLE_INVALID;
	if (found > 1) {
		*ret_ambiguous = 1;
		return CKR_GENERAL_ERROR;
	}
	*ret_h = h[0];
	return CKR_OK;
}

/* see tok.h */
CK_RV
mtd_tok_ec_keygen(struct mtd_tok *t, const char *label, const uint8_t *id,
    size_t id_len, const uint8_t *params, size_t params_len, int *ret_exists)
{
	CK_MECHANISM m = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_OBJECT_HANDLE pub, priv, h;
	CK_RV rv;
	int amb;
	CK_ATTRIBUTE pubt[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_VERIFY, &yes, sizeof(yes) },
		{ CKA_EC_PARAMS, (void *)params, params_len },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_ID, (void *)id, id_len },
	};
	CK_ATTRIBUTE privt[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_EXTRACTABLE, &no, sizeof(no) },
		{ CKA_SIGN, &yes, sizeof(yes) },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_ID, (void *)id, id_len },
	};

	/*
	 * one key pair per label: a second would make the label ambiguous;
	 * a failed search is no "exists"
	 */
	*ret_exists = 0;
	rv = find_class(t, CKO_PRIVATE_KEY, label, &h, &amb);
	if (rv == CKR_OK || amb) {
		*ret_exists = 1;
		return CKR_ATTRIBUTE_VALUE_INVALID;
	}
	if (rv != CKR_KEY_HANDLE_INVALID)
		return rv;
	cache_clear(t);
	return t->f->C_GenerateKeyPair(t->s, &m, pubt,
	    sizeof(pubt) / sizeof(pubt[0]), privt,
	    sizeof(privt) / sizeof(privt[0]), &pub, &priv);
}

/* see tok.h */
CK_RV
mtd_tok_ec_public(struct mtd_tok *t, const char *label, uint8_t *params,
    size_t *params_len, uint8_t *point, size_t *point_len, uint8_t *id,
    size_t *id_len)
{
	CK_OBJECT_HANDLE h;
	CK_ATTRIBUTE a[3];
	int amb;
	CK_RV rv;

	if ((rv = find_class(t, CKO_PUBLIC_KEY, label, &h, &amb)) != CKR_OK)
		return rv;
	a[0] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, params, *params_len };
	a[1] = (CK_ATTRIBUTE){ CKA_EC_POINT, point, *point_len };
	a[2] = (CK_ATTRIBUTE){ CKA_ID, id, *id_len };
	if ((rv = t->f->C_GetAttributeValue(t->s, h, a, 3)) != CKR_OK)
		return rv;
	*params_len = a[0].ulValueLen;
	*point_len = a[1].ulValueLen;
	*id_len = a[2].ulValueLen;
	return CKR_OK;
}

/* see tok.h */
CK_RV
mtd_tok_ec_sign(struct mtd_tok *t, const char *label, CK_MECHANISM_TYPE mech,
    const uint8_t *data, size_t len, uint8_t *sig, size_t *sig_len)
{
	CK_MECHANISM m = { mech, NULL, 0 };
	CK_OBJECT_HANDLE h;
	CK_ULONG sl = (CK_ULONG)*sig_len;
	int amb;
	CK_RV rv;

	if ((rv = find_class(t, CKO_PRIVATE_KEY, label, &h, &amb)) != CKR_OK)
		return rv;
	if ((rv = t->f->C_SignInit(t->s, &m, h)) != CKR_OK ||
	    (rv = t->f->C_Sign(t->s, (CK_BYTE_PTR)data, (CK_ULONG)len, sig,
	    &sl)) != CKR_OK)
		return rv;
	*sig_len = sl;
	return CKR_OK;
}

/* see tok.h */
CK_RV
mtd_tok_cert_import(struct mtd_tok *t, const char *label,
    const uint8_t *id, size_t id_len, const uint8_t *der, size_t der_len,
    const uint8_t *subject, size_t subject_len, const uint8_t *issuer,
    size_t issuer_len, const uint8_t *serial, size_t serial_len,
    int *ret_exists)
{
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE ct = CKC_X_509;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_OBJECT_HANDLE h;
	CK_RV rv;
	int amb;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_CERTIFICATE_TYPE, &ct, sizeof(ct) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &no, sizeof(no) },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_ID, (void *)id, id_len },
		{ CKA_VALUE, (void *)der, der_len },
		{ CKA_SUBJECT, (void *)subject, subject_len },
		{ CKA_ISSUER, (void *)issuer, issuer_len },
		{ CKA_SERIAL_NUMBER, (void *)serial, serial_len },
	};

	/* one certificate per key label; a failed search is no "exists" */
	*ret_exists = 0;
	rv = find_class(t, CKO_CERTIFICATE, label, &h, &amb);
	if (rv == CKR_OK || amb) {
		*ret_exists = 1;
		return CKR_ATTRIBUTE_VALUE_INVALID;
	}
	if (rv != CKR_KEY_HANDLE_INVALID)
		return rv;
	return t->f->C_CreateObject(t->s, tmpl, sizeof(tmpl) /
	    sizeof(tmpl[0]), &h);
}
