/* Built-in nodes that move bytes through the pipeline's storage backends:
 * "org.sparkhost.core.fetch" reads a URL into a blob, "org.sparkhost.core.store" writes a
 * blob to a URL and commits it only when the whole job succeeded. In stream mode the store
 * appends consecutive blobs to one object and hands each to the host as it arrives. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct storage_node {
    const spark_host *host;
    const spark_ext_alloc *alloc;
    const spark_ext_log *log;
    const spark_ext_storage *storage;
} storage_node;

static spark_status storage_node_create(const spark_host *host, const char *node_id, void **out)
{
    (void)node_id;
    storage_node *self = calloc(1, sizeof *self);
    if (!self)
        return SPARK_E_NO_MEMORY;
    self->host = host;
    self->alloc = host->get_extension(host, SPARK_EXT_ALLOC);
    self->log = host->get_extension(host, SPARK_EXT_LOG);
    self->storage = host->get_extension(host, SPARK_EXT_STORAGE);
    *out = self;
    return SPARK_OK;
}

static void storage_node_destroy(void *self)
{
    free(self);
}

/* ---- fetch ---------------------------------------------------------------------------- */

static spark_status fetch_process(void *instance, void *job_state, const spark_job *job,
                                  uint32_t port, const spark_packet *packet)
{
    storage_node *self = instance;
    (void)job_state;
    (void)port;
    (void)packet;
    const char *url = job->params->get_string(job->params->user, "url");
    if (!url || !*url)
        return SPARK_OK; /* nothing asked: the output ends empty */
    spark_packet *blob = NULL;
    spark_status st = self->storage->read(self->host, job, url, &blob);
    if (st < 0)
        return st;
    return job->emit(job, 0, blob);
}

static const spark_node_ops fetch_ops = {
    .struct_size = sizeof(spark_node_ops),
    .create = storage_node_create,
    .process = fetch_process,
    .destroy = storage_node_destroy,
};

static const spark_port_desc fetch_ports[] = {
    {.name = "out", .direction = SPARK_PORT_OUT, .kind = SPARK_KIND_BLOB,
     .doc = "the object's bytes"},
};

static const spark_param_desc fetch_params[] = {
    {.key = "url", .type = SPARK_PARAM_URL,
     .flags = SPARK_PARAM_PER_JOB,
     .doc = "what to read: a path, file://, s3:// or https:// URL; unset: nothing (the output "
            "ends with no packet, for optional inputs such as a reference a saved voice "
            "replaces)"},
};

const spark_node_desc sp_builtin_fetch_desc = {
    .struct_size = sizeof(spark_node_desc),
    .id = "org.sparkhost.core.fetch",
    .name = "fetch",
    .version = SPARK_VERSION,
    .description = "Reads a URL through the pipeline's storage backends into a blob",
    .port_count = 1,
    .param_count = 1,
    .ports = fetch_ports,
    .params = fetch_params,
    .ops = &fetch_ops,
};

/* ---- store ----------------------------------------------------------------------------- */

/* The URL that sends an object to the host (spark_job_options.on_chunk) instead of storage. */
#define STORE_URL_HOST "-"

typedef struct store_job {
    bool stream;                 /* blobs are consecutive pieces of one object */
    bool to_host;                /* url "-": no storage write, the host gets the bytes */
    bool started;                /* the first blob came */
    spark_storage_writer *writer;
    char *url;                   /* expanded, from the first blob */
    char *media_type;            /* of the first blob: every piece must have it */
    char *file_name;
    const spark_packet *held;    /* to_host without stream: delivered when the job succeeds */
    uint64_t bytes;
    uint64_t pieces;
} store_job;

static void store_job_free(store_job *state)
{
    if (state->held)
        sp_ext_alloc.release(state->held);
    free(state->url);
    free(state->media_type);
    free(state->file_name);
    free(state);
}

