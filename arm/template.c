/*
 * arm/template.c — see template.h.
 *
 * An expression is parsed into a small tree first and evaluated second, so if() evaluates only
 * the branch it takes, as ARM's does. Values are parsed JSON living in the environment's arena:
 * a function builds its result with a json_writer and parses it back, which keeps one value
 * representation (the one the rest of azsim reads) at the cost of a copy per call.
 *
 * Messages follow ARM's where clients show them ("The template function 'x' is not valid.");
 * the deployment engine wraps them in InvalidTemplate or DeploymentFailed.
 */
#include "arm/template.h"

#include "common/json.h"
#include "common/mem.h"
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_DEPTH 64         /* nested calls, members and template levels */
#define MAX_ARGS 64          /* arguments of one function call */
#define MAX_COPY 800         /* ARM's limit on a copy loop's count */
#define MAX_STRING (1 << 20) /* a string a function builds (padLeft, concat) */

/* ---- values --------------------------------------------------------------------------------- */

static bool failed(struct template_env *env)
{
    return env->error[0] != '\0';
}

__attribute__((format(printf, 2, 3))) static const struct json *fail(struct template_env *env,
                                                                     const char *fmt, ...)
{
    if (!failed(env)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(env->error, sizeof(env->error), fmt, ap);
        va_end(ap);
    }
    return NULL;
}

/* The writer's document as a value; the writer is freed. */
static const struct json *made(struct template_env *env, struct json_writer *w)
{
    size_t len;
    const char *text = json_writer_text(w, &len);
    const struct json *v = json_parse_in(env->arena, text, len);
    json_writer_free(w);
    return v ? v : fail(env, "A template function produced a value that is not valid JSON.");
}

const struct json *template_string_value(struct template_env *env, const char *s)
{
    struct json_writer *w = json_writer_new();
    jw_string(w, s);
    return made(env, w);
}

const struct json *template_int_value(struct template_env *env, int64_t n)
{
    struct json_writer *w = json_writer_new();
    jw_int(w, n);
    return made(env, w);
}

static const struct json *bool_value(struct template_env *env, bool b)
{
    struct json_writer *w = json_writer_new();
    jw_bool(w, b);
    return made(env, w);
}

static const struct json *null_value(struct template_env *env)
{
    struct json_writer *w = json_writer_new();
    jw_null(w);
    return made(env, w);
}

static const char *type_name(const struct json *v)
{
    switch (json_type(v)) {
    case JSON_STRING: return "String";
    case JSON_NUMBER: return "Integer";
    case JSON_BOOL: return "Boolean";
    case JSON_ARRAY: return "Array";
    case JSON_OBJECT: return "Object";
    default: return "Null";
    }
}

/* A value as string() and concat() show it: strings as they are, numbers in decimal, booleans
 * as .NET writes them ("True"), objects and arrays as compact JSON. */
static const char *to_text(struct template_env *env, const struct json *v)
{
    const char *s = json_string(v);
    if (s)
        return s;
    bool b;
    if (json_bool(v, &b))
        return b ? "True" : "False";
    if (json_type(v) == JSON_NULL)
        return "";
    struct json_writer *w = json_writer_new();
    jw_value(w, v);
    size_t len;
    const char *text = json_writer_text(w, &len);
    char *out = arena_strndup(env->arena, text, len);
    json_writer_free(w);
    return out;
}

/* ---- hashes: uniqueString() and guid() ------------------------------------------------------- */

static uint32_t rotl32(uint32_t x, int r)
{
    return (x << r) | (x >> (32 - r));
}

static uint32_t fmix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

static uint32_t le32(const unsigned char *p, size_t n)
{
    uint32_t v = 0;
    for (size_t i = 0; i < n && i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

/* The MurmurHash64 variant of Azure's expression engine: two 32-bit Murmur3 lanes mixed into
 * each other, seed 0. */
static uint64_t murmur64(const unsigned char *data, size_t len)
{
    const uint32_t c1 = 0x239b961bu, c2 = 0xab0e9789u;
    uint32_t h1 = 0, h2 = 0;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint32_t k1 = le32(data + i, 4), k2 = le32(data + i + 4, 4);
        k1 = rotl32(k1 * c1, 15) * c2;
        h1 = rotl32(h1 ^ k1, 19) + h2;
        h1 = h1 * 5 + 0x561ccd1bu;
        k2 = rotl32(k2 * c2, 17) * c1;
        h2 = rotl32(h2 ^ k2, 13) + h1;
        h2 = h2 * 5 + 0x0bcaa747u;
    }
    size_t tail = len - i;
    if (tail > 0) {
        uint32_t k1 = le32(data + i, tail);
        h1 ^= rotl32(k1 * c1, 15) * c2;
        if (tail > 4) {
            uint32_t k2 = le32(data + i + 4, tail - 4);
            h2 ^= rotl32(k2 * c2, 17) * c1;
        }
    }
    h1 ^= (uint32_t)len;
    h2 ^= (uint32_t)len;
    h1 += h2;
    h2 += h1;
    h1 = fmix32(h1);
    h2 = fmix32(h2);
    h1 += h2;
    h2 += h1;
    return ((uint64_t)h2 << 32) | h1;
}

void template_unique_string(const char *joined, char out[14])
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
    uint64_t h = murmur64((const unsigned char *)joined, strlen(joined));
    for (int i = 0; i < 13; i++, h <<= 5)
        out[i] = alphabet[h >> 59];
    out[13] = '\0';
}

void template_guid(const char *joined, char out[37])
{
    /* RFC 4122 version 5 in ARM's namespace 11fb06fb-712d-4ddd-98c7-e71bbd588830. */
    static const unsigned char ns[16] = {0x11, 0xfb, 0x06, 0xfb, 0x71, 0x2d, 0x4d, 0xdd,
                                         0x98, 0xc7, 0xe7, 0x1b, 0xbd, 0x58, 0x88, 0x30};
    unsigned char md[EVP_MAX_MD_SIZE];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha1(), NULL);
    EVP_DigestUpdate(ctx, ns, sizeof(ns));
    EVP_DigestUpdate(ctx, joined, strlen(joined));
    EVP_DigestFinal_ex(ctx, md, NULL);
    EVP_MD_CTX_free(ctx);
    md[6] = (unsigned char)((md[6] & 0x0f) | 0x50);
    md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", md[0],
             md[1], md[2], md[3], md[4], md[5], md[6], md[7], md[8], md[9], md[10], md[11], md[12],
             md[13], md[14], md[15]);
}

/* ---- parsing expressions --------------------------------------------------------------------- */

enum node_kind { NODE_STRING, NODE_NUMBER, NODE_CALL, NODE_MEMBER, NODE_INDEX };

struct node {
    enum node_kind kind;
    const char *text; /* string value, function or member name */
    int64_t number;
    struct node *target; /* member and index: what is indexed */
    struct node **args;  /* call arguments; index: args[0] */
    size_t nargs;
};

struct parser {
    struct template_env *env;
    const char *expr; /* the whole expression, for messages */
    const char *p;
    int depth;
};

static void *parse_fail(struct parser *ps, const char *what)
{
    fail(ps->env, "Unable to parse language expression '%.200s': %s at position %zu.", ps->expr,
         what, (size_t)(ps->p - ps->expr));
    return NULL;
}

