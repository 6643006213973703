/*
 * aad/graph.c — the slice of Microsoft Graph (graph.microsoft.com, served by the Entra ID module)
 * that clients need to name directory objects: POST /v1.0/directoryObjects/getByIds, which
 * `az role assignment list` calls to show principals by name; GET /v1.0/me (400 for application
 * tokens, as Graph answers); GET /v1.0/users and /v1.0/servicePrincipals with the $filter forms
 * az sends (userPrincipalName eq '…', servicePrincipalNames/any(c:c eq '…'), appId eq '…'), which
 * `az keyvault create` and `az role assignment create --assignee` use.
 *
 * Graph answers errors as {"error":{"code","message"}} (az reads error.message), not in the
 * OAuth shape of the token service; aad_render_error picks the shape by path.
 *
 * Not emulated: groups, paging (azsim's directories are small), other $filter forms.
 */
#include "aad/aad.h"

#include "common/auth.h"
#include "common/error.h"
#include "common/json.h"
#include "common/store.h"
#include "common/util.h"

#include <string.h>

static bool graph_path(const char *path)
{
    path += strspn(path, "/");
    return str_has_iprefix(path, "v1.0/") || str_has_iprefix(path, "beta/");
}

void aad_render_error(struct http_request *req, int status, const char *code, const char *message)
{
    if (graph_path(req->path))
        http_render_json_error(req, status, code, message);
    else
        http_render_oauth_error(req, status, code, message);
}

static const char *const graph_audiences[] = {"https://graph.microsoft.com/",
                                              "https://graph.windows.net/"};

/* Graph's 401 for a missing or bad token. */
static int graph_authenticate(struct http_request *req)
{
    struct token_principal who;
    const char *reason;
    int rc = auth_bearer(req, graph_audiences, ARRAY_SIZE(graph_audiences), &who, &reason);
    if (rc == 0)
        return 0;
    return http_fail(req, 401, "InvalidAuthenticationToken",
                     rc == AZ_ENOTFOUND ? "Access token is empty."
                                        : "Access token validation "
                                          "failure. Invalid audience.");
}

/* A service principal's certificates as Graph lists them: for a managed identity, the one ARM
 * registered when it made the identity (its private half is IMDS's). Key material stays out. */
static void write_key_credentials(struct http_request *req, struct json_writer *w,
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

/* One directory object from a row (kind, object id, upn or app id, display name, type). */
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
        const char *app_id = arena_strdup(req->arena, store_column_text(st, 2));
        jw_kv_string(w, "appId", app_id);
        jw_key(w, "servicePrincipalNames");
        jw_array_open(w);
        jw_string(w, app_id);
        jw_array_close(w);
        jw_kv_string(w, "servicePrincipalType", store_column_text(st, 4));
        write_key_credentials(req, w, app_id);
    }
    jw_object_close(w);
}

/* POST /v1.0/directoryObjects/getByIds {"ids":[…],"types":[…]}: the objects found, in the
 * order asked; unknown ids are left out, as Graph does. */
