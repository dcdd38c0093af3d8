/*
 * m2mtoken: the TPM 2.0 backend, through tpm2-tss: ESAPI for the commands
 * without a session, tss2-sys and our own session for the others
 * (tpm_sess.c).  See backend.h for the contract and tpm_int.h for the blob
 * format.
 *
 * Keys live under a storage primary key (ECC P-256, tpm_blob.c) that is
 * either re-created from its fixed template at every open (same owner seed,
 * same key, so stored blobs stay loadable) or kept at a persistent handle.
 * Every command that carries key bytes, HMAC results, unsealed data or AES
 * keystream runs in one salted HMAC session (salt encrypted to the primary,
 * AES-128-CFB parameter encryption), so the bus never sees them in clear;
 * the backend runs it itself over tss2-sys (tpm_sess.c says why: ESAPI's
 * session crypto costs milliseconds per command).  TPM2_Load needs none
 * (load_obj).  ESAPI keeps the commands without a session: CreatePrimary,
 * Load, ContextSave/Load, FlushContext, GetCapability, ReadPublic,
 * EvictControl.
 *
 * Assurance levels:
 *   hmac()        H  TPM2_HMAC / HMAC sequence with a fixedTPM sign key.
 *   aes_gcm()     H  the TPM has no GCM: every use of the AES key is a TPM2
 *                    EncryptDecrypt2 in the TPM (CFB decryption used as a
 *                    block-encryption oracle, tpm_gcm.c); only H = E_K(0),
 *                    E_K(J0) and the keystream reach the host, as in any GCM.
 *                 T  on a TPM without TPM2_EncryptDecrypt2 (optional in the
 *                    PC Client profile): the sealed copy is unsealed into
 *                    locked memory for the one call; the same GCM code then
 *                    uses host AES-ECB.
 *   hmac_keymsg() T  a TPM cannot use a key as a message, nor return a
 *   reveal()      T  sign or AES key's value.  So every key blob carries,
 *                    next to the operational object, a sealed copy of the
 *                    value (keyedHash data object: fixedTPM, fixedParent,
 *                    same authValue); only these two ops (and AES-GCM on a
 *                    TPM without EncryptDecrypt2) unseal it, into locked
 *                    memory, for one call.  This matches the HSM backend,
 *                    whose blobs the backend can also unwrap readable.
 *
 * Object authorisation: authValue = SHA-256(auth) (keyref.auth, wrap_auth)
 * or SHA-256(PIN) (pin_seal), trailing zero bytes removed as the TPM does.
 * Only PIN objects are DA-protected.
 *
 * Resources: at most (transient slots - 2) keys are loaded at any time, so
 * the primary plus one scratch slot (TPM2_Create's new object, an HMAC
 * sequence, a persistent primary being used) always fit, with or without a
 * resource manager.
 *
 * Two modes, chosen at open by [tpm] mode (conf.h); with mode = auto, the
 * default, by the TCTI: shared for swtpm: and mssim:, exclusive otherwise.
 *   exclusive  (device:, tabrmd:, ...): a resource manager (/dev/tpmrm0,
 *              abrmd) gives this connection its own slots, or the device is
 *              opened by one process only.  The primary, the sessions and up
 *              to (slots - 2) keys stay loaded: a cached HMAC is 1 command.
 *              Also right for a simulator that one process owns.
 *   shared     (swtpm:, mssim:): a socket simulator serves any number of
 *              processes, command by command, with no resource manager.
 *              Between calls this process holds nothing in the TPM: the
 *              primary, the cached keys and the sessions are kept as saved
 *              contexts (TPM2_ContextSave, reloaded with TPM2_ContextLoad
 *              when a call first needs them).  The calls of a
 *              user's m2mtoken processes in this mode are serialised by
 *              flock(2) on $XDG_RUNTIME_DIR/m2mtoken-tpm.lock (else
 *              /tmp/m2mtoken-tpm-<uid>.lock); a call that still finds the
 *              TPM full (another program) is undone and retried for up to
 *              20 s.  A cached HMAC is 5 commands.
 */
#define _GNU_SOURCE	/* secure_getenv */
#include <sys/file.h>
#include <sys/stat.h>

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

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "backend.h"
#include "conf.h"
#include "err.h"
#include "log.h"
#include "secret.h"
#include "tpm_int.h"

#define TPM_DEFAULT_TCTI	"device:/dev/tpmrm0"
#define TPM_TCTI_MAX		512	/* longest TCTI configuration string */
#define TPM_DEFAULT_CACHE	64
#define TPM_DATA_MAX		(16u << 20) /* longest HMAC message */
#define TPM_RANDOM_CHUNK	64	/* bytes asked per TPM2_GetRandom */
#define TPM_SHARED_CACHE_MAX	256	/* saved key contexts kept (shared) */
#define TPM_RETRY_MS		20000	/* shared: how long a call retries */
#define PERSISTENT_FIRST	0x81000000UL
#define PERSISTENT_LAST		0x817fffffUL	/* owner persistent range */

/* A loaded key kept in the cache. */
struct tpm_ent {
	uint64_t	 id;		/* 0: free */
	ESYS_TR		 handle;	/* ESYS_TR_NONE: not loaded now */
	TPMS_CONTEXT	*ctx;		/* shared mode: the saved context */
	uint8_t		*blob;		/* the bytes it was loaded from */
	size_t		 bloblen;
	uint8_t		 auth[TPM_AUTH_LEN]; /* the authValue it was given */
	size_t		 authlen;
	unsigned long	 used;		/* LRU clock */
};

struct tpm {
	pthread_mutex_t		 lock;	/* around every ESAPI call */
	TSS2_TCTI_CONTEXT	*tcti;
	ESYS_CONTEXT		*esys;
	int			 shared; /* see the top of this file */
	int			 oom;	/* a command found the TPM full */
	uint64_t		 seed;	/* shared: retry jitter */
	int			 lockfd; /* shared: flock(2) between processes */
	ESYS_TR			 primary;
	int			 primary_persistent;
	int			 primary_live; /* shared: loaded in this call */
	TPMS_CONTEXT		*primary_ctx; /* shared: saved, transient */
	TPMT_PUBLIC		 primary_pub; /* salts the session */
	TPM2B_NAME		 primary_name;
	struct tpm_sess		*fs;	/* salted, parameter-encrypting */
	size_t			 maxbuf; /* TPM2_PT_INPUT_BUFFER, <= 1024 */
	int			 have_encdec; /* TPM2_EncryptDecrypt2 */
	size_t			 cap;	/* keys loaded at most (cache + temp) */
	size_t			 nloaded; /* keys loaded now */
	struct tpm_ent		*ents;
	size_t			 nents;	/* exclusive: cap; shared: saved max */
	unsigned long		 clock;
	struct m2m_backend_stats st;
};

/* Count one command that reaches the TPM. */
#define CMD(t)	((t)->st.commands++)

