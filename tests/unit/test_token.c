/*
 * test_token.c — unit tests for common/token.c: the names a key goes by (kid, x5t#S256, the
 * portal's thumbprint) recomputed with OpenSSL directly; PEM and DER loading and the JWK; RS256
 * signatures checked by an independent EVP verification, so token.c is not only trusted against
 * itself; the access-token verifier against a matrix of forged tokens (alg none, the HS256
 * public-key confusion, foreign keys and kids, lifetime either side of the 300 s skew, issuer and
 * tenant, tampering, malformed compact forms) and its cache (a hit still checks lifetime and
 * audience); and PS256 client assertions with either salt length in use.
 *
 * RSA key generation costs 50-100 ms (far more under valgrind), so the group setup makes two keys
 * once: "aad", the directory's signing key, and "other", which plays an application's registered
 * certificate in the PS256 tests and an attacker's key in the forgeries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/token.h"
#include "common/util.h"

#define TENANT "8a2c4f1e-5b7d-4c3a-9e6f-1d2b3c4a5e6f"
#define OTHER_TENANT "0f9e8d7c-6b5a-4948-8372-61504f3e2d1c"
#define OID "3c1f0e9a-7d2b-4e5c-8a6f-9b0c1d2e3f4a"
#define APPID "b5d7e9f1-2a3c-4e6f-8091-a2b3c4d5e6f7"
#define VAULT "https://vault.azure.net"
#define ARM "https://management.azure.com"

struct fixture {
    struct token_key *aad, *other;
    char *aad_cert, *aad_key, *other_cert, *other_key; /* PEM, from token_key_to_pem */
    EVP_PKEY *aad_priv, *other_priv; /* the same keys parsed by OpenSSL, to forge with */
    char *aad_spki; /* the directory key's public PEM: what an HS256 confusion attack uses */
    int find_key_calls, tenant_calls;
};

/* ---- OpenSSL on its own, to check token.c against ------------------------------------------- */

static X509 *pem_cert(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *cert = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    return cert;
}

static EVP_PKEY *pem_private_key(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    return key;
}

static EVP_PKEY *pem_public_key(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *key = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
    BIO_free(b);
    return key;
}

/* The SubjectPublicKeyInfo PEM of a certificate's key, as a heap string. */
static char *public_pem(const char *cert_pem)
{
    X509 *cert = pem_cert(cert_pem);
    EVP_PKEY *pub = cert ? X509_get_pubkey(cert) : NULL;
    BIO *b = BIO_new(BIO_s_mem());
    char *text = NULL;
    if (pub && PEM_write_bio_PUBKEY(b, pub) == 1) {
        char *data;
        long n = BIO_get_mem_data(b, &data);
        text = xstrndup(data, (size_t)n);
    }
    BIO_free(b);
    EVP_PKEY_free(pub);
    X509_free(cert);
    return text;
}

/* The DER of a PEM certificate; the caller frees it with OPENSSL_free. */
static unsigned char *cert_der(const char *cert_pem, size_t *len)
{
    X509 *cert = pem_cert(cert_pem);
    assert_non_null(cert);
    unsigned char *der = NULL;
    int n = i2d_X509(cert, &der);
    X509_free(cert);
    assert_true(n > 0);
    *len = (size_t)n;
    return der;
}

/* base64url without padding through EVP_EncodeBlock rather than the project's encoder. */
static char *openssl_b64url(const unsigned char *p, size_t n)
{
    char *out = xmalloc(4 * ((n + 2) / 3) + 1);
    int len = EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    while (len > 0 && out[len - 1] == '=')
        len--;
    out[len] = '\0';
    for (char *c = out; *c; c++)
        *c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
    return out;
}

/* Sign `input` with SHA-256: PKCS#1 v1.5 (RS256), or PSS (PS256) with `saltlen`. */
static size_t rsa_sign(EVP_PKEY *key, const char *input, int padding, int saltlen,
                       unsigned char sig[512])
{
    size_t len = 512;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    bool ok = EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), NULL, key) == 1 &&
              EVP_PKEY_CTX_set_rsa_padding(pctx, padding) == 1 &&
              (padding != RSA_PKCS1_PSS_PADDING ||
               EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, saltlen) == 1) &&
              EVP_DigestSign(ctx, sig, &len, (const unsigned char *)input, strlen(input)) == 1;
    EVP_MD_CTX_free(ctx);
    assert_true(ok);
    return len;
}

/* Does `sig` verify over `input` with `pub`? PSS with a fixed `saltlen` when padding says so. */
static bool openssl_verify(EVP_PKEY *pub, const char *input, size_t input_len,
                           const unsigned char *sig, size_t sig_len, int padding, int saltlen)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    bool ok = EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), NULL, pub) == 1 &&
              EVP_PKEY_CTX_set_rsa_padding(pctx, padding) == 1 &&
              (padding != RSA_PKCS1_PSS_PADDING ||
               EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, saltlen) == 1) &&
              EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)input, input_len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* ---- building tokens ------------------------------------------------------------------------ */

static int64_t now_s(void)
{
    return clock_now_ms() / 1000;
}

struct claims {
    const char *aud, *iss, *tid, *oid, *appid, *upn, *idtyp; /* NULL: left out */
    int64_t iat, nbf, exp;
};

/* An application's access token for Key Vault, valid for an hour from `now`. */
static struct claims app_claims(int64_t now)
{
    return (struct claims){.aud = VAULT,
                           .tid = TENANT,
                           .oid = OID,
                           .appid = APPID,
                           .idtyp = "app",
                           .iat = now,
                           .nbf = now,
                           .exp = now + 3600};
}

/* The payload JSON; a NULL iss becomes the tid's own issuer, as AAD v1 tokens name it. */
static char *claims_json(const struct claims *c)
{
    char *iss = c->iss ? xstrdup(c->iss) : xasprintf("https://sts.windows.net/%s/", c->tid);
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    const char *names[] = {"aud", "iss", "tid", "oid", "appid", "upn", "idtyp"};
    const char *values[] = {c->aud, iss, c->tid, c->oid, c->appid, c->upn, c->idtyp};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        if (values[i])
            jw_kv_string(w, names[i], values[i]);
    }
    jw_kv_int(w, "iat", c->iat);
    jw_kv_int(w, "nbf", c->nbf);
    jw_kv_int(w, "exp", c->exp);
    jw_object_close(w);
    char *text = xstrdup(json_writer_text(w, NULL));
    json_writer_free(w);
    free(iss);
    return text;
}

static char *sign_claims(const struct token_key *k, const struct claims *c)
{
    char *payload = claims_json(c);
    char *jwt = token_sign(k, payload, strlen(payload));
    free(payload);
    assert_non_null(jwt);
    return jwt;
}

