/* org.sparkhost.vocoder.wavegen: latent packets (out of the BiCodec decode node) -> 16 kHz mono
 * audio, decoded in chunks of chunk_frames latent frames, each with context_frames of its
 * neighbours on both sides, and emitted chunk by chunk as the latent streams in. */
#define _POSIX_C_SOURCE 200809L
#include "wavegen_node.h"

#include <spark/ext/alloc.h>
#include <spark/ext/log.h>
#include <spark/ext/progress.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spark/nn/pool.h>
#include <spark/nn/stream_plan.h>
#include <spark/nn/spark_model.h>

#include "wavegen.h"

#ifdef SPARK_HAVE_CUDA
#include <spark/nn/wavegen_cuda.h>
#endif

enum { WAVEGEN_PORT_LATENT = 0, WAVEGEN_PORT_AUDIO = 1 };

typedef struct wavegen_node {
    const spark_host *host;
    const spark_ext_log *log;
    const spark_ext_alloc *alloc;
    const spark_ext_progress *progress;
    char *model_dir;
    int threads;
    size_t context_frames;
    nn_stream_plan plan; /* the chunking: chunk_frames, first_chunk_frames, context_frames */
    bool bf16;
    uint32_t sample_rate;
    wavegen model;
    bool loaded;
    nn_pool *pool;
    bool cuda; /* device cuda: the decode runs on the GPU (the CPU model gives the shapes) */
#ifdef SPARK_HAVE_CUDA
    nn_wavegen_cuda *gpu;
#endif
} wavegen_node;

/* The piece (sentence) being decoded: a window of its latent, [channels][cap] with column 0
 * at piece frame `base`; frames before done - context are dropped as it grows. */
typedef struct latent_piece {
    bool open;
    int64_t seq;
    float *data;
    size_t cap, base, count, done;
} latent_piece;

typedef struct wavegen_job {
    wavegen_workspace ws;
    int64_t next_sample;
    size_t emitted; /* latent frames of the job out so far */
    latent_piece piece;
#ifdef SPARK_HAVE_CUDA
    nn_wavegen_cuda_job *gpu_job; /* stream and buffers for windows of up to gpu_frames */
    size_t gpu_frames;
    float *window; /* the decoded window's samples */
#endif
} wavegen_job;

