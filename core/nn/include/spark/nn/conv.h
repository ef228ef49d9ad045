/*
 * spark/nn/conv.h - the layer kernels both BiCodec directions share: 1-D convolutions
 * (stride, dilation, zero padding, groups, depthwise), transposed 1-D convolutions, weight-norm
 * folding, Snake, LayerNorm, exact GELU. Linear layers are nn_linear_f32 (spark/nn/gemm.h).
 *
 * Layouts. Convolutions take channel-major activations, PyTorch's (C, T): x[c * ldx + t].
 * Per-frame operations (LayerNorm, linear layers) take time-major rows, (T, C): x[t * ldx + c];
 * nn_transpose_f32 converts between the two. nn_conv1d_forward_tc runs a stride-1 ungrouped
 * convolution on time-major data directly (the Vocos stem, whose neighbours are per-frame).
 *
 * Weights are repacked once when a layer is made (nn_conv1d_init...), so a forward call only
 * computes: convolutions run as OpenBLAS GEMMs (dense stride-1 layers: one per kernel tap, no
 * im2col; strided or grouped layers: im2col per group) split over the pool's threads by output
 * channel, into scratch memory the caller sizes once with the *_scratch_floats functions.
 * Depthwise layers are direct loops; a dense stride-1 layer may be switched to bf16
 * (nn_conv1d_use_bf16, AVX512-BF16 dot products). Snake uses glibc's vector sinf (libmvec).
 * Sequence ends are zero-padded. Spec: shared/spec/spark-tts-model.md 4.3, 4.8, 4.9.
 */
#ifndef SPARK_NN_CONV_H
#define SPARK_NN_CONV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spark/nn/pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- weights from a model file ------------------------------------------------------- */

struct nn_tensor_file;

/* A malloc'd f32 copy of the tensor `name` (F32 in the file), which must have exactly the
 * given shape. NULL with a message in err naming the tensor when it is missing or has another
 * dtype or shape, or when memory runs out. */
float *nn_tensor_load_f32(const struct nn_tensor_file *file, const char *name, uint32_t ndim,
                          const int64_t *shape, char *err, size_t err_size);

/* ---- weight normalisation -------------------------------------------------------------- */

/* torch.nn.utils.weight_norm with dim 0, folded: out[r][:] = g[r] * v[r][:] / ||v[r][:]||_2
 * (no epsilon, as upstream) for a weight viewed as rows x cols. A Conv1d weight [out, in, k]
 * is rows = out, cols = in * k; a ConvTranspose1d weight [in, out, k] is rows = in (g is per
 * INPUT channel), cols = out * k. out may equal v. Norms are summed in double. */
void nn_weight_norm_fold(const float *g, const float *v, size_t rows, size_t cols, float *out);

/* ---- Conv1d ---------------------------------------------------------------------------- */

typedef struct nn_conv1d_shape {
    size_t in_channels, out_channels, kernel;
    size_t stride, dilation, padding; /* stride, dilation: 0 is read as 1 */
    size_t groups;                    /* 0 is read as 1; must divide both channel counts */
} nn_conv1d_shape;

typedef struct nn_conv1d {
    nn_conv1d_shape shape;
    float *weight; /* repacked, owned: [kernel][out][in] (dense), [out][in/groups*kernel]
                      (grouped or strided) or [kernel][channels] (depthwise) */
    float *bias;   /* owned copy, or NULL */
    bool depthwise; /* groups == in == out */
    uint16_t *weight_bf16; /* owned, after nn_conv1d_use_bf16: [kernel][out][in rounded up to
                              even], bf16; the forward then runs in bf16 */
} nn_conv1d;

/* Makes a layer from a PyTorch Conv1d weight [out, in / groups, kernel] and bias [out]
 * (NULL: none). Returns 0, or -1 with a message in err (bad shape, no memory). */
int nn_conv1d_init(nn_conv1d *conv, const nn_conv1d_shape *shape, const float *weight,
                   const float *bias, char *err, size_t err_size);
/* The same from weight_g [out] and weight_v [out, in / groups, kernel], folded once. */
int nn_conv1d_init_weight_norm(nn_conv1d *conv, const nn_conv1d_shape *shape, const float *g,
                               const float *v, const float *bias, char *err, size_t err_size);
void nn_conv1d_free(nn_conv1d *conv);

/* Whether this CPU runs the bf16 convolutions (AVX512-BF16, within the SPARK_CPU_ISA cap). */
bool nn_conv_bf16_supported(void);
/* Switches a dense stride-1 layer to bf16: weights and activations rounded to bf16 (nearest
 * even), products summed in f32 with VDPBF16PS. About twice the f32 speed, at bf16 precision
 * (relative errors near 4e-3 per layer). Returns 0, or -1 with err set when the CPU lacks
 * AVX512-BF16 or the layer is grouped or strided. The time-major form stays f32. */
int nn_conv1d_use_bf16(nn_conv1d *conv, char *err, size_t err_size);

/* floor((t_in + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1, or 0 when the input
 * is shorter than the dilated kernel. */
