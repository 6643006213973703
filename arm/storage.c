/*
 * arm/storage.c — Microsoft.Storage/storageAccounts: the account resource (answered 200 on
 * creation, as the Python SDK and az insist), its two access keys (listKeys, regenerateKey) and
 * checkNameAvailability.
 *
 * Account names are global, as their DNS names are. The keys live apart from the resource (GET
 * never shows them) in storage_account_keys, where the Blob data plane reads them to check Shared
 * Key signatures and SAS tokens.
 */
#include "arm/arm.h"

#include "common/error.h"
#include "common/json.h"
#include "common/store.h"
#include "common/util.h"

#include <stdio.h>
#include <string.h>

#define ACCOUNT_TYPE "Microsoft.Storage/storageAccounts"
#define KEY_BYTES 64

static const char *const skus[] = {
    "Standard_LRS",    "Standard_GRS", "Standard_RAGRS", "Standard_ZRS", "Standard_GZRS",
    "Standard_RAGZRS", "Premium_LRS",  "Premium_ZRS",    NULL,
};
static const char *const kinds[] = {
    "StorageV2", "Storage", "BlobStorage", "BlockBlobStorage", "FileStorage", NULL,
};

/* 3-24 lower-case letters and digits. */
static bool valid_account_name(const char *name)
{
    size_t n = strlen(name);
    if (n < 3 || n > 24)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9')))
            return false;
    }
    return true;
}

/* The canonical spelling of `value` in `list` (case-insensitive), or NULL. */
static const char *one_of(const char *value, const char *const *list)
{
    for (; value && *list; list++) {
        if (str_ieq(value, *list))
            return *list;
    }
    return NULL;
}

/* Is another account called `name`? */
static bool name_taken(struct http_request *req, const char *name, const char *id)
{
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT 1 FROM resources WHERE type = '" ACCOUNT_TYPE "' AND name = ?1 AND "
                      "lower(id) <> lower(?2)",
                      &st) != 0)
        return false;
    store_bind_text(st, 1, name);
    store_bind_text(st, 2, id);
    bool taken = store_step(st) == 1;
    store_finalize(st);
    return taken;
}

static const char *new_key(struct http_request *req)
{
    unsigned char raw[KEY_BYTES];
    random_bytes(raw, sizeof(raw));
    return base64_encode(req->arena, raw, sizeof(raw));
}

static void write_endpoints(struct http_request *req, struct json_writer *w, const char *name)
{
    static const char *const services[] = {"blob", "dfs", "file", "queue", "table"};
    jw_key(w, "primaryEndpoints");
    jw_object_open(w);
    for (size_t i = 0; i < ARRAY_SIZE(services); i++)
        jw_kv_string(
            w, services[i],
            arena_printf(req->arena, "https://%s.%s.core.windows.net/", name, services[i]));
    jw_kv_string(w, "web", arena_printf(req->arena, "https://%s.z13.web.core.windows.net/", name));
    jw_object_close(w);
}

/* A boolean property as given, else as it was, else its default. */
static bool flag(const struct json *given, const struct json *was, const char *name, bool dflt)
{
    bool v;
    if (json_bool(json_get(given, name), &v) || json_bool(json_get(was, name), &v))
        return v;
    return dflt;
}

