/* AVX-512 matvec kernels (F/BW/VL/DQ; int8 also VNNI). Four rows at a time share each load of
 * x and give four independent accumulator chains; a range that is not a multiple of four
 * repeats its last row in the unused slots and drops those results. */
#include <immintrin.h>
#include <string.h>

#include "matvec_kernels.h"

#define GROUP 4
/* The per-row accumulators must stay in registers: the loops over the group are unrolled. */
#define UNROLL_GROUP _Pragma("GCC unroll 4")

/* The rows of one group: their numbers and where their data starts. */
static void group_rows(const nn_weight *w, size_t es, const int32_t *rows, size_t i, size_t i1,
                       size_t r[GROUP], const char *p[GROUP])
{
    UNROLL_GROUP
    for (int j = 0; j < GROUP; j++) {
        size_t k = i + (size_t)j < i1 ? i + (size_t)j : i1 - 1;
        r[j] = rows ? (size_t)rows[k] : k;
        p[j] = (const char *)w->data + r[j] * w->stride * es;
    }
}

/* Rows of the group `ahead` groups on (clamped to the range): their lines are prefetched
 * while this group is computed. Hardware prefetchers lose track of rows this short (a
 * 896-column int8 row is 14 cache lines), so without this a core streams at half speed. */
#ifndef PREFETCH_GROUPS
#define PREFETCH_GROUPS 2
#endif
static void prefetch_rows(const nn_weight *w, size_t es, const int32_t *rows, size_t i,
                          size_t i1, const char *p[GROUP])
{
    size_t r[GROUP], ahead = i + PREFETCH_GROUPS * GROUP;
    group_rows(w, es, rows, ahead < i1 ? ahead : i1 - 1, i1, r, p);
}

static void store_group(size_t i, size_t i1, const size_t r[GROUP], const float sums[GROUP],
                        const float *bias, float *y)
{
    for (int j = 0; j < GROUP && i + (size_t)j < i1; j++)
        y[i + (size_t)j] = sums[j] + (bias ? bias[r[j]] : 0.0f);
}

/* ---- f32 ---- */

static void rows_f32(const nn_weight *w, const nn_xprep *x, const int32_t *rows, size_t i0,
                     size_t i1, const float *bias, float *y)
{
    for (size_t i = i0; i < i1; i += GROUP) {
        size_t r[GROUP];
        const char *p[GROUP];
        group_rows(w, sizeof(float), rows, i, i1, r, p);
        const char *pf[GROUP];
        prefetch_rows(w, sizeof(float), rows, i, i1, pf);
        const float *w0 = (const float *)p[0], *w1 = (const float *)p[1],
                    *w2 = (const float *)p[2], *w3 = (const float *)p[3];
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t c = 0; c < x->n; c += 16) {
            __m512 xv = _mm512_load_ps(x->f + c);
            UNROLL_GROUP
            for (int j = 0; j < GROUP; j++)
                _mm_prefetch(pf[j] + c * 4, _MM_HINT_T0);
            a0 = _mm512_fmadd_ps(_mm512_load_ps(w0 + c), xv, a0);
            a1 = _mm512_fmadd_ps(_mm512_load_ps(w1 + c), xv, a1);
            a2 = _mm512_fmadd_ps(_mm512_load_ps(w2 + c), xv, a2);
            a3 = _mm512_fmadd_ps(_mm512_load_ps(w3 + c), xv, a3);
        }
        float sums[GROUP] = {_mm512_reduce_add_ps(a0), _mm512_reduce_add_ps(a1),
                             _mm512_reduce_add_ps(a2), _mm512_reduce_add_ps(a3)};
        store_group(i, i1, r, sums, bias, y);
    }
}

/* ---- bf16: widened to f32 by shifts, multiplied in f32 ----
 * A 32-bit lane of 32 bf16 weights holds elements 2i (low half) and 2i+1 (high half): a shift
 * left by 16 gives element 2i as f32, masking the low half gives element 2i+1. So x is stored
 * per 32 elements as its 16 even elements, then its 16 odd ones. */

static void prepare_bf16(const nn_weight *w, const float *x, nn_xprep *p)
{
    nn_prepare_padded(w, x, p);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26,
                                           28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    for (size_t c = 0; c < p->n; c += 32) {
        __m512 lo = _mm512_load_ps(p->f + c), hi = _mm512_load_ps(p->f + c + 16);
        _mm512_store_ps(p->f + c, _mm512_permutex2var_ps(lo, even, hi));
        _mm512_store_ps(p->f + c + 16, _mm512_permutex2var_ps(lo, odd, hi));
    }
}

