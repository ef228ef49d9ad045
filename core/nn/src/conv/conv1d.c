/* Conv1d as OpenBLAS GEMMs. Dense stride-1 layers run one GEMM per kernel tap on a zero-padded
 * copy of the input (no im2col: tap j reads the padded rows shifted by j * dilation); strided
 * or grouped layers gather columns (im2col) per group; depthwise layers are direct loops. */
#include "spark/nn/conv.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "conv_bf16.h"
#include "conv_error.h"
#include "spark/nn/cpu.h"
#include "spark/nn/gemm.h"

static void normalise_shape(nn_conv1d_shape *s)
{
    if (s->stride == 0)
        s->stride = 1;
    if (s->dilation == 0)
        s->dilation = 1;
    if (s->groups == 0)
        s->groups = 1;
}

static bool is_tap_gemm(const nn_conv1d *c)
{
    return c->shape.groups == 1 && c->shape.stride == 1;
}

int nn_conv1d_init(nn_conv1d *conv, const nn_conv1d_shape *shape, const float *weight,
                   const float *bias, char *err, size_t err_size)
{
    memset(conv, 0, sizeof *conv);
    nn_conv1d_shape s = *shape;
    normalise_shape(&s);
    if (s.in_channels == 0 || s.out_channels == 0 || s.kernel == 0) {
        nn_conv_error(err, err_size, "conv1d: zero channels or kernel (in %zu, out %zu, k %zu)",
                      s.in_channels, s.out_channels, s.kernel);
        return -1;
    }
    if (s.in_channels % s.groups || s.out_channels % s.groups) {
        nn_conv_error(err, err_size, "conv1d: groups %zu must divide in %zu and out %zu",
                      s.groups, s.in_channels, s.out_channels);
        return -1;
    }
    conv->shape = s;
    conv->depthwise = s.groups > 1 && s.groups == s.in_channels && s.groups == s.out_channels;
    size_t in_per_group = s.in_channels / s.groups;
    size_t count = s.out_channels * in_per_group * s.kernel;
    conv->weight = malloc(count * sizeof(float));
    if (bias)
        conv->bias = malloc(s.out_channels * sizeof(float));
    if (!conv->weight || (bias && !conv->bias)) {
        nn_conv1d_free(conv);
        nn_conv_error(err, err_size, "conv1d: out of memory for %zu weights", count);
        return -1;
    }
    if (bias)
        memcpy(conv->bias, bias, s.out_channels * sizeof(float));
    if (conv->depthwise) {
        for (size_t c = 0; c < s.out_channels; c++)
            for (size_t j = 0; j < s.kernel; j++)
                conv->weight[j * s.out_channels + c] = weight[c * s.kernel + j];
    } else if (is_tap_gemm(conv)) {
        for (size_t o = 0; o < s.out_channels; o++)
            for (size_t i = 0; i < s.in_channels; i++)
                for (size_t j = 0; j < s.kernel; j++)
                    conv->weight[(j * s.out_channels + o) * s.in_channels + i] =
                        weight[(o * s.in_channels + i) * s.kernel + j];
    } else {
        memcpy(conv->weight, weight, count * sizeof(float));
    }
    return 0;
}

int nn_conv1d_init_weight_norm(nn_conv1d *conv, const nn_conv1d_shape *shape, const float *g,
                               const float *v, const float *bias, char *err, size_t err_size)
{
    nn_conv1d_shape s = *shape;
    normalise_shape(&s);
    size_t cols = s.groups ? s.in_channels / s.groups * s.kernel : 0;
    size_t count = s.out_channels * cols;
    float *folded = malloc((count ? count : 1) * sizeof(float));
    if (!folded) {
        memset(conv, 0, sizeof *conv);
        nn_conv_error(err, err_size, "conv1d: out of memory for %zu weights", count);
        return -1;
    }
    nn_weight_norm_fold(g, v, s.out_channels, cols, folded);
    int rc = nn_conv1d_init(conv, &s, folded, bias, err, err_size);
    free(folded);
    return rc;
}

