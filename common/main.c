/*
 * main.c — the azsim command: `serve` (the default) starts every module over one state store;
 * `health`, `env`, `ca`, `version` and `help` are the small commands around it.
 *
 * A running server records its listeners in `<data-dir>/azsim.run.json` so that `azsim health`
 * (and later commands) can find ports chosen with `0`.
 */
#include "aad/directory.h"
#include "arm/arm.h"
#include "storage/storage.h"
#include "audit.h"
#include "client.h"
#include "config.h"
#include "error.h"
#include "frontdoor.h"
#include "json.h"
#include "log.h"
#include "mem.h"
#include "secret.h"
#include "seed.h"
#include "server.h"
#include "store.h"
#include "tls.h"
#include "token.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef AZSIM_VERSION
#define AZSIM_VERSION "0.0.0-dev"
#endif

#define RUN_FILE "azsim.run.json"
#define DB_FILE "azsim.db"
#define CREDENTIALS_FILE "credentials.json"
#define CLIENT_PEM_FILE "admin-client.pem"
#define HEALTH_TIMEOUT_MS 2000

/* mkdir -p with mode 0700 for the directories azsim creates. */
static int make_dirs(const char *path)
{
    char *p = xstrdup(path);
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0700) != 0 && errno != EEXIST) {
                fprintf(stderr, "azsim: cannot create %s: %s\n", p, strerror(errno));
                rc = AZ_EIO;
                break;
            }
            *s = c;
            if (c == '\0')
                break;
        }
    }
    free(p);
    return rc;
}

static char *data_path(const struct azsim_config *cfg, const char *name)
{
    return xasprintf("%s/%s", cfg->data_dir, name);
}

static char *absolute(const char *path)
{
    char resolved[PATH_MAX];
    return xstrdup(realpath(path, resolved) ? resolved : path);
}

/* ---- the directory's own credentials ---------------------------------------------------------
 * <data-dir>/credentials.json (0600) keeps what azsim created on first start in the clear, so the
 * same tenant, admin application and admin user come back after a restart, even in memory. */

/* What the first start made: the directory's objects and the default subscription. */
struct identity {
    struct aad_identity aad;
    char subscription_id[40];
};

static const struct {
    const char *key;
    size_t offset, size;
} identity_fields[] = {
#define FIELD(key, member)                                                                         \
    {                                                                                              \
        key, offsetof(struct identity, member), sizeof(((struct identity *)0)->member)             \
    }
    FIELD("tenantId", aad.tenant_id),         FIELD("tenantDomain", aad.tenant_domain),
    FIELD("clientId", aad.client_id),         FIELD("clientObjectId", aad.client_object_id),
    FIELD("clientSecret", aad.client_secret), FIELD("userId", aad.user_id),
    FIELD("username", aad.user_upn),          FIELD("password", aad.user_password),
    FIELD("subscriptionId", subscription_id),
#undef FIELD
};

static char *identity_field(struct identity *id, size_t i)
{
    return (char *)id + identity_fields[i].offset;
}

static void load_identity(const struct azsim_config *cfg, struct identity *id)
{
    memset(id, 0, sizeof(*id));
    char *path = data_path(cfg, CREDENTIALS_FILE);
    char *text = file_read(path);
    struct json *doc = NULL;
    if (text && json_parse(text, strlen(text), &doc, NULL, 0) == 0) {
        for (size_t i = 0; i < ARRAY_SIZE(identity_fields); i++) {
            const char *v = json_string(json_get(doc, identity_fields[i].key));
            if (v)
                snprintf(identity_field(id, i), identity_fields[i].size, "%s", v);
        }
    }
    json_free(doc);
    free(text);
    free(path);
    path = data_path(cfg, CLIENT_PEM_FILE);
    id->aad.client_pem = file_read(path);
    free(path);
}

static void write_identity_json(struct json_writer *w, struct identity *id)
{
    jw_object_open(w);
    for (size_t i = 0; i < ARRAY_SIZE(identity_fields); i++)
        jw_kv_string(w, identity_fields[i].key, identity_field(id, i));
    jw_object_close(w);
}

static int save_identity(const struct azsim_config *cfg, struct identity *id)
{
    struct json_writer *w = json_writer_new();
    write_identity_json(w, id);
    size_t len;
    const char *text = json_writer_text(w, &len);
    char *path = data_path(cfg, CREDENTIALS_FILE);
    int rc = file_write_atomic(path, text, len, 0600);
    free(path);
    json_writer_free(w);
    path = data_path(cfg, CLIENT_PEM_FILE);
    if (rc == 0 && id->aad.client_pem)
        rc = file_write_atomic(path, id->aad.client_pem, strlen(id->aad.client_pem), 0600);
    free(path);
    return rc;
}

