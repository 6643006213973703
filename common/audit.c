/*
 * audit.c — see audit.h.
 *
 * Entries are written by one writer thread, in batches: a decision used to be its own SQLite
 * transaction on the request's thread, and that commit (plus a WAL checkpoint now and then) was
 * the largest cost of an authorized Key Vault or Resource Manager request and most of its tail
 * latency. Producers copy the entry into a queue under a mutex; the writer takes the whole queue,
 * writes it in one transaction and wakes anyone waiting in audit_flush().
 */
#include "audit.h"

#include "error.h"
#include "json.h"
#include "log.h"
#include "mem.h"
#include "store.h"
#include "util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Trim the log when its newest row id crosses a multiple of this, not on every write. */
#define TRIM_EVERY 1024
/* The writer lets entries gather this long before it writes them: one transaction per batch
 * rather than per decision, and every commit makes the other connections re-read their pages. */
#define GATHER_MS 5
/* Recording waits for the writer once this many entries are queued: memory stays bounded if the
 * store is slow, and no decision is dropped. */
#define QUEUE_MAX 65536

/* One queued decision; its strings live in the same allocation, after the struct. */
struct pending {
    struct pending *next;
    int64_t at;
    bool allowed;
    const char *module, *principal, *action, *scope, *reason, *request_id;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* the writer: entries are queued, or it should stop */
    pthread_cond_t done; /* flushers and full-queue producers: a batch was written */
    pthread_t thread;
    bool running, stopping, flush_wanted;
    struct pending *head, **tail;
    size_t length;
    uint64_t queued, written; /* entries ever queued, and written (or abandoned) */
} queue = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
    .done = PTHREAD_COND_INITIALIZER,
    .tail = &queue.head,
};

static void trim(struct store *s, int64_t before, int64_t after)
{
    if (before / TRIM_EVERY == after / TRIM_EVERY)
        return;
    char sql[96];
    snprintf(sql, sizeof(sql), "DELETE FROM audit_log WHERE seq <= %lld",
             (long long)after - AUDIT_KEEP);
    store_exec(s, sql);
}

