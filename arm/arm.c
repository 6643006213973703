/*
 * arm/arm.c — Azure Resource Manager: the module descriptor and its route table.
 *
 * Served on https; errors are ARM's {"error":{"code","message"}} bodies. Request bodies are
 * capped at 4 MiB, ARM's own limit for a request (templates included).
 *
 * Not emulated yet: the Azure Resource Manager operations themselves. The listener answers the routes every
 * module has (GET /health, GET /azsim/ca.pem) and Azure-style errors for everything else.
 */
#include "common/http.h"
#include "common/module.h"

const struct module arm_module = {
    .name = "arm",
    .title = "Azure Resource Manager",
    .tls = true,
    .default_port = 4701,
    .max_body = 4 * 1024 * 1024,
    .render_error = http_render_json_error,
    .routes = NULL,
    .nroutes = 0,
};
