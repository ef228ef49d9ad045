// conv_cuda.cu - the codec layer kernels on the GPU (spark/nn/conv_cuda.h): convolutions as
// cuBLAS GEMMs over im2col columns or as direct kernels, transposed convolutions as a GEMM
// and a gather, and the element-wise and per-frame layers.
#include "cuda_internal.h"

#include "spark/nn/conv_cuda.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <math.h>
#include <vector>

namespace {

int blocks_for(size_t n)
{
    size_t b = (n + NNCU_THREADS - 1) / NNCU_THREADS;
    return (int)(b < 1 ? 1 : b > 65535 ? 65535 : b);
}

#define GRID_STRIDE(i, n)                                                                  \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n);                 \
         i += (size_t)gridDim.x * blockDim.x)

// col[(i * k + j) * t_out + t] = x[i][t * s + j * d - p] (zero outside), channel-major input
__global__ void im2col_cm_kernel(const float *x, size_t ldx, size_t in, size_t t_in,
                                 size_t k, size_t s, size_t d, size_t p, size_t t_out,
                                 float *col)
{
    GRID_STRIDE(idx, in * k * t_out)
    {
        const size_t t = idx % t_out, row = idx / t_out, j = row % k, i = row / k;
        const long src = (long)(t * s + j * d) - (long)p;
        col[idx] = src >= 0 && src < (long)t_in ? x[i * ldx + (size_t)src] : 0.f;
    }
}

// col[t * (k * in) + j * in + i] = x[t + j * d - p][i], time-major input
__global__ void im2col_tc_kernel(const float *x, size_t ldx, size_t in, size_t t_in, size_t k,
                                 size_t d, size_t p, size_t t_out, float *col)
{
    GRID_STRIDE(idx, t_out * k * in)
    {
        const size_t i = idx % in, j = (idx / in) % k, t = idx / (in * k);
        const long src = (long)(t + j * d) - (long)p;
        col[idx] = src >= 0 && src < (long)t_in ? x[(size_t)src * ldx + i] : 0.f;
    }
}

__global__ void grouped_conv_kernel(const float *x, size_t ldx, size_t t_in, const float *w,
                                    const float *bias, size_t out, size_t in_per_group,
                                    size_t out_per_group, size_t k, size_t s, size_t d,
                                    size_t p, size_t t_out, float *y, size_t ldy,
                                    bool accumulate)
{
    GRID_STRIDE(idx, out * t_out)
    {
        const size_t t = idx % t_out, o = idx / t_out, g = o / out_per_group;
        float acc = bias ? bias[o] : 0.f;
        for (size_t i = 0; i < in_per_group; i++) {
            const float *xr = x + (g * in_per_group + i) * ldx;
            const float *wr = w + (o * in_per_group + i) * k;
            for (size_t j = 0; j < k; j++) {
                const long src = (long)(t * s + j * d) - (long)p;
                if (src >= 0 && src < (long)t_in)
                    acc += wr[j] * xr[src];
            }
        }
        float *dst = y + o * ldy + t;
        *dst = accumulate ? *dst + acc : acc;
    }
}

__global__ void depthwise_tc_kernel(const float *x, size_t ldx, size_t t_in, const float *w,
                                    const float *bias, size_t channels, size_t k, size_t d,
                                    size_t p, size_t t_out, float *y, size_t ldy)
{
    GRID_STRIDE(idx, channels * t_out)
    {
        const size_t c = idx % channels, t = idx / channels;
        float acc = bias ? bias[c] : 0.f;
        for (size_t j = 0; j < k; j++) {
            const long src = (long)(t + j * d) - (long)p;
            if (src >= 0 && src < (long)t_in)
                acc += w[c * k + j] * x[(size_t)src * ldx + c];
        }
        y[t * ldy + c] = acc;
    }
}

