/*
 * m2mtoken: the SQLite store.  See store.h.
 *
 * One connection per struct m2m_store.  Every public function below runs
 * exactly one SQL statement (token_clear_objects runs a second, read-only
 * one only to tell "no such token" from "no objects"; object_insert writes
 * the row, then its binding MAC, which covers the new row id, inside a
 * savepoint), so each is atomic on its own and none opens a transaction of
 * its own: inside a caller's m2m_store_begin() they simply join it.
 *
 * Pragmas, set once per connection:
 *  - journal_mode=WAL: readers never block the writer, so several processes
 *    (the module in many applications, the daemon) share one file.
 *  - synchronous=NORMAL: in WAL mode this cannot corrupt the database; a
 *    power cut (not a process crash) may lose the last transactions that
 *    had committed but not yet been checkpointed.  FULL would fsync the WAL
 *    on every commit, which makes C_GenerateKey/C_DeriveKey several times
 *    slower on flash.  Consequence to keep in mind: a PIN failure counter
 *    written just before a power cut can be lost.
 *  - foreign_keys=ON: deleting a token deletes its objects (ON DELETE
 *    CASCADE), and an object cannot name a token that does not exist.
 *  - secure_delete=ON: deleted rows (wrapped keys, old PIN verifiers) are
 *    overwritten in the database file instead of lingering in free pages.
 *  - busy timeout 10 s: a writer waits for another writer instead of
 *    failing at once; past that, M2M_ERR_BUSY.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <sqlite3.h>

#include <m2mtoken/pkcs11-m2m.h>

#include "backend.h"
#include "err.h"
#include "log.h"
#include "object.h"
#include "secret.h"
#include "store.h"

#define STORE_BUSY_TIMEOUT_MS	10000
/* Longest meta key and value accepted (module metadata is small). */
#define STORE_META_KEY_MAX	256
#define STORE_META_VAL_MAX	65536
/* Largest encoded attribute list m2m_object_attrs_decode() can accept. */
#define STORE_ATTRS_ENC_MAX	(M2M_ATTRS_MAX * 2 * (12 + M2M_ATTR_MAX_LEN))
/* Most ids one find returns, and most tokens one list returns. */
#define STORE_FIND_MAX		(1UL << 24)
#define STORE_TOKENS_MAX	65536
#define TOKEN_FIELD_MAX(f)	(sizeof(((struct m2m_token_rec *)0)->f) - 1)
#define STORE_LABEL_MAX		TOKEN_FIELD_MAX(label)
#define STORE_SERIAL_MAX	TOKEN_FIELD_MAX(serial)

enum {
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
	ST_TOK_SO_LOCK,
	ST_TOK_USER_LOCK,
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
	ST_FIND_BASE,
	ST_FIND_LABEL,
	ST_FIND_CKID,
	ST_FIND_ROLE,
	ST_FIND_CLS,
	ST_FIND_ALL,
	ST_COUNT
};

#define TOK_COLS "id, label, serial, initialized, user_pin_set, so_pin, " \
	"user_pin, so_fails, user_fails"

static const char *const stmt_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_META_GET] = "SELECT val FROM meta WHERE key = ?1",
	[ST_META_PUT] = "INSERT OR REPLACE INTO meta(key, val) VALUES (?1, ?2)",
	[ST_TOK_LIST] = "SELECT " TOK_COLS " FROM tokens ORDER BY id",
	[ST_TOK_GET] = "SELECT " TOK_COLS " FROM tokens WHERE id = ?1",
	[ST_TOK_INSERT] = "INSERT INTO tokens(label, serial, initialized, "
	    "user_pin_set, so_pin, user_pin, so_fails, user_fails) "
	    "VALUES (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[ST_TOK_UPDATE] = "UPDATE tokens SET label = ?2, serial = ?3, "
	    "initialized = ?4, user_pin_set = ?5, so_pin = ?6, user_pin = ?7, "
	    "so_fails = ?8, user_fails = ?9 WHERE id = ?1",
	[ST_TOK_EXISTS] = "SELECT 1 FROM tokens WHERE id = ?1",
	[ST_TOK_SO_FAIL] = "UPDATE tokens SET so_fails = so_fails + 1 "
	    "WHERE id = ?1",
	[ST_TOK_USER_FAIL] = "UPDATE tokens SET user_fails = user_fails + 1 "
	    "WHERE id = ?1",
	[ST_TOK_SO_UNFAIL] = "UPDATE tokens SET so_fails = so_fails - 1 "
	    "WHERE id = ?1 AND so_fails > 0",
	[ST_TOK_USER_UNFAIL] = "UPDATE tokens SET user_fails = user_fails - 1 "
	    "WHERE id = ?1 AND user_fails > 0",
	[ST_TOK_SO_LOCK] = "UPDATE tokens SET so_fails = max(so_fails, ?2) "
	    "WHERE id = ?1",
	[ST_TOK_USER_LOCK] = "UPDATE tokens "
	    "SET user_fails = max(user_fails, ?2) WHERE id = ?1",
	[ST_TOK_SO_OK] = "UPDATE tokens SET so_fails = 0 "
	    "WHERE id = ?1 AND so_pin = ?2",
	[ST_TOK_USER_OK] = "UPDATE tokens SET user_fails = 0 "
	    "WHERE id = ?1 AND user_pin = ?2",
	[ST_TOK_SO_SET] = "UPDATE tokens SET so_pin = ?2, "
	    "so_fails = CASE WHEN ?3 THEN 0 ELSE so_fails END WHERE id = ?1",
	[ST_TOK_USER_SET] = "UPDATE tokens SET user_pin = ?2, "
	    "user_pin_set = 1, "
	    "user_fails = CASE WHEN ?3 THEN 0 ELSE user_fails END "
	    "WHERE id = ?1",
	[ST_TOK_CLEAR] = "DELETE FROM objects WHERE token_id = ?1",
	[ST_OBJ_GET] = "SELECT cls, key_type, role, attrs, blob, aux, "
	    "origin, base_id, base_digest, mac "
	    "FROM objects WHERE id = ?1 AND token_id = ?2",
	[ST_OBJ_INSERT] = "INSERT INTO objects(token_id, cls, key_type, role, "
	    "label, ckid, attrs, blob, aux, origin, base_id, base_digest) "
	    "VALUES (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
	[ST_OBJ_SET_MAC] = "UPDATE objects SET mac = ?3 "
	    "WHERE id = ?1 AND token_id = ?2",
	[ST_OBJ_UPDATE] = "UPDATE objects SET cls = ?3, key_type = ?4, "
	    "role = ?5, label = ?6, ckid = ?7, attrs = ?8, blob = ?9, "
	    "aux = ?10, origin = ?11, base_id = ?12, base_digest = ?13, "
	    "mac = ?14 WHERE id = ?1 AND token_id = ?2",
	[ST_SAVEPOINT] = "SAVEPOINT object_insert",
	[ST_RELEASE] = "RELEASE object_insert",
	[ST_ROLLBACK_TO] = "ROLLBACK TO object_insert",
	[ST_OBJ_DELETE] = "DELETE FROM objects WHERE id = ?1 AND token_id = ?2",
	[ST_OBJ_COUNT] = "SELECT count(*) FROM objects WHERE token_id = ?1",
	[ST_FIND_BASE] = "SELECT id FROM objects "
	    "WHERE token_id = ?1 AND base_id = ?2 ORDER BY id",
	[ST_FIND_LABEL] = "SELECT id FROM objects "
	    "WHERE token_id = ?1 AND label = ?2 ORDER BY id",
	[ST_FIND_CKID] = "SELECT id FROM objects "
	    "WHERE token_id = ?1 AND ckid = ?2 ORDER BY id",
	[ST_FIND_ROLE] = "SELECT id FROM objects "
	    "WHERE token_id = ?1 AND role = ?2 ORDER BY id",
	[ST_FIND_CLS] = "SELECT id FROM objects "
	    "WHERE token_id = ?1 AND cls = ?2 ORDER BY id",
	[ST_FIND_ALL] = "SELECT id FROM objects "
	    "WHERE token_id = ?1 ORDER BY id",
};

