/*
 * audit.c — see audit.h.
 */
#include "audit.h"

#include "error.h"
#include "json.h"
#include "log.h"
#include "store.h"
#include "util.h"

#include <stdio.h>

void audit_record(struct store *s, const struct audit_entry *e)
{
    struct store_stmt *st;
    if (store_prepare(s,
                      "INSERT INTO audit_log(at, module, principal, action, scope, allowed, "
                      "reason, request_id) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                      &st) != 0)
        return;
    store_bind_int64(st, 1, clock_now_ms());
    store_bind_text(st, 2, e->module);
    store_bind_text(st, 3, e->principal ? e->principal : "");
    store_bind_text(st, 4, e->action);
    store_bind_text(st, 5, e->scope);
    store_bind_int64(st, 6, e->allowed);
    store_bind_text(st, 7, e->reason);
    store_bind_text(st, 8, e->request_id);
    int rc = store_step(st);
    store_finalize(st);
    if (rc < 0) {
        LOG_WARN("audit", "could not record a decision");
        return;
    }
    /* Trim now and then (every 1024th entry) rather than on every write. */
    if (store_last_insert_rowid(s) % 1024 == 0) {
        char sql[96];
        snprintf(sql, sizeof(sql), "DELETE FROM audit_log WHERE seq <= %lld",
                 (long long)store_last_insert_rowid(s) - AUDIT_KEEP);
        store_exec(s, sql);
    }
}

int audit_write_json(struct store *s, const struct audit_filter *f, struct json_writer *w)
{
    struct store_stmt *st;
    if (store_prepare(s,
                      "SELECT at, module, principal, action, scope, allowed, reason, "
                      "request_id FROM audit_log "
                      "WHERE (?1 IS NULL OR principal = lower(?1)) AND (?2 = 0 OR allowed = 0) "
                      "ORDER BY seq DESC LIMIT ?3",
                      &st) != 0)
        return AZ_ESTORE;
    store_bind_text(st, 1, f->principal);
    store_bind_int64(st, 2, f->denied_only);
    store_bind_int64(st, 3, f->limit > 0 ? f->limit : 100);
    jw_list_open(w);
    while (store_step(st) == 1) {
        char when[32];
        clock_format_iso8601(store_column_int64(st, 0), when, sizeof(when));
        jw_object_open(w);
        jw_kv_string(w, "time", when);
        jw_kv_string(w, "module", store_column_text(st, 1));
        jw_kv_string(w, "principal", store_column_text(st, 2));
        jw_kv_string(w, "action", store_column_text(st, 3));
        jw_kv_string(w, "scope", store_column_text(st, 4));
        jw_kv_bool(w, "allowed", store_column_int64(st, 5) != 0);
        jw_kv_string(w, "reason", store_column_text(st, 6));
        jw_kv_string(w, "requestId", store_column_text(st, 7));
        jw_object_close(w);
    }
    jw_list_close(w);
    store_finalize(st);
    return 0;
}
