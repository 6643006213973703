/*
 * arm/keyvault.c — Microsoft.KeyVault/vaults: the vault resource, its access policies operation,
 * and soft-deleted vaults (listed, recovered with createMode "recover", purged).
 *
 * Vault names are global, as their DNS names are: no two vaults, and no vault and a soft-deleted
 * one, share a name. The data plane (keyvault/) finds a vault by the first label of the host
 * name it was called on, reads its tenant, its access model and its access policies from the
 * resource, and keeps its secrets and keys under its name — so a recovered vault has them back and
 * a purged one loses them.
 */
#include "arm/arm.h"

#include "common/error.h"
#include "common/json.h"
#include "common/store.h"
#include "common/util.h"
#include "keyvault/keyvault.h"

#include <stdio.h>
#include <string.h>

#define VAULT_TYPE "Microsoft.KeyVault/vaults"
#define VAULT_API_VERSIONS                                                                         \
    {                                                                                              \
        "2026-02-01", "2023-07-01", "2022-07-01", "2016-10-01"                                     \
    }
#define DAY_MS (86400 * (int64_t)1000)

/* 3-24 letters, digits and hyphens; a letter first, a letter or digit last, no "--". */
static bool valid_vault_name(const char *name)
{
    size_t n = strlen(name);
    if (n < 3 || n > 24 || !((name[0] | 0x20) >= 'a' && (name[0] | 0x20) <= 'z') ||
        name[n - 1] == '-' || strstr(name, "--"))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-'))
            return false;
    }
    return true;
}

/* Is another vault, live or soft-deleted, called `name`? 1 live, 2 deleted, 0 neither. */
static int name_taken(struct http_request *req, const char *name, const char *id)
{
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT 1 FROM resources WHERE type = '" VAULT_TYPE "' AND name = ?1 AND "
                      "lower(id) <> lower(?2) UNION ALL "
                      "SELECT 2 FROM deleted_vaults WHERE name = ?1",
                      &st) != 0)
        return 0;
    store_bind_text(st, 1, name);
    store_bind_text(st, 2, id);
    int taken = store_step(st) == 1 ? (int)store_column_int64(st, 0) : 0;
    store_finalize(st);
    return taken;
}

/* A soft-deleted vault being recovered (createMode "recover"): its properties come back, and its
 * row in deleted_vaults goes. NULL when there is none. */
static const struct json *take_deleted(struct http_request *req, const char *name)
{
    struct store_stmt *st;
    const struct json *body = NULL;
    if (store_prepare(req->store, "SELECT body FROM deleted_vaults WHERE name = ?1", &st) != 0)
        return NULL;
    store_bind_text(st, 1, name);
    if (store_step(st) == 1) {
        const char *text = store_column_text(st, 0);
        body = json_parse_in(req->arena, text, strlen(text));
    }
    store_finalize(st);
    if (body && store_run(req->store, "DELETE FROM deleted_vaults WHERE name = ?1", "s", name) != 0)
        return NULL;
    return body;
}

static int bad_parameter(struct http_request *req, const char *message)
{
    return http_fail(req, 400, "BadRequest", "%s", message);
}

/* Access policies as Key Vault stores them: each with a tenant, an object id and permissions. */
static int check_access_policies(struct http_request *req, const struct json *policies)
{
    if (json_type(policies) == JSON_NONE || json_type(policies) == JSON_NULL)
        return 0;
    if (json_type(policies) != JSON_ARRAY || json_len(policies) > 1024)
        return bad_parameter(req, "The parameter accessPolicies must be an array of at most 1024 "
                                  "access policies.");
    for (size_t i = 0; i < json_len(policies); i++) {
        const struct json *p = json_at(policies, i);
        if (!uuid_valid(json_string(json_get(p, "tenantId"))) ||
            !json_string(json_get(p, "objectId")) ||
            json_type(json_get(p, "permissions")) != JSON_OBJECT)
            return bad_parameter(req, "An access policy needs a tenantId (a GUID), an objectId "
                                      "and permissions.");
    }
    return 0;
}

