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
#include "softmax_rows.h"
#include "spark/nn/cpu.h"
#include "spark/nn/gemm.h"

nn_qwen2_ctx *nn_qwen2_ctx_new(const nn_qwen2 *model)
{
    nn_blas_single_threaded(); /* attention calls OpenBLAS inside pool tasks */
    nn_qwen2_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx)
        ctx->model = model;
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
    if (positions <= ctx->capacity)
        return 0;
    size_t per_layer = positions * m->kv_dim;
    float *k = malloc(m->layer_count * per_layer * sizeof *k);
    float *v = malloc(m->layer_count * per_layer * sizeof *v);
    float *scores = malloc(m->heads * QWEN2_QUERY_BLOCK * positions * sizeof *scores);
    if (!k || !v || !scores) {
        free(k);
        free(v);
        free(scores);
        snprintf(err, err_size, "out of memory for a KV cache of %zu positions", positions);
        return -1;
    }
    /* [layer][kv head][position][head_dim]: one head's keys are contiguous, so decode
     * streams them without gaps */
    const size_t d = m->head_dim;
    for (size_t b = 0; b < m->layer_count * m->kv_heads && ctx->length; b++) {
        memcpy(k + b * positions * d, ctx->k_cache + b * ctx->capacity * d,
               ctx->length * d * sizeof *k);
        memcpy(v + b * positions * d, ctx->v_cache + b * ctx->capacity * d,
               ctx->length * d * sizeof *v);
    }
    free(ctx->k_cache);
    free(ctx->v_cache);
    free(ctx->scores);
    ctx->k_cache = k;
    ctx->v_cache = v;
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
    bool avx2;                      /* decode with the AVX2 kernels */
} attn_job;

/* Decode: the query heads that share one KV head form one matrix, so each key and value
 * row is read once for all of them. Tasks are KV heads. */
static void attention_decode_task(void *arg, int task, int n_tasks)
{
    const attn_job *a = arg;
    const nn_qwen2 *m = a->m;
    nn_qwen2_ctx *ctx = a->ctx;
    size_t g0, g1;
    nn_pool_range(m->kv_heads, 1, task, n_tasks, &g0, &g1);
    const size_t d = m->head_dim, group = m->heads / m->kv_heads, n = a->first_pos + 1;
    const float scale = 1.0f / sqrtf((float)d);
    for (size_t g = g0; g < g1; g++) {
        const float *kc = ctx->k_cache + (a->layer * m->kv_heads + g) * ctx->capacity * d;
        const float *vc = ctx->v_cache + (a->layer * m->kv_heads + g) * ctx->capacity * d;
        float *s = ctx->scores + g * group * QWEN2_QUERY_BLOCK * ctx->capacity;
        const float *q = ctx->qkv + g * group * d;
        float *out = ctx->attn + g * group * d;
        if (a->avx2) {
            qwen2_scores_avx2(q, group, d, kc, d, n, scale, s);
            qwen2_softmax_rows_avx2(s, group, n); /* every head sees all n positions */
            qwen2_weighted_sum_avx2(s, group, n, vc, d, d, out);
            continue;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)group, (int)n, (int)d, scale,
                    q, (int)d, kc, (int)d, 0.0f, s, (int)n);
        causal_softmax(s, group, n, n, 0);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)group, (int)d, (int)n, 1.0f,
                    s, (int)n, vc, (int)d, 0.0f, out, (int)d);
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
        const float *kc = ctx->k_cache + (a->layer * m->kv_heads + g) * ctx->capacity * d;
        const float *vc = ctx->v_cache + (a->layer * m->kv_heads + g) * ctx->capacity * d;
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

/* One chunk of positions through every layer; x holds their embeddings on entry and their
 * final hidden states on return. */
static void forward_chunk(nn_qwen2_ctx *ctx, nn_pool *pool, size_t count)
{
    const nn_qwen2 *m = ctx->model;
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
        float *kc = ctx->k_cache + l * m->kv_heads * ctx->capacity * d;
        float *vc = ctx->v_cache + l * m->kv_heads * ctx->capacity * d;
        for (size_t t = 0; t < count; t++) {
            const float *cosv = ctx->rope + t * d, *sinv = cosv + half;
            float *row = ctx->qkv + t * qkv_w;
            for (size_t h = 0; h < m->heads + m->kv_heads; h++)
                rope_head(row + h * d, d, cosv, sinv); /* q heads, then k heads */
            for (size_t g = 0; g < m->kv_heads; g++) {
                size_t at = (g * ctx->capacity + first + t) * d;
                memcpy(kc + at, row + m->q_dim + g * d, d * sizeof(float));
                memcpy(vc + at, row + m->q_dim + m->kv_dim + g * d, d * sizeof(float));
            }
        }
        attn_job a = {m, ctx, l, first, count,
                      nn_cpu_isa() >= NN_ISA_AVX2 && d % 8 == 0};
        int tasks = pool ? nn_pool_threads(pool) : 1;
        if (count == 1)
            nn_pool_run(pool, attention_decode_task, &a,
                        tasks < (int)m->kv_heads ? tasks : (int)m->kv_heads);
        else
            nn_pool_run(pool, attention_prefill_task, &a,
                        tasks < (int)m->heads ? tasks : (int)m->heads);
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
