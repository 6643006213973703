/*
 * config.c — see config.h.
 */
#include "config.h"

#include "error.h"
#include "util.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_DATA_DIR = 256,
    OPT_IN_MEMORY,
    OPT_BIND,
    OPT_ONLY,
    OPT_LOG_LEVEL,
    OPT_LOG_FORMAT,
    OPT_IDLE_TIMEOUT,
    OPT_PROXY_PORT,
    OPT_FORMAT,
    OPT_JSON,
    OPT_IDENTIFIER_URI,
    OPT_VM,
    OPT_TENANT_ID,
    OPT_TENANT_DOMAIN,
    OPT_ADMIN_CLIENT_ID,
    OPT_ADMIN_CLIENT_SECRET,
    OPT_ADMIN_PASSWORD,
    OPT_SUBSCRIPTION_ID,
    OPT_SEED,
    OPT_STEP,
    OPT_HELP,
    OPT_VERSION,
    OPT_PORT_BASE, /* OPT_PORT_BASE + enum module_id: --<module>-port */
};

void config_usage(FILE *out)
{
    fprintf(
        out,
        "usage: azsim [COMMAND] [OPTIONS]\n"
        "\n"
        "A local Azure control plane: Resource Manager, Entra ID, Instance Metadata, Key Vault\n"
        "and Blob Storage, with real signed tokens and RBAC.\n"
        "\n"
        "commands:\n"
        "  serve          run the server (the default)\n"
        "  health         exit 0 when every module of the running server answers /health\n"
        "  ca             print the path of the CA certificate to trust\n"
        "  env            print the variables that send a shell's Azure traffic to azsim:\n"
        "                 eval \"$(azsim env)\"   (--format sh|dotenv|json)\n"
        "  env --vm NAME  the same, and the shell *is* VM NAME for IMDS (its identities)\n"
        "  vm list        the VMs, their identities and addresses (--json)\n"
        "  info           print the tenant and the admin credentials (--json)\n"
        "  keys rotate    sign new tokens with a new key; the old one stays published\n"
        "  keys retire [--] KID  stop publishing an old signing key (-- before a KID\n"
        "                 that starts with '-')\n"
        "  audit [denied] [PRINCIPAL]  why was a request allowed or denied (--json)\n"
        "  apply FILE     create what seed file FILE describes, in the data directory's\n"
        "                 store (idempotent; README \"Use cases\" has the format)\n"
        "  demo system-assigned|user-assigned [--step]\n"
        "                 the managed-identity flow in its seven steps, narrated, against\n"
        "                 the running azsim (or one started for it); needs python3\n"
        "  app create NAME [--identifier-uri URI]\n"
        "                 register an application (with a client secret) whose API can be\n"
        "                 the audience of tokens: resource URI or app id\n"
        "  version        print the version\n"
        "  help           print this help\n"
        "\n"
        "options (each also read from the environment variable shown):\n"
        "  --data-dir DIR       state, keys and certificates  [AZSIM_DATA_DIR, default %s]\n"
        "  --in-memory          keep the state store in memory; certificates still live in\n"
        "                       the data directory                       [AZSIM_IN_MEMORY=1]\n"
        "  --bind ADDR          address every listener binds  [AZSIM_BIND, default %s]\n"
        "  --proxy-port N       the front door, an HTTP proxy for the real Azure host names\n"
        "                                         [AZSIM_PROXY_PORT, default %d; 0 = any]\n",
        AZSIM_DEFAULT_DATA_DIR, AZSIM_DEFAULT_BIND, AZSIM_DEFAULT_PROXY_PORT);
    for (int i = 0; i < MODULE_COUNT; i++) {
        char flag[32], env[32];
        snprintf(flag, sizeof(flag), "--%s-port N", modules[i]->name);
        snprintf(env, sizeof(env), "AZSIM_%s_PORT", modules[i]->name);
        for (char *p = env; *p; p++)
            *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        fprintf(out, "  %-20s %-24s [%s, default %u; 0 = any free port]\n", flag, modules[i]->title,
                env, modules[i]->default_port);
    }
    fprintf(out,
            "  --only LIST          run only these modules, e.g. imds,aad        [AZSIM_ONLY]\n"
            "  --log-level LEVEL    debug, info, warn, error or off   [AZSIM_LOG_LEVEL, info]\n"
            "  --log-format FORMAT  text or json                      [AZSIM_LOG_FORMAT, text]\n"
            "  --idle-timeout SECS  close connections silent this long  [AZSIM_IDLE_TIMEOUT, %d]\n"
            "  --seed FILE          apply seed file FILE before serving; healthy only after\n"
            "                                                             [AZSIM_SEED]\n"
            "\n"
            "what the first start creates (generated unless given)    [AZSIM_TENANT_ID, ...]:\n"
            "  --tenant-id GUID  --tenant-domain NAME  --admin-client-id GUID\n"
            "  --admin-client-secret SECRET  --admin-password PASSWORD  --subscription-id GUID\n"
            "  -h, --help           print this help\n"
            "  -V, --version        print the version\n",
            AZSIM_DEFAULT_IDLE_TIMEOUT);
}

