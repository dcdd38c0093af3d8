/*
 * m2m-mef: the MEF's token through the module's PKCS#11 API (p11.h).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "errors.h"
#include "log.h"
#include "p11.h"

#define FIND_BATCH	64
#define LIST_MAX	100000	/* labels one mef_tok_list() collects */

struct mef_tok {
	void			*dl;
	CK_FUNCTION_LIST_PTR	f;
	CK_SESSION_HANDLE	s;
	int			finalize;	/* we initialised it */
	CK_RV			last;
};

static const char *
rv_name(CK_RV rv)
{
	static char buf[32];

	return m2m_ckr_name(rv, buf, sizeof(buf));
}

/* Record and log a failed call; MEF_ERR_TOKEN. */
static int
fail(struct mef_tok *t, const char *what, CK_RV rv)
{
	if (t != NULL)
		t->last = rv;
	mef_log("token: %s: %s", what, rv_name(rv));
	return MEF_ERR_TOKEN;
}

/* see p11.h */
const char *
mef_tok_last_error(const struct mef_tok *t)
{
	return t != NULL ? rv_name(t->last) : "CKR_OK";
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

/* see p11.h */
int
mef_tok_open(const char *path, const char *token_label, const char *pin,
    size_t pin_len, struct mef_tok **ret)
{
	struct mef_tok *t = NULL;
	CK_C_GetFunctionList gfl;
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64, i;
	CK_TOKEN_INFO ti;
	CK_RV rv;
	int r = MEF_ERR_TOKEN;

	if (path == NULL || token_label == NULL || pin == NULL || ret == NULL)
		return MEF_ERR_INVALID;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return MEF_ERR_NOMEM;
	t->s = CK_INVALID_HANDLE;
	if ((t->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		mef_log("token: cannot load %s: %s", path, dlerror());
		goto out;
	}
	gfl = (CK_C_GetFunctionList)dlsym(t->dl, "C_GetFunctionList");
	if (gfl == NULL || gfl(&t->f) != CKR_OK || t->f == NULL) {
		mef_log("token: %s has no C_GetFunctionList", path);
		goto out;
	}
	rv = t->f->C_Initialize(NULL);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		r = fail(t, "C_Initialize", rv);
		goto out;
	}
	t->finalize = rv == CKR_OK;
	if ((rv = t->f->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK) {
		r = fail(t, "C_GetSlotList", rv);
		goto out;
	}
	for (i = 0; i < n; i++)
		if (t->f->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
		    (ti.flags & CKF_TOKEN_INITIALIZED) &&
		    label_is(ti.label, token_label))
			break;
	if (i == n) {
		mef_log("token: no initialised token labelled \"%.32s\"",
		    token_label);
		goto out;
	}
	if ((rv = t->f->C_OpenSession(slots[i], CKF_SERIAL_SESSION |
	    CKF_RW_SESSION, NULL, NULL, &t->s)) != CKR_OK) {
		r = fail(t, "C_OpenSession", rv);
		goto out;
	}
	rv = t->f->C_Login(t->s, CKU_USER, (CK_UTF8CHAR_PTR)pin,
	    pin_len);
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
		r = fail(t, "C_Login", rv);
		goto out;
	}
	*ret = t;
	t = NULL;	/* transferred */
	r = 0;
 out:
	mef_tok_close(t);
	return r;
}

/* see p11.h */
void
mef_tok_close(struct mef_tok *t)
{
	if (t == NULL)
		return;
	if (t->f != NULL && t->s != CK_INVALID_HANDLE)
		t->f->C_CloseSession(t->s);
	if (t->f != NULL && t->finalize)
		t->f->C_Finalize(NULL);
	if (t->dl != NULL)
		dlclose(t->dl);
	free(t);
}

/* see p11.h */
int
mef_tok_import(struct mef_tok *t, const char *label, unsigned long role,
    const uint8_t *value, size_t len, const char *enrolee_id,
    const char *expires)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG r_ = role;
	CK_ATTRIBUTE a[10];
	CK_OBJECT_HANDLE h;
	CK_ULONG n = 0;
	CK_RV rv;

	if (t == NULL || label == NULL || value == NULL || len == 0)
		return MEF_ERR_INVALID;
#define A(ty, p, l) do {						\
	a[n].type = (ty);						\
	a[n].pValue = (CK_VOID_PTR)(p);					\
	a[n].ulValueLen = (l);						\
	n++;								\
} while (0)
	A(CKA_CLASS, &cls, sizeof(cls));
	A(CKA_KEY_TYPE, &kt, sizeof(kt));
	A(CKA_TOKEN, &yes, sizeof(yes));
	A(CKA_SENSITIVE, &yes, sizeof(yes));
	A(CKA_EXTRACTABLE, &no, sizeof(no));
	A(CKA_LABEL, label, strlen(label));
	A(CKA_M2M_ROLE, &r_, sizeof(r_));
	A(CKA_VALUE, value, len);
	if (enrolee_id != NULL)
		A(CKA_M2M_ENROLEE_ID, enrolee_id, strlen(enrolee_id));
	if (expires != NULL)
		A(CKA_M2M_EXPIRES, expires, strlen(expires));