static void rows_bf16(const nn_weight *w, const nn_xprep *x, const int32_t *rows, size_t i0,
                      size_t i1, const float *bias, float *y)
{
    const __m512i high = _mm512_set1_epi32((int)0xffff0000u);
    for (size_t i = i0; i < i1; i += GROUP) {
        size_t r[GROUP];
        const char *p[GROUP];
        group_rows(w, sizeof(uint16_t), rows, i, i1, r, p);
        const char *pf[GROUP];
        prefetch_rows(w, sizeof(uint16_t), rows, i, i1, pf);
        __m512 e[GROUP], o[GROUP];
        UNROLL_GROUP
        for (int j = 0; j < GROUP; j++)
            e[j] = o[j] = _mm512_setzero_ps();
        for (size_t c = 0; c < x->n; c += 32) {
            __m512 xe = _mm512_load_ps(x->f + c), xo = _mm512_load_ps(x->f + c + 16);
            UNROLL_GROUP
            for (int j = 0; j < GROUP; j++) {
                _mm_prefetch(pf[j] + c * 2, _MM_HINT_T0);
                __m512i v = _mm512_load_si512((const void *)(p[j] + c * 2));
                e[j] = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(v, 16)), xe, e[j]);
                o[j] = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(v, high)), xo, o[j]);
            }
        }
        float sums[GROUP];
        UNROLL_GROUP
        for (int j = 0; j < GROUP; j++)
            sums[j] = _mm512_reduce_add_ps(_mm512_add_ps(e[j], o[j]));
        store_group(i, i1, r, sums, bias, y);
    }
}

/* ---- int8 with x quantised (NN_INT8_X_Q8), VNNI ----
 * VPDPBUSD multiplies unsigned by signed bytes. The weight byte w is fed as the unsigned
 * w + 128 (w xor 0x80) and x as signed q: the sum of 4 products is dot(w, q) + 128 * sum(q),
 * so each lane's accumulator starts at qcorr = -128 * sum(q) of its 4 bytes (computed once
 * per call) and the result is the exact dot(w, q). */

static void prepare_int8(const nn_weight *w, const float *x, nn_xprep *p)
{
    const __m512i ones = _mm512_set1_epi8(1);
    for (size_t c = 0; c < p->n; c += 64) {
        for (size_t h = c; h < c + 64; h += NN_XQ_CHUNK) {
            float tail[NN_XQ_CHUNK];
            const float *src = x + h;
            if (h + NN_XQ_CHUNK > w->cols) { /* the last chunk(s): zero padded */
                memset(tail, 0, sizeof tail);
                if (h < w->cols)
                    memcpy(tail, x + h, (w->cols - h) * sizeof *x);
                src = tail;
            }
            __m512 v0 = _mm512_loadu_ps(src), v1 = _mm512_loadu_ps(src + 16);
            float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
            /* the same scalar arithmetic as nn_xq_chunk, so every family quantises alike */
            float inv = amax > 0.0f ? 127.0f / amax : 0.0f, scale = amax / 127.0f;
            __m512 vi = _mm512_set1_ps(inv);
            __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, vi));
            __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, vi));
            _mm_store_si128((__m128i *)(p->q + h), _mm512_cvtepi32_epi8(q0));
            _mm_store_si128((__m128i *)(p->q + h + 16), _mm512_cvtepi32_epi8(q1));
            p->qscale[h / NN_XQ_CHUNK] = scale;
            _mm256_store_ps(p->qscale4 + h / 4, _mm256_set1_ps(scale));
        }
        __m512i sums = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones,
                                           _mm512_load_si512((const void *)(p->q + c)));
        _mm512_store_si512((void *)(p->qcorr + c / 4),
                           _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(sums, 7)));
    }
}

