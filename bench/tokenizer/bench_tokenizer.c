/* Qwen2 tokenizer throughput, single thread, on a text file: the whole file as one input,
 * then line by line. Prints MB/s and a digest of the ids, which run.sh compares with the
 * digest Hugging Face tokenizers gives on the same file.
 * usage: bench_tokenizer TOKENIZER_DIR TEXT_FILE */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qwen2_tokenizer.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Order-sensitive digest of an id sequence (the Python side computes the same). */
static unsigned long long digest(unsigned long long h, const qt_ids *ids)
{
    for (size_t i = 0; i < ids->n; i++)
        h = (h ^ (unsigned long long)(uint32_t)ids->v[i]) * 1099511628211ULL; /* FNV-1a */
    return h;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s TOKENIZER_DIR TEXT_FILE\n", argv[0]);
        return 2;
    }
    qt_tokenizer *tok = NULL;
    char err[1024];
    double t0 = now();
    if (qt_load_dir(argv[1], &tok, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    double load = now() - t0;
    FILE *f = fopen(argv[2], "rb");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    if (!text || fread(text, 1, (size_t)size, f) != (size_t)size)
        return 1;
    fclose(f);
    double mb = (double)size / 1e6;

    /* Whole file: a fresh session, so the word cache starts cold as in the reference. */
    qt_session *s = qt_session_new(tok);
    qt_ids ids = {0};
    t0 = now();
    if (qt_encode(s, text, (size_t)size, &ids, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    double whole = now() - t0;
    printf("c whole: %.1f MB in %.3f s = %.2f MB/s, %zu ids, digest %llu\n", mb, whole,
           mb / whole, ids.n, digest(14695981039346656037ULL, &ids));
    qt_session_free(s);

    s = qt_session_new(tok);
    unsigned long long h = 14695981039346656037ULL;
    size_t count = 0;
    t0 = now();
    for (char *p = text, *end = text + size; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        ids.n = 0;
        if (qt_encode(s, p, n, &ids, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        h = digest(h, &ids);
        count += ids.n;
        p += n + 1;
    }
    double lines = now() - t0;
    printf("c lines: %.1f MB in %.3f s = %.2f MB/s, %zu ids, digest %llu\n", mb, lines,
           mb / lines, count, h);
    printf("c load: %.3f s\n", load);
    qt_session_free(s);
    free(ids.v);
    free(text);
    qt_free(tok);
    return 0;
}