static int write_vault(struct arm_change *c)
{
    struct http_request *req = c->req;
    const char *name = strrchr(c->id, '/') + 1;
    const struct json *p = json_get(c->resource, "properties");
    const char *mode = json_string(json_get(p, "createMode"));
    const struct json *recovered = NULL;
    if (!c->old) {
        int taken = name_taken(req, name, c->id);
        if (taken == 1)
            return http_fail(req, 409, "VaultAlreadyExists",
                             "The vault name '%s' is already in use. Vault names are globally "
                             "unique so it is possible that the name is already taken.",
                             name);
        if (taken == 2 && !(mode && str_ieq(mode, "recover")))
            return http_fail(req, 409, "ConflictError",
                             "A vault with the same name already exists in deleted state. You "
                             "need to either recover or purge existing key vault.");
        if (mode && str_ieq(mode, "recover") &&
            !(recovered = json_get(take_deleted(req, name), "properties")))
            return http_fail(req, 404, "ResourceNotFound",
                             "The deleted vault '%s' could not be found.", name);
    }
    const struct json *given = recovered ? recovered : p;
    if (!uuid_valid(json_string(json_get(given, "tenantId"))))
        return bad_parameter(req, "The parameter properties.tenantId is required and must be a "
                                  "GUID.");
    const char *sku = json_string(json_get(json_get(given, "sku"), "name"));
    if (!sku || !(str_ieq(sku, "standard") || str_ieq(sku, "premium")))
        return bad_parameter(req, "The parameter properties.sku.name must be 'standard' or "
                                  "'premium'.");
    if (check_access_policies(req, json_get(given, "accessPolicies")) != 0)
        return AZ_EREPLIED;
    bool purge_protection = false, was_protected = false, flag;
    json_bool(json_get(given, "enablePurgeProtection"), &purge_protection);
    json_bool(json_get(json_get(c->old, "properties"), "enablePurgeProtection"), &was_protected);
    if (was_protected && json_get(given, "enablePurgeProtection") && !purge_protection)
        return bad_parameter(req, "Purge protection cannot be disabled once it is enabled.");
    int64_t retention = 90;
    if (json_get(given, "softDeleteRetentionInDays") &&
        (!json_int(json_get(given, "softDeleteRetentionInDays"), &retention) || retention < 7 ||
         retention > 90))
        return bad_parameter(req, "The parameter softDeleteRetentionInDays must be between 7 and "
                                  "90.");

    struct json_writer *w = c->own;
    jw_key(w, "properties");
    jw_object_open(w);
    if (recovered) { /* the deleted vault's properties, as they were */
        for (size_t i = 0; i < json_len(recovered); i++) {
            jw_key(w, json_key_at(recovered, i));
            jw_value(w, json_at(recovered, i));
        }
        jw_key(w, "createMode");
        jw_null(w);
        jw_object_close(w);
        return 0;
    }
    jw_kv_string(w, "vaultUri", arena_printf(req->arena, "https://%s.vault.azure.net/", name));
    jw_kv_bool(w, "enableSoftDelete",
               json_bool(json_get(given, "enableSoftDelete"), &flag) ? flag : true);
    jw_kv_int(w, "softDeleteRetentionInDays", retention);
    jw_kv_bool(w, "enableRbacAuthorization",
               json_bool(json_get(given, "enableRbacAuthorization"), &flag) && flag);
    if (was_protected || purge_protection)
        jw_kv_bool(w, "enablePurgeProtection", true);
    if (!json_get(given, "accessPolicies")) {
        jw_key(w, "accessPolicies");
        jw_array_open(w);
        jw_array_close(w);
    }
    jw_key(w, "createMode");
    jw_null(w); /* how it was made is not part of the vault */
    jw_object_close(w);
    return 0;
}

