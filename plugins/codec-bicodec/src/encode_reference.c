/* Reference recording -> voice codes: resample, guards, normalisation, the encoder. */
#include "encode_reference.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio_decoder.h"
#include "resampler.h"

int encode_load_audio_file(const char *path, float **samples, size_t *frames, uint32_t *rate,
                           char *err, size_t err_size)
{
    *samples = NULL;
    *frames = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "%s: cannot open the reference audio", path);
        return -1;
    }
    unsigned char *bytes = NULL;
    size_t size = 0, cap = 0, got;
    do {
        if (size == cap) {
            cap = cap ? 2 * cap : 1 << 20;
            unsigned char *grown = realloc(bytes, cap);
            if (!grown) {
                free(bytes);
                fclose(f);
                snprintf(err, err_size, "%s: out of memory", path);
                return -1;
            }
            bytes = grown;
        }
        got = fread(bytes + size, 1, cap - size, f);
        size += got;
    } while (got > 0);
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        free(bytes);
        snprintf(err, err_size, "%s: read failed", path);
        return -1;
    }
    char reason[256] = "";
    audio_decoder *decoder = NULL;
    planar_buffer all;
    int rc = -1;
    if (planar_buffer_init(&all, 1) != AUDIO_OK) {
        free(bytes);
        snprintf(err, err_size, "%s: out of memory", path);
        return -1;
    }
    if (audio_decoder_open(bytes, size, AUDIO_CHANNELS_FIRST, &decoder, reason, sizeof reason) !=
        AUDIO_OK) {
        snprintf(err, err_size, "%s: %s", path, reason);
        goto done;
    }
    for (;;) {
        uint64_t read = 0;
        if (audio_decoder_read(decoder, &all, 1 << 16, &read, reason, sizeof reason) != AUDIO_OK) {
            snprintf(err, err_size, "%s: %s", path, reason);
            goto done;
        }
        if (read == 0)
            break;
    }
    *rate = audio_decoder_rate(decoder);
    *frames = (size_t)all.frames;
    *samples = malloc((all.frames ? all.frames : 1) * sizeof **samples);
    if (!*samples) {
        snprintf(err, err_size, "%s: out of memory", path);
        goto done;
    }
    if (all.frames)
        memcpy(*samples, all.planes[0], all.frames * sizeof **samples);
    rc = 0;
done:
    audio_decoder_close(decoder);
    planar_buffer_free(&all);
    free(bytes);
    return rc;
}

/* in (frames at rate) -> *out at target, malloc'd. */
static int resample(const float *in, size_t frames, uint32_t rate, uint32_t target, float **out,
                    size_t *out_frames, char *err, size_t err_size)
{
    char reason[256] = "";
    resampler *converter = NULL;
    planar_buffer buffer;
    if (planar_buffer_init(&buffer, 1) != AUDIO_OK) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    int rc = -1;
    const float *planes[1] = {in};
    if (resampler_create(rate, 1, target, 1, RESAMPLER_QUALITY_BEST, &converter, reason,
                         sizeof reason) != AUDIO_OK ||
        resampler_process(converter, planes, frames, &buffer, reason, sizeof reason) !=
            AUDIO_OK ||
        resampler_finish(converter, &buffer, reason, sizeof reason) != AUDIO_OK) {
        snprintf(err, err_size, "resampling the reference from %u Hz: %s", rate, reason);
        goto done;
    }
    *out = malloc((buffer.frames ? buffer.frames : 1) * sizeof **out);
    if (!*out) {
        snprintf(err, err_size, "out of memory");
        goto done;
    }
    if (buffer.frames)
        memcpy(*out, buffer.planes[0], buffer.frames * sizeof **out);
    *out_frames = (size_t)buffer.frames;
    rc = 0;
done:
    resampler_destroy(converter);
    planar_buffer_free(&buffer);
    return rc;
}

int encode_reference_voice(nn_bicodec_encoder *encoder, const float *channel0, size_t frames,
                           uint32_t rate, const char *transcript, encode_voice *out, char *err,
                           size_t err_size)
{
    memset(out, 0, sizeof *out);
    const nn_spark_config *config = nn_bicodec_encoder_config(encoder);
    uint32_t target = (uint32_t)config->audio.sample_rate;
    if (rate == 0 || frames == 0) {
        snprintf(err, err_size, "reference audio is empty");
        return -1;
    }
    double seconds = (double)frames / (double)rate;
    if (seconds < NN_REFERENCE_MIN_SECONDS) {
        snprintf(err, err_size, "reference audio is %.3f s long; at least %.1f s is needed",
                 seconds, NN_REFERENCE_MIN_SECONDS);
        return -1;
    }
    float peak = 0.0f;
    for (size_t i = 0; i < frames; i++)
        peak = fabsf(channel0[i]) > peak ? fabsf(channel0[i]) : peak;
    if (!(peak >= NN_REFERENCE_SILENCE_PEAK)) {
        snprintf(err, err_size, "reference audio is silent (peak %.2g, below %.0f dBFS): it "
                                "holds no voice to encode", (double)peak,
                 20.0 * log10((double)NN_REFERENCE_SILENCE_PEAK));
        return -1;
    }
    float *wav = NULL;
    size_t n = frames;
    if (rate != target) {
        if (resample(channel0, frames, rate, target, &wav, &n, err, err_size) != 0)
            return -1;
    } else {
        wav = malloc(n * sizeof *wav);
        if (!wav) {
            snprintf(err, err_size, "out of memory");
            return -1;
        }
        memcpy(wav, channel0, n * sizeof *wav);
    }
    int rc = -1;
    size_t clip_len = nn_reference_clip_length(&config->audio);
    float *clip = malloc(clip_len * sizeof *clip);
    bool semantic = transcript && transcript[0];
    out->global_count = nn_bicodec_encoder_global_count(encoder);
    out->global_codes = malloc(out->global_count * sizeof *out->global_codes);
    if (semantic)
        out->transcript = strdup(transcript);
    if (!clip || !out->global_codes || (semantic && !out->transcript) ||
        nn_volume_normalize(wav, n, wav, NULL) != 0) {
        snprintf(err, err_size, "out of memory");
        goto done;
    }
    nn_reference_clip(wav, n, clip, clip_len);
    char *message = NULL;
    if (nn_bicodec_encode_globals(encoder, clip, clip_len, out->global_codes, NULL, &message) !=
            0 ||
        (semantic && nn_bicodec_encode_semantic(encoder, wav, n, &out->semantic_codes,
                                                &out->semantic_count, NULL, &message) != 0)) {
        snprintf(err, err_size, "%s", message ? message : "encoding failed");
        free(message);
        goto done;
    }
    rc = 0;
done:
    free(wav);
    free(clip);
    if (rc != 0)
        encode_voice_free(out);
    return rc;
}
