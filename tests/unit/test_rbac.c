/*
 * test_rbac.c — unit tests for common/rbac.c: the action matcher (case, '*' anywhere, several
 * stars, backtracking), the scope matcher (ancestors by whole segments, case, trailing slashes),
 * permission blocks of real built-in roles (actions versus dataActions, notActions and
 * notDataActions), and rbac_check against a real file store in a fresh mkdtemp directory:
 * default deny, inheritance down the scope tree, the narrowest grant named in the decision,
 * roles skipped for their notActions, assignment changes seen by the very next check, principal
 * ids matched case-insensitively, and data actions granted only by dataActions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/rbac.h"
#include "common/store.h"
#include "common/util.h"

/* ---- built-in roles ------------------------------------------------------------------------ */

/* Permission blocks copied from data/builtin-roles.json (each of these roles has one block).
 * Copied rather than read, so the tests do not depend on the data file at run time. */
#define OWNER_ID "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
#define OWNER_PERMS                                                                                \
    "{\"actions\":[\"*\"],\"notActions\":[],\"dataActions\":[],\"notDataActions\":[]}"

#define CONTRIBUTOR_ID "b24988ac-6180-42a0-ab88-20f7382dd24c"
#define CONTRIBUTOR_PERMS                                                                          \
    "{\"actions\":[\"*\"],"                                                                        \
    "\"notActions\":[\"Microsoft.Authorization/*/Delete\",\"Microsoft.Authorization/*/Write\","    \
    "\"Microsoft.Authorization/elevateAccess/Action\","                                            \
    "\"Microsoft.Blueprint/blueprintAssignments/write\","                                          \
    "\"Microsoft.Blueprint/blueprintAssignments/delete\","                                         \
    "\"Microsoft.Compute/galleries/share/action\",\"Microsoft.Purview/consents/write\","           \
    "\"Microsoft.Purview/consents/delete\","                                                       \
    "\"Microsoft.Resources/deploymentStacks/manageDenySetting/action\","                           \
    "\"Microsoft.Subscription/cancel/action\",\"Microsoft.Subscription/enable/action\"],"          \
    "\"dataActions\":[],\"notDataActions\":[]}"

#define READER_ID "acdd72a7-3385-48ef-bd42-f606fba81ae7"
#define READER_PERMS                                                                               \
    "{\"actions\":[\"*/read\"],\"notActions\":[],\"dataActions\":[],\"notDataActions\":[]}"

#define UAA_ID "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
#define UAA_PERMS                                                                                  \
    "{\"actions\":[\"*/read\",\"Microsoft.Authorization/*\",\"Microsoft.Support/*\"],"             \
    "\"notActions\":[],\"dataActions\":[],\"notDataActions\":[]}"

#define KV_SECRETS_USER_ID "4633458b-17de-408a-b874-0445c86b69e6"
#define KV_SECRETS_USER_PERMS                                                                      \
    "{\"actions\":[],\"notActions\":[],"                                                           \
    "\"dataActions\":[\"Microsoft.KeyVault/vaults/secrets/getSecret/action\","                     \
    "\"Microsoft.KeyVault/vaults/secrets/readMetadata/action\"],\"notDataActions\":[]}"

/* Azure Kubernetes Fleet Manager RBAC Admin for Member Clusters: a built-in role whose
 * notDataActions carve writes out of a data-action wildcard. */
#define FLEET_ADMIN_PERMS                                                                          \
    "{\"actions\":[\"Microsoft.Authorization/*/read\","                                            \
    "\"Microsoft.Resources/subscriptions/operationresults/read\","                                 \
    "\"Microsoft.Resources/subscriptions/read\","                                                  \
    "\"Microsoft.Resources/subscriptions/resourceGroups/read\"],\"notActions\":[],"                \
    "\"dataActions\":[\"Microsoft.ContainerService/fleets/members/*\"],"                           \
    "\"notDataActions\":[\"Microsoft.ContainerService/fleets/members/resourcequotas/write\","      \
    "\"Microsoft.ContainerService/fleets/members/resourcequotas/delete\","                         \
    "\"Microsoft.ContainerService/fleets/members/namespaces/write\","                              \
    "\"Microsoft.ContainerService/fleets/members/namespaces/delete\"]}"

/* Actions used throughout. */
#define RG_READ "Microsoft.Resources/subscriptions/resourceGroups/read"
#define RG_WRITE "Microsoft.Resources/subscriptions/resourceGroups/write"
#define SUB_READ "Microsoft.Resources/subscriptions/read"
#define SA_READ "Microsoft.Storage/storageAccounts/read"
#define SA_WRITE "Microsoft.Storage/storageAccounts/write"
#define SA_LIST_KEYS "Microsoft.Storage/storageAccounts/listKeys/action"
#define RA_WRITE "Microsoft.Authorization/roleAssignments/write"
#define RA_DELETE "Microsoft.Authorization/roleAssignments/delete"
#define RA_READ "Microsoft.Authorization/roleAssignments/read"
#define KV_READ "Microsoft.KeyVault/vaults/read"
#define GET_SECRET "Microsoft.KeyVault/vaults/secrets/getSecret/action"
#define SET_SECRET "Microsoft.KeyVault/vaults/secrets/setSecret/action"

