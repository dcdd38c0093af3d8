/*
 * m2mtoken: PKCS#11 entry points for the library, slots, tokens, sessions
 * and login, and the v2.40 / v3.0 function lists.  Every C_* takes the
 * module lock, looks its session up under it, and maps the result once.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "core.h"
#include "err.h"
#include "log.h"
#include "object.h"
#include "p11.h"
#include "secret.h"
#include "store.h"

#define EXPORT	__attribute__((visibility("default")))

struct p11_global p11;

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t os_lock = PTHREAD_MUTEX_INITIALIZER;
static int initialized;			/* guarded by init_lock + atomics */
static CK_C_INITIALIZE_ARGS app_args;
static void *app_mutex;
static int use_app_mutex;

/*
 * fork(): a child inherits the parent's sessions, logins, store connection
 * and backend.  pthread_atfork handlers hold the module lock across the
 * fork (so the child's copy of the state is consistent) and mark the child
 * uninitialised; its C_Initialize drops the copied sessions, session
 * objects and login secrets (memory only) and keeps the parent's core
 * (SQLite connection, backend handles) unused and unclosed: closing it
 * could checkpoint the parent's WAL or end the parent's sessions in the
 * HSM or TPM.  PKCS#11 v3.0 section 5.4: a child must call C_Initialize.
 */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static int atfork_ok;		/* the handlers are registered */
static int forked;		/* child of an initialised parent */
static int fork_locked;		/* the prepare handler took the lock */
struct orphan {
	struct m2m_core	*core;
	struct orphan	*next;
};
static struct orphan *orphans;	/* parents' cores, never used again */

static void
p11_lock(void)
{
	if (use_app_mutex)
		(void)app_args.LockMutex(app_mutex);
	else
		pthread_mutex_lock(&os_lock);
}

static void
p11_unlock(void)
{
	if (use_app_mutex)
		(void)app_args.UnlockMutex(app_mutex);
	else
		pthread_mutex_unlock(&os_lock);
}

/* Take the module lock if the module is initialised. */
static CK_RV
p11_enter(void)
{
	if (!__atomic_load_n(&initialized, __ATOMIC_ACQUIRE))
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	p11_lock();
	if (!initialized) {
		p11_unlock();
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	}
	return CKR_OK;
}

/* Enter and look the session up under the lock; jumps to out on error. */
#define ENTER_SESSION(h, s) do {					\
	if ((rv = p11_enter()) != CKR_OK)				\
		return rv;						\
	if (((s) = p11_session_find(h)) == NULL) {			\
		p11_unlock();						\
		return CKR_SESSION_HANDLE_INVALID;			\
	}								\
} while (0)

static void
atfork_prepare(void)
{
	pthread_mutex_lock(&init_lock);
	fork_locked = __atomic_load_n(&initialized, __ATOMIC_ACQUIRE);
	if (fork_locked)
		p11_lock();
}

static void
atfork_parent(void)
{
	if (fork_locked)
		p11_unlock();
	fork_locked = 0;
	pthread_mutex_unlock(&init_lock);
}

static void
atfork_child(void)
{
	static const pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

	/* the child runs this alone: new locks, the old ones stay held */
	if (fork_locked) {
		forked = 1;
		__atomic_store_n(&initialized, 0, __ATOMIC_RELEASE);
	}
	fork_locked = 0;
	memcpy(&os_lock, &fresh, sizeof(fresh));
	memcpy(&init_lock, &fresh, sizeof(fresh));
	use_app_mutex = 0;	/* the parent's mutex: left as it is */
}

static void
atfork_register(void)
{
	atfork_ok = pthread_atfork(atfork_prepare, atfork_parent,
	    atfork_child) == 0;
}

static void
pad_copy(CK_UTF8CHAR *dst, size_t n, const char *src)
{
	size_t l = strlen(src);

	memset(dst, ' ', n);
	memcpy(dst, src, l < n ? l : n);
}

/* ------------------------------------------------------------------ */
/* tokens and sessions                                                 */
/* ------------------------------------------------------------------ */

/* Reload the token list from the store (other processes may add). */
static CK_RV
tokens_refresh(void)
{
	struct m2m_token_rec *recs = NULL;
	size_t n = 0, i, j;
	int r;

	if ((r = m2m_store_token_list(m2m_core_store(p11.core), &recs,
	    &n)) != 0)
		return p11_rv(r);
	for (i = 0; i < n; i++) {
		for (j = 0; j < p11.ntokens; j++)
			if (p11.tokens[j].id == recs[i].id)
				break;
		if (j == p11.ntokens && j == P11_MAX_TOKENS) {
			/* two processes both made the last one: say so */
			if (p11.tokens_hidden++ == 0)
				m2m_error("token %llu is not shown: this "
				    "module shows at most %d tokens "
				    "(P11_MAX_TOKENS)",
				    (unsigned long long)recs[i].id,
				    P11_MAX_TOKENS);
			continue;
		}
		if (j == p11.ntokens) {
			p11.tokens[j].id = recs[i].id;
			p11.tokens[j].login = -1;
			p11.tokens[j].objauth = NULL;
			p11.ntokens++;
		}
	}
	m2m_wipe(recs, n * sizeof(*recs));
	free(recs);
	return CKR_OK;
}

