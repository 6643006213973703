/*
 * http_client.c — see http_client.h. libevent's evhttp client over bufferevent_openssl.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct http_client {
    struct event_base *base;
    SSL_CTX *ctx;
};

/* One request in flight. */
struct call {
    struct evhttp_connection *conn;
    http_client_done done;
    void *arg;
};

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
    return c;
}

void http_client_free(struct http_client *c)
{
    if (!c)
        return;
    SSL_CTX_free(c->ctx);
    free(c);
}

static void on_response(struct evhttp_request *r, void *arg)
{
    struct call *call = arg;
    struct http_client_response resp = {0};
    char *body = NULL;
    if (r && evhttp_request_get_response_code(r) > 0) {
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
    free(call);
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

int http_client_post_form(struct http_client *c, const char *url, const char *body, int timeout_s,
                          http_client_done done, void *arg)
{
    char host[256];
    int port;
    const char *path;
    if (split_url(url, host, sizeof(host), &port, &path) != 0)
        return AZ_EINVAL;
    SSL *ssl = SSL_new(c->ctx);
    if (!ssl)
        return AZ_ETLS;
    unsigned char ip[16];
    bool literal = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    if (literal) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
    } else {
        SSL_set_tlsext_host_name(ssl, host);
        SSL_set1_host(ssl, host);
    }
    struct bufferevent *bev =
        bufferevent_openssl_socket_new(c->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                       BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (!bev) {
        SSL_free(ssl);
        return AZ_ETLS;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    struct call *call = xcalloc(1, sizeof(*call));
    call->done = done;
    call->arg = arg;
    call->conn =
        evhttp_connection_base_bufferevent_new(c->base, NULL, bev, host, (ev_uint16_t)port);
    struct evhttp_request *r = call->conn ? evhttp_request_new(on_response, call) : NULL;
    if (!r) {
        if (call->conn)
            evhttp_connection_free(call->conn);
        else
            bufferevent_free(bev);
        free(call);
        return AZ_EIO;
    }
    evhttp_connection_set_timeout(call->conn, timeout_s);
    evhttp_connection_set_retries(call->conn, 0);
    struct evkeyvalq *h = evhttp_request_get_output_headers(r);
    char host_header[300];
    snprintf(host_header, sizeof(host_header), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    evhttp_add_header(h, "Host", host_header);
    evhttp_add_header(h, "Content-Type", "application/x-www-form-urlencoded");
    evhttp_add_header(h, "Connection", "close");
    evbuffer_add(evhttp_request_get_output_buffer(r), body, strlen(body));
    if (evhttp_make_request(call->conn, r, EVHTTP_REQ_POST, path) != 0) {
        /* evhttp_make_request frees the request on failure. */
        evhttp_connection_free(call->conn);
        free(call);
        return AZ_EIO;
    }
    /* Without Nagle: the request goes out in several TLS records, and waiting for the ACK of
     * the first (which the server delays) cost 40 ms per call. */
    evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(call->conn));
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* The connection goes with its one request. */
    evhttp_connection_free_on_completion(call->conn);
    return 0;
}
