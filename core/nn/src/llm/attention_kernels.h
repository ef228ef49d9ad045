/* attention_kernels.h - decode attention of one group of query heads that share a KV head,
 * over the KV cache of nn_qwen2_ctx (keys in blocks of QWEN2_KV_BLOCK positions, values in
 * rows; f32 or f16 elements), and the conversions around that cache. One family of kernels
 * per instruction set: the portable reference (attention.c), AVX2 + FMA + F16C
 * (attention_avx2.c) and AVX-512 (attention_avx512.c); qwen2_attention_for picks one. */
#ifndef SPARK_NN_ATTENTION_KERNELS_H
#define SPARK_NN_ATTENTION_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "qwen2_internal.h"
#include "spark/nn/cpu.h"

typedef struct qwen2_attention_kernels {
    const char *name;
    /* s[h * n + p] = dot(q[h * d ..], key p) * scale, for h < group, p < n; k is one KV
     * head's key blocks. Each key block is read once for up to 8 heads, each score vector
     * holds one dimension of a block's positions: no horizontal sums. */
    void (*scores)(const float *q, size_t group, size_t d, const void *k, nn_kv_type type,
                   size_t n, float scale, float *s);
    /* softmax of each of the group rows of s (n entries each), in place */
    void (*softmax)(float *s, size_t group, size_t n);
    /* out[h * d + i] = sum_p s[h * n + p] * v[p * ld + i], for h < group, i < d: each value
     * row is read once for up to 8 heads */
    void (*weighted_sum)(const float *s, size_t group, size_t n, const void *v,
                         nn_kv_type type, size_t ld, size_t d, float *out);
    /* out[p * d + i] = key p dimension i as f32, for p < n: the rows prefill multiplies */
    void (*unpack_keys)(const void *k, nn_kv_type type, size_t d, size_t n, float *out);
    void (*f16_from_f32)(const float *x, uint16_t *out, size_t n);
    void (*f32_from_f16)(const uint16_t *x, float *out, size_t n);
} qwen2_attention_kernels;

extern const qwen2_attention_kernels qwen2_attention_scalar;
extern const qwen2_attention_kernels qwen2_attention_avx2;   /* d % 8 == 0 */
extern const qwen2_attention_kernels qwen2_attention_avx512; /* d % 16 == 0 */

/* The fastest family that isa allows for head size d. */
const qwen2_attention_kernels *qwen2_attention_for(nn_isa isa, size_t d);

/* Where key p, dimension i of one KV head lies in its key blocks. */
static inline size_t qwen2_key_index(size_t p, size_t i, size_t d)
{
    return ((p / QWEN2_KV_BLOCK) * d + i) * QWEN2_KV_BLOCK + p % QWEN2_KV_BLOCK;
}

#endif
