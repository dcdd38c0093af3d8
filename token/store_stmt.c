/*
 * m2mtoken: the store's statements.  The table of cached SQL statements
 * (each with the name its log lines use), the one SQLite -> M2M_ERR_*
 * mapper, and the helpers every statement of store.c and store_object.c
 * goes through (get/put, step a row, step a write, "no row changed").
 * Contracts in store_int.h; see docs/architecture.md.
 */
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include <sqlite3.h>

#include "err.h"
#include "log.h"
#include "store_int.h"

#define TOK_COLS "id, label, serial, initialized, user_pin_set, so_pin, " \
	"user_pin, so_fails, user_fails"

struct stmt_def {
	const char	*sql;
	const char	*name;		/* for log lines */
};

static const struct stmt_def stmt_def[ST_COUNT] = {
	[ST_BEGIN] = { "BEGIN IMMEDIATE", "begin" },
	[ST_COMMIT] = { "COMMIT", "commit" },
	[ST_ROLLBACK] = { "ROLLBACK", "rollback" },
	[ST_META_GET] = { "SELECT val FROM meta WHERE key = ?1", "meta get" },
	[ST_META_PUT] = { "INSERT OR REPLACE INTO meta(key, val) "
	    "VALUES (?1, ?2)", "meta put" },
	[ST_TOK_LIST] = { "SELECT " TOK_COLS " FROM tokens ORDER BY id",
	    "token list" },
	[ST_TOK_GET] = { "SELECT " TOK_COLS " FROM tokens WHERE id = ?1",
	    "token get" },
	[ST_TOK_INSERT] = { "INSERT INTO tokens(label, serial, initialized, "
	    "user_pin_set, so_pin, user_pin, so_fails, user_fails) "
	    "VALUES (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", "token insert" },
	[ST_TOK_UPDATE] = { "UPDATE tokens SET label = ?2, serial = ?3, "
	    "initialized = ?4, user_pin_set = ?5, so_pin = ?6, user_pin = ?7, "
	    "so_fails = ?8, user_fails = ?9 WHERE id = ?1", "token update" },
	[ST_TOK_EXISTS] = { "SELECT 1 FROM tokens WHERE id = ?1",
	    "token lookup" },
	[ST_TOK_SO_FAIL] = { "UPDATE tokens SET so_fails = so_fails + 1 "
	    "WHERE id = ?1", "token PIN update" },
	[ST_TOK_USER_FAIL] = { "UPDATE tokens "
	    "SET user_fails = user_fails + 1 WHERE id = ?1",
	    "token PIN update" },
	[ST_TOK_SO_UNFAIL] = { "UPDATE tokens SET so_fails = so_fails - 1 "
	    "WHERE id = ?1 AND so_fails > 0", "token PIN update" },
	[ST_TOK_USER_UNFAIL] = { "UPDATE tokens "
	    "SET user_fails = user_fails - 1 WHERE id = ?1 AND user_fails > 0",
	    "token PIN update" },
	[ST_TOK_SO_OK] = { "UPDATE tokens SET so_fails = 0 "
	    "WHERE id = ?1 AND so_pin = ?2", "token PIN update" },
	[ST_TOK_USER_OK] = { "UPDATE tokens SET user_fails = 0 "
	    "WHERE id = ?1 AND user_pin = ?2", "token PIN update" },
	[ST_TOK_SO_SET] = { "UPDATE tokens SET so_pin = ?2, "
	    "so_fails = CASE WHEN ?3 THEN 0 ELSE so_fails END WHERE id = ?1",
	    "token PIN update" },
	[ST_TOK_USER_SET] = { "UPDATE tokens SET user_pin = ?2, "
	    "user_pin_set = 1, "
	    "user_fails = CASE WHEN ?3 THEN 0 ELSE user_fails END "
	    "WHERE id = ?1", "token PIN update" },
	[ST_TOK_CLEAR] = { "DELETE FROM objects WHERE token_id = ?1",
	    "token clear" },
	[ST_OBJ_GET] = { "SELECT cls, key_type, role, attrs, blob, aux, "
	    "origin, base_id, base_digest, mac "
	    "FROM objects WHERE id = ?1 AND token_id = ?2", "object get" },
	[ST_OBJ_INSERT] = { "INSERT INTO objects(token_id, cls, key_type, "
	    "role, label, ckid, attrs, blob, aux, origin, base_id, "
	    "base_digest) "
	    "VALUES (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
	    "object insert" },
	[ST_OBJ_SET_MAC] = { "UPDATE objects SET mac = ?3 "
	    "WHERE id = ?1 AND token_id = ?2", "object insert (MAC)" },
	[ST_OBJ_UPDATE] = { "UPDATE objects SET cls = ?3, key_type = ?4, "
	    "role = ?5, label = ?6, ckid = ?7, attrs = ?8, blob = ?9, "
	    "aux = ?10, origin = ?11, base_id = ?12, base_digest = ?13, "
	    "mac = ?14 WHERE id = ?1 AND token_id = ?2", "object update" },
	[ST_SAVEPOINT] = { "SAVEPOINT object_write",
	    "object write (savepoint)" },
	[ST_RELEASE] = { "RELEASE object_write",
	    "object write (release)" },
	[ST_ROLLBACK_TO] = { "ROLLBACK TO object_write",
	    "object write (rollback)" },
	[ST_OBJ_DELETE] = { "DELETE FROM objects "
	    "WHERE id = ?1 AND token_id = ?2", "object delete" },
	[ST_OBJ_COUNT] = { "SELECT count(*) FROM objects WHERE token_id = ?1",
	    "object count" },
	[ST_TOKEN_COUNT] = { "SELECT n, bytes FROM token_counts "
	    "WHERE token_id = ?1", "token count" },
	[ST_OBJ_SIZE] = { "SELECT " STORE_ROW_SIZE("") " FROM objects "
	    "WHERE id = ?1 AND token_id = ?2", "object size" },
	[ST_FIND_BASE] = { "SELECT id FROM objects "
	    "WHERE token_id = ?1 AND base_id = ?2 ORDER BY id",
	    "object find" },
	[ST_FIND_LABEL] = { "SELECT id FROM objects "
	    "WHERE token_id = ?1 AND label = ?2 ORDER BY id",
	    "object find" },
	[ST_FIND_CKID] = { "SELECT id FROM objects "
	    "WHERE token_id = ?1 AND ckid = ?2 ORDER BY id",
	    "object find" },
	[ST_FIND_ROLE] = { "SELECT id FROM objects "
	    "WHERE token_id = ?1 AND role = ?2 ORDER BY id",
	    "object find" },
	[ST_FIND_CLS] = { "SELECT id FROM objects "
	    "WHERE token_id = ?1 AND cls = ?2 ORDER BY id",
	    "object find" },
	[ST_FIND_ALL] = { "SELECT id FROM objects "
	    "WHERE token_id = ?1 ORDER BY id", "object find" },
};

