/*
 * test_template.c — unit tests for arm/template.c: ARM's template expression language, its
 * functions, and what it refuses. uniqueString's vectors are values Azure's own function gives;
 * guid's are RFC 4122 version 5 UUIDs (computed independently with Python's uuid.uuid5).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arm/template.h"
#include "common/json.h"
#include "common/mem.h"

#define SUB "00000000-0000-0000-0000-000000000000"
#define RG_ID "/subscriptions/" SUB "/resourceGroups/my-rg"

static const char *template_text =
    "{\"parameters\":{},\"variables\":{"
    "\"base\":\"[concat('vm', '-', parameters('name'))]\","
    "\"derived\":\"[toUpper(variables('base'))]\","
    "\"loopA\":\"[variables('loopB')]\",\"loopB\":\"[variables('loopA')]\","
    "\"copy\":[{\"name\":\"disks\",\"count\":2,\"input\":{\"lun\":\"[copyIndex('disks')]\"}}]}}";

static const struct json *reference_stub(struct template_env *env, const char *id, const char *api)
{
    (void)api;
    char text[512];
    snprintf(text, sizeof(text),
             "{\"id\":\"%s\",\"identity\":{\"principalId\":\"p-1\"},"
             "\"properties\":{\"state\":\"ok\"}}",
             id);
    return json_parse_in(env->arena, text, strlen(text));
}

static const char *named_stub(struct template_env *env, const char *name)
{
    (void)env;
    return strcmp(name, "myVM") == 0 ? RG_ID "/providers/Microsoft.Compute/virtualMachines/myVM"
                                     : NULL;
}

static int setup(void **state)
{
    struct arena *a = arena_new();
    struct template_env *env = arena_alloc(a, sizeof(*env));
    env->arena = a;
    env->subscription_id = SUB;
    env->resource_group = "my-rg";
    const char *rg = "{\"id\":\"" RG_ID "\",\"name\":\"my-rg\",\"location\":\"westus\"}";
    env->resource_group_object = json_parse_in(a, rg, strlen(rg));
    const char *sub = "{\"id\":\"/subscriptions/" SUB "\",\"subscriptionId\":\"" SUB "\"}";
    env->subscription_object = json_parse_in(a, sub, strlen(sub));
    env->template = json_parse_in(a, template_text, strlen(template_text));
    const char *params = "{\"name\":\"web\",\"count\":3,\"tags\":{\"a\":\"b\"},\"list\":[1,2,3]}";
    env->parameters = json_parse_in(a, params, strlen(params));
    env->reference = reference_stub;
    env->resource_named = named_stub;
    *state = env;
    return 0;
}

static int teardown(void **state)
{
    struct template_env *env = *state;
    arena_free(env->arena);
    return 0;
}

/* The expression's value as compact JSON, or "ERROR: <message>". */
static const char *run(struct template_env *env, const char *text)
{
    env->error[0] = '\0';
    env->variable_values = NULL;
    const struct json *v = template_eval_string(env, text);
    if (!v)
        return arena_printf(env->arena, "ERROR: %s", env->error);
    struct json_writer *w = json_writer_new();
    jw_value(w, v);
    const char *out = arena_strdup(env->arena, json_writer_text(w, NULL));
    json_writer_free(w);
    return out;
}

static void expect(struct template_env *env, const char *text, const char *want)
{
    const char *got = run(env, text);
    if (strcmp(got, want) != 0)
        fail_msg("%s\n  got:  %s\n  want: %s", text, got, want);
}

static void expect_error(struct template_env *env, const char *text, const char *fragment)
{
    const char *got = run(env, text);
    if (strncmp(got, "ERROR: ", 7) != 0 || !strstr(got, fragment))
        fail_msg("%s\n  got:  %s\n  want an error with: %s", text, got, fragment);
}

static void test_literals_and_escapes(void **state)
{
    struct template_env *env = *state;
    expect(env, "plain text", "\"plain text\"");
    expect(env, "[[not an expression]", "\"[not an expression]\"");
    expect(env, "['it''s']", "\"it's\"");
    expect(env, "[ -42 ]", "-42");
    expect(env, "[concat( 'a' ,'b' )]", "\"ab\"");
}

