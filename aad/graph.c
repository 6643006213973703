/*
 * aad/graph.c — the slice of Microsoft Graph v1.0 (graph.microsoft.com, served by the Entra ID
 * module) that clients need to name and manage directory objects: POST
 * /v1.0/directoryObjects/getByIds, which `az role assignment list` calls to show principals by
 * name; GET /v1.0/me (400 for application tokens, as Graph answers); GET /v1.0/users with
 * $filter=userPrincipalName eq '…'; service principals: list (with the $filter forms below), get,
 * create (POST {"appId"}) and delete, which `az ad sp create-for-rbac`, `az ad sp show/delete`,
 * `az keyvault create` and `az role assignment create --assignee` use. Applications are in
 * graph_applications.c.
 *
 * $filter: terms joined by `and`, each `<property> eq '…'`, `startswith(<property>,'…')` or
 * `<collection>/any(x:x eq '…')`; for service principals the properties are id, appId,
 * displayName and servicePrincipalNames (the app id and the application's identifier URI).
 * Strings compare case-insensitively, as in Entra ID.
 *
 * Who may write: Entra's defaults — any member user, and applications holding
 * Application.ReadWrite.All, which in azsim is the admin application only. Others get 403
 * Authorization_RequestDenied. Every authenticated caller of the tenant may read. Decisions go to
 * the audit log. Objects are those of the caller's tenant.
 *
 * Graph answers errors as {"error":{"code","message","innerError":{…}}} (az reads
 * error.message), not in the OAuth shape of the token service; aad_render_error picks the shape by
 * path.
 *
 * Not emulated: groups, paging (azsim's directories are small), $select/$expand/$top/$count,
 * other $filter forms, owners, app roles and permission grants, soft-deleted objects (deletions
 * are final), service principals' own password credentials.
 */
#include "aad/aad.h"

#include "common/audit.h"
#include "common/auth.h"
#include "common/error.h"
#include "common/json.h"
#include "common/store.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool graph_path(const char *path)
{
    path += strspn(path, "/");
    return str_has_iprefix(path, "v1.0/") || str_has_iprefix(path, "beta/");
}

/* Graph's error body: code and message, and the innerError every Graph error carries. */
static void render_graph_error(struct http_request *req, int status, const char *code,
                               const char *message)
{
    char ts[32];
    clock_format_iso8601(clock_now_ms(), ts, sizeof(ts));
    ts[19] = '\0'; /* Graph's innerError date has no fraction and no zone */
    const char *client_request_id = http_header(req, "client-request-id");
    if (!client_request_id)
        client_request_id = http_header(req, "x-ms-client-request-id");
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_key(w, "error");
    jw_object_open(w);
    jw_kv_string(w, "code", code);
    jw_kv_string(w, "message", message);
    jw_key(w, "innerError");
    jw_object_open(w);
    jw_kv_string(w, "date", ts);
    jw_kv_string(w, "request-id", req->request_id);
    jw_kv_string(w, "client-request-id", client_request_id ? client_request_id : req->request_id);
    jw_object_close(w);
    jw_object_close(w);
    jw_object_close(w);
    http_reply_json(req, status, w);
    json_writer_free(w);
    http_set_header(req, "request-id", req->request_id);
}

void aad_render_error(struct http_request *req, int status, const char *code, const char *message)
{
    if (graph_path(req->path))
        render_graph_error(req, status, code, message);
    else
        http_render_oauth_error(req, status, code, message);
}

static const char *const graph_audiences[] = {"https://graph.microsoft.com/",
                                              "https://graph.windows.net/"};

/* Graph's words for why a token was refused (common/token.c says it in its own). */
static const char *graph_token_message(const char *reason)
{
    if (strstr(reason, "compact JWS") || strstr(reason, "base64url") ||
        strstr(reason, "not a JSON object"))
        return "CompactToken parsing failed with error code: 80049217";
    if (strstr(reason, "expired"))
        return "Lifetime validation failed, the token is expired.";
    if (strstr(reason, "not valid yet"))
        return "Lifetime validation failed, the token is not yet valid.";
    if (strstr(reason, "audience"))
        return "Access token validation failure. Invalid audience.";
    return "Access token validation failure.";
}