/* Migrate, then in one transaction: this data directory's instance id and the directory's own
 * objects, as the credentials file and the seed flags ask. */
static int init_store(const struct azsim_config *cfg, struct store *s, struct identity *id)
{
    int rc = store_migrate(s, store_schema, store_schema_len);
    if (rc != 0)
        return rc;
    struct identity want;
    load_identity(cfg, &want);
    const struct {
        const char *value;
        char *dst;
        size_t size;
    } seeds[] = {
        {cfg->seed.tenant_id, want.aad.tenant_id, sizeof(want.aad.tenant_id)},
        {cfg->seed.tenant_domain, want.aad.tenant_domain, sizeof(want.aad.tenant_domain)},
        {cfg->seed.admin_client_id, want.aad.client_id, sizeof(want.aad.client_id)},
        {cfg->seed.admin_client_secret, want.aad.client_secret, sizeof(want.aad.client_secret)},
        {cfg->seed.admin_password, want.aad.user_password, sizeof(want.aad.user_password)},
        {cfg->seed.subscription_id, want.subscription_id, sizeof(want.subscription_id)},
    };
    want.aad.user_password_set_before = want.aad.user_password[0] && !cfg->seed.admin_password;
    for (size_t i = 0; i < ARRAY_SIZE(seeds); i++) {
        if (seeds[i].value)
            snprintf(seeds[i].dst, seeds[i].size, "%s", seeds[i].value);
    }
    if ((rc = store_begin(s)) != 0)
        return rc;
    char *instance = NULL;
    rc = store_meta_get(s, "instance_id", &instance);
    if (rc == AZ_ENOTFOUND) {
        char uuid[37], now[32];
        uuid_v4(uuid);
        clock_format_iso8601(clock_now_ms(), now, sizeof(now));
        if ((rc = store_meta_set(s, "instance_id", uuid)) == 0)
            rc = store_meta_set(s, "created_at", now);
    }
    free(instance);
    if (rc == 0)
        rc = aad_bootstrap(s, &want.aad, &id->aad);
    if (rc == 0)
        rc = arm_bootstrap(s, &id->aad, want.subscription_id[0] ? want.subscription_id : NULL,
                           id->subscription_id);
    aad_identity_release(&want.aad);
    if (rc == 0)
        rc = store_commit(s);
    if (rc != 0) {
        store_rollback(s);
        return rc;
    }
    return save_identity(cfg, id);
}

static int write_run_file(const struct azsim_config *cfg, struct server *srv, struct frontdoor *fd,
                          const char *ca)
{
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_int(w, "pid", getpid());
    jw_kv_string(w, "version", AZSIM_VERSION);
    jw_kv_string(w, "ca", ca);
    jw_key(w, "listeners");
    jw_object_open(w);
    jw_kv_string(w, "proxy", frontdoor_url(fd));
    for (int i = 0; i < MODULE_COUNT; i++) {
        if (server_url(srv, i))
            jw_kv_string(w, modules[i]->name, server_url(srv, i));
    }
    jw_object_close(w);
    jw_object_close(w);
    size_t len;
    const char *text = json_writer_text(w, &len);
    char *path = data_path(cfg, RUN_FILE);
    /* Owner-only like the rest of the data directory, whatever the umask (fopen made it 0644). */
    int rc = file_write_atomic(path, text, len, 0600);
    free(path);
    json_writer_free(w);
    return rc;
}

/* Every tunnel through the front door holds three descriptors; the soft limit of 1024 would cap
 * azsim at a few hundred concurrent clients for no reason. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Apply seed file `path` (common/seed.h); the error names the entry and field. */
static int apply_seed_file(const char *path, struct store *s, const struct server_context *ctx,
                           const struct identity *id)
{
    char err[1024];
    int64_t started = clock_mono_ms();
    if (seed_apply(s, ctx, &id->aad, id->subscription_id, path, err, sizeof(err)) != 0) {
        LOG_ERROR("azsim", "seed not applied: %s", err);
        fprintf(stderr, "azsim: seed not applied: %s\n", err);
        return 1;
    }
    LOG_INFO("azsim", "seed %s applied in %lld ms", path, (long long)(clock_mono_ms() - started));
    return 0;
}

