/*
 * fuzz_token.c — libFuzzer harness for token_verify (common/token.c), the one routine every
 * service checks bearer tokens with, and for jwt_parse/jwt_verify_signature as AAD checks client
 * assertions (RS256 or PS256).
 *
 * The verifier knows one fixed key (below, generated for this harness only; its kid is the
 * certificate's SHA-1 thumbprint, as AAD names its keys) and one tenant. The first input byte
 * picks what the rest is:
 *   0: a compact JWT as a client sends it;
 *   1: a payload (JSON text), which the harness signs with the fixed key under a correct header
 *      (token_sign), so the claim checks (issuer, tenant, audience, lifetime, oid) are reached;
 *   2: "header\npayload" (two JSON texts), signed RS256 by the harness: the header checks (alg,
 *      kid) with a good signature.
 * A token that verifies must have made every check: the harness re-checks tenant and oid.
 *
 * Reproduce a crash: build/fuzz/fuzz_token FILE (see tests/fuzz/README.md).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/token.h"
#include "common/util.h"

#define TENANT "8a2c4f1e-5b7d-4c3a-9e6f-1d2b3c4a5e6f"

static const char CERT_PEM[] = "-----BEGIN CERTIFICATE-----\n"
                               "MIIDITCCAgmgAwIBAgIUHADvM4sU82Jzp3mM96OZJGqbCi0wDQYJKoZIhvcNAQEL\n"
                               "BQAwHzEdMBsGA1UEAwwUYXpzaW0gZnV6eiBkaXJlY3RvcnkwIBcNMjYxMTI3MDkw\n"
                               "NTM3WhgPMjEyNjExMDMwOTA1MzdaMB8xHTAbBgNVBAMMFGF6c2ltIGZ1enogZGly\n"
                               "ZWN0b3J5MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEApSy+7jyIjYGe\n"
                               "ajqFVChsgdZjrvpmi/lL8fx2+ib+COpV41wRXZFs16fiA9r2DJrx2fgOHF0opeHa\n"
                               "WvqvYsP2uW7WdS9DirIRVxEzlxXCD6wq/ZMXB8N75SEX3I878wjYzBdKTAwLQz0O\n"
                               "xmHKHyuqWlBXK62QnzJYdV8YS+blvHl2j23TFyz6pmF/R451levSn93FPeQEvK+b\n"
                               "wFHG9o1JCD2Jz56Z39wpGTcUl9YVasFZB0bw/WGqo4EBKWXfZaKila+SLAe4uKWc\n"
                               "xCvJ877D5cQX7V/5LO5BWBfvVQy/v/p9mvJ9qpJDkJilYra/vjBRiZ9i9cEs1vql\n"
                               "QYvir8/6EQIDAQABo1MwUTAdBgNVHQ4EFgQUuPkAzLeaAidLuxQIk3qvQ9bWEZ8w\n"
                               "HwYDVR0jBBgwFoAUuPkAzLeaAidLuxQIk3qvQ9bWEZ8wDwYDVR0TAQH/BAUwAwEB\n"
                               "/zANBgkqhkiG9w0BAQsFAAOCAQEABnloSEL/BiofSvqs/So1NRN6/V7zTP6FPE0U\n"
                               "XMPRUe59xBsu4c9FWkbWkRF7yw0qL/KryrWUj9FxV2Mq+CqAPdQ+hWFuM1L6BKa5\n"
                               "69ajVmwVMgGboImi0TEB7FCj6ev4rAnAiBfATNt42FNQWvReohAexxV6mHfEHDdg\n"
                               "tOy9Xo7NiOwaeLAg9B7b4NwlbPBuxdPVOpJnCySsy7sUEhSQJDN0OaChFuM1mV/q\n"
                               "X94HtbmC7syseLE1fUhepRgAV7MIh0gIDeIl47gGqZj75y/i0ITNWuKUQ5yfDx0A\n"
                               "VOg/e2REpiQbHWdRfBZaVA47IyRobkP2hBvY5jxnbvW8qJ3cpg==\n"
                               "-----END CERTIFICATE-----\n";
static const char KEY_PEM[] = "-----BEGIN PRIVATE KEY-----\n"
                              "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQClLL7uPIiNgZ5q\n"
                              "OoVUKGyB1mOu+maL+Uvx/Hb6Jv4I6lXjXBFdkWzXp+ID2vYMmvHZ+A4cXSil4dpa\n"
                              "+q9iw/a5btZ1L0OKshFXETOXFcIPrCr9kxcHw3vlIRfcjzvzCNjMF0pMDAtDPQ7G\n"
                              "YcofK6paUFcrrZCfMlh1XxhL5uW8eXaPbdMXLPqmYX9HjnWV69Kf3cU95AS8r5vA\n"
                              "Ucb2jUkIPYnPnpnf3CkZNxSX1hVqwVkHRvD9YaqjgQEpZd9loqKVr5IsB7i4pZzE\n"
                              "K8nzvsPlxBftX/ks7kFYF+9VDL+/+n2a8n2qkkOQmKVitr++MFGJn2L1wSzW+qVB\n"
                              "i+Kvz/oRAgMBAAECggEAB66fZXEKLJMriw8kV/X+mHIQPjFSE0blqOg8IB2vxVpB\n"
                              "Qv8bZWe76UKLEvD0TkEnWBL29IuiZictRruXrEM3GpggqC/53yWxo+QWWzu5RC12\n"
                              "rSch/EPjs3Qc4g6lHBREcYcQhv2NKUwZ36EJE5auQE+x4zOaCSZwOerBpHeVZiTo\n"
                              "qSZzjg8WXkf61JBOjqfMdGbWJTP+pizs6BV28aa2DjKZaA03gjJ2jXlpakMa1EbK\n"
                              "zPwM9N3haBAW6XwrZNTeB7R+PvbfKylFhpIeH2Pcfv8wMC6DNQrNSYqDSKU2Mz/b\n"
                              "BU3Gdp+f1ZL2miUHAltIP0NRP0THR8sb1q9mw4sG4QKBgQDWjVlmFgldbHrdpPmB\n"
                              "n47FO6I3oz8mgFmW5HSnD/r9vJzSRblsgBlM3yULvLi6iEflSNvhmLl8ivhbPyy1\n"
                              "chVkUNaFKaI/dlR/IpBjVJkDBPjXiohfN9b3X2EPmZ/vFTiRq/YZvOs29a1eR0Y4\n"
                              "OKvhoWfMuVReIO/uV4eo/ZoQ8QKBgQDFFXH/SLdcKu1V9rSAUHk14LhVgz3dQBKM\n"
                              "hPJ97lZ6OzNQakza58FpV5GjFxHcrT9aMuPnCev+NOFHP8t0Wp1CgRYNEhebF8WF\n"
                              "2jPoC9Lh/zgCuUe+souvIIPduAjQezc616jg+UBQkkOqVGYOAvBpFEzQXTWo/UMm\n"
                              "AVmmhdB7IQKBgHYCUyzKbCY9t6rXxgDdETs83LG7kc2MhTpwuBT3vjb4Gk2x2hZq\n"
                              "sv/MMOUuzXCT6u+bTo3cYhG1onsV2XKHqGp/6C5gQwSjAkDXcxGfg3Xcsz5izTWK\n"
                              "UivIA2wANK7dPjspmXh4p+uX397eVyovSaMWEzDQsy3+8dlnvY9exfIRAoGAH8Vu\n"
                              "RC4vyP7ulc4YmRrf/2yDqt1marV6iAaipOR4Mmo6wnrwetWjm1zPkJAWhBG1xc+w\n"
                              "Z710ut1Bd9/z54T4FxGCQYcqIQl7ATIE7iKB04b2O5Is27Qiyo+eUm7plNpYM/cy\n"
                              "NVpZIOQDXoEOlrGomff4zhpInT5+xbCwCCVIT6ECgYEAlGaxZQ8DNtQ3sBg+io+k\n"
                              "Yyh4p8rxdL4D+VTRuw7W13V3pcG89YtVqwg1s90VeANXhsHhmBrNGmXtggsnxaOM\n"
                              "TkgyUqeJvSCTh1YlX+WU8jR4Ejye23k4OquFW8p9T/Ocqc9hzMQ73cogvy3vcCGr\n"
                              "4L67s1S1IYmM6Ug6Ab9AXFo=\n"
                              "-----END PRIVATE KEY-----\n";

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct token_key *signing_key; /* the fixed key, with its private half */
static EVP_PKEY *private_key;         /* the same, for headers token_sign would not write */
static struct token_verifier *verifier;

