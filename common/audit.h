/*
 * audit.h — the audit log: every authorization decision of every module, with its reason, kept
 * in the store so `azsim audit` and GET /_azsim/audit can answer "why was I denied?".
 */
#ifndef AZSIM_AUDIT_H
#define AZSIM_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

struct store;
struct store_location;
struct json_writer;

/* The log keeps the newest entries only. */
#define AUDIT_KEEP 100000

struct audit_entry {
    const char *module;
    const char *principal;
    const char *action;
    const char *scope;
    bool allowed;
    const char *reason;
    const char *request_id;
};

/*
 * Record one decision. With the writer running (the server), the entry is queued and written
 * within moments by the writer's next batch, so an entry can be lost to a kill -9 in that
 * moment; without it (the command line tools), it is written now with `s`. Failures are
 * logged, never fatal.
 */
void audit_record(struct store *s, const struct audit_entry *e);

/* Start the writer thread with its own connection to the store at `loc`. Returns 0 or
 * AZ_ESTORE. */
int audit_writer_start(const struct store_location *loc);
/* Write whatever is queued and stop the writer; recording then writes directly again. */
void audit_writer_stop(void);
/* Return once every entry recorded before the call is in the store (in this process). */
void audit_flush(void);

struct audit_filter {
    const char *principal; /* NULL: any */
    int denied_only;       /* 1: only denials */
    int limit;             /* newest first; 0 means 100 */
};

/* Write {"value":[{time, module, principal, action, scope, allowed, reason, requestId}]},
 * after audit_flush(): a decision made before the call is in the answer. */
int audit_write_json(struct store *s, const struct audit_filter *f, struct json_writer *w);

#endif