static int serve(const struct azsim_config *cfg)
{
    int rc = make_dirs(cfg->data_dir);
    if (rc != 0)
        return 1;
    raise_fd_limit();

    /* Signals are taken by sigwait() below; the module threads inherit this mask. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct tls *tls = NULL;
    struct store *store = NULL;
    struct server *srv = NULL;
    struct frontdoor *fd = NULL;
    struct identity identity = {0};
    char *tls_dir = data_path(cfg, "tls");
    char *db_path = data_path(cfg, DB_FILE);
    char *ca_path = NULL;
    struct store_location loc = {.path = cfg->in_memory ? NULL : db_path};
    rc = 1;

    if (tls_load_or_create(tls_dir, &tls) != 0)
        goto out;
    /* This connection stays open for the server's lifetime: it also keeps the in-memory
     * database alive between module connections. */
    if (store_open(&loc, &store) != 0 || init_store(cfg, store, &identity) != 0)
        goto out;
    /* Blob content a crash, a deleted container or a deleted account left behind. */
    int swept = blob_sweep_content(store, cfg->data_dir);
    if (swept > 0)
        LOG_INFO("storage", "removed %d blob content files nothing refers to", swept);

    struct server_context ctx = {
        .version = AZSIM_VERSION, .ca_pem = tls_ca_pem(tls), .data_dir = cfg->data_dir};
    /* Before any listener answers, so health turns green only with the seed in place. */
    if (cfg->seed_file && apply_seed_file(cfg->seed_file, store, &ctx, &identity) != 0)
        goto out;
    if (audit_writer_start(&loc) != 0 || server_create(cfg, &ctx, &loc, tls, &srv) != 0 ||
        frontdoor_create(cfg, &ctx, srv, &fd) != 0)
        goto out;

    for (int i = 0; i < MODULE_COUNT; i++)
        ctx.urls[i] = server_url(srv, i);
    ca_path = absolute(tls_ca_path(tls));
    if (write_run_file(cfg, srv, fd, ca_path) != 0 || server_start(srv) != 0 ||
        frontdoor_start(fd) != 0)
        goto out;

    /* Announced only now: whoever waits for these lines can use every listener and
     * `azsim health` at once. */
    printf("%-9s %s\n", "proxy", frontdoor_url(fd));
    for (int i = 0; i < MODULE_COUNT; i++) {
        if (server_url(srv, i))
            printf("%-9s %s\n", modules[i]->name, server_url(srv, i));
    }
    printf("%-9s %s (%s)\n", "tenant", identity.aad.tenant_id, identity.aad.tenant_domain);
    printf("%-9s %s (azsim)\n", "subscription", identity.subscription_id);
    /* Who the admins are, not their secrets: stdout ends up in logs (`docker compose logs`).
     * `azsim info` shows the secret and the password. */
    printf("%-9s client id %s (secret: azsim info)\n", "admin", identity.aad.client_id);
    printf("%-9s user %s (password: azsim info)\n", "admin", identity.aad.user_upn);
    printf("%-9s %s\n", "ca", ca_path);
    fflush(stdout);
    LOG_INFO("azsim", "azsim %s ready (store: %s)", AZSIM_VERSION,
             cfg->in_memory ? "in memory" : db_path);

    int sig = 0;
    sigwait(&stop_signals, &sig);
    LOG_INFO("azsim", "%s received; finishing requests in flight", strsignal(sig));
    rc = 0;
out:
    /* New clients first, then the modules drain what is in flight, then the tunnels close. */
    frontdoor_stop_accepting(fd);
    if (srv) {
        server_stop(srv);
        char *run = data_path(cfg, RUN_FILE);
        if (rc == 0)
            unlink(run);
        free(run);
    }
    frontdoor_stop(fd);
    frontdoor_free(fd);
    server_free(srv);
    audit_writer_stop();
    store_close(store);
    tls_free(tls);
    free(ca_path);
    free(db_path);
    free(tls_dir);
    aad_identity_release(&identity.aad);
    if (rc == 0)
        LOG_INFO("azsim", "stopped");
    return rc;
}

/*
 * The running server's run file, parsed; NULL (with the reason on stderr when `quiet` is false)
 * when there is none or its server is gone.
 */
static struct json *load_run_file(const struct azsim_config *cfg, bool quiet)
{
    char *path = data_path(cfg, RUN_FILE);
    char *text = file_read(path);
    struct json *doc = NULL;
    int64_t pid;
    if (!text) {
        if (!quiet)
            fprintf(stderr, "azsim: not running (no %s)\n", path);
    } else if (json_parse(text, strlen(text), &doc, NULL, 0) != 0) {
        if (!quiet)
            fprintf(stderr, "azsim: %s is not valid JSON\n", path);
    } else if (!json_int(json_get(doc, "pid"), &pid) || kill((pid_t)pid, 0) != 0) {
        if (!quiet)
            fprintf(stderr, "azsim: not running (the server recorded in %s is gone)\n", path);
        json_free(doc);
        doc = NULL;
    }
    free(text);
    free(path);
    return doc;
}

