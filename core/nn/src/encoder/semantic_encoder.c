/* The semantic encoder (VocosBackbone, two SamplingBlock + 2-layer Vocos stages, a linear
 * projection) and the factorised VQ's tokenize: weight-normed in_project, then the codebook
 * row of highest cosine (upstream's distance form, first index on ties). All per-frame work
 * is time-major (T, C). Spec 4.3-4.5. */
#include "encoder/encoder_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spark/nn/gemm.h"

typedef struct convnext_block {
    nn_conv1d dwconv;
    const float *ln_w, *ln_b, *pw1_w, *pw1_b, *pw2_w, *pw2_b, *gamma;
} convnext_block;

typedef struct vocos {
    size_t in, dim, inter, layers;
    nn_conv1d embed;
    const float *ln_w, *ln_b, *final_w, *final_b;
    convnext_block *blocks;
} vocos;

struct enc_semantic {
    size_t in, dim, out, codebook_size, codebook_dim, stages;
    vocos backbone, downsample[NN_SPARK_MAX_LIST];
    const float *project_w, *project_b;
    float *in_project_w;            /* folded weight norm, [codebook_dim, out] */
    const float *in_project_b;
    float *codebook;                /* l2-normalised rows */
};

static void vocos_load(enc_weights *w, vocos *v, const char *prefix, size_t in, size_t dim,
                       size_t inter, size_t layers)
{
    v->in = in;
    v->dim = dim;
    v->inter = inter;
    v->layers = layers;
    size_t k = NN_SPARK_VOCOS_KERNEL;
    enc_conv_init(w, &v->embed,
                  &(nn_conv1d_shape){.in_channels = in, .out_channels = dim, .kernel = k,
                                     .padding = k / 2},
                  enc_tensorf(w, dim * in * k, "%s.embed.weight", prefix),
                  enc_tensorf(w, dim, "%s.embed.bias", prefix));
    v->ln_w = enc_tensorf(w, dim, "%s.norm.weight", prefix);
    v->ln_b = enc_tensorf(w, dim, "%s.norm.bias", prefix);
    v->final_w = enc_tensorf(w, dim, "%s.final_layer_norm.weight", prefix);
    v->final_b = enc_tensorf(w, dim, "%s.final_layer_norm.bias", prefix);
    v->blocks = calloc(layers ? layers : 1, sizeof *v->blocks);
    if (!v->blocks) {
        enc_weights_fail(w, "out of memory for %s", prefix);
        return;
    }
    for (size_t j = 0; j < layers; j++) {
        convnext_block *b = &v->blocks[j];
        enc_conv_init(w, &b->dwconv,
                      &(nn_conv1d_shape){.in_channels = dim, .out_channels = dim, .kernel = k,
                                         .padding = k / 2, .groups = dim},
                      enc_tensorf(w, dim * k, "%s.convnext.%zu.dwconv.weight", prefix, j),
                      enc_tensorf(w, dim, "%s.convnext.%zu.dwconv.bias", prefix, j));
        b->ln_w = enc_tensorf(w, dim, "%s.convnext.%zu.norm.weight", prefix, j);
        b->ln_b = enc_tensorf(w, dim, "%s.convnext.%zu.norm.bias", prefix, j);
        b->pw1_w = enc_tensorf(w, inter * dim, "%s.convnext.%zu.pwconv1.weight", prefix, j);
        b->pw1_b = enc_tensorf(w, inter, "%s.convnext.%zu.pwconv1.bias", prefix, j);
        b->pw2_w = enc_tensorf(w, dim * inter, "%s.convnext.%zu.pwconv2.weight", prefix, j);
        b->pw2_b = enc_tensorf(w, dim, "%s.convnext.%zu.pwconv2.bias", prefix, j);
        b->gamma = enc_tensorf(w, dim, "%s.convnext.%zu.gamma", prefix, j);
    }
}

static void vocos_free(vocos *v)
{
    nn_conv1d_free(&v->embed);
    if (v->blocks)
        for (size_t j = 0; j < v->layers; j++)
            nn_conv1d_free(&v->blocks[j].dwconv);
    free(v->blocks);
}

