/*
 * m2mtoken HSM backend: the connection.  Loading the PKCS#11 module (one
 * C_Initialize per process), finding the token by label, the one RW
 * session logged in as the user, the probes of the module's quirks, the
 * reconnect after a lost session, and the backend's open and close.
 * Contracts in hsm_int.h; docs/architecture.md.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "backend.h"
#include "conf.h"
#include "err.h"
#include "hsm_int.h"
#include "log.h"
#include "secret.h"

_Static_assert(sizeof(CK_ULONG) >= sizeof(size_t), "CK_ULONG holds a size_t");

/*
 * A module as this process sees it: C_Initialize once, C_Finalize when the
 * last backend using it closes, and only if we initialised it (another
 * part of the process may be using the same module).
 */
struct module {
	CK_FUNCTION_LIST_PTR	 fl;
	unsigned int		 refs;
	int			 finalize;
	struct module		*next;
};

static pthread_mutex_t	 modules_lock = PTHREAD_MUTEX_INITIALIZER;
static struct module	*modules;

/* ------------------------------------------------------------------ */
/* Module life cycle                                                  */
/* ------------------------------------------------------------------ */

static int
module_ref(struct hsm *h, char *errbuf, size_t errlen)
{
	CK_C_INITIALIZE_ARGS ia;
	struct module *m;
	CK_RV rv;
	char b[32];
	int r = M2M_ERR_INTERNAL;

	pthread_mutex_lock(&modules_lock);
	for (m = modules; m != NULL; m = m->next) {
		if (m->fl == h->fl) {
			m->refs++;
			h->module_ref = 1;
			r = 0;
			goto out;
		}
	}
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		r = M2M_ERR_NO_MEMORY;
		goto out;
	}
	memset(&ia, 0, sizeof(ia));
	ia.flags = CKF_OS_LOCKING_OK;
	rv = P11(h, C_Initialize)(&ia);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		/* whatever the reason, the module is unusable: absent */
		m2m_errbuf_set(errbuf, errlen, "cannot load HSM module %s: "
		    "C_Initialize: %s", h->module_path,
		    m2m_hsm_ckr_str(rv, b, sizeof(b)));
		free(m);
		r = rv == CKR_HOST_MEMORY ? M2M_ERR_NO_MEMORY :
		    M2M_ERR_BACKEND_ABSENT;
		goto out;
	}
	m->fl = h->fl;
	m->refs = 1;
	m->finalize = rv == CKR_OK;
	m->next = modules;
	modules = m;
	h->module_ref = 1;
	r = 0;
 out:
	pthread_mutex_unlock(&modules_lock);
	return r;
}

static void
module_unref(struct hsm *h)
{
	struct module **mp, *m;

	if (!h->module_ref)
		return;
	pthread_mutex_lock(&modules_lock);
	for (mp = &modules; (m = *mp) != NULL; mp = &m->next) {
		if (m->fl != h->fl)
			continue;
		if (--m->refs == 0) {
			if (m->finalize)
				(void)P11(h, C_Finalize)(NULL);
			*mp = m->next;
			free(m);
		}
		break;
	}
	pthread_mutex_unlock(&modules_lock);
	h->module_ref = 0;
}

/* ------------------------------------------------------------------ */
/* Session                                                            */
/* ------------------------------------------------------------------ */

/* see hsm_int.h */
void
m2m_hsm_destroy(struct hsm *h, CK_OBJECT_HANDLE obj)
{
	CK_RV rv;

	if (obj == CK_INVALID_HANDLE || !h->connected)
		return;
	if ((rv = P11(h, C_DestroyObject)(h->session, obj)) != CKR_OK)
		m2m_debug("HSM: C_DestroyObject: 0x%lx", (unsigned long)rv);
}

