/*
 * m2mtoken HSM backend: the wrapping keys.  Finding them by label (and
 * refusing a legacy key without CKA_UNWRAP_TEMPLATE), creating one under
 * the setup lock shared by this user's processes, the readable key made at
 * its first use, and the lookup of the key a blob names.  Contracts in
 * hsm_int.h; docs/architecture.md.
 */
#define _GNU_SOURCE	/* secure_getenv */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "err.h"
#include "hsm_int.h"
#include "log.h"

/* Serialises the keys' setup in this process; see m2m_hsm_setup_lock(). */
static pthread_mutex_t	 setup_mutex = PTHREAD_MUTEX_INITIALIZER;

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

/*
 * CKA_UNWRAP_TEMPLATE of M2M_HSM_WRAP_LABEL_EC, the wrapping key of ECDSA
 * private keys (blob version 4): the same promise for what a private key
 * can hold.  Not strict_unwrap[]: SoftHSM2 2.6.1 wants an unwrap template's
 * every attribute in the caller's template, and a private key has no
 * CKA_WRAP (CKR_ATTRIBUTE_TYPE_INVALID).
 */
static CK_ATTRIBUTE	 ec_unwrap[] = {
	ATTR_BOOL(CKA_SENSITIVE, 1),
	ATTR_BOOL(CKA_EXTRACTABLE, 0),
	ATTR_BOOL(CKA_DECRYPT, 0),
	ATTR_BOOL(CKA_UNWRAP, 0),
	ATTR_BOOL(CKA_DERIVE, 0),
};
#define EC_UNWRAP_N	(sizeof(ec_unwrap) / sizeof(ec_unwrap[0]))

/* The label, the set and the unwrap template of wrapping keys "which". */
static const char *
wk_label(int which)
{
	return which == M2M_HSM_WK_READABLE ? M2M_HSM_WRAP_LABEL_READABLE :
	    which == M2M_HSM_WK_EC ? M2M_HSM_WRAP_LABEL_EC :
	    M2M_HSM_WRAP_LABEL;
}

static struct wrapkeys *
wk_set(struct hsm *h, int which)
{
	return which == M2M_HSM_WK_READABLE ? &h->rk :
	    which == M2M_HSM_WK_EC ? &h->ek : &h->wk;
}

static CK_ATTRIBUTE *
wk_unwrap(int which, size_t *ret_n)
{
	if (which == M2M_HSM_WK_EC) {
		*ret_n = EC_UNWRAP_N;
		return ec_unwrap;
	}
	*ret_n = which == M2M_HSM_WK_READABLE ? 0 : STRICT_UNWRAP_N;
	return which == M2M_HSM_WK_READABLE ? NULL : strict_unwrap;
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
wrapkey_forces(struct hsm *h, CK_OBJECT_HANDLE key, const CK_ATTRIBUTE *want,
    size_t nwant)
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
	for (j = 0; j < nwant; j++) {
		for (i = 0; i < n; i++) {
			if (t[i].type == want[j].type &&
			    t[i].pValue == &v[i] &&
			    v[i] == *(CK_BBOOL *)want[j].pValue) {
				ok++;
				break;
			}
		}
	}
	return ok == nwant;
}

/*
 * The handle to wrap and unwrap with for token key k of set "which": its
 * copy in the backend's session.  SoftHSM2 re-reads a token object's file
 * at every use (bench/README.md, "The wrapping keys' session copies").  A
 * copy this session made at an earlier load is kept.  k itself when the
 * HSM does not copy it, or when the copy is not a sensitive,
 * non-extractable session key bound by k's unwrap template (SoftHSM2
 * 2.6.1 copies CKA_LOCAL, CKA_NEVER_EXTRACTABLE and CKA_ALWAYS_SENSITIVE
 * too, test_wrapkey_in_hsm; they are checked as on k).  The copy dies
 * with the session (m2m_hsm_disconnect, m2m_hsm_close); wrapkey_adopt
 * destroys the copy of a key no longer found.
 */
