/*
 * keyvault/keys.c — keys: create (RSA 2048/3072/4096, EC P-256/P-384/P-521/P-256K), import from
 * a JWK, get (latest or a version), update properties, and the cryptographic operations sign,
 * verify, encrypt, decrypt, wrapkey and unwrapkey. Listing, deletion, recovery, purge, backup and
 * restore are collection.c's, for secrets alike.
 *
 * Real key material: each version keeps its private key as PKCS#8 PEM in its stored body, never
 * answered; a KeyBundle shows the public JWK (n/e, or crv/x/y) of that very key, so what a client
 * does locally with it (RSA encryption, verification) and what azsim does with the private half
 * agree. Algorithms as JOSE names them: RS256/384/512 (PKCS#1 v1.5), PS256/384/512 (PSS, salt the
 * digest's length), ES256/384/512/256K (raw r||s, not DER), RSA1_5, RSA-OAEP (SHA-1) and
 * RSA-OAEP-256 (SHA-256, MGF1 SHA-256). An operation must be in the key's key_ops (403
 * KeyOperationForbidden) and the key enabled; encrypt, wrapKey and sign also need it inside its
 * nbf/exp window, as Key Vault still lets an expired key decrypt, unwrap and verify.
 *
 * Each operation is authorized as Key Vault does: the access-policy permission (get, list,
 * create, import, update, delete, recover, backup, restore, purge, sign, verify, encrypt, decrypt,
 * wrapKey, unwrapKey) or the RBAC data action on the key's scope.
 *
 * Not emulated: oct (symmetric) keys and the AES algorithms, HSM protection (-HSM key types are
 * accepted and answered as such, the keys are software keys), release policies and release, key
 * rotation and rotation policies, GET /rng.
 */
#include "keyvault/keyvault.h"

#include "common/error.h"
#include "common/json.h"
#include "common/util.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <stdlib.h>
#include <string.h>

#define KEYS "keys"
#define DEFAULT_RSA_BITS 2048
#define DEFAULT_EXPONENT 65537

/* ---- key types, curves and algorithms ------------------------------------------------------ */

/* Elliptic curves by their JOSE name, OpenSSL group, coordinate size and signing algorithm. */
struct curve {
    const char *crv;
    const char *group;
    size_t bytes;
    const char *alg;
};

static const struct curve curves[] = {
    {"P-256", "prime256v1", 32, "ES256"},
    {"P-384", "secp384r1", 48, "ES384"},
    {"P-521", "secp521r1", 66, "ES512"},
    {"P-256K", "secp256k1", 32, "ES256K"},
};

static const struct curve *curve_by_crv(const char *crv)
{
    for (size_t i = 0; crv && i < ARRAY_SIZE(curves); i++) {
        if (strcmp(curves[i].crv, crv) == 0)
            return &curves[i];
    }
    return NULL;
}

/* The curve of an EC key, or NULL when it is none of Key Vault's. */
static const struct curve *curve_of(EVP_PKEY *k)
{
    char group[64];
    if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) !=
        1)
        return NULL;
    for (size_t i = 0; i < ARRAY_SIZE(curves); i++) {
        if (strcmp(curves[i].group, group) == 0)
            return &curves[i];
    }
    return NULL;
}

enum sig_scheme { SIG_PKCS1, SIG_PSS, SIG_ECDSA };

struct sig_alg {
    const char *alg;
    enum sig_scheme scheme;
    const EVP_MD *(*md)(void);
};

static const struct sig_alg sig_algs[] = {
    {"RS256", SIG_PKCS1, EVP_sha256}, {"RS384", SIG_PKCS1, EVP_sha384},
    {"RS512", SIG_PKCS1, EVP_sha512}, {"PS256", SIG_PSS, EVP_sha256},
    {"PS384", SIG_PSS, EVP_sha384},   {"PS512", SIG_PSS, EVP_sha512},
    {"ES256", SIG_ECDSA, EVP_sha256}, {"ES384", SIG_ECDSA, EVP_sha384},
    {"ES512", SIG_ECDSA, EVP_sha512}, {"ES256K", SIG_ECDSA, EVP_sha256},
};

struct enc_alg {
    const char *alg;
    int padding;
    const EVP_MD *(*md)(void); /* OAEP's digest and MGF1's, or NULL */
};

static const struct enc_alg enc_algs[] = {
    {"RSA1_5", RSA_PKCS1_PADDING, NULL},
    {"RSA-OAEP", RSA_PKCS1_OAEP_PADDING, EVP_sha1},
    {"RSA-OAEP-256", RSA_PKCS1_OAEP_PADDING, EVP_sha256},
};

/* The operations a key may allow (JsonWebKeyOperation). */
static const char *const key_op_names[] = {"encrypt", "decrypt",   "sign",   "verify",
                                           "wrapKey", "unwrapKey", "import", "export"};