// y[o][tau] = bias[o] + sum over taps j with (tau + p - j) = t * s, 0 <= t < t_in, of
// cols[(o * k + j) * t_in + t]
__global__ void transpose_gather_kernel(const float *cols, size_t t_in, const float *bias,
                                        size_t out, size_t k, size_t s, size_t p, size_t t_out,
                                        float *y, size_t ldy)
{
    GRID_STRIDE(idx, out * t_out)
    {
        const size_t tau = idx % t_out, o = idx / t_out;
        float acc = bias ? bias[o] : 0.f;
        for (size_t j = 0; j < k; j++) {
            const long num = (long)(tau + p) - (long)j;
            if (num < 0 || num % (long)s)
                continue;
            const size_t t = (size_t)num / s;
            if (t < t_in)
                acc += cols[(o * k + j) * t_in + t];
        }
        y[o * ldy + tau] = acc;
    }
}

// tc[(o * k + j) * in + i] = w[(o * in + i) * k + j]
__global__ void repack_tc_kernel(const float *w, size_t out, size_t in, size_t k, float *tc)
{
    GRID_STRIDE(idx, out * in * k)
    {
        const size_t j = idx % k, i = (idx / k) % in, o = idx / (k * in);
        tc[(o * k + j) * in + i] = w[idx];
    }
}

__global__ void bias_cm_kernel(float *y, size_t ldy, size_t channels, size_t frames,
                               const float *bias)
{
    GRID_STRIDE(idx, channels * frames)
    {
        const size_t c = idx / frames, t = idx % frames;
        y[c * ldy + t] += bias[c];
    }
}

__global__ void bias_tc_kernel(float *y, size_t ldy, size_t rows, size_t cols, const float *bias)
{
    GRID_STRIDE(idx, rows * cols)
    {
        const size_t r = idx / cols, c = idx % cols;
        y[r * ldy + c] += bias[c];
    }
}

__global__ void scale_kernel(float *x, size_t n, float factor)
{
    GRID_STRIDE(i, n)
    x[i] *= factor;
}

__global__ void add_scaled_rows_kernel(float *y, const float *t, size_t rows, size_t dim,
                                       const float *gamma)
{
    GRID_STRIDE(i, rows * dim)
    y[i] += gamma[i % dim] * t[i];
}

__global__ void snake_kernel(const float *x, size_t ldx, size_t channels, size_t frames,
                             const float *alpha, float *out, size_t ldout)
{
    GRID_STRIDE(idx, channels * frames)
    {
        const size_t c = idx / frames, t = idx % frames;
        const float a = alpha[c], inv = 1.0f / (a + 1e-9f), v = x[c * ldx + t];
        const float sn = sinf(a * v);
        out[c * ldout + t] = v + inv * (sn * sn);
    }
}

__global__ void layer_norm_kernel(const float *x, size_t ldx, size_t dim, const float *weight,
                                  const float *bias, float eps, float *out, size_t ldout)
{
    __shared__ double part[NNCU_THREADS];
    const float *row = x + blockIdx.x * ldx;
    double sum = 0;
    for (size_t i = threadIdx.x; i < dim; i += blockDim.x)
        sum += row[i];
    part[threadIdx.x] = sum;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s)
            part[threadIdx.x] += part[threadIdx.x + s];
        __syncthreads();
    }
    const double mean = part[0] / (double)dim;
    __syncthreads();
    double var = 0;
    for (size_t i = threadIdx.x; i < dim; i += blockDim.x) {
        const double dlt = row[i] - mean;
        var += dlt * dlt;
    }
    part[threadIdx.x] = var;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s)
            part[threadIdx.x] += part[threadIdx.x + s];
        __syncthreads();
    }
    const float inv = (float)(1.0 / sqrt(part[0] / (double)dim + eps));
    const float m = (float)mean;
    float *dst = out + blockIdx.x * ldout;
    // every thread has read its inputs (the reductions above synchronised), so out may be x
    for (size_t i = threadIdx.x; i < dim; i += blockDim.x) {
        float v = (row[i] - m) * inv;
        if (weight)
            v *= weight[i];
        if (bias)
            v += bias[i];
        dst[i] = v;
    }
}

