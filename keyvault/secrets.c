/*
 * keyvault/secrets.c — secrets: set, get (latest or a version), update attributes, list, list
 * versions, delete (soft when the vault says so), deleted ones got, listed, recovered and purged,
 * backup and restore.
 *
 * Each operation is authorized as Key Vault does: the access-policy permission (get, list, set,
 * delete, recover, backup, restore, purge) or the RBAC data action on the secret's scope. A
 * disabled secret, or one outside its nbf/exp window, cannot be read. A backup is the secret's
 * versions as an opaque base64url blob, restorable into a vault of the same subscription.
 */
#include "keyvault/keyvault.h"

#include "common/error.h"
#include "common/json.h"
#include "common/util.h"

#include <string.h>

#define SECRETS "secrets"
#define MAX_VALUE 25600 /* Key Vault's limit on a secret's value, in characters */
#define BACKUP_MAGIC "azsim-secret-backup-1"

static const char *param_name(struct http_request *req)
{
    return http_param(req, "secret-name");
}

static int fail_not_found(struct http_request *req, const char *name, bool deleted)
{
    return http_fail(req, 404, "SecretNotFound",
                     deleted ? "Deleted Secret not found: %s"
                             : "A secret with (name/id) %s was not found in this key vault. If "
                               "you recently deleted this secret you may be able to recover it "
                               "using the correct recovery command. For help resolving this "
                               "issue, please see https://go.microsoft.com/fwlink/?linkid=2125182",
                     name);
}

static int fail_store(struct http_request *req)
{
    return http_fail(req, 500, "InternalServerError", "The vault's store failed.");
}

/* The secret as Key Vault answers it; `value` only where the operation returns it. */
static void write_bundle(struct http_request *req, struct json_writer *w, const struct kv_object *o,
                         bool with_value, bool item, int64_t deleted_at, int64_t purge_at)
{
    const struct vault *v = kv_vault(req);
    jw_object_open(w);
    if (with_value)
        jw_kv_string(w, "value", json_string(json_get(o->body, "value")));
    jw_kv_string(
        w, "id",
        item ? arena_printf(req->arena, "%s/secrets/%s", v->origin, o->name)
             : arena_printf(req->arena, "%s/secrets/%s/%s", v->origin, o->name, o->version));
    if (json_string(json_get(o->body, "contentType")))
        jw_kv_string(w, "contentType", json_string(json_get(o->body, "contentType")));
    if (json_type(json_get(o->body, "tags")) == JSON_OBJECT) {
        jw_key(w, "tags");
        jw_value(w, json_get(o->body, "tags"));
    }
    kv_write_attributes(req, w, json_get(o->body, "attributes"));
    if (deleted_at) {
        jw_kv_string(w, "recoveryId",
                     arena_printf(req->arena, "%s/deletedsecrets/%s", v->origin, o->name));
        jw_kv_int(w, "deletedDate", deleted_at / 1000);
        jw_kv_int(w, "scheduledPurgeDate", purge_at / 1000);
    }
    jw_object_close(w);
}

static int reply_bundle(struct http_request *req, const struct kv_object *o, bool with_value,
                        int64_t deleted_at, int64_t purge_at)
{
    struct json_writer *w = json_writer_new();
    write_bundle(req, w, o, with_value, false, deleted_at, purge_at);
    http_reply_json(req, 200, w);
    json_writer_free(w);
    return 0;
}

/* contentType, tags and attributes from a request body, checked; writes them into `w` (an open
 * object) over `was` (the version's stored members, or NULL). */
