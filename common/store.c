/*
 * store.c — see store.h. The only file that includes sqlite3.h.
 */
#include "store.h"

#include "error.h"
#include "log.h"
#include "mem.h"
#include "util.h"

#include <sqlite3.h>
#include <assert.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

/* How long a writer waits for another connection's transaction before giving up. */
#define STORE_BUSY_TIMEOUT_MS 10000

/* All in-memory connections of the process open this name, so every module sees one database
 * (memdb VFS, SQLite >= 3.36: a name starting with '/' is shared within the process). */
#define STORE_MEMDB_URI "file:/azsim-memory?vfs=memdb"

/* Prepared statements are kept per connection and handed out again for the same SQL: parsing
 * and planning a statement costs more than running most of azsim's. */
#define STMT_CACHE 96

struct store_stmt {
    sqlite3_stmt *st;
    struct store *s;
    const char *sql; /* the cache's copy; NULL for a statement the cache has no room for */
    bool in_use;
    uint64_t last_used;
};

/* Memo slots per connection (see store_memo_get). */
#define MEMO_SLOTS 256

struct memo_slot {
    char *key;
    void *value;
    size_t len;
};

struct store {
    sqlite3 *db;
    struct store_stmt *cache[STMT_CACHE];
    uint64_t clock;
    struct memo_slot memo[MEMO_SLOTS];
    /* What the database looked like when the memo was last known valid. */
    int64_t memo_data_version, memo_changes;
};

