/*
 * m2m-mef: the registry in SQLite (registry.h).
 *
 * One database file: WAL journal, synchronous=NORMAL as the module's store
 * (docs/operations.md, "Durability"), a busy timeout so that the admin commands
 * and the server can share it, foreign keys on.  Each write runs in one
 * BEGIN IMMEDIATE ... COMMIT transaction.  Targets are stored as one text
 * column, the IDs joined by '\n' (an ID never holds a control byte).
 */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "log.h"
#include "parse.h"
#include "registry.h"

#define SCHEMA_VERSION	2
#define BUSY_MS		5000

/*
 * Statements kept prepared, keyed by the address of their SQL literal: room
 * for every one of this file (about 30).  A test build makes it 2 so that
 * the statements past it, prepared and finalized each time, are tested.
 */
#ifdef MEF_REG_STMT_CACHE
#define STMT_CACHE	MEF_REG_STMT_CACHE
#else
#define STMT_CACHE	32
#endif

struct mef_registry {
	sqlite3	*db;
	struct {
		const char	*sql;
		sqlite3_stmt	*st;
	} stmt[STMT_CACHE];
};

static const char schema_v1[] =
	"CREATE TABLE enrolees ("
	" kpm_id TEXT PRIMARY KEY NOT NULL,"
	" enrolee_id TEXT NOT NULL,"
	" targets TEXT NOT NULL,"
	" lifetime INTEGER NOT NULL,"
	" e2e_hash INTEGER NOT NULL,"
	" e2e_salt BLOB);"
	"CREATE TABLE targets (target_id TEXT PRIMARY KEY NOT NULL);"
	"CREATE TABLE kes ("
	" ke_id TEXT PRIMARY KEY NOT NULL,"
	" kpm_id TEXT NOT NULL REFERENCES enrolees(kpm_id),"
	" enrolee_id TEXT NOT NULL,"
	" targets TEXT NOT NULL,"
	" expires INTEGER NOT NULL);"
	"CREATE INDEX kes_kpm ON kes(kpm_id);";

/* v2: an enrolee's key is a KpmId (cert 0) or a certificate ID (cert 1). */
static const char schema_v1_to_v2[] =
	"ALTER TABLE enrolees ADD COLUMN cert INTEGER NOT NULL DEFAULT 0;"
	"UPDATE schema_version SET version = 2;";

/* The one mapping of SQLite result codes into MEF_ERR_*. */
static int
err_from_sqlite(struct mef_registry *reg, int rc, const char *what)
{
	switch (rc) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_NOMEM:
		return MEF_ERR_NOMEM;
	default:
		break;
	}
	if ((rc & 0xff) == SQLITE_CONSTRAINT) {
		if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
			return MEF_ERR_NOTFOUND;
		return MEF_ERR_EXISTS;
	}
	mef_log("registry: %s: %s", what, reg != NULL && reg->db != NULL ?
	    sqlite3_errmsg(reg->db) : sqlite3_errstr(rc));
	return MEF_ERR_REGISTRY;
}

static int
exec(struct mef_registry *reg, const char *sql)
{
	return err_from_sqlite(reg, sqlite3_exec(reg->db, sql, NULL, NULL,
	    NULL), sql);
}

/*
 * The statement for sql, a string literal: prepared at its first use and
 * kept, so that a fetch parses no SQL (the parser was about a tenth of the
 * MEF's time per fetch).  Give it back with release().
 */
static int
prepare(struct mef_registry *reg, const char *sql, sqlite3_stmt **ret)
{
	size_t i;
	int r;

	for (i = 0; i < STMT_CACHE && reg->stmt[i].sql != NULL; i++)
		if (reg->stmt[i].sql == sql) {
			*ret = reg->stmt[i].st;
			return 0;
		}
	r = err_from_sqlite(reg, sqlite3_prepare_v3(reg->db, sql, -1,
	    SQLITE_PREPARE_PERSISTENT, ret, NULL), sql);
	if (r == 0 && i < STMT_CACHE) {
		reg->stmt[i].sql = sql;
		reg->stmt[i].st = *ret;
	}
	return r;
}

