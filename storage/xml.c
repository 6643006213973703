/*
 * storage/xml.c — see xml.h.
 */
#include "storage/xml.h"

#include "common/mem.h"

#include <stdbool.h>
#include <string.h>

void xml_text(struct buf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': buf_puts(b, "&lt;"); break;
        case '>': buf_puts(b, "&gt;"); break;
        case '&': buf_puts(b, "&amp;"); break;
        case '"': buf_puts(b, "&quot;"); break;
        default: buf_putc(b, *s);
        }
    }
}

void xml_element(struct buf *b, const char *name, const char *value)
{
    buf_printf(b, "<%s>", name);
    xml_text(b, value);
    buf_printf(b, "</%s>", name);
}

/* The first occurrence of `needle` in [p, end), or NULL. */
static const char *find(const char *p, const char *end, const char *needle)
{
    size_t n = strlen(needle);
    for (; p && p + n <= end; p++) {
        if (memcmp(p, needle, n) == 0)
            return p;
    }
    return NULL;
}

bool xml_find(struct xml_span within, const char *name, struct xml_span *out)
{
    size_t n = strlen(name);
    for (const char *p = within.start; (p = find(p, within.end, "<")); p++) {
        const char *after = p + 1 + n;
        if (after >= within.end || strncmp(p + 1, name, n) != 0 || !strchr(" \t\r\n/>", *after))
            continue;
        const char *gt = find(after, within.end, ">");
        if (!gt)
            return false;
        if (gt[-1] == '/') { /* <name/> */
            *out = (struct xml_span){gt + 1, gt + 1};
            return true;
        }
        char close[80];
        if (n + 4 > sizeof(close))
            return false;
        memcpy(close, "</", 2);
        memcpy(close + 2, name, n);
        memcpy(close + 2 + n, ">", 2);
        const char *end = find(gt + 1, within.end, close);
        if (!end)
            return false;
        *out = (struct xml_span){gt + 1, end};
        return true;
    }
    return false;
}

const char *xml_value(struct arena *a, struct xml_span span)
{
    static const struct {
        const char *entity;
        char c;
    } entities[] = {
        {"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&apos;", '\''}};
    size_t len = (size_t)(span.end - span.start);
    char *out = arena_alloc(a, len + 1), *o = out;
    for (const char *p = span.start; p < span.end;) {
        size_t i = 0;
        for (; i < sizeof(entities) / sizeof(entities[0]); i++) {
            size_t n = strlen(entities[i].entity);
            if ((size_t)(span.end - p) >= n && memcmp(p, entities[i].entity, n) == 0) {
                *o++ = entities[i].c;
                p += n;
                break;
            }
        }
        if (i == sizeof(entities) / sizeof(entities[0]))
            *o++ = *p++;
    }
    *o = '\0';
    return out;
}

const char *xml_child(struct arena *a, struct xml_span within, const char *name)
{
    struct xml_span s;
    return xml_find(within, name, &s) ? xml_value(a, s) : NULL;
}
