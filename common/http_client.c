/*
 * http_client.c — see http_client.h. libevent's evhttp client over bufferevent_openssl.
 *
 * libevent 2.1 facts this depends on: evhttp would connect a closed connection again through
 * the same SSL object, whose reuse OpenSSL only supports after SSL_clear, so a connection that
 * closed or failed is never used again (evhttp's close callback tells when it closes one, and
 * its retries are off); and libevent does not promise that a connection may be freed from
 * inside one of its own callbacks, so connections done with are only marked, and freed at the
 * next request or when the thread ends.
 */
#include "http_client.h"

#include "error.h"
#include "log.h"
#include "mem.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Connections kept open per client: requests in flight beyond them get a connection that closes
 * after its answer. */
#define KEEP_ALIVE_MAX 4

struct connection {
    struct http_client *c;
    struct evhttp_connection *conn;
    char host[256];
    int port;
    bool keep; /* kept open for later requests */
    bool busy; /* a request is in flight on it */
    bool dead; /* closed or failed: to be freed */
    struct connection *next;
};

struct http_client {
    struct event_base *base;
    SSL_CTX *ctx;
    struct connection *connections;
    size_t kept;    /* connections with `keep` */
    int responding; /* inside on_response: a connection's callback is on the stack */
};

/* One request in flight. */
struct call {
    struct http_client *c;
    struct connection *on;
    bool reused; /* its connection served a request before */
    char host[256];
    int port;
    char *path, *body;
    int timeout_s;
    http_client_done done;
    void *arg;
};

/*
 * server.c frees a thread's event loop before its module state, and a connection can only be
 * freed while its loop exists: a client's connections are freed when the thread that made it
 * ends, its loop stopped but not yet freed.
 */
static pthread_key_t owner_key;
static pthread_once_t owner_once = PTHREAD_ONCE_INIT;

static void connection_free(struct connection *k)
{
    struct http_client *c = k->c;
    for (struct connection **at = &c->connections; *at; at = &(*at)->next) {
        if (*at == k) {
            *at = k->next;
            break;
        }
    }
    if (k->keep)
        c->kept--;
    evhttp_connection_set_closecb(k->conn, NULL, NULL);
    evhttp_connection_free(k->conn);
    free(k);
}

/* Free the connections no request waits on: the dead ones, or all (`idle_too`). */
static void sweep(struct http_client *c, bool idle_too)
{
    for (struct connection *k = c->connections, *next; k; k = next) {
        next = k->next;
        if (!k->busy && (k->dead || idle_too))
            connection_free(k);
    }
}

static void sweep_at_exit(void *c)
{
    sweep(c, true);
}

static void make_owner_key(void)
{
    pthread_key_create(&owner_key, sweep_at_exit);
}

struct http_client *http_client_new(struct event_base *base, const char *ca_pem)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    BIO *bio = ctx ? BIO_new_mem_buf(ca_pem, -1) : NULL;
    X509_STORE *store = ctx ? SSL_CTX_get_cert_store(ctx) : NULL;
    int loaded = 0;
    for (X509 *x; bio && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL; X509_free(x))
        loaded += X509_STORE_add_cert(store, x) == 1;
    BIO_free(bio);
    ERR_clear_error();
    if (!ctx || loaded == 0) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    struct http_client *c = xcalloc(1, sizeof(*c));
    c->base = base;
    c->ctx = ctx;
    pthread_once(&owner_once, make_owner_key);
    pthread_setspecific(owner_key, c);
    return c;
}

void http_client_free(struct http_client *c)
{
    if (!c)
        return;
    if (pthread_getspecific(owner_key) == c) {
        /* On its own thread: the loop is still there. */
        sweep(c, true);
        pthread_setspecific(owner_key, NULL);
    }
    /* What is left was in flight when the loop stopped: its connection goes with the loop. */
    for (struct connection *k = c->connections, *next; k; k = next) {
        next = k->next;
        free(k);
    }
    SSL_CTX_free(c->ctx);
    free(c);
}

static void on_close(struct evhttp_connection *conn, void *arg)
{
    (void)conn;
    struct connection *k = arg;
    k->dead = true;
}

static int start(struct call *call, bool may_reuse);

static void call_free(struct call *call)
{
    free(call->path);
    free(call->body);
    free(call);
}

static void on_response(struct evhttp_request *r, void *arg)
{
    struct call *call = arg;
    struct http_client *c = call->c;
    c->responding++;
    bool answered = r && evhttp_request_get_response_code(r) > 0;
    call->on->busy = false;
    if (!answered || !call->on->keep)
        call->on->dead = true;
    /* The server may close an idle connection just as a request goes out on it (its idle
     * timeout): that request gets one more try, on a new connection. */
    if (!answered && call->reused && start(call, false) == 0) {
        c->responding--;
        return;
    }
    struct http_client_response resp = {0};
    char *body = NULL;
    if (answered) {
        struct evbuffer *in = evhttp_request_get_input_buffer(r);
        resp.status = evhttp_request_get_response_code(r);
        resp.len = evbuffer_get_length(in);
        body = xmalloc(resp.len + 1);
        evbuffer_remove(in, body, resp.len);
        body[resp.len] = '\0';
    }
    resp.body = body ? body : "";
    call->done(call->arg, &resp);
    free(body);
    call_free(call);
    c->responding--;
}

