/* ECAPA-TDNN (c512) up to its latent: layer1, three SE-Res2Blocks, the 1x1 conv over their
 * concatenation and ReLU. The order is conv -> ReLU -> BatchNorm everywhere; BatchNorm is
 * folded into a per-channel scale and shift at load. The pooling head (x-vector) is unused
 * at inference and not loaded. Spec 4.6. */
#include "encoder/encoder_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spark/nn/gemm.h"

#define ECAPA_PREFIX "speaker_encoder.speaker_encoder."
#define RES2_SCALE NN_SPARK_ECAPA_RES2_SCALE

typedef struct conv_relu_bn {
    nn_conv1d conv;
    float *scale, *shift; /* folded BatchNorm, owned */
} conv_relu_bn;

typedef struct se_res2_block {
    conv_relu_bn pre, post, res2[RES2_SCALE - 1];
    const float *se_w1, *se_b1, *se_w2, *se_b2;
} se_res2_block;

struct enc_ecapa {
    size_t channels, mel_bins, se_bottleneck;
    conv_relu_bn layer1;
    se_res2_block blocks[3];
    nn_conv1d cat_conv;
};

static void load_bn(enc_weights *w, conv_relu_bn *layer, size_t channels, const char *prefix)
{
    const float *weight = enc_tensorf(w, channels, "%s.weight", prefix);
    const float *bias = enc_tensorf(w, channels, "%s.bias", prefix);
    const float *mean = enc_tensorf(w, channels, "%s.running_mean", prefix);
    const float *var = enc_tensorf(w, channels, "%s.running_var", prefix);
    layer->scale = malloc(channels * sizeof *layer->scale);
    layer->shift = malloc(channels * sizeof *layer->shift);
    if (!layer->scale || !layer->shift) {
        enc_weights_fail(w, "out of memory for the ECAPA batch norms");
        return;
    }
    if (w->error)
        return;
    for (size_t c = 0; c < channels; c++) {
        float s = weight[c] / sqrtf(var[c] + 1e-5f);
        layer->scale[c] = s;
        layer->shift[c] = bias[c] - mean[c] * s;
    }
}

static void load_crb(enc_weights *w, conv_relu_bn *layer, const nn_conv1d_shape *shape,
                     const char *conv_name, const char *bn_name)
{
    size_t in_per_group = shape->in_channels;
    const float *weight = enc_tensorf(w, shape->out_channels * in_per_group * shape->kernel,
                                      "%s.weight", conv_name);
    const float *bias = enc_tensorf(w, shape->out_channels, "%s.bias", conv_name);
    enc_conv_init(w, &layer->conv, shape, weight, bias);
    load_bn(w, layer, shape->out_channels, bn_name);
}

static void free_crb(conv_relu_bn *layer)
{
    nn_conv1d_free(&layer->conv);
    free(layer->scale);
    free(layer->shift);
}

