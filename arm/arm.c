/*
 * arm/arm.c — Azure Resource Manager: the module descriptor, authentication and route table.
 *
 * Served on https under management.azure.com and management.core.windows.net; errors are ARM's
 * {"error":{"code","message"}} bodies. Every operation needs a bearer token from azsim's Entra ID
 * for one of ARM's audiences; a missing or bad token gets ARM's 401 with its WWW-Authenticate
 * challenge. Request bodies are capped at 4 MiB, ARM's own limit (templates included).
 *
 * api-versions: any (ARM requires the parameter; clients send 2016-06-01 … 2025-04-01).
 *
 * Not emulated yet: subscriptions (the list is empty until the ARM issue brings them), resource
 * groups, providers, resources, RBAC.
 */
#include "common/auth.h"
#include "common/error.h"
#include "common/http.h"
#include "common/json.h"
#include "common/module.h"
#include "common/store.h"
#include "common/util.h"

#include <string.h>

/* The audiences ARM accepts: both names, with and without the trailing '/'. */
static const char *const arm_audiences[] = {
    "https://management.azure.com/",
    "https://management.core.windows.net/",
};

static int arm_authenticate(struct http_request *req)
{
    struct token_principal who;
    const char *reason;
    int rc = auth_bearer(req, arm_audiences, ARRAY_SIZE(arm_audiences), &who, &reason);
    if (rc == 0)
        return 0;
    const char *code = "InvalidAuthenticationToken";
    const char *message = "The access token is invalid.";
    const char *description = reason;
    if (rc == AZ_ENOTFOUND) {
        code = "AuthenticationFailed";
        message = "Authentication failed. The 'Authorization' header is missing.";
        description = "The authentication failed because of missing 'Authorization' header.";
    } else if (strstr(reason, "expired")) {
        code = "ExpiredAuthenticationToken";
        message = "The access token has expired.";
    } else if (strstr(reason, "audience")) {
        code = "InvalidAuthenticationTokenAudience";
        message = "The access token has been obtained for wrong audience or resource. It should "
                  "exactly match with one of the allowed audiences "
                  "'https://management.core.windows.net/','https://management.core.windows.net',"
                  "'https://management.azure.com/','https://management.azure.com'.";
    }
    http_fail(req, 401, code, "%s", message);
    http_set_header(req, "WWW-Authenticate",
                    arena_printf(req->arena,
                                 "Bearer authorization_uri=\"https://login.windows.net/\", "
                                 "error=\"invalid_token\", error_description=\"%s\"",
                                 description));
    return AZ_EDENIED;
}

/* ARM refuses every request without an api-version. */
static int require_api_version(struct http_request *req)
{
    if (http_query(req, "api-version"))
        return 0;
    return http_fail(req, 400, "MissingApiVersionParameter",
                     "The api-version query parameter (?api-version=) is required for all "
                     "requests.");
}

/* GET /subscriptions: the subscriptions the caller can see. None exist yet. */
static int arm_list_subscriptions(struct http_request *req)
{
    if (require_api_version(req) != 0)
        return AZ_EREPLIED;
    static const char body[] = "{\"value\":[]}";
    return http_reply(req, 200, "application/json; charset=utf-8", body, sizeof(body) - 1);
}

/* GET /tenants: the caller's own tenant. */
static int arm_list_tenants(struct http_request *req)
{
    if (require_api_version(req) != 0)
        return AZ_EREPLIED;
    struct store_stmt *st;
    if (store_prepare(req->store, "SELECT id, domain, display_name FROM tenants WHERE id = ?1",
                      &st) != 0)
        return http_fail(req, 500, "InternalServerError", "The directory could not be read.");
    store_bind_text(st, 1, req->caller->tid);
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_key(w, "value");
    jw_array_open(w);
    if (store_step(st) == 1) {
        const char *id = store_column_text(st, 0);
        jw_object_open(w);
        jw_kv_string(w, "id", arena_printf(req->arena, "/tenants/%s", id));
        jw_kv_string(w, "tenantId", id);
        jw_kv_string(w, "countryCode", "US");
        jw_kv_string(w, "displayName", store_column_text(st, 2));
        jw_key(w, "domains");
        jw_array_open(w);
        jw_string(w, store_column_text(st, 1));
        jw_array_close(w);
        jw_kv_string(w, "tenantCategory", "Home");
        jw_kv_string(w, "defaultDomain", store_column_text(st, 1));
        jw_kv_string(w, "tenantType", "AAD");
        jw_object_close(w);
    }
    jw_array_close(w);
    jw_object_close(w);
    store_finalize(st);
    http_reply_json(req, 200, w);
    json_writer_free(w);
    return 0;
}

static const struct route arm_routes[] = {
    {HTTP_GET, "/subscriptions", arm_list_subscriptions, "Subscriptions_List",
     "Microsoft.Resources/subscriptions/read"},
    {HTTP_GET, "/tenants", arm_list_tenants, "Tenants_List", NULL},
};

const struct module arm_module = {
    .name = "arm",
    .title = "Azure Resource Manager",
    .tls = true,
    .default_port = 4701,
    .max_body = 4 * 1024 * 1024,
    .render_error = http_render_json_error,
    .routes = arm_routes,
    .nroutes = ARRAY_SIZE(arm_routes),
    .authenticate = arm_authenticate,
};