int aad_graph_authenticate(struct http_request *req)
{
    struct token_principal who;
    const char *reason;
    int rc = auth_bearer(req, graph_audiences, ARRAY_SIZE(graph_audiences), &who, &reason);
    if (rc == 0)
        return 0;
    return http_fail(req, 401, "InvalidAuthenticationToken", "%s",
                     rc == AZ_ENOTFOUND ? "Access token is empty." : graph_token_message(reason));
}

/* A service principal's certificates as Graph lists them: for a managed identity, the one ARM
 * registered when it made the identity (its private half is IMDS's). Key material stays out. */
void aad_graph_write_key_credentials(struct http_request *req, struct json_writer *w,
                                     const char *app_id)
{
    struct store_stmt *st;
    jw_key(w, "keyCredentials");
    jw_array_open(w);
    if (store_prepare(req->store,
                      "SELECT id, x5t, not_before, not_after FROM credentials WHERE app_id = ?1 "
                      "AND kind = 'certificate' ORDER BY not_before",
                      &st) == 0) {
        store_bind_text(st, 1, app_id);
        while (store_step(st) == 1) {
            /* customKeyIdentifier is the SHA-1 thumbprint, base64 (x5t is base64url) */
            char *thumb = arena_strdup(req->arena, store_column_text(st, 1));
            for (char *c = thumb; *c; c++)
                *c = *c == '-' ? '+' : *c == '_' ? '/' : *c;
            char start[32], end[32];
            clock_format_iso8601(store_column_int64(st, 2), start, sizeof(start));
            clock_format_iso8601(store_column_int64(st, 3), end, sizeof(end));
            jw_object_open(w);
            jw_kv_string(w, "customKeyIdentifier", arena_printf(req->arena, "%s=", thumb));
            jw_kv_string(w, "displayName", arena_printf(req->arena, "CN=%s", app_id));
            jw_kv_string(w, "endDateTime", end);
            jw_kv_string(w, "key", NULL);
            jw_kv_string(w, "keyId", store_column_text(st, 0));
            jw_kv_string(w, "startDateTime", start);
            jw_kv_string(w, "type", "AsymmetricX509Cert");
            jw_kv_string(w, "usage", "Verify");
            jw_object_close(w);
        }
        store_finalize(st);
    }
    jw_array_close(w);
}

/* ---- authorization ----------------------------------------------------------------------------
 */

int aad_graph_authorize_write(struct http_request *req, const char *action)
{
    bool allowed;
    const char *reason;
    if (req->caller->kind == TOKEN_KIND_USER) {
        /* Entra's default "Users can register applications": yes. */
        allowed = true;
        reason = "member users may register and manage applications";
    } else {
        char *admin = NULL;
        store_meta_get(req->store, "admin_client_id", &admin);
        allowed = admin && str_ieq(admin, req->caller->appid);
        free(admin);
        reason = allowed ? "the admin application holds Application.ReadWrite.All"
                         : "the application holds no Application.ReadWrite.All permission";
    }
    const char *scope = arena_printf(req->arena, "/tenants/%s", req->caller->tid);
    audit_record(req->store, &(struct audit_entry){
                                 .module = "aad",
                                 .principal = req->caller->oid,
                                 .action = action,
                                 .scope = scope,
                                 .allowed = allowed,
                                 .reason = reason,
                                 .request_id = req->request_id,
                             });
    req->rbac_verdict = allowed ? "allow" : "deny";
    if (allowed)
        return 0;
    return http_fail(req, 403, "Authorization_RequestDenied",
                     "Insufficient privileges to complete the operation.");
}

/* ---- requests ------------------------------------------------------------------------------- */

int aad_graph_body(struct http_request *req, const struct json **out)
{
    if (req->body_len == 0)
        return http_fail(req, 400, "BadRequest", "Empty Payload. JSON content expected.");
    const struct json *body = json_parse_in(req->arena, req->body, req->body_len);
    if (json_type(body) != JSON_OBJECT)
        return http_fail(req, 400, "BadRequest",
                         "Unable to read JSON request payload. Please ensure Content-Type header "
                         "is set and payload is of valid JSON format.");
    *out = body;
    return 0;
}

const char *aad_graph_object_id(struct http_request *req)
{
    const char *id = http_param(req, "id");
    if (!uuid_valid(id)) {
        http_fail(req, 400, "Request_BadRequest", "Invalid object identifier '%s'.", id);
        return NULL;
    }
    return id;
}

