/* vocos_cuda_internal.h - BiCodec's VocosBackbone (spec 4.3) on the GPU, shared by the decode
 * prenet and the semantic encoder: a k=7 stem convolution, a LayerNorm (or AdaLayerNorm on a
 * condition vector), ConvNeXt blocks, a final LayerNorm, on time-major (frames, channels)
 * rows, as plugins/codec-bicodec/src/vocos_backbone.c. Included only by .cu files. */
#ifndef SPARK_NN_VOCOS_CUDA_INTERNAL_H
#define SPARK_NN_VOCOS_CUDA_INTERNAL_H

#include <stddef.h>

#include "spark/nn/cuda.h"
#include "spark/nn/tensor_file.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nncu_vocos nncu_vocos;

/* PREFIX.embed, PREFIX.norm (plain, or .scale/.shift when cond > 0), PREFIX.convnext.{j},
 * PREFIX.final_layer_norm from an open BiCodec weights file. NULL with err naming the
 * tensor. */
nncu_vocos *nncu_vocos_load(const nn_tensor_file *file, const char *prefix, size_t in,
                            size_t dim, size_t inter, size_t layers, size_t cond, char *err,
                            size_t err_size);
void nncu_vocos_free(nncu_vocos *v);
size_t nncu_vocos_dim(const nncu_vocos *v);
size_t nncu_vocos_inter(const nncu_vocos *v);
/* Floats of conv scratch a forward over `frames` needs, and of the adaptive affines (0 for a
 * plain backbone). */
size_t nncu_vocos_scratch_floats(const nncu_vocos *v, size_t frames);
size_t nncu_vocos_affine_floats(const nncu_vocos *v);

/* The adaptive norms' (scale, shift) pairs from the condition vector cond (device), into
 * affine (nncu_vocos_affine_floats). */
int nncu_vocos_affines(nn_cuda_stream *s, const nncu_vocos *v, const float *cond,
                       float *affine, char *err, size_t err_size);

typedef struct nncu_vocos_work {
    float *t;             /* frames * dim */
    float *u;             /* frames * inter */
    float *scratch;       /* nncu_vocos_scratch_floats */
    const float *affine;  /* from nncu_vocos_affines; NULL for a plain backbone */
} nncu_vocos_work;

/* out (frames, dim) = backbone(x (frames, in)); rows packed; x and out must not overlap. */
int nncu_vocos_forward(nn_cuda_stream *s, const nncu_vocos *v, const float *x, size_t frames,
                       float *out, const nncu_vocos_work *work, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif
#endif
