/* org.sparkhost.audio.loudness: measures the job's whole audio as it streams in (libebur128),
 * and at the end of the stream normalises it (loudness_normalize.h) and emits it in the
 * pieces it came in, with the measurements before and after as job results. */
#include "loudness_node.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spark/ext/alloc.h>
#include <spark/ext/log.h>
#include <spark/ext/progress.h>

#include "loudness_meter.h"
#include "loudness_normalize.h"

#define MESSAGE_CAPACITY 512

typedef struct loudness_node {
    const spark_host *host;
    const spark_ext_alloc *alloc;
    const spark_ext_log *log;
    const spark_ext_progress *progress; /* optional */
} loudness_node;

/* Where one input packet sat in the stream, to emit the output in the same pieces. */
typedef struct piece {
    int64_t seq;
    int64_t timestamp;
    uint64_t frames;
} piece;

typedef struct loudness_job {
    loudness_settings settings;
    bool bypass; /* enabled is false: packets pass through as they come */
    loudness_meter *meter; /* made with the first packet */
    uint32_t rate;         /* 0 until the first packet */
    uint32_t channels;
    float *planes[LOUDNESS_MAX_CHANNELS]; /* everything received, per channel */
    uint64_t frames;
    uint64_t capacity;
    piece *pieces;
    size_t piece_count;
    size_t piece_capacity;
} loudness_job;

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 3)))
#endif
static void post_error(const loudness_node *node, const char *format, ...)
{
    char message[MESSAGE_CAPACITY];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof(message), format, args);
    va_end(args);
    node->log->error(node->host, message);
}

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 3, 4)))
#endif
static void log_line(const loudness_node *node, int32_t level, const char *format, ...)
{
    char message[MESSAGE_CAPACITY];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof(message), format, args);
    va_end(args);
    node->log->log(node->host, level, message);
}

static spark_status loudness_create(const spark_host *host, const char *node_id,
                                    void **out_self)
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
    loudness_node *node = calloc(1, sizeof(*node));
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

static void loudness_destroy(void *self)
{
    free(self);
}

/* Read and check the settings; posts the error itself. */
static spark_status read_settings(const loudness_node *node, const spark_params *params,
                                  loudness_settings *out)
{
    loudness_settings s = {
        .target_lufs = params->get_number(params->user, LOUDNESS_PARAM_TARGET),
        .ceiling_dbtp = params->get_number(params->user, LOUDNESS_PARAM_CEILING),
        .silence_gate_lufs = params->get_number(params->user, LOUDNESS_PARAM_SILENCE_GATE),
        .lookahead_ms = params->get_number(params->user, LOUDNESS_PARAM_LOOKAHEAD),
        .release_ms = params->get_number(params->user, LOUDNESS_PARAM_RELEASE),
        .dual_mono = params->get_boolean(params->user, LOUDNESS_PARAM_DUAL_MONO) != 0,
    };
    /* The engine checks ranges; these are the rules between values and against NaN. */
    if (!isfinite(s.target_lufs) || !isfinite(s.ceiling_dbtp) ||
        !isfinite(s.silence_gate_lufs) || !(s.lookahead_ms > 0.0) || !(s.release_ms > 0.0)) {
        post_error(node, "target, ceiling and silence_gate must be finite numbers and "
                         "lookahead_ms and release_ms > 0");
        return SPARK_E_INVALID_ARGUMENT;
    }
    if (s.silence_gate_lufs >= s.target_lufs) {
        post_error(node, "silence_gate (%g LUFS) must be below target (%g LUFS)",
                   s.silence_gate_lufs, s.target_lufs);
        return SPARK_E_INVALID_ARGUMENT;
    }
    *out = s;
    return SPARK_OK;
}

static spark_status loudness_configure(void *self, const spark_params *params)
{
    loudness_settings settings;
    return read_settings(self, params, &settings);
}

static spark_status loudness_negotiate(void *self, spark_format *formats, uint32_t port_count)
{
    const loudness_node *node = self;
    if (port_count != LOUDNESS_PORT_COUNT) {
        post_error(node, "expected %d ports in negotiate, got %u", LOUDNESS_PORT_COUNT,
                   port_count);
        return SPARK_E_INTERNAL;
    }
    const spark_format *in = &formats[LOUDNESS_PORT_IN];
    if (in->channels > LOUDNESS_MAX_CHANNELS) {
        post_error(node, "input has %u channels; loudness is measured for 1 to %u (mono to "
                         "5.1)", in->channels, LOUDNESS_MAX_CHANNELS);
        return SPARK_E_FORMAT_MISMATCH;
    }
    spark_format *out = &formats[LOUDNESS_PORT_OUT];
    out->kind = SPARK_KIND_AUDIO;
    out->rate = in->rate;
    out->channels = in->channels;
    out->frame_rate = 0.0;
    out->name = NULL;
    return SPARK_OK;
}

