/*
 * arm/authorization.c — Microsoft.Authorization: role definitions (every built-in role at every
 * scope, custom roles), role assignments at any scope, and the caller's effective permissions.
 *
 * api-versions: 2015-07-01 (az's hybrid profile: flat assignment bodies) to 2022-04-01.
 * Not emulated: deny assignments, conditions (ABAC), groups, classic administrators, PIM.
 */
#include "arm/arm.h"

#include "common/error.h"
#include "common/token.h"
#include "common/json.h"
#include "common/rbac.h"
#include "common/store.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFINITIONS "/providers/Microsoft.Authorization/roleDefinitions/"
#define ASSIGNMENTS "/providers/Microsoft.Authorization/roleAssignments/"

/* The {scope} of the request as an ARM scope: "" for the tenant root, else "/…". */
static const char *request_scope(struct http_request *req)
{
    const char *full = arm_scope(req);
    const char *providers = strcasestr(full, "/providers/Microsoft.Authorization/");
    /* {scope*} is everything before the last Microsoft.Authorization provider segment. */
    for (const char *p = providers; p; p = strcasestr(p + 1, "/providers/Microsoft.Authorization/"))
        providers = p;
    return providers ? arena_strndup(req->arena, full, (size_t)(providers - full)) : full;
}

/* Role definitions are read at a scope; their ids carry the subscription part of it. */
static const char *definition_prefix(struct http_request *req, const char *scope)
{
    if (!str_has_iprefix(scope, "/subscriptions/"))
        return "";
    const char *id = scope + strlen("/subscriptions/");
    return arena_printf(req->arena, "/subscriptions/%.*s", (int)strcspn(id, "/"), id);
}

static bool assignable_at(const char *scopes_json, const char *scope)
{
    struct json *scopes;
    if (json_parse(scopes_json, strlen(scopes_json), &scopes, NULL, 0) != 0)
        return false;
    bool ok = false;
    for (size_t i = 0; i < json_len(scopes) && !ok; i++) {
        const char *s = json_string(json_at(scopes, i));
        ok = s && rbac_scope_covers(s, *scope ? scope : "/");
    }
    json_free(scopes);
    return ok;
}

#define DEFINITION_COLUMNS                                                                         \
    "id, role_name, description, role_type, assignable_scopes, permissions, created_on, "          \
    "updated_on"

static void write_raw(struct json_writer *w, const char *key, const char *json_text)
{
    struct json *v = NULL;
    jw_key(w, key);
    if (json_text && json_parse(json_text, strlen(json_text), &v, NULL, 0) == 0)
        jw_value(w, v);
    else
        jw_null(w);
    json_free(v);
}

static void write_definition(struct http_request *req, struct json_writer *w, const char *prefix,
                             struct store_stmt *st)
{
    const char *id = store_column_text(st, 0);
    jw_object_open(w);
    jw_kv_string(w, "id", arena_printf(req->arena, "%s" DEFINITIONS "%s", prefix, id));
    jw_kv_string(w, "name", id);
    jw_kv_string(w, "type", "Microsoft.Authorization/roleDefinitions");
    jw_key(w, "properties");
    jw_object_open(w);
    jw_kv_string(w, "roleName", store_column_text(st, 1));
    jw_kv_string(w, "type", store_column_text(st, 3));
    jw_kv_string(w, "description", store_column_text(st, 2));
    write_raw(w, "assignableScopes", store_column_text(st, 4));
    write_raw(w, "permissions", store_column_text(st, 5));
    jw_kv_string(w, "createdOn", store_column_text(st, 6));
    jw_kv_string(w, "updatedOn", store_column_text(st, 7));
    jw_kv_string(w, "createdBy", NULL);
    jw_kv_string(w, "updatedBy", NULL);
    jw_object_close(w);
    jw_object_close(w);
}

int arm_list_role_definitions(struct http_request *req)
{
    const char *scope = request_scope(req);
    const char *name = arm_filter_value(req, "roleName");
    const char *type = arm_filter_value(req, "type");
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT " DEFINITION_COLUMNS " FROM role_definitions "
                      "WHERE (?1 IS NULL OR role_name = ?1) AND "
                      "(?2 IS NULL OR role_type = ?2) ORDER BY role_name",
                      &st) != 0)
        return http_fail(req, 500, "InternalServerError", "The store could not be read.");
    store_bind_text(st, 1, name);
    store_bind_text(st, 2, type);
    const char *prefix = definition_prefix(req, scope);
    struct json_writer *w = json_writer_new();
    jw_list_open(w);
    while (store_step(st) == 1) {
        if (assignable_at(store_column_text(st, 4), scope))
            write_definition(req, w, prefix, st);
    }
    jw_list_close(w);
    store_finalize(st);
    return arm_reply(req, 200, w);
}

