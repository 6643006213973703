/*
 * aad/token_endpoint.c — POST /{tenant}/oauth2/v2.0/token and the v1 /{tenant}/oauth2/token.
 *
 * Grants: client_credentials with a client secret (form field or HTTP Basic) or a certificate
 * client assertion (RS256 or PS256, matched by x5t or x5t#S256); password (public clients, such
 * as the Azure CLI); refresh_token. Access tokens are shaped like Entra's v1 tokens for Azure's
 * resources: RS256, iss https://sts.windows.net/{tid}/, aud = the resource as requested.
 *
 * Not emulated: authorization code, device code, on-behalf-of, federated credentials, claims
 * challenges (the `claims` field is ignored, as the clients expect), token lifetime policies.
 */
#include "aad/aad.h"

#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/secret.h"
#include "common/token.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACCESS_TOKEN_SECONDS 3600
#define ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

/* Azure's own resources: tokens may be requested for them in every tenant. */
static const char *const azure_resources[] = {
    "https://management.azure.com", "https://management.core.windows.net",
    "https://vault.azure.net",      "https://storage.azure.com",
    "https://graph.microsoft.com",  "https://graph.windows.net",
    "https://database.windows.net", "https://servicebus.azure.net",
    "https://eventhubs.azure.net",  "https://cognitiveservices.azure.com",
};

/* Scopes that ask for something besides an access token, not for a resource. */
static const char *const oidc_scopes[] = {"openid", "profile", "offline_access", "email"};

struct grant {
    struct http_request *req;
    struct http_headers form;
    bool v1;
    struct aad_tenant tenant;
    bool multi; /* organizations / common: the user's tenant decides */
    const char *client_id;
    const char *resource; /* the audience, as requested */
    const char *scope;    /* v2: echoed back */
    bool wants_refresh;   /* offline_access */
    /* Who the token is for. */
    const char *oid;
    const char *appidacr; /* 0 public client, 1 secret, 2 certificate */
    const struct aad_user *user;
};

static const char *field(struct grant *g, const char *name)
{
    const char *v = http_headers_get(&g->form, name);
    return v && *v ? v : NULL;
}

static int missing(struct grant *g, const char *name)
{
    return aad_fail(g->req, 400, "invalid_request", 900144,
                    "The request body must contain the following parameter: '%s'.", name);
}

static bool is_oidc_scope(const char *s, size_t n)
{
    for (size_t i = 0; i < ARRAY_SIZE(oidc_scopes); i++) {
        if (str_ieqn(s, n, oidc_scopes[i]))
            return true;
    }
    return false;
}

/* v2: the single resource of `scope` ("https://vault.azure.net/.default offline_access"), with
 * /.default (or a named permission) removed and any trailing '/' kept. */
static int resource_from_scope(struct grant *g)
{
    const char *scope = field(g, "scope");
    if (!scope)
        return missing(g, "scope");
    g->scope = scope;
    const char *found = NULL;
    size_t found_len = 0;
    for (const char *p = scope; *p;) {
        p += strspn(p, " ");
        size_t n = strcspn(p, " ");
        if (n == 0)
            break;
        if (str_ieqn(p, n, "offline_access"))
            g->wants_refresh = true;
        if (!is_oidc_scope(p, n)) {
            if (found)
                return aad_fail(g->req, 400, "invalid_scope", 28000,
                                "Provided value for the input parameter scope is not valid "
                                "because it contains more than one resource. Scope %s is not "
                                "valid.",
                                scope);
            found = p;
            found_len = n;
        }
        p += n;
    }
    if (!found)
        return aad_fail(g->req, 400, "invalid_scope", 70011,
                        "The provided request must include a 'scope' input parameter that names "
                        "a resource. The provided value for the input parameter 'scope' is not "
                        "valid.");
    const char *last_slash = NULL;
    for (const char *p = found + (strstr(found, "://") ? 8 : 0); p < found + found_len; p++) {
        if (*p == '/')
            last_slash = p;
    }
    /* "https://management.core.windows.net//.default" → "https://management.core.windows.net/" */
    size_t keep = last_slash ? (size_t)(last_slash - found) : found_len;
    g->resource = arena_strndup(g->req->arena, found, keep);
    return 0;
}

