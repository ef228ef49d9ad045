/*
 * spark/nn/wav2vec2_cuda.h - wav2vec2-large-xlsr-53 layers 1..16 and Spark's hidden-state mix
 * (spec 4.2, 5) on the GPU, as core/nn/src/encoder/wav2vec2.c computes them on the CPU:
 * processor normalisation (f64, on the host), the conv feature encoder (conv -> LayerNorm over
 * channels -> GELU), the feature projection, the positional conv embedding (weight norm over
 * dim 2 folded at load, last frame dropped, GELU, added), 16 pre-LN transformer layers
 * (attention as strided-batched cuBLAS GEMMs and a softmax kernel), and
 * (h11 + h14 + h16) / 3. f32 throughout.
 */
#ifndef SPARK_NN_WAV2VEC2_CUDA_H
#define SPARK_NN_WAV2VEC2_CUDA_H

#include <stddef.h>

#include "spark/nn/cuda.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_wav2vec2_cuda nn_wav2vec2_cuda;

/* Reads MODEL/wav2vec2-large-xlsr-53 (config.json, preprocessor_config.json,
 * pytorch_model.bin) and uploads layers 1..16 to device `device`. NULL with err set. */
nn_wav2vec2_cuda *nn_wav2vec2_cuda_load(const char *model_dir, int device, char *err,
                                        size_t err_size);
void nn_wav2vec2_cuda_free(nn_wav2vec2_cuda *model);
/* Frames for n samples (0 below the receptive field) and the hidden size. */
size_t nn_wav2vec2_cuda_frames(const nn_wav2vec2_cuda *model, size_t n);
size_t nn_wav2vec2_cuda_hidden(const nn_wav2vec2_cuda *model);

typedef struct nn_wav2vec2_cuda_job nn_wav2vec2_cuda_job;

/* A stream and buffers for references of up to max_samples samples. */
nn_wav2vec2_cuda_job *nn_wav2vec2_cuda_job_new(const nn_wav2vec2_cuda *model,
                                               size_t max_samples, char *err, size_t err_size);
void nn_wav2vec2_cuda_job_free(nn_wav2vec2_cuda_job *job);

/* mix (frames, hidden) time-major, host memory, for the raw reference wav[n] (the processor
 * normalisation is applied here). Returns 0, or -1 with err set. */
int nn_wav2vec2_cuda_mix(nn_wav2vec2_cuda_job *job, const float *wav, size_t n, float *mix,
                         char *err, size_t err_size);

#ifdef __cplusplus
}
#endif
#endif