static int
find_slot(struct hsm *h, CK_SLOT_ID *ret_slot, char *errbuf, size_t errlen)
{
	CK_SLOT_ID *slots = NULL;
	CK_TOKEN_INFO ti;
	CK_ULONG n = 0, i;
	CK_RV rv;
	uint8_t want[M2M_HSM_LABEL_LEN];
	size_t ll = strlen(h->label);
	char b[32];
	int tries, r = M2M_ERR_INTERNAL;

	for (tries = 0;; tries++) {
		free(slots);
		slots = NULL;
		if ((rv = P11(h, C_GetSlotList)(CK_TRUE, NULL, &n)) != CKR_OK)
			goto fail;
		if (n > M2M_HSM_SLOTS_MAX) {
			m2m_errbuf_set(errbuf, errlen, "HSM module %s lists "
			    "%lu slots (at most %d are examined)",
			    h->module_path, (unsigned long)n,
			    M2M_HSM_SLOTS_MAX);
			r = M2M_ERR_BACKEND;
			goto out;
		}
		if (n == 0)
			break;
		if ((slots = calloc(n, sizeof(*slots))) == NULL) {
			r = M2M_ERR_NO_MEMORY;
			goto out;
		}
		rv = P11(h, C_GetSlotList)(CK_TRUE, slots, &n);
		/* a token may appear between the two calls */
		if (rv == CKR_BUFFER_TOO_SMALL && tries < 3)
			continue;
		if (rv != CKR_OK)
			goto fail;
		break;
	}
	if (ll <= sizeof(want)) {
		memset(want, ' ', sizeof(want));
		memcpy(want, h->label, ll);
		for (i = 0; i < n; i++) {
			rv = P11(h, C_GetTokenInfo)(slots[i], &ti);
			if (rv != CKR_OK) {	/* removed meanwhile? */
				m2m_debug("HSM module %s: slot %lu: "
				    "C_GetTokenInfo: %s", h->module_path,
				    (unsigned long)slots[i],
				    m2m_hsm_ckr_str(rv, b, sizeof(b)));
				continue;
			}
			if (memcmp(ti.label, want, sizeof(want)) == 0) {
				*ret_slot = slots[i];
				r = 0;
				goto out;
			}
		}
	}
	m2m_errbuf_set(errbuf, errlen, "no token labelled '%s' in %s", h->label,
	    h->module_path);
	r = M2M_ERR_BACKEND_ABSENT;
	goto out;
 fail:
	m2m_errbuf_set(errbuf, errlen, "HSM module %s: C_GetSlotList: %s",
	    h->module_path, m2m_hsm_ckr_str(rv, b, sizeof(b)));
	r = m2m_err_from_ckr(rv, M2M_HSM_OP_OTHER);
 out:
	free(slots);
	return r;
}

/*
 * RFC 5649 unwrapping must give back the exact length.  SoftHSM2 2.6.1
 * leaves the padding in place (a 20-byte key comes back as 24 bytes).
 * That is harmless for every HMAC key of 64 bytes or less (see
 * m2m_hsm_value_len()) and for SHA-384/512 (128-byte block >=
 * M2M_KEY_MAX), but an HMAC-SHA-256 key longer than the block is hashed
 * first, so for keys of 65..127 bytes that are not a multiple of 8 the
 * padding would change the result.  Find out once; on a failure assume
 * the worst.
 */