static void
errf(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
errf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (buf == NULL || len == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/*
 * Map rc (one place: m2m_err_from_tss2) and log what failed, secret-free.
 * Notes when the TPM was out of object or session memory: in shared mode
 * the call is then retried.
 */
static int
tss_fail(struct tpm *t, const char *what, TSS2_RC rc, enum tpm_rc_ctx ctx)
{
	int r = m2m_err_from_tss2(rc, ctx);

	switch (m2m_tpm_rc_base(rc)) {
	case TPM2_RC_OBJECT_MEMORY:
	case TPM2_RC_SESSION_MEMORY:
	case TPM2_RC_MEMORY:
	case TPM2_RC_OBJECT_HANDLES:
	case TPM2_RC_SESSION_HANDLES:
		if ((rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER ||
		    (rc & TSS2_RC_LAYER_MASK) == TSS2_RESMGR_TPM_RC_LAYER) {
			t->oom = 1;
			if (t->shared) {
				m2m_debug("tpm: %s: %s (will retry)", what,
				    Tss2_RC_Decode(rc));
				return r;
			}
		}
		break;
	default:
		break;
	}

	if (r == M2M_ERR_BACKEND || r == M2M_ERR_BACKEND_ABSENT ||
	    r == M2M_ERR_NO_MEMORY)
		m2m_error("tpm: %s: %s", what, Tss2_RC_Decode(rc));
	else
		m2m_debug("tpm: %s: %s", what, Tss2_RC_Decode(rc));
	return r;
}

static TPMI_ALG_HASH
tpm_hash(enum m2m_hash h)
{
	switch (h) {
	case M2M_HASH_SHA256:	return TPM2_ALG_SHA256;
	case M2M_HASH_SHA384:	return TPM2_ALG_SHA384;
	case M2M_HASH_SHA512:	return TPM2_ALG_SHA512;
	default:		return TPM2_ALG_NULL;
	}
}

static const EVP_MD *
evp_hash(enum m2m_hash h)
{
	switch (h) {
	case M2M_HASH_SHA256:	return EVP_sha256();
	case M2M_HASH_SHA384:	return EVP_sha384();
	case M2M_HASH_SHA512:	return EVP_sha512();
	default:		return NULL;
	}
}

/*
 * The authValue for auth bytes: empty when there are none (unless always,
 * for a PIN, where even an empty PIN is hashed), else SHA-256(auth) with
 * trailing zero bytes removed, as the TPM stores it.  ret is secret.
 */
static int
auth_value(const uint8_t *auth, size_t len, int always, TPM2B_AUTH *ret)
{
	unsigned int n = 0;

	memset(ret, 0, sizeof(*ret));
	if (len == 0 && !always)
		return 0;
	if (EVP_Digest(len ? auth : (const uint8_t *)"", len, ret->buffer, &n,
	    EVP_sha256(), NULL) != 1 || n != TPM_AUTH_LEN) {
		m2m_wipe(ret, sizeof(*ret));
		return M2M_ERR_INTERNAL;
	}
	while (n > 0 && ret->buffer[n - 1] == 0)
		n--;
	ret->size = (UINT16)n;
	return 0;
}

/*
 * An object's name: nameAlg || H_nameAlg(TPMT_PUBLIC), what the TPM
 * computes at TPM2_Load (ESAPI's Esys_TR_GetName would hash it again, in a
 * new OpenSSL library context, at every call).
 */
static int
obj_name(const TPMT_PUBLIC *pub, TPM2B_NAME *ret)
{
	uint8_t buf[sizeof(TPMT_PUBLIC)];
	const EVP_MD *md = NULL;
	unsigned int n = 0;
	size_t off = 0;

	switch (pub->nameAlg) {
	case TPM2_ALG_SHA256:	md = evp_hash(M2M_HASH_SHA256); break;
	case TPM2_ALG_SHA384:	md = evp_hash(M2M_HASH_SHA384); break;
	case TPM2_ALG_SHA512:	md = evp_hash(M2M_HASH_SHA512); break;
	default:		return M2M_ERR_DATA_INVALID;
	}
	if (Tss2_MU_TPMT_PUBLIC_Marshal(pub, buf, sizeof(buf), &off) !=
	    TSS2_RC_SUCCESS ||
	    EVP_Digest(buf, off, ret->name + 2, &n, md, NULL) != 1)
		return M2M_ERR_INTERNAL;
	ret->name[0] = (uint8_t)(pub->nameAlg >> 8);
	ret->name[1] = (uint8_t)pub->nameAlg;
	ret->size = (UINT16)(2 + n);
	return 0;
}

/* The handle a command authorises: what the session needs of it. */
struct tpm_auth {
	TPM2_HANDLE	handle;
	TPM2B_NAME	name;
	TPM2B_AUTH	auth;	/* secret */
};

/* A loaded object with public area pub and authValue a (may be NULL). */
static int
auth_of(struct tpm *t, ESYS_TR h, const TPMT_PUBLIC *pub,
    const TPM2B_AUTH *a, struct tpm_auth *ret)
{
	TSS2_RC rc;
	int r;

	memset(ret, 0, sizeof(*ret));
	if ((rc = Esys_TR_GetTpmHandle(t->esys, h, &ret->handle)) !=
	    TSS2_RC_SUCCESS)
		return tss_fail(t, "object's handle", rc, TPM_CTX_OP);
	if ((r = obj_name(pub, &ret->name)) != 0)
		return r;
	if (a != NULL)
		ret->auth = *a;
	return 0;
}

static int sess_need(struct tpm *);

/*
 * Before a session command's Tss2_Sys_*_Prepare: the session loaded (or
 * started), and its SAPI context, which the command is prepared in.
 */
static int
sess_prep(struct tpm *t, TSS2_SYS_CONTEXT **ret)
{
	int r;

	if ((r = sess_need(t)) != 0)
		return r;
	*ret = m2m_tpm_sess_sys(t->fs);
	return 0;
}

#define TPM_AGAIN	1	/* sess_run: prepare the command again */
#define TPM_TRIES_MAX	100	/* times a command is sent at most */

/*
 * Send the prepared command cc through the session, authorising a (NULL:
 * no handle), parameters encrypted as flags say (TPM_SESS_IN/_OUT).  rc:
 * the Prepare's result, so that one check follows the whole sequence.
 * TPM_AGAIN when the TPM did not start the command (counted in *tries):
 * the caller prepares it again, as ESAPI's calls do.  The pattern:
 *
 *	do {
 *		if ((r = sess_prep(t, &sys)) != 0) ...
 *		rc = Tss2_Sys_X_Prepare(sys, ...);
 *	} while ((r = sess_run(t, "X", rc, ..., &tries)) == TPM_AGAIN);
 */
static int
sess_run(struct tpm *t, const char *what, TSS2_RC rc, TPM2_CC cc,
    const struct tpm_auth *a, int flags, enum tpm_rc_ctx ctx,
    unsigned *tries)
{
	if (rc == TSS2_RC_SUCCESS) {
		CMD(t);
		rc = m2m_tpm_sess_run(t->fs, cc, a != NULL ? &a->name : NULL,
		    a != NULL ? &a->auth : NULL, flags);
	}
	if (rc == TSS2_RC_SUCCESS)
		return 0;
	m2m_tpm_sess_clean(t->fs);
	if (m2m_tpm_rc_retry(rc) && ++*tries < TPM_TRIES_MAX) {
		m2m_debug("tpm: %s: %s (sent again)", what,
		    Tss2_RC_Decode(rc));
		return TPM_AGAIN;
	}
	return tss_fail(t, what, rc, ctx);
}

static void
flush(struct tpm *t, ESYS_TR *h)
{
	TSS2_RC rc;

	if (*h == ESYS_TR_NONE)
		return;
	CMD(t);
	if ((rc = Esys_FlushContext(t->esys, *h)) != TSS2_RC_SUCCESS)
		m2m_debug("tpm: FlushContext: %s", Tss2_RC_Decode(rc));
	*h = ESYS_TR_NONE;
}

/* Wipe and free ESAPI output holding secret or key-derived bytes. */
static void
esys_free_wiped(void *p, size_t len)
{
	if (p == NULL)
		return;
	m2m_wipe(p, len);
	Esys_Free(p);
}

/* ---- the primary, the cache of loaded keys ------------------------------ */

/* Shared mode: load the saved primary for this call if it is not. */
static int
need_primary(struct tpm *t)
{
	TSS2_RC rc;

	if (!t->shared || t->primary_persistent || t->primary_live)
		return 0;
	CMD(t);
	rc = Esys_ContextLoad(t->esys, t->primary_ctx, &t->primary);
	if (rc != TSS2_RC_SUCCESS) {
		t->primary = ESYS_TR_NONE;
		return tss_fail(t, "ContextLoad (primary)", rc, TPM_CTX_OP);
	}
	t->primary_live = 1;
	return 0;
}

/* Unload a cached key, keeping the entry (and its saved context). */
static void
ent_unload(struct tpm *t, struct tpm_ent *e)
{
	if (e->id == 0 || e->handle == ESYS_TR_NONE)
		return;
	flush(t, &e->handle);
	t->nloaded--;
}

/* Drop a cache entry. */
static void
ent_clear(struct tpm *t, struct tpm_ent *e)
{
	if (e->id == 0)
		return;
	ent_unload(t, e);
	free(e->blob);
	esys_free_wiped(e->ctx, sizeof(*e->ctx));
	m2m_wipe(e, sizeof(*e));
	e->handle = ESYS_TR_NONE;
}

static struct tpm_ent *
ent_find(struct tpm *t, uint64_t id)
{
	size_t i;

	for (i = 0; i < t->nents; i++)
		if (t->ents[i].id == id)
			return &t->ents[i];
	return NULL;
}

/* The least recently used entry (only loaded ones if live), or NULL. */
static struct tpm_ent *
ent_lru(struct tpm *t, int live)
{
	struct tpm_ent *lru = NULL;
	size_t i;

	for (i = 0; i < t->nents; i++)
		if (t->ents[i].id != 0 &&
		    (!live || t->ents[i].handle != ESYS_TR_NONE) &&
		    (lru == NULL || t->ents[i].used < lru->used))
			lru = &t->ents[i];
	return lru;
}

/*
 * Unload least recently used keys until one more can be loaded (exclusive
 * mode drops their entries; shared mode keeps the saved contexts).
 */
static int
make_room(struct tpm *t)
{
	struct tpm_ent *lru;

	while (t->nloaded >= t->cap) {
		if (M2M_NEVER((lru = ent_lru(t, 1)) == NULL))
			return M2M_ERR_INTERNAL;
		if (t->shared)
			ent_unload(t, lru);
		else
			ent_clear(t, lru);
	}
	return 0;
}

/*
 * Load one object under the primary; counts in nloaded (the caller caches
 * it or unloads it).  Its authValue is given to the session at each use
 * (struct tpm_auth), never to ESAPI.
 */
static int
load_obj(struct tpm *t, const struct tpm_obj *o, ESYS_TR *ret)
{
	ESYS_TR h = ESYS_TR_NONE;
	TSS2_RC rc;
	int r;

	if ((r = make_room(t)) != 0 || (r = need_primary(t)) != 0)
		return r;
	/*
	 * Password authorisation: the primary's authValue is empty and
	 * inPrivate is already sealed to the primary, so a session would
	 * protect nothing here (and would cost shared mode its context load).
	 */
	CMD(t);
	rc = Esys_Load(t->esys, t->primary, ESYS_TR_PASSWORD, ESYS_TR_NONE,
	    ESYS_TR_NONE, &o->priv, &o->pub, &h);
	if (rc != TSS2_RC_SUCCESS) {
		r = tss_fail(t, "Load", rc, TPM_CTX_LOAD);
		if (m2m_tpm_rc_base(rc) == TPM2_RC_INTEGRITY)
			m2m_error("tpm: the TPM refused a stored key: the "
			    "owner hierarchy was cleared or the key belongs "
			    "to another TPM");
		return r;
	}
	t->st.loads++;
	t->nloaded++;
	*ret = h;
	return 0;
}

static void
unload_tmp(struct tpm *t, ESYS_TR *h)
{
	if (*h == ESYS_TR_NONE)
		return;
	flush(t, h);
	t->nloaded--;
}

/* Shared mode: reload a cached key from its saved context. */
static int
ent_reload(struct tpm *t, struct tpm_ent *e)
{
	ESYS_TR h = ESYS_TR_NONE;
	TSS2_RC rc;
	int r;

	if ((r = make_room(t)) != 0)
		return r;
	CMD(t);
	if ((rc = Esys_ContextLoad(t->esys, e->ctx, &h)) != TSS2_RC_SUCCESS)
		return tss_fail(t, "ContextLoad", rc, TPM_CTX_OP);
	t->nloaded++;
	e->handle = h;
	return 0;
}

/*
 * The checks every use of a keyref makes: its arguments, its blob parsed
 * into b (of the kind the keyref says, not a PIN object) and its authValue
 * into a (secret).
 */
static int
ref_open(const struct m2m_keyref *ref, struct tpm_blob *b, TPM2B_AUTH *a)
{
	int r;

	if (ref == NULL || (ref->auth == NULL && ref->authlen != 0) ||
	    ref->authlen > TPM_PIN_MAX)
		return M2M_ERR_INVALID_ARGUMENT;
	if ((r = m2m_tpm_blob_parse(ref->blob, ref->bloblen, b)) != 0)
		return r;
	if ((int)ref->kind != b->kind || b->kind == TPM_KIND_PIN)
		return M2M_ERR_KEY_TYPE;
	return auth_value(ref->auth, ref->authlen, 0, a);
}

static int key_get(struct tpm *, const struct m2m_keyref *, int, ESYS_TR *,
    int *, TPMT_PUBLIC *, TPM2B_AUTH *);
static void key_release(struct tpm *, ESYS_TR *, int);

/*
 * The loaded handle for ref, which must be of the given kind: from the cache
 * (same id, same blob bytes, same auth) or loaded now.  *ret_tmp says
 * whether the caller must unload_tmp() it (id 0: not cached).  ret_auth
 * gets what a session command needs to use it (secret: wipe it).
 */
static int
key_acquire(struct tpm *t, const struct m2m_keyref *ref, int kind,
    ESYS_TR *ret, int *ret_tmp, struct tpm_auth *ret_auth)
{
	ESYS_TR h = ESYS_TR_NONE;
	TPMT_PUBLIC pub;
	TPM2B_AUTH a;
	int tmp = 0, r;

	memset(&a, 0, sizeof(a));
	if ((r = key_get(t, ref, kind, &h, &tmp, &pub, &a)) != 0)
		return r;
	if ((r = auth_of(t, h, &pub, &a, ret_auth)) != 0)
		key_release(t, &h, tmp);
	m2m_wipe(&a, sizeof(a));
	if (r == 0) {
		*ret = h;
		*ret_tmp = tmp;
	}
	return r;
}

/* key_acquire's first part: also the public area and the authValue. */
static int
key_get(struct tpm *t, const struct m2m_keyref *ref, int kind, ESYS_TR *ret,
    int *ret_tmp, TPMT_PUBLIC *ret_pub, TPM2B_AUTH *ret_a)
{
	struct tpm_blob b;
	struct tpm_ent *e;
	TPM2B_AUTH a;
	TPMS_CONTEXT *ctx = NULL;
	ESYS_TR h = ESYS_TR_NONE;
	uint8_t *copy = NULL;
	TSS2_RC rc;
	int r = M2M_ERR_INTERNAL;

	memset(&a, 0, sizeof(a));
	if (ref != NULL && (int)ref->kind != kind) {
		r = M2M_ERR_KEY_TYPE;
		goto out;
	}
	if ((r = ref_open(ref, &b, &a)) != 0)
		goto out;
	*ret_pub = b.obj.pub.publicArea;
	*ret_a = a;
	if (ref->id != 0 && (e = ent_find(t, ref->id)) != NULL) {
		if (e->bloblen == ref->bloblen &&
		    memcmp(e->blob, ref->blob, ref->bloblen) == 0 &&
		    e->authlen == a.size &&
		    m2m_ct_equal(e->auth, a.buffer, a.size)) {
			if (e->handle == ESYS_TR_NONE &&
			    (r = ent_reload(t, e)) != 0)
				goto out;
			e->used = ++t->clock;
			*ret = e->handle;
			*ret_tmp = 0;
			r = 0;
			goto out;
		}
		ent_clear(t, e);	/* same id, another key: stale */
	}
	if (ref->id != 0 && (copy = malloc(ref->bloblen)) == NULL) {
		r = M2M_ERR_NO_MEMORY;
		goto out;
	}
	if ((r = load_obj(t, &b.obj, &h)) != 0)
		goto out;
	if (ref->id == 0) {
		*ret = h;
		*ret_tmp = 1;
		r = 0;
		goto out;
	}
	if (t->shared) {
		CMD(t);
		if ((rc = Esys_ContextSave(t->esys, h, &ctx)) !=
		    TSS2_RC_SUCCESS) {
			ctx = NULL;
			r = tss_fail(t, "ContextSave", rc, TPM_CTX_OP);
			unload_tmp(t, &h);
			goto out;
		}
		/* a full cache gives up its least recently used entry */
		if (ent_find(t, 0) == NULL)
			ent_clear(t, ent_lru(t, 0));
	}
	/* exclusive: make_room left nloaded < cap = nents, so one is free */
	if (M2M_NEVER((e = ent_find(t, 0)) == NULL)) {
		unload_tmp(t, &h);
		r = M2M_ERR_INTERNAL;
		goto out;
	}
	memcpy(copy, ref->blob, ref->bloblen);
	e->id = ref->id;
	e->handle = h;
	e->ctx = ctx;
	ctx = NULL;	/* transferred */
	e->blob = copy;
	copy = NULL;	/* transferred */
	e->bloblen = ref->bloblen;
	memcpy(e->auth, a.buffer, a.size);
	e->authlen = a.size;
	e->used = ++t->clock;
	*ret = h;
	*ret_tmp = 0;
	r = 0;
 out:
	free(copy);
	esys_free_wiped(ctx, sizeof(*ctx));
	m2m_wipe(&a, sizeof(a));
	return r;
}

static void
key_release(struct tpm *t, ESYS_TR *h, int tmp)
{
	if (tmp)
		unload_tmp(t, h);
}

/* ---- open / close ------------------------------------------------------- */

/* One TPM property, or 0 when the TPM does not report it. */
static int
get_prop(struct tpm *t, TPM2_PT pt, UINT32 *ret)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	TSS2_RC rc;
	UINT32 i;

	CMD(t);
	rc = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE,
	    ESYS_TR_NONE, TPM2_CAP_TPM_PROPERTIES, pt, 1, &more, &cap);
	if (rc != TSS2_RC_SUCCESS)
		return (int)rc;	/* raw: the caller decides (Startup) */
	*ret = 0;
	for (i = 0; i < cap->data.tpmProperties.count &&
	    i < TPM2_MAX_TPM_PROPERTIES; i++)
		if (cap->data.tpmProperties.tpmProperty[i].property == pt)
			*ret = cap->data.tpmProperties.tpmProperty[i].value;
	Esys_Free(cap);
	return 0;
}

/* Does the TPM implement command cc?  0 (and *ret) or a raw TSS2_RC. */
static int
has_command(struct tpm *t, TPM2_CC cc, int *ret)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	TSS2_RC rc;

	CMD(t);
	rc = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE,
	    ESYS_TR_NONE, TPM2_CAP_COMMANDS, cc, 1, &more, &cap);
	if (rc != TSS2_RC_SUCCESS)
		return (int)rc;
	*ret = cap->data.command.count >= 1 &&
	    (cap->data.command.commandAttributes[0] &
	    TPMA_CC_COMMANDINDEX_MASK) == (cc & TPMA_CC_COMMANDINDEX_MASK);
	Esys_Free(cap);
	return 0;
}

