/*
 * server.c — see server.h. The only file that includes evhttp: it turns each evhttp request into
 * a `struct http_request`, dispatches it (http.c), and writes the response back.
 *
 * libevent 2.1 notes this code depends on: evhttp_set_cb matches exact paths only, so everything
 * goes through one generic callback; PATCH must be allowed explicitly; a TLS listener gets its
 * bufferevents from evhttp_set_bevcb with fd -1 (evhttp sets the fd after accepting); Nagle's
 * algorithm against delayed ACKs collapses keep-alive HTTPS throughput, so listeners set
 * TCP_NODELAY, which accepted sockets inherit on Linux. A request arrives with its whole body
 * read (2.1 has no callback for a body as it comes), so large bodies are handed on in
 * libevent's own pieces rather than copied; a file segment is sent with sendfile only from an
 * evbuffer flagged EVBUFFER_FLAG_DRAINS_TO_FD, and is read into memory otherwise.
 */
#include "server.h"

#include "auth.h"
#include "error.h"
#include "frontdoor.h"
#include "http.h"
#include "log.h"
#include "mem.h"
#include "tls.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <event2/util.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Header blocks larger than this are refused; Azure's front ends allow about this much. */
#define MAX_HEADERS_SIZE (64 * 1024)
#define DRAIN_TICK_MS 20
#define ACCEPT_PAUSE_MS 100 /* out of descriptors: how long accepting rests before a retry */
#define SERVER_MAX_THREADS 8
#define TRIM_INTERVAL_MS 250

struct listener {
    const struct module *module;
    struct server *server;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    struct event *stop_ev;  /* activated from the main thread to begin stopping */
    struct event *drain_ev; /* polls until in-flight replies are written */
    struct store *store;
    struct token_verifier *verifier;
    void *module_state;
    pthread_t thread;
    bool thread_started;
    char url[96];
    struct sockaddr_storage connect_addr; /* where the front door reaches this listener */
    socklen_t connect_addrlen;
    int in_flight; /* replies handed to evhttp and not yet written */
    bool stopping;
    int64_t drain_deadline;
    struct listener *sibling; /* the next thread serving the same socket, or NULL */
    struct accept_guard *accept_guard;
};

struct server {
    const struct azsim_config *cfg;
    const struct server_context *ctx;
    struct tls *tls;
    struct listener *listeners[MODULE_COUNT];
};

/* ---- request conversion ----------------------------------------------------------------------*/

static enum http_method method_of(enum evhttp_cmd_type cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET: return HTTP_GET;
    case EVHTTP_REQ_HEAD: return HTTP_HEAD;
    case EVHTTP_REQ_POST: return HTTP_POST;
    case EVHTTP_REQ_PUT: return HTTP_PUT;
    case EVHTTP_REQ_PATCH: return HTTP_PATCH;
    case EVHTTP_REQ_DELETE: return HTTP_DELETE;
    default: return HTTP_OPTIONS;
    }
}

static void read_request(struct listener *l, struct http_request *req, struct evhttp_request *evreq)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(evreq);
    for (struct evkeyval *kv = in->tqh_first; kv; kv = kv->next.tqe_next) {
        /* Proxy headers are addressed to the front door; what it learnt from them arrives in
         * req->front_door, through a channel clients cannot write to. */
        if (str_has_iprefix(kv->key, "Proxy-"))
            continue;
        http_headers_add(req->arena, &req->headers, arena_strdup(req->arena, kv->key),
                         arena_strdup(req->arena, kv->value));
    }
    if (!*req->host) {
        const char *host = http_header(req, "Host");
        req->host = host ? host : "";
    }

    struct evbuffer *body = evhttp_request_get_input_buffer(evreq);
    size_t n = evbuffer_get_length(body);
    if (n >= HTTP_BODY_PIECES_MIN && l->module->body_pieces) {
        /* Left where libevent received it, for the handler to pass on (a blob upload to its
         * file): a copy would hold the body twice, and glibc keeps what a thread frees. */
        int count = evbuffer_peek(body, -1, NULL, NULL, 0);
        struct evbuffer_iovec *vec = arena_alloc(req->arena, (size_t)count * sizeof(*vec));
        struct http_body_piece *pieces = arena_alloc(req->arena, (size_t)count * sizeof(*pieces));
        evbuffer_peek(body, -1, NULL, vec, count);
        for (int i = 0; i < count; i++)
            pieces[i] = (struct http_body_piece){vec[i].iov_base, vec[i].iov_len};
        req->body = NULL;
        req->body_len = n;
        req->body_pieces = pieces;
        req->body_npieces = (size_t)count;
    } else if (n > 0) {
        char *copy = arena_alloc(req->arena, n + 1);
        evbuffer_remove(body, copy, n);
        req->body = copy;
        req->body_len = n;
    }

    char *addr = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(evhttp_request_get_connection(evreq), &addr, &port);
    if (addr)
        req->peer = arena_printf(req->arena, strchr(addr, ':') ? "[%s]:%u" : "%s:%u", addr, port);

    struct frontdoor_origin *origin = arena_alloc(req->arena, sizeof(*origin));
    if (frontdoor_origin_lookup(l->module, req->peer, req->arena, origin))
        req->front_door = origin;
}

