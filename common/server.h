/*
 * server.h — the HTTP server: one listener, one libevent loop and one thread per module.
 *
 * server_create() binds every configured module's port (so a busy port fails the start and port 0
 * resolves before anything is printed) and opens each module's own store connection;
 * server_start() runs the loops; server_stop() stops accepting, lets requests already being
 * answered finish (at most SERVER_DRAIN_MS), and joins the threads.
 */
#ifndef AZSIM_SERVER_H
#define AZSIM_SERVER_H

#include <sys/socket.h>

#include "config.h"
#include "module.h"
#include "store.h"

#define SERVER_DRAIN_MS 5000

/* Process-wide facts handlers may need; owned by main, outliving the server. */
struct server_context {
    const char *version;
    const char *ca_pem;             /* the CA certificate, served at /azsim/ca.pem */
    const char *data_dir;           /* where modules keep files (blob content) */
    const char *urls[MODULE_COUNT]; /* each listener's base URL (NULL if not run), for documents
                                       that name azsim's own endpoints */
};

struct server;
struct tls;

int server_create(const struct azsim_config *cfg, const struct server_context *ctx,
                  const struct store_location *store_loc, struct tls *tls, struct server **out);
/* The base URL module `id` listens on ("https://127.0.0.1:4701"), or NULL when it is not run. */
const char *server_url(const struct server *s, enum module_id id);
/*
 * The address to connect to for module `m` (the bound address, with a wildcard bind replaced by
 * loopback). Returns 0, or AZ_ENOTFOUND when the module is not run.
 */
int server_connect_address(const struct server *s, const struct module *m, struct sockaddr *sa,
                           socklen_t *len);
/* "scheme://host:port" for a listener bound to `bind` whose socket address is `sa`. */
void server_format_url(char *out, size_t outlen, const char *scheme, const char *bind,
                       const struct sockaddr *sa);
/*
 * Out of descriptors (EMFILE, ENFILE) accept() fails and leaves the connection queued, so the
 * listening socket stays readable: libevent would retry at once, forever, warning each time (a
 * million lines in seven seconds, a core at 100%). The guard installed on `lev` (which must live
 * on `base`) pauses accepting for a moment instead, says so at most every ten seconds, and tries
 * again; queued clients are served once descriptors are free. server_accept_guard_close() stops
 * it for good and disables `lev` (from any thread); free the guard after the loop has stopped.
 */
struct evconnlistener;
struct event_base;
struct accept_guard *server_accept_guard_new(struct evconnlistener *lev, struct event_base *base,
                                             const char *name);
void server_accept_guard_close(struct accept_guard *g);
void server_accept_guard_free(struct accept_guard *g);
int server_start(struct server *s);
void server_stop(struct server *s);
void server_free(struct server *s);

#endif