/* Deleting a vault soft-deletes it when it says so: its name stays taken and its secrets and
 * keys stay until it is purged or recovered. Otherwise they go at once. */
static int remove_vault(struct http_request *req, const struct json *vault)
{
    const struct json *p = json_get(vault, "properties");
    bool soft = true;
    json_bool(json_get(p, "enableSoftDelete"), &soft);
    const char *name = json_string(json_get(vault, "name"));
    int64_t days = 90, now = clock_now_ms();
    json_int(json_get(p, "softDeleteRetentionInDays"), &days);
    struct json_writer *w = json_writer_new();
    jw_value(w, vault);
    int rc =
        soft
            ? store_run(req->store,
                        "INSERT INTO deleted_vaults(name, id, subscription_id, location, "
                        "body, deleted_at, purge_at) VALUES(?1, ?2, lower(?3), ?4, ?5, ?6, ?7)",
                        "sssssii", name, json_string(json_get(vault, "id")),
                        http_param(req, "subscriptionId"), json_string(json_get(vault, "location")),
                        json_writer_text(w, NULL), now, now + days * DAY_MS)
            : store_run(req->store, "DELETE FROM vault_objects WHERE vault = ?1", "s", name);
    if (rc == 0 && !soft)
        rc = store_run(req->store, "DELETE FROM vault_deleted_objects WHERE vault = ?1", "s", name);
    json_writer_free(w);
    return rc == 0 ? 0
                   : http_fail(req, 500, "InternalServerError", "The vault could not be deleted.");
}

const struct arm_type arm_key_vaults = {
    .namespace = "Microsoft.KeyVault",
    .type = "vaults",
    .api_versions = VAULT_API_VERSIONS,
    .valid_name = valid_vault_name,
    .name_rule = "The vault name '%s' is invalid. A vault's name must be between 3-24 "
                 "alphanumeric characters. The name must begin with a letter, end with a letter "
                 "or digit, and not contain consecutive hyphens.",
    .name_code = "VaultNameNotValid",
    .write = write_vault,
    .remove = remove_vault,
};

/* ---- secrets through Resource Manager ------------------------------------------------------
 *
 * Microsoft.KeyVault/vaults/secrets: how templates and seed files put a secret in a vault with
 * only a control-plane role (Contributor can; no data action is involved). A write with a value
 * is a new version on the data plane; one without changes the latest version's contentType,
 * attributes and tags. Resource Manager never answers the value.
 */

#define SECRETS_COLLECTION "secrets"

static bool valid_secret_name(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n > 127)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
              (name[i] >= '0' && name[i] <= '9') || name[i] == '-'))
            return false;
    return true;
}

