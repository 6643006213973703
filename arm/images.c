/*
 * arm/images.c — the platform (Marketplace) VM images `az vm create` and `az vm image` look up:
 * Microsoft.Compute's VirtualMachineImages operations (ListPublishers, ListOffers, ListSkus,
 * List, Get) and the image alias document az fetches from
 * https://raw.githubusercontent.com/Azure/azure-rest-api-specs/main/arm-compute/quickstart-templates/aliases.json
 * (contracts/azure-cli.md §2.1), served through the front door under that host name.
 *
 * Both come from one static catalog below, so an alias can never name an image the image
 * operations do not know. The aliases are those of the document around az 2.45 (early 2023):
 * the 2022 document's (UbuntuLTS, CentOS, Debian, …, Win2008R2SP1) and the then new ones
 * (Ubuntu2204, CentOS85Gen2, Debian11, …), each with "architecture": "x64".
 *
 * Wire shapes (specification/compute, VirtualMachineImages_*): lists are bare JSON arrays of
 * {location, name, id}; ids are spelled as Azure spells them ("/Subscriptions/…/Providers/
 * Microsoft.Compute/Locations/…/Publishers/…/ArtifactTypes/VMImage/Offers/…/Skus/…/Versions/…").
 * Names match case-insensitively. An unknown publisher, offer, sku or version is Azure's 404
 * NotFound ("Artifact: VMImage was not found."; "Publisher: X was not found." for a publisher's
 * offers); an unknown location is 400 NoRegisteredProviderFound. Versions honour $top and
 * $orderby=name desc (name asc otherwise), and $expand=properties adds each one's properties.
 *
 * api-versions: any (az hybrid sends 2020-06-01; the latest profile 2022-11-01).
 *
 * Not emulated: edge zones (VirtualMachineImagesEdgeZone_*), images with a purchase plan,
 * extension images, per-region differences (every location has the whole catalog), "latest"
 * as a version name (clients resolve it with $top=1&$orderby=name desc, as Azure wants).
 */
#include "arm/arm.h"

#include "common/error.h"
#include "common/frontdoor.h"
#include "common/json.h"
#include "common/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the catalog ---------------------------------------------------------------------------- */

struct vm_image {
    const char *publisher, *offer, *sku;
    const char *os;          /* "Linux" or "Windows" */
    const char *generation;  /* hyperVGeneration: "V1" or "V2" */
    const char *versions[3]; /* any order; the operations sort them */
    const char *aliases[2];  /* the names the alias document gives it */
};

