/* BiCodec detokenize: FVQ and FSQ lookups, the prenet, the d-vector added (spec 4.7). */
#include "bicodec_decoder.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spark/nn/conv.h>
#include <spark/nn/gemm.h>

/* What a SamplingBlock with ratio 1 does: three identity branches summed (spec 4.3). */
#define SAMPLING_IDENTITY_FACTOR 3.0f

static float *tensor(const bicodec_model *model, const char *name, uint32_t ndim, int64_t d0,
                     int64_t d1, int64_t d2, char *err, size_t err_size)
{
    int64_t shape[3] = {d0, d1, d2};
    return bicodec_tensor(model, name, ndim, shape, err, err_size);
}

static int check_config(const nn_bicodec_config *c, char *err, size_t err_size)
{
    const nn_bicodec_vocos_config *p = &c->prenet;
    if (p->input_channels != c->quantizer.input_dim) {
        snprintf(err, err_size, "BiCodec/config.yaml: prenet.input_channels %lld differs from "
                 "quantizer.input_dim %lld", (long long)p->input_channels,
                 (long long)c->quantizer.input_dim);
        return -1;
    }
    if (p->condition_dim != c->speaker_encoder.out_dim) {
        snprintf(err, err_size, "BiCodec/config.yaml: prenet.condition_dim %lld differs from "
                 "speaker_encoder.out_dim %lld", (long long)p->condition_dim,
                 (long long)c->speaker_encoder.out_dim);
        return -1;
    }
    if (p->out_channels != c->speaker_encoder.out_dim) {
        snprintf(err, err_size, "BiCodec/config.yaml: prenet.out_channels %lld differs from "
                 "speaker_encoder.out_dim %lld (the d-vector is added to the prenet output)",
                 (long long)p->out_channels, (long long)c->speaker_encoder.out_dim);
        return -1;
    }
    if (p->sample_ratio_count > BICODEC_MAX_SAMPLING) {
        snprintf(err, err_size, "BiCodec/config.yaml: prenet has %zu sample_ratios (at most %d)",
                 p->sample_ratio_count, BICODEC_MAX_SAMPLING);
        return -1;
    }
    for (size_t i = 0; i < p->sample_ratio_count; i++)
        if (p->sample_ratios[i] != 1) {
            snprintf(err, err_size, "BiCodec/config.yaml: prenet.sample_ratios[%zu] is %lld; "
                     "only 1 (as released) is implemented", i, (long long)p->sample_ratios[i]);
            return -1;
        }
    if (c->speaker_encoder.fsq_num_quantizers != 1 || c->speaker_encoder.fsq_level_count == 0) {
        snprintf(err, err_size, "BiCodec/config.yaml: speaker_encoder needs one FSQ quantizer "
                 "with levels (as released)");
        return -1;
    }
    return 0;
}

