/*
 * seed.h — a declarative starting state: `azsim serve --seed FILE` and `azsim apply FILE`.
 *
 * A seed file (JSON) names tenants, users, applications, subscriptions, resource groups,
 * user-assigned identities, VMs (with identities and the address each answers IMDS from), key
 * vaults with secrets, storage accounts with containers and blobs, and role assignments.
 * Applying it twice changes nothing the first time did not.
 *
 * Directory objects whose ids and credentials no Azure API lets a client choose (tenants,
 * subscriptions, users, applications with given secrets) are written to the directory directly.
 * Everything else goes through the services themselves, in process: the seed signs in to Entra
 * ID as azsim's admin application and sends Resource Manager and Blob Storage the requests a
 * client would, so seeded resources pass the same validation, side effects (service principals,
 * certificates for IMDS) and RBAC as any other. See README "Use cases".
 */
#ifndef AZSIM_SEED_H
#define AZSIM_SEED_H

#include <stddef.h>

struct store;
struct server_context;
struct aad_identity;

/*
 * Apply seed file `path` to the store as `admin` (azsim's admin application, with its secret),
 * in subscription `default_sub` where an entry names none. Returns 0, or AZ_EINVAL with a
 * message in `err` naming the file, the entry and the field at fault.
 */
int seed_apply(struct store *s, const struct server_context *ctx, const struct aad_identity *admin,
               const char *default_sub, const char *path, char *err, size_t errlen);

#endif
