/* Dense stride-1 Conv1d in bf16 with AVX512-BF16 (VDPBF16PS): weights and activations rounded
 * to bf16 (nearest even), products summed in f32. Activations are packed once per call as
 * channel pairs (two bf16 of channels 2p and 2p+1 in one 32-bit word per frame), so every tap
 * reads the same packed rows shifted by j * dilation and the outputs stay in registers across
 * all taps and channels. */
#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "conv_bf16.h"

/* Output rows and 16-frame vectors per register tile: 4 x 4 accumulators. */
#define TILE_ROWS 4
#define TILE_VECS 4

void nn_conv_pack_pairs_avx512(const float *x, size_t ldx, size_t channels, size_t t_in,
                               size_t pad, uint32_t *packed, size_t ldp)
{
    size_t pairs = (channels + 1) / 2;
    for (size_t p = 0; p < pairs; p++) {
        const float *lo = x + 2 * p * ldx;
        const float *hi = 2 * p + 1 < channels ? lo + ldx : NULL;
        uint32_t *dst = packed + p * ldp;
        memset(dst, 0, pad * sizeof(uint32_t));
        memset(dst + pad + t_in, 0, (ldp - pad - t_in) * sizeof(uint32_t));
        dst += pad;
        size_t t = 0;
        for (; t + 16 <= t_in; t += 16) {
            __m512 a = _mm512_loadu_ps(lo + t);
            __m512 b = hi ? _mm512_loadu_ps(hi + t) : _mm512_setzero_ps();
            /* cvtne2ps_pbh(b, a): a in the low half, b in the high half of the result */
            __m512i ab = (__m512i)_mm512_cvtne2ps_pbh(b, a);
            /* lanes 0..15 of a, then of b: interleave to (a0 b0) (a1 b1) ... */
            __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9,
                                           24, 8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17,
                                           1, 16, 0);
            _mm512_storeu_si512(dst + t, _mm512_permutexvar_epi16(idx, ab));
        }
        for (; t < t_in; t++) {
            uint32_t a = nn_bf16_round(lo[t]), b = hi ? nn_bf16_round(hi[t]) : 0;
            dst[t] = a | (b << 16);
        }
    }
}

/* y[rows][16 * vecs frames] (+)= sum over taps and pairs: one register tile, written out so
 * the 16 accumulators stay in registers. A tile with fewer rows repeats its last row (and
 * drops the copies); one with fewer frames reads into the packed rows' slack (and drops it). */
