/*
 * test_router.c — unit tests for common/router.c: pattern matching, parameter capture and
 * decoding, 404 versus 405, HEAD falling back to GET, and rejection of bad paths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/router.h"
#include "common/util.h"

/* The router never calls handlers; routes are told apart by their operation id. */
static int no_handler(struct http_request *req)
{
    return 0;
}

static const struct route routes[] = {
    {HTTP_GET, "/subscriptions", no_handler, "Subscriptions_List", NULL},
    {HTTP_GET, "/subscriptions/{subscriptionId}", no_handler, "Subscriptions_Get", NULL},
    {HTTP_PUT, "/subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}", no_handler,
     "ResourceGroups_CreateOrUpdate", NULL},
    {HTTP_GET, "/subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}", no_handler,
     "ResourceGroups_Get", NULL},
    {HTTP_DELETE, "/subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}", no_handler,
     "ResourceGroups_Delete", NULL},
    /* A literal ahead of the parameter it would also match. */
    {HTTP_GET, "/deletedsecrets/list", no_handler, "DeletedSecrets_List", NULL},
    {HTTP_GET, "/deletedsecrets/{name}", no_handler, "DeletedSecrets_Get", NULL},
    {HTTP_PUT, "/putonly", no_handler, "PutOnly", NULL},
};

/* Blob-style tails, in a table of their own since they match almost any path. HEAD has a route
 * of its own (Get Blob Properties) after GET. */
static const struct route blob_routes[] = {
    {HTTP_GET, "/{container}/{blob*}", no_handler, "Blob_Download", NULL},
    {HTTP_PUT, "/{container}/{blob*}", no_handler, "Blob_Upload", NULL},
    {HTTP_HEAD, "/{container}/{blob*}", no_handler, "Blob_GetProperties", NULL},
};

struct fixture {
    struct arena *arena;
    struct route_match m;
    unsigned allowed;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->arena = arena_new();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    arena_free(f->arena);
    free(f);
    return 0;
}

static enum router_result match_in(struct fixture *f, const struct route *table, size_t n,
                                   enum http_method method, const char *path)
{
    f->allowed = 0xdead; /* router_match must overwrite it */
    return router_match(table, n, method, path, f->arena, &f->m, &f->allowed);
}

static enum router_result match(struct fixture *f, enum http_method method, const char *path)
{
    return match_in(f, routes, ARRAY_SIZE(routes), method, path);
}

static enum router_result match_blob(struct fixture *f, enum http_method method, const char *path)
{
    return match_in(f, blob_routes, ARRAY_SIZE(blob_routes), method, path);
}

/* Match, insist on success and on the expected operation. */
static void expect_in(struct fixture *f, const struct route *table, size_t n,
                      enum http_method method, const char *path, const char *operation_id)
{
    enum router_result r = match_in(f, table, n, method, path);
    if (r != ROUTER_FOUND)
        fail_msg("%s %s: expected %s, router returned %d", http_method_name(method), path,
                 operation_id, (int)r);
    assert_non_null(f->m.route);
    assert_string_equal(f->m.route->operation_id, operation_id);
}

static void expect_route(struct fixture *f, enum http_method method, const char *path,
                         const char *operation_id)
{
    expect_in(f, routes, ARRAY_SIZE(routes), method, path, operation_id);
}

static void expect_blob(struct fixture *f, enum http_method method, const char *path,
                        const char *operation_id)
{
    expect_in(f, blob_routes, ARRAY_SIZE(blob_routes), method, path, operation_id);
}

static void test_literal_case_insensitive(void **state)
{
    struct fixture *f = *state;
    expect_route(f, HTTP_GET, "/subscriptions", "Subscriptions_List");
    assert_int_equal(f->m.nparams, 0);
    expect_route(f, HTTP_GET, "/SUBSCRIPTIONS", "Subscriptions_List");
    expect_route(f, HTTP_GET, "/SubScriptions/s1/ResourceGroups/rg", "ResourceGroups_Get");
}

static void test_params_keep_case(void **state)
{
    struct fixture *f = *state;
    expect_route(f, HTTP_PUT, "/Subscriptions/AbC-123/resourceGroups/My_RG",
                 "ResourceGroups_CreateOrUpdate");
    assert_int_equal(f->m.nparams, 2);
    assert_string_equal(route_match_param(&f->m, "subscriptionId"), "AbC-123");
    assert_string_equal(route_match_param(&f->m, "resourceGroupName"), "My_RG");
}

