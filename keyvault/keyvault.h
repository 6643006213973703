/*
 * keyvault/keyvault.h — what the Key Vault data plane's files share: the vault a request names,
 * its two access models, the store of versioned objects (secrets and keys), and Key Vault's
 * error bodies.
 */
#ifndef AZSIM_KEYVAULT_H
#define AZSIM_KEYVAULT_H

#include "common/http.h"

#include <stdbool.h>
#include <stdint.h>

struct json;
struct json_writer;

/* The vault a request is for, found by the first label of its host name (keyvault.c). */
struct vault {
    const char *name; /* globally unique, as its DNS name */
    const char *id;   /* its ARM id: the RBAC scope */
    const char *location;
    const char *tenant_id;
    const char *origin; /* "https://<host>" as the client called it: object ids start with it */
    bool rbac;          /* enableRbacAuthorization; else access policies decide */
    const struct json *access_policies;
    bool soft_delete;
    bool purge_protection;
    int64_t retention_days;
};

/* The request's vault (set by authentication before any handler runs). */
const struct vault *kv_vault(const struct http_request *req);

/*
 * May the caller do `permission` ("get", "set", "sign"…: the access-policy word) with the data
 * action "Microsoft.KeyVault/vaults/{collection}/{action}" ("getSecret/action", "read") on
 * object `name` (or the whole collection when NULL)? Decided by RBAC at the object's scope and
 * above, or by the vault's access policies; audited. 0, or the request failed with 403.
 */
int kv_authorize(struct http_request *req, const char *collection, const char *permission,
                 const char *action, const char *name);

/* Key Vault's error with an inner error code: {"error":{"code","message","innererror":{"code"}}}.
 */
int kv_fail_inner(struct http_request *req, int status, const char *code, const char *inner,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Object names: 1-127 letters, digits and '-'; a bad one fails the request (400 BadParameter). */
int kv_check_name(struct http_request *req, const char *name);

/* ---- versioned objects (objects.c) ------------------------------------------------------------
 */

struct kv_object {
    const char *name;
    const char *version;
    const struct json *body; /* as stored: value or key material, attributes, tags, contentType */
};

/* The latest version of `name` (version NULL or "") or the one named; deleted objects are not
 * found. 0, AZ_ENOTFOUND or AZ_ESTORE. */
int kv_object_get(struct http_request *req, const char *collection, const char *name,
                  const char *version, struct kv_object *out);
/* A deleted object's latest version and its deletion dates (ms). 0, AZ_ENOTFOUND or AZ_ESTORE. */
int kv_deleted_object_get(struct http_request *req, const char *collection, const char *name,
                          struct kv_object *out, int64_t *deleted_at, int64_t *purge_at);
/* A new version (a fresh version id) with `body` (JSON text). */
int kv_object_add(struct http_request *req, const char *collection, const char *name,
                  const char *body, const char **version);
int kv_object_replace(struct http_request *req, const char *collection, const char *name,
                      const char *version, const char *body);
/* Is `name` soft-deleted? 0 (with its dates, ms) or AZ_ENOTFOUND. */
int kv_object_deleted(struct http_request *req, const char *collection, const char *name,
                      int64_t *deleted_at, int64_t *purge_at);
/* Delete: soft (recoverable) when the vault says so, else every version goes. */
int kv_object_delete(struct http_request *req, const char *collection, const char *name);
int kv_object_recover(struct http_request *req, const char *collection, const char *name);
int kv_object_purge(struct http_request *req, const char *collection, const char *name);

/* A page of a listing: the objects' latest versions (name NULL), one object's versions, or the
 * deleted objects; `write` writes one item. Replies {"value":[…],"nextLink"}. */
enum kv_listing { KV_LIST_LATEST, KV_LIST_VERSIONS, KV_LIST_DELETED };
int kv_object_list(struct http_request *req, const char *collection, enum kv_listing what,
                   const char *name,
                   void (*write)(struct http_request *req, struct json_writer *w,
                                 const struct kv_object *o, int64_t deleted_at, int64_t purge_at));

/* Backups: every version of an object with the vault's subscription, tagged `magic`, written
 * to `w` (0, AZ_ENOTFOUND, AZ_ESTORE); decoded from a base64url blob (NULL when it is not one);
 * and restored under the backup's name. */
int kv_object_export(struct http_request *req, const char *collection, const char *name,
                     const char *magic, struct json_writer *w);
const struct json *kv_backup_decode(struct http_request *req, const char *blob, const char *magic);
int kv_backup_restore(struct http_request *req, const char *collection, const struct json *backup);

/* Attributes in epoch seconds, as Key Vault answers them, with the vault's recovery level. */
void kv_write_attributes(struct http_request *req, struct json_writer *w,
                         const struct json *attributes);

/* ---- handlers
 * ------------------------------------------------------------------------------------ */

int kv_set_secret(struct http_request *req);
int kv_get_secret(struct http_request *req);
int kv_update_secret(struct http_request *req);
int kv_list_secrets(struct http_request *req);
int kv_list_secret_versions(struct http_request *req);
int kv_delete_secret(struct http_request *req);
int kv_get_deleted_secret(struct http_request *req);
int kv_list_deleted_secrets(struct http_request *req);
int kv_recover_secret(struct http_request *req);
int kv_purge_secret(struct http_request *req);
int kv_backup_secret(struct http_request *req);
int kv_restore_secret(struct http_request *req);

/* ---- keys (keys.c) ------------------------------------------------------------------------------
 */

int kv_create_key(struct http_request *req);
int kv_import_key(struct http_request *req);
int kv_get_key(struct http_request *req);
int kv_update_key(struct http_request *req);
int kv_list_keys(struct http_request *req);
int kv_list_key_versions(struct http_request *req);
int kv_delete_key(struct http_request *req);
int kv_get_deleted_key(struct http_request *req);
int kv_list_deleted_keys(struct http_request *req);
int kv_recover_key(struct http_request *req);
int kv_purge_key(struct http_request *req);
int kv_backup_key(struct http_request *req);
int kv_restore_key(struct http_request *req);
int kv_sign(struct http_request *req);
int kv_verify(struct http_request *req);
int kv_encrypt(struct http_request *req);
int kv_decrypt(struct http_request *req);
int kv_wrap_key(struct http_request *req);
int kv_unwrap_key(struct http_request *req);

#endif