/* The header token_sign writes for `k`, for forgeries that must look like the real thing. */
static char *rs256_header(const struct token_key *k)
{
    return xasprintf("{\"typ\":\"JWT\",\"alg\":\"RS256\",\"x5t\":\"%s\",\"kid\":\"%s\"}",
                     token_key_kid(k), token_key_kid(k));
}

/* base64url(header) "." base64url(payload) "." base64url(sig), as a heap string. */
static char *compose(const char *header, const char *payload, const unsigned char *sig,
                     size_t sig_len)
{
    struct arena *a = arena_new();
    char *jwt =
        xasprintf("%s.%s.%s", base64url_encode(a, header, strlen(header)),
                  base64url_encode(a, payload, strlen(payload)), base64url_encode(a, sig, sig_len));
    arena_free(a);
    return jwt;
}

/* A token signed in the test, whatever its header claims. */
static char *forge(EVP_PKEY *key, const char *header, const char *payload, int padding, int saltlen)
{
    struct arena *a = arena_new();
    char *input = arena_printf(a, "%s.%s", base64url_encode(a, header, strlen(header)),
                               base64url_encode(a, payload, strlen(payload)));
    unsigned char sig[512];
    size_t len = rsa_sign(key, input, padding, saltlen, sig);
    char *jwt = xasprintf("%s.%s", input, base64url_encode(a, sig, len));
    arena_free(a);
    return jwt;
}

/* Part `i` (0-2) of a compact token, as written (not decoded), from the arena. */
static char *jwt_part(struct arena *a, const char *jwt, int i)
{
    const char *start = jwt;
    for (int k = 0; k < i; k++)
        start = strchr(start, '.') + 1;
    const char *end = strchr(start, '.');
    return arena_strndup(a, start, end ? (size_t)(end - start) : strlen(start));
}

/* ---- the fake directory --------------------------------------------------------------------- */

/* The directory publishes its key's certificate only, as a JWKS does. The verifier owns and frees
 * what it is handed, so every call loads a fresh copy. */
static int fake_find_key(void *arg, const char *kid, struct token_key **out)
{
    struct fixture *fx = arg;
    fx->find_key_calls++;
    const struct {
        const char *kid, *cert;
    } published[] = {{token_key_kid(fx->aad), fx->aad_cert}};
    for (size_t i = 0; i < ARRAY_SIZE(published); i++) {
        if (strcmp(kid, published[i].kid) == 0)
            return token_key_from_pem(published[i].cert, NULL, out);
    }
    *out = NULL;
    return AZ_ENOTFOUND;
}

static bool fake_tenant_exists(void *arg, const char *tid)
{
    struct fixture *fx = arg;
    fx->tenant_calls++;
    return strcmp(tid, TENANT) == 0;
}

static struct token_verifier *new_verifier(struct fixture *fx)
{
    const struct token_source src = {fake_find_key, fake_tenant_exists, fx};
    return token_verifier_new(&src);
}

static void expect_accepted(struct token_verifier *v, const char *jwt, const char *aud,
                            struct token_principal *who, const char *what)
{
    const char *reason = "(none)";
    int rc = token_verify(v, jwt, &aud, 1, who, &reason);
    if (rc != 0)
        fail_msg("%s: refused (rc %d): %s", what, rc, reason);
}

/* Refused with AZ_EDENIED, for the reason containing `word`: the check meant to catch it. */
static void expect_denied(struct token_verifier *v, const char *jwt, const char *aud,
                          const char *word, const char *what)
{
    struct token_principal who;
    const char *reason = NULL;
    int rc = token_verify(v, jwt, &aud, 1, &who, &reason);
    if (rc != AZ_EDENIED || !reason || !strstr(reason, word))
        fail_msg("%s: rc %d, reason \"%s\"; want AZ_EDENIED naming \"%s\"", what, rc,
                 reason ? reason : "(none)", word);
}

static void expect_signature_refused(const struct jwt *t, const struct token_key *key,
                                     unsigned allowed, const char *word, const char *what)
{
    const char *reason = NULL;
    int rc = jwt_verify_signature(t, key, allowed, &reason);
    if (rc != AZ_EDENIED || !reason || !strstr(reason, word))
        fail_msg("%s: rc %d, reason \"%s\"; want AZ_EDENIED naming \"%s\"", what, rc,
                 reason ? reason : "(none)", word);
}

/* ---- fixtures ------------------------------------------------------------------------------- */

static int group_setup(void **state)
{
    struct fixture *fx = xcalloc(1, sizeof(*fx));
    *state = fx;
    if (token_key_generate("azsim test directory", &fx->aad) != 0 ||
        token_key_generate("azsim test application", &fx->other) != 0 ||
        token_key_to_pem(fx->aad, &fx->aad_cert, &fx->aad_key) != 0 ||
        token_key_to_pem(fx->other, &fx->other_cert, &fx->other_key) != 0 || !fx->aad_key ||
        !fx->other_key)
        return -1;
    fx->aad_priv = pem_private_key(fx->aad_key);
    fx->other_priv = pem_private_key(fx->other_key);
    fx->aad_spki = public_pem(fx->aad_cert);
    return fx->aad_priv && fx->other_priv && fx->aad_spki ? 0 : -1;
}

static int group_teardown(void **state)
{
    struct fixture *fx = *state;
    token_key_free(fx->aad);
    token_key_free(fx->other);
    free(fx->aad_cert);
    free(fx->aad_key);
    free(fx->other_cert);
    free(fx->other_key);
    EVP_PKEY_free(fx->aad_priv);
    EVP_PKEY_free(fx->other_priv);
    free(fx->aad_spki);
    free(fx);
    return 0;
}

static int setup(void **state)
{
    struct fixture *fx = *state;
    fx->find_key_calls = fx->tenant_calls = 0;
    return 0;
}

/* A failed assertion skips the test's own clean-up: time must not stay moved for the next. */
static int teardown(void **state)
{
    clock_set_offset_ms(0);
    return 0;
}

/* ---- keys ----------------------------------------------------------------------------------- */

