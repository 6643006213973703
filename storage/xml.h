/*
 * storage/xml.h — the little XML Blob Storage speaks: writing escaped elements, and reading the
 * few request bodies it takes (block lists, KeyInfo, SignedIdentifiers), which are flat and
 * small enough that finding an element by name is all the parsing they need.
 */
#ifndef AZSIM_STORAGE_XML_H
#define AZSIM_STORAGE_XML_H

#include <stdbool.h>

struct arena;
struct buf;

/* `s` with &, <, > and " escaped. */
void xml_text(struct buf *b, const char *s);
/* <name>escaped value</name> */
void xml_element(struct buf *b, const char *name, const char *value);

/* A span of the document: an element's content. */
struct xml_span {
    const char *start, *end;
};

/* The content of the first <name> element in `within` (attributes allowed, empty <name/> is
 * empty content); false when there is none or it is not closed. */
bool xml_find(struct xml_span within, const char *name, struct xml_span *out);
/* The content as text, entities decoded. */
const char *xml_value(struct arena *a, struct xml_span span);
/* The text of the first <name> in `within`, or NULL. */
const char *xml_child(struct arena *a, struct xml_span within, const char *name);

#endif
