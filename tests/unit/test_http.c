/*
 * test_http.c — unit tests for common/http.c, driven without sockets: requests are built with
 * http_request_init() against fake modules and run through http_dispatch(), as h2o's unit tests
 * drive handlers. Covers query decoding, absolute-form targets, parameter passing, bodies in
 * pieces, the three error renderers, the reply-exactly-once guarantees, 404/405 and the routes
 * every listener has.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/http.h"
#include "common/json.h"
#include "common/log.h"
#include "common/server.h"
#include "common/util.h"

/* ---- fake modules --------------------------------------------------------------------------- */

static int handler_calls;

static int h_get_secret(struct http_request *req)
{
    handler_calls++;
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_string(w, "name", http_param(req, "secretName"));
    jw_kv_string(w, "version", http_param(req, "VERSION")); /* names match case-insensitively */
    jw_object_close(w);
    http_reply_json(req, 200, w);
    json_writer_free(w);
    return 0;
}

/* Fails with characters every wire format must escape. */
static int h_fail(struct http_request *req)
{
    handler_calls++;
    return http_fail(req, 404, "SecretNotFound", "Secret '%s' <&> \"x\" was not found.",
                     http_param(req, "name"));
}

static int h_no_reply(struct http_request *req)
{
    handler_calls++;
    return 0;
}

static int h_reply_twice(struct http_request *req)
{
    handler_calls++;
    http_reply(req, 200, "text/plain", "first", 5);
    http_reply(req, 201, "application/octet-stream", "second!", 7);
    return 0;
}

static int h_reply_then_fail(struct http_request *req)
{
    handler_calls++;
    http_reply(req, 202, "text/plain", "accepted", 8);
    return http_fail(req, 409, "Conflict", "too late");
}

static const struct route test_routes[] = {
    {HTTP_GET, "/secrets/{secretName}", h_get_secret, "Secrets_GetSecret", NULL},
    {HTTP_GET, "/secrets/{secretName}/{version}", h_get_secret, "Secrets_GetSecret", NULL},
    {HTTP_PUT, "/secrets/{secretName}", h_get_secret, "Secrets_SetSecret", NULL},
    {HTTP_GET, "/fail/{name}", h_fail, "Test_Fail", NULL},
    {HTTP_GET, "/noreply", h_no_reply, "Test_NoReply", NULL},
    {HTTP_GET, "/twice", h_reply_twice, "Test_Twice", NULL},
    {HTTP_GET, "/late", h_reply_then_fail, "Test_Late", NULL},
};

#define FAKE_MODULE(mod_name, renderer)                                                            \
    {                                                                                              \
        .name = (mod_name), .title = "test", .max_body = 1024, .render_error = (renderer),         \
        .routes = test_routes, .nroutes = sizeof(test_routes) / sizeof(test_routes[0]),            \
    }

static const struct module json_mod = FAKE_MODULE("jsonmod", http_render_json_error);
static const struct module oauth_mod = FAKE_MODULE("oauthmod", http_render_oauth_error);
static const struct module storage_mod = FAKE_MODULE("storagemod", http_render_storage_error);

/* ---- fixture -------------------------------------------------------------------------------- */

struct fixture {
    struct arena *arena;
    struct http_request req;
    bool initialised;
    struct json *body; /* parsed response body, when a test asks for it */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->arena = arena_new();
    handler_calls = 0;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    json_free(f->body);
    if (f->initialised)
        http_request_release(&f->req);
    arena_free(f->arena);
    free(f);
    return 0;
}

static int init(struct fixture *f, const struct module *m, enum http_method method,
                const char *target)
{
    f->initialised = true;
    return http_request_init(&f->req, f->arena, m, method, target);
}

/* Build, dispatch, and check that exactly one response resulted. */
static struct http_request *run(struct fixture *f, const struct module *m, enum http_method method,
                                const char *target)
{
    init(f, m, method, target);
    http_dispatch(&f->req);
    assert_true(f->req.replied);
    assert_non_null(f->req.resp_body.data);
    return &f->req;
}

