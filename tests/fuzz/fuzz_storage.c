/*
 * fuzz_storage.c — libFuzzer harness for Blob Storage's request parsing and authentication
 * (storage/storage.c, storage/sas.c): how a request names its account, container and blob
 * (host-style or path-style), the Shared Key string-to-sign and Authorization header, and every
 * kind of SAS in the query (service, account, user delegation; their times, addresses, protocol,
 * resource and permissions).
 *
 * The input is a request as a client sends it: "METHOD target\r\n", header lines, a blank line:
 *     GET /c1/a/b.txt?sv=2021-12-02&sr=b&sp=r&se=2030-01-01T00:00:00Z&sig=... HTTP/1.1\r\n
 *     Host: fuzzacct.blob.core.windows.net\r\n\r\n
 * It runs through the module's own authentication (storage_module.authenticate) against an
 * in-memory store holding one account, its keys and a container with a stored access policy.
 * A fuzzer cannot forge an HMAC, so a pseudo-header makes the harness sign the request itself
 * with the account's key before it is authenticated, which reaches what follows the signature:
 *     X-Fuzz-Sign: sharedkey   adds the right "Authorization: SharedKey account:signature";
 *     X-Fuzz-Sign: sas         appends the right &sig= for the SAS the query carries.
 * Every SAS time field also goes through blob_parse_time.
 *
 * Reproduce a crash: build/fuzz/fuzz_storage FILE (see tests/fuzz/README.md).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/http.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/module.h"
#include "common/store.h"
#include "common/token.h"
#include "common/util.h"
#include "storage/storage.h"
#include "tests/fuzz/fuzz_store.h"

#define TENANT FUZZ_TENANT
#define SUB FUZZ_SUB
#define ACCOUNT "fuzzacct"
#define ACCOUNT_ID                                                                                 \
    "/subscriptions/" SUB "/resourceGroups/rg/providers/Microsoft.Storage/"                        \
    "storageAccounts/" ACCOUNT
#define KEY1                                                                                       \
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
#define KEY2 "a2V5IHR3byBvZiB0aGUgZnV6eiBhY2NvdW50LCBub3QgYSBzZWNyZXQgb2YgYW55b25lJ3M="

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct store *store;
static struct token_verifier *verifier;

static int no_key(void *arg, const char *kid, struct token_key **out)
{
    (void)arg;
    (void)kid;
    (void)out;
    return AZ_ENOTFOUND;
}

static bool any_tenant(void *arg, const char *tid)
{
    (void)arg;
    (void)tid;
    return true;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static const char *const rows =
        "INSERT INTO resources(id, subscription_id, resource_group, type, name, location, body, "
        "etag, created_at, changed_at) VALUES ('" ACCOUNT_ID "', '" SUB "', 'rg', "
        "'Microsoft.Storage/storageAccounts', '" ACCOUNT "', 'westus', "
        "'{\"properties\":{\"allowSharedKeyAccess\":true,\"allowBlobPublicAccess\":true}}', "
        "'e', 0, 0);"
        "INSERT INTO storage_account_keys(account, key1, key2, key1_created, key2_created) VALUES "
        "('" ACCOUNT "', '" KEY1 "', '" KEY2 "', 0, 0);"
        "INSERT INTO blob_containers(account, name, public_access, etag, modified, "
        "access_policies) VALUES ('" ACCOUNT "', 'c1', 'blob', 'e', 0, "
        "'[{\"id\":\"read-policy\",\"start\":\"2020-01-01T00:00:00Z\",\"expiry\":"
        "\"2099-01-01T00:00:00Z\",\"permission\":\"rl\"},{\"id\":\"open\",\"start\":\"\","
        "\"expiry\":\"\",\"permission\":\"\"}]');"
        "INSERT INTO blob_containers(account, name, etag, modified) VALUES ('" ACCOUNT
        "', 'private', 'e', 0);";
    store = fuzz_store_open(rows);
    const struct token_source src = {no_key, any_tenant, NULL};
    verifier = token_verifier_new(&src);
    return 0;
}

static enum http_method method_of(const char *name)
{
    static const enum http_method all[] = {HTTP_GET,   HTTP_HEAD,   HTTP_POST,   HTTP_PUT,
                                           HTTP_PATCH, HTTP_DELETE, HTTP_OPTIONS};
    for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
        if (strcmp(name, http_method_name(all[i])) == 0)
            return all[i];
    }
    return HTTP_GET;
}

struct parsed {
    const char *method, *target;
    struct http_headers headers;
    const char *sign; /* X-Fuzz-Sign, or NULL */
};

