/*
 * storage/blobs.c — the Blob service's operations: containers (create, delete, properties,
 * metadata, list) and block blobs (put in one shot, or staged blocks and a committed block list;
 * get whole or a range; properties; metadata; delete; list with prefix, delimiter and markers),
 * with ETags, conditional requests and leases (leases.c); and copies within the account.
 *
 * Content up to BLOB_INLINE_MAX uploaded in one PUT lives in the blob's row: a small write is one
 * row committed, a small read one row read. Larger content, and content committed from blocks,
 * lives in files under <data-dir>/blobs, written whole before the row naming them is committed,
 * so an acknowledged write survives a crash, and sent back from the file as the client takes it
 * (http_reply_file), so a download's size does not show in memory. Uploads in one PUT are
 * committed in groups, one transaction for those a thread reads in a turn of its event loop, and
 * answered once it has committed (commit_turn). Each operation is authorized first (storage.c):
 * containers by the ARM actions …/blobServices/containers/read|write|delete, blobs by the data
 * actions …/containers/blobs/read|write|delete.
 */
#include "storage/storage.h"
#include "storage/xml.h"

#include "common/error.h"
#include "common/json.h"
#include "common/server.h"
#include "common/store.h"
#include "common/util.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define BLOBS "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"
#define CONTAINERS "Microsoft.Storage/storageAccounts/blobServices/containers"
#define PAGE_MAX 5000
#define COPY_CHUNK (1 << 20)
/* The largest content kept in the row: a few pages of the store, read with the row. */
#define BLOB_INLINE_MAX (64 * 1024)

/* HTTP headers that are a blob's properties, and their stored names. */
static const char *const blob_headers[][2] = {
    {"x-ms-blob-content-type", "Content-Type"},
    {"x-ms-blob-content-encoding", "Content-Encoding"},
    {"x-ms-blob-content-language", "Content-Language"},
    {"x-ms-blob-content-disposition", "Content-Disposition"},
    {"x-ms-blob-cache-control", "Cache-Control"},
};

/* ---- small helpers ---------------------------------------------------------------- */

int blob_fail_store(struct http_request *req)
{
    return http_fail(req, 500, "InternalError",
                     "The server encountered an internal error. Please retry the request.");
}

/* A fresh ETag in Storage's form, "0x8D…". */
const char *blob_new_etag(struct http_request *req)
{
    unsigned char r[7];
    random_bytes(r, sizeof(r));
    return arena_printf(req->arena, "\"0x8D%02X%02X%02X%02X%02X%02X%X\"", r[0], r[1], r[2], r[3],
                        r[4], r[5], r[6] & 0xf);
}

const char *blob_http_date(struct http_request *req, int64_t ms)
{
    char *out = arena_alloc(req->arena, 40);
    clock_format_http(ms, out, 40);
    return out;
}

/* x-ms-meta-* request headers as a JSON object (names as sent, lower-cased by HTTP/2 clients). */
static const char *metadata_of(struct http_request *req)
{
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    for (size_t i = 0; i < req->headers.len; i++) {
        if (str_has_iprefix(req->headers.items[i].name, "x-ms-meta-"))
            jw_kv_string(w, req->headers.items[i].name + strlen("x-ms-meta-"),
                         req->headers.items[i].value);
    }
    jw_object_close(w);
    const char *text = arena_strdup(req->arena, json_writer_text(w, NULL));
    json_writer_free(w);
    return text;
}

static void set_metadata_headers(struct http_request *req, const char *metadata)
{
    const struct json *m = json_parse_in(req->arena, metadata, strlen(metadata));
    for (size_t i = 0; i < json_len(m); i++)
        http_set_header(req, arena_printf(req->arena, "x-ms-meta-%s", json_key_at(m, i)),
                        json_string(json_at(m, i)));
}

/* The directory of blob content, made on first use. */
static const char *content_dir(struct http_request *req)
{
    const char *dir = arena_printf(
        req->arena, "%s/blobs", req->server && req->server->data_dir ? req->server->data_dir : ".");
    mkdir(dir, 0700);
    return dir;
}

/* The request body as pieces: those the server left it in, or the flat body as one. */
static size_t body_pieces(struct http_request *req, const struct http_body_piece **out)
{
    if (!req->body) {
        *out = req->body_pieces;
        return req->body_npieces;
    }
    struct http_body_piece *whole = arena_alloc(req->arena, sizeof(*whole));
    *whole = (struct http_body_piece){req->body, req->body_len};
    *out = whole;
    return 1;
}

/* Write `len` bytes at `data` to `fd`: false on an error. */
static bool write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        data += n;
        len -= (size_t)n;
    }
    return true;
}

/* Write the pieces to `fd`, many to a system call: false on an error. */
static bool write_pieces(int fd, const struct http_body_piece *p, size_t n)
{
    struct iovec v[64];
    while (n > 0) {
        size_t k = n < ARRAY_SIZE(v) ? n : ARRAY_SIZE(v);
        for (size_t i = 0; i < k; i++)
            v[i] = (struct iovec){(void *)p[i].data, p[i].len};
        ssize_t got = writev(fd, v, (int)k);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return false;
        /* Past what went whole; a piece cut short is finished on its own. */
        size_t done = (size_t)got, i = 0;
        for (; i < k && done >= p[i].len; i++)
            done -= p[i].len;
        if (i < k && !write_all(fd, p[i].data + done, p[i].len - done))
            return false;
        if (i < k)
            i++;
        p += i;
        n -= i;
    }
    return true;
}

/* A new, empty content file for writing, private to azsim: its descriptor (or -1), its name
 * (what a blob row keeps) and its path. */
static int new_content_file(struct http_request *req, const char **name, const char **path)
{
    char id[37];
    uuid_v4(id);
    *name = arena_strdup(req->arena, id);
    *path = arena_printf(req->arena, "%s/%s", content_dir(req), *name);
    return open(*path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
}

/*
 * Write the request body to a new content file; its name (relative to content_dir) or NULL.
 * Content is not fsynced, as the store's commits are not (WAL, synchronous=NORMAL): what was
 * acknowledged survives azsim being killed, not the machine losing power — the trade every local
 * emulator makes, and what lets a PUT cost a write instead of a disk flush.
 */
static const char *write_body(struct http_request *req)
{
    const char *name, *path;
    int fd = new_content_file(req, &name, &path);
    if (fd < 0)
        return NULL;
    const struct http_body_piece *pieces;
    size_t n = body_pieces(req, &pieces);
    bool ok = write_pieces(fd, pieces, n);
    if (close(fd) != 0 || !ok) {
        unlink(path);
        return NULL;
    }
    return name;
}

static void remove_content(struct http_request *req, const char *file)
{
    if (file)
        unlink(arena_printf(req->arena, "%s/%s", content_dir(req), file));
}

/* The request body's MD5, in base64 as Content-MD5 carries it. */
static const char *body_md5(struct http_request *req)
{
    const struct http_body_piece *pieces;
    size_t n = body_pieces(req, &pieces);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
    for (size_t i = 0; i < n; i++)
        EVP_DigestUpdate(ctx, pieces[i].data, pieces[i].len);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    return base64_encode(req->arena, md, len);
}

/* A listing's <Metadata> from a row's stored metadata. */
static void xml_metadata(struct http_request *req, struct buf *x, const char *stored)
{
    const struct json *m = json_parse_in(req->arena, stored, strlen(stored));
    buf_puts(x, "<Metadata>");
    for (size_t i = 0; i < json_len(m); i++)
        xml_element(x, json_key_at(m, i), json_string(json_at(m, i)));
    buf_puts(x, "</Metadata>");
}

/* Close a listing's `list` element and the document, with the marker of the next page, and
 * reply with it. */
static int end_listing(struct http_request *req, struct buf *x, const char *list, const char *next)
{
    buf_printf(x, "</%s>", list);
    if (next)
        xml_element(x, "NextMarker", next);
    else
        buf_puts(x, "<NextMarker />");
    buf_puts(x, "</EnumerationResults>");
    http_reply(req, 200, "application/xml", x->data, x->len);
    buf_free(x);
    return 0;
}

/* ---- containers ------------------------------------------------------------------- */

int blob_container_access(struct http_request *req, const char **access)
{
    const struct blob_request *b = blob_request(req);
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT public_access FROM blob_containers WHERE account = ?1 AND name = ?2",
                      &st) != 0)
        return AZ_ESTORE;
    store_bind_text(st, 1, b->account);
    store_bind_text(st, 2, b->container);
    int rc = store_step(st);
    if (rc == 1)
        *access = arena_strdup(req->arena, store_column_text(st, 0));
    store_finalize(st);
    return rc == 1 ? 0 : rc == 0 ? AZ_ENOTFOUND : AZ_ESTORE;
}

