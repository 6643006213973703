/*
 * rbac.c — see rbac.h.
 */
#include "rbac.h"

#include "error.h"
#include "json.h"
#include "mem.h"
#include "store.h"
#include "util.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Iterative glob with one backtrack point: '*' matches any run of characters, '/' included, as
 * Azure's wildcards do: "* /read" (without the space) matches every read. */
static bool glob_matches(const char *pattern, const char *action)
{
    const char *star = NULL, *resume = NULL;
    while (*action) {
        if (*pattern == '*') {
            star = pattern++;
            resume = action;
        } else if (*pattern &&
                   tolower((unsigned char)*pattern) == tolower((unsigned char)*action)) {
            pattern++;
            action++;
        } else if (star) {
            pattern = star + 1;
            action = ++resume;
        } else {
            return false;
        }
    }
    while (*pattern == '*')
        pattern++;
    return *pattern == '\0';
}

bool rbac_action_matches(const char *pattern, const char *action)
{
    if (glob_matches(pattern, action))
        return true;
    /* A wildcard segment followed by literal segments may also stand for no segment at all:
     * Managed Identity Operator's "…/userAssignedIdentities/ * /assign/action" (without the
     * spaces) grants the action ARM checks, "…/userAssignedIdentities/assign/action". */
    for (const char *seg = strstr(pattern, "/*/"); seg; seg = strstr(seg + 1, "/*/")) {
        char shorter[512];
        if (strchr(seg + 3, '*'))
            continue;
        if (strlen(pattern) >= sizeof(shorter))
            return false;
        snprintf(shorter, sizeof(shorter), "%.*s%s", (int)(seg - pattern), pattern, seg + 2);
        if (rbac_action_matches(shorter, action))
            return true;
    }
    return false;
}

/* Length of `s` without trailing slashes. */
static size_t trimmed_len(const char *s)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/')
        n--;
    return n;
}

bool rbac_scope_covers(const char *assignment_scope, const char *scope)
{
    size_t a = trimmed_len(assignment_scope), n = trimmed_len(scope);
    if (a == 0)
        return true; /* "/": the root covers everything */
    if (a > n || strncasecmp(assignment_scope, scope, a) != 0)
        return false;
    return a == n || scope[a] == '/';
}

static bool any_matches(const struct json *list, const char *action)
{
    for (size_t i = 0; i < json_len(list); i++) {
        const char *p = json_string(json_at(list, i));
        if (p && rbac_action_matches(p, action))
            return true;
    }
    return false;
}

/* A notAction takes away only what its own block's actions granted, as in Azure. */
static bool block_grants(const struct json *block, enum rbac_kind kind, const char *action)
{
    const char *allow = kind == RBAC_ACTION ? "actions" : "dataActions";
    const char *deny = kind == RBAC_ACTION ? "notActions" : "notDataActions";
    return any_matches(json_get(block, allow), action) &&
           !any_matches(json_get(block, deny), action);
}

bool rbac_permissions_grant(const char *permissions_json, enum rbac_kind kind, const char *action)
{
    struct json *perm;
    if (json_parse(permissions_json, strlen(permissions_json), &perm, NULL, 0) != 0)
        return false;
    bool granted = block_grants(perm, kind, action);
    json_free(perm);
    return granted;
}

/* ---- parsed permissions, per thread --------------------------------------------------------
 * A decision used to parse the permission blocks of every role it looked at; when the store
 * changes between requests (ARM's PUTs), so the decision cannot be remembered, that parsing was
 * most of its cost. Each thread keeps the roles it met last, parsed, keyed by the text itself: a
 * changed role has a different text, so nothing here can go stale. */

#define PARSED_ROLES 32

struct parsed_role {
    char *text;
    struct json *blocks;
};

static pthread_key_t parsed_key;
static pthread_once_t parsed_once = PTHREAD_ONCE_INIT;

static void parsed_free(void *p)
{
    struct parsed_role *roles = p;
    for (size_t i = 0; i < PARSED_ROLES; i++) {
        free(roles[i].text);
        json_free(roles[i].blocks);
    }
    free(roles);
}

static void parsed_init(void)
{
    pthread_key_create(&parsed_key, parsed_free);
}

/* `permissions` (a JSON array of blocks), parsed; valid until this thread's next call. */
static const struct json *parsed_permissions(const char *permissions)
{
    pthread_once(&parsed_once, parsed_init);
    struct parsed_role *roles = pthread_getspecific(parsed_key);
    if (!roles) {
        roles = xcalloc(PARSED_ROLES, sizeof(*roles));
        pthread_setspecific(parsed_key, roles);
    }
    struct parsed_role *slot = &roles[hash_bytes(permissions, strlen(permissions)) % PARSED_ROLES];
    if (slot->text && strcmp(slot->text, permissions) == 0)
        return slot->blocks;
    struct json *blocks;
    if (json_parse(permissions, strlen(permissions), &blocks, NULL, 0) != 0)
        return NULL;
    free(slot->text);
    json_free(slot->blocks);
    slot->text = xstrdup(permissions);
    slot->blocks = blocks;
    return blocks;
}