void nn_conv1d_free(nn_conv1d *conv)
{
    if (!conv)
        return;
    free(conv->weight);
    free(conv->bias);
    free(conv->weight_bf16);
    conv->weight = NULL;
    conv->bias = NULL;
    conv->weight_bf16 = NULL;
}

bool nn_conv_bf16_supported(void)
{
    return nn_cpu_isa() == NN_ISA_AVX512 && nn_cpu()->avx512bf16;
}

static size_t even(size_t n)
{
    return (n + 1) / 2 * 2;
}

int nn_conv1d_use_bf16(nn_conv1d *conv, char *err, size_t err_size)
{
    const nn_conv1d_shape *s = &conv->shape;
    if (!nn_conv_bf16_supported()) {
        nn_conv_error(err, err_size, "bf16 convolutions need a CPU with AVX512-BF16 (this one: "
                      "%s)", nn_cpu_summary());
        return -1;
    }
    if (!is_tap_gemm(conv)) {
        nn_conv_error(err, err_size, "bf16 convolutions are dense and stride 1 (this layer: "
                      "groups %zu, stride %zu)", s->groups, s->stride);
        return -1;
    }
    size_t cinp = even(s->in_channels);
    uint16_t *w = calloc(s->kernel * s->out_channels * cinp, sizeof(uint16_t));
    if (!w) {
        nn_conv_error(err, err_size, "conv1d: out of memory for bf16 weights");
        return -1;
    }
    for (size_t j = 0; j < s->kernel; j++)
        for (size_t o = 0; o < s->out_channels; o++)
            for (size_t i = 0; i < s->in_channels; i++)
                w[(j * s->out_channels + o) * cinp + i] =
                    nn_bf16_round(conv->weight[(j * s->out_channels + o) * s->in_channels + i]);
    free(conv->weight_bf16);
    conv->weight_bf16 = w;
    return 0;
}

size_t nn_conv1d_out_len(const nn_conv1d *conv, size_t t_in)
{
    const nn_conv1d_shape *s = &conv->shape;
    size_t span = s->dilation * (s->kernel - 1) + 1;
    size_t padded = t_in + 2 * s->padding;
    if (t_in == 0 || padded < span)
        return 0;
    return (padded - span) / s->stride + 1;
}

size_t nn_conv1d_scratch_floats(const nn_conv1d *conv, size_t t_in)
{
    const nn_conv1d_shape *s = &conv->shape;
    if (conv->depthwise)
        return 0;
    if (is_tap_gemm(conv)) {
        size_t f32 = s->in_channels * (t_in + 2 * s->padding);
        /* the bf16 path packs channel pairs into 32-bit words, with slack after each row */
        size_t bf16 = even(s->in_channels) / 2 * (t_in + 2 * s->padding + NN_CONV_BF16_SLACK);
        return f32 > bf16 ? f32 : bf16;
    }
    return s->in_channels / s->groups * s->kernel * nn_conv1d_out_len(conv, t_in);
}

/* ---- dense, stride 1: one GEMM per tap, split by output channel ------------------------ */

typedef struct tap_job {
    const nn_conv1d *conv;
    bool add; /* y += conv(x) */
    const float *x; /* channel-major: (in, t_out + span - 1) rows of ldx */
    size_t ldx, t_out;
    float *y;
    size_t ldy;
} tap_job;

/* y rows o0..o1 = bias (or += bias when add): what the GEMMs then accumulate onto. */
static void fill_bias_rows(float *y, size_t ldy, size_t o0, size_t o1, size_t t,
                           const float *bias, bool add)
{
    for (size_t o = o0; o < o1; o++) {
        float b = bias ? bias[o] : 0.0f;
        float *row = y + o * ldy;
        if (add) {
            if (b != 0.0f)
                for (size_t i = 0; i < t; i++)
                    row[i] += b;
        } else {
            for (size_t i = 0; i < t; i++)
                row[i] = b;
        }
    }
}

