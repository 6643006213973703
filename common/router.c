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
    int i = 0;
    for (; i < np; i++) {
        const struct segment *ps = &psegs[i];
        if (is_tail_param(ps->p, ps->len)) {
            if (i >= nsegs || out->nparams == ROUTER_MAX_PARAMS)
                return false;
            /* The rest of the path as sent, inner slashes (even doubled ones) included. */
            const char *end = segs[nsegs - 1].p + segs[nsegs - 1].len;
            out->params[out->nparams].name = ps->p + 1;
            out->params[out->nparams].name_len = ps->len - 3;
            raw[out->nparams].p = segs[i].p;
            raw[out->nparams].len = (size_t)(end - segs[i].p);
            out->nparams++;
            return true;
        }
        if (i >= nsegs)
            return false;
        if (is_param(ps->p, ps->len)) {
            if (out->nparams == ROUTER_MAX_PARAMS)
                return false;
            out->params[out->nparams].name = ps->p + 1;
            out->params[out->nparams].name_len = ps->len - 2;
            raw[out->nparams] = segs[i];
            out->nparams++;
        } else if (ps->len != segs[i].len || strncasecmp(ps->p, segs[i].p, ps->len) != 0) {
            return false;
        }
    }
    return i == nsegs;
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
