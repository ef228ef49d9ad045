/* llm_node.c - the SDK side of the LLM: parameters, weights at activation, one generation
 * per prompt packet, streaming of semantic codes, the checks that keep an unusable output
 * (no speech, a control voice without 32 globals) from reaching the codec. The model, the
 * sampler and the grammar are core/nn (spark/nn/qwen2.h). */
#define _POSIX_C_SOURCE 200809L
#include "llm_node.h"

#include <spark/ext/alloc.h>
#include <spark/ext/log.h>
#include <spark/ext/progress.h>
#include <spark/nn/qwen2.h>
#ifdef SPARK_HAVE_CUDA
#include <spark/nn/qwen2_cuda.h>
#endif

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

typedef struct llm_node {
    const spark_host *host;
    const spark_ext_log *log;
    const spark_ext_alloc *alloc;
    const spark_ext_progress *progress;
    char *model_dir;
    nn_weight_type weights;
    size_t int8_block;
    nn_kv_type kv_cache;
    int threads;
    nn_qwen2 *model; /* from activate: read-only, shared by the jobs */
    nn_pool *pool;
    nn_spark_ids ids;
    bool cuda; /* device cuda: generation on the GPU (model, read in f32, gives the config) */
#ifdef SPARK_HAVE_CUDA
    nn_qwen2_cuda *gpu;
    nn_qwen2_cuda_batcher *batcher; /* the jobs' decode steps, batched */
#endif
} llm_node;

