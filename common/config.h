/*
 * config.h — azsim's settings, from flags and AZSIM_* environment variables (flags win).
 */
#ifndef AZSIM_CONFIG_H
#define AZSIM_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "log.h"
#include "module.h"

#define AZSIM_DEFAULT_DATA_DIR "./.azsim"
#define AZSIM_DEFAULT_BIND "127.0.0.1"
#define AZSIM_DEFAULT_IDLE_TIMEOUT 60
#define AZSIM_DEFAULT_PROXY_PORT 4700

/* Values that fix what azsim creates on first start, so compose files and tests can rely on
 * them; NULL means "keep what the data directory has, or generate". */
struct azsim_seed {
    const char *tenant_id;
    const char *tenant_domain;
    const char *admin_client_id;
    const char *admin_client_secret;
    const char *admin_password;
    const char *subscription_id;
};

struct azsim_config {
    const char *data_dir;
    bool in_memory;
    const char *bind;
    int ports[MODULE_COUNT]; /* 0 picks a free port */
    int proxy_port;          /* the front door */
    unsigned modules;        /* bit (1 << enum module_id) for each module to run */
    enum log_level log_level;
    enum log_format log_format;
    int idle_timeout;           /* seconds a connection may stay silent */
    const char *env_format;     /* `azsim env --format`: sh, dotenv or json */
    bool json;                  /* `azsim info --json` */
    const char *args[3];        /* a command's own words: `azsim keys rotate` */
    const char *identifier_uri; /* `azsim app create --identifier-uri` */
    const char *vm;             /* `azsim env --vm`: a VM's name or resource id */
    const char *seed_file;      /* `azsim serve --seed FILE`: applied before serving */
    bool step;                  /* `azsim demo --step`: pause between steps */
    struct azsim_seed seed;
};

/* The command a command line asks for. */
enum azsim_command {
    CMD_SERVE,
    CMD_HELP,
    CMD_VERSION,
    CMD_HEALTH,
    CMD_CA,
    CMD_ENV,
    CMD_INFO,
    CMD_KEYS,
    CMD_APP,
    CMD_AUDIT,
    CMD_VM,
    CMD_APPLY,
    CMD_DEMO,
};

/*
 * Fill `cfg` from the environment and then `argv`. Returns the command, or -1 after printing a
 * usage error to stderr. Strings in `cfg` point into argv, the environment or static storage.
 */
int config_parse(struct azsim_config *cfg, int argc, char **argv);
void config_usage(FILE *out);

#endif