int aad_graph_not_found(struct http_request *req, const char *id)
{
    return http_fail(req, 404, "Request_ResourceNotFound",
                     "Resource '%s' does not exist or one of its queried reference-property "
                     "objects are not present.",
                     id);
}

/* ---- $filter -------------------------------------------------------------------------------- */

static void skip_spaces(const char **p)
{
    while (**p == ' ')
        (*p)++;
}

/* Consume `word` (case-insensitive) after optional spaces. */
static bool eat(const char **p, const char *word)
{
    skip_spaces(p);
    size_t n = strlen(word);
    if (strncasecmp(*p, word, n) != 0)
        return false;
    *p += n;
    return true;
}

/* An OData identifier after optional spaces, copied into the arena; NULL when there is none. */
static const char *identifier(struct arena *a, const char **p)
{
    skip_spaces(p);
    const char *start = *p;
    while ((**p >= 'a' && **p <= 'z') || (**p >= 'A' && **p <= 'Z') || (**p >= '0' && **p <= '9') ||
           **p == '_')
        (*p)++;
    return *p > start ? arena_strndup(a, start, (size_t)(*p - start)) : NULL;
}

/* A quoted OData string ('' stands for '); NULL when malformed. */
static const char *quoted(struct arena *a, const char **p)
{
    skip_spaces(p);
    if (**p != '\'')
        return NULL;
    struct buf b = {0};
    buf_puts(&b, "");
    for ((*p)++; **p; (*p)++) {
        if (**p == '\'' && (*p)[1] == '\'') {
            (*p)++;
        } else if (**p == '\'') {
            (*p)++;
            const char *v = arena_strdup(a, b.data);
            buf_free(&b);
            return v;
        }
        buf_putc(&b, **p);
    }
    buf_free(&b);
    return NULL;
}

static const struct graph_filter_field *field_named(const struct graph_filter_field *fields,
                                                    const char *name)
{
    for (; fields->property; fields++)
        if (str_ieq(fields->property, name))
            return fields;
    return NULL;
}

/* `template` with each '#' replaced by the parameter number `n`. */
static void put_template(struct buf *b, const char *template, int n)
{
    for (const char *t = template; *t; t++) {
        if (*t == '#')
            buf_printf(b, "%d", n);
        else
            buf_putc(b, *t);
    }
}

/* LIKE pattern for "starts with `v`": the wildcards in `v` escaped with '\'. */
static const char *like_prefix(struct arena *a, const char *v)
{
    struct buf b = {0};
    buf_puts(&b, "");
    for (; *v; v++) {
        if (*v == '%' || *v == '_' || *v == '\\')
            buf_putc(&b, '\\');
        buf_putc(&b, *v);
    }
    buf_putc(&b, '%');
    const char *out = arena_strdup(a, b.data);
    buf_free(&b);
    return out;
}

#define GRAPH_FILTER_MAX 8

/* $filter compiled: `sql` is "" or " AND …" with parameters ?first_param… bound to values[]. */
struct graph_filter {
    const char *sql;
    const char *values[GRAPH_FILTER_MAX];
    size_t n;
};

