/* org.sparkhost.codec.bicodec.encode: a reference recording -> the codes of its voice (32
 * global codes; with a transcript also the reference's semantic codes), one codes packet per
 * job. A job may instead name a voice saved earlier (`voice`): its codes are read from the
 * voice store and the encoder does not run. `save_voice` stores what a job encoded, written
 * through the storage service when the job succeeds. With `optional`, a job with neither
 * emits nothing (voice creation in a graph that also clones). */
#include "encode_node.h"

#include <spark/ext/alloc.h>
#include <spark/ext/log.h>
#include <spark/ext/progress.h>
#include <spark/ext/storage.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spark/nn/bicodec_encoder.h>
#include <spark/nn/pool.h>

#include "encode_reference.h"
#include "encode_voice.h"

enum { ENCODE_PORT_AUDIO = 0, ENCODE_PORT_CODES = 1 };

typedef struct encode_node {
    const spark_host *host;
    const spark_ext_log *log;
    const spark_ext_alloc *alloc;
    const spark_ext_progress *progress;
    const spark_ext_storage *storage; /* NULL: voices cannot be read or saved */
    char *model_dir, *voice_store;
    int threads;
    double frame_rate;
    nn_pool *pool;
    bool preload;
    /* What a cached voice is checked against, from the configs (no weights needed). */
    size_t global_count;
    uint32_t global_range, codebook_size;
    /* Loaded by the first job that encodes a recording (or at activation with preload):
     * jobs that only read saved voices never pay for wav2vec2. */
    pthread_mutex_t encoder_lock;
    nn_bicodec_encoder *encoder;
    char *encoder_error; /* a failed load, repeated to every later job */
    char model_hash[ENCODE_MODEL_HASH_HEX];
} encode_node;

typedef struct encode_job {
    char *transcript, *voice, *save_voice;
    float *audio;              /* channel 0 of the reference */
    size_t frames, cap;
    uint32_t rate;
    bool finished;
    bool optional;             /* no reference and no voice name: emit nothing, succeed */
    char *pending_voice;       /* JSON to store at job end (save_voice) */
} encode_job;

