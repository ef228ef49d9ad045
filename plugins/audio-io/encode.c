/* org.sparkhost.audio.encode: collects the job's AUDIO, and at the end of the stream encodes
 * it once into a file and emits it as one BLOB, with results describing it. With `stream`
 * set for the job it emits the file as it goes instead: the header, then the bytes each
 * audio packet completes, then the encoder's last bytes (pieces of one file, in order). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio_encoder.h"
#include "audio_stream_encoder.h"
#include "node_support.h"
#include "nodes.h"

typedef struct encode_node {
    node_services services; /* first: see node_instance_create */
    audio_encode_settings settings; /* configured; a job may choose another format */
    /* The input format from negotiate, used when a job brings no audio at all. */
    uint32_t negotiated_rate;
    uint32_t negotiated_channels;
} encode_node;

typedef struct encode_job {
    audio_encode_settings settings;
    int stream;                     /* emit the file piece by piece */
    audio_stream_encoder *streamer; /* stream mode, from the first packet */
    planar_buffer audio; /* everything received, in arrival order (not in stream mode) */
    uint64_t frames;     /* received so far */
    uint32_t rate;       /* 0 until the first packet */
    uint32_t channels;
    char media_type[128];
} encode_job;

static spark_status encode_create(const spark_host *host, const char *node_id, void **out_self)
{
    (void)node_id;
    spark_status status = node_instance_create(host, sizeof(encode_node), out_self);
    if (status != SPARK_OK)
        return status;
    encode_node *node = *out_self;
    node->settings.format = AUDIO_FILE_WAV;
    node->settings.sample_format = AUDIO_SAMPLE_PCM16;
    node->settings.quality = ENCODE_DEFAULT_QUALITY;
    return SPARK_OK;
}

/* Read the format parameter into settings; posts the error itself. */
static spark_status read_format(const node_services *services, const spark_params *params,
                                audio_encode_settings *settings)
{
    const char *format = node_param_string(params, ENCODE_PARAM_FORMAT,
                                           audio_file_format_name(settings->format));
    if (!audio_file_format_from_name(format, &settings->format)) {
        node_post_error(services, "format must be wav, flac, ogg, opus, mp3 or pcm, not '%s'",
                        format);
        return SPARK_E_INVALID_ARGUMENT;
    }
    return SPARK_OK;
}

static spark_status check_settings(const node_services *services,
                                   const audio_encode_settings *settings)
{
    char reason[NODE_MESSAGE_CAPACITY];
    audio_status checked = audio_encode_check_settings(settings, reason, sizeof(reason));
    if (checked != AUDIO_OK) {
        node_post_error(services, "%s", reason);
        return node_status_from_audio(checked);
    }
    return SPARK_OK;
}

static spark_status encode_configure(void *self, const spark_params *params)
{
    encode_node *node = self;
    audio_encode_settings settings = node->settings;
    spark_status status = read_format(&node->services, params, &settings);
    if (status != SPARK_OK)
        return status;
    const char *sample_format = node_param_string(params, ENCODE_PARAM_SAMPLE_FORMAT, "pcm16");
    if (!audio_sample_format_from_name(sample_format, &settings.sample_format)) {
        node_post_error(&node->services,
                        "sample_format must be pcm16, pcm24 or float, not '%s'", sample_format);
        return SPARK_E_INVALID_ARGUMENT;
    }
    settings.quality = node_param_number(params, ENCODE_PARAM_QUALITY, ENCODE_DEFAULT_QUALITY);
    /* The configured format is what every job gets unless it picks another, so a bad
     * combination here is a configuration error. */
    status = check_settings(&node->services, &settings);
    if (status != SPARK_OK)
        return status;
    node->settings = settings;
    return SPARK_OK;
}

static spark_status encode_negotiate(void *self, spark_format *formats, uint32_t port_count)
{
    encode_node *node = self;
    spark_status status = node_check_formats(&node->services, formats, port_count);
    if (status != SPARK_OK)
        return status;
    node->negotiated_rate = formats[AUDIO_IO_PORT_IN].rate;
    node->negotiated_channels = formats[AUDIO_IO_PORT_IN].channels;
    spark_format *out = &formats[AUDIO_IO_PORT_OUT];
    out->kind = SPARK_KIND_BLOB;
    out->rate = 0;
    out->channels = 0;
    out->frame_rate = 0.0;
    /* format is per job, so the media type is only known when the job starts. */
    out->name = NULL;
    return SPARK_OK;
}

