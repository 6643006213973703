/*
 * arm/managed_identities.c — Microsoft.ManagedIdentity/userAssignedIdentities: creating one makes
 * its service principal and certificate (arm/identities.c) and answers tenantId, principalId and
 * clientId; updates keep them; deleting it deletes the principal, its credentials and its key.
 * Role assignments naming it stay behind, orphaned, as in Azure.
 */
#include "arm/arm.h"

#include "common/error.h"
#include "common/json.h"

#include <stdio.h>
#include <string.h>

/* Azure's rule: 3-128 letters, digits, '-' and '_', starting with a letter or digit. */
static bool valid_identity_name(const char *name)
{
    size_t n = strlen(name);
    if (n < 3 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '-' && c != '_')))
            return false;
    }
    return true;
}

static int write_identity(struct arm_change *c)
{
    const struct json *was = json_get(c->old, "properties");
    struct arm_identity id = {0};
    if (c->old) {
        snprintf(id.tenant_id, sizeof(id.tenant_id), "%s", json_string(json_get(was, "tenantId")));
        snprintf(id.principal_id, sizeof(id.principal_id), "%s",
                 json_string(json_get(was, "principalId")));
        snprintf(id.client_id, sizeof(id.client_id), "%s", json_string(json_get(was, "clientId")));
    } else if (arm_identity_create(c->req, strrchr(c->id, '/') + 1, c->id, &id) != 0) {
        return AZ_EREPLIED;
    }
    jw_key(c->own, "properties");
    jw_object_open(c->own);
    jw_kv_string(c->own, "tenantId", id.tenant_id);
    jw_kv_string(c->own, "principalId", id.principal_id);
    jw_kv_string(c->own, "clientId", id.client_id);
    jw_object_close(c->own);
    return 0;
}

static int remove_identity(struct http_request *req, const struct json *resource)
{
    return arm_identity_delete(req,
                               json_string(json_get(json_get(resource, "properties"), "clientId")));
}

const struct arm_type arm_user_assigned_identities = {
    .namespace = "Microsoft.ManagedIdentity",
    .type = "userAssignedIdentities",
    .api_versions = {"2024-11-30", "2023-01-31", "2022-01-31-preview", "2018-11-30"},
    .valid_name = valid_identity_name,
    .name_rule = "Resource name '%s' is invalid. The name can contain only letters, numbers, "
                 "hyphens and underscores, must begin with a letter or a number, and must be "
                 "between 3 and 128 characters long.",
    .write = write_identity,
    .remove = remove_identity,
};
