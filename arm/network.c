/*
 * arm/network.c — Microsoft.Network: the resources virtual machines stand on, stored with
 * Azure's shapes (nothing is routed or filtered).
 *
 * Network security groups and their security rules: a group lists its rules in
 * properties.securityRules and each rule is also a resource of its own
 * (…/networkSecurityGroups/{nsg}/securityRules/{rule}); either way of writing them keeps the
 * other in step (arm/resources.c). Every group has Azure's six default rules.
 */
#include "arm/arm.h"

#include "common/error.h"
#include "common/json.h"
#include "common/util.h"

#include <string.h>

#define NETWORK_API_VERSIONS                                                                       \
    {                                                                                              \
        "2024-05-01", "2023-09-01", "2022-07-01", "2020-06-01"                                     \
    }

static const char network_name_rule[] =
    "Resource name %s is invalid. The name can be up to 80 characters long. It must begin with a "
    "word character, and it must end with a word character or with '_'. The name may contain "
    "word characters or '.', '-', '_'.";

/* A resource's resourceGuid: kept across updates, made on creation. */
static void write_resource_guid(struct arm_change *c)
{
    const char *guid = json_string(json_get(json_get(c->old, "properties"), "resourceGuid"));
    char fresh[37];
    if (!guid) {
        uuid_v4(fresh);
        guid = fresh;
    }
    jw_kv_string(c->own, "resourceGuid", guid);
}

/* ---- network security groups ------------------------------------------------------------------
 */

/* Azure's default rules, present in every group and not removable. */
static const struct {
    const char *name, *description, *source, *destination, *access, *direction;
    int priority;
} default_rules[] = {
    {"AllowVnetInBound", "Allow inbound traffic from all VMs in VNET", "VirtualNetwork",
     "VirtualNetwork", "Allow", "Inbound", 65000},
    {"AllowAzureLoadBalancerInBound", "Allow inbound traffic from azure load balancer",
     "AzureLoadBalancer", "*", "Allow", "Inbound", 65001},
    {"DenyAllInBound", "Deny all inbound traffic", "*", "*", "Deny", "Inbound", 65500},
    {"AllowVnetOutBound", "Allow outbound traffic from all VMs to all VMs in VNET",
     "VirtualNetwork", "VirtualNetwork", "Allow", "Outbound", 65000},
    {"AllowInternetOutBound", "Allow outbound traffic from all VMs to Internet", "*", "Internet",
     "Allow", "Outbound", 65001},
    {"DenyAllOutBound", "Deny all outbound traffic", "*", "*", "Deny", "Outbound", 65500},
};

static int write_security_group(struct arm_change *c)
{
    struct json_writer *w = c->own;
    jw_key(w, "properties");
    jw_object_open(w);
    write_resource_guid(c);
    jw_key(w, "defaultSecurityRules");
    jw_array_open(w);
    for (size_t i = 0; i < ARRAY_SIZE(default_rules); i++) {
        jw_object_open(w);
        jw_kv_string(w, "id",
                     arena_printf(c->req->arena, "%s/defaultSecurityRules/%s", c->id,
                                  default_rules[i].name));
        jw_kv_string(w, "name", default_rules[i].name);
        jw_kv_string(w, "etag", json_string(json_get(c->resource, "etag")));
        jw_kv_string(w, "type", "Microsoft.Network/networkSecurityGroups/defaultSecurityRules");
        jw_key(w, "properties");
        jw_object_open(w);
        jw_kv_string(w, "provisioningState", "Succeeded");
        jw_kv_string(w, "description", default_rules[i].description);
        jw_kv_string(w, "protocol", "*");
        jw_kv_string(w, "sourcePortRange", "*");
        jw_kv_string(w, "destinationPortRange", "*");
        jw_kv_string(w, "sourceAddressPrefix", default_rules[i].source);
        jw_kv_string(w, "destinationAddressPrefix", default_rules[i].destination);
        jw_kv_string(w, "access", default_rules[i].access);
        jw_kv_int(w, "priority", default_rules[i].priority);
        jw_kv_string(w, "direction", default_rules[i].direction);
        jw_object_close(w);
        jw_object_close(w);
    }
    jw_array_close(w);
    jw_object_close(w);
    return 0;
}

const struct arm_type arm_network_security_groups = {
    .namespace = "Microsoft.Network",
    .type = "networkSecurityGroups",
    .api_versions = NETWORK_API_VERSIONS,
    .flags = ARM_TYPE_ETAG_IN_BODY,
    .valid_name = arm_name_network,
    .name_rule = network_name_rule,
    .write = write_security_group,
};

/* ---- security rules ---------------------------------------------------------------------------
 */

/* Is `value` one of `allowed` (case-insensitive, as the network provider compares)? */
static bool one_of(const char *value, const char *const *allowed)
{
    for (; value && *allowed; allowed++) {
        if (str_ieq(value, *allowed))
            return true;
    }
    return false;
}

static int write_security_rule(struct arm_change *c)
{
    static const char *const protocols[] = {"Tcp", "Udp", "Icmp", "Esp", "Ah", "*", NULL};
    static const char *const accesses[] = {"Allow", "Deny", NULL};
    static const char *const directions[] = {"Inbound", "Outbound", NULL};
    const struct json *p = json_get(c->resource, "properties");
    const char *name = strrchr(c->id, '/') + 1;
    const struct {
        const char *member;
        const char *const *allowed;
    } enums[] = {
        {"protocol", protocols},
        {"access", accesses},
        {"direction", directions},
    };
    for (size_t i = 0; i < ARRAY_SIZE(enums); i++) {
        const char *value = json_string(json_get(p, enums[i].member));
        if (!one_of(value, enums[i].allowed))
            return http_fail(c->req, 400, "InvalidRequestFormat",
                             "Cannot parse the request: security rule '%s' has %s '%s'; it must "
                             "be one of the values the API defines.",
                             name, enums[i].member, value ? value : "(missing)");
    }
    int64_t priority;
    if (!json_int(json_get(p, "priority"), &priority) || priority < 100 || priority > 4096)
        return http_fail(c->req, 400, "SecurityRuleInvalidPriority",
                         "Security rule %s has invalid Priority. Value provided: %lld. Allowed "
                         "range 100-4096.",
                         name,
                         json_int(json_get(p, "priority"), &priority) ? (long long)priority : 0LL);
    return 0;
}

const struct arm_type arm_network_security_rules = {
    .namespace = "Microsoft.Network",
    .type = "networkSecurityGroups/securityRules",
    .api_versions = NETWORK_API_VERSIONS,
    .flags = ARM_TYPE_NO_LOCATION | ARM_TYPE_ETAG_IN_BODY,
    .embedded_as = "securityRules",
    .valid_name = arm_name_network,
    .name_rule = network_name_rule,
    .write = write_security_rule,
};
