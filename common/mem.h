/*
 * mem.h — allocation that never returns NULL, request-scoped arenas, growable buffers.
 *
 * Every allocation in azsim goes through these wrappers: on out-of-memory they log and abort, so
 * callers never test for NULL (kore's habit). A request's data lives in a `struct arena` freed in
 * one call after the reply is sent (h2o's habit), so handlers allocate freely and free nothing.
 */
#ifndef AZSIM_MEM_H
#define AZSIM_MEM_H

#include <stdarg.h>
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a fresh heap string; the caller frees it. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Arena: a bump allocator. Memory from it lives until arena_free(); nothing in it is freed alone.
 * arena_free(NULL) is a no-op.
 */
struct arena;

struct arena *arena_new(void);
void arena_free(struct arena *a);
void *arena_alloc(struct arena *a, size_t n); /* zeroed, aligned for any type */
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *arena_vprintf(struct arena *a, const char *fmt, va_list ap);
/* Call fn(p) when the arena is freed (newest first): heap objects that live as long as a request,
 * such as a parsed JSON document. */
void arena_on_free(struct arena *a, void (*fn)(void *), void *p);

/*
 * Growable byte buffer. Always NUL-terminated after any append (data[len] == 0) so text can be
 * used as a C string. Zero-initialise (`struct buf b = {0};`) and release with buf_free().
 */
struct buf {
    char *data;
    size_t len;
    size_t cap;
};

void buf_append(struct buf *b, const void *data, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
void buf_reset(struct buf *b);
void buf_free(struct buf *b);

#endif
