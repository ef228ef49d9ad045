/*
 * vocos_backbone.h - the VocosBackbone of BiCodec (spec 4.3): a k=7 stem convolution, a
 * LayerNorm (or AdaLayerNorm on a condition vector), ConvNeXt blocks, a final LayerNorm.
 * The prenet (decode) and the semantic encoder (encode) are built from it.
 *
 * Activations are time-major, (frames, channels) rows, as the per-frame layers want them.
 */
#ifndef BICODEC_VOCOS_BACKBONE_H
#define BICODEC_VOCOS_BACKBONE_H

#include <stddef.h>

#include <spark/nn/conv.h>
#include <spark/nn/pool.h>

#include "bicodec_model.h"

/* A LayerNorm over channels, plain (weight, bias) or adaptive (scale and shift computed from
 * a condition vector by two linear layers; the scale is used as is, not as 1 + scale). */
typedef struct vocos_norm {
    float *weight, *bias;                     /* plain */
    float *scale_w, *scale_b, *shift_w, *shift_b; /* adaptive: [dim][cond], [dim] */
} vocos_norm;

typedef struct vocos_block {
    nn_conv1d dwconv; /* depthwise, k = 7, padding 3 */
    vocos_norm norm;
    float *pw1_w, *pw1_b; /* [inter][dim], [inter] */
    float *pw2_w, *pw2_b; /* [dim][inter], [dim] */
    float *gamma;         /* [dim] layer scale */
} vocos_block;

typedef struct vocos_backbone {
    size_t in_channels, dim, inter, layers, cond_dim; /* cond_dim 0: plain norms */
    nn_conv1d embed;
    vocos_norm norm;
    vocos_block *blocks;
    float *final_w, *final_b;
} vocos_backbone;

/* Loads PREFIX.embed, PREFIX.norm, PREFIX.convnext.{0..layers-1}, PREFIX.final_layer_norm.
 * Returns 0, or -1 with err naming the tensor. */
int vocos_backbone_load(vocos_backbone *vb, const bicodec_model *model, const char *prefix,
                        size_t in_channels, size_t dim, size_t inter, size_t layers,
                        size_t cond_dim, char *err, size_t err_size);
void vocos_backbone_free(vocos_backbone *vb);

/* How many frames on each side of an output frame reach it (its convolutions' half-widths). */
size_t vocos_backbone_half_width(const vocos_backbone *vb);

/* Scratch floats vocos_backbone_forward needs for `frames` frames. */
size_t vocos_backbone_scratch_floats(const vocos_backbone *vb, size_t frames);

/* out (frames, dim) = backbone(x (frames, in_channels)); rows packed. cond: cond_dim values
 * (required when the backbone is adaptive, ignored otherwise). x and out may not overlap. */
void vocos_backbone_forward(nn_pool *pool, const vocos_backbone *vb, const float *x,
                            size_t frames, const float *cond, float *out, float *scratch);

#endif
