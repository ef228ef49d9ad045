// qwen2_cuda.cu - the Qwen2 LLM on the GPU (spark/nn/qwen2_cuda.h): weights uploaded from
// the CPU loader's f32 model, per-job contexts with their own stream, prefill through cuBLAS,
// decode steps captured as CUDA graphs, and the generation loop of core/nn/src/llm/generate.c
// with sampling on the device.
#include "cuda_internal.h"
#include "qwen2_cuda_internal.h"

#include "llm/qwen2_internal.h"
#include "spark/nn/qwen2_cuda.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr size_t kPrefillChunk = 256; // positions per prefill pass (bounds the scratch)
constexpr int kGemvMaxBatch = 4;      // beyond this a step's products run as GEMMs
constexpr size_t kBlasWorkspace = 8u << 20; // per context: enough for these GEMMs

struct layer_dev {
    nncu_weight qkv, o, gate_up, down;
    float *qkv_bias, *norm_in, *norm_post;
};

double now_seconds()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

size_t round_up(size_t v, size_t m)
{
    return (v + m - 1) / m * m;
}

} // namespace

struct nn_qwen2_cuda {
    nn_qwen2_config config;
    nncu_dims dims;
    size_t layer_count;
    int device;
    bool no_graphs;
    nn_weight_type type;
    float *inv_freq;
    nncu_weight embed;
    float *norm_final;
    std::vector<layer_dev> layers;
    size_t weight_bytes;
};

// The device scratch of one pass over up to max_rows positions, plus its stream, cuBLAS
// handle, step table and graphs (one per batch size).
struct runner {
    cudaStream_t stream = nullptr;
    cublasHandle_t blas = nullptr;
    void *blas_ws = nullptr;
    size_t max_rows = 0, max_seqs = 0;
    float *x = nullptr, *xn = nullptr, *qkv = nullptr, *attn = nullptr, *gate_up = nullptr,
          *mlp = nullptr, *logits = nullptr;
    uint16_t *xb = nullptr; // bf16 copy of a GEMM input
    int32_t *ids = nullptr, *ids_host = nullptr;
    nncu_seq *seqs = nullptr, *seqs_host = nullptr;
    int32_t *result = nullptr, *result_host = nullptr;
    std::vector<cudaGraphExec_t> graphs; // [batch size]
};

struct nn_qwen2_cuda_ctx {
    const nn_qwen2_cuda *model;
    runner run;
    float *k_cache = nullptr, *v_cache = nullptr;
    size_t capacity = 0, length = 0;
    int32_t *rows_dev = nullptr; // head rows asked for by nn_qwen2_cuda_forward
    // generation: the grammar's lists on the device, host fallback sampling
    const nn_grammar *grammar_src = nullptr;
    int32_t *grammar_dev[10] = {};
    size_t grammar_len[10] = {};
    float *logits_host = nullptr;
    bool *banned = nullptr;
    nn_sampler sampler = {};
    bool sampler_ready = false;
};

struct nn_qwen2_cuda_batch {
    const nn_qwen2_cuda *model;
    runner run;
};

// ---- the model --------------------------------------------------------------------------

static int upload_f32(float **dst, const float *src, size_t n, const char *what, size_t *bytes,
                      char *err, size_t err_size)
{
    *dst = static_cast<float *>(nn_cuda_alloc(n * sizeof(float), what, err, err_size));
    if (!*dst)
        return -1;
    *bytes += n * sizeof(float);
    return nncu_check(cudaMemcpy(*dst, src, n * sizeof(float), cudaMemcpyHostToDevice), what,
                      err, err_size);
}

// From the CPU's f32 nn_weight to the device, in bf16 or f32, rows padded to 8 elements.
static int upload_weight(nncu_weight *dst, const nn_weight *src, bool bf16, const char *what,
                         size_t *bytes, char *err, size_t err_size)
{
    if (src->type != NN_WEIGHT_F32) {
        snprintf(err, err_size, "%s: the CUDA upload needs the CPU model loaded in f32", what);
        return -1;
    }
    dst->rows = src->rows;
    dst->cols = src->cols;
    dst->stride = round_up(src->cols, 8);
    dst->bf16 = bf16;
    const size_t es = bf16 ? 2 : 4, row_bytes = dst->stride * es;
    dst->data = nn_cuda_alloc(dst->rows * row_bytes, what, err, err_size);
    if (!dst->data)
        return -1;
    *bytes += dst->rows * row_bytes;
    // converted in slabs of rows so the host copy stays small
    const size_t slab = 4096;
    std::vector<unsigned char> host(slab * row_bytes);
    for (size_t r0 = 0; r0 < dst->rows; r0 += slab) {
        const size_t nr = dst->rows - r0 < slab ? dst->rows - r0 : slab;
        std::memset(host.data(), 0, nr * row_bytes);
        for (size_t r = 0; r < nr; r++) {
            const float *row = static_cast<const float *>(src->data) + (r0 + r) * src->stride;
            if (bf16) {
                uint16_t *d = reinterpret_cast<uint16_t *>(host.data() + r * row_bytes);
                for (size_t c = 0; c < src->cols; c++)
                    d[c] = nn_bf16_from_f32(row[c]);
            } else {
                std::memcpy(host.data() + r * row_bytes, row, src->cols * sizeof(float));
            }
        }
        if (nncu_check(cudaMemcpy(static_cast<unsigned char *>(dst->data) + r0 * row_bytes,
                                  host.data(), nr * row_bytes, cudaMemcpyHostToDevice),
                       what, err, err_size))
            return -1;
    }
    return 0;
}

extern "C" void nn_qwen2_cuda_free(nn_qwen2_cuda *m)
{
    if (!m)
        return;
    nn_cuda_free(m->inv_freq);
    nn_cuda_free(m->embed.data);
    nn_cuda_free(m->norm_final);
    for (layer_dev &l : m->layers) {
        nn_cuda_free(l.qkv.data);
        nn_cuda_free(l.o.data);
        nn_cuda_free(l.gate_up.data);
        nn_cuda_free(l.down.data);
        nn_cuda_free(l.qkv_bias);
        nn_cuda_free(l.norm_in);
        nn_cuda_free(l.norm_post);
    }
    delete m;
}