static spark_status fail(const llm_node *self, spark_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static spark_status fail(const llm_node *self, spark_status status, const char *fmt, ...)
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

static void say(const llm_node *self, int32_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(const llm_node *self, int32_t level, const char *fmt, ...)
{
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (self->log && self->log->log)
        self->log->log(self->host, level, message);
}

static spark_status node_create(const spark_host *host, const char *node_id, void **out)
{
    (void)node_id;
    *out = NULL;
    llm_node *self = calloc(1, sizeof *self);
    if (!self)
        return SPARK_E_NO_MEMORY;
    self->host = host;
    self->log = spark_host_service(host, SPARK_EXT_LOG, SPARK_SIZE_THROUGH(spark_ext_log, error));
    self->alloc = spark_host_service(host, SPARK_EXT_ALLOC,
                                     SPARK_SIZE_THROUGH(spark_ext_alloc, release));
    self->progress = spark_host_service(host, SPARK_EXT_PROGRESS,
                                        SPARK_SIZE_THROUGH(spark_ext_progress, check));
    *out = self;
    return SPARK_OK;
}

static const char *param_string(const spark_params *p, const char *key)
{
    if (!p->get_string || (p->has && !p->has(p->user, key)))
        return NULL;
    return p->get_string(p->user, key);
}

static spark_status node_configure(void *handle, const spark_params *params)
{
    llm_node *self = handle;
    const char *dir = param_string(params, "model_dir");
    if (!dir || !*dir)
        return fail(self, SPARK_E_INVALID_ARGUMENT, "model_dir is required");
    if (strncmp(dir, "file://", 7) == 0)
        dir += 7;
    else if (strstr(dir, "://"))
        return fail(self, SPARK_E_INVALID_ARGUMENT,
                    "model_dir \"%s\" must be a local directory", dir);
    const char *weights = param_string(params, "weights");
    if (!nn_weight_type_parse(weights ? weights : "f32", &self->weights))
        return fail(self, SPARK_E_INVALID_ARGUMENT, "weights \"%s\" is not f32, bf16 or int8",
                    weights);
    const char *kv = param_string(params, "kv_cache");
    if (!nn_kv_type_parse(kv ? kv : "auto", &self->kv_cache))
        return fail(self, SPARK_E_INVALID_ARGUMENT, "kv_cache \"%s\" is not auto, f32 or f16",
                    kv);
    int64_t block = params->get_integer(params->user, "int8_block");
    if (block < 0 || block % 32)
        return fail(self, SPARK_E_INVALID_ARGUMENT,
                    "int8_block %lld must be 0 or a multiple of 32", (long long)block);
    self->int8_block = (size_t)block;
    self->threads = (int)params->get_integer(params->user, "threads");
    const char *device = param_string(params, "device");
    self->cuda = device && strcmp(device, "cuda") == 0;
    if (self->cuda && self->weights == NN_WEIGHT_INT8)
        return fail(self, SPARK_E_INVALID_ARGUMENT,
                    "weights int8 runs on the CPU only; device cuda takes f32 or bf16");
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

static spark_status node_activate(void *handle)
{
    llm_node *self = handle;
    if (!self->alloc)
        return fail(self, SPARK_E_UNSUPPORTED,
                    "the host has no " SPARK_EXT_ALLOC " extension: cannot make packets");
    char dir[4096];
    int n = snprintf(dir, sizeof dir, "%s/LLM", self->model_dir);
    if (n < 0 || (size_t)n >= sizeof dir)
        return fail(self, SPARK_E_INVALID_ARGUMENT, "model_dir is too long");
    if (!is_file(dir, "config.json") && is_file(self->model_dir, "config.json"))
        snprintf(dir, sizeof dir, "%s", self->model_dir);
    char err[1024], path[4200];
    if (self->cuda) { /* before reading the weights for nothing */
#ifdef SPARK_HAVE_CUDA
        if (nn_cuda_probe(err, sizeof err) == 0)
            return fail(self, SPARK_E_UNSUPPORTED, "device cuda: %s", err);
#else
        return fail(self, SPARK_E_UNSUPPORTED, "device cuda: this build has no CUDA backend "
                    "(configure with -DSPARK_CUDA=ON)");
#endif
    }
    snprintf(path, sizeof path, "%s/added_tokens.json", dir);
    if (nn_spark_ids_load(path, &self->ids, err, sizeof err))
        return fail(self, SPARK_E_INVALID_MODEL, "%s", err);
    /* device cuda: the GPU copy is made from the f32 weights */
    nn_qwen2_options opt = {.weights = self->cuda ? NN_WEIGHT_F32 : self->weights,
                            .int8_block = self->int8_block,
                            .kv_cache = self->cuda ? NN_KV_F32 : self->kv_cache};
    self->model = nn_qwen2_load(dir, &opt, err, sizeof err);
    if (!self->model)
        return fail(self, SPARK_E_INVALID_MODEL, "cannot load the LLM: %s", err);
    int32_t vocab = (int32_t)nn_qwen2_config_of(self->model)->vocab_size;
    if (self->ids.semantic_first + self->ids.semantic_count > vocab ||
        self->ids.end_semantic >= vocab || self->ids.task_controllable >= vocab) {
        nn_qwen2_free(self->model);
        self->model = NULL;
        return fail(self, SPARK_E_INVALID_MODEL,
                    "%s: the Spark tokens lie beyond the LLM's %d embedding rows", path, vocab);
    }
    self->pool = nn_pool_create(self->threads, err, sizeof err);
    if (!self->pool) {
        nn_qwen2_free(self->model);
        self->model = NULL;
        return fail(self, SPARK_E_INTERNAL, "cannot start the thread pool: %s", err);
    }
    if (self->cuda) {
#ifdef SPARK_HAVE_CUDA
        nn_qwen2_cuda_options copt = {.weights = self->weights};
        self->gpu = nn_qwen2_cuda_upload(self->model, &copt, err, sizeof err);
        self->batcher = self->gpu ? nn_qwen2_cuda_batcher_new(self->gpu, 64, err, sizeof err)
                                  : NULL;
        if (!self->batcher) {
            nn_qwen2_cuda_free(self->gpu);
            self->gpu = NULL;
            nn_pool_destroy(self->pool);
            self->pool = NULL;
            nn_qwen2_free(self->model);
            self->model = NULL;
            return fail(self, SPARK_E_UNSUPPORTED, "device cuda: %s", err);
        }
        char line[512];
        if (nn_cuda_memory_report(line, sizeof line, err, sizeof err) == 0)
            say(self, SPARK_LOG_INFO, "LLM on the GPU, %s weights: %s",
                nn_weight_type_name(self->weights), line);
#endif
    }
    say(self, SPARK_LOG_INFO, "LLM %s: %s weights, %.1f MiB, %d threads", dir,
        nn_weight_type_name(self->weights),
        (double)nn_qwen2_weight_bytes(self->model) / (1024.0 * 1024.0),
        nn_pool_threads(self->pool));
    return SPARK_OK;
}

static void node_deactivate(void *handle)
{
    llm_node *self = handle;
#ifdef SPARK_HAVE_CUDA
    nn_qwen2_cuda_batcher_free(self->batcher);
    self->batcher = NULL;
    nn_qwen2_cuda_free(self->gpu);
    self->gpu = NULL;
#endif
    nn_pool_destroy(self->pool);
    self->pool = NULL;
    nn_qwen2_free(self->model);
    self->model = NULL;
}

static void node_destroy(void *handle)
{
    llm_node *self = handle;
    node_deactivate(self);
    free(self->model_dir);
    free(self);
}

/* ---- jobs ---- */

typedef struct llm_job {
    llm_node *node;
    const spark_job *job;
    nn_qwen2_ctx *ctx;
    nn_generator *gen;
#ifdef SPARK_HAVE_CUDA
    nn_qwen2_cuda_ctx *gpu_ctx; /* device cuda: the job's KV cache and stream on the GPU */
#endif
    nn_grammar grammar;
    bool grammar_ready;
    nn_grammar_mode constrain;
    nn_generate_params gp;
    int32_t stop_ids[3];
    uint64_t seed;
    size_t chunk_size;
    int retries;
    int32_t *out;        /* [max_new_tokens] */
    int32_t *chunk;      /* [chunk_size] semantic codes waiting to be streamed */
    size_t chunk_len;
    int64_t segment_seq; /* the prompt's seq: every codes chunk of the segment has it */
    int32_t globals[NN_GRAMMAR_GLOBALS];
    size_t global_count; /* globals seen in this attempt (may exceed 32 unconstrained) */
    bool same_voice;     /* later control segments reuse the first one's global tokens */
    int32_t voice_tokens[NN_GRAMMAR_GLOBALS];
    bool have_voice_tokens;
    bool control;        /* this segment's output must carry 32 globals */
    bool globals_sent;   /* the segment's first chunk is out */
    bool live;           /* stream while generating (the grammar guarantees the shape) */
    spark_status status; /* a refusal from emit or check */
    /* totals */
    size_t segments, prompt_tokens, generated, retries_used;
    double prefill_seconds, decode_seconds;
    nn_stop_reason last_stop;
    cJSON *per_segment;
} llm_job;

static void job_free(llm_job *st)
{
    if (!st)
        return;
    nn_qwen2_ctx_free(st->ctx);
    nn_generator_free(st->gen);
#ifdef SPARK_HAVE_CUDA
    nn_qwen2_cuda_ctx_free(st->gpu_ctx);
#endif
    if (st->grammar_ready)
        nn_grammar_free(&st->grammar);
    free(st->out);
    free(st->chunk);
    cJSON_Delete(st->per_segment);
    free(st);
}

static int parse_stop(const llm_node *self, const char *text, int32_t *ids, size_t *count)
{
    *count = 0;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", text && *text ? text : "im_end");
    char *save = NULL;
    for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        int32_t id;
        if (strcmp(t, "im_end") == 0)
            id = self->ids.im_end;
        else if (strcmp(t, "end_semantic") == 0)
            id = self->ids.end_semantic;
        else if (strcmp(t, "endoftext") == 0)
            id = self->ids.endoftext;
        else if (strspn(t, "0123456789") == strlen(t) && strlen(t) < 10 &&
                 atol(t) < nn_qwen2_config_of(self->model)->vocab_size)
            id = (int32_t)atol(t);
        else
            return -1;
        if (*count == 3)
            return -1;
        bool dup = false;
        for (size_t i = 0; i < *count; i++)
            dup = dup || ids[i] == id;
        if (!dup)
            ids[(*count)++] = id;
    }
    return *count ? 0 : -1;
}

static uint64_t fresh_seed(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t s = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec;
    return nn_splitmix64(&s);
}

static spark_status llm_job_begin(void *handle, const spark_job *job, void **out)
{
    llm_node *self = handle;
    *out = NULL;
    const spark_params *p = job->params;
    llm_job *st = calloc(1, sizeof *st);
    if (!st)
        return fail(self, SPARK_E_NO_MEMORY, "out of memory for the job state");
    st->node = self;
    st->gp.sampling.temperature = (float)p->get_number(p->user, "temperature");
    st->gp.sampling.top_k = (int32_t)p->get_integer(p->user, "top_k");
    st->gp.sampling.top_p = (float)p->get_number(p->user, "top_p");
    int64_t max_new = p->get_integer(p->user, "max_new_tokens");
    int64_t min_new = p->get_integer(p->user, "min_new_tokens");
    int64_t chunk = p->get_integer(p->user, "chunk_size");
    int64_t retries = p->get_integer(p->user, "retries");
    st->same_voice = p->get_boolean(p->user, "same_voice") != 0;
    const char *stop = param_string(p, "stop");
    const char *constrain = param_string(p, "constrain");
    spark_status status = SPARK_OK;
    size_t stop_count = 0;
    if (!(st->gp.sampling.temperature >= 0))
        status = fail(self, SPARK_E_INVALID_ARGUMENT, "temperature must be at least 0");
    else if (st->gp.sampling.top_k < 0)
        status = fail(self, SPARK_E_INVALID_ARGUMENT, "top_k must be at least 0");
    else if (!(st->gp.sampling.top_p > 0 && st->gp.sampling.top_p <= 1))
        status = fail(self, SPARK_E_INVALID_ARGUMENT, "top_p %g must be in (0, 1]",
                      (double)st->gp.sampling.top_p);
    else if (max_new < 1)
        status = fail(self, SPARK_E_INVALID_ARGUMENT, "max_new_tokens must be at least 1");
    else if (min_new < 0 || min_new > max_new)
        status = fail(self, SPARK_E_INVALID_ARGUMENT,
                      "min_new_tokens %lld must lie in [0, max_new_tokens %lld]",
                      (long long)min_new, (long long)max_new);
    else if (chunk < 1)
        status = fail(self, SPARK_E_INVALID_ARGUMENT, "chunk_size must be at least 1");
    else if (retries < 0)
        status = fail(self, SPARK_E_INVALID_ARGUMENT, "retries must be at least 0");
    else if (parse_stop(self, stop, st->stop_ids, &stop_count))
        status = fail(self, SPARK_E_INVALID_ARGUMENT,
                      "stop \"%s\" must list up to 3 of im_end, end_semantic, endoftext or "
                      "ids in the vocabulary (comma-separated)",
                      stop ? stop : "");
    else if (!nn_grammar_mode_parse(constrain ? constrain : "auto", &st->constrain))
        status = fail(self, SPARK_E_INVALID_ARGUMENT,
                      "constrain \"%s\" is not one of auto, off, control, clone", constrain);
    if (status != SPARK_OK) {
        job_free(st);
        return status;
    }
    st->gp.max_new_tokens = (size_t)max_new;
    st->gp.min_new_tokens = (size_t)min_new;
    st->gp.stop_ids = st->stop_ids;
    st->gp.stop_count = stop_count;
    st->chunk_size = (size_t)chunk;
    st->retries = (int)retries;
    st->seed = p->has && p->has(p->user, "seed") ? (uint64_t)p->get_integer(p->user, "seed")
                                                 : fresh_seed();
    char err[512];
    st->ctx = nn_qwen2_ctx_new(self->model);
    st->gen = nn_generator_new(self->model);
    st->out = malloc((size_t)max_new * sizeof *st->out);
    st->chunk = malloc((size_t)chunk * sizeof *st->chunk);
    st->per_segment = cJSON_CreateArray();
    if (!st->ctx || !st->gen || !st->out || !st->chunk || !st->per_segment) {
        job_free(st);
        return fail(self, SPARK_E_NO_MEMORY, "out of memory for the job state");
    }
#ifdef SPARK_HAVE_CUDA
    if (self->gpu && !(st->gpu_ctx = nn_qwen2_cuda_ctx_new(self->gpu, err, sizeof err))) {
        job_free(st);
        return fail(self, SPARK_E_NO_MEMORY, "device cuda: %s", err);
    }
#endif
    if (st->constrain != NN_GRAMMAR_OFF) {
        int32_t vocab = (int32_t)nn_qwen2_config_of(self->model)->vocab_size;
        if (nn_grammar_init(&st->grammar, &self->ids, vocab, st->stop_ids, stop_count, err,
                            sizeof err)) {
            job_free(st);
            return fail(self, SPARK_E_INVALID_ARGUMENT, "constrained decoding: %s", err);
        }
        st->grammar_ready = true;
    }
    st->job = job;
    *out = st;
    return SPARK_OK;
}

static bool is_semantic(const nn_spark_ids *ids, int32_t id)
{
    return id >= ids->semantic_first && id < ids->semantic_first + ids->semantic_count;
}

static bool is_global(const nn_spark_ids *ids, int32_t id)
{
    return id >= ids->global_first && id < ids->global_first + ids->global_count;
}

/* Emits the waiting semantic codes as one codes packet; the segment's first one carries the
 * control-mode globals, its last one (`last`, possibly without codes) SPARK_PACKET_PIECE_END. */
static spark_status flush_chunk(llm_job *st, bool last)
{
    llm_node *self = st->node;
    bool with_globals = st->control && !st->globals_sent;
    if (st->chunk_len == 0 && !with_globals && !last)
        return SPARK_OK;
    spark_packet *pk = self->alloc->codes(self->host, st->chunk_len,
                                          with_globals ? NN_GRAMMAR_GLOBALS : 0, LLM_CODEC,
                                          LLM_FRAME_RATE);
    if (!pk)
        return fail(self, SPARK_E_NO_MEMORY, "out of memory for a codes packet");
    memcpy(pk->data.codes.semantic, st->chunk, st->chunk_len * sizeof *st->chunk);
    if (with_globals)
        memcpy(pk->data.codes.global, st->globals, sizeof st->globals);
    pk->seq = st->segment_seq;
    if (last)
        spark_packet_set_flags(pk, SPARK_PACKET_PIECE_END);
    st->globals_sent = st->globals_sent || with_globals;
    st->chunk_len = 0;
    return st->job->emit(st->job, LLM_PORT_CODES, pk);
}

static spark_status push_code(llm_job *st, int32_t id)
{
    const nn_spark_ids *ids = &st->node->ids;
    if (is_global(ids, id)) {
        if (st->global_count < NN_GRAMMAR_GLOBALS)
            st->globals[st->global_count] = id - ids->global_first;
        st->global_count++;
        return SPARK_OK;
    }
    if (!is_semantic(ids, id))
        return SPARK_OK;
    st->chunk[st->chunk_len++] = id - ids->semantic_first;
    return st->chunk_len == st->chunk_size ? flush_chunk(st, false) : SPARK_OK;
}

static int on_token(void *user, size_t step, int32_t id, const float *logits,
                    const int32_t *rows, size_t n_rows)
{
    (void)logits;
    (void)rows;
    (void)n_rows;
    llm_job *st = user;
    if (st->live) {
        spark_status s = push_code(st, id);
        if (s < 0) {
            st->status = s;
            return 1;
        }
    } else if (is_global(&st->node->ids, id)) {
        st->global_count++; /* counted for the check; the codes are taken after it */
    }
    if (step % 16 == 15 && st->node->progress) {
        spark_status s = st->node->progress->check(st->node->host, st->job);
        if (s < 0) {
            st->status = s;
            return 1;
        }
    }
    return 0;
}

static bool prompt_is_control(const nn_spark_ids *ids, const int32_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] == ids->task_controllable)
            return true;
    return false;
}

