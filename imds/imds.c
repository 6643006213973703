/*
 * imds/imds.c — Instance Metadata Service: the module descriptor, its route table, its caches (the
 * tokens obtained, shared by the threads; each thread's snapshot of the answers it gave), its
 * per-thread AAD client and its error format.
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
#include "common/store.h"
#include "common/util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Cached answers are refreshed this long before their token expires. */
#define REFRESH_MARGIN_SECONDS 300
#define CACHE_SLOTS 1024
#define SNAPSHOT_SLOTS 256

struct cache_slot {
    char *key;
    char *answer;
    int64_t expires_on;
};

/* Tokens IMDS obtained, shared by the module's threads (a VM's second request is answered from
 * here whichever thread takes it), direct-mapped by key hash. Entries live until replaced. */
static struct cache_slot cache[CACHE_SLOTS];
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* An answer this thread gave, for the request key (imds_token_request_key) that got it, while
 * the store stays at `version`. */
struct snapshot_slot {
    char *key;
    size_t key_len;
    char *answer;
    size_t answer_len;
    int64_t expires_on;
    int64_t version;
};

struct imds_state {
    struct http_client *client; /* this thread's, on its event loop */
    struct snapshot_slot snapshot[SNAPSHOT_SLOTS];
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
    for (size_t i = 0; i < SNAPSHOT_SLOTS; i++) {
        free(state->snapshot[i].key);
        free(state->snapshot[i].answer);
    }
    free(state);
}

struct http_client *imds_http_client(struct http_request *req)
{
    struct imds_state *state = req->module_state;
    if (!state->client && req->loop && req->server && req->server->ca_pem)
        state->client = http_client_new(req->loop, req->server->ca_pem);
    return state->client;
}

static bool fresh(int64_t expires_on)
{
    return expires_on - REFRESH_MARGIN_SECONDS > clock_now_ms() / 1000;
}

const char *imds_cache_get(struct http_request *req, const char *key, int64_t *expires_on)
{
    const char *answer = NULL;
    pthread_mutex_lock(&cache_lock);
    struct cache_slot *slot = &cache[hash_bytes(key, strlen(key)) % CACHE_SLOTS];
    if (slot->key && strcmp(slot->key, key) == 0 && fresh(slot->expires_on)) {
        answer = arena_strdup(req->arena, slot->answer);
        *expires_on = slot->expires_on;
    }
    pthread_mutex_unlock(&cache_lock);
    return answer;
}

void imds_cache_put(struct http_request *req, const char *key, const char *answer,
                    int64_t expires_on)
{
    (void)req;
    char *k = xstrdup(key), *a = xstrdup(answer);
    pthread_mutex_lock(&cache_lock);
    struct cache_slot *slot = &cache[hash_bytes(key, strlen(key)) % CACHE_SLOTS];
    char *old_key = slot->key, *old_answer = slot->answer;
    slot->key = k;
    slot->answer = a;
    slot->expires_on = expires_on;
    pthread_mutex_unlock(&cache_lock);
    free(old_key);
    free(old_answer);
}

const char *imds_snapshot_get(struct http_request *req, struct imds_snapshot_ref *ref, size_t *len)
{
    struct imds_state *state = req->module_state;
    ref->key = imds_token_request_key(req, &ref->len);
    /* Any commit by anyone since (a detach through ARM, a VM deleted, `azsim apply`) moves it:
     * the next request looks everything up again. */
    ref->version = state && ref->key && req->store ? store_data_version(req->store) : -1;
    if (ref->version < 0)
        return NULL;
    const struct snapshot_slot *slot =
        &state->snapshot[hash_bytes(ref->key, ref->len) % SNAPSHOT_SLOTS];
    if (!slot->key || slot->version != ref->version || slot->key_len != ref->len ||
        memcmp(slot->key, ref->key, ref->len) != 0 || !fresh(slot->expires_on))
        return NULL;
    *len = slot->answer_len;
    return slot->answer;
}

void imds_snapshot_put(struct http_request *req, const struct imds_snapshot_ref *ref,
                       const char *answer, int64_t expires_on)
{
    struct imds_state *state = req->module_state;
    if (!state || ref->version < 0)
        return;
    struct snapshot_slot *slot = &state->snapshot[hash_bytes(ref->key, ref->len) % SNAPSHOT_SLOTS];
    free(slot->key);
    free(slot->answer);
    slot->key = xmalloc(ref->len);
    memcpy(slot->key, ref->key, ref->len);
    slot->key_len = ref->len;
    slot->answer_len = strlen(answer);
    slot->answer = xstrndup(answer, slot->answer_len);
    slot->expires_on = expires_on;
    slot->version = ref->version;
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