extern "C" nn_qwen2_cuda *nn_qwen2_cuda_upload(const nn_qwen2 *cpu,
                                               const nn_qwen2_cuda_options *options, char *err,
                                               size_t err_size)
{
    const nn_qwen2_cuda_options defaults = {NN_WEIGHT_BF16, 0, false};
    const nn_qwen2_cuda_options *o = options ? options : &defaults;
    if (o->weights != NN_WEIGHT_BF16 && o->weights != NN_WEIGHT_F32) {
        snprintf(err, err_size, "the CUDA LLM takes weights bf16 or f32, not %s",
                 nn_weight_type_name(o->weights));
        return nullptr;
    }
    char why[256];
    int devices = nn_cuda_probe(why, sizeof why);
    if (devices == 0) {
        snprintf(err, err_size, "%s", why);
        return nullptr;
    }
    if (o->device < 0 || o->device >= devices) {
        snprintf(err, err_size, "CUDA device %d does not exist (%d found)", o->device, devices);
        return nullptr;
    }
    if (nn_cuda_use_device(o->device, err, err_size))
        return nullptr;
    if (cpu->head_dim > 128 || cpu->head_dim % 2 || cpu->heads % cpu->kv_heads) {
        snprintf(err, err_size, "the CUDA LLM needs an even head size up to 128 and whole "
                 "query groups (head size %zu, %zu heads, %zu kv heads)",
                 cpu->head_dim, cpu->heads, cpu->kv_heads);
        return nullptr;
    }
    nn_qwen2_cuda *m = new (std::nothrow) nn_qwen2_cuda();
    if (!m) {
        snprintf(err, err_size, "out of memory for the CUDA LLM");
        return nullptr;
    }
    m->config = cpu->config;
    m->dims = nncu_dims{(int)cpu->hidden,   (int)cpu->heads, (int)cpu->kv_heads,
                        (int)cpu->head_dim, (int)cpu->q_dim, (int)cpu->kv_dim,
                        (int)cpu->inter,    (int)cpu->vocab, cpu->eps};
    m->layer_count = cpu->layer_count;
    m->device = o->device;
    m->no_graphs = o->no_graphs;
    m->type = o->weights;
    const bool bf16 = o->weights == NN_WEIGHT_BF16;
    size_t bytes = 0;
    m->layers.resize(cpu->layer_count);
    if (upload_f32(&m->inv_freq, cpu->inv_freq, cpu->head_dim / 2, "the rotary frequencies",
                   &bytes, err, err_size) ||
        upload_weight(&m->embed, &cpu->embed, bf16, "the embedding", &bytes, err, err_size) ||
        upload_f32(&m->norm_final, cpu->norm_final, cpu->hidden, "the final norm", &bytes, err,
                   err_size)) {
        nn_qwen2_cuda_free(m);
        return nullptr;
    }
    const size_t qkv_rows = cpu->q_dim + 2 * cpu->kv_dim;
    for (size_t l = 0; l < cpu->layer_count; l++) {
        const qwen2_layer *s = &cpu->layers[l];
        layer_dev *d = &m->layers[l];
        char what[64];
        snprintf(what, sizeof what, "LLM layer %zu", l);
        if (upload_weight(&d->qkv, &s->qkv, bf16, what, &bytes, err, err_size) ||
            upload_weight(&d->o, &s->o, bf16, what, &bytes, err, err_size) ||
            upload_weight(&d->gate_up, &s->gate_up, bf16, what, &bytes, err, err_size) ||
            upload_weight(&d->down, &s->down, bf16, what, &bytes, err, err_size) ||
            upload_f32(&d->qkv_bias, s->qkv_bias, qkv_rows, what, &bytes, err, err_size) ||
            upload_f32(&d->norm_in, s->norm_in, cpu->hidden, what, &bytes, err, err_size) ||
            upload_f32(&d->norm_post, s->norm_post, cpu->hidden, what, &bytes, err,
                       err_size)) {
            nn_qwen2_cuda_free(m);
            return nullptr;
        }
    }
    m->weight_bytes = bytes;
    return m;
}

extern "C" nn_qwen2_cuda *nn_qwen2_cuda_load(const char *llm_dir,
                                             const nn_qwen2_cuda_options *options, char *err,
                                             size_t err_size)
{
    char why[256];
    if (nn_cuda_probe(why, sizeof why) == 0) { // before reading a large model for nothing
        snprintf(err, err_size, "%s", why);
        return nullptr;
    }
    nn_qwen2_options cpu_opt = {NN_WEIGHT_F32, 0, NN_KV_F32};
    nn_qwen2 *cpu = nn_qwen2_load(llm_dir, &cpu_opt, err, err_size);
    if (!cpu)
        return nullptr;
    nn_qwen2_cuda *m = nn_qwen2_cuda_upload(cpu, options, err, err_size);
    nn_qwen2_free(cpu);
    return m;
}

extern "C" const nn_qwen2_config *nn_qwen2_cuda_config_of(const nn_qwen2_cuda *m)
{
    return &m->config;
}

extern "C" size_t nn_qwen2_cuda_weight_bytes(const nn_qwen2_cuda *m)
{
    return m->weight_bytes;
}

// ---- runners ----------------------------------------------------------------------------

static void runner_free(runner *r)
{
    for (cudaGraphExec_t g : r->graphs)
        if (g)
            cudaGraphExecDestroy(g);
    r->graphs.clear();
    float *f[] = {r->x, r->xn, r->qkv, r->attn, r->gate_up, r->mlp, r->logits};
    for (float *p : f)
        nn_cuda_free(p);
    nn_cuda_free(r->xb);
    nn_cuda_free(r->ids);
    nn_cuda_free(r->seqs);
    nn_cuda_free(r->result);
    nn_cuda_free(r->blas_ws);
    nn_cuda_host_free(r->ids_host);
    nn_cuda_host_free(r->seqs_host);
    nn_cuda_host_free(r->result_host);
    if (r->blas)
        cublasDestroy(r->blas);
    if (r->stream)
        cudaStreamDestroy(r->stream);
    *r = runner();
}

template <typename T>
static bool dev_alloc(T **p, size_t count, const char *what, char *err, size_t err_size)
{
    *p = static_cast<T *>(nn_cuda_alloc(count * sizeof(T), what, err, err_size));
    return *p != nullptr;
}

template <typename T>
static bool host_alloc(T **p, size_t count, const char *what, char *err, size_t err_size)
{
    *p = static_cast<T *>(nn_cuda_host_alloc(count * sizeof(T), what, err, err_size));
    return *p != nullptr;
}

