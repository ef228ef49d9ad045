/* storage_s3.c - the SDK side of the S3 storage backend: instance state, parameters and the
 * environment fallbacks, and the mapping of client outcomes to spark_status with a message
 * posted to the host. Requests, signing, retries and multipart are in s3_client.c.
 *
 * After activate the instance is read-only (settings, the client, extension tables) and the
 * client is thread-safe, so reads and writes from many job threads need no locking. A writer
 * buffers the object in memory; nothing is sent before commit, so abort only frees it (the
 * client aborts a failed multipart upload itself). Secrets are never put in a message. */
#include "storage_s3.h"

#include <spark/ext/alloc.h>
#include <spark/ext/log.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "s3_buf.h"
#include "s3_client.h"

typedef struct storage_s3 {
    const spark_host *host;
    const spark_ext_log *log;     /* NULL when the host has none */
    const spark_ext_alloc *alloc; /* NULL when the host has none */
    /* From configure; "" means "from the environment". */
    char *endpoint;
    char *region;
    char *access_key_id;
    char *secret_access_key;
    char *session_token;
    s3_addressing addressing;
    long presign_expiry;
    uint64_t multipart_threshold;
    uint64_t part_size;
    uint64_t max_object_size;
    s3_client *client; /* set by activate */
} storage_s3;

typedef struct s3_writer {
    char *bucket;
    char *key;
    char *media_type;
    s3_buf data;
} s3_writer;

static void post_error(const storage_s3 *self, const char *message)
{
    if (self->log && self->log->error)
        self->log->error(self->host, message);
}

static spark_status fail_message(const storage_s3 *self, spark_status status,
                                 const char *message)
{
    post_error(self, message);
    return status;
}

static spark_status fail_client(const storage_s3 *self, const s3_error *err)
{
    post_error(self, err->message);
    if (err->cancelled)
        return SPARK_E_CANCELLED;
    if (err->not_found)
        return SPARK_E_NOT_FOUND;
    return SPARK_E_IO;
}

static void client_log(void *user, int level, const char *message)
{
    const storage_s3 *self = user;
    if (self->log && self->log->log)
        self->log->log(self->host, level, message);
}

static char *copy_string(const char *text)
{
    return strdup(text ? text : "");
}

static void free_settings(storage_s3 *self)
{
    free(self->endpoint);
    free(self->region);
    free(self->access_key_id);
    if (self->secret_access_key) {
        /* Do not leave the secret in freed memory. */
        volatile char *p = self->secret_access_key;
        while (*p)
            *p++ = '\0';
    }
    free(self->secret_access_key);
    free(self->session_token);
    self->endpoint = self->region = self->access_key_id = NULL;
    self->secret_access_key = self->session_token = NULL;
}

static spark_status s3_create(const spark_host *host, const char *backend_id, void **out_self)
{
    (void)backend_id;
    storage_s3 *self = calloc(1, sizeof *self);
    *out_self = NULL;
    if (!self)
        return SPARK_E_NO_MEMORY;
    self->host = host;
    /* An older host's tables may be shorter than this header's: use only what they cover. */
    self->log = spark_host_service(host, SPARK_EXT_LOG, SPARK_SIZE_THROUGH(spark_ext_log, error));
    self->alloc = spark_host_service(host, SPARK_EXT_ALLOC,
                                     SPARK_SIZE_THROUGH(spark_ext_alloc, release));
    self->addressing = S3_ADDRESSING_AUTO;
    self->presign_expiry = STORAGE_S3_DEFAULT_PRESIGN_EXPIRY;
    self->multipart_threshold = STORAGE_S3_DEFAULT_MULTIPART_THRESHOLD;
    self->part_size = STORAGE_S3_DEFAULT_PART_SIZE;
    self->max_object_size = STORAGE_S3_DEFAULT_MAX_OBJECT_SIZE;
    *out_self = self;
    return SPARK_OK;
}

static const char *param_string(const spark_params *params, const char *key)
{
    if (params->has && !params->has(params->user, key))
        return "";
    const char *value = params->get_string ? params->get_string(params->user, key) : NULL;
    return value ? value : "";
}

static int64_t param_integer(const spark_params *params, const char *key, int64_t fallback)
{
    if (!params->get_integer || (params->has && !params->has(params->user, key)))
        return fallback;
    return params->get_integer(params->user, key);
}

