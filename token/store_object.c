/*
 * m2mtoken: the store's object rows: insert, get, update, delete, each
 * row bound to its contents by a backend MAC (checked on every read, with
 * a per-connection cache of rows already checked), the per-token quota
 * of the insert and update ([token] max_objects, max_bytes), and the
 * index queries (find, count).  Token rows are in store.c, the statement
 * helpers in store_stmt.c.  See store.h and docs/architecture.md.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <sqlite3.h>

#include <m2mtoken/pkcs11-m2m.h>

#include "backend.h"
#include "err.h"
#include "log.h"
#include "object.h"
#include "store.h"
#include "store_int.h"

/* Largest encoded attribute list m2m_object_attrs_decode() can accept. */
#define STORE_ATTRS_ENC_MAX	(M2M_ATTRS_MAX * 2 * (12 + M2M_ATTR_MAX_LEN))
/* Most ids one find returns. */
#define STORE_FIND_MAX		(1UL << 24)

/* Bind an attribute's bytes, or NULL when the object lacks it. */
static int
bind_attr(sqlite3_stmt *st, int i, const struct m2m_object *o,
    unsigned long type)
{
	const struct m2m_attr *a = m2m_object_attr(o, type);

	if (a == NULL)
		return sqlite3_bind_null(st, i);
	return store_bind_bytes(st, i, a->val, a->len);
}

/* An id the store hands out (M2M_STORE_OBJECT_ID_MAX in store.h). */
static int
id_in_range(uint64_t id)
{
	return id != 0 && id <= M2M_STORE_OBJECT_ID_MAX;
}

/*
 * What we write must read back: m2m_object_attrs_decode() refuses
 * duplicates, over-long values and too many attributes.
 */
static int
object_ok(const struct m2m_object *o)
{
	size_t i, j;

	if (o->nattrs > M2M_ATTRS_MAX * 2 || (o->attrs == NULL &&
	    o->nattrs != 0))
		return 0;
	if (o->bloblen > M2M_BLOB_MAX || o->auxlen > M2M_BLOB_MAX ||
	    (o->blob == NULL && o->bloblen != 0) ||
	    (o->aux == NULL && o->auxlen != 0))
		return 0;
	for (i = 0; i < o->nattrs; i++) {
		if (o->attrs[i].len > M2M_ATTR_MAX_LEN ||
		    (o->attrs[i].val == NULL && o->attrs[i].len != 0))
			return 0;
		for (j = 0; j < i; j++)
			if (o->attrs[j].type == o->attrs[i].type)
				return 0;
	}
	return 1;
}

/* Bind the columns shared by insert and update, at ?3..?13. */
static int
object_bind(sqlite3_stmt *st, const struct m2m_object *o, const uint8_t *enc,
    size_t enclen)
{
	int rc;

	if ((rc = store_bind_u64(st, 3, o->cls)) != SQLITE_OK ||
	    (rc = store_bind_u64(st, 4, o->key_type)) != SQLITE_OK ||
	    (rc = store_bind_u64(st, 5, o->role)) != SQLITE_OK ||
	    (rc = bind_attr(st, 6, o, CKA_LABEL)) != SQLITE_OK ||
	    (rc = bind_attr(st, 7, o, CKA_ID)) != SQLITE_OK ||
	    (rc = store_bind_bytes(st, 8, enc, enclen)) != SQLITE_OK ||
	    (rc = o->blob == NULL ? sqlite3_bind_null(st, 9) :
	    store_bind_bytes(st, 9, o->blob, o->bloblen)) != SQLITE_OK ||
	    (rc = o->aux == NULL ? sqlite3_bind_null(st, 10) :
	    store_bind_bytes(st, 10, o->aux, o->auxlen)) != SQLITE_OK ||
	    (rc = store_bind_u64(st, 11, o->origin)) != SQLITE_OK ||
	    (rc = store_bind_u64(st, 12, o->base_id)) != SQLITE_OK ||
	    (rc = o->base_id == 0 ? sqlite3_bind_null(st, 13) :
	    store_bind_bytes(st, 13, o->base_digest,
	    sizeof(o->base_digest))) != SQLITE_OK)
		return rc;
	return SQLITE_OK;
}