static void skip_space(struct parser *ps)
{
    while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\r' || *ps->p == '\n')
        ps->p++;
}

static struct node *new_node(struct parser *ps, enum node_kind kind)
{
    struct node *n = arena_alloc(ps->env->arena, sizeof(*n));
    n->kind = kind;
    return n;
}

static struct node *parse_expr(struct parser *ps);

static struct node *parse_string(struct parser *ps)
{
    struct buf b = {0};
    ps->p++; /* the opening quote */
    for (;;) {
        if (*ps->p == '\0') {
            buf_free(&b);
            return parse_fail(ps, "a string literal is not closed");
        }
        if (*ps->p == '\'') {
            if (ps->p[1] != '\'')
                break;
            ps->p++; /* '' is one quote */
        }
        buf_putc(&b, *ps->p++);
    }
    ps->p++;
    struct node *n = new_node(ps, NODE_STRING);
    n->text = arena_strndup(ps->env->arena, b.data ? b.data : "", b.len);
    buf_free(&b);
    return n;
}

static struct node *parse_number(struct parser *ps)
{
    const char *start = ps->p;
    if (*ps->p == '-')
        ps->p++;
    if (!isdigit((unsigned char)*ps->p))
        return parse_fail(ps, "expected a number");
    int64_t v = 0;
    while (isdigit((unsigned char)*ps->p)) {
        int d = *ps->p++ - '0';
        if (v > (INT64_MAX - d) / 10)
            return parse_fail(ps, "the number is too large");
        v = v * 10 + d;
    }
    if (*ps->p == '.')
        return parse_fail(ps, "only integers are supported");
    struct node *n = new_node(ps, NODE_NUMBER);
    n->number = *start == '-' ? -v : v;
    return n;
}

/* A function name (which may carry a namespace, "ns.fn") or a property name. */
static const char *parse_name(struct parser *ps, bool dotted)
{
    const char *start = ps->p;
    while (isalnum((unsigned char)*ps->p) || *ps->p == '_' || *ps->p == '$' ||
           (dotted && *ps->p == '.'))
        ps->p++;
    return arena_strndup(ps->env->arena, start, (size_t)(ps->p - start));
}

static struct node *parse_call(struct parser *ps)
{
    if (!isalpha((unsigned char)*ps->p) && *ps->p != '_')
        return parse_fail(ps, "expected a function call, a string or a number");
    struct node *n = new_node(ps, NODE_CALL);
    n->text = parse_name(ps, true);
    skip_space(ps);
    if (*ps->p != '(')
        return parse_fail(ps, "expected '('");
    ps->p++;
    struct node *args[MAX_ARGS];
    skip_space(ps);
    if (*ps->p != ')') {
        for (;;) {
            if (n->nargs == MAX_ARGS)
                return parse_fail(ps, "too many arguments");
            if (!(args[n->nargs++] = parse_expr(ps)))
                return NULL;
            skip_space(ps);
            if (*ps->p == ')')
                break;
            if (*ps->p != ',')
                return parse_fail(ps, "expected ',' or ')'");
            ps->p++;
        }
    }
    ps->p++;
    n->args = arena_alloc(ps->env->arena, (n->nargs + 1) * sizeof(*n->args));
    memcpy(n->args, args, n->nargs * sizeof(*n->args));
    return n;
}

static struct node *parse_expr(struct parser *ps)
{
    if (++ps->depth > MAX_DEPTH)
        return parse_fail(ps, "the expression is nested too deeply");
    skip_space(ps);
    struct node *n;
    if (*ps->p == '\'')
        n = parse_string(ps);
    else if (*ps->p == '-' || isdigit((unsigned char)*ps->p))
        n = parse_number(ps);
    else
        n = parse_call(ps);
    for (;;) {
        if (!n)
            return NULL;
        skip_space(ps);
        if (*ps->p == '.') {
            ps->p++;
            skip_space(ps);
            struct node *m = new_node(ps, NODE_MEMBER);
            m->target = n;
            m->text = parse_name(ps, false);
            if (!*m->text)
                return parse_fail(ps, "expected a property name");
            n = m;
        } else if (*ps->p == '[') {
            ps->p++;
            struct node *m = new_node(ps, NODE_INDEX);
            m->target = n;
            m->args = arena_alloc(ps->env->arena, sizeof(*m->args));
            if (!(m->args[0] = parse_expr(ps)))
                return NULL;
            m->nargs = 1;
            skip_space(ps);
            if (*ps->p != ']')
                return parse_fail(ps, "expected ']'");
            ps->p++;
            n = m;
        } else {
            break;
        }
    }
    ps->depth--;
    return n;
}

/* ---- evaluating ------------------------------------------------------------------------------ */

static const struct json *eval(struct template_env *env, const struct node *n);

/* A function: `args` evaluated, `n` their count (already checked against min/max). */
struct function {
    const char *name;
    size_t min, max;
    const struct json *(*fn)(struct template_env *env, const struct function *f,
                             const struct json **args, size_t n);
};

static const struct json *bad_arg(struct template_env *env, const struct function *f, size_t i,
                                  const char *want, const struct json *got)
{
    return fail(env,
                "The template language function '%s' expects its parameter %zu to be of type "
                "'%s'. The provided value is of type '%s'.",
                f->name, i + 1, want, type_name(got));
}

static const char *arg_string(struct template_env *env, const struct function *f,
                              const struct json **args, size_t i)
{
    const char *s = json_string(args[i]);
    if (!s)
        bad_arg(env, f, i, "String", args[i]);
    return s;
}

static bool arg_int(struct template_env *env, const struct function *f, const struct json **args,
                    size_t i, int64_t *out)
{
    if (json_int(args[i], out))
        return true;
    bad_arg(env, f, i, "Integer", args[i]);
    return false;
}

static bool arg_bool(struct template_env *env, const struct function *f, const struct json **args,
                     size_t i, bool *out)
{
    if (json_bool(args[i], out))
        return true;
    bad_arg(env, f, i, "Boolean", args[i]);
    return false;
}

/* All arguments strings, joined with `sep`; NULL after failing. */
static const char *join_strings(struct template_env *env, const struct function *f,
                                const struct json **args, size_t n, const char *sep)
{
    struct buf b = {0};
    for (size_t i = 0; i < n; i++) {
        const char *s = arg_string(env, f, args, i);
        if (!s) {
            buf_free(&b);
            return NULL;
        }
        if (i)
            buf_puts(&b, sep);
        buf_puts(&b, s);
    }
    char *out = arena_strndup(env->arena, b.data ? b.data : "", b.len);
    buf_free(&b);
    return out;
}

/* -- deployment facts -- */

static const struct json *fn_parameters(struct template_env *env, const struct function *f,
                                        const struct json **args, size_t n)
{
    (void)n;
    const char *name = arg_string(env, f, args, 0);
    if (!name)
        return NULL;
    const struct json *v = json_iget(env->parameters, name);
    return v ? v : fail(env, "The template parameter '%s' is not found.", name);
}

static const struct json *fn_variables(struct template_env *env, const struct function *f,
                                       const struct json **args, size_t n)
{
    (void)n;
    const char *name = arg_string(env, f, args, 0);
    return name ? template_variable(env, name) : NULL;
}