/* The response body as JSON; freed by the teardown. */
static const struct json *body_json(struct fixture *f)
{
    char err[128] = "";
    json_free(f->body);
    f->body = NULL;
    if (json_parse(f->req.resp_body.data, f->req.resp_body.len, &f->body, err, sizeof(err)) != 0)
        fail_msg("response body is not JSON (%s): %s", err, f->req.resp_body.data);
    return f->body;
}

static const char *resp_header(struct fixture *f, const char *name)
{
    return http_headers_get(&f->req.resp_headers, name);
}

/* ---- request parsing ------------------------------------------------------------------------ */

static void test_query_decoding(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(init(f, &json_mod, HTTP_GET,
                          "/secrets/s?api%2Dversion=2021-01-01&q=a+b%2Bc&x=1=2&e=&k+1=v"),
                     0);
    struct http_request *req = &f->req;
    assert_false(req->malformed_query);
    assert_string_equal(req->path, "/secrets/s");
    assert_string_equal(req->raw_query, "api%2Dversion=2021-01-01&q=a+b%2Bc&x=1=2&e=&k+1=v");
    assert_int_equal(req->query.len, 5);
    assert_string_equal(http_query(req, "api-version"), "2021-01-01");
    assert_string_equal(http_query(req, "API-Version"), "2021-01-01");
    assert_string_equal(http_query(req, "q"), "a b+c"); /* '+' is a space, %2B a plus */
    assert_string_equal(http_query(req, "x"), "1=2");   /* only the first '=' splits */
    assert_string_equal(http_query(req, "e"), "");
    assert_string_equal(http_query(req, "k 1"), "v");
    assert_null(http_query(req, "missing"));
    assert_string_equal(req->host, "");
}

static void test_query_empty_pieces(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(init(f, &json_mod, HTTP_GET, "/x?a&&b=1&"), 0);
    struct http_request *req = &f->req;
    assert_int_equal(req->query.len, 2);
    assert_string_equal(req->query.items[0].name, "a");
    assert_string_equal(req->query.items[0].value, ""); /* a key without '=' */
    assert_string_equal(req->query.items[1].name, "b");
    assert_string_equal(req->query.items[1].value, "1");
}

static void test_query_repeated_key_first_wins(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(init(f, &json_mod, HTTP_GET, "/x?comp=list&comp=other"), 0);
    assert_int_equal(f->req.query.len, 2);
    assert_string_equal(http_query(&f->req, "comp"), "list");
}

static void test_no_query(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(init(f, &json_mod, HTTP_GET, "/x#frag"), 0);
    assert_string_equal(f->req.path, "/x");
    assert_string_equal(f->req.raw_query, "");
    assert_int_equal(f->req.query.len, 0);
    /* A fragment ends the query too. */
    struct http_request req;
    assert_int_equal(http_request_init(&req, f->arena, &json_mod, HTTP_GET, "/y?a=1#b=2"), 0);
    assert_string_equal(req.raw_query, "a=1");
    assert_null(http_query(&req, "b"));
    http_request_release(&req);
}

static void test_absolute_form_target(void **state)
{
    struct fixture *f = *state;
    const char *target = "http://169.254.169.254/metadata/x?y=1";
    assert_int_equal(init(f, &oauth_mod, HTTP_GET, target), 0);
    struct http_request *req = &f->req;
    assert_string_equal(req->target, target);
    assert_string_equal(req->host, "169.254.169.254");
    assert_string_equal(req->path, "/metadata/x");
    assert_string_equal(req->raw_query, "y=1");
    assert_string_equal(http_query(req, "y"), "1");
}

static void test_absolute_form_without_path(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(init(f, &oauth_mod, HTTP_GET, "http://example.test:8080?a=b"), 0);
    assert_string_equal(f->req.host, "example.test:8080");
    assert_string_equal(f->req.path, "/");
    assert_string_equal(http_query(&f->req, "a"), "b");
}

static void test_scheme_in_query_is_not_absolute_form(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(init(f, &json_mod, HTTP_GET, "/cb?redirect=https://host/p"), 0);
    assert_string_equal(f->req.host, "");
    assert_string_equal(f->req.path, "/cb");
    assert_string_equal(http_query(&f->req, "redirect"), "https://host/p");
}