static spark_status encode_job_begin(void *self, const spark_job *job, void **out_job_state)
{
    encode_node *node = self;
    audio_encode_settings settings = node->settings;
    spark_status status = read_format(&node->services, job->params, &settings);
    if (status == SPARK_OK)
        status = check_settings(&node->services, &settings);
    if (status != SPARK_OK)
        return status;
    const int stream = job->params->has(job->params->user, ENCODE_PARAM_STREAM) &&
                       job->params->get_boolean(job->params->user, ENCODE_PARAM_STREAM);
    if (stream) {
        char reason[NODE_MESSAGE_CAPACITY];
        audio_status checked = audio_stream_check_settings(&settings, reason, sizeof(reason));
        if (checked != AUDIO_OK) {
            node_post_error(&node->services, "%s", reason);
            return node_status_from_audio(checked);
        }
    }
    encode_job *state = calloc(1, sizeof(*state));
    if (!state) {
        node_post_error(&node->services, "out of memory");
        return SPARK_E_NO_MEMORY;
    }
    state->settings = settings;
    state->stream = stream;
    *out_job_state = state;
    return SPARK_OK;
}

/* Fix the job's rate and channels from its first audio, checking the codec takes them. */
static spark_status start_stream(encode_node *node, encode_job *state, uint32_t rate,
                                 uint32_t channels)
{
    char reason[NODE_MESSAGE_CAPACITY];
    audio_status checked = audio_encode_check_stream(&state->settings, rate, channels, reason,
                                                     sizeof(reason));
    if (checked != AUDIO_OK) {
        node_post_error(&node->services, "%s", reason);
        return node_status_from_audio(checked);
    }
    if (state->stream) {
        checked = audio_stream_encoder_open(&state->settings, rate, channels, &state->streamer,
                                            reason, sizeof(reason));
        if (checked != AUDIO_OK) {
            node_post_error(&node->services, "%s", reason);
            return node_status_from_audio(checked);
        }
    } else if (planar_buffer_init(&state->audio, channels) != AUDIO_OK) {
        node_post_error(&node->services, "out of memory");
        return SPARK_E_NO_MEMORY;
    }
    state->rate = rate;
    state->channels = channels;
    audio_encode_media_type(&state->settings, rate, channels, state->media_type,
                            sizeof(state->media_type));
    return SPARK_OK;
}

/* Emits bytes[size] (taking them) as one BLOB of the job's file. */
static spark_status emit_bytes(encode_node *node, encode_job *state, const spark_job *job,
                               uint8_t *bytes, size_t size)
{
    const audio_file_format format = state->settings.format;
    spark_packet *blob = node->services.alloc->blob(node->services.host, (uint64_t)size,
                                                    state->media_type,
                                                    audio_file_format_file_name(format));
    if (!blob) {
        free(bytes);
        node_post_error(&node->services, "out of memory for a blob of %zu bytes", size);
        return SPARK_E_NO_MEMORY;
    }
    if (blob->data.blob.size != (uint64_t)size || (size && !blob->data.blob.bytes)) {
        free(bytes);
        node->services.alloc->release(blob);
        node_post_error(&node->services, "the host made a blob of the wrong size");
        return SPARK_E_INTERNAL;
    }
    if (size)
        memcpy(blob->data.blob.bytes, bytes, size);
    free(bytes);
    return job->emit(job, AUDIO_IO_PORT_OUT, blob);
}

/* Stream mode: emit what the encoder has made final since the last piece. */
static spark_status emit_ready(encode_node *node, encode_job *state, const spark_job *job)
{
    uint8_t *bytes = NULL;
    size_t size = 0;
    if (audio_stream_encoder_take(state->streamer, &bytes, &size) != AUDIO_OK) {
        node_post_error(&node->services, "out of memory taking encoded bytes");
        return SPARK_E_NO_MEMORY;
    }
    return size ? emit_bytes(node, state, job, bytes, size) : SPARK_OK;
}

static spark_status collect(encode_node *node, encode_job *state, const spark_job *job,
                            const spark_packet *packet)
{
    if (packet->kind != SPARK_KIND_AUDIO) {
        node_post_error(&node->services, "port 'in' takes audio packets, got kind %d",
                        (int)packet->kind);
        return SPARK_E_INVALID_ARGUMENT;
    }
    const spark_audio_data *audio = &packet->data.audio;
    if (audio->frames > 0 && !audio->planes) {
        node_post_error(&node->services, "audio packet %lld has no samples",
                        (long long)packet->seq);
        return SPARK_E_INVALID_ARGUMENT;
    }
    if (state->rate == 0) {
        spark_status status = start_stream(node, state, audio->rate, audio->channels);
        if (status == SPARK_OK && state->stream)
            status = emit_ready(node, state, job); /* the header goes out on its own */
        if (status != SPARK_OK)
            return status;
    } else if (audio->rate != state->rate || audio->channels != state->channels) {
        node_post_error(&node->services,
                        "audio packet %lld is %u Hz with %u channel(s), but the job's audio "
                        "so far is %u Hz with %u channel(s); one file needs one rate and "
                        "channel count (resample before encoding)",
                        (long long)packet->seq, audio->rate, audio->channels, state->rate,
                        state->channels);
        return SPARK_E_FORMAT_MISMATCH;
    }
    state->frames += audio->frames;
    if (state->stream) {
        char reason[NODE_MESSAGE_CAPACITY];
        audio_status written = audio_stream_encoder_write(
            state->streamer, (const float *const *)audio->planes, audio->frames, reason,
            sizeof(reason));
        if (written != AUDIO_OK) {
            node_post_error(&node->services, "%s", reason);
            return node_status_from_audio(written);
        }
        return emit_ready(node, state, job);
    }
    if (planar_buffer_append(&state->audio, (const float *const *)audio->planes,
                             audio->frames) != AUDIO_OK) {
        node_post_error(&node->services, "out of memory collecting %llu frames",
                        (unsigned long long)(state->audio.frames + audio->frames));
        return SPARK_E_NO_MEMORY;
    }
    return SPARK_OK;
}

