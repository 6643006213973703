/*
 * arm/resources.c — the generic resource machinery every provider type plugs into (arm.h), the
 * generic listings (GET …/resources, $filter on resourceType and tags) and ARM's answers for
 * types nobody serves (InvalidResourceNamespace, InvalidResourceType, NoRegisteredProviderFound).
 *
 * Resources live in one `resources` table whatever their type: the body column is the resource
 * exactly as GET answers it. A write composes that body from three layers, each a JSON merge
 * patch over the last: what the client sent (only the members ARM resources have), ARM's own
 * members (id, name, type, location, etag, provisioningState), and the type's own (a principal
 * id, an allocated address). Nested types listed in their parent (subnets in a virtual network)
 * are rows of their own and kept in step with the parent's array in both directions.
 */
#include "arm/arm.h"

#include "common/error.h"
#include "common/json.h"
#include "common/store.h"
#include "common/util.h"

#include <stdio.h>
#include <string.h>

/* Resource types nest a few levels at most (…/virtualNetworks/v/subnets/s). */
#define MAX_SEGMENTS 8

/* What a request under …/providers/{namespace}/{resource*} names. */
struct target {
    const struct arm_type *type;
    const char *id;        /* the resource's id, or the collection's path */
    const char *name;      /* the resource's own name; NULL when a collection is named */
    const char *parent_id; /* nested types: the parent resource */
    const char *holder;    /* the scope a collection belongs to (group, subscription, parent) */
    const char *full_type; /* "Microsoft.Network/virtualNetworks/subnets" */
};

static int fail_store(struct http_request *req)
{
    return http_fail(req, 500, "InternalServerError", "The resource store failed.");
}

/* ---- resolving the path ---------------------------------------------------------------------- */

/* api-versions are dates, optionally with a suffix: 2024-11-30, 2022-01-31-preview. */
static bool api_version_valid(const char *v)
{
    static const char form[] = "dddd-dd-dd";
    for (size_t i = 0; i < sizeof(form) - 1; i++) {
        if (form[i] == 'd' ? !(v[i] >= '0' && v[i] <= '9') : v[i] != form[i])
            return false;
    }
    const char *suffix = v + sizeof(form) - 1;
    if (!*suffix)
        return true;
    if (*suffix++ != '-' || !*suffix)
        return false;
    for (; *suffix; suffix++) {
        if (!((*suffix >= 'a' && *suffix <= 'z') || (*suffix >= 'A' && *suffix <= 'Z')))
            return false;
    }
    return true;
}

/* ARM's answer for a namespace or type nobody serves. */
static int fail_unknown(struct http_request *req, const char *ns, const char *type)
{
    if (!arm_provider_known(ns))
        return http_fail(req, 400, "InvalidResourceNamespace",
                         "The resource namespace '%s' is invalid.", ns);
    return http_fail(req, 400, "InvalidResourceType",
                     "The resource type '%s' could not be found in the namespace '%s' for api "
                     "version '%s'.",
                     type, ns, http_query(req, "api-version"));
}

/*
 * Split {resource*} into alternating type and name segments; an odd count names a collection
 * (and, with `action`, the last segment is a POST action's name). Resolves the type and builds
 * the id with the type's own spelling of each segment.
 */
