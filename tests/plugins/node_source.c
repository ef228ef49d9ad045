/*
 * org.sparkhost.test.source: emits `count` AUDIO packets of `frames` frames at `rate` Hz with
 * the deterministic content of test_signal.h (seed, packet index, channel, frame).
 * org.sparkhost.test.text_source: emits the `text` parameter as one TEXT packet.
 */
#include "test_nodes.h"
#include "test_plugin_util.h"
#include "test_signal.h"

/* ---- source ------------------------------------------------------------------------- */

typedef struct source_node {
    test_services s;
    uint32_t rate;     /* node-level: fixed by negotiate */
    uint32_t channels; /* node-level: fixed by negotiate */
} source_node;

/* Per job: the per_job parameters as this job sees them. */
typedef struct source_job {
    int64_t count;
    int64_t frames;
    int64_t seed;
    int64_t per_piece; /* packets per seq */
} source_job;

static spark_status source_create(const spark_host *host, const char *node_id, void **out_self)
{
    spark_status status;
    (void)node_id;
    status = test_instance_create(sizeof(source_node), host, 1, 0, out_self);
    if (status == SPARK_OK) {
        source_node *self = *out_self;
        self->rate = 16000;
        self->channels = 1;
    }
    return status;
}

static spark_status source_configure(void *self_, const spark_params *params)
{
    source_node *self = self_;
    int64_t rate = test_param_integer(params, "rate", 16000);
    int64_t channels = test_param_integer(params, "channels", 1);
    if (rate < 1 || rate > 768000)
        return test_fail(&self->s, SPARK_E_INVALID_ARGUMENT, "rate %" PRId64 " out of range",
                         rate);
    if (channels < 1 || channels > 8)
        return test_fail(&self->s, SPARK_E_INVALID_ARGUMENT,
                         "channels %" PRId64 " out of range", channels);
    self->rate = (uint32_t)rate;
    self->channels = (uint32_t)channels;
    return SPARK_OK;
}

static spark_status source_negotiate(void *self_, spark_format *formats, uint32_t port_count)
{
    source_node *self = self_;
    if (port_count != 1)
        return test_fail(&self->s, SPARK_E_INVALID_ARGUMENT, "expected 1 port, got %u",
                         (unsigned)port_count);
    formats[0].kind = SPARK_KIND_AUDIO;
    formats[0].rate = self->rate;
    formats[0].channels = self->channels;
    return SPARK_OK;
}

static spark_status source_job_begin(void *self_, const spark_job *job, void **out_job_state)
{
    source_node *self = self_;
    source_job *state = calloc(1, sizeof *state);
    if (!state)
        return test_fail(&self->s, SPARK_E_NO_MEMORY, "out of memory");
    state->count = test_param_integer(job->params, "count", 3);
    state->frames = test_param_integer(job->params, "frames", 1600);
    state->seed = test_param_integer(job->params, "seed", 0);
    state->per_piece = test_param_integer(job->params, "per_piece", 1);
    if (state->count < 0 || state->frames < 1 || state->frames > (INT64_C(1) << 24)) {
        free(state);
        return test_fail(&self->s, SPARK_E_INVALID_ARGUMENT, "count or frames out of range");
    }
    *out_job_state = state;
    return SPARK_OK;
}

static spark_status source_process(void *self_, void *job_state, const spark_job *job,
                                   uint32_t port, const spark_packet *packet)
{
    source_node *self = self_;
    const source_job *state = job_state;
    if (port != SPARK_PORT_NONE || packet)
        return test_fail(&self->s, SPARK_E_INVALID_ARGUMENT, "source has no input ports");

    for (int64_t index = 0; index < state->count; index++) {
        spark_packet *out =
            self->s.alloc->audio(self->s.host, self->channels, (uint64_t)state->frames,
                                 self->rate);
        if (!out)
            return test_fail(&self->s, SPARK_E_NO_MEMORY, "no memory for packet %" PRId64,
                             index);
        out->seq = index / state->per_piece;
        out->data.audio.timestamp = index * state->frames;
        for (uint32_t c = 0; c < self->channels; c++) {
            float *plane = out->data.audio.planes[c];
            for (int64_t f = 0; f < state->frames; f++)
                plane[f] = test_signal_sample(state->seed, (uint64_t)index, c, (uint64_t)f);
        }
        /* emit owns the packet now, also when it fails; a failure (cancellation) comes
         * from the host, which already knows the reason. */
        spark_status status = job->emit(job, 0, out);
        if (status < 0)
            return status;
    }
    return SPARK_OK;
}

static const spark_node_ops source_ops = {
    sizeof(spark_node_ops), 0,
    source_create, source_configure, source_negotiate,
    NULL, /* activate: no weights */
    source_job_begin, source_process, test_job_end_free,
    NULL, /* deactivate */
    test_instance_destroy,
};

static const spark_port_desc source_ports[] = {
    { "out", SPARK_PORT_OUT, SPARK_KIND_AUDIO, 0, 0, 0, 0,
      "float32 planar audio at `rate` Hz with `channels` channels" },
};