static void on_reply_written(struct evhttp_request *evreq, void *arg)
{
    (void)evreq;
    struct listener *l = arg;
    l->in_flight--;
}

static bool wants_close(const struct http_request *req)
{
    const char *connection = http_header(req, "Connection");
    return connection && str_ieq(connection, "close");
}

/* ---- replies streamed from a file ---------------------------------------------------------- */

#define FILE_CHUNK (256 * 1024)

/* A file being sent: over plain http in one sendfile segment, over TLS a piece at a time, the
 * next read when the last one has left. */
struct file_reply {
    struct listener *l;
    struct evhttp_request *evreq;
    struct evhttp_connection *conn;
    int fd;
    int64_t offset, left;
};

static void file_reply_end(struct file_reply *f, bool sent)
{
    /* First: ending the reply may close the connection, which must not call us back. */
    evhttp_connection_set_closecb(f->conn, NULL, NULL);
    if (sent)
        evhttp_send_reply_end(f->evreq);
    close(f->fd);
    f->l->in_flight--;
    free(f);
}

static void send_next_piece(struct evhttp_connection *conn, void *arg);

/* The connection goes mid-file. When the client left, libevent has detached the unfinished
 * request from it and leaves it to us: ending the reply frees it. When the server is stopping,
 * the connection still holds the request and frees it itself. */
static void file_reply_abandoned(struct evhttp_connection *conn, void *arg)
{
    (void)conn;
    struct file_reply *f = arg;
    struct evhttp_request *evreq = f->evreq;
    bool detached = evhttp_request_get_connection(evreq) == NULL;
    file_reply_end(f, false);
    if (detached)
        evhttp_send_reply_end(evreq);
}

/* Plain http: the rest of the file goes as one segment that the kernel copies to the socket
 * itself (sendfile), never through memory. The segment holds a descriptor of its own, closed
 * when libevent is done with it, even if the client leaves first. false: send it in pieces. */
static bool send_rest_by_sendfile(struct file_reply *f)
{
    int fd = dup(f->fd);
    struct evbuffer_file_segment *seg =
        fd >= 0 ? evbuffer_file_segment_new(fd, f->offset, f->left, EVBUF_FS_CLOSE_ON_FREE) : NULL;
    if (!seg) {
        if (fd >= 0)
            close(fd);
        return false;
    }
    struct evbuffer *buf = evbuffer_new();
    /* Bound for a socket: libevent keeps the segment a sendfile instead of reading it in. */
    evbuffer_set_flags(buf, EVBUFFER_FLAG_DRAINS_TO_FD);
    int rc = evbuffer_add_file_segment(buf, seg, 0, f->left);
    evbuffer_file_segment_free(seg); /* the buffer holds its own reference */
    if (rc == 0) {
        f->offset += f->left;
        f->left = 0;
        evhttp_send_reply_chunk_with_cb(f->evreq, buf, send_next_piece, f);
    }
    evbuffer_free(buf);
    return rc == 0;
}

