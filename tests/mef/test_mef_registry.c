/*
 * Unit tests of daemon/mef/registry_sqlite.c: every operation, its exact
 * errors, nothing written by a refused call, IDs unique across enrolees
 * and targets, the schema version check, reopening, and a database that
 * a second handle holds locked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "registry.h"

struct fx {
	char			dir[64];
	char			path[128];
	struct mef_registry	*reg;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/mef-reg.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/r.db", f->dir);
	assert_int_equal(mef_reg_open(f->path, &f->reg), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[200];

	mef_reg_close(f->reg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static struct mef_enrolee
enrolee(const char *kpm, const char *eid)
{
	struct mef_enrolee e;

	memset(&e, 0, sizeof(e));
	snprintf(e.kpm_id, sizeof(e.kpm_id), "%s", kpm);
	snprintf(e.enrolee_id, sizeof(e.enrolee_id), "%s", eid);
	e.targets.n = 2;
	snprintf(e.targets.id[0], sizeof(e.targets.id[0]), "gw1");
	snprintf(e.targets.id[1], sizeof(e.targets.id[1]), "gw2");
	e.lifetime = 3600;
	e.e2e_hash = MEF_HASH_SHA512;
	e.salt_len = 3;
	e.salt[0] = 1;
	e.salt[1] = 0;
	e.salt[2] = 3;
	return e;
}

static int
count(struct fx *f, const char *table)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	char sql[64];
	int n;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static void
test_enrolee(void **state)
{
	struct fx *f = *state;
	struct mef_enrolee e = enrolee("kpm1", "/in-cse/CAE01"), g;

	assert_int_equal(mef_reg_enrolee_add(f->reg, &e), 0);
	assert_int_equal(mef_reg_enrolee_get(f->reg, "kpm1", &g), 0);
	assert_string_equal(g.kpm_id, "kpm1");
	assert_string_equal(g.enrolee_id, "/in-cse/CAE01");
	assert_int_equal(g.targets.n, 2);
	assert_string_equal(g.targets.id[0], "gw1");
	assert_string_equal(g.targets.id[1], "gw2");
	assert_int_equal(g.lifetime, 3600);
	assert_int_equal(g.e2e_hash, MEF_HASH_SHA512);
	assert_int_equal(g.salt_len, 3);
	assert_memory_equal(g.salt, "\x01\x00\x03", 3);
	assert_int_equal(mef_reg_enrolee_add(f->reg, &e), MEF_ERR_EXISTS);
	assert_int_equal(mef_reg_enrolee_get(f->reg, "kpm2", &g),
	    MEF_ERR_NOTFOUND);
	assert_int_equal(mef_reg_enrolee_remove(f->reg, "kpm1", NULL, NULL),
	    0);
	assert_int_equal(mef_reg_enrolee_remove(f->reg, "kpm1", NULL, NULL),
	    MEF_ERR_NOTFOUND);
	assert_int_equal(count(f, "enrolees"), 0);
}

static void
test_enrolee_invalid(void **state)
{
	struct fx *f = *state;
	struct mef_enrolee e;

	e = enrolee("", "x");
	assert_int_equal(mef_reg_enrolee_add(f->reg, &e), MEF_ERR_INVALID);
	e = enrolee("k", "x");
	e.lifetime = 0;
	assert_int_equal(mef_reg_enrolee_add(f->reg, &e), MEF_ERR_INVALID);
	e = enrolee("k", "x");
	e.e2e_hash = 384;
	assert_int_equal(mef_reg_enrolee_add(f->reg, &e), MEF_ERR_INVALID);
	e = enrolee("k", "x");
	e.targets.n = 0;
	assert_int_equal(mef_reg_enrolee_add(f->reg, &e), MEF_ERR_INVALID);
	e = enrolee("k", "x");
	e.targets.id[1][0] = '\n';
	assert_int_equal(mef_reg_enrolee_add(f->reg, &e), MEF_ERR_INVALID);
	e = enrolee("k", "x");
	e.salt_len = MEF_SALT_MAX + 1;
	assert_int_equal(mef_reg_enrolee_add(f->reg, &e), MEF_ERR_INVALID);
	assert_int_equal(count(f, "enrolees"), 0);
}

static int
collect(const struct mef_enrolee *e, void *arg)
{
	char *out = arg;
	size_t n = strlen(out);

	snprintf(out + n, 64 - n, "%s,", e->kpm_id);
	return 0;
}

static int
stop_at_b(const struct mef_enrolee *e, void *arg)
{
	(void)arg;
	return strcmp(e->kpm_id, "b") == 0 ? 42 : 0;
}

static void
test_enrolee_list(void **state)
{
	struct fx *f = *state;
	struct mef_enrolee e;
	char out[64] = "";

	e = enrolee("c", "x");
	assert_int_equal(mef_reg_enrolee_add(f->reg, &e), 0);
	e = enrolee("a", "x");
	assert_int_equal(mef_reg_enrolee_add(f->reg, &e), 0);
	e = enrolee("b", "x");
	assert_int_equal(mef_reg_enrolee_add(f->reg, &e), 0);
	assert_int_equal(mef_reg_enrolee_list(f->reg, collect, out), 0);
	assert_string_equal(out, "a,b,c,");
	assert_int_equal(mef_reg_enrolee_list(f->reg, stop_at_b, NULL), 42);
}

static int
collect_t(const char *id, void *arg)
{
	char *out = arg;
	size_t n = strlen(out);

	snprintf(out + n, 64 - n, "%s,", id);
	return 0;
}

static void
test_target(void **state)
{
	struct fx *f = *state;
	struct mef_enrolee e = enrolee("kpm1", "x");
	char out[64] = "";

	assert_int_equal(mef_reg_target_add(f->reg, "gw2"), 0);
	assert_int_equal(mef_reg_target_add(f->reg, "gw1"), 0);
	assert_int_equal(mef_reg_target_add(f->reg, "gw1"), MEF_ERR_EXISTS);
	assert_int_equal(mef_reg_target_add(f->reg, ""), MEF_ERR_INVALID);
	assert_int_equal(mef_reg_target_get(f->reg, "gw1"), 0);
	assert_int_equal(mef_reg_target_get(f->reg, "gw3"), MEF_ERR_NOTFOUND);
	assert_int_equal(mef_reg_target_list(f->reg, collect_t, out), 0);
	assert_string_equal(out, "gw1,gw2,");
	/* one namespace for KpmIds and target IDs */
	assert_int_equal(mef_reg_enrolee_add(f->reg, &e), 0);
	assert_int_equal(mef_reg_target_add(f->reg, "kpm1"), MEF_ERR_EXISTS);
	e = enrolee("gw1", "x");
	assert_int_equal(mef_reg_enrolee_add(f->reg, &e), MEF_ERR_EXISTS);
	assert_int_equal(mef_reg_target_remove(f->reg, "gw1"), 0);
	assert_int_equal(mef_reg_target_remove(f->reg, "gw1"),
	    MEF_ERR_NOTFOUND);
	assert_int_equal(count(f, "targets"), 1);
	/* a remove of the other kind's ID is refused, nothing removed */
	assert_int_equal(mef_reg_target_remove(f->reg, "kpm1"), MEF_ERR_KIND);
	assert_int_equal(mef_reg_enrolee_remove(f->reg, "gw2", NULL, NULL),
	    MEF_ERR_KIND);
	assert_int_equal(count(f, "enrolees"), 1);
	assert_int_equal(count(f, "targets"), 1);
	assert_int_equal(mef_reg_enrolee_remove(f->reg, "gw1", NULL, NULL),
	    MEF_ERR_NOTFOUND);
}

