/*
 * keyvault/objects.c — a vault's versioned objects (secrets and keys) in the store: every
 * version a row of vault_objects under the vault's name; a soft-deleted object keeps its versions
 * and gets a row in vault_deleted_objects that hides them until it is recovered or purged.
 * Listings page with $skiptoken (an offset) and maxresults, and an absolute nextLink.
 */
#include "keyvault/keyvault.h"

#include "common/error.h"
#include "common/json.h"
#include "common/mem.h"
#include "common/store.h"
#include "common/util.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS (86400 * (int64_t)1000)
#define PAGE_MAX 25

/* Bind ?1 = the vault, ?2 = the collection, ?3 = the name. */
static struct store_stmt *prepare_in(struct http_request *req, const char *vault, const char *sql,
                                     const char *collection, const char *name)
{
    struct store_stmt *st;
    if (store_prepare(req->store, sql, &st) != 0)
        return NULL;
    store_bind_text(st, 1, vault);
    store_bind_text(st, 2, collection);
    store_bind_text(st, 3, name);
    return st;
}

/* The same in the request's vault. */
static struct store_stmt *prepare(struct http_request *req, const char *sql, const char *collection,
                                  const char *name)
{
    return prepare_in(req, kv_vault(req)->name, sql, collection, name);
}

#define NOT_DELETED                                                                                \
    "NOT EXISTS (SELECT 1 FROM vault_deleted_objects d WHERE d.vault = o.vault AND "               \
    "d.collection = o.collection AND d.name = o.name)"

/* One version: the latest (version NULL or "") or the one named; deleted objects only when
 * `deleted`, live ones only otherwise. */
static int get_version(struct http_request *req, const char *vault, const char *collection,
                       const char *name, const char *version, bool deleted, struct kv_object *out)
{
    bool latest = !version || !*version;
    struct store_stmt *st = prepare_in(
        req, vault,
        arena_printf(req->arena,
                     "SELECT name, version, body FROM vault_objects o WHERE vault = ?1 AND "
                     "collection = ?2 AND name = ?3 AND (?4 IS NULL OR version = ?4) AND %s"
                     "(" NOT_DELETED ") ORDER BY created DESC, rowid DESC LIMIT 1",
                     deleted ? "NOT " : ""),
        collection, name);
    if (!st)
        return AZ_ESTORE;
    store_bind_text(st, 4, latest ? NULL : version);
    /* Remembered while the store is unchanged: a client reading one secret over and over. */
    char *key = xasprintf("kv-object\x1f%s\x1f%s\x1f%s\x1f%s\x1f%d", vault, collection, name,
                          latest ? "" : version, deleted);
    const char *row;
    size_t len;
    int rc = store_memo_row(req->store, key, st, 3, &row, &len);
    free(key);
    if (rc != 0)
        return rc;
    row = arena_strndup(req->arena, row, len);
    out->name = row;
    out->version = out->name + strlen(out->name) + 1;
    const char *body = out->version + strlen(out->version) + 1;
    out->body = json_parse_in(req->arena, body, strlen(body));
    return 0;
}

int kv_object_get(struct http_request *req, const char *collection, const char *name,
                  const char *version, struct kv_object *out)
{
    return get_version(req, kv_vault(req)->name, collection, name, version, false, out);
}

int kv_object_get_in(struct http_request *req, const char *vault, const char *collection,
                     const char *name, const char *version, struct kv_object *out)
{
    return get_version(req, vault, collection, name, version, false, out);
}

int kv_deleted_object_get(struct http_request *req, const char *collection, const char *name,
                          struct kv_object *out, int64_t *deleted_at, int64_t *purge_at)
{
    int rc = kv_object_deleted(req, collection, name, deleted_at, purge_at);
    return rc == 0 ? get_version(req, kv_vault(req)->name, collection, name, NULL, true, out) : rc;
}

