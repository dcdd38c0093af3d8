/*
 * m2mtoken: the HSM backend, over any PKCS#11 module (SoftHSM2 in CI).
 * See backend.h for the contract and hsm.h for the blob format.
 *
 * One RW session per backend, logged in as the user, serialised by one
 * mutex.  Keys are wrapped with CKM_AES_KEY_WRAP_PAD under an AES-256
 * token key generated in the HSM (sensitive, never extractable):
 * "m2mtoken-wrap", whose CKA_UNWRAP_TEMPLATE lets its blobs unwrap only
 * into sensitive, non-extractable objects, or, for the keys the core may
 * reveal (wrap_readable()), "m2mtoken-wrap-readable", without one.  To use
 * a key it is unwrapped into a session object that is sensitive and not
 * extractable (assurance level H) and kept in an LRU of loaded handles.
 * hmac_keymsg() hashes the key inside the HSM (C_DigestKey, level H);
 * only for blobs of the readable key do reveal() and hmac_keymsg() unwrap
 * a readable session object, read it into locked memory for that one call
 * and destroy the object (level T).
 */
#define _GNU_SOURCE	/* secure_getenv */
#include <sys/file.h>
#include <sys/stat.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "backend.h"
#include "conf.h"
#include "err.h"
#include "hsm.h"
#include "log.h"
#include "secret.h"

_Static_assert(sizeof(CK_ULONG) >= sizeof(size_t), "CK_ULONG holds a size_t");

#define GCM_STACK_BUF	512	/* smaller AES-GCM results stay on the stack */

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

/* Serialises the wrapping key's setup in this process; see setup_lock(). */
static pthread_mutex_t	 setup_mutex = PTHREAD_MUTEX_INITIALIZER;

/* A wrapping key of the token, named by its CKA_ID in every blob. */
struct wrapkey {
	uint8_t			 id[M2M_HSM_WRAP_ID_LEN];
	CK_OBJECT_HANDLE	 handle;
};

/* The token's wrapping keys under one label, by CKA_ID. */
struct wrapkeys {
	struct wrapkey		 k[M2M_HSM_WRAPKEYS_MAX];
	size_t			 n;
	size_t			 cur;		/* the entry new blobs use */
};

struct hsm {
	pthread_mutex_t		 lock;
	int			 lock_init;
	void			*dl;
	CK_FUNCTION_LIST_PTR	 fl;
	int			 module_ref;	/* counted in modules */
	char			*module_path;
	char			*label;
	struct m2m_secret	*pin;		/* kept to log in again */
	int			 connected;
	CK_SESSION_HANDLE	 session;
	struct wrapkeys		 wk;		/* M2M_HSM_WRAP_LABEL */
	struct wrapkeys		 rk;		/* ..._LABEL_READABLE */
	int			 legacy_logged;	/* see wrapkey_find() */
	CK_OBJECT_HANDLE	 bindkey;	/* see bind.c */
	int			 unwrap_pads;	/* see probe_unwrap_padding() */
	int			 private_ops;	/* see unwrap() */
	size_t			 gcm_iv_max;	/* see probe_gcm_long_iv() */
	struct m2m_hsm_cache	*cache;
	EVP_MAC			*mac;
	CK_RV			 last_rv;	/* of the last failed call */
	unsigned long		 commands;
	unsigned long		 loads;
};

/*
 * Every call into the module goes through P11(), so that stats() counts
 * them all; the cached HMAC path makes exactly two (C_SignInit, C_Sign).
 */
#define P11(h, fn)	((h)->commands++, (h)->fl->fn)

static const CK_BBOOL	 ck_true = CK_TRUE;
static const CK_BBOOL	 ck_false = CK_FALSE;
static const CK_OBJECT_CLASS ck_secret = CKO_SECRET_KEY;
static const CK_KEY_TYPE ck_aes = CKK_AES;
static const CK_KEY_TYPE ck_generic = CKK_GENERIC_SECRET;
static uint8_t		 empty[1];	/* a non-NULL pointer for 0 bytes */

#define ATTR(t, p, l)	{ (t), (void *)(p), (l) }
#define ATTR_BOOL(t, v)	ATTR((t), (v) ? &ck_true : &ck_false, sizeof(CK_BBOOL))

/*
 * CKA_UNWRAP_TEMPLATE of the wrapping key M2M_HSM_WRAP_LABEL: whoever
 * unwraps one of its blobs, with any template, gets a sensitive key that
 * never becomes extractable and cannot wrap, unwrap or derive (SoftHSM2
 * 2.6.1 answers CKR_TEMPLATE_INCONSISTENT to a template that does not
 * repeat these values, test_unwrap_template_enforced).
 */
static CK_ATTRIBUTE	 strict_unwrap[] = {
	ATTR_BOOL(CKA_SENSITIVE, 1),
	ATTR_BOOL(CKA_EXTRACTABLE, 0),
	ATTR_BOOL(CKA_WRAP, 0),
	ATTR_BOOL(CKA_UNWRAP, 0),
	ATTR_BOOL(CKA_DERIVE, 0),
};
#define STRICT_UNWRAP_N	(sizeof(strict_unwrap) / sizeof(strict_unwrap[0]))

static void seterr(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static void
seterr(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errbuf == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
}

/* A printable name for rv, for messages. */
static const char *
ckr_str(CK_RV rv, char *buf, size_t len)
{
	const char *n;

	if ((n = m2m_hsm_ckr_name(rv)) != NULL)
		return n;
	(void)snprintf(buf, len, "CK_RV 0x%lx", (unsigned long)rv);
	return buf;
}

static size_t
roundup8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/* The length of the HSM object that holds a key of this kind and length. */
static size_t
value_len(enum m2m_key_kind kind, size_t keylen)
{
	/*
	 * HMAC (RFC 2104) zero-pads a key to the hash's block size, so K and
	 * K || 0^n are the same HMAC key while the result fits in a block.
	 * SoftHSM2 refuses HMAC keys shorter than the hash output
	 * (CKR_KEY_SIZE_RANGE for a 32-byte key with SHA-512); padding short
	 * keys to 64 bytes (the largest output, and SHA-256's block size)
	 * keeps every key usable with every hash and changes no result.
	 */
	if (kind == M2M_KIND_HMAC && keylen < M2M_HSM_HMAC_PAD)
		return M2M_HSM_HMAC_PAD;
	return keylen;
}

/* The 0x36 bytes in front of a key's message form (M2M_HSM_VERSION_MSG). */
static size_t
msg_pad(size_t keylen)
{
	return (8 - keylen % 8) % 8;
}

/*
 * 1 when no HSM object holds an HMAC key of keylen bytes exactly as it
 * is, so that a message form is needed: stored zero padded (value_len),
 * or of a length that RFC 5649 unwrapping may leave padded.
 */
static int
msgform_needed(size_t keylen)
{
	return keylen < M2M_HSM_HMAC_PAD || keylen % 8 != 0;
}

static CK_MECHANISM_TYPE
hmac_mech(enum m2m_hash hash)
{
	switch (hash) {
	case M2M_HASH_SHA256:	return CKM_SHA256_HMAC;
	case M2M_HASH_SHA384:	return CKM_SHA384_HMAC;
	case M2M_HASH_SHA512:	return CKM_SHA512_HMAC;
	default:		return CKM_VENDOR_DEFINED;
	}
}

static CK_MECHANISM_TYPE
digest_mech(enum m2m_hash hash)
{
	switch (hash) {
	case M2M_HASH_SHA256:	return CKM_SHA256;
	case M2M_HASH_SHA384:	return CKM_SHA384;
	case M2M_HASH_SHA512:	return CKM_SHA512;
	default:		return CKM_VENDOR_DEFINED;
	}
}

static const EVP_MD *
hash_md(enum m2m_hash hash)
{
	switch (hash) {
	case M2M_HASH_SHA256:	return EVP_sha256();
	case M2M_HASH_SHA384:	return EVP_sha384();
	default:		return EVP_sha512();
	}
}

static const char *
hash_name(enum m2m_hash hash)
{
	switch (hash) {
	case M2M_HASH_SHA256:	return "SHA256";
	case M2M_HASH_SHA384:	return "SHA384";
	case M2M_HASH_SHA512:	return "SHA512";
	default:		return NULL;
	}
}

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
		seterr(errbuf, errlen, "cannot load HSM module %s: "
		    "C_Initialize: %s", h->module_path,
		    ckr_str(rv, b, sizeof(b)));
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

static void
destroy(struct hsm *h, CK_OBJECT_HANDLE obj)
{
	CK_RV rv;

	if (obj == CK_INVALID_HANDLE || !h->connected)
		return;
	if ((rv = P11(h, C_DestroyObject)(h->session, obj)) != CKR_OK)
		m2m_debug("HSM: C_DestroyObject: 0x%lx", (unsigned long)rv);
}

/* Forget the session (and with it every loaded key). */
static void
disconnect(struct hsm *h)
{
	if (!h->connected)
		return;
	/* closing the session destroys its objects, so no C_DestroyObject */
	m2m_hsm_cache_clear(h->cache);
	(void)P11(h, C_CloseSession)(h->session);
	h->session = CK_INVALID_HANDLE;
	h->wk.n = h->wk.cur = 0;
	h->rk.n = h->rk.cur = 0;
	h->connected = 0;
}

/*
 * The M2M_ERR_* for rv returned by a call on the session.  A session or
 * token that has gone away drops the session and the cache (the next call
 * reconnects) and is M2M_ERR_BACKEND_ABSENT.
 */
static int
ckr(struct hsm *h, CK_RV rv, enum m2m_hsm_op op)
{
	char b[32];

	if (rv == CKR_OK)
		return 0;
	h->last_rv = rv;
	if (m2m_hsm_ckr_lost(rv)) {
		m2m_error("HSM token '%s': session lost (%s); %zu loaded keys "
		    "dropped, reconnecting at the next call", h->label,
		    ckr_str(rv, b, sizeof(b)), m2m_hsm_cache_count(h->cache));
		disconnect(h);
		return M2M_ERR_BACKEND_ABSENT;
	}
	return m2m_err_from_ckr(rv, op);
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
			seterr(errbuf, errlen, "HSM module %s lists %lu slots "
			    "(at most %d are examined)", h->module_path,
			    (unsigned long)n, M2M_HSM_SLOTS_MAX);
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
				    ckr_str(rv, b, sizeof(b)));
				continue;
			}
			if (memcmp(ti.label, want, sizeof(want)) == 0) {
				*ret_slot = slots[i];
				r = 0;
				goto out;
			}
		}
	}
	seterr(errbuf, errlen, "no token labelled '%s' in %s", h->label,
	    h->module_path);
	r = M2M_ERR_BACKEND_ABSENT;
	goto out;
 fail:
	seterr(errbuf, errlen, "HSM module %s: C_GetSlotList: %s",
	    h->module_path, ckr_str(rv, b, sizeof(b)));
	r = m2m_err_from_ckr(rv, M2M_HSM_OP_OTHER);
 out:
	free(slots);
	return r;
}