const struct store_migration store_schema[] = {
    {"meta", "CREATE TABLE meta ("
             "  key   TEXT PRIMARY KEY,"
             "  value TEXT NOT NULL"
             ") WITHOUT ROWID;"},
    /* Entra ID's directory (aad/directory.c). Secrets and passwords are stored hashed
     * (common/secret.h); certificates by DER with both thumbprints in x5t form. */
    {"directory", "CREATE TABLE tenants ("
                  "  id           TEXT PRIMARY KEY,"
                  "  domain       TEXT NOT NULL UNIQUE COLLATE NOCASE,"
                  "  display_name TEXT NOT NULL,"
                  "  created_at   INTEGER NOT NULL"
                  ");"
                  "CREATE TABLE applications ("
                  "  object_id      TEXT PRIMARY KEY,"
                  "  app_id         TEXT NOT NULL UNIQUE COLLATE NOCASE,"
                  "  tenant_id      TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
                  "  display_name   TEXT NOT NULL,"
                  "  identifier_uri TEXT COLLATE NOCASE,"
                  "  public_client  INTEGER NOT NULL DEFAULT 0,"
                  "  created_at     INTEGER NOT NULL"
                  ");"
                  "CREATE TABLE service_principals ("
                  "  object_id    TEXT PRIMARY KEY,"
                  "  app_id       TEXT NOT NULL COLLATE NOCASE,"
                  "  tenant_id    TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
                  "  display_name TEXT NOT NULL,"
                  "  type         TEXT NOT NULL," /* Application | ManagedIdentity */
                  "  created_at   INTEGER NOT NULL,"
                  "  UNIQUE (tenant_id, app_id)"
                  ");"
                  "CREATE TABLE credentials ("
                  "  id          TEXT PRIMARY KEY,"
                  "  app_id      TEXT NOT NULL COLLATE NOCASE,"
                  "  kind        TEXT NOT NULL," /* password | certificate */
                  "  secret_hash TEXT,"
                  "  hint        TEXT,"
                  "  cert_der    BLOB,"
                  "  x5t         TEXT,"
                  "  x5t_s256    TEXT,"
                  "  not_before  INTEGER NOT NULL,"
                  "  not_after   INTEGER NOT NULL"
                  ");"
                  "CREATE INDEX credentials_by_app ON credentials(app_id);"
                  "CREATE TABLE users ("
                  "  object_id     TEXT PRIMARY KEY,"
                  "  tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
                  "  upn           TEXT NOT NULL UNIQUE COLLATE NOCASE,"
                  "  display_name  TEXT NOT NULL,"
                  "  password_hash TEXT NOT NULL,"
                  "  created_at    INTEGER NOT NULL"
                  ");"
                  "CREATE TABLE refresh_tokens ("
                  "  token_hash TEXT PRIMARY KEY,"
                  "  user_id    TEXT NOT NULL REFERENCES users(object_id) ON DELETE CASCADE,"
                  "  client_id  TEXT NOT NULL,"
                  "  expires_at INTEGER NOT NULL"
                  ");"
                  "CREATE TABLE signing_keys ("
                  "  kid        TEXT PRIMARY KEY,"
                  "  cert_pem   TEXT NOT NULL,"
                  "  key_pem    TEXT NOT NULL,"
                  "  active     INTEGER NOT NULL DEFAULT 0,"
                  "  created_at INTEGER NOT NULL,"
                  "  retired_at INTEGER" /* NULL while published in the JWKS */
                  ");"},
    /* Resource Manager and its authorization model (arm/, common/rbac.c). Scopes and resource
     * ids are ARM paths, compared case-insensitively as ARM does. */
    {"resource manager",
     "CREATE TABLE subscriptions ("
     "  id           TEXT PRIMARY KEY,"
     "  tenant_id    TEXT NOT NULL REFERENCES tenants(id),"
     "  display_name TEXT NOT NULL,"
     "  state        TEXT NOT NULL DEFAULT 'Enabled',"
     "  created_at   INTEGER NOT NULL"
     ");"
     "CREATE TABLE resource_groups ("
     "  subscription_id TEXT NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,"
     "  name            TEXT NOT NULL COLLATE NOCASE,"
     "  location        TEXT NOT NULL,"
     "  tags            TEXT NOT NULL DEFAULT '{}'," /* JSON object */
     "  managed_by      TEXT,"
     "  created_at      INTEGER NOT NULL,"
     "  PRIMARY KEY (subscription_id, name)"
     ");"
     "CREATE TABLE role_definitions ("
     "  id                TEXT PRIMARY KEY," /* the role's GUID */
     "  role_name         TEXT NOT NULL COLLATE NOCASE,"
     "  description       TEXT NOT NULL DEFAULT '',"
     "  role_type         TEXT NOT NULL," /* BuiltInRole | CustomRole */
     "  assignable_scopes TEXT NOT NULL," /* JSON array */
     "  permissions       TEXT NOT NULL," /* JSON array of permission blocks */
     "  created_on        TEXT,"
     "  updated_on        TEXT"
     ");"
     "CREATE INDEX role_definitions_by_name ON role_definitions(role_name);"
     "CREATE TABLE role_assignments ("
     "  id                 TEXT PRIMARY KEY," /* the assignment's GUID name */
     "  scope              TEXT NOT NULL COLLATE NOCASE,"
     "  role_definition_id TEXT NOT NULL,"
     "  principal_id       TEXT NOT NULL,"
     "  principal_type     TEXT NOT NULL,"
     "  description        TEXT,"
     "  created_by         TEXT,"
     "  created_at         INTEGER NOT NULL,"
     "  UNIQUE (scope, role_definition_id, principal_id)"
     ");"
     "CREATE INDEX role_assignments_by_principal ON role_assignments(principal_id);"
     "CREATE INDEX role_assignments_by_scope ON role_assignments(scope);"
     "CREATE TABLE audit_log ("
     "  seq        INTEGER PRIMARY KEY,"
     "  at         INTEGER NOT NULL,"
     "  module     TEXT NOT NULL,"
     "  principal  TEXT NOT NULL,"
     "  action     TEXT NOT NULL,"
     "  scope      TEXT NOT NULL,"
     "  allowed    INTEGER NOT NULL,"
     "  reason     TEXT NOT NULL,"
     "  request_id TEXT"
     ");"},
    /* ARM resources of every provider type, one row each (arm/resources.c). */
    {"resources",
     "CREATE TABLE resources ("
     "  id              TEXT PRIMARY KEY COLLATE NOCASE," /* the full ARM resource id */
     "  subscription_id TEXT NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,"
     "  resource_group  TEXT NOT NULL COLLATE NOCASE,"
     "  type            TEXT NOT NULL COLLATE NOCASE," /* "Microsoft.KeyVault/vaults" */
     "  name            TEXT NOT NULL COLLATE NOCASE,"
     "  location        TEXT,"
     "  tags            TEXT NOT NULL DEFAULT '{}',"
     "  body            TEXT NOT NULL," /* the resource as ARM answers it (JSON) */
     "  etag            TEXT NOT NULL,"
     "  created_at      INTEGER NOT NULL,"
     "  changed_at      INTEGER NOT NULL"
     ");"
     "CREATE INDEX resources_by_group ON resources(subscription_id, resource_group);"},
    /* Managed identities (arm/identities.c, imds/): a managed identity is a service principal
     * with the ARM id of what it belongs to (the token's xms_mirid); its certificate's private
     * key is kept apart from the directory, for IMDS alone. */
    {"managed identities",
     "ALTER TABLE service_principals ADD COLUMN resource_id TEXT COLLATE NOCASE;"
     "CREATE TABLE identity_certificates ("
     "  client_id  TEXT PRIMARY KEY COLLATE NOCASE,"
     "  cert_pem   TEXT NOT NULL,"
     "  key_pem    TEXT NOT NULL,"
     "  created_at INTEGER NOT NULL"
     ");"
     /* What a VM is beyond its ARM resource: its power state, and the secret a process
      * presents to IMDS (as proxy credentials or in a per-VM path) to act as that VM. */
     "CREATE TABLE virtual_machines ("
     "  id          TEXT PRIMARY KEY COLLATE NOCASE," /* the ARM id */
     "  power_state TEXT NOT NULL,"                   /* running | stopped | deallocated */
     "  imds_secret TEXT NOT NULL UNIQUE"
     ");"},
    /* Key Vault (arm/keyvault.c, keyvault/): soft-deleted vaults, and each vault's secrets and
     * keys — every version a row, keyed by the vault's globally unique name. A deleted object
     * keeps its versions; its row in vault_deleted_objects hides them until recovered or
     * purged. */
    {"key vault",
     "CREATE TABLE deleted_vaults ("
     "  name            TEXT PRIMARY KEY COLLATE NOCASE,"
     "  id              TEXT NOT NULL," /* the vault's ARM id */
     "  subscription_id TEXT NOT NULL,"
     "  location        TEXT NOT NULL,"
     "  body            TEXT NOT NULL," /* the vault as it was */
     "  deleted_at      INTEGER NOT NULL,"
     "  purge_at        INTEGER NOT NULL"
     ");"
     "CREATE TABLE vault_objects ("
     "  vault      TEXT NOT NULL COLLATE NOCASE,"
     "  collection TEXT NOT NULL," /* secrets | keys */
     "  name       TEXT NOT NULL COLLATE NOCASE,"
     "  version    TEXT NOT NULL,"
     "  body       TEXT NOT NULL," /* value or key material, attributes, tags, contentType */
     "  created    INTEGER NOT NULL,"
     "  PRIMARY KEY (vault, collection, name, version)"
     ");"
     "CREATE TABLE vault_deleted_objects ("
     "  vault      TEXT NOT NULL COLLATE NOCASE,"
     "  collection TEXT NOT NULL,"
     "  name       TEXT NOT NULL COLLATE NOCASE,"
     "  deleted_at INTEGER NOT NULL,"
     "  purge_at   INTEGER NOT NULL,"
     "  PRIMARY KEY (vault, collection, name)"
     ");"},
    /* Storage accounts' access keys (arm/storage.c): apart from the resource, which GET answers,
     * as listKeys alone may show them. */
    {"storage account keys",
     "CREATE TABLE storage_account_keys ("
     "  account      TEXT PRIMARY KEY COLLATE NOCASE," /* globally unique, as its DNS name */
     "  key1         TEXT NOT NULL,"
     "  key2         TEXT NOT NULL,"
     "  key1_created INTEGER NOT NULL,"
     "  key2_created INTEGER NOT NULL"
     ");"},
    /* Blob Storage (storage/): containers and blobs of each account; a blob's content is a file
     * under <data-dir>/blobs, named in the row, as are staged blocks until committed. */
    {"blob storage",
     "CREATE TABLE blob_containers ("
     "  account       TEXT NOT NULL COLLATE NOCASE,"
     "  name          TEXT NOT NULL,"
     "  public_access TEXT," /* NULL (private), blob or container */
     "  metadata      TEXT NOT NULL DEFAULT '{}',"
     "  etag          TEXT NOT NULL,"
     "  modified      INTEGER NOT NULL,"
     "  PRIMARY KEY (account, name)"
     ");"
     "CREATE TABLE blobs ("
     "  account    TEXT NOT NULL COLLATE NOCASE,"
     "  container  TEXT NOT NULL,"
     "  name       TEXT NOT NULL,"
     "  file       TEXT NOT NULL," /* the content, under <data-dir>/blobs */
     "  size       INTEGER NOT NULL,"
     "  md5        TEXT NOT NULL,"              /* base64 */
     "  properties TEXT NOT NULL DEFAULT '{}'," /* Content-Type, -Encoding, -Language, … */
     "  metadata   TEXT NOT NULL DEFAULT '{}',"
     "  etag       TEXT NOT NULL,"
     "  created    INTEGER NOT NULL,"
     "  modified   INTEGER NOT NULL,"
     "  PRIMARY KEY (account, container, name)"
     ");"
     "CREATE TABLE blob_blocks ("
     "  account   TEXT NOT NULL COLLATE NOCASE,"
     "  container TEXT NOT NULL,"
     "  blob      TEXT NOT NULL,"
     "  block_id  TEXT NOT NULL,"
     "  file      TEXT NOT NULL,"
     "  size      INTEGER NOT NULL,"
     "  PRIMARY KEY (account, container, blob, block_id)"
     ");"},
    /* Leases on blobs and containers (storage/leases.c): an id, a duration (-1 infinite), and
     * when it ends or its break ends (ms; 0 never). The state follows from those and the time. */
    {"blob leases",
     "ALTER TABLE blobs ADD COLUMN lease_id TEXT;"
     "ALTER TABLE blobs ADD COLUMN lease_duration INTEGER;"
     "ALTER TABLE blobs ADD COLUMN lease_ends INTEGER;"
     "ALTER TABLE blobs ADD COLUMN lease_broken INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE blob_containers ADD COLUMN lease_id TEXT;"
     "ALTER TABLE blob_containers ADD COLUMN lease_duration INTEGER;"
     "ALTER TABLE blob_containers ADD COLUMN lease_ends INTEGER;"
     "ALTER TABLE blob_containers ADD COLUMN lease_broken INTEGER NOT NULL DEFAULT 0;"},
    /* A container's stored access policies (storage/acl.c): the JSON array of its signed
     * identifiers, [{"id","start","expiry","permission"}], at most five. */
    {"blob container access policies",
     "ALTER TABLE blob_containers ADD COLUMN access_policies TEXT NOT NULL DEFAULT '[]';"},
    /* Which row names a content file: the start's sweep of unnamed files asks for each. */
    {"blob content index", "CREATE INDEX blobs_by_file ON blobs(file);"
                           "CREATE INDEX blob_blocks_by_file ON blob_blocks(file);"},
    /* The RBAC check's lookup: a principal's assignments at the scopes above a request's. */
    {"role assignments by principal and scope",
     "CREATE INDEX role_assignments_by_principal_scope ON role_assignments(principal_id, scope);"},
    /* Template deployments (arm/deployments.c): the deployment as answered, its template (for
     * exportTemplate) and operations. Secure parameter values are never among them. */
    {"deployments",
     "CREATE TABLE deployments ("
     "  id         TEXT PRIMARY KEY COLLATE NOCASE,"
     "  scope      TEXT NOT NULL COLLATE NOCASE," /* the group's or subscription's id */
     "  name       TEXT NOT NULL,"
     "  body       TEXT NOT NULL,"
     "  template   TEXT NOT NULL,"
     "  operations TEXT NOT NULL," /* JSON array */
     "  created_at INTEGER NOT NULL"
     ");"
     "CREATE INDEX deployments_by_scope ON deployments(scope);"},
    /* Small blobs keep their content in their row (storage/blobs.c, BLOB_INLINE_MAX): a PUT of
     * a few KiB is then one row written, not a file created and another unlinked. `file` loses
     * its NOT NULL, which SQLite can only do by rebuilding the table; rows written before keep
     * their files. Exactly one of file and content names the content. */
    {"blob inline content",
     "CREATE TABLE blobs_inline ("
     "  account        TEXT NOT NULL COLLATE NOCASE,"
     "  container      TEXT NOT NULL,"
     "  name           TEXT NOT NULL,"
     "  file           TEXT," /* the content, under <data-dir>/blobs; NULL when inline */
     "  size           INTEGER NOT NULL,"
     "  md5            TEXT NOT NULL,"
     "  properties     TEXT NOT NULL DEFAULT '{}',"
     "  metadata       TEXT NOT NULL DEFAULT '{}',"
     "  etag           TEXT NOT NULL,"
     "  created        INTEGER NOT NULL,"
     "  modified       INTEGER NOT NULL,"
     "  lease_id       TEXT,"
     "  lease_duration INTEGER,"
     "  lease_ends     INTEGER,"
     "  lease_broken   INTEGER NOT NULL DEFAULT 0,"
     "  content        BLOB," /* last: reading the other columns leaves its pages alone */
     "  PRIMARY KEY (account, container, name),"
     "  CHECK ((file IS NULL) <> (content IS NULL))"
     ");"
     "INSERT INTO blobs_inline(account, container, name, file, size, md5, properties, metadata, "
     "  etag, created, modified, lease_id, lease_duration, lease_ends, lease_broken) "
     "SELECT account, container, name, file, size, md5, properties, metadata, etag, created, "
     "  modified, lease_id, lease_duration, lease_ends, lease_broken FROM blobs;"
     "DROP TABLE blobs;"
     "ALTER TABLE blobs_inline RENAME TO blobs;"
     "CREATE INDEX blobs_by_file ON blobs(file);"},
    /* Every Blob Storage request finds its account by name (storage/storage.c): without this it
     * read every resource of every type. */
    {"resources by name", "CREATE INDEX resources_by_name ON resources(name);"},
};
const size_t store_schema_len = sizeof(store_schema) / sizeof(store_schema[0]);

