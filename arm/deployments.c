/*
 * arm/deployments.c — Microsoft.Resources/deployments: ARM templates deployed at a resource
 * group or a subscription.
 *
 * A deployment is prepared (parameters checked against their declarations, copy loops expanded,
 * names and dependsOn evaluated, the resources put in dependency order), then run: each
 * resource's body is evaluated just before it is sent — so reference() sees what the resources
 * before it became — and sent to Resource Manager in process as a PUT with the caller's own
 * token, through the same authentication, RBAC and validation as a direct call. The first
 * failure stops the run (DeploymentFailed, with the resource's own error as a detail). The
 * deployment, its operations and outputs are kept until their group is deleted.
 *
 * Everything runs before the PUT is answered. The answer still carries Azure-AsyncOperation, as
 * Azure's does, so SDKs take their usual path and read a failure's error from the status.
 * Secure parameters are never stored or echoed; the request body is not kept.
 *
 * Not emulated: Complete mode, templateLink/parametersLink (azsim fetches nothing from other
 * hosts), nested deployments, user-defined functions, what-if.
 */
#include "arm/arm.h"
#include "arm/template.h"

#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/store.h"
#include "common/util.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_RESOURCES 800 /* ARM's limit per template, copies included */
#define ARM_HOST "https://management.azure.com"

/* One resource of the template as deployed: a copy loop makes one per index. */
struct instance {
    const struct json *def; /* the template's resource object */
    const char *type, *name, *api_version, *id;
    const char *type_name; /* "type/name", as dependsOn may spell it */
    const char *copy_name; /* the copy loop it belongs to, or NULL */
    int64_t copy_index;
    const char *parent;            /* a resource nested in another's "resources": the parent's id */
    bool enabled;                  /* its condition held */
    const struct json *depends_on; /* evaluated dependsOn: an array of strings */
    size_t *after;                 /* indexes of the instances it waits for */
    size_t nafter;
    bool placed; /* ordering */
    int status;  /* the PUT's answer, 0 before */
};

struct deployment {
    struct http_request *req;
    struct template_env env;
    const char *scope; /* "/subscriptions/{s}" or ".../resourceGroups/{g}" */
    const char *id, *name, *location;
    const struct json *body, *template, *supplied;
    struct instance *res;
    size_t nres;
    size_t *order;
    struct json_writer *operations; /* an open array */
    const struct json *outputs;
    const struct json *failed_error; /* a failed run: why (a resource's error, or the outputs') */
    char correlation_id[37];
    int64_t started_ms;
};

/* ---- calling Resource Manager in process ---------------------------------------------------- */

/* `path` (or a query value) fit for a request target: characters that would end it or change
 * its meaning ('?', '#', '%', '&', spaces, bytes outside ASCII) percent-encoded, so a name from
 * a template can only ever name a resource. */
static const char *escape_path(struct arena *a, const char *path)
{
    struct buf b = {0};
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if (*p <= ' ' || *p >= 0x7f || strchr("?#%&+\"<>\\^`{|}", *p))
            buf_printf(&b, "%%%02X", *p);
        else
            buf_putc(&b, (char)*p);
    }
    char *out = arena_strndup(a, b.data ? b.data : "", b.len);
    buf_free(&b);
    return out;
}

/* `method` `path`?api-version=`api` with `body`, as the caller: the answer's status and body
 * (NULL when not JSON). */
static int call_arm(struct deployment *d, enum http_method method, const char *path,
                    const char *api, const char *body, const struct json **answer)
{
    struct http_request *outer = d->req;
    struct http_request req;
    const char *url = arena_printf(outer->arena, ARM_HOST "%s?api-version=%s",
                                   escape_path(outer->arena, path), escape_path(outer->arena, api));
    http_request_init(&req, outer->arena, outer->module, method, url);
    req.store = outer->store;
    req.verifier = outer->verifier;
    req.module_state = outer->module_state;
    req.server = outer->server;
    req.tls = outer->tls;
    req.peer = outer->peer;
    http_headers_add(outer->arena, &req.headers, "Host", req.host);
    const char *authorization = http_header(outer, "Authorization");
    if (authorization)
        http_headers_add(outer->arena, &req.headers, "Authorization", authorization);
    http_headers_add(outer->arena, &req.headers, "x-ms-correlation-request-id", d->correlation_id);
    if (body) {
        req.body = body;
        req.body_len = strlen(body);
        http_headers_add(outer->arena, &req.headers, "Content-Type", "application/json");
        http_headers_add(outer->arena, &req.headers, "Content-Length",
                         arena_printf(outer->arena, "%zu", req.body_len));
    }
    http_dispatch(&req);
    int status = req.deferred ? 500 : req.status; /* no ARM operation waits on another service */
    *answer = json_parse_in(outer->arena, req.resp_body.data ? req.resp_body.data : "",
                            req.resp_body.len);
    http_request_release(&req);
    return status;
}

static const char *error_message(const struct json *answer)
{
    const char *m = json_string(json_get(json_get(answer, "error"), "message"));
    return m ? m : "no error message";
}

/* ---- the template environment --------------------------------------------------------------- */

static const struct json *reference(struct template_env *env, const char *id, const char *api)
{
    struct deployment *d = env->ctx;
    for (size_t i = 0; !api && i < d->nres; i++)
        if (str_ieq(d->res[i].id, id))
            api = d->res[i].api_version;
    const struct json *answer;
    int status = call_arm(d, HTTP_GET, id, api ? api : "2022-09-01", NULL, &answer);
    if (status == 200 && json_type(answer) == JSON_OBJECT)
        return answer;
    snprintf(env->error, sizeof(env->error),
             "The template function 'reference' could not read the resource '%s': %d %s", id,
             status, error_message(answer));
    return NULL;
}

static const char *resource_named(struct template_env *env, const char *name)
{
    struct deployment *d = env->ctx;
    for (size_t i = 0; i < d->nres; i++)
        if (str_ieq(d->res[i].name, name) || str_ieq(d->res[i].type_name, name))
            return d->res[i].id;
    return NULL;
}

/* ---- preparing ------------------------------------------------------------------------------ */

static int invalid(struct deployment *d, const char *message)
{
    return http_fail(d->req, 400, "InvalidTemplate", "Deployment template validation failed: '%s'.",
                     message);
}

static const char *declared_type(const struct json *decl)
{
    return json_string(json_iget(decl, "type"));
}

static bool is_secure(const struct json *decl)
{
    const char *t = declared_type(decl);
    return t && (str_ieq(t, "securestring") || str_ieq(t, "secureobject"));
}