__global__ void gelu_kernel(float *x, size_t n)
{
    GRID_STRIDE(i, n)
    {
        const float v = x[i];
        x[i] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    }
}

__global__ void tanh_kernel(float *x, size_t n)
{
    GRID_STRIDE(i, n)
    x[i] = tanhf(x[i]);
}

__global__ void transpose_kernel(const float *x, size_t ldx, size_t rows, size_t cols,
                                 float *out, size_t ldout)
{
    __shared__ float tile[32][33];
    const size_t c0 = blockIdx.x * 32, r0 = blockIdx.y * 32;
    for (unsigned dy = threadIdx.y; dy < 32; dy += blockDim.y) {
        const size_t r = r0 + dy, c = c0 + threadIdx.x;
        if (r < rows && c < cols)
            tile[dy][threadIdx.x] = x[r * ldx + c];
    }
    __syncthreads();
    for (unsigned dy = threadIdx.y; dy < 32; dy += blockDim.y) {
        const size_t c = c0 + dy, r = r0 + threadIdx.x;
        if (r < rows && c < cols)
            out[c * ldout + r] = tile[threadIdx.x][dy];
    }
}

size_t norm1(size_t v)
{
    return v ? v : 1;
}

int sgemm(nn_cuda_stream *s, cublasOperation_t ta, cublasOperation_t tb, size_t m, size_t n,
          size_t k, const float *a, size_t lda, const float *b, size_t ldb, bool accumulate,
          float *c, size_t ldc, const char *what, char *err, size_t err_size)
{
    const float alpha = 1.f, beta = accumulate ? 1.f : 0.f;
    return nncu_check_blas(cublasSgemm(nncu_blas(s), ta, tb, (int)m, (int)n, (int)k, &alpha, a,
                                       (int)lda, b, (int)ldb, &beta, c, (int)ldc),
                           what, err, err_size);
}

int launched(const char *what, char *err, size_t err_size)
{
    return nncu_check(cudaGetLastError(), what, err, err_size);
}

} // namespace

extern "C" float *nn_cuda_upload_f32(const float *host, size_t n, const char *what, char *err,
                                     size_t err_size)
{
    float *d = static_cast<float *>(nn_cuda_alloc(n * sizeof(float), what, err, err_size));
    if (d && nncu_check(cudaMemcpy(d, host, n * sizeof(float), cudaMemcpyHostToDevice), what,
                        err, err_size)) {
        nn_cuda_free(d);
        return nullptr;
    }
    return d;
}

extern "C" int nn_cuda_to_device(nn_cuda_stream *s, float *device, const float *host, size_t n,
                                 char *err, size_t err_size)
{
    return nncu_check(cudaMemcpyAsync(device, host, n * sizeof(float), cudaMemcpyHostToDevice,
                                      nncu_stream(s)),
                      "copying to the GPU", err, err_size);
}

extern "C" int nn_cuda_to_host(nn_cuda_stream *s, float *host, const float *device, size_t n,
                               char *err, size_t err_size)
{
    return nncu_check(cudaMemcpyAsync(host, device, n * sizeof(float), cudaMemcpyDeviceToHost,
                                      nncu_stream(s)),
                      "copying from the GPU", err, err_size);
}

// ---- Conv1d -----------------------------------------------------------------------------

extern "C" void nn_cuda_conv1d_free(nn_cuda_conv1d *conv)
{
    nn_cuda_free(conv->weight);
    nn_cuda_free(conv->weight_tc);
    nn_cuda_free(conv->bias);
    std::memset(conv, 0, sizeof *conv);
}

