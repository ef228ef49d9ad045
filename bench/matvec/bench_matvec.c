/* Decode matrix-vector kernels on the shapes of Qwen2.5-0.5B: time per call and GB/s of
 * weights streamed, for each weight type and thread count, next to the machine's streaming
 * read bandwidth; then the per-token decode estimate from those times and the bandwidth-bound
 * tokens/s; then prefill products (n tokens at once) in GFLOP/s.
 *
 * Each shape is cycled through enough copies (>= 256 MB) that calls read from DRAM, as in a
 * real decode step, not from the last-level cache.
 *
 * usage: bench_matvec [--threads 1,2] [--types f32,bf16,int8,int8q8,...] [--isa avx512|avx2|scalar]
 *                     [--seconds S] [--prefill N] [--no-prefill] */
#define _POSIX_C_SOURCE 200809L
#include <emmintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "matvec_kernels.h"
#include "spark/nn/cpu.h"
#include "spark/nn/matvec.h"
#include "spark/nn/pool.h"

#define LAYERS 24
#define HIDDEN 896
#define INTER 4864
#define KV 128
#define VOCAB 151936
#define HEAD_ROWS 8193
#define ROTATION_BYTES ((size_t)256 << 20)

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* CPU time of the calling thread: on a shared machine, wall time / CPU time shows how much of
 * the run other processes took (for 1 thread). */
static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t rng = 88172645463325252ull;
static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 - 0.5);
}

/* ---- memory bandwidth: a streaming read (sum) of a large buffer, best of 10 passes ---- */

typedef struct stream {
    const __m128i *buf;
    size_t n; /* vectors */
    __m128i sums[16];
} stream;

static void stream_piece(void *ctx, int task, int n_tasks)
{
    stream *s = ctx;
    size_t b, e;
    nn_pool_range(s->n, 64, task, n_tasks, &b, &e);
    __m128i a0 = _mm_setzero_si128(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = b; i < e; i += 4) {
        /* prefetched ahead as the kernels do, so both measure the same memory system */
        _mm_prefetch((const char *)(s->buf + i) + 2048, _MM_HINT_T0);
        a0 = _mm_add_epi64(a0, _mm_load_si128(s->buf + i));
        a1 = _mm_add_epi64(a1, _mm_load_si128(s->buf + i + 1));
        a2 = _mm_add_epi64(a2, _mm_load_si128(s->buf + i + 2));
        a3 = _mm_add_epi64(a3, _mm_load_si128(s->buf + i + 3));
    }
    s->sums[task % 16] = _mm_add_epi64(_mm_add_epi64(a0, a1), _mm_add_epi64(a2, a3));
}

static double bandwidth(nn_pool *pool, const void *buf, size_t bytes)
{
    stream s = {.buf = buf, .n = bytes / 16};
    int threads = nn_pool_threads(pool);
    double best = 0;
    for (int pass = 0; pass < 10; pass++) {
        double t0 = now();
        nn_pool_run(pool, stream_piece, &s, threads);
        double gbs = (double)bytes / (now() - t0) / 1e9;
        best = gbs > best ? gbs : best;
    }
    return best;
}

/* ---- weights ---- */

typedef struct variant {
    const char *name;
    nn_weight_type type;
    size_t block;
    nn_int8_x int8_x;
} variant;

/* int8: per-row scales, or bN: one scale per N columns; q8: x quantised (NN_INT8_X_Q8) */
static const variant all_variants[] = {
    {"f32", NN_WEIGHT_F32, 0, 0},
    {"bf16", NN_WEIGHT_BF16, 0, 0},
    {"int8", NN_WEIGHT_INT8, 0, NN_INT8_X_F32},
    {"int8q8", NN_WEIGHT_INT8, 0, NN_INT8_X_Q8},
    {"int8b32", NN_WEIGHT_INT8, 32, NN_INT8_X_F32},
    {"int8b32q8", NN_WEIGHT_INT8, 32, NN_INT8_X_Q8},
    {"int8b64", NN_WEIGHT_INT8, 64, NN_INT8_X_F32},
    {"int8b128", NN_WEIGHT_INT8, 128, NN_INT8_X_F32},
    {"int8b128q8", NN_WEIGHT_INT8, 128, NN_INT8_X_Q8},
};