/* The types parameters and outputs declare: the JSON type each takes, and ARM's name for it. */
static const struct {
    const char *declared;
    enum json_type json;
    const char *name;
} value_types[] = {
    {"string", JSON_STRING, "String"}, {"securestring", JSON_STRING, "String"},
    {"int", JSON_NUMBER, "Integer"},   {"bool", JSON_BOOL, "Boolean"},
    {"object", JSON_OBJECT, "Object"}, {"secureobject", JSON_OBJECT, "Object"},
    {"array", JSON_ARRAY, "Array"},
};

/* Does `v` have the declared type? *want: ARM's name for that type, NULL when it is no type. */
static bool type_fits(const char *declared, const struct json *v, const char **want)
{
    for (size_t i = 0; i < ARRAY_SIZE(value_types); i++) {
        if (str_ieq(declared, value_types[i].declared)) {
            int64_t n;
            *want = value_types[i].name;
            return value_types[i].json == JSON_NUMBER ? json_int(v, &n)
                                                      : json_type(v) == value_types[i].json;
        }
    }
    *want = NULL;
    return false;
}

static const char *value_type(const struct json *v)
{
    static const char *const names[] = {"Null",   "Null",  "Boolean", "Integer",
                                        "String", "Array", "Object"};
    return names[json_type(v)];
}

/* A declared parameter's constraints: allowedValues, minValue/maxValue, minLength/maxLength. */
static int check_constraints(struct deployment *d, const char *name, const struct json *decl,
                             const struct json *v)
{
    const struct json *allowed = json_iget(decl, "allowedValues");
    if (allowed) {
        bool found = false;
        for (size_t i = 0; i < json_len(allowed) && !found; i++)
            found = json_equal(json_at(allowed, i), v);
        if (!found)
            return invalid(d, arena_printf(d->req->arena,
                                           "The provided value for the template parameter '%s' "
                                           "is not valid. The parameter value is not part of the "
                                           "allowed value(s).",
                                           name));
    }
    int64_t n, limit;
    if (json_int(v, &n)) {
        if (json_int(json_iget(decl, "minValue"), &limit) && n < limit)
            return invalid(d, arena_printf(d->req->arena,
                                           "The provided value '%lld' for the template parameter "
                                           "'%s' is less than the minimum value '%lld'.",
                                           (long long)n, name, (long long)limit));
        if (json_int(json_iget(decl, "maxValue"), &limit) && n > limit)
            return invalid(d, arena_printf(d->req->arena,
                                           "The provided value '%lld' for the template parameter "
                                           "'%s' is more than the maximum value '%lld'.",
                                           (long long)n, name, (long long)limit));
    }
    size_t len = json_string(v) ? strlen(json_string(v)) : json_len(v);
    if (json_int(json_iget(decl, "minLength"), &limit) && (int64_t)len < limit)
        return invalid(d, arena_printf(d->req->arena,
                                       "The provided value for the template parameter '%s' is "
                                       "shorter than the minimum length '%lld'.",
                                       name, (long long)limit));
    if (json_int(json_iget(decl, "maxLength"), &limit) && (int64_t)len > limit)
        return invalid(d, arena_printf(d->req->arena,
                                       "The provided value for the template parameter '%s' is "
                                       "longer than the maximum length '%lld'.",
                                       name, (long long)limit));
    return 0;
}

/* Resolve every declared parameter from the supplied values and the defaults, in declaration
 * order (a default may use the parameters before it). */
static int resolve_parameters(struct deployment *d)
{
    struct arena *a = d->req->arena;
    const struct json *decls = json_get(d->template, "parameters");
    if (decls && json_type(decls) != JSON_OBJECT)
        return invalid(d, "The template 'parameters' must be an object.");
    if (d->supplied && json_type(d->supplied) != JSON_OBJECT)
        return invalid(d, "The deployment 'parameters' must be an object.");
    for (size_t i = 0; i < json_len(d->supplied); i++) {
        const char *name = json_key_at(d->supplied, i);
        if (!json_iget(decls, name)) {
            struct buf known = {0};
            for (size_t k = 0; k < json_len(decls); k++)
                buf_printf(&known, "%s%s", k ? ", " : "", json_key_at(decls, k));
            const char *m = arena_printf(
                a,
                "The template parameters '%s' in the parameters file are not valid; they are not "
                "present in the original template and can therefore not be provided at "
                "deployment time. The only supported parameters for this template are '%s'. "
                "Please see https://aka.ms/arm-pass-parameter-values for usage details.",
                name, known.data ? known.data : "");
            buf_free(&known);
            return invalid(d, m);
        }
        const struct json *entry = json_at(d->supplied, i);
        if (json_iget(entry, "reference"))
            return invalid(d, arena_printf(a,
                                           "The parameter '%s' is a Key Vault reference: azsim "
                                           "takes parameter values only.",
                                           name));
        if (json_type(entry) != JSON_OBJECT || !json_get(entry, "value"))
            return invalid(
                d, arena_printf(a, "The parameter '%s' must be an object with a 'value'.", name));
    }
    d->env.parameters = json_parse_in(a, "{}", 2);
    for (size_t i = 0; i < json_len(decls); i++) {
        const char *name = json_key_at(decls, i);
        const struct json *decl = json_at(decls, i);
        const char *type = declared_type(decl);
        const char *want;
        if (!type || (!type_fits(type, NULL, &want) && !want))
            return invalid(d, arena_printf(a,
                                           "The template parameter '%s' has no valid type: use "
                                           "string, securestring, int, bool, object, "
                                           "secureObject or array.",
                                           name));
        const struct json *v = json_get(json_iget(d->supplied, name), "value");
        if (!v && json_iget(decl, "defaultValue")) {
            v = template_eval(&d->env, json_iget(decl, "defaultValue"));
            if (!v)
                return invalid(d, d->env.error);
        }
        if (!v)
            return invalid(d, arena_printf(a,
                                           "The value for the template parameter '%s' at line "
                                           "'1' and column '1' is not provided. Please see "
                                           "https://aka.ms/arm-create-parameter-file for usage "
                                           "details.",
                                           name));
        if (!type_fits(type, v, &want))
            return invalid(d, arena_printf(a,
                                           "Template parameter '%s' was provided an invalid "
                                           "value. Expected a value of type '%s', but received "
                                           "a value of type '%s'.",
                                           name, want, value_type(v)));
        if (check_constraints(d, name, decl, v) != 0)
            return AZ_EREPLIED;
        struct json_writer *w = json_writer_new();
        jw_object_open(w);
        for (size_t k = 0; k < json_len(d->env.parameters); k++) {
            jw_key(w, json_key_at(d->env.parameters, k));
            jw_value(w, json_at(d->env.parameters, k));
        }
        jw_key(w, name);
        jw_value(w, v);
        jw_object_close(w);
        d->env.parameters =
            json_parse_in(a, json_writer_text(w, NULL), strlen(json_writer_text(w, NULL)));
        json_writer_free(w);
    }
    return 0;
}