int blob_fail_no_container(struct http_request *req)
{
    return http_fail(req, 404, "ContainerNotFound", "The specified container does not exist.");
}

int blob_public_access(struct http_request *req, const char **access)
{
    *access = http_header(req, "x-ms-blob-public-access");
    if (*access && !(str_ieq(*access, "blob") || str_ieq(*access, "container")))
        return http_fail(req, 400, "InvalidHeaderValue",
                         "The value for one of the HTTP headers is not in the correct format.");
    if (*access && !blob_request(req)->allow_public)
        return http_fail(req, 409, "PublicAccessNotPermitted",
                         "Public access is not permitted on this storage account.");
    return 0;
}

/* Container names: 3-63 lower-case letters, digits and single dashes, a letter or digit first. */
bool blob_container_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n < 3 || n > 63 || name[0] == '-' || name[n - 1] == '-' || strstr(name, "--"))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
              name[i] == '-'))
            return false;
    }
    return true;
}

int blob_create_container(struct http_request *req)
{
    const struct blob_request *b = blob_request(req);
    if (blob_authorize(req, false, CONTAINERS "/write", false) != 0)
        return AZ_EREPLIED;
    if (!blob_container_name_valid(b->container))
        return http_fail(req, 400, "InvalidResourceName",
                         "The specifed resource name contains invalid characters.");
    const char *access;
    if (blob_public_access(req, &access) != 0)
        return AZ_EREPLIED;
    const char *etag = blob_new_etag(req);
    int64_t now = clock_now_ms();
    int rc = store_run(req->store,
                       "INSERT INTO blob_containers(account, name, public_access, metadata, etag, "
                       "modified) VALUES(?1, ?2, lower(?3), ?4, ?5, ?6)",
                       "sssssi", b->account, b->container, access, metadata_of(req), etag, now);
    if (rc == AZ_EEXIST)
        return http_fail(req, 409, "ContainerAlreadyExists",
                         "The specified container already exists.");
    if (rc != 0)
        return blob_fail_store(req);
    http_set_header(req, "ETag", etag);
    http_set_header(req, "Last-Modified", blob_http_date(req, now));
    return http_reply(req, 201, NULL, "", 0);
}

int blob_delete_container(struct http_request *req)
{
    const struct blob_request *b = blob_request(req);
    if (blob_authorize(req, false, CONTAINERS "/delete", false) != 0)
        return AZ_EREPLIED;
    const char *access;
    int rc = blob_container_access(req, &access);
    if (rc == AZ_ENOTFOUND)
        return blob_fail_no_container(req);
    if (rc == 0 && blob_lease_check(req) != 0)
        return AZ_EREPLIED;
    if (rc == 0)
        rc = blob_remove_container(req->store, req->server ? req->server->data_dir : NULL,
                                   b->account, b->container);
    if (rc == AZ_ENOTFOUND)
        return blob_fail_no_container(req);
    if (rc != 0)
        return blob_fail_store(req);
    return http_reply(req, 202, NULL, "", 0);
}

/* The rows of an account's blobs and blocks (of one container, or of all when `container` is
 * NULL) and of its containers. */
static int remove_rows(struct store *s, const char *account, const char *container)
{
    static const char *const deletes[] = {
        "DELETE FROM blobs WHERE account = ?1 AND (?2 IS NULL OR container = ?2)",
        "DELETE FROM blob_blocks WHERE account = ?1 AND (?2 IS NULL OR container = ?2)",
        "DELETE FROM blob_containers WHERE account = ?1 AND (?2 IS NULL OR name = ?2)",
    };
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < ARRAY_SIZE(deletes); i++)
        rc = store_run(s, deletes[i], "ss", account, container);
    return rc;
}

int blob_remove_container(struct store *s, const char *data_dir, const char *account,
                          const char *container)
{
    /* The rows first, in one transaction; then the files they named. A crash between leaves
     * files nothing names, which the next start sweeps away (blob_sweep_content). */
    struct store_stmt *st;
    if (store_prepare(s,
                      "SELECT file FROM blobs WHERE account = ?1 AND container = ?2 AND "
                      "file IS NOT NULL UNION ALL SELECT file FROM blob_blocks WHERE "
                      "account = ?1 AND container = ?2",
                      &st) != 0)
        return AZ_ESTORE;
    store_bind_text(st, 1, account);
    store_bind_text(st, 2, container);
    struct buf files = {0}; /* NUL-separated names */
    while (store_step(st) == 1)
        buf_append(&files, store_column_text(st, 0), strlen(store_column_text(st, 0)) + 1);
    store_finalize(st);
    int rc = store_begin(s);
    if (rc == 0)
        rc = remove_rows(s, account, container);
    if (rc == 0 && store_changes(s) == 0)
        rc = AZ_ENOTFOUND;
    if (rc == 0)
        rc = store_commit(s);
    if (rc != 0)
        store_rollback(s);
    for (size_t at = 0; rc == 0 && at < files.len; at += strlen(files.data + at) + 1) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/blobs/%s", data_dir ? data_dir : ".", files.data + at);
        unlink(path);
    }
    buf_free(&files);
    return rc;
}

int blob_remove_account(struct store *s, const char *account)
{
    return remove_rows(s, account, NULL);
}

int blob_sweep_content(struct store *s, const char *data_dir)
{
    char dir_path[PATH_MAX];
    snprintf(dir_path, sizeof(dir_path), "%s/blobs", data_dir);
    DIR *dir = opendir(dir_path);
    if (!dir)
        return 0; /* no blob was ever stored */
    struct store_stmt *st;
    if (store_prepare(s,
                      "SELECT 1 FROM blobs WHERE file = ?1 UNION ALL "
                      "SELECT 1 FROM blob_blocks WHERE file = ?1 LIMIT 1",
                      &st) != 0) {
        closedir(dir);
        return AZ_ESTORE;
    }
    int removed = 0;
    for (struct dirent *e; (e = readdir(dir));) {
        if (e->d_name[0] == '.')
            continue;
        store_reset(st);
        store_bind_text(st, 1, e->d_name);
        if (store_step(st) == 0)
            removed += unlinkat(dirfd(dir), e->d_name, 0) == 0;
    }
    store_finalize(st);
    closedir(dir);
    return removed;
}

