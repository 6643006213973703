/*
 * keyvault/secrets.c — secrets: set, get (latest or a version) and update attributes; listing,
 * deletion, recovery, purge, backup and restore are collection.c's, for keys alike.
 *
 * Each operation is authorized as Key Vault does: the access-policy permission (get, set) or the
 * RBAC data action (getSecret, setSecret, update) on the secret's scope. A disabled secret, or one
 * outside its nbf/exp window, cannot be read.
 */
#include "keyvault/keyvault.h"

#include "common/error.h"
#include "common/json.h"
#include "common/util.h"

#include <string.h>

#define SECRETS "secrets"
#define MAX_VALUE 25600 /* Key Vault's limit on a secret's value, in characters */

/* A secret's own members: its id (versionless in listings), its value where the view has it,
 * its content type. */
static void write_secret(struct http_request *req, struct json_writer *w, const struct kv_object *o,
                         enum kv_view view)
{
    const struct vault *v = kv_vault(req);
    if (view == KV_VIEW_FULL)
        jw_kv_string(w, "value", json_string(json_get(o->body, "value")));
    jw_kv_string(
        w, "id",
        view == KV_VIEW_ITEM
            ? arena_printf(req->arena, "%s/secrets/%s", v->origin, o->name)
            : arena_printf(req->arena, "%s/secrets/%s/%s", v->origin, o->name, o->version));
    if (json_string(json_get(o->body, "contentType")))
        jw_kv_string(w, "contentType", json_string(json_get(o->body, "contentType")));
}

const struct kv_collection kv_secrets = {
    .name = SECRETS,
    .param = "secret-name",
    .kind = "Secret",
    .noun = "secret",
    .not_found = "SecretNotFound",
    .read_action = "readMetadata/action",
    .backup_format = "azsim-secret-backup-1",
    .write = write_secret,
};

/* contentType, tags and attributes from a request body, checked; writes them into `w` (an open
 * object) over `was` (the version's stored members, or NULL). */
static int write_properties(struct http_request *req, struct json_writer *w,
                            const struct json *body, const struct json *was)
{
    const struct json *type = json_get(body, "contentType");
    if (type && json_type(type) != JSON_STRING && json_type(type) != JSON_NULL)
        return http_fail(req, 400, "BadParameter", "contentType must be a string.");
    if (kv_check_properties(req, body) != 0)
        return AZ_EREPLIED;
    jw_key(w, "contentType");
    jw_value(w, type ? type : json_get(was, "contentType"));
    kv_write_properties(req, w, body, was);
    return 0;
}

int kv_set_secret(struct http_request *req)
{
    const char *name = kv_name_param(req, &kv_secrets);
    if (kv_check_name(req, name) != 0 ||
        kv_authorize(req, SECRETS, "set", "setSecret/action", name) != 0)
        return AZ_EREPLIED;
    const struct json *body = kv_body_object(req);
    if (!body)
        return AZ_EREPLIED;
    const char *value = json_string(json_get(body, "value"));
    if (!value || strlen(value) > MAX_VALUE)
        return http_fail(req, 400, "BadParameter",
                         "The secret value is required: a string of at most %d characters.",
                         MAX_VALUE);
    if (kv_refuse_deleted(req, &kv_secrets, name) != 0)
        return AZ_EREPLIED;
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_string(w, "value", value);
    int rc = write_properties(req, w, body, NULL);
    jw_object_close(w);
    struct kv_object o = {.name = name};
    if (rc == 0 && kv_object_add(req, SECRETS, name, json_writer_text(w, NULL), &o.version) != 0)
        rc = kv_fail_store(req);
    json_writer_free(w);
    if (rc != 0 || kv_object_get(req, SECRETS, name, o.version, &o) != 0)
        return rc ? rc : kv_fail_store(req);
    return kv_reply(req, &kv_secrets, &o, KV_VIEW_FULL, 0, 0);
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
    const char *name = kv_name_param(req, &kv_secrets);
    if (kv_check_name(req, name) != 0 ||
        kv_authorize(req, SECRETS, "get", "getSecret/action", name) != 0)
        return AZ_EREPLIED;
    struct kv_object o;
    int rc = kv_object_get(req, SECRETS, name, http_param(req, "secret-version"), &o);
    if (rc == AZ_ENOTFOUND)
        return kv_fail_not_found(req, &kv_secrets, name, false);
    if (rc != 0)
        return kv_fail_store(req);
    return check_readable(req, &o) == 0 ? kv_reply(req, &kv_secrets, &o, KV_VIEW_FULL, 0, 0)
                                        : AZ_EREPLIED;
}

int kv_update_secret(struct http_request *req)
{
    const char *name = kv_name_param(req, &kv_secrets);
    if (kv_check_name(req, name) != 0 ||
        kv_authorize(req, SECRETS, "set", "update/action", name) != 0)
        return AZ_EREPLIED;
    const struct json *body = kv_body_object(req);
    if (!body)
        return AZ_EREPLIED;
    struct kv_object o;
    int rc = kv_object_get(req, SECRETS, name, http_param(req, "secret-version"), &o);
    if (rc == AZ_ENOTFOUND)
        return kv_fail_not_found(req, &kv_secrets, name, false);
    if (rc != 0)
        return kv_fail_store(req);
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_string(w, "value", json_string(json_get(o.body, "value")));
    rc = write_properties(req, w, body, o.body);
    jw_object_close(w);
    if (rc == 0 && kv_object_replace(req, SECRETS, name, o.version, json_writer_text(w, NULL)) != 0)
        rc = kv_fail_store(req);
    json_writer_free(w);
    if (rc != 0 || kv_object_get(req, SECRETS, name, o.version, &o) != 0)
        return rc ? rc : kv_fail_store(req);
    return kv_reply(req, &kv_secrets, &o, KV_VIEW_BUNDLE, 0, 0);
}