static int write_account(struct arm_change *c)
{
    struct http_request *req = c->req;
    const char *name = strrchr(c->id, '/') + 1;
    if (!c->old && name_taken(req, name, c->id))
        return http_fail(req, 409, "StorageAccountAlreadyTaken",
                         "The storage account named %s is already taken.", name);
    const char *sku = one_of(json_string(json_get(json_get(c->resource, "sku"), "name")), skus);
    const char *kind = one_of(json_string(json_get(c->resource, "kind")), kinds);
    if (!sku)
        return http_fail(req, 400, "InvalidRequestPropertyValue",
                         "The value of property 'sku.name' is missing or is not one of Azure's "
                         "storage SKUs (Standard_LRS, Standard_GRS, …).");
    if (!kind)
        return http_fail(req, 400, "InvalidRequestPropertyValue",
                         "The value of property 'kind' is missing or is not one of StorageV2, "
                         "Storage, BlobStorage, BlockBlobStorage, FileStorage.");
    const struct json *p = json_get(c->resource, "properties");
    const struct json *was = json_get(c->old, "properties");
    int64_t now = clock_now_ms();
    char created[40];
    clock_format_iso8601(now, created, sizeof(created));
    const char *creation = json_string(json_get(was, "creationTime"));
    if (!c->old && store_run(req->store,
                             "INSERT INTO storage_account_keys(account, key1, key2, key1_created, "
                             "key2_created) VALUES(?1, ?2, ?3, ?4, ?4)",
                             "sssi", name, new_key(req), new_key(req), now) != 0)
        return http_fail(req, 500, "InternalServerError", "The account keys could not be stored.");

    struct json_writer *w = c->own;
    jw_key(w, "sku");
    jw_object_open(w);
    jw_kv_string(w, "name", sku);
    jw_kv_string(w, "tier", strncmp(sku, "Premium", 7) == 0 ? "Premium" : "Standard");
    jw_object_close(w);
    jw_kv_string(w, "kind", kind);
    jw_key(w, "properties");
    jw_object_open(w);
    jw_kv_string(w, "creationTime", creation ? creation : created);
    write_endpoints(req, w, name);
    jw_kv_string(w, "primaryLocation", json_string(json_get(c->resource, "location")));
    jw_kv_string(w, "statusOfPrimary", "available");
    jw_kv_bool(w, "allowSharedKeyAccess", flag(p, was, "allowSharedKeyAccess", true));
    jw_kv_bool(w, "allowBlobPublicAccess", flag(p, was, "allowBlobPublicAccess", false));
    jw_kv_bool(w, "supportsHttpsTrafficOnly", flag(p, was, "supportsHttpsTrafficOnly", true));
    if (!json_get(p, "minimumTlsVersion"))
        jw_kv_string(w, "minimumTlsVersion", "TLS1_2");
    if (!json_get(p, "accessTier") && strcmp(kind, "StorageV2") == 0)
        jw_kv_string(w, "accessTier", "Hot");
    /* Storage encryption is always on, whatever the request said about it. */
    {
        jw_key(w, "encryption");
        jw_object_open(w);
        if (!json_get(json_get(p, "encryption"), "keySource"))
            jw_kv_string(w, "keySource", "Microsoft.Storage");
        jw_key(w, "services");
        jw_object_open(w);
        jw_key(w, "blob");
        jw_object_open(w);
        jw_kv_bool(w, "enabled", true);
        jw_kv_string(w, "keyType", "Account");
        jw_object_close(w);
        jw_object_close(w);
        jw_object_close(w);
    }
    jw_object_close(w);
    return 0;
}

static int remove_account(struct http_request *req, const struct json *account)
{
    if (store_run(req->store, "DELETE FROM storage_account_keys WHERE account = ?1", "s",
                  json_string(json_get(account, "name"))) != 0)
        return http_fail(req, 500, "InternalServerError", "The account keys could not be deleted.");
    return 0;
}

/* {"keys":[{"keyName","value","permissions","creationTime"}, …]}, as listKeys answers. */
static int reply_keys(struct http_request *req, const char *account)
{
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT key1, key2, key1_created, key2_created FROM storage_account_keys "
                      "WHERE account = ?1",
                      &st) != 0)
        return http_fail(req, 500, "InternalServerError", "The account keys could not be read.");
    store_bind_text(st, 1, account);
    if (store_step(st) != 1) {
        store_finalize(st);
        return http_fail(req, 500, "InternalServerError", "The account has no keys.");
    }
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_key(w, "keys");
    jw_array_open(w);
    for (int i = 0; i < 2; i++) {
        char created[40];
        clock_format_iso8601(store_column_int64(st, 2 + i), created, sizeof(created));
        jw_object_open(w);
        jw_kv_string(w, "keyName", i == 0 ? "key1" : "key2");
        jw_kv_string(w, "value", store_column_text(st, i));
        jw_kv_string(w, "permissions", "FULL");
        jw_kv_string(w, "creationTime", created);
        jw_object_close(w);
    }
    jw_array_close(w);
    jw_object_close(w);
    store_finalize(st);
    return arm_reply(req, 200, w);
}