static void job_free(loudness_job *state)
{
    if (!state)
        return;
    loudness_meter_free(state->meter);
    for (uint32_t c = 0; c < LOUDNESS_MAX_CHANNELS; c++)
        free(state->planes[c]);
    free(state->pieces);
    free(state);
}

static spark_status loudness_job_begin(void *self, const spark_job *job, void **out_job_state)
{
    const loudness_node *node = self;
    loudness_settings settings;
    spark_status status = read_settings(node, job->params, &settings);
    if (status != SPARK_OK)
        return status;
    loudness_job *state = calloc(1, sizeof(*state));
    if (!state) {
        post_error(node, "out of memory");
        return SPARK_E_NO_MEMORY;
    }
    state->settings = settings;
    state->bypass = !job->params->get_boolean(job->params->user, LOUDNESS_PARAM_ENABLED);
    *out_job_state = state;
    return SPARK_OK;
}

static spark_status start_stream(const loudness_node *node, loudness_job *state, uint32_t rate,
                                 uint32_t channels)
{
    char reason[MESSAGE_CAPACITY];
    state->meter = loudness_meter_new(channels, rate, state->settings.dual_mono, reason,
                                      sizeof(reason));
    if (!state->meter) {
        post_error(node, "%s", reason);
        return channels == 0 || channels > LOUDNESS_MAX_CHANNELS ? SPARK_E_FORMAT_MISMATCH
                                                                : SPARK_E_INVALID_ARGUMENT;
    }
    state->rate = rate;
    state->channels = channels;
    return SPARK_OK;
}

/* Append frames to the job's copy of its audio, and remember the piece. */
static int keep_audio(loudness_job *state, const spark_packet *packet)
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
    state->pieces[state->piece_count++] =
        (piece){ .seq = packet->seq, .timestamp = audio->timestamp, .frames = audio->frames };
    return 0;
}

static spark_status take_packet(const loudness_node *node, loudness_job *state,
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
        spark_status status = start_stream(node, state, audio->rate, audio->channels);
        if (status != SPARK_OK)
            return status;
    } else if (audio->rate != state->rate || audio->channels != state->channels) {
        post_error(node,
                   "audio packet %lld is %u Hz with %u channel(s), but the job's audio so far "
                   "is %u Hz with %u channel(s); loudness is measured over one stream",
                   (long long)packet->seq, audio->rate, audio->channels, state->rate,
                   state->channels);
        return SPARK_E_FORMAT_MISMATCH;
    }
    char reason[MESSAGE_CAPACITY];
    if (loudness_meter_add(state->meter, (const float *const *)audio->planes, audio->frames,
                           reason, sizeof(reason)) != 0) {
        post_error(node, "%s", reason);
        return SPARK_E_NO_MEMORY;
    }
    if (keep_audio(state, packet) != 0) {
        post_error(node, "out of memory keeping %llu frames of audio",
                   (unsigned long long)(state->frames + audio->frames));
        return SPARK_E_NO_MEMORY;
    }
    return SPARK_OK;
}

static spark_status post_number(const spark_job *job, const char *name, double value)
{
    char text[32];
    snprintf(text, sizeof(text), isfinite(value) ? "%.2f" : "%f", value);
    return job->post_result(job, name, SPARK_VALUE_NUMBER, text, value);
}

static spark_status post_boolean(const spark_job *job, const char *name, int value)
{
    return job->post_result(job, name, SPARK_VALUE_BOOLEAN, value ? "true" : "false",
                            value ? 1.0 : 0.0);
}

static spark_status post_results(const spark_job *job, const loudness_report *report)
{
    const struct {
        const char *name;
        double value;
    } numbers[] = {
        { LOUDNESS_RESULT_INPUT_I, report->input.integrated_lufs },
        { LOUDNESS_RESULT_INPUT_LRA, report->input.range_lu },
        { LOUDNESS_RESULT_INPUT_TP, report->input.true_peak_dbtp },
        { LOUDNESS_RESULT_OUTPUT_I, report->output.integrated_lufs },
        { LOUDNESS_RESULT_OUTPUT_LRA, report->output.range_lu },
        { LOUDNESS_RESULT_OUTPUT_TP, report->output.true_peak_dbtp },
        { LOUDNESS_RESULT_GAIN, report->gain_db },
        { LOUDNESS_RESULT_REDUCTION, report->limiter_reduction_db },
    };
    for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
        spark_status status = post_number(job, numbers[i].name, numbers[i].value);
        if (status < 0)
            return status;
    }
    spark_status status = post_boolean(job, LOUDNESS_RESULT_LIMITED, report->limited);
    if (status >= 0)
        status = post_boolean(job, LOUDNESS_RESULT_NORMALIZED, report->normalized);
    return status;
}

