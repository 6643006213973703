/*
 * tls.c — see tls.h. OpenSSL 3 EVP and X509 APIs only (the RSA_* ones are deprecated).
 */
#include "tls.h"

#include "error.h"
#include "log.h"
#include "mem.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CA_DAYS 3650
#define LEAF_DAYS 365
#define RENEW_BEFORE_DAYS 30

/* One server certificate: a file stem and the names it covers. The first entry is the default
 * for connections without SNI. */
struct leaf_spec {
    const char *stem;
    const char *names[8];
};

static const struct leaf_spec leaf_specs[] = {
    {"localhost", {"localhost", "127.0.0.1", "::1"}},
    {"login",
     {"login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"}},
    {"management", {"management.azure.com", "management.core.windows.net"}},
    {"graph", {"graph.microsoft.com", "graph.windows.net"}},
    {"vault", {"*.vault.azure.net", "vault.azure.net"}},
    {"blob", {"*.blob.core.windows.net"}},
    /* az vm create fetches its image alias list from here (contracts/azure-cli.md). */
    {"github", {"raw.githubusercontent.com"}},
};
#define NLEAVES ARRAY_SIZE(leaf_specs)

struct leaf {
    X509 *cert;
    EVP_PKEY *key;
};

struct tls {
    char *dir;
    char *ca_path;
    char *ca_pem;
    X509 *ca_cert;
    EVP_PKEY *ca_key;
    struct leaf leaves[NLEAVES];
    SSL_CTX *ctx;
};

static int tls_error(const char *what)
{
    char buf[256];
    unsigned long e = ERR_get_error();
    ERR_error_string_n(e, buf, sizeof(buf));
    LOG_ERROR("tls", "%s: %s", what, e ? buf : "failed");
    ERR_clear_error();
    return AZ_ETLS;
}

bool tls_name_matches(const char *pattern, const char *host)
{
    if (pattern[0] == '*' && pattern[1] == '.') {
        /* One whole label, as RFC 6125 wildcards allow: "a.vault.azure.net", not "a.b.…". */
        const char *dot = strchr(host, '.');
        return dot && dot != host && str_ieq(dot + 1, pattern + 2);
    }
    return str_ieq(pattern, host);
}

static bool is_ip_literal(const char *name)
{
    return strchr(name, ':') || strspn(name, "0123456789.") == strlen(name);
}

/* ---- files ---------------------------------------------------------------------------------- */

static char *pem_of_cert(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *out = xstrndup(data, (size_t)n);
    BIO_free(b);
    return out;
}

static char *pem_of_key(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *out = xstrndup(data, (size_t)n);
    BIO_free(b);
    return out;
}

static int save_pair(const char *dir, const char *stem, X509 *cert, EVP_PKEY *key)
{
    char *cert_path = xasprintf("%s/%s.pem", dir, stem);
    char *key_path = xasprintf("%s/%s.key", dir, stem);
    char *cert_pem = pem_of_cert(cert);
    char *key_pem = pem_of_key(key);
    /* Key first: a cert on disk always has its key beside it. */
    int rc = file_write_atomic(key_path, key_pem, strlen(key_pem), 0600);
    if (rc == 0)
        rc = file_write_atomic(cert_path, cert_pem, strlen(cert_pem), 0644);
    OPENSSL_cleanse(key_pem, strlen(key_pem));
    free(key_pem);
    free(cert_pem);
    free(cert_path);
    free(key_path);
    return rc;
}

/* Load <dir>/<stem>.pem and .key; returns AZ_ENOTFOUND when either is missing. */
static int load_pair(const char *dir, const char *stem, X509 **cert, EVP_PKEY **key)
{
    char *cert_path = xasprintf("%s/%s.pem", dir, stem);
    char *key_path = xasprintf("%s/%s.key", dir, stem);
    int rc = AZ_ENOTFOUND;
    *cert = NULL;
    *key = NULL;
    FILE *cf = fopen(cert_path, "r");
    FILE *kf = fopen(key_path, "r");
    if (cf && kf) {
        *cert = PEM_read_X509(cf, NULL, NULL, NULL);
        *key = PEM_read_PrivateKey(kf, NULL, NULL, NULL);
        rc = *cert && *key && X509_check_private_key(*cert, *key) == 1 ? 0 : AZ_ETLS;
        if (rc != 0) {
            LOG_WARN("tls", "%s is unreadable or does not match its key; issuing it again",
                     cert_path);
            X509_free(*cert);
            EVP_PKEY_free(*key);
            *cert = NULL;
            *key = NULL;
            ERR_clear_error();
        }
    }
    if (cf)
        fclose(cf);
    if (kf)
        fclose(kf);
    free(cert_path);
    free(key_path);
    return rc;
}

