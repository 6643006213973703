/*
 * token.h — JSON Web Tokens: signing for AAD and the one verifier every service uses.
 *
 * Implemented on OpenSSL's EVP API rather than libjwt 1.10, which re-parses the PEM key on every
 * call (about a third of the speed) and verifies with whatever algorithm a token's header names.
 * Here keys are parsed once and the algorithm is pinned by the caller: RS256 for access tokens;
 * RS256 or PS256 for client assertions. `none` and every HMAC variant are always refused.
 */
#ifndef AZSIM_TOKEN_H
#define AZSIM_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;
struct json;
struct json_writer;

/* ---- keys ----------------------------------------------------------------------------------- */

/*
 * An RSA key with a certificate: AAD's signing keys (published in the JWKS with x5c) and the
 * certificates applications register, whose public half verifies their client assertions.
 */
struct token_key;

/* A new RSA-2048 signing key with a self-signed certificate (CN = `subject`). */
int token_key_generate(const char *subject, struct token_key **out);
/* From PEM text: a certificate, and optionally its private key (NULL for verification only). */
int token_key_from_pem(const char *cert_pem, const char *key_pem, struct token_key **out);
/* A key that only signs: the private key from PEM, named after its certificate (kid, x5t#S256,
 * x5c) from the certificate's DER, which is not parsed (that cost as much as reading the key).
 * Nothing checks that the two belong together: whoever verifies the signatures does. IMDS signs
 * an identity's client assertions with it. Not for token_key_to_pem. */
int token_signing_key_from_pem(const char *cert_pem, const char *key_pem, struct token_key **out);
/* From a DER certificate. */
int token_key_from_der(const void *der, size_t len, struct token_key **out);
void token_key_free(struct token_key *k);
/* PEM of the certificate and of the private key (heap strings; key NULL if there is none). */
int token_key_to_pem(const struct token_key *k, char **cert_pem, char **key_pem);

/* kid = x5t = base64url SHA-1 thumbprint of the certificate, as Entra ID names its keys. */
const char *token_key_kid(const struct token_key *k);
const char *token_key_x5t_s256(const struct token_key *k); /* base64url SHA-256 thumbprint */
const char *token_key_sha1_hex(const struct token_key *k); /* upper-case hex, as the portal */
const char *token_key_x5c(const struct token_key *k);      /* base64 DER certificate */
/* Write the key's JWK: kty, use, kid, x5t, n, e, x5c. */
void token_key_write_jwk(const struct token_key *k, struct json_writer *w);

/* ---- parsed tokens -------------------------------------------------------------------------- */

struct jwt {
    struct json *header;
    struct json *payload;
    const char *signing_input; /* "header.payload" as sent */
    size_t signing_input_len;
    unsigned char *signature;
    size_t signature_len;
    const char *alg;
};

/* Split and decode a compact JWT into `out` (strings from `a`; header/payload freed by
 * jwt_release). Returns 0 or AZ_EINVAL with *reason set. */
int jwt_parse(struct arena *a, const char *text, struct jwt *out, const char **reason);
void jwt_release(struct jwt *t);

enum token_alg { TOKEN_RS256 = 1 << 0, TOKEN_PS256 = 1 << 1 };
/* Check the signature with `key`; the header's alg must be one of `allowed`. */
int jwt_verify_signature(const struct jwt *t, const struct token_key *key, unsigned allowed,
                         const char **reason);

/* Sign `payload_json` with RS256 under a header {typ, alg, kid, x5t}; a heap string. */
char *token_sign(const struct token_key *k, const char *payload_json, size_t len);

/* ---- the verifier --------------------------------------------------------------------------- */

enum token_kind { TOKEN_KIND_APP, TOKEN_KIND_USER };

/* Who a verified token speaks for. Strings live as long as the verifier's cache entry: copy
 * them to keep them beyond the request. */
struct token_principal {
    char oid[40];
    char tid[40];
    char appid[40];
    char name[256]; /* upn for users; empty for applications */
    enum token_kind kind;
    int64_t exp; /* seconds since the epoch */
};

/* Where a verifier finds AAD's public keys and decides which tenants exist. */
struct token_source {
    /* Fill *out with the key named `kid`, or return AZ_ENOTFOUND. The verifier owns *out. */
    int (*find_key)(void *arg, const char *kid, struct token_key **out);
    bool (*tenant_exists)(void *arg, const char *tid);
    void *arg;
};

/* Reasons, for 401 messages and the audit log. */
#define TOKEN_SKEW_SECONDS 300

struct token_verifier;

/* One per thread: it caches keys and verified tokens (bounded in count and by expiry). */
struct token_verifier *token_verifier_new(const struct token_source *src);
void token_verifier_free(struct token_verifier *v);

/*
 * Verify `jwt` for a service that accepts `audiences[0..n)` (compared exactly, then ignoring a
 * trailing '/'). On success returns 0 and fills *out; otherwise AZ_EDENIED with *reason naming
 * the first check that failed ("signature does not verify", "token expired", …).
 */
int token_verify(struct token_verifier *v, const char *jwt, const char *const *audiences, size_t n,
                 struct token_principal *out, const char **reason);

#endif