static void send_next_piece(struct evhttp_connection *conn, void *arg)
{
    (void)conn;
    struct file_reply *f = arg;
    if (f->left == 0) {
        file_reply_end(f, true);
        return;
    }
    if (!f->l->module->tls && send_rest_by_sendfile(f))
        return;
    size_t n = f->left < FILE_CHUNK ? (size_t)f->left : FILE_CHUNK;
    char *piece = xmalloc(n);
    ssize_t got = pread(f->fd, piece, n, f->offset);
    if (got <= 0) {
        /* The file shrank or failed under us: the length was promised, so the connection
         * goes (the client sees a short body, not a wrong one). */
        free(piece);
        LOG_ERROR(f->l->module->name, "reading a file reply failed; closing the connection");
        struct evhttp_connection *c = f->conn;
        file_reply_end(f, false);
        evhttp_connection_free(c);
        return;
    }
    struct evbuffer *buf = evbuffer_new();
    evbuffer_add(buf, piece, (size_t)got);
    free(piece);
    f->offset += got;
    f->left -= got;
    evhttp_send_reply_chunk_with_cb(f->evreq, buf, send_next_piece, f);
    evbuffer_free(buf);
}

/* Start sending the request's file: its length stated, so the pieces go unframed. */
static void send_file_reply(struct listener *l, struct evhttp_request *evreq,
                            struct http_request *req)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(evreq);
    if (!conn) { /* the client left while a deferred reply waited */
        close(req->resp_file_fd);
        evhttp_send_reply(evreq, req->status, http_reason(req->status), NULL);
        return;
    }
    char len[24];
    snprintf(len, sizeof(len), "%lld", (long long)req->resp_file_length);
    evhttp_remove_header(evhttp_request_get_output_headers(evreq), "Content-Length");
    evhttp_add_header(evhttp_request_get_output_headers(evreq), "Content-Length", len);
    struct file_reply *f = xcalloc(1, sizeof(*f));
    f->l = l;
    f->evreq = evreq;
    f->conn = conn;
    f->fd = req->resp_file_fd;
    f->offset = req->resp_file_offset;
    f->left = req->resp_file_length;
    l->in_flight++;
    evhttp_connection_set_closecb(conn, file_reply_abandoned, f);
    evhttp_send_reply_start(evreq, req->status, http_reason(req->status));
    send_next_piece(conn, f);
}

static void write_response(struct listener *l, struct evhttp_request *evreq,
                           struct http_request *req)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(evreq);
    for (size_t i = 0; i < req->resp_headers.len; i++) {
        if (evhttp_add_header(out, req->resp_headers.items[i].name,
                              req->resp_headers.items[i].value) != 0)
            LOG_WARN(l->module->name, "dropped malformed response header %s",
                     req->resp_headers.items[i].name);
    }
    evhttp_add_header(out, "x-ms-request-id", req->request_id);
    const char *client_id = http_header(req, "x-ms-client-request-id");
    if (client_id)
        evhttp_add_header(out, "x-ms-client-request-id", client_id);
    if (l->stopping) {
        evhttp_add_header(out, "Connection", "close");
    } else if (req->target[0] != '/' && !wants_close(req)) {
        /* libevent 2.1 keeps an absolute-form (proxied) request's connection open only when both
         * the request and the response say Proxy-Connection: keep-alive, a header today's
         * clients no longer send. Without this, IMDS through the front door would drop the
         * connection after every response without saying so. */
        evhttp_add_header(evhttp_request_get_input_headers(evreq), "Proxy-Connection",
                          "keep-alive");
        evhttp_add_header(out, "Proxy-Connection", "keep-alive");
    }

    if (req->resp_file && req->method != HTTP_HEAD) {
        send_file_reply(l, evreq, req);
        return;
    }
    if (req->resp_file)
        close(req->resp_file_fd);
    struct evbuffer *body = evbuffer_new();
    if (req->method == HTTP_HEAD) {
        /* HEAD answers with GET's headers and no body; libevent would write a body it is given
         * and would not state the length itself. A handler that knows the length without the
         * body (a blob's) states it. */
        char len[24];
        snprintf(len, sizeof(len), "%zu", req->resp_body.len);
        if (!evhttp_find_header(out, "Content-Length"))
            evhttp_add_header(out, "Content-Length", len);
    } else {
        evbuffer_add(body, req->resp_body.data ? req->resp_body.data : "", req->resp_body.len);
    }
    if (evhttp_request_get_connection(evreq)) {
        l->in_flight++;
        evhttp_request_set_on_complete_cb(evreq, on_reply_written, l);
    } /* else the client left while a deferred reply waited: sending frees the request */
    evhttp_send_reply(evreq, req->status, http_reason(req->status), body);
    evbuffer_free(body);
}