/* The slot id a new token would get: one past the highest. */
static CK_SLOT_ID
free_slot_id(void)
{
	uint64_t max = 0;
	size_t i;

	for (i = 0; i < p11.ntokens; i++)
		if (p11.tokens[i].id > max)
			max = p11.tokens[i].id;
	return (CK_SLOT_ID)(max + 1);
}

/* see p11.h */
struct p11_token *
p11_token_find(uint64_t id)
{
	size_t i;

	for (i = 0; i < p11.ntokens; i++)
		if (p11.tokens[i].id == id)
			return &p11.tokens[i];
	return NULL;
}

static CK_RV
slot_check(CK_SLOT_ID slot, struct p11_token **ret_tok)
{
	CK_RV rv;

	*ret_tok = p11_token_find(slot);
	if (*ret_tok != NULL)
		return CKR_OK;
	if ((rv = tokens_refresh()) != CKR_OK)
		return rv;
	*ret_tok = p11_token_find(slot);
	if (*ret_tok != NULL || slot == free_slot_id())
		return CKR_OK;
	return CKR_SLOT_ID_INVALID;
}

/* see p11.h */
struct p11_session *
p11_session_find(CK_SESSION_HANDLE h)
{
	size_t i;

	if (h == CK_INVALID_HANDLE || p11.sessions == NULL)
		return NULL;
	i = (size_t)(h % P11_MAX_SESSIONS);
	if (p11.sessions[i].handle == h)
		return &p11.sessions[i];
	return NULL;
}

/* see p11.h */
int
p11_session_is_rw(const struct p11_session *s)
{
	return (s->flags & CKF_RW_SESSION) != 0;
}

/* see p11.h */
int
p11_user_logged_in(const struct p11_session *s)
{
	struct p11_token *t = p11_token_find(s->token_id);

	return t != NULL && t->login == (int)CKU_USER;
}

/* see p11.h */
const struct m2m_secret *
p11_session_objauth(const struct p11_session *s)
{
	struct p11_token *t = p11_token_find(s->token_id);

	return t != NULL ? t->objauth : NULL;
}

/* see p11.h */
void
p11_session_find_reset(struct p11_session *s)
{
	free(s->find_ids);
	s->find_ids = NULL;
	s->find_n = s->find_pos = 0;
	s->find_active = 0;
}

/* see p11.h */
void
p11_session_op_reset(struct p11_session *s)
{
	m2m_object_free(s->op_key);
	s->op_key = NULL;
	/*
	 * The input buffer is kept for the session's next operation (one
	 * malloc and free less per HMAC) when small; what it held is wiped.
	 */
	if (s->op_buf != NULL) {
		if (s->op_cap > P11_OP_BUF_KEEP) {
			m2m_wipe(s->op_buf, s->op_cap);
			free(s->op_buf);
			s->op_buf = NULL;
			s->op_cap = 0;
		} else
			m2m_wipe(s->op_buf, s->op_len);
	}
	free(s->op_iv);
	free(s->op_aad);
	s->op_iv = s->op_aad = NULL;
	s->op_len = s->op_ivlen = s->op_aadlen = 0;
	s->op = P11_OP_NONE;
}

static size_t
session_count(uint64_t token_id, int rw_only)
{
	size_t i, n = 0;

	for (i = 0; i < P11_MAX_SESSIONS; i++)
		if (p11.sessions[i].handle != 0 &&
		    p11.sessions[i].token_id == token_id &&
		    (!rw_only || p11_session_is_rw(&p11.sessions[i])))
			n++;
	return n;
}

static void
token_logout(struct p11_token *t)
{
	size_t i;

	t->login = -1;
	m2m_secret_free(t->objauth);
	t->objauth = NULL;
	/* no working copy of a key outlives the login in the backing HSM */
	m2m_core_flush(p11.core);
	/* operations holding private keys end with the login */
	for (i = 0; i < P11_MAX_SESSIONS; i++) {
		if (p11.sessions[i].handle != 0 &&
		    p11.sessions[i].token_id == t->id) {
			p11_session_op_reset(&p11.sessions[i]);
			p11_session_find_reset(&p11.sessions[i]);
		}
	}
}

static void
session_close(struct p11_session *s)
{
	struct p11_token *t;
	uint64_t token_id = s->token_id;

	p11_session_op_reset(s);
	if (s->op_buf != NULL) {
		m2m_wipe(s->op_buf, s->op_cap);	/* wiped already: cheap */
		free(s->op_buf);
	}
	p11_session_find_reset(s);
	if (s->digest != NULL)
		EVP_MD_CTX_free(s->digest);
	p11_session_objects_drop(s->handle, token_id);
	memset(s, 0, sizeof(*s));
	if (session_count(token_id, 0) == 0 &&
	    (t = p11_token_find(token_id)) != NULL)
		token_logout(t);
}

/* ------------------------------------------------------------------ */
/* general purpose                                                     */
/* ------------------------------------------------------------------ */