static int runner_init(runner *r, const nn_qwen2_cuda *m, size_t max_rows, size_t max_seqs,
                       char *err, size_t err_size)
{
    const nncu_dims &d = m->dims;
    const size_t widest = (size_t)(d.inter > d.hidden ? d.inter : d.hidden) > (size_t)d.q_dim
                              ? (size_t)(d.inter > d.hidden ? d.inter : d.hidden)
                              : (size_t)d.q_dim;
    const char *what = "the LLM scratch";
    r->max_rows = max_rows;
    r->max_seqs = max_seqs;
    if (nncu_check(cudaStreamCreateWithFlags(&r->stream, cudaStreamNonBlocking),
                   "creating the job's CUDA stream", err, err_size) ||
        nncu_check_blas(cublasCreate(&r->blas), "creating a cuBLAS handle", err, err_size) ||
        nncu_check_blas(cublasSetStream(r->blas, r->stream), "binding cuBLAS to the stream",
                        err, err_size))
        goto fail;
    if (!dev_alloc(&r->x, max_rows * d.hidden, what, err, err_size) ||
        !dev_alloc(&r->xn, max_rows * d.hidden, what, err, err_size) ||
        !dev_alloc(&r->qkv, max_rows * (d.q_dim + 2 * d.kv_dim), what, err, err_size) ||
        !dev_alloc(&r->attn, max_rows * d.q_dim, what, err, err_size) ||
        !dev_alloc(&r->gate_up, max_rows * 2 * d.inter, what, err, err_size) ||
        !dev_alloc(&r->mlp, max_rows * d.inter, what, err, err_size) ||
        !dev_alloc(&r->xb, max_rows * widest, what, err, err_size) ||
        !dev_alloc(&r->ids, max_rows, what, err, err_size) ||
        !dev_alloc(&r->logits, max_seqs * (size_t)d.vocab, "the LLM logits", err, err_size) ||
        !dev_alloc(&r->seqs, max_seqs, what, err, err_size) ||
        !dev_alloc(&r->result, 2 * max_seqs, what, err, err_size) ||
        !dev_alloc(reinterpret_cast<unsigned char **>(&r->blas_ws), kBlasWorkspace,
                   "the cuBLAS workspace", err, err_size) ||
        !host_alloc(&r->ids_host, max_rows, what, err, err_size) ||
        !host_alloc(&r->seqs_host, max_seqs, what, err, err_size) ||
        !host_alloc(&r->result_host, 2 * max_seqs, what, err, err_size))
        goto fail;
    // a fixed workspace: cuBLAS then allocates nothing while a graph is captured
    if (nncu_check_blas(cublasSetWorkspace(r->blas, r->blas_ws, kBlasWorkspace),
                        "giving cuBLAS its workspace", err, err_size))
        goto fail;
    std::memset(r->seqs_host, 0, max_seqs * sizeof *r->seqs_host);
    r->graphs.assign(max_seqs + 1, nullptr);
    return 0;
fail:
    runner_free(r);
    return -1;
}

// y = x W^T (+ bias), or y += x W^T, for `rows` rows: the GEMV up to kGemvMaxBatch rows,
// cuBLAS beyond (bf16 weights take a bf16 copy of x; f32 weights an f32 GEMM).
static int linear(runner *r, const nncu_weight *w, int rows, const float *x, const float *bias,
                  float *y, bool accumulate, char *err, size_t err_size)
{
    if (rows <= kGemvMaxBatch) {
        nncu_gemv(r->stream, w, rows, x, bias, y, accumulate);
        return 0;
    }
    const float alpha = 1.f, beta = accumulate ? 1.f : 0.f;
    const void *b = x;
    cudaDataType_t type = CUDA_R_32F;
    if (w->bf16) {
        nncu_to_bf16(r->stream, x, (size_t)rows * w->cols, r->xb);
        b = r->xb;
        type = CUDA_R_16BF;
    }
    // row-major y[rows][w.rows] = x[rows][cols] W^T is, column-major, Y = W^T' X with W
    // seen as a cols x w.rows matrix (leading dimension stride)
    if (nncu_check_blas(cublasGemmEx(r->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)w->rows, rows,
                                     (int)w->cols, &alpha, w->data, type, (int)w->stride, b,
                                     type, (int)w->cols, &beta, y, CUDA_R_32F, (int)w->rows,
                                     CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                        "an LLM matrix product", err, err_size))
        return -1;
    if (bias)
        nncu_add_bias(r->stream, y, rows, (int)w->rows, bias);
    return 0;
}

// Every layer over `rows` positions whose embeddings are in r->x (see nncu_rope_kv for
// per_row). Queues work only.
static int run_layers(const nn_qwen2_cuda *m, runner *r, int rows, bool per_row, char *err,
                      size_t err_size)
{
    const nncu_dims &d = m->dims;
    for (size_t l = 0; l < m->layer_count; l++) {
        const layer_dev &L = m->layers[l];
        nncu_rms_norm(r->stream, r->x, L.norm_in, rows, d.hidden, d.eps, r->xn);
        if (linear(r, &L.qkv, rows, r->xn, L.qkv_bias, r->qkv, false, err, err_size))
            return -1;
        nncu_rope_kv(r->stream, &d, m->inv_freq, r->qkv, rows, r->seqs, per_row, (int)l);
        nncu_attention(r->stream, &d, r->qkv, rows, r->seqs, per_row, (int)l, r->attn);
        if (linear(r, &L.o, rows, r->attn, nullptr, r->x, true, err, err_size))
            return -1;
        nncu_rms_norm(r->stream, r->x, L.norm_post, rows, d.hidden, d.eps, r->xn);
        if (linear(r, &L.gate_up, rows, r->xn, nullptr, r->gate_up, false, err, err_size))
            return -1;
        nncu_silu_mul(r->stream, r->gate_up, rows, d.inter, r->mlp);
        if (linear(r, &L.down, rows, r->mlp, nullptr, r->x, true, err, err_size))
            return -1;
    }
    return 0;
}

// One decode step of `batch` sequences described by r->seqs: embed their tokens, the
// layers, the final norm, the head and (sample) the sampler. Queues work only.
static int queue_step(const nn_qwen2_cuda *m, runner *r, int batch, bool head, bool sample,
                      char *err, size_t err_size)
{
    nncu_embed(r->stream, &m->embed, nullptr, r->seqs, batch, r->x);
    if (run_layers(m, r, batch, true, err, err_size))
        return -1;
    if (head) {
        nncu_rms_norm(r->stream, r->x, m->norm_final, batch, m->dims.hidden, m->dims.eps,
                      r->xn);
        nncu_head(r->stream, &m->embed, r->xn, batch, r->seqs, r->logits, m->dims.vocab);
    }
    if (sample)
        nncu_sample(r->stream, r->logits, m->dims.vocab, batch, r->seqs, r->result);
    return 0;
}

