/* test_gpu_encode.c - the encode direction on the GPU against the CPU encoder on a synthetic
 * model (preset argv[1]):
 *   - the speaker path (nn_bicodec_encode_globals's trace): mel, ECAPA latent and Perceiver
 *     output within 1e-3 relative, the same 32 global codes (a code may differ only where the
 *     CPU's FSQ bound lies within 1e-4 of a rounding boundary, which is reported);
 *   - wav2vec2 layers 1..16 (nn_bicodec_encode_semantic's trace): frames and mix within 1e-3;
 *   - the semantic codes: encoder output within 1e-3, the same codes (a code may differ only
 *     where the CPU's best and second-best cosines are within 1e-5, which is reported);
 *   - too-short inputs refused with the CPU's messages.
 * Without a GPU it exits 77 (skipped) and says why. */
#include "gpu_test_util.h"

#include <spark/nn/bicodec_encoder.h>
#include <spark/nn/prng.h>
#include <spark/nn/semantic_cuda.h>
#include <spark/nn/speaker_cuda.h>
#include <spark/nn/wav2vec2_cuda.h>

static void speaker_case(const char *dir, nn_bicodec_encoder *cpu, const float *wav, size_t n)
{
    char err[512], *error = NULL;
    nn_speaker_encoder_cuda *gpu = nn_speaker_encoder_cuda_load(dir, 0, err, sizeof err);
    CHECK(gpu, "GPU speaker encoder: %s", err);
    if (!gpu)
        return;
    size_t count = nn_bicodec_encoder_global_count(cpu);
    CHECK(nn_speaker_encoder_cuda_global_count(gpu) == count, "global counts differ");
    int32_t want[64], got[64];
    nn_speaker_trace tw = {0}, tg = {0};
    int rc = nn_bicodec_encode_globals(cpu, wav, n, want, &tw, &error);
    CHECK(rc == 0, "CPU globals: %s", error);
    nn_speaker_cuda_job *job = nn_speaker_cuda_job_new(gpu, n, err, sizeof err);
    CHECK(job, "speaker job: %s", err);
    rc = job ? nn_speaker_encode_cuda(job, wav, n, got, &tg, err, sizeof err) : -1;
    CHECK(rc == 0, "GPU globals: %s", err);
    if (rc == 0 && tw.mel) {
        CHECK(tg.frames == tw.frames && tg.mel_bins == tw.mel_bins &&
                  tg.ecapa_channels == tw.ecapa_channels,
              "trace shapes differ");
        double em = rel_error(tg.mel, tw.mel, tw.mel_bins * tw.frames);
        double ee = rel_error(tg.ecapa, tw.ecapa, tw.frames * tw.ecapa_channels);
        double ep = rel_error(tg.perceiver, tw.perceiver, tw.latent_count * tw.latent_dim);
        printf("speaker path: mel %.3g, ECAPA %.3g, Perceiver %.3g max relative error\n", em,
               ee, ep);
        CHECK(em < 1e-3 && ee < 1e-3 && ep < 1e-3, "speaker path intermediates differ");
        size_t differ = 0, ties = 0;
        for (size_t i = 0; i < count; i++) {
            if (want[i] == got[i])
                continue;
            bool tie = false;
            for (size_t j = 0; j < tw.fsq_dims; j++) {
                float b = tw.fsq_bound[i * tw.fsq_dims + j];
                tie = tie || fabsf(fabsf(b - floorf(b)) - 0.5f) < 1e-4f;
            }
            ties += tie;
            differ += !tie;
        }
        printf("global codes: %zu of %zu equal, %zu at a rounding tie\n", count - differ - ties,
               count, ties);
        CHECK(differ == 0, "%zu global codes differ away from any rounding tie", differ);
    }
    rc = job ? nn_speaker_encode_cuda(job, wav, 100, got, NULL, err, sizeof err) : 0;
    CHECK(rc != 0 && strstr(err, "too short for the mel"), "100 samples: %s", err);
    nn_speaker_trace_free(&tw);
    nn_speaker_trace_free(&tg);
    nn_speaker_cuda_job_free(job);
    nn_speaker_encoder_cuda_free(gpu);
}