static int list_keys(struct http_request *req, const char *id, const struct json *account)
{
    (void)id;
    return reply_keys(req, json_string(json_get(account, "name")));
}

/* POST …/regenerateKey {"keyName":"key1"|"key2"}: a new value for that key; the old one stops
 * working at once. */
static int regenerate_key(struct http_request *req, const char *id, const struct json *account)
{
    (void)id;
    const struct json *body = arm_body(req);
    if (!body)
        return AZ_EREPLIED;
    const char *key = json_string(json_get(body, "keyName"));
    if (!key || !(str_ieq(key, "key1") || str_ieq(key, "key2")))
        return http_fail(req, 400, "InvalidRequestPropertyValue",
                         "The value of property 'keyName' must be key1 or key2.");
    bool first = str_ieq(key, "key1");
    const char *name = json_string(json_get(account, "name"));
    if (store_run(req->store,
                  first ? "UPDATE storage_account_keys SET key1 = ?2, key1_created = ?3 WHERE "
                          "account = ?1"
                        : "UPDATE storage_account_keys SET key2 = ?2, key2_created = ?3 WHERE "
                          "account = ?1",
                  "ssi", name, new_key(req), clock_now_ms()) != 0)
        return http_fail(req, 500, "InternalServerError", "The key could not be regenerated.");
    return reply_keys(req, name);
}

static const struct arm_action account_actions[] = {
    {"listKeys", list_keys},
    {"regenerateKey", regenerate_key},
    {NULL, NULL},
};

const struct arm_type arm_storage_accounts = {
    .namespace = "Microsoft.Storage",
    .type = "storageAccounts",
    .api_versions = {"2025-08-01", "2023-05-01", "2022-09-01", "2019-06-01"},
    .flags = ARM_TYPE_CREATED_200,
    .valid_name = valid_account_name,
    .name_rule = "%s is not a valid storage account name. Storage account name must be between 3 "
                 "and 24 characters in length and use numbers and lower-case letters only.",
    .name_code = "AccountNameInvalid",
    .write = write_account,
    .remove = remove_account,
    .actions = account_actions,
};

/* POST /subscriptions/{id}/providers/Microsoft.Storage/checkNameAvailability {"name","type"}. */
int arm_check_storage_name(struct http_request *req)
{
    const struct json *body = arm_body(req);
    if (!body)
        return AZ_EREPLIED;
    const char *name = json_string(json_get(body, "name"));
    if (!name)
        return http_fail(req, 400, "InvalidRequestPropertyValue",
                         "The value of property 'name' is missing.");
    bool valid = valid_account_name(name);
    bool taken = valid && name_taken(req, name, "");
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_bool(w, "nameAvailable", valid && !taken);
    if (!valid) {
        jw_kv_string(w, "reason", "AccountNameInvalid");
        jw_kv_string(w, "message",
                     arena_printf(req->arena,
                                  "%s is not a valid storage account name. Storage account name "
                                  "must be between 3 and 24 characters in length and use numbers "
                                  "and lower-case letters only.",
                                  name));
    } else if (taken) {
        jw_kv_string(w, "reason", "AlreadyExists");
        jw_kv_string(
            w, "message",
            arena_printf(req->arena, "The storage account named %s is already taken.", name));
    }
    jw_object_close(w);
    return arm_reply(req, 200, w);
}
