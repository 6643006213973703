/*
 * aad/graph_applications.c — Microsoft Graph v1.0 app registrations (the application resource):
 * list (GET /v1.0/applications with $filter on id, appId, displayName — eq or startswith — and
 * identifierUris/any(x:x eq '…')), create (POST, 201), get, update (PATCH: displayName,
 * identifierUris), delete (which takes the application's service principal and credentials with
 * it, as in Entra ID), addPassword and removePassword. `az ad sp create-for-rbac` and `az ad app
 * create/show/list/update/delete` drive these; graph.c has the shared parts and service
 * principals.
 *
 * Password credentials: Graph generates the secret; its text is in the answer to addPassword (or
 * to the POST that created the application with passwordCredentials) and nowhere else — stored
 * hashed (common/secret.h), never logged, returned as "secretText": null afterwards.
 *
 * Not emulated: more than one identifier URI per application, a password's displayName after the
 * answer that created it (the store keeps no name), the web/spa/publicClient/api/appRoles/
 * requiredResourceAccess/optionalClaims configuration (accepted, not kept), owners, the
 * /applications(appId='…') key form, soft delete and /directory/deletedItems.
 */
#include "aad/aad.h"

#include "common/error.h"
#include "common/json.h"
#include "common/mem.h"
#include "common/secret.h"
#include "common/store.h"
#include "common/token.h"
#include "common/util.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Graph's default lifetime of a password credential: two years. */
#define PASSWORD_DEFAULT_MS (2LL * 365 * 86400000)
/* How many credentials one request may add. */
#define MAX_NEW_CREDENTIALS 16

static const struct graph_filter_field app_fields[] = {
    {"id", "a.object_id", NULL},
    {"appId", "a.app_id", NULL},
    {"displayName", "a.display_name", NULL},
    {"identifierUris", NULL, "a.identifier_uri = ?#"},
    {NULL},
};

#define APP_COLUMNS                                                                                \
    "a.object_id, a.app_id, a.display_name, a.identifier_uri, a.public_client, a.created_at, "     \
    "t.domain"
#define APP_FROM "applications a JOIN tenants t ON t.id = a.tenant_id"

/* A password credential made by this request: the only time its text is known. */
struct new_password {
    char key_id[37];
    char *secret; /* heap; wiped and freed by release_passwords() */
    const char *display_name;
    int64_t start, end;
};

static void release_passwords(struct new_password *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i].secret) {
            OPENSSL_cleanse(p[i].secret, strlen(p[i].secret));
            free(p[i].secret);
            p[i].secret = NULL;
        }
    }
}

/* "2024-01-31T12:00:00Z", with optional fraction and a Z or +00:00 zone, as ms since the epoch. */
static bool parse_datetime(const char *text, int64_t *ms)
{
    struct tm tm = {0};
    int used = 0;
    if (!text ||
        sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &used) != 6 ||
        used != 19)
        return false;
    const char *p = text + used;
    int64_t frac = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3)
                frac = frac * 10 + (*p - '0');
        for (; digits < 3; digits++)
            frac *= 10;
    }
    if (!(strcmp(p, "Z") == 0 || strcmp(p, "+00:00") == 0 || *p == '\0'))
        return false;
    if (tm.tm_year < 1970 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return false;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *ms = (int64_t)timegm(&tm) * 1000 + frac;
    return true;
}

static int invalid_property(struct http_request *req, const char *property, const char *resource)
{
    return http_fail(req, 400, "Request_BadRequest",
                     "Invalid value specified for property '%s' of resource '%s'.", property,
                     resource);
}

/* A passwordCredential of a request ({displayName, startDateTime, endDateTime}, all optional)
 * into `out`, with a new secret. */
static int parse_password(struct http_request *req, const struct json *cred,
                          struct new_password *out)
{
    memset(out, 0, sizeof(*out));
    if (cred && json_type(cred) != JSON_OBJECT)
        return invalid_property(req, "passwordCredentials", "Application");
    const struct json *name = json_get(cred, "displayName");
    const struct json *start = json_get(cred, "startDateTime");
    const struct json *end = json_get(cred, "endDateTime");
    if (name && json_type(name) != JSON_NULL && !json_string(name))
        return invalid_property(req, "displayName", "PasswordCredential");
    out->display_name = json_string(name);
    out->start = clock_now_ms();
    if (start && json_type(start) != JSON_NULL && !parse_datetime(json_string(start), &out->start))
        return invalid_property(req, "startDateTime", "PasswordCredential");
    out->end = out->start + PASSWORD_DEFAULT_MS;
    if (end && json_type(end) != JSON_NULL && !parse_datetime(json_string(end), &out->end))
        return invalid_property(req, "endDateTime", "PasswordCredential");
    if (out->end <= out->start)
        return invalid_property(req, "endDateTime", "PasswordCredential");
    return 0;
}

