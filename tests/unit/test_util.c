/*
 * test_util.c — unit tests for common/util.c: UUIDs, base64/base64url, percent-decoding, UTF-8
 * validation, case-insensitive string helpers and the clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/error.h"
#include "common/util.h"

/* Each test gets a fresh arena in *state, freed by the teardown even when an assertion fails. */
static int arena_setup(void **state)
{
    *state = arena_new();
    return 0;
}

static int arena_teardown(void **state)
{
    arena_free(*state);
    return 0;
}

/* ---- UUIDs ---------------------------------------------------------------------------------- */

static void test_uuid_v4_format(void **state)
{
    for (int i = 0; i < 200; i++) {
        char id[37];
        memset(id, 'X', sizeof(id));
        uuid_v4(id);
        assert_int_equal(strlen(id), 36);
        assert_true(uuid_valid(id));
        assert_int_equal(id[8], '-');
        assert_int_equal(id[13], '-');
        assert_int_equal(id[18], '-');
        assert_int_equal(id[23], '-');
        /* RFC 4122 §4.4: version nibble 4, variant bits 10xx. */
        assert_int_equal(id[14], '4');
        assert_non_null(strchr("89ab", id[19]));
        /* Azure prints ids in lower case; so must we. */
        for (int k = 0; k < 36; k++)
            assert_false(id[k] >= 'A' && id[k] <= 'F');
    }
}

static int cmp_uuid(const void *a, const void *b)
{
    return memcmp(a, b, 37);
}

static void test_uuid_v4_unique(void **state)
{
    enum { N = 5000 };
    char(*ids)[37] = calloc(N, sizeof(*ids));
    assert_non_null(ids);
    for (int i = 0; i < N; i++)
        uuid_v4(ids[i]);
    qsort(ids, N, sizeof(*ids), cmp_uuid);
    int dups = 0;
    for (int i = 1; i < N; i++)
        dups += memcmp(ids[i - 1], ids[i], 37) == 0;
    free(ids);
    assert_int_equal(dups, 0);
}

static void test_uuid_valid(void **state)
{
    assert_true(uuid_valid("550e8400-e29b-41d4-a716-446655440000"));
    assert_true(uuid_valid("550E8400-E29B-41D4-A716-446655440000"));
    assert_true(uuid_valid("00000000-0000-0000-0000-000000000000"));

    assert_false(uuid_valid(NULL));
    assert_false(uuid_valid(""));
    assert_false(uuid_valid("550e8400-e29b-41d4-a716-44665544000"));   /* 35 chars */
    assert_false(uuid_valid("550e8400-e29b-41d4-a716-4466554400000")); /* 37 chars */
    assert_false(uuid_valid("550e8400e29b-41d4-a716-4466554400000"));  /* dash moved */
    assert_false(uuid_valid("550e8400-e29b-41d4-a716_446655440000"));
    assert_false(uuid_valid("550e8400-e29b-41d4-a716-44665544000g"));
    assert_false(uuid_valid("{50e8400-e29b-41d4-a716-44665544000}"));
    assert_false(uuid_valid("550e8400e29b41d4a716446655440000"));
    assert_false(uuid_valid("550e8400-e29b-41d4-a716-446655440000\n"));
    assert_false(uuid_valid(" 550e8400-e29b-41d4-a716-44665544000"));
}

/* ---- base64 --------------------------------------------------------------------------------- */

/* RFC 4648 §10. */
static const struct {
    const char *plain, *std, *url;
} rfc4648_vectors[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};

static void test_base64_rfc4648_vectors(void **state)
{
    struct arena *a = *state;
    for (size_t i = 0; i < ARRAY_SIZE(rfc4648_vectors); i++) {
        const char *plain = rfc4648_vectors[i].plain;
        const char *std = rfc4648_vectors[i].std;
        const char *url = rfc4648_vectors[i].url;
        assert_string_equal(base64_encode(a, plain, strlen(plain)), std);
        assert_string_equal(base64url_encode(a, plain, strlen(plain)), url);

        unsigned char *out = NULL;
        assert_int_equal(base64_decode(a, std, strlen(std), &out), strlen(plain));
        assert_non_null(out);
        assert_string_equal((char *)out, plain); /* decoders NUL-terminate */
        out = NULL;
        assert_int_equal(base64url_decode(a, url, strlen(url), &out), strlen(plain));
        assert_non_null(out);
        assert_string_equal((char *)out, plain);
    }
}