static const struct json *fn_resource_group(struct template_env *env, const struct function *f,
                                            const struct json **args, size_t n)
{
    (void)f, (void)args, (void)n;
    if (!env->resource_group_object)
        return fail(env, "The template function 'resourceGroup' is not expected at this "
                         "location: the deployment is not at a resource group.");
    return env->resource_group_object;
}

static const struct json *fn_subscription(struct template_env *env, const struct function *f,
                                          const struct json **args, size_t n)
{
    (void)f, (void)args, (void)n;
    return env->subscription_object;
}

static const struct json *fn_deployment(struct template_env *env, const struct function *f,
                                        const struct json **args, size_t n)
{
    (void)f, (void)args, (void)n;
    return env->deployment_object;
}

static const struct json *fn_copy_index(struct template_env *env, const struct function *f,
                                        const struct json **args, size_t n)
{
    const char *name = NULL;
    int64_t offset = 0;
    size_t next = 0;
    if (n > 0 && json_type(args[0]) == JSON_STRING)
        name = json_string(args[next++]);
    if (next < n && !arg_int(env, f, args, next, &offset))
        return NULL;
    for (const struct template_loop *l = env->loop; l; l = l->outer)
        if (!name || str_ieq(name, l->name))
            return template_int_value(env, l->index + offset);
    if (name)
        return fail(env,
                    "The template function 'copyIndex' refers to the loop '%s', which is "
                    "not an enclosing copy loop.",
                    name);
    return fail(env, "The template function 'copyIndex' is not expected at this location. It "
                     "can only be used within a copy loop.");
}

/* -- resource ids -- */

const char *template_resource_id(struct template_env *env, const char *sub, const char *rg,
                                 const char *type, const char *const *names, size_t nnames)
{
    size_t segments = 0;
    for (const char *p = type; *p; p++)
        segments += *p == '/';
    const char *slash = strchr(type, '/');
    if (!slash || slash == type || !slash[1] || type[strlen(type) - 1] == '/') {
        fail(env, "The resource type '%s' is not valid: it must be '{namespace}/{type}'.", type);
        return NULL;
    }
    if (segments != nnames) {
        fail(env,
             "Unable to evaluate template language function 'resourceId': the type '%s' requires "
             "'%zu' resource name argument(s).",
             type, segments);
        return NULL;
    }
    struct buf b = {0};
    if (str_ieq(type, "Microsoft.Resources/resourceGroups")) {
        buf_printf(&b, "/subscriptions/%s/resourceGroups/%s", sub, names[0]);
    } else {
        buf_printf(&b, "/subscriptions/%s", sub);
        if (rg)
            buf_printf(&b, "/resourceGroups/%s", rg);
        buf_printf(&b, "/providers/%.*s", (int)(slash - type), type);
        const char *seg = slash + 1;
        for (size_t i = 0; i < nnames; i++) {
            const char *end = strchr(seg, '/');
            size_t len = end ? (size_t)(end - seg) : strlen(seg);
            buf_printf(&b, "/%.*s/%s", (int)len, seg, names[i]);
            seg = end ? end + 1 : seg + len;
        }
    }
    char *out = arena_strndup(env->arena, b.data, b.len);
    buf_free(&b);
    return out;
}

/* resourceId([subscriptionId, ][resourceGroupName, ]type, names…) and
 * subscriptionResourceId([subscriptionId, ]type, names…): the arguments before the first one
 * with a '/' say where, the deployment's own subscription and group by default. */
static const struct json *fn_resource_id(struct template_env *env, const struct function *f,
                                         const struct json **args, size_t n)
{
    bool at_subscription = str_ieq(f->name, "subscriptionResourceId");
    size_t t = 0;
    while (t < n && json_string(args[t]) && !strchr(json_string(args[t]), '/'))
        t++;
    if (t == n || !json_string(args[t]) || t > (at_subscription ? 1u : 2u))
        return fail(env,
                    "Unable to evaluate template language function '%s': the resource type "
                    "argument ('{namespace}/{type}') is missing or misplaced.",
                    f->name);
    const char *sub = env->subscription_id, *rg = at_subscription ? NULL : env->resource_group;
    if (at_subscription && t == 1)
        sub = json_string(args[0]);
    else if (t == 1)
        rg = json_string(args[0]);
    else if (t == 2)
        sub = json_string(args[0]), rg = json_string(args[1]);
    const char **names = arena_alloc(env->arena, (n + 1) * sizeof(*names));
    for (size_t i = t + 1; i < n; i++)
        if (!(names[i - t - 1] = arg_string(env, f, args, i)))
            return NULL;
    const char *id = template_resource_id(env, sub, rg, json_string(args[t]), names, n - t - 1);
    return id ? template_string_value(env, id) : NULL;
}

/* extensionResourceId(resourceId, type, names…): the extension resource under another. */
static const struct json *fn_extension_resource_id(struct template_env *env,
                                                   const struct function *f,
                                                   const struct json **args, size_t n)
{
    const char *base = arg_string(env, f, args, 0);
    if (!base)
        return NULL;
    const char **names = arena_alloc(env->arena, n * sizeof(*names));
    for (size_t i = 2; i < n; i++)
        if (!(names[i - 2] = arg_string(env, f, args, i)))
            return NULL;
    const char *type = arg_string(env, f, args, 1);
    const char *inner = type ? template_resource_id(env, "x", NULL, type, names, n - 2) : NULL;
    if (inner && !strstr(inner, "/providers/"))
        return fail(env,
                    "The template function 'extensionResourceId' cannot name a resource "
                    "of type '%s'.",
                    type);
    if (!inner)
        return NULL;
    /* inner is "/subscriptions/x/providers/…": keep from "/providers/". */
    return template_string_value(
        env, arena_printf(env->arena, "%s%s", base, strstr(inner, "/providers/")));
}

static const struct json *fn_reference(struct template_env *env, const struct function *f,
                                       const struct json **args, size_t n)
{
    const char *target = arg_string(env, f, args, 0);
    if (!target)
        return NULL;
    const char *api = NULL;
    bool full = false;
    if (n > 1 && !(api = arg_string(env, f, args, 1)))
        return NULL;
    if (n > 2) {
        const char *mode = arg_string(env, f, args, 2);
        if (!mode)
            return NULL;
        if (!str_ieq(mode, "Full"))
            return fail(env, "The template function 'reference' expects its third parameter "
                             "to be 'Full'.");
        full = true;
    }
    const char *id = target;
    if (target[0] != '/') {
        id = env->resource_named ? env->resource_named(env, target) : NULL;
        if (!id)
            return fail(env,
                        "The template reference '%s' is not valid: could not find template "
                        "resource or resource copy with this name.",
                        target);
    }
    if (!env->reference)
        return fail(env, "The template function 'reference' is not expected at this location.");
    const struct json *r = env->reference(env, id, api);
    if (!r)
        return NULL;
    if (full)
        return r;
    const struct json *props = json_get(r, "properties");
    return props ? props : null_value(env);
}

/* -- strings -- */