/* An evaluated string member of a resource definition ("name", "type"), or NULL after failing. */
static const char *eval_string(struct deployment *d, const struct json *def, const char *key,
                               bool required)
{
    const struct json *raw = json_iget(def, key);
    if (!raw) {
        if (required)
            invalid(d, arena_printf(d->req->arena,
                                    "The template resource is missing the required property "
                                    "'%s'.",
                                    key));
        return NULL;
    }
    const struct json *v = template_eval(&d->env, raw);
    if (!v || !json_string(v)) {
        invalid(d, v ? arena_printf(d->req->arena,
                                    "The template resource property '%s' must be "
                                    "a string.",
                                    key)
                     : d->env.error);
        return NULL;
    }
    return json_string(v);
}

/* The id of a resource of the template: ids of resources with a "scope" (extension resources)
 * live under it; a type "ns/t/providers/ns2/t2" with a name "n/ns2/n2" is the older spelling of
 * the same. */
static const char *instance_id(struct deployment *d, const char *type, const char *name,
                               const char *scope)
{
    struct template_env *env = &d->env;
    const char *names[32];
    size_t n = 0;
    char *copy = arena_strdup(d->req->arena, name);
    for (char *p = copy, *slash; p && n < ARRAY_SIZE(names); p = slash ? slash + 1 : NULL) {
        slash = strchr(p, '/');
        if (slash)
            *slash = '\0';
        names[n++] = p;
    }
    const char *ext = strstr(type, "/providers/");
    if (ext && !scope) {
        /* "Microsoft.Compute/virtualMachines/providers/roleAssignments" named
         * "vm/Microsoft.Authorization/guid": the base resource, then the extension. */
        const char *base_type = arena_strndup(d->req->arena, type, (size_t)(ext - type));
        size_t base_names = 0;
        for (const char *p = base_type; *p; p++)
            base_names += *p == '/';
        if (n != base_names + 2) {
            snprintf(env->error, sizeof(env->error),
                     "The resource name '%s' does not fit the type '%s': it needs a name for "
                     "each type segment and the extension's namespace.",
                     name, type);
            return NULL;
        }
        const char *base = template_resource_id(env, env->subscription_id, env->resource_group,
                                                base_type, names, base_names);
        const char *ext_type =
            arena_printf(d->req->arena, "%s/%s", names[base_names], strrchr(type, '/') + 1);
        const char *inner =
            base ? template_resource_id(env, "x", NULL, ext_type, names + base_names + 1, 1) : NULL;
        const char *provider = inner ? strstr(inner, "/providers/") : NULL;
        if (inner && !provider)
            snprintf(env->error, sizeof(env->error), "The extension type of '%s' is not valid.",
                     type);
        return provider ? arena_printf(d->req->arena, "%s%s", base, provider) : NULL;
    }
    const char *id = template_resource_id(env, env->subscription_id,
                                          scope ? NULL : env->resource_group, type, names, n);
    const char *provider = id ? strstr(id, "/providers/") : NULL;
    if (id && scope && !provider) {
        snprintf(env->error, sizeof(env->error),
                 "The resource type '%s' cannot be deployed at the scope '%s'.", type, scope);
        return NULL;
    }
    return scope && id ? arena_printf(d->req->arena, "%s%s", scope, provider) : id;
}

/* Add the instances of one template resource (every index of its copy loop) and of the
 * resources nested in it. */
static int expand(struct deployment *d, const struct json *def, const struct instance *parent)
{
    struct arena *a = d->req->arena;
    if (json_type(def) != JSON_OBJECT)
        return invalid(d, "Every template resource must be an object.");
    const struct json *copy = json_iget(def, "copy");
    int64_t count = 1;
    const char *copy_name = NULL;
    if (copy) {
        copy_name = json_string(json_iget(copy, "name"));
        const struct json *c = template_eval(&d->env, json_iget(copy, "count"));
        if (!copy_name || !c || !json_int(c, &count) || count < 0 || count > MAX_RESOURCES)
            return invalid(d, c || !copy_name ? "The copy loop needs a name and a count between "
                                                "0 and 800."
                                              : d->env.error);
    }
    for (int64_t k = 0; k < count; k++) {
        if (d->nres == MAX_RESOURCES)
            return invalid(d, "The template has more than 800 resources, copies included.");
        struct template_loop loop = {copy_name, k, NULL};
        d->env.loop = copy_name ? &loop : NULL;
        struct instance *r = &d->res[d->nres];
        memset(r, 0, sizeof(*r));
        r->def = def;
        r->copy_name = copy_name;
        r->copy_index = k;
        r->type = eval_string(d, def, "type", true);
        r->name = r->type ? eval_string(d, def, "name", true) : NULL;
        r->api_version = r->name ? eval_string(d, def, "apiVersion", true) : NULL;
        if (!r->api_version)
            return AZ_EREPLIED;
        if (parent) { /* nested: a short type and name under the parent's */
            r->type = arena_printf(a, "%s/%s", parent->type, r->type);
            r->name = arena_printf(a, "%s/%s", parent->name, r->name);
            r->parent = parent->id;
        }
        const char *scope = json_iget(def, "scope") ? eval_string(d, def, "scope", true) : NULL;
        if (json_iget(def, "scope") && !scope)
            return AZ_EREPLIED;
        r->enabled = true;
        if (json_iget(def, "condition")) {
            const struct json *c = template_eval(&d->env, json_iget(def, "condition"));
            if (!c || !json_bool(c, &r->enabled))
                return invalid(d, c ? "The resource condition must be a boolean." : d->env.error);
        }
        const struct json *deps = json_iget(def, "dependsOn");
        r->depends_on = deps ? template_eval(&d->env, deps) : json_parse_in(a, "[]", 2);
        if (!r->depends_on || json_type(r->depends_on) != JSON_ARRAY)
            return invalid(d, r->depends_on ? "'dependsOn' must be an array of resource names or "
                                              "ids."
                                            : d->env.error);
        if (!(r->id = instance_id(d, r->type, r->name, scope)))
            return invalid(d, d->env.error);
        r->type_name = arena_printf(a, "%s/%s", r->type, r->name);
        for (size_t i = 0; i < d->nres; i++)
            if (str_ieq(d->res[i].id, r->id))
                return invalid(d, arena_printf(a,
                                               "The resource '%s' is defined multiple times in "
                                               "the template.",
                                               r->id));
        d->nres++;
        d->env.loop = NULL;
        const struct json *children = json_iget(def, "resources");
        for (size_t i = 0; i < json_len(children); i++)
            if (expand(d, json_at(children, i), &d->res[d->nres - 1]) != 0)
                return AZ_EREPLIED;
    }
    return 0;
}

