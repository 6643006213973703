/*
 * arm/resource_groups.c — Microsoft.Resources resource groups: create or update (201 new, 200
 * existing), get, check existence (HEAD: 204/404), update tags (PATCH), delete (with everything
 * inside: its resources and the role assignments scoped there, as Azure removes them with their
 * scope), list.
 */
#include "arm/arm.h"

#include "common/error.h"
#include "common/json.h"
#include "common/store.h"
#include "common/util.h"

#include <string.h>

/* ARM's rule for group names: 1-90 of letters, digits, '_', '-', '.', '(' and ')', not ending
 * in '.'. Letters include Unicode letters; bytes >= 0x80 are accepted as such. */
static bool valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 90 || name[n - 1] == '.')
        return false;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (!(*p >= 0x80 || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || strchr("_-.()", *p)))
            return false;
    }
    return true;
}

/* Write the group from a row (name, location, tags, managed_by). */
static void write_group_row(struct http_request *req, struct json_writer *w, const char *sub,
                            struct store_stmt *st)
{
    const char *name = store_column_text(st, 0);
    jw_object_open(w);
    jw_kv_string(w, "id",
                 arena_printf(req->arena, "/subscriptions/%s/resourceGroups/%s", sub, name));
    jw_kv_string(w, "name", name);
    jw_kv_string(w, "type", "Microsoft.Resources/resourceGroups");
    jw_kv_string(w, "location", store_column_text(st, 1));
    struct json *tags = NULL;
    const char *tags_text = store_column_text(st, 2);
    jw_key(w, "tags");
    if (tags_text && json_parse(tags_text, strlen(tags_text), &tags, NULL, 0) == 0)
        jw_value(w, tags);
    else
        jw_null(w);
    json_free(tags);
    if (store_column_text(st, 3))
        jw_kv_string(w, "managedBy", store_column_text(st, 3));
    jw_key(w, "properties");
    jw_object_open(w);
    jw_kv_string(w, "provisioningState", "Succeeded");
    jw_object_close(w);
    jw_object_close(w);
}

/* Find the request's group and, when `w` is given, write it there. Returns 0, AZ_ENOTFOUND or
 * AZ_ESTORE. */
int arm_resource_group_write(struct http_request *req, struct json_writer *w)
{
    const char *sub = http_param(req, "subscriptionId");
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT name, location, tags, managed_by FROM resource_groups "
                      "WHERE subscription_id = lower(?1) AND name = ?2",
                      &st) != 0)
        return AZ_ESTORE;
    store_bind_text(st, 1, sub);
    store_bind_text(st, 2, http_param(req, "resourceGroupName"));
    int rc = store_step(st);
    if (rc == 1 && w)
        write_group_row(req, w, sub, st);
    store_finalize(st);
    return rc == 1 ? 0 : rc == 0 ? AZ_ENOTFOUND : AZ_ESTORE;
}

static int fail_group(struct http_request *req, int rc)
{
    if (rc == AZ_ENOTFOUND)
        return http_fail(req, 404, "ResourceGroupNotFound",
                         "Resource group '%s' could not be found.",
                         http_param(req, "resourceGroupName"));
    return http_fail(req, 500, "InternalServerError", "The store failed.");
}

int arm_require_resource_group(struct http_request *req)
{
    int rc = arm_resource_group_write(req, NULL);
    return rc == 0 ? 0 : fail_group(req, rc);
}

/* Reply with the group as it is now, or fail. */
static int reply_group(struct http_request *req, int status)
{
    struct json_writer *w = json_writer_new();
    int rc = arm_resource_group_write(req, w);
    if (rc != 0) {
        json_writer_free(w);
        return fail_group(req, rc);
    }
    return arm_reply(req, status, w);
}

/* Prepare `sql` with ?1 = the subscription and ?2 = the group name bound. */
static int group_statement(struct http_request *req, const char *sql, struct store_stmt **st)
{
    if (store_prepare(req->store, sql, st) != 0)
        return AZ_ESTORE;
    store_bind_text(*st, 1, http_param(req, "subscriptionId"));
    store_bind_text(*st, 2, http_param(req, "resourceGroupName"));
    return 0;
}

static int finish(struct store_stmt *st)
{
    int rc = store_step(st);
    store_finalize(st);
    return rc < 0 ? rc : 0;
}