static void write_date(struct json_writer *w, const char *key, int64_t ms)
{
    char ts[32];
    clock_format_iso8601(ms, ts, sizeof(ts));
    jw_kv_string(w, key, ts);
}

/* One passwordCredential; `secret` only in the answer that made it. */
static void write_password(struct json_writer *w, const char *key_id, const char *hint,
                           const char *display_name, int64_t start, int64_t end, const char *secret)
{
    jw_kv_string(w, "customKeyIdentifier", NULL);
    jw_kv_string(w, "displayName", display_name);
    write_date(w, "endDateTime", end);
    jw_kv_string(w, "hint", hint);
    jw_kv_string(w, "keyId", key_id);
    jw_kv_string(w, "secretText", secret);
    write_date(w, "startDateTime", start);
}

static void write_password_credentials(struct http_request *req, struct json_writer *w,
                                       const char *app_id, const struct new_password *fresh,
                                       size_t nfresh)
{
    struct store_stmt *st;
    jw_key(w, "passwordCredentials");
    jw_array_open(w);
    if (store_prepare(req->store,
                      "SELECT id, hint, not_before, not_after FROM credentials WHERE app_id = ?1 "
                      "AND kind = 'password' ORDER BY not_before, id",
                      &st) == 0) {
        store_bind_text(st, 1, app_id);
        while (store_step(st) == 1) {
            const char *key_id = store_column_text(st, 0);
            const struct new_password *mine = NULL;
            for (size_t i = 0; i < nfresh; i++)
                if (strcmp(fresh[i].key_id, key_id) == 0)
                    mine = &fresh[i];
            jw_object_open(w);
            write_password(w, key_id, store_column_text(st, 1), mine ? mine->display_name : NULL,
                           store_column_int64(st, 2), store_column_int64(st, 3),
                           mine ? mine->secret : NULL);
            jw_object_close(w);
        }
        store_finalize(st);
    }
    jw_array_close(w);
}

static void write_empty(struct json_writer *w, const char *key, bool array)
{
    jw_key(w, key);
    if (array) {
        jw_array_open(w);
        jw_array_close(w);
    } else {
        jw_object_open(w);
        jw_object_close(w);
    }
}

/* An application from a row of APP_COLUMNS, its members in Graph's order. */
static void write_application(struct http_request *req, struct json_writer *w,
                              struct store_stmt *st, const struct new_password *fresh,
                              size_t nfresh)
{
    const char *app_id = arena_strdup(req->arena, store_column_text(st, 1));
    const char *uri = store_column_text(st, 3);
    jw_kv_string(w, "id", store_column_text(st, 0));
    jw_kv_string(w, "deletedDateTime", NULL);
    jw_kv_string(w, "appId", app_id);
    jw_kv_string(w, "applicationTemplateId", NULL);
    write_date(w, "createdDateTime", store_column_int64(st, 5));
    jw_kv_string(w, "displayName", store_column_text(st, 2));
    jw_kv_string(w, "description", NULL);
    jw_kv_string(w, "groupMembershipClaims", NULL);
    jw_key(w, "identifierUris");
    jw_array_open(w);
    if (uri)
        jw_string(w, uri);
    jw_array_close(w);
    if (store_column_int64(st, 4))
        jw_kv_bool(w, "isFallbackPublicClient", true);
    else
        jw_kv_string(w, "isFallbackPublicClient", NULL);
    jw_kv_string(w, "notes", NULL);
    jw_kv_string(w, "publisherDomain", store_column_text(st, 6));
    jw_kv_string(w, "signInAudience", "AzureADMyOrg");
    write_empty(w, "tags", true);
    jw_kv_string(w, "tokenEncryptionKeyId", NULL);
    write_empty(w, "appRoles", true);
    aad_graph_write_key_credentials(req, w, app_id);
    write_password_credentials(req, w, app_id, fresh, nfresh);
    jw_key(w, "publicClient");
    jw_object_open(w);
    write_empty(w, "redirectUris", true);
    jw_object_close(w);
    write_empty(w, "requiredResourceAccess", true);
    jw_key(w, "web");
    jw_object_open(w);
    jw_kv_string(w, "homePageUrl", NULL);
    jw_kv_string(w, "logoutUrl", NULL);
    write_empty(w, "redirectUris", true);
    jw_object_close(w);
    jw_key(w, "spa");
    jw_object_open(w);
    write_empty(w, "redirectUris", true);
    jw_object_close(w);
}

