/*
 * m2mtoken: the module's state (p11.h): the module lock and the way into
 * a call, initialisation and fork, the token list, sessions and login.
 * The C_* functions over it are in p11.c and the other p11_*.c files.
 */
#include <sys/types.h>

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

struct p11_global p11;

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t os_lock = PTHREAD_MUTEX_INITIALIZER;
static int initialized;			/* guarded by init_lock + atomics */
static CK_C_INITIALIZE_ARGS app_args;
static void *app_mutex;
static int use_app_mutex;
/*
 * Threads between p11_enter and p11_leave, counted before the initialised
 * check (and uncounted when it fails).  C_Finalize clears initialized,
 * then waits until entries is 0 before it destroys the application's
 * mutex: a thread blocked in LockMutex would otherwise wake on a destroyed
 * mutex and, reading use_app_mutex 0, unlock os_lock instead.  So
 * use_app_mutex and app_mutex never change while any thread is inside, and
 * p11_lock and p11_unlock of one entry read the same values.
 */
static int entries;

/*
 * fork(): a child inherits the parent's sessions, logins, store connection
 * and backend.  pthread_atfork handlers hold the module lock across the
 * fork (so the child's copy of the state is consistent), after any other
 * thread's PIN check has ended (see fork_pending), and mark the child
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
/*
 * A fork waits until no PIN check is in flight: the check runs without
 * the module lock and may be a TPM command, whose connection the child
 * would inherit mid-command (swtpm goes on serving it; the child's
 * C_Initialize and the parent's next command block).  fork_pending (under
 * the module lock) holds new PIN checks back meanwhile, so that logins in
 * a loop cannot starve the fork.  (A fork from inside a PIN check would
 * wait for itself: no backend forks.  A thread-local mark of "this thread
 * is in one", read in the child's fork handler, was tried: in the two ASan
 * runs of the suite that had it, LeakSanitizer's tracer crashed in forked
 * children; not shown to be the cause, but not worth the doubt.)
 */
static int fork_pending;

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

/* Held: let other threads take the module lock for a millisecond. */
static void
relock_wait(void)
{
	struct timespec ms = { 0, 1000000 };

	p11_unlock();
	(void)nanosleep(&ms, NULL);
	p11_lock();
}

/* see p11.h */
int
p11_initialized(void)
{
	return __atomic_load_n(&initialized, __ATOMIC_ACQUIRE);
}

/* see p11.h */
CK_RV
p11_enter(void)
{
	/* counted first: C_Finalize clears initialized, then reads entries */
	__atomic_add_fetch(&entries, 1, __ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&initialized, __ATOMIC_SEQ_CST)) {
		__atomic_sub_fetch(&entries, 1, __ATOMIC_SEQ_CST);
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	}
	p11_lock();
	if (!initialized) {
		p11_leave();
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	}
	return CKR_OK;
}

/*
 * The operation's token key was destroyed by another process (this one's
 * C_DestroyObject ends the operation at once, p11_object_gone): end it
 * too, and drop what the backend holds for the key, rather than make a
 * new working copy of a dead key.  While the store's generation is the
 * one read before the key was (op_gen), nothing was written since: one
 * memory load per call.  After a write, one read through the object
 * cache, and the generation read before it is the new mark.  A failing
 * read is not taken for a deletion: the key was good at the operation's
 * start.
 */
static CK_RV
op_key_check(struct p11_session *s)
{
	struct m2m_object *o = NULL;
	uint64_t id = s->op_key->id, gen = 0;
	int gen_ok, r;

	if (P11_IS_SESSION_OBJECT(id))
		return CKR_OK;
	gen_ok = m2m_core_generation(p11.core, &gen) == 0;
	if (gen_ok && s->op_gen_ok && gen == s->op_gen)
		return CKR_OK;
	r = m2m_core_object_get(p11.core, s->token_id, id, &o);
	m2m_object_free(o);
	if (r != M2M_ERR_NOT_FOUND) {
		s->op_gen = gen;
		s->op_gen_ok = gen_ok && r == 0;
		return CKR_OK;
	}
	p11_object_gone(s->token_id, id);
	return CKR_OPERATION_NOT_INITIALIZED;
}