static spark_status s3_configure(void *handle, const spark_params *params)
{
    storage_s3 *self = handle;
    free_settings(self);
    self->endpoint = copy_string(param_string(params, STORAGE_S3_PARAM_ENDPOINT));
    self->region = copy_string(param_string(params, STORAGE_S3_PARAM_REGION));
    self->access_key_id = copy_string(param_string(params, STORAGE_S3_PARAM_ACCESS_KEY_ID));
    self->secret_access_key =
        copy_string(param_string(params, STORAGE_S3_PARAM_SECRET_ACCESS_KEY));
    self->session_token = copy_string(param_string(params, STORAGE_S3_PARAM_SESSION_TOKEN));
    if (!self->endpoint || !self->region || !self->access_key_id || !self->secret_access_key ||
        !self->session_token)
        return SPARK_E_NO_MEMORY;
    const char *addressing = param_string(params, STORAGE_S3_PARAM_ADDRESSING);
    if (addressing[0] == '\0' || strcmp(addressing, "auto") == 0)
        self->addressing = S3_ADDRESSING_AUTO;
    else if (strcmp(addressing, "path") == 0)
        self->addressing = S3_ADDRESSING_PATH;
    else if (strcmp(addressing, "virtual") == 0)
        self->addressing = S3_ADDRESSING_VIRTUAL;
    else
        return fail_message(self, SPARK_E_INVALID_ARGUMENT,
                            "s3 storage: addressing must be auto, path or virtual");
    int64_t expiry = param_integer(params, STORAGE_S3_PARAM_PRESIGN_EXPIRY,
                                   STORAGE_S3_DEFAULT_PRESIGN_EXPIRY);
    int64_t threshold = param_integer(params, STORAGE_S3_PARAM_MULTIPART_THRESHOLD,
                                      STORAGE_S3_DEFAULT_MULTIPART_THRESHOLD);
    int64_t part_size =
        param_integer(params, STORAGE_S3_PARAM_PART_SIZE, STORAGE_S3_DEFAULT_PART_SIZE);
    int64_t max_size = param_integer(params, STORAGE_S3_PARAM_MAX_OBJECT_SIZE,
                                     STORAGE_S3_DEFAULT_MAX_OBJECT_SIZE);
    if (expiry < 1 || expiry > 604800)
        return fail_message(self, SPARK_E_INVALID_ARGUMENT,
                            "s3 storage: presign_expiry must be 1 to 604800 seconds");
    if (part_size < S3_MIN_PART_SIZE)
        return fail_message(self, SPARK_E_INVALID_ARGUMENT,
                            "s3 storage: part_size must be at least 5 MiB (5242880 bytes)");
    if (threshold < 1 || max_size < 1)
        return fail_message(self, SPARK_E_INVALID_ARGUMENT,
                            "s3 storage: multipart_threshold and max_object_size must be "
                            "positive");
    self->presign_expiry = (long)expiry;
    self->multipart_threshold = (uint64_t)threshold;
    self->part_size = (uint64_t)part_size;
    self->max_object_size = (uint64_t)max_size;
    return SPARK_OK;
}

/* value when set, else the first of the environment variables that is set, else NULL. */
static const char *setting(const char *value, const char *env1, const char *env2)
{
    if (value && value[0])
        return value;
    const char *from_env = env1 ? getenv(env1) : NULL;
    if (from_env && from_env[0])
        return from_env;
    from_env = env2 ? getenv(env2) : NULL;
    if (from_env && from_env[0])
        return from_env;
    return NULL;
}

