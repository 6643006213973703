/*
 * json.c — see json.h. The only file that includes yajl. A `struct json *` is a yajl_val in
 * disguise; the cast keeps yajl's types out of every other file.
 */
#include "json.h"

#include "error.h"
#include "mem.h"
#include "util.h"

#include <errno.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#define VAL(v) ((yajl_val)(v))

/* yajl builds and frees trees recursively; refuse nesting deep enough to exhaust a thread's
 * stack before yajl sees it. Azure's own limit for ARM templates is far below this. It also
 * stays well under yajl_gen's own limit (YAJL_MAX_DEPTH, 128), past which the writer silently
 * drops brackets: a 200-deep document parsed, and jw_value wrote text that no longer did (found
 * by tests/fuzz/fuzz_json.c). The margin is for the envelopes azsim writes around a stored
 * document ({"value":[{"properties":…}]}). */
#define JSON_MAX_DEPTH 100

static bool nesting_ok(const char *s, size_t n)
{
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > JSON_MAX_DEPTH)
                return false;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return true;
}

/* Does a string in the text hold the escape \u0000? yajl decodes it into a NUL byte, which would
 * silently cut the C string every caller sees ("west\u0000us" became location "west"). */
static bool has_escaped_nul(const char *s, size_t n)
{
    bool in_string = false;
    for (size_t i = 0; i < n; i++) {
        if (in_string) {
            if (s[i] == '\\') {
                if (n - i >= 6 && memcmp(s + i + 1, "u0000", 5) == 0)
                    return true;
                i++;
            } else if (s[i] == '"') {
                in_string = false;
            }
        } else if (s[i] == '"') {
            in_string = true;
        }
    }
    return false;
}

int json_parse(const char *text, size_t len, struct json **out, char *err, size_t errlen)
{
    char localerr[128];
    *out = NULL;
    /* yajl_tree_parse wants a NUL-terminated string, and a NUL inside would end it early. */
    if (memchr(text, '\0', len)) {
        if (err)
            snprintf(err, errlen, "NUL byte in JSON text");
        return AZ_EINVAL;
    }
    if (!nesting_ok(text, len)) {
        if (err)
            snprintf(err, errlen, "JSON nested deeper than %d levels", JSON_MAX_DEPTH);
        return AZ_EINVAL;
    }
    if (has_escaped_nul(text, len)) {
        if (err)
            snprintf(err, errlen, "NUL character (\\u0000) in a JSON string");
        return AZ_EINVAL;
    }
    char *copy = xstrndup(text, len);
    yajl_val root = yajl_tree_parse(copy, localerr, sizeof(localerr));
    free(copy);
    if (!root) {
        if (err) {
            /* yajl's message spans lines (it quotes the input with a caret); keep the first. */
            localerr[strcspn(localerr, "\n")] = '\0';
            snprintf(err, errlen, "%s", localerr[0] ? localerr : "invalid JSON");
        }
        return AZ_EINVAL;
    }
    *out = (struct json *)root;
    return 0;
}

static bool word_char(char c, bool first)
{
    return isalpha((unsigned char)c) || c == '_' || c == '$' ||
           (!first && isdigit((unsigned char)c));
}

/* Past whitespace and comments from `i`. */
static size_t skip_blank(const char *t, size_t len, size_t i)
{
    for (;;) {
        while (i < len && isspace((unsigned char)t[i]))
            i++;
        if (i + 1 < len && t[i] == '/' && t[i + 1] == '/') {
            while (i < len && t[i] != '\n')
                i++;
        } else if (i + 1 < len && t[i] == '/' && t[i + 1] == '*') {
            const char *end = memmem(t + i + 2, len - i - 2, "*/", 2);
            i = end ? (size_t)(end - t) + 2 : len;
        } else {
            return i;
        }
    }
}

static bool closes(const char *t, size_t len, size_t i)
{
    return i < len && (t[i] == '}' || t[i] == ']');
}