int bicodec_decoder_load(bicodec_decoder *dec, const bicodec_model *model, char *err,
                         size_t err_size)
{
    memset(dec, 0, sizeof *dec);
    const nn_bicodec_config *c = &model->config;
    if (check_config(c, err, err_size))
        return -1;
    dec->codebook_size = (size_t)c->quantizer.codebook_size;
    dec->codebook_dim = (size_t)c->quantizer.codebook_dim;
    dec->vq_channels = (size_t)c->quantizer.input_dim;
    dec->global_count = (size_t)c->speaker_encoder.token_num;
    dec->fsq_dims = c->speaker_encoder.fsq_level_count;
    dec->global_code_count = 1;
    for (size_t j = 0; j < dec->fsq_dims; j++) {
        dec->fsq_levels[j] = c->speaker_encoder.fsq_levels[j];
        dec->global_code_count *= dec->fsq_levels[j];
    }
    dec->speaker_latent = (size_t)c->speaker_encoder.latent_dim;
    dec->d_dim = (size_t)c->speaker_encoder.out_dim;
    dec->vocos_dim = (size_t)c->prenet.vocos_dim;
    dec->out_channels = (size_t)c->prenet.out_channels;
    dec->tanh_at_final = c->prenet.use_tanh_at_final;
    dec->sampling_count = c->prenet.sample_ratio_count;

    int64_t cb = (int64_t)dec->codebook_dim, vq = (int64_t)dec->vq_channels;
    int64_t lat = (int64_t)dec->speaker_latent, dd = (int64_t)dec->d_dim;
    int64_t vd = (int64_t)dec->vocos_dim, out = (int64_t)dec->out_channels;
    dec->codebook = tensor(model, "quantizer.codebook.weight", 2, (int64_t)dec->codebook_size,
                           cb, 0, err, err_size);
    float *g = dec->codebook ? tensor(model, "quantizer.out_project.weight_g", 3, vq, 1, 1, err,
                                      err_size) : NULL;
    float *v = g ? tensor(model, "quantizer.out_project.weight_v", 3, vq, cb, 1, err, err_size)
                 : NULL;
    if (v) {
        dec->out_proj_w = v; /* folded in place */
        nn_weight_norm_fold(g, v, (size_t)vq, (size_t)cb, dec->out_proj_w);
    }
    free(g);
    if (!dec->out_proj_w ||
        !(dec->out_proj_b = tensor(model, "quantizer.out_project.bias", 1, vq, 0, 0, err, err_size)) ||
        !(dec->fsq_out_w = tensor(model, "speaker_encoder.quantizer.project_out.weight", 2, lat,
                                  (int64_t)dec->fsq_dims, 0, err, err_size)) ||
        !(dec->fsq_out_b = tensor(model, "speaker_encoder.quantizer.project_out.bias", 1, lat, 0,
                                  0, err, err_size)) ||
        !(dec->spk_proj_w = tensor(model, "speaker_encoder.project.weight", 2, dd,
                                   lat * (int64_t)dec->global_count, 0, err, err_size)) ||
        !(dec->spk_proj_b = tensor(model, "speaker_encoder.project.bias", 1, dd, 0, 0, err,
                                   err_size)) ||
        !(dec->pre_w = tensor(model, "prenet.linear_pre.weight", 2, vd, vq, 0, err, err_size)) ||
        !(dec->pre_b = tensor(model, "prenet.linear_pre.bias", 1, vd, 0, 0, err, err_size)) ||
        !(dec->post_w = tensor(model, "prenet.linear.weight", 2, out, vd, 0, err, err_size)) ||
        !(dec->post_b = tensor(model, "prenet.linear.bias", 1, out, 0, 0, err, err_size)))
        goto fail;
    size_t inter = (size_t)c->prenet.vocos_intermediate_dim;
    for (size_t i = 0; i < dec->sampling_count; i++) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "prenet.downsample.%zu.1", i);
        if (vocos_backbone_load(&dec->sampling[i], model, prefix, dec->vocos_dim, dec->vocos_dim,
                                inter, NN_SPARK_SAMPLING_LAYERS, 0, err, err_size))
            goto fail;
    }
    if (vocos_backbone_load(&dec->backbone, model, "prenet.vocos_backbone", dec->vocos_dim,
                            dec->vocos_dim, inter, (size_t)c->prenet.vocos_num_layers,
                            dec->d_dim, err, err_size))
        goto fail;
    return 0;
fail:
    bicodec_decoder_free(dec);
    return -1;
}

void bicodec_decoder_free(bicodec_decoder *dec)
{
    free(dec->codebook);
    free(dec->out_proj_w);
    free(dec->out_proj_b);
    free(dec->fsq_out_w);
    free(dec->fsq_out_b);
    free(dec->spk_proj_w);
    free(dec->spk_proj_b);
    free(dec->pre_w);
    free(dec->pre_b);
    free(dec->post_w);
    free(dec->post_b);
    for (size_t i = 0; i < BICODEC_MAX_SAMPLING; i++)
        vocos_backbone_free(&dec->sampling[i]);
    vocos_backbone_free(&dec->backbone);
    memset(dec, 0, sizeof *dec);
}

int bicodec_check_codes(const bicodec_decoder *dec, const int32_t *semantic, size_t n_semantic,
                        const int32_t *global, size_t n_global, char *err, size_t err_size)
{
    if (n_semantic == 0) {
        snprintf(err, err_size, "no semantic codes to decode (the language model produced none; "
                 "at least one is needed)");
        return -1;
    }
    if (n_global != dec->global_count) {
        snprintf(err, err_size, "%zu global codes given; BiCodec needs exactly %zu", n_global,
                 dec->global_count);
        return -1;
    }
    for (size_t i = 0; i < n_semantic; i++)
        if (semantic[i] < 0 || (size_t)semantic[i] >= dec->codebook_size) {
            snprintf(err, err_size, "semantic code %zu is %d, outside 0..%zu", i,
                     (int)semantic[i], dec->codebook_size - 1);
            return -1;
        }
    for (size_t i = 0; i < n_global; i++)
        if (global[i] < 0 || global[i] >= dec->global_code_count) {
            snprintf(err, err_size, "global code %zu is %d, outside 0..%lld", i, (int)global[i],
                     (long long)dec->global_code_count - 1);
            return -1;
        }
    return 0;
}