/* Reset a kept statement (its read lock and bindings go), finalize others. */
static void
release(struct mef_registry *reg, sqlite3_stmt *st)
{
	size_t i;

	if (st == NULL)
		return;
	for (i = 0; i < STMT_CACHE && reg->stmt[i].sql != NULL; i++)
		if (reg->stmt[i].st == st) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return;
		}
	sqlite3_finalize(st);
}

/* One run of a statement without parameters or rows (BEGIN, COMMIT). */
static int
step_once(struct mef_registry *reg, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = prepare(reg, sql, &st)) != 0)
		return r;
	r = err_from_sqlite(reg, sqlite3_step(st), sql);
	release(reg, st);
	return r;
}

static int
begin(struct mef_registry *reg)
{
	return step_once(reg, "BEGIN IMMEDIATE");
}

/* Commit when r == 0, else roll back; returns r or the commit's error. */
static int
end(struct mef_registry *reg, int r)
{
	int c;

	if (r == 0) {
		if ((c = step_once(reg, "COMMIT")) == 0)
			return 0;
		r = c;
	}
	(void)step_once(reg, "ROLLBACK");
	return r;
}

/* targets -> "a\nb\nc" in out (cap bytes). */
static int
targets_join(const struct mef_targets *t, char *out, size_t cap)
{
	size_t o = 0, i, l;

	if (t->n == 0 || t->n > MEF_TARGETS_MAX)
		return MEF_ERR_INVALID;
	for (i = 0; i < t->n; i++) {
		l = strlen(t->id[i]);
		if (!mef_id_valid(t->id[i], l) || o + l + 2 > cap)
			return MEF_ERR_INVALID;
		if (i > 0)
			out[o++] = '\n';
		memcpy(out + o, t->id[i], l);
		o += l;
	}
	out[o] = '\0';
	return 0;
}

static int
targets_split(const char *s, struct mef_targets *ret)
{
	struct mef_targets t;
	const char *nl;
	size_t l;

	memset(&t, 0, sizeof(t));
	if (s == NULL)
		return MEF_ERR_REGISTRY;
	for (;;) {
		nl = strchr(s, '\n');
		l = nl != NULL ? (size_t)(nl - s) : strlen(s);
		if (t.n == MEF_TARGETS_MAX || !mef_id_valid(s, l))
			return MEF_ERR_REGISTRY;
		memcpy(t.id[t.n], s, l);
		t.id[t.n][l] = '\0';
		t.n++;
		if (nl == NULL)
			break;
		s = nl + 1;
	}
	*ret = t;
	return 0;
}

#define JOIN_MAX	(MEF_TARGETS_MAX * (MEF_ID_MAX + 1))

static int
text_col(sqlite3_stmt *st, int i, char *out, size_t cap)
{
	const unsigned char *s = sqlite3_column_text(st, i);
	int n = sqlite3_column_bytes(st, i);

	if (s == NULL || n < 0 || (size_t)n >= cap)
		return MEF_ERR_REGISTRY;
	memcpy(out, s, (size_t)n);
	out[n] = '\0';
	return 0;
}

static int
check_version(struct mef_registry *reg)
{
	sqlite3_stmt *st = NULL;
	int r, rc, v = -1, rows = 0;

	if ((r = begin(reg)) != 0)
		return r;
	if ((r = exec(reg, "CREATE TABLE IF NOT EXISTS schema_version "
	    "(version INTEGER NOT NULL)")) != 0)
		goto out;
	if ((r = prepare(reg, "SELECT version FROM schema_version",
	    &st)) != 0)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		v = sqlite3_column_int(st, 0);
		rows++;
	}
	if ((r = err_from_sqlite(reg, rc, "schema_version")) != 0)
		goto out;
	if (rows == 0) {
		if ((r = exec(reg, schema_v1)) != 0 ||
		    (r = exec(reg, "INSERT INTO schema_version VALUES (1)"))
		    != 0 || (r = exec(reg, schema_v1_to_v2)) != 0)
			goto out;
	} else if (rows == 1 && v == 1) {
		if ((r = exec(reg, schema_v1_to_v2)) != 0)
			goto out;
		mef_log("registry: schema version 1 upgraded to 2");
	} else if (rows != 1 || v != SCHEMA_VERSION) {
		mef_log("registry: schema version %d is not %d (this "
		    "program's): refusing to use it", v, SCHEMA_VERSION);
		r = MEF_ERR_VERSION;
		goto out;
	}
	r = 0;
 out:
	release(reg, st);
	return end(reg, r);
}

