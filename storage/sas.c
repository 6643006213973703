/*
 * storage/sas.c — shared access signatures: service SAS (sr=c for a container and its blobs,
 * sr=b for one blob) and account SAS (ss including b) signed with an account key; user
 * delegation SAS (skoid…) signed with a key Get User Delegation Key handed an Entra ID caller.
 * The signature is checked against the string-to-sign of the SAS's own version (2015-04-05 on),
 * then its validity window (st/se, or its stored access policy's with si=), allowed addresses
 * (sip), protocol (spr), and — per operation, in blob_authorize — its permissions (sp), for
 * account SAS its resource types (srt), and for user delegation SAS the delegator's roles now.
 *
 * A user delegation key is not stored: its value is an HMAC, under a secret of this azsim's, of
 * the account and the signed fields the SAS repeats (skoid, sktid, skt, ske, sks, skv), so any
 * SAS names the key it was made with and a forged field changes the key.
 */
#include "storage/storage.h"

#include "storage/xml.h"

#include "common/error.h"
#include "common/frontdoor.h"
#include "common/token.h"
#include "common/store.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DELEGATION_SECRET "storage.user-delegation-key"
#define DELEGATION_ACTION                                                                          \
    "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action"
#define MAX_DELEGATION_MS (7LL * 24 * 3600 * 1000)

bool blob_parse_time(const char *text, int64_t *ms)
{
    struct tm tm = {0};
    int n = sscanf(text, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                   &tm.tm_min, &tm.tm_sec);
    if (n != 3 && n != 5 && n != 6)
        return false;
    /* ISO 8601 fields in range, as Storage requires: "99999999-1-1" overflowed the product
     * below, and a month of INT_MIN the `- 1` (found by tests/fuzz/fuzz_storage.c). */
    if (tm.tm_year < 1 || tm.tm_year > 9999 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
        tm.tm_mday > 31 || tm.tm_hour < 0 || tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 ||
        tm.tm_sec < 0 || tm.tm_sec > 59)
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

/* The canonicalized resource a service or user delegation SAS signs. */
static const char *canonical_resource(struct http_request *req, const struct blob_request *b)
{
    if (strcmp(q(req, "sr"), "c") != 0 && b->blob)
        return arena_printf(req->arena, "/blob/%s/%s/%s", b->account, b->container, b->blob);
    return arena_printf(req->arena, "/blob/%s/%s", b->account, b->container ? b->container : "");
}

/* "name:value\n" for each request header srh= names (2026-04-06 on), or for each query
 * parameter srq= names "\nname:value": the request's own values, signed. */
static const char *signed_request_values(struct http_request *req, const char *names, bool query)
{
    struct buf out = {0};
    buf_puts(&out, "");
    char *list = arena_strdup(req->arena, names);
    for (char *save = NULL, *n = strtok_r(list, ",", &save); n; n = strtok_r(NULL, ",", &save)) {
        const char *v = query ? http_query(req, n) : http_header(req, n);
        buf_printf(&out, query ? "\n%s:%s" : "%s:%s\n", n, v ? v : "");
    }
    const char *text = arena_strdup(req->arena, out.data);
    buf_free(&out);
    return text;
}

/* The string the SAS in the query signs, by its kind and version. */
static const char *string_to_sign(struct http_request *req, const struct blob_request *b)
{
    const char *sv = q(req, "sv");
    bool since_2020_12 = strcmp(sv, "2020-12-06") >= 0;
    if (*q(req, "ss")) { /* account SAS */
        return arena_printf(req->arena, "%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s%s", b->account,
                            q(req, "sp"), q(req, "ss"), q(req, "srt"), q(req, "st"), q(req, "se"),
                            q(req, "sip"), q(req, "spr"), sv, since_2020_12 ? q(req, "ses") : "",
                            since_2020_12 ? "\n" : "");
    }
    const char *tail = arena_printf(req->arena, "%s\n%s\n%s\n%s\n%s", q(req, "rscc"),
                                    q(req, "rscd"), q(req, "rsce"), q(req, "rscl"), q(req, "rsct"));
    const char *window = arena_printf(req->arena, "%s\n%s\n%s\n%s", q(req, "sp"), q(req, "st"),
                                      q(req, "se"), canonical_resource(req, b));
    if (*q(req, "skoid")) { /* user delegation SAS (2018-11-09 on) */
        struct buf t = {0};
        buf_printf(&t, "%s\n%s\n%s\n%s\n%s\n%s\n%s\n", window, q(req, "skoid"), q(req, "sktid"),
                   q(req, "skt"), q(req, "ske"), q(req, "sks"), q(req, "skv"));
        if (strcmp(sv, "2020-02-10") >= 0)
            buf_printf(&t, "%s\n%s\n%s\n", q(req, "saoid"), q(req, "suoid"), q(req, "scid"));
        if (strcmp(sv, "2025-07-05") >= 0)
            buf_printf(&t, "%s\n%s\n", q(req, "skdutid"), q(req, "sduoid"));
        buf_printf(&t, "%s\n%s\n%s\n%s\n%s\n", q(req, "sip"), q(req, "spr"), sv, q(req, "sr"),
                   q(req, "snapshot"));
        if (since_2020_12)
            buf_printf(&t, "%s\n", q(req, "ses"));
        if (strcmp(sv, "2026-04-06") >= 0)
            buf_printf(&t, "%s\n%s\n", signed_request_values(req, q(req, "srh"), false),
                       signed_request_values(req, q(req, "srq"), true));
        buf_puts(&t, tail);
        const char *text = arena_strdup(req->arena, t.data);
        buf_free(&t);
        return text;
    }
    const char *head = arena_printf(req->arena, "%s\n%s\n%s\n%s\n%s", window, q(req, "si"),
                                    q(req, "sip"), q(req, "spr"), sv);
    if (since_2020_12)
        return arena_printf(req->arena, "%s\n%s\n%s\n%s\n%s", head, q(req, "sr"),
                            q(req, "snapshot"), q(req, "ses"), tail);
    if (strcmp(sv, "2018-11-09") >= 0)
        return arena_printf(req->arena, "%s\n%s\n%s\n%s", head, q(req, "sr"), q(req, "snapshot"),
                            tail);
    return arena_printf(req->arena, "%s\n%s", head, tail);
}

const char *blob_sas_string_to_sign(struct http_request *req, const struct blob_request *b)
{
    return string_to_sign(req, b);
}

/* base64(HMAC-SHA256(key, text)); NULL when the key is not base64. */
static const char *sign(struct http_request *req, const unsigned char *key, size_t klen,
                        const char *text)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (klen == 0 || !HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)text, strlen(text),
                           mac, &maclen))
        return NULL;
    return base64_encode(req->arena, mac, maclen);
}

