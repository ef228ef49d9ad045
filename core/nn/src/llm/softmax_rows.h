/* softmax_rows.h - the causal softmax of attention scores, as static inline code that each
 * including file compiles for its own instruction set: qwen2_forward.c for the baseline
 * x86-64 (prefill, and CPUs without AVX2), attention_avx2.c with AVX2 + FMA (decode), where
 * the same loops vectorise twice as wide. The arithmetic is the same in both. */
#ifndef SPARK_NN_SOFTMAX_ROWS_H
#define SPARK_NN_SOFTMAX_ROWS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* exp(x) for -87 <= x <= 0 (a softmax after its maximum is subtracted, clamped by the
 * caller), within 2 ulp of expf: x = n ln2 + r with |r| <= ln2/2 (Cody-Waite), exp(r) by a
 * degree-6 polynomial, 2^n put into the exponent bits. Plain arithmetic only (n is rounded
 * by the 1.5 * 2^23 trick, not floorf; no branch), so loops over it vectorise even for the
 * baseline x86-64 the rest of the library is built for. */
static inline float exp_nonpositive(float x)
{
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float n = (x * 1.44269504088896341f + magic) - magic;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) * (1 << 23);
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

enum { LANES = 8 }; /* independent partial results, so the loops below vectorise */

static inline float max_of(const float *r, size_t n)
{
    float m[LANES];
    for (int j = 0; j < LANES; j++)
        m[j] = -INFINITY;
    size_t p = 0;
    for (; p + LANES <= n; p += LANES)
        for (int j = 0; j < LANES; j++)
            m[j] = r[p + j] > m[j] ? r[p + j] : m[j];
    float mx = -INFINITY;
    for (int j = 0; j < LANES; j++)
        mx = m[j] > mx ? m[j] : mx;
    for (; p < n; p++)
        mx = r[p] > mx ? r[p] : mx;
    return mx;
}

/* r[p] = exp(r[p] - mx); returns their sum. Below -87 the exponent counts as -87
 * (exp(-87) is 1.6e-38, nothing next to the maximum's 1). */
static inline float exp_and_sum(float *r, size_t n, float mx)
{
    size_t p = 0;
    for (; p + LANES <= n; p += LANES)
        for (int j = 0; j < LANES; j++) {
            float x = r[p + j] - mx;
            r[p + j] = x > -87.0f ? x : -87.0f;
        }
    for (; p < n; p++) {
        float x = r[p] - mx;
        r[p] = x > -87.0f ? x : -87.0f;
    }
    float acc[LANES] = {0};
    p = 0;
    for (; p + LANES <= n; p += LANES)
        for (int j = 0; j < LANES; j++) {
            float e = exp_nonpositive(r[p + j]);
            r[p + j] = e;
            acc[j] += e;
        }
    float sum = 0;
    for (int j = 0; j < LANES; j++)
        sum += acc[j];
    for (; p < n; p++) {
        r[p] = exp_nonpositive(r[p]);
        sum += r[p];
    }
    return sum;
}

/* Softmax of each row j of s (row stride ld) over its first first_valid + j * growth
 * entries; the later (future) entries become 0, so the product with V ignores them. */
static inline void causal_softmax(float *s, size_t rows, size_t ld, size_t first_valid, size_t growth)
{
    for (size_t j = 0; j < rows; j++) {
        float *r = s + j * ld;
        size_t valid = first_valid + j * growth;
        float inv = 1.0f / exp_and_sum(r, valid, max_of(r, valid));
        size_t p = 0;
        for (; p + LANES <= valid; p += LANES)
            for (int k = 0; k < LANES; k++)
                r[p + k] *= inv;
        for (; p < valid; p++)
            r[p] *= inv;
        for (size_t p = valid; p < ld; p++)
            r[p] = 0;
    }
}

#endif
