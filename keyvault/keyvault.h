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
struct store;

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

/* ---- versioned objects (objects.c) ---------------------------------------------------- */

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
/* The same for vault `vault` outside a data-plane request (ARM's vaults/secrets). */
int kv_object_insert(struct store *s, const char *vault, const char *collection, const char *name,
                     const char *body, char version[33]);
int kv_object_get_in(struct http_request *req, const char *vault, const char *collection,
                     const char *name, const char *version, struct kv_object *out);
int kv_object_deleted_in(struct http_request *req, const char *vault, const char *collection,
                         const char *name, int64_t *deleted_at, int64_t *purge_at);
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
 * to `w` (0, AZ_ENOTFOUND, AZ_ESTORE); sealed into a blob; unsealed and decoded from one (NULL
 * when it is not one of this azsim's, or was changed); restored under the backup's name. */
int kv_object_export(struct http_request *req, const char *collection, const char *name,
                     const char *magic, struct json_writer *w);
/* The backup text sealed into an opaque base64url blob, or NULL. */
const char *kv_backup_seal(struct http_request *req, const char *text, size_t len);
const struct json *kv_backup_decode(struct http_request *req, const char *blob, const char *magic);
int kv_backup_restore(struct http_request *req, const char *collection, const struct json *backup);

/* Attributes in epoch seconds, as Key Vault answers them, with the vault's recovery level. */
void kv_write_attributes(struct http_request *req, struct json_writer *w,
                         const struct json *attributes);

/* ---- what secrets and keys do alike (collection.c) ------------------------------------ */

/* How an object is answered. */
enum kv_view {
    KV_VIEW_FULL,    /* as get and set answer it: a secret's value included */
    KV_VIEW_BUNDLE,  /* the same without a secret's value (update, delete, recover, restore) */
    KV_VIEW_ITEM,    /* a list item: the versionless id */
    KV_VIEW_VERSION, /* a versions-list item: the versioned id */
};

/* A kind of vault object: secrets.c and keys.c each describe theirs. */
struct kv_collection {
    const char *name;          /* "secrets": the URL segment, RBAC noun and policy kind */
    const char *param;         /* the route parameter naming the object: "secret-name" */
    const char *kind;          /* "Secret", for messages */
    const char *noun;          /* "secret", for messages */
    const char *not_found;     /* "SecretNotFound" */
    const char *read_action;   /* the data action that reads metadata: "readMetadata/action" */
    const char *backup_format; /* tags its backups, so one kind's cannot restore as another */
    /* The members of `o` that are the collection's own (id, value, contentType / the key);
     * attributes, tags and deletion members are written around them. */
    void (*write)(struct http_request *req, struct json_writer *w, const struct kv_object *o,
                  enum kv_view view);
};

extern const struct kv_collection kv_secrets; /* secrets.c */
extern const struct kv_collection kv_keys;    /* keys.c */

const char *kv_name_param(const struct http_request *req, const struct kv_collection *c);
int kv_fail_not_found(struct http_request *req, const struct kv_collection *c, const char *name,
                      bool deleted);
int kv_fail_store(struct http_request *req);
/* The request body as a JSON object, or a failed request (400 BadParameter). */
const struct json *kv_body_object(struct http_request *req);
/* A soft-deleted `name` blocks reusing it: 409 Conflict, or 0. */
int kv_refuse_deleted(struct http_request *req, const struct kv_collection *c, const char *name);
/* The body's tags and attributes (enabled, nbf, exp): well formed? 0, or 400 BadParameter. */
int kv_check_properties(struct http_request *req, const struct json *body);
/* "tags" and "attributes" into `w` (an open object): the body's over `was`'s (a version's stored
 * members, or NULL), created kept, updated now. */
void kv_write_properties(struct http_request *req, struct json_writer *w, const struct json *body,
                         const struct json *was);
/* One object as answered, with its deletion when `deleted_at` is not 0. */
void kv_write(struct http_request *req, struct json_writer *w, const struct kv_collection *c,
              const struct kv_object *o, enum kv_view view, int64_t deleted_at, int64_t purge_at);
int kv_reply(struct http_request *req, const struct kv_collection *c, const struct kv_object *o,
             enum kv_view view, int64_t deleted_at, int64_t purge_at);

/* ---- handlers ------------------------------------------------------------------------- */

/* Both collections (collection.c), chosen by the path. */
int kv_list(struct http_request *req);
int kv_list_versions(struct http_request *req);
int kv_list_deleted(struct http_request *req);
int kv_delete(struct http_request *req);
int kv_get_deleted(struct http_request *req);
int kv_recover(struct http_request *req);
int kv_purge(struct http_request *req);
int kv_backup(struct http_request *req);
int kv_restore(struct http_request *req);

int kv_set_secret(struct http_request *req);
int kv_get_secret(struct http_request *req);
int kv_update_secret(struct http_request *req);

int kv_create_key(struct http_request *req);
int kv_import_key(struct http_request *req);
int kv_get_key(struct http_request *req);
int kv_update_key(struct http_request *req);
int kv_sign(struct http_request *req);
int kv_verify(struct http_request *req);
int kv_encrypt(struct http_request *req);
int kv_decrypt(struct http_request *req);
int kv_wrap_key(struct http_request *req);
int kv_unwrap_key(struct http_request *req);

#endif