enc_semantic *enc_semantic_load(enc_weights *w, const nn_bicodec_config *config)
{
    enc_semantic *m = calloc(1, sizeof *m);
    if (!m) {
        enc_weights_fail(w, "out of memory for the semantic encoder");
        return NULL;
    }
    const nn_bicodec_vocos_config *e = &config->encoder;
    m->in = (size_t)e->input_channels;
    m->dim = (size_t)e->vocos_dim;
    m->out = (size_t)e->out_channels;
    m->stages = e->sample_ratio_count;
    m->codebook_size = (size_t)config->quantizer.codebook_size;
    m->codebook_dim = (size_t)config->quantizer.codebook_dim;
    for (size_t i = 0; i < m->stages; i++)
        if (e->sample_ratios[i] != 1)
            enc_weights_fail(w, "%s: encoder sample ratio %lld: only ratio 1 (the release's) "
                                "is implemented", w->label, (long long)e->sample_ratios[i]);
    size_t inter = (size_t)e->vocos_intermediate_dim;
    vocos_load(w, &m->backbone, "encoder.encoder", m->in, m->dim, inter,
               (size_t)e->vocos_num_layers);
    for (size_t i = 0; i < m->stages; i++) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "encoder.downsample.%zu.1", i);
        vocos_load(w, &m->downsample[i], prefix, m->dim, m->dim, inter,
                   NN_SPARK_SAMPLING_LAYERS);
    }
    m->project_w = enc_tensor(w, "encoder.project.weight", m->out * m->dim);
    m->project_b = enc_tensor(w, "encoder.project.bias", m->out);
    const float *g = enc_tensor(w, "quantizer.in_project.weight_g", m->codebook_dim);
    const float *v = enc_tensor(w, "quantizer.in_project.weight_v", m->codebook_dim * m->out);
    m->in_project_b = enc_tensor(w, "quantizer.in_project.bias", m->codebook_dim);
    const float *codebook = enc_tensor(w, "quantizer.codebook.weight",
                                       m->codebook_size * m->codebook_dim);
    m->in_project_w = malloc(m->codebook_dim * m->out * sizeof *m->in_project_w);
    m->codebook = malloc(m->codebook_size * m->codebook_dim * sizeof *m->codebook);
    if (!m->in_project_w || !m->codebook)
        enc_weights_fail(w, "out of memory for the semantic quantizer");
    if (!w->error) {
        nn_weight_norm_fold(g, v, m->codebook_dim, m->out, m->in_project_w);
        for (size_t r = 0; r < m->codebook_size; r++) {
            const float *row = codebook + r * m->codebook_dim;
            float sum = 0.0f;
            for (size_t j = 0; j < m->codebook_dim; j++)
                sum += row[j] * row[j];
            float norm = sqrtf(sum);
            norm = norm > 1e-12f ? norm : 1e-12f;
            for (size_t j = 0; j < m->codebook_dim; j++)
                m->codebook[r * m->codebook_dim + j] = row[j] / norm;
        }
    }
    if (w->error) {
        enc_semantic_free(m);
        return NULL;
    }
    return m;
}

void enc_semantic_free(enc_semantic *m)
{
    if (!m)
        return;
    vocos_free(&m->backbone);
    for (size_t i = 0; i < m->stages; i++)
        vocos_free(&m->downsample[i]);
    free(m->in_project_w);
    free(m->codebook);
    free(m);
}

size_t enc_semantic_channels(const enc_semantic *m)
{
    return m->out;
}

/* VocosBackbone on time-major x (t, in) -> y (t, dim); work holds t * max(dim, inter) * 2. */
static void vocos_forward(const vocos *v, nn_pool *pool, const float *x, size_t t, float *y,
                          float *work, float *scratch)
{
    size_t d = v->dim;
    nn_conv1d_forward_tc(pool, &v->embed, x, v->in, t, y, d, scratch);
    nn_layer_norm_f32(pool, y, d, t, d, v->ln_w, v->ln_b, 1e-6f, y, d);
    float *h = work, *inner = work + t * d;
    for (size_t j = 0; j < v->layers; j++) {
        const convnext_block *b = &v->blocks[j];
        nn_depthwise_conv1d_tc(pool, &b->dwconv, y, d, t, h, d);
        nn_layer_norm_f32(pool, h, d, t, d, b->ln_w, b->ln_b, 1e-6f, h, d);
        nn_linear_f32(pool, t, v->inter, d, h, d, b->pw1_w, d, b->pw1_b, inner, v->inter, false);
        nn_gelu_f32(pool, inner, t * v->inter);
        nn_linear_f32(pool, t, d, v->inter, inner, v->inter, b->pw2_w, v->inter, b->pw2_b, h, d,
                      false);
        for (size_t i = 0; i < t; i++)
            for (size_t c = 0; c < d; c++)
                y[i * d + c] += b->gamma[c] * h[i * d + c];
    }
    nn_layer_norm_f32(pool, y, d, t, d, v->final_w, v->final_b, 1e-6f, y, d);
}