/* Does dependsOn entry `dep` name instance `r`? By id, "type/name", name, or copy loop name. */
static bool names_instance(const char *dep, const struct instance *r)
{
    return str_ieq(dep, r->id) || str_ieq(dep, r->name) || str_ieq(dep, r->type_name) ||
           (r->copy_name && str_ieq(dep, r->copy_name));
}

/* Each instance's dependencies as indexes (each once), then an order where every instance comes
 * after them, template order among the ready ones (Kahn's algorithm: at most 800 instances). */
static int order(struct deployment *d)
{
    struct arena *a = d->req->arena;
    size_t n = d->nres;
    bool *seen = arena_alloc(a, n + 1);
    size_t *remaining = arena_alloc(a, (n + 1) * sizeof(*remaining));
    size_t *ndependents = arena_alloc(a, (n + 1) * sizeof(*ndependents));
    for (size_t i = 0; i < n; i++) {
        struct instance *r = &d->res[i];
        r->after = arena_alloc(a, (n + 1) * sizeof(*r->after));
        memset(seen, 0, n);
        seen[i] = true; /* never after itself */
        for (size_t k = 0; k <= json_len(r->depends_on); k++) {
            /* The dependsOn entries, then the parent of a nested resource. */
            const char *dep =
                k < json_len(r->depends_on) ? json_string(json_at(r->depends_on, k)) : r->parent;
            if (k < json_len(r->depends_on) && !dep)
                return invalid(d, "'dependsOn' must be an array of resource names or ids.");
            if (!dep)
                continue;
            bool found = false;
            for (size_t j = 0; j < n; j++) {
                if (j == i || !names_instance(dep, &d->res[j]))
                    continue;
                found = true;
                if (!seen[j]) {
                    seen[j] = true;
                    r->after[r->nafter++] = j;
                    ndependents[j]++;
                }
            }
            if (!found)
                return invalid(d, arena_printf(a,
                                               "The resource '%s' is not defined in the "
                                               "template.",
                                               dep));
        }
        remaining[i] = r->nafter;
    }
    size_t **dependents = arena_alloc(a, (n + 1) * sizeof(*dependents));
    for (size_t j = 0; j < n; j++) {
        dependents[j] = arena_alloc(a, (ndependents[j] + 1) * sizeof(**dependents));
        ndependents[j] = 0;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < d->res[i].nafter; k++) {
            size_t j = d->res[i].after[k];
            dependents[j][ndependents[j]++] = i;
        }
    d->order = arena_alloc(a, (n + 1) * sizeof(*d->order));
    for (size_t placed = 0; placed < n; placed++) {
        size_t next = n;
        for (size_t i = 0; i < n && next == n; i++)
            if (!d->res[i].placed && remaining[i] == 0)
                next = i;
        if (next == n) {
            for (size_t i = 0; i < n; i++)
                if (!d->res[i].placed)
                    return invalid(d, arena_printf(a,
                                                   "Circular dependency detected on resource: "
                                                   "'%s'. Please see https://aka.ms/arm-"
                                                   "template/#resources for usage details.",
                                                   d->res[i].id));
        }
        d->res[next].placed = true;
        d->order[placed] = next;
        for (size_t k = 0; k < ndependents[next]; k++)
            remaining[dependents[next][k]]--;
    }
    return 0;
}

/* What resourceGroup() and subscription() answer: the group as ARM answers it, and the
 * subscription's id, tenant and name. Read from the store: deploying needs no read rights on
 * either, as in Azure. */
static int load_scope_objects(struct deployment *d, const char *sub, const char *group)
{
    struct http_request *req = d->req;
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT tenant_id, display_name FROM subscriptions WHERE id = lower(?1)",
                      &st) != 0)
        return http_fail(req, 500, "InternalServerError", "The store could not be read.");
    store_bind_text(st, 1, sub);
    struct json_writer *w = json_writer_new();
    int rc = store_step(st);
    if (rc == 1) {
        jw_object_open(w);
        jw_kv_string(w, "id", arena_printf(req->arena, "/subscriptions/%s", sub));
        jw_kv_string(w, "subscriptionId", sub);
        jw_kv_string(w, "tenantId", store_column_text(st, 0));
        jw_kv_string(w, "displayName", store_column_text(st, 1));
        jw_object_close(w);
    }
    store_finalize(st);
    if (rc == 1 && group) {
        d->env.subscription_object =
            json_parse_in(req->arena, json_writer_text(w, NULL), strlen(json_writer_text(w, NULL)));
        json_writer_free(w);
        w = json_writer_new();
        rc = arm_resource_group_write(req, w) == 0 ? 1 : -1;
        d->env.resource_group_object =
            json_parse_in(req->arena, json_writer_text(w, NULL), strlen(json_writer_text(w, NULL)));
        d->location = json_string(json_get(d->env.resource_group_object, "location"));
    } else if (rc == 1) {
        d->env.subscription_object =
            json_parse_in(req->arena, json_writer_text(w, NULL), strlen(json_writer_text(w, NULL)));
    }
    json_writer_free(w);
    return rc == 1 ? 0 : http_fail(req, 500, "InternalServerError", "The store could not be read.");
}

