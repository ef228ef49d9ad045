/* org.sparkhost.audio.shift: pitch and tempo change. With pitch 0 and speed 1 every packet
 * is forwarded as it arrives, untouched. Otherwise the job's audio is collected, shifted in
 * one offline pass at the end of the stream (time_pitch.h), and emitted in the pieces it
 * came in, each piece's boundaries scaled by 1 / speed. */
#include "shift_node.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spark/ext/alloc.h>
#include <spark/ext/log.h>
#include <spark/ext/progress.h>

#include "time_pitch.h"

#define MESSAGE_CAPACITY 512

typedef struct shift_node {
    const spark_host *host;
    const spark_ext_alloc *alloc;
    const spark_ext_log *log;
    const spark_ext_progress *progress; /* optional */
} shift_node;

typedef struct piece {
    int64_t seq;
    uint64_t end; /* input frame where the piece ends */
} piece;

typedef struct shift_job {
    time_pitch_settings settings;
    uint32_t rate; /* 0 until the first packet */
    uint32_t channels;
    uint64_t frames; /* received so far */
    /* collected audio and pieces; unused when the settings are the identity */
    float *planes[TIME_PITCH_MAX_CHANNELS];
    uint64_t capacity;
    piece *pieces;
    size_t piece_count, piece_capacity;
} shift_job;

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 3)))
#endif
static void post_error(const shift_node *node, const char *format, ...)
{
    char message[MESSAGE_CAPACITY];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof(message), format, args);
    va_end(args);
    node->log->error(node->host, message);
}

static spark_status shift_create(const spark_host *host, const char *node_id, void **out_self)
{
    (void)node_id;
    *out_self = NULL;
    const spark_ext_log *log =
        spark_host_service(host, SPARK_EXT_LOG, SPARK_SIZE_THROUGH(spark_ext_log, error));
    if (!log)
        return SPARK_E_UNSUPPORTED; /* nothing could explain a failure */
    const spark_ext_alloc *alloc =
        spark_host_service(host, SPARK_EXT_ALLOC, SPARK_SIZE_THROUGH(spark_ext_alloc, release));
    if (!alloc) {
        log->error(host, "the host lacks the " SPARK_EXT_ALLOC " service");
        return SPARK_E_UNSUPPORTED;
    }
    shift_node *node = calloc(1, sizeof(*node));
    if (!node) {
        log->error(host, "out of memory");
        return SPARK_E_NO_MEMORY;
    }
    node->host = host;
    node->alloc = alloc;
    node->log = log;
    node->progress = spark_host_service(host, SPARK_EXT_PROGRESS,
                                        SPARK_SIZE_THROUGH(spark_ext_progress, check));
    *out_self = node;
    return SPARK_OK;
}

static void shift_destroy(void *self)
{
    free(self);
}

/* Read and check the settings; posts the error itself. */
static spark_status read_settings(const shift_node *node, const spark_params *params,
                                  time_pitch_settings *out)
{
    time_pitch_settings s = {
        .semitones = params->get_number(params->user, SHIFT_PARAM_PITCH),
        .speed = params->get_number(params->user, SHIFT_PARAM_SPEED),
        .preserve_formants = params->get_boolean(params->user, SHIFT_PARAM_FORMANTS) != 0,
    };
    if (!(s.semitones >= -12.0 && s.semitones <= 12.0)) {
        post_error(node, "pitch_shift must be -12 to 12 semitones, not %g", s.semitones);
        return SPARK_E_INVALID_ARGUMENT;
    }
    if (!(s.speed >= 0.5 && s.speed <= 2.0)) {
        post_error(node, "speed_shift must be a tempo factor of 0.5 to 2, not %g", s.speed);
        return SPARK_E_INVALID_ARGUMENT;
    }
    *out = s;
    return SPARK_OK;
}

static spark_status shift_configure(void *self, const spark_params *params)
{
    time_pitch_settings settings;
    return read_settings(self, params, &settings);
}

static void job_free(shift_job *state)
{
    if (!state)
        return;
    for (uint32_t c = 0; c < TIME_PITCH_MAX_CHANNELS; c++)
        free(state->planes[c]);
    free(state->pieces);
    free(state);
}

