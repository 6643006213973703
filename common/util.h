/*
 * util.h — small pure helpers: strings, UUIDs, base64/base64url, percent-decoding, UTF-8 checks and
 * the clock. Nothing here touches sockets or the store, so all of it is unit-tested directly.
 */
#ifndef AZSIM_UTIL_H
#define AZSIM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ASCII case-insensitive comparisons (host names, header names, path segments). */
bool str_ieq(const char *a, const char *b);
bool str_ieqn(const char *a, size_t alen, const char *b);
bool str_has_iprefix(const char *s, const char *prefix);
bool str_has_isuffix(const char *s, const char *suffix);

/* A random (version 4) UUID in lower-case canonical form; `out` holds 37 bytes. */
void uuid_v4(char out[37]);
/* True when `s` is a canonical 8-4-4-4-12 hex UUID (either case). */
bool uuid_valid(const char *s);
/* True when `s` is a date-form Azure api-version, "YYYY-MM-DD" with an optional "-preview",
 * "-beta" or "-privatepreview" style suffix (letters, digits and '.'), month 1-12, day 1-31. */
bool api_version_is_date(const char *s);

/* Fill `p` with `n` cryptographically random bytes (getrandom(2)); aborts if the kernel cannot. */
void random_bytes(void *p, size_t n);

/* FNV-1a (64-bit) of `len` bytes: for hash tables and digests, not for anything an attacker
 * chooses to collide. */
uint64_t hash_bytes(const void *data, size_t len);

/*
 * Base64 (RFC 4648 §4, padded) and base64url (§5, unpadded, as in JWTs). Encoders return a
 * NUL-terminated string from the arena. Decoders return the byte count, or -1 on invalid input;
 * the output is NUL-terminated too, so decoded text can be used directly.
 */
char *base64_encode(struct arena *a, const void *data, size_t n);
char *base64url_encode(struct arena *a, const void *data, size_t n);
long base64_decode(struct arena *a, const char *s, size_t n, unsigned char **out);
long base64url_decode(struct arena *a, const char *s, size_t n, unsigned char **out);

/*
 * Percent-decode `s[0..n)` into the arena. With `plus_is_space`, '+' becomes ' ' (query strings,
 * as ASP.NET and Azure treat them). Returns NULL when a '%' is not followed by two hex digits or
 * the result would contain a NUL byte; `*out_len` gets the decoded length.
 */
char *percent_decode(struct arena *a, const char *s, size_t n, bool plus_is_space, size_t *out_len);

/* True when `s[0..n)` is well-formed UTF-8 (no overlongs, surrogates or values past U+10FFFF). */
bool utf8_valid(const char *s, size_t n);
/* The length of the well-formed UTF-8 sequence starting `s[0..n)` (n > 0), or 0 if there is none:
 * callers that must emit valid text replace such a byte and move on. */
size_t utf8_sequence_length(const char *s, size_t n);

/*
 * The clock. Everything that stamps or checks a time (token lifetimes, Last-Modified, expiry)
 * asks clock_now_ms(), so a test can move time with clock_set_offset_ms() instead of sleeping.
 */
int64_t clock_now_ms(void);
void clock_set_offset_ms(int64_t offset);
/* Monotonic time for measuring durations; not moved by the offset. */
int64_t clock_mono_ms(void);
int64_t clock_mono_us(void);
/* "2026-11-26T16:37:26.123Z" into `out` (at least 32 bytes). */
void clock_format_iso8601(int64_t ms, char *out, size_t outlen);
/* "Thu, 26 Nov 2026 16:37:26 GMT" (HTTP dates) into `out` (at least 32 bytes). */
void clock_format_http(int64_t ms, char *out, size_t outlen);
/* An RFC 1123 date ("Sun, 06 Nov 1994 08:49:37 GMT") as ms since the epoch; AZ_EINVAL if not. */
int clock_parse_http(const char *text, int64_t *ms);

/*
 * Write a whole file through a temporary file, fsync and rename, so readers and crashes never
 * see half of it. Returns 0 or AZ_EIO (logged).
 */
int file_write_atomic(const char *path, const char *data, size_t len, unsigned mode);
/* A whole file as a heap string, or NULL when it cannot be read. */
char *file_read(const char *path);

#endif