static int resolve(struct http_request *req, bool action, struct target *t, const char **verb)
{
    const char *ns = http_param(req, "resourceProviderNamespace");
    char *rest = arena_strdup(req->arena, http_param(req, "resource"));
    char *seg[MAX_SEGMENTS + 1];
    size_t n = 0;
    for (char *save = NULL, *s = strtok_r(rest, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
        if (n == MAX_SEGMENTS)
            return http_fail(req, 400, "InvalidResourceType",
                             "The resource type has too many segments.");
        seg[n++] = s;
    }
    if (action) {
        if (n < 3 || n % 2 == 0)
            return fail_unknown(req, ns, http_param(req, "resource"));
        *verb = seg[--n];
    }
    struct buf type_path = {0};
    for (size_t i = 0; i < n; i += 2)
        buf_printf(&type_path, "%s%s", i ? "/" : "", seg[i]);
    t->type = arm_type_find(ns, type_path.data);
    int rc = 0;
    if (!t->type)
        rc = fail_unknown(req, ns, type_path.data);
    buf_free(&type_path);
    if (rc != 0)
        return rc;
    const char *api = http_query(req, "api-version");
    if (!api_version_valid(api))
        return http_fail(req, 400, "NoRegisteredProviderFound",
                         "No registered resource provider found for location 'global' and API "
                         "version '%s' for type '%s'. The supported api-versions are '%s'.",
                         api, t->type->type, t->type->api_versions[0]);
    const char *group = http_param(req, "resourceGroupName");
    const char *sub = http_param(req, "subscriptionId");
    const char *scope =
        group ? arena_printf(req->arena, "/subscriptions/%s/resourceGroups/%s", sub, group)
              : arena_printf(req->arena, "/subscriptions/%s", sub);
    t->full_type = arena_printf(req->arena, "%s/%s", t->type->namespace, t->type->type);
    /* The id, segment by segment, each type segment spelled as registered. */
    const char *id = arena_printf(req->arena, "%s/providers/%s", scope, t->type->namespace);
    const char *canonical = t->type->type;
    t->holder = scope;
    t->parent_id = NULL;
    for (size_t i = 0; i < n; i++) {
        if (i % 2 == 0) {
            size_t len = strcspn(canonical, "/");
            if (i > 0)
                t->parent_id = id;
            id = arena_printf(req->arena, "%s/%.*s", id, (int)len, canonical);
            canonical += len + (canonical[len] == '/');
        } else {
            id = arena_printf(req->arena, "%s/%s", id, seg[i]);
        }
    }
    t->id = id;
    t->name = n % 2 == 0 ? seg[n - 1] : NULL;
    if (t->parent_id && !t->name)
        t->holder = t->parent_id;
    /* Subscription-wide requests only list top-level types. */
    if (!group && (t->name || t->parent_id))
        return fail_unknown(req, ns, t->type->type);
    return 0;
}

/* ---- the store ------------------------------------------------------------------------------- */

/* Load resource `id` as stored: its body's text and its etag, in the request's arena. 0,
 * AZ_ENOTFOUND or AZ_ESTORE. */
static int load_text(struct http_request *req, const char *id, const char **text, const char **etag)
{
    struct store_stmt *st;
    if (store_prepare(req->store, "SELECT body, etag FROM resources WHERE id = ?1", &st) != 0)
        return AZ_ESTORE;
    store_bind_text(st, 1, id);
    int rc = store_step(st);
    if (rc == 1) {
        *text = arena_strdup(req->arena, store_column_text(st, 0));
        if (etag)
            *etag = arena_strdup(req->arena, store_column_text(st, 1));
    }
    store_finalize(st);
    if (rc == 1)
        return 0;
    return rc == 0 ? AZ_ENOTFOUND : AZ_ESTORE;
}

/* Load resource `id`: its body (in the request's arena) and etag. 0, AZ_ENOTFOUND or AZ_ESTORE. */
static int load(struct http_request *req, const char *id, const struct json **body,
                const char **etag)
{
    const char *text;
    int rc = load_text(req, id, &text, etag);
    if (rc != 0)
        return rc;
    *body = json_parse_in(req->arena, text, strlen(text));
    return *body ? 0 : AZ_ESTORE;
}

int arm_resource_load(struct http_request *req, const char *id, const struct json **body)
{
    return load(req, id, body, NULL);
}

/* The condition "resources whose id lies under ?1" (ids compare case-insensitively). */
#define UNDER(param) "lower(substr(id, 1, length(" param "))) = lower(" param ")"

/* Does the group, or the parent resource, that holds `t` exist? Fails the request if not. */
static int require_holder(struct http_request *req, const struct target *t)
{
    if (http_param(req, "resourceGroupName") && arm_require_resource_group(req) != 0)
        return AZ_EREPLIED;
    const struct json *parent;
    int rc = t->parent_id ? load(req, t->parent_id, &parent, NULL) : 0;
    if (rc == AZ_ENOTFOUND)
        return http_fail(req, 404, "ParentResourceNotFound",
                         "Failed to perform '%s' on resource(s) of type '%s', because the parent "
                         "resource '%s' could not be found.",
                         http_method_name(req->method), t->full_type, t->parent_id);
    return rc == 0 ? 0 : fail_store(req);
}

static int fail_not_found(struct http_request *req, const struct target *t)
{
    const char *name = t->id + strlen(t->holder);
    name += strlen("/providers/");
    return http_fail(req, 404, "ResourceNotFound",
                     "The Resource '%s' under resource group '%s' was not found. For more details "
                     "please go to https://aka.ms/ARMResourceNotFoundFix",
                     name, http_param(req, "resourceGroupName"));
}

/* Write every resource of `type` whose id lies under `prefix` into an open JSON array. */
static int write_children(struct http_request *req, struct json_writer *w, const char *full_type,
                          const char *prefix)
{
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT body FROM resources WHERE type = ?1 AND " UNDER(
                          "?2") " ORDER BY created_at, id",
                      &st) != 0)
        return AZ_ESTORE;
    store_bind_text(st, 1, full_type);
    store_bind_text(st, 2, prefix);
    int rc;
    while ((rc = store_step(st)) == 1) {
        const char *body = store_column_text(st, 0);
        jw_value(w, json_parse_in(req->arena, body, strlen(body)));
    }
    store_finalize(st);
    return rc < 0 ? AZ_ESTORE : 0;
}