static int write_secret(struct arm_change *c)
{
    struct http_request *req = c->req;
    const char *vault = json_string(json_get(c->parent, "name"));
    const char *name = strrchr(c->id, '/') + 1;
    const struct json *p = json_get(c->resource, "properties");
    const struct json *value = json_get(p, "value");
    const struct json *type = json_get(p, "contentType");
    if (value && (json_type(value) != JSON_STRING || strlen(json_string(value)) > 25600))
        return bad_parameter(req, "The parameter properties.value must be a string of at most "
                                  "25600 characters.");
    if (type && json_type(type) != JSON_STRING && json_type(type) != JSON_NULL)
        return bad_parameter(req, "The parameter properties.contentType must be a string.");
    if (kv_check_properties(req, p) != 0)
        return AZ_EREPLIED;
    int64_t deleted_at, purge_at;
    if (kv_object_deleted_in(req, vault, SECRETS_COLLECTION, name, &deleted_at, &purge_at) == 0)
        return http_fail(req, 409, "Conflict",
                         "Secret %s is currently in a deleted but recoverable state, and its name "
                         "cannot be reused; in this state, the secret can only be recovered or "
                         "purged.",
                         name);
    struct kv_object latest = {0};
    kv_object_get_in(req, vault, SECRETS_COLLECTION, name, NULL, &latest);
    const char *version = latest.version;
    const struct json *was = latest.body;
    /* The value it has already: a deployment run again makes no new version. */
    if (value && was && strcmp(json_string(value), json_string(json_get(was, "value"))) == 0)
        value = NULL;
    if (!value && !was)
        return bad_parameter(req, "The parameter properties.value is required to create a "
                                  "secret.");

    /* The data plane's version: value, contentType, then tags and attributes over the last. */
    struct json_writer *body = json_writer_new();
    jw_object_open(body);
    jw_kv_string(body, "value", value ? json_string(value) : json_string(json_get(was, "value")));
    jw_key(body, "contentType");
    jw_value(body, type ? type : json_get(was, "contentType"));
    /* ARM's tags are the resource's, beside properties; the data plane keeps them per version. */
    struct json_writer *props = json_writer_new();
    jw_object_open(props);
    jw_key(props, "tags");
    jw_value(props, json_get(c->resource, "tags"));
    jw_key(props, "attributes");
    jw_value(props, json_get(p, "attributes"));
    jw_object_close(props);
    const char *props_text = json_writer_text(props, NULL);
    const struct json *given = json_parse_in(req->arena, props_text, strlen(props_text));
    kv_write_properties(req, body, given, value ? NULL : was);
    jw_object_close(body);
    const char *text = json_writer_text(body, NULL);
    char fresh[33];
    int rc = value ? kv_object_insert(req->store, vault, SECRETS_COLLECTION, name, text, fresh)
                   : store_run(req->store,
                               "UPDATE vault_objects SET body = ?4 WHERE vault = ?1 AND "
                               "collection = '" SECRETS_COLLECTION "' AND name = ?2 AND "
                               "version = ?3",
                               "ssss", vault, name, version, text);
    const struct json *stored = json_parse_in(req->arena, text, strlen(text));
    json_writer_free(props);
    json_writer_free(body);
    if (rc != 0)
        return http_fail(req, 500, "InternalServerError", "The secret could not be saved.");
    if (value)
        version = arena_strdup(req->arena, fresh);

    const char *uri = json_string(json_get(json_get(c->parent, "properties"), "vaultUri"));
    const char *base = arena_printf(req->arena, "%.*ssecrets/%s", uri ? (int)strlen(uri) : 0,
                                    uri ? uri : "", name);
    struct json_writer *w = c->own;
    jw_key(w, "properties");
    jw_object_open(w);
    jw_key(w, "value");
    jw_null(w); /* never answered, never kept in the resource */
    const struct json *attrs = json_get(stored, "attributes");
    jw_key(w, "attributes");
    jw_object_open(w);
    for (size_t i = 0; i < json_len(attrs); i++) {
        jw_key(w, json_key_at(attrs, i));
        jw_value(w, json_at(attrs, i));
    }
    jw_object_close(w);
    jw_kv_string(w, "secretUri", base);
    jw_kv_string(w, "secretUriWithVersion", arena_printf(req->arena, "%s/%s", base, version));
    jw_object_close(w);
    return 0;
}

const struct arm_type arm_vault_secrets = {
    .namespace = "Microsoft.KeyVault",
    .type = "vaults/secrets",
    .api_versions = VAULT_API_VERSIONS,
    .flags = ARM_TYPE_NO_LOCATION,
    .valid_name = valid_secret_name,
    .name_rule = "The secret name '%s' is invalid. A secret's name must be 1-127 letters, digits "
                 "and dashes.",
    .write = write_secret,
};

/* ---- the access policies operation ----------------------------------------------------------- */

/* Is policy `p` for the same tenant and object (and application) as `q`? */
static bool same_principal(const struct json *p, const struct json *q)
{
    const char *a = json_string(json_get(p, "applicationId"));
    const char *b = json_string(json_get(q, "applicationId"));
    return str_ieq(json_string(json_get(p, "tenantId")), json_string(json_get(q, "tenantId"))) &&
           str_ieq(json_string(json_get(p, "objectId")), json_string(json_get(q, "objectId"))) &&
           ((!a && !b) || (a && b && str_ieq(a, b)));
}