extern "C" int nn_cuda_conv1d_init(nn_cuda_conv1d *conv, const nn_conv1d_shape *shape,
                                   const float *weight, const float *bias, char *err,
                                   size_t err_size)
{
    std::memset(conv, 0, sizeof *conv);
    nn_conv1d_shape sh = *shape;
    sh.stride = norm1(sh.stride);
    sh.dilation = norm1(sh.dilation);
    sh.groups = norm1(sh.groups);
    if (!sh.in_channels || !sh.out_channels || !sh.kernel || sh.in_channels % sh.groups ||
        sh.out_channels % sh.groups) {
        snprintf(err, err_size, "conv1d: bad shape (in %zu, out %zu, kernel %zu, groups %zu)",
                 sh.in_channels, sh.out_channels, sh.kernel, sh.groups);
        return -1;
    }
    conv->shape = sh;
    conv->depthwise = sh.groups == sh.in_channels && sh.groups == sh.out_channels;
    const size_t n = sh.out_channels * (sh.in_channels / sh.groups) * sh.kernel;
    conv->weight = nn_cuda_upload_f32(weight, n, "a conv1d weight", err, err_size);
    if (!conv->weight)
        goto fail;
    if (bias && !(conv->bias = nn_cuda_upload_f32(bias, sh.out_channels, "a conv1d bias", err,
                                                  err_size)))
        goto fail;
    return 0;
fail:
    nn_cuda_conv1d_free(conv);
    return -1;
}

extern "C" int nn_cuda_conv1d_enable_time_major(nn_cuda_conv1d *conv, char *err,
                                                size_t err_size)
{
    const nn_conv1d_shape *sh = &conv->shape;
    if (sh->groups != 1 || sh->stride != 1) {
        snprintf(err, err_size, "conv1d: the time-major form takes dense stride-1 layers");
        return -1;
    }
    if (conv->weight_tc)
        return 0;
    const size_t n = sh->out_channels * sh->in_channels * sh->kernel;
    float *tc = static_cast<float *>(nn_cuda_alloc(n * sizeof(float), "a conv1d weight", err,
                                                   err_size));
    if (!tc)
        return -1;
    repack_tc_kernel<<<blocks_for(n), NNCU_THREADS>>>(conv->weight, sh->out_channels,
                                                      sh->in_channels, sh->kernel, tc);
    // the legacy stream: no wait on other jobs' (non-blocking) streams
    if (nncu_check(cudaStreamSynchronize(0), "repacking a conv1d weight", err, err_size)) {
        nn_cuda_free(tc);
        return -1;
    }
    conv->weight_tc = tc;
    return 0;
}

extern "C" int nn_cuda_conv1d_init_weight_norm(nn_cuda_conv1d *conv,
                                               const nn_conv1d_shape *shape, const float *g,
                                               const float *v, const float *bias, char *err,
                                               size_t err_size)
{
    const size_t groups = norm1(shape->groups);
    const size_t cols = shape->in_channels / groups * shape->kernel;
    std::vector<float> w(shape->out_channels * cols);
    nn_weight_norm_fold(g, v, shape->out_channels, cols, w.data());
    return nn_cuda_conv1d_init(conv, shape, w.data(), bias, err, err_size);
}

extern "C" size_t nn_cuda_conv1d_out_len(const nn_cuda_conv1d *conv, size_t t_in)
{
    const nn_conv1d_shape *s = &conv->shape;
    const size_t span = s->dilation * (s->kernel - 1) + 1, padded = t_in + 2 * s->padding;
    if (t_in == 0 || padded < span)
        return 0;
    return (padded - span) / s->stride + 1;
}

static bool direct_input(const nn_conv1d_shape *s)
{
    return s->kernel == 1 && s->stride == 1 && s->padding == 0;
}

extern "C" size_t nn_cuda_conv1d_scratch_floats(const nn_cuda_conv1d *conv, size_t t_in)
{
    const nn_conv1d_shape *s = &conv->shape;
    if (s->groups != 1 || direct_input(s))
        return 0;
    return s->in_channels * s->kernel * nn_cuda_conv1d_out_len(conv, t_in);
}

