/*
 * arm/arm.c — Azure Resource Manager: the module descriptor, its route table, authentication,
 * authorization and the subscription-level operations.
 *
 * Served on https under management.azure.com and management.core.windows.net; errors are ARM's
 * {"error":{"code","message"}} bodies. Every operation needs a bearer token from azsim's Entra ID
 * for one of ARM's audiences (or azsim's own ARM URL), then RBAC (common/rbac) decides the
 * route's action at the request's scope: nothing is allowed by default, and every decision goes
 * to the audit log. Request bodies are capped at 4 MiB, ARM's own limit.
 *
 * api-versions: any (the parameter is required; clients send 2015-07-01 … 2025-04-01).
 *
 * Resource types plug into arm/resources.c (registered in arm/providers.c); templates deploy
 * through arm/deployments.c. Not emulated: locks, policy, management groups, long-running
 * operations (everything answers synchronously).
 */
#include "arm/arm.h"

#include "common/audit.h"
#include "common/auth.h"
#include "common/error.h"
#include "common/token.h"
#include "common/json.h"
#include "common/module.h"
#include "common/server.h"
#include "common/rbac.h"
#include "common/store.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- shared helpers ------------------------------------------------------------------------- */

const char *arm_scope(struct http_request *req)
{
    size_t n;
    const char *decoded = percent_decode(req->arena, req->path, strlen(req->path), false, &n);
    char *out = arena_alloc(req->arena, n + 1);
    size_t o = 0;
    for (size_t i = 0; decoded && i < n; i++) {
        if (decoded[i] == '/' && (o == 0 ? false : out[o - 1] == '/'))
            continue;
        out[o++] = decoded[i];
    }
    while (o > 0 && out[o - 1] == '/')
        o--;
    out[o] = '\0';
    return out;
}

int arm_require_api_version(struct http_request *req)
{
    const char *v = http_query(req, "api-version");
    if (v && api_version_is_date(v))
        return 0;
    /* The generic provider types (resources.c) answer NoRegisteredProviderFound themselves,
     * naming the versions the type supports. */
    const char *op = req->match.route ? req->match.route->operation_id : NULL;
    if (v && *v && op && strncmp(op, "Resources_", 10) == 0)
        return 0;
    if (v && *v) /* Azure's answer to any api-version it does not know */
        return http_fail(req, 400, "InvalidApiVersionParameter",
                         "The api-version '%.64s' is invalid.", v);
    return http_fail(req, 400, "MissingApiVersionParameter",
                     "The api-version query parameter (?api-version=) is required for all "
                     "requests.");
}

int arm_require_subscription(struct http_request *req, const char *id)
{
    struct store_stmt *st;
    if (store_prepare(req->store, "SELECT 1 FROM subscriptions WHERE id = lower(?1)", &st) != 0)
        return http_fail(req, 500, "InternalServerError", "The store could not be read.");
    store_bind_text(st, 1, id);
    bool found = store_step(st) == 1;
    store_finalize(st);
    if (found)
        return 0;
    return http_fail(req, 404, "SubscriptionNotFound", "The subscription '%s' could not be found.",
                     id);
}

const struct json *arm_body(struct http_request *req)
{
    struct json *doc = NULL;
    char err[128];
    if (json_parse(req->body, req->body_len, &doc, err, sizeof(err)) != 0 ||
        json_type(doc) != JSON_OBJECT) {
        if (doc)
            snprintf(err, sizeof(err), "the body is not a JSON object");
        json_free(doc);
        http_fail(req, 400, "InvalidRequestContent",
                  "The request content was invalid and could not be deserialized: '%s'.",
                  req->body_len ? err : "the body is empty");
        return NULL;
    }
    json_free(doc);
    return json_parse_in(req->arena, req->body, req->body_len);
}

