/*
 * test_audit.c — unit tests for common/audit.c on the in-memory store: without the writer a
 * decision is written at once (inside the caller's transaction when there is one); with it,
 * decisions from several threads all arrive, each thread's in order, and a read sees every
 * decision recorded before it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/audit.h"
#include "common/json.h"
#include "common/log.h"
#include "common/store.h"

#define THREADS 4
#define PER_THREAD 500

static int setup(void **state)
{
    struct store *s = NULL;
    if (store_open(NULL, &s) != 0 || store_migrate(s, store_schema, store_schema_len) != 0)
        return -1;
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    store_close(*state);
    return 0;
}

static void record(struct store *s, const char *principal, int n, bool allowed)
{
    char request_id[32];
    snprintf(request_id, sizeof(request_id), "%d", n);
    audit_record(s, &(struct audit_entry){.module = "test",
                                          .principal = principal,
                                          .action = "Microsoft.Test/things/read",
                                          .scope = "/subscriptions/s",
                                          .allowed = allowed,
                                          .reason = "because",
                                          .request_id = request_id});
}

/* The log as audit_write_json gives it (newest first), parsed; the caller frees it. */
static struct json *read_log(struct store *s, const char *principal, int limit)
{
    struct json_writer *w = json_writer_new();
    struct audit_filter f = {.principal = principal, .limit = limit};
    assert_int_equal(audit_write_json(s, &f, w), 0);
    size_t len;
    const char *text = json_writer_text(w, &len);
    struct json *doc = NULL;
    assert_int_equal(json_parse(text, len, &doc, NULL, 0), 0);
    json_writer_free(w);
    return doc;
}

static int64_t count(struct store *s)
{
    struct store_stmt *st;
    assert_int_equal(store_prepare(s, "SELECT count(*) FROM audit_log", &st), 0);
    assert_int_equal(store_step(st), 1);
    int64_t n = store_column_int64(st, 0);
    store_finalize(st);
    return n;
}

static void test_without_writer(void **state)
{
    struct store *s = *state;
    record(s, "p", 1, true);
    assert_int_equal(count(s), 1);
    /* Inside the caller's transaction (a seed applied before the server starts). */
    assert_int_equal(store_begin(s), 0);
    record(s, "p", 2, false);
    assert_int_equal(store_commit(s), 0);
    struct json *log = read_log(s, "p", 10);
    const struct json *list = json_get(log, "value");
    assert_int_equal(json_len(list), 2);
    assert_string_equal(json_string(json_get(json_at(list, 0), "requestId")), "2");
    bool allowed = true;
    assert_true(json_bool(json_get(json_at(list, 0), "allowed"), &allowed));
    assert_false(allowed);
    json_free(log);
}

struct producer {
    char principal[16];
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    struct store *s = NULL;
    if (store_open(NULL, &s) != 0)
        return NULL;
    for (int i = 0; i < PER_THREAD; i++)
        record(s, p->principal, i, true);
    store_close(s);
    return NULL;
}

static void test_writer(void **state)
{
    struct store *s = *state;
    assert_int_equal(audit_writer_start(&(struct store_location){.path = NULL}), 0);
    struct producer producers[THREADS];
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++) {
        snprintf(producers[t].principal, sizeof(producers[t].principal), "p%d", t);
        assert_int_equal(pthread_create(&threads[t], NULL, produce, &producers[t]), 0);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(threads[t], NULL);

    /* Recorded before the read: in the answer, each thread's newest first. */
    for (int t = 0; t < THREADS; t++) {
        struct json *log = read_log(s, producers[t].principal, PER_THREAD);
        const struct json *list = json_get(log, "value");
        assert_int_equal(json_len(list), PER_THREAD);
        for (int i = 0; i < PER_THREAD; i++) {
            char want[32];
            snprintf(want, sizeof(want), "%d", PER_THREAD - 1 - i);
            assert_string_equal(json_string(json_get(json_at(list, (size_t)i), "requestId")), want);
        }
        json_free(log);
    }

    /* One more, then stop: the writer writes what is queued before it goes. */
    record(s, "last", 0, true);
    audit_writer_stop();
    assert_int_equal(count(s), THREADS * PER_THREAD + 1);
    /* Stopped: recording writes directly again. */
    record(s, "after", 0, true);
    assert_int_equal(count(s), THREADS * PER_THREAD + 2);
}

int main(void)
{
    log_configure(LOG_LEVEL_OFF, LOG_FORMAT_TEXT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_without_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
