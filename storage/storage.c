/*
 * storage/storage.c — Blob Storage: the module descriptor and its route table.
 *
 * Served on https; errors are Storage's XML <Error> bodies with x-ms-error-code. Bodies are
 * capped at 256 MiB until blob uploads stream to disk.
 *
 * Not emulated yet: the Blob Storage operations themselves. The listener answers the routes every
 * module has (GET /health, GET /azsim/ca.pem) and Azure-style errors for everything else.
 */
#include "common/http.h"
#include "common/module.h"

const struct module storage_module = {
    .name = "storage",
    .title = "Blob Storage",
    .tls = true,
    .default_port = 4705,
    .max_body = 256 * 1024 * 1024,
    .render_error = http_render_storage_error,
    .routes = NULL,
    .nroutes = 0,
};
