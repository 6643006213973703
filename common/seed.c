/*
 * common/seed.c — applying a seed file (seed.h): the directory objects first, in one
 * transaction, then every resource through the services in process, as the admin application.
 *
 * Entries are applied section by section in dependency order (an identity before the VM that
 * uses it, both before the role assignment that names them), so a file may list them in any
 * order. Entries refer to each other by kind and name ("identity:app-id", "vault:orders"); a
 * name not in the file is looked up as an existing resource in the entry's own resource group.
 */
#include "common/seed.h"

#include "aad/directory.h"
#include "arm/arm.h"
#include "common/auth.h"
#include "common/error.h"
#include "common/http.h"
#include "common/json.h"
#include "common/mem.h"
#include "common/module.h"
#include "common/store.h"
#include "common/token.h"
#include "common/util.h"
#include "storage/storage.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_LOCATION "eastus"
#define ARM_HOST "https://management.azure.com"

struct seed {
    const char *path; /* the file, for messages */
    const struct json *doc;
    struct store *store;
    const struct server_context *ctx;
    const struct aad_identity *admin;
    const char *default_sub;
    struct arena *arena;
    struct token_verifier *verifier;
    void *states[MODULE_COUNT];
    const char *token;                    /* the admin's bearer token for Resource Manager */
    const struct arm_identity_ids *fixed; /* ids for the identity the next call creates */
    const char *account, *account_key;    /* what Blob Storage calls are signed as */
    const char *entry;                    /* "virtualMachines[1] (web)", for messages */
    char *err;
    size_t errlen;
};

/* The answer of a call: status, and the body parsed when it is JSON. */
struct answer {
    int status;
    const char *text;
    const struct json *body;
};

