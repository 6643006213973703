/*
 * test_json.c — unit tests for common/json.c: the parser and its NULL-tolerant accessors, the
 * guards in front of yajl (NUL bytes, nesting depth), and the writer (escaping, U+FFFD for bad
 * UTF-8, copying parsed values with their number text intact).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/json.h"
#include "common/mem.h"

/* Parse a C string that must be valid; the caller frees the result with json_free(). */
static struct json *parse_ok(const char *text)
{
    struct json *doc = NULL;
    char err[128] = "";
    int rc = json_parse(text, strlen(text), &doc, err, sizeof(err));
    if (rc != 0)
        fail_msg("json_parse(%s) failed: %s", text, err);
    assert_non_null(doc);
    return doc;
}

/* Parse `len` bytes that must be rejected; returns the error message (static storage). */
static const char *parse_bad(const char *text, size_t len)
{
    static char err[256];
    struct json *doc = (struct json *)&err; /* must be reset to NULL on failure */
    memset(err, 0, sizeof(err));
    int rc = json_parse(text, len, &doc, err, sizeof(err));
    if (rc != AZ_EINVAL) {
        json_free(rc == 0 ? doc : NULL);
        fail_msg("json_parse accepted invalid input (rc %d)", rc);
    }
    assert_null(doc);
    return err;
}