/* Insert k into t[0..*n) kept in CKA_ID order. */
static void
wrapkey_insert(struct wrapkey *t, size_t *n, const struct wrapkey *k)
{
	size_t i = *n;

	while (i > 0 && memcmp(t[i - 1].id, k->id, sizeof(k->id)) > 0) {
		t[i] = t[i - 1];
		i--;
	}
	t[i] = *k;
	(*n)++;
}

/*
 * 1 when the wrapping key's CKA_UNWRAP_TEMPLATE holds every attribute of
 * strict_unwrap[] with its value.  Read as SoftHSM2 2.6.1 answers it: a
 * size query gives 0, a first call with empty entries fills in their
 * types and lengths, a second one their values.
 */
static int
wrapkey_forces(struct hsm *h, CK_OBJECT_HANDLE key)
{
	CK_ATTRIBUTE t[2 * STRICT_UNWRAP_N], a;
	CK_BBOOL v[2 * STRICT_UNWRAP_N];
	size_t i, j, n, ok = 0;

	memset(t, 0, sizeof(t));
	memset(v, 0xff, sizeof(v));
	a.type = CKA_UNWRAP_TEMPLATE;
	a.pValue = t;
	a.ulValueLen = sizeof(t);
	if (P11(h, C_GetAttributeValue)(h->session, key, &a, 1) != CKR_OK ||
	    a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
		return 0;
	n = a.ulValueLen / sizeof(t[0]);
	if (n > sizeof(t) / sizeof(t[0]))
		n = sizeof(t) / sizeof(t[0]);
	for (i = 0; i < n; i++) {
		if (t[i].ulValueLen == sizeof(CK_BBOOL))
			t[i].pValue = &v[i];
	}
	a.ulValueLen = n * sizeof(t[0]);
	if (n == 0 ||
	    P11(h, C_GetAttributeValue)(h->session, key, &a, 1) != CKR_OK)
		return 0;
	for (j = 0; j < STRICT_UNWRAP_N; j++) {
		for (i = 0; i < n; i++) {
			if (t[i].type == strict_unwrap[j].type &&
			    t[i].pValue == &v[i] &&
			    v[i] == *(CK_BBOOL *)strict_unwrap[j].pValue) {
				ok++;
				break;
			}
		}
	}
	return ok == STRICT_UNWRAP_N;
}

/*
 * Find the token's wrapping keys under one label (readable: the readable
 * one) into t[0..*ret_n), smallest CKA_ID first.  A key under our label
 * that could leak (extractable, not sensitive), is not an AES-256
 * wrap/unwrap key or has no 16-byte CKA_ID is never used, and said so in
 * the log: nothing is wrapped with it and no blob naming it opens.  (A
 * key another thread is creating can look like that for a moment; it is
 * picked up by the next load.)  The same for an M2M_HSM_WRAP_LABEL key
 * whose unwrap template does not force strict_unwrap[]: one made by a
 * module before that template existed, whose blobs anyone logged in to
 * the token could unwrap into readable keys (said once per backend).
 */
static int
wrapkey_find(struct hsm *h, int readable, struct wrapkey *t, size_t *ret_n)
{
	const char *label = readable ? M2M_HSM_WRAP_LABEL_READABLE :
	    M2M_HSM_WRAP_LABEL;
	CK_ATTRIBUTE tmpl[] = {
		ATTR(CKA_CLASS, &ck_secret, sizeof(ck_secret)),
		ATTR(CKA_KEY_TYPE, &ck_aes, sizeof(ck_aes)),
		ATTR_BOOL(CKA_TOKEN, 1),
		ATTR(CKA_LABEL, label, strlen(label)),
	};
	CK_OBJECT_HANDLE found[M2M_HSM_WRAPKEYS_MAX];
	struct wrapkey k;
	CK_BBOOL ext, sens, wrap, unwrap;
	CK_ULONG n = 0, i, len;
	CK_ATTRIBUTE a[] = {
		ATTR(CKA_EXTRACTABLE, &ext, sizeof(ext)),
		ATTR(CKA_SENSITIVE, &sens, sizeof(sens)),
		ATTR(CKA_WRAP, &wrap, sizeof(wrap)),
		ATTR(CKA_UNWRAP, &unwrap, sizeof(unwrap)),
		ATTR(CKA_VALUE_LEN, &len, sizeof(len)),
		ATTR(CKA_ID, k.id, sizeof(k.id)),
	};
	size_t nt = 0;
	CK_RV rv;
	int r;

	if ((r = ckr(h, P11(h, C_FindObjectsInit)(h->session, tmpl,
	    sizeof(tmpl) / sizeof(tmpl[0])), M2M_HSM_OP_OTHER)) != 0)
		return r;
	r = ckr(h, P11(h, C_FindObjects)(h->session, found,
	    M2M_HSM_WRAPKEYS_MAX, &n), M2M_HSM_OP_OTHER);
	if (h->connected)
		(void)P11(h, C_FindObjectsFinal)(h->session);
	if (r != 0)
		return r;
	for (i = 0; i < n; i++) {
		ext = sens = wrap = unwrap = CK_FALSE;
		len = 0;
		a[5].ulValueLen = sizeof(k.id);
		rv = P11(h, C_GetAttributeValue)(h->session, found[i], a,
		    sizeof(a) / sizeof(a[0]));
		/* a racing process destroyed its own key meanwhile */
		if (rv == CKR_OBJECT_HANDLE_INVALID)
			continue;
		if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL &&
		    rv != CKR_ATTRIBUTE_SENSITIVE &&
		    rv != CKR_ATTRIBUTE_TYPE_INVALID)
			return ckr(h, rv, M2M_HSM_OP_OTHER);
		if (rv != CKR_OK || ext != CK_FALSE || sens != CK_TRUE ||
		    wrap != CK_TRUE || unwrap != CK_TRUE || len != 32 ||
		    a[5].ulValueLen != sizeof(k.id)) {
			m2m_error("HSM token '%s': ignoring a key labelled "
			    "'%s' that is not a sensitive, non-extractable "
			    "AES-256 wrapping key with a %d-byte CKA_ID",
			    h->label, label, M2M_HSM_WRAP_ID_LEN);
			continue;
		}
		if (!readable && !wrapkey_forces(h, found[i])) {
			if (!h->legacy_logged)
				m2m_error("HSM token '%s': ignoring the "
				    "wrapping key '%s' made without "
				    "CKA_UNWRAP_TEMPLATE (an older m2mtoken): "
				    "anyone logged in to this token can "
				    "unwrap its blobs into readable keys.  "
				    "Keys wrapped by it do not open; "
				    "provision them again, then destroy it "
				    "(docs/operations.md)", h->label, label);
			h->legacy_logged = 1;
			continue;
		}
		k.handle = found[i];
		wrapkey_insert(t, &nt, &k);
	}
	*ret_n = nt;
	return 0;
}

/* Replace ks with t[0..nt); ks->cur keeps naming the same key, else 0. */
static void
wrapkey_adopt(struct wrapkeys *ks, const struct wrapkey *t, size_t nt)
{
	uint8_t curid[M2M_HSM_WRAP_ID_LEN];
	size_t j;

	if (ks->n > 0)
		memcpy(curid, ks->k[ks->cur].id, sizeof(curid));
	for (j = 0; j < nt && ks->n > 0; j++) {
		if (memcmp(t[j].id, curid, sizeof(curid)) == 0)
			break;
	}
	memcpy(ks->k, t, nt * sizeof(t[0]));
	ks->cur = ks->n > 0 && j < nt ? j : 0;
	ks->n = nt;
}