static void test_empty_segments_ignored(void **state)
{
    struct fixture *f = *state;
    static const char *const paths[] = {
        "/subscriptions/abc/", "/subscriptions/abc//",      "//subscriptions//abc",
        "subscriptions/abc",   "///subscriptions///abc///",
    };
    for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
        expect_route(f, HTTP_GET, paths[i], "Subscriptions_Get");
        assert_string_equal(route_match_param(&f->m, "subscriptionId"), "abc");
    }
    expect_route(f, HTTP_GET, "/subscriptions/", "Subscriptions_List");
}

static void test_tail_param(void **state)
{
    struct fixture *f = *state;
    expect_blob(f, HTTP_GET, "/photos/2024/june/cat.jpg", "Blob_Download");
    assert_string_equal(route_match_param(&f->m, "container"), "photos");
    assert_string_equal(route_match_param(&f->m, "blob"), "2024/june/cat.jpg");

    /* Inner slashes stay as sent, doubled ones included: "a//b" and "a/b" are two blobs. */
    expect_blob(f, HTTP_GET, "/photos/a//b", "Blob_Download");
    assert_string_equal(route_match_param(&f->m, "blob"), "a//b");
    expect_blob(f, HTTP_GET, "/photos/x/y//z///w", "Blob_Download");
    assert_string_equal(route_match_param(&f->m, "blob"), "x/y//z///w");

    /* A trailing slash is not part of the name. */
    expect_blob(f, HTTP_GET, "/photos/a/b/", "Blob_Download");
    assert_string_equal(route_match_param(&f->m, "blob"), "a/b");

    /* Each capture is decoded on its own. */
    expect_blob(f, HTTP_PUT, "/photos/dir%2Fname%20with%20space.txt", "Blob_Upload");
    assert_string_equal(route_match_param(&f->m, "blob"), "dir/name with space.txt");

    /* A single segment is a tail too; an absent one is not. */
    expect_blob(f, HTTP_GET, "/photos/one", "Blob_Download");
    assert_string_equal(route_match_param(&f->m, "blob"), "one");
    assert_int_equal(match_blob(f, HTTP_PUT, "/photos"), ROUTER_NOT_FOUND);
    assert_int_equal(match_blob(f, HTTP_PUT, "/photos/"), ROUTER_NOT_FOUND);
}

static void test_tail_param_many_segments(void **state)
{
    struct fixture *f = *state;
    /* Azure Storage allows a blob name of up to 1,024 characters and 254 path segments. A
     * 100-segment name ("d/d/.../d") must still reach the tail route. */
    struct buf path = {0};
    buf_puts(&path, "/c/");
    for (int i = 0; i < 100; i++)
        buf_puts(&path, i ? "/d" : "d");
    enum router_result r = match_blob(f, HTTP_GET, path.data);
    buf_free(&path);
    assert_int_equal(r, ROUTER_FOUND);
    assert_string_equal(f->m.route->operation_id, "Blob_Download");
    assert_int_equal(strlen(route_match_param(&f->m, "blob")), 199);
}

static void test_encoded_slash_stays_in_param(void **state)
{
    struct fixture *f = *state;
    /* "a%2Fb" is one segment: Subscriptions_Get with "a/b", not a two-segment route. */
    expect_route(f, HTTP_GET, "/subscriptions/a%2Fb", "Subscriptions_Get");
    assert_string_equal(route_match_param(&f->m, "subscriptionId"), "a/b");
    expect_route(f, HTTP_GET, "/subscriptions/a%2fb", "Subscriptions_Get");
    assert_string_equal(route_match_param(&f->m, "subscriptionId"), "a/b");

    expect_route(f, HTTP_GET, "/subscriptions/caf%C3%A9%20%2B", "Subscriptions_Get");
    assert_string_equal(route_match_param(&f->m, "subscriptionId"), "caf\xc3\xa9 +");
    /* '+' is a literal plus in a path. */
    expect_route(f, HTTP_GET, "/subscriptions/a+b", "Subscriptions_Get");
    assert_string_equal(route_match_param(&f->m, "subscriptionId"), "a+b");
}