void bicodec_d_vector(const bicodec_decoder *dec, const int32_t *global, float *flattened,
                      float *d_vector)
{
    size_t tokens = dec->global_count, lat = dec->speaker_latent, dims = dec->fsq_dims;
    float x[NN_SPARK_MAX_LIST];
    size_t flat = lat * tokens;
    /* flattened[c * tokens + k]: project_out of token k, flattened channel-major */
    for (size_t k = 0; k < tokens; k++) {
        int64_t rest = global[k];
        for (size_t j = 0; j < dims; j++) {
            int64_t level = dec->fsq_levels[j];
            int64_t digit = rest % level;
            rest /= level;
            float half = (float)(level / 2);
            x[j] = ((float)digit - half) / half;
        }
        for (size_t c = 0; c < lat; c++) {
            const float *w = dec->fsq_out_w + c * dims;
            float acc = dec->fsq_out_b[c];
            for (size_t j = 0; j < dims; j++)
                acc += w[j] * x[j];
            flattened[c * tokens + k] = acc;
        }
    }
    for (size_t o = 0; o < dec->d_dim; o++) {
        const float *w = dec->spk_proj_w + o * flat;
        float acc = 0.0f;
        for (size_t i = 0; i < flat; i++)
            acc += w[i] * flattened[i];
        d_vector[o] = acc + dec->spk_proj_b[o];
    }
}

size_t bicodec_receptive_half_width(const bicodec_decoder *dec)
{
    size_t width = vocos_backbone_half_width(&dec->backbone); /* the rest is per frame */
    for (size_t i = 0; i < dec->sampling_count; i++)
        width += vocos_backbone_half_width(&dec->sampling[i]);
    return width;
}

static uint32_t probe_random(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*state >> 33);
}

/* The frames before `at` whose latent moves by more than tolerance times the largest
 * magnitude when the code at `at` changes, for one random sequence of at + 1 codes (what
 * follows the changed code does not bear on how far back it reaches). */
static int probe_reach(nn_pool *pool, const bicodec_decoder *dec, size_t at, uint64_t seed,
                       double tolerance, size_t *reach, char *err, size_t err_size)
{
    size_t n = at + 1, out = dec->out_channels;
    int32_t *semantic = malloc(n * sizeof *semantic);
    int32_t *global = malloc(dec->global_count * sizeof *global);
    float *base = malloc(out * n * sizeof *base), *moved = malloc(out * n * sizeof *moved);
    bicodec_workspace ws = {0};
    int rc = -1;
    if (!semantic || !global || !base || !moved) {
        snprintf(err, err_size, "out of memory measuring the lookahead");
        goto done;
    }
    uint64_t state = seed;
    for (size_t i = 0; i < n; i++)
        semantic[i] = (int32_t)(probe_random(&state) % dec->codebook_size);
    for (size_t i = 0; i < dec->global_count; i++)
        global[i] = (int32_t)(probe_random(&state) % (uint64_t)dec->global_code_count);
    if (bicodec_decode(pool, dec, semantic, n, global, dec->global_count, &ws, base, n, NULL,
                       err, err_size))
        goto done;
    semantic[at] = (int32_t)((semantic[at] + 1 + probe_random(&state) %
                              (dec->codebook_size - 1)) % dec->codebook_size);
    if (bicodec_decode(pool, dec, semantic, n, global, dec->global_count, &ws, moved, n, NULL,
                       err, err_size))
        goto done;
    float largest = 0.0f;
    for (size_t i = 0; i < out * n; i++)
        largest = fabsf(base[i]) > largest ? fabsf(base[i]) : largest;
    size_t first = at;
    for (size_t c = 0; c < out; c++)
        for (size_t t = 0; t < first; t++)
            if (fabsf(moved[c * n + t] - base[c * n + t]) > tolerance * largest) {
                first = t;
                break;
            }
    *reach = at - first;
    rc = 0;
done:
    free(semantic);
    free(global);
    free(base);
    free(moved);
    bicodec_workspace_free(&ws);
    return rc;
}

