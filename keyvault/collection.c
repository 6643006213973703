/*
 * keyvault/collection.c — what secrets and keys do alike: list, list versions, delete, the deleted
 * ones got, listed, recovered and purged, backup and restore, and the answers and errors around
 * them. Each collection (secrets.c, keys.c) describes itself in a struct kv_collection and keeps
 * only what is its own: creating, reading and changing versions, and (keys) cryptography.
 */
#include "keyvault/keyvault.h"

#include "common/error.h"
#include "common/json.h"
#include "common/util.h"

#include <string.h>

/* The collection a route serves: /secrets… and /deletedsecrets…, /keys… and /deletedkeys…. */
static const struct kv_collection *collection_of(const struct http_request *req)
{
    const char *p = req->path + strspn(req->path, "/");
    if (str_has_iprefix(p, "deleted"))
        p += strlen("deleted");
    return str_has_iprefix(p, "keys") ? &kv_keys : &kv_secrets;
}

const char *kv_name_param(const struct http_request *req, const struct kv_collection *c)
{
    return http_param(req, c->param);
}

int kv_fail_not_found(struct http_request *req, const struct kv_collection *c, const char *name,
                      bool deleted)
{
    if (deleted)
        return http_fail(req, 404, c->not_found, "Deleted %s not found: %s", c->kind, name);
    return http_fail(req, 404, c->not_found,
                     "A %s with (name/id) %s was not found in this key vault. If you recently "
                     "deleted this %s you may be able to recover it using the correct recovery "
                     "command. For help resolving this issue, please see "
                     "https://go.microsoft.com/fwlink/?linkid=2125182",
                     c->noun, name, c->noun);
}

int kv_fail_store(struct http_request *req)
{
    return http_fail(req, 500, "InternalServerError", "The vault's store failed.");
}

const struct json *kv_body_object(struct http_request *req)
{
    const struct json *body = json_parse_in(req->arena, req->body ? req->body : "", req->body_len);
    if (json_type(body) != JSON_OBJECT) {
        http_fail(req, 400, "BadParameter", "The request body must be a JSON object.");
        return NULL;
    }
    return body;
}

int kv_refuse_deleted(struct http_request *req, const struct kv_collection *c, const char *name)
{
    int64_t deleted_at, purge_at;
    if (kv_object_deleted(req, c->name, name, &deleted_at, &purge_at) != 0)
        return 0;
    return http_fail(req, 409, "Conflict",
                     "%s %s is currently in a deleted but recoverable state, and its name cannot "
                     "be reused; in this state, the %s can only be recovered or purged.",
                     c->kind, name, c->noun);
}

int kv_check_properties(struct http_request *req, const struct json *body)
{
    const struct json *tags = json_get(body, "tags");
    const struct json *attrs = json_get(body, "attributes");
    if ((tags && json_type(tags) != JSON_OBJECT && json_type(tags) != JSON_NULL) ||
        (attrs && json_type(attrs) != JSON_OBJECT && json_type(attrs) != JSON_NULL) ||
        json_len(tags) > 15)
        return http_fail(req, 400, "BadParameter",
                         "tags must be an object of at most 15 strings and attributes an object.");
    int64_t t;
    bool b;
    if ((json_get(attrs, "enabled") && !json_bool(json_get(attrs, "enabled"), &b)) ||
        (json_get(attrs, "nbf") && json_type(json_get(attrs, "nbf")) != JSON_NULL &&
         !json_int(json_get(attrs, "nbf"), &t)) ||
        (json_get(attrs, "exp") && json_type(json_get(attrs, "exp")) != JSON_NULL &&
         !json_int(json_get(attrs, "exp"), &t)))
        return http_fail(req, 400, "BadParameter",
                         "attributes.enabled must be a boolean, nbf and exp epoch seconds.");
    return 0;
}

void kv_write_properties(struct http_request *req, struct json_writer *w, const struct json *body,
                         const struct json *was)
{
    const struct json *tags = json_get(body, "tags");
    const struct json *attrs = json_get(body, "attributes");
    const struct json *old_attrs = json_get(was, "attributes");
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
}