static void
global_free(void)
{
	size_t i;

	if (p11.sessions != NULL) {
		for (i = 0; i < P11_MAX_SESSIONS; i++)
			if (p11.sessions[i].handle != 0)
				session_close(&p11.sessions[i]);
		free(p11.sessions);
	}
	p11_session_objects_drop(0, 0);
	p11_object_cache_drop();
	free(p11.sobjs);
	free(p11.sobj_owner);
	for (i = 0; i < p11.ntokens; i++)
		m2m_secret_free(p11.tokens[i].objauth);
	m2m_core_close(p11.core);
	memset(&p11, 0, sizeof(p11));
}

/*
 * In a forked child: forget the parent's state.  Memory the child owns
 * (sessions, session objects, cached objects, login secrets) is freed and
 * wiped, without a backend call; the core is kept, unused, on the orphan
 * list (reachable, so not reported as a leak).  0 or M2M_ERR_NO_MEMORY.
 */
static int
global_abandon(void)
{
	struct p11_session *s;
	struct orphan *o;
	size_t i;

	if ((o = calloc(1, sizeof(*o))) == NULL)
		return M2M_ERR_NO_MEMORY;
	o->core = p11.core;
	o->next = orphans;
	orphans = o;
	for (i = 0; p11.sessions != NULL && i < P11_MAX_SESSIONS; i++) {
		s = &p11.sessions[i];
		if (s->handle == 0)
			continue;
		p11_session_op_reset(s);
		if (s->op_buf != NULL) {
			m2m_wipe(s->op_buf, s->op_cap);
			free(s->op_buf);
		}
		p11_session_find_reset(s);
		if (s->digest != NULL)
			EVP_MD_CTX_free(s->digest);
	}
	free(p11.sessions);
	for (i = 0; i < p11.nsobjs; i++)
		m2m_object_free(p11.sobjs[i]);	/* no backend forget */
	free(p11.sobjs);
	free(p11.sobj_owner);
	p11_object_cache_drop();
	for (i = 0; i < p11.ntokens; i++)
		m2m_secret_free(p11.tokens[i].objauth);
	memset(&p11, 0, sizeof(p11));
	return 0;
}

static CK_RV
init_args(CK_VOID_PTR pInitArgs)
{
	CK_C_INITIALIZE_ARGS *a = pInitArgs;
	int n;

	use_app_mutex = 0;
	if (a == NULL)
		return CKR_OK;
	if (a->pReserved != NULL)
		return CKR_ARGUMENTS_BAD;
	n = (a->CreateMutex != NULL) + (a->DestroyMutex != NULL) +
	    (a->LockMutex != NULL) + (a->UnlockMutex != NULL);
	if (n != 0 && n != 4)
		return CKR_ARGUMENTS_BAD;
	if (n == 4 && (a->flags & CKF_OS_LOCKING_OK) == 0) {
		/* the application's own locks, as it asked */
		app_args = *a;
		if (a->CreateMutex(&app_mutex) != CKR_OK)
			return CKR_CANT_LOCK;
		use_app_mutex = 1;
	}
	return CKR_OK;
}

EXPORT CK_RV
C_Initialize(CK_VOID_PTR pInitArgs)
{
	struct m2m_conf *conf = NULL;
	char err[512] = "";
	const char *path;
	int r;
	CK_RV rv;

	(void)pthread_once(&atfork_once, atfork_register);
	pthread_mutex_lock(&init_lock);
	if (initialized) {
		rv = CKR_CRYPTOKI_ALREADY_INITIALIZED;
		goto out;
	}
	if (forked) {
		if (global_abandon() != 0) {
			rv = CKR_HOST_MEMORY;
			goto out;
		}
		forked = 0;
		m2m_debug("C_Initialize: in a child process; the parent's "
		    "sessions and logins are gone");
	}
	if (!atfork_ok)
		m2m_warn("C_Initialize: pthread_atfork failed: a forked child "
		    "must not use this module");
	if ((rv = init_args(pInitArgs)) != CKR_OK)
		goto out;
	m2m_log_from_env();
	path = m2m_conf_default_path();
	if ((r = m2m_conf_load(path, &conf, err, sizeof(err))) != 0) {
		m2m_error("%s", err);
		rv = r == M2M_ERR_NO_MEMORY ? CKR_HOST_MEMORY :
		    CKR_GENERAL_ERROR;
		goto fail;
	}
	if (conf->log_level_set && getenv("M2MTOKEN_LOG_LEVEL") == NULL)
		m2m_log_set_level(conf->log_level);
	memset(&p11, 0, sizeof(p11));
	p11.next_session = 1;
	p11.next_sobj = 1;
	if ((p11.sessions = calloc(P11_MAX_SESSIONS,
	    sizeof(*p11.sessions))) == NULL) {
		m2m_conf_free(conf);
		rv = CKR_HOST_MEMORY;
		goto fail;
	}
	r = m2m_core_open(conf, &p11.core, err, sizeof(err));	/* takes conf */
	conf = NULL;
	if (r != 0) {
		m2m_error("%s", err[0] ? err : m2m_strerror(r));
		rv = r == M2M_ERR_NO_MEMORY ? CKR_HOST_MEMORY :
		    CKR_GENERAL_ERROR;
		goto fail;
	}
	if ((rv = tokens_refresh()) != CKR_OK) {
		m2m_error("cannot read the token list from the store");
		goto fail;
	}
	__atomic_store_n(&initialized, 1, __ATOMIC_RELEASE);
	rv = CKR_OK;
	goto out;
 fail:
	global_free();
	if (use_app_mutex)
		(void)app_args.DestroyMutex(app_mutex);
	use_app_mutex = 0;
 out:
	pthread_mutex_unlock(&init_lock);
	return rv;
}

