/* attention.c - the portable decode-attention kernels of attention_kernels.h (the reference
 * the vector ones are tested against, and the path of CPUs without AVX2), and the choice of
 * kernel family. */
#include "attention_kernels.h"

#include "kv_half.h"
#include "softmax_rows.h"

static inline float element(const void *base, nn_kv_type type, size_t at)
{
    return type == NN_KV_F16 ? kv_f16_to_f32(((const uint16_t *)base)[at])
                             : ((const float *)base)[at];
}

static void scores_scalar(const float *q, size_t group, size_t d, const void *k,
                          nn_kv_type type, size_t n, float scale, float *s)
{
    enum { B = QWEN2_KV_BLOCK };
    for (size_t p0 = 0; p0 < n; p0 += B) {
        const size_t block = p0 / B * d * B, count = n - p0 < B ? n - p0 : B;
        for (size_t h = 0; h < group; h++) {
            float acc[B] = {0};
            for (size_t i = 0; i < d; i++) {
                const float qi = q[h * d + i];
                for (size_t l = 0; l < B; l++)
                    acc[l] += qi * element(k, type, block + i * B + l);
            }
            for (size_t l = 0; l < count; l++)
                s[h * n + p0 + l] = acc[l] * scale;
        }
    }
}

static void softmax_scalar(float *s, size_t group, size_t n)
{
    causal_softmax(s, group, n, n, 0);
}

static void weighted_sum_scalar(const float *s, size_t group, size_t n, const void *v,
                                nn_kv_type type, size_t ld, size_t d, float *out)
{
    for (size_t h = 0; h < group; h++) {
        float *o = out + h * d;
        for (size_t i = 0; i < d; i++)
            o[i] = 0;
        for (size_t p = 0; p < n; p++) {
            const float w = s[h * n + p];
            for (size_t i = 0; i < d; i++)
                o[i] += w * element(v, type, p * ld + i);
        }
    }
}

static void unpack_keys_scalar(const void *k, nn_kv_type type, size_t d, size_t n, float *out)
{
    for (size_t p = 0; p < n; p++)
        for (size_t i = 0; i < d; i++)
            out[p * d + i] = element(k, type, qwen2_key_index(p, i, d));
}

static void f16_from_f32_scalar(const float *x, uint16_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = kv_f32_to_f16(x[i]);
}

static void f32_from_f16_scalar(const uint16_t *x, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = kv_f16_to_f32(x[i]);
}

const qwen2_attention_kernels qwen2_attention_scalar = {
    "scalar",           scores_scalar,       softmax_scalar,      weighted_sum_scalar,
    unpack_keys_scalar, f16_from_f32_scalar, f32_from_f16_scalar,
};

const qwen2_attention_kernels *qwen2_attention_for(nn_isa isa, size_t d)
{
    if (isa >= NN_ISA_AVX512 && d % 16 == 0)
        return &qwen2_attention_avx512;
    if (isa >= NN_ISA_AVX2 && d % 8 == 0)
        return &qwen2_attention_avx2;
    return &qwen2_attention_scalar;
}