static bool is_rsa_kty(const char *kty)
{
    return kty && (strcmp(kty, "RSA") == 0 || strcmp(kty, "RSA-HSM") == 0);
}

static bool is_ec_kty(const char *kty)
{
    return kty && (strcmp(kty, "EC") == 0 || strcmp(kty, "EC-HSM") == 0);
}

/* ---- key material ------------------------------------------------------------------------- */

/* The private key of a stored version, or NULL; the caller frees it. */
static EVP_PKEY *load_key(const struct kv_object *o)
{
    const char *pem = json_string(json_get(o->body, "pem"));
    BIO *b = pem ? BIO_new_mem_buf(pem, -1) : NULL;
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    ERR_clear_error();
    return k;
}

/* The key as unencrypted PKCS#8 PEM, in the request's arena; NULL on failure. */
static const char *pem_of(struct http_request *req, EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    const char *pem = NULL;
    if (b && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 1) {
        char *data;
        long n = BIO_get_mem_data(b, &data);
        pem = arena_strndup(req->arena, data, (size_t)n);
        OPENSSL_cleanse(data, (size_t)n);
    }
    BIO_free(b);
    ERR_clear_error();
    return pem;
}

/* A big number parameter of `k` as base64url: minimal (`pad` 0) or left-padded to `pad` bytes. */
static void write_bn(struct http_request *req, struct json_writer *w, const char *member,
                     EVP_PKEY *k, const char *param, size_t pad)
{
    BIGNUM *bn = NULL;
    if (EVP_PKEY_get_bn_param(k, param, &bn) != 1) {
        ERR_clear_error();
        return;
    }
    size_t n = pad ? pad : (size_t)BN_num_bytes(bn);
    unsigned char *bytes = arena_alloc(req->arena, n + 1);
    if (BN_bn2binpad(bn, bytes, (int)n) >= 0)
        jw_kv_string(w, member, base64url_encode(req->arena, bytes, n));
    BN_free(bn);
}

static const char *kid_of(struct http_request *req, const struct kv_object *o, bool versioned)
{
    const struct vault *v = kv_vault(req);
    return versioned ? arena_printf(req->arena, "%s/keys/%s/%s", v->origin, o->name, o->version)
                     : arena_printf(req->arena, "%s/keys/%s", v->origin, o->name);
}

/* The public JWK of a version: kid, kty, key_ops and n/e or crv/x/y. */
static void write_jwk(struct http_request *req, struct json_writer *w, const struct kv_object *o)
{
    const char *kty = json_string(json_get(o->body, "kty"));
    jw_key(w, "key");
    jw_object_open(w);
    jw_kv_string(w, "kid", kid_of(req, o, true));
    jw_kv_string(w, "kty", kty);
    jw_key(w, "key_ops");
    jw_value(w, json_get(o->body, "key_ops"));
    EVP_PKEY *k = load_key(o);
    const struct curve *c = k && is_ec_kty(kty) ? curve_of(k) : NULL;
    if (k && is_rsa_kty(kty)) {
        write_bn(req, w, "n", k, OSSL_PKEY_PARAM_RSA_N, 0);
        write_bn(req, w, "e", k, OSSL_PKEY_PARAM_RSA_E, 0);
    } else if (c) {
        jw_kv_string(w, "crv", c->crv);
        write_bn(req, w, "x", k, OSSL_PKEY_PARAM_EC_PUB_X, c->bytes);
        write_bn(req, w, "y", k, OSSL_PKEY_PARAM_EC_PUB_Y, c->bytes);
    }
    EVP_PKEY_free(k);
    jw_object_close(w);
}

/* ---- answers ------------------------------------------------------------------------------ */

/* A key's own members: the public JWK in a bundle, only its kid (versionless in the
 * latest-version listings) in a list item. */
static void write_key(struct http_request *req, struct json_writer *w, const struct kv_object *o,
                      enum kv_view view)
{
    if (view == KV_VIEW_FULL || view == KV_VIEW_BUNDLE)
        write_jwk(req, w, o);
    else
        jw_kv_string(w, "kid", kid_of(req, o, view == KV_VIEW_VERSION));
}

const struct kv_collection kv_keys = {
    .name = KEYS,
    .param = "key-name",
    .kind = "Key",
    .noun = "key",
    .not_found = "KeyNotFound",
    .read_action = "read",
    .backup_format = "azsim-key-backup-1",
    .write = write_key,
};

