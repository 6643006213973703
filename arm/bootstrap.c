/*
 * arm/bootstrap.c — what Resource Manager holds from the first start: Azure's built-in roles, a
 * default subscription, and Owner on it for the admin user and service principal.
 */
#include "arm/arm.h"

#include "aad/directory.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/store.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OWNER_ROLE "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"

/* data/builtin_roles.S */
extern const char azsim_builtin_roles[];
extern const char azsim_builtin_roles_end[];

/* FNV-1a of the compiled-in roles: reloaded only when a new azsim brings new data. */
static char *roles_digest(void)
{
    uint64_t h =
        hash_bytes(azsim_builtin_roles, (size_t)(azsim_builtin_roles_end - azsim_builtin_roles));
    return xasprintf("%016llx", (unsigned long long)h);
}

static int text_of(const struct json *v, struct json_writer **w, const char **text)
{
    *w = json_writer_new();
    jw_value(*w, v);
    *text = json_writer_text(*w, NULL);
    return 0;
}

static int load_builtin_roles(struct store *s)
{
    char *digest = roles_digest(), *loaded = NULL;
    store_meta_get(s, "builtin_roles", &loaded);
    bool current = loaded && strcmp(loaded, digest) == 0;
    free(loaded);
    if (current) {
        free(digest);
        return 0;
    }
    struct json *roles;
    char err[128];
    int rc =
        json_parse(azsim_builtin_roles, (size_t)(azsim_builtin_roles_end - azsim_builtin_roles),
                   &roles, err, sizeof(err));
    if (rc != 0) {
        LOG_ERROR("arm", "the compiled-in built-in roles do not parse: %s", err);
        free(digest);
        return rc;
    }
    struct store_stmt *st;
    rc = store_prepare(s,
                       "INSERT OR REPLACE INTO role_definitions(id, role_name, description, "
                       "role_type, assignable_scopes, permissions, created_on, updated_on) "
                       "VALUES(?1, ?2, ?3, 'BuiltInRole', ?4, ?5, ?6, ?7)",
                       &st);
    for (size_t i = 0; rc == 0 && i < json_len(roles); i++) {
        const struct json *r = json_at(roles, i), *p = json_get(r, "properties");
        struct json_writer *scopes, *perms;
        const char *scopes_text, *perms_text;
        text_of(json_get(p, "assignableScopes"), &scopes, &scopes_text);
        text_of(json_get(p, "permissions"), &perms, &perms_text);
        store_reset(st);
        store_bind_text(st, 1, json_string(json_get(r, "name")));
        store_bind_text(st, 2, json_string(json_get(p, "roleName")));
        store_bind_text(st, 3, json_string(json_get(p, "description")));
        store_bind_text(st, 4, scopes_text);
        store_bind_text(st, 5, perms_text);
        store_bind_text(st, 6, json_string(json_get(p, "createdOn")));
        store_bind_text(st, 7, json_string(json_get(p, "updatedOn")));
        if (store_step(st) < 0)
            rc = AZ_ESTORE;
        json_writer_free(scopes);
        json_writer_free(perms);
    }
    store_finalize(st);
    LOG_INFO("arm", "loaded %zu built-in role definitions", json_len(roles));
    json_free(roles);
    if (rc == 0)
        rc = store_meta_set(s, "builtin_roles", digest);
    free(digest);
    return rc;
}

static int ensure_owner(struct store *s, const char *sub, const char *principal, const char *type)
{
    if (!principal || !*principal)
        return 0;
    char scope[64], id[37];
    snprintf(scope, sizeof(scope), "/subscriptions/%s", sub);
    uuid_v4(id);
    return store_run(s,
                     "INSERT OR IGNORE INTO role_assignments(id, scope, role_definition_id, "
                     "principal_id, principal_type, description, created_at) "
                     "VALUES(?1, ?2, ?3, lower(?4), ?5, 'azsim: admin', ?6)",
                     "sssssi", id, scope, OWNER_ROLE, principal, type, clock_now_ms());
}

int arm_bootstrap(struct store *s, const struct aad_identity *admin, const char *want,
                  char sub_out[40])
{
    int rc = load_builtin_roles(s);
    if (rc != 0)
        return rc;
    char *recorded = NULL;
    store_meta_get(s, "default_subscription_id", &recorded);
    if (want)
        snprintf(sub_out, 40, "%s", want);
    else if (recorded)
        snprintf(sub_out, 40, "%s", recorded);
    else
        uuid_v4(sub_out);
    free(recorded);
    for (char *p = sub_out; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    rc = store_run(s,
                   "INSERT OR IGNORE INTO subscriptions(id, tenant_id, display_name, created_at) "
                   "VALUES(?1, ?2, 'azsim', ?3)",
                   "ssi", sub_out, admin->tenant_id, clock_now_ms());
    if (rc != 0 || (rc = store_meta_set(s, "default_subscription_id", sub_out)) != 0)
        return rc;
    if ((rc = ensure_owner(s, sub_out, admin->client_object_id, "ServicePrincipal")) != 0 ||
        (rc = ensure_owner(s, sub_out, admin->user_id, "User")) != 0)
        return rc;
    return arm_storage_bootstrap(s, sub_out);
}

int arm_subscription_tenant(struct store *s, const char *id, char out[40])
{
    struct store_stmt *st;
    if (store_prepare(s, "SELECT tenant_id FROM subscriptions WHERE id = lower(?1)", &st) != 0)
        return AZ_ESTORE;
    store_bind_text(st, 1, id);
    int rc = store_step(st);
    if (rc == 1)
        snprintf(out, 40, "%s", store_column_text(st, 0));
    store_finalize(st);
    return rc == 1 ? 0 : rc == 0 ? AZ_ENOTFOUND : AZ_ESTORE;
}

int arm_subscription_ensure(struct store *s, const char *id, const char *tenant_id,
                            const char *name, const struct aad_identity *admin)
{
    char have[40];
    int rc = arm_subscription_tenant(s, id, have);
    if (rc == 0)
        return str_ieq(have, tenant_id) ? 0 : AZ_EEXIST;
    if (rc != AZ_ENOTFOUND)
        return rc;
    char sub[40];
    snprintf(sub, sizeof(sub), "%s", id);
    for (char *p = sub; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    if ((rc = store_run(s,
                        "INSERT INTO subscriptions(id, tenant_id, display_name, created_at) "
                        "VALUES(?1, lower(?2), ?3, ?4)",
                        "sssi", sub, tenant_id, name, clock_now_ms())) != 0 ||
        (rc = ensure_owner(s, sub, admin->client_object_id, "ServicePrincipal")) != 0)
        return rc;
    return ensure_owner(s, sub, admin->user_id, "User");
}