/*
 * Version 2 (version 1 had no origin, base_id, base_digest, mac: a store
 * of that version is refused, see schema_check).  Every statement is
 * idempotent so that two processes creating the same fresh file both
 * succeed (they are serialised by BEGIN IMMEDIATE).
 */
static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS schema(version INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS meta("
	"  key TEXT PRIMARY KEY NOT NULL,"
	"  val BLOB);"
	"CREATE TABLE IF NOT EXISTS tokens("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  label TEXT NOT NULL,"
	"  serial TEXT NOT NULL,"
	"  initialized INTEGER NOT NULL,"
	"  user_pin_set INTEGER NOT NULL,"
	"  so_pin BLOB,"
	"  user_pin BLOB,"
	"  so_fails INTEGER NOT NULL,"
	"  user_fails INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS objects("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  token_id INTEGER NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,"
	"  cls INTEGER NOT NULL,"
	"  key_type INTEGER NOT NULL,"
	"  role INTEGER NOT NULL,"
	"  label BLOB,"
	"  ckid BLOB,"
	"  attrs BLOB NOT NULL,"
	"  blob BLOB,"
	"  aux BLOB,"
	"  origin INTEGER NOT NULL,"
	"  base_id INTEGER NOT NULL,"
	"  base_digest BLOB,"
	"  mac BLOB);"
	"CREATE INDEX IF NOT EXISTS objects_label ON objects(token_id, label);"
	"CREATE INDEX IF NOT EXISTS objects_ckid ON objects(token_id, ckid);"
	"CREATE INDEX IF NOT EXISTS objects_role ON objects(token_id, role);"
	"CREATE INDEX IF NOT EXISTS objects_cls ON objects(token_id, cls);"
	"CREATE INDEX IF NOT EXISTS objects_base ON objects(token_id, "
	"  base_id);";

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
	struct store_vcache vcache[STORE_VCACHE_SLOTS];
};

/* A zero-length blob must be bound from a non-NULL pointer, else it is NULL. */
static const uint8_t empty_blob[1];

/* The only place SQLite result codes become M2M_ERR_*. */
static int
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

/* Log a failed SQLite call on s (one line, SQLite's message, no data). */
static int
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

/* Log a bad row (never its contents). */
static int
store_corrupt(const struct m2m_store *s, const char *table, uint64_t id,
    const char *why)
{
	m2m_error("store %s: %s row %llu: %s", s->path, table,
	    (unsigned long long)id, why);
	return M2M_ERR_STORE_CORRUPT;
}

/* Reset a cached statement so it holds no lock and no caller pointer. */
static void
stmt_done(sqlite3_stmt *st)
{
	if (st == NULL)
		return;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static int
bind_u64(sqlite3_stmt *st, int i, uint64_t v)
{
	return sqlite3_bind_int64(st, i, (sqlite3_int64)v);
}

/* Bind p[0..len) as a blob; an empty one stays a (non-NULL) empty blob. */
static int
bind_bytes(sqlite3_stmt *st, int i, const uint8_t *p, size_t len)
{
	if (len > INT_MAX)
		return SQLITE_TOOBIG;
	return sqlite3_bind_blob(st, i, len == 0 ? empty_blob : p, (int)len,
	    SQLITE_STATIC);
}

/* Bind an attribute's bytes, or NULL when the object lacks it. */
static int
bind_attr(sqlite3_stmt *st, int i, const struct m2m_object *o,
    unsigned long type)
{
	const struct m2m_attr *a = m2m_object_attr(o, type);

	if (a == NULL)
		return sqlite3_bind_null(st, i);
	return bind_bytes(st, i, a->val, a->len);
}

/*
 * The generation file, "<store>-gen": one 64-bit counter in a shared
 * mapping that every process using the store increments around each write
 * (see m2m_store_generation() in store.h).  Counting before the statement
 * makes a reader that looks during a write reload; counting after it makes
 * any copy read during the write stale once the write is done.
 */
#define STORE_GEN_SUFFIX	"-gen"
#define STORE_GEN_SIZE		4096

static void
gen_bump(const struct m2m_store *s)
{
	if (s->gen != NULL)
		__atomic_add_fetch(s->gen, 1, __ATOMIC_SEQ_CST);
}

/*
 * Map the generation file of path.  Without one (read-only directory,
 * file system without shared mappings) the store works as before and
 * m2m_store_generation() says so: callers then cache nothing.
 */
static void
gen_open(struct m2m_store *s)
{
	char gpath[PATH_MAX];
	const char *why = NULL;
	struct stat st;
	void *p;
	int fd = -1;

	if ((size_t)snprintf(gpath, sizeof(gpath), "%s%s", s->path,
	    STORE_GEN_SUFFIX) >= sizeof(gpath)) {
		m2m_info("store %s: path too long for a generation file; "
		    "no object cache", s->path);
		return;
	}
	if ((fd = open(gpath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600)) < 0 || fstat(fd, &st) != 0)
		why = strerror(errno);
	else if (!S_ISREG(st.st_mode))
		why = "not a regular file";
	else if (st.st_size < STORE_GEN_SIZE &&
	    ftruncate(fd, STORE_GEN_SIZE) != 0)
		why = strerror(errno);
	else if ((p = mmap(NULL, STORE_GEN_SIZE, PROT_READ | PROT_WRITE,
	    MAP_SHARED, fd, 0)) == MAP_FAILED)
		why = strerror(errno);
	else
		s->gen = p;
	if (why != NULL)
		m2m_info("store %s: generation file %s: %s; no object cache",
		    s->path, gpath, why);
	if (fd >= 0)
		close(fd);	/* a mapping outlives its descriptor */
}

/* Step a statement that returns no row (every write goes through here). */
static int
step_done(const struct m2m_store *s, sqlite3_stmt *st, const char *what)
{
	int rc;

	gen_bump(s);
	rc = sqlite3_step(st);
	gen_bump(s);
	if (rc == SQLITE_DONE)
		return 0;
	if (M2M_NEVER(rc == SQLITE_ROW))
		return M2M_ERR_INTERNAL;
	return store_fail(s, what, rc);
}

static void
errbuf_set(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
errbuf_set(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errbuf == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
}

/* The directory holding path, into dir[0..dirlen). */
static int
path_dir(const char *path, char *dir, size_t dirlen)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (slash == NULL) {
		if (dirlen < 2)
			return -1;
		dir[0] = '.';
		dir[1] = '\0';
		return 0;
	}
	n = slash == path ? 1 : (size_t)(slash - path);
	if (n >= dirlen)
		return -1;
	memcpy(dir, path, n);
	dir[n] = '\0';
	return 0;
}

/*
 * A non-empty file must start with SQLite's magic: SQLite itself takes some
 * short garbage files for an empty database and would overwrite them.
 */
static int
file_magic_ok(const char *path)
{
	static const char magic[16] = "SQLite format 3";
	char head[sizeof(magic)];
	ssize_t n;
	int fd, ok;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, head, sizeof(head));
	ok = n == (ssize_t)sizeof(head) && memcmp(head, magic,
	    sizeof(magic)) == 0;
	close(fd);
	return ok;
}

static int
errno_readonly(int e)
{
	return e == EACCES || e == EPERM || e == EROFS;
}

/*
 * Before SQLite sees the path: a file or directory we cannot write is
 * M2M_ERR_STORE_READONLY (SQLite would quietly open it read-only, and WAL
 * needs to create -wal and -shm next to the file).  An empty file is not a
 * store (M2M_ERR_STORE_CORRUPT); a missing one is made by store_create().
 */
static int
open_precheck(const char *path, char *errbuf, size_t errlen)
{
	char dir[PATH_MAX];
	struct stat st;
	int e;

	if (path_dir(path, dir, sizeof(dir)) != 0) {
		errbuf_set(errbuf, errlen, "store %s: path too long", path);
		return M2M_ERR_STORE;
	}
	if (stat(dir, &st) != 0) {
		errbuf_set(errbuf, errlen, "store %s: directory %s: %s", path,
		    dir, strerror(errno));
		return M2M_ERR_STORE;
	}
	if (!S_ISDIR(st.st_mode)) {
		errbuf_set(errbuf, errlen, "store %s: %s is not a directory",
		    path, dir);
		return M2M_ERR_STORE;
	}
	if (stat(path, &st) == 0) {
		if (!S_ISREG(st.st_mode)) {
			errbuf_set(errbuf, errlen,
			    "store %s: not a regular file", path);
			return M2M_ERR_STORE;
		}
		if (faccessat(AT_FDCWD, path, R_OK, AT_EACCESS) != 0) {
			errbuf_set(errbuf, errlen, "store %s: cannot read: %s",
			    path, strerror(errno));
			return M2M_ERR_STORE;
		}
		if (st.st_size == 0) {
			/* a store is never empty: it is born whole (below) */
			errbuf_set(errbuf, errlen, "store %s: empty file (0 "
			    "bytes), not a store: truncated? restore it from "
			    "a backup, or remove it to start a new store",
			    path);
			return M2M_ERR_STORE_CORRUPT;
		}
		if (!file_magic_ok(path)) {
			errbuf_set(errbuf, errlen,
			    "store %s: not an SQLite database", path);
			return M2M_ERR_STORE_CORRUPT;
		}
		if (faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) != 0) {
			e = errno;
			errbuf_set(errbuf, errlen, "store %s: not writable: %s",
			    path, strerror(e));
			return errno_readonly(e) ? M2M_ERR_STORE_READONLY :
			    M2M_ERR_STORE;
		}
	} else if (errno != ENOENT) {
		errbuf_set(errbuf, errlen, "store %s: %s", path,
		    strerror(errno));
		return M2M_ERR_STORE;
	}
	if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) != 0) {
		e = errno;
		errbuf_set(errbuf, errlen, "store %s: directory %s not "
		    "writable (WAL needs it): %s", path, dir, strerror(e));
		return errno_readonly(e) ? M2M_ERR_STORE_READONLY :
		    M2M_ERR_STORE;
	}
	return 0;
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* One SQL text, no rows expected (pragmas that echo a row are stepped). */
static int
exec_sql(sqlite3 *db, const char *sql, char *out, size_t outlen)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *t;
	int rc;

	if ((rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL)) != SQLITE_OK)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (out != NULL && outlen > 0 &&
		    (t = sqlite3_column_text(st, 0)) != NULL)
			snprintf(out, outlen, "%s", (const char *)t);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/*
 * Check (or create) the schema in one BEGIN IMMEDIATE transaction.
 * Returns an SQLite code, or SQLITE_OK with *bad set to an M2M_ERR_* and
 * errbuf filled when the file is not a store of this version.
 */
