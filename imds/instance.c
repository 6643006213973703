/*
 * imds/instance.c — GET /metadata/instance[/…] and GET /metadata/versions: what a VM learns
 * about itself, built from its ARM resource, its network interfaces and their public addresses.
 *
 * Every value is a string, as IMDS sends them. A path below /metadata/instance walks the
 * document (array elements by index); format=text answers a leaf as plain text. Errors here are
 * IMDS's instance-metadata shape, {"error": "Bad request. …"}, unlike the token endpoint's.
 */
#include "imds/imds.h"

#include "common/error.h"
#include "common/json.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Oldest first, as /metadata/versions lists them; the versions api-version may name. */
static const char *const api_versions[] = {
    "2017-03-01", "2017-04-02", "2017-08-01", "2017-10-01", "2017-12-01", "2018-02-01",
    "2018-04-02", "2018-10-01", "2019-02-01", "2019-03-11", "2019-04-30", "2019-06-01",
    "2019-06-04", "2019-08-01", "2019-08-15", "2019-11-01", "2020-06-01", "2020-07-15",
    "2020-09-01", "2020-10-01", "2020-12-01", "2021-01-01", "2021-02-01", "2021-03-01",
    "2021-05-01", "2021-08-01", "2021-10-01", "2021-11-01", "2021-11-15", "2021-12-13",
    "2023-07-01", "2023-11-15", "2024-03-15", "2024-07-17", "2025-04-07",
};
#define NVERSIONS ARRAY_SIZE(api_versions)

static int bad_request(struct http_request *req, const char *message, bool versions)
{
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_string(w, "error", arena_printf(req->arena, "Bad request. %s", message));
    if (versions) {
        jw_key(w, "newest-versions");
        jw_array_open(w);
        for (size_t i = 0; i < 3; i++)
            jw_string(w, api_versions[NVERSIONS - 1 - i]);
        jw_array_close(w);
    }
    jw_object_close(w);
    req->error_code = "BadRequest";
    http_reply_json(req, 400, w);
    json_writer_free(w);
    return AZ_EREPLIED;
}

/* Metadata: true and a known api-version, as every instance request needs. */
static int check_request(struct http_request *req)
{
    if (http_header(req, "X-Forwarded-For"))
        return bad_request(req, "Request with X-Forwarded-For header is not allowed.", false);
    const char *metadata = http_header(req, "Metadata");
    if (!metadata || !str_ieq(metadata, "true"))
        return bad_request(req, "Required metadata header not specified", false);
    if (imds_duplicate_query(req))
        return bad_request(req, "Requests with duplicate query parameter names are not allowed.",
                           false);
    const char *version = http_query(req, "api-version");
    for (size_t i = 0; version && i < NVERSIONS; i++) {
        if (strcmp(version, api_versions[i]) == 0)
            return 0;
    }
    return bad_request(req,
                       "api-version is invalid or was not specified in the request. For more "
                       "information refer to aka.ms/azureimds",
                       true);
}

/* GET /metadata/versions: unversioned, no parameters. */
int imds_get_versions(struct http_request *req)
{
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_key(w, "apiVersions");
    jw_array_open(w);
    for (size_t i = 0; i < NVERSIONS; i++)
        jw_string(w, api_versions[i]);
    jw_array_close(w);
    jw_object_close(w);
    http_reply_json(req, 200, w);
    json_writer_free(w);
    return 0;
}

/* ---- the document ---------------------------------------------------------------------------- */

static void kv(struct json_writer *w, const char *key, const char *value)
{
    jw_kv_string(w, key, value ? value : "");
}

/* "/subscriptions/{s}/resourceGroups/{g}/…": segment `n` (1 = s, 3 = g). */
static const char *id_segment(struct http_request *req, const char *id, int n)
{
    const char *p = id;
    for (int i = 0; i < n && p; i++) {
        p = strchr(p + 1, '/');
    }
    if (!p)
        return "";
    p++;
    return arena_strndup(req->arena, p, strcspn(p, "/"));
}

