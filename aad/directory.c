/*
 * aad/directory.c — see directory.h.
 */
#include "aad/directory.h"

#include "common/error.h"
#include "common/mem.h"
#include "common/secret.h"
#include "common/store.h"
#include "common/token.h"
#include "common/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REFRESH_TOKEN_DAYS 90

/* Microsoft's own public clients: every tenant accepts them for user sign-in. */
static const struct {
    const char *app_id;
    const char *name;
} first_party[] = {
    {"04b07795-8ddb-461a-bbee-02f9e1bf7b46", "Microsoft Azure CLI"},
    {"1950a258-227b-4e31-a9cf-717495945fc2", "Microsoft Azure PowerShell"},
    {"04f0c124-f2bc-4f59-8241-bf6df9866bbd", "Visual Studio"},
    {"872cd9fa-d31f-45e0-9eab-6e460a02d1f1", "Visual Studio"},
    {"aebc6443-996d-45c2-90f0-388ff96faa56", "Visual Studio Code"},
};

static int64_t now_ms(void)
{
    return clock_now_ms();
}

/*
 * Run `sql` with `nparams` text parameters (after the count, as varargs), then for a row copy
 * text columns into (char *dst, size_t size) pairs that follow, NULL-terminated. Returns 0,
 * AZ_ENOTFOUND or AZ_ESTORE.
 */
static int row(struct store *s, const char *sql, int nparams, ...)
{
    struct store_stmt *st;
    if (store_prepare(s, sql, &st) != 0)
        return AZ_ESTORE;
    va_list ap;
    va_start(ap, nparams);
    for (int i = 1; i <= nparams; i++)
        store_bind_text(st, i, va_arg(ap, const char *));
    int rc = store_step(st);
    if (rc == 1) {
        char *dst;
        for (int col = 0; (dst = va_arg(ap, char *)); col++) {
            size_t size = va_arg(ap, size_t);
            const char *v = store_column_text(st, col);
            snprintf(dst, size, "%s", v ? v : "");
        }
        rc = 0;
    } else if (rc == 0) {
        rc = AZ_ENOTFOUND;
    }
    va_end(ap);
    store_finalize(st);
    return rc < 0 && rc != AZ_ENOTFOUND ? AZ_ESTORE : rc;
}

#define COL(field) (field), sizeof(field)

/* ---- tenants -------------------------------------------------------------------------------- */

int aad_tenant_find(struct store *s, const char *id_or_domain, struct aad_tenant *out)
{
    return row(s,
               "SELECT id, domain, display_name FROM tenants WHERE id = lower(?1) OR domain = ?1",
               1, id_or_domain, COL(out->id), COL(out->domain), COL(out->display_name), NULL);
}

int aad_tenant_default(struct store *s, struct aad_tenant *out)
{
    return row(s, "SELECT id, domain, display_name FROM tenants ORDER BY created_at, rowid LIMIT 1",
               0, COL(out->id), COL(out->domain), COL(out->display_name), NULL);
}

int aad_tenant_create(struct store *s, const char *id, const char *domain, const char *name)
{
    return store_run(s,
                     "INSERT INTO tenants(id, domain, display_name, created_at) "
                     "VALUES(lower(?1), ?2, ?3, ?4)",
                     "sssi", id, domain, name, now_ms());
}

/* ---- clients -------------------------------------------------------------------------------- */

