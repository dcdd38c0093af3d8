/*
 * m2mtoken: opening and closing the TPM backend: the configuration's
 * checks, the TCTI and ESAPI contexts, the TPM's capacities, the storage
 * primary (re-created from its template, or kept at a persistent handle)
 * and the session.  The mode (exclusive or shared) is chosen here; what
 * it means is at the top of tpm_shared.c.  Contracts in tpm_int.h;
 * docs/architecture.md for the layout.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "conf.h"
#include "err.h"
#include "log.h"
#include "secret.h"
#include "tpm_int.h"

#define TPM_DEFAULT_TCTI	"device:/dev/tpmrm0"
#define TPM_TCTI_MAX		512	/* longest TCTI configuration string */
#define TPM_DEFAULT_CACHE	64
#define TPM_SHARED_CACHE_MAX	256	/* saved key contexts kept (shared) */
#define PERSISTENT_FIRST	0x81000000UL
#define PERSISTENT_LAST		0x817fffffUL	/* owner persistent range */

/*
 * One TPM property (0 when the TPM does not report it).  The TSS2_RC as
 * it is: the caller decides (Startup) and maps it (m2m_tpm_fail).
 */
static TSS2_RC
get_prop(struct tpm *t, TPM2_PT pt, UINT32 *ret)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	TSS2_RC rc;
	UINT32 i;

	TPM_CMD(t);
	rc = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE,
	    ESYS_TR_NONE, TPM2_CAP_TPM_PROPERTIES, pt, 1, &more, &cap);
	if (rc != TSS2_RC_SUCCESS)
		return rc;
	*ret = 0;
	for (i = 0; i < cap->data.tpmProperties.count &&
	    i < TPM2_MAX_TPM_PROPERTIES; i++)
		if (cap->data.tpmProperties.tpmProperty[i].property == pt)
			*ret = cap->data.tpmProperties.tpmProperty[i].value;
	Esys_Free(cap);
	return TSS2_RC_SUCCESS;
}

/* Does the TPM implement command cc?  TSS2_RC_SUCCESS (and *ret) or rc. */
static TSS2_RC
has_command(struct tpm *t, TPM2_CC cc, int *ret)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	TSS2_RC rc;

	TPM_CMD(t);
	rc = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE,
	    ESYS_TR_NONE, TPM2_CAP_COMMANDS, cc, 1, &more, &cap);
	if (rc != TSS2_RC_SUCCESS)
		return rc;
	*ret = cap->data.command.count >= 1 &&
	    (cap->data.command.commandAttributes[0] &
	    TPMA_CC_COMMANDINDEX_MASK) == (cc & TPMA_CC_COMMANDINDEX_MASK);
	Esys_Free(cap);
	return TSS2_RC_SUCCESS;
}