/* One request, from its arrival to its reply. */
struct exchange {
    struct listener *l;
    struct evhttp_request *evreq;
    struct arena *arena;
    bool dispatching; /* inside http_dispatch: a resume must wait until it returns */
    bool done;        /* replied, or failed: ready to be written */
    struct http_request req;
};

/* The path as the access log shows it: IMDS's per-VM secret (/vms/{vmSecret}/…) is a credential
 * (it decides which VM's identities a caller gets), so it is never logged. */
static const char *logged_path(struct http_request *req)
{
    const char *secret = req->match.route ? http_param(req, "vmSecret") : NULL;
    const char *at = secret && *secret ? strstr(req->path, secret) : NULL;
    if (!at)
        return req->path;
    return arena_printf(req->arena, "%.*s***%s", (int)(at - req->path), req->path,
                        at + strlen(secret));
}

/* Hand the memory threads freed back to the system, at most every TRIM_INTERVAL_MS (each time
 * costs the next uploads fresh pages). glibc keeps what a thread frees for that thread, so every
 * thread would otherwise hold on to its largest uploads for good. */
static void give_memory_back(void)
{
    static _Atomic int64_t last_ms;
    int64_t now = clock_mono_ms();
    if (now - last_ms < TRIM_INTERVAL_MS)
        return;
    last_ms = now;
    malloc_trim(0);
}

static void finish(struct exchange *x)
{
    struct listener *l = x->l;
    struct http_request *req = &x->req;
    /* A body left in pieces is large, and done with: its memory goes (give_memory_back). */
    bool give_back = req->body_pieces != NULL;
    if (give_back) {
        struct evbuffer *in = evhttp_request_get_input_buffer(x->evreq);
        evbuffer_drain(in, evbuffer_get_length(in));
    }
    write_response(l, x->evreq, req);
    log_access(&(struct log_access){
        .module = l->module->name,
        .method = http_method_name(req->method),
        .path = logged_path(req),
        .status = req->status,
        .duration_ms = (double)(clock_mono_us() - req->started_us) / 1000.0,
        .operation = req->match.route ? req->match.route->operation_id : NULL,
        .principal = req->principal,
        .rbac = req->rbac_verdict,
        .error_code = req->error_code,
        .request_id = req->request_id,
        .peer = req->peer,
    });
    http_request_release(req);
    arena_free(x->arena);
    if (give_back)
        give_memory_back();
}

/* A deferred request's answer is ready (http_resume). */
static void resume_exchange(struct http_request *req)
{
    struct exchange *x = req->transport;
    x->done = true;
    if (x->dispatching)
        return; /* answered before its handler even returned: on_request finishes it */
    x->l->in_flight--;
    finish(x);
}

static void on_request(struct evhttp_request *evreq, void *arg)
{
    struct listener *l = arg;
    struct arena *a = arena_new();
    struct exchange *x = arena_alloc(a, sizeof(*x));
    x->l = l;
    x->evreq = evreq;
    x->arena = a;
    struct http_request *req = &x->req;
    http_request_init(req, a, l->module, method_of(evhttp_request_get_command(evreq)),
                      evhttp_request_get_uri(evreq));
    req->store = l->store;
    req->verifier = l->verifier;
    req->module_state = l->module_state;
    req->server = l->server->ctx;
    req->tls = l->module->tls;
    req->loop = l->base;
    req->on_resume = resume_exchange;
    req->transport = x;
    read_request(l, req, evreq);

    x->dispatching = true;
    http_dispatch(req);
    x->dispatching = false;
    if (req->deferred && !x->done) {
        l->in_flight++; /* the stop waits for it like for a reply being written */
        return;
    }
    finish(x);
}

