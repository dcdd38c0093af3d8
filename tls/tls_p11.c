/*
 * PKCS#11 plumbing of libm2mtls: the module is dlopened and used through
 * its function list only.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls_log.h"
#include "tls_p11.h"

#define FIND_MAX	16
#define LABEL_MAX	256	/* longest label a PSK identity can match */

static pthread_mutex_t mod_lock = PTHREAD_MUTEX_INITIALIZER;
static void *mod_dl;
static char *mod_path;
static CK_FUNCTION_LIST_PTR mod_f;
static unsigned int mod_refs;
static int mod_finalize;	/* we initialised it: we finalise it */

/* see tls_p11.h */
CK_FUNCTION_LIST_PTR
m2m_p11_load(const char *path)
{
	CK_C_GetFunctionList gfl;
	CK_FUNCTION_LIST_PTR f = NULL, ret = NULL;
	void *dl = NULL;
	CK_RV rv;

	if (path == NULL)
		path = getenv("M2MTOKEN_MODULE");
	if (path == NULL || *path == '\0') {
		m2m_tls_error("no PKCS#11 module given "
		    "(set M2MTOKEN_MODULE)");
		return NULL;
	}
	pthread_mutex_lock(&mod_lock);
	if (mod_refs > 0) {
		if (strcmp(path, mod_path) != 0) {
			m2m_tls_error("module %s already loaded, "
			    "cannot load %s too", mod_path, path);
			goto out;
		}
		mod_refs++;
		ret = mod_f;
		goto out;
	}
	if ((dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		m2m_tls_error("cannot load %s: %s", path,
		    dlerror());
		goto out;
	}
	gfl = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList");
	if (gfl == NULL || gfl(&f) != CKR_OK || f == NULL) {
		m2m_tls_error("%s: no C_GetFunctionList", path);
		goto out;
	}
	rv = f->C_Initialize(NULL);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		m2m_tls_error("%s: C_Initialize: %s", path,
		    m2m_p11_rv_name(rv));
		goto out;
	}
	if ((mod_path = strdup(path)) == NULL) {
		if (rv == CKR_OK)
			f->C_Finalize(NULL);
		goto out;
	}
	mod_finalize = rv == CKR_OK;
	mod_dl = dl;
	dl = NULL;	/* transferred */
	mod_f = f;
	mod_refs = 1;
	ret = f;
 out:
	if (dl != NULL)
		dlclose(dl);
	pthread_mutex_unlock(&mod_lock);
	return ret;
}

/* see tls_p11.h */
void
m2m_p11_unload(void)
{
	pthread_mutex_lock(&mod_lock);
	if (mod_refs > 0 && --mod_refs == 0) {
		if (mod_finalize)
			mod_f->C_Finalize(NULL);
		dlclose(mod_dl);
		free(mod_path);
		mod_path = NULL;
		mod_dl = NULL;
		mod_f = NULL;
	}
	pthread_mutex_unlock(&mod_lock);
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

/* see tls_p11.h */
CK_RV
m2m_p11_find_token(CK_FUNCTION_LIST_PTR f, const char *label, int init,
    const char *so_pin, const char *pin, CK_SLOT_ID *ret_slot)
{
	CK_SLOT_ID slots[64], free_slot = 0;
	CK_ULONG n = 64, i;
	CK_TOKEN_INFO ti;
	CK_UTF8CHAR lab[32];
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	int have_free = 0;
	CK_RV rv;

	if ((rv = f->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK)
		return rv;
	for (i = 0; i < n; i++) {
		if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		if (!(ti.flags & CKF_TOKEN_INITIALIZED)) {
			if (!have_free) {
				free_slot = slots[i];
				have_free = 1;
			}
			continue;
		}
		if (label_is(ti.label, label)) {
			*ret_slot = slots[i];
			return CKR_OK;
		}
	}
	if (!init || !have_free || strlen(label) > 32)
		return CKR_TOKEN_NOT_PRESENT;
	memset(lab, ' ', sizeof(lab));
	memcpy(lab, label, strlen(label));
	if ((rv = f->C_InitToken(free_slot, (CK_UTF8CHAR_PTR)so_pin,
	    strlen(so_pin), lab)) != CKR_OK)
		return rv;
	/* the slot of an initialised token may move: look it up again */
	n = 64;
	if ((rv = f->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK)
		return rv;
	for (i = 0; i < n; i++)
		if (f->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
		    (ti.flags & CKF_TOKEN_INITIALIZED) &&
		    label_is(ti.label, label))
			break;
	if (i == n)
		return CKR_TOKEN_NOT_PRESENT;
	if ((rv = f->C_OpenSession(slots[i], CKF_SERIAL_SESSION | CKF_RW_SESSION,
	    NULL, NULL, &s)) != CKR_OK)
		return rv;
	if ((rv = f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)so_pin,
	    strlen(so_pin))) == CKR_OK) {
		rv = f->C_InitPIN(s, (CK_UTF8CHAR_PTR)pin, strlen(pin));
		f->C_Logout(s);
	}
	f->C_CloseSession(s);
	if (rv == CKR_OK)
		*ret_slot = slots[i];
	return rv;
}

/* see tls_p11.h */
int
m2m_p11_role_is_psk(CK_ULONG role)
{
	return role == CK_M2M_ROLE_KPM || role == CK_M2M_ROLE_KPSA ||
	    role == CK_M2M_ROLE_KM || role == CK_M2M_ROLE_KUC ||
	    role == CK_M2M_ROLE_KC;
}

/* see tls_p11.h */
CK_RV
m2m_p11_find_psk(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
    const uint8_t *label, size_t label_len, CK_OBJECT_HANDLE *ret)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (CK_VOID_PTR)label, label_len },
	};
	CK_OBJECT_HANDLE h[FIND_MAX];
	CK_ULONG n = 0, i, role;
	CK_ATTRIBUTE ra = { CKA_M2M_ROLE, &role, sizeof(role) };
	CK_RV rv;

	if ((rv = f->C_FindObjectsInit(s, t, 2)) != CKR_OK)
		return rv;
	rv = f->C_FindObjects(s, h, FIND_MAX, &n);
	f->C_FindObjectsFinal(s);
	if (rv != CKR_OK)
		return rv;
	for (i = 0; i < n; i++) {
		ra.ulValueLen = sizeof(role);
		if (f->C_GetAttributeValue(s, h[i], &ra, 1) == CKR_OK &&
		    ra.ulValueLen == sizeof(role) && m2m_p11_role_is_psk(role)) {
			*ret = h[i];
			return CKR_OK;
		}
	}
	return CKR_KEY_HANDLE_INVALID;
}

