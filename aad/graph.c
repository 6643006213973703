/*
 * aad/graph.c — the slice of Microsoft Graph (graph.microsoft.com, served by the Entra ID module)
 * that clients need to name directory objects: POST /v1.0/directoryObjects/getByIds, which
 * `az role assignment list` calls to show principals by name.
 *
 * Graph answers errors as {"error":{"code","message"}} (az reads error.message), not in the
 * OAuth shape of the token service; aad_render_error picks the shape by path.
 *
 * Not emulated yet: /me, users, servicePrincipals and their $filter queries (graph.md), groups.
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

static void write_object(struct json_writer *w, struct store_stmt *st)
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
        jw_kv_string(w, "appId", store_column_text(st, 2));
        jw_key(w, "servicePrincipalNames");
        jw_array_open(w);
        jw_string(w, store_column_text(st, 2));
        jw_array_close(w);
        jw_kv_string(w, "servicePrincipalType", store_column_text(st, 4));
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
            write_object(w, st);
    }
    jw_array_close(w);
    jw_object_close(w);
    store_finalize(st);
    json_free(body);
    http_reply_json(req, 200, w);
    json_writer_free(w);
    return 0;
}