static void write_compute(struct http_request *req, struct json_writer *w, const struct imds_vm *vm)
{
    const struct json *r = vm->resource;
    const struct json *p = json_get(r, "properties");
    const struct json *image = json_get(json_get(p, "storageProfile"), "imageReference");
    const struct json *os = json_get(p, "osProfile");
    const struct json *tags = json_get(r, "tags");
    jw_object_open(w);
    kv(w, "azEnvironment", "AzurePublicCloud");
    kv(w, "location", json_string(json_get(r, "location")));
    kv(w, "name", json_string(json_get(r, "name")));
    kv(w, "offer", json_string(json_get(image, "offer")));
    jw_key(w, "osProfile");
    jw_object_open(w);
    kv(w, "adminUsername", json_string(json_get(os, "adminUsername")));
    kv(w, "computerName", json_string(json_get(os, "computerName")));
    jw_object_close(w);
    kv(w, "osType", json_get(os, "windowsConfiguration") ? "Windows" : "Linux");
    kv(w, "provider", "Microsoft.Compute");
    kv(w, "publisher", json_string(json_get(image, "publisher")));
    kv(w, "resourceGroupName", id_segment(req, vm->id, 3));
    kv(w, "resourceId", vm->id);
    kv(w, "sku", json_string(json_get(image, "sku")));
    kv(w, "subscriptionId", id_segment(req, vm->id, 1));
    struct buf joined = {0};
    for (size_t i = 0; i < json_len(tags); i++)
        buf_printf(&joined, "%s%s:%s", i ? ";" : "", json_key_at(tags, i),
                   json_string(json_at(tags, i)) ? json_string(json_at(tags, i)) : "");
    kv(w, "tags", joined.data);
    buf_free(&joined);
    jw_key(w, "tagsList");
    jw_array_open(w);
    for (size_t i = 0; i < json_len(tags); i++) {
        jw_object_open(w);
        kv(w, "name", json_key_at(tags, i));
        kv(w, "value", json_string(json_at(tags, i)));
        jw_object_close(w);
    }
    jw_array_close(w);
    kv(w, "version", json_string(json_get(image, "version")));
    kv(w, "vmId", json_string(json_get(p, "vmId")));
    kv(w, "vmSize", json_string(json_get(json_get(p, "hardwareProfile"), "vmSize")));
    kv(w, "zone", json_string(json_at(json_get(r, "zones"), 0)));
    jw_object_close(w);
}

/* One interface: its addresses, its subnet, its MAC without dashes. */
static void write_interface(struct http_request *req, struct json_writer *w, const struct json *nic)
{
    const struct json *configs = json_get(json_get(nic, "properties"), "ipConfigurations");
    jw_object_open(w);
    jw_key(w, "ipv4");
    jw_object_open(w);
    jw_key(w, "ipAddress");
    jw_array_open(w);
    for (size_t i = 0; i < json_len(configs); i++) {
        const struct json *cp = json_get(json_at(configs, i), "properties");
        const struct json *pip =
            imds_load_resource(req, json_string(json_get(json_get(cp, "publicIPAddress"), "id")));
        jw_object_open(w);
        kv(w, "privateIpAddress", json_string(json_get(cp, "privateIPAddress")));
        kv(w, "publicIpAddress", json_string(json_get(json_get(pip, "properties"), "ipAddress")));
        jw_object_close(w);
    }
    jw_array_close(w);
    jw_key(w, "subnet");
    jw_array_open(w);
    for (size_t i = 0; i < json_len(configs); i++) {
        const struct json *cp = json_get(json_at(configs, i), "properties");
        const struct json *subnet =
            imds_load_resource(req, json_string(json_get(json_get(cp, "subnet"), "id")));
        const char *prefix = json_string(json_get(json_get(subnet, "properties"), "addressPrefix"));
        const char *slash = prefix ? strchr(prefix, '/') : NULL;
        if (!slash)
            continue;
        jw_object_open(w);
        kv(w, "address", arena_strndup(req->arena, prefix, (size_t)(slash - prefix)));
        kv(w, "prefix", slash + 1);
        jw_object_close(w);
    }
    jw_array_close(w);
    jw_object_close(w);
    jw_key(w, "ipv6");
    jw_object_open(w);
    jw_key(w, "ipAddress");
    jw_array_open(w);
    jw_array_close(w);
    jw_object_close(w);
    struct buf mac = {0};
    const char *dashed = json_string(json_get(json_get(nic, "properties"), "macAddress"));
    for (const char *c = dashed ? dashed : ""; *c; c++) {
        if (*c != '-')
            buf_putc(&mac, *c);
    }
    kv(w, "macAddress", mac.data);
    buf_free(&mac);
    jw_object_close(w);
}

