/* wav2vec2 (stable-layer-norm variant, as xlsr-53) up to layer 16, and Spark's mix of the
 * hidden states after layers 11, 14 and 16: processor normalisation, the 7-layer conv
 * feature encoder (conv -> LayerNorm over channels -> GELU), feature projection, the
 * positional conv embedding (weight norm over dim 2, last frame dropped, GELU, added), and
 * pre-LN transformer layers. Spec 4.2, 5. */
#include "encoder/encoder_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "spark/nn/gemm.h"

#define W2V "wav2vec2."
#define MIX_A 11
#define MIX_B 14
#define MIX_C NN_SPARK_W2V_MIX_LAYER

typedef struct w2v_layer {
    const float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    const float *q_w, *q_b, *k_w, *k_b, *v_w, *v_b, *o_w, *o_b;
    const float *ff1_w, *ff1_b, *ff2_w, *ff2_b;
} w2v_layer;

struct enc_wav2vec2 {
    size_t conv_count, hidden, heads, ffn, pos_kernel, pos_groups;
    float eps;
    nn_conv1d convs[NN_SPARK_MAX_LIST];
    const float *conv_ln_w[NN_SPARK_MAX_LIST], *conv_ln_b[NN_SPARK_MAX_LIST];
    const float *proj_ln_w, *proj_ln_b, *proj_w, *proj_b;
    nn_conv1d pos_conv;
    w2v_layer layers[MIX_C];
};

/* torch weight_norm(dim=2): w[:, :, k] = g[k] * v[:, :, k] / ||v[:, :, k]||. */
static float *fold_weight_norm_dim2(const float *g, const float *v, size_t rows, size_t kernel)
{
    float *w = malloc(rows * kernel * sizeof *w);
    if (!w)
        return NULL;
    for (size_t k = 0; k < kernel; k++) {
        double sum = 0.0;
        for (size_t r = 0; r < rows; r++)
            sum += (double)v[r * kernel + k] * (double)v[r * kernel + k];
        float scale = (float)((double)g[k] / sqrt(sum));
        for (size_t r = 0; r < rows; r++)
            w[r * kernel + k] = v[r * kernel + k] * scale;
    }
    return w;
}

enc_wav2vec2 *enc_wav2vec2_load(enc_weights *w, const nn_wav2vec2_config *config)
{
    enc_wav2vec2 *m = calloc(1, sizeof *m);
    if (!m) {
        enc_weights_fail(w, "out of memory for wav2vec2");
        return NULL;
    }
    m->conv_count = (size_t)config->num_feat_extract_layers;
    m->hidden = (size_t)config->hidden_size;
    m->heads = (size_t)config->num_attention_heads;
    m->ffn = (size_t)config->intermediate_size;
    m->pos_kernel = (size_t)config->num_conv_pos_embeddings;
    m->pos_groups = (size_t)config->num_conv_pos_embedding_groups;
    m->eps = (float)config->layer_norm_eps;
    if (m->conv_count == 0 || m->conv_count > NN_SPARK_MAX_LIST ||
        config->num_hidden_layers < MIX_C || !config->do_stable_layer_norm ||
        !config->feat_extract_norm_layer) {
        enc_weights_fail(w, "%s: wav2vec2 must be the stable-layer-norm variant with layer-norm "
                            "feature extraction and at least %d layers", w->label, MIX_C);
        free(m);
        return NULL;
    }
    size_t in = 1;
    for (size_t i = 0; i < m->conv_count; i++) {
        size_t out = (size_t)config->conv_dim[i], k = (size_t)config->conv_kernel[i];
        const float *weight = enc_tensorf(w, out * in * k,
                                          W2V "feature_extractor.conv_layers.%zu.conv.weight", i);
        const float *bias = config->conv_bias
                                ? enc_tensorf(w, out, W2V "feature_extractor.conv_layers.%zu"
                                                      ".conv.bias", i)
                                : NULL;
        enc_conv_init(w, &m->convs[i],
                      &(nn_conv1d_shape){.in_channels = in, .out_channels = out, .kernel = k,
                                         .stride = (size_t)config->conv_stride[i]},
                      weight, bias);
        m->conv_ln_w[i] = enc_tensorf(w, out, W2V "feature_extractor.conv_layers.%zu"
                                              ".layer_norm.weight", i);
        m->conv_ln_b[i] = enc_tensorf(w, out, W2V "feature_extractor.conv_layers.%zu"
                                              ".layer_norm.bias", i);
        in = out;
    }
    size_t h = m->hidden;
    m->proj_ln_w = enc_tensor(w, W2V "feature_projection.layer_norm.weight", in);
    m->proj_ln_b = enc_tensor(w, W2V "feature_projection.layer_norm.bias", in);
    m->proj_w = enc_tensor(w, W2V "feature_projection.projection.weight", h * in);
    m->proj_b = enc_tensor(w, W2V "feature_projection.projection.bias", h);
    if (m->pos_groups == 0 || h % m->pos_groups != 0) {
        enc_weights_fail(w, "%s: hidden size %zu is not a multiple of the %zu positional conv "
                            "groups", w->label, h, m->pos_groups);
    } else {
        size_t rows = h * (h / m->pos_groups);
        const float *g = enc_tensor(w, W2V "encoder.pos_conv_embed.conv.weight_g", m->pos_kernel);
        const float *v = enc_tensor(w, W2V "encoder.pos_conv_embed.conv.weight_v",
                                    rows * m->pos_kernel);
        const float *bias = enc_tensor(w, W2V "encoder.pos_conv_embed.conv.bias", h);
        if (g && v && bias) {
            float *folded = fold_weight_norm_dim2(g, v, rows, m->pos_kernel);
            if (!folded)
                enc_weights_fail(w, "out of memory for the positional conv");
            enc_conv_init(w, &m->pos_conv,
                          &(nn_conv1d_shape){.in_channels = h, .out_channels = h,
                                             .kernel = m->pos_kernel,
                                             .padding = m->pos_kernel / 2,
                                             .groups = m->pos_groups},
                          folded, bias);
            free(folded);
        }
    }
    for (size_t l = 0; l < MIX_C; l++) {
        w2v_layer *L = &m->layers[l];
#define LAYER(field, count, suffix) \
    L->field = enc_tensorf(w, count, W2V "encoder.layers.%zu." suffix, l)
        LAYER(ln1_w, h, "layer_norm.weight");
        LAYER(ln1_b, h, "layer_norm.bias");
        LAYER(ln2_w, h, "final_layer_norm.weight");
        LAYER(ln2_b, h, "final_layer_norm.bias");
        LAYER(q_w, h * h, "attention.q_proj.weight");
        LAYER(q_b, h, "attention.q_proj.bias");
        LAYER(k_w, h * h, "attention.k_proj.weight");
        LAYER(k_b, h, "attention.k_proj.bias");
        LAYER(v_w, h * h, "attention.v_proj.weight");
        LAYER(v_b, h, "attention.v_proj.bias");
        LAYER(o_w, h * h, "attention.out_proj.weight");
        LAYER(o_b, h, "attention.out_proj.bias");
        LAYER(ff1_w, m->ffn * h, "feed_forward.intermediate_dense.weight");
        LAYER(ff1_b, m->ffn, "feed_forward.intermediate_dense.bias");
        LAYER(ff2_w, h * m->ffn, "feed_forward.output_dense.weight");
        LAYER(ff2_b, h, "feed_forward.output_dense.bias");
#undef LAYER
    }
    if (m->heads == 0 || h % m->heads != 0)
        enc_weights_fail(w, "%s: hidden size %zu is not a multiple of %zu heads", w->label, h,
                         m->heads);
    if (w->error) {
        enc_wav2vec2_free(m);
        return NULL;
    }
    return m;
}

