/*
 * arm/arm.h — what the Resource Manager module's files share.
 */
#ifndef AZSIM_ARM_H
#define AZSIM_ARM_H

#include "common/http.h"

#include <stdbool.h>

struct store;
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

/* The JSON body as an object, or a failed request (400 InvalidRequestContent). The caller
 * frees it with json_free. */
struct json *arm_body(struct http_request *req);

/* RBAC for `action` at the request's scope (after the subscription is checked to exist);
 * every decision is audited. Returns 0, or fails the request (403 AuthorizationFailed). */
int arm_authorize(struct http_request *req, const char *action);

/* The value quoted after `key` in the OData $filter ("roleName eq 'Reader'"), or NULL. */
const char *arm_filter_value(struct http_request *req, const char *key);

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
int arm_unknown_resource(struct http_request *req);

/* ---- the first start ------------------------------------------------------------------------ */

/*
 * Load the built-in roles (when the compiled-in set changed), make sure a default subscription
 * exists in the directory's default tenant (`want` if given) and that the admin user and
 * service principal are Owner on it. `sub_out` gets its id. Run inside a transaction.
 */
int arm_bootstrap(struct store *s, const struct aad_identity *admin, const char *want,
                  char sub_out[40]);

#endif
