/*
 * token.c — see token.h. OpenSSL EVP only; JSON through common/json.
 */
#include "token.h"

#include "error.h"
#include "json.h"
#include "log.h"
#include "mem.h"
#include "util.h"

#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <assert.h>
#include <stdio.h>
#include <string.h>

#define MAX_TOKEN_LEN (16 * 1024)
#define KEY_CACHE 16
#define TOKEN_CACHE 4096 /* verified tokens remembered per verifier (direct-mapped) */

struct token_key {
    EVP_PKEY *pkey;
    X509 *cert;
    char kid[32];
    char x5t_s256[48];
    char sha1_hex[41];
    char *x5c;
};

/* ---- keys ----------------------------------------------------------------------------------- */

/* The names a certificate goes by (thumbprints, x5c), from its DER. */
static void name_key(struct token_key *k, const unsigned char *der, size_t len)
{
    unsigned char sha1[20], sha256[32];
    EVP_Digest(der, len, sha1, NULL, EVP_sha1(), NULL);
    EVP_Digest(der, len, sha256, NULL, EVP_sha256(), NULL);
    struct arena *a = arena_new();
    snprintf(k->kid, sizeof(k->kid), "%s", base64url_encode(a, sha1, sizeof(sha1)));
    snprintf(k->x5t_s256, sizeof(k->x5t_s256), "%s", base64url_encode(a, sha256, sizeof(sha256)));
    k->x5c = xstrdup(base64_encode(a, der, len));
    arena_free(a);
    for (int i = 0; i < 20; i++)
        snprintf(k->sha1_hex + 2 * i, 3, "%02X", sha1[i]);
}

/* Derive the names a key goes by from its certificate. */
static int key_finish(struct token_key *k)
{
    unsigned char *der = NULL;
    int len = i2d_X509(k->cert, &der);
    if (len <= 0)
        return AZ_ETLS;
    name_key(k, der, (size_t)len);
    OPENSSL_free(der);
    if (!k->pkey) {
        k->pkey = X509_get_pubkey(k->cert);
        if (!k->pkey)
            return AZ_ETLS;
    }
    return EVP_PKEY_is_a(k->pkey, "RSA") ? 0 : AZ_EINVAL;
}

int token_key_generate(const char *subject, struct token_key **out)
{
    *out = NULL;
    struct token_key *k = xcalloc(1, sizeof(*k));
    k->pkey = EVP_RSA_gen(2048);
    k->cert = X509_new();
    unsigned char serial[16];
    random_bytes(serial, sizeof(serial));
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    X509_NAME *name = k->cert ? X509_get_subject_name(k->cert) : NULL;
    bool ok = k->pkey && name && bn && X509_set_version(k->cert, 2) &&
              BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(k->cert)) &&
              X509_gmtime_adj(X509_getm_notBefore(k->cert), -3600) &&
              X509_gmtime_adj(X509_getm_notAfter(k->cert), 5L * 365 * 86400) &&
              X509_set_pubkey(k->cert, k->pkey) &&
              X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)subject,
                                         -1, -1, 0) &&
              X509_set_issuer_name(k->cert, name) && X509_sign(k->cert, k->pkey, EVP_sha256());
    BN_free(bn);
    if (!ok || key_finish(k) != 0) {
        ERR_clear_error();
        token_key_free(k);
        return AZ_ETLS;
    }
    *out = k;
    return 0;
}

/* A private key from PEM. PKCS#8 RSA keys, which token_key_to_pem writes, go through a decoder
 * told what to expect: PEM_read_bio_PrivateKey sets up every decoder OpenSSL 3 has first, three
 * times the cost (0.5 ms here), paid by IMDS on an identity's first sign-in. Anything else is
 * read the generic way. */
static EVP_PKEY *private_key_from_pem(const char *pem)
{
    EVP_PKEY *pkey = NULL;
    OSSL_DECODER_CTX *d = OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", "PrivateKeyInfo", "RSA",
                                                        EVP_PKEY_KEYPAIR, NULL, NULL);
    const unsigned char *data = (const unsigned char *)pem;
    size_t len = strlen(pem);
    if (!d || !OSSL_DECODER_from_data(d, &data, &len)) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    OSSL_DECODER_CTX_free(d);
    if (!pkey) {
        ERR_clear_error();
        BIO *b = BIO_new_mem_buf(pem, -1);
        pkey = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
        BIO_free(b);
    }
    return pkey;
}