static int fail(struct seed *sd, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct seed *sd, const char *field, const char *fmt, ...)
{
    char message[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    snprintf(sd->err, sd->errlen, "%s: %s%s%s: %s", sd->path, sd->entry ? sd->entry : "",
             sd->entry && field ? "." : "", field ? field : "", message);
    return AZ_EINVAL;
}

/* ---- reading entries ------------------------------------------------------------------------- */

/* Only `allowed` members (NULL-terminated): a typo is an error, not a silently missing value. */
static int check_members(struct seed *sd, const struct json *e, const char *const *allowed)
{
    if (json_type(e) != JSON_OBJECT)
        return fail(sd, NULL, "must be an object");
    for (size_t i = 0; i < json_len(e); i++) {
        const char *key = json_key_at(e, i);
        bool known = false;
        for (const char *const *a = allowed; *a && !known; a++)
            known = strcmp(*a, key) == 0;
        if (!known) {
            struct buf list = {0};
            for (const char *const *a = allowed; *a; a++)
                buf_printf(&list, "%s%s", a == allowed ? "" : ", ", *a);
            int rc = fail(sd, key, "unknown member (an entry here has: %s)", list.data);
            buf_free(&list);
            return rc;
        }
    }
    return 0;
}

/* Member `name` as a string into *out (NULL when absent): a failure when it is not a string or
 * is required and missing. */
static int get_string(struct seed *sd, const struct json *e, const char *name, bool required,
                      const char **out)
{
    const struct json *v = json_get(e, name);
    *out = json_string(v);
    if (v && !*out)
        return fail(sd, name, "must be a string");
    if (required && (!*out || !**out))
        return fail(sd, name, "is required");
    return 0;
}

static int get_guid(struct seed *sd, const struct json *e, const char *name, bool required,
                    const char **out)
{
    if (get_string(sd, e, name, required, out) != 0)
        return AZ_EINVAL;
    if (*out && !uuid_valid(*out))
        return fail(sd, name, "must be a GUID, not '%s'", *out);
    return 0;
}

/* The entry of `section` whose "name" is `name`, or NULL. */
static const struct json *find_entry(struct seed *sd, const char *section, const char *name)
{
    const struct json *list = json_get(sd->doc, section);
    for (size_t i = 0; i < json_len(list); i++) {
        const char *n = json_string(json_get(json_at(list, i), "name"));
        if (n && str_ieq(n, name))
            return json_at(list, i);
    }
    return NULL;
}

/* ---- calling the services -------------------------------------------------------------------- */

/* Send one request to module `m` in process, as a client would over the network. `headers` are
 * name/value pairs ended by NULL. */
static int call(struct seed *sd, enum module_id m, enum http_method method, const char *url,
                const char *body, size_t body_len, const char *const *headers, struct answer *out)
{
    struct http_request req;
    http_request_init(&req, sd->arena, modules[m], method, url);
    req.store = sd->store;
    req.verifier = sd->verifier;
    req.module_state = sd->states[m];
    req.server = sd->ctx;
    req.tls = modules[m]->tls;
    req.peer = "127.0.0.1:0";
    req.context = m == MODULE_ARM ? sd->fixed : NULL;
    http_headers_add(sd->arena, &req.headers, "Host", req.host);
    if (m == MODULE_ARM && sd->token)
        http_headers_add(sd->arena, &req.headers, "Authorization",
                         arena_printf(sd->arena, "Bearer %s", sd->token));
    if (body) {
        http_headers_add(sd->arena, &req.headers, "Content-Length",
                         arena_printf(sd->arena, "%zu", body_len));
        req.body = body;
        req.body_len = body_len;
    }
    for (size_t i = 0; headers && headers[i]; i += 2)
        http_headers_add(sd->arena, &req.headers, headers[i], headers[i + 1]);
    if (m == MODULE_STORAGE) /* Shared Key signs the request as it stands */
        http_headers_add(sd->arena, &req.headers, "Authorization",
                         blob_shared_key_authorization(&req, sd->account, sd->account_key));
    http_dispatch(&req);
    out->status = req.status;
    out->text =
        arena_strndup(sd->arena, req.resp_body.data ? req.resp_body.data : "", req.resp_body.len);
    out->body = json_parse_in(sd->arena, out->text, req.resp_body.len);
    int rc = req.deferred ? AZ_EINVAL : 0; /* nothing the seed calls waits on another service */
    http_request_release(&req);
    return rc;
}

/* A Resource Manager call; a failure names the status and ARM's error. */
static int arm(struct seed *sd, enum http_method method, const char *path, const char *api,
               struct json_writer *body, struct answer *out)
{
    const char *url = arena_printf(sd->arena, ARM_HOST "%s%sapi-version=%s", path,
                                   strchr(path, '?') ? "&" : "?", api);
    size_t len = 0;
    const char *text = body ? json_writer_text(body, &len) : NULL;
    static const char *const json_type[] = {"Content-Type", "application/json", NULL};
    if (call(sd, MODULE_ARM, method, url, text, len, body ? json_type : NULL, out) != 0)
        return fail(sd, NULL, "%s %s did not answer", http_method_name(method), path);
    if (out->status < 300 || (method == HTTP_GET && out->status == 404))
        return 0;
    const struct json *e = json_get(out->body, "error");
    return fail(sd, NULL, "Resource Manager answered %s %s with %d %s: %s",
                http_method_name(method), path, out->status, json_string(json_get(e, "code")),
                json_string(json_get(e, "message")));
}

/* PUT a resource whose body `w` is: the writer is freed. */
static int arm_put(struct seed *sd, const char *path, const char *api, struct json_writer *w,
                   struct answer *out)
{
    int rc = arm(sd, HTTP_PUT, path, api, w, out);
    json_writer_free(w);
    return rc;
}

/* Sign in as the admin application (client credentials, as any service would) for a token
 * Resource Manager accepts. */
static int sign_in(struct seed *sd)
{
    struct buf form = {0};
    buf_printf(&form,
               "grant_type=client_credentials&client_id=%s&client_secret=%s&scope=https%%3A%%2F"
               "%%2Fmanagement.azure.com%%2F.default",
               sd->admin->client_id, sd->admin->client_secret);
    static const char *const headers[] = {"Content-Type", "application/x-www-form-urlencoded",
                                          NULL};
    struct answer a;
    int rc = call(sd, MODULE_AAD, HTTP_POST,
                  arena_printf(sd->arena, "https://login.microsoftonline.com/%s/oauth2/v2.0/token",
                               sd->admin->tenant_id),
                  form.data, form.len, headers, &a);
    memset(form.data, 0, form.len);
    buf_free(&form);
    sd->token = json_string(json_get(a.body, "access_token"));
    if (rc != 0 || !sd->token)
        return fail(sd, NULL, "the admin application could not sign in: %s",
                    json_string(json_get(a.body, "error_description")));
    return 0;
}

/* ---- the directory --------------------------------------------------------------------------- */

/* The tenant an entry names ("tenant": id or domain), else the default one. */
static int entry_tenant(struct seed *sd, const struct json *e, struct aad_tenant *t)
{
    const char *name;
    if (get_string(sd, e, "tenant", false, &name) != 0)
        return AZ_EINVAL;
    int rc = name ? aad_tenant_find(sd->store, name, t) : aad_tenant_default(sd->store, t);
    if (rc != 0)
        return fail(sd, "tenant", "no tenant '%s' (list it under \"tenants\")",
                    name ? name : "(default)");
    return 0;
}

static int apply_tenant(struct seed *sd, const struct json *e)
{
    static const char *const members[] = {"id", "domain", "displayName", NULL};
    const char *id, *domain, *name;
    if (check_members(sd, e, members) || get_guid(sd, e, "id", true, &id) ||
        get_string(sd, e, "domain", true, &domain) ||
        get_string(sd, e, "displayName", false, &name))
        return AZ_EINVAL;
    struct aad_tenant t;
    if (aad_tenant_find(sd->store, id, &t) == 0)
        return str_ieq(t.domain, domain)
                   ? 0
                   : fail(sd, "domain", "tenant %s exists with domain %s", id, t.domain);
    if (aad_tenant_find(sd->store, domain, &t) == 0)
        return fail(sd, "domain", "the domain is tenant %s's", t.id);
    return aad_tenant_create(sd->store, id, domain, name ? name : domain) == 0
               ? 0
               : fail(sd, NULL, "the tenant could not be created");
}

static int apply_subscription(struct seed *sd, const struct json *e)
{
    static const char *const members[] = {"id", "displayName", "tenant", NULL};
    const char *id, *name;
    struct aad_tenant t;
    if (check_members(sd, e, members) || get_guid(sd, e, "id", true, &id) ||
        get_string(sd, e, "displayName", false, &name) || entry_tenant(sd, e, &t))
        return AZ_EINVAL;
    int rc = arm_subscription_ensure(sd->store, id, t.id, name ? name : "azsim", sd->admin);
    if (rc == AZ_EEXIST)
        return fail(sd, "tenant", "subscription %s exists in another tenant", id);
    return rc == 0 ? 0 : fail(sd, NULL, "the subscription could not be created");
}

static int apply_user(struct seed *sd, const struct json *e)
{
    static const char *const members[] = {"userPrincipalName", "password", "id",
                                          "displayName",       "tenant",   NULL};
    const char *upn, *password, *id, *name;
    struct aad_tenant t;
    if (check_members(sd, e, members) || get_string(sd, e, "userPrincipalName", true, &upn) ||
        get_string(sd, e, "password", false, &password) || get_guid(sd, e, "id", false, &id) ||
        get_string(sd, e, "displayName", false, &name) || entry_tenant(sd, e, &t))
        return AZ_EINVAL;
    if (!strchr(upn, '@'))
        return fail(sd, "userPrincipalName", "must be user@domain, not '%s'", upn);
    struct aad_user u;
    if (aad_user_find(sd->store, upn, &u) == 0) {
        if (id && !str_ieq(id, u.object_id))
            return fail(sd, "id", "the user exists with id %s", u.object_id);
        return password && aad_user_set_password(sd->store, u.object_id, password) != 0
                   ? fail(sd, "password", "could not be set")
                   : 0;
    }
    if (!password)
        return fail(sd, "password", "is required to create a user");
    char fresh[37];
    if (!id)
        uuid_v4(fresh);
    return aad_user_create(sd->store, t.id, id ? id : fresh, upn, name ? name : upn, password) == 0
               ? 0
               : fail(sd, NULL, "the user could not be created (is the id taken?)");
}

/* The app id of the application `name` (display name or app id) in tenant `t`, or NULL. */
static const char *application_named(struct seed *sd, const char *tenant, const char *name)
{
    struct store_stmt *st;
    const char *app_id = NULL;
    if (store_prepare(sd->store,
                      "SELECT app_id FROM applications WHERE tenant_id = lower(?1) AND "
                      "(app_id = lower(?2) OR display_name = ?2) ORDER BY created_at LIMIT 1",
                      &st) != 0)
        return NULL;
    store_bind_text(st, 1, tenant);
    store_bind_text(st, 2, name);
    if (store_step(st) == 1)
        app_id = arena_strdup(sd->arena, store_column_text(st, 0));
    store_finalize(st);
    return app_id;
}

static int apply_application(struct seed *sd, const struct json *e)
{
    static const char *const members[] = {"displayName", "appId",         "tenant", "secret",
                                          "certificate", "identifierUri", NULL};
    const char *name, *app_id, *secret, *pem, *uri;
    struct aad_tenant t;
    if (check_members(sd, e, members) || get_string(sd, e, "displayName", true, &name) ||
        get_guid(sd, e, "appId", false, &app_id) || get_string(sd, e, "secret", false, &secret) ||
        get_string(sd, e, "certificate", false, &pem) ||
        get_string(sd, e, "identifierUri", false, &uri) || entry_tenant(sd, e, &t))
        return AZ_EINVAL;
    if (secret && strlen(secret) < 8)
        return fail(sd, "secret", "must be at least 8 characters");
    const char *existing = application_named(sd, t.id, app_id ? app_id : name);
    if (!existing) {
        char fresh[37];
        uuid_v4(fresh);
        existing = arena_strdup(sd->arena, app_id ? app_id : fresh);
        if (aad_application_create(sd->store, t.id, existing, name, uri, false, NULL) != 0)
            return fail(sd, NULL, "the application could not be created (is the appId taken?)");
    }
    if (secret && aad_client_secret_check(sd->store, existing, secret) != 0 &&
        aad_application_add_secret(sd->store, existing, secret, 3650) != 0)
        return fail(sd, "secret", "could not be added");
    if (pem) {
        struct token_key *cert = NULL, *have = NULL;
        if (token_key_from_pem(pem, NULL, &cert) != 0)
            return fail(sd, "certificate", "is not a PEM certificate");
        int rc = 0;
        if (aad_client_certificate(sd->store, existing, token_key_kid(cert), NULL, &have) != 0)
            rc = aad_application_add_certificate(sd->store, existing, cert);
        token_key_free(have);
        token_key_free(cert);
        if (rc != 0)
            return fail(sd, "certificate", "could not be registered");
    }
    return 0;
}

/* ---- resources ------------------------------------------------------------------------------- */

/* Where an entry lives: its subscription (or the default one) and resource group. */
struct place {
    const char *sub, *group, *location;
    const struct json *tags;
};

static int entry_place(struct seed *sd, const struct json *e, bool group, struct place *p)
{
    if (get_guid(sd, e, "subscription", false, &p->sub) ||
        get_string(sd, e, "resourceGroup", group, &p->group) ||
        get_string(sd, e, "location", false, &p->location))
        return AZ_EINVAL;
    p->tags = json_get(e, "tags");
    if (p->tags && json_type(p->tags) != JSON_OBJECT)
        return fail(sd, "tags", "must be an object of strings");
    if (!p->sub)
        p->sub = sd->default_sub;
    return 0; /* no location: the resource group's (ensure_group) */
}

static const char *group_path(struct seed *sd, const struct place *p)
{
    return arena_printf(sd->arena, "/subscriptions/%s/resourceGroups/%s", p->sub, p->group);
}

static const char *resource_path(struct seed *sd, const struct place *p, const char *type,
                                 const char *name)
{
    return arena_printf(sd->arena, "%s/providers/%s/%s", group_path(sd, p), type, name);
}

/* A body with "location" and "tags" opened: the caller adds its members and closes it. */
static struct json_writer *body_open(const struct place *p)
{
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_string(w, "location", p->location);
    if (p->tags) {
        jw_key(w, "tags");
        jw_value(w, p->tags);
    }
    return w;
}

/* The entry's resource group, created when it does not exist yet. An entry without a location
 * gets the group's, as `az` does. */
static int ensure_group(struct seed *sd, struct place *p)
{
    struct answer a;
    if (arm(sd, HTTP_GET, group_path(sd, p), "2021-04-01", NULL, &a) != 0)
        return AZ_EINVAL;
    if (a.status == 200) {
        if (!p->location)
            p->location = json_string(json_get(a.body, "location"));
        return 0;
    }
    if (!p->location)
        p->location = DEFAULT_LOCATION;
    struct json_writer *w = body_open(&(struct place){.location = p->location});
    jw_object_close(w);
    return arm_put(sd, group_path(sd, p), "2021-04-01", w, &a);
}

static int apply_group(struct seed *sd, const struct json *e)
{
    static const char *const members[] = {"name", "subscription", "location", "tags", NULL};
    struct place p;
    if (check_members(sd, e, members) || entry_place(sd, e, false, &p) ||
        get_string(sd, e, "name", true, &p.group))
        return AZ_EINVAL;
    if (!p.location)
        p.location = DEFAULT_LOCATION;
    struct json_writer *w = body_open(&p);
    jw_object_close(w);
    struct answer a;
    return arm_put(sd, group_path(sd, &p), "2021-04-01", w, &a);
}

/* Fixed ids an entry gives for an identity ("clientId", "principalId"), checked against what the
 * answer `identity` (an identity's properties, or a VM's identity block) shows: ids cannot
 * change once made. */
static int get_fixed_ids(struct seed *sd, const struct json *e, struct arm_identity_ids *ids)
{
    memset(ids, 0, sizeof(*ids));
    return get_guid(sd, e, "clientId", false, &ids->client_id) ||
                   get_guid(sd, e, "principalId", false, &ids->principal_id)
               ? AZ_EINVAL
               : 0;
}

static int check_fixed_ids(struct seed *sd, const struct arm_identity_ids *ids,
                           const struct json *identity)
{
    const char *client = json_string(json_get(identity, "clientId"));
    const char *principal = json_string(json_get(identity, "principalId"));
    if (ids->client_id && client && !str_ieq(ids->client_id, client))
        return fail(sd, "clientId", "the identity exists with client id %s (delete it to change)",
                    client);
    if (ids->principal_id && principal && !str_ieq(ids->principal_id, principal))
        return fail(sd, "principalId",
                    "the identity exists with principal id %s (delete it to change)", principal);
    return 0;
}

static int apply_identity(struct seed *sd, const struct json *e)
{
    static const char *const members[] = {"name", "resourceGroup", "subscription", "location",
                                          "tags", "clientId",      "principalId",  NULL};
    const char *name;
    struct place p;
    struct arm_identity_ids ids;
    if (check_members(sd, e, members) || get_string(sd, e, "name", true, &name) ||
        entry_place(sd, e, true, &p) || get_fixed_ids(sd, e, &ids) || ensure_group(sd, &p))
        return AZ_EINVAL;
    struct json_writer *w = body_open(&p);
    jw_object_close(w);
    struct answer a;
    sd->fixed = &ids;
    int rc =
        arm_put(sd, resource_path(sd, &p, "Microsoft.ManagedIdentity/userAssignedIdentities", name),
                "2023-01-31", w, &a);
    sd->fixed = NULL;
    return rc ? rc : check_fixed_ids(sd, &ids, json_get(a.body, "properties"));
}

/* The ARM id of the user-assigned identity `name`: an id as given, the file's entry of that name,
 * or one in the resource group `p`. */
static const char *identity_id(struct seed *sd, const struct place *p, const char *name)
{
    if (str_has_iprefix(name, "/subscriptions/"))
        return name;
    const struct json *e = find_entry(sd, "identities", name);
    struct place at = *p;
    if (e) {
        at.sub = json_string(json_get(e, "subscription"));
        at.sub = at.sub ? at.sub : sd->default_sub;
        at.group = json_string(json_get(e, "resourceGroup"));
    }
    return resource_path(sd, &at, "Microsoft.ManagedIdentity/userAssignedIdentities", name);
}

/* "10.1.2.3" → "10.1.2.0/24", the virtual network a VM's address is given; NULL if not IPv4. */
static const char *network_of(struct seed *sd, const char *address)
{
    unsigned a, b, c, d;
    char end;
    if (sscanf(address, "%u.%u.%u.%u%c", &a, &b, &c, &d, &end) != 4 || a > 255 || b > 255 ||
        c > 255 || d > 255)
        return NULL;
    return arena_printf(sd->arena, "%u.%u.%u.0/24", a, b, c);
}

/* A VM's network as `az vm create` names it: {vm}VNET, {vm}Subnet, {vm}VMNic, its address
 * static when the file gives one. Returns the NIC's id. */
static int apply_vm_network(struct seed *sd, const struct place *p, const char *vm,
                            const char *address, const char **nic_id)
{
    const char *prefix = address ? network_of(sd, address) : "10.0.0.0/24";
    if (!prefix)
        return fail(sd, "address", "must be an IPv4 address, not '%s'", address);
    const char *vnet = resource_path(sd, p, "Microsoft.Network/virtualNetworks",
                                     arena_printf(sd->arena, "%sVNET", vm));
    struct json_writer *w = body_open(p);
    jw_key(w, "properties");
    jw_object_open(w);
    jw_key(w, "addressSpace");
    jw_object_open(w);
    jw_key(w, "addressPrefixes");
    jw_array_open(w);
    jw_string(w, prefix);
    jw_array_close(w);
    jw_object_close(w);
    jw_key(w, "subnets");
    jw_array_open(w);
    jw_object_open(w);
    jw_kv_string(w, "name", arena_printf(sd->arena, "%sSubnet", vm));
    jw_key(w, "properties");
    jw_object_open(w);
    jw_kv_string(w, "addressPrefix", prefix);
    jw_object_close(w);
    jw_object_close(w);
    jw_array_close(w);
    jw_object_close(w);
    jw_object_close(w);
    struct answer a;
    if (arm_put(sd, vnet, "2023-09-01", w, &a) != 0)
        return AZ_EINVAL;

    *nic_id = resource_path(sd, p, "Microsoft.Network/networkInterfaces",
                            arena_printf(sd->arena, "%sVMNic", vm));
    w = body_open(p);
    jw_key(w, "properties");
    jw_object_open(w);
    jw_key(w, "ipConfigurations");
    jw_array_open(w);
    jw_object_open(w);
    jw_kv_string(w, "name", arena_printf(sd->arena, "ipconfig%s", vm));
    jw_key(w, "properties");
    jw_object_open(w);
    jw_kv_string(w, "privateIPAllocationMethod", address ? "Static" : "Dynamic");
    if (address)
        jw_kv_string(w, "privateIPAddress", address);
    jw_key(w, "subnet");
    jw_object_open(w);
    jw_kv_string(w, "id", arena_printf(sd->arena, "%s/subnets/%sSubnet", vnet, vm));
    jw_object_close(w);
    jw_object_close(w);
    jw_object_close(w);
    jw_array_close(w);
    jw_object_close(w);
    jw_object_close(w);
    return arm_put(sd, *nic_id, "2023-09-01", w, &a);
}

static int apply_vm(struct seed *sd, const struct json *e)
{
    static const char *const members[] = {
        "name", "resourceGroup",  "subscription", "location",    "tags",     "address",
        "size", "systemAssigned", "userAssigned", "principalId", "clientId", NULL};
    const char *name, *address, *size;
    struct place p;
    struct arm_identity_ids ids;
    if (check_members(sd, e, members) || get_string(sd, e, "name", true, &name) ||
        entry_place(sd, e, true, &p) || get_string(sd, e, "address", false, &address) ||
        get_string(sd, e, "size", false, &size) || get_fixed_ids(sd, e, &ids))
        return AZ_EINVAL;
    const struct json *users = json_get(e, "userAssigned");
    if (users && json_type(users) != JSON_ARRAY)
        return fail(sd, "userAssigned", "must be an array of identity names or ids");
    bool system = !users || json_len(users) == 0;
    if (json_get(e, "systemAssigned") && !json_bool(json_get(e, "systemAssigned"), &system))
        return fail(sd, "systemAssigned", "must be true or false");
    const char *nic = NULL;
    if (ensure_group(sd, &p) || apply_vm_network(sd, &p, name, address, &nic))
        return AZ_EINVAL;

    struct json_writer *w = body_open(&p);
    jw_key(w, "identity");
    jw_object_open(w);
    bool user = json_len(users) > 0;
    jw_kv_string(w, "type",
                 system && user ? "SystemAssigned, UserAssigned"
                 : system       ? "SystemAssigned"
                 : user         ? "UserAssigned"
                                : "None");
    if (user) {
        jw_key(w, "userAssignedIdentities");
        jw_object_open(w);
        for (size_t i = 0; i < json_len(users); i++) {
            const char *id = json_string(json_at(users, i));
            if (!id) {
                json_writer_free(w);
                return fail(sd, "userAssigned", "must be an array of identity names or ids");
            }
            jw_key(w, identity_id(sd, &p, id));
            jw_object_open(w);
            jw_object_close(w);
        }
        jw_object_close(w);
    }
    jw_object_close(w);
    jw_key(w, "properties");
    jw_object_open(w);
    jw_key(w, "hardwareProfile");
    jw_object_open(w);
    jw_kv_string(w, "vmSize", size ? size : "Standard_B1s");
    jw_object_close(w);
    jw_key(w, "storageProfile");
    jw_object_open(w);
    jw_key(w, "imageReference");
    jw_object_open(w);
    jw_kv_string(w, "publisher", "Canonical");
    jw_kv_string(w, "offer", "0001-com-ubuntu-server-jammy");
    jw_kv_string(w, "sku", "22_04-lts-gen2");
    jw_kv_string(w, "version", "latest");
    jw_object_close(w);
    jw_object_close(w);
    jw_key(w, "osProfile");
    jw_object_open(w);
    jw_kv_string(w, "computerName", name);
    jw_kv_string(w, "adminUsername", "azureuser");
    jw_object_close(w);
    jw_key(w, "networkProfile");
    jw_object_open(w);
    jw_key(w, "networkInterfaces");
    jw_array_open(w);
    jw_object_open(w);
    jw_kv_string(w, "id", nic);
    jw_object_close(w);
    jw_array_close(w);
    jw_object_close(w);
    jw_object_close(w);
    jw_object_close(w);
    struct answer a;
    sd->fixed = &ids;
    int rc = arm_put(sd, resource_path(sd, &p, "Microsoft.Compute/virtualMachines", name),
                     "2024-03-01", w, &a);
    sd->fixed = NULL;
    return rc ? rc : check_fixed_ids(sd, &ids, json_get(a.body, "identity"));
}

static int apply_vault(struct seed *sd, const struct json *e)
{
    static const char *const members[] = {
        "name", "resourceGroup", "subscription", "location", "tags", "secrets", NULL};
    const char *name;
    struct place p;
    if (check_members(sd, e, members) || get_string(sd, e, "name", true, &name) ||
        entry_place(sd, e, true, &p) || ensure_group(sd, &p))
        return AZ_EINVAL;
    const struct json *secrets = json_get(e, "secrets");
    if (secrets && json_type(secrets) != JSON_OBJECT)
        return fail(sd, "secrets", "must be an object: secret name → value");
    char tenant[40];
    if (arm_subscription_tenant(sd->store, p.sub, tenant) != 0)
        return fail(sd, "subscription", "no subscription %s", p.sub);
    const char *path = resource_path(sd, &p, "Microsoft.KeyVault/vaults", name);
    struct json_writer *w = body_open(&p);
    jw_key(w, "properties");
    jw_object_open(w);
    jw_kv_string(w, "tenantId", tenant);
    jw_key(w, "sku");
    jw_object_open(w);
    jw_kv_string(w, "family", "A");
    jw_kv_string(w, "name", "standard");
    jw_object_close(w);
    jw_kv_bool(w, "enableRbacAuthorization", true);
    jw_object_close(w);
    jw_object_close(w);
    struct answer a;
    if (arm_put(sd, path, "2023-07-01", w, &a) != 0)
        return AZ_EINVAL;
    for (size_t i = 0; i < json_len(secrets); i++) {
        const struct json *s = json_at(secrets, i);
        const char *value = json_string(s) ? json_string(s) : json_string(json_get(s, "value"));
        const char *type = json_string(json_get(s, "contentType"));
        if (!value)
            return fail(sd, arena_printf(sd->arena, "secrets.%s", json_key_at(secrets, i)),
                        "must be a string, or an object with \"value\" and \"contentType\"");
        w = json_writer_new();
        jw_object_open(w);
        jw_key(w, "properties");
        jw_object_open(w);
        jw_kv_string(w, "value", value);
        if (type)
            jw_kv_string(w, "contentType", type);
        jw_object_close(w);
        jw_object_close(w);
        if (arm_put(sd, arena_printf(sd->arena, "%s/secrets/%s", path, json_key_at(secrets, i)),
                    "2023-07-01", w, &a) != 0)
            return AZ_EINVAL;
    }
    return 0;
}

/* Upload `content` as block blob `container/name` (signed with the account's key). */
static int put_blob(struct seed *sd, const char *container, const char *name, const char *content)
{
    char date[64];
    clock_format_http(clock_now_ms(), date, sizeof(date));
    const char *const headers[] = {"x-ms-date",
                                   date,
                                   "x-ms-version",
                                   "2021-08-06",
                                   "x-ms-blob-type",
                                   "BlockBlob",
                                   "Content-Type",
                                   "application/octet-stream",
                                   NULL};
    struct answer a;
    const char *url = arena_printf(sd->arena, "https://%s.blob.core.windows.net/%s/%s", sd->account,
                                   container, name);
    if (call(sd, MODULE_STORAGE, HTTP_PUT, url, content, strlen(content), headers, &a) != 0 ||
        a.status != 201)
        return fail(sd, arena_printf(sd->arena, "containers.%s.blobs.%s", container, name),
                    "Blob Storage answered %d: %s", a.status, a.text);
    return 0;
}

static int apply_container(struct seed *sd, const char *account_path, const struct json *c)
{
    static const char *const members[] = {"name", "publicAccess", "blobs", NULL};
    const char *name, *access;
    if (check_members(sd, c, members) || get_string(sd, c, "name", true, &name) ||
        get_string(sd, c, "publicAccess", false, &access))
        return AZ_EINVAL;
    const struct json *blobs = json_get(c, "blobs");
    if (blobs && json_type(blobs) != JSON_OBJECT)
        return fail(sd, "blobs", "must be an object: blob name → text");
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_key(w, "properties");
    jw_object_open(w);
    jw_kv_string(w, "publicAccess", access ? access : "None");
    jw_object_close(w);
    jw_object_close(w);
    struct answer a;
    if (arm_put(
            sd,
            arena_printf(sd->arena, "%s/blobServices/default/containers/%s", account_path, name),
            "2023-01-01", w, &a) != 0)
        return AZ_EINVAL;
    for (size_t i = 0; i < json_len(blobs); i++) {
        const char *content = json_string(json_at(blobs, i));
        if (!content)
            return fail(sd, arena_printf(sd->arena, "blobs.%s", json_key_at(blobs, i)),
                        "must be a string (the blob's content)");
        if (put_blob(sd, name, json_key_at(blobs, i), content) != 0)
            return AZ_EINVAL;
    }
    return 0;
}

static int apply_storage_account(struct seed *sd, const struct json *e)
{
    static const char *const members[] = {
        "name", "resourceGroup", "subscription", "location", "tags", "containers", NULL};
    const char *name;
    struct place p;
    if (check_members(sd, e, members) || get_string(sd, e, "name", true, &name) ||
        entry_place(sd, e, true, &p) || ensure_group(sd, &p))
        return AZ_EINVAL;
    const struct json *containers = json_get(e, "containers");
    if (containers && json_type(containers) != JSON_ARRAY)
        return fail(sd, "containers", "must be an array of containers");
    const char *path = resource_path(sd, &p, "Microsoft.Storage/storageAccounts", name);
    struct json_writer *w = body_open(&p);
    jw_kv_string(w, "kind", "StorageV2");
    jw_key(w, "sku");
    jw_object_open(w);
    jw_kv_string(w, "name", "Standard_LRS");
    jw_object_close(w);
    jw_object_close(w);
    struct answer a;
    if (arm_put(sd, path, "2023-01-01", w, &a) != 0 ||
        arm(sd, HTTP_POST, arena_printf(sd->arena, "%s/listKeys", path), "2023-01-01", NULL, &a) !=
            0)
        return AZ_EINVAL;
    sd->account = name;
    sd->account_key = json_string(json_get(json_at(json_get(a.body, "keys"), 0), "value"));
    const char *entry = sd->entry;
    for (size_t i = 0; i < json_len(containers); i++) {
        sd->entry = arena_printf(sd->arena, "%s.containers[%zu]", entry, i);
        if (apply_container(sd, path, json_at(containers, i)) != 0)
            return AZ_EINVAL;
    }
    return 0;
}

/* ---- role assignments ------------------------------------------------------------------------ */

/* What a reference "kind:name" names: the ARM path of a resource in the file (or in the entry's
 * resource group), the subscription, or a scope given whole. */
static const char *scope_path(struct seed *sd, const struct place *p, const char *ref)
{
    static const struct {
        const char *kind, *section, *type;
    } kinds[] = {
        {"vault", "vaults", "Microsoft.KeyVault/vaults"},
        {"storageAccount", "storageAccounts", "Microsoft.Storage/storageAccounts"},
        {"identity", "identities", "Microsoft.ManagedIdentity/userAssignedIdentities"},
        {"vm", "virtualMachines", "Microsoft.Compute/virtualMachines"},
    };
    if (ref[0] == '/')
        return ref;
    if (str_ieq(ref, "subscription"))
        return arena_printf(sd->arena, "/subscriptions/%s", p->sub);
    const char *colon = strchr(ref, ':');
    if (!colon)
        return NULL;
    const char *name = colon + 1;
    if (str_ieqn(ref, (size_t)(colon - ref), "resourceGroup"))
        return group_path(sd, &(struct place){.sub = p->sub, .group = name});
    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
        if (!str_ieqn(ref, (size_t)(colon - ref), kinds[i].kind))
            continue;
        const struct json *e = find_entry(sd, kinds[i].section, name);
        struct place at = *p;
        if (e) {
            const char *sub = json_string(json_get(e, "subscription"));
            at.sub = sub ? sub : sd->default_sub;
            at.group = json_string(json_get(e, "resourceGroup"));
        }
        return at.group ? resource_path(sd, &at, kinds[i].type, name) : NULL;
    }
    return NULL;
}