/* Does the resource of `scope` end in "/.default", as the client credentials grant needs? */
static bool scope_is_default(const char *scope)
{
    for (const char *p = scope; *p;) {
        p += strspn(p, " ");
        size_t n = strcspn(p, " ");
        if (n == 0)
            break;
        if (!is_oidc_scope(p, n) && (n < 9 || !str_ieqn(p + n - 9, 9, "/.default")))
            return false;
        p += n;
    }
    return true;
}

/* Is `resource` something tokens can be issued for in `tenant_id`? */
static bool resource_known(struct grant *g, const char *tenant_id)
{
    size_t n = strlen(g->resource);
    if (n && g->resource[n - 1] == '/')
        n--;
    for (size_t i = 0; i < ARRAY_SIZE(azure_resources); i++) {
        if (str_ieqn(g->resource, n, azure_resources[i]))
            return true;
    }
    /* azsim's own services addressed directly ("https://127.0.0.1:4701", as the JS ARM clients
     * ask for "<endpoint>/.default"): the listeners only answer on loopback names. */
    static const char *const own_hosts[] = {"https://localhost", "https://127.0.0.1",
                                            "https://[::1]"};
    for (size_t i = 0; i < ARRAY_SIZE(own_hosts); i++) {
        size_t h = strlen(own_hosts[i]);
        if (str_has_iprefix(g->resource, own_hosts[i]) &&
            (g->resource[h] == ':' || g->resource[h] == '/' || g->resource[h] == '\0'))
            return true;
    }
    char app_id[40];
    return aad_resource_application(g->req->store, tenant_id, g->resource, app_id) == 0;
}

/* ---- client authentication ------------------------------------------------------------------ */

/* client_secret_basic: Authorization: Basic base64(client_id:secret). */
static const char *basic_secret(struct grant *g)
{
    const char *auth = http_header(g->req, "Authorization");
    if (!auth || !str_has_iprefix(auth, "Basic "))
        return NULL;
    unsigned char *raw;
    long n = base64_decode(g->req->arena, auth + 6, strlen(auth + 6), &raw);
    char *colon = n > 0 ? memchr(raw, ':', (size_t)n) : NULL;
    if (!colon)
        return NULL;
    *colon = '\0';
    if (!g->client_id)
        g->client_id = percent_decode(g->req->arena, (char *)raw, strlen((char *)raw), true, NULL);
    return percent_decode(g->req->arena, colon + 1, strlen(colon + 1), true, NULL);
}

static bool assertion_audience_ok(struct grant *g, const char *aud)
{
    const char *tenants[] = {http_param(g->req, "tenant"), g->tenant.id, g->tenant.domain};
    const char *bases[] = {aad_base_url(g->req), "https://login.microsoftonline.com"};
    const char *paths[] = {"oauth2/v2.0/token", "oauth2/token"};
    for (size_t b = 0; b < ARRAY_SIZE(bases); b++) {
        for (size_t t = 0; t < ARRAY_SIZE(tenants); t++) {
            for (size_t p = 0; p < ARRAY_SIZE(paths); p++) {
                char *url = arena_printf(g->req->arena, "%s/%s/%s", bases[b], tenants[t], paths[p]);
                if (str_ieq(url, aud))
                    return true;
            }
        }
    }
    return false;
}

/* msal for Python sends x5t with base64 '=' padding; thumbprints are stored without. */
static const char *unpadded(struct arena *a, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '=')
        n--;
    return arena_strndup(a, s, n);
}

/* A JWT NumericDate: seconds, which RFC 7519 allows to be fractional (msal for Python sends
 * time.time()). */
static bool numeric_date(const struct json *v, int64_t *out)
{
    double d;
    if (json_int(v, out))
        return true;
    if (!json_double(v, &d) || d < 0 || d > 1e12)
        return false;
    *out = (int64_t)d;
    return true;
}

