/*
 * m2mtoken: the store's statements on transactions, module metadata,
 * token rows and PIN columns.  Object rows are in store_object.c, opening
 * in store_open.c, the statement helpers in store_stmt.c.  See store.h
 * and docs/architecture.md.
 *
 * Every public function of the store runs exactly one SQL statement
 * (token_clear_objects runs a second, read-only one only to tell "no such
 * token" from "no objects"; object_insert writes the row, then its binding
 * MAC, which covers the new row id, inside a savepoint), so each is atomic
 * on its own and none opens a transaction of its own: inside a caller's
 * m2m_store_begin() they simply join it.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "err.h"
#include "log.h"
#include "secret.h"
#include "store.h"
#include "store_int.h"

/* Longest meta key and value accepted (module metadata is small). */
#define STORE_META_KEY_MAX	256
#define STORE_META_VAL_MAX	65536
/* Most tokens one list returns. */
#define STORE_TOKENS_MAX	65536
#define TOKEN_FIELD_MAX(f)	(sizeof(((struct m2m_token_rec *)0)->f) - 1)
#define STORE_LABEL_MAX		TOKEN_FIELD_MAX(label)
#define STORE_SERIAL_MAX	TOKEN_FIELD_MAX(serial)

/* see store.h */
int
m2m_store_begin(struct m2m_store *s)
{
	if (s == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if (!sqlite3_get_autocommit(s->db)) {
		m2m_error("store %s: nested transaction", s->path);
		return M2M_ERR_INTERNAL;
	}
	return store_stmt_exec(s, ST_BEGIN);
}

/* see store.h */
int
m2m_store_commit(struct m2m_store *s)
{
	if (s == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if (sqlite3_get_autocommit(s->db)) {
		m2m_error("store %s: commit without a transaction", s->path);
		return M2M_ERR_INTERNAL;
	}
	return store_stmt_exec(s, ST_COMMIT);
}

/* see store.h */
void
m2m_store_rollback(struct m2m_store *s)
{
	if (s == NULL || sqlite3_get_autocommit(s->db))
		return;
	(void)store_stmt_exec(s, ST_ROLLBACK);
}

static int
meta_key_ok(const char *key)
{
	return key != NULL && *key != '\0' &&
	    strnlen(key, STORE_META_KEY_MAX + 1) <= STORE_META_KEY_MAX;
}

/* see store.h */
int
m2m_store_meta_get(struct m2m_store *s, const char *key, uint8_t **ret,
    size_t *ret_len)
{
	sqlite3_stmt *st;
	const void *p;
	uint8_t *v = NULL;
	int n, rc, r = M2M_ERR_INTERNAL;

	if (s == NULL || !meta_key_ok(key) || ret == NULL || ret_len == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	st = store_stmt_get(s, ST_META_GET);
	if ((rc = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC)) !=
	    SQLITE_OK) {
		r = store_bind_fail(s, ST_META_GET, rc);
		goto out;
	}
	if ((r = store_step_row(s, ST_META_GET)) != 0)
		goto out;
	p = sqlite3_column_blob(st, 0);
	n = sqlite3_column_bytes(st, 0);
	if (n < 0 || (size_t)n > STORE_META_VAL_MAX ||
	    (p == NULL && n != 0)) {
		m2m_error("store %s: meta value too large", s->path);
		r = M2M_ERR_STORE_CORRUPT;
		goto out;
	}
	if ((v = malloc(n == 0 ? 1 : (size_t)n)) == NULL) {
		r = M2M_ERR_NO_MEMORY;
		goto out;
	}
	if (n != 0)
		memcpy(v, p, (size_t)n);
	*ret = v;
	*ret_len = (size_t)n;
	v = NULL;	/* transferred */
	r = 0;
 out:
	store_stmt_put(s, ST_META_GET);
	free(v);
	return r;
}

/* see store.h */
int
m2m_store_meta_put(struct m2m_store *s, const char *key, const uint8_t *val,
    size_t len)
{
	sqlite3_stmt *st;
	int rc, r = M2M_ERR_INTERNAL;

	if (s == NULL || !meta_key_ok(key) || (val == NULL && len != 0) ||
	    len > STORE_META_VAL_MAX)
		return M2M_ERR_INVALID_ARGUMENT;
	st = store_stmt_get(s, ST_META_PUT);
	if ((rc = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC)) !=
	    SQLITE_OK ||
	    (rc = store_bind_bytes(st, 2, val, len)) != SQLITE_OK) {
		r = store_bind_fail(s, ST_META_PUT, rc);
		goto out;
	}
	r = store_step_done(s, ST_META_PUT);
 out:
	store_stmt_put(s, ST_META_PUT);
	return r;
}

static int
token_rec_ok(const struct m2m_token_rec *rec)
{
	return memchr(rec->label, '\0', sizeof(rec->label)) != NULL &&
	    memchr(rec->serial, '\0', sizeof(rec->serial)) != NULL &&
	    rec->so_pin_len <= sizeof(rec->so_pin) &&
	    rec->user_pin_len <= sizeof(rec->user_pin);
}

/* Bind ?2..?9 of ST_TOK_INSERT / ST_TOK_UPDATE from rec. */
static int
token_bind(sqlite3_stmt *st, const struct m2m_token_rec *rec)
{
	int rc;

	if ((rc = sqlite3_bind_text(st, 2, rec->label, -1,
	    SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(st, 3, rec->serial, -1,
	    SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int(st, 4, rec->initialized != 0)) !=
	    SQLITE_OK ||
	    (rc = sqlite3_bind_int(st, 5, rec->user_pin_set != 0)) !=
	    SQLITE_OK ||
	    (rc = store_bind_bytes(st, 6, rec->so_pin, rec->so_pin_len)) !=
	    SQLITE_OK ||
	    (rc = store_bind_bytes(st, 7, rec->user_pin, rec->user_pin_len)) !=
	    SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 8, rec->so_fails)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 9, rec->user_fails)) != SQLITE_OK)
		return rc;
	return SQLITE_OK;
}