void enc_wav2vec2_free(enc_wav2vec2 *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->conv_count; i++)
        nn_conv1d_free(&m->convs[i]);
    nn_conv1d_free(&m->pos_conv);
    free(m);
}

size_t enc_wav2vec2_frames(const enc_wav2vec2 *m, size_t n)
{
    size_t t = n;
    for (size_t i = 0; i < m->conv_count; i++)
        t = nn_conv1d_out_len(&m->convs[i], t);
    return t;
}

size_t enc_wav2vec2_hidden(const enc_wav2vec2 *m)
{
    return m->hidden;
}

/* Multi-head self-attention of x (t, h) into out (t, h), before out_proj. */
static void self_attention(const enc_wav2vec2 *m, nn_pool *pool, const float *q,
                           const float *k, const float *v, size_t t, float *scores, float *out)
{
    size_t h = m->hidden, dh = h / m->heads;
    float scale = 1.0f / sqrtf((float)dh);
    for (size_t head = 0; head < m->heads; head++) {
        nn_linear_f32(pool, t, t, dh, q + head * dh, h, k + head * dh, h, NULL, scores, t, false);
        for (size_t i = 0; i < t * t; i++)
            scores[i] *= scale;
        enc_softmax_rows(scores, t, t, t);
        nn_matmul_f32(pool, t, dh, t, scores, t, v + head * dh, h, out + head * dh, h, false);
    }
}

