/*
 * arm/template.h — ARM's template language: the expressions inside template strings
 * ("[concat('vm-', parameters('name'))]") and the functions templates use, evaluated over parsed
 * JSON values.
 *
 * Nothing here knows about HTTP or the store: the deployment engine (arm/deployments.c) says
 * where the deployment runs and answers reference() through `struct template_env`, so the
 * language can be tested and fuzzed on its own.
 */
#ifndef AZSIM_ARM_TEMPLATE_H
#define AZSIM_ARM_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;
struct json;

/* One enclosing copy loop: copyIndex() reads the innermost, copyIndex('name') a named one. */
struct template_loop {
    const char *name;
    int64_t index;
    const struct template_loop *outer;
};

struct template_env {
    struct arena *arena; /* every value made lives here */
    const char *subscription_id;
    const char *resource_group; /* its name; NULL for a subscription-scope deployment */
    /* What resourceGroup(), subscription() and deployment() answer (objects). */
    const struct json *resource_group_object;
    const struct json *subscription_object;
    const struct json *deployment_object;
    const struct json *template;   /* variables and outputs are read from it */
    const struct json *parameters; /* the resolved parameter values, by name */
    const struct template_loop *loop;
    /* reference(): the resource `id` (a full ARM id) as Resource Manager answers it at
     * `api_version` (NULL when the template gave none), or NULL after setting env->error. */
    const struct json *(*reference)(struct template_env *env, const char *id,
                                    const char *api_version);
    /* reference('name'): the id of the template's resource called `name`, or NULL. */
    const char *(*resource_named)(struct template_env *env, const char *name);
    void *ctx; /* the engine's own */

    char error[768]; /* why evaluation failed: the first error wins */
    /* Internal: variables being evaluated (cycle detection) and evaluated (cache). */
    const struct json *variable_values;
    const char *evaluating[16];
    size_t nevaluating;
    int depth;
};

/* Every expression in `v` evaluated (a string "[…]" is an expression, "[[…" the literal "[…"),
 * recursively through objects and arrays, including property "copy" loops. A new value in
 * env->arena, or NULL with env->error set. */
const struct json *template_eval(struct template_env *env, const struct json *v);

/* One template string: an expression when it is "[…]", else the string itself. */
const struct json *template_eval_string(struct template_env *env, const char *text);

/* Does every expression in `v` parse, and call functions that exist with a number of arguments
 * they take? Nothing is evaluated: how Resource Manager refuses a template before deploying
 * anything. False with env->error set. */
bool template_check(struct template_env *env, const struct json *v);

/* Is `text` an expression ("[…]" but not "[[…")? */
bool template_is_expression(const char *text);

/* The value of variable `name`, evaluated once. */
const struct json *template_variable(struct template_env *env, const char *name);

/* Values made in env->arena. */
const struct json *template_string_value(struct template_env *env, const char *s);
const struct json *template_int_value(struct template_env *env, int64_t n);

/* The ARM id of resource `type` ("Microsoft.Network/virtualNetworks/subnets") named `names`
 * ("vnet", "default"), in resource group `rg` of `sub` (NULL rg: at the subscription), or NULL
 * with env->error set when the names do not fit the type. Also the id rule of resourceId(). */
const char *template_resource_id(struct template_env *env, const char *sub, const char *rg,
                                 const char *type, const char *const *names, size_t nnames);

/* uniqueString() and guid() as Azure computes them: the arguments joined with '-', hashed
 * (13 base32 characters of a MurmurHash64 variant; a version 5 UUID in ARM's namespace). */
void template_unique_string(const char *joined, char out[14]);
void template_guid(const char *joined, char out[37]);

#endif
