/*
 * http_client.h — HTTPS requests made from inside a module's event loop, answered by callback:
 * how IMDS signs in to AAD as an identity (DESIGN §1 step 6) without blocking its thread.
 *
 * Connections are kept open and reused: a new TLS connection to AAD was about 1.5 ms of the 5 ms
 * an IMDS sign-in took here. Servers are verified against azsim's CA, by host name or IP address.
 */
#ifndef AZSIM_HTTP_CLIENT_H
#define AZSIM_HTTP_CLIENT_H

#include <stddef.h>

struct event_base;
struct http_client;

/* `ca_pem`: the certificates trusted for servers. NULL if they do not load. Made on the thread
 * that runs `base`, one per thread; its connections are closed when that thread ends, and it is
 * freed on that thread or after it ended. */
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
 * is called exactly once, from the event loop (before this returns if the connection fails at
 * once). A request that finds a kept-open connection closed by the server is sent again on a
 * new one. Returns 0, or an error (AZ_EINVAL for a URL it cannot use) and `done` is not called.
 */
int http_client_post_form(struct http_client *c, const char *url, const char *body, int timeout_s,
                          http_client_done done, void *arg);

#endif
