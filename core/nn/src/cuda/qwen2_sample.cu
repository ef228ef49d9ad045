// qwen2_sample.cu - choosing the next token on the GPU with the rule of the CPU sampler
// (core/nn/src/llm/sampling.c): greedy = the first of the highest logits; otherwise
// temperature, then top-k (an exact radix select finds the k-th largest scaled logit; ties
// with it survive), the survivors sorted by (value, id) ascending, top-p on their softmax with
// the same f32/f64 arithmetic, and one multinomial draw with the uniform the host drew from
// the job's seeded generator. One block per sequence.
#include "cuda_internal.h"
#include "qwen2_cuda_internal.h"

#include <math.h>

namespace {

constexpr int kThreads = 1024;

__device__ __forceinline__ uint32_t order_key(float f)
{
    const uint32_t u = __float_as_uint(f);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__device__ __forceinline__ float key_value(uint32_t k)
{
    return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

__device__ __forceinline__ bool is_banned(const nncu_seq &s, int32_t id)
{
    for (int i = 0; i < s.ban_count; i++)
        if (s.ban_ids[i] == id)
            return true;
    return false;
}

// (a.v, a.id) < (b.v, b.id)
__device__ __forceinline__ bool cand_less(float av, int32_t aid, float bv, int32_t bid)
{
    return av < bv || (av == bv && aid < bid);
}

__global__ void __launch_bounds__(kThreads)
    sample_kernel(const float *logits, size_t ld, const nncu_seq *seqs, int32_t *result)
{
    __shared__ float sv[NNCU_SAMPLE_CAP];
    __shared__ int32_t sid[NNCU_SAMPLE_CAP];
    __shared__ unsigned hist[256];
    __shared__ int s_count, s_allowed;
    __shared__ uint32_t s_prefix;
    __shared__ int s_k;

    const int b = blockIdx.x, tid = threadIdx.x;
    const nncu_seq s = seqs[b];
    const float *lg = logits + (size_t)b * ld;
    const int n = s.n_rows;
    int32_t *res = result + 2 * b;

    if (s.temperature <= 0.f) {
        // greedy: first index of the maximum among the allowed ones
        float best_v = 0.f;
        int best_i = -1;
        for (int i = tid; i < n; i += kThreads) {
            const int32_t id = s.rows ? s.rows[i] : i;
            if (is_banned(s, id))
                continue;
            if (best_i < 0 || lg[i] > best_v) {
                best_v = lg[i];
                best_i = i;
            }
        }
        // a thread holds the first maximum of its own indices; the block winner is the
        // largest value, the smallest index among equals
        sv[tid] = best_v;
        sid[tid] = best_i;
        __syncthreads();
        for (int stride = kThreads / 2; stride > 0; stride >>= 1) {
            if (tid < stride) {
                const float ov = sv[tid + stride];
                const int32_t oi = sid[tid + stride];
                const int32_t mi = sid[tid];
                if (oi >= 0 && (mi < 0 || ov > sv[tid] || (ov == sv[tid] && oi < mi))) {
                    sv[tid] = ov;
                    sid[tid] = oi;
                }
            }
            __syncthreads();
        }
        if (tid == 0) {
            const int32_t i = sid[0];
            res[0] = i < 0 ? -1 : (s.rows ? s.rows[i] : i);
            res[1] = i < 0 ? NNCU_SAMPLE_NONE : NNCU_SAMPLE_OK;
        }
        return;
    }

    const float temperature = s.temperature;
    if (tid == 0) {
        s_allowed = 0;
        s_count = 0;
        s_prefix = 0;
        s_k = s.top_k;
    }
    __syncthreads();
    int mine = 0;
    for (int i = tid; i < n; i += kThreads)
        mine += !is_banned(s, s.rows ? s.rows[i] : i);
    atomicAdd(&s_allowed, mine);
    __syncthreads();
    const int allowed = s_allowed;
    if (allowed == 0) {
        if (tid == 0) {
            res[0] = -1;
            res[1] = NNCU_SAMPLE_NONE;
        }
        return;
    }

    // top-k: the k-th largest scaled logit, by its order-preserving key, 8 bits a pass
    float threshold = -INFINITY;
    if (s.top_k > 0 && s.top_k < allowed) {
        uint32_t mask = 0;
        for (int shift = 24; shift >= 0; shift -= 8) {
            for (int i = tid; i < 256; i += kThreads)
                hist[i] = 0;
            __syncthreads();
            const uint32_t prefix = s_prefix;
            for (int i = tid; i < n; i += kThreads) {
                const int32_t id = s.rows ? s.rows[i] : i;
                if (is_banned(s, id))
                    continue;
                const uint32_t key = order_key(lg[i] / temperature);
                if ((key & mask) == prefix)
                    atomicAdd(&hist[(key >> shift) & 255u], 1u);
            }
            __syncthreads();
            if (tid == 0) {
                int k = s_k, digit = 0;
                for (int dgt = 255; dgt >= 0; dgt--) {
                    if ((int)hist[dgt] >= k) {
                        digit = dgt;
                        break;
                    }
                    k -= (int)hist[dgt];
                }
                s_k = k;
                s_prefix = prefix | ((uint32_t)digit << shift);
            }
            mask |= 255u << shift;
            __syncthreads();
        }
        threshold = key_value(s_prefix);
    }

    // the survivors, then a bitonic sort by (value, id)
    for (int i = tid; i < n; i += kThreads) {
        const int32_t id = s.rows ? s.rows[i] : i;
        if (is_banned(s, id))
            continue;
        const float v = lg[i] / temperature;
        if (v >= threshold) {
            const int slot = atomicAdd(&s_count, 1);
            if (slot < NNCU_SAMPLE_CAP) {
                sv[slot] = v;
                sid[slot] = id;
            }
        }
    }
    __syncthreads();
    const int m = s_count;
    if (m > NNCU_SAMPLE_CAP) {
        if (tid == 0) {
            res[0] = -1;
            res[1] = NNCU_SAMPLE_OVERFLOW;
        }
        return;
    }
    int size = 1;
    while (size < m)
        size <<= 1;
    for (int i = m + tid; i < size; i += kThreads) {
        sv[i] = INFINITY;
        sid[i] = 0x7fffffff;
    }
    __syncthreads();
    for (int k = 2; k <= size; k <<= 1) {
        for (int j = k >> 1; j > 0; j >>= 1) {
            for (int i = tid; i < size; i += kThreads) {
                const int o = i ^ j;
                if (o > i) {
                    const bool ascending = (i & k) == 0;
                    const bool greater = cand_less(sv[o], sid[o], sv[i], sid[i]);
                    if (greater == ascending) {
                        const float tv = sv[i];
                        sv[i] = sv[o];
                        sv[o] = tv;
                        const int32_t ti = sid[i];
                        sid[i] = sid[o];
                        sid[o] = ti;
                    }
                }
            }
            __syncthreads();
        }
    }
    if (tid != 0)
        return;
    // the CPU sampler's arithmetic, in its order
    const float mx = sv[m - 1];
    int first = 0;
    if (s.top_p < 1.0f) {
        float sum = 0.f;
        for (int i = 0; i < m; i++)
            sum += expf(sv[i] - mx);
        const float limit = (float)(1.0 - (double)s.top_p);
        double cum = 0;
        for (int i = 0; i + 1 < m; i++) {
            cum += (double)(expf(sv[i] - mx) / sum);
            if ((float)cum <= limit)
                first = i + 1;
            else
                break;
        }
    }
    double total = 0;
    for (int i = first; i < m; i++)
        total += exp((double)sv[i] - (double)mx);
    const int count = m - first;
    double cum = 0;
    int32_t chosen = sid[first];
    for (int i = 0; i < count; i++) {
        const int at = m - 1 - i;
        cum += (float)(exp((double)sv[at] - (double)mx) / total);
        if (s.draw < cum) {
            chosen = sid[at];
            break;
        }
    }
    res[0] = chosen;
    res[1] = NNCU_SAMPLE_OK;
}

} // namespace

extern "C" void nncu_sample(cudaStream_t st, const float *logits, size_t ld, int batch,
                            const nncu_seq *seqs, int32_t *result)
{
    sample_kernel<<<batch, kThreads, 0, st>>>(logits, ld, seqs, result);
}
