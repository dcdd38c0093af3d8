/*
 * m2mtoken: the store's insides, shared by its files only: store_open.c
 * (open, pragmas, schema, generation file), store_stmt.c (the statement
 * table, the SQLite error mapper, the statement helpers), store.c
 * (transactions, meta, token rows, PIN columns) and store_object.c (object
 * rows, binding MAC, queries).  Nothing outside token/store*.c includes
 * it.  The public contract is store.h; see docs/architecture.md.
 */
#ifndef M2M_STORE_INT_H
#define M2M_STORE_INT_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "backend.h"
#include "log.h"
#include "object.h"
#include "store.h"

/* The cached statements of a connection; SQL and name in store_stmt.c. */
enum store_stmt {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_META_GET,
	ST_META_PUT,
	ST_TOK_LIST,
	ST_TOK_GET,
	ST_TOK_INSERT,
	ST_TOK_UPDATE,
	ST_TOK_EXISTS,
	ST_TOK_SO_FAIL,
	ST_TOK_USER_FAIL,
	ST_TOK_SO_UNFAIL,
	ST_TOK_USER_UNFAIL,
	ST_TOK_SO_OK,
	ST_TOK_USER_OK,
	ST_TOK_SO_SET,
	ST_TOK_USER_SET,
	ST_TOK_CLEAR,
	ST_OBJ_GET,
	ST_OBJ_INSERT,
	ST_OBJ_SET_MAC,
	ST_OBJ_UPDATE,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_ROLLBACK_TO,
	ST_OBJ_DELETE,
	ST_OBJ_COUNT,
	ST_TOKEN_COUNT,
	ST_OBJ_SIZE,
	ST_FIND_BASE,
	ST_FIND_LABEL,
	ST_FIND_CKID,
	ST_FIND_ROLE,
	ST_FIND_CLS,
	ST_FIND_ALL,
	ST_COUNT
};

/*
 * Rows whose binding MAC this connection has checked or made: id, the
 * digest part of their bind message and the MAC.  A row read back with
 * the same digest and MAC is authentic without asking the backend again
 * (the object cache of pkcs11/ rereads every row after any write).  Only
 * this process's memory holds it.
 */
#define STORE_VCACHE_SLOTS	1024

struct store_vcache {
	uint64_t	id;	/* 0: empty */
	uint8_t		digest[M2M_OBJECT_DIGEST_LEN];
	uint8_t		mac[M2M_BIND_MAC_LEN];
};

struct m2m_store {
	sqlite3		*db;
	char		*path;		/* for log lines */
	sqlite3_stmt	*st[ST_COUNT];
	uint64_t	*gen;		/* shared write counter; NULL = none */
	m2m_store_mac_fn mac_fn;	/* binding MAC; NULL: none set */
	void		*mac_arg;
	uint64_t	 max_objects;	/* per token; 0: no limit */
	uint64_t	 max_bytes;	/* per token; 0: no limit */
	struct m2m_log_limit full_log;	/* "token N is full": objects */
	struct m2m_log_limit bytes_log;	/* "token N is full": bytes */
	struct store_vcache vcache[STORE_VCACHE_SLOTS];
};

/*
 * The size of an object row for [token] max_bytes, an SQL expression over
 * the row's columns, each prefixed by p ("NEW.", "OLD." or ""): the bytes
 * of every column that holds a caller's data or a key's, NULL counting 0.
 * The triggers of token_counts (store_open.c) and the statements of
 * store_stmt.c use this one text.
 */
#define STORE_ROW_SIZE(p)						\
	"(ifnull(length(" p "attrs), 0) + "				\
	"ifnull(length(" p "label), 0) + "				\
	"ifnull(length(" p "ckid), 0) + "				\
	"ifnull(length(" p "blob), 0) + "				\
	"ifnull(length(" p "aux), 0) + "				\
	"ifnull(length(" p "base_digest), 0) + "			\
	"ifnull(length(" p "mac), 0))"