static void test_key_names(void **state)
{
    struct fixture *fx = *state;
    size_t der_len;
    unsigned char *der = cert_der(fx->aad_cert, &der_len);
    unsigned char sha1[20], sha256[32];
    assert_int_equal(EVP_Digest(der, der_len, sha1, NULL, EVP_sha1(), NULL), 1);
    assert_int_equal(EVP_Digest(der, der_len, sha256, NULL, EVP_sha256(), NULL), 1);

    /* Entra ID names a key by the base64url SHA-1 of its DER certificate: kid and x5t alike. */
    char *want = openssl_b64url(sha1, sizeof(sha1));
    assert_int_equal(strlen(token_key_kid(fx->aad)), 27);
    assert_string_equal(token_key_kid(fx->aad), want);
    free(want);

    want = openssl_b64url(sha256, sizeof(sha256));
    assert_int_equal(strlen(token_key_x5t_s256(fx->aad)), 43);
    assert_string_equal(token_key_x5t_s256(fx->aad), want);
    free(want);

    /* The portal shows the same SHA-1 as upper-case hex. */
    char hex[41];
    for (int i = 0; i < 20; i++)
        snprintf(hex + 2 * i, 3, "%02X", sha1[i]);
    assert_string_equal(token_key_sha1_hex(fx->aad), hex);

    /* x5c is the standard-base64 DER itself. */
    struct arena *a = arena_new();
    unsigned char *x5c_der;
    long n = base64_decode(a, token_key_x5c(fx->aad), strlen(token_key_x5c(fx->aad)), &x5c_der);
    assert_int_equal(n, (long)der_len);
    assert_memory_equal(x5c_der, der, der_len);
    arena_free(a);
    OPENSSL_free(der);

    /* Self-signed for the subject asked for, and for this very key pair. */
    X509 *cert = pem_cert(fx->aad_cert);
    char cn[64];
    assert_true(
        X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn)) > 0);
    assert_string_equal(cn, "azsim test directory");
    assert_int_equal(X509_check_private_key(cert, fx->aad_priv), 1);
    X509_free(cert);

    assert_string_not_equal(token_key_kid(fx->aad), token_key_kid(fx->other));
}

static void test_key_pem_round_trip(void **state)
{
    struct fixture *fx = *state;
    assert_non_null(strstr(fx->aad_cert, "-----BEGIN CERTIFICATE-----"));
    assert_non_null(strstr(fx->aad_key, "PRIVATE KEY-----"));

    struct token_key *k = NULL;
    assert_int_equal(token_key_from_pem(fx->aad_cert, fx->aad_key, &k), 0);
    assert_string_equal(token_key_kid(k), token_key_kid(fx->aad));
    assert_string_equal(token_key_x5t_s256(k), token_key_x5t_s256(fx->aad));
    assert_string_equal(token_key_sha1_hex(k), token_key_sha1_hex(fx->aad));
    assert_string_equal(token_key_x5c(k), token_key_x5c(fx->aad));
    /* The reloaded private key signs what the original verifies. */
    char *jwt = token_sign(k, "{}", 2);
    assert_non_null(jwt);
    struct arena *a = arena_new();
    struct jwt t;
    const char *reason = NULL;
    assert_int_equal(jwt_parse(a, jwt, &t, &reason), 0);
    assert_int_equal(jwt_verify_signature(&t, fx->aad, TOKEN_RS256, &reason), 0);
    jwt_release(&t);
    free(jwt);
    token_key_free(k);

    /* A certificate alone (an application's registered one) is enough to verify, and has no
     * private half to write back out. */
    assert_int_equal(token_key_from_pem(fx->aad_cert, NULL, &k), 0);
    assert_string_equal(token_key_kid(k), token_key_kid(fx->aad));
    jwt = token_sign(fx->aad, "{\"a\":1}", 7);
    assert_int_equal(jwt_parse(a, jwt, &t, &reason), 0);
    assert_int_equal(jwt_verify_signature(&t, k, TOKEN_RS256, &reason), 0);
    jwt_release(&t);
    free(jwt);
    char *cert_pem = NULL, *key_pem = (char *)"unset"; /* must come back NULL */
    assert_int_equal(token_key_to_pem(k, &cert_pem, &key_pem), 0);
    assert_string_equal(cert_pem, fx->aad_cert);
    assert_null(key_pem);
    free(cert_pem);
    token_key_free(k);
    arena_free(a);

    /* A key that is not the certificate's would sign tokens the certificate cannot verify. */
    k = (struct token_key *)fx; /* any non-NULL value: a refusal must clear *out */
    assert_int_equal(token_key_from_pem(fx->aad_cert, fx->other_key, &k), AZ_EINVAL);
    assert_null(k);
    assert_int_equal(token_key_from_pem("not a certificate", NULL, &k), AZ_EINVAL);
    assert_null(k);
    assert_int_equal(token_key_from_pem(fx->aad_cert, "not a key", &k), AZ_EINVAL);
    assert_null(k);
    token_key_free(NULL);
}

/* The signature `k` makes over "{}" verifies with `verifier`'s certificate. */
static bool signs_for(const struct token_key *k, const struct token_key *verifier)
{
    char *jwt = token_sign(k, "{}", 2);
    assert_non_null(jwt);
    struct arena *a = arena_new();
    struct jwt t;
    const char *reason = NULL;
    assert_int_equal(jwt_parse(a, jwt, &t, &reason), 0);
    bool ok = jwt_verify_signature(&t, verifier, TOKEN_RS256, &reason) == 0;
    jwt_release(&t);
    arena_free(a);
    free(jwt);
    return ok;
}

/* A private key PEM in the traditional "BEGIN RSA PRIVATE KEY" form. */
static char *traditional_pem(EVP_PKEY *key)
{
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey_traditional(b, key, NULL, NULL, 0, NULL, NULL), 1);
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *text = xstrndup(data, (size_t)n);
    BIO_free(b);
    assert_non_null(strstr(text, "-----BEGIN RSA PRIVATE KEY-----"));
    return text;
}

/* IMDS's signing keys: named after the certificate, whose DER is hashed, not parsed. */
static void test_signing_key_from_pem(void **state)
{
    struct fixture *fx = *state;
    struct token_key *k = NULL;
    assert_int_equal(token_signing_key_from_pem(fx->aad_cert, fx->aad_key, &k), 0);
    assert_string_equal(token_key_kid(k), token_key_kid(fx->aad));
    assert_string_equal(token_key_x5t_s256(k), token_key_x5t_s256(fx->aad));
    assert_string_equal(token_key_sha1_hex(k), token_key_sha1_hex(fx->aad));
    assert_string_equal(token_key_x5c(k), token_key_x5c(fx->aad));
    assert_true(signs_for(k, fx->aad));
    token_key_free(k);

    /* Keys in other PEM forms are read the generic way, by both readers. */
    char *traditional = traditional_pem(fx->aad_priv);
    assert_int_equal(token_signing_key_from_pem(fx->aad_cert, traditional, &k), 0);
    assert_true(signs_for(k, fx->aad));
    token_key_free(k);
    assert_int_equal(token_key_from_pem(fx->aad_cert, traditional, &k), 0);
    assert_true(signs_for(k, fx->aad));
    token_key_free(k);
    free(traditional);

    /* Nothing checks that key and certificate belong together: the signature is named after
     * the certificate, and whoever holds it refuses it (Entra ID refuses the assertion). */
    assert_int_equal(token_signing_key_from_pem(fx->aad_cert, fx->other_key, &k), 0);
    assert_string_equal(token_key_kid(k), token_key_kid(fx->aad));
    assert_false(signs_for(k, fx->aad));
    assert_true(signs_for(k, fx->other));
    token_key_free(k);

    k = (struct token_key *)fx; /* any non-NULL value: a refusal must clear *out */
    assert_int_equal(token_signing_key_from_pem("not a certificate", fx->aad_key, &k), AZ_EINVAL);
    assert_null(k);
    assert_int_equal(token_signing_key_from_pem(fx->aad_key, fx->aad_key, &k), AZ_EINVAL);
    assert_null(k);
    assert_int_equal(token_signing_key_from_pem(fx->aad_cert, "not a key", &k), AZ_EINVAL);
    assert_null(k);
    assert_int_equal(token_signing_key_from_pem(fx->aad_cert, fx->aad_cert, &k), AZ_EINVAL);
    assert_null(k);
}