/* "https://host:port/path" → host, port, path. */
static int split_url(const char *url, char *host, size_t hostlen, int *port, const char **path)
{
    if (strncmp(url, "https://", 8) != 0)
        return AZ_EINVAL;
    const char *h = url + 8;
    const char *slash = strchr(h, '/');
    const char *end = slash ? slash : h + strlen(h);
    const char *colon = memchr(h, ':', (size_t)(end - h));
    const char *host_end = colon ? colon : end;
    if (host_end == h || (size_t)(host_end - h) >= hostlen)
        return AZ_EINVAL;
    memcpy(host, h, (size_t)(host_end - h));
    host[host_end - h] = '\0';
    *port = colon ? atoi(colon + 1) : 443;
    *path = slash ? slash : "/";
    return *port > 0 && *port < 65536 ? 0 : AZ_EINVAL;
}

/* A new connection for the call, verifying the server's certificate by host name or address;
 * NULL if it cannot be made. */
static struct connection *connection_new(struct call *call)
{
    struct http_client *c = call->c;
    SSL *ssl = SSL_new(c->ctx);
    if (!ssl)
        return NULL;
    unsigned char ip[16];
    bool literal =
        inet_pton(AF_INET, call->host, ip) == 1 || inet_pton(AF_INET6, call->host, ip) == 1;
    if (literal) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), call->host);
    } else {
        SSL_set_tlsext_host_name(ssl, call->host);
        SSL_set1_host(ssl, call->host);
    }
    struct bufferevent *bev =
        bufferevent_openssl_socket_new(c->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                       BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (!bev) {
        SSL_free(ssl);
        return NULL;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    struct evhttp_connection *conn = evhttp_connection_base_bufferevent_new(
        c->base, NULL, bev, call->host, (ev_uint16_t)call->port);
    if (!conn) {
        bufferevent_free(bev);
        return NULL;
    }
    evhttp_connection_set_retries(conn, 0);
    struct connection *k = xcalloc(1, sizeof(*k));
    k->c = c;
    k->conn = conn;
    snprintf(k->host, sizeof(k->host), "%s", call->host);
    k->port = call->port;
    k->keep = c->kept < KEEP_ALIVE_MAX;
    c->kept += k->keep;
    k->next = c->connections;
    c->connections = k;
    evhttp_connection_set_closecb(conn, on_close, k);
    return k;
}

/* Send the call's request, on an idle kept-alive connection to its server if `may_reuse` and
 * there is one, else on a new one: 0, or an error with nothing sent. */
static int start(struct call *call, bool may_reuse)
{
    struct connection *k = NULL;
    for (struct connection *i = call->c->connections; may_reuse && i && !k; i = i->next) {
        if (i->keep && !i->busy && !i->dead && i->port == call->port &&
            strcmp(i->host, call->host) == 0)
            k = i;
    }
    call->reused = k != NULL;
    if (!k)
        k = connection_new(call);
    if (!k)
        return AZ_ETLS;
    struct evhttp_request *r = evhttp_request_new(on_response, call);
    if (!r) {
        k->dead = true;
        return AZ_EIO;
    }
    k->busy = true;
    call->on = k;
    evhttp_connection_set_timeout(k->conn, call->timeout_s);
    struct evkeyvalq *h = evhttp_request_get_output_headers(r);
    char host_header[300];
    snprintf(host_header, sizeof(host_header), strchr(call->host, ':') ? "[%s]:%d" : "%s:%d",
             call->host, call->port);
    evhttp_add_header(h, "Host", host_header);
    evhttp_add_header(h, "Content-Type", "application/x-www-form-urlencoded");
    if (!k->keep)
        evhttp_add_header(h, "Connection", "close");
    evbuffer_add(evhttp_request_get_output_buffer(r), call->body, strlen(call->body));
    bool reused = call->reused;
    if (evhttp_make_request(k->conn, r, EVHTTP_REQ_POST, call->path) != 0) {
        k->busy = false;
        k->dead = true;
        return AZ_EIO;
    }
    /* Without Nagle: the request goes out in several TLS records, and waiting for the ACK of
     * the first (which the server delays) cost 40 ms per call. The call may be over already
     * (a connection that failed at once answers before evhttp_make_request returns): only the
     * connection, which lives on, is touched from here. */
    evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(k->conn));
    int one = 1;
    if (!reused && fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return 0;
}

int http_client_post_form(struct http_client *c, const char *url, const char *body, int timeout_s,
                          http_client_done done, void *arg)
{
    struct call *call = xcalloc(1, sizeof(*call));
    const char *path;
    if (split_url(url, call->host, sizeof(call->host), &call->port, &path) != 0) {
        free(call);
        return AZ_EINVAL;
    }
    if (!c->responding)
        sweep(c, false);
    call->c = c;
    call->path = xstrdup(path);
    call->body = xstrdup(body);
    call->timeout_s = timeout_s;
    call->done = done;
    call->arg = arg;
    int rc = start(call, true);
    if (rc != 0)
        call_free(call);
    return rc;
}