/* Read every wrapping key of the token (both labels) into h->wk, h->rk. */
static int
wrapkey_load(struct hsm *h)
{
	struct wrapkey t[M2M_HSM_WRAPKEYS_MAX];
	size_t nt = 0;
	int r;

	if ((r = wrapkey_find(h, 0, t, &nt)) != 0)
		return r;
	wrapkey_adopt(&h->wk, t, nt);
	if ((r = wrapkey_find(h, 1, t, &nt)) != 0)
		return r;
	wrapkey_adopt(&h->rk, t, nt);
	return 0;
}

/*
 * A new wrapping key (readable: M2M_HSM_WRAP_LABEL_READABLE, without an
 * unwrap template; else M2M_HSM_WRAP_LABEL with strict_unwrap[]),
 * generated inside the HSM.  Its CKA_ID is the creation time (big-endian
 * nanoseconds) followed by 8 random bytes, so that "smallest CKA_ID wins"
 * mostly means "first created wins" when two processes race on a fresh
 * token.
 */
static int
wrapkey_generate(struct hsm *h, int readable, CK_OBJECT_HANDLE *ret_key)
{
	const char *label = readable ? M2M_HSM_WRAP_LABEL_READABLE :
	    M2M_HSM_WRAP_LABEL;
	CK_MECHANISM mech = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_ULONG keylen = 32;
	uint8_t id[M2M_HSM_WRAP_ID_LEN];
	CK_ATTRIBUTE tmpl[] = {
		ATTR(CKA_CLASS, &ck_secret, sizeof(ck_secret)),
		ATTR(CKA_KEY_TYPE, &ck_aes, sizeof(ck_aes)),
		ATTR(CKA_VALUE_LEN, &keylen, sizeof(keylen)),
		ATTR(CKA_LABEL, label, strlen(label)),
		ATTR(CKA_ID, id, sizeof(id)),
		ATTR_BOOL(CKA_TOKEN, 1),
		ATTR_BOOL(CKA_PRIVATE, 1),
		ATTR_BOOL(CKA_SENSITIVE, 1),
		ATTR_BOOL(CKA_EXTRACTABLE, 0),
		ATTR_BOOL(CKA_WRAP, 1),
		ATTR_BOOL(CKA_UNWRAP, 1),
		ATTR_BOOL(CKA_ENCRYPT, 0),
		ATTR_BOOL(CKA_DECRYPT, 0),
		ATTR_BOOL(CKA_SIGN, 0),
		ATTR_BOOL(CKA_VERIFY, 0),
		ATTR_BOOL(CKA_DERIVE, 0),
		ATTR(CKA_UNWRAP_TEMPLATE, strict_unwrap,
		    sizeof(strict_unwrap)),	/* last: not for readable */
	};
	CK_ULONG ntmpl = sizeof(tmpl) / sizeof(tmpl[0]) - (readable ? 1 : 0);
	struct timespec ts;
	uint64_t ns;
	int i, r;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		memset(&ts, 0, sizeof(ts));
	ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	for (i = 0; i < 8; i++)
		id[i] = (uint8_t)(ns >> (56 - 8 * i));
	if ((r = ckr(h, P11(h, C_GenerateRandom)(h->session, id + 8,
	    sizeof(id) - 8), M2M_HSM_OP_RANDOM)) != 0)
		return r;
	return ckr(h, P11(h, C_GenerateKey)(h->session, &mech, tmpl, ntmpl,
	    ret_key), M2M_HSM_OP_OTHER);
}

/*
 * Load the token's wrapping keys, creating one under the label (readable
 * or not) on first use.  New blobs are wrapped with the smallest CKA_ID;
 * every blob names its key, so a blob stays usable even if two processes
 * racing on a fresh token each kept their own key (setup_lock() and the
 * core's serialised open() prevent that; this is the defence if it
 * happens).
 */
static int
wrapkey_setup_once(struct hsm *h, int readable, char *errbuf, size_t errlen)
{
	struct wrapkeys *ks = readable ? &h->rk : &h->wk;
	CK_OBJECT_HANDLE mine = CK_INVALID_HANDLE;
	char b[32];
	size_t i;
	int r = M2M_ERR_INTERNAL;

	if ((r = wrapkey_load(h)) != 0)
		goto fail;
	if (ks->n > 0)
		return 0;
	if ((r = wrapkey_generate(h, readable, &mine)) != 0)
		goto fail;
	/* another process may have created one meanwhile */
	if ((r = wrapkey_load(h)) != 0)
		goto fail;
	if (ks->n == 0) {
		/* seen with SoftHSM2 while another process writes the token */
		seterr(errbuf, errlen, "HSM token '%s': the module does not "
		    "find the wrapping key it has just created", h->label);
		return M2M_ERR_BACKEND;
	}
	ks->cur = 0;
	if (ks->k[0].handle != mine) {
		m2m_info("HSM token '%s': another process created a wrapping "
		    "key first; using it", h->label);
		for (i = 1; i < ks->n; i++) {
			if (ks->k[i].handle != mine)
				continue;
			if (P11(h, C_DestroyObject)(h->session, mine) ==
			    CKR_OK) {
				memmove(&ks->k[i], &ks->k[i + 1],
				    (ks->n - i - 1) * sizeof(ks->k[0]));
				ks->n--;
			}
			break;
		}
	}
	return 0;
 fail:
	seterr(errbuf, errlen, "HSM token '%s': cannot find or create the "
	    "wrapping key '%s': %s (%s)", h->label, readable ?
	    M2M_HSM_WRAP_LABEL_READABLE : M2M_HSM_WRAP_LABEL,
	    m2m_strerror(r), ckr_str(h->last_rv, b, sizeof(b)));
	return r;
}

/*
 * The lock that makes "find the wrapping key, else create it" one step for
 * every m2mtoken of this user: setup_mutex in this process, and flock(2)
 * on $XDG_RUNTIME_DIR/m2mtoken-hsm.lock (else /tmp/m2mtoken-hsm-<uid>.lock)
 * between processes (a file description per call, so threads exclude each
 * other too).  Why: SoftHSM2 2.6.1 re-reads a token object's file when the
 * token changed, and a key that another thread or process is generating
 * or destroying at that moment makes C_GenerateKey, C_GetAttributeValue
 * and even a later C_WrapKey with our own wrapping key fail with
 * CKR_GENERAL_ERROR (test_two_opens_race: one open in ten under load
 * before this lock).  With the lock, the second opener finds the first
 * one's complete key and writes nothing.  Returns the descriptor to give
 * to setup_unlock(), or -1 when no lock file is usable (then only threads
 * are serialised, and the retries and "smallest CKA_ID wins" remain).
 */
