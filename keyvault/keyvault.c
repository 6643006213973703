/*
 * keyvault/keyvault.c — Key Vault: the module descriptor and its route table.
 *
 * Served on https; errors are Key Vault's {"error":{"code","message"}} bodies. Request
 * bodies are capped at 1 MiB (a secret value is at most 25 KiB, a backup blob a few hundred).
 *
 * Not emulated yet: the Key Vault operations themselves. The listener answers the routes every
 * module has (GET /health, GET /azsim/ca.pem) and Azure-style errors for everything else.
 */
#include "common/http.h"
#include "common/module.h"

const struct module keyvault_module = {
    .name = "keyvault",
    .title = "Key Vault",
    .tls = true,
    .default_port = 4704,
    .max_body = 1024 * 1024,
    .render_error = http_render_json_error,
    .routes = NULL,
    .nroutes = 0,
};