int aad_graph_get_by_ids(struct http_request *req)
{
    if (graph_authenticate(req) != 0)
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
                      "SELECT 'user', object_id, upn, display_name, NULL FROM users "
                      "WHERE object_id = lower(?1) UNION ALL "
                      "SELECT 'servicePrincipal', object_id, app_id, display_name, type "
                      "FROM service_principals WHERE object_id = lower(?1)",
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

/* The value quoted in `$filter` after "eq" ('' stands for '), or NULL without a filter. An
 * unsupported filter is a failed request (*bad set). */
static const char *filter_value(struct http_request *req, const char *const *forms, bool *bad)
{
    const char *filter = http_query(req, "$filter");
    *bad = false;
    if (!filter)
        return NULL;
    for (const char *const *f = forms; *f; f++) {
        size_t n = strlen(*f);
        if (strncasecmp(filter, *f, n) != 0)
            continue;
        const char *p = filter + n;
        struct buf b = {0};
        for (; *p; p++) {
            if (*p == '\'' && p[1] == '\'')
                p++;
            else if (*p == '\'')
                break;
            buf_putc(&b, *p);
        }
        const char *value = *p == '\'' ? arena_strdup(req->arena, b.data ? b.data : "") : NULL;
        buf_free(&b);
        if (value)
            return value;
    }
    *bad = true;
    return NULL;
}

static int reply_objects(struct http_request *req, struct store_stmt *st, const char *context)
{
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_string(
        w, "@odata.context",
        arena_printf(req->arena, "https://graph.microsoft.com/v1.0/$metadata#%s", context));
    jw_key(w, "value");
    jw_array_open(w);
    while (store_step(st) == 1)
        write_object(req, w, st);
    jw_array_close(w);
    jw_object_close(w);
    store_finalize(st);
    http_reply_json(req, 200, w);
    json_writer_free(w);
    return 0;
}

static int unsupported_filter(struct http_request *req)
{
    return http_fail(req, 400, "Request_UnsupportedQuery",
                     "Unsupported query: azsim's Graph filters users by userPrincipalName and "
                     "service principals by servicePrincipalNames or appId.");
}

/* GET /v1.0/me: the signed-in user; an application token has no "me". */
int aad_graph_me(struct http_request *req)
{
    if (graph_authenticate(req) != 0)
        return AZ_EREPLIED;
    if (req->caller->kind != TOKEN_KIND_USER)
        return http_fail(req, 400, "BadRequest",
                         "/me request is only valid with delegated authentication flow.");
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT 'user', object_id, upn, display_name, NULL FROM users WHERE "
                      "object_id = lower(?1)",
                      &st) != 0)
        return http_fail(req, 500, "Service_InternalServerError", "The directory is unavailable.");
    store_bind_text(st, 1, req->caller->oid);
    struct json_writer *w = json_writer_new();
    bool found = store_step(st) == 1;
    if (found)
        write_object(req, w, st);
    store_finalize(st);
    if (!found) {
        json_writer_free(w);
        return http_fail(req, 404, "Request_ResourceNotFound",
                         "Resource '%s' does not exist or one of its queried reference-property "
                         "objects are not present.",
                         req->caller->oid);
    }
    http_reply_json(req, 200, w);
    json_writer_free(w);
    return 0;
}

/* GET /v1.0/users[?$filter=userPrincipalName eq '…'] in the caller's tenant. */
int aad_graph_users(struct http_request *req)
{
    static const char *const forms[] = {"userPrincipalName eq '", NULL};
    if (graph_authenticate(req) != 0)
        return AZ_EREPLIED;
    bool bad;
    const char *upn = filter_value(req, forms, &bad);
    if (bad)
        return unsupported_filter(req);
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT 'user', object_id, upn, display_name, NULL FROM users WHERE "
                      "tenant_id = lower(?1) AND (?2 IS NULL OR upn = ?2) ORDER BY upn",
                      &st) != 0)
        return http_fail(req, 500, "Service_InternalServerError", "The directory is unavailable.");
    store_bind_text(st, 1, req->caller->tid);
    store_bind_text(st, 2, upn);
    return reply_objects(req, st, "users");
}

/* GET /v1.0/servicePrincipals[?$filter=servicePrincipalNames/any(c:c eq '…') | appId eq '…']. */
int aad_graph_service_principals(struct http_request *req)
{
    static const char *const forms[] = {"servicePrincipalNames/any(c:c eq '", "appId eq '", NULL};
    if (graph_authenticate(req) != 0)
        return AZ_EREPLIED;
    bool bad;
    const char *name = filter_value(req, forms, &bad);
    if (bad)
        return unsupported_filter(req);
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT 'servicePrincipal', object_id, app_id, display_name, type FROM "
                      "service_principals WHERE tenant_id = lower(?1) AND (?2 IS NULL OR "
                      "app_id = ?2) ORDER BY display_name",
                      &st) != 0)
        return http_fail(req, 500, "Service_InternalServerError", "The directory is unavailable.");
    store_bind_text(st, 1, req->caller->tid);
    store_bind_text(st, 2, name);
    return reply_objects(req, st, "servicePrincipals");
}