/*
 * Delete every resource at or under `scope` — the type's `remove` first, for each — and the
 * role assignments scoped there, as ARM removes them with their scope.
 */
int arm_delete_resources_under(struct http_request *req, const char *scope)
{
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT type, body FROM resources WHERE lower(id) = lower(?1) "
                      "OR " UNDER("?1 || '/'") " ORDER BY length(id) DESC",
                      &st) != 0)
        return AZ_ESTORE;
    store_bind_text(st, 1, scope);
    int rc;
    while ((rc = store_step(st)) == 1) {
        const char *type = store_column_text(st, 0);
        const char *slash = strchr(type, '/');
        const struct arm_type *t =
            slash
                ? arm_type_find(arena_strndup(req->arena, type, (size_t)(slash - type)), slash + 1)
                : NULL;
        if (t && t->remove) {
            const char *body = store_column_text(st, 1);
            if (t->remove(req, json_parse_in(req->arena, body, strlen(body))) != 0)
                break;
        }
    }
    store_finalize(st);
    if (rc < 0 || rc == 1)
        return rc < 0 ? AZ_ESTORE : AZ_EREPLIED;
    rc = store_run(req->store,
                   "DELETE FROM resources WHERE lower(id) = lower(?1) OR " UNDER("?1 || '/'"), "s",
                   scope);
    if (rc == 0)
        rc = store_run(req->store,
                       "DELETE FROM role_assignments WHERE scope = ?1 OR scope LIKE ?1 || '/%'",
                       "s", scope);
    if (rc == 0) /* a group's deployments go with it */
        rc = store_run(req->store, "DELETE FROM deployments WHERE scope = ?1", "s", scope);
    return rc;
}

/* ---- composing a resource -------------------------------------------------------------------- */

/* The members an ARM resource has; anything else a client sends is not kept. */
static const char *const resource_members[] = {
    "location", "tags",  "properties", "identity",         "sku",
    "kind",     "zones", "plan",       "extendedLocation", "managedBy",
};

static bool resource_member(const char *key)
{
    for (size_t i = 0; i < ARRAY_SIZE(resource_members); i++) {
        if (strcmp(resource_members[i], key) == 0)
            return true;
    }
    return false;
}

/* `target` with `patch` merged over it, as a tree living as long as the request. */
static const struct json *merged(struct http_request *req, const struct json *target,
                                 const struct json *patch)
{
    struct json_writer *w = json_writer_new();
    jw_merge_patch(w, target, patch);
    size_t len;
    const char *text = json_writer_text(w, &len);
    const struct json *doc = json_parse_in(req->arena, text, len);
    json_writer_free(w);
    return doc;
}

/* The writer's object as a tree (the writer is freed). */
static const struct json *finished(struct http_request *req, struct json_writer *w)
{
    size_t len;
    const char *text = json_writer_text(w, &len);
    const struct json *doc = json_parse_in(req->arena, text, len);
    json_writer_free(w);
    return doc;
}

/* "West US" → "westus": how ARM stores locations. */
static const char *normalize_location(struct http_request *req, const char *location)
{
    char *out = arena_alloc(req->arena, strlen(location) + 1);
    size_t o = 0;
    for (const char *p = location; *p; p++) {
        if (*p != ' ')
            out[o++] = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
    }
    return out;
}

/* Characters ARM refuses in any resource name, before a provider sees it. */
static bool name_allowed_by_arm(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || name[n - 1] == '.' || name[n - 1] == ' ')
        return false;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (*p < 0x20 || *p == 0x7f || strchr("<>*%&:\\?/+#", *p))
            return false;
    }
    return true;
}

bool arm_name_network(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 80)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        bool word = c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '_';
        if (!(word || ((c == '.' || c == '-') && i > 0 && i < n - 1)))
            return false;
    }
    return true;
}