static void test_not_found(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(match(f, HTTP_GET, "/nothing"), ROUTER_NOT_FOUND);
    assert_int_equal(f->allowed, 0);
    assert_null(f->m.route);
    assert_int_equal(match(f, HTTP_GET, "/"), ROUTER_NOT_FOUND);
    assert_int_equal(match(f, HTTP_GET, ""), ROUTER_NOT_FOUND);
    /* Between two routes' lengths, and one segment past the longest. */
    assert_int_equal(match(f, HTTP_DELETE, "/subscriptions/s/resourcegroups"), ROUTER_NOT_FOUND);
    assert_int_equal(match(f, HTTP_GET, "/subscriptions/s/resourcegroups/rg/x"), ROUTER_NOT_FOUND);
    /* A tail needs at least one segment to capture. */
    assert_int_equal(match_blob(f, HTTP_GET, "/container"), ROUTER_NOT_FOUND);
}

static void test_bad_method(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(match(f, HTTP_POST, "/subscriptions/abc"), ROUTER_BAD_METHOD);
    /* GET routes accept HEAD as well, so the Allow header lists it. */
    assert_int_equal(f->allowed, HTTP_GET | HTTP_HEAD);
    assert_null(f->m.route);

    assert_int_equal(match(f, HTTP_PATCH, "/subscriptions/s/resourceGroups/rg"), ROUTER_BAD_METHOD);
    assert_int_equal(f->allowed, HTTP_GET | HTTP_HEAD | HTTP_PUT | HTTP_DELETE);

    /* No GET route: no HEAD either. */
    assert_int_equal(match(f, HTTP_GET, "/putonly"), ROUTER_BAD_METHOD);
    assert_int_equal(f->allowed, HTTP_PUT);
    assert_int_equal(match(f, HTTP_HEAD, "/putonly"), ROUTER_BAD_METHOD);
    assert_int_equal(f->allowed, HTTP_PUT);

    /* A HEAD route of its own counts once. */
    assert_int_equal(match_blob(f, HTTP_POST, "/c/b"), ROUTER_BAD_METHOD);
    assert_int_equal(f->allowed, HTTP_GET | HTTP_HEAD | HTTP_PUT);

    /* The mask is optional. */
    struct route_match m;
    assert_int_equal(
        router_match(routes, ARRAY_SIZE(routes), HTTP_POST, "/subscriptions", f->arena, &m, NULL),
        ROUTER_BAD_METHOD);
}

static void test_head_uses_get_route(void **state)
{
    struct fixture *f = *state;
    expect_route(f, HTTP_HEAD, "/subscriptions", "Subscriptions_List");
    assert_int_equal(f->m.route->method, HTTP_GET);
    expect_route(f, HTTP_HEAD, "/subscriptions/s1", "Subscriptions_Get");
    assert_string_equal(route_match_param(&f->m, "subscriptionId"), "s1");
}

static void test_head_route_wins_over_get(void **state)
{
    struct fixture *f = *state;
    /* The GET tail route comes first in the table, but a HEAD route for the path exists. */
    expect_blob(f, HTTP_HEAD, "/photos/cat.jpg", "Blob_GetProperties");
    assert_string_equal(route_match_param(&f->m, "blob"), "cat.jpg");
    expect_blob(f, HTTP_GET, "/photos/cat.jpg", "Blob_Download");

    /* And a HEAD route placed before its GET route is found directly. */
    static const struct route head_first[] = {
        {HTTP_HEAD, "/x", no_handler, "Head_X", NULL},
        {HTTP_GET, "/x", no_handler, "Get_X", NULL},
    };
    struct route_match m;
    assert_int_equal(router_match(head_first, 2, HTTP_HEAD, "/x", f->arena, &m, NULL),
                     ROUTER_FOUND);
    assert_string_equal(m.route->operation_id, "Head_X");
    assert_int_equal(router_match(head_first, 2, HTTP_GET, "/x", f->arena, &m, NULL), ROUTER_FOUND);
    assert_string_equal(m.route->operation_id, "Get_X");
}

static void test_first_match_wins(void **state)
{
    struct fixture *f = *state;
    expect_route(f, HTTP_GET, "/deletedsecrets/list", "DeletedSecrets_List");
    assert_int_equal(f->m.nparams, 0);
    expect_route(f, HTTP_GET, "/deletedsecrets/other", "DeletedSecrets_Get");
    assert_string_equal(route_match_param(&f->m, "name"), "other");

    /* In the other order the parameter shadows the literal. */
    static const struct route param_first[] = {
        {HTTP_GET, "/items/{id}", no_handler, "Items_Get", NULL},
        {HTTP_GET, "/items/special", no_handler, "Items_Special", NULL},
    };
    struct route_match m;
    assert_int_equal(router_match(param_first, 2, HTTP_GET, "/items/special", f->arena, &m, NULL),
                     ROUTER_FOUND);
    assert_string_equal(m.route->operation_id, "Items_Get");
    assert_string_equal(route_match_param(&m, "id"), "special");
}