static CK_OBJECT_HANDLE
wrapkey_copy(struct hsm *h, int which, CK_OBJECT_HANDLE k)
{
	const struct wrapkeys *ks = wk_set(h, which);
	const CK_ATTRIBUTE *want;
	CK_ATTRIBUTE ct[] = {
		ATTR_BOOL(CKA_TOKEN, 0),
		ATTR(CKA_LABEL, M2M_HSM_WRAP_COPY_LABEL,
		    sizeof(M2M_HSM_WRAP_COPY_LABEL) - 1),
	};
	CK_BBOOL ext = CK_TRUE, sens = CK_FALSE, tok = CK_TRUE;
	CK_BBOOL local = CK_FALSE, never = CK_FALSE, always = CK_FALSE;
	CK_ATTRIBUTE a[] = {
		ATTR(CKA_EXTRACTABLE, &ext, sizeof(ext)),
		ATTR(CKA_SENSITIVE, &sens, sizeof(sens)),
		ATTR(CKA_TOKEN, &tok, sizeof(tok)),
		ATTR(CKA_LOCAL, &local, sizeof(local)),
		ATTR(CKA_NEVER_EXTRACTABLE, &never, sizeof(never)),
		ATTR(CKA_ALWAYS_SENSITIVE, &always, sizeof(always)),
	};
	CK_OBJECT_HANDLE c = CK_INVALID_HANDLE;
	size_t i, nwant;

	for (i = 0; i < ks->n; i++) {
		if (ks->k[i].token == k)
			return ks->k[i].handle;
	}
	if (P11(h, C_CopyObject)(h->session, k, ct,
	    sizeof(ct) / sizeof(ct[0]), &c) != CKR_OK)
		return k;
	want = wk_unwrap(which, &nwant);
	if (P11(h, C_GetAttributeValue)(h->session, c, a,
	    sizeof(a) / sizeof(a[0])) == CKR_OK && ext == CK_FALSE &&
	    sens == CK_TRUE && tok == CK_FALSE && local == CK_TRUE &&
	    never == CK_TRUE && always == CK_TRUE &&
	    (nwant == 0 || wrapkey_forces(h, c, want, nwant)))
		return c;
	m2m_info("HSM token '%s': the copy of a wrapping key '%s' does not "
	    "keep its limits; using the token key", h->label, wk_label(which));
	(void)P11(h, C_DestroyObject)(h->session, c);
	return k;
}

/*
 * Find the token's wrapping keys under one label (readable: the readable
 * one) into t[0..*ret_n), smallest CKA_ID first.  A key under our label
 * that could leak (extractable, not sensitive), is not an AES-256
 * wrap/unwrap key or has no 16-byte CKA_ID is never used, and said so in
 * the log: nothing is wrapped with it and no blob naming it opens.  (A
 * key another thread is creating can look like that for a moment; it is
 * picked up by the next load.)  The same for a key not generated in the
 * HSM or once readable (CKA_LOCAL, CKA_NEVER_EXTRACTABLE or
 * CKA_ALWAYS_SENSITIVE not TRUE): whoever made it with C_CreateObject,
 * or unwrapped it, knows its value, and with the smallest CKA_ID it would
 * wrap every new key for them (test_planted_wrapkey_ignored).  The same
 * for an M2M_HSM_WRAP_LABEL key whose unwrap template does not force
 * strict_unwrap[]: one made by a module before that template existed,
 * whose blobs anyone logged in to the token could unwrap into readable
 * keys (said once per backend).
 */