static int prepare(struct deployment *d, struct http_request *req)
{
    struct arena *a = req->arena;
    memset(d, 0, sizeof(*d));
    d->req = req;
    d->started_ms = clock_now_ms();
    uuid_v4(d->correlation_id);
    const char *sub = http_param(req, "subscriptionId");
    const char *group = http_param(req, "resourceGroupName");
    d->name = http_param(req, "deploymentName");
    d->scope = group ? arena_printf(a, "/subscriptions/%s/resourceGroups/%s", sub, group)
                     : arena_printf(a, "/subscriptions/%s", sub);
    d->id = arena_printf(a, "%s/providers/Microsoft.Resources/deployments/%s", d->scope, d->name);
    if (strlen(d->name) > 64 || !arm_name_network(d->name))
        return http_fail(req, 400, "InvalidDeploymentName",
                         "The deployment name '%.80s' is invalid. It can contain only "
                         "alphanumeric characters, '.', '_', '-' and '(' ')', and must be 1 to 64 "
                         "characters long.",
                         d->name);
    /* Templates are JSONC (az sends even the request so: `{"properties": {…}, template: {…}}`). */
    req->body = json_relax(a, req->body, req->body_len, &req->body_len);
    if (arm_require_subscription(req, sub) != 0 ||
        (group && arm_require_resource_group(req) != 0) || !(d->body = arm_body(req)))
        return AZ_EREPLIED;
    const struct json *props = json_get(d->body, "properties");
    if (json_type(props) != JSON_OBJECT)
        return http_fail(req, 400, "InvalidRequestContent",
                         "The request content was invalid and could not be deserialized: "
                         "'Required property 'properties' not found in JSON.'.");
    if (json_iget(props, "templateLink") || json_iget(props, "parametersLink"))
        return http_fail(req, 400, "InvalidContentLink",
                         "azsim does not download templates or parameters: it never connects to "
                         "other hosts. Send them inline in 'template' and 'parameters'.");
    const char *mode = json_string(json_iget(props, "mode"));
    if (mode && !str_ieq(mode, "Incremental"))
        return http_fail(req, 400, "InvalidDeploymentMode",
                         "The deployment mode '%.40s' is not supported by azsim: it deploys in "
                         "'Incremental' mode only.",
                         mode);
    if (!group) {
        d->location = json_string(json_get(d->body, "location"));
        if (!d->location)
            return http_fail(req, 400, "LocationRequired",
                             "The location property is required for this definition.");
        if (!arm_location_known(d->location))
            return http_fail(req, 400, "LocationNotAvailableForDeployment",
                             "The provided location '%.40s' is not available for deployment. "
                             "List of available regions is '%s'.",
                             d->location, arm_location_names(req));
    }
    d->template = json_get(props, "template");
    d->supplied = json_get(props, "parameters");
    if (json_type(d->template) != JSON_OBJECT)
        return invalid(d, "The request has no template: 'properties.template' must be the "
                          "template object.");
    const struct json *resources = json_get(d->template, "resources");
    if (json_type(resources) != JSON_ARRAY)
        return invalid(d, json_type(resources) == JSON_OBJECT
                              ? "Template language version 2.0 (resources as an object) is not "
                                "supported by azsim."
                              : "The template must have a 'resources' array.");
    if (json_get(d->template, "functions"))
        return invalid(d, "User-defined template functions are not supported by azsim.");

    d->env.arena = a;
    d->env.subscription_id = sub;
    d->env.resource_group = group;
    d->env.template = d->template;
    d->env.reference = reference;
    d->env.resource_named = resource_named;
    d->env.ctx = d;
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_string(w, "name", d->name);
    jw_key(w, "properties");
    jw_object_open(w);
    jw_key(w, "template");
    jw_object_open(w);
    jw_kv_string(w, "contentVersion",
                 json_string(json_get(d->template, "contentVersion")) ?: "1.0.0.0");
    jw_object_close(w);
    jw_kv_string(w, "mode", "Incremental");
    jw_object_close(w);
    jw_object_close(w);
    d->env.deployment_object =
        json_parse_in(a, json_writer_text(w, NULL), strlen(json_writer_text(w, NULL)));
    json_writer_free(w);

    /* Every expression must parse, every function exist, before anything is evaluated. */
    if (!template_check(&d->env, d->template))
        return invalid(d, d->env.error);
    if (load_scope_objects(d, sub, group) != 0 || resolve_parameters(d) != 0)
        return AZ_EREPLIED;
    d->res = arena_alloc(a, (MAX_RESOURCES + 1) * sizeof(*d->res));
    for (size_t i = 0; i < json_len(resources); i++)
        if (expand(d, json_at(resources, i), NULL) != 0)
            return AZ_EREPLIED;
    return order(d);
}

/* ---- running -------------------------------------------------------------------------------- */

/* Template-only members, not part of the resource sent to its provider. */
static const char *const template_members[] = {
    "type", "apiVersion", "name",     "dependsOn", "condition",
    "copy", "resources",  "comments", "scope",     "metadata",
};

static bool template_member(const char *key)
{
    for (size_t i = 0; i < ARRAY_SIZE(template_members); i++)
        if (str_ieq(key, template_members[i]))
            return true;
    return false;
}

static void write_operation(struct deployment *d, const struct instance *r,
                            const struct json *error)
{
    struct json_writer *w = d->operations;
    char op_id[17], ts[40];
    char u[37];
    uuid_v4(u);
    snprintf(op_id, sizeof(op_id), "%.8s%.8s", u, u + 9);
    for (char *p = op_id; *p; p++)
        *p = (char)(*p >= 'a' && *p <= 'f' ? *p - 'a' + 'A' : *p);
    clock_format_iso8601(clock_now_ms(), ts, sizeof(ts));
    jw_object_open(w);
    jw_kv_string(w, "id", arena_printf(d->req->arena, "%s/operations/%s", d->id, op_id));
    jw_kv_string(w, "operationId", op_id);
    jw_key(w, "properties");
    jw_object_open(w);
    jw_kv_string(w, "provisioningOperation", "Create");
    jw_kv_string(w, "provisioningState", error ? "Failed" : "Succeeded");
    jw_kv_string(w, "timestamp", ts);
    jw_kv_string(w, "duration", "PT0S");
    jw_kv_string(w, "trackingId", d->correlation_id);
    jw_kv_string(w, "statusCode",
                 r->status == 201   ? "Created"
                 : r->status == 200 ? "OK"
                                    : http_reason(r->status));
    if (error) {
        jw_key(w, "statusMessage");
        jw_object_open(w);
        jw_key(w, "error");
        jw_value(w, error);
        jw_object_close(w);
    }
    jw_key(w, "targetResource");
    jw_object_open(w);
    jw_kv_string(w, "id", r->id);
    jw_kv_string(w, "resourceType", r->type);
    jw_kv_string(w, "resourceName", r->name);
    jw_object_close(w);
    jw_object_close(w);
    jw_object_close(w);
}

/* The role assignment of `az vm create --assign-identity --role --scope` names its scope in
 * properties.scope (api-version 2015-07-01's form); ARM creates it there. */
static const char *put_path(struct deployment *d, const struct instance *r, const struct json *body)
{
    const char *scope = json_string(json_get(json_get(body, "properties"), "scope"));
    if (scope && str_ieq(r->type, "Microsoft.Authorization/roleAssignments"))
        return arena_printf(d->req->arena,
                            "%s/providers/Microsoft.Authorization/roleAssignments/%s", scope,
                            r->name);
    return r->id;
}