/* The permissions of `p` with `change` added (add) or taken away (remove), per kind. */
static void write_permissions(struct json_writer *w, const struct json *p,
                              const struct json *change, bool add)
{
    static const char *const kinds[] = {"keys", "secrets", "certificates", "storage"};
    const struct json *have = json_get(p, "permissions");
    const struct json *delta = json_get(change, "permissions");
    jw_object_open(w);
    for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
        const struct json *mine = json_get(have, kinds[k]);
        const struct json *more = json_get(delta, kinds[k]);
        if (!mine && !more)
            continue;
        jw_key(w, kinds[k]);
        jw_array_open(w);
        for (size_t i = 0; i < json_len(mine); i++) {
            const char *perm = json_string(json_at(mine, i));
            bool listed = false;
            for (size_t j = 0; perm && j < json_len(more); j++)
                listed |= str_ieq(perm, json_string(json_at(more, j)));
            if (perm && (add || !listed))
                jw_string(w, perm);
        }
        for (size_t j = 0; add && j < json_len(more); j++) {
            const char *perm = json_string(json_at(more, j));
            bool listed = false;
            for (size_t i = 0; perm && i < json_len(mine); i++)
                listed |= str_ieq(perm, json_string(json_at(mine, i)));
            if (perm && !listed)
                jw_string(w, perm);
        }
        jw_array_close(w);
    }
    jw_object_close(w);
}

/* The vault's policies after `kind` (add, replace, remove) of `changes`. */
static void write_policies(struct json_writer *w, const struct json *current,
                           const struct json *changes, const char *kind)
{
    bool add = str_ieq(kind, "add"), replace = str_ieq(kind, "replace");
    jw_array_open(w);
    for (size_t i = 0; i < json_len(current); i++) {
        const struct json *p = json_at(current, i);
        const struct json *change = NULL;
        for (size_t j = 0; !change && j < json_len(changes); j++)
            change = same_principal(p, json_at(changes, j)) ? json_at(changes, j) : NULL;
        if (!change) {
            jw_value(w, p);
            continue;
        }
        jw_object_open(w);
        for (size_t k = 0; k < json_len(p); k++) {
            if (strcmp(json_key_at(p, k), "permissions") == 0)
                continue;
            jw_key(w, json_key_at(p, k));
            jw_value(w, json_at(p, k));
        }
        jw_key(w, "permissions");
        if (replace)
            jw_value(w, json_get(change, "permissions"));
        else
            write_permissions(w, p, change, add);
        jw_object_close(w);
    }
    /* Principals the vault had no policy for get one (add, replace). */
    for (size_t j = 0; !str_ieq(kind, "remove") && j < json_len(changes); j++) {
        bool known = false;
        for (size_t i = 0; i < json_len(current); i++)
            known |= same_principal(json_at(current, i), json_at(changes, j));
        if (!known)
            jw_value(w, json_at(changes, j));
    }
    jw_array_close(w);
}

