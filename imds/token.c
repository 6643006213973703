/*
 * imds/token.c — GET /metadata/identity/oauth2/token: steps 5 and 6 of the flow (DESIGN §1).
 *
 * Code on a VM asks for a token; IMDS finds the VM and the identity asked for, and on a cache
 * miss signs in to AAD *as that identity*: a client-credentials request over HTTPS with the
 * identity's client id and a client assertion signed with its certificate's private key. AAD
 * checks the assertion against the certificate registered on the service principal, like any
 * application's, and IMDS answers with AAD's token in IMDS's own shape. IMDS never mints a token.
 * Answers are cached per VM, identity and resource until shortly before they expire, and a
 * repeat of a request is answered from the thread's snapshot (imds.h) while the store is
 * unchanged. Every sign-in, and every refusal from AAD, goes to the audit log.
 */
#include "imds/imds.h"

#include "common/audit.h"
#include "common/error.h"
#include "common/http_client.h"
#include "common/json.h"
#include "common/log.h"
#include "common/module.h"
#include "common/server.h"
#include "common/store.h"
#include "common/token.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#define AAD_TIMEOUT_SECONDS 10
#define TOKEN_ACTION "Microsoft.ManagedIdentity/identities/token/action"

/* Checks every token request passes before anything is looked up, in IMDS's order. */
int imds_check_token_request(struct http_request *req)
{
    if (http_header(req, "X-Forwarded-For"))
        return imds_fail(req, 400, "invalid_request",
                         "Request with X-Forwarded-For header is not allowed.");
    const char *metadata = http_header(req, "Metadata");
    if (!metadata || !str_ieq(metadata, "true"))
        return imds_fail(req, 400, "invalid_request", "Required metadata header not specified");
    if (imds_duplicate_query(req))
        return imds_fail(req, 400, "invalid_request",
                         "Requests with duplicate query parameter names are not allowed.");
    if (!http_query(req, "api-version"))
        return imds_fail(req, 400, "invalid_request",
                         "Required query variable 'api-version' is missing");
    if (!api_version_is_date(http_query(req, "api-version")))
        return imds_fail(req, 400, "invalid_request", "Invalid api-version");
    const char *resource = http_query(req, "resource");
    if (!resource || !*resource)
        return imds_fail(req, 400, "invalid_request",
                         "Required query variable 'resource' is missing");
    return 0;
}

/* ---- asking AAD ------------------------------------------------------------------------------ */

/* One sign-in in flight: everything lives in the waiting request's arena. */
struct sign_in {
    struct http_request *req;
    struct imds_identity identity;
    const char *resource;
    const char *cache_key;
    struct imds_snapshot_ref snapshot;
};

static void audit(struct sign_in *s, bool allowed, const char *reason)
{
    audit_record(s->req->store, &(struct audit_entry){
                                    .module = "imds",
                                    .principal = s->identity.principal_id,
                                    .action = TOKEN_ACTION,
                                    .scope = s->identity.resource_id,
                                    .allowed = allowed,
                                    .reason = reason,
                                    .request_id = s->req->request_id,
                                });
}

/* A number AAD may send as a JSON number or a numeric string; 0 when absent. */
static int64_t number(const struct json *v)
{
    int64_t n = 0;
    if (!json_int(v, &n) && json_string(v))
        n = strtoll(json_string(v), NULL, 10);
    return n;
}

/* AAD's v1 answer → IMDS's: the same token and times, every field a string. */
static const char *imds_answer(struct sign_in *s, const struct json *aad, int64_t *expires_on)
{
    int64_t now = clock_now_ms() / 1000;
    int64_t lifetime = number(json_get(aad, "expires_in"));
    if (lifetime <= 0)
        lifetime = 3600;
    *expires_on = number(json_get(aad, "expires_on"));
    if (*expires_on <= 0)
        *expires_on = now + lifetime;
    int64_t not_before = number(json_get(aad, "not_before"));
    char text[24];
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_string(w, "access_token", json_string(json_get(aad, "access_token")));
    jw_kv_string(w, "client_id", s->identity.client_id);
    snprintf(text, sizeof(text), "%lld", (long long)lifetime);
    jw_kv_string(w, "expires_in", text);
    snprintf(text, sizeof(text), "%lld", (long long)*expires_on);
    jw_kv_string(w, "expires_on", text);
    snprintf(text, sizeof(text), "%lld", (long long)lifetime);
    jw_kv_string(w, "ext_expires_in", text);
    snprintf(text, sizeof(text), "%lld", (long long)(not_before > 0 ? not_before : now));
    jw_kv_string(w, "not_before", text);
    jw_kv_string(w, "resource", s->resource);
    jw_kv_string(w, "token_type", "Bearer");
    jw_object_close(w);
    const char *answer = arena_strdup(s->req->arena, json_writer_text(w, NULL));
    json_writer_free(w);
    return answer;
}

