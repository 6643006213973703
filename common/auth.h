/*
 * auth.h — authenticating callers of azsim's services with the tokens Entra ID (aad/) issued.
 *
 * Each module thread has one token verifier over its own store connection: it finds AAD's
 * signing keys (published, not retired) and tenants in the store, so a key rotated by
 * `azsim keys rotate` is picked up without a restart.
 */
#ifndef AZSIM_AUTH_H
#define AZSIM_AUTH_H

#include <stddef.h>

#include "token.h"

struct http_request;
struct store;

struct token_verifier *auth_verifier_new(struct store *s);
void auth_verifier_free(struct token_verifier *v);

/*
 * The bearer token of `req` (Authorization: Bearer …), verified for one of `audiences`.
 * Returns 0 with *out filled and req->caller and req->principal set; AZ_ENOTFOUND when there is no
 * bearer token; AZ_EDENIED with *reason when it does not verify. Does not reply: refusals are the
 * module's to word.
 */
int auth_bearer(struct http_request *req, const char *const *audiences, size_t n,
                struct token_principal *out, const char **reason);

#endif
