/*
 * storage/acl.c — a container's ACL (Get and Set Container ACL): its public access level and
 * its stored access policies, the signed identifiers a service SAS can name with si= so that
 * its permissions and window can be changed, or the SAS revoked, after it was handed out.
 *
 * The policies are kept as a JSON array in the container's row, at most five as in Azure.
 */
#include "storage/storage.h"
#include "storage/xml.h"

#include "common/error.h"
#include "common/json.h"
#include "common/store.h"
#include "common/util.h"

#include <string.h>

#define CONTAINERS "Microsoft.Storage/storageAccounts/blobServices/containers"
#define MAX_POLICIES 5
#define MAX_ID 64

int blob_get_container_acl(struct http_request *req)
{
    const struct blob_request *b = blob_request(req);
    if (b->anonymous)
        return blob_deny_anonymous(req); /* the ACL is never public */
    if (blob_authorize(req, false, CONTAINERS "/read", false) != 0 || blob_lease_check(req) != 0)
        return AZ_EREPLIED;
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT public_access, access_policies, etag, modified FROM blob_containers "
                      "WHERE account = ?1 AND name = ?2",
                      &st) != 0)
        return blob_fail_store(req);
    store_bind_text(st, 1, b->account);
    store_bind_text(st, 2, b->container);
    if (store_step(st) != 1) {
        store_finalize(st);
        return blob_fail_no_container(req);
    }
    if (store_column_text(st, 0))
        http_set_header(req, "x-ms-blob-public-access", store_column_text(st, 0));
    http_set_header(req, "ETag", arena_strdup(req->arena, store_column_text(st, 2)));
    http_set_header(req, "Last-Modified", blob_http_date(req, store_column_int64(st, 3)));
    const char *text = store_column_text(st, 1);
    const struct json *policies = json_parse_in(req->arena, text, strlen(text));
    store_finalize(st);
    struct buf x = {0};
    buf_puts(&x, "\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"utf-8\"?><SignedIdentifiers>");
    for (size_t i = 0; i < json_len(policies); i++) {
        const struct json *p = json_at(policies, i);
        buf_puts(&x, "<SignedIdentifier>");
        xml_element(&x, "Id", json_string(json_get(p, "id")));
        buf_puts(&x, "<AccessPolicy>");
        static const char *const fields[][2] = {
            {"Start", "start"}, {"Expiry", "expiry"}, {"Permission", "permission"}};
        for (size_t f = 0; f < ARRAY_SIZE(fields); f++) {
            const char *v = json_string(json_get(p, fields[f][1]));
            if (v && *v)
                xml_element(&x, fields[f][0], v);
        }
        buf_puts(&x, "</AccessPolicy></SignedIdentifier>");
    }
    buf_puts(&x, "</SignedIdentifiers>");
    http_reply(req, 200, "application/xml", req->method == HTTP_HEAD ? "" : x.data,
               req->method == HTTP_HEAD ? 0 : x.len);
    buf_free(&x);
    return 0;
}

static int fail_xml(struct http_request *req, const char *detail)
{
    return http_fail(req, 400, "InvalidXmlDocument", "XML specified is not syntactically valid. %s",
                     detail);
}

