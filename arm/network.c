/*
 * arm/network.c — Microsoft.Network: the resources virtual machines stand on, stored with
 * Azure's shapes (nothing is routed or filtered).
 *
 * Network security groups and their security rules: a group lists its rules in
 * properties.securityRules and each rule is also a resource of its own
 * (…/networkSecurityGroups/{nsg}/securityRules/{rule}); either way of writing them keeps the
 * other in step (arm/resources.c). Every group has Azure's six default rules. Virtual networks
 * and their subnets likewise; public IP addresses get an address from 20.0.0.0/8; network
 * interfaces' IP configurations get a private address from their subnet (static or the lowest
 * free one), which is what binds a container or namespace to its VM at IMDS.
 */
#include "arm/arm.h"

#include "common/error.h"
#include "common/json.h"
#include "common/store.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
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

/* ---- network security groups ----------------------------------------------------------------- */

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

/* ---- security rules -------------------------------------------------------------------------- */

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

/* ---- addresses ------------------------------------------------------------------------------- */

/* An IPv4 prefix "a.b.c.d/n". */
struct prefix {
    uint32_t base; /* host order, masked */
    int bits;
};

static bool parse_ipv4(const char *s, size_t n, uint32_t *out)
{
    char text[16];
    if (n == 0 || n >= sizeof(text))
        return false;
    memcpy(text, s, n);
    text[n] = '\0';
    struct in_addr a;
    if (inet_pton(AF_INET, text, &a) != 1)
        return false;
    *out = ntohl(a.s_addr);
    return true;
}

static bool parse_prefix(const char *s, struct prefix *out)
{
    const char *slash = s ? strchr(s, '/') : NULL;
    char *end;
    if (!slash || !parse_ipv4(s, (size_t)(slash - s), &out->base))
        return false;
    long bits = strtol(slash + 1, &end, 10);
    if (*end || end == slash + 1 || bits < 0 || bits > 32)
        return false;
    out->bits = (int)bits;
    uint32_t mask = bits == 0 ? 0 : 0xffffffffu << (32 - bits);
    return (out->base & ~mask) == 0; /* Azure refuses "10.0.0.1/16" */
}

static uint32_t prefix_size(const struct prefix *p)
{
    return p->bits == 0 ? 0xffffffffu : 1u << (32 - p->bits);
}

static bool prefix_contains(const struct prefix *outer, uint32_t address)
{
    return address - outer->base < prefix_size(outer);
}

static const char *format_ipv4(struct http_request *req, uint32_t address)
{
    return arena_printf(req->arena, "%u.%u.%u.%u", address >> 24, (address >> 16) & 0xff,
                        (address >> 8) & 0xff, address & 0xff);
}

static int fail_prefix(struct http_request *req, const char *what, const char *value)
{
    return http_fail(req, 400, "InvalidAddressPrefixFormat",
                     "Address prefix %s of resource %s is not formatted correctly. It should "
                     "follow CIDR notation, for example 10.0.0.0/24.",
                     value ? value : "(missing)", what);
}

/* ---- virtual networks and subnets ------------------------------------------------------------ */

static int write_virtual_network(struct arm_change *c)
{
    const struct json *prefixes =
        json_get(json_get(json_get(c->resource, "properties"), "addressSpace"), "addressPrefixes");
    if (json_len(prefixes) == 0)
        return http_fail(c->req, 400, "InvalidRequestFormat",
                         "Cannot parse the request: virtual network %s needs at least one address "
                         "prefix in properties.addressSpace.addressPrefixes.",
                         c->id);
    for (size_t i = 0; i < json_len(prefixes); i++) {
        struct prefix p;
        if (!parse_prefix(json_string(json_at(prefixes, i)), &p))
            return fail_prefix(c->req, c->id, json_string(json_at(prefixes, i)));
    }
    jw_key(c->own, "properties");
    jw_object_open(c->own);
    write_resource_guid(c);
    jw_object_close(c->own);
    return 0;
}

static int write_subnet(struct arm_change *c)
{
    const struct json *p = json_get(c->resource, "properties");
    const char *text = json_string(json_get(p, "addressPrefix"));
    if (!text)
        text = json_string(json_at(json_get(p, "addressPrefixes"), 0));
    struct prefix subnet;
    if (!parse_prefix(text, &subnet))
        return fail_prefix(c->req, c->id, text);
    const struct json *space =
        json_get(json_get(json_get(c->parent, "properties"), "addressSpace"), "addressPrefixes");
    for (size_t i = 0; i < json_len(space); i++) {
        struct prefix vnet;
        if (parse_prefix(json_string(json_at(space, i)), &vnet) && vnet.bits <= subnet.bits &&
            prefix_contains(&vnet, subnet.base))
            return 0;
    }
    return http_fail(c->req, 400, "NetcfgSubnetRangeOutsideVnet",
                     "Subnet '%s' is not valid because its IP address range is outside the IP "
                     "address range of virtual network '%s'.",
                     strrchr(c->id, '/') + 1, strrchr(c->parent_id, '/') + 1);
}