static spark_status s3_activate(void *handle)
{
    storage_s3 *self = handle;
    if (!self->alloc)
        return fail_message(self, SPARK_E_UNSUPPORTED,
                            "the host has no " SPARK_EXT_ALLOC " extension: cannot make blobs");
    const char *access_key_id =
        setting(self->access_key_id, "AWS_ACCESS_KEY_ID", NULL);
    const char *secret = setting(self->secret_access_key, "AWS_SECRET_ACCESS_KEY", NULL);
    if (!access_key_id || !secret) {
        char message[256];
        snprintf(message, sizeof message,
                 "s3 storage: no credentials: %s%s%s not set (give the parameters "
                 "access_key_id and secret_access_key, or set the environment variables)",
                 access_key_id ? "" : "AWS_ACCESS_KEY_ID",
                 !access_key_id && !secret ? " and " : "",
                 secret ? "" : "AWS_SECRET_ACCESS_KEY");
        return fail_message(self, SPARK_E_INVALID_ARGUMENT, message);
    }
    const char *region = setting(self->region, "AWS_REGION", "AWS_DEFAULT_REGION");
    s3_client_config config = {
        .endpoint = setting(self->endpoint, "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
        .region = region ? region : "us-east-1",
        .access_key_id = access_key_id,
        .secret_access_key = secret,
        .session_token = setting(self->session_token, "AWS_SESSION_TOKEN", NULL),
        .addressing = self->addressing,
        .resolve = NULL,
        .connect_timeout_ms = 10000,
        .request_timeout_ms = 300000,
        .low_speed_bytes = 1024,
        .low_speed_seconds = 30,
        .max_attempts = 5,
        .total_timeout_ms = 600000,
        .backoff_base_s = 0.1,
        .backoff_cap_s = 5.0,
        .multipart_threshold = self->multipart_threshold,
        .part_size = self->part_size,
        .upload_threads = 4,
        .log = client_log,
        .log_user = self,
        .cancelled = NULL,
        .cancel_user = NULL,
    };
    s3_error err;
    memset(&err, 0, sizeof err);
    s3_client *client = s3_client_new(&config, &err);
    if (!client)
        return fail_client(self, &err);
    s3_client_free(self->client);
    self->client = client;
    return SPARK_OK;
}

static spark_status check_active(const storage_s3 *self)
{
    if (self->client)
        return SPARK_OK;
    return fail_message(self, SPARK_E_INTERNAL, "s3 storage used before activate");
}

static bool has_prefix(const char *text, const char *prefix)
{
    return strncasecmp(text, prefix, strlen(prefix)) == 0;
}

/* The last path segment of a URL (query and fragment cut), for the blob's file name. */
static void base_name(const char *url, char *out, size_t cap)
{
    size_t end = strcspn(url, "?#");
    size_t start = end;
    while (start > 0 && url[start - 1] != '/')
        start--;
    size_t len = end - start;
    if (len >= cap)
        len = cap - 1;
    memcpy(out, url + start, len);
    out[len] = '\0';
}

static const char *media_type_of(const char *name)
{
    static const char *const table[][2] = {
        {".wav", "audio/wav"},   {".flac", "audio/flac"}, {".ogg", "audio/ogg"},
        {".opus", "audio/ogg"},  {".mp3", "audio/mpeg"},  {".json", "application/json"},
        {".txt", "text/plain"},  {".srt", "application/x-subrip"}, {".vtt", "text/vtt"},
    };
    const char *dot = strrchr(name, '.');
    if (dot)
        for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
            if (strcasecmp(dot, table[i][0]) == 0)
                return table[i][1];
    return "application/octet-stream";
}

static spark_status s3_read(void *handle, const spark_job *job, const char *url,
                            spark_packet **out_blob)
{
    storage_s3 *self = handle;
    (void)job;
    *out_blob = NULL;
    spark_status status = check_active(self);
    if (status != SPARK_OK)
        return status;
    if (!url)
        return fail_message(self, SPARK_E_INVALID_ARGUMENT, "s3 storage: no URL given");
    s3_buf data;
    s3_buf_init(&data);
    s3_error err;
    memset(&err, 0, sizeof err);
    bool ok = false;
    if (has_prefix(url, "s3://")) {
        char *bucket = NULL;
        char *key = NULL;
        if (!s3_parse_url(url, &bucket, &key)) {
            free(bucket);
            free(key);
            return fail_message(self, SPARK_E_INVALID_ARGUMENT,
                                "s3 storage: not an s3://bucket/key URL");
        }
        ok = s3_get(self->client, bucket, key, self->max_object_size, &data, NULL, &err);
        free(bucket);
        free(key);
    } else if (has_prefix(url, "https://")) {
        ok = s3_get_url(self->client, url, self->max_object_size, &data, &err);
    } else {
        return fail_message(self, SPARK_E_INVALID_ARGUMENT,
                            "s3 storage: only s3:// and https:// URLs are served");
    }
    if (!ok) {
        s3_buf_free(&data);
        return fail_client(self, &err);
    }
    char name[256];
    base_name(url, name, sizeof name);
    spark_packet *packet = self->alloc->blob(self->host, data.len, media_type_of(name), name);
    if (!packet) {
        s3_buf_free(&data);
        return fail_message(self, SPARK_E_NO_MEMORY, "s3 storage: out of memory for a blob");
    }
    if (data.len > 0)
        memcpy(packet->data.blob.bytes, data.data, data.len);
    s3_buf_free(&data);
    *out_blob = packet;
    return SPARK_OK;
}

static void writer_free(s3_writer *writer)
{
    if (!writer)
        return;
    free(writer->bucket);
    free(writer->key);
    free(writer->media_type);
    s3_buf_free(&writer->data);
    free(writer);
}

static spark_status s3_write_begin(void *handle, const spark_job *job, const char *url,
                                   const char *media_type, void **out_writer)
{
    storage_s3 *self = handle;
    (void)job;
    *out_writer = NULL;
    spark_status status = check_active(self);
    if (status != SPARK_OK)
        return status;
    if (!url || !has_prefix(url, "s3://"))
        return fail_message(self, SPARK_E_INVALID_ARGUMENT,
                            "s3 storage: writes need an s3://bucket/key URL (https:// URLs "
                            "are read only)");
    s3_writer *writer = calloc(1, sizeof *writer);
    if (!writer)
        return SPARK_E_NO_MEMORY;
    s3_buf_init(&writer->data);
    if (!s3_parse_url(url, &writer->bucket, &writer->key) || !writer->key ||
        writer->key[0] == '\0') {
        writer_free(writer);
        return fail_message(self, SPARK_E_INVALID_ARGUMENT,
                            "s3 storage: not an s3://bucket/key URL");
    }
    writer->media_type = strdup(media_type && media_type[0] ? media_type
                                                           : media_type_of(writer->key));
    if (!writer->media_type) {
        writer_free(writer);
        return SPARK_E_NO_MEMORY;
    }
    *out_writer = writer;
    return SPARK_OK;
}

static spark_status s3_write(void *handle, void *writer_handle, const void *data,
                             uint64_t size)
{
    storage_s3 *self = handle;
    s3_writer *writer = writer_handle;
    if (!writer)
        return fail_message(self, SPARK_E_INVALID_ARGUMENT, "s3 storage: no writer given");
    if (size > 0 && !data)
        return fail_message(self, SPARK_E_INVALID_ARGUMENT, "s3 storage: write of NULL data");
    if (size > SIZE_MAX - writer->data.len - 1)
        return fail_message(self, SPARK_E_NO_MEMORY, "s3 storage: object too large");
    s3_buf_append(&writer->data, data, (size_t)size);
    if (!s3_buf_ok(&writer->data))
        return fail_message(self, SPARK_E_NO_MEMORY,
                            "s3 storage: out of memory buffering the object");
    return SPARK_OK;
}

static spark_status s3_write_commit(void *handle, void *writer_handle, char *url_out,
                                    uint32_t url_cap)
{
    storage_s3 *self = handle;
    s3_writer *writer = writer_handle;
    if (!writer)
        return fail_message(self, SPARK_E_INVALID_ARGUMENT, "s3 storage: no writer given");
    s3_error err;
    memset(&err, 0, sizeof err);
    s3_buf url;
    s3_buf_init(&url);
    /* The URL first: a commit the caller cannot learn the URL of must not upload anything. */
    if (!s3_presign_url(self->client, "GET", writer->bucket, writer->key,
                        self->presign_expiry, &url, &err)) {
        s3_buf_free(&url);
        writer_free(writer);
        return fail_client(self, &err);
    }
    if (!url_out || url.len + 1 > url_cap) {
        char message[512];
        snprintf(message, sizeof message,
                 "cannot commit s3://%.150s/%.200s: the URL buffer holds %u bytes, the "
                 "presigned URL needs %zu; nothing was written",
                 writer->bucket, writer->key, (unsigned)url_cap, url.len + 1);
        s3_buf_free(&url);
        writer_free(writer);
        return fail_message(self, SPARK_E_INVALID_ARGUMENT, message);
    }
    bool ok = s3_put(self->client, writer->bucket, writer->key, writer->data.data,
                     writer->data.len, writer->media_type, NULL, &err);
    writer_free(writer);
    if (!ok) {
        s3_buf_free(&url);
        url_out[0] = '\0';
        return fail_client(self, &err);
    }
    memcpy(url_out, s3_buf_str(&url), url.len + 1);
    s3_buf_free(&url);
    return SPARK_OK;
}

static void s3_write_abort(void *handle, void *writer)
{
    (void)handle;
    writer_free(writer);
}

static void s3_deactivate(void *handle)
{
    storage_s3 *self = handle;
    s3_client_free(self->client);
    self->client = NULL;
}

static void s3_destroy(void *handle)
{
    storage_s3 *self = handle;
    if (!self)
        return;
    s3_client_free(self->client);
    free_settings(self);
    free(self);
}

const spark_storage_ops storage_s3_ops = {
    .struct_size = sizeof(spark_storage_ops),
    .create = s3_create,
    .configure = s3_configure,
    .activate = s3_activate,
    .read = s3_read,
    .write_begin = s3_write_begin,
    .write = s3_write,
    .write_commit = s3_write_commit,
    .write_abort = s3_write_abort,
    .deactivate = s3_deactivate,
    .destroy = s3_destroy,
};
