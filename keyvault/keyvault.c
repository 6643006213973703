/*
 * keyvault/keyvault.c — Key Vault's data plane: the module descriptor, its route table, which
 * vault a request names, the challenge and tokens, and the two access models.
 *
 * Each vault is its own https origin, https://<name>.vault.azure.net through the front door (any
 * host whose first label names a vault works: ids are built from the host the client used). A
 * request without a token gets Key Vault's 401 challenge naming the vault's tenant and the
 * resource "https://vault.<domain>", which the SDKs' resource verification accepts. Tokens are
 * verified with common/token for that audience and must come from the vault's tenant. Then
 * RBAC data actions (enableRbacAuthorization) or the vault's access policies decide, and every
 * decision is audited. Errors are {"error":{"code","message"[,"innererror"]}}.
 *
 * api-versions: 7.x (with -preview suffixes) and the date-form ones (2016-10-01, 2025-07-01 are
 * what the SDKs send); anything else, or none, is 400 BadParameter. The query key may be
 * percent-encoded (api%2Dversion), which the query decoding already handles.
 *
 * Not emulated: certificates, managed storage accounts, key rotation policies, HSM-only key types.
 */
#include "keyvault/keyvault.h"

#include "common/audit.h"
#include "common/auth.h"
#include "common/error.h"
#include "common/json.h"
#include "common/module.h"
#include "common/rbac.h"
#include "common/server.h"
#include "common/store.h"
#include "common/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VAULT_DOMAIN ".vault.azure.net"

const struct vault *kv_vault(const struct http_request *req)
{
    return req->context;
}

int kv_fail_inner(struct http_request *req, int status, const char *code, const char *inner,
                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const char *message = arena_vprintf(req->arena, fmt, ap);
    va_end(ap);
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_key(w, "error");
    jw_object_open(w);
    jw_kv_string(w, "code", code);
    jw_kv_string(w, "message", message);
    jw_key(w, "innererror");
    jw_object_open(w);
    jw_kv_string(w, "code", inner);
    jw_object_close(w);
    jw_object_close(w);
    jw_object_close(w);
    req->error_code = arena_strdup(req->arena, inner);
    http_reply_json(req, status, w);
    json_writer_free(w);
    return AZ_EREPLIED;
}

int kv_check_name(struct http_request *req, const char *name)
{
    size_t n = strlen(name);
    bool ok = n >= 1 && n <= 127;
    for (size_t i = 0; ok && i < n; i++) {
        char c = name[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    }
    if (ok)
        return 0;
    return http_fail(req, 400, "BadParameter",
                     "The request URI contains an invalid name: %s. Names are 1-127 letters, "
                     "digits and dashes.",
                     name);
}

/* ---- which vault ----------------------------------------------------------------------------- */

/* The host without its port. */
static const char *host_name(struct http_request *req)
{
    const char *host = req->host;
    if (host[0] == '[')
        return arena_strndup(req->arena, host, strcspn(host, "]") + 1);
    return arena_strndup(req->arena, host, strcspn(host, ":"));
}

/* The vault row (id, name, location, body: four strings one after the other) in the request's
 * arena, remembered while the store is unchanged. NULL when there is none. */
static const char *vault_row(struct http_request *req, const char *name)
{
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT id, name, location, body FROM resources WHERE "
                      "type = 'Microsoft.KeyVault/vaults' AND name = ?1",
                      &st) != 0)
        return NULL;
    store_bind_text(st, 1, name);
    char *key = xasprintf("kv-vault\x1f%s", name);
    const char *row;
    size_t len;
    int rc = store_memo_row(req->store, key, st, 4, &row, &len);
    free(key);
    return rc == 0 ? arena_strndup(req->arena, row, len) : NULL;
}

/* The vault named by the first label of the host. */
static struct vault *find_vault(struct http_request *req)
{
    const char *host = host_name(req);
    const char *dot = strchr(host, '.');
    if (!dot)
        return NULL;
    const char *row = vault_row(req, arena_strndup(req->arena, host, (size_t)(dot - host)));
    if (!row)
        return NULL;
    struct vault *v = arena_alloc(req->arena, sizeof(*v));
    v->id = row;
    v->name = v->id + strlen(v->id) + 1;
    v->location = v->name + strlen(v->name) + 1;
    const char *body = v->location + strlen(v->location) + 1;
    const struct json *p = json_get(json_parse_in(req->arena, body, strlen(body)), "properties");
    v->tenant_id = arena_strdup(req->arena, json_string(json_get(p, "tenantId")));
    v->origin = arena_printf(req->arena, "https://%s", req->host);
    json_bool(json_get(p, "enableRbacAuthorization"), &v->rbac);
    v->access_policies = json_get(p, "accessPolicies");
    v->soft_delete = true;
    json_bool(json_get(p, "enableSoftDelete"), &v->soft_delete);
    json_bool(json_get(p, "enablePurgeProtection"), &v->purge_protection);
    v->retention_days = 90;
    json_int(json_get(p, "softDeleteRetentionInDays"), &v->retention_days);
    return v && v->tenant_id ? v : NULL;
}

