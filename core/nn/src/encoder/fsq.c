/* Residual FSQ with one quantizer: project_in, the tanh bound, round half to even (as
 * torch.round), digits to an index with dim 0 least significant. In f32 as upstream. Spec 4.6. */
#include "encoder/encoder_internal.h"

#include <math.h>

#include "spark/nn/gemm.h"

int enc_fsq_load(enc_weights *w, enc_fsq *fsq, const nn_bicodec_config *config)
{
    fsq->dim_in = (size_t)config->speaker_encoder.latent_dim;
    fsq->count = (size_t)config->speaker_encoder.token_num;
    fsq->levels_count = config->speaker_encoder.fsq_level_count;
    for (size_t i = 0; i < fsq->levels_count; i++)
        fsq->levels[i] = config->speaker_encoder.fsq_levels[i];
    fsq->project_in_w = enc_tensor(w, "speaker_encoder.quantizer.project_in.weight",
                                   fsq->levels_count * fsq->dim_in);
    fsq->project_in_b = enc_tensor(w, "speaker_encoder.quantizer.project_in.bias",
                                   fsq->levels_count);
    return w->error ? -1 : 0;
}

uint32_t enc_fsq_range(const enc_fsq *fsq)
{
    uint64_t range = 1;
    for (size_t i = 0; i < fsq->levels_count; i++)
        range *= (uint64_t)fsq->levels[i];
    return (uint32_t)range;
}

void enc_fsq_tokenize(const enc_fsq *fsq, nn_pool *pool, const float *latents, int32_t *codes,
                      float *z_out, float *bound_out)
{
    size_t dims = fsq->levels_count;
    for (size_t t = 0; t < fsq->count; t++) {
        float z[NN_SPARK_MAX_LIST];
        nn_linear_f32(pool, 1, dims, fsq->dim_in, latents + t * fsq->dim_in, fsq->dim_in,
                      fsq->project_in_w, fsq->dim_in, fsq->project_in_b, z, dims, false);
        int64_t index = 0, basis = 1;
        for (size_t j = 0; j < dims; j++) {
            int64_t levels = fsq->levels[j];
            float half_l = (float)(levels - 1) * 1.001f / 2.0f; /* (levels - 1)(1 + eps) / 2 */
            float offset = levels % 2 == 0 ? 0.5f : 0.0f;
            float shift = atanhf(offset / half_l);
            float bound = tanhf(z[j] + shift) * half_l - offset;
            float q = nearbyintf(bound); /* the default rounding mode: half to even */
            int64_t half_width = levels / 2;
            index += ((int64_t)q + half_width) * basis;
            basis *= levels;
            if (z_out)
                z_out[t * dims + j] = z[j];
            if (bound_out)
                bound_out[t * dims + j] = bound;
        }
        codes[t] = (int32_t)index;
    }
}