/* Reply with one role definition, or 404 RoleDefinitionDoesNotExist. */
static int reply_definition(struct http_request *req, const char *id, int status)
{
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT " DEFINITION_COLUMNS " FROM role_definitions "
                      "WHERE id = lower(?1)",
                      &st) != 0)
        return http_fail(req, 500, "InternalServerError", "The store could not be read.");
    store_bind_text(st, 1, id);
    if (store_step(st) != 1) {
        store_finalize(st);
        return http_fail(req, 404, "RoleDefinitionDoesNotExist",
                         "The specified role definition with ID '%s' does not exist.", id);
    }
    struct json_writer *w = json_writer_new();
    write_definition(req, w, definition_prefix(req, request_scope(req)), st);
    store_finalize(st);
    return arm_reply(req, status, w);
}

int arm_get_role_definition(struct http_request *req)
{
    return reply_definition(req, http_param(req, "roleDefinitionId"), 200);
}

static const char *json_text(struct http_request *req, const struct json *v)
{
    struct json_writer *w = json_writer_new();
    jw_value(w, v);
    const char *text = arena_strdup(req->arena, json_writer_text(w, NULL));
    json_writer_free(w);
    return text;
}

/* PUT a custom role: roleName, permissions and assignableScopes are required. */
int arm_put_role_definition(struct http_request *req)
{
    const char *id = http_param(req, "roleDefinitionId");
    if (!uuid_valid(id))
        return http_fail(req, 400, "InvalidRoleDefinitionId",
                         "The role definition ID '%s' is not valid: it must be a GUID.", id);
    const struct json *body = arm_body(req);
    if (!body)
        return AZ_EREPLIED;
    const struct json *p = json_iget(body, "properties");
    const char *name = json_string(json_iget(p, "roleName"));
    const struct json *perms = json_iget(p, "permissions");
    const struct json *scopes = json_iget(p, "assignableScopes");
    int rc = 0;
    struct store_stmt *st;
    char existing[16] = "";
    if (store_prepare(req->store, "SELECT role_type FROM role_definitions WHERE id = lower(?1)",
                      &st) == 0) {
        store_bind_text(st, 1, id);
        if (store_step(st) == 1)
            snprintf(existing, sizeof(existing), "%s", store_column_text(st, 0));
        store_finalize(st);
    }
    if (strcmp(existing, "BuiltInRole") == 0) {
        rc = http_fail(req, 403, "RoleDefinitionUpdateNotAllowed",
                       "Built-in role definitions cannot be changed.");
    } else if (!name || !*name || json_type(perms) != JSON_ARRAY || json_len(perms) == 0 ||
               json_type(scopes) != JSON_ARRAY || json_len(scopes) == 0) {
        rc = http_fail(req, 400, "InvalidRoleDefinition",
                       "A role definition needs properties.roleName, a non-empty "
                       "properties.permissions and a non-empty properties.assignableScopes.");
    } else if (store_prepare(req->store,
                             "INSERT INTO role_definitions(id, role_name, description, role_type, "
                             "assignable_scopes, permissions, created_on, updated_on) "
                             "SELECT lower(?1), ?2, ?3, 'CustomRole', ?4, ?5, ?6, ?6 "
                             "WHERE NOT EXISTS (SELECT 1 FROM role_definitions WHERE "
                             "role_name = ?2 AND id <> lower(?1)) "
                             "ON CONFLICT(id) DO UPDATE SET role_name = excluded.role_name, "
                             "description = excluded.description, "
                             "assignable_scopes = excluded.assignable_scopes, "
                             "permissions = excluded.permissions, updated_on = excluded.updated_on",
                             &st) != 0) {
        rc = http_fail(req, 500, "InternalServerError", "The store could not be written.");
    } else {
        char now[32];
        clock_format_iso8601(clock_now_ms(), now, sizeof(now));
        store_bind_text(st, 1, id);
        store_bind_text(st, 2, name);
        const char *description = json_string(json_iget(p, "description"));
        store_bind_text(st, 3, description ? description : ""); /* optional in Azure too */
        store_bind_text(st, 4, json_text(req, scopes));
        store_bind_text(st, 5, json_text(req, perms));
        store_bind_text(st, 6, now);
        int step = store_step(st);
        bool written = step == 0 && store_changes(req->store) > 0;
        store_finalize(st);
        if (step < 0)
            rc = http_fail(req, 500, "InternalServerError", "The store could not be written.");
        else if (!written)
            rc = http_fail(req, 409, "RoleDefinitionWithSameNameExists",
                           "A custom role with the same name already exists in this directory.");
        else
            rc = reply_definition(req, id, existing[0] ? 200 : 201);
    }
    return rc;
}