/* ---- the challenge and the token ------------------------------------------------------------- */

/* "https://vault.<domain>[:port]": the resource the challenge names, the vault host without its
 * first label, with the port as the client spelled it (the Python SDK compares netlocs). */
static const char *challenge_resource(struct http_request *req)
{
    const char *host = host_name(req);
    if (str_has_isuffix(host, VAULT_DOMAIN))
        return "https://vault.azure.net";
    return arena_printf(req->arena, "https://%s", strchr(req->host, '.') + 1);
}

static int challenge(struct http_request *req, const struct vault *v, const char *code,
                     const char *message)
{
    bool public = str_has_isuffix(host_name(req), VAULT_DOMAIN);
    const char *aad = req->server ? req->server->urls[MODULE_AAD] : NULL;
    const char *authority = public || !aad ? "https://login.microsoftonline.com" : aad;
    http_fail(req, 401, code, "%s", message);
    http_set_header(req, "WWW-Authenticate",
                    arena_printf(req->arena, "Bearer authorization=\"%s/%s\", resource=\"%s\"",
                                 authority, v->tenant_id, challenge_resource(req)));
    return AZ_EDENIED;
}

/* Key Vault's versions are "7.0" … "7.6" (optionally "-preview[.N]") and the date-form ones
 * ("2016-10-01", "2025-07-01"). Asked only once the caller is known: the 401 challenge comes
 * first, whatever the query. */
static int kv_check_api_version(struct http_request *req)
{
    const char *v = http_query(req, "api-version");
    if (!v || !*v)
        return http_fail(req, 400, "BadParameter",
                         "The api-version query parameter is missing. Consider using the latest "
                         "supported version (7.6).");
    bool ok = api_version_is_date(v);
    if (!ok && v[0] == '7' && v[1] == '.' && v[2] >= '0' && v[2] <= '9') {
        const char *rest = v + 3;
        ok = *rest == '\0' || strncmp(rest, "-preview", 8) == 0;
        for (const char *p = rest + (*rest ? 8 : 0); ok && *p; p++)
            ok = (*p == '.' || (*p >= '0' && *p <= '9')) && p - v < 24;
    }
    if (ok)
        return 0;
    return http_fail(req, 400, "BadParameter",
                     "The specified version (%.64s) is not recognized. Consider using the latest "
                     "supported version (7.6).",
                     v);
}

static int kv_authenticate(struct http_request *req)
{
    struct vault *v = find_vault(req);
    if (!v)
        return http_fail(req, 404, "VaultNotFound",
                         "No vault is served at host '%s': its name is the host's first label "
                         "(https://<vault name>" VAULT_DOMAIN ").",
                         req->host);
    req->context = v;
    if (!http_header(req, "Authorization"))
        return challenge(req, v, "Unauthorized",
                         "AKV10000: Request is missing a Bearer or PoP token.");
    const char *resource = challenge_resource(req);
    const char *audiences[] = {
        "https://vault.azure.net",
        "https://vault.azure.net/",
        resource,
        arena_printf(req->arena, "%s/", resource),
    };
    struct token_principal who;
    const char *reason = "";
    if (auth_bearer(req, audiences, ARRAY_SIZE(audiences), &who, &reason) != 0)
        return challenge(req, v, "Unauthorized",
                         arena_printf(req->arena, "AKV10022: Invalid token: %s.", reason));
    if (!str_ieq(who.tid, v->tenant_id))
        return challenge(req, v, "Unauthorized",
                         arena_printf(req->arena,
                                      "AKV10032: Invalid issuer. Expected one of "
                                      "https://sts.windows.net/%s/, found "
                                      "https://sts.windows.net/%s/.",
                                      v->tenant_id, who.tid));
    return kv_check_api_version(req);
}

