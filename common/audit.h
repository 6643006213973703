/*
 * audit.h — the audit log: every authorization decision of every module, with its reason, kept
 * in the store so `azsim audit` and GET /_azsim/audit can answer "why was I denied?".
 */
#ifndef AZSIM_AUDIT_H
#define AZSIM_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

struct store;
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

/* Record one decision (its own small transaction). Failures are logged, never fatal. */
void audit_record(struct store *s, const struct audit_entry *e);

struct audit_filter {
    const char *principal; /* NULL: any */
    int denied_only;       /* 1: only denials */
    int limit;             /* newest first; 0 means 100 */
};

/* Write {"value":[{time, module, principal, action, scope, allowed, reason, requestId}]}. */
int audit_write_json(struct store *s, const struct audit_filter *f, struct json_writer *w);

#endif