int token_key_from_pem(const char *cert_pem, const char *key_pem, struct token_key **out)
{
    *out = NULL;
    struct token_key *k = xcalloc(1, sizeof(*k));
    BIO *b = BIO_new_mem_buf(cert_pem, -1);
    k->cert = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (k->cert && key_pem) {
        k->pkey = private_key_from_pem(key_pem);
        if (!k->pkey || X509_check_private_key(k->cert, k->pkey) != 1) {
            EVP_PKEY_free(k->pkey);
            k->pkey = NULL;
            X509_free(k->cert);
            k->cert = NULL;
        }
    }
    if (!k->cert || key_finish(k) != 0) {
        ERR_clear_error();
        token_key_free(k);
        return AZ_EINVAL;
    }
    *out = k;
    return 0;
}

int token_signing_key_from_pem(const char *cert_pem, const char *key_pem, struct token_key **out)
{
    *out = NULL;
    char *name = NULL, *header = NULL;
    unsigned char *der = NULL;
    long len = 0;
    BIO *b = BIO_new_mem_buf(cert_pem, -1);
    bool certificate = b && PEM_read_bio(b, &name, &header, &der, &len) == 1 &&
                       strcmp(name, PEM_STRING_X509) == 0 && len > 0;
    BIO_free(b);
    struct token_key *k = xcalloc(1, sizeof(*k));
    if (certificate) {
        name_key(k, der, (size_t)len);
        k->pkey = private_key_from_pem(key_pem);
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(der);
    if (!k->pkey || !EVP_PKEY_is_a(k->pkey, "RSA")) {
        ERR_clear_error();
        token_key_free(k);
        return AZ_EINVAL;
    }
    *out = k;
    return 0;
}

int token_key_from_der(const void *der, size_t len, struct token_key **out)
{
    *out = NULL;
    const unsigned char *p = der;
    struct token_key *k = xcalloc(1, sizeof(*k));
    k->cert = d2i_X509(NULL, &p, (long)len);
    if (!k->cert || key_finish(k) != 0) {
        ERR_clear_error();
        token_key_free(k);
        return AZ_EINVAL;
    }
    *out = k;
    return 0;
}

void token_key_free(struct token_key *k)
{
    if (!k)
        return;
    EVP_PKEY_free(k->pkey);
    X509_free(k->cert);
    free(k->x5c);
    free(k);
}

static char *bio_text(BIO *b)
{
    char *data;
    long n = BIO_get_mem_data(b, &data);
    return xstrndup(data, (size_t)n);
}

int token_key_to_pem(const struct token_key *k, char **cert_pem, char **key_pem)
{
    assert(k->cert); /* not a key from token_signing_key_from_pem */
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, k->cert);
    *cert_pem = bio_text(b);
    BIO_free(b);
    *key_pem = NULL;
    /* Only keys with a private half have d; the copy OpenSSL hands back is wiped at once. */
    BIGNUM *d = NULL;
    bool has_private = EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_D, &d) == 1;
    BN_clear_free(d);
    if (has_private) {
        b = BIO_new(BIO_s_mem());
        PEM_write_bio_PrivateKey(b, k->pkey, NULL, NULL, 0, NULL, NULL);
        *key_pem = bio_text(b);
        BIO_free(b);
    }
    ERR_clear_error();
    return 0;
}

const char *token_key_kid(const struct token_key *k)
{
    return k->kid;
}
const char *token_key_x5t_s256(const struct token_key *k)
{
    return k->x5t_s256;
}
const char *token_key_sha1_hex(const struct token_key *k)
{
    return k->sha1_hex;
}
const char *token_key_x5c(const struct token_key *k)
{
    return k->x5c;
}

static void write_bn(struct json_writer *w, const char *key, EVP_PKEY *pkey, const char *param)
{
    BIGNUM *bn = NULL;
    EVP_PKEY_get_bn_param(pkey, param, &bn);
    int n = bn ? BN_num_bytes(bn) : 0;
    unsigned char *bytes = xmalloc((size_t)n + 1);
    if (bn)
        BN_bn2bin(bn, bytes);
    struct arena *a = arena_new();
    jw_kv_string(w, key, base64url_encode(a, bytes, (size_t)n));
    arena_free(a);
    free(bytes);
    BN_free(bn);
}