static int store_error(struct store *s, const char *what)
{
    LOG_ERROR("store", "%s: %s", what, sqlite3_errmsg(s->db));
    return AZ_ESTORE;
}

int store_open(const struct store_location *loc, struct store **out)
{
    *out = NULL;
    struct store *s = xcalloc(1, sizeof(*s));
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI |
                SQLITE_OPEN_NOMUTEX; /* one connection per thread: no need for SQLite's mutex */
    const char *name = loc && loc->path ? loc->path : STORE_MEMDB_URI;
    if (loc && loc->path) {
        /* The store holds signing keys: create it private (SQLite gives its -wal and -shm files
         * the database file's permissions). Only when it does not exist yet: closing any
         * descriptor of an open database drops the process's POSIX locks on it, and SQLite
         * relies on them to know other connections are alive. */
        int fd = open(loc->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0)
            close(fd);
    }
    int rc = sqlite3_open_v2(name, &s->db, flags, NULL);
    if (rc != SQLITE_OK) {
        LOG_ERROR("store", "cannot open %s: %s", name, s->db ? sqlite3_errmsg(s->db) : "no memory");
        store_close(s);
        return AZ_ESTORE;
    }
    sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(s->db, 1);
    const char *pragmas = loc && loc->path ? "PRAGMA journal_mode=WAL;"
                                             "PRAGMA synchronous=NORMAL;"
                                             "PRAGMA foreign_keys=ON;"
                                           : "PRAGMA foreign_keys=ON;";
    if (store_exec(s, pragmas) != 0) {
        store_close(s);
        return AZ_ESTORE;
    }
    *out = s;
    return 0;
}

