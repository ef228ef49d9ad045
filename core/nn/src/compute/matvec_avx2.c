/* AVX2 + FMA matvec kernels, for x86-64 CPUs without AVX-512. Four rows at a time share each
 * load of x; a range that is not a multiple of four repeats its last row in the unused slots
 * and drops those results. */
#include <immintrin.h>
#include <string.h>

#include "matvec_kernels.h"

#define GROUP 4
/* The per-row accumulators must stay in registers: the loops over the group are unrolled. */
#define UNROLL_GROUP _Pragma("GCC unroll 4")

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
 * while this group is computed (hardware prefetchers lose track of rows this short). */
#ifndef PREFETCH_GROUPS
#define PREFETCH_GROUPS 2
#endif
static void prefetch_rows(const nn_weight *w, size_t es, const int32_t *rows, size_t i,
                          size_t i1, const char *p[GROUP])
{
    size_t r[GROUP], ahead = i + PREFETCH_GROUPS * GROUP;
    group_rows(w, es, rows, ahead < i1 ? ahead : i1 - 1, i1, r, p);
}

static float hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

static void store_group(size_t i, size_t i1, const size_t r[GROUP], const __m256 acc[GROUP],
                        const float *bias, float *y)
{
    for (int j = 0; j < GROUP && i + (size_t)j < i1; j++)
        y[i + (size_t)j] = hsum(acc[j]) + (bias ? bias[r[j]] : 0.0f);
}

/* ---- f32 (rows are a multiple of 16 elements: two vectors per step) ---- */

static void rows_f32(const nn_weight *w, const nn_xprep *x, const int32_t *rows, size_t i0,
                     size_t i1, const float *bias, float *y)
{
    for (size_t i = i0; i < i1; i += GROUP) {
        size_t r[GROUP];
        const char *p[GROUP];
        group_rows(w, sizeof(float), rows, i, i1, r, p);
        const char *pf[GROUP];
        prefetch_rows(w, sizeof(float), rows, i, i1, pf);
        __m256 a[GROUP], b[GROUP];
        UNROLL_GROUP
        for (int j = 0; j < GROUP; j++)
            a[j] = b[j] = _mm256_setzero_ps();
        for (size_t c = 0; c < x->n; c += 16) {
            __m256 x0 = _mm256_load_ps(x->f + c), x1 = _mm256_load_ps(x->f + c + 8);
            UNROLL_GROUP
            for (int j = 0; j < GROUP; j++) {
                const float *wr = (const float *)p[j] + c;
                _mm_prefetch(pf[j] + c * 4, _MM_HINT_T0);
                a[j] = _mm256_fmadd_ps(_mm256_load_ps(wr), x0, a[j]);
                b[j] = _mm256_fmadd_ps(_mm256_load_ps(wr + 8), x1, b[j]);
            }
        }
        UNROLL_GROUP
        for (int j = 0; j < GROUP; j++)
            a[j] = _mm256_add_ps(a[j], b[j]);
        store_group(i, i1, r, a, bias, y);
    }
}

/* ---- bf16: widened by shifts (see matvec_avx512.c); x stored per 16 elements as its 8 even
 * elements, then its 8 odd ones ---- */

static void prepare_bf16(const nn_weight *w, const float *x, nn_xprep *p)
{
    nn_prepare_padded(w, x, p);
    /* shuffle leaves [lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6]: this puts them in element order */
    const __m256i fix = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
    for (size_t c = 0; c < p->n; c += 16) {
        /* per 128-bit lane: shuffle gives [even of lo, even of hi] and [odd of lo, odd of hi] */
        __m256 lo = _mm256_load_ps(p->f + c), hi = _mm256_load_ps(p->f + c + 8);
        __m256 ev = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
        __m256 od = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
        _mm256_store_ps(p->f + c, _mm256_permutevar8x32_ps(ev, fix));
        _mm256_store_ps(p->f + c + 8, _mm256_permutevar8x32_ps(od, fix));
    }
}

static void rows_bf16(const nn_weight *w, const nn_xprep *x, const int32_t *rows, size_t i0,
                      size_t i1, const float *bias, float *y)
{
    const __m256i high = _mm256_set1_epi32((int)0xffff0000u);
    for (size_t i = i0; i < i1; i += GROUP) {
        size_t r[GROUP];
        const char *p[GROUP];
        group_rows(w, sizeof(uint16_t), rows, i, i1, r, p);
        const char *pf[GROUP];
        prefetch_rows(w, sizeof(uint16_t), rows, i, i1, pf);
        __m256 e[GROUP], o[GROUP];
        UNROLL_GROUP
        for (int j = 0; j < GROUP; j++)
            e[j] = o[j] = _mm256_setzero_ps();
        for (size_t c = 0; c < x->n; c += 16) {
            __m256 xe = _mm256_load_ps(x->f + c), xo = _mm256_load_ps(x->f + c + 8);
            UNROLL_GROUP
            for (int j = 0; j < GROUP; j++) {
                if (c % 32 == 0)
                    _mm_prefetch(pf[j] + c * 2, _MM_HINT_T0);
                __m256i v = _mm256_load_si256((const __m256i *)(p[j] + c * 2));
                e[j] = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(v, 16)), xe, e[j]);
                o[j] = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(v, high)), xo, o[j]);
            }
        }
        UNROLL_GROUP
        for (int j = 0; j < GROUP; j++)
            e[j] = _mm256_add_ps(e[j], o[j]);
        store_group(i, i1, r, e, bias, y);
    }
}

