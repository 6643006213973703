/*
 * imds/imds.c — Instance Metadata Service: the module descriptor and its route table.
 *
 * Plain http, as IMDS is in Azure; errors are IMDS's {"error","error_description"} bodies.
 * It also serves the CA certificate over plain http at /azsim/ca.pem, for containers to trust.
 *
 * Not emulated yet: the Instance Metadata Service operations themselves. The listener answers the
 * routes every module has (GET /health, GET /azsim/ca.pem) and Azure-style errors for everything
 * else.
 */
#include "common/http.h"
#include "common/module.h"

const struct module imds_module = {
    .name = "imds",
    .title = "Instance Metadata Service",
    .tls = false,
    .default_port = 4703,
    .max_body = 64 * 1024,
    .render_error = http_render_oauth_error,
    .routes = NULL,
    .nroutes = 0,
};
