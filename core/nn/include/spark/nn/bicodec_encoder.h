/*
 * spark/nn/bicodec_encoder.h - BiCodec's encode direction on the CPU: a reference recording
 * (16 kHz mono float) to the 32 global codes of its voice, and (for cloning with a
 * transcript) to its semantic codes.
 *
 *   global codes:   volume normalisation -> 6 s reference clip -> linear mel (FFTW) ->
 *                   ECAPA-TDNN -> Perceiver resampler -> residual FSQ (round half to even)
 *   semantic codes: wav2vec2 layers 1..16 on the whole normalised audio (processor
 *                   normalisation, conv feature encoder, projection, positional conv, pre-LN
 *                   layers), mix of layers 11/14/16 -> semantic encoder (Vocos) -> factorised
 *                   VQ tokenize (cosine match)
 *
 * Everything is computed in f32 as upstream, except the volume normalisation (f64, as
 * upstream). Spec: shared/spec/spark-tts-model.md 2.2, 2.3, 4.1-4.6, 5.
 */
#ifndef SPARK_NN_BICODEC_ENCODER_H
#define SPARK_NN_BICODEC_ENCODER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spark/nn/pool.h"
#include "spark/nn/spark_model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- audio front-end (spec 2.2, 2.3) --------------------------------------------------- */

/* Below this peak magnitude (-80 dBFS) a reference holds no usable voice. */
#define NN_REFERENCE_SILENCE_PEAK 1e-4f
/* Shortest reference accepted, in seconds. */
#define NN_REFERENCE_MIN_SECONDS 0.1

/* Upstream's audio_volume_normalize (coeff 0.2) with its quirks: the sorted magnitudes are
 * taken once from the input, so the < 0.1 peak gain does not change which samples count as
 * loud. Computed in f64. out may equal in. *gain (may be NULL) receives the overall gain
 * (the result is in * gain). Returns 0, or -1 when out of memory. */
int nn_volume_normalize(const float *in, size_t n, float *out, double *gain);

/* Upstream's get_ref_clip: the first clip_len samples of wav, tiled when shorter. n > 0. */
void nn_reference_clip(const float *wav, size_t n, float *clip, size_t clip_len);

/* floor(sample_rate * ref_segment_duration / latent_hop_length) * latent_hop_length. */
size_t nn_reference_clip_length(const nn_spark_audio_config *audio);

/* ---- the encoder ----------------------------------------------------------------------- */

typedef struct nn_bicodec_encoder nn_bicodec_encoder;

/* Loads the speaker path (mel, ECAPA-TDNN, Perceiver, FSQ) from MODEL/BiCodec, and with
 * `semantic` also wav2vec2 layers 1..16 and the semantic encoder + VQ. Every tensor used is
 * checked against the configs first. NULL with *error (malloc'd, naming the file and the
 * problem) on failure. The pool (may be NULL: single-threaded) must outlive the encoder. */
nn_bicodec_encoder *nn_bicodec_encoder_load(const char *model_dir, bool semantic,
                                            nn_pool *pool, char **error);
void nn_bicodec_encoder_free(nn_bicodec_encoder *encoder);

const nn_spark_config *nn_bicodec_encoder_config(const nn_bicodec_encoder *encoder);
bool nn_bicodec_encoder_has_semantic(const nn_bicodec_encoder *encoder);
/* Number of global codes (token_num, 32) and the exclusive upper bound of their values. */
size_t nn_bicodec_encoder_global_count(const nn_bicodec_encoder *encoder);
uint32_t nn_bicodec_encoder_global_range(const nn_bicodec_encoder *encoder);
/* Semantic frames for n samples: floor((n - 400) / 320) + 1, 0 when n < 400. */
size_t nn_bicodec_encoder_semantic_frames(const nn_bicodec_encoder *encoder, size_t n);

/* Intermediates of the speaker path, for checks against the reference. Filled when a trace
 * is passed; free with nn_speaker_trace_free. */
typedef struct nn_speaker_trace {
    size_t mel_bins, frames;   /* mel (mel_bins, frames) channel-major */
    float *mel;
    size_t ecapa_channels;     /* ecapa (frames, ecapa_channels) time-major */
    float *ecapa;
    size_t latent_count, latent_dim;
    float *perceiver;          /* (latent_count, latent_dim) */
    size_t fsq_dims;
    float *fsq_z;              /* FSQ project_in output (latent_count, fsq_dims) */
    float *fsq_bound;          /* tanh bound before rounding, same shape */
} nn_speaker_trace;
void nn_speaker_trace_free(nn_speaker_trace *trace);

/* The global codes of a reference clip (normalised, nn_reference_clip_length samples; any
 * length >= one hop is accepted). codes has nn_bicodec_encoder_global_count entries.
 * Returns 0, or -1 with *error set. */
int nn_bicodec_encode_globals(nn_bicodec_encoder *encoder, const float *clip, size_t n,
                              int32_t *codes, nn_speaker_trace *trace, char **error);

typedef struct nn_semantic_trace {
    size_t frames, hidden;     /* w2v_mix (frames, hidden) time-major */
    float *w2v_mix;
    size_t channels;           /* encoder_out (channels, frames) channel-major */
    float *encoder_out;
    float *cos_margin;         /* per frame: best minus second-best cosine */
} nn_semantic_trace;
void nn_semantic_trace_free(nn_semantic_trace *trace);

/* The semantic codes of the whole normalised reference (n >= 400 samples): *codes is
 * malloc'd with *count = nn_bicodec_encoder_semantic_frames entries. Needs an encoder loaded
 * with `semantic`. Returns 0, or -1 with *error set. */
int nn_bicodec_encode_semantic(nn_bicodec_encoder *encoder, const float *wav, size_t n,
                               int32_t **codes, size_t *count, nn_semantic_trace *trace,
                               char **error);

#ifdef __cplusplus
}
#endif
#endif