/* see registry.h */
int
mef_reg_schema_version(void)
{
	return SCHEMA_VERSION;
}

/* see registry.h */
int
mef_reg_open(const char *path, struct mef_registry **ret)
{
	struct mef_registry *reg = NULL;
	int r = MEF_ERR_INTERNAL, rc;

	if (path == NULL || ret == NULL)
		return MEF_ERR_INVALID;
	if ((reg = calloc(1, sizeof(*reg))) == NULL)
		return MEF_ERR_NOMEM;
	rc = sqlite3_open_v2(path, &reg->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
	if (rc != SQLITE_OK) {
		mef_log("registry: cannot open %s: %s", path,
		    reg->db != NULL ? sqlite3_errmsg(reg->db) :
		    sqlite3_errstr(rc));
		r = MEF_ERR_REGISTRY;
		goto out;
	}
	sqlite3_extended_result_codes(reg->db, 1);
	sqlite3_busy_timeout(reg->db, BUSY_MS);
	if ((r = exec(reg, "PRAGMA journal_mode=WAL")) != 0 ||
	    (r = exec(reg, "PRAGMA synchronous=NORMAL")) != 0 ||
	    (r = exec(reg, "PRAGMA foreign_keys=ON")) != 0 ||
	    (r = check_version(reg)) != 0)
		goto out;
	*ret = reg;
	reg = NULL;	/* transferred */
	r = 0;
 out:
	mef_reg_close(reg);
	return r;
}

/* see registry.h */
void
mef_reg_close(struct mef_registry *reg)
{
	size_t i;

	if (reg == NULL)
		return;
	for (i = 0; i < STMT_CACHE; i++)
		sqlite3_finalize(reg->stmt[i].st);
	sqlite3_close(reg->db);
	free(reg);
}

#define ID_ENROLEE	1
#define ID_TARGET	2

/*
 * What id names: ID_ENROLEE (a KpmId or certificate ID, table enrolees),
 * ID_TARGET, 0 nothing, or < 0.  Reads no column but the kind, so that a
 * row this program cannot read still counts.
 */
static int
id_kind(struct mef_registry *reg, const char *id)
{
	sqlite3_stmt *st = NULL;
	int r, rc;

	if ((r = prepare(reg, "SELECT 1 FROM enrolees WHERE kpm_id = ?1 "
	    "UNION ALL SELECT 2 FROM targets WHERE target_id = ?1",
	    &st)) != 0)
		return r;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	r = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) :
	    err_from_sqlite(reg, rc, "id lookup");
	release(reg, st);
	return r;
}

/* see registry.h */
int
mef_reg_enrolee_add(struct mef_registry *reg, const struct mef_enrolee *e)
{
	sqlite3_stmt *st = NULL;
	char joined[JOIN_MAX];
	int r;

	if (reg == NULL || e == NULL)
		return MEF_ERR_INVALID;
	if (!mef_id_valid(e->kpm_id, strlen(e->kpm_id)) ||
	    !mef_id_valid(e->enrolee_id, strlen(e->enrolee_id)) ||
	    e->lifetime < 1 || e->lifetime > MEF_LIFETIME_MAX ||
	    (e->e2e_hash != MEF_HASH_SHA256 &&
	    e->e2e_hash != MEF_HASH_SHA512) || e->salt_len > MEF_SALT_MAX ||
	    targets_join(&e->targets, joined, sizeof(joined)) != 0)
		return MEF_ERR_INVALID;
	if ((r = begin(reg)) != 0)
		return r;
	if ((r = id_kind(reg, e->kpm_id)) != 0) {
		if (r > 0)
			r = MEF_ERR_EXISTS;
		goto out;
	}
	if ((r = prepare(reg, "INSERT INTO enrolees (kpm_id, enrolee_id, "
	    "targets, lifetime, e2e_hash, e2e_salt, cert) VALUES "
	    "(?,?,?,?,?,?,?)",
	    &st)) != 0)
		goto out;
	sqlite3_bind_text(st, 1, e->kpm_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, e->enrolee_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, joined, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, e->lifetime);
	sqlite3_bind_int(st, 5, e->e2e_hash);
	if (e->salt_len > 0)
		sqlite3_bind_blob(st, 6, e->salt, (int)e->salt_len,
		    SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 6);
	sqlite3_bind_int(st, 7, e->cert != 0);
	r = err_from_sqlite(reg, sqlite3_step(st), "enrolee add");
 out:
	release(reg, st);
	return end(reg, r);
}