static void test_bad_path(void **state)
{
    struct fixture *f = *state;
    static const char *const bad[] = {
        "/subscriptions/%zz",    /* not hex */
        "/subscriptions/%ff",    /* decodes, but not UTF-8 */
        "/subscriptions/%00",    /* NUL */
        "/subscriptions/%2",     /* truncated */
        "/subscriptions/%",      /* truncated */
        "/subscriptions/%C3",    /* truncated UTF-8 sequence */
        "/subscriptions/%C0%80", /* overlong */
        "/nowhere/%zz",          /* a bad escape is a 400 even where nothing would match */
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        enum router_result r = match(f, HTTP_GET, bad[i]);
        if (r != ROUTER_BAD_PATH)
            fail_msg("%s: expected ROUTER_BAD_PATH, got %d", bad[i], (int)r);
    }
    /* Inside a tail too. */
    assert_int_equal(match_blob(f, HTTP_GET, "/photos/a/b/%ED%A0%80"), ROUTER_BAD_PATH);
    assert_int_equal(match_blob(f, HTTP_GET, "/photos/a/%zz/b"), ROUTER_BAD_PATH);
}

static void test_route_match_param_names(void **state)
{
    struct fixture *f = *state;
    expect_route(f, HTTP_GET, "/subscriptions/S/resourcegroups/RG", "ResourceGroups_Get");
    assert_string_equal(route_match_param(&f->m, "SUBSCRIPTIONID"), "S");
    assert_string_equal(route_match_param(&f->m, "resourcegroupname"), "RG");
    assert_null(route_match_param(&f->m, "subscription"));    /* a prefix is not the name */
    assert_null(route_match_param(&f->m, "subscriptionIdX")); /* nor is a longer one */
    assert_null(route_match_param(&f->m, "missing"));

    /* The tail parameter's name excludes the '*'. */
    expect_blob(f, HTTP_GET, "/c/b", "Blob_Download");
    assert_string_equal(route_match_param(&f->m, "BLOB"), "b");
    assert_null(route_match_param(&f->m, "blob*"));
}

static void test_http_method_name(void **state)
{
    assert_string_equal(http_method_name(HTTP_GET), "GET");
    assert_string_equal(http_method_name(HTTP_HEAD), "HEAD");
    assert_string_equal(http_method_name(HTTP_POST), "POST");
    assert_string_equal(http_method_name(HTTP_PUT), "PUT");
    assert_string_equal(http_method_name(HTTP_PATCH), "PATCH");
    assert_string_equal(http_method_name(HTTP_DELETE), "DELETE");
    assert_string_equal(http_method_name(HTTP_OPTIONS), "OPTIONS");
    assert_string_equal(http_method_name((enum http_method)0), "?");
    assert_string_equal(http_method_name((enum http_method)(HTTP_GET | HTTP_PUT)), "?");
}

/* ---- {scope*} in the middle of a pattern ---------------------------------------------------- */

/* ARM's extension resources at any scope: the scope is whatever precedes the provider part. */
static const struct route scope_routes[] = {
    {HTTP_GET, "/{scope*}/providers/Microsoft.Authorization/roleAssignments/{name}", no_handler,
     "RoleAssignments_Get", NULL},
    {HTTP_PUT, "/{scope*}/providers/Microsoft.Authorization/roleAssignments/{name}", no_handler,
     "RoleAssignments_Create", NULL},
    {HTTP_GET, "/{scope*}/providers/Microsoft.Authorization/roleDefinitions", no_handler,
     "RoleDefinitions_List", NULL},
};

static enum router_result match_scope(struct fixture *f, enum http_method method, const char *path)
{
    return match_in(f, scope_routes, ARRAY_SIZE(scope_routes), method, path);
}

static void expect_scope(struct fixture *f, enum http_method method, const char *path,
                         const char *operation_id, const char *scope)
{
    expect_in(f, scope_routes, ARRAY_SIZE(scope_routes), method, path, operation_id);
    const char *got = route_match_param(&f->m, "scope");
    if (!got || strcmp(got, scope) != 0)
        fail_msg("%s: scope \"%s\", expected \"%s\"", path, got ? got : "(null)", scope);
}

