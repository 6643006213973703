/*
 * log.h — leveled logging to stderr, as text or one JSON object per line.
 *
 * LOG_* macros test the level before any formatting happens (redis's serverLog habit), so debug
 * lines cost nothing when off. Never pass a token, secret value, key, SAS signature or password.
 */
#ifndef AZSIM_LOG_H
#define AZSIM_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR, LOG_LEVEL_OFF };
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

extern enum log_level log_min_level;

void log_configure(enum log_level level, enum log_format format);
/* Parse "debug|info|warn|error|off" and "text|json"; return 0 or AZ_EINVAL. */
int log_parse_level(const char *s, enum log_level *out);
int log_parse_format(const char *s, enum log_format *out);

void log_write(enum log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define LOG_AT(level, module, ...)                                                                 \
    do {                                                                                           \
        if ((level) >= log_min_level)                                                              \
            log_write((level), (module), __VA_ARGS__);                                             \
    } while (0)
#define LOG_DEBUG(module, ...) LOG_AT(LOG_LEVEL_DEBUG, module, __VA_ARGS__)
#define LOG_INFO(module, ...) LOG_AT(LOG_LEVEL_INFO, module, __VA_ARGS__)
#define LOG_WARN(module, ...) LOG_AT(LOG_LEVEL_WARN, module, __VA_ARGS__)
#define LOG_ERROR(module, ...) LOG_AT(LOG_LEVEL_ERROR, module, __VA_ARGS__)

/* The one access-log line per request. Fields that do not apply are NULL and print as "-". */
struct log_access {
    const char *module;
    const char *method;
    const char *path; /* without the query string, which may carry SAS signatures */
    int status;
    double duration_ms;
    const char *operation;  /* Azure operationId of the matched route */
    const char *principal;  /* object id of the authenticated caller */
    const char *rbac;       /* the RBAC verdict, e.g. "allow" / "deny" */
    const char *error_code; /* Azure error code of a failed request */
    const char *request_id;
    const char *peer;
};

void log_access(const struct log_access *a);

#endif