/* 400 InvalidResourceName with the type's own wording of its rule, the name in place of %s. */
static int fail_name(struct http_request *req, const struct arm_type *type, const char *name)
{
    const char *rule = type->name_rule ? type->name_rule : "The resource name '%s' is invalid.";
    const char *at = strstr(rule, "%s");
    return http_fail(req, 400, type->name_code ? type->name_code : "InvalidResourceName",
                     "%.*s%s%s", (int)(at - rule), rule, name, at + 2);
}

/* Location and tags as the type wants them; fails the request otherwise. */
static int check_location(struct http_request *req, const struct arm_type *type, const char *id,
                          const struct json *old, const struct json *desired, const char **location)
{
    *location = NULL;
    if (type->flags & ARM_TYPE_NO_LOCATION)
        return 0;
    const char *given = json_string(json_get(desired, "location"));
    if (!given || !*given)
        return http_fail(req, 400, "LocationRequired",
                         "The location property is required for this definition.");
    *location = normalize_location(req, given);
    if (!arm_location_known(*location))
        return http_fail(req, 400, "LocationNotAvailableForResourceType",
                         "The provided location '%s' is not available for resource type '%s/%s'. "
                         "List of available regions for the resource type is '%s'.",
                         given, type->namespace, type->type, arm_location_names(req));
    const char *was = json_string(json_get(old, "location"));
    if (was && strcmp(was, *location) != 0)
        return http_fail(req, 400, "InvalidResourceLocation",
                         "The resource '%s' already exists in location '%s' in resource group "
                         "'%s'. A resource with the same name cannot be created in location '%s'. "
                         "Please select a new resource name.",
                         strrchr(id, '/') + 1, was, http_param(req, "resourceGroupName"), given);
    return 0;
}

static int save(struct http_request *req, const struct arm_type *type, const char *id,
                const char *parent_id, const struct json *parent, const struct json *old,
                const struct json *desired, const struct json **saved);

/*
 * A parent's array of nested resources (a virtual network's "subnets") made real: each entry
 * saved as a resource of its own, the ones no longer listed deleted, and the array rewritten
 * with what was saved, in `own` (an open object) to merge over the parent.
 */
static int save_embedded(struct http_request *req, const struct arm_type *child, const char *id,
                         const struct json *parent, struct json_writer *own)
{
    const struct json *items = json_get(json_get(parent, "properties"), child->embedded_as);
    if (json_type(items) != JSON_NONE && json_type(items) != JSON_ARRAY)
        return http_fail(req, 400, "InvalidRequestFormat",
                         "Cannot parse the request: 'properties.%s' must be an array.",
                         child->embedded_as);
    const char *last = strrchr(child->type, '/') + 1;
    const char *prefix = arena_printf(req->arena, "%s/%s/", id, last);
    struct json_writer *kept = json_writer_new();
    jw_array_open(kept);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < json_len(items); i++) {
        const struct json *item = json_at(items, i);
        const char *name = json_string(json_get(item, "name"));
        if (!name || !name_allowed_by_arm(name) ||
            (child->valid_name && !child->valid_name(name))) {
            rc = fail_name(req, child, name ? name : "(missing)");
            break;
        }
        const char *child_id = arena_printf(req->arena, "%s%s", prefix, name);
        const struct json *was = NULL, *now = NULL;
        rc = load(req, child_id, &was, NULL);
        if (rc == AZ_ENOTFOUND) {
            was = NULL;
            rc = 0;
        }
        if (rc == 0)
            rc = save(req, child, child_id, id, parent, was, item, &now);
        if (rc == 0)
            jw_string(kept, json_string(json_get(now, "id")));
    }
    jw_array_close(kept);
    /* The ones no longer listed go, one at a time (each takes what is nested in it along). */
    while (rc == 0) {
        struct store_stmt *st;
        if (store_prepare(req->store,
                          "SELECT id FROM resources WHERE " UNDER(
                              "?1") " AND lower(id) NOT IN "
                                    "(SELECT lower(value) FROM json_each(?2)) LIMIT 1",
                          &st) != 0) {
            rc = AZ_ESTORE;
            break;
        }
        store_bind_text(st, 1, prefix);
        store_bind_text(st, 2, json_writer_text(kept, NULL));
        const char *gone =
            store_step(st) == 1 ? arena_strdup(req->arena, store_column_text(st, 0)) : NULL;
        store_finalize(st);
        if (!gone)
            break;
        rc = arm_delete_resources_under(req, gone);
    }
    json_writer_free(kept);
    if (rc != 0)
        return rc;
    jw_key(own, "properties");
    jw_object_open(own);
    jw_key(own, child->embedded_as);
    jw_array_open(own);
    rc = write_children(req, own, arena_printf(req->arena, "%s/%s", child->namespace, child->type),
                        prefix);
    jw_array_close(own);
    jw_object_close(own);
    return rc;
}

