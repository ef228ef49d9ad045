/* Portable matvec kernels: the fallback without AVX2 and the plainest statement of what the
 * vector kernels compute. */
#include <string.h>

#include "matvec_kernels.h"

static void prepare_int8(const nn_weight *w, const float *x, nn_xprep *p)
{
    for (size_t c = 0; c < p->n; c += NN_XQ_CHUNK) {
        size_t n = c < w->cols ? (w->cols - c < NN_XQ_CHUNK ? w->cols - c : NN_XQ_CHUNK) : 0;
        p->qscale[c / NN_XQ_CHUNK] = nn_xq_chunk(x + c, n, p->q + c);
        memset(p->q + c + n, 0, NN_XQ_CHUNK - n);
    }
}

static size_t row_of(const int32_t *rows, size_t i)
{
    return rows ? (size_t)rows[i] : i;
}

static void rows_f32(const nn_weight *w, const nn_xprep *x, const int32_t *rows, size_t i0,
                     size_t i1, const float *bias, float *y)
{
    for (size_t i = i0; i < i1; i++) {
        size_t r = row_of(rows, i);
        const float *wr = (const float *)w->data + r * w->stride;
        float acc[4] = {0, 0, 0, 0};
        for (size_t c = 0; c < x->n; c += 4)
            for (int j = 0; j < 4; j++)
                acc[j] += wr[c + j] * x->f[c + j];
        y[i] = (acc[0] + acc[1]) + (acc[2] + acc[3]) + (bias ? bias[r] : 0.0f);
    }
}

static void rows_bf16(const nn_weight *w, const nn_xprep *x, const int32_t *rows, size_t i0,
                      size_t i1, const float *bias, float *y)
{
    for (size_t i = i0; i < i1; i++) {
        size_t r = row_of(rows, i);
        const uint16_t *wr = (const uint16_t *)w->data + r * w->stride;
        float acc[4] = {0, 0, 0, 0};
        for (size_t c = 0; c < x->n; c += 4)
            for (int j = 0; j < 4; j++)
                acc[j] += nn_bf16_to_f32(wr[c + j]) * x->f[c + j];
        y[i] = (acc[0] + acc[1]) + (acc[2] + acc[3]) + (bias ? bias[r] : 0.0f);
    }
}

static void rows_int8(const nn_weight *w, const nn_xprep *x, const int32_t *rows, size_t i0,
                      size_t i1, const float *bias, float *y)
{
    size_t nblk = nn_weight_blocks_per_row(w);
    for (size_t i = i0; i < i1; i++) {
        size_t r = row_of(rows, i);
        const int8_t *wr = (const int8_t *)w->data + r * w->stride;
        const float *ws = w->scales + r * nblk;
        float total = 0.0f;
        for (size_t b = 0; b < nblk; b++) {
            size_t c0 = b * w->block;
            size_t c1 = b + 1 == nblk ? x->n : c0 + w->block;
            float acc = 0.0f;
            for (size_t c = c0; c < c1; c += NN_XQ_CHUNK) {
                int32_t dot = 0;
                for (size_t j = c; j < c + NN_XQ_CHUNK; j++)
                    dot += (int32_t)wr[j] * (int32_t)x->q[j];
                acc += (float)dot * x->qscale[c / NN_XQ_CHUNK];
            }
            total += acc * ws[b];
        }
        y[i] = total + (bias ? bias[r] : 0.0f);
    }
}

static void rows_int8_f32x(const nn_weight *w, const nn_xprep *x, const int32_t *rows,
                           size_t i0, size_t i1, const float *bias, float *y)
{
    size_t nblk = nn_weight_blocks_per_row(w);
    for (size_t i = i0; i < i1; i++) {
        size_t r = row_of(rows, i);
        const int8_t *wr = (const int8_t *)w->data + r * w->stride;
        const float *ws = w->scales + r * nblk;
        float total = 0.0f;
        for (size_t b = 0; b < nblk; b++) {
            size_t c0 = b * w->block;
            size_t c1 = b + 1 == nblk ? x->n : c0 + w->block;
            float acc[4] = {0, 0, 0, 0};
            for (size_t c = c0; c < c1; c += 4)
                for (int j = 0; j < 4; j++)
                    acc[j] += (float)wr[c + j] * x->f[c + j];
            total += ((acc[0] + acc[1]) + (acc[2] + acc[3])) * ws[b];
        }
        y[i] = total + (bias ? bias[r] : 0.0f);
    }
}

const nn_matvec_family nn_matvec_scalar = {
    .isa = NN_ISA_SCALAR,
    .kernel = {
        [NN_KERNEL_F32] = {nn_prepare_padded, rows_f32, nn_weight_row_f32},
        [NN_KERNEL_BF16] = {nn_prepare_padded, rows_bf16, nn_weight_row_f32},
        [NN_KERNEL_INT8_Q8] = {prepare_int8, rows_int8, nn_weight_row_f32},
        [NN_KERNEL_INT8_F32] = {nn_prepare_padded, rows_int8_f32x, nn_weight_row_f32},
    },
};
