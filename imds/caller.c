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

/* The id of the VM whose IMDS secret is `secret`, or NULL. */
static const char *vm_by_secret(struct http_request *req, const char *secret)
{
    struct store_stmt *st;
    if (!secret ||
        store_prepare(req->store, "SELECT id FROM virtual_machines WHERE imds_secret = ?1", &st) !=
            0)
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

/* The VM's "identity" block alone: a token request needs no more of it, and parsing the
 * whole resource on every request was most of IMDS's time. */
static const struct json *load_identities(struct http_request *req, const char *id)
{
    struct store_stmt *st;
    const struct json *doc = NULL;
    if (store_prepare(req->store,
                      "SELECT coalesce(json_extract(body, '$.identity'), '{}') FROM resources "
                      "WHERE id = ?1",
                      &st) != 0)
        return NULL;
    store_bind_text(st, 1, id);
    if (store_step(st) == 1) {
        const char *text = store_column_text(st, 0);
        doc = json_parse_in(req->arena, text, strlen(text));
    }
    store_finalize(st);
    return doc;
}

int imds_find_vm(struct http_request *req, bool whole, struct imds_vm *out)
{
    memset(out, 0, sizeof(*out));
    const char *path_secret = http_param(req, "vmSecret");
    const char *proxy_secret = req->front_door ? req->front_door->proxy_password : NULL;
    const char *id;
    if (path_secret || proxy_secret)
        id = vm_by_secret(req, path_secret ? path_secret : proxy_secret);
    else
        id = vm_by_address(req,
                           address_of(req, req->front_door ? req->front_door->client : req->peer));
    if (!id)
        return AZ_ENOTFOUND;
    out->id = id;
    if (whole) {
        out->resource = imds_load_resource(req, id);
        out->identities = json_get(out->resource, "identity");
        return out->resource ? 0 : AZ_ENOTFOUND;
    }
    out->identities = load_identities(req, id);
    return out->identities ? 0 : AZ_ENOTFOUND;
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

/* The `i`th user-assigned identity attached to the VM, as it is now (it may have been deleted
 * since: then AZ_ENOTFOUND). */
static int user_identity(struct http_request *req, const struct imds_vm *vm, size_t i,
                         struct imds_identity *out)
{
    const struct json *map = json_get(vm->identities, "userAssignedIdentities");
    if (i >= json_len(map))
        return AZ_ENOTFOUND;
    struct store_stmt *st;
    if (store_prepare(
            req->store,
            "SELECT id, json_extract(body, '$.properties.clientId'), "
            "json_extract(body, '$.properties.principalId'), "
            "json_extract(body, '$.properties.tenantId') FROM resources WHERE id = ?1 AND "
            "type = 'Microsoft.ManagedIdentity/userAssignedIdentities'",
            &st) != 0)
        return AZ_ESTORE;
    store_bind_text(st, 1, json_key_at(map, i));
    int rc = store_step(st);
    if (rc == 1) {
        out->resource_id = arena_strdup(req->arena, store_column_text(st, 0));
        out->client_id = arena_strdup(req->arena, store_column_text(st, 1));
        out->principal_id = arena_strdup(req->arena, store_column_text(st, 2));
        out->tenant_id = arena_strdup(req->arena, store_column_text(st, 3));
    }
    store_finalize(st);
    return rc == 1 ? 0 : AZ_ENOTFOUND;
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
    size_t n = json_len(json_get(vm->identities, "userAssignedIdentities"));
    if (given == 0) {
        /* The system-assigned identity; without one, the only user-assigned identity. */
        if (system_identity(req, vm, out) == 0)
            return 0;
        if (n == 1 && user_identity(req, vm, 0, out) == 0)
            return 0;
        if (n > 1)
            return imds_fail(req, 400, "invalid_request",
                             "Multiple user assigned identities exist, please specify the "
                             "clientId / resourceId of the identity in the token request");
        return identity_not_found(req);
    }
    struct imds_identity candidate;
    if (system_identity(req, vm, &candidate) == 0 &&
        ((client_id && str_ieq(client_id, candidate.client_id)) ||
         (object_id && str_ieq(object_id, candidate.principal_id)))) {
        *out = candidate;
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        /* An identity deleted since it was attached is skipped. */
        if (user_identity(req, vm, i, &candidate) != 0)
            continue;
        if ((client_id && str_ieq(client_id, candidate.client_id)) ||
            (object_id && str_ieq(object_id, candidate.principal_id)) ||
            (res_id && str_ieq(res_id, candidate.resource_id))) {
            *out = candidate;
            return 0;
        }
    }
    return identity_not_found(req);
}