static int
enrolee_row(struct mef_registry *reg, sqlite3_stmt *st,
    struct mef_enrolee *e)
{
	char joined[JOIN_MAX];
	int n, r;

	(void)reg;
	memset(e, 0, sizeof(*e));
	if ((r = text_col(st, 0, e->kpm_id, sizeof(e->kpm_id))) != 0 ||
	    (r = text_col(st, 1, e->enrolee_id, sizeof(e->enrolee_id))) != 0 ||
	    (r = text_col(st, 2, joined, sizeof(joined))) != 0 ||
	    (r = targets_split(joined, &e->targets)) != 0)
		return r;
	e->lifetime = (long)sqlite3_column_int64(st, 3);
	e->e2e_hash = sqlite3_column_int(st, 4);
	n = sqlite3_column_bytes(st, 5);
	if (n < 0 || n > MEF_SALT_MAX)
		return MEF_ERR_REGISTRY;
	if (n > 0)
		memcpy(e->salt, sqlite3_column_blob(st, 5), (size_t)n);
	e->salt_len = (size_t)n;
	e->cert = sqlite3_column_int(st, 6) != 0;
	if (e->lifetime < 1 || e->lifetime > MEF_LIFETIME_MAX ||
	    (e->e2e_hash != MEF_HASH_SHA256 && e->e2e_hash != MEF_HASH_SHA512))
		return MEF_ERR_REGISTRY;
	return 0;
}

#define ENROLEE_COLS "kpm_id, enrolee_id, targets, lifetime, e2e_hash, " \
	"e2e_salt, cert"

/* see registry.h */
int
mef_reg_enrolee_get(struct mef_registry *reg, const char *kpm_id,
    struct mef_enrolee *ret)
{
	sqlite3_stmt *st = NULL;
	char q[(MEF_ID_MAX + 1) * 4 + 3];
	int r, rc;

	if (reg == NULL || kpm_id == NULL || ret == NULL)
		return MEF_ERR_INVALID;
	if ((r = prepare(reg, "SELECT " ENROLEE_COLS " FROM enrolees "
	    "WHERE kpm_id = ?", &st)) != 0)
		return r;
	sqlite3_bind_text(st, 1, kpm_id, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((r = enrolee_row(reg, st, ret)) != 0) {
			mef_log_quote(q, sizeof(q), kpm_id);
			mef_log("registry: the enrolee row of %s cannot be "
			    "read (a field out of range: written by another "
			    "program?)", q);
		}
	} else if (rc == SQLITE_DONE)
		r = MEF_ERR_NOTFOUND;
	else
		r = err_from_sqlite(reg, rc, "enrolee get");
	release(reg, st);
	return r;
}

/* DELETE with one text parameter; MEF_ERR_NOTFOUND when no row went. */
static int
delete_one(struct mef_registry *reg, const char *sql, const char *id,
    int must)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = prepare(reg, sql, &st)) != 0)
		return r;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	r = err_from_sqlite(reg, sqlite3_step(st), sql);
	if (r == 0 && must && sqlite3_changes(reg->db) == 0)
		r = MEF_ERR_NOTFOUND;
	release(reg, st);
	return r;
}

