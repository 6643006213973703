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
#include "storage/storage.h"

#include "common/error.h"
#include "common/json.h"
#include "common/store.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
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
static bool name_taken(struct store *s, const char *name, const char *id)
{
    struct store_stmt *st;
    if (store_prepare(s,
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

static const char *new_key(struct arena *a)
{
    unsigned char raw[KEY_BYTES];
    random_bytes(raw, sizeof(raw));
    return base64_encode(a, raw, sizeof(raw));
}

static void write_endpoints(struct arena *a, struct json_writer *w, const char *name)
{
    static const char *const services[] = {"blob", "dfs", "file", "queue", "table"};
    jw_key(w, "primaryEndpoints");
    jw_object_open(w);
    for (size_t i = 0; i < ARRAY_SIZE(services); i++)
        jw_kv_string(w, services[i],
                     arena_printf(a, "https://%s.%s.core.windows.net/", name, services[i]));
    jw_kv_string(w, "web", arena_printf(a, "https://%s.z13.web.core.windows.net/", name));
    jw_object_close(w);
}

/* What an account is made of, whether a request or the first start (the development account)
 * creates it. */
struct account {
    const char *name, *sku, *kind, *location, *created;
    bool shared_key, public_access, https_only;
    const char *key_source;
    const char *minimum_tls; /* written when set: defaults for members the client left out */
    const char *access_tier;
    const char *provisioning_state; /* written when set: the generic machinery writes it */
};

/* The account's own members: sku, kind and the properties only storage accounts have. */
static void write_account_members(struct arena *a, struct json_writer *w,
                                  const struct account *acct)
{
    jw_key(w, "sku");
    jw_object_open(w);
    jw_kv_string(w, "name", acct->sku);
    jw_kv_string(w, "tier", strncmp(acct->sku, "Premium", 7) == 0 ? "Premium" : "Standard");
    jw_object_close(w);
    jw_kv_string(w, "kind", acct->kind);
    jw_key(w, "properties");
    jw_object_open(w);
    if (acct->provisioning_state)
        jw_kv_string(w, "provisioningState", acct->provisioning_state);
    jw_kv_string(w, "creationTime", acct->created);
    write_endpoints(a, w, acct->name);
    jw_kv_string(w, "primaryLocation", acct->location);
    jw_kv_string(w, "statusOfPrimary", "available");
    jw_kv_bool(w, "allowSharedKeyAccess", acct->shared_key);
    jw_kv_bool(w, "allowBlobPublicAccess", acct->public_access);
    jw_kv_bool(w, "supportsHttpsTrafficOnly", acct->https_only);
    if (acct->minimum_tls)
        jw_kv_string(w, "minimumTlsVersion", acct->minimum_tls);
    if (acct->access_tier)
        jw_kv_string(w, "accessTier", acct->access_tier);
    /* Storage encryption is always on, whatever the request said about it. */
    jw_key(w, "encryption");
    jw_object_open(w);
    jw_kv_string(w, "keySource", acct->key_source);
    jw_key(w, "services");
    jw_object_open(w);
    jw_key(w, "blob");
    jw_object_open(w);
    jw_kv_bool(w, "enabled", true);
    jw_kv_string(w, "keyType", "Account");
    jw_object_close(w); /* blob */
    jw_object_close(w); /* services */
    jw_object_close(w); /* encryption */
    jw_object_close(w); /* properties */
}

/* A boolean property as given, else as it was, else its default. */
static bool flag(const struct json *given, const struct json *was, const char *name, bool dflt)
{
    bool v;
    if (json_bool(json_get(given, name), &v) || json_bool(json_get(was, name), &v))
        return v;
    return dflt;
}

static int store_keys(struct store *s, const char *account, const char *key1, const char *key2)
{
    return store_run(s,
                     "INSERT INTO storage_account_keys(account, key1, key2, key1_created, "
                     "key2_created) VALUES(?1, ?2, ?3, ?4, ?4)",
                     "sssi", account, key1, key2, clock_now_ms());
}

static int write_account(struct arm_change *c)
{
    struct http_request *req = c->req;
    const char *name = strrchr(c->id, '/') + 1;
    if (!c->old && name_taken(req->store, name, c->id))
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
    char created[40];
    clock_format_iso8601(clock_now_ms(), created, sizeof(created));
    const char *creation = json_string(json_get(was, "creationTime"));
    const char *key_source = json_string(json_get(json_get(p, "encryption"), "keySource"));
    if (!c->old && store_keys(req->store, name, new_key(req->arena), new_key(req->arena)) != 0)
        return http_fail(req, 500, "InternalServerError", "The account keys could not be stored.");
    write_account_members(
        req->arena, c->own,
        &(struct account){
            .name = name,
            .sku = sku,
            .kind = kind,
            .location = json_string(json_get(c->resource, "location")),
            .created = creation ? creation : created,
            .shared_key = flag(p, was, "allowSharedKeyAccess", true),
            .public_access = flag(p, was, "allowBlobPublicAccess", false),
            .https_only = flag(p, was, "supportsHttpsTrafficOnly", true),
            .key_source = key_source ? key_source : "Microsoft.Storage",
            .minimum_tls = json_get(p, "minimumTlsVersion") ? NULL : "TLS1_2",
            .access_tier =
                !json_get(p, "accessTier") && strcmp(kind, "StorageV2") == 0 ? "Hot" : NULL,
        });
    return 0;
}

/* The account's keys and its data go with it (the content files at the next start), so a new
 * account of the same name starts empty. */
static int remove_account(struct http_request *req, const struct json *account)
{
    const char *name = json_string(json_get(account, "name"));
    if (store_run(req->store, "DELETE FROM storage_account_keys WHERE account = ?1", "s", name) !=
            0 ||
        blob_remove_account(req->store, name) != 0)
        return http_fail(req, 500, "InternalServerError", "The account could not be deleted.");
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
                  "ssi", name, new_key(req->arena), clock_now_ms()) != 0)
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
    bool taken = valid && name_taken(req->store, name, "");
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

/* ---- the development account ---------------------------------------------------------------- */

/* Azurite's account and key, published by Microsoft for every emulator user: projects that use
 * "UseDevelopmentStorage=true" or this pair find the same account in azsim. */
#define DEV_ACCOUNT "devstoreaccount1"
#define DEV_KEY                                                                                    \
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
#define DEV_GROUP "development-storage"
#define DEV_LOCATION "eastus"

int arm_storage_bootstrap(struct store *s, const char *subscription)
{
    char *done = NULL;
    if (store_meta_get(s, "development_account", &done) == 0) {
        free(done);
        return 0; /* made once: deleting it is the user's choice */
    }
    int rc = store_meta_set(s, "development_account", DEV_ACCOUNT);
    if (rc != 0 || name_taken(s, DEV_ACCOUNT, ""))
        return rc;
    struct arena *a = arena_new();
    const char *id = arena_printf(
        a, "/subscriptions/%s/resourceGroups/" DEV_GROUP "/providers/" ACCOUNT_TYPE "/" DEV_ACCOUNT,
        subscription);
    char created[40], etag[37];
    clock_format_iso8601(clock_now_ms(), created, sizeof(created));
    uuid_v4(etag);
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_string(w, "id", id);
    jw_kv_string(w, "name", DEV_ACCOUNT);
    jw_kv_string(w, "type", ACCOUNT_TYPE);
    jw_kv_string(w, "location", DEV_LOCATION);
    jw_key(w, "tags");
    jw_object_open(w);
    jw_object_close(w);
    write_account_members(a, w,
                          &(struct account){
                              .name = DEV_ACCOUNT,
                              .sku = "Standard_LRS",
                              .kind = "StorageV2",
                              .location = DEV_LOCATION,
                              .created = created,
                              .shared_key = true,
                              .public_access = true, /* as in Azurite */
                              .https_only = false,
                              .key_source = "Microsoft.Storage",
                              .minimum_tls = "TLS1_2",
                              .access_tier = "Hot",
                              .provisioning_state = "Succeeded",
                          });
    jw_object_close(w);
    rc = store_run(s,
                   "INSERT OR IGNORE INTO resource_groups(subscription_id, name, location, "
                   "created_at) VALUES(?1, '" DEV_GROUP "', '" DEV_LOCATION "', ?2)",
                   "si", subscription, clock_now_ms());
    if (rc == 0)
        rc = store_run(
            s,
            "INSERT INTO resources(id, subscription_id, resource_group, type, name, "
            "location, tags, body, etag, created_at, changed_at) VALUES(?1, ?2, '" DEV_GROUP
            "', '" ACCOUNT_TYPE "', '" DEV_ACCOUNT "', '" DEV_LOCATION "', '{}', ?3, ?4, ?5, ?5)",
            "ssssi", id, subscription, json_writer_text(w, NULL), arena_printf(a, "W/\"%s\"", etag),
            clock_now_ms());
    if (rc == 0)
        rc = store_keys(s, DEV_ACCOUNT, DEV_KEY, new_key(a));
    json_writer_free(w);
    arena_free(a);
    return rc;
}