static void tap_piece(void *ctx, int task, int n_tasks)
{
    const tap_job *job = ctx;
    const nn_conv1d_shape *s = &job->conv->shape;
    size_t o0, o1;
    nn_pool_range(s->out_channels, 16, task, n_tasks, &o0, &o1);
    if (o0 >= o1)
        return;
    fill_bias_rows(job->y, job->ldy, o0, o1, job->t_out, job->conv->bias, job->add);
    for (size_t j = 0; j < s->kernel; j++) {
        const float *w = job->conv->weight + (j * s->out_channels + o0) * s->in_channels;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)(o1 - o0),
                    (blasint)job->t_out, (blasint)s->in_channels, 1.0f, w,
                    (blasint)s->in_channels, job->x + j * s->dilation, (blasint)job->ldx, 1.0f,
                    job->y + o0 * job->ldy, (blasint)job->ldy);
    }
}

static int pieces_for(nn_pool *pool, size_t units, size_t work)
{
    int threads = nn_pool_threads(pool);
    if (work < 65536 || units < 2 || threads < 2)
        return 1;
    return units < (size_t)threads ? (int)units : threads;
}

/* Copies x (C, t_in) into dst (C, t_in + 2 * pad) with zero margins. */
static void pad_channels(const float *x, size_t ldx, size_t channels, size_t t_in, size_t pad,
                         float *dst)
{
    size_t ld = t_in + 2 * pad;
    for (size_t c = 0; c < channels; c++) {
        float *row = dst + c * ld;
        memset(row, 0, pad * sizeof(float));
        memcpy(row + pad, x + c * ldx, t_in * sizeof(float));
        memset(row + pad + t_in, 0, pad * sizeof(float));
    }
}

typedef struct bf16_job {
    const nn_conv1d *conv;
    const uint32_t *packed;
    size_t ldp, t_out;
    float *y;
    size_t ldy;
    bool add;
} bf16_job;

static void bf16_piece(void *ctx, int task, int n_tasks)
{
    const bf16_job *job = ctx;
    const nn_conv1d_shape *s = &job->conv->shape;
    size_t o0, o1;
    nn_pool_range(s->out_channels, 16, task, n_tasks, &o0, &o1);
    if (o0 < o1)
        nn_conv_taps_bf16_avx512(job->conv->weight_bf16, s->out_channels, even(s->in_channels),
                                 s->kernel, s->dilation, job->packed, job->ldp, job->t_out, o0,
                                 o1, job->conv->bias, job->y, job->ldy, job->add);
}

static void forward_taps_bf16(nn_pool *pool, const nn_conv1d *conv, const float *x,
                              size_t ldx, size_t t_in, size_t t_out, float *y, size_t ldy,
                              float *scratch, bool add)
{
    const nn_conv1d_shape *s = &conv->shape;
    size_t ldp = t_in + 2 * s->padding + NN_CONV_BF16_SLACK;
    uint32_t *packed = (uint32_t *)(void *)scratch;
    nn_conv_pack_pairs_avx512(x, ldx, s->in_channels, t_in, s->padding, packed, ldp);
    bf16_job job = {conv, packed, ldp, t_out, y, ldy, add};
    size_t units = (s->out_channels + 15) / 16;
    int pieces = pieces_for(pool, units, s->out_channels * s->in_channels * s->kernel * t_out);
    nn_pool_run(pieces > 1 ? pool : NULL, bf16_piece, &job, pieces);
}

static void forward_taps(nn_pool *pool, const nn_conv1d *conv, const float *x, size_t ldx,
                         size_t t_in, size_t t_out, float *y, size_t ldy, float *scratch,
                         bool add)
{
    if (conv->weight_bf16) {
        forward_taps_bf16(pool, conv, x, ldx, t_in, t_out, y, ldy, scratch, add);
        return;
    }
    const nn_conv1d_shape *s = &conv->shape;
    tap_job job = {.conv = conv, .add = add, .x = x, .ldx = ldx, .t_out = t_out, .y = y,
                   .ldy = ldy};
    if (s->padding > 0) {
        pad_channels(x, ldx, s->in_channels, t_in, s->padding, scratch);
        job.x = scratch;
        job.ldx = t_in + 2 * s->padding;
    }
    size_t units = (s->out_channels + 15) / 16;
    int pieces = pieces_for(pool, units, s->out_channels * s->in_channels * s->kernel * t_out);
    nn_blas_single_threaded();
    nn_pool_run(pieces > 1 ? pool : NULL, tap_piece, &job, pieces);
}

