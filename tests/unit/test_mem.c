/*
 * test_mem.c — unit tests for common/mem.c: the request arena, the growable buffer and the
 * never-NULL allocation wrappers. Run under valgrind, these also catch an arena or buffer that
 * writes past what it allocated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

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

static bool all_bytes(const void *p, int value, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) {
        if (c[i] != (unsigned char)value)
            return false;
    }
    return true;
}

/* ---- arena ---------------------------------------------------------------------------------- */

static void test_arena_many_small(void **state)
{
    struct arena *a = *state;
    enum { N = 20000 };
    unsigned char **ptrs = calloc(N, sizeof(*ptrs));
    assert_non_null(ptrs);
    /* Fill each block with its own byte, then check none was overwritten by a later one: the
     * blocks must not overlap, whichever chunk they landed in. */
    for (size_t i = 0; i < N; i++) {
        size_t n = 1 + i % 97;
        ptrs[i] = arena_alloc(a, n);
        assert_non_null(ptrs[i]);
        memset(ptrs[i], (int)(i & 0xff), n);
    }
    size_t bad = 0;
    for (size_t i = 0; i < N; i++)
        bad += !all_bytes(ptrs[i], (int)(i & 0xff), 1 + i % 97);
    free(ptrs);
    assert_int_equal(bad, 0);
}

static void test_arena_large_interleaved(void **state)
{
    struct arena *a = *state;
    /* Sizes on both sides of the half-chunk threshold (4 KiB) and well past a chunk (8 KiB). */
    static const size_t sizes[] = {16,    5000, 24,   4096, 4097, 8,     8192, 8193,   1,
                                   20000, 3,    4000, 4500, 100,  65536, 7,    300000, 12};
    enum { N_SIZES = sizeof(sizes) / sizeof(sizes[0]) };
    unsigned char *ptrs[N_SIZES];
    for (size_t i = 0; i < N_SIZES; i++) {
        ptrs[i] = arena_alloc(a, sizes[i]);
        assert_true(all_bytes(ptrs[i], 0, sizes[i]));
        assert_int_equal((uintptr_t)ptrs[i] % 16, 0);
        memset(ptrs[i], (int)(0x40 + i), sizes[i]);
    }
    for (size_t i = 0; i < N_SIZES; i++) {
        if (!all_bytes(ptrs[i], (int)(0x40 + i), sizes[i]))
            fail_msg("block %zu (%zu bytes) was overwritten", i, sizes[i]);
    }
}

static void test_arena_zeroed(void **state)
{
    /* Dirty some heap memory and give it back, so the next arena is likely to get the same
     * pages: zeroes seen below then come from arena_alloc, not from a fresh mmap. */
    struct arena *dirty = arena_new();
    for (int i = 0; i < 8; i++)
        memset(arena_alloc(dirty, 3000), 0xa5, 3000);
    memset(arena_alloc(dirty, 10000), 0xa5, 10000);
    arena_free(dirty);

    struct arena *a = *state;
    for (int i = 0; i < 8; i++)
        assert_true(all_bytes(arena_alloc(a, 3000), 0, 3000));
    assert_true(all_bytes(arena_alloc(a, 10000), 0, 10000));
    for (size_t n = 1; n < 200; n++)
        assert_true(all_bytes(arena_alloc(a, n), 0, n));
}

static void test_arena_alignment(void **state)
{
    struct arena *a = *state;
    for (size_t n = 0; n < 300; n++) {
        void *p = arena_alloc(a, n);
        assert_non_null(p);
        if ((uintptr_t)p % 16 != 0)
            fail_msg("arena_alloc(%zu) returned %p, not 16-byte aligned", n, p);
    }
    /* Odd-sized strings in between must not knock later blocks off alignment. */
    for (int i = 0; i < 100; i++) {
        arena_strdup(a, "abc");
        long double *ld = arena_alloc(a, sizeof(long double));
        assert_int_equal((uintptr_t)ld % 16, 0);
        *ld = 1.5L; /* an access that needs the alignment on some targets */
    }
}

static void test_arena_zero_size_distinct(void **state)
{
    struct arena *a = *state;
    void *p = arena_alloc(a, 0);
    void *q = arena_alloc(a, 0);
    assert_non_null(p);
    assert_non_null(q);
    assert_ptr_not_equal(p, q);
}

static void test_arena_strings(void **state)
{
    struct arena *a = *state;
    assert_string_equal(arena_strdup(a, "hello"), "hello");
    assert_null(arena_strdup(a, NULL));
    assert_string_equal(arena_strndup(a, "hello", 3), "hel");
    assert_string_equal(arena_strndup(a, "hello", 0), "");

    const char *src = "keep me";
    char *copy = arena_strdup(a, src);
    assert_ptr_not_equal(copy, src);
    copy[0] = 'K';
    assert_string_equal(src, "keep me");
}

static void test_arena_printf(void **state)
{
    struct arena *a = *state;
    assert_string_equal(arena_printf(a, "%s-%d-%05.1f", "x", 42, 3.14159), "x-42-003.1");
    assert_string_equal(arena_printf(a, "%s", ""), "");

    /* Longer than a whole chunk: the length is measured first, so nothing is cut. */
    char *big = malloc(20001);
    assert_non_null(big);
    memset(big, 'z', 20000);
    big[20000] = '\0';
    char *s = arena_printf(a, "<%s>", big);
    free(big);
    assert_int_equal(strlen(s), 20002);
    assert_int_equal(s[0], '<');
    assert_int_equal(s[10001], 'z');
    assert_int_equal(s[20001], '>');
}

