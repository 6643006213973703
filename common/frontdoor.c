/*
 * frontdoor.c — see frontdoor.h. Its own thread and event loop; each client connection is a
 * `struct fd_conn` that reads one header block, then either answers it or becomes a tunnel:
 * two bufferevents whose bytes are moved across with back-pressure (a full output buffer on one
 * side stops reading on the other until it drains).
 */
#include "frontdoor.h"

#include "error.h"
#include "log.h"
#include "mem.h"
#include "server.h"
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define MAX_HEAD (64 * 1024)      /* a CONNECT or proxied request's header block */
#define MAX_PENDING (1024 * 1024) /* bytes buffered towards one side before pausing */
#define REGISTRY_BUCKETS 1024

/* ---- which module serves which host --------------------------------------------------------- */

/* raw.githubusercontent.com is there for az vm create's image alias document: ARM serves that one
 * file and nothing else under it (arm/images.c). */
static const struct {
    const char *pattern;
    enum module_id module;
} host_routes[] = {
    {"login.microsoftonline.com", MODULE_AAD},   {"login.windows.net", MODULE_AAD},
    {"login.microsoft.com", MODULE_AAD},         {"graph.microsoft.com", MODULE_AAD},
    {"graph.windows.net", MODULE_AAD},           {"management.azure.com", MODULE_ARM},
    {"management.core.windows.net", MODULE_ARM}, {"*.vault.azure.net", MODULE_KEYVAULT},
    {"*.blob.core.windows.net", MODULE_STORAGE}, {"169.254.169.254", MODULE_IMDS},
    {"raw.githubusercontent.com", MODULE_ARM},
};

static bool host_matches(const char *pattern, const char *host)
{
    if (pattern[0] == '*') {
        /* "*.vault.azure.net": exactly one non-empty label in front, like a TLS wildcard, and a
         * DNS label at that (letters, digits, '-'): "%2e%2e" or raw bytes name no vault or
         * account, and no such name resolves in Azure. */
        const char *dot = strchr(host, '.');
        if (!dot || dot == host || !str_ieq(dot, pattern + 1))
            return false;
        for (const char *p = host; p < dot; p++) {
            if (!isalnum((unsigned char)*p) && *p != '-')
                return false;
        }
        return true;
    }
    return str_ieq(pattern, host);
}

const struct module *frontdoor_module_for_host(const char *host)
{
    for (size_t i = 0; i < ARRAY_SIZE(host_routes); i++) {
        if (host_matches(host_routes[i].pattern, host))
            return modules[host_routes[i].module];
    }
    return NULL;
}

/* ---- the registry of connections the front door opened -------------------------------------- */

struct registry_entry {
    struct registry_entry *next;
    const struct module *module;
    char *peer; /* the front door's local address of the connection, "ip:port" */
    char *host;
    char *user;
    char *password;
    char *client;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct registry_entry *registry[REGISTRY_BUCKETS];

static size_t registry_bucket(const char *peer)
{
    size_t h = 5381;
    for (const char *p = peer; *p; p++)
        h = h * 33 + (unsigned char)*p;
    return h % REGISTRY_BUCKETS;
}

static void registry_add(struct registry_entry *e)
{
    size_t b = registry_bucket(e->peer);
    pthread_mutex_lock(&registry_lock);
    e->next = registry[b];
    registry[b] = e;
    pthread_mutex_unlock(&registry_lock);
}

static void registry_entry_free(struct registry_entry *e)
{
    if (!e)
        return;
    free(e->peer);
    free(e->host);
    free(e->user);
    if (e->password) {
        memset(e->password, 0, strlen(e->password));
        free(e->password);
    }
    free(e->client);
    free(e);
}

static void registry_remove(struct registry_entry *e)
{
    size_t b = registry_bucket(e->peer);
    pthread_mutex_lock(&registry_lock);
    for (struct registry_entry **p = &registry[b]; *p; p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            break;
        }
    }
    pthread_mutex_unlock(&registry_lock);
}