static int
schema_check(sqlite3 *db, const char *path, int *bad, char *errbuf,
    size_t errlen)
{
	sqlite3_stmt *st = NULL;
	sqlite3_int64 v = 0;
	int rc, have, ntables, nrows = 0, isint = 1;

	*bad = 0;
	if ((rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL,
	    NULL)) != SQLITE_OK)
		return rc;
	rc = sqlite3_prepare_v2(db, "SELECT (SELECT count(*) "
	    "FROM sqlite_master WHERE type = 'table' AND name = 'schema'), "
	    "(SELECT count(*) FROM sqlite_master)", -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto out;
	if ((rc = sqlite3_step(st)) != SQLITE_ROW)
		goto out;
	have = sqlite3_column_int(st, 0);
	ntables = sqlite3_column_int(st, 1);
	sqlite3_finalize(st);
	st = NULL;
	if (!have && ntables != 0) {
		errbuf_set(errbuf, errlen, "store %s: an SQLite database but "
		    "not an m2mtoken store (no schema table)", path);
		*bad = M2M_ERR_STORE_CORRUPT;
		rc = SQLITE_OK;
		goto out;
	}
	if (!have) {
		if ((rc = sqlite3_exec(db, schema_sql, NULL, NULL,
		    NULL)) != SQLITE_OK)
			goto out;
		rc = sqlite3_exec(db, "INSERT INTO schema(version) VALUES ("
		    "2)", NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			goto out;
	}
	if ((rc = sqlite3_prepare_v2(db, "SELECT version FROM schema", -1,
	    &st, NULL)) != SQLITE_OK)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		nrows++;
		isint = sqlite3_column_type(st, 0) == SQLITE_INTEGER;
		v = sqlite3_column_int64(st, 0);
	}
	if (rc != SQLITE_DONE)
		goto out;
	rc = SQLITE_OK;
	if (nrows != 1 || !isint) {
		errbuf_set(errbuf, errlen, "store %s: schema table holds %d "
		    "rows, expected one version", path, nrows);
		*bad = M2M_ERR_STORE_CORRUPT;
	} else if (v == 1) {
		errbuf_set(errbuf, errlen, "store %s: schema version 1 "
		    "(objects without a binding MAC), this build knows "
		    "version %d only: re-create the store (no release used "
		    "version 1)", path, M2M_STORE_SCHEMA_VERSION);
		*bad = M2M_ERR_STORE_CORRUPT;
	} else if (v != M2M_STORE_SCHEMA_VERSION) {
		errbuf_set(errbuf, errlen, "store %s: schema version %lld, "
		    "this build knows version %d", path, (long long)v,
		    M2M_STORE_SCHEMA_VERSION);
		*bad = M2M_ERR_STORE_CORRUPT;
	}
 out:
	sqlite3_finalize(st);
	if (rc == SQLITE_OK && *bad == 0)
		rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK || *bad != 0)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* Pragmas and schema; retried while another opener holds the file. */
