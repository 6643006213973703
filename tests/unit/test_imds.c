/*
 * test_imds.c — unit tests for IMDS's snapshot (imds/imds.c): the answers each IMDS thread
 * remembers for repeat token requests. Requests are built with http_request_init() against
 * imds_module, without sockets, on real SQLite connections: a file database in WAL mode in a
 * fresh mkdtemp directory, and the process-wide in-memory database. Covers what a remembered
 * answer is keyed by (the caller, each selector as given, the resource), that a commit by
 * another connection forgets every answer at once, and that an answer is not given within the
 * refresh margin of its token's expiry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/frontdoor.h"
#include "common/http.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/module.h"
#include "common/store.h"
#include "common/util.h"
#include "imds/imds.h"

#define TOKEN_PATH "/metadata/identity/oauth2/token?api-version=2018-02-01&"
#define ANSWER "{\"access_token\":\"x\",\"expires_on\":\"1\"}"

struct fixture {
    char dir[64];
    char path[128];
    struct store *s;     /* the IMDS thread's connection */
    struct store *other; /* anyone else's: another module's thread, another process */
    void *imds;          /* the IMDS thread's module state */
    struct arena *arena;
};

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/azsim-test-imds-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/azsim.db", f->dir);
    f->imds = imds_module.state_new(NULL);
    f->arena = arena_new();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    clock_set_offset_ms(0);
    store_close(f->s);
    store_close(f->other);
    imds_module.state_free(f->imds);
    arena_free(f->arena);
    DIR *d = opendir(f->dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char p[512];
            snprintf(p, sizeof(p), "%s/%s", f->dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static void open_stores(struct fixture *f, bool on_disk)
{
    struct store_location loc = {.path = on_disk ? f->path : NULL};
    assert_int_equal(store_open(&loc, &f->s), 0);
    assert_int_equal(store_open(&loc, &f->other), 0);
    assert_int_equal(store_exec(f->other, "CREATE TABLE IF NOT EXISTS t(x)"), 0);
}

/* A token request from `peer` for `query`, as the IMDS thread would dispatch it. */
static struct http_request *request(struct fixture *f, const char *peer, const char *query)
{
    struct http_request *req = arena_alloc(f->arena, sizeof(*req));
    http_request_init(req, f->arena, &imds_module, HTTP_GET,
                      arena_printf(f->arena, "%s%s", TOKEN_PATH, query));
    req->store = f->s;
    req->module_state = f->imds;
    req->peer = peer;
    return req;
}

/* The remembered answer for the request, or NULL. */
static const char *repeat(struct fixture *f, const char *peer, const char *query,
                          struct imds_snapshot_ref *ref)
{
    struct http_request *req = request(f, peer, query);
    size_t len = 0;
    const char *answer = imds_snapshot_get(req, ref, &len);
    if (answer)
        assert_int_equal(len, strlen(answer));
    return answer;
}

/* Answer a request: remember ANSWER for it, its token valid for an hour. */
static void answer(struct fixture *f, const char *peer, const char *query)
{
    struct imds_snapshot_ref ref;
    assert_null(repeat(f, peer, query, &ref));
    assert_true(ref.version >= 0);
    imds_snapshot_put(request(f, peer, query), &ref, ANSWER, clock_now_ms() / 1000 + 3600);
}

static void expect_repeat(struct fixture *f, const char *peer, const char *query)
{
    struct imds_snapshot_ref ref;
    const char *got = repeat(f, peer, query, &ref);
    if (!got)
        fail_msg("no remembered answer for %s from %s", query, peer);
    assert_string_equal(got, ANSWER);
}

static void expect_none(struct fixture *f, const char *peer, const char *query, const char *why)
{
    struct imds_snapshot_ref ref;
    if (repeat(f, peer, query, &ref))
        fail_msg("%s: %s from %s was answered from the snapshot", why, query, peer);
}

#define VAULT "resource=https://vault.azure.net"

static void keyed_by_caller_selector_and_resource(bool on_disk, void **state)
{
    struct fixture *f = *state;
    open_stores(f, on_disk);
    answer(f, "10.0.0.4:5000", VAULT);
    expect_repeat(f, "10.0.0.4:5000", VAULT);
    expect_repeat(f, "10.0.0.4:6000", VAULT); /* the address decides, not the port */
    expect_none(f, "10.0.0.5:5000", VAULT, "another VM's address");
    expect_none(f, "10.0.0.4:5000", "resource=https://storage.azure.com", "another resource");
    expect_none(f, "10.0.0.4:5000", VAULT "&client_id=a", "a selector");
    answer(f, "10.0.0.4:5000", VAULT "&client_id=a");
    expect_repeat(f, "10.0.0.4:5000", VAULT "&client_id=a");
    expect_none(f, "10.0.0.4:5000", VAULT "&client_id=A", "another selector value");
    expect_none(f, "10.0.0.4:5000", VAULT "&object_id=a", "the same value for another selector");
    expect_none(f, "10.0.0.4:5000", VAULT "&client_id=", "an empty selector");
    expect_none(f, "10.0.0.4:5000", VAULT "&msi_res_id=a", "msi_res_id");
    expect_none(f, "10.0.0.4:5000", VAULT "&mi_res_id=a", "mi_res_id");

    /* Through the front door, the client's address there is the caller's; a proxy password
     * names a VM by its secret instead, whatever the address. */
    struct frontdoor_origin origin = {.client = "10.0.0.4:7000"};
    struct imds_snapshot_ref ref;
    size_t len;
    struct http_request *req = request(f, "127.0.0.1:40000", VAULT);
    req->front_door = &origin;
    assert_non_null(imds_snapshot_get(req, &ref, &len));
    origin.proxy_password = "secret";
    req = request(f, "127.0.0.1:40000", VAULT);
    req->front_door = &origin;
    assert_null(imds_snapshot_get(req, &ref, &len));
}

static void test_keyed_in_memory(void **state)
{
    keyed_by_caller_selector_and_resource(false, state);
}

static void test_keyed_on_disk(void **state)
{
    keyed_by_caller_selector_and_resource(true, state);
}

/* Any commit by another connection forgets every remembered answer: IMDS cannot tell which
 * changes concern a VM, and a detached identity must stop at the very next request. */
static void forgotten_on_any_commit(bool on_disk, void **state)
{
    struct fixture *f = *state;
    open_stores(f, on_disk);
    answer(f, "10.0.0.4:5000", VAULT);
    answer(f, "10.0.0.7:5000", VAULT "&client_id=b");
    expect_repeat(f, "10.0.0.4:5000", VAULT);
    assert_int_equal(store_exec(f->other, "INSERT INTO t VALUES (1)"), 0);
    expect_none(f, "10.0.0.4:5000", VAULT, "after a commit elsewhere");
    expect_none(f, "10.0.0.7:5000", VAULT "&client_id=b", "after a commit elsewhere");
    /* Answered again, remembered again. */
    answer(f, "10.0.0.4:5000", VAULT);
    expect_repeat(f, "10.0.0.4:5000", VAULT);
    /* A transaction rolled back changes nothing. */
    assert_int_equal(store_begin(f->other), 0);
    assert_int_equal(store_exec(f->other, "INSERT INTO t VALUES (2)"), 0);
    store_rollback(f->other);
    expect_repeat(f, "10.0.0.4:5000", VAULT);
}

static void test_forgotten_in_memory(void **state)
{
    forgotten_on_any_commit(false, state);
}

static void test_forgotten_on_disk(void **state)
{
    forgotten_on_any_commit(true, state);
}

/* A token within the refresh margin of its expiry is refreshed, not repeated. */
static void test_not_near_expiry(void **state)
{
    struct fixture *f = *state;
    open_stores(f, false);
    answer(f, "10.0.0.4:5000", VAULT);
    clock_set_offset_ms((int64_t)(3600 - 300 - 2) * 1000);
    expect_repeat(f, "10.0.0.4:5000", VAULT);
    clock_set_offset_ms((int64_t)(3600 - 300 + 2) * 1000);
    expect_none(f, "10.0.0.4:5000", VAULT, "within the refresh margin");
}

/* Without a store version (no store), nothing is remembered. */
static void test_nothing_without_a_store(void **state)
{
    struct fixture *f = *state;
    struct http_request *req = request(f, "10.0.0.4:5000", VAULT);
    req->store = NULL;
    struct imds_snapshot_ref ref;
    size_t len;
    assert_null(imds_snapshot_get(req, &ref, &len));
    assert_true(ref.version < 0);
    imds_snapshot_put(req, &ref, ANSWER, clock_now_ms() / 1000 + 3600);
    assert_null(imds_snapshot_get(req, &ref, &len));
}

int main(void)
{
    log_configure(LOG_LEVEL_OFF, LOG_FORMAT_TEXT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_keyed_in_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyed_on_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forgotten_in_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forgotten_on_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_near_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nothing_without_a_store, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