static int find_key(void *arg, const char *kid, struct token_key **out)
{
    (void)arg;
    if (strcmp(kid, token_key_kid(signing_key)) != 0)
        return AZ_ENOTFOUND;
    return token_key_from_pem(CERT_PEM, NULL, out); /* the verifier owns and frees it */
}

static bool tenant_exists(void *arg, const char *tid)
{
    (void)arg;
    return str_ieq(tid, TENANT);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_configure(LOG_LEVEL_OFF, LOG_FORMAT_TEXT);
    if (token_key_from_pem(CERT_PEM, KEY_PEM, &signing_key) != 0)
        abort();
    BIO *b = BIO_new_mem_buf(KEY_PEM, -1);
    private_key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    if (!private_key)
        abort();
    const struct token_source src = {find_key, tenant_exists, NULL};
    verifier = token_verifier_new(&src);
    return 0;
}

/* base64url(header).base64url(payload).base64url(RS256 signature), a heap string. */
static char *sign_compact(const char *header, size_t hlen, const char *payload, size_t plen)
{
    struct arena *a = arena_new();
    struct buf b = {0};
    buf_puts(&b, base64url_encode(a, header, hlen));
    buf_putc(&b, '.');
    buf_puts(&b, base64url_encode(a, payload, plen));
    unsigned char sig[512];
    size_t siglen = sizeof(sig);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, private_key) != 1 ||
        EVP_DigestSign(ctx, sig, &siglen, (unsigned char *)b.data, b.len) != 1)
        abort();
    EVP_MD_CTX_free(ctx);
    buf_putc(&b, '.');
    buf_puts(&b, base64url_encode(a, sig, siglen));
    arena_free(a);
    return b.data;
}

