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

/* ---- Microsoft Graph (graph.c, graph_applications.c) ---- */

struct json;
struct json_writer;
struct store_stmt;

/* The bearer token for Graph, or a failed request (401 InvalidAuthenticationToken). */
int aad_graph_authenticate(struct http_request *req);
/* May the authenticated caller change applications and service principals (`action`, Entra's
 * name, for the audit log)? 0, or a failed request (403 Authorization_RequestDenied). */
int aad_graph_authorize_write(struct http_request *req, const char *action);
/* The request body as a JSON object (arena-owned), or a failed request (400 BadRequest). */
int aad_graph_body(struct http_request *req, const struct json **out);
/* The {id} path parameter when it is a GUID, else NULL after failing the request (400). */
const char *aad_graph_object_id(struct http_request *req);
/* Graph's 404 Request_ResourceNotFound for `id`. */
int aad_graph_not_found(struct http_request *req, const char *id);
/* "keyCredentials": the certificate credentials of `app_id`, without key material. */
void aad_graph_write_key_credentials(struct http_request *req, struct json_writer *w,
                                     const char *app_id);

/* A property $filter may name: `column` is the SQL column for `eq` and `startswith` (NULL: not
 * allowed), `any` the SQL condition for `<property>/any(x:x eq '…')` with '#' where the
 * parameter number goes (NULL: not a collection). */
struct graph_filter_field {
    const char *property;
    const char *column;
    const char *any;
};

/* The statement listing the caller's tenant's objects of `resource` ("Application") that match
 * the request's $filter over `fields`: `query` is a SELECT whose WHERE clause is the tenant
 * condition on ?1, `order` its ORDER BY. 0 with *st prepared and bound, or a failed request
 * (400 Request_UnsupportedQuery for a filter azsim does not understand). */
int aad_graph_list(struct http_request *req, const char *resource,
                   const struct graph_filter_field *fields, const char *query, const char *order,
                   struct store_stmt **st);
/* Reply 200 {"@odata.context": "…#<context>", "value": [...]} with one entry per row of `st`,
 * written by `write`; `st` is finalized. */
int aad_graph_reply_list(struct http_request *req, struct store_stmt *st, const char *context,
                         void (*write)(struct http_request *req, struct json_writer *w,
                                       struct store_stmt *st));
/* The object `object_id` of the caller's tenant: `query` selects it by ?1 (the object id) and ?2
 * (the tenant). 0 with *st on its row (the caller finalizes), or a failed request (404 in
 * Graph's words, or 500). */
int aad_graph_find_entity(struct http_request *req, const char *query, const char *object_id,
                          struct store_stmt **st);
/* Fail the request: the directory could not be read or written (500). */
int aad_graph_store_failed(struct http_request *req);

int aad_graph_get_by_ids(struct http_request *req); /* POST /v1.0/directoryObjects/getByIds */
int aad_graph_me(struct http_request *req);         /* GET /v1.0/me */
int aad_graph_users(struct http_request *req);      /* GET /v1.0/users */
int aad_graph_service_principals(struct http_request *req);       /* GET /v1.0/servicePrincipals */
int aad_graph_service_principal_create(struct http_request *req); /* POST /servicePrincipals */
int aad_graph_service_principal_get(struct http_request *req);    /* GET …/{id} */
int aad_graph_service_principal_delete(struct http_request *req); /* DELETE …/{id} */
int aad_graph_applications(struct http_request *req);             /* GET /v1.0/applications */
int aad_graph_application_create(struct http_request *req);       /* POST /v1.0/applications */
int aad_graph_application_get(struct http_request *req);          /* GET …/{id} */
int aad_graph_application_update(struct http_request *req);       /* PATCH …/{id} */
int aad_graph_application_delete(struct http_request *req);       /* DELETE …/{id} */
int aad_graph_application_add_password(struct http_request *req); /* POST …/addPassword */
int aad_graph_application_remove_password(struct http_request *req); /* POST …/removePassword */
int aad_token(struct http_request *req);    /* POST /{tenant}/oauth2/v2.0/token */
int aad_token_v1(struct http_request *req); /* POST /{tenant}/oauth2/token */

#endif
