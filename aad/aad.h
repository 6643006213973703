/*
 * aad/aad.h — what the Entra ID module's files share. Handlers are named after the endpoint.
 */
#ifndef AZSIM_AAD_H
#define AZSIM_AAD_H

#include "aad/directory.h"
#include "common/http.h"

struct token_key;

/* The tenant a path's first segment names: a GUID or a domain, or the default tenant for "adfs".
 * "organizations" and "common" name no tenant: *multi is set and `out` left empty, for the
 * caller to decide (a user's home tenant). Fails the request with AADSTS90002 when unknown. */
int aad_resolve_tenant(struct http_request *req, struct aad_tenant *out, bool *multi);

/* Fail with Entra's error shape: `error` (invalid_client, …), the AADSTS code and a message. */
int aad_fail(struct http_request *req, int status, const char *error, int aadsts, const char *fmt,
             ...) __attribute__((format(printf, 5, 6)));

/* The active signing key, cached in the thread's module state; NULL (logged) when there is none. */
const struct token_key *aad_signing_key(struct http_request *req);

/* "https://<Host>" for URLs in discovery documents: same scheme, host and port as the request. */
const char *aad_base_url(struct http_request *req);

/* Errors in Graph's shape under /v1.0 and /beta, Entra's OAuth shape elsewhere. */
void aad_render_error(struct http_request *req, int status, const char *code, const char *message);

int aad_graph_get_by_ids(struct http_request *req); /* POST /v1.0/directoryObjects/getByIds */
int aad_graph_me(struct http_request *req);         /* GET /v1.0/me */
int aad_graph_users(struct http_request *req);      /* GET /v1.0/users */
int aad_graph_service_principals(struct http_request *req); /* GET /v1.0/servicePrincipals */
int aad_token(struct http_request *req);                    /* POST /{tenant}/oauth2/v2.0/token */
int aad_token_v1(struct http_request *req);                 /* POST /{tenant}/oauth2/token */

#endif