/*
 * Compose and store one resource: the client's members, ARM's, the type's own, nested
 * resources made real. `saved` (unless NULL) gets the stored body. Runs inside the caller's
 * transaction.
 */
static int save(struct http_request *req, const struct arm_type *type, const char *id,
                const char *parent_id, const struct json *parent, const struct json *old,
                const struct json *desired, const struct json **saved)
{
    enum json_type properties = json_type(json_get(desired, "properties"));
    if (properties != JSON_NONE && properties != JSON_NULL && properties != JSON_OBJECT)
        return http_fail(req, 400, "InvalidRequestFormat",
                         "Cannot parse the request: 'properties' must be an object.");
    const char *location;
    if (check_location(req, type, id, old, desired, &location) != 0)
        return AZ_EREPLIED;
    const char *tags = "{}";
    if (!(type->flags & ARM_TYPE_NO_LOCATION) && !(tags = arm_tags(req, json_get(desired, "tags"))))
        return AZ_EREPLIED;
    char etag[40];
    uuid_v4(etag);

    /* ARM's members, written first so they lead the document, and again last so they win. */
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_string(w, "id", id);
    jw_kv_string(w, "name", strrchr(id, '/') + 1);
    jw_kv_string(w, "type", arena_printf(req->arena, "%s/%s", type->namespace, type->type));
    if (type->flags & ARM_TYPE_ETAG_IN_BODY)
        jw_kv_string(w, "etag", arena_printf(req->arena, "W/\"%s\"", etag));
    if (location) {
        jw_kv_string(w, "location", location);
        jw_key(w, "tags");
        jw_value(w, json_parse_in(req->arena, tags, strlen(tags)));
    }
    jw_key(w, "properties");
    jw_object_open(w);
    jw_kv_string(w, "provisioningState", "Succeeded");
    jw_object_close(w);
    jw_object_close(w);
    const struct json *arm = finished(req, w);

    w = json_writer_new();
    jw_object_open(w);
    for (size_t i = 0; i < json_len(desired); i++) {
        if (resource_member(json_key_at(desired, i))) {
            jw_key(w, json_key_at(desired, i));
            jw_value(w, json_at(desired, i));
        }
    }
    jw_object_close(w);
    const struct json *resource = merged(req, merged(req, arm, finished(req, w)), arm);

    /* The type's own members, then its nested resources. */
    struct arm_change c = {
        .req = req,
        .type = type,
        .id = id,
        .parent_id = parent_id,
        .parent = parent,
        .old = old,
        .resource = resource,
        .own = json_writer_new(),
    };
    jw_object_open(c.own);
    int rc = type->write ? type->write(&c) : 0;
    jw_object_close(c.own);
    const struct json *own = finished(req, c.own);
    if (rc != 0)
        return rc;
    const struct json *body = merged(req, resource, own);
    const struct arm_type *child = arm_type_embedded_in(type);
    const struct json *listed = NULL;
    if (child) {
        struct json_writer *nested = json_writer_new();
        jw_object_open(nested);
        rc = save_embedded(req, child, id, body, nested);
        jw_object_close(nested);
        listed = finished(req, nested);
        if (rc != 0)
            return rc;
    }

    /* The last layer is merged straight into the stored text. */
    struct json_writer *text = json_writer_new();
    if (listed)
        jw_merge_patch(text, body, listed);
    else
        jw_value(text, body);
    const char *group = http_param(req, "resourceGroupName");
    rc = store_run(req->store,
                   "INSERT INTO resources(id, subscription_id, resource_group, type, name, "
                   "location, tags, body, etag, created_at, changed_at) "
                   "VALUES(?1, lower(?2), ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10) "
                   "ON CONFLICT(id) DO UPDATE SET location = excluded.location, "
                   "tags = excluded.tags, body = excluded.body, etag = excluded.etag, "
                   "changed_at = excluded.changed_at",
                   "sssssssssi", id, http_param(req, "subscriptionId"), group ? group : "",
                   arena_printf(req->arena, "%s/%s", type->namespace, type->type),
                   strrchr(id, '/') + 1, location, tags, json_writer_text(text, NULL),
                   arena_printf(req->arena, "W/\"%s\"", etag), clock_now_ms());
    if (saved) {
        size_t len;
        const char *stored = json_writer_text(text, &len);
        *saved = json_parse_in(req->arena, stored, len);
    }
    json_writer_free(text);
    return rc;
}

