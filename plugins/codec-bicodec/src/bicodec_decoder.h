/*
 * bicodec_decoder.h - BiCodec detokenize up to the vocoder's input (spec 4.5, 4.6, 4.7):
 * semantic codes -> codebook rows -> out_project (the FVQ latent); 32 global codes -> FSQ
 * digits -> project_out -> channel-major flatten -> project (the d-vector); the prenet
 * (linear_pre, two sampling blocks of factor 3 each followed by a 2-layer Vocos backbone, the
 * main Vocos backbone with AdaLayerNorm on the d-vector, linear); then the d-vector is added.
 * The result, (channels, frames) channel-major, is what the WaveGenerator eats.
 * Free of SDK types: the plugin node, the CLI, tests and benchmarks share it.
 */
#ifndef BICODEC_DECODER_H
#define BICODEC_DECODER_H

#include <stddef.h>
#include <stdint.h>

#include <spark/nn/pool.h>

#include "bicodec_model.h"
#include "vocos_backbone.h"

#define BICODEC_MAX_SAMPLING 8

typedef struct bicodec_decoder {
    /* factorised VQ */
    size_t codebook_size, codebook_dim, vq_channels;
    float *codebook;               /* [codebook_size][codebook_dim], raw rows */
    float *out_proj_w, *out_proj_b; /* weight norm folded: [vq_channels][codebook_dim] */
    /* speaker FSQ detokenize */
    size_t global_count, fsq_dims, speaker_latent, d_dim;
    int64_t fsq_levels[NN_SPARK_MAX_LIST];
    int64_t global_code_count; /* the product of the levels: codes lie in 0 .. count - 1 */
    float *fsq_out_w, *fsq_out_b; /* [speaker_latent][fsq_dims] */
    float *spk_proj_w, *spk_proj_b; /* [d_dim][speaker_latent * global_count] */
    /* prenet */
    size_t vocos_dim, out_channels;
    bool tanh_at_final;
    float *pre_w, *pre_b;   /* [vocos_dim][vq_channels] */
    size_t sampling_count;
    vocos_backbone sampling[BICODEC_MAX_SAMPLING];
    vocos_backbone backbone; /* AdaLayerNorm on the d-vector */
    float *post_w, *post_b;  /* [out_channels][vocos_dim] */
} bicodec_decoder;

/* Reads every decode tensor (weight norm folded once). Returns 0, or -1 with err set. */
int bicodec_decoder_load(bicodec_decoder *dec, const bicodec_model *model, char *err,
                         size_t err_size);
void bicodec_decoder_free(bicodec_decoder *dec);

/* The guards: at least one semantic code, exactly global_count globals, every code in range.
 * Returns 0, or -1 with err saying which rule is broken and where. */
int bicodec_check_codes(const bicodec_decoder *dec, const int32_t *semantic, size_t n_semantic,
                        const int32_t *global, size_t n_global, char *err, size_t err_size);

/* The d-vector (d_dim values) of checked global codes; scratch holds
 * speaker_latent * global_count floats. */
void bicodec_d_vector(const bicodec_decoder *dec, const int32_t *global, float *scratch,
                      float *d_vector);

/* How many semantic frames on each side of a latent frame reach it: a range decoded with this
 * many frames of context on both sides equals the whole decode there (up to rounding). */
size_t bicodec_receptive_half_width(const bicodec_decoder *dec);

/* The lookahead a streamed decode needs in practice, measured: how many frames before a
 * changed code the latent still moves by more than `tolerance` times its largest magnitude,
 * the most over a few random probes (at most bicodec_receptive_half_width). Returns 0, or
 * -1 with err set. */
int bicodec_measure_lookahead(nn_pool *pool, const bicodec_decoder *dec, double tolerance,
                              size_t *frames, char *err, size_t err_size);

/* Working memory of a decode, grown on demand and kept between decodes (one per job). */
typedef struct bicodec_workspace {
    float *data;
    size_t cap;
} bicodec_workspace;
void bicodec_workspace_free(bicodec_workspace *ws);

/* Optional intermediates for checks: each non-NULL buffer receives its tensor. */
typedef struct bicodec_trace {
    float *d_vector; /* [d_dim] */
    float *zq;       /* [vq_channels][n] channel-major: the FVQ latent */
    float *prenet;   /* [out_channels][n] channel-major: before the d-vector is added */
} bicodec_trace;

/* latent [out_channels][n_semantic] (channel-major, rows of ldl >= n_semantic floats) from
 * the codes. Checks the codes first and writes nothing when they are refused. Returns 0, or
 * -1 with err set (bad codes, no memory). */
int bicodec_decode(nn_pool *pool, const bicodec_decoder *dec, const int32_t *semantic,
                   size_t n_semantic, const int32_t *global, size_t n_global,
                   bicodec_workspace *ws, float *latent, size_t ldl, bicodec_trace *trace,
                   char *err, size_t err_size);

#endif
