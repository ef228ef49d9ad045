/* qwen2_forward.c - the Qwen2 forward pass (spec 3.1): RMSNorm, fused q/k/v with biases,
 * NeoX rotary embedding, grouped-query causal attention over the KV cache, SwiGLU MLP, tied
 * output head. Decode (one position) uses matrix-vector products, prefill matrix-matrix
 * ones; norms, rotary, softmax and logits stay in f32. Arithmetic follows transformers'
 * order where it matters for the last bits (f32 rotary angles, scale after the dot). */
#define _POSIX_C_SOURCE 200809L
#include "qwen2_internal.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention_kernels.h"
#include "kv_half.h"
#include "softmax_rows.h"
#include "spark/nn/cpu.h"
#include "spark/nn/gemm.h"

nn_qwen2_ctx *nn_qwen2_ctx_new(const nn_qwen2 *model)
{
    nn_blas_single_threaded(); /* attention calls OpenBLAS inside pool tasks */
    nn_qwen2_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx) {
        ctx->model = model;
        ctx->kv_type = model->kv_type;
    }
    return ctx;
}

static void free_scratch(nn_qwen2_ctx *ctx)
{
    free(ctx->x);
    free(ctx->xn);
    free(ctx->qkv);
    free(ctx->attn);
    free(ctx->gate_up);
    free(ctx->mlp);
    free(ctx->rope);
    ctx->x = ctx->xn = ctx->qkv = ctx->attn = ctx->gate_up = ctx->mlp = ctx->rope = NULL;
    ctx->batch = 0;
}

void nn_qwen2_ctx_free(nn_qwen2_ctx *ctx)
{
    if (!ctx)
        return;
    free_scratch(ctx);
    free(ctx->k_cache);
    free(ctx->v_cache);
    free(ctx->k_rows);
    free(ctx->v_rows);
    free(ctx->scores);
    free(ctx);
}

size_t nn_qwen2_ctx_length(const nn_qwen2_ctx *ctx)
{
    return ctx->length;
}

void nn_qwen2_ctx_clear(nn_qwen2_ctx *ctx)
{
    ctx->length = 0;
}

static int ensure_batch(nn_qwen2_ctx *ctx, size_t batch, char *err, size_t err_size)
{
    if (batch <= ctx->batch)
        return 0;
    const nn_qwen2 *m = ctx->model;
    free_scratch(ctx);
    ctx->x = malloc(batch * m->hidden * sizeof(float));
    ctx->xn = malloc(batch * m->hidden * sizeof(float));
    ctx->qkv = malloc(batch * (m->q_dim + 2 * m->kv_dim) * sizeof(float));
    ctx->attn = malloc(batch * m->q_dim * sizeof(float));
    ctx->gate_up = malloc(batch * 2 * m->inter * sizeof(float));
    ctx->mlp = malloc(batch * m->inter * sizeof(float));
    ctx->rope = malloc(batch * m->head_dim * sizeof(float));
    if (!ctx->x || !ctx->xn || !ctx->qkv || !ctx->attn || !ctx->gate_up || !ctx->mlp ||
        !ctx->rope) {
        free_scratch(ctx);
        snprintf(err, err_size, "out of memory for the LLM scratch");
        return -1;
    }
    ctx->batch = batch;
    return 0;
}