static const spark_param_desc source_params[] = {
    { "count", SPARK_PARAM_INTEGER, SPARK_PARAM_PER_JOB | SPARK_PARAM_HAS_MIN | SPARK_PARAM_HAS_MAX,
      "3", 0, 1000000, 0, 0, NULL, "number of packets to emit" },
    { "frames", SPARK_PARAM_INTEGER, SPARK_PARAM_PER_JOB | SPARK_PARAM_HAS_MIN | SPARK_PARAM_HAS_MAX,
      "1600", 1, 16777216, 0, 0, NULL, "frames per packet" },
    { "rate", SPARK_PARAM_INTEGER, SPARK_PARAM_HAS_MIN | SPARK_PARAM_HAS_MAX,
      "16000", 1, 768000, 0, 0, NULL, "sample rate in Hz" },
    { "channels", SPARK_PARAM_INTEGER, SPARK_PARAM_HAS_MIN | SPARK_PARAM_HAS_MAX,
      "1", 1, 8, 0, 0, NULL, "channel count" },
    { "per_piece", SPARK_PARAM_INTEGER, SPARK_PARAM_PER_JOB | SPARK_PARAM_HAS_MIN | SPARK_PARAM_HAS_MAX,
      "1", 1, 1000000, 0, 0, NULL, "consecutive packets sharing a seq (chunks of one piece)" },
    { "seed", SPARK_PARAM_INTEGER, SPARK_PARAM_PER_JOB,
      "0", 0, 0, 0, 0, NULL, "selects the deterministic content (see tests/plugins/test_signal.h)" },
};

const spark_node_desc test_source_desc = {
    sizeof(spark_node_desc),
    0, /* max_concurrent_jobs: no limit */
    "org.sparkhost.test.source",
    "test source",
    TEST_NODES_VERSION,
    "Emits count deterministic audio packets (tests only).",
    NULL,
    (uint32_t)(sizeof source_ports / sizeof source_ports[0]),
    (uint32_t)(sizeof source_params / sizeof source_params[0]),
    source_ports,
    source_params,
    0, 0, NULL,
    &source_ops,
};

/* ---- text_source -------------------------------------------------------------------- */

typedef struct text_source_node {
    test_services s;
} text_source_node;

static spark_status text_source_create(const spark_host *host, const char *node_id,
                                       void **out_self)
{
    (void)node_id;
    return test_instance_create(sizeof(text_source_node), host, 1, 0, out_self);
}

static spark_status text_source_negotiate(void *self_, spark_format *formats,
                                          uint32_t port_count)
{
    text_source_node *self = self_;
    if (port_count != 1)
        return test_fail(&self->s, SPARK_E_INVALID_ARGUMENT, "expected 1 port, got %u",
                         (unsigned)port_count);
    formats[0].kind = SPARK_KIND_TEXT;
    return SPARK_OK;
}

/* The job state is the job's copy of `text`. */
static spark_status text_source_job_begin(void *self_, const spark_job *job,
                                          void **out_job_state)
{
    text_source_node *self = self_;
    char *text = test_param_string_copy(job->params, "text", "");
    if (!text)
        return test_fail(&self->s, SPARK_E_NO_MEMORY, "out of memory");
    *out_job_state = text;
    return SPARK_OK;
}

static spark_status text_source_process(void *self_, void *job_state, const spark_job *job,
                                        uint32_t port, const spark_packet *packet)
{
    text_source_node *self = self_;
    const char *text = job_state;
    spark_packet *out;
    if (port != SPARK_PORT_NONE || packet)
        return test_fail(&self->s, SPARK_E_INVALID_ARGUMENT, "text_source has no input ports");
    out = self->s.alloc->text(self->s.host, text, strlen(text), 0);
    if (!out)
        return test_fail(&self->s, SPARK_E_NO_MEMORY, "no memory for the text packet");
    out->seq = 0;
    return job->emit(job, 0, out);
}

static const spark_node_ops text_source_ops = {
    sizeof(spark_node_ops), 0,
    text_source_create,
    NULL, /* configure: everything is per job */
    text_source_negotiate,
    NULL,
    text_source_job_begin, text_source_process,
    test_job_end_free, /* frees the job's copy of the text */
    NULL,
    test_instance_destroy,
};

static const spark_port_desc text_source_ports[] = {
    { "out", SPARK_PORT_OUT, SPARK_KIND_TEXT, 0, 0, 0, 0, "the text, as one packet" },
};

static const spark_param_desc text_source_params[] = {
    { "text", SPARK_PARAM_STRING, SPARK_PARAM_PER_JOB, "hello from the test source", 0, 0,
      0, 0, NULL, "UTF-8 text to emit" },
};

const spark_node_desc test_text_source_desc = {
    sizeof(spark_node_desc),
    0,
    "org.sparkhost.test.text_source",
    "test text source",
    TEST_NODES_VERSION,
    "Emits its text parameter as one text packet (tests only).",
    NULL,
    (uint32_t)(sizeof text_source_ports / sizeof text_source_ports[0]),
    (uint32_t)(sizeof text_source_params / sizeof text_source_params[0]),
    text_source_ports,
    text_source_params,
    0, 0, NULL,
    &text_source_ops,
};