void token_key_write_jwk(const struct token_key *k, struct json_writer *w)
{
    jw_object_open(w);
    jw_kv_string(w, "kty", "RSA");
    jw_kv_string(w, "use", "sig");
    jw_kv_string(w, "kid", k->kid);
    jw_kv_string(w, "x5t", k->kid);
    write_bn(w, "n", k->pkey, OSSL_PKEY_PARAM_RSA_N);
    write_bn(w, "e", k->pkey, OSSL_PKEY_PARAM_RSA_E);
    jw_key(w, "x5c");
    jw_array_open(w);
    jw_string(w, k->x5c);
    jw_array_close(w);
    jw_object_close(w);
}

/* ---- parsing, signing, verifying ------------------------------------------------------------ */

int jwt_parse(struct arena *a, const char *text, struct jwt *out, const char **reason)
{
    memset(out, 0, sizeof(*out));
    size_t len = strlen(text);
    const char *d1 = memchr(text, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - text)) : NULL;
    if (len > MAX_TOKEN_LEN || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - text))) {
        *reason = "the token is not a compact JWS (header.payload.signature)";
        return AZ_EINVAL;
    }
    unsigned char *header, *payload;
    long hlen = base64url_decode(a, text, (size_t)(d1 - text), &header);
    long plen = base64url_decode(a, d1 + 1, (size_t)(d2 - d1 - 1), &payload);
    long slen = base64url_decode(a, d2 + 1, len - (size_t)(d2 + 1 - text), &out->signature);
    if (hlen <= 0 || plen <= 0 || slen < 0) {
        *reason = "the token is not valid base64url";
        return AZ_EINVAL;
    }
    out->signature_len = (size_t)slen;
    if (json_parse((char *)header, (size_t)hlen, &out->header, NULL, 0) != 0 ||
        json_type(out->header) != JSON_OBJECT ||
        json_parse((char *)payload, (size_t)plen, &out->payload, NULL, 0) != 0 ||
        json_type(out->payload) != JSON_OBJECT) {
        jwt_release(out);
        *reason = "the token's header or payload is not a JSON object";
        return AZ_EINVAL;
    }
    out->alg = json_string(json_get(out->header, "alg"));
    out->signing_input = text;
    out->signing_input_len = (size_t)(d2 - text);
    return 0;
}

void jwt_release(struct jwt *t)
{
    json_free(t->header);
    json_free(t->payload);
    t->header = t->payload = NULL;
}

int jwt_verify_signature(const struct jwt *t, const struct token_key *key, unsigned allowed,
                         const char **reason)
{
    int padding;
    if (t->alg && strcmp(t->alg, "RS256") == 0 && (allowed & TOKEN_RS256)) {
        padding = RSA_PKCS1_PADDING;
    } else if (t->alg && strcmp(t->alg, "PS256") == 0 && (allowed & TOKEN_PS256)) {
        padding = RSA_PKCS1_PSS_PADDING;
    } else {
        *reason = "the token's signing algorithm is not accepted";
        return AZ_EDENIED;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    bool ok = ctx && EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), NULL, key->pkey) == 1 &&
              EVP_PKEY_CTX_set_rsa_padding(pctx, padding) == 1;
    /* PS256 signers differ in salt length (RFC 7518 says the digest's; Node uses the maximum):
     * let OpenSSL read it from the signature. */
    if (ok && padding == RSA_PKCS1_PSS_PADDING)
        ok = EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) == 1;
    ok = ok && EVP_DigestVerify(ctx, t->signature, t->signature_len,
                                (const unsigned char *)t->signing_input, t->signing_input_len) == 1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    if (!ok) {
        *reason = "the token's signature does not verify";
        return AZ_EDENIED;
    }
    return 0;
}

