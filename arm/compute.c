/*
 * arm/compute.c — Microsoft.Compute/virtualMachines: step 1 of the managed-identity flow for
 * system-assigned identities, and where user-assigned identities are attached.
 *
 * A VM is a stored resource (nothing runs): its network interfaces must exist and belong to no
 * other VM; the `identity` block — None, SystemAssigned, UserAssigned or both — makes or deletes
 * the system-assigned identity's service principal (arm/identities.c) and answers each attached
 * identity's principalId and clientId. Attaching a user-assigned identity is a linked
 * authorization: the caller also needs ".../userAssignedIdentities/assign/action" on it (Managed
 * Identity Operator). Power actions change a state that `$expand=instanceView` and IMDS show.
 * The admin password is never stored or answered.
 */
#include "arm/arm.h"

#include "common/error.h"
#include "common/json.h"
#include "common/store.h"
#include "common/util.h"

#include <stdio.h>
#include <string.h>

#define VM_WRITE "Microsoft.Compute/virtualMachines/write"
#define ASSIGN_IDENTITY "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action"
#define IDENTITY_TYPE "Microsoft.ManagedIdentity/userAssignedIdentities"

/* 1-64 letters, digits, '-', '_' and '.'; not starting with '_', '-' or '.', nor ending in '.'
 * or '-'. (Windows computer names are shorter; that rule is the OS profile's, not the VM's.) */
static bool valid_vm_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64 || strchr("_-.", name[0]) || strchr(".-", name[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("-_.", c)))
            return false;
    }
    return true;
}

/* ---- the system-assigned identity ------------------------------------------------------------ */

struct system_identity {
    bool exists;
    char principal_id[40], tenant_id[40], client_id[40];
};

/* The service principal that is `vm`'s system-assigned identity, if it has one. */
static int find_system_identity(struct http_request *req, const char *vm,
                                struct system_identity *out)
{
    memset(out, 0, sizeof(*out));
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT object_id, tenant_id, app_id FROM service_principals WHERE "
                      "type = 'ManagedIdentity' AND resource_id = ?1",
                      &st) != 0)
        return AZ_ESTORE;
    store_bind_text(st, 1, vm);
    int rc = store_step(st);
    if (rc == 1) {
        out->exists = true;
        snprintf(out->principal_id, sizeof(out->principal_id), "%s", store_column_text(st, 0));
        snprintf(out->tenant_id, sizeof(out->tenant_id), "%s", store_column_text(st, 1));
        snprintf(out->client_id, sizeof(out->client_id), "%s", store_column_text(st, 2));
    }
    store_finalize(st);
    return rc < 0 ? AZ_ESTORE : 0;
}

/* ---- the identity block ---------------------------------------------------------------------- */

/* "SystemAssigned, UserAssigned" and its spellings: which kinds are asked for. */
static bool parse_identity_type(const char *type, bool *system, bool *user)
{
    *system = *user = false;
    if (!type)
        return true;
    bool none = false;
    for (const char *p = type; *p;) {
        p += strspn(p, " ,");
        size_t n = strcspn(p, ",");
        while (n > 0 && p[n - 1] == ' ')
            n--;
        if (n == 0)
            break;
        if (str_ieqn(p, n, "SystemAssigned"))
            *system = true;
        else if (str_ieqn(p, n, "UserAssigned"))
            *user = true;
        else if (str_ieqn(p, n, "None"))
            none = true;
        else
            return false;
        p += strcspn(p, ",");
    }
    return !(none && (*system || *user));
}

/* Is `id` a key of the identity map `old` (compared case-insensitively, as ARM ids are)? */
static bool attached_before(const struct json *old, const char *id)
{
    for (size_t i = 0; i < json_len(old); i++) {
        if (str_ieq(json_key_at(old, i), id))
            return true;
    }
    return false;
}

/*
 * Does this PATCH of the VM detach `id` with a null under some spelling of it? A JSON merge patch
 * matches keys exactly, but ARM ids are case-insensitive, and `az vm identity remove --identities`
 * (2.45) sends the ids lower-cased: {"userAssignedIdentities":{"/subscriptions/…/uai-one":null}}
 * must detach ".../Uai-One" too, not leave it attached without a word.
 */