/* Scopes: a subscription, two resource groups (one a prefix of a third), a vault and a secret. */
#define SUB_ID "3f2c9a61-5d1e-4b7a-9c08-7e6d5a4b3c21"
#define SUB "/subscriptions/" SUB_ID
#define RG SUB "/resourceGroups/rg-app"
#define RG_PREFIXED SUB "/resourceGroups/rg-app2"
#define RG_OTHER SUB "/resourceGroups/rg-data"
#define ACCOUNT RG "/providers/Microsoft.Storage/storageAccounts/stapp"
#define VAULT RG "/providers/Microsoft.KeyVault/vaults/kv-app"
#define SECRET VAULT "/secrets/db-password"

/* Principals, stored lower-case as the assignment writers store them. */
#define ALICE "a11ce5e0-7c1d-4f0e-9b55-0c4d2f1e6a01"
#define ALICE_UPPER "A11CE5E0-7C1D-4F0E-9B55-0C4D2F1E6A01"
#define BOB "b0b0b0b0-2e3f-4a5b-8c6d-7e8f9a0b1c02"

/* ---- rbac_action_matches ------------------------------------------------------------------- */

static void expect_match(const char *pattern, const char *action, bool want)
{
    if (rbac_action_matches(pattern, action) != want)
        fail_msg("rbac_action_matches(\"%s\", \"%s\"): expected %s", pattern, action,
                 want ? "true" : "false");
}

static void test_action_exact(void **state)
{
    expect_match(RG_READ, RG_READ, true);
    expect_match(SA_LIST_KEYS, SA_LIST_KEYS, true);
    expect_match(RG_READ, RG_WRITE, false);
    expect_match(RG_WRITE, RG_READ, false);
    /* One character off at the very start or the very end. */
    expect_match(RG_READ, "microsoft.Resources/subscriptions/resourceGroups/reax", false);
    expect_match(RG_READ, "Xicrosoft.Resources/subscriptions/resourceGroups/read", false);
}

static void test_action_case_insensitive(void **state)
{
    expect_match("microsoft.resources/subscriptions/resourceGroups/READ", RG_READ, true);
    expect_match(RG_READ, "MICROSOFT.RESOURCES/SUBSCRIPTIONS/RESOURCEGROUPS/READ", true);
    /* Contributor's notAction spells it "Write"; the action is "write". */
    expect_match("Microsoft.Authorization/*/Write", RA_WRITE, true);
    expect_match("MICROSOFT.STORAGE/*", SA_LIST_KEYS, true);
}

static void test_action_star_alone(void **state)
{
    static const char *const actions[] = {
        RG_READ, RA_WRITE, SA_LIST_KEYS, GET_SECRET, "x", "/", "*",
    };
    for (size_t i = 0; i < ARRAY_SIZE(actions); i++)
        expect_match("*", actions[i], true);
}

static void test_action_star_read(void **state)
{
    expect_match("*/read", RG_READ, true);
    expect_match("*/read", SA_READ, true);
    expect_match("*/read", "Microsoft.Compute/virtualMachines/read", true);
    expect_match("*/read", "Microsoft.Insights/diagnosticSettings/READ", true);
    expect_match("*/read", RG_WRITE, false);
    expect_match("*/read", SA_LIST_KEYS, false);
    expect_match("*/read", RA_DELETE, false);
    /* "read" must be the whole last segment, at the end. */
    expect_match("*/read", "Microsoft.Foo/readers/write", false);
    expect_match("*/read", "Microsoft.Foo/bar/readx", false);
    expect_match("*/read", "Microsoft.Foo/bar/xread", false);
    expect_match("*/read", "read", false);
    /* The star spans nothing at all before "/read". */
    expect_match("*/read", "/read", true);
}

/* Managed Identity Operator: "…/userAssignedIdentities/ * /assign/action" grants what ARM checks
 * when an identity is attached, "…/userAssignedIdentities/assign/action". */
static void test_action_wildcard_segment_may_be_empty(void **state)
{
    const char *operator_action =
        "Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action";
    expect_match(operator_action, "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action",
                 true);
    expect_match(operator_action,
                 "Microsoft.ManagedIdentity/userAssignedIdentities/x/assign/action", true);
    expect_match(operator_action, "Microsoft.ManagedIdentity/userAssignedIdentities/write", false);
    expect_match(operator_action, "Microsoft.ManagedIdentity/userAssignedIdentitiesassign/action",
                 false);
    expect_match("a/*/b/c", "a/b/c", true);
    expect_match("a/*/b/c", "a/c", false);
    /* Only before literal segments: "* / * / *" still needs three segments. */
    expect_match("*/*/*", "a/b", false);
}

static void test_action_provider_wildcard(void **state)
{
    expect_match("Microsoft.Storage/*", SA_LIST_KEYS, true);
    expect_match("Microsoft.Storage/*", SA_READ, true);
    expect_match("Microsoft.Storage/*",
                 "Microsoft.Storage/storageAccounts/blobServices/containers/write", true);
    /* A provider whose name starts with "Microsoft.Storage" is another provider. */
    expect_match("Microsoft.Storage/*", "Microsoft.StorageSync/x", false);
    expect_match("Microsoft.Storage/*", "Microsoft.StorageSync/storageSyncServices/read", false);
    expect_match("Microsoft.Storage/*", "Microsoft.Compute/virtualMachines/read", false);
    expect_match("Microsoft.Storage/*", "Microsoft.Storage", false);
    expect_match("Microsoft.Storage/*", "Microsoft.Storage/", true);
    expect_match("Microsoft.Support/*", "Microsoft.Support/supportTickets/write", true);
}