const char *json_relax(struct arena *a, const char *text, size_t len, size_t *out_len)
{
    struct buf b = {0};
    for (size_t i = 0; i < len;) {
        char c = text[i];
        if (c == '"') { /* a string, escapes and all, as it is */
            size_t j = i + 1;
            while (j < len && text[j] != '"')
                j += text[j] == '\\' ? 2 : 1;
            j = j < len ? j + 1 : len;
            buf_append(&b, text + i, j - i);
            i = j;
        } else if (c == '/' && i + 1 < len && (text[i + 1] == '/' || text[i + 1] == '*')) {
            buf_putc(&b, ' ');
            i = skip_blank(text, len, i);
        } else if (c == ',' && closes(text, len, skip_blank(text, len, i + 1))) {
            i++; /* a trailing comma */
        } else if (word_char(c, true)) {
            size_t j = i;
            while (j < len && word_char(text[j], false))
                j++;
            size_t next = skip_blank(text, len, j);
            bool key = next < len && text[next] == ':';
            if (key)
                buf_putc(&b, '"');
            buf_append(&b, text + i, j - i);
            if (key)
                buf_putc(&b, '"');
            i = j;
        } else {
            buf_putc(&b, c);
            i++;
        }
    }
    *out_len = b.len;
    char *out = arena_strndup(a, b.data ? b.data : "", b.len);
    buf_free(&b);
    return out;
}

bool json_equal(const struct json *a, const struct json *b)
{
    if (json_type(a) != json_type(b))
        return false;
    switch (json_type(a)) {
    case JSON_STRING: return strcmp(json_string(a), json_string(b)) == 0;
    case JSON_NUMBER: {
        double x, y;
        if (json_double(a, &x) && json_double(b, &y))
            return x == y;
        /* Out of double's range (1e400): yajl keeps only the text, so compare that; by value
         * alone such a number was unequal to itself (found by tests/fuzz/fuzz_json.c). */
        return strcmp(VAL(a)->u.number.r, VAL(b)->u.number.r) == 0;
    }
    case JSON_BOOL: {
        bool x, y;
        return json_bool(a, &x) && json_bool(b, &y) && x == y;
    }
    case JSON_ARRAY:
        if (json_len(a) != json_len(b))
            return false;
        for (size_t i = 0; i < json_len(a); i++)
            if (!json_equal(json_at(a, i), json_at(b, i)))
                return false;
        return true;
    case JSON_OBJECT:
        if (json_len(a) != json_len(b))
            return false;
        for (size_t i = 0; i < json_len(a); i++) {
            /* A repeated key ({"a":1,"a":2}, which yajl keeps) matches the same occurrence of
             * it in `b`: by first match, such a document was unequal to itself (found by
             * tests/fuzz/fuzz_json.c). */
            const char *key = json_key_at(a, i);
            size_t nth = 0;
            for (size_t k = 0; k < i; k++)
                nth += strcmp(json_key_at(a, k), key) == 0;
            const struct json *other = NULL;
            for (size_t k = 0; k < json_len(b) && !other; k++) {
                if (strcmp(json_key_at(b, k), key) == 0 && nth-- == 0)
                    other = json_at(b, k);
            }
            if (!json_equal(json_at(a, i), other))
                return false;
        }
        return true;
    default: return true;
    }
}

void json_free(struct json *root)
{
    if (root)
        yajl_tree_free(VAL(root));
}

static void json_dispose(void *root)
{
    json_free(root);
}

const struct json *json_parse_in(struct arena *a, const char *text, size_t len)
{
    struct json *doc;
    if (json_parse(text, len, &doc, NULL, 0) != 0)
        return NULL;
    arena_on_free(a, json_dispose, doc);
    return doc;
}

enum json_type json_type(const struct json *v)
{
    if (!v)
        return JSON_NONE;
    switch (VAL(v)->type) {
    case yajl_t_string: return JSON_STRING;
    case yajl_t_number: return JSON_NUMBER;
    case yajl_t_object: return JSON_OBJECT;
    case yajl_t_array: return JSON_ARRAY;
    case yajl_t_true:
    case yajl_t_false: return JSON_BOOL;
    case yajl_t_null: return JSON_NULL;
    case yajl_t_any: break;
    }
    return JSON_NONE;
}

