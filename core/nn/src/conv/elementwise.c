/* Snake, LayerNorm, exact GELU and transposes: the per-element and per-frame parts of the
 * codec layers. */
#include "spark/nn/conv.h"

#include <math.h>
#include <string.h>

#include "snake_kernels.h"
#include "spark/nn/cpu.h"

typedef struct snake_job {
    const float *x;
    size_t ldx, channels, frames;
    const float *alpha;
    float *out;
    size_t ldout;
    nn_snake_row_fn row; /* a vector kernel, or NULL for the portable loop */
} snake_job;

static void snake_piece(void *ctx, int task, int n_tasks)
{
    const snake_job *job = ctx;
    size_t c0, c1;
    nn_pool_range(job->channels, 1, task, n_tasks, &c0, &c1);
    for (size_t c = c0; c < c1; c++) {
        float a = job->alpha[c];
        /* upstream: x + (alpha + 1e-9).reciprocal() * sin(alpha * x) ** 2, all in f32 */
        float inv = 1.0f / (a + 1e-9f);
        const float *row = job->x + c * job->ldx;
        float *dst = job->out + c * job->ldout;
        if (job->row) {
            job->row(row, dst, job->frames, a, inv);
            continue;
        }
        for (size_t t = 0; t < job->frames; t++) {
            float v = row[t];
            float s = sinf(a * v);
            dst[t] = v + inv * (s * s);
        }
    }
}

void nn_snake_f32(nn_pool *pool, const float *x, size_t ldx, size_t channels, size_t frames,
                  const float *alpha, float *out, size_t ldout)
{
    nn_isa isa = nn_cpu_isa();
    snake_job job = {x, ldx, channels, frames, alpha, out, ldout,
                     isa == NN_ISA_AVX512 ? nn_snake_row_avx512
                     : isa == NN_ISA_AVX2 ? nn_snake_row_avx2
                                          : NULL};
    int threads = nn_pool_threads(pool);
    int pieces = (channels * frames < 16384 || threads < 2) ? 1
                 : channels < (size_t)threads ? (int)channels : threads;
    nn_pool_run(pieces > 1 ? pool : NULL, snake_piece, &job, pieces);
}

typedef struct norm_job {
    const float *x;
    size_t ldx, rows, dim;
    const float *weight, *bias;
    float eps;
    float *out;
    size_t ldout;
} norm_job;

static void norm_piece(void *ctx, int task, int n_tasks)
{
    const norm_job *job = ctx;
    size_t r0, r1;
    nn_pool_range(job->rows, 1, task, n_tasks, &r0, &r1);
    for (size_t r = r0; r < r1; r++) {
        const float *row = job->x + r * job->ldx;
        double sum = 0.0;
        for (size_t i = 0; i < job->dim; i++)
            sum += row[i];
        double mean = sum / (double)job->dim;
        double var = 0.0;
        for (size_t i = 0; i < job->dim; i++) {
            double d = row[i] - mean;
            var += d * d;
        }
        var /= (double)job->dim;
        float inv = (float)(1.0 / sqrt(var + job->eps));
        float m = (float)mean;
        float *dst = job->out + r * job->ldout;
        for (size_t i = 0; i < job->dim; i++) {
            float v = (row[i] - m) * inv;
            if (job->weight)
                v *= job->weight[i];
            if (job->bias)
                v += job->bias[i];
            dst[i] = v;
        }
    }
}

void nn_layer_norm_f32(nn_pool *pool, const float *x, size_t ldx, size_t rows, size_t dim,
                       const float *weight, const float *bias, float eps, float *out,
                       size_t ldout)
{
    norm_job job = {x, ldx, rows, dim, weight, bias, eps, out, ldout};
    int threads = nn_pool_threads(pool);
    int pieces = (rows * dim < 16384 || threads < 2) ? 1
                 : rows < (size_t)threads ? (int)rows : threads;
    nn_pool_run(pieces > 1 ? pool : NULL, norm_piece, &job, pieces);
}

typedef struct gelu_job {
    float *x;
    size_t n;
} gelu_job;

static void gelu_piece(void *ctx, int task, int n_tasks)
{
    const gelu_job *job = ctx;
    size_t i0, i1;
    nn_pool_range(job->n, 16, task, n_tasks, &i0, &i1);
    for (size_t i = i0; i < i1; i++) {
        float v = job->x[i];
        job->x[i] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    }
}

void nn_gelu_f32(nn_pool *pool, float *x, size_t n)
{
    gelu_job job = {x, n};
    int threads = nn_pool_threads(pool);
    int pieces = (n < 16384 || threads < 2) ? 1 : threads;
    nn_pool_run(pieces > 1 ? pool : NULL, gelu_piece, &job, pieces);
}

void nn_transpose_f32(const float *x, size_t ldx, size_t rows, size_t cols, float *out,
                      size_t ldout)
{
    /* blocks of 32 x 32 keep both sides in cache */
    for (size_t r0 = 0; r0 < rows; r0 += 32)
        for (size_t c0 = 0; c0 < cols; c0 += 32) {
            size_t r1 = r0 + 32 < rows ? r0 + 32 : rows;
            size_t c1 = c0 + 32 < cols ? c0 + 32 : cols;
            for (size_t r = r0; r < r1; r++)
                for (size_t c = c0; c < c1; c++)
                    out[c * ldout + r] = x[r * ldx + c];
        }
}