static bool detached_by_patch(struct arm_change *c, const char *id)
{
    struct http_request *req = c->req;
    if (req->method != HTTP_PATCH || !str_ieq(arm_scope(req), c->id))
        return false;
    const struct json *body = json_parse_in(req->arena, req->body, req->body_len);
    const struct json *map = json_get(json_get(body, "identity"), "userAssignedIdentities");
    for (size_t i = 0; i < json_len(map); i++) {
        if (json_type(json_at(map, i)) == JSON_NULL && str_ieq(json_key_at(map, i), id))
            return true;
    }
    return false;
}

/* The user-assigned identities, each checked to exist and, when newly attached, that the caller
 * may assign it; written as the map ARM answers, keyed by each identity's own id. */
static int write_user_identities(struct arm_change *c, const struct json *given)
{
    struct http_request *req = c->req;
    const struct json *before = json_get(json_get(c->old, "identity"), "userAssignedIdentities");
    size_t kept = 0;
    for (size_t i = 0; i < json_len(given); i++)
        kept += !detached_by_patch(c, json_key_at(given, i));
    if (json_type(given) != JSON_OBJECT || kept == 0)
        return http_fail(req, 400, "InvalidParameter",
                         "The identity type includes 'UserAssigned' but "
                         "'identity.userAssignedIdentities' names none.");
    struct json_writer *w = c->own;
    jw_key(w, "userAssignedIdentities");
    jw_object_open(w);
    for (size_t i = 0; i < json_len(given); i++) {
        const char *key = json_key_at(given, i);
        if (detached_by_patch(c, key)) {
            jw_key(w, key);
            jw_null(w);
            continue;
        }
        const struct json *uai;
        if (arm_resource_load(req, key, &uai) != 0 ||
            !str_ieq(json_string(json_get(uai, "type")), IDENTITY_TYPE))
            return http_fail(req, 400, "FailedIdentityOperation",
                             "Identity (%s) cannot be found: it does not exist or is not a "
                             "user-assigned identity.",
                             key);
        const char *id = json_string(json_get(uai, "id"));
        if (!attached_before(before, key) &&
            arm_authorize_linked(req, VM_WRITE, ASSIGN_IDENTITY, id) != 0)
            return AZ_EREPLIED;
        if (strcmp(key, id) != 0) { /* the client's spelling gives way to the identity's own */
            jw_key(w, key);
            jw_null(w);
        }
        const struct json *p = json_get(uai, "properties");
        jw_key(w, id);
        jw_object_open(w);
        jw_kv_string(w, "principalId", json_string(json_get(p, "principalId")));
        jw_kv_string(w, "clientId", json_string(json_get(p, "clientId")));
        jw_object_close(w);
    }
    jw_object_close(w);
    return 0;
}

static int write_identity(struct arm_change *c)
{
    struct http_request *req = c->req;
    const struct json *identity = json_get(c->resource, "identity");
    const char *type = json_string(json_get(identity, "type"));
    bool system, user;
    if (!parse_identity_type(type, &system, &user))
        return http_fail(req, 400, "InvalidParameter",
                         "The value '%s' of parameter 'identity.type' is invalid: it must be "
                         "None, SystemAssigned, UserAssigned or 'SystemAssigned, UserAssigned'.",
                         type);
    struct system_identity sys;
    if (find_system_identity(req, c->id, &sys) != 0)
        return http_fail(req, 500, "InternalServerError", "The directory could not be read.");
    if (system && !sys.exists) {
        struct arm_identity made;
        if (arm_identity_create(req, strrchr(c->id, '/') + 1, c->id, &made) != 0)
            return AZ_EREPLIED;
        sys.exists = true;
        snprintf(sys.principal_id, sizeof(sys.principal_id), "%s", made.principal_id);
        snprintf(sys.tenant_id, sizeof(sys.tenant_id), "%s", made.tenant_id);
    } else if (!system && sys.exists && arm_identity_delete(req, sys.client_id) != 0) {
        return AZ_EREPLIED;
    }

    struct json_writer *w = c->own;
    jw_key(w, "identity");
    if (!system && !user) {
        jw_null(w);
        return 0;
    }
    jw_object_open(w);
    jw_kv_string(w, "type",
                 system && user ? "SystemAssigned, UserAssigned"
                 : system       ? "SystemAssigned"
                                : "UserAssigned");
    jw_kv_string(w, "principalId", system ? sys.principal_id : NULL);
    jw_kv_string(w, "tenantId", system ? sys.tenant_id : NULL);
    int rc = 0;
    if (user) {
        rc = write_user_identities(c, json_get(identity, "userAssignedIdentities"));
    } else {
        jw_key(w, "userAssignedIdentities");
        jw_null(w);
    }
    jw_object_close(w);
    return rc;
}