static void test_mid_scope_subscription(void **state)
{
    struct fixture *f = *state;
    expect_scope(f, HTTP_GET,
                 "/subscriptions/S/providers/Microsoft.Authorization/roleAssignments/A",
                 "RoleAssignments_Get", "subscriptions/S");
    assert_int_equal(f->m.nparams, 2);
    assert_string_equal(route_match_param(&f->m, "name"), "A");
    assert_null(route_match_param(&f->m, "scope*"));

    expect_scope(f, HTTP_PUT,
                 "/subscriptions/S/providers/Microsoft.Authorization/roleAssignments/A",
                 "RoleAssignments_Create", "subscriptions/S");
    expect_scope(f, HTTP_GET, "/subscriptions/S/providers/Microsoft.Authorization/roleDefinitions",
                 "RoleDefinitions_List", "subscriptions/S");
    assert_int_equal(f->m.nparams, 1);
}

static void test_mid_scope_resource_group(void **state)
{
    struct fixture *f = *state;
    expect_scope(f, HTTP_GET,
                 "/subscriptions/S/resourceGroups/rg/providers/Microsoft.Authorization/"
                 "roleAssignments/A",
                 "RoleAssignments_Get", "subscriptions/S/resourceGroups/rg");
    assert_string_equal(route_match_param(&f->m, "name"), "A");
    expect_scope(f, HTTP_GET,
                 "/subscriptions/S/resourceGroups/rg/providers/Microsoft.Authorization/"
                 "roleDefinitions",
                 "RoleDefinitions_List", "subscriptions/S/resourceGroups/rg");

    /* A resource group called "providers" is still part of the scope. */
    expect_scope(f, HTTP_GET,
                 "/subscriptions/S/resourceGroups/providers/providers/Microsoft.Authorization/"
                 "roleAssignments/A",
                 "RoleAssignments_Get", "subscriptions/S/resourceGroups/providers");
}

static void test_mid_scope_nested_provider(void **state)
{
    struct fixture *f = *state;
    /* The scope has a provider segment of its own; the match is anchored at the end. */
    expect_scope(f, HTTP_GET,
                 "/subscriptions/S/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv/"
                 "providers/Microsoft.Authorization/roleAssignments/A",
                 "RoleAssignments_Get",
                 "subscriptions/S/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv");
    assert_string_equal(route_match_param(&f->m, "name"), "A");
    expect_scope(f, HTTP_GET,
                 "/subscriptions/S/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv/"
                 "secrets/s1/providers/Microsoft.Authorization/roleDefinitions",
                 "RoleDefinitions_List",
                 "subscriptions/S/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv/"
                 "secrets/s1");
}

static void test_mid_scope_empty(void **state)
{
    struct fixture *f = *state;
    /* The root scope "/": the parameter is present and empty. */
    expect_scope(f, HTTP_GET, "/providers/Microsoft.Authorization/roleDefinitions",
                 "RoleDefinitions_List", "");
    assert_int_equal(f->m.nparams, 1);
    expect_scope(f, HTTP_GET, "/providers/Microsoft.Authorization/roleAssignments/A",
                 "RoleAssignments_Get", "");
    assert_string_equal(route_match_param(&f->m, "name"), "A");
    expect_scope(f, HTTP_GET, "//providers/Microsoft.Authorization/roleDefinitions/",
                 "RoleDefinitions_List", "");
}

static void test_mid_scope_doubled_slashes(void **state)
{
    struct fixture *f = *state;
    /* The JS SDK puts a scope of "/subscriptions/S" after the template's own '/'. */
    expect_scope(f, HTTP_GET,
                 "//subscriptions/S/providers/Microsoft.Authorization/roleAssignments/A",
                 "RoleAssignments_Get", "subscriptions/S");
    assert_string_equal(route_match_param(&f->m, "name"), "A");
    expect_scope(f, HTTP_PUT,
                 "//subscriptions/S/resourceGroups/rg/providers/Microsoft.Authorization/"
                 "roleAssignments/A",
                 "RoleAssignments_Create", "subscriptions/S/resourceGroups/rg");
    expect_scope(f, HTTP_GET, "//subscriptions/S/providers/Microsoft.Authorization/roleDefinitions",
                 "RoleDefinitions_List", "subscriptions/S");
    /* Empty segments between the scope and the literals, or at the end, are ignored too. */
    expect_scope(f, HTTP_GET,
                 "/subscriptions/S//providers//Microsoft.Authorization/roleAssignments//A/",
                 "RoleAssignments_Get", "subscriptions/S");
    assert_string_equal(route_match_param(&f->m, "name"), "A");
}