static const struct json *fn_concat(struct template_env *env, const struct function *f,
                                    const struct json **args, size_t n)
{
    (void)f;
    if (n > 0 && json_type(args[0]) == JSON_ARRAY) {
        struct json_writer *w = json_writer_new();
        jw_array_open(w);
        for (size_t i = 0; i < n; i++) {
            if (json_type(args[i]) != JSON_ARRAY) {
                json_writer_free(w);
                return bad_arg(env, f, i, "Array", args[i]);
            }
            for (size_t j = 0; j < json_len(args[i]); j++)
                jw_value(w, json_at(args[i], j));
        }
        jw_array_close(w);
        return made(env, w);
    }
    struct buf b = {0};
    for (size_t i = 0; i < n && b.len <= MAX_STRING; i++) {
        if (json_type(args[i]) == JSON_ARRAY || json_type(args[i]) == JSON_OBJECT) {
            buf_free(&b);
            return bad_arg(env, f, i, "String", args[i]);
        }
        buf_puts(&b, to_text(env, args[i]));
    }
    if (b.len > MAX_STRING) {
        buf_free(&b);
        return fail(env, "The template function 'concat' produced a string too long.");
    }
    const struct json *v = template_string_value(env, b.data ? b.data : "");
    buf_free(&b);
    return v;
}

/* .NET composite formatting, the part templates use: {0}, {1}, "{{" and "}}" (a format specifier
 * after ':' is accepted and ignored). */
static const struct json *fn_format(struct template_env *env, const struct function *f,
                                    const struct json **args, size_t n)
{
    const char *fmt = arg_string(env, f, args, 0);
    if (!fmt)
        return NULL;
    struct buf b = {0};
    for (const char *p = fmt; *p; p++) {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            buf_putc(&b, *p++);
        } else if (*p == '{') {
            char *end;
            long i = strtol(p + 1, &end, 10);
            const char *close = strchr(p, '}');
            if (end == p + 1 || !close || (*end != '}' && *end != ':') || i < 0 ||
                (size_t)i + 1 >= n) {
                buf_free(&b);
                return fail(env,
                            "The template function 'format' has an invalid format string "
                            "'%.200s': an index is missing or out of range.",
                            fmt);
            }
            buf_puts(&b, to_text(env, args[i + 1]));
            p = close;
        } else {
            buf_putc(&b, *p);
        }
    }
    const struct json *v = template_string_value(env, b.data ? b.data : "");
    buf_free(&b);
    return v;
}

static const struct json *fn_unique_string(struct template_env *env, const struct function *f,
                                           const struct json **args, size_t n)
{
    const char *joined = join_strings(env, f, args, n, "-");
    if (!joined)
        return NULL;
    char out[14];
    template_unique_string(joined, out);
    return template_string_value(env, out);
}

static const struct json *fn_guid(struct template_env *env, const struct function *f,
                                  const struct json **args, size_t n)
{
    const char *joined = join_strings(env, f, args, n, "-");
    if (!joined)
        return NULL;
    char out[37];
    template_guid(joined, out);
    return template_string_value(env, out);
}

static const struct json *fn_new_guid(struct template_env *env, const struct function *f,
                                      const struct json **args, size_t n)
{
    (void)f, (void)args, (void)n;
    char out[37];
    uuid_v4(out);
    return template_string_value(env, out);
}

static const struct json *fn_utc_now(struct template_env *env, const struct function *f,
                                     const struct json **args, size_t n)
{
    (void)f, (void)args, (void)n;
    char out[40];
    clock_format_iso8601(clock_now_ms(), out, sizeof(out));
    return template_string_value(env, out);
}

static const struct json *fn_case(struct template_env *env, const struct function *f,
                                  const struct json **args, size_t n)
{
    (void)n;
    const char *s = arg_string(env, f, args, 0);
    if (!s)
        return NULL;
    char *out = arena_strdup(env->arena, s);
    bool upper = str_ieq(f->name, "toUpper");
    for (char *p = out; *p; p++)
        *p = (char)(upper ? toupper((unsigned char)*p) : tolower((unsigned char)*p));
    return template_string_value(env, out);
}

static const struct json *fn_trim(struct template_env *env, const struct function *f,
                                  const struct json **args, size_t n)
{
    (void)n;
    const char *s = arg_string(env, f, args, 0);
    if (!s)
        return NULL;
    while (isspace((unsigned char)*s))
        s++;
    size_t len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    return template_string_value(env, arena_strndup(env->arena, s, len));
}

static const struct json *fn_replace(struct template_env *env, const struct function *f,
                                     const struct json **args, size_t n)
{
    (void)n;
    const char *s = arg_string(env, f, args, 0), *from = s ? arg_string(env, f, args, 1) : NULL,
               *to = from ? arg_string(env, f, args, 2) : NULL;
    if (!to)
        return NULL;
    if (!*from)
        return fail(env, "The template function 'replace' cannot replace an empty string.");
    struct buf b = {0};
    for (const char *p = s; *p;) {
        if (strncmp(p, from, strlen(from)) == 0) {
            buf_puts(&b, to);
            p += strlen(from);
        } else {
            buf_putc(&b, *p++);
        }
        if (b.len > MAX_STRING) {
            buf_free(&b);
            return fail(env, "The template function 'replace' produced a string too long.");
        }
    }
    const struct json *v = template_string_value(env, b.data ? b.data : "");
    buf_free(&b);
    return v;
}

static const struct json *fn_split(struct template_env *env, const struct function *f,
                                   const struct json **args, size_t n)
{
    (void)n;
    const char *s = arg_string(env, f, args, 0), *sep = s ? arg_string(env, f, args, 1) : NULL;
    if (!sep)
        return NULL;
    struct json_writer *w = json_writer_new();
    jw_array_open(w);
    const char *p = s;
    for (const char *hit; *sep && (hit = strstr(p, sep)); p = hit + strlen(sep))
        jw_stringn(w, p, (size_t)(hit - p));
    jw_string(w, p);
    jw_array_close(w);
    return made(env, w);
}

static const struct json *fn_substring(struct template_env *env, const struct function *f,
                                       const struct json **args, size_t n)
{
    const char *s = arg_string(env, f, args, 0);
    int64_t start = 0, len;
    if (!s || !arg_int(env, f, args, 1, &start))
        return NULL;
    int64_t total = (int64_t)strlen(s);
    len = total - start;
    if (n > 2 && !arg_int(env, f, args, 2, &len))
        return NULL;
    if (start < 0 || len < 0 || start > total || len > total - start)
        return fail(env, "The index and length parameters of the template function 'substring' "
                         "must refer to a location within the string.");
    return template_string_value(env, arena_strndup(env->arena, s + start, (size_t)len));
}

static const struct json *fn_affix(struct template_env *env, const struct function *f,
                                   const struct json **args, size_t n)
{
    (void)n;
    const char *s = arg_string(env, f, args, 0), *a = s ? arg_string(env, f, args, 1) : NULL;
    if (!a)
        return NULL;
    bool starts = str_ieq(f->name, "startsWith");
    size_t ls = strlen(s), la = strlen(a);
    /* ARM compares these case-insensitively. */
    return bool_value(env, la <= ls && (starts ? str_ieqn(s, la, a) : str_ieq(s + ls - la, a)));
}

static const struct json *fn_index_of(struct template_env *env, const struct function *f,
                                      const struct json **args, size_t n)
{
    (void)n;
    const char *s = arg_string(env, f, args, 0), *a = s ? arg_string(env, f, args, 1) : NULL;
    if (!a)
        return NULL;
    bool last = str_ieq(f->name, "lastIndexOf");
    int64_t found = -1;
    for (size_t i = 0, la = strlen(a); s[i] || (i == 0 && la == 0); i++) {
        if (strncasecmp(s + i, a, la) == 0) {
            found = (int64_t)i;
            if (!last)
                break;
        }
        if (!s[i])
            break;
    }
    return template_int_value(env, found);
}

