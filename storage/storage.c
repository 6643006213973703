/*
 * storage/storage.c — Blob Storage: the module descriptor, how a request names its account,
 * container and blob, who is asking, and which operation runs.
 *
 * Accounts are addressed host-style (https://<account>.blob.core.windows.net/<container>/<blob>,
 * through the front door; any host whose second label is "blob") or path-style
 * (https://127.0.0.1:<port>/<account>/<container>/<blob>). Callers are one of:
 *   - Entra ID bearer tokens (audience https://storage.azure.com or the account's URL) from the
 *     account's tenant, whose every operation RBAC decides (Storage Blob Data Reader/Contributor/
 *     Owner), audited; a missing or bad token gets 401 with the challenge the SDKs read;
 *   - Shared Key, the exact string-to-sign of the REST API with either account key, and shared
 *     access signatures made with them (sas.c), both refused when the account disallows Shared
 *     Key; user delegation SAS, made with a key an Entra ID caller obtained (sas.c);
 *   - nobody, for reads of containers whose public access level allows them, on accounts that
 *     allow public access.
 * Every answer echoes x-ms-version (any of the date form; another is 400 InvalidHeaderValue);
 * errors are Storage's XML with x-ms-error-code.
 *
 * The same service listens in plain http on Azurite's port (azurite_module), where the
 * development account devstoreaccount1 (arm/storage.c) answers "UseDevelopmentStorage=true".
 *
 * Not emulated yet: append and page blobs, blob service properties, copies from other accounts;
 * a single PUT is held in memory, so it is capped at 256 MiB (larger blobs go up in blocks).
 */
#include "storage/storage.h"

#include "common/audit.h"
#include "common/auth.h"
#include "common/error.h"
#include "common/module.h"
#include "common/rbac.h"
#include "common/store.h"
#include "common/util.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_VERSION "2021-12-02"

const struct blob_request *blob_request(const struct http_request *req)
{
    return req->context;
}

/* ---- addressing ------------------------------------------------------------------------------ */

static const char *host_name(struct http_request *req)
{
    return arena_strndup(req->arena, req->host, strcspn(req->host, ":"));
}

/* Split the request into account, container and blob: host-style when the host's second label is
 * "blob", path-style otherwise. */
static struct blob_request *address(struct http_request *req)
{
    struct blob_request *b = arena_alloc(req->arena, sizeof(*b));
    const char *host = host_name(req);
    const char *dot = strchr(host, '.');
    const char *scheme = req->tls ? "https" : "http";
    const char *path = req->path + strspn(req->path, "/");
    size_t first = strcspn(path, "/");
    if (dot && strncmp(dot + 1, "blob.", 5) == 0) {
        b->account = arena_strndup(req->arena, host, (size_t)(dot - host));
        b->endpoint = arena_printf(req->arena, "%s://%s", scheme, req->host);
    } else {
        if (first == 0)
            return NULL;
        b->account = arena_strndup(req->arena, path, first);
        b->endpoint = arena_printf(req->arena, "%s://%s/%s", scheme, req->host, b->account);
        path += first;
        path += strspn(path, "/");
    }
    size_t n;
    size_t clen = strcspn(path, "/");
    if (clen) {
        b->container = percent_decode(req->arena, path, clen, false, &n);
        const char *rest = path + clen + (path[clen] == '/');
        if (*rest)
            b->blob = percent_decode(req->arena, rest, strlen(rest), false, &n);
    }
    return b->container || !*path ? b : NULL;
}

/* The account's ARM id, tenant, settings and keys, in one statement (one read of the store per
 * request's authentication); false when there is no such account. */