/* ---- strided or grouped: im2col per group ---------------------------------------------- */

static void gather_columns(const nn_conv1d *conv, const float *x, size_t ldx, size_t t_in,
                           size_t t_out, size_t group, float *col)
{
    const nn_conv1d_shape *s = &conv->shape;
    size_t in_per_group = s->in_channels / s->groups;
    for (size_t i = 0; i < in_per_group; i++) {
        const float *src = x + (group * in_per_group + i) * ldx;
        for (size_t j = 0; j < s->kernel; j++) {
            float *dst = col + (i * s->kernel + j) * t_out;
            for (size_t t = 0; t < t_out; t++) {
                /* position in the unpadded input; negative or past the end reads zero */
                ptrdiff_t p = (ptrdiff_t)(t * s->stride + j * s->dilation) - (ptrdiff_t)s->padding;
                dst[t] = (p >= 0 && (size_t)p < t_in) ? src[p] : 0.0f;
            }
        }
    }
}

static void forward_im2col(nn_pool *pool, const nn_conv1d *conv, const float *x, size_t ldx,
                           size_t t_in, size_t t_out, float *y, size_t ldy, float *scratch,
                           bool add)
{
    const nn_conv1d_shape *s = &conv->shape;
    size_t in_per_group = s->in_channels / s->groups;
    size_t out_per_group = s->out_channels / s->groups;
    size_t cols = in_per_group * s->kernel;
    fill_bias_rows(y, ldy, 0, s->out_channels, t_out, conv->bias, add);
    for (size_t g = 0; g < s->groups; g++) {
        gather_columns(conv, x, ldx, t_in, t_out, g, scratch);
        nn_matmul_f32(pool, out_per_group, t_out, cols, conv->weight + g * out_per_group * cols,
                      cols, scratch, t_out, y + g * out_per_group * ldy, ldy, true);
    }
}

/* ---- depthwise, channel-major ---------------------------------------------------------- */

typedef struct depthwise_job {
    const nn_conv1d *conv;
    bool add;
    const float *x;
    size_t ldx, t_in, t_out;
    float *y;
    size_t ldy;
} depthwise_job;

static void depthwise_ct_piece(void *ctx, int task, int n_tasks)
{
    const depthwise_job *job = ctx;
    const nn_conv1d_shape *s = &job->conv->shape;
    size_t c0, c1;
    nn_pool_range(s->out_channels, 1, task, n_tasks, &c0, &c1);
    for (size_t c = c0; c < c1; c++) {
        const float *src = job->x + c * job->ldx;
        float *dst = job->y + c * job->ldy;
        float b = job->conv->bias ? job->conv->bias[c] : 0.0f;
        for (size_t t = 0; t < job->t_out; t++) {
            float acc = b;
            for (size_t j = 0; j < s->kernel; j++) {
                ptrdiff_t p = (ptrdiff_t)(t * s->stride + j * s->dilation) - (ptrdiff_t)s->padding;
                if (p >= 0 && (size_t)p < job->t_in)
                    acc += job->conv->weight[j * s->out_channels + c] * src[p];
            }
            dst[t] = job->add ? dst[t] + acc : acc;
        }
    }
}

static void forward(nn_pool *pool, const nn_conv1d *conv, const float *x, size_t ldx,
                    size_t t_in, float *y, size_t ldy, float *scratch, bool add)
{
    size_t t_out = nn_conv1d_out_len(conv, t_in);
    if (t_out == 0)
        return;
    if (conv->depthwise) {
        depthwise_job job = {conv, add, x, ldx, t_in, t_out, y, ldy};
        int pieces = pieces_for(pool, conv->shape.out_channels,
                                conv->shape.out_channels * conv->shape.kernel * t_out);
        nn_pool_run(pieces > 1 ? pool : NULL, depthwise_ct_piece, &job, pieces);
    } else if (is_tap_gemm(conv)) {
        forward_taps(pool, conv, x, ldx, t_in, t_out, y, ldy, scratch, add);
    } else {
        forward_im2col(pool, conv, x, ldx, t_in, t_out, y, ldy, scratch, add);
    }
}

