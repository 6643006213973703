/*
 * arm/arm.h — what the Resource Manager module's files share.
 */
#ifndef AZSIM_ARM_H
#define AZSIM_ARM_H

#include "common/http.h"

#include <stdbool.h>

struct store;
struct store_stmt;
struct json_writer;
struct aad_identity;

/* The request's path as an ARM scope: decoded, '//' collapsed, no trailing '/'. "" is "/". */
const char *arm_scope(struct http_request *req);

/* ARM refuses requests without an api-version (400 MissingApiVersionParameter). */
int arm_require_api_version(struct http_request *req);

/* Does subscription `id` exist? Fails the request with 404 SubscriptionNotFound if not. */
int arm_require_subscription(struct http_request *req, const char *id);

/* Does the request's {resourceGroupName} exist in its {subscriptionId}? Fails the request with
 * 404 ResourceGroupNotFound if not. */
int arm_require_resource_group(struct http_request *req);

/* The request's {resourceGroupName} of its {subscriptionId} as ARM answers it, written to `w`
 * (NULL: only look): 0, AZ_ENOTFOUND or AZ_ESTORE. */
int arm_resource_group_write(struct http_request *req, struct json_writer *w);

/* The JSON body as an object living as long as the request, or a failed request (400
 * InvalidRequestContent). */
const struct json *arm_body(struct http_request *req);

/* Is `name` ("westus") one of the regions azsim offers? And all of them, comma-separated. */
bool arm_location_known(const char *name);
const char *arm_location_names(struct http_request *req);

/* RBAC for `action` at the request's scope (after the subscription is checked to exist);
 * every decision is audited. Returns 0, or fails the request (403 AuthorizationFailed). */
int arm_authorize(struct http_request *req, const char *action);
/* The same at an explicit scope (an ARM id). */
int arm_authorize_at(struct http_request *req, const char *action, const char *scope);
/* A linked authorization: the caller, allowed its operation, must also be allowed `action` on
 * the resource it links (attaching an identity needs its "assign/action"). Fails the request
 * with 403 LinkedAuthorizationFailed, naming `operation` (the action already granted). */
int arm_authorize_linked(struct http_request *req, const char *operation, const char *action,
                         const char *linked_scope);

/* A "tags" member as JSON text: an object of at most 50 string values (absent or null is "{}"),
 * or NULL after failing the request with ARM's error. */
const char *arm_tags(struct http_request *req, const struct json *tags);

/* The value quoted after `key` in the OData $filter ("roleName eq 'Reader'"), or NULL. */
const char *arm_filter_value(struct http_request *req, const char *key);

/* Reply 200 {"value": [...]} with the JSON document in column 0 of each row of `st` (finalized),
 * or fail the request (500) if the store fails halfway. */
int arm_reply_stored_list(struct http_request *req, struct store_stmt *st);

/* Reply 200/201 with the writer's document. */
int arm_reply(struct http_request *req, int status, struct json_writer *w);

/* ---- handlers ------------------------------------------------------------------------------- */

int arm_list_subscriptions(struct http_request *req);
int arm_get_subscription(struct http_request *req);
int arm_list_locations(struct http_request *req);
int arm_list_tenants(struct http_request *req);

int arm_create_resource_group(struct http_request *req);
int arm_get_resource_group(struct http_request *req);
int arm_check_resource_group(struct http_request *req);
int arm_update_resource_group(struct http_request *req);
int arm_delete_resource_group(struct http_request *req);
int arm_list_resource_groups(struct http_request *req);

int arm_list_role_definitions(struct http_request *req);
int arm_get_role_definition(struct http_request *req);
int arm_put_role_definition(struct http_request *req);
int arm_delete_role_definition(struct http_request *req);
int arm_list_role_assignments(struct http_request *req);
int arm_get_role_assignment(struct http_request *req);
int arm_create_role_assignment(struct http_request *req);
int arm_delete_role_assignment(struct http_request *req);
int arm_list_permissions(struct http_request *req);

int arm_get_audit(struct http_request *req);

int arm_list_providers(struct http_request *req);
int arm_get_provider(struct http_request *req);
int arm_register_provider(struct http_request *req);
/* Is `ns` a namespace azsim serves (case-insensitive)? */
bool arm_provider_known(const char *ns);

int arm_list_resources(struct http_request *req);
int arm_list_group_resources(struct http_request *req);