int blob_get_container(struct http_request *req)
{
    const struct blob_request *b = blob_request(req);
    if (blob_authorize(req, false, CONTAINERS "/read", false) != 0)
        return AZ_EREPLIED;
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT public_access, metadata, etag, modified, lease_id, "
                      "coalesce(lease_duration, -1), coalesce(lease_ends, 0), lease_broken FROM "
                      "blob_containers WHERE account = ?1 AND name = ?2",
                      &st) != 0)
        return blob_fail_store(req);
    store_bind_text(st, 1, b->account);
    store_bind_text(st, 2, b->container);
    if (store_step(st) != 1) {
        store_finalize(st);
        return blob_fail_no_container(req);
    }
    if (store_column_text(st, 0))
        http_set_header(req, "x-ms-blob-public-access", store_column_text(st, 0));
    set_metadata_headers(req, store_column_text(st, 1));
    http_set_header(req, "ETag", store_column_text(st, 2));
    http_set_header(req, "Last-Modified", blob_http_date(req, store_column_int64(st, 3)));
    blob_lease_headers(req, store_column_text(st, 4), store_column_int64(st, 5),
                       store_column_int64(st, 6), store_column_int64(st, 7) != 0);
    store_finalize(st);
    http_set_header(req, "x-ms-has-immutability-policy", "false");
    http_set_header(req, "x-ms-has-legal-hold", "false");
    return http_reply(req, 200, NULL, "", 0);
}

int blob_set_container_metadata(struct http_request *req)
{
    const struct blob_request *b = blob_request(req);
    if (blob_authorize(req, false, CONTAINERS "/write", false) != 0 || blob_lease_check(req) != 0)
        return AZ_EREPLIED;
    const char *etag = blob_new_etag(req);
    int64_t now = clock_now_ms();
    if (store_run(req->store,
                  "UPDATE blob_containers SET metadata = ?3, etag = ?4, modified = ?5 WHERE "
                  "account = ?1 AND name = ?2",
                  "ssssi", b->account, b->container, metadata_of(req), etag, now) != 0)
        return blob_fail_store(req);
    if (store_changes(req->store) == 0)
        return blob_fail_no_container(req);
    http_set_header(req, "ETag", etag);
    http_set_header(req, "Last-Modified", blob_http_date(req, now));
    return http_reply(req, 200, NULL, "", 0);
}

/* The page size and marker of a listing. */
static long page_size(struct http_request *req)
{
    const char *max = http_query(req, "maxresults");
    long n = max ? strtol(max, NULL, 10) : PAGE_MAX;
    return n < 1 || n > PAGE_MAX ? PAGE_MAX : n;
}

int blob_list_containers(struct http_request *req)
{
    const struct blob_request *b = blob_request(req);
    if (blob_authorize(req, false, CONTAINERS "/read", false) != 0)
        return AZ_EREPLIED;
    const char *prefix = http_query(req, "prefix");
    const char *marker = http_query(req, "marker");
    long max = page_size(req);
    bool with_metadata =
        http_query(req, "include") && strstr(http_query(req, "include"), "metadata");
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT name, public_access, metadata, etag, modified, lease_id, "
                      "coalesce(lease_duration, -1), coalesce(lease_ends, 0), lease_broken FROM "
                      "blob_containers WHERE account = ?1 AND name >= ?2 AND "
                      "substr(name, 1, length(?3)) = ?3 ORDER BY name LIMIT ?4",
                      &st) != 0)
        return blob_fail_store(req);
    store_bind_text(st, 1, b->account);
    store_bind_text(st, 2, marker ? marker : "");
    store_bind_text(st, 3, prefix ? prefix : "");
    store_bind_int64(st, 4, max + 1);
    struct buf x = {0};
    buf_puts(&x, "\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults "
                 "ServiceEndpoint=\"");
    xml_text(&x, arena_printf(req->arena, "%s/", b->endpoint));
    buf_puts(&x, "\">");
    if (prefix)
        xml_element(&x, "Prefix", prefix);
    if (marker)
        xml_element(&x, "Marker", marker);
    if (http_query(req, "maxresults"))
        buf_printf(&x, "<MaxResults>%ld</MaxResults>", max);
    buf_puts(&x, "<Containers>");
    long n = 0;
    const char *next = NULL;
    while (store_step(st) == 1) {
        if (n++ == max) {
            next = arena_strdup(req->arena, store_column_text(st, 0));
            break;
        }
        buf_puts(&x, "<Container>");
        xml_element(&x, "Name", store_column_text(st, 0));
        buf_puts(&x, "<Properties>");
        xml_element(&x, "Last-Modified", blob_http_date(req, store_column_int64(st, 4)));
        xml_element(&x, "Etag", store_column_text(st, 3));
        blob_lease_xml(&x, store_column_text(st, 5), store_column_int64(st, 6),
                       store_column_int64(st, 7), store_column_int64(st, 8) != 0);
        if (store_column_text(st, 1))
            xml_element(&x, "PublicAccess", store_column_text(st, 1));
        buf_puts(&x, "<HasImmutabilityPolicy>false</HasImmutabilityPolicy>"
                     "<HasLegalHold>false</HasLegalHold></Properties>");
        if (with_metadata)
            xml_metadata(req, &x, store_column_text(st, 2));
        buf_puts(&x, "</Container>");
    }
    store_finalize(st);
    return end_listing(req, &x, "Containers", next);
}

/* ---- blobs ------------------------------------------------------------------------ */

struct blob_row {
    const char *file; /* NULL when the content is inline */
    const char *md5, *properties, *metadata, *etag, *lease_id;
    int64_t size, created, modified, lease_duration, lease_ends;
    bool lease_broken;
    const void *content; /* inline content, when asked for (find_blob) */
};

/* What find_blob reads: the row, the row with its inline content, or (for a write) the row if
 * there is one in a container that must exist. */
enum blob_lookup { BLOB_ROW, BLOB_CONTENT, BLOB_IN_CONTAINER };

#define BLOB_COLUMNS                                                                               \
    "b.file, b.md5, b.properties, b.metadata, b.etag, b.size, b.created, b.modified, "             \
    "b.lease_id, coalesce(b.lease_duration, -1), coalesce(b.lease_ends, 0), b.lease_broken"
#define BLOB_KEY "b.account = ?1 AND b.container = ?2 AND b.name = ?3"

static const char *const lookup_sql[] = {
    [BLOB_ROW] = "SELECT " BLOB_COLUMNS " FROM blobs b WHERE " BLOB_KEY,
    [BLOB_CONTENT] = "SELECT " BLOB_COLUMNS ", b.content FROM blobs b WHERE " BLOB_KEY,
    /* One read for both of a write's lookups: no row without the container, a row of NULLs
     * without the blob. */
    [BLOB_IN_CONTAINER] = "SELECT " BLOB_COLUMNS ", b.etag IS NOT NULL FROM blob_containers c "
                          "LEFT JOIN blobs b ON " BLOB_KEY " WHERE c.account = ?1 AND c.name = ?2",
};

/* The request's blob: 0, AZ_ENOTFOUND or AZ_ESTORE. BLOB_CONTENT reads inline content too
 * (copied to the arena), in the same statement as the row it belongs to. BLOB_IN_CONTAINER
 * answers AZ_ENOTFOUND only when the container is missing, and tells in *exists whether the
 * blob is there. */