/* The need of p11_enter_session (p11.h) that s does not meet, or CKR_OK. */
static CK_RV
need_check(struct p11_session *s, unsigned int need)
{
	if ((need & P11_NEED_SO) && !p11_so_logged_in(s))
		return CKR_USER_NOT_LOGGED_IN;
	if ((need & P11_NEED_RW) && !p11_session_is_rw(s))
		return CKR_SESSION_READ_ONLY;
	if ((need >> 4) != P11_OP_NONE) {
		if ((unsigned int)s->op != (need >> 4))
			return CKR_OPERATION_NOT_INITIALIZED;
		if (s->op_key != NULL)
			return op_key_check(s);
	}
	return CKR_OK;
}

/* see p11.h */
CK_RV
p11_enter_session(CK_SESSION_HANDLE h, unsigned int need,
    struct p11_session **ret)
{
	struct p11_session *s;
	CK_RV rv;

	if ((rv = p11_enter()) != CKR_OK)
		return rv;
	if ((s = p11_session_find(h)) == NULL)
		rv = CKR_SESSION_HANDLE_INVALID;
	else if (need != P11_NEED_SESSION)
		rv = need_check(s, need);
	if (rv != CKR_OK) {
		p11_leave();
		return rv;
	}
	*ret = s;
	return CKR_OK;
}

/* see p11.h */
void
p11_leave(void)
{
	p11_unlock();
	__atomic_sub_fetch(&entries, 1, __ATOMIC_SEQ_CST);
}

/* see p11.h */
void
p11_unlocked_begin(void)
{
	/* the state may change meanwhile: the caller looks it up anew after */
	while (fork_pending)
		relock_wait();
	p11.pin_checks++;
	p11_unlock();
}

/* see p11.h */
void
p11_unlocked_end(void)
{
	p11_lock();
	p11.pin_checks--;
}

/*
 * Called with init_lock and the module lock held: return when no other
 * thread's PIN check is in flight.  The checks take the module lock to
 * end (p11_unlocked_end), never init_lock, so they can finish while this
 * waits.
 */
static void
pin_checks_wait(void)
{
	fork_pending = 1;
	while (p11.pin_checks != 0)
		relock_wait();
	fork_pending = 0;
}

static void
atfork_prepare(void)
{
	pthread_mutex_lock(&init_lock);
	fork_locked = __atomic_load_n(&initialized, __ATOMIC_ACQUIRE);
	if (fork_locked) {
		p11_lock();
		pin_checks_wait();
	}
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
	fork_pending = 0;
	/* the other threads are gone, and this one is in no call */
	entries = 0;
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

/* ------------------------------------------------------------------ */
/* tokens                                                              */
/* ------------------------------------------------------------------ */

/* see p11.h */
CK_RV
p11_tokens_refresh(void)
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
			p11.tokens[j].login = P11_LOGIN_NONE;
			p11.tokens[j].objauth = NULL;
			p11.ntokens++;
		}
	}
	m2m_wipe(recs, n * sizeof(*recs));
	free(recs);
	return CKR_OK;
}

/* see p11.h */
CK_SLOT_ID
p11_free_slot_id(void)
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

/* see p11.h */
CK_RV
p11_slot_check(CK_SLOT_ID slot, struct p11_token **ret_tok)
{
	CK_RV rv;

	*ret_tok = p11_token_find(slot);
	if (*ret_tok != NULL)
		return CKR_OK;
	if ((rv = p11_tokens_refresh()) != CKR_OK)
		return rv;
	*ret_tok = p11_token_find(slot);
	if (*ret_tok != NULL || slot == p11_free_slot_id())
		return CKR_OK;
	return CKR_SLOT_ID_INVALID;
}

