/*
 * spark/nn/conv_cuda.h - the codec layer kernels of spark/nn/conv.h on the GPU, with the same
 * layouts and results (f32 throughout, cuBLAS without TF32):
 *
 *   - Conv1d: dense layers as one cuBLAS GEMM (k = 1, stride 1, no padding: straight on the
 *     input; otherwise over an im2col copy in caller-sized scratch); grouped and depthwise
 *     layers by a direct kernel; the time-major forms of the Vocos stem and ConvNeXt dwconv;
 *   - ConvTranspose1d: one GEMM to per-tap columns, then a gather kernel (no atomics, so the
 *     result does not depend on scheduling);
 *   - Snake, LayerNorm (mean and variance in double, as the CPU), exact GELU, tanh,
 *     transposes, per-frame linear layers.
 *
 * Pointers named x, y, out, scratch, alpha, weight, bias are device memory unless the
 * comment says "host". Layers are made from PyTorch weights in host memory (weight norm
 * folded on the host by nn_weight_norm_fold first). Every call queues work on the job's
 * stream and returns at once; nn_cuda_stream_sync waits and reports kernel failures.
 */
#ifndef SPARK_NN_CONV_CUDA_H
#define SPARK_NN_CONV_CUDA_H

#include <stdbool.h>
#include <stddef.h>

#include "spark/nn/conv.h"
#include "spark/nn/cuda.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A device copy of n host floats; NULL with err naming `what` (out of GPU memory...). */
float *nn_cuda_upload_f32(const float *host, size_t n, const char *what, char *err,
                          size_t err_size);
/* Queued copies between host and device memory on the job's stream (host memory should be
 * pinned, nn_cuda_host_alloc, for the copy to overlap). Return 0, or -1 with err set. */
int nn_cuda_to_device(nn_cuda_stream *s, float *device, const float *host, size_t n, char *err,
                      size_t err_size);
int nn_cuda_to_host(nn_cuda_stream *s, float *host, const float *device, size_t n, char *err,
                    size_t err_size);

/* ---- Conv1d ---------------------------------------------------------------------------- */

typedef struct nn_cuda_conv1d {
    nn_conv1d_shape shape;  /* stride, dilation, groups normalised to >= 1 */
    float *weight;          /* PyTorch layout [out][in / groups][kernel] */
    float *weight_tc;       /* [out][kernel][in] after nn_cuda_conv1d_enable_time_major */
    float *bias;            /* [out] or NULL */
    bool depthwise;
} nn_cuda_conv1d;

int nn_cuda_conv1d_init(nn_cuda_conv1d *conv, const nn_conv1d_shape *shape,
                        const float *host_weight, const float *host_bias, char *err,
                        size_t err_size);
/* From host weight_g [out] and weight_v [out, in / groups, kernel], folded once. */
int nn_cuda_conv1d_init_weight_norm(nn_cuda_conv1d *conv, const nn_conv1d_shape *shape,
                                    const float *host_g, const float *host_v,
                                    const float *host_bias, char *err, size_t err_size);
void nn_cuda_conv1d_free(nn_cuda_conv1d *conv);
/* Makes the weight copy nn_cuda_conv1d_forward_tc needs (dense stride-1 layers only; the
 * channel-major forward does not need it, so it is made only for layers that run on time-major
 * data). Returns 0, or -1 with err set. */
int nn_cuda_conv1d_enable_time_major(nn_cuda_conv1d *conv, char *err, size_t err_size);
size_t nn_cuda_conv1d_out_len(const nn_cuda_conv1d *conv, size_t t_in);
/* Scratch floats the forward calls need for t_in frames (0 when none). */
size_t nn_cuda_conv1d_scratch_floats(const nn_cuda_conv1d *conv, size_t t_in);

/* y (out, t_out) = conv(x (in, t_in)), channel-major with leading dimensions ldx, ldy; with
 * accumulate, y += conv(x) (a residual). x and y must not overlap. 0, or -1 with err set. */
int nn_cuda_conv1d_forward(nn_cuda_stream *s, const nn_cuda_conv1d *conv, const float *x,
                           size_t ldx, size_t t_in, float *y, size_t ldy, float *scratch,
                           bool accumulate, char *err, size_t err_size);
/* Time-major: x (t_in, in) rows of ldx, y (t_out, out) rows of ldy. Dense stride-1 layers
 * after nn_cuda_conv1d_enable_time_major only. */
