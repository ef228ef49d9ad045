/*
 * spark/nn/qwen2.h - the Qwen2 causal language model of Spark-TTS (spec 3.1): weights loaded
 * once in the precision chosen at activation, a per-job context (KV cache and scratch), the
 * forward pass for prefill and decode, the sampler (transformers' order: temperature, top-k,
 * top-p, multinomial draw) and the grammar of constrained decoding (spec 3.5, 3.6).
 *
 * A loaded model is read-only: several contexts may run forwards on it at once. A context
 * belongs to one job. Norms, softmax, rotary embedding and logits are computed in f32
 * whatever the weight precision. The CUDA backend implements the same calls.
 */
#ifndef SPARK_NN_QWEN2_H
#define SPARK_NN_QWEN2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spark/nn/matvec.h"
#include "spark/nn/pool.h"
#include "spark/nn/prng.h"
#include "spark/nn/spark_model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the model ------------------------------------------------------------------------ */

typedef struct nn_qwen2 nn_qwen2;

/* Precision of the KV cache. f16 (IEEE half) halves what a decode step reads from the cache
 * at long context; its rounding (2^-11 relative) is well below that of bf16 or int8 weights,
 * but not below the f32 reference's tolerance, so f32 weights keep an f32 cache. */
typedef enum nn_kv_type {
    NN_KV_AUTO = 0, /* f32 with f32 weights, f16 otherwise */
    NN_KV_F32 = 1,
    NN_KV_F16 = 2,
} nn_kv_type;

/* "auto", "f32", "f16" */
const char *nn_kv_type_name(nn_kv_type type);
/* false for any other name */
bool nn_kv_type_parse(const char *name, nn_kv_type *out);

typedef struct nn_qwen2_options {
    nn_weight_type weights; /* precision of every matrix, the tied embedding/head included */
    size_t int8_block;      /* int8: columns per scale; 0 = one scale per row. A block that
                               does not divide a matrix's width falls back to per row */
    nn_kv_type kv_cache;    /* precision of every context's KV cache */
} nn_qwen2_options;

/* Reads config.json and model.safetensors (F32, BF16 or F16 tensors) from an LLM directory
 * and builds the weights: q/k/v fused into one matrix with one bias, gate and up fused.
 * NULL with a message naming the file and the rule broken in err. */
nn_qwen2 *nn_qwen2_load(const char *llm_dir, const nn_qwen2_options *options, char *err,
                        size_t err_size);
void nn_qwen2_free(nn_qwen2 *model);
const nn_qwen2_config *nn_qwen2_config_of(const nn_qwen2 *model);
/* The KV cache precision of the model's contexts (NN_KV_AUTO resolved at load). */
nn_kv_type nn_qwen2_kv_type(const nn_qwen2 *model);
/* Bytes of the weights held in memory. */
size_t nn_qwen2_weight_bytes(const nn_qwen2 *model);
/* Bytes one decode step reads at a context of `context` tokens with `head_rows` rows of the
 * output head (the vocabulary, or what the grammar allows): every layer matrix, those head
 * rows, and the KV cache. Memory bandwidth divided by this bounds the decode speed. */
size_t nn_qwen2_decode_bytes(const nn_qwen2 *model, size_t context, size_t head_rows);

/* ---- a job's context ------------------------------------------------------------------ */

typedef struct nn_qwen2_ctx nn_qwen2_ctx;

/* A context with an empty KV cache. Nothing is sized yet: see nn_qwen2_ctx_reserve. */
nn_qwen2_ctx *nn_qwen2_ctx_new(const nn_qwen2 *model);
void nn_qwen2_ctx_free(nn_qwen2_ctx *ctx);
/* Makes room for `positions` tokens in all (KV cache and scratch), so forwards up to that
 * length allocate nothing. Returns 0, or -1 with err set (out of memory, or more than
 * max_position_embeddings). */
int nn_qwen2_ctx_reserve(nn_qwen2_ctx *ctx, size_t positions, char *err, size_t err_size);
/* Tokens in the KV cache. */
size_t nn_qwen2_ctx_length(const nn_qwen2_ctx *ctx);
/* Forgets the cached tokens (keeps the memory). */
void nn_qwen2_ctx_clear(nn_qwen2_ctx *ctx);

