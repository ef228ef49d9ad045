/* tokenizer_nodes.c - the SDK side: parameters, model loading at activation, packets.
 * The tokenizer and the prompt formats are qwen2_tokenizer.c and spark_prompt.c. */
#define _POSIX_C_SOURCE 200809L
#include "tokenizer_nodes.h"

#include <spark/ext/alloc.h>
#include <spark/ext/log.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "qwen2_tokenizer.h"
#include "spark_prompt.h"

typedef struct tok_node {
    const spark_host *host;
    const spark_ext_log *log;
    const spark_ext_alloc *alloc;
    char *model_dir;  /* from configure */
    qt_tokenizer *tok; /* from activate */
    spark_vocab vocab;
    bool vocab_ready;
} tok_node;

static spark_status fail(const tok_node *self, spark_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static spark_status fail(const tok_node *self, spark_status status, const char *fmt, ...)
{
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (self->log && self->log->error)
        self->log->error(self->host, message);
    return status;
}

static spark_status node_create(const spark_host *host, const char *node_id, void **out)
{
    (void)node_id;
    *out = NULL;
    tok_node *self = calloc(1, sizeof *self);
    if (!self)
        return SPARK_E_NO_MEMORY;
    self->host = host;
    /* An older host's tables may be shorter than this header's: use only what they cover. */
    self->log = spark_host_service(host, SPARK_EXT_LOG, SPARK_SIZE_THROUGH(spark_ext_log, error));
    self->alloc = spark_host_service(host, SPARK_EXT_ALLOC,
                                     SPARK_SIZE_THROUGH(spark_ext_alloc, release));
    *out = self;
    return SPARK_OK;
}

static spark_status node_configure(void *handle, const spark_params *params)
{
    tok_node *self = handle;
    const char *dir = params->get_string ? params->get_string(params->user, "model_dir") : NULL;
    if (!dir || !*dir)
        return fail(self, SPARK_E_INVALID_ARGUMENT, "model_dir is required");
    if (strncmp(dir, "file://", 7) == 0)
        dir += 7;
    else if (strstr(dir, "://"))
        return fail(self, SPARK_E_INVALID_ARGUMENT,
                    "model_dir \"%s\" must be a local directory", dir);
    free(self->model_dir);
    self->model_dir = strdup(dir);
    return self->model_dir ? SPARK_OK : SPARK_E_NO_MEMORY;
}

static bool is_file(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;
    int n = snprintf(path, sizeof path, "%s/%s", dir, name);
    return n > 0 && (size_t)n < sizeof path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The tokenizer files sit in LLM/ of a Spark-TTS directory; a bare tokenizer directory works
 * too. Every special token is looked up here, so a job never meets a missing one. */
static spark_status node_activate(void *handle)
{
    tok_node *self = handle;
    if (!self->alloc)
        return fail(self, SPARK_E_UNSUPPORTED,
                    "the host has no " SPARK_EXT_ALLOC " extension: cannot make packets");
    char dir[4096];
    int n = snprintf(dir, sizeof dir, "%s/LLM", self->model_dir);
    if (n < 0 || (size_t)n >= sizeof dir)
        return fail(self, SPARK_E_INVALID_ARGUMENT, "model_dir is too long");
    if (!is_file(dir, "tokenizer.json") && !is_file(dir, "vocab.json"))
        memcpy(dir, self->model_dir, strlen(self->model_dir) + 1);
    char err[1024];
    if (qt_load_dir(dir, &self->tok, err, sizeof err))
        return fail(self, SPARK_E_INVALID_ARGUMENT, "cannot load the tokenizer: %s", err);
    if (spark_vocab_init(&self->vocab, self->tok, err, sizeof err)) {
        qt_free(self->tok);
        self->tok = NULL;
        return fail(self, SPARK_E_INVALID_ARGUMENT, "%s: %s", dir, err);
    }
    self->vocab_ready = true;
    return SPARK_OK;
}

static void node_deactivate(void *handle)
{
    tok_node *self = handle;
    if (self->vocab_ready)
        spark_vocab_free(&self->vocab);
    self->vocab_ready = false;
    qt_free(self->tok);
    self->tok = NULL;
}

static void node_destroy(void *handle)
{
    tok_node *self = handle;
    node_deactivate(self);
    free(self->model_dir);
    free(self);
}

static const char *param_string(const spark_params *p, const char *key)
{
    if (!p->get_string || (p->has && !p->has(p->user, key)))
        return NULL;
    return p->get_string(p->user, key);
}

static spark_status emit_tokens(tok_node *self, const spark_job *job, uint32_t port,
                                const qt_ids *ids, int64_t seq)
{
    spark_packet *out = self->alloc->tokens(self->host, ids->n, TOKENIZER_VOCABULARY);
    if (!out)
        return fail(self, SPARK_E_NO_MEMORY, "out of memory for a tokens packet");
    if (ids->n)
        memcpy(out->data.tokens.ids, ids->v, ids->n * sizeof *ids->v);
    out->seq = seq;
    return job->emit(job, port, out);
}

/* ---- prompt builder ---- */

typedef struct prompt_job {
    qt_session *session;
    spark_prompt_mode mode;
    bool auto_mode; /* the mode is decided by what arrives on port voice (or its end) */
    int gender, pitch, speed;
    char *transcript;
    int32_t globals[SPARK_GLOBAL_COUNT];
    qt_ids semantics;
    bool have_voice, text_ended, voice_ended;
    const spark_packet **pending; /* texts that came before the voice, retained */
    size_t pending_count, pending_cap;
} prompt_job;

static void prompt_job_free(tok_node *self, prompt_job *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->pending_count; i++)
        self->alloc->release(st->pending[i]);
    free(st->pending);
    qt_session_free(st->session);
    free(st->transcript);
    free(st->semantics.v);
    free(st);
}

static spark_status prompt_job_begin(void *handle, const spark_job *job, void **out)
{
    tok_node *self = handle;
    *out = NULL;
    prompt_job *st = calloc(1, sizeof *st);
    if (!st || !(st->session = qt_session_new(self->tok))) {
        free(st);
        return fail(self, SPARK_E_NO_MEMORY, "out of memory for the job state");
    }
    const spark_params *p = job->params;
    const char *mode = param_string(p, "mode");
    const char *gender = param_string(p, "gender");
    const char *pitch = param_string(p, "pitch");
    const char *speed = param_string(p, "speed");
    const char *transcript = param_string(p, "transcript");
    st->auto_mode = mode && strcmp(mode, "auto") == 0;
    int m = st->auto_mode ? SPARK_PROMPT_CONTROL : spark_mode_from_name(mode ? mode : "control");
    st->gender = spark_gender_index(gender);
    st->pitch = spark_level_index(pitch);
    st->speed = spark_level_index(speed);
    spark_status status = SPARK_OK;
    if (m < 0)
        status = fail(self, SPARK_E_INVALID_ARGUMENT,
                      "mode \"%s\" is not one of auto, control, clone, clone_transcript",
                      mode);
    else if (m == SPARK_PROMPT_CONTROL && st->gender < 0)
        status = fail(self, SPARK_E_INVALID_ARGUMENT,
                      "gender \"%s\" is not one of female, male", gender ? gender : "");
    else if (m == SPARK_PROMPT_CONTROL && (st->pitch < 0 || st->speed < 0))
        status = fail(self, SPARK_E_INVALID_ARGUMENT,
                      "%s \"%s\" is not one of very_low, low, moderate, high, very_high",
                      st->pitch < 0 ? "pitch" : "speed",
                      (st->pitch < 0 ? pitch : speed) ? (st->pitch < 0 ? pitch : speed) : "");
    else if (m == SPARK_PROMPT_CLONE_TRANSCRIPT && (!transcript || !*transcript))
        status = fail(self, SPARK_E_INVALID_ARGUMENT,
                      "mode clone_transcript needs the reference's transcript");
    else if (!(st->transcript = strdup(transcript ? transcript : "")))
        status = fail(self, SPARK_E_NO_MEMORY, "out of memory for the job state");
    if (status != SPARK_OK) {
        prompt_job_free(self, st);
        return status;
    }
    st->mode = (spark_prompt_mode)m;
    /* auto waits for port voice like the cloning modes: a voice, or its empty end */
    st->have_voice = st->mode == SPARK_PROMPT_CONTROL && !st->auto_mode;
    *out = st;
    return SPARK_OK;
}

static spark_status build_and_emit(tok_node *self, prompt_job *st, const spark_job *job,
                                   const spark_packet *text)
{
    spark_prompt_request r = {
        .mode = st->mode,
        .text = text->data.text.utf8,
        .text_len = (size_t)text->data.text.length,
        .transcript = st->transcript,
        .transcript_len = strlen(st->transcript),
        .gender = st->gender, .pitch = st->pitch, .speed = st->speed,
        .globals = st->globals, .global_count = SPARK_GLOBAL_COUNT,
        .semantics = st->semantics.v, .semantic_count = st->semantics.n,
    };
    qt_ids ids = {0};
    char err[512];
    if (spark_prompt_build(st->session, &self->vocab, &r, &ids, err, sizeof err)) {
        free(ids.v);
        return fail(self, SPARK_E_INVALID_ARGUMENT, "segment %lld: %s",
                    (long long)text->seq, err);
    }
    spark_status status = emit_tokens(self, job, PROMPT_PORT_TOKENS, &ids, text->seq);
    free(ids.v);
    return status;
}

static spark_status take_voice(tok_node *self, prompt_job *st, const spark_packet *packet)
{
    const spark_codes_data *c = &packet->data.codes;
    if (st->have_voice)
        return fail(self, SPARK_E_INVALID_ARGUMENT, "more than one reference voice");
    if (st->auto_mode) /* semantic codes are used only with the transcript they belong to */
        st->mode = c->n_semantic && st->transcript[0] ? SPARK_PROMPT_CLONE_TRANSCRIPT
                                                       : SPARK_PROMPT_CLONE;
    if (c->n_global != SPARK_GLOBAL_COUNT)
        return fail(self, SPARK_E_INVALID_ARGUMENT,
                    "the reference voice has %llu global codes; %d are needed",
                    (unsigned long long)c->n_global, SPARK_GLOBAL_COUNT);
    memcpy(st->globals, c->global, sizeof st->globals);
    if (st->mode == SPARK_PROMPT_CLONE_TRANSCRIPT) {
        if (c->n_semantic == 0)
            return fail(self, SPARK_E_INVALID_ARGUMENT,
                        "mode clone_transcript needs the reference's semantic codes");
        for (uint64_t i = 0; i < c->n_semantic; i++)
            if (qt_ids_push(&st->semantics, c->semantic[i]))
                return fail(self, SPARK_E_NO_MEMORY, "out of memory for the voice");
    }
    st->have_voice = true;
    return SPARK_OK;
}

/* Builds the prompts of the segments that waited for the voice, in order. */
static spark_status flush_pending(tok_node *self, prompt_job *st, const spark_job *job)
{
    spark_status status = SPARK_OK;
    for (size_t i = 0; status >= 0 && i < st->pending_count; i++)
        status = build_and_emit(self, st, job, st->pending[i]);
    for (size_t i = 0; i < st->pending_count; i++)
        self->alloc->release(st->pending[i]);
    st->pending_count = 0;
    return status < 0 ? status : SPARK_OK;
}

static spark_status prompt_process(void *handle, void *state, const spark_job *job,
                                   uint32_t port, const spark_packet *packet)
{
    tok_node *self = handle;
    prompt_job *st = state;
    if (!packet) {
        if (port == PROMPT_PORT_TEXT)
            st->text_ended = true;
        else
            st->voice_ended = true;
        if (port != PROMPT_PORT_TEXT && st->auto_mode && !st->have_voice) {
            st->mode = SPARK_PROMPT_CONTROL; /* no reference voice: voice creation */
            st->have_voice = true;
            return flush_pending(self, st, job);
        }
        if (st->pending_count && st->voice_ended)
            return fail(self, SPARK_E_INVALID_ARGUMENT,
                        "mode %s needs a reference voice (32 global codes) on port \"voice\"",
                        st->mode == SPARK_PROMPT_CLONE ? "clone" : "clone_transcript");
        return SPARK_OK;
    }
    if (port == PROMPT_PORT_VOICE) {
        if (packet->kind != SPARK_KIND_CODES)
            return fail(self, SPARK_E_FORMAT_MISMATCH, "port \"voice\" takes codes packets");
        if (st->mode == SPARK_PROMPT_CONTROL && !st->auto_mode)
            return SPARK_OK; /* the labels describe the voice; a reference is not used */
        spark_status status = take_voice(self, st, packet);
        if (status < 0)
            return status;
        return flush_pending(self, st, job);
    }
    if (port != PROMPT_PORT_TEXT || packet->kind != SPARK_KIND_TEXT)
        return fail(self, SPARK_E_FORMAT_MISMATCH, "port \"text\" takes text packets");
    if (st->have_voice) {
        spark_status status = build_and_emit(self, st, job, packet);
        return status < 0 ? status : SPARK_OK;
    }
    if (st->voice_ended)
        return fail(self, SPARK_E_INVALID_ARGUMENT,
                    "mode %s needs a reference voice (32 global codes) on port \"voice\"",
                    st->mode == SPARK_PROMPT_CLONE ? "clone" : "clone_transcript");
    if (st->pending_count == st->pending_cap) {
        size_t cap = st->pending_cap ? st->pending_cap * 2 : 8;
        const spark_packet **p = realloc(st->pending, cap * sizeof *p);
        if (!p)
            return fail(self, SPARK_E_NO_MEMORY, "out of memory for waiting segments");
        st->pending = p;
        st->pending_cap = cap;
    }
    st->pending[st->pending_count++] = self->alloc->retain(packet);
    return SPARK_NEED_MORE;
}

static spark_status prompt_job_end(void *handle, void *state, const spark_job *job,
                                   spark_status outcome)
{
    tok_node *self = handle;
    prompt_job *st = state;
    (void)job;
    spark_status status = SPARK_OK;
    if (outcome == SPARK_OK && st->pending_count)
        status = fail(self, SPARK_E_INVALID_ARGUMENT,
                      "%zu text segments never got a reference voice", st->pending_count);
    prompt_job_free(self, st);
    return status;
}

const spark_node_ops prompt_node_ops = {
    .struct_size = sizeof(spark_node_ops),
    .create = node_create,
    .configure = node_configure,
    .activate = node_activate,
    .job_begin = prompt_job_begin,
    .process = prompt_process,
    .job_end = prompt_job_end,
    .deactivate = node_deactivate,
    .destroy = node_destroy,
};

/* ---- parser of generated ids ---- */

typedef struct parse_job {
    bool control;
    bool auto_mode; /* per segment: control when its ids carry global codes, else clone */
} parse_job;

static spark_status parse_job_begin(void *handle, const spark_job *job, void **out)
{
    tok_node *self = handle;
    *out = NULL;
    const char *mode = param_string(job->params, "mode");
    bool auto_mode = mode && strcmp(mode, "auto") == 0;
    int m = auto_mode ? SPARK_PROMPT_CONTROL : spark_mode_from_name(mode ? mode : "control");
    if (m < 0)
        return fail(self, SPARK_E_INVALID_ARGUMENT,
                    "mode \"%s\" is not one of auto, control, clone, clone_transcript", mode);
    parse_job *st = calloc(1, sizeof *st);
    if (!st)
        return fail(self, SPARK_E_NO_MEMORY, "out of memory for the job state");
    st->control = m == SPARK_PROMPT_CONTROL;
    st->auto_mode = auto_mode;
    *out = st;
    return SPARK_OK;
}

static spark_status parse_process(void *handle, void *state, const spark_job *job,
                                  uint32_t port, const spark_packet *packet)
{
    tok_node *self = handle;
    parse_job *st = state;
    if (!packet)
        return SPARK_OK;
    if (port != PARSE_PORT_TOKENS || packet->kind != SPARK_KIND_TOKENS)
        return fail(self, SPARK_E_FORMAT_MISMATCH, "port \"tokens\" takes tokens packets");
    qt_ids sem = {0}, glob = {0};
    char err[256];
    const int32_t *ids = packet->data.tokens.ids;
    size_t count = (size_t)packet->data.tokens.count;
    bool control = st->auto_mode ? spark_count_globals(&self->vocab, ids, count) > 0
                                 : st->control;
    if (spark_parse_codes(&self->vocab, ids, count, control, &sem, &glob, err,
                          sizeof err)) {
        free(sem.v);
        free(glob.v);
        return fail(self, SPARK_E_INVALID_ARGUMENT, "segment %lld: %s", (long long)packet->seq,
                    err);
    }
    spark_packet *out =
        self->alloc->codes(self->host, sem.n, glob.n, "bicodec", BICODEC_FRAME_RATE);
    spark_status status = SPARK_E_NO_MEMORY;
    if (out) {
        memcpy(out->data.codes.semantic, sem.v, sem.n * sizeof *sem.v);
        if (glob.n)
            memcpy(out->data.codes.global, glob.v, glob.n * sizeof *glob.v);
        out->seq = packet->seq;
        status = job->emit(job, PARSE_PORT_CODES, out);
    } else
        fail(self, status, "out of memory for a codes packet");
    free(sem.v);
    free(glob.v);
    return status < 0 ? status : SPARK_OK;
}

static spark_status parse_job_end(void *handle, void *state, const spark_job *job,
                                  spark_status outcome)
{
    (void)handle;
    (void)job;
    (void)outcome;
    free(state);
    return SPARK_OK;
}

const spark_node_ops parse_node_ops = {
    .struct_size = sizeof(spark_node_ops),
    .create = node_create,
    .configure = node_configure,
    .activate = node_activate,
    .job_begin = parse_job_begin,
    .process = parse_process,
    .job_end = parse_job_end,
    .deactivate = node_deactivate,
    .destroy = node_destroy,
};