#undef A
	if ((rv = t->f->C_CreateObject(t->s, a, n, &h)) != CKR_OK)
		return fail(t, "C_CreateObject", rv);
	return 0;
}

/*
 * Find up to cap secret keys labelled label (NULL: any) with role role
 * into h; *ret_n their number.
 */
static int
find(struct mef_tok *t, const char *label, unsigned long role,
    CK_OBJECT_HANDLE *h, CK_ULONG cap, CK_ULONG *ret_n)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ULONG r_ = role, got = 0, i, k = 0, have;
	CK_ATTRIBUTE tmpl[3] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_M2M_ROLE, &r_, sizeof(r_) },
		{ CKA_LABEL, (CK_VOID_PTR)label, label ? strlen(label) : 0 },
	};
	CK_ATTRIBUTE ra = { CKA_M2M_ROLE, &have, sizeof(have) };
	CK_RV rv;

	if ((rv = t->f->C_FindObjectsInit(t->s, tmpl, label ? 3 : 2)) !=
	    CKR_OK)
		return fail(t, "C_FindObjectsInit", rv);
	rv = t->f->C_FindObjects(t->s, h, cap, &got);
	t->f->C_FindObjectsFinal(t->s);
	if (rv != CKR_OK)
		return fail(t, "C_FindObjects", rv);
	/* the role once more: the template match is the module's business */
	for (i = 0; i < got; i++) {
		ra.ulValueLen = sizeof(have);
		if (t->f->C_GetAttributeValue(t->s, h[i], &ra, 1) == CKR_OK &&
		    have == role)
			h[k++] = h[i];
	}
	*ret_n = k;
	return 0;
}

/* see p11.h */
int
mef_tok_exists(struct mef_tok *t, const char *label, unsigned long role)
{
	CK_OBJECT_HANDLE h[1];
	CK_ULONG n = 0;
	int r;

	if (t == NULL || label == NULL)
		return MEF_ERR_INVALID;
	if ((r = find(t, label, role, h, 1, &n)) != 0)
		return r;
	return n > 0;
}

/* see p11.h */
int
mef_tok_destroy(struct mef_tok *t, const char *label, unsigned long role)
{
	CK_OBJECT_HANDLE h[FIND_BATCH];
	CK_ULONG n = 0, i;
	CK_RV rv;
	int r, count = 0;

	if (t == NULL || label == NULL)
		return MEF_ERR_INVALID;
	do {
		if ((r = find(t, label, role, h, FIND_BATCH, &n)) != 0)
			return r;
		for (i = 0; i < n; i++) {
			if ((rv = t->f->C_DestroyObject(t->s, h[i])) !=
			    CKR_OK)
				return fail(t, "C_DestroyObject", rv);
			count++;
		}
	} while (n == FIND_BATCH);
	return count;
}

/* see p11.h */
int
mef_tok_list(struct mef_tok *t, unsigned long role,
    int (*cb)(const char *label, void *arg), void *arg)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ULONG r_ = role, got, i, have, nl = 0, cap = 0;
	CK_ATTRIBUTE tmpl[2] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_M2M_ROLE, &r_, sizeof(r_) },
	};
	CK_OBJECT_HANDLE h[FIND_BATCH];
	char lab[MEF_KEID_MAX + 1], **labels = NULL, **nlabels;
	CK_ATTRIBUTE a[2];
	CK_RV rv;
	int r = MEF_ERR_TOKEN, active = 0;

	if (t == NULL || cb == NULL)
		return MEF_ERR_INVALID;
	if ((rv = t->f->C_FindObjectsInit(t->s, tmpl, 2)) != CKR_OK)
		return fail(t, "C_FindObjectsInit", rv);
	active = 1;
	for (;;) {
		if ((rv = t->f->C_FindObjects(t->s, h, FIND_BATCH, &got)) !=
		    CKR_OK) {
			r = fail(t, "C_FindObjects", rv);
			goto out;
		}
		if (got == 0 || nl == LIST_MAX)
			break;
		for (i = 0; i < got; i++) {
			a[0].type = CKA_M2M_ROLE;
			a[0].pValue = &have;
			a[0].ulValueLen = sizeof(have);
			a[1].type = CKA_LABEL;
			a[1].pValue = lab;
			a[1].ulValueLen = sizeof(lab) - 1;
			if (t->f->C_GetAttributeValue(t->s, h[i], a, 2) !=
			    CKR_OK || have != role)
				continue;
			lab[a[1].ulValueLen] = '\0';
			if (nl == LIST_MAX)
				break;	/* the rest at the next walk */
			if (nl == cap) {
				cap = cap ? cap * 2 : 64;
				if ((nlabels = realloc(labels, cap *
				    sizeof(*labels))) == NULL) {
					r = MEF_ERR_NOMEM;
					goto out;
				}
				labels = nlabels;
			}
			if ((labels[nl] = strdup(lab)) == NULL) {
				r = MEF_ERR_NOMEM;
				goto out;
			}
			nl++;
		}
	}
	t->f->C_FindObjectsFinal(t->s);
	active = 0;
	r = 0;
	for (i = 0; i < nl && r == 0; i++)
		r = cb(labels[i], arg);
 out:
	if (active)
		t->f->C_FindObjectsFinal(t->s);
	for (i = 0; i < nl; i++)
		free(labels[i]);
	free(labels);
	return r;
}