/* Evaluate instance `r`'s body and PUT it: 0, or the deployment failed (d->failed_*). */
static int deploy_one(struct deployment *d, struct instance *r)
{
    struct template_loop loop = {r->copy_name, r->copy_index, NULL};
    d->env.loop = r->copy_name ? &loop : NULL;
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    bool ok = true;
    for (size_t i = 0; i < json_len(r->def) && ok; i++) {
        const char *key = json_key_at(r->def, i);
        if (template_member(key))
            continue;
        const struct json *v = template_eval(&d->env, json_at(r->def, i));
        if ((ok = v != NULL)) {
            jw_key(w, key);
            jw_value(w, v);
        }
    }
    jw_object_close(w);
    d->env.loop = NULL;
    const struct json *answer = NULL;
    if (ok) {
        const char *body = arena_strdup(d->req->arena, json_writer_text(w, NULL));
        const struct json *parsed = json_parse_in(d->req->arena, body, strlen(body));
        r->status = call_arm(d, HTTP_PUT, put_path(d, r, parsed), r->api_version, body, &answer);
    }
    json_writer_free(w);
    if (ok) /* the id and the status only: bodies may hold secure parameters */
        LOG_INFO("arm", "deployment %s: PUT %s %d", d->name, r->id, r->status);
    if (ok && r->status < 300) {
        write_operation(d, r, NULL);
        return 0;
    }
    /* The template could not be evaluated for it, or its provider refused it. */
    struct json_writer *e = json_writer_new();
    if (ok) {
        jw_value(e, json_get(answer, "error"));
    } else {
        r->status = 400;
        jw_object_open(e);
        jw_kv_string(e, "code", "InvalidTemplate");
        jw_kv_string(e, "message", d->env.error);
        jw_object_close(e);
    }
    d->failed_error =
        json_parse_in(d->req->arena, json_writer_text(e, NULL), strlen(json_writer_text(e, NULL)));
    json_writer_free(e);
    write_operation(d, r, d->failed_error);
    return AZ_EINVAL;
}

static const struct json *eval_outputs(struct deployment *d)
{
    const struct json *outs = json_get(d->template, "outputs");
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    bool ok = true;
    for (size_t i = 0; i < json_len(outs) && ok; i++) {
        const struct json *o = json_at(outs, i);
        const char *type = declared_type(o), *want;
        if (json_iget(o, "condition")) {
            const struct json *c = template_eval(&d->env, json_iget(o, "condition"));
            bool b = false;
            if (!(ok = c && json_bool(c, &b)))
                break;
            if (!b)
                continue;
        }
        const struct json *v =
            json_iget(o, "value") ? template_eval(&d->env, json_iget(o, "value")) : NULL;
        if (!(ok = v && type && type_fits(type, v, &want))) {
            if (v && !d->env.error[0])
                snprintf(d->env.error, sizeof(d->env.error),
                         "The template output '%s' is not valid: its value is of type '%s', not "
                         "the declared '%s'.",
                         json_key_at(outs, i), value_type(v), type ? type : "(none)");
            break;
        }
        jw_key(w, json_key_at(outs, i));
        jw_object_open(w);
        /* ARM answers the declared type with its first letter capitalized. */
        jw_kv_string(
            w, "type",
            arena_printf(d->req->arena, "%c%s", toupper((unsigned char)type[0]), type + 1));
        if (!is_secure(o)) {
            jw_key(w, "value");
            jw_value(w, v);
        }
        jw_object_close(w);
    }
    jw_object_close(w);
    const struct json *out = ok ? json_parse_in(d->req->arena, json_writer_text(w, NULL),
                                                strlen(json_writer_text(w, NULL)))
                                : NULL;
    json_writer_free(w);
    return out;
}

/* ---- answering ------------------------------------------------------------------------------ */

static const char *template_hash(struct deployment *d)
{
    struct json_writer *w = json_writer_new();
    jw_value(w, d->template);
    size_t len;
    const char *text = json_writer_text(w, &len);
    unsigned char md[EVP_MAX_MD_SIZE];
    EVP_Digest(text, len, md, NULL, EVP_sha256(), NULL);
    json_writer_free(w);
    uint64_t h = 0;
    for (int i = 0; i < 8; i++)
        h = h << 8 | md[i];
    return arena_printf(d->req->arena, "%llu", (unsigned long long)(h >> 1));
}

static void write_target(struct json_writer *w, const struct instance *r)
{
    jw_kv_string(w, "id", r->id);
    jw_kv_string(w, "resourceType", r->type);
    jw_kv_string(w, "resourceName", r->name);
}

/* Is instance `i` the first with its namespace (the first `ns` characters of its type), or with
 * its whole type when `whole`? */
static bool first_of(const struct deployment *d, size_t i, size_t ns, bool whole)
{
    const char *type = d->res[i].type;
    for (size_t k = 0; k < i; k++) {
        const char *other = d->res[k].type;
        if (whole ? str_ieq(other, type) : strncasecmp(other, type, ns + 1) == 0)
            return false;
    }
    return true;
}