int aad_client_find(struct store *s, const char *tenant_id, const char *app_id,
                    struct aad_client *out)
{
    memset(out, 0, sizeof(*out));
    char pub[8] = "";
    int rc = row(s,
                 "SELECT sp.app_id, sp.object_id, sp.tenant_id, sp.display_name, sp.type, "
                 "       coalesce(a.public_client, 0), coalesce(sp.resource_id, '') "
                 "FROM service_principals sp LEFT JOIN applications a ON a.app_id = sp.app_id "
                 "WHERE sp.tenant_id = lower(?1) AND sp.app_id = ?2",
                 2, tenant_id, app_id, COL(out->app_id), COL(out->object_id), COL(out->tenant_id),
                 COL(out->display_name), COL(out->type), COL(pub), COL(out->resource_id), NULL);
    if (rc != AZ_ENOTFOUND) {
        out->public_client = strcmp(pub, "1") == 0;
        return rc;
    }
    for (size_t i = 0; i < ARRAY_SIZE(first_party); i++) {
        if (str_ieq(first_party[i].app_id, app_id)) {
            snprintf(out->app_id, sizeof(out->app_id), "%s", first_party[i].app_id);
            snprintf(out->object_id, sizeof(out->object_id), "%s", first_party[i].app_id);
            snprintf(out->tenant_id, sizeof(out->tenant_id), "%s", tenant_id);
            snprintf(out->display_name, sizeof(out->display_name), "%s", first_party[i].name);
            snprintf(out->type, sizeof(out->type), "Application");
            out->public_client = true;
            return 0;
        }
    }
    return AZ_ENOTFOUND;
}

int aad_client_secret_check(struct store *s, const char *app_id, const char *secret)
{
    struct store_stmt *st;
    if (store_prepare(s,
                      "SELECT secret_hash FROM credentials WHERE app_id = ?1 AND "
                      "kind = 'password' AND not_before <= ?2 AND not_after > ?2",
                      &st) != 0)
        return AZ_ESTORE;
    store_bind_text(st, 1, app_id);
    store_bind_int64(st, 2, now_ms());
    int rc = AZ_EDENIED;
    while (rc == AZ_EDENIED && store_step(st) == 1) {
        if (secret_matches(store_column_text(st, 0), secret))
            rc = 0;
    }
    store_finalize(st);
    return rc;
}

int aad_client_certificate(struct store *s, const char *app_id, const char *x5t,
                           const char *x5t_s256, struct token_key **out)
{
    *out = NULL;
    struct store_stmt *st;
    if (store_prepare(s,
                      "SELECT cert_der FROM credentials WHERE app_id = ?1 AND "
                      "kind = 'certificate' AND (x5t = ?2 OR x5t_s256 = ?3) AND "
                      "not_before <= ?4 AND not_after > ?4",
                      &st) != 0)
        return AZ_ESTORE;
    store_bind_text(st, 1, app_id);
    store_bind_text(st, 2, x5t);
    store_bind_text(st, 3, x5t_s256);
    store_bind_int64(st, 4, now_ms());
    int rc = AZ_ENOTFOUND;
    if (store_step(st) == 1) {
        size_t n;
        const void *der = store_column_blob(st, 0, &n);
        rc = token_key_from_der(der, n, out) == 0 ? 0 : AZ_ESTORE;
    }
    store_finalize(st);
    return rc;
}

int aad_application_register(struct store *s, const char *tenant_id, const char *app_id,
                             const char *name, const char *identifier_uri, bool public_client,
                             char object_id[37])
{
    uuid_v4(object_id);
    return store_run(s,
                     "INSERT INTO applications(object_id, app_id, tenant_id, display_name, "
                     "identifier_uri, public_client, created_at) "
                     "VALUES(?1, lower(?2), lower(?3), ?4, ?5, ?6, ?7)",
                     "sssssii", object_id, app_id, tenant_id, name, identifier_uri,
                     (int64_t)public_client, now_ms());
}

int aad_service_principal_create(struct store *s, const char *tenant_id, const char *app_id,
                                 const char *name, const char *sp_object_id, char object_id[37])
{
    char oid[37];
    if (sp_object_id)
        snprintf(oid, sizeof(oid), "%s", sp_object_id);
    else
        uuid_v4(oid);
    int rc = store_run(s,
                       "INSERT INTO service_principals(object_id, app_id, tenant_id, display_name, "
                       "type, created_at) VALUES(lower(?1), lower(?2), lower(?3), ?4, "
                       "'Application', ?5)",
                       "ssssi", oid, app_id, tenant_id, name, now_ms());
    if (rc == 0 && object_id)
        snprintf(object_id, 37, "%s", oid);
    return rc;
}

