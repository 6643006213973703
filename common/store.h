/*
 * store.h — the state store: one SQLite database shared by every module.
 *
 * Each module thread opens its own connection (`struct store`) to the same database; connections
 * are never shared between threads. On disk the database is `<data-dir>/azsim.db` in WAL mode with
 * synchronous=NORMAL: a committed transaction is in the WAL before store_commit() returns, so it
 * survives `kill -9` of the server (not a power cut, which azsim does not promise). In memory
 * (`--in-memory`) all connections of the process share one memdb database.
 *
 * The schema is versioned by migrations (PRAGMA user_version): store_migrate() applies the ones a
 * database lacks, each in its own transaction, and refuses a database from a newer azsim.
 *
 * SQLite stays behind this file: callers use the statement wrappers below. Text returned by
 * store_column_text() is valid until the next store_step(), store_reset() or store_finalize()
 * on that statement — copy it to keep it.
 */
#ifndef AZSIM_STORE_H
#define AZSIM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct store_stmt;

/* Where the database lives: a file path, or the process-wide in-memory database when NULL. */
struct store_location {
    const char *path;
};

/* Open a connection. Returns 0 or AZ_ESTORE (the reason is logged). */
int store_open(const struct store_location *loc, struct store **out);
void store_close(struct store *s);

/* One schema step: the SQL that takes the database from version (index) to (index + 1). */
struct store_migration {
    const char *name;
    const char *sql;
};

/* azsim's schema. */
extern const struct store_migration store_schema[];
extern const size_t store_schema_len;

/*
 * Bring the database up to `n` migrations. Returns 0, AZ_EVERSION when the database is newer than
 * `n` (written by a newer azsim), or AZ_ESTORE.
 */
int store_migrate(struct store *s, const struct store_migration *migrations, size_t n);
int store_schema_version(struct store *s);

/* Transactions. store_begin starts an IMMEDIATE transaction so writers queue on the busy
 * handler instead of failing halfway; store_rollback(NULL-safe) is fine after a failed commit. */
int store_begin(struct store *s);
int store_commit(struct store *s);
void store_rollback(struct store *s);
/* Run SQL with no results (several statements allowed). */
int store_exec(struct store *s, const char *sql);

/*
 * Run one statement and discard any rows. `types` has one letter per parameter, in order:
 * 's' a string (NULL binds NULL), 'i' an int64_t, 'b' a blob given as (const void *, size_t).
 * Returns 0, AZ_EEXIST on a constraint violation, or AZ_ESTORE.
 */
int store_run(struct store *s, const char *sql, const char *types, ...);

/* Prepared statements. Bind indexes start at 1, column indexes at 0. */
int store_prepare(struct store *s, const char *sql, struct store_stmt **out);
void store_finalize(struct store_stmt *st);
void store_reset(struct store_stmt *st);
int store_bind_text(struct store_stmt *st, int idx, const char *text); /* NULL binds NULL */
int store_bind_blob(struct store_stmt *st, int idx, const void *data, size_t n);
int store_bind_int64(struct store_stmt *st, int idx, int64_t v);
/* Returns 1 when a row is ready, 0 when done, AZ_EEXIST on a constraint violation, else AZ_ESTORE.
 */
int store_step(struct store_stmt *st);
const char *store_column_text(struct store_stmt *st, int col); /* NULL for SQL NULL */
int64_t store_column_int64(struct store_stmt *st, int col);
const void *store_column_blob(struct store_stmt *st, int col, size_t *n);
int64_t store_changes(struct store *s);
int64_t store_last_insert_rowid(struct store *s);

/* PRAGMA data_version: it moves whenever another connection (of this process or another) commits,
 * on disk and in memory alike; one read transaction. -1 if it cannot be read. */
int64_t store_data_version(struct store *s);

/*
 * A small memo per connection for answers derived from the database (an RBAC decision, a parsed
 * row), valid only while the database is unchanged: any commit, by any connection of any process,
 * or any write on this connection, empties it before the next get. Keys are strings; values are
 * copied, and stay valid until the next store_memo_get/put on the connection. A value always has
 * a '\0' after its `len` bytes, so text can be read as a string.
 */
const void *store_memo_get(struct store *s, const char *key, size_t *len);
void store_memo_put(struct store *s, const char *key, const void *value, size_t len);
/*
 * The first row of `st` (prepared and bound by the caller): its first `ncols` columns as text,
 * one after the other, each ending in its '\0' (SQL NULL as ""), `len` bytes in all, in `row`.
 * From the memo under `key` while the store is unchanged, else by stepping `st`, and remembered.
 * Returns 0, AZ_ENOTFOUND or AZ_ESTORE. Finalizes `st`; `row` is valid as store_memo_get's.
 */
int store_memo_row(struct store *s, const char *key, struct store_stmt *st, int ncols,
                   const char **row, size_t *len);

/* The `meta` table: small named values (instance id, creation time). *out is heap-allocated
 * (caller frees) or NULL with AZ_ENOTFOUND. */
int store_meta_get(struct store *s, const char *key, char **out);
int store_meta_set(struct store *s, const char *key, const char *value);
/* A 32-byte key of this azsim's own, kept under meta `key` and made at random on first use
 * (whichever thread makes it first wins: every caller gets the same key). 0 or an error. */
int store_meta_secret(struct store *s, const char *key, unsigned char out[32]);

#endif