static void test_request_defaults(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(init(f, &json_mod, HTTP_PUT, "/secrets/s"), 0);
    assert_int_equal(f->req.method, HTTP_PUT);
    assert_ptr_equal(f->req.module, &json_mod);
    assert_true(uuid_valid(f->req.request_id));
    assert_string_equal(f->req.body, "");
    assert_int_equal(f->req.body_len, 0);
    assert_false(f->req.replied);
    assert_int_equal(f->req.status, 0);
}

/* A body the server left in pieces reads as one, copied once; a flat body is itself. */
static void test_body_pieces(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(init(f, &json_mod, HTTP_PUT, "/blobs/b"), 0);
    assert_ptr_equal(http_body(&f->req), f->req.body);
    static const struct http_body_piece pieces[] = {{"hello, ", 7}, {"", 0}, {"pie\0ces", 7}};
    f->req.body = NULL;
    f->req.body_len = 14;
    f->req.body_pieces = pieces;
    f->req.body_npieces = 3;
    const char *flat = http_body(&f->req);
    assert_memory_equal(flat, "hello, pie\0ces", 15); /* NUL-terminated after the 14 */
    assert_ptr_equal(http_body(&f->req), flat);
}

static void test_malformed_query(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(init(f, &json_mod, HTTP_GET, "/secrets/s?a=%zz"), AZ_EINVAL);
    assert_true(f->req.malformed_query);
    http_dispatch(&f->req);
    assert_int_equal(handler_calls, 0);
    assert_int_equal(f->req.status, 400);
    assert_string_equal(f->req.error_code, "InvalidQueryParameterValue");
    const struct json *err = json_get(body_json(f), "error");
    assert_string_equal(json_string(json_get(err, "code")), "InvalidQueryParameterValue");
}

static void test_malformed_query_variants(void **state)
{
    struct fixture *f = *state;
    static const char *const bad[] = {
        "/x?%zz=1",    /* bad escape in a key */
        "/x?a=%ff",    /* decodes, but not UTF-8 */
        "/x?a=%00",    /* NUL */
        "/x?a=1&b=%2", /* truncated */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct http_request req;
        int rc = http_request_init(&req, f->arena, &json_mod, HTTP_GET, bad[i]);
        bool malformed = req.malformed_query;
        http_request_release(&req);
        if (rc != AZ_EINVAL || !malformed)
            fail_msg("%s: rc %d, malformed_query %d", bad[i], rc, malformed);
    }
}

/* ---- dispatch ------------------------------------------------------------------------------- */

static void test_params_reach_handler(void **state)
{
    struct fixture *f = *state;
    struct http_request *req = run(f, &json_mod, HTTP_GET, "/secrets/My%20Secret/V1?x=1");
    assert_int_equal(handler_calls, 1);
    assert_int_equal(req->status, 200);
    assert_string_equal(resp_header(f, "content-type"), "application/json; charset=utf-8");
    assert_string_equal(req->match.route->operation_id, "Secrets_GetSecret");
    const struct json *body = body_json(f);
    assert_string_equal(json_string(json_get(body, "name")), "My Secret");
    assert_string_equal(json_string(json_get(body, "version")), "V1");
    assert_string_equal(http_param(req, "SECRETNAME"), "My Secret");
    assert_null(http_param(req, "nope"));
    assert_null(req->error_code);
}

static void test_head_uses_get_handler(void **state)
{
    struct fixture *f = *state;
    struct http_request *req = run(f, &json_mod, HTTP_HEAD, "/secrets/s");
    assert_int_equal(handler_calls, 1);
    assert_int_equal(req->status, 200);
}

static void test_fail_json(void **state)
{
    struct fixture *f = *state;
    struct http_request *req = run(f, &json_mod, HTTP_GET, "/fail/abc");
    assert_int_equal(req->status, 404);
    assert_string_equal(req->error_code, "SecretNotFound");
    assert_string_equal(resp_header(f, "Content-Type"), "application/json; charset=utf-8");
    assert_string_equal(resp_header(f, "x-ms-failure-cause"), "gateway");
    const struct json *body = body_json(f);
    assert_int_equal(json_len(body), 1);
    const struct json *err = json_get(body, "error");
    assert_string_equal(json_string(json_get(err, "code")), "SecretNotFound");
    assert_string_equal(json_string(json_get(err, "message")),
                        "Secret 'abc' <&> \"x\" was not found.");
}