static bool find_account(struct http_request *req, struct blob_request *b)
{
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT r.id, s.tenant_id, "
                      "json_type(r.body, '$.properties.allowSharedKeyAccess'), "
                      "json_type(r.body, '$.properties.allowBlobPublicAccess'), k.key1, k.key2 "
                      "FROM resources r JOIN subscriptions s ON s.id = r.subscription_id "
                      "LEFT JOIN storage_account_keys k ON k.account = r.name "
                      "WHERE r.type = 'Microsoft.Storage/storageAccounts' AND r.name = ?1",
                      &st) != 0)
        return false;
    store_bind_text(st, 1, b->account);
    bool found = store_step(st) == 1;
    if (found) {
        const char *shared_key = store_column_text(st, 2);
        const char *public_access = store_column_text(st, 3);
        b->account_id = arena_strdup(req->arena, store_column_text(st, 0));
        b->tenant = arena_strdup(req->arena, store_column_text(st, 1));
        /* Shared Key is allowed unless the property is false; public access only when true. */
        b->shared_key = !shared_key || strcmp(shared_key, "false") != 0;
        b->allow_public = public_access && strcmp(public_access, "true") == 0;
        b->keys[0] = arena_strdup(req->arena, store_column_text(st, 4));
        b->keys[1] = arena_strdup(req->arena, store_column_text(st, 5));
    }
    store_finalize(st);
    return found;
}

