/*
 * http_client.h — HTTPS requests made from inside a module's event loop, answered by callback:
 * how IMDS signs in to AAD as an identity (DESIGN §1 step 6) without blocking its thread.
 *
 * Each request gets its own connection (TLS to a local listener costs well under a millisecond,
 * and IMDS only asks on a cache miss). Servers are verified against azsim's CA, by host name or
 * IP address.
 */
#ifndef AZSIM_HTTP_CLIENT_H
#define AZSIM_HTTP_CLIENT_H

#include <stddef.h>

struct event_base;
struct http_client;

/* `ca_pem`: the certificates trusted for servers. NULL if they do not load. */
struct http_client *http_client_new(struct event_base *base, const char *ca_pem);
void http_client_free(struct http_client *c);

struct http_client_response {
    int status;       /* 0: no answer (connection, TLS or timeout) */
    const char *body; /* NUL-terminated; valid during the callback only */
    size_t len;
};

typedef void (*http_client_done)(void *arg, const struct http_client_response *r);

/*
 * POST `body` as application/x-www-form-urlencoded to `url` ("https://host:port/path"); `done`
 * is called exactly once, later, from the event loop. Returns 0, or AZ_EINVAL for a URL it
 * cannot use (then `done` is not called).
 */
int http_client_post_form(struct http_client *c, const char *url, const char *body, int timeout_s,
                          http_client_done done, void *arg);

#endif