// Runs a full decode step (head and sampler included) of `batch` sequences whose table is in
// r->seqs_host: the table goes up, the step runs (its graph, captured the first time), the
// results come back to r->result_host. Waits for it.
static int run_step(const nn_qwen2_cuda *m, runner *r, int batch, char *err, size_t err_size)
{
    if (nncu_check(cudaMemcpyAsync(r->seqs, r->seqs_host, batch * sizeof(nncu_seq),
                                   cudaMemcpyHostToDevice, r->stream),
                   "copying the step table", err, err_size))
        return -1;
    if (m->no_graphs) {
        if (queue_step(m, r, batch, true, true, err, err_size))
            return -1;
    } else {
        cudaGraphExec_t &exec = r->graphs[batch];
        if (!exec) {
            cudaGraph_t graph = nullptr;
            if (nncu_check(cudaStreamBeginCapture(r->stream, cudaStreamCaptureModeThreadLocal),
                           "capturing the decode step", err, err_size))
                return -1;
            int rc = queue_step(m, r, batch, true, true, err, err_size);
            cudaError_t end = cudaStreamEndCapture(r->stream, &graph);
            if (rc)
                return -1;
            if (nncu_check(end, "capturing the decode step", err, err_size) ||
                nncu_check(cudaGraphInstantiate(&exec, graph, 0), "instantiating the decode "
                           "graph", err, err_size)) {
                if (graph)
                    cudaGraphDestroy(graph);
                exec = nullptr;
                return -1;
            }
            cudaGraphDestroy(graph);
        }
        if (nncu_check(cudaGraphLaunch(exec, r->stream), "launching the decode graph", err,
                       err_size))
            return -1;
    }
    if (nncu_check(cudaMemcpyAsync(r->result_host, r->result, 2 * batch * sizeof(int32_t),
                                   cudaMemcpyDeviceToHost, r->stream),
                   "copying the chosen tokens", err, err_size))
        return -1;
    return nncu_check(cudaStreamSynchronize(r->stream), "running the decode step", err,
                      err_size);
}

// ---- contexts ---------------------------------------------------------------------------

extern "C" nn_qwen2_cuda_ctx *nn_qwen2_cuda_ctx_new(const nn_qwen2_cuda *m, char *err,
                                                    size_t err_size)
{
    if (nn_cuda_use_device(m->device, err, err_size))
        return nullptr;
    nn_qwen2_cuda_ctx *ctx = new (std::nothrow) nn_qwen2_cuda_ctx();
    if (!ctx) {
        snprintf(err, err_size, "out of memory for an LLM context");
        return nullptr;
    }
    ctx->model = m;
    if (runner_init(&ctx->run, m, kPrefillChunk, 1, err, err_size) ||
        !dev_alloc(&ctx->rows_dev, (size_t)m->dims.vocab, "the head rows", err, err_size)) {
        nn_qwen2_cuda_ctx_free(ctx);
        return nullptr;
    }
    return ctx;
}

extern "C" void nn_qwen2_cuda_ctx_free(nn_qwen2_cuda_ctx *ctx)
{
    if (!ctx)
        return;
    if (ctx->run.stream)
        cudaStreamSynchronize(ctx->run.stream);
    runner_free(&ctx->run);
    nn_cuda_free(ctx->k_cache);
    nn_cuda_free(ctx->v_cache);
    nn_cuda_free(ctx->rows_dev);
    for (int32_t *p : ctx->grammar_dev)
        nn_cuda_free(p);
    nn_cuda_host_free(ctx->logits_host);
    std::free(ctx->banned);
    if (ctx->sampler_ready)
        nn_sampler_free(&ctx->sampler);
    delete ctx;
}

extern "C" size_t nn_qwen2_cuda_ctx_length(const nn_qwen2_cuda_ctx *ctx)
{
    return ctx->length;
}

extern "C" size_t nn_qwen2_cuda_ctx_capacity(const nn_qwen2_cuda_ctx *ctx)
{
    return ctx->capacity;
}

extern "C" void nn_qwen2_cuda_ctx_clear(nn_qwen2_cuda_ctx *ctx)
{
    ctx->length = 0;
}

extern "C" int nn_qwen2_cuda_ctx_reserve(nn_qwen2_cuda_ctx *ctx, size_t positions, char *err,
                                         size_t err_size)
{
    const nn_qwen2_cuda *m = ctx->model;
    if (positions > (size_t)m->config.max_position_embeddings) {
        snprintf(err, err_size, "%zu positions exceed max_position_embeddings %lld", positions,
                 (long long)m->config.max_position_embeddings);
        return -1;
    }
    if (positions <= ctx->capacity)
        return 0;
    if (nn_cuda_use_device(m->device, err, err_size))
        return -1;
    const size_t kv = (size_t)m->dims.kv_dim, per_layer = positions * kv;
    char what[96];
    snprintf(what, sizeof what, "a KV cache of %zu positions", positions);
    float *k = static_cast<float *>(
        nn_cuda_alloc(m->layer_count * per_layer * sizeof(float), what, err, err_size));
    float *v = k ? static_cast<float *>(nn_cuda_alloc(m->layer_count * per_layer * sizeof(float),
                                                      what, err, err_size))
                 : nullptr;
    if (!k || !v) {
        nn_cuda_free(k);
        return -1;
    }
    if (ctx->length) {
        // the cached positions move to the new layout, layer by layer
        const size_t old_pitch = ctx->capacity * kv * sizeof(float);
        const size_t new_pitch = per_layer * sizeof(float), used = ctx->length * kv * sizeof(float);
        if (nncu_check(cudaMemcpy2DAsync(k, new_pitch, ctx->k_cache, old_pitch, used,
                                         m->layer_count, cudaMemcpyDeviceToDevice,
                                         ctx->run.stream),
                       "moving the KV cache", err, err_size) ||
            nncu_check(cudaMemcpy2DAsync(v, new_pitch, ctx->v_cache, old_pitch, used,
                                         m->layer_count, cudaMemcpyDeviceToDevice,
                                         ctx->run.stream),
                       "moving the KV cache", err, err_size) ||
            nncu_check(cudaStreamSynchronize(ctx->run.stream), "moving the KV cache", err,
                       err_size)) {
            nn_cuda_free(k);
            nn_cuda_free(v);
            return -1;
        }
    } else if (ctx->run.stream) {
        cudaStreamSynchronize(ctx->run.stream);
    }
    nn_cuda_free(ctx->k_cache);
    nn_cuda_free(ctx->v_cache);
    ctx->k_cache = k;
    ctx->v_cache = v;
    ctx->capacity = positions;
    return 0;
}

static void fill_cache(const nn_qwen2_cuda_ctx *ctx, nncu_seq *s)
{
    s->k_cache = ctx->k_cache;
    s->v_cache = ctx->v_cache;
    s->layer_stride = ctx->capacity * (size_t)ctx->model->dims.kv_dim;
}

static int grow_for(nn_qwen2_cuda_ctx *ctx, size_t n, char *err, size_t err_size)
{
    const size_t limit = (size_t)ctx->model->config.max_position_embeddings;
    if (ctx->length + n <= ctx->capacity)
        return 0;
    size_t want = ctx->capacity * 2 > ctx->length + n ? ctx->capacity * 2 : ctx->length + n;
    if (want > limit)
        want = ctx->length + n;
    return nn_qwen2_cuda_ctx_reserve(ctx, want, err, err_size);
}

