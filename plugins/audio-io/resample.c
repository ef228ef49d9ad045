/* org.sparkhost.audio.resample: AUDIO in, AUDIO out at the configured rate and channels.
 * As a stream, each input packet yields the output that is ready and the filter's tail
 * comes at the end; in pieces mode each packet is converted alone, so piece boundaries (a
 * sentence each, before a join) stay where they were. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "node_support.h"
#include "nodes.h"
#include "resampler.h"

typedef struct resample_node {
    node_services services; /* first: see node_instance_create */
    uint32_t rate;     /* output rate */
    uint32_t channels; /* output channels, 0 = the input's */
    resampler_quality quality;
    bool pieces;       /* convert each packet alone */
} resample_node;

typedef struct resample_job {
    resampler *converter; /* made at the first packet, when the input format is known */
    uint32_t input_rate;
    uint32_t input_channels;
    planar_buffer output; /* converted frames not yet emitted */
    audio_stream_position position;
} resample_job;

static spark_status resample_create(const spark_host *host, const char *node_id,
                                    void **out_self)
{
    (void)node_id;
    spark_status status = node_instance_create(host, sizeof(resample_node), out_self);
    if (status != SPARK_OK)
        return status;
    resample_node *node = *out_self;
    node->rate = RESAMPLE_DEFAULT_RATE;
    node->quality = RESAMPLER_QUALITY_BEST;
    return SPARK_OK;
}

static spark_status resample_configure(void *self, const spark_params *params)
{
    resample_node *node = self;
    int64_t rate = node_param_integer(params, RESAMPLE_PARAM_RATE, RESAMPLE_DEFAULT_RATE);
    if (rate < RESAMPLE_MIN_RATE || rate > RESAMPLE_MAX_RATE) {
        node_post_error(&node->services, "rate must be within %d..%d Hz, not %lld",
                        RESAMPLE_MIN_RATE, RESAMPLE_MAX_RATE, (long long)rate);
        return SPARK_E_INVALID_ARGUMENT;
    }
    int64_t channels = node_param_integer(params, RESAMPLE_PARAM_CHANNELS, 0);
    if (channels < 0 || channels > RESAMPLE_MAX_CHANNELS) {
        node_post_error(&node->services, "channels must be within 0..%d, not %lld",
                        RESAMPLE_MAX_CHANNELS, (long long)channels);
        return SPARK_E_INVALID_ARGUMENT;
    }
    const char *quality = node_param_string(params, RESAMPLE_PARAM_QUALITY, "best");
    if (!resampler_quality_from_name(quality, &node->quality)) {
        node_post_error(&node->services, "quality must be best, medium or fastest, not '%s'",
                        quality);
        return SPARK_E_INVALID_ARGUMENT;
    }
    node->rate = (uint32_t)rate;
    node->channels = (uint32_t)channels;
    node->pieces = params->get_boolean(params->user, RESAMPLE_PARAM_PIECES) != 0;
    return SPARK_OK;
}

static spark_status resample_negotiate(void *self, spark_format *formats, uint32_t port_count)
{
    resample_node *node = self;
    spark_status status = node_check_formats(&node->services, formats, port_count);
    if (status != SPARK_OK)
        return status;
    const spark_format *in = &formats[AUDIO_IO_PORT_IN];
    /* When upstream already states its format, find impossible conversions now rather than
     * in the first job. */
    if (in->rate != 0 || in->channels != 0) {
        resampler *probe = NULL;
        char reason[NODE_MESSAGE_CAPACITY];
        audio_status checked = resampler_create(in->rate ? in->rate : node->rate,
                                                in->channels ? in->channels : 1u, node->rate,
                                                in->channels ? node->channels : 0u,
                                                node->quality, &probe, reason, sizeof(reason));
        resampler_destroy(probe);
        if (checked != AUDIO_OK) {
            node_post_error(&node->services, "%s", reason);
            return node_status_from_audio(checked);
        }
    }
    spark_format *out = &formats[AUDIO_IO_PORT_OUT];
    out->kind = SPARK_KIND_AUDIO;
    out->rate = node->rate;
    out->channels = node->channels ? node->channels : in->channels;
    out->frame_rate = 0.0;
    out->name = NULL;
    return SPARK_OK;
}

static spark_status resample_job_begin(void *self, const spark_job *job, void **out_job_state)
{
    resample_node *node = self;
    (void)job;
    resample_job *state = calloc(1, sizeof(*state));
    if (!state) {
        node_post_error(&node->services, "out of memory");
        return SPARK_E_NO_MEMORY;
    }
    *out_job_state = state;
    return SPARK_OK;
}

/* First frame's position at the output rate, so a stream that does not start at 0 keeps
 * its place. */
static int64_t scaled_timestamp(int64_t timestamp, uint32_t input_rate, uint32_t output_rate)
{
    if (timestamp <= 0)
        return 0;
    double scaled = (double)timestamp * (double)output_rate / (double)input_rate;
    return scaled >= 9.0e18 ? INT64_MAX / 2 : (int64_t)llround(scaled);
}