/* Exit 0 only when every listener the running server recorded answers GET /health with 200. */
static int health(const struct azsim_config *cfg)
{
    struct json *doc = load_run_file(cfg, false);
    if (!doc)
        return 1;
    const char *ca = json_string(json_get(doc, "ca"));
    const struct json *listeners = json_get(doc, "listeners");
    int failed = json_len(listeners) == 0;
    for (size_t i = 0; i < json_len(listeners); i++) {
        const char *url = json_string(json_at(listeners, i));
        char *health_url = xasprintf("%s/health", url ? url : "");
        struct buf body = {0};
        int status = 0;
        int rc = client_get(health_url, ca, HEALTH_TIMEOUT_MS, &status, &body);
        bool ok = rc == 0 && status == 200;
        printf("%-9s %-28s %s\n", json_key_at(listeners, i), url ? url : "?",
               ok        ? "healthy"
               : rc != 0 ? az_strerror(rc)
                         : "unhealthy");
        failed |= !ok;
        buf_free(&body);
        free(health_url);
    }
    json_free(doc);
    return failed;
}

/* The CA path of this data directory, creating the CA first if there is none yet; heap string
 * or NULL. */
static char *ensure_ca(const struct azsim_config *cfg)
{
    if (make_dirs(cfg->data_dir) != 0)
        return NULL;
    char *tls_dir = data_path(cfg, "tls");
    struct tls *tls = NULL;
    char *ca = tls_load_or_create(tls_dir, &tls) == 0 ? absolute(tls_ca_path(tls)) : NULL;
    tls_free(tls);
    free(tls_dir);
    return ca;
}

/* One variable in the chosen format; values are single-quoted for sh. */
static void print_var(const char *format, bool first, const char *name, const char *value)
{
    if (strcmp(format, "json") == 0) {
        struct json_writer *w = json_writer_new();
        jw_string(w, value);
        printf("%s\n  \"%s\": %s", first ? "{" : ",", name, json_writer_text(w, NULL));
        json_writer_free(w);
    } else if (strcmp(format, "dotenv") == 0) {
        printf("%s=%s\n", name, value);
    } else {
        printf("export %s='", name);
        for (const char *p = value; *p; p++)
            fputs(*p == '\'' ? "'\\''" : (char[]){*p, 0}, stdout);
        printf("'\n");
    }
}

/* The data directory's store, for commands that change it beside a running server. */
static struct store *open_data_store(const struct azsim_config *cfg)
{
    char *db = data_path(cfg, DB_FILE);
    struct store_location loc = {.path = db};
    struct store *s = NULL;
    if (access(db, R_OK) != 0)
        fprintf(stderr,
                "azsim: no store in %s (an --in-memory server's store cannot be "
                "changed from outside)\n",
                cfg->data_dir);
    else if (store_open(&loc, &s) == 0 && store_migrate(s, store_schema, store_schema_len) != 0)
        s = (store_close(s), NULL);
    free(db);
    return s;
}

/* The VMs a name stands for: its resource id, or its bare name in any group. */
#define VMS_NAMED                                                                                  \
    "SELECT v.id, v.imds_secret, v.power_state FROM virtual_machines v WHERE "                     \
    "?1 IS NULL OR lower(v.id) = lower(?1) OR "                                                    \
    "lower(substr(v.id, length(v.id) - length(?1))) = '/' || lower(?1) ORDER BY v.id"

/* The one VM `name` names in the data directory's store: its id and IMDS secret (heap). */
static int find_vm(const struct azsim_config *cfg, const char *name, char **id, char **secret)
{
    struct store *s = open_data_store(cfg);
    struct store_stmt *st;
    int found = 0;
    if (!s || store_prepare(s, VMS_NAMED, &st) != 0) {
        store_close(s);
        return 1;
    }
    store_bind_text(st, 1, name);
    while (store_step(st) == 1) {
        if (found++ == 0) {
            *id = xstrdup(store_column_text(st, 0));
            *secret = xstrdup(store_column_text(st, 1));
        } else {
            fprintf(stderr, "azsim: '%s' names several VMs; give its resource id:\n  %s\n", name,
                    store_column_text(st, 0));
        }
    }
    store_finalize(st);
    store_close(s);
    if (found == 1)
        return 0;
    if (found == 0)
        fprintf(stderr, "azsim: no VM '%s' (azsim vm list shows them)\n", name);
    else
        free(*id), free(*secret);
    return 1;
}