/* Read the current row (TOK_COLS) into rec; M2M_ERR_STORE_CORRUPT if bad. */
static int
token_row(const struct m2m_store *s, sqlite3_stmt *st,
    struct m2m_token_rec *rec)
{
	sqlite3_int64 id, init, pinset, sof, uf;

	memset(rec, 0, sizeof(*rec));
	id = sqlite3_column_int64(st, 0);
	if (store_col_uint(st, 0, INT64_MAX, &id) != 0)
		return store_corrupt(s, "tokens", (uint64_t)id, "bad id");
	if (store_col_text(st, 1, rec->label, STORE_LABEL_MAX) != 0)
		return store_corrupt(s, "tokens", (uint64_t)id, "bad label");
	if (store_col_text(st, 2, rec->serial, STORE_SERIAL_MAX) != 0)
		return store_corrupt(s, "tokens", (uint64_t)id, "bad serial");
	if (store_col_uint(st, 3, 1, &init) != 0 ||
	    store_col_uint(st, 4, 1, &pinset) != 0)
		return store_corrupt(s, "tokens", (uint64_t)id, "bad flags");
	if (store_col_bytes(st, 5, rec->so_pin, sizeof(rec->so_pin),
	    &rec->so_pin_len) != 0 ||
	    store_col_bytes(st, 6, rec->user_pin, sizeof(rec->user_pin),
	    &rec->user_pin_len) != 0)
		return store_corrupt(s, "tokens", (uint64_t)id,
		    "bad PIN verifier");
	if (store_col_uint(st, 7, UINT_MAX, &sof) != 0 ||
	    store_col_uint(st, 8, UINT_MAX, &uf) != 0)
		return store_corrupt(s, "tokens", (uint64_t)id,
		    "bad failure counter");
	rec->id = (uint64_t)id;
	rec->initialized = (int)init;
	rec->user_pin_set = (int)pinset;
	rec->so_fails = (unsigned int)sof;
	rec->user_fails = (unsigned int)uf;
	return 0;
}

