/* Snake with AVX2 and glibc's vector sinf (libmvec, _ZGVdN8v_sinf: within 4 ulp). */
#include <immintrin.h>
#include <math.h>

#include "snake_kernels.h"

/* The libmvec entry for sinf over 8 floats (the x86-64 vector function ABI name). */
__m256 _ZGVdN8v_sinf(__m256 x);

void nn_snake_row_avx2(const float *src, float *dst, size_t n, float alpha, float inv)
{
    const __m256 va = _mm256_set1_ps(alpha), vi = _mm256_set1_ps(inv);
    size_t t = 0;
    for (; t + 8 <= n; t += 8) {
        __m256 x = _mm256_loadu_ps(src + t);
        __m256 s = _ZGVdN8v_sinf(_mm256_mul_ps(va, x));
        _mm256_storeu_ps(dst + t, _mm256_fmadd_ps(vi, _mm256_mul_ps(s, s), x));
    }
    for (; t < n; t++) {
        float s = sinf(alpha * src[t]);
        dst[t] = src[t] + inv * (s * s);
    }
}