int nn_cuda_conv1d_forward_tc(nn_cuda_stream *s, const nn_cuda_conv1d *conv, const float *x,
                              size_t ldx, size_t t_in, float *y, size_t ldy, float *scratch,
                              char *err, size_t err_size);
/* Depthwise, stride 1, time-major (ConvNeXt's dwconv). */
int nn_cuda_depthwise_conv1d_tc(nn_cuda_stream *s, const nn_cuda_conv1d *conv, const float *x,
                                size_t ldx, size_t t_in, float *y, size_t ldy, char *err,
                                size_t err_size);

/* ---- ConvTranspose1d ------------------------------------------------------------------- */

typedef struct nn_cuda_conv_transpose1d {
    size_t in_channels, out_channels, kernel, stride, padding, output_padding;
    float *weight; /* PyTorch layout [in][out][kernel] */
    float *bias;   /* [out] or NULL */
} nn_cuda_conv_transpose1d;

int nn_cuda_conv_transpose1d_init(nn_cuda_conv_transpose1d *conv, size_t in_channels,
                                  size_t out_channels, size_t kernel, size_t stride,
                                  size_t padding, size_t output_padding,
                                  const float *host_weight, const float *host_bias, char *err,
                                  size_t err_size);
/* From host weight_g [in] and weight_v [in, out, kernel] (the norm is per input channel). */
int nn_cuda_conv_transpose1d_init_weight_norm(nn_cuda_conv_transpose1d *conv,
                                              size_t in_channels, size_t out_channels,
                                              size_t kernel, size_t stride, size_t padding,
                                              size_t output_padding, const float *host_g,
                                              const float *host_v, const float *host_bias,
                                              char *err, size_t err_size);
void nn_cuda_conv_transpose1d_free(nn_cuda_conv_transpose1d *conv);
size_t nn_cuda_conv_transpose1d_out_len(const nn_cuda_conv_transpose1d *conv, size_t t_in);
size_t nn_cuda_conv_transpose1d_scratch_floats(const nn_cuda_conv_transpose1d *conv,
                                               size_t t_in);
int nn_cuda_conv_transpose1d_forward(nn_cuda_stream *s, const nn_cuda_conv_transpose1d *conv,
                                     const float *x, size_t ldx, size_t t_in, float *y,
                                     size_t ldy, float *scratch, char *err, size_t err_size);

/* ---- element-wise and per-frame -------------------------------------------------------- */

/* Snake on channel-major (C, T); out may equal x. */
void nn_cuda_snake(nn_cuda_stream *s, const float *x, size_t ldx, size_t channels,
                   size_t frames, const float *alpha, float *out, size_t ldout);
/* LayerNorm over each row of (rows, dim); weight, bias may be NULL; out may equal x. */
void nn_cuda_layer_norm(nn_cuda_stream *s, const float *x, size_t ldx, size_t rows, size_t dim,
                        const float *weight, const float *bias, float eps, float *out,
                        size_t ldout);
/* Exact GELU / tanh in place over n values. */
void nn_cuda_gelu(nn_cuda_stream *s, float *x, size_t n);
void nn_cuda_tanh(nn_cuda_stream *s, float *x, size_t n);
/* out (cols, rows) = x (rows, cols) transposed. */
void nn_cuda_transpose(nn_cuda_stream *s, const float *x, size_t ldx, size_t rows, size_t cols,
                       float *out, size_t ldout);
/* x[i] *= factor over n values. */
void nn_cuda_scale(nn_cuda_stream *s, float *x, size_t n, float factor);
/* y[r][c] += gamma[c] * t[r][c] over (rows, dim) packed rows (a layer-scaled residual). */
void nn_cuda_add_scaled_rows(nn_cuda_stream *s, float *y, const float *t, size_t rows,
                             size_t dim, const float *gamma);
/* y[c][t] += v[c] on channel-major (channels, frames) rows of ldy (a per-channel offset). */
void nn_cuda_add_per_channel(nn_cuda_stream *s, float *y, size_t ldy, size_t channels,
                             size_t frames, const float *v);
/* y (rows, out) (+)= x (rows, in) W^T + bias, time-major, W [out][in] as nn.Linear; bias may
 * be NULL. 0, or -1 with err set. */
int nn_cuda_linear(nn_cuda_stream *s, const float *w, const float *bias, size_t in_features,
                   size_t out_features, const float *x, size_t ldx, size_t rows, float *y,
                   size_t ldy, bool accumulate, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif
#endif