/* A base64url member of the body, decoded (padding tolerated); NULL with a failed request. */
static const unsigned char *body_bytes(struct http_request *req, const struct json *body,
                                       const char *member, size_t *len)
{
    const char *s = json_string(json_get(body, member));
    size_t n = s ? strlen(s) : 0;
    while (n > 0 && s[n - 1] == '=')
        n--;
    unsigned char *out = NULL;
    long got = s ? base64url_decode(req->arena, s, n, &out) : -1;
    if (got < 0) {
        http_fail(req, 400, "BadParameter", "Property '%s' must be a base64url string.", member);
        return NULL;
    }
    *len = (size_t)got;
    return out;
}

/* ---- stored properties -------------------------------------------------------------------- */

static bool valid_key_ops(const struct json *ops)
{
    if (json_type(ops) != JSON_ARRAY)
        return false;
    for (size_t i = 0; i < json_len(ops); i++) {
        const char *op = json_string(json_at(ops, i));
        bool known = false;
        for (size_t j = 0; op && j < ARRAY_SIZE(key_op_names); j++)
            known = known || strcmp(op, key_op_names[j]) == 0;
        if (!known)
            return false;
    }
    return true;
}

/* Are the body's tags and attributes, and the requested key_ops (`ops`, or NULL), well formed?
 * 0 or a failed request (400). Checked before a key is generated, which takes a while. */
static int check_properties(struct http_request *req, const struct json *body,
                            const struct json *ops)
{
    if (kv_check_properties(req, body) != 0)
        return AZ_EREPLIED;
    if (ops && json_type(ops) != JSON_NULL && !valid_key_ops(ops))
        return http_fail(req, 400, "BadParameter",
                         "key_ops must be an array of encrypt, decrypt, sign, verify, wrapKey, "
                         "unwrapKey, import and export.");
    return 0;
}

/*
 * key_ops, tags and attributes, checked, into `w` (an open object): `ops` (the requested
 * key_ops, or NULL) and the body's tags and attributes over `was` (the version's stored members,
 * or NULL), key_ops defaulting to all the key type can do.
 */
static int write_properties(struct http_request *req, struct json_writer *w,
                            const struct json *body, const struct json *ops, const struct json *was,
                            const char *kty)
{
    if (check_properties(req, body, ops) != 0)
        return AZ_EREPLIED;
    jw_key(w, "key_ops");
    if (ops && json_type(ops) == JSON_ARRAY) {
        jw_value(w, ops);
    } else if (json_type(json_get(was, "key_ops")) == JSON_ARRAY) {
        jw_value(w, json_get(was, "key_ops"));
    } else {
        jw_array_open(w);
        if (is_rsa_kty(kty)) {
            jw_string(w, "encrypt");
            jw_string(w, "decrypt");
        }
        jw_string(w, "sign");
        jw_string(w, "verify");
        if (is_rsa_kty(kty)) {
            jw_string(w, "wrapKey");
            jw_string(w, "unwrapKey");
        }
        jw_array_close(w);
    }
    kv_write_properties(req, w, body, was);
    return 0;
}

/* Store a new version of `name` holding `k` and reply with its bundle. */
static int add_version(struct http_request *req, const char *name, const char *kty, EVP_PKEY *k,
                       const struct json *body, const struct json *ops)
{
    const char *pem = pem_of(req, k);
    if (!pem)
        return http_fail(req, 500, "InternalServerError", "The key could not be serialised.");
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_string(w, "kty", kty);
    jw_kv_string(w, "pem", pem);
    int rc = write_properties(req, w, body, ops, NULL, kty);
    jw_object_close(w);
    struct kv_object o = {.name = name};
    if (rc == 0 && kv_object_add(req, KEYS, name, json_writer_text(w, NULL), &o.version) != 0)
        rc = kv_fail_store(req);
    json_writer_free(w);
    if (rc != 0 || kv_object_get(req, KEYS, name, o.version, &o) != 0)
        return rc ? rc : kv_fail_store(req);
    return kv_reply(req, &kv_keys, &o, KV_VIEW_FULL, 0, 0);
}

/* ---- create and import -------------------------------------------------------------------- */

static EVP_PKEY *generate_rsa(int bits, int64_t exponent)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    BIGNUM *e = BN_new();
    EVP_PKEY *k = NULL;
    if (!ctx || !e || BN_set_word(e, (BN_ULONG)exponent) != 1 || EVP_PKEY_keygen_init(ctx) != 1 ||
        EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, bits) != 1 ||
        EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, e) != 1 || EVP_PKEY_generate(ctx, &k) != 1) {
        EVP_PKEY_free(k);
        k = NULL;
    }
    BN_free(e);
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    return k;
}

