/*
 * arm/resources.c — the generic resource listings (GET …/resources at subscription and resource
 * group scope, with $filter on resourceType and tags) and ARM's answers for resource types no
 * provider serves (InvalidResourceNamespace, InvalidResourceType).
 *
 * Resources live in one `resources` table, whatever their provider; the providers that create
 * them (managed identities, compute, Key Vault, storage) plug in as they arrive.
 */
#include "arm/arm.h"

#include "common/error.h"
#include "common/json.h"
#include "common/store.h"
#include "common/util.h"

#include <string.h>

static int list_resources(struct http_request *req, const char *group)
{
    const char *sub = http_param(req, "subscriptionId");
    if (group && arm_require_resource_group(req) != 0)
        return AZ_EREPLIED;
    const char *tag_name = arm_filter_value(req, "tagName");
    const char *tag_value = arm_filter_value(req, "tagValue");
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT body FROM resources WHERE subscription_id = lower(?1) AND "
                      "(?2 IS NULL OR resource_group = ?2) AND (?3 IS NULL OR type = ?3) AND "
                      "(?4 IS NULL OR json_extract(tags, '$.' || json_quote(?4)) IS NOT NULL) AND "
                      "(?5 IS NULL OR json_extract(tags, '$.' || json_quote(?4)) = ?5) "
                      "ORDER BY id",
                      &st) != 0)
        return http_fail(req, 500, "InternalServerError", "The store could not be read.");
    store_bind_text(st, 1, sub);
    store_bind_text(st, 2, group);
    store_bind_text(st, 3, arm_filter_value(req, "resourceType"));
    store_bind_text(st, 4, tag_name);
    store_bind_text(st, 5, tag_value);
    struct json_writer *w = json_writer_new();
    jw_list_open(w);
    while (store_step(st) == 1) {
        struct json *r = NULL;
        const char *body = store_column_text(st, 0);
        if (json_parse(body, strlen(body), &r, NULL, 0) == 0)
            jw_value(w, r);
        json_free(r);
    }
    jw_list_close(w);
    store_finalize(st);
    return arm_reply(req, 200, w);
}

int arm_list_resources(struct http_request *req)
{
    return list_resources(req, NULL);
}

int arm_list_group_resources(struct http_request *req)
{
    return list_resources(req, http_param(req, "resourceGroupName"));
}

/*
 * Anything under …/providers/{namespace}/… that no route serves: ARM's answer for a namespace
 * it does not know, or for a type its provider does not have.
 */
int arm_unknown_resource(struct http_request *req)
{
    const char *ns = http_param(req, "resourceProviderNamespace");
    const char *rest = http_param(req, "resource");
    const char *type = arena_strndup(req->arena, rest, strcspn(rest, "/"));
    if (!arm_provider_known(ns))
        return http_fail(req, 400, "InvalidResourceNamespace",
                         "The resource namespace '%s' is invalid.", ns);
    return http_fail(req, 400, "InvalidResourceType",
                     "The resource type '%s' could not be found in the namespace '%s' for api "
                     "version '%s'.",
                     type, ns, http_query(req, "api-version"));
}
