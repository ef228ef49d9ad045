/*
 * spark/nn/speaker_cuda.h - BiCodec's speaker path (spec 4.1, 4.6) on the GPU, as
 * nn_bicodec_encode_globals computes it on the CPU: the linear-magnitude slaney mel spectrogram
 * (centred reflect-padded frames, periodic Hann window, cuFFT real transforms), ECAPA-TDNN up
 * to its latent (BatchNorm folded at load), the Perceiver resampler and its RMSNorm; the
 * residual FSQ of the 32 latents runs on the host with the CPU encoder's own code (round half
 * to even). f32 throughout.
 */
#ifndef SPARK_NN_SPEAKER_CUDA_H
#define SPARK_NN_SPEAKER_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "spark/nn/bicodec_encoder.h"
#include "spark/nn/cuda.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_speaker_encoder_cuda nn_speaker_encoder_cuda;

/* Reads the speaker tensors of MODEL/BiCodec and uploads them to device `device`. NULL with
 * err set (no GPU, out of GPU memory, a bad file or tensor). */
nn_speaker_encoder_cuda *nn_speaker_encoder_cuda_load(const char *model_dir, int device,
                                                      char *err, size_t err_size);
void nn_speaker_encoder_cuda_free(nn_speaker_encoder_cuda *enc);
/* Number of global codes (32). */
size_t nn_speaker_encoder_cuda_global_count(const nn_speaker_encoder_cuda *enc);

typedef struct nn_speaker_cuda_job nn_speaker_cuda_job;

/* A stream, buffers and an FFT plan for clips of up to max_samples samples. */
nn_speaker_cuda_job *nn_speaker_cuda_job_new(const nn_speaker_encoder_cuda *enc,
                                             size_t max_samples, char *err, size_t err_size);
void nn_speaker_cuda_job_free(nn_speaker_cuda_job *job);

/* The global codes of a normalised reference clip (as nn_bicodec_encode_globals takes it);
 * with a trace, also the intermediates (host copies, nn_speaker_trace_free releases them).
 * Returns 0, or -1 with err set. */
int nn_speaker_encode_cuda(nn_speaker_cuda_job *job, const float *clip, size_t n,
                           int32_t *codes, nn_speaker_trace *trace, char *err,
                           size_t err_size);

#ifdef __cplusplus
}
#endif
#endif