/* Compile the request's $filter over `fields` of `resource`; 0, or a failed request. */
static int compile_filter(struct http_request *req, const char *resource,
                          const struct graph_filter_field *fields, int first_param,
                          struct graph_filter *out)
{
    memset(out, 0, sizeof(*out));
    out->sql = "";
    const char *filter = http_query(req, "$filter");
    if (!filter)
        return 0;
    struct buf sql = {0};
    buf_puts(&sql, "");
    const char *p = filter;
    const char *property = NULL;
    for (;;) {
        if (out->n == GRAPH_FILTER_MAX)
            goto unsupported;
        const struct graph_filter_field *f;
        const char *value;
        int n = first_param + (int)out->n;
        buf_puts(&sql, " AND ");
        if (eat(&p, "startswith(")) {
            property = identifier(req->arena, &p);
            f = property ? field_named(fields, property) : NULL;
            if (!f || !f->column || !eat(&p, ",") || !(value = quoted(req->arena, &p)) ||
                !eat(&p, ")"))
                goto unsupported;
            buf_printf(&sql, "%s LIKE ?%d ESCAPE '\\'", f->column, n);
            value = like_prefix(req->arena, value);
        } else {
            property = identifier(req->arena, &p);
            f = property ? field_named(fields, property) : NULL;
            if (!f)
                goto unsupported;
            if (*p == '/') {
                /* <collection>/any(x:x eq '…') */
                p++;
                const char *var, *var2;
                if (!f->any || !eat(&p, "any(") || !(var = identifier(req->arena, &p)) ||
                    !eat(&p, ":") || !(var2 = identifier(req->arena, &p)) ||
                    strcmp(var, var2) != 0 || !eat(&p, "eq ") ||
                    !(value = quoted(req->arena, &p)) || !eat(&p, ")"))
                    goto unsupported;
                buf_putc(&sql, '(');
                put_template(&sql, f->any, n);
                buf_putc(&sql, ')');
            } else {
                if (!f->column || !eat(&p, "eq ") || !(value = quoted(req->arena, &p)))
                    goto unsupported;
                buf_printf(&sql, "%s = ?%d COLLATE NOCASE", f->column, n);
            }
        }
        out->values[out->n++] = value;
        skip_spaces(&p);
        if (!*p)
            break;
        if (!eat(&p, "and "))
            goto unsupported;
    }
    out->sql = arena_strdup(req->arena, sql.data);
    buf_free(&sql);
    return 0;
unsupported:
    buf_free(&sql);
    return http_fail(req, 400, "Request_UnsupportedQuery",
                     "Unsupported or invalid query filter clause specified for property '%s' of "
                     "resource '%s'.",
                     property ? property : filter, resource);
}

/* ---- directory objects ---------------------------------------------------------------------- */

/* The columns write_object reads: kind, object id, upn or app id, display name, service principal
 * type, then for service principals tenant, ARM resource id (managed identities), the
 * application's identifier URI and display name, creation time. */
#define SP_COLUMNS                                                                                 \
    "'servicePrincipal', sp.object_id, sp.app_id, sp.display_name, sp.type, sp.tenant_id, "        \
    "coalesce(sp.resource_id, ''), a.identifier_uri, a.display_name, sp.created_at"
#define SP_FROM "service_principals sp LEFT JOIN applications a ON a.app_id = sp.app_id"

static void write_strings(struct json_writer *w, const char *key, const char *const *values)
{
    jw_key(w, key);
    jw_array_open(w);
    for (; *values; values++)
        jw_string(w, *values);
    jw_array_close(w);
}

static void write_service_principal(struct http_request *req, struct json_writer *w,
                                    struct store_stmt *st)
{
    const char *app_id = arena_strdup(req->arena, store_column_text(st, 2));
    const char *type = arena_strdup(req->arena, store_column_text(st, 4));
    const char *resource_id = arena_strdup(req->arena, store_column_text(st, 6));
    const char *uri = store_column_text(st, 7);
    uri = uri ? arena_strdup(req->arena, uri) : NULL;
    const char *app_name = store_column_text(st, 8);
    bool managed = strcmp(type, "ManagedIdentity") == 0;
    char created[32];
    clock_format_iso8601(store_column_int64(st, 9), created, sizeof(created));
    jw_kv_string(w, "appId", app_id);
    jw_key(w, "servicePrincipalNames");
    jw_array_open(w);
    jw_string(w, app_id);
    if (uri)
        jw_string(w, uri);
    if (managed)
        jw_string(w, resource_id);
    jw_array_close(w);
    jw_kv_string(w, "servicePrincipalType", type);
    jw_kv_bool(w, "accountEnabled", true);
    if (managed)
        /* Entra marks user-assigned identities explicit, system-assigned ones not. */
        write_strings(w, "alternativeNames",
                      (const char *const[]){strstr(resource_id, "/userAssignedIdentities/")
                                                ? "isExplicit=True"
                                                : "isExplicit=False",
                                            resource_id, NULL});
    else
        write_strings(w, "alternativeNames", (const char *const[]){NULL});
    jw_kv_string(w, "appDisplayName", managed ? NULL : app_name);
    jw_kv_string(w, "appOwnerOrganizationId", managed ? NULL : store_column_text(st, 5));
    jw_kv_bool(w, "appRoleAssignmentRequired", false);
    jw_kv_string(w, "createdDateTime", created);
    jw_kv_string(w, "deletedDateTime", NULL);
    jw_kv_string(w, "description", NULL);
    jw_kv_string(w, "signInAudience", managed ? NULL : "AzureADMyOrg");
    write_strings(w, "tags", (const char *const[]){NULL});
    write_strings(w, "replyUrls", (const char *const[]){NULL});
    jw_key(w, "passwordCredentials");
    jw_array_open(w);
    jw_array_close(w);
    aad_graph_write_key_credentials(req, w, app_id);
}