/* see registry.h */
int
mef_reg_enrolee_remove(struct mef_registry *reg, const char *kpm_id,
    int (*cb)(const char *, void *), void *arg)
{
	sqlite3_stmt *st = NULL;
	char id[MEF_KEID_MAX + 1];
	int r, rc, k;

	if (reg == NULL || kpm_id == NULL)
		return MEF_ERR_INVALID;
	if ((r = begin(reg)) != 0)
		return r;
	/* the KeIds under the lock that deletes them, not before it */
	if ((r = prepare(reg, "SELECT ke_id FROM kes WHERE kpm_id = ? "
	    "ORDER BY ke_id", &st)) != 0)
		goto out;
	sqlite3_bind_text(st, 1, kpm_id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (cb != NULL && ((r = text_col(st, 0, id, sizeof(id))) != 0 ||
		    (r = cb(id, arg)) != 0))
			goto out;
	if ((r = err_from_sqlite(reg, rc, "enrolee remove: KeIds")) != 0)
		goto out;
	release(reg, st);
	st = NULL;
	if ((r = delete_one(reg, "DELETE FROM kes WHERE kpm_id = ?", kpm_id,
	    0)) == 0)
		r = delete_one(reg, "DELETE FROM enrolees WHERE kpm_id = ?",
		    kpm_id, 1);
	if (r == MEF_ERR_NOTFOUND && (k = id_kind(reg, kpm_id)) != 0)
		r = k < 0 ? k : MEF_ERR_KIND;
 out:
	release(reg, st);
	return end(reg, r);
}

/* see registry.h */
int
mef_reg_enrolee_list(struct mef_registry *reg,
    int (*cb)(const struct mef_enrolee *, void *), void *arg)
{
	sqlite3_stmt *st = NULL;
	struct mef_enrolee e;
	int r, rc;

	if (reg == NULL || cb == NULL)
		return MEF_ERR_INVALID;
	if ((r = prepare(reg, "SELECT " ENROLEE_COLS " FROM enrolees "
	    "ORDER BY kpm_id", &st)) != 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((r = enrolee_row(reg, st, &e)) != 0 ||
		    (r = cb(&e, arg)) != 0)
			goto out;
	}
	r = err_from_sqlite(reg, rc, "enrolee list");
 out:
	release(reg, st);
	return r;
}

/* see registry.h */
int
mef_reg_target_add(struct mef_registry *reg, const char *id)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (reg == NULL || id == NULL || !mef_id_valid(id, strlen(id)))
		return MEF_ERR_INVALID;
	if ((r = begin(reg)) != 0)
		return r;
	if ((r = id_kind(reg, id)) != 0) {
		if (r > 0)
			r = MEF_ERR_EXISTS;
		goto out;
	}
	if ((r = prepare(reg, "INSERT INTO targets (target_id) VALUES (?)",
	    &st)) != 0)
		goto out;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	r = err_from_sqlite(reg, sqlite3_step(st), "target add");
 out:
	release(reg, st);
	return end(reg, r);
}

/* see registry.h */
int
mef_reg_target_get(struct mef_registry *reg, const char *id)
{
	sqlite3_stmt *st = NULL;
	int r, rc;

	if (reg == NULL || id == NULL)
		return MEF_ERR_INVALID;
	if ((r = prepare(reg, "SELECT 1 FROM targets WHERE target_id = ?",
	    &st)) != 0)
		return r;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	r = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? MEF_ERR_NOTFOUND :
	    err_from_sqlite(reg, rc, "target get");
	release(reg, st);
	return r;
}

/* see registry.h */
int
mef_reg_target_remove(struct mef_registry *reg, const char *id)
{
	int r, k;

	if (reg == NULL || id == NULL)
		return MEF_ERR_INVALID;
	if ((r = begin(reg)) != 0)
		return r;
	r = delete_one(reg, "DELETE FROM targets WHERE target_id = ?", id, 1);
	if (r == MEF_ERR_NOTFOUND && (k = id_kind(reg, id)) != 0)
		r = k < 0 ? k : MEF_ERR_KIND;
	return end(reg, r);
}

/* see registry.h */
int
mef_reg_target_list(struct mef_registry *reg,
    int (*cb)(const char *, void *), void *arg)
{
	sqlite3_stmt *st = NULL;
	char id[MEF_ID_MAX + 1];
	int r, rc;

	if (reg == NULL || cb == NULL)
		return MEF_ERR_INVALID;
	if ((r = prepare(reg, "SELECT target_id FROM targets ORDER BY "
	    "target_id", &st)) != 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((r = text_col(st, 0, id, sizeof(id))) != 0 ||
		    (r = cb(id, arg)) != 0)
			goto out;
	}
	r = err_from_sqlite(reg, rc, "target list");
 out:
	release(reg, st);
	return r;
}

