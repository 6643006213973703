/*
 * json.h — JSON in and out, with yajl kept behind this one file.
 *
 * Input: json_parse() builds a read-only tree; accessors take NULL and return NULL/false for a
 * missing member or a wrong type, so lookups chain without checks in between:
 *     const char *loc = json_string(json_get(doc, "location"));
 * Output: a json_writer appends to its own buffer; text from json_writer_text() lives until
 * json_writer_free(). Strings that are not valid UTF-8 are written with U+FFFD in place of the
 * bad bytes rather than failing the whole document.
 */
#ifndef AZSIM_JSON_H
#define AZSIM_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum json_type {
    JSON_NONE, /* the value is absent (NULL) */
    JSON_NULL,
    JSON_BOOL,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT,
};

struct arena;
struct json; /* a node of a parsed document; owned by the document's root */

/*
 * Parse `len` bytes of `text` (need not be NUL-terminated). On success returns 0 and sets *out to
 * the root, which the caller frees with json_free(). On failure returns AZ_EINVAL and, when `err`
 * is given, writes a one-line reason into it.
 */
int json_parse(const char *text, size_t len, struct json **out, char *err, size_t errlen);
void json_free(struct json *root);
/* Parse a well-formed document whose tree lives as long as arena `a`; NULL if it does not parse. */
const struct json *json_parse_in(struct arena *a, const char *text, size_t len);

/*
 * The lenient JSON Resource Manager reads templates in (JSONC, as Newtonsoft parses it) made
 * strict: comments removed, unquoted property names quoted, trailing commas dropped. Strings are
 * left alone; anything else wrong stays wrong for json_parse() to report. The text lives as long
 * as arena `a`; its length goes to *out_len.
 */
const char *json_relax(struct arena *a, const char *text, size_t len, size_t *out_len);

enum json_type json_type(const struct json *v);
/* Object member by exact key (JSON keys are case-sensitive); NULL when absent or not an object. */
const struct json *json_get(const struct json *obj, const char *key);
/* Object member matched case-insensitively (ARM property names are). */
const struct json *json_iget(const struct json *obj, const char *key);
/* Deep equality: strings byte for byte, numbers by value, objects whatever their members'
 * order. */
bool json_equal(const struct json *a, const struct json *b);
/* Number of members (object) or elements (array); 0 for anything else. */
size_t json_len(const struct json *v);
const struct json *json_at(const struct json *v, size_t i); /* array element or object value */
const char *json_key_at(const struct json *obj, size_t i);
const char *json_string(const struct json *v); /* NULL unless a string */
bool json_bool(const struct json *v, bool *out);
/* An integral number that fits int64_t (1.0 does not count; 1e3 does not either). */
bool json_int(const struct json *v, int64_t *out);
bool json_double(const struct json *v, double *out);

struct json_writer;

struct json_writer *json_writer_new(void);
void json_writer_free(struct json_writer *w);
/* The document so far; valid until the next write or json_writer_free(). */
const char *json_writer_text(struct json_writer *w, size_t *len);

void jw_object_open(struct json_writer *w);
void jw_object_close(struct json_writer *w);
void jw_array_open(struct json_writer *w);
void jw_array_close(struct json_writer *w);
void jw_key(struct json_writer *w, const char *key);
void jw_string(struct json_writer *w, const char *s); /* NULL writes null */
void jw_stringn(struct json_writer *w, const char *s, size_t n);
void jw_int(struct json_writer *w, int64_t v);
void jw_double(struct json_writer *w, double v);
void jw_bool(struct json_writer *w, bool v);
void jw_null(struct json_writer *w);
/* Copy a parsed value (and everything under it) into the output. */
void jw_value(struct json_writer *w, const struct json *v);

/*
 * Write `target` changed by `patch` as a JSON merge patch (RFC 7386) — how ARM's PATCH and
 * azsim's own server-side fields combine with a resource: members of an object patch replace
 * the target's, objects merge recursively, null removes a member; any other patch replaces the
 * target whole. `target` may be NULL.
 */
void jw_merge_patch(struct json_writer *w, const struct json *target, const struct json *patch);

/* {"value":[ … ]}: the collection envelope Azure's list operations answer with. */
void jw_list_open(struct json_writer *w);
void jw_list_close(struct json_writer *w);

/* Shorthands for the common "key": value members. */
void jw_kv_string(struct json_writer *w, const char *key, const char *s);
void jw_kv_int(struct json_writer *w, const char *key, int64_t v);
void jw_kv_bool(struct json_writer *w, const char *key, bool v);

#endif