/* http_after_turn: libevent runs an event activated now after those already active this turn. */
struct after_turn {
    void (*fn)(void *arg);
    void *arg;
};

static void run_after_turn(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct after_turn t = *(struct after_turn *)arg;
    free(arg);
    t.fn(t.arg);
}

int http_after_turn(struct http_request *req, void (*fn)(void *arg), void *arg)
{
    if (!req->loop)
        return AZ_EIO;
    struct after_turn *t = xmalloc(sizeof(*t));
    *t = (struct after_turn){fn, arg};
    /* A timeout event without a time is activated at once rather than timed. */
    if (event_base_once(req->loop, -1, EV_TIMEOUT, run_after_turn, t, NULL) != 0) {
        free(t);
        return AZ_EIO;
    }
    return 0;
}

/* ---- TLS ------------------------------------------------------------------------------------ */

static struct bufferevent *make_tls_bufferevent(struct event_base *base, void *arg)
{
    struct listener *l = arg;
    SSL *ssl = SSL_new(tls_server_ctx(l->server->tls));
    if (!ssl)
        return NULL;
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    /* Clients routinely close without a TLS close_notify; that is not an error. */
    if (bev)
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

/* ---- accept errors (see server.h) ----------------------------------------------------------- */

struct accept_guard {
    struct evconnlistener *lev;
    struct event *resume;
    const char *name;
    pthread_mutex_t lock; /* closed and the listener's state, against a close from another thread */
    bool closed;
    int64_t warned_ms;
    unsigned long pauses; /* since the last warning */
};

static void on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct accept_guard *g = arg;
    pthread_mutex_lock(&g->lock);
    if (!g->closed)
        evconnlistener_enable(g->lev);
    pthread_mutex_unlock(&g->lock);
}

/* The error callback gets the accept callback's argument (evhttp's own, for a module's listener),
 * so guards are found by their listener. */
#define ACCEPT_GUARDS 64
static pthread_mutex_t guards_lock = PTHREAD_MUTEX_INITIALIZER;
static struct accept_guard *guards[ACCEPT_GUARDS];

static void on_accept_error(struct evconnlistener *lev, void *arg)
{
    (void)arg;
    int err = EVUTIL_SOCKET_ERROR();
    struct accept_guard *g = NULL;
    pthread_mutex_lock(&guards_lock);
    for (size_t i = 0; i < ACCEPT_GUARDS && !g; i++) {
        if (guards[i] && guards[i]->lev == lev)
            g = guards[i];
    }
    pthread_mutex_unlock(&guards_lock);
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    if (!g->closed) {
        evconnlistener_disable(lev);
        struct timeval pause = {0, ACCEPT_PAUSE_MS * 1000};
        event_add(g->resume, &pause);
    }
    pthread_mutex_unlock(&g->lock);
    g->pauses++;
    int64_t now = clock_mono_ms();
    if (g->warned_ms == 0 || now - g->warned_ms >= 10000) {
        LOG_WARN(g->name, "cannot accept connections: %s; pausing %d ms at a time (%lu pauses)",
                 strerror(err), ACCEPT_PAUSE_MS, g->pauses);
        g->warned_ms = now;
        g->pauses = 0;
    }
}

struct accept_guard *server_accept_guard_new(struct evconnlistener *lev, struct event_base *base,
                                             const char *name)
{
    struct accept_guard *g = xcalloc(1, sizeof(*g));
    g->lev = lev;
    g->name = name;
    pthread_mutex_init(&g->lock, NULL);
    g->resume = event_new(base, -1, 0, on_accept_resume, g);
    if (!g->resume) {
        pthread_mutex_destroy(&g->lock);
        free(g);
        return NULL;
    }
    bool placed = false;
    pthread_mutex_lock(&guards_lock);
    for (size_t i = 0; i < ACCEPT_GUARDS && !placed; i++) {
        if (!guards[i]) {
            guards[i] = g;
            placed = true;
        }
    }
    pthread_mutex_unlock(&guards_lock);
    if (!placed) {
        event_free(g->resume);
        pthread_mutex_destroy(&g->lock);
        free(g);
        return NULL; /* libevent's own handling stays */
    }
    evconnlistener_set_error_cb(lev, on_accept_error);
    return g;
}