static int
open_init(sqlite3 *db, const char *path, char *errbuf, size_t errlen)
{
	char mode[16];
	uint64_t deadline = now_ms() + STORE_BUSY_TIMEOUT_MS;
	int rc, bad = 0, r;

	for (;;) {
		mode[0] = '\0';
		rc = exec_sql(db, "PRAGMA journal_mode=WAL", mode,
		    sizeof(mode));
		if (rc == SQLITE_OK && strcmp(mode, "wal") != 0) {
			errbuf_set(errbuf, errlen, "store %s: cannot use WAL "
			    "(journal mode %s)", path, mode);
			return M2M_ERR_STORE;
		}
		if (rc == SQLITE_OK)
			rc = exec_sql(db, "PRAGMA synchronous=NORMAL", NULL, 0);
		if (rc == SQLITE_OK)
			rc = exec_sql(db, "PRAGMA foreign_keys=ON", NULL, 0);
		if (rc == SQLITE_OK)
			rc = exec_sql(db, "PRAGMA secure_delete=ON", NULL, 0);
		if (rc == SQLITE_OK)
			rc = schema_check(db, path, &bad, errbuf, errlen);
		if ((rc & 0xff) != SQLITE_BUSY || now_ms() >= deadline)
			break;
		usleep(10000);
	}
	if (rc == SQLITE_OK)
		return bad;
	r = m2m_err_from_sqlite(rc);
	if (r == M2M_ERR_STORE_CORRUPT)
		errbuf_set(errbuf, errlen, "store %s: not an SQLite database "
		    "or damaged: %s", path, sqlite3_errmsg(db));
	else
		errbuf_set(errbuf, errlen, "store %s: %s", path,
		    sqlite3_errmsg(db));
	return r;
}

static int open_init(sqlite3 *, const char *, char *, size_t);

/*
 * A missing store is made whole beside path (mode 0600: the file holds PIN
 * verifiers), WAL mode and schema in it, then linked to path, so that path
 * never names an empty file: an empty one is a damaged store (open_precheck)
 * and not one being created.  Another process linking first wins; its store
 * is used.  0 or an M2M_ERR_* with errbuf filled.
 */
static int
store_create(const char *path, char *errbuf, size_t errlen)
{
	char tmp[PATH_MAX], side[PATH_MAX + 8];
	sqlite3 *db = NULL;
	int fd, e, r = M2M_ERR_STORE, rc;

	if (snprintf(tmp, sizeof(tmp), "%s.new-XXXXXX", path) >=
	    (int)sizeof(tmp)) {
		errbuf_set(errbuf, errlen, "store %s: path too long", path);
		return M2M_ERR_STORE;
	}
	if ((fd = mkstemp(tmp)) < 0) {
		e = errno;
		errbuf_set(errbuf, errlen, "store %s: cannot create: %s", path,
		    strerror(e));
		return errno_readonly(e) ? M2M_ERR_STORE_READONLY :
		    M2M_ERR_STORE;
	}
	close(fd);
	rc = sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		r = m2m_err_from_sqlite(rc);
		errbuf_set(errbuf, errlen, "store %s: cannot create %s: %s",
		    path, tmp, sqlite3_errstr(rc));
		goto out;
	}
	if ((r = open_init(db, tmp, errbuf, errlen)) != 0)
		goto out;
	/* everything in the main file before it gets its name */
	if ((rc = sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL,
	    NULL, NULL)) != SQLITE_OK) {
		r = m2m_err_from_sqlite(rc);
		errbuf_set(errbuf, errlen, "store %s: checkpoint: %s", path,
		    sqlite3_errmsg(db));
		goto out;
	}
	rc = sqlite3_close(db);
	db = NULL;
	if (rc != SQLITE_OK) {
		r = m2m_err_from_sqlite(rc);
		goto out;
	}
	if (link(tmp, path) != 0 && errno != EEXIST) {
		e = errno;
		errbuf_set(errbuf, errlen, "store %s: cannot create: %s", path,
		    strerror(e));
		r = errno_readonly(e) ? M2M_ERR_STORE_READONLY : M2M_ERR_STORE;
		goto out;
	}
	r = 0;
 out:
	sqlite3_close(db);
	(void)unlink(tmp);
	snprintf(side, sizeof(side), "%s-wal", tmp);
	(void)unlink(side);
	snprintf(side, sizeof(side), "%s-shm", tmp);
	(void)unlink(side);
	return r;
}