// Feeds ids[n] (prefill passes of up to kPrefillChunk) and leaves the last position's final
// hidden state, normed, in run.xn row 0. Waits for it.
static int prefill(nn_qwen2_cuda_ctx *ctx, const int32_t *ids, size_t n, char *err,
                   size_t err_size)
{
    const nn_qwen2_cuda *m = ctx->model;
    runner *r = &ctx->run;
    size_t last = 0;
    for (size_t done = 0; done < n; done += kPrefillChunk) {
        const size_t count = n - done < kPrefillChunk ? n - done : kPrefillChunk;
        // the pinned staging is rewritten only after the previous pass finished with it
        if (nncu_check(cudaStreamSynchronize(r->stream), "running the prefill", err, err_size))
            return -1;
        std::memcpy(r->ids_host, ids + done, count * sizeof(int32_t));
        nncu_seq *s = &r->seqs_host[0];
        fill_cache(ctx, s);
        s->position = (int32_t)ctx->length;
        if (nncu_check(cudaMemcpyAsync(r->ids, r->ids_host, count * sizeof(int32_t),
                                       cudaMemcpyHostToDevice, r->stream),
                       "copying the prompt", err, err_size) ||
            nncu_check(cudaMemcpyAsync(r->seqs, r->seqs_host, sizeof(nncu_seq),
                                       cudaMemcpyHostToDevice, r->stream),
                       "copying the step table", err, err_size))
            return -1;
        nncu_embed(r->stream, &m->embed, r->ids, nullptr, (int)count, r->x);
        if (run_layers(m, r, (int)count, false, err, err_size))
            return -1;
        ctx->length += count;
        last = count - 1;
    }
    nncu_rms_norm(r->stream, r->x + last * m->dims.hidden, m->norm_final, 1, m->dims.hidden,
                  m->dims.eps, r->xn);
    return nncu_check(cudaStreamSynchronize(r->stream), "running the prefill", err, err_size);
}

static int check_ids(const nn_qwen2_cuda_ctx *ctx, const int32_t *ids, size_t n,
                     const int32_t *rows, size_t n_rows, char *err, size_t err_size)
{
    const size_t vocab = (size_t)ctx->model->dims.vocab;
    if (n == 0) {
        snprintf(err, err_size, "no token to feed the LLM");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (size_t)ids[i] >= vocab) {
            snprintf(err, err_size, "token id %d at position %zu is outside the vocabulary "
                     "[0, %zu)", ids[i], ctx->length + i, vocab);
            return -1;
        }
    for (size_t i = 0; rows && i < n_rows; i++)
        if (rows[i] < 0 || (size_t)rows[i] >= vocab) {
            snprintf(err, err_size, "output row %d is outside the vocabulary", rows[i]);
            return -1;
        }
    if (rows && n_rows > vocab) {
        snprintf(err, err_size, "%zu output rows, more than the vocabulary", n_rows);
        return -1;
    }
    return 0;
}

extern "C" int nn_qwen2_cuda_forward(nn_qwen2_cuda_ctx *ctx, const int32_t *ids, size_t n,
                                     const int32_t *rows, size_t n_rows, float *logits,
                                     char *err, size_t err_size)
{
    const nn_qwen2_cuda *m = ctx->model;
    runner *r = &ctx->run;
    if (check_ids(ctx, ids, n, rows, n_rows, err, err_size) ||
        nn_cuda_use_device(m->device, err, err_size) || grow_for(ctx, n, err, err_size))
        return -1;
    if (!rows)
        n_rows = (size_t)m->dims.vocab;
    if (nncu_check(cudaStreamSynchronize(r->stream), "running the LLM", err, err_size))
        return -1;
    nncu_seq *s = &r->seqs_host[0];
    fill_cache(ctx, s);
    s->rows = rows ? ctx->rows_dev : nullptr;
    s->n_rows = (int32_t)n_rows;
    s->temperature = 0.f; // the step's sampler runs greedy; its pick is not used here
    s->ban_count = 0;
    if (rows && nncu_check(cudaMemcpyAsync(ctx->rows_dev, rows, n_rows * sizeof(int32_t),
                                           cudaMemcpyHostToDevice, r->stream),
                           "copying the head rows", err, err_size))
        return -1;
    if (n == 1) {
        s->token = ids[0];
        s->position = (int32_t)ctx->length;
        if (run_step(m, r, 1, err, err_size))
            return -1;
        ctx->length += 1;
    } else {
        if (prefill(ctx, ids, n, err, err_size))
            return -1;
        if (!logits)
            return 0;
        s->rows = rows ? ctx->rows_dev : nullptr; // prefill rewrote the cache fields only
        if (nncu_check(cudaMemcpyAsync(r->seqs, r->seqs_host, sizeof(nncu_seq),
                                       cudaMemcpyHostToDevice, r->stream),
                       "copying the step table", err, err_size))
            return -1;
        nncu_head(r->stream, &m->embed, r->xn, 1, r->seqs, r->logits, m->dims.vocab);
    }
    if (!logits)
        return 0;
    if (nncu_check(cudaMemcpyAsync(logits, r->logits, n_rows * sizeof(float),
                                   cudaMemcpyDeviceToHost, r->stream),
                   "copying the logits", err, err_size))
        return -1;
    return nncu_check(cudaStreamSynchronize(r->stream), "running the LLM", err, err_size);
}

// ---- generation -------------------------------------------------------------------------