EXPORT CK_RV
C_Finalize(CK_VOID_PTR pReserved)
{
	if (pReserved != NULL)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&init_lock);
	if (!initialized) {
		pthread_mutex_unlock(&init_lock);
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	}
	p11_lock();
	__atomic_store_n(&initialized, 0, __ATOMIC_RELEASE);
	/* a C_Login checking its PIN without the lock still uses the core */
	while (p11.pin_checks != 0) {
		struct timespec ms = { 0, 1000000 };

		p11_unlock();
		(void)nanosleep(&ms, NULL);
		p11_lock();
	}
	global_free();
	p11_unlock();
	if (use_app_mutex)
		(void)app_args.DestroyMutex(app_mutex);
	use_app_mutex = 0;
	pthread_mutex_unlock(&init_lock);
	return CKR_OK;
}

EXPORT CK_RV
C_GetInfo(CK_INFO_PTR pInfo)
{
	CK_RV rv;

	if ((rv = p11_enter()) != CKR_OK)
		return rv;
	if (pInfo == NULL) {
		p11_unlock();
		return CKR_ARGUMENTS_BAD;
	}
	memset(pInfo, 0, sizeof(*pInfo));
	pInfo->cryptokiVersion.major = 3;
	pInfo->cryptokiVersion.minor = 0;
	pad_copy(pInfo->manufacturerID, sizeof(pInfo->manufacturerID),
	    "m2mtoken");
	pad_copy(pInfo->libraryDescription,
	    sizeof(pInfo->libraryDescription), "m2mtoken oneM2M key token");
	pInfo->libraryVersion.major = 0;
	pInfo->libraryVersion.minor = 1;
	p11_unlock();
	return CKR_OK;
}

/* ------------------------------------------------------------------ */
/* slots and tokens                                                    */
/* ------------------------------------------------------------------ */

EXPORT CK_RV
C_GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList,
    CK_ULONG_PTR pulCount)
{
	CK_ULONG n, i;
	CK_RV rv;

	(void)tokenPresent;	/* every slot holds a token (maybe blank) */
	if ((rv = p11_enter()) != CKR_OK)
		return rv;
	if (pulCount == NULL) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if ((rv = tokens_refresh()) != CKR_OK)
		goto out;
	n = p11.ntokens + 1;
	if (pSlotList == NULL) {
		*pulCount = n;
		goto out;
	}
	if (*pulCount < n) {
		*pulCount = n;
		rv = CKR_BUFFER_TOO_SMALL;
		goto out;
	}
	for (i = 0; i < p11.ntokens; i++)
		pSlotList[i] = p11.tokens[i].id;
	pSlotList[i] = free_slot_id();
	*pulCount = n;
 out:
	p11_unlock();
	return rv;
}

EXPORT CK_RV
C_GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo)
{
	struct p11_token *t;
	CK_RV rv;

	if ((rv = p11_enter()) != CKR_OK)
		return rv;
	if (pInfo == NULL) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if ((rv = slot_check(slotID, &t)) != CKR_OK)
		goto out;
	memset(pInfo, 0, sizeof(*pInfo));
	pad_copy(pInfo->slotDescription, sizeof(pInfo->slotDescription),
	    "m2mtoken slot");
	pad_copy(pInfo->manufacturerID, sizeof(pInfo->manufacturerID),
	    "m2mtoken");
	pInfo->flags = CKF_TOKEN_PRESENT;
	pInfo->hardwareVersion.major = 0;
	pInfo->firmwareVersion.major = 0;
	pInfo->firmwareVersion.minor = 1;
 out:
	p11_unlock();
	return rv;
}

static void
pin_flags(CK_FLAGS *f, unsigned fails, unsigned max, CK_FLAGS low,
    CK_FLAGS final, CK_FLAGS locked)
{
	if (fails >= max)
		*f |= locked;
	else if (fails + 1 == max)
		*f |= final | low;
	else if (fails > 0)
		*f |= low;
}