/* private_key_jwt: the client signs a short JWT about itself with a registered certificate. */
static int check_assertion(struct grant *g, const char *assertion)
{
    struct http_request *req = g->req;
    if (!str_ieq(field(g, "client_assertion_type") ? field(g, "client_assertion_type") : "",
                 ASSERTION_TYPE))
        return aad_fail(req, 400, "invalid_request", 70002,
                        "The value of client_assertion_type must be '%s'.", ASSERTION_TYPE);
    struct jwt t;
    const char *reason;
    if (jwt_parse(req->arena, assertion, &t, &reason) != 0)
        return aad_fail(req, 400, "invalid_client", 50027, "JWT token is invalid or malformed: %s.",
                        reason);
    const char *x5t = unpadded(req->arena, json_string(json_get(t.header, "x5t")));
    const char *x5t_s256 = unpadded(req->arena, json_string(json_get(t.header, "x5t#S256")));
    const char *iss = json_string(json_get(t.payload, "iss"));
    const char *sub = json_string(json_get(t.payload, "sub"));
    const char *aud = json_string(json_get(t.payload, "aud"));
    int64_t exp = 0, nbf = 0, now = clock_now_ms() / 1000;
    bool has_exp = numeric_date(json_get(t.payload, "exp"), &exp);
    if (!numeric_date(json_get(t.payload, "nbf"), &nbf))
        numeric_date(json_get(t.payload, "iat"), &nbf);
    struct token_key *cert = NULL;
    int rc;
    if (!x5t && !x5t_s256) {
        rc = aad_fail(req, 401, "invalid_client", 700027,
                      "Client assertion contains an invalid signature. [Reason - The key was not "
                      "found. The assertion names no x5t or x5t#S256.]");
    } else if (aad_client_certificate(req->store, g->client_id, x5t, x5t_s256, &cert) != 0) {
        rc = aad_fail(req, 401, "invalid_client", 700027,
                      "The certificate with identifier used to sign the client assertion is not "
                      "registered on application '%s'. [Reason - The key was not found., "
                      "Thumbprint of key used by client: '%s']",
                      g->client_id, x5t ? x5t : x5t_s256);
    } else if (jwt_verify_signature(&t, cert, TOKEN_RS256 | TOKEN_PS256, &reason) != 0) {
        rc = aad_fail(req, 401, "invalid_client", 700027,
                      "Client assertion failed signature validation: %s.", reason);
    } else if (!iss || !sub || !str_ieq(iss, g->client_id) || !str_ieq(sub, g->client_id)) {
        rc = aad_fail(req, 401, "invalid_client", 700021,
                      "Client assertion application identifier doesn't match 'client_id' "
                      "parameter.");
    } else if (!aud || !assertion_audience_ok(g, aud)) {
        rc = aad_fail(req, 401, "invalid_client", 50027,
                      "Invalid JWT token. The audience of the client assertion must be this "
                      "tenant's token endpoint, not '%s'.",
                      aud ? aud : "");
    } else if (!has_exp || exp + TOKEN_SKEW_SECONDS < now || nbf - TOKEN_SKEW_SECONDS > now) {
        rc = aad_fail(req, 401, "invalid_client", 700024,
                      "Client assertion is not within its valid time range. Current time: %lld, "
                      "assertion valid from %lld, expiry time of assertion %lld.",
                      (long long)now, (long long)nbf, (long long)exp);
    } else {
        rc = 0;
    }
    token_key_free(cert);
    jwt_release(&t);
    return rc;
}

