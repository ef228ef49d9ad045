/*
 * spark/nn/wavegen_cuda.h - BiCodec's WaveGenerator (spec 4.8) on the GPU: the vocoder of
 * plugins/vocoder-wavegen with the same layers, order and f32 arithmetic (spark/nn/conv_cuda.h
 * kernels), weight norm folded once at load, 320 samples per latent frame for the released
 * rates.
 *
 * The model is read-only after load and may serve several jobs at once; a job owns a stream,
 * device buffers sized for its longest chunk and pinned host buffers for the latent in and the
 * audio out, so decoding allocates nothing. A chunk from host memory runs as a CUDA graph
 * captured once per chunk length (about 150 small kernels, whose launches would otherwise
 * cost more than their work); a job falls back to plain launches if a capture fails.
 */
#ifndef SPARK_NN_WAVEGEN_CUDA_H
#define SPARK_NN_WAVEGEN_CUDA_H

#include <stddef.h>

#include "spark/nn/cuda.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_wavegen_cuda nn_wavegen_cuda;

/* Reads decoder.model.* of MODEL/BiCodec/model.safetensors (or DIR/model.safetensors with
 * DIR/config.yaml) for the decoder section of config.yaml and uploads it to device `device`.
 * NULL with err set (no GPU, out of GPU memory, a missing or misshapen tensor). */
nn_wavegen_cuda *nn_wavegen_cuda_load(const char *model_dir, int device, char *err,
                                      size_t err_size);
void nn_wavegen_cuda_free(nn_wavegen_cuda *wg);
/* Channels of the latent it eats, and samples per latent frame. */
size_t nn_wavegen_cuda_in_channels(const nn_wavegen_cuda *wg);
size_t nn_wavegen_cuda_hop(const nn_wavegen_cuda *wg);
/* Device bytes of the weights. */
size_t nn_wavegen_cuda_weight_bytes(const nn_wavegen_cuda *wg);

typedef struct nn_wavegen_cuda_job nn_wavegen_cuda_job;

/* A job's stream and buffers for chunks of up to max_frames latent frames. */
nn_wavegen_cuda_job *nn_wavegen_cuda_job_new(const nn_wavegen_cuda *wg, size_t max_frames,
                                             char *err, size_t err_size);
void nn_wavegen_cuda_job_free(nn_wavegen_cuda_job *job);

/* samples[frames * hop] = tanh(WaveGenerator(latent)) for a host latent (in_channels, frames)
 * channel-major with rows of ldl; pre_tanh (may be NULL) receives the values before the tanh.
 * frames <= max_frames. Host buffers may be any memory; the audio passes through the job's
 * pinned buffer. Returns 0, or -1 with err set. */
int nn_wavegen_cuda_forward(nn_wavegen_cuda_job *job, const float *latent, size_t ldl,
                            size_t frames, float *samples, float *pre_tanh, char *err,
                            size_t err_size);

/* The same from a latent already in device memory (nn_bicodec_decode_cuda_device), rows of
 * ldl; whatever wrote it must have finished (that call returns when it has). */
int nn_wavegen_cuda_forward_device(nn_wavegen_cuda_job *job, const float *latent_device,
                                   size_t ldl, size_t frames, float *samples, float *pre_tanh,
                                   char *err, size_t err_size);

#ifdef __cplusplus
}
#endif
#endif