int kv_create_key(struct http_request *req)
{
    const char *name = kv_name_param(req, &kv_keys);
    if (kv_check_name(req, name) != 0 ||
        kv_authorize(req, KEYS, "create", "create/action", name) != 0)
        return AZ_EREPLIED;
    const struct json *body = kv_body_object(req);
    if (!body)
        return AZ_EREPLIED;
    const char *kty = json_string(json_get(body, "kty"));
    if (check_properties(req, body, json_get(body, "key_ops")) != 0)
        return AZ_EREPLIED;
    if (!is_rsa_kty(kty) && !is_ec_kty(kty))
        return http_fail(req, 400, "BadParameter",
                         "The key type (kty) must be one of RSA, RSA-HSM, EC and EC-HSM%s.",
                         kty && str_has_iprefix(kty, "oct") ? ": oct keys need a Managed HSM" : "");
    EVP_PKEY *k = NULL;
    if (is_rsa_kty(kty)) {
        int64_t bits = DEFAULT_RSA_BITS, exponent = DEFAULT_EXPONENT;
        const struct json *size = json_get(body, "key_size");
        const struct json *pubexp = json_get(body, "public_exponent");
        if ((size && json_type(size) != JSON_NULL && !json_int(size, &bits)) ||
            (bits != 2048 && bits != 3072 && bits != 4096))
            return http_fail(req, 400, "BadParameter",
                             "RSA key size (key_size) must be 2048, 3072 or 4096.");
        if ((pubexp && json_type(pubexp) != JSON_NULL && !json_int(pubexp, &exponent)) ||
            (exponent != 3 && exponent != 65537))
            return http_fail(req, 400, "BadParameter",
                             "The public exponent (public_exponent) must be 3 or 65537.");
        if (json_string(json_get(body, "crv")))
            return http_fail(req, 400, "BadParameter", "An RSA key has no curve (crv).");
        if (kv_refuse_deleted(req, &kv_keys, name) != 0)
            return AZ_EREPLIED;
        k = generate_rsa((int)bits, exponent);
    } else {
        const char *crv = json_string(json_get(body, "crv"));
        const struct curve *c = crv ? curve_by_crv(crv) : &curves[0];
        if (!c)
            return http_fail(req, 400, "BadParameter",
                             "The curve (crv) must be one of P-256, P-384, P-521 and P-256K.");
        if (kv_refuse_deleted(req, &kv_keys, name) != 0)
            return AZ_EREPLIED;
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", c->group);
        ERR_clear_error();
    }
    if (!k)
        return http_fail(req, 500, "InternalServerError", "The key could not be generated.");
    int rc = add_version(req, name, kty, k, body, json_get(body, "key_ops"));
    EVP_PKEY_free(k);
    return rc;
}

/* A JWK member as a big number; NULL when absent or not base64url. The caller frees it. */
static BIGNUM *jwk_bn(struct http_request *req, const struct json *jwk, const char *member,
                      size_t *len)
{
    const char *s = json_string(json_get(jwk, member));
    size_t n = s ? strlen(s) : 0;
    while (n > 0 && s[n - 1] == '=')
        n--;
    unsigned char *bytes = NULL;
    long got = s ? base64url_decode(req->arena, s, n, &bytes) : -1;
    if (got <= 0)
        return NULL;
    if (len)
        *len = (size_t)got;
    return BN_bin2bn(bytes, (int)got, NULL);
}

/* The private key a JWK describes, checked (the halves must belong together); NULL when it is
 * not a complete, valid RSA (n, e, d and the CRT members) or EC (crv, x, y, d) private key. */
static EVP_PKEY *key_from_jwk(struct http_request *req, const struct json *jwk, const char *kty)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *bns[8] = {0};
    unsigned char *point = NULL;
    const char *type = is_rsa_kty(kty) ? "RSA" : "EC";
    bool ok = bld != NULL;
    if (ok && is_rsa_kty(kty)) {
        static const char *const members[] = {"n", "e", "d", "p", "q", "dp", "dq", "qi"};
        static const char *const params[] = {
            OSSL_PKEY_PARAM_RSA_N,         OSSL_PKEY_PARAM_RSA_E,
            OSSL_PKEY_PARAM_RSA_D,         OSSL_PKEY_PARAM_RSA_FACTOR1,
            OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
            OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
        };
        for (size_t i = 0; ok && i < ARRAY_SIZE(members); i++) {
            bns[i] = jwk_bn(req, jwk, members[i], NULL);
            ok = bns[i] && OSSL_PARAM_BLD_push_BN(bld, params[i], bns[i]) == 1;
        }
        ok = ok && BN_num_bits(bns[0]) >= 2048 && BN_num_bits(bns[0]) <= 4096;
    } else if (ok) {
        const struct curve *c = curve_by_crv(json_string(json_get(jwk, "crv")));
        size_t xlen = 0, ylen = 0;
        BIGNUM *x = jwk_bn(req, jwk, "x", &xlen), *y = jwk_bn(req, jwk, "y", &ylen);
        bns[0] = x;
        bns[1] = y;
        bns[2] = jwk_bn(req, jwk, "d", NULL);
        ok = c && x && y && bns[2] && xlen <= c->bytes && ylen <= c->bytes;
        if (ok) {
            /* The public point, uncompressed: 04 || x || y. */
            point = arena_alloc(req->arena, 1 + 2 * c->bytes);
            point[0] = 4;
            ok = BN_bn2binpad(x, point + 1, (int)c->bytes) >= 0 &&
                 BN_bn2binpad(y, point + 1 + c->bytes, (int)c->bytes) >= 0 &&
                 OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, c->group, 0) ==
                     1 &&
                 OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point,
                                                  1 + 2 * c->bytes) == 1 &&
                 OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, bns[2]) == 1;
        }
    }
    OSSL_PARAM *params = ok ? OSSL_PARAM_BLD_to_param(bld) : NULL;
    EVP_PKEY_CTX *ctx = params ? EVP_PKEY_CTX_new_from_name(NULL, type, NULL) : NULL;
    EVP_PKEY *k = NULL;
    if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_KEYPAIR, params) != 1) {
        EVP_PKEY_free(k);
        k = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    /* Do the private and public halves belong together? */
    EVP_PKEY_CTX *check = k ? EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL) : NULL;
    if (k && (!check || EVP_PKEY_check(check) != 1)) {
        EVP_PKEY_free(k);
        k = NULL;
    }
    EVP_PKEY_CTX_free(check);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    for (size_t i = 0; i < ARRAY_SIZE(bns); i++)
        BN_clear_free(bns[i]);
    ERR_clear_error();
    return k;
}

