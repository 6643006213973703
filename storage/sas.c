/*
 * storage/sas.c — shared access signatures signed with an account key: service SAS (sr=c for a
 * container and its blobs, sr=b for one blob) and account SAS (ss including b). The signature is
 * checked against the string-to-sign of the SAS's own version (2015-04-05 on), then its validity
 * window (st/se), allowed addresses (sip), protocol (spr), and — per operation, in
 * blob_authorize — its permissions (sp) and, for account SAS, resource types (srt).
 *
 * Not emulated yet: user delegation SAS, stored access policies (si).
 */
#include "storage/storage.h"

#include "common/error.h"
#include "common/frontdoor.h"
#include "common/store.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* "2026-11-27T10:00:00Z" (or without seconds, or a date) as ms since the epoch; false if not. */
static bool parse_time(const char *text, int64_t *ms)
{
    struct tm tm = {0};
    int n = sscanf(text, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                   &tm.tm_min, &tm.tm_sec);
    if (n != 3 && n != 5 && n != 6)
        return false;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *ms = (int64_t)timegm(&tm) * 1000;
    return true;
}

static const char *q(struct http_request *req, const char *name)
{
    const char *v = http_query(req, name);
    return v ? v : "";
}

/* The string the SAS in the query signs, by its kind and version. */
static const char *string_to_sign(struct http_request *req, const struct blob_request *b)
{
    const char *sv = q(req, "sv");
    if (*q(req, "ss")) { /* account SAS */
        bool scoped = strcmp(sv, "2020-12-06") >= 0;
        return arena_printf(req->arena, "%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s%s", b->account,
                            q(req, "sp"), q(req, "ss"), q(req, "srt"), q(req, "st"), q(req, "se"),
                            q(req, "sip"), q(req, "spr"), sv, scoped ? q(req, "ses") : "",
                            scoped ? "\n" : "");
    }
    bool blob = strcmp(q(req, "sr"), "c") != 0;
    const char *canonical =
        blob && b->blob
            ? arena_printf(req->arena, "/blob/%s/%s/%s", b->account, b->container, b->blob)
            : arena_printf(req->arena, "/blob/%s/%s", b->account, b->container ? b->container : "");
    const char *head =
        arena_printf(req->arena, "%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s", q(req, "sp"), q(req, "st"),
                     q(req, "se"), canonical, q(req, "si"), q(req, "sip"), q(req, "spr"), sv);
    const char *tail = arena_printf(req->arena, "%s\n%s\n%s\n%s\n%s", q(req, "rscc"),
                                    q(req, "rscd"), q(req, "rsce"), q(req, "rscl"), q(req, "rsct"));
    if (strcmp(sv, "2020-12-06") >= 0)
        return arena_printf(req->arena, "%s\n%s\n%s\n%s\n%s", head, q(req, "sr"),
                            q(req, "snapshot"), q(req, "ses"), tail);
    if (strcmp(sv, "2018-11-09") >= 0)
        return arena_printf(req->arena, "%s\n%s\n%s\n%s", head, q(req, "sr"), q(req, "snapshot"),
                            tail);
    return arena_printf(req->arena, "%s\n%s", head, tail);
}

/* Is `sig` the HMAC of `text` under one of the account's keys? */
static bool signed_by_account(struct http_request *req, const char *account, const char *text,
                              const char *sig)
{
    struct store_stmt *st;
    if (store_prepare(req->store, "SELECT key1, key2 FROM storage_account_keys WHERE account = ?1",
                      &st) != 0)
        return false;
    store_bind_text(st, 1, account);
    bool ok = false;
    for (int k = 0; store_step(st) == 1 && k == 0; k++) {
        for (int i = 0; i < 2 && !ok; i++) {
            const char *key64 = store_column_text(st, i);
            unsigned char *key = NULL;
            long klen = base64_decode(req->arena, key64, strlen(key64), &key);
            unsigned char mac[EVP_MAX_MD_SIZE];
            unsigned int maclen = 0;
            if (klen > 0 && HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)text,
                                 strlen(text), mac, &maclen))
                ok = strcmp(base64_encode(req->arena, mac, maclen), sig) == 0;
        }
    }
    store_finalize(st);
    return ok;
}