int bicodec_measure_lookahead(nn_pool *pool, const bicodec_decoder *dec, double tolerance,
                              size_t *frames, char *err, size_t err_size)
{
    size_t field = bicodec_receptive_half_width(dec), most = 0;
    if (dec->codebook_size < 2) {
        *frames = field;
        return 0;
    }
    for (uint64_t probe = 1; probe <= 4; probe++) {
        size_t reach;
        if (probe_reach(pool, dec, field, 0x9e3779b97f4a7c15ull * probe, tolerance, &reach,
                        err, err_size))
            return -1;
        most = reach > most ? reach : most;
    }
    *frames = most;
    return 0;
}

void bicodec_workspace_free(bicodec_workspace *ws)
{
    free(ws->data);
    ws->data = NULL;
    ws->cap = 0;
}

static float *workspace_get(bicodec_workspace *ws, size_t floats)
{
    if (floats > ws->cap) {
        float *grown = realloc(ws->data, floats * sizeof(float));
        if (!grown)
            return NULL;
        ws->data = grown;
        ws->cap = floats;
    }
    return ws->data;
}

int bicodec_decode(nn_pool *pool, const bicodec_decoder *dec, const int32_t *semantic,
                   size_t n, const int32_t *global, size_t n_global, bicodec_workspace *ws,
                   float *latent, size_t ldl, bicodec_trace *trace, char *err, size_t err_size)
{
    if (bicodec_check_codes(dec, semantic, n, global, n_global, err, err_size))
        return -1;
    size_t vd = dec->vocos_dim, vq = dec->vq_channels, out = dec->out_channels;
    size_t scratch = vocos_backbone_scratch_floats(&dec->backbone, n);
    for (size_t i = 0; i < dec->sampling_count; i++) {
        size_t s = vocos_backbone_scratch_floats(&dec->sampling[i], n);
        scratch = s > scratch ? s : scratch;
    }
    size_t wide = vq > out ? vq : out;
    size_t flat = dec->speaker_latent * dec->global_count;
    size_t need = dec->d_dim + flat + n * dec->codebook_dim + n * wide + 2 * n * vd + scratch;
    float *base = workspace_get(ws, need);
    if (!base) {
        snprintf(err, err_size, "out of memory decoding %zu semantic codes", n);
        return -1;
    }
    float *d_vector = base;
    float *flattened = d_vector + dec->d_dim;
    float *rows = flattened + flat;            /* (n, codebook_dim) */
    float *wide_buf = rows + n * dec->codebook_dim; /* (n, vq) then (n, out) */
    float *a = wide_buf + n * wide;            /* (n, vd) */
    float *b = a + n * vd;                     /* (n, vd) */
    float *vocos_scratch = b + n * vd;

    bicodec_d_vector(dec, global, flattened, d_vector);
    for (size_t t = 0; t < n; t++)
        memcpy(rows + t * dec->codebook_dim, dec->codebook + (size_t)semantic[t] * dec->codebook_dim,
               dec->codebook_dim * sizeof(float));
    /* out_project (k = 1): the FVQ latent, time-major */
    nn_linear_f32(pool, n, vq, dec->codebook_dim, rows, dec->codebook_dim, dec->out_proj_w,
                  dec->codebook_dim, dec->out_proj_b, wide_buf, vq, false);
    if (trace && trace->zq)
        nn_transpose_f32(wide_buf, vq, n, vq, trace->zq, n);
    nn_linear_f32(pool, n, vd, vq, wide_buf, vq, dec->pre_w, vq, dec->pre_b, a, vd, false);
    for (size_t i = 0; i < dec->sampling_count; i++) {
        for (size_t k = 0; k < n * vd; k++)
            a[k] *= SAMPLING_IDENTITY_FACTOR;
        vocos_backbone_forward(pool, &dec->sampling[i], a, n, NULL, b, vocos_scratch);
        float *swap = a;
        a = b;
        b = swap;
    }
    vocos_backbone_forward(pool, &dec->backbone, a, n, d_vector, b, vocos_scratch);
    nn_linear_f32(pool, n, out, vd, b, vd, dec->post_w, vd, dec->post_b, wide_buf, out, false);
    if (dec->tanh_at_final)
        for (size_t k = 0; k < n * out; k++)
            wide_buf[k] = tanhf(wide_buf[k]);
    if (trace && trace->prenet)
        nn_transpose_f32(wide_buf, out, n, out, trace->prenet, n);
    if (trace && trace->d_vector)
        memcpy(trace->d_vector, d_vector, dec->d_dim * sizeof(float));
    nn_transpose_f32(wide_buf, out, n, out, latent, ldl);
    for (size_t c = 0; c < out; c++) {
        float *row = latent + c * ldl;
        for (size_t t = 0; t < n; t++)
            row[t] += d_vector[c];
    }
    return 0;
}