/*
 * `azsim env`: the variables that make a shell or a container use the front door with the real
 * Azure host names (contracts/proxy.md §1): both proxy variables (HTTPS for AAD, ARM, Key Vault,
 * Blob, Graph; HTTP for IMDS) in both cases, the CA for each runtime, and the Azure CLI's
 * background calls switched off. With --vm the shell also *is* that VM for IMDS (DESIGN §4): the
 * VM's secret rides in the proxies' credentials (169.254.169.254 through the front door) and in
 * a per-VM IMDS address for clients that take one (AZURE_POD_IDENTITY_AUTHORITY_HOST).
 */
static int print_env(const struct azsim_config *cfg)
{
    struct json *doc = load_run_file(cfg, true);
    const char *running = json_string(json_get(json_get(doc, "listeners"), "proxy"));
    const char *imds_running = json_string(json_get(json_get(doc, "listeners"), "imds"));
    const char *host = strcmp(cfg->bind, "0.0.0.0") == 0 ? "127.0.0.1" : cfg->bind;
    bool v6 = strchr(host, ':') != NULL;
    char proxy[128], imds[128];
    if (running)
        snprintf(proxy, sizeof(proxy), "%s", running);
    else
        snprintf(proxy, sizeof(proxy), "http://%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "",
                 cfg->proxy_port);
    if (imds_running)
        snprintf(imds, sizeof(imds), "%s", imds_running);
    else
        snprintf(imds, sizeof(imds), "http://%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "",
                 cfg->ports[MODULE_IMDS]);
    json_free(doc);
    char *vm_id = NULL, *secret = NULL, *vm_proxy = NULL, *vm_imds = NULL;
    if (cfg->vm) {
        if (find_vm(cfg, cfg->vm, &vm_id, &secret) != 0)
            return 1;
        vm_proxy = xasprintf("http://%s:%s@%s", strrchr(vm_id, '/') + 1, secret,
                             proxy + strlen("http://"));
        vm_imds = xasprintf("%s/vms/%s", imds, secret);
    }
    char *ca = ensure_ca(cfg);
    if (!ca) {
        free(vm_id), free(secret), free(vm_proxy), free(vm_imds);
        return 1;
    }
    const char *no_proxy = "localhost,127.0.0.1,::1";
    /* Both: the JS SDKs send http:// requests (IMDS) through HTTPS_PROXY when it is set. */
    const char *front_door = vm_proxy ? vm_proxy : proxy;
    const struct {
        const char *name, *value;
    } vars[] = {
        {"HTTPS_PROXY", front_door},
        {"https_proxy", front_door},
        {"HTTP_PROXY", front_door},
        {"http_proxy", front_door},
        {"NO_PROXY", no_proxy},
        {"no_proxy", no_proxy},
        {"NODE_EXTRA_CA_CERTS", ca},
        {"REQUESTS_CA_BUNDLE", ca},
        {"SSL_CERT_FILE", ca},
        {"CURL_CA_BUNDLE", ca},
        {"AZURE_CORE_COLLECT_TELEMETRY", "false"},
        {"AZURE_CORE_ERROR_RECOMMENDATION", "off"},
        {"AZURE_CORE_SURVEY_MESSAGE", "false"},
        {"AZURE_POD_IDENTITY_AUTHORITY_HOST", vm_imds},
    };
    bool first = true;
    for (size_t i = 0; i < ARRAY_SIZE(vars); i++) {
        if (vars[i].value) {
            print_var(cfg->env_format, first, vars[i].name, vars[i].value);
            first = false;
        }
    }
    if (strcmp(cfg->env_format, "json") == 0)
        printf("\n}\n");
    free(ca);
    free(vm_id), free(secret), free(vm_proxy), free(vm_imds);
    return 0;
}

/* `azsim vm list [--json]`: each VM with its power state, addresses and identities, and how to
 * act as it. */