void server_accept_guard_close(struct accept_guard *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    g->closed = true;
    evconnlistener_disable(g->lev);
    pthread_mutex_unlock(&g->lock);
}

void server_accept_guard_free(struct accept_guard *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&guards_lock);
    for (size_t i = 0; i < ACCEPT_GUARDS; i++) {
        if (guards[i] == g)
            guards[i] = NULL;
    }
    pthread_mutex_unlock(&guards_lock);
    event_free(g->resume);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct listener *l = arg;
    if (l->in_flight <= 0 || clock_mono_ms() >= l->drain_deadline) {
        if (l->in_flight > 0)
            LOG_WARN(l->module->name, "stopping with %d replies unwritten", l->in_flight);
        event_base_loopbreak(l->base);
    }
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct listener *l = arg;
    l->stopping = true;
    server_accept_guard_free(l->accept_guard); /* this thread owns its timer */
    l->accept_guard = NULL;
    if (l->bound) {
        evhttp_del_accept_socket(l->http, l->bound);
        l->bound = NULL;
    }
    l->drain_deadline = clock_mono_ms() + SERVER_DRAIN_MS;
    struct timeval tick = {0, DRAIN_TICK_MS * 1000};
    event_add(l->drain_ev, &tick);
    on_drain_tick(-1, 0, l);
}

static void *listener_main(void *arg)
{
    struct listener *l = arg;
    event_base_dispatch(l->base);
    return NULL;
}

static uint16_t port_of(const struct sockaddr *sa)
{
    return ntohs(sa->sa_family == AF_INET6 ? ((const struct sockaddr_in6 *)sa)->sin6_port
                                           : ((const struct sockaddr_in *)sa)->sin_port);
}

void server_format_url(char *out, size_t outlen, const char *scheme, const char *bind,
                       const struct sockaddr *sa)
{
    const char *host = bind;
    if (strcmp(bind, "0.0.0.0") == 0 || strcmp(bind, "") == 0)
        host = "127.0.0.1";
    else if (strcmp(bind, "::") == 0)
        host = "::1";
    snprintf(out, outlen, strchr(host, ':') ? "%s://[%s]:%u" : "%s://%s:%u", scheme, host,
             port_of(sa));
}

/* A wildcard bind is reached over loopback. */
static void set_connect_address(struct listener *l, const struct sockaddr_storage *ss,
                                socklen_t len)
{
    l->connect_addr = *ss;
    l->connect_addrlen = len;
    if (ss->ss_family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&l->connect_addr;
        if (s4->sin_addr.s_addr == htonl(INADDR_ANY))
            s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (ss->ss_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&l->connect_addr;
        if (IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr))
            s6->sin6_addr = in6addr_loopback;
    }
}

int server_connect_address(const struct server *s, const struct module *m, struct sockaddr *sa,
                           socklen_t *len)
{
    for (int i = 0; i < MODULE_COUNT; i++) {
        const struct listener *l = s->listeners[i];
        if (l && l->module == m && *len >= l->connect_addrlen) {
            memcpy(sa, &l->connect_addr, l->connect_addrlen);
            *len = l->connect_addrlen;
            return 0;
        }
    }
    return AZ_ENOTFOUND;
}

static void listener_free(struct listener *l)
{
    if (!l)
        return;
    server_accept_guard_free(l->accept_guard);
    if (l->http)
        evhttp_free(l->http);
    if (l->stop_ev)
        event_free(l->stop_ev);
    if (l->drain_ev)
        event_free(l->drain_ev);
    if (l->base)
        event_base_free(l->base);
    if (l->module_state)
        l->module->state_free(l->module_state);
    auth_verifier_free(l->verifier);
    store_close(l->store);
    free(l);
}