/* One directory object from a row (SP_COLUMNS, or for a user: kind, object id, upn, display
 * name). */
static void write_object(struct http_request *req, struct json_writer *w, struct store_stmt *st)
{
    bool user = strcmp(store_column_text(st, 0), "user") == 0;
    jw_object_open(w);
    jw_kv_string(w, "@odata.type",
                 user ? "#microsoft.graph.user" : "#microsoft.graph.servicePrincipal");
    jw_kv_string(w, "id", store_column_text(st, 1));
    jw_kv_string(w, "displayName", store_column_text(st, 3));
    if (user) {
        jw_kv_string(w, "userPrincipalName", store_column_text(st, 2));
        jw_kv_string(w, "mail", NULL);
    } else {
        write_service_principal(req, w, st);
    }
    jw_object_close(w);
}

/* POST /v1.0/directoryObjects/getByIds {"ids":[…],"types":[…]}: the objects found, in the
 * order asked; unknown ids are left out, as Graph does. */
int aad_graph_get_by_ids(struct http_request *req)
{
    if (aad_graph_authenticate(req) != 0)
        return AZ_EREPLIED;
    struct json *body = NULL;
    if (json_parse(req->body, req->body_len, &body, NULL, 0) != 0 ||
        json_type(json_get(body, "ids")) != JSON_ARRAY) {
        json_free(body);
        return http_fail(req, 400, "Request_BadRequest",
                         "The request body must be a JSON object with an 'ids' array.");
    }
    const struct json *ids = json_get(body, "ids");
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT 'user', object_id, upn, display_name, NULL, NULL, NULL, NULL, NULL, "
                      "NULL FROM users WHERE object_id = lower(?1) AND tenant_id = lower(?2) "
                      "UNION ALL SELECT " SP_COLUMNS " FROM " SP_FROM
                      " WHERE sp.object_id = lower(?1) AND sp.tenant_id = lower(?2)",
                      &st) != 0) {
        json_free(body);
        return http_fail(req, 500, "Service_InternalServerError", "The directory is unavailable.");
    }
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_string(w, "@odata.context",
                 "https://graph.microsoft.com/v1.0/$metadata#directoryObjects");
    jw_key(w, "value");
    jw_array_open(w);
    for (size_t i = 0; i < json_len(ids) && i < 1000; i++) {
        const char *id = json_string(json_at(ids, i));
        if (!id)
            continue;
        store_reset(st);
        store_bind_text(st, 1, id);
        store_bind_text(st, 2, req->caller->tid);
        if (store_step(st) == 1)
            write_object(req, w, st);
    }
    jw_array_close(w);
    jw_object_close(w);
    store_finalize(st);
    json_free(body);
    http_reply_json(req, 200, w);
    json_writer_free(w);
    return 0;
}

int aad_graph_reply_list(struct http_request *req, struct store_stmt *st, const char *context,
                         void (*write)(struct http_request *req, struct json_writer *w,
                                       struct store_stmt *st))
{
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_string(
        w, "@odata.context",
        arena_printf(req->arena, "https://graph.microsoft.com/v1.0/$metadata#%s", context));
    jw_key(w, "value");
    jw_array_open(w);
    while (store_step(st) == 1)
        write(req, w, st);
    jw_array_close(w);
    jw_object_close(w);
    store_finalize(st);
    http_reply_json(req, 200, w);
    json_writer_free(w);
    return 0;
}

int aad_graph_find_entity(struct http_request *req, const char *query, const char *object_id,
                          struct store_stmt **st)
{
    if (store_prepare(req->store, query, st) != 0)
        return aad_graph_store_failed(req);
    store_bind_text(*st, 1, object_id);
    store_bind_text(*st, 2, req->caller->tid);
    int rc = store_step(*st);
    if (rc == 1)
        return 0;
    store_finalize(*st);
    return rc == 0 ? aad_graph_not_found(req, object_id) : aad_graph_store_failed(req);
}