static const struct json *fn_pad_left(struct template_env *env, const struct function *f,
                                      const struct json **args, size_t n)
{
    const char *s = to_text(env, args[0]);
    int64_t width;
    if (!arg_int(env, f, args, 1, &width))
        return NULL;
    const char *pad = n > 2 ? arg_string(env, f, args, 2) : " ";
    if (!pad)
        return NULL;
    if (strlen(pad) != 1 || width > 16000)
        return fail(env, "The template function 'padLeft' takes one padding character and a "
                         "length of at most 16000.");
    size_t len = strlen(s), want = width > 0 ? (size_t)width : 0;
    if (len >= want)
        return template_string_value(env, s);
    char *out = arena_alloc(env->arena, want + 1);
    memset(out, pad[0], want - len);
    memcpy(out + want - len, s, len);
    return template_string_value(env, out);
}

static const struct json *fn_base64(struct template_env *env, const struct function *f,
                                    const struct json **args, size_t n)
{
    (void)n;
    const char *s = arg_string(env, f, args, 0);
    return s ? template_string_value(env, base64_encode(env->arena, s, strlen(s))) : NULL;
}

static const struct json *fn_base64_to_string(struct template_env *env, const struct function *f,
                                              const struct json **args, size_t n)
{
    (void)n;
    const char *s = arg_string(env, f, args, 0);
    if (!s)
        return NULL;
    unsigned char *raw;
    long len = base64_decode(env->arena, s, strlen(s), &raw);
    if (len < 0 || !utf8_valid((const char *)raw, (size_t)len) || memchr(raw, 0, (size_t)len))
        return fail(env, "The template function 'base64ToString' was given a value that is not "
                         "base64 of UTF-8 text.");
    return template_string_value(env, arena_strndup(env->arena, (const char *)raw, (size_t)len));
}

/* -- conversions -- */

static const struct json *fn_string(struct template_env *env, const struct function *f,
                                    const struct json **args, size_t n)
{
    (void)f, (void)n;
    return template_string_value(env, to_text(env, args[0]));
}

static const struct json *fn_int(struct template_env *env, const struct function *f,
                                 const struct json **args, size_t n)
{
    (void)n;
    int64_t v;
    if (json_int(args[0], &v))
        return args[0];
    const char *s = arg_string(env, f, args, 0);
    if (!s)
        return NULL;
    char *end;
    errno = 0;
    long long parsed = strtoll(s, &end, 10);
    if (!*s || *end || errno)
        return fail(env, "The template function 'int' cannot convert '%.100s' to an integer.", s);
    return template_int_value(env, parsed);
}

static const struct json *fn_bool(struct template_env *env, const struct function *f,
                                  const struct json **args, size_t n)
{
    (void)n;
    bool b;
    int64_t i;
    if (json_bool(args[0], &b))
        return args[0];
    if (json_int(args[0], &i))
        return bool_value(env, i != 0);
    const char *s = arg_string(env, f, args, 0);
    if (s && (str_ieq(s, "true") || str_ieq(s, "false")))
        return bool_value(env, str_ieq(s, "true"));
    return s ? fail(env, "The template function 'bool' cannot convert '%.100s' to a boolean.", s)
             : NULL;
}

static const struct json *fn_json(struct template_env *env, const struct function *f,
                                  const struct json **args, size_t n)
{
    (void)n;
    const char *s = arg_string(env, f, args, 0);
    if (!s)
        return NULL;
    const struct json *v = json_parse_in(env->arena, s, strlen(s));
    return v ? v : fail(env, "The template function 'json' was given text that is not JSON.");
}

static const struct json *fn_constant(struct template_env *env, const struct function *f,
                                      const struct json **args, size_t n)
{
    (void)args, (void)n;
    if (str_ieq(f->name, "null"))
        return null_value(env);
    return bool_value(env, str_ieq(f->name, "true"));
}

/* -- logic and comparison -- */

static const struct json *fn_equals(struct template_env *env, const struct function *f,
                                    const struct json **args, size_t n)
{
    (void)f, (void)n;
    return bool_value(env, json_equal(args[0], args[1]));
}

static const struct json *fn_not(struct template_env *env, const struct function *f,
                                 const struct json **args, size_t n)
{
    (void)n;
    bool b;
    return arg_bool(env, f, args, 0, &b) ? bool_value(env, !b) : NULL;
}

static const struct json *fn_and_or(struct template_env *env, const struct function *f,
                                    const struct json **args, size_t n)
{
    bool is_and = str_ieq(f->name, "and"), result = is_and;
    for (size_t i = 0; i < n; i++) {
        bool b;
        if (!arg_bool(env, f, args, i, &b))
            return NULL;
        result = is_and ? result && b : result || b;
    }
    return bool_value(env, result);
}

static const struct json *fn_compare(struct template_env *env, const struct function *f,
                                     const struct json **args, size_t n)
{
    (void)n;
    int cmp;
    int64_t a, b;
    if (json_int(args[0], &a) && json_int(args[1], &b))
        cmp = a < b ? -1 : a > b;
    else if (json_string(args[0]) && json_string(args[1]))
        cmp = strcmp(json_string(args[0]), json_string(args[1]));
    else
        return fail(env, "The template function '%s' expects two integers or two strings.",
                    f->name);
    bool r = str_ieq(f->name, "less")           ? cmp < 0
             : str_ieq(f->name, "lessOrEquals") ? cmp <= 0
             : str_ieq(f->name, "greater")      ? cmp > 0
                                                : cmp >= 0;
    return bool_value(env, r);
}

static const struct json *fn_coalesce(struct template_env *env, const struct function *f,
                                      const struct json **args, size_t n)
{
    (void)f;
    for (size_t i = 0; i < n; i++)
        if (json_type(args[i]) != JSON_NULL)
            return args[i];
    return null_value(env);
}

/* -- numbers -- */

static const struct json *fn_arithmetic(struct template_env *env, const struct function *f,
                                        const struct json **args, size_t n)
{
    (void)n;
    int64_t a, b, r;
    if (!arg_int(env, f, args, 0, &a) || !arg_int(env, f, args, 1, &b))
        return NULL;
    bool overflow = false;
    if (str_ieq(f->name, "add"))
        overflow = __builtin_add_overflow(a, b, &r);
    else if (str_ieq(f->name, "sub"))
        overflow = __builtin_sub_overflow(a, b, &r);
    else if (str_ieq(f->name, "mul"))
        overflow = __builtin_mul_overflow(a, b, &r);
    else if (b == 0 || (a == INT64_MIN && b == -1))
        return fail(env, "The template function '%s' cannot divide by zero (or overflowed).",
                    f->name);
    else
        r = str_ieq(f->name, "div") ? a / b : a % b;
    return overflow ? fail(env, "The template function '%s' overflowed.", f->name)
                    : template_int_value(env, r);
}

