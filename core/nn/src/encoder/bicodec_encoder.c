/* The encoder as a whole: loads and checks the model files, then runs the speaker path
 * (global codes) and the semantic path (semantic codes). One encode at a time per encoder
 * (the mel's FFT buffer is shared), serialised by a mutex. */
#include "spark/nn/bicodec_encoder.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoder/encoder_internal.h"

struct nn_bicodec_encoder {
    nn_spark_config config;
    nn_pool *pool;
    pthread_mutex_t lock;
    enc_weights bicodec, wav2vec2;
    enc_mel *mel;
    enc_ecapa *ecapa;
    enc_perceiver *perceiver;
    enc_fsq fsq;
    enc_wav2vec2 *w2v;
    enc_semantic *semantic;
};

/* Opens one weights file and checks it holds what the configs describe. */
static int open_checked(const char *model_dir, nn_spark_component component,
                        const nn_spark_config *config, enc_weights *w, char **error)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", model_dir, nn_spark_component_weights(component));
    w->label = nn_spark_component_weights(component);
    w->file = nn_tensor_file_open(path, error);
    if (!w->file)
        return -1;
    nn_spark_tensor_list expected = {0};
    if (nn_spark_expected_tensors(config, component, &expected, error) != 0)
        return -1;
    nn_problems problems = {0};
    size_t count = nn_spark_check_tensors(w->file, &expected, w->label, &problems);
    nn_spark_tensor_list_free(&expected);
    if (count > 0) {
        *error = enc_strdupf("%s (%zu problem%s%s)", problems.items[0], count,
                             count == 1 ? "" : "s", count == 1 ? "" : "; the first is shown");
        nn_problems_free(&problems);
        return -1;
    }
    nn_problems_free(&problems);
    return 0;
}

nn_bicodec_encoder *nn_bicodec_encoder_load(const char *model_dir, bool semantic,
                                            nn_pool *pool, char **error)
{
    *error = NULL;
    nn_bicodec_encoder *enc = calloc(1, sizeof *enc);
    if (!enc) {
        *error = enc_strdupf("out of memory for the BiCodec encoder");
        return NULL;
    }
    pthread_mutex_init(&enc->lock, NULL);
    enc->pool = pool;
    nn_problems problems = {0};
    if (nn_spark_config_load(model_dir, &enc->config, &problems) != 0 ||
        nn_spark_config_check(&enc->config, &problems) > 0) {
        *error = enc_strdupf("%s: %s", model_dir,
                             problems.count ? problems.items[0] : "the configs could not be read");
        nn_problems_free(&problems);
        nn_bicodec_encoder_free(enc);
        return NULL;
    }
    nn_problems_free(&problems);
    const nn_bicodec_config *bc = &enc->config.bicodec;
    if (open_checked(model_dir, NN_SPARK_BICODEC, &enc->config, &enc->bicodec, error) != 0) {
        nn_bicodec_encoder_free(enc);
        return NULL;
    }
    enc->mel = enc_mel_create(bc->mel.sample_rate, bc->mel.n_fft, bc->mel.win_length,
                              bc->mel.hop_length, bc->mel.num_mels, bc->mel.mel_fmin,
                              bc->mel.mel_fmax, error);
    if (!enc->mel) {
        nn_bicodec_encoder_free(enc);
        return NULL;
    }
    enc->ecapa = enc_ecapa_load(&enc->bicodec, (size_t)bc->mel.num_mels);
    if (enc->ecapa)
        enc->perceiver = enc_perceiver_load(&enc->bicodec, (size_t)bc->speaker_encoder.latent_dim,
                                            (size_t)bc->speaker_encoder.token_num,
                                            enc_ecapa_channels(enc->ecapa));
    if (enc->perceiver)
        enc_fsq_load(&enc->bicodec, &enc->fsq, bc);
    if (!enc->bicodec.error && semantic)
        enc->semantic = enc_semantic_load(&enc->bicodec, bc);
    if (!enc->bicodec.error && semantic) {
        if (open_checked(model_dir, NN_SPARK_WAV2VEC2, &enc->config, &enc->wav2vec2, error) != 0) {
            nn_bicodec_encoder_free(enc);
            return NULL;
        }
        enc->w2v = enc_wav2vec2_load(&enc->wav2vec2, &enc->config.wav2vec2);
    }
    const char *failure = enc->bicodec.error ? enc->bicodec.error : enc->wav2vec2.error;
    if (failure) {
        *error = enc_strdupf("%s/%s", model_dir, failure);
        nn_bicodec_encoder_free(enc);
        return NULL;
    }
    return enc;
}

void nn_bicodec_encoder_free(nn_bicodec_encoder *enc)
{
    if (!enc)
        return;
    enc_mel_free(enc->mel);
    enc_ecapa_free(enc->ecapa);
    enc_perceiver_free(enc->perceiver);
    enc_semantic_free(enc->semantic);
    enc_wav2vec2_free(enc->w2v);
    enc_weights_release(&enc->bicodec);
    enc_weights_release(&enc->wav2vec2);
    pthread_mutex_destroy(&enc->lock);
    free(enc);
}

const nn_spark_config *nn_bicodec_encoder_config(const nn_bicodec_encoder *enc)
{
    return &enc->config;
}

bool nn_bicodec_encoder_has_semantic(const nn_bicodec_encoder *enc)
{
    return enc->semantic != NULL && enc->w2v != NULL;
}

size_t nn_bicodec_encoder_global_count(const nn_bicodec_encoder *enc)
{
    return enc->fsq.count;
}