/* Reply with the application `object_id` of the caller's tenant as one entity. */
static int reply_application(struct http_request *req, int status, const char *object_id,
                             const struct new_password *fresh, size_t nfresh)
{
    struct store_stmt *st;
    if (aad_graph_find_entity(req,
                              "SELECT " APP_COLUMNS " FROM " APP_FROM
                              " WHERE a.object_id = lower(?1) AND a.tenant_id = lower(?2)",
                              object_id, &st) != 0)
        return AZ_EREPLIED;
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_string(w, "@odata.context",
                 "https://graph.microsoft.com/v1.0/$metadata#applications/$entity");
    write_application(req, w, st, fresh, nfresh);
    jw_object_close(w);
    store_finalize(st);
    http_reply_json(req, status, w);
    json_writer_free(w);
    return 0;
}

/* The app id of application `object_id` in the caller's tenant into `app_id`; 0, or a failed
 * request (404). */
static int find_application(struct http_request *req, const char *object_id, char app_id[40])
{
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT app_id FROM applications WHERE object_id = lower(?1) AND "
                      "tenant_id = lower(?2)",
                      &st) != 0)
        return aad_graph_store_failed(req);
    store_bind_text(st, 1, object_id);
    store_bind_text(st, 2, req->caller->tid);
    int rc = store_step(st) == 1 ? 0 : AZ_ENOTFOUND;
    if (rc == 0)
        snprintf(app_id, 40, "%s", store_column_text(st, 0));
    store_finalize(st);
    return rc == 0 ? 0 : aad_graph_not_found(req, object_id);
}

/* identifierUris of a request: absent (0, *set false), or an array of at most one URI that no
 * other application of the tenant (except `self`) uses. */
static int parse_identifier_uris(struct http_request *req, const struct json *body,
                                 const char *self, const char **uri, bool *set)
{
    const struct json *uris = json_get(body, "identifierUris");
    *uri = NULL;
    *set = uris != NULL;
    if (!uris)
        return 0;
    if (json_type(uris) != JSON_ARRAY)
        return invalid_property(req, "identifierUris", "Application");
    if (json_len(uris) > 1)
        return http_fail(req, 400, "Request_BadRequest",
                         "azsim keeps at most one identifier URI per application.");
    if (json_len(uris) == 0)
        return 0;
    *uri = json_string(json_at(uris, 0));
    if (!*uri || !**uri || strlen(*uri) > 400)
        return invalid_property(req, "identifierUris", "Application");
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT 1 FROM applications WHERE tenant_id = lower(?1) AND "
                      "identifier_uri = ?2 AND (?3 IS NULL OR app_id <> ?3)",
                      &st) != 0)
        return aad_graph_store_failed(req);
    store_bind_text(st, 1, req->caller->tid);
    store_bind_text(st, 2, *uri);
    store_bind_text(st, 3, self);
    bool taken = store_step(st) == 1;
    store_finalize(st);
    if (taken)
        return http_fail(req, 400, "Request_BadRequest",
                         "Another object with the same value for property identifierUris already "
                         "exists.");
    return 0;
}

/* A displayName of a request: absent (NULL, when allowed) or a non-empty string. */
static int parse_display_name(struct http_request *req, const struct json *body, bool required,
                              const char **name)
{
    const struct json *v = json_get(body, "displayName");
    *name = json_string(v);
    if (!v && !required)
        return 0;
    if (!*name || !**name || strlen(*name) > 256)
        return invalid_property(req, "displayName", "Application");
    return 0;
}

/* ---- handlers ------------------------------------------------------------------------------- */

/* An application as a list shows it: as one, without new passwords. */
static void write_listed_application(struct http_request *req, struct json_writer *w,
                                     struct store_stmt *st)
{
    jw_object_open(w);
    write_application(req, w, st, NULL, 0);
    jw_object_close(w);
}

/* GET /v1.0/applications[?$filter=…] in the caller's tenant. */
int aad_graph_applications(struct http_request *req)
{
    struct store_stmt *st;
    if (aad_graph_authenticate(req) != 0 ||
        aad_graph_list(req, "Application", app_fields,
                       "SELECT " APP_COLUMNS " FROM " APP_FROM " WHERE a.tenant_id = lower(?1)",
                       "a.display_name, a.created_at", &st) != 0)
        return AZ_EREPLIED;
    return aad_graph_reply_list(req, st, "applications", write_listed_application);
}