static int find_blob(struct http_request *req, struct blob_row *out, enum blob_lookup lookup,
                     bool *exists)
{
    const struct blob_request *b = blob_request(req);
    struct store_stmt *st;
    if (store_prepare(req->store, lookup_sql[lookup], &st) != 0)
        return AZ_ESTORE;
    store_bind_text(st, 1, b->account);
    store_bind_text(st, 2, b->container);
    store_bind_text(st, 3, b->blob);
    int rc = store_step(st);
    bool found = rc == 1 && (lookup != BLOB_IN_CONTAINER || store_column_int64(st, 12) != 0);
    if (exists)
        *exists = found;
    if (found) {
        out->file = arena_strdup(req->arena, store_column_text(st, 0));
        out->md5 = arena_strdup(req->arena, store_column_text(st, 1));
        out->properties = arena_strdup(req->arena, store_column_text(st, 2));
        out->metadata = arena_strdup(req->arena, store_column_text(st, 3));
        out->etag = arena_strdup(req->arena, store_column_text(st, 4));
        out->size = store_column_int64(st, 5);
        out->created = store_column_int64(st, 6);
        out->modified = store_column_int64(st, 7);
        out->lease_id = arena_strdup(req->arena, store_column_text(st, 8));
        out->lease_duration = store_column_int64(st, 9);
        out->lease_ends = store_column_int64(st, 10);
        out->lease_broken = store_column_int64(st, 11) != 0;
        out->content = NULL;
        if (lookup == BLOB_CONTENT && !out->file) {
            size_t n;
            const void *data = store_column_blob(st, 12, &n);
            void *copy = arena_alloc(req->arena, n);
            if (n)
                memcpy(copy, data, n);
            out->content = copy;
            out->size = (int64_t)n;
        }
    }
    store_finalize(st);
    return rc == 1 ? 0 : rc == 0 ? AZ_ENOTFOUND : AZ_ESTORE;
}

/* A blob that is not there: its container may not be there either, which Storage says first. */
static int fail_no_blob(struct http_request *req)
{
    const char *access;
    if (blob_container_access(req, &access) == AZ_ENOTFOUND)
        return blob_fail_no_container(req);
    return http_fail(req, 404, "BlobNotFound", "The specified blob does not exist.");
}

/* If-Match, If-None-Match (with *), If-Modified-Since, If-Unmodified-Since against `row` (NULL
 * when the blob does not exist). 0, 304 (a read that would not change), or the request failed. */
static int check_conditions(struct http_request *req, const struct blob_row *row, bool read)
{
    const char *match = http_header(req, "If-Match");
    const char *none = http_header(req, "If-None-Match");
    const char *since = http_header(req, "If-Modified-Since");
    const char *unmodified = http_header(req, "If-Unmodified-Since");
    if (none && strcmp(none, "*") == 0 && row && !read)
        return http_fail(req, 409, "BlobAlreadyExists", "The specified blob already exists.");
    bool failed = (match && (!row || (strcmp(match, "*") != 0 && strcmp(match, row->etag) != 0)));
    bool not_modified = row && none && (strcmp(none, "*") == 0 || strcmp(none, row->etag) == 0);
    int64_t t;
    if (row && since && clock_parse_http(since, &t) == 0 && row->modified / 1000 <= t / 1000)
        not_modified = true;
    if (row && unmodified && clock_parse_http(unmodified, &t) == 0 &&
        row->modified / 1000 > t / 1000)
        failed = true;
    if (not_modified && read) {
        http_set_header(req, "ETag", row->etag);
        return http_reply(req, 304, NULL, "", 0) == 0 ? AZ_EREPLIED : AZ_EREPLIED;
    }
    if (failed || not_modified)
        return http_fail(req, 412, "ConditionNotMet",
                         "The condition specified using HTTP conditional header(s) is not met.");
    return 0;
}

/* The blob properties a write sets from its x-ms-blob-* headers, as stored JSON. */
static const char *properties_of(struct http_request *req)
{
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    const char *type = http_header(req, "x-ms-blob-content-type");
    jw_kv_string(w, "Content-Type", type ? type : "application/octet-stream");
    for (size_t i = 1; i < ARRAY_SIZE(blob_headers); i++) {
        const char *v = http_header(req, blob_headers[i][0]);
        if (v)
            jw_kv_string(w, blob_headers[i][1], v);
    }
    jw_object_close(w);
    const char *text = arena_strdup(req->arena, json_writer_text(w, NULL));
    json_writer_free(w);
    return text;
}

/*
 * The blob service's threads (and both its listeners) commit blob rows one transaction at a
 * time. Two of them writing at once would meet on the database's write lock, where SQLite's busy
 * handler sleeps a millisecond or more before trying again, for a transaction that holds the lock
 * for tens of microseconds; waiting here wakes the next writer as soon as the last one is done.
 */
static pthread_mutex_t row_writer = PTHREAD_MUTEX_INITIALIZER;

/* New content of a blob: a file under content_dir, or inline bytes (file NULL). */
struct blob_content {
    const char *file;
    const void *inline_data;
    int64_t size;
    const char *md5;
};

/* A blob row to write, and (once its transaction is over) what became of it. */
struct blob_pending_put {
    struct http_request *req;
    struct blob_content c;
    const char *properties, *metadata;
    enum { PUT_WRITTEN, PUT_REFUSED, PUT_FAILED } outcome;
    const char *etag;
    int64_t modified;
    const char *replaced; /* the file of the content the row had, to remove once committed */
    struct blob_pending_put *next;
};

static int check_write(struct http_request *req, const struct blob_row *row, bool exists);

/*
 * Write `p`'s row, replacing what was there (its lease and creation time stay), in the caller's
 * transaction, if what begin_write checked still holds there (another write may have come
 * between): then a conditional write is decided against the row it replaces, and the file that
 * row named is exactly the one to remove. 0, AZ_EREPLIED (the request failed: the container, its
 * lease or its conditions), or AZ_ESTORE.
 */
static int write_row(struct store *s, struct blob_pending_put *p)
{
    struct http_request *req = p->req;
    const struct blob_request *b = blob_request(req);
    struct blob_row now;
    bool exists;
    int rc = find_blob(req, &now, BLOB_IN_CONTAINER, &exists);
    if (rc == AZ_ENOTFOUND)
        return blob_fail_no_container(req);
    if (rc != 0)
        return AZ_ESTORE;
    if (check_write(req, &now, exists) != 0)
        return AZ_EREPLIED;
    p->replaced = exists ? now.file : NULL;
    p->etag = blob_new_etag(req);
    p->modified = clock_now_ms();
    /* An empty inline content is a zero-length blob, not NULL: the pointer must not be NULL. */
    const struct blob_content *c = &p->c;
    const void *data = c->file ? NULL : c->inline_data ? c->inline_data : "";
    return store_run(
        s,
        "INSERT INTO blobs(account, container, name, file, content, size, md5, properties, "
        "metadata, etag, created, modified) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11) "
        "ON CONFLICT(account, container, name) DO UPDATE SET file = excluded.file, "
        "content = excluded.content, size = excluded.size, md5 = excluded.md5, "
        "properties = excluded.properties, metadata = excluded.metadata, etag = excluded.etag, "
        "modified = excluded.modified",
        "ssssbissssi", b->account, b->container, b->blob, c->file, data,
        c->file ? (size_t)0 : (size_t)c->size, c->size, c->md5, p->properties, p->metadata, p->etag,
        p->modified);
}

/* Write the rows of the list `batch` in one transaction, those whose checks still hold: all of
 * them, or (the store failing) none. (BEGIN and COMMIT go through store_run, which keeps their
 * statements prepared.) */