/* After a nested resource changed: its parent's array rewritten, and a new etag for it. */
static int refresh_parent(struct http_request *req, const struct target *t)
{
    const struct json *parent;
    if (!t->type->embedded_as || load(req, t->parent_id, &parent, NULL) != 0)
        return 0;
    char etag[40];
    uuid_v4(etag);
    const char *tag = arena_printf(req->arena, "W/\"%s\"", etag);
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    if (json_get(parent, "etag"))
        jw_kv_string(w, "etag", tag);
    jw_key(w, "properties");
    jw_object_open(w);
    jw_key(w, t->type->embedded_as);
    jw_array_open(w);
    const char *prefix =
        arena_printf(req->arena, "%s/%s/", t->parent_id, strrchr(t->type->type, '/') + 1);
    int rc = write_children(req, w, t->full_type, prefix);
    jw_array_close(w);
    jw_object_close(w);
    jw_object_close(w);
    const struct json *body = merged(req, parent, finished(req, w));
    if (rc != 0)
        return rc;
    struct json_writer *text = json_writer_new();
    jw_value(text, body);
    rc = store_run(req->store,
                   "UPDATE resources SET body = ?2, etag = ?3, changed_at = ?4 "
                   "WHERE id = ?1",
                   "sssi", t->parent_id, json_writer_text(text, NULL), tag, clock_now_ms());
    json_writer_free(text);
    return rc;
}

/* ---- conditional requests -------------------------------------------------------------------- */

/* Does an If-Match/If-None-Match list name `etag` ("*" names any)? Weak comparison. */
static bool etag_listed(const char *list, const char *etag)
{
    if (strcmp(list, "*") == 0)
        return true;
    const char *want = etag && strncmp(etag, "W/", 2) == 0 ? etag + 2 : etag;
    for (const char *p = list; want && *p;) {
        p += strspn(p, " ,");
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        size_t n = strcspn(p, ",");
        while (n > 0 && p[n - 1] == ' ')
            n--;
        if (n == strlen(want) && strncmp(p, want, n) == 0)
            return true;
        p += strcspn(p, ",");
    }
    return false;
}

/* If-Match and If-None-Match on a write; `etag` is NULL when the resource does not exist. */
static int check_preconditions(struct http_request *req, const char *etag)
{
    const char *match = http_header(req, "If-Match");
    const char *none_match = http_header(req, "If-None-Match");
    if ((match && (!etag || !etag_listed(match, etag))) ||
        (none_match && etag && etag_listed(none_match, etag)))
        return http_fail(req, 412, "PreconditionFailed",
                         "The condition specified using HTTP conditional header(s) is not met.");
    return 0;
}

/* ---- the operations -------------------------------------------------------------------------- */

/* Resolve, authorize `verb` ("read", "write", …) at the resource or its holder, check that the
 * holder exists. */
static int begin(struct http_request *req, struct target *t, const char *verb)
{
    if (resolve(req, false, t, NULL) != 0)
        return AZ_EREPLIED;
    const char *action = arena_printf(req->arena, "%s/%s", t->full_type, verb);
    if (arm_authorize_at(req, action, t->name ? t->id : t->holder) != 0)
        return AZ_EREPLIED;
    return require_holder(req, t);
}

static int reply_resource(struct http_request *req, int status, const struct json *body,
                          const char *etag)
{
    struct json_writer *w = json_writer_new();
    jw_value(w, body);
    if (etag)
        http_set_header(req, "ETag", etag);
    return arm_reply(req, status, w);
}

/* A resource as stored: its text is what ARM answers, with no need to parse it and write it
 * out again. */
static int reply_stored(struct http_request *req, int status, const char *text, const char *etag)
{
    http_set_header(req, "ETag", etag);
    return http_reply(req, status, "application/json; charset=utf-8", text, strlen(text));
}

static int list(struct http_request *req, const struct target *t)
{
    const char *group = http_param(req, "resourceGroupName");
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT body FROM resources WHERE subscription_id = lower(?1) AND "
                      "type = ?2 AND (?3 IS NULL OR resource_group = ?3) AND "
                      "(?4 IS NULL OR " UNDER("?4") ") ORDER BY name, id",
                      &st) != 0)
        return fail_store(req);
    store_bind_text(st, 1, http_param(req, "subscriptionId"));
    store_bind_text(st, 2, t->full_type);
    store_bind_text(st, 3, group);
    store_bind_text(st, 4, t->parent_id ? arena_printf(req->arena, "%s/", t->id) : NULL);
    return arm_reply_stored_list(req, st);
}

