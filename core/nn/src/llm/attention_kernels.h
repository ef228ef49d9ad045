/* attention_kernels.h - decode attention of one group of query heads that share a KV head,
 * over the f32 KV cache: the scores q.k * scale, and the weighted sum of value rows. The AVX2
 * versions (attention_avx2.c, compiled for AVX2 + FMA, used when the CPU has them) read each
 * key and value row once for the whole group; elsewhere OpenBLAS does the two products. */
#ifndef SPARK_NN_ATTENTION_KERNELS_H
#define SPARK_NN_ATTENTION_KERNELS_H

#include <stddef.h>

/* s[h * n + p] = dot(q[h * d ..], k[p * ld ..]) * scale, for h < group, p < n; d % 8 == 0 */
void qwen2_scores_avx2(const float *q, size_t group, size_t d, const float *k, size_t ld,
                       size_t n, float scale, float *s);

/* Softmax of each of the group rows of s (n entries each), in place: causal_softmax of
 * softmax_rows.h compiled for AVX2 + FMA. */
void qwen2_softmax_rows_avx2(float *s, size_t group, size_t n);

/* out[h * d + i] = sum_p s[h * n + p] * v[p * ld + i], for h < group, i < d; d % 8 == 0 */
void qwen2_weighted_sum_avx2(const float *s, size_t group, size_t n, const float *v, size_t ld,
                             size_t d, float *out);

#endif
