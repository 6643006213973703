/*
 * arm/providers.c — resource providers: the namespaces and resource types azsim serves, listed
 * and "registered" as ARM does (registration is accepted and always in effect: azsim has no
 * unregistered state to emulate).
 *
 * Two tables: Resource Manager's own types, and the registry of provider types that
 * arm/resources.c serves (managed identities, compute, network, Key Vault, storage). A namespace
 * in neither is refused as ARM refuses unknown namespaces.
 */
#include "arm/arm.h"

#include "common/error.h"
#include "common/json.h"
#include "common/util.h"

#include <string.h>

/* Resource Manager's own types, served by dedicated routes in arm/arm.c. */
struct builtin_type {
    const char *namespace;
    const char *name;
    const char *api_versions[4];
};

static const struct builtin_type builtin_types[] = {
    {"Microsoft.Resources", "subscriptions", {"2022-12-01", "2019-11-01", "2016-06-01"}},
    {"Microsoft.Resources", "tenants", {"2022-12-01", "2019-11-01"}},
    {"Microsoft.Resources",
     "resourceGroups",
     {"2025-04-01", "2022-09-01", "2021-04-01", "2019-10-01"}},
    {"Microsoft.Authorization",
     "roleDefinitions",
     {"2022-04-01", "2018-01-01-preview", "2015-07-01"}},
    {"Microsoft.Authorization",
     "roleAssignments",
     {"2022-04-01", "2020-04-01-preview", "2015-07-01"}},
    {"Microsoft.Authorization", "permissions", {"2022-04-01", "2015-07-01"}},
};

/* The provider types served by arm/resources.c. Types of one namespace stay together: the
 * provider listing walks them in this order. */
static const struct arm_type *const resource_types[] = {
    &arm_user_assigned_identities, /* Microsoft.ManagedIdentity */
    &arm_virtual_machines,         /* Microsoft.Compute */
    &arm_key_vaults,               /* Microsoft.KeyVault */
    &arm_vault_secrets,
    &arm_storage_accounts,        /* Microsoft.Storage */
    &arm_network_security_groups, /* Microsoft.Network */
    &arm_network_security_rules,
    &arm_virtual_networks,
    &arm_subnets,
    &arm_public_ip_addresses,
    &arm_network_interfaces,
    &arm_ip_configurations,
};

/* Every namespace once, in order of first appearance. */
static const char *namespace_at(size_t i)
{
    size_t seen = 0;
    const char *last = NULL;
    for (size_t k = 0; k < ARRAY_SIZE(builtin_types) + ARRAY_SIZE(resource_types); k++) {
        const char *ns = k < ARRAY_SIZE(builtin_types)
                             ? builtin_types[k].namespace
                             : resource_types[k - ARRAY_SIZE(builtin_types)]->namespace;
        if (last && str_ieq(last, ns))
            continue;
        if (seen++ == i)
            return ns;
        last = ns;
    }
    return NULL;
}

const struct arm_type *arm_type_find(const char *ns, const char *type)
{
    for (size_t i = 0; i < ARRAY_SIZE(resource_types); i++) {
        if (str_ieq(resource_types[i]->namespace, ns) && str_ieq(resource_types[i]->type, type))
            return resource_types[i];
    }
    return NULL;
}

const struct arm_type *arm_type_embedded_in(const struct arm_type *parent)
{
    size_t n = strlen(parent->type);
    for (size_t i = 0; i < ARRAY_SIZE(resource_types); i++) {
        const struct arm_type *t = resource_types[i];
        if (t->embedded_as && str_ieq(t->namespace, parent->namespace) &&
            strncmp(t->type, parent->type, n) == 0 && t->type[n] == '/' &&
            !strchr(t->type + n + 1, '/'))
            return t;
    }
    return NULL;
}

static void write_type(struct json_writer *w, const char *name, const char *const versions[4])
{
    jw_object_open(w);
    jw_kv_string(w, "resourceType", name);
    jw_key(w, "locations");
    jw_array_open(w);
    jw_array_close(w);
    jw_key(w, "apiVersions");
    jw_array_open(w);
    for (size_t v = 0; v < 4 && versions[v]; v++)
        jw_string(w, versions[v]);
    jw_array_close(w);
    jw_object_close(w);
}

static void write_provider(struct http_request *req, struct json_writer *w, const char *ns,
                           const char *sub)
{
    jw_object_open(w);
    jw_kv_string(w, "id",
                 sub ? arena_printf(req->arena, "/subscriptions/%s/providers/%s", sub, ns)
                     : arena_printf(req->arena, "/providers/%s", ns));
    jw_kv_string(w, "namespace", ns);
    jw_kv_string(w, "registrationState", "Registered");
    jw_kv_string(w, "registrationPolicy", "RegistrationRequired");
    jw_key(w, "resourceTypes");
    jw_array_open(w);
    for (size_t i = 0; i < ARRAY_SIZE(builtin_types); i++) {
        if (str_ieq(builtin_types[i].namespace, ns))
            write_type(w, builtin_types[i].name, builtin_types[i].api_versions);
    }
    for (size_t i = 0; i < ARRAY_SIZE(resource_types); i++) {
        if (str_ieq(resource_types[i]->namespace, ns))
            write_type(w, resource_types[i]->type, resource_types[i]->api_versions);
    }
    jw_array_close(w);
    jw_object_close(w);
}

/* GET /providers and GET /subscriptions/{id}/providers. */
int arm_list_providers(struct http_request *req)
{
    const char *sub = http_param(req, "subscriptionId");
    struct json_writer *w = json_writer_new();
    jw_list_open(w);
    for (size_t i = 0; namespace_at(i); i++)
        write_provider(req, w, namespace_at(i), sub);
    jw_list_close(w);
    return arm_reply(req, 200, w);
}

bool arm_provider_known(const char *ns)
{
    for (size_t i = 0; namespace_at(i); i++) {
        if (str_ieq(namespace_at(i), ns))
            return true;
    }
    return false;
}

/* GET …/providers/{ns}: the provider, or InvalidResourceNamespace. */
int arm_get_provider(struct http_request *req)
{
    const char *ns = http_param(req, "resourceProviderNamespace");
    for (size_t i = 0; namespace_at(i); i++) {
        if (str_ieq(namespace_at(i), ns)) {
            struct json_writer *w = json_writer_new();
            write_provider(req, w, namespace_at(i), http_param(req, "subscriptionId"));
            return arm_reply(req, 200, w);
        }
    }
    return http_fail(req, 404, "InvalidResourceNamespace",
                     "The resource namespace '%s' is invalid.", ns);
}

/* POST …/providers/{ns}/register: needs "{ns}/register/action", as in ARM. */
int arm_register_provider(struct http_request *req)
{
    const char *ns = http_param(req, "resourceProviderNamespace");
    if (arm_authorize(req, arena_printf(req->arena, "%s/register/action", ns)) != 0)
        return AZ_EREPLIED;
    return arm_get_provider(req);
}