namespace {

// One generation in progress: the host half of generate.c's loop.
struct job {
    nn_qwen2_cuda_ctx *ctx = nullptr;
    const nn_generate_params *p = nullptr;
    int32_t *out = nullptr;
    nn_generate_result *res = nullptr;
    nn_rng rng = {};
    const int32_t *rows = nullptr; // the grammar's allowed list (host), NULL: every id
    size_t n_rows = 0;
    size_t forcing = 0; // the next forced id (params->forced); forced_count: none pending
    bool done = false;
    double t1 = 0;
};

bool is_stop(const nn_generate_params *p, int32_t id)
{
    for (size_t i = 0; i < p->stop_count; i++)
        if (p->stop_ids[i] == id)
            return true;
    return false;
}

// The grammar's lists go to the device once per grammar (allocated here, before the loop).
int upload_grammar(nn_qwen2_cuda_ctx *ctx, const nn_grammar *g, char *err, size_t err_size)
{
    if (ctx->grammar_src == g) {
        bool same = true;
        for (int i = 0; i < 10; i++)
            same = same && ctx->grammar_len[i] == g->list_len[i];
        if (same)
            return 0;
    }
    for (int i = 0; i < 10; i++) {
        nn_cuda_free(ctx->grammar_dev[i]);
        ctx->grammar_dev[i] = nullptr;
        ctx->grammar_len[i] = 0;
    }
    ctx->grammar_src = nullptr;
    for (int i = 0; i < 10; i++) {
        if (!g->lists[i] || !g->list_len[i])
            continue;
        if (!dev_alloc(&ctx->grammar_dev[i], g->list_len[i], "the grammar's allowed ids", err,
                       err_size) ||
            nncu_check(cudaMemcpy(ctx->grammar_dev[i], g->lists[i],
                                  g->list_len[i] * sizeof(int32_t), cudaMemcpyHostToDevice),
                       "copying the grammar", err, err_size))
            return -1;
        ctx->grammar_len[i] = g->list_len[i];
    }
    ctx->grammar_src = g;
    return 0;
}

const int32_t *device_rows(const nn_qwen2_cuda_ctx *ctx, const nn_grammar *g,
                           const int32_t *rows)
{
    if (!rows || !g)
        return nullptr;
    for (int i = 0; i < 10; i++)
        if (g->lists[i] == rows)
            return ctx->grammar_dev[i];
    return nullptr;
}

// The table entry of a job's next step: its last token at the next position.
void fill_seq(job *j, nncu_seq *s, int32_t token)
{
    nn_qwen2_cuda_ctx *ctx = j->ctx;
    fill_cache(ctx, s);
    s->token = token;
    s->position = (int32_t)ctx->length;
    s->rows = device_rows(ctx, j->p->grammar, j->rows);
    s->n_rows = (int32_t)j->n_rows;
    s->temperature = j->p->sampling.temperature;
    s->top_k = j->p->sampling.top_k;
    s->top_p = j->p->sampling.top_p;
    const bool ban = j->res->tokens < j->p->min_new_tokens;
    s->ban_count = 0;
    for (size_t i = 0; ban && i < j->p->stop_count && i < 4; i++)
        s->ban_ids[s->ban_count++] = j->p->stop_ids[i];
    // the CPU sampler draws once per sampled step (not for a forced id); so does this one,
    // ahead of the step
    const bool forced = j->p->forced && j->forcing < j->p->forced_count;
    s->draw = s->temperature > 0 && !forced ? (double)(nn_rng_next(&j->rng) >> 11) * 0x1.0p-53
                                            : 0.0;
}

// A step whose survivors did not fit the GPU sort: nn_sample_filter on the host, with the
// same draw. logits_dev: the job's row of the step's logits on the device, or NULL when they
// are already in ctx->logits_host.
int sample_on_host(job *j, const float *logits_dev, cudaStream_t st, double draw, int32_t *id,
                   char *err, size_t err_size)
{
    nn_qwen2_cuda_ctx *ctx = j->ctx;
    const size_t n = j->n_rows;
    // logits_dev NULL: the batcher already copied them to ctx->logits_host
    if (logits_dev &&
        (nncu_check(cudaMemcpyAsync(ctx->logits_host, logits_dev, n * sizeof(float),
                                    cudaMemcpyDeviceToHost, st),
                    "copying the logits", err, err_size) ||
         nncu_check(cudaStreamSynchronize(st), "copying the logits", err, err_size)))
        return -1;
    const bool ban = j->res->tokens < j->p->min_new_tokens;
    std::memset(ctx->banned, 0, n * sizeof(bool));
    for (size_t i = 0; ban && i < j->p->stop_count; i++)
        for (size_t k = 0; k < n; k++)
            if ((j->rows ? j->rows[k] : (int32_t)k) == j->p->stop_ids[i])
                ctx->banned[k] = true;
    size_t count = nn_sample_filter(&ctx->sampler, &j->p->sampling, ctx->logits_host, j->rows,
                                    n, ctx->banned);
    if (!count) {
        *id = -1;
        return 0;
    }
    double cum = 0;
    *id = ctx->sampler.ids[count - 1];
    for (size_t i = 0; i < count; i++) {
        cum += ctx->sampler.probs[i];
        if (draw < cum) {
            *id = ctx->sampler.ids[i];
            break;
        }
    }
    return 0;
}

// Takes the step's outcome for a job (generate.c's loop body after the draw): returns 0 to
// go on, 1 when the job ended, -1 on error.
int take(job *j, int32_t id, int32_t status, const float *logits_dev, cudaStream_t st,
         double draw, char *err, size_t err_size)
{
    const nn_generate_params *p = j->p;
    nn_generate_result *res = j->res;
    bool host_logits = false;
    if (p->forced && j->forcing < p->forced_count) {
        id = p->forced[j->forcing++]; // the step's sample is not used, as on the CPU
    } else if (status == NNCU_SAMPLE_OVERFLOW) {
        if (sample_on_host(j, logits_dev, st, draw, &id, err, err_size))
            return -1;
        host_logits = true;
    } else if (status != NNCU_SAMPLE_OK) {
        id = -1;
    }
    if (id < 0) {
        snprintf(err, err_size, "no token is allowed at step %zu", res->tokens);
        return -1;
    }
    const size_t step = res->tokens;
    j->out[res->tokens++] = id;
    if (p->forced && id == p->forced_after)
        j->forcing = 0;
    if (p->on_token &&
        p->on_token(p->user, step, id, host_logits ? j->ctx->logits_host : nullptr,
                    host_logits ? j->rows : nullptr, host_logits ? j->n_rows : 0)) {
        res->stop = NN_STOP_CALLER;
        return 1;
    }
    if (is_stop(p, id)) {
        res->stop = NN_STOP_END;
        return 1;
    }
    if (res->tokens == p->max_new_tokens) {
        res->stop = NN_STOP_MAX_NEW;
        return 1;
    }
    if (j->ctx->length >= (size_t)j->ctx->model->config.max_position_embeddings) {
        res->stop = NN_STOP_CONTEXT;
        return 1;
    }
    if (p->grammar) {
        nn_grammar_advance(p->grammar, id);
        j->rows = nn_grammar_allowed(p->grammar, &j->n_rows);
        if (!j->rows)
            j->n_rows = (size_t)j->ctx->model->dims.vocab;
    }
    return 0;
}

// Validates, prefills and samples the first token of a job on its context's stream.
int start(job *j, const int32_t *prompt, size_t n, char *err, size_t err_size)
{
    nn_qwen2_cuda_ctx *ctx = j->ctx;
    const nn_qwen2_cuda *m = ctx->model;
    const nn_generate_params *p = j->p;
    std::memset(j->res, 0, sizeof *j->res);
    j->res->prompt_tokens = n;
    if (n == 0 || p->max_new_tokens == 0) {
        snprintf(err, err_size, n ? "max_new_tokens must be at least 1" : "the prompt is empty");
        return -1;
    }
    if (p->stop_count > 4 && p->min_new_tokens > 0) {
        snprintf(err, err_size, "the CUDA sampler holds back at most 4 stop ids before "
                 "min_new_tokens (%zu given)", p->stop_count);
        return -1;
    }
    const size_t limit = (size_t)m->config.max_position_embeddings;
    if (n >= limit) {
        snprintf(err, err_size, "the prompt has %zu tokens; the model's context is %zu", n,
                 limit);
        return -1;
    }
    if (check_ids(ctx, prompt, n, nullptr, 0, err, err_size) ||
        nn_cuda_use_device(m->device, err, err_size))
        return -1;
    // host fallback buffers, made once per context
    if (!ctx->sampler_ready) {
        if (!host_alloc(&ctx->logits_host, (size_t)m->dims.vocab, "the logits", err,
                        err_size))
            return -1;
        ctx->banned = static_cast<bool *>(std::calloc((size_t)m->dims.vocab, sizeof(bool)));
        if (!ctx->banned || nn_sampler_init(&ctx->sampler, (size_t)m->dims.vocab)) {
            snprintf(err, err_size, "out of memory for the sampler");
            return -1;
        }
        ctx->sampler_ready = true;
    }
    nn_qwen2_cuda_ctx_clear(ctx);
    const size_t room = n + p->max_new_tokens < limit ? n + p->max_new_tokens : limit;
    if (nn_qwen2_cuda_ctx_reserve(ctx, room, err, err_size))
        return -1;
    nn_grammar *gr = p->grammar;
    if (gr) {
        nn_grammar_start(gr, p->grammar_mode, prompt, n);
        if (upload_grammar(ctx, gr, err, err_size))
            return -1;
    }
    nn_rng_seed(&j->rng, p->seed, "sampling");
    j->forcing = p->forced_count;
    j->n_rows = (size_t)m->dims.vocab;
    j->rows = gr ? nn_grammar_allowed(gr, &j->n_rows) : nullptr;
    if (!j->rows)
        j->n_rows = (size_t)m->dims.vocab;
    const double t0 = now_seconds();
    if (prefill(ctx, prompt, n, err, err_size))
        return -1;
    runner *r = &ctx->run;
    nncu_seq *s = &r->seqs_host[0];
    fill_seq(j, s, 0);
    if (nncu_check(cudaMemcpyAsync(r->seqs, s, sizeof(nncu_seq), cudaMemcpyHostToDevice,
                                   r->stream),
                   "copying the step table", err, err_size))
        return -1;
    nncu_head(r->stream, &m->embed, r->xn, 1, r->seqs, r->logits, m->dims.vocab);
    nncu_sample(r->stream, r->logits, m->dims.vocab, 1, r->seqs, r->result);
    if (nncu_check(cudaMemcpyAsync(r->result_host, r->result, 2 * sizeof(int32_t),
                                   cudaMemcpyDeviceToHost, r->stream),
                   "copying the chosen token", err, err_size) ||
        nncu_check(cudaStreamSynchronize(r->stream), "sampling the first token", err,
                   err_size))
        return -1;
    j->t1 = now_seconds();
    j->res->prefill_seconds = j->t1 - t0;
    int rc = take(j, r->result_host[0], r->result_host[1], r->logits, r->stream, s->draw, err,
                  err_size);
    if (rc < 0)
        return -1;
    j->done = rc == 1;
    if (j->done)
        j->res->decode_seconds = now_seconds() - j->t1;
    return 0;
}

} // namespace