static void test_fail_oauth(void **state)
{
    struct fixture *f = *state;
    struct http_request *req = run(f, &oauth_mod, HTTP_GET, "/fail/abc");
    assert_int_equal(req->status, 404);
    assert_string_equal(resp_header(f, "Content-Type"), "application/json; charset=utf-8");
    assert_null(resp_header(f, "x-ms-failure-cause"));
    const struct json *body = body_json(f);
    assert_string_equal(json_string(json_get(body, "error")), "SecretNotFound");
    assert_string_equal(json_string(json_get(body, "error_description")),
                        "Secret 'abc' <&> \"x\" was not found.");
    assert_string_equal(json_string(json_get(body, "trace_id")), req->request_id);
    /* Without a client-request-id the correlation id falls back to the request id. */
    assert_string_equal(json_string(json_get(body, "correlation_id")), req->request_id);
    const char *ts = json_string(json_get(body, "timestamp"));
    assert_non_null(ts);
    assert_int_equal(strlen(ts), strlen("2026-11-26T16:37:26.123Z"));
    assert_int_equal(ts[strlen(ts) - 1], 'Z');
}

static void test_fail_oauth_correlation_id(void **state)
{
    struct fixture *f = *state;
    init(f, &oauth_mod, HTTP_GET, "/fail/abc");
    http_headers_add(f->arena, &f->req.headers, "Client-Request-Id", "corr-123");
    assert_string_equal(http_header(&f->req, "client-request-id"), "corr-123");
    http_dispatch(&f->req);
    assert_string_equal(json_string(json_get(body_json(f), "correlation_id")), "corr-123");
}

static void test_fail_storage(void **state)
{
    struct fixture *f = *state;
    struct http_request *req = run(f, &storage_mod, HTTP_GET, "/fail/a%26b");
    assert_int_equal(req->status, 404);
    assert_string_equal(resp_header(f, "x-ms-error-code"), "SecretNotFound");
    assert_string_equal(resp_header(f, "Content-Type"), "application/xml");
    const char *xml = req->resp_body.data;
    assert_int_equal(strlen(xml), req->resp_body.len);
    /* Storage sends a UTF-8 byte order mark before the declaration. */
    assert_memory_equal(xml, "\xef\xbb\xbf<?xml ", 9);
    assert_non_null(strstr(xml, "<Error><Code>SecretNotFound</Code><Message>"));
    assert_non_null(strstr(xml, "Secret &apos;a&amp;b&apos; &lt;&amp;&gt; &quot;x&quot; was "
                                "not found.\nRequestId:"));
    assert_non_null(strstr(xml, req->request_id));
    assert_non_null(strstr(xml, "</Message></Error>"));
    /* No raw markup from the message leaked through. */
    assert_null(strstr(xml, "<&>"));
    assert_null(strstr(xml, "'a"));
}

static void test_storage_escapes_code(void **state)
{
    struct fixture *f = *state;
    init(f, &storage_mod, HTTP_GET, "/x");
    assert_int_equal(http_fail(&f->req, 400, "Bad<Code>&", "%s", "m"), AZ_EREPLIED);
    assert_non_null(strstr(f->req.resp_body.data, "<Code>Bad&lt;Code&gt;&amp;</Code>"));
    assert_string_equal(resp_header(f, "x-ms-error-code"), "Bad<Code>&");
}

static void test_no_reply_is_500(void **state)
{
    struct fixture *f = *state;
    struct http_request *req = run(f, &json_mod, HTTP_GET, "/noreply");
    assert_int_equal(handler_calls, 1);
    assert_int_equal(req->status, 500);
    assert_string_equal(req->error_code, "InternalServerError");
    assert_string_equal(json_string(json_get(json_get(body_json(f), "error"), "code")),
                        "InternalServerError");
}

