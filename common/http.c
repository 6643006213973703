/*
 * http.c — the request model, the dispatcher and the shared error renderers (see http.h).
 * No libevent here: this is the part of the HTTP layer that unit tests drive directly.
 */
#include "http.h"

#include "error.h"
#include "frontdoor.h"
#include "json.h"
#include "log.h"
#include "server.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>

/* ---- headers and query ---------------------------------------------------------------------- */

void http_headers_add(struct arena *a, struct http_headers *h, const char *name, const char *value)
{
    if (h->len == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        struct http_header *items = arena_alloc(a, cap * sizeof(*items));
        if (h->len)
            memcpy(items, h->items, h->len * sizeof(*items));
        h->items = items;
        h->cap = cap;
    }
    h->items[h->len].name = name;
    h->items[h->len].value = value;
    h->len++;
}

const char *http_headers_get(const struct http_headers *h, const char *name)
{
    for (size_t i = 0; i < h->len; i++) {
        if (str_ieq(h->items[i].name, name))
            return h->items[i].value;
    }
    return NULL;
}

const char *http_body(struct http_request *req)
{
    if (!req->body) {
        char *flat = arena_alloc(req->arena, req->body_len + 1);
        size_t at = 0;
        for (size_t i = 0; i < req->body_npieces; i++) {
            memcpy(flat + at, req->body_pieces[i].data, req->body_pieces[i].len);
            at += req->body_pieces[i].len;
        }
        req->body = flat;
    }
    return req->body;
}

const char *http_header(const struct http_request *req, const char *name)
{
    return http_headers_get(&req->headers, name);
}

const char *http_query(const struct http_request *req, const char *name)
{
    return http_headers_get(&req->query, name);
}

const char *http_param(const struct http_request *req, const char *name)
{
    return route_match_param(&req->match, name);
}

int http_form_decode(struct arena *a, const char *text, size_t len, struct http_headers *out)
{
    const char *p = text, *stop = text + len;
    while (p < stop) {
        const char *end = memchr(p, '&', (size_t)(stop - p));
        if (!end)
            end = stop;
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (end > p) {
            const char *kend = eq ? eq : end;
            size_t klen, vlen = 0;
            char *k = percent_decode(a, p, (size_t)(kend - p), true, &klen);
            char *v = eq ? percent_decode(a, eq + 1, (size_t)(end - eq - 1), true, &vlen)
                         : arena_strdup(a, "");
            if (!k || !v || !utf8_valid(k, klen) || !utf8_valid(v, vlen))
                return AZ_EINVAL;
            http_headers_add(a, out, k, v);
        }
        p = end + 1;
    }
    return 0;
}

static int parse_query(struct http_request *req)
{
    return http_form_decode(req->arena, req->raw_query, strlen(req->raw_query), &req->query);
}

int http_request_init(struct http_request *req, struct arena *a, const struct module *m,
                      enum http_method method, const char *target)
{
    memset(req, 0, sizeof(*req));
    req->arena = a;
    req->module = m;
    req->method = method;
    req->target = arena_strdup(a, target);
    req->host = "";
    req->body = "";
    req->peer = "-";
    req->started_us = clock_mono_us();

    /* Absolute form ("http://host/path"), which proxies receive: the path starts after the
     * authority, and the authority is the host. */
    const char *t = req->target;
    const char *scheme_end = strstr(t, "://");
    if (scheme_end && strcspn(t, "/?") > (size_t)(scheme_end - t)) {
        const char *auth = scheme_end + 3;
        size_t alen = strcspn(auth, "/?#");
        req->host = arena_strndup(a, auth, alen);
        t = auth + alen;
    }
    size_t plen = strcspn(t, "?#");
    req->path = plen ? arena_strndup(a, t, plen) : "/";
    if (t[plen] == '?') {
        const char *q = t + plen + 1;
        req->raw_query = arena_strndup(a, q, strcspn(q, "#"));
    } else {
        req->raw_query = "";
    }

    char id[37];
    uuid_v4(id);
    req->request_id = arena_strdup(a, id);
    int rc = parse_query(req);
    req->malformed_query = rc != 0;
    return rc;
}

void http_request_release(struct http_request *req)
{
    buf_free(&req->resp_body);
}

/* ---- replies -------------------------------------------------------------------------------- */

void http_set_header(struct http_request *req, const char *name, const char *value)
{
    for (size_t i = 0; i < req->resp_headers.len; i++) {
        if (str_ieq(req->resp_headers.items[i].name, name)) {
            req->resp_headers.items[i].value = arena_strdup(req->arena, value);
            return;
        }
    }
    http_headers_add(req->arena, &req->resp_headers, arena_strdup(req->arena, name),
                     arena_strdup(req->arena, value));
}

