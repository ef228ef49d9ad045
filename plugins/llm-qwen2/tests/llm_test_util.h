/* llm_test_util.h - shared by the LLM tests: a tiny synthetic model made in a temporary
 * directory (sparkhost model synth's code, so the weights are those the reference dumps were
 * made from), .npy float32 reading, and a check macro that counts failures. */
#ifndef LLM_TEST_UTIL_H
#define LLM_TEST_UTIL_H

#define _POSIX_C_SOURCE 200809L
#include <spark/nn/qwen2.h>
#include <spark/nn/spark_model.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Writes the tiny preset (seed 0) under a new temporary directory; returns its path. */
static inline char *make_tiny_model(void)
{
    static char dir[256];
    snprintf(dir, sizeof dir, "/tmp/spark-llm-test-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    strcat(dir, "/tiny");
    nn_spark_preset preset;
    char *error = NULL;
    if (!nn_spark_preset_get("tiny", &preset) || nn_spark_synth(dir, &preset, 0, NULL, &error)) {
        fprintf(stderr, "cannot make the tiny model: %s\n", error ? error : "no preset");
        exit(1);
    }
    return dir;
}

static inline void remove_tree(const char *dir)
{
    char cmd[512];
    /* the path is ours: /tmp/spark-llm-test-XXXXXX/tiny */
    snprintf(cmd, sizeof cmd, "rm -rf '%.*s'", (int)(strlen(dir) - 5), dir);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", dir);
}

/* A 2-dimensional float32 little-endian C-order .npy file. */
static inline float *npy_read_f32(const char *path, size_t *rows, size_t *cols)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    unsigned char magic[10];
    if (fread(magic, 1, 10, f) != 10 || memcmp(magic, "\x93NUMPY", 6) != 0) {
        fprintf(stderr, "%s is not a .npy file\n", path);
        exit(1);
    }
    size_t hlen = magic[8] | (size_t)magic[9] << 8;
    char header[1024];
    if (hlen >= sizeof header || fread(header, 1, hlen, f) != hlen) {
        fprintf(stderr, "%s: bad header\n", path);
        exit(1);
    }
    header[hlen] = 0;
    const char *shape = strstr(header, "'shape': (");
    unsigned long a = 0, b = 0;
    if (!strstr(header, "'<f4'") || !strstr(header, "'fortran_order': False") || !shape ||
        sscanf(shape, "'shape': (%lu, %lu)", &a, &b) != 2) {
        fprintf(stderr, "%s: not a 2-d float32 C-order array: %s\n", path, header);
        exit(1);
    }
    float *data = malloc(a * b * sizeof *data);
    if (!data || fread(data, sizeof *data, a * b, f) != a * b) {
        fprintf(stderr, "%s: short data\n", path);
        exit(1);
    }
    fclose(f);
    *rows = a;
    *cols = b;
    return data;
}

#endif