/* ---- the two access models ------------------------------------------------------------------- */

/* Does the vault's access policy for the caller grant `permission` on `collection`? */
static bool policy_grants(const struct http_request *req, const struct vault *v,
                          const char *collection, const char *permission)
{
    for (size_t i = 0; i < json_len(v->access_policies); i++) {
        const struct json *p = json_at(v->access_policies, i);
        const char *app = json_string(json_get(p, "applicationId"));
        if (!str_ieq(json_string(json_get(p, "objectId")), req->caller->oid) ||
            !str_ieq(json_string(json_get(p, "tenantId")), v->tenant_id) ||
            (app && !str_ieq(app, req->caller->appid)))
            continue;
        const struct json *granted = json_get(json_get(p, "permissions"), collection);
        for (size_t j = 0; j < json_len(granted); j++) {
            const char *g = json_string(json_at(granted, j));
            if (g && (str_ieq(g, permission) || str_ieq(g, "all")))
                return true;
        }
    }
    return false;
}

static const char *caller_text(const struct http_request *req)
{
    return arena_printf(req->arena, "appid=%s;oid=%s;iss=https://sts.windows.net/%s/",
                        req->caller->appid, req->caller->oid, req->caller->tid);
}

int kv_authorize(struct http_request *req, const char *collection, const char *permission,
                 const char *action, const char *name)
{
    const struct vault *v = kv_vault(req);
    const char *full =
        arena_printf(req->arena, "Microsoft.KeyVault/vaults/%s/%s", collection, action);
    const char *scope =
        name ? arena_printf(req->arena, "%s/%s/%s", v->id, collection, name) : v->id;
    bool allowed;
    const char *reason;
    if (v->rbac) {
        struct rbac_decision d;
        if (rbac_check(req->store, req->caller->oid, RBAC_DATA_ACTION, full, scope, &d) != 0)
            return http_fail(req, 500, "InternalServerError", "The authorization store failed.");
        allowed = d.allowed;
        reason = arena_strdup(req->arena, d.explanation);
    } else {
        allowed = policy_grants(req, v, collection, permission);
        reason =
            arena_printf(req->arena, "access policy of vault %s %s %s permission '%s'", v->name,
                         allowed ? "grants" : "does not grant", collection, permission);
    }
    audit_record(req->store, &(struct audit_entry){
                                 .module = "keyvault",
                                 .principal = req->caller->oid,
                                 .action = full,
                                 .scope = scope,
                                 .allowed = allowed,
                                 .reason = reason,
                                 .request_id = req->request_id,
                             });
    req->rbac_verdict = allowed ? "allow" : "deny";
    if (allowed)
        return 0;
    if (v->rbac)
        return kv_fail_inner(req, 403, "Forbidden", "ForbiddenByRbac",
                             "Caller is not authorized to perform action on resource.\r\nIf role "
                             "assignments, deny assignments or role definitions were changed "
                             "recently, please observe propagation time.\r\nCaller: %s\r\n"
                             "Action: '%s'\r\nResource: '%s'\r\nAssignment: (not found)\r\n"
                             "DenyAssignmentId: null\r\nDecisionReason: null \r\nVault: "
                             "%s;location=%s\r\n",
                             caller_text(req), full, scope, v->name, v->location);
    return kv_fail_inner(req, 403, "Forbidden", "ForbiddenByPolicy",
                         "The user, group or application '%s' does not have %s %s permission on "
                         "key vault '%s;location=%s'. For help resolving this issue, please see "
                         "https://go.microsoft.com/fwlink/?linkid=2125287",
                         caller_text(req), collection, permission, v->name, v->location);
}

/* ---- routes ---------------------------------------------------------------------------------- */