/* The deployment as ARM answers it. `state`: its provisioningState. */
static void write_deployment(struct deployment *d, struct json_writer *w, const char *state,
                             bool validation)
{
    char ts[40];
    int64_t now = clock_now_ms();
    clock_format_iso8601(now, ts, sizeof(ts));
    jw_object_open(w);
    jw_kv_string(w, "id", d->id);
    jw_kv_string(w, "name", d->name);
    jw_kv_string(w, "type", "Microsoft.Resources/deployments");
    if (!d->env.resource_group)
        jw_kv_string(w, "location", d->location);
    jw_key(w, "tags");
    jw_object_open(w);
    jw_object_close(w);
    jw_key(w, "properties");
    jw_object_open(w);
    jw_kv_string(w, "templateHash", template_hash(d));
    jw_key(w, "parameters");
    jw_object_open(w);
    const struct json *decls = json_get(d->template, "parameters");
    for (size_t i = 0; i < json_len(decls); i++) {
        const struct json *decl = json_at(decls, i);
        const char *type = declared_type(decl);
        jw_key(w, json_key_at(decls, i));
        jw_object_open(w);
        jw_kv_string(
            w, "type",
            is_secure(decl)
                ? (str_ieq(type, "securestring") ? "SecureString" : "SecureObject")
                : arena_printf(d->req->arena, "%c%s", toupper((unsigned char)type[0]), type + 1));
        if (!is_secure(decl)) {
            jw_key(w, "value");
            jw_value(w, json_iget(d->env.parameters, json_key_at(decls, i)));
        }
        jw_object_close(w);
    }
    jw_object_close(w);
    jw_kv_string(w, "mode", "Incremental");
    jw_kv_string(w, "provisioningState", state);
    jw_kv_string(w, "timestamp", ts);
    jw_kv_string(w, "duration",
                 arena_printf(d->req->arena, "PT%.3fS", (double)(now - d->started_ms) / 1000.0));
    jw_kv_string(w, "correlationId", d->correlation_id);
    jw_key(w, "providers");
    jw_array_open(w);
    for (size_t i = 0; i < d->nres; i++) {
        /* One entry per namespace, listing each of its types once. */
        const char *type = d->res[i].type;
        size_t ns = (size_t)(strchr(type, '/') - type);
        if (first_of(d, i, ns, false)) {
            jw_object_open(w);
            jw_kv_string(w, "namespace", arena_strndup(d->req->arena, type, ns));
            jw_key(w, "resourceTypes");
            jw_array_open(w);
            for (size_t j = i; j < d->nres; j++) {
                if (strncasecmp(d->res[j].type, type, ns + 1) != 0 || !first_of(d, j, ns, true))
                    continue;
                jw_object_open(w);
                jw_kv_string(w, "resourceType", d->res[j].type + ns + 1);
                jw_key(w, "locations");
                jw_array_open(w);
                if (d->location)
                    jw_string(w, d->location);
                jw_array_close(w);
                jw_object_close(w);
            }
            jw_array_close(w);
            jw_object_close(w);
        }
    }
    jw_array_close(w);
    jw_key(w, "dependencies");
    jw_array_open(w);
    for (size_t i = 0; i < d->nres; i++) {
        const struct instance *r = &d->res[i];
        if (!r->nafter)
            continue;
        jw_object_open(w);
        jw_key(w, "dependsOn");
        jw_array_open(w);
        for (size_t k = 0; k < r->nafter; k++) {
            jw_object_open(w);
            write_target(w, &d->res[r->after[k]]);
            jw_object_close(w);
        }
        jw_array_close(w);
        write_target(w, r);
        jw_object_close(w);
    }
    jw_array_close(w);
    if (validation) {
        jw_key(w, "validatedResources");
        jw_array_open(w);
        for (size_t i = 0; i < d->nres; i++) {
            jw_object_open(w);
            jw_kv_string(w, "id", d->res[i].id);
            jw_object_close(w);
        }
        jw_array_close(w);
    } else {
        if (d->outputs) {
            jw_key(w, "outputs");
            jw_value(w, d->outputs);
        }
        jw_key(w, "outputResources");
        jw_array_open(w);
        for (size_t i = 0; i < d->nres; i++) { /* in the order they were deployed */
            const struct instance *r = &d->res[d->order[i]];
            if (r->status < 200 || r->status >= 300)
                continue;
            jw_object_open(w);
            jw_kv_string(w, "id", r->id);
            jw_object_close(w);
        }
        jw_array_close(w);
    }
    if (d->failed_error) {
        jw_key(w, "error");
        jw_object_open(w);
        jw_kv_string(w, "code", "DeploymentFailed");
        jw_kv_string(w, "message",
                     "At least one resource deployment operation failed. Please list deployment "
                     "operations for details. Please see https://aka.ms/arm-deployment-operations "
                     "for usage details.");
        jw_key(w, "details");
        jw_array_open(w);
        jw_value(w, d->failed_error);
        jw_array_close(w);
        jw_object_close(w);
    }
    jw_object_close(w);
    jw_object_close(w);
}

/* ---- the store ------------------------------------------------------------------------------ */

static int save(struct deployment *d, const char *body, const char *operations)
{
    struct json_writer *t = json_writer_new();
    jw_value(t, d->template);
    int rc = store_begin(d->req->store);
    if (rc == 0)
        rc = store_run(d->req->store,
                       "INSERT INTO deployments (id, scope, name, body, template, operations, "
                       "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(id) DO UPDATE "
                       "SET body = ?4, template = ?5, operations = ?6, created_at = ?7",
                       "ssssssi", d->id, d->scope, d->name, body, json_writer_text(t, NULL),
                       operations, clock_now_ms());
    rc = rc == 0 ? store_commit(d->req->store) : rc;
    if (rc != 0)
        store_rollback(d->req->store);
    json_writer_free(t);
    return rc;
}

/* The id of the deployment the request names (also under its operations). */
static const char *request_deployment_id(struct http_request *req)
{
    const char *sub = http_param(req, "subscriptionId");
    const char *group = http_param(req, "resourceGroupName");
    const char *name = http_param(req, "deploymentName");
    return group ? arena_printf(req->arena,
                                "/subscriptions/%s/resourceGroups/%s/providers/"
                                "Microsoft.Resources/deployments/%s",
                                sub, group, name)
                 : arena_printf(req->arena,
                                "/subscriptions/%s/providers/Microsoft.Resources/deployments/%s",
                                sub, name);
}

/* Column `column` of deployment `id`: 0, AZ_ENOTFOUND or AZ_ESTORE. */
static int lookup(struct http_request *req, const char *id, const char *column, const char **out)
{
    struct store_stmt *st;
    if (store_prepare(req->store,
                      arena_printf(req->arena,
                                   "SELECT %s FROM deployments WHERE id = ?1 COLLATE NOCASE",
                                   column),
                      &st) != 0)
        return AZ_ESTORE;
    store_bind_text(st, 1, id);
    int rc = store_step(st);
    if (rc == 1)
        *out = arena_strdup(req->arena, store_column_text(st, 0));
    store_finalize(st);
    return rc == 1 ? 0 : rc == 0 ? AZ_ENOTFOUND : AZ_ESTORE;
}

/* The same for the deployment the request names, failing the request when there is none. */
static int load_column(struct http_request *req, const char *column, const char **out)
{
    int rc = lookup(req, request_deployment_id(req), column, out);
    if (rc == AZ_ENOTFOUND)
        http_fail(req, 404, "DeploymentNotFound", "Deployment '%s' could not be found.",
                  http_param(req, "deploymentName"));
    else if (rc != 0)
        http_fail(req, 500, "InternalServerError", "The store could not be read.");
    return rc;
}

static int reply_text(struct http_request *req, int status, const char *json)
{
    return http_reply(req, status, "application/json; charset=utf-8", json, strlen(json));
}

/* ---- handlers ------------------------------------------------------------------------------- */