static void write_rows(struct store *s, struct blob_pending_put *batch)
{
    pthread_mutex_lock(&row_writer);
    int rc = store_run(s, "BEGIN IMMEDIATE", "");
    for (struct blob_pending_put *p = batch; p; p = p->next) {
        int written = rc == 0 ? write_row(s, p) : rc;
        p->outcome = written == AZ_EREPLIED ? PUT_REFUSED : PUT_WRITTEN;
        if (written != 0 && written != AZ_EREPLIED)
            rc = written;
    }
    if (rc == 0)
        rc = store_run(s, "COMMIT", "");
    if (rc != 0)
        store_rollback(s);
    pthread_mutex_unlock(&row_writer);
    for (struct blob_pending_put *p = batch; rc != 0 && p; p = p->next) {
        if (p->outcome == PUT_WRITTEN)
            p->outcome = PUT_FAILED;
    }
}

/* After `p`'s write: the file its row no longer names goes (or its own, when it was not written),
 * and the row's ETag and Last-Modified are answered. 0, or the request failed. */
static int end_put(struct blob_pending_put *p)
{
    struct http_request *req = p->req;
    if (p->outcome != PUT_WRITTEN) {
        remove_content(req, p->c.file);
        return p->outcome == PUT_REFUSED ? AZ_EREPLIED : blob_fail_store(req);
    }
    remove_content(req, p->replaced);
    http_set_header(req, "ETag", p->etag);
    http_set_header(req, "Last-Modified", blob_http_date(req, p->modified));
    return 0;
}

/* Store the request's blob with new content `c` now, replacing what was there (its lease stays).
 * Sets ETag and Last-Modified; 0, or the request failed. */
static int store_blob(struct http_request *req, const struct blob_content *c,
                      const char *properties, const char *metadata)
{
    struct blob_pending_put p = {
        .req = req, .c = *c, .properties = properties, .metadata = metadata};
    write_rows(req->store, &p);
    return end_put(&p);
}

/* An upload's answer: 201 with the content's MD5. */
static int answer_upload(struct http_request *req, const struct blob_content *c)
{
    http_set_header(req, "Content-MD5", c->md5);
    http_set_header(req, "x-ms-request-server-encrypted", "true");
    return http_reply(req, 201, NULL, "", 0);
}

static int save_blob(struct http_request *req, const struct blob_content *c)
{
    if (store_blob(req, c, properties_of(req), metadata_of(req)) != 0)
        return AZ_EREPLIED;
    return answer_upload(req, c);
}

/*
 * Group commit: the uploads a thread reads in one turn of its event loop are written in one
 * transaction once the turn's other requests are handled, and answered after it has committed
 * (nothing is acknowledged before its row is, so kill -9 loses no acknowledged write). The locks,
 * WAL frames and hand-over between threads (row_writer) of a commit are paid once per turn
 * instead of once per upload.
 */
static void commit_turn(void *arg)
{
    struct blob_state *st = arg;
    struct blob_pending_put *batch = st->pending;
    st->pending = NULL;
    st->pending_tail = &st->pending;
    write_rows(st->store, batch);
    for (struct blob_pending_put *p = batch, *next; p; p = next) {
        next = p->next; /* p lives in its request's arena, which the answer frees */
        if (end_put(p) == 0)
            answer_upload(p->req, &p->c);
        http_resume(p->req);
    }
}

/* Save an upload with its turn's group commit; now when the request has no event loop to wait
 * on (seeding). */
static int save_upload(struct http_request *req, const struct blob_content *c)
{
    struct blob_state *st = req->module_state;
    if (!st || (!st->pending && http_after_turn(req, commit_turn, st) != 0))
        return save_blob(req, c);
    struct blob_pending_put *p = arena_alloc(req->arena, sizeof(*p));
    *p = (struct blob_pending_put){
        .req = req, .c = *c, .properties = properties_of(req), .metadata = metadata_of(req)};
    *st->pending_tail = p;
    st->pending_tail = &p->next;
    http_defer(req);
    return 0;
}

/* May the request's write replace `row` (`exists`, else create the blob): its lease and the
 * request's conditions. 0, or the request failed. */
static int check_write(struct http_request *req, const struct blob_row *row, bool exists)
{
    if (exists && blob_lease_check_row(req, row->lease_id, row->lease_duration, row->lease_ends,
                                       row->lease_broken) != 0)
        return AZ_EREPLIED;
    return check_conditions(req, exists ? row : NULL, false);
}

/* A write's common checks, before its content is written anywhere: authorized, the container
 * exists, the blob's lease and the conditions hold (write_row checks the last three again, in the
 * transaction that writes the row). */
static int begin_write(struct http_request *req, struct blob_row *old, bool *exists)
{
    if (blob_authorize(req, true, BLOBS "/write", false) != 0)
        return AZ_EREPLIED;
    int rc = find_blob(req, old, BLOB_IN_CONTAINER, exists);
    blob_end_snapshot(req); /* what follows writes */
    if (rc == AZ_ENOTFOUND)
        return blob_fail_no_container(req);
    if (rc != 0)
        return blob_fail_store(req);
    return check_write(req, old, *exists);
}

static int copy_blob(struct http_request *req);

/* Find the blob the request names and, when `content`, its content: inline in the row
 * (row->content), or its file opened (else *fd is -1). A write replacing the blob unlinks the
 * file of the row it replaced once it has committed, so a file gone means a newer row: read
 * again, outside the request's snapshot (storage.c). A read racing a write gets the old content
 * or the new, as in Storage, never an error. 0, AZ_ENOTFOUND or AZ_ESTORE. */
static int open_blob(struct http_request *req, struct blob_row *row, bool content, int *fd)
{
    *fd = -1;
    for (int tries = 0; tries < 8; tries++) {
        int rc = find_blob(req, row, content ? BLOB_CONTENT : BLOB_ROW, NULL);
        if (rc != 0 || !content || !row->file)
            return rc;
        *fd = open(arena_printf(req->arena, "%s/%s", content_dir(req), row->file),
                   O_RDONLY | O_CLOEXEC);
        if (*fd >= 0)
            return 0;
        if (errno != ENOENT)
            return AZ_ESTORE;
        blob_end_snapshot(req); /* the newer row is past the request's snapshot */
    }
    return AZ_ESTORE;
}

int blob_put(struct http_request *req)
{
    if (http_header(req, "x-ms-copy-source"))
        return copy_blob(req);
    const char *type = http_header(req, "x-ms-blob-type");
    if (!type || !str_ieq(type, "BlockBlob"))
        return http_fail(req, 400, "InvalidHeaderValue",
                         "The value for one of the HTTP headers is not in the correct format: "
                         "x-ms-blob-type must be BlockBlob (append and page blobs are not "
                         "served).");
    struct blob_row old;
    bool exists;
    if (begin_write(req, &old, &exists) != 0)
        return AZ_EREPLIED;
    struct blob_content c = {.size = (int64_t)req->body_len, .md5 = body_md5(req)};
    const char *sent = http_header(req, "Content-MD5");
    if (sent && strcmp(sent, c.md5) != 0)
        return http_fail(req, 400, "Md5Mismatch",
                         "The MD5 value specified in the request did not match with the MD5 value "
                         "calculated by the server.");
    if (req->body_len <= BLOB_INLINE_MAX) {
        c.inline_data = http_body(req);
    } else {
        c.file = write_body(req);
        if (!c.file)
            return blob_fail_store(req);
    }
    return save_upload(req, &c);
}