static spark_status fail(const wavegen_node *self, spark_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static spark_status fail(const wavegen_node *self, spark_status status, const char *fmt, ...)
{
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (self->log)
        self->log->error(self->host, message);
    return status;
}

static spark_status node_create(const spark_host *host, const char *node_id, void **out)
{
    (void)node_id;
    wavegen_node *self = calloc(1, sizeof *self);
    if (!self)
        return SPARK_E_NO_MEMORY;
    self->host = host;
    self->log = spark_host_service(host, SPARK_EXT_LOG, SPARK_SIZE_THROUGH(spark_ext_log, error));
    self->alloc = spark_host_service(host, SPARK_EXT_ALLOC,
                                     SPARK_SIZE_THROUGH(spark_ext_alloc, release));
    self->progress = spark_host_service(host, SPARK_EXT_PROGRESS,
                                        SPARK_SIZE_THROUGH(spark_ext_progress, check));
    if (!self->alloc) {
        spark_status st = fail(self, SPARK_E_UNSUPPORTED, "host lacks spark.ext.alloc/1");
        free(self);
        return st;
    }
    *out = self;
    return SPARK_OK;
}

static spark_status node_configure(void *self_, const spark_params *params)
{
    wavegen_node *self = self_;
    const char *dir = params->get_string(params->user, "model");
    self->threads = (int)params->get_integer(params->user, "threads");
    self->context_frames = (size_t)params->get_integer(params->user, "context_frames");
    self->plan.lookahead = self->context_frames;
    self->plan.first_chunk = (size_t)params->get_integer(params->user, "first_chunk_frames");
    self->plan.chunk = (size_t)params->get_integer(params->user, "chunk_frames");
    const char *precision = params->get_string(params->user, "precision");
    self->bf16 = precision && strcmp(precision, "bf16") == 0;
    const char *device = params->get_string(params->user, "device");
    self->cuda = device && strcmp(device, "cuda") == 0;
    free(self->model_dir);
    self->model_dir = strdup(dir ? dir : "");
    if (!self->model_dir)
        return fail(self, SPARK_E_NO_MEMORY, "out of memory");
    /* the output rate, from config.yaml (16000 in the release) */
    char path[4096];
    snprintf(path, sizeof path, "%s/config.yaml", self->model_dir);
    nn_problems problems = {0};
    nn_spark_audio_config audio;
    int rc = nn_spark_audio_config_load(path, &audio, &problems);
    nn_problems_free(&problems);
    self->sample_rate = rc == 0 && audio.sample_rate > 0 ? (uint32_t)audio.sample_rate : 16000;
    return SPARK_OK;
}

static spark_status node_negotiate(void *self_, spark_format *formats, uint32_t count)
{
    wavegen_node *self = self_;
    if (count <= WAVEGEN_PORT_AUDIO)
        return fail(self, SPARK_E_INTERNAL, "negotiate: %u ports", count);
    formats[WAVEGEN_PORT_AUDIO].kind = SPARK_KIND_AUDIO;
    formats[WAVEGEN_PORT_AUDIO].channels = 1;
    formats[WAVEGEN_PORT_AUDIO].rate = self->sample_rate;
    return SPARK_OK;
}

static spark_status node_activate(void *self_)
{
    wavegen_node *self = self_;
    char err[1024];
    if (wavegen_load(&self->model, self->model_dir, err, sizeof err))
        return fail(self, SPARK_E_INVALID_MODEL, "model: %s", err);
    self->loaded = true;
    if (self->bf16 && wavegen_use_bf16(&self->model, err, sizeof err))
        return fail(self, SPARK_E_UNSUPPORTED, "precision bf16: %s", err);
    self->pool = nn_pool_create(self->threads, err, sizeof err);
    if (!self->pool)
        return fail(self, SPARK_E_INTERNAL, "threads: %s", err);
    if (self->cuda) {
#ifdef SPARK_HAVE_CUDA
        self->gpu = nn_wavegen_cuda_load(self->model_dir, 0, err, sizeof err);
        if (!self->gpu)
            return fail(self, SPARK_E_UNSUPPORTED, "device cuda: %s", err);
        char line[512];
        if (self->log && nn_cuda_memory_report(line, sizeof line, err, sizeof err) == 0)
            self->log->log(self->host, SPARK_LOG_INFO, line);
#else
        return fail(self, SPARK_E_UNSUPPORTED, "device cuda: this build has no CUDA backend "
                    "(configure with -DSPARK_CUDA=ON)");
#endif
    }
    return SPARK_OK;
}

#ifdef SPARK_HAVE_CUDA
/* Latent frames [begin, end) decoded on the GPU from the window [begin - context,
 * end + context) clipped to the latent, as wavegen_forward_range does on the CPU. */
static int gpu_forward_range(wavegen_node *self, wavegen_job *state, const float *latent,
                             size_t ld, size_t frames, size_t begin, size_t end, float *samples,
                             char *err, size_t err_size)
{
    size_t context = self->context_frames, hop = self->model.hop;
    size_t w0 = begin > context ? begin - context : 0;
    size_t w1 = end + context < frames ? end + context : frames;
    if (w1 - w0 > state->gpu_frames) { /* the first (or a longer) window: grow once */
        nn_wavegen_cuda_job_free(state->gpu_job);
        free(state->window);
        state->gpu_frames = 0;
        state->window = malloc((w1 - w0) * hop * sizeof *state->window);
        state->gpu_job = state->window ? nn_wavegen_cuda_job_new(self->gpu, w1 - w0, err,
                                                                 err_size)
                                       : NULL;
        if (!state->gpu_job) {
            if (!state->window)
                snprintf(err, err_size, "out of memory for %zu samples", (w1 - w0) * hop);
            return -1;
        }
        state->gpu_frames = w1 - w0;
    }
    if (nn_wavegen_cuda_forward(state->gpu_job, latent + w0, ld, w1 - w0, state->window, NULL,
                                err, err_size))
        return -1;
    memcpy(samples, state->window + (begin - w0) * hop, (end - begin) * hop * sizeof *samples);
    return 0;
}
#endif

static spark_status node_job_begin(void *self_, const spark_job *job, void **out)
{
    (void)job;
    wavegen_job *state = calloc(1, sizeof *state);
    if (!state)
        return fail(self_, SPARK_E_NO_MEMORY, "out of memory");
    *out = state;
    return SPARK_OK;
}

/* Decodes the piece's frames [begin, end) with their context and emits their samples. */
static spark_status emit_range(wavegen_node *self, wavegen_job *state, const spark_job *job,
                               size_t begin, size_t end, bool last)
{
    const wavegen *wg = &self->model;
    latent_piece *piece = &state->piece;
    if (self->progress) {
        spark_status st = self->progress->check(self->host, job);
        if (st != SPARK_OK)
            return st;
    }
    size_t samples = (end - begin) * wg->hop;
    spark_packet *out = self->alloc->audio(self->host, 1, samples, self->sample_rate);
    if (!out)
        return fail(self, SPARK_E_NO_MEMORY, "no memory for %zu samples", samples);
    size_t frames = piece->count - piece->base;
    char err[512];
    int rc;
#ifdef SPARK_HAVE_CUDA
    if (self->gpu)
        rc = gpu_forward_range(self, state, piece->data, piece->cap, frames, begin - piece->base,
                               end - piece->base, out->data.audio.planes[0], err, sizeof err);
    else
#endif
        rc = wavegen_forward_range(self->pool, wg, piece->data, piece->cap, frames,
                                   begin - piece->base, end - piece->base, self->context_frames,
                                   &state->ws, out->data.audio.planes[0], NULL, err,
                                   sizeof err);
    if (rc) {
        self->alloc->release(out);
        return fail(self, SPARK_E_NO_MEMORY, "latent of seq %lld: %s", (long long)piece->seq,
                    err);
    }
    out->seq = piece->seq;
    out->data.audio.timestamp = state->next_sample;
    if (last)
        spark_packet_set_flags(out, SPARK_PACKET_PIECE_END);
    state->next_sample += (int64_t)samples;
    piece->done = end;
    state->emitted += end - begin;
    return job->emit(job, WAVEGEN_PORT_AUDIO, out);
}

/* Emits what the piece's latent so far allows; ending: all of it. */
static spark_status emit_ready(wavegen_node *self, wavegen_job *state, const spark_job *job,
                               bool ending)
{
    latent_piece *piece = &state->piece;
    for (;;) {
        size_t end = nn_stream_next_end(&self->plan, piece->done, piece->count, ending,
                                        state->emitted);
        if (end == piece->done)
            return SPARK_OK;
        spark_status st = emit_range(self, state, job, piece->done, end,
                                     ending && end == piece->count);
        if (st != SPARK_OK)
            return st;
    }
}

static spark_status finish_piece(wavegen_node *self, wavegen_job *state, const spark_job *job)
{
    latent_piece *piece = &state->piece;
    if (!piece->open)
        return SPARK_OK;
    spark_status st = piece->count > piece->done ? emit_ready(self, state, job, true) : SPARK_OK;
    piece->open = false;
    piece->base = piece->count = piece->done = 0;
    return st;
}

/* Appends frames [0, n) of a latent packet (planes ld apart) to the piece's window. */
static spark_status append_latent(wavegen_node *self, latent_piece *piece, const float *latent,
                                  size_t ld, size_t n)
{
    size_t channels = self->model.in_channels;
    size_t keep = piece->done > self->context_frames ? piece->done - self->context_frames : 0;
    if (keep > piece->base) { /* drop what no range will read again */
        size_t shift = keep - piece->base, held = piece->count - keep;
        for (size_t c = 0; c < channels; c++)
            memmove(piece->data + c * piece->cap, piece->data + c * piece->cap + shift,
                    held * sizeof(float));
        piece->base = keep;
    }
    size_t held = piece->count - piece->base;
    if (held + n > piece->cap) {
        size_t cap = piece->cap ? piece->cap : 256;
        while (cap < held + n)
            cap *= 2;
        float *grown = malloc(channels * cap * sizeof *grown);
        if (!grown)
            return fail(self, SPARK_E_NO_MEMORY, "out of memory for %zu latent frames", cap);
        for (size_t c = 0; c < channels && held; c++)
            memcpy(grown + c * cap, piece->data + c * piece->cap, held * sizeof(float));
        free(piece->data);
        piece->data = grown;
        piece->cap = cap;
    }
    for (size_t c = 0; c < channels; c++)
        memcpy(piece->data + c * piece->cap + held, latent + c * ld, n * sizeof(float));
    piece->count += n;
    return SPARK_OK;
}

static spark_status node_process(void *self_, void *state_, const spark_job *job, uint32_t port,
                                 const spark_packet *in)
{
    wavegen_node *self = self_;
    wavegen_job *state = state_;
    const wavegen *wg = &self->model;
    if (port != WAVEGEN_PORT_LATENT)
        return fail(self, SPARK_E_INVALID_ARGUMENT, "packet on unknown port %u", port);
    if (!in)
        return finish_piece(self, state, job);
    if (in->kind != SPARK_KIND_AUDIO)
        return fail(self, SPARK_E_FORMAT_MISMATCH, "port latent expects audio-kind latent packets");
    const spark_audio_data *latent = &in->data.audio;
    if (latent->channels != wg->in_channels)
        return fail(self, SPARK_E_FORMAT_MISMATCH, "latent packet %lld has %u channels; the "
                    "vocoder takes %zu", (long long)in->seq, latent->channels, wg->in_channels);
    if (latent->rate != 0 && (uint64_t)latent->rate * wg->hop != self->sample_rate)
        return fail(self, SPARK_E_FORMAT_MISMATCH, "latent packet %lld is at %u Hz; the vocoder "
                    "takes %u Hz (%u samples / %zu per frame)", (long long)in->seq,
                    latent->rate, (unsigned)(self->sample_rate / wg->hop), self->sample_rate,
                    wg->hop);
    size_t frames = (size_t)latent->frames;
    size_t ld = latent->channels > 1 ? (size_t)(latent->planes[1] - latent->planes[0]) : frames;
    for (uint32_t c = 1; c < latent->channels; c++)
        if (latent->planes[c] != latent->planes[0] + c * ld || ld < frames)
            return fail(self, SPARK_E_FORMAT_MISMATCH, "latent packet planes are not evenly "
                        "spaced");
    latent_piece *piece = &state->piece;
    spark_status st = SPARK_OK;
    if (piece->open && piece->seq != in->seq)
        st = finish_piece(self, state, job); /* a producer that does not flag piece ends */
    if (st != SPARK_OK)
        return st;
    if (!piece->open) {
        piece->open = true;
        piece->seq = in->seq;
    }
    if (frames && (st = append_latent(self, piece, latent->planes[0], ld, frames)) != SPARK_OK)
        return st;
    if (spark_packet_flags(in) & SPARK_PACKET_PIECE_END)
        return finish_piece(self, state, job);
    return emit_ready(self, state, job, false);
}

static spark_status node_job_end(void *self, void *state_, const spark_job *job,
                                 spark_status outcome)
{
    (void)self;
    (void)job;
    (void)outcome;
    wavegen_job *state = state_;
    free(state->piece.data);
    wavegen_workspace_free(&state->ws);
#ifdef SPARK_HAVE_CUDA
    nn_wavegen_cuda_job_free(state->gpu_job);
    free(state->window);
#endif
    free(state);
    return SPARK_OK;
}

static void node_deactivate(void *self_)
{
    wavegen_node *self = self_;
    nn_pool_destroy(self->pool);
    self->pool = NULL;
#ifdef SPARK_HAVE_CUDA
    nn_wavegen_cuda_free(self->gpu);
    self->gpu = NULL;
#endif
    if (self->loaded)
        wavegen_free(&self->model);
    self->loaded = false;
}

static void node_destroy(void *self_)
{
    wavegen_node *self = self_;
    node_deactivate(self);
    free(self->model_dir);
    free(self);
}

static const spark_node_ops wavegen_ops = {
    sizeof(spark_node_ops), 0,
    node_create,
    node_configure,
    node_negotiate,
    node_activate,
    node_job_begin,
    node_process,
    node_job_end,
    node_deactivate,
    node_destroy,
};

static const spark_port_desc wavegen_ports[] = {
    {"latent", SPARK_PORT_IN, SPARK_KIND_AUDIO, 0, 0, 0, 0,
     "the BiCodec decode node's latent: one plane per channel, one frame per semantic code"},
    {"audio", SPARK_PORT_OUT, SPARK_KIND_AUDIO, 0, 0, 0, 0,
     "mono float audio at the model's rate (16 kHz), 320 samples per latent frame, one packet "
     "per chunk with the sentence's seq, its last flagged SPARK_PACKET_PIECE_END"},
};

static const char *const precision_choices[] = {"f32", "bf16", NULL};
static const char *const device_choices[] = {"cpu", "cuda", NULL};

static const spark_param_desc wavegen_params[] = {
    {"model", SPARK_PARAM_STRING, SPARK_PARAM_REQUIRED, NULL, 0, 0, 0, 0, NULL,
     "Spark-TTS model directory (holding BiCodec/), or the BiCodec directory itself"},
    {"threads", SPARK_PARAM_INTEGER, SPARK_PARAM_HAS_MIN | SPARK_PARAM_HAS_MAX, "0", 0, 256, 0,
     0, NULL, "compute threads; 0: one per CPU this process may use"},
    {"chunk_frames", SPARK_PARAM_INTEGER, SPARK_PARAM_HAS_MIN | SPARK_PARAM_HAS_MAX, "100", 0,
     100000, 0, 0, NULL,
     "the most latent frames decoded and emitted at a time (50 per second); ranges grow from "
     "first_chunk_frames to this, each going out as soon as the context after it has come; "
     "0: each sentence whole, once all of it has come"},
    {"first_chunk_frames", SPARK_PARAM_INTEGER, SPARK_PARAM_HAS_MIN | SPARK_PARAM_HAS_MAX, "6",
     1, 100000, 0, 0, NULL,
     "latent frames of the job's first range: small, so the audio starts early"},
    {"context_frames", SPARK_PARAM_INTEGER, SPARK_PARAM_HAS_MIN | SPARK_PARAM_HAS_MAX, "12", 0,
     10000, 0, 0, NULL,
     "frames of the neighbouring latent decoded on each side of a chunk; at or above the "
     "receptive field (10 frames, measured) chunks equal the whole decode"},
    {"precision", SPARK_PARAM_ENUM, 0, "f32", 0, 0, 0, 0, precision_choices,
     "f32 (as upstream), or bf16: the convolutions (not the transposed ones) in bf16, about "
     "twice as fast, on CPUs with AVX512-BF16 only"},
    {"device", SPARK_PARAM_ENUM, 0, "cpu", 0, 0, 0, 0, device_choices,
     "cpu, or cuda: the decode on the first NVIDIA GPU in f32 (precision then does not apply; "
     "builds with SPARK_CUDA only, refused at activation when no GPU is usable)"},
};

const spark_node_desc wavegen_node_desc = {
    sizeof(spark_node_desc),
    0,
    "org.sparkhost.vocoder.wavegen",
    "WaveGenerator vocoder",
    "1.0.0",
    "BiCodec's WaveGenerator: latent frames to 16 kHz audio, decoded in overlapping chunks as "
    "the latent streams in (several packets per sentence, one seq).",
    NULL,
    sizeof wavegen_ports / sizeof wavegen_ports[0],
    sizeof wavegen_params / sizeof wavegen_params[0],
    wavegen_ports,
    wavegen_params,
    0, 0, NULL,
    &wavegen_ops,
};