const struct arm_type arm_virtual_networks = {
    .namespace = "Microsoft.Network",
    .type = "virtualNetworks",
    .api_versions = NETWORK_API_VERSIONS,
    .flags = ARM_TYPE_ETAG_IN_BODY,
    .valid_name = arm_name_network,
    .name_rule = network_name_rule,
    .write = write_virtual_network,
};

const struct arm_type arm_subnets = {
    .namespace = "Microsoft.Network",
    .type = "virtualNetworks/subnets",
    .api_versions = NETWORK_API_VERSIONS,
    .flags = ARM_TYPE_NO_LOCATION | ARM_TYPE_ETAG_IN_BODY,
    .embedded_as = "subnets",
    .valid_name = arm_name_network,
    .name_rule = network_name_rule,
    .write = write_subnet,
};

/* ---- public IP addresses --------------------------------------------------------------------- */

/* Is `address` held by any resource of `type` (other than `self`) under `path`? */
static bool address_taken(struct http_request *req, const char *type, const char *path,
                          const char *address, const char *self)
{
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT 1 FROM resources WHERE type = ?1 AND lower(id) <> lower(?4) AND "
                      "json_extract(body, ?2) = ?3 LIMIT 1",
                      &st) != 0)
        return true;
    store_bind_text(st, 1, type);
    store_bind_text(st, 2, path);
    store_bind_text(st, 3, address);
    store_bind_text(st, 4, self);
    bool taken = store_step(st) != 0;
    store_finalize(st);
    return taken;
}

/* Public addresses come from 20.0.0.0/8, as Azure's do, one per resource. */
static int write_public_ip(struct arm_change *c)
{
    const struct json *was = json_get(c->old, "properties");
    const char *address = json_string(json_get(was, "ipAddress"));
    for (int tries = 0; !address && tries < 64; tries++) {
        unsigned char r[3];
        random_bytes(r, sizeof(r));
        const char *candidate =
            arena_printf(c->req->arena, "20.%u.%u.%u", r[0], r[1], r[2] % 253 + 1);
        if (!address_taken(c->req, "Microsoft.Network/publicIPAddresses", "$.properties.ipAddress",
                           candidate, c->id))
            address = candidate;
    }
    if (!address)
        return http_fail(c->req, 409, "PublicIPCountLimitReached",
                         "No public IP address could be allocated.");
    const struct json *p = json_get(c->resource, "properties");
    const char *method = json_string(json_get(p, "publicIPAllocationMethod"));
    const char *label = json_string(json_get(json_get(p, "dnsSettings"), "domainNameLabel"));
    struct json_writer *w = c->own;
    if (!json_get(c->resource, "sku")) {
        jw_key(w, "sku");
        jw_object_open(w);
        jw_kv_string(w, "name", "Basic");
        jw_kv_string(w, "tier", "Regional");
        jw_object_close(w);
    }
    jw_key(w, "properties");
    jw_object_open(w);
    write_resource_guid(c);
    jw_kv_string(w, "ipAddress", address);
    jw_kv_string(w, "publicIPAllocationMethod", method ? method : "Dynamic");
    if (!json_get(p, "publicIPAddressVersion"))
        jw_kv_string(w, "publicIPAddressVersion", "IPv4");
    if (!json_get(p, "idleTimeoutInMinutes"))
        jw_kv_int(w, "idleTimeoutInMinutes", 4);
    if (label) {
        jw_key(w, "dnsSettings");
        jw_object_open(w);
        jw_kv_string(w, "fqdn",
                     arena_printf(c->req->arena, "%s.%s.cloudapp.azure.com", label,
                                  json_string(json_get(c->resource, "location"))));
        jw_object_close(w);
    }
    jw_object_close(w);
    return 0;
}

const struct arm_type arm_public_ip_addresses = {
    .namespace = "Microsoft.Network",
    .type = "publicIPAddresses",
    .api_versions = NETWORK_API_VERSIONS,
    .flags = ARM_TYPE_ETAG_IN_BODY,
    .valid_name = arm_name_network,
    .name_rule = network_name_rule,
    .write = write_public_ip,
};

/* ---- network interfaces and their IP configurations ------------------------------------------ */

#define IP_CONFIGURATIONS "Microsoft.Network/networkInterfaces/ipConfigurations"
/* How far into a subnet a dynamic address is looked for. */
#define MAX_ADDRESS_SCAN 65536u

static int fail_reference(struct http_request *req, const char *ref, const char *by)
{
    return http_fail(req, 400, "InvalidResourceReference",
                     "Resource %s referenced by resource %s was not found. Please make sure that "
                     "the referenced resource exists, and that both resources are in the same "
                     "region.",
                     ref ? ref : "(missing id)", by);
}

