/* attention_avx512.c - the decode attention kernels of attention_kernels.h with AVX-512F
 * (compiled for AVX-512; callers check the CPU first). The head size is a multiple of 16. A
 * key block (16 positions) is one vector per dimension: scores accumulate up to 8 heads x 16
 * positions in 8 registers, the query element a broadcast operand of each FMA, and never sum
 * across lanes; the weighted sum keeps 8 heads x 32 dimensions in 16 registers, so each
 * value row is read once per 32 dimensions for 8 heads. */
#include <immintrin.h>

#include "attention_kernels.h"
#include <math.h>

#include "kv_half.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

enum { B = QWEN2_KV_BLOCK, HEADS = 8 };

/* 16 elements at base[at] as f32 */
ALWAYS_INLINE __m512 load16(const void *base, nn_kv_type type, size_t at)
{
    if (type == NN_KV_F16)
        return _mm512_cvtph_ps(
            _mm256_loadu_si256((const __m256i *)((const uint16_t *)base + at)));
    return _mm512_loadu_ps((const float *)base + at);
}

/* `blocks` (1 or 2) key blocks from position p0: a broadcast query element serves both */
ALWAYS_INLINE void score_blocks(const float *q, size_t d, const void *k, nn_kv_type type,
                                size_t n, size_t p0, __m512 sc, float *s, size_t ld_s,
                                const size_t heads, const size_t blocks)
{
    const void *kb = (const char *)k + p0 / B * d * B * (type == NN_KV_F16 ? 2 : 4);
    __m512 acc[2][HEADS];
    for (size_t b = 0; b < blocks; b++)
        for (size_t h = 0; h < heads; h++)
            acc[b][h] = _mm512_setzero_ps();
    /* 4 iterations ahead, a line per dimension row: the hardware prefetcher alone leaves a
     * cold cache stalling (one KV head's keys and values are not in cache at decode) */
    const size_t row_bytes = B * (type == NN_KV_F16 ? 2 : 4), ahead = 4 * blocks * d * row_bytes;
    for (size_t i = 0; i < d; i++) {
        _mm_prefetch((const char *)kb + ahead + i * row_bytes, _MM_HINT_T0);
        __m512 key[2];
        for (size_t b = 0; b < blocks; b++)
            key[b] = load16(kb, type, (b * d + i) * B);
        for (size_t h = 0; h < heads; h++) {
            const __m512 qi = _mm512_set1_ps(q[h * d + i]);
            for (size_t b = 0; b < blocks; b++)
                acc[b][h] = _mm512_fmadd_ps(qi, key[b], acc[b][h]);
        }
    }
    for (size_t b = 0; b < blocks; b++) {
        const size_t at = p0 + b * B, count = n - at < B ? n - at : B;
        const __mmask16 mask = (__mmask16)(count == B ? 0xffffu : (1u << count) - 1);
        for (size_t h = 0; h < heads; h++) /* the last block stores only its positions */
            _mm512_mask_storeu_ps(s + h * ld_s + at, mask, _mm512_mul_ps(acc[b][h], sc));
    }
}

ALWAYS_INLINE void scores_heads(const float *q, size_t d, const void *k, nn_kv_type type,
                                size_t n, float scale, float *s, size_t ld_s,
                                const size_t heads)
{
    const __m512 sc = _mm512_set1_ps(scale);
    size_t p0 = 0;
    for (; p0 + B < n; p0 += 2 * B)
        score_blocks(q, d, k, type, n, p0, sc, s, ld_s, heads, 2);
    if (p0 < n)
        score_blocks(q, d, k, type, n, p0, sc, s, ld_s, heads, 1);
}

ALWAYS_INLINE void scores_typed(const float *q, size_t group, size_t d, const void *k,
                                const nn_kv_type type, size_t n, float scale, float *s)
{
    for (size_t h0 = 0; h0 < group; h0 += HEADS) {
        const float *qh = q + h0 * d;
        float *sh = s + h0 * n;
        switch (group - h0 < HEADS ? group - h0 : HEADS) {
        case 1: scores_heads(qh, d, k, type, n, scale, sh, n, 1); break;
        case 2: scores_heads(qh, d, k, type, n, scale, sh, n, 2); break;
        case 3: scores_heads(qh, d, k, type, n, scale, sh, n, 3); break;
        case 4: scores_heads(qh, d, k, type, n, scale, sh, n, 4); break;
        case 5: scores_heads(qh, d, k, type, n, scale, sh, n, 5); break;
        case 6: scores_heads(qh, d, k, type, n, scale, sh, n, 6); break;
        case 7: scores_heads(qh, d, k, type, n, scale, sh, n, 7); break;
        default: scores_heads(qh, d, k, type, n, scale, sh, n, 8); break;
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

/* exp(x) for -87 <= x <= 0: exp_nonpositive of softmax_rows.h with FMAs, 2^n by VSCALEFPS */
ALWAYS_INLINE __m512 exp16(__m512 x)
{
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    __m512 n = _mm512_sub_ps(
        _mm512_add_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), magic), magic);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

/* causal_softmax of softmax_rows.h over whole rows, 16 lanes at a time */
static void softmax(float *s, size_t group, size_t n)
{
    const size_t tail = n % 16, body = n - tail;
    const __mmask16 mask = (__mmask16)((1u << tail) - 1);
    const __m512 floor = _mm512_set1_ps(-87.0f);
    for (size_t h = 0; h < group; h++) {
        float *r = s + h * n;
        __m512 mx = _mm512_set1_ps(-INFINITY);
        for (size_t p = 0; p < body; p += 16)
            mx = _mm512_max_ps(mx, _mm512_loadu_ps(r + p));
        mx = _mm512_mask_max_ps(mx, mask, mx, _mm512_maskz_loadu_ps(mask, r + body));
        const __m512 top = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
        __m512 sum = _mm512_setzero_ps();
        for (size_t p = 0; p < body; p += 16) {
            __m512 e = exp16(_mm512_max_ps(_mm512_sub_ps(_mm512_loadu_ps(r + p), top), floor));
            _mm512_storeu_ps(r + p, e);
            sum = _mm512_add_ps(sum, e);
        }
        if (tail) {
            __m512 x = _mm512_sub_ps(_mm512_maskz_loadu_ps(mask, r + body), top);
            __m512 e = exp16(_mm512_max_ps(x, floor));
            _mm512_mask_storeu_ps(r + body, mask, e);
            sum = _mm512_mask_add_ps(sum, mask, sum, e);
        }
        const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
        for (size_t p = 0; p < body; p += 16)
            _mm512_storeu_ps(r + p, _mm512_mul_ps(_mm512_loadu_ps(r + p), inv));
        if (tail)
            _mm512_mask_storeu_ps(r + body, mask,
                                  _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, r + body), inv));
    }
}

