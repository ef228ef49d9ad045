/* org.sparkhost.audio.decode: BLOB of encoded audio in, float32 planar AUDIO out. */
#include <math.h>
#include <stdlib.h>

#include "audio_decoder.h"
#include "node_support.h"
#include "nodes.h"

/* Frames decoded between two cancellation polls. */
#define DECODE_POLL_FRAMES 65536u

typedef struct decode_node {
    node_services services; /* first: see node_instance_create */
    audio_channel_mode channel_mode;
    double chunk_seconds; /* 0: the whole file as one packet */
} decode_node;

/* One job's output stream; several blobs in one job continue the same stream. */
typedef struct decode_job {
    audio_stream_position position;
    uint32_t rate; /* 0 until the first blob is decoded */
    uint32_t channels;
} decode_job;

static spark_status decode_create(const spark_host *host, const char *node_id, void **out_self)
{
    (void)node_id;
    spark_status status = node_instance_create(host, sizeof(decode_node), out_self);
    if (status != SPARK_OK)
        return status;
    decode_node *node = *out_self;
    node->channel_mode = AUDIO_CHANNELS_KEEP;
    return SPARK_OK;
}

static spark_status decode_configure(void *self, const spark_params *params)
{
    decode_node *node = self;
    const char *mode = node_param_string(params, DECODE_PARAM_CHANNELS, "keep");
    if (!audio_channel_mode_from_name(mode, &node->channel_mode)) {
        node_post_error(&node->services, "channels must be keep, mix or first, not '%s'", mode);
        return SPARK_E_INVALID_ARGUMENT;
    }
    double seconds = node_param_number(params, DECODE_PARAM_CHUNK_SECONDS, 0.0);
    if (!isfinite(seconds) || seconds < 0.0) {
        node_post_error(&node->services, "chunk_seconds must be a number >= 0, not %g", seconds);
        return SPARK_E_INVALID_ARGUMENT;
    }
    node->chunk_seconds = seconds;
    return SPARK_OK;
}

static spark_status decode_negotiate(void *self, spark_format *formats, uint32_t port_count)
{
    decode_node *node = self;
    spark_status status = node_check_formats(&node->services, formats, port_count);
    if (status != SPARK_OK)
        return status;
    /* The file's rate is only known once its bytes arrive; the channel count is known when
     * the node folds everything into one channel. */
    spark_format *out = &formats[AUDIO_IO_PORT_OUT];
    out->kind = SPARK_KIND_AUDIO;
    out->rate = 0;
    out->channels = node->channel_mode == AUDIO_CHANNELS_KEEP ? 0u : 1u;
    out->frame_rate = 0.0;
    out->name = NULL;
    return SPARK_OK;
}

static spark_status decode_job_begin(void *self, const spark_job *job, void **out_job_state)
{
    decode_node *node = self;
    (void)job;
    decode_job *state = calloc(1, sizeof(*state));
    if (!state) {
        node_post_error(&node->services, "out of memory");
        return SPARK_E_NO_MEMORY;
    }
    *out_job_state = state;
    return SPARK_OK;
}

/* Frames per emitted packet; UINT64_MAX means the whole file. */
static uint64_t chunk_frames_for(double seconds, uint32_t rate)
{
    if (seconds <= 0.0)
        return UINT64_MAX;
    double frames = seconds * (double)rate;
    if (frames >= 9.0e18) /* beyond any file; also keeps llround in range */
        return UINT64_MAX;
    long long rounded = llround(frames);
    return rounded > 0 ? (uint64_t)rounded : 1u;
}

