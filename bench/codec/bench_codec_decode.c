/*
 * bench_codec_decode: BiCodec decode speed, codes -> waveform (the prenet of the codec-bicodec
 * plugin, then the WaveGenerator of vocoder-wavegen, decoded in chunks as the node does).
 *
 *   bench_codec_decode --model DIR [--seconds S] [--threads N] [--repeat R]
 *                      [--chunk-frames N] [--context-frames N] [--weights f32|bf16]
 *                      [--receptive-field]
 *
 * --weights bf16 runs the vocoder's convolutions (all but the transposed ones) in bf16
 * (AVX512-BF16); the prenet and the transposed convolutions stay f32.
 *
 * Prints one line per repeat and the best: prenet, vocoder and total seconds, the real-time
 * factor (compute time / audio time), the CPU time of all threads, and the peak resident
 * memory. Codes are seeded random. Defaults: chunks of 200 codes with 12 of context (the
 * vocoder's receptive field is 10).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <spark/nn/cpu.h>
#include <spark/nn/pool.h>

#include "bicodec_decoder.h"
#include "bicodec_model.h"
#include "wavegen.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU seconds of every thread of the process: on a shared machine, wall time depends on the
 * neighbours and this does not. */
static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

int main(int argc, char **argv)
{
    const char *model_dir = NULL;
    double seconds = 10.0;
    int threads = 1, repeat = 3;
    long chunk = 200, context = 12;
    int measure_field = 0;
    const char *weights = "f32";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--model") == 0 && v)
            model_dir = argv[++i];
        else if (strcmp(a, "--seconds") == 0 && v)
            seconds = atof(argv[++i]);
        else if (strcmp(a, "--threads") == 0 && v)
            threads = atoi(argv[++i]);
        else if (strcmp(a, "--repeat") == 0 && v)
            repeat = atoi(argv[++i]);
        else if (strcmp(a, "--chunk-frames") == 0 && v)
            chunk = atol(argv[++i]);
        else if (strcmp(a, "--context-frames") == 0 && v)
            context = atol(argv[++i]);
        else if (strcmp(a, "--weights") == 0 && v)
            weights = argv[++i];
        else if (strcmp(a, "--receptive-field") == 0)
            measure_field = 1;
        else {
            fprintf(stderr, "usage: bench_codec_decode --model DIR [--seconds S] [--threads N] "
                            "[--repeat R] [--chunk-frames N] [--context-frames N] "
                            "[--weights f32|bf16] [--receptive-field]\n");
            return 2;
        }
    }
    if (!model_dir || seconds <= 0 || repeat < 1 || threads < 0 || chunk < 0 || context < 0) {
        fprintf(stderr, "bench_codec_decode: --model DIR is required; counts must be positive\n");
        return 2;
    }
    char err[1024];
    double t0 = now();
    bicodec_model model;
    bicodec_decoder dec;
    wavegen wg;
    if (bicodec_model_open(&model, model_dir, err, sizeof err) ||
        bicodec_decoder_load(&dec, &model, err, sizeof err) ||
        wavegen_load(&wg, model_dir, err, sizeof err)) {
        fprintf(stderr, "bench_codec_decode: %s\n", err);
        return 1;
    }
    bicodec_model_close(&model);
    if (strcmp(weights, "bf16") == 0) {
        if (wavegen_use_bf16(&wg, err, sizeof err)) {
            fprintf(stderr, "bench_codec_decode: %s\n", err);
            return 1;
        }
    } else if (strcmp(weights, "f32") != 0) {
        fprintf(stderr, "bench_codec_decode: --weights is f32 or bf16, not '%s'\n", weights);
        return 2;
    }
    double load = now() - t0;
    nn_pool *pool = nn_pool_create(threads, err, sizeof err);
    if (!pool) {
        fprintf(stderr, "bench_codec_decode: %s\n", err);
        return 1;
    }
    size_t frames = (size_t)(seconds * 16000.0 / (double)wg.hop + 0.5);
    int32_t *semantic = malloc(frames * sizeof(int32_t));
    int32_t global[64];
    uint64_t state = 12345;
    for (size_t i = 0; i < frames; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        semantic[i] = (int32_t)((state >> 33) % dec.codebook_size);
    }
    for (size_t i = 0; i < dec.global_count && i < 64; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        global[i] = (int32_t)((state >> 33) % (uint64_t)dec.global_code_count);
    }
    float *latent = malloc(dec.out_channels * frames * sizeof(float));
    float *samples = malloc(frames * wg.hop * sizeof(float));
    bicodec_workspace bws = {0};
    wavegen_workspace wws = {0};
    double audio = (double)(frames * wg.hop) / 16000.0;
    printf("model %s, %zu codes (%.2f s of audio), %d thread(s), %s, %s vocoder convolutions, "
           "chunk %ld, context %ld, load %.2f s\n", model_dir, frames, audio,
           nn_pool_threads(pool), nn_cpu_summary(), weights, chunk, context, load);
    double best = 1e30, best_pre = 0, best_voc = 0;
    for (int r = 0; r < repeat; r++) {
        double cpu0 = cpu_seconds();
        double a = now();
        if (bicodec_decode(pool, &dec, semantic, frames, global, dec.global_count, &bws, latent,
                           frames, NULL, err, sizeof err)) {
            fprintf(stderr, "bench_codec_decode: %s\n", err);
            return 1;
        }
        double b = now();
        size_t step = chunk ? (size_t)chunk : frames;
        for (size_t f = 0; f < frames; f += step) {
            size_t e = f + step < frames ? f + step : frames;
            if (wavegen_forward_range(pool, &wg, latent, frames, frames, f, e, (size_t)context,
                                      &wws, samples + f * wg.hop, NULL, err, sizeof err)) {
                fprintf(stderr, "bench_codec_decode: %s\n", err);
                return 1;
            }
        }
        double c = now();
        double cpu = cpu_seconds() - cpu0;
        printf("run %d: prenet %.3f s, vocoder %.3f s, total %.3f s, RTF %.3f (CPU %.3f s: "
               "%.3f per second of audio)\n", r + 1, b - a, c - b, c - a, (c - a) / audio, cpu,
               cpu / audio);
        if (c - a < best) {
            best = c - a;
            best_pre = b - a;
            best_voc = c - b;
        }
    }
    printf("best: prenet %.3f s (RTF %.3f), vocoder %.3f s (RTF %.3f), total RTF %.3f, "
           "peak RSS %.0f MiB\n", best_pre, best_pre / audio, best_voc, best_voc / audio,
           best / audio, peak_rss_mib());
    if (measure_field) {
        size_t before = 0, after = 0;
        if (wavegen_receptive_field(pool, &wg, 40, &before, &after, err, sizeof err) == 0)
            printf("vocoder receptive field: %zu frames back, %zu forward\n", before, after);
        else
            fprintf(stderr, "bench_codec_decode: %s\n", err);
    }
    free(semantic);
    free(latent);
    free(samples);
    bicodec_workspace_free(&bws);
    wavegen_workspace_free(&wws);
    nn_pool_destroy(pool);
    wavegen_free(&wg);
    bicodec_decoder_free(&dec);
    return 0;
}
