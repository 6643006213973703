/*
 * frontdoor.h — the front door: a plain-HTTP proxy port that never forwards anywhere.
 *
 * With HTTPS_PROXY/HTTP_PROXY pointing here and azsim's CA trusted, unmodified apps and the Azure
 * CLI reach azsim under the real Azure host names (contracts/proxy.md):
 *   - `CONNECT login.microsoftonline.com:443` is answered `200 Connection Established` and the
 *     tunnel is spliced to the module serving that host (aad), whose TLS listener picks the
 *     certificate by SNI. Bytes that arrive with the CONNECT header (an early ClientHello) are
 *     passed on, not lost.
 *   - absolute-form `GET http://169.254.169.254/metadata/…` goes to imds.
 *   - origin-form `GET /health` and `GET /azsim/ca.pem` are answered by the front door itself.
 *   - anything else gets a clear 4xx: azsim is not an open proxy and never connects outside.
 *
 * The module behind a tunnel learns that a request came through the front door, and with which
 * proxy credentials, from frontdoor_origin_lookup(): the front door records each connection it
 * opens to a module under the connection's local address, which the module sees as the peer.
 * Nothing a client sends can create such a record, so it cannot be forged.
 */
#ifndef AZSIM_FRONTDOOR_H
#define AZSIM_FRONTDOOR_H

#include <stdbool.h>

#include "config.h"
#include "module.h"

struct arena;
struct server;
struct server_context;
struct frontdoor;

/* What the front door knew about a connection it handed to a module. */
struct frontdoor_origin {
    const char *host;           /* the CONNECT host, or the absolute-form request's host */
    const char *proxy_user;     /* from Proxy-Authorization: Basic, or NULL */
    const char *proxy_password; /* likewise; never log it */
    const char *client;         /* "address:port" of the client at the front door */
};

/* Bind the proxy port. Returns 0 or AZ_EIO. */
int frontdoor_create(const struct azsim_config *cfg, const struct server_context *ctx,
                     const struct server *srv, struct frontdoor **out);
const char *frontdoor_url(const struct frontdoor *f);
int frontdoor_start(struct frontdoor *f);
/* Stop accepting new clients; tunnels already open keep flowing. */
void frontdoor_stop_accepting(struct frontdoor *f);
/* Close every tunnel and join the thread. */
void frontdoor_stop(struct frontdoor *f);
void frontdoor_free(struct frontdoor *f);

/*
 * If the connection from `peer` ("127.0.0.1:51234", as the module sees it) to module `m` was
 * opened by the front door, copy its origin into `out` (strings in `a`) and return true.
 */
bool frontdoor_origin_lookup(const struct module *m, const char *peer, struct arena *a,
                             struct frontdoor_origin *out);

/* The module that serves `host` behind the front door, or NULL. */
const struct module *frontdoor_module_for_host(const char *host);

/*
 * The header-block parsing of a CONNECT or absolute-form request, exposed so the fuzzer
 * (tests/fuzz/fuzz_http.c) reaches it without a connection. Split "host:port" or "[v6]:port"
 * (`len` bytes of `auth`) into `host` (NUL-terminated, under `hostlen` bytes) and *port: false
 * when malformed. The value of header `name` in a header block after its first line (a heap
 * string), or NULL. "Basic base64(user:password)" into two heap strings, both NULL otherwise.
 */
bool frontdoor_split_authority(const char *auth, size_t len, char *host, size_t hostlen,
                               long *port);
char *frontdoor_find_header(const char *head, const char *name);
void frontdoor_parse_proxy_auth(const char *value, char **user, char **password);

#endif
