/* org.sparkhost.codec.bicodec.decode: codes packets -> the latent the vocoder eats, as an
 * audio-kind packet of out_channels planes at the semantic frame rate (50 Hz). */
#define _POSIX_C_SOURCE 200809L
#include "decode_node.h"

#include <spark/ext/alloc.h>
#include <spark/ext/log.h>
#include <spark/ext/progress.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spark/nn/pool.h>
#include <spark/nn/stream_plan.h>

#include "bicodec_decoder.h"
#include "bicodec_model.h"

#ifdef SPARK_HAVE_CUDA
#include <spark/nn/bicodec_decode_cuda.h>
#endif

enum { DECODE_PORT_CODES = 0, DECODE_PORT_LATENT = 1, DECODE_PORT_VOICE = 2 };

/* lookahead_frames -1: what a code may still change before it, relative to the latent's
 * range: the level of float rounding in the whole decode. */
#define LOOKAHEAD_TOLERANCE 1e-6

typedef struct decode_node {
    const spark_host *host;
    const spark_ext_log *log;
    const spark_ext_alloc *alloc;
    char *model_dir;
    int threads;
    nn_bicodec_config config; /* read in configure: the output format needs it */
    uint32_t frame_rate;
    bicodec_decoder decoder;
    bool loaded;
    nn_pool *pool;
    size_t receptive; /* frames each side that reach a latent frame (the prenet's convs) */
    int64_t lookahead_param;
    nn_stream_plan plan; /* its lookahead is set at activation */
    bool cuda; /* device cuda: the decode runs on the GPU (the CPU decoder checks the codes) */
#ifdef SPARK_HAVE_CUDA
    nn_bicodec_decoder_cuda *gpu;
#endif
} decode_node;

/* The piece (sentence) being decoded: its codes so far, and how much of it is out. */
typedef struct decode_piece {
    bool open;
    int64_t seq;
    int32_t *semantic;
    size_t count, cap, done;
    int32_t *global; /* its own globals (voice creation), or NULL: the voice's */
    size_t n_global;
} decode_piece;

typedef struct decode_job {
    bicodec_workspace ws;
    int64_t next_frame; /* the latent timestamp of the next packet */
    size_t emitted;     /* latent frames of the job out so far */
    decode_piece piece;
    float *window; /* the latent of one decode window, [out_channels][frames] */
    size_t window_cap;
    /* The cloning modes: the LLM's codes carry no global codes; the reference voice's, from
     * port voice, are used. Codes that come before the voice wait for it. */
    int32_t *voice_global;
    uint64_t n_voice_global;
    bool have_voice, voice_ended, codes_ended;
    const spark_packet **pending;
    size_t pending_count, pending_cap;
#ifdef SPARK_HAVE_CUDA
    nn_bicodec_decode_cuda_job *gpu_job; /* stream and buffers for up to gpu_frames codes */
    size_t gpu_frames;
#endif
} decode_job;