/* Blocks of a multiple of 64 columns (and per-row scales): whole 64-byte vectors. */
static void rows_int8_wide(const nn_weight *w, const nn_xprep *x, const int32_t *rows,
                           size_t i0, size_t i1, const float *bias, float *y)
{
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    size_t nblk = nn_weight_blocks_per_row(w);
    for (size_t i = i0; i < i1; i += GROUP) {
        size_t r[GROUP];
        const char *p[GROUP];
        group_rows(w, 1, rows, i, i1, r, p);
        const char *pf[GROUP];
        prefetch_rows(w, 1, rows, i, i1, pf);
        __m512 tot[GROUP];
        UNROLL_GROUP
        for (int j = 0; j < GROUP; j++)
            tot[j] = _mm512_setzero_ps();
        for (size_t b = 0; b < nblk; b++) {
            size_t c0 = b * w->block, c1 = b + 1 == nblk ? x->n : c0 + w->block;
            __m512 acc[GROUP];
            UNROLL_GROUP
            for (int j = 0; j < GROUP; j++)
                acc[j] = _mm512_setzero_ps();
            for (size_t c = c0; c < c1; c += 64) {
                __m512i xq = _mm512_load_si512((const void *)(x->q + c));
                __m512i corr = _mm512_load_si512((const void *)(x->qcorr + c / 4));
                __m512 xs = _mm512_load_ps(x->qscale4 + c / 4);
                UNROLL_GROUP
                for (int j = 0; j < GROUP; j++) {
                    _mm_prefetch(pf[j] + c, _MM_HINT_T0);
                    __m512i wv =
                        _mm512_xor_si512(_mm512_load_si512((const void *)(p[j] + c)), flip);
                    __m512i d = _mm512_dpbusd_epi32(corr, wv, xq);
                    acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), xs, acc[j]);
                }
            }
            UNROLL_GROUP
            for (int j = 0; j < GROUP; j++)
                tot[j] = _mm512_fmadd_ps(acc[j], _mm512_set1_ps(w->scales[r[j] * nblk + b]),
                                         tot[j]);
        }
        float sums[GROUP];
        UNROLL_GROUP
        for (int j = 0; j < GROUP; j++)
            sums[j] = _mm512_reduce_add_ps(tot[j]);
        store_group(i, i1, r, sums, bias, y);
    }
}

/* Blocks of an odd multiple of 32 columns: 32-byte vectors (AVX-512 VL). */
static void rows_int8_narrow(const nn_weight *w, const nn_xprep *x, const int32_t *rows,
                             size_t i0, size_t i1, const float *bias, float *y)
{
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    size_t nblk = nn_weight_blocks_per_row(w);
    for (size_t i = i0; i < i1; i += GROUP) {
        size_t r[GROUP];
        const char *p[GROUP];
        group_rows(w, 1, rows, i, i1, r, p);
        const char *pf[GROUP];
        prefetch_rows(w, 1, rows, i, i1, pf);
        __m256 tot[GROUP];
        UNROLL_GROUP
        for (int j = 0; j < GROUP; j++)
            tot[j] = _mm256_setzero_ps();
        for (size_t b = 0; b < nblk; b++) {
            size_t c0 = b * w->block, c1 = b + 1 == nblk ? x->n : c0 + w->block;
            __m256 acc[GROUP];
            UNROLL_GROUP
            for (int j = 0; j < GROUP; j++)
                acc[j] = _mm256_setzero_ps();
            for (size_t c = c0; c < c1; c += 32) {
                __m256i xq = _mm256_load_si256((const __m256i *)(x->q + c));
                __m256i corr = _mm256_load_si256((const __m256i *)(x->qcorr + c / 4));
                __m256 xs = _mm256_load_ps(x->qscale4 + c / 4);
                UNROLL_GROUP
                for (int j = 0; j < GROUP; j++) {
                    if (c % 64 == 0)
                        _mm_prefetch(pf[j] + c, _MM_HINT_T0);
                    __m256i wv =
                        _mm256_xor_si256(_mm256_load_si256((const __m256i *)(p[j] + c)), flip);
                    __m256i d = _mm256_dpbusd_epi32(corr, wv, xq);
                    acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d), xs, acc[j]);
                }
            }
            UNROLL_GROUP
            for (int j = 0; j < GROUP; j++)
                tot[j] = _mm256_fmadd_ps(acc[j], _mm256_set1_ps(w->scales[r[j] * nblk + b]),
                                         tot[j]);
        }
        float sums[GROUP];
        UNROLL_GROUP
        for (int j = 0; j < GROUP; j++) {
            __m128 s = _mm_add_ps(_mm256_castps256_ps128(tot[j]), _mm256_extractf128_ps(tot[j], 1));
            s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            sums[j] = _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
        }
        store_group(i, i1, r, sums, bias, y);
    }
}