extern "C" int nn_cuda_conv1d_forward(nn_cuda_stream *st, const nn_cuda_conv1d *conv,
                                      const float *x, size_t ldx, size_t t_in, float *y,
                                      size_t ldy, float *scratch, bool accumulate, char *err,
                                      size_t err_size)
{
    const nn_conv1d_shape *s = &conv->shape;
    const size_t t_out = nn_cuda_conv1d_out_len(conv, t_in);
    if (t_out == 0)
        return 0;
    cudaStream_t cs = nncu_stream(st);
    if (s->groups != 1) {
        const size_t ipg = s->in_channels / s->groups, opg = s->out_channels / s->groups;
        grouped_conv_kernel<<<blocks_for(s->out_channels * t_out), NNCU_THREADS, 0, cs>>>(
            x, ldx, t_in, conv->weight, conv->bias, s->out_channels, ipg, opg, s->kernel,
            s->stride, s->dilation, s->padding, t_out, y, ldy, accumulate);
        return launched("a grouped conv1d", err, err_size);
    }
    const float *b = x;
    size_t ldb = ldx;
    if (!direct_input(s)) {
        im2col_cm_kernel<<<blocks_for(s->in_channels * s->kernel * t_out), NNCU_THREADS, 0,
                           cs>>>(x, ldx, s->in_channels, t_in, s->kernel, s->stride,
                                 s->dilation, s->padding, t_out, scratch);
        b = scratch;
        ldb = t_out;
    }
    const size_t K = s->in_channels * s->kernel;
    if (sgemm(st, CUBLAS_OP_N, CUBLAS_OP_N, t_out, s->out_channels, K, b, ldb, conv->weight, K,
              accumulate, y, ldy, "a conv1d product", err, err_size))
        return -1;
    if (conv->bias)
        bias_cm_kernel<<<blocks_for(s->out_channels * t_out), NNCU_THREADS, 0, cs>>>(
            y, ldy, s->out_channels, t_out, conv->bias);
    return launched("a conv1d", err, err_size);
}

extern "C" int nn_cuda_conv1d_forward_tc(nn_cuda_stream *st, const nn_cuda_conv1d *conv,
                                         const float *x, size_t ldx, size_t t_in, float *y,
                                         size_t ldy, float *scratch, char *err,
                                         size_t err_size)
{
    const nn_conv1d_shape *s = &conv->shape;
    if (s->groups != 1 || s->stride != 1 || !conv->weight_tc) {
        snprintf(err, err_size, "conv1d: the time-major form takes dense stride-1 layers "
                 "made ready by nn_cuda_conv1d_enable_time_major");
        return -1;
    }
    const size_t t_out = nn_cuda_conv1d_out_len(conv, t_in);
    if (t_out == 0)
        return 0;
    cudaStream_t cs = nncu_stream(st);
    const size_t K = s->in_channels * s->kernel;
    const float *b = x;
    size_t ldb = ldx;
    if (!direct_input(s)) {
        im2col_tc_kernel<<<blocks_for(t_out * K), NNCU_THREADS, 0, cs>>>(
            x, ldx, s->in_channels, t_in, s->kernel, s->dilation, s->padding, t_out, scratch);
        b = scratch;
        ldb = K;
    }
    if (sgemm(st, CUBLAS_OP_T, CUBLAS_OP_N, s->out_channels, t_out, K, conv->weight_tc, K, b,
              ldb, false, y, ldy, "a conv1d product", err, err_size))
        return -1;
    if (conv->bias)
        bias_tc_kernel<<<blocks_for(s->out_channels * t_out), NNCU_THREADS, 0, cs>>>(
            y, ldy, t_out, s->out_channels, conv->bias);
    return launched("a conv1d", err, err_size);
}

extern "C" int nn_cuda_depthwise_conv1d_tc(nn_cuda_stream *st, const nn_cuda_conv1d *conv,
                                           const float *x, size_t ldx, size_t t_in, float *y,
                                           size_t ldy, char *err, size_t err_size)
{
    const nn_conv1d_shape *s = &conv->shape;
    if (!conv->depthwise || s->stride != 1) {
        snprintf(err, err_size, "conv1d: not a depthwise stride-1 layer");
        return -1;
    }
    const size_t t_out = nn_cuda_conv1d_out_len(conv, t_in);
    if (t_out == 0)
        return 0;
    depthwise_tc_kernel<<<blocks_for(s->out_channels * t_out), NNCU_THREADS, 0,
                          nncu_stream(st)>>>(x, ldx, t_in, conv->weight, conv->bias,
                                             s->out_channels, s->kernel, s->dilation,
                                             s->padding, t_out, y, ldy);
    return launched("a depthwise conv1d", err, err_size);
}

