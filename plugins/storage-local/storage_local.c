/* storage_local.c - the SDK side of the local storage backend: instance state, parameters,
 * and the mapping of local_* outcomes to spark_status with a message posted to the host.
 * The file work itself is in local_path.c, local_writer.c and local_read.c.
 *
 * After activate the instance is read-only (root, flags, file mode, extension tables), so
 * read and write calls from many job threads need no locking. */
#include "storage_local.h"

#include <spark/ext/alloc.h>
#include <spark/ext/log.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "local_path.h"
#include "local_read.h"
#include "local_writer.h"
#include "media_type.h"

static const char file_url_prefix[] = "file://";

typedef struct storage_local {
    const spark_host *host;
    const spark_ext_log *log;     /* NULL when the host has none */
    const spark_ext_alloc *alloc; /* NULL when the host has none */
    char *root_abs;               /* the configured root made absolute, set by configure */
    bool create_root;
    bool durable;
    bool active;
    local_root root; /* filled by activate */
    mode_t file_mode;
} storage_local;

static void post_error(const storage_local *self, const char *message)
{
    if (self->log && self->log->error)
        self->log->error(self->host, message);
}

static spark_status to_spark_status(local_status status)
{
    switch (status) {
    case LOCAL_OK: return SPARK_OK;
    case LOCAL_E_INVALID: return SPARK_E_INVALID_ARGUMENT;
    case LOCAL_E_NOT_FOUND: return SPARK_E_NOT_FOUND;
    case LOCAL_E_IO: return SPARK_E_IO;
    case LOCAL_E_NO_MEMORY: return SPARK_E_NO_MEMORY;
    }
    return SPARK_E_INTERNAL;
}

/* Post err's message and return its status as a spark_status. */
static spark_status fail(const storage_local *self, const local_error *err)
{
    post_error(self, err->message);
    return to_spark_status(err->status);
}

static spark_status fail_message(const storage_local *self, spark_status status,
                                 const char *message)
{
    post_error(self, message);
    return status;
}

static spark_status local_create(const spark_host *host, const char *backend_id,
                                 void **out_self)
{
    (void)backend_id;
    storage_local *self = calloc(1, sizeof *self);
    *out_self = NULL;
    if (!self)
        return SPARK_E_NO_MEMORY;
    self->host = host;
    /* An older host's tables may be shorter than this header's: use only what they cover. */
    self->log = spark_host_service(host, SPARK_EXT_LOG, SPARK_SIZE_THROUGH(spark_ext_log, error));
    self->alloc = spark_host_service(host, SPARK_EXT_ALLOC,
                                     SPARK_SIZE_THROUGH(spark_ext_alloc, release));
    self->durable = true;
    *out_self = self;
    return SPARK_OK;
}

static const char *param_string(const spark_params *params, const char *key,
                                const char *fallback)
{
    if (params->has && !params->has(params->user, key))
        return fallback;
    const char *value = params->get_string ? params->get_string(params->user, key) : NULL;
    return value ? value : fallback;
}

static bool param_boolean(const spark_params *params, const char *key, bool fallback)
{
    if (!params->get_boolean || (params->has && !params->has(params->user, key)))
        return fallback;
    return params->get_boolean(params->user, key) != 0;
}

static spark_status local_configure(void *handle, const spark_params *params)
{
    storage_local *self = handle;
    local_error err;
    char *abs;
    /* Relative roots are fixed against the working directory now, at configure time. */
    local_status status = local_root_absolute(
        param_string(params, STORAGE_LOCAL_PARAM_ROOT, "."), &abs, &err);
    if (status != LOCAL_OK)
        return fail(self, &err);
    free(self->root_abs);
    self->root_abs = abs;
    self->create_root = param_boolean(params, STORAGE_LOCAL_PARAM_CREATE_ROOT, false);
    self->durable = param_boolean(params, STORAGE_LOCAL_PARAM_DURABLE, true);
    return SPARK_OK;
}

static spark_status local_activate(void *handle)
{
    storage_local *self = handle;
    local_error err;
    if (!self->alloc)
        return fail_message(self, SPARK_E_UNSUPPORTED,
                            "the host has no " SPARK_EXT_ALLOC " extension: cannot make blobs");
    if (!self->root_abs) {
        /* configure is optional: the default root is the working directory. */
        if (local_root_absolute(".", &self->root_abs, &err) != LOCAL_OK)
            return fail(self, &err);
    }
    local_root_free(&self->root);
    if (local_root_open(self->root_abs, self->create_root, &self->root, &err) != LOCAL_OK)
        return fail(self, &err);
    self->file_mode = local_default_file_mode();
    self->active = true;
    return SPARK_OK;
}

static spark_status check_active(const storage_local *self)
{
    if (self->active)
        return SPARK_OK;
    return fail_message(self, SPARK_E_INTERNAL, "local storage used before activate");
}

typedef struct blob_request {
    const storage_local *self;
    const char *file_name;
    spark_packet *packet;
} blob_request;