static const struct json *fn_min_max(struct template_env *env, const struct function *f,
                                     const struct json **args, size_t n)
{
    const struct json *const *items = args;
    size_t count = n;
    const struct json **list = NULL;
    if (n == 1 && json_type(args[0]) == JSON_ARRAY) {
        count = json_len(args[0]);
        list = arena_alloc(env->arena, (count + 1) * sizeof(*list));
        for (size_t i = 0; i < count; i++)
            list[i] = json_at(args[0], i);
        items = list;
    }
    if (count == 0)
        return fail(env, "The template function '%s' needs at least one integer.", f->name);
    bool is_min = str_ieq(f->name, "min");
    int64_t best = 0;
    for (size_t i = 0; i < count; i++) {
        int64_t v;
        if (!json_int(items[i], &v))
            return fail(env, "The template function '%s' accepts only integers.", f->name);
        if (i == 0 || (is_min ? v < best : v > best))
            best = v;
    }
    return template_int_value(env, best);
}

static const struct json *fn_range(struct template_env *env, const struct function *f,
                                   const struct json **args, size_t n)
{
    (void)n;
    int64_t start, count;
    if (!arg_int(env, f, args, 0, &start) || !arg_int(env, f, args, 1, &count))
        return NULL;
    if (count < 0 || count > 10000 || start > INT64_MAX - count)
        return fail(env, "The template function 'range' takes a count between 0 and 10000.");
    struct json_writer *w = json_writer_new();
    jw_array_open(w);
    for (int64_t i = 0; i < count; i++)
        jw_int(w, start + i);
    jw_array_close(w);
    return made(env, w);
}

/* -- arrays and objects -- */

static const struct json *fn_length(struct template_env *env, const struct function *f,
                                    const struct json **args, size_t n)
{
    (void)n;
    if (json_string(args[0]))
        return template_int_value(env, (int64_t)strlen(json_string(args[0])));
    if (json_type(args[0]) == JSON_ARRAY || json_type(args[0]) == JSON_OBJECT)
        return template_int_value(env, (int64_t)json_len(args[0]));
    return bad_arg(env, f, 0, "Array, Object or String", args[0]);
}

static const struct json *fn_empty(struct template_env *env, const struct function *f,
                                   const struct json **args, size_t n)
{
    (void)f, (void)n;
    const char *s = json_string(args[0]);
    enum json_type t = json_type(args[0]);
    return bool_value(env, t == JSON_NULL || (s && !*s) ||
                               ((t == JSON_ARRAY || t == JSON_OBJECT) && json_len(args[0]) == 0));
}

static const struct json *fn_contains(struct template_env *env, const struct function *f,
                                      const struct json **args, size_t n)
{
    (void)n;
    const struct json *c = args[0], *item = args[1];
    if (json_string(c)) {
        const char *needle = json_string(item);
        return needle ? bool_value(env, strstr(json_string(c), needle) != NULL)
                      : bad_arg(env, f, 1, "String", item);
    }
    if (json_type(c) == JSON_OBJECT) {
        const char *key = json_string(item);
        return key ? bool_value(env, json_iget(c, key) != NULL)
                   : bad_arg(env, f, 1, "String", item);
    }
    if (json_type(c) != JSON_ARRAY)
        return bad_arg(env, f, 0, "Array, Object or String", c);
    for (size_t i = 0; i < json_len(c); i++)
        if (json_equal(json_at(c, i), item))
            return bool_value(env, true);
    return bool_value(env, false);
}

static const struct json *fn_first_last(struct template_env *env, const struct function *f,
                                        const struct json **args, size_t n)
{
    (void)n;
    bool first = str_ieq(f->name, "first");
    const char *s = json_string(args[0]);
    if (s) {
        size_t len = strlen(s);
        return template_string_value(
            env, len ? arena_strndup(env->arena, first ? s : s + len - 1, 1) : "");
    }
    if (json_type(args[0]) != JSON_ARRAY)
        return bad_arg(env, f, 0, "Array or String", args[0]);
    size_t len = json_len(args[0]);
    if (len == 0)
        return null_value(env);
    return json_at(args[0], first ? 0 : len - 1);
}

static const struct json *fn_take_skip(struct template_env *env, const struct function *f,
                                       const struct json **args, size_t n)
{
    (void)n;
    int64_t count;
    if (!arg_int(env, f, args, 1, &count))
        return NULL;
    bool take = str_ieq(f->name, "take");
    const char *s = json_string(args[0]);
    size_t len = s ? strlen(s) : json_len(args[0]);
    size_t k = count < 0 ? 0 : (size_t)count > len ? len : (size_t)count;
    size_t from = take ? 0 : k, to = take ? k : len;
    if (s)
        return template_string_value(env, arena_strndup(env->arena, s + from, to - from));
    if (json_type(args[0]) != JSON_ARRAY)
        return bad_arg(env, f, 0, "Array or String", args[0]);
    struct json_writer *w = json_writer_new();
    jw_array_open(w);
    for (size_t i = from; i < to; i++)
        jw_value(w, json_at(args[0], i));
    jw_array_close(w);
    return made(env, w);
}

static const struct json *fn_create_array(struct template_env *env, const struct function *f,
                                          const struct json **args, size_t n)
{
    (void)f;
    struct json_writer *w = json_writer_new();
    jw_array_open(w);
    for (size_t i = 0; i < n; i++)
        jw_value(w, args[i]);
    jw_array_close(w);
    return made(env, w);
}

static const struct json *fn_array(struct template_env *env, const struct function *f,
                                   const struct json **args, size_t n)
{
    return json_type(args[0]) == JSON_ARRAY ? args[0] : fn_create_array(env, f, args, n);
}

static const struct json *fn_create_object(struct template_env *env, const struct function *f,
                                           const struct json **args, size_t n)
{
    if (n % 2)
        return fail(env, "The template function 'createObject' takes name and value pairs.");
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    for (size_t i = 0; i < n; i += 2) {
        const char *key = arg_string(env, f, args, i);
        if (!key) {
            json_writer_free(w);
            return NULL;
        }
        jw_key(w, key);
        jw_value(w, args[i + 1]);
    }
    jw_object_close(w);
    return made(env, w);
}

/* union(): objects merged (later wins), arrays concatenated without duplicates. */
static const struct json *fn_union(struct template_env *env, const struct function *f,
                                   const struct json **args, size_t n)
{
    enum json_type t = json_type(args[0]);
    if (t != JSON_ARRAY && t != JSON_OBJECT)
        return bad_arg(env, f, 0, "Array or Object", args[0]);
    for (size_t i = 1; i < n; i++)
        if (json_type(args[i]) != t)
            return bad_arg(env, f, i, type_name(args[0]), args[i]);
    struct json_writer *w = json_writer_new();
    if (t == JSON_OBJECT) {
        jw_object_open(w);
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < json_len(args[i]); k++) {
                const char *key = json_key_at(args[i], k);
                bool later = false;
                for (size_t j = i + 1; j < n && !later; j++)
                    later = json_get(args[j], key) != NULL;
                if (!later) {
                    jw_key(w, key);
                    jw_value(w, json_at(args[i], k));
                }
            }
        jw_object_close(w);
    } else {
        jw_array_open(w);
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < json_len(args[i]); k++) {
                const struct json *item = json_at(args[i], k);
                bool seen = false;
                for (size_t j = 0; j <= i && !seen; j++)
                    for (size_t m = 0; m < (j == i ? k : json_len(args[j])) && !seen; m++)
                        seen = json_equal(json_at(args[j], m), item);
                if (!seen)
                    jw_value(w, item);
            }
        jw_array_close(w);
    }
    return made(env, w);
}