/* ---- the VM ---------------------------------------------------------------------------------- */

/* Each network interface exists and is no other VM's. */
static int check_network_interfaces(struct arm_change *c)
{
    const struct json *nics = json_get(
        json_get(json_get(c->resource, "properties"), "networkProfile"), "networkInterfaces");
    for (size_t i = 0; i < json_len(nics); i++) {
        const char *nic = json_string(json_get(json_at(nics, i), "id"));
        const struct json *found;
        if (!nic || arm_resource_load(c->req, nic, &found) != 0)
            return http_fail(c->req, 400, "InvalidParameter",
                             "Network interface %s of virtual machine %s was not found.",
                             nic ? nic : "(missing id)", c->id);
        struct store_stmt *st;
        if (store_prepare(c->req->store,
                          "SELECT id FROM resources WHERE type = 'Microsoft.Compute/"
                          "virtualMachines' AND lower(id) <> lower(?1) AND EXISTS (SELECT 1 FROM "
                          "json_each(body, '$.properties.networkProfile.networkInterfaces') e "
                          "WHERE lower(json_extract(e.value, '$.id')) = lower(?2))",
                          &st) != 0)
            return http_fail(c->req, 500, "InternalServerError", "The store could not be read.");
        store_bind_text(st, 1, c->id);
        store_bind_text(st, 2, nic);
        const char *other =
            store_step(st) == 1 ? arena_strdup(c->req->arena, store_column_text(st, 0)) : NULL;
        store_finalize(st);
        if (other)
            return http_fail(c->req, 400, "NicInUse",
                             "Network Interface %s is used by existing Virtual Machine %s.", nic,
                             other);
    }
    return 0;
}

static int write_vm(struct arm_change *c)
{
    struct http_request *req = c->req;
    const struct json *p = json_get(c->resource, "properties");
    if (!json_string(json_get(json_get(p, "hardwareProfile"), "vmSize")))
        return http_fail(req, 400, "InvalidParameter",
                         "Required parameter 'hardwareProfile.vmSize' is missing (null).");
    if (check_network_interfaces(c) != 0 || write_identity(c) != 0)
        return AZ_EREPLIED;
    const struct json *was = json_get(c->old, "properties");
    const char *vm_id = json_string(json_get(was, "vmId"));
    const char *created = json_string(json_get(was, "timeCreated"));
    char fresh_id[37], now[40];
    uuid_v4(fresh_id);
    clock_format_iso8601(clock_now_ms(), now, sizeof(now));
    if (!c->old) {
        unsigned char secret[16];
        random_bytes(secret, sizeof(secret));
        char hex[33];
        for (size_t i = 0; i < sizeof(secret); i++)
            snprintf(hex + 2 * i, 3, "%02x", secret[i]);
        if (store_run(req->store,
                      "INSERT INTO virtual_machines(id, power_state, imds_secret) "
                      "VALUES(?1, 'running', ?2)",
                      "ss", c->id, hex) != 0)
            return http_fail(req, 500, "InternalServerError", "The VM could not be stored.");
    }
    struct json_writer *w = c->own;
    jw_key(w, "properties");
    jw_object_open(w);
    jw_kv_string(w, "vmId", vm_id ? vm_id : fresh_id);
    jw_kv_string(w, "timeCreated", created ? created : now);
    if (json_get(json_get(p, "osProfile"), "adminPassword")) {
        jw_key(w, "osProfile");
        jw_object_open(w);
        jw_key(w, "adminPassword");
        jw_null(w);
        jw_object_close(w);
    }
    jw_object_close(w);
    return 0;
}