static void test_mid_scope_case_insensitive_literals(void **state)
{
    struct fixture *f = *state;
    expect_scope(f, HTTP_GET,
                 "/Subscriptions/S/ResourceGroups/RG/PROVIDERS/microsoft.authorization/"
                 "ROLEASSIGNMENTS/Ab",
                 "RoleAssignments_Get", "Subscriptions/S/ResourceGroups/RG");
    /* Captured values keep their case. */
    assert_string_equal(route_match_param(&f->m, "name"), "Ab");
    expect_scope(f, HTTP_GET, "/providers/MICROSOFT.AUTHORIZATION/roledefinitions",
                 "RoleDefinitions_List", "");
}

static void test_mid_scope_decoded(void **state)
{
    struct fixture *f = *state;
    /* The scope and the name are decoded on their own. */
    expect_scope(f, HTTP_GET,
                 "/subscriptions/S/resourceGroups/my%20rg/providers/Microsoft.Authorization/"
                 "roleAssignments/a%2Fb",
                 "RoleAssignments_Get", "subscriptions/S/resourceGroups/my rg");
    assert_string_equal(route_match_param(&f->m, "name"), "a/b");
    assert_int_equal(
        match_scope(f, HTTP_GET,
                    "/subscriptions/%zz/providers/Microsoft.Authorization/roleAssignments/A"),
        ROUTER_BAD_PATH);
}

static void test_mid_scope_not_found(void **state)
{
    struct fixture *f = *state;
    static const char *const paths[] = {
        /* Trailing literals that do not match. */
        "/subscriptions/S/providers/Microsoft.Authorization/roleAssignmentz/A",
        "/subscriptions/S/providers/Microsoft.Resources/roleAssignments/A",
        "/subscriptions/S/provider/Microsoft.Authorization/roleAssignments/A",
        "/subscriptions/S/providers/Microsoft.Authorization/roleDefinitionsX",
        "/subscriptions/S/providers/Microsoft.Authorization/roleDefinitions/x/y",
        /* One segment past the name, and the name missing. */
        "/subscriptions/S/providers/Microsoft.Authorization/roleAssignments/A/extra",
        "/providers/Microsoft.Authorization/roleAssignments",
        /* Fewer segments than the literals after the scope. */
        "/providers/Microsoft.Authorization",
        "/roleDefinitions",
        "/subscriptions/S",
        "/",
        "",
    };
    for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
        enum router_result r = match_scope(f, HTTP_GET, paths[i]);
        if (r != ROUTER_NOT_FOUND)
            fail_msg("%s: expected ROUTER_NOT_FOUND, got %d", paths[i], (int)r);
        assert_null(f->m.route);
        assert_int_equal(f->allowed, 0);
    }
}

static void test_mid_scope_bad_method(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        match_scope(f, HTTP_DELETE,
                    "/subscriptions/S/providers/Microsoft.Authorization/roleAssignments/A"),
        ROUTER_BAD_METHOD);
    assert_int_equal(f->allowed, HTTP_GET | HTTP_HEAD | HTTP_PUT);
    assert_int_equal(match_scope(f, HTTP_PUT, "/providers/Microsoft.Authorization/roleDefinitions"),
                     ROUTER_BAD_METHOD);
    assert_int_equal(f->allowed, HTTP_GET | HTTP_HEAD);
    /* HEAD falls back to the GET route, scope and all. */
    expect_scope(f, HTTP_HEAD, "/subscriptions/S/providers/Microsoft.Authorization/roleDefinitions",
                 "RoleDefinitions_List", "subscriptions/S");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_literal_case_insensitive),
        T(test_params_keep_case),
        T(test_empty_segments_ignored),
        T(test_tail_param),
        T(test_tail_param_many_segments),
        T(test_encoded_slash_stays_in_param),
        T(test_not_found),
        T(test_bad_method),
        T(test_head_uses_get_route),
        T(test_head_route_wins_over_get),
        T(test_first_match_wins),
        T(test_bad_path),
        T(test_route_match_param_names),
        cmocka_unit_test(test_http_method_name),
        T(test_mid_scope_subscription),
        T(test_mid_scope_resource_group),
        T(test_mid_scope_nested_provider),
        T(test_mid_scope_empty),
        T(test_mid_scope_doubled_slashes),
        T(test_mid_scope_case_insensitive_literals),
        T(test_mid_scope_decoded),
        T(test_mid_scope_not_found),
        T(test_mid_scope_bad_method),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