#define ANY SIZE_MAX
static const struct function functions[] = {
    {"parameters", 1, 1, fn_parameters},
    {"variables", 1, 1, fn_variables},
    {"resourceGroup", 0, 0, fn_resource_group},
    {"subscription", 0, 0, fn_subscription},
    {"deployment", 0, 0, fn_deployment},
    {"copyIndex", 0, 2, fn_copy_index},
    {"resourceId", 2, ANY, fn_resource_id},
    {"subscriptionResourceId", 2, ANY, fn_resource_id},
    {"extensionResourceId", 3, ANY, fn_extension_resource_id},
    {"reference", 1, 3, fn_reference},
    {"concat", 1, ANY, fn_concat},
    {"format", 1, ANY, fn_format},
    {"uniqueString", 1, ANY, fn_unique_string},
    {"guid", 1, ANY, fn_guid},
    {"newGuid", 0, 0, fn_new_guid},
    {"utcNow", 0, 1, fn_utc_now},
    {"toLower", 1, 1, fn_case},
    {"toUpper", 1, 1, fn_case},
    {"trim", 1, 1, fn_trim},
    {"replace", 3, 3, fn_replace},
    {"split", 2, 2, fn_split},
    {"substring", 2, 3, fn_substring},
    {"startsWith", 2, 2, fn_affix},
    {"endsWith", 2, 2, fn_affix},
    {"indexOf", 2, 2, fn_index_of},
    {"lastIndexOf", 2, 2, fn_index_of},
    {"padLeft", 2, 3, fn_pad_left},
    {"base64", 1, 1, fn_base64},
    {"base64ToString", 1, 1, fn_base64_to_string},
    {"string", 1, 1, fn_string},
    {"int", 1, 1, fn_int},
    {"bool", 1, 1, fn_bool},
    {"json", 1, 1, fn_json},
    {"true", 0, 0, fn_constant},
    {"false", 0, 0, fn_constant},
    {"null", 0, 0, fn_constant},
    {"equals", 2, 2, fn_equals},
    {"not", 1, 1, fn_not},
    {"and", 2, ANY, fn_and_or},
    {"or", 2, ANY, fn_and_or},
    {"less", 2, 2, fn_compare},
    {"lessOrEquals", 2, 2, fn_compare},
    {"greater", 2, 2, fn_compare},
    {"greaterOrEquals", 2, 2, fn_compare},
    {"coalesce", 1, ANY, fn_coalesce},
    {"add", 2, 2, fn_arithmetic},
    {"sub", 2, 2, fn_arithmetic},
    {"mul", 2, 2, fn_arithmetic},
    {"div", 2, 2, fn_arithmetic},
    {"mod", 2, 2, fn_arithmetic},
    {"min", 1, ANY, fn_min_max},
    {"max", 1, ANY, fn_min_max},
    {"range", 2, 2, fn_range},
    {"length", 1, 1, fn_length},
    {"empty", 1, 1, fn_empty},
    {"contains", 2, 2, fn_contains},
    {"first", 1, 1, fn_first_last},
    {"last", 1, 1, fn_first_last},
    {"take", 2, 2, fn_take_skip},
    {"skip", 2, 2, fn_take_skip},
    {"createArray", 0, ANY, fn_create_array},
    {"array", 1, 1, fn_array},
    {"createObject", 0, ANY, fn_create_object},
    {"union", 1, ANY, fn_union},
};

/* The function call `n` names, with a number of arguments it takes; NULL after failing. */
static const struct function *resolve_call(struct template_env *env, const struct node *n)
{
    const struct function *f = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(functions) && !f; i++)
        if (str_ieq(functions[i].name, n->text))
            f = &functions[i];
    if (!f) {
        fail(env,
             "The template function '%.100s' is not valid. Please see "
             "https://aka.ms/arm-functions for usage details.",
             n->text);
        return NULL;
    }
    if (n->nargs >= f->min && n->nargs <= f->max)
        return f;
    if (f->min == f->max)
        fail(env, "The template language function '%s' must have '%zu' argument(s).", f->name,
             f->min);
    else
        fail(env, "The template language function '%s' has an invalid number of arguments (%zu).",
             f->name, n->nargs);
    return NULL;
}

static const struct json *eval_call(struct template_env *env, const struct node *n)
{
    /* if() evaluates the condition and then only the branch it takes. */
    if (str_ieq(n->text, "if")) {
        if (n->nargs != 3)
            return fail(env, "The template language function 'if' must have '3' argument(s).");
        const struct json *c = eval(env, n->args[0]);
        bool b;
        if (!c)
            return NULL;
        if (!json_bool(c, &b))
            return fail(env,
                        "The template language function 'if' expects its first parameter "
                        "to be a boolean. The provided value is of type '%s'.",
                        type_name(c));
        return eval(env, n->args[b ? 1 : 2]);
    }
    const struct function *f = resolve_call(env, n);
    if (!f)
        return NULL;
    const struct json **args = arena_alloc(env->arena, (n->nargs + 1) * sizeof(*args));
    for (size_t i = 0; i < n->nargs; i++)
        if (!(args[i] = eval(env, n->args[i])))
            return NULL;
    return f->fn(env, f, args, n->nargs);
}

static const struct json *eval(struct template_env *env, const struct node *n)
{
    switch (n->kind) {
    case NODE_STRING: return template_string_value(env, n->text);
    case NODE_NUMBER: return template_int_value(env, n->number);
    case NODE_CALL: return eval_call(env, n);
    case NODE_MEMBER: {
        const struct json *t = eval(env, n->target);
        if (!t)
            return NULL;
        if (json_type(t) != JSON_OBJECT)
            return fail(env,
                        "The language expression property '%s' can't be evaluated: the value "
                        "is of type '%s', not an object.",
                        n->text, type_name(t));
        const struct json *v = json_iget(t, n->text);
        if (v)
            return v;
        struct buf names = {0};
        for (size_t i = 0; i < json_len(t) && names.len < 400; i++)
            buf_printf(&names, "%s%s", i ? ", " : "", json_key_at(t, i));
        fail(env,
             "The language expression property '%s' doesn't exist, available properties are "
             "'%s'.",
             n->text, names.data ? names.data : "");
        buf_free(&names);
        return NULL;
    }
    case NODE_INDEX: {
        const struct json *t = eval(env, n->target), *i = t ? eval(env, n->args[0]) : NULL;
        if (!i)
            return NULL;
        int64_t k;
        if (json_type(t) == JSON_ARRAY && json_int(i, &k)) {
            if (k < 0 || (uint64_t)k >= json_len(t))
                return fail(env,
                            "The language expression index '%lld' is out of bounds (the array "
                            "has %zu elements).",
                            (long long)k, json_len(t));
            return json_at(t, (size_t)k);
        }
        if (json_type(t) == JSON_OBJECT && json_string(i)) {
            const struct json *v = json_iget(t, json_string(i));
            return v ? v
                     : fail(env, "The language expression property '%s' doesn't exist.",
                            json_string(i));
        }
        return fail(env,
                    "The language expression can't index a value of type '%s' with a "
                    "value of type '%s'.",
                    type_name(t), type_name(i));
    }
    }
    return NULL;
}

/* ---- templates ------------------------------------------------------------------------------- */

