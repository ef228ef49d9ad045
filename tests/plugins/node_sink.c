/*
 * org.sparkhost.test.sink: records what reaches it and posts it as results at job_end:
 * packets, frames, rate, channels (AUDIO on `in`), checksum (FNV-1a 64 of the float bytes,
 * see test_signal.h) and text (the TEXT packets on the optional `text` port, concatenated).
 * With want_rate / want_channels it asks negotiate for that format and then insists on it.
 */
#include "test_nodes.h"
#include "test_plugin_util.h"
#include "test_signal.h"

enum { SINK_PORT_IN = 0, SINK_PORT_TEXT = 1, SINK_PORT_COUNT = 2 };

typedef struct sink_node {
    test_services s;
    uint32_t want_rate;     /* 0 = any */
    uint32_t want_channels; /* 0 = any */
} sink_node;

typedef struct sink_job {
    int64_t packets;
    int64_t frames;
    uint64_t hash;
    uint32_t rate;     /* of the first audio packet; later ones must match */
    uint32_t channels;
    char *text;        /* NUL-terminated, text_length bytes */
    size_t text_length;
    size_t text_capacity;
} sink_job;

static spark_status sink_create(const spark_host *host, const char *node_id, void **out_self)
{
    (void)node_id;
    return test_instance_create(sizeof(sink_node), host, 0, 0, out_self);
}

static spark_status sink_configure(void *self_, const spark_params *params)
{
    sink_node *self = self_;
    int64_t rate = test_param_integer(params, "want_rate", 0);
    int64_t channels = test_param_integer(params, "want_channels", 0);
    if (rate < 0 || rate > 768000 || channels < 0 || channels > 8)
        return test_fail(&self->s, SPARK_E_INVALID_ARGUMENT,
                         "want_rate or want_channels out of range");
    self->want_rate = (uint32_t)rate;
    self->want_channels = (uint32_t)channels;
    return SPARK_OK;
}

static spark_status sink_negotiate(void *self_, spark_format *formats, uint32_t port_count)
{
    sink_node *self = self_;
    if (port_count != SINK_PORT_COUNT)
        return test_fail(&self->s, SPARK_E_INVALID_ARGUMENT, "expected %d ports, got %u",
                         SINK_PORT_COUNT, (unsigned)port_count);
    /* Rewriting an input entry asks the engine to convert to that format. */
    if (self->want_rate)
        formats[SINK_PORT_IN].rate = self->want_rate;
    if (self->want_channels)
        formats[SINK_PORT_IN].channels = self->want_channels;
    return SPARK_OK;
}

static spark_status sink_job_begin(void *self_, const spark_job *job, void **out_job_state)
{
    sink_node *self = self_;
    sink_job *state = calloc(1, sizeof *state);
    (void)job;
    if (!state)
        return test_fail(&self->s, SPARK_E_NO_MEMORY, "out of memory");
    state->hash = TEST_FNV1A64_OFFSET;
    state->text = calloc(1, 1);
    if (!state->text) {
        free(state);
        return test_fail(&self->s, SPARK_E_NO_MEMORY, "out of memory");
    }
    state->text_capacity = 1;
    *out_job_state = state;
    return SPARK_OK;
}

static spark_status sink_take_audio(sink_node *self, sink_job *state, const spark_packet *packet)
{
    const spark_audio_data *audio = &packet->data.audio;
    if (packet->kind != SPARK_KIND_AUDIO)
        return test_fail(&self->s, SPARK_E_FORMAT_MISMATCH, "port in: packet of kind %d",
                         (int)packet->kind);
    if ((self->want_rate && audio->rate != self->want_rate) ||
        (self->want_channels && audio->channels != self->want_channels))
        return test_fail(&self->s, SPARK_E_FORMAT_MISMATCH,
                         "port in: got %u Hz x %u, negotiated %u Hz x %u",
                         (unsigned)audio->rate, (unsigned)audio->channels,
                         (unsigned)self->want_rate, (unsigned)self->want_channels);
    if (state->packets == 0) {
        state->rate = audio->rate;
        state->channels = audio->channels;
    } else if (audio->rate != state->rate || audio->channels != state->channels) {
        return test_fail(&self->s, SPARK_E_FORMAT_MISMATCH,
                         "port in: packet %" PRId64 " is %u Hz x %u, the stream %u Hz x %u",
                         packet->seq, (unsigned)audio->rate, (unsigned)audio->channels,
                         (unsigned)state->rate, (unsigned)state->channels);
    }
    for (uint32_t c = 0; c < audio->channels; c++)
        state->hash = test_fnv1a64(state->hash, audio->planes[c],
                                   (size_t)audio->frames * sizeof(float));
    state->packets++;
    state->frames += (int64_t)audio->frames;
    return SPARK_OK;
}