/* Literal routes first; the key operations with a version or without one (the latest). */
static const struct route keyvault_routes[] = {
    {HTTP_GET, "/secrets", kv_list, "GetSecrets", NULL},
    {HTTP_POST, "/secrets/restore", kv_restore, "RestoreSecret", NULL},
    {HTTP_GET, "/secrets/{secret-name}/versions", kv_list_versions, "GetSecretVersions", NULL},
    {HTTP_POST, "/secrets/{secret-name}/backup", kv_backup, "BackupSecret", NULL},
    {HTTP_PUT, "/secrets/{secret-name}", kv_set_secret, "SetSecret", NULL},
    {HTTP_GET, "/secrets/{secret-name}", kv_get_secret, "GetSecret", NULL},
    {HTTP_PATCH, "/secrets/{secret-name}", kv_update_secret, "UpdateSecret", NULL},
    {HTTP_DELETE, "/secrets/{secret-name}", kv_delete, "DeleteSecret", NULL},
    {HTTP_GET, "/secrets/{secret-name}/{secret-version}", kv_get_secret, "GetSecret", NULL},
    {HTTP_PATCH, "/secrets/{secret-name}/{secret-version}", kv_update_secret, "UpdateSecret", NULL},
    {HTTP_GET, "/deletedsecrets", kv_list_deleted, "GetDeletedSecrets", NULL},
    {HTTP_GET, "/deletedsecrets/{secret-name}", kv_get_deleted, "GetDeletedSecret", NULL},
    {HTTP_DELETE, "/deletedsecrets/{secret-name}", kv_purge, "PurgeDeletedSecret", NULL},
    {HTTP_POST, "/deletedsecrets/{secret-name}/recover", kv_recover, "RecoverDeletedSecret", NULL},
    {HTTP_GET, "/keys", kv_list, "GetKeys", NULL},
    {HTTP_POST, "/keys/restore", kv_restore, "RestoreKey", NULL},
    {HTTP_GET, "/keys/{key-name}/versions", kv_list_versions, "GetKeyVersions", NULL},
    {HTTP_POST, "/keys/{key-name}/create", kv_create_key, "CreateKey", NULL},
    {HTTP_POST, "/keys/{key-name}/backup", kv_backup, "BackupKey", NULL},
    {HTTP_PUT, "/keys/{key-name}", kv_import_key, "ImportKey", NULL},
    {HTTP_GET, "/keys/{key-name}", kv_get_key, "GetKey", NULL},
    {HTTP_PATCH, "/keys/{key-name}", kv_update_key, "UpdateKey", NULL},
    {HTTP_DELETE, "/keys/{key-name}", kv_delete, "DeleteKey", NULL},
    {HTTP_GET, "/keys/{key-name}/{key-version}", kv_get_key, "GetKey", NULL},
    {HTTP_PATCH, "/keys/{key-name}/{key-version}", kv_update_key, "UpdateKey", NULL},
    {HTTP_POST, "/keys/{key-name}/{key-version}/sign", kv_sign, "Sign", NULL},
    {HTTP_POST, "/keys/{key-name}/{key-version}/verify", kv_verify, "Verify", NULL},
    {HTTP_POST, "/keys/{key-name}/{key-version}/encrypt", kv_encrypt, "Encrypt", NULL},
    {HTTP_POST, "/keys/{key-name}/{key-version}/decrypt", kv_decrypt, "Decrypt", NULL},
    {HTTP_POST, "/keys/{key-name}/{key-version}/wrapkey", kv_wrap_key, "WrapKey", NULL},
    {HTTP_POST, "/keys/{key-name}/{key-version}/unwrapkey", kv_unwrap_key, "UnwrapKey", NULL},
    {HTTP_POST, "/keys/{key-name}/sign", kv_sign, "Sign", NULL},
    {HTTP_POST, "/keys/{key-name}/verify", kv_verify, "Verify", NULL},
    {HTTP_POST, "/keys/{key-name}/encrypt", kv_encrypt, "Encrypt", NULL},
    {HTTP_POST, "/keys/{key-name}/decrypt", kv_decrypt, "Decrypt", NULL},
    {HTTP_POST, "/keys/{key-name}/wrapkey", kv_wrap_key, "WrapKey", NULL},
    {HTTP_POST, "/keys/{key-name}/unwrapkey", kv_unwrap_key, "UnwrapKey", NULL},
    {HTTP_GET, "/deletedkeys", kv_list_deleted, "GetDeletedKeys", NULL},
    {HTTP_GET, "/deletedkeys/{key-name}", kv_get_deleted, "GetDeletedKey", NULL},
    {HTTP_DELETE, "/deletedkeys/{key-name}", kv_purge, "PurgeDeletedKey", NULL},
    {HTTP_POST, "/deletedkeys/{key-name}/recover", kv_recover, "RecoverDeletedKey", NULL},
};

const struct module keyvault_module = {
    .name = "keyvault",
    .title = "Key Vault",
    .tls = true,
    .default_port = 4704,
    .max_body = 1024 * 1024,
    .render_error = http_render_json_error,
    .routes = keyvault_routes,
    .nroutes = ARRAY_SIZE(keyvault_routes),
    .authenticate = kv_authenticate,
};