/* ---- Shared Key ------------------------------------------------------------------------------ */

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The string-to-sign of Shared Key (blob service, version 2015-02-21 and later). */
static const char *string_to_sign(struct http_request *req, const char *account)
{
    static const char *const standard[] = {
        "Content-Encoding",
        "Content-Language",
        "Content-Length",
        "Content-MD5",
        "Content-Type",
        "Date",
        "If-Modified-Since",
        "If-Match",
        "If-None-Match",
        "If-Unmodified-Since",
        "Range",
    };
    struct buf b = {0};
    buf_printf(&b, "%s\n", http_method_name(req->method));
    for (size_t i = 0; i < ARRAY_SIZE(standard); i++) {
        const char *v = http_header(req, standard[i]);
        if (strcmp(standard[i], "Content-Length") == 0 && v && strcmp(v, "0") == 0)
            v = NULL;
        buf_printf(&b, "%s\n", v ? v : "");
    }
    /* x-ms-* headers, lower-cased, sorted, "name:value". */
    const char **names = arena_alloc(req->arena, (req->headers.len + 1) * sizeof(*names));
    size_t n = 0;
    for (size_t i = 0; i < req->headers.len; i++) {
        if (str_has_iprefix(req->headers.items[i].name, "x-ms-")) {
            char *lower = arena_strdup(req->arena, req->headers.items[i].name);
            for (char *p = lower; *p; p++)
                *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
            names[n++] = arena_printf(req->arena, "%s:%s", lower, req->headers.items[i].value);
        }
    }
    qsort(names, n, sizeof(*names), compare_strings);
    for (size_t i = 0; i < n; i++)
        buf_printf(&b, "%s\n", names[i]);
    /* "/<account><path>", then each query parameter, lower-cased and sorted. */
    buf_printf(&b, "/%s%s", account, *req->path ? req->path : "/");
    const char **params = arena_alloc(req->arena, (req->query.len + 1) * sizeof(*params));
    size_t q = 0;
    for (size_t i = 0; i < req->query.len; i++) {
        char *lower = arena_strdup(req->arena, req->query.items[i].name);
        for (char *p = lower; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        params[q++] = arena_printf(req->arena, "%s:%s", lower, req->query.items[i].value);
    }
    qsort(params, q, sizeof(*params), compare_strings);
    for (size_t i = 0; i < q; i++)
        buf_printf(&b, "\n%s", params[i]);
    const char *text = arena_strdup(req->arena, b.data);
    buf_free(&b);
    return text;
}

const char *blob_shared_key_authorization(struct http_request *req, const char *account,
                                          const char *key64)
{
    const char *sig = key64 ? blob_sign(req, key64, string_to_sign(req, account)) : NULL;
    return arena_printf(req->arena, "SharedKey %s:%s", account, sig ? sig : "");
}

/* ---- authentication -------------------------------------------------------------------------- */

static int challenge(struct http_request *req, const char *tenant, int status, const char *code,
                     const char *message)
{
    http_fail(req, status, code, "%s", message);
    http_set_header(req, "WWW-Authenticate",
                    arena_printf(req->arena,
                                 "Bearer authorization_uri=https://login.microsoftonline.com/%s/"
                                 "oauth2/authorize resource_id=https://storage.azure.com",
                                 tenant));
    return AZ_EDENIED;
}

/*
 * Requests with Shared Key, a SAS signed with an account key, or no credentials read the store
 * in one transaction from their authentication on (blob_end_snapshot): one snapshot for the
 * account and the blob, its locks taken once instead of per statement. That is a GET or HEAD,
 * which only reads, and a write of a blob's content up to its checks (begin_write in blobs.c
 * ends the snapshot before anything is written). Entra ID callers and user delegation SAS are
 * left out: their RBAC decisions are written to the audit log, and the delegation keys' secret
 * may be made on first use, writes a read transaction cannot become.
 */
static bool reads_in_one_snapshot(struct http_request *req, const struct blob_request *b)
{
    const char *auth = http_header(req, "Authorization");
    if (auth ? !str_has_iprefix(auth, "SharedKey ") : http_query(req, "skoid") != NULL)
        return false;
    if (req->method == HTTP_GET || req->method == HTTP_HEAD)
        return true;
    const char *comp = http_query(req, "comp");
    return req->method == HTTP_PUT && b->blob &&
           (!comp || str_ieq(comp, "block") || str_ieq(comp, "blocklist"));
}

void blob_end_snapshot(struct http_request *req)
{
    struct blob_request *b = (struct blob_request *)req->context; /* made by this file */
    if (!b || !b->snapshot)
        return;
    b->snapshot = false;
    if (store_run(req->store, "COMMIT", "") != 0)
        store_rollback(req->store);
}

static int authenticate(struct http_request *req, struct blob_request *b)
{
    if (!find_account(req, b))
        return http_fail(req, 404, "ResourceNotFound", "The specified resource does not exist.");
    const char *tenant = b->tenant;
    bool shared_key = b->shared_key;
    const char *auth = http_header(req, "Authorization");
    if (!auth && http_query(req, "sig"))
        return blob_check_sas(req, b);
    if (!auth) {
        b->anonymous = true;
        return 0; /* the operation decides whether its container is public */
    }
    if (str_has_iprefix(auth, "SharedKey ")) {
        const char *cred = auth + strlen("SharedKey ");
        const char *colon = strchr(cred, ':');
        if (!shared_key)
            return http_fail(req, 403, "KeyBasedAuthenticationNotPermitted",
                             "Key based authentication is not permitted on this storage account.");
        if (!colon || !str_ieqn(cred, (size_t)(colon - cred), b->account) ||
            !blob_signed_by_account(req, b, string_to_sign(req, b->account), colon + 1))
            return http_fail(req, 403, "AuthenticationFailed",
                             "Server failed to authenticate the request. Make sure the value of "
                             "Authorization header is formed correctly including the signature.");
        /* Azure takes a signed request for 15 minutes either side of its date, so that a captured
         * one cannot be replayed for ever. */
        const char *date = http_header(req, "x-ms-date");
        int64_t t;
        if (!date)
            date = http_header(req, "Date");
        if (!date || clock_parse_http(date, &t) != 0 || llabs(clock_now_ms() - t) > 15 * 60 * 1000)
            return http_fail(req, 403, "AuthenticationFailed",
                             "Server failed to authenticate the request. Request date header too "
                             "old, in the future or not a date: '%.64s'.",
                             date ? date : "");
        req->principal = "shared-key";
        return 0;
    }
    const char *audiences[] = {
        "https://storage.azure.com",
        "https://storage.azure.com/",
        arena_printf(req->arena, "https://%s.blob.core.windows.net", b->account),
        arena_printf(req->arena, "https://%s.blob.core.windows.net/", b->account),
    };
    struct token_principal who;
    const char *reason = "";
    if (!str_has_iprefix(auth, "Bearer ") ||
        auth_bearer(req, audiences, ARRAY_SIZE(audiences), &who, &reason) != 0)
        return challenge(req, tenant, 401, "InvalidAuthenticationInfo",
                         arena_printf(req->arena,
                                      "Server failed to authenticate the request. Please refer to "
                                      "the information in the www-authenticate header. %s",
                                      reason));
    if (!str_ieq(who.tid, tenant))
        return challenge(req, tenant, 401, "InvalidAuthenticationInfo",
                         "Issuer validation failed. Issuer did not match.");
    b->bearer = true;
    return 0;
}

static int storage_authenticate(struct http_request *req)
{
    const char *version = http_header(req, "x-ms-version");
    if (version && !api_version_is_date(version))
        return http_fail(req, 400, "InvalidHeaderValue",
                         "The value for one of the HTTP headers is not in the correct format.");
    http_set_header(req, "x-ms-version", version ? version : DEFAULT_VERSION);
    struct blob_request *b = address(req);
    if (!b)
        return http_fail(req, 404, "ResourceNotFound", "The specified resource does not exist.");
    req->context = b;
    b->snapshot = reads_in_one_snapshot(req, b) && store_run(req->store, "BEGIN", "") == 0;
    int rc = authenticate(req, b);
    if (rc != 0)
        blob_end_snapshot(req); /* no operation follows */
    return rc;
}

/* ---- authorization --------------------------------------------------------------------------- */

int blob_deny_anonymous(struct http_request *req)
{
    challenge(req, blob_request(req)->tenant, 401, "NoAuthenticationInformation",
              "Server failed to authenticate the request. Please refer to the information in the "
              "www-authenticate header.");
    return AZ_EREPLIED;
}

int blob_authorize(struct http_request *req, bool data_action, const char *action, bool listing)
{
    const struct blob_request *b = blob_request(req);
    if (b->anonymous) {
        /* "blob" shows blobs to anyone; "container" also the container and its listing. */
        const char *access = NULL;
        bool is_public = blob_container_access(req, &access) == 0 && access;
        bool shown = is_public && str_has_isuffix(action, "/read") &&
                     (strcmp(access, "container") == 0 || (b->blob && !listing));
        if (shown && !b->allow_public)
            return http_fail(req, 409, "PublicAccessNotPermitted",
                             "Public access is not permitted on this storage account.");
        return shown ? 0 : blob_deny_anonymous(req);
    }
    if (b->sas_permissions && blob_check_sas_permission(req, action, listing) != 0)
        return AZ_EREPLIED;
    if (!b->bearer && !b->delegator)
        return 0; /* Shared Key, or a SAS made with it: the account's keys may do anything */
    /* Entra ID callers, and the signers of user delegation SAS, as their roles allow now. */
    const char *principal = b->delegator ? b->delegator : req->caller->oid;
    const char *scope = b->container
                            ? arena_printf(req->arena, "%s/blobServices/default/containers/%s",
                                           b->account_id, b->container)
                            : b->account_id;
    struct rbac_decision d;
    if (rbac_check(req->store, principal, data_action ? RBAC_DATA_ACTION : RBAC_ACTION, action,
                   scope, &d) != 0)
        return http_fail(req, 500, "InternalError", "The authorization store failed.");
    audit_record(req->store, &(struct audit_entry){
                                 .module = "storage",
                                 .principal = principal,
                                 .action = action,
                                 .scope = scope,
                                 .allowed = d.allowed,
                                 .reason = d.explanation,
                                 .request_id = req->request_id,
                             });
    req->rbac_verdict = d.allowed ? "allow" : "deny";
    if (d.allowed)
        return 0;
    return http_fail(req, 403, "AuthorizationPermissionMismatch",
                     "This request is not authorized to perform this operation using this "
                     "permission.");
}

/* ---- dispatch -------------------------------------------------------------------------------- */

static bool query_is(struct http_request *req, const char *name, const char *value)
{
    const char *v = http_query(req, name);
    return v ? (value ? str_ieq(v, value) : true) : !value;
}

static int unsupported(struct http_request *req)
{
    return http_fail(req, 400, "UnsupportedHttpVerb",
                     "The resource doesn't support the specified HTTP verb or query parameters.");
}

/* Which operation: the method with restype and comp, on the service, a container or a blob. */
static int operation(struct http_request *req)
{
    const struct blob_request *b = blob_request(req);
    const char *comp = http_query(req, "comp");
    bool container = query_is(req, "restype", "container");
    enum http_method m = req->method;
    if (!b->container) {
        if (m == HTTP_GET && comp && str_ieq(comp, "list"))
            return blob_list_containers(req);
        if (m == HTTP_POST && comp && str_ieq(comp, "userdelegationkey") &&
            query_is(req, "restype", "service"))
            return blob_get_user_delegation_key(req);
        return unsupported(req);
    }
    if (!b->blob && container) {
        if (!comp && m == HTTP_PUT)
            return blob_create_container(req);
        if (!comp && m == HTTP_DELETE)
            return blob_delete_container(req);
        if ((!comp || str_ieq(comp, "metadata")) && (m == HTTP_GET || m == HTTP_HEAD))
            return blob_get_container(req);
        if (comp && str_ieq(comp, "metadata") && m == HTTP_PUT)
            return blob_set_container_metadata(req);
        if (comp && str_ieq(comp, "list") && m == HTTP_GET)
            return blob_list_blobs(req);
        if (comp && str_ieq(comp, "lease") && m == HTTP_PUT)
            return blob_lease(req);
        if (comp && str_ieq(comp, "acl") && (m == HTTP_GET || m == HTTP_HEAD))
            return blob_get_container_acl(req);
        if (comp && str_ieq(comp, "acl") && m == HTTP_PUT)
            return blob_set_container_acl(req);
        return unsupported(req);
    }
    if (!b->blob)
        return http_fail(req, 400, "InvalidUri",
                         "The requested URI does not represent any resource on the server.");
    if (!comp) {
        if (m == HTTP_PUT)
            return blob_put(req);
        if (m == HTTP_GET || m == HTTP_HEAD)
            return blob_get(req);
        if (m == HTTP_DELETE)
            return blob_delete(req);
    } else if (str_ieq(comp, "block") && m == HTTP_PUT) {
        return blob_put_block(req);
    } else if (str_ieq(comp, "blocklist") && m == HTTP_PUT) {
        return blob_put_block_list(req);
    } else if (str_ieq(comp, "metadata")) {
        if (m == HTTP_PUT)
            return blob_set_metadata(req);
        if (m == HTTP_GET || m == HTTP_HEAD)
            return blob_get_metadata(req);
    } else if (str_ieq(comp, "properties") && m == HTTP_PUT) {
        return blob_set_properties(req);
    } else if (str_ieq(comp, "lease") && m == HTTP_PUT) {
        return blob_lease(req);
    }
    return unsupported(req);
}

static int storage_dispatch(struct http_request *req)
{
    int rc = operation(req);
    blob_end_snapshot(req);
    return rc;
}

void *blob_state_new(struct store *s)
{
    struct blob_state *st = xcalloc(1, sizeof(*st));
    st->store = s;
    st->pending_tail = &st->pending;
    return st;
}

void blob_state_free(void *state)
{
    struct blob_state *st = state;
    if (!st)
        return;
    for (size_t i = 0; i < BLOB_SIGNED_TEXTS; i++) {
        free(st->signed_texts[i].key64);
        free(st->signed_texts[i].text);
        free(st->signed_texts[i].mac);
    }
    free(st);
}

static const struct route storage_routes[] = {
    {HTTP_GET, "/{path*}", storage_dispatch, "Blob_Get", NULL},
    {HTTP_HEAD, "/{path*}", storage_dispatch, "Blob_Head", NULL},
    {HTTP_PUT, "/{path*}", storage_dispatch, "Blob_Put", NULL},
    {HTTP_DELETE, "/{path*}", storage_dispatch, "Blob_Delete", NULL},
    {HTTP_POST, "/{path*}", storage_dispatch, "Blob_Post", NULL},
    {HTTP_POST, "/", storage_dispatch, "Service_Post", NULL},
    {HTTP_GET, "/", storage_dispatch, "Service_Get", NULL},
};

const struct module storage_module = {
    .name = "storage",
    .title = "Blob Storage",
    .tls = true,
    .default_port = 4705,
    .max_body = 256 * 1024 * 1024,
    .body_pieces = true,
    .render_error = http_render_storage_error,
    .routes = storage_routes,
    .nroutes = ARRAY_SIZE(storage_routes),
    .authenticate = storage_authenticate,
    .state_new = blob_state_new,
    .state_free = blob_state_free,
};

/* The same service in plain http on Azurite's blob port, where "UseDevelopmentStorage=true"
 * connection strings point (http://127.0.0.1:10000/devstoreaccount1). Shared Key and SAS work
 * over it; the SDKs send bearer tokens only over https. */
const struct module azurite_module = {
    .name = "azurite",
    .title = "Blob Storage, http (Azurite)",
    .tls = false,
    .default_port = 10000,
    .max_body = 256 * 1024 * 1024,
    .body_pieces = true,
    .render_error = http_render_storage_error,
    .routes = storage_routes,
    .nroutes = ARRAY_SIZE(storage_routes),
    .authenticate = storage_authenticate,
    .state_new = blob_state_new,
    .state_free = blob_state_free,
};
