/*
 * bench_find: latency of one lookup by label, C_FindObjectsInit({CKA_CLASS,
 * CKA_LABEL}) + C_FindObjects + C_FindObjectsFinal, with 1,000, 100,000 and
 * 1,000,000 key objects in the m2mtoken store (--quick: 1,000, 10,000 and
 * 100,000), and the same lookup on SoftHSM2 directly with a few hundred
 * token objects for comparison.  Prints markdown table rows on stdout and
 * progress on stderr; asserts nothing about time.
 *
 * How the store is filled (this measures lookup, not creation):
 *  - the first 1,000 keys are created through the module with
 *    C_CreateObject (token objects, role KE2E_MSG_AUTH, labels
 *    bench-key-0000000, bench-key-0000001, ...), and their rate is printed;
 *  - for the larger sizes the module is finalised, and the row of key 0 is
 *    cloned with the SQLite API (one INSERT ... SELECT over a recursive
 *    CTE), each clone with its own label: the label and ckid columns and
 *    the label/ID bytes inside the encoded attribute list are rewritten
 *    (every label has the same length, so the encoding stays valid).  The
 *    clones share key 0's wrapped blob and binding MAC, which does not
 *    verify for them (the MAC binds a row's id and attributes, and only
 *    the backend can make one): they only fill the store and its indexes,
 *    and are never read.  Then the module is initialised again and logs in.
 * The lookups are of the keys made through the module, chosen at random;
 * every lookup checks that exactly one object came back.
 *
 * Usage: bench_find [--quick]
 * The store file is the [store] path of $M2MTOKEN_CONF.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "bench.h"

#define LABEL_FMT	"bench-key-%07lu"
#define LABEL_LEN	17
#define VIA_MODULE	1000UL		/* created with C_CreateObject */
#define SOFTHSM_OBJECTS	300UL

struct lookup_stats {
	double	median, p99;
	size_t	n;
};

/* "bench-key-%07lu" into buf[LABEL_LEN + 1]; i < 10,000,000 */
static void
label_of(unsigned long i, char *buf)
{
	char tmp[32];

	snprintf(tmp, sizeof(tmp), LABEL_FMT, i % 10000000UL);
	memcpy(buf, tmp, LABEL_LEN + 1);
}

/* The [store] path of the configuration file at conf. */
static char *
store_path(const char *conf)
{
	char line[1024], *p, *e, *ret = NULL;
	FILE *fp;
	int in_store = 0;

	if (conf == NULL || (fp = fopen(conf, "r")) == NULL)
		bench_die("cannot read M2MTOKEN_CONF (%s)", conf ? conf : "unset");
	while (ret == NULL && fgets(line, sizeof(line), fp) != NULL) {
		for (p = line; *p == ' ' || *p == '\t'; p++)
			;
		if (*p == '[') {
			in_store = strncmp(p, "[store]", 7) == 0;
			continue;
		}
		if (!in_store || strncmp(p, "path", 4) != 0)
			continue;
		if ((p = strchr(p, '=')) == NULL)
			continue;
		for (p++; *p == ' ' || *p == '\t'; p++)
			;
		for (e = p; *e != '\0' && *e != '\n' && *e != ';' &&
		    *e != '#'; e++)
			;
		while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if ((ret = strndup(p, (size_t)(e - p))) == NULL)
			bench_die("out of memory");
	}
	fclose(fp);
	if (ret == NULL)
		bench_die("%s: no [store] path", conf);
	return ret;
}

/* One lookup by label; returns seconds; dies unless exactly one match. */
static double
lookup(struct bench_mod *m, CK_SESSION_HANDLE s, const char *label)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_OBJECT_HANDLE h[16];
	CK_ULONG n = 0;
	double t0, t1;

	t0 = bench_now();
	bench_ck(m->f->C_FindObjectsInit(s, t, 2), "C_FindObjectsInit");
	bench_ck(m->f->C_FindObjects(s, h, 16, &n), "C_FindObjects");
	bench_ck(m->f->C_FindObjectsFinal(s), "C_FindObjectsFinal");
	t1 = bench_now();
	if (n != 1)
		bench_die("%s: %lu objects found, want 1", label,
		    (unsigned long)n);
	return t1 - t0;
}