static void
probe_unwrap_padding(struct hsm *h)
{
	CK_MECHANISM mech = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_OBJECT_HANDLE wk = h->wk.k[h->wk.cur].handle;
	uint8_t probe = 0x5a, wrapped[M2M_HSM_WRAPPED_MIN];
	CK_ULONG wlen = sizeof(wrapped), vlen = 0;
	CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE, back = CK_INVALID_HANDLE;
	CK_ATTRIBUTE tmpl[] = {
		ATTR(CKA_CLASS, &ck_secret, sizeof(ck_secret)),
		ATTR(CKA_KEY_TYPE, &ck_generic, sizeof(ck_generic)),
		ATTR_BOOL(CKA_TOKEN, 0),
		ATTR_BOOL(CKA_SENSITIVE, 0),
		ATTR_BOOL(CKA_EXTRACTABLE, 1),
		ATTR(CKA_VALUE, &probe, 1),
	};
	CK_ULONG ntmpl = sizeof(tmpl) / sizeof(tmpl[0]);
	/* as strict_unwrap[] demands; CKA_VALUE_LEN stays readable */
	CK_ATTRIBUTE utmpl[] = {
		ATTR(CKA_CLASS, &ck_secret, sizeof(ck_secret)),
		ATTR(CKA_KEY_TYPE, &ck_generic, sizeof(ck_generic)),
		ATTR_BOOL(CKA_TOKEN, 0),
		ATTR_BOOL(CKA_SENSITIVE, 1),
		ATTR_BOOL(CKA_EXTRACTABLE, 0),
		ATTR_BOOL(CKA_WRAP, 0),
		ATTR_BOOL(CKA_UNWRAP, 0),
		ATTR_BOOL(CKA_DERIVE, 0),
	};
	CK_ATTRIBUTE a = ATTR(CKA_VALUE_LEN, &vlen, sizeof(vlen));

	h->unwrap_pads = 1;
	if (P11(h, C_CreateObject)(h->session, tmpl, ntmpl, &obj) != CKR_OK)
		return;
	if (P11(h, C_WrapKey)(h->session, &mech, wk, obj, wrapped,
	    &wlen) == CKR_OK &&
	    P11(h, C_UnwrapKey)(h->session, &mech, wk, wrapped, wlen,
	    utmpl, sizeof(utmpl) / sizeof(utmpl[0]), &back) == CKR_OK) {
		if (P11(h, C_GetAttributeValue)(h->session, back, &a, 1) ==
		    CKR_OK && vlen == 1)
			h->unwrap_pads = 0;
		(void)P11(h, C_DestroyObject)(h->session, back);
	}
	(void)P11(h, C_DestroyObject)(h->session, obj);
}

/*
 * AES-GCM with an IV longer than 128 bytes: OpenSSL 3 refuses to set such
 * an IV length and SoftHSM2 2.6.1 ignores that failure, encrypting with
 * the first 12 bytes as a 96-bit IV, so two long IVs with a common prefix
 * would reuse a nonce.  Check the module against a known answer (key
 * 11..11, IV 00 01 .. ff, 16 zero bytes, a 16-byte tag; computed from the
 * GCM definition, GHASH of the 256-byte IV) and refuse IVs over 128 bytes
 * when it is wrong.
 */
static void
probe_gcm_long_iv(struct hsm *h)
{
	static const uint8_t kat[32] = {
		0x49, 0x1f, 0xd0, 0x74, 0xe7, 0xca, 0x20, 0xe2,
		0xe4, 0x8e, 0xad, 0x7a, 0x4a, 0x93, 0x21, 0x01,
		0xaa, 0x97, 0x5c, 0x25, 0xcf, 0xdb, 0x62, 0xf8,
		0x08, 0x7b, 0x55, 0xf7, 0xf9, 0xff, 0xe8, 0x44,
	};
	uint8_t key[32], iv[256], zero[16], out[sizeof(kat)];
	CK_GCM_PARAMS gp;
	CK_MECHANISM mech = { CKM_AES_GCM, &gp, sizeof(gp) };
	CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
	CK_ULONG n = sizeof(out);
	CK_ATTRIBUTE tmpl[] = {
		ATTR(CKA_CLASS, &ck_secret, sizeof(ck_secret)),
		ATTR(CKA_KEY_TYPE, &ck_aes, sizeof(ck_aes)),
		ATTR(CKA_VALUE, key, sizeof(key)),	/* not a secret */
		ATTR_BOOL(CKA_TOKEN, 0),
		ATTR_BOOL(CKA_SENSITIVE, 0),
		ATTR_BOOL(CKA_ENCRYPT, 1),
	};
	size_t i;

	h->gcm_iv_max = 128;
	memset(key, 0x11, sizeof(key));
	memset(zero, 0, sizeof(zero));
	for (i = 0; i < sizeof(iv); i++)
		iv[i] = (uint8_t)i;
	memset(&gp, 0, sizeof(gp));
	gp.pIv = iv;
	gp.ulIvLen = sizeof(iv);
	gp.ulIvBits = sizeof(iv) * 8;
	gp.ulTagBits = 128;
	if (P11(h, C_CreateObject)(h->session, tmpl,
	    sizeof(tmpl) / sizeof(tmpl[0]), &obj) != CKR_OK)
		return;
	if (P11(h, C_EncryptInit)(h->session, &mech, obj) == CKR_OK &&
	    P11(h, C_Encrypt)(h->session, zero, sizeof(zero), out, &n) ==
	    CKR_OK && n == sizeof(kat) && memcmp(out, kat, sizeof(kat)) == 0)
		h->gcm_iv_max = 256;
	(void)P11(h, C_DestroyObject)(h->session, obj);
}

