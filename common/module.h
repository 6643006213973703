/*
 * module.h — what a service module is: one descriptor with its name, how it listens, how it
 * renders errors and its route table. The server (server.c) starts one thread and listener per
 * descriptor; the dispatcher (http.c) does routing and error rendering for every module alike.
 */
#ifndef AZSIM_MODULE_H
#define AZSIM_MODULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "router.h"

struct http_request;
struct store;

enum module_id {
    MODULE_ARM,
    MODULE_AAD,
    MODULE_IMDS,
    MODULE_KEYVAULT,
    MODULE_STORAGE,
    MODULE_AZURITE, /* Blob Storage again, plain http on Azurite's port */
    MODULE_COUNT
};

/*
 * Turns an error into the service's wire format and replies with it. `code` is the Azure error
 * code ("ResourceNotFound", "invalid_request", "BlobNotFound"), `message` the human text.
 */
typedef void (*module_error_renderer)(struct http_request *req, int status, const char *code,
                                      const char *message);

struct module {
    const char *name;  /* "arm", "keyvault": flags, logs and /health use it */
    const char *title; /* "Azure Resource Manager" for the help text */
    bool tls;          /* HTTPS listener (all but IMDS, plain HTTP in Azure, and Azurite's) */
    uint16_t default_port;
    size_t max_body; /* request bodies above this get 413 */
    /* Bodies of HTTP_BODY_PIECES_MIN or more stay where the server received them: handlers see
     * them as req->body_pieces, and read them through http_body() when they need one piece. */
    bool body_pieces;
    module_error_renderer render_error;
    const struct route *routes;
    size_t nroutes;
    /* Run by the dispatcher before any of the module's own routes (not /health): replies and
     * returns non-zero to refuse the request. NULL: no authentication. */
    int (*authenticate)(struct http_request *req);
    /* State a module keeps per thread (caches), made with the thread's store connection and
     * handed to handlers as req->module_state. Both NULL for stateless modules. */
    void *(*state_new)(struct store *s);
    void (*state_free)(void *state);
};

extern const struct module arm_module;
extern const struct module aad_module;
extern const struct module imds_module;
extern const struct module keyvault_module;
extern const struct module storage_module;
extern const struct module azurite_module;

/* All modules, indexed by enum module_id. */
extern const struct module *const modules[MODULE_COUNT];

/* The module called `name` (case-insensitive), or NULL. */
const struct module *module_by_name(const char *name);

#endif