void kv_write(struct http_request *req, struct json_writer *w, const struct kv_collection *c,
              const struct kv_object *o, enum kv_view view, int64_t deleted_at, int64_t purge_at)
{
    jw_object_open(w);
    c->write(req, w, o, view);
    kv_write_attributes(req, w, json_get(o->body, "attributes"));
    if (json_type(json_get(o->body, "tags")) == JSON_OBJECT) {
        jw_key(w, "tags");
        jw_value(w, json_get(o->body, "tags"));
    }
    if (deleted_at) {
        jw_kv_string(
            w, "recoveryId",
            arena_printf(req->arena, "%s/deleted%s/%s", kv_vault(req)->origin, c->name, o->name));
        jw_kv_int(w, "deletedDate", deleted_at / 1000);
        jw_kv_int(w, "scheduledPurgeDate", purge_at / 1000);
    }
    jw_object_close(w);
}

int kv_reply(struct http_request *req, const struct kv_collection *c, const struct kv_object *o,
             enum kv_view view, int64_t deleted_at, int64_t purge_at)
{
    struct json_writer *w = json_writer_new();
    kv_write(req, w, c, o, view, deleted_at, purge_at);
    http_reply_json(req, 200, w);
    json_writer_free(w);
    return 0;
}

/* ---- listings ------------------------------------------------------------------------------ */

static void write_item(struct http_request *req, struct json_writer *w, const struct kv_object *o,
                       int64_t deleted_at, int64_t purge_at)
{
    kv_write(req, w, collection_of(req), o, KV_VIEW_ITEM, deleted_at, purge_at);
}

static void write_version_item(struct http_request *req, struct json_writer *w,
                               const struct kv_object *o, int64_t deleted_at, int64_t purge_at)
{
    kv_write(req, w, collection_of(req), o, KV_VIEW_VERSION, deleted_at, purge_at);
}

int kv_list(struct http_request *req)
{
    const struct kv_collection *c = collection_of(req);
    if (kv_authorize(req, c->name, "list", c->read_action, NULL) != 0)
        return AZ_EREPLIED;
    return kv_object_list(req, c->name, KV_LIST_LATEST, NULL, write_item);
}

int kv_list_versions(struct http_request *req)
{
    const struct kv_collection *c = collection_of(req);
    const char *name = kv_name_param(req, c);
    if (kv_check_name(req, name) != 0 ||
        kv_authorize(req, c->name, "list", c->read_action, name) != 0)
        return AZ_EREPLIED;
    return kv_object_list(req, c->name, KV_LIST_VERSIONS, name, write_version_item);
}

int kv_list_deleted(struct http_request *req)
{
    const struct kv_collection *c = collection_of(req);
    if (kv_authorize(req, c->name, "list", c->read_action, NULL) != 0)
        return AZ_EREPLIED;
    return kv_object_list(req, c->name, KV_LIST_DELETED, NULL, write_item);
}

/* ---- delete, recover, purge ---------------------------------------------------------------- */

/* The route's object, authorized for `permission`/`action`: 0 with *c and *name, or replied. */
static int begin(struct http_request *req, const char *permission, const char *action,
                 const struct kv_collection **c, const char **name)
{
    *c = collection_of(req);
    *name = kv_name_param(req, *c);
    if (kv_check_name(req, *name) != 0 ||
        kv_authorize(req, (*c)->name, permission, action, *name) != 0)
        return AZ_EREPLIED;
    return 0;
}

int kv_delete(struct http_request *req)
{
    const struct kv_collection *c;
    const char *name;
    if (begin(req, "delete", "delete", &c, &name) != 0)
        return AZ_EREPLIED;
    struct kv_object o;
    int rc = kv_object_get(req, c->name, name, NULL, &o);
    if (rc == AZ_ENOTFOUND)
        return kv_fail_not_found(req, c, name, false);
    if (rc != 0 || kv_object_delete(req, c->name, name) != 0)
        return kv_fail_store(req);
    int64_t deleted_at = 0, purge_at = 0; /* stay 0 without soft delete: no recoveryId */
    kv_object_deleted(req, c->name, name, &deleted_at, &purge_at);
    return kv_reply(req, c, &o, KV_VIEW_BUNDLE, deleted_at, purge_at);
}

/* The deleted object `name` (its latest version and deletion dates), or a failed request. */
static int find_deleted(struct http_request *req, const struct kv_collection *c, const char *name,
                        struct kv_object *o, int64_t *deleted_at, int64_t *purge_at)
{
    int rc = kv_deleted_object_get(req, c->name, name, o, deleted_at, purge_at);
    if (rc == AZ_ENOTFOUND)
        return kv_fail_not_found(req, c, name, true);
    return rc == 0 ? 0 : kv_fail_store(req);
}