/* ---- issuing -------------------------------------------------------------------------------- */

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return tls_error("certificate extension");
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : tls_error("add extension");
}

/*
 * Issue a certificate for `key` with common name `cn`. With issuer == NULL it is self-signed
 * (the CA). `san` is an OpenSSL subjectAltName string or NULL.
 */
static X509 *issue(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, int days,
                   bool is_ca, const char *san)
{
    X509 *x = X509_new();
    unsigned char serial[16];
    random_bytes(serial, sizeof(serial));
    serial[0] &= 0x7f; /* serials are positive */
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    bool ok = x && bn && X509_set_version(x, 2) &&
              BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) &&
              X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
              X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400) && X509_set_pubkey(x, key);
    BN_free(bn);
    X509_NAME *name = X509_get_subject_name(x);
    ok = ok &&
         X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"azsim", -1, -1,
                                    0) &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                    0) &&
         X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509 *issuer_cert = issuer ? issuer : x;
    if (ok && is_ca) {
        ok = add_ext(x, issuer_cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") == 0 &&
             add_ext(x, issuer_cert, NID_key_usage, "critical,keyCertSign,cRLSign") == 0 &&
             add_ext(x, issuer_cert, NID_subject_key_identifier, "hash") == 0;
    } else if (ok) {
        ok = add_ext(x, issuer_cert, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
             add_ext(x, issuer_cert, NID_key_usage, "critical,digitalSignature") == 0 &&
             add_ext(x, issuer_cert, NID_ext_key_usage, "serverAuth") == 0 &&
             add_ext(x, issuer_cert, NID_subject_key_identifier, "hash") == 0 &&
             add_ext(x, issuer_cert, NID_authority_key_identifier, "keyid:always") == 0 &&
             add_ext(x, issuer_cert, NID_subject_alt_name, san) == 0;
    }
    if (!ok || !X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256())) {
        tls_error("issuing a certificate");
        X509_free(x);
        return NULL;
    }
    return x;
}

static EVP_PKEY *new_key(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    if (!k)
        tls_error("generating a P-256 key");
    return k;
}

static char *san_string(const struct leaf_spec *spec)
{
    struct buf b = {0};
    for (size_t i = 0; i < ARRAY_SIZE(spec->names) && spec->names[i]; i++)
        buf_printf(&b, "%s%s:%s", b.len ? "," : "", is_ip_literal(spec->names[i]) ? "IP" : "DNS",
                   spec->names[i]);
    return b.data;
}

/* A server certificate is reusable when this CA signed it, it is not close to expiry, and it
 * covers every name the spec lists. */
static bool leaf_usable(const struct tls *t, const struct leaf_spec *spec, X509 *cert)
{
    EVP_PKEY *ca_pub = X509_get0_pubkey(t->ca_cert);
    if (X509_verify(cert, ca_pub) != 1) {
        ERR_clear_error();
        return false;
    }
    if (X509_cmp_time(X509_get0_notAfter(cert), NULL) <= 0)
        return false;
    time_t soon = time(NULL) + (time_t)RENEW_BEFORE_DAYS * 86400;
    if (X509_cmp_time(X509_get0_notAfter(cert), &soon) <= 0)
        return false;
    for (size_t i = 0; i < ARRAY_SIZE(spec->names) && spec->names[i]; i++) {
        const char *n = spec->names[i];
        int ok;
        if (is_ip_literal(n)) {
            ok = X509_check_ip_asc(cert, n, 0);
        } else if (n[0] == '*') {
            char *probe = xasprintf("azsim-check%s", n + 1);
            ok = X509_check_host(cert, probe, 0, 0, NULL);
            free(probe);
        } else {
            ok = X509_check_host(cert, n, 0, X509_CHECK_FLAG_NO_WILDCARDS, NULL);
        }
        if (ok != 1)
            return false;
    }
    return true;
}

static int load_or_create_ca(struct tls *t)
{
    int rc = load_pair(t->dir, "ca", &t->ca_cert, &t->ca_key);
    if (rc == 0)
        return 0;
    LOG_INFO("tls", "creating a local certificate authority in %s", t->dir);
    char id[37], cn[64];
    uuid_v4(id);
    snprintf(cn, sizeof(cn), "azsim local CA %.8s", id);
    t->ca_key = new_key();
    if (!t->ca_key)
        return AZ_ETLS;
    t->ca_cert = issue(t->ca_key, cn, NULL, NULL, CA_DAYS, true, NULL);
    if (!t->ca_cert)
        return AZ_ETLS;
    return save_pair(t->dir, "ca", t->ca_cert, t->ca_key);
}

