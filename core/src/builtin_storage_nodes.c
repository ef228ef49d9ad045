/* Built-in nodes that move bytes through the pipeline's storage backends:
 * "org.sparkhost.core.fetch" reads a URL into a blob, "org.sparkhost.core.store" writes a
 * blob to a URL and commits it only when the whole job succeeded. */
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
     .flags = SPARK_PARAM_REQUIRED | SPARK_PARAM_PER_JOB,
     .doc = "what to read: a path, file://, s3:// or https:// URL"},
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

/* ---- store ---------------------------------------------------------------------------- */

typedef struct store_job {
    spark_storage_writer *writer;
    uint64_t bytes;
} store_job;

static spark_status store_job_begin(void *self, const spark_job *job, void **out_state)
{
    (void)self;
    (void)job;
    *out_state = calloc(1, sizeof(store_job));
    return *out_state ? SPARK_OK : SPARK_E_NO_MEMORY;
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

static spark_status store_process(void *instance, void *job_state, const spark_job *job,
                                  uint32_t port, const spark_packet *packet)
{
    storage_node *self = instance;
    store_job *state = job_state;
    (void)port;
    if (!packet)
        return SPARK_OK;
    if (state->writer) {
        self->log->error(self->host, "received a second blob in one job; a store node writes "
                         "exactly one object per job");
        return SPARK_E_INVALID_ARGUMENT;
    }
    const spark_blob_data *b = &packet->data.blob;
    char *url = expand_url(job->params->get_string(job->params->user, "url"), job->id,
                           b->file_name && *b->file_name ? b->file_name : "output");
    if (!url)
        return SPARK_E_NO_MEMORY;
    spark_status st = self->storage->write_begin(self->host, job, url, b->media_type,
                                                 &state->writer);
    free(url);
    if (st < 0)
        return st;
    st = self->storage->write(state->writer, b->bytes, b->size);
    state->bytes = b->size;
    return st;
}

static spark_status store_job_end(void *instance, void *job_state, const spark_job *job,
                                  spark_status outcome)
{
    storage_node *self = instance;
    store_job *state = job_state;
    spark_status st = SPARK_OK;
    if (state->writer && outcome == SPARK_OK) {
        char url[4096];
        st = self->storage->commit(state->writer, url, sizeof url);
        if (st == SPARK_OK) {
            job->post_result(job, "url", SPARK_VALUE_STRING, url, 0);
            job->post_result(job, "bytes", SPARK_VALUE_INTEGER, NULL, (double)state->bytes);
        }
    } else if (state->writer) {
        self->storage->abort(state->writer);
    } else if (outcome == SPARK_OK && !job->params->get_boolean(job->params->user, "optional")) {
        self->log->error(self->host, "the job produced nothing to store (set optional: true "
                         "where an output may be absent)");
        st = SPARK_E_INVALID_ARGUMENT;
    }
    free(state);
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
    .param_count = 2,
    .ports = store_ports,
    .params = store_params,
    .result_count = 2,
    .results = store_results,
    .ops = &store_ops,
};
