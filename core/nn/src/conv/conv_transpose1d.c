/* ConvTranspose1d as a GEMM and a scatter: Z[(o, j)][t] = sum_i w[i][o][j] x[i][t] for a tile of
 * input frames, then y[o][t * stride - padding + j] += Z[(o, j)][t]. The pool splits output
 * channels, so every thread owns its rows of y and no two threads add to the same sample. */
#include "spark/nn/conv.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "conv_error.h"
#include "spark/nn/gemm.h"

/* Input frames per GEMM: keeps Z (out * kernel x TILE) near the cache. */
#define TRANSPOSE_TILE 128

int nn_conv_transpose1d_init(nn_conv_transpose1d *conv, size_t in_channels,
                             size_t out_channels, size_t kernel, size_t stride, size_t padding,
                             size_t output_padding, const float *weight, const float *bias,
                             char *err, size_t err_size)
{
    memset(conv, 0, sizeof *conv);
    if (in_channels == 0 || out_channels == 0 || kernel == 0 || stride == 0) {
        nn_conv_error(err, err_size,
                      "conv_transpose1d: zero channels, kernel or stride (in %zu, out %zu, "
                      "k %zu, stride %zu)", in_channels, out_channels, kernel, stride);
        return -1;
    }
    if (2 * padding > kernel + output_padding) {
        nn_conv_error(err, err_size, "conv_transpose1d: padding %zu too large for kernel %zu",
                      padding, kernel);
        return -1;
    }
    conv->in_channels = in_channels;
    conv->out_channels = out_channels;
    conv->kernel = kernel;
    conv->stride = stride;
    conv->padding = padding;
    conv->output_padding = output_padding;
    size_t count = in_channels * out_channels * kernel;
    conv->weight = malloc(count * sizeof(float));
    if (bias)
        conv->bias = malloc(out_channels * sizeof(float));
    if (!conv->weight || (bias && !conv->bias)) {
        nn_conv_transpose1d_free(conv);
        nn_conv_error(err, err_size, "conv_transpose1d: out of memory for %zu weights", count);
        return -1;
    }
    if (bias)
        memcpy(conv->bias, bias, out_channels * sizeof(float));
    for (size_t i = 0; i < in_channels; i++)
        for (size_t o = 0; o < out_channels; o++)
            for (size_t j = 0; j < kernel; j++)
                conv->weight[(o * kernel + j) * in_channels + i] =
                    weight[(i * out_channels + o) * kernel + j];
    return 0;
}

int nn_conv_transpose1d_init_weight_norm(nn_conv_transpose1d *conv, size_t in_channels,
                                         size_t out_channels, size_t kernel, size_t stride,
                                         size_t padding, size_t output_padding, const float *g,
                                         const float *v, const float *bias, char *err,
                                         size_t err_size)
{
    size_t cols = out_channels * kernel;
    size_t count = in_channels * cols;
    float *folded = malloc((count ? count : 1) * sizeof(float));
    if (!folded) {
        memset(conv, 0, sizeof *conv);
        nn_conv_error(err, err_size, "conv_transpose1d: out of memory for %zu weights", count);
        return -1;
    }
    nn_weight_norm_fold(g, v, in_channels, cols, folded);
    int rc = nn_conv_transpose1d_init(conv, in_channels, out_channels, kernel, stride, padding,
                                      output_padding, folded, bias, err, err_size);
    free(folded);
    return rc;
}

void nn_conv_transpose1d_free(nn_conv_transpose1d *conv)
{
    if (!conv)
        return;
    free(conv->weight);
    free(conv->bias);
    conv->weight = NULL;
    conv->bias = NULL;
}

size_t nn_conv_transpose1d_out_len(const nn_conv_transpose1d *conv, size_t t_in)
{
    if (t_in == 0)
        return 0;
    return (t_in - 1) * conv->stride + conv->kernel + conv->output_padding - 2 * conv->padding;
}

size_t nn_conv_transpose1d_scratch_floats(const nn_conv_transpose1d *conv, size_t t_in)
{
    size_t tile = t_in < TRANSPOSE_TILE ? t_in : TRANSPOSE_TILE;
    return conv->out_channels * conv->kernel * tile;
}

typedef struct transpose_job {
    const nn_conv_transpose1d *conv;
    const float *x;
    size_t ldx, t_in, t_out;
    float *y;
    size_t ldy;
    float *z; /* out * kernel x tile */
} transpose_job;

static void transpose_piece(void *ctx, int task, int n_tasks)
{
    const transpose_job *job = ctx;
    const nn_conv_transpose1d *c = job->conv;
    size_t o0, o1;
    nn_pool_range(c->out_channels, 1, task, n_tasks, &o0, &o1);
    if (o0 >= o1)
        return;
    for (size_t o = o0; o < o1; o++) {
        float b = c->bias ? c->bias[o] : 0.0f;
        float *row = job->y + o * job->ldy;
        for (size_t t = 0; t < job->t_out; t++)
            row[t] = b;
    }
    size_t tile = job->t_in < TRANSPOSE_TILE ? job->t_in : TRANSPOSE_TILE;
    size_t rows = (o1 - o0) * c->kernel;
    float *z = job->z + o0 * c->kernel * tile;
    for (size_t t0 = 0; t0 < job->t_in; t0 += tile) {
        size_t n = job->t_in - t0 < tile ? job->t_in - t0 : tile;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)rows, (blasint)n,
                    (blasint)c->in_channels, 1.0f, c->weight + o0 * c->kernel * c->in_channels,
                    (blasint)c->in_channels, job->x + t0, (blasint)job->ldx, 0.0f, z,
                    (blasint)n);
        for (size_t o = o0; o < o1; o++) {
            float *row = job->y + o * job->ldy;
            for (size_t j = 0; j < c->kernel; j++) {
                const float *zr = z + ((o - o0) * c->kernel + j) * n;
                for (size_t t = 0; t < n; t++) {
                    ptrdiff_t p = (ptrdiff_t)((t0 + t) * c->stride + j) - (ptrdiff_t)c->padding;
                    if (p >= 0 && (size_t)p < job->t_out)
                        row[p] += zr[t];
                }
            }
        }
    }
}

void nn_conv_transpose1d_forward(nn_pool *pool, const nn_conv_transpose1d *conv,
                                 const float *x, size_t ldx, size_t t_in, float *y,
                                 size_t ldy, float *scratch)
{
    size_t t_out = nn_conv_transpose1d_out_len(conv, t_in);
    if (t_out == 0)
        return;
    transpose_job job = {conv, x, ldx, t_in, t_out, y, ldy, scratch};
    int threads = nn_pool_threads(pool);
    size_t work = conv->in_channels * conv->out_channels * conv->kernel * t_in;
    int pieces = (work < 65536 || threads < 2) ? 1
                 : conv->out_channels < (size_t)threads ? (int)conv->out_channels : threads;
    nn_blas_single_threaded();
    nn_pool_run(pieces > 1 ? pool : NULL, transpose_piece, &job, pieces);
}