static void on_aad_answer(void *arg, const struct http_client_response *r)
{
    struct sign_in *s = arg;
    struct http_request *req = s->req;
    const struct json *doc = r->status ? json_parse_in(req->arena, r->body, r->len) : NULL;
    const char *token = json_string(json_get(doc, "access_token"));
    if (r->status == 200 && token) {
        int64_t expires_on;
        const char *answer = imds_answer(s, doc, &expires_on);
        imds_cache_put(req, s->cache_key, answer, expires_on);
        imds_snapshot_put(req, &s->snapshot, answer, expires_on);
        audit(s, true,
              arena_printf(req->arena,
                           "signed in to Entra ID as identity %s (client id %s) "
                           "with its certificate",
                           s->identity.principal_id, s->identity.client_id));
        http_reply(req, 200, "application/json; charset=utf-8", answer, strlen(answer));
    } else {
        const char *error = json_string(json_get(doc, "error"));
        const char *description = json_string(json_get(doc, "error_description"));
        if (!description)
            description =
                r->status ? "Entra ID gave no usable answer." : "Entra ID could not be reached.";
        audit(s, false,
              arena_printf(req->arena, "Entra ID refused identity %s: %s", s->identity.client_id,
                           description));
        /* AAD's own error for an unknown resource; anything else is IMDS failing to sign in. */
        bool resource = error && strcmp(error, "invalid_resource") == 0;
        imds_fail(req, 400, resource ? "invalid_resource" : "invalid_request", description);
    }
    http_resume(req);
}

/* The assertion: a short JWT about the identity, signed with its certificate's key. */
static char *client_assertion(struct http_request *req, const struct imds_identity *id)
{
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT cert_pem, key_pem FROM identity_certificates WHERE client_id = ?1",
                      &st) != 0)
        return NULL;
    store_bind_text(st, 1, id->client_id);
    struct token_key *key = NULL;
    if (store_step(st) == 1)
        token_signing_key_from_pem(store_column_text(st, 0), store_column_text(st, 1), &key);
    store_finalize(st);
    if (!key)
        return NULL;
    int64_t now = clock_now_ms() / 1000;
    char jti[37];
    uuid_v4(jti);
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_string(w, "aud",
                 arena_printf(req->arena, "https://login.microsoftonline.com/%s/oauth2/token",
                              id->tenant_id));
    jw_kv_string(w, "iss", id->client_id);
    jw_kv_string(w, "sub", id->client_id);
    jw_kv_string(w, "jti", jti);
    jw_kv_int(w, "nbf", now);
    jw_kv_int(w, "iat", now);
    jw_kv_int(w, "exp", now + 600);
    jw_object_close(w);
    size_t len;
    const char *payload = json_writer_text(w, &len);
    char *jwt = token_sign(key, payload, len);
    json_writer_free(w);
    token_key_free(key);
    return jwt;
}

static const char *form_escape(struct http_request *req, const char *s)
{
    struct buf b = {0};
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p))
            buf_putc(&b, (char)*p);
        else
            buf_printf(&b, "%%%02X", *p);
    }
    const char *out = arena_strdup(req->arena, b.data ? b.data : "");
    buf_free(&b);
    return out;
}

static int sign_in(struct http_request *req, const struct imds_identity *id, const char *resource,
                   const char *cache_key, const struct imds_snapshot_ref *snapshot)
{
    const char *aad = req->server ? req->server->urls[MODULE_AAD] : NULL;
    struct http_client *client = imds_http_client(req);
    if (!aad || !client)
        return imds_fail(req, 400, "invalid_request",
                         "Entra ID is not running in this azsim, so no token can be obtained.");
    char *assertion = client_assertion(req, id);
    if (!assertion)
        return imds_fail(req, 400, "invalid_request",
                         "The identity has no certificate to sign in with.");
    const char *form =
        arena_printf(req->arena,
                     "grant_type=client_credentials&client_id=%s&client_assertion_type=%s&"
                     "client_assertion=%s&resource=%s",
                     form_escape(req, id->client_id), form_escape(req, ASSERTION_TYPE), assertion,
                     form_escape(req, resource));
    free(assertion);
    struct sign_in *s = arena_alloc(req->arena, sizeof(*s));
    s->req = req;
    s->identity = *id;
    s->resource = resource;
    s->cache_key = cache_key;
    s->snapshot = *snapshot;
    const char *url = arena_printf(req->arena, "%s/%s/oauth2/token", aad, id->tenant_id);
    if (http_client_post_form(client, url, form, AAD_TIMEOUT_SECONDS, on_aad_answer, s) != 0)
        return imds_fail(req, 400, "invalid_request", "Entra ID could not be reached.");
    http_defer(req);
    return 0;
}

int imds_get_token(struct http_request *req)
{
    if (imds_check_token_request(req) != 0)
        return AZ_EREPLIED;
    /* Repeats pass every check above too; only the lookups below are spared. */
    struct imds_snapshot_ref snapshot;
    size_t len;
    const char *repeat = imds_snapshot_get(req, &snapshot, &len);
    if (repeat)
        return http_reply(req, 200, "application/json; charset=utf-8", repeat, len);
    struct imds_vm vm;
    int rc = imds_find_vm(req, false, &vm);
    if (rc == AZ_ENOTFOUND)
        return imds_fail(req, 400, "invalid_request", "Identity not found");
    if (rc != 0)
        return imds_fail(req, 400, "invalid_request", "The metadata store could not be read.");
    struct imds_identity id;
    if (imds_select_identity(req, &vm, &id) != 0)
        return AZ_EREPLIED;
    const char *resource = http_query(req, "resource");
    const char *key = arena_printf(req->arena, "%s\n%s\n%s", vm.id, id.client_id, resource);
    int64_t expires_on;
    const char *cached = imds_cache_get(req, key, &expires_on);
    if (cached) {
        imds_snapshot_put(req, &snapshot, cached, expires_on);
        return http_reply(req, 200, "application/json; charset=utf-8", cached, strlen(cached));
    }
    return sign_in(req, &id, resource, key, &snapshot);
}