// ---- ConvTranspose1d --------------------------------------------------------------------

extern "C" void nn_cuda_conv_transpose1d_free(nn_cuda_conv_transpose1d *conv)
{
    nn_cuda_free(conv->weight);
    nn_cuda_free(conv->bias);
    std::memset(conv, 0, sizeof *conv);
}

extern "C" int nn_cuda_conv_transpose1d_init(nn_cuda_conv_transpose1d *conv, size_t in,
                                             size_t out, size_t kernel, size_t stride,
                                             size_t padding, size_t output_padding,
                                             const float *weight, const float *bias,
                                             char *err, size_t err_size)
{
    std::memset(conv, 0, sizeof *conv);
    if (!in || !out || !kernel || !stride || 2 * padding > kernel + output_padding) {
        snprintf(err, err_size, "conv_transpose1d: bad shape (in %zu, out %zu, kernel %zu, "
                 "stride %zu, padding %zu)", in, out, kernel, stride, padding);
        return -1;
    }
    *conv = nn_cuda_conv_transpose1d{in, out, kernel, stride, padding, output_padding,
                                     nullptr, nullptr};
    conv->weight = nn_cuda_upload_f32(weight, in * out * kernel, "a conv_transpose1d weight",
                                      err, err_size);
    if (!conv->weight ||
        (bias && !(conv->bias = nn_cuda_upload_f32(bias, out, "a conv_transpose1d bias", err,
                                                   err_size)))) {
        nn_cuda_conv_transpose1d_free(conv);
        return -1;
    }
    return 0;
}

extern "C" int nn_cuda_conv_transpose1d_init_weight_norm(
    nn_cuda_conv_transpose1d *conv, size_t in, size_t out, size_t kernel, size_t stride,
    size_t padding, size_t output_padding, const float *g, const float *v, const float *bias,
    char *err, size_t err_size)
{
    std::vector<float> w(in * out * kernel);
    nn_weight_norm_fold(g, v, in, out * kernel, w.data());
    return nn_cuda_conv_transpose1d_init(conv, in, out, kernel, stride, padding,
                                         output_padding, w.data(), bias, err, err_size);
}

extern "C" size_t nn_cuda_conv_transpose1d_out_len(const nn_cuda_conv_transpose1d *c,
                                                   size_t t_in)
{
    if (t_in == 0)
        return 0;
    return (t_in - 1) * c->stride + c->kernel + c->output_padding - 2 * c->padding;
}

extern "C" size_t nn_cuda_conv_transpose1d_scratch_floats(const nn_cuda_conv_transpose1d *c,
                                                          size_t t_in)
{
    return c->out_channels * c->kernel * t_in;
}

extern "C" int nn_cuda_conv_transpose1d_forward(nn_cuda_stream *st,
                                                const nn_cuda_conv_transpose1d *c,
                                                const float *x, size_t ldx, size_t t_in,
                                                float *y, size_t ldy, float *scratch, char *err,
                                                size_t err_size)
{
    const size_t t_out = nn_cuda_conv_transpose1d_out_len(c, t_in);
    if (t_out == 0)
        return 0;
    const size_t ok = c->out_channels * c->kernel;
    if (sgemm(st, CUBLAS_OP_N, CUBLAS_OP_T, t_in, ok, c->in_channels, x, ldx, c->weight, ok,
              false, scratch, t_in, "a conv_transpose1d product", err, err_size))
        return -1;
    transpose_gather_kernel<<<blocks_for(c->out_channels * t_out), NNCU_THREADS, 0,
                              nncu_stream(st)>>>(scratch, t_in, c->bias, c->out_channels,
                                                 c->kernel, c->stride, c->padding, t_out, y,
                                                 ldy);
    return launched("a conv_transpose1d", err, err_size);
}