/* see store.h */
void
m2m_store_set_binder(struct m2m_store *s, m2m_store_mac_fn fn, void *arg)
{
	if (s == NULL)
		return;
	s->mac_fn = fn;
	s->mac_arg = arg;
	memset(s->vcache, 0, sizeof(s->vcache));
}

static void
vcache_put(struct m2m_store *s, uint64_t id, const uint8_t *msg,
    const uint8_t *mac)
{
	struct store_vcache *v = &s->vcache[id % STORE_VCACHE_SLOTS];

	v->id = id;
	memcpy(v->digest, msg + M2M_OBJECT_BIND_MSG_LEN -
	    M2M_OBJECT_DIGEST_LEN, sizeof(v->digest));
	memcpy(v->mac, mac, sizeof(v->mac));
}

static int
vcache_hit(const struct m2m_store *s, uint64_t id, const uint8_t *msg,
    const uint8_t *mac)
{
	const struct store_vcache *v = &s->vcache[id % STORE_VCACHE_SLOTS];

	return v->id == id && CRYPTO_memcmp(v->digest, msg +
	    M2M_OBJECT_BIND_MSG_LEN - M2M_OBJECT_DIGEST_LEN,
	    sizeof(v->digest)) == 0 &&
	    CRYPTO_memcmp(v->mac, mac, sizeof(v->mac)) == 0;
}

/*
 * The binding MAC of row id of token token_id holding o with the encoded
 * attribute list enc, into mac (M2M_BIND_MAC_LEN bytes); its bind message
 * into msg (M2M_OBJECT_BIND_MSG_LEN bytes).
 */
static int
object_mac(struct m2m_store *s, const struct m2m_object *o, uint64_t token_id,
    uint64_t id, const uint8_t *enc, size_t enclen, uint8_t *msg,
    uint8_t *mac)
{
	int r;

	if (s->mac_fn == NULL) {
		m2m_error("store %s: no binding key: objects can be neither "
		    "read nor written", s->path);
		return M2M_ERR_INTERNAL;
	}
	if ((r = m2m_object_bind_msg(o, token_id, id, enc, enclen,
	    msg)) != 0)
		return r;
	if ((r = s->mac_fn(s->mac_arg, msg, M2M_OBJECT_BIND_MSG_LEN,
	    mac)) != 0)
		m2m_error("store %s: object %llu: the backend cannot make "
		    "its binding MAC: %s", s->path, (unsigned long long)id,
		    m2m_strerror(r));
	return r;
}

/* see store.h */
void
m2m_store_set_max_objects(struct m2m_store *s, uint64_t max)
{
	if (s != NULL)
		s->max_objects = max;
}

/* see store.h */
void
m2m_store_set_max_bytes(struct m2m_store *s, uint64_t max)
{
	if (s != NULL)
		s->max_bytes = max;
}

/*
 * The token's count and size of objects, as the triggers keep them
 * (token_counts, store_open.c): one row read, however many objects the
 * token holds.  Read after a write of the token's row, whose trigger
 * always makes the count: no row means the triggers are gone (a store
 * changed outside m2mtoken), M2M_ERR_STORE_CORRUPT and a line, not an
 * empty token.
 */
static int
token_count(struct m2m_store *s, uint64_t token_id, uint64_t *ret_n,
    uint64_t *ret_bytes)
{
	sqlite3_stmt *st = store_stmt_get(s, ST_TOKEN_COUNT);
	int rc, r;

	*ret_n = *ret_bytes = 0;
	if ((rc = store_bind_u64(st, 1, token_id)) != SQLITE_OK) {
		r = store_bind_fail(s, ST_TOKEN_COUNT, rc);
		goto out;
	}
	if ((r = store_step_row(s, ST_TOKEN_COUNT)) == 0) {
		*ret_n = (uint64_t)sqlite3_column_int64(st, 0);
		*ret_bytes = (uint64_t)sqlite3_column_int64(st, 1);
	} else if (r == M2M_ERR_NOT_FOUND) {
		m2m_error("store %s: token %llu has no object count after a "
		    "write (the counting triggers are gone: store changed "
		    "outside m2mtoken?): the write is undone; reopening the "
		    "store makes them again", s->path,
		    (unsigned long long)token_id);
		r = M2M_ERR_STORE_CORRUPT;
	}
 out:
	store_stmt_put(s, ST_TOKEN_COUNT);
	return r;
}

