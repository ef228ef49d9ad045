// qwen2_kernels.cu - the fused kernels of the Qwen2 forward pass on the GPU. Arithmetic
// follows the CPU path (core/nn/src/llm/qwen2_forward.c) where it decides the last bits: the
// RMSNorm sum in double, rotary angles in f32 with cos/sin in double, the attention scale
// applied after the dot product.
#include "cuda_internal.h"
#include "qwen2_cuda_internal.h"

#include <math.h>

namespace {

constexpr int kWarp = 32;

__device__ __forceinline__ float bf16_to_f32(uint16_t h)
{
    return __uint_as_float((uint32_t)h << 16);
}

__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = kWarp / 2; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ double warp_sum_d(double v)
{
    for (int o = kWarp / 2; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Eight consecutive weights of a row as floats; `p` is 16-byte aligned.
__device__ __forceinline__ void load8(const uint16_t *p, float *w)
{
    uint4 raw = __ldg(reinterpret_cast<const uint4 *>(p));
    const uint32_t parts[4] = {raw.x, raw.y, raw.z, raw.w};
    for (int i = 0; i < 4; i++) {
        w[2 * i] = __uint_as_float(parts[i] << 16);
        w[2 * i + 1] = __uint_as_float(parts[i] & 0xffff0000u);
    }
}

__device__ __forceinline__ void load8(const float *p, float *w)
{
    float4 a = __ldg(reinterpret_cast<const float4 *>(p));
    float4 b = __ldg(reinterpret_cast<const float4 *>(p) + 1);
    w[0] = a.x, w[1] = a.y, w[2] = a.z, w[3] = a.w;
    w[4] = b.x, w[5] = b.y, w[6] = b.z, w[7] = b.w;
}

__device__ __forceinline__ float load1(const uint16_t *p)
{
    return bf16_to_f32(p[0]);
}

__device__ __forceinline__ float load1(const float *p)
{
    return p[0];
}

// dot(w_row, x) by one warp, every lane ends with the total
template <typename W>
__device__ __forceinline__ float warp_dot(const W *row, const float *x, int cols)
{
    const int lane = threadIdx.x % kWarp;
    float acc = 0.f;
    const int vec_end = cols / 8 * 8;
    for (int c = lane * 8; c < vec_end; c += kWarp * 8) {
        float w[8];
        load8(row + c, w);
        for (int i = 0; i < 8; i++)
            acc += w[i] * x[c + i];
    }
    for (int c = vec_end + lane; c < cols; c += kWarp)
        acc += load1(row + c) * x[c];
    return warp_sum(acc);
}

// ---- embedding, norms, element-wise -----------------------------------------------------

template <typename W>
__global__ void embed_kernel(const W *table, size_t stride, int cols, const int32_t *ids,
                             const nncu_seq *seqs, float *x)
{
    const int r = blockIdx.x;
    const int32_t id = ids ? ids[r] : seqs[r].token;
    const W *row = table + (size_t)id * stride;
    for (int c = threadIdx.x; c < cols; c += blockDim.x)
        x[(size_t)r * cols + c] = load1(row + c);
}

__global__ void rms_norm_kernel(const float *x, const float *w, int n, float eps, float *out)
{
    __shared__ double partial[NNCU_THREADS / kWarp];
    const float *row = x + (size_t)blockIdx.x * n;
    double sum = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        sum += (double)row[i] * row[i];
    sum = warp_sum_d(sum);
    if (threadIdx.x % kWarp == 0)
        partial[threadIdx.x / kWarp] = sum;
    __syncthreads();
    double total = 0;
    for (int i = 0; i < (int)(blockDim.x / kWarp); i++)
        total += partial[i];
    const float r = 1.0f / sqrtf((float)(total / (double)n) + eps);
    float *o = out + (size_t)blockIdx.x * n;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        o[i] = w[i] * (row[i] * r);
}

template <typename W, int NB>
__global__ void gemv_kernel(const W *w, size_t stride, int rows, int cols, const float *x,
                            const float *bias, float *y, bool accumulate)
{
    const int warps = blockDim.x / kWarp;
    const int r = blockIdx.x * warps + threadIdx.x / kWarp;
    if (r >= rows)
        return;
    const int lane = threadIdx.x % kWarp;
    const W *row = w + (size_t)r * stride;
    float acc[NB];
    for (int b = 0; b < NB; b++)
        acc[b] = 0.f;
    const int vec_end = cols / 8 * 8;
    for (int c = lane * 8; c < vec_end; c += kWarp * 8) {
        float wv[8];
        load8(row + c, wv);
        for (int b = 0; b < NB; b++) {
            const float *xb = x + (size_t)b * cols + c;
            for (int i = 0; i < 8; i++)
                acc[b] += wv[i] * xb[i];
        }
    }
    for (int c = vec_end + lane; c < cols; c += kWarp) {
        const float wv = load1(row + c);
        for (int b = 0; b < NB; b++)
            acc[b] += wv * x[(size_t)b * cols + c];
    }
    for (int b = 0; b < NB; b++) {
        const float v = warp_sum(acc[b]) + (bias ? bias[r] : 0.f);
        if (lane == 0) {
            float *dst = y + (size_t)b * rows + r;
            *dst = accumulate ? *dst + v : v;
        }
    }
}

__global__ void add_bias_kernel(float *y, int rows, int cols, const float *bias)
{
    const size_t n = (size_t)rows * cols;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        y[i] += bias[i % cols];
}

__global__ void to_bf16_kernel(const float *x, size_t n, uint16_t *out)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        uint32_t u = __float_as_uint(x[i]);
        if ((u & 0x7fffffffu) > 0x7f800000u)
            out[i] = (uint16_t)((u >> 16) | 0x40u); // NaN stays NaN, quietened
        else
            out[i] = (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    }
}

__global__ void silu_mul_kernel(const float *gate_up, int rows, int inter, float *out)
{
    const size_t n = (size_t)rows * inter;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const size_t r = i / inter, c = i % inter;
        const float g = gate_up[r * 2 * inter + c], u = gate_up[r * 2 * inter + inter + c];
        out[i] = g / (1.0f + expf(-g)) * u;
    }
}

// ---- rotary + cache write, attention ----------------------------------------------------

__global__ void rope_kv_kernel(nncu_dims d, const float *inv_freq, float *qkv,
                               const nncu_seq *seqs, bool per_row, int layer)
{
    const int r = blockIdx.x;
    const nncu_seq *s = &seqs[per_row ? r : 0];
    const int pos = s->position + (per_row ? 0 : r);
    const int half = d.head_dim / 2, qkv_w = d.q_dim + 2 * d.kv_dim;
    float *row = qkv + (size_t)r * qkv_w;
    float *kc = s->k_cache + (size_t)layer * s->layer_stride + (size_t)pos * d.kv_dim;
    float *vc = s->v_cache + (size_t)layer * s->layer_stride + (size_t)pos * d.kv_dim;
    const int pairs = (d.heads + d.kv_heads) * half;
    for (int i = threadIdx.x; i < pairs; i += blockDim.x) {
        const int h = i / half, j = i % half;
        const float angle = (float)pos * inv_freq[j];
        const float c = (float)cos((double)angle), sn = (float)sin((double)angle);
        float *v = row + h * d.head_dim; // q heads, then k heads
        const float x1 = v[j], x2 = v[j + half];
        const float y1 = x1 * c + (-x2) * sn, y2 = x2 * c + x1 * sn;
        v[j] = y1;
        v[j + half] = y2;
        if (h >= d.heads) {
            const int kh = h - d.heads;
            kc[kh * d.head_dim + j] = y1;
            kc[kh * d.head_dim + j + half] = y2;
        }
    }
    for (int i = threadIdx.x; i < d.kv_dim; i += blockDim.x)
        vc[i] = row[d.q_dim + d.kv_dim + i];
}

constexpr int kAttnWarps = 16; // a long cache is split over many warps: one block per head
constexpr int kMaxHeadDim = 128;

// One block per (query head, row): each warp runs an online softmax over every
// kAttnWarps-th cached position, then the warps' partial results are merged.
__global__ void attention_kernel(nncu_dims d, const float *qkv, const nncu_seq *seqs,
                                 bool per_row, int layer, float *out)
{
    const int h = blockIdx.x, r = blockIdx.y;
    const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
    const nncu_seq *s = &seqs[per_row ? r : 0];
    const int len = s->position + (per_row ? 0 : r) + 1;
    const int hd = d.head_dim, group = d.heads / d.kv_heads, g = h / group;
    const float scale = 1.0f / sqrtf((float)hd);
    const float *q = qkv + (size_t)r * (d.q_dim + 2 * d.kv_dim) + h * hd;
    const float *kc = s->k_cache + (size_t)layer * s->layer_stride + g * hd;
    const float *vc = s->v_cache + (size_t)layer * s->layer_stride + g * hd;
    constexpr int per_lane = kMaxHeadDim / kWarp;
    float qv[per_lane], acc[per_lane];
    for (int i = 0; i < per_lane; i++) {
        const int c = lane + i * kWarp;
        qv[i] = c < hd ? q[c] : 0.f;
        acc[i] = 0.f;
    }
    float m = -INFINITY, l = 0.f;
    for (int p = warp; p < len; p += kAttnWarps) {
        const float *k = kc + (size_t)p * d.kv_dim;
        float dot = 0.f;
        for (int i = 0; i < per_lane; i++) {
            const int c = lane + i * kWarp;
            if (c < hd)
                dot += qv[i] * k[c];
        }
        const float sc = warp_sum(dot) * scale;
        const float m_new = fmaxf(m, sc);
        const float corr = expf(m - m_new), e = expf(sc - m_new);
        l = l * corr + e;
        const float *v = vc + (size_t)p * d.kv_dim;
        for (int i = 0; i < per_lane; i++) {
            const int c = lane + i * kWarp;
            if (c < hd)
                acc[i] = acc[i] * corr + e * v[c];
        }
        m = m_new;
    }
    __shared__ float wm[kAttnWarps], wl[kAttnWarps], wacc[kAttnWarps][kMaxHeadDim];
    if (lane == 0) {
        wm[warp] = m;
        wl[warp] = l;
    }
    for (int i = 0; i < per_lane; i++) {
        const int c = lane + i * kWarp;
        if (c < hd)
            wacc[warp][c] = acc[i];
    }
    __syncthreads();
    float mx = -INFINITY;
    for (int w = 0; w < kAttnWarps; w++)
        mx = fmaxf(mx, wm[w]);
    float total = 0.f;
    for (int w = 0; w < kAttnWarps; w++)
        total += wl[w] * expf(wm[w] - mx);
    float *o = out + (size_t)r * d.q_dim + h * hd;
    for (int c = threadIdx.x; c < hd; c += blockDim.x) {
        float v = 0.f;
        for (int w = 0; w < kAttnWarps; w++)
            v += wacc[w][c] * expf(wm[w] - mx);
        o[c] = v / total;
    }
}

// ---- the restricted output head ---------------------------------------------------------

template <typename W>
__global__ void head_kernel(const W *table, size_t stride, int cols, const float *h,
                            const nncu_seq *seqs, float *logits, size_t ld)
{
    const int b = blockIdx.y;
    const nncu_seq *s = &seqs[b];
    const int warps = blockDim.x / kWarp;
    const float *x = h + (size_t)b * cols;
    for (int i = blockIdx.x * warps + threadIdx.x / kWarp; i < s->n_rows;
         i += gridDim.x * warps) {
        const int row = s->rows ? s->rows[i] : i;
        const float v = warp_dot(table + (size_t)row * stride, x, cols);
        if (threadIdx.x % kWarp == 0)
            logits[(size_t)b * ld + i] = v;
    }
}

int grid_for(size_t n)
{
    size_t blocks = (n + NNCU_THREADS - 1) / NNCU_THREADS;
    return (int)(blocks < 1 ? 1 : blocks > 4096 ? 4096 : blocks);
}

template <typename W>
void gemv_typed(cudaStream_t st, const nncu_weight *w, int batch, const float *x,
                const float *bias, float *y, bool accumulate)
{
    const W *data = static_cast<const W *>(w->data);
    const int warps = NNCU_THREADS / kWarp;
    const int rows = (int)w->rows, cols = (int)w->cols;
    const int blocks = (rows + warps - 1) / warps;
    switch (batch) {
    case 1:
        gemv_kernel<W, 1><<<blocks, NNCU_THREADS, 0, st>>>(data, w->stride, rows, cols, x,
                                                          bias, y, accumulate);
        break;
    case 2:
        gemv_kernel<W, 2><<<blocks, NNCU_THREADS, 0, st>>>(data, w->stride, rows, cols, x,
                                                          bias, y, accumulate);
        break;
    case 3:
        gemv_kernel<W, 3><<<blocks, NNCU_THREADS, 0, st>>>(data, w->stride, rows, cols, x,
                                                          bias, y, accumulate);
        break;
    default:
        gemv_kernel<W, 4><<<blocks, NNCU_THREADS, 0, st>>>(data, w->stride, rows, cols, x,
                                                          bias, y, accumulate);
        break;
    }
}

} // namespace