/* ARM's limits: 50 tags, names of 1-512 characters without <>%&\?/, values up to 256. */
const char *arm_tags(struct http_request *req, const struct json *tags)
{
    if (json_type(tags) == JSON_NONE || json_type(tags) == JSON_NULL)
        return "{}";
    if (json_type(tags) != JSON_OBJECT) {
        http_fail(req, 400, "InvalidRequestContent",
                  "The request content was invalid and could not be deserialized: 'tags must be "
                  "an object of name/value pairs'.");
        return NULL;
    }
    if (json_len(tags) > 50) {
        http_fail(req, 400, "InvalidTagCount",
                  "The number of tags %zu exceeds the limit of 50 tags per resource.",
                  json_len(tags));
        return NULL;
    }
    for (size_t i = 0; i < json_len(tags); i++) {
        const char *name = json_key_at(tags, i);
        const char *value = json_string(json_at(tags, i));
        if (!*name || strlen(name) > 512) {
            http_fail(req, 400, "InvalidTagNameLength",
                      "The tag name '%.64s' must be 1 to 512 characters long.", name);
            return NULL;
        }
        if (strpbrk(name, "<>%&\\?/")) {
            http_fail(req, 400, "InvalidTagNameCharacters",
                      "The tag names '%s' have reserved characters '<,>,%%,&,\\,?,/' or "
                      "control characters.",
                      name);
            return NULL;
        }
        if (json_type(json_at(tags, i)) != JSON_STRING &&
            json_type(json_at(tags, i)) != JSON_NULL) {
            http_fail(req, 400, "InvalidRequestContent",
                      "The request content was invalid and could not be deserialized: 'the value "
                      "of tag '%s' must be a string'.",
                      name);
            return NULL;
        }
        if (value && strlen(value) > 256) {
            http_fail(req, 400, "InvalidTagValueLength",
                      "The value of tag '%s' must be at most 256 characters long.", name);
            return NULL;
        }
    }
    struct json_writer *w = json_writer_new();
    jw_value(w, tags);
    const char *text = arena_strdup(req->arena, json_writer_text(w, NULL));
    json_writer_free(w);
    return text;
}

const char *arm_filter_value(struct http_request *req, const char *key)
{
    const char *filter = http_query(req, "$filter");
    const char *p = filter ? strcasestr(filter, key) : NULL;
    if (!p)
        return NULL;
    p = strchr(p, '\'');
    const char *end = p ? strchr(p + 1, '\'') : NULL;
    return end ? arena_strndup(req->arena, p + 1, (size_t)(end - p - 1)) : NULL;
}

int arm_reply_stored_list(struct http_request *req, struct store_stmt *st)
{
    struct json_writer *w = json_writer_new();
    jw_list_open(w);
    int rc;
    while ((rc = store_step(st)) == 1) {
        const char *body = store_column_text(st, 0);
        jw_value(w, json_parse_in(req->arena, body, strlen(body)));
    }
    jw_list_close(w);
    store_finalize(st);
    if (rc < 0) {
        json_writer_free(w);
        return http_fail(req, 500, "InternalServerError", "The store could not be read.");
    }
    return arm_reply(req, 200, w);
}

int arm_reply(struct http_request *req, int status, struct json_writer *w)
{
    http_reply_json(req, status, w);
    json_writer_free(w);
    return 0;
}

/* ---- authentication and authorization ------------------------------------------------------- */