bool frontdoor_origin_lookup(const struct module *m, const char *peer, struct arena *a,
                             struct frontdoor_origin *out)
{
    bool found = false;
    size_t b = registry_bucket(peer);
    pthread_mutex_lock(&registry_lock);
    for (struct registry_entry *e = registry[b]; e && !found; e = e->next) {
        if (e->module == m && strcmp(e->peer, peer) == 0) {
            out->host = arena_strdup(a, e->host);
            out->proxy_user = arena_strdup(a, e->user);
            out->proxy_password = arena_strdup(a, e->password);
            out->client = arena_strdup(a, e->client);
            found = true;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    return found;
}

/* ---- connections ---------------------------------------------------------------------------- */

struct frontdoor {
    const struct azsim_config *cfg;
    const struct server_context *ctx;
    const struct server *srv;
    struct event_base *base;
    struct evconnlistener *listener;
    struct accept_guard *accept_guard;
    struct event *stop_ev;
    pthread_t thread;
    bool thread_started;
    char url[96];
    struct fd_conn *conns; /* every open connection, for shutdown */
};

struct fd_conn {
    struct frontdoor *f;
    struct fd_conn *prev, *next;
    struct bufferevent *client;
    struct bufferevent *module; /* NULL until the tunnel's far side is connecting */
    struct registry_entry *origin;
    char client_addr[64];
    int64_t accepted_ms; /* the header block must be complete within the idle timeout of this */
    bool tunnel_ready;   /* the module side is connected */
    bool client_done;    /* the client half-closed: nothing more will come from it */
};

static void conn_free(struct fd_conn *c)
{
    if (c->origin) {
        registry_remove(c->origin);
        registry_entry_free(c->origin);
    }
    if (c->client)
        bufferevent_free(c->client);
    if (c->module)
        bufferevent_free(c->module);
    if (c->prev)
        c->prev->next = c->next;
    else
        c->f->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
}

static void format_addr(const struct sockaddr *sa, char *out, size_t outlen)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        snprintf(out, outlen, "[%s]:%u", ip, ntohs(s6->sin6_port));
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        snprintf(out, outlen, "%s:%u", ip, ntohs(s4->sin_port));
    }
}

/* Send a short plain-text answer and close once it is written. */
static void on_flushed_close(struct bufferevent *bev, void *arg)
{
    (void)bev;
    conn_free(arg);
}

static void on_closing_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    (void)what;
    conn_free(arg);
}

static void reply_and_close(struct fd_conn *c, int status, const char *reason,
                            const char *content_type, const char *body)
{
    struct evbuffer *out = bufferevent_get_output(c->client);
    evbuffer_add_printf(out,
                        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                        "Connection: close\r\n\r\n%s",
                        status, reason, content_type, strlen(body), body);
    bufferevent_disable(c->client, EV_READ);
    bufferevent_setcb(c->client, NULL, on_flushed_close, on_closing_event, c);
}

