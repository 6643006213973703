/*
 * client.h — a minimal blocking HTTP/1.1 GET, for the command-line side of azsim (`azsim health`)
 * where an event loop would be overkill. Not for use inside module threads.
 */
#ifndef AZSIM_CLIENT_H
#define AZSIM_CLIENT_H

#include "mem.h"

/*
 * GET `url` ("http://host:port/path" or "https://…"), trusting only `ca_file` for https and
 * checking the host name. Waits at most `timeout_ms` for each step. On success returns 0 with
 * the status in *status and the body in `body`; otherwise AZ_EIO or AZ_ETLS.
 */
int client_get(const char *url, const char *ca_file, int timeout_ms, int *status, struct buf *body);

#endif