static int fail_authentication(struct http_request *req, int rc, const char *reason)
{
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

/* The subscription a scope lies in ("/subscriptions/{id}/…"), or NULL. */
static const char *subscription_of(struct http_request *req, const char *scope)
{
    if (!str_has_iprefix(scope, "/subscriptions/"))
        return NULL;
    const char *id = scope + strlen("/subscriptions/");
    return arena_strndup(req->arena, id, strcspn(id, "/"));
}

/*
 * The scope a collection belongs to, as ARM names it in decisions: ".../resourcegroups" → its
 * subscription, "{scope}/providers/Microsoft.Authorization/roleAssignments" → {scope}.
 */
static const char *collection_owner(struct http_request *req, const char *path)
{
    char *scope = arena_strdup(req->arena, path);
    char *name = strrchr(scope, '/');
    if (name)
        *name = '\0'; /* drop the collection's own name */
    /* "{scope}/providers/{namespace}" left: drop that too. */
    char *ns = strrchr(scope, '/');
    if (ns && ns > scope) {
        char *providers = ns - 1;
        while (providers > scope && *providers != '/')
            providers--;
        if (str_ieqn(providers + 1, (size_t)(ns - providers - 1), "providers"))
            *providers = '\0';
    }
    return scope;
}

int arm_authorize(struct http_request *req, const char *action)
{
    const char *scope = arm_scope(req);
    if (req->match.route->flags & ROUTE_COLLECTION)
        scope = collection_owner(req, scope);
    return arm_authorize_at(req, action, scope);
}

/* Ask the RBAC checker and audit its answer. 0 with *allowed set, or a failed request. */
static int decide(struct http_request *req, const char *action, const char *scope, bool *allowed)
{
    struct rbac_decision d;
    if (rbac_check(req->store, req->caller->oid, RBAC_ACTION, action, scope, &d) != 0)
        return http_fail(req, 500, "InternalServerError", "The authorization store failed.");
    audit_record(req->store, &(struct audit_entry){
                                 .module = "arm",
                                 .principal = req->caller->oid,
                                 .action = action,
                                 .scope = scope,
                                 .allowed = d.allowed,
                                 .reason = d.explanation,
                                 .request_id = req->request_id,
                             });
    req->rbac_verdict = d.allowed ? "allow" : "deny";
    *allowed = d.allowed;
    return 0;
}

static const char *client_name(const struct http_request *req)
{
    return req->caller->name[0] ? req->caller->name : req->caller->appid;
}

int arm_authorize_at(struct http_request *req, const char *action, const char *scope)
{
    const char *sub = subscription_of(req, scope);
    if (sub && arm_require_subscription(req, sub) != 0)
        return AZ_EREPLIED;
    if (!*scope)
        scope = "/";
    bool allowed;
    if (decide(req, action, scope, &allowed) != 0)
        return AZ_EREPLIED;
    if (allowed)
        return 0;
    return http_fail(req, 403, "AuthorizationFailed",
                     "The client '%s' with object id '%s' does not have authorization to perform "
                     "action '%s' over scope '%s' or the scope is invalid. If access was recently "
                     "granted, please refresh your credentials.",
                     client_name(req), req->caller->oid, action, scope);
}

int arm_authorize_linked(struct http_request *req, const char *operation, const char *action,
                         const char *linked_scope)
{
    bool allowed;
    if (decide(req, action, linked_scope, &allowed) != 0)
        return AZ_EREPLIED;
    if (allowed)
        return 0;
    return http_fail(req, 403, "LinkedAuthorizationFailed",
                     "The client '%s' with object id '%s' has permission to perform action '%s' on "
                     "scope '%s'; however, it does not have permission to perform action(s) '%s' "
                     "on the linked scope(s) '%s' (respectively) or the linked scope(s) are "
                     "invalid.",
                     client_name(req), req->caller->oid, operation, arm_scope(req), action,
                     linked_scope);
}

/*
 * The audiences ARM accepts: both public names, and azsim's own ARM URL (the JS SDK asks for
 * "<endpoint>/.default" when given an endpoint), each with or without the trailing '/'.
 */
static int arm_authenticate(struct http_request *req)
{
    const char *audiences[] = {
        "https://management.azure.com/",
        "https://management.core.windows.net/",
        arena_printf(req->arena, "https://%s/", req->host),
    };
    if (arm_refuse_alias_host(req) != 0)
        return AZ_EREPLIED;
    struct token_principal who;
    const char *reason = "";
    int rc = auth_bearer(req, audiences, ARRAY_SIZE(audiences), &who, &reason);
    if (rc != 0)
        return fail_authentication(req, rc, reason);
    /* azsim's own /_azsim/ endpoints are not Azure operations and take no api-version. */
    bool azure_route = strncmp(req->match.route->pattern, "/_azsim/", 8) != 0;
    if (azure_route && arm_require_api_version(req) != 0)
        return AZ_EREPLIED;
    const char *action = req->match.route->rbac_action;
    return action ? arm_authorize(req, action) : 0;
}

/* ---- subscriptions and tenants -------------------------------------------------------------- */

static void write_subscription(struct json_writer *w, struct store_stmt *st)
{
    const char *id = store_column_text(st, 0);
    char path[64];
    snprintf(path, sizeof(path), "/subscriptions/%s", id);
    jw_object_open(w);
    jw_kv_string(w, "id", path);
    jw_kv_string(w, "authorizationSource", "RoleBased");
    jw_key(w, "managedByTenants");
    jw_array_open(w);
    jw_array_close(w);
    jw_kv_string(w, "subscriptionId", id);
    jw_kv_string(w, "tenantId", store_column_text(st, 1));
    jw_kv_string(w, "displayName", store_column_text(st, 2));
    jw_kv_string(w, "state", store_column_text(st, 3));
    jw_key(w, "subscriptionPolicies");
    jw_object_open(w);
    jw_kv_string(w, "locationPlacementId", "Public_2014-09-01");
    jw_kv_string(w, "quotaId", "PayAsYouGo_2014-09-01");
    jw_kv_string(w, "spendingLimit", "Off");
    jw_object_close(w);
    jw_object_close(w);
}

/* A caller sees the subscriptions it holds a role assignment in (at, above or below them). */
#define VISIBLE_SUBSCRIPTIONS                                                                      \
    "SELECT s.id, s.tenant_id, s.display_name, s.state FROM subscriptions s "                      \
    "WHERE EXISTS (SELECT 1 FROM role_assignments a WHERE a.principal_id = lower(?1) AND "         \
    "  (a.scope = '/' OR a.scope = '/subscriptions/' || s.id OR "                                  \
    "   a.scope LIKE '/subscriptions/' || s.id || '/%')) "

int arm_list_subscriptions(struct http_request *req)
{
    struct store_stmt *st;
    if (store_prepare(req->store, VISIBLE_SUBSCRIPTIONS "ORDER BY s.created_at", &st) != 0)
        return http_fail(req, 500, "InternalServerError", "The store could not be read.");
    store_bind_text(st, 1, req->caller->oid);
    struct json_writer *w = json_writer_new();
    jw_list_open(w);
    while (store_step(st) == 1)
        write_subscription(w, st);
    jw_list_close(w);
    store_finalize(st);
    return arm_reply(req, 200, w);
}

int arm_get_subscription(struct http_request *req)
{
    struct store_stmt *st;
    if (store_prepare(req->store, VISIBLE_SUBSCRIPTIONS "AND s.id = lower(?2)", &st) != 0)
        return http_fail(req, 500, "InternalServerError", "The store could not be read.");
    store_bind_text(st, 1, req->caller->oid);
    store_bind_text(st, 2, http_param(req, "subscriptionId"));
    struct json_writer *w = json_writer_new();
    bool found = store_step(st) == 1;
    if (found)
        write_subscription(w, st);
    store_finalize(st);
    if (!found) {
        json_writer_free(w);
        return http_fail(req, 404, "SubscriptionNotFound",
                         "The subscription '%s' could not be found.",
                         http_param(req, "subscriptionId"));
    }
    return arm_reply(req, 200, w);
}

/* Azure's public regions: clients validate a location against this list, and resources are
 * refused in any other (LocationNotAvailableForResourceType). */
static const char *const locations[][2] = {
    {"eastus", "East US"},
    {"eastus2", "East US 2"},
    {"southcentralus", "South Central US"},
    {"westus2", "West US 2"},
    {"westus3", "West US 3"},
    {"australiaeast", "Australia East"},
    {"southeastasia", "Southeast Asia"},
    {"northeurope", "North Europe"},
    {"swedencentral", "Sweden Central"},
    {"uksouth", "UK South"},
    {"westeurope", "West Europe"},
    {"centralus", "Central US"},
    {"southafricanorth", "South Africa North"},
    {"centralindia", "Central India"},
    {"eastasia", "East Asia"},
    {"japaneast", "Japan East"},
    {"koreacentral", "Korea Central"},
    {"newzealandnorth", "New Zealand North"},
    {"canadacentral", "Canada Central"},
    {"francecentral", "France Central"},
    {"germanywestcentral", "Germany West Central"},
    {"italynorth", "Italy North"},
    {"norwayeast", "Norway East"},
    {"polandcentral", "Poland Central"},
    {"spaincentral", "Spain Central"},
    {"switzerlandnorth", "Switzerland North"},
    {"mexicocentral", "Mexico Central"},
    {"uaenorth", "UAE North"},
    {"brazilsouth", "Brazil South"},
    {"israelcentral", "Israel Central"},
    {"qatarcentral", "Qatar Central"},
    {"northcentralus", "North Central US"},
    {"westus", "West US"},
    {"westcentralus", "West Central US"},
    {"japanwest", "Japan West"},
    {"koreasouth", "Korea South"},
    {"southindia", "South India"},
    {"westindia", "West India"},
    {"canadaeast", "Canada East"},
    {"ukwest", "UK West"},
    {"australiasoutheast", "Australia Southeast"},
    {"australiacentral", "Australia Central"},
    {"francesouth", "France South"},
    {"germanynorth", "Germany North"},
    {"norwaywest", "Norway West"},
    {"switzerlandwest", "Switzerland West"},
    {"uaecentral", "UAE Central"},
    {"brazilsoutheast", "Brazil Southeast"},
    {"southafricawest", "South Africa West"},
};

bool arm_location_known(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(locations); i++) {
        if (strcmp(locations[i][0], name) == 0)
            return true;
    }
    return false;
}