extern "C" void nncu_embed(cudaStream_t st, const nncu_weight *e, const int32_t *ids,
                           const nncu_seq *seqs, int rows, float *x)
{
    if (e->bf16)
        embed_kernel<<<rows, NNCU_THREADS, 0, st>>>(static_cast<const uint16_t *>(e->data),
                                                    e->stride, (int)e->cols, ids, seqs, x);
    else
        embed_kernel<<<rows, NNCU_THREADS, 0, st>>>(static_cast<const float *>(e->data),
                                                    e->stride, (int)e->cols, ids, seqs, x);
}

extern "C" void nncu_rms_norm(cudaStream_t st, const float *x, const float *w, int rows, int n,
                              float eps, float *out)
{
    rms_norm_kernel<<<rows, NNCU_THREADS, 0, st>>>(x, w, n, eps, out);
}

extern "C" void nncu_gemv(cudaStream_t st, const nncu_weight *w, int batch, const float *x,
                          const float *bias, float *y, bool accumulate)
{
    if (w->bf16)
        gemv_typed<uint16_t>(st, w, batch, x, bias, y, accumulate);
    else
        gemv_typed<float>(st, w, batch, x, bias, y, accumulate);
}

extern "C" void nncu_add_bias(cudaStream_t st, float *y, int rows, int cols, const float *bias)
{
    add_bias_kernel<<<grid_for((size_t)rows * cols), NNCU_THREADS, 0, st>>>(y, rows, cols,
                                                                            bias);
}