/* The writer's text, checked for length agreement, copied so the writer can be freed. */
static char *writer_text(struct json_writer *w)
{
    size_t len = 0;
    const char *text = json_writer_text(w, &len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return xstrndup(text, len);
}

/* ---- parsing -------------------------------------------------------------------------------- */

static void test_parse_document(void **state)
{
    struct json *doc = parse_ok("{\"name\":\"kv1\",\"n\":1,\"d\":1.5,\"t\":true,\"f\":false,"
                                "\"z\":null,\"arr\":[1,\"two\",[3]],\"obj\":{\"k\":\"v\"}}");
    assert_int_equal(json_type(doc), JSON_OBJECT);
    assert_int_equal(json_len(doc), 8);

    assert_string_equal(json_string(json_get(doc, "name")), "kv1");
    int64_t n = 0;
    assert_true(json_int(json_get(doc, "n"), &n));
    assert_int_equal(n, 1);
    double d = 0;
    assert_true(json_double(json_get(doc, "d"), &d));
    assert_float_equal(d, 1.5, 0);
    bool b = false;
    assert_true(json_bool(json_get(doc, "t"), &b));
    assert_true(b);
    assert_true(json_bool(json_get(doc, "f"), &b));
    assert_false(b);
    assert_int_equal(json_type(json_get(doc, "z")), JSON_NULL);

    const struct json *arr = json_get(doc, "arr");
    assert_int_equal(json_type(arr), JSON_ARRAY);
    assert_int_equal(json_len(arr), 3);
    assert_true(json_int(json_at(arr, 0), &n));
    assert_int_equal(n, 1);
    assert_string_equal(json_string(json_at(arr, 1)), "two");
    assert_int_equal(json_type(json_at(arr, 2)), JSON_ARRAY);
    assert_true(json_int(json_at(json_at(arr, 2), 0), &n));
    assert_int_equal(n, 3);

    assert_string_equal(json_string(json_get(json_get(doc, "obj"), "k")), "v");

    /* Members keep document order, by index. */
    assert_string_equal(json_key_at(doc, 0), "name");
    assert_string_equal(json_key_at(doc, 7), "obj");
    assert_int_equal(json_type(json_at(doc, 7)), JSON_OBJECT);
    assert_int_equal(json_type(json_at(doc, 4)), JSON_BOOL);
    json_free(doc);
}

static void test_parse_scalars_and_strings(void **state)
{
    struct json *doc = parse_ok("\"top\"");
    assert_string_equal(json_string(doc), "top");
    json_free(doc);

    doc = parse_ok("null");
    assert_int_equal(json_type(doc), JSON_NULL);
    json_free(doc);

    doc = parse_ok(" [ ] ");
    assert_int_equal(json_type(doc), JSON_ARRAY);
    assert_int_equal(json_len(doc), 0);
    json_free(doc);

    /* Escapes, including a surrogate pair, come out as UTF-8. */
    doc = parse_ok("\"q\\\" b\\\\ s\\/ n\\n t\\t \\u00e9 \\ud83d\\ude00\"");
    assert_string_equal(json_string(doc), "q\" b\\ s/ n\n t\t \xc3\xa9 \xf0\x9f\x98\x80");
    json_free(doc);

    /* The length bounds the input: no NUL terminator needed, trailing bytes ignored. */
    struct json *part = NULL;
    assert_int_equal(json_parse("[1,2]garbage", 5, &part, NULL, 0), 0);
    assert_int_equal(json_len(part), 2);
    json_free(part);
}

static void test_accessors_tolerate_null_and_wrong_types(void **state)
{
    struct json *doc = parse_ok("{\"s\":\"x\",\"n\":7,\"a\":[1],\"b\":true}");
    const struct json *s = json_get(doc, "s"), *num = json_get(doc, "n");
    const struct json *arr = json_get(doc, "a"), *bl = json_get(doc, "b");
    int64_t i = 99;
    double d = 99;
    bool b = true;

    /* NULL in, NULL/false out: lookups chain without checks. */
    assert_int_equal(json_type(NULL), JSON_NONE);
    assert_null(json_get(NULL, "x"));
    assert_null(json_iget(NULL, "x"));
    assert_null(json_string(NULL));
    assert_false(json_bool(NULL, &b));
    assert_false(json_int(NULL, &i));
    assert_false(json_double(NULL, &d));
    assert_int_equal(json_len(NULL), 0);
    assert_null(json_at(NULL, 0));
    assert_null(json_key_at(NULL, 0));
    assert_null(json_string(json_get(json_get(doc, "missing"), "deeper")));

    /* Missing members and wrong types. */
    assert_null(json_get(doc, "missing"));
    assert_null(json_get(arr, "s"));
    assert_null(json_get(s, "s"));
    assert_null(json_string(num));
    assert_null(json_string(arr));
    assert_false(json_bool(s, &b));
    assert_false(json_bool(num, &b));
    assert_false(json_int(s, &i));
    assert_false(json_int(bl, &i));
    assert_false(json_double(s, &d));
    assert_int_equal(json_len(s), 0);
    assert_int_equal(json_len(num), 0);
    assert_null(json_at(s, 0));
    assert_null(json_at(arr, 1)); /* past the end */
    assert_null(json_key_at(arr, 0));
    assert_null(json_key_at(doc, 4));
    /* Failed getters leave the output alone. */
    assert_int_equal(i, 99);
    assert_float_equal(d, 99, 0);
    assert_true(b);
    json_free(doc);
    json_free(NULL);
}

static void test_get_case(void **state)
{
    struct json *doc = parse_ok("{\"Location\":\"westeurope\",\"location\":\"second\","
                                "\"properties\":{\"ProvisioningState\":\"Succeeded\"}}");
    /* JSON keys are case-sensitive... */
    assert_string_equal(json_string(json_get(doc, "location")), "second");
    assert_string_equal(json_string(json_get(doc, "Location")), "westeurope");
    assert_null(json_get(doc, "LOCATION"));
    /* ...ARM property names are not: the first match in document order wins. */
    assert_string_equal(json_string(json_iget(doc, "LOCATION")), "westeurope");
    assert_string_equal(json_string(json_iget(json_iget(doc, "Properties"), "provisioningstate")),
                        "Succeeded");
    assert_null(json_iget(doc, "locatio"));
    json_free(doc);
}

static void test_int_versus_double(void **state)
{
    struct json *doc = parse_ok("[1, 1.5, 1.0, 1e3, -42, 9223372036854775807, "
                                "9223372036854775808, -9223372036854775809, 0]");
    int64_t i = 0;
    double d = 0;

    assert_true(json_int(json_at(doc, 0), &i));
    assert_int_equal(i, 1);
    assert_false(json_int(json_at(doc, 1), &i));
    assert_true(json_double(json_at(doc, 1), &d));
    assert_float_equal(d, 1.5, 0);
    /* Written as a fraction or exponent: not an integer, though numerically whole. */
    assert_false(json_int(json_at(doc, 2), &i));
    assert_false(json_int(json_at(doc, 3), &i));
    assert_true(json_double(json_at(doc, 3), &d));
    assert_float_equal(d, 1000, 0);
    assert_true(json_int(json_at(doc, 4), &i));
    assert_int_equal((int64_t)i, -42);

    assert_true(json_int(json_at(doc, 5), &i));
    assert_true(i == INT64_MAX);
    /* One past INT64_MAX does not fit: not an integer, still a double. */
    assert_false(json_int(json_at(doc, 6), &i));
    assert_true(json_double(json_at(doc, 6), &d));
    assert_float_equal(d, 9223372036854775808.0, 0);
    assert_false(json_int(json_at(doc, 7), &i)); /* one below INT64_MIN */
    assert_true(json_int(json_at(doc, 8), &i));
    assert_int_equal(i, 0);
    json_free(doc);
}

static void test_int_min_fits(void **state)
{
    /* INT64_MIN fits int64_t, so json.h's contract says json_int accepts it. yajl's
     * yajl_parse_integer accumulates the magnitude as a positive long long and reports ERANGE
     * for 9223372036854775808 before applying the sign. */
    struct json *doc = parse_ok("[-9223372036854775808, -9223372036854775807]");
    int64_t i = 0;
    assert_true(json_int(json_at(doc, 1), &i));
    assert_true(i == -INT64_MAX);
    i = 0;
    bool ok = json_int(json_at(doc, 0), &i);
    json_free(doc);
    assert_true(ok);
    assert_true(i == INT64_MIN);
}

static void test_parse_errors(void **state)
{
    static const char *const bad[] = {
        "",        "{",         "{\"a\":}", "[1,]",      "tru", "{'a':1}",
        "[1] [2]", "{\"a\" 1}", "\"open",   "[\"\\x\"]", "01",  "{\"a\":1,}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *err = parse_bad(bad[i], strlen(bad[i]));
        if (err[0] == '\0')
            fail_msg("no error message for %s", bad[i]);
        /* One line: yajl's own message quotes the input over several. */
        if (strchr(err, '\n'))
            fail_msg("multi-line error for %s: %s", bad[i], err);
    }

    /* Without an error buffer, and with a tiny one (truncated, still terminated). */
    struct json *doc = NULL;
    assert_int_equal(json_parse("{", 1, &doc, NULL, 0), AZ_EINVAL);
    assert_null(doc);
    char tiny[6];
    memset(tiny, 'X', sizeof(tiny));
    assert_int_equal(json_parse("{", 1, &doc, tiny, sizeof(tiny)), AZ_EINVAL);
    assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
}

static void test_embedded_nul_rejected(void **state)
{
    /* yajl would see only "{"a":"b" and report EOF; the guard names the real problem. */
    static const char text[] = "{\"a\":\"b\0c\"}";
    const char *err = parse_bad(text, sizeof(text) - 1);
    assert_non_null(strstr(err, "NUL"));
    parse_bad("\0", 1);
}

/* `depth` nested arrays around a 1. */
static char *nested(int depth)
{
    struct buf b = {0};
    for (int i = 0; i < depth; i++)
        buf_putc(&b, '[');
    buf_putc(&b, '1');
    for (int i = 0; i < depth; i++)
        buf_putc(&b, ']');
    return b.data;
}

static void test_nesting_limit(void **state)
{
    char *ok = nested(100);
    struct json *doc = parse_ok(ok);
    free(ok);
    const struct json *v = doc;
    for (int i = 0; i < 100; i++)
        v = json_at(v, 0);
    int64_t n = 0;
    assert_true(json_int(v, &n));
    assert_int_equal(n, 1);
    json_free(doc);

    char *deep = nested(300);
    const char *err = parse_bad(deep, strlen(deep));
    free(deep);
    assert_non_null(strstr(err, "nested"));

    /* Objects count as well as arrays. */
    struct buf b = {0};
    for (int i = 0; i < 300; i++)
        buf_puts(&b, "{\"a\":");
    buf_puts(&b, "1");
    for (int i = 0; i < 300; i++)
        buf_putc(&b, '}');
    parse_bad(b.data, b.len);
    buf_free(&b);

    /* Brackets inside strings are text, not nesting. */
    struct buf s = {0};
    buf_puts(&s, "[\"");
    for (int i = 0; i < 300; i++)
        buf_puts(&s, "[{\\\"");
    buf_puts(&s, "\"]");
    doc = parse_ok(s.data);
    assert_int_equal(strlen(json_string(json_at(doc, 0))), 900);
    json_free(doc);
    buf_free(&s);
}

/* ---- writer --------------------------------------------------------------------------------- */

static void test_writer_structure(void **state)
{
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_string(w, "a", "b");
    jw_kv_int(w, "n", -42);
    jw_kv_bool(w, "t", true);
    jw_kv_bool(w, "f", false);
    jw_kv_string(w, "none", NULL);
    jw_key(w, "arr");
    jw_array_open(w);
    jw_int(w, INT64_MAX);
    jw_string(w, NULL);
    jw_null(w);
    jw_double(w, 1.5);
    jw_object_open(w);
    jw_object_close(w);
    jw_array_close(w);
    jw_object_close(w);
    char *text = writer_text(w);
    json_writer_free(w);
    assert_string_equal(text, "{\"a\":\"b\",\"n\":-42,\"t\":true,\"f\":false,\"none\":null,"
                              "\"arr\":[9223372036854775807,null,null,1.5,{}]}");

    /* And it parses back. */
    struct json *doc = parse_ok(text);
    free(text);
    assert_string_equal(json_string(json_get(doc, "a")), "b");
    assert_int_equal(json_len(json_get(doc, "arr")), 5);
    json_free(doc);
    json_writer_free(NULL);
}

/* Write one string and return the JSON text of the one-element array holding it. */
static char *write_one(const char *s, size_t n)
{
    struct json_writer *w = json_writer_new();
    jw_array_open(w);
    jw_stringn(w, s, n);
    jw_array_close(w);
    char *text = writer_text(w);
    json_writer_free(w);
    return text;
}

static void test_writer_escaping(void **state)
{
    struct json_writer *w = json_writer_new();
    jw_array_open(w);
    jw_string(w, "say \"hi\"");
    jw_string(w, "C:\\dir");
    jw_string(w, "https://vault.azure.net/secrets/s"); /* '/' is left alone */
    jw_string(w, "\n\r\t\b\f\x01\x1f");
    jw_string(w, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"); /* valid UTF-8 passes as is */
    jw_array_close(w);
    char *text = writer_text(w);
    json_writer_free(w);

    assert_non_null(strstr(text, "\"say \\\"hi\\\"\""));
    assert_non_null(strstr(text, "\"C:\\\\dir\""));
    assert_non_null(strstr(text, "\"https://vault.azure.net/secrets/s\""));
    assert_null(strstr(text, "\\/"));
    /* No raw control byte survives. */
    for (const char *p = text; *p; p++) {
        if ((unsigned char)*p < 0x20)
            fail_msg("raw control byte 0x%02x in %s", *p, text);
    }
    assert_non_null(strstr(text, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));

    /* A NUL is written escaped; reading it back is refused, since C strings would cut it. */
    char *nul = write_one("a\0b", 3);
    assert_non_null(strstr(nul, "\"a\\u0000b\""));
    assert_non_null(strstr(parse_bad(nul, strlen(nul)), "\\u0000"));
    free(nul);

    /* Whatever the escape spelling, the strings read back exactly. */
    struct json *doc = parse_ok(text);
    free(text);
    assert_string_equal(json_string(json_at(doc, 0)), "say \"hi\"");
    assert_string_equal(json_string(json_at(doc, 1)), "C:\\dir");
    assert_string_equal(json_string(json_at(doc, 3)), "\n\r\t\b\f\x01\x1f");
    json_free(doc);
}

#define FFFD "\xef\xbf\xbd"

static void test_writer_replaces_invalid_utf8(void **state)
{
    static const struct {
        const char *in;
        size_t n;
        const char *out;
    } cases[] = {
        {"a\xffz", 3, "[\"a" FFFD "z\"]"},
        {"\xc0\x80", 2, "[\"" FFFD FFFD "\"]"},          /* overlong: both bytes bad */
        {"\xed\xa0\x80", 3, "[\"" FFFD FFFD FFFD "\"]"}, /* surrogate */
        {"x\xc3", 2, "[\"x" FFFD "\"]"},                 /* truncated at the end */
        {"\xe2\x82z", 3, "[\"" FFFD FFFD "z\"]"},        /* truncated mid-string */
        {"\xc3\xa9\xff\xe2\x82\xac", 6, "[\"\xc3\xa9" FFFD "\xe2\x82\xac\"]"},
        {"\x80", 1, "[\"" FFFD "\"]"},                            /* lone continuation */
        {"\xf4\x90\x80\x80", 4, "[\"" FFFD FFFD FFFD FFFD "\"]"}, /* past U+10FFFF */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *text = write_one(cases[i].in, cases[i].n);
        if (strcmp(text, cases[i].out) != 0)
            fail_msg("case %zu: got %s", i, text);
        free(text);
    }

    /* A key with a bad byte is cleaned the same way, and the object still completes. */
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_string(w, "k\xfe", "v");
    jw_object_close(w);
    char *text = writer_text(w);
    json_writer_free(w);
    assert_string_equal(text, "{\"k" FFFD "\":\"v\"}");
    free(text);
}

static void test_jw_value_round_trip(void **state)
{
    /* Numbers keep their own text: 1.50 is not reformatted to 1.5, nor 1e3 to 1000. */
    static const char src[] = "{\"a\":1.50,\"b\":[1e3,-0,true,false,null,\"x\\/y\",\"\\u00e9\"],"
                              "\"c\":{\"d\":{},\"e\":[]},\"big\":12345678901234567890123}";
    static const char want[] = "{\"a\":1.50,\"b\":[1e3,-0,true,false,null,\"x/y\",\"\xc3\xa9\"],"
                               "\"c\":{\"d\":{},\"e\":[]},\"big\":12345678901234567890123}";
    struct json *doc = parse_ok(src);
    struct json_writer *w = json_writer_new();
    jw_value(w, doc);
    char *text = writer_text(w);
    json_writer_free(w);
    json_free(doc);
    assert_string_equal(text, want);
    free(text);

    /* Inside a document being written, and NULL as null. */
    doc = parse_ok("[1.50]");
    w = json_writer_new();
    jw_object_open(w);
    jw_key(w, "copy");
    jw_value(w, json_at(doc, 0));
    jw_key(w, "absent");
    jw_value(w, json_get(doc, "nope"));
    jw_object_close(w);
    text = writer_text(w);
    json_writer_free(w);
    json_free(doc);
    assert_string_equal(text, "{\"copy\":1.50,\"absent\":null}");
    free(text);
}

static char *merged(const char *target, const char *patch)
{
    struct json *t = target ? parse_ok(target) : NULL;
    struct json *p = parse_ok(patch);
    struct json_writer *w = json_writer_new();
    jw_merge_patch(w, t, p);
    char *text = writer_text(w);
    json_writer_free(w);
    json_free(t);
    json_free(p);
    return text;
}

/* RFC 7386, appendix A, in order. */
static void test_merge_patch(void **state)
{
    static const char *const cases[][3] = {
        {"{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
        {"{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}"},
        {"{\"a\":\"b\"}", "{\"a\":null}", "{}"},
        {"{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}"},
        {"{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
        {"{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}"},
        {"{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}"},
        {"{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}"},
        {"[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]"},
        {"{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]"},
        {"{\"a\":\"foo\"}", "null", "null"},
        {"{\"a\":\"foo\"}", "\"bar\"", "\"bar\""},
        {"{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}"},
        {"[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}"},
        {"{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}"},
        /* No target at all: the patch without its nulls. */
        {NULL, "{\"a\":{\"b\":null,\"c\":1}}", "{\"a\":{\"c\":1}}"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *text = merged(cases[i][0], cases[i][1]);
        assert_string_equal(text, cases[i][2]);
        free(text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_document),
        cmocka_unit_test(test_parse_scalars_and_strings),
        cmocka_unit_test(test_accessors_tolerate_null_and_wrong_types),
        cmocka_unit_test(test_get_case),
        cmocka_unit_test(test_int_versus_double),
        cmocka_unit_test(test_int_min_fits),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_embedded_nul_rejected),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_writer_structure),
        cmocka_unit_test(test_writer_escaping),
        cmocka_unit_test(test_writer_replaces_invalid_utf8),
        cmocka_unit_test(test_jw_value_round_trip),
        cmocka_unit_test(test_merge_patch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
