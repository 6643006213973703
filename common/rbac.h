/*
 * rbac.h — Azure role-based access control: the one checker every module asks.
 *
 * A principal may perform an action at a scope when a role assignment for it, at that scope or
 * any ancestor, names a role whose permissions match the action (actions / dataActions, with '*'
 * wildcards, case-insensitive) and no notActions / notDataActions of the same permission block
 * take it away. Nothing is allowed by default. Every decision carries an explanation for the
 * 403 message and the audit log.
 *
 * The matchers are pure functions, unit-tested directly; rbac_check reads assignments and role
 * definitions from the store, so a change to assignments applies to the next request.
 */
#ifndef AZSIM_RBAC_H
#define AZSIM_RBAC_H

#include <stdbool.h>
#include <stddef.h>

struct store;

/* True when `pattern` matches `action`, ignoring case; '*' in a pattern matches any run of
 * characters ('/' included), so both "*" and a provider-wide pattern such as
 * "Microsoft.Storage/storageAccounts/<star>" work. */
bool rbac_action_matches(const char *pattern, const char *action);
/*
 * True when an assignment at `assignment_scope` applies at `scope`: the same scope or an
 * ancestor ("/" is every scope's ancestor), compared by whole path segments, ignoring case and
 * trailing slashes.
 */
bool rbac_scope_covers(const char *assignment_scope, const char *scope);

enum rbac_kind { RBAC_ACTION, RBAC_DATA_ACTION };

/*
 * Does one permission block ({"actions","notActions","dataActions","notDataActions"}, as JSON
 * text) grant `action`? Returns false on malformed JSON.
 */
bool rbac_permissions_grant(const char *permissions_json, enum rbac_kind kind, const char *action);

struct rbac_decision {
    bool allowed;
    char assignment_id[96]; /* the assignment that granted it */
    char role_name[160];
    char assignment_scope[512];
    char explanation[1024]; /* one sentence, for the audit log */
};

/* Decide whether `principal_id` may perform `action` at `scope`. Returns 0 (with the decision)
 * or AZ_ESTORE. */
int rbac_check(struct store *s, const char *principal_id, enum rbac_kind kind, const char *action,
               const char *scope, struct rbac_decision *out);

#endif