static void tile(const uint16_t *w, size_t cout, size_t cinp, size_t taps, size_t dil,
                 const uint32_t *xp, size_t ldp, size_t rows, size_t vecs, __mmask16 tail,
                 const float *bias, float *y, size_t ldy, bool add)
{
    __m512 acc[TILE_ROWS][TILE_VECS];
    for (size_t r = 0; r < TILE_ROWS; r++)
        for (size_t v = 0; v < TILE_VECS; v++) {
            __mmask16 m = v + 1 < vecs ? (__mmask16)0xffff : v + 1 == vecs ? tail : 0;
            __m512 init = _mm512_set1_ps(r < rows && bias ? bias[r] : 0.0f);
            if (add && r < rows)
                init = _mm512_add_ps(init, _mm512_maskz_loadu_ps(m, y + r * ldy + 16 * v));
            acc[r][v] = init;
        }
    __m512 a00 = acc[0][0], a01 = acc[0][1], a02 = acc[0][2], a03 = acc[0][3];
    __m512 a10 = acc[1][0], a11 = acc[1][1], a12 = acc[1][2], a13 = acc[1][3];
    __m512 a20 = acc[2][0], a21 = acc[2][1], a22 = acc[2][2], a23 = acc[2][3];
    __m512 a30 = acc[3][0], a31 = acc[3][1], a32 = acc[3][2], a33 = acc[3][3];
    size_t pairs = cinp / 2;
    size_t r1 = rows > 1 ? 1 : 0, r2 = rows > 2 ? 2 : rows - 1, r3 = rows > 3 ? 3 : rows - 1;
    for (size_t j = 0; j < taps; j++) {
        const uint16_t *w0 = w + j * cout * cinp, *w1 = w0 + r1 * cinp;
        const uint16_t *w2 = w0 + r2 * cinp, *w3 = w0 + r3 * cinp;
        const uint32_t *xrow = xp + j * dil;
        for (size_t p = 0; p < pairs; p++, xrow += ldp) {
            __m512bh b0 = (__m512bh)_mm512_loadu_si512(xrow);
            __m512bh b1 = (__m512bh)_mm512_loadu_si512(xrow + 16);
            __m512bh b2 = (__m512bh)_mm512_loadu_si512(xrow + 32);
            __m512bh b3 = (__m512bh)_mm512_loadu_si512(xrow + 48);
            uint32_t q0, q1, q2, q3;
            memcpy(&q0, w0 + 2 * p, 4);
            memcpy(&q1, w1 + 2 * p, 4);
            memcpy(&q2, w2 + 2 * p, 4);
            memcpy(&q3, w3 + 2 * p, 4);
            __m512bh c = (__m512bh)_mm512_set1_epi32((int)q0);
            a00 = _mm512_dpbf16_ps(a00, c, b0);
            a01 = _mm512_dpbf16_ps(a01, c, b1);
            a02 = _mm512_dpbf16_ps(a02, c, b2);
            a03 = _mm512_dpbf16_ps(a03, c, b3);
            c = (__m512bh)_mm512_set1_epi32((int)q1);
            a10 = _mm512_dpbf16_ps(a10, c, b0);
            a11 = _mm512_dpbf16_ps(a11, c, b1);
            a12 = _mm512_dpbf16_ps(a12, c, b2);
            a13 = _mm512_dpbf16_ps(a13, c, b3);
            c = (__m512bh)_mm512_set1_epi32((int)q2);
            a20 = _mm512_dpbf16_ps(a20, c, b0);
            a21 = _mm512_dpbf16_ps(a21, c, b1);
            a22 = _mm512_dpbf16_ps(a22, c, b2);
            a23 = _mm512_dpbf16_ps(a23, c, b3);
            c = (__m512bh)_mm512_set1_epi32((int)q3);
            a30 = _mm512_dpbf16_ps(a30, c, b0);
            a31 = _mm512_dpbf16_ps(a31, c, b1);
            a32 = _mm512_dpbf16_ps(a32, c, b2);
            a33 = _mm512_dpbf16_ps(a33, c, b3);
        }
    }
    acc[0][0] = a00, acc[0][1] = a01, acc[0][2] = a02, acc[0][3] = a03;
    acc[1][0] = a10, acc[1][1] = a11, acc[1][2] = a12, acc[1][3] = a13;
    acc[2][0] = a20, acc[2][1] = a21, acc[2][2] = a22, acc[2][3] = a23;
    acc[3][0] = a30, acc[3][1] = a31, acc[3][2] = a32, acc[3][3] = a33;
    for (size_t r = 0; r < rows; r++)
        for (size_t v = 0; v < vecs; v++) {
            __mmask16 m = v + 1 == vecs ? tail : (__mmask16)0xffff;
            _mm512_mask_storeu_ps(y + r * ldy + 16 * v, m, acc[r][v]);
        }
}

void nn_conv_taps_bf16_avx512(const uint16_t *w, size_t cout, size_t cinp, size_t taps,
                              size_t dil, const uint32_t *xp, size_t ldp, size_t t_out,
                              size_t row_begin, size_t row_end, const float *bias, float *y,
                              size_t ldy, bool add)
{
    const size_t block = 16 * TILE_VECS;
    for (size_t t0 = 0; t0 < t_out; t0 += block) {
        size_t n = t_out - t0 < block ? t_out - t0 : block;
        size_t vecs = (n + 15) / 16;
        size_t last = n - 16 * (vecs - 1);
        __mmask16 tail = (__mmask16)(last == 16 ? 0xffffu : (1u << last) - 1u);
        for (size_t r0 = row_begin; r0 < row_end; r0 += TILE_ROWS) {
            size_t rows = row_end - r0 < TILE_ROWS ? row_end - r0 : TILE_ROWS;
            tile(w + r0 * cinp, cout, cinp, taps, dil, xp + t0, ldp, rows, vecs, tail,
                 bias ? bias + r0 : NULL, y + r0 * ldy + t0, ldy, add);
        }
    }
}