/* see store.h */
int
m2m_store_token_list(struct m2m_store *s, struct m2m_token_rec **ret,
    size_t *ret_n)
{
	struct m2m_token_rec *v = NULL, *nv;
	sqlite3_stmt *st;
	size_t n = 0, cap = 0, ncap;
	int r = M2M_ERR_INTERNAL;

	if (s == NULL || ret == NULL || ret_n == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	st = store_stmt_get(s, ST_TOK_LIST);
	while ((r = store_step_next(s, ST_TOK_LIST)) == 1) {
		if (n == cap) {
			if (cap >= STORE_TOKENS_MAX) {
				m2m_error("store %s: more than %d tokens",
				    s->path, STORE_TOKENS_MAX);
				r = M2M_ERR_STORE;
				goto out;
			}
			ncap = cap == 0 ? 4 : cap * 2;
			if ((nv = calloc(ncap, sizeof(*nv))) == NULL) {
				r = M2M_ERR_NO_MEMORY;
				goto out;
			}
			/* grow by copying so the old verifiers can be wiped */
			if (n != 0)
				memcpy(nv, v, n * sizeof(*v));
			if (v != NULL) {
				m2m_wipe(v, cap * sizeof(*v));
				free(v);
			}
			v = nv;
			cap = ncap;
		}
		if ((r = token_row(s, st, &v[n])) != 0)
			goto out;
		n++;
	}
	if (r != 0)
		goto out;
	*ret = v;
	*ret_n = n;
	v = NULL;	/* transferred */
	r = 0;
 out:
	store_stmt_put(s, ST_TOK_LIST);
	if (v != NULL) {
		m2m_wipe(v, cap * sizeof(*v));
		free(v);
	}
	return r;
}

/* see store.h */
int
m2m_store_token_get(struct m2m_store *s, uint64_t id,
    struct m2m_token_rec *ret)
{
	struct m2m_token_rec rec;
	sqlite3_stmt *st;
	int rc, r = M2M_ERR_INTERNAL;

	memset(&rec, 0, sizeof(rec));
	if (s == NULL || ret == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	st = store_stmt_get(s, ST_TOK_GET);
	if ((rc = store_bind_u64(st, 1, id)) != SQLITE_OK) {
		r = store_bind_fail(s, ST_TOK_GET, rc);
		goto out;
	}
	if ((r = store_step_row(s, ST_TOK_GET)) != 0)
		goto out;
	if ((r = token_row(s, st, &rec)) != 0)
		goto out;
	memcpy(ret, &rec, sizeof(rec));
	r = 0;
 out:
	store_stmt_put(s, ST_TOK_GET);
	m2m_wipe(&rec, sizeof(rec));
	return r;
}

/* see store.h */
int
m2m_store_token_insert(struct m2m_store *s, const struct m2m_token_rec *rec,
    uint64_t *ret_id)
{
	int rc, r = M2M_ERR_INTERNAL;

	if (s == NULL || rec == NULL || ret_id == NULL || !token_rec_ok(rec))
		return M2M_ERR_INVALID_ARGUMENT;
	if ((rc = token_bind(store_stmt_get(s, ST_TOK_INSERT), rec)) !=
	    SQLITE_OK) {
		r = store_bind_fail(s, ST_TOK_INSERT, rc);
		goto out;
	}
	if ((r = store_step_done(s, ST_TOK_INSERT)) != 0)
		goto out;
	*ret_id = (uint64_t)sqlite3_last_insert_rowid(s->db);
	r = 0;
 out:
	store_stmt_put(s, ST_TOK_INSERT);
	return r;
}

/* see store.h */
int
m2m_store_token_update(struct m2m_store *s, const struct m2m_token_rec *rec)
{
	sqlite3_stmt *st;
	int rc, r = M2M_ERR_INTERNAL;

	if (s == NULL || rec == NULL || !token_rec_ok(rec))
		return M2M_ERR_INVALID_ARGUMENT;
	st = store_stmt_get(s, ST_TOK_UPDATE);
	if ((rc = store_bind_u64(st, 1, rec->id)) != SQLITE_OK ||
	    (rc = token_bind(st, rec)) != SQLITE_OK) {
		r = store_bind_fail(s, ST_TOK_UPDATE, rc);
		goto out;
	}
	if ((r = store_step_done(s, ST_TOK_UPDATE)) != 0)
		goto out;
	r = store_changed_or_not_found(s);
 out:
	store_stmt_put(s, ST_TOK_UPDATE);
	return r;
}

/*
 * Run one of the PIN column statements: ?1 = id, then ?2 = v (when v is
 * not NULL), ?3 = reset.
 */
static int
token_pin_stmt(struct m2m_store *s, enum store_stmt which, uint64_t id,
    const uint8_t *v, size_t vlen, int reset)
{
	sqlite3_stmt *st = store_stmt_get(s, which);
	int rc, r = M2M_ERR_INTERNAL;

	rc = store_bind_u64(st, 1, id);
	if (rc == SQLITE_OK && v != NULL)
		rc = store_bind_bytes(st, 2, v, vlen);
	if (rc == SQLITE_OK && sqlite3_bind_parameter_count(st) == 3)
		rc = sqlite3_bind_int(st, 3, reset != 0);
	if (rc != SQLITE_OK) {
		r = store_bind_fail(s, which, rc);
		goto out;
	}
	if ((r = store_step_done(s, which)) != 0)
		goto out;
	r = store_changed_or_not_found(s);
 out:
	store_stmt_put(s, which);
	return r;
}

/* see store.h */
int
m2m_store_token_pin_fail(struct m2m_store *s, uint64_t id, int so)
{
	if (s == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	return token_pin_stmt(s, so ? ST_TOK_SO_FAIL : ST_TOK_USER_FAIL, id,
	    NULL, 0, 0);
}

/* see store.h */
int
m2m_store_token_pin_unfail(struct m2m_store *s, uint64_t id, int so)
{
	if (s == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	return token_pin_stmt(s, so ? ST_TOK_SO_UNFAIL : ST_TOK_USER_UNFAIL,
	    id, NULL, 0, 0);
}

/* see store.h */
int
m2m_store_token_pin_ok(struct m2m_store *s, uint64_t id, int so,
    const uint8_t *v, size_t vlen)
{
	if (s == NULL || v == NULL || vlen > M2M_PIN_VERIFIER_MAX)
		return M2M_ERR_INVALID_ARGUMENT;
	return token_pin_stmt(s, so ? ST_TOK_SO_OK : ST_TOK_USER_OK, id, v,
	    vlen, 0);
}

/* see store.h */
int
m2m_store_token_pin_set(struct m2m_store *s, uint64_t id, int so,
    const uint8_t *v, size_t vlen, int reset_fails)
{
	if (s == NULL || v == NULL || vlen > M2M_PIN_VERIFIER_MAX)
		return M2M_ERR_INVALID_ARGUMENT;
	return token_pin_stmt(s, so ? ST_TOK_SO_SET : ST_TOK_USER_SET, id, v,
	    vlen, reset_fails);
}

/* 0 if token id exists, else NOT_FOUND or a store error. */
static int
token_exists(struct m2m_store *s, uint64_t id)
{
	int rc, r;

	if ((rc = store_bind_u64(store_stmt_get(s, ST_TOK_EXISTS), 1,
	    id)) != SQLITE_OK)
		r = store_bind_fail(s, ST_TOK_EXISTS, rc);
	else
		r = store_step_row(s, ST_TOK_EXISTS);
	store_stmt_put(s, ST_TOK_EXISTS);
	return r;
}

/* see store.h */
int
m2m_store_token_clear_objects(struct m2m_store *s, uint64_t id)
{
	int rc, r = M2M_ERR_INTERNAL;

	if (s == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if ((rc = store_bind_u64(store_stmt_get(s, ST_TOK_CLEAR), 1,
	    id)) != SQLITE_OK) {
		r = store_bind_fail(s, ST_TOK_CLEAR, rc);
		goto out;
	}
	if ((r = store_step_done(s, ST_TOK_CLEAR)) != 0)
		goto out;
	r = store_changed_or_not_found(s);
	if (r == M2M_ERR_NOT_FOUND)
		r = token_exists(s, id);
 out:
	store_stmt_put(s, ST_TOK_CLEAR);
	return r;
}