static spark_status shift_job_begin(void *self, const spark_job *job, void **out_job_state)
{
    const shift_node *node = self;
    time_pitch_settings settings;
    spark_status status = read_settings(node, job->params, &settings);
    if (status != SPARK_OK)
        return status;
    shift_job *state = calloc(1, sizeof(*state));
    if (!state) {
        post_error(node, "out of memory");
        return SPARK_E_NO_MEMORY;
    }
    state->settings = settings;
    *out_job_state = state;
    return SPARK_OK;
}

/* Append a packet's frames to the job's copy and remember where its piece ends. */
static int keep_audio(shift_job *state, const spark_packet *packet)
{
    const spark_audio_data *audio = &packet->data.audio;
    if (state->piece_count == state->piece_capacity) {
        size_t capacity = state->piece_capacity ? state->piece_capacity * 2 : 16;
        piece *grown = realloc(state->pieces, capacity * sizeof(*grown));
        if (!grown)
            return -1;
        state->pieces = grown;
        state->piece_capacity = capacity;
    }
    if (state->frames + audio->frames > state->capacity) {
        uint64_t capacity = state->capacity ? state->capacity * 2 : 65536;
        while (capacity < state->frames + audio->frames)
            capacity *= 2;
        for (uint32_t c = 0; c < state->channels; c++) {
            float *grown = realloc(state->planes[c], (size_t)capacity * sizeof(float));
            if (!grown)
                return -1;
            state->planes[c] = grown;
        }
        state->capacity = capacity;
    }
    for (uint32_t c = 0; c < state->channels; c++)
        memcpy(state->planes[c] + state->frames, audio->planes[c],
               (size_t)audio->frames * sizeof(float));
    state->frames += audio->frames;
    state->pieces[state->piece_count++] = (piece){ .seq = packet->seq, .end = state->frames };
    return 0;
}

static spark_status take_packet(const shift_node *node, shift_job *state, const spark_job *job,
                                const spark_packet *packet)
{
    if (packet->kind != SPARK_KIND_AUDIO) {
        post_error(node, "port 'in' takes audio packets, got kind %d", (int)packet->kind);
        return SPARK_E_FORMAT_MISMATCH;
    }
    const spark_audio_data *audio = &packet->data.audio;
    if (audio->frames > 0 && !audio->planes) {
        post_error(node, "audio packet %lld has no samples", (long long)packet->seq);
        return SPARK_E_INVALID_ARGUMENT;
    }
    if (state->rate == 0) {
        if (audio->channels == 0 || audio->channels > TIME_PITCH_MAX_CHANNELS ||
            audio->rate == 0) {
            post_error(node, "audio packet %lld has %u channel(s) at %u Hz; pitch and speed "
                             "shift take 1 to %u channels at a rate above 0",
                       (long long)packet->seq, audio->channels, audio->rate,
                       TIME_PITCH_MAX_CHANNELS);
            return SPARK_E_FORMAT_MISMATCH;
        }
        state->rate = audio->rate;
        state->channels = audio->channels;
    } else if (audio->rate != state->rate || audio->channels != state->channels) {
        post_error(node,
                   "audio packet %lld is %u Hz with %u channel(s), but the job's audio so far "
                   "is %u Hz with %u channel(s); one job is one stream",
                   (long long)packet->seq, audio->rate, audio->channels, state->rate,
                   state->channels);
        return SPARK_E_FORMAT_MISMATCH;
    }
    if (time_pitch_is_identity(&state->settings)) {
        /* nothing to change: forward the very packet, at once */
        state->frames += audio->frames;
        return job->emit(job, SHIFT_PORT_OUT, node->alloc->retain(packet));
    }
    if (keep_audio(state, packet) != 0) {
        post_error(node, "out of memory keeping %llu frames of audio",
                   (unsigned long long)(state->frames + audio->frames));
        return SPARK_E_NO_MEMORY;
    }
    return SPARK_NEED_MORE;
}

typedef struct progress_context {
    const shift_node *node;
    const spark_job *job;
    spark_status stopped;
} progress_context;

static int keep_going(void *context)
{
    progress_context *progress = context;
    if (!progress->node->progress)
        return 1;
    progress->stopped = progress->node->progress->check(progress->node->host, progress->job);
    return progress->stopped == SPARK_OK;
}