/* A listener without its socket: its event loop, HTTP server, store connection and state. */
static int listener_new(struct server *s, const struct module *m,
                        const struct store_location *store_loc, struct listener **out)
{
    const struct azsim_config *cfg = s->cfg;
    struct listener *l = xcalloc(1, sizeof(*l));
    l->module = m;
    l->server = s;
    *out = l;
    /* With the changelist, the read-off/write-on/write-off/read-on churn of every keep-alive
     * exchange is one epoll_ctl per loop turn instead of one per change (no descriptor here is
     * a dup() of a socket, which the changelist would confuse). */
    struct event_config *ev_cfg = event_config_new();
    if (!ev_cfg)
        return AZ_EIO;
    event_config_set_flag(ev_cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    l->base = event_base_new_with_config(ev_cfg);
    event_config_free(ev_cfg);
    if (!l->base)
        return AZ_EIO;
    l->http = evhttp_new(l->base);
    l->stop_ev = event_new(l->base, -1, 0, on_stop, l);
    l->drain_ev = event_new(l->base, -1, EV_PERSIST, on_drain_tick, l);
    if (!l->http || !l->stop_ev || !l->drain_ev)
        return AZ_EIO;

    evhttp_set_allowed_methods(l->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS);
    evhttp_set_max_headers_size(l->http, MAX_HEADERS_SIZE);
    evhttp_set_max_body_size(l->http, (ev_ssize_t)m->max_body);
    evhttp_set_timeout(l->http, cfg->idle_timeout);
    evhttp_set_default_content_type(l->http, NULL);
    evhttp_set_gencb(l->http, on_request, l);
    if (m->tls)
        evhttp_set_bevcb(l->http, make_tls_bufferevent, l);

    int rc = store_open(store_loc, &l->store);
    if (rc != 0)
        return rc;
    l->verifier = auth_verifier_new(l->store);
    if (m->state_new)
        l->module_state = m->state_new(l->store);
    return 0;
}

/*
 * A listening socket on `bind`:`port` that the module's other threads bind as well
 * (SO_REUSEPORT), so the kernel spreads new connections evenly over them; one descriptor shared
 * by every thread would let whichever woke first accept a whole burst, leaving a core idle for
 * the life of those keep-alive connections. When `exclusive`, a plain bind first checks that no
 * other process holds the port: a second azsim fails as before instead of joining the group.
 */
static evutil_socket_t listen_shared(const char *bind_addr, int port, bool exclusive)
{
    struct evutil_addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = EVUTIL_AI_PASSIVE};
    struct evutil_addrinfo *ai = NULL;
    char service[8];
    snprintf(service, sizeof(service), "%d", port);
    if (evutil_getaddrinfo(bind_addr, service, &hints, &ai) != 0)
        return -1;
    int one = 1;
    evutil_socket_t fd = -1;
    if (exclusive && port != 0) {
        evutil_socket_t probe = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        bool free_port = probe >= 0 && bind(probe, ai->ai_addr, ai->ai_addrlen) == 0;
        if (probe >= 0)
            close(probe);
        if (!free_port)
            goto out;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto out;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* inherited by accepted ones */
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        int saved = errno;
        close(fd);
        fd = -1;
        errno = saved;
    }
out:
    evutil_freeaddrinfo(ai);
    return fd;
}

static int listener_create(struct server *s, const struct module *m, int port,
                           const struct store_location *store_loc, struct listener **out)
{
    const struct azsim_config *cfg = s->cfg;
    int rc = listener_new(s, m, store_loc, out);
    struct listener *l = *out;
    if (rc != 0)
        return rc;
    evutil_socket_t fd = listen_shared(cfg->bind, port, true);
    l->bound = fd >= 0 ? evhttp_accept_socket_with_handle(l->http, fd) : NULL;
    if (!l->bound) {
        LOG_ERROR(m->name, "cannot listen on %s port %d: %s", cfg->bind, port,
                  fd >= 0 ? "evhttp refused the socket" : strerror(errno));
        if (fd >= 0)
            close(fd);
        return AZ_EIO;
    }
    l->accept_guard =
        server_accept_guard_new(evhttp_bound_socket_get_listener(l->bound), l->base, m->name);
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0)
        return AZ_EIO;
    set_connect_address(l, &ss, sslen);
    server_format_url(l->url, sizeof(l->url), m->tls ? "https" : "http", cfg->bind,
                      (struct sockaddr *)&ss);
    return 0;
}