int aad_application_create(struct store *s, const char *tenant_id, const char *app_id,
                           const char *name, const char *identifier_uri, bool public_client,
                           const char *sp_object_id)
{
    char app_oid[37];
    int rc = aad_application_register(s, tenant_id, app_id, name, identifier_uri, public_client,
                                      app_oid);
    return rc == 0 ? aad_service_principal_create(s, tenant_id, app_id, name, sp_object_id, NULL)
                   : rc;
}

int aad_application_update(struct store *s, const char *app_id, const char *name,
                           const char *identifier_uri, bool set_identifier_uri)
{
    int rc = 0;
    if (name)
        rc = store_run(s, "UPDATE applications SET display_name = ?2 WHERE app_id = ?1", "ss",
                       app_id, name);
    if (rc == 0 && set_identifier_uri)
        rc = store_run(s, "UPDATE applications SET identifier_uri = ?2 WHERE app_id = ?1", "ss",
                       app_id, identifier_uri);
    return rc;
}

int aad_application_delete(struct store *s, const char *app_id)
{
    int rc = aad_service_principal_delete(s, app_id);
    if (rc == 0)
        rc = store_run(s, "DELETE FROM applications WHERE app_id = ?1", "s", app_id);
    if (rc == 0 && store_changes(s) == 0)
        rc = AZ_ENOTFOUND;
    return rc;
}

static int add_credential(struct store *s, const char *app_id, const char *kind,
                          const char *secret_hash, const char *hint, const struct token_key *cert,
                          int64_t not_before, int64_t not_after, char key_id[37])
{
    char id[37];
    uuid_v4(id);
    struct arena *a = arena_new();
    unsigned char *der = NULL;
    long n = cert ? base64_decode(a, token_key_x5c(cert), strlen(token_key_x5c(cert)), &der) : 0;
    int rc =
        store_run(s,
                  "INSERT INTO credentials(id, app_id, kind, secret_hash, hint, cert_der, x5t, "
                  "x5t_s256, not_before, not_after) "
                  "VALUES(?1, lower(?2), ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                  "sssssbssii", id, app_id, kind, secret_hash, hint, (const void *)der,
                  (size_t)(n > 0 ? n : 0), cert ? token_key_kid(cert) : NULL,
                  cert ? token_key_x5t_s256(cert) : NULL, not_before, not_after);
    arena_free(a);
    if (rc == 0 && key_id)
        memcpy(key_id, id, sizeof(id));
    return rc;
}

int aad_application_add_password(struct store *s, const char *app_id, const char *secret,
                                 int64_t not_before, int64_t not_after, char key_id[37])
{
    char *hash = secret_hash(secret, SECRET_GENERATED);
    char hint[4];
    snprintf(hint, sizeof(hint), "%.3s", secret); /* Entra shows the first three characters */
    int rc = add_credential(s, app_id, "password", hash, hint, NULL, not_before, not_after, key_id);
    free(hash);
    return rc;
}

int aad_application_add_secret(struct store *s, const char *app_id, const char *secret, int days)
{
    return aad_application_add_password(s, app_id, secret, now_ms() - 60000,
                                        now_ms() + (int64_t)days * 86400000, NULL);
}

int aad_application_remove_password(struct store *s, const char *app_id, const char *key_id)
{
    int rc = store_run(s,
                       "DELETE FROM credentials WHERE app_id = ?1 AND id = lower(?2) AND "
                       "kind = 'password'",
                       "ss", app_id, key_id);
    return rc == 0 && store_changes(s) == 0 ? AZ_ENOTFOUND : rc;
}

int aad_application_add_certificate(struct store *s, const char *app_id,
                                    const struct token_key *cert)
{
    return add_credential(s, app_id, "certificate", NULL, NULL, cert, now_ms() - 60000,
                          now_ms() + (int64_t)3650 * 86400000, NULL);
}