/* see p11.h */
int
mef_tok_derive_read(struct mef_tok *t, const char *ke_id, const char *target,
    unsigned int suid, uint8_t out[MEF_KEY_LEN])
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG none = CK_M2M_ROLE_NONE;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_M2M_ROLE, &none, sizeof(none) },
		{ CKA_TOKEN, &no, sizeof(no) },
		{ CKA_SENSITIVE, &no, sizeof(no) },
		{ CKA_EXTRACTABLE, &yes, sizeof(yes) },
		/*
		 * Only to be read: with no use, the module holds the value in
		 * its memory instead of wrapping it into the HSM and
		 * unwrapping it again for the read (two HSM session objects
		 * per fetch, which SoftHSM2 2.6.1 never frees: bench/README.md,
		 * memory over 100,000 requests).
		 */
		{ CKA_SIGN, &no, sizeof(no) },
		{ CKA_VERIFY, &no, sizeof(no) },
		{ CKA_ENCRYPT, &no, sizeof(no) },
		{ CKA_DECRYPT, &no, sizeof(no) },
		{ CKA_DERIVE, &no, sizeof(no) },
		{ CKA_WRAP, &no, sizeof(no) },
		{ CKA_UNWRAP, &no, sizeof(no) },
	};
	CK_M2M_KUC_PARAMS kuc;
	CK_MECHANISM mech;
	CK_OBJECT_HANDLE ke[1], key = CK_INVALID_HANDLE;
	uint8_t val[MEF_KEY_LEN];
	CK_ATTRIBUTE va = { CKA_VALUE, val, sizeof(val) };
	CK_ULONG n = 0;
	CK_RV rv;
	int r = MEF_ERR_TOKEN;

	if (t == NULL || ke_id == NULL || target == NULL || out == NULL)
		return MEF_ERR_INVALID;
	if ((r = find(t, ke_id, CK_M2M_ROLE_KE, ke, 1, &n)) != 0)
		goto out;
	if (n == 0) {
		r = MEF_ERR_NOTFOUND;
		goto out;
	}
	if (suid == 0) {
		mech.mechanism = CKM_M2M_KPSA_DERIVE;
		mech.pParameter = (CK_VOID_PTR)target;
		mech.ulParameterLen = strlen(target);
	} else {
		kuc.ulSuid = suid;
		kuc.pTargetId = (CK_UTF8CHAR_PTR)target;
		kuc.ulTargetIdLen = strlen(target);
		mech.mechanism = CKM_M2M_KUC_DERIVE;
		mech.pParameter = &kuc;
		mech.ulParameterLen = sizeof(kuc);
	}
	if ((rv = t->f->C_DeriveKey(t->s, &mech, ke[0], tmpl,
	    sizeof(tmpl) / sizeof(tmpl[0]), &key)) != CKR_OK) {
		r = fail(t, "C_DeriveKey", rv);
		goto out;
	}
	if ((rv = t->f->C_GetAttributeValue(t->s, key, &va, 1)) != CKR_OK) {
		r = fail(t, "C_GetAttributeValue(CKA_VALUE)", rv);
		goto out;
	}
	if (va.ulValueLen != MEF_KEY_LEN) {
		mef_log("token: the derived key has %lu bytes, not %d",
		    (unsigned long)va.ulValueLen, MEF_KEY_LEN);
		r = MEF_ERR_TOKEN;
		goto out;
	}
	memcpy(out, val, MEF_KEY_LEN);
	r = 0;
 out:
	if (key != CK_INVALID_HANDLE &&
	    (rv = t->f->C_DestroyObject(t->s, key)) != CKR_OK) {
		/* not delivered while a readable copy stays in the token */
		r = fail(t, "C_DestroyObject(derived)", rv);
		OPENSSL_cleanse(out, MEF_KEY_LEN);
	}
	OPENSSL_cleanse(val, sizeof(val));
	return r;
}
