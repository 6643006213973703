/*
 * client.c — see client.h. Connection: close and read to EOF keep the parsing trivial.
 */
#include "client.h"

#include "error.h"
#include "log.h"

#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

struct url_parts {
    char scheme[8];
    char host[256];
    char port[8];
    const char *path;
};

static int parse_url(const char *url, struct url_parts *u)
{
    const char *p = strstr(url, "://");
    if (!p || (size_t)(p - url) >= sizeof(u->scheme))
        return AZ_EINVAL;
    snprintf(u->scheme, sizeof(u->scheme), "%.*s", (int)(p - url), url);
    p += 3;
    const char *host_end;
    if (*p == '[') {
        host_end = strchr(p, ']');
        if (!host_end)
            return AZ_EINVAL;
        snprintf(u->host, sizeof(u->host), "%.*s", (int)(host_end - p - 1), p + 1);
        host_end++;
    } else {
        host_end = p + strcspn(p, ":/");
        snprintf(u->host, sizeof(u->host), "%.*s", (int)(host_end - p), p);
    }
    if (*host_end == ':') {
        size_t n = strcspn(host_end + 1, "/");
        snprintf(u->port, sizeof(u->port), "%.*s", (int)n, host_end + 1);
        host_end += 1 + n;
    } else {
        snprintf(u->port, sizeof(u->port), "%s", strcmp(u->scheme, "https") == 0 ? "443" : "80");
    }
    u->path = *host_end ? host_end : "/";
    return 0;
}

static int connect_to(const struct url_parts *u, int timeout_ms)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(u->host, u->port, &hints, &res) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

int client_get(const char *url, const char *ca_file, int timeout_ms, int *status, struct buf *body)
{
    struct url_parts u;
    if (parse_url(url, &u) != 0)
        return AZ_EINVAL;
    bool https = strcmp(u.scheme, "https") == 0;
    int fd = connect_to(&u, timeout_ms);
    if (fd < 0)
        return AZ_EIO;

    int rc = AZ_EIO;
    SSL_CTX *ctx = NULL;
    SSL *ssl = NULL;
    struct buf resp = {0};
    if (https) {
        ctx = SSL_CTX_new(TLS_client_method());
        ssl = ctx ? SSL_new(ctx) : NULL;
        if (!ssl || SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
            rc = AZ_ETLS;
            goto out;
        }
        SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
        SSL_set_tlsext_host_name(ssl, u.host);
        bool is_ip = strchr(u.host, ':') || strspn(u.host, "0123456789.") == strlen(u.host);
        if (is_ip)
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), u.host);
        else
            SSL_set1_host(ssl, u.host);
        SSL_set_fd(ssl, fd);
        if (SSL_connect(ssl) != 1) {
            rc = AZ_ETLS;
            goto out;
        }
    }

    char *request = xasprintf("GET %s HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n"
                              "User-Agent: azsim\r\n\r\n",
                              u.path, u.host, u.port);
    size_t len = strlen(request);
    bool sent = https ? SSL_write(ssl, request, (int)len) == (int)len
                      : write(fd, request, len) == (ssize_t)len;
    free(request);
    if (!sent)
        goto out;
    char chunk[4096];
    for (;;) {
        int n = https ? SSL_read(ssl, chunk, sizeof(chunk)) : (int)read(fd, chunk, sizeof(chunk));
        if (n <= 0)
            break;
        buf_append(&resp, chunk, (size_t)n);
        if (resp.len > 1024 * 1024)
            break;
    }
    int code;
    if (!resp.data || sscanf(resp.data, "HTTP/1.%*d %d", &code) != 1)
        goto out;
    const char *sep = strstr(resp.data, "\r\n\r\n");
    if (sep)
        buf_append(body, sep + 4, resp.len - (size_t)(sep + 4 - resp.data));
    *status = code;
    rc = 0;
out:
    if (rc == AZ_ETLS) {
        char err[200];
        ERR_error_string_n(ERR_get_error(), err, sizeof(err));
        LOG_DEBUG("client", "TLS to %s failed: %s", url, err);
    }
    ERR_clear_error();
    buf_free(&resp);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    return rc;
}