/*
 * The counting triggers ran for the write that moved the connection's
 * change count from before: an insert makes its row and moves its
 * token's count (2 changes), an update also takes the old row's size off
 * (3).  Fewer means a trigger was dropped while the store was open (the
 * open makes them again): M2M_ERR_STORE_CORRUPT, and the caller undoes
 * the write.  sqlite3_total_changes64 counts the triggers' changes, on
 * this connection only.
 */
static int
counted(struct m2m_store *s, sqlite3_int64 before, sqlite3_int64 want,
    uint64_t token_id)
{
	if (sqlite3_total_changes64(s->db) - before >= want)
		return 0;
	m2m_error("store %s: a write to token %llu was not counted (the "
	    "counting triggers are gone: store changed outside m2mtoken?): "
	    "the write is undone; reopening the store makes them again",
	    s->path, (unsigned long long)token_id);
	return M2M_ERR_STORE_CORRUPT;
}

/*
 * Called with the new row of token token_id inserted, its MAC not yet
 * set, in its write transaction (no other writer can commit meanwhile):
 * 0 when the token now holds at most s->max_objects rows of at most
 * s->max_bytes bytes together, the MAC to come counted, else
 * M2M_ERR_TOKEN_FULL (one line naming the limit, at most one a second
 * per limit) or the count's error.  The count is the token's row of
 * token_counts, which the insert's trigger has just moved.
 */
static int
quota_check(struct m2m_store *s, uint64_t token_id)
{
	uint64_t n = 0, bytes = 0;
	int r;

	if (s->max_objects == 0 && s->max_bytes == 0)
		return 0;
	if ((r = token_count(s, token_id, &n, &bytes)) != 0)
		return r;
	bytes += M2M_BIND_MAC_LEN;	/* the row's MAC, set next */
	if (s->max_objects != 0 && n > s->max_objects) {
		m2m_log_limited(&s->full_log, M2M_LOG_ERROR, "store %s: token "
		    "%llu is full: it holds %llu objects, [token] max_objects "
		    "is %llu; the new object is not stored", s->path,
		    (unsigned long long)token_id, (unsigned long long)(n - 1),
		    (unsigned long long)s->max_objects);
		return M2M_ERR_TOKEN_FULL;
	}
	if (s->max_bytes != 0 && bytes > s->max_bytes) {
		m2m_log_limited(&s->bytes_log, M2M_LOG_ERROR, "store %s: token "
		    "%llu is full: its objects would take %llu bytes with the "
		    "new one, [token] max_bytes is %llu; the new object is not "
		    "stored", s->path, (unsigned long long)token_id,
		    (unsigned long long)bytes,
		    (unsigned long long)s->max_bytes);
		return M2M_ERR_TOKEN_FULL;
	}
	return 0;
}

/* The size (STORE_ROW_SIZE) of row id of token token_id; NOT_FOUND. */
static int
row_size(struct m2m_store *s, uint64_t token_id, uint64_t id,
    uint64_t *ret)
{
	sqlite3_stmt *st = store_stmt_get(s, ST_OBJ_SIZE);
	int rc, r;

	*ret = 0;
	if ((rc = store_bind_u64(st, 1, id)) != SQLITE_OK ||
	    (rc = store_bind_u64(st, 2, token_id)) != SQLITE_OK) {
		r = store_bind_fail(s, ST_OBJ_SIZE, rc);
		goto out;
	}
	if ((r = store_step_row(s, ST_OBJ_SIZE)) == 0)
		*ret = (uint64_t)sqlite3_column_int64(st, 0);
 out:
	store_stmt_put(s, ST_OBJ_SIZE);
	return r;
}

