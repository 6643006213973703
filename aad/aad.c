/*
 * aad/aad.c — Entra ID (Azure AD): the module descriptor, its route table, discovery documents
 * and the error format. The token endpoint is in token_endpoint.c, the directory in directory.c.
 *
 * Served on https under login.microsoftonline.com (and its aliases) through the front door, or
 * directly. Paths follow Entra: /{tenant}/oauth2/v2.0/token, /{tenant}/oauth2/token (v1),
 * /{tenant}/v2.0/.well-known/openid-configuration, /{tenant}/discovery/v2.0/keys, the ADFS-style
 * /adfs/... that the Azure CLI uses for a custom cloud, /common/discovery/instance and
 * /common/userrealm/{upn}. {tenant} is a GUID or a domain, matched case-insensitively.
 *
 * Microsoft Graph's slice (directory objects, applications, service principals) is in graph.c and
 * graph_applications.c.
 *
 * Not emulated: interactive flows (authorize, device code), federation (WS-Trust), conditional
 * access, consent.
 */
#include "aad/aad.h"

#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/token.h"
#include "common/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors --------------------------------------------------------------------------------- */

int aad_fail(struct http_request *req, int status, const char *error, int aadsts, const char *fmt,
             ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = arena_vprintf(req->arena, fmt, ap);
    va_end(ap);
    char ts[32];
    clock_format_iso8601(clock_now_ms(), ts, sizeof(ts));
    /* Entra's descriptions end with the trace and correlation ids and the time. */
    return http_fail(req, status, error,
                     "AADSTS%d: %s Trace ID: %s Correlation ID: %s "
                     "Timestamp: %s",
                     aadsts, text, req->request_id, req->request_id, ts);
}

/* ---- shared helpers ------------------------------------------------------------------------- */

const char *aad_base_url(struct http_request *req)
{
    return arena_printf(req->arena, "https://%s",
                        *req->host ? req->host : "login.microsoftonline.com");
}

int aad_resolve_tenant(struct http_request *req, struct aad_tenant *out, bool *multi)
{
    const char *t = http_param(req, "tenant");
    *multi = false;
    if (str_ieq(t, "adfs"))
        return aad_tenant_default(req->store, out) == 0 ? 0 : AZ_ESTORE;
    if (str_ieq(t, "organizations") || str_ieq(t, "common")) {
        *multi = true;
        memset(out, 0, sizeof(*out));
        return 0;
    }
    int rc = aad_tenant_find(req->store, t, out);
    if (rc == AZ_ENOTFOUND)
        return aad_fail(req, 400, "invalid_tenant", 90002,
                        "Tenant '%s' not found. Check to make sure you have the correct tenant ID "
                        "and are signing into the correct cloud.",
                        t);
    return rc;
}

/* Per thread: the parsed signing key. It changes only on `azsim keys rotate`, so it is parsed
 * again only when the active kid in the store differs. */
struct aad_state {
    struct token_key *key;
};

static void *aad_state_new(struct store *s)
{
    (void)s;
    return xcalloc(1, sizeof(struct aad_state));
}

static void aad_state_free(void *state)
{
    struct aad_state *st = state;
    token_key_free(st->key);
    free(st);
}

const struct token_key *aad_signing_key(struct http_request *req)
{
    struct aad_state *st = req->module_state;
    char kid[64];
    bool current = aad_signing_key_active_kid(req->store, kid) == 0 && st->key &&
                   strcmp(kid, token_key_kid(st->key)) == 0;
    if (!current) {
        token_key_free(st->key);
        st->key = NULL;
        if (aad_signing_key_active(req->store, &st->key) != 0)
            LOG_ERROR("aad", "no active signing key");
    }
    return st->key;
}

/* ---- discovery ------------------------------------------------------------------------------ */

static void kv_url(struct json_writer *w, const char *key, const char *base, const char *tenant,
                   const char *path)
{
    char url[512];
    snprintf(url, sizeof(url), "%s/%s%s", base, tenant, path);
    jw_kv_string(w, key, url);
}

static void kv_strings(struct json_writer *w, const char *key, const char *const *values)
{
    jw_key(w, key);
    jw_array_open(w);
    for (; *values; values++)
        jw_string(w, *values);
    jw_array_close(w);
}

/* GET /{tenant}/v2.0/.well-known/openid-configuration and the v1 and ADFS variants. The issuer
 * is on the request's own scheme, host and port, which msal-node insists on. */