static int
wrapkey_find(struct hsm *h, int which, struct wrapkey *t, size_t *ret_n)
{
	const char *label = wk_label(which);
	const CK_ATTRIBUTE *want;
	size_t nwant;
	CK_ATTRIBUTE tmpl[] = {
		ATTR(CKA_CLASS, &ck_secret, sizeof(ck_secret)),
		ATTR(CKA_KEY_TYPE, &ck_aes, sizeof(ck_aes)),
		ATTR_BOOL(CKA_TOKEN, 1),
		ATTR(CKA_LABEL, label, strlen(label)),
	};
	CK_OBJECT_HANDLE found[M2M_HSM_WRAPKEYS_MAX];
	struct wrapkey k;
	CK_BBOOL ext, sens, wrap, unwrap, local, never, always;
	CK_ULONG n = 0, i, len;
	CK_ATTRIBUTE a[] = {
		ATTR(CKA_EXTRACTABLE, &ext, sizeof(ext)),
		ATTR(CKA_SENSITIVE, &sens, sizeof(sens)),
		ATTR(CKA_WRAP, &wrap, sizeof(wrap)),
		ATTR(CKA_UNWRAP, &unwrap, sizeof(unwrap)),
		ATTR(CKA_VALUE_LEN, &len, sizeof(len)),
		ATTR(CKA_LOCAL, &local, sizeof(local)),
		ATTR(CKA_NEVER_EXTRACTABLE, &never, sizeof(never)),
		ATTR(CKA_ALWAYS_SENSITIVE, &always, sizeof(always)),
		ATTR(CKA_ID, k.id, sizeof(k.id)),	/* last */
	};
	const size_t aid = sizeof(a) / sizeof(a[0]) - 1;
	char hex[2 * M2M_HSM_WRAP_ID_LEN + 1];
	size_t nt = 0, j;
	CK_RV rv;
	int r;

	want = wk_unwrap(which, &nwant);
	if ((r = m2m_hsm_ckr(h, P11(h, C_FindObjectsInit)(h->session, tmpl,
	    sizeof(tmpl) / sizeof(tmpl[0])), M2M_HSM_OP_OTHER)) != 0)
		return r;
	r = m2m_hsm_ckr(h, P11(h, C_FindObjects)(h->session, found,
	    M2M_HSM_WRAPKEYS_MAX, &n), M2M_HSM_OP_OTHER);
	if (h->connected)
		(void)P11(h, C_FindObjectsFinal)(h->session);
	if (r != 0)
		return r;
	for (i = 0; i < n; i++) {
		ext = sens = wrap = unwrap = CK_FALSE;
		local = never = always = CK_FALSE;
		len = 0;
		a[aid].ulValueLen = sizeof(k.id);
		rv = P11(h, C_GetAttributeValue)(h->session, found[i], a,
		    sizeof(a) / sizeof(a[0]));
		/* a racing process destroyed its own key meanwhile */
		if (rv == CKR_OBJECT_HANDLE_INVALID)
			continue;
		if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL &&
		    rv != CKR_ATTRIBUTE_SENSITIVE &&
		    rv != CKR_ATTRIBUTE_TYPE_INVALID)
			return m2m_hsm_ckr(h, rv, M2M_HSM_OP_OTHER);
		if (rv != CKR_OK || ext != CK_FALSE || sens != CK_TRUE ||
		    wrap != CK_TRUE || unwrap != CK_TRUE || len != 32 ||
		    a[aid].ulValueLen != sizeof(k.id)) {
			m2m_error("HSM token '%s': ignoring a key labelled "
			    "'%s' that is not a sensitive, non-extractable "
			    "AES-256 wrapping key with a %d-byte CKA_ID",
			    h->label, label, M2M_HSM_WRAP_ID_LEN);
			continue;
		}
		if (local != CK_TRUE || never != CK_TRUE ||
		    always != CK_TRUE) {
			for (j = 0; j < sizeof(k.id); j++)
				(void)snprintf(hex + 2 * j, 3, "%02x",
				    k.id[j]);
			m2m_error("HSM token '%s': ignoring the key labelled "
			    "'%s' with CKA_ID %s: not generated in the HSM "
			    "or once readable (CKA_LOCAL %d, "
			    "CKA_NEVER_EXTRACTABLE %d, CKA_ALWAYS_SENSITIVE "
			    "%d); whoever made it may know its value",
			    h->label, label, hex, local == CK_TRUE,
			    never == CK_TRUE, always == CK_TRUE);
			continue;
		}
		if (nwant != 0 && !wrapkey_forces(h, found[i], want, nwant)) {
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
		k.token = k.handle = found[i];
		wrapkey_insert(t, &nt, &k);
	}
	/* the copies last: no error return leaves one behind */
	for (i = 0; i < nt; i++)
		t[i].handle = wrapkey_copy(h, which, t[i].token);
	*ret_n = nt;
	return 0;
}

