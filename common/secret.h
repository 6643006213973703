/*
 * secret.h — secrets at rest: client secrets and user passwords are stored only as salted hashes
 * and compared in constant time.
 *
 * Stored form: "sha256$<salt>$<hash>" for generated client secrets (high entropy: one salted
 * SHA-256 suffices and keeps the token endpoint fast), "pbkdf2-sha256$<iterations>$<salt>$<hash>"
 * for passwords people choose. Salt and hash are base64url.
 */
#ifndef AZSIM_SECRET_H
#define AZSIM_SECRET_H

#include <stdbool.h>
#include <stddef.h>

enum secret_kind { SECRET_GENERATED, SECRET_PASSWORD };

/* The stored form of `secret`; a heap string. */
char *secret_hash(const char *secret, enum secret_kind kind);
/* True when `secret` is the one `stored` was made from. Malformed `stored` never matches. */
bool secret_matches(const char *stored, const char *secret);
/* A new random secret of `nbytes` random bytes, base64url; a heap string. */
char *secret_generate(size_t nbytes);
/* A new client secret shaped like Entra's: 40 characters, alphanumeric for the first three (so
 * a command line never takes it for an option), "~" fourth, then base64url; a heap string. */
char *secret_generate_client_secret(void);
/* A base64url SHA-256 of `data` (for looking up refresh tokens by hash); a heap string. */
char *secret_digest(const char *data);

#endif