/* A reference scope_path() could not resolve: a kind it does not know, or a name that is not
 * in the file (with no resource group to look in). */
static int unresolved(struct seed *sd, const char *field, const char *ref, const char *kinds)
{
    const char *colon = strchr(ref, ':');
    if (colon && strstr(kinds, arena_strndup(sd->arena, ref, (size_t)(colon - ref + 1))))
        return fail(sd, field,
                    "'%s' is in no entry of the file (give this entry a resourceGroup to name "
                    "one outside it)",
                    ref);
    return fail(sd, field, "'%s' is not %s", ref, kinds);
}

/* The object id of the principal a reference names: a GUID, "identity:NAME", "vm:NAME" (its
 * system-assigned identity), "app:NAME-or-appId" or "user:UPN". */
static int principal_of(struct seed *sd, const struct place *p, const char *ref, const char **oid,
                        const char **type)
{
    *type = "ServicePrincipal";
    if (uuid_valid(ref)) {
        *oid = ref;
        *type = NULL; /* Resource Manager finds out */
        return 0;
    }
    if (str_has_iprefix(ref, "user:")) {
        struct aad_user u;
        if (aad_user_find(sd->store, ref + 5, &u) != 0)
            return fail(sd, "principal", "no user '%s'", ref + 5);
        *oid = arena_strdup(sd->arena, u.object_id);
        *type = "User";
        return 0;
    }
    if (str_has_iprefix(ref, "app:")) {
        struct aad_client c;
        const char *app = application_named(sd, sd->admin->tenant_id, ref + 4);
        if (!app || aad_client_find(sd->store, sd->admin->tenant_id, app, &c) != 0)
            return fail(sd, "principal", "no application '%s'", ref + 4);
        *oid = arena_strdup(sd->arena, c.object_id);
        return 0;
    }
    const char *path = scope_path(sd, p, ref);
    bool vm = str_has_iprefix(ref, "vm:");
    if (!path || !(vm || str_has_iprefix(ref, "identity:")))
        return unresolved(sd, "principal", ref,
                          "a GUID, identity:NAME, vm:NAME, app:NAME or user:UPN");
    struct answer a;
    if (arm(sd, HTTP_GET, path, vm ? "2024-03-01" : "2023-01-31", NULL, &a) != 0)
        return AZ_EINVAL;
    if (a.status == 404)
        return fail(sd, "principal", "no %s '%s' in the file or in Resource Manager",
                    vm ? "VM" : "identity", strchr(ref, ':') + 1);
    *oid = json_string(json_get(json_get(a.body, vm ? "identity" : "properties"), "principalId"));
    if (!*oid)
        return fail(sd, "principal", "%s has no %sidentity", ref, vm ? "system-assigned " : "");
    return 0;
}