extern "C" int nn_qwen2_cuda_generate(nn_qwen2_cuda_ctx *ctx, const int32_t *prompt, size_t n,
                                      const nn_generate_params *params, int32_t *out,
                                      nn_generate_result *result, char *err, size_t err_size)
{
    job j;
    j.ctx = ctx;
    j.p = params;
    j.out = out;
    j.res = result;
    if (start(&j, prompt, n, err, err_size))
        return -1;
    runner *r = &ctx->run;
    while (!j.done) {
        nncu_seq *s = &r->seqs_host[0];
        fill_seq(&j, s, out[result->tokens - 1]);
        if (run_step(ctx->model, r, 1, err, err_size))
            return -1;
        ctx->length += 1;
        int rc = take(&j, r->result_host[0], r->result_host[1], r->logits, r->stream, s->draw,
                      err, err_size);
        if (rc < 0)
            return -1;
        j.done = rc == 1;
    }
    result->decode_seconds = now_seconds() - j.t1;
    return 0;
}

// ---- batches ----------------------------------------------------------------------------

extern "C" nn_qwen2_cuda_batch *nn_qwen2_cuda_batch_new(const nn_qwen2_cuda *m,
                                                        size_t max_jobs, char *err,
                                                        size_t err_size)
{
    if (max_jobs == 0) {
        snprintf(err, err_size, "a batch needs room for at least one job");
        return nullptr;
    }
    if (nn_cuda_use_device(m->device, err, err_size))
        return nullptr;
    nn_qwen2_cuda_batch *b = new (std::nothrow) nn_qwen2_cuda_batch();
    if (!b) {
        snprintf(err, err_size, "out of memory for an LLM batch");
        return nullptr;
    }
    b->model = m;
    if (runner_init(&b->run, m, max_jobs, max_jobs, err, err_size)) {
        delete b;
        return nullptr;
    }
    return b;
}

extern "C" void nn_qwen2_cuda_batch_free(nn_qwen2_cuda_batch *b)
{
    if (!b)
        return;
    if (b->run.stream)
        cudaStreamSynchronize(b->run.stream);
    runner_free(&b->run);
    delete b;
}

extern "C" int nn_qwen2_cuda_generate_batch(nn_qwen2_cuda_batch *b,
                                            nn_qwen2_cuda_ctx *const *ctxs, size_t count,
                                            const int32_t *const *prompts,
                                            const size_t *prompt_lens,
                                            const nn_generate_params *params,
                                            int32_t *const *outs, nn_generate_result *results,
                                            char *err, size_t err_size)
{
    if (count > b->run.max_seqs) {
        snprintf(err, err_size, "%zu jobs for a batch made for %zu", count, b->run.max_seqs);
        return -1;
    }
    std::vector<job> jobs(count);
    char why[384];
    for (size_t i = 0; i < count; i++) {
        if (ctxs[i]->model != b->model) {
            snprintf(err, err_size, "job %zu: its context belongs to another model", i);
            return -1;
        }
        jobs[i].ctx = ctxs[i];
        jobs[i].p = &params[i];
        jobs[i].out = outs[i];
        jobs[i].res = &results[i];
        if (start(&jobs[i], prompts[i], prompt_lens[i], why, sizeof why)) {
            snprintf(err, err_size, "job %zu: %s", i, why);
            return -1;
        }
    }
    runner *r = &b->run;
    std::vector<size_t> active;
    for (;;) {
        active.clear();
        for (size_t i = 0; i < count; i++)
            if (!jobs[i].done)
                active.push_back(i);
        if (active.empty())
            break;
        const int batch = (int)active.size();
        for (int k = 0; k < batch; k++) {
            job *j = &jobs[active[k]];
            fill_seq(j, &r->seqs_host[k], j->out[j->res->tokens - 1]);
        }
        if (run_step(b->model, r, batch, why, sizeof why)) {
            snprintf(err, err_size, "a batched decode step of %d jobs: %s", batch, why);
            return -1;
        }
        for (int k = 0; k < batch; k++) {
            job *j = &jobs[active[k]];
            j->ctx->length += 1;
            int rc = take(j, r->result_host[2 * k], r->result_host[2 * k + 1],
                          r->logits + (size_t)k * b->model->dims.vocab, r->stream,
                          r->seqs_host[k].draw, why, sizeof why);
            if (rc < 0) {
                snprintf(err, err_size, "job %zu: %s", active[k], why);
                return -1;
            }
            if (rc == 1) {
                j->done = true;
                j->res->decode_seconds = now_seconds() - j->t1;
            }
        }
    }
    return 0;
}