static int write_properties(struct http_request *req, struct json_writer *w,
                            const struct json *body, const struct json *was)
{
    const struct json *type = json_get(body, "contentType");
    const struct json *tags = json_get(body, "tags");
    const struct json *attrs = json_get(body, "attributes");
    if ((type && json_type(type) != JSON_STRING && json_type(type) != JSON_NULL) ||
        (tags && json_type(tags) != JSON_OBJECT && json_type(tags) != JSON_NULL) ||
        (attrs && json_type(attrs) != JSON_OBJECT && json_type(attrs) != JSON_NULL) ||
        json_len(tags) > 15)
        return http_fail(req, 400, "BadParameter",
                         "contentType must be a string, tags an object of at most 15 strings and "
                         "attributes an object.");
    int64_t t;
    bool b;
    const struct json *old_attrs = json_get(was, "attributes");
    if ((json_get(attrs, "enabled") && !json_bool(json_get(attrs, "enabled"), &b)) ||
        (json_get(attrs, "nbf") && json_type(json_get(attrs, "nbf")) != JSON_NULL &&
         !json_int(json_get(attrs, "nbf"), &t)) ||
        (json_get(attrs, "exp") && json_type(json_get(attrs, "exp")) != JSON_NULL &&
         !json_int(json_get(attrs, "exp"), &t)))
        return http_fail(req, 400, "BadParameter",
                         "attributes.enabled must be a boolean, nbf and exp epoch seconds.");
    jw_key(w, "contentType");
    jw_value(w, type ? type : json_get(was, "contentType"));
    jw_key(w, "tags");
    jw_value(w, tags ? tags : json_get(was, "tags"));
    int64_t now = clock_now_ms() / 1000, created = now;
    json_int(json_get(old_attrs, "created"), &created);
    jw_key(w, "attributes");
    jw_object_open(w);
    static const char *const own[] = {"enabled", "nbf", "exp"};
    for (size_t i = 0; i < ARRAY_SIZE(own); i++) {
        const struct json *v = json_get(attrs, own[i]);
        if (!v)
            v = json_get(old_attrs, own[i]);
        if (v && json_type(v) != JSON_NULL) {
            jw_key(w, own[i]);
            jw_value(w, v);
        }
    }
    jw_kv_int(w, "created", created);
    jw_kv_int(w, "updated", now);
    jw_object_close(w);
    return 0;
}

/* The request body as a JSON object, or a failed request. */
static const struct json *body_object(struct http_request *req)
{
    const struct json *body = json_parse_in(req->arena, req->body ? req->body : "", req->body_len);
    if (json_type(body) != JSON_OBJECT) {
        http_fail(req, 400, "BadParameter", "The request body must be a JSON object.");
        return NULL;
    }
    return body;
}

static int refuse_deleted(struct http_request *req, const char *name)
{
    int64_t deleted_at, purge_at;
    if (kv_object_deleted(req, SECRETS, name, &deleted_at, &purge_at) != 0)
        return 0;
    return http_fail(req, 409, "Conflict",
                     "Secret %s is currently in a deleted but recoverable state, and its name "
                     "cannot be reused; in this state, the secret can only be recovered or "
                     "purged.",
                     name);
}

int kv_set_secret(struct http_request *req)
{
    const char *name = param_name(req);
    if (kv_check_name(req, name) != 0 ||
        kv_authorize(req, SECRETS, "set", "setSecret/action", name) != 0)
        return AZ_EREPLIED;
    const struct json *body = body_object(req);
    if (!body)
        return AZ_EREPLIED;
    const char *value = json_string(json_get(body, "value"));
    if (!value || strlen(value) > MAX_VALUE)
        return http_fail(req, 400, "BadParameter",
                         "The secret value is required: a string of at most %d characters.",
                         MAX_VALUE);
    if (refuse_deleted(req, name) != 0)
        return AZ_EREPLIED;
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_string(w, "value", value);
    int rc = write_properties(req, w, body, NULL);
    jw_object_close(w);
    struct kv_object o = {.name = name};
    if (rc == 0 && kv_object_add(req, SECRETS, name, json_writer_text(w, NULL), &o.version) != 0)
        rc = fail_store(req);
    json_writer_free(w);
    if (rc != 0 || kv_object_get(req, SECRETS, name, o.version, &o) != 0)
        return rc ? rc : fail_store(req);
    return reply_bundle(req, &o, true, 0, 0);
}

/* A disabled secret, or one outside its validity window, cannot be read (403 Forbidden). */
static int check_readable(struct http_request *req, const struct kv_object *o)
{
    const struct json *a = json_get(o->body, "attributes");
    bool enabled = true;
    int64_t nbf, exp, now = clock_now_ms() / 1000;
    json_bool(json_get(a, "enabled"), &enabled);
    if (!enabled)
        return kv_fail_inner(req, 403, "Forbidden", "SecretDisabled",
                             "Operation get is not allowed on a disabled secret.");
    if (json_int(json_get(a, "nbf"), &nbf) && now < nbf)
        return kv_fail_inner(req, 403, "Forbidden", "SecretNotYetValid",
                             "Operation get is not allowed on a secret that is not yet valid.");
    if (json_int(json_get(a, "exp"), &exp) && now >= exp)
        return kv_fail_inner(req, 403, "Forbidden", "SecretExpired",
                             "Operation get is not allowed on an expired secret.");
    return 0;
}