/* ---- generic resources (arm/resources.c) -----------------------------------------------------
 *
 * Every provider type — managed identities, VMs, networks, vaults, storage accounts — is one
 * `struct arm_type` registered in arm/providers.c; arm/resources.c serves them all: PUT (201
 * new, 200 existing), GET, HEAD, PATCH (a JSON merge patch), DELETE, listings by group,
 * subscription and parent, tags, location, name rules, ETags and If-Match/If-None-Match, RBAC
 * "{namespace}/{type}/read|write|delete", and nested types kept in step with the array their
 * parent lists them in (a virtual network's subnets). Everything answers synchronously with
 * provisioningState "Succeeded". A type adds only what is its own, through `write`/`remove`.
 */

/* One create or update, as a type's `write` sees it. */
struct arm_change {
    struct http_request *req;
    const struct arm_type *type;
    const char *id;              /* the resource id */
    const char *parent_id;       /* nested types: the parent's id; else NULL */
    const struct json *parent;   /* nested types: the parent as it will be stored */
    const struct json *old;      /* as stored before; NULL when being created */
    const struct json *resource; /* as it will be stored, before the type's own members */
    struct json_writer *own;     /* an open object: members the type sets, merged over
                                  * `resource` (null removes one) */
};

enum arm_type_flags {
    ARM_TYPE_NO_LOCATION = 1 << 0,  /* nested types: no location of their own */
    ARM_TYPE_ETAG_IN_BODY = 1 << 1, /* the resource carries its "etag" (Microsoft.Network) */
    ARM_TYPE_CREATED_200 = 1 << 2,  /* creation answers 200, not 201 (storage accounts) */
};

/* A POST operation on a resource: POST {id}/{name}, which needs "{type}/{name}/action". */
struct arm_action {
    const char *name;
    int (*run)(struct http_request *req, const char *id, const struct json *resource);
};

struct arm_type {
    const char *namespace;       /* "Microsoft.Network" */
    const char *type;            /* "virtualNetworks", nested "virtualNetworks/subnets" */
    const char *api_versions[4]; /* newest first, as the provider listing shows them */
    unsigned flags;              /* enum arm_type_flags */
    const char *embedded_as;     /* nested: the parent's properties array listing them */
    /* The name rule, and the message ARM gives when it is broken (one %s: the name). */
    bool (*valid_name)(const char *name);
    const char *name_rule;
    const char *name_code; /* the error code; NULL: InvalidResourceName */
    /* Validate and complete a create or update: fail the request, or return 0 having written
     * the type's own members to c->own. Runs inside the store transaction that saves it. */
    int (*write)(struct arm_change *c);
    /* Undo what `write` created elsewhere (a service principal), inside the deleting
     * transaction: 0, or fail the request. `resource` is the stored resource. */
    int (*remove)(struct http_request *req, const struct json *resource);
    /* GET with $expand (VMs' instanceView): write members to merge over the stored resource
     * into `own`, an open object; 0, or fail the request. */
    int (*expand)(struct http_request *req, const struct json *resource, struct json_writer *own);
    const struct arm_action *actions; /* ended by an entry without a name; may be NULL */
};

/* The registered type `ns`/`type` (case-insensitive), or NULL. */
const struct arm_type *arm_type_find(const char *ns, const char *type);
/* The nested type listed in `parent`'s properties array, if any (at most one per parent). */
const struct arm_type *arm_type_embedded_in(const struct arm_type *parent);

int arm_get_resource(struct http_request *req);
int arm_check_resource(struct http_request *req);
int arm_put_resource(struct http_request *req);
int arm_patch_resource(struct http_request *req);
int arm_delete_resource(struct http_request *req);
int arm_resource_action(struct http_request *req);

/* Change the stored top-level resource `id` by a JSON merge patch, through its type's `write` as
 * a PATCH would, in a transaction of its own: 0 with *saved the new resource, or the request
 * failed. For operations that change a resource beside its own URL (a vault's access policies). */
int arm_resource_update(struct http_request *req, const char *id, const struct json *patch,
                        const struct json **saved);

/* The stored resource `id` (any type), living as long as the request: 0, AZ_ENOTFOUND or
 * AZ_ESTORE. */
int arm_resource_load(struct http_request *req, const char *id, const struct json **body);

/* Delete every resource at or under `scope` (running each type's `remove`) and the role
 * assignments scoped there. 0, AZ_EREPLIED (a `remove` failed the request) or AZ_ESTORE. */
int arm_delete_resources_under(struct http_request *req, const char *scope);

/* Name rules shared by several types. */
bool arm_name_network(const char *name); /* 1-80 word characters, '.', '-', '_' */

/* ---- managed identities (arm/identities.c) --------------------------------------------------- */

struct arm_identity {
    char tenant_id[40];
    char principal_id[37]; /* the service principal's object id */
    char client_id[37];    /* its app id */
};

/* Ids an operator fixed for the identity a request creates (a seed file, common/seed.c), handed
 * over as the request's context; either may be NULL (generated). Azure's API has no such input:
 * only azsim's own seed sets it, never a client. */