/* Capacities: input buffer, transient slots -> cache size. */
static int
probe(struct tpm *t, size_t cache_size, char *errbuf, size_t errlen)
{
	UINT32 inbuf = 0, tmin = 0, tavail = 0, slots;
	TSS2_RC rc;

	rc = (TSS2_RC)get_prop(t, TPM2_PT_INPUT_BUFFER, &inbuf);
	if (rc != TSS2_RC_SUCCESS &&
	    m2m_tpm_rc_base(rc) == TPM2_RC_INITIALIZE) {
		/* a simulator without startup: do it once */
		CMD(t);
		if ((rc = Esys_Startup(t->esys, TPM2_SU_CLEAR)) ==
		    TSS2_RC_SUCCESS)
			rc = (TSS2_RC)get_prop(t, TPM2_PT_INPUT_BUFFER,
			    &inbuf);
	}
	if (rc == TSS2_RC_SUCCESS)
		rc = (TSS2_RC)get_prop(t, TPM2_PT_HR_TRANSIENT_MIN, &tmin);
	if (rc == TSS2_RC_SUCCESS)
		rc = (TSS2_RC)get_prop(t, TPM2_PT_HR_TRANSIENT_AVAIL,
		    &tavail);
	if (rc != TSS2_RC_SUCCESS) {
		errf(errbuf, errlen, "TPM: GetCapability failed: %s",
		    Tss2_RC_Decode(rc));
		return tss_fail(t, "GetCapability", rc, TPM_CTX_OPEN);
	}
	t->maxbuf = inbuf == 0 || inbuf > TPM2_MAX_DIGEST_BUFFER ?
	    TPM2_MAX_DIGEST_BUFFER : inbuf;
	if (t->maxbuf < 32) {
		errf(errbuf, errlen, "TPM: input buffer of %u bytes is "
		    "too small", (unsigned)inbuf);
		return M2M_ERR_BACKEND;
	}
	slots = tmin == 0 ? 3 : tmin;
	/* shared: another process may be mid-call; it frees its slots after */
	if (!t->shared && tavail != 0 && tavail < slots)
		slots = tavail;
	if (slots < 3) {
		errf(errbuf, errlen, "TPM: only %u transient object slots "
		    "are free, 3 are needed (another program holds objects; "
		    "use a resource manager such as /dev/tpmrm0)",
		    (unsigned)slots);
		return M2M_ERR_BACKEND;
	}
	if ((rc = (TSS2_RC)has_command(t, TPM2_CC_EncryptDecrypt2,
	    &t->have_encdec)) != TSS2_RC_SUCCESS) {
		errf(errbuf, errlen, "TPM: GetCapability failed: %s",
		    Tss2_RC_Decode(rc));
		return tss_fail(t, "GetCapability", rc, TPM_CTX_OPEN);
	}
	t->cap = slots - 2;
	if (cache_size == 0)
		cache_size = TPM_DEFAULT_CACHE;
	if (cache_size < t->cap)
		t->cap = cache_size;
	/* exclusive: an entry per loaded key; shared: saved contexts */
	t->nents = t->shared ? cache_size : t->cap;
	if (t->nents > TPM_SHARED_CACHE_MAX)
		t->nents = TPM_SHARED_CACHE_MAX;
	return 0;
}

/* Does a persistent key have the shape of our storage primary? */
static int
primary_matches(const TPMT_PUBLIC *p)
{
	TPM2B_PUBLIC t;
	const TPMS_ECC_PARMS *a = &p->parameters.eccDetail, *b;

	m2m_tpm_tmpl_primary(&t);
	b = &t.publicArea.parameters.eccDetail;
	return p->type == t.publicArea.type &&
	    p->nameAlg == t.publicArea.nameAlg &&
	    p->objectAttributes == t.publicArea.objectAttributes &&
	    a->symmetric.algorithm == b->symmetric.algorithm &&
	    a->symmetric.keyBits.aes == b->symmetric.keyBits.aes &&
	    a->symmetric.mode.aes == b->symmetric.mode.aes &&
	    a->scheme.scheme == b->scheme.scheme &&
	    a->curveID == b->curveID && a->kdf.scheme == b->kdf.scheme;
}

static int
create_primary(struct tpm *t, ESYS_TR *ret, char *errbuf, size_t errlen)
{
	TPM2B_PUBLIC *pub = NULL;
	TPM2B_SENSITIVE_CREATE s;
	TPM2B_PUBLIC tmpl;
	TPM2B_DATA outside;
	TPML_PCR_SELECTION pcrs;
	TSS2_RC rc;

	memset(&s, 0, sizeof(s));
	memset(&outside, 0, sizeof(outside));
	memset(&pcrs, 0, sizeof(pcrs));
	m2m_tpm_tmpl_primary(&tmpl);
	CMD(t);
	rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD,
	    ESYS_TR_NONE, ESYS_TR_NONE, &s, &tmpl, &outside, &pcrs, ret,
	    &pub, NULL, NULL, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		errf(errbuf, errlen, "TPM: cannot create the storage primary "
		    "key in the owner hierarchy: %s", Tss2_RC_Decode(rc));
		return tss_fail(t, "CreatePrimary", rc, TPM_CTX_OPEN);
	}
	t->primary_pub = pub->publicArea;
	Esys_Free(pub);
	return 0;
}

