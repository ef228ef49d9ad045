/* Encode time of BiCodec's encoder: a 6 s reference without transcript (globals only) and a
 * 10 s reference with transcript (globals + wav2vec2 + semantic encoder), from 16 kHz audio
 * to codes (normalisation and the reference clip included; loading excluded). Prints the
 * median and the best of the repeats, the split by path, and the peak RSS.
 *
 *   bench_codec_encode MODEL_DIR [--threads N] [--repeat R]
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <spark/nn/bicodec_encoder.h>
#include <spark/nn/pool.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A speech-like test signal: gliding harmonics with a syllable-rate envelope. */
static float *voiced(size_t n, double rate)
{
    float *x = malloc(n * sizeof *x);
    double phase = 0.0;
    unsigned seed = 12345;
    for (size_t i = 0; i < n; i++) {
        double t = (double)i / rate;
        double f0 = 150.0 * (1.0 + 0.15 * sin(2 * M_PI * 0.7 * t));
        phase += 2 * M_PI * f0 / rate;
        double v = 0.0;
        for (int k = 1; k < 12; k++)
            v += sin(k * phase) / k;
        double env = 0.55 + 0.45 * pow(sin(2 * M_PI * 3.1 * t), 2);
        seed = seed * 1103515245u + 12345u;
        double noise = ((double)(seed >> 8) / (double)(1u << 24) - 0.5) * 0.1;
        x[i] = (float)(0.3 * (v * env + noise));
    }
    return x;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct timing {
    double total, globals, semantic;
} timing;

static int encode_once(nn_bicodec_encoder *enc, const float *audio, size_t n, bool transcript,
                       timing *t)
{
    double t0 = now();
    float *wav = malloc(n * sizeof *wav);
    size_t clip_len = nn_reference_clip_length(&nn_bicodec_encoder_config(enc)->audio);
    float *clip = malloc(clip_len * sizeof *clip);
    int32_t globals[64];
    char *error = NULL;
    int rc = nn_volume_normalize(audio, n, wav, NULL);
    nn_reference_clip(wav, n, clip, clip_len);
    if (rc == 0)
        rc = nn_bicodec_encode_globals(enc, clip, clip_len, globals, NULL, &error);
    double t1 = now();
    if (rc == 0 && transcript) {
        int32_t *codes = NULL;
        size_t count = 0;
        rc = nn_bicodec_encode_semantic(enc, wav, n, &codes, &count, NULL, &error);
        free(codes);
    }
    double t2 = now();
    if (rc != 0)
        fprintf(stderr, "encode failed: %s\n", error ? error : "?");
    free(error);
    free(wav);
    free(clip);
    *t = (timing){t2 - t0, t1 - t0, t2 - t1};
    return rc;
}

static void run_case(nn_bicodec_encoder *enc, const char *label, double seconds,
                     bool transcript, int repeat)
{
    size_t n = (size_t)(seconds * 16000.0);
    float *audio = voiced(n, 16000.0);
    timing warm;
    encode_once(enc, audio, n, transcript, &warm); /* first touch of the mapped weights */
    double *totals = malloc((size_t)repeat * sizeof *totals);
    timing sum = {0};
    for (int r = 0; r < repeat; r++) {
        timing t;
        if (encode_once(enc, audio, n, transcript, &t) != 0)
            exit(1);
        totals[r] = t.total;
        sum.globals += t.globals;
        sum.semantic += t.semantic;
    }
    qsort(totals, (size_t)repeat, sizeof *totals, compare_doubles);
    printf("%-32s median %.3f s  best %.3f s  (globals %.3f s, semantic %.3f s; mean)\n", label,
           totals[repeat / 2], totals[0], sum.globals / repeat, sum.semantic / repeat);
    free(totals);
    free(audio);
}

int main(int argc, char **argv)
{
    const char *model = NULL;
    int threads = 0, repeat = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (argv[i][0] != '-' && !model)
            model = argv[i];
        else {
            fprintf(stderr, "usage: %s MODEL_DIR [--threads N] [--repeat R]\n", argv[0]);
            return 2;
        }
    }
    if (!model || repeat < 1) {
        fprintf(stderr, "usage: %s MODEL_DIR [--threads N] [--repeat R]\n", argv[0]);
        return 2;
    }
    char err[256];
    nn_pool *pool = nn_pool_create(threads, err, sizeof err);
    if (!pool) {
        fprintf(stderr, "threads: %s\n", err);
        return 1;
    }
    char *error = NULL;
    double t0 = now();
    nn_bicodec_encoder *enc = nn_bicodec_encoder_load(model, true, pool, &error);
    if (!enc) {
        fprintf(stderr, "load: %s\n", error);
        return 1;
    }
    printf("model %s, %d thread(s), load %.3f s\n", model, nn_pool_threads(pool), now() - t0);
    run_case(enc, "6 s reference, no transcript", 6.0, false, repeat);
    run_case(enc, "10 s reference, with transcript", 10.0, true, repeat);
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    printf("peak RSS %.0f MiB\n", (double)usage.ru_maxrss / 1024.0);
    nn_bicodec_encoder_free(enc);
    nn_pool_destroy(pool);
    return 0;
}
