/*
 * spark/nn/qwen2_cuda.h - the Qwen2 LLM of Spark-TTS on an NVIDIA GPU: the same model, context,
 * forward and generation calls as spark/nn/qwen2.h, with the weights resident on the device.
 *
 *   - weights in bf16 (or f32 for checking against the CPU path), uploaded once from a model
 *     the CPU loader read in f32; q/k/v and gate/up fused as on the CPU;
 *   - decode: a warp-per-row GEMV (bf16 or f32 weights, f32 accumulation) with the bias or
 *     the residual add fused in; prefill and batches of more than 4 jobs: cuBLAS GEMMs
 *     (bf16 inputs, f32 accumulation; f32 GEMMs without TF32 for f32 weights);
 *   - fused kernels for RMSNorm (double sum, as the CPU), rotary embedding with the K/V
 *     write to the cache, attention over the cache (online softmax, any length), SiLU gating;
 *   - the output head computes only the rows the grammar allows, and sampling runs on the
 *     GPU with the CPU sampler's rule (temperature, top-k with ties kept, top-p, one uniform
 *     draw from the job's seeded generator), so a decode step copies 8 bytes back;
 *   - the decode step is captured once per batch size as a CUDA graph and replayed: every
 *     per-step value (token, position, cache addresses, allowed rows, draw) lives in a small
 *     device table copied before each launch, so a growing context needs no re-capture;
 *   - one stream per context; all device memory is allocated when a context is reserved or
 *     a batch is made, none in the decode loop.
 *
 * Norms, rotary, softmax and logits are f32 whatever the weight precision. Results match the
 * CPU path (f32 weights) within 1e-3 relative; bf16 differs by the weight and prefill
 * activation rounding. Errors (no GPU, out of memory, a failed kernel) are returned, never
 * aborted on.
 */
#ifndef SPARK_NN_QWEN2_CUDA_H
#define SPARK_NN_QWEN2_CUDA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spark/nn/cuda.h"
#include "spark/nn/qwen2.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_qwen2_cuda nn_qwen2_cuda;

typedef struct nn_qwen2_cuda_options {
    nn_weight_type weights; /* NN_WEIGHT_BF16 (the default for serving) or NN_WEIGHT_F32 */
    int device;             /* CUDA device index */
    bool no_graphs;         /* launch the decode kernels one by one (for checks) */
} nn_qwen2_cuda_options;

/* Reads an LLM directory with the CPU loader (f32) and uploads it. NULL with err set (no GPU,
 * out of GPU memory, a bad file, int8 asked for). */
nn_qwen2_cuda *nn_qwen2_cuda_load(const char *llm_dir, const nn_qwen2_cuda_options *options,
                                  char *err, size_t err_size);
/* Uploads a model the CPU loader read with NN_WEIGHT_F32 weights; `cpu` may be freed after. */
nn_qwen2_cuda *nn_qwen2_cuda_upload(const nn_qwen2 *cpu, const nn_qwen2_cuda_options *options,
                                    char *err, size_t err_size);
void nn_qwen2_cuda_free(nn_qwen2_cuda *model);
const nn_qwen2_config *nn_qwen2_cuda_config_of(const nn_qwen2_cuda *model);
/* Device bytes of the weights (what a full decode step streams). */
size_t nn_qwen2_cuda_weight_bytes(const nn_qwen2_cuda *model);

/* ---- a job's context: KV cache, scratch and stream on the device ----------------------- */

typedef struct nn_qwen2_cuda_ctx nn_qwen2_cuda_ctx;

nn_qwen2_cuda_ctx *nn_qwen2_cuda_ctx_new(const nn_qwen2_cuda *model, char *err,
                                         size_t err_size);
void nn_qwen2_cuda_ctx_free(nn_qwen2_cuda_ctx *ctx);
/* Room for `positions` tokens; 0, or -1 with err set (out of GPU memory, past the model's
 * context). The cached tokens are kept. */
int nn_qwen2_cuda_ctx_reserve(nn_qwen2_cuda_ctx *ctx, size_t positions, char *err,
                              size_t err_size);