/* GET /v1.0/applications/{id} */
int aad_graph_application_get(struct http_request *req)
{
    if (aad_graph_authenticate(req) != 0)
        return AZ_EREPLIED;
    const char *id = aad_graph_object_id(req);
    return id ? reply_application(req, 200, id, NULL, 0) : AZ_EREPLIED;
}

/* The certificates of a request's keyCredentials ([{type, usage, key (base64 DER)}]); the caller
 * frees them. */
static int parse_key_credentials(struct http_request *req, const struct json *body,
                                 struct token_key **certs, size_t *n)
{
    const struct json *creds = json_get(body, "keyCredentials");
    *n = 0;
    if (!creds || json_type(creds) == JSON_NULL)
        return 0;
    if (json_type(creds) != JSON_ARRAY || json_len(creds) > MAX_NEW_CREDENTIALS)
        return invalid_property(req, "keyCredentials", "Application");
    for (size_t i = 0; i < json_len(creds); i++) {
        const struct json *c = json_at(creds, i);
        const char *key = json_string(json_get(c, "key"));
        const char *type = json_string(json_get(c, "type"));
        const char *usage = json_string(json_get(c, "usage"));
        unsigned char *der = NULL;
        long len = key ? base64_decode(req->arena, key, strlen(key), &der) : -1;
        if ((type && strcmp(type, "AsymmetricX509Cert") != 0) ||
            (usage && strcmp(usage, "Verify") != 0) || len <= 0 ||
            token_key_from_der(der, (size_t)len, &certs[*n]) != 0)
            return invalid_property(req, "keyCredentials", "Application");
        (*n)++;
    }
    return 0;
}

/* POST /v1.0/applications {displayName, identifierUris?, isFallbackPublicClient?,
 * passwordCredentials?, keyCredentials?}: a new app registration without a service principal
 * (POST /v1.0/servicePrincipals adds that). 201 with the object; the text of passwords asked for
 * here is in this answer only. */
int aad_graph_application_create(struct http_request *req)
{
    if (aad_graph_authenticate(req) != 0 ||
        aad_graph_authorize_write(req, "microsoft.directory/applications/create") != 0)
        return AZ_EREPLIED;
    const struct json *body;
    const char *name, *uri;
    bool uri_set, public_client = false;
    if (aad_graph_body(req, &body) != 0 || parse_display_name(req, body, true, &name) != 0 ||
        parse_identifier_uris(req, body, NULL, &uri, &uri_set) != 0)
        return AZ_EREPLIED;
    const struct json *fallback = json_get(body, "isFallbackPublicClient");
    if (fallback && json_type(fallback) != JSON_NULL && !json_bool(fallback, &public_client))
        return invalid_property(req, "isFallbackPublicClient", "Application");
    const struct json *passwords = json_get(body, "passwordCredentials");
    if (passwords && json_type(passwords) != JSON_NULL &&
        (json_type(passwords) != JSON_ARRAY || json_len(passwords) > MAX_NEW_CREDENTIALS))
        return invalid_property(req, "passwordCredentials", "Application");

    struct new_password fresh[MAX_NEW_CREDENTIALS];
    struct token_key *certs[MAX_NEW_CREDENTIALS];
    size_t nfresh = 0, ncerts = 0;
    int rc = parse_key_credentials(req, body, certs, &ncerts);
    for (size_t i = 0; rc == 0 && i < json_len(passwords); i++) {
        rc = parse_password(req, json_at(passwords, i), &fresh[nfresh]);
        if (rc == 0)
            nfresh++;
    }
    char app_id[37], object_id[37];
    uuid_v4(app_id);
    if (rc == 0) {
        rc = store_begin(req->store);
        if (rc == 0)
            rc = aad_application_register(req->store, req->caller->tid, app_id, name, uri,
                                          public_client, object_id);
        for (size_t i = 0; rc == 0 && i < nfresh; i++) {
            fresh[i].secret = secret_generate_client_secret();
            rc = aad_application_add_password(req->store, app_id, fresh[i].secret, fresh[i].start,
                                              fresh[i].end, fresh[i].key_id);
        }
        for (size_t i = 0; rc == 0 && i < ncerts; i++)
            rc = aad_application_add_certificate(req->store, app_id, certs[i]);
        if (rc == 0)
            rc = store_commit(req->store);
        if (rc != 0) {
            store_rollback(req->store);
            rc = aad_graph_store_failed(req);
        } else {
            rc = reply_application(req, 201, object_id, fresh, nfresh);
        }
    }
    release_passwords(fresh, nfresh);
    for (size_t i = 0; i < ncerts; i++)
        token_key_free(certs[i]);
    return rc;
}