/* `heads` rows of s times `width` (1 or 2) vectors of dimensions from j0 of every value row */
ALWAYS_INLINE void sum_heads(const float *s, size_t ld_s, size_t n, const void *v,
                             nn_kv_type type, size_t ld, size_t j0, float *out, size_t d,
                             const size_t heads, const size_t width)
{
    __m512 acc[HEADS][2];
    for (size_t h = 0; h < heads; h++)
        for (size_t w = 0; w < width; w++)
            acc[h][w] = _mm512_setzero_ps();
    const size_t elem = type == NN_KV_F16 ? 2 : 4;
    for (size_t p = 0; p < n; p++) {
        for (size_t w = 0; w < width; w++) /* 160 rows ahead: ~20 KiB of f16 rows */
            _mm_prefetch((const char *)v + ((p + 160) * ld + j0 + 16 * w) * elem, _MM_HINT_T0);
        __m512 row[2];
        for (size_t w = 0; w < width; w++)
            row[w] = load16(v, type, p * ld + j0 + 16 * w);
        for (size_t h = 0; h < heads; h++) {
            const __m512 weight = _mm512_set1_ps(s[h * ld_s + p]);
            for (size_t w = 0; w < width; w++)
                acc[h][w] = _mm512_fmadd_ps(weight, row[w], acc[h][w]);
        }
    }
    for (size_t h = 0; h < heads; h++)
        for (size_t w = 0; w < width; w++)
            _mm512_storeu_ps(out + h * d + j0 + 16 * w, acc[h][w]);
}

ALWAYS_INLINE void sum_width(const float *s, size_t ld_s, size_t n, const void *v,
                             nn_kv_type type, size_t ld, size_t j0, float *out, size_t d,
                             size_t heads, const size_t width)
{
    switch (heads) {
    case 1: sum_heads(s, ld_s, n, v, type, ld, j0, out, d, 1, width); break;
    case 2: sum_heads(s, ld_s, n, v, type, ld, j0, out, d, 2, width); break;
    case 3: sum_heads(s, ld_s, n, v, type, ld, j0, out, d, 3, width); break;
    case 4: sum_heads(s, ld_s, n, v, type, ld, j0, out, d, 4, width); break;
    case 5: sum_heads(s, ld_s, n, v, type, ld, j0, out, d, 5, width); break;
    case 6: sum_heads(s, ld_s, n, v, type, ld, j0, out, d, 6, width); break;
    case 7: sum_heads(s, ld_s, n, v, type, ld, j0, out, d, 7, width); break;
    default: sum_heads(s, ld_s, n, v, type, ld, j0, out, d, 8, width); break;
    }
}

ALWAYS_INLINE void weighted_sum_typed(const float *s, size_t group, size_t n, const void *v,
                                      const nn_kv_type type, size_t ld, size_t d, float *out)
{
    for (size_t h0 = 0; h0 < group; h0 += HEADS) {
        const size_t heads = group - h0 < HEADS ? group - h0 : HEADS;
        for (size_t j0 = 0; j0 < d; j0 += 32) {
            if (d - j0 >= 32)
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
            _mm512_storeu_ps(tmp, load16(k, type, block + i * B));
            for (size_t l = 0; l < count; l++)
                out[(p0 + l) * d + i] = tmp[l];
        }
    }
}

static void f16_from_f32(const float *x, uint16_t *out, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(out + i),
                            _mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        out[i] = kv_f32_to_f16(x[i]);
}

static void f32_from_f16(const uint16_t *x, float *out, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(out + i,
                         _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i))));
    for (; i < n; i++)
        out[i] = kv_f16_to_f32(x[i]);
}

const qwen2_attention_kernels qwen2_attention_avx512 = {
    "avx512", scores, softmax, weighted_sum, unpack_keys, f16_from_f32, f32_from_f16,
};
