/*
 * test_secret.c — unit tests for common/secret.c: stored forms match only their secret, malformed
 * stored forms match nothing, and generated client secrets have Entra's shape.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/secret.h"

static void test_hash_matches_only_its_secret(void **state)
{
    (void)state;
    const enum secret_kind kinds[] = {SECRET_GENERATED, SECRET_PASSWORD};
    for (size_t i = 0; i < 2; i++) {
        char *stored = secret_hash("correct horse", kinds[i]);
        assert_true(secret_matches(stored, "correct horse"));
        assert_false(secret_matches(stored, "correct hors"));
        assert_false(secret_matches(stored, "correct horsee"));
        assert_false(secret_matches(stored, ""));
        assert_null(strstr(stored, "correct"));
        free(stored);
    }
}

static void test_hash_is_salted(void **state)
{
    (void)state;
    char *a = secret_hash("same", SECRET_GENERATED);
    char *b = secret_hash("same", SECRET_GENERATED);
    assert_string_not_equal(a, b);
    free(a);
    free(b);
}

static void test_malformed_stored_never_matches(void **state)
{
    (void)state;
    const char *bad[] = {"",
                         "x",
                         "sha256$",
                         "sha256$$",
                         "sha256$AAAA$AAAA",
                         "md5$AAAA$AAAA",
                         "pbkdf2-sha256$0$AAAA$AAAA",
                         "pbkdf2-sha256$-1$AAAA$AAAA",
                         "pbkdf2-sha256$99999999999$AAAA$AAAA",
                         "pbkdf2-sha256$x$!!$!!"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(secret_matches(bad[i], ""));
}

/* 40 characters, the first three alphanumeric (a leading "-" would make `az login -p` read the
 * secret as an option), "~" fourth, base64url after; and never the same twice. */
static void test_client_secret_shape(void **state)
{
    (void)state;
    char *prev = NULL;
    for (int n = 0; n < 5000; n++) {
        char *s = secret_generate_client_secret();
        assert_int_equal(strlen(s), 40);
        for (int i = 0; i < 3; i++)
            assert_true(isalnum((unsigned char)s[i]));
        assert_int_equal(s[3], '~');
        for (int i = 4; i < 40; i++)
            assert_true(isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_');
        if (prev)
            assert_string_not_equal(prev, s);
        free(prev);
        prev = s;
    }
    free(prev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_matches_only_its_secret),
        cmocka_unit_test(test_hash_is_salted),
        cmocka_unit_test(test_malformed_stored_never_matches),
        cmocka_unit_test(test_client_secret_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