static void test_parameters_variables_and_members(void **state)
{
    struct template_env *env = *state;
    expect(env, "[parameters('name')]", "\"web\"");
    expect(env, "[parameters('NAME')]", "\"web\""); /* names are case-insensitive */
    expect(env, "[variables('derived')]", "\"VM-WEB\"");
    expect(env, "[variables('disks')]", "[{\"lun\":0},{\"lun\":1}]");
    expect(env, "[parameters('tags').a]", "\"b\"");
    expect(env, "[parameters('tags')['a']]", "\"b\"");
    expect(env, "[parameters('list')[2]]", "3");
    expect(env, "[resourceGroup().location]", "\"westus\"");
    expect(env, "[subscription().subscriptionId]", "\"" SUB "\"");
    expect_error(env, "[variables('loopA')]", "refers to itself");
    expect_error(env, "[parameters('missing')]", "'missing' is not found");
    expect_error(env, "[parameters('tags').nope]", "doesn't exist, available properties are 'a'");
    expect_error(env, "[parameters('list')[3]]", "out of bounds");
}

static void test_resource_ids(void **state)
{
    struct template_env *env = *state;
    expect(env, "[resourceId('Microsoft.Network/virtualNetworks/subnets', 'net', 'default')]",
           "\"" RG_ID "/providers/Microsoft.Network/virtualNetworks/net/subnets/default\"");
    expect(env, "[resourceId('other', 'Microsoft.Compute/virtualMachines', 'vm')]",
           "\"/subscriptions/" SUB
           "/resourceGroups/other/providers/Microsoft.Compute/virtualMachines/vm\"");
    expect(env, "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'r1')]",
           "\"/subscriptions/" SUB "/providers/Microsoft.Authorization/roleDefinitions/r1\"");
    expect(env,
           "[extensionResourceId(resourceGroup().id, 'Microsoft.Authorization/roleAssignments', "
           "'g')]",
           "\"" RG_ID "/providers/Microsoft.Authorization/roleAssignments/g\"");
    expect_error(env, "[resourceId('Microsoft.Network/virtualNetworks/subnets', 'net')]",
                 "requires '2' resource name argument(s)");
}

static void test_reference(void **state)
{
    struct template_env *env = *state;
    expect(env, "[reference('myVM', '2019-07-01', 'Full').identity.principalId]", "\"p-1\"");
    expect(env, "[reference('myVM').state]", "\"ok\"");
    expect_error(env, "[reference('nobody')]", "could not find template resource");
    expect_error(env, "[reference('myVM', '2019-07-01', 'Partial')]", "to be 'Full'");
}

static void test_strings(void **state)
{
    struct template_env *env = *state;
    expect(env, "[format('{0}-{1}-{0}', 'a', 2)]", "\"a-2-a\"");
    expect(env, "[format('{{literal}} {0}', 'x')]", "\"{literal} x\"");
    expect_error(env, "[format('{1}', 'a')]", "out of range");
    expect(env, "[concat('n', 1, true())]", "\"n1True\"");
    expect(env, "[concat(createArray(1), createArray(2, 3))]", "[1,2,3]");
    expect(env, "[toLower('ABC')]", "\"abc\"");
    expect(env, "[replace('a-b-c', '-', '')]", "\"abc\"");
    expect(env, "[split('a,b', ',')]", "[\"a\",\"b\"]");
    expect(env, "[substring('hello', 1, 3)]", "\"ell\"");
    expect_error(env, "[substring('hello', 4, 3)]", "within the string");
    expect(env, "[padLeft('7', 3, '0')]", "\"007\"");
    expect(env, "[base64ToString(base64('hi there'))]", "\"hi there\"");
    expect(env, "[startsWith('Hello', 'he')]", "true");
    expect(env, "[indexOf('abcabc', 'c')]", "2");
    expect(env, "[lastIndexOf('abcabc', 'c')]", "5");
    expect(env, "[trim('  x  ')]", "\"x\"");
    expect(env, "[string(parameters('tags'))]", "\"{\\\"a\\\":\\\"b\\\"}\"");
}

static void test_logic_numbers_collections(void **state)
{
    struct template_env *env = *state;
    expect(env, "[if(equals(parameters('count'), 3), 'three', 'other')]", "\"three\"");
    /* Only the branch taken is evaluated. */
    expect(env, "[if(true(), 'yes', parameters('missing'))]", "\"yes\"");
    expect_error(env, "[if('x', 1, 2)]", "boolean");
    expect(env, "[and(true(), not(false()), or(false(), true()))]", "true");
    expect(env, "[add(mul(2, 3), sub(10, div(9, 3)))]", "13");
    expect_error(env, "[div(1, 0)]", "divide by zero");
    expect_error(env, "[add(9223372036854775807, 1)]", "overflowed");
    expect(env, "[range(1, 3)]", "[1,2,3]");
    expect(env, "[length(parameters('list'))]", "3");
    expect(env, "[contains(parameters('list'), 2)]", "true");
    expect(env, "[first(parameters('list'))]", "1");
    expect(env, "[take(parameters('list'), 2)]", "[1,2]");
    expect(env, "[skip('abc', 1)]", "\"bc\"");
    expect(env, "[union(createObject('a', 1), createObject('a', 2, 'b', 3))]", "{\"a\":2,\"b\":3}");
    expect(env, "[union(createArray(1, 2), createArray(2, 3))]", "[1,2,3]");
    expect(env, "[empty('')]", "true");
    expect(env, "[coalesce(null(), 'x')]", "\"x\"");
    expect(env, "[max(parameters('list'))]", "3");
    expect(env, "[json('{\"k\":[1]}').k[0]]", "1");
    expect(env, "[int('42')]", "42");
    expect_error(env, "[int('4x')]", "cannot convert");
}