static void test_base64_alphabets_differ(void **state)
{
    struct arena *a = *state;
    /* 0xfb 0xff 0xbf encodes to sextets 62 63 62 63, the two places the alphabets differ. */
    const unsigned char bytes[] = {0xfb, 0xff, 0xbf};
    assert_string_equal(base64_encode(a, bytes, 3), "+/+/");
    assert_string_equal(base64url_encode(a, bytes, 3), "-_-_");

    unsigned char *out;
    assert_int_equal(base64_decode(a, "+/+/", 4, &out), 3);
    assert_memory_equal(out, bytes, 3);
    assert_int_equal(base64url_decode(a, "-_-_", 4, &out), 3);
    assert_memory_equal(out, bytes, 3);
    /* Each decoder rejects the other's alphabet. */
    assert_int_equal(base64_decode(a, "-_-_", 4, &out), -1);
    assert_int_equal(base64url_decode(a, "+/+/", 4, &out), -1);
}

static void test_base64_round_trip_every_length(void **state)
{
    struct arena *a = *state;
    unsigned char data[64];
    for (size_t n = 0; n <= sizeof(data); n++) {
        random_bytes(data, n);

        char *std = base64_encode(a, data, n);
        assert_int_equal(strlen(std), (n + 2) / 3 * 4);
        unsigned char *out = NULL;
        assert_int_equal(base64_decode(a, std, strlen(std), &out), n);
        assert_memory_equal(out, data, n);
        assert_int_equal(out[n], 0);

        char *url = base64url_encode(a, data, n);
        assert_null(strchr(url, '='));
        assert_null(strchr(url, '+'));
        assert_null(strchr(url, '/'));
        assert_int_equal(strlen(url), (n * 4 + 2) / 3);
        out = NULL;
        assert_int_equal(base64url_decode(a, url, strlen(url), &out), n);
        assert_memory_equal(out, data, n);
        assert_int_equal(out[n], 0);
    }
}

static void test_base64_decode_rejects(void **state)
{
    struct arena *a = *state;
    static const char *const bad_std[] = {
        "Zm9v!A==", /* character outside the alphabet */
        "Zm 9",     /* whitespace is not skipped */
        "Zm9",      /* length not a multiple of 4 */
        "Zm9vY",    /* length not a multiple of 4 */
        "Zg",       /* padding is required for standard base64 */
        "Zm8",      /* padding is required for standard base64 */
        "Zh==",     /* non-canonical: leftover bits of 'h' are not zero */
        "Zm9=",     /* non-canonical: leftover bits of '9' are not zero */
        "Z===",     /* three padding characters */
        "====",     /* nothing but padding */
        "Zg=A",     /* padding in the middle */
        "Z=g=",     /* padding in the middle */
        "Zg==Zm8=", /* padding before the end */
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad_std); i++) {
        unsigned char *out = NULL;
        long n = base64_decode(a, bad_std[i], strlen(bad_std[i]), &out);
        if (n != -1)
            fail_msg("base64_decode accepted \"%s\" (returned %ld)", bad_std[i], n);
    }

    static const char *const bad_url[] = {
        "Zm9v!A", /* character outside the alphabet */
        "Zm9vY",  /* 4n+1 characters can never be valid */
        "Z",      /* 4n+1 characters can never be valid */
        "Zh",     /* non-canonical trailing bits */
        "Zm9",    /* non-canonical trailing bits */
        "Zm9v+A", /* standard alphabet */
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad_url); i++) {
        unsigned char *out = NULL;
        long n = base64url_decode(a, bad_url[i], strlen(bad_url[i]), &out);
        if (n != -1)
            fail_msg("base64url_decode accepted \"%s\" (returned %ld)", bad_url[i], n);
    }
}