/* A zero-length blob must be bound from a non-NULL pointer, else it is NULL. */
static const uint8_t empty_blob[1];

/* see store_int.h */
int
m2m_err_from_sqlite(int rc)
{
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		return M2M_ERR_NOT_FOUND;	/* object of a missing token */
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return M2M_ERR_INTERNAL;	/* not an error: a caller bug */
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return M2M_ERR_BUSY;
	case SQLITE_READONLY:
		return M2M_ERR_STORE_READONLY;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return M2M_ERR_STORE_CORRUPT;
	case SQLITE_NOMEM:
		return M2M_ERR_NO_MEMORY;
	case SQLITE_CONSTRAINT:
		return M2M_ERR_EXISTS;
	default:
		return M2M_ERR_STORE;
	}
}

/* see store_int.h */
int
store_fail(const struct m2m_store *s, const char *what, int rc)
{
	int r = m2m_err_from_sqlite(rc);

	if (r == M2M_ERR_NOT_FOUND || r == M2M_ERR_EXISTS)
		m2m_info("store %s: %s: %s", s->path, what,
		    sqlite3_errmsg(s->db));
	else
		m2m_error("store %s: %s: %s", s->path, what,
		    sqlite3_errmsg(s->db));
	return r;
}

/* see store_int.h */
int
store_corrupt(const struct m2m_store *s, const char *table, uint64_t id,
    const char *why)
{
	m2m_error("store %s: %s row %llu: %s", s->path, table,
	    (unsigned long long)id, why);
	return M2M_ERR_STORE_CORRUPT;
}