int arm_get_resource(struct http_request *req)
{
    struct target t;
    if (begin(req, &t, "read") != 0)
        return AZ_EREPLIED;
    if (!t.name)
        return list(req, &t);
    const char *text, *etag;
    int rc = load_text(req, t.id, &text, &etag);
    if (rc == AZ_ENOTFOUND)
        return fail_not_found(req, &t);
    if (rc != 0)
        return fail_store(req);
    const char *none_match = http_header(req, "If-None-Match");
    if (none_match && etag_listed(none_match, etag)) {
        http_set_header(req, "ETag", etag);
        return http_reply(req, 304, NULL, "", 0);
    }
    if (!http_query(req, "$expand") || !t.type->expand)
        return reply_stored(req, 200, text, etag);
    const struct json *body = json_parse_in(req->arena, text, strlen(text));
    if (!body)
        return fail_store(req);
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    rc = t.type->expand(req, body, w);
    jw_object_close(w);
    const struct json *more = finished(req, w);
    if (rc != 0)
        return rc;
    return reply_resource(req, 200, merged(req, body, more), etag);
}

/* HEAD: 204 when the resource exists, 404 when not (Resources_CheckExistence). */
int arm_check_resource(struct http_request *req)
{
    struct target t;
    if (begin(req, &t, "read") != 0)
        return AZ_EREPLIED;
    const struct json *body;
    int rc = t.name ? load(req, t.id, &body, NULL) : AZ_ENOTFOUND;
    if (rc != 0 && rc != AZ_ENOTFOUND)
        return fail_store(req);
    return http_reply(req, rc == 0 ? 204 : 404, NULL, "", 0);
}

/* PATCH: a JSON merge patch, except that tags, when given, replace the resource's tags whole, as
 * ARM's PATCH does. */
static const struct json *patched(struct http_request *req, const struct json *old,
                                  const struct json *body)
{
    if (json_type(json_get(body, "tags")) == JSON_OBJECT)
        old = merged(req, old, json_parse_in(req->arena, "{\"tags\":null}", 13));
    return merged(req, old, body);
}

/* Commit when everything succeeded; otherwise roll back, the request failed. */
static int end_transaction(struct http_request *req, int rc)
{
    if (rc == 0 && (rc = store_commit(req->store)) == 0)
        return 0;
    store_rollback(req->store);
    return rc == AZ_EREPLIED ? rc : fail_store(req);
}

/* Writes name one resource, not a collection: 405 otherwise. */
static int require_name(struct http_request *req, const struct target *t)
{
    if (t->name)
        return 0;
    return http_fail(req, 405, "MethodNotAllowed",
                     "The requested resource does not support http method '%s'.",
                     http_method_name(req->method));
}

/* PUT (create or replace) and PATCH (merge into what exists). */
static int write_resource(struct http_request *req, bool patch)
{
    struct target t;
    if (begin(req, &t, "write") != 0 || require_name(req, &t) != 0)
        return AZ_EREPLIED;
    if (!name_allowed_by_arm(t.name) || (t.type->valid_name && !t.type->valid_name(t.name)))
        return fail_name(req, t.type, t.name);
    const struct json *body = arm_body(req);
    if (!body)
        return AZ_EREPLIED;

    if (store_begin(req->store) != 0)
        return fail_store(req);
    const struct json *old = NULL;
    const char *etag = NULL;
    int rc = load(req, t.id, &old, &etag);
    if (rc == AZ_ENOTFOUND) {
        old = NULL;
        etag = NULL;
        rc = patch ? fail_not_found(req, &t) : 0;
    } else if (rc != 0) {
        rc = fail_store(req);
    }
    if (rc == 0)
        rc = check_preconditions(req, etag);
    const struct json *parent = NULL;
    if (rc == 0 && t.parent_id && load(req, t.parent_id, &parent, NULL) != 0)
        rc = AZ_ESTORE;
    if (rc == 0)
        rc = save(req, t.type, t.id, t.parent_id, parent, old,
                  patch ? patched(req, old, body) : body, NULL);
    if (rc == 0 && t.parent_id)
        rc = refresh_parent(req, &t);
    if (end_transaction(req, rc) != 0)
        return AZ_EREPLIED;
    int status = old || (t.type->flags & ARM_TYPE_CREATED_200) ? 200 : 201;
    const char *text, *new_etag;
    if (load_text(req, t.id, &text, &new_etag) != 0)
        return fail_store(req);
    return reply_stored(req, status, text, new_etag);
}