static void test_base64_decode_uses_length_not_nul(void **state)
{
    struct arena *a = *state;
    unsigned char *out = NULL;
    /* Only the first 4 characters count; the rest of the string is not read. */
    assert_int_equal(base64_decode(a, "Zm9v!!!!", 4, &out), 3);
    assert_string_equal((char *)out, "foo");
    assert_int_equal(base64url_decode(a, "Zm8???", 3, &out), 2);
    assert_string_equal((char *)out, "fo");
}

/* ---- percent-decoding ----------------------------------------------------------------------- */

/* Decode a whole C string, checking that the reported length agrees with strlen. */
static char *pdec(struct arena *a, const char *s, bool plus_is_space)
{
    size_t len = 12345;
    char *out = percent_decode(a, s, strlen(s), plus_is_space, &len);
    if (out)
        assert_int_equal(len, strlen(out));
    return out;
}

static void test_percent_decode(void **state)
{
    struct arena *a = *state;
    assert_string_equal(pdec(a, "", false), "");
    assert_string_equal(pdec(a, "plain", false), "plain");
    assert_string_equal(pdec(a, "a%2Fb", false), "a/b");
    assert_string_equal(pdec(a, "api%2dversion", false), "api-version"); /* lower-case hex */
    assert_string_equal(pdec(a, "api%2Dversion", false), "api-version");
    assert_string_equal(pdec(a, "%41%42%43", false), "ABC");
    assert_string_equal(pdec(a, "ab%2F", false), "ab/"); /* escape at the very end */
    assert_string_equal(pdec(a, "%C3%A9", false), "\xc3\xa9");
    assert_string_equal(pdec(a, "%ff", false), "\xff"); /* bytes, not UTF-8 checked here */
}

static void test_percent_decode_plus(void **state)
{
    struct arena *a = *state;
    assert_string_equal(pdec(a, "a+b", false), "a+b");
    assert_string_equal(pdec(a, "a+b", true), "a b");
    assert_string_equal(pdec(a, "++", true), "  ");
    /* An encoded plus is a literal plus even in a query string. */
    assert_string_equal(pdec(a, "a%2Bb", true), "a+b");
    assert_string_equal(pdec(a, "a%20b", false), "a b");
}

static void test_percent_decode_rejects(void **state)
{
    struct arena *a = *state;
    assert_null(pdec(a, "%", false));
    assert_null(pdec(a, "%2", false));
    assert_null(pdec(a, "ab%2", false));
    assert_null(pdec(a, "%zz", false));
    assert_null(pdec(a, "%2z", false));
    assert_null(pdec(a, "%z2", false));
    assert_null(pdec(a, "%%41", false));
    assert_null(pdec(a, "%00", false)); /* a NUL would cut the C string short */
    assert_null(pdec(a, "abc%00def", true));
    /* The escape is truncated by the length even though the string goes on. */
    assert_null(percent_decode(a, "%2F", 2, false, NULL));
    size_t len = 0;
    char *out = percent_decode(a, "%2Fxyz", 3, false, &len);
    assert_non_null(out);
    assert_string_equal(out, "/");
    assert_int_equal(len, 1);
    /* out_len may be NULL. */
    assert_string_equal(percent_decode(a, "x%41", 4, false, NULL), "xA");
}

/* ---- UTF-8 ---------------------------------------------------------------------------------- */

#define U8(lit) (lit), sizeof(lit) - 1

static void test_utf8_valid_accepts(void **state)
{
    assert_true(utf8_valid(U8("")));
    assert_true(utf8_valid(U8("plain ASCII ~\x7f")));
    assert_true(utf8_valid(U8("\xc2\x80")));         /* U+0080, smallest 2-byte */
    assert_true(utf8_valid(U8("caf\xc3\xa9")));      /* é */
    assert_true(utf8_valid(U8("\xdf\xbf")));         /* U+07FF */
    assert_true(utf8_valid(U8("\xe0\xa0\x80")));     /* U+0800, smallest 3-byte */
    assert_true(utf8_valid(U8("\xe2\x82\xac")));     /* € */
    assert_true(utf8_valid(U8("\xed\x9f\xbf")));     /* U+D7FF, just below the surrogates */
    assert_true(utf8_valid(U8("\xee\x80\x80")));     /* U+E000, just above them */
    assert_true(utf8_valid(U8("\xef\xbf\xbd")));     /* U+FFFD */
    assert_true(utf8_valid(U8("\xf0\x90\x80\x80"))); /* U+10000, smallest 4-byte */
    assert_true(utf8_valid(U8("\xf0\x9f\x98\x80"))); /* 😀 */
    assert_true(utf8_valid(U8("\xf4\x8f\xbf\xbf"))); /* U+10FFFF, the last code point */
    assert_true(utf8_valid(U8("a\0b")));             /* NUL is a valid code point */
}