static spark_status fail(const decode_node *self, spark_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static spark_status fail(const decode_node *self, spark_status status, const char *fmt, ...)
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

static spark_status decode_create(const spark_host *host, const char *node_id, void **out)
{
    (void)node_id;
    decode_node *self = calloc(1, sizeof *self);
    if (!self)
        return SPARK_E_NO_MEMORY;
    self->host = host;
    self->log = spark_host_service(host, SPARK_EXT_LOG, SPARK_SIZE_THROUGH(spark_ext_log, error));
    self->alloc = spark_host_service(host, SPARK_EXT_ALLOC,
                                     SPARK_SIZE_THROUGH(spark_ext_alloc, release));
    if (!self->alloc) {
        spark_status st = fail(self, SPARK_E_UNSUPPORTED, "host lacks spark.ext.alloc/1");
        free(self);
        return st;
    }
    *out = self;
    return SPARK_OK;
}

/* Reads the parameters and the codec's config.yaml (small; the weights wait for activate). */
static spark_status decode_configure(void *self_, const spark_params *params)
{
    decode_node *self = self_;
    const char *dir = params->get_string(params->user, "model");
    self->threads = (int)params->get_integer(params->user, "threads");
    self->lookahead_param = params->get_integer(params->user, "lookahead_frames");
    self->plan.first_chunk = (size_t)params->get_integer(params->user, "first_chunk_frames");
    self->plan.chunk = (size_t)params->get_integer(params->user, "chunk_frames");
    const char *device = params->get_string(params->user, "device");
    self->cuda = device && strcmp(device, "cuda") == 0;
    free(self->model_dir);
    self->model_dir = strdup(dir ? dir : "");
    if (!self->model_dir)
        return fail(self, SPARK_E_NO_MEMORY, "out of memory");
    char err[1024];
    if (bicodec_config_read(&self->config, self->model_dir, err, sizeof err))
        return fail(self, SPARK_E_NOT_FOUND, "model: %s", err);
    int64_t hop = 1;
    for (size_t i = 0; i < self->config.decoder.rate_count; i++)
        hop *= self->config.decoder.rates[i];
    if (hop <= 0 || self->config.mel.sample_rate % hop)
        return fail(self, SPARK_E_INVALID_MODEL, "model: BiCodec/config.yaml: decoder rates "
                    "(product %lld) do not divide the sample rate %lld", (long long)hop,
                    (long long)self->config.mel.sample_rate);
    self->frame_rate = (uint32_t)(self->config.mel.sample_rate / hop);
    return SPARK_OK;
}

static spark_status decode_negotiate(void *self_, spark_format *formats, uint32_t count)
{
    decode_node *self = self_;
    if (count <= DECODE_PORT_LATENT)
        return fail(self, SPARK_E_INTERNAL, "negotiate: %u ports", count);
    formats[DECODE_PORT_LATENT].kind = SPARK_KIND_AUDIO;
    formats[DECODE_PORT_LATENT].channels = (uint32_t)self->config.prenet.out_channels;
    formats[DECODE_PORT_LATENT].rate = self->frame_rate;
    return SPARK_OK;
}

static spark_status decode_activate(void *self_)
{
    decode_node *self = self_;
    char err[1024];
    bicodec_model model;
    if (bicodec_model_open(&model, self->model_dir, err, sizeof err))
        return fail(self, SPARK_E_NOT_FOUND, "model: %s", err);
    int rc = bicodec_decoder_load(&self->decoder, &model, err, sizeof err);
    bicodec_model_close(&model);
    if (rc)
        return fail(self, SPARK_E_INVALID_MODEL, "model: %s", err);
    self->loaded = true;
    self->pool = nn_pool_create(self->threads, err, sizeof err);
    if (!self->pool)
        return fail(self, SPARK_E_INTERNAL, "threads: %s", err);
    self->receptive = bicodec_receptive_half_width(&self->decoder);
    char line[320];
    if (self->lookahead_param < 0) {
        if (bicodec_measure_lookahead(self->pool, &self->decoder, LOOKAHEAD_TOLERANCE,
                                      &self->plan.lookahead, err, sizeof err))
            return fail(self, SPARK_E_NO_MEMORY, "lookahead_frames: %s", err);
        snprintf(line, sizeof line, "streamed decode: %zu frames of lookahead (measured: a code "
                 "moves the latent more than %zu frames before it by under %g of its range; "
                 "the receptive field is %zu)", self->plan.lookahead, self->plan.lookahead,
                 LOOKAHEAD_TOLERANCE, self->receptive);
    } else {
        self->plan.lookahead = (size_t)self->lookahead_param < self->receptive
                                   ? (size_t)self->lookahead_param
                                   : self->receptive;
        snprintf(line, sizeof line, "streamed decode: %zu frames of lookahead%s",
                 self->plan.lookahead, self->plan.lookahead < self->receptive
                 ? ", below the receptive field: ranges approximate the whole decode" : "");
    }
    if (self->log)
        self->log->log(self->host, SPARK_LOG_INFO, line);
    if (self->cuda) {
#ifdef SPARK_HAVE_CUDA
        self->gpu = nn_bicodec_decoder_cuda_load(self->model_dir, 0, err, sizeof err);
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
/* The latent of checked codes on the GPU; the job's buffers grow to the longest packet. */
static int gpu_decode(decode_node *self, decode_job *state, const int32_t *semantic, size_t n,
                      const int32_t *global, size_t n_global, float *latent, size_t ld,
                      char *err, size_t err_size)
{
    if (n > state->gpu_frames) {
        nn_bicodec_decode_cuda_job_free(state->gpu_job);
        state->gpu_frames = 0;
        state->gpu_job = nn_bicodec_decode_cuda_job_new(self->gpu, n, err, err_size);
        if (!state->gpu_job)
            return -1;
        state->gpu_frames = n;
    }
    return nn_bicodec_decode_cuda(state->gpu_job, semantic, n, global, n_global, latent, ld,
                                  err, err_size);
}
#endif

static spark_status decode_job_begin(void *self_, const spark_job *job, void **out)
{
    (void)job;
    decode_job *state = calloc(1, sizeof *state);
    if (!state)
        return fail(self_, SPARK_E_NO_MEMORY, "out of memory");
    *out = state;
    return SPARK_OK;
}

static void piece_reset(decode_piece *piece)
{
    piece->open = false;
    piece->count = piece->done = 0;
    free(piece->global);
    piece->global = NULL;
    piece->n_global = 0;
}

/* The latent of semantic frames [w0, w1) of the piece into state->window. */
static int decode_window(decode_node *self, decode_job *state, const int32_t *global,
                         size_t n_global, size_t w0, size_t w1, char *err, size_t err_size)
{
    size_t frames = w1 - w0, floats = self->decoder.out_channels * frames;
    if (floats > state->window_cap) {
        float *grown = realloc(state->window, floats * sizeof *grown);
        if (!grown) {
            snprintf(err, err_size, "out of memory for a %zu-frame latent", frames);
            return -1;
        }
        state->window = grown;
        state->window_cap = floats;
    }
    const int32_t *semantic = state->piece.semantic + w0;
#ifdef SPARK_HAVE_CUDA
    if (self->gpu)
        return gpu_decode(self, state, semantic, frames, global, n_global, state->window,
                          frames, err, err_size);
#endif
    return bicodec_decode(self->pool, &self->decoder, semantic, frames, global, n_global,
                          &state->ws, state->window, frames, NULL, err, err_size);
}

/* Decodes the piece's frames [begin, end) with their context and emits them. */
static spark_status emit_range(decode_node *self, decode_job *state, const spark_job *job,
                               size_t begin, size_t end, bool last)
{
    decode_piece *piece = &state->piece;
    const int32_t *global = piece->global ? piece->global : state->voice_global;
    size_t n_global = piece->global ? piece->n_global : state->n_voice_global;
    size_t w0 = begin > self->receptive ? begin - self->receptive : 0;
    size_t w1 = end + self->plan.lookahead < piece->count ? end + self->plan.lookahead
                                                          : piece->count;
    char err[512];
    if (decode_window(self, state, global, n_global, w0, w1, err, sizeof err))
        return fail(self, SPARK_E_NO_MEMORY, "codes of seq %lld: %s", (long long)piece->seq,
                    err);
    size_t frames = end - begin, width = w1 - w0;
    spark_packet *out = self->alloc->audio(self->host, (uint32_t)self->decoder.out_channels,
                                           frames, self->frame_rate);
    if (!out)
        return fail(self, SPARK_E_NO_MEMORY, "no memory for a %zu-frame latent", frames);
    const spark_audio_data *audio = &out->data.audio;
    for (uint32_t c = 0; c < audio->channels; c++)
        memcpy(audio->planes[c], state->window + c * width + (begin - w0),
               frames * sizeof(float));
    out->seq = piece->seq;
    out->data.audio.timestamp = state->next_frame;
    if (last)
        spark_packet_set_flags(out, SPARK_PACKET_PIECE_END);
    state->next_frame += (int64_t)frames;
    piece->done = end;
    state->emitted += end - begin;
    return job->emit(job, DECODE_PORT_LATENT, out);
}

/* Emits what the piece's codes so far allow; ending: all of it, the piece is complete. */
static spark_status emit_ready(decode_node *self, decode_job *state, const spark_job *job,
                               bool ending)
{
    decode_piece *piece = &state->piece;
    if (ending && piece->count == 0)
        return fail(self, SPARK_E_INVALID_ARGUMENT, "codes of seq %lld: no semantic codes",
                    (long long)piece->seq);
    for (;;) {
        size_t end = nn_stream_next_end(&self->plan, piece->done, piece->count, ending,
                                        state->emitted);
        if (end == piece->done)
            return SPARK_OK;
        spark_status st = emit_range(self, state, job, piece->done, end,
                                     ending && end == piece->count);
        if (st < 0)
            return st;
    }
}

static spark_status finish_piece(decode_node *self, decode_job *state, const spark_job *job)
{
    if (!state->piece.open)
        return SPARK_OK;
    spark_status st = emit_ready(self, state, job, true);
    piece_reset(&state->piece);
    return st;
}

/* Global codes a codes packet brings to its piece: checked, kept for the piece's later
 * packets, and never changed within a piece. */
static spark_status take_piece_globals(decode_node *self, decode_piece *piece,
                                       const spark_codes_data *codes)
{
    if (piece->global) {
        if (codes->n_global != piece->n_global ||
            memcmp(codes->global, piece->global, piece->n_global * sizeof *piece->global))
            return fail(self, SPARK_E_INVALID_ARGUMENT, "codes of seq %lld change their global "
                        "codes within the piece", (long long)piece->seq);
        return SPARK_OK;
    }
    piece->global = malloc(codes->n_global * sizeof *piece->global);
    if (!piece->global)
        return fail(self, SPARK_E_NO_MEMORY, "out of memory");
    memcpy(piece->global, codes->global, codes->n_global * sizeof *piece->global);
    piece->n_global = codes->n_global;
    return SPARK_OK;
}

static spark_status append_codes(decode_node *self, decode_piece *piece,
                                 const spark_codes_data *codes)
{
    size_t n = (size_t)codes->n_semantic;
    if (n == 0)
        return SPARK_OK;
    if (piece->count + n > piece->cap) {
        size_t cap = piece->cap ? piece->cap : 256;
        while (cap < piece->count + n)
            cap *= 2;
        int32_t *grown = realloc(piece->semantic, cap * sizeof *grown);
        if (!grown)
            return fail(self, SPARK_E_NO_MEMORY, "out of memory for %zu codes", cap);
        piece->semantic = grown;
        piece->cap = cap;
    }
    memcpy(piece->semantic + piece->count, codes->semantic, n * sizeof *codes->semantic);
    piece->count += n;
    return SPARK_OK;
}

/* A codes packet whose global codes are known (its own, its piece's or the voice's). */
static spark_status accept_codes(decode_node *self, decode_job *state, const spark_job *job,
                                 const spark_packet *in)
{
    decode_piece *piece = &state->piece;
    spark_status st = SPARK_OK;
    if (piece->open && piece->seq != in->seq)
        st = finish_piece(self, state, job); /* a producer that does not flag piece ends */
    if (st < 0)
        return st;
    if (!piece->open) {
        piece->open = true;
        piece->seq = in->seq;
    }
    const spark_codes_data *codes = &in->data.codes;
    if (codes->n_global > 0 && (st = take_piece_globals(self, piece, codes)) < 0)
        return st;
    const int32_t *global = piece->global ? piece->global : state->voice_global;
    size_t n_global = piece->global ? piece->n_global : state->n_voice_global;
    char err[512];
    if (codes->n_semantic > 0 &&
        bicodec_check_codes(&self->decoder, codes->semantic, codes->n_semantic, global, n_global,
                            err, sizeof err))
        return fail(self, SPARK_E_INVALID_ARGUMENT, "codes packet %lld: %s", (long long)in->seq,
                    err);
    if ((st = append_codes(self, piece, codes)) < 0)
        return st;
    if (spark_packet_flags(in) & SPARK_PACKET_PIECE_END)
        return finish_piece(self, state, job);
    return emit_ready(self, state, job, false);
}

static spark_status check_codes_packet(const decode_node *self, const spark_packet *in,
                                       const char *port)
{
    if (in->kind != SPARK_KIND_CODES)
        return fail(self, SPARK_E_FORMAT_MISMATCH, "port %s expects codes packets", port);
    const char *codec = in->data.codes.codec;
    if (codec && codec[0] && strcmp(codec, "bicodec") != 0)
        return fail(self, SPARK_E_FORMAT_MISMATCH, "%s packet %lld is for codec '%s', not "
                    "bicodec", port, (long long)in->seq, codec);
    return SPARK_OK;
}

static spark_status take_voice(decode_node *self, decode_job *state, const spark_job *job,
                               const spark_packet *in)
{
    if (state->have_voice)
        return fail(self, SPARK_E_INVALID_ARGUMENT, "more than one reference voice in a job");
    const spark_codes_data *voice = &in->data.codes;
    if (voice->n_global == 0)
        return fail(self, SPARK_E_INVALID_ARGUMENT, "the reference voice has no global codes");
    state->voice_global = malloc(voice->n_global * sizeof *state->voice_global);
    if (!state->voice_global)
        return fail(self, SPARK_E_NO_MEMORY, "out of memory for the voice");
    memcpy(state->voice_global, voice->global, voice->n_global * sizeof *voice->global);
    state->n_voice_global = voice->n_global;
    state->have_voice = true;
    spark_status st = SPARK_OK;
    for (size_t i = 0; i < state->pending_count; i++) {
        if (st >= 0)
            st = accept_codes(self, state, job, state->pending[i]);
        self->alloc->release(state->pending[i]);
    }
    state->pending_count = 0;
    return st;
}

static spark_status no_voice(const decode_node *self, const spark_packet *in)
{
    return fail(self, SPARK_E_INVALID_ARGUMENT, "codes packet %lld has no global codes and no "
                "reference voice came on port voice", (long long)in->seq);
}

/* Keeps a codes packet until the voice (and its global codes) comes. */
static spark_status pend(decode_node *self, decode_job *state, const spark_packet *in)
{
    if (state->pending_count == state->pending_cap) {
        size_t cap = state->pending_cap ? state->pending_cap * 2 : 8;
        const spark_packet **grown = realloc(state->pending, cap * sizeof *grown);
        if (!grown)
            return fail(self, SPARK_E_NO_MEMORY, "out of memory");
        state->pending = grown;
        state->pending_cap = cap;
    }
    state->pending[state->pending_count++] = self->alloc->retain(in);
    return SPARK_OK;
}

static spark_status decode_process(void *self_, void *state_, const spark_job *job,
                                   uint32_t port, const spark_packet *in)
{
    decode_node *self = self_;
    decode_job *state = state_;
    if (port != DECODE_PORT_CODES && port != DECODE_PORT_VOICE)
        return fail(self, SPARK_E_INVALID_ARGUMENT, "packet on unknown port %u", port);
    const char *port_name = port == DECODE_PORT_VOICE ? "voice" : "codes";
    if (!in) {
        if (port == DECODE_PORT_CODES) {
            state->codes_ended = true; /* pending codes finish when the voice comes */
            return state->pending_count ? SPARK_OK : finish_piece(self, state, job);
        }
        state->voice_ended = true;
        if (state->pending_count && !state->have_voice)
            return no_voice(self, state->pending[0]);
        return SPARK_OK;
    }
    spark_status st = check_codes_packet(self, in, port_name);
    if (st < 0)
        return st;
    if (port == DECODE_PORT_VOICE) {
        st = take_voice(self, state, job, in);
        return st >= 0 && state->codes_ended ? finish_piece(self, state, job) : st;
    }
    const decode_piece *piece = &state->piece;
    bool known = in->data.codes.n_global > 0 || state->have_voice ||
                 (piece->open && piece->seq == in->seq && piece->global);
    if (known && state->pending_count == 0)
        return accept_codes(self, state, job, in);
    if (state->voice_ended)
        return no_voice(self, in);
    return pend(self, state, in);
}

static spark_status decode_job_end(void *self_, void *state_, const spark_job *job,
                                   spark_status outcome)
{
    (void)job;
    decode_node *self = self_;
    decode_job *state = state_;
    spark_status st = SPARK_OK;
    if (outcome == SPARK_OK && state->pending_count)
        st = no_voice(self, state->pending[0]);
    for (size_t i = 0; i < state->pending_count; i++)
        self->alloc->release(state->pending[i]);
    free(state->pending);
    free(state->voice_global);
    piece_reset(&state->piece);
    free(state->piece.semantic);
    free(state->window);
    bicodec_workspace_free(&state->ws);
#ifdef SPARK_HAVE_CUDA
    nn_bicodec_decode_cuda_job_free(state->gpu_job);
#endif
    free(state);
    return st;
}

static void decode_deactivate(void *self_)
{
    decode_node *self = self_;
    nn_pool_destroy(self->pool);
    self->pool = NULL;
#ifdef SPARK_HAVE_CUDA
    nn_bicodec_decoder_cuda_free(self->gpu);
    self->gpu = NULL;
#endif
    if (self->loaded)
        bicodec_decoder_free(&self->decoder);
    self->loaded = false;
}

static void decode_destroy(void *self_)
{
    decode_node *self = self_;
    decode_deactivate(self);
    free(self->model_dir);
    free(self);
}

static const spark_node_ops decode_ops = {
    sizeof(spark_node_ops), 0,
    decode_create,
    decode_configure,
    decode_negotiate,
    decode_activate,
    decode_job_begin,
    decode_process,
    decode_job_end,
    decode_deactivate,
    decode_destroy,
};

static const spark_port_desc decode_ports[] = {
    {"codes", SPARK_PORT_IN, SPARK_KIND_CODES, 0, 0, 0, 0,
     "semantic codes of a sentence (seq), in one packet or streamed in several, the last one "
     "best flagged SPARK_PACKET_PIECE_END; with its 32 global codes (voice creation, in the "
     "sentence's first packet) or without (cloning: the voice's are used)"},
    {"latent", SPARK_PORT_OUT, SPARK_KIND_AUDIO, 0, 0, 0, 0,
     "the vocoder input: one plane per latent channel (1024 in the release) at the semantic "
     "frame rate (50 Hz), one frame per semantic code; a sentence's ranges keep its seq and "
     "the last is flagged SPARK_PACKET_PIECE_END"},
    {"voice", SPARK_PORT_IN, SPARK_KIND_CODES, SPARK_PORT_OPTIONAL, 0, 0, 0,
     "the reference voice of the cloning modes (from the encode node): its global codes are "
     "used for codes packets that carry none"},
};

static const char *const device_choices[] = {"cpu", "cuda", NULL};

static const spark_param_desc decode_params[] = {
    {"model", SPARK_PARAM_STRING, SPARK_PARAM_REQUIRED, NULL, 0, 0, 0, 0, NULL,
     "Spark-TTS model directory (holding BiCodec/), or the BiCodec directory itself"},
    {"threads", SPARK_PARAM_INTEGER, SPARK_PARAM_HAS_MIN | SPARK_PARAM_HAS_MAX, "0", 0, 256, 0,
     0, NULL, "compute threads; 0: one per CPU this process may use"},
    {"device", SPARK_PARAM_ENUM, 0, "cpu", 0, 0, 0, 0, device_choices,
     "cpu, or cuda: the decode on the first NVIDIA GPU in f32 (builds with SPARK_CUDA only, "
     "refused at activation when no GPU is usable)"},
    {"first_chunk_frames", SPARK_PARAM_INTEGER, SPARK_PARAM_HAS_MIN | SPARK_PARAM_HAS_MAX, "18",
     1, 100000, 0, 0, NULL,
     "latent frames of the job's first range: small, so the audio starts early; the vocoder's "
     "first_chunk_frames plus its context_frames lets it start at once"},
    {"chunk_frames", SPARK_PARAM_INTEGER, SPARK_PARAM_HAS_MIN | SPARK_PARAM_HAS_MAX, "50", 1,
     100000, 0, 0, NULL,
     "the most latent frames of a later range; ranges grow from first_chunk_frames to this "
     "(each is decoded with the context around it)"},
    {"lookahead_frames", SPARK_PARAM_INTEGER, SPARK_PARAM_HAS_MIN | SPARK_PARAM_HAS_MAX, "-1",
     -1, 100000, 0, 0, NULL,
     "codes after a range that its decode waits for. -1: measured at activation, the frames "
     "beyond which a code moves the latent by under 1e-6 of its range (float rounding: 24 on "
     "the synthetic release-shaped model). At or above the receptive field (57 frames in the "
     "release) every range is exact; less starts the audio sooner and approximates it; "
     "more acts as the receptive field"},
};

const spark_node_desc bicodec_decode_desc = {
    sizeof(spark_node_desc),
    0,
    "org.sparkhost.codec.bicodec.decode",
    "BiCodec decode",
    "1.0.0",
    "BiCodec detokenize up to the vocoder: semantic codes through the factorised VQ codebook, "
    "global codes through FSQ to the d-vector, the prenet conditioned on it, plus the d-vector. "
    "Streams: codes may come in several packets per sentence (one seq); each range of latent "
    "goes out as soon as the codes after it that reach it have come.",
    NULL,
    sizeof decode_ports / sizeof decode_ports[0],
    sizeof decode_params / sizeof decode_params[0],
    decode_ports,
    decode_params,
    0, 0, NULL,
    &decode_ops,
};