/*
 * The signatures a thread computed last (struct blob_state) answer again: a client sends the same
 * SAS with request after request, and an HMAC (OpenSSL 3 looks the algorithm up on every call)
 * costs more than the rest of a small GET's authentication. A signature is a function of key and
 * text alone, so a hit answers exactly what signing again would.
 */
const char *blob_sign(struct http_request *req, const char *key64, const char *text)
{
    struct blob_state *st = req->module_state;
    for (size_t i = 0; st && i < BLOB_SIGNED_TEXTS; i++) {
        const struct blob_signed_text *t = &st->signed_texts[i];
        if (t->mac && strcmp(t->text, text) == 0 && strcmp(t->key64, key64) == 0)
            return arena_strdup(req->arena, t->mac);
    }
    unsigned char *key = NULL;
    long klen = base64_decode(req->arena, key64, strlen(key64), &key);
    const char *mac = klen > 0 ? sign(req, key, (size_t)klen, text) : NULL;
    if (st && mac) {
        struct blob_signed_text *t = &st->signed_texts[st->next_signed];
        st->next_signed = (st->next_signed + 1) % BLOB_SIGNED_TEXTS;
        free(t->key64);
        free(t->text);
        free(t->mac);
        t->key64 = xstrdup(key64);
        t->text = xstrdup(text);
        t->mac = xstrdup(mac);
    }
    return mac;
}

bool blob_signed_by_account(struct http_request *req, const struct blob_request *b,
                            const char *text, const char *sig)
{
    for (int i = 0; i < 2; i++) {
        const char *mac = b->keys[i] ? blob_sign(req, b->keys[i], text) : NULL;
        if (mac && strcmp(mac, sig) == 0)
            return true;
    }
    return false;
}

/* The value of the user delegation key with these signed fields, for `account`; NULL on a
 * store failure. */
