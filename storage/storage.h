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
struct store;

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
    bool shared_key;                /* the account's allowSharedKeyAccess */
    const char *sas_permissions;    /* a SAS's sp, when the request carries a valid one */
    const char *sas_resource_types; /* an account SAS's srt; NULL for a service SAS */
    const char *delegator;          /* a user delegation SAS's signer (skoid): RBAC decides too */
    const char *keys[2];            /* the account's keys (base64), read with the account */
    bool snapshot;                  /* reading the store in one transaction (storage.c) */
};

const struct blob_request *blob_request(const struct http_request *req);
/* End the transaction some requests read the store in from their authentication on (see
 * storage.c): before their first write, and after their operation. Again, it does nothing. */
void blob_end_snapshot(struct http_request *req);

/*
 * May the caller do data action (blob operations) or action (container operations) `action`
 * ("…/containers/blobs/read") on the request's container or blob? Shared Key callers may do
 * anything; bearer callers as RBAC decides at the container's scope (audited); anonymous callers
 * only read what a public container shows (`listing`: the container's blob list). 0, or the
 * request failed (403 AuthorizationPermissionMismatch, 404 for hidden anonymous reads).
 */
int blob_authorize(struct http_request *req, bool data_action, const char *action, bool listing);
/* 401 NoAuthenticationInformation with the challenge, for what anonymous callers never may do. */
int blob_deny_anonymous(struct http_request *req);

/* A SAS in the query (sas.c): its signature, window, address and scope checked, its
 * permissions kept in `b` for blob_check_sas_permission. 0, or the request failed (403). */
int blob_check_sas(struct http_request *req, struct blob_request *b);
int blob_check_sas_permission(struct http_request *req, const char *action, bool listing);
/* The string the SAS in the request's query signs (by its kind and version), for request `b`:
 * exposed so the fuzzer (tests/fuzz/fuzz_storage.c) can sign a SAS and reach the checks that
 * follow the signature. */
const char *blob_sas_string_to_sign(struct http_request *req, const struct blob_request *b);
/* POST ?restype=service&comp=userdelegationkey: a key user delegation SAS are signed with. */
int blob_get_user_delegation_key(struct http_request *req);
/* base64(HMAC-SHA256(key, text)) with a base64 account key; NULL when the key is not base64. */
const char *blob_sign(struct http_request *req, const char *key64, const char *text);
/* The Authorization header a Shared Key client holding `key64` sends with `req` as it stands
 * ("SharedKey account:signature"): how a seed file's blobs are written (common/seed.c). */
const char *blob_shared_key_authorization(struct http_request *req, const char *account,
                                          const char *key64);
/* Is `sig` base64(HMAC-SHA256) of `text` under one of the keys of `b`'s account? */
bool blob_signed_by_account(struct http_request *req, const struct blob_request *b,
                            const char *text, const char *sig);

/* What the service keeps per thread (module.h; storage.c makes and frees it). */
#define BLOB_SIGNED_TEXTS 16
struct blob_pending_put;
struct blob_state {
    struct store *store; /* the thread's connection */
    /* Signatures computed lately, by key and text (sas.c); `next_signed` is replaced next. */
    struct blob_signed_text {
        char *key64, *text, *mac;
    } signed_texts[BLOB_SIGNED_TEXTS];
    size_t next_signed;
    /* Uploads of this turn of the event loop, waiting for their group commit (blobs.c). */
    struct blob_pending_put *pending, **pending_tail;
};
void *blob_state_new(struct store *s);
void blob_state_free(void *state);
/* "2026-11-27T10:00:00Z" (or without seconds, or a date) as ms since the epoch; false if not. */
bool blob_parse_time(const char *text, int64_t *ms);

/* A container's ACL (acl.c): Get and Set Container ACL, and the stored access policy `id` of
 * `container` a service SAS names (fields "" when the policy leaves them to the SAS): 0,
 * AZ_ENOTFOUND or AZ_ESTORE. */
struct blob_policy {
    const char *start, *expiry, *permission;
};
int blob_get_container_acl(struct http_request *req);
int blob_set_container_acl(struct http_request *req);
int blob_find_policy(struct http_request *req, const char *container, const char *id,
                     struct blob_policy *out);

/* The container's public access level (NULL private, "blob", "container"); AZ_ENOTFOUND when
 * there is no such container. */
int blob_container_access(struct http_request *req, const char **access);

/* Leases (leases.c). PUT ?comp=lease on a blob or a container; the check every write of a
 * leased blob or container passes (412 without its lease id), reading the lease or given the
 * row's lease columns already read; the lease as GET/HEAD headers and as a listing's XML, from
 * the row's lease columns. */
int blob_lease(struct http_request *req);
int blob_lease_check(struct http_request *req);
int blob_lease_check_row(struct http_request *req, const char *id, int64_t duration, int64_t ends,
                         bool broken);
void blob_lease_headers(struct http_request *req, const char *id, int64_t duration, int64_t ends,
                        bool broken);
void blob_lease_xml(struct buf *x, const char *id, int64_t duration, int64_t ends, bool broken);

/* What the operations' files share (blobs.c): Storage's 500 and 404 ContainerNotFound, a new
 * ETag ("0x8D…"), an HTTP date, and the x-ms-blob-public-access header of a request, checked
 * (NULL: private): 0, or the request failed. */
int blob_fail_store(struct http_request *req);
int blob_fail_no_container(struct http_request *req);
const char *blob_new_etag(struct http_request *req);
const char *blob_http_date(struct http_request *req, int64_t ms);
int blob_public_access(struct http_request *req, const char **access);

/* Containers and content apart from any request, for Resource Manager and the start (blobs.c).
 * Remove a container with its blobs and their files: 0, AZ_ENOTFOUND or AZ_ESTORE. Remove the
 * rows of an account's containers, blobs and blocks (inside the caller's transaction; the files
 * go at the next start). Delete the files under <data_dir>/blobs no row names (run before the
 * listeners start): how many, or AZ_ESTORE. Is `name` a valid container name? */
int blob_remove_container(struct store *s, const char *data_dir, const char *account,
                          const char *container);
int blob_remove_account(struct store *s, const char *account);
int blob_sweep_content(struct store *s, const char *data_dir);
bool blob_container_name_valid(const char *name);

/* A lease as Blob Storage shows it: status "locked"/"unlocked", state "available", "leased",
 * "expired", "breaking" or "broken", and duration "infinite"/"fixed" (NULL unless leased). */
struct blob_lease_view {
    const char *status, *state, *duration;
};
void blob_lease_describe(const char *id, int64_t duration, int64_t ends, bool broken,
                         struct blob_lease_view *out);

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
