/*
 * imds/imds.h — what the Instance Metadata Service's files share.
 */
#ifndef AZSIM_IMDS_H
#define AZSIM_IMDS_H

#include "common/http.h"

struct json;
struct http_client;

/* Per IMDS thread (module_state): the client it reaches AAD with, and its token cache. */
struct imds_state;
struct http_client *imds_http_client(struct http_request *req);
/* The cached IMDS answer for `key` while it has more than the refresh margin left, or NULL. */
const char *imds_cache_get(struct http_request *req, const char *key);
void imds_cache_put(struct http_request *req, const char *key, const char *answer,
                    int64_t expires_on);

/* The VM a request comes from (DESIGN §4), with its stored resource. */
struct imds_vm {
    const char *id;                /* its ARM id */
    const struct json *resource;   /* the whole resource; NULL unless asked for */
    const struct json *identities; /* its "identity" block */
};

/* One of a VM's managed identities. */
struct imds_identity {
    const char *client_id;
    const char *principal_id;
    const char *tenant_id;
    const char *resource_id; /* the user-assigned identity's id, or the VM's (system-assigned) */
};

/* Which VM is asking: by the per-VM path secret, the front door's proxy credentials, or the
 * connection's source address; with its whole resource when `whole`, else its identities only.
 * 0, or AZ_ENOTFOUND for a caller bound to no VM. */
int imds_find_vm(struct http_request *req, bool whole, struct imds_vm *out);

/* ARM resource `id` as stored, living as long as the request; NULL if there is none. */
const struct json *imds_load_resource(struct http_request *req, const char *id);

/* The identity the token request selects on `vm` (client_id, object_id, msi_res_id/mi_res_id,
 * or none: the system-assigned one, or the only user-assigned one). 0, or the request failed
 * with IMDS's 400. */
int imds_select_identity(struct http_request *req, const struct imds_vm *vm,
                         struct imds_identity *out);

/* IMDS's error answer: {"error","error_description"}, always JSON, never a status a client
 * retries for seconds. */
int imds_fail(struct http_request *req, int status, const char *error, const char *description);

/* IMDS rejects requests that repeat a query parameter. */
bool imds_duplicate_query(const struct http_request *req);

/* The checks a token request passes before anything is looked up (X-Forwarded-For, Metadata,
 * duplicate parameters, api-version, resource): 0, or the request failed with IMDS's 400.
 * Exposed, with imds_find_vm and imds_select_identity, so the fuzzer (tests/fuzz/fuzz_imds.c)
 * runs a token request up to the sign-in to Entra ID, which needs the server's event loop. */
int imds_check_token_request(struct http_request *req);

int imds_get_token(struct http_request *req);
int imds_get_instance(struct http_request *req);
int imds_get_versions(struct http_request *req);

#endif