char *token_sign(const struct token_key *k, const char *payload_json, size_t len)
{
    struct arena *a = arena_new();
    char *header = arena_printf(
        a, "{\"typ\":\"JWT\",\"alg\":\"RS256\",\"x5t\":\"%s\",\"kid\":\"%s\"}", k->kid, k->kid);
    struct buf b = {0};
    buf_puts(&b, base64url_encode(a, header, strlen(header)));
    buf_putc(&b, '.');
    buf_puts(&b, base64url_encode(a, payload_json, len));
    unsigned char sig[512];
    size_t siglen = sizeof(sig);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k->pkey) == 1 &&
              EVP_DigestSign(ctx, sig, &siglen, (unsigned char *)b.data, b.len) == 1;
    EVP_MD_CTX_free(ctx);
    if (ok) {
        buf_putc(&b, '.');
        buf_puts(&b, base64url_encode(a, sig, siglen));
    } else {
        LOG_ERROR("token", "signing failed");
        ERR_clear_error();
        buf_free(&b);
    }
    arena_free(a);
    return b.data;
}

/* ---- the verifier --------------------------------------------------------------------------- */

struct cached_token {
    unsigned char hash[32];
    bool used;
    int64_t nbf;
    char aud[256];
    struct token_principal who;
};

struct token_verifier {
    struct token_source src;
    struct {
        char kid[32];
        struct token_key *key;
    } keys[KEY_CACHE];
    size_t next_key; /* round-robin replacement */
    struct cached_token *tokens;
};

struct token_verifier *token_verifier_new(const struct token_source *src)
{
    struct token_verifier *v = xcalloc(1, sizeof(*v));
    v->src = *src;
    v->tokens = xcalloc(TOKEN_CACHE, sizeof(*v->tokens));
    return v;
}

void token_verifier_free(struct token_verifier *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < KEY_CACHE; i++)
        token_key_free(v->keys[i].key);
    free(v->tokens);
    free(v);
}

static const struct token_key *find_key(struct token_verifier *v, const char *kid)
{
    for (size_t i = 0; i < KEY_CACHE; i++) {
        if (v->keys[i].key && strcmp(v->keys[i].kid, kid) == 0)
            return v->keys[i].key;
    }
    struct token_key *k = NULL;
    if (strlen(kid) >= sizeof(v->keys[0].kid) || v->src.find_key(v->src.arg, kid, &k) != 0)
        return NULL;
    size_t slot = v->next_key++ % KEY_CACHE;
    token_key_free(v->keys[slot].key);
    v->keys[slot].key = k;
    snprintf(v->keys[slot].kid, sizeof(v->keys[slot].kid), "%s", kid);
    return k;
}

static bool audience_accepted(const char *aud, const char *const *audiences, size_t n)
{
    size_t alen = strlen(aud);
    for (size_t i = 0; i < n; i++) {
        size_t blen = strlen(audiences[i]);
        if (strcmp(aud, audiences[i]) == 0)
            return true;
        /* "https://management.azure.com" and ".../" name the same resource. */
        if (alen + 1 == blen && audiences[i][alen] == '/' && strncmp(aud, audiences[i], alen) == 0)
            return true;
        if (blen + 1 == alen && aud[blen] == '/' && strncmp(aud, audiences[i], blen) == 0)
            return true;
    }
    return false;
}

/* Time checks, done for cached tokens too. */
static int check_lifetime(int64_t nbf, int64_t exp, const char **reason)
{
    /* The skew goes on `now`, never on the token's claims: a signed exp of INT64_MAX (or nbf of
     * INT64_MIN) overflowed `exp + skew` (found by tests/fuzz/fuzz_token.c). */
    int64_t now = clock_now_ms() / 1000;
    if (exp < now - TOKEN_SKEW_SECONDS) {
        *reason = "the token has expired";
        return AZ_EDENIED;
    }
    if (nbf > now + TOKEN_SKEW_SECONDS) {
        *reason = "the token is not valid yet";
        return AZ_EDENIED;
    }
    return 0;
}

static void copy_claim(char *dst, size_t n, const struct json *payload, const char *name)
{
    const char *s = json_string(json_get(payload, name));
    snprintf(dst, n, "%s", s ? s : "");
}