static spark_status fail(const encode_node *self, spark_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static spark_status fail(const encode_node *self, spark_status status, const char *fmt, ...)
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

static spark_status encode_create(const spark_host *host, const char *node_id, void **out)
{
    (void)node_id;
    encode_node *self = calloc(1, sizeof *self);
    if (!self)
        return SPARK_E_NO_MEMORY;
    self->host = host;
    self->log = spark_host_service(host, SPARK_EXT_LOG, SPARK_SIZE_THROUGH(spark_ext_log, error));
    self->alloc = spark_host_service(host, SPARK_EXT_ALLOC,
                                     SPARK_SIZE_THROUGH(spark_ext_alloc, release));
    self->progress = spark_host_service(host, SPARK_EXT_PROGRESS,
                                        SPARK_SIZE_THROUGH(spark_ext_progress, check));
    self->storage = spark_host_service(host, SPARK_EXT_STORAGE,
                                       SPARK_SIZE_THROUGH(spark_ext_storage, abort));
    if (!self->alloc) {
        spark_status st = fail(self, SPARK_E_UNSUPPORTED, "host lacks spark.ext.alloc/1");
        free(self);
        return st;
    }
    pthread_mutex_init(&self->encoder_lock, NULL);
    *out = self;
    return SPARK_OK;
}

static spark_status encode_configure(void *self_, const spark_params *params)
{
    encode_node *self = self_;
    const char *dir = params->get_string(params->user, "model");
    const char *store = params->get_string(params->user, "voice_store");
    self->threads = (int)params->get_integer(params->user, "threads");
    free(self->model_dir);
    free(self->voice_store);
    self->model_dir = strdup(dir ? dir : "");
    self->voice_store = strdup(store ? store : "");
    if (!self->model_dir || !self->voice_store)
        return fail(self, SPARK_E_NO_MEMORY, "out of memory");
    nn_spark_config config;
    nn_problems problems = {0};
    int rc = nn_spark_config_load(self->model_dir, &config, &problems);
    if (rc != 0) {
        spark_status st = fail(self, SPARK_E_NOT_FOUND, "model: %s",
                               problems.count ? problems.items[0] : self->model_dir);
        nn_problems_free(&problems);
        return st;
    }
    nn_problems_free(&problems);
    int64_t hop = config.audio.latent_hop_length;
    self->frame_rate = hop > 0 ? (double)config.audio.sample_rate / (double)hop : 0.0;
    self->preload = params->get_boolean(params->user, "preload") != 0;
    const nn_bicodec_config *codec = &config.bicodec;
    self->global_count = (size_t)codec->speaker_encoder.token_num;
    uint64_t range = 1;
    for (size_t i = 0; i < codec->speaker_encoder.fsq_level_count; i++)
        range *= (uint64_t)codec->speaker_encoder.fsq_levels[i];
    self->global_range = (uint32_t)range;
    self->codebook_size = (uint32_t)codec->quantizer.codebook_size;
    return SPARK_OK;
}

static spark_status encode_negotiate(void *self_, spark_format *formats, uint32_t count)
{
    encode_node *self = self_;
    if (count <= ENCODE_PORT_CODES)
        return fail(self, SPARK_E_INTERNAL, "negotiate: %u ports", count);
    formats[ENCODE_PORT_CODES].kind = SPARK_KIND_CODES;
    formats[ENCODE_PORT_CODES].name = "bicodec";
    formats[ENCODE_PORT_CODES].frame_rate = self->frame_rate;
    return SPARK_OK;
}

/* The encoder's weights, loaded once by whichever job needs them first. */
static spark_status load_encoder(encode_node *self)
{
    pthread_mutex_lock(&self->encoder_lock);
    if (!self->encoder && !self->encoder_error) {
        char *message = NULL;
        self->encoder = nn_bicodec_encoder_load(self->model_dir, true, self->pool, &message);
        if (!self->encoder)
            self->encoder_error = message ? message : strdup("cannot load");
        else if (self->log)
            self->log->log(self->host, SPARK_LOG_INFO, "voice encoder loaded");
    }
    spark_status st = self->encoder ? SPARK_OK
                                    : fail(self, SPARK_E_INVALID_MODEL, "model: %s",
                                           self->encoder_error ? self->encoder_error
                                                               : "out of memory");
    pthread_mutex_unlock(&self->encoder_lock);
    return st;
}

static spark_status encode_activate(void *self_)
{
    encode_node *self = self_;
    char err[1024];
    if (encode_model_hash(self->model_dir, self->model_hash, err, sizeof err) != 0)
        return fail(self, SPARK_E_IO, "model: %s", err);
    self->pool = nn_pool_create(self->threads, err, sizeof err);
    if (!self->pool)
        return fail(self, SPARK_E_INTERNAL, "threads: %s", err);
    return self->preload ? load_encoder(self) : SPARK_OK;
}

static void free_job(encode_job *state)
{
    if (!state)
        return;
    free(state->transcript);
    free(state->voice);
    free(state->save_voice);
    free(state->audio);
    free(state->pending_voice);
    free(state);
}

static char *param_copy(const spark_params *params, const char *key)
{
    const char *value = params->get_string(params->user, key);
    return strdup(value ? value : "");
}

static spark_status encode_job_begin(void *self_, const spark_job *job, void **out)
{
    encode_node *self = self_;
    encode_job *state = calloc(1, sizeof *state);
    if (!state)
        return fail(self, SPARK_E_NO_MEMORY, "out of memory");
    state->transcript = param_copy(job->params, "transcript");
    state->voice = param_copy(job->params, "voice");
    state->save_voice = param_copy(job->params, "save_voice");
    state->optional = job->params->get_boolean(job->params->user, "optional") != 0;
    if (!state->transcript || !state->voice || !state->save_voice) {
        free_job(state);
        return fail(self, SPARK_E_NO_MEMORY, "out of memory");
    }
    spark_status st = SPARK_OK;
    if (state->voice[0] && !encode_voice_name_valid(state->voice))
        st = fail(self, SPARK_E_INVALID_ARGUMENT, "voice: '%s' is not a voice name (1 to %d "
                  "letters, digits, '_' or '-')", state->voice, ENCODE_VOICE_NAME_MAX);
    else if (state->save_voice[0] && !encode_voice_name_valid(state->save_voice))
        st = fail(self, SPARK_E_INVALID_ARGUMENT, "save_voice: '%s' is not a voice name (1 to "
                  "%d letters, digits, '_' or '-')", state->save_voice, ENCODE_VOICE_NAME_MAX);
    else if (state->voice[0] && (state->transcript[0] || state->save_voice[0]))
        st = fail(self, SPARK_E_INVALID_ARGUMENT, "voice: a cached voice brings its own "
                  "transcript and is already saved; leave transcript and save_voice empty");
    else if ((state->voice[0] || state->save_voice[0]) && !self->storage)
        st = fail(self, SPARK_E_UNSUPPORTED, "%s: the host offers no storage service "
                  "(spark.ext.storage/1) to keep voices in",
                  state->voice[0] ? "voice" : "save_voice");
    if (st != SPARK_OK) {
        free_job(state);
        return st;
    }
    *out = state;
    return SPARK_OK;
}

static spark_status append_audio(encode_node *self, encode_job *state, const spark_packet *packet)
{
    if (packet->kind != SPARK_KIND_AUDIO)
        return fail(self, SPARK_E_FORMAT_MISMATCH, "audio: packet of kind %d", packet->kind);
    const spark_audio_data *audio = &packet->data.audio;
    if (audio->channels == 0 || audio->rate == 0)
        return fail(self, SPARK_E_FORMAT_MISMATCH, "audio: packet without channels or rate");
    if (state->rate && audio->rate != state->rate)
        return fail(self, SPARK_E_FORMAT_MISMATCH, "audio: the rate changed from %u to %u Hz "
                    "within the reference", state->rate, audio->rate);
    state->rate = audio->rate;
    if (state->frames + audio->frames > state->cap) {
        size_t cap = state->cap ? state->cap : 16000;
        while (cap < state->frames + audio->frames)
            cap *= 2;
        float *grown = realloc(state->audio, cap * sizeof *grown);
        if (!grown)
            return fail(self, SPARK_E_NO_MEMORY, "out of memory for %zu reference frames", cap);
        state->audio = grown;
        state->cap = cap;
    }
    /* channel 0 only, as upstream: no downmix */
    memcpy(state->audio + state->frames, audio->planes[0], audio->frames * sizeof(float));
    state->frames += audio->frames;
    return SPARK_OK;
}

/* The voice of a job: read from the store, or encoded from the reference. */
static spark_status make_voice(encode_node *self, encode_job *state, const spark_job *job,
                               encode_voice *voice, bool *from_cache)
{
    char err[1024];
    *from_cache = state->voice[0] != 0;
    if (*from_cache) {
        char url[4096];
        if (encode_voice_location(self->voice_store, state->voice, url, sizeof url) != 0)
            return fail(self, SPARK_E_INVALID_ARGUMENT, "voice_store: too long");
        spark_packet *blob = NULL;
        spark_status st = self->storage->read(self->host, job, url, &blob);
        if (st != SPARK_OK) {
            self->alloc->release(blob);
            if (st == SPARK_E_NOT_FOUND)
                return fail(self, st, "voice: no voice named '%s' in %s", state->voice,
                            self->voice_store);
            return st;
        }
        int rc = encode_voice_from_json((const char *)blob->data.blob.bytes,
                                        (size_t)blob->data.blob.size, url, self->global_count,
                                        self->global_range, self->codebook_size, voice, err,
                                        sizeof err);
        self->alloc->release(blob);
        if (rc != 0)
            return fail(self, SPARK_E_INVALID_ARGUMENT, "voice: %s", err);
        if (strcmp(voice->model_hash, self->model_hash) != 0) {
            st = fail(self, SPARK_E_INVALID_MODEL, "voice: '%s' was made by another model "
                      "(fingerprint %.12s..., this model %.12s...): encode it again",
                      state->voice, voice->model_hash, self->model_hash);
            encode_voice_free(voice);
            return st;
        }
        return SPARK_OK;
    }
    if (state->frames == 0)
        return fail(self, SPARK_E_INVALID_ARGUMENT, "audio: no reference audio arrived; link "
                    "the audio input or name a cached voice");
    spark_status st = load_encoder(self);
    if (st != SPARK_OK)
        return st;
    if (encode_reference_voice(self->encoder, state->audio, state->frames, state->rate,
                               state->transcript, voice, err, sizeof err) != 0)
        return fail(self, SPARK_E_INVALID_ARGUMENT, "audio: %s", err);
    snprintf(voice->name, sizeof voice->name, "%s", state->save_voice);
    memcpy(voice->model_hash, self->model_hash, sizeof voice->model_hash);
    return SPARK_OK;
}

static spark_status finish(encode_node *self, encode_job *state, const spark_job *job)
{
    state->finished = true;
    if (self->progress) {
        spark_status st = self->progress->check(self->host, job);
        if (st != SPARK_OK)
            return st;
    }
    if (state->optional && !state->voice[0] && state->frames == 0) {
        /* a graph that also serves voice creation: no reference means no voice to give */
        if (state->save_voice[0])
            return fail(self, SPARK_E_INVALID_ARGUMENT, "save_voice: '%s' needs reference "
                        "audio to encode, and none arrived", state->save_voice);
        return job->post_result(job, "source", SPARK_VALUE_STRING, "none", 0);
    }
    encode_voice voice;
    bool from_cache = false;
    spark_status st = make_voice(self, state, job, &voice, &from_cache);
    if (st != SPARK_OK)
        return st;
    spark_packet *packet = self->alloc->codes(self->host, voice.semantic_count,
                                              voice.global_count, "bicodec", self->frame_rate);
    char *codes_json = encode_voice_codes_json(&voice);
    if (!packet || !codes_json || (state->save_voice[0] &&
                                   !(state->pending_voice = encode_voice_to_json(&voice)))) {
        self->alloc->release(packet);
        free(codes_json);
        encode_voice_free(&voice);
        return fail(self, SPARK_E_NO_MEMORY, "out of memory");
    }
    spark_codes_data *codes = &packet->data.codes;
    memcpy(codes->global, voice.global_codes, voice.global_count * sizeof *codes->global);
    if (voice.semantic_count)
        memcpy(codes->semantic, voice.semantic_codes,
               voice.semantic_count * sizeof *codes->semantic);
    encode_voice_free(&voice);
    st = job->post_result(job, "voice", SPARK_VALUE_JSON, codes_json, 0);
    free(codes_json);
    if (st == SPARK_OK)
        st = job->post_result(job, "source", SPARK_VALUE_STRING,
                              from_cache ? "cache" : "encoder", 0);
    if (st != SPARK_OK) {
        self->alloc->release(packet);
        return st;
    }
    return job->emit(job, ENCODE_PORT_CODES, packet);
}

static spark_status encode_process(void *self_, void *state_, const spark_job *job,
                                   uint32_t port, const spark_packet *packet)
{
    encode_node *self = self_;
    encode_job *state = state_;
    if (!packet)
        return state->finished ? SPARK_OK : finish(self, state, job);
    if (port != ENCODE_PORT_AUDIO)
        return fail(self, SPARK_E_INVALID_ARGUMENT, "no input port %u", port);
    if (state->voice[0])
        return SPARK_OK; /* a cached voice: the reference audio is not needed */
    return append_audio(self, state, packet);
}

/* Saves the voice a successful job encoded (a failed job leaves nothing behind). */
static spark_status encode_job_end(void *self_, void *state_, const spark_job *job,
                                   spark_status outcome)
{
    encode_node *self = self_;
    encode_job *state = state_;
    spark_status st = SPARK_OK;
    if (outcome == SPARK_OK && state->pending_voice) {
        char url[4096], url_out[4096];
        spark_storage_writer *writer = NULL;
        if (encode_voice_location(self->voice_store, state->save_voice, url, sizeof url) != 0) {
            st = fail(self, SPARK_E_INVALID_ARGUMENT, "voice_store: too long");
        } else {
            st = self->storage->write_begin(self->host, job, url, "application/json", &writer);
            if (st == SPARK_OK)
                st = self->storage->write(writer, state->pending_voice,
                                          strlen(state->pending_voice));
            if (st == SPARK_OK)
                st = self->storage->commit(writer, url_out, sizeof url_out);
            else if (writer)
                self->storage->abort(writer);
        }
    }
    free_job(state);
    return st;
}

static void encode_deactivate(void *self_)
{
    encode_node *self = self_;
    nn_bicodec_encoder_free(self->encoder);
    self->encoder = NULL;
    free(self->encoder_error);
    self->encoder_error = NULL;
    nn_pool_destroy(self->pool);
    self->pool = NULL;
}

static void encode_destroy(void *self_)
{
    encode_node *self = self_;
    encode_deactivate(self);
    pthread_mutex_destroy(&self->encoder_lock);
    free(self->model_dir);
    free(self->voice_store);
    free(self);
}

static const spark_node_ops encode_ops = {
    sizeof(spark_node_ops), 0,
    encode_create,
    encode_configure,
    encode_negotiate,
    encode_activate,
    encode_job_begin,
    encode_process,
    encode_job_end,
    encode_deactivate,
    encode_destroy,
};

static const spark_port_desc encode_ports[] = {
    {"audio", SPARK_PORT_IN, SPARK_KIND_AUDIO, SPARK_PORT_OPTIONAL, 0, 0, 0,
     "the reference recording, any rate and channel count (channel 0 is used, resampled to "
     "16 kHz); not needed when the job names a cached voice"},
    {"codes", SPARK_PORT_OUT, SPARK_KIND_CODES, 0, 0, 0, 0,
     "one packet per job: the 32 global codes and, with a transcript, the reference's "
     "semantic codes"},
};

static const spark_param_desc encode_params[] = {
    {"model", SPARK_PARAM_STRING, SPARK_PARAM_REQUIRED, NULL, 0, 0, 0, 0, NULL,
     "Spark-TTS model directory (config.yaml, BiCodec/, wav2vec2-large-xlsr-53/)"},
    {"threads", SPARK_PARAM_INTEGER, SPARK_PARAM_HAS_MIN | SPARK_PARAM_HAS_MAX, "0", 0, 256, 0,
     0, NULL, "compute threads; 0: one per CPU this process may use"},
    {"voice_store", SPARK_PARAM_URL, 0, "voices", 0, 0, 0, 0, NULL,
     "where voices are saved and looked up, as NAME.json (a directory or a storage URL)"},
    {"transcript", SPARK_PARAM_STRING, SPARK_PARAM_PER_JOB, "", 0, 0, 0, 0, NULL,
     "what the reference says; when given, the reference's semantic codes are made too "
     "(cloning with a transcript)"},
    {"voice", SPARK_PARAM_STRING, SPARK_PARAM_PER_JOB, "", 0, 0, ENCODE_VOICE_NAME_MAX, 0, NULL,
     "the name of a saved voice to use instead of encoding the reference"},
    {"save_voice", SPARK_PARAM_STRING, SPARK_PARAM_PER_JOB, "", 0, 0, ENCODE_VOICE_NAME_MAX, 0,
     NULL, "save the encoded voice under this name when the job succeeds"},
    {"preload", SPARK_PARAM_BOOLEAN, 0, "false", 0, 0, 0, 0, NULL,
     "load the encoder's weights (wav2vec2 among them, about 1.3 GB) at activation; false: "
     "when the first job encodes a recording, so jobs that only use saved voices never load "
     "them"},
    {"optional", SPARK_PARAM_BOOLEAN, SPARK_PARAM_PER_JOB, "false", 0, 0, 0, 0, NULL,
     "when no reference audio arrives and no voice is named, emit no codes and succeed "
     "(source \"none\"), so one graph serves voice creation too; false: that is an error"},
};

static const spark_result_desc encode_results[] = {
    {"voice", SPARK_VALUE_JSON, 0,
     "the codes: {model, transcript, global_codes, semantic_codes}"},
    {"source", SPARK_VALUE_STRING, 0, "\"encoder\", \"cache\" for a saved voice, or \"none\" "
     "(optional, and nothing to encode)"},
};

const spark_node_desc bicodec_encode_desc = {
    sizeof(spark_node_desc),
    0,
    "org.sparkhost.codec.bicodec.encode",
    "BiCodec encode",
    "1.0.0",
    "A reference recording to its voice codes: volume normalisation, the 6 s clip through "
    "mel, ECAPA-TDNN, Perceiver and FSQ to 32 global codes; with a transcript, wav2vec2 "
    "layers 1-16, the semantic encoder and the factorised VQ to the reference semantic codes. "
    "Voices can be saved by name and reused without encoding.",
    NULL,
    sizeof encode_ports / sizeof encode_ports[0],
    sizeof encode_params / sizeof encode_params[0],
    encode_ports,
    encode_params,
    sizeof encode_results / sizeof encode_results[0],
    0,
    encode_results,
    &encode_ops,
};
