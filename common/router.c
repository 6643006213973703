/*
 * router.c — see router.h. Tables are small (tens of lines per module), so a linear scan over
 * pre-split segments is fast enough and keeps matching order obvious.
 */
#include "router.h"

#include "mem.h"
#include "util.h"

#include <string.h>
#include <strings.h>

const char *http_method_name(enum http_method m)
{
    switch (m) {
    case HTTP_GET: return "GET";
    case HTTP_HEAD: return "HEAD";
    case HTTP_POST: return "POST";
    case HTTP_PUT: return "PUT";
    case HTTP_PATCH: return "PATCH";
    case HTTP_DELETE: return "DELETE";
    case HTTP_OPTIONS: return "OPTIONS";
    }
    return "?";
}

/* Patterns are ours and short; paths are the client's and may be long (a blob name can have
 * 254 segments), so a path's segments are counted and allocated per request. */
#define MAX_PATTERN_SEGMENTS 32

struct segment {
    const char *p; /* raw text in the path */
    size_t len;
};

static int count_segments(const char *path)
{
    int n = 0;
    for (const char *p = path; *p; p++) {
        if (*p != '/' && (p == path || p[-1] == '/'))
            n++;
    }
    return n;
}

/* Split at '/', dropping empty segments, into at most `max` segments; returns the count or -1
 * when there are more. */
static int split(const char *path, struct segment *segs, int max)
{
    int n = 0;
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && *p != '/')
            p++;
        if (n == max)
            return -1;
        segs[n].p = start;
        segs[n].len = (size_t)(p - start);
        n++;
    }
    return n;
}

static bool is_param(const char *seg, size_t len)
{
    return len >= 2 && seg[0] == '{' && seg[len - 1] == '}';
}

static bool is_tail_param(const char *seg, size_t len)
{
    return is_param(seg, len) && len >= 3 && seg[len - 2] == '*';
}

/*
 * Match one pattern. Returns true and fills `out` (values still raw, pointing into the path)
 * when it matches. `out->params[i].value` is set later, after the method check, so decoding
 * happens once, for the route that is used.
 */
static bool match_pattern(const char *pattern, const struct segment *segs, int nsegs,
                          struct route_match *out, struct segment *raw)
{
    struct segment psegs[MAX_PATTERN_SEGMENTS];
    int np = split(pattern, psegs, MAX_PATTERN_SEGMENTS);
    if (np < 0)
        return false;
    out->nparams = 0;
    int j = 0; /* the next path segment */
    for (int i = 0; i < np; i++) {
        const struct segment *ps = &psegs[i];
        bool tail = is_tail_param(ps->p, ps->len);
        if (tail || is_param(ps->p, ps->len)) {
            if (out->nparams == ROUTER_MAX_PARAMS)
                return false;
            struct route_param *param = &out->params[out->nparams];
            param->name = ps->p + 1;
            param->name_len = ps->len - (tail ? 3 : 2);
            if (tail) {
                /* A final {x*} takes the rest of the path (at least one segment: a blob name);
                 * one in the middle takes what the segments after it leave over, possibly
                 * nothing (an ARM {scope*} of "/"). Inner slashes stay as sent. */
                int after = np - i - 1;
                int span = nsegs - j - after;
                if (span < (after == 0 ? 1 : 0))
                    return false;
                if (span == 0) {
                    raw[out->nparams].p = "";
                    raw[out->nparams].len = 0;
                } else {
                    const struct segment *last = &segs[j + span - 1];
                    raw[out->nparams].p = segs[j].p;
                    raw[out->nparams].len = (size_t)(last->p + last->len - segs[j].p);
                }
                j += span;
            } else {
                if (j >= nsegs)
                    return false;
                raw[out->nparams] = segs[j++];
            }
            out->nparams++;
        } else if (j >= nsegs || ps->len != segs[j].len ||
                   strncasecmp(ps->p, segs[j].p, ps->len) != 0) {
            return false;
        } else {
            j++;
        }
    }
    return j == nsegs;
}

enum router_result router_match(const struct route *routes, size_t n, enum http_method method,
                                const char *path, struct arena *a, struct route_match *out,
                                unsigned *allowed)
{
    memset(out, 0, sizeof(*out));
    if (allowed)
        *allowed = 0;

    /* Literal segments compare against the raw path, so the whole path must decode cleanly
     * before anything is matched: a bad escape anywhere is the client's error, not a 404. */
    size_t decoded_len;
    const char *decoded = percent_decode(a, path, strlen(path), false, &decoded_len);
    if (!decoded || !utf8_valid(decoded, decoded_len))
        return ROUTER_BAD_PATH;

    int nsegs = count_segments(path);
    struct segment *segs = arena_alloc(a, ((size_t)nsegs + 1) * sizeof(*segs));
    split(path, segs, nsegs);

    bool path_matched = false;
    struct segment raw[ROUTER_MAX_PARAMS];
    for (size_t r = 0; r < n; r++) {
        struct route_match m;
        if (!match_pattern(routes[r].pattern, segs, nsegs, &m, raw))
            continue;
        path_matched = true;
        bool method_ok = routes[r].method == method ||
                         /* HEAD is GET without the body, unless a route says otherwise. */
                         (method == HTTP_HEAD && routes[r].method == HTTP_GET);
        if (!method_ok) {
            if (allowed)
                *allowed |= routes[r].method;
            continue;
        }
        /* A route written for HEAD itself wins over GET's. */
        if (method == HTTP_HEAD && routes[r].method == HTTP_GET) {
            bool head_route_later = false;
            for (size_t k = r + 1; k < n && !head_route_later; k++) {
                struct route_match m2;
                struct segment raw2[ROUTER_MAX_PARAMS];
                head_route_later = routes[k].method == HTTP_HEAD &&
                                   match_pattern(routes[k].pattern, segs, nsegs, &m2, raw2);
            }
            if (head_route_later)
                continue;
        }
        for (size_t i = 0; i < m.nparams; i++) {
            /* Cannot fail: the whole path decoded above. */
            m.params[i].value = percent_decode(a, raw[i].p, raw[i].len, false, NULL);
        }
        m.route = &routes[r];
        *out = m;
        return ROUTER_FOUND;
    }
    if (path_matched && allowed && (*allowed & HTTP_GET))
        *allowed |= HTTP_HEAD;
    return path_matched ? ROUTER_BAD_METHOD : ROUTER_NOT_FOUND;
}

const char *route_match_param(const struct route_match *m, const char *name)
{
    for (size_t i = 0; i < m->nparams; i++) {
        if (str_ieqn(m->params[i].name, m->params[i].name_len, name))
            return m->params[i].value;
    }
    return NULL;
}