extern "C" void nncu_to_bf16(cudaStream_t st, const float *x, size_t n, uint16_t *out)
{
    to_bf16_kernel<<<grid_for(n), NNCU_THREADS, 0, st>>>(x, n, out);
}

extern "C" void nncu_rope_kv(cudaStream_t st, const nncu_dims *d, const float *inv_freq,
                             float *qkv, int rows, const nncu_seq *seqs, bool per_row, int layer)
{
    rope_kv_kernel<<<rows, 128, 0, st>>>(*d, inv_freq, qkv, seqs, per_row, layer);
}

extern "C" void nncu_attention(cudaStream_t st, const nncu_dims *d, const float *qkv, int rows,
                               const nncu_seq *seqs, bool per_row, int layer, float *out)
{
    dim3 grid((unsigned)d->heads, (unsigned)rows);
    attention_kernel<<<grid, kAttnWarps * kWarp, 0, st>>>(*d, qkv, seqs, per_row, layer, out);
}

extern "C" void nncu_silu_mul(cudaStream_t st, const float *gate_up, int rows, int inter,
                              float *out)
{
    silu_mul_kernel<<<grid_for((size_t)rows * inter), NNCU_THREADS, 0, st>>>(gate_up, rows,
                                                                             inter, out);
}

extern "C" void nncu_head(cudaStream_t st, const nncu_weight *e, const float *h, int batch,
                          const nncu_seq *seqs, float *logits, size_t ld)
{
    // a fixed grid, so a captured graph serves any number of allowed rows
    const int warps = NNCU_THREADS / kWarp;
    int blocks = (int)((e->rows + warps - 1) / warps);
    blocks = blocks > 1024 ? 1024 : blocks;
    dim3 grid((unsigned)blocks, (unsigned)batch);
    if (e->bf16)
        head_kernel<<<grid, NNCU_THREADS, 0, st>>>(static_cast<const uint16_t *>(e->data),
                                                   e->stride, (int)e->cols, h, seqs, logits,
                                                   ld);
    else
        head_kernel<<<grid, NNCU_THREADS, 0, st>>>(static_cast<const float *>(e->data),
                                                   e->stride, (int)e->cols, h, seqs, logits,
                                                   ld);
}