/* see store.h */
int
m2m_store_open(const char *path, struct m2m_store **ret, char *errbuf,
    size_t errlen)
{
	struct m2m_store *s = NULL;
	char why[PATH_MAX + 256];
	size_t i;
	int r = M2M_ERR_INTERNAL, rc;

	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if (path == NULL || ret == NULL || *path == '\0') {
		errbuf_set(errbuf, errlen, "store: no path");
		return M2M_ERR_INVALID_ARGUMENT;
	}
	if (strlen(path) >= PATH_MAX) {
		errbuf_set(errbuf, errlen, "store: path too long");
		return M2M_ERR_INVALID_ARGUMENT;
	}
	/* the reason goes to the log as well as to the caller */
	why[0] = '\0';
	if ((r = open_precheck(path, why, sizeof(why))) != 0)
		goto out;
	if (access(path, F_OK) != 0 && errno == ENOENT &&
	    (r = store_create(path, why, sizeof(why))) != 0)
		goto out;
	r = M2M_ERR_NO_MEMORY;
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->path = strdup(path)) == NULL) {
		errbuf_set(why, sizeof(why), "store %s: out of memory", path);
		goto out;
	}
	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		r = m2m_err_from_sqlite(rc);
		errbuf_set(why, sizeof(why), "store %s: cannot open: %s",
		    path, s->db != NULL ? sqlite3_errmsg(s->db) :
		    sqlite3_errstr(rc));
		goto out;
	}
	sqlite3_extended_result_codes(s->db, 1);
	if (sqlite3_db_readonly(s->db, "main") != 0) {
		errbuf_set(why, sizeof(why), "store %s: opened read-only",
		    path);
		r = M2M_ERR_STORE_READONLY;
		goto out;
	}
	sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
	if ((r = open_init(s->db, path, why, sizeof(why))) != 0)
		goto out;
	for (i = 0; i < ST_COUNT; i++) {
		rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
		if (rc != SQLITE_OK) {
			/* a version-1 file lacking its tables is damaged */
			r = (rc & 0xff) == SQLITE_ERROR ?
			    M2M_ERR_STORE_CORRUPT : m2m_err_from_sqlite(rc);
			errbuf_set(why, sizeof(why), "store %s: schema does "
			    "not match: %s", path, sqlite3_errmsg(s->db));
			goto out;
		}
	}
	gen_open(s);
	*ret = s;
	s = NULL;	/* transferred */
	r = 0;
 out:
	if (r != 0) {
		if (why[0] == '\0')
			snprintf(why, sizeof(why), "store %s: %s", path,
			    m2m_strerror(r));
		/* the caller reports errbuf: logging here too doubled it */
		errbuf_set(errbuf, errlen, "%s", why);
	}
	m2m_store_close(s);
	return r;
}

/* see store.h */
void
m2m_store_close(struct m2m_store *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	if (s->db != NULL && !sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close_v2(s->db);
	if (s->gen != NULL)
		munmap(s->gen, STORE_GEN_SIZE);
	free(s->path);
	free(s);
}

/* see store.h */
int
m2m_store_generation(const struct m2m_store *s, uint64_t *ret)
{
	if (s == NULL || ret == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if (s->gen == NULL)
		return M2M_ERR_UNSUPPORTED;
	*ret = __atomic_load_n(s->gen, __ATOMIC_SEQ_CST);
	return 0;
}

/* see store.h */
int
m2m_store_begin(struct m2m_store *s)
{
	sqlite3_stmt *st;
	int r;

	if (s == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if (!sqlite3_get_autocommit(s->db)) {
		m2m_error("store %s: nested transaction", s->path);
		return M2M_ERR_INTERNAL;
	}
	st = s->st[ST_BEGIN];
	r = step_done(s, st, "begin");
	stmt_done(st);
	return r;
}

/* see store.h */
int
m2m_store_commit(struct m2m_store *s)
{
	sqlite3_stmt *st;
	int r;

	if (s == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	if (sqlite3_get_autocommit(s->db)) {
		m2m_error("store %s: commit without a transaction", s->path);
		return M2M_ERR_INTERNAL;
	}
	st = s->st[ST_COMMIT];
	r = step_done(s, st, "commit");
	stmt_done(st);
	return r;
}

/* see store.h */
void
m2m_store_rollback(struct m2m_store *s)
{
	sqlite3_stmt *st;

	if (s == NULL || sqlite3_get_autocommit(s->db))
		return;
	st = s->st[ST_ROLLBACK];
	(void)step_done(s, st, "rollback");
	stmt_done(st);
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
	sqlite3_stmt *st = NULL;
	const void *p;
	uint8_t *v = NULL;
	int n, rc, r = M2M_ERR_INTERNAL;

	if (s == NULL || !meta_key_ok(key) || ret == NULL || ret_len == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	st = s->st[ST_META_GET];
	if ((rc = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC)) !=
	    SQLITE_OK) {
		r = store_fail(s, "meta get", rc);
		goto out;
	}
	if ((rc = sqlite3_step(st)) == SQLITE_DONE) {
		r = M2M_ERR_NOT_FOUND;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = store_fail(s, "meta get", rc);
		goto out;
	}
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
	stmt_done(st);
	free(v);
	return r;
}

/* see store.h */
int
m2m_store_meta_put(struct m2m_store *s, const char *key, const uint8_t *val,
    size_t len)
{
	sqlite3_stmt *st = NULL;
	int rc, r = M2M_ERR_INTERNAL;

	if (s == NULL || !meta_key_ok(key) || (val == NULL && len != 0) ||
	    len > STORE_META_VAL_MAX)
		return M2M_ERR_INVALID_ARGUMENT;
	st = s->st[ST_META_PUT];
	if ((rc = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC)) !=
	    SQLITE_OK || (rc = bind_bytes(st, 2, val, len)) != SQLITE_OK) {
		r = store_fail(s, "meta put", rc);
		goto out;
	}
	r = step_done(s, st, "meta put");
 out:
	stmt_done(st);
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
	    (rc = bind_bytes(st, 6, rec->so_pin, rec->so_pin_len)) !=
	    SQLITE_OK ||
	    (rc = bind_bytes(st, 7, rec->user_pin, rec->user_pin_len)) !=
	    SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 8, rec->so_fails)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 9, rec->user_fails)) != SQLITE_OK)
		return rc;
	return SQLITE_OK;
}

/* Copy a text column of at most max bytes into dst (NUL-terminated). */
static int
col_text(sqlite3_stmt *st, int i, char *dst, size_t max)
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

/* Copy a blob column (or NULL: empty) of at most max bytes. */
static int
col_bytes(sqlite3_stmt *st, int i, uint8_t *dst, size_t max, size_t *ret_len)
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