/*
 * Replace ks with t[0..nt); ks->cur keeps naming the same key, else 0.
 * The session copy of a key that is not in t any more is destroyed.
 */
static void
wrapkey_adopt(struct hsm *h, struct wrapkeys *ks, const struct wrapkey *t,
    size_t nt)
{
	uint8_t curid[M2M_HSM_WRAP_ID_LEN];
	size_t i, j;

	for (i = 0; i < ks->n; i++) {
		if (ks->k[i].handle == ks->k[i].token)
			continue;
		for (j = 0; j < nt && t[j].handle != ks->k[i].handle; j++)
			;
		if (j == nt)
			(void)P11(h, C_DestroyObject)(h->session,
			    ks->k[i].handle);
	}

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

	int which;

	for (which = 0; which < M2M_HSM_WK_SETS; which++) {
		if ((r = wrapkey_find(h, which, t, &nt)) != 0)
			return r;
		wrapkey_adopt(h, wk_set(h, which), t, nt);
	}
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
wrapkey_generate(struct hsm *h, int which, CK_OBJECT_HANDLE *ret_key)
{
	const char *label = wk_label(which);
	size_t nunwrap;
	CK_ATTRIBUTE *unwrap = wk_unwrap(which, &nunwrap);
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
		ATTR(CKA_UNWRAP_TEMPLATE, unwrap,
		    nunwrap * sizeof(CK_ATTRIBUTE)),	/* last: not readable */
	};
	CK_ULONG ntmpl = sizeof(tmpl) / sizeof(tmpl[0]) - (nunwrap ? 0 : 1);
	struct timespec ts;
	uint64_t ns;
	int i, r;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		memset(&ts, 0, sizeof(ts));
	ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	for (i = 0; i < 8; i++)
		id[i] = (uint8_t)(ns >> (56 - 8 * i));
	if ((r = m2m_hsm_ckr(h, P11(h, C_GenerateRandom)(h->session, id + 8,
	    sizeof(id) - 8), M2M_HSM_OP_RANDOM)) != 0)
		return r;
	return m2m_hsm_ckr(h, P11(h, C_GenerateKey)(h->session, &mech, tmpl,
	    ntmpl, ret_key), M2M_HSM_OP_OTHER);
}

/*
 * Load the token's wrapping keys, creating one under the label (readable
 * or not) on first use.  New blobs are wrapped with the smallest CKA_ID;
 * every blob names its key, so a blob stays usable even if two processes
 * racing on a fresh token each kept their own key (m2m_hsm_setup_lock()
 * and the core's serialised open() prevent that; this is the defence if
 * it happens).
 */
