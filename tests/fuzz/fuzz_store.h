/*
 * fuzz_store.h — the in-memory store the harnesses that reach the store run against: azsim's
 * schema, one tenant (FUZZ_TENANT) with one subscription (FUZZ_SUB), and the harness's own rows.
 */
#ifndef AZSIM_FUZZ_STORE_H
#define AZSIM_FUZZ_STORE_H

#include <stdlib.h>

#include "common/log.h"
#include "common/store.h"

#define FUZZ_TENANT "8a2c4f1e-5b7d-4c3a-9e6f-1d2b3c4a5e6f"
#define FUZZ_SUB "00000000-0000-0000-0000-000000000000"

/* The store with `rows` (SQL) added; aborts if it cannot be made: a harness without it tests
 * nothing. Logging is off, so a fuzzing run prints only libFuzzer's lines. */
static inline struct store *fuzz_store_open(const char *rows)
{
    struct store *s;
    log_configure(LOG_LEVEL_OFF, LOG_FORMAT_TEXT);
    if (store_open(&(struct store_location){NULL}, &s) != 0 ||
        store_migrate(s, store_schema, store_schema_len) != 0 ||
        store_exec(s,
                   "INSERT INTO tenants(id, domain, display_name, created_at) VALUES "
                   "('" FUZZ_TENANT "', 'azsim.onmicrosoft.com', 'azsim', 0);"
                   "INSERT INTO subscriptions(id, tenant_id, display_name, created_at) VALUES "
                   "('" FUZZ_SUB "', '" FUZZ_TENANT "', 'sub', 0);") != 0 ||
        store_exec(s, rows) != 0)
        abort();
    return s;
}

#endif