static void refuse(struct fd_conn *c, int status, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void refuse(struct fd_conn *c, int status, const char *reason, const char *fmt, ...)
{
    struct buf msg = {0};
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    buf_putc(&msg, '\n');
    LOG_INFO("proxy", "%d from %s: %.*s", status, c->client_addr, (int)msg.len - 1, msg.data);
    reply_and_close(c, status, reason, "text/plain; charset=utf-8", msg.data);
    buf_free(&msg);
}

/* ---- splicing ------------------------------------------------------------------------------- */

static void on_splice_read(struct bufferevent *bev, void *arg);
static void on_splice_event(struct bufferevent *bev, short what, void *arg);

static struct bufferevent *partner(struct fd_conn *c, struct bufferevent *bev)
{
    return bev == c->client ? c->module : c->client;
}

/* The partner drained below the low-water mark: read from this side again. */
static void on_partner_drained(struct bufferevent *out_bev, void *arg)
{
    struct fd_conn *c = arg;
    struct bufferevent *in_bev = partner(c, out_bev);
    bufferevent_setwatermark(out_bev, EV_WRITE, 0, 0);
    bufferevent_setcb(out_bev, on_splice_read, NULL, on_splice_event, c);
    if (in_bev)
        bufferevent_enable(in_bev, EV_READ);
}

static void on_splice_read(struct bufferevent *bev, void *arg)
{
    struct fd_conn *c = arg;
    struct bufferevent *other = partner(c, bev);
    if (!other || !c->tunnel_ready)
        return; /* the module side is still connecting: keep the bytes buffered */
    struct evbuffer *dst = bufferevent_get_output(other);
    evbuffer_add_buffer(dst, bufferevent_get_input(bev));
    if (evbuffer_get_length(dst) >= MAX_PENDING) {
        bufferevent_disable(bev, EV_READ);
        bufferevent_setwatermark(other, EV_WRITE, MAX_PENDING / 2, MAX_PENDING);
        bufferevent_setcb(other, on_splice_read, on_partner_drained, on_splice_event, c);
    }
}

/* Pass the client's half-close on once everything it sent has reached the module. */
static void on_module_flushed(struct bufferevent *bev, void *arg)
{
    shutdown(bufferevent_getfd(bev), SHUT_WR);
    bufferevent_setcb(bev, on_splice_read, NULL, on_splice_event, arg);
}

static void shut_module_when_flushed(struct fd_conn *c)
{
    bufferevent_setwatermark(c->module, EV_WRITE, 0, 0);
    if (evbuffer_get_length(bufferevent_get_output(c->module)) == 0)
        on_module_flushed(c->module, c);
    else
        bufferevent_setcb(c->module, on_splice_read, on_module_flushed, on_splice_event, c);
}

/*
 * A client that half-closes (sends its request, then shuts its side) still wants the answer:
 * its end of input is passed on to the module once the bytes before it are delivered. Any
 * other close of one side gives the other side what is buffered for it, then closes.
 */
static void on_splice_event(struct bufferevent *bev, short what, void *arg)
{
    struct fd_conn *c = arg;
    struct bufferevent *other = partner(c, bev);
    if (bev == c->client && what == (BEV_EVENT_EOF | BEV_EVENT_READING) && c->module) {
        on_splice_read(bev, c);
        c->client_done = true;
        bufferevent_disable(bev, EV_READ);
        if (c->tunnel_ready)
            shut_module_when_flushed(c);
        return;
    }
    if (what & BEV_EVENT_EOF)
        on_splice_read(bev, c);
    if (!other || !c->tunnel_ready || evbuffer_get_length(bufferevent_get_output(other)) == 0) {
        conn_free(c);
        return;
    }
    /* Drop the closed side and let the other finish writing. */
    if (bev == c->client)
        c->client = NULL;
    else
        c->module = NULL;
    bufferevent_free(bev);
    bufferevent_disable(other, EV_READ);
    bufferevent_setwatermark(other, EV_WRITE, 0, 0);
    bufferevent_setcb(other, NULL, on_flushed_close, on_closing_event, c);
}

static void on_module_connected(struct bufferevent *bev, short what, void *arg)
{
    struct fd_conn *c = arg;
    if (!(what & BEV_EVENT_CONNECTED)) {
        on_splice_event(bev, what, arg);
        return;
    }
    int one = 1;
    setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->tunnel_ready = true;
    bufferevent_setcb(bev, on_splice_read, NULL, on_splice_event, c);
    bufferevent_setcb(c->client, on_splice_read, NULL, on_splice_event, c);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    bufferevent_enable(c->client, EV_READ | EV_WRITE);
    /* Bytes that came with the header block (an early ClientHello, the proxied request) go
     * first. */
    on_splice_read(c->client, c);
    if (c->client_done) {
        bufferevent_disable(c->client, EV_READ);
        shut_module_when_flushed(c);
    }
}

/*
 * Open the module side of a tunnel and record it, before a single byte is sent, under the local
 * address the module will see as its peer.
 */
static bool open_tunnel(struct fd_conn *c, const struct module *m, const char *host,
                        const char *user, const char *password)
{
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    if (server_connect_address(c->f->srv, m, (struct sockaddr *)&ss, &sslen) != 0) {
        refuse(c, 503, "Service Unavailable", "azsim's %s module is not running (see --only).",
               m->name);
        return false;
    }
    c->module = bufferevent_socket_new(c->f->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!c->module || bufferevent_socket_connect(c->module, (struct sockaddr *)&ss, (int)sslen)) {
        refuse(c, 502, "Bad Gateway", "azsim's %s module cannot be reached.", m->name);
        return false;
    }
    struct sockaddr_storage local;
    socklen_t llen = sizeof(local);
    char peer[64];
    if (getsockname(bufferevent_getfd(c->module), (struct sockaddr *)&local, &llen) != 0) {
        refuse(c, 502, "Bad Gateway", "azsim's %s module cannot be reached.", m->name);
        return false;
    }
    format_addr((struct sockaddr *)&local, peer, sizeof(peer));
    struct registry_entry *e = xcalloc(1, sizeof(*e));
    e->module = m;
    e->peer = xstrdup(peer);
    e->host = xstrdup(host);
    e->user = user ? xstrdup(user) : NULL;
    e->password = password ? xstrdup(password) : NULL;
    e->client = xstrdup(c->client_addr);
    registry_add(e);
    c->origin = e;
    bufferevent_setcb(c->module, NULL, NULL, on_module_connected, c);
    bufferevent_setcb(c->client, on_splice_read, NULL, on_splice_event, c);
    bufferevent_enable(c->module, EV_READ | EV_WRITE);
    /* From here the module's own idle timeout governs the tunnel: a client-side read timeout
     * would cut a long download the client is silently receiving. */
    bufferevent_set_timeouts(c->client, NULL, NULL);
    return true;
}

/* ---- the header block ----------------------------------------------------------------------- */

/* Decode "Basic base64(user:password)" into two heap strings. */
static void parse_proxy_auth(const char *value, char **user, char **password)
{
    *user = *password = NULL;
    if (!value || !str_has_iprefix(value, "Basic "))
        return;
    value += 6;
    value += strspn(value, " ");
    struct arena *a = arena_new();
    unsigned char *raw;
    long n = base64_decode(a, value, strcspn(value, " \t"), &raw);
    if (n > 0) {
        char *colon = memchr(raw, ':', (size_t)n);
        if (colon) {
            *user = xstrndup((char *)raw, (size_t)(colon - (char *)raw));
            *password = xstrndup(colon + 1, (size_t)n - (size_t)(colon + 1 - (char *)raw));
        }
        memset(raw, 0, (size_t)n);
    }
    arena_free(a);
}

/* Split "host:port" / "[v6]:port"; returns false when the port is missing or not a number. */
static bool split_authority(const char *auth, size_t len, char *host, size_t hostlen, long *port)
{
    const char *colon;
    const char *h = auth;
    size_t hlen;
    if (len && auth[0] == '[') {
        const char *close = memchr(auth, ']', len);
        if (!close || close + 1 >= auth + len || close[1] != ':')
            return false;
        h = auth + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = memrchr(auth, ':', len);
        if (!colon)
            return false;
        hlen = (size_t)(colon - auth);
    }
    if (hlen == 0 || hlen >= hostlen)
        return false;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    const char *p = colon + 1, *end = auth + len;
    if (p == end || end - p > 5)
        return false;
    long v = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (*p - '0');
    }
    *port = v;
    return v > 0 && v < 65536;
}