static int openid_configuration(struct http_request *req, bool v2)
{
    struct aad_tenant t;
    bool multi;
    if (aad_resolve_tenant(req, &t, &multi) != 0)
        return AZ_EREPLIED;
    const char *base = aad_base_url(req);
    bool adfs = str_ieq(http_param(req, "tenant"), "adfs");
    /* Multi-tenant documents keep organizations/common in their endpoints and carry Entra's
     * {tenantid} placeholder only in the issuer. */
    const char *tenant = adfs ? "adfs" : multi ? http_param(req, "tenant") : t.id;
    const char *ver = adfs ? "" : v2 ? "/v2.0" : "";
    const char *oauth = adfs ? "/oauth2" : v2 ? "/oauth2/v2.0" : "/oauth2";
    char path[64];
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    snprintf(path, sizeof(path), "%s/token", oauth);
    kv_url(w, "token_endpoint", base, tenant, path);
    kv_strings(w, "token_endpoint_auth_methods_supported",
               (const char *const[]){"client_secret_post", "private_key_jwt", "client_secret_basic",
                                     NULL});
    snprintf(path, sizeof(path), "/discovery%s/keys", adfs ? "" : v2 ? "/v2.0" : "");
    kv_url(w, "jwks_uri", base, tenant, path);
    kv_strings(w, "response_modes_supported",
               (const char *const[]){"query", "fragment", "form_post", NULL});
    kv_strings(w, "subject_types_supported", (const char *const[]){"pairwise", NULL});
    kv_strings(w, "id_token_signing_alg_values_supported", (const char *const[]){"RS256", NULL});
    kv_strings(w, "response_types_supported",
               (const char *const[]){"code", "id_token", "code id_token", "id_token token", NULL});
    kv_strings(w, "scopes_supported",
               (const char *const[]){"openid", "profile", "email", "offline_access", NULL});
    if (v2 || adfs) {
        kv_url(w, "issuer", base, multi ? "{tenantid}" : tenant, ver);
    } else {
        char iss[96];
        snprintf(iss, sizeof(iss), "https://sts.windows.net/%s/", tenant);
        jw_kv_string(w, "issuer", iss);
    }
    jw_kv_bool(w, "request_uri_parameter_supported", false);
    snprintf(path, sizeof(path), "%s/authorize", oauth);
    kv_url(w, "authorization_endpoint", base, tenant, path);
    snprintf(path, sizeof(path), "%s/devicecode", oauth);
    kv_url(w, "device_authorization_endpoint", base, tenant, path);
    jw_kv_bool(w, "http_logout_supported", true);
    jw_kv_bool(w, "frontchannel_logout_supported", true);
    snprintf(path, sizeof(path), "%s/logout", oauth);
    kv_url(w, "end_session_endpoint", base, tenant, path);
    kv_strings(w, "claims_supported",
               (const char *const[]){"sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce",
                                     "preferred_username", "name", "tid", "ver", "at_hash",
                                     "c_hash", "email", NULL});
    jw_kv_string(w, "tenant_region_scope", "NA");
    jw_kv_string(w, "cloud_instance_name", "microsoftonline.com");
    jw_kv_string(w, "cloud_graph_host_name", "graph.windows.net");
    jw_kv_string(w, "msgraph_host", "graph.microsoft.com");
    jw_object_close(w);
    http_reply_json(req, 200, w);
    json_writer_free(w);
    return 0;
}

static int aad_openid_configuration_v2(struct http_request *req)
{
    return openid_configuration(req, true);
}

static int aad_openid_configuration_v1(struct http_request *req)
{
    return openid_configuration(req, false);
}

static void write_jwk(void *arg, struct token_key *k, bool active)
{
    (void)active;
    token_key_write_jwk(k, arg);
}

/* GET /{tenant}/discovery/v2.0/keys (and v1, /common, /adfs): every published signing key. */
static int aad_keys(struct http_request *req)
{
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_key(w, "keys");
    jw_array_open(w);
    int rc = aad_signing_keys_each(req->store, write_jwk, w);
    jw_array_close(w);
    jw_object_close(w);
    if (rc == 0)
        http_reply_json(req, 200, w);
    json_writer_free(w);
    return rc == 0 ? 0 : http_fail(req, 500, "server_error", "The keys could not be read.");
}

/*
 * GET /common/discovery/instance?api-version=1.0|1.1&authorization_endpoint=…: msal asks this of
 * login.microsoftonline.com about any authority it does not know. azsim vouches for the authority
 * it is asked about and names itself as its alias.
 */
static int aad_instance_discovery(struct http_request *req)
{
    const char *endpoint = http_query(req, "authorization_endpoint");
    const char *api = http_query(req, "api-version");
    if (!endpoint || strncmp(endpoint, "https://", 8) != 0)
        return aad_fail(req, 400, "invalid_instance", 50049, "Unknown or invalid instance.");
    const char *host_start = endpoint + 8;
    size_t host_len = strcspn(host_start, "/");
    const char *tenant_start = host_start + host_len + (host_start[host_len] == '/');
    size_t tenant_len = strcspn(tenant_start, "/");
    char *host = arena_strndup(req->arena, host_start, host_len);
    char *tenant = tenant_len ? arena_strndup(req->arena, tenant_start, tenant_len) : "common";
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_string(w, "tenant_discovery_endpoint",
                 arena_printf(req->arena, "https://%s/%s/v2.0/.well-known/openid-configuration",
                              host, tenant));
    jw_kv_string(w, "api-version", api ? api : "1.1");
    jw_key(w, "metadata");
    jw_array_open(w);
    jw_object_open(w);
    jw_kv_string(w, "preferred_network", host);
    jw_kv_string(w, "preferred_cache", host);
    kv_strings(w, "aliases", (const char *const[]){host, NULL});
    jw_object_close(w);
    jw_array_close(w);
    jw_object_close(w);
    http_reply_json(req, 200, w);
    json_writer_free(w);
    return 0;
}

