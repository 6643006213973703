/*
 * imds/imds.c — Instance Metadata Service: the module descriptor, its route table, its per-thread
 * state (the AAD client and the token cache) and its error format.
 *
 * Plain http, as IMDS is in Azure; errors are IMDS's {"error","error_description"} JSON, with 400
 * for every ordinary failure (clients retry 404, 410, 429 and 5xx for seconds to minutes). Paths
 * match case-insensitively with or without a trailing '/' or a leading '//'; each is also served
 * under /vms/{secret}/ for one VM (the endpoint `azsim env --vm` gives clients that take an IMDS
 * address, AZURE_POD_IDENTITY_AUTHORITY_HOST). It also serves the CA certificate over plain http
 * at /azsim/ca.pem, for containers to trust.
 *
 * Not emulated: scheduled events, attested data, load balancer metadata, the App Service and
 * MSI_ENDPOINT protocols.
 */
#include "imds/imds.h"

#include "common/http_client.h"
#include "common/json.h"
#include "common/mem.h"
#include "common/module.h"
#include "common/server.h"
#include "common/util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Cached answers are refreshed this long before their token expires. */
#define REFRESH_MARGIN_SECONDS 300
#define CACHE_SLOTS 1024

struct cache_slot {
    char *key;
    char *answer;
    int64_t expires_on;
};

/* Tokens IMDS obtained, shared by the module's threads (a VM's second request is answered from
 * here whichever thread takes it), direct-mapped by key hash. Entries live until replaced. */
static struct cache_slot cache[CACHE_SLOTS];
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

struct imds_state {
    struct http_client *client; /* this thread's, on its event loop */
};

static void *imds_state_new(struct store *s)
{
    (void)s;
    return xcalloc(1, sizeof(struct imds_state));
}

static void imds_state_free(void *p)
{
    struct imds_state *state = p;
    http_client_free(state->client);
    free(state);
}

struct http_client *imds_http_client(struct http_request *req)
{
    struct imds_state *state = req->module_state;
    if (!state->client && req->loop && req->server && req->server->ca_pem)
        state->client = http_client_new(req->loop, req->server->ca_pem);
    return state->client;
}

static struct cache_slot *slot_of(const char *key)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return &cache[h % CACHE_SLOTS];
}

const char *imds_cache_get(struct http_request *req, const char *key)
{
    const char *answer = NULL;
    pthread_mutex_lock(&cache_lock);
    struct cache_slot *slot = slot_of(key);
    if (slot->key && strcmp(slot->key, key) == 0 &&
        slot->expires_on - REFRESH_MARGIN_SECONDS > clock_now_ms() / 1000)
        answer = arena_strdup(req->arena, slot->answer);
    pthread_mutex_unlock(&cache_lock);
    return answer;
}

void imds_cache_put(struct http_request *req, const char *key, const char *answer,
                    int64_t expires_on)
{
    (void)req;
    char *k = xstrdup(key), *a = xstrdup(answer);
    pthread_mutex_lock(&cache_lock);
    struct cache_slot *slot = slot_of(key);
    char *old_key = slot->key, *old_answer = slot->answer;
    slot->key = k;
    slot->answer = a;
    slot->expires_on = expires_on;
    pthread_mutex_unlock(&cache_lock);
    free(old_key);
    free(old_answer);
}

int imds_fail(struct http_request *req, int status, const char *error, const char *description)
{
    return http_fail(req, status, error, "%s", description);
}

/* IMDS's error body is exactly {"error","error_description"}: none of Entra's extra members. */
static void imds_render_error(struct http_request *req, int status, const char *code,
                              const char *message)
{
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_string(w, "error", code);
    jw_kv_string(w, "error_description", message);
    jw_object_close(w);
    http_reply_json(req, status, w);
    json_writer_free(w);
}

bool imds_duplicate_query(const struct http_request *req)
{
    for (size_t i = 0; i < req->query.len; i++) {
        for (size_t j = i + 1; j < req->query.len; j++) {
            if (str_ieq(req->query.items[i].name, req->query.items[j].name))
                return true;
        }
    }
    return false;
}

#define PER_VM "/vms/{vmSecret}"

static const struct route imds_routes[] = {
    {HTTP_GET, "/metadata/identity/oauth2/token", imds_get_token, "Identity_GetToken", NULL,
     ROUTE_PUBLIC},
    {HTTP_GET, PER_VM "/metadata/identity/oauth2/token", imds_get_token, "Identity_GetToken", NULL,
     ROUTE_PUBLIC},
    {HTTP_GET, "/metadata/instance", imds_get_instance, "Instances_GetMetadata", NULL,
     ROUTE_PUBLIC},
    {HTTP_GET, "/metadata/instance/{path*}", imds_get_instance, "Instances_GetMetadata", NULL,
     ROUTE_PUBLIC},
    {HTTP_GET, PER_VM "/metadata/instance", imds_get_instance, "Instances_GetMetadata", NULL,
     ROUTE_PUBLIC},
    {HTTP_GET, PER_VM "/metadata/instance/{path*}", imds_get_instance, "Instances_GetMetadata",
     NULL, ROUTE_PUBLIC},
    {HTTP_GET, "/metadata/versions", imds_get_versions, "Versions_Get", NULL, ROUTE_PUBLIC},
    {HTTP_GET, PER_VM "/metadata/versions", imds_get_versions, "Versions_Get", NULL, ROUTE_PUBLIC},
};

const struct module imds_module = {
    .name = "imds",
    .title = "Instance Metadata Service",
    .tls = false,
    .default_port = 4703,
    .max_body = 64 * 1024,
    .render_error = imds_render_error,
    .routes = imds_routes,
    .nroutes = ARRAY_SIZE(imds_routes),
    .state_new = imds_state_new,
    .state_free = imds_state_free,
};
