/*
 * fuzz_json.c — libFuzzer harness for common/json.c: json_parse, json_relax (the JSONC reader of
 * ARM templates), json_equal, the accessors, and the writer.
 *
 * Properties checked on every input (a violation aborts, which libFuzzer reports as a crash):
 *   - a document that parses is equal to itself, and writing it (jw_value) gives text that
 *     parses back to an equal tree — whatever azsim stores it can read again (strings that are
 *     not UTF-8 once decoded come back with U+FFFD, once: see strings_valid);
 *   - a JSON merge patch of a document onto itself, or onto nothing, writes text that parses;
 *   - json_relax output that parses obeys the same round trip, and json_relax leaves strict JSON
 *     meaning the same.
 *
 * Reproduce a crash: build/fuzz/fuzz_json FILE (see tests/fuzz/README.md).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_configure(LOG_LEVEL_OFF, LOG_FORMAT_TEXT);
    return 0;
}

/* Walk every value through the accessors. */
static void walk(const struct json *v, int depth)
{
    int64_t i;
    double d;
    bool b;
    json_int(v, &i);
    json_double(v, &d);
    json_bool(v, &b);
    json_string(v);
    size_t n = json_len(v);
    for (size_t k = 0; k < n; k++) {
        const char *key = json_key_at(v, k);
        if (json_type(v) == JSON_OBJECT) {
            if (!key || !json_get(v, key) || !json_iget(v, key))
                abort();
        }
        walk(json_at(v, k), depth + 1);
    }
    if (json_at(v, n) != NULL)
        abort();
}

/* Are all of the document's keys and strings UTF-8? yajl decodes a lone low surrogate
 * ("\udc00") to bytes that are not, and the writer replaces those with U+FFFD, as json.h says:
 * such a document comes back changed once, then stays as it is. */
static bool strings_valid(const struct json *v)
{
    const char *s = json_string(v);
    if (s && !utf8_valid(s, strlen(s)))
        return false;
    for (size_t k = 0; k < json_len(v); k++) {
        const char *key = json_key_at(v, k);
        if ((key && !utf8_valid(key, strlen(key))) || !strings_valid(json_at(v, k)))
            return false;
    }
    return true;
}

/* Write `doc`, parse the text, and insist on an equal tree. */
static void round_trip(const struct json *doc)
{
    if (!json_equal(doc, doc))
        abort();
    struct json_writer *w = json_writer_new();
    jw_value(w, doc);
    size_t len;
    const char *text = json_writer_text(w, &len);
    struct json *again = NULL;
    char err[128];
    if (json_parse(text, len, &again, err, sizeof(err)) != 0)
        abort(); /* azsim wrote JSON it cannot read */
    if (strings_valid(doc) && (!json_equal(doc, again) || !json_equal(again, doc)))
        abort();
    json_writer_free(w);
    if (!strings_valid(doc)) {
        if (!strings_valid(again))
            abort(); /* the writer let bytes through that are not UTF-8 */
        round_trip(again);
    }
    json_free(again);

    /* A merge patch onto itself and onto nothing. */
    for (int k = 0; k < 2; k++) {
        w = json_writer_new();
        jw_merge_patch(w, k ? doc : NULL, doc);
        text = json_writer_text(w, &len);
        if (json_parse(text, len, &again, err, sizeof(err)) != 0)
            abort();
        json_free(again);
        json_writer_free(w);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256 * 1024)
        return 0;
    const char *text = (const char *)data;
    char err[128];
    struct json *doc = NULL;
    if (json_parse(text, size, &doc, err, sizeof(err)) == 0) {
        walk(doc, 0);
        round_trip(doc);
    } else if (err[0] == '\0' || strchr(err, '\n')) {
        abort(); /* a failure always says why, on one line */
    }

    struct arena *a = arena_new();
    size_t rlen;
    const char *relaxed = json_relax(a, text, size, &rlen);
    if (!relaxed || relaxed[rlen] != '\0')
        abort();
    struct json *rdoc = NULL;
    if (json_parse(relaxed, rlen, &rdoc, NULL, 0) == 0) {
        walk(rdoc, 0);
        round_trip(rdoc);
        /* Strict JSON without comments means the same once relaxed. */
        if (doc && !memchr(text, '/', size) && !json_equal(doc, rdoc))
            abort();
    }
    json_free(rdoc);
    json_free(doc);

    const struct json *in_arena = json_parse_in(a, text, size);
    (void)in_arena;
    arena_free(a);
    return 0;
}
