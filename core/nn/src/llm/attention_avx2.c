/* attention_avx2.c - the decode attention products of attention_kernels.h with AVX2 + FMA
 * (this file is compiled with -mavx2 -mfma; callers check the CPU first). The head size is a
 * multiple of 8. Each head's cached keys and values are rows of one contiguous block (the
 * caller's layout), which the hardware prefetcher streams well. */
#include <immintrin.h>

#include "attention_kernels.h"
#include "softmax_rows.h"

static inline float hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

void qwen2_scores_avx2(const float *q, size_t group, size_t d, const float *k, size_t ld,
                       size_t n, float scale, float *s)
{
    const size_t vectors = d / 8;
    for (size_t p = 0; p < n; p++) {
        const float *kp = k + p * ld;
        if (vectors == 8) { /* the release's head size: the key row stays in registers */
            __m256 k0 = _mm256_loadu_ps(kp), k1 = _mm256_loadu_ps(kp + 8),
                   k2 = _mm256_loadu_ps(kp + 16), k3 = _mm256_loadu_ps(kp + 24),
                   k4 = _mm256_loadu_ps(kp + 32), k5 = _mm256_loadu_ps(kp + 40),
                   k6 = _mm256_loadu_ps(kp + 48), k7 = _mm256_loadu_ps(kp + 56);
            for (size_t h = 0; h < group; h++) {
                const float *qh = q + h * 64;
                __m256 a = _mm256_mul_ps(_mm256_loadu_ps(qh), k0);
                __m256 b = _mm256_mul_ps(_mm256_loadu_ps(qh + 8), k1);
                a = _mm256_fmadd_ps(_mm256_loadu_ps(qh + 16), k2, a);
                b = _mm256_fmadd_ps(_mm256_loadu_ps(qh + 24), k3, b);
                a = _mm256_fmadd_ps(_mm256_loadu_ps(qh + 32), k4, a);
                b = _mm256_fmadd_ps(_mm256_loadu_ps(qh + 40), k5, b);
                a = _mm256_fmadd_ps(_mm256_loadu_ps(qh + 48), k6, a);
                b = _mm256_fmadd_ps(_mm256_loadu_ps(qh + 56), k7, b);
                s[h * n + p] = hsum(_mm256_add_ps(a, b)) * scale;
            }
            continue;
        }
        for (size_t h = 0; h < group; h++) {
            const float *qh = q + h * d;
            __m256 a = _mm256_setzero_ps();
            for (size_t j = 0; j < vectors; j++)
                a = _mm256_fmadd_ps(_mm256_loadu_ps(qh + 8 * j), _mm256_loadu_ps(kp + 8 * j), a);
            s[h * n + p] = hsum(a) * scale;
        }
    }
}

void qwen2_weighted_sum_avx2(const float *s, size_t group, size_t n, const float *v, size_t ld,
                             size_t d, float *out)
{
    const size_t vectors = d / 8;
    for (size_t h = 0; h < group; h++) {
        const float *sh = s + h * n;
        /* 8 accumulators at a time stay in registers */
        for (size_t j0 = 0; j0 < vectors; j0 += 8) {
            size_t m = vectors - j0 < 8 ? vectors - j0 : 8;
            __m256 acc[8];
            for (size_t j = 0; j < 8; j++)
                acc[j] = _mm256_setzero_ps();
            if (m == 8) {
                for (size_t p = 0; p < n; p++) {
                    const float *vp = v + p * ld + 8 * j0;
                    __m256 w = _mm256_broadcast_ss(sh + p);
                    acc[0] = _mm256_fmadd_ps(w, _mm256_loadu_ps(vp), acc[0]);
                    acc[1] = _mm256_fmadd_ps(w, _mm256_loadu_ps(vp + 8), acc[1]);
                    acc[2] = _mm256_fmadd_ps(w, _mm256_loadu_ps(vp + 16), acc[2]);
                    acc[3] = _mm256_fmadd_ps(w, _mm256_loadu_ps(vp + 24), acc[3]);
                    acc[4] = _mm256_fmadd_ps(w, _mm256_loadu_ps(vp + 32), acc[4]);
                    acc[5] = _mm256_fmadd_ps(w, _mm256_loadu_ps(vp + 40), acc[5]);
                    acc[6] = _mm256_fmadd_ps(w, _mm256_loadu_ps(vp + 48), acc[6]);
                    acc[7] = _mm256_fmadd_ps(w, _mm256_loadu_ps(vp + 56), acc[7]);
                }
            } else {
                for (size_t p = 0; p < n; p++) {
                    const float *vp = v + p * ld + 8 * j0;
                    __m256 w = _mm256_broadcast_ss(sh + p);
                    for (size_t j = 0; j < m; j++)
                        acc[j] = _mm256_fmadd_ps(w, _mm256_loadu_ps(vp + 8 * j), acc[j]);
                }
            }
            for (size_t j = 0; j < m; j++)
                _mm256_storeu_ps(out + h * d + 8 * (j0 + j), acc[j]);
        }
    }
}

void qwen2_softmax_rows_avx2(float *s, size_t group, size_t n)
{
    causal_softmax(s, group, n, n, 0);
}
