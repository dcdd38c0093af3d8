/*
 * m2mtoken: opening the store.  Path checks before SQLite sees the path,
 * an empty file refused, a missing store made whole beside its path and
 * linked in, the pragmas, the schema (created or its version checked),
 * the shared "-gen" counter file; close.  The statements are in
 * store_stmt.c, store.c and store_object.c.  See store.h and
 * docs/architecture.md.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "err.h"
#include "log.h"
#include "store.h"
#include "store_int.h"

#define STORE_BUSY_TIMEOUT_MS	10000

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
 * The count and size of each token's objects, for the quota ([token]
 * max_objects, max_bytes): kept by triggers, so that every insert, update
 * and delete, by this build or an older one that knows nothing of it,
 * moves them in its own transaction, and the quota check reads one row
 * instead of counting the token's rows (a MEF holds a Ke per bootstrap).
 * A row's size is STORE_ROW_SIZE (store_int.h).  Added to version-2
 * stores as they are opened (counts_fill), so the schema version stays 2.
 * The insert's trigger always makes the token's row: an insert that
 * finds none has lost the trigger (store_object.c fails closed on it).
 * The triggers are named in counts_drop_sql and COUNTS_TRIGGERS too;
 * token_counts_move, there only to be dropped, is the update trigger of
 * the first definition, which had no bytes.
 */
#define COUNTS_ADD(p)							\
	"  INSERT INTO token_counts(token_id, n, bytes) VALUES ("	\
	p "token_id, 1, " STORE_ROW_SIZE(p) ")"				\
	"  ON CONFLICT(token_id) DO UPDATE SET n = n + 1,"		\
	"  bytes = bytes + excluded.bytes;"
#define COUNTS_TAKE(p)							\
	"  UPDATE token_counts SET n = n - 1, bytes = bytes - "		\
	STORE_ROW_SIZE(p) " WHERE token_id = " p "token_id;"
static const char counts_sql[] =
	"CREATE TABLE token_counts("
	"  token_id INTEGER PRIMARY KEY NOT NULL,"
	"  n INTEGER NOT NULL,"
	"  bytes INTEGER NOT NULL);"
	"CREATE TRIGGER token_counts_insert AFTER INSERT ON objects BEGIN"
	COUNTS_ADD("NEW.") " END;"
	"CREATE TRIGGER token_counts_delete AFTER DELETE ON objects BEGIN"
	COUNTS_TAKE("OLD.") " END;"
	/* any column: a new MAC, new attributes, another token */
	"CREATE TRIGGER token_counts_update AFTER UPDATE ON objects BEGIN"
	COUNTS_TAKE("OLD.") COUNTS_ADD("NEW.") " END;"
	"INSERT INTO token_counts(token_id, n, bytes) "
	"  SELECT token_id, count(*), sum(" STORE_ROW_SIZE("") ") "
	"  FROM objects GROUP BY token_id;";
static const char counts_drop_sql[] =
	"DROP TRIGGER IF EXISTS token_counts_insert;"
	"DROP TRIGGER IF EXISTS token_counts_delete;"
	"DROP TRIGGER IF EXISTS token_counts_update;"
	"DROP TRIGGER IF EXISTS token_counts_move;"
	"DROP TABLE IF EXISTS token_counts;";
#define COUNTS_TRIGGERS	"'token_counts_insert', 'token_counts_delete', " \
			"'token_counts_update'"
#define COUNTS_NTRIGGERS	3