static const char *delegation_key(struct http_request *req, const char *account, const char *oid,
                                  const char *tid, const char *start, const char *expiry,
                                  const char *service, const char *version)
{
    unsigned char secret[32];
    if (store_meta_secret(req->store, DELEGATION_SECRET, secret) != 0)
        return NULL;
    return sign(req, secret, sizeof(secret),
                arena_printf(req->arena, "%s\n%s\n%s\n%s\n%s\n%s\n%s", account, oid, tid, start,
                             expiry, service, version));
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

static int fail_signature(struct http_request *req)
{
    return http_fail(req, 403, "AuthenticationFailed",
                     "Server failed to authenticate the request. Make sure the value of "
                     "Authorization header is formed correctly including the signature.");
}

/* Is the signature of the SAS in the query right: made with an account key, or with the user
 * delegation key its fields name (which must be one of this account's tenant, in force)? */
static int check_signature(struct http_request *req, struct blob_request *b)
{
    const char *text = string_to_sign(req, b);
    const char *sig = http_query(req, "sig");
    if (!*q(req, "skoid")) {
        if (!b->shared_key)
            return http_fail(req, 403, "KeyBasedAuthenticationNotPermitted",
                             "Key based authentication is not permitted on this storage account.");
        return blob_signed_by_account(req, b, text, sig) ? 0 : fail_signature(req);
    }
    const char *key = delegation_key(req, b->account, q(req, "skoid"), q(req, "sktid"),
                                     q(req, "skt"), q(req, "ske"), q(req, "sks"), q(req, "skv"));
    const char *mac = key ? blob_sign(req, key, text) : NULL;
    if (!mac || strcmp(mac, sig) != 0)
        return fail_signature(req);
    int64_t key_start = 0, key_expiry = 0, now = clock_now_ms();
    if (!blob_parse_time(q(req, "skt"), &key_start) ||
        !blob_parse_time(q(req, "ske"), &key_expiry) || now < key_start || now > key_expiry)
        return http_fail(req, 403, "AuthenticationFailed",
                         "Server failed to authenticate the request. The user delegation key is "
                         "not valid at this time: Start [%s] - Expiry [%s].",
                         q(req, "skt"), q(req, "ske"));
    if (!str_ieq(q(req, "sktid"), b->tenant) || !strchr(q(req, "sks"), 'b'))
        return fail_signature(req);
    b->delegator = arena_strdup(req->arena, q(req, "skoid"));
    return 0;
}

/* A service SAS's permissions and window, from the query or the stored access policy it names
 * (each given in one place only, as Azure requires). */
static int sas_terms(struct http_request *req, const struct blob_request *b, const char **sp,
                     const char **st, const char **se)
{
    *sp = q(req, "sp");
    *st = q(req, "st");
    *se = q(req, "se");
    const char *si = q(req, "si");
    if (!*si)
        return 0;
    struct blob_policy policy;
    int rc = *q(req, "ss") || *q(req, "skoid") ? AZ_ENOTFOUND
                                               : blob_find_policy(req, b->container, si, &policy);
    if (rc == AZ_ESTORE)
        return http_fail(req, 500, "InternalError", "The server encountered an internal error.");
    if (rc != 0 || (*policy.permission && **sp) || (*policy.start && **st) ||
        (*policy.expiry && **se))
        return http_fail(req, 403, "AuthenticationFailed",
                         "Server failed to authenticate the request. The signed identifier '%s' "
                         "does not name a stored access policy of this container, or repeats one "
                         "of its fields.",
                         si);
    if (!**sp)
        *sp = policy.permission;
    if (!**st)
        *st = policy.start;
    if (!**se)
        *se = policy.expiry;
    return 0;
}

int blob_check_sas(struct http_request *req, struct blob_request *b)
{
    if (check_signature(req, b) != 0)
        return AZ_EREPLIED;
    const char *sp, *st, *se;
    if (sas_terms(req, b, &sp, &st, &se) != 0)
        return AZ_EREPLIED;
    int64_t start = 0, expiry = 0, now = clock_now_ms();
    if (!blob_parse_time(se, &expiry) || (*st && !blob_parse_time(st, &start)) || now > expiry ||
        (*st && now < start))
        return http_fail(req, 403, "AuthenticationFailed",
                         "Server failed to authenticate the request. Signature not valid in the "
                         "specified time frame: Start [%s] - Expiry [%s].",
                         st, se);
    if (*q(req, "sip") && !address_allowed(req, q(req, "sip")))
        return http_fail(req, 403, "AuthorizationSourceIPMismatch",
                         "This request is not authorized to perform this operation using this "
                         "source IP %s.",
                         req->peer ? req->peer : "");
    if (strcmp(q(req, "spr"), "https") == 0 && !req->tls && !req->front_door)
        return http_fail(req, 403, "AuthorizationProtocolMismatch",
                         "This request is not authorized to perform this operation using this "
                         "protocol.");
    if (*q(req, "ss") && !strchr(q(req, "ss"), 'b'))
        return http_fail(req, 403, "AuthorizationServiceMismatch",
                         "This request is not authorized to perform this operation using this "
                         "service.");
    /* A service or user delegation SAS covers its container, or its one blob. */
    const char *sr = q(req, "sr");
    if (!*q(req, "ss") && (!b->container || (strcmp(sr, "c") != 0 && strcmp(sr, "b") != 0) ||
                           (strcmp(sr, "b") == 0 && !b->blob)))
        return http_fail(req, 403, "AuthorizationResourceTypeMismatch",
                         "This request is not authorized to perform this operation using this "
                         "resource type.");
    b->sas_permissions = sp;
    b->sas_resource_types = *q(req, "ss") ? q(req, "srt") : NULL;
    return 0;
}

/* ---- Get User Delegation Key ----------------------------------------------------------------- */

static int fail_key_info(struct http_request *req, const char *message)
{
    return http_fail(req, 400, "InvalidXmlNodeValue",
                     "The value for one of the XML nodes is not in the correct format. %s",
                     message);
}

/* POST /?restype=service&comp=userdelegationkey with <KeyInfo><Start/><Expiry/></KeyInfo>: a key
 * for user delegation SAS, to an Entra ID caller allowed generateUserDelegationKey. */
int blob_get_user_delegation_key(struct http_request *req)
{
    const struct blob_request *b = blob_request(req);
    if (!b->bearer && !b->anonymous)
        return http_fail(req, 403, "AuthenticationFailed",
                         "Server failed to authenticate the request. Only a Microsoft Entra ID "
                         "(OAuth) token may request a user delegation key.");
    if (blob_authorize(req, false, DELEGATION_ACTION, false) != 0)
        return AZ_EREPLIED;
    const char *body = http_body(req);
    struct xml_span info;
    if (!xml_find((struct xml_span){body, body + req->body_len}, "KeyInfo", &info))
        return http_fail(req, 400, "InvalidXmlDocument",
                         "XML specified is not syntactically valid: a <KeyInfo> element is "
                         "required.");
    const char *start = xml_child(req->arena, info, "Start");
    const char *expiry = xml_child(req->arena, info, "Expiry");
    int64_t now = clock_now_ms(), from = now, until = 0;
    char now_text[40];
    if (!start || !*start) {
        clock_format_iso8601(now - now % 1000, now_text, sizeof(now_text));
        start = now_text;
    }
    if (!expiry || !blob_parse_time(expiry, &until) || !blob_parse_time(start, &from))
        return fail_key_info(req, "Start and Expiry must be ISO 8601 UTC times.");
    if (until <= now || until <= from)
        return fail_key_info(req, "The Expiry must be after the Start and in the future.");
    if (until - now > MAX_DELEGATION_MS)
        return fail_key_info(req, "The Expiry must be within 7 days of the current time.");
    const char *version = http_header(req, "x-ms-version");
    if (!version)
        version = "2021-12-02";
    const char *value =
        delegation_key(req, b->account, req->caller->oid, b->tenant, start, expiry, "b", version);
    if (!value)
        return http_fail(req, 500, "InternalError", "The server encountered an internal error.");
    struct buf x = {0};
    buf_puts(&x, "\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"utf-8\"?><UserDelegationKey>");
    xml_element(&x, "SignedOid", req->caller->oid);
    xml_element(&x, "SignedTid", b->tenant);
    xml_element(&x, "SignedStart", start);
    xml_element(&x, "SignedExpiry", expiry);
    xml_element(&x, "SignedService", "b");
    xml_element(&x, "SignedVersion", version);
    xml_element(&x, "Value", value);
    buf_puts(&x, "</UserDelegationKey>");
    http_reply(req, 200, "application/xml", x.data, x.len);
    buf_free(&x);
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