size_t nn_conv1d_out_len(const nn_conv1d *conv, size_t t_in);
/* Scratch floats nn_conv1d_forward needs for an input of t_in frames (and nn_conv1d_forward_tc
 * for the same length). Sizing once for the longest input serves every shorter one. */
size_t nn_conv1d_scratch_floats(const nn_conv1d *conv, size_t t_in);

/* y (out_channels, nn_conv1d_out_len) = conv(x (in_channels, t_in)), channel-major with
 * leading dimensions ldx, ldy (>= the lengths). x and y must not overlap. */
void nn_conv1d_forward(nn_pool *pool, const nn_conv1d *conv, const float *x, size_t ldx,
                       size_t t_in, float *y, size_t ldy, float *scratch);

/* y += conv(x): the same, adding to y (a residual connection) instead of overwriting it. */
void nn_conv1d_forward_add(nn_pool *pool, const nn_conv1d *conv, const float *x, size_t ldx,
                           size_t t_in, float *y, size_t ldy, float *scratch);

/* The same on time-major data: x (t_in, in_channels) rows of ldx, y (t_out, out_channels) rows
 * of ldy. Only for stride 1 and groups 1 (dense); returns -1 otherwise. */
int nn_conv1d_forward_tc(nn_pool *pool, const nn_conv1d *conv, const float *x, size_t ldx,
                         size_t t_in, float *y, size_t ldy, float *scratch);

/* Depthwise convolution on time-major data (ConvNeXt's k=7 conv over (T, C) rows):
 * y[t][c] = bias[c] + sum_j w[c][j] * x[t + j * dilation - padding][c]. Requires a depthwise
 * layer with stride 1; output length nn_conv1d_out_len. Returns -1 otherwise. */
int nn_depthwise_conv1d_tc(nn_pool *pool, const nn_conv1d *conv, const float *x, size_t ldx,
                           size_t t_in, float *y, size_t ldy);

/* ---- ConvTranspose1d ------------------------------------------------------------------- */

typedef struct nn_conv_transpose1d {
    size_t in_channels, out_channels, kernel, stride, padding, output_padding;
    float *weight; /* owned: [out * kernel][in], the GEMM operand */
    float *bias;   /* owned copy, or NULL */
} nn_conv_transpose1d;

/* From a PyTorch ConvTranspose1d weight [in, out, kernel] (groups 1, dilation 1). */
int nn_conv_transpose1d_init(nn_conv_transpose1d *conv, size_t in_channels,
                             size_t out_channels, size_t kernel, size_t stride, size_t padding,
                             size_t output_padding, const float *weight, const float *bias,
                             char *err, size_t err_size);
/* From weight_g [in] and weight_v [in, out, kernel] (the norm is per input channel). */
int nn_conv_transpose1d_init_weight_norm(nn_conv_transpose1d *conv, size_t in_channels,
                                         size_t out_channels, size_t kernel, size_t stride,
                                         size_t padding, size_t output_padding, const float *g,
                                         const float *v, const float *bias, char *err,
                                         size_t err_size);
void nn_conv_transpose1d_free(nn_conv_transpose1d *conv);

/* (t_in - 1) * stride - 2 * padding + kernel + output_padding (0 for t_in 0). */
size_t nn_conv_transpose1d_out_len(const nn_conv_transpose1d *conv, size_t t_in);
size_t nn_conv_transpose1d_scratch_floats(const nn_conv_transpose1d *conv, size_t t_in);

/* y (out_channels, out_len) = convT(x (in_channels, t_in)), channel-major. */
void nn_conv_transpose1d_forward(nn_pool *pool, const nn_conv_transpose1d *conv,
                                 const float *x, size_t ldx, size_t t_in, float *y,
                                 size_t ldy, float *scratch);

/* ---- element-wise and per-frame -------------------------------------------------------- */

/* Snake on channel-major (C, T): out = x + sin^2(alpha[c] * x) / (alpha[c] + 1e-9).
 * out may equal x (in place). */
void nn_snake_f32(nn_pool *pool, const float *x, size_t ldx, size_t channels, size_t frames,
                  const float *alpha, float *out, size_t ldout);

/* LayerNorm over each row of a time-major (rows, dim) matrix: (x - mean) / sqrt(var + eps)
 * (biased variance), then * weight + bias when they are not NULL. out may equal x. */
void nn_layer_norm_f32(nn_pool *pool, const float *x, size_t ldx, size_t rows, size_t dim,
                       const float *weight, const float *bias, float eps, float *out,
                       size_t ldout);

/* Exact GELU, 0.5 * x * (1 + erf(x / sqrt(2))), in place over n values. */
void nn_gelu_f32(nn_pool *pool, float *x, size_t n);

/* out (cols, rows) = x (rows, cols) transposed; leading dimensions in elements. */
void nn_transpose_f32(const float *x, size_t ldx, size_t rows, size_t cols, float *out,
                      size_t ldout);

#ifdef __cplusplus
}
#endif
#endif