int kv_object_insert(struct store *s, const char *vault, const char *collection, const char *name,
                     const char *body, char version[33])
{
    /* Key Vault's version ids are 32 hex digits. */
    unsigned char raw[16];
    random_bytes(raw, sizeof(raw));
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(version + 2 * i, 3, "%02x", raw[i]);
    return store_run(s,
                     "INSERT INTO vault_objects(vault, collection, name, version, body, created) "
                     "VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                     "sssssi", vault, collection, name, version, body, clock_now_ms());
}

int kv_object_add(struct http_request *req, const char *collection, const char *name,
                  const char *body, const char **version)
{
    char *hex = arena_alloc(req->arena, 33);
    *version = hex;
    return kv_object_insert(req->store, kv_vault(req)->name, collection, name, body, hex);
}

int kv_object_replace(struct http_request *req, const char *collection, const char *name,
                      const char *version, const char *body)
{
    return store_run(req->store,
                     "UPDATE vault_objects SET body = ?5 WHERE vault = ?1 AND collection = ?2 AND "
                     "name = ?3 AND version = ?4",
                     "sssss", kv_vault(req)->name, collection, name, version, body);
}

int kv_object_deleted(struct http_request *req, const char *collection, const char *name,
                      int64_t *deleted_at, int64_t *purge_at)
{
    return kv_object_deleted_in(req, kv_vault(req)->name, collection, name, deleted_at, purge_at);
}

int kv_object_deleted_in(struct http_request *req, const char *vault, const char *collection,
                         const char *name, int64_t *deleted_at, int64_t *purge_at)
{
    struct store_stmt *st =
        prepare_in(req, vault,
                   "SELECT deleted_at, purge_at FROM vault_deleted_objects WHERE "
                   "vault = ?1 AND collection = ?2 AND name = ?3",
                   collection, name);
    if (!st)
        return AZ_ESTORE;
    int rc = store_step(st);
    if (rc == 1) {
        *deleted_at = store_column_int64(st, 0);
        *purge_at = store_column_int64(st, 1);
    }
    store_finalize(st);
    return rc == 1 ? 0 : rc == 0 ? AZ_ENOTFOUND : AZ_ESTORE;
}

int kv_object_delete(struct http_request *req, const char *collection, const char *name)
{
    const struct vault *v = kv_vault(req);
    if (!v->soft_delete)
        return kv_object_purge(req, collection, name);
    int64_t now = clock_now_ms();
    return store_run(req->store,
                     "INSERT INTO vault_deleted_objects(vault, collection, name, deleted_at, "
                     "purge_at) VALUES(?1, ?2, ?3, ?4, ?5)",
                     "sssii", v->name, collection, name, now, now + v->retention_days * DAY_MS);
}

int kv_object_recover(struct http_request *req, const char *collection, const char *name)
{
    return store_run(req->store,
                     "DELETE FROM vault_deleted_objects WHERE vault = ?1 AND collection = ?2 AND "
                     "name = ?3",
                     "sss", kv_vault(req)->name, collection, name);
}

int kv_object_purge(struct http_request *req, const char *collection, const char *name)
{
    int rc = store_begin(req->store);
    if (rc == 0)
        rc = kv_object_recover(req, collection, name);
    if (rc == 0)
        rc = store_run(req->store,
                       "DELETE FROM vault_objects WHERE vault = ?1 AND collection = ?2 AND "
                       "name = ?3",
                       "sss", kv_vault(req)->name, collection, name);
    if (rc == 0)
        rc = store_commit(req->store);
    if (rc != 0)
        store_rollback(req->store);
    return rc;
}

/* The absolute URL of the next page, or NULL on the last. */
static const char *next_link(struct http_request *req, long offset, long size, bool more)
{
    if (!more)
        return NULL;
    const char *api = http_query(req, "api-version");
    return arena_printf(req->arena, "%s%s?api-version=%s&$skiptoken=%ld&maxresults=%ld",
                        kv_vault(req)->origin, req->path, api ? api : "7.4", offset + size, size);
}

int kv_object_list(struct http_request *req, const char *collection, enum kv_listing what,
                   const char *name,
                   void (*write)(struct http_request *req, struct json_writer *w,
                                 const struct kv_object *o, int64_t deleted_at, int64_t purge_at))
{
    const char *max_text = http_query(req, "maxresults");
    const char *skip_text = http_query(req, "$skiptoken");
    long size = max_text ? strtol(max_text, NULL, 10) : PAGE_MAX;
    long offset = skip_text ? strtol(skip_text, NULL, 10) : 0;
    if (size < 1 || size > PAGE_MAX)
        return http_fail(req, 400, "BadParameter",
                         "invalid maxresults parameter: it must be between 1 and %d.", PAGE_MAX);
    if (offset < 0)
        return http_fail(req, 400, "BadParameter", "invalid $skiptoken parameter.");
    static const char *const sql[] = {
        /* The latest version of each live object. */
        [KV_LIST_LATEST] =
            "SELECT o.name, o.version, o.body, 0, 0 FROM vault_objects o WHERE vault = ?1 AND "
            "collection = ?2 AND " NOT_DELETED " AND o.rowid = (SELECT p.rowid FROM "
            "vault_objects p WHERE p.vault = o.vault AND p.collection = o.collection AND "
            "p.name = o.name ORDER BY p.created DESC, p.rowid DESC LIMIT 1) "
            "ORDER BY o.name LIMIT ?4 OFFSET ?5",
        [KV_LIST_VERSIONS] = "SELECT o.name, o.version, o.body, 0, 0 FROM vault_objects o WHERE "
                             "vault = ?1 AND collection = ?2 AND name = ?3 AND " NOT_DELETED
                             " ORDER BY o.created, o.rowid LIMIT ?4 OFFSET ?5",
        /* The latest version of each deleted object, with its deletion. */
        [KV_LIST_DELETED] =
            "SELECT o.name, o.version, o.body, d.deleted_at, d.purge_at FROM "
            "vault_deleted_objects d JOIN vault_objects o ON o.vault = d.vault AND "
            "o.collection = d.collection AND o.name = d.name WHERE d.vault = ?1 AND "
            "d.collection = ?2 AND o.rowid = (SELECT p.rowid FROM vault_objects p WHERE "
            "p.vault = o.vault AND p.collection = o.collection AND p.name = o.name ORDER BY "
            "p.created DESC, p.rowid DESC LIMIT 1) ORDER BY o.name LIMIT ?4 OFFSET ?5",
    };
    struct store_stmt *st = prepare(req, sql[what], collection, name);
    if (!st)
        return http_fail(req, 500, "InternalServerError", "The vault's store could not be read.");
    store_bind_int64(st, 4, size + 1); /* one more tells whether another page follows */
    store_bind_int64(st, 5, offset);
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_key(w, "value");
    jw_array_open(w);
    long n = 0;
    bool more = false;
    while (store_step(st) == 1) {
        if (n++ == size) {
            more = true;
            break;
        }
        const char *body = store_column_text(st, 2);
        struct kv_object o = {
            .name = store_column_text(st, 0),
            .version = store_column_text(st, 1),
            .body = json_parse_in(req->arena, body, strlen(body)),
        };
        write(req, w, &o, store_column_int64(st, 3), store_column_int64(st, 4));
    }
    store_finalize(st);
    jw_array_close(w);
    jw_kv_string(w, "nextLink", next_link(req, offset, size, more));
    jw_object_close(w);
    http_reply_json(req, 200, w);
    json_writer_free(w);
    return 0;
}

void kv_write_attributes(struct http_request *req, struct json_writer *w,
                         const struct json *attributes)
{
    const struct vault *v = kv_vault(req);
    jw_key(w, "attributes");
    jw_object_open(w);
    bool enabled = true;
    json_bool(json_get(attributes, "enabled"), &enabled);
    jw_kv_bool(w, "enabled", enabled);
    static const char *const times[] = {"nbf", "exp", "created", "updated"};
    for (size_t i = 0; i < ARRAY_SIZE(times); i++) {
        int64_t t;
        if (json_int(json_get(attributes, times[i]), &t))
            jw_kv_int(w, times[i], t);
    }
    jw_kv_string(w, "recoveryLevel",
                 !v->soft_delete       ? "Purgeable"
                 : v->purge_protection ? "Recoverable"
                                       : "Recoverable+Purgeable");
    if (v->soft_delete)
        jw_kv_int(w, "recoverableDays", v->retention_days);
    jw_object_close(w);
}

/* ---- backups --------------------------------------------------------------------------------- */

/* The subscription a vault id lies in. */
static const char *subscription_of(struct http_request *req, const char *vault_id)
{
    const char *p = vault_id + strlen("/subscriptions/");
    return arena_strndup(req->arena, p, strcspn(p, "/"));
}

int kv_object_export(struct http_request *req, const char *collection, const char *name,
                     const char *magic, struct json_writer *w)
{
    struct store_stmt *st = prepare(req,
                                    "SELECT version, body, created FROM vault_objects o WHERE "
                                    "vault = ?1 AND collection = ?2 AND name = ?3 AND " NOT_DELETED
                                    " ORDER BY created, rowid",
                                    collection, name);
    if (!st)
        return AZ_ESTORE;
    jw_object_open(w);
    jw_kv_string(w, "format", magic);
    jw_kv_string(w, "subscription", subscription_of(req, kv_vault(req)->id));
    jw_kv_string(w, "name", name);
    jw_key(w, "versions");
    jw_array_open(w);
    int n = 0, rc;
    while ((rc = store_step(st)) == 1) {
        const char *body = store_column_text(st, 1);
        jw_object_open(w);
        jw_kv_string(w, "version", store_column_text(st, 0));
        jw_key(w, "body");
        jw_value(w, json_parse_in(req->arena, body, strlen(body)));
        jw_kv_int(w, "created", store_column_int64(st, 2));
        jw_object_close(w);
        n++;
    }
    jw_array_close(w);
    jw_object_close(w);
    store_finalize(st);
    return rc < 0 ? AZ_ESTORE : n == 0 ? AZ_ENOTFOUND : 0;
}

/*
 * Backups are sealed with AES-256-GCM under a key of this azsim's own (kept in the store's meta
 * table, made on first use): as opaque as Azure's, a key's private half or a secret's value is
 * not readable in them, and a blob cannot be forged to slip material into a vault. A sealed blob
 * is base64url(iv || ciphertext || tag).
 */
#define SEAL_KEY "keyvault.backup-key"
#define IV_BYTES 12
#define TAG_BYTES 16

static bool seal_key(struct http_request *req, unsigned char key[32])
{
    return store_meta_secret(req->store, SEAL_KEY, key) == 0;
}

const char *kv_backup_seal(struct http_request *req, const char *text, size_t len)
{
    unsigned char key[32];
    if (!seal_key(req, key))
        return NULL;
    unsigned char *out = arena_alloc(req->arena, IV_BYTES + len + TAG_BYTES);
    random_bytes(out, IV_BYTES);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, tail = 0;
    bool ok =
        ctx && EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, out) == 1 &&
        EVP_EncryptUpdate(ctx, out + IV_BYTES, &n, (const unsigned char *)text, (int)len) == 1 &&
        EVP_EncryptFinal_ex(ctx, out + IV_BYTES + n, &tail) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_BYTES, out + IV_BYTES + n + tail) == 1;
    EVP_CIPHER_CTX_free(ctx);
    OPENSSL_cleanse(key, sizeof(key));
    return ok ? base64url_encode(req->arena, out, IV_BYTES + (size_t)(n + tail) + TAG_BYTES) : NULL;
}