static int parse_port(const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 0 || v > 65535)
        return AZ_EINVAL;
    *out = (int)v;
    return 0;
}

static int parse_positive(const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v <= 0 || v > 86400)
        return AZ_EINVAL;
    *out = (int)v;
    return 0;
}

static int parse_only(const char *list, unsigned *out)
{
    unsigned mask = 0;
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ", ");
        if (n > 0) {
            bool found = false;
            for (int i = 0; i < MODULE_COUNT; i++) {
                if (str_ieqn(p, n, modules[i]->name)) {
                    mask |= 1u << i;
                    found = true;
                }
            }
            if (!found)
                return AZ_EINVAL;
        }
        p += n;
        p += strspn(p, ", ");
    }
    if (!mask)
        return AZ_EINVAL;
    *out = mask;
    return 0;
}

static int parse_guid(const char *s, const char **out)
{
    if (!uuid_valid(s))
        return AZ_EINVAL;
    *out = s;
    return 0;
}

/* Secrets and passwords azsim accepts: 8 to 128 printable ASCII characters. */
static int parse_secret(const char *s, const char **out)
{
    size_t n = strlen(s);
    if (n < 8 || n > 128)
        return AZ_EINVAL;
    for (const char *p = s; *p; p++) {
        if (*p < 0x21 || *p > 0x7e)
            return AZ_EINVAL;
    }
    *out = s;
    return 0;
}

static bool env_true(const char *v)
{
    return v && (str_ieq(v, "1") || str_ieq(v, "true") || str_ieq(v, "yes"));
}

/* Apply one setting; `origin` names the flag or variable for the error message. */
static int apply(struct azsim_config *cfg, int opt, const char *value, const char *origin)
{
    int rc = 0;
    switch (opt) {
    case OPT_DATA_DIR:
        if (!*value)
            rc = AZ_EINVAL;
        cfg->data_dir = value;
        break;
    case OPT_IN_MEMORY: cfg->in_memory = value ? env_true(value) : true; break;
    case OPT_BIND: cfg->bind = value; break;
    case OPT_ONLY: rc = parse_only(value, &cfg->modules); break;
    case OPT_LOG_LEVEL: rc = log_parse_level(value, &cfg->log_level); break;
    case OPT_LOG_FORMAT: rc = log_parse_format(value, &cfg->log_format); break;
    case OPT_IDLE_TIMEOUT: rc = parse_positive(value, &cfg->idle_timeout); break;
    case OPT_PROXY_PORT: rc = parse_port(value, &cfg->proxy_port); break;
    case OPT_JSON: cfg->json = true; break;
    case OPT_IDENTIFIER_URI: cfg->identifier_uri = value; break;
    case OPT_VM: cfg->vm = value; break;
    case OPT_STEP: cfg->step = true; break;
    case OPT_SEED:
        if (!*value)
            rc = AZ_EINVAL;
        cfg->seed_file = value;
        break;
    case OPT_TENANT_ID: rc = parse_guid(value, &cfg->seed.tenant_id); break;
    case OPT_ADMIN_CLIENT_ID: rc = parse_guid(value, &cfg->seed.admin_client_id); break;
    case OPT_SUBSCRIPTION_ID: rc = parse_guid(value, &cfg->seed.subscription_id); break;
    case OPT_ADMIN_CLIENT_SECRET: rc = parse_secret(value, &cfg->seed.admin_client_secret); break;
    case OPT_ADMIN_PASSWORD: rc = parse_secret(value, &cfg->seed.admin_password); break;
    case OPT_TENANT_DOMAIN:
        /* A DNS name: letters, digits, '-' and '.', as Entra requires of domains. */
        if (!*value || strlen(value) > 200 ||
            strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") !=
                strlen(value))
            rc = AZ_EINVAL;
        cfg->seed.tenant_domain = value;
        break;
    case OPT_FORMAT:
        if (strcmp(value, "sh") != 0 && strcmp(value, "dotenv") != 0 && strcmp(value, "json") != 0)
            rc = AZ_EINVAL;
        cfg->env_format = value;
        break;
    default:
        if (opt >= OPT_PORT_BASE && opt < OPT_PORT_BASE + MODULE_COUNT)
            rc = parse_port(value, &cfg->ports[opt - OPT_PORT_BASE]);
        break;
    }
    if (rc != 0)
        fprintf(stderr, "azsim: invalid value '%s' for %s\n", value ? value : "", origin);
    return rc;
}

