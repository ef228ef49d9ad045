/*
 * wavegen.h - BiCodec's WaveGenerator (DAC-style, spec 4.8): a k=7 stem convolution, four
 * upsampling blocks (Snake, transposed convolution, three dilated residual units), a final
 * Snake, a k=7 convolution to one channel and tanh. 320 samples per latent frame for the
 * released rates [8, 5, 4, 2]. Weight norm is folded once at load.
 *
 * Chunked decoding: every layer is local in time, so a chunk decoded together with
 * `context` frames of its neighbours on each side gives the same samples as the full decode
 * once context covers the receptive field (wavegen_receptive_field); the overlap is the
 * caller's choice. Free of SDK types.
 */
#ifndef WAVEGEN_H
#define WAVEGEN_H

#include <stddef.h>

#include <spark/nn/conv.h>
#include <spark/nn/pool.h>
#include <spark/nn/tensor_file.h>

#define WAVEGEN_MAX_BLOCKS 8
#define WAVEGEN_RESIDUAL_UNITS 3

typedef struct wavegen_residual {
    size_t dilation;
    float *alpha1, *alpha2;   /* Snake, [channels] */
    nn_conv1d conv7, conv1;   /* k = 7 dilated, then k = 1 */
} wavegen_residual;

typedef struct wavegen_block {
    size_t in_channels, out_channels, stride;
    float *alpha;             /* Snake before the upsampling, [in_channels] */
    nn_conv_transpose1d up;
    wavegen_residual units[WAVEGEN_RESIDUAL_UNITS];
} wavegen_block;

typedef struct wavegen {
    size_t in_channels, channels;
    size_t hop;               /* samples per latent frame: the product of the rates */
    nn_conv1d stem;
    size_t block_count;
    wavegen_block blocks[WAVEGEN_MAX_BLOCKS];
    float *final_alpha;
    nn_conv1d out_conv;
} wavegen;

/* Loads decoder.model.* of MODEL/BiCodec/model.safetensors for the decoder section of its
 * config.yaml. Returns 0, or -1 with err naming the file, key or tensor. */
int wavegen_load(wavegen *wg, const char *model_dir, char *err, size_t err_size);
void wavegen_free(wavegen *wg);

/* Runs every convolution but the transposed ones in bf16 (spark/nn/conv.h
 * nn_conv1d_use_bf16): about twice as fast, at bf16 precision. Returns 0, or -1 with err set
 * (a CPU without AVX512-BF16); the model is unchanged then. */
int wavegen_use_bf16(wavegen *wg, char *err, size_t err_size);

/* Working memory, grown on demand and kept between calls (one per job). */
typedef struct wavegen_workspace {
    float *data;
    size_t cap;
} wavegen_workspace;
void wavegen_workspace_free(wavegen_workspace *ws);

/* samples[frames * hop] = tanh(WaveGenerator(latent)) for latent (in_channels, frames),
 * channel-major with rows of ldl. pre_tanh, when not NULL, receives the values before the
 * tanh. Returns 0, or -1 with err set (no memory). */
int wavegen_forward(nn_pool *pool, const wavegen *wg, const float *latent, size_t ldl,
                    size_t frames, wavegen_workspace *ws, float *samples, float *pre_tanh,
                    char *err, size_t err_size);

/* The samples of latent frames [begin, end) of a (in_channels, frames) latent, decoded from
 * the window [begin - context, end + context) clipped to the latent: (end - begin) * hop
 * samples into samples (and, when not NULL, the values before the tanh into pre_tanh). */
int wavegen_forward_range(nn_pool *pool, const wavegen *wg, const float *latent, size_t ldl,
                          size_t frames, size_t begin, size_t end, size_t context,
                          wavegen_workspace *ws, float *samples, float *pre_tanh, char *err,
                          size_t err_size);

/* The receptive field in latent frames, measured: how far (before, after) a change in one
 * frame of a random latent reaches in the output. Runs the model on 2 * probe + 1 frames. */
int wavegen_receptive_field(nn_pool *pool, const wavegen *wg, size_t probe, size_t *before,
                            size_t *after, char *err, size_t err_size);

#endif
