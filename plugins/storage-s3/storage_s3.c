/* storage_s3.c - the SDK side of the S3 storage backend: instance state, parameters and the
 * environment fallbacks, and the mapping of client outcomes to spark_status with a message
 * posted to the host. Requests, signing, retries and multipart are in s3_client.c.
 *
 * After activate the instance is read-only (settings, the client, extension tables) and the
 * client is thread-safe, so reads and writes from many job threads need no locking. A writer
 * keeps the object in memory up to the multipart threshold and spools the rest to an
 * unlinked temporary file, so memory stays bounded; nothing is sent before commit, so abort
 * only drops the data (the client aborts a failed or cancelled multipart upload itself).
 * Transfers poll the job's cancellation through the progress service. Secrets are never put
 * in a message. */
#include "storage_s3.h"

#include <spark/ext/alloc.h>
#include <spark/ext/log.h>
#include <spark/ext/progress.h>

#include <errno.h>
#include <stdatomic.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "s3_buf.h"
#include "s3_client.h"
#include "s3_profile.h"

typedef struct storage_s3 {
    const spark_host *host;
    const spark_ext_log *log;     /* NULL when the host has none */
    const spark_ext_alloc *alloc; /* NULL when the host has none */
    const spark_ext_progress *progress; /* NULL when the host has none */
    /* From configure; "" means "from the environment". */
    char *endpoint;
    char *region;
    char *access_key_id;
    char *secret_access_key;
    char *session_token;
    char *profile;
    s3_addressing addressing;
    long presign_expiry;
    uint64_t multipart_threshold;
    uint64_t part_size;
    uint64_t max_object_size;
    s3_client *client; /* set by activate */
} storage_s3;