/* The header named `name` in a header block, copied to the heap; NULL when absent. */
static char *find_header(const char *head, const char *name)
{
    size_t nlen = strlen(name);
    for (const char *line = strstr(head, "\r\n"); line && line[2];
         line = strstr(line + 2, "\r\n")) {
        const char *l = line + 2;
        if (strncasecmp(l, name, nlen) == 0 && l[nlen] == ':') {
            const char *v = l + nlen + 1;
            v += strspn(v, " \t");
            return xstrndup(v, strcspn(v, "\r\n"));
        }
    }
    return NULL;
}

/* The three steps above, for tests/fuzz/fuzz_http.c: handle_head needs a client connection,
 * these need none, so the fuzzer reaches the header-block parsing without sockets. */
bool frontdoor_split_authority(const char *auth, size_t len, char *host, size_t hostlen, long *port)
{
    return split_authority(auth, len, host, hostlen, port);
}

char *frontdoor_find_header(const char *head, const char *name)
{
    return find_header(head, name);
}

void frontdoor_parse_proxy_auth(const char *value, char **user, char **password)
{
    parse_proxy_auth(value, user, password);
}

static void answer_locally(struct fd_conn *c, const char *method, const char *target)
{
    const struct server_context *ctx = c->f->ctx;
    if (strcmp(method, "GET") == 0 && str_ieq(target, "/health")) {
        char body[160];
        snprintf(body, sizeof(body),
                 "{\"status\":\"Healthy\",\"module\":\"proxy\",\"version\":\"%s\"}", ctx->version);
        reply_and_close(c, 200, "OK", "application/json; charset=utf-8", body);
    } else if (strcmp(method, "GET") == 0 && str_ieq(target, "/azsim/ca.pem")) {
        reply_and_close(c, 200, "OK", "application/x-pem-file", ctx->ca_pem);
    } else {
        refuse(c, 400, "Bad Request",
               "This is azsim's front door, an HTTP proxy: send CONNECT host:443 or an "
               "absolute-form request such as GET http://169.254.169.254/metadata/...");
    }
}