static int
setup_lock(struct hsm *h)
{
	const char *dir = secure_getenv("XDG_RUNTIME_DIR");
	char path[PATH_MAX];
	struct stat st;
	int fd, n;

	pthread_mutex_lock(&setup_mutex);
	if (dir != NULL && dir[0] == '/')
		n = snprintf(path, sizeof(path), "%s/m2mtoken-hsm.lock", dir);
	else
		n = snprintf(path, sizeof(path), "/tmp/m2mtoken-hsm-%lu.lock",
		    (unsigned long)geteuid());
	if (n < 0 || (size_t)n >= sizeof(path))
		return -1;
	if ((fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600)) == -1) {
		m2m_debug("HSM token '%s': lock file %s: %s", h->label, path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid()) {
		m2m_debug("HSM token '%s': lock file %s is not ours: not "
		    "used", h->label, path);
		close(fd);
		return -1;
	}
	while (flock(fd, LOCK_EX) == -1) {
		if (errno != EINTR) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

static void
setup_unlock(int fd)
{
	if (fd != -1)
		close(fd);	/* drops the flock */
	pthread_mutex_unlock(&setup_mutex);
}

/*
 * wrapkey_setup_once under setup_lock(), tried again a few times when the
 * module failed (not for a refused PIN or a missing token): another
 * program writing the same token can still make SoftHSM2 answer
 * CKR_GENERAL_ERROR, or not find a key just created.
 */
static int
wrapkey_setup(struct hsm *h, int readable, char *errbuf, size_t errlen)
{
	struct timespec ts;
	int attempt, fd, r;

	for (attempt = 1;; attempt++) {
		fd = setup_lock(h);
		r = wrapkey_setup_once(h, readable, errbuf, errlen);
		setup_unlock(fd);
		if (r != M2M_ERR_BACKEND || attempt == M2M_HSM_WRAPKEY_TRIES)
			return r;
		m2m_debug("HSM token '%s': wrapping key setup failed "
		    "(attempt %d), trying again", h->label, attempt);
		ts.tv_sec = 0;
		ts.tv_nsec = 10000000L * attempt;	/* 10, 20, ... ms */
		(void)nanosleep(&ts, NULL);
	}
}

/*
 * The wrapping key a blob names, and *ret_readable: 1 for the readable
 * one.  A key we do not know may have been made by another process since
 * we loaded ours: search the token once more.
 */
static int
wrapkey_lookup(struct hsm *h, const uint8_t *id, CK_OBJECT_HANDLE *ret,
    int *ret_readable)
{
	struct wrapkeys *ks;
	size_t i;
	int pass, rd, r;

	for (pass = 0; pass < 2; pass++) {
		for (rd = 0; rd < 2; rd++) {
			ks = rd ? &h->rk : &h->wk;
			for (i = 0; i < ks->n; i++) {
				if (memcmp(ks->k[i].id, id,
				    M2M_HSM_WRAP_ID_LEN) != 0)
					continue;
				*ret = ks->k[i].handle;
				*ret_readable = rd;
				return 0;
			}
		}
		if (pass == 0 && (r = wrapkey_load(h)) != 0)
			return r;
	}
	return M2M_ERR_DATA_INVALID;
}

/*
 * RFC 5649 unwrapping must give back the exact length.  SoftHSM2 2.6.1
 * leaves the padding in place (a 20-byte key comes back as 24 bytes).
 * That is harmless for every HMAC key of 64 bytes or less (see
 * value_len()) and for SHA-384/512 (128-byte block >= M2M_KEY_MAX), but an
 * HMAC-SHA-256 key longer than the block is hashed first, so for keys of
 * 65..127 bytes that are not a multiple of 8 the padding would change the
 * result.  Find out once; on a failure assume the worst.
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
		seterr(errbuf, errlen, "HSM token '%s': C_OpenSession: %s",
		    h->label, ckr_str(rv, b, sizeof(b)));
		return m2m_err_from_ckr(rv, M2M_HSM_OP_OTHER);
	}
	/* the PIN never appears in a message */
	rv = P11(h, C_Login)(s, CKU_USER, m2m_secret_data(h->pin),
	    m2m_secret_len(h->pin));
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
		r = m2m_err_from_ckr(rv, M2M_HSM_OP_OTHER);
		if (r == M2M_ERR_BACKEND_AUTH)
			seterr(errbuf, errlen, "HSM token '%s' refused the "
			    "user PIN (%s)", h->label,
			    ckr_str(rv, b, sizeof(b)));
		else
			seterr(errbuf, errlen, "HSM token '%s': C_Login: %s",
			    h->label, ckr_str(rv, b, sizeof(b)));
		(void)P11(h, C_CloseSession)(s);
		return r;
	}
	h->session = s;
	h->connected = 1;
	if ((r = wrapkey_setup(h, 0, errbuf, errlen)) != 0) {
		disconnect(h);
		return r;
	}
	/* under the wrapping key's setup lock: one binding key per token */
	fd = setup_lock(h);
	rv = m2m_hsm_bindkey_setup(h->fl, h->session, &h->commands,
	    &h->bindkey);
	setup_unlock(fd);
	if (rv != CKR_OK) {
		seterr(errbuf, errlen, "HSM token '%s': cannot find or create "
		    "the binding key '%s': %s", h->label, M2M_HSM_BIND_LABEL,
		    ckr_str(rv, b, sizeof(b)));
		r = ckr(h, rv, M2M_HSM_OP_OTHER);
		disconnect(h);
		return r;
	}
	probe_unwrap_padding(h);
	probe_gcm_long_iv(h);
	return 0;
}

/* Reconnect after a lost session; called with the lock held. */
static int
ready(struct hsm *h)
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
/* Blobs and loaded keys                                              */
/* ------------------------------------------------------------------ */