static spark_status sink_take_text(sink_node *self, sink_job *state, const spark_packet *packet)
{
    const spark_text_data *text = &packet->data.text;
    size_t need;
    if (packet->kind != SPARK_KIND_TEXT)
        return test_fail(&self->s, SPARK_E_FORMAT_MISMATCH, "port text: packet of kind %d",
                         (int)packet->kind);
    if (text->length == 0)
        return SPARK_OK;
    if (!text->utf8)
        return test_fail(&self->s, SPARK_E_INVALID_ARGUMENT, "port text: NULL text");
    if (text->length > SIZE_MAX / 2 - state->text_length)
        return test_fail(&self->s, SPARK_E_NO_MEMORY, "port text: too much text");
    need = state->text_length + (size_t)text->length + 1;
    if (need > state->text_capacity) {
        size_t capacity = state->text_capacity * 2 > need ? state->text_capacity * 2 : need;
        char *grown = realloc(state->text, capacity);
        if (!grown)
            return test_fail(&self->s, SPARK_E_NO_MEMORY, "out of memory");
        state->text = grown;
        state->text_capacity = capacity;
    }
    memcpy(state->text + state->text_length, text->utf8, (size_t)text->length);
    state->text_length += (size_t)text->length;
    state->text[state->text_length] = '\0';
    return SPARK_OK;
}

static spark_status sink_process(void *self_, void *job_state, const spark_job *job,
                                 uint32_t port, const spark_packet *packet)
{
    sink_node *self = self_;
    (void)job;
    if (port != SINK_PORT_IN && port != SINK_PORT_TEXT)
        return test_fail(&self->s, SPARK_E_INVALID_ARGUMENT, "no input port %u",
                         (unsigned)port);
    if (!packet)
        return SPARK_OK; /* end of stream on that port: nothing to flush */
    if (port == SINK_PORT_IN)
        return sink_take_audio(self, job_state, packet);
    return sink_take_text(self, job_state, packet);
}

/* Results are posted whatever the outcome, so a test can see how far a failed job got. */
static spark_status sink_job_end(void *self_, void *job_state, const spark_job *job,
                                 spark_status outcome)
{
    sink_node *self = self_;
    sink_job *state = job_state;
    char checksum[17];
    spark_status status = SPARK_OK;
    spark_status posted;

    test_checksum_hex(state->hash, checksum);
    posted = test_post_integer(job, "packets", state->packets);
    if (posted >= 0)
        posted = test_post_integer(job, "frames", state->frames);
    if (posted >= 0)
        posted = test_post_string(job, "checksum", checksum);
    if (posted >= 0)
        posted = test_post_integer(job, "rate", state->rate);
    if (posted >= 0)
        posted = test_post_integer(job, "channels", state->channels);
    if (posted >= 0)
        posted = test_post_string(job, "text", state->text);
    /* Failing to record results fails a job that had succeeded; a failed job keeps its
     * own reason. */
    if (posted < 0 && outcome == SPARK_OK)
        status = test_fail(&self->s, posted, "job %s: could not post results",
                           test_job_id(job));
    free(state->text);
    free(state);
    return status;
}

static const spark_node_ops sink_ops = {
    sizeof(spark_node_ops), 0,
    sink_create, sink_configure, sink_negotiate,
    NULL,
    sink_job_begin, sink_process, sink_job_end,
    NULL,
    test_instance_destroy,
};

static const spark_port_desc sink_ports[] = {
    { "in", SPARK_PORT_IN, SPARK_KIND_AUDIO, 0, 0, 0, 0, "audio to record" },
    { "text", SPARK_PORT_IN, SPARK_KIND_TEXT, SPARK_PORT_OPTIONAL, 0, 0, 0,
      "text to record" },
};

static const spark_param_desc sink_params[] = {
    { "want_rate", SPARK_PARAM_INTEGER, SPARK_PARAM_HAS_MIN | SPARK_PARAM_HAS_MAX, "0", 0,
      768000, 0, 0, NULL, "rate `in` must carry (asked in negotiate); 0 = any" },
    { "want_channels", SPARK_PARAM_INTEGER, SPARK_PARAM_HAS_MIN | SPARK_PARAM_HAS_MAX, "0", 0,
      8, 0, 0, NULL, "channels `in` must carry (asked in negotiate); 0 = any" },
};

static const spark_result_desc sink_results[] = {
    { "packets", SPARK_VALUE_INTEGER, 0, "audio packets received on `in`" },
    { "frames", SPARK_VALUE_INTEGER, 0, "audio frames received on `in`" },
    { "checksum", SPARK_VALUE_STRING, 0,
      "FNV-1a 64 over the float bytes in order, 16 lowercase hex digits" },
    { "rate", SPARK_VALUE_INTEGER, 0, "rate of the audio received, 0 when none" },
    { "channels", SPARK_VALUE_INTEGER, 0, "channels of the audio received, 0 when none" },
    { "text", SPARK_VALUE_STRING, 0, "the text received on `text`, concatenated" },
};

const spark_node_desc test_sink_desc = {
    sizeof(spark_node_desc),
    0,
    "org.sparkhost.test.sink",
    "test sink",
    TEST_NODES_VERSION,
    "Records the audio and text it receives and posts them as results (tests only).",
    NULL,
    (uint32_t)(sizeof sink_ports / sizeof sink_ports[0]),
    (uint32_t)(sizeof sink_params / sizeof sink_params[0]),
    sink_ports,
    sink_params,
    (uint32_t)(sizeof sink_results / sizeof sink_results[0]),
    0,
    sink_results,
    &sink_ops,
};
