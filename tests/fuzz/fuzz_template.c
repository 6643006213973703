/*
 * fuzz_template.c — libFuzzer harness for ARM's template expression language (arm/template.c):
 * the expression parser and every function a template may call, through template_eval_string,
 * and whole JSON values (property copy loops, nested expressions) through template_eval.
 *
 * The environment is the one tests/unit/test_template.c sets up: a resource group deployment
 * with parameters, variables (one derived, a cycle, a copy loop), and stubs for reference() and
 * reference('name'). The first input byte picks what the rest is: even, one template string
 * ("[concat('a', parameters('name'))]"); odd, a JSON value evaluated whole. Either way the
 * result, if any, is written out and must parse again; a failure must say why.
 *
 * Reproduce a crash: build/fuzz/fuzz_template FILE (see tests/fuzz/README.md).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arm/template.h"
#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"

#define SUB "00000000-0000-0000-0000-000000000000"
#define RG_ID "/subscriptions/" SUB "/resourceGroups/my-rg"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *template_text =
    "{\"parameters\":{},\"variables\":{"
    "\"base\":\"[concat('vm', '-', parameters('name'))]\","
    "\"derived\":\"[toUpper(variables('base'))]\","
    "\"loopA\":\"[variables('loopB')]\",\"loopB\":\"[variables('loopA')]\","
    "\"obj\":{\"a\":[1,2,{\"b\":\"[parameters('count')]\"}]},"
    "\"copy\":[{\"name\":\"disks\",\"count\":2,\"input\":{\"lun\":\"[copyIndex('disks')]\"}}]},"
    "\"outputs\":{\"id\":{\"type\":\"string\",\"value\":\"[resourceId('Microsoft.Compute/"
    "virtualMachines', 'vm1')]\"}}}";

static const struct json *reference_stub(struct template_env *env, const char *id, const char *api)
{
    (void)api;
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_string(w, "id", id);
    jw_key(w, "identity");
    jw_object_open(w);
    jw_kv_string(w, "principalId", "3c1f0e9a-7d2b-4e5c-8a6f-9b0c1d2e3f4a");
    jw_object_close(w);
    jw_key(w, "properties");
    jw_object_open(w);
    jw_kv_string(w, "state", "ok");
    jw_kv_int(w, "count", 3);
    jw_object_close(w);
    jw_object_close(w);
    size_t len;
    const char *text = json_writer_text(w, &len);
    const struct json *v = json_parse_in(env->arena, text, len);
    json_writer_free(w);
    return v;
}

static const char *named_stub(struct template_env *env, const char *name)
{
    (void)env;
    return strcmp(name, "myVM") == 0 ? RG_ID "/providers/Microsoft.Compute/virtualMachines/myVM"
                                     : NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_configure(LOG_LEVEL_OFF, LOG_FORMAT_TEXT);
    return 0;
}

static const struct json *parse(struct arena *a, const char *text)
{
    const struct json *v = json_parse_in(a, text, strlen(text));
    if (!v)
        abort();
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 16 * 1024)
        return 0;
    struct arena *a = arena_new();
    struct template_env *env = arena_alloc(a, sizeof(*env));
    env->arena = a;
    env->subscription_id = SUB;
    env->resource_group = "my-rg";
    env->resource_group_object =
        parse(a, "{\"id\":\"" RG_ID "\",\"name\":\"my-rg\",\"location\":\"westus\"}");
    env->subscription_object =
        parse(a, "{\"id\":\"/subscriptions/" SUB "\",\"subscriptionId\":\"" SUB "\"}");
    env->deployment_object = parse(a, "{\"name\":\"dep1\",\"properties\":{}}");
    env->template = parse(a, template_text);
    env->parameters = parse(a, "{\"name\":\"web\",\"count\":3,\"tags\":{\"a\":\"b\"},"
                               "\"list\":[1,2,3],\"flag\":true,\"nothing\":null}");
    env->reference = reference_stub;
    env->resource_named = named_stub;
    struct template_loop outer = {"vms", 1, NULL}, inner = {"nics", 2, &outer};
    env->loop = (data[0] & 2) ? &inner : NULL;

    const struct json *v = NULL;
    if (data[0] & 1) {
        const struct json *in = json_parse_in(a, (const char *)data + 1, size - 1);
        if (in)
            v = template_eval(env, in);
        else
            env->error[0] = 'x';
    } else {
        char *text = arena_strndup(a, (const char *)data + 1, size - 1);
        template_is_expression(text);
        v = template_eval_string(env, text);
    }
    if (!v) {
        if (env->error[0] == '\0')
            abort(); /* a failure says why */
    } else {
        struct json_writer *w = json_writer_new();
        jw_value(w, v);
        size_t len;
        const char *out = json_writer_text(w, &len);
        struct json *again = NULL;
        if (json_parse(out, len, &again, NULL, 0) != 0)
            abort(); /* a value the engine made that cannot be sent to Resource Manager */
        json_free(again);
        json_writer_free(w);
    }
    arena_free(a);
    return 0;
}