size_t nn_qwen2_cuda_ctx_length(const nn_qwen2_cuda_ctx *ctx);
size_t nn_qwen2_cuda_ctx_capacity(const nn_qwen2_cuda_ctx *ctx);
void nn_qwen2_cuda_ctx_clear(nn_qwen2_cuda_ctx *ctx);

/* nn_qwen2_forward on the GPU: appends ids[n] and writes the logits of the last position
 * (rows NULL: every row; logits NULL: no head) to host memory. A single token goes through
 * the decode graph. Grows the cache as needed. */
int nn_qwen2_cuda_forward(nn_qwen2_cuda_ctx *ctx, const int32_t *ids, size_t n,
                          const int32_t *rows, size_t n_rows, float *logits, char *err,
                          size_t err_size);

/* nn_generate on the GPU, with the same parameters (forced ids included) and the same token
 * rule. on_token gets
 * logits NULL, rows NULL and n_rows 0 unless the step was sampled on the host (see below):
 * the logits stay on the device. When more than 4096 candidates survive top-k (top_k 0 with
 * a wide allowed set) that step is sampled on the host by nn_sample_filter with the same
 * draw. */
int nn_qwen2_cuda_generate(nn_qwen2_cuda_ctx *ctx, const int32_t *prompt, size_t n,
                           const nn_generate_params *params, int32_t *out,
                           nn_generate_result *result, char *err, size_t err_size);

/* ---- several jobs in one decode step --------------------------------------------------- */

typedef struct nn_qwen2_cuda_batch nn_qwen2_cuda_batch;

/* Scratch, graphs and a stream for stepping up to max_jobs contexts of one model together. */
nn_qwen2_cuda_batch *nn_qwen2_cuda_batch_new(const nn_qwen2_cuda *model, size_t max_jobs,
                                             char *err, size_t err_size);
void nn_qwen2_cuda_batch_free(nn_qwen2_cuda_batch *batch);

/* Runs `count` generations (count <= max_jobs) to their ends: each prompt is prefilled on
 * its own context's stream, then every decode step advances all unfinished jobs in one pass
 * (weights read once per step for up to 4 jobs by the GEMV, by one GEMM beyond). Job i writes
 * outs[i] and results[i] exactly as nn_qwen2_cuda_generate would. Returns 0, or -1 with err
 * set (naming the job). */
int nn_qwen2_cuda_generate_batch(nn_qwen2_cuda_batch *batch, nn_qwen2_cuda_ctx *const *ctxs,
                                 size_t count, const int32_t *const *prompts,
                                 const size_t *prompt_lens, const nn_generate_params *params,
                                 int32_t *const *outs, nn_generate_result *results, char *err,
                                 size_t err_size);

/* ---- jobs on their own threads, stepped together ------------------------------------- */

/* A decode-step server for jobs that run on threads of their own (one per plugin job): each
 * job prefills on its context's stream, then hands its next step to the batcher, whose thread
 * runs the steps of every job waiting at that moment (up to max_jobs) as one batched pass and
 * hands each job its token back; the job's grammar, stop rules and on_token callback run on
 * the job's own thread. A job alone gets a batch of one (a short wait, at most 100 us, lets
 * others join). */
typedef struct nn_qwen2_cuda_batcher nn_qwen2_cuda_batcher;

nn_qwen2_cuda_batcher *nn_qwen2_cuda_batcher_new(const nn_qwen2_cuda *model, size_t max_jobs,
                                                 char *err, size_t err_size);
/* Stops the batcher's thread; no generation may be running. */
void nn_qwen2_cuda_batcher_free(nn_qwen2_cuda_batcher *batcher);

/* nn_qwen2_cuda_generate with the decode steps batched across the threads that call it at
 * the same time. Same tokens as nn_qwen2_cuda_generate for the same inputs. */
int nn_qwen2_cuda_batcher_generate(nn_qwen2_cuda_batcher *batcher, nn_qwen2_cuda_ctx *ctx,
                                   const int32_t *prompt, size_t n,
                                   const nn_generate_params *params, int32_t *out,
                                   nn_generate_result *result, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif
#endif