/* see store_int.h */
int
store_stmts_prepare(struct m2m_store *s)
{
	size_t i;
	int rc;

	for (i = 0; i < ST_COUNT; i++) {
		rc = sqlite3_prepare_v3(s->db, stmt_def[i].sql, -1,
		    SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
		if (rc != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

/* see store_int.h */
void
store_stmts_finalize(struct m2m_store *s)
{
	size_t i;

	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->st[i]);
}

/* see store_int.h */
sqlite3_stmt *
store_stmt_get(struct m2m_store *s, enum store_stmt which)
{
	return s->st[which];
}

/* see store_int.h */
void
store_stmt_put(struct m2m_store *s, enum store_stmt which)
{
	sqlite3_stmt *st;

	if (s == NULL || (st = s->st[which]) == NULL)
		return;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* see store_int.h */
int
store_bind_fail(const struct m2m_store *s, enum store_stmt which, int rc)
{
	return store_fail(s, stmt_def[which].name, rc);
}

/* see store_int.h */
int
store_step_row(struct m2m_store *s, enum store_stmt which)
{
	int rc;

	if ((rc = sqlite3_step(s->st[which])) == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return M2M_ERR_NOT_FOUND;
	return store_fail(s, stmt_def[which].name, rc);
}

/* see store_int.h */
int
store_step_next(struct m2m_store *s, enum store_stmt which)
{
	int rc;

	if ((rc = sqlite3_step(s->st[which])) == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return store_fail(s, stmt_def[which].name, rc);
}

/*
 * The generation counter (see m2m_store_generation() in store.h) moves
 * around each write.  Counting before the statement makes a reader that
 * looks during a write reload; counting after it makes any copy read
 * during the write stale once the write is done.
 */
static void
gen_bump(const struct m2m_store *s)
{
	if (s->gen != NULL)
		__atomic_add_fetch(s->gen, 1, __ATOMIC_SEQ_CST);
}

/* see store_int.h */
int
store_step_done(struct m2m_store *s, enum store_stmt which)
{
	int rc;

	gen_bump(s);
	rc = sqlite3_step(s->st[which]);
	gen_bump(s);
	if (rc == SQLITE_DONE)
		return 0;
	if (M2M_NEVER(rc == SQLITE_ROW))
		return M2M_ERR_INTERNAL;
	return store_fail(s, stmt_def[which].name, rc);
}

/* see store_int.h */
int
store_stmt_exec(struct m2m_store *s, enum store_stmt which)
{
	int r;

	(void)store_stmt_get(s, which);
	r = store_step_done(s, which);
	store_stmt_put(s, which);
	return r;
}

/* see store_int.h */
int
store_changed_or_not_found(const struct m2m_store *s)
{
	return sqlite3_changes(s->db) == 0 ? M2M_ERR_NOT_FOUND : 0;
}

/* see store_int.h */
int
store_bind_u64(sqlite3_stmt *st, int i, uint64_t v)
{
	return sqlite3_bind_int64(st, i, (sqlite3_int64)v);
}

/* see store_int.h */
int
store_bind_bytes(sqlite3_stmt *st, int i, const uint8_t *p, size_t len)
{
	if (len > INT_MAX)
		return SQLITE_TOOBIG;
	return sqlite3_bind_blob(st, i, len == 0 ? empty_blob : p, (int)len,
	    SQLITE_STATIC);
}

/* see store_int.h */
int
store_col_text(sqlite3_stmt *st, int i, char *dst, size_t max)
{
	const unsigned char *t;
	int n;

	if (sqlite3_column_type(st, i) != SQLITE_TEXT)
		return -1;
	t = sqlite3_column_text(st, i);
	n = sqlite3_column_bytes(st, i);
	if (t == NULL || n < 0 || (size_t)n > max ||
	    memchr(t, '\0', (size_t)n) != NULL)
		return -1;
	memcpy(dst, t, (size_t)n);
	dst[n] = '\0';
	return 0;
}

/* see store_int.h */
int
store_col_bytes(sqlite3_stmt *st, int i, uint8_t *dst, size_t max,
    size_t *ret_len)
{
	const void *p;
	int type = sqlite3_column_type(st, i), n;

	if (type == SQLITE_NULL) {
		*ret_len = 0;
		return 0;
	}
	if (type != SQLITE_BLOB)
		return -1;
	p = sqlite3_column_blob(st, i);
	n = sqlite3_column_bytes(st, i);
	if (n < 0 || (size_t)n > max || (p == NULL && n != 0))
		return -1;
	if (n != 0)
		memcpy(dst, p, (size_t)n);
	*ret_len = (size_t)n;
	return 0;
}

/* see store_int.h */
int
store_col_uint(sqlite3_stmt *st, int i, sqlite3_int64 max,
    sqlite3_int64 *ret)
{
	sqlite3_int64 v;

	if (sqlite3_column_type(st, i) != SQLITE_INTEGER)
		return -1;
	v = sqlite3_column_int64(st, i);
	if (v < 0 || v > max)
		return -1;
	*ret = v;
	return 0;
}