int http_reply(struct http_request *req, int status, const char *content_type, const void *body,
               size_t len)
{
    if (req->replied) {
        /* A handler bug, never a client's doing: keep the first reply and say so loudly. */
        LOG_ERROR(req->module->name, "second reply (%d) to one request ignored", status);
        return 0;
    }
    req->replied = true;
    req->status = status;
    if (content_type)
        http_set_header(req, "Content-Type", content_type);
    buf_reset(&req->resp_body);
    buf_append(&req->resp_body, body, len);
    return 0;
}

int http_reply_file(struct http_request *req, int status, const char *content_type, int fd,
                    int64_t offset, int64_t length)
{
    if (req->replied) {
        close(fd);
        return http_reply(req, status, content_type, "", 0); /* logs the second reply */
    }
    http_reply(req, status, content_type, "", 0);
    req->resp_file = true;
    req->resp_file_fd = fd;
    req->resp_file_offset = offset;
    req->resp_file_length = length;
    return 0;
}

int http_reply_json(struct http_request *req, int status, struct json_writer *w)
{
    size_t len;
    const char *text = json_writer_text(w, &len);
    return http_reply(req, status, "application/json; charset=utf-8", text, len);
}

int http_fail(struct http_request *req, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const char *message = arena_vprintf(req->arena, fmt, ap);
    va_end(ap);
    if (!req->replied) {
        req->error_code = arena_strdup(req->arena, code);
        req->module->render_error(req, status, code, message);
    }
    return AZ_EREPLIED;
}

/* ---- error renderers ------------------------------------------------------------------------ */

void http_render_json_error(struct http_request *req, int status, const char *code,
                            const char *message)
{
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_key(w, "error");
    jw_object_open(w);
    jw_kv_string(w, "code", code);
    jw_kv_string(w, "message", message);
    jw_object_close(w);
    jw_object_close(w);
    http_reply_json(req, status, w);
    json_writer_free(w);
    http_set_header(req, "x-ms-failure-cause", "gateway");
}

void http_render_oauth_error(struct http_request *req, int status, const char *code,
                             const char *message)
{
    char ts[32];
    clock_format_iso8601(clock_now_ms(), ts, sizeof(ts));
    /* msal sends its correlation id as a header (Python) or in the query (JS). */
    const char *correlation = http_header(req, "client-request-id");
    if (!correlation)
        correlation = http_query(req, "client-request-id");
    /* Entra's descriptions start with their code ("AADSTS7000215: …"), repeated as a number. */
    long aadsts = strncmp(message, "AADSTS", 6) == 0 ? strtol(message + 6, NULL, 10) : 0;
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_string(w, "error", code);
    jw_kv_string(w, "error_description", message);
    if (aadsts > 0) {
        jw_key(w, "error_codes");
        jw_array_open(w);
        jw_int(w, aadsts);
        jw_array_close(w);
    }
    jw_kv_string(w, "timestamp", ts);
    jw_kv_string(w, "trace_id", req->request_id);
    jw_kv_string(w, "correlation_id", correlation ? correlation : req->request_id);
    jw_object_close(w);
    http_reply_json(req, status, w);
    json_writer_free(w);
}

static void xml_escape(struct buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': buf_puts(b, "&lt;"); break;
        case '>': buf_puts(b, "&gt;"); break;
        case '&': buf_puts(b, "&amp;"); break;
        case '"': buf_puts(b, "&quot;"); break;
        case '\'': buf_puts(b, "&apos;"); break;
        default: buf_putc(b, *s);
        }
    }
}

void http_render_storage_error(struct http_request *req, int status, const char *code,
                               const char *message)
{
    /* Storage appends the request id and time to every message, on their own lines. */
    char ts[32];
    clock_format_iso8601(clock_now_ms(), ts, sizeof(ts));
    struct buf b = {0};
    buf_puts(&b, "\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>");
    xml_escape(&b, code);
    buf_puts(&b, "</Code><Message>");
    xml_escape(&b, message);
    buf_printf(&b, "\nRequestId:%s\nTime:%s</Message></Error>", req->request_id, ts);
    http_reply(req, status, "application/xml", b.data, b.len);
    buf_free(&b);
    http_set_header(req, "x-ms-error-code", code);
}

/* ---- routes every listener has -------------------------------------------------------------- */

