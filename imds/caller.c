/*
 * imds/caller.c — which VM is asking, and which of its identities it wants (DESIGN §4).
 *
 * A request to IMDS names no VM, so the connection decides, never a header a client could
 * forge: the secret of `azsim env --vm` (in the per-VM path /vms/{secret}/…, or as the password
 * of the front door's proxy credentials), else the source address, matched to the private
 * address of a VM's network interface. A caller bound to no VM is a machine without identities.
 */
#include "imds/imds.h"

#include "common/error.h"
#include "common/frontdoor.h"
#include "common/json.h"
#include "common/store.h"
#include "common/util.h"

#include <string.h>

#define VM_TYPE "Microsoft.Compute/virtualMachines"

/* The id of the VM whose IMDS secret is `secret`, or NULL; a VM whose resource is gone is no
 * VM, whatever was left of it outside Resource Manager. */
static const char *vm_by_secret(struct http_request *req, const char *secret)
{
    struct store_stmt *st;
    if (!secret || store_prepare(req->store,
                                 "SELECT vm.id FROM virtual_machines vm JOIN resources r ON "
                                 "r.id = vm.id WHERE vm.imds_secret = ?1",
                                 &st) != 0)
        return NULL;
    store_bind_text(st, 1, secret);
    const char *id =
        store_step(st) == 1 ? arena_strdup(req->arena, store_column_text(st, 0)) : NULL;
    store_finalize(st);
    return id;
}

/* "10.0.0.4:51234" or "[fd00::4]:51234" → the address alone. */
static const char *address_of(struct http_request *req, const char *peer)
{
    if (!peer)
        return NULL;
    if (peer[0] == '[')
        return arena_strndup(req->arena, peer + 1, strcspn(peer + 1, "]"));
    const char *colon = strrchr(peer, ':');
    return arena_strndup(req->arena, peer, colon ? (size_t)(colon - peer) : strlen(peer));
}

/* The VM one of whose network interfaces has the private address `address`. */
static const char *vm_by_address(struct http_request *req, const char *address)
{
    struct store_stmt *st;
    if (!address ||
        store_prepare(req->store,
                      "SELECT vm.id FROM resources ip JOIN resources vm ON vm.type = '" VM_TYPE "' "
                      "AND EXISTS (SELECT 1 FROM json_each(vm.body, "
                      "'$.properties.networkProfile.networkInterfaces') nic WHERE "
                      "lower(json_extract(nic.value, '$.id')) = "
                      "lower(substr(ip.id, 1, instr(lower(ip.id), '/ipconfigurations/') - 1))) "
                      "WHERE ip.type = 'Microsoft.Network/networkInterfaces/ipConfigurations' AND "
                      "json_extract(ip.body, '$.properties.privateIPAddress') = ?1 LIMIT 1",
                      &st) != 0)
        return NULL;
    store_bind_text(st, 1, address);
    const char *id =
        store_step(st) == 1 ? arena_strdup(req->arena, store_column_text(st, 0)) : NULL;
    store_finalize(st);
    return id;
}

/* Who is asking: the secret in the path, else the proxy password (then *address is NULL), else
 * the connection's source address (then *secret is NULL). */
static void caller_of(struct http_request *req, const char **secret, const char **address)
{
    const char *path_secret = http_param(req, "vmSecret");
    const char *proxy_secret = req->front_door ? req->front_door->proxy_password : NULL;
    *secret = path_secret ? path_secret : proxy_secret;
    *address =
        *secret ? NULL : address_of(req, req->front_door ? req->front_door->client : req->peer);
}

int imds_find_vm(struct http_request *req, bool whole, struct imds_vm *out)
{
    memset(out, 0, sizeof(*out));
    const char *secret, *address;
    caller_of(req, &secret, &address);
    const char *id = secret ? vm_by_secret(req, secret) : vm_by_address(req, address);
    if (!id)
        return AZ_ENOTFOUND;
    out->id = id;
    if (!whole)
        return 0;
    out->resource = imds_load_resource(req, id);
    return out->resource ? 0 : AZ_ENOTFOUND;
}

const char *imds_token_request_key(struct http_request *req, size_t *len)
{
    const char *secret, *address;
    caller_of(req, &secret, &address);
    if (!secret && !address)
        return NULL;
    const char *fields[] = {
        secret,
        address,
        http_query(req, "client_id"),
        http_query(req, "object_id"),
        http_query(req, "msi_res_id"),
        http_query(req, "mi_res_id"),
        http_query(req, "resource"),
    };
    /* Each field: a tag telling absent from empty, the value, and a NUL, which no value holds,
     * so two different requests never make the same key. */
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
        n += 2 + (fields[i] ? strlen(fields[i]) : 0);
    char *key = arena_alloc(req->arena, n), *p = key;
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
        *p++ = fields[i] ? '=' : '-';
        size_t l = fields[i] ? strlen(fields[i]) : 0;
        memcpy(p, fields[i] ? fields[i] : "", l);
        p += l;
        *p++ = '\0';
    }
    *len = n;
    return key;
}