int aad_managed_identity_create(struct store *s, const char *tenant_id, const char *client_id,
                                const char *object_id, const char *name, const char *resource_id,
                                const struct token_key *cert)
{
    int rc = store_run(s,
                       "INSERT INTO service_principals(object_id, app_id, tenant_id, display_name, "
                       "type, resource_id, created_at) "
                       "VALUES(?1, lower(?2), lower(?3), ?4, 'ManagedIdentity', ?5, ?6)",
                       "sssssi", object_id, client_id, tenant_id, name, resource_id, now_ms());
    return rc == 0 ? aad_application_add_certificate(s, client_id, cert) : rc;
}

int aad_service_principal_delete(struct store *s, const char *client_id)
{
    int rc = store_run(s, "DELETE FROM credentials WHERE app_id = ?1", "s", client_id);
    return rc == 0
               ? store_run(s, "DELETE FROM service_principals WHERE app_id = ?1", "s", client_id)
               : rc;
}

int aad_service_principal_remove(struct store *s, const char *object_id)
{
    int rc =
        store_run(s, "DELETE FROM service_principals WHERE object_id = lower(?1)", "s", object_id);
    return rc == 0 && store_changes(s) == 0 ? AZ_ENOTFOUND : rc;
}

int aad_resource_application(struct store *s, const char *tenant_id, const char *resource,
                             char app_id[40])
{
    return row(s,
               "SELECT app_id FROM applications WHERE tenant_id = lower(?1) AND "
               "(identifier_uri = ?2 OR app_id = ?2 OR identifier_uri || '/' = ?2)",
               2, tenant_id, resource, app_id, (size_t)40, NULL);
}

/* ---- users ---------------------------------------------------------------------------------- */

int aad_user_find(struct store *s, const char *upn, struct aad_user *out)
{
    return row(s, "SELECT object_id, tenant_id, upn, display_name FROM users WHERE upn = ?1", 1,
               upn, COL(out->object_id), COL(out->tenant_id), COL(out->upn), COL(out->display_name),
               NULL);
}

int aad_user_by_id(struct store *s, const char *object_id, struct aad_user *out)
{
    return row(s, "SELECT object_id, tenant_id, upn, display_name FROM users WHERE object_id = ?1",
               1, object_id, COL(out->object_id), COL(out->tenant_id), COL(out->upn),
               COL(out->display_name), NULL);
}

int aad_user_password_check(struct store *s, const char *object_id, const char *password)
{
    char hash[256];
    int rc = row(s, "SELECT password_hash FROM users WHERE object_id = ?1", 1, object_id, COL(hash),
                 NULL);
    if (rc != 0)
        return rc == AZ_ENOTFOUND ? AZ_EDENIED : rc;
    return secret_matches(hash, password) ? 0 : AZ_EDENIED;
}

int aad_user_create(struct store *s, const char *tenant_id, const char *object_id, const char *upn,
                    const char *name, const char *password)
{
    char *hash = secret_hash(password, SECRET_PASSWORD);
    int rc = store_run(s,
                       "INSERT INTO users(object_id, tenant_id, upn, display_name, password_hash, "
                       "created_at) VALUES(?1, lower(?2), ?3, ?4, ?5, ?6)",
                       "sssssi", object_id, tenant_id, upn, name, hash, now_ms());
    free(hash);
    return rc;
}

int aad_user_set_password(struct store *s, const char *object_id, const char *password)
{
    char *hash = secret_hash(password, SECRET_PASSWORD);
    int rc = store_run(s, "UPDATE users SET password_hash = ?2 WHERE object_id = ?1", "ss",
                       object_id, hash);
    free(hash);
    return rc;
}

int aad_application_remove_secrets(struct store *s, const char *app_id)
{
    return store_run(s, "DELETE FROM credentials WHERE app_id = ?1 AND kind = 'password'", "s",
                     app_id);
}

/* ---- refresh tokens ------------------------------------------------------------------------- */