static int load_or_create_leaf(struct tls *t, size_t i)
{
    const struct leaf_spec *spec = &leaf_specs[i];
    struct leaf *l = &t->leaves[i];
    if (load_pair(t->dir, spec->stem, &l->cert, &l->key) == 0 && leaf_usable(t, spec, l->cert))
        return 0;
    X509_free(l->cert);
    EVP_PKEY_free(l->key);
    LOG_INFO("tls", "issuing the server certificate for %s", spec->names[0]);
    char *san = san_string(spec);
    l->key = new_key();
    l->cert =
        l->key ? issue(l->key, spec->names[0], t->ca_cert, t->ca_key, LEAF_DAYS, false, san) : NULL;
    free(san);
    if (!l->cert)
        return AZ_ETLS;
    return save_pair(t->dir, spec->stem, l->cert, l->key);
}

/* ---- the server context --------------------------------------------------------------------- */

static int use_leaf(SSL *ssl, const struct leaf *l)
{
    return SSL_use_certificate(ssl, l->cert) == 1 && SSL_use_PrivateKey(ssl, l->key) == 1;
}

static int on_servername(SSL *ssl, int *alert, void *arg)
{
    (void)alert;
    const struct tls *t = arg;
    const char *host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!host)
        return SSL_TLSEXT_ERR_NOACK;
    for (size_t i = 0; i < NLEAVES; i++) {
        for (size_t k = 0; k < ARRAY_SIZE(leaf_specs[i].names) && leaf_specs[i].names[k]; k++) {
            if (tls_name_matches(leaf_specs[i].names[k], host))
                return use_leaf(ssl, &t->leaves[i]) ? SSL_TLSEXT_ERR_OK
                                                    : SSL_TLSEXT_ERR_ALERT_FATAL;
        }
    }
    /* Not a name azsim serves: keep the default certificate; the client's check will refuse it,
     * exactly as it should. */
    return SSL_TLSEXT_ERR_NOACK;
}

static int make_server_ctx(struct tls *t)
{
    t->ctx = SSL_CTX_new(TLS_server_method());
    if (!t->ctx)
        return tls_error("SSL_CTX_new");
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(t->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate(t->ctx, t->leaves[0].cert) != 1 ||
        SSL_CTX_use_PrivateKey(t->ctx, t->leaves[0].key) != 1)
        return tls_error("loading the default certificate");
    SSL_CTX_set_tlsext_servername_callback(t->ctx, on_servername);
    SSL_CTX_set_tlsext_servername_arg(t->ctx, t);
    return 0;
}

int tls_load_or_create(const char *tls_dir, struct tls **out)
{
    *out = NULL;
    struct tls *t = xcalloc(1, sizeof(*t));
    t->dir = xstrdup(tls_dir);
    t->ca_path = xasprintf("%s/ca.pem", tls_dir);
    int rc = 0;
    if (mkdir(tls_dir, 0700) != 0 && errno != EEXIST) {
        LOG_ERROR("tls", "cannot create %s: %s", tls_dir, strerror(errno));
        rc = AZ_EIO;
        goto out;
    }
    if ((rc = load_or_create_ca(t)) != 0)
        goto out;
    for (size_t i = 0; i < NLEAVES; i++) {
        if ((rc = load_or_create_leaf(t, i)) != 0)
            goto out;
    }
    t->ca_pem = pem_of_cert(t->ca_cert);
    rc = make_server_ctx(t);
out:
    if (rc != 0) {
        tls_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void tls_free(struct tls *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->ctx);
    for (size_t i = 0; i < NLEAVES; i++) {
        X509_free(t->leaves[i].cert);
        EVP_PKEY_free(t->leaves[i].key);
    }
    X509_free(t->ca_cert);
    EVP_PKEY_free(t->ca_key);
    free(t->ca_pem);
    free(t->ca_path);
    free(t->dir);
    free(t);
}

const char *tls_ca_path(const struct tls *t)
{
    return t->ca_path;
}

const char *tls_ca_pem(const struct tls *t)
{
    return t->ca_pem;
}

struct ssl_ctx_st *tls_server_ctx(const struct tls *t)
{
    return t->ctx;
}