bool template_is_expression(const char *text)
{
    size_t len = strlen(text);
    return len >= 2 && text[0] == '[' && text[1] != '[' && text[len - 1] == ']';
}

/* The expression "[…]" `text` parsed; NULL after failing. */
static struct node *parse_text(struct template_env *env, const char *text)
{
    size_t len = strlen(text);
    struct parser ps = {.env = env, .expr = arena_strndup(env->arena, text + 1, len - 2)};
    ps.p = ps.expr;
    struct node *n = parse_expr(&ps);
    if (!n)
        return NULL;
    skip_space(&ps);
    return *ps.p ? parse_fail(&ps, "unexpected text after the expression") : n;
}

const struct json *template_eval_string(struct template_env *env, const char *text)
{
    if (!template_is_expression(text)) {
        if (text[0] == '[' && text[1] == '[') /* "[[" escapes a literal "[" */
            return template_string_value(env, text + 1);
        return template_string_value(env, text);
    }
    if (env->depth >= MAX_DEPTH)
        return fail(env, "The template is nested too deeply.");
    struct node *n = parse_text(env, text);
    if (!n)
        return NULL;
    env->depth++;
    const struct json *v = eval(env, n);
    env->depth--;
    return v;
}

/* Every call in `n` names a function with a number of arguments it takes. */
static bool check_node(struct template_env *env, const struct node *n)
{
    if (n->kind == NODE_CALL && !str_ieq(n->text, "if") && !resolve_call(env, n))
        return false;
    if (n->kind == NODE_CALL && str_ieq(n->text, "if") && n->nargs != 3)
        return fail(env, "The template language function 'if' must have '3' argument(s)."), false;
    if (n->target && !check_node(env, n->target))
        return false;
    for (size_t i = 0; i < n->nargs; i++)
        if (!check_node(env, n->args[i]))
            return false;
    return true;
}

bool template_check(struct template_env *env, const struct json *v)
{
    switch (json_type(v)) {
    case JSON_STRING: {
        const char *text = json_string(v);
        if (!template_is_expression(text))
            return true;
        const struct node *n = parse_text(env, text);
        return n && check_node(env, n);
    }
    case JSON_ARRAY:
    case JSON_OBJECT:
        for (size_t i = 0; i < json_len(v); i++)
            if (!template_check(env, json_at(v, i)))
                return false;
        return true;
    default: return true;
    }
}

/* Expand `copy` (an array of {name, count, input}) into `w`'s open object: a member per loop
 * holding `count` evaluations of `input` with copyIndex('name') counting. */
static bool eval_property_copy(struct template_env *env, const struct json *copy,
                               struct json_writer *w)
{
    if (json_type(copy) != JSON_ARRAY)
        return fail(env, "The 'copy' property must be an array of {name, count, input}."), false;
    for (size_t i = 0; i < json_len(copy); i++) {
        const struct json *c = json_at(copy, i);
        const char *name = json_string(json_get(c, "name"));
        const struct json *count_v = template_eval(env, json_get(c, "count"));
        int64_t count;
        if (!name || !json_get(c, "input") || !count_v || !json_int(count_v, &count) || count < 0 ||
            count > MAX_COPY) {
            fail(env,
                 "The copy property '%s' is not valid: it needs a name, an input and a count "
                 "between 0 and %d.",
                 name ? name : "", MAX_COPY);
            return false;
        }
        jw_key(w, name);
        jw_array_open(w);
        for (int64_t k = 0; k < count; k++) {
            struct template_loop loop = {name, k, env->loop};
            env->loop = &loop;
            const struct json *v = template_eval(env, json_get(c, "input"));
            env->loop = loop.outer;
            if (!v)
                return false;
            jw_value(w, v);
        }
        jw_array_close(w);
    }
    return true;
}

const struct json *template_eval(struct template_env *env, const struct json *v)
{
    if (failed(env))
        return NULL;
    switch (json_type(v)) {
    case JSON_NONE: return fail(env, "A template value is missing.");
    case JSON_STRING: return template_eval_string(env, json_string(v));
    case JSON_ARRAY:
    case JSON_OBJECT: {
        if (env->depth >= MAX_DEPTH)
            return fail(env, "The template is nested too deeply.");
        env->depth++;
        bool object = json_type(v) == JSON_OBJECT;
        struct json_writer *w = json_writer_new();
        object ? jw_object_open(w) : jw_array_open(w);
        bool ok = true;
        for (size_t i = 0; i < json_len(v) && ok; i++) {
            if (object && str_ieq(json_key_at(v, i), "copy")) {
                ok = eval_property_copy(env, json_at(v, i), w);
                continue;
            }
            const struct json *item = template_eval(env, json_at(v, i));
            if ((ok = item != NULL)) {
                if (object)
                    jw_key(w, json_key_at(v, i));
                jw_value(w, item);
            }
        }
        env->depth--;
        if (!ok) {
            json_writer_free(w);
            return NULL;
        }
        object ? jw_object_close(w) : jw_array_close(w);
        return made(env, w);
    }
    default: return v;
    }
}

const struct json *template_variable(struct template_env *env, const char *name)
{
    const struct json *done = json_iget(env->variable_values, name);
    if (done)
        return done;
    const struct json *vars = json_get(env->template, "variables");
    const struct json *def = str_ieq(name, "copy") ? NULL : json_iget(vars, name);
    const struct json *copy_def = NULL;
    /* Variable loops: "copy": [{"name": "subnets", "count": 3, "input": …}] makes a variable. */
    for (size_t i = 0; !def && i < json_len(json_iget(vars, "copy")); i++) {
        const struct json *c = json_at(json_iget(vars, "copy"), i);
        if (str_ieq(json_string(json_get(c, "name")), name))
            copy_def = c;
    }
    if (!def && !copy_def)
        return fail(env,
                    "The template variable '%s' is not found. Please see "
                    "https://aka.ms/arm-templates/#variables for usage details.",
                    name);
    for (size_t i = 0; i < env->nevaluating; i++)
        if (str_ieq(env->evaluating[i], name))
            return fail(env, "The template variable '%s' refers to itself.", name);
    if (env->nevaluating == ARRAY_SIZE(env->evaluating))
        return fail(env, "The template variables refer to each other too deeply.");
    env->evaluating[env->nevaluating++] = name;
    const struct json *v;
    if (def) {
        v = template_eval(env, def);
    } else {
        struct json_writer *w = json_writer_new();
        jw_object_open(w);
        struct json_writer *one = json_writer_new();
        jw_array_open(one);
        jw_value(one, copy_def);
        jw_array_close(one);
        size_t len;
        const char *text = json_writer_text(one, &len);
        bool ok = eval_property_copy(env, json_parse_in(env->arena, text, len), w);
        json_writer_free(one);
        jw_object_close(w);
        const struct json *obj = ok ? made(env, w) : (json_writer_free(w), NULL);
        v = obj ? json_at(obj, 0) : NULL;
    }
    env->nevaluating--;
    if (!v)
        return NULL;
    /* Remember it: variables are evaluated once per deployment. */
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    for (size_t i = 0; i < json_len(env->variable_values); i++) {
        jw_key(w, json_key_at(env->variable_values, i));
        jw_value(w, json_at(env->variable_values, i));
    }
    jw_key(w, name);
    jw_value(w, v);
    jw_object_close(w);
    env->variable_values = made(env, w);
    return v;
}