const char *arm_location_names(struct http_request *req)
{
    struct buf b = {0};
    for (size_t i = 0; i < ARRAY_SIZE(locations); i++)
        buf_printf(&b, "%s%s", i ? "," : "", locations[i][0]);
    const char *names = arena_strdup(req->arena, b.data);
    buf_free(&b);
    return names;
}

int arm_list_locations(struct http_request *req)
{
    const char *sub = http_param(req, "subscriptionId");
    struct json_writer *w = json_writer_new();
    jw_list_open(w);
    for (size_t i = 0; i < ARRAY_SIZE(locations); i++) {
        jw_object_open(w);
        jw_kv_string(
            w, "id",
            arena_printf(req->arena, "/subscriptions/%s/locations/%s", sub, locations[i][0]));
        jw_kv_string(w, "name", locations[i][0]);
        jw_kv_string(w, "type", "Region");
        jw_kv_string(w, "displayName", locations[i][1]);
        jw_kv_string(w, "regionalDisplayName", locations[i][1]);
        jw_object_close(w);
    }
    jw_list_close(w);
    return arm_reply(req, 200, w);
}

/* GET /tenants: the caller's own tenant. */
int arm_list_tenants(struct http_request *req)
{
    struct store_stmt *st;
    if (store_prepare(req->store, "SELECT id, domain, display_name FROM tenants WHERE id = ?1",
                      &st) != 0)
        return http_fail(req, 500, "InternalServerError", "The directory could not be read.");
    store_bind_text(st, 1, req->caller->tid);
    struct json_writer *w = json_writer_new();
    jw_list_open(w);
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
    jw_list_close(w);
    store_finalize(st);
    return arm_reply(req, 200, w);
}