/* One role's permission blocks (a JSON array): does any of them grant the action? */
static bool role_grants(const char *permissions, enum rbac_kind kind, const char *action)
{
    const struct json *blocks = parsed_permissions(permissions);
    bool granted = false;
    for (size_t i = 0; i < json_len(blocks) && !granted; i++)
        granted = block_grants(json_at(blocks, i), kind, action);
    return granted;
}

/* The scopes that cover `scope`, as a JSON array: "/" and every prefix of it that ends at a
 * segment ("/subscriptions/s", "/subscriptions/s/resourceGroups", …, `scope` itself). */
static char *covering_scopes(const char *scope)
{
    struct json_writer *w = json_writer_new();
    jw_array_open(w);
    jw_string(w, "/");
    size_t n = trimmed_len(scope);
    for (size_t i = 1; i <= n; i++) {
        if (i == n || scope[i] == '/') {
            char *prefix = xstrndup(scope, i);
            jw_string(w, prefix);
            free(prefix);
        }
    }
    jw_array_close(w);
    char *text = xstrdup(json_writer_text(w, NULL));
    json_writer_free(w);
    return text;
}

/* The decision from the store; rbac_check remembers it while the store is unchanged. */
static int decide(struct store *s, const char *principal_id, enum rbac_kind kind,
                  const char *action, const char *scope, struct rbac_decision *out)
{
    struct store_stmt *st;
    /* The principal's assignments at the scope or above it, found by index however many the
     * principal has elsewhere. Narrowest scope first, so the explanation names the closest
     * grant. */
    if (store_prepare(s,
                      "SELECT a.id, a.scope, d.role_name, d.permissions "
                      "FROM role_assignments a JOIN role_definitions d "
                      "  ON d.id = a.role_definition_id "
                      "WHERE a.principal_id = lower(?1) AND "
                      "  a.scope IN (SELECT value FROM json_each(?2)) "
                      "ORDER BY length(a.scope) DESC",
                      &st) != 0)
        return AZ_ESTORE;
    char *scopes = covering_scopes(scope);
    store_bind_text(st, 1, principal_id);
    store_bind_text(st, 2, scopes);
    free(scopes);
    int rc;
    while ((rc = store_step(st)) == 1) {
        const char *assignment_scope = store_column_text(st, 1);
        if (!rbac_scope_covers(assignment_scope, scope) ||
            !role_grants(store_column_text(st, 3), kind, action))
            continue;
        out->allowed = true;
        snprintf(out->assignment_id, sizeof(out->assignment_id), "%s", store_column_text(st, 0));
        snprintf(out->role_name, sizeof(out->role_name), "%s", store_column_text(st, 2));
        snprintf(out->assignment_scope, sizeof(out->assignment_scope), "%s", assignment_scope);
        snprintf(out->explanation, sizeof(out->explanation),
                 "allowed by role assignment %s: role '%s' at scope '%s'", out->assignment_id,
                 out->role_name, assignment_scope);
        break;
    }
    store_finalize(st);
    if (rc < 0)
        return AZ_ESTORE;
    if (!out->allowed)
        snprintf(out->explanation, sizeof(out->explanation),
                 "denied: no role assignment of principal %s at scope '%s' or above grants %s "
                 "'%s'",
                 principal_id, scope, kind == RBAC_ACTION ? "action" : "data action", action);
    return 0;
}

int rbac_check(struct store *s, const char *principal_id, enum rbac_kind kind, const char *action,
               const char *scope, struct rbac_decision *out)
{
    memset(out, 0, sizeof(*out));
    /* The same question is asked on every request of a busy client; while no assignment, role
     * or anything else changed, the answer is the same, and a revocation empties the memo. */
    char *key = xasprintf("rbac\x1f%s\x1f%d\x1f%s\x1f%s", principal_id, (int)kind, action, scope);
    size_t len;
    const void *memo = store_memo_get(s, key, &len);
    int rc = 0;
    if (memo && len == sizeof(*out)) {
        memcpy(out, memo, sizeof(*out));
    } else {
        rc = decide(s, principal_id, kind, action, scope, out);
        if (rc == 0)
            store_memo_put(s, key, out, sizeof(*out));
    }
    free(key);
    return rc;
}