struct arm_identity_ids {
    const char *client_id;
    const char *principal_id;
};

/* Make a managed identity for `resource_id` (a user-assigned identity, or a VM for its
 * system-assigned one): its service principal in the subscription's tenant, a certificate
 * registered on it, the private key kept for IMDS. Fails the request (500) on a store error. */
int arm_identity_create(struct http_request *req, const char *name, const char *resource_id,
                        struct arm_identity *out);
/* Delete the identity with this client id: its principal, credentials and key. NULL is none. */
int arm_identity_delete(struct http_request *req, const char *client_id);

/* ---- resource types, each in its provider's file --------------------------------------------- */

extern const struct arm_type arm_user_assigned_identities; /* arm/managed_identities.c */
extern const struct arm_type arm_virtual_machines;         /* arm/compute.c */
extern const struct arm_type arm_key_vaults;               /* arm/keyvault.c */
extern const struct arm_type arm_vault_secrets;
extern const struct arm_type arm_storage_accounts; /* arm/storage.c */

/* Blob services and containers of storage accounts (arm/blob_containers.c): the data plane's
 * containers, through Resource Manager. */
int arm_list_blob_services(struct http_request *req);
int arm_get_blob_service(struct http_request *req);
int arm_list_blob_containers(struct http_request *req);
int arm_get_blob_container(struct http_request *req);
int arm_put_blob_container(struct http_request *req);
int arm_patch_blob_container(struct http_request *req);
int arm_delete_blob_container(struct http_request *req);
extern const struct arm_type arm_network_security_groups; /* arm/network.c */
extern const struct arm_type arm_network_security_rules;
extern const struct arm_type arm_virtual_networks;
extern const struct arm_type arm_subnets;
extern const struct arm_type arm_public_ip_addresses;
extern const struct arm_type arm_network_interfaces;
extern const struct arm_type arm_ip_configurations;

/* Key Vault's own operations beside the vault resource (arm/keyvault.c). */
int arm_update_access_policies(struct http_request *req);
int arm_list_deleted_vaults(struct http_request *req);
int arm_get_deleted_vault(struct http_request *req);
int arm_purge_deleted_vault(struct http_request *req);
int arm_list_deleted_managed_hsms(struct http_request *req);
/* Storage's name check (arm/storage.c). */
int arm_check_storage_name(struct http_request *req);

/* Platform VM images and az's image alias document, from one catalog (arm/images.c). */
int arm_get_image_aliases(struct http_request *req);
int arm_list_image_publishers(struct http_request *req);
int arm_list_image_offers(struct http_request *req);
int arm_list_image_skus(struct http_request *req);
int arm_list_images(struct http_request *req);
int arm_get_image(struct http_request *req);
/* raw.githubusercontent.com (the front door routes it to ARM) serves the alias document and
 * nothing else: 0 for any other host, or the request failed with 404. */
int arm_refuse_alias_host(struct http_request *req);

/* ---- template deployments (arm/deployments.c) ------------------------------------------------ */

int arm_put_deployment(struct http_request *req);
int arm_validate_deployment(struct http_request *req);
int arm_get_deployment(struct http_request *req);
int arm_check_deployment(struct http_request *req);
int arm_delete_deployment(struct http_request *req);
int arm_list_deployments(struct http_request *req);
int arm_list_deployment_operations(struct http_request *req); /* the list, or {operationId} */
int arm_get_deployment_status(struct http_request *req);
int arm_export_deployment_template(struct http_request *req);
int arm_cancel_deployment(struct http_request *req);

/* ---- the first start ------------------------------------------------------------------------ */

/*
 * Load the built-in roles (when the compiled-in set changed), make sure a default subscription
 * exists in the directory's default tenant (`want` if given) and that the admin user and
 * service principal are Owner on it. `sub_out` gets its id. Run inside a transaction.
 */
int arm_bootstrap(struct store *s, const struct aad_identity *admin, const char *want,
                  char sub_out[40]);

/* The tenant that trusts subscription `id`: 0, AZ_ENOTFOUND or AZ_ESTORE. */
int arm_subscription_tenant(struct store *s, const char *id, char out[40]);

/* Subscription `id` in tenant `tenant_id` with the admin as Owner, unless it exists: 0, or
 * AZ_EEXIST when it exists in another tenant, or a store error. Inside a transaction. */
int arm_subscription_ensure(struct store *s, const char *id, const char *tenant_id,
                            const char *name, const struct aad_identity *admin);

/* Once per store: Azurite's development account (devstoreaccount1, its published key as key1)
 * in resource group "development-storage" of `subscription`, unless the name is taken. */
int arm_storage_bootstrap(struct store *s, const char *subscription);

#endif