static void test_utf8_valid_rejects(void **state)
{
    assert_false(utf8_valid(U8("\xc0\x80")));         /* overlong NUL */
    assert_false(utf8_valid(U8("\xc1\xbf")));         /* overlong U+007F */
    assert_false(utf8_valid(U8("\xe0\x80\x80")));     /* overlong 3-byte */
    assert_false(utf8_valid(U8("\xe0\x9f\xbf")));     /* overlong U+07FF */
    assert_false(utf8_valid(U8("\xf0\x80\x80\x80"))); /* overlong 4-byte */
    assert_false(utf8_valid(U8("\xf0\x8f\xbf\xbf"))); /* overlong U+FFFF */
    assert_false(utf8_valid(U8("\xed\xa0\x80")));     /* U+D800, high surrogate */
    assert_false(utf8_valid(U8("\xed\xbf\xbf")));     /* U+DFFF, low surrogate */
    assert_false(utf8_valid(U8("\xf4\x90\x80\x80"))); /* U+110000 */
    assert_false(utf8_valid(U8("\xf7\xbf\xbf\xbf"))); /* U+1FFFFF */
    assert_false(utf8_valid(U8("\xf8\x88\x80\x80\x80")));
    assert_false(utf8_valid(U8("\xfe")));
    assert_false(utf8_valid(U8("\xff")));
    assert_false(utf8_valid(U8("\x80"))); /* lone continuation byte */
    assert_false(utf8_valid(U8("a\xbfz")));
    assert_false(utf8_valid(U8("\xc3")));         /* truncated 2-byte */
    assert_false(utf8_valid(U8("\xe2\x82")));     /* truncated 3-byte */
    assert_false(utf8_valid(U8("\xf0\x9f\x98"))); /* truncated 4-byte */
    assert_false(utf8_valid(U8("\xe2\x82z")));    /* continuation replaced by ASCII */
    assert_false(utf8_valid(U8("\xc3\xc3\xa9"))); /* lead byte where a continuation goes */
    /* The length bounds the check: a sequence cut by `n` is truncated. */
    assert_false(utf8_valid("\xc3\xa9", 1));
    assert_false(utf8_valid("\xf0\x9f\x98\x80", 3));
}

/* ---- strings -------------------------------------------------------------------------------- */

static void test_str_ieq(void **state)
{
    assert_true(str_ieq("Hello", "hELLO"));
    assert_true(str_ieq("", ""));
    assert_false(str_ieq("a", "ab"));
    assert_false(str_ieq("ab", "a"));
    assert_false(str_ieq("abc", "abd"));

    assert_true(str_ieqn("HeLLo world", 5, "hello"));
    assert_false(str_ieqn("hello", 4, "hello")); /* `b` is longer than the slice */
    assert_false(str_ieqn("hello", 5, "hell"));  /* `b` is shorter than the slice */
    assert_false(str_ieqn("help!", 4, "hell"));
    assert_true(str_ieqn("x", 0, ""));
}

static void test_str_prefix_suffix(void **state)
{
    assert_true(str_has_iprefix("Microsoft.Storage/storageAccounts", "microsoft.STORAGE"));
    assert_true(str_has_iprefix("abc", ""));
    assert_true(str_has_iprefix("abc", "ABC"));
    assert_false(str_has_iprefix("ab", "abc"));
    assert_false(str_has_iprefix("xabc", "abc"));

    assert_true(str_has_isuffix("acct.blob.core.windows.net", ".BLOB.core.Windows.NET"));
    assert_true(str_has_isuffix("abc", ""));
    assert_true(str_has_isuffix("abc", "abc"));
    assert_false(str_has_isuffix("net", "windows.net"));
    assert_false(str_has_isuffix("abcx", "abc"));
}