/* The full id of role `role` (a name, as the portal shows it, or a GUID) at `scope`. */
static int role_of(struct seed *sd, const struct place *p, const char *role, const char **id)
{
    const char *sub = arena_printf(sd->arena, "/subscriptions/%s", p->sub);
    if (uuid_valid(role)) {
        *id = arena_printf(sd->arena, "%s/providers/Microsoft.Authorization/roleDefinitions/%s",
                           sub, role);
        return 0;
    }
    struct buf q = {0};
    buf_printf(&q,
               "%s/providers/Microsoft.Authorization/roleDefinitions?$filter=roleName%%20eq"
               "%%20'",
               sub);
    for (const char *c = role; *c; c++)
        buf_printf(&q,
                   (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')
                       ? "%c"
                       : "%%%02X",
                   (unsigned char)*c);
    buf_puts(&q, "'");
    struct answer a;
    int rc = arm(sd, HTTP_GET, q.data, "2022-04-01", NULL, &a);
    buf_free(&q);
    if (rc != 0)
        return rc;
    *id = json_string(json_get(json_at(json_get(a.body, "value"), 0), "id"));
    return *id ? 0 : fail(sd, "role", "no role named '%s'", role);
}

/* A name that is the same for the same scope, principal and role: applying twice assigns once. */
static const char *assignment_name(struct seed *sd, const char *scope, const char *oid,
                                   const char *role)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    char *text = arena_printf(sd->arena, "%s\n%s\n%s", scope, oid, role);
    for (char *c = text; *c; c++)
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
    EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL);
    md[6] = (unsigned char)((md[6] & 0x0f) | 0x50); /* a name-based (version 5 style) GUID */
    md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
    return arena_printf(sd->arena,
                        "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                        md[0], md[1], md[2], md[3], md[4], md[5], md[6], md[7], md[8], md[9],
                        md[10], md[11], md[12], md[13], md[14], md[15]);
}