int arm_create_resource_group(struct http_request *req)
{
    const char *name = http_param(req, "resourceGroupName");
    if (!valid_name(name))
        return http_fail(req, 400, "InvalidResourceGroup",
                         "The provided resource group name '%s' has these invalid characters or "
                         "length. The name can only contain alphanumeric, underscore, parentheses, "
                         "hyphen, period (except at end), and Unicode characters that match the "
                         "allowed characters, and be 1 to 90 characters long.",
                         name);
    const struct json *body = arm_body(req);
    if (!body)
        return AZ_EREPLIED;
    const char *location = json_string(json_iget(body, "location"));
    const char *tags = arm_tags(req, json_iget(body, "tags"));
    int rc;
    if (!tags) {
        rc = AZ_EREPLIED;
    } else if (!location || !*location) {
        rc = http_fail(req, 400, "LocationRequired",
                       "The location property is required for this definition.");
    } else {
        bool existed = arm_resource_group_write(req, NULL) == 0;
        struct store_stmt *st;
        rc =
            group_statement(req,
                            "INSERT INTO resource_groups(subscription_id, name, location, tags, "
                            "created_at) VALUES(lower(?1), ?2, lower(?3), ?4, ?5) "
                            "ON CONFLICT(subscription_id, name) DO UPDATE SET tags = excluded.tags",
                            &st);
        if (rc == 0) {
            store_bind_text(st, 3, location);
            store_bind_text(st, 4, tags);
            store_bind_int64(st, 5, clock_now_ms());
            rc = finish(st);
        }
        rc = rc == 0 ? reply_group(req, existed ? 200 : 201) : fail_group(req, rc);
    }
    return rc;
}

int arm_get_resource_group(struct http_request *req)
{
    return reply_group(req, 200);
}

int arm_check_resource_group(struct http_request *req)
{
    int rc = arm_resource_group_write(req, NULL);
    if (rc == AZ_ENOTFOUND)
        return http_reply(req, 404, NULL, "", 0);
    return rc == 0 ? http_reply(req, 204, NULL, "", 0) : fail_group(req, rc);
}

/* PATCH: only tags change (a group's location is fixed at creation, as in ARM). */
int arm_update_resource_group(struct http_request *req)
{
    int rc = arm_resource_group_write(req, NULL);
    if (rc != 0)
        return fail_group(req, rc);
    const struct json *body = arm_body(req);
    if (!body)
        return AZ_EREPLIED;
    const struct json *tags_member = json_iget(body, "tags");
    const char *tags = json_type(tags_member) == JSON_NONE ? NULL : arm_tags(req, tags_member);
    if (json_type(tags_member) != JSON_NONE && !tags) {
        rc = AZ_EREPLIED;
    } else {
        struct store_stmt *st;
        if (tags && (rc = group_statement(req,
                                          "UPDATE resource_groups SET tags = ?3 WHERE "
                                          "subscription_id = lower(?1) AND name = ?2",
                                          &st)) == 0) {
            store_bind_text(st, 3, tags);
            rc = finish(st);
        }
        rc = rc == 0 ? reply_group(req, 200) : fail_group(req, rc);
    }
    return rc;
}

/* DELETE removes the group with everything in it: its resources (each as its type deletes it)
 * and the role assignments scoped at or inside it. */
int arm_delete_resource_group(struct http_request *req)
{
    int rc = arm_resource_group_write(req, NULL);
    if (rc != 0)
        return fail_group(req, rc);
    struct store *s = req->store;
    struct store_stmt *st = NULL;
    rc = store_begin(s);
    if (rc == 0)
        rc = arm_delete_resources_under(req, arm_scope(req));
    if (rc == 0 && (rc = group_statement(req,
                                         "DELETE FROM resource_groups WHERE "
                                         "subscription_id = lower(?1) AND name = ?2",
                                         &st)) == 0)
        rc = finish(st);
    if (rc == 0)
        rc = store_commit(s);
    if (rc != 0) {
        store_rollback(s);
        return rc == AZ_EREPLIED ? rc : fail_group(req, AZ_ESTORE);
    }
    return http_reply(req, 200, NULL, "", 0);
}

int arm_list_resource_groups(struct http_request *req)
{
    const char *sub = http_param(req, "subscriptionId");
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT name, location, tags, managed_by FROM resource_groups "
                      "WHERE subscription_id = lower(?1) ORDER BY name",
                      &st) != 0)
        return fail_group(req, AZ_ESTORE);
    store_bind_text(st, 1, sub);
    struct json_writer *w = json_writer_new();
    jw_list_open(w);
    while (store_step(st) == 1)
        write_group_row(req, w, sub, st);
    jw_list_close(w);
    store_finalize(st);
    return arm_reply(req, 200, w);
}