static void test_key_from_der(void **state)
{
    struct fixture *fx = *state;
    size_t len;
    unsigned char *der = cert_der(fx->other_cert, &len);
    struct token_key *k = NULL;
    assert_int_equal(token_key_from_der(der, len, &k), 0);
    assert_string_equal(token_key_kid(k), token_key_kid(fx->other));
    assert_string_equal(token_key_x5c(k), token_key_x5c(fx->other));
    token_key_free(k);

    /* Truncated, empty and random input are all refused. */
    k = (struct token_key *)fx;
    assert_int_equal(token_key_from_der(der, len - 1, &k), AZ_EINVAL);
    assert_null(k);
    assert_int_equal(token_key_from_der(der, 0, &k), AZ_EINVAL);
    assert_null(k);
    unsigned char garbage[300];
    random_bytes(garbage, sizeof(garbage));
    garbage[0] = 0x04; /* an OCTET STRING, never a certificate's SEQUENCE */
    assert_int_equal(token_key_from_der(garbage, sizeof(garbage), &k), AZ_EINVAL);
    assert_null(k);
    static const char text[] = "-----BEGIN CERTIFICATE-----";
    assert_int_equal(token_key_from_der(text, sizeof(text) - 1, &k), AZ_EINVAL);
    assert_null(k);
    OPENSSL_free(der);
}

static void test_key_jwk(void **state)
{
    struct fixture *fx = *state;
    struct json_writer *w = json_writer_new();
    token_key_write_jwk(fx->aad, w);
    char *text = xstrdup(json_writer_text(w, NULL));
    json_writer_free(w);

    struct json *jwk = NULL;
    assert_int_equal(json_parse(text, strlen(text), &jwk, NULL, 0), 0);
    assert_int_equal(json_len(jwk), 7);
    assert_string_equal(json_string(json_get(jwk, "kty")), "RSA");
    assert_string_equal(json_string(json_get(jwk, "use")), "sig");
    assert_string_equal(json_string(json_get(jwk, "kid")), token_key_kid(fx->aad));
    assert_string_equal(json_string(json_get(jwk, "x5t")), token_key_kid(fx->aad));
    assert_string_equal(json_string(json_get(jwk, "e")), "AQAB");
    const struct json *x5c = json_get(jwk, "x5c");
    assert_int_equal(json_type(x5c), JSON_ARRAY);
    assert_int_equal(json_len(x5c), 1);
    assert_string_equal(json_string(json_at(x5c, 0)), token_key_x5c(fx->aad));

    /* n is the modulus as OpenSSL reads it from the certificate: big-endian, no leading zero. */
    X509 *cert = pem_cert(fx->aad_cert);
    EVP_PKEY *pub = X509_get_pubkey(cert);
    BIGNUM *modulus = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_N, &modulus), 1);
    unsigned char want[256];
    assert_int_equal(BN_num_bytes(modulus), 256);
    BN_bn2bin(modulus, want);
    BN_free(modulus);
    EVP_PKEY_free(pub);
    X509_free(cert);
    struct arena *a = arena_new();
    const char *n = json_string(json_get(jwk, "n"));
    assert_non_null(n);
    unsigned char *got;
    assert_int_equal(base64url_decode(a, n, strlen(n), &got), 256);
    assert_memory_equal(got, want, sizeof(want));
    arena_free(a);
    json_free(jwk);

    /* A verification-only key publishes the same JWK. */
    struct token_key *k = NULL;
    assert_int_equal(token_key_from_pem(fx->aad_cert, NULL, &k), 0);
    w = json_writer_new();
    token_key_write_jwk(k, w);
    assert_string_equal(json_writer_text(w, NULL), text);
    json_writer_free(w);
    token_key_free(k);
    free(text);
}

/* ---- signing -------------------------------------------------------------------------------- */