static void test_action_mid_wildcard(void **state)
{
    expect_match("Microsoft.Authorization/*/Delete", RA_DELETE, true);
    expect_match("Microsoft.Authorization/*/Delete", "Microsoft.Authorization/locks/delete", true);
    /* '*' crosses '/', as Azure's wildcard does. */
    expect_match("Microsoft.Authorization/*/Delete",
                 "Microsoft.Authorization/policyAssignments/privateLinkAssociations/delete", true);
    expect_match("Microsoft.Authorization/*/Delete", RA_WRITE, false);
    expect_match("Microsoft.Authorization/*/Delete", RA_READ, false);
    expect_match("Microsoft.Authorization/*/Delete", "Microsoft.Resources/deployments/delete",
                 false);
    expect_match("Microsoft.Authorization/*/Delete",
                 "Microsoft.Authorization/roleAssignments/deleteAll", false);
    expect_match("Microsoft.Authorization/*/read", RA_READ, true);
}

static void test_action_multiple_stars(void **state)
{
    expect_match("Microsoft.*/*/read", "Microsoft.Compute/virtualMachines/read", true);
    expect_match("Microsoft.*/*/read", "Microsoft.Compute/virtualMachines/write", false);
    expect_match("Microsoft.*/*/read", "Contoso.Compute/virtualMachines/read", false);
    expect_match("Microsoft.MachineLearningServices/workspaces/*/read",
                 "Microsoft.MachineLearningServices/workspaces/computes/read", true);
    expect_match("**", "anything", true);
    expect_match("a**b", "ab", true);
    expect_match("a**b", "aXXb", true);
    expect_match("*a*", "bab", true);
    expect_match("*a*", "bbb", false);
    expect_match("*/*/*", "a/b/c", true);
    expect_match("*/*/*", "a/b", false);
}

static void test_action_pattern_longer(void **state)
{
    expect_match(SA_READ, "Microsoft.Storage/storageAccounts", false);
    expect_match("Microsoft.Storage/storageAccounts/*", "Microsoft.Storage/storageAccounts", false);
    expect_match("abc*", "ab", false);
    expect_match("abc", "ab", false);
    expect_match("a*b", "a", false);
    /* Trailing stars match nothing. */
    expect_match("ab*", "ab", true);
    expect_match("ab***", "ab", true);
}

static void test_action_empty(void **state)
{
    expect_match("", "", true);
    expect_match("*", "", true);
    expect_match("", RG_READ, false);
    expect_match(RG_READ, "", false);
    expect_match("a", "", false);
    expect_match("*a", "", false);
}

static void test_action_backtracking(void **state)
{
    /* The first 'b' is the wrong one to stop at; a matcher without backtracking fails these. */
    expect_match("a*b*c", "aXbYbZc", true);
    expect_match("a*b*c", "abc", true);
    expect_match("a*b*c", "aXbYbZ", false);
    expect_match("a*b*c", "aXcYc", false);
    expect_match("*ab", "aab", true);
    expect_match("*abc", "ababc", true);
    expect_match("*abc", "ababd", false);
    expect_match("a*a*a", "aaa", true);
    expect_match("a*a*a", "aa", false);
    expect_match("*/read", "a/read/read", true);
    expect_match("*/read", "a/read/reads", false);
    expect_match("Microsoft.Authorization/*/Delete", "Microsoft.Authorization/delete/Delete/delete",
                 true);
}

/* ---- rbac_scope_covers --------------------------------------------------------------------- */

static void expect_covers(const char *assignment_scope, const char *scope, bool want)
{
    if (rbac_scope_covers(assignment_scope, scope) != want)
        fail_msg("rbac_scope_covers(\"%s\", \"%s\"): expected %s", assignment_scope, scope,
                 want ? "true" : "false");
}

static void test_scope_root(void **state)
{
    static const char *const scopes[] = {
        "/",
        SUB,
        RG,
        ACCOUNT,
        SECRET,
        "/subscriptions/other",
        "/providers/Microsoft.Management/managementGroups/mg1",
    };
    for (size_t i = 0; i < ARRAY_SIZE(scopes); i++)
        expect_covers("/", scopes[i], true);
}

static void test_scope_descendants(void **state)
{
    expect_covers(SUB, SUB, true);
    expect_covers(SUB, RG, true);
    expect_covers(SUB, RG_OTHER, true);
    expect_covers(SUB, ACCOUNT, true);
    expect_covers(SUB, VAULT, true);
    /* A child resource behind a nested provider segment. */
    expect_covers(SUB, SECRET, true);
    expect_covers(SUB, SUB "/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv/secrets/s1",
                  true);
    expect_covers(RG, SECRET, true);
    expect_covers(VAULT, SECRET, true);
    expect_covers(SECRET, SECRET, true);
}

static void test_scope_not_covered(void **state)
{
    expect_covers("/subscriptions/S", "/subscriptions/S2", false);
    expect_covers("/subscriptions/abc", "/subscriptions/abcd", false);
    expect_covers("/subscriptions/abc", "/subscriptions/abcd/resourceGroups/rg", false);
    expect_covers("/subscriptions/abcd", "/subscriptions/abc", false);
    expect_covers(SUB, "/subscriptions/00000000-0000-0000-0000-000000000000", false);
    expect_covers(RG, RG_PREFIXED, false);
    expect_covers(RG, RG_PREFIXED "/providers/Microsoft.Storage/storageAccounts/sa", false);
    expect_covers(RG, RG_OTHER, false);
    /* An assignment never covers its ancestors. */
    expect_covers(RG, SUB, false);
    expect_covers(SUB, "/", false);
    expect_covers(SECRET, VAULT, false);
    expect_covers(VAULT, RG, false);
}