static int remove_vm(struct http_request *req, const struct json *resource)
{
    const char *id = json_string(json_get(resource, "id"));
    struct system_identity sys;
    if (find_system_identity(req, id, &sys) != 0 ||
        store_run(req->store, "DELETE FROM virtual_machines WHERE id = ?1", "s", id) != 0)
        return http_fail(req, 500, "InternalServerError", "The VM could not be deleted.");
    return sys.exists ? arm_identity_delete(req, sys.client_id) : 0;
}

/* ---- power state and the instance view ------------------------------------------------------- */

static const char *power_state(struct http_request *req, const char *id)
{
    struct store_stmt *st;
    if (store_prepare(req->store, "SELECT power_state FROM virtual_machines WHERE id = ?1", &st) !=
        0)
        return NULL;
    store_bind_text(st, 1, id);
    const char *state =
        store_step(st) == 1 ? arena_strdup(req->arena, store_column_text(st, 0)) : NULL;
    store_finalize(st);
    return state;
}

static void write_status(struct json_writer *w, const char *code, const char *display,
                         const char *time)
{
    jw_object_open(w);
    jw_kv_string(w, "code", code);
    jw_kv_string(w, "level", "Info");
    jw_kv_string(w, "displayStatus", display);
    if (time)
        jw_kv_string(w, "time", time);
    jw_object_close(w);
}

/* $expand=instanceView: the statuses az and the portal read. */
static int expand_vm(struct http_request *req, const struct json *resource, struct json_writer *own)
{
    if (!str_ieq(http_query(req, "$expand"), "instanceView"))
        return 0;
    const char *state = power_state(req, json_string(json_get(resource, "id")));
    const struct json *p = json_get(resource, "properties");
    const char *computer = json_string(json_get(json_get(p, "osProfile"), "computerName"));
    jw_key(own, "properties");
    jw_object_open(own);
    jw_key(own, "instanceView");
    jw_object_open(own);
    jw_kv_string(own, "computerName",
                 computer ? computer : json_string(json_get(resource, "name")));
    jw_key(own, "statuses");
    jw_array_open(own);
    write_status(own, "ProvisioningState/succeeded", "Provisioning succeeded",
                 json_string(json_get(p, "timeCreated")));
    state = state ? state : "running";
    write_status(own, arena_printf(req->arena, "PowerState/%s", state),
                 arena_printf(req->arena, "VM %s", state), NULL);
    jw_array_close(own);
    jw_object_close(own);
    jw_object_close(own);
    return 0;
}

static int set_power(struct http_request *req, const char *id, const char *state)
{
    if (store_run(req->store, "UPDATE virtual_machines SET power_state = ?2 WHERE id = ?1", "ss",
                  id, state) != 0)
        return http_fail(req, 500, "InternalServerError", "The VM could not be updated.");
    return http_reply(req, 200, NULL, "", 0);
}

static int start_vm(struct http_request *req, const char *id, const struct json *vm)
{
    (void)vm;
    return set_power(req, id, "running");
}

static int power_off_vm(struct http_request *req, const char *id, const struct json *vm)
{
    (void)vm;
    return set_power(req, id, "stopped");
}

static int deallocate_vm(struct http_request *req, const char *id, const struct json *vm)
{
    (void)vm;
    return set_power(req, id, "deallocated");
}

static const struct arm_action vm_actions[] = {
    {"start", start_vm},           {"restart", start_vm}, {"powerOff", power_off_vm},
    {"deallocate", deallocate_vm}, {NULL, NULL},
};

const struct arm_type arm_virtual_machines = {
    .namespace = "Microsoft.Compute",
    .type = "virtualMachines",
    .api_versions = {"2024-07-01", "2023-03-01", "2022-11-01", "2020-06-01"},
    .valid_name = valid_vm_name,
    .name_rule = "The virtual machine name '%s' is invalid: it must be 1 to 64 letters, digits, "
                 "'-', '_' or '.', must not start with '_', '-' or '.', and must not end with '.' "
                 "or '-'.",
    .write = write_vm,
    .remove = remove_vm,
    .expand = expand_vm,
    .actions = vm_actions,
};