static int vm_list(const struct azsim_config *cfg)
{
    if (!cfg->args[0] || strcmp(cfg->args[0], "list") != 0 || cfg->args[1]) {
        fprintf(stderr, "usage: azsim vm list [--json]\n");
        return 2;
    }
    struct store *s = open_data_store(cfg);
    struct store_stmt *st;
    if (!s || store_prepare(s,
                            "SELECT v.id, v.power_state, r.body, "
                            "(SELECT json_group_array(json_object('principalId', sp.object_id, "
                            "'clientId', sp.app_id)) FROM service_principals sp WHERE "
                            "sp.resource_id = v.id), "
                            "(SELECT json_group_array(json_extract(ip.body, "
                            "'$.properties.privateIPAddress')) FROM resources ip WHERE ip.type = "
                            "'Microsoft.Network/networkInterfaces/ipConfigurations' AND EXISTS "
                            "(SELECT 1 FROM json_each(r.body, "
                            "'$.properties.networkProfile.networkInterfaces') n WHERE "
                            "lower(ip.id) LIKE lower(json_extract(n.value, '$.id')) || '/%')) "
                            "FROM virtual_machines v JOIN resources r ON r.id = v.id ORDER BY v.id",
                            &st) != 0) {
        store_close(s);
        return 1;
    }
    struct json_writer *w = json_writer_new();
    jw_array_open(w);
    while (store_step(st) == 1) {
        const char *id = store_column_text(st, 0);
        const char *body = store_column_text(st, 2);
        struct json *vm = NULL, *system = NULL, *addresses = NULL;
        json_parse(body, strlen(body), &vm, NULL, 0);
        json_parse(store_column_text(st, 3), strlen(store_column_text(st, 3)), &system, NULL, 0);
        json_parse(store_column_text(st, 4), strlen(store_column_text(st, 4)), &addresses, NULL, 0);
        const struct json *users = json_get(json_get(vm, "identity"), "userAssignedIdentities");
        if (cfg->json) {
            jw_object_open(w);
            jw_kv_string(w, "id", id);
            jw_kv_string(w, "name", strrchr(id, '/') + 1);
            jw_kv_string(w, "powerState", store_column_text(st, 1));
            jw_key(w, "privateAddresses");
            jw_value(w, addresses);
            jw_key(w, "systemAssignedIdentity");
            jw_value(w, json_at(system, 0));
            jw_key(w, "userAssignedIdentities");
            jw_value(w, users);
            char *act = xasprintf("eval \"$(azsim env --vm %s)\"", id);
            jw_kv_string(w, "actAsIt", act);
            free(act);
            jw_object_close(w);
        } else {
            printf("%s  (%s)\n  id         %s\n", strrchr(id, '/') + 1, store_column_text(st, 1),
                   id);
            for (size_t i = 0; i < json_len(addresses); i++)
                printf("  address    %s\n", json_string(json_at(addresses, i)));
            if (json_len(system))
                printf("  system     principalId %s  clientId %s\n",
                       json_string(json_get(json_at(system, 0), "principalId")),
                       json_string(json_get(json_at(system, 0), "clientId")));
            for (size_t i = 0; i < json_len(users); i++)
                printf("  user       %s  clientId %s\n", strrchr(json_key_at(users, i), '/') + 1,
                       json_string(json_get(json_at(users, i), "clientId")));
            printf("  act as it  eval \"$(azsim env --vm %s)\"\n\n", id);
        }
        json_free(vm), json_free(system), json_free(addresses);
    }
    jw_array_close(w);
    if (cfg->json)
        printf("%s\n", json_writer_text(w, NULL));
    json_writer_free(w);
    store_finalize(st);
    store_close(s);
    return 0;
}

/* `azsim info`: the tenant, the admin credentials and where to sign in. */
static int print_info(const struct azsim_config *cfg)
{
    char *path = data_path(cfg, CREDENTIALS_FILE);
    bool exists = access(path, R_OK) == 0;
    free(path);
    if (!exists) {
        fprintf(stderr, "azsim: no credentials in %s yet: start azsim there first\n",
                cfg->data_dir);
        return 1;
    }
    struct identity id;
    load_identity(cfg, &id);
    struct json *run = load_run_file(cfg, true);
    const char *aad = json_string(json_get(json_get(run, "listeners"), "aad"));
    char authority[512], direct[512];
    snprintf(authority, sizeof(authority), "https://login.microsoftonline.com/%s",
             id.aad.tenant_id);
    snprintf(direct, sizeof(direct), "%s/%s", aad ? aad : "", id.aad.tenant_id);
    if (cfg->json) {
        struct json_writer *w = json_writer_new();
        jw_object_open(w);
        for (size_t i = 0; i < ARRAY_SIZE(identity_fields); i++)
            jw_kv_string(w, identity_fields[i].key, identity_field(&id, i));
        jw_kv_string(w, "authority", authority);
        char *pem_path = data_path(cfg, CLIENT_PEM_FILE);
        char *abs_pem = absolute(pem_path);
        jw_kv_string(w, "clientCertificatePath", abs_pem);
        free(abs_pem);
        free(pem_path);
        if (aad)
            jw_kv_string(w, "directAuthority", direct);
        jw_object_close(w);
        printf("%s\n", json_writer_text(w, NULL));
        json_writer_free(w);
    } else {
        printf("tenant         %s (%s)\n", id.aad.tenant_id, id.aad.tenant_domain);
        printf("client id      %s\n", id.aad.client_id);
        printf("client secret  %s\n", id.aad.client_secret);
        printf("user           %s\n", id.aad.user_upn);
        printf("password       %s\n", id.aad.user_password);
        printf("subscription   %s\n", id.subscription_id);
        printf("certificate    %s/%s   (the client's certificate and key)\n", cfg->data_dir,
               CLIENT_PEM_FILE);
        printf("authority      %s   (through the front door: eval \"$(azsim env)\")\n", authority);
        if (aad)
            printf("               %s   (direct)\n", direct);
    }
    json_free(run);
    aad_identity_release(&id.aad);
    return 0;
}