/*
 * Another thread for `primary`'s port: its own loop, store connection and state, and its own
 * socket on the same port (listen_shared), so a module uses every core (token signing, TLS
 * handshakes).
 */
static int listener_add_sibling(struct server *s, struct listener *primary,
                                const struct store_location *store_loc)
{
    struct listener *l;
    int rc = listener_new(s, primary->module, store_loc, &l);
    l->sibling = primary->sibling;
    primary->sibling = l;
    if (rc != 0)
        return rc;
    int port = ntohs(primary->connect_addr.ss_family == AF_INET6
                         ? ((struct sockaddr_in6 *)&primary->connect_addr)->sin6_port
                         : ((struct sockaddr_in *)&primary->connect_addr)->sin_port);
    evutil_socket_t fd = listen_shared(s->cfg->bind, port, false);
    l->bound = fd >= 0 ? evhttp_accept_socket_with_handle(l->http, fd) : NULL;
    if (!l->bound) {
        if (fd >= 0)
            close(fd);
        return AZ_EIO;
    }
    l->accept_guard = server_accept_guard_new(evhttp_bound_socket_get_listener(l->bound), l->base,
                                              l->module->name);
    memcpy(l->url, primary->url, sizeof(l->url));
    l->connect_addr = primary->connect_addr;
    l->connect_addrlen = primary->connect_addrlen;
    return 0;
}

/* Threads per module: one per core, at most SERVER_MAX_THREADS. */
static int threads_per_module(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > SERVER_MAX_THREADS ? SERVER_MAX_THREADS : (int)n;
}

int server_create(const struct azsim_config *cfg, const struct server_context *ctx,
                  const struct store_location *store_loc, struct tls *tls, struct server **out)
{
    /* Only for the cross-thread event_active() in server_stop(). */
    evthread_use_pthreads();
    struct server *s = xcalloc(1, sizeof(*s));
    s->cfg = cfg;
    s->ctx = ctx;
    s->tls = tls;
    *out = s;
    for (int i = 0; i < MODULE_COUNT; i++) {
        if (!(cfg->modules & (1u << i)))
            continue;
        int rc = listener_create(s, modules[i], cfg->ports[i], store_loc, &s->listeners[i]);
        for (int t = 1; rc == 0 && t < threads_per_module(); t++)
            rc = listener_add_sibling(s, s->listeners[i], store_loc);
        if (rc != 0)
            return rc;
    }
    return 0;
}

const char *server_url(const struct server *s, enum module_id id)
{
    return s->listeners[id] ? s->listeners[id]->url : NULL;
}

int server_start(struct server *s)
{
    for (int i = 0; i < MODULE_COUNT; i++) {
        for (struct listener *l = s->listeners[i]; l; l = l->sibling) {
            if (pthread_create(&l->thread, NULL, listener_main, l) != 0) {
                LOG_ERROR(l->module->name, "cannot start thread");
                return AZ_EIO;
            }
            l->thread_started = true;
        }
    }
    return 0;
}

void server_stop(struct server *s)
{
    for (int i = 0; i < MODULE_COUNT; i++) {
        for (struct listener *l = s->listeners[i]; l; l = l->sibling) {
            if (l->thread_started)
                event_active(l->stop_ev, 0, 0);
        }
    }
    for (int i = 0; i < MODULE_COUNT; i++) {
        for (struct listener *l = s->listeners[i]; l; l = l->sibling) {
            if (l->thread_started) {
                pthread_join(l->thread, NULL);
                l->thread_started = false;
            }
        }
    }
}

void server_free(struct server *s)
{
    if (!s)
        return;
    for (int i = 0; i < MODULE_COUNT; i++) {
        for (struct listener *l = s->listeners[i], *next; l; l = next) {
            next = l->sibling;
            listener_free(l);
        }
    }
    free(s);
}