/* The plaintext of a sealed blob, or NULL when it is not one of ours or was changed. */
static const char *unseal(struct http_request *req, const char *blob, size_t *len)
{
    unsigned char key[32], *raw = NULL;
    long n = blob ? base64url_decode(req->arena, blob, strlen(blob), &raw) : -1;
    if (n <= IV_BYTES + TAG_BYTES || !seal_key(req, key))
        return NULL;
    size_t clen = (size_t)n - IV_BYTES - TAG_BYTES;
    char *out = arena_alloc(req->arena, clen + 1);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int got = 0, tail = 0;
    bool ok =
        ctx && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, raw) == 1 &&
        EVP_DecryptUpdate(ctx, (unsigned char *)out, &got, raw + IV_BYTES, (int)clen) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_BYTES, raw + IV_BYTES + clen) == 1 &&
        EVP_DecryptFinal_ex(ctx, (unsigned char *)out + got, &tail) == 1;
    EVP_CIPHER_CTX_free(ctx);
    OPENSSL_cleanse(key, sizeof(key));
    ERR_clear_error();
    if (!ok)
        return NULL;
    *len = (size_t)(got + tail);
    return out;
}

const struct json *kv_backup_decode(struct http_request *req, const char *blob, const char *magic)
{
    size_t n;
    const char *text = unseal(req, blob, &n);
    const struct json *doc = text ? json_parse_in(req->arena, text, n) : NULL;
    const char *name = json_string(json_get(doc, "name"));
    if (!doc || !str_ieq(json_string(json_get(doc, "format")), magic) || !name ||
        json_type(json_get(doc, "versions")) != JSON_ARRAY ||
        json_len(json_get(doc, "versions")) == 0)
        return NULL;
    return doc;
}

int kv_backup_restore(struct http_request *req, const char *collection, const struct json *backup)
{
    const char *name = json_string(json_get(backup, "name"));
    const struct json *versions = json_get(backup, "versions");
    int rc = store_begin(req->store);
    for (size_t i = 0; rc == 0 && i < json_len(versions); i++) {
        const struct json *v = json_at(versions, i);
        int64_t created = 0;
        json_int(json_get(v, "created"), &created);
        struct json_writer *w = json_writer_new();
        jw_value(w, json_get(v, "body"));
        rc = store_run(req->store,
                       "INSERT INTO vault_objects(vault, collection, name, version, body, created) "
                       "VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                       "sssssi", kv_vault(req)->name, collection, name,
                       json_string(json_get(v, "version")), json_writer_text(w, NULL), created);
        json_writer_free(w);
    }
    if (rc == 0)
        rc = store_commit(req->store);
    if (rc != 0)
        store_rollback(req->store);
    return rc;
}