static spark_status emit_generated(llm_job *st, size_t count, int64_t seq)
{
    llm_node *self = st->node;
    spark_packet *pk = self->alloc->tokens(self->host, count, "spark-tts-qwen2");
    if (!pk)
        return fail(self, SPARK_E_NO_MEMORY, "out of memory for a tokens packet");
    if (count)
        memcpy(pk->data.tokens.ids, st->out, count * sizeof *st->out);
    pk->seq = seq;
    return st->job->emit(st->job, LLM_PORT_GENERATED, pk);
}

static spark_status run_segment(llm_node *self, llm_job *st, const spark_packet *packet)
{
    const int32_t *prompt = packet->data.tokens.ids;
    size_t n = (size_t)packet->data.tokens.count;
    const long long seg = (long long)packet->seq;
    if (n == 0)
        return fail(self, SPARK_E_INVALID_ARGUMENT, "segment %lld: the prompt is empty", seg);
    nn_grammar_mode mode = st->constrain;
    if (mode == NN_GRAMMAR_AUTO)
        mode = prompt_is_control(&self->ids, prompt, n) ? NN_GRAMMAR_CONTROL : NN_GRAMMAR_CLONE;
    st->control = mode == NN_GRAMMAR_CONTROL ||
                  (mode == NN_GRAMMAR_OFF && prompt_is_control(&self->ids, prompt, n));
    st->gp.grammar = mode == NN_GRAMMAR_OFF ? NULL : &st->grammar;
    st->gp.grammar_mode = mode;
    st->gp.on_token = on_token;
    st->gp.user = st;
    /* the grammar guarantees the shape, so codes can go out as they come; without it the
     * segment is checked first (and may be generated again) */
    st->live = st->gp.grammar != NULL;
    st->segment_seq = packet->seq;
    const bool deterministic = st->gp.sampling.temperature <= 0;
    bool forcing = st->control && st->same_voice && st->have_voice_tokens;
    st->gp.forced_after = self->ids.start_global;
    st->gp.forced = forcing ? st->voice_tokens : NULL;
    st->gp.forced_count = forcing ? NN_GRAMMAR_GLOBALS : 0;
    nn_generate_result res = {0};
    size_t semantic = 0;
    char err[512];
    for (int attempt = 0;; attempt++) {
        st->gp.seed = st->seed + st->segments + ((uint64_t)attempt << 32);
        st->chunk_len = 0;
        st->global_count = 0;
        st->globals_sent = false;
        int grc;
#ifdef SPARK_HAVE_CUDA
        if (st->gpu_ctx)
            grc = nn_qwen2_cuda_batcher_generate(self->batcher, st->gpu_ctx, prompt, n, &st->gp,
                                                 st->out, &res, err, sizeof err);
        else
#endif
            grc = nn_generate(st->gen, st->ctx, self->pool, prompt, n, &st->gp, st->out, &res,
                              err, sizeof err);
        if (grc)
            return fail(self, SPARK_E_INVALID_ARGUMENT, "segment %lld: %s", seg, err);
        if (st->status < 0)
            return st->status;
        semantic = 0;
        for (size_t i = 0; i < res.tokens; i++)
            semantic += is_semantic(&self->ids, st->out[i]);
        bool globals_ok = !st->control || st->global_count == NN_GRAMMAR_GLOBALS;
        if (semantic > 0 && globals_ok)
            break;
        char why[160];
        if (semantic == 0)
            snprintf(why, sizeof why, "no semantic token (%zu ids, stop reason %s)",
                     res.tokens, nn_stop_reason_name(res.stop));
        else
            snprintf(why, sizeof why, "%zu global tokens where the control mode needs %d",
                     st->global_count, NN_GRAMMAR_GLOBALS);
        if (st->live || deterministic || attempt >= st->retries)
            return fail(self, SPARK_E_INVALID_ARGUMENT,
                        "segment %lld: the LLM generated %s after %d attempt%s%s", seg, why,
                        attempt + 1, attempt ? "s" : "",
                        semantic == 0 && res.stop == NN_STOP_MAX_NEW ? "; raise max_new_tokens"
                        : st->live                                   ? ""
                        : deterministic ? "; constrain auto rules this out"
                                        : "; raise retries, or constrain auto rules this out");
        st->retries_used++;
        say(self, SPARK_LOG_WARN, "segment %lld: the LLM generated %s; trying again with "
            "another seed", seg, why);
    }
    spark_status status = SPARK_OK;
    if (!st->live) { /* without the grammar globals may follow semantic codes: all first */
        st->global_count = 0;
        for (size_t i = 0; i < res.tokens && status >= 0; i++)
            if (is_global(&self->ids, st->out[i]))
                status = push_code(st, st->out[i]);
        for (size_t i = 0; i < res.tokens && status >= 0; i++)
            if (!is_global(&self->ids, st->out[i]))
                status = push_code(st, st->out[i]);
    }
    if (st->control && !st->have_voice_tokens) { /* the job's voice, from its first segment */
        for (size_t i = 0; i < NN_GRAMMAR_GLOBALS; i++)
            st->voice_tokens[i] = self->ids.global_first + st->globals[i];
        st->have_voice_tokens = true;
    }
    if (status >= 0)
        status = flush_chunk(st, true);
    if (status >= 0)
        status = emit_generated(st, res.tokens, packet->seq);
    if (status < 0)
        return status;
    if (res.stop == NN_STOP_MAX_NEW || res.stop == NN_STOP_CONTEXT)
        say(self, SPARK_LOG_WARN, "segment %lld stopped at %s after %zu ids: its speech may "
            "be cut short", seg, nn_stop_reason_name(res.stop), res.tokens);
    st->segments++;
    st->prompt_tokens += n;
    st->generated += res.tokens;
    st->prefill_seconds += res.prefill_seconds;
    st->decode_seconds += res.decode_seconds;
    st->last_stop = res.stop;
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddNumberToObject(o, "seq", (double)packet->seq);
        cJSON_AddNumberToObject(o, "tokens", (double)res.tokens);
        cJSON_AddNumberToObject(o, "semantic_tokens", (double)semantic);
        cJSON_AddStringToObject(o, "stop_reason", nn_stop_reason_name(res.stop));
        cJSON_AddItemToArray(st->per_segment, o);
    }
    return SPARK_OK;
}

