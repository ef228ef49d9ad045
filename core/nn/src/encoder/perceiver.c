/* The Perceiver resampler: 32 learned latents attend (8 heads x 64) over themselves and the
 * projected ECAPA frames, twice, each time followed by a GEGLU feed-forward; no pre-norms;
 * a final RMSNorm. Spec 4.6. */
#include "encoder/encoder_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "spark/nn/gemm.h"

#define PERCEIVER_PREFIX "speaker_encoder.perceiver_sampler."

typedef struct perceiver_layer {
    const float *to_q, *to_kv, *to_out;  /* [inner, dim], [2 inner, dim], [dim, inner] */
    const float *ff1_w, *ff1_b;          /* [2 ff, dim] */
    const float *ff2_w, *ff2_b;          /* [dim, ff] */
} perceiver_layer;

struct enc_perceiver {
    size_t dim, count, context_dim, heads, dim_head, inner, ff;
    const float *proj_w, *proj_b, *latents, *gamma;
    perceiver_layer layers[NN_SPARK_PERCEIVER_DEPTH];
};

enc_perceiver *enc_perceiver_load(enc_weights *w, size_t dim, size_t count, size_t context_dim)
{
    enc_perceiver *p = calloc(1, sizeof *p);
    if (!p) {
        enc_weights_fail(w, "out of memory for the Perceiver");
        return NULL;
    }
    p->dim = dim;
    p->count = count;
    p->context_dim = context_dim;
    p->heads = NN_SPARK_PERCEIVER_HEADS;
    p->dim_head = NN_SPARK_PERCEIVER_DIM_HEAD;
    p->inner = p->heads * p->dim_head;
    p->ff = (size_t)(dim * NN_SPARK_PERCEIVER_FF_MULT * 2 / 3); /* int(dim * mult * 2 / 3) */
    p->proj_w = enc_tensor(w, PERCEIVER_PREFIX "proj_context.weight", dim * context_dim);
    p->proj_b = enc_tensor(w, PERCEIVER_PREFIX "proj_context.bias", dim);
    p->latents = enc_tensor(w, PERCEIVER_PREFIX "latents", count * dim);
    p->gamma = enc_tensor(w, PERCEIVER_PREFIX "norm.gamma", dim);
    for (size_t l = 0; l < NN_SPARK_PERCEIVER_DEPTH; l++) {
        perceiver_layer *L = &p->layers[l];
        L->to_q = enc_tensorf(w, p->inner * dim, PERCEIVER_PREFIX "layers.%zu.0.to_q.weight", l);
        L->to_kv = enc_tensorf(w, 2 * p->inner * dim, PERCEIVER_PREFIX "layers.%zu.0.to_kv.weight",
                               l);
        L->to_out = enc_tensorf(w, dim * p->inner,
                                PERCEIVER_PREFIX "layers.%zu.0.to_out.weight", l);
        L->ff1_w = enc_tensorf(w, 2 * p->ff * dim, PERCEIVER_PREFIX "layers.%zu.1.0.weight", l);
        L->ff1_b = enc_tensorf(w, 2 * p->ff, PERCEIVER_PREFIX "layers.%zu.1.0.bias", l);
        L->ff2_w = enc_tensorf(w, dim * p->ff, PERCEIVER_PREFIX "layers.%zu.1.2.weight", l);
        L->ff2_b = enc_tensorf(w, dim, PERCEIVER_PREFIX "layers.%zu.1.2.bias", l);
    }
    if (w->error) {
        free(p);
        return NULL;
    }
    return p;
}

void enc_perceiver_free(enc_perceiver *p)
{
    free(p);
}

static float gelu(float x)
{
    return 0.5f * x * (1.0f + erff(x * (float)M_SQRT1_2));
}

int enc_perceiver_forward(enc_perceiver *p, nn_pool *pool, const float *context, size_t frames,
                          float *out)
{
    size_t d = p->dim, n = p->count, rows = n + frames, inner = p->inner;
    float *kv_in = malloc(rows * d * sizeof *kv_in);   /* [latents; projected context] */
    float *q = malloc(n * inner * sizeof *q);
    float *kv = malloc(rows * 2 * inner * sizeof *kv);
    float *scores = malloc(n * rows * sizeof *scores);
    float *heads = malloc(n * inner * sizeof *heads);
    float *ff = malloc(n * 2 * p->ff * sizeof *ff);
    float *gated = malloc(n * p->ff * sizeof *gated);
    int rc = -1;
    if (!kv_in || !q || !kv || !scores || !heads || !ff || !gated)
        goto done;
    float *lat = kv_in; /* the latents live in the first n rows of the key/value input */
    memcpy(lat, p->latents, n * d * sizeof *lat);
    nn_linear_f32(pool, frames, d, p->context_dim, context, p->context_dim, p->proj_w,
                  p->context_dim, p->proj_b, kv_in + n * d, d, false);
    float scale = 1.0f / sqrtf((float)p->dim_head);
    for (size_t l = 0; l < NN_SPARK_PERCEIVER_DEPTH; l++) {
        const perceiver_layer *L = &p->layers[l];
        nn_linear_f32(pool, n, inner, d, lat, d, L->to_q, d, NULL, q, inner, false);
        nn_linear_f32(pool, rows, 2 * inner, d, kv_in, d, L->to_kv, d, NULL, kv, 2 * inner,
                      false);
        for (size_t h = 0; h < p->heads; h++) {
            const float *qh = q + h * p->dim_head;
            const float *kh = kv + h * p->dim_head, *vh = kv + inner + h * p->dim_head;
            nn_linear_f32(pool, n, rows, p->dim_head, qh, inner, kh, 2 * inner, NULL, scores,
                          rows, false);
            for (size_t i = 0; i < n * rows; i++)
                scores[i] *= scale;
            enc_softmax_rows(scores, n, rows, rows);
            nn_matmul_f32(pool, n, p->dim_head, rows, scores, rows, vh, 2 * inner,
                          heads + h * p->dim_head, inner, false);
        }
        nn_linear_f32(pool, n, d, inner, heads, inner, L->to_out, inner, NULL, lat, d, true);
        /* GEGLU: the first half is the value, the second the gate */
        nn_linear_f32(pool, n, 2 * p->ff, d, lat, d, L->ff1_w, d, L->ff1_b, ff, 2 * p->ff,
                      false);
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < p->ff; j++)
                gated[i * p->ff + j] = gelu(ff[i * 2 * p->ff + p->ff + j]) * ff[i * 2 * p->ff + j];
        nn_linear_f32(pool, n, d, p->ff, gated, p->ff, L->ff2_w, p->ff, L->ff2_b, lat, d, true);
    }
    /* RMSNorm: x / max(||x||, 1e-12) * sqrt(dim) * gamma */
    float root = sqrtf((float)d);
    for (size_t i = 0; i < n; i++) {
        float sum = 0.0f;
        for (size_t j = 0; j < d; j++)
            sum += lat[i * d + j] * lat[i * d + j];
        float norm = sqrtf(sum);
        norm = norm > 1e-12f ? norm : 1e-12f;
        for (size_t j = 0; j < d; j++)
            out[i * d + j] = lat[i * d + j] / norm * root * p->gamma[j];
    }
    rc = 0;
done:
    free(kv_in);
    free(q);
    free(kv);
    free(scores);
    free(heads);
    free(ff);
    free(gated);
    return rc;
}