static int
setup_primary(struct tpm *t, unsigned long handle, char *errbuf,
    size_t errlen)
{
	TPM2B_PUBLIC *pub = NULL;
	ESYS_TR tr = ESYS_TR_NONE, tmp = ESYS_TR_NONE;
	TSS2_RC rc;
	int r = M2M_ERR_INTERNAL;

	if (handle == 0) {
		if ((r = create_primary(t, &t->primary, errbuf, errlen)) != 0)
			goto out;
		r = 0;
		goto out;
	}
	CMD(t);
	rc = Esys_TR_FromTPMPublic(t->esys, (TPM2_HANDLE)handle,
	    ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &tr);
	if (rc == TSS2_RC_SUCCESS) {
		CMD(t);
		rc = Esys_ReadPublic(t->esys, tr, ESYS_TR_NONE, ESYS_TR_NONE,
		    ESYS_TR_NONE, &pub, NULL, NULL);
		if (rc != TSS2_RC_SUCCESS) {
			errf(errbuf, errlen, "TPM: cannot read persistent "
			    "key 0x%08lx: %s", handle, Tss2_RC_Decode(rc));
			r = tss_fail(t, "ReadPublic", rc, TPM_CTX_OPEN);
			goto out;
		}
		if (!primary_matches(&pub->publicArea)) {
			errf(errbuf, errlen, "TPM: persistent handle 0x%08lx "
			    "holds a key that is not an m2mtoken storage key",
			    handle);
			r = M2M_ERR_BACKEND;
			goto out;
		}
		t->primary_pub = pub->publicArea;
	} else if (m2m_tpm_rc_base(rc) == TPM2_RC_HANDLE) {
		/* first use: create it and make it persistent */
		if ((r = create_primary(t, &tmp, errbuf, errlen)) != 0)
			goto out;
		CMD(t);
		rc = Esys_EvictControl(t->esys, ESYS_TR_RH_OWNER, tmp,
		    ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
		    (TPMI_DH_PERSISTENT)handle, &tr);
		if (rc != TSS2_RC_SUCCESS) {
			errf(errbuf, errlen, "TPM: cannot make the storage "
			    "key persistent at 0x%08lx: %s", handle,
			    Tss2_RC_Decode(rc));
			r = tss_fail(t, "EvictControl", rc, TPM_CTX_OPEN);
			goto out;
		}
	} else {
		errf(errbuf, errlen, "TPM: cannot look up persistent handle "
		    "0x%08lx: %s", handle, Tss2_RC_Decode(rc));
		r = tss_fail(t, "ReadPublic", rc, TPM_CTX_OPEN);
		goto out;
	}
	t->primary = tr;
	tr = ESYS_TR_NONE;	/* transferred */
	t->primary_persistent = 1;
	r = 0;
 out:
	if (tr != ESYS_TR_NONE)
		(void)Esys_TR_Close(t->esys, &tr);
	flush(t, &tmp);
	Esys_Free(pub);
	return r;
}

/*
 * Release the primary and the session (not the cached keys): on close, and
 * to undo a half-done open before it is retried.
 */
static void
drop_objects(struct tpm *t)
{
	if (t->fs != NULL && m2m_tpm_sess_state(t->fs) != TPM_SESS_NONE) {
		CMD(t);
		m2m_tpm_sess_forget(t->fs);
	}
	if (t->primary_persistent)
		(void)Esys_TR_Close(t->esys, &t->primary);
	else
		flush(t, &t->primary);
	t->primary = ESYS_TR_NONE;
	t->primary_persistent = 0;
	t->primary_live = 0;
	esys_free_wiped(t->primary_ctx, sizeof(*t->primary_ctx));
	t->primary_ctx = NULL;
}

/*
 * Shared mode: the lock file that serialises the calls of this user's
 * m2mtoken processes (one file for all simulators: they are for tests, and
 * a file per TCTI would pile up).  Without one (not creatable, not ours)
 * calls still work, relying on the retries.
 */
static void
shared_lock_open(struct tpm *t)
{
	const char *dir = secure_getenv("XDG_RUNTIME_DIR");
	char path[PATH_MAX];
	struct stat st;
	int fd, n;

	t->lockfd = -1;
	if (dir != NULL && dir[0] == '/')
		n = snprintf(path, sizeof(path), "%s/m2mtoken-tpm.lock", dir);
	else
		n = snprintf(path, sizeof(path), "/tmp/m2mtoken-tpm-%lu.lock",
		    (unsigned long)geteuid());
	if (n < 0 || (size_t)n >= sizeof(path))
		return;
	if ((fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600)) == -1) {
		m2m_debug("tpm: lock file %s: %s", path, strerror(errno));
		return;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid()) {
		m2m_debug("tpm: lock file %s is not ours: not used", path);
		close(fd);
		return;
	}
	t->lockfd = fd;
}

static void
shared_lock(struct tpm *t)
{
	if (!t->shared || t->lockfd < 0)
		return;
	while (flock(t->lockfd, LOCK_EX) == -1 && errno == EINTR)
		;
}

static void
shared_unlock(struct tpm *t)
{
	if (!t->shared || t->lockfd < 0)
		return;
	(void)flock(t->lockfd, LOCK_UN);
}

/*
 * End of a call in shared mode: unload everything, keeping the primary and
 * the keys as saved contexts and saving the session, so that between calls
 * this process holds nothing in the TPM.
 */
static void
call_end(struct tpm *t)
{
	TSS2_RC rc;
	size_t i;

	if (!t->shared)
		return;
	for (i = 0; i < t->nents; i++)
		ent_unload(t, &t->ents[i]);
	if (t->primary_live) {
		flush(t, &t->primary);
		t->primary_live = 0;
	}
	if (m2m_tpm_sess_state(t->fs) == TPM_SESS_LOADED) {
		CMD(t);
		if ((rc = m2m_tpm_sess_save(t->fs)) != TSS2_RC_SUCCESS)
			/* lost (forgotten): the next call starts a new one */
			m2m_debug("tpm: ContextSave (session): %s",
			    Tss2_RC_Decode(rc));
	}
}

/*
 * The session (tpm_sess.c), loaded: back from its saved context in shared
 * mode (at its first use in a call), or started (at open, or after it was
 * lost).
 */
static int
sess_need(struct tpm *t)
{
	TPM2_HANDLE h = 0;
	TSS2_RC rc;
	int r;

	switch (m2m_tpm_sess_state(t->fs)) {
	case TPM_SESS_LOADED:
		return 0;
	case TPM_SESS_SAVED:
		CMD(t);
		if ((rc = m2m_tpm_sess_load(t->fs)) == TSS2_RC_SUCCESS)
			return 0;
		r = tss_fail(t, "ContextLoad (session)", rc, TPM_CTX_OP);
		if (t->oom)
			return r;	/* retried with the context */
		CMD(t);
		m2m_tpm_sess_forget(t->fs);
		break;
	default:
		break;
	}
	if ((r = need_primary(t)) != 0)
		return r;
	if ((rc = Esys_TR_GetTpmHandle(t->esys, t->primary, &h)) !=
	    TSS2_RC_SUCCESS)
		return tss_fail(t, "primary's handle", rc, TPM_CTX_OP);
	CMD(t);
	if ((rc = m2m_tpm_sess_start(t->fs, h, &t->primary_pub)) !=
	    TSS2_RC_SUCCESS)
		return tss_fail(t, "StartAuthSession", rc, TPM_CTX_OP);
	return 0;
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Shared mode: wait a few milliseconds (random, so that processes do not
 * retry in step) before a call is retried; 0, or -1 once the call has been
 * retried for TPM_RETRY_MS since start.
 */
static int
backoff(struct tpm *t, unsigned attempt, uint64_t start)
{
	struct timespec ts;
	unsigned long ms;

	if (now_ms() - start > TPM_RETRY_MS) {
		m2m_error("tpm: the TPM stayed full for %d s: other programs "
		    "hold its objects (use a resource manager)",
		    TPM_RETRY_MS / 1000);
		return -1;
	}
	t->seed = t->seed * 6364136223846793005ULL + 1442695040888963407ULL;
	ms = 1 + (unsigned long)((t->seed >> 33) % (attempt < 10 ? 4 : 16));
	ts.tv_sec = 0;
	ts.tv_nsec = (long)ms * 1000000L;
	(void)nanosleep(&ts, NULL);
	return 0;
}

/*
 * Run one call (an expression setting r) under the lock: in shared mode
 * followed by call_end and, when the TPM was full because
 * another process was mid-call, undone and retried.
 */
#define RUN_CALL(t, r, call) do {					\
	uint64_t start_ = (t)->shared ? now_ms() : 0;			\
	unsigned attempt_ = 0;						\
	shared_lock(t);							\
	for (;;) {							\
		(t)->oom = 0;						\
		(r) = (call);						\
		call_end(t);						\
		if ((r) == 0 || !(t)->oom || !(t)->shared ||		\
		    backoff((t), ++attempt_, start_) != 0)		\
			break;						\
	}								\
	shared_unlock(t);						\
	(t)->oom = 0;							\
} while (0)

/* The primary and the session; in shared mode saved and unloaded after. */
static int
open_objects(struct tpm *t, unsigned long handle, char *errbuf,
    size_t errlen)
{
	TSS2_RC rc;
	int r;

	if ((r = setup_primary(t, handle, errbuf, errlen)) != 0)
		return r;
	if (t->shared && !t->primary_persistent) {
		CMD(t);
		rc = Esys_ContextSave(t->esys, t->primary, &t->primary_ctx);
		if (rc != TSS2_RC_SUCCESS) {
			t->primary_ctx = NULL;
			errf(errbuf, errlen, "TPM: cannot save the primary "
			    "key's context: %s", Tss2_RC_Decode(rc));
			return tss_fail(t, "ContextSave", rc, TPM_CTX_OPEN);
		}
		t->primary_live = 1;
	}
	if ((r = obj_name(&t->primary_pub, &t->primary_name)) != 0)
		return r;
	if ((r = sess_need(t)) != 0) {
		errf(errbuf, errlen, "TPM: cannot start a salted session: %s",
		    m2m_strerror(r));
		return r;
	}
	call_end(t);
	return 0;
}

/*
 * The mode: as configured, or for auto by the TCTI: socket simulators
 * serve several processes with no resource manager.
 */
