/*
 * log.c — see log.h. Each line is assembled in memory and written with one fwrite, so lines from
 * the module threads never interleave.
 */
#include "log.h"

#include "error.h"
#include "mem.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum log_level log_min_level = LOG_LEVEL_INFO;
static enum log_format log_fmt = LOG_FORMAT_TEXT;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void log_configure(enum log_level level, enum log_format format)
{
    log_min_level = level;
    log_fmt = format;
}

int log_parse_level(const char *s, enum log_level *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
        if (str_ieq(s, level_names[i])) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    if (str_ieq(s, "warning")) {
        *out = LOG_LEVEL_WARN;
        return 0;
    }
    return AZ_EINVAL;
}

int log_parse_format(const char *s, enum log_format *out)
{
    if (str_ieq(s, "text"))
        *out = LOG_FORMAT_TEXT;
    else if (str_ieq(s, "json"))
        *out = LOG_FORMAT_JSON;
    else
        return AZ_EINVAL;
    return 0;
}

/* Append `s` as the inside of a JSON string: quotes, backslashes and control bytes escaped,
 * bytes that are not UTF-8 (a client's raw path) replaced, so every line stays valid JSON. */
static void json_escape(struct buf *b, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t len = utf8_sequence_length(s + i, n - i);
        if (c == '"' || c == '\\') {
            buf_putc(b, '\\');
            buf_putc(b, (char)c);
        } else if (c < 0x20) {
            buf_printf(b, "\\u%04x", c);
        } else if (len == 0) {
            buf_puts(b, "\\ufffd");
        } else {
            buf_append(b, s + i, len);
        }
        i += len ? len : 1;
    }
}

/* Text lines must stay one line: control bytes in a value become '?'. */
static void text_clean(struct buf *b, const char *s)
{
    for (; *s; s++)
        buf_putc(b, (unsigned char)*s < 0x20 ? '?' : *s);
}

static void line_start(struct buf *b, enum log_level level, const char *module)
{
    char ts[32];
    clock_format_iso8601(clock_now_ms(), ts, sizeof(ts));
    if (log_fmt == LOG_FORMAT_JSON) {
        buf_printf(b, "{\"time\":\"%s\",\"level\":\"%s\",\"module\":\"", ts, level_names[level]);
        json_escape(b, module ? module : "azsim");
        buf_putc(b, '"');
    } else {
        buf_printf(b, "%s %-5s %-8s ", ts, level_names[level], module ? module : "azsim");
    }
}

static void line_end(struct buf *b)
{
    if (log_fmt == LOG_FORMAT_JSON)
        buf_putc(b, '}');
    buf_putc(b, '\n');
    fwrite(b->data, 1, b->len, stderr);
    fflush(stderr);
    buf_free(b);
}

void log_write(enum log_level level, const char *module, const char *fmt, ...)
{
    struct buf msg = {0}, line = {0};
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&msg, fmt, ap);
    va_end(ap);

    line_start(&line, level, module);
    if (log_fmt == LOG_FORMAT_JSON) {
        buf_puts(&line, ",\"msg\":\"");
        json_escape(&line, msg.data);
        buf_putc(&line, '"');
    } else {
        text_clean(&line, msg.data);
    }
    buf_free(&msg);
    line_end(&line);
}

static void field(struct buf *b, const char *key, const char *value)
{
    if (log_fmt == LOG_FORMAT_JSON) {
        if (!value)
            return;
        buf_printf(b, ",\"%s\":\"", key);
        json_escape(b, value);
        buf_putc(b, '"');
    } else {
        buf_printf(b, " %s=", key);
        text_clean(b, value ? value : "-");
    }
}

void log_access(const struct log_access *a)
{
    if (LOG_LEVEL_INFO < log_min_level)
        return;
    struct buf line = {0};
    line_start(&line, LOG_LEVEL_INFO, a->module);
    if (log_fmt == LOG_FORMAT_JSON) {
        buf_puts(&line, ",\"msg\":\"request\"");
        field(&line, "method", a->method);
        field(&line, "path", a->path);
        buf_printf(&line, ",\"status\":%d,\"duration_ms\":%.3f", a->status, a->duration_ms);
    } else {
        text_clean(&line, a->method);
        buf_putc(&line, ' ');
        text_clean(&line, a->path);
        buf_printf(&line, " %d %.3fms", a->status, a->duration_ms);
    }
    field(&line, "op", a->operation);
    field(&line, "principal", a->principal);
    field(&line, "rbac", a->rbac);
    field(&line, "error", a->error_code);
    field(&line, "peer", a->peer);
    field(&line, "request_id", a->request_id);
    line_end(&line);
}