enc_ecapa *enc_ecapa_load(enc_weights *w, size_t mel_bins)
{
    enc_ecapa *e = calloc(1, sizeof *e);
    if (!e) {
        enc_weights_fail(w, "out of memory for ECAPA-TDNN");
        return NULL;
    }
    size_t c = NN_SPARK_ECAPA_CHANNELS, width = c / RES2_SCALE;
    e->channels = c;
    e->mel_bins = mel_bins;
    e->se_bottleneck = NN_SPARK_ECAPA_SE_BOTTLENECK;
    char conv[160], bn[160];
    load_crb(w, &e->layer1,
             &(nn_conv1d_shape){.in_channels = mel_bins, .out_channels = c, .kernel = 5,
                                .padding = 2},
             ECAPA_PREFIX "layer1.conv", ECAPA_PREFIX "layer1.bn");
    for (size_t b = 0; b < 3; b++) {
        se_res2_block *blk = &e->blocks[b];
        size_t dilation = b + 2;
        nn_conv1d_shape pointwise = {.in_channels = c, .out_channels = c, .kernel = 1};
        snprintf(conv, sizeof conv, ECAPA_PREFIX "layer%zu.se_res2block.0.conv", b + 2);
        snprintf(bn, sizeof bn, ECAPA_PREFIX "layer%zu.se_res2block.0.bn", b + 2);
        load_crb(w, &blk->pre, &pointwise, conv, bn);
        for (size_t i = 0; i < RES2_SCALE - 1; i++) {
            snprintf(conv, sizeof conv, ECAPA_PREFIX "layer%zu.se_res2block.1.convs.%zu",
                     b + 2, i);
            snprintf(bn, sizeof bn, ECAPA_PREFIX "layer%zu.se_res2block.1.bns.%zu", b + 2, i);
            load_crb(w, &blk->res2[i],
                     &(nn_conv1d_shape){.in_channels = width, .out_channels = width,
                                        .kernel = 3, .dilation = dilation,
                                        .padding = dilation},
                     conv, bn);
        }
        snprintf(conv, sizeof conv, ECAPA_PREFIX "layer%zu.se_res2block.2.conv", b + 2);
        snprintf(bn, sizeof bn, ECAPA_PREFIX "layer%zu.se_res2block.2.bn", b + 2);
        load_crb(w, &blk->post, &pointwise, conv, bn);
        size_t sb = e->se_bottleneck;
        blk->se_w1 = enc_tensorf(w, sb * c, ECAPA_PREFIX "layer%zu.se_res2block.3.linear1.weight",
                                 b + 2);
        blk->se_b1 = enc_tensorf(w, sb, ECAPA_PREFIX "layer%zu.se_res2block.3.linear1.bias",
                                 b + 2);
        blk->se_w2 = enc_tensorf(w, c * sb, ECAPA_PREFIX "layer%zu.se_res2block.3.linear2.weight",
                                 b + 2);
        blk->se_b2 = enc_tensorf(w, c, ECAPA_PREFIX "layer%zu.se_res2block.3.linear2.bias",
                                 b + 2);
    }
    size_t cat = 3 * c;
    enc_conv_init(w, &e->cat_conv,
                  &(nn_conv1d_shape){.in_channels = cat, .out_channels = cat, .kernel = 1},
                  enc_tensor(w, ECAPA_PREFIX "conv.weight", cat * cat),
                  enc_tensor(w, ECAPA_PREFIX "conv.bias", cat));
    if (w->error) {
        enc_ecapa_free(e);
        return NULL;
    }
    return e;
}

void enc_ecapa_free(enc_ecapa *e)
{
    if (!e)
        return;
    free_crb(&e->layer1);
    for (size_t b = 0; b < 3; b++) {
        free_crb(&e->blocks[b].pre);
        free_crb(&e->blocks[b].post);
        for (size_t i = 0; i < RES2_SCALE - 1; i++)
            free_crb(&e->blocks[b].res2[i]);
    }
    nn_conv1d_free(&e->cat_conv);
    free(e);
}

size_t enc_ecapa_channels(const enc_ecapa *e)
{
    return 3 * e->channels;
}

/* y = BN(ReLU(conv(x))), channel-major with leading dimension t. */
static void crb_forward(nn_pool *pool, const conv_relu_bn *layer, const float *x, size_t ldx,
                        size_t t, float *y, size_t ldy, float *scratch)
{
    nn_conv1d_forward(pool, &layer->conv, x, ldx, t, y, ldy, scratch);
    for (size_t c = 0; c < layer->conv.shape.out_channels; c++) {
        float s = layer->scale[c], b = layer->shift[c];
        float *row = y + c * ldy;
        for (size_t i = 0; i < t; i++)
            row[i] = (row[i] > 0.0f ? row[i] : 0.0f) * s + b;
    }
}