static void memo_clear(struct store *s)
{
    for (size_t i = 0; i < MEMO_SLOTS; i++) {
        free(s->memo[i].key);
        free(s->memo[i].value);
        s->memo[i] = (struct memo_slot){0};
    }
}

void store_close(struct store *s)
{
    if (!s)
        return;
    memo_clear(s);
    for (size_t i = 0; i < STMT_CACHE; i++) {
        if (s->cache[i]) {
            sqlite3_finalize(s->cache[i]->st);
            free((char *)s->cache[i]->sql);
            free(s->cache[i]);
        }
    }
    sqlite3_close_v2(s->db);
    free(s);
}

int store_exec(struct store *s, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        LOG_ERROR("store", "exec failed: %s", err ? err : sqlite3_errmsg(s->db));
        sqlite3_free(err);
        return AZ_ESTORE;
    }
    return 0;
}

int store_begin(struct store *s)
{
    return store_exec(s, "BEGIN IMMEDIATE");
}

int store_commit(struct store *s)
{
    return store_exec(s, "COMMIT");
}

void store_rollback(struct store *s)
{
    if (s && !sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

int store_schema_version(struct store *s)
{
    struct store_stmt *st;
    if (store_prepare(s, "PRAGMA user_version", &st) != 0)
        return AZ_ESTORE;
    int v = store_step(st) == 1 ? (int)store_column_int64(st, 0) : AZ_ESTORE;
    store_finalize(st);
    return v;
}

int store_migrate(struct store *s, const struct store_migration *migrations, size_t n)
{
    int version = store_schema_version(s);
    if (version < 0)
        return version;
    if ((size_t)version > n) {
        LOG_ERROR("store", "database schema version %d is newer than this azsim knows (%zu)",
                  version, n);
        return AZ_EVERSION;
    }
    for (size_t i = (size_t)version; i < n; i++) {
        char pragma[48];
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%zu", i + 1);
        if (store_begin(s) != 0)
            return AZ_ESTORE;
        /* Another process may have migrated while we waited for the write lock. */
        int now = store_schema_version(s);
        if (now < 0 || (size_t)now > i) {
            store_rollback(s);
            if (now < 0)
                return AZ_ESTORE;
            if ((size_t)now > n)
                return AZ_EVERSION;
            i = (size_t)now - 1;
            continue;
        }
        if (store_exec(s, migrations[i].sql) != 0 || store_exec(s, pragma) != 0 ||
            store_commit(s) != 0) {
            LOG_ERROR("store", "migration %zu (%s) failed", i + 1, migrations[i].name);
            store_rollback(s);
            return AZ_ESTORE;
        }
        LOG_DEBUG("store", "applied migration %zu (%s)", i + 1, migrations[i].name);
    }
    return 0;
}

int store_run(struct store *s, const char *sql, const char *types, ...)
{
    struct store_stmt *st;
    if (store_prepare(s, sql, &st) != 0)
        return AZ_ESTORE;
    va_list ap;
    va_start(ap, types);
    for (int i = 0; types[i]; i++) {
        if (types[i] == 's') {
            store_bind_text(st, i + 1, va_arg(ap, const char *));
        } else if (types[i] == 'i') {
            store_bind_int64(st, i + 1, va_arg(ap, int64_t));
        } else {
            assert(types[i] == 'b');
            const void *data = va_arg(ap, const void *);
            size_t n = va_arg(ap, size_t);
            store_bind_blob(st, i + 1, data, n);
        }
    }
    va_end(ap);
    int rc = store_step(st);
    store_finalize(st);
    return rc < 0 ? rc : 0;
}

/* ---- statements ----------------------------------------------------------------------------- */

/* The cached statement for `sql` not in use, or NULL. */
static struct store_stmt *cached(struct store *s, const char *sql)
{
    for (size_t i = 0; i < STMT_CACHE; i++) {
        struct store_stmt *c = s->cache[i];
        if (c && !c->in_use && strcmp(c->sql, sql) == 0)
            return c;
    }
    return NULL;
}

/* Keep `w` in the cache: in an empty slot, or in place of the least recently used statement
 * not in use. Without room it stays uncached (finalized when done). */
static void cache_keep(struct store *s, struct store_stmt *w, const char *sql)
{
    size_t slot = STMT_CACHE;
    for (size_t i = 0; i < STMT_CACHE; i++) {
        struct store_stmt *c = s->cache[i];
        if (!c) {
            slot = i;
            break;
        }
        if (!c->in_use && (slot == STMT_CACHE || c->last_used < s->cache[slot]->last_used))
            slot = i;
    }
    if (slot == STMT_CACHE)
        return;
    struct store_stmt *old = s->cache[slot];
    if (old) {
        sqlite3_finalize(old->st);
        free((char *)old->sql);
        free(old);
    }
    w->sql = xstrdup(sql);
    s->cache[slot] = w;
}

int store_prepare(struct store *s, const char *sql, struct store_stmt **out)
{
    *out = NULL;
    struct store_stmt *w = cached(s, sql);
    if (!w) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
            return store_error(s, "prepare");
        w = xcalloc(1, sizeof(*w));
        w->st = st;
        w->s = s;
        cache_keep(s, w, sql);
    }
    w->in_use = true;
    w->last_used = ++s->clock;
    *out = w;
    return 0;
}

void store_finalize(struct store_stmt *st)
{
    if (!st)
        return;
    if (!st->sql) {
        sqlite3_finalize(st->st);
        free(st);
        return;
    }
    /* Back to the cache, reset: a statement left stepping would hold its read transaction. */
    sqlite3_reset(st->st);
    sqlite3_clear_bindings(st->st);
    st->in_use = false;
}

void store_reset(struct store_stmt *st)
{
    sqlite3_reset(st->st);
    sqlite3_clear_bindings(st->st);
}

static int bind_result(struct store_stmt *st, int rc)
{
    return rc == SQLITE_OK ? 0 : store_error(st->s, "bind");
}

int store_bind_text(struct store_stmt *st, int idx, const char *text)
{
    if (!text)
        return bind_result(st, sqlite3_bind_null(st->st, idx));
    return bind_result(st, sqlite3_bind_text(st->st, idx, text, -1, SQLITE_TRANSIENT));
}

int store_bind_blob(struct store_stmt *st, int idx, const void *data, size_t n)
{
    return bind_result(st, sqlite3_bind_blob64(st->st, idx, data, n, SQLITE_TRANSIENT));
}

int store_bind_int64(struct store_stmt *st, int idx, int64_t v)
{
    return bind_result(st, sqlite3_bind_int64(st->st, idx, v));
}

int store_step(struct store_stmt *st)
{
    int rc = sqlite3_step(st->st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return AZ_EEXIST;
    return store_error(st->s, "step");
}

const char *store_column_text(struct store_stmt *st, int col)
{
    return (const char *)sqlite3_column_text(st->st, col);
}

int64_t store_column_int64(struct store_stmt *st, int col)
{
    return sqlite3_column_int64(st->st, col);
}

const void *store_column_blob(struct store_stmt *st, int col, size_t *n)
{
    const void *p = sqlite3_column_blob(st->st, col);
    *n = (size_t)sqlite3_column_bytes(st->st, col);
    return p;
}

int64_t store_changes(struct store *s)
{
    return sqlite3_changes64(s->db);
}

/* ---- the memo ---------------------------------------------------------------------------------
 *
 * PRAGMA data_version changes when another connection (of this process or another) commits;
 * sqlite3_total_changes64 when this one writes. While neither moved, nothing a memo entry was
 * derived from can have changed. */

int64_t store_data_version(struct store *s)
{
    struct store_stmt *st;
    int64_t version = -1;
    if (store_prepare(s, "PRAGMA data_version", &st) == 0) {
        if (store_step(st) == 1)
            version = store_column_int64(st, 0);
        store_finalize(st);
    }
    return version;
}

static void memo_validate(struct store *s)
{
    int64_t version = store_data_version(s);
    int64_t changes = sqlite3_total_changes64(s->db);
    if (version < 0 || version != s->memo_data_version || changes != s->memo_changes) {
        memo_clear(s);
        s->memo_data_version = version;
        s->memo_changes = changes;
    }
}

static struct memo_slot *memo_slot(struct store *s, const char *key)
{
    return &s->memo[hash_bytes(key, strlen(key)) % MEMO_SLOTS];
}

const void *store_memo_get(struct store *s, const char *key, size_t *len)
{
    memo_validate(s);
    struct memo_slot *slot = memo_slot(s, key);
    if (!slot->key || strcmp(slot->key, key) != 0)
        return NULL;
    if (len)
        *len = slot->len;
    return slot->value;
}

void store_memo_put(struct store *s, const char *key, const void *value, size_t len)
{
    memo_validate(s);
    struct memo_slot *slot = memo_slot(s, key);
    free(slot->key);
    free(slot->value);
    slot->key = xstrdup(key);
    slot->value = xmalloc(len + 1);
    memcpy(slot->value, value, len);
    ((char *)slot->value)[len] = '\0';
    slot->len = len;
}

int store_memo_row(struct store *s, const char *key, struct store_stmt *st, int ncols,
                   const char **row, size_t *len)
{
    *row = store_memo_get(s, key, len);
    if (*row) {
        store_finalize(st);
        return 0;
    }
    int rc = store_step(st);
    if (rc == 1) {
        struct buf b = {0};
        for (int i = 0; i < ncols; i++) {
            const char *col = store_column_text(st, i);
            buf_append(&b, col ? col : "", (col ? strlen(col) : 0) + 1);
        }
        store_memo_put(s, key, b.data, b.len);
        buf_free(&b);
        *row = store_memo_get(s, key, len);
    }
    store_finalize(st);
    return rc == 1 ? 0 : rc == 0 ? AZ_ENOTFOUND : AZ_ESTORE;
}

int64_t store_last_insert_rowid(struct store *s)
{
    return sqlite3_last_insert_rowid(s->db);
}

/* ---- meta ----------------------------------------------------------------------------------- */

int store_meta_get(struct store *s, const char *key, char **out)
{
    struct store_stmt *st;
    *out = NULL;
    int rc = store_prepare(s, "SELECT value FROM meta WHERE key = ?1", &st);
    if (rc != 0)
        return rc;
    store_bind_text(st, 1, key);
    rc = store_step(st);
    if (rc == 1) {
        *out = xstrdup(store_column_text(st, 0));
        rc = 0;
    } else if (rc == 0) {
        rc = AZ_ENOTFOUND;
    }
    store_finalize(st);
    return rc;
}

int store_meta_set(struct store *s, const char *key, const char *value)
{
    struct store_stmt *st;
    int rc = store_prepare(s,
                           "INSERT INTO meta(key, value) VALUES(?1, ?2) "
                           "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                           &st);
    if (rc != 0)
        return rc;
    store_bind_text(st, 1, key);
    store_bind_text(st, 2, value);
    rc = store_step(st);
    store_finalize(st);
    return rc < 0 ? rc : 0;
}

int store_meta_secret(struct store *s, const char *key, unsigned char out[32])
{
    char *hex = NULL;
    int rc = store_meta_get(s, key, &hex);
    if (rc == AZ_ENOTFOUND) {
        unsigned char fresh[32];
        char text[65];
        random_bytes(fresh, sizeof(fresh));
        for (size_t i = 0; i < sizeof(fresh); i++)
            snprintf(text + 2 * i, 3, "%02x", fresh[i]);
        rc = store_run(s, "INSERT OR IGNORE INTO meta(key, value) VALUES(?1, ?2)", "ss", key, text);
        if (rc == 0)
            rc = store_meta_get(s, key, &hex);
    }
    if (rc != 0)
        return rc;
    bool ok = strlen(hex) == 64;
    for (size_t i = 0; ok && i < 32; i++) {
        unsigned int byte;
        ok = sscanf(hex + 2 * i, "%2x", &byte) == 1;
        out[i] = (unsigned char)byte;
    }
    free(hex);
    return ok ? 0 : AZ_ESTORE;
}