void nn_conv1d_forward(nn_pool *pool, const nn_conv1d *conv, const float *x, size_t ldx,
                       size_t t_in, float *y, size_t ldy, float *scratch)
{
    forward(pool, conv, x, ldx, t_in, y, ldy, scratch, false);
}

void nn_conv1d_forward_add(nn_pool *pool, const nn_conv1d *conv, const float *x, size_t ldx,
                           size_t t_in, float *y, size_t ldy, float *scratch)
{
    forward(pool, conv, x, ldx, t_in, y, ldy, scratch, true);
}

/* ---- time-major ------------------------------------------------------------------------ */

int nn_conv1d_forward_tc(nn_pool *pool, const nn_conv1d *conv, const float *x, size_t ldx,
                         size_t t_in, float *y, size_t ldy, float *scratch)
{
    const nn_conv1d_shape *s = &conv->shape;
    if (!is_tap_gemm(conv))
        return -1;
    size_t t_out = nn_conv1d_out_len(conv, t_in);
    if (t_out == 0)
        return 0;
    const float *src = x;
    size_t ld = ldx;
    if (s->padding > 0) {
        /* frames -padding .. t_in + padding - 1, zero outside the input */
        ld = s->in_channels;
        memset(scratch, 0, s->padding * ld * sizeof(float));
        for (size_t t = 0; t < t_in; t++)
            memcpy(scratch + (s->padding + t) * ld, x + t * ldx, s->in_channels * sizeof(float));
        memset(scratch + (s->padding + t_in) * ld, 0, s->padding * ld * sizeof(float));
        src = scratch;
    }
    for (size_t j = 0; j < s->kernel; j++) {
        const float *w = conv->weight + j * s->out_channels * s->in_channels;
        nn_linear_f32(pool, t_out, s->out_channels, s->in_channels, src + j * s->dilation * ld, ld,
                      w, s->in_channels, j == 0 ? conv->bias : NULL, y, ldy, j > 0);
    }
    return 0;
}

typedef struct depthwise_tc_job {
    const nn_conv1d *conv;
    const float *x;
    size_t ldx, t_in, t_out;
    float *y;
    size_t ldy;
} depthwise_tc_job;

static void depthwise_tc_piece(void *ctx, int task, int n_tasks)
{
    const depthwise_tc_job *job = ctx;
    const nn_conv1d_shape *s = &job->conv->shape;
    size_t channels = s->out_channels;
    size_t t0, t1;
    nn_pool_range(job->t_out, 1, task, n_tasks, &t0, &t1);
    for (size_t t = t0; t < t1; t++) {
        float *dst = job->y + t * job->ldy;
        if (job->conv->bias)
            memcpy(dst, job->conv->bias, channels * sizeof(float));
        else
            memset(dst, 0, channels * sizeof(float));
        for (size_t j = 0; j < s->kernel; j++) {
            ptrdiff_t p = (ptrdiff_t)(t + j * s->dilation) - (ptrdiff_t)s->padding;
            if (p < 0 || (size_t)p >= job->t_in)
                continue;
            const float *src = job->x + (size_t)p * job->ldx;
            const float *w = job->conv->weight + j * channels;
            for (size_t c = 0; c < channels; c++)
                dst[c] += w[c] * src[c];
        }
    }
}

int nn_depthwise_conv1d_tc(nn_pool *pool, const nn_conv1d *conv, const float *x, size_t ldx,
                           size_t t_in, float *y, size_t ldy)
{
    if (!conv->depthwise || conv->shape.stride != 1)
        return -1;
    size_t t_out = nn_conv1d_out_len(conv, t_in);
    if (t_out == 0)
        return 0;
    depthwise_tc_job job = {conv, x, ldx, t_in, t_out, y, ldy};
    int pieces = pieces_for(pool, t_out, conv->shape.out_channels * conv->shape.kernel * t_out);
    nn_pool_run(pieces > 1 ? pool : NULL, depthwise_tc_piece, &job, pieces);
    return 0;
}