static int apply_role_assignment(struct seed *sd, const struct json *e)
{
    static const char *const members[] = {"principal",    "role",          "scope", "name",
                                          "subscription", "resourceGroup", NULL};
    const char *principal, *role, *scope, *name, *oid, *type, *role_id;
    struct place p;
    if (check_members(sd, e, members) || get_string(sd, e, "principal", true, &principal) ||
        get_string(sd, e, "role", true, &role) || get_string(sd, e, "scope", false, &scope) ||
        get_guid(sd, e, "name", false, &name) || entry_place(sd, e, false, &p))
        return AZ_EINVAL;
    const char *path = scope_path(sd, &p, scope ? scope : "subscription");
    if (!path)
        return unresolved(sd, "scope", scope,
                          "subscription, resourceGroup:NAME, vault:NAME, storageAccount:NAME, "
                          "identity:NAME, vm:NAME or a resource id");
    if (principal_of(sd, &p, principal, &oid, &type) || role_of(sd, &p, role, &role_id))
        return AZ_EINVAL;
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_key(w, "properties");
    jw_object_open(w);
    jw_kv_string(w, "roleDefinitionId", role_id);
    jw_kv_string(w, "principalId", oid);
    if (type)
        jw_kv_string(w, "principalType", type);
    jw_object_close(w);
    jw_object_close(w);
    struct answer a;
    const char *id =
        arena_printf(sd->arena, "%s/providers/Microsoft.Authorization/roleAssignments/%s", path,
                     name ? name : assignment_name(sd, path, oid, role_id));
    int rc = arm(sd, HTTP_PUT, id, "2022-04-01", w, &a);
    json_writer_free(w);
    /* The same assignment under another name (made by hand, or by an older file): done. */
    if (rc != 0 && a.status == 409 &&
        str_ieq(json_string(json_get(json_get(a.body, "error"), "code")), "RoleAssignmentExists"))
        return 0;
    return rc;
}