/* ---- int8 with x quantised (NN_INT8_X_Q8): VPMADDUBSW multiplies unsigned by signed bytes
 * and adds pairs into int16. With |w| as the unsigned side and q carrying w's sign,
 * |pair| <= 2 * 127 * 127 fits int16. ---- */

static void prepare_int8(const nn_weight *w, const float *x, nn_xprep *p)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (size_t h = 0; h < p->n; h += NN_XQ_CHUNK) {
        float tail[NN_XQ_CHUNK];
        const float *src = x + h;
        if (h + NN_XQ_CHUNK > w->cols) { /* the last chunk(s): zero padded */
            memset(tail, 0, sizeof tail);
            if (h < w->cols)
                memcpy(tail, x + h, (w->cols - h) * sizeof *x);
            src = tail;
        }
        __m256 v[4], m = _mm256_setzero_ps();
        for (int k = 0; k < 4; k++) {
            v[k] = _mm256_loadu_ps(src + 8 * k);
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[k]));
        }
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        float amax = _mm_cvtss_f32(_mm_max_ss(m4, _mm_movehdup_ps(m4)));
        /* the same scalar arithmetic as nn_xq_chunk, so every family quantises alike */
        float inv = amax > 0.0f ? 127.0f / amax : 0.0f, scale = amax / 127.0f;
        __m256 vi = _mm256_set1_ps(inv);
        __m256i q[4];
        for (int k = 0; k < 4; k++)
            q[k] = _mm256_cvtps_epi32(_mm256_mul_ps(v[k], vi));
        __m256i q16a = _mm256_packs_epi32(q[0], q[1]), q16b = _mm256_packs_epi32(q[2], q[3]);
        __m256i q8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(q16a, q16b), order);
        _mm256_store_si256((__m256i *)(p->q + h), q8);
        p->qscale[h / NN_XQ_CHUNK] = scale;
        _mm256_store_ps(p->qscale4 + h / 4, _mm256_set1_ps(scale));
    }
}

static void rows_int8(const nn_weight *w, const nn_xprep *x, const int32_t *rows, size_t i0,
                      size_t i1, const float *bias, float *y)
{
    const __m256i ones = _mm256_set1_epi16(1);
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
            for (size_t c = c0; c < c1; c += NN_XQ_CHUNK) {
                __m256i xq = _mm256_load_si256((const __m256i *)(x->q + c));
                __m256 xs = _mm256_load_ps(x->qscale4 + c / 4);
                UNROLL_GROUP
                for (int j = 0; j < GROUP; j++) {
                    if (c % 64 == 0)
                        _mm_prefetch(pf[j] + c, _MM_HINT_T0);
                    __m256i wv = _mm256_load_si256((const __m256i *)(p[j] + c));
                    __m256i pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(wv),
                                                         _mm256_sign_epi8(xq, wv));
                    __m256i d = _mm256_madd_epi16(pairs, ones);
                    acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d), xs, acc[j]);
                }
            }
            UNROLL_GROUP
            for (int j = 0; j < GROUP; j++)
                tot[j] = _mm256_fmadd_ps(acc[j], _mm256_set1_ps(w->scales[r[j] * nblk + b]),
                                         tot[j]);
        }
        store_group(i, i1, r, tot, bias, y);
    }
}

/* ---- int8 widened to f32 (NN_INT8_X_F32): x as given, 8 weights per step ---- */

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
            for (size_t c = c0; c < c1; c += 8) {
                __m256 xv = _mm256_load_ps(x->f + c);
                UNROLL_GROUP
                for (int j = 0; j < GROUP; j++) {
                    if (c % 64 == 0)
                        _mm_prefetch(pf[j] + c, _MM_HINT_T0);
                    __m256i wv = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p[j] + c)));
                    acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(wv), xv, acc[j]);
                }
            }
            UNROLL_GROUP
            for (int j = 0; j < GROUP; j++)
                tot[j] = _mm256_fmadd_ps(acc[j], _mm256_set1_ps(w->scales[r[j] * nblk + b]),
                                         tot[j]);
        }
        store_group(i, i1, r, tot, bias, y);
    }
}

/* ---- widening rows to f32 (prefill tiles) ---- */

static void widen_bf16(const nn_weight *w, size_t r, float *out)
{
    const uint16_t *s = (const uint16_t *)w->data + r * w->stride;
    size_t c = 0;
    for (; c + 8 <= w->cols; c += 8) {
        __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(s + c)));
        _mm256_storeu_ps(out + c, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
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
        __m256 vs = _mm256_set1_ps(scale);
        for (; c + 8 <= c1; c += 8) {
            __m128i b8 = _mm_loadl_epi64((const __m128i *)(s + c));
            __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b8));
            _mm256_storeu_ps(out + c, _mm256_mul_ps(v, vs));
        }
        for (; c < c1; c++)
            out[c] = (float)s[c] * scale;
    }
}

const nn_matvec_family nn_matvec_avx2 = {
    .isa = NN_ISA_AVX2,
    .kernel = {
        [NN_KERNEL_F32] = {nn_prepare_padded, rows_f32, nn_weight_row_f32},
        [NN_KERNEL_BF16] = {prepare_bf16, rows_bf16, widen_bf16},
        [NN_KERNEL_INT8_Q8] = {prepare_int8, rows_int8, widen_int8},
        [NN_KERNEL_INT8_F32] = {nn_prepare_padded, rows_int8_f32x, widen_int8},
    },
};