/* The caller may `action` on the application the path names: 0 with its appId, or a failed
 * request (401, 403 Authorization_RequestDenied, 400 for a malformed id, 404). */
static int writable_application(struct http_request *req, const char *action, char app_id[40])
{
    const char *id;
    if (aad_graph_authenticate(req) != 0 || aad_graph_authorize_write(req, action) != 0 ||
        !(id = aad_graph_object_id(req)) || find_application(req, id, app_id) != 0)
        return AZ_EREPLIED;
    return 0;
}

/* PATCH /v1.0/applications/{id} {displayName?, identifierUris?}: 204. */
int aad_graph_application_update(struct http_request *req)
{
    const struct json *body;
    char app_id[40];
    const char *name, *uri;
    bool uri_set;
    if (writable_application(req, "microsoft.directory/applications/basic/update", app_id) != 0 ||
        aad_graph_body(req, &body) != 0 || parse_display_name(req, body, false, &name) != 0 ||
        parse_identifier_uris(req, body, app_id, &uri, &uri_set) != 0)
        return AZ_EREPLIED;
    if (aad_application_update(req->store, app_id, name, uri, uri_set) != 0)
        return aad_graph_store_failed(req);
    return http_reply(req, 204, NULL, "", 0);
}

/* DELETE /v1.0/applications/{id}: the application, its service principal and its credentials.
 * 204. */
int aad_graph_application_delete(struct http_request *req)
{
    char app_id[40];
    if (writable_application(req, "microsoft.directory/applications/delete", app_id) != 0)
        return AZ_EREPLIED;
    int rc = store_begin(req->store);
    if (rc == 0)
        rc = aad_application_delete(req->store, app_id);
    if (rc == 0)
        rc = store_commit(req->store);
    if (rc != 0) {
        store_rollback(req->store);
        return aad_graph_store_failed(req);
    }
    return http_reply(req, 204, NULL, "", 0);
}

/* POST /v1.0/applications/{id}/addPassword {"passwordCredential": {displayName?, startDateTime?,
 * endDateTime?}}: 200 with the new passwordCredential, its secretText included this once. */
int aad_graph_application_add_password(struct http_request *req)
{
    const struct json *body;
    char app_id[40];
    if (writable_application(req, "microsoft.directory/applications/credentials/update", app_id) !=
            0 ||
        aad_graph_body(req, &body) != 0)
        return AZ_EREPLIED;
    struct new_password p;
    if (parse_password(req, json_get(body, "passwordCredential"), &p) != 0)
        return AZ_EREPLIED;
    p.secret = secret_generate_client_secret();
    int rc;
    if (aad_application_add_password(req->store, app_id, p.secret, p.start, p.end, p.key_id) != 0) {
        rc = aad_graph_store_failed(req);
    } else {
        char hint[4];
        snprintf(hint, sizeof(hint), "%.3s", p.secret);
        struct json_writer *w = json_writer_new();
        jw_object_open(w);
        jw_kv_string(
            w, "@odata.context",
            "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.passwordCredential");
        write_password(w, p.key_id, hint, p.display_name, p.start, p.end, p.secret);
        jw_object_close(w);
        rc = http_reply_json(req, 200, w);
        json_writer_free(w);
    }
    release_passwords(&p, 1);
    return rc;
}

/* POST /v1.0/applications/{id}/removePassword {"keyId": "…"}: 204. */
int aad_graph_application_remove_password(struct http_request *req)
{
    const struct json *body;
    char app_id[40];
    if (writable_application(req, "microsoft.directory/applications/credentials/update", app_id) !=
            0 ||
        aad_graph_body(req, &body) != 0)
        return AZ_EREPLIED;
    const char *key_id = json_string(json_get(body, "keyId"));
    if (!uuid_valid(key_id))
        return invalid_property(req, "keyId", "PasswordCredential");
    int rc = aad_application_remove_password(req->store, app_id, key_id);
    if (rc == AZ_ENOTFOUND)
        return http_fail(req, 404, "Request_ResourceNotFound",
                         "No password credential found with keyId '%s'.", key_id);
    if (rc != 0)
        return aad_graph_store_failed(req);
    return http_reply(req, 204, NULL, "", 0);
}