static int
wrapkey_setup_once(struct hsm *h, int which, char *errbuf, size_t errlen)
{
	struct wrapkeys *ks = wk_set(h, which);
	CK_OBJECT_HANDLE mine = CK_INVALID_HANDLE;
	char b[32];
	size_t i;
	int r = M2M_ERR_INTERNAL;

	if ((r = wrapkey_load(h)) != 0)
		goto fail;
	if (ks->n > 0)
		return 0;
	if ((r = wrapkey_generate(h, which, &mine)) != 0)
		goto fail;
	/* another process may have created one meanwhile */
	if ((r = wrapkey_load(h)) != 0)
		goto fail;
	if (ks->n == 0) {
		/* seen with SoftHSM2 while another process writes the token */
		m2m_errbuf_set(errbuf, errlen, "HSM token '%s': the module "
		    "does not find the wrapping key it has just created",
		    h->label);
		return M2M_ERR_BACKEND;
	}
	ks->cur = 0;
	if (ks->k[0].token != mine) {
		m2m_info("HSM token '%s': another process created a wrapping "
		    "key first; using it", h->label);
		for (i = 1; i < ks->n; i++) {
			if (ks->k[i].token != mine)
				continue;
			if (ks->k[i].handle != mine) {
				(void)P11(h, C_DestroyObject)(h->session,
				    ks->k[i].handle);
				ks->k[i].handle = mine;
			}
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
	m2m_errbuf_set(errbuf, errlen, "HSM token '%s': cannot find or create "
	    "the wrapping key '%s': %s (%s)", h->label, wk_label(which),
	    m2m_strerror(r),
	    m2m_hsm_ckr_str(h->last_rv, b, sizeof(b)));
	return r;
}

/*
 * see hsm_int.h
 *
 * setup_mutex in this process, and a POSIX record lock (fcntl F_SETLKW,
 * the whole file) on a lock file (m2m_backend_lock_file: in
 * $XDG_RUNTIME_DIR, else beside the store) between processes, on a file
 * description of its own per call (closing it drops the lock; nothing
 * else in the process opens this file).  Not flock(2): a child forked
 * without exec while the lock was held shares the file description, and
 * a flock lived as long as the child, even past its holder's death, so
 * every setup of every process of the user waited for the child (found in
 * review); a record lock is the process's, freed at its death, not
 * inherited.  Why a lock at all: SoftHSM2 2.6.1 re-reads a token object's file when the
 * token changed, and a key that another thread or process is generating
 * or destroying at that moment makes C_GenerateKey, C_GetAttributeValue
 * and even a later C_WrapKey with our own wrapping key fail with
 * CKR_GENERAL_ERROR (test_two_opens_race: one open in ten under load
 * before this lock).  With the lock, the second opener finds the first
 * one's complete key and writes nothing.  Without a lock file the retries
 * and "smallest CKA_ID wins" remain.
 */
int
m2m_hsm_setup_lock(struct hsm *h)
{
	struct flock fl;
	int fd;

	pthread_mutex_lock(&setup_mutex);
	if ((fd = m2m_backend_lock_file("hsm", h->store_path)) == -1)
		return -1;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;	/* l_start 0, l_len 0: the whole file */
	while (fcntl(fd, F_SETLKW, &fl) == -1) {
		if (errno != EINTR) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

/* see hsm_int.h */
void
m2m_hsm_setup_unlock(int fd)
{
	if (fd != -1)
		close(fd);	/* drops the record lock */
	pthread_mutex_unlock(&setup_mutex);
}

/*
 * see hsm_int.h
 *
 * Tried again when the module failed (not for a refused PIN or a missing
 * token): another program writing the same token can still make SoftHSM2
 * answer CKR_GENERAL_ERROR, or not find a key just created.
 */
int
m2m_hsm_wrapkey_setup(struct hsm *h, int which, char *errbuf,
    size_t errlen)
{
	struct timespec ts;
	int attempt, fd, r;

	for (attempt = 1;; attempt++) {
		fd = m2m_hsm_setup_lock(h);
		r = wrapkey_setup_once(h, which, errbuf, errlen);
		m2m_hsm_setup_unlock(fd);
		if (r != M2M_ERR_BACKEND || attempt == M2M_HSM_WRAPKEY_TRIES)
			return r;
		m2m_debug("HSM token '%s': wrapping key setup failed "
		    "(attempt %d), trying again", h->label, attempt);
		ts.tv_sec = 0;
		ts.tv_nsec = 10000000L * attempt;	/* 10, 20, ... ms */
		(void)nanosleep(&ts, NULL);
	}
}

/* see hsm_int.h */
int
m2m_hsm_wrapkey_lookup(struct hsm *h, const uint8_t *id,
    CK_OBJECT_HANDLE *ret, int *ret_which)
{
	struct wrapkeys *ks;
	size_t i;
	int pass, rd, r;

	for (pass = 0; pass < 2; pass++) {
		for (rd = 0; rd < M2M_HSM_WK_SETS; rd++) {
			ks = wk_set(h, rd);
			for (i = 0; i < ks->n; i++) {
				if (memcmp(ks->k[i].id, id,
				    M2M_HSM_WRAP_ID_LEN) != 0)
					continue;
				*ret = ks->k[i].handle;
				*ret_which = rd;
				return 0;
			}
		}
		if (pass == 0 && (r = wrapkey_load(h)) != 0)
			return r;
	}
	return M2M_ERR_DATA_INVALID;
}