static spark_status start_stream(resample_node *node, resample_job *state,
                                 const spark_audio_data *audio)
{
    char reason[NODE_MESSAGE_CAPACITY];
    audio_status created = resampler_create(audio->rate, audio->channels, node->rate,
                                            node->channels, node->quality, &state->converter,
                                            reason, sizeof(reason));
    if (created != AUDIO_OK) {
        node_post_error(&node->services, "%s", reason);
        return node_status_from_audio(created);
    }
    if (planar_buffer_init(&state->output, resampler_output_channels(state->converter)) !=
        AUDIO_OK) {
        node_post_error(&node->services, "out of memory");
        return SPARK_E_NO_MEMORY;
    }
    state->input_rate = audio->rate;
    state->input_channels = audio->channels;
    state->position.next_timestamp = scaled_timestamp(audio->timestamp, audio->rate, node->rate);
    return SPARK_OK;
}

static spark_status emit_ready(resample_node *node, resample_job *state, const spark_job *job)
{
    if (state->output.frames == 0)
        return SPARK_OK;
    return node_emit_audio(&node->services, job, AUDIO_IO_PORT_OUT, &state->output, node->rate,
                           &state->position);
}

static spark_status resample_process(void *self, void *job_state, const spark_job *job,
                                     uint32_t port, const spark_packet *packet)
{
    resample_node *node = self;
    resample_job *state = job_state;
    char reason[NODE_MESSAGE_CAPACITY];
    if (port != AUDIO_IO_PORT_IN) {
        node_post_error(&node->services, "input on unknown port %u", port);
        return SPARK_E_INVALID_ARGUMENT;
    }
    if (!packet) {
        if (!state->converter)
            return SPARK_OK; /* the stream was empty */
        audio_status flushed = resampler_finish(state->converter, &state->output, reason,
                                                sizeof(reason));
        if (flushed != AUDIO_OK) {
            node_post_error(&node->services, "%s", reason);
            return node_status_from_audio(flushed);
        }
        return emit_ready(node, state, job);
    }
    if (packet->kind != SPARK_KIND_AUDIO) {
        node_post_error(&node->services, "port 'in' takes audio packets, got kind %d",
                        (int)packet->kind);
        return SPARK_E_INVALID_ARGUMENT;
    }
    const spark_audio_data *audio = &packet->data.audio;
    if (audio->rate == 0 || audio->channels == 0 || (audio->frames > 0 && !audio->planes)) {
        node_post_error(&node->services,
                        "audio packet %lld has no usable format (%u Hz, %u channel(s))",
                        (long long)packet->seq, audio->rate, audio->channels);
        return SPARK_E_INVALID_ARGUMENT;
    }
    if (!state->converter) {
        spark_status status = start_stream(node, state, audio);
        if (status != SPARK_OK)
            return status;
    } else if (audio->rate != state->input_rate || audio->channels != state->input_channels) {
        node_post_error(&node->services,
                        "audio packet %lld is %u Hz with %u channel(s), but the stream began "
                        "at %u Hz with %u channel(s)",
                        (long long)packet->seq, audio->rate, audio->channels,
                        state->input_rate, state->input_channels);
        return SPARK_E_FORMAT_MISMATCH;
    }
    if (audio->frames == 0)
        return SPARK_OK;
    audio_status converted = resampler_process(state->converter,
                                               (const float *const *)audio->planes,
                                               audio->frames, &state->output, reason,
                                               sizeof(reason));
    if (converted == AUDIO_OK && node->pieces)
        converted = resampler_finish(state->converter, &state->output, reason, sizeof(reason));
    if (converted != AUDIO_OK) {
        node_post_error(&node->services, "%s", reason);
        return node_status_from_audio(converted);
    }
    if (!node->pieces)
        return emit_ready(node, state, job);
    /* A piece keeps its own seq; the next one starts a fresh converter. */
    state->position.next_seq = packet->seq;
    spark_status status = emit_ready(node, state, job);
    resampler_destroy(state->converter);
    state->converter = NULL;
    planar_buffer_free(&state->output);
    return status;
}

static spark_status resample_job_end(void *self, void *job_state, const spark_job *job,
                                     spark_status outcome)
{
    (void)self;
    (void)job;
    (void)outcome;
    resample_job *state = job_state;
    if (state) {
        resampler_destroy(state->converter);
        planar_buffer_free(&state->output);
        free(state);
    }
    return SPARK_OK;
}

static void resample_destroy(void *self)
{
    free(self);
}

const spark_node_ops audio_resample_node_ops = {
    .struct_size = sizeof(spark_node_ops),
    .create = resample_create,
    .configure = resample_configure,
    .negotiate = resample_negotiate,
    .job_begin = resample_job_begin,
    .process = resample_process,
    .job_end = resample_job_end,
    .destroy = resample_destroy,
};