static int
col_uint(sqlite3_stmt *st, int i, sqlite3_int64 max, sqlite3_int64 *ret)
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

/* Read the current row (TOK_COLS) into rec; M2M_ERR_STORE_CORRUPT if bad. */
static int
token_row(const struct m2m_store *s, sqlite3_stmt *st,
    struct m2m_token_rec *rec)
{
	sqlite3_int64 id, init, pinset, sof, uf;

	memset(rec, 0, sizeof(*rec));
	id = sqlite3_column_int64(st, 0);
	if (col_uint(st, 0, INT64_MAX, &id) != 0)
		return store_corrupt(s, "tokens", (uint64_t)id, "bad id");
	if (col_text(st, 1, rec->label, STORE_LABEL_MAX) != 0)
		return store_corrupt(s, "tokens", (uint64_t)id, "bad label");
	if (col_text(st, 2, rec->serial, STORE_SERIAL_MAX) != 0)
		return store_corrupt(s, "tokens", (uint64_t)id, "bad serial");
	if (col_uint(st, 3, 1, &init) != 0 ||
	    col_uint(st, 4, 1, &pinset) != 0)
		return store_corrupt(s, "tokens", (uint64_t)id, "bad flags");
	if (col_bytes(st, 5, rec->so_pin, sizeof(rec->so_pin),
	    &rec->so_pin_len) != 0 ||
	    col_bytes(st, 6, rec->user_pin, sizeof(rec->user_pin),
	    &rec->user_pin_len) != 0)
		return store_corrupt(s, "tokens", (uint64_t)id,
		    "bad PIN verifier");
	if (col_uint(st, 7, UINT_MAX, &sof) != 0 ||
	    col_uint(st, 8, UINT_MAX, &uf) != 0)
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
	sqlite3_stmt *st = NULL;
	size_t n = 0, cap = 0, ncap;
	int rc, r = M2M_ERR_INTERNAL;