static void rows_int8(const nn_weight *w, const nn_xprep *x, const int32_t *rows, size_t i0,
                      size_t i1, const float *bias, float *y)
{
    if (nn_weight_blocks_per_row(w) == 1 || w->block % 64 == 0)
        rows_int8_wide(w, x, rows, i0, i1, bias, y);
    else
        rows_int8_narrow(w, x, rows, i0, i1, bias, y);
}

/* ---- int8 widened to f32 (NN_INT8_X_F32): x as given, 16 weights per step ---- */

static void rows_int8_f32x(const nn_weight *w, const nn_xprep *x, const int32_t *rows,
                           size_t i0, size_t i1, const float *bias, float *y)
{
    size_t nblk = nn_weight_blocks_per_row(w);
    for (size_t i = i0; i < i1; i += GROUP) {
        size_t r[GROUP];
        const char *p[GROUP];
        group_rows(w, 1, rows, i, i1, r, p);
        const char *pf[GROUP];
        prefetch_rows(w, 1, rows, i, i1, pf);
        __m512 tot[GROUP];
        UNROLL_GROUP
        for (int j = 0; j < GROUP; j++)
            tot[j] = _mm512_setzero_ps();
        for (size_t b = 0; b < nblk; b++) {
            size_t c0 = b * w->block, c1 = b + 1 == nblk ? x->n : c0 + w->block;
            __m512 acc[GROUP];
            UNROLL_GROUP
            for (int j = 0; j < GROUP; j++)
                acc[j] = _mm512_setzero_ps();
            for (size_t c = c0; c < c1; c += 16) {
                __m512 xv = _mm512_load_ps(x->f + c);
                UNROLL_GROUP
                for (int j = 0; j < GROUP; j++) {
                    if (c % 64 == 0)
                        _mm_prefetch(pf[j] + c, _MM_HINT_T0);
                    __m512i wv = _mm512_cvtepi8_epi32(_mm_load_si128((const __m128i *)(p[j] + c)));
                    acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(wv), xv, acc[j]);
                }
            }
            UNROLL_GROUP
            for (int j = 0; j < GROUP; j++)
                tot[j] = _mm512_fmadd_ps(acc[j], _mm512_set1_ps(w->scales[r[j] * nblk + b]),
                                         tot[j]);
        }
        float sums[GROUP];
        UNROLL_GROUP
        for (int j = 0; j < GROUP; j++)
            sums[j] = _mm512_reduce_add_ps(tot[j]);
        store_group(i, i1, r, sums, bias, y);
    }
}

/* ---- widening rows to f32 (prefill tiles) ---- */

static void widen_bf16(const nn_weight *w, size_t r, float *out)
{
    const uint16_t *s = (const uint16_t *)w->data + r * w->stride;
    size_t c = 0;
    for (; c + 16 <= w->cols; c += 16) {
        __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(s + c)));
        _mm512_storeu_ps(out + c, _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)));
    }
    for (; c < w->cols; c++)
        out[c] = nn_bf16_to_f32(s[c]);
}

static void widen_int8(const nn_weight *w, size_t r, float *out)
{
    const int8_t *s = (const int8_t *)w->data + r * w->stride;
    size_t nblk = nn_weight_blocks_per_row(w);
    for (size_t b = 0; b < nblk; b++) {
        size_t c = b * w->block, c1 = c + w->block < w->cols ? c + w->block : w->cols;
        float scale = w->scales[r * nblk + b];
        __m512 vs = _mm512_set1_ps(scale);
        for (; c + 16 <= c1; c += 16) {
            __m512i v = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(s + c)));
            _mm512_storeu_ps(out + c, _mm512_mul_ps(_mm512_cvtepi32_ps(v), vs));
        }
        for (; c < c1; c++)
            out[c] = (float)s[c] * scale;
    }
}

const nn_matvec_family nn_matvec_avx512 = {
    .isa = NN_ISA_AVX512,
    .kernel = {
        [NN_KERNEL_F32] = {nn_prepare_padded, rows_f32, nn_weight_row_f32},
        [NN_KERNEL_BF16] = {prepare_bf16, rows_bf16, widen_bf16},
        [NN_KERNEL_INT8_Q8] = {prepare_int8, rows_int8, widen_int8},
        [NN_KERNEL_INT8_F32] = {nn_prepare_padded, rows_int8_f32x, widen_int8},
    },
};