/* see hsm.h */
int
m2m_hsm_blob_parse(const struct m2m_keyref *key, struct blob *ret)
{
	const uint8_t *p;
	size_t keylen, valuelen, wlen, phlen, mlen;

	if (key == NULL || key->blob == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	p = key->blob;
	if (key->bloblen < M2M_HSM_HDR_LEN + M2M_HSM_WRAPPED_MIN ||
	    key->bloblen > M2M_HSM_BLOB_MAX ||
	    memcmp(p, M2M_HSM_MAGIC, 4) != 0 ||
	    (p[4] != M2M_HSM_VERSION && p[4] != M2M_HSM_VERSION_PREHASH &&
	    p[4] != M2M_HSM_VERSION_MSG))
		return M2M_ERR_DATA_INVALID;
	if (p[5] != M2M_KIND_HMAC && p[5] != M2M_KIND_AES)
		return M2M_ERR_DATA_INVALID;
	if (p[5] != key->kind)
		return M2M_ERR_KEY_TYPE;
	keylen = (size_t)p[6] << 8 | p[7];
	if (keylen == 0 || keylen > M2M_KEY_MAX ||
	    (p[5] == M2M_KIND_AES && keylen != 16 && keylen != 24 &&
	    keylen != 32))
		return M2M_ERR_DATA_INVALID;
	/*
	 * The pre-hashed form: only HMAC keys longer than a block have one
	 * (wrap() gives it to all of them; version-1 blobs of such keys,
	 * written before it existed, work without).
	 */
	phlen = p[4] == M2M_HSM_VERSION_PREHASH ||
	    (p[4] == M2M_HSM_VERSION_MSG && keylen > M2M_HSM_HMAC_PAD) ?
	    M2M_HSM_PREHASH_WRAPPED_LEN : 0;
	if (phlen != 0 && (p[5] != M2M_KIND_HMAC ||
	    keylen <= M2M_HSM_HMAC_PAD))
		return M2M_ERR_DATA_INVALID;
	/* the message form: only keys no HSM object holds as they are */
	mlen = 0;
	if (p[4] == M2M_HSM_VERSION_MSG) {
		if (p[5] != M2M_KIND_HMAC || !msgform_needed(keylen))
			return M2M_ERR_DATA_INVALID;
		mlen = keylen + msg_pad(keylen) + 8;
	}
	valuelen = value_len(p[5], keylen);
	/* RFC 5649 output is exactly the padded value plus 8 bytes */
	wlen = roundup8(valuelen) + 8;
	if (key->bloblen - M2M_HSM_HDR_LEN != wlen + phlen + mlen)
		return M2M_ERR_DATA_INVALID;
	ret->kind = p[5];
	ret->keylen = keylen;
	ret->valuelen = valuelen;
	ret->wrapkey_id = p + 8;
	ret->wrapped = p + M2M_HSM_HDR_LEN;
	ret->wrappedlen = wlen;
	ret->prehash = phlen != 0 ? ret->wrapped + wlen : NULL;
	ret->msgform = mlen != 0 ? ret->wrapped + wlen + phlen : NULL;
	return 0;
}

/*
 * The pre-hashed form of b (see M2M_HSM_VERSION_PREHASH) as a blob of its
 * own: an HMAC key of 32 bytes stored as 64, same wrapping key.
 */
static void
blob_prehash(const struct blob *b, struct blob *ret)
{
	ret->kind = M2M_KIND_HMAC;
	ret->keylen = 32;
	ret->valuelen = M2M_HSM_HMAC_PAD;
	ret->wrapkey_id = b->wrapkey_id;
	ret->wrapped = b->prehash;
	ret->wrappedlen = M2M_HSM_PREHASH_WRAPPED_LEN;
	ret->prehash = NULL;
	ret->msgform = NULL;
}

/*
 * The message form of b (see M2M_HSM_VERSION_MSG) as a blob of its own:
 * a generic secret of keylen + msg_pad(keylen) bytes, same wrapping key.
 */
static void
blob_msgform(const struct blob *b, struct blob *ret)
{
	ret->kind = M2M_KIND_HMAC;
	ret->keylen = b->keylen + msg_pad(b->keylen);
	ret->valuelen = ret->keylen;
	ret->wrapkey_id = b->wrapkey_id;
	ret->wrapped = b->msgform;
	ret->wrappedlen = ret->keylen + 8;
	ret->prehash = NULL;
	ret->msgform = NULL;
}

/*
 * Unwrap b into a new session object: for operations (sensitive, not
 * extractable, usable for HMAC or AES-GCM by kind) or, with readable,
 * a non-sensitive extractable object whose value can be read (level T).
 *
 * Operation objects are public (CKA_PRIVATE FALSE).  PKCS#11 login is per
 * application and this backend's session stays logged in for as long as
 * its session objects exist (they die with it), so CKA_PRIVATE would hide
 * them from no session; their value cannot be read either way.  What it
 * would cost: SoftHSM2 keeps private objects encrypted in its memory,
 * under a key it keeps (masked) in the same memory, and decrypts the key
 * at every C_SignInit: 9.8 us against 5.6 us per HMAC-SHA-256, the
 * larger part of a TLS master secret (bench/README.md, bench_tls).  The
 * readable (level-T) objects stay private: they live for one call.  An HSM
 * whose policy refuses public secret keys (CKR_TEMPLATE_INCONSISTENT or
 * CKR_ATTRIBUTE_VALUE_INVALID) gets private ones from then on.
 */
static int
unwrap(struct hsm *h, const struct blob *b, int readable,
    CK_OBJECT_HANDLE *ret_obj)
{
	CK_MECHANISM mech = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	int hmac = b->kind == M2M_KIND_HMAC;
	CK_BBOOL priv = readable || h->private_ops ? CK_TRUE : CK_FALSE;
	CK_ATTRIBUTE tmpl[] = {
		ATTR(CKA_CLASS, &ck_secret, sizeof(ck_secret)),
		ATTR(CKA_KEY_TYPE, hmac ? &ck_generic : &ck_aes,
		    sizeof(CK_KEY_TYPE)),
		ATTR_BOOL(CKA_TOKEN, 0),
		ATTR(CKA_PRIVATE, &priv, sizeof(priv)),
		ATTR_BOOL(CKA_SENSITIVE, !readable),
		ATTR_BOOL(CKA_EXTRACTABLE, readable),
		ATTR_BOOL(CKA_SIGN, !readable && hmac),
		ATTR_BOOL(CKA_VERIFY, !readable && hmac),
		ATTR_BOOL(CKA_ENCRYPT, !readable && !hmac),
		ATTR_BOOL(CKA_DECRYPT, !readable && !hmac),
		/* not left to the HSM's defaults (SoftHSM2: TRUE) */
		ATTR_BOOL(CKA_WRAP, 0),
		ATTR_BOOL(CKA_UNWRAP, 0),
		ATTR_BOOL(CKA_DERIVE, 0),
	};
	CK_OBJECT_HANDLE wk = CK_INVALID_HANDLE;
	CK_RV rv;
	int rd, r;

	if ((r = wrapkey_lookup(h, b->wrapkey_id, &wk, &rd)) != 0)
		return r;
	rv = P11(h, C_UnwrapKey)(h->session, &mech, wk,
	    (CK_BYTE_PTR)b->wrapped, b->wrappedlen, tmpl,
	    sizeof(tmpl) / sizeof(tmpl[0]), ret_obj);
	if ((rv == CKR_TEMPLATE_INCONSISTENT ||
	    rv == CKR_ATTRIBUTE_VALUE_INVALID) && !readable &&
	    !h->private_ops) {
		m2m_info("HSM token '%s' refuses public session keys: the "
		    "working copies of keys will be private", h->label);
		h->private_ops = 1;
		priv = CK_TRUE;
		rv = P11(h, C_UnwrapKey)(h->session, &mech, wk,
		    (CK_BYTE_PTR)b->wrapped, b->wrappedlen, tmpl,
		    sizeof(tmpl) / sizeof(tmpl[0]), ret_obj);
	}
	if ((r = ckr(h, rv, M2M_HSM_OP_UNWRAP)) != 0)
		return r;
	h->loads++;
	return 0;
}

/*
 * The operation object for key: from the cache when the blob is the one
 * it was loaded from (no allocation, no extra call), else unwrapped and
 * cached.  *ret_temp: the caller destroys the object after use (id 0, or
 * the cache could not take it).
 */
static int
key_get(struct hsm *h, const struct m2m_keyref *key, const struct blob *b,
    CK_OBJECT_HANDLE *ret_obj, int *ret_temp)
{
	CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE, old = CK_INVALID_HANDLE;
	int r;

	if (m2m_hsm_cache_get(h->cache, key->id, key->blob, key->bloblen,
	    &obj) == 0) {
		*ret_obj = obj;
		*ret_temp = 0;
		return 0;
	}
	if ((r = unwrap(h, b, 0, &obj)) != 0)
		return r;
	if (key->id == 0 || m2m_hsm_cache_put(h->cache, key->id, key->blob,
	    key->bloblen, obj, &old) != 0) {
		*ret_obj = obj;
		*ret_temp = 1;
		return 0;
	}
	destroy(h, old);	/* evicted, or the same id's previous blob */
	*ret_obj = obj;
	*ret_temp = 0;
	return 0;
}

/*
 * The caller's key bytes of b, read from a readable session object that
 * is destroyed again at once (level T).  *ret is a new secret.  Only for
 * blobs of the readable wrapping key (wrap_readable()), else
 * M2M_ERR_ATTRIBUTE_SENSITIVE.
 */
static int
key_read(struct hsm *h, const struct blob *b, struct m2m_secret **ret)
{
	CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE, wk;
	struct m2m_secret *s = NULL;
	CK_ATTRIBUTE a;
	const uint8_t *v;
	uint8_t acc = 0;
	size_t i;
	int rd, r = M2M_ERR_INTERNAL;

	/* the strict wrapping key's blobs unwrap into sensitive keys only */
	if ((r = wrapkey_lookup(h, b->wrapkey_id, &wk, &rd)) != 0)
		goto out;
	if (!rd) {
		r = M2M_ERR_ATTRIBUTE_SENSITIVE;
		goto out;
	}
	if ((r = unwrap(h, b, 1, &obj)) != 0)
		goto out;
	if ((r = m2m_secret_new(M2M_HSM_WRAPPED_MAX, &s)) != 0)
		goto out;
	a.type = CKA_VALUE;
	a.pValue = m2m_secret_data(s);
	a.ulValueLen = M2M_HSM_WRAPPED_MAX;
	if ((r = ckr(h, P11(h, C_GetAttributeValue)(h->session, obj, &a, 1),
	    M2M_HSM_OP_OTHER)) != 0)
		goto out;
	/* exact, or as a module that leaves RFC 5649 padding returns it */
	if (a.ulValueLen != (h->unwrap_pads ? roundup8(b->valuelen) :
	    b->valuelen) || a.ulValueLen < b->keylen) {
		r = M2M_ERR_DATA_INVALID;
		goto out;
	}
	/* our padding (and a module's RFC 5649 padding) must be zeros */
	v = m2m_secret_data(s);
	for (i = b->keylen; i < a.ulValueLen; i++)
		acc |= v[i];
	if (acc != 0) {
		r = M2M_ERR_DATA_INVALID;
		goto out;
	}
	m2m_secret_truncate(s, b->keylen);
	*ret = s;
	s = NULL;	/* transferred */
	r = 0;
 out:
	destroy(h, obj);
	m2m_secret_free(s);
	return r;
}

/* HMAC-hash(key, msg) in host memory with OpenSSL; out: the hash length. */
static int
host_hmac(struct hsm *h, const uint8_t *key, size_t keylen,
    enum m2m_hash hash, const uint8_t *msg, size_t msglen, uint8_t *out)
{
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	size_t outl = 0, want = m2m_hash_len(hash);
	int r = M2M_ERR_INTERNAL;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)hash_name(hash), 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((ctx = EVP_MAC_CTX_new(h->mac)) == NULL) {
		r = M2M_ERR_NO_MEMORY;
		goto out;
	}
	/* a NULL key would mean "keep the previous key" to OpenSSL */
	if (EVP_MAC_init(ctx, keylen == 0 ? empty : key, keylen, params) != 1 ||
	    EVP_MAC_update(ctx, msglen == 0 ? empty : msg, msglen) != 1 ||
	    EVP_MAC_final(ctx, out, &outl, want) != 1 || outl != want) {
		r = M2M_ERR_INTERNAL;
		goto out;
	}
	r = 0;
 out:
	EVP_MAC_CTX_free(ctx);	/* wipes its key schedule */
	return r;
}

/* ------------------------------------------------------------------ */
/* Operations                                                         */
/* ------------------------------------------------------------------ */