/* GET /health: liveness for `azsim health`, docker HEALTHCHECK and compose depends_on. */
static int common_health(struct http_request *req)
{
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_string(w, "status", "Healthy");
    jw_kv_string(w, "module", req->module->name);
    jw_kv_string(w, "version", req->server ? req->server->version : "");
    jw_object_close(w);
    http_reply_json(req, 200, w);
    json_writer_free(w);
    http_set_header(req, "Cache-Control", "no-store");
    return 0;
}

/* GET /azsim/ca.pem: the CA that signs azsim's certificates, so a container can fetch it over
 * plain HTTP (IMDS listener, front door) and trust it. Public material only. */
static int common_ca_pem(struct http_request *req)
{
    if (!req->server || !req->server->ca_pem)
        return http_fail(req, 404, "NotFound", "This azsim has no CA certificate.");
    return http_reply(req, 200, "application/x-pem-file", req->server->ca_pem,
                      strlen(req->server->ca_pem));
}

static const struct route common_routes[] = {
    {HTTP_GET, "/health", common_health, "Azsim_Health", NULL, ROUTE_PUBLIC},
    {HTTP_GET, "/azsim/ca.pem", common_ca_pem, "Azsim_GetCaCertificate", NULL, ROUTE_PUBLIC},
};

/* ---- dispatch ------------------------------------------------------------------------------- */

static void fail_bad_method(struct http_request *req, unsigned allowed)
{
    struct buf allow = {0};
    for (unsigned bit = 1; bit <= HTTP_OPTIONS; bit <<= 1) {
        if (allowed & bit)
            buf_printf(&allow, "%s%s", allow.len ? ", " : "", http_method_name(bit));
    }
    http_fail(req, 405, "MethodNotAllowed",
              "The requested resource does not support http method '%s'.",
              http_method_name(req->method));
    http_set_header(req, "Allow", allow.data ? allow.data : "");
    buf_free(&allow);
}

/* The host a request names, without its port ("management.azure.com:443" → ...). */
static bool same_host(const char *with_port, const char *host)
{
    size_t n = strlen(host);
    return strncasecmp(with_port, host, n) == 0 && (with_port[n] == '\0' || with_port[n] == ':');
}

void http_dispatch(struct http_request *req)
{
    const struct module *m = req->module;
    /* A proxy client may reuse a connection for another host; the connection belongs to the host
     * the front door opened it for, and azsim forwards nowhere. */
    if (req->front_door && *req->host && !same_host(req->host, req->front_door->host)) {
        http_fail(req, 421, "MisdirectedRequest",
                  "This connection was opened for %s; it cannot serve %s.", req->front_door->host,
                  req->host);
        return;
    }
    if (req->malformed_query) {
        http_fail(req, 400, "InvalidQueryParameterValue",
                  "The query string has a malformed percent-encoding or is not UTF-8.");
        return;
    }
    unsigned allowed = 0, allowed_common = 0;
    enum router_result r = router_match(common_routes, ARRAY_SIZE(common_routes), req->method,
                                        req->path, req->arena, &req->match, &allowed_common);
    if (r != ROUTER_FOUND && r != ROUTER_BAD_PATH)
        r = router_match(m->routes, m->nroutes, req->method, req->path, req->arena, &req->match,
                         &allowed);
    allowed |= allowed_common;
    if (r == ROUTER_NOT_FOUND && allowed)
        r = ROUTER_BAD_METHOD;

    switch (r) {
    case ROUTER_BAD_PATH:
        http_fail(req, 400, "InvalidUri",
                  "The request URI is invalid: the path has a malformed percent-encoding or is "
                  "not UTF-8.");
        return;
    case ROUTER_NOT_FOUND:
        http_fail(req, 404, "NotFound", "No HTTP resource was found that matches the request URI.");
        return;
    case ROUTER_BAD_METHOD: fail_bad_method(req, allowed); return;
    case ROUTER_FOUND: break;
    }

    bool public_route = req->match.route->flags & ROUTE_PUBLIC;
    if (!public_route && m->authenticate && m->authenticate(req) != 0) {
        if (!req->replied)
            http_fail(req, 401, "AuthenticationFailed", "Authentication failed.");
        return;
    }
    int rc = req->match.route->handler(req);
    if (!req->replied && !req->deferred) {
        LOG_ERROR(m->name, "%s returned %d without replying", req->match.route->operation_id, rc);
        http_fail(req, 500, "InternalServerError", "The server encountered an internal error.");
    }
}

void http_defer(struct http_request *req)
{
    req->deferred = true;
}

void http_resume(struct http_request *req)
{
    if (!req->replied)
        http_fail(req, 500, "InternalServerError", "The server encountered an internal error.");
    req->on_resume(req);
}

const char *http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 416: return "Range Not Satisfiable";
    case 421: return "Misdirected Request";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    }
    return "Unknown";
}
