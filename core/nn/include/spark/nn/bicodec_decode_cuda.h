/*
 * spark/nn/bicodec_decode_cuda.h - BiCodec detokenize up to the vocoder's input (spec 4.5 -
 * 4.7) on the GPU, as plugins/codec-bicodec's bicodec_decode does it on the CPU: codebook rows
 * -> out_project (the FVQ latent); global codes -> FSQ digits -> project_out -> channel-major
 * flatten -> project (the d-vector); the prenet (linear_pre, sampling blocks of factor 3 each
 * followed by a 2-layer Vocos backbone, the main Vocos backbone with AdaLayerNorm on the
 * d-vector, linear); then the d-vector added. f32 throughout (spark/nn/conv_cuda.h kernels).
 *
 * The model is read-only after load; a job owns a stream and buffers for up to max_frames
 * semantic codes, so decoding allocates nothing. The latent can stay on the device for the
 * vocoder (nn_wavegen_cuda_forward_device).
 */
#ifndef SPARK_NN_BICODEC_DECODE_CUDA_H
#define SPARK_NN_BICODEC_DECODE_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "spark/nn/cuda.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_bicodec_decoder_cuda nn_bicodec_decoder_cuda;

/* Reads the decode tensors of MODEL/BiCodec (weight norm folded once) and uploads them to
 * device `device`. NULL with err set (no GPU, out of GPU memory, a bad file or tensor). */
nn_bicodec_decoder_cuda *nn_bicodec_decoder_cuda_load(const char *model_dir, int device,
                                                      char *err, size_t err_size);
void nn_bicodec_decoder_cuda_free(nn_bicodec_decoder_cuda *dec);
/* Channels of the latent it makes (the vocoder's input) and the number of global codes. */
size_t nn_bicodec_decoder_cuda_channels(const nn_bicodec_decoder_cuda *dec);
size_t nn_bicodec_decoder_cuda_global_count(const nn_bicodec_decoder_cuda *dec);
/* Exclusive upper bounds of the semantic and the global code values. */
size_t nn_bicodec_decoder_cuda_semantic_range(const nn_bicodec_decoder_cuda *dec);
size_t nn_bicodec_decoder_cuda_global_range(const nn_bicodec_decoder_cuda *dec);

typedef struct nn_bicodec_decode_cuda_job nn_bicodec_decode_cuda_job;

nn_bicodec_decode_cuda_job *nn_bicodec_decode_cuda_job_new(const nn_bicodec_decoder_cuda *dec,
                                                           size_t max_frames, char *err,
                                                           size_t err_size);
void nn_bicodec_decode_cuda_job_free(nn_bicodec_decode_cuda_job *job);

/* The latent (channels, n_semantic) of checked codes (the CPU decoder's rules and messages:
 * at least one semantic code, exactly global_count globals, every code in range), left in
 * device memory owned by the job (valid until its next decode) with rows of n_semantic
 * floats; the job's work is finished when this returns. Returns 0, or -1 with err set. */
int nn_bicodec_decode_cuda_device(nn_bicodec_decode_cuda_job *job, const int32_t *semantic,
                                  size_t n_semantic, const int32_t *global, size_t n_global,
                                  const float **latent_device, char *err, size_t err_size);
/* The same into host memory: latent (channels, n_semantic) channel-major, rows of ldl. */
int nn_bicodec_decode_cuda(nn_bicodec_decode_cuda_job *job, const int32_t *semantic,
                           size_t n_semantic, const int32_t *global, size_t n_global,
                           float *latent, size_t ldl, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif
#endif