EXPORT CK_RV
C_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo)
{
	const struct m2m_conf *conf;
	struct m2m_token_rec rec;
	struct p11_token *t;
	CK_RV rv;
	int r;

	if ((rv = p11_enter()) != CKR_OK)
		return rv;
	if (pInfo == NULL) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if ((rv = slot_check(slotID, &t)) != CKR_OK)
		goto out;
	conf = m2m_core_conf(p11.core);
	memset(pInfo, 0, sizeof(*pInfo));
	memset(&rec, 0, sizeof(rec));
	if (t != NULL && (r = m2m_store_token_get(m2m_core_store(p11.core),
	    t->id, &rec)) != 0) {
		rv = p11_rv(r);
		goto out;
	}
	pad_copy(pInfo->label, sizeof(pInfo->label), t ? rec.label : "");
	pad_copy(pInfo->manufacturerID, sizeof(pInfo->manufacturerID),
	    "m2mtoken");
	pad_copy(pInfo->model, sizeof(pInfo->model),
	    conf->backend == M2M_BACKEND_TPM ? "m2mtoken TPM" :
	    "m2mtoken HSM");
	pad_copy(pInfo->serialNumber, sizeof(pInfo->serialNumber),
	    t ? rec.serial : "");
	pInfo->flags = CKF_RNG | CKF_LOGIN_REQUIRED;
	if (t != NULL) {
		pInfo->flags |= CKF_TOKEN_INITIALIZED;
		if (rec.user_pin_set)
			pInfo->flags |= CKF_USER_PIN_INITIALIZED;
		pin_flags(&pInfo->flags, rec.user_fails, conf->max_pin_tries,
		    CKF_USER_PIN_COUNT_LOW, CKF_USER_PIN_FINAL_TRY,
		    CKF_USER_PIN_LOCKED);
		pin_flags(&pInfo->flags, rec.so_fails, conf->max_pin_tries,
		    CKF_SO_PIN_COUNT_LOW, CKF_SO_PIN_FINAL_TRY,
		    CKF_SO_PIN_LOCKED);
	}
	pInfo->ulMaxSessionCount = P11_MAX_SESSIONS;
	pInfo->ulSessionCount = t ? session_count(t->id, 0) : 0;
	pInfo->ulMaxRwSessionCount = P11_MAX_SESSIONS;
	pInfo->ulRwSessionCount = t ? session_count(t->id, 1) : 0;
	pInfo->ulMaxPinLen = conf->pin_max;
	pInfo->ulMinPinLen = conf->pin_min;
	pInfo->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
	pInfo->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
	pInfo->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
	pInfo->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
	pInfo->firmwareVersion.minor = 1;
	memset(pInfo->utcTime, ' ', sizeof(pInfo->utcTime));
	m2m_wipe(&rec, sizeof(rec));
 out:
	p11_unlock();
	return rv;
}

EXPORT CK_RV
C_InitToken(CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen,
    CK_UTF8CHAR_PTR pLabel)
{
	struct p11_token *t;
	uint64_t id = 0;
	CK_RV rv;
	int r;

	if ((rv = p11_enter()) != CKR_OK)
		return rv;
	if (pPin == NULL || pLabel == NULL) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if ((rv = slot_check(slotID, &t)) != CKR_OK)
		goto out;
	if (t != NULL && session_count(t->id, 0) != 0) {
		rv = CKR_SESSION_EXISTS;
		goto out;
	}
	if (t == NULL && p11.ntokens >= P11_MAX_TOKENS) {
		m2m_info("C_InitToken: the store holds %d tokens, the most "
		    "this module shows (P11_MAX_TOKENS)", P11_MAX_TOKENS);
		rv = CKR_DEVICE_MEMORY;
		goto out;
	}
	r = m2m_core_token_init(p11.core, t ? t->id : 0, pPin, ulPinLen,
	    pLabel, &id);
	if (r != 0) {
		m2m_info("C_InitToken: %s", m2m_strerror(r));
		rv = p11_rv(r);
		goto out;
	}
	if (t == NULL && id != slotID) {
		/* another process took this slot first */
		m2m_warn("C_InitToken: slot %lu was taken concurrently; the "
		    "new token is in slot %llu", slotID,
		    (unsigned long long)id);
	}
	if (t != NULL)
		token_logout(t);
	rv = tokens_refresh();
 out:
	p11_unlock();
	return rv;
}

static CK_RV
pin_rv(int r)
{
	return r == M2M_ERR_NOT_FOUND ? CKR_USER_PIN_NOT_INITIALIZED :
	    p11_rv(r);
}

/*
 * C_InitPIN and C_SetPIN make the new verifier (PBKDF2, or the TPM's seal)
 * without the module lock, as C_Login checks a PIN (see login()); the old
 * PIN of C_SetPIN is checked the same way.  The session must still be
 * open when the new verifier is stored.
 */