int arm_delete_role_definition(struct http_request *req)
{
    const char *id = http_param(req, "roleDefinitionId");
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT role_type, (SELECT count(*) FROM role_assignments "
                      "WHERE role_definition_id = lower(?1)) FROM role_definitions "
                      "WHERE id = lower(?1)",
                      &st) != 0)
        return http_fail(req, 500, "InternalServerError", "The store could not be read.");
    store_bind_text(st, 1, id);
    int found = store_step(st);
    bool builtin = found == 1 && strcmp(store_column_text(st, 0), "BuiltInRole") == 0;
    int64_t assignments = found == 1 ? store_column_int64(st, 1) : 0;
    store_finalize(st);
    if (found != 1)
        return http_reply(req, 204, NULL, "", 0);
    if (builtin)
        return http_fail(req, 403, "RoleDefinitionUpdateNotAllowed",
                         "Built-in role definitions cannot be deleted.");
    if (assignments > 0)
        return http_fail(req, 409, "RoleDefinitionHasAssignments",
                         "There are existing role assignments referencing role (code: "
                         "RoleDefinitionHasAssignments).");
    /* Answer with the role as it was, then remove it. */
    if (reply_definition(req, id, 200) != 0)
        return AZ_EREPLIED;
    if (store_prepare(req->store, "DELETE FROM role_definitions WHERE id = lower(?1)", &st) == 0) {
        store_bind_text(st, 1, id);
        store_step(st);
        store_finalize(st);
    }
    return 0;
}

/* ---- role assignments ----------------------------------------------------------------------- */

#define ASSIGNMENT_COLUMNS                                                                         \
    "id, scope, role_definition_id, principal_id, principal_type, description, created_by, "       \
    "created_at"

static void write_assignment(struct http_request *req, struct json_writer *w, struct store_stmt *st)
{
    const char *scope = store_column_text(st, 1);
    char when[32];
    clock_format_iso8601(store_column_int64(st, 7), when, sizeof(when));
    jw_object_open(w);
    jw_kv_string(w, "id",
                 arena_printf(req->arena, "%s" ASSIGNMENTS "%s",
                              strcmp(scope, "/") == 0 ? "" : scope, store_column_text(st, 0)));
    jw_kv_string(w, "name", store_column_text(st, 0));
    jw_kv_string(w, "type", "Microsoft.Authorization/roleAssignments");
    jw_key(w, "properties");
    jw_object_open(w);
    jw_kv_string(w, "roleDefinitionId",
                 arena_printf(req->arena, "%s" DEFINITIONS "%s", definition_prefix(req, scope),
                              store_column_text(st, 2)));
    jw_kv_string(w, "principalId", store_column_text(st, 3));
    jw_kv_string(w, "principalType", store_column_text(st, 4));
    jw_kv_string(w, "scope", scope);
    jw_kv_string(w, "condition", NULL);
    jw_kv_string(w, "conditionVersion", NULL);
    jw_kv_string(w, "createdOn", when);
    jw_kv_string(w, "updatedOn", when);
    jw_kv_string(w, "createdBy", store_column_text(st, 6));
    jw_kv_string(w, "updatedBy", store_column_text(st, 6));
    jw_kv_string(w, "delegatedManagedIdentityResourceId", NULL);
    jw_kv_string(w, "description", store_column_text(st, 5));
    jw_object_close(w);
    jw_object_close(w);
}