/* The <SignedIdentifiers> of the body as a JSON array; NULL when it failed the request. */
static const char *parse_policies(struct http_request *req)
{
    const char *body = http_body(req);
    struct xml_span doc = {body, body + req->body_len}, list = {body, body}, item;
    struct json_writer *w = json_writer_new();
    jw_array_open(w);
    size_t n = 0;
    const char *error = NULL;
    if (body[strspn(body, " \t\r\n")] && !xml_find(doc, "SignedIdentifiers", &list))
        error = "The root element must be <SignedIdentifiers>.";
    for (const char *p = list.start;
         !error && xml_find((struct xml_span){p, list.end}, "SignedIdentifier", &item);
         p = item.end) {
        struct xml_span policy = {item.end, item.end};
        const char *id = xml_child(req->arena, item, "Id");
        bool has_policy = xml_find(item, "AccessPolicy", &policy);
        const char *start = has_policy ? xml_child(req->arena, policy, "Start") : NULL;
        const char *expiry = has_policy ? xml_child(req->arena, policy, "Expiry") : NULL;
        const char *permission = has_policy ? xml_child(req->arena, policy, "Permission") : NULL;
        int64_t ms;
        if (!id || !*id || strlen(id) > MAX_ID)
            error = "Each <SignedIdentifier> needs an <Id> of 1 to 64 characters.";
        else if (++n > MAX_POLICIES)
            error = "A container has at most 5 stored access policies.";
        else if ((start && *start && !blob_parse_time(start, &ms)) ||
                 (expiry && *expiry && !blob_parse_time(expiry, &ms)))
            error = "<Start> and <Expiry> must be ISO 8601 UTC times.";
        else if (permission && permission[strspn(permission, "racwdxyltmeopi")])
            error = "<Permission> holds permission letters (r, a, c, w, d, l, …) only.";
        if (error)
            break;
        jw_object_open(w);
        jw_kv_string(w, "id", id);
        jw_kv_string(w, "start", start ? start : "");
        jw_kv_string(w, "expiry", expiry ? expiry : "");
        jw_kv_string(w, "permission", permission ? permission : "");
        jw_object_close(w);
    }
    jw_array_close(w);
    const char *json = error ? NULL : arena_strdup(req->arena, json_writer_text(w, NULL));
    json_writer_free(w);
    if (error)
        fail_xml(req, error);
    return json;
}

/* PUT ?restype=container&comp=acl: the public access level (the header; absent is private) and
 * the stored access policies (the body; empty removes them all), both replaced. */
int blob_set_container_acl(struct http_request *req)
{
    const struct blob_request *b = blob_request(req);
    if (blob_authorize(req, false, CONTAINERS "/write", false) != 0 || blob_lease_check(req) != 0)
        return AZ_EREPLIED;
    const char *access;
    if (blob_public_access(req, &access) != 0)
        return AZ_EREPLIED;
    const char *policies = parse_policies(req);
    if (!policies)
        return AZ_EREPLIED;
    const char *etag = blob_new_etag(req);
    int64_t now = clock_now_ms();
    if (store_run(req->store,
                  "UPDATE blob_containers SET public_access = lower(?3), access_policies = ?4, "
                  "etag = ?5, modified = ?6 WHERE account = ?1 AND name = ?2",
                  "sssssi", b->account, b->container, access, policies, etag, now) != 0)
        return blob_fail_store(req);
    if (store_changes(req->store) == 0)
        return blob_fail_no_container(req);
    http_set_header(req, "ETag", etag);
    http_set_header(req, "Last-Modified", blob_http_date(req, now));
    return http_reply(req, 200, NULL, "", 0);
}

int blob_find_policy(struct http_request *req, const char *container, const char *id,
                     struct blob_policy *out)
{
    const struct blob_request *b = blob_request(req);
    struct store_stmt *st;
    if (!container ||
        store_prepare(
            req->store,
            "SELECT access_policies FROM blob_containers WHERE account = ?1 AND name = ?2",
            &st) != 0)
        return container ? AZ_ESTORE : AZ_ENOTFOUND;
    store_bind_text(st, 1, b->account);
    store_bind_text(st, 2, container);
    int rc = store_step(st);
    const struct json *policies = NULL;
    if (rc == 1) {
        const char *text = store_column_text(st, 0);
        policies = json_parse_in(req->arena, text, strlen(text));
    }
    store_finalize(st);
    if (rc < 0)
        return AZ_ESTORE;
    for (size_t i = 0; i < json_len(policies); i++) {
        const struct json *p = json_at(policies, i);
        if (strcmp(json_string(json_get(p, "id")), id) == 0) {
            out->start = json_string(json_get(p, "start"));
            out->expiry = json_string(json_get(p, "expiry"));
            out->permission = json_string(json_get(p, "permission"));
            return 0;
        }
    }
    return AZ_ENOTFOUND;
}
