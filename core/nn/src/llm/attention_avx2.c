/* attention_avx2.c - the decode attention kernels of attention_kernels.h with AVX2 + FMA +
 * F16C (this file is compiled with -mavx2 -mfma -mf16c; callers check the CPU first). The
 * head size is a multiple of 8. A key block (16 positions) is two vectors per dimension:
 * scores accumulate 4 heads x 16 positions in 8 registers and never sum across lanes. */
#include <immintrin.h>

#include "attention_kernels.h"
#include "kv_half.h"
#include "softmax_rows.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

enum { B = QWEN2_KV_BLOCK, SCORE_HEADS = 4, SUM_HEADS = 4 };

/* 8 elements at base[at] as f32 */
ALWAYS_INLINE __m256 load8(const void *base, nn_kv_type type, size_t at)
{
    if (type == NN_KV_F16)
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)base + at)));
    return _mm256_loadu_ps((const float *)base + at);
}

/* `heads` (a constant after inlining) query heads against every key block */
ALWAYS_INLINE void scores_heads(const float *q, size_t d, const void *k, nn_kv_type type,
                                size_t n, float scale, float *s, size_t ld_s,
                                const size_t heads)
{
    const size_t elem = type == NN_KV_F16 ? 2 : 4;
    for (size_t p0 = 0; p0 < n; p0 += B) {
        const size_t block = p0 / B * d * B;
        __m256 lo[SCORE_HEADS], hi[SCORE_HEADS];
        for (size_t h = 0; h < heads; h++)
            lo[h] = hi[h] = _mm256_setzero_ps();
        for (size_t i = 0; i < d; i++) {
            /* 4 blocks ahead: the hardware prefetcher alone leaves a cold cache stalling */
            _mm_prefetch((const char *)k + (block + (4 * d + i) * B) * elem, _MM_HINT_T0);
            const __m256 k0 = load8(k, type, block + i * B), k1 = load8(k, type, block + i * B + 8);
            for (size_t h = 0; h < heads; h++) {
                const __m256 qi = _mm256_broadcast_ss(q + h * d + i);
                lo[h] = _mm256_fmadd_ps(qi, k0, lo[h]);
                hi[h] = _mm256_fmadd_ps(qi, k1, hi[h]);
            }
        }
        const __m256 sc = _mm256_set1_ps(scale);
        const size_t count = n - p0 < B ? n - p0 : B;
        for (size_t h = 0; h < heads; h++) {
            float *out = s + h * ld_s + p0;
            if (count == B) {
                _mm256_storeu_ps(out, _mm256_mul_ps(lo[h], sc));
                _mm256_storeu_ps(out + 8, _mm256_mul_ps(hi[h], sc));
            } else { /* the last, partial block: only its positions fit in the row */
                float tmp[B];
                _mm256_storeu_ps(tmp, _mm256_mul_ps(lo[h], sc));
                _mm256_storeu_ps(tmp + 8, _mm256_mul_ps(hi[h], sc));
                for (size_t l = 0; l < count; l++)
                    out[l] = tmp[l];
            }
        }
    }
}

ALWAYS_INLINE void scores_typed(const float *q, size_t group, size_t d, const void *k,
                                const nn_kv_type type, size_t n, float scale, float *s)
{
    for (size_t h0 = 0; h0 < group; h0 += SCORE_HEADS) {
        const float *qh = q + h0 * d;
        float *sh = s + h0 * n;
        switch (group - h0 < SCORE_HEADS ? group - h0 : SCORE_HEADS) {
        case 1: scores_heads(qh, d, k, type, n, scale, sh, n, 1); break;
        case 2: scores_heads(qh, d, k, type, n, scale, sh, n, 2); break;
        case 3: scores_heads(qh, d, k, type, n, scale, sh, n, 3); break;
        default: scores_heads(qh, d, k, type, n, scale, sh, n, 4); break;
        }
    }
}

static void scores(const float *q, size_t group, size_t d, const void *k, nn_kv_type type,
                   size_t n, float scale, float *s)
{
    if (type == NN_KV_F16)
        scores_typed(q, group, d, k, NN_KV_F16, n, scale, s);
    else
        scores_typed(q, group, d, k, NN_KV_F32, n, scale, s);
}

static void softmax(float *s, size_t group, size_t n)
{
    causal_softmax(s, group, n, n, 0);
}