/*
 * Called with row id of token token_id rewritten, in its write
 * transaction; before is its size before, read in that transaction.  An
 * update that grows the row (C_SetAttributeValue: a longer label, id,
 * application or object id) while the token's objects then take more
 * than s->max_bytes is
 * M2M_ERR_TOKEN_FULL (one line, at most one a second); one that does
 * not grow it passes, so that a token over a lowered limit can still
 * change its objects.  0, or the count's error.
 */
static int
quota_check_update(struct m2m_store *s, uint64_t token_id, uint64_t id,
    uint64_t before)
{
	uint64_t after = 0, n = 0, bytes = 0;
	int r;

	if ((r = row_size(s, token_id, id, &after)) != 0)
		return r;
	if (after <= before)
		return 0;
	if ((r = token_count(s, token_id, &n, &bytes)) != 0)
		return r;
	if (bytes <= s->max_bytes)
		return 0;
	m2m_log_limited(&s->bytes_log, M2M_LOG_ERROR, "store %s: token %llu "
	    "is full: its objects would take %llu bytes with object %llu "
	    "grown by %llu, [token] max_bytes is %llu; the object is not "
	    "changed", s->path, (unsigned long long)token_id,
	    (unsigned long long)bytes, (unsigned long long)id,
	    (unsigned long long)(after - before),
	    (unsigned long long)s->max_bytes);
	return M2M_ERR_TOKEN_FULL;
}

/* see store.h */
int
m2m_store_object_insert(struct m2m_store *s, struct m2m_object *o)
{
	sqlite3_stmt *st;
	uint8_t *enc = NULL, msg[M2M_OBJECT_BIND_MSG_LEN];
	uint8_t mac[M2M_BIND_MAC_LEN];
	size_t enclen = 0;
	uint64_t id = 0;
	sqlite3_int64 changes;
	int rc, r = M2M_ERR_INTERNAL, in_sp = 0;

	if (s == NULL || o == NULL || !object_ok(o))
		return M2M_ERR_INVALID_ARGUMENT;
	if ((r = m2m_object_attrs_encode(o, &enc, &enclen)) != 0)
		goto out;
	/* the MAC binds the row id: insert, then set the MAC, atomically */
	if ((r = store_stmt_exec(s, ST_SAVEPOINT)) != 0)
		goto out;
	in_sp = 1;
	st = store_stmt_get(s, ST_OBJ_INSERT);
	/* ?1 is unused in the insert: bind positions match update's */
	if ((rc = store_bind_u64(st, 2, o->token_id)) != SQLITE_OK ||
	    (rc = object_bind(st, o, enc, enclen)) != SQLITE_OK) {
		r = store_bind_fail(s, ST_OBJ_INSERT, rc);
		goto out;
	}
	changes = sqlite3_total_changes64(s->db);
	if ((r = store_step_done(s, ST_OBJ_INSERT)) != 0)
		goto out;
	id = (uint64_t)sqlite3_last_insert_rowid(s->db);
	store_stmt_put(s, ST_OBJ_INSERT);
	if (!id_in_range(id)) {
		m2m_error("store %s: new object id %llu is out of range (was "
		    "sqlite_sequence rewritten?): nothing stored", s->path,
		    (unsigned long long)id);
		r = M2M_ERR_STORE_CORRUPT;
		goto out;
	}
	/* over the token's quota: the savepoint is rolled back below */
	if ((s->max_objects != 0 || s->max_bytes != 0) &&
	    (r = counted(s, changes, 2, o->token_id)) != 0)
		goto out;
	if ((r = quota_check(s, o->token_id)) != 0)
		goto out;
	if ((r = object_mac(s, o, o->token_id, id, enc, enclen, msg,
	    mac)) != 0)
		goto out;
	st = store_stmt_get(s, ST_OBJ_SET_MAC);
	if ((rc = store_bind_u64(st, 1, id)) != SQLITE_OK ||
	    (rc = store_bind_u64(st, 2, o->token_id)) != SQLITE_OK ||
	    (rc = store_bind_bytes(st, 3, mac, sizeof(mac))) != SQLITE_OK) {
		r = store_bind_fail(s, ST_OBJ_SET_MAC, rc);
		goto out;
	}
	if ((r = store_step_done(s, ST_OBJ_SET_MAC)) != 0)
		goto out;
	store_stmt_put(s, ST_OBJ_SET_MAC);
	if ((r = store_stmt_exec(s, ST_RELEASE)) != 0)
		goto out;
	in_sp = 0;
	vcache_put(s, id, msg, mac);
	o->id = id;
	r = 0;
 out:
	store_stmt_put(s, ST_OBJ_INSERT);
	store_stmt_put(s, ST_OBJ_SET_MAC);
	if (in_sp) {
		(void)store_stmt_exec(s, ST_ROLLBACK_TO);
		(void)store_stmt_exec(s, ST_RELEASE);
	}
	free(enc);
	return r;
}