/* ---- the file -------------------------------------------------------------------------------- */

struct section {
    const char *name;
    int (*apply)(struct seed *sd, const struct json *e);
    const char *label; /* the member that names an entry in messages */
    bool directory;    /* written to the directory directly, before the resources */
};

/* In the order they are applied. */
static const struct section sections[] = {
    {"tenants", apply_tenant, "domain", true},
    {"subscriptions", apply_subscription, "id", true},
    {"users", apply_user, "userPrincipalName", true},
    {"applications", apply_application, "displayName", true},
    {"resourceGroups", apply_group, "name", false},
    {"identities", apply_identity, "name", false},
    {"virtualMachines", apply_vm, "name", false},
    {"vaults", apply_vault, "name", false},
    {"storageAccounts", apply_storage_account, "name", false},
    {"roleAssignments", apply_role_assignment, "principal", false},
};

static int apply_sections(struct seed *sd, bool directory)
{
    for (size_t i = 0; i < ARRAY_SIZE(sections); i++) {
        const struct section *s = &sections[i];
        const struct json *list = json_get(sd->doc, s->name);
        if (s->directory != directory || !list)
            continue;
        sd->entry = s->name;
        if (json_type(list) != JSON_ARRAY)
            return fail(sd, NULL, "must be an array");
        for (size_t j = 0; j < json_len(list); j++) {
            const char *label = json_string(json_get(json_at(list, j), s->label));
            sd->entry = label ? arena_printf(sd->arena, "%s[%zu] (%s)", s->name, j, label)
                              : arena_printf(sd->arena, "%s[%zu]", s->name, j);
            if (s->apply(sd, json_at(list, j)) != 0)
                return AZ_EINVAL;
        }
    }
    sd->entry = NULL;
    return 0;
}

