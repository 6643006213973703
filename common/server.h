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
int server_start(struct server *s);
void server_stop(struct server *s);
void server_free(struct server *s);

#endif