/*
 * GET /metadata/endpoints: the cloud's endpoints, for `az cloud register` and
 * ARM_CLOUD_METADATA_URL. Asked under the public host names (through the front door) it
 * describes AzureCloud; asked directly it describes azsim's own listeners, with an ADFS-style
 * authority, the form az can sign in to without public instance discovery. api-versions before
 * 2019-05-01 get the single-cloud object, later ones an array of clouds.
 */
static int arm_get_metadata_endpoints(struct http_request *req)
{
    if (arm_refuse_alias_host(req) != 0)
        return AZ_EREPLIED;
    if (arm_require_api_version(req) != 0)
        return AZ_EREPLIED;
    bool public = str_has_iprefix(req->host, "management.azure.com") ||
                  str_has_iprefix(req->host, "management.core.windows.net");
    const char *aad = req->server ? req->server->urls[MODULE_AAD] : NULL;
    const char *arm = arena_printf(req->arena, "https://%s/", req->host);
    const char *login = public || !aad ? "https://login.microsoftonline.com/"
                                       : arena_printf(req->arena, "%s/adfs", aad);
    const char *audience = public ? "https://management.core.windows.net/" : arm;
    const char *graph =
        public || !aad ? "https://graph.windows.net/" : arena_printf(req->arena, "%s/", aad);
    bool v2019 = strcmp(http_query(req, "api-version"), "2019-05-01") >= 0;
    struct json_writer *w = json_writer_new();
    if (v2019)
        jw_array_open(w);
    jw_object_open(w);
    if (v2019) {
        jw_kv_string(w, "name", public ? "AzureCloud" : "azsim");
        jw_kv_string(w, "resourceManager", public ? "https://management.azure.com/" : arm);
        jw_kv_string(w, "microsoftGraphResourceId",
                     public ? "https://graph.microsoft.com/" : graph);
        jw_kv_string(w, "graph", graph);
        jw_key(w, "suffixes");
        jw_object_open(w);
        jw_kv_string(w, "keyVaultDns", "vault.azure.net");
        jw_kv_string(w, "storage", "core.windows.net");
        jw_object_close(w);
    } else {
        jw_kv_string(w, "graphEndpoint", graph);
    }
    jw_kv_string(w, "galleryEndpoint", "https://gallery.azure.com/");
    jw_kv_string(w, "portalEndpoint", "https://portal.azure.com/");
    jw_kv_string(w, "graphAudience", graph);
    jw_key(w, "authentication");
    jw_object_open(w);
    jw_kv_string(w, "loginEndpoint", login);
    jw_key(w, "audiences");
    jw_array_open(w);
    jw_string(w, audience);
    jw_string(w, public ? "https://management.azure.com/"
                        : arena_printf(req->arena, "https://%s", req->host));
    jw_array_close(w);
    jw_kv_string(w, "tenant", public ? "common" : "adfs");
    jw_kv_string(w, "identityProvider", public ? "AAD" : "ADFS");
    jw_object_close(w);
    jw_object_close(w);
    if (v2019)
        jw_array_close(w);
    return arm_reply(req, 200, w);
}

/* GET /_azsim/audit?principal=…&denied=true&top=N: the audit log, newest first. Reserved path
 * outside Azure's namespace; any authenticated caller may read it (it is a local simulator). */
int arm_get_audit(struct http_request *req)
{
    const char *denied = http_query(req, "denied");
    const char *top = http_query(req, "top");
    struct audit_filter f = {
        .principal = http_query(req, "principal"),
        .denied_only = denied && str_ieq(denied, "true"),
        .limit = top ? atoi(top) : 100,
    };
    struct json_writer *w = json_writer_new();
    if (audit_write_json(req->store, &f, w) != 0) {
        json_writer_free(w);
        return http_fail(req, 500, "InternalServerError", "The audit log could not be read.");
    }
    return arm_reply(req, 200, w);
}