/* Find the assignment named by the request at its scope; write it when `w` is given. */
static int find_assignment(struct http_request *req, struct json_writer *w)
{
    const char *scope = request_scope(req);
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT " ASSIGNMENT_COLUMNS " FROM role_assignments "
                      "WHERE id = lower(?1) AND scope = ?2",
                      &st) != 0)
        return AZ_ESTORE;
    store_bind_text(st, 1, http_param(req, "roleAssignmentName"));
    store_bind_text(st, 2, *scope ? scope : "/");
    int rc = store_step(st);
    if (rc == 1 && w)
        write_assignment(req, w, st);
    store_finalize(st);
    return rc == 1 ? 0 : rc == 0 ? AZ_ENOTFOUND : AZ_ESTORE;
}

int arm_get_role_assignment(struct http_request *req)
{
    struct json_writer *w = json_writer_new();
    int rc = find_assignment(req, w);
    if (rc == 0)
        return arm_reply(req, 200, w);
    json_writer_free(w);
    if (rc == AZ_ENOTFOUND)
        return http_fail(req, 404, "RoleAssignmentNotFound",
                         "The role assignment '%s' is not found.",
                         http_param(req, "roleAssignmentName"));
    return http_fail(req, 500, "InternalServerError", "The store could not be read.");
}

/* "User" or "ServicePrincipal" for a principal of the directory, or NULL when there is none. */
static const char *principal_type(struct http_request *req, const char *id)
{
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT 'User' FROM users WHERE object_id = lower(?1) UNION ALL "
                      "SELECT 'ServicePrincipal' FROM service_principals "
                      "WHERE object_id = lower(?1)",
                      &st) != 0)
        return NULL;
    store_bind_text(st, 1, id);
    const char *type =
        store_step(st) == 1 ? arena_strdup(req->arena, store_column_text(st, 0)) : NULL;
    store_finalize(st);
    return type;
}

int arm_create_role_assignment(struct http_request *req)
{
    const char *name = http_param(req, "roleAssignmentName");
    const char *scope = request_scope(req);
    if (!*scope)
        scope = "/";
    if (!uuid_valid(name))
        return http_fail(req, 400, "InvalidRoleAssignmentId",
                         "The role assignment ID '%s' is not valid. The role assignment ID must be "
                         "a GUID.",
                         name);
    const struct json *body = arm_body(req);
    if (!body)
        return AZ_EREPLIED;
    /* 2015-07-01 sends the fields flat; later versions inside "properties". */
    const struct json *p = json_iget(body, "properties");
    if (!p)
        p = body;
    const char *role_id = json_string(json_iget(p, "roleDefinitionId"));
    const char *principal = json_string(json_iget(p, "principalId"));
    const char *role_guid = role_id ? strrchr(role_id, '/') : NULL;
    role_guid = role_guid ? role_guid + 1 : role_id;
    int rc = AZ_EREPLIED;
    struct store_stmt *st = NULL;
    char scopes[4096] = "";
    bool role_found = false;
    if (role_guid && store_prepare(req->store,
                                   "SELECT assignable_scopes FROM role_definitions "
                                   "WHERE id = lower(?1)",
                                   &st) == 0) {
        store_bind_text(st, 1, role_guid);
        role_found = store_step(st) == 1;
        if (role_found)
            snprintf(scopes, sizeof(scopes), "%s", store_column_text(st, 0));
        store_finalize(st);
    }
    const char *type = principal && uuid_valid(principal) ? principal_type(req, principal) : NULL;
    const char *given_type = json_string(json_iget(p, "principalType"));
    if (!role_found) {
        http_fail(req, 400, "RoleDefinitionDoesNotExist",
                  "The specified role definition with ID '%s' does not exist.",
                  role_guid ? role_guid : "");
    } else if (!type) {
        http_fail(req, 400, "PrincipalNotFound",
                  "Principal %s does not exist in the directory %s. Check that you have the "
                  "correct principal ID. If you are creating this principal and then immediately "
                  "assigning a role, this error might be related to a replication delay. In this "
                  "case, set the role assignment principalType property to a value, such as "
                  "ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype",
                  principal ? principal : "", req->caller->tid);
    } else if (!assignable_at(scopes, scope)) {
        http_fail(req, 403, "InvalidCreateRoleAssignmentRequest",
                  "The role definition '%s' cannot be assigned at scope '%s': it is not among "
                  "its assignable scopes.",
                  role_guid, scope);
    } else if (store_prepare(req->store,
                             "INSERT INTO role_assignments(id, scope, role_definition_id, "
                             "principal_id, principal_type, description, created_by, created_at) "
                             "VALUES(lower(?1), ?2, lower(?3), lower(?4), ?5, ?6, ?7, ?8)",
                             &st) != 0) {
        http_fail(req, 500, "InternalServerError", "The store could not be written.");
    } else {
        store_bind_text(st, 1, name);
        store_bind_text(st, 2, scope);
        store_bind_text(st, 3, role_guid);
        store_bind_text(st, 4, principal);
        store_bind_text(st, 5, given_type ? given_type : type);
        store_bind_text(st, 6, json_string(json_iget(p, "description")));
        store_bind_text(st, 7, req->caller->oid);
        store_bind_int64(st, 8, clock_now_ms());
        int step = store_step(st);
        store_finalize(st);
        if (step == AZ_EEXIST) {
            http_fail(req, 409, "RoleAssignmentExists", "The role assignment already exists.");
        } else if (step < 0) {
            http_fail(req, 500, "InternalServerError", "The store could not be written.");
        } else {
            struct json_writer *w = json_writer_new();
            find_assignment(req, w);
            rc = arm_reply(req, 201, w);
        }
    }
    return rc;
}

