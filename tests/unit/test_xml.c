/*
 * test_xml.c — unit tests for storage/xml.c: the element finder Blob Storage reads request
 * bodies with (KeyInfo, SignedIdentifiers, …) and the escaping it writes listings with. The
 * finder is fed what clients send and what a broken client might: attributes, empty elements,
 * similar names, unclosed elements, entities.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "common/mem.h"
#include "storage/xml.h"

static struct xml_span span(const char *s)
{
    return (struct xml_span){s, s + strlen(s)};
}

static void test_child_values(void **state)
{
    (void)state;
    struct arena *a = arena_new();
    const char *doc = "<?xml version=\"1.0\"?><KeyInfo><Start>2026-01-01T00:00:00Z</Start>"
                      "<Expiry>2026-01-02T00:00:00Z</Expiry></KeyInfo>";
    struct xml_span info;
    assert_true(xml_find(span(doc), "KeyInfo", &info));
    assert_string_equal(xml_child(a, info, "Start"), "2026-01-01T00:00:00Z");
    assert_string_equal(xml_child(a, info, "Expiry"), "2026-01-02T00:00:00Z");
    assert_null(xml_child(a, info, "Missing"));
    arena_free(a);
}

static void test_names_attributes_and_empty_elements(void **state)
{
    (void)state;
    struct arena *a = arena_new();
    /* <SignedIdentifiers> is not a <SignedIdentifier>; attributes and <x/> are elements. */
    const char *doc = "<SignedIdentifiers><SignedIdentifier id=\"1\"><Id>a</Id><AccessPolicy/>"
                      "</SignedIdentifier></SignedIdentifiers>";
    struct xml_span list, item, policy;
    assert_true(xml_find(span(doc), "SignedIdentifiers", &list));
    assert_true(xml_find(list, "SignedIdentifier", &item));
    assert_string_equal(xml_child(a, item, "Id"), "a");
    assert_true(xml_find(item, "AccessPolicy", &policy));
    assert_true(policy.start == policy.end);
    /* The next search from the item's end finds nothing more. */
    assert_false(xml_find((struct xml_span){item.end, list.end}, "SignedIdentifier", &item));
    arena_free(a);
}

static void test_broken_documents(void **state)
{
    (void)state;
    struct xml_span out;
    assert_false(xml_find(span("<KeyInfo><Start>x</Start>"), "KeyInfo", &out)); /* unclosed */
    assert_false(xml_find(span("<KeyInfo"), "KeyInfo", &out));                  /* no '>' */
    assert_false(xml_find(span(""), "KeyInfo", &out));
    assert_false(xml_find(span("<"), "KeyInfo", &out));
    assert_false(xml_find(span("<KeyInfoX></KeyInfoX>"), "KeyInfo", &out));
    /* A span ends where it says, even mid-document. */
    const char *doc = "<A><B>1</B></A>";
    assert_false(xml_find((struct xml_span){doc, doc + 6}, "B", &out));
}

static void test_entities_round_trip(void **state)
{
    (void)state;
    struct arena *a = arena_new();
    struct buf b = {0};
    xml_element(&b, "Id", "a<b>&\"c\"");
    assert_string_equal(b.data, "<Id>a&lt;b&gt;&amp;&quot;c&quot;</Id>");
    assert_string_equal(xml_child(a, span(b.data), "Id"), "a<b>&\"c\"");
    assert_string_equal(xml_child(a, span("<Id>&apos;&amp;amp;&unknown;</Id>"), "Id"),
                        "'&amp;&unknown;");
    buf_free(&b);
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_child_values),
        cmocka_unit_test(test_names_attributes_and_empty_elements),
        cmocka_unit_test(test_broken_documents),
        cmocka_unit_test(test_entities_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
