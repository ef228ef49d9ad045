/* The parts of the BiCodec encoder, each in its own file; shared between them only. */
#ifndef SPARK_NN_ENCODER_INTERNAL_H
#define SPARK_NN_ENCODER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spark/nn/bicodec_encoder.h"
#include "spark/nn/conv.h"
#include "spark/nn/pool.h"
#include "spark/nn/tensor_file.h"

/* ---- weights: f32 views of a file's tensors -------------------------------------------- */

typedef struct enc_weights {
    nn_tensor_file *file;
    const char *label;     /* file name for messages */
    void **owned;          /* converted or realigned copies */
    size_t owned_count, owned_cap;
    char *error;           /* the first failure, malloc'd */
} enc_weights;

/* The tensor as contiguous f32 (converted from bf16, or copied when misaligned), with its
 * element count checked; NULL (and w->error set once) when absent or of another size. */
const float *enc_tensor(enc_weights *w, const char *name, uint64_t elements);
/* The same with a printf-style name. */
const float *enc_tensorf(enc_weights *w, uint64_t elements, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void enc_weights_release(enc_weights *w);
/* Sets w->error (if not yet set) from a printf-style message. */
void enc_weights_fail(enc_weights *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* malloc'd printf. */
char *enc_strdupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- small per-frame helpers ----------------------------------------------------------- */

/* Softmax over each of `rows` rows of `cols` values (ld in elements), in place. */
void enc_softmax_rows(float *x, size_t rows, size_t cols, size_t ld);
/* Makes a conv layer, recording a failure in w. */
void enc_conv_init(enc_weights *w, nn_conv1d *conv, const nn_conv1d_shape *shape,
                   const float *weight, const float *bias);

/* ---- mel spectrogram (spec 4.1) -------------------------------------------------------- */

typedef struct enc_mel enc_mel;
enc_mel *enc_mel_create(int64_t sample_rate, int64_t n_fft, int64_t win_length,
                        int64_t hop_length, int64_t n_mels, double f_min, double f_max,
                        char **error);
void enc_mel_free(enc_mel *mel);
size_t enc_mel_frames(const enc_mel *mel, size_t n);
/* out (n_mels, frames) channel-major. Not reentrant (one FFT buffer). -1: out of memory. */
int enc_mel_forward(enc_mel *mel, nn_pool *pool, const float *wav, size_t n, float *out);

/* ---- ECAPA-TDNN latent (spec 4.6) ------------------------------------------------------ */

typedef struct enc_ecapa enc_ecapa;
enc_ecapa *enc_ecapa_load(enc_weights *w, size_t mel_bins);
void enc_ecapa_free(enc_ecapa *ecapa);
size_t enc_ecapa_channels(const enc_ecapa *ecapa); /* 1536 */
/* mel (mel_bins, frames) channel-major -> latent (frames, 1536) time-major. */
int enc_ecapa_forward(enc_ecapa *ecapa, nn_pool *pool, const float *mel, size_t frames,
                      float *latent);

/* ---- Perceiver resampler + residual FSQ (spec 4.6) ------------------------------------- */

typedef struct enc_perceiver enc_perceiver;
enc_perceiver *enc_perceiver_load(enc_weights *w, size_t latent_dim, size_t latent_count,
                                  size_t context_dim);
void enc_perceiver_free(enc_perceiver *perceiver);
/* context (frames, context_dim) time-major -> out (latent_count, latent_dim). */
int enc_perceiver_forward(enc_perceiver *perceiver, nn_pool *pool, const float *context,
                          size_t frames, float *out);

typedef struct enc_fsq {
    size_t dim_in, levels_count, count;
    int64_t levels[NN_SPARK_MAX_LIST];
    const float *project_in_w, *project_in_b; /* [levels_count, dim_in], [levels_count] */
} enc_fsq;
int enc_fsq_load(enc_weights *w, enc_fsq *fsq, const nn_bicodec_config *config);
/* latents (count, dim_in) -> codes[count]; z and bound (count, levels_count) may be NULL. */
void enc_fsq_tokenize(const enc_fsq *fsq, nn_pool *pool, const float *latents, int32_t *codes,
                      float *z, float *bound);
uint32_t enc_fsq_range(const enc_fsq *fsq);

/* ---- wav2vec2 layers 1..16 and the hidden-state mix (spec 4.2, 5) ---------------------- */

typedef struct enc_wav2vec2 enc_wav2vec2;
enc_wav2vec2 *enc_wav2vec2_load(enc_weights *w, const nn_wav2vec2_config *config);
void enc_wav2vec2_free(enc_wav2vec2 *model);
size_t enc_wav2vec2_frames(const enc_wav2vec2 *model, size_t n);
size_t enc_wav2vec2_hidden(const enc_wav2vec2 *model);
/* wav (n samples, normalised audio) -> mix (frames, hidden) time-major. */
int enc_wav2vec2_mix(enc_wav2vec2 *model, nn_pool *pool, const float *wav, size_t n,
                     float *mix, char **error);

/* ---- semantic encoder + factorised VQ tokenize (spec 4.3-4.5) -------------------------- */

typedef struct enc_semantic enc_semantic;
enc_semantic *enc_semantic_load(enc_weights *w, const nn_bicodec_config *config);
void enc_semantic_free(enc_semantic *model);
size_t enc_semantic_channels(const enc_semantic *model);
/* feat (frames, input_channels) -> codes[frames]; encoder_out (channels, frames) and
 * cos_margin[frames] are filled when not NULL. */
int enc_semantic_forward(enc_semantic *model, nn_pool *pool, const float *feat, size_t frames,
                         int32_t *codes, float *encoder_out, float *cos_margin, char **error);

#endif