static struct mef_ke
ke(const char *id, const char *kpm)
{
	struct mef_ke k;

	memset(&k, 0, sizeof(k));
	snprintf(k.ke_id, sizeof(k.ke_id), "%s", id);
	snprintf(k.kpm_id, sizeof(k.kpm_id), "%s", kpm);
	snprintf(k.enrolee_id, sizeof(k.enrolee_id), "/in-cse/CAE01");
	k.targets.n = 1;
	snprintf(k.targets.id[0], sizeof(k.targets.id[0]), "gw1");
	k.expires = 1826841600;
	return k;
}

static int
count_ke(const struct mef_ke *k, void *arg)
{
	(void)k;
	(*(int *)arg)++;
	return 0;
}

static int
keid_join(const char *id, void *arg)
{
	char *out = arg;
	size_t n = strlen(out);

	snprintf(out + n, 64 - n, "%s,", id);
	return 0;
}

static int
keid_fail(const char *id, void *arg)
{
	(void)id;
	(void)arg;
	return MEF_ERR_NOMEM;
}

static void
test_ke(void **state)
{
	struct fx *f = *state;
	struct mef_enrolee e = enrolee("kpm1", "x");
	struct mef_ke k = ke("00@mef", "kpm1"), g;
	char out[64] = "";
	int n = 0;

	/* no enrolee: refused by the foreign key, nothing written */
	assert_int_equal(mef_reg_ke_add(f->reg, &k), MEF_ERR_NOTFOUND);
	assert_int_equal(count(f, "kes"), 0);
	assert_int_equal(mef_reg_enrolee_add(f->reg, &e), 0);
	assert_int_equal(mef_reg_ke_add(f->reg, &k), 0);
	assert_int_equal(mef_reg_ke_add(f->reg, &k), MEF_ERR_EXISTS);
	k = ke("01@mef", "kpm1");
	assert_int_equal(mef_reg_ke_add(f->reg, &k), 0);
	assert_int_equal(mef_reg_ke_get(f->reg, "00@mef", &g), 0);
	assert_string_equal(g.kpm_id, "kpm1");
	assert_string_equal(g.enrolee_id, "/in-cse/CAE01");
	assert_int_equal(g.targets.n, 1);
	assert_string_equal(g.targets.id[0], "gw1");
	assert_int_equal(g.expires, 1826841600);
	assert_int_equal(mef_reg_ke_get(f->reg, "02@mef", &g),
	    MEF_ERR_NOTFOUND);
	assert_int_equal(mef_reg_ke_list(f->reg, "kpm1", count_ke, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(mef_reg_ke_remove(f->reg, "01@mef"), 0);
	assert_int_equal(mef_reg_ke_remove(f->reg, "01@mef"),
	    MEF_ERR_NOTFOUND);
	/*
	 * removing the enrolee takes its KeIds in the same transaction and
	 * names each; a callback's error removes nothing
	 */
	k = ke("02@mef", "kpm1");
	assert_int_equal(mef_reg_ke_add(f->reg, &k), 0);
	assert_int_equal(mef_reg_enrolee_remove(f->reg, "kpm1", keid_fail,
	    NULL), MEF_ERR_NOMEM);
	assert_int_equal(count(f, "kes"), 2);
	assert_int_equal(count(f, "enrolees"), 1);
	assert_int_equal(mef_reg_enrolee_remove(f->reg, "kpm1", keid_join,
	    out), 0);
	assert_string_equal(out, "00@mef,02@mef,");
	assert_int_equal(count(f, "kes"), 0);
	n = 0;
	assert_int_equal(mef_reg_ke_list(f->reg, NULL, count_ke, &n), 0);
	assert_int_equal(n, 0);
}

/*
 * mef_reg_ke_add_keep: the enrolee's KeIds past the newest keep go in the
 * transaction that adds the new one, each named; the new
 * one always stays; another enrolee's stay; a callback's error writes
 * nothing, not even the new row.
 */
static void
test_ke_keep(void **state)
{
	struct fx *f = *state;
	struct mef_enrolee e1 = enrolee("kpm1", "x"), e2 = enrolee("kpm2", "y");
	struct mef_ke k, g;
	char out[64] = "", id[16];
	int i, n;

	assert_int_equal(mef_reg_enrolee_add(f->reg, &e1), 0);
	assert_int_equal(mef_reg_enrolee_add(f->reg, &e2), 0);
	k = ke("b0@mef", "kpm2");
	assert_int_equal(mef_reg_ke_add(f->reg, &k), 0);
	/* ids that sort against their age: the order is the inserts' */
	for (i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "a%d@mef", 9 - i);
		k = ke(id, "kpm1");
		assert_int_equal(mef_reg_ke_add_keep(f->reg, &k, 2, keid_join,
		    out), 0);
	}
	assert_string_equal(out, "a9@mef,a8@mef,a7@mef,");
	n = 0;
	assert_int_equal(mef_reg_ke_list(f->reg, "kpm1", count_ke, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(mef_reg_ke_get(f->reg, "a6@mef", &g), 0);
	assert_int_equal(mef_reg_ke_get(f->reg, "a5@mef", &g), 0);
	assert_int_equal(mef_reg_ke_get(f->reg, "a7@mef", &g),
	    MEF_ERR_NOTFOUND);
	assert_int_equal(mef_reg_ke_get(f->reg, "b0@mef", &g), 0);
	/* a callback's error: neither the delete nor the new row */
	k = ke("a4@mef", "kpm1");
	assert_int_equal(mef_reg_ke_add_keep(f->reg, &k, 2, keid_fail, NULL),
	    MEF_ERR_NOMEM);
	assert_int_equal(mef_reg_ke_get(f->reg, "a4@mef", &g),
	    MEF_ERR_NOTFOUND);
	assert_int_equal(count(f, "kes"), 3);
	/* keep 1 after 2 (the setting lowered): both older ones go */
	out[0] = '\0';
	assert_int_equal(mef_reg_ke_add_keep(f->reg, &k, 1, keid_join, out),
	    0);
	assert_string_equal(out, "a5@mef,a6@mef,");
	assert_int_equal(mef_reg_ke_get(f->reg, "a4@mef", &g), 0);
	/* a known KeId: refused, the others untouched */
	out[0] = '\0';
	assert_int_equal(mef_reg_ke_add_keep(f->reg, &k, 1, keid_join, out),
	    MEF_ERR_EXISTS);
	assert_string_equal(out, "");
	assert_int_equal(count(f, "kes"), 2);
	/* keep 0: nothing deleted */
	k = ke("a3@mef", "kpm1");
	assert_int_equal(mef_reg_ke_add_keep(f->reg, &k, 0, keid_join, out),
	    0);
	assert_string_equal(out, "");
	assert_int_equal(count(f, "kes"), 3);
}

/*
 * fetchCredentials' lookup: the target flag and the KeId in one statement;
 * and the kept statement reads no old snapshot: a KeId and a target added
 * through another connection after its first use are seen at the next.
 */
static void
test_fetch_get(void **state)
{
	struct fx *f = *state;
	struct mef_enrolee e = enrolee("kpm1", "x");
	struct mef_ke k = ke("00@mef", "kpm1"), g;
	struct mef_registry *r2 = NULL;
	int t = -1;

	assert_int_equal(mef_reg_enrolee_add(f->reg, &e), 0);
	assert_int_equal(mef_reg_fetch_get(f->reg, "gw1", "00@mef", &t, &g),
	    MEF_ERR_NOTFOUND);
	assert_int_equal(t, 0);
	assert_int_equal(mef_reg_open(f->path, &r2), 0);
	assert_int_equal(mef_reg_target_add(r2, "gw1"), 0);
	assert_int_equal(mef_reg_ke_add(r2, &k), 0);
	memset(&g, 0, sizeof(g));
	assert_int_equal(mef_reg_fetch_get(f->reg, "gw1", "00@mef", &t, &g),
	    0);
	assert_int_equal(t, 1);
	assert_string_equal(g.ke_id, "00@mef");
	assert_string_equal(g.kpm_id, "kpm1");
	assert_string_equal(g.enrolee_id, "/in-cse/CAE01");
	assert_int_equal(g.targets.n, 1);
	assert_string_equal(g.targets.id[0], "gw1");
	assert_int_equal(g.expires, 1826841600);
	/* a KeId, but not a target; a target, but an unknown KeId */
	assert_int_equal(mef_reg_fetch_get(f->reg, "kpm1", "00@mef", &t, &g),
	    0);
	assert_int_equal(t, 0);
	assert_int_equal(mef_reg_fetch_get(f->reg, "gw1", "01@mef", &t, &g),
	    MEF_ERR_NOTFOUND);
	assert_int_equal(t, 1);
	/* removed elsewhere: gone here too */
	assert_int_equal(mef_reg_ke_remove(r2, "00@mef"), 0);
	assert_int_equal(mef_reg_fetch_get(f->reg, "gw1", "00@mef", &t, &g),
	    MEF_ERR_NOTFOUND);
	assert_int_equal(mef_reg_fetch_get(f->reg, NULL, "00@mef", &t, &g),
	    MEF_ERR_INVALID);
	mef_reg_close(r2);
}

static void
test_reopen(void **state)
{
	struct fx *f = *state;
	struct mef_enrolee e = enrolee("kpm1", "x"), g;

	assert_int_equal(mef_reg_enrolee_add(f->reg, &e), 0);
	mef_reg_close(f->reg);
	f->reg = NULL;
	assert_int_equal(mef_reg_open(f->path, &f->reg), 0);
	assert_int_equal(mef_reg_enrolee_get(f->reg, "kpm1", &g), 0);
}

static void
test_version(void **state)
{
	struct fx *f = *state;
	struct mef_registry *r2 = (void *)1;
	sqlite3 *db;

	mef_reg_close(f->reg);
	f->reg = NULL;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE schema_version SET "
	    "version = 3", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(mef_reg_open(f->path, &r2), MEF_ERR_VERSION);
	assert_ptr_equal(r2, (void *)1);	/* not written on failure */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "INSERT INTO schema_version "
	    "VALUES (2)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(mef_reg_open(f->path, &r2), MEF_ERR_VERSION);
	assert_int_equal(mef_reg_schema_version(), 2);
}

/* A certificate enrolee keeps its flag; a version 1 file is upgraded. */
static void
test_cert_enrolee(void **state)
{
	struct fx *f = *state;
	struct mef_enrolee e = enrolee("dev7.example.com", "CAE07"), g;
	sqlite3 *db;

	e.cert = 1;
	assert_int_equal(mef_reg_enrolee_add(f->reg, &e), 0);
	e = enrolee("kpm1", "CAE01");
	assert_int_equal(mef_reg_enrolee_add(f->reg, &e), 0);
	assert_int_equal(mef_reg_enrolee_get(f->reg, "dev7.example.com", &g),
	    0);
	assert_int_equal(g.cert, 1);
	assert_int_equal(mef_reg_enrolee_get(f->reg, "kpm1", &g), 0);
	assert_int_equal(g.cert, 0);
	/* one namespace: a certificate ID equal to a KpmId is refused */
	e.cert = 1;
	assert_int_equal(mef_reg_enrolee_add(f->reg, &e), MEF_ERR_EXISTS);
	/* back to a version 1 file: the column goes, the open restores it */
	mef_reg_close(f->reg);
	f->reg = NULL;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "ALTER TABLE enrolees DROP COLUMN "
	    "cert; UPDATE schema_version SET version = 1", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(mef_reg_open(f->path, &f->reg), 0);
	assert_int_equal(mef_reg_enrolee_get(f->reg, "dev7.example.com", &g),
	    0);
	assert_int_equal(g.cert, 0);
	assert_int_equal(mef_reg_enrolee_get(f->reg, "kpm1", &g), 0);
	assert_int_equal(g.enrolee_id[3], '0');
}

static void
test_not_a_database(void **state)
{
	struct fx *f = *state;
	struct mef_registry *r2 = NULL;
	char p[160];
	FILE *fp;

	snprintf(p, sizeof(p), "%s/junk.db", f->dir);
	assert_non_null(fp = fopen(p, "w"));
	fputs("this is not an SQLite database, not at all, no", fp);
	fclose(fp);
	assert_int_equal(mef_reg_open(p, &r2), MEF_ERR_REGISTRY);
	assert_null(r2);
	snprintf(p, sizeof(p), "%s/no/such/dir/r.db", f->dir);
	assert_int_equal(mef_reg_open(p, &r2), MEF_ERR_REGISTRY);
}

static void
test_tampered_row(void **state)
{
	struct fx *f = *state;
	struct mef_enrolee e = enrolee("kpm1", "x"), g;
	sqlite3 *db;

	assert_int_equal(mef_reg_enrolee_add(f->reg, &e), 0);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE enrolees SET targets = "
	    "'a' || char(10) || char(10) || 'b'", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(mef_reg_enrolee_get(f->reg, "kpm1", &g),
	    MEF_ERR_REGISTRY);
}

static void
test_locked(void **state)
{
	struct fx *f = *state;
	struct mef_enrolee e = enrolee("kpm1", "x");
	sqlite3 *db;

	/* a writer that holds the lock past the busy timeout */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL,
	    NULL), SQLITE_OK);
	assert_int_equal(mef_reg_enrolee_add(f->reg, &e), MEF_ERR_REGISTRY);
	assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(count(f, "enrolees"), 0);
	assert_int_equal(mef_reg_enrolee_add(f->reg, &e), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_enrolee, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enrolee_invalid, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_enrolee_list, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_target, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ke, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ke_keep, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fetch_get, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cert_enrolee, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_not_a_database, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tampered_row, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_locked, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