int main(int argc, char **argv)
{
    const char *preset = argc > 1 ? argv[1] : "tiny";
    skip_without_gpu("test_gpu_encode");
    char *dir = make_synth_model(preset);
    char *error = NULL, err[512];
    nn_bicodec_encoder *cpu = nn_bicodec_encoder_load(dir, true, NULL, &error);
    if (!cpu) {
        fprintf(stderr, "FAIL: CPU encoder: %s\n", error);
        return 1;
    }
    nn_wav2vec2_cuda *gpu = nn_wav2vec2_cuda_load(dir, 0, err, sizeof err);
    if (!gpu) {
        fprintf(stderr, "FAIL: GPU wav2vec2: %s\n", err);
        return 1;
    }
    const size_t n = 24000; /* 1.5 s */
    float *wav = malloc(n * sizeof *wav);
    nn_rng rng;
    nn_rng_seed(&rng, 3, "reference");
    nn_rng_fill_normal(&rng, wav, n, 0.f, 0.2f);
    for (size_t i = 0; i < n; i++) /* a tone under the noise, so frames differ */
        wav[i] += 0.3f * sinf((float)i * 0.05f);
    speaker_case(dir, cpu, wav, n);
    int32_t *codes = NULL;
    size_t count = 0;
    nn_semantic_trace trace = {0};
    int rc = nn_bicodec_encode_semantic(cpu, wav, n, &codes, &count, &trace, &error);
    CHECK(rc == 0, "CPU semantic encode: %s", error);
    size_t frames = nn_wav2vec2_cuda_frames(gpu, n), hidden = nn_wav2vec2_cuda_hidden(gpu);
    CHECK(rc == 0 && frames == trace.frames && hidden == trace.hidden,
          "frames %zu x %zu, CPU %zu x %zu", frames, hidden, trace.frames, trace.hidden);
    nn_wav2vec2_cuda_job *job = nn_wav2vec2_cuda_job_new(gpu, n, err, sizeof err);
    CHECK(job, "job: %s", err);
    float *mix = malloc(frames * hidden * sizeof *mix);
    rc = job ? nn_wav2vec2_cuda_mix(job, wav, n, mix, err, sizeof err) : -1;
    CHECK(rc == 0, "GPU mix: %s", err);
    if (rc == 0 && trace.w2v_mix) {
        double e = rel_error(mix, trace.w2v_mix, frames * hidden);
        printf("wav2vec2 mix (%s, %zu frames x %zu): max relative error %.3g\n", preset, frames,
               hidden, e);
        CHECK(e < 1e-3, "the GPU mix differs by %.3g relative", e);
    }
    /* the codes */
    nn_semantic_encoder_cuda *sem = nn_semantic_encoder_cuda_load(dir, 0, err, sizeof err);
    CHECK(sem, "GPU semantic encoder: %s", err);
    nn_semantic_cuda_job *sjob = sem ? nn_semantic_cuda_job_new(sem, n, err, sizeof err) : NULL;
    CHECK(!sem || sjob, "semantic job: %s", err);
    if (sjob && trace.encoder_out) {
        size_t ch = nn_semantic_encoder_cuda_channels(sem);
        int32_t *got = malloc(frames * sizeof *got);
        float *enc_out = malloc(ch * frames * sizeof *enc_out);
        rc = nn_semantic_encode_cuda(sjob, wav, n, got, enc_out, err, sizeof err);
        CHECK(rc == 0, "GPU semantic codes: %s", err);
        if (rc == 0) {
            double e = rel_error(enc_out, trace.encoder_out, ch * frames);
            size_t differ = 0, ties = 0;
            for (size_t i = 0; i < frames && i < count; i++) {
                if (got[i] == codes[i])
                    continue;
                bool tie = trace.cos_margin && trace.cos_margin[i] < 1e-5f;
                ties += tie;
                differ += !tie;
            }
            printf("semantic encoder output %.3g max relative error; codes: %zu of %zu equal, "
                   "%zu at a tie\n", e, frames - differ - ties, frames, ties);
            CHECK(e < 1e-3, "the encoder output differs by %.3g relative", e);
            CHECK(differ == 0, "%zu semantic codes differ away from any tie", differ);
        }
        free(got);
        free(enc_out);
    }
    nn_semantic_cuda_job_free(sjob);
    nn_semantic_encoder_cuda_free(sem);
    rc = job ? nn_wav2vec2_cuda_mix(job, wav, 399, mix, err, sizeof err) : 0;
    CHECK(rc != 0 && strstr(err, "shorter than the receptive field"), "399 samples: %s", err);
    nn_wav2vec2_cuda_job_free(job);
    nn_wav2vec2_cuda_free(gpu);
    nn_semantic_trace_free(&trace);
    free(codes);
    free(mix);
    free(wav);
    nn_bicodec_encoder_free(cpu);
    remove_synth_model(dir);
    if (test_failures) {
        fprintf(stderr, "%d checks failed\n", test_failures);
        return 1;
    }
    printf("all GPU encode checks passed\n");
    return 0;
}