EXPORT CK_RV
C_InitPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
	struct p11_session *s;
	struct p11_token *t;
	struct m2m_secret *objauth = NULL;
	uint8_t v[M2M_PIN_VERIFIER_MAX];
	size_t vlen = 0;
	uint64_t token_id;
	CK_RV rv;
	int r;

	ENTER_SESSION(hSession, s);
	t = p11_token_find(s->token_id);
	if (t == NULL || t->login != (int)CKU_SO) {
		rv = CKR_USER_NOT_LOGGED_IN;
		goto out;
	}
	if (!p11_session_is_rw(s)) {
		rv = CKR_SESSION_READ_ONLY;
		goto out;
	}
	if (pPin == NULL && ulPinLen != 0) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if ((r = m2m_core_pin_len_check(p11.core, ulPinLen)) != 0) {
		rv = p11_rv(r);
		goto out;
	}
	/* a copy: a C_Logout may free the token's while the lock is off */
	if (t->objauth != NULL && (r = m2m_secret_from(
	    m2m_secret_data(t->objauth), m2m_secret_len(t->objauth),
	    &objauth)) != 0) {
		rv = p11_rv(r);
		goto out;
	}
	token_id = t->id;
	p11.pin_checks++;
	p11_unlock();

	r = m2m_core_pin_make(p11.core, pPin, ulPinLen, objauth, v, &vlen);

	p11_lock();
	p11.pin_checks--;
	if (r != 0) {
		rv = p11_rv(r);
		goto out;
	}
	if ((s = p11_session_find(hSession)) == NULL) {
		rv = CKR_SESSION_CLOSED;
		goto out;
	}
	if ((t = p11_token_find(s->token_id)) == NULL || t->id != token_id ||
	    t->login != (int)CKU_SO) {
		rv = CKR_USER_NOT_LOGGED_IN;
		goto out;
	}
	r = m2m_core_pin_store(p11.core, token_id, 0, v, vlen, 1);
	rv = p11_rv(r);
 out:
	m2m_secret_free(objauth);
	m2m_wipe(v, sizeof(v));
	p11_unlock();
	return rv;
}

EXPORT CK_RV
C_SetPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pOldPin,
    CK_ULONG ulOldLen, CK_UTF8CHAR_PTR pNewPin, CK_ULONG ulNewLen)
{
	struct p11_session *s;
	struct p11_token *t;
	struct m2m_secret *objauth = NULL;
	struct m2m_pin_try pt;
	uint8_t v[M2M_PIN_VERIFIER_MAX];
	size_t vlen = 0;
	uint64_t token_id;
	CK_RV rv;
	int r, rmake = 0, so;

	memset(&pt, 0, sizeof(pt));
	ENTER_SESSION(hSession, s);
	t = p11_token_find(s->token_id);
	if (!p11_session_is_rw(s)) {
		rv = CKR_SESSION_READ_ONLY;
		goto out;
	}
	if ((pOldPin == NULL && ulOldLen != 0) ||
	    (pNewPin == NULL && ulNewLen != 0)) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	so = t != NULL && t->login == (int)CKU_SO;
	token_id = s->token_id;
	if ((r = m2m_core_pin_len_check(p11.core, ulNewLen)) != 0 ||
	    (r = m2m_core_pin_reserve(p11.core, token_id, so, ulOldLen,
	    &pt)) != 0) {
		rv = pin_rv(r);
		goto out;
	}
	p11.pin_checks++;
	p11_unlock();

	r = m2m_core_pin_verify(p11.core, &pt, pOldPin, ulOldLen, &objauth);
	if (r == 0)
		rmake = m2m_core_pin_make(p11.core, pNewPin, ulNewLen, objauth,
		    v, &vlen);

	p11_lock();
	p11.pin_checks--;
	if ((r = m2m_core_pin_record(p11.core, &pt, r)) != 0) {
		rv = pin_rv(r);
		goto out;
	}
	if (rmake != 0) {
		rv = p11_rv(rmake);
		goto out;
	}
	if (p11_session_find(hSession) == NULL) {
		rv = CKR_SESSION_CLOSED;
		goto out;
	}
	r = m2m_core_pin_store(p11.core, token_id, so, v, vlen, 0);
	rv = pin_rv(r);
 out:
	m2m_secret_free(objauth);
	m2m_wipe(v, sizeof(v));
	m2m_wipe(&pt, sizeof(pt));
	p11_unlock();
	return rv;
}

/* ------------------------------------------------------------------ */
/* sessions                                                            */
/* ------------------------------------------------------------------ */

EXPORT CK_RV
C_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication,
    CK_NOTIFY Notify, CK_SESSION_HANDLE_PTR phSession)
{
	struct p11_token *t;
	struct p11_session *s = NULL;
	size_t i, tries;
	CK_RV rv;

	(void)pApplication;
	(void)Notify;
	if ((rv = p11_enter()) != CKR_OK)
		return rv;
	if (phSession == NULL) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if ((flags & CKF_SERIAL_SESSION) == 0) {
		rv = CKR_SESSION_PARALLEL_NOT_SUPPORTED;
		goto out;
	}
	if ((rv = slot_check(slotID, &t)) != CKR_OK)
		goto out;
	if (t == NULL) {
		rv = CKR_TOKEN_NOT_RECOGNIZED;
		goto out;
	}
	if ((flags & CKF_RW_SESSION) == 0 && t->login == (int)CKU_SO) {
		rv = CKR_SESSION_READ_WRITE_SO_EXISTS;
		goto out;
	}
	for (tries = 0; tries < P11_MAX_SESSIONS; tries++) {
		CK_SESSION_HANDLE h = p11.next_session++;

		if (h == CK_INVALID_HANDLE)
			h = p11.next_session++;
		i = (size_t)(h % P11_MAX_SESSIONS);
		if (p11.sessions[i].handle == 0) {
			s = &p11.sessions[i];
			memset(s, 0, sizeof(*s));
			s->handle = h;
			break;
		}
	}
	if (s == NULL) {
		rv = CKR_SESSION_COUNT;
		goto out;
	}
	s->token_id = t->id;
	s->flags = flags & (CKF_RW_SESSION | CKF_SERIAL_SESSION);
	*phSession = s->handle;
 out:
	p11_unlock();
	return rv;
}