static void test_sign_shape_and_independent_verify(void **state)
{
    struct fixture *fx = *state;
    static const char payload[] = "{\"aud\":\"https://vault.azure.net\",\"n\":1}";
    char *jwt = token_sign(fx->aad, payload, strlen(payload));
    assert_non_null(jwt);

    /* Three parts of the base64url alphabet, unpadded. */
    const char *d1 = strchr(jwt, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    assert_non_null(d2);
    assert_null(strchr(d2 + 1, '.'));
    assert_int_equal(
        strspn(jwt, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."),
        strlen(jwt));

    struct arena *a = arena_new();
    unsigned char *bytes;
    const char *h = jwt_part(a, jwt, 0);
    long n = base64url_decode(a, h, strlen(h), &bytes);
    assert_true(n > 0);
    struct json *header = NULL;
    assert_int_equal(json_parse((const char *)bytes, (size_t)n, &header, NULL, 0), 0);
    assert_int_equal(json_len(header), 4);
    assert_string_equal(json_string(json_get(header, "typ")), "JWT");
    assert_string_equal(json_string(json_get(header, "alg")), "RS256");
    assert_string_equal(json_string(json_get(header, "x5t")), token_key_kid(fx->aad));
    assert_string_equal(json_string(json_get(header, "kid")), token_key_kid(fx->aad));
    json_free(header);
    const char *p = jwt_part(a, jwt, 1);
    assert_int_equal(base64url_decode(a, p, strlen(p), &bytes), (long)strlen(payload));
    assert_memory_equal(bytes, payload, strlen(payload));

    struct jwt t;
    const char *reason = NULL;
    assert_int_equal(jwt_parse(a, jwt, &t, &reason), 0);
    assert_string_equal(t.alg, "RS256");
    assert_int_equal(t.signing_input_len, (size_t)(d2 - jwt));
    assert_int_equal(t.signature_len, 256);
    assert_int_equal(jwt_verify_signature(&t, fx->aad, TOKEN_RS256, &reason), 0);
    jwt_release(&t);

    /* OpenSSL alone, from the public PEM, agrees it is RS256 over "header.payload"... */
    unsigned char *sig;
    const char *s = jwt_part(a, jwt, 2);
    long sig_len = base64url_decode(a, s, strlen(s), &sig);
    assert_int_equal(sig_len, 256);
    EVP_PKEY *pub = pem_public_key(fx->aad_spki);
    assert_non_null(pub);
    assert_true(
        openssl_verify(pub, jwt, (size_t)(d2 - jwt), sig, (size_t)sig_len, RSA_PKCS1_PADDING, 0));
    /* ...and the check can fail: one changed byte of the input, or another key. */
    char *changed = xstrdup(jwt);
    changed[(d1 - jwt) + 3] ^= 1;
    assert_false(openssl_verify(pub, changed, (size_t)(d2 - jwt), sig, (size_t)sig_len,
                                RSA_PKCS1_PADDING, 0));
    free(changed);
    EVP_PKEY_free(pub);
    assert_false(openssl_verify(fx->other_priv, jwt, (size_t)(d2 - jwt), sig, (size_t)sig_len,
                                RSA_PKCS1_PADDING, 0));
    arena_free(a);
    free(jwt);
}

/* ---- the verifier: tokens it accepts -------------------------------------------------------- */

static void test_verify_app_token(void **state)
{
    struct fixture *fx = *state;
    struct token_verifier *v = new_verifier(fx);
    int64_t now = now_s();
    struct claims c = app_claims(now);
    char *jwt = sign_claims(fx->aad, &c);
    struct token_principal who;
    memset(&who, 0xa5, sizeof(who));
    expect_accepted(v, jwt, VAULT, &who, "app token");
    assert_string_equal(who.oid, OID);
    assert_string_equal(who.tid, TENANT);
    assert_string_equal(who.appid, APPID);
    assert_string_equal(who.name, "");
    assert_int_equal(who.kind, TOKEN_KIND_APP);
    assert_int_equal(who.exp, now + 3600);
    assert_int_equal(fx->find_key_calls, 1);
    free(jwt);
    token_verifier_free(v);
    token_verifier_free(NULL);
}

static void test_verify_user_token(void **state)
{
    struct fixture *fx = *state;
    struct token_verifier *v = new_verifier(fx);
    struct claims c = app_claims(now_s());
    c.upn = "alice@contoso.onmicrosoft.com";
    c.idtyp = "user";
    c.appid = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"; /* the Azure CLI, on the user's behalf */
    char *jwt = sign_claims(fx->aad, &c);
    struct token_principal who;
    expect_accepted(v, jwt, VAULT, &who, "user token");
    assert_int_equal(who.kind, TOKEN_KIND_USER);
    assert_string_equal(who.name, "alice@contoso.onmicrosoft.com");
    assert_string_equal(who.oid, OID);
    assert_string_equal(who.appid, "04b07795-8ddb-461a-bbee-02f9e1bf7b46");
    free(jwt);
    token_verifier_free(v);
}

static void test_verify_audience_trailing_slash(void **state)
{
    struct fixture *fx = *state;
    struct token_verifier *v = new_verifier(fx);
    struct token_principal who;
    struct claims c = app_claims(now_s());

    /* Azure CLI asks ARM for "https://management.azure.com/", other clients omit the slash: AAD
     * issues either spelling and ARM takes both. */
    c.aud = ARM;
    char *bare = sign_claims(fx->aad, &c);
    c.aud = ARM "/";
    char *slash = sign_claims(fx->aad, &c);
    expect_accepted(v, bare, ARM "/", &who, "aud without '/' at ARM with '/'");
    expect_accepted(v, slash, ARM, &who, "aud with '/' at ARM without '/'");
    expect_accepted(v, bare, ARM, &who, "aud exact");
    expect_accepted(v, slash, ARM "/", &who, "aud exact with '/'");

    /* Any of a service's audiences will do. */
    const char *const both[] = {VAULT, ARM "/"};
    const char *reason = NULL;
    assert_int_equal(token_verify(v, bare, both, 2, &who, &reason), 0);
    /* No audience accepts nothing. */
    reason = NULL;
    assert_int_equal(token_verify(v, bare, both, 0, &who, &reason), AZ_EDENIED);
    assert_non_null(strstr(reason, "audience"));

    expect_denied(v, bare, VAULT, "audience", "ARM token at Key Vault");
    expect_denied(v, bare, ARM "//", "audience", "two slashes");
    expect_denied(v, bare, "https://management.azure.co", "audience", "shorter host");
    expect_denied(v, bare, "https://management.azure.com.evil.example", "audience", "longer host");
    expect_denied(v, slash, ARM "/subscriptions", "audience", "a path");
    expect_denied(v, slash, "https://management.azure.com#", "audience", "another last char");
    free(bare);
    free(slash);

    static const char *const others[] = {"https://vault.azure.net.evil.example",
                                         "https://storage.azure.com", "", ARM "x"};
    for (size_t i = 0; i < ARRAY_SIZE(others); i++) {
        c.aud = others[i];
        char *jwt = sign_claims(fx->aad, &c);
        expect_denied(v, jwt, ARM, "audience", others[i]);
        expect_denied(v, jwt, VAULT, "audience", others[i]);
        free(jwt);
    }
    token_verifier_free(v);
}

/* ---- the verifier: forgeries ---------------------------------------------------------------- */

static void test_refuses_alg_none_and_hmac(void **state)
{
    struct fixture *fx = *state;
    struct token_verifier *v = new_verifier(fx);
    struct claims c = app_claims(now_s());
    char *payload = claims_json(&c);

    static const char *const none_headers[] = {
        "{\"alg\":\"none\"}",
        "{\"typ\":\"JWT\",\"alg\":\"None\"}",
        "{\"typ\":\"JWT\",\"alg\":\"\"}",
        "{\"typ\":\"JWT\"}",
    };
    for (size_t i = 0; i < ARRAY_SIZE(none_headers); i++) {
        char *jwt = compose(none_headers[i], payload, NULL, 0);
        assert_int_equal(jwt[strlen(jwt) - 1], '.'); /* an empty signature */
        expect_denied(v, jwt, VAULT, "algorithm", none_headers[i]);
        free(jwt);
    }
    /* alg none naming the real kid is no better. */
    char *header =
        xasprintf("{\"typ\":\"JWT\",\"alg\":\"none\",\"kid\":\"%s\"}", token_key_kid(fx->aad));
    char *jwt = compose(header, payload, NULL, 0);
    expect_denied(v, jwt, VAULT, "algorithm", "alg none with kid");
    free(jwt);
    free(header);

    /* The classic key confusion: HMAC keyed with the RSA public key, which anyone can fetch from
     * the JWKS. A verifier that let the header pick the algorithm would accept it. */
    header = xasprintf("{\"typ\":\"JWT\",\"alg\":\"HS256\",\"x5t\":\"%s\",\"kid\":\"%s\"}",
                       token_key_kid(fx->aad), token_key_kid(fx->aad));
    struct arena *a = arena_new();
    char *input = arena_printf(a, "%s.%s", base64url_encode(a, header, strlen(header)),
                               base64url_encode(a, payload, strlen(payload)));
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;
    assert_non_null(HMAC(EVP_sha256(), fx->aad_spki, (int)strlen(fx->aad_spki),
                         (const unsigned char *)input, strlen(input), mac, &mac_len));
    assert_int_equal(mac_len, 32);
    jwt = compose(header, payload, mac, mac_len);
    expect_denied(v, jwt, VAULT, "algorithm", "HS256 keyed with the public key");

    /* The signature primitive refuses it too, whatever RSA algorithms are allowed. */
    struct jwt t;
    const char *reason = NULL;
    assert_int_equal(jwt_parse(a, jwt, &t, &reason), 0);
    expect_signature_refused(&t, fx->aad, TOKEN_RS256 | TOKEN_PS256, "algorithm", "HS256");
    jwt_release(&t);
    free(jwt);
    arena_free(a);
    free(header);
    free(payload);
    token_verifier_free(v);
}

static void test_refuses_foreign_keys(void **state)
{
    struct fixture *fx = *state;
    struct token_verifier *v = new_verifier(fx);
    struct claims c = app_claims(now_s());
    char *payload = claims_json(&c);

    /* Signed by another key under the directory's kid: the signature check must catch it, both
     * before and after the directory's key is in the verifier's key cache. */
    char *header = rs256_header(fx->aad);
    char *jwt = forge(fx->other_priv, header, payload, RSA_PKCS1_PADDING, 0);
    expect_denied(v, jwt, VAULT, "signature", "other key, real kid (key not cached)");
    char *real = sign_claims(fx->aad, &c);
    struct token_principal who;
    expect_accepted(v, real, VAULT, &who, "the genuine token");
    free(real);
    expect_denied(v, jwt, VAULT, "signature", "other key, real kid (key cached)");
    free(jwt);
    free(header);

    /* Signed correctly by a key the directory never published. */
    jwt = token_sign(fx->other, payload, strlen(payload));
    int calls = fx->find_key_calls;
    expect_denied(v, jwt, VAULT, "not one of", "unknown kid");
    assert_int_equal(fx->find_key_calls, calls + 1);
    free(jwt);

    /* A kid too long to be a thumbprint. */
    char longkid[200];
    memset(longkid, 'A', sizeof(longkid) - 1);
    longkid[sizeof(longkid) - 1] = '\0';
    header = xasprintf("{\"typ\":\"JWT\",\"alg\":\"RS256\",\"kid\":\"%s\"}", longkid);
    jwt = forge(fx->aad_priv, header, payload, RSA_PKCS1_PADDING, 0);
    expect_denied(v, jwt, VAULT, "not one of", "long kid");
    free(jwt);
    free(header);

    /* No kid at all, though signed by the directory's own key. */
    jwt = forge(fx->aad_priv, "{\"typ\":\"JWT\",\"alg\":\"RS256\"}", payload, RSA_PKCS1_PADDING, 0);
    expect_denied(v, jwt, VAULT, "names no signing key", "no kid");
    free(jwt);

    /* Access tokens are RS256 only: PS256 from the directory's key is still refused. */
    header =
        xasprintf("{\"typ\":\"JWT\",\"alg\":\"PS256\",\"kid\":\"%s\"}", token_key_kid(fx->aad));
    jwt = forge(fx->aad_priv, header, payload, RSA_PKCS1_PSS_PADDING, RSA_PSS_SALTLEN_DIGEST);
    expect_denied(v, jwt, VAULT, "algorithm", "PS256 access token");
    free(jwt);
    free(header);
    free(payload);
    token_verifier_free(v);
}

/*
 * Verify a fresh app token with nbf and exp set relative to the second it is built in. A check at
 * one second past the skew only holds if the verifier reads that same second, so the attempt is
 * repeated when a second boundary fell in between.
 */
static int verify_lifetime(struct fixture *fx, int64_t nbf_delta, int64_t exp_delta,
                           const char **reason)
{
    int rc = -1;
    for (int attempt = 0; attempt < 5; attempt++) {
        struct token_verifier *v = new_verifier(fx);
        int64_t now = now_s();
        struct claims c = app_claims(now);
        c.iat = c.nbf = now + nbf_delta;
        c.exp = now + exp_delta;
        char *jwt = sign_claims(fx->aad, &c);
        const char *aud = VAULT;
        struct token_principal who;
        rc = token_verify(v, jwt, &aud, 1, &who, reason);
        free(jwt);
        token_verifier_free(v);
        if (now_s() == now)
            break;
    }
    return rc;
}

static void test_lifetime_and_skew(void **state)
{
    struct fixture *fx = *state;
    const char *reason = NULL;

    assert_int_equal(verify_lifetime(fx, -3600, -(TOKEN_SKEW_SECONDS + 1), &reason), AZ_EDENIED);
    assert_non_null(strstr(reason, "expired"));
    /* Within the skew a client whose clock runs behind still gets in. */
    assert_int_equal(verify_lifetime(fx, -3600, -200, &reason), 0);

    reason = NULL;
    assert_int_equal(verify_lifetime(fx, TOKEN_SKEW_SECONDS + 1, 3600, &reason), AZ_EDENIED);
    assert_non_null(strstr(reason, "not valid yet"));
    assert_int_equal(verify_lifetime(fx, 200, 3600, &reason), 0);

    /* Without exp or nbf there is no lifetime to check: refused, not taken as unlimited. */
    struct token_verifier *v = new_verifier(fx);
    int64_t now = now_s();
    char *payload = xasprintf("{\"aud\":\"" VAULT "\",\"iss\":\"https://sts.windows.net/" TENANT
                              "/\",\"tid\":\"" TENANT "\",\"oid\":\"" OID "\",\"nbf\":%lld}",
                              (long long)now);
    char *jwt = token_sign(fx->aad, payload, strlen(payload));
    expect_denied(v, jwt, VAULT, "lifetime", "no exp");
    free(jwt);
    free(payload);
    payload = xasprintf("{\"aud\":\"" VAULT "\",\"iss\":\"https://sts.windows.net/" TENANT
                        "/\",\"tid\":\"" TENANT "\",\"oid\":\"" OID "\",\"nbf\":%lld,"
                        "\"exp\":\"%lld\"}",
                        (long long)now, (long long)now + 3600);
    jwt = token_sign(fx->aad, payload, strlen(payload));
    expect_denied(v, jwt, VAULT, "lifetime", "exp as a string");
    free(jwt);
    free(payload);
    token_verifier_free(v);
}

static void test_refuses_wrong_issuer_or_tenant(void **state)
{
    struct fixture *fx = *state;
    struct token_verifier *v = new_verifier(fx);
    struct claims c = app_claims(now_s());

    /* Every issuer below names a tenant or host other than the token's own tid. */
    static const char *const issuers[] = {
        "https://sts.windows.net/" OTHER_TENANT "/",
        "https://sts.windows.com/" TENANT "/",
        "https://login.microsoftonline.com/" TENANT "/v2.0",
        "https://evil.example/" TENANT "/",
        "https://sts.windows.net/" TENANT,
        "https://sts.windows.net/" TENANT "/x",
        "http://sts.windows.net/" TENANT "/",
    };
    for (size_t i = 0; i < ARRAY_SIZE(issuers); i++) {
        c.iss = issuers[i];
        char *jwt = sign_claims(fx->aad, &c);
        expect_denied(v, jwt, VAULT, "not the token service", issuers[i]);
        free(jwt);
    }

    /* Correctly signed and self-consistent, for a tenant the directory does not have. */
    c.iss = NULL;
    c.tid = OTHER_TENANT;
    char *jwt = sign_claims(fx->aad, &c);
    expect_denied(v, jwt, VAULT, "does not have", "unknown tenant");
    free(jwt);

    c.tid = "not-a-tenant";
    c.iss = "https://sts.windows.net/not-a-tenant/";
    jwt = sign_claims(fx->aad, &c);
    expect_denied(v, jwt, VAULT, "no tenant", "tid not a GUID");
    free(jwt);
    assert_int_equal(fx->tenant_calls, 1); /* only the well-formed tenant was looked up */
    token_verifier_free(v);
}

static void test_refuses_tampering(void **state)
{
    struct fixture *fx = *state;
    struct token_verifier *v = new_verifier(fx);
    struct claims c = app_claims(now_s());
    char *jwt = sign_claims(fx->aad, &c);
    struct arena *a = arena_new();
    const char *h = jwt_part(a, jwt, 0), *s = jwt_part(a, jwt, 2);

    /* Another principal's oid, the original signature kept. */
    c.oid = "ffffffff-7d2b-4e5c-8a6f-9b0c1d2e3f4a";
    char *payload = claims_json(&c);
    char *forged = arena_printf(a, "%s.%s.%s", h, base64url_encode(a, payload, strlen(payload)), s);
    expect_denied(v, forged, VAULT, "signature", "payload changed after signing");
    free(payload);

    /* One character of the signature changed (within the alphabet, not the last one, whose
     * spare bits must stay zero). */
    char *flipped = arena_strdup(a, jwt);
    char *sig = strrchr(flipped, '.') + 10;
    *sig = *sig == 'A' ? 'B' : 'A';
    expect_denied(v, flipped, VAULT, "signature", "signature changed");

    /* Truncated to 340 characters, 255 whole bytes, so it is still canonical base64url and only
     * the signature check can object; and cut off entirely. */
    assert_int_equal(strlen(s), 342);
    char *shorter = arena_strndup(a, jwt, strlen(jwt) - 2);
    expect_denied(v, shorter, VAULT, "signature", "truncated signature");
    char *nosig = arena_strndup(a, jwt, (size_t)(strrchr(jwt, '.') - jwt) + 1);
    expect_denied(v, nosig, VAULT, "signature", "empty signature");

    /* The genuine token still passes: the refusals above were not the verifier being broken. */
    struct token_principal who;
    expect_accepted(v, jwt, VAULT, &who, "genuine");
    assert_string_equal(who.oid, OID);
    arena_free(a);
    free(jwt);
    token_verifier_free(v);
}

static void test_refuses_malformed(void **state)
{
    struct fixture *fx = *state;
    struct token_verifier *v = new_verifier(fx);
    struct claims c = app_claims(now_s());
    char *jwt = sign_claims(fx->aad, &c);
    struct arena *a = arena_new();
    const char *h = jwt_part(a, jwt, 0), *p = jwt_part(a, jwt, 1), *s = jwt_part(a, jwt, 2);

    expect_denied(v, arena_printf(a, "%s.%s", h, p), VAULT, "compact", "two parts");
    expect_denied(v, arena_printf(a, "%s.%s.%s.%s", h, p, s, s), VAULT, "compact", "four parts");
    expect_denied(v, arena_printf(a, "%s.%s.%s.", h, p, s), VAULT, "compact", "trailing dot");
    expect_denied(v, "", VAULT, "compact", "empty");
    expect_denied(v, "...", VAULT, "compact", "dots only");

    /* Standard-base64 characters, padding and others, in each of the three parts. */
    static const char bad_chars[] = "+/= *%";
    for (const char *bc = bad_chars; *bc; bc++) {
        for (int part = 0; part < 3; part++) {
            char *bad = arena_strdup(a, jwt);
            char *at = bad;
            for (int k = 0; k < part; k++)
                at = strchr(at, '.') + 1;
            at[5] = *bc;
            char what[64];
            snprintf(what, sizeof(what), "'%c' in part %d", *bc, part);
            expect_denied(v, bad, VAULT, "base64url", what);
        }
    }
    expect_denied(v, arena_printf(a, "%s=", jwt), VAULT, "base64url", "padded signature");

    /* Well signed, but the payload is not a claims object. */
    static const char *const not_objects[] = {"[\"aud\",\"" VAULT "\"]", "\"claims\"", "42",
                                              "hello"};
    for (size_t i = 0; i < ARRAY_SIZE(not_objects); i++) {
        char *signed_jwt = token_sign(fx->aad, not_objects[i], strlen(not_objects[i]));
        expect_denied(v, signed_jwt, VAULT, "JSON object", not_objects[i]);
        free(signed_jwt);
    }

    /* Well signed, every other claim right, but no principal. */
    c.oid = NULL;
    char *no_oid = sign_claims(fx->aad, &c);
    expect_denied(v, no_oid, VAULT, "(oid)", "missing oid");
    free(no_oid);
    c.oid = "alice";
    char *bad_oid = sign_claims(fx->aad, &c);
    expect_denied(v, bad_oid, VAULT, "(oid)", "oid not a GUID");
    free(bad_oid);
    arena_free(a);
    free(jwt);
    token_verifier_free(v);
}

/* ---- the verifier's cache ------------------------------------------------------------------- */

static void test_cached_token_still_expires(void **state)
{
    struct fixture *fx = *state;
    struct token_verifier *v = new_verifier(fx);
    int64_t now = now_s();
    struct claims c = app_claims(now);
    c.exp = now + 60;
    char *jwt = sign_claims(fx->aad, &c);
    struct token_principal who;

    expect_accepted(v, jwt, VAULT, &who, "first use");
    expect_accepted(v, jwt, VAULT, &who, "second use");
    /* The second use never asked the directory again: it was served from the cache, so the
     * checks below exercise the cached path. */
    assert_int_equal(fx->tenant_calls, 1);
    assert_int_equal(fx->find_key_calls, 1);

    clock_set_offset_ms((60 + 200) * 1000);
    expect_accepted(v, jwt, VAULT, &who, "past exp, within the skew");
    clock_set_offset_ms((60 + TOKEN_SKEW_SECONDS + 2) * 1000);
    expect_denied(v, jwt, VAULT, "expired", "cached token past exp + skew");
    assert_int_equal(fx->tenant_calls, 1);
    clock_set_offset_ms(0);
    free(jwt);
    token_verifier_free(v);
}

static void test_cache_keeps_audience_check(void **state)
{
    struct fixture *fx = *state;
    struct token_verifier *v = new_verifier(fx);
    struct claims c = app_claims(now_s());
    char *jwt = sign_claims(fx->aad, &c);
    struct token_principal who;

    expect_accepted(v, jwt, VAULT, &who, "at Key Vault");
    expect_accepted(v, jwt, VAULT, &who, "at Key Vault again");
    assert_int_equal(fx->tenant_calls, 1);
    /* A Key Vault token replayed at ARM or Storage from the cache is still the wrong audience. */
    expect_denied(v, jwt, ARM, "audience", "cached token at ARM");
    expect_denied(v, jwt, "https://storage.azure.com", "audience", "cached token at Storage");
    assert_int_equal(fx->tenant_calls, 1);
    expect_accepted(v, jwt, VAULT, &who, "at Key Vault after the refusals");
    assert_string_equal(who.oid, OID);
    free(jwt);
    token_verifier_free(v);
}

/* ---- PS256 client assertions ---------------------------------------------------------------- */

static void test_ps256_client_assertion(void **state)
{
    struct fixture *fx = *state;
    /* The application's registered certificate: the public half only, as the directory has it. */
    struct token_key *cert = NULL;
    assert_int_equal(token_key_from_pem(fx->other_cert, NULL, &cert), 0);
    char *header =
        xasprintf("{\"alg\":\"PS256\",\"typ\":\"JWT\",\"x5t\":\"%s\"}", token_key_kid(cert));
    int64_t now = now_s();
    char *payload = xasprintf("{\"aud\":\"https://login.microsoftonline.com/" TENANT
                              "/oauth2/v2.0/token\",\"iss\":\"" APPID "\",\"sub\":\"" APPID
                              "\",\"jti\":\"6f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0\","
                              "\"nbf\":%lld,\"exp\":%lld}",
                              (long long)now, (long long)now + 600);
    struct arena *a = arena_new();
    char *spki = public_pem(fx->other_cert);
    EVP_PKEY *pub = pem_public_key(spki);
    free(spki);
    assert_non_null(pub);

    /* RFC 7518 says the salt is as long as the digest; Node's crypto and others use the
     * maximum. Both are in use by real clients. */
    static const int saltlens[] = {RSA_PSS_SALTLEN_DIGEST, RSA_PSS_SALTLEN_MAX};
    for (size_t i = 0; i < ARRAY_SIZE(saltlens); i++) {
        char *jwt = forge(fx->other_priv, header, payload, RSA_PKCS1_PSS_PADDING, saltlens[i]);
        struct jwt t;
        const char *reason = "(none)";
        assert_int_equal(jwt_parse(a, jwt, &t, &reason), 0);
        assert_string_equal(t.alg, "PS256");

        /* The two signatures really differ in salt length: each fails OpenSSL's check when the
         * other length is demanded. */
        int other = saltlens[1 - i];
        assert_true(openssl_verify(pub, t.signing_input, t.signing_input_len, t.signature,
                                   t.signature_len, RSA_PKCS1_PSS_PADDING, saltlens[i]));
        assert_false(openssl_verify(pub, t.signing_input, t.signing_input_len, t.signature,
                                    t.signature_len, RSA_PKCS1_PSS_PADDING, other));

        if (jwt_verify_signature(&t, cert, TOKEN_PS256, &reason) != 0)
            fail_msg("PS256 salt %d refused: %s", saltlens[i], reason);
        assert_int_equal(jwt_verify_signature(&t, cert, TOKEN_PS256 | TOKEN_RS256, &reason), 0);
        expect_signature_refused(&t, cert, TOKEN_RS256, "algorithm", "PS256 where RS256 only");
        expect_signature_refused(&t, fx->aad, TOKEN_PS256, "signature", "PS256, wrong key");
        jwt_release(&t);
        free(jwt);
    }
    EVP_PKEY_free(pub);

    /* A PSS signature under a header claiming RS256 is checked as PKCS#1 v1.5 and fails: the
     * padding follows the pinned algorithm, not whatever verifies. */
    char *rs_header =
        xasprintf("{\"alg\":\"RS256\",\"typ\":\"JWT\",\"x5t\":\"%s\"}", token_key_kid(cert));
    char *jwt =
        forge(fx->other_priv, rs_header, payload, RSA_PKCS1_PSS_PADDING, RSA_PSS_SALTLEN_DIGEST);
    struct jwt t;
    const char *reason = NULL;
    assert_int_equal(jwt_parse(a, jwt, &t, &reason), 0);
    expect_signature_refused(&t, cert, TOKEN_RS256 | TOKEN_PS256, "signature",
                             "PSS signature labelled RS256");
    jwt_release(&t);
    free(jwt);
    free(rs_header);

    /* And the other way round: an RS256 assertion where only PS256 is allowed. */
    jwt = token_sign(fx->other, payload, strlen(payload));
    assert_int_equal(jwt_parse(a, jwt, &t, &reason), 0);
    expect_signature_refused(&t, cert, TOKEN_PS256, "algorithm", "RS256 where PS256 only");
    assert_int_equal(jwt_verify_signature(&t, cert, TOKEN_RS256, &reason), 0);
    jwt_release(&t);
    free(jwt);

    arena_free(a);
    free(payload);
    free(header);
    token_key_free(cert);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    /* The tests provoke error paths on purpose; their log lines would only be noise. */
    log_configure(LOG_LEVEL_OFF, LOG_FORMAT_TEXT);
    const struct CMUnitTest tests[] = {
        T(test_key_names),
        T(test_key_pem_round_trip),
        T(test_signing_key_from_pem),
        T(test_key_from_der),
        T(test_key_jwk),
        T(test_sign_shape_and_independent_verify),
        T(test_verify_app_token),
        T(test_verify_user_token),
        T(test_verify_audience_trailing_slash),
        T(test_refuses_alg_none_and_hmac),
        T(test_refuses_foreign_keys),
        T(test_lifetime_and_skew),
        T(test_refuses_wrong_issuer_or_tenant),
        T(test_refuses_tampering),
        T(test_refuses_malformed),
        T(test_cached_token_still_expires),
        T(test_cache_keeps_audience_check),
        T(test_ps256_client_assertion),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