static int
mode_is_shared(enum m2m_tpm_mode mode, const char *tcti)
{
	char name[64];
	size_t n = strcspn(tcti, ":");

	if (mode == M2M_TPM_MODE_SHARED)
		return 1;
	if (mode == M2M_TPM_MODE_EXCLUSIVE)
		return 0;
	if (n >= sizeof(name))
		return 0;
	memcpy(name, tcti, n);
	name[n] = '\0';
	return strstr(name, "swtpm") != NULL || strstr(name, "mssim") != NULL;
}

static void tpm_close(void *impl);

static int
tpm_open(const struct m2m_conf *conf, void **ret_impl, char *errbuf,
    size_t errlen)
{
	struct tpm *t = NULL;
	const char *tcti;
	unsigned attempt;
	uint64_t start;
	size_t i;
	TSS2_RC rc;
	int r = M2M_ERR_INTERNAL;

	if (conf == NULL || ret_impl == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	tcti = conf->tpm_tcti != NULL && *conf->tpm_tcti != '\0' ?
	    conf->tpm_tcti : TPM_DEFAULT_TCTI;
	if (strlen(tcti) > TPM_TCTI_MAX) {
		errf(errbuf, errlen, "[tpm] tcti: longer than %d bytes",
		    TPM_TCTI_MAX);
		return M2M_ERR_CONFIG;
	}
	if (conf->tpm_primary_handle != 0 &&
	    (conf->tpm_primary_handle < PERSISTENT_FIRST ||
	    conf->tpm_primary_handle > PERSISTENT_LAST)) {
		errf(errbuf, errlen, "[tpm] primary_handle: 0x%lx is not an "
		    "owner persistent handle (0x81000000..0x817fffff)",
		    conf->tpm_primary_handle);
		return M2M_ERR_CONFIG;
	}
	if (conf->tpm_mode != M2M_TPM_MODE_AUTO &&
	    conf->tpm_mode != M2M_TPM_MODE_SHARED &&
	    conf->tpm_mode != M2M_TPM_MODE_EXCLUSIVE) {
		errf(errbuf, errlen, "[tpm] mode: unknown value %d",
		    (int)conf->tpm_mode);
		return M2M_ERR_CONFIG;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return M2M_ERR_NO_MEMORY;
	if (pthread_mutex_init(&t->lock, NULL) != 0) {
		free(t);
		return M2M_ERR_NO_MEMORY;
	}
	t->primary = ESYS_TR_NONE;
	t->lockfd = -1;
	t->shared = mode_is_shared(conf->tpm_mode, tcti);
	t->seed = (uint64_t)getpid() ^ (uint64_t)(uintptr_t)t;
	if (t->shared)
		shared_lock_open(t);

	if ((rc = Tss2_TctiLdr_Initialize(tcti, &t->tcti)) !=
	    TSS2_RC_SUCCESS) {
		t->tcti = NULL;
		errf(errbuf, errlen, "TPM not reachable through TCTI \"%s\": "
		    "%s", tcti, Tss2_RC_Decode(rc));
		r = M2M_ERR_BACKEND_ABSENT;
		goto out;
	}
	if ((rc = Esys_Initialize(&t->esys, t->tcti, NULL)) !=
	    TSS2_RC_SUCCESS) {
		t->esys = NULL;
		errf(errbuf, errlen, "TPM through TCTI \"%s\": ESAPI: %s",
		    tcti, Tss2_RC_Decode(rc));
		r = tss_fail(t, "Esys_Initialize", rc, TPM_CTX_OPEN);
		goto out;
	}
	if ((r = m2m_tpm_sess_new(t->tcti, &t->fs)) != 0) {
		errf(errbuf, errlen, "TPM: cannot set up the HMAC session's "
		    "context");
		goto out;
	}
	if ((r = probe(t, conf->cache_size, errbuf, errlen)) != 0) {
		if (r == M2M_ERR_BACKEND_ABSENT)
			errf(errbuf, errlen, "TPM not reachable through TCTI "
			    "\"%s\"", tcti);
		goto out;
	}
	if ((t->ents = calloc(t->nents, sizeof(*t->ents))) == NULL) {
		r = M2M_ERR_NO_MEMORY;
		goto out;
	}
	for (i = 0; i < t->nents; i++)
		t->ents[i].handle = ESYS_TR_NONE;
	start = now_ms();
	shared_lock(t);
	for (attempt = 1;; attempt++) {
		t->oom = 0;
		if ((r = open_objects(t, conf->tpm_primary_handle, errbuf,
		    errlen)) == 0)
			break;
		drop_objects(t);
		if (!t->shared || !t->oom || backoff(t, attempt, start) != 0)
			break;
	}
	shared_unlock(t);
	if (r != 0)
		goto out;
	t->oom = 0;
	m2m_debug("tpm: open through \"%s\" (%s mode%s): %zu keys loaded at "
	    "most, %zu-byte buffers, AES-GCM at level %s", tcti,
	    t->shared ? "shared" : "exclusive",
	    conf->tpm_mode == M2M_TPM_MODE_AUTO ? ", auto" : "", t->cap,
	    t->maxbuf,
	    t->have_encdec ? "H" : "T");
	*ret_impl = t;
	t = NULL;	/* transferred */
	r = 0;
 out:
	tpm_close(t);
	return r;
}

static void
tpm_close(void *impl)
{
	struct tpm *t = impl;
	size_t i;

	if (t == NULL)
		return;
	if (t->esys != NULL) {
		shared_lock(t);
		if (t->ents != NULL)
			for (i = 0; i < t->nents; i++)
				ent_clear(t, &t->ents[i]);
		drop_objects(t);	/* a saved session is flushed too */
		shared_unlock(t);
		Esys_Finalize(&t->esys);
	}
	m2m_tpm_sess_free(t->fs);	/* drop_objects flushed its session */
	if (t->lockfd >= 0)
		close(t->lockfd);
	if (t->tcti != NULL)
		Tss2_TctiLdr_Finalize(&t->tcti);
	free(t->ents);
	pthread_mutex_destroy(&t->lock);
	m2m_wipe(t, sizeof(*t));
	free(t);
}

/* ---- creating keys ------------------------------------------------------ */

/*
 * TPM2_Create under the primary, through the session: inSensitive (the key
 * bytes) encrypted; outPrivate is sealed to the primary anyway.
 */
static int
create_obj(struct tpm *t, const TPM2B_PUBLIC *tmpl,
    const TPM2B_SENSITIVE_CREATE *s, struct tpm_obj *ret)
{
	TSS2_SYS_CONTEXT *sys;
	struct tpm_auth pa;
	TPM2B_DATA outside;
	TPML_PCR_SELECTION pcrs;
	TPM2B_CREATION_DATA cdata;
	TPM2B_DIGEST chash;
	TPMT_TK_CREATION ticket;
	unsigned tries = 0;
	TSS2_RC rc;
	int r;

	memset(&pa, 0, sizeof(pa));
	memset(&outside, 0, sizeof(outside));
	memset(&pcrs, 0, sizeof(pcrs));
	memset(&cdata, 0, sizeof(cdata));
	memset(&ticket, 0, sizeof(ticket));
	memset(&chash, 0, sizeof(chash));
	if ((r = need_primary(t)) != 0)
		return r;
	if ((rc = Esys_TR_GetTpmHandle(t->esys, t->primary, &pa.handle)) !=
	    TSS2_RC_SUCCESS)
		return tss_fail(t, "primary's handle", rc, TPM_CTX_OP);
	pa.name = t->primary_name;	/* empty authValue */
	do {
		if ((r = sess_prep(t, &sys)) != 0)
			return r;
		rc = Tss2_Sys_Create_Prepare(sys, pa.handle, s, tmpl,
		    &outside, &pcrs);
	} while ((r = sess_run(t, "Create", rc, TPM2_CC_Create, &pa,
	    TPM_SESS_IN, TPM_CTX_CREATE, &tries)) == TPM_AGAIN);
	if (r != 0)
		return r;
	rc = Tss2_Sys_Create_Complete(sys, &ret->priv, &ret->pub, &cdata,
	    &chash, &ticket);
	m2m_tpm_sess_clean(t->fs);
	if (rc != TSS2_RC_SUCCESS)
		return tss_fail(t, "Create (response)", rc, TPM_CTX_CREATE);
	return 0;
}

/*
 * A blob of the given kind holding key[0..len) with authValue a: the
 * operational object, and for HMAC keys the sealed copy (see the top).
 */
static int
wrap_locked(struct tpm *t, int kind, const uint8_t *key, size_t len,
    const TPM2B_AUTH *a, uint8_t **ret_blob, size_t *ret_len)
{
	TPM2B_SENSITIVE_CREATE s;
	TPM2B_PUBLIC tmpl;
	struct tpm_blob b;
	int r = M2M_ERR_INTERNAL;

	memset(&s, 0, sizeof(s));
	memset(&b, 0, sizeof(b));
	s.sensitive.userAuth = *a;
	s.sensitive.data.size = (UINT16)len;
	memcpy(s.sensitive.data.buffer, key, len);
	b.kind = kind;
	switch (kind) {
	case M2M_KIND_HMAC:
		m2m_tpm_tmpl_hmac(len, &tmpl);
		break;
	case M2M_KIND_AES:
		m2m_tpm_tmpl_aes((unsigned)len * 8, &tmpl);
		break;
	default:
		m2m_tpm_tmpl_sealed(1, &tmpl);	/* TPM_KIND_PIN */
		break;
	}
	if ((r = create_obj(t, &tmpl, &s, &b.obj)) != 0)
		goto out;
	if (kind != TPM_KIND_PIN) {
		m2m_tpm_tmpl_sealed(0, &tmpl);
		if ((r = create_obj(t, &tmpl, &s, &b.sealed)) != 0)
			goto out;
		b.flags |= TPM_BLOB_F_SEALED;
	}
	r = m2m_tpm_blob_build(&b, ret_blob, ret_len);
 out:
	m2m_wipe(&s, sizeof(s));
	return r;
}

static int
wrap_common(void *impl, enum m2m_key_kind kind, const uint8_t *key,
    size_t len, const uint8_t *auth, size_t authlen, uint8_t **ret_blob,
    size_t *ret_bloblen)
{
	struct tpm *t = impl;
	TPM2B_AUTH a;
	uint8_t *blob = NULL;
	size_t bloblen = 0;
	int r = M2M_ERR_INTERNAL;

	memset(&a, 0, sizeof(a));
	if (t == NULL || key == NULL || ret_blob == NULL ||
	    ret_bloblen == NULL || (auth == NULL && authlen != 0) ||
	    authlen > TPM_PIN_MAX)
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
		return M2M_ERR_INVALID_ARGUMENT;
	}
	if ((r = auth_value(auth, authlen, 0, &a)) != 0)
		return r;
	pthread_mutex_lock(&t->lock);
	RUN_CALL(t, r, wrap_locked(t, kind, key, len, &a, &blob, &bloblen));
	pthread_mutex_unlock(&t->lock);
	m2m_wipe(&a, sizeof(a));
	if (r != 0)
		return r;
	*ret_blob = blob;
	*ret_bloblen = bloblen;
	return 0;
}

static int
tpm_wrap(void *impl, enum m2m_key_kind kind, const uint8_t *key, size_t len,
    uint8_t **ret_blob, size_t *ret_bloblen)
{
	return wrap_common(impl, kind, key, len, NULL, 0, ret_blob,
	    ret_bloblen);
}

static int
tpm_wrap_auth(void *impl, enum m2m_key_kind kind, const uint8_t *key,
    size_t len, const uint8_t *auth, size_t authlen, uint8_t **ret_blob,
    size_t *ret_bloblen)
{
	return wrap_common(impl, kind, key, len, auth, authlen, ret_blob,
	    ret_bloblen);
}

/* ---- HMAC --------------------------------------------------------------- */

/* One TPM2_HMAC: message in, MAC out, both encrypted. */
static int
hmac_one(struct tpm *t, const struct tpm_auth *key, TPMI_ALG_HASH alg,
    size_t olen, const uint8_t *msg, size_t msglen, uint8_t *out)
{
	TSS2_SYS_CONTEXT *sys;
	TPM2B_MAX_BUFFER buf;
	TPM2B_DIGEST res;
	unsigned tries = 0;
	TSS2_RC rc;
	int r;

	memset(&res, 0, sizeof(res));
	buf.size = (UINT16)msglen;
	if (msglen > 0)
		memcpy(buf.buffer, msg, msglen);
	do {
		if ((r = sess_prep(t, &sys)) != 0)
			break;
		rc = Tss2_Sys_HMAC_Prepare(sys, key->handle, &buf, alg);
	} while ((r = sess_run(t, "HMAC", rc, TPM2_CC_HMAC, key,
	    TPM_SESS_IN | TPM_SESS_OUT, TPM_CTX_OP, &tries)) == TPM_AGAIN);
	m2m_wipe(&buf, sizeof(buf));
	if (r != 0)
		return r;
	rc = Tss2_Sys_HMAC_Complete(sys, &res);
	m2m_tpm_sess_clean(t->fs);
	if (rc != TSS2_RC_SUCCESS)
		r = tss_fail(t, "HMAC (response)", rc, TPM_CTX_OP);
	else if (res.size != olen) {
		m2m_error("tpm: HMAC of %u bytes, expected %zu",
		    (unsigned)res.size, olen);
		r = M2M_ERR_BACKEND;
	} else
		memcpy(out, res.buffer, olen);
	m2m_wipe(&res, sizeof(res));
	return r;
}

/*
 * An HMAC sequence, for a message longer than one TPM buffer: HMAC_Start
 * with the key, SequenceUpdate for every full buffer, SequenceComplete
 * (MAC out encrypted).  The sequence object has an empty authValue and
 * an empty name (its nameAlg is TPM_ALG_NULL).
 */
static int
hmac_seq(struct tpm *t, const struct tpm_auth *key, TPMI_ALG_HASH alg,
    size_t olen, const uint8_t *msg, size_t msglen, uint8_t *out)
{
	TSS2_SYS_CONTEXT *sys;
	struct tpm_auth seq;
	TPM2B_MAX_BUFFER buf;
	TPM2B_AUTH noauth;
	TPM2B_DIGEST res;
	TPMT_TK_HASHCHECK tk;
	unsigned tries = 0;
	size_t n;
	TSS2_RC rc;
	int r;

	memset(&seq, 0, sizeof(seq));
	memset(&noauth, 0, sizeof(noauth));
	memset(&res, 0, sizeof(res));
	do {
		if ((r = sess_prep(t, &sys)) != 0)
			return r;
		rc = Tss2_Sys_HMAC_Start_Prepare(sys, key->handle, &noauth,
		    alg);
	} while ((r = sess_run(t, "HMAC_Start", rc, TPM2_CC_HMAC_Start, key,
	    TPM_SESS_IN, TPM_CTX_OP, &tries)) == TPM_AGAIN);
	if (r != 0)
		return r;
	rc = Tss2_Sys_HMAC_Start_Complete(sys, &seq.handle);
	m2m_tpm_sess_clean(t->fs);
	if (rc != TSS2_RC_SUCCESS)
		return tss_fail(t, "HMAC_Start (response)", rc, TPM_CTX_OP);
	seq.name.size = 0;	/* a sequence has no nameAlg, so no name */

	for (;;) {
		n = msglen > t->maxbuf ? t->maxbuf : msglen;
		buf.size = (UINT16)n;
		memcpy(buf.buffer, msg, n);
		if (n == msglen) {
			do {
				if ((r = sess_prep(t, &sys)) != 0)
					break;
				rc = Tss2_Sys_SequenceComplete_Prepare(sys,
				    seq.handle, &buf, TPM2_RH_NULL);
			} while ((r = sess_run(t, "SequenceComplete", rc,
			    TPM2_CC_SequenceComplete, &seq,
			    TPM_SESS_IN | TPM_SESS_OUT, TPM_CTX_OP, &tries)) ==
			    TPM_AGAIN);
			if (r != 0)
				break;
			rc = Tss2_Sys_SequenceComplete_Complete(sys, &res,
			    &tk);
			m2m_tpm_sess_clean(t->fs);
			seq.handle = 0;	/* the TPM flushed it */
			if (rc != TSS2_RC_SUCCESS)
				r = tss_fail(t, "SequenceComplete (response)",
				    rc, TPM_CTX_OP);
			else if (res.size != olen) {
				m2m_error("tpm: HMAC of %u bytes, expected "
				    "%zu", (unsigned)res.size, olen);
				r = M2M_ERR_BACKEND;
			} else
				memcpy(out, res.buffer, olen);
			break;
		}
		do {
			if ((r = sess_prep(t, &sys)) != 0)
				break;
			rc = Tss2_Sys_SequenceUpdate_Prepare(sys, seq.handle,
			    &buf);
		} while ((r = sess_run(t, "SequenceUpdate", rc,
		    TPM2_CC_SequenceUpdate, &seq, TPM_SESS_IN, TPM_CTX_OP,
		    &tries)) == TPM_AGAIN);
		if (r != 0)
			break;
		m2m_tpm_sess_clean(t->fs);
		msg += n;
		msglen -= n;
	}
	if (seq.handle != 0) {
		CMD(t);
		if ((rc = Tss2_Sys_FlushContext(m2m_tpm_sess_sys(t->fs),
		    seq.handle)) != TSS2_RC_SUCCESS)
			m2m_debug("tpm: FlushContext (sequence): %s",
			    Tss2_RC_Decode(rc));
		m2m_tpm_sess_clean(t->fs);
	}
	m2m_wipe(&buf, sizeof(buf));
	m2m_wipe(&res, sizeof(res));
	return r;
}

/* One HMAC call: the key, then TPM2_HMAC or a sequence. */
static int
hmac_op(struct tpm *t, const struct m2m_keyref *key, enum m2m_hash hash,
    const uint8_t *msg, size_t msglen, uint8_t *res)
{
	struct tpm_auth a;
	ESYS_TR h = ESYS_TR_NONE;
	int tmp = 0, r;

	if ((r = key_acquire(t, key, M2M_KIND_HMAC, &h, &tmp, &a)) != 0)
		return r;
	if (msglen <= t->maxbuf)
		r = hmac_one(t, &a, tpm_hash(hash), m2m_hash_len(hash), msg,
		    msglen, res);
	else
		r = hmac_seq(t, &a, tpm_hash(hash), m2m_hash_len(hash), msg,
		    msglen, res);
	m2m_wipe(&a, sizeof(a));
	key_release(t, &h, tmp);
	return r;
}

static int
tpm_hmac(void *impl, const struct m2m_keyref *key, enum m2m_hash hash,
    const uint8_t *msg, size_t msglen, uint8_t *out)
{
	struct tpm *t = impl;
	uint8_t res[M2M_HASH_MAX_LEN];
	size_t olen = m2m_hash_len(hash);
	int r = M2M_ERR_INTERNAL;

	if (t == NULL || key == NULL || (msg == NULL && msglen != 0) ||
	    out == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if (olen == 0 || tpm_hash(hash) == TPM2_ALG_NULL)
		return M2M_ERR_MECHANISM;
	if (msglen > TPM_DATA_MAX)
		return M2M_ERR_DATA_LEN;
	pthread_mutex_lock(&t->lock);
	RUN_CALL(t, r, hmac_op(t, key, hash, msg, msglen, res));
	pthread_mutex_unlock(&t->lock);
	if (r == 0)
		memcpy(out, res, olen);
	m2m_wipe(res, sizeof(res));
	return r;
}

/* ---- unsealing: HMAC keys' sealed copies, PIN objects ------------------- */

/*
 * Load the sealed object o and unseal it with authValue a (response
 * encrypted) into a new secret; the object is flushed again.
 */
static int
unseal_locked(struct tpm *t, const struct tpm_obj *o, const TPM2B_AUTH *a,
    enum tpm_rc_ctx ctx, struct m2m_secret **ret)
{
	TSS2_SYS_CONTEXT *sys;
	struct tpm_auth ia;
	TPM2B_SENSITIVE_DATA d;
	ESYS_TR h = ESYS_TR_NONE;
	unsigned tries = 0;
	TSS2_RC rc;
	int r;

	memset(&ia, 0, sizeof(ia));
	memset(&d, 0, sizeof(d));
	if ((r = load_obj(t, o, &h)) != 0 ||
	    (r = auth_of(t, h, &o->pub.publicArea, a, &ia)) != 0)
		goto out;
	do {
		if ((r = sess_prep(t, &sys)) != 0)
			goto out;
		rc = Tss2_Sys_Unseal_Prepare(sys, ia.handle);
	} while ((r = sess_run(t, "Unseal", rc, TPM2_CC_Unseal, &ia,
	    TPM_SESS_OUT, ctx, &tries)) == TPM_AGAIN);
	if (r != 0) {
		if (r == M2M_ERR_PIN_LOCKED)
			m2m_error("tpm: TPM is in dictionary-attack lockout: "
			    "PIN checks are refused until it recovers");
		goto out;
	}
	rc = Tss2_Sys_Unseal_Complete(sys, &d);
	m2m_tpm_sess_clean(t->fs);
	if (rc != TSS2_RC_SUCCESS)
		r = tss_fail(t, "Unseal (response)", rc, ctx);
	else
		r = m2m_secret_from(d.buffer, d.size, ret);
 out:
	unload_tmp(t, &h);
	m2m_wipe(&d, sizeof(d));
	m2m_wipe(&ia, sizeof(ia));
	return r;
}

/* The value of an HMAC key, from its sealed copy (level T). */
static int
reveal_locked(struct tpm *t, const struct m2m_keyref *ref,
    struct m2m_secret **ret)
{
	struct tpm_blob b;
	TPM2B_AUTH a;
	int r = M2M_ERR_INTERNAL;

	memset(&a, 0, sizeof(a));
	if ((r = ref_open(ref, &b, &a)) != 0)
		goto out;
	if (!(b.flags & TPM_BLOB_F_SEALED)) {
		/* (not made by this version) no copy: the value stays inside */
		r = M2M_ERR_UNSUPPORTED;
		goto out;
	}
	r = unseal_locked(t, &b.sealed, &a, TPM_CTX_OP, ret);
 out:
	m2m_wipe(&a, sizeof(a));
	return r;
}

static int
tpm_reveal(void *impl, const struct m2m_keyref *key, struct m2m_secret **ret)
{
	struct tpm *t = impl;
	struct m2m_secret *s = NULL;
	int r;

	if (t == NULL || key == NULL || ret == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	pthread_mutex_lock(&t->lock);
	RUN_CALL(t, r, reveal_locked(t, key, &s));
	pthread_mutex_unlock(&t->lock);
	if (r == 0)
		*ret = s;
	return r;
}

static int
tpm_hmac_keymsg(void *impl, const uint8_t *hmac_key, size_t hmac_keylen,
    const struct m2m_keyref *msgkey, enum m2m_hash hash, uint8_t *out)
{
	struct tpm *t = impl;
	struct m2m_secret *k = NULL;
	uint8_t res[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	const EVP_MD *md = evp_hash(hash);
	static const uint8_t empty[1];
	int r = M2M_ERR_INTERNAL;

	if (t == NULL || (hmac_key == NULL && hmac_keylen != 0) ||
	    msgkey == NULL || out == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if (md == NULL)
		return M2M_ERR_MECHANISM;
	if (hmac_keylen > TPM_HMAC_KEY_MAX)
		return M2M_ERR_DATA_LEN;
	if (msgkey->kind != M2M_KIND_HMAC)
		return M2M_ERR_KEY_TYPE;
	pthread_mutex_lock(&t->lock);
	RUN_CALL(t, r, reveal_locked(t, msgkey, &k));
	pthread_mutex_unlock(&t->lock);
	if (r != 0)
		goto out;
	if (HMAC(md, hmac_keylen ? hmac_key : empty, (int)hmac_keylen,
	    m2m_secret_data(k), m2m_secret_len(k), res, &n) == NULL ||
	    n != m2m_hash_len(hash)) {
		r = M2M_ERR_INTERNAL;
		goto out;
	}
	memcpy(out, res, n);
	r = 0;
 out:
	m2m_wipe(res, sizeof(res));
	m2m_secret_free(k);
	return r;
}

/* ---- AES-GCM ------------------------------------------------------------ */

struct ecb_arg {
	struct tpm		*t;
	const struct tpm_auth	*key;
};

/*
 * out[i] = E_K(in[i]) for n blocks, in one TPM2_EncryptDecrypt2: CFB
 * decryption with IV = in[0] and ciphertext c = in[1..n-1] || 0^128 gives
 * p[i] = c[i] ^ E_K(c[i-1]) (c[-1] = IV), so E_K(in[i]) = p[i] ^ c[i].
 * CFB is the one mode every TPM with AES implements.
 */
static int
ecb_cfb(void *argp, const uint8_t *in, uint8_t *out, size_t n)
{
	struct ecb_arg *arg = argp;
	struct tpm *t = arg->t;
	TSS2_SYS_CONTEXT *sys;
	TPM2B_MAX_BUFFER c, p;
	TPM2B_IV iv, ivout;
	size_t i, len = n * 16;
	unsigned tries = 0;
	TSS2_RC rc;
	int r = M2M_ERR_INTERNAL;

	memset(&c, 0, sizeof(c));
	memset(&p, 0, sizeof(p));
	memset(&iv, 0, sizeof(iv));
	memset(&ivout, 0, sizeof(ivout));
	if (M2M_NEVER(n == 0 || len > t->maxbuf))
		goto out;
	iv.size = 16;
	memcpy(iv.buffer, in, 16);
	c.size = (UINT16)len;
	memcpy(c.buffer, in + 16, len - 16);
	memset(c.buffer + len - 16, 0, 16);
	do {
		if ((r = sess_prep(t, &sys)) != 0)
			goto out;
		rc = Tss2_Sys_EncryptDecrypt2_Prepare(sys, arg->key->handle,
		    &c, TPM2_YES, TPM2_ALG_CFB, &iv);
	} while ((r = sess_run(t, "EncryptDecrypt2", rc,
	    TPM2_CC_EncryptDecrypt2, arg->key, TPM_SESS_IN | TPM_SESS_OUT,
	    TPM_CTX_OP, &tries)) == TPM_AGAIN);
	if (r != 0)
		goto out;
	rc = Tss2_Sys_EncryptDecrypt2_Complete(sys, &p, &ivout);
	m2m_tpm_sess_clean(t->fs);
	if (rc != TSS2_RC_SUCCESS) {
		r = tss_fail(t, "EncryptDecrypt2 (response)", rc, TPM_CTX_OP);
		goto out;
	}
	if (p.size != len) {
		m2m_error("tpm: EncryptDecrypt2 returned %u bytes, "
		    "expected %zu", (unsigned)p.size, len);
		r = M2M_ERR_BACKEND;
		goto out;
	}
	for (i = 0; i < len; i++)
		out[i] = p.buffer[i] ^ c.buffer[i];
	r = 0;
 out:
	m2m_wipe(&c, sizeof(c));
	m2m_wipe(&p, sizeof(p));
	m2m_wipe(&iv, sizeof(iv));
	m2m_wipe(&ivout, sizeof(ivout));
	return r;
}

/* The host oracle of level T: AES-ECB with the unsealed key. */
static int
ecb_host(void *argp, const uint8_t *in, uint8_t *out, size_t n)
{
	EVP_CIPHER_CTX *c = argp;
	int len = 0;

	if (n > INT_MAX / 16 ||
	    EVP_EncryptUpdate(c, out, &len, in, (int)(n * 16)) != 1 ||
	    (size_t)len != n * 16)
		return M2M_ERR_INTERNAL;
	return 0;
}

/*
 * AES-GCM at level T, for TPMs without TPM2_EncryptDecrypt2: the key is
 * unsealed into locked memory for this call only, then wiped.
 */
static int
aes_gcm_level_t(struct tpm *t, const struct m2m_keyref *key, int encrypt,
    const uint8_t *iv, size_t ivlen, const uint8_t *aad, size_t aadlen,
    size_t taglen, const uint8_t *in, size_t inlen, uint8_t *out,
    size_t *ret_outlen)
{
	struct m2m_secret *k = NULL;
	EVP_CIPHER_CTX *c = NULL;
	const EVP_CIPHER *ci;
	size_t outlen = 0;
	int r = M2M_ERR_INTERNAL;

	if (key->kind != M2M_KIND_AES)
		return M2M_ERR_KEY_TYPE;
	pthread_mutex_lock(&t->lock);
	RUN_CALL(t, r, reveal_locked(t, key, &k));
	pthread_mutex_unlock(&t->lock);
	if (r != 0)
		goto out;
	switch (m2m_secret_len(k)) {
	case 16:	ci = EVP_aes_128_ecb(); break;
	case 24:	ci = EVP_aes_192_ecb(); break;
	case 32:	ci = EVP_aes_256_ecb(); break;
	default:	r = M2M_ERR_BACKEND; goto out;
	}
	if ((c = EVP_CIPHER_CTX_new()) == NULL) {
		r = M2M_ERR_NO_MEMORY;
		goto out;
	}
	if (EVP_EncryptInit_ex(c, ci, NULL, m2m_secret_data(k), NULL) != 1 ||
	    EVP_CIPHER_CTX_set_padding(c, 0) != 1) {
		r = M2M_ERR_INTERNAL;
		goto out;
	}
	r = m2m_tpm_gcm(ecb_host, c, 64, encrypt, iv, ivlen, aad, aadlen,
	    taglen, in, inlen, out, &outlen);
 out:
	EVP_CIPHER_CTX_free(c);	/* cleanses the key schedule */
	m2m_secret_free(k);
	if (r == 0)
		*ret_outlen = outlen;
	return r;
}

/* see tpm_int.h */
void
m2m_tpm_test_level_t(void *impl)
{
	struct tpm *t = impl;

	t->have_encdec = 0;
}

/* One AES-GCM call at level H (out is written only on success). */
static int
gcm_op(struct tpm *t, const struct m2m_keyref *key, int encrypt,
    const uint8_t *iv, size_t ivlen, const uint8_t *aad, size_t aadlen,
    size_t taglen, const uint8_t *in, size_t inlen, uint8_t *out,
    size_t *ret_outlen)
{
	struct tpm_auth a;
	struct ecb_arg arg;
	ESYS_TR h = ESYS_TR_NONE;
	int tmp = 0, r;

	if ((r = key_acquire(t, key, M2M_KIND_AES, &h, &tmp, &a)) != 0)
		return r;
	arg.t = t;
	arg.key = &a;
	r = m2m_tpm_gcm(ecb_cfb, &arg, t->maxbuf / 16, encrypt, iv, ivlen,
	    aad, aadlen, taglen, in, inlen, out, ret_outlen);
	m2m_wipe(&a, sizeof(a));
	key_release(t, &h, tmp);
	return r;
}

static int
tpm_aes_gcm(void *impl, const struct m2m_keyref *key, int encrypt,
    const uint8_t *iv, size_t ivlen, const uint8_t *aad, size_t aadlen,
    size_t taglen, const uint8_t *in, size_t inlen, uint8_t *out,
    size_t *ret_outlen)
{
	struct tpm *t = impl;
	size_t outlen = 0;
	int r = M2M_ERR_INTERNAL;

	if (t == NULL || key == NULL || (aad == NULL && aadlen != 0) ||
	    (in == NULL && inlen != 0) || out == NULL || ret_outlen == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if (iv == NULL || ivlen < 1 || ivlen > 256 || taglen < 4 ||
	    taglen > 16)
		return M2M_ERR_MECHANISM_PARAM;
	if (inlen > TPM_GCM_DATA_MAX || aadlen > TPM_GCM_DATA_MAX ||
	    (!encrypt && inlen < taglen))
		return M2M_ERR_DATA_LEN;
	if (!t->have_encdec)
		return aes_gcm_level_t(t, key, encrypt, iv, ivlen, aad, aadlen,
		    taglen, in, inlen, out, ret_outlen);
	pthread_mutex_lock(&t->lock);
	RUN_CALL(t, r, gcm_op(t, key, encrypt, iv, ivlen, aad, aadlen, taglen,
	    in, inlen, out, &outlen));
	pthread_mutex_unlock(&t->lock);
	if (r == 0)
		*ret_outlen = outlen;
	return r;
}

/* ---- random, forget, stats ---------------------------------------------- */

/* len random bytes from TPM2_GetRandom (response encrypted) into out. */
static int
random_locked(struct tpm *t, uint8_t *out, size_t len)
{
	TSS2_SYS_CONTEXT *sys;
	TPM2B_DIGEST rb;
	unsigned tries = 0;
	size_t n;
	TSS2_RC rc;
	int r;

	while (len > 0) {
		/* no handle: the session only encrypts the bytes */
		do {
			if ((r = sess_prep(t, &sys)) != 0)
				return r;
			rc = Tss2_Sys_GetRandom_Prepare(sys,
			    len < TPM_RANDOM_CHUNK ? (UINT16)len :
			    TPM_RANDOM_CHUNK);
		} while ((r = sess_run(t, "GetRandom", rc, TPM2_CC_GetRandom,
		    NULL, TPM_SESS_OUT, TPM_CTX_OP, &tries)) == TPM_AGAIN);
		if (r != 0)
			return r;
		rc = Tss2_Sys_GetRandom_Complete(sys, &rb);
		m2m_tpm_sess_clean(t->fs);
		if (rc != TSS2_RC_SUCCESS) {
			m2m_wipe(&rb, sizeof(rb));
			return tss_fail(t, "GetRandom (response)", rc,
			    TPM_CTX_OP);
		}
		n = rb.size;
		if (n == 0 || n > len) {
			m2m_wipe(&rb, sizeof(rb));
			m2m_error("tpm: GetRandom returned %zu bytes", n);
			return M2M_ERR_RANDOM;
		}
		memcpy(out, rb.buffer, n);
		m2m_wipe(&rb, sizeof(rb));
		out += n;
		len -= n;
	}
	return 0;
}

static int
tpm_random(void *impl, uint8_t *out, size_t len)
{
	struct tpm *t = impl;
	struct m2m_secret *s = NULL;
	int r;

	if (t == NULL || (out == NULL && len != 0))
		return M2M_ERR_INVALID_ARGUMENT;
	if (len > TPM_RANDOM_MAX)
		return M2M_ERR_DATA_LEN;
	if ((r = m2m_secret_new(len, &s)) != 0)
		return r;
	pthread_mutex_lock(&t->lock);
	RUN_CALL(t, r, random_locked(t, m2m_secret_data(s), len));
	pthread_mutex_unlock(&t->lock);
	if (r == 0 && len > 0)
		memcpy(out, m2m_secret_data(s), len);
	m2m_secret_free(s);
	return r;
}

static void
tpm_forget(void *impl, uint64_t id)
{
	struct tpm *t = impl;
	struct tpm_ent *e;

	if (t == NULL || id == 0)
		return;
	pthread_mutex_lock(&t->lock);
	if ((e = ent_find(t, id)) != NULL)
		ent_clear(t, e);
	pthread_mutex_unlock(&t->lock);
}

static void
tpm_stats(void *impl, struct m2m_backend_stats *ret)
{
	struct tpm *t = impl;

	if (t == NULL || ret == NULL)
		return;
	pthread_mutex_lock(&t->lock);
	*ret = t->st;
	pthread_mutex_unlock(&t->lock);
}

/* ---- PIN binding -------------------------------------------------------- */

/* pin_seal in the TPM: a fresh objauth when asked, sealed under a. */
static int
pin_seal_op(struct tpm *t, int fresh, uint8_t *val, size_t vlen,
    const TPM2B_AUTH *a, uint8_t **ret_blob, size_t *ret_bloblen)
{
	int r;

	if (fresh && (r = random_locked(t, val, vlen)) != 0)
		return r;
	return wrap_locked(t, TPM_KIND_PIN, val, vlen, a, ret_blob,
	    ret_bloblen);
}

static int
tpm_pin_seal(void *impl, const uint8_t *pin, size_t pinlen,
    const struct m2m_secret *objauth, uint8_t **ret_blob, size_t *ret_bloblen)
{
	struct tpm *t = impl;
	uint8_t val[TPM_SYM_DATA_MAX];
	size_t vlen = TPM_OBJAUTH_LEN;
	uint8_t *blob = NULL;
	size_t bloblen = 0;
	TPM2B_AUTH a;
	int r = M2M_ERR_INTERNAL;

	memset(&a, 0, sizeof(a));
	if (t == NULL || (pin == NULL && pinlen != 0) || ret_blob == NULL ||
	    ret_bloblen == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if (pinlen > TPM_PIN_MAX)
		return M2M_ERR_PIN_LEN;
	if (objauth != NULL) {
		vlen = m2m_secret_len(objauth);
		if (vlen == 0 || vlen > sizeof(val))
			return M2M_ERR_INVALID_ARGUMENT;
	}
	if ((r = auth_value(pin, pinlen, 1, &a)) != 0)
		return r;
	if (objauth != NULL)
		memcpy(val, m2m_secret_data(objauth), vlen);
	pthread_mutex_lock(&t->lock);
	RUN_CALL(t, r, pin_seal_op(t, objauth == NULL, val, vlen, &a, &blob,
	    &bloblen));
	pthread_mutex_unlock(&t->lock);
	m2m_wipe(val, sizeof(val));
	m2m_wipe(&a, sizeof(a));
	if (r != 0)
		return r;
	*ret_blob = blob;
	*ret_bloblen = bloblen;
	return 0;
}

/* pin_check in the TPM: load the PIN object, unseal with the PIN. */
static int
pin_check_op(struct tpm *t, const struct tpm_obj *o, const TPM2B_AUTH *a,
    struct m2m_secret **ret)
{
	return unseal_locked(t, o, a, TPM_CTX_PIN, ret);
}

static int
tpm_pin_check(void *impl, const uint8_t *blob, size_t bloblen,
    const uint8_t *pin, size_t pinlen, struct m2m_secret **ret_objauth)
{
	struct tpm *t = impl;
	struct m2m_secret *s = NULL;
	struct tpm_blob b;
	TPM2B_AUTH a;
	int r = M2M_ERR_INTERNAL;

	memset(&a, 0, sizeof(a));
	if (t == NULL || (pin == NULL && pinlen != 0) || ret_objauth == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if (pinlen > TPM_PIN_MAX)
		return M2M_ERR_PIN_LEN;
	if ((r = m2m_tpm_blob_parse(blob, bloblen, &b)) != 0)
		return r;
	if (b.kind != TPM_KIND_PIN)
		return M2M_ERR_KEY_TYPE;
	if ((r = auth_value(pin, pinlen, 1, &a)) != 0)
		return r;
	pthread_mutex_lock(&t->lock);
	RUN_CALL(t, r, pin_check_op(t, &b.obj, &a, &s));
	pthread_mutex_unlock(&t->lock);
	m2m_wipe(&a, sizeof(a));
	if (r != 0)
		return r;
	*ret_objauth = s;
	return 0;
}

/* ---- binding MACs (tpm_bind.c) ----------------------------------------- */

/*
 * CreatePrimary of the binding key (in a scratch slot, like a key loaded
 * for one call), one TPM2_HMAC through the session, flush.
 */
static int
bind_op(struct tpm *t, const uint8_t *msg, size_t msglen, uint8_t *out)
{
	TPM2B_PUBLIC *pub = NULL, tmpl;
	TPM2B_SENSITIVE_CREATE sens;
	TPM2B_DATA outside;
	TPML_PCR_SELECTION pcrs;
	struct tpm_auth a;
	ESYS_TR h = ESYS_TR_NONE;
	TSS2_RC rc;
	int r;

	memset(&sens, 0, sizeof(sens));
	memset(&outside, 0, sizeof(outside));
	memset(&pcrs, 0, sizeof(pcrs));
	memset(&a, 0, sizeof(a));
	m2m_tpm_tmpl_bind(&tmpl);
	if ((r = make_room(t)) != 0)
		return r;
	CMD(t);
	rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD,
	    ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl, &outside, &pcrs, &h,
	    &pub, NULL, NULL, NULL);
	if (rc != TSS2_RC_SUCCESS)
		return tss_fail(t, "CreatePrimary (binding key)", rc,
		    TPM_CTX_OP);
	t->nloaded++;
	if ((r = auth_of(t, h, &pub->publicArea, NULL, &a)) == 0)
		r = hmac_one(t, &a, TPM2_ALG_SHA256, M2M_BIND_MAC_LEN, msg,
		    msglen, out);
	m2m_wipe(&a, sizeof(a));
	unload_tmp(t, &h);
	Esys_Free(pub);
	return r;
}

/* see backend.h and tpm_bind.c */
static int
tpm_bind_mac(void *impl, const uint8_t *msg, size_t msglen, uint8_t *out)
{
	struct tpm *t = impl;
	uint8_t res[M2M_BIND_MAC_LEN];
	int r = M2M_ERR_INTERNAL;

	if (t == NULL || msg == NULL || msglen == 0 ||
	    msglen > M2M_BIND_MSG_MAX || msglen > t->maxbuf || out == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	pthread_mutex_lock(&t->lock);
	RUN_CALL(t, r, bind_op(t, msg, msglen, res));
	pthread_mutex_unlock(&t->lock);
	if (r == 0)
		memcpy(out, res, sizeof(res));
	return r;
}

const struct m2m_backend_ops m2m_tpm_backend_ops = {
	.name = "tpm",
	.open = tpm_open,
	.close = tpm_close,
	.wrap = tpm_wrap,
	.hmac = tpm_hmac,
	.hmac_keymsg = tpm_hmac_keymsg,
	.aes_gcm = tpm_aes_gcm,
	.reveal = tpm_reveal,
	.random = tpm_random,
	.forget = tpm_forget,
	.stats = tpm_stats,
	.pin_seal = tpm_pin_seal,
	.pin_check = tpm_pin_check,
	.wrap_auth = tpm_wrap_auth,
	.bind_mac = tpm_bind_mac,
};
