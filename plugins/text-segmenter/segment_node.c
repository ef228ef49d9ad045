/* segment_node.c - the SDK side of the text segmenter: parameters, per-job sequence
 * numbers, packets in and out, errors posted to the host. The segmenting is segmenter.c.
 *
 * Each input packet is segmented on its own (the job text normally arrives as one packet);
 * segment offsets are the input packet's offset plus the segment's offset within it, and
 * seq numbers run on across packets of one job. */
#include "segment_node.h"

#include <spark/ext/alloc.h>
#include <spark/ext/log.h>

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "segmenter.h"

typedef struct segment_node {
    const spark_host *host;
    const spark_ext_log *log;     /* NULL when the host has none */
    const spark_ext_alloc *alloc; /* NULL when the host has none */
    seg_options options;          /* read-only after configure */
} segment_node;

typedef struct segment_job {
    int64_t next_seq;
} segment_job;

static spark_status fail(const segment_node *self, spark_status status, const char *message)
{
    if (self->log && self->log->error)
        self->log->error(self->host, message);
    return status;
}

static spark_status segment_create(const spark_host *host, const char *node_id,
                                   void **out_self)
{
    (void)node_id;
    *out_self = NULL;
    segment_node *self = calloc(1, sizeof *self);
    if (!self)
        return SPARK_E_NO_MEMORY;
    self->host = host;
    /* An older host's tables may be shorter than this header's: use only what they cover. */
    self->log = spark_host_service(host, SPARK_EXT_LOG, SPARK_SIZE_THROUGH(spark_ext_log, error));
    self->alloc = spark_host_service(host, SPARK_EXT_ALLOC,
                                     SPARK_SIZE_THROUGH(spark_ext_alloc, release));
    self->options.max_chars = SEGMENT_MAX_CHARS_DEFAULT;
    self->options.min_chars = SEGMENT_MIN_CHARS_DEFAULT;
    self->options.split_newlines = true;
    *out_self = self;
    return SPARK_OK;
}

/* An INTEGER parameter within [lo, hi], or the default when not given. */
static spark_status integer_param(const segment_node *self, const spark_params *params,
                                  const char *key, int64_t lo, int64_t hi, uint32_t *value)
{
    if (!params->get_integer || (params->has && !params->has(params->user, key)))
        return SPARK_OK;
    int64_t v = params->get_integer(params->user, key);
    if (v < lo || v > hi) {
        char message[160];
        snprintf(message, sizeof message, "%s is %" PRId64 "; it must be between %" PRId64
                 " and %" PRId64, key, v, lo, hi);
        return fail(self, SPARK_E_INVALID_ARGUMENT, message);
    }
    *value = (uint32_t)v;
    return SPARK_OK;
}

static spark_status segment_configure(void *handle, const spark_params *params)
{
    segment_node *self = handle;
    seg_options options = self->options;
    spark_status status = integer_param(self, params, SEGMENT_PARAM_MAX_CHARS,
                                        SEGMENT_MAX_CHARS_MIN, SEGMENT_MAX_CHARS_MAX,
                                        &options.max_chars);
    if (status == SPARK_OK)
        status = integer_param(self, params, SEGMENT_PARAM_MIN_CHARS, SEGMENT_MIN_CHARS_MIN,
                               SEGMENT_MIN_CHARS_MAX, &options.min_chars);
    if (status != SPARK_OK)
        return status;
    if (params->get_boolean &&
        (!params->has || params->has(params->user, SEGMENT_PARAM_SPLIT_NEWLINES)))
        options.split_newlines =
            params->get_boolean(params->user, SEGMENT_PARAM_SPLIT_NEWLINES) != 0;
    self->options = options;
    return SPARK_OK;
}

static spark_status segment_activate(void *handle)
{
    segment_node *self = handle;
    if (!self->alloc)
        return fail(self, SPARK_E_UNSUPPORTED,
                    "the host has no " SPARK_EXT_ALLOC " extension: cannot make packets");
    return SPARK_OK;
}

static spark_status segment_job_begin(void *handle, const spark_job *job, void **out_state)
{
    (void)job;
    segment_job *state = calloc(1, sizeof *state);
    *out_state = state;
    if (!state)
        return fail(handle, SPARK_E_NO_MEMORY, "out of memory for the job state");
    return SPARK_OK;
}

static spark_status segment_process(void *handle, void *job_state, const spark_job *job,
                                    uint32_t port, const spark_packet *packet)
{
    segment_node *self = handle;
    segment_job *state = job_state;
    char message[256];
    if (!packet)
        return SPARK_OK; /* end of stream: every packet was segmented as it came */
    if (port != SEGMENT_PORT_IN || packet->kind != SPARK_KIND_TEXT) {
        snprintf(message, sizeof message,
                 "expected a text packet on port \"in\", got kind %d on port %u",
                 (int)packet->kind, (unsigned)port);
        return fail(self, SPARK_E_FORMAT_MISMATCH, message);
    }

    const spark_text_data *in = &packet->data.text;
    /* A negative offset means "unknown"; segments then stay unknown too. */
    int64_t base = in->offset;
    seg_piece *pieces;
    size_t count, bad = 0;
    seg_status status = seg_segment(in->utf8, (size_t)in->length, &self->options, &pieces,
                                    &count, &bad);
    switch (status) {
    case SEG_OK:
        break;
    case SEG_E_INVALID_UTF8:
        if (base >= 0)
            snprintf(message, sizeof message,
                     "the text is not valid UTF-8 at byte offset %" PRId64 " of the job text",
                     base + (int64_t)bad);
        else
            snprintf(message, sizeof message,
                     "the text is not valid UTF-8 at byte offset %zu of the input segment", bad);
        return fail(self, SPARK_E_INVALID_ARGUMENT, message);
    case SEG_E_INVALID_OPTIONS:
        return fail(self, SPARK_E_INVALID_ARGUMENT, "text packet without text");
    case SEG_E_NO_MEMORY:
    default:
        return fail(self, SPARK_E_NO_MEMORY, "out of memory while segmenting the text");
    }

    spark_status result = SPARK_OK;
    for (size_t i = 0; i < count; i++) {
        int64_t offset = base >= 0 ? base + (int64_t)pieces[i].offset : -1;
        spark_packet *out =
            self->alloc->text(self->host, pieces[i].text, pieces[i].text_length, offset);
        if (!out) {
            result = fail(self, SPARK_E_NO_MEMORY, "out of memory for a text packet");
            break;
        }
        out->seq = state->next_seq++;
        /* A failed emit (cancellation included) is the engine's own status, returned as is:
         * it already knows the reason. */
        result = job->emit(job, SEGMENT_PORT_OUT, out);
        if (result < 0)
            break;
    }
    seg_free(pieces, count);
    return result < 0 ? result : SPARK_OK;
}

static spark_status segment_job_end(void *handle, void *job_state, const spark_job *job,
                                    spark_status outcome)
{
    (void)handle;
    (void)job;
    (void)outcome;
    free(job_state);
    return SPARK_OK;
}

static void segment_destroy(void *handle)
{
    free(handle);
}

const spark_node_ops segment_node_ops = {
    .struct_size = sizeof(spark_node_ops),
    .create = segment_create,
    .configure = segment_configure,
    .activate = segment_activate,
    .job_begin = segment_job_begin,
    .process = segment_process,
    .job_end = segment_job_end,
    .destroy = segment_destroy,
};
