/*
 * fuzz_http.c — libFuzzer harness for the front door's header-block parsing (common/frontdoor.c)
 * and the dispatcher's request model (common/http.c, common/router.c), over the real route
 * tables of every module.
 *
 * The input is what a client sends: a request line, header lines, a blank line and a body, e.g.
 *     GET http://169.254.169.254/metadata/identity/oauth2/token?resource=x HTTP/1.1\r\n
 *     Proxy-Authorization: Basic dm0tc2VjcmV0OnMzY3JldA==\r\n\r\n
 * It goes through the steps handle_head() takes (request line, Proxy-Authorization, the CONNECT
 * or absolute-form authority, the module for the host), then, as a module sees it, through
 * http_request_init() (target, query decoding), the headers, router_match() against each
 * module's table and http_form_decode() of the body (AAD's token requests are forms).
 * Handlers are not run: they need a store; the other harnesses drive the ones that parse.
 *
 * Reproduce a crash: build/fuzz/fuzz_http FILE (see tests/fuzz/README.md).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/frontdoor.h"
#include "common/http.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/module.h"
#include "common/router.h"
#include "common/util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_configure(LOG_LEVEL_OFF, LOG_FORMAT_TEXT);
    return 0;
}

static enum http_method method_of(const char *name)
{
    static const enum http_method all[] = {HTTP_GET,   HTTP_HEAD,   HTTP_POST,   HTTP_PUT,
                                           HTTP_PATCH, HTTP_DELETE, HTTP_OPTIONS};
    for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
        if (strcmp(name, http_method_name(all[i])) == 0)
            return all[i];
    }
    return HTTP_GET;
}

/* What handle_head() does with the block before it touches the connection. */
static void front_door(char *head)
{
    char *sp1 = strchr(head, ' ');
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    char *eol = strstr(head, "\r\n");
    if (!sp1 || !sp2 || !eol || sp2 > eol || strncmp(sp2 + 1, "HTTP/1.", 7) != 0)
        return;
    char *copy = xstrdup(head);
    sp1 = copy + (sp1 - head);
    sp2 = copy + (sp2 - head);
    eol = copy + (eol - head);
    *sp1 = '\0';
    *sp2 = '\0';
    const char *method = copy, *target = sp1 + 1;
    char *auth = frontdoor_find_header(eol, "Proxy-Authorization");
    char *user, *password;
    frontdoor_parse_proxy_auth(auth, &user, &password);
    if ((user == NULL) != (password == NULL))
        abort();
    free(auth);
    char host[256];
    long port = 0;
    if (strcmp(method, "CONNECT") == 0) {
        if (frontdoor_split_authority(target, strlen(target), host, sizeof(host), &port)) {
            if (strlen(host) >= sizeof(host) || port <= 0 || port >= 65536)
                abort();
            frontdoor_module_for_host(host);
        }
    } else if (str_has_iprefix(target, "http://")) {
        const char *auth_start = target + 7;
        size_t alen = strcspn(auth_start, "/?#");
        bool ok = true;
        if (memchr(auth_start, ':', alen) || (alen && auth_start[0] == '[')) {
            ok = frontdoor_split_authority(auth_start, alen, host, sizeof(host), &port) &&
                 port == 80;
        } else if (alen > 0 && alen < sizeof(host)) {
            memcpy(host, auth_start, alen);
            host[alen] = '\0';
        } else {
            ok = false;
        }
        if (ok)
            frontdoor_module_for_host(host);
    }
    free(user);
    free(password);
    free(copy);
}

/* The request line's target and the headers, as the module's HTTP server hands them over. */
static void request_model(const struct module *m, const char *head, const char *body,
                          size_t body_len)
{
    const char *sp1 = strchr(head, ' ');
    if (!sp1)
        return;
    const char *sp2 = strchr(sp1 + 1, ' ');
    size_t tlen = sp2 ? (size_t)(sp2 - sp1 - 1) : strcspn(sp1 + 1, "\r\n");
    struct arena *a = arena_new();
    char *method = arena_strndup(a, head, (size_t)(sp1 - head));
    char *target = arena_strndup(a, sp1 + 1, tlen);
    struct http_request req;
    int rc = http_request_init(&req, a, m, method_of(method), target);
    if ((rc != 0) != req.malformed_query || !req.path || !req.raw_query || !req.host)
        abort();
    /* Every decoded parameter is valid UTF-8 and can be found again by name. */
    for (size_t i = 0; i < req.query.len; i++) {
        const struct http_header *q = &req.query.items[i];
        if (!utf8_valid(q->name, strlen(q->name)) || !utf8_valid(q->value, strlen(q->value)) ||
            !http_query(&req, q->name))
            abort();
    }
    for (const char *line = strstr(head, "\r\n"); line && line[2];
         line = strstr(line + 2, "\r\n")) {
        const char *l = line + 2;
        const char *colon = strchr(l, ':');
        const char *end = strstr(l, "\r\n");
        if (!colon || (end && colon > end))
            continue;
        const char *v = colon + 1 + strspn(colon + 1, " \t");
        http_headers_add(a, &req.headers, arena_strndup(a, l, (size_t)(colon - l)),
                         arena_strndup(a, v, end ? (size_t)(end - v) : strlen(v)));
    }
    http_header(&req, "Host");

    unsigned allowed = 0;
    enum router_result r =
        router_match(m->routes, m->nroutes, req.method, req.path, a, &req.match, &allowed);
    if (r == ROUTER_FOUND) {
        const struct route_match *match = &req.match;
        if (!match->route || match->nparams > ROUTER_MAX_PARAMS)
            abort();
        for (size_t i = 0; i < match->nparams; i++) {
            const char *v = match->params[i].value;
            if (!v || !utf8_valid(v, strlen(v)))
                abort();
            char *name = arena_strndup(a, match->params[i].name, match->params[i].name_len);
            if (!route_match_param(match, name))
                abort();
        }
    } else if (r == ROUTER_BAD_METHOD && allowed == 0) {
        abort(); /* a 405 must say what is allowed */
    }

    struct http_headers form = {0};
    http_form_decode(a, body, body_len, &form);
    http_request_release(&req);
    arena_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    /* The front door refuses a header block with a NUL; evhttp hands over C strings. */
    char *text = xmalloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    char *end = strstr(text, "\r\n\r\n");
    const char *body = "";
    size_t body_len = 0;
    size_t head_len = strlen(text);
    if (end) {
        body = end + 4;
        body_len = size - (size_t)(body - text);
        head_len = (size_t)(end - text) + 4;
    }
    char *head = xstrndup(text, head_len);

    front_door(head);
    for (size_t i = 0; i < MODULE_COUNT; i++)
        request_model(modules[i], head, body, body_len);

    free(head);
    free(text);
    return 0;
}