static const struct vm_image images[] = {
    /* Linux, in the alias document's order. */
    {"OpenLogic", "CentOS", "7.5", "Linux", "V1", {"7.5.201808150"}, {"CentOS"}},
    {"OpenLogic",
     "CentOS",
     "8_5-gen2",
     "Linux",
     "V2",
     {"8.5.2022012100", "8.5.2022101800"},
     {"CentOS85Gen2"}},
    {"Debian",
     "debian-10",
     "10",
     "Linux",
     "V1",
     {"0.20221205.1220", "0.20230106.1250"},
     {"Debian"}},
    {"Debian",
     "debian-11",
     "11-backports-gen2",
     "Linux",
     "V2",
     {"0.20221219.1234", "0.20230124.1270"},
     {"Debian11"}},
    {"kinvolk",
     "flatcar-container-linux-free",
     "stable",
     "Linux",
     "V1",
     {"3374.2.1", "3374.2.3"},
     {"Flatcar"}},
    {"kinvolk",
     "flatcar-container-linux-free",
     "stable-gen2",
     "Linux",
     "V2",
     {"3374.2.1", "3374.2.3"},
     {"FlatcarLinuxFreeGen2"}},
    {"SUSE", "opensuse-leap-15-3", "gen2", "Linux", "V2", {"2022.11.04"}, {"openSUSE-Leap"}},
    {"SUSE",
     "openSUSE-leap-15-4",
     "gen2",
     "Linux",
     "V2",
     {"2022.12.06", "2023.01.19"},
     {"OpenSuseLeap154Gen2"}},
    {"RedHat", "RHEL", "7-LVM", "Linux", "V1", {"7.9.2022101001", "7.9.2023011710"}, {"RHEL"}},
    {"RedHat",
     "RHEL",
     "8-lvm-gen2",
     "Linux",
     "V2",
     {"8.7.2022112201", "8.7.2023011710"},
     {"RHELRaw8LVMGen2"}},
    {"SUSE", "sles-15-sp3", "gen2", "Linux", "V2", {"2022.11.09"}, {"SLES", "SuseSles15SP3"}},
    {"Canonical",
     "UbuntuServer",
     "18.04-LTS",
     "Linux",
     "V1",
     {"18.04.202212090", "18.04.202301100"},
     {"UbuntuLTS"}},
    {"Canonical",
     "0001-com-ubuntu-server-jammy",
     "22_04-lts-gen2",
     "Linux",
     "V2",
     {"22.04.202212140", "22.04.202301140"},
     {"Ubuntu2204"}},
    /* Windows. */
    {"MicrosoftWindowsServer",
     "WindowsServer",
     "2022-Datacenter",
     "Windows",
     "V1",
     {"20348.1366.221207", "20348.1487.230106"},
     {"Win2022Datacenter"}},
    {"MicrosoftWindowsServer",
     "WindowsServer",
     "2022-datacenter-azure-edition-core",
     "Windows",
     "V2",
     {"20348.1366.221207", "20348.1487.230106"},
     {"Win2022AzureEditionCore"}},
    {"MicrosoftWindowsServer",
     "WindowsServer",
     "2019-Datacenter",
     "Windows",
     "V1",
     {"17763.3770.221207", "17763.3887.230107"},
     {"Win2019Datacenter"}},
    {"MicrosoftWindowsServer",
     "WindowsServer",
     "2016-Datacenter",
     "Windows",
     "V1",
     {"14393.5582.221207", "14393.5648.230111"},
     {"Win2016Datacenter"}},
    {"MicrosoftWindowsServer",
     "WindowsServer",
     "2012-R2-Datacenter",
     "Windows",
     "V1",
     {"9600.20720.221207", "9600.20778.230111"},
     {"Win2012R2Datacenter"}},
    {"MicrosoftWindowsServer",
     "WindowsServer",
     "2012-Datacenter",
     "Windows",
     "V1",
     {"9200.24018.221207", "9200.24075.230107"},
     {"Win2012Datacenter"}},
    {"MicrosoftWindowsServer",
     "WindowsServer",
     "2008-R2-SP1",
     "Windows",
     "V1",
     {"7601.26221.221207", "7601.26321.230107"},
     {"Win2008R2SP1"}},
};

#define IMAGE_NOT_FOUND "Artifact: VMImage was not found."

/* ---- the alias document --------------------------------------------------------------------- */

#define ALIAS_HOST "raw.githubusercontent.com"

/* The host the request was sent to, without a port: the front door's CONNECT host, or the
 * Host header. */
static bool sent_to(const struct http_request *req, const char *host)
{
    const char *h = req->front_door ? req->front_door->host : req->host;
    size_t n = strlen(host);
    return h && strncasecmp(h, host, n) == 0 && (h[n] == '\0' || h[n] == ':');
}

int arm_refuse_alias_host(struct http_request *req)
{
    if (!sent_to(req, ALIAS_HOST))
        return 0;
    return http_fail(req, 404, "NotFound",
                     "No HTTP resource was found that matches the request URI.");
}

static void write_alias_group(struct json_writer *w, const char *os)
{
    jw_key(w, os);
    jw_object_open(w);
    for (size_t i = 0; i < ARRAY_SIZE(images); i++) {
        const struct vm_image *im = &images[i];
        if (strcmp(im->os, os) != 0)
            continue;
        for (size_t a = 0; a < ARRAY_SIZE(im->aliases) && im->aliases[a]; a++) {
            jw_key(w, im->aliases[a]);
            jw_object_open(w);
            jw_kv_string(w, "publisher", im->publisher);
            jw_kv_string(w, "offer", im->offer);
            jw_kv_string(w, "sku", im->sku);
            jw_kv_string(w, "version", "latest");
            jw_kv_string(w, "architecture", "x64");
            jw_object_close(w);
        }
    }
    jw_object_close(w);
}