/* Emit the job's audio in the pieces it arrived in. */
static spark_status emit_pieces(const loudness_node *node, const loudness_job *state,
                                const spark_job *job)
{
    uint64_t offset = 0;
    for (size_t i = 0; i < state->piece_count; i++) {
        const piece *p = &state->pieces[i];
        spark_packet *out = node->alloc->audio(node->host, state->channels, p->frames,
                                               state->rate);
        if (!out) {
            post_error(node, "out of memory for a %llu-frame audio packet",
                       (unsigned long long)p->frames);
            return SPARK_E_NO_MEMORY;
        }
        out->seq = p->seq;
        out->data.audio.timestamp = p->timestamp;
        for (uint32_t c = 0; c < state->channels; c++)
            memcpy(out->data.audio.planes[c], state->planes[c] + offset,
                   (size_t)p->frames * sizeof(float));
        offset += p->frames;
        spark_status status = job->emit(job, LOUDNESS_PORT_OUT, out);
        if (status < 0)
            return status; /* the engine knows why it refused */
    }
    return SPARK_OK;
}

typedef struct progress_context {
    const loudness_node *node;
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

static spark_status finish(const loudness_node *node, loudness_job *state,
                           const spark_job *job)
{
    loudness_report report;
    memset(&report, 0, sizeof(report));
    char reason[MESSAGE_CAPACITY];
    if (!state->meter) {
        log_line(node, SPARK_LOG_WARN, "the job brought no audio; nothing to normalise");
        return post_boolean(job, LOUDNESS_RESULT_NORMALIZED, 0);
    }
    loudness_measurement input;
    if (loudness_meter_read(state->meter, &input, reason, sizeof(reason)) != 0) {
        post_error(node, "%s", reason);
        return SPARK_E_INTERNAL;
    }
    progress_context progress = { .node = node, .job = job, .stopped = SPARK_OK };
    int normalized = loudness_normalize(state->planes, state->channels, state->frames,
                                        state->rate, &state->settings, &input, keep_going,
                                        &progress, &report, reason, sizeof(reason));
    if (normalized == 1)
        return progress.stopped;
    if (normalized < 0) {
        post_error(node, "%s", reason);
        return SPARK_E_NO_MEMORY;
    }
    if (!report.normalized && state->frames < (uint64_t)state->rate * 2 / 5)
        log_line(node, SPARK_LOG_WARN,
                 "the job's audio (%.3f s) is shorter than one 400 ms loudness block and "
                 "cannot be measured: it passes through unchanged",
                 (double)state->frames / state->rate);
    else if (!report.normalized)
        log_line(node, SPARK_LOG_WARN,
                 "integrated loudness %.1f LUFS is below the silence gate of %.1f LUFS: the "
                 "audio passes through unchanged instead of being amplified into noise",
                 input.integrated_lufs, state->settings.silence_gate_lufs);
    else if (fabs(report.output.integrated_lufs - state->settings.target_lufs) > 0.5)
        log_line(node, SPARK_LOG_WARN,
                 "reached %.1f LUFS, not the target %.1f LUFS: the ceiling of %.1f dBTP "
                 "left no room",
                 report.output.integrated_lufs, state->settings.target_lufs,
                 state->settings.ceiling_dbtp);
    spark_status status = emit_pieces(node, state, job);
    if (status >= 0)
        status = post_results(job, &report);
    return status;
}

static spark_status loudness_process(void *self, void *job_state, const spark_job *job,
                                     uint32_t port, const spark_packet *packet)
{
    const loudness_node *node = self;
    loudness_job *state = job_state;
    if (port != LOUDNESS_PORT_IN) {
        post_error(node, "input on unknown port %u", port);
        return SPARK_E_INVALID_ARGUMENT;
    }
    if (state->bypass) {
        if (!packet)
            return post_boolean(job, LOUDNESS_RESULT_NORMALIZED, 0);
        return job->emit(job, LOUDNESS_PORT_OUT, node->alloc->retain(packet));
    }
    if (!packet)
        return finish(node, state, job);
    spark_status status = take_packet(node, state, packet);
    return status < 0 ? status : SPARK_NEED_MORE;
}

static spark_status loudness_job_end(void *self, void *job_state, const spark_job *job,
                                     spark_status outcome)
{
    (void)self;
    (void)job;
    (void)outcome;
    job_free(job_state);
    return SPARK_OK;
}

const spark_node_ops loudness_node_ops = {
    .struct_size = sizeof(spark_node_ops),
    .create = loudness_create,
    .configure = loudness_configure,
    .negotiate = loudness_negotiate,
    .job_begin = loudness_job_begin,
    .process = loudness_process,
    .job_end = loudness_job_end,
    .destroy = loudness_destroy,
};