static spark_status llm_process(void *handle, void *state, const spark_job *job, uint32_t port,
                                const spark_packet *packet)
{
    llm_node *self = handle;
    llm_job *st = state;
    st->job = job;
    if (!packet)
        return SPARK_OK;
    if (port != LLM_PORT_PROMPT || packet->kind != SPARK_KIND_TOKENS)
        return fail(self, SPARK_E_FORMAT_MISMATCH, "port \"prompt\" takes tokens packets");
    spark_status status = run_segment(self, st, packet);
    return status < 0 ? status : SPARK_OK;
}

static spark_status llm_job_end(void *handle, void *state, const spark_job *job,
                                spark_status outcome)
{
    (void)handle;
    llm_job *st = state;
    if (outcome == SPARK_OK && st->segments) {
        job->post_result(job, "tokens_generated", SPARK_VALUE_INTEGER, NULL,
                         (double)st->generated);
        job->post_result(job, "stop_reason", SPARK_VALUE_STRING,
                         nn_stop_reason_name(st->last_stop), 0);
        cJSON *t = cJSON_CreateObject();
        if (t) {
            size_t decoded = st->generated > st->segments ? st->generated - st->segments : 0;
            cJSON_AddNumberToObject(t, "segments", (double)st->segments);
            cJSON_AddNumberToObject(t, "prompt_tokens", (double)st->prompt_tokens);
            cJSON_AddNumberToObject(t, "prefill_seconds", st->prefill_seconds);
            cJSON_AddNumberToObject(t, "generated_tokens", (double)st->generated);
            cJSON_AddNumberToObject(t, "decode_seconds", st->decode_seconds);
            cJSON_AddNumberToObject(t, "decode_tokens_per_second",
                                    st->decode_seconds > 0
                                        ? (double)decoded / st->decode_seconds
                                        : 0);
            cJSON_AddNumberToObject(t, "retries", (double)st->retries_used);
            cJSON_AddItemToObject(t, "per_segment", st->per_segment);
            st->per_segment = NULL;
            char *text = cJSON_PrintUnformatted(t);
            if (text)
                job->post_result(job, "timings", SPARK_VALUE_JSON, text, 0);
            free(text);
            cJSON_Delete(t);
        }
    }
    job_free(st);
    return SPARK_OK;
}

const spark_node_ops llm_node_ops = {
    .struct_size = sizeof(spark_node_ops),
    .create = node_create,
    .configure = node_configure,
    .activate = node_activate,
    .job_begin = llm_job_begin,
    .process = llm_process,
    .job_end = llm_job_end,
    .deactivate = node_deactivate,
    .destroy = node_destroy,
};
