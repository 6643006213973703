/*
 * arm/blob_containers.c — Microsoft.Storage/storageAccounts/blobServices (the one "default"
 * service of an account) and blobServices/containers: Blob containers through Resource Manager
 * (BlobContainers_Create/Get/Update/Delete/List), as `az storage container-rm`, Terraform and
 * the management SDKs use them.
 *
 * The Blob data plane's own rows are the containers: what ARM creates, the data plane lists, and
 * a container made with the data plane's PUT ?restype=container is one ARM shows. So these are
 * not generic resources (arm/resources.c): they are read and written where the data plane keeps
 * them, and deleting one deletes its blobs.
 *
 * Not emulated: immutability policies, legal holds, soft delete and restore of containers, blob
 * service properties other than what GET answers by default.
 */
#include "arm/arm.h"
#include "storage/storage.h"

#include "common/error.h"
#include "common/json.h"
#include "common/server.h"
#include "common/store.h"
#include "common/util.h"

#include <string.h>

#define ACCOUNTS "Microsoft.Storage/storageAccounts"
#define SERVICES ACCOUNTS "/blobServices"
#define CONTAINERS SERVICES "/containers"

/* ---- where a request points ------------------------------------------------------------------ */

static const char *account_id(struct http_request *req)
{
    return arena_printf(req->arena, "/subscriptions/%s/resourceGroups/%s/providers/" ACCOUNTS "/%s",
                        http_param(req, "subscriptionId"), http_param(req, "resourceGroupName"),
                        http_param(req, "accountName"));
}

static const char *service_id(struct http_request *req)
{
    return arena_printf(req->arena, "%s/blobServices/default", account_id(req));
}

/* RBAC for `action` at `scope`, then the account (and the service name, always "default"):
 * 0, or the request failed. */
static int begin(struct http_request *req, const char *action, const char *scope)
{
    if (arm_require_api_version(req) != 0 || arm_authorize_at(req, action, scope) != 0 ||
        arm_require_resource_group(req) != 0)
        return AZ_EREPLIED;
    const struct json *account;
    int rc = arm_resource_load(req, account_id(req), &account);
    if (rc == AZ_ENOTFOUND)
        return http_fail(req, 404, "ResourceNotFound",
                         "The Resource '" ACCOUNTS "/%s' under resource group '%s' was not found. "
                         "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
                         http_param(req, "accountName"), http_param(req, "resourceGroupName"));
    if (rc != 0)
        return http_fail(req, 500, "InternalServerError", "The resource store failed.");
    const char *service = http_param(req, "blobServicesName");
    if (service && strcmp(service, "default") != 0)
        return http_fail(req, 400, "InvalidResourceName",
                         "The resource name '%s' is invalid: the Blob service of an account is "
                         "called 'default'.",
                         service);
    return 0;
}

/* ---- the blob service ------------------------------------------------------------------------ */

static void write_service(struct http_request *req, struct json_writer *w)
{
    jw_object_open(w);
    jw_kv_string(w, "id", service_id(req));
    jw_kv_string(w, "name", "default");
    jw_kv_string(w, "type", SERVICES);
    jw_key(w, "sku");
    jw_object_open(w);
    jw_kv_string(w, "name", "Standard_LRS");
    jw_kv_string(w, "tier", "Standard");
    jw_object_close(w);
    jw_key(w, "properties");
    jw_object_open(w);
    jw_key(w, "cors");
    jw_object_open(w);
    jw_key(w, "corsRules");
    jw_array_open(w);
    jw_array_close(w);
    jw_object_close(w);
    jw_key(w, "deleteRetentionPolicy");
    jw_object_open(w);
    jw_kv_bool(w, "enabled", false);
    jw_kv_bool(w, "allowPermanentDelete", false);
    jw_object_close(w);
    jw_object_close(w);
    jw_object_close(w);
}

/* GET …/blobServices/default */
int arm_get_blob_service(struct http_request *req)
{
    if (begin(req, SERVICES "/read", service_id(req)) != 0)
        return AZ_EREPLIED;
    struct json_writer *w = json_writer_new();
    write_service(req, w);
    return arm_reply(req, 200, w);
}

/* GET …/blobServices */
int arm_list_blob_services(struct http_request *req)
{
    if (begin(req, SERVICES "/read", account_id(req)) != 0)
        return AZ_EREPLIED;
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_key(w, "value");
    jw_array_open(w);
    write_service(req, w);
    jw_array_close(w);
    jw_object_close(w);
    return arm_reply(req, 200, w);
}

/* ---- containers ------------------------------------------------------------------------------ */

#define CONTAINER_COLUMNS                                                                          \
    "name, public_access, metadata, etag, modified, lease_id, coalesce(lease_duration, -1), "      \
    "coalesce(lease_ends, 0), lease_broken"