int arm_delete_role_assignment(struct http_request *req)
{
    struct json_writer *w = json_writer_new();
    int rc = find_assignment(req, w);
    if (rc == AZ_ENOTFOUND) {
        json_writer_free(w);
        return http_reply(req, 204, NULL, "", 0);
    }
    struct store_stmt *st;
    if (rc != 0 ||
        store_prepare(req->store, "DELETE FROM role_assignments WHERE id = lower(?1)", &st) != 0) {
        json_writer_free(w);
        return http_fail(req, 500, "InternalServerError", "The store could not be written.");
    }
    store_bind_text(st, 1, http_param(req, "roleAssignmentName"));
    store_step(st);
    store_finalize(st);
    return arm_reply(req, 200, w);
}

/*
 * List: without a filter, the assignments at, above and below the scope; atScope() keeps those
 * at or above; principalId eq '…' and assignedTo('…') keep one principal's.
 */
int arm_list_role_assignments(struct http_request *req)
{
    const char *scope = request_scope(req);
    if (!*scope)
        scope = "/";
    const char *filter = http_query(req, "$filter");
    bool at_scope = filter && strcasestr(filter, "atScope()");
    const char *principal = arm_filter_value(req, "principalId");
    if (!principal)
        principal = arm_filter_value(req, "assignedTo");
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT " ASSIGNMENT_COLUMNS " FROM role_assignments "
                      "WHERE ?1 IS NULL OR principal_id = lower(?1) ORDER BY created_at",
                      &st) != 0)
        return http_fail(req, 500, "InternalServerError", "The store could not be read.");
    store_bind_text(st, 1, principal);
    struct json_writer *w = json_writer_new();
    jw_list_open(w);
    while (store_step(st) == 1) {
        const char *a = store_column_text(st, 1);
        bool above = rbac_scope_covers(a, scope);
        bool below = rbac_scope_covers(scope, a);
        if (above || (!at_scope && below))
            write_assignment(req, w, st);
    }
    jw_list_close(w);
    store_finalize(st);
    return arm_reply(req, 200, w);
}

/* GET {scope}/providers/Microsoft.Authorization/permissions: the caller's permission blocks
 * from every assignment that applies at the scope. */
int arm_list_permissions(struct http_request *req)
{
    const char *scope = request_scope(req);
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT a.scope, d.permissions FROM role_assignments a "
                      "JOIN role_definitions d ON d.id = a.role_definition_id "
                      "WHERE a.principal_id = lower(?1)",
                      &st) != 0)
        return http_fail(req, 500, "InternalServerError", "The store could not be read.");
    store_bind_text(st, 1, req->caller->oid);
    struct json_writer *w = json_writer_new();
    jw_list_open(w);
    while (store_step(st) == 1) {
        if (!rbac_scope_covers(store_column_text(st, 0), *scope ? scope : "/"))
            continue;
        struct json *blocks = NULL;
        const char *text = store_column_text(st, 1);
        if (json_parse(text, strlen(text), &blocks, NULL, 0) == 0) {
            for (size_t i = 0; i < json_len(blocks); i++)
                jw_value(w, json_at(blocks, i));
        }
        json_free(blocks);
    }
    jw_list_close(w);
    store_finalize(st);
    return arm_reply(req, 200, w);
}