static void test_second_reply_ignored(void **state)
{
    struct fixture *f = *state;
    struct http_request *req = run(f, &json_mod, HTTP_GET, "/twice");
    assert_int_equal(req->status, 200);
    assert_int_equal(req->resp_body.len, 5);
    assert_string_equal(req->resp_body.data, "first");
    assert_string_equal(resp_header(f, "Content-Type"), "text/plain");
}

static void test_fail_after_reply_ignored(void **state)
{
    struct fixture *f = *state;
    struct http_request *req = run(f, &storage_mod, HTTP_GET, "/late");
    assert_int_equal(req->status, 202);
    assert_string_equal(req->resp_body.data, "accepted");
    assert_null(req->error_code);
    assert_null(resp_header(f, "x-ms-error-code"));
}

static void test_not_found(void **state)
{
    struct fixture *f = *state;
    struct http_request *req = run(f, &json_mod, HTTP_GET, "/nowhere");
    assert_int_equal(handler_calls, 0);
    assert_int_equal(req->status, 404);
    assert_string_equal(req->error_code, "NotFound");
    assert_null(resp_header(f, "Allow"));
}

static void test_method_not_allowed(void **state)
{
    struct fixture *f = *state;
    struct http_request *req = run(f, &json_mod, HTTP_POST, "/noreply");
    assert_int_equal(handler_calls, 0);
    assert_int_equal(req->status, 405);
    assert_string_equal(req->error_code, "MethodNotAllowed");
    assert_string_equal(resp_header(f, "Allow"), "GET, HEAD");
    const char *msg = json_string(json_get(json_get(body_json(f), "error"), "message"));
    assert_non_null(msg);
    assert_non_null(strstr(msg, "'POST'"));
}

static void test_method_not_allowed_lists_all(void **state)
{
    struct fixture *f = *state;
    struct http_request *req = run(f, &oauth_mod, HTTP_DELETE, "/secrets/s");
    assert_int_equal(req->status, 405);
    assert_string_equal(resp_header(f, "Allow"), "GET, HEAD, PUT");
}

static void test_bad_path_is_400(void **state)
{
    struct fixture *f = *state;
    struct http_request *req = run(f, &json_mod, HTTP_GET, "/secrets/%ff");
    assert_int_equal(handler_calls, 0);
    assert_int_equal(req->status, 400);
    assert_string_equal(req->error_code, "InvalidUri");
}

/* ---- routes every module has ---------------------------------------------------------------- */

static void test_health(void **state)
{
    struct fixture *f = *state;
    init(f, &oauth_mod, HTTP_GET, "/health");
    f->req.server = &(struct server_context){.version = "t"};
    http_dispatch(&f->req);
    assert_int_equal(f->req.status, 200);
    assert_string_equal(resp_header(f, "Cache-Control"), "no-store");
    const struct json *body = body_json(f);
    assert_string_equal(json_string(json_get(body, "status")), "Healthy");
    assert_string_equal(json_string(json_get(body, "module")), "oauthmod");
    assert_string_equal(json_string(json_get(body, "version")), "t");
}

static void test_health_wrong_method(void **state)
{
    struct fixture *f = *state;
    struct http_request *req = run(f, &storage_mod, HTTP_POST, "/health");
    assert_int_equal(req->status, 405);
    assert_string_equal(resp_header(f, "Allow"), "GET, HEAD");
    assert_string_equal(resp_header(f, "x-ms-error-code"), "MethodNotAllowed");
}

static void test_ca_pem_absent(void **state)
{
    struct fixture *f = *state;
    init(f, &json_mod, HTTP_GET, "/azsim/ca.pem");
    f->req.server = &(struct server_context){.version = "t", .ca_pem = NULL};
    http_dispatch(&f->req);
    assert_int_equal(f->req.status, 404);
    assert_string_equal(f->req.error_code, "NotFound");
}

static void test_ca_pem_absent_without_server(void **state)
{
    struct fixture *f = *state;
    struct http_request *req = run(f, &json_mod, HTTP_GET, "/azsim/ca.pem");
    assert_int_equal(req->status, 404);
}