#define AUTHZ "/{scope*}/providers/Microsoft.Authorization"
#define RG "/subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}"
/* Generic resources authorize in their handlers: the action names the type. */
#define RES RG "/providers/{resourceProviderNamespace}/{resource*}"
#define KV "/subscriptions/{subscriptionId}/providers/Microsoft.KeyVault"
#define BLOB_SERVICES RG "/providers/Microsoft.Storage/storageAccounts/{accountName}/blobServices"
#define BLOB_CONTAINERS BLOB_SERVICES "/{blobServicesName}/containers"
#define DEPLOYMENTS "/providers/Microsoft.Resources/deployments"
#define DEPLOYMENT DEPLOYMENTS "/{deploymentName}"
/* A deployment's routes, at a group and at a subscription alike. */
// clang-format off
#define DEPLOYMENT_ROUTES(scope)                                                                   \
    {HTTP_GET, scope DEPLOYMENTS, arm_list_deployments, "Deployments_ListAtScope",                 \
     "Microsoft.Resources/deployments/read", ROUTE_COLLECTION},                                    \
    {HTTP_PUT, scope DEPLOYMENT, arm_put_deployment, "Deployments_CreateOrUpdate",                 \
     "Microsoft.Resources/deployments/write"},                                                     \
    {HTTP_GET, scope DEPLOYMENT, arm_get_deployment, "Deployments_Get",                            \
     "Microsoft.Resources/deployments/read"},                                                      \
    {HTTP_HEAD, scope DEPLOYMENT, arm_check_deployment, "Deployments_CheckExistence",              \
     "Microsoft.Resources/deployments/read"},                                                      \
    {HTTP_DELETE, scope DEPLOYMENT, arm_delete_deployment, "Deployments_Delete",                   \
     "Microsoft.Resources/deployments/delete"},                                                    \
    {HTTP_POST, scope DEPLOYMENT "/validate", arm_validate_deployment, "Deployments_Validate",      \
     "Microsoft.Resources/deployments/validate/action"},                                           \
    {HTTP_POST, scope DEPLOYMENT "/cancel", arm_cancel_deployment, "Deployments_Cancel",           \
     "Microsoft.Resources/deployments/cancel/action"},                                             \
    {HTTP_POST, scope DEPLOYMENT "/exportTemplate", arm_export_deployment_template,                \
     "Deployments_ExportTemplate", "Microsoft.Resources/deployments/exportTemplate/action"},       \
    {HTTP_GET, scope DEPLOYMENT "/operations", arm_list_deployment_operations,                     \
     "DeploymentOperations_List", "Microsoft.Resources/deployments/operations/read",               \
     ROUTE_COLLECTION},                                                                            \
    {HTTP_GET, scope DEPLOYMENT "/operations/{operationId}", arm_list_deployment_operations,       \
     "DeploymentOperations_Get", "Microsoft.Resources/deployments/operations/read"},               \
    {HTTP_GET, scope DEPLOYMENT "/operationStatuses/{operationId}", arm_get_deployment_status,     \
     "Deployments_OperationStatus", "Microsoft.Resources/deployments/operationstatuses/read"}
// clang-format on
#define VMIMAGES                                                                                   \
    "/subscriptions/{subscriptionId}/providers/Microsoft.Compute/locations/{location}/publishers"
#define VMIMAGE_SKUS VMIMAGES "/{publisherName}/artifacttypes/vmimage/offers/{offer}/skus"