/* Appends ids[n] at the next positions (prefill when n > 1: matrix-matrix products, in
 * chunks) and writes the logits of the last one: every vocabulary row when rows is NULL,
 * else logits[i] for row rows[i], i < n_rows (the other rows of the head are not read).
 * logits may be NULL (the head is skipped). Grows the cache as needed. Returns 0, or -1 with
 * err set (an id outside the vocabulary, out of context, out of memory). */
int nn_qwen2_forward(nn_qwen2_ctx *ctx, nn_pool *pool, const int32_t *ids, size_t n,
                     const int32_t *rows, size_t n_rows, float *logits, char *err,
                     size_t err_size);

/* ---- sampling ------------------------------------------------------------------------- */

typedef struct nn_sampler_params {
    float temperature; /* 0: greedy (the first of the highest logits) */
    int32_t top_k;     /* 0: off */
    float top_p;       /* 1: off */
} nn_sampler_params;

/* Scratch for nn_sample_filter over up to `capacity` candidates: nothing is allocated
 * per token. */
typedef struct nn_sampler {
    size_t capacity;
    int32_t *ids;  /* survivors after filtering, by decreasing logit */
    float *probs;  /* their probabilities (sum 1) */
    float *heap;   /* top-k selection */
    void *work;    /* survivors being sorted */
} nn_sampler;

int nn_sampler_init(nn_sampler *s, size_t capacity);
void nn_sampler_free(nn_sampler *s);

/* The candidates that survive temperature, then top-k (ties with the k-th value survive),
 * then top-p (drop those whose ascending cumulative probability is <= 1 - top_p; the best
 * always stays), as transformers' warpers do, with their probabilities. logits[i] is the
 * logit of id ids[i] (ids NULL: id i); an id in `banned` (may be NULL) is left out, as a
 * -inf logit would be. No full sort: a bounded heap finds the k-th value, only the
 * survivors are sorted. Returns the survivor count (0 when every candidate is banned). */
size_t nn_sample_filter(nn_sampler *s, const nn_sampler_params *p, const float *logits,
                        const int32_t *ids, size_t n, const bool *banned_of_index);

/* One multinomial draw from the survivors of the last filter. */
int32_t nn_sample_draw(const nn_sampler *s, size_t count, nn_rng *rng);

/* Greedy: the index of the first maximum of logits[n] among indices not banned, or -1. */
ptrdiff_t nn_argmax(const float *logits, size_t n, const bool *banned_of_index);

/* ---- constrained decoding ------------------------------------------------------------- */

/* The token ids of the Spark-TTS output grammar, looked up by name in the tokenizer's
 * added_tokens.json. */
typedef struct nn_spark_ids {
    int32_t semantic_first, semantic_count;
    int32_t global_first, global_count;
    int32_t pitch_value_first, pitch_value_count;
    int32_t speed_value_first, speed_value_count;
    int32_t start_acoustic, end_acoustic, start_global, end_global;
    int32_t start_semantic, end_semantic;
    int32_t task_controllable, im_end, endoftext;
} nn_spark_ids;

/* Reads path (an added_tokens.json); -1 with err naming the file and the missing token. */
int nn_spark_ids_load(const char *path, nn_spark_ids *out, char *err, size_t err_size);

typedef enum nn_grammar_mode {
    NN_GRAMMAR_OFF = 0,     /* every id, the reference distribution */
    NN_GRAMMAR_CONTROL = 1, /* acoustic section, 32 globals, semantic tokens, end */
    NN_GRAMMAR_CLONE = 2,   /* semantic tokens, end (after <|start_semantic_token|> unless the
                               prompt already ends in the semantic section) */
    NN_GRAMMAR_AUTO = 3,    /* CONTROL when the prompt has <|task_controllable_tts|> */
} nn_grammar_mode;

/* "off", "control", "clone", "auto"; false for anything else. */
bool nn_grammar_mode_parse(const char *name, nn_grammar_mode *out);

enum { NN_GRAMMAR_GLOBALS = 32 };

/* Where decoding stands in the grammar. The allowed set of every state is a sorted id list
 * built once: the output head computes only those rows. */
