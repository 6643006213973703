/*
 * aad/bootstrap.c — what azsim's directory holds from its first start: a tenant, an admin
 * application with a client secret, an admin user, and a signing key (aad_bootstrap in
 * directory.h).
 */
#include "aad/directory.h"

#include "common/error.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/secret.h"
#include "common/store.h"
#include "common/token.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_DOMAIN "azsim.onmicrosoft.com"
#define SECRET_DAYS 3650

/* `dst` = `want` if given, else `fallback` if given, else a fresh value from `make`. */
static void pick(char *dst, size_t n, const char *want, const char *fallback, char *(*make)(void))
{
    if (want && *want) {
        snprintf(dst, n, "%s", want);
    } else if (fallback && *fallback) {
        snprintf(dst, n, "%s", fallback);
    } else {
        char *v = make();
        snprintf(dst, n, "%s", v);
        free(v);
    }
}

static char *new_uuid(void)
{
    char *id = xmalloc(37);
    uuid_v4(id);
    return id;
}

static char *new_password(void)
{
    char *raw = secret_generate(12);
    char *s = xasprintf("Az%s!", raw);
    free(raw);
    return s;
}

static int ensure_tenant(struct store *s, const struct aad_identity *want, struct aad_identity *out)
{
    struct aad_tenant t;
    int rc =
        want->tenant_id[0] ? aad_tenant_find(s, want->tenant_id, &t) : aad_tenant_default(s, &t);
    if (rc == 0) {
        snprintf(out->tenant_id, sizeof(out->tenant_id), "%s", t.id);
        snprintf(out->tenant_domain, sizeof(out->tenant_domain), "%s", t.domain);
        if (want->tenant_domain[0] && !str_ieq(want->tenant_domain, t.domain))
            LOG_WARN("aad", "tenant %s keeps its domain %s (domains are fixed at creation)", t.id,
                     t.domain);
        return 0;
    }
    if (rc != AZ_ENOTFOUND)
        return rc;
    pick(out->tenant_id, sizeof(out->tenant_id), want->tenant_id, NULL, new_uuid);
    snprintf(out->tenant_domain, sizeof(out->tenant_domain), "%s",
             want->tenant_domain[0] ? want->tenant_domain : DEFAULT_DOMAIN);
    LOG_INFO("aad", "creating tenant %s (%s)", out->tenant_id, out->tenant_domain);
    return aad_tenant_create(s, out->tenant_id, out->tenant_domain, "azsim");
}

static int ensure_admin_app(struct store *s, const struct aad_identity *want,
                            struct aad_identity *out)
{
    char *recorded = NULL;
    store_meta_get(s, "admin_client_id", &recorded);
    pick(out->client_id, sizeof(out->client_id), want->client_id, recorded, new_uuid);
    free(recorded);
    struct aad_client c;
    int rc = aad_client_find(s, out->tenant_id, out->client_id, &c);
    if (rc == AZ_ENOTFOUND) {
        /* Same principal as last time (in memory too), unless the client id changed. */
        bool same = uuid_valid(want->client_object_id) && str_ieq(want->client_id, out->client_id);
        rc = aad_application_create(s, out->tenant_id, out->client_id, "azsim-admin", NULL, false,
                                    same ? want->client_object_id : NULL);
        if (rc == 0)
            rc = aad_client_find(s, out->tenant_id, out->client_id, &c);
    }
    if (rc != 0 || (rc = store_meta_set(s, "admin_client_id", out->client_id)) != 0)
        return rc;
    snprintf(out->client_object_id, sizeof(out->client_object_id), "%s", c.object_id);
    /* A secret nobody knows any more (no credentials file) is replaced by a new one. */
    pick(out->client_secret, sizeof(out->client_secret), want->client_secret, NULL,
         secret_generate_client_secret);
    if (aad_client_secret_check(s, out->client_id, out->client_secret) == 0)
        return 0;
    if ((rc = aad_application_remove_secrets(s, out->client_id)) != 0)
        return rc;
    return aad_application_add_secret(s, out->client_id, out->client_secret, SECRET_DAYS);
}

static int ensure_admin_user(struct store *s, const struct aad_identity *want,
                             struct aad_identity *out)
{
    snprintf(out->user_upn, sizeof(out->user_upn), "admin@%s", out->tenant_domain);
    pick(out->user_password, sizeof(out->user_password), want->user_password, NULL, new_password);
    struct aad_user u;
    int rc = aad_user_find(s, out->user_upn, &u);
    if (rc == AZ_ENOTFOUND) {
        if (uuid_valid(want->user_id))
            snprintf(out->user_id, sizeof(out->user_id), "%s", want->user_id);
        else
            uuid_v4(out->user_id);
        return aad_user_create(s, out->tenant_id, out->user_id, out->user_upn, "azsim admin",
                               out->user_password);
    }
    if (rc != 0)
        return rc;
    snprintf(out->user_id, sizeof(out->user_id), "%s", u.object_id);
    if (want->user_password_set_before ||
        aad_user_password_check(s, u.object_id, out->user_password) == 0)
        return 0;
    return aad_user_set_password(s, u.object_id, out->user_password);
}

/* The admin application also has a certificate credential, so certificate sign-in works from the
 * first start; the PEM (certificate and key) is kept beside the credentials file. */
static int ensure_admin_certificate(struct store *s, const struct aad_identity *want,
                                    struct aad_identity *out)
{
    struct token_key *k = NULL, *registered = NULL;
    if (want->client_pem && token_key_from_pem(want->client_pem, want->client_pem, &k) == 0) {
        /* The saved certificate stays the admin's: registered again if the store is new. */
        int rc = aad_client_certificate(s, out->client_id, token_key_kid(k), NULL, &registered);
        if (rc == AZ_ENOTFOUND)
            rc = aad_application_add_certificate(s, out->client_id, k);
        token_key_free(registered);
        token_key_free(k);
        if (rc == 0)
            out->client_pem = xstrdup(want->client_pem);
        return rc;
    }
    token_key_free(k);
    if (token_key_generate("azsim-admin", &k) != 0)
        return AZ_ETLS;
    int rc = aad_application_add_certificate(s, out->client_id, k);
    char *cert_pem, *key_pem;
    token_key_to_pem(k, &cert_pem, &key_pem);
    out->client_pem = xasprintf("%s%s", key_pem, cert_pem);
    free(cert_pem);
    free(key_pem);
    token_key_free(k);
    return rc;
}

void aad_identity_release(struct aad_identity *id)
{
    free(id->client_pem);
    id->client_pem = NULL;
}

int aad_bootstrap(struct store *s, const struct aad_identity *want, struct aad_identity *out)
{
    memset(out, 0, sizeof(*out));
    int rc = ensure_tenant(s, want, out);
    if (rc == 0)
        rc = ensure_admin_app(s, want, out);
    if (rc == 0)
        rc = ensure_admin_certificate(s, want, out);
    if (rc == 0)
        rc = ensure_admin_user(s, want, out);
    char kid[64];
    if (rc == 0 && aad_signing_key_active_kid(s, kid) == AZ_ENOTFOUND) {
        LOG_INFO("aad", "creating the token signing key");
        rc = aad_signing_key_rotate(s, kid);
    }
    return rc;
}
