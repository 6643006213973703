/*
 * http.h — the request and response as handlers see them, and the dispatcher.
 *
 * Handlers never touch libevent: the HTTP server (http_server.c) turns each evhttp request into a
 * `struct http_request`, calls http_dispatch(), and writes out whatever response the request
 * holds afterwards. Unit tests build requests with http_request_init() and dispatch them the same
 * way, without sockets.
 *
 * Contract: a handler either replies once through http_reply*() and returns 0, or returns
 * http_fail(...) without replying; the dispatcher renders the failure in the module's format.
 * Everything reachable from the request (strings, params, response headers) lives in its arena,
 * freed after the response is written.
 */
#ifndef AZSIM_HTTP_H
#define AZSIM_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem.h"
#include "module.h"
#include "router.h"

struct store;
struct json_writer;
struct token_verifier;
struct token_principal;
struct server_context;
struct frontdoor_origin;

struct http_header {
    const char *name;
    const char *value;
};

struct http_headers {
    struct http_header *items;
    size_t len, cap;
};

/* Part of a request body, in the server's buffers. */
struct http_body_piece {
    const char *data;
    size_t len;
};

/* Bodies of this size or more reach the handlers of a module with `body_pieces` in pieces. */
#define HTTP_BODY_PIECES_MIN (1024 * 1024)

struct http_request {
    struct arena *arena;
    const struct module *module;
    struct store *store;                 /* this module thread's store connection */
    struct token_verifier *verifier;     /* this thread's token verifier (common/auth.h) */
    void *module_state;                  /* this thread's module state (module.h) */
    const struct server_context *server; /* process-wide facts (version, CA) */

    /* What arrived. */
    enum http_method method;
    const char *target;          /* the request target as sent */
    const char *path;            /* raw path, still percent-encoded */
    const char *raw_query;       /* after '?', or "" */
    struct http_headers query;   /* decoded query parameters, in order */
    bool malformed_query;        /* the query did not decode: dispatch answers 400 */
    struct http_headers headers; /* request headers, in order */
    const char *host;            /* Host header (or absolute-form host), or "" */
    const char *body; /* NUL-terminated for convenience; may contain NULs; NULL while in pieces */
    size_t body_len;
    /* A large body of a module that takes bodies in pieces (module.h), in order; valid as long
     * as the request. */
    const struct http_body_piece *body_pieces;
    size_t body_npieces;
    const char *peer; /* "address:port" of the client */
    bool tls;
    const struct frontdoor_origin *front_door; /* set when the request came through the proxy */
    struct route_match match;
    const char *request_id; /* x-ms-request-id we answer with */
    int64_t started_us;     /* clock_mono_us() at arrival */

    /* What goes back. */
    int status;
    struct http_headers resp_headers;
    struct buf resp_body;
    bool replied;
    const char *error_code;               /* set by a failure, for the access log */
    const char *principal;                /* set by authentication, for the access log */
    const struct token_principal *caller; /* who authenticated (common/auth.h), or NULL */
    const char *rbac_verdict;             /* set by the RBAC check, for the access log */
    const void *context; /* what the module's authentication found for its handlers (the vault
                            a Key Vault request names) */

    /* A reply streamed from a file (http_reply_file): its body is `resp_file_length` bytes of
     * `resp_file_fd` from `resp_file_offset`, which the server reads piece by piece. */
    bool resp_file;
    int resp_file_fd;
    int64_t resp_file_offset, resp_file_length;

    /* Deferred replies (http_defer): set by the server. */
    struct event_base *loop; /* the thread's event loop, for work the reply waits on */
    bool deferred;
    void (*on_resume)(struct http_request *req);
    void *transport;
};

/*
 * Start a request: `target` is the request target ("/a/b?x=1" or "http://host/a?x=1"). Splits
 * path and query and decodes the query into req->query. Returns 0, or AZ_EINVAL when the query
 * is malformed (bad percent-encoding or not UTF-8) — the request is still usable for replying.
 */
int http_request_init(struct http_request *req, struct arena *a, const struct module *m,
                      enum http_method method, const char *target);
/* Release what the request owns besides its arena (the response buffer). */
void http_request_release(struct http_request *req);

void http_headers_add(struct arena *a, struct http_headers *h, const char *name, const char *value);
/*
 * Decode "a=1&b=%2F&c" (a query string or an application/x-www-form-urlencoded body) into `out`,
 * in order; '+' is a space and empty pieces ("&&") are skipped. Returns AZ_EINVAL for a bad
 * percent-encoding or text that is not UTF-8.
 */
int http_form_decode(struct arena *a, const char *text, size_t len, struct http_headers *out);
/* First value of `name` (case-insensitive), or NULL. */
const char *http_headers_get(const struct http_headers *h, const char *name);

/* The body in one piece: `body`, or the pieces copied into the arena the first time. */
const char *http_body(struct http_request *req);

const char *http_header(const struct http_request *req, const char *name);
const char *http_query(const struct http_request *req, const char *name);
const char *http_param(const struct http_request *req, const char *name);

/* Set (replace) a response header. */
void http_set_header(struct http_request *req, const char *name, const char *value);

/* Reply with a body (copied). Returns 0. Replying twice is a programming error. */
int http_reply(struct http_request *req, int status, const char *content_type, const void *body,
               size_t len);
/* Reply with `length` bytes of the open file `fd` from `offset`, sent by the kernel from the
 * file over plain http (sendfile), a piece at a time as the client takes them over TLS, so memory
 * stays flat whatever the size (blob downloads). The server owns and closes `fd` from here on.
 * Returns 0. */
int http_reply_file(struct http_request *req, int status, const char *content_type, int fd,
                    int64_t offset, int64_t length);
/* Reply with the writer's JSON document as application/json; charset=utf-8. Returns 0. */
int http_reply_json(struct http_request *req, int status, struct json_writer *w);

/*
 * Record a failure for the dispatcher to render in the module's error format, and return
 * AZ_EREPLIED for the handler to return: `return http_fail(req, 404, "ResourceNotFound", ...)`.
 */
int http_fail(struct http_request *req, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Route, run the handler and make sure exactly one response results: a handler that neither
 * replied, failed nor deferred gets a 500 and a log line.
 */
void http_dispatch(struct http_request *req);

/*
 * A handler that must wait for something (IMDS asking AAD for a token) calls http_defer() and
 * returns 0. Later, on the same thread, it replies or fails and calls http_resume(), which sends
 * the answer. Until then the request and its arena stay alive; a client that leaves meanwhile
 * costs nothing but the wait.
 */
void http_defer(struct http_request *req);
void http_resume(struct http_request *req);

/*
 * Call fn(arg) once on the request's thread, after the other requests its event loop has in hand
 * in this turn: how deferred requests of one turn are answered together (a group commit of
 * blob writes). Returns 0, or AZ_EIO when the request has no event loop (unit tests, seeding)
 * or fn cannot be scheduled. The server implements it (server.c).
 */
int http_after_turn(struct http_request *req, void (*fn)(void *arg), void *arg);

/* Error renderers for the wire formats Azure services use. */
void http_render_json_error(struct http_request *req, int status, const char *code,
                            const char *message); /* ARM, Key Vault: {"error":{code,message}} */
void http_render_oauth_error(struct http_request *req, int status, const char *code,
                             const char *message); /* AAD, IMDS: {"error","error_description"},
                                                      plus error_codes for "AADSTS<n>: …" */
void http_render_storage_error(struct http_request *req, int status, const char *code,
                               const char *message); /* Storage: XML <Error> + x-ms-error-code */

/* Reason phrase for a status code ("Not Found"). */
const char *http_reason(int status);

#endif