typedef struct shape {
    const char *name;
    size_t rows, cols;
    int per_layer; /* times one decode step runs it per layer (0: the head) */
} shape;

/* The decode products of one layer with q/k/v and gate/up fused (as the model runs them),
 * the separate ones for reference, and the restricted head. */
static const shape shapes[] = {
    {"q 896x896", HIDDEN, HIDDEN, 0},
    {"k/v 128x896", KV, HIDDEN, 0},
    {"qkv 1152x896", HIDDEN + 2 * KV, HIDDEN, 1},
    {"o 896x896", HIDDEN, HIDDEN, 1},
    {"gate/up 4864x896", INTER, HIDDEN, 0},
    {"gate+up 9728x896", 2 * INTER, HIDDEN, 1},
    {"down 896x4864", HIDDEN, INTER, 1},
    {"head 8193 of 151936x896", VOCAB, HIDDEN, 0},
};

static int make_weight(nn_weight *w, size_t rows, size_t cols, const variant *v)
{
    float *m = malloc(rows * cols * sizeof *m);
    if (!m)
        return -1;
    for (size_t i = 0; i < rows * cols; i++)
        m[i] = frand() * 0.1f;
    char err[256];
    int rc = nn_weight_from_f32(w, m, rows, cols, v->type, v->block, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s\n", err);
    w->int8_x = v->int8_x;
    free(m);
    return rc;
}

/* Copies of w that share nothing, so a cycle through them misses the cache. */
static nn_weight *copies_of(const nn_weight *w, size_t *count)
{
    size_t bytes = nn_weight_bytes(w), n = ROTATION_BYTES / bytes + 1;
    nn_weight *c = calloc(n, sizeof *c);
    size_t es = w->type == NN_WEIGHT_F32 ? 4 : w->type == NN_WEIGHT_BF16 ? 2 : 1;
    size_t data_bytes = w->rows * w->stride * es;
    size_t scale_bytes = w->scales ? w->rows * nn_weight_blocks_per_row(w) * sizeof(float) : 0;
    for (size_t i = 0; i < n; i++) {
        c[i] = *w;
        c[i].data = aligned_alloc(64, (data_bytes + 63) / 64 * 64);
        memcpy(c[i].data, w->data, data_bytes);
        if (scale_bytes) {
            c[i].scales = aligned_alloc(64, (scale_bytes + 63) / 64 * 64);
            memcpy(c[i].scales, w->scales, scale_bytes);
        }
    }
    *count = n;
    return c;
}

typedef struct result {
    double us, gbs, cpu_share;
} result;

static result time_matvec(nn_pool *pool, nn_weight *ws, size_t n_ws, const int32_t *rows,
                          size_t n_rows, const float *x, float *y, double seconds)
{
    size_t calls = 0;
    for (size_t i = 0; i < 3; i++) /* warm-up */
        rows ? nn_matvec_rows(pool, &ws[i % n_ws], rows, n_rows, x, y)
             : nn_matvec(pool, &ws[i % n_ws], x, NULL, y);
    double t0 = now(), c0 = cpu_now(), t;
    do {
        for (int k = 0; k < 8; k++, calls++) {
            nn_weight *w = &ws[calls % n_ws];
            if (rows) /* the head: a different window of rows each call */
                nn_matvec_rows(pool, w, rows + (calls % 16) * n_rows, n_rows, x, y);
            else
                nn_matvec(pool, w, x, NULL, y);
        }
        t = now() - t0;
    } while (t < seconds);
    const nn_weight *w = &ws[0];
    double bytes = rows ? (double)nn_weight_bytes(w) * (double)n_rows / (double)w->rows
                        : (double)nn_weight_bytes(w);
    result r = {t / (double)calls * 1e6, bytes * (double)calls / t / 1e9, (cpu_now() - c0) / t};
    return r;
}

static void free_copies(nn_weight *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        nn_weight_free(&c[i]);
    free(c);
}

static int parse_list(const char *s, int *out, int max)
{
    int n = 0;
    while (*s && n < max) {
        out[n++] = atoi(s);
        s = strchr(s, ',');
        if (!s)
            break;
        s++;
    }
    return n;
}

int main(int argc, char **argv)
{
    int threads[4] = {1, 2}, n_threads = 2;
    const char *types = "f32,bf16,int8,int8q8,int8b128";
    double seconds = 0.4;
    size_t prefill_n = 300;
    int do_prefill = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            n_threads = parse_list(argv[++i], threads, 4);
        else if (!strcmp(argv[i], "--types") && i + 1 < argc)
            types = argv[++i];
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--prefill") && i + 1 < argc)
            prefill_n = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--no-prefill"))
            do_prefill = 0;
        else if (!strcmp(argv[i], "--isa") && i + 1 < argc) {
            const char *name = argv[++i];
            nn_isa isa = !strcmp(name, "scalar") ? NN_ISA_SCALAR
                         : !strcmp(name, "avx2") ? NN_ISA_AVX2 : NN_ISA_AVX512;
            if (!nn_matvec_force_isa(isa)) {
                fprintf(stderr, "this CPU has no %s\n", name);
                return 1;
            }
        } else {
            fprintf(stderr,
                    "usage: %s [--threads 1,2] [--types f32,bf16,int8,int8q8,int8b32,int8b32q8,\n"
                    "          int8b64,int8b128,int8b128q8]\n"
                    "          [--isa avx512|avx2|scalar] [--seconds S] [--prefill N]\n"
                    "          [--no-prefill]\n",
                    argv[0]);
            return 2;
        }
    }
    char err[256];
    nn_pool *pools[4];
    for (int t = 0; t < n_threads; t++) {
        if (!(pools[t] = nn_pool_create(threads[t], err, sizeof err))) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
    }
    printf("cpu: %s; matvec kernels: %s\n", nn_cpu_summary(), nn_isa_name(nn_matvec_isa()));

    size_t bw_bytes = (size_t)1 << 30;
    void *buf = aligned_alloc(64, bw_bytes);
    memset(buf, 1, bw_bytes);
    double bw[4];
    for (int t = 0; t < n_threads; t++) {
        bw[t] = bandwidth(pools[t], buf, bw_bytes);
        printf("memory bandwidth (streaming read of 1 GiB, %d thread%s): %.1f GB/s\n",
               threads[t], threads[t] > 1 ? "s" : "", bw[t]);
    }
    /* per weight type: the decode-step estimate, summarised at the end */
    enum { MAX_VARIANTS = sizeof all_variants / sizeof all_variants[0] };
    const char *sum_name[MAX_VARIANTS];
    double sum_us[MAX_VARIANTS][4], sum_bytes[MAX_VARIANTS];
    size_t n_sum = 0;

    float *x = malloc(INTER * sizeof *x), *y = malloc(VOCAB * sizeof *y);
    for (size_t i = 0; i < INTER; i++)
        x[i] = frand();
    int32_t *head_rows = malloc(16 * HEAD_ROWS * sizeof *head_rows);
    for (size_t k = 0; k < 16; k++)
        for (size_t i = 0; i < HEAD_ROWS; i++)
            head_rows[k * HEAD_ROWS + i] = (int32_t)((k * 9001 + i) % VOCAB);

    for (size_t vi = 0; vi < sizeof all_variants / sizeof all_variants[0]; vi++) {
        const variant *v = &all_variants[vi];
        /* whole-word match in the comma list */
        const char *at = types;
        int wanted = 0;
        size_t len = strlen(v->name);
        while ((at = strstr(at, v->name))) {
            if ((at == types || at[-1] == ',') && (at[len] == ',' || at[len] == 0))
                wanted = 1;
            at += len;
        }
        if (!wanted)
            continue;
        printf("\n%s weights\n%-26s %8s %10s %8s %9s\n", v->name, "shape", "threads", "us/call",
               "GB/s", "cpu/wall");
        double step_us[4] = {0, 0, 0, 0}, step_bytes = 0;
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            const shape *s = &shapes[si];
            int is_head = s->rows == VOCAB;
            nn_weight w;
            if (make_weight(&w, s->rows, s->cols, v))
                return 1;
            size_t n_ws = 1;
            nn_weight *ws = is_head ? &w : copies_of(&w, &n_ws);
            for (int t = 0; t < n_threads; t++) {
                result r = time_matvec(pools[t], ws, n_ws, is_head ? head_rows : NULL,
                                       is_head ? HEAD_ROWS : 0, x, y, seconds);
                printf("%-26s %8d %10.1f %8.1f %9.2f\n", s->name, threads[t], r.us, r.gbs,
                       r.cpu_share);
                if (s->per_layer)
                    step_us[t] += r.us * LAYERS * s->per_layer;
                if (is_head)
                    step_us[t] += r.us;
            }
            double bytes = (double)nn_weight_bytes(&w);
            if (s->per_layer)
                step_bytes += bytes * LAYERS * s->per_layer;
            if (is_head)
                step_bytes += bytes * HEAD_ROWS / VOCAB;
            if (!is_head)
                free_copies(ws, n_ws);
            nn_weight_free(&w);
        }
        sum_name[n_sum] = v->name;
        sum_bytes[n_sum] = step_bytes;
        for (int t = 0; t < n_threads; t++)
            sum_us[n_sum][t] = step_us[t];
        n_sum++;

        if (!do_prefill)
            continue;
        static const shape prefill_shapes[] = {
            {"qkv 1152x896", HIDDEN + 2 * KV, HIDDEN, 1},
            {"gate+up 9728x896", 2 * INTER, HIDDEN, 1},
            {"down 896x4864", HIDDEN, INTER, 1},
        };
        float *px = malloc(prefill_n * INTER * sizeof *px),
              *py = malloc(prefill_n * 2 * INTER * sizeof *py);
        for (size_t i = 0; i < prefill_n * INTER; i++)
            px[i] = frand();
        for (size_t si = 0; si < 3; si++) {
            const shape *s = &prefill_shapes[si];
            nn_weight w;
            if (make_weight(&w, s->rows, s->cols, v))
                return 1;
            for (int t = 0; t < n_threads; t++) {
                nn_matmul_weight(pools[t], &w, prefill_n, px, NULL, py);
                int calls = 0;
                double t0 = now(), el;
                do {
                    nn_matmul_weight(pools[t], &w, prefill_n, px, NULL, py);
                    calls++;
                    el = now() - t0;
                } while (el < seconds);
                double flops = 2.0 * (double)s->rows * (double)s->cols * (double)prefill_n;
                printf("prefill n=%zu %-18s %d thread%s: %8.2f ms %7.1f GFLOP/s\n", prefill_n,
                       s->name, threads[t], threads[t] > 1 ? "s" : "", el / calls * 1e3,
                       flops * calls / el / 1e9);
            }
            nn_weight_free(&w);
        }
        free(px);
        free(py);
    }
    /* the machine may have been busier at the start: the best of both measurements */
    for (int t = 0; t < n_threads; t++) {
        double again = bandwidth(pools[t], buf, bw_bytes);
        bw[t] = again > bw[t] ? again : bw[t];
        printf("\nmemory bandwidth, best of start and end (%d thread%s): %.1f GB/s", threads[t],
               threads[t] > 1 ? "s" : "", bw[t]);
    }
    free(buf);
    printf("\n\ndecode step = 24 layers (qkv, o, gate+up, down) + head of 8193 rows\n"
           "%-10s %8s %8s %10s %18s %18s\n", "weights", "MB/step", "threads", "ms/step",
           "tokens/s (matvec)", "bandwidth bound");
    for (size_t i = 0; i < n_sum; i++)
        for (int t = 0; t < n_threads; t++)
            printf("%-10s %8.0f %8d %10.2f %18.1f %18.1f\n", sum_name[i], sum_bytes[i] / 1e6,
                   threads[t], sum_us[i][t] / 1e3, 1e6 / sum_us[i][t],
                   bw[t] * 1e9 / sum_bytes[i]);
    free(x);
    free(y);
    free(head_rows);
    for (int t = 0; t < n_threads; t++)
        nn_pool_destroy(pools[t]);
    return 0;
}