/*
 * count random lookups among labels [0, size), but only of keys made
 * through the module (labels below VIA_MODULE: clones are never read),
 * after a warm-up.
 */
static void
measure(struct bench_mod *m, CK_SESSION_HANDLE s, unsigned long size,
    size_t count, struct lookup_stats *ret)
{
	char label[LABEL_LEN + 1];
	double *v;
	size_t i;

	if ((v = calloc(count, sizeof(*v))) == NULL)
		bench_die("out of memory");
	if (size > VIA_MODULE)
		size = VIA_MODULE;
	for (i = 0; i < count / 4 + 10; i++) {
		label_of((unsigned long)random() % size, label);
		(void)lookup(m, s, label);
	}
	for (i = 0; i < count; i++) {
		label_of((unsigned long)random() % size, label);
		v[i] = lookup(m, s, label);
	}
	ret->median = bench_median(v, count);	/* sorts v */
	ret->p99 = bench_percentile(v, count, 99);
	ret->n = count;
	free(v);
}

static void
exec_sql(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		bench_die("sqlite: %s: %s", sql, err ? err : "?");
}

/* Clone the row of label 0 as labels [from, to) (module finalised). */
static void
clone_rows(const char *path, unsigned long from, unsigned long to)
{
	static const char sql[] =
	    "WITH RECURSIVE c(n) AS (SELECT ?1 UNION ALL "
	    "  SELECT n + 1 FROM c WHERE n + 1 < ?2) "
	    "INSERT INTO objects(token_id, cls, key_type, role, label, ckid, "
	    "  attrs, blob, aux, origin, base_id, base_digest, mac) "
	    "SELECT o.token_id, o.cls, o.key_type, o.role, "
	    "  CAST(printf('bench-key-%07d', c.n) AS BLOB), "
	    "  CAST(printf('bench-key-%07d', c.n) AS BLOB), "
	    "  CAST(replace(o.attrs, ?3, printf('bench-key-%07d', c.n)) "
	    "    AS BLOB), "
	    "  o.blob, o.aux, o.origin, o.base_id, o.base_digest, o.mac "
	    "FROM objects AS o, c WHERE o.id = "
	    "  (SELECT max(id) FROM objects WHERE label = CAST(?3 AS BLOB))";
	char seed[LABEL_LEN + 1];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	label_of(0, seed);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK)
		bench_die("sqlite: cannot open %s: %s", path,
		    db ? sqlite3_errmsg(db) : "?");
	exec_sql(db, "PRAGMA busy_timeout = 10000");
	exec_sql(db, "BEGIN IMMEDIATE");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 1, (sqlite3_int64)from) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, (sqlite3_int64)to) != SQLITE_OK ||
	    sqlite3_bind_text(st, 3, seed, LABEL_LEN, SQLITE_STATIC) !=
	    SQLITE_OK)
		bench_die("sqlite: prepare: %s", sqlite3_errmsg(db));
	if (sqlite3_step(st) != SQLITE_DONE)
		bench_die("sqlite: clone: %s", sqlite3_errmsg(db));
	if ((unsigned long)sqlite3_changes(db) != to - from)
		bench_die("sqlite: cloned %d rows, want %lu",
		    sqlite3_changes(db), to - from);
	sqlite3_finalize(st);
	exec_sql(db, "COMMIT");
	exec_sql(db, "PRAGMA wal_checkpoint(TRUNCATE)");
	sqlite3_close(db);
}

static void
row(const char *who, unsigned long objects, const struct lookup_stats *st,
    int m2m)
{
	char c[32], cell[64];

	snprintf(cell, sizeof(cell), "%.3f (p99 %.3f)", st->median * 1e3,
	    st->p99 * 1e3);
	printf("| find by label, %s objects, %s (ms, median of %zu) | %s | %s "
	    "| | %s |\n", bench_count((double)objects, c, sizeof(c)), who,
	    st->n, m2m ? cell : "", m2m ? "" : cell,
	    !m2m ? "comparison" : objects < 1000000UL ?
	    "flat, < 1 ms at 1,000,000" : st->median < 1e-3 ?
	    "< 1 ms: met" : "< 1 ms: MISSED");
	fflush(stdout);
}