/* Open and log in the session and find the wrapping key. */
static int
connect_token(struct hsm *h, char *errbuf, size_t errlen)
{
	CK_SLOT_ID slot = 0;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_RV rv;
	char b[32];
	int fd, r = M2M_ERR_INTERNAL;

	if (M2M_NEVER(h->connected))
		return 0;
	h->last_rv = CKR_OK;
	if ((r = find_slot(h, &slot, errbuf, errlen)) != 0)
		return r;
	rv = P11(h, C_OpenSession)(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
	    NULL, NULL, &s);
	if (rv != CKR_OK) {
		m2m_errbuf_set(errbuf, errlen, "HSM token '%s': C_OpenSession: "
		    "%s", h->label, m2m_hsm_ckr_str(rv, b, sizeof(b)));
		return m2m_err_from_ckr(rv, M2M_HSM_OP_OTHER);
	}
	/* the PIN never appears in a message */
	rv = P11(h, C_Login)(s, CKU_USER, m2m_secret_data(h->pin),
	    m2m_secret_len(h->pin));
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
		r = m2m_err_from_ckr(rv, M2M_HSM_OP_OTHER);
		if (r == M2M_ERR_BACKEND_AUTH)
			m2m_errbuf_set(errbuf, errlen, "HSM token '%s' refused "
			    "the user PIN (%s)", h->label, m2m_hsm_ckr_str(rv, b,
			    sizeof(b)));
		else
			m2m_errbuf_set(errbuf, errlen, "HSM token '%s': "
			    "C_Login: %s", h->label, m2m_hsm_ckr_str(rv, b, sizeof(b)));
		(void)P11(h, C_CloseSession)(s);
		return r;
	}
	h->session = s;
	h->connected = 1;
	if ((r = m2m_hsm_wrapkey_setup(h, 0, errbuf, errlen)) != 0) {
		m2m_hsm_disconnect(h);
		return r;
	}
	/* under the wrapping key's setup lock: one binding key per token */
	fd = m2m_hsm_setup_lock(h);
	rv = m2m_hsm_bindkey_setup(h->fl, h->session, &h->commands,
	    &h->bindkey);
	m2m_hsm_setup_unlock(fd);
	if (rv != CKR_OK) {
		m2m_errbuf_set(errbuf, errlen, "HSM token '%s': cannot find or "
		    "create the binding key '%s': %s", h->label,
		    M2M_HSM_BIND_LABEL, m2m_hsm_ckr_str(rv, b, sizeof(b)));
		r = m2m_hsm_ckr(h, rv, M2M_HSM_OP_OTHER);
		m2m_hsm_disconnect(h);
		return r;
	}
	probe_unwrap_padding(h);
	probe_gcm_long_iv(h);
	return 0;
}