/* PUT …/vaults/{vaultName}/accessPolicies/{add|replace|remove}. */
int arm_update_access_policies(struct http_request *req)
{
    const char *kind = http_param(req, "operationKind");
    if (!str_ieq(kind, "add") && !str_ieq(kind, "replace") && !str_ieq(kind, "remove"))
        return bad_parameter(req, "The access policy operation must be add, replace or remove.");
    const char *id =
        arena_printf(req->arena, "/subscriptions/%s/resourceGroups/%s/providers/" VAULT_TYPE "/%s",
                     http_param(req, "subscriptionId"), http_param(req, "resourceGroupName"),
                     http_param(req, "vaultName"));
    if (arm_authorize_at(req, "Microsoft.KeyVault/vaults/accessPolicies/write", id) != 0 ||
        arm_require_resource_group(req) != 0)
        return AZ_EREPLIED;
    const struct json *body = arm_body(req);
    if (!body)
        return AZ_EREPLIED;
    const struct json *changes = json_get(json_get(body, "properties"), "accessPolicies");
    const struct json *vault;
    if (check_access_policies(req, changes) != 0)
        return AZ_EREPLIED;
    int rc = arm_resource_load(req, id, &vault);
    if (rc == AZ_ENOTFOUND)
        return http_fail(req, 404, "ResourceNotFound",
                         "The Resource '" VAULT_TYPE "/%s' under resource group '%s' was not "
                         "found.",
                         http_param(req, "vaultName"), http_param(req, "resourceGroupName"));
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_key(w, "properties");
    jw_object_open(w);
    jw_key(w, "accessPolicies");
    write_policies(w, json_get(json_get(vault, "properties"), "accessPolicies"), changes, kind);
    jw_object_close(w);
    jw_object_close(w);
    size_t len;
    const char *text = json_writer_text(w, &len);
    const struct json *patch = json_parse_in(req->arena, text, len);
    json_writer_free(w);
    const struct json *saved;
    if (arm_resource_update(req, json_string(json_get(vault, "id")), patch, &saved) != 0)
        return AZ_EREPLIED;
    w = json_writer_new();
    jw_object_open(w);
    jw_kv_string(w, "id", arena_printf(req->arena, "%s/accessPolicies/%s", id, kind));
    jw_kv_string(w, "name", kind);
    jw_kv_string(w, "type", "Microsoft.KeyVault/vaults/accessPolicies");
    jw_kv_string(w, "location", json_string(json_get(saved, "location")));
    jw_key(w, "properties");
    jw_object_open(w);
    jw_key(w, "accessPolicies");
    jw_value(w, json_get(json_get(saved, "properties"), "accessPolicies"));
    jw_object_close(w);
    jw_object_close(w);
    return arm_reply(req, 200, w);
}

/* ---- soft-deleted vaults --------------------------------------------------------------------- */

static void write_deleted_vault(struct http_request *req, struct json_writer *w,
                                struct store_stmt *st)
{
    const char *name = store_column_text(st, 0);
    const char *location = store_column_text(st, 3);
    const char *body = store_column_text(st, 4);
    const struct json *vault = json_parse_in(req->arena, body, strlen(body));
    char deleted[40], purge[40];
    clock_format_iso8601(store_column_int64(st, 5), deleted, sizeof(deleted));
    clock_format_iso8601(store_column_int64(st, 6), purge, sizeof(purge));
    bool protected = false;
    json_bool(json_get(json_get(vault, "properties"), "enablePurgeProtection"), &protected);
    jw_object_open(w);
    jw_kv_string(w, "id",
                 arena_printf(req->arena,
                              "/subscriptions/%s/providers/Microsoft.KeyVault/locations/%s/"
                              "deletedVaults/%s",
                              store_column_text(st, 2), location, name));
    jw_kv_string(w, "name", name);
    jw_kv_string(w, "type", "Microsoft.KeyVault/deletedVaults");
    jw_key(w, "properties");
    jw_object_open(w);
    jw_kv_string(w, "vaultId", store_column_text(st, 1));
    jw_kv_string(w, "location", location);
    jw_kv_string(w, "deletionDate", deleted);
    jw_kv_string(w, "scheduledPurgeDate", purge);
    jw_key(w, "tags");
    jw_value(w, json_get(vault, "tags"));
    jw_kv_bool(w, "purgeProtectionEnabled", protected);
    jw_object_close(w);
    jw_object_close(w);
}

#define DELETED_VAULTS                                                                             \
    "SELECT name, id, subscription_id, location, body, deleted_at, purge_at FROM deleted_vaults "  \
    "WHERE subscription_id = lower(?1) AND (?2 IS NULL OR name = ?2) AND "                         \
    "(?3 IS NULL OR location = lower(?3)) ORDER BY name"