static void test_ca_pem_present(void **state)
{
    struct fixture *f = *state;
    static const char pem[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    init(f, &json_mod, HTTP_GET, "/azsim/ca.pem");
    f->req.server = &(struct server_context){.version = "t", .ca_pem = pem};
    http_dispatch(&f->req);
    assert_int_equal(f->req.status, 200);
    assert_string_equal(resp_header(f, "Content-Type"), "application/x-pem-file");
    assert_int_equal(f->req.resp_body.len, strlen(pem));
    assert_string_equal(f->req.resp_body.data, pem);
}

/* ---- headers -------------------------------------------------------------------------------- */

static void test_set_header_replaces(void **state)
{
    struct fixture *f = *state;
    init(f, &json_mod, HTTP_GET, "/x");
    http_set_header(&f->req, "ETag", "\"1\"");
    http_set_header(&f->req, "x-ms-version", "2021-08-06");
    http_set_header(&f->req, "etag", "\"2\"");
    assert_int_equal(f->req.resp_headers.len, 2);
    assert_string_equal(resp_header(f, "ETAG"), "\"2\"");
    assert_string_equal(resp_header(f, "X-MS-Version"), "2021-08-06");

    /* The value is copied: the caller's buffer may change afterwards. */
    char value[] = "abc";
    http_set_header(&f->req, "X-Copy", value);
    value[0] = 'Z';
    assert_string_equal(resp_header(f, "x-copy"), "abc");
}

static void test_headers_get(void **state)
{
    struct fixture *f = *state;
    struct http_headers h = {0};
    assert_null(http_headers_get(&h, "anything"));

    /* More than the first allocation holds, to cover growth. */
    char name[32];
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "X-Header-%d", i);
        http_headers_add(f->arena, &h, arena_strdup(f->arena, name),
                         arena_printf(f->arena, "v%d", i));
    }
    http_headers_add(f->arena, &h, "x-header-0", "duplicate");
    assert_int_equal(h.len, 41);
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "x-HEADER-%d", i);
        char want[16];
        snprintf(want, sizeof(want), "v%d", i);
        assert_string_equal(http_headers_get(&h, name), want);
    }
    /* The first value of a repeated header wins. */
    assert_string_equal(http_headers_get(&h, "X-Header-0"), "v0");
    assert_null(http_headers_get(&h, "X-Header"));
    assert_null(http_headers_get(&h, "X-Header-400"));
}

static void test_http_reason(void **state)
{
    assert_string_equal(http_reason(200), "OK");
    assert_string_equal(http_reason(404), "Not Found");
    assert_string_equal(http_reason(405), "Method Not Allowed");
    assert_string_equal(http_reason(412), "Precondition Failed");
    assert_string_equal(http_reason(599), "Unknown");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    /* The tests provoke error paths on purpose; their log lines would only be noise. */
    log_configure(LOG_LEVEL_OFF, LOG_FORMAT_TEXT);
    const struct CMUnitTest tests[] = {
        T(test_query_decoding),
        T(test_query_empty_pieces),
        T(test_query_repeated_key_first_wins),
        T(test_no_query),
        T(test_absolute_form_target),
        T(test_absolute_form_without_path),
        T(test_scheme_in_query_is_not_absolute_form),
        T(test_request_defaults),
        T(test_malformed_query),
        T(test_malformed_query_variants),
        T(test_params_reach_handler),
        T(test_head_uses_get_handler),
        T(test_fail_json),
        T(test_fail_oauth),
        T(test_fail_oauth_correlation_id),
        T(test_fail_storage),
        T(test_storage_escapes_code),
        T(test_no_reply_is_500),
        T(test_second_reply_ignored),
        T(test_fail_after_reply_ignored),
        T(test_not_found),
        T(test_method_not_allowed),
        T(test_method_not_allowed_lists_all),
        T(test_bad_path_is_400),
        T(test_health),
        T(test_health_wrong_method),
        T(test_ca_pem_absent),
        T(test_ca_pem_absent_without_server),
        T(test_ca_pem_present),
        T(test_set_header_replaces),
        T(test_headers_get),
        T(test_body_pieces),
        cmocka_unit_test(test_http_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