static int grant_client_credentials(struct grant *g, struct aad_client *client)
{
    struct http_request *req = g->req;
    if (g->multi)
        return aad_fail(req, 400, "invalid_request", 90009,
                        "Application '%s' is requesting a token for itself; use a tenant-specific "
                        "endpoint, not '%s'.",
                        g->client_id, http_param(req, "tenant"));
    const char *secret = field(g, "client_secret");
    if (!secret)
        secret = basic_secret(g);
    const char *assertion = field(g, "client_assertion");
    if (aad_client_find(req->store, g->tenant.id, g->client_id, client) != 0)
        return aad_fail(req, 400, "unauthorized_client", 700016,
                        "Application with identifier '%s' was not found in the directory '%s'. "
                        "This can happen if the application has not been installed by the "
                        "administrator of the tenant or consented to by any user in the tenant. "
                        "You may have sent your authentication request to the wrong tenant.",
                        g->client_id, g->tenant.display_name);
    if (assertion) {
        if (check_assertion(g, assertion) != 0)
            return AZ_EREPLIED;
        g->appidacr = "2";
    } else if (secret) {
        if (aad_client_secret_check(req->store, client->app_id, secret) != 0)
            return aad_fail(req, 401, "invalid_client", 7000215,
                            "Invalid client secret provided. Ensure the secret being sent in the "
                            "request is the client secret value, not the client secret ID, for a "
                            "secret added to app '%s'.",
                            client->app_id);
        g->appidacr = "1";
    } else {
        return aad_fail(req, 401, "invalid_client", 7000218,
                        "The request body must contain the following parameter: "
                        "'client_assertion' or 'client_secret'.");
    }
    g->oid = client->object_id;
    return 0;
}

/* ---- users ---------------------------------------------------------------------------------- */

/* A user token's client must be a public client (the Azure CLI, an app marked public). */
static int public_client(struct grant *g, struct aad_client *client, const char *tenant_id)
{
    if (aad_client_find(g->req->store, tenant_id, g->client_id, client) != 0)
        return aad_fail(g->req, 400, "unauthorized_client", 700016,
                        "Application with identifier '%s' was not found in the directory '%s'.",
                        g->client_id, tenant_id);
    if (!client->public_client)
        return aad_fail(g->req, 401, "invalid_client", 7000218,
                        "The request body must contain the following parameter: "
                        "'client_assertion' or 'client_secret'.");
    g->appidacr = "0";
    return 0;
}

/* The user must belong to the tenant of the request, unless it named organizations/common. */
static int user_in_tenant(struct grant *g, const struct aad_user *u)
{
    if (g->multi) {
        if (aad_tenant_find(g->req->store, u->tenant_id, &g->tenant) != 0)
            return AZ_ESTORE;
        g->multi = false;
        return 0;
    }
    if (!str_ieq(u->tenant_id, g->tenant.id))
        return aad_fail(g->req, 400, "invalid_grant", 50034,
                        "The user account does not exist in the %s directory. To sign into this "
                        "application, the account must be added to the directory.",
                        g->tenant.domain);
    return 0;
}

static int grant_password(struct grant *g, struct aad_client *client, struct aad_user *u)
{
    const char *username = field(g, "username");
    const char *password = field(g, "password");
    if (!username)
        return missing(g, "username");
    if (!password)
        return missing(g, "password");
    if (aad_user_find(g->req->store, username, u) != 0)
        return aad_fail(g->req, 400, "invalid_grant", 50034,
                        "The user account does not exist in the %s directory. To sign into this "
                        "application, the account must be added to the directory.",
                        g->multi ? "organizations" : g->tenant.domain);
    if (user_in_tenant(g, u) != 0 || public_client(g, client, u->tenant_id) != 0)
        return AZ_EREPLIED;
    if (aad_user_password_check(g->req->store, u->object_id, password) != 0)
        return aad_fail(g->req, 400, "invalid_grant", 50126,
                        "Error validating credentials due to invalid username or password.");
    g->user = u;
    g->oid = u->object_id;
    return 0;
}

static int grant_refresh_token(struct grant *g, struct aad_client *client, struct aad_user *u)
{
    const char *token = field(g, "refresh_token");
    if (!token)
        return missing(g, "refresh_token");
    if (aad_refresh_token_redeem(g->req->store, token, g->client_id, u) != 0)
        return aad_fail(g->req, 400, "invalid_grant", 9002313,
                        "Invalid request. Request is malformed or invalid: the refresh token is "
                        "unknown, expired, or was issued to another client.");
    if (user_in_tenant(g, u) != 0 || public_client(g, client, u->tenant_id) != 0)
        return AZ_EREPLIED;
    g->user = u;
    g->oid = u->object_id;
    return 0;
}

/* ---- issuing -------------------------------------------------------------------------------- */

static char *random_id(struct arena *a)
{
    unsigned char raw[16];
    random_bytes(raw, sizeof(raw));
    return base64url_encode(a, raw, sizeof(raw));
}

