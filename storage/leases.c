/*
 * storage/leases.c — leases on blobs and containers: acquire (15-60 s or infinite), renew,
 * change, release and break, and what a lease means for everything else — a leased blob or
 * container is written or deleted only by a request naming its lease (412 otherwise), and
 * GET/HEAD and listings show its status, state and duration.
 *
 * A lease is four columns of the blob's or container's row: its id, its duration (-1 infinite),
 * when it ends (ms; 0 never) and whether it was broken; its state follows from them and the time.
 */
#include "storage/storage.h"

#include "common/error.h"
#include "common/store.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum lease_state { LEASE_AVAILABLE, LEASE_LEASED, LEASE_EXPIRED, LEASE_BREAKING, LEASE_BROKEN };

static const char *const state_names[] = {"available", "leased", "expired", "breaking", "broken"};

struct lease {
    const char *id;
    int64_t duration; /* seconds; -1 infinite */
    int64_t ends;     /* ms; 0 never */
    bool broken;
};

static enum lease_state state_of(const struct lease *l, int64_t now)
{
    if (!l->id)
        return LEASE_AVAILABLE;
    if (l->broken)
        return l->ends && now < l->ends ? LEASE_BREAKING : LEASE_BROKEN;
    return l->duration == -1 || now < l->ends ? LEASE_LEASED : LEASE_EXPIRED;
}

static bool locked(enum lease_state s)
{
    return s == LEASE_LEASED || s == LEASE_BREAKING;
}

/* The request's blob's row, or its container's when it names no blob. */
static const char *table_of(const struct blob_request *b)
{
    return b->blob ? "blobs" : "blob_containers";
}

static const char *key_of(const struct blob_request *b)
{
    return b->blob ? "account = ?1 AND container = ?2 AND name = ?3"
                   : "account = ?1 AND name = ?2 AND ?3 IS NULL";
}

/* The lease of the request's blob or container: 0, AZ_ENOTFOUND or AZ_ESTORE. */
static int load(struct http_request *req, struct lease *out)
{
    const struct blob_request *b = blob_request(req);
    struct store_stmt *st;
    if (store_prepare(req->store,
                      arena_printf(req->arena,
                                   "SELECT lease_id, coalesce(lease_duration, -1), "
                                   "coalesce(lease_ends, 0), lease_broken FROM %s WHERE %s",
                                   table_of(b), key_of(b)),
                      &st) != 0)
        return AZ_ESTORE;
    store_bind_text(st, 1, b->account);
    store_bind_text(st, 2, b->container);
    store_bind_text(st, 3, b->blob);
    int rc = store_step(st);
    if (rc == 1) {
        out->id =
            store_column_text(st, 0) ? arena_strdup(req->arena, store_column_text(st, 0)) : NULL;
        out->duration = store_column_int64(st, 1);
        out->ends = store_column_int64(st, 2);
        out->broken = store_column_int64(st, 3) != 0;
    }
    store_finalize(st);
    return rc == 1 ? 0 : rc == 0 ? AZ_ENOTFOUND : AZ_ESTORE;
}

static int save(struct http_request *req, const struct lease *l)
{
    const struct blob_request *b = blob_request(req);
    return store_run(req->store,
                     arena_printf(req->arena,
                                  "UPDATE %s SET lease_id = ?4, lease_duration = ?5, "
                                  "lease_ends = ?6, lease_broken = ?7 WHERE %s",
                                  table_of(b), key_of(b)),
                     "ssssiii", b->account, b->container, b->blob, l->id, l->duration, l->ends,
                     (int64_t)l->broken);
}

static int conflict(struct http_request *req, const char *code, const char *message)
{
    return http_fail(req, 409, code, "%s", message);
}

int blob_lease_check(struct http_request *req)
{
    struct lease l;
    int rc = load(req, &l);
    if (rc == AZ_ENOTFOUND)
        return 0; /* nothing there yet, nothing leased */
    if (rc != 0)
        return http_fail(req, 500, "InternalError", "The lease could not be read.");
    return blob_lease_check_row(req, l.id, l.duration, l.ends, l.broken);
}

