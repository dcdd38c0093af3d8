/*
 * The store: one SQLite database (WAL, busy timeout 10 s, schema version
 * table).  It holds tokens (label, serial, PIN verifiers and counters) and
 * objects (attributes and backend-wrapped secrets only: never a key value,
 * each row bound to its contents by a backend MAC: see below).
 * Lookups go through indexes on (token, label), (token, ckid), (token,
 * role), (token, class), (token, base id); object ids are AUTOINCREMENT and
 * never reused.
 *
 * A struct m2m_store is one connection; it is not thread safe (the caller
 * serialises).  Several processes may open the same file at once.
 */
#ifndef M2M_STORE_H
#define M2M_STORE_H

#include <stddef.h>
#include <stdint.h>

struct m2m_store;
struct m2m_object;

#define M2M_STORE_SCHEMA_VERSION	2
/*
 * Object row ids stay below every id bit the layers above reserve (session
 * objects, a key's alternate and backend forms: bits 60 to 63): a larger
 * id (a rewritten sqlite_sequence, a planted row) is never inserted,
 * found, read, updated or deleted (M2M_ERR_NOT_FOUND), so it can never
 * name another object's form.
 */
#define M2M_STORE_OBJECT_ID_MAX		((1ULL << 56) - 1)
#define M2M_PIN_VERIFIER_MAX		512

struct m2m_token_rec {
	uint64_t	id;
	char		label[33];		/* NUL-terminated, <= 32 bytes */
	char		serial[17];		/* NUL-terminated, <= 16 */
	int		initialized;		/* C_InitToken done */
	int		user_pin_set;		/* C_InitPIN done */
	uint8_t		so_pin[M2M_PIN_VERIFIER_MAX];	/* opaque verifier */
	size_t		so_pin_len;
	uint8_t		user_pin[M2M_PIN_VERIFIER_MAX];
	size_t		user_pin_len;
	unsigned int	so_fails;		/* consecutive failed logins */
	unsigned int	user_fails;
};

/*
 * Open (creating if absent, with its schema) the database at path.
 * Errors: M2M_ERR_STORE (cannot open/create: the reason is in errbuf),
 * M2M_ERR_STORE_CORRUPT (not a database, or a schema version this code
 * does not know), M2M_ERR_STORE_READONLY (file or directory not writable).
 */
int	m2m_store_open(const char *path, struct m2m_store **ret,
	    char *errbuf, size_t errlen);
void	m2m_store_close(struct m2m_store *s);

/*
 * The store's generation: a counter shared by every process that has the
 * store open (a mapped file "<path>-gen" beside it), changed by every write
 * any of them makes, before and after the write.  A copy of a row read
 * after the generation was g is current for as long as the generation is
 * still g.  Reading it costs one memory load, not an SQL statement.
 * M2M_ERR_UNSUPPORTED when the file could not be made (then cache nothing).
 * Writes made with other tools than this code do not change it.
 */
int	m2m_store_generation(const struct m2m_store *s, uint64_t *ret);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK.  Nested begin is an error. */
int	m2m_store_begin(struct m2m_store *s);
int	m2m_store_commit(struct m2m_store *s);
void	m2m_store_rollback(struct m2m_store *s);

/* Small key/value table for module metadata.  NOT_FOUND when absent. */
int	m2m_store_meta_get(struct m2m_store *s, const char *key,
	    uint8_t **ret, size_t *ret_len);
int	m2m_store_meta_put(struct m2m_store *s, const char *key,
	    const uint8_t *val, size_t len);

/* All tokens, ordered by id; *ret malloc'd (free()), may be NULL if 0. */
int	m2m_store_token_list(struct m2m_store *s, struct m2m_token_rec **ret,
	    size_t *ret_n);
int	m2m_store_token_get(struct m2m_store *s, uint64_t id,
	    struct m2m_token_rec *ret);
/* Insert rec (rec->id ignored); *ret_id the new id. */
int	m2m_store_token_insert(struct m2m_store *s,
	    const struct m2m_token_rec *rec, uint64_t *ret_id);
/*
 * Rewrite the whole row (C_InitToken over an existing token only: every
 * column gets a fresh value).  Never for a PIN change or a login: those
 * write only their own columns with the functions below, so that logins
 * and PIN changes of other processes are never undone.
 */
int	m2m_store_token_update(struct m2m_store *s,
	    const struct m2m_token_rec *rec);
/*
 * The PIN columns of token id, one UPDATE of its own columns each
 * (so: 1 the SO's verifier and counter, 0 the user's).  NOT_FOUND when
 * no row changed.
 *
 * pin_fail: fails = fails + 1 (a guess reserved before it is checked).
 * pin_unfail: fails = fails - 1 if above 0 (a reserved guess whose check
 *   gave no verdict: out of memory, a backend failure).
 * pin_ok: fails = 0, only while the verifier is still v[0..vlen): a
 *   guess checked against a verifier that was replaced meanwhile changes
 *   nothing (NOT_FOUND).
 * pin_set: verifier = v (user: and user_pin_set = 1); fails = 0 when
 *   reset_fails, else the counter is left as it is.
 */