static char *sign(struct grant *g, const struct token_key *key, struct json_writer *w)
{
    size_t len;
    const char *payload = json_writer_text(w, &len);
    char *jwt = token_sign(key, payload, len);
    char *copy = jwt ? arena_strdup(g->req->arena, jwt) : NULL;
    free(jwt);
    return copy;
}

/* An access token shaped like Entra's v1 tokens. */
static char *access_token(struct grant *g, const struct token_key *key,
                          const struct aad_client *client, int64_t now)
{
    const char *tid = g->tenant.id;
    char *sts = arena_printf(g->req->arena, "https://sts.windows.net/%s/", tid);
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_string(w, "aud", g->resource);
    jw_kv_string(w, "iss", sts);
    jw_kv_int(w, "iat", now);
    jw_kv_int(w, "nbf", now);
    jw_kv_int(w, "exp", now + ACCESS_TOKEN_SECONDS);
    if (g->user) {
        jw_key(w, "amr");
        jw_array_open(w);
        jw_string(w, "pwd");
        jw_array_close(w);
    }
    jw_kv_string(w, "appid", client->app_id);
    jw_kv_string(w, "appidacr", g->appidacr);
    jw_kv_string(w, "idp", sts);
    jw_kv_string(w, "idtyp", g->user ? "user" : "app");
    if (g->user)
        jw_kv_string(w, "name", g->user->display_name);
    jw_kv_string(w, "oid", g->oid);
    if (g->user)
        jw_kv_string(w, "scp", "user_impersonation");
    jw_kv_string(w, "sub", g->oid);
    jw_kv_string(w, "tid", tid);
    if (g->user) {
        jw_kv_string(w, "unique_name", g->user->upn);
        jw_kv_string(w, "upn", g->user->upn);
    }
    jw_kv_string(w, "uti", random_id(g->req->arena));
    jw_kv_string(w, "ver", "1.0");
    if (client->resource_id[0]) /* managed identities: what the identity belongs to */
        jw_kv_string(w, "xms_mirid", client->resource_id);
    jw_object_close(w);
    char *jwt = sign(g, key, w);
    json_writer_free(w);
    return jwt;
}

/* The id_token of a user sign-in: what msal reads to know the account. */
static char *id_token(struct grant *g, const struct token_key *key, int64_t now)
{
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_string(w, "aud", g->client_id);
    jw_kv_string(w, "iss",
                 arena_printf(g->req->arena, "%s/%s/v2.0", aad_base_url(g->req), g->tenant.id));
    jw_kv_int(w, "iat", now);
    jw_kv_int(w, "nbf", now);
    jw_kv_int(w, "exp", now + ACCESS_TOKEN_SECONDS);
    jw_kv_string(w, "name", g->user->display_name);
    jw_kv_string(w, "oid", g->user->object_id);
    jw_kv_string(w, "preferred_username", g->user->upn);
    jw_kv_string(w, "sub", g->user->object_id);
    jw_kv_string(w, "tid", g->tenant.id);
    jw_kv_string(w, "ver", "2.0");
    jw_object_close(w);
    char *jwt = sign(g, key, w);
    json_writer_free(w);
    return jwt;
}