/* The source of a copy: a blob URL of this account, host- or path-style (a SAS on it is
 * ignored: the caller's own credentials must read it). NULL container when it is not one. */
static struct blob_request source_of(struct http_request *req, const char *url)
{
    const struct blob_request *b = blob_request(req);
    struct blob_request src = *b;
    src.container = src.blob = NULL;
    src.snapshot = false; /* the request's own, ended with it */
    const char *p = strstr(url ? url : "", "://");
    if (!p)
        return src;
    p += 3;
    const char *host_end = p + strcspn(p, "/?");
    const char *dot = memchr(p, '.', (size_t)(host_end - p));
    bool host_style = dot && strncmp(dot + 1, "blob.", 5) == 0;
    const char *path = host_end + (*host_end == '/');
    if (host_style ? !str_ieqn(p, (size_t)(dot - p), b->account)
                   : !str_ieqn(path, strcspn(path, "/?"), b->account))
        return src; /* another account */
    if (!host_style)
        path += strcspn(path, "/?") + 1;
    size_t clen = strcspn(path, "/?"), n;
    if (clen == 0 || path[clen] != '/')
        return src;
    const char *rest = path + clen + 1;
    src.container = percent_decode(req->arena, path, clen, false, &n);
    src.blob = percent_decode(req->arena, rest, strcspn(rest, "?"), false, &n);
    return src;
}

/* A new content file with what is left to read of `in`: its name, or NULL. */
static const char *copy_content(struct http_request *req, int in)
{
    const char *file, *path;
    int out = new_content_file(req, &file, &path);
    if (out < 0)
        return NULL;
    bool ok = true;
    char *chunk = xmalloc(COPY_CHUNK);
    ssize_t got;
    while (ok && (got = read(in, chunk, COPY_CHUNK)) > 0)
        ok = write(out, chunk, (size_t)got) == got;
    free(chunk);
    if (close(out) != 0 || !ok || got < 0) {
        unlink(path);
        return NULL;
    }
    return file;
}

/* PUT with x-ms-copy-source: the source blob's content, properties and (unless the request
 * sets its own) metadata become the destination's at once; 202 with x-ms-copy-status success. */
static int copy_blob(struct http_request *req)
{
    struct blob_request src = source_of(req, http_header(req, "x-ms-copy-source"));
    if (!src.container || !src.blob || !*src.blob)
        return http_fail(req, 400, "CannotVerifyCopySource",
                         "The copy source must be a blob of this storage account (azsim does not "
                         "copy across accounts or from other URLs).");
    struct blob_row old, from;
    bool exists;
    if (begin_write(req, &old, &exists) != 0)
        return AZ_EREPLIED;
    /* The source is read with the caller's own rights, as a GET of it would be. */
    const void *dest = req->context;
    req->context = &src;
    int in = -1;
    int rc = blob_authorize(req, true, BLOBS "/read", false);
    if (rc == 0)
        rc = open_blob(req, &from, true, &in);
    req->context = dest;
    if (rc == AZ_ENOTFOUND)
        return http_fail(req, 404, "CannotVerifyCopySource", "The specified blob does not exist.");
    if (rc == AZ_EREPLIED)
        return rc;
    if (rc != 0)
        return blob_fail_store(req);
    struct blob_content c = {.inline_data = from.content, .size = from.size, .md5 = from.md5};
    if (from.file) {
        c.file = copy_content(req, in);
        close(in);
        if (!c.file)
            return blob_fail_store(req);
    }
    const char *metadata = metadata_of(req);
    if (strcmp(metadata, "{}") == 0)
        metadata = from.metadata;
    if (store_blob(req, &c, from.properties, metadata) != 0)
        return AZ_EREPLIED;
    char copy_id[37];
    uuid_v4(copy_id);
    http_set_header(req, "x-ms-copy-id", copy_id);
    http_set_header(req, "x-ms-copy-status", "success");
    return http_reply(req, 202, NULL, "", 0);
}

int blob_put_block(struct http_request *req)
{
    const struct blob_request *b = blob_request(req);
    const char *id = http_query(req, "blockid");
    unsigned char *raw = NULL;
    if (!id || base64_decode(req->arena, id, strlen(id), &raw) <= 0 || strlen(id) > 1024)
        return http_fail(req, 400, "InvalidQueryParameterValue",
                         "Value for one of the query parameters specified in the request URI is "
                         "invalid: blockid must be base64.");
    struct blob_row old;
    bool exists;
    if (begin_write(req, &old, &exists) != 0)
        return AZ_EREPLIED;
    const char *file = write_body(req);
    if (!file)
        return blob_fail_store(req);
    /* A block staged again replaces the earlier one. */
    struct store_stmt *st;
    const char *replaced = NULL;
    if (store_prepare(req->store,
                      "SELECT file FROM blob_blocks WHERE account = ?1 AND container = ?2 AND "
                      "blob = ?3 AND block_id = ?4",
                      &st) == 0) {
        store_bind_text(st, 1, b->account);
        store_bind_text(st, 2, b->container);
        store_bind_text(st, 3, b->blob);
        store_bind_text(st, 4, id);
        if (store_step(st) == 1)
            replaced = arena_strdup(req->arena, store_column_text(st, 0));
        store_finalize(st);
    }
    if (store_run(req->store,
                  "INSERT OR REPLACE INTO blob_blocks(account, container, blob, block_id, file, "
                  "size) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                  "sssssi", b->account, b->container, b->blob, id, file,
                  (int64_t)req->body_len) != 0) {
        remove_content(req, file);
        return blob_fail_store(req);
    }
    remove_content(req, replaced);
    http_set_header(req, "Content-MD5", body_md5(req));
    http_set_header(req, "x-ms-request-server-encrypted", "true");
    return http_reply(req, 201, NULL, "", 0);
}

/* Append block `file` to the open descriptor `out`, and to the running digest. */
static bool append_block(struct http_request *req, int out, const char *file, EVP_MD_CTX *md5)
{
    int in = open(arena_printf(req->arena, "%s/%s", content_dir(req), file), O_RDONLY);
    if (in < 0)
        return false;
    char *chunk = xmalloc(COPY_CHUNK);
    ssize_t n;
    bool ok = true;
    while (ok && (n = read(in, chunk, COPY_CHUNK)) > 0)
        ok = write(out, chunk, (size_t)n) == n && EVP_DigestUpdate(md5, chunk, (size_t)n) == 1;
    free(chunk);
    close(in);
    return ok && n == 0;
}