/*
 * GET raw.githubusercontent.com/Azure/azure-rest-api-specs/main/arm-compute/quickstart-templates/
 * aliases.json, no authentication, as text/plain like GitHub's raw host. Also answered on
 * azsim's own ARM listener (a custom cloud's vmImageAliasDoc may point there), but not under
 * Azure's management host names, which have no such file.
 */
int arm_get_image_aliases(struct http_request *req)
{
    if (req->front_door && !sent_to(req, ALIAS_HOST))
        return http_fail(req, 404, "NotFound",
                         "No HTTP resource was found that matches the request URI.");
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    jw_kv_string(w, "$schema",
                 "http://schema.management.azure.com/schemas/2015-01-01/deploymentTemplate.json");
    jw_kv_string(w, "contentVersion", "1.0.0.0");
    jw_key(w, "parameters");
    jw_object_open(w);
    jw_object_close(w);
    jw_key(w, "variables");
    jw_object_open(w);
    jw_object_close(w);
    jw_key(w, "resources");
    jw_array_open(w);
    jw_array_close(w);
    jw_key(w, "outputs");
    jw_object_open(w);
    jw_key(w, "aliases");
    jw_object_open(w);
    jw_kv_string(w, "type", "object");
    jw_key(w, "value");
    jw_object_open(w);
    write_alias_group(w, "Linux");
    write_alias_group(w, "Windows");
    jw_object_close(w);
    jw_object_close(w);
    jw_object_close(w);
    jw_object_close(w);
    size_t len;
    const char *text = json_writer_text(w, &len);
    int rc = http_reply(req, 200, "text/plain; charset=utf-8", text, len);
    json_writer_free(w);
    return rc;
}

/* ---- the image operations ------------------------------------------------------------------- */

/* The request's {location}, lower-cased without spaces ("West US" → "westus"), or NULL after
 * failing the request as ARM does for a region no provider serves. */
static const char *image_location(struct http_request *req)
{
    const char *given = http_param(req, "location");
    char *loc = arena_alloc(req->arena, strlen(given) + 1);
    size_t o = 0;
    for (const char *p = given; *p; p++) {
        if (*p != ' ')
            loc[o++] = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
    }
    loc[o] = '\0';
    if (arm_location_known(loc))
        return loc;
    http_fail(req, 400, "NoRegisteredProviderFound",
              "No registered resource provider found for location '%s' and API version '%s' for "
              "type 'locations/publishers'. The supported api-versions are '2022-11-01, "
              "2022-08-01, 2021-11-01, 2020-06-01'. The supported locations are '%s'.",
              given, http_query(req, "api-version"), arm_location_names(req));
    return NULL;
}

/* How far down the path a catalog entry matches the request's parameters. */
enum depth { BY_PUBLISHER, BY_OFFER, BY_SKU };

static bool image_matches(struct http_request *req, const struct vm_image *im, enum depth d)
{
    if (!str_ieq(im->publisher, http_param(req, "publisherName")))
        return false;
    if (d >= BY_OFFER && !str_ieq(im->offer, http_param(req, "offer")))
        return false;
    return d < BY_SKU || str_ieq(im->sku, http_param(req, "skus"));
}

/* The id prefix every image id of this request starts with, as Azure spells it. */
static const char *location_id(struct http_request *req, const char *location)
{
    return arena_printf(req->arena, "/Subscriptions/%s/Providers/Microsoft.Compute/Locations/%s",
                        http_param(req, "subscriptionId"), location);
}

static const char *publisher_id(struct http_request *req, const char *location,
                                const struct vm_image *im)
{
    return arena_printf(req->arena, "%s/Publishers/%s", location_id(req, location), im->publisher);
}

static const char *offer_id(struct http_request *req, const char *location,
                            const struct vm_image *im)
{
    return arena_printf(req->arena, "%s/ArtifactTypes/VMImage/Offers/%s",
                        publisher_id(req, location, im), im->offer);
}

static const char *sku_id(struct http_request *req, const char *location, const struct vm_image *im)
{
    return arena_printf(req->arena, "%s/Skus/%s", offer_id(req, location, im), im->sku);
}

