/*
 * aad/aad.c — Entra ID (Azure AD): the module descriptor and its route table.
 *
 * Served on https; errors are the OAuth 2.0 / AADSTS {"error","error_description"} bodies.
 *
 * Not emulated yet: the Entra ID (Azure AD) operations themselves. The listener answers the routes every
 * module has (GET /health, GET /azsim/ca.pem) and Azure-style errors for everything else.
 */
#include "common/http.h"
#include "common/module.h"

const struct module aad_module = {
    .name = "aad",
    .title = "Entra ID (Azure AD)",
    .tls = true,
    .default_port = 4702,
    .max_body = 1024 * 1024,
    .render_error = http_render_oauth_error,
    .routes = NULL,
    .nroutes = 0,
};