/* see hsm_int.h */
int
m2m_hsm_ready(struct hsm *h)
{
	char why[256];
	int r;

	if (h->connected)
		return 0;
	why[0] = '\0';
	if ((r = connect_token(h, why, sizeof(why))) != 0) {
		m2m_debug("HSM: reconnect failed: %s", why);
		return r;
	}
	m2m_info("HSM token '%s': session re-established", h->label);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Open and close                                                     */
/* ------------------------------------------------------------------ */

static void
hsm_free(struct hsm *h)
{
	if (h == NULL)
		return;
	if (h->fl != NULL)
		m2m_hsm_disconnect(h);
	m2m_hsm_cache_free(h->cache);
	module_unref(h);
	if (h->dl != NULL)
		dlclose(h->dl);
	EVP_MAC_free(h->mac);
	m2m_secret_free(h->pin);
	free(h->label);
	free(h->module_path);
	free(h->store_path);
	if (h->lock_init)
		pthread_mutex_destroy(&h->lock);
	free(h);
}

static const char *
dlerr(void)
{
	const char *e = dlerror();

	return e != NULL ? e : "unknown error";
}

/* see hsm_int.h */
int
m2m_hsm_open(const struct m2m_conf *conf, void **ret_impl, char *errbuf,
    size_t errlen)
{
	struct hsm *h = NULL;
	CK_C_GetFunctionList getfl;
	CK_FUNCTION_LIST_PTR fl = NULL;
	size_t cap;
	CK_RV rv;
	char b[32];
	int r = M2M_ERR_INTERNAL;

	m2m_errbuf_set(errbuf, errlen, "%s", "");
	if (conf == NULL || ret_impl == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if (conf->hsm_module == NULL || conf->hsm_token_label == NULL ||
	    conf->hsm_pin == NULL) {
		m2m_errbuf_set(errbuf, errlen, "[hsm] module, token_label and "
		    "pin are required");
		return M2M_ERR_CONFIG;
	}
	if (m2m_secret_len(conf->hsm_pin) > M2M_HSM_PIN_MAX) {
		m2m_errbuf_set(errbuf, errlen, "[hsm] pin: longer than %d "
		    "bytes", M2M_HSM_PIN_MAX);
		return M2M_ERR_CONFIG;
	}
	cap = conf->cache_size == 0 ? M2M_HSM_CACHE_DEFAULT : conf->cache_size;
	if (cap > M2M_HSM_CACHE_MAX) {
		m2m_errbuf_set(errbuf, errlen, "[backend] cache_size: more "
		    "than %d", M2M_HSM_CACHE_MAX);
		return M2M_ERR_CONFIG;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return M2M_ERR_NO_MEMORY;
	h->session = CK_INVALID_HANDLE;
	h->unwrap_pads = 1;
	h->gcm_iv_max = 128;
	if (pthread_mutex_init(&h->lock, NULL) != 0)
		goto out;
	h->lock_init = 1;
	if ((h->module_path = strdup(conf->hsm_module)) == NULL ||
	    (h->label = strdup(conf->hsm_token_label)) == NULL ||
	    (conf->store_path != NULL &&
	    (h->store_path = strdup(conf->store_path)) == NULL)) {
		r = M2M_ERR_NO_MEMORY;
		goto out;
	}
	if ((r = m2m_secret_from(m2m_secret_data(conf->hsm_pin),
	    m2m_secret_len(conf->hsm_pin), &h->pin)) != 0 ||
	    (r = m2m_hsm_cache_new(cap, &h->cache)) != 0)
		goto out;
	if ((h->mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL)) == NULL) {
		m2m_errbuf_set(errbuf, errlen, "OpenSSL offers no HMAC");
		r = M2M_ERR_INTERNAL;
		goto out;
	}
	(void)dlerror();
	if ((h->dl = dlopen(h->module_path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		m2m_errbuf_set(errbuf, errlen, "cannot load HSM module %s: %s",
		    h->module_path, dlerr());
		r = M2M_ERR_BACKEND_ABSENT;
		goto out;
	}
	(void)dlerror();
	/* POSIX: a dlsym() result may be converted to a function pointer */
	getfl = (CK_C_GetFunctionList)dlsym(h->dl, "C_GetFunctionList");
	if (getfl == NULL) {
		m2m_errbuf_set(errbuf, errlen, "cannot load HSM module %s: %s",
		    h->module_path, dlerr());
		r = M2M_ERR_BACKEND_ABSENT;
		goto out;
	}
	h->commands++;
	if ((rv = getfl(&fl)) != CKR_OK || fl == NULL) {
		m2m_errbuf_set(errbuf, errlen, "cannot load HSM module %s: "
		    "C_GetFunctionList: %s", h->module_path,
		    m2m_hsm_ckr_str(rv, b, sizeof(b)));
		r = M2M_ERR_BACKEND_ABSENT;
		goto out;
	}
	h->fl = fl;
	if ((r = module_ref(h, errbuf, errlen)) != 0 ||
	    (r = connect_token(h, errbuf, errlen)) != 0)
		goto out;
	*ret_impl = h;
	h = NULL;	/* transferred */
	r = 0;
 out:
	hsm_free(h);
	return r;
}

/* see hsm_int.h */
void
m2m_hsm_close(void *impl)
{
	hsm_free(impl);
}