uint32_t nn_bicodec_encoder_global_range(const nn_bicodec_encoder *enc)
{
    return enc_fsq_range(&enc->fsq);
}

size_t nn_bicodec_encoder_semantic_frames(const nn_bicodec_encoder *enc, size_t n)
{
    return enc->w2v ? enc_wav2vec2_frames(enc->w2v, n) : 0;
}

void nn_speaker_trace_free(nn_speaker_trace *trace)
{
    if (!trace)
        return;
    free(trace->mel);
    free(trace->ecapa);
    free(trace->perceiver);
    free(trace->fsq_z);
    free(trace->fsq_bound);
    memset(trace, 0, sizeof *trace);
}

void nn_semantic_trace_free(nn_semantic_trace *trace)
{
    if (!trace)
        return;
    free(trace->w2v_mix);
    free(trace->encoder_out);
    free(trace->cos_margin);
    memset(trace, 0, sizeof *trace);
}

int nn_bicodec_encode_globals(nn_bicodec_encoder *enc, const float *clip, size_t n,
                              int32_t *codes, nn_speaker_trace *trace, char **error)
{
    *error = NULL;
    size_t hop = (size_t)enc->config.bicodec.mel.hop_length;
    if (n < hop || n <= (size_t)enc->config.bicodec.mel.n_fft / 2) {
        *error = enc_strdupf("reference clip of %zu samples is too short for the mel "
                             "spectrogram", n);
        return -1;
    }
    size_t bins = (size_t)enc->config.bicodec.mel.num_mels;
    size_t frames = enc_mel_frames(enc->mel, n), channels = enc_ecapa_channels(enc->ecapa);
    size_t count = enc->fsq.count, dim = enc->fsq.dim_in, dims = enc->fsq.levels_count;
    float *mel = malloc(bins * frames * sizeof *mel);
    float *latent = malloc(frames * channels * sizeof *latent);
    float *perceived = malloc(count * dim * sizeof *perceived);
    float *z = malloc(count * dims * sizeof *z), *bound = malloc(count * dims * sizeof *bound);
    int rc = -1;
    pthread_mutex_lock(&enc->lock);
    if (!mel || !latent || !perceived || !z || !bound ||
        enc_mel_forward(enc->mel, enc->pool, clip, n, mel) != 0 ||
        enc_ecapa_forward(enc->ecapa, enc->pool, mel, frames, latent) != 0 ||
        enc_perceiver_forward(enc->perceiver, enc->pool, latent, frames, perceived) != 0) {
        *error = enc_strdupf("out of memory for the speaker encoder on %zu samples", n);
    } else {
        enc_fsq_tokenize(&enc->fsq, enc->pool, perceived, codes, z, bound);
        rc = 0;
    }
    pthread_mutex_unlock(&enc->lock);
    if (rc == 0 && trace) {
        *trace = (nn_speaker_trace){.mel_bins = bins, .frames = frames, .mel = mel,
                                    .ecapa_channels = channels, .ecapa = latent,
                                    .latent_count = count, .latent_dim = dim,
                                    .perceiver = perceived, .fsq_dims = dims, .fsq_z = z,
                                    .fsq_bound = bound};
        return 0;
    }
    free(mel);
    free(latent);
    free(perceived);
    free(z);
    free(bound);
    return rc;
}

int nn_bicodec_encode_semantic(nn_bicodec_encoder *enc, const float *wav, size_t n,
                               int32_t **codes, size_t *count, nn_semantic_trace *trace,
                               char **error)
{
    *error = NULL;
    *codes = NULL;
    *count = 0;
    if (!nn_bicodec_encoder_has_semantic(enc)) {
        *error = enc_strdupf("the encoder was loaded without the semantic path (wav2vec2)");
        return -1;
    }
    size_t frames = enc_wav2vec2_frames(enc->w2v, n);
    if (frames == 0) {
        *error = enc_strdupf("reference of %zu samples is shorter than the receptive field "
                             "of the wav2vec2 feature encoder", n);
        return -1;
    }
    size_t hidden = enc_wav2vec2_hidden(enc->w2v), channels = enc_semantic_channels(enc->semantic);
    float *mix = malloc(frames * hidden * sizeof *mix);
    int32_t *out = malloc(frames * sizeof *out);
    float *encoder_out = trace ? malloc(channels * frames * sizeof *encoder_out) : NULL;
    float *margin = trace ? malloc(frames * sizeof *margin) : NULL;
    int rc = -1;
    if (!mix || !out || (trace && (!encoder_out || !margin))) {
        *error = enc_strdupf("out of memory for the semantic path on %zu samples", n);
    } else {
        pthread_mutex_lock(&enc->lock);
        rc = enc_wav2vec2_mix(enc->w2v, enc->pool, wav, n, mix, error);
        if (rc == 0)
            rc = enc_semantic_forward(enc->semantic, enc->pool, mix, frames, out, encoder_out,
                                      margin, error);
        pthread_mutex_unlock(&enc->lock);
    }
    if (rc == 0) {
        *codes = out;
        *count = frames;
        if (trace) {
            *trace = (nn_semantic_trace){.frames = frames, .hidden = hidden, .w2v_mix = mix,
                                         .channels = channels, .encoder_out = encoder_out,
                                         .cos_margin = margin};
            return 0;
        }
    } else {
        free(out);
    }
    free(mix);
    free(encoder_out);
    free(margin);
    return rc;
}