static void write_entry(struct json_writer *w, const char *location, const char *name,
                        const char *id)
{
    jw_object_open(w);
    jw_kv_string(w, "location", location);
    jw_kv_string(w, "name", name);
    jw_kv_string(w, "id", id);
    jw_object_close(w);
}

/* Has an earlier catalog entry already listed this name at this depth? */
static bool listed_before(size_t i, enum depth d)
{
    const struct vm_image *im = &images[i];
    for (size_t k = 0; k < i; k++) {
        const struct vm_image *p = &images[k];
        bool same = str_ieq(p->publisher, im->publisher);
        if (d >= BY_OFFER)
            same = same && str_ieq(p->offer, im->offer);
        if (d >= BY_SKU)
            same = same && str_ieq(p->sku, im->sku);
        if (same)
            return true;
    }
    return false;
}

/* GET …/locations/{location}/publishers */
int arm_list_image_publishers(struct http_request *req)
{
    const char *location = image_location(req);
    if (!location)
        return AZ_EREPLIED;
    struct json_writer *w = json_writer_new();
    jw_array_open(w);
    for (size_t i = 0; i < ARRAY_SIZE(images); i++) {
        if (!listed_before(i, BY_PUBLISHER))
            write_entry(w, location, images[i].publisher, publisher_id(req, location, &images[i]));
    }
    jw_array_close(w);
    return arm_reply(req, 200, w);
}

/* The distinct names one level below `within` — a publisher's offers, an offer's skus — or a
 * 404 NotFound with `missing` when the request names nothing in the catalog. */
static int list_below(struct http_request *req, enum depth within, const char *missing)
{
    const char *location = image_location(req);
    if (!location)
        return AZ_EREPLIED;
    struct json_writer *w = json_writer_new();
    jw_array_open(w);
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_SIZE(images); i++) {
        const struct vm_image *im = &images[i];
        if (!image_matches(req, im, within) || listed_before(i, within + 1))
            continue;
        if (within == BY_PUBLISHER)
            write_entry(w, location, im->offer, offer_id(req, location, im));
        else
            write_entry(w, location, im->sku, sku_id(req, location, im));
        n++;
    }
    jw_array_close(w);
    if (n == 0) {
        json_writer_free(w);
        return http_fail(req, 404, "NotFound", "%s", missing);
    }
    return arm_reply(req, 200, w);
}

/* GET …/publishers/{publisherName}/artifacttypes/vmimage/offers */
int arm_list_image_offers(struct http_request *req)
{
    return list_below(
        req, BY_PUBLISHER,
        arena_printf(req->arena, "Publisher: %s was not found.", http_param(req, "publisherName")));
}

/* GET …/offers/{offer}/skus */
int arm_list_image_skus(struct http_request *req)
{
    return list_below(req, BY_OFFER, IMAGE_NOT_FOUND);
}

/* The catalog entry the request's publisher, offer and sku name, or NULL after failing it. */
static const struct vm_image *find_sku(struct http_request *req)
{
    for (size_t i = 0; i < ARRAY_SIZE(images); i++) {
        if (image_matches(req, &images[i], BY_SKU))
            return &images[i];
    }
    http_fail(req, 404, "NotFound", IMAGE_NOT_FOUND);
    return NULL;
}

/* Version names compared as Azure orders them: dot-separated numbers, each numerically. */
static int version_cmp(const char *a, const char *b)
{
    while (*a && *b) {
        char *ea, *eb;
        unsigned long long x = strtoull(a, &ea, 10), y = strtoull(b, &eb, 10);
        if (ea == a || eb == b)
            return strcmp(a, b);
        if (x != y)
            return x < y ? -1 : 1;
        a = ea + (*ea == '.');
        b = eb + (*eb == '.');
    }
    return (*a != '\0') - (*b != '\0');
}

