/*
 * arm/identities.c — steps 2 and 3 of the managed-identity flow (DESIGN §1), shared by
 * user-assigned identities and the system-assigned identities of VMs: a new identity is a
 * service principal in the directory of the subscription's tenant (servicePrincipalType
 * ManagedIdentity; object id = principalId, app id = clientId) with an X.509 certificate
 * registered as its credential. The certificate's private key is kept apart from the directory,
 * in identity_certificates, where only IMDS reads it to sign in as the identity.
 */
#include "arm/arm.h"

#include "aad/directory.h"
#include "common/error.h"
#include "common/store.h"
#include "common/token.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int arm_identity_create(struct http_request *req, const char *name, const char *resource_id,
                        struct arm_identity *out)
{
    memset(out, 0, sizeof(*out));
    const struct arm_identity_ids *fixed = req->context;
    if (fixed && fixed->principal_id)
        snprintf(out->principal_id, sizeof(out->principal_id), "%s", fixed->principal_id);
    else
        uuid_v4(out->principal_id);
    if (fixed && fixed->client_id)
        snprintf(out->client_id, sizeof(out->client_id), "%s", fixed->client_id);
    else
        uuid_v4(out->client_id);
    struct token_key *key = NULL;
    char *cert_pem = NULL, *key_pem = NULL;
    int rc = arm_subscription_tenant(req->store, http_param(req, "subscriptionId"), out->tenant_id);
    if (rc == 0)
        rc = token_key_generate(out->client_id, &key);
    if (rc == 0)
        rc = token_key_to_pem(key, &cert_pem, &key_pem);
    if (rc == 0)
        rc = aad_managed_identity_create(req->store, out->tenant_id, out->client_id,
                                         out->principal_id, name, resource_id, key);
    if (rc == 0)
        rc =
            store_run(req->store,
                      "INSERT INTO identity_certificates(client_id, cert_pem, key_pem, created_at) "
                      "VALUES(?1, ?2, ?3, ?4)",
                      "sssi", out->client_id, cert_pem, key_pem, clock_now_ms());
    if (key_pem)
        memset(key_pem, 0, strlen(key_pem));
    free(key_pem);
    free(cert_pem);
    token_key_free(key);
    if (rc != 0)
        return http_fail(req, 500, "InternalServerError",
                         "The managed identity's service principal could not be created.");
    return 0;
}

int arm_identity_delete(struct http_request *req, const char *client_id)
{
    if (!client_id)
        return 0;
    int rc = aad_service_principal_delete(req->store, client_id);
    if (rc == 0)
        rc = store_run(req->store, "DELETE FROM identity_certificates WHERE client_id = ?1", "s",
                       client_id);
    if (rc != 0)
        return http_fail(req, 500, "InternalServerError",
                         "The managed identity's service principal could not be deleted.");
    return 0;
}
