/* VocosBackbone: stem conv -> (Ada)LayerNorm -> ConvNeXt blocks -> LayerNorm, time-major. */
#include "vocos_backbone.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spark/nn/gemm.h>

#define VOCOS_EPS 1e-6f

/* dst = "a.b"; false (err set) when it does not fit. */
static bool join(char *dst, size_t size, const char *a, const char *b, char *err,
                 size_t err_size)
{
    int n = snprintf(dst, size, "%s.%s", a, b);
    if (n < 0 || (size_t)n >= size) {
        snprintf(err, err_size, "tensor name %s.%s is too long", a, b);
        return false;
    }
    return true;
}

static float *load(const bicodec_model *model, const char *prefix, const char *suffix,
                   uint32_t ndim, int64_t d0, int64_t d1, int64_t d2, char *err,
                   size_t err_size)
{
    char name[256];
    if (!join(name, sizeof name, prefix, suffix, err, err_size))
        return NULL;
    int64_t shape[3] = {d0, d1, d2};
    return bicodec_tensor(model, name, ndim, shape, err, err_size);
}

static int load_norm(vocos_norm *norm, const bicodec_model *model, const char *prefix,
                     size_t dim, size_t cond_dim, char *err, size_t err_size)
{
    int64_t d = (int64_t)dim, c = (int64_t)cond_dim;
    if (cond_dim == 0) {
        norm->weight = load(model, prefix, "weight", 1, d, 0, 0, err, err_size);
        norm->bias = norm->weight ? load(model, prefix, "bias", 1, d, 0, 0, err, err_size) : NULL;
        return norm->bias ? 0 : -1;
    }
    norm->scale_w = load(model, prefix, "scale.weight", 2, d, c, 0, err, err_size);
    norm->scale_b = norm->scale_w ? load(model, prefix, "scale.bias", 1, d, 0, 0, err, err_size)
                                  : NULL;
    norm->shift_w = norm->scale_b ? load(model, prefix, "shift.weight", 2, d, c, 0, err, err_size)
                                  : NULL;
    norm->shift_b = norm->shift_w ? load(model, prefix, "shift.bias", 1, d, 0, 0, err, err_size)
                                  : NULL;
    return norm->shift_b ? 0 : -1;
}

static void free_norm(vocos_norm *norm)
{
    free(norm->weight);
    free(norm->bias);
    free(norm->scale_w);
    free(norm->scale_b);
    free(norm->shift_w);
    free(norm->shift_b);
    memset(norm, 0, sizeof *norm);
}

static int load_conv(nn_conv1d *conv, const bicodec_model *model, const char *prefix,
                     size_t in, size_t out, size_t groups, char *err, size_t err_size)
{
    float *w = load(model, prefix, "weight", 3, (int64_t)out, (int64_t)(in / groups), 7, err,
                    err_size);
    float *b = w ? load(model, prefix, "bias", 1, (int64_t)out, 0, 0, err, err_size) : NULL;
    nn_conv1d_shape shape = {.in_channels = in, .out_channels = out, .kernel = 7,
                             .padding = 3, .groups = groups};
    int rc = b ? nn_conv1d_init(conv, &shape, w, b, err, err_size) : -1;
    free(w);
    free(b);
    return rc;
}

int vocos_backbone_load(vocos_backbone *vb, const bicodec_model *model, const char *prefix,
                        size_t in_channels, size_t dim, size_t inter, size_t layers,
                        size_t cond_dim, char *err, size_t err_size)
{
    memset(vb, 0, sizeof *vb);
    vb->in_channels = in_channels;
    vb->dim = dim;
    vb->inter = inter;
    vb->layers = layers;
    vb->cond_dim = cond_dim;
    char name[256];
    if (!join(name, sizeof name, prefix, "embed", err, err_size) ||
        load_conv(&vb->embed, model, name, in_channels, dim, 1, err, err_size))
        goto fail;
    if (!join(name, sizeof name, prefix, "norm", err, err_size) ||
        load_norm(&vb->norm, model, name, dim, cond_dim, err, err_size))
        goto fail;
    vb->blocks = calloc(layers ? layers : 1, sizeof *vb->blocks);
    if (!vb->blocks) {
        snprintf(err, err_size, "out of memory loading %s", prefix);
        goto fail;
    }
    int64_t d = (int64_t)dim, n = (int64_t)inter;
    for (size_t i = 0; i < layers; i++) {
        vocos_block *b = &vb->blocks[i];
        char block[256], index[32];
        snprintf(index, sizeof index, "convnext.%zu", i);
        if (!join(block, sizeof block, prefix, index, err, err_size) ||
            !join(name, sizeof name, block, "dwconv", err, err_size) ||
            load_conv(&b->dwconv, model, name, dim, dim, dim, err, err_size))
            goto fail;
        if (!join(name, sizeof name, block, "norm", err, err_size) ||
            load_norm(&b->norm, model, name, dim, cond_dim, err, err_size))
            goto fail;
        if (!(b->pw1_w = load(model, block, "pwconv1.weight", 2, n, d, 0, err, err_size)) ||
            !(b->pw1_b = load(model, block, "pwconv1.bias", 1, n, 0, 0, err, err_size)) ||
            !(b->pw2_w = load(model, block, "pwconv2.weight", 2, d, n, 0, err, err_size)) ||
            !(b->pw2_b = load(model, block, "pwconv2.bias", 1, d, 0, 0, err, err_size)) ||
            !(b->gamma = load(model, block, "gamma", 1, d, 0, 0, err, err_size)))
            goto fail;
    }
    if (!(vb->final_w = load(model, prefix, "final_layer_norm.weight", 1, d, 0, 0, err, err_size)) ||
        !(vb->final_b = load(model, prefix, "final_layer_norm.bias", 1, d, 0, 0, err, err_size)))
        goto fail;
    return 0;
fail:
    vocos_backbone_free(vb);
    return -1;
}