int kv_import_key(struct http_request *req)
{
    const char *name = kv_name_param(req, &kv_keys);
    if (kv_check_name(req, name) != 0 ||
        kv_authorize(req, KEYS, "import", "import/action", name) != 0)
        return AZ_EREPLIED;
    const struct json *body = kv_body_object(req);
    if (!body)
        return AZ_EREPLIED;
    const struct json *jwk = json_get(body, "key");
    const char *kty = json_string(json_get(jwk, "kty"));
    bool hsm = false;
    if (json_get(body, "hsm") && !json_bool(json_get(body, "hsm"), &hsm))
        return http_fail(req, 400, "BadParameter", "hsm must be a boolean.");
    if (json_type(jwk) != JSON_OBJECT || (!is_rsa_kty(kty) && !is_ec_kty(kty)))
        return http_fail(req, 400, "BadParameter",
                         "The key (a JSON web key) is required, with kty RSA, RSA-HSM, EC or "
                         "EC-HSM.");
    if (check_properties(req, body, json_get(jwk, "key_ops")) != 0 ||
        kv_refuse_deleted(req, &kv_keys, name) != 0)
        return AZ_EREPLIED;
    EVP_PKEY *k = key_from_jwk(req, jwk, kty);
    if (!k)
        return http_fail(
            req, 400, "BadParameter",
            "The key is not a valid private key: an RSA key of 2048 to 4096 bits needs "
            "n, e, d, p, q, dp, dq and qi; an EC key crv (P-256, P-384, P-521, "
            "P-256K), x, y and d.");
    const char *stored = kty;
    if (hsm && !str_has_isuffix(kty, "-HSM"))
        stored = arena_printf(req->arena, "%s-HSM", kty);
    int rc = add_version(req, name, stored, k, body, json_get(jwk, "key_ops"));
    EVP_PKEY_free(k);
    return rc;
}

/* ---- get, update, list -------------------------------------------------------------------- */

/* The version the route names (the latest when none), or a failed request. */
static int find_key(struct http_request *req, const char *name, struct kv_object *o)
{
    int rc = kv_object_get(req, KEYS, name, http_param(req, "key-version"), o);
    if (rc == AZ_ENOTFOUND)
        return kv_fail_not_found(req, &kv_keys, name, false);
    return rc == 0 ? 0 : kv_fail_store(req);
}

/* A disabled key can still be got: only its cryptographic use is refused. */
int kv_get_key(struct http_request *req)
{
    const char *name = kv_name_param(req, &kv_keys);
    if (kv_check_name(req, name) != 0 || kv_authorize(req, KEYS, "get", "read", name) != 0)
        return AZ_EREPLIED;
    struct kv_object o;
    if (find_key(req, name, &o) != 0)
        return AZ_EREPLIED;
    return kv_reply(req, &kv_keys, &o, KV_VIEW_FULL, 0, 0);
}