static void test_arena_free_null(void **state)
{
    arena_free(NULL);
    /* An arena that never allocated frees cleanly too (valgrind checks the rest). */
    arena_free(arena_new());
    assert_true(true);
}

/* ---- buf ------------------------------------------------------------------------------------ */

static void test_buf_append_growth(void **state)
{
    struct buf b = {0};
    /* One byte at a time across several doublings: the terminator must always fit. */
    for (size_t i = 0; i < 3000; i++) {
        buf_putc(&b, (char)('a' + i % 26));
        assert_int_equal(b.len, i + 1);
        assert_true(b.cap > b.len);
        assert_int_equal(b.data[b.len], '\0');
    }
    for (size_t i = 0; i < 3000; i++)
        assert_int_equal(b.data[i], 'a' + i % 26);
    buf_free(&b);
}

static void test_buf_append_binary(void **state)
{
    struct buf b = {0};
    buf_append(&b, "a\0b", 3);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "a\0b", 4);

    /* A large append in one go, bigger than several doublings of the start size. */
    char big[5000];
    memset(big, 'q', sizeof(big));
    buf_append(&b, big, sizeof(big));
    assert_int_equal(b.len, 5003);
    assert_true(all_bytes(b.data + 3, 'q', sizeof(big)));
    assert_int_equal(b.data[b.len], '\0');
    buf_free(&b);
}

static void test_buf_empty_append_terminates(void **state)
{
    /* Even an empty append leaves a usable C string behind. */
    struct buf b = {0};
    buf_append(&b, NULL, 0);
    assert_non_null(b.data);
    assert_string_equal(b.data, "");
    assert_int_equal(b.len, 0);
    buf_free(&b);

    struct buf c = {0};
    buf_printf(&c, "%s", "");
    assert_non_null(c.data);
    assert_string_equal(c.data, "");
    buf_free(&c);
}

static void test_buf_puts_printf(void **state)
{
    struct buf b = {0};
    buf_puts(&b, "GET ");
    buf_printf(&b, "/%s/%d", "items", 7);
    buf_putc(&b, '!');
    assert_string_equal(b.data, "GET /items/7!");
    assert_int_equal(b.len, strlen("GET /items/7!"));

    /* printf output bigger than the free space forces growth in the middle of a buffer. */
    char word[1000];
    memset(word, 'w', sizeof(word) - 1);
    word[sizeof(word) - 1] = '\0';
    for (int i = 0; i < 10; i++)
        buf_printf(&b, "[%d:%s]", i, word);
    size_t expect = strlen("GET /items/7!") + 10 * (strlen("[0:]") + 999);
    assert_int_equal(b.len, expect);
    assert_int_equal(strlen(b.data), expect);
    assert_memory_equal(b.data + b.len - 5, "wwww]", 5);
    buf_free(&b);
}

static void test_buf_reset_and_free(void **state)
{
    struct buf b = {0};
    buf_reset(&b); /* nothing allocated yet: must not touch data */
    assert_null(b.data);

    buf_puts(&b, "first contents");
    size_t cap = b.cap;
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    assert_int_equal(b.cap, cap); /* the memory is kept for reuse */

    buf_puts(&b, "second");
    assert_string_equal(b.data, "second");
    assert_int_equal(b.len, 6);

    buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    buf_free(&b); /* freeing twice is harmless */

    /* A freed buffer is a zero buffer again and can be reused. */
    buf_puts(&b, "again");
    assert_string_equal(b.data, "again");
    buf_free(&b);
}

/* ---- allocation wrappers -------------------------------------------------------------------- */

static void test_x_wrappers(void **state)
{
    char *s = xasprintf("%s=%d", "n", 12);
    assert_string_equal(s, "n=12");
    free(s);

    s = xasprintf("%s", "");
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);

    s = xstrndup("abcdef", 2);
    assert_string_equal(s, "ab");
    free(s);

    s = xstrdup("copy");
    assert_string_equal(s, "copy");
    free(s);

    unsigned char *z = xcalloc(64, 4);
    assert_true(all_bytes(z, 0, 256));
    free(z);

    /* Zero-size requests still return a pointer that can be freed. */
    void *p = xmalloc(0);
    assert_non_null(p);
    p = xrealloc(p, 100);
    assert_non_null(p);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_arena_many_small, arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(test_arena_large_interleaved, arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(test_arena_zeroed, arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(test_arena_alignment, arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(test_arena_zero_size_distinct, arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(test_arena_strings, arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(test_arena_printf, arena_setup, arena_teardown),
        cmocka_unit_test(test_arena_free_null),
        cmocka_unit_test(test_buf_append_growth),
        cmocka_unit_test(test_buf_append_binary),
        cmocka_unit_test(test_buf_empty_append_terminates),
        cmocka_unit_test(test_buf_puts_printf),
        cmocka_unit_test(test_buf_reset_and_free),
        cmocka_unit_test(test_x_wrappers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