static const struct route arm_routes[] = {
    {HTTP_GET, "/metadata/endpoints", arm_get_metadata_endpoints, "Metadata_Endpoints", NULL,
     ROUTE_PUBLIC},
    /* az's image alias document, under raw.githubusercontent.com (arm/images.c). */
    {HTTP_GET, "/Azure/azure-rest-api-specs/main/arm-compute/quickstart-templates/aliases.json",
     arm_get_image_aliases, "Azsim_ImageAliases", NULL, ROUTE_PUBLIC},
    {HTTP_GET, "/_azsim/audit", arm_get_audit, "Azsim_Audit", NULL},
    {HTTP_GET, AUTHZ "/roleDefinitions", arm_list_role_definitions, "RoleDefinitions_List",
     "Microsoft.Authorization/roleDefinitions/read", ROUTE_COLLECTION},
    {HTTP_GET, AUTHZ "/roleDefinitions/{roleDefinitionId}", arm_get_role_definition,
     "RoleDefinitions_Get", "Microsoft.Authorization/roleDefinitions/read"},
    {HTTP_PUT, AUTHZ "/roleDefinitions/{roleDefinitionId}", arm_put_role_definition,
     "RoleDefinitions_CreateOrUpdate", "Microsoft.Authorization/roleDefinitions/write"},
    {HTTP_DELETE, AUTHZ "/roleDefinitions/{roleDefinitionId}", arm_delete_role_definition,
     "RoleDefinitions_Delete", "Microsoft.Authorization/roleDefinitions/delete"},
    {HTTP_GET, AUTHZ "/roleAssignments", arm_list_role_assignments, "RoleAssignments_ListForScope",
     "Microsoft.Authorization/roleAssignments/read", ROUTE_COLLECTION},
    {HTTP_GET, AUTHZ "/roleAssignments/{roleAssignmentName}", arm_get_role_assignment,
     "RoleAssignments_Get", "Microsoft.Authorization/roleAssignments/read"},
    {HTTP_PUT, AUTHZ "/roleAssignments/{roleAssignmentName}", arm_create_role_assignment,
     "RoleAssignments_Create", "Microsoft.Authorization/roleAssignments/write"},
    {HTTP_DELETE, AUTHZ "/roleAssignments/{roleAssignmentName}", arm_delete_role_assignment,
     "RoleAssignments_Delete", "Microsoft.Authorization/roleAssignments/delete"},
    /* Anyone may ask what they may do. */
    {HTTP_GET, AUTHZ "/permissions", arm_list_permissions, "Permissions_ListForResourceGroup",
     NULL},
    {HTTP_GET, "/providers", arm_list_providers, "Providers_ListAtTenantScope", NULL},
    {HTTP_GET, "/providers/{resourceProviderNamespace}", arm_get_provider,
     "Providers_GetAtTenantScope", NULL},
    {HTTP_GET, "/subscriptions/{subscriptionId}/providers", arm_list_providers, "Providers_List",
     "Microsoft.Resources/subscriptions/read", ROUTE_COLLECTION},
    {HTTP_GET, "/subscriptions/{subscriptionId}/providers/{resourceProviderNamespace}",
     arm_get_provider, "Providers_Get", "Microsoft.Resources/subscriptions/read"},
    /* The action names the namespace: checked in the handler. */
    {HTTP_POST, "/subscriptions/{subscriptionId}/providers/{resourceProviderNamespace}/register",
     arm_register_provider, "Providers_Register", NULL},
    {HTTP_GET, "/subscriptions", arm_list_subscriptions, "Subscriptions_List", NULL},
    {HTTP_GET, "/tenants", arm_list_tenants, "Tenants_List", NULL},
    {HTTP_GET, "/subscriptions/{subscriptionId}", arm_get_subscription, "Subscriptions_Get",
     "Microsoft.Resources/subscriptions/read"},
    {HTTP_GET, "/subscriptions/{subscriptionId}/locations", arm_list_locations,
     "Subscriptions_ListLocations", "Microsoft.Resources/subscriptions/read", ROUTE_COLLECTION},
    {HTTP_GET, "/subscriptions/{subscriptionId}/resourcegroups", arm_list_resource_groups,
     "ResourceGroups_List", "Microsoft.Resources/subscriptions/resourcegroups/read",
     ROUTE_COLLECTION},
    {HTTP_PUT, RG, arm_create_resource_group, "ResourceGroups_CreateOrUpdate",
     "Microsoft.Resources/subscriptions/resourcegroups/write"},
    {HTTP_HEAD, RG, arm_check_resource_group, "ResourceGroups_CheckExistence",
     "Microsoft.Resources/subscriptions/resourcegroups/read"},
    {HTTP_GET, RG, arm_get_resource_group, "ResourceGroups_Get",
     "Microsoft.Resources/subscriptions/resourcegroups/read"},
    {HTTP_PATCH, RG, arm_update_resource_group, "ResourceGroups_Update",
     "Microsoft.Resources/subscriptions/resourcegroups/write"},
    {HTTP_DELETE, RG, arm_delete_resource_group, "ResourceGroups_Delete",
     "Microsoft.Resources/subscriptions/resourcegroups/delete"},
    {HTTP_GET, "/subscriptions/{subscriptionId}/resources", arm_list_resources, "Resources_List",
     "Microsoft.Resources/subscriptions/resources/read", ROUTE_COLLECTION},
    {HTTP_GET, RG "/resources", arm_list_group_resources, "Resources_ListByResourceGroup",
     "Microsoft.Resources/subscriptions/resourcegroups/resources/read", ROUTE_COLLECTION},
    /* Key Vault beside its vault resource (arm/keyvault.c). */
    {HTTP_PUT, RG "/providers/Microsoft.KeyVault/vaults/{vaultName}/accessPolicies/{operationKind}",
     arm_update_access_policies, "Vaults_UpdateAccessPolicy", NULL},
    {HTTP_GET, KV "/deletedVaults", arm_list_deleted_vaults, "Vaults_ListDeleted",
     "Microsoft.KeyVault/deletedVaults/read", ROUTE_COLLECTION},
    {HTTP_GET, KV "/deletedManagedHSMs", arm_list_deleted_managed_hsms, "ManagedHsms_ListDeleted",
     "Microsoft.KeyVault/deletedManagedHSMs/read", ROUTE_COLLECTION},
    {HTTP_GET, KV "/locations/{location}/deletedVaults/{vaultName}", arm_get_deleted_vault,
     "Vaults_GetDeleted", "Microsoft.KeyVault/locations/deletedVaults/read"},
    {HTTP_POST, KV "/locations/{location}/deletedVaults/{vaultName}/purge", arm_purge_deleted_vault,
     "Vaults_PurgeDeleted", "Microsoft.KeyVault/locations/deletedVaults/purge/action"},
    {HTTP_POST, "/subscriptions/{subscriptionId}/providers/Microsoft.Storage/checkNameAvailability",
     arm_check_storage_name, "StorageAccounts_CheckNameAvailability",
     "Microsoft.Storage/checknameavailability/read"},
    /* Platform VM images (arm/images.c). */
    {HTTP_GET, VMIMAGES, arm_list_image_publishers, "VirtualMachineImages_ListPublishers",
     "Microsoft.Compute/locations/publishers/read"},
    {HTTP_GET, VMIMAGES "/{publisherName}/artifacttypes/vmimage/offers", arm_list_image_offers,
     "VirtualMachineImages_ListOffers",
     "Microsoft.Compute/locations/publishers/artifacttypes/offers/read"},
    {HTTP_GET, VMIMAGE_SKUS, arm_list_image_skus, "VirtualMachineImages_ListSkus",
     "Microsoft.Compute/locations/publishers/artifacttypes/offers/skus/read"},
    {HTTP_GET, VMIMAGE_SKUS "/{skus}/versions", arm_list_images, "VirtualMachineImages_List",
     "Microsoft.Compute/locations/publishers/artifacttypes/offers/skus/versions/read"},
    {HTTP_GET, VMIMAGE_SKUS "/{skus}/versions/{version}", arm_get_image, "VirtualMachineImages_Get",
     "Microsoft.Compute/locations/publishers/artifacttypes/offers/skus/versions/read"},
    /* Blob containers through ARM (arm/blob_containers.c): the data plane's own. They
     * authorize in their handlers, at the container. */
    {HTTP_GET, BLOB_SERVICES, arm_list_blob_services, "BlobServices_List", NULL},
    {HTTP_GET, BLOB_SERVICES "/{blobServicesName}", arm_get_blob_service,
     "BlobServices_GetServiceProperties", NULL},
    {HTTP_GET, BLOB_CONTAINERS, arm_list_blob_containers, "BlobContainers_List", NULL},
    {HTTP_GET, BLOB_CONTAINERS "/{containerName}", arm_get_blob_container, "BlobContainers_Get",
     NULL},
    {HTTP_PUT, BLOB_CONTAINERS "/{containerName}", arm_put_blob_container, "BlobContainers_Create",
     NULL},
    {HTTP_PATCH, BLOB_CONTAINERS "/{containerName}", arm_patch_blob_container,
     "BlobContainers_Update", NULL},
    {HTTP_DELETE, BLOB_CONTAINERS "/{containerName}", arm_delete_blob_container,
     "BlobContainers_Delete", NULL},
    /* Template deployments (arm/deployments.c), at a group and at a subscription. */
    DEPLOYMENT_ROUTES(RG),
    DEPLOYMENT_ROUTES("/subscriptions/{subscriptionId}"),
    /* A group's deployment operations, at the path without the provider they kept. */
    {HTTP_GET, RG "/deployments/{deploymentName}/operations", arm_list_deployment_operations,
     "DeploymentOperations_List", "Microsoft.Resources/deployments/operations/read",
     ROUTE_COLLECTION},
    {HTTP_GET, RG "/deployments/{deploymentName}/operations/{operationId}",
     arm_list_deployment_operations, "DeploymentOperations_Get",
     "Microsoft.Resources/deployments/operations/read"},
    /* Every provider type (arm/resources.c), after the routes above. */
    {HTTP_GET, "/subscriptions/{subscriptionId}/providers/{resourceProviderNamespace}/{resource*}",
     arm_get_resource, "Resources_ListByType", NULL},
    {HTTP_GET, RES, arm_get_resource, "Resources_Get", NULL},
    {HTTP_HEAD, RES, arm_check_resource, "Resources_CheckExistence", NULL},
    {HTTP_PUT, RES, arm_put_resource, "Resources_CreateOrUpdate", NULL},
    {HTTP_PATCH, RES, arm_patch_resource, "Resources_Update", NULL},
    {HTTP_DELETE, RES, arm_delete_resource, "Resources_Delete", NULL},
    {HTTP_POST, RES, arm_resource_action, "Resources_Action", NULL},
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