int kv_update_key(struct http_request *req)
{
    const char *name = kv_name_param(req, &kv_keys);
    if (kv_check_name(req, name) != 0 ||
        kv_authorize(req, KEYS, "update", "update/action", name) != 0)
        return AZ_EREPLIED;
    const struct json *body = kv_body_object(req);
    if (!body)
        return AZ_EREPLIED;
    struct kv_object o;
    if (find_key(req, name, &o) != 0)
        return AZ_EREPLIED;
    const char *kty = json_string(json_get(o.body, "kty"));
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_string(w, "kty", kty);
    jw_kv_string(w, "pem", json_string(json_get(o.body, "pem")));
    int rc = write_properties(req, w, body, json_get(body, "key_ops"), o.body, kty);
    jw_object_close(w);
    if (rc == 0 && kv_object_replace(req, KEYS, name, o.version, json_writer_text(w, NULL)) != 0)
        rc = kv_fail_store(req);
    json_writer_free(w);
    if (rc != 0 || kv_object_get(req, KEYS, name, o.version, &o) != 0)
        return rc ? rc : kv_fail_store(req);
    return kv_reply(req, &kv_keys, &o, KV_VIEW_FULL, 0, 0);
}

/* ---- cryptographic operations ------------------------------------------------------------- */

enum key_op { OP_SIGN, OP_VERIFY, OP_ENCRYPT, OP_DECRYPT, OP_WRAP, OP_UNWRAP };

/* Each operation's key_ops name (also the access-policy permission) and RBAC data action. */
static const struct {
    const char *name;
    const char *action;
} key_ops[] = {
    [OP_SIGN] = {"sign", "sign/action"},          [OP_VERIFY] = {"verify", "verify/action"},
    [OP_ENCRYPT] = {"encrypt", "encrypt/action"}, [OP_DECRYPT] = {"decrypt", "decrypt/action"},
    [OP_WRAP] = {"wrapKey", "wrap/action"},       [OP_UNWRAP] = {"unwrapKey", "unwrap/action"},
};

/* May version `o` do `op` now? Its key_ops must name it and it must be enabled; encrypt, wrapKey
 * and sign also need it inside its nbf/exp window. 0 or a failed request (403). */
static int check_usable(struct http_request *req, const struct kv_object *o, enum key_op op)
{
    const char *what = key_ops[op].name;
    const struct json *ops = json_get(o->body, "key_ops");
    bool listed = false;
    for (size_t i = 0; i < json_len(ops); i++)
        listed = listed || str_ieq(json_string(json_at(ops, i)), what);
    if (!listed)
        return kv_fail_inner(req, 403, "Forbidden", "KeyOperationForbidden",
                             "Operation %s is not permitted on this key.", what);
    const struct json *a = json_get(o->body, "attributes");
    bool enabled = true;
    int64_t nbf, exp, now = clock_now_ms() / 1000;
    json_bool(json_get(a, "enabled"), &enabled);
    if (!enabled)
        return kv_fail_inner(req, 403, "Forbidden", "KeyDisabled",
                             "Operation %s is not allowed on a disabled key.", what);
    if (op != OP_SIGN && op != OP_ENCRYPT && op != OP_WRAP)
        return 0;
    if (json_int(json_get(a, "nbf"), &nbf) && now < nbf)
        return kv_fail_inner(req, 403, "Forbidden", "KeyNotYetValid",
                             "Operation %s is not allowed on a key that is not yet valid.", what);
    if (json_int(json_get(a, "exp"), &exp) && now >= exp)
        return kv_fail_inner(req, 403, "Forbidden", "KeyExpired",
                             "Operation %s is not allowed on an expired key.", what);
    return 0;
}

static const struct sig_alg *sig_alg_by_name(const char *alg)
{
    for (size_t i = 0; alg && i < ARRAY_SIZE(sig_algs); i++) {
        if (strcmp(sig_algs[i].alg, alg) == 0)
            return &sig_algs[i];
    }
    return NULL;
}

static const struct enc_alg *enc_alg_by_name(const char *alg)
{
    for (size_t i = 0; alg && i < ARRAY_SIZE(enc_algs); i++) {
        if (strcmp(enc_algs[i].alg, alg) == 0)
            return &enc_algs[i];
    }
    return NULL;
}

