/*
 * router.h — route tables and path matching.
 *
 * A module's routes are one table, one line per Azure operation:
 *     {HTTP_GET, "/subscriptions/{subscriptionId}", arm_get_subscription,
 *      "Subscriptions_Get", "Microsoft.Resources/subscriptions/read"},
 * Patterns are '/'-separated segments: literals match case-insensitively (Azure paths are),
 * `{name}` captures one segment, and `{name*}` captures several, slashes included: at the end,
 * the rest of the path (a blob name, at least one segment); in the middle, whatever the
 * segments after it leave (an ARM scope before /providers/Microsoft.Authorization/…, possibly
 * empty). One `{name*}` per pattern. Empty segments — a trailing '/' or a doubled '//' — are
 * ignored, as the real front ends do. Each captured value is percent-decoded on its own, so an
 * encoded "%2F" stays inside its segment. The first matching line wins: put literal routes before
 * parametrised ones that would also match.
 */
#ifndef AZSIM_ROUTER_H
#define AZSIM_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

struct arena;
struct http_request;

enum http_method {
    HTTP_GET = 1 << 0,
    HTTP_HEAD = 1 << 1,
    HTTP_POST = 1 << 2,
    HTTP_PUT = 1 << 3,
    HTTP_PATCH = 1 << 4,
    HTTP_DELETE = 1 << 5,
    HTTP_OPTIONS = 1 << 6,
};

const char *http_method_name(enum http_method m);

/* A handler replies through http_reply*() and returns 0, or returns the result of http_fail(). */
typedef int (*http_handler)(struct http_request *req);

enum route_flags {
    ROUTE_PUBLIC = 1 << 0,     /* answered without authentication (health, discovery) */
    ROUTE_COLLECTION = 1 << 1, /* lists a collection: authorized at the scope that holds it */
};

struct route {
    enum http_method method;
    const char *pattern;
    http_handler handler;
    const char *operation_id; /* the Azure REST operationId, e.g. "Secrets_SetSecret" */
    const char *rbac_action;  /* the action RBAC checks, or NULL where none applies */
    unsigned flags;           /* enum route_flags */
};

#define ROUTER_MAX_PARAMS 12

struct route_param {
    const char *name; /* points into the pattern; not NUL-terminated at name_len */
    size_t name_len;
    const char *value; /* decoded, NUL-terminated, in the request arena */
};

struct route_match {
    const struct route *route;
    size_t nparams;
    struct route_param params[ROUTER_MAX_PARAMS];
};

enum router_result {
    ROUTER_FOUND = 0,
    ROUTER_NOT_FOUND = -1,  /* no pattern matches the path: 404 */
    ROUTER_BAD_METHOD = -2, /* a pattern matches, not with this method: 405 */
    ROUTER_BAD_PATH = -3,   /* invalid percent-encoding or not UTF-8: 400 */
};

/*
 * Match `method` and the raw (still percent-encoded) `path` against `routes[0..n)`. Captured
 * values are allocated from `a`. On ROUTER_BAD_METHOD, *allowed (if given) gets the methods the
 * path does accept, for the Allow header.
 */
enum router_result router_match(const struct route *routes, size_t n, enum http_method method,
                                const char *path, struct arena *a, struct route_match *out,
                                unsigned *allowed);

/* The value of a captured parameter, matched case-insensitively by name; NULL if absent. */
const char *route_match_param(const struct route_match *m, const char *name);

#endif