static void verify(const char *jwt)
{
    static const char *const audiences[] = {"https://management.azure.com/",
                                            "https://vault.azure.net"};
    struct token_principal who;
    const char *reason = NULL;
    int rc = token_verify(verifier, jwt, audiences, 2, &who, &reason);
    if (rc == 0) {
        if (!str_ieq(who.tid, TENANT) || !uuid_valid(who.oid))
            abort();
    } else if (rc != AZ_EDENIED || !reason) {
        abort();
    }

    /* As AAD reads a client assertion. */
    struct arena *a = arena_new();
    struct jwt t;
    if (jwt_parse(a, jwt, &t, &reason) == 0) {
        jwt_verify_signature(&t, signing_key, TOKEN_RS256 | TOKEN_PS256, &reason);
        jwt_release(&t);
    }
    arena_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 32 * 1024)
        return 0;
    uint8_t mode = data[0] % 3;
    const char *rest = (const char *)data + 1;
    size_t n = size - 1;
    char *jwt = NULL;
    if (mode == 0) {
        jwt = xstrndup(rest, n); /* a header value: a C string */
    } else if (mode == 1) {
        jwt = token_sign(signing_key, rest, n);
    } else {
        const char *nl = memchr(rest, '\n', n);
        if (!nl)
            return 0;
        jwt = sign_compact(rest, (size_t)(nl - rest), nl + 1, n - (size_t)(nl + 1 - rest));
    }
    if (jwt)
        verify(jwt);
    free(jwt);
    return 0;
}