static int check_sections(struct seed *sd)
{
    if (json_type(sd->doc) != JSON_OBJECT)
        return fail(sd, NULL, "a seed file is a JSON object of sections");
    for (size_t i = 0; i < json_len(sd->doc); i++) {
        const char *key = json_key_at(sd->doc, i);
        bool known = strcmp(key, "$schema") == 0 || strcmp(key, "description") == 0;
        for (size_t j = 0; j < ARRAY_SIZE(sections) && !known; j++)
            known = strcmp(key, sections[j].name) == 0;
        if (!known) {
            sd->entry = key;
            return fail(sd, NULL,
                        "unknown section (a seed file has tenants, subscriptions, users, "
                        "applications, resourceGroups, identities, virtualMachines, vaults, "
                        "storageAccounts and roleAssignments)");
        }
    }
    return 0;
}

int seed_apply(struct store *s, const struct server_context *ctx, const struct aad_identity *admin,
               const char *default_sub, const char *path, char *err, size_t errlen)
{
    struct seed sd = {.path = path,
                      .store = s,
                      .ctx = ctx,
                      .admin = admin,
                      .default_sub = default_sub,
                      .err = err,
                      .errlen = errlen};
    char *text = file_read(path);
    if (!text) {
        snprintf(err, errlen, "%s: cannot be read", path);
        return AZ_EINVAL;
    }
    struct json *doc = NULL;
    char why[256] = "";
    if (json_parse(text, strlen(text), &doc, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "%s: not JSON: %s", path, why);
        free(text);
        return AZ_EINVAL;
    }
    sd.doc = doc;
    sd.arena = arena_new();
    int rc = check_sections(&sd);
    if (rc == 0 && (rc = store_begin(s)) == 0) {
        rc = apply_sections(&sd, true);
        if (rc == 0 && store_commit(s) != 0)
            rc = fail(&sd, NULL, "the directory could not be saved");
        if (rc != 0)
            store_rollback(s);
    }
    if (rc == 0) {
        sd.verifier = auth_verifier_new(s);
        for (int m = 0; m < MODULE_COUNT; m++)
            sd.states[m] = modules[m]->state_new ? modules[m]->state_new(s) : NULL;
        rc = sign_in(&sd);
        if (rc == 0)
            rc = apply_sections(&sd, false);
        for (int m = 0; m < MODULE_COUNT; m++)
            if (sd.states[m])
                modules[m]->state_free(sd.states[m]);
        auth_verifier_free(sd.verifier);
    }
    arena_free(sd.arena);
    json_free(doc);
    free(text);
    return rc == 0 ? 0 : AZ_EINVAL;
}