/* see p11.h */
void
p11_token_logout(struct p11_token *t)
{
	size_t i;

	t->login = P11_LOGIN_NONE;
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

/* ------------------------------------------------------------------ */
/* sessions                                                            */
/* ------------------------------------------------------------------ */

/* see p11.h */
struct p11_session *
p11_session_find(CK_SESSION_HANDLE h)
{
	struct p11_session *s;

	if (h == CK_INVALID_HANDLE || p11.sessions == NULL)
		return NULL;
	s = &p11.sessions[h % P11_MAX_SESSIONS];
	return s->handle == h ? s : NULL;
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
	return s->token->login == P11_LOGIN_USER;
}

/* see p11.h */
int
p11_so_logged_in(const struct p11_session *s)
{
	return s->token->login == P11_LOGIN_SO;
}

/* see p11.h */
const struct m2m_secret *
p11_session_objauth(const struct p11_session *s)
{
	return s->token->objauth;
}

/* see p11.h */
size_t
p11_session_count(uint64_t token_id, enum p11_count which)
{
	int rw_only = which == P11_COUNT_RW;
	size_t i, n = 0;

	for (i = 0; i < P11_MAX_SESSIONS; i++)
		if (p11.sessions[i].handle != 0 &&
		    p11.sessions[i].token_id == token_id &&
		    (!rw_only || p11_session_is_rw(&p11.sessions[i])))
			n++;
	return n;
}

/* see p11.h */
CK_RV
p11_session_open(struct p11_token *t, CK_FLAGS flags,
    struct p11_session **ret)
{
	struct p11_session *s;
	CK_SESSION_HANDLE h;
	size_t tries;

	for (tries = 0; tries < P11_MAX_SESSIONS; tries++) {
		if ((h = p11.next_session++) == CK_INVALID_HANDLE)
			h = p11.next_session++;
		s = &p11.sessions[h % P11_MAX_SESSIONS];
		if (s->handle == 0) {
			memset(s, 0, sizeof(*s));
			s->handle = h;
			s->token_id = t->id;
			s->token = t;
			s->flags = flags & (CKF_RW_SESSION |
			    CKF_SERIAL_SESSION);
			*ret = s;
			return CKR_OK;
		}
	}
	return CKR_SESSION_COUNT;
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
p11_session_digest_reset(struct p11_session *s)
{
	EVP_MD_CTX_free(s->digest);
	s->digest = NULL;
}

/* see p11.h */
void
p11_session_op_reset(struct p11_session *s)
{
	if (s->op_key != NULL) {
		m2m_object_free(s->op_key);
		s->op_key = NULL;
		p11.op_keys--;
	}
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

/* see p11.h */
void
p11_session_op_clear_input(struct p11_session *s)
{
	if (s->op_buf != NULL)
		m2m_wipe(s->op_buf, s->op_len);
	s->op_len = 0;
}

/* Free what s holds in memory: operations, search, digest, buffer. */
static void
session_free(struct p11_session *s)
{
	p11_session_op_reset(s);
	if (s->op_buf != NULL) {
		m2m_wipe(s->op_buf, s->op_cap);	/* wiped already: cheap */
		free(s->op_buf);
	}
	p11_session_find_reset(s);
	p11_session_digest_reset(s);
}

/* see p11.h */
void
p11_session_close(struct p11_session *s)
{
	struct p11_token *t = s->token;

	session_free(s);
	p11_session_objects_drop(s->handle);
	memset(s, 0, sizeof(*s));
	if (p11_session_count(t->id, P11_COUNT_ALL) == 0)
		p11_token_logout(t);
}

/* ------------------------------------------------------------------ */
/* session objects                                                     */
/* ------------------------------------------------------------------ */

static ssize_t
sobj_index(CK_OBJECT_HANDLE h)
{
	size_t i;

	for (i = 0; i < p11.nsobjs; i++)
		if (p11.sobjs[i]->id == h)
			return (ssize_t)i;
	return -1;
}

/* see p11.h */
struct m2m_object *
p11_sobj_get(CK_OBJECT_HANDLE h)
{
	ssize_t i = sobj_index(h);

	return i < 0 ? NULL : p11.sobjs[i];
}

/* see p11.h */
CK_RV
p11_sobj_add(struct p11_session *s, struct m2m_object *o,
    CK_OBJECT_HANDLE *ret_handle)
{
	struct m2m_object *c = NULL, **no;
	CK_SESSION_HANDLE *nw;

	if (p11.nsobjs >= P11_MAX_SESSION_OBJECTS)
		return CKR_DEVICE_MEMORY;
	/* the caller is done changing o: share it rather than copy it */
	c = m2m_object_ref(o);
	if ((no = realloc(p11.sobjs, (p11.nsobjs + 1) * sizeof(*no))) == NULL)
		goto nomem;
	p11.sobjs = no;
	if ((nw = realloc(p11.sobj_owner, (p11.nsobjs + 1) *
	    sizeof(*nw))) == NULL)
		goto nomem;
	p11.sobj_owner = nw;
	c->id = P11_SESSION_OBJ_BIT | p11.next_sobj++;
	o->id = c->id;
	p11.sobjs[p11.nsobjs] = c;
	p11.sobj_owner[p11.nsobjs] = s->handle;
	p11.nsobjs++;
	*ret_handle = (CK_OBJECT_HANDLE)c->id;
	return CKR_OK;
 nomem:
	m2m_object_free(c);
	return CKR_HOST_MEMORY;
}

/* see p11.h */
void
p11_object_gone(uint64_t token_id, uint64_t id)
{
	struct m2m_object *k;
	size_t i;

	m2m_core_forget(p11.core, id);
	/*
	 * An operation holds its own reference to its key: it would unwrap
	 * the key again at its next call and cache the working copy under
	 * the dead id, kept until the logout.  No operation holds one (the
	 * common case, e.g. a session's objects dropped as it closes): no
	 * scan of the session table.
	 */
	for (i = 0; p11.op_keys != 0 && p11.sessions != NULL &&
	    i < P11_MAX_SESSIONS; i++) {
		k = p11.sessions[i].op_key;
		if (p11.sessions[i].handle != 0 && k != NULL && k->id == id &&
		    k->token_id == token_id)
			p11_session_op_reset(&p11.sessions[i]);
	}
}

static void
sobj_remove(size_t i)
{
	p11_object_gone(p11.sobjs[i]->token_id, p11.sobjs[i]->id);
	m2m_object_free(p11.sobjs[i]);
	p11.sobjs[i] = p11.sobjs[p11.nsobjs - 1];
	p11.sobj_owner[i] = p11.sobj_owner[p11.nsobjs - 1];
	p11.nsobjs--;
}

/* see p11.h */
void
p11_sobj_remove(CK_OBJECT_HANDLE h)
{
	ssize_t i = sobj_index(h);

	if (i >= 0)
		sobj_remove((size_t)i);
}

/* see p11.h */
int
p11_sobj_replace(CK_OBJECT_HANDLE h, struct m2m_object *o)
{
	ssize_t i = sobj_index(h);

	if (i < 0)
		return M2M_ERR_NOT_FOUND;
	m2m_object_free(p11.sobjs[i]);
	p11.sobjs[i] = o;
	return 0;
}

/* see p11.h */
void
p11_session_objects_drop(CK_SESSION_HANDLE h)
{
	size_t i = 0;

	while (i < p11.nsobjs) {
		if (h == 0 || p11.sobj_owner[i] == h)
			sobj_remove(i);
		else
			i++;
	}
	if (h == 0) {
		free(p11.sobjs);
		free(p11.sobj_owner);
		p11.sobjs = NULL;
		p11.sobj_owner = NULL;
	}
}

/* In a forked child: free the session objects, no backend call. */
static void
session_objects_abandon(void)
{
	size_t i;

	for (i = 0; i < p11.nsobjs; i++)
		m2m_object_free(p11.sobjs[i]);
	free(p11.sobjs);
	free(p11.sobj_owner);
	p11.sobjs = NULL;
	p11.sobj_owner = NULL;
	p11.nsobjs = 0;
}

/* ------------------------------------------------------------------ */
/* initialisation                                                      */
/* ------------------------------------------------------------------ */

static void
global_free(void)
{
	size_t i;

	if (p11.sessions != NULL) {
		for (i = 0; i < P11_MAX_SESSIONS; i++)
			if (p11.sessions[i].handle != 0)
				p11_session_close(&p11.sessions[i]);
		free(p11.sessions);
		p11.sessions = NULL;	/* p11_object_gone looks at them */
	}
	p11_session_objects_drop(0);
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
	struct orphan *o;
	size_t i;

	if ((o = calloc(1, sizeof(*o))) == NULL)
		return M2M_ERR_NO_MEMORY;
	o->core = p11.core;
	o->next = orphans;
	orphans = o;
	for (i = 0; p11.sessions != NULL && i < P11_MAX_SESSIONS; i++)
		if (p11.sessions[i].handle != 0)
			session_free(&p11.sessions[i]);
	free(p11.sessions);
	session_objects_abandon();
	m2m_core_cache_drop(p11.core);
	for (i = 0; i < p11.ntokens; i++)
		m2m_secret_free(p11.tokens[i].objauth);
	memset(&p11, 0, sizeof(p11));
	return 0;
}

/* see p11.h */
CK_RV
p11_init_args_check(CK_VOID_PTR pInitArgs)
{
	CK_C_INITIALIZE_ARGS *a = pInitArgs;
	int n;

	if (a == NULL)
		return CKR_OK;
	if (a->pReserved != NULL)
		return CKR_ARGUMENTS_BAD;
	n = (a->CreateMutex != NULL) + (a->DestroyMutex != NULL) +
	    (a->LockMutex != NULL) + (a->UnlockMutex != NULL);
	if (n != 0 && n != 4)
		return CKR_ARGUMENTS_BAD;
	return CKR_OK;
}

static CK_RV
init_args(CK_VOID_PTR pInitArgs)
{
	CK_C_INITIALIZE_ARGS *a = pInitArgs;
	CK_RV rv;

	use_app_mutex = 0;
	if ((rv = p11_init_args_check(pInitArgs)) != CKR_OK || a == NULL)
		return rv;
	if (a->CreateMutex != NULL && (a->flags & CKF_OS_LOCKING_OK) == 0) {
		/* the application's own locks, as it asked */
		app_args = *a;
		if (a->CreateMutex(&app_mutex) != CKR_OK)
			return CKR_CANT_LOCK;
		use_app_mutex = 1;
	}
	return CKR_OK;
}

/* The configuration, the core and the state (init_lock held). */
static CK_RV
state_open(void)
{
	struct m2m_conf *conf = NULL;
	char err[512] = "";
	int r;
	CK_RV rv;

	m2m_log_from_env();
	if ((r = m2m_conf_load(m2m_conf_default_path(), &conf, err,
	    sizeof(err))) != 0) {
		m2m_error("%s", err);
		return p11_rv_in(P11_RV_OPEN, r);
	}
	if (conf->log_level_set && getenv("M2MTOKEN_LOG_LEVEL") == NULL)
		m2m_log_set_level(conf->log_level);
	memset(&p11, 0, sizeof(p11));
	p11.next_session = 1;
	p11.next_sobj = 1;
	if ((p11.sessions = calloc(P11_MAX_SESSIONS,
	    sizeof(*p11.sessions))) == NULL) {
		m2m_conf_free(conf);
		return CKR_HOST_MEMORY;
	}
	r = m2m_core_open(conf, &p11.core, err, sizeof(err));	/* takes conf */
	conf = NULL;
	if (r != 0) {
		m2m_error("%s", err[0] ? err : m2m_strerror(r));
		return p11_rv_in(P11_RV_OPEN, r);
	}
	if ((rv = p11_tokens_refresh()) != CKR_OK) {
		m2m_error("cannot read the token list from the store");
		return rv;
	}
	return CKR_OK;
}

/* see p11.h */
CK_RV
p11_state_open(CK_VOID_PTR pInitArgs)
{
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
	if ((rv = state_open()) != CKR_OK) {
		global_free();
		if (use_app_mutex)
			(void)app_args.DestroyMutex(app_mutex);
		use_app_mutex = 0;
		goto out;
	}
	__atomic_store_n(&initialized, 1, __ATOMIC_RELEASE);
 out:
	pthread_mutex_unlock(&init_lock);
	return rv;
}

/* see p11.h */
CK_RV
p11_state_close(void)
{
	pthread_mutex_lock(&init_lock);
	if (!initialized) {
		pthread_mutex_unlock(&init_lock);
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	}
	p11_lock();
	__atomic_store_n(&initialized, 0, __ATOMIC_SEQ_CST);
	/*
	 * Every other thread inside leaves: one blocked in p11_lock finds the
	 * module uninitialised, a C_Login checking its PIN without the lock
	 * finishes with the core (pin_checks <= entries).  Then no thread
	 * holds or waits for the application's mutex, destroyed below.
	 */
	while (__atomic_load_n(&entries, __ATOMIC_SEQ_CST) != 0)
		relock_wait();
	global_free();
	p11_unlock();
	if (use_app_mutex)
		(void)app_args.DestroyMutex(app_mutex);
	use_app_mutex = 0;
	pthread_mutex_unlock(&init_lock);
	return CKR_OK;
}