/* The subscription's deleted vaults (all, or the one the path names), in a prepared statement. */
static struct store_stmt *deleted_vaults(struct http_request *req)
{
    struct store_stmt *st;
    if (store_prepare(req->store, DELETED_VAULTS, &st) != 0)
        return NULL;
    store_bind_text(st, 1, http_param(req, "subscriptionId"));
    store_bind_text(st, 2, http_param(req, "vaultName"));
    store_bind_text(st, 3, http_param(req, "location"));
    return st;
}

int arm_list_deleted_vaults(struct http_request *req)
{
    struct store_stmt *st = deleted_vaults(req);
    if (!st)
        return http_fail(req, 500, "InternalServerError", "The store could not be read.");
    struct json_writer *w = json_writer_new();
    jw_list_open(w);
    while (store_step(st) == 1)
        write_deleted_vault(req, w, st);
    jw_list_close(w);
    store_finalize(st);
    return arm_reply(req, 200, w);
}

static int fail_no_deleted_vault(struct http_request *req)
{
    return http_fail(req, 404, "ResourceNotFound",
                     "The deleted vault '%s' could not be found in location '%s'.",
                     http_param(req, "vaultName"), http_param(req, "location"));
}

int arm_get_deleted_vault(struct http_request *req)
{
    struct store_stmt *st = deleted_vaults(req);
    if (!st)
        return http_fail(req, 500, "InternalServerError", "The store could not be read.");
    struct json_writer *w = json_writer_new();
    bool found = store_step(st) == 1;
    if (found)
        write_deleted_vault(req, w, st);
    store_finalize(st);
    if (!found) {
        json_writer_free(w);
        return fail_no_deleted_vault(req);
    }
    return arm_reply(req, 200, w);
}

/* Purge: the vault's name is free again and its secrets and keys are gone — unless purge
 * protection holds it until its scheduled purge date. */
int arm_purge_deleted_vault(struct http_request *req)
{
    struct store_stmt *st = deleted_vaults(req);
    if (!st)
        return http_fail(req, 500, "InternalServerError", "The store could not be read.");
    bool found = store_step(st) == 1;
    bool protected = false;
    int64_t purge_at = found ? store_column_int64(st, 6) : 0;
    if (found) {
        const char *body = store_column_text(st, 4);
        json_bool(json_get(json_get(json_parse_in(req->arena, body, strlen(body)), "properties"),
                           "enablePurgeProtection"),
                  &protected);
    }
    store_finalize(st);
    if (!found)
        return fail_no_deleted_vault(req);
    if (protected && clock_now_ms() < purge_at)
        return http_fail(req, 409, "Conflict",
                         "Vault '%s' cannot be purged: purge protection is enabled, so it stays "
                         "deleted until its scheduled purge date.",
                         http_param(req, "vaultName"));
    const char *name = http_param(req, "vaultName");
    int rc = store_begin(req->store);
    if (rc == 0)
        rc = store_run(req->store, "DELETE FROM deleted_vaults WHERE name = ?1", "s", name);
    if (rc == 0)
        rc = store_run(req->store, "DELETE FROM vault_objects WHERE vault = ?1", "s", name);
    if (rc == 0)
        rc = store_run(req->store, "DELETE FROM vault_deleted_objects WHERE vault = ?1", "s", name);
    if (rc == 0)
        rc = store_commit(req->store);
    if (rc != 0) {
        store_rollback(req->store);
        return http_fail(req, 500, "InternalServerError", "The vault could not be purged.");
    }
    return http_reply(req, 200, NULL, "", 0);
}

/* GET …/deletedManagedHSMs: azsim serves no managed HSMs, so there are never deleted ones (az
 * asks whenever `az keyvault list-deleted` is not told the resource type). */
int arm_list_deleted_managed_hsms(struct http_request *req)
{
    struct json_writer *w = json_writer_new();
    jw_list_open(w);
    jw_list_close(w);
    return arm_reply(req, 200, w);
}