int arm_resource_update(struct http_request *req, const char *id, const struct json *patch,
                        const struct json **saved)
{
    if (store_begin(req->store) != 0)
        return fail_store(req);
    const struct json *old;
    int rc = load(req, id, &old, NULL);
    const char *full = json_string(json_get(old, "type"));
    const char *slash = full ? strchr(full, '/') : NULL;
    const struct arm_type *type =
        slash ? arm_type_find(arena_strndup(req->arena, full, (size_t)(slash - full)), slash + 1)
              : NULL;
    if (rc == 0 && !type)
        rc = AZ_ESTORE;
    if (rc == 0)
        rc = save(req, type, json_string(json_get(old, "id")), NULL, NULL, old,
                  merged(req, old, patch), saved);
    return end_transaction(req, rc) == 0 ? 0 : AZ_EREPLIED;
}

int arm_put_resource(struct http_request *req)
{
    return write_resource(req, false);
}

int arm_patch_resource(struct http_request *req)
{
    return write_resource(req, true);
}

/* DELETE: 200 when it existed (with everything nested in it), 204 when there was nothing. */
int arm_delete_resource(struct http_request *req)
{
    struct target t;
    if (begin(req, &t, "delete") != 0 || require_name(req, &t) != 0)
        return AZ_EREPLIED;
    if (store_begin(req->store) != 0)
        return fail_store(req);
    const struct json *old;
    const char *etag = NULL;
    int rc = load(req, t.id, &old, &etag);
    bool existed = rc == 0;
    if (rc == AZ_ENOTFOUND)
        rc = 0;
    if (rc == 0)
        rc = check_preconditions(req, existed ? etag : NULL);
    if (rc == 0 && existed)
        rc = arm_delete_resources_under(req, t.id);
    if (rc == 0 && existed && t.parent_id)
        rc = refresh_parent(req, &t);
    if (end_transaction(req, rc) != 0)
        return AZ_EREPLIED;
    return http_reply(req, existed ? 200 : 204, NULL, "", 0);
}

/* POST {id}/{action}: the type's operation, authorized as "{type}/{action}/action". */
int arm_resource_action(struct http_request *req)
{
    struct target t;
    const char *verb = NULL;
    if (resolve(req, true, &t, &verb) != 0)
        return AZ_EREPLIED;
    const struct arm_action *a = t.type->actions;
    while (a && a->name && !str_ieq(a->name, verb))
        a++;
    if (!a || !a->name)
        return fail_unknown(req, t.type->namespace,
                            arena_printf(req->arena, "%s/%s", t.type->type, verb));
    if (arm_authorize_at(req, arena_printf(req->arena, "%s/%s/action", t.full_type, a->name),
                         t.id) != 0 ||
        require_holder(req, &t) != 0)
        return AZ_EREPLIED;
    const struct json *body;
    int rc = load(req, t.id, &body, NULL);
    if (rc == AZ_ENOTFOUND)
        return fail_not_found(req, &t);
    return rc == 0 ? a->run(req, t.id, body) : fail_store(req);
}

/* ---- the generic listings -------------------------------------------------------------------- */

static int list_resources(struct http_request *req, const char *group)
{
    const char *sub = http_param(req, "subscriptionId");
    if (group && arm_require_resource_group(req) != 0)
        return AZ_EREPLIED;
    const char *tag_name = arm_filter_value(req, "tagName");
    const char *tag_value = arm_filter_value(req, "tagValue");
    struct store_stmt *st;
    /* Top-level resources only, as ARM lists them ("Namespace/type", one '/'). */
    if (store_prepare(req->store,
                      "SELECT body FROM resources WHERE subscription_id = lower(?1) AND "
                      "type NOT LIKE '%/%/%' AND "
                      "(?2 IS NULL OR resource_group = ?2) AND (?3 IS NULL OR type = ?3) AND "
                      "(?4 IS NULL OR json_extract(tags, '$.' || json_quote(?4)) IS NOT NULL) AND "
                      "(?5 IS NULL OR json_extract(tags, '$.' || json_quote(?4)) = ?5) "
                      "ORDER BY id",
                      &st) != 0)
        return fail_store(req);
    store_bind_text(st, 1, sub);
    store_bind_text(st, 2, group);
    store_bind_text(st, 3, arm_filter_value(req, "resourceType"));
    store_bind_text(st, 4, tag_name);
    store_bind_text(st, 5, tag_value);
    return arm_reply_stored_list(req, st);
}

int arm_list_resources(struct http_request *req)
{
    return list_resources(req, NULL);
}

int arm_list_group_resources(struct http_request *req)
{
    return list_resources(req, http_param(req, "resourceGroupName"));
}