/*
 * The only place SQLite result codes become M2M_ERR_*: rc (an extended
 * code or a primary one) to its M2M_ERR_*; SQLITE_OK, _ROW and _DONE are
 * no errors and give M2M_ERR_INTERNAL (a caller bug).
 */
int	m2m_err_from_sqlite(int rc);

/*
 * Log a failed SQLite call on s (one line: what, SQLite's message, never
 * data; info for NOT_FOUND and EXISTS, else error) and return its M2M_ERR_*.
 */
int	store_fail(const struct m2m_store *s, const char *what, int rc);

/*
 * Log a bad row of table (its id and why, never its contents) and return
 * M2M_ERR_STORE_CORRUPT.
 */
int	store_corrupt(const struct m2m_store *s, const char *table,
	    uint64_t id, const char *why);

/*
 * Prepare every statement of the table into s->st (persistent).  0, or the
 * failing SQLite code with s->db's message set; the statements prepared so
 * far stay in s->st for store_stmts_finalize().
 */
int	store_stmts_prepare(struct m2m_store *s);
/* Finalize every statement of s (NULL entries are skipped). */
void	store_stmts_finalize(struct m2m_store *s);

/*
 * Statement helpers.  A cached statement rests reset and with no bindings:
 * store_stmt_get() hands it out so, and every user hands it back with
 * store_stmt_put(which) on each way out (at out:), so that it holds
 * neither a read lock nor a pointer of the caller's.  The steps and
 * store_bind_fail() log failures with the statement's name and map them
 * through m2m_err_from_sqlite().
 */
sqlite3_stmt *store_stmt_get(struct m2m_store *s, enum store_stmt which);
/* Reset statement which of s and clear its bindings; s NULL: nothing. */
void	store_stmt_put(struct m2m_store *s, enum store_stmt which);
/* A bind of statement which failed with rc: logged, its M2M_ERR_*. */
int	store_bind_fail(const struct m2m_store *s, enum store_stmt which,
	    int rc);
/*
 * Step a statement that reads one row: 0 with the row current, NOT_FOUND
 * when there is none (not logged), else the logged store error.
 */
int	store_step_row(struct m2m_store *s, enum store_stmt which);
/*
 * Step a statement that reads many rows: 1 with a row current, 0 when
 * there are no more, else the logged store error (never NOT_FOUND for
 * the end, so a loop cannot mistake an error for it).
 */
int	store_step_next(struct m2m_store *s, enum store_stmt which);
/*
 * Step a statement that writes (every write goes through here): the
 * generation counter moves before and after it.  0 when it is done, else
 * the logged store error.  It does not reset the statement.
 */
int	store_step_done(struct m2m_store *s, enum store_stmt which);
/* One statement without bindings: get, step_done, put.  0 or an error. */
int	store_stmt_exec(struct m2m_store *s, enum store_stmt which);
/* After a write: 0 if it changed a row, else M2M_ERR_NOT_FOUND. */
int	store_changed_or_not_found(const struct m2m_store *s);

/* Bind v (as SQLite's signed 64 bits) at ?i; an SQLite code. */
int	store_bind_u64(sqlite3_stmt *st, int i, uint64_t v);
/*
 * Bind p[0..len) as a blob at ?i (static: p must outlive the step); an
 * empty one stays a non-NULL empty blob.  SQLITE_TOOBIG past INT_MAX.
 */
int	store_bind_bytes(sqlite3_stmt *st, int i, const uint8_t *p,
	    size_t len);

/*
 * Column readers of the current row: text (at most max bytes, no NUL,
 * into dst NUL-terminated), blob or NULL (at most max bytes into dst,
 * length in *ret_len; NULL is empty), unsigned integer in [0, max].  0, or
 * -1 when the column is of another type or too long (nothing promised
 * written then).
 */
int	store_col_text(sqlite3_stmt *st, int i, char *dst, size_t max);
int	store_col_bytes(sqlite3_stmt *st, int i, uint8_t *dst, size_t max,
	    size_t *ret_len);
int	store_col_uint(sqlite3_stmt *st, int i, sqlite3_int64 max,
	    sqlite3_int64 *ret);

#endif /* M2M_STORE_INT_H */