/* "Leased", "Locked" and "Infinite": the data plane's words, as ARM spells them. */
static const char *capitalized(struct http_request *req, const char *word)
{
    char *out = arena_strdup(req->arena, word);
    if (*out >= 'a' && *out <= 'z')
        *out = (char)(*out - 32);
    return out;
}

/* One container from a row of CONTAINER_COLUMNS. */
static void write_container(struct http_request *req, struct json_writer *w, struct store_stmt *st)
{
    const char *name = store_column_text(st, 0);
    const char *access = store_column_text(st, 1);
    const char *metadata = store_column_text(st, 2);
    char modified[40];
    clock_format_iso8601(store_column_int64(st, 4), modified, sizeof(modified));
    struct blob_lease_view lease;
    blob_lease_describe(store_column_text(st, 5), store_column_int64(st, 6),
                        store_column_int64(st, 7), store_column_int64(st, 8) != 0, &lease);
    jw_object_open(w);
    jw_kv_string(w, "id", arena_printf(req->arena, "%s/containers/%s", service_id(req), name));
    jw_kv_string(w, "name", name);
    jw_kv_string(w, "type", CONTAINERS);
    jw_kv_string(w, "etag", store_column_text(st, 3));
    jw_key(w, "properties");
    jw_object_open(w);
    jw_kv_string(w, "publicAccess", access ? capitalized(req, access) : "None");
    jw_kv_string(w, "leaseStatus", capitalized(req, lease.status));
    jw_kv_string(w, "leaseState", capitalized(req, lease.state));
    if (lease.duration)
        jw_kv_string(w, "leaseDuration", capitalized(req, lease.duration));
    jw_kv_string(w, "lastModifiedTime", modified);
    jw_key(w, "metadata");
    jw_value(w, json_parse_in(req->arena, metadata, strlen(metadata)));
    jw_kv_bool(w, "hasImmutabilityPolicy", false);
    jw_kv_bool(w, "hasLegalHold", false);
    jw_kv_string(w, "defaultEncryptionScope", "$account-encryption-key");
    jw_kv_bool(w, "denyEncryptionScopeOverride", false);
    jw_kv_bool(w, "deleted", false);
    jw_kv_int(w, "remainingRetentionDays", 0);
    jw_object_close(w);
    jw_object_close(w);
}

/* Reply with container `name` of the request's account, or with the list of them all when
 * `name` is NULL: 0, or the request failed (404 for a missing container). */
static int reply_containers(struct http_request *req, int status, const char *name)
{
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT " CONTAINER_COLUMNS " FROM blob_containers WHERE account = ?1 AND "
                      "(?2 IS NULL OR name = ?2) ORDER BY name",
                      &st) != 0)
        return http_fail(req, 500, "InternalServerError", "The resource store failed.");
    store_bind_text(st, 1, http_param(req, "accountName"));
    store_bind_text(st, 2, name);
    struct json_writer *w = json_writer_new();
    if (name) {
        bool found = store_step(st) == 1;
        if (found)
            write_container(req, w, st);
        store_finalize(st);
        if (!found) {
            json_writer_free(w);
            return http_fail(req, 404, "ContainerNotFound",
                             "The specified container does not exist.");
        }
        return arm_reply(req, status, w);
    }
    jw_object_open(w);
    jw_key(w, "value");
    jw_array_open(w);
    while (store_step(st) == 1)
        write_container(req, w, st);
    jw_array_close(w);
    jw_object_close(w);
    store_finalize(st);
    return arm_reply(req, status, w);
}

static const char *container_scope(struct http_request *req)
{
    return arena_printf(req->arena, "%s/containers/%s", service_id(req),
                        http_param(req, "containerName"));
}

/* GET …/containers */
int arm_list_blob_containers(struct http_request *req)
{
    if (begin(req, CONTAINERS "/read", service_id(req)) != 0)
        return AZ_EREPLIED;
    return reply_containers(req, 200, NULL);
}

/* GET …/containers/{containerName} */
int arm_get_blob_container(struct http_request *req)
{
    if (begin(req, CONTAINERS "/read", container_scope(req)) != 0)
        return AZ_EREPLIED;
    return reply_containers(req, 200, http_param(req, "containerName"));
}

/* The container's publicAccess and metadata from the body, validated; NULL members were not
 * given. 0, or the request failed. */