static void
softhsm_baseline(size_t count)
{
	const char *sh = getenv("BENCH_SOFTHSM_MODULE");
	struct bench_mod hsm;
	struct lookup_stats st;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE *h;
	CK_BYTE value[32];
	char label[LABEL_LEN + 1];
	unsigned long i;

	if (sh == NULL || *sh == '\0')
		sh = "/usr/lib/softhsm/libsofthsm2.so";
	if ((h = calloc(SOFTHSM_OBJECTS, sizeof(*h))) == NULL)
		bench_die("out of memory");
	bench_load(sh, &hsm);
	bench_softhsm_session(&hsm, &s);
	bench_random(value, sizeof(value));
	for (i = 0; i < SOFTHSM_OBJECTS; i++) {
		label_of(i, label);
		bench_ck(bench_secret(&hsm, s, CKK_GENERIC_SECRET, 0, 1,
		    label, value, sizeof(value), &h[i]),
		    "SoftHSM2 C_CreateObject");
	}
	measure(&hsm, s, SOFTHSM_OBJECTS, count, &st);
	fprintf(stderr, "  SoftHSM2, %lu token objects: median %.3f ms\n",
	    SOFTHSM_OBJECTS, st.median * 1e3);
	row("SoftHSM2 directly (token objects)", SOFTHSM_OBJECTS, &st, 0);
	for (i = 0; i < SOFTHSM_OBJECTS; i++)
		(void)hsm.f->C_DestroyObject(s, h[i]);
	(void)hsm.f->C_CloseSession(s);
	bench_unload(&hsm);
	free(h);
}

int
main(int argc, char **argv)
{
	static const unsigned long full[] = { 1000, 100000, 1000000 };
	static const unsigned long quick[] = { 1000, 10000, 100000 };
	const unsigned long *sizes;
	struct bench_mod m2m;
	struct lookup_stats st;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE h;
	CK_SLOT_ID slot;
	CK_BYTE value[32];
	char label[LABEL_LEN + 1], c[32], c2[32], *path;
	unsigned long have, i;
	size_t count, k;
	double t0, t;
	int q;

	q = bench_quick_arg(argc, argv);
	sizes = q ? quick : full;
	count = q ? 300 : 2000;
	path = store_path(getenv("M2MTOKEN_CONF"));
	srandom(1);

	bench_load(getenv("M2MTOKEN_MODULE"), &m2m);
	bench_m2m_token(&m2m, "bench-find", &slot, &s);
	bench_random(value, sizeof(value));
	t0 = bench_now();
	for (i = 0; i < VIA_MODULE; i++) {
		label_of(i, label);
		bench_ck(bench_secret(&m2m, s, CKK_GENERIC_SECRET,
		    CK_M2M_ROLE_KE2E_MSG_AUTH, 1, label, value, sizeof(value),
		    &h), "m2mtoken C_CreateObject");
	}
	t = bench_now() - t0;
	fprintf(stderr, "bench_find: %lu keys created through the module in "
	    "%.1f s\n", VIA_MODULE, t);
	printf("| C_CreateObject of a token key (keys/s, %s keys) | %s | | | "
	    "none (informative) |\n", bench_count((double)VIA_MODULE, c,
	    sizeof(c)), bench_count((double)VIA_MODULE / t, c2, sizeof(c2)));
	have = VIA_MODULE;
	for (k = 0; k < 3; k++) {
		if (sizes[k] > have) {
			(void)m2m.f->C_CloseSession(s);
			bench_unload(&m2m);
			t0 = bench_now();
			clone_rows(path, have, sizes[k]);
			fprintf(stderr, "  cloned %lu rows in %.1f s\n",
			    sizes[k] - have, bench_now() - t0);
			have = sizes[k];
			bench_load(getenv("M2MTOKEN_MODULE"), &m2m);
			bench_m2m_login(&m2m, slot, &s);
		}
		measure(&m2m, s, have, count, &st);
		fprintf(stderr, "  m2mtoken, %lu objects: median %.3f ms, p99 "
		    "%.3f ms\n", have, st.median * 1e3, st.p99 * 1e3);
		row("m2mtoken", have, &st, 1);
	}
	(void)m2m.f->C_CloseSession(s);
	bench_unload(&m2m);
	free(path);

	softhsm_baseline(q ? 100 : 300);
	return 0;
}