static spark_status store_job_begin(void *instance, const spark_job *job, void **out_state)
{
    storage_node *self = instance;
    const spark_params *params = job->params;
    store_job *state = calloc(1, sizeof(store_job));
    if (!state)
        return SPARK_E_NO_MEMORY;
    state->stream = params->get_boolean(params->user, "stream") != 0;
    state->to_host = strcmp(params->get_string(params->user, "url"), STORE_URL_HOST) == 0;
    if (state->to_host && !sp_job_takes_chunks(job)) {
        self->log->error(self->host, "url '-' hands the output to the host, but this host "
                         "takes no streamed output; give a path or storage URL");
        free(state);
        return SPARK_E_INVALID_ARGUMENT;
    }
    *out_state = state;
    return SPARK_OK;
}

/* Expands {job_id}, {file_name} and {ext} in the URL template. */
static char *expand_url(const char *pattern, const char *job_id, const char *file_name)
{
    const char *dot = strrchr(file_name, '.');
    const char *ext = dot ? dot + 1 : "";
    sp_buf out = {0};
    sp_buf_append(&out, "");
    for (const char *p = pattern; *p;) {
        if (strncmp(p, "{job_id}", 8) == 0) {
            sp_buf_append(&out, job_id);
            p += 8;
        } else if (strncmp(p, "{file_name}", 11) == 0) {
            sp_buf_append(&out, file_name);
            p += 11;
        } else if (strncmp(p, "{ext}", 5) == 0) {
            sp_buf_append(&out, ext);
            p += 5;
        } else {
            char one[2] = {*p++, 0};
            sp_buf_append(&out, one);
        }
    }
    return out.data;
}

/* The first blob names the object: URL, media type, file name; storage opens the write. */
static spark_status store_start(storage_node *self, store_job *state, const spark_job *job,
                                const spark_blob_data *b)
{
    const char *file_name = b->file_name && *b->file_name ? b->file_name : "output";
    state->url = state->to_host ? sp_strdup(STORE_URL_HOST)
                                : expand_url(job->params->get_string(job->params->user, "url"),
                                             job->id, file_name);
    state->media_type = sp_strdup(b->media_type ? b->media_type : "application/octet-stream");
    state->file_name = sp_strdup(b->file_name ? b->file_name : "");
    if (!state->url || !state->media_type || !state->file_name)
        return SPARK_E_NO_MEMORY;
    state->started = true;
    if (state->to_host)
        return SPARK_OK;
    return self->storage->write_begin(self->host, job, state->url, state->media_type,
                                      &state->writer);
}

/* Hands one piece to the host (timings.first_chunk, on_chunk). */
static spark_status store_deliver(store_job *state, const spark_job *job,
                                  const spark_blob_data *b)
{
    const sp_node_job *nj = job->host_data;
    spark_chunk chunk = {
        .job_id = job->id,
        .node_id = nj->job->pipeline->nodes[nj->node]->id,
        .url = state->url,
        .media_type = state->media_type,
        .file_name = state->file_name,
        .bytes = b->bytes,
        .size = (size_t)b->size,
        .seq = state->pieces,
        .offset = state->bytes,
    };
    return sp_job_deliver_chunk(job, &chunk);
}

static spark_status store_process(void *instance, void *job_state, const spark_job *job,
                                  uint32_t port, const spark_packet *packet)
{
    storage_node *self = instance;
    store_job *state = job_state;
    (void)port;
    if (!packet)
        return SPARK_OK;
    const spark_blob_data *b = &packet->data.blob;
    if (state->started && !state->stream) {
        self->log->error(self->host, "received a second blob in one job; a store node writes "
                         "exactly one object per job (set stream: true to append pieces)");
        return SPARK_E_INVALID_ARGUMENT;
    }
    spark_status st = SPARK_OK;
    if (!state->started) {
        st = store_start(self, state, job, b);
        if (st < 0)
            return st;
    } else if (strcmp(b->media_type ? b->media_type : "application/octet-stream",
                      state->media_type) != 0) {
        char *msg = sp_printf("streamed piece %llu is %s, but the object is %s; all pieces of "
                              "one object must have one media type",
                              (unsigned long long)state->pieces, b->media_type,
                              state->media_type);
        self->log->error(self->host, msg ? msg : "media type changed within a stream");
        free(msg);
        return SPARK_E_INVALID_ARGUMENT;
    }
    if (state->writer && b->size)
        st = self->storage->write(state->writer, b->bytes, b->size);
    if (st < 0)
        return st;
    if (state->stream) {
        st = store_deliver(state, job, b);
    } else if (state->to_host) {
        state->held = sp_ext_alloc.retain(packet);
    }
    state->bytes += b->size;
    state->pieces++;
    return st;
}

