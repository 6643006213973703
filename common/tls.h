/*
 * tls.h — azsim's local certificate authority and the server certificates it issues.
 *
 * On first start tls_load_or_create() makes, under `<data-dir>/tls/`, a CA (ca.pem, ca.key) and one
 * server certificate per family of host names (Entra ID, Resource Manager, Graph, Key Vault, Blob,
 * and one for localhost / 127.0.0.1 / ::1), all ECDSA P-256. Later starts reuse them; a server
 * certificate that is missing, close to expiry, not from this CA, or lacks a host name this
 * version serves is issued again from the same CA, so a CA the user already trusts stays valid.
 *
 * The server context picks the certificate by SNI; connections without SNI (clients that connect
 * to an IP address) get the localhost one.
 */
#ifndef AZSIM_TLS_H
#define AZSIM_TLS_H

#include <stdbool.h>
#include <stddef.h>

struct tls;
struct ssl_ctx_st; /* OpenSSL's SSL_CTX */

/* Returns 0, or AZ_EIO / AZ_ETLS with the reason logged. */
int tls_load_or_create(const char *tls_dir, struct tls **out);
void tls_free(struct tls *t);

const char *tls_ca_path(const struct tls *t);
const char *tls_ca_pem(const struct tls *t);
/* The server SSL_CTX (with the SNI callback) shared by every HTTPS listener. */
struct ssl_ctx_st *tls_server_ctx(const struct tls *t);

/* True when `pattern` (a name or "*.suffix") covers `host`, compared as TLS does. */
bool tls_name_matches(const char *pattern, const char *host);

#endif