int kv_get_deleted(struct http_request *req)
{
    const struct kv_collection *c;
    const char *name;
    struct kv_object o;
    int64_t deleted_at, purge_at;
    if (begin(req, "get", collection_of(req)->read_action, &c, &name) != 0 ||
        find_deleted(req, c, name, &o, &deleted_at, &purge_at) != 0)
        return AZ_EREPLIED;
    return kv_reply(req, c, &o, KV_VIEW_BUNDLE, deleted_at, purge_at);
}

int kv_recover(struct http_request *req)
{
    const struct kv_collection *c;
    const char *name;
    struct kv_object o;
    int64_t deleted_at, purge_at;
    if (begin(req, "recover", "recover/action", &c, &name) != 0 ||
        find_deleted(req, c, name, &o, &deleted_at, &purge_at) != 0)
        return AZ_EREPLIED;
    if (kv_object_recover(req, c->name, name) != 0)
        return kv_fail_store(req);
    return kv_reply(req, c, &o, KV_VIEW_BUNDLE, 0, 0);
}

/* Purge: 204, unless purge protection keeps it until its scheduled purge date. */
int kv_purge(struct http_request *req)
{
    const struct kv_collection *c;
    const char *name;
    struct kv_object o;
    int64_t deleted_at, purge_at;
    if (begin(req, "purge", "purge/action", &c, &name) != 0 ||
        find_deleted(req, c, name, &o, &deleted_at, &purge_at) != 0)
        return AZ_EREPLIED;
    const struct vault *v = kv_vault(req);
    if (v->purge_protection)
        return http_fail(req, 403, "Forbidden",
                         "Operation \"purge\" is not allowed because purge protection is enabled "
                         "for this vault. Key Vault service will automatically purge it after the "
                         "retention period has passed.\r\nVault: %s;location=%s",
                         v->name, v->location);
    if (kv_object_purge(req, c->name, name) != 0)
        return kv_fail_store(req);
    return http_reply(req, 204, NULL, "", 0);
}

/* ---- backup and restore -------------------------------------------------------------------- */

/* Backup: every version of the object (a key's material included) as one sealed blob. */
int kv_backup(struct http_request *req)
{
    const struct kv_collection *c;
    const char *name;
    if (begin(req, "backup", "backup/action", &c, &name) != 0)
        return AZ_EREPLIED;
    struct json_writer *w = json_writer_new();
    int rc = kv_object_export(req, c->name, name, c->backup_format, w);
    if (rc != 0) {
        json_writer_free(w);
        return rc == AZ_ENOTFOUND ? kv_fail_not_found(req, c, name, false) : kv_fail_store(req);
    }
    size_t len;
    const char *text = json_writer_text(w, &len);
    const char *blob = kv_backup_seal(req, text, len);
    json_writer_free(w);
    if (!blob)
        return kv_fail_store(req);
    struct json_writer *out = json_writer_new();
    jw_object_open(out);
    jw_kv_string(out, "value", blob);
    jw_object_close(out);
    http_reply_json(req, 200, out);
    json_writer_free(out);
    return 0;
}

/* Restore: a backup's versions under the object's own name, which must be free, into a vault of
 * the subscription it was taken in. */
int kv_restore(struct http_request *req)
{
    const struct kv_collection *c = collection_of(req);
    const struct json *body = kv_body_object(req);
    if (!body)
        return AZ_EREPLIED;
    const struct json *backup =
        kv_backup_decode(req, json_string(json_get(body, "value")), c->backup_format);
    if (!backup)
        return http_fail(req, 400, "BadParameter",
                         "Backup blob contains invalid or corrupt version.");
    const char *name = json_string(json_get(backup, "name"));
    const char *vault_sub = kv_vault(req)->id + strlen("/subscriptions/");
    if (kv_check_name(req, name) != 0 ||
        kv_authorize(req, c->name, "restore", "restore/action", name) != 0)
        return AZ_EREPLIED;
    if (!str_ieqn(vault_sub, strcspn(vault_sub, "/"),
                  json_string(json_get(backup, "subscription"))))
        return http_fail(req, 400, "BadParameter",
                         "The backup was taken in another subscription: it can only be restored "
                         "into a vault of the subscription it came from.");
    struct kv_object o;
    if (kv_object_get(req, c->name, name, NULL, &o) == 0)
        return http_fail(req, 409, "Conflict", "%s %s already exists.", c->kind, name);
    if (kv_refuse_deleted(req, c, name) != 0)
        return AZ_EREPLIED;
    if (kv_backup_restore(req, c->name, backup) != 0 ||
        kv_object_get(req, c->name, name, NULL, &o) != 0)
        return kv_fail_store(req);
    return kv_reply(req, c, &o, KV_VIEW_BUNDLE, 0, 0);
}