/* ---- clock ---------------------------------------------------------------------------------- */

static void test_clock_offset(void **state)
{
    const int64_t hour = 3600 * 1000;
    int64_t before = clock_now_ms();
    clock_set_offset_ms(hour);
    int64_t moved = clock_now_ms();
    clock_set_offset_ms(-hour);
    int64_t back = clock_now_ms();
    clock_set_offset_ms(0);
    int64_t after = clock_now_ms();

    /* Generous upper bounds: the test may be descheduled, but never for an hour. */
    assert_in_range(moved - before, hour, hour + 5000);
    assert_in_range(before - back, hour - 5000, hour);
    assert_in_range(after - before, 0, 5000);
    /* Wall-clock sanity: after 2023-11-14, so the offset did not stick around. */
    assert_true(after > INT64_C(1700000000000));
}

static void test_clock_mono_does_not_follow_offset(void **state)
{
    int64_t m0 = clock_mono_ms();
    clock_set_offset_ms(INT64_C(86400000));
    int64_t m1 = clock_mono_ms();
    clock_set_offset_ms(0);
    assert_in_range(m1 - m0, 0, 5000);
}

static void test_clock_parse_http(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_int_equal(clock_parse_http("Sun, 06 Nov 1994 08:49:37 GMT", &ms), 0);
    assert_int_equal(ms, 784111777000LL);
    char back[40];
    clock_format_http(ms, back, sizeof(back));
    assert_string_equal(back, "Sun, 06 Nov 1994 08:49:37 GMT");
    static const char *const bad[] = {
        "",
        "yesterday",
        "Sun, 06 Nov 1994 08:49:37",
        "Sun, 32 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nop 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 25:49:37 GMT",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(clock_parse_http(bad[i], &ms), AZ_EINVAL);
    assert_int_equal(clock_parse_http(NULL, &ms), AZ_EINVAL);
}

static void test_clock_format(void **state)
{
    char out[32];
    clock_format_http(0, out, sizeof(out));
    assert_string_equal(out, "Thu, 01 Jan 1970 00:00:00 GMT");
    clock_format_iso8601(0, out, sizeof(out));
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");

    clock_format_http(INT64_C(1700000000123), out, sizeof(out));
    assert_string_equal(out, "Tue, 14 Nov 2023 22:13:20 GMT");
    clock_format_iso8601(INT64_C(1700000000123), out, sizeof(out));
    assert_string_equal(out, "2023-11-14T22:13:20.123Z");

    /* Milliseconds keep their leading zeros. */
    clock_format_iso8601(INT64_C(1700000000007), out, sizeof(out));
    assert_string_equal(out, "2023-11-14T22:13:20.007Z");
    /* A leap day, to check the calendar rather than just the epoch. */
    clock_format_http(INT64_C(1709164800000), out, sizeof(out));
    assert_string_equal(out, "Thu, 29 Feb 2024 00:00:00 GMT");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uuid_v4_format),
        cmocka_unit_test(test_uuid_v4_unique),
        cmocka_unit_test(test_uuid_valid),
        cmocka_unit_test_setup_teardown(test_base64_rfc4648_vectors, arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(test_base64_alphabets_differ, arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(test_base64_round_trip_every_length, arena_setup,
                                        arena_teardown),
        cmocka_unit_test_setup_teardown(test_base64_decode_rejects, arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(test_base64_decode_uses_length_not_nul, arena_setup,
                                        arena_teardown),
        cmocka_unit_test_setup_teardown(test_percent_decode, arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(test_percent_decode_plus, arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(test_percent_decode_rejects, arena_setup, arena_teardown),
        cmocka_unit_test(test_utf8_valid_accepts),
        cmocka_unit_test(test_utf8_valid_rejects),
        cmocka_unit_test(test_str_ieq),
        cmocka_unit_test(test_str_prefix_suffix),
        cmocka_unit_test(test_clock_offset),
        cmocka_unit_test(test_clock_mono_does_not_follow_offset),
        cmocka_unit_test(test_clock_format),
        cmocka_unit_test(test_clock_parse_http),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