void vocos_backbone_free(vocos_backbone *vb)
{
    nn_conv1d_free(&vb->embed);
    free_norm(&vb->norm);
    for (size_t i = 0; vb->blocks && i < vb->layers; i++) {
        vocos_block *b = &vb->blocks[i];
        nn_conv1d_free(&b->dwconv);
        free_norm(&b->norm);
        free(b->pw1_w);
        free(b->pw1_b);
        free(b->pw2_w);
        free(b->pw2_b);
        free(b->gamma);
    }
    free(vb->blocks);
    free(vb->final_w);
    free(vb->final_b);
    memset(vb, 0, sizeof *vb);
}

/* Scratch layout: [norm affine: 2 * dim] [t: frames * dim] [u: frames * inter] [conv]. */
size_t vocos_backbone_scratch_floats(const vocos_backbone *vb, size_t frames)
{
    return 2 * vb->dim + frames * vb->dim + frames * vb->inter +
           nn_conv1d_scratch_floats(&vb->embed, frames);
}

/* The (weight, bias) a norm applies after normalising: its own, or the adaptive scale and
 * shift computed from the condition (the same for every frame). */
static void norm_affine(const vocos_norm *norm, size_t dim, size_t cond_dim, const float *cond,
                        float *affine, const float **weight, const float **bias)
{
    if (!norm->scale_w) {
        *weight = norm->weight;
        *bias = norm->bias;
        return;
    }
    for (size_t o = 0; o < dim; o++) {
        const float *ws = norm->scale_w + o * cond_dim, *wh = norm->shift_w + o * cond_dim;
        float s = norm->scale_b[o], h = norm->shift_b[o];
        for (size_t i = 0; i < cond_dim; i++) {
            s += ws[i] * cond[i];
            h += wh[i] * cond[i];
        }
        affine[o] = s;
        affine[dim + o] = h;
    }
    *weight = affine;
    *bias = affine + dim;
}

void vocos_backbone_forward(nn_pool *pool, const vocos_backbone *vb, const float *x,
                            size_t frames, const float *cond, float *out, float *scratch)
{
    size_t dim = vb->dim, inter = vb->inter;
    float *affine = scratch;
    float *t = affine + 2 * dim;
    float *u = t + frames * dim;
    float *conv_scratch = u + frames * inter;
    const float *w, *b;

    nn_conv1d_forward_tc(pool, &vb->embed, x, vb->in_channels, frames, out, dim, conv_scratch);
    norm_affine(&vb->norm, dim, vb->cond_dim, cond, affine, &w, &b);
    nn_layer_norm_f32(pool, out, dim, frames, dim, w, b, VOCOS_EPS, out, dim);
    for (size_t l = 0; l < vb->layers; l++) {
        const vocos_block *blk = &vb->blocks[l];
        nn_depthwise_conv1d_tc(pool, &blk->dwconv, out, dim, frames, t, dim);
        norm_affine(&blk->norm, dim, vb->cond_dim, cond, affine, &w, &b);
        nn_layer_norm_f32(pool, t, dim, frames, dim, w, b, VOCOS_EPS, t, dim);
        nn_linear_f32(pool, frames, inter, dim, t, dim, blk->pw1_w, dim, blk->pw1_b, u, inter,
                      false);
        nn_gelu_f32(pool, u, frames * inter);
        nn_linear_f32(pool, frames, dim, inter, u, inter, blk->pw2_w, inter, blk->pw2_b, t, dim,
                      false);
        /* residual with the layer scale: out += gamma * t */
        for (size_t f = 0; f < frames; f++) {
            float *row = out + f * dim;
            const float *tr = t + f * dim;
            for (size_t c = 0; c < dim; c++)
                row[c] += blk->gamma[c] * tr[c];
        }
    }
    nn_layer_norm_f32(pool, out, dim, frames, dim, vb->final_w, vb->final_b, VOCOS_EPS, out, dim);
}

static size_t conv_half_width(const nn_conv1d_shape *shape)
{
    size_t dilation = shape->dilation ? shape->dilation : 1;
    return shape->kernel ? (shape->kernel - 1) * dilation / 2 : 0;
}

size_t vocos_backbone_half_width(const vocos_backbone *vb)
{
    size_t width = conv_half_width(&vb->embed.shape);
    for (size_t i = 0; i < vb->layers; i++)
        width += conv_half_width(&vb->blocks[i].dwconv.shape);
    return width;
}
