/* qwen2_cuda_internal.h - the device-side model of the CUDA LLM and the launchers of its
 * kernels (qwen2_kernels.cu, qwen2_sample.cu), shared with qwen2_cuda.cu; plain C, so the
 * sampler test (tests/gpu/test_gpu_sampler.c) can drive the sampling kernel directly. */
#ifndef SPARK_NN_QWEN2_CUDA_INTERNAL_H
#define SPARK_NN_QWEN2_CUDA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h> /* C: only the stream type is needed */

/* A weight matrix on the device, rows x cols in PyTorch's layout, rows padded to `stride`
 * elements (a multiple of 8, zero-filled) so a row is read in 16-byte pieces. */
typedef struct nncu_weight {
    void *data;
    size_t rows, cols, stride;
    bool bf16; /* else f32 */
} nncu_weight;

/* One sequence's entry of a step: everything that changes from one decode step to the next,
 * so a captured graph reads it from device memory instead of baking it in. */
typedef struct nncu_seq {
    float *k_cache, *v_cache; /* layer 0; layer l starts layer_stride floats further */
    size_t layer_stride;
    const int32_t *rows;      /* allowed head rows on the device; NULL: every row */
    double draw;              /* uniform in [0, 1): this step's multinomial draw */
    int32_t token;            /* id fed at this step (decode) */
    int32_t position;         /* its position; prefill: the chunk's first position */
    int32_t n_rows;           /* head rows computed (the vocabulary when rows is NULL) */
    int32_t top_k;
    float temperature, top_p;
    int32_t ban_count;        /* ids left out of sampling (stop ids before min_new_tokens) */
    int32_t ban_ids[4];
} nncu_seq;

/* Sampling outcome per sequence: [0] the id, [1] a status. */
enum { NNCU_SAMPLE_OK = 0, NNCU_SAMPLE_NONE = 1, NNCU_SAMPLE_OVERFLOW = 2 };
/* Candidates the GPU sorts after top-k; more are sampled on the host. */
#define NNCU_SAMPLE_CAP 4096

typedef struct nncu_dims {
    int hidden, heads, kv_heads, head_dim, q_dim, kv_dim, inter, vocab;
    float eps;
} nncu_dims;

#ifdef __cplusplus
extern "C" {
#endif

/* x[r] = row ids[r] (ids NULL: seqs[r].token) of the embedding, for r < rows. */
void nncu_embed(cudaStream_t st, const nncu_weight *embed, const int32_t *ids,
                const nncu_seq *seqs, int rows, float *x);
/* out[r] = x[r] * rsqrt(mean(x[r]^2) + eps) * w, rows of n. */
void nncu_rms_norm(cudaStream_t st, const float *x, const float *w, int rows, int n, float eps,
                   float *out);
/* y[b][r] (+)= dot(w[r], x[b]) (+ bias[r]) for b < batch <= 4; x rows of w->cols, y rows of
 * w->rows. */
void nncu_gemv(cudaStream_t st, const nncu_weight *w, int batch, const float *x,
               const float *bias, float *y, bool accumulate);
/* y[r][c] += bias[c]. */
void nncu_add_bias(cudaStream_t st, float *y, int rows, int cols, const float *bias);
/* bf16 copy (round to nearest even) of n floats. */
void nncu_to_bf16(cudaStream_t st, const float *x, size_t n, uint16_t *out);
/* NeoX rotary on the q and k heads of each qkv row, then k and v written to the cache of
 * `layer`. per_row: row r is sequence r at seqs[r].position (decode); else every row belongs
 * to seqs[0], row r at position seqs[0].position + r (prefill). */
void nncu_rope_kv(cudaStream_t st, const nncu_dims *d, const float *inv_freq, float *qkv,
                  int rows, const nncu_seq *seqs, bool per_row, int layer);
/* Causal grouped-query attention of every row's q heads over its cache: out rows of q_dim. */
void nncu_attention(cudaStream_t st, const nncu_dims *d, const float *qkv, int rows,
                    const nncu_seq *seqs, bool per_row, int layer, float *out);
/* out[r][i] = silu(gate_up[r][i]) * gate_up[r][inter + i]. */
void nncu_silu_mul(cudaStream_t st, const float *gate_up, int rows, int inter, float *out);
/* logits[b][i] = dot(embed[row_i], h[b]) for i < seqs[b].n_rows, b < batch. */
void nncu_head(cudaStream_t st, const nncu_weight *embed, const float *h, int batch,
               const nncu_seq *seqs, float *logits, size_t ld_logits);
/* One token per sequence from its logits (seqs[b] rules); result[b][0..1]. */
void nncu_sample(cudaStream_t st, const float *logits, size_t ld_logits, int batch,
                 const nncu_seq *seqs, int32_t *result);

#ifdef __cplusplus
}
#endif
#endif