static spark_status post_results(const spark_job *job, const encode_job *state, uint64_t bytes)
{
    char text[64];
    const double duration = (double)state->frames / (double)state->rate;
    snprintf(text, sizeof(text), "%.6f", duration);
    spark_status status = job->post_result(job, ENCODE_RESULT_DURATION, SPARK_VALUE_NUMBER,
                                           text, duration);
    if (status < 0)
        return status;
    snprintf(text, sizeof(text), "%u", state->rate);
    status = job->post_result(job, ENCODE_RESULT_SAMPLE_RATE, SPARK_VALUE_INTEGER, text,
                              (double)state->rate);
    if (status < 0)
        return status;
    snprintf(text, sizeof(text), "%u", state->channels);
    status = job->post_result(job, ENCODE_RESULT_CHANNELS, SPARK_VALUE_INTEGER, text,
                              (double)state->channels);
    if (status < 0)
        return status;
    const char *format = audio_file_format_name(state->settings.format);
    status = job->post_result(job, ENCODE_RESULT_FORMAT, SPARK_VALUE_STRING, format, 0.0);
    if (status < 0)
        return status;
    snprintf(text, sizeof(text), "%llu", (unsigned long long)bytes);
    return job->post_result(job, ENCODE_RESULT_BYTES, SPARK_VALUE_INTEGER, text, (double)bytes);
}

/* End of stream: encode everything collected, emit the file, post the results. */
static spark_status finish(encode_node *node, encode_job *state, const spark_job *job)
{
    if (state->rate == 0) {
        /* No audio came. With a known input format that is an empty file; without one
         * there is nothing to write a header from. */
        if (node->negotiated_rate == 0 || node->negotiated_channels == 0) {
            node_post_error(&node->services,
                            "the job produced no audio, and the input format is unknown, so "
                            "no %s file can be written",
                            audio_file_format_name(state->settings.format));
            return SPARK_E_INVALID_ARGUMENT;
        }
        spark_status status = start_stream(node, state, node->negotiated_rate,
                                           node->negotiated_channels);
        if (status != SPARK_OK)
            return status;
    }
    spark_status status = node_check_progress(&node->services, job);
    if (status != SPARK_OK)
        return status;
    if (state->stream) {
        char reason[NODE_MESSAGE_CAPACITY];
        audio_status ended = audio_stream_encoder_finish(state->streamer, reason, sizeof(reason));
        if (ended != AUDIO_OK) {
            node_post_error(&node->services, "%s", reason);
            return node_status_from_audio(ended);
        }
        status = emit_ready(node, state, job);
        if (status < 0)
            return status;
        return post_results(job, state, audio_stream_encoder_bytes(state->streamer));
    }

    uint8_t *bytes = NULL;
    size_t size = 0;
    char reason[NODE_MESSAGE_CAPACITY];
    audio_status encoded = audio_encode(&state->settings,
                                        (const float *const *)state->audio.planes,
                                        state->channels, state->audio.frames, state->rate,
                                        &bytes, &size, reason, sizeof(reason));
    if (encoded != AUDIO_OK) {
        node_post_error(&node->services, "%s", reason);
        return node_status_from_audio(encoded);
    }
    status = emit_bytes(node, state, job, bytes, size);
    if (status < 0)
        return status;
    return post_results(job, state, (uint64_t)size);
}

static spark_status encode_process(void *self, void *job_state, const spark_job *job,
                                   uint32_t port, const spark_packet *packet)
{
    encode_node *node = self;
    encode_job *state = job_state;
    if (port != AUDIO_IO_PORT_IN) {
        node_post_error(&node->services, "input on unknown port %u", port);
        return SPARK_E_INVALID_ARGUMENT;
    }
    return packet ? collect(node, state, job, packet) : finish(node, state, job);
}

static spark_status encode_job_end(void *self, void *job_state, const spark_job *job,
                                   spark_status outcome)
{
    (void)self;
    (void)job;
    (void)outcome;
    encode_job *state = job_state;
    if (state) {
        audio_stream_encoder_free(state->streamer);
        planar_buffer_free(&state->audio);
        free(state);
    }
    return SPARK_OK;
}

static void encode_destroy(void *self)
{
    free(self);
}

const spark_node_ops audio_encode_node_ops = {
    .struct_size = sizeof(spark_node_ops),
    .create = encode_create,
    .configure = encode_configure,
    .negotiate = encode_negotiate,
    .job_begin = encode_job_begin,
    .process = encode_process,
    .job_end = encode_job_end,
    .destroy = encode_destroy,
};