int enc_semantic_forward(enc_semantic *m, nn_pool *pool, const float *feat, size_t t,
                         int32_t *codes, float *encoder_out, float *cos_margin, char **error)
{
    size_t d = m->dim, cd = m->codebook_dim;
    size_t widest = m->backbone.inter > d ? m->backbone.inter : d;
    size_t scratch_floats = nn_conv1d_scratch_floats(&m->backbone.embed, t);
    for (size_t i = 0; i < m->stages; i++) {
        size_t s = nn_conv1d_scratch_floats(&m->downsample[i].embed, t);
        scratch_floats = s > scratch_floats ? s : scratch_floats;
    }
    float *y = malloc(t * d * sizeof *y), *x = malloc(t * d * sizeof *x);
    float *work = malloc(t * (d + widest) * sizeof *work);
    float *scratch = malloc((scratch_floats ? scratch_floats : 1) * sizeof *scratch);
    float *z = malloc(t * m->out * sizeof *z), *e = malloc(t * cd * sizeof *e);
    int rc = -1;
    if (!y || !x || !work || !scratch || !z || !e) {
        *error = enc_strdupf("out of memory for the semantic encoder on %zu frames", t);
        goto done;
    }
    vocos_forward(&m->backbone, pool, feat, t, y, work, scratch);
    for (size_t i = 0; i < m->stages; i++) {
        /* SamplingBlock with ratio 1: conv_res + skip1 + skip2, each the input itself */
        for (size_t j = 0; j < t * d; j++)
            x[j] = (y[j] + y[j]) + y[j];
        vocos_forward(&m->downsample[i], pool, x, t, y, work, scratch);
    }
    nn_linear_f32(pool, t, m->out, d, y, d, m->project_w, d, m->project_b, z, m->out, false);
    if (encoder_out)
        nn_transpose_f32(z, m->out, t, m->out, encoder_out, t);

    nn_linear_f32(pool, t, cd, m->out, z, m->out, m->in_project_w, m->out, m->in_project_b, e,
                  cd, false);
    for (size_t i = 0; i < t; i++) {
        float *row = e + i * cd, sum = 0.0f;
        for (size_t j = 0; j < cd; j++)
            sum += row[j] * row[j];
        float norm = sqrtf(sum);
        norm = norm > 1e-12f ? norm : 1e-12f;
        float sq = 0.0f;
        for (size_t j = 0; j < cd; j++) {
            row[j] /= norm;
            sq += row[j] * row[j];
        }
        /* upstream's distance ||e||^2 - 2 e.c + ||c||^2; the smallest wins, first on ties */
        size_t best = 0;
        float best_dist = INFINITY, best_dot = -INFINITY, second_dot = -INFINITY;
        for (size_t r = 0; r < m->codebook_size; r++) {
            const float *c = m->codebook + r * cd;
            float dot = 0.0f, cc = 0.0f;
            for (size_t j = 0; j < cd; j++) {
                dot += row[j] * c[j];
                cc += c[j] * c[j];
            }
            float dist = sq - 2.0f * dot + cc;
            if (dist < best_dist) {
                best_dist = dist;
                best = r;
            }
            if (dot > best_dot) {
                second_dot = best_dot;
                best_dot = dot;
            } else if (dot > second_dot) {
                second_dot = dot;
            }
        }
        codes[i] = (int32_t)best;
        if (cos_margin)
            cos_margin[i] = best_dot - second_dot;
    }
    rc = 0;
done:
    free(y);
    free(x);
    free(work);
    free(scratch);
    free(z);
    free(e);
    return rc;
}