/*
 * An IP configuration's private address: a static one must lie in its subnet and be free; a
 * dynamic one keeps what it had or takes the lowest free address of the subnet after the first
 * four, which Azure reserves (as it does the last). Unlike Azure, addresses are unique across
 * all of azsim, not per virtual network: a private address is what tells IMDS which VM a
 * container or namespace is.
 */
static int write_ip_configuration(struct arm_change *c)
{
    struct http_request *req = c->req;
    const struct json *p = json_get(c->resource, "properties");
    const char *subnet_id = json_string(json_get(json_get(p, "subnet"), "id"));
    const struct json *subnet;
    if (!subnet_id || arm_resource_load(req, subnet_id, &subnet) != 0)
        return fail_reference(req, subnet_id, c->id);
    const char *public_id = json_string(json_get(json_get(p, "publicIPAddress"), "id"));
    const struct json *public_ip;
    if (public_id && arm_resource_load(req, public_id, &public_ip) != 0)
        return fail_reference(req, public_id, c->id);
    const struct json *sp = json_get(subnet, "properties");
    const char *subnet_text = json_string(json_get(sp, "addressPrefix"));
    if (!subnet_text)
        subnet_text = json_string(json_at(json_get(sp, "addressPrefixes"), 0));
    struct prefix range;
    if (!parse_prefix(subnet_text, &range))
        return fail_prefix(req, subnet_id, subnet_text);

    const char *method = json_string(json_get(p, "privateIPAllocationMethod"));
    const char *address = json_string(json_get(p, "privateIPAddress"));
    bool is_static = method && str_ieq(method, "Static");
    uint32_t a;
    if (is_static || (address && c->old)) {
        if (!address || !parse_ipv4(address, strlen(address), &a) || !prefix_contains(&range, a))
            return http_fail(req, 400, "PrivateIPAddressNotInSubnet",
                             "IP configuration %s references the private IP address %s which is "
                             "not in the address range %s of subnet %s.",
                             c->id, address ? address : "(missing)", subnet_text, subnet_id);
        if (is_static &&
            address_taken(req, IP_CONFIGURATIONS, "$.properties.privateIPAddress", address, c->id))
            return http_fail(req, 400, "PrivateIPAddressInUse",
                             "IP configuration %s is using the private IP address %s which is "
                             "already allocated to another resource.",
                             c->id, address);
    } else {
        address = NULL;
        uint32_t last = range.base + prefix_size(&range) - 1;
        for (a = range.base + 4; !address && a < last && a - range.base < MAX_ADDRESS_SCAN; a++) {
            const char *candidate = format_ipv4(req, a);
            if (!address_taken(req, IP_CONFIGURATIONS, "$.properties.privateIPAddress", candidate,
                               c->id))
                address = candidate;
        }
        if (!address)
            return http_fail(req, 400, "SubnetIsFull", "Subnet %s has no free IP address left.",
                             subnet_id);
    }
    jw_key(c->own, "properties");
    jw_object_open(c->own);
    jw_kv_string(c->own, "privateIPAddress", address);
    jw_kv_string(c->own, "privateIPAllocationMethod", is_static ? "Static" : "Dynamic");
    if (!json_get(p, "privateIPAddressVersion"))
        jw_kv_string(c->own, "privateIPAddressVersion", "IPv4");
    jw_object_close(c->own);
    return 0;
}

/* A MAC address in Azure's form, kept across updates. */
static int write_network_interface(struct arm_change *c)
{
    const struct json *configs = json_get(json_get(c->resource, "properties"), "ipConfigurations");
    if (json_len(configs) == 0)
        return http_fail(c->req, 400, "NetworkInterfaceMustHaveAtLeastOneIpConfiguration",
                         "Network interface %s must have at least one IP configuration.", c->id);
    const char *mac = json_string(json_get(json_get(c->old, "properties"), "macAddress"));
    if (!mac) {
        unsigned char r[3];
        random_bytes(r, sizeof(r));
        mac = arena_printf(c->req->arena, "00-0D-3A-%02X-%02X-%02X", r[0], r[1], r[2]);
    }
    jw_key(c->own, "properties");
    jw_object_open(c->own);
    write_resource_guid(c);
    jw_kv_string(c->own, "macAddress", mac);
    jw_object_close(c->own);
    return 0;
}

const struct arm_type arm_network_interfaces = {
    .namespace = "Microsoft.Network",
    .type = "networkInterfaces",
    .api_versions = NETWORK_API_VERSIONS,
    .flags = ARM_TYPE_ETAG_IN_BODY,
    .valid_name = arm_name_network,
    .name_rule = network_name_rule,
    .write = write_network_interface,
};

const struct arm_type arm_ip_configurations = {
    .namespace = "Microsoft.Network",
    .type = "networkInterfaces/ipConfigurations",
    .api_versions = NETWORK_API_VERSIONS,
    .flags = ARM_TYPE_NO_LOCATION | ARM_TYPE_ETAG_IN_BODY,
    .embedded_as = "ipConfigurations",
    .valid_name = arm_name_network,
    .name_rule = network_name_rule,
    .write = write_ip_configuration,
};
