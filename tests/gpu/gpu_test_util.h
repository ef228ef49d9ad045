/* gpu_test_util.h - shared by the gpu-labelled tests: the skip rule (no GPU: exit 77, which
 * CTest reports as skipped, never as passed), a synthetic model made in a temporary
 * directory, comparisons and a check macro that counts failures. */
#ifndef GPU_TEST_UTIL_H
#define GPU_TEST_UTIL_H

#define _POSIX_C_SOURCE 200809L
#include <spark/nn/cuda.h>
#include <spark/nn/spark_model.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GPU_TEST_SKIP 77

static int test_failures;

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                           \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fputc('\n', stderr);                                                           \
            test_failures++;                                                               \
        }                                                                                  \
    } while (0)

/* Exits with the skip code, saying why, when no CUDA device can be used. */
static inline void skip_without_gpu(const char *test)
{
    char why[256];
    if (nn_cuda_probe(why, sizeof why) == 0) {
        printf("%s skipped: %s\n", test, why);
        exit(GPU_TEST_SKIP);
    }
    nn_cuda_device_info info;
    char err[256];
    if (nn_cuda_device_info_get(0, &info, err, sizeof err) == 0)
        printf("%s on %s (sm_%d%d, %.1f GiB)\n", test, info.name, info.compute_major,
               info.compute_minor, (double)info.total_bytes / 1073741824.0);
}

/* Writes the preset (seed 0) under a new temporary directory; returns the model directory. */
static inline char *make_synth_model(const char *preset_name)
{
    static char dir[256];
    snprintf(dir, sizeof dir, "/tmp/spark-gpu-test-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    strcat(dir, "/model");
    nn_spark_preset preset;
    char *error = NULL;
    if (!nn_spark_preset_get(preset_name, &preset) ||
        nn_spark_synth(dir, &preset, 0, NULL, &error)) {
        fprintf(stderr, "cannot make the %s model: %s\n", preset_name,
                error ? error : "no such preset");
        exit(1);
    }
    return dir;
}

static inline void remove_synth_model(const char *dir)
{
    char cmd[512];
    /* the path is ours: /tmp/spark-gpu-test-XXXXXX/model */
    snprintf(cmd, sizeof cmd, "rm -rf '%.*s'", (int)(strlen(dir) - 6), dir);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", dir);
}

/* max |a - b| / max(1, max |b|): the relative error against the reference b */
static inline double rel_error(const float *a, const float *b, size_t n)
{
    double worst = 0, scale = 1;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        worst = d > worst ? d : worst;
        scale = fabs(b[i]) > scale ? fabs(b[i]) : scale;
    }
    return worst / scale;
}

#endif
