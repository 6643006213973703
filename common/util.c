/*
 * util.c — see util.h.
 */
#include "util.h"

#include "error.h"
#include "log.h"
#include "mem.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

const char *az_strerror(int err)
{
    switch (err) {
    case AZ_OK: return "ok";
    case AZ_ENOTFOUND: return "not found";
    case AZ_EEXIST: return "already exists";
    case AZ_EINVAL: return "invalid input";
    case AZ_ESTORE: return "state store error";
    case AZ_EIO: return "I/O error";
    case AZ_ETLS: return "TLS or key error";
    case AZ_EVERSION: return "data written by a newer azsim";
    case AZ_EREPLIED: return "error reply recorded";
    case AZ_ECONFLICT: return "precondition failed";
    case AZ_EDENIED: return "access denied";
    }
    return "unknown error";
}

/* ---- strings -------------------------------------------------------------------------------- */

bool str_ieq(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

bool str_ieqn(const char *a, size_t alen, const char *b)
{
    return strlen(b) == alen && strncasecmp(a, b, alen) == 0;
}

bool str_has_iprefix(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

bool str_has_isuffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* ---- randomness and UUIDs ------------------------------------------------------------------- */

void random_bytes(void *p, size_t n)
{
    unsigned char *out = p;
    while (n > 0) {
        ssize_t got = getrandom(out, n, 0);
        if (got < 0) {
            perror("azsim: getrandom");
            abort();
        }
        out += got;
        n -= (size_t)got;
    }
}

uint64_t hash_bytes(const void *data, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = data, *end = p + len; p < end; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h;
}

void uuid_v4(char out[37])
{
    unsigned char b[16];
    random_bytes(b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool api_version_is_date(const char *s)
{
    if (!s || strlen(s) < 10)
        return false;
    for (int i = 0; i < 10; i++) {
        if (i == 4 || i == 7 ? s[i] != '-' : !isdigit((unsigned char)s[i]))
            return false;
    }
    int month = (s[5] - '0') * 10 + (s[6] - '0'), day = (s[8] - '0') * 10 + (s[9] - '0');
    if (month < 1 || month > 12 || day < 1 || day > 31)
        return false;
    if (s[10] == '\0')
        return true;
    if (s[10] != '-' || s[11] == '\0' || strlen(s) > 40)
        return false;
    for (const char *p = s + 11; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '.')
            return false;
    }
    return true;
}

bool uuid_valid(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (hexval((unsigned char)s[i]) < 0) {
            return false;
        }
    }
    return true;
}

/* ---- base64 --------------------------------------------------------------------------------- */

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *b64_encode(struct arena *a, const unsigned char *in, size_t n, const char *alphabet,
                        bool pad)
{
    char *out = arena_alloc(a, (n + 2) / 3 * 4 + 1);
    char *o = out;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *o++ = alphabet[v >> 18 & 63];
        *o++ = alphabet[v >> 12 & 63];
        *o++ = alphabet[v >> 6 & 63];
        *o++ = alphabet[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        *o++ = alphabet[v >> 18 & 63];
        *o++ = alphabet[v >> 12 & 63];
        if (i + 1 < n)
            *o++ = alphabet[v >> 6 & 63];
        else if (pad)
            *o++ = '=';
        if (pad)
            *o++ = '=';
    }
    *o = '\0';
    return out;
}

char *base64_encode(struct arena *a, const void *data, size_t n)
{
    return b64_encode(a, data, n, b64_std, true);
}

char *base64url_encode(struct arena *a, const void *data, size_t n)
{
    return b64_encode(a, data, n, b64_url, false);
}

static int b64_value(int c, bool url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

static long b64_decode(struct arena *a, const char *s, size_t n, bool url, unsigned char **out)
{
    if (!url) {
        /* Padding is required for standard base64: the length is a multiple of 4, with at most
         * two trailing '='. */
        if (n % 4 != 0)
            return -1;
        if (n > 0 && s[n - 1] == '=')
            n--;
        if (n > 0 && s[n - 1] == '=')
            n--;
    }
    if (n % 4 == 1)
        return -1;
    unsigned char *buf = arena_alloc(a, n / 4 * 3 + 3);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value((unsigned char)s[i], url);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (unsigned char)(acc >> bits & 0xff);
        }
    }
    /* Leftover bits must be zero, or the encoding was not canonical. */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
        return -1;
    buf[o] = '\0';
    *out = buf;
    return (long)o;
}

long base64_decode(struct arena *a, const char *s, size_t n, unsigned char **out)
{
    return b64_decode(a, s, n, false, out);
}

long base64url_decode(struct arena *a, const char *s, size_t n, unsigned char **out)
{
    return b64_decode(a, s, n, true, out);
}

/* ---- percent-decoding and UTF-8 ------------------------------------------------------------- */

char *percent_decode(struct arena *a, const char *s, size_t n, bool plus_is_space, size_t *out_len)
{
    char *out = arena_alloc(a, n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return NULL;
            int hi = hexval((unsigned char)s[i + 1]), lo = hexval((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0)
                return NULL;
            c = (char)(hi << 4 | lo);
            if (c == '\0')
                return NULL;
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        } else if (c == '\0') {
            return NULL;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    if (out_len)
        *out_len = o;
    return out;
}

bool utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

size_t utf8_sequence_length(const char *s, size_t n)
{
    unsigned char c = (unsigned char)s[0];
    size_t len = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
    return len && len <= n && utf8_valid(s, len) ? len : 0;
}

/* ---- clock ---------------------------------------------------------------------------------- */

static _Atomic int64_t clock_offset_ms;

int64_t clock_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + atomic_load(&clock_offset_ms);
}

void clock_set_offset_ms(int64_t offset)
{
    atomic_store(&clock_offset_ms, offset);
}

int64_t clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void clock_format_iso8601(int64_t ms, char *out, size_t outlen)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[24];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, outlen, "%s.%03dZ", base, (int)(ms % 1000));
}

void clock_format_http(int64_t ms, char *out, size_t outlen)
{
    /* strftime's %a/%b follow the locale; HTTP dates need the C names. */
    static const char days[][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, outlen, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int clock_parse_http(const char *text, int64_t *ms)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    char day[4], month[4];
    struct tm tm = {0};
    if (!text || !str_has_isuffix(text, " GMT") ||
        sscanf(text, "%3s, %d %3s %d %d:%d:%d GMT", day, &tm.tm_mday, month, &tm.tm_year,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 7)
        return AZ_EINVAL;
    const char *m = strstr(months, month);
    if (!m || strlen(month) != 3 || (m - months) % 3 != 0 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60 || tm.tm_year < 1970)
        return AZ_EINVAL;
    tm.tm_mon = (int)((m - months) / 3);
    tm.tm_year -= 1900;
    *ms = (int64_t)timegm(&tm) * 1000;
    return 0;
}

/* ---- files ---------------------------------------------------------------------------------- */

/* Write through a temporary file and rename, so a crash never leaves half a key behind. */
int file_write_atomic(const char *path, const char *data, size_t len, unsigned mode)
{
    char *tmp = xasprintf("%s.tmp", path);
    int rc = AZ_EIO;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
    if (fd < 0)
        goto out;
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            goto out;
        }
        off += (size_t)n;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0)
        goto out;
    rc = 0;
out:
    if (rc != 0) {
        LOG_ERROR("azsim", "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return rc;
}

char *file_read(const char *path)
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