/* see tls_p11.h */
CK_RV
m2m_p11_check_psk(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
    CK_OBJECT_HANDLE h, const uint8_t *label, size_t label_len)
{
	CK_OBJECT_CLASS cls = 0;
	CK_ULONG role = 0;
	uint8_t lab[LABEL_MAX];
	CK_ATTRIBUTE a[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, lab, sizeof(lab) },
		{ CKA_M2M_ROLE, &role, sizeof(role) },
	};

	if (h == CK_INVALID_HANDLE || label_len == 0 ||
	    label_len > sizeof(lab) ||
	    f->C_GetAttributeValue(s, h, a, 3) != CKR_OK ||
	    a[0].ulValueLen != sizeof(cls) || cls != CKO_SECRET_KEY ||
	    a[1].ulValueLen != label_len ||
	    memcmp(lab, label, label_len) != 0 ||
	    a[2].ulValueLen != sizeof(role) || !m2m_p11_role_is_psk(role))
		return CKR_KEY_HANDLE_INVALID;
	return CKR_OK;
}

/* see tls_p11.h */
CK_RV
m2m_p11_import_psk(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
    const char *label, CK_ULONG role, const uint8_t *value, size_t len,
    const char *expires)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_LABEL, (CK_VOID_PTR)label, strlen(label) },
		{ CKA_M2M_ROLE, &role, sizeof(role) },
		{ CKA_VALUE, (CK_VOID_PTR)value, len },
		{ CKA_M2M_EXPIRES, (CK_VOID_PTR)expires,
		    expires ? strlen(expires) : 0 },
	};
	CK_OBJECT_HANDLE h;

	return f->C_CreateObject(s, t, expires ? 7 : 6, &h);
}

/* see tls_p11.h */
const char *
m2m_p11_rv_name(CK_RV rv)
{
	static __thread char buf[32];

	switch (rv) {
	case CKR_OK: return "CKR_OK";
	case CKR_GENERAL_ERROR: return "CKR_GENERAL_ERROR";
	case CKR_FUNCTION_FAILED: return "CKR_FUNCTION_FAILED";
	case CKR_ARGUMENTS_BAD: return "CKR_ARGUMENTS_BAD";
	case CKR_DEVICE_ERROR: return "CKR_DEVICE_ERROR";
	case CKR_KEY_HANDLE_INVALID: return "CKR_KEY_HANDLE_INVALID";
	case CKR_KEY_FUNCTION_NOT_PERMITTED:
		return "CKR_KEY_FUNCTION_NOT_PERMITTED";
	case CKR_MECHANISM_INVALID: return "CKR_MECHANISM_INVALID";
	case CKR_MECHANISM_PARAM_INVALID: return "CKR_MECHANISM_PARAM_INVALID";
	case CKR_PIN_INCORRECT: return "CKR_PIN_INCORRECT";
	case CKR_PIN_LOCKED: return "CKR_PIN_LOCKED";
	case CKR_TOKEN_NOT_PRESENT: return "CKR_TOKEN_NOT_PRESENT";
	case CKR_USER_NOT_LOGGED_IN: return "CKR_USER_NOT_LOGGED_IN";
	case CKR_TEMPLATE_INCONSISTENT: return "CKR_TEMPLATE_INCONSISTENT";
	case CKR_ATTRIBUTE_VALUE_INVALID: return "CKR_ATTRIBUTE_VALUE_INVALID";
	case CKR_SLOT_ID_INVALID: return "CKR_SLOT_ID_INVALID";
	default:
		snprintf(buf, sizeof(buf), "CKR_0x%lx", (unsigned long)rv);
		return buf;
	}
}
