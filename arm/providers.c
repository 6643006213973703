/*
 * arm/providers.c — resource providers: the namespaces and resource types azsim serves, listed
 * and "registered" as ARM does (registration is accepted and always in effect: azsim has no
 * unregistered state to emulate).
 *
 * The table grows as modules bring resource types (managed identities, compute, Key Vault,
 * storage); a namespace that is not here is refused as ARM refuses unknown namespaces.
 */
#include "arm/arm.h"

#include "common/error.h"
#include "common/json.h"
#include "common/util.h"

#include <string.h>

struct provider_type {
    const char *name;
    const char *api_versions[4];
};

static const struct {
    const char *namespace;
    struct provider_type types[6];
} providers[] = {
    {"Microsoft.Resources",
     {{"subscriptions", {"2022-12-01", "2019-11-01", "2016-06-01"}},
      {"tenants", {"2022-12-01", "2019-11-01"}},
      {"resourceGroups", {"2025-04-01", "2022-09-01", "2021-04-01", "2019-10-01"}}}},
    {"Microsoft.Authorization",
     {{"roleDefinitions", {"2022-04-01", "2018-01-01-preview", "2015-07-01"}},
      {"roleAssignments", {"2022-04-01", "2020-04-01-preview", "2015-07-01"}},
      {"permissions", {"2022-04-01", "2015-07-01"}}}},
};

static void write_provider(struct http_request *req, struct json_writer *w, size_t i,
                           const char *sub)
{
    jw_object_open(w);
    jw_kv_string(w, "id",
                 sub ? arena_printf(req->arena, "/subscriptions/%s/providers/%s", sub,
                                    providers[i].namespace)
                     : arena_printf(req->arena, "/providers/%s", providers[i].namespace));
    jw_kv_string(w, "namespace", providers[i].namespace);
    jw_kv_string(w, "registrationState", "Registered");
    jw_kv_string(w, "registrationPolicy", "RegistrationRequired");
    jw_key(w, "resourceTypes");
    jw_array_open(w);
    for (size_t t = 0; t < ARRAY_SIZE(providers[i].types) && providers[i].types[t].name; t++) {
        const struct provider_type *type = &providers[i].types[t];
        jw_object_open(w);
        jw_kv_string(w, "resourceType", type->name);
        jw_key(w, "locations");
        jw_array_open(w);
        jw_array_close(w);
        jw_key(w, "apiVersions");
        jw_array_open(w);
        for (size_t v = 0; v < ARRAY_SIZE(type->api_versions) && type->api_versions[v]; v++)
            jw_string(w, type->api_versions[v]);
        jw_array_close(w);
        jw_object_close(w);
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
    for (size_t i = 0; i < ARRAY_SIZE(providers); i++)
        write_provider(req, w, i, sub);
    jw_list_close(w);
    return arm_reply(req, 200, w);
}

bool arm_provider_known(const char *ns)
{
    for (size_t i = 0; i < ARRAY_SIZE(providers); i++) {
        if (str_ieq(providers[i].namespace, ns))
            return true;
    }
    return false;
}

/* GET …/providers/{ns}: the provider, or InvalidResourceNamespace. */
int arm_get_provider(struct http_request *req)
{
    const char *ns = http_param(req, "resourceProviderNamespace");
    for (size_t i = 0; i < ARRAY_SIZE(providers); i++) {
        if (str_ieq(providers[i].namespace, ns)) {
            struct json_writer *w = json_writer_new();
            write_provider(req, w, i, http_param(req, "subscriptionId"));
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