int arm_put_deployment(struct http_request *req)
{
    struct deployment d;
    if (prepare(&d, req) != 0)
        return 0;
    const char *existing;
    bool existed = lookup(req, d.id, "id", &existing) == 0;
    d.operations = json_writer_new();
    jw_array_open(d.operations);
    bool ok = true;
    for (size_t i = 0; i < d.nres && ok; i++) {
        struct instance *r = &d.res[d.order[i]];
        if (r->enabled)
            ok = deploy_one(&d, r) == 0;
    }
    if (ok && !(d.outputs = eval_outputs(&d))) {
        struct json_writer *e = json_writer_new();
        jw_object_open(e);
        jw_kv_string(e, "code", "DeploymentOutputEvaluationFailed");
        jw_kv_string(
            e, "message",
            arena_printf(req->arena, "Unable to evaluate template outputs: %s", d.env.error));
        jw_object_close(e);
        d.failed_error =
            json_parse_in(req->arena, json_writer_text(e, NULL), strlen(json_writer_text(e, NULL)));
        json_writer_free(e);
        ok = false;
    }
    jw_array_close(d.operations);
    const char *state = ok ? "Succeeded" : "Failed";
    LOG_INFO("arm", "deployment %s: %s (%zu resources)", d.id, state, d.nres);
    struct json_writer *w = json_writer_new();
    write_deployment(&d, w, state, false);
    const char *body = arena_strdup(req->arena, json_writer_text(w, NULL));
    json_writer_free(w);
    int rc = save(&d, body, json_writer_text(d.operations, NULL));
    json_writer_free(d.operations);
    if (rc != 0)
        return http_fail(req, 500, "InternalServerError", "The store could not be written.");
    /* Finished already; the status URL lets SDKs read the outcome as they do from Azure. */
    http_set_header(req, "Azure-AsyncOperation",
                    arena_printf(req->arena, "https://%s%s/operationStatuses/%s?api-version=%s",
                                 req->host, d.id, d.correlation_id,
                                 http_query(req, "api-version")));
    http_set_header(req, "x-ms-retry-after-ms", "10");
    return reply_text(req, existed ? 200 : 201, body);
}

int arm_validate_deployment(struct http_request *req)
{
    struct deployment d;
    if (prepare(&d, req) != 0)
        return 0;
    struct json_writer *w = json_writer_new();
    write_deployment(&d, w, "Succeeded", true);
    return arm_reply(req, 200, w);
}

int arm_get_deployment(struct http_request *req)
{
    const char *body;
    return load_column(req, "body", &body) == 0 ? reply_text(req, 200, body) : 0;
}

int arm_check_deployment(struct http_request *req)
{
    const char *id;
    int rc = lookup(req, request_deployment_id(req), "id", &id);
    if (rc != 0 && rc != AZ_ENOTFOUND)
        return http_fail(req, 500, "InternalServerError", "The store could not be read.");
    return http_reply(req, rc == 0 ? 204 : 404, NULL, NULL, 0);
}

int arm_delete_deployment(struct http_request *req)
{
    const char *id;
    int rc = lookup(req, request_deployment_id(req), "id", &id);
    if (rc == AZ_ENOTFOUND) /* nothing to delete */
        return http_reply(req, 204, NULL, NULL, 0);
    if (rc != 0)
        return http_fail(req, 500, "InternalServerError", "The store could not be read.");
    if (store_run(req->store, "DELETE FROM deployments WHERE id = ?1", "s", id) != 0)
        return http_fail(req, 500, "InternalServerError", "The store could not be written.");
    /* Only the record goes: deleting a deployment leaves the resources it made. */
    return http_reply(req, 204, NULL, NULL, 0);
}

int arm_list_deployments(struct http_request *req)
{
    const char *sub = http_param(req, "subscriptionId");
    const char *group = http_param(req, "resourceGroupName");
    if (arm_require_subscription(req, sub) != 0 || (group && arm_require_resource_group(req) != 0))
        return 0;
    const char *scope =
        group ? arena_printf(req->arena, "/subscriptions/%s/resourceGroups/%s", sub, group)
              : arena_printf(req->arena, "/subscriptions/%s", sub);
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT body FROM deployments WHERE scope = ?1 COLLATE NOCASE "
                      "ORDER BY created_at",
                      &st) != 0)
        return http_fail(req, 500, "InternalServerError", "The store could not be read.");
    store_bind_text(st, 1, scope);
    return arm_reply_stored_list(req, st);
}

int arm_list_deployment_operations(struct http_request *req)
{
    const char *ops;
    if (load_column(req, "operations", &ops) != 0)
        return 0;
    const struct json *list = json_parse_in(req->arena, ops, strlen(ops));
    const char *wanted = http_param(req, "operationId");
    struct json_writer *w = json_writer_new();
    if (!wanted) {
        jw_list_open(w);
        for (size_t i = 0; i < json_len(list); i++)
            jw_value(w, json_at(list, i));
        jw_list_close(w);
        return arm_reply(req, 200, w);
    }
    for (size_t i = 0; i < json_len(list); i++) {
        if (str_ieq(json_string(json_get(json_at(list, i), "operationId")), wanted)) {
            jw_value(w, json_at(list, i));
            return arm_reply(req, 200, w);
        }
    }
    json_writer_free(w);
    return http_fail(req, 404, "DeploymentOperationNotFound",
                     "The deployment operation '%s' could not be found.", wanted);
}

/* The Azure-AsyncOperation status of the deployment's last run. */
int arm_get_deployment_status(struct http_request *req)
{
    const char *text;
    if (load_column(req, "body", &text) != 0)
        return 0;
    const struct json *props =
        json_get(json_parse_in(req->arena, text, strlen(text)), "properties");
    if (!str_ieq(json_string(json_get(props, "correlationId")), http_param(req, "operationId")))
        return http_fail(req, 404, "OperationNotFound",
                         "The operation '%s' of deployment '%s' could not be found.",
                         http_param(req, "operationId"), http_param(req, "deploymentName"));
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_string(w, "status", json_string(json_get(props, "provisioningState")));
    if (json_get(props, "error")) {
        jw_key(w, "error");
        jw_value(w, json_get(props, "error"));
    }
    jw_object_close(w);
    return arm_reply(req, 200, w);
}

int arm_export_deployment_template(struct http_request *req)
{
    const char *tpl;
    if (load_column(req, "template", &tpl) != 0)
        return 0;
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_key(w, "template");
    jw_value(w, json_parse_in(req->arena, tpl, strlen(tpl)));
    jw_object_close(w);
    return arm_reply(req, 200, w);
}

int arm_cancel_deployment(struct http_request *req)
{
    const char *id;
    if (load_column(req, "id", &id) != 0)
        return 0;
    return http_fail(req, 409, "DeploymentCannotBeCancelled",
                     "The deployment '%s' cannot be cancelled because it has already finished.",
                     http_param(req, "deploymentName"));
}