static void handle_head(struct fd_conn *c, char *head, size_t head_len)
{
    /* Request line: METHOD SP TARGET SP HTTP/1.x */
    char *sp1 = strchr(head, ' ');
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    char *eol = strstr(head, "\r\n");
    if (!sp1 || !sp2 || !eol || sp2 > eol || strncmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
        (sp2[8] != '0' && sp2[8] != '1') || sp2 + 9 != eol) {
        refuse(c, 400, "Bad Request", "Malformed request line.");
        return;
    }
    *sp1 = '\0';
    *sp2 = '\0';
    const char *method = head, *target = sp1 + 1;
    char *auth = find_header(eol, "Proxy-Authorization");
    char *user, *password;
    parse_proxy_auth(auth, &user, &password);
    free(auth);
    char host[256];
    long port = 0;

    if (strcmp(method, "CONNECT") == 0) {
        if (!split_authority(target, strlen(target), host, sizeof(host), &port)) {
            refuse(c, 400, "Bad Request", "CONNECT needs host:port, got '%s'.", target);
        } else if (port != 443) {
            refuse(c, 403, "Forbidden", "azsim serves %s on port 443 only.", host);
        } else {
            const struct module *m = frontdoor_module_for_host(host);
            if (!m || m->tls == false) {
                refuse(c, 403, "Forbidden",
                       "azsim does not serve %s and never connects anywhere else.", host);
            } else if (open_tunnel(c, m, host, user, password)) {
                /* What follows the header block is the TLS handshake: it stays buffered and
                 * reaches the module once connected. */
                evbuffer_drain(bufferevent_get_input(c->client), head_len);
                evbuffer_add_printf(bufferevent_get_output(c->client),
                                    "HTTP/1.1 200 Connection Established\r\n\r\n");
            }
        }
    } else if (str_has_iprefix(target, "http://")) {
        const char *auth_start = target + 7;
        size_t alen = strcspn(auth_start, "/?#");
        bool ok = true;
        if (memchr(auth_start, ':', alen) || (alen && auth_start[0] == '[')) {
            ok = split_authority(auth_start, alen, host, sizeof(host), &port) && port == 80;
        } else if (alen > 0 && alen < sizeof(host)) {
            memcpy(host, auth_start, alen);
            host[alen] = '\0';
        } else {
            ok = false;
        }
        const struct module *m = ok ? frontdoor_module_for_host(host) : NULL;
        if (!m || m->tls) {
            refuse(c, 403, "Forbidden",
                   "azsim does not serve %.*s over http and never connects anywhere else.",
                   (int)alen, auth_start);
        } else {
            /* The request itself goes to the module as it came: leave it in the buffer. */
            open_tunnel(c, m, host, user, password);
        }
    } else if (target[0] == '/') {
        answer_locally(c, method, target);
    } else {
        refuse(c, 400, "Bad Request", "Unsupported request target.");
    }
    free(user);
    if (password) {
        memset(password, 0, strlen(password));
        free(password);
    }
}

static void on_client_head(struct bufferevent *bev, void *arg)
{
    struct fd_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    /* A TLS handshake record (0x16) here means a client configured with an https:// proxy URL;
     * it would never send a header block, so say so at once. */
    unsigned char first;
    if (evbuffer_copyout(in, &first, 1) == 1 && first == 0x16) {
        refuse(c, 400, "Bad Request",
               "azsim's front door speaks plain HTTP: use http:// in HTTPS_PROXY.");
        return;
    }
    struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    if (end.pos < 0) {
        /* The idle timeout restarts with every byte: a client trickling its header block would
         * hold the connection for ever. */
        if (clock_mono_ms() - c->accepted_ms > (int64_t)c->f->cfg->idle_timeout * 1000)
            refuse(c, 408, "Request Timeout", "The header block took over %d seconds.",
                   c->f->cfg->idle_timeout);
        else if (evbuffer_get_length(in) > MAX_HEAD)
            refuse(c, 431, "Request Header Fields Too Large", "The header block is over %d bytes.",
                   MAX_HEAD);
        return;
    }
    size_t head_len = (size_t)end.pos + 4;
    if (head_len > MAX_HEAD) {
        refuse(c, 431, "Request Header Fields Too Large", "The header block is over %d bytes.",
               MAX_HEAD);
        return;
    }
    char *head = xmalloc(head_len + 1);
    evbuffer_copyout(in, head, head_len);
    head[head_len] = '\0';
    if (memchr(head, '\0', head_len)) {
        refuse(c, 400, "Bad Request", "NUL byte in the header block.");
    } else {
        handle_head(c, head, head_len);
    }
    free(head);
}