int kv_get_secret(struct http_request *req)
{
    const char *name = param_name(req);
    if (kv_check_name(req, name) != 0 ||
        kv_authorize(req, SECRETS, "get", "getSecret/action", name) != 0)
        return AZ_EREPLIED;
    struct kv_object o;
    int rc = kv_object_get(req, SECRETS, name, http_param(req, "secret-version"), &o);
    if (rc == AZ_ENOTFOUND)
        return fail_not_found(req, name, false);
    if (rc != 0)
        return fail_store(req);
    return check_readable(req, &o) == 0 ? reply_bundle(req, &o, true, 0, 0) : AZ_EREPLIED;
}

int kv_update_secret(struct http_request *req)
{
    const char *name = param_name(req);
    if (kv_check_name(req, name) != 0 ||
        kv_authorize(req, SECRETS, "set", "update/action", name) != 0)
        return AZ_EREPLIED;
    const struct json *body = body_object(req);
    if (!body)
        return AZ_EREPLIED;
    struct kv_object o;
    int rc = kv_object_get(req, SECRETS, name, http_param(req, "secret-version"), &o);
    if (rc == AZ_ENOTFOUND)
        return fail_not_found(req, name, false);
    if (rc != 0)
        return fail_store(req);
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_string(w, "value", json_string(json_get(o.body, "value")));
    rc = write_properties(req, w, body, o.body);
    jw_object_close(w);
    if (rc == 0 && kv_object_replace(req, SECRETS, name, o.version, json_writer_text(w, NULL)) != 0)
        rc = fail_store(req);
    json_writer_free(w);
    if (rc != 0 || kv_object_get(req, SECRETS, name, o.version, &o) != 0)
        return rc ? rc : fail_store(req);
    return reply_bundle(req, &o, false, 0, 0);
}

static void write_item(struct http_request *req, struct json_writer *w, const struct kv_object *o,
                       int64_t deleted_at, int64_t purge_at)
{
    write_bundle(req, w, o, false, true, deleted_at, purge_at);
}

static void write_version_item(struct http_request *req, struct json_writer *w,
                               const struct kv_object *o, int64_t deleted_at, int64_t purge_at)
{
    write_bundle(req, w, o, false, false, deleted_at, purge_at);
}

int kv_list_secrets(struct http_request *req)
{
    if (kv_authorize(req, SECRETS, "list", "readMetadata/action", NULL) != 0)
        return AZ_EREPLIED;
    return kv_object_list(req, SECRETS, KV_LIST_LATEST, NULL, write_item);
}

int kv_list_secret_versions(struct http_request *req)
{
    const char *name = param_name(req);
    if (kv_check_name(req, name) != 0 ||
        kv_authorize(req, SECRETS, "list", "readMetadata/action", name) != 0)
        return AZ_EREPLIED;
    return kv_object_list(req, SECRETS, KV_LIST_VERSIONS, name, write_version_item);
}

int kv_delete_secret(struct http_request *req)
{
    const char *name = param_name(req);
    if (kv_check_name(req, name) != 0 || kv_authorize(req, SECRETS, "delete", "delete", name) != 0)
        return AZ_EREPLIED;
    struct kv_object o;
    int rc = kv_object_get(req, SECRETS, name, NULL, &o);
    if (rc == AZ_ENOTFOUND)
        return fail_not_found(req, name, false);
    if (rc != 0 || kv_object_delete(req, SECRETS, name) != 0)
        return fail_store(req);
    int64_t deleted_at = 0, purge_at = 0;
    kv_object_deleted(req, SECRETS, name, &deleted_at, &purge_at);
    return reply_bundle(req, &o, false, deleted_at, purge_at);
}

/* The deleted secret `name` (its latest version and deletion dates), or a failed request. */
static int find_deleted(struct http_request *req, const char *name, struct kv_object *o,
                        int64_t *deleted_at, int64_t *purge_at)
{
    int rc = kv_deleted_object_get(req, SECRETS, name, o, deleted_at, purge_at);
    if (rc == AZ_ENOTFOUND)
        return fail_not_found(req, name, true);
    return rc == 0 ? 0 : fail_store(req);
}

int kv_get_deleted_secret(struct http_request *req)
{
    const char *name = param_name(req);
    if (kv_check_name(req, name) != 0 ||
        kv_authorize(req, SECRETS, "get", "readMetadata/action", name) != 0)
        return AZ_EREPLIED;
    struct kv_object o;
    int64_t deleted_at, purge_at;
    if (find_deleted(req, name, &o, &deleted_at, &purge_at) != 0)
        return AZ_EREPLIED;
    return reply_bundle(req, &o, false, deleted_at, purge_at);
}