/*
 * Delete the enrolee's KeIds past the newest keep, the new one (ke_id)
 * counted and never among them, telling cb each; in the caller's
 * transaction.  Newest is the highest rowid: SQLite gives a new row one
 * more than the largest there is, so rowid order is the order of the
 * inserts (the expiry is not: the clock may step back).
 */
static int
ke_trim(struct mef_registry *reg, const struct mef_ke *ke, unsigned int keep,
    int (*cb)(const char *, void *), void *arg)
{
	sqlite3_stmt *st = NULL;
	char id[MEF_KEID_MAX + 1];
	int r, rc, n = 0;

	if ((r = prepare(reg, "SELECT ke_id FROM kes WHERE kpm_id = ?1 AND "
	    "ke_id <> ?2 ORDER BY rowid DESC LIMIT -1 OFFSET ?3", &st)) != 0)
		return r;
	sqlite3_bind_text(st, 1, ke->kpm_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ke->ke_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)keep - 1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((r = text_col(st, 0, id, sizeof(id))) != 0 ||
		    (cb != NULL && (r = cb(id, arg)) != 0))
			goto out;
		n++;
	}
	if ((r = err_from_sqlite(reg, rc, "KeId add: superseded")) != 0 ||
	    n == 0)
		goto out;
	release(reg, st);
	st = NULL;
	/* the same rows: the write lock is held since the SELECT */
	if ((r = prepare(reg, "DELETE FROM kes WHERE kpm_id = ?1 AND "
	    "ke_id <> ?2 AND rowid NOT IN (SELECT rowid FROM kes WHERE "
	    "kpm_id = ?1 AND ke_id <> ?2 ORDER BY rowid DESC LIMIT ?3)",
	    &st)) != 0)
		goto out;
	sqlite3_bind_text(st, 1, ke->kpm_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ke->ke_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)keep - 1);
	r = err_from_sqlite(reg, sqlite3_step(st), "KeId add: supersede");
	if (r == 0 && sqlite3_changes(reg->db) != n) {
		mef_log("registry: KeId add: %d superseded KeIds listed, %d "
		    "deleted", n, sqlite3_changes(reg->db));
		r = MEF_ERR_REGISTRY;
	}
 out:
	release(reg, st);
	return r;
}

/* see registry.h */
int
mef_reg_ke_add_keep(struct mef_registry *reg, const struct mef_ke *ke,
    unsigned int keep, int (*cb)(const char *, void *), void *arg)
{
	sqlite3_stmt *st = NULL;
	char joined[JOIN_MAX];
	int r;

	if (reg == NULL || ke == NULL || ke->ke_id[0] == '\0' ||
	    strlen(ke->ke_id) > MEF_KEID_MAX ||
	    !mef_id_valid(ke->kpm_id, strlen(ke->kpm_id)) ||
	    !mef_id_valid(ke->enrolee_id, strlen(ke->enrolee_id)) ||
	    targets_join(&ke->targets, joined, sizeof(joined)) != 0)
		return MEF_ERR_INVALID;
	if ((r = begin(reg)) != 0)
		return r;
	if ((r = prepare(reg, "INSERT INTO kes (ke_id, kpm_id, enrolee_id, "
	    "targets, expires) VALUES (?,?,?,?,?)", &st)) != 0)
		goto out;
	sqlite3_bind_text(st, 1, ke->ke_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ke->kpm_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, ke->enrolee_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, joined, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)ke->expires);
	r = err_from_sqlite(reg, sqlite3_step(st), "KeId add");
	release(reg, st);
	st = NULL;
	if (r == 0 && keep > 0)
		r = ke_trim(reg, ke, keep, cb, arg);
 out:
	release(reg, st);
	return end(reg, r);
}

/* see registry.h */
int
mef_reg_ke_add(struct mef_registry *reg, const struct mef_ke *ke)
{
	return mef_reg_ke_add_keep(reg, ke, 0, NULL, NULL);
}

