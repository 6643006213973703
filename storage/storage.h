/*
 * storage/storage.h — what the Blob service's files share: the request as Blob Storage reads it
 * (account, container, blob) and who may do what.
 */
#ifndef AZSIM_STORAGE_H
#define AZSIM_STORAGE_H

#include "common/http.h"

#include <stdbool.h>
#include <stdint.h>

struct buf;

/* A request, as storage.c resolved it before any operation runs. */
struct blob_request {
    const char *account;            /* the account's name */
    const char *account_id;         /* its ARM id: the RBAC scope above containers */
    const char *container;          /* NULL for service operations */
    const char *blob;               /* NULL for container operations */
    const char *endpoint;           /* "https://<host>[/<account>]": where names are listed from */
    const char *tenant;             /* the tenant of the account's subscription */
    bool bearer;                    /* authenticated with an Entra ID token: RBAC decides */
    bool anonymous;                 /* no credentials: only public containers' reads */
    bool allow_public;              /* the account's allowBlobPublicAccess */
    const char *sas_permissions;    /* a SAS's sp, when the request carries a valid one */
    const char *sas_resource_types; /* an account SAS's srt; NULL for a service SAS */
};

const struct blob_request *blob_request(const struct http_request *req);

/*
 * May the caller do data action (blob operations) or action (container operations) `action`
 * ("…/containers/blobs/read") on the request's container or blob? Shared Key callers may do
 * anything; bearer callers as RBAC decides at the container's scope (audited); anonymous callers
 * only read what a public container shows (`listing`: the container's blob list). 0, or the
 * request failed (403 AuthorizationPermissionMismatch, 404 for hidden anonymous reads).
 */
int blob_authorize(struct http_request *req, bool data_action, const char *action, bool listing);

/* A SAS in the query (sas.c): its signature, window, address and scope checked, its
 * permissions kept in `b` for blob_check_sas_permission. 0, or the request failed (403). */
int blob_check_sas(struct http_request *req, struct blob_request *b);
int blob_check_sas_permission(struct http_request *req, const char *action, bool listing);

/* The container's public access level (NULL private, "blob", "container"); AZ_ENOTFOUND when
 * there is no such container. */
int blob_container_access(struct http_request *req, const char **access);

/* Leases (leases.c). PUT ?comp=lease on a blob or a container; the check every write of a
 * leased blob or container passes (412 without its lease id); the lease as GET/HEAD headers and
 * as a listing's XML, from the row's lease columns. */
int blob_lease(struct http_request *req);
int blob_lease_check(struct http_request *req);
void blob_lease_headers(struct http_request *req, const char *id, int64_t duration, int64_t ends,
                        bool broken);
void blob_lease_xml(struct buf *x, const char *id, int64_t duration, int64_t ends, bool broken);

/* Operations (blobs.c), chosen by storage.c from the method, restype and comp. */
int blob_list_containers(struct http_request *req);
int blob_create_container(struct http_request *req);
int blob_delete_container(struct http_request *req);
int blob_get_container(struct http_request *req);
int blob_set_container_metadata(struct http_request *req);
int blob_list_blobs(struct http_request *req);
int blob_put(struct http_request *req);
int blob_put_block(struct http_request *req);
int blob_put_block_list(struct http_request *req);
int blob_get(struct http_request *req);
int blob_delete(struct http_request *req);
int blob_set_metadata(struct http_request *req);
int blob_get_metadata(struct http_request *req);
int blob_set_properties(struct http_request *req);

#endif