static int allocate_blob(void *ctx, uint64_t size, uint8_t **out_bytes)
{
    blob_request *request = ctx;
    request->packet = request->self->alloc->blob(request->self->host, size,
                                                 local_media_type(request->file_name),
                                                 request->file_name);
    if (!request->packet)
        return -1;
    *out_bytes = request->packet->data.blob.bytes;
    return 0;
}

static spark_status local_read(void *handle, const spark_job *job, const char *url,
                               spark_packet **out_blob)
{
    storage_local *self = handle;
    local_error err;
    local_target target;
    (void)job;
    *out_blob = NULL;
    spark_status status = check_active(self);
    if (status != SPARK_OK)
        return status;
    if (!url)
        return fail_message(self, SPARK_E_INVALID_ARGUMENT, "local storage: no URL given");
    if (local_resolve(&self->root, url, strlen(url), LOCAL_FOR_READ, false, &target, &err) !=
        LOCAL_OK)
        return fail(self, &err);

    /* The blob is named after what the caller asked for, not a symlink's target. */
    blob_request request = {self, local_base_name(target.name), NULL};
    local_status read_status = local_read_file(target.path, url, allocate_blob, &request, &err);
    local_target_free(&target);
    if (read_status != LOCAL_OK) {
        self->alloc->release(request.packet);
        return fail(self, &err);
    }
    *out_blob = request.packet;
    return SPARK_OK;
}

static spark_status local_write_begin(void *handle, const spark_job *job, const char *url,
                                      const char *media_type, void **out_writer)
{
    storage_local *self = handle;
    local_error err;
    local_target target;
    local_writer *writer;
    (void)job;
    (void)media_type; /* a local file carries no media type; its extension does */
    *out_writer = NULL;
    spark_status status = check_active(self);
    if (status != SPARK_OK)
        return status;
    if (!url)
        return fail_message(self, SPARK_E_INVALID_ARGUMENT, "local storage: no URL given");
    if (local_resolve(&self->root, url, strlen(url), LOCAL_FOR_WRITE, self->durable, &target,
                      &err) != LOCAL_OK)
        return fail(self, &err);
    local_status begin = local_writer_begin(&target, self->durable, self->file_mode, &writer,
                                            &err);
    local_target_free(&target);
    if (begin != LOCAL_OK)
        return fail(self, &err);
    *out_writer = writer;
    return SPARK_OK;
}

static spark_status local_write(void *handle, void *writer, const void *data, uint64_t size)
{
    storage_local *self = handle;
    local_error err;
    if (!writer)
        return fail_message(self, SPARK_E_INVALID_ARGUMENT, "local storage: no writer given");
    if (size > 0 && !data)
        return fail_message(self, SPARK_E_INVALID_ARGUMENT, "local storage: write of NULL data");
    if (local_writer_write(writer, data, size, &err) != LOCAL_OK)
        return fail(self, &err);
    return SPARK_OK;
}

static spark_status local_write_commit(void *handle, void *writer, char *url_out,
                                       uint32_t url_cap)
{
    storage_local *self = handle;
    local_error err;
    if (!writer)
        return fail_message(self, SPARK_E_INVALID_ARGUMENT, "local storage: no writer given");
    const char *path = local_writer_path(writer);
    size_t needed = sizeof file_url_prefix - 1 + strlen(path) + 1;
    /* Check the room for the URL first: a commit the caller cannot learn the URL of must not
     * leave a file behind. */
    if (!url_out || needed > url_cap) {
        char message[sizeof err.message];
        snprintf(message, sizeof message,
                 "cannot commit %s: the URL buffer holds %u bytes, the URL needs %zu; nothing "
                 "was written",
                 path, (unsigned)url_cap, needed);
        local_writer_abort(writer);
        return fail_message(self, SPARK_E_INVALID_ARGUMENT, message);
    }
    snprintf(url_out, url_cap, "%s%s", file_url_prefix, path);
    if (local_writer_commit(writer, &err) != LOCAL_OK) {
        url_out[0] = '\0';
        return fail(self, &err);
    }
    return SPARK_OK;
}

static void local_write_abort(void *handle, void *writer)
{
    (void)handle;
    local_writer_abort(writer);
}

static void local_deactivate(void *handle)
{
    storage_local *self = handle;
    local_root_free(&self->root);
    self->active = false;
}

static void local_destroy(void *handle)
{
    storage_local *self = handle;
    if (!self)
        return;
    local_root_free(&self->root);
    free(self->root_abs);
    free(self);
}

const spark_storage_ops storage_local_ops = {
    .struct_size = sizeof(spark_storage_ops),
    .create = local_create,
    .configure = local_configure,
    .activate = local_activate,
    .read = local_read,
    .write_begin = local_write_begin,
    .write = local_write,
    .write_commit = local_write_commit,
    .write_abort = local_write_abort,
    .deactivate = local_deactivate,
    .destroy = local_destroy,
};