static int
ke_row(sqlite3_stmt *st, int at, struct mef_ke *ke)
{
	char joined[JOIN_MAX];
	int r;

	memset(ke, 0, sizeof(*ke));
	if ((r = text_col(st, at + 0, ke->ke_id, sizeof(ke->ke_id))) != 0 ||
	    (r = text_col(st, at + 1, ke->kpm_id, sizeof(ke->kpm_id))) != 0 ||
	    (r = text_col(st, at + 2, ke->enrolee_id,
	    sizeof(ke->enrolee_id))) != 0 ||
	    (r = text_col(st, at + 3, joined, sizeof(joined))) != 0 ||
	    (r = targets_split(joined, &ke->targets)) != 0)
		return r;
	ke->expires = (time_t)sqlite3_column_int64(st, at + 4);
	return 0;
}

#define KE_COLS "ke_id, kpm_id, enrolee_id, targets, expires"

/* see registry.h */
int
mef_reg_ke_get(struct mef_registry *reg, const char *ke_id,
    struct mef_ke *ret)
{
	sqlite3_stmt *st = NULL;
	int r, rc;

	if (reg == NULL || ke_id == NULL || ret == NULL)
		return MEF_ERR_INVALID;
	if ((r = prepare(reg, "SELECT " KE_COLS " FROM kes WHERE ke_id = ?",
	    &st)) != 0)
		return r;
	sqlite3_bind_text(st, 1, ke_id, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		r = ke_row(st, 0, ret);
	else if (rc == SQLITE_DONE)
		r = MEF_ERR_NOTFOUND;
	else
		r = err_from_sqlite(reg, rc, "KeId get");
	release(reg, st);
	return r;
}

/* see registry.h */
int
mef_reg_fetch_get(struct mef_registry *reg, const char *target,
    const char *ke_id, int *is_target, struct mef_ke *ret)
{
	sqlite3_stmt *st = NULL;
	int r, rc;

	if (reg == NULL || target == NULL || ke_id == NULL ||
	    is_target == NULL || ret == NULL)
		return MEF_ERR_INVALID;
	/* one row always: the target flag, then the KeId's columns or NULLs */
	if ((r = prepare(reg, "SELECT EXISTS (SELECT 1 FROM targets WHERE "
	    "target_id = ?1), " KE_COLS " FROM (SELECT 1) LEFT JOIN kes ON "
	    "kes.ke_id = ?2", &st)) != 0)
		return r;
	sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ke_id, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		r = rc == SQLITE_DONE ? MEF_ERR_REGISTRY :
		    err_from_sqlite(reg, rc, "fetch lookup");
		goto out;
	}
	*is_target = sqlite3_column_int(st, 0) != 0;
	r = sqlite3_column_type(st, 1) == SQLITE_NULL ? MEF_ERR_NOTFOUND :
	    ke_row(st, 1, ret);
 out:
	release(reg, st);
	return r;
}

/* see registry.h */
int
mef_reg_ke_remove(struct mef_registry *reg, const char *ke_id)
{
	int r;

	if (reg == NULL || ke_id == NULL)
		return MEF_ERR_INVALID;
	if ((r = begin(reg)) != 0)
		return r;
	r = delete_one(reg, "DELETE FROM kes WHERE ke_id = ?", ke_id, 1);
	return end(reg, r);
}

/* see registry.h */
int
mef_reg_ke_list(struct mef_registry *reg, const char *kpm_id,
    int (*cb)(const struct mef_ke *, void *), void *arg)
{
	sqlite3_stmt *st = NULL;
	struct mef_ke ke;
	int r, rc;

	if (reg == NULL || cb == NULL)
		return MEF_ERR_INVALID;
	if ((r = prepare(reg, kpm_id != NULL ?
	    "SELECT " KE_COLS " FROM kes WHERE kpm_id = ? ORDER BY ke_id" :
	    "SELECT " KE_COLS " FROM kes ORDER BY ke_id", &st)) != 0)
		return r;
	if (kpm_id != NULL)
		sqlite3_bind_text(st, 1, kpm_id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((r = ke_row(st, 0, &ke)) != 0 || (r = cb(&ke, arg)) != 0)
			goto out;
	}
	r = err_from_sqlite(reg, rc, "KeId list");
 out:
	release(reg, st);
	return r;
}