static void write_image_properties(struct json_writer *w, const struct vm_image *im)
{
    bool v2 = strcmp(im->generation, "V2") == 0;
    jw_key(w, "properties");
    jw_object_open(w);
    jw_kv_string(w, "hyperVGeneration", im->generation);
    jw_kv_string(w, "architecture", "x64");
    jw_kv_string(w, "replicaType", "Unmanaged");
    jw_key(w, "disallowed");
    jw_object_open(w);
    jw_kv_string(w, "vmDiskType", "Unmanaged");
    jw_object_close(w);
    jw_key(w, "automaticOSUpgradeProperties");
    jw_object_open(w);
    jw_kv_bool(w, "automaticOSUpgradeSupported", strcmp(im->os, "Windows") == 0);
    jw_object_close(w);
    jw_key(w, "imageDeprecationStatus");
    jw_object_open(w);
    jw_kv_string(w, "imageState", "Active");
    jw_object_close(w);
    jw_key(w, "features");
    jw_array_open(w);
    if (v2) {
        jw_object_open(w);
        jw_kv_string(w, "name", "SecurityType");
        jw_kv_string(w, "value", "TrustedLaunchSupported");
        jw_object_close(w);
    }
    jw_object_open(w);
    jw_kv_string(w, "name", "IsAcceleratedNetworkSupported");
    jw_kv_string(w, "value", "True");
    jw_object_close(w);
    jw_array_close(w);
    jw_key(w, "osDiskImage");
    jw_object_open(w);
    jw_kv_string(w, "operatingSystem", im->os);
    jw_object_close(w);
    jw_key(w, "dataDiskImages");
    jw_array_open(w);
    jw_array_close(w);
    jw_object_close(w);
}

/* GET …/skus/{skus}/versions?$top=N&$orderby=name desc&$expand=properties: a bare array. */
int arm_list_images(struct http_request *req)
{
    const char *location = image_location(req);
    if (!location)
        return AZ_EREPLIED;
    const struct vm_image *im = find_sku(req);
    if (!im)
        return AZ_EREPLIED;
    const char *top_text = http_query(req, "$top");
    long top = -1;
    if (top_text) {
        char *end;
        errno = 0;
        top = strtol(top_text, &end, 10);
        if (errno || end == top_text || *end || top < 0)
            return http_fail(req, 400, "InvalidParameter",
                             "The value '%s' of parameter '$top' is invalid: it must be a "
                             "non-negative integer.",
                             top_text);
    }
    const char *orderby = http_query(req, "$orderby");
    bool desc = orderby && strcasestr(orderby, "desc");
    const char *expand_text = http_query(req, "$expand");
    bool expand = expand_text && str_ieq(expand_text, "properties");

    const char *sorted[ARRAY_SIZE(im->versions)];
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_SIZE(im->versions) && im->versions[i]; i++) {
        size_t at = n++;
        for (; at > 0 && version_cmp(sorted[at - 1], im->versions[i]) * (desc ? -1 : 1) > 0; at--)
            sorted[at] = sorted[at - 1];
        sorted[at] = im->versions[i];
    }
    struct json_writer *w = json_writer_new();
    jw_array_open(w);
    for (size_t i = 0; i < n && (top < 0 || (long)i < top); i++) {
        jw_object_open(w);
        if (expand)
            write_image_properties(w, im);
        jw_kv_string(w, "location", location);
        jw_kv_string(w, "name", sorted[i]);
        jw_kv_string(
            w, "id",
            arena_printf(req->arena, "%s/Versions/%s", sku_id(req, location, im), sorted[i]));
        jw_object_close(w);
    }
    jw_array_close(w);
    return arm_reply(req, 200, w);
}

/* GET …/skus/{skus}/versions/{version} */
int arm_get_image(struct http_request *req)
{
    const char *location = image_location(req);
    if (!location)
        return AZ_EREPLIED;
    const struct vm_image *im = find_sku(req);
    if (!im)
        return AZ_EREPLIED;
    const char *version = http_param(req, "version");
    const char *found = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(im->versions) && im->versions[i]; i++) {
        if (str_ieq(im->versions[i], version))
            found = im->versions[i];
    }
    if (!found)
        return http_fail(req, 404, "NotFound", IMAGE_NOT_FOUND);
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    write_image_properties(w, im);
    jw_kv_string(w, "location", location);
    jw_kv_string(w, "name", found);
    jw_kv_string(w, "id",
                 arena_printf(req->arena, "%s/Versions/%s", sku_id(req, location, im), found));
    jw_object_close(w);
    return arm_reply(req, 200, w);
}