static void test_scope_case_insensitive(void **state)
{
    expect_covers("/subscriptions/S/resourceGroups/rg", "/SUBSCRIPTIONS/s/RESOURCEGROUPS/RG", true);
    expect_covers("/Subscriptions/ABC", "/subscriptions/abc/resourcegroups/x", true);
    expect_covers("/SUBSCRIPTIONS/ABC", "/subscriptions/abcd", false);
}

static void test_scope_trailing_slashes(void **state)
{
    expect_covers(SUB "/", SUB, true);
    expect_covers(SUB, SUB "/", true);
    expect_covers(SUB "//", SUB "/", true);
    expect_covers(SUB "/", RG, true);
    expect_covers(SUB "/", RG "/", true);
    expect_covers(RG "/", SUB, false);
    expect_covers(RG "/", SUB "/", false);
    expect_covers("/subscriptions/abc/", "/subscriptions/abcd", false);
}

/* ---- rbac_permissions_grant ---------------------------------------------------------------- */

static void expect_grant(const char *role, const char *perms, enum rbac_kind kind,
                         const char *action, bool want)
{
    if (rbac_permissions_grant(perms, kind, action) != want)
        fail_msg("%s %s %s: expected %s", role, kind == RBAC_ACTION ? "action" : "data action",
                 action, want ? "granted" : "not granted");
}

static void test_grant_contributor(void **state)
{
    expect_grant("Contributor", CONTRIBUTOR_PERMS, RBAC_ACTION, RG_WRITE, true);
    expect_grant("Contributor", CONTRIBUTOR_PERMS, RBAC_ACTION, RG_READ, true);
    expect_grant("Contributor", CONTRIBUTOR_PERMS, RBAC_ACTION, SA_LIST_KEYS, true);
    expect_grant("Contributor", CONTRIBUTOR_PERMS, RBAC_ACTION, RA_READ, true);
    expect_grant("Contributor", CONTRIBUTOR_PERMS, RBAC_ACTION, RA_WRITE, false);
    expect_grant("Contributor", CONTRIBUTOR_PERMS, RBAC_ACTION, RA_DELETE, false);
    expect_grant("Contributor", CONTRIBUTOR_PERMS, RBAC_ACTION,
                 "Microsoft.Authorization/locks/write", false);
    expect_grant("Contributor", CONTRIBUTOR_PERMS, RBAC_ACTION,
                 "Microsoft.Authorization/elevateAccess/action", false);
}

static void test_grant_user_access_administrator(void **state)
{
    expect_grant("UAA", UAA_PERMS, RBAC_ACTION, RA_WRITE, true);
    expect_grant("UAA", UAA_PERMS, RBAC_ACTION, RA_DELETE, true);
    expect_grant("UAA", UAA_PERMS, RBAC_ACTION, RG_READ, true);
    expect_grant("UAA", UAA_PERMS, RBAC_ACTION, "Microsoft.Support/supportTickets/write", true);
    expect_grant("UAA", UAA_PERMS, RBAC_ACTION, RG_WRITE, false);
    expect_grant("UAA", UAA_PERMS, RBAC_ACTION, SA_WRITE, false);
    expect_grant("UAA", UAA_PERMS, RBAC_ACTION, SA_LIST_KEYS, false);
}

static void test_grant_reader(void **state)
{
    expect_grant("Reader", READER_PERMS, RBAC_ACTION, RG_READ, true);
    expect_grant("Reader", READER_PERMS, RBAC_ACTION, SA_READ, true);
    expect_grant("Reader", READER_PERMS, RBAC_ACTION, RA_READ, true);
    expect_grant("Reader", READER_PERMS, RBAC_ACTION, RG_WRITE, false);
    expect_grant("Reader", READER_PERMS, RBAC_ACTION, SA_WRITE, false);
    /* Reading keys is an action, not a read: Readers cannot list storage keys. */
    expect_grant("Reader", READER_PERMS, RBAC_ACTION, SA_LIST_KEYS, false);
    expect_grant("Reader", READER_PERMS, RBAC_ACTION, RA_WRITE, false);
}

static void test_grant_owner(void **state)
{
    expect_grant("Owner", OWNER_PERMS, RBAC_ACTION, RG_WRITE, true);
    expect_grant("Owner", OWNER_PERMS, RBAC_ACTION, RA_WRITE, true);
    expect_grant("Owner", OWNER_PERMS, RBAC_ACTION, SA_LIST_KEYS, true);
}