/* Is the client's address inside "a.b.c.d" or "a.b.c.d-e.f.g.h"? */
static bool address_allowed(struct http_request *req, const char *range)
{
    const char *peer = req->front_door ? req->front_door->client : req->peer;
    char addr[64];
    snprintf(addr, sizeof(addr), "%.*s", (int)strcspn(peer ? peer : "", ":"), peer ? peer : "");
    struct in_addr a, lo, hi;
    const char *dash = strchr(range, '-');
    char first[32];
    snprintf(first, sizeof(first), "%.*s", (int)(dash ? dash - range : (long)strlen(range)), range);
    if (inet_pton(AF_INET, addr, &a) != 1 || inet_pton(AF_INET, first, &lo) != 1 ||
        inet_pton(AF_INET, dash ? dash + 1 : first, &hi) != 1)
        return false;
    uint32_t x = ntohl(a.s_addr);
    return x >= ntohl(lo.s_addr) && x <= ntohl(hi.s_addr);
}

int blob_check_sas(struct http_request *req, struct blob_request *b)
{
    const char *sig = http_query(req, "sig");
    if (!signed_by_account(req, b->account, string_to_sign(req, b), sig))
        return http_fail(req, 403, "AuthenticationFailed",
                         "Server failed to authenticate the request. Make sure the value of "
                         "Authorization header is formed correctly including the signature.");
    int64_t start = 0, expiry = 0, now = clock_now_ms();
    bool has_start = *q(req, "st") != '\0';
    if (!parse_time(q(req, "se"), &expiry) || (has_start && !parse_time(q(req, "st"), &start)) ||
        now > expiry || (has_start && now < start))
        return http_fail(req, 403, "AuthenticationFailed",
                         "Server failed to authenticate the request. Signature not valid in the "
                         "specified time frame: Start [%s] - Expiry [%s].",
                         q(req, "st"), q(req, "se"));
    if (*q(req, "sip") && !address_allowed(req, q(req, "sip")))
        return http_fail(req, 403, "AuthorizationSourceIPMismatch",
                         "This request is not authorized to perform this operation using this "
                         "source IP %s.",
                         req->peer ? req->peer : "");
    if (*q(req, "si"))
        return http_fail(req, 403, "AuthenticationFailed",
                         "Stored access policies are not served by azsim: sign the SAS with its "
                         "own permissions and expiry.");
    if (*q(req, "ss") && !strchr(q(req, "ss"), 'b'))
        return http_fail(req, 403, "AuthorizationServiceMismatch",
                         "This request is not authorized to perform this operation using this "
                         "service.");
    /* A service SAS covers its container, or its one blob. */
    const char *sr = q(req, "sr");
    if (!*q(req, "ss") && (!b->container || (strcmp(sr, "c") != 0 && strcmp(sr, "b") != 0) ||
                           (strcmp(sr, "b") == 0 && !b->blob)))
        return http_fail(req, 403, "AuthorizationResourceTypeMismatch",
                         "This request is not authorized to perform this operation using this "
                         "resource type.");
    b->sas_permissions = q(req, "sp");
    b->sas_resource_types = *q(req, "ss") ? q(req, "srt") : NULL;
    return 0;
}

/* The SAS permission letter an action needs: r, w, d, l, c. */
static char permission_of(const char *action, bool listing, bool create)
{
    if (listing)
        return 'l';
    if (str_has_isuffix(action, "/read"))
        return 'r';
    if (str_has_isuffix(action, "/delete"))
        return 'd';
    return create ? 'c' : 'w';
}

int blob_check_sas_permission(struct http_request *req, const char *action, bool listing)
{
    const struct blob_request *b = blob_request(req);
    char need = permission_of(action, listing, false);
    const char *sp = b->sas_permissions;
    bool granted = strchr(sp, need) != NULL || (need == 'w' && strchr(sp, 'c'));
    /* Account SAS: the resource type too — s(ervice), c(ontainer), o(bject). */
    if (granted && b->sas_resource_types) {
        char type = b->blob ? 'o' : b->container && !listing ? 'c' : listing ? 'c' : 's';
        if (!b->container)
            type = 's';
        if (!strchr(b->sas_resource_types, type))
            return http_fail(req, 403, "AuthorizationResourceTypeMismatch",
                             "This request is not authorized to perform this operation using "
                             "this resource type.");
    }
    if (granted)
        return 0;
    return http_fail(req, 403, "AuthorizationPermissionMismatch",
                     "This request is not authorized to perform this operation using this "
                     "permission.");
}