// ---- element-wise and per-frame ---------------------------------------------------------

extern "C" void nn_cuda_snake(nn_cuda_stream *s, const float *x, size_t ldx, size_t channels,
                              size_t frames, const float *alpha, float *out, size_t ldout)
{
    if (channels != 0 && frames != 0)
        snake_kernel<<<blocks_for(channels * frames), NNCU_THREADS, 0, nncu_stream(s)>>>(
            x, ldx, channels, frames, alpha, out, ldout);
}

extern "C" void nn_cuda_layer_norm(nn_cuda_stream *s, const float *x, size_t ldx, size_t rows,
                                   size_t dim, const float *weight, const float *bias,
                                   float eps, float *out, size_t ldout)
{
    if (rows)
        layer_norm_kernel<<<(unsigned)rows, NNCU_THREADS, 0, nncu_stream(s)>>>(
            x, ldx, dim, weight, bias, eps, out, ldout);
}

extern "C" void nn_cuda_gelu(nn_cuda_stream *s, float *x, size_t n)
{
    if (n)
        gelu_kernel<<<blocks_for(n), NNCU_THREADS, 0, nncu_stream(s)>>>(x, n);
}

extern "C" void nn_cuda_tanh(nn_cuda_stream *s, float *x, size_t n)
{
    if (n)
        tanh_kernel<<<blocks_for(n), NNCU_THREADS, 0, nncu_stream(s)>>>(x, n);
}

extern "C" void nn_cuda_transpose(nn_cuda_stream *s, const float *x, size_t ldx, size_t rows,
                                  size_t cols, float *out, size_t ldout)
{
    if (!rows || !cols)
        return;
    dim3 grid((unsigned)((cols + 31) / 32), (unsigned)((rows + 31) / 32)), block(32, 8);
    transpose_kernel<<<grid, block, 0, nncu_stream(s)>>>(x, ldx, rows, cols, out, ldout);
}

extern "C" int nn_cuda_linear(nn_cuda_stream *s, const float *w, const float *bias,
                              size_t in_features, size_t out_features, const float *x,
                              size_t ldx, size_t rows, float *y, size_t ldy, bool accumulate,
                              char *err, size_t err_size)
{
    if (!rows)
        return 0;
    if (sgemm(s, CUBLAS_OP_T, CUBLAS_OP_N, out_features, rows, in_features, w, in_features, x,
              ldx, accumulate, y, ldy, "a linear layer", err, err_size))
        return -1;
    if (bias)
        bias_tc_kernel<<<blocks_for(rows * out_features), NNCU_THREADS, 0, nncu_stream(s)>>>(
            y, ldy, rows, out_features, bias);
    return launched("a linear layer", err, err_size);
}

extern "C" void nn_cuda_scale(nn_cuda_stream *s, float *x, size_t n, float factor)
{
    if (n)
        scale_kernel<<<blocks_for(n), NNCU_THREADS, 0, nncu_stream(s)>>>(x, n, factor);
}

extern "C" void nn_cuda_add_scaled_rows(nn_cuda_stream *s, float *y, const float *t,
                                        size_t rows, size_t dim, const float *gamma)
{
    if (rows != 0 && dim != 0)
        add_scaled_rows_kernel<<<blocks_for(rows * dim), NNCU_THREADS, 0, nncu_stream(s)>>>(
            y, t, rows, dim, gamma);
}

extern "C" void nn_cuda_add_per_channel(nn_cuda_stream *s, float *y, size_t ldy,
                                        size_t channels, size_t frames, const float *v)
{
    if (channels != 0 && frames != 0)
        bias_cm_kernel<<<blocks_for(channels * frames), NNCU_THREADS, 0, nncu_stream(s)>>>(
            y, ldy, channels, frames, v);
}