static int read_properties(struct http_request *req, const char **access, const char **metadata)
{
    const struct json *body = arm_body(req);
    if (!body)
        return AZ_EREPLIED;
    const struct json *p = json_get(body, "properties");
    const struct json *given = json_get(p, "publicAccess");
    *access = NULL;
    *metadata = NULL;
    if (given && json_type(given) != JSON_NULL) {
        const char *v = json_string(given);
        if (!v || !(str_ieq(v, "None") || str_ieq(v, "Blob") || str_ieq(v, "Container")))
            return http_fail(req, 400, "InvalidRequestPropertyValue",
                             "The value of property 'publicAccess' must be None, Blob or "
                             "Container.");
        *access = str_ieq(v, "None") ? "" : v;
    }
    const struct json *m = json_get(p, "metadata");
    if (m && json_type(m) != JSON_NULL) {
        for (size_t i = 0; json_type(m) == JSON_OBJECT && i < json_len(m); i++) {
            if (!json_string(json_at(m, i)))
                m = NULL;
        }
        if (json_type(m) != JSON_OBJECT)
            return http_fail(req, 400, "InvalidRequestPropertyValue",
                             "The value of property 'metadata' must be an object of strings.");
        struct json_writer *w = json_writer_new();
        jw_value(w, m);
        *metadata = arena_strdup(req->arena, json_writer_text(w, NULL));
        json_writer_free(w);
    }
    if (*access && **access) {
        const struct json *account;
        bool allowed = false;
        if (arm_resource_load(req, account_id(req), &account) == 0)
            json_bool(json_get(json_get(account, "properties"), "allowBlobPublicAccess"), &allowed);
        if (!allowed)
            return http_fail(req, 409, "PublicAccessNotPermitted",
                             "Public access is not permitted on this storage account.");
    }
    return 0;
}

static bool container_exists(struct http_request *req, const char *account, const char *name)
{
    struct store_stmt *st;
    if (store_prepare(req->store, "SELECT 1 FROM blob_containers WHERE account = ?1 AND name = ?2",
                      &st) != 0)
        return false;
    store_bind_text(st, 1, account);
    store_bind_text(st, 2, name);
    bool found = store_step(st) == 1;
    store_finalize(st);
    return found;
}

/* PUT (create, or replace its properties: 201 new, 200 existing) and PATCH (update). */
static int write_container_request(struct http_request *req, bool patch)
{
    const char *name = http_param(req, "containerName");
    if (begin(req, CONTAINERS "/write", container_scope(req)) != 0)
        return AZ_EREPLIED;
    if (!blob_container_name_valid(name))
        return http_fail(req, 400, "ContainerOperationFailure",
                         "The specifed resource name contains invalid characters.");
    const char *access, *metadata;
    if (read_properties(req, &access, &metadata) != 0)
        return AZ_EREPLIED;
    const char *account = http_param(req, "accountName");
    int64_t now = clock_now_ms();
    int rc;
    bool created = !container_exists(req, account, name);
    if (patch) {
        rc = store_run(req->store,
                       "UPDATE blob_containers SET public_access = CASE WHEN ?3 IS NULL THEN "
                       "public_access ELSE nullif(lower(?3), '') END, metadata = coalesce(?4, "
                       "metadata), etag = ?5, modified = ?6 WHERE account = ?1 AND name = ?2",
                       "sssssi", account, name, access, metadata, blob_new_etag(req), now);
        if (rc == 0 && store_changes(req->store) == 0)
            return http_fail(req, 404, "ContainerNotFound",
                             "The specified container does not exist.");
    } else {
        rc = store_run(req->store,
                       "INSERT INTO blob_containers(account, name, public_access, metadata, etag, "
                       "modified) VALUES(?1, ?2, nullif(lower(?3), ''), coalesce(?4, '{}'), ?5, "
                       "?6) ON CONFLICT(account, name) DO UPDATE SET public_access = "
                       "excluded.public_access, metadata = excluded.metadata, etag = "
                       "excluded.etag, modified = excluded.modified",
                       "sssssi", account, name, access, metadata, blob_new_etag(req), now);
    }
    if (rc != 0)
        return http_fail(req, 500, "InternalServerError", "The container could not be stored.");
    return reply_containers(req, created && !patch ? 201 : 200, name);
}

int arm_put_blob_container(struct http_request *req)
{
    return write_container_request(req, false);
}

int arm_patch_blob_container(struct http_request *req)
{
    return write_container_request(req, true);
}

/* DELETE …/containers/{containerName}: the container and its blobs; 200, or 204 when there
 * was none. */
int arm_delete_blob_container(struct http_request *req)
{
    if (begin(req, CONTAINERS "/delete", container_scope(req)) != 0)
        return AZ_EREPLIED;
    int rc =
        blob_remove_container(req->store, req->server ? req->server->data_dir : NULL,
                              http_param(req, "accountName"), http_param(req, "containerName"));
    if (rc != 0 && rc != AZ_ENOTFOUND)
        return http_fail(req, 500, "InternalServerError", "The container could not be deleted.");
    return http_reply(req, rc == AZ_ENOTFOUND ? 204 : 200, NULL, "", 0);
}