/* out = x + SE(post(Res2(pre(x)))), all (channels, t). */
static void block_forward(const enc_ecapa *e, nn_pool *pool, const se_res2_block *blk,
                          const float *x, size_t t, float *out, float *a, float *r,
                          float *sp, float *scratch)
{
    size_t c = e->channels, width = c / RES2_SCALE;
    crb_forward(pool, &blk->pre, x, t, t, a, t, scratch);
    for (size_t i = 0; i < RES2_SCALE - 1; i++) {
        const float *group = a + i * width * t;
        if (i == 0)
            memcpy(sp, group, width * t * sizeof *sp);
        else /* sp is the previous group's output, already in r */
            for (size_t j = 0; j < width * t; j++)
                sp[j] = r[(i - 1) * width * t + j] + group[j];
        crb_forward(pool, &blk->res2[i], sp, t, t, r + i * width * t, t, scratch);
    }
    memcpy(r + (RES2_SCALE - 1) * width * t, a + (RES2_SCALE - 1) * width * t,
           width * t * sizeof *r);
    crb_forward(pool, &blk->post, r, t, t, a, t, scratch);

    float mean[NN_SPARK_ECAPA_CHANNELS], hidden[NN_SPARK_ECAPA_SE_BOTTLENECK],
        gate[NN_SPARK_ECAPA_CHANNELS];
    for (size_t ch = 0; ch < c; ch++) {
        float sum = 0.0f;
        for (size_t i = 0; i < t; i++)
            sum += a[ch * t + i];
        mean[ch] = sum / (float)t;
    }
    nn_linear_f32(NULL, 1, e->se_bottleneck, c, mean, c, blk->se_w1, c, blk->se_b1, hidden,
                  e->se_bottleneck, false);
    for (size_t i = 0; i < e->se_bottleneck; i++)
        hidden[i] = hidden[i] > 0.0f ? hidden[i] : 0.0f;
    nn_linear_f32(NULL, 1, c, e->se_bottleneck, hidden, e->se_bottleneck, blk->se_w2,
                  e->se_bottleneck, blk->se_b2, gate, c, false);
    for (size_t ch = 0; ch < c; ch++) {
        float g = 1.0f / (1.0f + expf(-gate[ch]));
        for (size_t i = 0; i < t; i++)
            out[ch * t + i] = x[ch * t + i] + a[ch * t + i] * g;
    }
}

int enc_ecapa_forward(enc_ecapa *e, nn_pool *pool, const float *mel, size_t frames,
                      float *latent)
{
    size_t c = e->channels, t = frames;
    size_t scratch_floats = nn_conv1d_scratch_floats(&e->layer1.conv, t);
    size_t s = nn_conv1d_scratch_floats(&e->cat_conv, t);
    scratch_floats = s > scratch_floats ? s : scratch_floats;
    s = nn_conv1d_scratch_floats(&e->blocks[0].pre.conv, t);
    scratch_floats = s > scratch_floats ? s : scratch_floats;
    for (size_t b = 0; b < 3; b++) {
        s = nn_conv1d_scratch_floats(&e->blocks[b].res2[0].conv, t);
        scratch_floats = s > scratch_floats ? s : scratch_floats;
    }
    float *out1 = malloc(c * t * sizeof *out1);
    float *cat = malloc(3 * c * t * sizeof *cat);
    float *a = malloc(c * t * sizeof *a);
    float *r = malloc(c * t * sizeof *r);
    float *sp = malloc(c / RES2_SCALE * t * sizeof *sp);
    float *scratch = malloc((scratch_floats ? scratch_floats : 1) * sizeof *scratch);
    float *channel_major = malloc(3 * c * t * sizeof *channel_major);
    int rc = -1;
    if (out1 && cat && a && r && sp && scratch && channel_major) {
        crb_forward(pool, &e->layer1, mel, t, t, out1, t, scratch);
        const float *prev = out1;
        for (size_t b = 0; b < 3; b++) {
            float *out = cat + b * c * t;
            block_forward(e, pool, &e->blocks[b], prev, t, out, a, r, sp, scratch);
            prev = out;
        }
        nn_conv1d_forward(pool, &e->cat_conv, cat, t, t, channel_major, t, scratch);
        for (size_t i = 0; i < 3 * c * t; i++)
            channel_major[i] = channel_major[i] > 0.0f ? channel_major[i] : 0.0f;
        nn_transpose_f32(channel_major, t, 3 * c, t, latent, 3 * c);
        rc = 0;
    }
    free(out1);
    free(cat);
    free(a);
    free(r);
    free(sp);
    free(scratch);
    free(channel_major);
    return rc;
}