static int issue(struct grant *g, const struct aad_client *client)
{
    struct http_request *req = g->req;
    if (!resource_known(g, g->tenant.id))
        return aad_fail(req, 400, "invalid_resource", 500011,
                        "The resource principal named %s was not found in the tenant named %s. "
                        "This can happen if the application has not been installed by the "
                        "administrator of the tenant or consented to by any user in the tenant. "
                        "You might have sent your authentication request to the wrong tenant.",
                        g->resource, g->tenant.display_name);
    const struct token_key *key = aad_signing_key(req);
    if (!key)
        return http_fail(req, 500, "temporarily_unavailable", "No signing key is available.");
    int64_t now = clock_now_ms() / 1000;
    char *at = access_token(g, key, client, now);
    char *refresh = NULL;
    if (!at)
        return http_fail(req, 500, "temporarily_unavailable", "The token could not be signed.");
    if (g->user &&
        aad_refresh_token_issue(req->store, g->user->object_id, client->app_id, &refresh) != 0)
        return http_fail(req, 500, "temporarily_unavailable", "The directory is unavailable.");

    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_string(w, "token_type", "Bearer");
    if (g->v1) {
        /* v1 answers carry numbers as strings. */
        jw_kv_string(w, "expires_in", arena_printf(req->arena, "%d", ACCESS_TOKEN_SECONDS - 1));
        jw_kv_string(w, "ext_expires_in", arena_printf(req->arena, "%d", ACCESS_TOKEN_SECONDS - 1));
        jw_kv_string(w, "expires_on",
                     arena_printf(req->arena, "%lld", (long long)now + ACCESS_TOKEN_SECONDS));
        jw_kv_string(w, "not_before", arena_printf(req->arena, "%lld", (long long)now));
        jw_kv_string(w, "resource", g->resource);
    } else {
        if (g->scope)
            jw_kv_string(w, "scope", g->scope);
        jw_kv_int(w, "expires_in", ACCESS_TOKEN_SECONDS - 1);
        jw_kv_int(w, "ext_expires_in", ACCESS_TOKEN_SECONDS - 1);
    }
    jw_kv_string(w, "access_token", at);
    if (g->user) {
        jw_kv_string(w, "refresh_token", refresh);
        jw_kv_string(w, "id_token", id_token(g, key, now));
        char *info = arena_printf(req->arena, "{\"uid\":\"%s\",\"utid\":\"%s\"}",
                                  g->user->object_id, g->tenant.id);
        jw_kv_string(w, "client_info", base64url_encode(req->arena, info, strlen(info)));
    }
    jw_object_close(w);
    http_reply_json(req, 200, w);
    json_writer_free(w);
    free(refresh);
    http_set_header(req, "Cache-Control", "no-store, no-cache");
    http_set_header(req, "Pragma", "no-cache");
    req->principal = arena_strdup(req->arena, g->oid);
    return 0;
}

static int token_endpoint(struct http_request *req, bool v1)
{
    struct grant g = {.req = req, .v1 = v1};
    if (http_form_decode(req->arena, req->body, req->body_len, &g.form) != 0)
        return aad_fail(req, 400, "invalid_request", 900144,
                        "The request body must be application/x-www-form-urlencoded.");
    if (aad_resolve_tenant(req, &g.tenant, &g.multi) != 0)
        return AZ_EREPLIED;
    const char *grant_type = field(&g, "grant_type");
    if (!grant_type)
        return missing(&g, "grant_type");
    g.client_id = field(&g, "client_id");
    if (!g.client_id)
        basic_secret(&g);
    if (!g.client_id)
        return missing(&g, "client_id");
    if (v1) {
        g.resource = field(&g, "resource");
        if (!g.resource)
            return missing(&g, "resource");
    } else if (resource_from_scope(&g) != 0) {
        return AZ_EREPLIED;
    } else if (strcmp(grant_type, "client_credentials") == 0 && !scope_is_default(g.scope)) {
        return aad_fail(req, 400, "invalid_scope", 1002012,
                        "The provided value for scope %s is not valid. Client credential flows "
                        "must have a scope value with /.default suffixed to the resource "
                        "identifier (application ID URI).",
                        g.scope);
    }

    struct aad_client client;
    struct aad_user user;
    int rc;
    if (strcmp(grant_type, "client_credentials") == 0)
        rc = grant_client_credentials(&g, &client);
    else if (strcmp(grant_type, "password") == 0)
        rc = grant_password(&g, &client, &user);
    else if (strcmp(grant_type, "refresh_token") == 0)
        rc = grant_refresh_token(&g, &client, &user);
    else
        rc = aad_fail(req, 400, "unsupported_grant_type", 70003,
                      "The app requested an unsupported grant type '%s'.", grant_type);
    return rc != 0 ? rc : issue(&g, &client);
}

int aad_token(struct http_request *req)
{
    return token_endpoint(req, false);
}

int aad_token_v1(struct http_request *req)
{
    return token_endpoint(req, true);
}