static spark_status post_seconds(const spark_job *job, const char *name, double seconds)
{
    char text[32];
    snprintf(text, sizeof(text), "%.6f", seconds);
    return job->post_result(job, name, SPARK_VALUE_NUMBER, text, seconds);
}

/* Shift the collected audio into one packet per input piece. */
static spark_status shift_and_emit(const shift_node *node, shift_job *state,
                                   const spark_job *job)
{
    const double speed = state->settings.speed;
    const uint64_t out_frames = time_pitch_output_frames(state->frames, speed);
    spark_packet *whole = node->alloc->audio(node->host, state->channels, out_frames,
                                             state->rate);
    if (!whole) {
        post_error(node, "out of memory for %llu frames of output",
                   (unsigned long long)out_frames);
        return SPARK_E_NO_MEMORY;
    }
    progress_context progress = { .node = node, .job = job, .stopped = SPARK_OK };
    char reason[MESSAGE_CAPACITY];
    int shifted = time_pitch_process((const float *const *)state->planes, state->channels,
                                     state->frames, state->rate, &state->settings, keep_going,
                                     &progress, whole->data.audio.planes, reason,
                                     sizeof(reason));
    spark_status status = SPARK_OK;
    if (shifted == 1)
        status = progress.stopped;
    else if (shifted < 0) {
        post_error(node, "%s", reason);
        status = SPARK_E_INTERNAL;
    }
    uint64_t start = 0;
    for (size_t i = 0; i < state->piece_count && status >= 0; i++) {
        const uint64_t end = i + 1 == state->piece_count
                                 ? out_frames
                                 : time_pitch_output_frames(state->pieces[i].end, speed);
        const uint64_t n = end > start ? end - start : 0;
        spark_packet *out = node->alloc->audio(node->host, state->channels, n, state->rate);
        if (!out) {
            post_error(node, "out of memory for a %llu-frame audio packet",
                       (unsigned long long)n);
            status = SPARK_E_NO_MEMORY;
            break;
        }
        out->seq = state->pieces[i].seq;
        out->data.audio.timestamp = (int64_t)start;
        for (uint32_t c = 0; c < state->channels; c++)
            memcpy(out->data.audio.planes[c], whole->data.audio.planes[c] + start,
                   (size_t)n * sizeof(float));
        start += n;
        status = job->emit(job, SHIFT_PORT_OUT, out);
    }
    node->alloc->release(whole);
    return status;
}

static spark_status shift_process(void *self, void *job_state, const spark_job *job,
                                  uint32_t port, const spark_packet *packet)
{
    const shift_node *node = self;
    shift_job *state = job_state;
    if (port != SHIFT_PORT_IN) {
        post_error(node, "input on unknown port %u", port);
        return SPARK_E_INVALID_ARGUMENT;
    }
    if (packet)
        return take_packet(node, state, job, packet);
    spark_status status = SPARK_OK;
    if (!time_pitch_is_identity(&state->settings) && state->frames > 0)
        status = shift_and_emit(node, state, job);
    if (status >= 0 && state->rate > 0) {
        const double seconds = (double)state->frames / state->rate;
        status = post_seconds(job, SHIFT_RESULT_INPUT_SECONDS, seconds);
        if (status >= 0)
            status = post_seconds(job, SHIFT_RESULT_OUTPUT_SECONDS,
                                  (double)time_pitch_output_frames(
                                      state->frames, time_pitch_is_identity(&state->settings)
                                                         ? 1.0
                                                         : state->settings.speed) /
                                      state->rate);
    }
    return status;
}

static spark_status shift_job_end(void *self, void *job_state, const spark_job *job,
                                  spark_status outcome)
{
    (void)self;
    (void)job;
    (void)outcome;
    job_free(job_state);
    return SPARK_OK;
}

const spark_node_ops shift_node_ops = {
    .struct_size = sizeof(spark_node_ops),
    .create = shift_create,
    .configure = shift_configure,
    .job_begin = shift_job_begin,
    .process = shift_process,
    .job_end = shift_job_end,
    .destroy = shift_destroy,
};