/* A context for signing or verifying with `a`: padding, digest and PSS salt as JOSE fixes them. */
static EVP_PKEY_CTX *sig_context(EVP_PKEY *k, const struct sig_alg *a, bool sign)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
    bool ok = ctx && (sign ? EVP_PKEY_sign_init(ctx) : EVP_PKEY_verify_init(ctx)) == 1 &&
              EVP_PKEY_CTX_set_signature_md(ctx, a->md()) == 1;
    if (ok && a->scheme != SIG_ECDSA)
        ok = EVP_PKEY_CTX_set_rsa_padding(ctx, a->scheme == SIG_PSS ? RSA_PKCS1_PSS_PADDING
                                                                    : RSA_PKCS1_PADDING) == 1;
    if (ok && a->scheme == SIG_PSS)
        ok = EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, a->md()) == 1;
    if (!ok) {
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* Sign `digest`; an ECDSA signature comes back as JOSE's r||s, each `c->bytes` long. */
static unsigned char *sign_digest(struct http_request *req, EVP_PKEY *k, const struct sig_alg *a,
                                  const struct curve *c, const unsigned char *digest, size_t dlen,
                                  size_t *siglen)
{
    EVP_PKEY_CTX *ctx = sig_context(k, a, true);
    size_t n = 0;
    unsigned char *sig = NULL;
    if (ctx && EVP_PKEY_sign(ctx, NULL, &n, digest, dlen) == 1) {
        sig = arena_alloc(req->arena, n);
        if (EVP_PKEY_sign(ctx, sig, &n, digest, dlen) != 1)
            sig = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    if (sig && a->scheme == SIG_ECDSA) {
        const unsigned char *p = sig;
        ECDSA_SIG *der = d2i_ECDSA_SIG(NULL, &p, (long)n);
        unsigned char *raw = arena_alloc(req->arena, 2 * c->bytes);
        const BIGNUM *r = NULL, *s = NULL;
        if (der)
            ECDSA_SIG_get0(der, &r, &s);
        bool ok = der && BN_bn2binpad(r, raw, (int)c->bytes) >= 0 &&
                  BN_bn2binpad(s, raw + c->bytes, (int)c->bytes) >= 0;
        ECDSA_SIG_free(der);
        sig = ok ? raw : NULL;
        n = 2 * c->bytes;
    }
    ERR_clear_error();
    *siglen = n;
    return sig;
}

/* Does `sig` (r||s for ECDSA) sign `digest`? */
static bool verify_digest(EVP_PKEY *k, const struct sig_alg *a, const struct curve *c,
                          const unsigned char *digest, size_t dlen, const unsigned char *sig,
                          size_t siglen)
{
    unsigned char *der = NULL;
    if (a->scheme == SIG_ECDSA) {
        if (siglen != 2 * c->bytes)
            return false;
        ECDSA_SIG *es = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(sig, (int)c->bytes, NULL);
        BIGNUM *s = BN_bin2bn(sig + c->bytes, (int)c->bytes, NULL);
        int len = -1;
        if (es && r && s && ECDSA_SIG_set0(es, r, s) == 1) {
            r = s = NULL; /* the signature owns them now */
            len = i2d_ECDSA_SIG(es, &der);
        }
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        if (len <= 0) {
            ERR_clear_error();
            return false;
        }
        sig = der;
        siglen = (size_t)len;
    }
    EVP_PKEY_CTX *ctx = sig_context(k, a, false);
    bool ok = ctx && EVP_PKEY_verify(ctx, sig, siglen, digest, dlen) == 1;
    EVP_PKEY_CTX_free(ctx);
    OPENSSL_free(der);
    ERR_clear_error();
    return ok;
}

/* Encrypt or decrypt `in` with RSA and `a`'s padding; NULL when it cannot be done. */
static unsigned char *rsa_crypt(struct http_request *req, EVP_PKEY *k, const struct enc_alg *a,
                                bool encrypt, const unsigned char *in, size_t inlen, size_t *outlen)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
    bool ok = ctx && (encrypt ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx)) == 1 &&
              EVP_PKEY_CTX_set_rsa_padding(ctx, a->padding) == 1;
    if (ok && a->md)
        ok = EVP_PKEY_CTX_set_rsa_oaep_md(ctx, a->md()) == 1 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, a->md()) == 1;
    size_t n = 0;
    unsigned char *out = NULL;
    if (ok && (encrypt ? EVP_PKEY_encrypt(ctx, NULL, &n, in, inlen)
                       : EVP_PKEY_decrypt(ctx, NULL, &n, in, inlen)) == 1) {
        out = arena_alloc(req->arena, n + 1);
        if ((encrypt ? EVP_PKEY_encrypt(ctx, out, &n, in, inlen)
                     : EVP_PKEY_decrypt(ctx, out, &n, in, inlen)) != 1)
            out = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    *outlen = n;
    return out;
}

/* Reply {"kid", "value"} or, for verify, {"value": true|false}. */
static int reply_result(struct http_request *req, const struct kv_object *o,
                        const unsigned char *value, size_t len, int verified)
{
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    if (verified >= 0) {
        jw_kv_bool(w, "value", verified == 1);
    } else {
        jw_kv_string(w, "kid", kid_of(req, o, true));
        jw_kv_string(w, "value", base64url_encode(req->arena, value, len));
    }
    jw_object_close(w);
    http_reply_json(req, 200, w);
    json_writer_free(w);
    return 0;
}