int nn_qwen2_ctx_reserve(nn_qwen2_ctx *ctx, size_t positions, char *err, size_t err_size)
{
    const nn_qwen2 *m = ctx->model;
    if (positions > (size_t)m->config.max_position_embeddings) {
        snprintf(err, err_size, "%zu positions exceed max_position_embeddings %lld", positions,
                 (long long)m->config.max_position_embeddings);
        return -1;
    }
    if (ensure_batch(ctx, positions < QWEN2_PREFILL_CHUNK ? (positions ? positions : 1)
                                                          : QWEN2_PREFILL_CHUNK,
                     err, err_size))
        return -1;
    positions = (positions + QWEN2_KV_BLOCK - 1) / QWEN2_KV_BLOCK * QWEN2_KV_BLOCK;
    if (positions <= ctx->capacity)
        return 0;
    /* one KV head's keys and values are contiguous, so decode streams them without gaps;
     * zeroed, so the unused tail of the last key block holds finite numbers */
    const size_t elem = ctx->kv_type == NN_KV_F16 ? sizeof(uint16_t) : sizeof(float);
    const size_t cache_bytes = m->layer_count * positions * m->kv_dim * elem;
    const size_t rows_bytes = positions * m->kv_dim * sizeof(float);
    void *k = NULL, *v = NULL, *k_rows = NULL, *v_rows = NULL;
    float *scores = malloc(m->heads * QWEN2_QUERY_BLOCK * positions * sizeof *scores);
    bool ok = scores && !posix_memalign(&k, 64, cache_bytes) &&
              !posix_memalign(&v, 64, cache_bytes) && !posix_memalign(&k_rows, 64, rows_bytes) &&
              (ctx->kv_type == NN_KV_F32 || !posix_memalign(&v_rows, 64, rows_bytes));
    if (!ok) {
        free(k);
        free(v);
        free(k_rows);
        free(v_rows);
        free(scores);
        snprintf(err, err_size, "out of memory for a KV cache of %zu positions", positions);
        return -1;
    }
    memset(k, 0, cache_bytes);
    memset(v, 0, cache_bytes);
    /* both capacities are whole key blocks, so whole blocks move */
    const size_t used = (ctx->length + QWEN2_KV_BLOCK - 1) / QWEN2_KV_BLOCK * QWEN2_KV_BLOCK;
    const size_t head_old = ctx->capacity * m->head_dim * elem;
    const size_t head_new = positions * m->head_dim * elem;
    for (size_t b = 0; b < m->layer_count * m->kv_heads && used; b++) {
        memcpy((char *)k + b * head_new, (char *)ctx->k_cache + b * head_old,
               used * m->head_dim * elem);
        memcpy((char *)v + b * head_new, (char *)ctx->v_cache + b * head_old,
               used * m->head_dim * elem);
    }
    free(ctx->k_cache);
    free(ctx->v_cache);
    free(ctx->k_rows);
    free(ctx->v_rows);
    free(ctx->scores);
    ctx->k_cache = k;
    ctx->v_cache = v;
    ctx->k_rows = k_rows;
    ctx->v_rows = v_rows;
    ctx->scores = scores;
    ctx->capacity = positions;
    return 0;
}

/* out = x * rsqrt(mean(x^2) + eps) * w, the mean in f32 after a double sum */
static void rms_norm(const float *x, const float *w, size_t n, float eps, float *out)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (double)x[i] * x[i];
    float r = 1.0f / sqrtf((float)(sum / (double)n) + eps);
    for (size_t i = 0; i < n; i++)
        out[i] = w[i] * (x[i] * r);
}

/* NeoX rotate-half over one head: dims j and j + d/2 form a pair. */
static void rope_head(float *v, size_t d, const float *cosv, const float *sinv)
{
    size_t h = d / 2;
    for (size_t j = 0; j < h; j++) {
        float x1 = v[j], x2 = v[j + h];
        v[j] = x1 * cosv[j] + (-x2) * sinv[j];
        v[j + h] = x2 * cosv[j] + x1 * sinv[j];
    }
}

typedef struct attn_job {
    const nn_qwen2 *m;
    nn_qwen2_ctx *ctx;
    size_t layer, first_pos, count; /* queries at positions first_pos .. first_pos+count-1 */
    const qwen2_attention_kernels *kernels;
} attn_job;

/* One KV head's block of the cache: the layer's heads follow each other. */
static void *cache_head(const nn_qwen2_ctx *ctx, void *cache, size_t layer, size_t g)
{
    const nn_qwen2 *m = ctx->model;
    size_t elem = ctx->kv_type == NN_KV_F16 ? sizeof(uint16_t) : sizeof(float);
    return (char *)cache + (layer * m->kv_heads + g) * ctx->capacity * m->head_dim * elem;
}

/* Decode: the query heads that share one KV head are one group, so each key block and
 * value row is read once for all of them. Tasks are KV heads. */
static void attention_decode_task(void *arg, int task, int n_tasks)
{
    const attn_job *a = arg;
    const nn_qwen2 *m = a->m;
    nn_qwen2_ctx *ctx = a->ctx;
    const qwen2_attention_kernels *kern = a->kernels;
    size_t g0, g1;
    nn_pool_range(m->kv_heads, 1, task, n_tasks, &g0, &g1);
    const size_t d = m->head_dim, group = m->heads / m->kv_heads, n = a->first_pos + 1;
    const float scale = 1.0f / sqrtf((float)d);
    for (size_t g = g0; g < g1; g++) {
        float *s = ctx->scores + g * group * QWEN2_QUERY_BLOCK * ctx->capacity;
        float *out = ctx->attn + g * group * d;
        kern->scores(ctx->qkv + g * group * d, group, d, cache_head(ctx, ctx->k_cache, a->layer, g),
                     ctx->kv_type, n, scale, s);
        kern->softmax(s, group, n); /* every head sees all n positions */
        kern->weighted_sum(s, group, n, cache_head(ctx, ctx->v_cache, a->layer, g), ctx->kv_type,
                           d, d, out);
    }
}

/* Before prefill: the layer's cached keys (and f16 values) up to the chunk's last position
 * as f32 rows for the matrix products. Tasks are KV heads. */
