/*
 * aad/directory.h — Entra ID's directory in the state store: tenants, applications and their
 * service principals, credentials, users, refresh tokens and the token service's signing keys.
 *
 * All functions take the calling thread's store connection and return 0, AZ_ENOTFOUND, or
 * AZ_ESTORE. Lookups by tenant accept its id or its domain, case-insensitively.
 */
#ifndef AZSIM_AAD_DIRECTORY_H
#define AZSIM_AAD_DIRECTORY_H

#include <stdbool.h>
#include <stdint.h>

struct store;
struct token_key;

struct aad_tenant {
    char id[40];
    char domain[256];
    char display_name[256];
};

/* An application or managed identity as a client: its service principal in a tenant. */
struct aad_client {
    char app_id[40];
    char object_id[40]; /* the service principal's object id: the token's oid */
    char tenant_id[40];
    char display_name[256];
    char type[32];         /* Application | ManagedIdentity */
    char resource_id[512]; /* managed identities: the ARM id they belong to; else "" */
    bool public_client;
};

struct aad_user {
    char object_id[40];
    char tenant_id[40];
    char upn[256];
    char display_name[256];
};

int aad_tenant_find(struct store *s, const char *id_or_domain, struct aad_tenant *out);
/* The tenant created first (the one azsim made on first start). */
int aad_tenant_default(struct store *s, struct aad_tenant *out);

/* The client `app_id` in `tenant_id`, or a first-party public client (Azure CLI, PowerShell, …),
 * which every tenant knows. */
int aad_client_find(struct store *s, const char *tenant_id, const char *app_id,
                    struct aad_client *out);
/* 0 when `secret` is a current password credential of `app_id`, AZ_EDENIED otherwise. */
int aad_client_secret_check(struct store *s, const char *app_id, const char *secret);
/* The current certificate credential of `app_id` with this SHA-1 or SHA-256 thumbprint (x5t /
 * x5t#S256 form; either may be NULL); the caller frees *out. */
int aad_client_certificate(struct store *s, const char *app_id, const char *x5t,
                           const char *x5t_s256, struct token_key **out);

int aad_user_find(struct store *s, const char *upn, struct aad_user *out);
int aad_user_by_id(struct store *s, const char *object_id, struct aad_user *out);
int aad_user_password_check(struct store *s, const char *object_id, const char *password);

/* An application in `tenant_id` whose API `resource` names (its identifier URI or app id). */
int aad_resource_application(struct store *s, const char *tenant_id, const char *resource,
                             char app_id[40]);

/* Refresh tokens: stored by hash; issuing returns the token itself (heap string). */
int aad_refresh_token_issue(struct store *s, const char *user_id, const char *client_id,
                            char **token);
int aad_refresh_token_redeem(struct store *s, const char *token, const char *client_id,
                             struct aad_user *out);

/* The kid of the key tokens are signed with now. */
int aad_signing_key_active_kid(struct store *s, char kid[64]);
/* The key tokens are signed with now; the caller frees *out. */
int aad_signing_key_active(struct store *s, struct token_key **out);
/* Make a new signing key the active one; the previous ones stay published until retired. */
int aad_signing_key_rotate(struct store *s, char kid[64]);
int aad_signing_key_retire(struct store *s, const char *kid);
/* Call `fn` for each published key (active first). */
int aad_signing_keys_each(struct store *s, void (*fn)(void *arg, struct token_key *k, bool active),
                          void *arg);

/* ---- creating directory objects ------------------------------------------------------------ */

int aad_tenant_create(struct store *s, const char *id, const char *domain, const char *name);
/* An application and its service principal in `tenant_id`; the principal's object id is
 * `sp_object_id`, or generated when NULL. */
int aad_application_create(struct store *s, const char *tenant_id, const char *app_id,
                           const char *name, const char *identifier_uri, bool public_client,
                           const char *sp_object_id);