EXPORT CK_RV
C_CloseSession(CK_SESSION_HANDLE hSession)
{
	struct p11_session *s;
	CK_RV rv;

	ENTER_SESSION(hSession, s);
	session_close(s);
	p11_unlock();
	return CKR_OK;
}

EXPORT CK_RV
C_CloseAllSessions(CK_SLOT_ID slotID)
{
	struct p11_token *t;
	size_t i;
	CK_RV rv;

	if ((rv = p11_enter()) != CKR_OK)
		return rv;
	if ((rv = slot_check(slotID, &t)) != CKR_OK || t == NULL)
		goto out;
	for (i = 0; i < P11_MAX_SESSIONS; i++)
		if (p11.sessions[i].handle != 0 &&
		    p11.sessions[i].token_id == t->id)
			session_close(&p11.sessions[i]);
 out:
	p11_unlock();
	return rv;
}

EXPORT CK_RV
C_GetSessionInfo(CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo)
{
	struct p11_session *s;
	struct p11_token *t;
	CK_RV rv;
	int rw;

	ENTER_SESSION(hSession, s);
	if (pInfo == NULL) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	t = p11_token_find(s->token_id);
	rw = p11_session_is_rw(s);
	memset(pInfo, 0, sizeof(*pInfo));
	pInfo->slotID = s->token_id;
	pInfo->flags = s->flags;
	if (t != NULL && t->login == (int)CKU_SO)
		pInfo->state = CKS_RW_SO_FUNCTIONS;
	else if (t != NULL && t->login == (int)CKU_USER)
		pInfo->state = rw ? CKS_RW_USER_FUNCTIONS :
		    CKS_RO_USER_FUNCTIONS;
	else
		pInfo->state = rw ? CKS_RW_PUBLIC_SESSION :
		    CKS_RO_PUBLIC_SESSION;
	rv = CKR_OK;
 out:
	p11_unlock();
	return rv;
}

EXPORT CK_RV
C_GetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pState,
    CK_ULONG_PTR pulLen)
{
	struct p11_session *s;
	CK_RV rv;

	(void)pState;
	ENTER_SESSION(hSession, s);
	/* an operation's state holds a key in the hardware: never saved */
	if (pulLen == NULL)
		rv = CKR_ARGUMENTS_BAD;
	else if (s->op == P11_OP_NONE && s->digest == NULL)
		rv = CKR_OPERATION_NOT_INITIALIZED;
	else
		rv = CKR_STATE_UNSAVEABLE;
	p11_unlock();
	return rv;
}

EXPORT CK_RV
C_SetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pState,
    CK_ULONG ulLen, CK_OBJECT_HANDLE hEnc, CK_OBJECT_HANDLE hAuth)
{
	struct p11_session *s;
	CK_RV rv;

	(void)ulLen;
	(void)hEnc;
	(void)hAuth;
	ENTER_SESSION(hSession, s);
	/* no state is ever saved (C_GetOperationState), so none is valid */
	rv = pState == NULL ? CKR_ARGUMENTS_BAD : CKR_SAVED_STATE_INVALID;
	p11_unlock();
	return rv;
}

/*
 * The login checks that need the module lock: on the session (still open:
 * the PIN check runs unlocked, so it may have been closed meanwhile) and
 * on the token's login state.  *ret_t the session's token.
 */
static CK_RV
login_state_check(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType,
    struct p11_token **ret_t)
{
	struct p11_session *s;
	struct p11_token *t;
	size_t i;

	if ((s = p11_session_find(hSession)) == NULL)
		return CKR_SESSION_HANDLE_INVALID;
	if ((t = p11_token_find(s->token_id)) == NULL)
		return CKR_GENERAL_ERROR;
	if (userType == CKU_CONTEXT_SPECIFIC)
		return t->login == (int)CKU_USER ?
		    CKR_OPERATION_NOT_INITIALIZED : CKR_USER_NOT_LOGGED_IN;
	if (userType != CKU_SO && userType != CKU_USER)
		return CKR_USER_TYPE_INVALID;
	if (t->login == (int)userType)
		return CKR_USER_ALREADY_LOGGED_IN;
	if (t->login != -1)
		return CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
	if (userType == CKU_SO) {
		for (i = 0; i < P11_MAX_SESSIONS; i++) {
			if (p11.sessions[i].handle != 0 &&
			    p11.sessions[i].token_id == t->id &&
			    !p11_session_is_rw(&p11.sessions[i]))
				return CKR_SESSION_READ_ONLY_EXISTS;
		}
	}
	*ret_t = t;
	return CKR_OK;
}

/*
 * C_Login in three steps (core.h): the guess is counted in the store under
 * the module lock, checked (PBKDF2 or the TPM, the slow part) without it,
 * so that other threads' calls go on meanwhile, and recorded under the
 * lock again, where the session and login state are checked once more.
 * C_Finalize waits for p11.pin_checks to drop to 0.
 */