static void print_key(void *arg, struct token_key *k, bool active)
{
    (void)arg;
    printf("%s  %s\n", token_key_kid(k), active ? "active" : "published");
}

/* `azsim keys [list|rotate|retire KID]` on the data directory's store; a running server signs
 * with the new key from its next token on. */
static int keys(const struct azsim_config *cfg)
{
    const char *verb = cfg->args[0] ? cfg->args[0] : "list";
    struct store *s = open_data_store(cfg);
    int rc = 1;
    if (!s)
        goto out;
    char kid[64];
    if (strcmp(verb, "list") == 0) {
        rc = aad_signing_keys_each(s, print_key, NULL) == 0 ? 0 : 1;
    } else if (strcmp(verb, "rotate") == 0) {
        if (store_begin(s) == 0 && aad_signing_key_rotate(s, kid) == 0 && store_commit(s) == 0) {
            printf("%s  active\n", kid);
            rc = 0;
        }
    } else if (strcmp(verb, "retire") == 0 && cfg->args[1]) {
        int r = aad_signing_key_retire(s, cfg->args[1]);
        if (r == AZ_ENOTFOUND)
            fprintf(stderr, "azsim: %s is not a published, inactive key\n", cfg->args[1]);
        rc = r == 0 ? 0 : 1;
    } else {
        fprintf(stderr, "usage: azsim keys [list | rotate | retire [--] KID]\n");
        rc = 2;
    }
out:
    store_rollback(s);
    store_close(s);
    return rc;
}

/*
 * `azsim app create NAME [--identifier-uri URI]`: an application with a service principal and a
 * client secret in the default tenant. Tokens can then name it as their resource (its identifier
 * URI or app id), so a user's own service can accept azsim tokens. The secret is shown once.
 */
static int app(const struct azsim_config *cfg)
{
    if (!cfg->args[0] || strcmp(cfg->args[0], "create") != 0 || !cfg->args[1] || cfg->args[2]) {
        fprintf(stderr, "usage: azsim app create NAME [--identifier-uri URI]\n");
        return 2;
    }
    struct store *s = open_data_store(cfg);
    if (!s)
        return 1;
    struct aad_tenant t;
    char app_id[37];
    uuid_v4(app_id);
    char *secret = secret_generate_client_secret();
    int rc = store_begin(s);
    if (rc == 0 && (rc = aad_tenant_default(s, &t)) == 0 &&
        (rc = aad_application_create(s, t.id, app_id, cfg->args[1], cfg->identifier_uri, false,
                                     NULL)) == 0 &&
        (rc = aad_application_add_secret(s, app_id, secret, 365)) == 0)
        rc = store_commit(s);
    if (rc == 0) {
        struct json_writer *w = json_writer_new();
        jw_object_open(w);
        jw_kv_string(w, "appId", app_id);
        jw_kv_string(w, "displayName", cfg->args[1]);
        jw_kv_string(w, "identifierUri", cfg->identifier_uri);
        jw_kv_string(w, "tenantId", t.id);
        jw_kv_string(w, "clientSecret", secret);
        jw_object_close(w);
        printf("%s\n", json_writer_text(w, NULL));
        json_writer_free(w);
    } else {
        fprintf(stderr, "azsim: the application could not be created (%s)\n", az_strerror(rc));
    }
    free(secret);
    store_rollback(s);
    store_close(s);
    return rc == 0 ? 0 : 1;
}

/* `azsim apply FILE`: a seed file applied to the data directory's store, beside a running
 * server or not (not an --in-memory one: give it --seed instead). */
