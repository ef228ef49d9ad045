/*
 * spark/nn/semantic_cuda.h - BiCodec's semantic codes (spec 4.2-4.5) on the GPU, as
 * nn_bicodec_encode_semantic computes them on the CPU: wav2vec2 layers 1..16 and the mix
 * (spark/nn/wav2vec2_cuda.h), the semantic encoder (Vocos backbone, two sampling blocks of
 * factor 3 each followed by a 2-layer Vocos backbone, a linear projection), and the factorised
 * VQ's tokenize (weight-normed in_project, then the codebook row of smallest upstream distance
 * on l2-normalised vectors, first index on ties, in the CPU's f32 arithmetic without fused
 * multiply-adds). f32 throughout.
 */
#ifndef SPARK_NN_SEMANTIC_CUDA_H
#define SPARK_NN_SEMANTIC_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "spark/nn/cuda.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_semantic_encoder_cuda nn_semantic_encoder_cuda;

/* Loads wav2vec2 (MODEL/wav2vec2-large-xlsr-53) and the semantic encoder and quantizer of
 * MODEL/BiCodec onto device `device`. NULL with err set. */
nn_semantic_encoder_cuda *nn_semantic_encoder_cuda_load(const char *model_dir, int device,
                                                        char *err, size_t err_size);
void nn_semantic_encoder_cuda_free(nn_semantic_encoder_cuda *enc);
/* Semantic codes for n samples: floor((n - 400) / 320) + 1, 0 below 400. */
size_t nn_semantic_encoder_cuda_frames(const nn_semantic_encoder_cuda *enc, size_t n);
/* Channels of the encoder output (1024). */
size_t nn_semantic_encoder_cuda_channels(const nn_semantic_encoder_cuda *enc);

typedef struct nn_semantic_cuda_job nn_semantic_cuda_job;

nn_semantic_cuda_job *nn_semantic_cuda_job_new(const nn_semantic_encoder_cuda *enc,
                                               size_t max_samples, char *err, size_t err_size);
void nn_semantic_cuda_job_free(nn_semantic_cuda_job *job);

/* codes[frames] of the whole normalised reference wav[n] (as nn_bicodec_encode_semantic takes
 * it); encoder_out (channels, frames) channel-major in host memory when not NULL. Returns 0,
 * or -1 with err set. */
int nn_semantic_encode_cuda(nn_semantic_cuda_job *job, const float *wav, size_t n,
                            int32_t *codes, float *encoder_out, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif
#endif