static int verify_uncached(struct token_verifier *v, const char *text, struct arena *a,
                           struct cached_token *entry, const char **reason)
{
    struct jwt t;
    int rc = jwt_parse(a, text, &t, reason);
    if (rc != 0)
        return AZ_EDENIED;
    const struct json *p = t.payload;
    const char *kid = json_string(json_get(t.header, "kid"));
    const char *tid = json_string(json_get(p, "tid"));
    const char *iss = json_string(json_get(p, "iss"));
    const char *aud = json_string(json_get(p, "aud"));
    const char *oid = json_string(json_get(p, "oid"));
    const struct token_key *key;
    int64_t exp, nbf;
    rc = AZ_EDENIED;
    if (!t.alg || strcmp(t.alg, "RS256") != 0) {
        *reason = "the token's signing algorithm is not RS256";
    } else if (!kid) {
        *reason = "the token names no signing key (kid)";
    } else if (!(key = find_key(v, kid))) {
        *reason = "the token's signing key (kid) is not one of this directory's keys";
    } else if (jwt_verify_signature(&t, key, TOKEN_RS256, reason) != 0) {
        /* reason set */
    } else if (!tid || !uuid_valid(tid) || !iss) {
        *reason = "the token has no tenant (tid) or issuer (iss)";
    } else if (strlen(iss) != strlen("https://sts.windows.net//") + 36 ||
               strncmp(iss, "https://sts.windows.net/", 24) != 0 ||
               strncasecmp(iss + 24, tid, 36) != 0 || iss[60] != '/') {
        *reason = "the token's issuer is not the token service of its tenant";
    } else if (!v->src.tenant_exists(v->src.arg, tid)) {
        *reason = "the token was issued for a tenant this directory does not have";
    } else if (!aud || strlen(aud) >= sizeof(entry->aud)) {
        *reason = "the token has no audience (aud)";
    } else if (!json_int(json_get(p, "exp"), &exp) || !json_int(json_get(p, "nbf"), &nbf)) {
        *reason = "the token has no lifetime (exp, nbf)";
    } else if (!oid || !uuid_valid(oid)) {
        *reason = "the token names no principal (oid)";
    } else {
        struct token_principal *w = &entry->who;
        memset(w, 0, sizeof(*w));
        copy_claim(w->oid, sizeof(w->oid), p, "oid");
        copy_claim(w->tid, sizeof(w->tid), p, "tid");
        copy_claim(w->appid, sizeof(w->appid), p, "appid");
        copy_claim(w->name, sizeof(w->name), p, "upn");
        const char *idtyp = json_string(json_get(p, "idtyp"));
        w->kind =
            (idtyp && strcmp(idtyp, "user") == 0) || w->name[0] ? TOKEN_KIND_USER : TOKEN_KIND_APP;
        w->exp = exp;
        entry->nbf = nbf;
        snprintf(entry->aud, sizeof(entry->aud), "%s", aud);
        rc = 0;
    }
    jwt_release(&t);
    return rc;
}

int token_verify(struct token_verifier *v, const char *jwt, const char *const *audiences, size_t n,
                 struct token_principal *out, const char **reason)
{
    unsigned char hash[32];
    EVP_Digest(jwt, strlen(jwt), hash, NULL, EVP_sha256(), NULL);
    struct cached_token *slot = &v->tokens[(hash[0] | hash[1] << 8 | hash[2] << 16) % TOKEN_CACHE];
    struct cached_token fresh;
    struct cached_token *entry = slot;
    if (!slot->used || memcmp(slot->hash, hash, sizeof(hash)) != 0) {
        struct arena *a = arena_new();
        int rc = verify_uncached(v, jwt, a, &fresh, reason);
        arena_free(a);
        if (rc != 0)
            return rc;
        memcpy(fresh.hash, hash, sizeof(hash));
        fresh.used = true;
        entry = &fresh;
    }
    /* Lifetime and audience are checked on every use: a cached token still expires, and one
     * service's token is no good at another. */
    if (check_lifetime(entry->nbf, entry->who.exp, reason) != 0)
        return AZ_EDENIED;
    if (!audience_accepted(entry->aud, audiences, n)) {
        *reason = "the token's audience (aud) is not this service";
        return AZ_EDENIED;
    }
    if (entry == &fresh)
        *slot = fresh;
    *out = entry->who;
    return 0;
}