int blob_lease_check_row(struct http_request *req, const char *id, int64_t duration, int64_t ends,
                         bool broken)
{
    struct lease l = {.id = id, .duration = duration, .ends = ends, .broken = broken};
    const char *given = http_header(req, "x-ms-lease-id");
    bool held = locked(state_of(&l, clock_now_ms()));
    const char *what = blob_request(req)->blob ? "blob" : "container";
    if (held && !given)
        return http_fail(req, 412, "LeaseIdMissing",
                         "There is currently a lease on the %s and no lease ID was specified in "
                         "the request.",
                         what);
    if (held && !str_ieq(given, l.id))
        return http_fail(req, 412,
                         blob_request(req)->blob ? "LeaseIdMismatchWithBlobOperation"
                                                 : "LeaseIdMismatchWithContainerOperation",
                         "The lease ID specified did not match the lease ID for the %s.", what);
    if (!held && given)
        return http_fail(req, 412,
                         blob_request(req)->blob ? "LeaseNotPresentWithBlobOperation"
                                                 : "LeaseNotPresentWithContainerOperation",
                         "There is currently no lease on the %s.", what);
    return 0;
}

void blob_lease_describe(const char *id, int64_t duration, int64_t ends, bool broken,
                         struct blob_lease_view *out)
{
    struct lease l = {.id = id, .duration = duration, .ends = ends, .broken = broken};
    enum lease_state s = state_of(&l, clock_now_ms());
    out->status = locked(s) ? "locked" : "unlocked";
    out->state = state_names[s];
    out->duration = s != LEASE_LEASED ? NULL : duration == -1 ? "infinite" : "fixed";
}

void blob_lease_headers(struct http_request *req, const char *id, int64_t duration, int64_t ends,
                        bool broken)
{
    struct blob_lease_view v;
    blob_lease_describe(id, duration, ends, broken, &v);
    http_set_header(req, "x-ms-lease-status", v.status);
    http_set_header(req, "x-ms-lease-state", v.state);
    if (v.duration)
        http_set_header(req, "x-ms-lease-duration", v.duration);
}

void blob_lease_xml(struct buf *x, const char *id, int64_t duration, int64_t ends, bool broken)
{
    struct blob_lease_view v;
    blob_lease_describe(id, duration, ends, broken, &v);
    buf_printf(x, "<LeaseStatus>%s</LeaseStatus><LeaseState>%s</LeaseState>", v.status, v.state);
    if (v.duration)
        buf_printf(x, "<LeaseDuration>%s</LeaseDuration>", v.duration);
}