/* PUT ?comp=blocklist: the blob becomes its listed blocks, in order; the staged blocks go. */
int blob_put_block_list(struct http_request *req)
{
    const struct blob_request *b = blob_request(req);
    struct blob_row old;
    bool exists;
    if (begin_write(req, &old, &exists) != 0)
        return AZ_EREPLIED;
    char id[37];
    uuid_v4(id);
    const char *file = arena_strdup(req->arena, id);
    const char *path = arena_printf(req->arena, "%s/%s", content_dir(req), file);
    int out = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (out < 0)
        return blob_fail_store(req);
    EVP_MD_CTX *md5 = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md5, EVP_md5(), NULL);
    /* <BlockList><Latest>id</Latest><Uncommitted>id</Uncommitted>…</BlockList> */
    const char *body = http_body(req);
    int64_t size = 0;
    int rc = 0;
    for (const char *p = strstr(body, "<BlockList>"); p && rc == 0;) {
        const char *open_tag = strpbrk(p + 1, "<");
        if (!open_tag || strncmp(open_tag, "</BlockList>", 12) == 0)
            break;
        const char *gt = strchr(open_tag, '>');
        const char *close = gt ? strchr(gt, '<') : NULL;
        if (!gt || !close) {
            rc = AZ_EINVAL;
            break;
        }
        const char *block = arena_strndup(req->arena, gt + 1, (size_t)(close - gt - 1));
        struct store_stmt *st;
        const char *bfile = NULL;
        int64_t bsize = 0;
        if (store_prepare(req->store,
                          "SELECT file, size FROM blob_blocks WHERE account = ?1 AND "
                          "container = ?2 AND blob = ?3 AND block_id = ?4",
                          &st) == 0) {
            store_bind_text(st, 1, b->account);
            store_bind_text(st, 2, b->container);
            store_bind_text(st, 3, b->blob);
            store_bind_text(st, 4, block);
            if (store_step(st) == 1) {
                bfile = arena_strdup(req->arena, store_column_text(st, 0));
                bsize = store_column_int64(st, 1);
            }
            store_finalize(st);
        }
        if (!bfile)
            rc = AZ_ENOTFOUND;
        else if (!append_block(req, out, bfile, md5))
            rc = AZ_EIO;
        size += bsize;
        p = strchr(close, '>');
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    EVP_DigestFinal_ex(md5, digest, &dlen);
    EVP_MD_CTX_free(md5);
    close(out);
    if (rc != 0) {
        unlink(path);
        if (rc == AZ_ENOTFOUND || rc == AZ_EINVAL)
            return http_fail(req, 400, "InvalidBlockList", "The specified block list is invalid.");
        return blob_fail_store(req);
    }
    /* The staged blocks' files go once the blob names its own. */
    struct store_stmt *st;
    const char *blocks[1024];
    size_t nblocks = 0;
    if (store_prepare(req->store,
                      "SELECT file FROM blob_blocks WHERE account = ?1 AND container = ?2 AND "
                      "blob = ?3",
                      &st) == 0) {
        store_bind_text(st, 1, b->account);
        store_bind_text(st, 2, b->container);
        store_bind_text(st, 3, b->blob);
        while (nblocks < ARRAY_SIZE(blocks) && store_step(st) == 1)
            blocks[nblocks++] = arena_strdup(req->arena, store_column_text(st, 0));
        store_finalize(st);
    }
    struct blob_content c = {
        .file = file, .size = size, .md5 = base64_encode(req->arena, digest, dlen)};
    rc = save_blob(req, &c);
    if (rc == 0 && store_run(req->store,
                             "DELETE FROM blob_blocks WHERE account = ?1 AND container = ?2 AND "
                             "blob = ?3",
                             "sss", b->account, b->container, b->blob) == 0) {
        for (size_t i = 0; i < nblocks; i++)
            remove_content(req, blocks[i]);
    }
    return rc;
}

/* The blob's property headers, as GET and HEAD answer them. */
static void set_blob_headers(struct http_request *req, const struct blob_row *row)
{
    const struct json *props = json_parse_in(req->arena, row->properties, strlen(row->properties));
    for (size_t i = 0; i < json_len(props); i++)
        http_set_header(req, json_key_at(props, i), json_string(json_at(props, i)));
    http_set_header(req, "ETag", row->etag);
    http_set_header(req, "Last-Modified", blob_http_date(req, row->modified));
    http_set_header(req, "x-ms-creation-time", blob_http_date(req, row->created));
    http_set_header(req, "x-ms-blob-type", "BlockBlob");
    blob_lease_headers(req, row->lease_id, row->lease_duration, row->lease_ends, row->lease_broken);
    http_set_header(req, "x-ms-server-encrypted", "true");
    http_set_header(req, "x-ms-access-tier", "Hot");
    http_set_header(req, "Accept-Ranges", "bytes");
    set_metadata_headers(req, row->metadata);
}

/* "bytes=a-b" / "bytes=a-": 0 with the range clamped to the blob, AZ_ENOTFOUND without a range,
 * AZ_EINVAL when it is not satisfiable. */
static int parse_range(struct http_request *req, int64_t size, int64_t *start, int64_t *end)
{
    const char *range = http_header(req, "x-ms-range");
    if (!range)
        range = http_header(req, "Range");
    if (!range || strncmp(range, "bytes=", 6) != 0)
        return AZ_ENOTFOUND;
    char *e;
    *start = strtoll(range + 6, &e, 10);
    if (*e != '-' || *start < 0)
        return AZ_ENOTFOUND;
    *end = e[1] ? strtoll(e + 1, NULL, 10) : size - 1;
    if (*start >= size || *end < *start)
        return AZ_EINVAL;
    if (*end >= size)
        *end = size - 1;
    return 0;
}

int blob_get(struct http_request *req)
{
    if (blob_authorize(req, true, BLOBS "/read", false) != 0)
        return AZ_EREPLIED;
    struct blob_row row;
    int fd;
    int rc = open_blob(req, &row, req->method != HTTP_HEAD, &fd);
    if (rc == AZ_ENOTFOUND)
        return fail_no_blob(req);
    if (rc != 0)
        return blob_fail_store(req);
    if (check_conditions(req, &row, true) != 0) {
        if (fd >= 0)
            close(fd);
        return AZ_EREPLIED;
    }
    int64_t start = 0, end = row.size - 1;
    rc = parse_range(req, row.size, &start, &end);
    if (rc == AZ_EINVAL) {
        if (fd >= 0)
            close(fd);
        http_fail(req, 416, "InvalidRange",
                  "The range specified is invalid for the current size "
                  "of the resource.");
        http_set_header(req, "Content-Range",
                        arena_printf(req->arena, "bytes */%lld", (long long)row.size));
        return AZ_EREPLIED;
    }
    bool ranged = rc == 0;
    set_blob_headers(req, &row);
    if (ranged)
        http_set_header(req, "Content-Range",
                        arena_printf(req->arena, "bytes %lld-%lld/%lld", (long long)start,
                                     (long long)end, (long long)row.size));
    if (!ranged)
        http_set_header(req, "Content-MD5", row.md5);
    int64_t len = row.size ? end - start + 1 : 0;
    if (req->method == HTTP_HEAD) {
        http_set_header(req, "Content-Length", arena_printf(req->arena, "%lld", (long long)len));
        return http_reply(req, ranged ? 206 : 200, NULL, "", 0);
    }
    if (!row.file)
        return http_reply(req, ranged ? 206 : 200, NULL, (const char *)row.content + start,
                          (size_t)len);
    /* The content goes out a piece at a time, straight from its file. */
    return http_reply_file(req, ranged ? 206 : 200, NULL, fd, start, len);
}

int blob_delete(struct http_request *req)
{
    const struct blob_request *b = blob_request(req);
    if (blob_authorize(req, true, BLOBS "/delete", false) != 0)
        return AZ_EREPLIED;
    struct blob_row row;
    int rc = find_blob(req, &row, BLOB_ROW, NULL);
    if (rc == AZ_ENOTFOUND)
        return fail_no_blob(req);
    if (rc != 0)
        return blob_fail_store(req);
    if (blob_lease_check(req) != 0 || check_conditions(req, &row, false) != 0)
        return AZ_EREPLIED;
    if (store_run(req->store,
                  "DELETE FROM blobs WHERE account = ?1 AND container = ?2 AND name = ?3", "sss",
                  b->account, b->container, b->blob) != 0)
        return blob_fail_store(req);
    remove_content(req, row.file);
    http_set_header(req, "x-ms-delete-type-permanent", "true");
    return http_reply(req, 202, NULL, "", 0);
}