int	m2m_store_token_pin_fail(struct m2m_store *s, uint64_t id, int so);
int	m2m_store_token_pin_unfail(struct m2m_store *s, uint64_t id, int so);
int	m2m_store_token_pin_ok(struct m2m_store *s, uint64_t id, int so,
	    const uint8_t *v, size_t vlen);
int	m2m_store_token_pin_set(struct m2m_store *s, uint64_t id, int so,
	    const uint8_t *v, size_t vlen, int reset_fails);
/* Delete every object of token id (C_InitToken over an existing token). */
int	m2m_store_token_clear_objects(struct m2m_store *s, uint64_t id);

/*
 * Object binding.  Every object row carries a MAC, made by fn (the
 * backend's bind_mac, backend.h) over m2m_object_bind_msg() of the row:
 * its token id, its own id, class, key type, role, origin and base, the
 * stored attribute list and both wrapped blobs.  A row is written only
 * with its MAC and read only when its MAC verifies, so a row changed by
 * anything but this module (a store writer without the backend's binding
 * key) is refused.  Until a binder is set, object insert, update and get
 * fail with M2M_ERR_INTERNAL.  fn returns 0 or an M2M_ERR_*.
 */
typedef int (*m2m_store_mac_fn)(void *arg, const uint8_t *msg, size_t len,
    uint8_t *out);
void	m2m_store_set_binder(struct m2m_store *s, m2m_store_mac_fn fn,
	    void *arg);

/*
 * The most objects one token may hold ([token] max_objects), and the most
 * bytes its object rows may take together ([token] max_bytes; a row's
 * size is the sum of its attribute list, label, id, wrapped blobs, base
 * digest and MAC: STORE_ROW_SIZE in store_int.h); set by the core at
 * open; 0, the default of a bare store: no limit.  Checked by every
 * m2m_store_object_insert(), and max_bytes by every
 * m2m_store_object_update() that grows a row.
 */
void	m2m_store_set_max_objects(struct m2m_store *s, uint64_t max);
void	m2m_store_set_max_bytes(struct m2m_store *s, uint64_t max);

/*
 * Insert o (o->token_id set) with its binding MAC, atomically (a savepoint
 * inside the caller's transaction, if any); sets o->id on success.
 * Errors of the store, or of the binder (backend); M2M_ERR_TOKEN_FULL
 * when the token would then hold more than its max_objects objects or
 * more than its max_bytes bytes: nothing is written, and a line naming
 * the limit says so (at most one a second per limit and connection).
 * The count is taken after the row is in, inside the same write
 * transaction, so that two processes cannot both take the last place.
 * A token without a count after the insert (the store's counting
 * triggers gone): M2M_ERR_STORE_CORRUPT, nothing written.
 */
int	m2m_store_object_insert(struct m2m_store *s, struct m2m_object *o);
/*
 * Load object id of token token_id; NOT_FOUND if absent.  A row whose
 * binding MAC is missing or does not verify: M2M_ERR_STORE_CORRUPT, logged
 * with the object's id; a backend failure making the MAC: its error.
 */
int	m2m_store_object_get(struct m2m_store *s, uint64_t token_id,
	    uint64_t id, struct m2m_object **ret);
/*
 * Rewrite the row of o (attributes, blobs, origin, base) with a new
 * binding MAC, atomically (a savepoint).  NOT_FOUND if gone.
 * M2M_ERR_TOKEN_FULL, nothing changed and a line, when the new row is
 * larger than the old and the token's rows would then take more than its
 * max_bytes.
 */
int	m2m_store_object_update(struct m2m_store *s,
	    const struct m2m_object *o);
/* NOT_FOUND if absent. */
int	m2m_store_object_delete(struct m2m_store *s, uint64_t token_id,
	    uint64_t id);

/*
 * Candidate ids for a search, using the most selective index given:
 * base id (derived keys of one base) else label (exact bytes) else ckid
 * else role else class else all of the token.  NULL / has_* = 0 means
 * "not constrained".  The caller still filters on the full template.
 * *ret_ids malloc'd (may be NULL when *ret_n == 0).
 */
struct m2m_store_query {
	const uint8_t	*label;	size_t label_len;
	const uint8_t	*ckid;	size_t ckid_len;
	int		 has_role;	unsigned long role;
	int		 has_cls;	unsigned long cls;
	int		 has_base;	uint64_t base_id;
};
int	m2m_store_object_find(struct m2m_store *s, uint64_t token_id,
	    const struct m2m_store_query *q, uint64_t **ret_ids,
	    size_t *ret_n);
/* Number of objects of a token. */
int	m2m_store_object_count(struct m2m_store *s, uint64_t token_id,
	    uint64_t *ret_n);

#endif /* M2M_STORE_H */
