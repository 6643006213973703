/*
 * fuzz_imds.c — libFuzzer harness for IMDS's parameter handling (imds/): the token request's
 * query (client_id, object_id, msi_res_id, mi_res_id, resource, api-version) and headers, which
 * VM asks (the per-VM path secret, the front door's proxy credentials, the source address), which
 * of its identities it wants; and the instance metadata and versions endpoints, dispatched whole.
 *
 * The input is a request as a client sends it: "GET target\r\n", header lines, a blank line:
 *     GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://vault.azure.net
 *         &client_id=... HTTP/1.1\r\nMetadata: true\r\n\r\n
 * A pseudo-header "X-Fuzz-Peer: 10.0.0.4:5000" sets the connection's source address, and
 * "X-Fuzz-Proxy-Password: s" makes the request come through the front door with that proxy
 * password. The in-memory store holds one VM with a system-assigned and two user-assigned
 * identities (one deleted since it was attached), reachable by its secret (path /vms/vm1secret/…),
 * by proxy password, or from 10.0.0.4. A token request runs as imds_get_token does up to the
 * sign-in to Entra ID (which needs the server's event loop): imds_check_token_request,
 * imds_find_vm, imds_select_identity; a selected identity must belong to the VM.
 *
 * Reproduce a crash: build/fuzz/fuzz_imds FILE (see tests/fuzz/README.md).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/frontdoor.h"
#include "common/http.h"
#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/module.h"
#include "common/store.h"
#include "common/util.h"
#include "imds/imds.h"
#include "tests/fuzz/fuzz_store.h"

#define TENANT FUZZ_TENANT
#define SUB FUZZ_SUB
#define RG "/subscriptions/" SUB "/resourceGroups/rg/providers/"
#define VM_ID RG "Microsoft.Compute/virtualMachines/vm1"
#define NIC_ID RG "Microsoft.Network/networkInterfaces/vm1VMNic"
#define UAI_ID RG "Microsoft.ManagedIdentity/userAssignedIdentities/id1"
#define GONE_ID RG "Microsoft.ManagedIdentity/userAssignedIdentities/deleted"
#define SYS_APP "11111111-1111-4111-8111-111111111111"
#define SYS_OID "22222222-2222-4222-8222-222222222222"
#define UAI_APP "33333333-3333-4333-8333-333333333333"
#define UAI_OID "44444444-4444-4444-8444-444444444444"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct store *store;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static const char *const rows =
        "INSERT INTO resources(id, subscription_id, resource_group, type, name, location, body, "
        "etag, created_at, changed_at) VALUES "
        "('" VM_ID "', '" SUB "', 'rg', 'Microsoft.Compute/virtualMachines', 'vm1', 'westus', "
        "'{\"id\":\"" VM_ID
        "\",\"name\":\"vm1\",\"location\":\"westus\",\"tags\":{\"env\":\"dev\"},"
        "\"identity\":{\"type\":\"SystemAssigned, UserAssigned\",\"principalId\":\"" SYS_OID "\","
        "\"tenantId\":\"" TENANT "\",\"userAssignedIdentities\":{\"" UAI_ID
        "\":{\"clientId\":\"" UAI_APP "\",\"principalId\":\"" UAI_OID "\"},\"" GONE_ID "\":{}}},"
        "\"properties\":{\"vmId\":\"55555555-5555-4555-8555-555555555555\",\"hardwareProfile\":"
        "{\"vmSize\":\"Standard_B1s\"},\"storageProfile\":{\"imageReference\":{\"publisher\":"
        "\"Canonical\",\"offer\":\"0001-com-ubuntu-server-jammy\",\"sku\":\"22_04-lts-gen2\","
        "\"version\":\"latest\"},\"osDisk\":{\"osType\":\"Linux\"}},\"osProfile\":{"
        "\"computerName\":"
        "\"vm1\",\"adminUsername\":\"azureuser\"},\"networkProfile\":{\"networkInterfaces\":[{"
        "\"id\":"
        "\"" NIC_ID "\"}]}}}', 'e', 0, 0),"
        "('" NIC_ID "/ipConfigurations/ipconfig1', '" SUB "', 'rg', "
        "'Microsoft.Network/networkInterfaces/ipConfigurations', 'ipconfig1', NULL, "
        "'{\"properties\":{\"privateIPAddress\":\"10.0.0.4\"}}', 'e', 0, 0),"
        "('" UAI_ID "', '" SUB
        "', 'rg', 'Microsoft.ManagedIdentity/userAssignedIdentities', 'id1', "
        "'westus', '{\"properties\":{\"clientId\":\"" UAI_APP "\",\"principalId\":\"" UAI_OID "\","
        "\"tenantId\":\"" TENANT "\"}}', 'e', 0, 0);"
        "INSERT INTO virtual_machines(id, power_state, imds_secret) VALUES ('" VM_ID
        "', 'running', "
        "'vm1secret');"
        "INSERT INTO service_principals(object_id, app_id, tenant_id, display_name, type, "
        "created_at, resource_id) VALUES ('" SYS_OID "', '" SYS_APP "', '" TENANT "', 'vm1', "
        "'ManagedIdentity', 0, '" VM_ID "');";
    store = fuzz_store_open(rows);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16 * 1024)
        return 0;
    struct arena *a = arena_new();
    char *text = arena_strndup(a, (const char *)data, size);
    size_t line = strcspn(text, "\r\n");
    const char *sp = memchr(text, ' ', line);
    if (!sp) {
        arena_free(a);
        return 0;
    }
    const char *sp2 = memchr(sp + 1, ' ', line - (size_t)(sp + 1 - text));
    const char *target =
        arena_strndup(a, sp + 1, sp2 ? (size_t)(sp2 - sp - 1) : line - (size_t)(sp + 1 - text));

    struct http_request req;
    http_request_init(&req, a, &imds_module, HTTP_GET, target);
    req.store = store;
    req.peer = "127.0.0.1:40000";
    struct frontdoor_origin *origin = NULL;
    for (const char *l = text + line; *l;) {
        l += (*l == '\r' && l[1] == '\n') ? 2 : 1;
        size_t n = strcspn(l, "\r\n");
        if (n == 0)
            break;
        const char *colon = memchr(l, ':', n);
        if (colon) {
            const char *v = colon + 1 + strspn(colon + 1, " \t");
            const char *name = arena_strndup(a, l, (size_t)(colon - l));
            const char *value = arena_strndup(a, v, v < l + n ? (size_t)(l + n - v) : 0);
            if (str_ieq(name, "X-Fuzz-Peer")) {
                req.peer = value;
            } else if (str_ieq(name, "X-Fuzz-Proxy-Password")) {
                origin = arena_alloc(a, sizeof(*origin));
                origin->host = "169.254.169.254";
                origin->proxy_user = "vm";
                origin->proxy_password = value;
                origin->client = req.peer;
                req.front_door = origin;
            } else {
                http_headers_add(a, &req.headers, name, value);
            }
        }
        l += n;
    }

    unsigned allowed;
    enum router_result r = router_match(imds_module.routes, imds_module.nroutes, req.method,
                                        req.path, a, &req.match, &allowed);
    if (r == ROUTER_FOUND && strcmp(req.match.route->operation_id, "Identity_GetToken") == 0) {
        struct imds_vm vm;
        struct imds_identity id;
        if (req.malformed_query) {
            /* the dispatcher answers 400 before any handler */
        } else if (imds_check_token_request(&req) == 0 && imds_find_vm(&req, false, &vm) == 0 &&
                   imds_select_identity(&req, &vm, &id) == 0) {
            if (!id.client_id || !id.resource_id ||
                (!str_ieq(id.resource_id, VM_ID) && !str_ieq(id.resource_id, UAI_ID)))
                abort(); /* an identity the VM does not have */
        }
    } else if (r == ROUTER_FOUND || req.malformed_query) {
        /* Instance metadata and versions need nothing but the store: dispatch them whole. */
        memset(&req.match, 0, sizeof(req.match));
        http_dispatch(&req);
        if (!req.replied || req.status < 200 || req.status >= 500)
            abort();
        const char *type = http_headers_get(&req.resp_headers, "Content-Type");
        struct json *doc;
        if (type && strstr(type, "json")) {
            if (json_parse(req.resp_body.data ? req.resp_body.data : "", req.resp_body.len, &doc,
                           NULL, 0) != 0)
                abort(); /* what IMDS calls JSON is JSON */
            json_free(doc);
        }
    }
    http_request_release(&req);
    arena_free(a);
    return 0;
}
