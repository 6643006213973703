/*
 * imds/imds.h — what the Instance Metadata Service's files share.
 */
#ifndef AZSIM_IMDS_H
#define AZSIM_IMDS_H

#include "common/http.h"

struct json;
struct http_client;

/* Per IMDS thread (module_state): the client it reaches AAD with, and its snapshot. */
struct imds_state;
struct http_client *imds_http_client(struct http_request *req);
/* The cached IMDS answer for `key` while it has more than the refresh margin left (with its
 * expiry in *expires_on), or NULL. */
const char *imds_cache_get(struct http_request *req, const char *key, int64_t *expires_on);
void imds_cache_put(struct http_request *req, const char *key, const char *answer,
                    int64_t expires_on);

/*
 * The snapshot: each IMDS thread remembers the answers it gave, by request key
 * (imds_token_request_key), for as long as the store stays as it was when the request arrived,
 * and the token has more than the refresh margin left. A repeat request is answered from it
 * without looking up the VM or its identity: any commit by anyone (a detach through ARM, a VM
 * deleted, `azsim apply` from another process) makes the next request look them up again.
 */
struct imds_snapshot_ref {
    const char *key; /* the request key, in the request's arena */
    size_t len;
    int64_t version; /* the store's version when the request arrived; -1: not remembered */
};
/* The answer to a repeat of this request (*len bytes, valid until the thread's next
 * imds_snapshot_put), or NULL; either way `ref` is filled for imds_snapshot_put. Call it only
 * once the request passed every check, and before anything is looked up in the store. */
const char *imds_snapshot_get(struct http_request *req, struct imds_snapshot_ref *ref, size_t *len);
/* Remember `answer` (copied), found for the request that filled `ref`. */
void imds_snapshot_put(struct http_request *req, const struct imds_snapshot_ref *ref,
                       const char *answer, int64_t expires_on);

/* The VM a request comes from (DESIGN §4), with its stored resource. */
struct imds_vm {
    const char *id;              /* its ARM id */
    const struct json *resource; /* the whole resource; NULL unless asked for */
};

/* One of a VM's managed identities. */
struct imds_identity {
    const char *client_id;
    const char *principal_id;
    const char *tenant_id;
    const char *resource_id; /* the user-assigned identity's id, or the VM's (system-assigned) */
};

/* Which VM is asking: by the per-VM path secret, the front door's proxy credentials, or the
 * connection's source address; with its whole resource when `whole`. 0, or AZ_ENOTFOUND for a
 * caller bound to no VM. */
int imds_find_vm(struct http_request *req, bool whole, struct imds_vm *out);

/* ARM resource `id` as stored, living as long as the request; NULL if there is none. */
const struct json *imds_load_resource(struct http_request *req, const char *id);

/* What a token request's answer depends on besides the store: who is asking (as imds_find_vm
 * tells, by secret or by source address), the identity selectors as given and the resource.
 * Bytes, *len long, in the request's arena; NULL when the caller cannot be told. */
const char *imds_token_request_key(struct http_request *req, size_t *len);

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