int enc_wav2vec2_mix(enc_wav2vec2 *m, nn_pool *pool, const float *wav, size_t n, float *mix,
                     char **error)
{
    size_t t = enc_wav2vec2_frames(m, n), h = m->hidden;
    if (t == 0) {
        *error = enc_strdupf("reference of %zu samples is shorter than the receptive field "
                             "of the wav2vec2 feature encoder", n);
        return -1;
    }
    /* sizes of the feature encoder's largest activation and conv scratch */
    size_t biggest = n, scratch_floats = 0, len = n;
    for (size_t i = 0; i < m->conv_count; i++) {
        size_t s = nn_conv1d_scratch_floats(&m->convs[i], len);
        scratch_floats = s > scratch_floats ? s : scratch_floats;
        len = nn_conv1d_out_len(&m->convs[i], len);
        size_t act = len * m->convs[i].shape.out_channels;
        biggest = act > biggest ? act : biggest;
    }
    size_t s = nn_conv1d_scratch_floats(&m->pos_conv, t);
    scratch_floats = s > scratch_floats ? s : scratch_floats;
    size_t wide = (t + 1) * h > t * m->ffn ? (t + 1) * h : t * m->ffn;
    biggest = biggest > wide ? biggest : wide;
    biggest = biggest > t * t ? biggest : t * t;

    float *a = malloc(biggest * sizeof *a), *b = malloc(biggest * sizeof *b);
    float *scratch = malloc((scratch_floats ? scratch_floats : 1) * sizeof *scratch);
    float *hs = malloc(t * h * sizeof *hs), *x = malloc(t * h * sizeof *x);
    float *q = malloc(t * h * sizeof *q), *k = malloc(t * h * sizeof *k);
    float *v = malloc(t * h * sizeof *v);
    int rc = -1;
    if (!a || !b || !scratch || !hs || !x || !q || !k || !v) {
        *error = enc_strdupf("out of memory for wav2vec2 on %zu samples", n);
        goto done;
    }

    /* processor: zero mean, unit variance over the utterance (population variance), f32 in */
    double mean = 0.0, var = 0.0;
    for (size_t i = 0; i < n; i++)
        mean += wav[i];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++)
        var += ((double)wav[i] - mean) * ((double)wav[i] - mean);
    var /= (double)n;
    float inv_std = (float)(1.0 / sqrt(var + 1e-7));
    for (size_t i = 0; i < n; i++)
        a[i] = ((float)((double)wav[i] - mean)) * inv_std;

    /* feature encoder: a holds (channels, len) channel-major between layers */
    len = n;
    for (size_t i = 0; i < m->conv_count; i++) {
        size_t out_len = nn_conv1d_out_len(&m->convs[i], len), c = m->convs[i].shape.out_channels;
        nn_conv1d_forward(pool, &m->convs[i], a, len, len, b, out_len, scratch);
        nn_transpose_f32(b, out_len, c, out_len, a, c);
        nn_layer_norm_f32(pool, a, c, out_len, c, m->conv_ln_w[i], m->conv_ln_b[i], m->eps, a, c);
        nn_gelu_f32(pool, a, out_len * c);
        if (i + 1 < m->conv_count) {
            nn_transpose_f32(a, c, out_len, c, b, out_len);
            float *swap = a;
            a = b;
            b = swap;
        }
        len = out_len;
    }
    /* a: (t, c) time-major -> feature projection */
    size_t c = m->convs[m->conv_count - 1].shape.out_channels;
    nn_layer_norm_f32(pool, a, c, t, c, m->proj_ln_w, m->proj_ln_b, m->eps, a, c);
    nn_linear_f32(pool, t, h, c, a, c, m->proj_w, c, m->proj_b, hs, h, false);

    /* positional conv embedding: (h, t + 1) out, the last frame dropped */
    nn_transpose_f32(hs, h, t, h, a, t);
    nn_conv1d_forward(pool, &m->pos_conv, a, t, t, b, t + 1, scratch);
    for (size_t ch = 0; ch < h; ch++)
        nn_gelu_f32(NULL, b + ch * (t + 1), t);
    for (size_t i = 0; i < t; i++)
        for (size_t ch = 0; ch < h; ch++)
            hs[i * h + ch] += b[ch * (t + 1) + i];

    for (size_t l = 0; l < MIX_C; l++) {
        const w2v_layer *L = &m->layers[l];
        nn_layer_norm_f32(pool, hs, h, t, h, L->ln1_w, L->ln1_b, m->eps, x, h);
        nn_linear_f32(pool, t, h, h, x, h, L->q_w, h, L->q_b, q, h, false);
        nn_linear_f32(pool, t, h, h, x, h, L->k_w, h, L->k_b, k, h, false);
        nn_linear_f32(pool, t, h, h, x, h, L->v_w, h, L->v_b, v, h, false);
        self_attention(m, pool, q, k, v, t, a, x);
        nn_linear_f32(pool, t, h, h, x, h, L->o_w, h, L->o_b, hs, h, true);
        nn_layer_norm_f32(pool, hs, h, t, h, L->ln2_w, L->ln2_b, m->eps, x, h);
        nn_linear_f32(pool, t, m->ffn, h, x, h, L->ff1_w, h, L->ff1_b, a, m->ffn, false);
        nn_gelu_f32(pool, a, t * m->ffn);
        nn_linear_f32(pool, t, h, m->ffn, a, m->ffn, L->ff2_w, m->ffn, L->ff2_b, hs, h, true);
        size_t layer = l + 1;
        if (layer == MIX_A)
            memcpy(mix, hs, t * h * sizeof *mix);
        else if (layer == MIX_B || layer == MIX_C)
            for (size_t i = 0; i < t * h; i++)
                mix[i] += hs[i];
    }
    for (size_t i = 0; i < t * h; i++)
        mix[i] /= 3.0f;
    rc = 0;
done:
    free(a);
    free(b);
    free(scratch);
    free(hs);
    free(x);
    free(q);
    free(k);
    free(v);
    return rc;
}