static spark_status store_job_end(void *instance, void *job_state, const spark_job *job,
                                  spark_status outcome)
{
    storage_node *self = instance;
    store_job *state = job_state;
    spark_status st = SPARK_OK;
    if (state->started && outcome == SPARK_OK) {
        char url[4096];
        if (state->writer) {
            st = self->storage->commit(state->writer, url, sizeof url);
        } else {
            snprintf(url, sizeof url, "%s", state->url);
            if (state->held) {
                state->bytes = 0;
                state->pieces = 0;
                st = store_deliver(state, job, &state->held->data.blob);
                state->bytes = state->held->data.blob.size;
            }
        }
        if (st == SPARK_OK) {
            job->post_result(job, "url", SPARK_VALUE_STRING, url, 0);
            job->post_result(job, "bytes", SPARK_VALUE_INTEGER, NULL, (double)state->bytes);
        }
    } else if (state->writer) {
        self->storage->abort(state->writer);
    } else if (!state->started && outcome == SPARK_OK &&
               !job->params->get_boolean(job->params->user, "optional")) {
        self->log->error(self->host, "the job produced nothing to store (set optional: true "
                         "where an output may be absent)");
        st = SPARK_E_INVALID_ARGUMENT;
    }
    store_job_free(state);
    return st;
}

static const spark_node_ops store_ops = {
    .struct_size = sizeof(spark_node_ops),
    .create = storage_node_create,
    .job_begin = store_job_begin,
    .process = store_process,
    .job_end = store_job_end,
    .destroy = storage_node_destroy,
};

static const spark_port_desc store_ports[] = {
    {.name = "in", .direction = SPARK_PORT_IN, .kind = SPARK_KIND_BLOB,
     .doc = "the one object to write"},
};

static const spark_param_desc store_params[] = {
    {.key = "url", .type = SPARK_PARAM_URL,
     .flags = SPARK_PARAM_PER_JOB, .default_value = "{job_id}/{file_name}",
     .doc = "where to write; {job_id}, {file_name} and {ext} are replaced"},
    {.key = "optional", .type = SPARK_PARAM_BOOLEAN,
     .flags = SPARK_PARAM_PER_JOB, .default_value = "false",
     .doc = "a job that produces nothing succeeds and writes nothing (for outputs such as "
            "subtitles that a job may turn off)"},
    {.key = "stream", .type = SPARK_PARAM_BOOLEAN,
     .flags = SPARK_PARAM_PER_JOB, .default_value = "false",
     .doc = "blobs are consecutive pieces of one object: each is appended and handed to the "
            "host as it arrives; url '-' sends the object to the host only"},
};

static const spark_result_desc store_results[] = {
    {.name = "url", .type = SPARK_VALUE_STRING, .doc = "the URL of the written object"},
    {.name = "bytes", .type = SPARK_VALUE_INTEGER, .doc = "its size"},
};

const spark_node_desc sp_builtin_store_desc = {
    .struct_size = sizeof(spark_node_desc),
    .id = "org.sparkhost.core.store",
    .name = "store",
    .version = SPARK_VERSION,
    .description = "Writes a blob through the storage backends, committed when the job succeeds",
    .port_count = 1,
    .param_count = 3,
    .ports = store_ports,
    .params = store_params,
    .result_count = 2,
    .results = store_results,
    .ops = &store_ops,
};
