/* Snake with AVX-512 and glibc's vector sinf (libmvec, _ZGVeN16v_sinf: within 4 ulp). */
#include <immintrin.h>
#include <math.h>

#include "snake_kernels.h"

/* The libmvec entry for sinf over 16 floats (the x86-64 vector function ABI name). */
__m512 _ZGVeN16v_sinf(__m512 x);

void nn_snake_row_avx512(const float *src, float *dst, size_t n, float alpha, float inv)
{
    const __m512 va = _mm512_set1_ps(alpha), vi = _mm512_set1_ps(inv);
    size_t t = 0;
    for (; t + 16 <= n; t += 16) {
        __m512 x = _mm512_loadu_ps(src + t);
        __m512 s = _ZGVeN16v_sinf(_mm512_mul_ps(va, x));
        _mm512_storeu_ps(dst + t, _mm512_fmadd_ps(vi, _mm512_mul_ps(s, s), x));
    }
    if (t < n) {
        __mmask16 m = (__mmask16)((1u << (n - t)) - 1u);
        __m512 x = _mm512_maskz_loadu_ps(m, src + t);
        __m512 s = _ZGVeN16v_sinf(_mm512_mul_ps(va, x));
        _mm512_mask_storeu_ps(dst + t, m, _mm512_fmadd_ps(vi, _mm512_mul_ps(s, s), x));
    }
}