static void unpack_rows_task(void *arg, int task, int n_tasks)
{
    const attn_job *a = arg;
    const nn_qwen2 *m = a->m;
    nn_qwen2_ctx *ctx = a->ctx;
    size_t g0, g1;
    nn_pool_range(m->kv_heads, 1, task, n_tasks, &g0, &g1);
    const size_t d = m->head_dim, n = a->first_pos + a->count;
    for (size_t g = g0; g < g1; g++) {
        a->kernels->unpack_keys(cache_head(ctx, ctx->k_cache, a->layer, g), ctx->kv_type, d, n,
                                ctx->k_rows + g * ctx->capacity * d);
        if (ctx->kv_type == NN_KV_F16)
            a->kernels->f32_from_f16(cache_head(ctx, ctx->v_cache, a->layer, g),
                                     ctx->v_rows + g * ctx->capacity * d, n * d);
    }
}

/* Prefill: per query head, blocks of queries against every cached position up to the
 * block's last one, future positions masked. Tasks are query heads. */
static void attention_prefill_task(void *arg, int task, int n_tasks)
{
    const attn_job *a = arg;
    const nn_qwen2 *m = a->m;
    nn_qwen2_ctx *ctx = a->ctx;
    size_t h0, h1;
    nn_pool_range(m->heads, 1, task, n_tasks, &h0, &h1);
    const size_t d = m->head_dim, group = m->heads / m->kv_heads;
    const size_t qkv_w = m->q_dim + 2 * m->kv_dim;
    const float scale = 1.0f / sqrtf((float)d);
    for (size_t h = h0; h < h1; h++) {
        float *s = ctx->scores + h * QWEN2_QUERY_BLOCK * ctx->capacity;
        const size_t g = h / group;
        const float *kc = ctx->k_rows + g * ctx->capacity * d;
        const float *vc = ctx->kv_type == NN_KV_F16
                              ? ctx->v_rows + g * ctx->capacity * d
                              : cache_head(ctx, ctx->v_cache, a->layer, g);
        for (size_t t0 = 0; t0 < a->count; t0 += QWEN2_QUERY_BLOCK) {
            size_t rows = a->count - t0 < QWEN2_QUERY_BLOCK ? a->count - t0 : QWEN2_QUERY_BLOCK;
            size_t n = a->first_pos + t0 + rows; /* positions the block's last query sees */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)n, (int)d,
                        scale, ctx->qkv + t0 * qkv_w + h * d, (int)qkv_w, kc,
                        (int)d, 0.0f, s, (int)n);
            causal_softmax(s, rows, n, a->first_pos + t0 + 1, 1);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)d, (int)n,
                        1.0f, s, (int)n, vc, (int)d, 0.0f,
                        ctx->attn + t0 * m->q_dim + h * d, (int)m->q_dim);
        }
    }
}

static void linear(nn_pool *pool, const nn_weight *w, size_t n, const float *x,
                   const float *bias, float *y)
{
    if (n == 1)
        nn_matvec(pool, w, x, bias, y);
    else
        nn_matmul_weight(pool, w, n, x, bias, y);
}

/* Writes one position's key (into its block, dimension-major) and value row of KV head g. */
static void store_kv(nn_qwen2_ctx *ctx, const qwen2_attention_kernels *kernels, size_t layer,
                     size_t g, size_t pos, const float *key, const float *value)
{
    const size_t d = ctx->model->head_dim;
    void *kc = cache_head(ctx, ctx->k_cache, layer, g);
    void *vc = cache_head(ctx, ctx->v_cache, layer, g);
    if (ctx->kv_type == NN_KV_F16) {
        uint16_t *k16 = kc;
        for (size_t i = 0; i < d; i++)
            k16[qwen2_key_index(pos, i, d)] = kv_f32_to_f16(key[i]);
        kernels->f16_from_f32(value, (uint16_t *)vc + pos * d, d);
    } else {
        float *k32 = kc;
        for (size_t i = 0; i < d; i++)
            k32[qwen2_key_index(pos, i, d)] = key[i];
        memcpy((float *)vc + pos * d, value, d * sizeof(float));
    }
}

/* One chunk of positions through every layer; x holds their embeddings on entry and their
 * final hidden states on return. */