static const struct json *object_get(const struct json *obj, const char *key, bool icase)
{
    if (!obj || !YAJL_IS_OBJECT(VAL(obj)))
        return NULL;
    const yajl_val o = VAL(obj);
    for (size_t i = 0; i < o->u.object.len; i++) {
        const char *k = o->u.object.keys[i];
        if (icase ? str_ieq(k, key) : strcmp(k, key) == 0)
            return (const struct json *)o->u.object.values[i];
    }
    return NULL;
}

const struct json *json_get(const struct json *obj, const char *key)
{
    return object_get(obj, key, false);
}

const struct json *json_iget(const struct json *obj, const char *key)
{
    return object_get(obj, key, true);
}

size_t json_len(const struct json *v)
{
    if (!v)
        return 0;
    if (YAJL_IS_OBJECT(VAL(v)))
        return VAL(v)->u.object.len;
    if (YAJL_IS_ARRAY(VAL(v)))
        return VAL(v)->u.array.len;
    return 0;
}

const struct json *json_at(const struct json *v, size_t i)
{
    if (i >= json_len(v))
        return NULL;
    if (YAJL_IS_OBJECT(VAL(v)))
        return (const struct json *)VAL(v)->u.object.values[i];
    return (const struct json *)VAL(v)->u.array.values[i];
}

const char *json_key_at(const struct json *obj, size_t i)
{
    if (!obj || !YAJL_IS_OBJECT(VAL(obj)) || i >= VAL(obj)->u.object.len)
        return NULL;
    return VAL(obj)->u.object.keys[i];
}

const char *json_string(const struct json *v)
{
    return v && YAJL_IS_STRING(VAL(v)) ? VAL(v)->u.string : NULL;
}

bool json_bool(const struct json *v, bool *out)
{
    if (!v || !(YAJL_IS_TRUE(VAL(v)) || YAJL_IS_FALSE(VAL(v))))
        return false;
    *out = YAJL_IS_TRUE(VAL(v));
    return true;
}

bool json_int(const struct json *v, int64_t *out)
{
    if (!v || !YAJL_IS_NUMBER(VAL(v)))
        return false;
    if (YAJL_IS_INTEGER(VAL(v))) {
        *out = YAJL_GET_INTEGER(VAL(v));
        return true;
    }
    /* yajl 2.1 accumulates digits as a positive number before applying the sign, so it cannot
     * represent INT64_MIN as an integer; its text still can. */
    const char *text = VAL(v)->u.number.r;
    if (strpbrk(text, ".eE"))
        return false;
    errno = 0;
    char *end;
    long long n = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = n;
    return true;
}

bool json_double(const struct json *v, double *out)
{
    if (!v || !YAJL_IS_DOUBLE(VAL(v)))
        return false;
    *out = YAJL_GET_DOUBLE(VAL(v));
    return true;
}

/* ---- writer --------------------------------------------------------------------------------- */

struct json_writer {
    yajl_gen gen;
};

struct json_writer *json_writer_new(void)
{
    struct json_writer *w = xcalloc(1, sizeof(*w));
    w->gen = yajl_gen_alloc(NULL);
    if (!w->gen) {
        fprintf(stderr, "azsim: out of memory in yajl_gen_alloc\n");
        abort();
    }
    yajl_gen_config(w->gen, yajl_gen_validate_utf8, 1);
    return w;
}

void json_writer_free(struct json_writer *w)
{
    if (!w)
        return;
    yajl_gen_free(w->gen);
    free(w);
}

const char *json_writer_text(struct json_writer *w, size_t *len)
{
    const unsigned char *buf;
    size_t n;
    yajl_gen_get_buf(w->gen, &buf, &n);
    if (len)
        *len = n;
    return (const char *)buf;
}

void jw_object_open(struct json_writer *w)
{
    yajl_gen_map_open(w->gen);
}
void jw_object_close(struct json_writer *w)
{
    yajl_gen_map_close(w->gen);
}
void jw_array_open(struct json_writer *w)
{
    yajl_gen_array_open(w->gen);
}
void jw_array_close(struct json_writer *w)
{
    yajl_gen_array_close(w->gen);
}
void jw_int(struct json_writer *w, int64_t v)
{
    yajl_gen_integer(w->gen, (long long)v);
}
void jw_double(struct json_writer *w, double v)
{
    yajl_gen_double(w->gen, v);
}
void jw_bool(struct json_writer *w, bool v)
{
    yajl_gen_bool(w->gen, v);
}
void jw_null(struct json_writer *w)
{
    yajl_gen_null(w->gen);
}