/* The one integer a query gives, into *ret; an SQLite code. */
static int
sql_int(sqlite3 *db, const char *sql, int *ret)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL)) != SQLITE_OK)
		return rc;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*ret = sqlite3_column_int(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

/*
 * In schema_check's transaction: the counts table and its triggers.  When
 * the table or any of its triggers is missing (a store from before them,
 * or one a writer other than m2mtoken changed: rows it then wrote or
 * deleted were not counted), or they are of the first definition (no
 * bytes), all are dropped and made again, the counts taken from the
 * objects.  A store without its objects table is damaged: *bad =
 * M2M_ERR_STORE_CORRUPT and errbuf says so (the triggers could not be
 * made on it).  An SQLite code.
 */
static int
counts_fill(sqlite3 *db, const char *path, int *bad, char *errbuf,
    size_t errlen)
{
	int rc, have = 0, cols = 0, ntrig = 0, nold = 0;

	if ((rc = sql_int(db, "SELECT count(*) FROM sqlite_master "
	    "WHERE type = 'table' AND name = 'objects'", &have)) != SQLITE_OK)
		return rc;
	if (!have) {
		m2m_errbuf_set(errbuf, errlen, "store %s: schema version 2 "
		    "but no objects table: damaged; restore it from a backup",
		    path);
		*bad = M2M_ERR_STORE_CORRUPT;
		return SQLITE_OK;
	}
	if ((rc = sql_int(db, "SELECT count(*) FROM sqlite_master "
	    "WHERE type = 'table' AND name = 'token_counts'", &have)) !=
	    SQLITE_OK ||
	    (rc = sql_int(db, "SELECT count(*) FROM "
	    "pragma_table_info('token_counts') WHERE name = 'bytes'",
	    &cols)) != SQLITE_OK ||
	    (rc = sql_int(db, "SELECT count(*) FROM sqlite_master "
	    "WHERE type = 'trigger' AND tbl_name = 'objects' AND name IN ("
	    COUNTS_TRIGGERS ")", &ntrig)) != SQLITE_OK ||
	    (rc = sql_int(db, "SELECT count(*) FROM sqlite_master "
	    "WHERE type = 'trigger' AND name = 'token_counts_move'",
	    &nold)) != SQLITE_OK)
		return rc;
	if (have && cols == 1 && nold == 0 && ntrig == COUNTS_NTRIGGERS)
		return SQLITE_OK;
	if (have && (cols != 1 || nold != 0))
		m2m_info("store %s: object counts of an earlier definition "
		    "(no bytes): made again, taken from the objects", path);
	else if (have)
		m2m_warn("store %s: %d of the %d triggers that count the "
		    "objects are missing (the store was changed outside "
		    "m2mtoken?): made again, the counts taken from the objects",
		    path, COUNTS_NTRIGGERS - ntrig, COUNTS_NTRIGGERS);
	if ((rc = sqlite3_exec(db, counts_drop_sql, NULL, NULL, NULL)) !=
	    SQLITE_OK)
		return rc;
	return sqlite3_exec(db, counts_sql, NULL, NULL, NULL);
}

/*
 * The generation file, "<store>-gen": one 64-bit counter in a shared
 * mapping that every process using the store increments around each write
 * (see m2m_store_generation() in store.h and store_step_done() in
 * store_stmt.c, which moves it).
 */
#define STORE_GEN_SUFFIX	"-gen"
#define STORE_GEN_SIZE		4096

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
		m2m_errbuf_set(errbuf, errlen, "store %s: path too long", path);
		return M2M_ERR_STORE;
	}
	if (stat(dir, &st) != 0) {
		m2m_errbuf_set(errbuf, errlen, "store %s: directory %s: %s",
		    path, dir, strerror(errno));
		return M2M_ERR_STORE;
	}
	if (!S_ISDIR(st.st_mode)) {
		m2m_errbuf_set(errbuf, errlen, "store %s: %s is not a "
		    "directory", path, dir);
		return M2M_ERR_STORE;
	}
	if (stat(path, &st) == 0) {
		if (!S_ISREG(st.st_mode)) {
			m2m_errbuf_set(errbuf, errlen,
			    "store %s: not a regular file", path);
			return M2M_ERR_STORE;
		}
		if (faccessat(AT_FDCWD, path, R_OK, AT_EACCESS) != 0) {
			m2m_errbuf_set(errbuf, errlen, "store %s: cannot read: "
			    "%s", path, strerror(errno));
			return M2M_ERR_STORE;
		}
		if (st.st_size == 0) {
			/* a store is never empty: it is born whole (below) */
			m2m_errbuf_set(errbuf, errlen, "store %s: empty file "
			    "(0 bytes), not a store: truncated? restore it "
			    "from a backup, or remove it to start a new store",
			    path);
			return M2M_ERR_STORE_CORRUPT;
		}
		if (!file_magic_ok(path)) {
			m2m_errbuf_set(errbuf, errlen,
			    "store %s: not an SQLite database", path);
			return M2M_ERR_STORE_CORRUPT;
		}
		if (faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) != 0) {
			e = errno;
			m2m_errbuf_set(errbuf, errlen, "store %s: not "
			    "writable: %s", path, strerror(e));
			return errno_readonly(e) ? M2M_ERR_STORE_READONLY :
			    M2M_ERR_STORE;
		}
	} else if (errno != ENOENT) {
		m2m_errbuf_set(errbuf, errlen, "store %s: %s", path,
		    strerror(errno));
		return M2M_ERR_STORE;
	}
	if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) != 0) {
		e = errno;
		m2m_errbuf_set(errbuf, errlen, "store %s: directory %s not "
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
		m2m_errbuf_set(errbuf, errlen, "store %s: an SQLite database "
		    "but not an m2mtoken store (no schema table)", path);
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
		m2m_errbuf_set(errbuf, errlen, "store %s: schema table holds "
		    "%d rows, expected one version", path, nrows);
		*bad = M2M_ERR_STORE_CORRUPT;
	} else if (v == 1) {
		m2m_errbuf_set(errbuf, errlen, "store %s: schema version 1 "
		    "(objects without a binding MAC), this build knows "
		    "version %d only: re-create the store (no release used "
		    "version 1)", path, M2M_STORE_SCHEMA_VERSION);
		*bad = M2M_ERR_STORE_CORRUPT;
	} else if (v != M2M_STORE_SCHEMA_VERSION) {
		m2m_errbuf_set(errbuf, errlen, "store %s: schema version %lld, "
		    "this build knows version %d", path, (long long)v,
		    M2M_STORE_SCHEMA_VERSION);
		*bad = M2M_ERR_STORE_CORRUPT;
	} else
		rc = counts_fill(db, path, bad, errbuf, errlen);
 out:
	sqlite3_finalize(st);
	if (rc == SQLITE_OK && *bad == 0)
		rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK || *bad != 0)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/*
 * Pragmas and schema; retried while another opener holds the file.
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
			m2m_errbuf_set(errbuf, errlen, "store %s: cannot use "
			    "WAL (journal mode %s)", path, mode);
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
		m2m_errbuf_set(errbuf, errlen, "store %s: not an SQLite "
		    "database or damaged: %s", path, sqlite3_errmsg(db));
	else
		m2m_errbuf_set(errbuf, errlen, "store %s: %s", path,
		    sqlite3_errmsg(db));
	return r;
}

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
		m2m_errbuf_set(errbuf, errlen, "store %s: path too long", path);
		return M2M_ERR_STORE;
	}
	if ((fd = mkstemp(tmp)) < 0) {
		e = errno;
		m2m_errbuf_set(errbuf, errlen, "store %s: cannot create: %s",
		    path, strerror(e));
		return errno_readonly(e) ? M2M_ERR_STORE_READONLY :
		    M2M_ERR_STORE;
	}
	close(fd);
	rc = sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		r = m2m_err_from_sqlite(rc);
		m2m_errbuf_set(errbuf, errlen, "store %s: cannot create %s: %s",
		    path, tmp, sqlite3_errstr(rc));
		goto out;
	}
	if ((r = open_init(db, tmp, errbuf, errlen)) != 0)
		goto out;
	/* everything in the main file before it gets its name */
	if ((rc = sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL,
	    NULL, NULL)) != SQLITE_OK) {
		r = m2m_err_from_sqlite(rc);
		m2m_errbuf_set(errbuf, errlen, "store %s: checkpoint: %s", path,
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
		m2m_errbuf_set(errbuf, errlen, "store %s: cannot create: %s",
		    path, strerror(e));
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
	int r = M2M_ERR_INTERNAL, rc;

	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if (path == NULL || ret == NULL || *path == '\0') {
		m2m_errbuf_set(errbuf, errlen, "store: no path");
		return M2M_ERR_INVALID_ARGUMENT;
	}
	if (strlen(path) >= PATH_MAX) {
		m2m_errbuf_set(errbuf, errlen, "store: path too long");
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
		m2m_errbuf_set(why, sizeof(why), "store %s: out of memory",
		    path);
		goto out;
	}
	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		r = m2m_err_from_sqlite(rc);
		m2m_errbuf_set(why, sizeof(why), "store %s: cannot open: %s",
		    path, s->db != NULL ? sqlite3_errmsg(s->db) :
		    sqlite3_errstr(rc));
		goto out;
	}
	sqlite3_extended_result_codes(s->db, 1);
	if (sqlite3_db_readonly(s->db, "main") != 0) {
		m2m_errbuf_set(why, sizeof(why), "store %s: opened read-only",
		    path);
		r = M2M_ERR_STORE_READONLY;
		goto out;
	}
	sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
	if ((r = open_init(s->db, path, why, sizeof(why))) != 0)
		goto out;
	if ((rc = store_stmts_prepare(s)) != SQLITE_OK) {
		/* a version-1 file lacking its tables is damaged */
		r = (rc & 0xff) == SQLITE_ERROR ? M2M_ERR_STORE_CORRUPT :
		    m2m_err_from_sqlite(rc);
		m2m_errbuf_set(why, sizeof(why), "store %s: schema does not "
		    "match: %s", path, sqlite3_errmsg(s->db));
		goto out;
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
		m2m_errbuf_set(errbuf, errlen, "%s", why);
	}
	m2m_store_close(s);
	return r;
}

/* see store.h */
void
m2m_store_close(struct m2m_store *s)
{
	if (s == NULL)
		return;
	store_stmts_finalize(s);
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