static int apply_environment(struct azsim_config *cfg)
{
    static const struct {
        const char *name;
        int opt;
    } vars[] = {
        {"AZSIM_DATA_DIR", OPT_DATA_DIR},
        {"AZSIM_IN_MEMORY", OPT_IN_MEMORY},
        {"AZSIM_BIND", OPT_BIND},
        {"AZSIM_ONLY", OPT_ONLY},
        {"AZSIM_LOG_LEVEL", OPT_LOG_LEVEL},
        {"AZSIM_LOG_FORMAT", OPT_LOG_FORMAT},
        {"AZSIM_IDLE_TIMEOUT", OPT_IDLE_TIMEOUT},
        {"AZSIM_PROXY_PORT", OPT_PROXY_PORT},
        {"AZSIM_TENANT_ID", OPT_TENANT_ID},
        {"AZSIM_TENANT_DOMAIN", OPT_TENANT_DOMAIN},
        {"AZSIM_ADMIN_CLIENT_ID", OPT_ADMIN_CLIENT_ID},
        {"AZSIM_ADMIN_CLIENT_SECRET", OPT_ADMIN_CLIENT_SECRET},
        {"AZSIM_ADMIN_PASSWORD", OPT_ADMIN_PASSWORD},
        {"AZSIM_SUBSCRIPTION_ID", OPT_SUBSCRIPTION_ID},
        {"AZSIM_SEED", OPT_SEED},
    };
    for (size_t i = 0; i < ARRAY_SIZE(vars); i++) {
        const char *v = getenv(vars[i].name);
        if (v && *v && apply(cfg, vars[i].opt, v, vars[i].name) != 0)
            return AZ_EINVAL;
    }
    for (int i = 0; i < MODULE_COUNT; i++) {
        char name[32];
        snprintf(name, sizeof(name), "AZSIM_%s_PORT", modules[i]->name);
        for (char *p = name; *p; p++)
            *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        const char *v = getenv(name);
        if (v && *v && apply(cfg, OPT_PORT_BASE + i, v, name) != 0)
            return AZ_EINVAL;
    }
    return 0;
}