int aad_graph_store_failed(struct http_request *req)
{
    return http_fail(req, 500, "Service_InternalServerError", "The directory is unavailable.");
}

int aad_graph_list(struct http_request *req, const char *resource,
                   const struct graph_filter_field *fields, const char *query, const char *order,
                   struct store_stmt **st)
{
    struct graph_filter f;
    if (compile_filter(req, resource, fields, 2, &f) != 0)
        return AZ_EREPLIED;
    const char *sql = arena_printf(req->arena, "%s%s ORDER BY %s", query, f.sql, order);
    if (store_prepare(req->store, sql, st) != 0)
        return aad_graph_store_failed(req);
    store_bind_text(*st, 1, req->caller->tid);
    for (size_t i = 0; i < f.n; i++)
        store_bind_text(*st, (int)i + 2, f.values[i]);
    return 0;
}

/* GET /v1.0/me: the signed-in user; an application token has no "me". */
int aad_graph_me(struct http_request *req)
{
    if (aad_graph_authenticate(req) != 0)
        return AZ_EREPLIED;
    if (req->caller->kind != TOKEN_KIND_USER)
        return http_fail(req, 400, "BadRequest",
                         "/me request is only valid with delegated authentication flow.");
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT 'user', object_id, upn, display_name, NULL FROM users WHERE "
                      "object_id = lower(?1)",
                      &st) != 0)
        return aad_graph_store_failed(req);
    store_bind_text(st, 1, req->caller->oid);
    struct json_writer *w = json_writer_new();
    bool found = store_step(st) == 1;
    if (found)
        write_object(req, w, st);
    store_finalize(st);
    if (!found) {
        json_writer_free(w);
        return aad_graph_not_found(req, req->caller->oid);
    }
    http_reply_json(req, 200, w);
    json_writer_free(w);
    return 0;
}

/* GET /v1.0/users[?$filter=userPrincipalName eq '…'] in the caller's tenant. */
int aad_graph_users(struct http_request *req)
{
    static const struct graph_filter_field fields[] = {
        {"userPrincipalName", "upn", NULL},
        {"displayName", "display_name", NULL},
        {"id", "object_id", NULL},
        {NULL},
    };
    struct store_stmt *st;
    if (aad_graph_authenticate(req) != 0 ||
        aad_graph_list(req, "User", fields,
                       "SELECT 'user', object_id, upn, display_name, NULL FROM users "
                       "WHERE tenant_id = lower(?1)",
                       "upn", &st) != 0)
        return AZ_EREPLIED;
    return aad_graph_reply_list(req, st, "users", write_object);
}

/* ---- service principals --------------------------------------------------------------------- */

static const struct graph_filter_field sp_fields[] = {
    {"id", "sp.object_id", NULL},
    {"appId", "sp.app_id", NULL},
    {"displayName", "sp.display_name", NULL},
    {"servicePrincipalNames", NULL,
     "sp.app_id = ?# OR a.identifier_uri = ?# OR sp.resource_id = ?#"},
    {NULL},
};

/* GET /v1.0/servicePrincipals[?$filter=…] in the caller's tenant. */
int aad_graph_service_principals(struct http_request *req)
{
    struct store_stmt *st;
    if (aad_graph_authenticate(req) != 0 ||
        aad_graph_list(req, "ServicePrincipal", sp_fields,
                       "SELECT " SP_COLUMNS " FROM " SP_FROM " WHERE sp.tenant_id = lower(?1)",
                       "sp.display_name, sp.created_at", &st) != 0)
        return AZ_EREPLIED;
    return aad_graph_reply_list(req, st, "servicePrincipals", write_object);
}

/* Reply with the service principal `object_id` of the caller's tenant as one entity. */
static int reply_service_principal(struct http_request *req, int status, const char *object_id)
{
    struct store_stmt *st;
    if (aad_graph_find_entity(req,
                              "SELECT " SP_COLUMNS " FROM " SP_FROM
                              " WHERE sp.object_id = lower(?1) AND sp.tenant_id = lower(?2)",
                              object_id, &st) != 0)
        return AZ_EREPLIED;
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_string(w, "@odata.context",
                 "https://graph.microsoft.com/v1.0/$metadata#servicePrincipals/$entity");
    jw_kv_string(w, "id", store_column_text(st, 1));
    jw_kv_string(w, "displayName", store_column_text(st, 3));
    write_service_principal(req, w, st);
    jw_object_close(w);
    store_finalize(st);
    http_reply_json(req, status, w);
    json_writer_free(w);
    return 0;
}