/* GET /common/userrealm/{upn}: "Managed" for a domain of this directory, so clients go on with a
 * plain password grant. */
static int aad_user_realm(struct http_request *req)
{
    const char *upn = http_param(req, "upn");
    const char *at = strchr(upn, '@');
    const char *domain = at ? at + 1 : upn;
    struct aad_tenant t;
    bool managed = aad_tenant_find(req->store, domain, &t) == 0;
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_string(w, "ver", "1.0");
    jw_kv_string(w, "account_type", managed ? "Managed" : "Unknown");
    jw_kv_string(w, "domain_name", domain);
    jw_kv_string(w, "cloud_instance_name", "microsoftonline.com");
    jw_kv_string(w, "cloud_audience_urn", "urn:federation:MicrosoftOnline");
    jw_object_close(w);
    http_reply_json(req, 200, w);
    json_writer_free(w);
    return 0;
}

static const struct route aad_routes[] = {
    {HTTP_POST, "/v1.0/directoryObjects/getByIds", aad_graph_get_by_ids,
     "Graph_DirectoryObjects_GetByIds", NULL},
    {HTTP_GET, "/v1.0/me", aad_graph_me, "Graph_Me_Get", NULL},
    {HTTP_GET, "/v1.0/users", aad_graph_users, "Graph_Users_List", NULL},
    {HTTP_GET, "/v1.0/servicePrincipals", aad_graph_service_principals,
     "Graph_ServicePrincipals_List", NULL},
    {HTTP_POST, "/v1.0/servicePrincipals", aad_graph_service_principal_create,
     "Graph_ServicePrincipals_Create", NULL},
    {HTTP_GET, "/v1.0/servicePrincipals/{id}", aad_graph_service_principal_get,
     "Graph_ServicePrincipals_Get", NULL},
    {HTTP_DELETE, "/v1.0/servicePrincipals/{id}", aad_graph_service_principal_delete,
     "Graph_ServicePrincipals_Delete", NULL},
    {HTTP_GET, "/v1.0/applications", aad_graph_applications, "Graph_Applications_List", NULL},
    {HTTP_POST, "/v1.0/applications", aad_graph_application_create, "Graph_Applications_Create",
     NULL},
    {HTTP_GET, "/v1.0/applications/{id}", aad_graph_application_get, "Graph_Applications_Get",
     NULL},
    {HTTP_PATCH, "/v1.0/applications/{id}", aad_graph_application_update,
     "Graph_Applications_Update", NULL},
    {HTTP_DELETE, "/v1.0/applications/{id}", aad_graph_application_delete,
     "Graph_Applications_Delete", NULL},
    {HTTP_POST, "/v1.0/applications/{id}/addPassword", aad_graph_application_add_password,
     "Graph_Applications_AddPassword", NULL},
    {HTTP_POST, "/v1.0/applications/{id}/removePassword", aad_graph_application_remove_password,
     "Graph_Applications_RemovePassword", NULL},
    {HTTP_GET, "/common/discovery/instance", aad_instance_discovery, "InstanceDiscovery", NULL},
    {HTTP_GET, "/common/userrealm/{upn}", aad_user_realm, "UserRealm", NULL},
    {HTTP_GET, "/discovery/keys", aad_keys, "Keys", NULL},
    {HTTP_POST, "/{tenant}/oauth2/v2.0/token", aad_token, "Token_V2", NULL},
    {HTTP_POST, "/{tenant}/oauth2/token", aad_token_v1, "Token_V1", NULL},
    {HTTP_GET, "/{tenant}/v2.0/.well-known/openid-configuration", aad_openid_configuration_v2,
     "OpenIdConfiguration_V2", NULL},
    {HTTP_GET, "/{tenant}/.well-known/openid-configuration", aad_openid_configuration_v1,
     "OpenIdConfiguration_V1", NULL},
    {HTTP_GET, "/{tenant}/discovery/v2.0/keys", aad_keys, "Keys_V2", NULL},
    {HTTP_GET, "/{tenant}/discovery/keys", aad_keys, "Keys_V1", NULL},
};

const struct module aad_module = {
    .name = "aad",
    .title = "Entra ID (Azure AD)",
    .tls = true,
    .default_port = 4702,
    .max_body = 1024 * 1024,
    .render_error = aad_render_error,
    .routes = aad_routes,
    .nroutes = ARRAY_SIZE(aad_routes),
    .state_new = aad_state_new,
    .state_free = aad_state_free,
};