static int apply_command(const struct azsim_config *cfg)
{
    if (!cfg->args[0] || cfg->args[1]) {
        fprintf(stderr, "usage: azsim apply FILE\n");
        return 2;
    }
    struct identity id;
    load_identity(cfg, &id);
    struct store *s = NULL;
    int rc = 1;
    if (!id.aad.client_secret[0]) {
        fprintf(stderr, "azsim: no credentials in %s: start azsim there once first\n",
                cfg->data_dir);
    } else if ((s = open_data_store(cfg)) != NULL) {
        struct server_context ctx = {.version = AZSIM_VERSION, .data_dir = cfg->data_dir};
        rc = apply_seed_file(cfg->args[0], s, &ctx, &id);
        if (rc == 0)
            printf("applied %s\n", cfg->args[0]);
    }
    store_close(s);
    aad_identity_release(&id.aad);
    return rc;
}

extern const char azsim_demo_script[]; /* demo/demo.py (data/demo.S) */

/* `azsim demo system-assigned|user-assigned [--step]`: the embedded narration, run by python3
 * with this binary and the data directory; it talks to azsim over HTTP only. */
static int demo(const struct azsim_config *cfg)
{
    const char *mode = cfg->args[0];
    if (!mode || cfg->args[1] ||
        (strcmp(mode, "system-assigned") != 0 && strcmp(mode, "user-assigned") != 0)) {
        fprintf(stderr, "usage: azsim demo system-assigned|user-assigned [--step]\n");
        return 2;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
        fprintf(stderr, "azsim: cannot find my own binary: %s\n", strerror(errno));
        return 1;
    }
    self[n] = '\0';
    fflush(stdout);
    execlp("python3", "python3", "-c", azsim_demo_script, mode, self, cfg->data_dir,
           cfg->step ? "1" : "0", (char *)NULL);
    fprintf(stderr, "azsim: the demo needs python3: %s\n", strerror(errno));
    return 1;
}

/* `azsim audit [denied] [PRINCIPAL]`: the newest authorization decisions, with their reasons. */
static int audit(const struct azsim_config *cfg)
{
    struct audit_filter f = {.limit = 50};
    for (size_t i = 0; i < ARRAY_SIZE(cfg->args) && cfg->args[i]; i++) {
        if (strcmp(cfg->args[i], "denied") == 0)
            f.denied_only = 1;
        else
            f.principal = cfg->args[i];
    }
    struct store *s = open_data_store(cfg);
    if (!s)
        return 1;
    struct json_writer *w = json_writer_new();
    int rc = audit_write_json(s, &f, w);
    store_close(s);
    struct json *doc = NULL;
    const char *text = json_writer_text(w, NULL);
    if (rc == 0 && cfg->json) {
        printf("%s\n", text);
    } else if (rc == 0 && json_parse(text, strlen(text), &doc, NULL, 0) == 0) {
        const struct json *list = json_get(doc, "value");
        /* Oldest first, like a log. */
        for (size_t i = json_len(list); i-- > 0;) {
            const struct json *e = json_at(list, i);
            bool allowed = false;
            json_bool(json_get(e, "allowed"), &allowed);
            printf("%s %-7s %-8s %s %s %s\n    %s\n", json_string(json_get(e, "time")),
                   allowed ? "allowed" : "DENIED", json_string(json_get(e, "module")),
                   json_string(json_get(e, "principal")), json_string(json_get(e, "action")),
                   json_string(json_get(e, "scope")), json_string(json_get(e, "reason")));
        }
    }
    json_free(doc);
    json_writer_free(w);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    struct azsim_config cfg;
    int cmd = config_parse(&cfg, argc, argv);
    if (cmd < 0)
        return 2;
    log_configure(cfg.log_level, cfg.log_format);
    switch ((enum azsim_command)cmd) {
    case CMD_HELP: config_usage(stdout); return 0;
    case CMD_VERSION: printf("azsim %s\n", AZSIM_VERSION); return 0;
    case CMD_HEALTH: return health(&cfg);
    case CMD_CA: {
        char *ca = ensure_ca(&cfg);
        if (ca)
            printf("%s\n", ca);
        free(ca);
        return ca ? 0 : 1;
    }
    case CMD_ENV: return print_env(&cfg);
    case CMD_INFO: return print_info(&cfg);
    case CMD_KEYS: return keys(&cfg);
    case CMD_APP: return app(&cfg);
    case CMD_AUDIT: return audit(&cfg);
    case CMD_VM: return vm_list(&cfg);
    case CMD_APPLY: return apply_command(&cfg);
    case CMD_DEMO: return demo(&cfg);
    case CMD_SERVE: return serve(&cfg);
    }
    return 2;
}
