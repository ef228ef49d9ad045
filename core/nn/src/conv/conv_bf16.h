/* The bf16 path of dense stride-1 convolutions (conv_bf16_avx512.c), used by conv1d.c when a
 * layer was switched to bf16 on a CPU with AVX512-BF16. */
#ifndef SPARK_NN_CONV_BF16_H
#define SPARK_NN_CONV_BF16_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Extra packed frames past each row, so a register tile may read beyond the last frame. */
#define NN_CONV_BF16_SLACK 64

/* f32 -> bf16, rounding to nearest even (NaN kept quiet). */
static inline uint16_t nn_bf16_round(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* packed[p][pad + t] = (bf16 x[2p][t], bf16 x[2p + 1][t]) with zeros in the pad margins and
 * the slack; rows of ldp >= t_in + 2 * pad + NN_CONV_BF16_SLACK words. */
void nn_conv_pack_pairs_avx512(const float *x, size_t ldx, size_t channels, size_t t_in,
                               size_t pad, uint32_t *packed, size_t ldp);

/* Rows [row_begin, row_end) of y (cout x t_out, rows of ldy) = bias (+ y when add) + the
 * convolution of the packed input with w: [taps][cout][cinp] bf16, cinp even. */
void nn_conv_taps_bf16_avx512(const uint16_t *w, size_t cout, size_t cinp, size_t taps,
                              size_t dil, const uint32_t *xp, size_t ldp, size_t t_out,
                              size_t row_begin, size_t row_end, const float *bias, float *y,
                              size_t ldy, bool add);

#endif