/* Insert the entries of `batch` (a list), in the caller's transaction if it has one. */
static int insert_entries(struct store *s, const struct pending *batch)
{
    struct store_stmt *st;
    if (store_prepare(s,
                      "INSERT INTO audit_log(at, module, principal, action, scope, allowed, "
                      "reason, request_id) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                      &st) != 0)
        return AZ_ESTORE;
    int rc = 0;
    for (const struct pending *e = batch; rc == 0 && e; e = e->next) {
        store_reset(st);
        store_bind_int64(st, 1, e->at);
        store_bind_text(st, 2, e->module);
        store_bind_text(st, 3, e->principal);
        store_bind_text(st, 4, e->action);
        store_bind_text(st, 5, e->scope);
        store_bind_int64(st, 6, e->allowed);
        store_bind_text(st, 7, e->reason);
        store_bind_text(st, 8, e->request_id);
        rc = store_step(st) < 0 ? AZ_ESTORE : 0;
    }
    store_finalize(st);
    return rc;
}

/* Write the writer's batch in one transaction. Failures are logged: the log is not worth a
 * request's failure, and the writer carries on with the next batch. */
static void write_batch(struct store *s, const struct pending *batch)
{
    int64_t before = store_last_insert_rowid(s);
    int rc = store_begin(s);
    if (rc == 0)
        rc = insert_entries(s, batch);
    if (rc == 0)
        rc = store_commit(s);
    if (rc != 0) {
        store_rollback(s);
        LOG_WARN("audit", "could not record a batch of decisions");
        return;
    }
    trim(s, before, store_last_insert_rowid(s));
}

static void free_batch(struct pending *batch)
{
    while (batch) {
        struct pending *next = batch->next;
        free(batch);
        batch = next;
    }
}

static void *writer_main(void *arg)
{
    struct store *s = arg;
    pthread_mutex_lock(&queue.lock);
    for (;;) {
        while (!queue.head && !queue.stopping)
            pthread_cond_wait(&queue.wake, &queue.lock);
        if (!queue.head)
            break;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += GATHER_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!queue.stopping && !queue.flush_wanted && queue.length < QUEUE_MAX / 2 &&
               pthread_cond_timedwait(&queue.wake, &queue.lock, &until) == 0)
            ;
        queue.flush_wanted = false;
        struct pending *batch = queue.head;
        uint64_t last = queue.queued;
        queue.head = NULL;
        queue.tail = &queue.head;
        queue.length = 0;
        pthread_mutex_unlock(&queue.lock);
        write_batch(s, batch);
        free_batch(batch);
        pthread_mutex_lock(&queue.lock);
        queue.written = last;
        pthread_cond_broadcast(&queue.done);
    }
    pthread_mutex_unlock(&queue.lock);
    store_close(s);
    return NULL;
}

int audit_writer_start(const struct store_location *loc)
{
    struct store *s;
    if (store_open(loc, &s) != 0)
        return AZ_ESTORE;
    pthread_mutex_lock(&queue.lock);
    queue.stopping = false;
    int rc = pthread_create(&queue.thread, NULL, writer_main, s);
    queue.running = rc == 0;
    pthread_mutex_unlock(&queue.lock);
    if (rc != 0) {
        store_close(s);
        LOG_ERROR("audit", "could not start the audit log's writer");
        return AZ_ESTORE;
    }
    return 0;
}

void audit_writer_stop(void)
{
    pthread_mutex_lock(&queue.lock);
    bool running = queue.running;
    queue.stopping = true;
    pthread_cond_signal(&queue.wake);
    pthread_mutex_unlock(&queue.lock);
    if (!running)
        return;
    pthread_join(queue.thread, NULL);
    pthread_mutex_lock(&queue.lock);
    queue.running = false;
    pthread_cond_broadcast(&queue.done);
    pthread_mutex_unlock(&queue.lock);
}

void audit_flush(void)
{
    pthread_mutex_lock(&queue.lock);
    uint64_t target = queue.queued;
    if (queue.running && queue.written < target) {
        queue.flush_wanted = true;
        pthread_cond_signal(&queue.wake);
    }
    while (queue.running && queue.written < target)
        pthread_cond_wait(&queue.done, &queue.lock);
    pthread_mutex_unlock(&queue.lock);
}

/* A copy of `e` in one allocation, timed now. */
static struct pending *pending_new(const struct audit_entry *e)
{
    const char *texts[] = {
        e->module, e->principal ? e->principal : "", e->action, e->scope, e->reason, e->request_id};
    size_t lens[ARRAY_SIZE(texts)], total = sizeof(struct pending);
    for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
        if (!texts[i])
            texts[i] = "";
        lens[i] = strlen(texts[i]) + 1;
        total += lens[i];
    }
    struct pending *p = xmalloc(total);
    char *at = (char *)(p + 1);
    const char **fields[] = {&p->module, &p->principal, &p->action,
                             &p->scope,  &p->reason,    &p->request_id};
    for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
        memcpy(at, texts[i], lens[i]);
        *fields[i] = at;
        at += lens[i];
    }
    p->next = NULL;
    p->at = clock_now_ms();
    p->allowed = e->allowed;
    return p;
}

void audit_record(struct store *s, const struct audit_entry *e)
{
    struct pending *p = pending_new(e);
    pthread_mutex_lock(&queue.lock);
    if (!queue.running) {
        /* No writer (the command line tools, seeding before the server starts): write now,
         * inside the caller's transaction if there is one. */
        pthread_mutex_unlock(&queue.lock);
        int64_t before = store_last_insert_rowid(s);
        if (insert_entries(s, p) == 0)
            trim(s, before, store_last_insert_rowid(s));
        else
            LOG_WARN("audit", "could not record a decision");
        free(p);
        return;
    }
    while (queue.length >= QUEUE_MAX && queue.running)
        pthread_cond_wait(&queue.done, &queue.lock);
    *queue.tail = p;
    queue.tail = &p->next;
    queue.length++;
    queue.queued++;
    if (queue.length == 1 || queue.length == QUEUE_MAX / 2)
        pthread_cond_signal(&queue.wake);
    pthread_mutex_unlock(&queue.lock);
}

int audit_write_json(struct store *s, const struct audit_filter *f, struct json_writer *w)
{
    /* What was decided before this read is in the answer. */
    audit_flush();
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