static void
hsm_free(struct hsm *h)
{
	if (h == NULL)
		return;
	if (h->fl != NULL)
		disconnect(h);
	m2m_hsm_cache_free(h->cache);
	module_unref(h);
	if (h->dl != NULL)
		dlclose(h->dl);
	EVP_MAC_free(h->mac);
	m2m_secret_free(h->pin);
	free(h->label);
	free(h->module_path);
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

/* see backend.h */
static int
hsm_open(const struct m2m_conf *conf, void **ret_impl, char *errbuf,
    size_t errlen)
{
	struct hsm *h = NULL;
	CK_C_GetFunctionList getfl;
	CK_FUNCTION_LIST_PTR fl = NULL;
	size_t cap;
	CK_RV rv;
	char b[32];
	int r = M2M_ERR_INTERNAL;

	seterr(errbuf, errlen, "%s", "");
	if (conf == NULL || ret_impl == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if (conf->hsm_module == NULL || conf->hsm_token_label == NULL ||
	    conf->hsm_pin == NULL) {
		seterr(errbuf, errlen, "[hsm] module, token_label and pin are "
		    "required");
		return M2M_ERR_CONFIG;
	}
	if (m2m_secret_len(conf->hsm_pin) > M2M_HSM_PIN_MAX) {
		seterr(errbuf, errlen, "[hsm] pin: longer than %d bytes",
		    M2M_HSM_PIN_MAX);
		return M2M_ERR_CONFIG;
	}
	cap = conf->cache_size == 0 ? M2M_HSM_CACHE_DEFAULT : conf->cache_size;
	if (cap > M2M_HSM_CACHE_MAX) {
		seterr(errbuf, errlen, "[backend] cache_size: more than %d",
		    M2M_HSM_CACHE_MAX);
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
	    (h->label = strdup(conf->hsm_token_label)) == NULL) {
		r = M2M_ERR_NO_MEMORY;
		goto out;
	}
	if ((r = m2m_secret_from(m2m_secret_data(conf->hsm_pin),
	    m2m_secret_len(conf->hsm_pin), &h->pin)) != 0 ||
	    (r = m2m_hsm_cache_new(cap, &h->cache)) != 0)
		goto out;
	if ((h->mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL)) == NULL) {
		seterr(errbuf, errlen, "OpenSSL offers no HMAC");
		r = M2M_ERR_INTERNAL;
		goto out;
	}
	(void)dlerror();
	if ((h->dl = dlopen(h->module_path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		seterr(errbuf, errlen, "cannot load HSM module %s: %s",
		    h->module_path, dlerr());
		r = M2M_ERR_BACKEND_ABSENT;
		goto out;
	}
	(void)dlerror();
	/* POSIX: a dlsym() result may be converted to a function pointer */
	getfl = (CK_C_GetFunctionList)dlsym(h->dl, "C_GetFunctionList");
	if (getfl == NULL) {
		seterr(errbuf, errlen, "cannot load HSM module %s: %s",
		    h->module_path, dlerr());
		r = M2M_ERR_BACKEND_ABSENT;
		goto out;
	}
	h->commands++;
	if ((rv = getfl(&fl)) != CKR_OK || fl == NULL) {
		seterr(errbuf, errlen, "cannot load HSM module %s: "
		    "C_GetFunctionList: %s", h->module_path,
		    ckr_str(rv, b, sizeof(b)));
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

/* see backend.h */
static void
hsm_close(void *impl)
{
	hsm_free(impl);
}

/*
 * Wrap value[0..vlen) as an HSM object of kind: create a session object,
 * C_WrapKey it under wk into out (exactly roundup8(vlen) + 8 bytes,
 * *ret_len), destroy it.  Under h->lock.
 */
static int
wrap_value(struct hsm *h, const struct wrapkey *wk, enum m2m_key_kind kind,
    uint8_t *value, size_t vlen, uint8_t *out, size_t *ret_len)
{
	CK_MECHANISM mech = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
	CK_ULONG wlen = M2M_HSM_WRAPPED_MAX;
	CK_ATTRIBUTE tmpl[] = {
		ATTR(CKA_CLASS, &ck_secret, sizeof(ck_secret)),
		ATTR(CKA_KEY_TYPE, kind == M2M_KIND_AES ? &ck_aes : &ck_generic,
		    sizeof(CK_KEY_TYPE)),
		ATTR(CKA_VALUE, value, vlen),
		ATTR_BOOL(CKA_TOKEN, 0),
		ATTR_BOOL(CKA_PRIVATE, 1),
		ATTR_BOOL(CKA_SENSITIVE, 1),
		/*
		 * Extractable so that C_WrapKey may take it; no
		 * CKA_WRAP_WITH_TRUSTED (SoftHSM2 defaults it to FALSE, and
		 * TRUE would need a CKA_TRUSTED wrapping key, set by the SO).
		 */
		ATTR_BOOL(CKA_EXTRACTABLE, 1),
		/* only to be wrapped, during this call: no use of its own */
		ATTR_BOOL(CKA_SIGN, 0),
		ATTR_BOOL(CKA_VERIFY, 0),
		ATTR_BOOL(CKA_ENCRYPT, 0),
		ATTR_BOOL(CKA_DECRYPT, 0),
		ATTR_BOOL(CKA_WRAP, 0),
		ATTR_BOOL(CKA_UNWRAP, 0),
		ATTR_BOOL(CKA_DERIVE, 0),
	};
	int r = M2M_ERR_INTERNAL;

	if ((r = ckr(h, P11(h, C_CreateObject)(h->session, tmpl,
	    sizeof(tmpl) / sizeof(tmpl[0]), &obj), M2M_HSM_OP_OTHER)) != 0)
		goto out;
	if ((r = ckr(h, P11(h, C_WrapKey)(h->session, &mech,
	    wk->handle, obj, out, &wlen),
	    M2M_HSM_OP_OTHER)) != 0)
		goto out;
	if (wlen != roundup8(vlen) + 8) {
		m2m_error("HSM token '%s': C_WrapKey(CKM_AES_KEY_WRAP_PAD) "
		    "gave %lu bytes for a %zu-byte key", h->label,
		    (unsigned long)wlen, vlen);
		r = M2M_ERR_BACKEND;
		goto out;
	}
	*ret_len = wlen;
	r = 0;
 out:
	destroy(h, obj);
	return r;
}

/*
 * wrap() and wrap_readable(): readable blobs go under the readable
 * wrapping key (made at its first use), all others under the strict one
 * with, for HMAC keys, their message form (M2M_HSM_VERSION_MSG).
 */
static int
wrap_common(struct hsm *h, int readable, enum m2m_key_kind kind,
    const uint8_t *key, size_t len, uint8_t **ret_blob, size_t *ret_bloblen)
{
	const struct wrapkey *wk;
	struct wrapkeys *ks;
	uint8_t value[M2M_KEY_MAX], wrapped[M2M_HSM_WRAPPED_MAX];
	uint8_t ph[M2M_HSM_HMAC_PAD], phw[M2M_HSM_PREHASH_WRAPPED_LEN];
	uint8_t mf[M2M_KEY_MAX + 8], mfw[M2M_HSM_WRAPPED_MAX];
	uint8_t *blob = NULL;
	size_t vlen, wlen = 0, phwlen = 0, mflen = 0, mfwlen = 0;
	char why[256];
	int locked = 0, prehash, r = M2M_ERR_INTERNAL;

	if (h == NULL || key == NULL || ret_blob == NULL ||
	    ret_bloblen == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	switch (kind) {
	case M2M_KIND_HMAC:
		if (len == 0 || len > M2M_KEY_MAX)
			return M2M_ERR_KEY_SIZE;
		break;
	case M2M_KIND_AES:
		if (len != 16 && len != 24 && len != 32)
			return M2M_ERR_KEY_SIZE;
		break;
	default:
		return M2M_ERR_KEY_TYPE;
	}
	vlen = value_len(kind, len);
	memset(value, 0, sizeof(value));
	memcpy(value, key, len);
	/* see M2M_HSM_VERSION_MSG in hsm.h */
	if (!readable && kind == M2M_KIND_HMAC && msgform_needed(len)) {
		mflen = msg_pad(len);
		memset(mf, 0x36, mflen);
		memcpy(mf + mflen, key, len);
		mflen += len;
	}
	/* see M2M_HSM_VERSION_PREHASH in hsm.h */
	memset(ph, 0, sizeof(ph));
	prehash = kind == M2M_KIND_HMAC && len > M2M_HSM_HMAC_PAD;
	if (prehash && EVP_Digest(key, len, ph, NULL, EVP_sha256(),
	    NULL) != 1) {
		m2m_error("HSM token '%s': SHA-256 failed", h->label);
		r = M2M_ERR_INTERNAL;
		goto out;
	}

	pthread_mutex_lock(&h->lock);
	locked = 1;
	if ((r = ready(h)) != 0)
		goto out;
	ks = readable ? &h->rk : &h->wk;
	if (readable && ks->n == 0 &&
	    (r = wrapkey_setup(h, 1, why, sizeof(why))) != 0) {
		m2m_error("%s", why);
		goto out;
	}
	if (ks->n == 0) {
		/* every wrapping key vanished since we loaded them */
		m2m_error("HSM token '%s': no wrapping key left", h->label);
		disconnect(h);
		r = M2M_ERR_BACKEND_ABSENT;
		goto out;
	}
	wk = &ks->k[ks->cur];
	if ((r = wrap_value(h, wk, kind, value, vlen, wrapped, &wlen)) != 0)
		goto out;
	if (prehash && ((r = wrap_value(h, wk, M2M_KIND_HMAC, ph, sizeof(ph),
	    phw, &phwlen)) != 0))
		goto out;
	if (mflen != 0 && ((r = wrap_value(h, wk, M2M_KIND_HMAC, mf, mflen,
	    mfw, &mfwlen)) != 0))
		goto out;
	if ((blob = malloc(M2M_HSM_HDR_LEN + wlen + phwlen + mfwlen)) ==
	    NULL) {
		r = M2M_ERR_NO_MEMORY;
		goto out;
	}
	memcpy(blob, M2M_HSM_MAGIC, 4);
	blob[4] = mflen != 0 ? M2M_HSM_VERSION_MSG : prehash ?
	    M2M_HSM_VERSION_PREHASH : M2M_HSM_VERSION;
	blob[5] = (uint8_t)kind;
	blob[6] = (uint8_t)(len >> 8);
	blob[7] = (uint8_t)len;
	memcpy(blob + 8, wk->id, M2M_HSM_WRAP_ID_LEN);
	memcpy(blob + M2M_HSM_HDR_LEN, wrapped, wlen);
	memcpy(blob + M2M_HSM_HDR_LEN + wlen, phw, phwlen);
	memcpy(blob + M2M_HSM_HDR_LEN + wlen + phwlen, mfw, mfwlen);
	*ret_blob = blob;
	*ret_bloblen = M2M_HSM_HDR_LEN + wlen + phwlen + mfwlen;
	blob = NULL;	/* transferred */
	r = 0;
 out:
	if (locked)
		pthread_mutex_unlock(&h->lock);
	free(blob);
	m2m_wipe(value, sizeof(value));
	m2m_wipe(ph, sizeof(ph));
	m2m_wipe(mf, sizeof(mf));
	return r;
}

/* see backend.h */
static int
hsm_wrap(void *impl, enum m2m_key_kind kind, const uint8_t *key, size_t len,
    uint8_t **ret_blob, size_t *ret_bloblen)
{
	return wrap_common(impl, 0, kind, key, len, ret_blob, ret_bloblen);
}

/* see backend.h */
static int
hsm_wrap_readable(void *impl, enum m2m_key_kind kind, const uint8_t *key,
    size_t len, uint8_t **ret_blob, size_t *ret_bloblen)
{
	return wrap_common(impl, 1, kind, key, len, ret_blob, ret_bloblen);
}

/* see backend.h */
static int
hsm_hmac(void *impl, const struct m2m_keyref *key, enum m2m_hash hash,
    const uint8_t *msg, size_t msglen, uint8_t *out)
{
	struct hsm *h = impl;
	struct m2m_secret *value = NULL;
	CK_MECHANISM mech = { hmac_mech(hash), NULL, 0 };
	CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
	struct m2m_keyref ph;
	struct blob b, pb;
	uint8_t mac[M2M_HASH_MAX_LEN];
	CK_ULONG maclen = sizeof(mac);
	size_t outlen = m2m_hash_len(hash);
	int temp = 0, r = M2M_ERR_INTERNAL;

	if (h == NULL || key == NULL || out == NULL ||
	    (msg == NULL && msglen != 0))
		return M2M_ERR_INVALID_ARGUMENT;
	if (outlen == 0)
		return M2M_ERR_MECHANISM;
	if (key->kind != M2M_KIND_HMAC)
		return M2M_ERR_KEY_TYPE;
	if ((r = m2m_hsm_blob_parse(key, &b)) != 0)
		return r;
	if (msglen == 0)
		msg = empty;

	if (hash == M2M_HASH_SHA256 && b.prehash != NULL) {
		/* HMAC-SHA-256 with a key over 64 bytes: the hashed form */
		ph = *key;
		ph.id = key->id != 0 ? key->id | M2M_HSM_ID_PREHASH : 0;
		key = &ph;
		blob_prehash(&b, &pb);
		b = pb;
	}

	pthread_mutex_lock(&h->lock);
	if ((r = ready(h)) != 0)
		goto out;
	if (hash == M2M_HASH_SHA256 && h->unwrap_pads &&
	    b.keylen > M2M_HSM_HMAC_PAD && b.keylen % 8 != 0) {
		/* see probe_unwrap_padding(): level T on such a module */
		if ((r = key_read(h, &b, &value)) != 0 ||
		    (r = host_hmac(h, m2m_secret_data(value),
		    m2m_secret_len(value), hash, msg, msglen, mac)) != 0)
			goto out;
		maclen = outlen;
	} else {
		if ((r = key_get(h, key, &b, &obj, &temp)) != 0)
			goto out;
		if ((r = ckr(h, P11(h, C_SignInit)(h->session, &mech, obj),
		    M2M_HSM_OP_OTHER)) != 0)
			goto out;
		/* a buffer for any hash, so the operation always completes */
		if ((r = ckr(h, P11(h, C_Sign)(h->session, (CK_BYTE_PTR)msg,
		    msglen, mac, &maclen), M2M_HSM_OP_OTHER)) != 0)
			goto out;
	}
	if (M2M_NEVER(maclen != outlen)) {
		r = M2M_ERR_BACKEND;
		goto out;
	}
	memcpy(out, mac, outlen);
	r = 0;
 out:
	if (temp)
		destroy(h, obj);
	pthread_mutex_unlock(&h->lock);
	m2m_secret_free(value);
	m2m_wipe(mac, sizeof(mac));
	return r;
}

/*
 * HMAC-hash(hmac_key, the key of b) with the key hashed inside the HSM
 * (level H): HMAC(K, M) = H((K0 ^ opad) || H((K0 ^ ipad) || M)), K0 the
 * HMAC key zero padded to the block.  The inner hash runs in the HSM over
 * the first block - p bytes of K0 ^ ipad (C_DigestUpdate) and the object
 * that holds 0x36^p || M (C_DigestKey: b's message form, or the key's own
 * object when it holds M exactly); the outer hash runs in host memory
 * over public K0 ^ opad and the inner hash.  Under h->lock.
 */
static int
digest_hmac(struct hsm *h, const struct blob *b, const uint8_t *hmac_key,
    size_t hmac_keylen, enum m2m_hash hash, uint8_t *out)
{
	CK_MECHANISM mech = { digest_mech(hash), NULL, 0 };
	CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
	const EVP_MD *md = hash_md(hash);
	uint8_t k0[128], pad[128], inner[M2M_HASH_MAX_LEN];
	size_t bs = hash == M2M_HASH_SHA256 ? 64 : 128;
	size_t hl = m2m_hash_len(hash), k0len, p, i;
	CK_ULONG il = sizeof(inner);
	EVP_MD_CTX *ctx = NULL;
	struct blob f;
	int r = M2M_ERR_INTERNAL;

	memset(k0, 0, sizeof(k0));
	memset(pad, 0, sizeof(pad));
	memset(inner, 0, sizeof(inner));
	if (b->msgform != NULL) {
		blob_msgform(b, &f);
		p = msg_pad(b->keylen);
	} else if (b->kind == M2M_KIND_AES || !msgform_needed(b->keylen)) {
		f = *b;		/* its object holds the key exactly */
		p = 0;
	} else {
		m2m_error("HSM token '%s': a %zu-byte HMAC key wrapped without "
		    "a message form cannot be an HMAC message", h->label,
		    b->keylen);
		r = M2M_ERR_KEY_SIZE;
		goto out;
	}
	if (hmac_keylen > bs) {
		if (EVP_Digest(hmac_key, hmac_keylen, k0, NULL, md, NULL) !=
		    1)
			goto out;
		k0len = hl;
	} else {
		if (hmac_keylen != 0)
			memcpy(k0, hmac_key, hmac_keylen);
		k0len = hmac_keylen;
	}
	if (k0len > bs - p) {
		/* K0 ^ ipad would not end with p bytes 0x36 */
		m2m_info("HSM token '%s': a %zu-byte HMAC key over a %zu-byte "
		    "key as message is not supported", h->label, hmac_keylen,
		    b->keylen);
		r = M2M_ERR_KEY_SIZE;
		goto out;
	}
	for (i = 0; i < bs; i++)
		pad[i] = k0[i] ^ 0x36;
	if ((r = unwrap(h, &f, 0, &obj)) != 0)
		goto out;
	if ((r = ckr(h, P11(h, C_DigestInit)(h->session, &mech),
	    M2M_HSM_OP_OTHER)) != 0 ||
	    (r = ckr(h, P11(h, C_DigestUpdate)(h->session, pad, bs - p),
	    M2M_HSM_OP_OTHER)) != 0 ||
	    (r = ckr(h, P11(h, C_DigestKey)(h->session, obj),
	    M2M_HSM_OP_OTHER)) != 0 ||
	    (r = ckr(h, P11(h, C_DigestFinal)(h->session, inner, &il),
	    M2M_HSM_OP_OTHER)) != 0)
		goto out;
	if (M2M_NEVER(il != hl)) {
		r = M2M_ERR_BACKEND;
		goto out;
	}
	for (i = 0; i < bs; i++)
		pad[i] = k0[i] ^ 0x5c;
	if ((ctx = EVP_MD_CTX_new()) == NULL) {
		r = M2M_ERR_NO_MEMORY;
		goto out;
	}
	if (EVP_DigestInit_ex(ctx, md, NULL) != 1 ||
	    EVP_DigestUpdate(ctx, pad, bs) != 1 ||
	    EVP_DigestUpdate(ctx, inner, hl) != 1 ||
	    EVP_DigestFinal_ex(ctx, out, NULL) != 1) {
		r = M2M_ERR_INTERNAL;
		goto out;
	}
	r = 0;
 out:
	destroy(h, obj);
	EVP_MD_CTX_free(ctx);
	m2m_wipe(k0, sizeof(k0));
	m2m_wipe(pad, sizeof(pad));
	m2m_wipe(inner, sizeof(inner));
	return r;
}

/*
 * see backend.h
 *
 * Assurance level H for blobs of the strict wrapping key (digest_hmac()).
 * A blob of the readable wrapping key (a key the core may reveal anyway)
 * is level T: unwrapped into a readable session object, read into locked
 * memory, the object destroyed at once, the HMAC computed with OpenSSL
 * and every copy wiped.
 */
static int
hsm_hmac_keymsg(void *impl, const uint8_t *hmac_key, size_t hmac_keylen,
    const struct m2m_keyref *msgkey, enum m2m_hash hash, uint8_t *out)
{
	struct hsm *h = impl;
	struct m2m_secret *value = NULL;
	CK_OBJECT_HANDLE wk;
	struct blob b;
	uint8_t mac[M2M_HASH_MAX_LEN];
	size_t outlen = m2m_hash_len(hash);
	int rd, r = M2M_ERR_INTERNAL;

	if (h == NULL || msgkey == NULL || out == NULL ||
	    (hmac_key == NULL && hmac_keylen != 0))
		return M2M_ERR_INVALID_ARGUMENT;
	if (hmac_keylen > M2M_HSM_HOSTKEY_MAX)
		return M2M_ERR_KEY_SIZE;
	if (outlen == 0)
		return M2M_ERR_MECHANISM;
	if ((r = m2m_hsm_blob_parse(msgkey, &b)) != 0)
		return r;

	pthread_mutex_lock(&h->lock);
	if ((r = ready(h)) != 0 ||
	    (r = wrapkey_lookup(h, b.wrapkey_id, &wk, &rd)) != 0)
		goto out;
	if (!rd) {
		if ((r = digest_hmac(h, &b, hmac_key, hmac_keylen, hash,
		    mac)) != 0)
			goto out;
	} else {
		if ((r = key_read(h, &b, &value)) != 0 ||
		    (r = host_hmac(h, hmac_key, hmac_keylen, hash,
		    m2m_secret_data(value), m2m_secret_len(value), mac)) != 0)
			goto out;
	}
	memcpy(out, mac, outlen);
	r = 0;
 out:
	pthread_mutex_unlock(&h->lock);
	m2m_secret_free(value);
	m2m_wipe(mac, sizeof(mac));
	return r;
}

/* see backend.h */
static int
hsm_aes_gcm(void *impl, const struct m2m_keyref *key, int encrypt,
    const uint8_t *iv, size_t ivlen, const uint8_t *aad, size_t aadlen,
    size_t taglen, const uint8_t *in, size_t inlen, uint8_t *out,
    size_t *ret_outlen)
{
	struct hsm *h = impl;
	struct m2m_secret *heap = NULL;
	CK_GCM_PARAMS gp;
	CK_MECHANISM mech = { CKM_AES_GCM, &gp, sizeof(gp) };
	CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
	struct blob b;
	uint8_t sbuf[GCM_STACK_BUF], *buf;
	size_t outlen, bufcap;
	CK_ULONG n;
	int temp = 0, r = M2M_ERR_INTERNAL;

	if (h == NULL || key == NULL || iv == NULL || ret_outlen == NULL ||
	    (aad == NULL && aadlen != 0) || (in == NULL && inlen != 0))
		return M2M_ERR_INVALID_ARGUMENT;
	if (taglen < 4 || taglen > 16 || ivlen < 1 || ivlen > 256)
		return M2M_ERR_MECHANISM_PARAM;
	if (key->kind != M2M_KIND_AES)
		return M2M_ERR_KEY_TYPE;
	if (inlen > M2M_HSM_AEAD_MAX || aadlen > M2M_HSM_AEAD_MAX)
		return M2M_ERR_DATA_LEN;
	if (!encrypt && inlen < taglen)
		return M2M_ERR_ENCRYPTED_DATA_INVALID;	/* no room for a tag */
	outlen = encrypt ? inlen + taglen : inlen - taglen;
	if (out == NULL && outlen != 0)
		return M2M_ERR_INVALID_ARGUMENT;
	if ((r = m2m_hsm_blob_parse(key, &b)) != 0)
		return r;
	/* SoftHSM2 wants room for inlen bytes even when decrypting */
	bufcap = encrypt ? inlen + taglen : inlen;
	if (bufcap <= sizeof(sbuf))
		buf = sbuf;
	else {
		if ((r = m2m_secret_new(bufcap, &heap)) != 0)
			return r;
		buf = m2m_secret_data(heap);
	}
	memset(&gp, 0, sizeof(gp));
	gp.pIv = (CK_BYTE_PTR)iv;
	gp.ulIvLen = ivlen;
	gp.ulIvBits = ivlen * 8;	/* SoftHSM2 2.6.1 ignores it */
	gp.pAAD = aadlen == 0 ? NULL : (CK_BYTE_PTR)aad;
	gp.ulAADLen = aadlen;
	gp.ulTagBits = taglen * 8;
	if (inlen == 0)
		in = empty;

	pthread_mutex_lock(&h->lock);
	if ((r = ready(h)) != 0)
		goto out;
	if (ivlen > h->gcm_iv_max) {
		m2m_info("HSM token '%s': AES-GCM IVs over %zu bytes are "
		    "refused (the module gets them wrong)", h->label,
		    h->gcm_iv_max);
		r = M2M_ERR_MECHANISM_PARAM;
		goto out;
	}
	if ((r = key_get(h, key, &b, &obj, &temp)) != 0)
		goto out;
	n = bufcap;
	if (encrypt) {
		if ((r = ckr(h, P11(h, C_EncryptInit)(h->session, &mech, obj),
		    M2M_HSM_OP_OTHER)) != 0 ||
		    (r = ckr(h, P11(h, C_Encrypt)(h->session, (CK_BYTE_PTR)in,
		    inlen, buf, &n), M2M_HSM_OP_OTHER)) != 0)
			goto out;
	} else {
		if ((r = ckr(h, P11(h, C_DecryptInit)(h->session, &mech, obj),
		    M2M_HSM_OP_OTHER)) != 0 ||
		    (r = ckr(h, P11(h, C_Decrypt)(h->session, (CK_BYTE_PTR)in,
		    inlen, buf, &n), M2M_HSM_OP_DECRYPT)) != 0)
			goto out;
	}
	if (n != outlen) {
		m2m_error("HSM token '%s': AES-GCM gave %lu bytes, not %zu",
		    h->label, (unsigned long)n, outlen);
		r = M2M_ERR_BACKEND;
		goto out;
	}
	if (outlen != 0)
		memcpy(out, buf, outlen);
	*ret_outlen = outlen;
	r = 0;
 out:
	if (temp)
		destroy(h, obj);
	pthread_mutex_unlock(&h->lock);
	if (buf == sbuf)
		m2m_wipe(sbuf, bufcap);
	m2m_secret_free(heap);
	return r;
}

/* see backend.h */
static int
hsm_reveal(void *impl, const struct m2m_keyref *key, struct m2m_secret **ret)
{
	struct hsm *h = impl;
	struct m2m_secret *value = NULL;
	struct blob b;
	int r = M2M_ERR_INTERNAL;

	if (h == NULL || key == NULL || ret == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if ((r = m2m_hsm_blob_parse(key, &b)) != 0)
		return r;
	pthread_mutex_lock(&h->lock);
	if ((r = ready(h)) != 0 || (r = key_read(h, &b, &value)) != 0)
		goto out;
	*ret = value;
	value = NULL;	/* transferred */
	r = 0;
 out:
	pthread_mutex_unlock(&h->lock);
	m2m_secret_free(value);
	return r;
}

/* see backend.h */
static int
hsm_random(void *impl, uint8_t *out, size_t len)
{
	struct hsm *h = impl;
	int r = M2M_ERR_INTERNAL;

	if (h == NULL || (out == NULL && len != 0))
		return M2M_ERR_INVALID_ARGUMENT;
	if (len == 0)
		return 0;
	pthread_mutex_lock(&h->lock);
	if ((r = ready(h)) != 0)
		goto out;
	r = ckr(h, P11(h, C_GenerateRandom)(h->session, out, len),
	    M2M_HSM_OP_RANDOM);
 out:
	pthread_mutex_unlock(&h->lock);
	return r;
}

/* see backend.h */
static void
hsm_forget(void *impl, uint64_t id)
{
	struct hsm *h = impl;

	if (h == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	destroy(h, m2m_hsm_cache_remove(h->cache, id));
	destroy(h, m2m_hsm_cache_remove(h->cache, id | M2M_HSM_ID_PREHASH));
	pthread_mutex_unlock(&h->lock);
}

/*
 * see backend.h
 *
 * The working copies are public session objects of our session: any code
 * of the process could use them, and SoftHSM2 keeps their values in its
 * memory, until they are destroyed.  A logout of the module (the core's
 * flush) destroys them all; the next use unwraps again.
 */
static void
hsm_flush(void *impl)
{
	struct hsm *h = impl;
	CK_OBJECT_HANDLE obj;

	if (h == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	while ((obj = m2m_hsm_cache_pop(h->cache)) != CK_INVALID_HANDLE)
		destroy(h, obj);
	pthread_mutex_unlock(&h->lock);
}

/* see backend.h */
static void
hsm_stats(void *impl, struct m2m_backend_stats *ret)
{
	struct hsm *h = impl;

	if (h == NULL || ret == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	ret->commands = h->commands;
	ret->loads = h->loads;
	pthread_mutex_unlock(&h->lock);
}

/* see backend.h and bind.c */
static int
hsm_bind_mac(void *impl, const uint8_t *msg, size_t msglen, uint8_t *out)
{
	struct hsm *h = impl;
	CK_RV rv;
	int r, again;

	if (h == NULL || msg == NULL || msglen == 0 ||
	    msglen > M2M_BIND_MSG_MAX || out == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	pthread_mutex_lock(&h->lock);
	for (again = 1;; again = 0) {
		if ((r = ready(h)) != 0)
			break;
		rv = m2m_hsm_bind_mac(h->fl, h->session, &h->commands,
		    h->bindkey, msg, msglen, out);
		/* the session copy gone (a private one after a logout) */
		if (again && (rv == CKR_KEY_HANDLE_INVALID ||
		    rv == CKR_OBJECT_HANDLE_INVALID)) {
			disconnect(h);
			continue;
		}
		r = ckr(h, rv, M2M_HSM_OP_OTHER);
		/* a lost session is reconnected once, at once */
		if (!again || r != M2M_ERR_BACKEND_ABSENT)
			break;
	}
	pthread_mutex_unlock(&h->lock);
	return r;
}

const struct m2m_backend_ops m2m_hsm_backend_ops = {
	.name = "hsm",
	.open = hsm_open,
	.close = hsm_close,
	.wrap = hsm_wrap,
	.hmac = hsm_hmac,
	.hmac_keymsg = hsm_hmac_keymsg,
	.aes_gcm = hsm_aes_gcm,
	.reveal = hsm_reveal,
	.random = hsm_random,
	.forget = hsm_forget,
	.flush = hsm_flush,
	.stats = hsm_stats,
	.pin_seal = NULL,	/* the HSM's own login guards its keys */
	.pin_check = NULL,
	.wrap_auth = NULL,
	.wrap_readable = hsm_wrap_readable,
	.bind_mac = hsm_bind_mac,
};