static void test_grant_actions_and_data_actions_apart(void **state)
{
    /* Owner's "*" is a management-plane wildcard: it reaches no data action. */
    expect_grant("Owner", OWNER_PERMS, RBAC_DATA_ACTION, GET_SECRET, false);
    expect_grant("Contributor", CONTRIBUTOR_PERMS, RBAC_DATA_ACTION, GET_SECRET, false);
    expect_grant("Reader", READER_PERMS, RBAC_DATA_ACTION,
                 "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read", false);

    /* And dataActions grant no action, even one spelt like a data action. */
    expect_grant("KV Secrets User", KV_SECRETS_USER_PERMS, RBAC_DATA_ACTION, GET_SECRET, true);
    expect_grant("KV Secrets User", KV_SECRETS_USER_PERMS, RBAC_DATA_ACTION,
                 "Microsoft.KeyVault/vaults/secrets/readMetadata/action", true);
    expect_grant("KV Secrets User", KV_SECRETS_USER_PERMS, RBAC_DATA_ACTION,
                 "microsoft.keyvault/vaults/secrets/GETSECRET/action", true);
    expect_grant("KV Secrets User", KV_SECRETS_USER_PERMS, RBAC_DATA_ACTION, SET_SECRET, false);
    expect_grant("KV Secrets User", KV_SECRETS_USER_PERMS, RBAC_ACTION, GET_SECRET, false);
    expect_grant("KV Secrets User", KV_SECRETS_USER_PERMS, RBAC_ACTION, KV_READ, false);

    /* notActions take nothing from dataActions, nor notDataActions from actions. */
    static const char cross[] = "{\"actions\":[\"*\"],\"notActions\":[\"Microsoft.KeyVault/*\"],"
                                "\"dataActions\":[\"*\"],"
                                "\"notDataActions\":[\"Microsoft.Storage/*\"]}";
    expect_grant("cross", cross, RBAC_DATA_ACTION, GET_SECRET, true);
    expect_grant("cross", cross, RBAC_ACTION, KV_READ, false);
    expect_grant("cross", cross, RBAC_ACTION, SA_READ, true);
    expect_grant("cross", cross, RBAC_DATA_ACTION,
                 "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read", false);
}

static void test_grant_not_data_actions(void **state)
{
    const char *role = "Fleet RBAC Admin";
    expect_grant(role, FLEET_ADMIN_PERMS, RBAC_DATA_ACTION,
                 "Microsoft.ContainerService/fleets/members/pods/read", true);
    expect_grant(role, FLEET_ADMIN_PERMS, RBAC_DATA_ACTION,
                 "Microsoft.ContainerService/fleets/members/namespaces/read", true);
    expect_grant(role, FLEET_ADMIN_PERMS, RBAC_DATA_ACTION,
                 "Microsoft.ContainerService/fleets/members/namespaces/write", false);
    expect_grant(role, FLEET_ADMIN_PERMS, RBAC_DATA_ACTION,
                 "Microsoft.ContainerService/fleets/members/NAMESPACES/Delete", false);
    expect_grant(role, FLEET_ADMIN_PERMS, RBAC_DATA_ACTION,
                 "Microsoft.ContainerService/fleets/members/resourcequotas/write", false);
    expect_grant(role, FLEET_ADMIN_PERMS, RBAC_ACTION, SUB_READ, true);
    expect_grant(role, FLEET_ADMIN_PERMS, RBAC_ACTION,
                 "Microsoft.ContainerService/fleets/members/pods/read", false);
}

static void test_grant_missing_members(void **state)
{
    /* Absent lists are empty lists. */
    expect_grant("actions only", "{\"actions\":[\"*/read\"]}", RBAC_ACTION, RG_READ, true);
    expect_grant("actions only", "{\"actions\":[\"*/read\"]}", RBAC_DATA_ACTION, RG_READ, false);
    expect_grant("empty block", "{}", RBAC_ACTION, RG_READ, false);
    expect_grant("notActions only", "{\"notActions\":[\"x\"]}", RBAC_ACTION, RG_READ, false);
    /* Entries that are not strings are ignored. */
    expect_grant("non-strings", "{\"actions\":[1,null,{},[\"*\"]]}", RBAC_ACTION, RG_READ, false);
}

static void test_grant_malformed(void **state)
{
    static const char *const bad[] = {
        "",
        "{",
        "not json",
        "{\"actions\":[\"*\"]",
        "{\"actions\":[\"*\"],}x",
        "{actions:[\"*\"]}",
        /* Well-formed JSON but not a permission block. */
        "[\"*\"]",
        "[{\"actions\":[\"*\"]}]",
        "\"*\"",
        "null",
        "{\"actions\":\"*\"}",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        expect_grant(bad[i], bad[i], RBAC_ACTION, RG_READ, false);
        expect_grant(bad[i], bad[i], RBAC_DATA_ACTION, GET_SECRET, false);
    }
}

/* ---- rbac_check against a store ------------------------------------------------------------ */

struct fixture {
    char dir[64];
    char path[128];
    struct store *s; /* closed by the teardown, so a failed assertion does not leak it */
    struct rbac_decision d;
};

static void exec_sql(struct store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void exec_sql(struct store *s, const char *fmt, ...)
{
    struct buf sql = {0};
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&sql, fmt, ap);
    va_end(ap);
    int rc = store_exec(s, sql.data);
    if (rc != 0) {
        char copy[1024];
        snprintf(copy, sizeof(copy), "%s", sql.data);
        buf_free(&sql);
        fail_msg("store_exec returned %d for: %s", rc, copy);
    }
    buf_free(&sql);
}

static void add_role(struct fixture *f, const char *id, const char *name, const char *block)
{
    exec_sql(f->s,
             "INSERT INTO role_definitions(id, role_name, description, role_type, "
             "assignable_scopes, permissions) VALUES('%s', '%s', '', 'BuiltInRole', '[\"/\"]', "
             "'[%s]')",
             id, name, block);
}

static void assign(struct fixture *f, const char *id, const char *scope, const char *role_id,
                   const char *principal)
{
    exec_sql(f->s,
             "INSERT INTO role_assignments(id, scope, role_definition_id, principal_id, "
             "principal_type, created_at) VALUES('%s', '%s', '%s', '%s', 'User', 1700000000000)",
             id, scope, role_id, principal);
}

static int remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char p[512];
            snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    return rmdir(dir);
}