static void forward_chunk(nn_qwen2_ctx *ctx, nn_pool *pool, size_t count)
{
    const nn_qwen2 *m = ctx->model;
    const qwen2_attention_kernels *kernels = qwen2_attention_for(nn_cpu_isa(), m->head_dim);
    const size_t H = m->hidden, d = m->head_dim, qkv_w = m->q_dim + 2 * m->kv_dim;
    const size_t first = ctx->length, half = d / 2;
    /* rotary cos/sin of each position, once for all layers: f32 angles as transformers */
    for (size_t t = 0; t < count; t++) {
        float pos = (float)(first + t);
        for (size_t j = 0; j < half; j++) {
            float angle = pos * m->inv_freq[j];
            ctx->rope[t * d + j] = (float)cos((double)angle);
            ctx->rope[t * d + half + j] = (float)sin((double)angle);
        }
    }
    for (size_t l = 0; l < m->layer_count; l++) {
        const qwen2_layer *L = &m->layers[l];
        for (size_t t = 0; t < count; t++)
            rms_norm(ctx->x + t * H, L->norm_in, H, m->eps, ctx->xn + t * H);
        linear(pool, &L->qkv, count, ctx->xn, L->qkv_bias, ctx->qkv);
        for (size_t t = 0; t < count; t++) {
            const float *cosv = ctx->rope + t * d, *sinv = cosv + half;
            float *row = ctx->qkv + t * qkv_w;
            for (size_t h = 0; h < m->heads + m->kv_heads; h++)
                rope_head(row + h * d, d, cosv, sinv); /* q heads, then k heads */
            for (size_t g = 0; g < m->kv_heads; g++)
                store_kv(ctx, kernels, l, g, first + t, row + m->q_dim + g * d,
                         row + m->q_dim + m->kv_dim + g * d);
        }
        attn_job a = {m, ctx, l, first, count, kernels};
        int tasks = pool ? nn_pool_threads(pool) : 1;
        int kv_tasks = tasks < (int)m->kv_heads ? tasks : (int)m->kv_heads;
        if (count == 1) {
            nn_pool_run(pool, attention_decode_task, &a, kv_tasks);
        } else {
            nn_pool_run(pool, unpack_rows_task, &a, kv_tasks);
            nn_pool_run(pool, attention_prefill_task, &a,
                        tasks < (int)m->heads ? tasks : (int)m->heads);
        }
        linear(pool, &L->o, count, ctx->attn, NULL, ctx->xn);
        for (size_t i = 0; i < count * H; i++)
            ctx->x[i] += ctx->xn[i];
        for (size_t t = 0; t < count; t++)
            rms_norm(ctx->x + t * H, L->norm_post, H, m->eps, ctx->xn + t * H);
        linear(pool, &L->gate_up, count, ctx->xn, NULL, ctx->gate_up);
        for (size_t t = 0; t < count; t++) {
            const float *g = ctx->gate_up + t * 2 * m->inter, *u = g + m->inter;
            float *o = ctx->mlp + t * m->inter;
            for (size_t i = 0; i < m->inter; i++)
                o[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
        }
        linear(pool, &L->down, count, ctx->mlp, NULL, ctx->xn);
        for (size_t i = 0; i < count * H; i++)
            ctx->x[i] += ctx->xn[i];
    }
    ctx->length += count;
}

int nn_qwen2_forward(nn_qwen2_ctx *ctx, nn_pool *pool, const int32_t *ids, size_t n,
                     const int32_t *rows, size_t n_rows, float *logits, char *err,
                     size_t err_size)
{
    const nn_qwen2 *m = ctx->model;
    if (n == 0) {
        snprintf(err, err_size, "no token to feed the LLM");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (size_t)ids[i] >= m->vocab) {
            snprintf(err, err_size, "token id %d at position %zu is outside the vocabulary "
                     "[0, %zu)", ids[i], ctx->length + i, m->vocab);
            return -1;
        }
    for (size_t i = 0; rows && i < n_rows; i++)
        if (rows[i] < 0 || (size_t)rows[i] >= m->vocab) {
            snprintf(err, err_size, "output row %d is outside the vocabulary", rows[i]);
            return -1;
        }
    if (ctx->length + n > ctx->capacity) {
        size_t want = ctx->capacity * 2 > ctx->length + n ? ctx->capacity * 2 : ctx->length + n;
        if (want > (size_t)m->config.max_position_embeddings)
            want = ctx->length + n;
        if (nn_qwen2_ctx_reserve(ctx, want, err, err_size))
            return -1;
    }
    size_t chunk = n < QWEN2_PREFILL_CHUNK ? n : QWEN2_PREFILL_CHUNK;
    if (ensure_batch(ctx, chunk, err, err_size))
        return -1;
    size_t last = 0;
    for (size_t done = 0; done < n; done += chunk) {
        size_t count = n - done < chunk ? n - done : chunk;
        for (size_t t = 0; t < count; t++)
            nn_weight_row_f32(&m->embed, (size_t)ids[done + t], ctx->x + t * m->hidden);
        forward_chunk(ctx, pool, count);
        last = count - 1;
    }
    if (!logits)
        return 0;
    float *h = ctx->xn; /* free after the chunk: holds the last position's final norm */
    rms_norm(ctx->x + last * m->hidden, m->norm_final, m->hidden, m->eps, h);
    if (rows)
        nn_matvec_rows(pool, &m->embed, rows, n_rows, h, logits);
    else
        nn_matvec(pool, &m->embed, h, NULL, logits);
    return 0;
}