static void on_client_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    (void)what;
    conn_free(arg); /* closed, timed out or failed before a full header block */
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg)
{
    (void)l;
    (void)len;
    struct frontdoor *f = arg;
    struct fd_conn *c = xcalloc(1, sizeof(*c));
    c->f = f;
    c->accepted_ms = clock_mono_ms();
    format_addr(sa, c->client_addr, sizeof(c->client_addr));
    c->client = bufferevent_socket_new(f->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!c->client) {
        evutil_closesocket(fd);
        free(c);
        return;
    }
    c->next = f->conns;
    if (f->conns)
        f->conns->prev = c;
    f->conns = c;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct timeval idle = {f->cfg->idle_timeout, 0};
    bufferevent_set_timeouts(c->client, &idle, NULL);
    bufferevent_setcb(c->client, on_client_head, NULL, on_client_event, c);
    bufferevent_enable(c->client, EV_READ);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct frontdoor *f = arg;
    while (f->conns)
        conn_free(f->conns);
    event_base_loopbreak(f->base);
}

static void *frontdoor_main(void *arg)
{
    struct frontdoor *f = arg;
    event_base_dispatch(f->base);
    return NULL;
}

int frontdoor_create(const struct azsim_config *cfg, const struct server_context *ctx,
                     const struct server *srv, struct frontdoor **out)
{
    /* For frontdoor_stop_accepting() and frontdoor_stop(), called from the main thread. */
    evthread_use_pthreads();
    struct frontdoor *f = xcalloc(1, sizeof(*f));
    *out = f;
    f->cfg = cfg;
    f->ctx = ctx;
    f->srv = srv;
    f->base = event_base_new();
    f->stop_ev = f->base ? event_new(f->base, -1, 0, on_stop, f) : NULL;
    if (!f->stop_ev)
        return AZ_EIO;

    struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC,
                                    .ai_socktype = SOCK_STREAM,
                                    .ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_NUMERICHOST};
    struct evutil_addrinfo *ai = NULL;
    char port[8];
    snprintf(port, sizeof(port), "%d", cfg->proxy_port);
    if (evutil_getaddrinfo(cfg->bind, port, &hints, &ai) != 0 || !ai) {
        LOG_ERROR("proxy", "cannot resolve bind address %s", cfg->bind);
        return AZ_EIO;
    }
    f->listener = evconnlistener_new_bind(f->base, on_accept, f,
                                          LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                              LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_THREADSAFE,
                                          128, ai->ai_addr, (int)ai->ai_addrlen);
    evutil_freeaddrinfo(ai);
    if (!f->listener) {
        LOG_ERROR("proxy", "cannot listen on %s port %d: %s", cfg->bind, cfg->proxy_port,
                  strerror(errno));
        return AZ_EIO;
    }
    f->accept_guard = server_accept_guard_new(f->listener, f->base, "proxy");
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    getsockname(evconnlistener_get_fd(f->listener), (struct sockaddr *)&ss, &sslen);
    server_format_url(f->url, sizeof(f->url), "http", cfg->bind, (struct sockaddr *)&ss);
    return 0;
}

const char *frontdoor_url(const struct frontdoor *f)
{
    return f->url;
}

int frontdoor_start(struct frontdoor *f)
{
    if (pthread_create(&f->thread, NULL, frontdoor_main, f) != 0)
        return AZ_EIO;
    f->thread_started = true;
    return 0;
}

void frontdoor_stop_accepting(struct frontdoor *f)
{
    if (f && f->listener) {
        server_accept_guard_close(f->accept_guard); /* else a pause ending would re-enable it */
        evconnlistener_disable(f->listener);
    }
}

void frontdoor_stop(struct frontdoor *f)
{
    if (!f || !f->thread_started)
        return;
    event_active(f->stop_ev, 0, 0);
    pthread_join(f->thread, NULL);
    f->thread_started = false;
}

void frontdoor_free(struct frontdoor *f)
{
    if (!f)
        return;
    while (f->conns)
        conn_free(f->conns);
    server_accept_guard_free(f->accept_guard);
    if (f->listener)
        evconnlistener_free(f->listener);
    if (f->stop_ev)
        event_free(f->stop_ev);
    if (f->base)
        event_base_free(f->base);
    free(f);
}