/* PUT ?comp=lease (and ?restype=container&comp=lease): x-ms-lease-action decides. */
int blob_lease(struct http_request *req)
{
    const struct blob_request *b = blob_request(req);
    if (blob_authorize(req, b->blob != NULL,
                       b->blob
                           ? "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write"
                           : "Microsoft.Storage/storageAccounts/blobServices/containers/write",
                       false) != 0)
        return AZ_EREPLIED;
    struct lease l;
    int rc = load(req, &l);
    if (rc == AZ_ENOTFOUND)
        return b->blob ? http_fail(req, 404, "BlobNotFound", "The specified blob does not exist.")
                       : http_fail(req, 404, "ContainerNotFound",
                                   "The specified container does not exist.");
    if (rc != 0)
        return http_fail(req, 500, "InternalError", "The lease could not be read.");
    const char *action = http_header(req, "x-ms-lease-action");
    const char *given = http_header(req, "x-ms-lease-id");
    const char *proposed = http_header(req, "x-ms-proposed-lease-id");
    int64_t now = clock_now_ms();
    enum lease_state s = state_of(&l, now);
    int status = 200;
    /* Lease ids are GUIDs; Azure refuses any other before looking at the lease. */
    if ((given && !uuid_valid(given)) || (proposed && !uuid_valid(proposed)))
        return http_fail(req, 400, "InvalidHeaderValue",
                         "The value for one of the HTTP headers is not in the correct format.");
    if (action && str_ieq(action, "acquire")) {
        const char *d = http_header(req, "x-ms-lease-duration");
        char *end = NULL;
        int64_t duration = d ? strtoll(d, &end, 10) : -1;
        if (d && (end == d || *end != '\0'))
            duration = 0; /* not a number: refused below */
        if (duration != -1 && (duration < 15 || duration > 60))
            return http_fail(req, 400, "InvalidHeaderValue",
                             "The value for one of the HTTP headers is not in the correct format: "
                             "x-ms-lease-duration must be -1 or between 15 and 60.");
        if (s == LEASE_BREAKING)
            return conflict(req, "LeaseIsBreakingAndCannotBeAcquired",
                            "There is already a breaking lease present.");
        if (s == LEASE_LEASED && !(proposed && str_ieq(proposed, l.id)))
            return conflict(req, "LeaseAlreadyPresent", "There is already a lease present.");
        char fresh[37];
        uuid_v4(fresh);
        l.id = proposed ? proposed : arena_strdup(req->arena, fresh);
        l.duration = duration;
        l.ends = duration == -1 ? 0 : now + duration * 1000;
        l.broken = false;
        status = 201;
    } else if (action && (str_ieq(action, "renew") || str_ieq(action, "change") ||
                          str_ieq(action, "release"))) {
        if (!given || !l.id || !str_ieq(given, l.id))
            return conflict(req, "LeaseIdMismatchWithLeaseOperation",
                            "The lease ID specified did not match the lease ID for the blob.");
        if (str_ieq(action, "renew")) {
            if (s == LEASE_BREAKING || s == LEASE_BROKEN)
                return conflict(req, "LeaseIsBrokenAndCannotBeRenewed",
                                "The lease ID matched, but the lease has been broken explicitly "
                                "and cannot be renewed.");
            l.ends = l.duration == -1 ? 0 : now + l.duration * 1000;
        } else if (str_ieq(action, "change")) {
            if (!proposed)
                return http_fail(req, 400, "MissingRequiredHeader",
                                 "An HTTP header that's mandatory for this request is not "
                                 "specified: x-ms-proposed-lease-id.");
            l.id = proposed;
        } else {
            l.id = NULL;
            l.broken = false;
        }
    } else if (action && str_ieq(action, "break")) {
        if (s == LEASE_AVAILABLE)
            return conflict(req, "LeaseNotPresentWithLeaseOperation",
                            "There is currently no lease on the blob.");
        const char *p = http_header(req, "x-ms-lease-break-period");
        int64_t period = p ? strtoll(p, NULL, 10) : -1;
        if (p && (period < 0 || period > 60))
            return http_fail(req, 400, "InvalidHeaderValue",
                             "x-ms-lease-break-period must be between 0 and 60.");
        /* A fixed lease breaks when it would have ended, unless a shorter period is given. */
        int64_t remaining = l.duration == -1 || s != LEASE_LEASED ? 0 : (l.ends - now) / 1000;
        if (period < 0 || (l.duration != -1 && s == LEASE_LEASED && period > remaining))
            period = remaining;
        if (s != LEASE_BREAKING) {
            l.broken = true;
            l.ends = now + period * 1000;
        }
        status = 202;
        http_set_header(req, "x-ms-lease-time",
                        arena_printf(req->arena, "%lld",
                                     (long long)(l.ends > now ? (l.ends - now + 999) / 1000 : 0)));
    } else {
        return http_fail(req, 400, "InvalidHeaderValue",
                         "x-ms-lease-action must be acquire, renew, change, release or break.");
    }
    if (save(req, &l) != 0)
        return http_fail(req, 500, "InternalError", "The lease could not be saved.");
    if (l.id && status != 202)
        http_set_header(req, "x-ms-lease-id", l.id);
    return http_reply(req, status, NULL, "", 0);
}
