/* qwen2_internal.h - the loaded model and a job's context, shared by the loader and the
 * forward pass. */
#ifndef SPARK_NN_QWEN2_INTERNAL_H
#define SPARK_NN_QWEN2_INTERNAL_H

#include "spark/nn/qwen2.h"

typedef struct qwen2_layer {
    nn_weight qkv;      /* [q_dim + 2 kv_dim, hidden]: q, k, v rows fused */
    float *qkv_bias;    /* [q_dim + 2 kv_dim] */
    nn_weight o;        /* [hidden, q_dim] */
    nn_weight gate_up;  /* [2 inter, hidden]: gate rows, then up rows */
    nn_weight down;     /* [hidden, inter] */
    float *norm_in;     /* [hidden] input_layernorm */
    float *norm_post;   /* [hidden] post_attention_layernorm */
} qwen2_layer;

struct nn_qwen2 {
    nn_qwen2_config config;
    size_t hidden, heads, kv_heads, head_dim, q_dim, kv_dim, inter, vocab, layer_count;
    float eps;
    float *inv_freq;    /* [head_dim / 2] rotary frequencies, f32 as transformers makes them */
    nn_weight embed;    /* [vocab, hidden]: the embedding and the tied output head */
    float *norm_final;  /* [hidden] */
    qwen2_layer *layers;
    nn_kv_type kv_type; /* NN_KV_F32 or NN_KV_F16 */
};

struct nn_qwen2_ctx {
    const nn_qwen2 *model;
    size_t length;       /* cached positions */
    size_t capacity;     /* positions the cache holds, a multiple of QWEN2_KV_BLOCK */
    /* Elements of kv_type (float or uint16_t halves). Keys are stored in blocks of
     * QWEN2_KV_BLOCK positions, each block dimension-major: [layers][kv_heads]
     * [capacity / QWEN2_KV_BLOCK][head_dim][QWEN2_KV_BLOCK], so one vector load holds one
     * dimension of several positions. Values are [layers][kv_heads][capacity][head_dim]. */
    void *k_cache;
    void *v_cache;
    nn_kv_type kv_type;
    /* prefill: one layer's keys, and values unless they are f32 already, as
     * [kv_heads][capacity][head_dim] f32 rows for the matrix products */
    float *k_rows, *v_rows;
    /* scratch for up to `batch` positions at once */
    size_t batch;
    float *x, *xn, *qkv, *attn, *gate_up, *mlp;
    float *rope;         /* [batch][head_dim]: cos of each pair, then sin */
    float *scores;       /* [heads][QWEN2_QUERY_BLOCK][capacity] attention weights */
};

/* Positions per key block of the KV cache (see nn_qwen2_ctx). */
#define QWEN2_KV_BLOCK 16
/* Prefill attention takes this many queries of a head at once. */
#define QWEN2_QUERY_BLOCK 16
/* Prefill runs in chunks of at most this many positions (bounds the scratch). */
#define QWEN2_PREFILL_CHUNK 256

#endif