/* Decode the open file and emit it as pieces of chunk_frames (the last may be shorter). */
static spark_status decode_and_emit(decode_node *node, decode_job *state, const spark_job *job,
                                    audio_decoder *decoder, const char *blob_name)
{
    planar_buffer piece;
    if (planar_buffer_init(&piece, state->channels) != AUDIO_OK) {
        node_post_error(&node->services, "out of memory");
        return SPARK_E_NO_MEMORY;
    }
    const uint64_t chunk_frames = chunk_frames_for(node->chunk_seconds, state->rate);
    char reason[NODE_MESSAGE_CAPACITY];
    spark_status status = SPARK_OK;
    for (;;) {
        status = node_check_progress(&node->services, job);
        if (status != SPARK_OK)
            break;
        uint64_t want = chunk_frames - piece.frames;
        if (want > DECODE_POLL_FRAMES)
            want = DECODE_POLL_FRAMES;
        uint64_t got = 0;
        audio_status decoded = audio_decoder_read(decoder, &piece, want, &got, reason,
                                                  sizeof(reason));
        if (decoded != AUDIO_OK) {
            node_post_error(&node->services, "cannot decode audio blob '%s': %s", blob_name,
                            reason);
            status = node_status_from_audio(decoded);
            break;
        }
        if (got == 0)
            break;
        if (piece.frames >= chunk_frames) {
            status = node_emit_audio(&node->services, job, AUDIO_IO_PORT_OUT, &piece,
                                     state->rate, &state->position);
            if (status != SPARK_OK)
                break;
        }
    }
    if (status == SPARK_OK && piece.frames > 0)
        status = node_emit_audio(&node->services, job, AUDIO_IO_PORT_OUT, &piece, state->rate,
                                 &state->position);
    planar_buffer_free(&piece);
    return status;
}

static spark_status decode_process(void *self, void *job_state, const spark_job *job,
                                   uint32_t port, const spark_packet *packet)
{
    decode_node *node = self;
    decode_job *state = job_state;
    if (port != AUDIO_IO_PORT_IN) {
        node_post_error(&node->services, "input on unknown port %u", port);
        return SPARK_E_INVALID_ARGUMENT;
    }
    if (!packet)
        return SPARK_OK; /* everything was emitted as each blob arrived */
    if (packet->kind != SPARK_KIND_BLOB) {
        node_post_error(&node->services, "port 'in' takes blob packets, got kind %d",
                        (int)packet->kind);
        return SPARK_E_INVALID_ARGUMENT;
    }
    const spark_blob_data *blob = &packet->data.blob;
    const char *blob_name = blob->file_name && blob->file_name[0] ? blob->file_name
                                                                   : "(unnamed)";
    if (blob->size > SIZE_MAX || (blob->size > 0 && !blob->bytes)) {
        node_post_error(&node->services, "audio blob '%s' has no usable bytes", blob_name);
        return SPARK_E_INVALID_ARGUMENT;
    }

    audio_decoder *decoder = NULL;
    char reason[NODE_MESSAGE_CAPACITY];
    audio_status opened = audio_decoder_open(blob->bytes, (size_t)blob->size,
                                             node->channel_mode, &decoder, reason,
                                             sizeof(reason));
    if (opened != AUDIO_OK) {
        const char *media_type = blob->media_type && blob->media_type[0] ? blob->media_type
                                                                         : "no media type";
        node_post_error(&node->services, "cannot decode audio blob '%s' (%s, %llu bytes): %s",
                        blob_name, media_type, (unsigned long long)blob->size, reason);
        return node_status_from_audio(opened);
    }
    const uint32_t rate = audio_decoder_rate(decoder);
    const uint32_t channels = audio_decoder_channels(decoder);
    spark_status status = SPARK_OK;
    if (state->rate == 0) {
        state->rate = rate;
        state->channels = channels;
    } else if (state->rate != rate || state->channels != channels) {
        node_post_error(&node->services,
                        "audio blob '%s' is %u Hz with %u channel(s), but this job's earlier "
                        "audio is %u Hz with %u channel(s); one job's blobs must match",
                        blob_name, rate, channels, state->rate, state->channels);
        status = SPARK_E_FORMAT_MISMATCH;
    }
    if (status == SPARK_OK)
        status = decode_and_emit(node, state, job, decoder, blob_name);
    audio_decoder_close(decoder);
    return status;
}

static spark_status decode_job_end(void *self, void *job_state, const spark_job *job,
                                   spark_status outcome)
{
    (void)self;
    (void)job;
    (void)outcome;
    free(job_state);
    return SPARK_OK;
}

static void decode_destroy(void *self)
{
    free(self);
}

const spark_node_ops audio_decode_node_ops = {
    .struct_size = sizeof(spark_node_ops),
    .create = decode_create,
    .configure = decode_configure,
    .negotiate = decode_negotiate,
    .job_begin = decode_job_begin,
    .process = decode_process,
    .job_end = decode_job_end,
    .destroy = decode_destroy,
};