typedef struct nn_grammar {
    nn_grammar_mode mode; /* CONTROL, CLONE or OFF after nn_grammar_start */
    int state;
    int globals_seen;
    int64_t semantics_seen;
    int32_t *lists[10];   /* allowed ids per grammar state (see grammar.c) */
    size_t list_len[10];
    int32_t stop_ids[4];
    size_t stop_count;
    nn_spark_ids token_ids; /* copied at init */
} nn_grammar;

/* Builds the allowed lists. stop_ids: the ids that end generation in the semantic section
 * (each must lie outside the code ranges). Returns 0, or -1 with err set. */
int nn_grammar_init(nn_grammar *g, const nn_spark_ids *ids, int32_t vocab_size,
                    const int32_t *stop_ids, size_t stop_count, char *err, size_t err_size);
void nn_grammar_free(nn_grammar *g);
/* Starts a generation for a prompt; mode AUTO is resolved from the prompt. */
void nn_grammar_start(nn_grammar *g, nn_grammar_mode mode, const int32_t *prompt, size_t n);
/* The ids allowed next (sorted), or NULL when every id is (mode OFF). An end id appears only
 * after the first semantic token, so a constrained run never ends without speech. */
const int32_t *nn_grammar_allowed(const nn_grammar *g, size_t *count);
/* Advances over a generated id (one of the allowed ones). */
void nn_grammar_advance(nn_grammar *g, int32_t id);

/* ---- generation ----------------------------------------------------------------------- */

typedef enum nn_stop_reason {
    NN_STOP_END = 0,      /* a stop id was generated (it is the last token) */
    NN_STOP_MAX_NEW = 1,  /* max_new_tokens were generated */
    NN_STOP_CONTEXT = 2,  /* max_position_embeddings reached */
    NN_STOP_CALLER = 3,   /* on_token asked to stop */
} nn_stop_reason;

/* "end", "max_new_tokens", "context_full", "stopped" */
const char *nn_stop_reason_name(nn_stop_reason reason);

typedef struct nn_generate_params {
    nn_sampler_params sampling;
    uint64_t seed;          /* the same seed and prompt give the same tokens */
    size_t max_new_tokens;  /* >= 1 */
    size_t min_new_tokens;  /* stop ids are left out before this many tokens */
    const int32_t *stop_ids;
    size_t stop_count;
    nn_grammar *grammar;    /* NULL: unconstrained; else started here from the prompt */
    nn_grammar_mode grammar_mode;
    /* Right after the model generates forced_after, the next forced_count ids are
     * forced[0..] instead of drawn. The CPU feeds them in with forced_after in one forward,
     * so no logits are computed for them (on_token gets NULL); the CUDA backend runs them
     * step by step. The LLM node feeds a job's later segments the global tokens of its
     * first, so one voice speaks them all. forced NULL: nothing is forced. */
    int32_t forced_after;
    const int32_t *forced;
    size_t forced_count;
    /* Called for every token with the logits it was chosen from: logits[i] belongs to id
     * rows[i], or to id i when rows is NULL; NULL logits (n_rows 0) for a forced id that was
     * not chosen from any. Returns nonzero to stop. May be NULL. */
    int (*on_token)(void *user, size_t step, int32_t id, const float *logits,
                    const int32_t *rows, size_t n_rows);
    void *user;
} nn_generate_params;

typedef struct nn_generate_result {
    size_t prompt_tokens, tokens; /* tokens: generated, the stop id included */
    nn_stop_reason stop;
    double prefill_seconds;       /* prompt in, first logits out */
    double decode_seconds;        /* every later forward */
} nn_generate_result;

/* A job's buffers for generation (logits, sampler, flags): made once, reused per prompt. */
typedef struct nn_generator nn_generator;
nn_generator *nn_generator_new(const nn_qwen2 *model);
void nn_generator_free(nn_generator *gen);

/* Clears ctx, feeds the prompt, then samples up to max_new_tokens ids into out (room for
 * max_new_tokens). Returns 0 (see result->stop), or -1 with err set. */
int nn_generate(nn_generator *gen, nn_qwen2_ctx *ctx, nn_pool *pool, const int32_t *prompt,
                size_t n, const nn_generate_params *params, int32_t *out,
                nn_generate_result *result, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif
#endif