int aad_refresh_token_issue(struct store *s, const char *user_id, const char *client_id,
                            char **token)
{
    *token = secret_generate(48);
    char *hash = secret_digest(*token);
    int rc = store_run(s,
                       "INSERT INTO refresh_tokens(token_hash, user_id, client_id, expires_at) "
                       "VALUES(?1, ?2, lower(?3), ?4)",
                       "sssi", hash, user_id, client_id,
                       now_ms() + (int64_t)REFRESH_TOKEN_DAYS * 86400000);
    free(hash);
    if (rc != 0) {
        free(*token);
        *token = NULL;
    }
    return rc;
}

int aad_refresh_token_redeem(struct store *s, const char *token, const char *client_id,
                             struct aad_user *out)
{
    char *hash = secret_digest(token);
    char user_id[40];
    char expires[24];
    char client[40];
    int rc = row(s,
                 "SELECT user_id, expires_at, client_id FROM refresh_tokens "
                 "WHERE token_hash = ?1",
                 1, hash, COL(user_id), COL(expires), COL(client), NULL);
    free(hash);
    if (rc != 0)
        return rc;
    /* A refresh token is bound to the client it was issued to, as in Entra ID. */
    if (strtoll(expires, NULL, 10) <= now_ms() || !str_ieq(client, client_id))
        return AZ_ENOTFOUND;
    return aad_user_by_id(s, user_id, out);
}

/* ---- signing keys --------------------------------------------------------------------------- */

static int key_from_row(struct store_stmt *st, struct token_key **out)
{
    return token_key_from_pem(store_column_text(st, 0), store_column_text(st, 1), out) == 0
               ? 0
               : AZ_ESTORE;
}

int aad_signing_key_active_kid(struct store *s, char kid[64])
{
    return row(s, "SELECT kid FROM signing_keys WHERE active = 1 AND retired_at IS NULL", 0, kid,
               (size_t)64, NULL);
}

int aad_signing_key_active(struct store *s, struct token_key **out)
{
    *out = NULL;
    struct store_stmt *st;
    if (store_prepare(s,
                      "SELECT cert_pem, key_pem FROM signing_keys WHERE active = 1 "
                      "AND retired_at IS NULL",
                      &st) != 0)
        return AZ_ESTORE;
    int rc = store_step(st) == 1 ? key_from_row(st, out) : AZ_ENOTFOUND;
    store_finalize(st);
    return rc;
}

int aad_signing_key_rotate(struct store *s, char kid[64])
{
    struct token_key *k;
    if (token_key_generate("azsim token signing", &k) != 0)
        return AZ_ESTORE;
    char *cert_pem, *key_pem;
    token_key_to_pem(k, &cert_pem, &key_pem);
    snprintf(kid, 64, "%s", token_key_kid(k));
    int rc = store_run(s, "UPDATE signing_keys SET active = 0", "");
    if (rc == 0)
        rc = store_run(s,
                       "INSERT INTO signing_keys(kid, cert_pem, key_pem, active, created_at) "
                       "VALUES(?1, ?2, ?3, 1, ?4)",
                       "sssi", kid, cert_pem, key_pem, now_ms());
    free(cert_pem);
    free(key_pem);
    token_key_free(k);
    return rc;
}

int aad_signing_key_retire(struct store *s, const char *kid)
{
    int rc = store_run(s,
                       "UPDATE signing_keys SET retired_at = ?2 WHERE kid = ?1 AND active = 0 "
                       "AND retired_at IS NULL",
                       "si", kid, now_ms());
    if (rc == 0 && store_changes(s) == 0)
        return AZ_ENOTFOUND;
    return rc;
}

int aad_signing_keys_each(struct store *s, void (*fn)(void *arg, struct token_key *k, bool active),
                          void *arg)
{
    struct store_stmt *st;
    if (store_prepare(s,
                      "SELECT cert_pem, NULL, active FROM signing_keys "
                      "WHERE retired_at IS NULL ORDER BY active DESC, created_at DESC",
                      &st) != 0)
        return AZ_ESTORE;
    while (store_step(st) == 1) {
        struct token_key *k;
        if (key_from_row(st, &k) == 0) {
            fn(arg, k, store_column_int64(st, 2) == 1);
            token_key_free(k);
        }
    }
    store_finalize(st);
    return 0;
}