const struct json *imds_load_resource(struct http_request *req, const char *id)
{
    struct store_stmt *st;
    const struct json *doc = NULL;
    if (!id || store_prepare(req->store, "SELECT body FROM resources WHERE id = ?1", &st) != 0)
        return NULL;
    store_bind_text(st, 1, id);
    if (store_step(st) == 1) {
        const char *body = store_column_text(st, 0);
        doc = json_parse_in(req->arena, body, strlen(body));
    }
    store_finalize(st);
    return doc;
}

/* ---- the VM's identities --------------------------------------------------------------------- */

static int system_identity(struct http_request *req, const struct imds_vm *vm,
                           struct imds_identity *out)
{
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT app_id, object_id, tenant_id FROM service_principals WHERE "
                      "type = 'ManagedIdentity' AND resource_id = ?1",
                      &st) != 0)
        return AZ_ESTORE;
    store_bind_text(st, 1, vm->id);
    int rc = store_step(st);
    if (rc == 1) {
        out->client_id = arena_strdup(req->arena, store_column_text(st, 0));
        out->principal_id = arena_strdup(req->arena, store_column_text(st, 1));
        out->tenant_id = arena_strdup(req->arena, store_column_text(st, 2));
        out->resource_id = vm->id;
    }
    store_finalize(st);
    return rc == 1 ? 0 : AZ_ENOTFOUND;
}

/* The user-assigned identities attached to the VM, in their order, each as it is now (one
 * deleted since it was attached is there without a resource id), in *out and *n. One statement
 * for all: a VM with 30 identities took up to 30 lookups and a parse of its identity block. 0 or
 * AZ_ESTORE. */
static int user_identities(struct http_request *req, const struct imds_vm *vm,
                           const struct imds_identity **out, size_t *n)
{
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT r.id, json_extract(r.body, '$.properties.clientId'), "
                      "json_extract(r.body, '$.properties.principalId'), "
                      "json_extract(r.body, '$.properties.tenantId') FROM resources vm, "
                      "json_each(vm.body, '$.identity.userAssignedIdentities') attached "
                      "LEFT JOIN resources r ON r.id = attached.key AND "
                      "r.type = 'Microsoft.ManagedIdentity/userAssignedIdentities' "
                      "WHERE vm.id = ?1 ORDER BY attached.id",
                      &st) != 0)
        return AZ_ESTORE;
    store_bind_text(st, 1, vm->id);
    struct imds_identity *all = NULL;
    size_t count = 0, cap = 0;
    int rc;
    while ((rc = store_step(st)) == 1) {
        if (count == cap) {
            cap = cap ? 2 * cap : 8;
            struct imds_identity *grown = arena_alloc(req->arena, cap * sizeof(*grown));
            if (count)
                memcpy(grown, all, count * sizeof(*grown));
            all = grown;
        }
        struct imds_identity *u = &all[count++];
        u->resource_id = arena_strdup(req->arena, store_column_text(st, 0));
        u->client_id = arena_strdup(req->arena, store_column_text(st, 1));
        u->principal_id = arena_strdup(req->arena, store_column_text(st, 2));
        u->tenant_id = arena_strdup(req->arena, store_column_text(st, 3));
    }
    store_finalize(st);
    *out = all;
    *n = count;
    return rc == 0 ? 0 : AZ_ESTORE;
}

static int identity_not_found(struct http_request *req)
{
    return imds_fail(req, 400, "invalid_request", "Identity not found");
}

int imds_select_identity(struct http_request *req, const struct imds_vm *vm,
                         struct imds_identity *out)
{
    memset(out, 0, sizeof(*out));
    const char *client_id = http_query(req, "client_id");
    const char *object_id = http_query(req, "object_id");
    const char *res_id = http_query(req, "msi_res_id");
    const char *mi_res_id = http_query(req, "mi_res_id");
    int given = !!client_id + !!object_id + !!res_id + !!mi_res_id;
    if (given > 1)
        return imds_fail(req, 400, "invalid_request",
                         "Only one of client_id, object_id or msi_res_id may be given.");
    if (mi_res_id)
        res_id = mi_res_id;
    struct imds_identity system;
    bool has_system = system_identity(req, vm, &system) == 0;
    if (given == 0 && has_system) {
        *out = system;
        return 0;
    }
    if (has_system && ((client_id && str_ieq(client_id, system.client_id)) ||
                       (object_id && str_ieq(object_id, system.principal_id)))) {
        *out = system;
        return 0;
    }
    const struct imds_identity *users;
    size_t n;
    if (user_identities(req, vm, &users, &n) != 0)
        return imds_fail(req, 400, "invalid_request", "The metadata store could not be read.");
    if (given == 0) {
        /* Without a system-assigned identity, the only user-assigned one. */
        if (n == 1 && users[0].resource_id) {
            *out = users[0];
            return 0;
        }
        if (n > 1)
            return imds_fail(req, 400, "invalid_request",
                             "Multiple user assigned identities exist, please specify the "
                             "clientId / resourceId of the identity in the token request");
        return identity_not_found(req);
    }
    for (size_t i = 0; i < n; i++) {
        const struct imds_identity *u = &users[i];
        /* An identity deleted since it was attached is skipped. */
        if (!u->resource_id)
            continue;
        if ((client_id && str_ieq(client_id, u->client_id)) ||
            (object_id && str_ieq(object_id, u->principal_id)) ||
            (res_id && str_ieq(res_id, u->resource_id))) {
            *out = *u;
            return 0;
        }
    }
    return identity_not_found(req);
}