	if (s == NULL || ret == NULL || ret_n == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	st = s->st[ST_TOK_LIST];
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
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
	if (rc != SQLITE_DONE) {
		r = store_fail(s, "token list", rc);
		goto out;
	}
	*ret = v;
	*ret_n = n;
	v = NULL;	/* transferred */
	r = 0;
 out:
	stmt_done(st);
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
	sqlite3_stmt *st = NULL;
	int rc, r = M2M_ERR_INTERNAL;

	memset(&rec, 0, sizeof(rec));
	if (s == NULL || ret == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	st = s->st[ST_TOK_GET];
	if ((rc = bind_u64(st, 1, id)) != SQLITE_OK) {
		r = store_fail(s, "token get", rc);
		goto out;
	}
	if ((rc = sqlite3_step(st)) == SQLITE_DONE) {
		r = M2M_ERR_NOT_FOUND;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = store_fail(s, "token get", rc);
		goto out;
	}
	if ((r = token_row(s, st, &rec)) != 0)
		goto out;
	memcpy(ret, &rec, sizeof(rec));
	r = 0;
 out:
	stmt_done(st);
	m2m_wipe(&rec, sizeof(rec));
	return r;
}

/* see store.h */
int
m2m_store_token_insert(struct m2m_store *s, const struct m2m_token_rec *rec,
    uint64_t *ret_id)
{
	sqlite3_stmt *st = NULL;
	int rc, r = M2M_ERR_INTERNAL;

	if (s == NULL || rec == NULL || ret_id == NULL || !token_rec_ok(rec))
		return M2M_ERR_INVALID_ARGUMENT;
	st = s->st[ST_TOK_INSERT];
	if ((rc = token_bind(st, rec)) != SQLITE_OK) {
		r = store_fail(s, "token insert", rc);
		goto out;
	}
	if ((r = step_done(s, st, "token insert")) != 0)
		goto out;
	*ret_id = (uint64_t)sqlite3_last_insert_rowid(s->db);
	r = 0;
 out:
	stmt_done(st);
	return r;
}

/* see store.h */
int
m2m_store_token_update(struct m2m_store *s, const struct m2m_token_rec *rec)
{
	sqlite3_stmt *st = NULL;
	int rc, r = M2M_ERR_INTERNAL;

	if (s == NULL || rec == NULL || !token_rec_ok(rec))
		return M2M_ERR_INVALID_ARGUMENT;
	st = s->st[ST_TOK_UPDATE];
	if ((rc = bind_u64(st, 1, rec->id)) != SQLITE_OK ||
	    (rc = token_bind(st, rec)) != SQLITE_OK) {
		r = store_fail(s, "token update", rc);
		goto out;
	}
	if ((r = step_done(s, st, "token update")) != 0)
		goto out;
	r = sqlite3_changes(s->db) == 0 ? M2M_ERR_NOT_FOUND : 0;
 out:
	stmt_done(st);
	return r;
}

/*
 * Run one of the PIN column statements: ?1 = id, then ?2 = v (when v is
 * not NULL) or ?2 = n (when v is NULL and has_n), ?3 = reset.
 */
static int
token_pin_stmt(struct m2m_store *s, int which, uint64_t id,
    const uint8_t *v, size_t vlen, int has_n, unsigned int n, int reset)
{
	sqlite3_stmt *st = s->st[which];
	int rc, r = M2M_ERR_INTERNAL;

	rc = bind_u64(st, 1, id);
	if (rc == SQLITE_OK && v != NULL)
		rc = bind_bytes(st, 2, v, vlen);
	if (rc == SQLITE_OK && has_n)
		rc = sqlite3_bind_int64(st, 2, n);
	if (rc == SQLITE_OK && sqlite3_bind_parameter_count(st) == 3)
		rc = sqlite3_bind_int(st, 3, reset != 0);
	if (rc != SQLITE_OK) {
		r = store_fail(s, "token PIN update", rc);
		goto out;
	}
	if ((r = step_done(s, st, "token PIN update")) != 0)
		goto out;
	r = sqlite3_changes(s->db) == 0 ? M2M_ERR_NOT_FOUND : 0;
 out:
	stmt_done(st);
	return r;
}

/* see store.h */
int
m2m_store_token_pin_fail(struct m2m_store *s, uint64_t id, int so)
{
	if (s == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	return token_pin_stmt(s, so ? ST_TOK_SO_FAIL : ST_TOK_USER_FAIL, id,
	    NULL, 0, 0, 0, 0);
}

/* see store.h */
int
m2m_store_token_pin_unfail(struct m2m_store *s, uint64_t id, int so)
{
	if (s == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	return token_pin_stmt(s, so ? ST_TOK_SO_UNFAIL : ST_TOK_USER_UNFAIL,
	    id, NULL, 0, 0, 0, 0);
}

/* see store.h */
int
m2m_store_token_pin_lock(struct m2m_store *s, uint64_t id, int so,
    unsigned int max)
{
	if (s == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	return token_pin_stmt(s, so ? ST_TOK_SO_LOCK : ST_TOK_USER_LOCK, id,
	    NULL, 0, 1, max, 0);
}

/* see store.h */
int
m2m_store_token_pin_ok(struct m2m_store *s, uint64_t id, int so,
    const uint8_t *v, size_t vlen)
{
	if (s == NULL || v == NULL || vlen > M2M_PIN_VERIFIER_MAX)
		return M2M_ERR_INVALID_ARGUMENT;
	return token_pin_stmt(s, so ? ST_TOK_SO_OK : ST_TOK_USER_OK, id, v,
	    vlen, 0, 0, 0);
}

/* see store.h */
int
m2m_store_token_pin_set(struct m2m_store *s, uint64_t id, int so,
    const uint8_t *v, size_t vlen, int reset_fails)
{
	if (s == NULL || v == NULL || vlen > M2M_PIN_VERIFIER_MAX)
		return M2M_ERR_INVALID_ARGUMENT;
	return token_pin_stmt(s, so ? ST_TOK_SO_SET : ST_TOK_USER_SET, id, v,
	    vlen, 0, 0, reset_fails);
}

/* 0 if token id exists, else NOT_FOUND or a store error. */
static int
token_exists(struct m2m_store *s, uint64_t id)
{
	sqlite3_stmt *st = s->st[ST_TOK_EXISTS];
	int rc, r;

	if ((rc = bind_u64(st, 1, id)) != SQLITE_OK)
		r = store_fail(s, "token lookup", rc);
	else if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		r = 0;
	else if (rc == SQLITE_DONE)
		r = M2M_ERR_NOT_FOUND;
	else
		r = store_fail(s, "token lookup", rc);
	stmt_done(st);
	return r;
}

/* see store.h */
int
m2m_store_token_clear_objects(struct m2m_store *s, uint64_t id)
{
	sqlite3_stmt *st = NULL;
	int rc, r = M2M_ERR_INTERNAL;

	if (s == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	st = s->st[ST_TOK_CLEAR];
	if ((rc = bind_u64(st, 1, id)) != SQLITE_OK) {
		r = store_fail(s, "token clear", rc);
		goto out;
	}
	if ((r = step_done(s, st, "token clear")) != 0)
		goto out;
	r = sqlite3_changes(s->db) == 0 ? token_exists(s, id) : 0;
 out:
	stmt_done(st);
	return r;
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

	if ((rc = bind_u64(st, 3, o->cls)) != SQLITE_OK ||
	    (rc = bind_u64(st, 4, o->key_type)) != SQLITE_OK ||
	    (rc = bind_u64(st, 5, o->role)) != SQLITE_OK ||
	    (rc = bind_attr(st, 6, o, CKA_LABEL)) != SQLITE_OK ||
	    (rc = bind_attr(st, 7, o, CKA_ID)) != SQLITE_OK ||
	    (rc = bind_bytes(st, 8, enc, enclen)) != SQLITE_OK ||
	    (rc = o->blob == NULL ? sqlite3_bind_null(st, 9) :
	    bind_bytes(st, 9, o->blob, o->bloblen)) != SQLITE_OK ||
	    (rc = o->aux == NULL ? sqlite3_bind_null(st, 10) :
	    bind_bytes(st, 10, o->aux, o->auxlen)) != SQLITE_OK ||
	    (rc = bind_u64(st, 11, o->origin)) != SQLITE_OK ||
	    (rc = bind_u64(st, 12, o->base_id)) != SQLITE_OK ||
	    (rc = o->base_id == 0 ? sqlite3_bind_null(st, 13) :
	    bind_bytes(st, 13, o->base_digest,
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
int
m2m_store_object_insert(struct m2m_store *s, struct m2m_object *o)
{
	sqlite3_stmt *st = NULL;
	uint8_t *enc = NULL, msg[M2M_OBJECT_BIND_MSG_LEN];
	uint8_t mac[M2M_BIND_MAC_LEN];
	size_t enclen = 0;
	uint64_t id = 0;
	int rc, r = M2M_ERR_INTERNAL, in_sp = 0;

	if (s == NULL || o == NULL || !object_ok(o))
		return M2M_ERR_INVALID_ARGUMENT;
	if ((r = m2m_object_attrs_encode(o, &enc, &enclen)) != 0)
		goto out;
	/* the MAC binds the row id: insert, then set the MAC, atomically */
	st = s->st[ST_SAVEPOINT];
	r = step_done(s, st, "object insert (savepoint)");
	stmt_done(st);
	if (r != 0)
		goto out;
	in_sp = 1;
	st = s->st[ST_OBJ_INSERT];
	/* ?1 is unused in the insert: bind_u64 positions match update's */
	if ((rc = bind_u64(st, 2, o->token_id)) != SQLITE_OK ||
	    (rc = object_bind(st, o, enc, enclen)) != SQLITE_OK) {
		r = store_fail(s, "object insert", rc);
		goto out;
	}
	if ((r = step_done(s, st, "object insert")) != 0)
		goto out;
	id = (uint64_t)sqlite3_last_insert_rowid(s->db);
	stmt_done(st);
	if ((r = object_mac(s, o, o->token_id, id, enc, enclen, msg,
	    mac)) != 0)
		goto out;
	st = s->st[ST_OBJ_SET_MAC];
	if ((rc = bind_u64(st, 1, id)) != SQLITE_OK ||
	    (rc = bind_u64(st, 2, o->token_id)) != SQLITE_OK ||
	    (rc = bind_bytes(st, 3, mac, sizeof(mac))) != SQLITE_OK) {
		r = store_fail(s, "object insert (MAC)", rc);
		goto out;
	}
	if ((r = step_done(s, st, "object insert (MAC)")) != 0)
		goto out;
	stmt_done(st);
	st = s->st[ST_RELEASE];
	r = step_done(s, st, "object insert (release)");
	if (r != 0)
		goto out;
	in_sp = 0;
	vcache_put(s, id, msg, mac);
	o->id = id;
	r = 0;
 out:
	stmt_done(st);
	if (in_sp) {
		st = s->st[ST_ROLLBACK_TO];
		(void)step_done(s, st, "object insert (rollback)");
		stmt_done(st);
		st = s->st[ST_RELEASE];
		(void)step_done(s, st, "object insert (release)");
		stmt_done(st);
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
	    col_bytes(st, 8, o->base_digest, sizeof(o->base_digest),
	    &n) != 0 || (n != 0 && n != sizeof(o->base_digest)))
		return store_corrupt(s, "objects", id, "bad origin or base");
	o->origin = (unsigned int)sqlite3_column_int64(st, 6);
	o->base_id = (uint64_t)sqlite3_column_int64(st, 7);
	if ((o->base_id == 0) != (n == 0))
		return store_corrupt(s, "objects", id, "bad origin or base");
	if (col_bytes(st, 9, stored, sizeof(stored), &n) != 0 ||
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
	sqlite3_stmt *st = NULL;
	const void *p;
	int n, i, rc, r = M2M_ERR_INTERNAL;

	if (s == NULL || ret == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	st = s->st[ST_OBJ_GET];
	if ((rc = bind_u64(st, 1, id)) != SQLITE_OK ||
	    (rc = bind_u64(st, 2, token_id)) != SQLITE_OK) {
		r = store_fail(s, "object get", rc);
		goto out;
	}
	if ((rc = sqlite3_step(st)) == SQLITE_DONE) {
		r = M2M_ERR_NOT_FOUND;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = store_fail(s, "object get", rc);
		goto out;
	}
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
	stmt_done(st);
	m2m_object_free(o);
	return r;
}

/* see store.h */
int
m2m_store_object_update(struct m2m_store *s, const struct m2m_object *o)
{
	sqlite3_stmt *st = NULL;
	uint8_t *enc = NULL, msg[M2M_OBJECT_BIND_MSG_LEN];
	uint8_t mac[M2M_BIND_MAC_LEN];
	size_t enclen = 0;
	int rc, r = M2M_ERR_INTERNAL;

	if (s == NULL || o == NULL || !object_ok(o))
		return M2M_ERR_INVALID_ARGUMENT;
	if ((r = m2m_object_attrs_encode(o, &enc, &enclen)) != 0)
		goto out;
	if ((r = object_mac(s, o, o->token_id, o->id, enc, enclen, msg,
	    mac)) != 0)
		goto out;
	st = s->st[ST_OBJ_UPDATE];
	if ((rc = bind_u64(st, 1, o->id)) != SQLITE_OK ||
	    (rc = bind_u64(st, 2, o->token_id)) != SQLITE_OK ||
	    (rc = object_bind(st, o, enc, enclen)) != SQLITE_OK ||
	    (rc = bind_bytes(st, 14, mac, sizeof(mac))) != SQLITE_OK) {
		r = store_fail(s, "object update", rc);
		goto out;
	}
	if ((r = step_done(s, st, "object update")) != 0)
		goto out;
	if (sqlite3_changes(s->db) == 0) {
		r = M2M_ERR_NOT_FOUND;
		goto out;
	}
	vcache_put(s, o->id, msg, mac);
	r = 0;
 out:
	stmt_done(st);
	free(enc);
	return r;
}

/* see store.h */
int
m2m_store_object_delete(struct m2m_store *s, uint64_t token_id, uint64_t id)
{
	sqlite3_stmt *st = NULL;
	int rc, r = M2M_ERR_INTERNAL;

	if (s == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	st = s->st[ST_OBJ_DELETE];
	if ((rc = bind_u64(st, 1, id)) != SQLITE_OK ||
	    (rc = bind_u64(st, 2, token_id)) != SQLITE_OK) {
		r = store_fail(s, "object delete", rc);
		goto out;
	}
	if ((r = step_done(s, st, "object delete")) != 0)
		goto out;
	r = sqlite3_changes(s->db) == 0 ? M2M_ERR_NOT_FOUND : 0;
 out:
	stmt_done(st);
	return r;
}

/* see store.h */
int
m2m_store_object_find(struct m2m_store *s, uint64_t token_id,
    const struct m2m_store_query *q, uint64_t **ret_ids, size_t *ret_n)
{
	sqlite3_stmt *st = NULL;
	uint64_t *ids = NULL, *nids;
	size_t n = 0, cap = 0, ncap;
	int rc, r = M2M_ERR_INTERNAL;

	if (s == NULL || ret_ids == NULL || ret_n == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	/* most selective first: a base key has few derived keys */
	if (q != NULL && q->has_base) {
		st = s->st[ST_FIND_BASE];
		rc = bind_u64(st, 2, q->base_id);
	} else if (q != NULL && q->label != NULL) {
		if (q->label_len > M2M_ATTR_MAX_LEN)
			goto none;	/* no stored label is that long */
		st = s->st[ST_FIND_LABEL];
		rc = bind_bytes(st, 2, q->label, q->label_len);
	} else if (q != NULL && q->ckid != NULL) {
		if (q->ckid_len > M2M_ATTR_MAX_LEN)
			goto none;
		st = s->st[ST_FIND_CKID];
		rc = bind_bytes(st, 2, q->ckid, q->ckid_len);
	} else if (q != NULL && q->has_role) {
		st = s->st[ST_FIND_ROLE];
		rc = bind_u64(st, 2, q->role);
	} else if (q != NULL && q->has_cls) {
		st = s->st[ST_FIND_CLS];
		rc = bind_u64(st, 2, q->cls);
	} else {
		st = s->st[ST_FIND_ALL];
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_OK || (rc = bind_u64(st, 1, token_id)) != SQLITE_OK) {
		r = store_fail(s, "object find", rc);
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
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
		ids[n++] = (uint64_t)sqlite3_column_int64(st, 0);
	}
	if (rc != SQLITE_DONE) {
		r = store_fail(s, "object find", rc);
		goto out;
	}
 none:
	*ret_ids = ids;
	*ret_n = n;
	ids = NULL;	/* transferred */
	r = 0;
 out:
	stmt_done(st);
	free(ids);
	return r;
}

/* see store.h */
int
m2m_store_object_count(struct m2m_store *s, uint64_t token_id,
    uint64_t *ret_n)
{
	sqlite3_stmt *st = NULL;
	int rc, r = M2M_ERR_INTERNAL;

	if (s == NULL || ret_n == NULL)
		return M2M_ERR_INVALID_ARGUMENT;
	st = s->st[ST_OBJ_COUNT];
	if ((rc = bind_u64(st, 1, token_id)) != SQLITE_OK ||
	    (rc = sqlite3_step(st)) != SQLITE_ROW) {
		r = store_fail(s, "object count", rc);
		goto out;
	}
	*ret_n = (uint64_t)sqlite3_column_int64(st, 0);
	r = 0;
 out:
	stmt_done(st);
	return r;
}