/* GET /v1.0/servicePrincipals/{id} */
int aad_graph_service_principal_get(struct http_request *req)
{
    if (aad_graph_authenticate(req) != 0)
        return AZ_EREPLIED;
    const char *id = aad_graph_object_id(req);
    return id ? reply_service_principal(req, 200, id) : AZ_EREPLIED;
}

/* POST /v1.0/servicePrincipals {"appId": "…"}: the principal that lets an application of this
 * tenant sign in to it. 201 with the new object. */
int aad_graph_service_principal_create(struct http_request *req)
{
    if (aad_graph_authenticate(req) != 0 ||
        aad_graph_authorize_write(req, "microsoft.directory/servicePrincipals/create") != 0)
        return AZ_EREPLIED;
    const struct json *body;
    if (aad_graph_body(req, &body) != 0)
        return AZ_EREPLIED;
    const char *app_id = json_string(json_get(body, "appId"));
    if (!app_id || !*app_id)
        return http_fail(req, 400, "Request_BadRequest",
                         "Invalid value specified for property 'appId' of resource "
                         "'ServicePrincipal'.");
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT a.app_id, a.display_name, (SELECT count(*) FROM service_principals "
                      "sp WHERE sp.app_id = a.app_id AND sp.tenant_id = a.tenant_id) "
                      "FROM applications a WHERE a.app_id = ?1 AND a.tenant_id = lower(?2)",
                      &st) != 0)
        return aad_graph_store_failed(req);
    store_bind_text(st, 1, app_id);
    store_bind_text(st, 2, req->caller->tid);
    if (store_step(st) != 1) {
        store_finalize(st);
        /* az create-for-rbac retries on " does not reference " (replication delay in Azure). */
        return http_fail(req, 400, "Request_BadRequest",
                         "The appId '%s' of the service principal does not reference a valid "
                         "application object.",
                         app_id);
    }
    const char *canonical = arena_strdup(req->arena, store_column_text(st, 0));
    const char *name = arena_strdup(req->arena, store_column_text(st, 1));
    bool exists = store_column_int64(st, 2) > 0;
    store_finalize(st);
    if (exists)
        return http_fail(req, 409, "Request_MultipleObjectsWithSameKeyValue",
                         "The service principal cannot be created, updated, or restored because "
                         "the service principal name %s is already in use.",
                         canonical);
    char object_id[37];
    if (aad_service_principal_create(req->store, req->caller->tid, canonical, name, NULL,
                                     object_id) != 0)
        return aad_graph_store_failed(req);
    return reply_service_principal(req, 201, object_id);
}

/* DELETE /v1.0/servicePrincipals/{id}: the application stays (and keeps its credentials), as in
 * Entra ID; it can get a new principal. A managed identity's principal belongs to its ARM
 * resource. 204. */
int aad_graph_service_principal_delete(struct http_request *req)
{
    if (aad_graph_authenticate(req) != 0 ||
        aad_graph_authorize_write(req, "microsoft.directory/servicePrincipals/delete") != 0)
        return AZ_EREPLIED;
    const char *id = aad_graph_object_id(req);
    if (!id)
        return AZ_EREPLIED;
    char type[32];
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT type FROM service_principals WHERE object_id = lower(?1) AND "
                      "tenant_id = lower(?2)",
                      &st) != 0)
        return aad_graph_store_failed(req);
    store_bind_text(st, 1, id);
    store_bind_text(st, 2, req->caller->tid);
    bool found = store_step(st) == 1;
    if (found)
        snprintf(type, sizeof(type), "%s", store_column_text(st, 0));
    store_finalize(st);
    if (!found)
        return aad_graph_not_found(req, id);
    if (strcmp(type, "ManagedIdentity") == 0)
        return http_fail(req, 400, "Request_BadRequest",
                         "The service principal of a managed identity cannot be deleted in the "
                         "directory; delete the managed identity or disable it on its Azure "
                         "resource.");
    if (aad_service_principal_remove(req->store, id) != 0)
        return aad_graph_store_failed(req);
    return http_reply(req, 204, NULL, "", 0);
}