/* `heads` rows of s times `width` (1 or 2) vectors of dimensions from j0 of every value row */
ALWAYS_INLINE void sum_heads(const float *s, size_t ld_s, size_t n, const void *v,
                             nn_kv_type type, size_t ld, size_t j0, float *out, size_t d,
                             const size_t heads, const size_t width)
{
    __m256 acc[SUM_HEADS][2];
    for (size_t h = 0; h < heads; h++)
        for (size_t w = 0; w < width; w++)
            acc[h][w] = _mm256_setzero_ps();
    const size_t elem = type == NN_KV_F16 ? 2 : 4;
    for (size_t p = 0; p < n; p++) {
        _mm_prefetch((const char *)v + ((p + 160) * ld + j0) * elem, _MM_HINT_T0);
        __m256 row[2];
        for (size_t w = 0; w < width; w++)
            row[w] = load8(v, type, p * ld + j0 + 8 * w);
        for (size_t h = 0; h < heads; h++) {
            const __m256 weight = _mm256_broadcast_ss(s + h * ld_s + p);
            for (size_t w = 0; w < width; w++)
                acc[h][w] = _mm256_fmadd_ps(weight, row[w], acc[h][w]);
        }
    }
    for (size_t h = 0; h < heads; h++)
        for (size_t w = 0; w < width; w++)
            _mm256_storeu_ps(out + h * d + j0 + 8 * w, acc[h][w]);
}

ALWAYS_INLINE void sum_width(const float *s, size_t ld_s, size_t n, const void *v,
                             nn_kv_type type, size_t ld, size_t j0, float *out, size_t d,
                             size_t heads, const size_t width)
{
    switch (heads) {
    case 1: sum_heads(s, ld_s, n, v, type, ld, j0, out, d, 1, width); break;
    case 2: sum_heads(s, ld_s, n, v, type, ld, j0, out, d, 2, width); break;
    case 3: sum_heads(s, ld_s, n, v, type, ld, j0, out, d, 3, width); break;
    default: sum_heads(s, ld_s, n, v, type, ld, j0, out, d, 4, width); break;
    }
}

ALWAYS_INLINE void weighted_sum_typed(const float *s, size_t group, size_t n, const void *v,
                                      const nn_kv_type type, size_t ld, size_t d, float *out)
{
    for (size_t h0 = 0; h0 < group; h0 += SUM_HEADS) {
        const size_t heads = group - h0 < SUM_HEADS ? group - h0 : SUM_HEADS;
        for (size_t j0 = 0; j0 < d; j0 += 16) {
            if (d - j0 >= 16)
                sum_width(s + h0 * n, n, n, v, type, ld, j0, out + h0 * d, d, heads, 2);
            else
                sum_width(s + h0 * n, n, n, v, type, ld, j0, out + h0 * d, d, heads, 1);
        }
    }
}

static void weighted_sum(const float *s, size_t group, size_t n, const void *v,
                         nn_kv_type type, size_t ld, size_t d, float *out)
{
    if (type == NN_KV_F16)
        weighted_sum_typed(s, group, n, v, NN_KV_F16, ld, d, out);
    else
        weighted_sum_typed(s, group, n, v, NN_KV_F32, ld, d, out);
}

static void unpack_keys(const void *k, nn_kv_type type, size_t d, size_t n, float *out)
{
    for (size_t p0 = 0; p0 < n; p0 += B) {
        const size_t block = p0 / B * d * B, count = n - p0 < B ? n - p0 : B;
        for (size_t i = 0; i < d; i++) {
            float tmp[B];
            _mm256_storeu_ps(tmp, load8(k, type, block + i * B));
            _mm256_storeu_ps(tmp + 8, load8(k, type, block + i * B + 8));
            for (size_t l = 0; l < count; l++)
                out[(p0 + l) * d + i] = tmp[l];
        }
    }
}

static void f16_from_f32(const float *x, uint16_t *out, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(out + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        out[i] = kv_f32_to_f16(x[i]);
}

static void f32_from_f16(const uint16_t *x, float *out, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
    for (; i < n; i++)
        out[i] = kv_f16_to_f32(x[i]);
}

const qwen2_attention_kernels qwen2_attention_avx2 = {
    "avx2", scores, softmax, weighted_sum, unpack_keys, f16_from_f32, f32_from_f16,
};