/* Change a stored blob's metadata or properties; answer its new ETag. */
static int update_blob(struct http_request *req, const char *column, const char *value)
{
    const struct blob_request *b = blob_request(req);
    struct blob_row row;
    if (blob_authorize(req, true, BLOBS "/write", false) != 0)
        return AZ_EREPLIED;
    int rc = find_blob(req, &row, BLOB_ROW, NULL);
    if (rc == AZ_ENOTFOUND)
        return fail_no_blob(req);
    if (rc != 0)
        return blob_fail_store(req);
    if (blob_lease_check(req) != 0 || check_conditions(req, &row, false) != 0)
        return AZ_EREPLIED;
    const char *etag = blob_new_etag(req);
    int64_t now = clock_now_ms();
    if (store_run(req->store,
                  arena_printf(req->arena,
                               "UPDATE blobs SET %s = ?4, etag = ?5, modified = ?6 WHERE "
                               "account = ?1 AND container = ?2 AND name = ?3",
                               column),
                  "sssssi", b->account, b->container, b->blob, value, etag, now) != 0)
        return blob_fail_store(req);
    http_set_header(req, "ETag", etag);
    http_set_header(req, "Last-Modified", blob_http_date(req, now));
    return http_reply(req, 200, NULL, "", 0);
}

int blob_set_metadata(struct http_request *req)
{
    return update_blob(req, "metadata", metadata_of(req));
}

int blob_set_properties(struct http_request *req)
{
    struct json_writer *w = json_writer_new();
    jw_object_open(w);
    for (size_t i = 0; i < ARRAY_SIZE(blob_headers); i++) {
        const char *v = http_header(req, blob_headers[i][0]);
        if (v)
            jw_kv_string(w, blob_headers[i][1], v);
    }
    jw_object_close(w);
    const char *props = arena_strdup(req->arena, json_writer_text(w, NULL));
    json_writer_free(w);
    return update_blob(req, "properties", props);
}

int blob_get_metadata(struct http_request *req)
{
    if (blob_authorize(req, true, BLOBS "/read", false) != 0)
        return AZ_EREPLIED;
    struct blob_row row;
    int rc = find_blob(req, &row, BLOB_ROW, NULL);
    if (rc == AZ_ENOTFOUND)
        return fail_no_blob(req);
    if (rc != 0)
        return blob_fail_store(req);
    set_metadata_headers(req, row.metadata);
    http_set_header(req, "ETag", row.etag);
    http_set_header(req, "Last-Modified", blob_http_date(req, row.modified));
    return http_reply(req, 200, NULL, "", 0);
}

/* GET ?restype=container&comp=list: names in order, with prefix, delimiter (virtual
 * directories as BlobPrefix) and marker paging. */
int blob_list_blobs(struct http_request *req)
{
    const struct blob_request *b = blob_request(req);
    if (blob_authorize(req, true, BLOBS "/read", true) != 0)
        return AZ_EREPLIED;
    const char *access;
    int rc = blob_container_access(req, &access);
    if (rc == AZ_ENOTFOUND)
        return blob_fail_no_container(req);
    if (rc != 0)
        return blob_fail_store(req);
    const char *prefix = http_query(req, "prefix");
    const char *delimiter = http_query(req, "delimiter");
    const char *marker = http_query(req, "marker");
    const char *include = http_query(req, "include");
    bool with_metadata = include && strstr(include, "metadata");
    long max = page_size(req);
    struct store_stmt *st;
    if (store_prepare(req->store,
                      "SELECT name, size, md5, properties, metadata, etag, created, modified, "
                      "lease_id, coalesce(lease_duration, -1), coalesce(lease_ends, 0), "
                      "lease_broken FROM blobs WHERE account = ?1 AND container = ?2 AND "
                      "name >= ?3 AND substr(name, 1, length(?4)) = ?4 ORDER BY name",
                      &st) != 0)
        return blob_fail_store(req);
    store_bind_text(st, 1, b->account);
    store_bind_text(st, 2, b->container);
    store_bind_text(st, 3, marker ? marker : "");
    store_bind_text(st, 4, prefix ? prefix : "");
    struct buf x = {0};
    buf_puts(&x, "\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults "
                 "ServiceEndpoint=\"");
    xml_text(&x, arena_printf(req->arena, "%s/", b->endpoint));
    buf_puts(&x, "\" ContainerName=\"");
    xml_text(&x, b->container);
    buf_puts(&x, "\">");
    if (prefix)
        xml_element(&x, "Prefix", prefix);
    if (marker)
        xml_element(&x, "Marker", marker);
    if (http_query(req, "maxresults"))
        buf_printf(&x, "<MaxResults>%ld</MaxResults>", max);
    if (delimiter)
        xml_element(&x, "Delimiter", delimiter);
    buf_puts(&x, "<Blobs>");
    long n = 0;
    const char *next = NULL, *last_prefix = NULL;
    size_t plen = prefix ? strlen(prefix) : 0;
    while (store_step(st) == 1) {
        const char *name = store_column_text(st, 0);
        /* A delimiter folds the names below a virtual directory into one BlobPrefix. */
        const char *cut = delimiter && *delimiter ? strstr(name + plen, delimiter) : NULL;
        if (cut) {
            const char *dir =
                arena_strndup(req->arena, name, (size_t)(cut - name) + strlen(delimiter));
            if (last_prefix && strcmp(last_prefix, dir) == 0)
                continue;
            if (n++ == max) {
                next = arena_strdup(req->arena, name);
                break;
            }
            last_prefix = dir;
            buf_puts(&x, "<BlobPrefix>");
            xml_element(&x, "Name", dir);
            buf_puts(&x, "</BlobPrefix>");
            continue;
        }
        if (n++ == max) {
            next = arena_strdup(req->arena, name);
            break;
        }
        const char *props_text = store_column_text(st, 3);
        const struct json *props = json_parse_in(req->arena, props_text, strlen(props_text));
        buf_puts(&x, "<Blob>");
        xml_element(&x, "Name", name);
        buf_puts(&x, "<Properties>");
        xml_element(&x, "Creation-Time", blob_http_date(req, store_column_int64(st, 6)));
        xml_element(&x, "Last-Modified", blob_http_date(req, store_column_int64(st, 7)));
        xml_element(&x, "Etag", store_column_text(st, 5));
        buf_printf(&x, "<Content-Length>%lld</Content-Length>",
                   (long long)store_column_int64(st, 1));
        for (size_t i = 0; i < json_len(props); i++)
            xml_element(&x, json_key_at(props, i), json_string(json_at(props, i)));
        xml_element(&x, "Content-MD5", store_column_text(st, 2));
        buf_puts(&x, "<BlobType>BlockBlob</BlobType><AccessTier>Hot</AccessTier>"
                     "<AccessTierInferred>true</AccessTierInferred>");
        blob_lease_xml(&x, store_column_text(st, 8), store_column_int64(st, 9),
                       store_column_int64(st, 10), store_column_int64(st, 11) != 0);
        buf_puts(&x, "<ServerEncrypted>true</ServerEncrypted></Properties>");
        if (with_metadata)
            xml_metadata(req, &x, store_column_text(st, 4));
        buf_puts(&x, "</Blob>");
    }
    store_finalize(st);
    return end_listing(req, &x, "Blobs", next);
}
