/*
 * secret.c — see secret.h.
 */
#include "secret.h"

#include "mem.h"
#include "util.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SALT_BYTES 16
#define HASH_BYTES 32
#define PBKDF2_ITERATIONS 20000

static void sha256_salted(const unsigned char *salt, size_t slen, const char *secret,
                          unsigned char out[HASH_BYTES])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, salt, slen);
    EVP_DigestUpdate(ctx, secret, strlen(secret));
    EVP_DigestFinal_ex(ctx, out, NULL);
    EVP_MD_CTX_free(ctx);
}

static void pbkdf2(const unsigned char *salt, size_t slen, const char *secret, long iterations,
                   unsigned char out[HASH_BYTES])
{
    PKCS5_PBKDF2_HMAC(secret, (int)strlen(secret), salt, (int)slen, (int)iterations, EVP_sha256(),
                      HASH_BYTES, out);
}

char *secret_hash(const char *secret, enum secret_kind kind)
{
    unsigned char salt[SALT_BYTES], hash[HASH_BYTES];
    random_bytes(salt, sizeof(salt));
    struct arena *a = arena_new();
    char *out;
    if (kind == SECRET_PASSWORD) {
        pbkdf2(salt, sizeof(salt), secret, PBKDF2_ITERATIONS, hash);
        out = xasprintf("pbkdf2-sha256$%d$%s$%s", PBKDF2_ITERATIONS,
                        base64url_encode(a, salt, sizeof(salt)),
                        base64url_encode(a, hash, sizeof(hash)));
    } else {
        sha256_salted(salt, sizeof(salt), secret, hash);
        out = xasprintf("sha256$%s$%s", base64url_encode(a, salt, sizeof(salt)),
                        base64url_encode(a, hash, sizeof(hash)));
    }
    arena_free(a);
    return out;
}

bool secret_matches(const char *stored, const char *secret)
{
    if (!stored || !secret)
        return false;
    struct arena *a = arena_new();
    char *copy = arena_strdup(a, stored);
    char *fields[4];
    int n = 0;
    for (char *p = copy, *tok; n < 4 && (tok = strsep(&p, "$"));)
        fields[n++] = tok;
    unsigned char *salt = NULL, *want = NULL, got[HASH_BYTES];
    bool ok = false;
    long slen = -1, wlen = -1;
    if (n == 3 && strcmp(fields[0], "sha256") == 0) {
        slen = base64url_decode(a, fields[1], strlen(fields[1]), &salt);
        wlen = base64url_decode(a, fields[2], strlen(fields[2]), &want);
        if (slen > 0 && wlen == HASH_BYTES) {
            sha256_salted(salt, (size_t)slen, secret, got);
            ok = true;
        }
    } else if (n == 4 && strcmp(fields[0], "pbkdf2-sha256") == 0) {
        long iterations = strtol(fields[1], NULL, 10);
        slen = base64url_decode(a, fields[2], strlen(fields[2]), &salt);
        wlen = base64url_decode(a, fields[3], strlen(fields[3]), &want);
        if (iterations > 0 && iterations <= 10000000 && slen > 0 && wlen == HASH_BYTES) {
            pbkdf2(salt, (size_t)slen, secret, iterations, got);
            ok = true;
        }
    }
    ok = ok && CRYPTO_memcmp(got, want, HASH_BYTES) == 0;
    OPENSSL_cleanse(got, sizeof(got));
    arena_free(a);
    return ok;
}

char *secret_generate(size_t nbytes)
{
    unsigned char *raw = xmalloc(nbytes);
    random_bytes(raw, nbytes);
    struct arena *a = arena_new();
    char *out = xstrdup(base64url_encode(a, raw, nbytes));
    arena_free(a);
    OPENSSL_cleanse(raw, nbytes);
    free(raw);
    return out;
}

char *secret_generate_client_secret(void)
{
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    char head[4];
    for (size_t i = 0; i < 3;) {
        unsigned char b;
        random_bytes(&b, 1);
        if (b < 248) /* 248 = 4 * 62: no bias */
            head[i++] = alnum[b % 62];
    }
    head[3] = '\0';
    char *tail = secret_generate(27); /* 36 base64url characters */
    char *s = xasprintf("%s~%s", head, tail);
    OPENSSL_cleanse(tail, strlen(tail));
    free(tail);
    OPENSSL_cleanse(head, sizeof(head));
    return s;
}

char *secret_digest(const char *data)
{
    unsigned char hash[HASH_BYTES];
    EVP_Digest(data, strlen(data), hash, NULL, EVP_sha256(), NULL);
    struct arena *a = arena_new();
    char *out = xstrdup(base64url_encode(a, hash, sizeof(hash)));
    arena_free(a);
    return out;
}