/* Sign or verify: the algorithm must suit the key (ES* its curve) and the digest its hash. */
static int signature_op(struct http_request *req, const struct kv_object *o, EVP_PKEY *k,
                        const struct json *body, bool sign)
{
    const char *alg = json_string(json_get(body, "alg"));
    const struct sig_alg *a = sig_alg_by_name(alg);
    const char *kty = json_string(json_get(o->body, "kty"));
    const struct curve *c = is_ec_kty(kty) ? curve_of(k) : NULL;
    if (!a)
        return http_fail(req, 400, "BadParameter",
                         "Invalid algorithm (alg) '%s': one of RS256, RS384, RS512, PS256, PS384, "
                         "PS512, ES256, ES384, ES512 and ES256K.",
                         alg ? alg : "");
    if ((a->scheme == SIG_ECDSA) != (c != NULL) || (c && strcmp(c->alg, a->alg) != 0))
        return http_fail(req, 400, "BadParameter",
                         "Key and signing algorithm %s are not compatible.", a->alg);
    size_t dlen, siglen = 0;
    const unsigned char *digest = body_bytes(req, body, sign ? "value" : "digest", &dlen);
    const unsigned char *sig = sign ? NULL : body_bytes(req, body, "value", &siglen);
    if (!digest || (!sign && !sig))
        return AZ_EREPLIED;
    if (dlen != (size_t)EVP_MD_get_size(a->md()))
        return http_fail(req, 400, "BadParameter",
                         "Invalid digest: %s needs a digest of %d bytes, not %zu.", a->alg,
                         EVP_MD_get_size(a->md()), dlen);
    if (!sign)
        return reply_result(req, o, NULL, 0, verify_digest(k, a, c, digest, dlen, sig, siglen));
    unsigned char *out = sign_digest(req, k, a, c, digest, dlen, &siglen);
    if (!out)
        return http_fail(req, 500, "InternalServerError", "The digest could not be signed.");
    return reply_result(req, o, out, siglen, -1);
}

/* Encrypt, decrypt, wrap or unwrap with an RSA key. */
static int cipher_op(struct http_request *req, const struct kv_object *o, EVP_PKEY *k,
                     const struct json *body, bool encrypt)
{
    const char *alg = json_string(json_get(body, "alg"));
    const struct enc_alg *a = enc_alg_by_name(alg);
    if (!a)
        return http_fail(req, 400, "BadParameter",
                         "Invalid algorithm (alg) '%s': one of RSA1_5, RSA-OAEP and RSA-OAEP-256.",
                         alg ? alg : "");
    if (!is_rsa_kty(json_string(json_get(o->body, "kty"))))
        return http_fail(req, 400, "BadParameter", "Key and algorithm %s are not compatible.",
                         a->alg);
    size_t inlen, outlen;
    const unsigned char *in = body_bytes(req, body, "value", &inlen);
    if (!in)
        return AZ_EREPLIED;
    unsigned char *out = rsa_crypt(req, k, a, encrypt, in, inlen, &outlen);
    if (!out)
        return http_fail(req, 400, "BadParameter",
                         encrypt ? "The value is too long for the key and algorithm %s."
                                 : "The value could not be decrypted with the key and algorithm "
                                   "%s.",
                         a->alg);
    int rc = reply_result(req, o, out, outlen, -1);
    if (!encrypt)
        OPENSSL_cleanse(out, outlen);
    return rc;
}

static int key_operation(struct http_request *req, enum key_op op)
{
    const char *name = kv_name_param(req, &kv_keys);
    if (kv_check_name(req, name) != 0 ||
        kv_authorize(req, KEYS, key_ops[op].name, key_ops[op].action, name) != 0)
        return AZ_EREPLIED;
    const struct json *body = kv_body_object(req);
    if (!body)
        return AZ_EREPLIED;
    struct kv_object o;
    if (find_key(req, name, &o) != 0 || check_usable(req, &o, op) != 0)
        return AZ_EREPLIED;
    EVP_PKEY *k = load_key(&o);
    if (!k)
        return http_fail(req, 500, "InternalServerError", "The key's material is unreadable.");
    int rc;
    switch (op) {
    case OP_SIGN:
    case OP_VERIFY: rc = signature_op(req, &o, k, body, op == OP_SIGN); break;
    default: rc = cipher_op(req, &o, k, body, op == OP_ENCRYPT || op == OP_WRAP); break;
    }
    EVP_PKEY_free(k);
    return rc;
}

int kv_sign(struct http_request *req)
{
    return key_operation(req, OP_SIGN);
}

int kv_verify(struct http_request *req)
{
    return key_operation(req, OP_VERIFY);
}

int kv_encrypt(struct http_request *req)
{
    return key_operation(req, OP_ENCRYPT);
}

int kv_decrypt(struct http_request *req)
{
    return key_operation(req, OP_DECRYPT);
}

int kv_wrap_key(struct http_request *req)
{
    return key_operation(req, OP_WRAP);
}

int kv_unwrap_key(struct http_request *req)
{
    return key_operation(req, OP_UNWRAP);
}