static CK_RV
login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin,
    CK_ULONG ulPinLen)
{
	struct p11_session *s;
	struct p11_token *t = NULL;
	struct m2m_secret *objauth = NULL;
	struct m2m_pin_try pt;
	uint64_t token_id;
	int so = userType == CKU_SO, r;
	CK_RV rv;

	memset(&pt, 0, sizeof(pt));
	ENTER_SESSION(hSession, s);
	if (pPin == NULL && ulPinLen != 0) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if ((rv = login_state_check(hSession, userType, &t)) != CKR_OK)
		goto out;
	token_id = t->id;
	if ((r = m2m_core_pin_reserve(p11.core, token_id, so, ulPinLen,
	    &pt)) != 0) {
		m2m_info("C_Login: %s", m2m_strerror(r));
		rv = pin_rv(r);
		goto out;
	}
	p11.pin_checks++;
	p11_unlock();

	r = m2m_core_pin_verify(p11.core, &pt, pPin, ulPinLen, &objauth);

	p11_lock();
	p11.pin_checks--;
	if ((r = m2m_core_pin_record(p11.core, &pt, r)) != 0) {
		m2m_info("C_Login: %s", m2m_strerror(r));
		rv = pin_rv(r);
		goto out;
	}
	/* the world may have changed while the lock was not held */
	if ((rv = login_state_check(hSession, userType, &t)) != CKR_OK) {
		if (rv == CKR_SESSION_HANDLE_INVALID)
			rv = CKR_SESSION_CLOSED;
		goto out;
	}
	if (M2M_NEVER(t->id != token_id)) {
		rv = CKR_GENERAL_ERROR;
		goto out;
	}
	t->login = (int)userType;
	t->objauth = objauth;
	objauth = NULL;	/* transferred */
	rv = CKR_OK;
 out:
	m2m_secret_free(objauth);
	m2m_wipe(&pt, sizeof(pt));
	p11_unlock();
	return rv;
}

EXPORT CK_RV
C_Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin,
    CK_ULONG ulPinLen)
{
	return login(hSession, userType, pPin, ulPinLen);
}

EXPORT CK_RV
C_LoginUser(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType,
    CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen, CK_UTF8CHAR_PTR pUsername,
    CK_ULONG ulUsernameLen)
{
	/* this token has no user names: only the empty one */
	if (pUsername == NULL || ulUsernameLen != 0)
		return CKR_ARGUMENTS_BAD;
	return login(hSession, userType, pPin, ulPinLen);
}

EXPORT CK_RV
C_Logout(CK_SESSION_HANDLE hSession)
{
	struct p11_session *s;
	struct p11_token *t;
	CK_RV rv;

	ENTER_SESSION(hSession, s);
	t = p11_token_find(s->token_id);
	if (t == NULL || t->login == -1)
		rv = CKR_USER_NOT_LOGGED_IN;
	else {
		token_logout(t);
		rv = CKR_OK;
	}
	p11_unlock();
	return rv;
}

EXPORT CK_RV
C_SessionCancel(CK_SESSION_HANDLE hSession, CK_FLAGS flags)
{
	struct p11_session *s;
	CK_RV rv;

	ENTER_SESSION(hSession, s);
	if (flags & (CKF_SIGN | CKF_VERIFY | CKF_ENCRYPT | CKF_DECRYPT))
		p11_session_op_reset(s);
	if ((flags & CKF_FIND_OBJECTS) != 0)
		p11_session_find_reset(s);
	if ((flags & CKF_DIGEST) != 0 && s->digest != NULL) {
		EVP_MD_CTX_free(s->digest);
		s->digest = NULL;
	}
	p11_unlock();
	return CKR_OK;
}

/* ------------------------------------------------------------------ */
/* functions this token does not offer                                 */
/* ------------------------------------------------------------------ */

EXPORT CK_RV
C_GetFunctionStatus(CK_SESSION_HANDLE hSession)
{
	(void)hSession;
	return initialized ? CKR_FUNCTION_NOT_PARALLEL :
	    CKR_CRYPTOKI_NOT_INITIALIZED;
}

EXPORT CK_RV
C_CancelFunction(CK_SESSION_HANDLE hSession)
{
	(void)hSession;
	return initialized ? CKR_FUNCTION_NOT_PARALLEL :
	    CKR_CRYPTOKI_NOT_INITIALIZED;
}

EXPORT CK_RV
C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR pSlot, CK_VOID_PTR pRes)
{
	(void)flags;
	(void)pSlot;
	(void)pRes;
	return initialized ? CKR_FUNCTION_NOT_SUPPORTED :
	    CKR_CRYPTOKI_NOT_INITIALIZED;
}

/* see p11.h */
CK_RV
p11_enter_session(CK_SESSION_HANDLE h, struct p11_session **ret)
{
	CK_RV rv;

	if ((rv = p11_enter()) != CKR_OK)
		return rv;
	if ((*ret = p11_session_find(h)) == NULL) {
		p11_unlock();
		return CKR_SESSION_HANDLE_INVALID;
	}
	return CKR_OK;
}

/* see p11.h */
void
p11_leave(void)
{
	p11_unlock();
}

/* see p11.h */
CK_RV
p11_enter_plain(void)
{
	return p11_enter();
}