/* Copy blob column i (NULL or at most M2M_BLOB_MAX bytes) into *dst. */
static int
col_blob_max(sqlite3_stmt *st, int i, uint8_t **dst, size_t *dstlen)
{
	const void *p;
	int type = sqlite3_column_type(st, i), n;

	*dst = NULL;
	*dstlen = 0;
	if (type == SQLITE_NULL)
		return 0;
	if (type != SQLITE_BLOB)
		return M2M_ERR_STORE_CORRUPT;
	p = sqlite3_column_blob(st, i);
	n = sqlite3_column_bytes(st, i);
	if (n < 0 || (size_t)n > M2M_BLOB_MAX || (p == NULL && n != 0))
		return M2M_ERR_STORE_CORRUPT;
	if (n == 0)
		return 0;
	if ((*dst = malloc((size_t)n)) == NULL)
		return M2M_ERR_NO_MEMORY;
	memcpy(*dst, p, (size_t)n);
	*dstlen = (size_t)n;
	return 0;
}

/*
 * Check the binding MAC of the row just read into o (columns 6..9 of
 * ST_OBJ_GET: origin, base_id, base_digest, mac).  A row that does not
 * verify was written by something other than this module with this
 * backend: M2M_ERR_STORE_CORRUPT and a log line naming it.
 */
static int
object_verify(struct m2m_store *s, sqlite3_stmt *st, struct m2m_object *o,
    uint64_t token_id, uint64_t id, const uint8_t *enc, size_t enclen)
{
	uint8_t msg[M2M_OBJECT_BIND_MSG_LEN], mac[M2M_BIND_MAC_LEN];
	uint8_t stored[M2M_BIND_MAC_LEN];
	size_t n = 0;
	int r;

	if (sqlite3_column_type(st, 6) != SQLITE_INTEGER ||
	    sqlite3_column_type(st, 7) != SQLITE_INTEGER ||
	    store_col_bytes(st, 8, o->base_digest, sizeof(o->base_digest),
	    &n) != 0 || (n != 0 && n != sizeof(o->base_digest)))
		return store_corrupt(s, "objects", id, "bad origin or base");
	o->origin = (unsigned int)sqlite3_column_int64(st, 6);
	o->base_id = (uint64_t)sqlite3_column_int64(st, 7);
	if ((o->base_id == 0) != (n == 0))
		return store_corrupt(s, "objects", id, "bad origin or base");
	if (store_col_bytes(st, 9, stored, sizeof(stored), &n) != 0 ||
	    n != sizeof(stored)) {
		m2m_error("store %s: object %llu of token %llu has no binding "
		    "MAC: refused", s->path, (unsigned long long)id,
		    (unsigned long long)token_id);
		return M2M_ERR_STORE_CORRUPT;
	}
	if ((r = m2m_object_bind_msg(o, token_id, id, enc, enclen,
	    msg)) != 0)
		return r;
	if (vcache_hit(s, id, msg, stored))
		return 0;
	if ((r = object_mac(s, o, token_id, id, enc, enclen, msg, mac)) != 0)
		return r;
	if (CRYPTO_memcmp(mac, stored, sizeof(mac)) != 0) {
		m2m_error("store %s: object %llu of token %llu: its "
		    "attributes or wrapped keys do not match its binding MAC "
		    "(changed outside m2mtoken): refused", s->path,
		    (unsigned long long)id, (unsigned long long)token_id);
		return M2M_ERR_STORE_CORRUPT;
	}
	vcache_put(s, id, msg, mac);
	return 0;
}