/* A fresh file store: empty, no schema. */
static int setup_empty(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/azsim-test-rbac-XXXXXX");
    if (!mkdtemp(f->dir)) {
        perror("mkdtemp");
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/azsim.db", f->dir);
    struct store_location loc = {.path = f->path};
    if (store_open(&loc, &f->s) != 0) {
        remove_dir(f->dir);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(f->s);
    remove_dir(f->dir);
    free(f);
    return 0;
}

/* azsim's schema, a tenant and the built-in roles above; no assignments. */
static int setup(void **state)
{
    if (setup_empty(state) != 0)
        return -1;
    struct fixture *f = *state;
    if (store_migrate(f->s, store_schema, store_schema_len) != 0) {
        teardown(state); /* cmocka skips the teardown when the setup fails */
        return -1;
    }
    exec_sql(f->s, "INSERT INTO tenants(id, domain, display_name, created_at) VALUES("
                   "'72f988bf-86f1-41af-91ab-2d7cd011db47', 'contoso.onmicrosoft.com', "
                   "'Contoso', 1700000000000)");
    add_role(f, OWNER_ID, "Owner", OWNER_PERMS);
    add_role(f, CONTRIBUTOR_ID, "Contributor", CONTRIBUTOR_PERMS);
    add_role(f, READER_ID, "Reader", READER_PERMS);
    add_role(f, UAA_ID, "User Access Administrator", UAA_PERMS);
    add_role(f, KV_SECRETS_USER_ID, "Key Vault Secrets User", KV_SECRETS_USER_PERMS);
    return 0;
}

static const struct rbac_decision *check(struct fixture *f, const char *principal,
                                         enum rbac_kind kind, const char *action, const char *scope)
{
    memset(&f->d, 0xa5, sizeof(f->d)); /* rbac_check must fill every field */
    int rc = rbac_check(f->s, principal, kind, action, scope, &f->d);
    if (rc != 0)
        fail_msg("rbac_check(%s, %s, %s) returned %d", principal, action, scope, rc);
    return &f->d;
}

static void expect_allowed(struct fixture *f, const char *principal, enum rbac_kind kind,
                           const char *action, const char *scope, const char *assignment_id,
                           const char *role_name, const char *assignment_scope)
{
    const struct rbac_decision *d = check(f, principal, kind, action, scope);
    if (!d->allowed)
        fail_msg("%s %s at %s: expected allowed by %s, got: %s", principal, action, scope,
                 assignment_id, d->explanation);
    assert_string_equal(d->assignment_id, assignment_id);
    assert_string_equal(d->role_name, role_name);
    assert_string_equal(d->assignment_scope, assignment_scope);
    /* The explanation names the grant. */
    assert_non_null(strstr(d->explanation, assignment_id));
    assert_non_null(strstr(d->explanation, role_name));
    assert_non_null(strstr(d->explanation, assignment_scope));
}

static void expect_denied(struct fixture *f, const char *principal, enum rbac_kind kind,
                          const char *action, const char *scope)
{
    const struct rbac_decision *d = check(f, principal, kind, action, scope);
    if (d->allowed)
        fail_msg("%s %s at %s: expected denied, got: %s", principal, action, scope, d->explanation);
    assert_string_equal(d->assignment_id, "");
    assert_string_equal(d->role_name, "");
    assert_string_equal(d->assignment_scope, "");
    /* The explanation says who, where and what, for the 403 message. */
    if (!strstr(d->explanation, principal) || !strstr(d->explanation, scope) ||
        !strstr(d->explanation, action))
        fail_msg("denial does not name principal, scope and action: %s", d->explanation);
}

#define A_SUB_READER "0a000000-0000-4000-8000-000000000001"
#define A_RG_CONTRIB "0a000000-0000-4000-8000-000000000002"
#define A_SUB_OWNER "0a000000-0000-4000-8000-000000000003"
#define A_ACCOUNT_READER "0a000000-0000-4000-8000-000000000004"
#define A_ROOT_UAA "0a000000-0000-4000-8000-000000000005"
#define A_SUB_UAA "0a000000-0000-4000-8000-000000000006"
#define A_VAULT_SECRETS "0a000000-0000-4000-8000-000000000007"
#define A_BOB_OWNER "0a000000-0000-4000-8000-000000000008"

static void test_check_no_assignment(void **state)
{
    struct fixture *f = *state;
    expect_denied(f, ALICE, RBAC_ACTION, RG_READ, RG);
    expect_denied(f, ALICE, RBAC_ACTION, SA_WRITE, ACCOUNT);
    expect_denied(f, ALICE, RBAC_DATA_ACTION, GET_SECRET, SECRET);
    assert_non_null(strstr(f->d.explanation, "data action"));

    /* Someone else's Owner assignment changes nothing for Alice. */
    assign(f, A_BOB_OWNER, SUB, OWNER_ID, BOB);
    expect_denied(f, ALICE, RBAC_ACTION, RG_READ, RG);
    expect_allowed(f, BOB, RBAC_ACTION, RG_READ, RG, A_BOB_OWNER, "Owner", SUB);
}

static void test_check_subscription_assignment(void **state)
{
    struct fixture *f = *state;
    assign(f, A_SUB_READER, SUB, READER_ID, ALICE);
    expect_allowed(f, ALICE, RBAC_ACTION, SA_READ, ACCOUNT, A_SUB_READER, "Reader", SUB);
    expect_allowed(f, ALICE, RBAC_ACTION, RG_READ, RG, A_SUB_READER, "Reader", SUB);
    expect_allowed(f, ALICE, RBAC_ACTION, SUB_READ, SUB, A_SUB_READER, "Reader", SUB);
    expect_allowed(f, ALICE, RBAC_ACTION, KV_READ, SECRET, A_SUB_READER, "Reader", SUB);
    /* Reader reads, nothing more. */
    expect_denied(f, ALICE, RBAC_ACTION, SA_WRITE, ACCOUNT);
    expect_denied(f, ALICE, RBAC_ACTION, SA_LIST_KEYS, ACCOUNT);
    /* Nor outside its subscription, or at the root above it. */
    expect_denied(f, ALICE, RBAC_ACTION, SUB_READ, "/subscriptions/" SUB_ID "0");
    expect_denied(f, ALICE, RBAC_ACTION, SUB_READ, "/subscriptions/other");
    expect_denied(f, ALICE, RBAC_ACTION, "Microsoft.Resources/tenants/read", "/");
}

static void test_check_resource_group_assignment(void **state)
{
    struct fixture *f = *state;
    assign(f, A_RG_CONTRIB, RG, CONTRIBUTOR_ID, ALICE);
    expect_allowed(f, ALICE, RBAC_ACTION, RG_WRITE, RG, A_RG_CONTRIB, "Contributor", RG);
    expect_allowed(f, ALICE, RBAC_ACTION, SA_WRITE, ACCOUNT, A_RG_CONTRIB, "Contributor", RG);
    expect_allowed(f, ALICE, RBAC_ACTION, SA_LIST_KEYS, ACCOUNT, A_RG_CONTRIB, "Contributor", RG);
    /* Case and trailing slashes of the asked scope do not matter. */
    expect_allowed(f, ALICE, RBAC_ACTION, SA_READ,
                   "/SUBSCRIPTIONS/" SUB_ID "/RESOURCEGROUPS/RG-APP/providers/"
                   "Microsoft.Storage/storageAccounts/stapp/",
                   A_RG_CONTRIB, "Contributor", RG);

    expect_denied(f, ALICE, RBAC_ACTION, SUB_READ, SUB);
    expect_denied(f, ALICE, RBAC_ACTION, RG_READ, RG_OTHER);
    expect_denied(f, ALICE, RBAC_ACTION, RG_READ, RG_PREFIXED);
    expect_denied(f, ALICE, RBAC_ACTION, SA_READ,
                  RG_OTHER "/providers/Microsoft.Storage/storageAccounts/stdata");
}

static void test_check_narrowest_named(void **state)
{
    struct fixture *f = *state;
    /* Broadest first, so an unordered scan would name the wrong one. */
    assign(f, A_ROOT_UAA, "/", UAA_ID, ALICE);
    assign(f, A_SUB_OWNER, SUB, OWNER_ID, ALICE);
    assign(f, A_RG_CONTRIB, RG, CONTRIBUTOR_ID, ALICE);
    assign(f, A_ACCOUNT_READER, ACCOUNT, READER_ID, ALICE);

    expect_allowed(f, ALICE, RBAC_ACTION, SA_READ, ACCOUNT, A_ACCOUNT_READER, "Reader", ACCOUNT);
    /* The narrowest that grants: the account's Reader does not write. */
    expect_allowed(f, ALICE, RBAC_ACTION, SA_WRITE, ACCOUNT, A_RG_CONTRIB, "Contributor", RG);
    expect_allowed(f, ALICE, RBAC_ACTION, RA_WRITE, ACCOUNT, A_SUB_OWNER, "Owner", SUB);
    /* The account's assignment does not cover its resource group. */
    expect_allowed(f, ALICE, RBAC_ACTION, RG_READ, RG, A_RG_CONTRIB, "Contributor", RG);
    expect_allowed(f, ALICE, RBAC_ACTION, SUB_READ, SUB, A_SUB_OWNER, "Owner", SUB);
    /* Elsewhere only the root assignment applies. */
    expect_allowed(f, ALICE, RBAC_ACTION, SUB_READ, "/subscriptions/other", A_ROOT_UAA,
                   "User Access Administrator", "/");
}

static void test_check_not_actions_skip_role(void **state)
{
    struct fixture *f = *state;
    /* The narrower Contributor assignment covers the scope but its notActions exclude role
     * assignments; the broader UAA assignment grants them. */
    assign(f, A_SUB_UAA, SUB, UAA_ID, ALICE);
    assign(f, A_RG_CONTRIB, RG, CONTRIBUTOR_ID, ALICE);
    expect_allowed(f, ALICE, RBAC_ACTION, RA_WRITE, ACCOUNT, A_SUB_UAA, "User Access Administrator",
                   SUB);
    expect_allowed(f, ALICE, RBAC_ACTION, RA_DELETE, RG, A_SUB_UAA, "User Access Administrator",
                   SUB);
    expect_allowed(f, ALICE, RBAC_ACTION, SA_WRITE, ACCOUNT, A_RG_CONTRIB, "Contributor", RG);
    expect_allowed(f, ALICE, RBAC_ACTION, RA_READ, ACCOUNT, A_RG_CONTRIB, "Contributor", RG);

    /* Contributor alone does not do it. */
    assign(f, "0a000000-0000-4000-8000-000000000009", RG, CONTRIBUTOR_ID, BOB);
    expect_denied(f, BOB, RBAC_ACTION, RA_WRITE, ACCOUNT);
}

static void test_check_sees_assignment_changes(void **state)
{
    struct fixture *f = *state;
    expect_denied(f, ALICE, RBAC_ACTION, SA_WRITE, ACCOUNT);
    assign(f, A_SUB_OWNER, SUB, OWNER_ID, ALICE);
    expect_allowed(f, ALICE, RBAC_ACTION, SA_WRITE, ACCOUNT, A_SUB_OWNER, "Owner", SUB);
    exec_sql(f->s, "DELETE FROM role_assignments WHERE id = '%s'", A_SUB_OWNER);
    expect_denied(f, ALICE, RBAC_ACTION, SA_WRITE, ACCOUNT);

    /* A narrower grant removed falls back to the broader one still there. */
    assign(f, A_SUB_READER, SUB, READER_ID, ALICE);
    assign(f, A_ACCOUNT_READER, ACCOUNT, READER_ID, ALICE);
    expect_allowed(f, ALICE, RBAC_ACTION, SA_READ, ACCOUNT, A_ACCOUNT_READER, "Reader", ACCOUNT);
    exec_sql(f->s, "DELETE FROM role_assignments WHERE id = '%s'", A_ACCOUNT_READER);
    expect_allowed(f, ALICE, RBAC_ACTION, SA_READ, ACCOUNT, A_SUB_READER, "Reader", SUB);
}

static void test_check_principal_case_insensitive(void **state)
{
    struct fixture *f = *state;
    assign(f, A_SUB_READER, SUB, READER_ID, ALICE);
    expect_allowed(f, ALICE_UPPER, RBAC_ACTION, RG_READ, RG, A_SUB_READER, "Reader", SUB);
    expect_allowed(f, "A11ce5e0-7C1d-4F0e-9B55-0c4D2f1E6a01", RBAC_ACTION, RG_READ, RG,
                   A_SUB_READER, "Reader", SUB);
    /* The denial names the principal as asked. */
    expect_denied(f, ALICE_UPPER, RBAC_ACTION, RG_WRITE, RG);
}

static void test_check_data_actions(void **state)
{
    struct fixture *f = *state;
    assign(f, A_SUB_OWNER, SUB, OWNER_ID, ALICE);
    assign(f, A_VAULT_SECRETS, VAULT, KV_SECRETS_USER_ID, ALICE);

    expect_allowed(f, ALICE, RBAC_DATA_ACTION, GET_SECRET, SECRET, A_VAULT_SECRETS,
                   "Key Vault Secrets User", VAULT);
    expect_allowed(f, ALICE, RBAC_DATA_ACTION, GET_SECRET, VAULT, A_VAULT_SECRETS,
                   "Key Vault Secrets User", VAULT);
    /* Owner's "*" does not reach the data plane. */
    expect_denied(f, ALICE, RBAC_DATA_ACTION, SET_SECRET, SECRET);
    expect_denied(f, ALICE, RBAC_DATA_ACTION, GET_SECRET,
                  RG "/providers/Microsoft.KeyVault/vaults/kv-other/secrets/s");
    /* Management actions come from Owner even at the vault where Secrets User is narrower. */
    expect_allowed(f, ALICE, RBAC_ACTION, KV_READ, VAULT, A_SUB_OWNER, "Owner", SUB);

    /* Secrets User alone grants no management action, even one spelt like its data action. */
    assign(f, "0a000000-0000-4000-8000-00000000000a", VAULT, KV_SECRETS_USER_ID, BOB);
    expect_denied(f, BOB, RBAC_ACTION, KV_READ, VAULT);
    expect_denied(f, BOB, RBAC_ACTION, GET_SECRET, VAULT);
}

static void test_check_without_schema(void **state)
{
    struct fixture *f = *state;
    memset(&f->d, 0xa5, sizeof(f->d));
    assert_int_equal(rbac_check(f->s, ALICE, RBAC_ACTION, RG_READ, RG, &f->d), AZ_ESTORE);
    assert_false(f->d.allowed);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    /* test_check_without_schema fails on purpose; the store's error line would only be noise. */
    log_configure(LOG_LEVEL_OFF, LOG_FORMAT_TEXT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_action_exact),
        cmocka_unit_test(test_action_case_insensitive),
        cmocka_unit_test(test_action_star_alone),
        cmocka_unit_test(test_action_star_read),
        cmocka_unit_test(test_action_provider_wildcard),
        cmocka_unit_test(test_action_wildcard_segment_may_be_empty),
        cmocka_unit_test(test_action_mid_wildcard),
        cmocka_unit_test(test_action_multiple_stars),
        cmocka_unit_test(test_action_pattern_longer),
        cmocka_unit_test(test_action_empty),
        cmocka_unit_test(test_action_backtracking),
        cmocka_unit_test(test_scope_root),
        cmocka_unit_test(test_scope_descendants),
        cmocka_unit_test(test_scope_not_covered),
        cmocka_unit_test(test_scope_case_insensitive),
        cmocka_unit_test(test_scope_trailing_slashes),
        cmocka_unit_test(test_grant_contributor),
        cmocka_unit_test(test_grant_user_access_administrator),
        cmocka_unit_test(test_grant_reader),
        cmocka_unit_test(test_grant_owner),
        cmocka_unit_test(test_grant_actions_and_data_actions_apart),
        cmocka_unit_test(test_grant_not_data_actions),
        cmocka_unit_test(test_grant_missing_members),
        cmocka_unit_test(test_grant_malformed),
        T(test_check_no_assignment),
        T(test_check_subscription_assignment),
        T(test_check_resource_group_assignment),
        T(test_check_narrowest_named),
        T(test_check_not_actions_skip_role),
        T(test_check_sees_assignment_changes),
        T(test_check_principal_case_insensitive),
        T(test_check_data_actions),
        cmocka_unit_test_setup_teardown(test_check_without_schema, setup_empty, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