int config_parse(struct azsim_config *cfg, int argc, char **argv)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->data_dir = AZSIM_DEFAULT_DATA_DIR;
    cfg->bind = AZSIM_DEFAULT_BIND;
    cfg->modules = (1u << MODULE_COUNT) - 1;
    cfg->log_level = LOG_LEVEL_INFO;
    cfg->log_format = LOG_FORMAT_TEXT;
    cfg->idle_timeout = AZSIM_DEFAULT_IDLE_TIMEOUT;
    cfg->proxy_port = AZSIM_DEFAULT_PROXY_PORT;
    cfg->env_format = "sh";
    for (int i = 0; i < MODULE_COUNT; i++)
        cfg->ports[i] = modules[i]->default_port;

    if (apply_environment(cfg) != 0)
        return -1;

    static char port_names[MODULE_COUNT][24];
    struct option opts[24 + MODULE_COUNT] = {
        {"data-dir", required_argument, NULL, OPT_DATA_DIR},
        {"in-memory", no_argument, NULL, OPT_IN_MEMORY},
        {"bind", required_argument, NULL, OPT_BIND},
        {"only", required_argument, NULL, OPT_ONLY},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
        {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
        {"proxy-port", required_argument, NULL, OPT_PROXY_PORT},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"json", no_argument, NULL, OPT_JSON},
        {"identifier-uri", required_argument, NULL, OPT_IDENTIFIER_URI},
        {"vm", required_argument, NULL, OPT_VM},
        {"tenant-id", required_argument, NULL, OPT_TENANT_ID},
        {"tenant-domain", required_argument, NULL, OPT_TENANT_DOMAIN},
        {"admin-client-id", required_argument, NULL, OPT_ADMIN_CLIENT_ID},
        {"admin-client-secret", required_argument, NULL, OPT_ADMIN_CLIENT_SECRET},
        {"admin-password", required_argument, NULL, OPT_ADMIN_PASSWORD},
        {"subscription-id", required_argument, NULL, OPT_SUBSCRIPTION_ID},
        {"seed", required_argument, NULL, OPT_SEED},
        {"step", no_argument, NULL, OPT_STEP},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
    };
    size_t n = 22;
    for (int i = 0; i < MODULE_COUNT; i++) {
        snprintf(port_names[i], sizeof(port_names[i]), "%s-port", modules[i]->name);
        opts[n++] = (struct option){port_names[i], required_argument, NULL, OPT_PORT_BASE + i};
    }

    static const struct {
        const char *name;
        int cmd;
    } commands[] = {{"serve", CMD_SERVE},   {"help", CMD_HELP}, {"version", CMD_VERSION},
                    {"health", CMD_HEALTH}, {"ca", CMD_CA},     {"env", CMD_ENV},
                    {"info", CMD_INFO},     {"keys", CMD_KEYS}, {"app", CMD_APP},
                    {"audit", CMD_AUDIT},   {"vm", CMD_VM},     {"apply", CMD_APPLY},
                    {"demo", CMD_DEMO}};
    int command = -1;
    size_t nargs = 0;
    /* "--" ends the options: the words after it are arguments even when they start with '-'
     * (a key id is base64url). */
    int end = 1;
    while (end < argc && strcmp(argv[end], "--") != 0)
        end++;
    optind = 1;
    for (;;) {
        /* '+': stop at the first word, so options may come before and after the command. */
        int c = optind < end ? getopt_long(end, argv, "+hV", opts, NULL) : -1;
        if (c == -1) {
            if (optind == end && end < argc)
                optind++; /* past "--": only words follow */
            if (optind >= argc)
                break;
            const char *word = argv[optind++];
            if ((command == CMD_KEYS || command == CMD_APP || command == CMD_AUDIT ||
                 command == CMD_VM || command == CMD_APPLY || command == CMD_DEMO) &&
                nargs < ARRAY_SIZE(cfg->args)) {
                cfg->args[nargs++] = word;
                continue;
            }
            if (command >= 0) {
                fprintf(stderr, "azsim: unexpected argument '%s'\n", word);
                return -1;
            }
            for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
                if (strcmp(word, commands[i].name) == 0)
                    command = commands[i].cmd;
            }
            if (command < 0) {
                fprintf(stderr, "azsim: unknown command '%s' (try 'azsim --help')\n", word);
                return -1;
            }
            continue;
        }
        if (c == 'h')
            return CMD_HELP;
        if (c == 'V')
            return CMD_VERSION;
        if (c == '?')
            return -1;
        char origin[40] = "option";
        for (size_t i = 0; i < n; i++) {
            if (opts[i].val == c)
                snprintf(origin, sizeof(origin), "--%s", opts[i].name);
        }
        if (apply(cfg, c, optarg, origin) != 0)
            return -1;
    }
    return command < 0 ? CMD_SERVE : command;
}