typedef struct s3_writer {
    const storage_s3 *owner;
    const spark_job *job; /* borrowed: alive until the store node's job_end returns */
    char *bucket;
    char *key;
    char *media_type;
    s3_buf data;    /* the object while it is at most multipart_threshold bytes */
    int spool_fd;   /* -1, or an unlinked temporary file holding the whole object */
    uint64_t size;  /* bytes written so far */
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
    free(self->profile);
    self->endpoint = self->region = self->access_key_id = NULL;
    self->secret_access_key = self->session_token = self->profile = NULL;
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
    self->progress = spark_host_service(host, SPARK_EXT_PROGRESS,
                                        SPARK_SIZE_THROUGH(spark_ext_progress, check));
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
    self->profile = copy_string(param_string(params, STORAGE_S3_PARAM_PROFILE));
    if (!self->endpoint || !self->region || !self->access_key_id || !self->secret_access_key ||
        !self->session_token || !self->profile)
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

/* Where the credentials came from, for the info log line (never the values). */
typedef struct resolved_credentials {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token;
    const char *source;
} resolved_credentials;

/* The AWS SDKs' order: the parameters, then the environment, then the shared credentials
 * file's profile (the profile parameter, else AWS_PROFILE, else "default"). A profile named
 * in the pipeline beats the environment's keys, as an explicit profile does in the SDKs. */
static spark_status resolve_credentials(storage_s3 *self, s3_profile *profile,
                                        resolved_credentials *out, const char **profile_region)
{
    memset(out, 0, sizeof *out);
    *profile_region = NULL;
    const char *param_key = self->access_key_id[0] ? self->access_key_id : NULL;
    const char *param_secret = self->secret_access_key[0] ? self->secret_access_key : NULL;
    bool explicit_profile = self->profile[0] != '\0';
    const char *env_key = setting(NULL, "AWS_ACCESS_KEY_ID", NULL);
    const char *env_secret = setting(NULL, "AWS_SECRET_ACCESS_KEY", NULL);
    const char *profile_name = explicit_profile ? self->profile
                                                : setting(NULL, "AWS_PROFILE", NULL);
    if (!profile_name)
        profile_name = "default";

    char *credentials_path = s3_profile_path("AWS_SHARED_CREDENTIALS_FILE", "credentials");
    char *config_path = s3_profile_path("AWS_CONFIG_FILE", "config");
    char message[768];
    bool read_ok = s3_profile_load(credentials_path, config_path, profile_name, profile,
                                   message, sizeof message);
    spark_status status = SPARK_OK;
    if (!read_ok) {
        status = fail_message(self, SPARK_E_IO, message);
    } else if (explicit_profile && !profile->found) {
        snprintf(message, sizeof message,
                 "s3 storage: profile '%.64s' (parameter profile) is in neither %.300s nor "
                 "%.300s", profile_name, credentials_path ? credentials_path : "(no HOME)",
                 config_path ? config_path : "(no HOME)");
        status = fail_message(self, SPARK_E_INVALID_ARGUMENT, message);
    } else {
        *profile_region = profile->region;
        bool profile_has_keys = profile->access_key_id && profile->access_key_id[0] &&
                                profile->secret_access_key && profile->secret_access_key[0];
        if (param_key || param_secret) {
            out->access_key_id = param_key ? param_key : env_key;
            out->secret_access_key = param_secret ? param_secret : env_secret;
            out->session_token = setting(self->session_token, "AWS_SESSION_TOKEN", NULL);
            out->source = "the pipeline parameters";
        } else if (explicit_profile && profile_has_keys) {
            out->access_key_id = profile->access_key_id;
            out->secret_access_key = profile->secret_access_key;
            out->session_token = profile->session_token;
            out->source = "the shared credentials profile";
        } else if (env_key || env_secret) {
            out->access_key_id = env_key;
            out->secret_access_key = env_secret;
            out->session_token = setting(self->session_token, "AWS_SESSION_TOKEN", NULL);
            out->source = "the environment";
        } else if (profile_has_keys) {
            out->access_key_id = profile->access_key_id;
            out->secret_access_key = profile->secret_access_key;
            out->session_token = self->session_token[0] ? self->session_token
                                                        : profile->session_token;
            out->source = "the shared credentials profile";
        }
        if (!out->access_key_id || !out->secret_access_key) {
            snprintf(message, sizeof message,
                     "s3 storage: no credentials: %s%s%s not set, and profile '%.64s' has no "
                     "aws_access_key_id and aws_secret_access_key in %.300s (give the "
                     "parameters access_key_id and secret_access_key, set the environment "
                     "variables, or name a profile)",
                     out->access_key_id ? "" : "AWS_ACCESS_KEY_ID",
                     !out->access_key_id && !out->secret_access_key ? " and " : "",
                     out->secret_access_key ? "" : "AWS_SECRET_ACCESS_KEY", profile_name,
                     credentials_path ? credentials_path : "(no HOME)");
            status = fail_message(self, SPARK_E_INVALID_ARGUMENT, message);
        }
    }
    free(credentials_path);
    free(config_path);
    return status;
}

static spark_status s3_activate(void *handle)
{
    storage_s3 *self = handle;
    if (!self->alloc)
        return fail_message(self, SPARK_E_UNSUPPORTED,
                            "the host has no " SPARK_EXT_ALLOC " extension: cannot make blobs");
    s3_profile profile;
    resolved_credentials creds;
    const char *profile_region = NULL;
    spark_status status = resolve_credentials(self, &profile, &creds, &profile_region);
    if (status != SPARK_OK) {
        s3_profile_free(&profile);
        return status;
    }
    const char *region = setting(self->region, "AWS_REGION", "AWS_DEFAULT_REGION");
    if (!region && profile_region && profile_region[0])
        region = profile_region;
    s3_client_config config = {
        .endpoint = setting(self->endpoint, "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
        .region = region ? region : "us-east-1",
        .access_key_id = creds.access_key_id,
        .secret_access_key = creds.secret_access_key,
        .session_token = creds.session_token,
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
    if (client && self->log && self->log->log) {
        char hint[12], line[640];
        s3_key_id_hint(creds.access_key_id, hint);
        snprintf(line, sizeof line,
                 "s3 storage: endpoint %.300s, region %.64s, credentials from %s (key id %s%s)",
                 config.endpoint ? config.endpoint : "AWS", config.region, creds.source, hint,
                 creds.session_token && creds.session_token[0] ? ", with a session token" : "");
        self->log->log(self->host, SPARK_LOG_INFO, line);
    }
    /* The client copied what it keeps. */
    s3_profile_free(&profile);
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

/* The job being stopped (cancelled, past its deadline, or failed elsewhere)? Polled from
 * the upload threads too; the status the engine gave is kept for the caller. */
typedef struct job_cancel {
    const storage_s3 *self;
    const spark_job *job;
    atomic_int stop; /* SPARK_OK until the engine says stop */
} job_cancel;

static int job_cancelled(void *user)
{
    job_cancel *jc = user;
    if (!jc->job || !jc->self->progress)
        return 0;
    spark_status status = jc->self->progress->check(jc->self->host, jc->job);
    if (status != SPARK_OK)
        atomic_store(&jc->stop, (int)status);
    return status != SPARK_OK;
}

/* A transfer the job's stop interrupted: the engine's status, with the reason in words. */
static spark_status fail_stopped(const storage_s3 *self, const s3_error *err,
                                 const job_cancel *jc)
{
    spark_status stop = (spark_status)atomic_load(&jc->stop);
    char message[1200];
    snprintf(message, sizeof message, "%s (%s)", err->message,
             stop == SPARK_E_TIMEOUT ? "the job ran past its deadline"
                                     : "the job was stopped");
    post_error(self, message);
    return stop == SPARK_E_TIMEOUT ? SPARK_E_TIMEOUT : SPARK_E_CANCELLED;
}

/* A download straight into the blob packet (s3_client's sink): the object is held once. */
typedef struct blob_sink {
    const storage_s3 *self;
    const char *name;
    spark_packet *packet; /* the latest attempt's */
} blob_sink;

static uint8_t *reserve_blob(void *user, uint64_t size)
{
    blob_sink *sink = user;
    if (sink->packet && sink->packet->data.blob.size == size)
        return (uint8_t *)sink->packet->data.blob.bytes;
    sink->self->alloc->release(sink->packet);
    sink->packet = sink->self->alloc->blob(sink->self->host, size, media_type_of(sink->name),
                                           sink->name);
    return sink->packet ? (uint8_t *)sink->packet->data.blob.bytes : NULL;
}

static spark_status s3_read(void *handle, const spark_job *job, const char *url,
                            spark_packet **out_blob)
{
    storage_s3 *self = handle;
    job_cancel jc = {self, job, SPARK_OK};
    const s3_cancel cancel = {job_cancelled, &jc};
    *out_blob = NULL;
    spark_status status = check_active(self);
    if (status != SPARK_OK)
        return status;
    if (!url)
        return fail_message(self, SPARK_E_INVALID_ARGUMENT, "s3 storage: no URL given");
    char name[256];
    base_name(url, name, sizeof name);
    blob_sink sink = {self, name, NULL};
    s3_buf data; /* https:// reads: the buffer, then the blob */
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
        const s3_sink to_blob = {reserve_blob, &sink};
        ok = s3_get_to(self->client, bucket, key, self->max_object_size, &cancel, &to_blob,
                       NULL, &err);
        free(bucket);
        free(key);
    } else if (has_prefix(url, "https://")) {
        ok = s3_get_url(self->client, url, self->max_object_size, &cancel, &data, &err);
        if (ok && !reserve_blob(&sink, data.len)) {
            s3_buf_free(&data);
            return fail_message(self, SPARK_E_NO_MEMORY, "s3 storage: out of memory for a blob");
        }
        if (ok && data.len > 0)
            memcpy(sink.packet->data.blob.bytes, data.data, data.len);
        s3_buf_free(&data);
    } else {
        return fail_message(self, SPARK_E_INVALID_ARGUMENT,
                            "s3 storage: only s3:// and https:// URLs are served");
    }
    if (!ok) {
        self->alloc->release(sink.packet);
        return err.cancelled ? fail_stopped(self, &err, &jc) : fail_client(self, &err);
    }
    *out_blob = sink.packet;
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
    if (writer->spool_fd >= 0)
        close(writer->spool_fd);
    free(writer);
}

static spark_status s3_write_begin(void *handle, const spark_job *job, const char *url,
                                   const char *media_type, void **out_writer)
{
    storage_s3 *self = handle;
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
    writer->owner = self;
    writer->job = job;
    writer->spool_fd = -1;
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

/* Writes all of data[size] to fd, false with errno set on failure. */
static bool write_all(int fd, const void *data, size_t size)
{
    const char *p = data;
    while (size > 0) {
        ssize_t n = write(fd, p, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        size -= (size_t)n;
    }
    return true;
}

/* Moves the buffered bytes to an unlinked temporary file in TMPDIR (else /tmp): from now
 * on the object lives on disk and the upload reads it part by part. */
static spark_status start_spool(const storage_s3 *self, s3_writer *writer)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !dir[0])
        dir = "/tmp";
    char path[4096];
    snprintf(path, sizeof path, "%s/sparkhost-s3-XXXXXX", dir);
    int fd = mkstemp(path);
    char message[4400];
    if (fd < 0) {
        snprintf(message, sizeof message,
                 "s3 storage: cannot create a temporary file in %.4000s (TMPDIR) to spool "
                 "s3://%.150s/%.150s: %s", dir, writer->bucket, writer->key, strerror(errno));
        return fail_message(self, SPARK_E_IO, message);
    }
    unlink(path); /* gone with the descriptor, whatever happens to the job */
    if (!write_all(fd, writer->data.data, writer->data.len)) {
        snprintf(message, sizeof message,
                 "s3 storage: cannot spool s3://%.150s/%.150s to %.4000s: %s", writer->bucket,
                 writer->key, dir, strerror(errno));
        close(fd);
        return fail_message(self, SPARK_E_IO, message);
    }
    s3_buf_free(&writer->data);
    s3_buf_init(&writer->data);
    writer->spool_fd = fd;
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
    if (size > SIZE_MAX - writer->size - 1)
        return fail_message(self, SPARK_E_NO_MEMORY, "s3 storage: object too large");
    if (writer->spool_fd < 0 && writer->size + size > self->multipart_threshold) {
        spark_status status = start_spool(self, writer);
        if (status != SPARK_OK)
            return status;
    }
    if (writer->spool_fd >= 0) {
        if (!write_all(writer->spool_fd, data, (size_t)size)) {
            char message[512];
            snprintf(message, sizeof message,
                     "s3 storage: cannot spool s3://%.150s/%.150s to a temporary file: %s",
                     writer->bucket, writer->key, strerror(errno));
            return fail_message(self, SPARK_E_IO, message);
        }
    } else {
        s3_buf_append(&writer->data, data, (size_t)size);
        if (!s3_buf_ok(&writer->data))
            return fail_message(self, SPARK_E_NO_MEMORY,
                                "s3 storage: out of memory buffering the object");
    }
    writer->size += size;
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
    job_cancel jc = {self, writer->job, SPARK_OK};
    const s3_cancel cancel = {job_cancelled, &jc};
    bool ok = writer->spool_fd >= 0
                  ? s3_put_file(self->client, writer->bucket, writer->key, writer->spool_fd,
                                writer->size, writer->media_type, &cancel, NULL, &err)
                  : s3_put(self->client, writer->bucket, writer->key, writer->data.data,
                           writer->data.len, writer->media_type, &cancel, NULL, &err);
    writer_free(writer);
    if (!ok) {
        s3_buf_free(&url);
        url_out[0] = '\0';
        return err.cancelled ? fail_stopped(self, &err, &jc) : fail_client(self, &err);
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