static void test_copy_index(void **state)
{
    struct template_env *env = *state;
    expect_error(env, "[copyIndex()]", "within a copy loop");
    struct template_loop outer = {"vms", 4, NULL}, inner = {"disks", 1, &outer};
    env->loop = &inner;
    expect(env, "[copyIndex()]", "1");
    expect(env, "[copyIndex('vms', 1)]", "5");
    expect_error(env, "[copyIndex('nics')]", "not an enclosing copy loop");
    env->loop = NULL;
}

static void test_unique_string_and_guid(void **state)
{
    struct template_env *env = *state;
    expect(env, "[uniqueString('test')]", "\"rbgf3xv4ufgzg\"");
    expect(env, "[uniqueString('hello', 'world')]", "\"a7wkljktk6wne\"");
    expect(env, "[uniqueString('abc')]", "\"cgtzqvhu4i23s\"");
    expect(env, "[uniqueString(resourceGroup().id)]", "\"bmg7c6xu4tw46\"");
    expect(env, "[uniqueString('foo', 'bar', 'baz')]", "\"xzi4ioaxtmth4\"");
    expect(env, "[guid('a', 'b')]", "\"2d796349-8c7e-55ec-9624-54ece82ed031\"");
    expect(env, "[guid(resourceGroup().id)]", "\"bb733f78-f75f-5345-b2b1-ca384ca6fcab\"");
    expect_error(env, "[uniqueString(1)]", "type 'String'");
}

static void test_whole_values(void **state)
{
    struct template_env *env = *state;
    const char *text =
        "{\"name\":\"[parameters('name')]\",\"n\":5,\"list\":[\"[[x\",\"[add(1,1)]\"],"
        "\"copy\":[{\"name\":\"nics\",\"count\":\"[parameters('count')]\","
        "\"input\":\"[concat('nic', copyIndex('nics'))]\"}]}";
    const struct json *v = template_eval(env, json_parse_in(env->arena, text, strlen(text)));
    assert_non_null(v);
    struct json_writer *w = json_writer_new();
    jw_value(w, v);
    assert_string_equal(json_writer_text(w, NULL), "{\"name\":\"web\",\"n\":5,\"list\":[\"[x\",2],"
                                                   "\"nics\":[\"nic0\",\"nic1\",\"nic2\"]}");
    json_writer_free(w);
}

/* Whatever the text, evaluation ends with a value or an error: never a crash or a hang. */
static void test_malformed_expressions(void **state)
{
    struct template_env *env = *state;
    const char *bad[] = {
        "[concat('a']",
        "[concat(]",
        "['unterminated]",
        "[)]",
        "[1.5]",
        "[concat('a') x]",
        "[nosuchfunction()]",
        "[concat]",
        "[parameters('name').]",
        "[parameters('list')[0]",
        "[99999999999999999999]",
        "[concat('a',)]",
        "[ ]",
        "[.x]",
        "[guid()]",
        "[parameters()]",
        "[equals(1)]",
        "[format()]",
        "[resourceId('x')]",
        "[range(0, 99999)]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *got = run(env, bad[i]);
        if (strncmp(got, "ERROR: ", 7) != 0)
            fail_msg("%s evaluated to %s", bad[i], got);
    }
    /* Nesting deeper than the limit is refused, not followed down the stack. */
    char deep[4096] = "[";
    for (int i = 0; i < 500; i++)
        strcat(deep, "concat(");
    strcat(deep, "'x'");
    for (int i = 0; i < 500; i++)
        strcat(deep, ")");
    strcat(deep, "]");
    expect_error(env, deep, "nested too deeply");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_literals_and_escapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parameters_variables_and_members, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resource_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reference, setup, teardown),
        cmocka_unit_test_setup_teardown(test_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logic_numbers_collections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unique_string_and_guid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_whole_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_expressions, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
