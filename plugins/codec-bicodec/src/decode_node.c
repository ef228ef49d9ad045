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

#include "bicodec_decoder.h"
#include "bicodec_model.h"

#ifdef SPARK_HAVE_CUDA
#include <spark/nn/bicodec_decode_cuda.h>
#endif

enum { DECODE_PORT_CODES = 0, DECODE_PORT_LATENT = 1, DECODE_PORT_VOICE = 2 };

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
    bool cuda; /* device cuda: the decode runs on the GPU (the CPU decoder checks the codes) */
#ifdef SPARK_HAVE_CUDA
    nn_bicodec_decoder_cuda *gpu;
#endif
} decode_node;

typedef struct decode_job {
    bicodec_workspace ws;
    int64_t next_frame; /* the latent timestamp of the next packet */
    /* The cloning modes: the LLM's codes carry no global codes; the reference voice's, from
     * port voice, are used. Codes that come before the voice wait for it. */
    int32_t *voice_global;
    uint64_t n_voice_global;
    bool have_voice, voice_ended;
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

/* Decodes one codes packet whose global codes are `global` (its own or the voice's). */
static spark_status decode_codes(decode_node *self, decode_job *state, const spark_job *job,
                                 const spark_packet *in, const int32_t *global,
                                 uint64_t n_global)
{
    const spark_codes_data *codes = &in->data.codes;
    char err[512];
    if (bicodec_check_codes(&self->decoder, codes->semantic, codes->n_semantic, global,
                            n_global, err, sizeof err))
        return fail(self, SPARK_E_INVALID_ARGUMENT, "codes packet %lld: %s", (long long)in->seq,
                    err);
    spark_packet *out = self->alloc->audio(self->host, (uint32_t)self->decoder.out_channels,
                                           codes->n_semantic, self->frame_rate);
    if (!out)
        return fail(self, SPARK_E_NO_MEMORY, "no memory for a %llu-frame latent",
                    (unsigned long long)codes->n_semantic);
    /* the alloc service lays planes out at one stride: decode straight into them */
    const spark_audio_data *audio = &out->data.audio;
    size_t ld = audio->channels > 1 ? (size_t)(audio->planes[1] - audio->planes[0])
                                    : codes->n_semantic;
    for (uint32_t c = 1; c < audio->channels; c++)
        if (audio->planes[c] != audio->planes[0] + c * ld || ld < codes->n_semantic) {
            self->alloc->release(out);
            return fail(self, SPARK_E_INTERNAL, "latent packet planes are not evenly spaced");
        }
    int rc;
#ifdef SPARK_HAVE_CUDA
    if (self->gpu)
        rc = gpu_decode(self, state, codes->semantic, codes->n_semantic, global, n_global,
                        audio->planes[0], ld, err, sizeof err);
    else
#endif
        rc = bicodec_decode(self->pool, &self->decoder, codes->semantic, codes->n_semantic,
                            global, n_global, &state->ws, audio->planes[0], ld, NULL, err,
                            sizeof err);
    if (rc) {
        self->alloc->release(out);
        return fail(self, SPARK_E_NO_MEMORY, "codes packet %lld: %s", (long long)in->seq, err);
    }
    out->seq = in->seq;
    out->data.audio.timestamp = state->next_frame;
    state->next_frame += (int64_t)codes->n_semantic;
    return job->emit(job, DECODE_PORT_LATENT, out);
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
            st = decode_codes(self, state, job, state->pending[i], state->voice_global,
                              state->n_voice_global);
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

static spark_status decode_process(void *self_, void *state_, const spark_job *job,
                                   uint32_t port, const spark_packet *in)
{
    decode_node *self = self_;
    decode_job *state = state_;
    if (port != DECODE_PORT_CODES && port != DECODE_PORT_VOICE)
        return fail(self, SPARK_E_INVALID_ARGUMENT, "packet on unknown port %u", port);
    const char *port_name = port == DECODE_PORT_VOICE ? "voice" : "codes";
    if (!in) {
        if (port == DECODE_PORT_VOICE) {
            state->voice_ended = true;
            if (state->pending_count && !state->have_voice)
                return no_voice(self, state->pending[0]);
        }
        return SPARK_OK;
    }
    spark_status st = check_codes_packet(self, in, port_name);
    if (st < 0)
        return st;
    if (port == DECODE_PORT_VOICE)
        return take_voice(self, state, job, in);
    const spark_codes_data *codes = &in->data.codes;
    if (codes->n_global > 0)
        return decode_codes(self, state, job, in, codes->global, codes->n_global);
    if (state->have_voice)
        return decode_codes(self, state, job, in, state->voice_global, state->n_voice_global);
    if (state->voice_ended)
        return no_voice(self, in);
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
     "semantic codes of one utterance or sentence, with its 32 global codes (voice creation) "
     "or without (cloning: the voice's are used)"},
    {"latent", SPARK_PORT_OUT, SPARK_KIND_AUDIO, 0, 0, 0, 0,
     "the vocoder input: one plane per latent channel (1024 in the release) at the semantic "
     "frame rate (50 Hz), one frame per semantic code"},
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
};

const spark_node_desc bicodec_decode_desc = {
    sizeof(spark_node_desc),
    0,
    "org.sparkhost.codec.bicodec.decode",
    "BiCodec decode",
    "1.0.0",
    "BiCodec detokenize up to the vocoder: semantic codes through the factorised VQ codebook, "
    "global codes through FSQ to the d-vector, the prenet conditioned on it, plus the d-vector.",
    NULL,
    sizeof decode_ports / sizeof decode_ports[0],
    sizeof decode_params / sizeof decode_params[0],
    decode_ports,
    decode_params,
    0, 0, NULL,
    &decode_ops,
};