void jw_stringn(struct json_writer *w, const char *s, size_t n)
{
    if (utf8_valid(s, n)) {
        yajl_gen_string(w->gen, (const unsigned char *)s, n);
        return;
    }
    /* Replace each byte that does not start a valid sequence with U+FFFD. */
    struct buf clean = {0};
    for (size_t i = 0; i < n;) {
        size_t len = utf8_sequence_length(s + i, n - i);
        if (len) {
            buf_append(&clean, s + i, len);
            i += len;
        } else {
            buf_puts(&clean, "\xef\xbf\xbd");
            i++;
        }
    }
    yajl_gen_string(w->gen, (const unsigned char *)clean.data, clean.len);
    buf_free(&clean);
}

void jw_string(struct json_writer *w, const char *s)
{
    if (s)
        jw_stringn(w, s, strlen(s));
    else
        jw_null(w);
}

void jw_key(struct json_writer *w, const char *key)
{
    jw_string(w, key);
}

void jw_value(struct json_writer *w, const struct json *v)
{
    switch (json_type(v)) {
    case JSON_NONE:
    case JSON_NULL: jw_null(w); return;
    case JSON_BOOL: jw_bool(w, YAJL_IS_TRUE(VAL(v))); return;
    case JSON_STRING: jw_string(w, json_string(v)); return;
    case JSON_NUMBER:
        /* Keep the number's own text so 1.50 or 1e3 round-trip unchanged. */
        yajl_gen_number(w->gen, VAL(v)->u.number.r, strlen(VAL(v)->u.number.r));
        return;
    case JSON_ARRAY:
        jw_array_open(w);
        for (size_t i = 0; i < json_len(v); i++)
            jw_value(w, json_at(v, i));
        jw_array_close(w);
        return;
    case JSON_OBJECT:
        jw_object_open(w);
        for (size_t i = 0; i < json_len(v); i++) {
            jw_key(w, json_key_at(v, i));
            jw_value(w, json_at(v, i));
        }
        jw_object_close(w);
        return;
    }
}

void jw_merge_patch(struct json_writer *w, const struct json *target, const struct json *patch)
{
    if (json_type(patch) != JSON_OBJECT) {
        jw_value(w, patch);
        return;
    }
    bool target_object = json_type(target) == JSON_OBJECT;
    jw_object_open(w);
    /* Members of the target, each replaced, merged or removed by the patch. */
    for (size_t i = 0; target_object && i < json_len(target); i++) {
        const struct json *change = json_get(patch, json_key_at(target, i));
        if (json_type(change) == JSON_NULL)
            continue;
        jw_key(w, json_key_at(target, i));
        if (json_type(change) == JSON_NONE)
            jw_value(w, json_at(target, i));
        else
            jw_merge_patch(w, json_at(target, i), change);
    }
    /* Members only the patch has, without the nulls that would delete them. */
    for (size_t i = 0; i < json_len(patch); i++) {
        const char *key = json_key_at(patch, i);
        if (json_type(json_at(patch, i)) == JSON_NULL ||
            (target_object && json_type(json_get(target, key)) != JSON_NONE))
            continue;
        jw_key(w, key);
        jw_merge_patch(w, NULL, json_at(patch, i));
    }
    jw_object_close(w);
}

void jw_kv_string(struct json_writer *w, const char *key, const char *s)
{
    jw_key(w, key);
    jw_string(w, s);
}

void jw_kv_int(struct json_writer *w, const char *key, int64_t v)
{
    jw_key(w, key);
    jw_int(w, v);
}

void jw_kv_bool(struct json_writer *w, const char *key, bool v)
{
    jw_key(w, key);
    jw_bool(w, v);
}

void jw_list_open(struct json_writer *w)
{
    jw_object_open(w);
    jw_key(w, "value");
    jw_array_open(w);
}

void jw_list_close(struct json_writer *w)
{
    jw_array_close(w);
    jw_object_close(w);
}