/* Graph's two steps, which aad_application_create takes at once: an application object alone
 * (its object id into `object_id`), then the service principal that lets it sign in to
 * `tenant_id` (object id `sp_object_id`, or generated when NULL; written to `object_id` when that
 * is not NULL). */
int aad_application_register(struct store *s, const char *tenant_id, const char *app_id,
                             const char *name, const char *identifier_uri, bool public_client,
                             char object_id[37]);
int aad_service_principal_create(struct store *s, const char *tenant_id, const char *app_id,
                                 const char *name, const char *sp_object_id, char object_id[37]);
/* Change an application's display name (unless NULL) and, with `set_identifier_uri`, its
 * identifier URI (NULL: none). */
int aad_application_update(struct store *s, const char *app_id, const char *name,
                           const char *identifier_uri, bool set_identifier_uri);
/* Delete an application object with its service principal and every credential, as deleting an
 * app registration does in Entra ID. AZ_ENOTFOUND when there is no such application. */
int aad_application_delete(struct store *s, const char *app_id);
/* Add a client secret (stored hashed) valid for `days`. */
int aad_application_add_secret(struct store *s, const char *app_id, const char *secret, int days);
/* Add a client secret (stored hashed) valid from `not_before` to `not_after` (ms since the
 * epoch); its key id goes to `key_id` unless NULL. */
int aad_application_add_password(struct store *s, const char *app_id, const char *secret,
                                 int64_t not_before, int64_t not_after, char key_id[37]);
/* Remove the password credential `key_id` of `app_id`; AZ_ENOTFOUND when it has none such. */
int aad_application_remove_password(struct store *s, const char *app_id, const char *key_id);
/* Register a certificate (DER) as a credential of `app_id`. */
int aad_application_add_certificate(struct store *s, const char *app_id,
                                    const struct token_key *cert);
int aad_user_create(struct store *s, const char *tenant_id, const char *object_id, const char *upn,
                    const char *name, const char *password);
int aad_user_set_password(struct store *s, const char *object_id, const char *password);
/* A managed identity's service principal (no application object: object id `object_id`, app id
 * `client_id`), with `cert` registered as its credential. `resource_id` is the ARM id of the
 * user-assigned identity or of the VM whose system-assigned identity it is. */
int aad_managed_identity_create(struct store *s, const char *tenant_id, const char *client_id,
                                const char *object_id, const char *name, const char *resource_id,
                                const struct token_key *cert);
/* Delete the service principal `object_id` alone: an application's credentials belong to the
 * application, which may get a new principal later. AZ_ENOTFOUND when there is none. */
int aad_service_principal_remove(struct store *s, const char *object_id);
/* Delete a service principal and every credential of its app id. */
int aad_service_principal_delete(struct store *s, const char *client_id);
/* Remove every client secret of `app_id` (before adding the one that replaces them). */
int aad_application_remove_secrets(struct store *s, const char *app_id);

/* ---- the first start ------------------------------------------------------------------------ */

/* The directory objects azsim creates for itself, and their credentials in the clear: printed at
 * start, by `azsim info`, and kept in <data-dir>/credentials.json (0600) so they stay the same. */
struct aad_identity {
    char tenant_id[40];
    char tenant_domain[256];
    char client_id[40];
    char client_object_id[40]; /* the admin service principal: the oid of its tokens */
    char client_secret[160];
    char user_id[40];
    char user_upn[300];
    char user_password[160];
    char *client_pem; /* the admin application's certificate and key (PEM, heap): a client
                         certificate credential ready for ClientCertificateCredential */
    /* want: user_password is what the last start set (the credentials file's), so an existing
     * admin user has it already. Checking costs a password hash: most of a restart's time. */
    bool user_password_set_before;
};

/*
 * Make sure the default tenant, the admin application (with its client secret), the admin user
 * and an active signing key exist, matching `want` where it has a value and generating the rest.
 * `out` gets the result. Run inside a transaction.
 */
int aad_bootstrap(struct store *s, const struct aad_identity *want, struct aad_identity *out);
void aad_identity_release(struct aad_identity *id);

#endif
