/*
 * auth.c — see auth.h.
 */
#include "auth.h"

#include "error.h"
#include "http.h"
#include "store.h"
#include "util.h"

#include <string.h>

static int find_key(void *arg, const char *kid, struct token_key **out)
{
    struct store_stmt *st;
    *out = NULL;
    if (store_prepare(arg,
                      "SELECT cert_pem FROM signing_keys WHERE kid = ?1 AND "
                      "retired_at IS NULL",
                      &st) != 0)
        return AZ_ESTORE;
    store_bind_text(st, 1, kid);
    int rc = AZ_ENOTFOUND;
    if (store_step(st) == 1)
        rc = token_key_from_pem(store_column_text(st, 0), NULL, out) == 0 ? 0 : AZ_ESTORE;
    store_finalize(st);
    return rc;
}

static bool tenant_exists(void *arg, const char *tid)
{
    struct store_stmt *st;
    if (store_prepare(arg, "SELECT 1 FROM tenants WHERE id = lower(?1)", &st) != 0)
        return false;
    store_bind_text(st, 1, tid);
    bool found = store_step(st) == 1;
    store_finalize(st);
    return found;
}

struct token_verifier *auth_verifier_new(struct store *s)
{
    return token_verifier_new(&(struct token_source){find_key, tenant_exists, s});
}

void auth_verifier_free(struct token_verifier *v)
{
    token_verifier_free(v);
}

int auth_bearer(struct http_request *req, const char *const *audiences, size_t n,
                struct token_principal *out, const char **reason)
{
    const char *h = http_header(req, "Authorization");
    if (!h || !str_has_iprefix(h, "Bearer ")) {
        *reason = "the request has no bearer token";
        return AZ_ENOTFOUND;
    }
    const char *jwt = h + 7;
    jwt += strspn(jwt, " ");
    int rc = token_verify(req->verifier, jwt, audiences, n, out, reason);
    if (rc == 0) {
        struct token_principal *caller = arena_alloc(req->arena, sizeof(*caller));
        *caller = *out;
        req->caller = caller;
        req->principal = arena_strdup(req->arena, out->oid);
    }
    return rc;
}