int kv_list_deleted_secrets(struct http_request *req)
{
    if (kv_authorize(req, SECRETS, "list", "readMetadata/action", NULL) != 0)
        return AZ_EREPLIED;
    return kv_object_list(req, SECRETS, KV_LIST_DELETED, NULL, write_item);
}

int kv_recover_secret(struct http_request *req)
{
    const char *name = param_name(req);
    if (kv_check_name(req, name) != 0 ||
        kv_authorize(req, SECRETS, "recover", "recover/action", name) != 0)
        return AZ_EREPLIED;
    struct kv_object o;
    int64_t deleted_at, purge_at;
    if (find_deleted(req, name, &o, &deleted_at, &purge_at) != 0)
        return AZ_EREPLIED;
    if (kv_object_recover(req, SECRETS, name) != 0)
        return fail_store(req);
    return reply_bundle(req, &o, false, 0, 0);
}

/* Purge: 204, unless purge protection keeps it until its scheduled purge date. */
int kv_purge_secret(struct http_request *req)
{
    const char *name = param_name(req);
    if (kv_check_name(req, name) != 0 ||
        kv_authorize(req, SECRETS, "purge", "purge/action", name) != 0)
        return AZ_EREPLIED;
    struct kv_object o;
    int64_t deleted_at, purge_at;
    if (find_deleted(req, name, &o, &deleted_at, &purge_at) != 0)
        return AZ_EREPLIED;
    const struct vault *v = kv_vault(req);
    if (v->purge_protection)
        return http_fail(req, 403, "Forbidden",
                         "Operation \"purge\" is not allowed because purge protection is enabled "
                         "for this vault. Key Vault service will automatically purge it after the "
                         "retention period has passed.\r\nVault: %s;location=%s",
                         v->name, v->location);
    if (kv_object_purge(req, SECRETS, name) != 0)
        return fail_store(req);
    return http_reply(req, 204, NULL, "", 0);
}

/* Backup: every version of the secret, as one opaque base64url blob. */
int kv_backup_secret(struct http_request *req)
{
    const char *name = param_name(req);
    if (kv_check_name(req, name) != 0 ||
        kv_authorize(req, SECRETS, "backup", "backup/action", name) != 0)
        return AZ_EREPLIED;
    struct json_writer *w = json_writer_new();
    int rc = kv_object_export(req, SECRETS, name, BACKUP_MAGIC, w);
    if (rc != 0) {
        json_writer_free(w);
        return rc == AZ_ENOTFOUND ? fail_not_found(req, name, false) : fail_store(req);
    }
    size_t len;
    const char *blob = json_writer_text(w, &len);
    struct json_writer *out = json_writer_new();
    jw_object_open(out);
    jw_kv_string(out, "value", base64url_encode(req->arena, blob, len));
    jw_object_close(out);
    json_writer_free(w);
    http_reply_json(req, 200, out);
    json_writer_free(out);
    return 0;
}

/* Restore: a backup's versions under the secret's own name, which must be free, into a vault of
 * the subscription it was taken in. */
int kv_restore_secret(struct http_request *req)
{
    const struct json *body = body_object(req);
    if (!body)
        return AZ_EREPLIED;
    const struct json *backup =
        kv_backup_decode(req, json_string(json_get(body, "value")), BACKUP_MAGIC);
    if (!backup)
        return http_fail(req, 400, "BadParameter",
                         "Backup blob contains invalid or corrupt version.");
    const char *name = json_string(json_get(backup, "name"));
    const char *vault_sub = kv_vault(req)->id + strlen("/subscriptions/");
    if (kv_check_name(req, name) != 0 ||
        kv_authorize(req, SECRETS, "restore", "restore/action", name) != 0)
        return AZ_EREPLIED;
    if (!str_ieqn(vault_sub, strcspn(vault_sub, "/"),
                  json_string(json_get(backup, "subscription"))))
        return http_fail(req, 400, "BadParameter",
                         "The backup was taken in another subscription: it can only be restored "
                         "into a vault of the subscription it came from.");
    struct kv_object o;
    if (kv_object_get(req, SECRETS, name, NULL, &o) == 0)
        return http_fail(req, 409, "Conflict", "Secret %s already exists.", name);
    if (refuse_deleted(req, name) != 0)
        return AZ_EREPLIED;
    if (kv_backup_restore(req, SECRETS, backup) != 0 ||
        kv_object_get(req, SECRETS, name, NULL, &o) != 0)
        return fail_store(req);
    return reply_bundle(req, &o, false, 0, 0);
}