static const struct json *instance_document(struct http_request *req, const struct imds_vm *vm)
{
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_key(w, "compute");
    write_compute(req, w, vm);
    jw_key(w, "network");
    jw_object_open(w);
    jw_key(w, "interface");
    jw_array_open(w);
    const struct json *nics = json_get(
        json_get(json_get(vm->resource, "properties"), "networkProfile"), "networkInterfaces");
    for (size_t i = 0; i < json_len(nics); i++) {
        const struct json *nic =
            imds_load_resource(req, json_string(json_get(json_at(nics, i), "id")));
        if (nic)
            write_interface(req, w, nic);
    }
    jw_array_close(w);
    jw_object_close(w);
    jw_object_close(w);
    size_t len;
    const char *text = json_writer_text(w, &len);
    const struct json *doc = json_parse_in(req->arena, text, len);
    json_writer_free(w);
    return doc;
}

/* Walk "compute/name" or "network/interface/0/macAddress" down the document. */
static const struct json *walk(struct http_request *req, const struct json *doc, const char *path)
{
    char *copy = arena_strdup(req->arena, path ? path : "");
    for (char *save = NULL, *seg = strtok_r(copy, "/", &save); seg && doc;
         seg = strtok_r(NULL, "/", &save)) {
        if (json_type(doc) == JSON_ARRAY) {
            char *end;
            long i = strtol(seg, &end, 10);
            doc = *end || i < 0 ? NULL : json_at(doc, (size_t)i);
        } else {
            doc = json_iget(doc, seg);
        }
    }
    return doc;
}

int imds_get_instance(struct http_request *req)
{
    if (check_request(req) != 0)
        return AZ_EREPLIED;
    struct imds_vm vm;
    if (imds_find_vm(req, true, &vm) != 0)
        return bad_request(req,
                           "This caller is bound to no VM: use the address of a VM's network "
                           "interface, or `azsim env --vm NAME`.",
                           false);
    const struct json *node = walk(req, instance_document(req, &vm), http_param(req, "path"));
    if (!node)
        return http_fail(req, 404, "NotFound", "Not found");
    /* A leaf is answered only as text; text of an object or array lists its members. */
    const char *format = http_query(req, "format");
    bool text = format && str_ieq(format, "text");
    bool leaf = json_type(node) != JSON_OBJECT && json_type(node) != JSON_ARRAY;
    if (format && !text && !str_ieq(format, "json"))
        return bad_request(req, "Query parameter format must be json or text.", false);
    if (leaf && !text)
        return bad_request(req, "Query parameter format=text is required for a leaf node.", false);
    if (text) {
        struct buf b = {0};
        if (leaf) {
            buf_puts(&b, json_string(node) ? json_string(node) : "");
        } else {
            for (size_t i = 0; i < json_len(node); i++) {
                const struct json *child = json_at(node, i);
                bool inner = json_type(child) == JSON_OBJECT || json_type(child) == JSON_ARRAY;
                if (json_type(node) == JSON_ARRAY)
                    buf_printf(&b, "%zu%s\n", i, inner ? "/" : "");
                else
                    buf_printf(&b, "%s%s\n", json_key_at(node, i), inner ? "/" : "");
            }
        }
        http_reply(req, 200, "text/plain; charset=utf-8", b.data ? b.data : "", b.len);
        buf_free(&b);
        return 0;
    }
    struct json_writer *w = json_writer_new();
    jw_value(w, node);
    http_reply_json(req, 200, w);
    json_writer_free(w);
    return 0;
}