// ---- the cross-thread batcher -----------------------------------------------------------

namespace {

// A job's place in the queue of the next step.
struct slot {
    job *j = nullptr;
    nncu_seq seq = {};
    int32_t id = -1, status = NNCU_SAMPLE_NONE;
    bool logits_on_host = false; // an overflow step: its logits are in ctx->logits_host
    bool stepped = false;
    bool failed = false;
    std::string error;
};

} // namespace

struct nn_qwen2_cuda_batcher {
    const nn_qwen2_cuda *model = nullptr;
    runner run;
    std::mutex mu;
    std::condition_variable work, done;
    std::vector<slot *> waiting;
    size_t running = 0; // jobs between their prefill and their end
    bool stop = false;
    std::thread worker;
};

// The batcher's thread: takes every job waiting for a step (up to max_seqs), waits briefly
// for the running ones that have not asked yet, runs one batched step, hands results back.
static void batcher_loop(nn_qwen2_cuda_batcher *b)
{
    char err[512];
    std::vector<slot *> step;
    nn_cuda_use_device(b->model->device, err, sizeof err);
    std::unique_lock<std::mutex> lock(b->mu);
    for (;;) {
        b->work.wait(lock, [&] { return b->stop || !b->waiting.empty(); });
        if (b->stop && b->waiting.empty())
            return;
        b->work.wait_for(lock, std::chrono::microseconds(100), [&] {
            return b->waiting.size() >= b->running || b->waiting.size() >= b->run.max_seqs;
        });
        const size_t batch = b->waiting.size() < b->run.max_seqs ? b->waiting.size()
                                                                  : b->run.max_seqs;
        step.assign(b->waiting.begin(), b->waiting.begin() + (long)batch);
        b->waiting.erase(b->waiting.begin(), b->waiting.begin() + (long)batch);
        lock.unlock();
        for (size_t k = 0; k < batch; k++)
            b->run.seqs_host[k] = step[k]->seq;
        const int rc = run_step(b->model, &b->run, (int)batch, err, sizeof err);
        for (size_t k = 0; k < batch; k++) {
            slot *sl = step[k];
            if (rc) {
                sl->failed = true;
                sl->error = err;
                continue;
            }
            sl->id = b->run.result_host[2 * k];
            sl->status = b->run.result_host[2 * k + 1];
            if (sl->status == NNCU_SAMPLE_OVERFLOW) {
                // the next step overwrites the logits: the job gets its row on the host
                const float *row = b->run.logits + k * (size_t)b->model->dims.vocab;
                if (nncu_check(cudaMemcpy(sl->j->ctx->logits_host, row,
                                          sl->j->n_rows * sizeof(float),
                                          cudaMemcpyDeviceToHost),
                               "copying the logits", err, sizeof err)) {
                    sl->failed = true;
                    sl->error = err;
                }
                sl->logits_on_host = true;
            }
        }
        lock.lock();
        for (slot *sl : step)
            sl->stepped = true;
        b->done.notify_all();
    }
}

extern "C" nn_qwen2_cuda_batcher *nn_qwen2_cuda_batcher_new(const nn_qwen2_cuda *m,
                                                            size_t max_jobs, char *err,
                                                            size_t err_size)
{
    if (max_jobs == 0) {
        snprintf(err, err_size, "a batcher needs room for at least one job");
        return nullptr;
    }
    if (nn_cuda_use_device(m->device, err, err_size))
        return nullptr;
    nn_qwen2_cuda_batcher *b = new (std::nothrow) nn_qwen2_cuda_batcher();
    if (!b) {
        snprintf(err, err_size, "out of memory for an LLM batcher");
        return nullptr;
    }
    b->model = m;
    if (runner_init(&b->run, m, max_jobs, max_jobs, err, err_size)) {
        delete b;
        return nullptr;
    }
    try {
        b->worker = std::thread(batcher_loop, b);
    } catch (...) {
        snprintf(err, err_size, "cannot start the batcher's thread");
        runner_free(&b->run);
        delete b;
        return nullptr;
    }
    return b;
}

extern "C" void nn_qwen2_cuda_batcher_free(nn_qwen2_cuda_batcher *b)
{
    if (!b)
        return;
    {
        std::lock_guard<std::mutex> g(b->mu);
        b->stop = true;
    }
    b->work.notify_all();
    if (b->worker.joinable())
        b->worker.join();
    runner_free(&b->run);
    delete b;
}

extern "C" int nn_qwen2_cuda_batcher_generate(nn_qwen2_cuda_batcher *b, nn_qwen2_cuda_ctx *ctx,
                                              const int32_t *prompt, size_t n,
                                              const nn_generate_params *params, int32_t *out,
                                              nn_generate_result *result, char *err,
                                              size_t err_size)
{
    if (ctx->model != b->model) {
        snprintf(err, err_size, "the context belongs to another model than the batcher's");
        return -1;
    }
    job j;
    j.ctx = ctx;
    j.p = params;
    j.out = out;
    j.res = result;
    if (start(&j, prompt, n, err, err_size))
        return -1;
    if (j.done) {
        result->decode_seconds = now_seconds() - j.t1;
        return 0;
    }
    slot sl;
    sl.j = &j;
    {
        std::lock_guard<std::mutex> g(b->mu);
        b->running++;
    }
    int rc = 0;
    while (!j.done) {
        fill_seq(&j, &sl.seq, out[result->tokens - 1]);
        sl.stepped = sl.failed = sl.logits_on_host = false;
        {
            std::unique_lock<std::mutex> lock(b->mu);
            b->waiting.push_back(&sl);
            b->work.notify_one();
            b->done.wait(lock, [&] { return sl.stepped; });
        }
        if (sl.failed) {
            snprintf(err, err_size, "a batched decode step: %s", sl.error.c_str());
            rc = -1;
            break;
        }
        ctx->length += 1;
        int t = take(&j, sl.id, sl.status, sl.logits_on_host ? nullptr : b->run.logits, nullptr,
                     sl.seq.draw, err, err_size);
        if (t < 0) {
            rc = -1;
            break;
        }
        j.done = t == 1;
    }
    {
        std::lock_guard<std::mutex> g(b->mu);
        b->running--;
    }
    b->work.notify_one(); // the batcher may be waiting for this job
    result->decode_seconds = now_seconds() - j.t1;
    return rc;
}
