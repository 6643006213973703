/*
 * main.c — the azsim command: `serve` (the default) starts every module over one state store;
 * `health`, `ca`, `version` and `help` are the small commands around it.
 *
 * A running server records its listeners in `<data-dir>/azsim.run.json` so that `azsim health`
 * (and later commands) can find ports chosen with `0`.
 */
#include "client.h"
#include "config.h"
#include "error.h"
#include "json.h"
#include "log.h"
#include "mem.h"
#include "server.h"
#include "store.h"
#include "tls.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef AZSIM_VERSION
#define AZSIM_VERSION "0.0.0-dev"
#endif

#define RUN_FILE "azsim.run.json"
#define DB_FILE "azsim.db"
#define HEALTH_TIMEOUT_MS 2000

/* mkdir -p with mode 0700 for the directories azsim creates. */
static int make_dirs(const char *path)
{
    char *p = xstrdup(path);
    int rc = 0;
    for (char *s = p + 1; ; s++) {
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

/* The identity of this data directory: created once, reported by later commands. */
static int init_store(struct store *s)
{
    int rc = store_migrate(s, store_schema, store_schema_len);
    if (rc != 0)
        return rc;
    char *id = NULL;
    rc = store_meta_get(s, "instance_id", &id);
    if (rc == AZ_ENOTFOUND) {
        char uuid[37], now[32];
        uuid_v4(uuid);
        clock_format_iso8601(clock_now_ms(), now, sizeof(now));
        rc = store_begin(s);
        if (rc == 0 && (rc = store_meta_set(s, "instance_id", uuid)) == 0 &&
            (rc = store_meta_set(s, "created_at", now)) == 0)
            rc = store_commit(s);
        if (rc != 0)
            store_rollback(s);
    }
    free(id);
    return rc;
}

static int write_run_file(const struct azsim_config *cfg, struct server *srv, const char *ca)
{
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_int(w, "pid", getpid());
    jw_kv_string(w, "version", AZSIM_VERSION);
    jw_kv_string(w, "ca", ca);
    jw_key(w, "listeners");
    jw_object_open(w);
    for (int i = 0; i < MODULE_COUNT; i++) {
        if (server_url(srv, i))
            jw_kv_string(w, modules[i]->name, server_url(srv, i));
    }
    jw_object_close(w);
    jw_object_close(w);
    size_t len;
    const char *text = json_writer_text(w, &len);
    char *path = data_path(cfg, RUN_FILE);
    char *tmp = xasprintf("%s.tmp", path);
    int rc = AZ_EIO;
    FILE *f = fopen(tmp, "w");
    if (f && fwrite(text, 1, len, f) == len && fclose(f) == 0) {
        f = NULL;
        rc = rename(tmp, path) == 0 ? 0 : AZ_EIO;
    }
    if (f)
        fclose(f);
    if (rc != 0)
        LOG_ERROR("azsim", "cannot write %s: %s", path, strerror(errno));
    free(tmp);
    free(path);
    json_writer_free(w);
    return rc;
}

static int serve(const struct azsim_config *cfg)
{
    int rc = make_dirs(cfg->data_dir);
    if (rc != 0)
        return 1;

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
    char *tls_dir = data_path(cfg, "tls");
    char *db_path = data_path(cfg, DB_FILE);
    char *ca_path = NULL;
    struct store_location loc = {.path = cfg->in_memory ? NULL : db_path};
    rc = 1;

    if (tls_load_or_create(tls_dir, &tls) != 0)
        goto out;
    /* This connection stays open for the server's lifetime: it also keeps the in-memory
     * database alive between module connections. */
    if (store_open(&loc, &store) != 0 || init_store(store) != 0)
        goto out;

    struct server_context ctx = {.version = AZSIM_VERSION, .ca_pem = tls_ca_pem(tls)};
    if (server_create(cfg, &ctx, &loc, tls, &srv) != 0)
        goto out;

    ca_path = absolute(tls_ca_path(tls));
    for (int i = 0; i < MODULE_COUNT; i++) {
        if (server_url(srv, i))
            printf("%-9s %s\n", modules[i]->name, server_url(srv, i));
    }
    printf("%-9s %s\n", "ca", ca_path);
    fflush(stdout);

    if (write_run_file(cfg, srv, ca_path) != 0 || server_start(srv) != 0)
        goto out;
    LOG_INFO("azsim", "azsim %s ready (store: %s)", AZSIM_VERSION,
             cfg->in_memory ? "in memory" : db_path);

    int sig = 0;
    sigwait(&stop_signals, &sig);
    LOG_INFO("azsim", "%s received; finishing requests in flight", strsignal(sig));
    rc = 0;
out:
    if (srv) {
        server_stop(srv);
        char *run = data_path(cfg, RUN_FILE);
        if (rc == 0)
            unlink(run);
        free(run);
    }
    server_free(srv);
    store_close(store);
    tls_free(tls);
    free(ca_path);
    free(db_path);
    free(tls_dir);
    if (rc == 0)
        LOG_INFO("azsim", "stopped");
    return rc;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    struct buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    return b.data ? b.data : xstrdup("");
}

/* Exit 0 only when every listener the running server recorded answers GET /health with 200. */
static int health(const struct azsim_config *cfg)
{
    char *path = data_path(cfg, RUN_FILE);
    char *text = read_file(path);
    struct json *doc = NULL;
    int failed = 1;
    if (!text) {
        fprintf(stderr, "azsim: not running (no %s)\n", path);
        goto out;
    }
    if (json_parse(text, strlen(text), &doc, NULL, 0) != 0) {
        fprintf(stderr, "azsim: %s is not valid JSON\n", path);
        goto out;
    }
    int64_t pid;
    if (!json_int(json_get(doc, "pid"), &pid) || kill((pid_t)pid, 0) != 0) {
        fprintf(stderr, "azsim: not running (the server recorded in %s is gone)\n", path);
        goto out;
    }
    const char *ca = json_string(json_get(doc, "ca"));
    const struct json *listeners = json_get(doc, "listeners");
    failed = json_len(listeners) == 0;
    for (size_t i = 0; i < json_len(listeners); i++) {
        const char *url = json_string(json_at(listeners, i));
        char *health_url = xasprintf("%s/health", url ? url : "");
        struct buf body = {0};
        int status = 0;
        int rc = client_get(health_url, ca, HEALTH_TIMEOUT_MS, &status, &body);
        bool ok = rc == 0 && status == 200;
        printf("%-9s %-28s %s\n", json_key_at(listeners, i), url ? url : "?",
               ok ? "healthy" : rc != 0 ? az_strerror(rc) : "unhealthy");
        failed |= !ok;
        buf_free(&body);
        free(health_url);
    }
out:
    json_free(doc);
    free(text);
    free(path);
    return failed;
}

/* Print the CA path, creating the CA first if this data directory has none yet. */
static int print_ca(const struct azsim_config *cfg)
{
    if (make_dirs(cfg->data_dir) != 0)
        return 1;
    char *tls_dir = data_path(cfg, "tls");
    struct tls *tls = NULL;
    int rc = tls_load_or_create(tls_dir, &tls);
    if (rc == 0) {
        char *ca = absolute(tls_ca_path(tls));
        printf("%s\n", ca);
        free(ca);
    }
    tls_free(tls);
    free(tls_dir);
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
    case CMD_CA: return print_ca(&cfg);
    case CMD_SERVE: return serve(&cfg);
    }
    return 2;
}