/* Capacities: input buffer, transient slots -> cache size. */
static int
probe(struct tpm *t, size_t cache_size, char *errbuf, size_t errlen)
{
	UINT32 inbuf = 0, tmin = 0, tavail = 0, slots;
	TSS2_RC rc;

	rc = get_prop(t, TPM2_PT_INPUT_BUFFER, &inbuf);
	if (rc != TSS2_RC_SUCCESS &&
	    m2m_tpm_rc_base(rc) == TPM2_RC_INITIALIZE) {
		/* a simulator without startup: do it once */
		TPM_CMD(t);
		if ((rc = Esys_Startup(t->esys, TPM2_SU_CLEAR)) ==
		    TSS2_RC_SUCCESS)
			rc = get_prop(t, TPM2_PT_INPUT_BUFFER,
			    &inbuf);
	}
	if (rc == TSS2_RC_SUCCESS)
		rc = get_prop(t, TPM2_PT_HR_TRANSIENT_MIN, &tmin);
	if (rc == TSS2_RC_SUCCESS)
		rc = get_prop(t, TPM2_PT_HR_TRANSIENT_AVAIL,
		    &tavail);
	if (rc != TSS2_RC_SUCCESS) {
		m2m_errbuf_set(errbuf, errlen, "TPM: GetCapability failed: %s",
		    Tss2_RC_Decode(rc));
		return m2m_tpm_fail(t, "GetCapability", rc, TPM_CTX_OPEN);
	}
	t->maxbuf = inbuf == 0 || inbuf > TPM2_MAX_DIGEST_BUFFER ?
	    TPM2_MAX_DIGEST_BUFFER : inbuf;
	if (t->maxbuf < 32) {
		m2m_errbuf_set(errbuf, errlen, "TPM: input buffer of %u bytes "
		    "is too small", (unsigned)inbuf);
		return M2M_ERR_BACKEND;
	}
	slots = tmin == 0 ? 3 : tmin;
	/* shared: another process may be mid-call; it frees its slots after */
	if (!t->shared && tavail != 0 && tavail < slots)
		slots = tavail;
	if (slots < 3) {
		m2m_errbuf_set(errbuf, errlen, "TPM: only %u transient object "
		    "slots are free, 3 are needed (another program holds "
		    "objects; use a resource manager such as /dev/tpmrm0)",
		    (unsigned)slots);
		return M2M_ERR_BACKEND;
	}
	if ((rc = has_command(t, TPM2_CC_EncryptDecrypt2,
	    &t->have_encdec)) != TSS2_RC_SUCCESS) {
		m2m_errbuf_set(errbuf, errlen, "TPM: GetCapability failed: %s",
		    Tss2_RC_Decode(rc));
		return m2m_tpm_fail(t, "GetCapability", rc, TPM_CTX_OPEN);
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
	TPM_CMD(t);
	rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD,
	    ESYS_TR_NONE, ESYS_TR_NONE, &s, &tmpl, &outside, &pcrs, ret,
	    &pub, NULL, NULL, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		m2m_errbuf_set(errbuf, errlen, "TPM: cannot create the storage "
		    "primary key in the owner hierarchy: %s",
		    Tss2_RC_Decode(rc));
		return m2m_tpm_fail(t, "CreatePrimary", rc, TPM_CTX_OPEN);
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
	TPM_CMD(t);
	rc = Esys_TR_FromTPMPublic(t->esys, (TPM2_HANDLE)handle,
	    ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &tr);
	if (rc == TSS2_RC_SUCCESS) {
		TPM_CMD(t);
		rc = Esys_ReadPublic(t->esys, tr, ESYS_TR_NONE, ESYS_TR_NONE,
		    ESYS_TR_NONE, &pub, NULL, NULL);
		if (rc != TSS2_RC_SUCCESS) {
			m2m_errbuf_set(errbuf, errlen, "TPM: cannot read "
			    "persistent key 0x%08lx: %s", handle,
			    Tss2_RC_Decode(rc));
			r = m2m_tpm_fail(t, "ReadPublic", rc, TPM_CTX_OPEN);
			goto out;
		}
		if (!primary_matches(&pub->publicArea)) {
			m2m_errbuf_set(errbuf, errlen, "TPM: persistent handle "
			    "0x%08lx holds a key that is not an m2mtoken "
			    "storage key", handle);
			r = M2M_ERR_BACKEND;
			goto out;
		}
		t->primary_pub = pub->publicArea;
	} else if (m2m_tpm_rc_base(rc) == TPM2_RC_HANDLE) {
		/* first use: create it and make it persistent */
		if ((r = create_primary(t, &tmp, errbuf, errlen)) != 0)
			goto out;
		TPM_CMD(t);
		rc = Esys_EvictControl(t->esys, ESYS_TR_RH_OWNER, tmp,
		    ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
		    (TPMI_DH_PERSISTENT)handle, &tr);
		if (rc != TSS2_RC_SUCCESS) {
			m2m_errbuf_set(errbuf, errlen, "TPM: cannot make the "
			    "storage key persistent at 0x%08lx: %s", handle,
			    Tss2_RC_Decode(rc));
			r = m2m_tpm_fail(t, "EvictControl", rc, TPM_CTX_OPEN);
			goto out;
		}
	} else {
		m2m_errbuf_set(errbuf, errlen, "TPM: cannot look up persistent "
		    "handle 0x%08lx: %s", handle, Tss2_RC_Decode(rc));
		r = m2m_tpm_fail(t, "ReadPublic", rc, TPM_CTX_OPEN);
		goto out;
	}
	t->primary = tr;
	tr = ESYS_TR_NONE;	/* transferred */
	t->primary_persistent = 1;
	r = 0;
 out:
	if (tr != ESYS_TR_NONE)
		(void)Esys_TR_Close(t->esys, &tr);
	m2m_tpm_flush(t, &tmp);
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
		TPM_CMD(t);
		m2m_tpm_sess_forget(t->fs);
	}
	if (t->primary_persistent)
		(void)Esys_TR_Close(t->esys, &t->primary);
	else
		m2m_tpm_flush(t, &t->primary);
	t->primary = ESYS_TR_NONE;
	t->primary_persistent = 0;
	t->primary_live = 0;
	m2m_tpm_esys_free_wiped(t->primary_ctx, sizeof(*t->primary_ctx));
	t->primary_ctx = NULL;
}

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
		TPM_CMD(t);
		rc = Esys_ContextSave(t->esys, t->primary, &t->primary_ctx);
		if (rc != TSS2_RC_SUCCESS) {
			t->primary_ctx = NULL;
			m2m_errbuf_set(errbuf, errlen, "TPM: cannot save the "
			    "primary key's context: %s", Tss2_RC_Decode(rc));
			return m2m_tpm_fail(t, "ContextSave", rc, TPM_CTX_OPEN);
		}
		t->primary_live = 1;
	}
	if ((r = m2m_tpm_obj_name(&t->primary_pub, &t->primary_name)) != 0)
		return r;
	/*
	 * The primary's public key comes in answers nothing authenticates
	 * (CreatePrimary, ReadPublic): whatever answers for the TPM could
	 * give its own, and every session salted to it would be open to it.
	 * So the store keeps the name seen at the first open (backend.h,
	 * anchor), and no session starts with another.
	 */
	if (t->anchor.size == 0)
		t->anchor = t->primary_name;
	else if (t->anchor.size != t->primary_name.size ||
	    memcmp(t->anchor.name, t->primary_name.name,
	    t->anchor.size) != 0) {
		m2m_errbuf_set(errbuf, errlen, "TPM: the storage primary key "
		    "is not the one this store was made with (another TPM, "
		    "a cleared owner hierarchy, or something between the "
		    "module and the TPM answering for it): nothing is sent "
		    "to it");
		return M2M_ERR_BACKEND;
	}
	if ((r = m2m_tpm_need_sess(t)) != 0) {
		m2m_errbuf_set(errbuf, errlen, "TPM: cannot start a salted "
		    "session: %s", m2m_strerror(r));
		return r;
	}
	m2m_tpm_call_end(t);
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