/* "METHOD target[ HTTP/1.1]\r\n" and "Name: value\r\n" lines, up to a blank line. */
static bool parse_input(struct arena *a, const char *text, struct parsed *p)
{
    memset(p, 0, sizeof(*p));
    size_t line = strcspn(text, "\r\n");
    const char *sp = memchr(text, ' ', line);
    if (!sp)
        return false;
    p->method = arena_strndup(a, text, (size_t)(sp - text));
    const char *t = sp + 1;
    const char *sp2 = memchr(t, ' ', line - (size_t)(t - text));
    p->target = arena_strndup(a, t, sp2 ? (size_t)(sp2 - t) : line - (size_t)(t - text));
    const char *l = text + line;
    while (*l) {
        l += (*l == '\r' && l[1] == '\n') ? 2 : 1;
        size_t n = strcspn(l, "\r\n");
        if (n == 0)
            break;
        const char *colon = memchr(l, ':', n);
        if (colon) {
            const char *v = colon + 1 + strspn(colon + 1, " \t");
            const char *name = arena_strndup(a, l, (size_t)(colon - l));
            const char *value = arena_strndup(a, v, v < l + n ? (size_t)(l + n - v) : 0);
            if (str_ieq(name, "X-Fuzz-Sign"))
                p->sign = value;
            else
                http_headers_add(a, &p->headers, name, value);
        }
        l += n;
    }
    return true;
}

/* A request as the storage listener would hand it to the dispatcher. */
static void init_request(struct http_request *req, struct arena *a, const struct parsed *p,
                         const char *target, const char *authorization)
{
    http_request_init(req, a, &storage_module, method_of(p->method), target);
    req->store = store;
    req->verifier = verifier;
    req->peer = "10.1.2.3:50000";
    req->tls = true;
    for (size_t i = 0; i < p->headers.len; i++)
        http_headers_add(a, &req->headers, p->headers.items[i].name, p->headers.items[i].value);
    if (authorization)
        http_headers_add(a, &req->headers, "Authorization", authorization);
    const char *host = http_header(req, "Host");
    if (host)
        req->host = host;
    /* The dispatcher routes before it authenticates: the blob routes capture the path. */
    router_match(storage_module.routes, storage_module.nroutes, req->method, req->path, a,
                 &req->match, NULL);
}

static void after_authentication(struct http_request *req)
{
    const struct blob_request *b = blob_request(req);
    if (!b || !b->sas_permissions)
        return;
    static const char *const actions[] = {
        "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
        "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
        "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete",
        "Microsoft.Storage/storageAccounts/blobServices/containers/read",
    };
    for (size_t i = 0; i < ARRAY_SIZE(actions); i++) {
        req->replied = false;
        blob_check_sas_permission(req, actions[i], i == 3);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16 * 1024)
        return 0;
    struct arena *a = arena_new();
    char *text = arena_strndup(a, (const char *)data, size);
    struct parsed p;
    if (!parse_input(a, text, &p)) {
        arena_free(a);
        return 0;
    }

    struct http_request req;
    init_request(&req, a, &p, p.target, NULL);
    static const char *const times[] = {"st", "se", "skt", "ske"};
    for (size_t i = 0; i < ARRAY_SIZE(times); i++) {
        int64_t ms;
        const char *v = http_query(&req, times[i]);
        if (v)
            blob_parse_time(v, &ms);
    }
    storage_module.authenticate(&req);
    const struct blob_request *b = blob_request(&req);

    if (p.sign && b && !req.malformed_query) {
        /* Sign as a client holding key1 would, then authenticate the signed request. */
        const char *target = p.target;
        const char *authorization = NULL;
        if (str_ieq(p.sign, "sharedkey")) {
            authorization = blob_shared_key_authorization(&req, b->account, KEY1);
        } else {
            const char *sig = blob_sign(&req, KEY1, blob_sas_string_to_sign(&req, b));
            if (sig) {
                struct buf enc = {0};
                for (const char *s = sig; *s; s++) {
                    if (*s == '+' || *s == '/' || *s == '=')
                        buf_printf(&enc, "%%%02X", (unsigned char)*s);
                    else
                        buf_putc(&enc, *s);
                }
                target = arena_printf(a, "%s%ssig=%s", p.target, strchr(p.target, '?') ? "&" : "?",
                                      enc.data ? enc.data : "");
                buf_free(&enc);
            }
        }
        http_request_release(&req);
        init_request(&req, a, &p, target, authorization);
        if (storage_module.authenticate(&req) == 0)
            after_authentication(&req);
    } else if (b && !req.replied) {
        after_authentication(&req);
    }
    http_request_release(&req);
    arena_free(a);
    return 0;
}
