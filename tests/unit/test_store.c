/*
 * test_store.c — unit tests for common/store.c against real SQLite databases: file databases in
 * a fresh mkdtemp directory per test, plus the process-wide in-memory database. Covers
 * migrations (fresh, upgrade of an older database, refusal of a newer one, rollback of a failed
 * step), the meta table, transactions, constraint errors, the statement wrappers, WAL mode, and
 * durability of a committed transaction across kill -9.
 *
 * The in-memory database lives while any connection to it is open, so every test that opens one
 * closes all of its in-memory connections before returning.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/store.h"

struct fixture {
    char dir[64];
    char path[128];
    struct store_location loc;
    struct store *s; /* closed by the teardown, so a failed assertion does not leak it */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/azsim-test-store-XXXXXX");
    if (!mkdtemp(f->dir)) {
        perror("mkdtemp");
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/azsim.db", f->dir);
    f->loc.path = f->path;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(f->s);
    /* The database, its -wal and -shm files. */
    DIR *d = opendir(f->dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char p[512];
            snprintf(p, sizeof(p), "%s/%s", f->dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static struct store *open_file(struct fixture *f)
{
    struct store *s = NULL;
    assert_int_equal(store_open(&f->loc, &s), 0);
    assert_non_null(s);
    return s;
}

/* Run a query returning one integer. */
static int64_t query_int(struct store *s, const char *sql)
{
    struct store_stmt *st = NULL;
    assert_int_equal(store_prepare(s, sql, &st), 0);
    int rc = store_step(st);
    int64_t v = rc == 1 ? store_column_int64(st, 0) : -999;
    store_finalize(st);
    if (rc != 1)
        fail_msg("%s: no row (step returned %d)", sql, rc);
    return v;
}

/* query_int without assertions, for tests that must close connections before asserting;
 * INT64_MIN when the query fails. */
static int64_t probe_int(struct store *s, const char *sql)
{
    struct store_stmt *st = NULL;
    if (store_prepare(s, sql, &st) != 0)
        return INT64_MIN;
    int64_t v = store_step(st) == 1 ? store_column_int64(st, 0) : INT64_MIN;
    store_finalize(st);
    return v;
}

static bool table_exists(struct store *s, const char *name)
{
    struct store_stmt *st = NULL;
    assert_int_equal(store_prepare(s,
                                   "SELECT 1 FROM sqlite_master WHERE type = 'table' "
                                   "AND name = ?1",
                                   &st),
                     0);
    assert_int_equal(store_bind_text(st, 1, name), 0);
    bool found = store_step(st) == 1;
    store_finalize(st);
    return found;
}

/* A three-step schema of its own, so the upgrade tests do not depend on azsim's. */
static const struct store_migration widget_schema[] = {
    {"widgets", "CREATE TABLE widgets (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"},
    {"widget colour", "ALTER TABLE widgets ADD COLUMN colour TEXT NOT NULL DEFAULT 'blue';"},
    {"gadgets", "CREATE TABLE gadgets ("
                "  id INTEGER PRIMARY KEY,"
                "  widget_id INTEGER NOT NULL REFERENCES widgets(id));"
                "CREATE INDEX gadgets_by_widget ON gadgets(widget_id);"},
};

/* ---- open, schema and meta ------------------------------------------------------------------ */

static void test_open_close(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_file(f);
    struct stat sb;
    assert_int_equal(stat(f->path, &sb), 0);
    /* A fresh database is at version 0. */
    assert_int_equal(store_schema_version(s), 0);
    store_close(s);
    store_close(NULL);
}

static void test_open_failure(void **state)
{
    struct fixture *f = *state;
    char bad[160];
    snprintf(bad, sizeof(bad), "%s/no/such/dir/azsim.db", f->dir);
    struct store *s = (struct store *)&bad; /* must be reset to NULL */
    assert_int_equal(store_open(&(struct store_location){.path = bad}, &s), AZ_ESTORE);
    assert_null(s);
}

static void test_migrate_schema(void **state)
{
    struct fixture *f = *state;
    f->s = open_file(f);
    assert_true(store_schema_len >= 1);
    assert_int_equal(store_migrate(f->s, store_schema, store_schema_len), 0);
    assert_int_equal(store_schema_version(f->s), store_schema_len);
    assert_true(table_exists(f->s, "meta"));
    /* Migrating an up-to-date database changes nothing. */
    assert_int_equal(store_migrate(f->s, store_schema, store_schema_len), 0);
    assert_int_equal(store_schema_version(f->s), store_schema_len);
}

/* A blob row from before content could live in the row keeps its file through the migration
 * that rebuilds the table; afterwards a row names its content exactly once, file or inline. */
static void test_blob_inline_migration(void **state)
{
    struct fixture *f = *state;
    f->s = open_file(f);
    size_t step = store_schema_len;
    for (size_t i = 0; i < store_schema_len; i++) {
        if (strcmp(store_schema[i].name, "blob inline content") == 0)
            step = i;
    }
    assert_true(step < store_schema_len);
    assert_int_equal(store_migrate(f->s, store_schema, step), 0);
    assert_int_equal(store_exec(f->s,
                                "INSERT INTO blobs(account, container, name, file, size, md5, "
                                "etag, created, modified, lease_id, lease_duration) "
                                "VALUES('acct', 'c', 'old.txt', 'f-1', 3, 'm', 'e', 1, 2, "
                                "'lease', -1)"),
                     0);
    assert_int_equal(store_migrate(f->s, store_schema, store_schema_len), 0);

    struct store_stmt *st = NULL;
    assert_int_equal(store_prepare(f->s,
                                   "SELECT file, content IS NULL, size, md5, lease_id, "
                                   "lease_duration, modified FROM blobs WHERE name = 'old.txt'",
                                   &st),
                     0);
    assert_int_equal(store_step(st), 1);
    assert_string_equal(store_column_text(st, 0), "f-1");
    assert_int_equal(store_column_int64(st, 1), 1);
    assert_int_equal(store_column_int64(st, 2), 3);
    assert_string_equal(store_column_text(st, 3), "m");
    assert_string_equal(store_column_text(st, 4), "lease");
    assert_int_equal(store_column_int64(st, 5), -1);
    assert_int_equal(store_column_int64(st, 6), 2);
    store_finalize(st);
    /* The sweep of unnamed files at the start still finds rows by file. */
    assert_int_equal(store_prepare(f->s,
                                   "SELECT 1 FROM sqlite_master WHERE type = 'index' AND "
                                   "name = 'blobs_by_file' AND tbl_name = 'blobs'",
                                   &st),
                     0);
    assert_int_equal(store_step(st), 1);
    store_finalize(st);

    static const char insert[] = "INSERT INTO blobs(account, container, name, file, content, size, "
                                 "md5, etag, created, modified) VALUES('acct', 'c', ?1, ?2, ?3, "
                                 "3, 'm', 'e', 1, 1)";
    assert_int_equal(store_run(f->s, insert, "ssb", "new.txt", NULL, "abc", (size_t)3), 0);
    assert_int_equal(store_run(f->s, insert, "ssb", "empty.txt", NULL, "", (size_t)0), 0);
    assert_int_equal(store_run(f->s, insert, "ssb", "neither.txt", NULL, NULL, (size_t)0),
                     AZ_EEXIST);
    assert_int_equal(store_run(f->s, insert, "ssb", "both.txt", "f-2", "abc", (size_t)3),
                     AZ_EEXIST);
}

static void test_meta(void **state)
{
    struct fixture *f = *state;
    f->s = open_file(f);
    assert_int_equal(store_migrate(f->s, store_schema, store_schema_len), 0);

    char *v = (char *)"sentinel";
    assert_int_equal(store_meta_get(f->s, "instance-id", &v), AZ_ENOTFOUND);
    assert_null(v);

    assert_int_equal(store_meta_set(f->s, "instance-id", "one"), 0);
    assert_int_equal(store_meta_get(f->s, "instance-id", &v), 0);
    assert_string_equal(v, "one");
    free(v);

    /* Setting again overwrites in place. */
    assert_int_equal(store_meta_set(f->s, "instance-id", "two 'quoted' \xc3\xa9"), 0);
    assert_int_equal(store_meta_get(f->s, "instance-id", &v), 0);
    assert_string_equal(v, "two 'quoted' \xc3\xa9");
    free(v);
    assert_int_equal(query_int(f->s, "SELECT count(*) FROM meta"), 1);

    /* Keys are exact. */
    assert_int_equal(store_meta_get(f->s, "INSTANCE-ID", &v), AZ_ENOTFOUND);

    /* And the value is on disk. */
    store_close(f->s);
    f->s = open_file(f);
    assert_int_equal(store_meta_get(f->s, "instance-id", &v), 0);
    assert_string_equal(v, "two 'quoted' \xc3\xa9");
    free(v);
}

static void test_meta_without_schema(void **state)
{
    struct fixture *f = *state;
    f->s = open_file(f);
    char *v = NULL;
    assert_int_equal(store_meta_get(f->s, "k", &v), AZ_ESTORE);
    assert_null(v);
    assert_int_equal(store_meta_set(f->s, "k", "v"), AZ_ESTORE);
}

/* ---- migrations ----------------------------------------------------------------------------- */

/* Create a database with the first `steps` widget migrations and two widgets in it. */
static void make_old_database(struct fixture *f, size_t steps)
{
    struct store *s = open_file(f);
    assert_int_equal(store_migrate(s, widget_schema, steps), 0);
    assert_int_equal(store_schema_version(s), steps);
    assert_int_equal(store_exec(s, "INSERT INTO widgets(name) VALUES('alpha'), ('beta')"), 0);
    store_close(s);
}

static void upgrade_from(struct fixture *f, size_t steps)
{
    make_old_database(f, steps);

    f->s = open_file(f);
    assert_int_equal(store_schema_version(f->s), steps);
    assert_int_equal(store_migrate(f->s, widget_schema, 3), 0);
    assert_int_equal(store_schema_version(f->s), 3);

    /* Old rows survive, and gain the new column's default. */
    assert_int_equal(query_int(f->s, "SELECT count(*) FROM widgets"), 2);
    assert_int_equal(query_int(f->s, "SELECT count(*) FROM widgets WHERE colour = 'blue'"), 2);
    assert_true(table_exists(f->s, "gadgets"));
    assert_int_equal(query_int(f->s, "SELECT count(*) FROM sqlite_master "
                                     "WHERE type = 'index' AND name = 'gadgets_by_widget'"),
                     1);
    assert_int_equal(store_exec(f->s, "INSERT INTO gadgets(widget_id) "
                                      "SELECT id FROM widgets WHERE name = 'beta'"),
                     0);
    assert_int_equal(query_int(f->s, "SELECT count(*) FROM gadgets"), 1);
}

static void test_upgrade_from_version_1(void **state)
{
    upgrade_from(*state, 1);
}

static void test_upgrade_from_version_2(void **state)
{
    upgrade_from(*state, 2);
}

static void test_newer_database_refused(void **state)
{
    struct fixture *f = *state;
    make_old_database(f, 3);

    f->s = open_file(f);
    /* A version past both lists this test knows, however long azsim's own schema grows. */
    int newer = (int)store_schema_len + 1;
    char pragma[48];
    snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%d", newer);
    assert_int_equal(store_exec(f->s, pragma), 0);
    assert_int_equal(store_migrate(f->s, widget_schema, 2), AZ_EVERSION);
    assert_int_equal(store_migrate(f->s, store_schema, store_schema_len), AZ_EVERSION);
    /* Refused means untouched. */
    assert_int_equal(store_schema_version(f->s), newer);
    assert_int_equal(query_int(f->s, "SELECT count(*) FROM widgets"), 2);
    assert_false(table_exists(f->s, "meta"));
}

static void test_failed_migration_rolls_back(void **state)
{
    struct fixture *f = *state;
    /* Step 2 creates a table and then fails: the table must go with the failure. */
    static const struct store_migration broken[] = {
        {"widgets", "CREATE TABLE widgets (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"},
        {"broken", "CREATE TABLE half_done (x INTEGER);"
                   "INSERT INTO widgets(name) VALUES('ghost');"
                   "INSERT INTO no_such_table VALUES(1);"},
        {"never", "CREATE TABLE never_reached (x INTEGER);"},
    };
    f->s = open_file(f);
    assert_int_equal(store_migrate(f->s, broken, 3), AZ_ESTORE);
    assert_int_equal(store_schema_version(f->s), 1);
    assert_true(table_exists(f->s, "widgets"));
    assert_false(table_exists(f->s, "half_done"));
    assert_false(table_exists(f->s, "never_reached"));
    assert_int_equal(query_int(f->s, "SELECT count(*) FROM widgets"), 0);

    /* The connection is not left inside a transaction: a fixed list migrates it. */
    assert_int_equal(store_migrate(f->s, widget_schema, 3), 0);
    assert_int_equal(store_schema_version(f->s), 3);

    /* And the failure did not leave the version changed on disk either. */
    store_close(f->s);
    f->s = open_file(f);
    assert_int_equal(store_schema_version(f->s), 3);
}

/* ---- transactions and constraints ----------------------------------------------------------- */

static void test_transactions(void **state)
{
    struct fixture *f = *state;
    f->s = open_file(f);
    assert_int_equal(store_migrate(f->s, widget_schema, 1), 0);

    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(store_exec(f->s, "INSERT INTO widgets(name) VALUES('discarded')"), 0);
    assert_int_equal(query_int(f->s, "SELECT count(*) FROM widgets"), 1);
    store_rollback(f->s);
    assert_int_equal(query_int(f->s, "SELECT count(*) FROM widgets"), 0);

    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(store_exec(f->s, "INSERT INTO widgets(name) VALUES('kept')"), 0);
    assert_int_equal(store_commit(f->s), 0);

    /* Committed data is visible to another connection... */
    struct store *other = open_file(f);
    assert_int_equal(query_int(other, "SELECT count(*) FROM widgets WHERE name = 'kept'"), 1);
    /* ...and uncommitted data is not. */
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(store_exec(f->s, "INSERT INTO widgets(name) VALUES('pending')"), 0);
    int64_t seen = query_int(other, "SELECT count(*) FROM widgets");
    store_rollback(f->s);
    store_close(other);
    assert_int_equal(seen, 1);

    /* Rollback outside a transaction, or of nothing, is harmless; COMMIT without BEGIN fails. */
    store_rollback(f->s);
    store_rollback(NULL);
    assert_int_equal(store_commit(f->s), AZ_ESTORE);
    assert_int_equal(query_int(f->s, "SELECT count(*) FROM widgets"), 1);
}

static void test_constraint_violation(void **state)
{
    struct fixture *f = *state;
    f->s = open_file(f);
    assert_int_equal(store_migrate(f->s, widget_schema, 3), 0);

    struct store_stmt *st = NULL;
    assert_int_equal(store_prepare(f->s, "INSERT INTO widgets(name) VALUES(?1)", &st), 0);
    assert_int_equal(store_bind_text(st, 1, "dup"), 0);
    assert_int_equal(store_step(st), 0);
    store_reset(st);
    assert_int_equal(store_bind_text(st, 1, "dup"), 0);
    assert_int_equal(store_step(st), AZ_EEXIST); /* UNIQUE */
    store_reset(st);
    assert_int_equal(store_bind_text(st, 1, NULL), 0);
    assert_int_equal(store_step(st), AZ_EEXIST); /* NOT NULL */
    store_finalize(st);

    /* Foreign keys are enforced (store_open turns them on). */
    assert_int_equal(store_prepare(f->s, "INSERT INTO gadgets(widget_id) VALUES(12345)", &st), 0);
    int rc = store_step(st);
    store_finalize(st);
    assert_int_equal(rc, AZ_EEXIST);
    assert_int_equal(query_int(f->s, "SELECT count(*) FROM gadgets"), 0);
    assert_int_equal(query_int(f->s, "SELECT count(*) FROM widgets"), 1);
}

/* ---- statements ----------------------------------------------------------------------------- */

static void test_statements(void **state)
{
    struct fixture *f = *state;
    f->s = open_file(f);
    assert_int_equal(
        store_exec(f->s,
                   "CREATE TABLE t (id INTEGER PRIMARY KEY, txt TEXT, data BLOB, n INTEGER);"),
        0);

    static const unsigned char blob[] = {0x00, 0x01, 0xff, 0x00, 0x7f};
    struct store_stmt *ins = NULL;
    assert_int_equal(
        store_prepare(f->s, "INSERT INTO t(id, txt, data, n) VALUES(?1, ?2, ?3, ?4)", &ins), 0);
    assert_int_equal(store_bind_int64(ins, 1, 1), 0);
    assert_int_equal(store_bind_text(ins, 2, "h\xc3\xa9llo"), 0);
    assert_int_equal(store_bind_blob(ins, 3, blob, sizeof(blob)), 0);
    assert_int_equal(store_bind_int64(ins, 4, INT64_MIN), 0);
    assert_int_equal(store_step(ins), 0);
    assert_int_equal(store_changes(f->s), 1);

    /* Reset clears the bindings: unbound parameters are NULL. */
    store_reset(ins);
    assert_int_equal(store_bind_int64(ins, 1, 2), 0);
    assert_int_equal(store_step(ins), 0);

    store_reset(ins);
    assert_int_equal(store_bind_int64(ins, 1, 3), 0);
    assert_int_equal(store_bind_text(ins, 2, NULL), 0);
    assert_int_equal(store_bind_blob(ins, 3, "", 0), 0); /* empty, not NULL */
    assert_int_equal(store_bind_int64(ins, 4, INT64_MAX), 0);
    assert_int_equal(store_step(ins), 0);
    /* An index past the parameters is an error, not a crash. */
    store_reset(ins);
    assert_int_equal(store_bind_int64(ins, 5, 0), AZ_ESTORE);
    store_finalize(ins);

    struct store_stmt *sel = NULL;
    assert_int_equal(
        store_prepare(f->s, "SELECT id, txt, data, n, data IS NULL FROM t ORDER BY id", &sel), 0);
    size_t n = 999;
    assert_int_equal(store_step(sel), 1);
    assert_int_equal(store_column_int64(sel, 0), 1);
    assert_string_equal(store_column_text(sel, 1), "h\xc3\xa9llo");
    const void *p = store_column_blob(sel, 2, &n);
    assert_int_equal(n, sizeof(blob));
    assert_memory_equal(p, blob, sizeof(blob));
    assert_true(store_column_int64(sel, 3) == INT64_MIN);

    assert_int_equal(store_step(sel), 1);
    assert_int_equal(store_column_int64(sel, 0), 2);
    assert_null(store_column_text(sel, 1));
    store_column_blob(sel, 2, &n);
    assert_int_equal(n, 0);
    assert_int_equal(store_column_int64(sel, 4), 1);

    assert_int_equal(store_step(sel), 1);
    assert_int_equal(store_column_int64(sel, 0), 3);
    assert_null(store_column_text(sel, 1));
    n = 999;
    store_column_blob(sel, 2, &n);
    assert_int_equal(n, 0);
    assert_int_equal(store_column_int64(sel, 4), 0);
    assert_true(store_column_int64(sel, 3) == INT64_MAX);

    assert_int_equal(store_step(sel), 0);

    /* Reset rewinds a query. */
    store_reset(sel);
    assert_int_equal(store_step(sel), 1);
    assert_int_equal(store_column_int64(sel, 0), 1);
    store_finalize(sel);
    store_finalize(NULL);

    /* Bad SQL fails to prepare and leaves no statement behind. */
    struct store_stmt *bad = (struct store_stmt *)&n;
    assert_int_equal(store_prepare(f->s, "SELEKT nonsense", &bad), AZ_ESTORE);
    assert_null(bad);
    assert_int_equal(store_exec(f->s, "DROP TABLE missing_table"), AZ_ESTORE);

    /* store_changes counts the rows of the last statement. */
    assert_int_equal(store_exec(f->s, "UPDATE t SET n = 0 WHERE id >= 2"), 0);
    assert_int_equal(store_changes(f->s), 2);
}

/* ---- file database settings ----------------------------------------------------------------- */

static void test_wal_mode(void **state)
{
    struct fixture *f = *state;
    f->s = open_file(f);
    struct store_stmt *st = NULL;
    assert_int_equal(store_prepare(f->s, "PRAGMA journal_mode", &st), 0);
    assert_int_equal(store_step(st), 1);
    assert_string_equal(store_column_text(st, 0), "wal");
    store_finalize(st);
    /* synchronous=NORMAL is 1: a commit reaches the WAL (the OS), not necessarily the disk. */
    assert_int_equal(query_int(f->s, "PRAGMA synchronous"), 1);
    assert_int_equal(query_int(f->s, "PRAGMA foreign_keys"), 1);

    /* A second connection sees WAL too: the mode is a property of the file. */
    store_close(f->s);
    f->s = open_file(f);
    assert_int_equal(store_prepare(f->s, "PRAGMA journal_mode", &st), 0);
    assert_int_equal(store_step(st), 1);
    assert_string_equal(store_column_text(st, 0), "wal");
    store_finalize(st);
}

/* ---- the in-memory database ----------------------------------------------------------------- */

static void test_memory_shared(void **state)
{
    struct store *a = NULL, *b = NULL;
    assert_int_equal(store_open(NULL, &a), 0);
    assert_int_equal(store_open(&(struct store_location){.path = NULL}, &b), 0);

    int rc = store_migrate(a, store_schema, store_schema_len);
    int set = rc == 0 ? store_meta_set(a, "who", "a") : rc;
    /* b did not migrate: it sees a's schema and a's data. */
    int version = store_schema_version(b);
    char *v = NULL;
    int got = store_meta_get(b, "who", &v);
    int64_t fk = probe_int(b, "PRAGMA foreign_keys");
    store_close(a);
    store_close(b);

    assert_int_equal(rc, 0);
    assert_int_equal(set, 0);
    assert_int_equal(version, store_schema_len);
    assert_int_equal(got, 0);
    assert_string_equal(v, "a");
    free(v);
    assert_int_equal(fk, 1);
}

static void test_memory_gone_after_last_close(void **state)
{
    struct store *a = NULL;
    assert_int_equal(store_open(NULL, &a), 0);
    int rc = store_exec(a, "CREATE TABLE scratch (x INTEGER); INSERT INTO scratch VALUES(1);");
    store_close(a);
    assert_int_equal(rc, 0);

    /* With every connection closed the memdb was freed: a new one starts empty. */
    struct store *b = NULL;
    assert_int_equal(store_open(NULL, &b), 0);
    int64_t tables = probe_int(b, "SELECT count(*) FROM sqlite_master WHERE name = 'scratch'");
    int version = store_schema_version(b);
    store_close(b);
    assert_int_equal(tables, 0);
    assert_int_equal(version, 0);
}

/* ---- the memo ------------------------------------------------------------------------------- */

/* `a` remembers a value; the memo keeps it until a write on `a`, or a commit on `b`, or by another
 * process, changes the database. */
static void check_memo(struct store *a, struct store *b, const char *path)
{
    assert_int_equal(store_exec(a, "CREATE TABLE IF NOT EXISTS memo_t (x INTEGER)"), 0);
    size_t len = 0;
    assert_null(store_memo_get(a, "k", &len));
    store_memo_put(a, "k", "v1", 2);
    const char *v = store_memo_get(a, "k", &len);
    assert_non_null(v);
    assert_int_equal(len, 2);
    assert_string_equal(v, "v1"); /* NUL-terminated */
    assert_null(store_memo_get(a, "other", NULL));
    /* Reading changes nothing. */
    assert_int_equal(query_int(b, "SELECT count(*) FROM memo_t"), 0);
    assert_non_null(store_memo_get(a, "k", NULL));

    /* Another connection commits. */
    assert_int_equal(store_exec(b, "INSERT INTO memo_t VALUES(1)"), 0);
    assert_null(store_memo_get(a, "k", NULL));

    /* This connection writes (no other connection involved). */
    store_memo_put(a, "k", "v2", 2);
    assert_non_null(store_memo_get(a, "k", NULL));
    assert_int_equal(store_exec(a, "INSERT INTO memo_t VALUES(2)"), 0);
    assert_null(store_memo_get(a, "k", NULL));

    if (!path)
        return;
    /* Another process commits. */
    store_memo_put(a, "k", "v3", 2);
    assert_non_null(store_memo_get(a, "k", NULL));
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct store *c = NULL;
        _exit(store_open(&(struct store_location){.path = path}, &c) == 0 &&
                      store_exec(c, "INSERT INTO memo_t VALUES(3)") == 0
                  ? 0
                  : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_null(store_memo_get(a, "k", NULL));
}

static void test_memo_file(void **state)
{
    struct fixture *f = *state;
    f->s = open_file(f);
    struct store *b = open_file(f);
    check_memo(f->s, b, f->path);
    store_close(b);
}

static void test_memo_memory(void **state)
{
    (void)state;
    struct store *a = NULL, *b = NULL;
    assert_int_equal(store_open(NULL, &a), 0);
    assert_int_equal(store_open(NULL, &b), 0);
    check_memo(a, b, NULL);
    store_close(a);
    store_close(b);
}

/* ---- durability ----------------------------------------------------------------------------- */

static void test_commit_survives_kill_9(void **state)
{
    struct fixture *f = *state;
    /* The parent creates the schema, so the child's commit is a plain data write. */
    f->s = open_file(f);
    assert_int_equal(store_migrate(f->s, widget_schema, 1), 0);
    store_close(f->s);
    f->s = NULL;

    fflush(NULL); /* nothing buffered may be written twice */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* The child: no cmocka here, just exit codes. Dying by SIGKILL means success. */
        struct store *s = NULL;
        if (store_open(&f->loc, &s) != 0)
            _exit(2);
        if (store_begin(s) != 0 ||
            store_exec(s, "INSERT INTO widgets(name) VALUES('survivor')") != 0 ||
            store_commit(s) != 0)
            _exit(3);
        raise(SIGKILL);
        _exit(4);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        fail_msg("child did not die by SIGKILL (status 0x%x)", status);

    /* The child never closed, so nothing was checkpointed: the row is in the WAL. */
    char wal[160];
    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    struct stat sb;
    assert_int_equal(stat(wal, &sb), 0);
    assert_true(sb.st_size > 0);

    f->s = open_file(f);
    assert_int_equal(query_int(f->s, "SELECT count(*) FROM widgets WHERE name = 'survivor'"), 1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    /* Several tests fail on purpose; the store's error lines would only be noise. */
    log_configure(LOG_LEVEL_OFF, LOG_FORMAT_TEXT);
    const struct CMUnitTest tests[] = {
        T(test_open_close),
        T(test_open_failure),
        T(test_migrate_schema),
        T(test_blob_inline_migration),
        T(test_meta),
        T(test_meta_without_schema),
        T(test_upgrade_from_version_1),
        T(test_upgrade_from_version_2),
        T(test_newer_database_refused),
        T(test_failed_migration_rolls_back),
        T(test_transactions),
        T(test_constraint_violation),
        T(test_statements),
        T(test_wal_mode),
        cmocka_unit_test(test_memory_shared),
        cmocka_unit_test(test_memory_gone_after_last_close),
        T(test_memo_file),
        cmocka_unit_test(test_memo_memory),
        T(test_commit_survives_kill_9),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