/* see store.h */
int
m2m_store_object_get(struct m2m_store *s, uint64_t token_id, uint64_t id,
    struct m2m_object **ret)
{
	struct m2m_object *o = NULL;
	sqlite3_stmt *st;
	const void *p;
	int n, i, rc, r = M2M_ERR_INTERNAL;

	if (s == NULL || ret == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if (!id_in_range(id))
		return M2M_ERR_NOT_FOUND;	/* never handed out */
	st = store_stmt_get(s, ST_OBJ_GET);
	if ((rc = store_bind_u64(st, 1, id)) != SQLITE_OK ||
	    (rc = store_bind_u64(st, 2, token_id)) != SQLITE_OK) {
		r = store_bind_fail(s, ST_OBJ_GET, rc);
		goto out;
	}
	if ((r = store_step_row(s, ST_OBJ_GET)) != 0)
		goto out;
	for (i = 0; i < 3; i++) {
		if (sqlite3_column_type(st, i) != SQLITE_INTEGER) {
			r = store_corrupt(s, "objects", id,
			    "bad class/type/role");
			goto out;
		}
	}
	if (sqlite3_column_type(st, 3) != SQLITE_BLOB) {
		r = store_corrupt(s, "objects", id, "attributes not a blob");
		goto out;
	}
	p = sqlite3_column_blob(st, 3);
	n = sqlite3_column_bytes(st, 3);
	if (n < 0 || (size_t)n > STORE_ATTRS_ENC_MAX || (p == NULL && n != 0)) {
		r = store_corrupt(s, "objects", id, "attributes too long");
		goto out;
	}
	if ((r = m2m_object_new(&o)) != 0)
		goto out;
	if ((r = m2m_object_attrs_decode(o, p, (size_t)n)) != 0) {
		if (r == M2M_ERR_STORE_CORRUPT)
			store_corrupt(s, "objects", id, "bad attributes");
		goto out;
	}
	if ((r = col_blob_max(st, 4, &o->blob, &o->bloblen)) != 0 ||
	    (r = col_blob_max(st, 5, &o->aux, &o->auxlen)) != 0) {
		if (r == M2M_ERR_STORE_CORRUPT)
			store_corrupt(s, "objects", id, "bad wrapped blob");
		goto out;
	}
	/* the indexed columns are what find() matched on: they win */
	o->cls = (unsigned long)(uint64_t)sqlite3_column_int64(st, 0);
	o->key_type = (unsigned long)(uint64_t)sqlite3_column_int64(st, 1);
	o->role = (unsigned long)(uint64_t)sqlite3_column_int64(st, 2);
	/* ... and the MAC covers them, the attributes and the blobs */
	if ((r = object_verify(s, st, o, token_id, id, p, (size_t)n)) != 0)
		goto out;
	o->id = id;
	o->token_id = token_id;
	*ret = o;
	o = NULL;	/* transferred */
	r = 0;
 out:
	store_stmt_put(s, ST_OBJ_GET);
	m2m_object_free(o);
	return r;
}

/* see store.h */
int
m2m_store_object_update(struct m2m_store *s, const struct m2m_object *o)
{
	sqlite3_stmt *st;
	uint8_t *enc = NULL, msg[M2M_OBJECT_BIND_MSG_LEN];
	uint8_t mac[M2M_BIND_MAC_LEN];
	size_t enclen = 0;
	uint64_t before = 0;
	sqlite3_int64 changes;
	int rc, r = M2M_ERR_INTERNAL, in_sp = 0, own_tx = 0;

	if (s == NULL || o == NULL || !object_ok(o))
		return M2M_ERR_INVALID_ARGUMENT;
	if (!id_in_range(o->id))
		return M2M_ERR_NOT_FOUND;	/* never handed out */
	if ((r = m2m_object_attrs_encode(o, &enc, &enclen)) != 0)
		goto out;
	if ((r = object_mac(s, o, o->token_id, o->id, enc, enclen, msg,
	    mac)) != 0)
		goto out;
	/*
	 * Under max_bytes: the row's size before is read under the write
	 * lock, so that no other writer changes the row between that read
	 * and the update.  Outside a caller's transaction (which is BEGIN
	 * IMMEDIATE), one is begun here: a deferred one would take the lock
	 * only at the update, and its first read would pin a snapshot that
	 * another writer's commit makes too old to write from.
	 */
	if (s->max_bytes != 0 && sqlite3_get_autocommit(s->db)) {
		if ((r = store_stmt_exec(s, ST_BEGIN)) != 0)
			goto out;
		own_tx = 1;
	}
	if ((r = store_stmt_exec(s, ST_SAVEPOINT)) != 0)
		goto out;
	in_sp = 1;
	if (s->max_bytes != 0 &&
	    (r = row_size(s, o->token_id, o->id, &before)) != 0)
		goto out;
	st = store_stmt_get(s, ST_OBJ_UPDATE);
	if ((rc = store_bind_u64(st, 1, o->id)) != SQLITE_OK ||
	    (rc = store_bind_u64(st, 2, o->token_id)) != SQLITE_OK ||
	    (rc = object_bind(st, o, enc, enclen)) != SQLITE_OK ||
	    (rc = store_bind_bytes(st, 14, mac, sizeof(mac))) != SQLITE_OK) {
		r = store_bind_fail(s, ST_OBJ_UPDATE, rc);
		goto out;
	}
	changes = sqlite3_total_changes64(s->db);
	if ((r = store_step_done(s, ST_OBJ_UPDATE)) != 0 ||
	    (r = store_changed_or_not_found(s)) != 0)
		goto out;
	store_stmt_put(s, ST_OBJ_UPDATE);
	/* over the token's max_bytes: the savepoint is rolled back below */
	if (s->max_bytes != 0 &&
	    ((r = counted(s, changes, 3, o->token_id)) != 0 ||
	    (r = quota_check_update(s, o->token_id, o->id, before)) != 0))
		goto out;
	if ((r = store_stmt_exec(s, ST_RELEASE)) != 0)
		goto out;
	in_sp = 0;
	if (own_tx) {
		if ((r = store_stmt_exec(s, ST_COMMIT)) != 0)
			goto out;
		own_tx = 0;
	}
	vcache_put(s, o->id, msg, mac);
	r = 0;
 out:
	store_stmt_put(s, ST_OBJ_UPDATE);
	if (in_sp) {
		(void)store_stmt_exec(s, ST_ROLLBACK_TO);
		(void)store_stmt_exec(s, ST_RELEASE);
	}
	if (own_tx)
		(void)store_stmt_exec(s, ST_ROLLBACK);
	free(enc);
	return r;
}

/* see store.h */
int
m2m_store_object_delete(struct m2m_store *s, uint64_t token_id, uint64_t id)
{
	sqlite3_stmt *st;
	int rc, r = M2M_ERR_INTERNAL;

	if (s == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if (!id_in_range(id))
		return M2M_ERR_NOT_FOUND;	/* never handed out */
	st = store_stmt_get(s, ST_OBJ_DELETE);
	if ((rc = store_bind_u64(st, 1, id)) != SQLITE_OK ||
	    (rc = store_bind_u64(st, 2, token_id)) != SQLITE_OK) {
		r = store_bind_fail(s, ST_OBJ_DELETE, rc);
		goto out;
	}
	if ((r = store_step_done(s, ST_OBJ_DELETE)) != 0)
		goto out;
	r = store_changed_or_not_found(s);
 out:
	store_stmt_put(s, ST_OBJ_DELETE);
	return r;
}

/* see store.h */
int
m2m_store_object_find(struct m2m_store *s, uint64_t token_id,
    const struct m2m_store_query *q, uint64_t **ret_ids, size_t *ret_n)
{
	enum store_stmt which;
	sqlite3_stmt *st;
	uint64_t *ids = NULL, *nids;
	size_t n = 0, cap = 0, ncap;
	int rc, r = M2M_ERR_INTERNAL;

	if (s == NULL || ret_ids == NULL || ret_n == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	/* most selective first: a base key has few derived keys */
	if (q != NULL && q->has_base) {
		st = store_stmt_get(s, which = ST_FIND_BASE);
		rc = store_bind_u64(st, 2, q->base_id);
	} else if (q != NULL && q->label != NULL) {
		which = ST_FIND_LABEL;
		if (q->label_len > M2M_ATTR_MAX_LEN)
			goto none;	/* no stored label is that long */
		st = store_stmt_get(s, which);
		rc = store_bind_bytes(st, 2, q->label, q->label_len);
	} else if (q != NULL && q->ckid != NULL) {
		which = ST_FIND_CKID;
		if (q->ckid_len > M2M_ATTR_MAX_LEN)
			goto none;
		st = store_stmt_get(s, which);
		rc = store_bind_bytes(st, 2, q->ckid, q->ckid_len);
	} else if (q != NULL && q->has_role) {
		st = store_stmt_get(s, which = ST_FIND_ROLE);
		rc = store_bind_u64(st, 2, q->role);
	} else if (q != NULL && q->has_cls) {
		st = store_stmt_get(s, which = ST_FIND_CLS);
		rc = store_bind_u64(st, 2, q->cls);
	} else {
		st = store_stmt_get(s, which = ST_FIND_ALL);
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_OK ||
	    (rc = store_bind_u64(st, 1, token_id)) != SQLITE_OK) {
		r = store_bind_fail(s, which, rc);
		goto out;
	}
	while ((r = store_step_next(s, which)) == 1) {
		if (n == cap) {
			if (cap >= STORE_FIND_MAX) {
				m2m_error("store %s: find matches more than "
				    "%lu objects", s->path, STORE_FIND_MAX);
				r = M2M_ERR_STORE;
				goto out;
			}
			ncap = cap == 0 ? 16 : cap * 2;
			if ((nids = reallocarray(ids, ncap,
			    sizeof(*ids))) == NULL) {
				r = M2M_ERR_NO_MEMORY;
				goto out;
			}
			ids = nids;
			cap = ncap;
		}
		ids[n] = (uint64_t)sqlite3_column_int64(st, 0);
		if (!id_in_range(ids[n])) {
			store_corrupt(s, "objects", ids[n], "id out of range");
			continue;
		}
		n++;
	}
	if (r != 0)
		goto out;
 none:
	*ret_ids = ids;
	*ret_n = n;
	ids = NULL;	/* transferred */
	r = 0;
 out:
	store_stmt_put(s, which);
	free(ids);
	return r;
}

/* see store.h */
int
m2m_store_object_count(struct m2m_store *s, uint64_t token_id,
    uint64_t *ret_n)
{
	sqlite3_stmt *st;
	int rc, r = M2M_ERR_INTERNAL;

	if (s == NULL || ret_n == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	st = store_stmt_get(s, ST_OBJ_COUNT);
	if ((rc = store_bind_u64(st, 1, token_id)) != SQLITE_OK) {
		r = store_bind_fail(s, ST_OBJ_COUNT, rc);
		goto out;
	}
	/* count(*) always gives its one row */
	if ((r = store_step_row(s, ST_OBJ_COUNT)) != 0) {
		if (M2M_NEVER(r == M2M_ERR_NOT_FOUND))
			r = M2M_ERR_INTERNAL;
		goto out;
	}
	*ret_n = (uint64_t)sqlite3_column_int64(st, 0);
	r = 0;
 out:
	store_stmt_put(s, ST_OBJ_COUNT);
	return r;
}