/* see tpm_int.h */
int
m2m_tpm_open(const struct m2m_conf *conf, void **ret_impl, char *errbuf,
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
		m2m_errbuf_set(errbuf, errlen, "[tpm] tcti: longer than %d "
		    "bytes", TPM_TCTI_MAX);
		return M2M_ERR_CONFIG;
	}
	if (conf->tpm_primary_handle != 0 &&
	    (conf->tpm_primary_handle < PERSISTENT_FIRST ||
	    conf->tpm_primary_handle > PERSISTENT_LAST)) {
		m2m_errbuf_set(errbuf, errlen, "[tpm] primary_handle: 0x%lx is "
		    "not an owner persistent handle (0x81000000..0x817fffff)",
		    conf->tpm_primary_handle);
		return M2M_ERR_CONFIG;
	}
	if (conf->tpm_mode != M2M_TPM_MODE_AUTO &&
	    conf->tpm_mode != M2M_TPM_MODE_SHARED &&
	    conf->tpm_mode != M2M_TPM_MODE_EXCLUSIVE) {
		m2m_errbuf_set(errbuf, errlen, "[tpm] mode: unknown value %d",
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
	if (conf->backend_anchor_len > sizeof(t->anchor.name)) {
		m2m_errbuf_set(errbuf, errlen, "TPM: the store's anchor is "
		    "%zu bytes, not a TPM name", conf->backend_anchor_len);
		pthread_mutex_destroy(&t->lock);
		free(t);
		return M2M_ERR_STORE_CORRUPT;
	}
	t->anchor.size = (UINT16)conf->backend_anchor_len;
	memcpy(t->anchor.name, conf->backend_anchor, conf->backend_anchor_len);
	t->shared = mode_is_shared(conf->tpm_mode, tcti);
	t->seed = (uint64_t)getpid() ^ (uint64_t)(uintptr_t)t;
	if (t->shared)
		m2m_tpm_shared_lock_open(t, conf->store_path);

	if ((rc = Tss2_TctiLdr_Initialize(tcti, &t->tcti)) !=
	    TSS2_RC_SUCCESS) {
		t->tcti = NULL;
		m2m_errbuf_set(errbuf, errlen, "TPM not reachable through TCTI "
		    "\"%s\": %s", tcti, Tss2_RC_Decode(rc));
		r = M2M_ERR_BACKEND_ABSENT;
		goto out;
	}
	if ((rc = Esys_Initialize(&t->esys, t->tcti, NULL)) !=
	    TSS2_RC_SUCCESS) {
		t->esys = NULL;
		m2m_errbuf_set(errbuf, errlen, "TPM through TCTI \"%s\": "
		    "ESAPI: %s", tcti, Tss2_RC_Decode(rc));
		r = m2m_tpm_fail(t, "Esys_Initialize", rc, TPM_CTX_OPEN);
		goto out;
	}
	if ((r = m2m_tpm_sess_new(t->tcti, &t->fs)) != 0) {
		m2m_errbuf_set(errbuf, errlen, "TPM: cannot set up the HMAC "
		    "session's context");
		goto out;
	}
	if ((r = probe(t, conf->cache_size, errbuf, errlen)) != 0) {
		if (r == M2M_ERR_BACKEND_ABSENT)
			m2m_errbuf_set(errbuf, errlen, "TPM not reachable "
			    "through TCTI \"%s\"", tcti);
		goto out;
	}
	if ((t->ents = calloc(t->nents, sizeof(*t->ents))) == NULL) {
		r = M2M_ERR_NO_MEMORY;
		goto out;
	}
	for (i = 0; i < t->nents; i++)
		t->ents[i].handle = ESYS_TR_NONE;
	start = m2m_tpm_now_ms();
	if ((r = m2m_tpm_shared_lock(t, start)) != 0) {
		m2m_errbuf_set(errbuf, errlen, "TPM: another process has held "
		    "the shared-mode lock for 20 s");
		goto out;
	}
	for (attempt = 1;; attempt++) {
		t->oom = 0;
		if ((r = open_objects(t, conf->tpm_primary_handle, errbuf,
		    errlen)) == 0)
			break;
		drop_objects(t);
		if (!t->shared || !t->oom ||
		    m2m_tpm_backoff(t, attempt, start) != 0)
			break;
	}
	m2m_tpm_shared_unlock(t);
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
	m2m_tpm_close(t);
	return r;
}

/* see tpm_int.h */
void
m2m_tpm_close(void *impl)
{
	struct tpm *t = impl;
	size_t i;
	int locked;

	if (t == NULL)
		return;
	if (t->esys != NULL) {
		/* without the lock too: flushing takes no slot */
		locked = m2m_tpm_shared_lock(t, m2m_tpm_now_ms()) == 0;
		if (t->ents != NULL)
			for (i = 0; i < t->nents; i++)
				m2m_tpm_ent_clear(t, &t->ents[i]);
		drop_objects(t);	/* a saved session is flushed too */
		if (locked)
			m2m_tpm_shared_unlock(t);
		Esys_Finalize(&t->esys);
	}
	m2m_tpm_sess_free(t->fs);	/* drop_objects flushed its session */
	m2m_tpm_shared_lock_close(t);
	if (t->tcti != NULL)
		Tss2_TctiLdr_Finalize(&t->tcti);
	free(t->ents);
	pthread_mutex_destroy(&t->lock);
	m2m_wipe(t, sizeof(*t));
	free(t);
}
