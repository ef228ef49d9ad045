/* bench_llm - the Spark-TTS LLM on the CPU (spark/nn/qwen2.h), one weight precision per run
 * (peak RSS is per process):
 *
 *   speed:     activation time and peak RSS; for each thread count, prefill of a P-token
 *              prompt (tokens/s), and decode tokens/s at each context with the head cut to
 *              the rows the grammar allows in the semantic section (constrained decoding);
 *              beside it the machine's measured read bandwidth and the tokens/s that
 *              bandwidth allows for the bytes a decode step reads.
 *   agreement: f32 decodes N greedy steps; the other precision is fed the same tokens and
 *              compared at every step over the whole vocabulary: argmax agreement, max and
 *              mean absolute logit error, cosine similarity.
 *
 * usage: bench_llm speed MODEL_DIR WEIGHTS [--threads 1,2] [--prompt 300]
 *                  [--contexts 300,2000] [--steps 32] [--kv auto|f32|f16]
 *        bench_llm agreement MODEL_DIR WEIGHTS [--steps 500] [--threads 2] [--kv auto|f32|f16]
 * --kv: the KV cache precision of the WEIGHTS model (auto: f32 for f32 weights, else f16);
 * agreement's f32 reference always has an f32 cache.
 * MODEL_DIR is a Spark-TTS directory (its LLM/) such as `sparkhost model synth --preset full`
 * makes. Prompt ids are drawn from the BPE range with a fixed seed. */
#define _POSIX_C_SOURCE 200809L
#include <spark/nn/qwen2.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

static size_t parse_list(const char *text, size_t *out, size_t cap)
{
    size_t n = 0;
    char *end;
    while (*text && n < cap) {
        out[n++] = strtoul(text, &end, 10);
        text = *end == ',' ? end + 1 : end;
        if (end == text && *text)
            break;
    }
    return n;
}

typedef struct bw_job {
    const uint64_t *data;
    size_t words;
    uint64_t sums[64];
} bw_job;

static void bw_task(void *arg, int task, int n_tasks)
{
    bw_job *b = arg;
    size_t lo, hi;
    nn_pool_range(b->words, 8, task, n_tasks, &lo, &hi);
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = lo; i < hi; i += 4) {
        s0 += b->data[i];
        s1 += b->data[i + 1];
        s2 += b->data[i + 2];
        s3 += b->data[i + 3];
    }
    b->sums[task % 64] = s0 + s1 + s2 + s3;
}

/* Read bandwidth over a buffer far larger than the caches, best of 5, `threads` threads;
 * measured in a child process so its 1 GiB does not count in this process's peak RSS. */
static double read_bandwidth_here(nn_pool *pool);

static double read_bandwidth(int threads)
{
    int fds[2];
    double gbs = 0;
    if (pipe(fds))
        return 0;
    pid_t pid = fork();
    if (pid == 0) {
        char err[256];
        nn_pool *pool = nn_pool_create(threads, err, sizeof err);
        double v = pool ? read_bandwidth_here(pool) : 0;
        ssize_t w = write(fds[1], &v, sizeof v);
        _exit(w == (ssize_t)sizeof v ? 0 : 1);
    }
    close(fds[1]);
    if (pid > 0 && read(fds[0], &gbs, sizeof gbs) != (ssize_t)sizeof gbs)
        gbs = 0;
    close(fds[0]);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    return gbs;
}

static double read_bandwidth_here(nn_pool *pool)
{
    const size_t bytes = (size_t)1 << 30;
    bw_job b = {.words = bytes / 8};
    uint64_t *data = malloc(bytes);
    if (!data)
        return 0;
    for (size_t i = 0; i < b.words; i++)
        data[i] = i;
    b.data = data;
    double best = 0;
    for (int r = 0; r < 5; r++) {
        double t = now();
        nn_pool_run(pool, bw_task, &b, nn_pool_threads(pool));
        double gbs = (double)bytes / (now() - t) / 1e9;
        best = gbs > best ? gbs : best;
    }
    free(data);
    return best;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void random_ids(int32_t *ids, size_t n, uint64_t seed, int32_t below)
{
    nn_rng rng;
    nn_rng_seed(&rng, seed, "bench-prompt");
    for (size_t i = 0; i < n; i++)
        ids[i] = (int32_t)nn_rng_below(&rng, (uint64_t)below);
}

/* The --kv option among a mode's options; NN_KV_AUTO when absent, -1 when unknown. */
static int kv_option(int argc, char **argv, nn_kv_type *kv)
{
    *kv = NN_KV_AUTO;
    for (int i = 0; i + 1 < argc; i += 2)
        if (strcmp(argv[i], "--kv") == 0 && !nn_kv_type_parse(argv[i + 1], kv)) {
            fprintf(stderr, "bench_llm: --kv takes auto, f32 or f16, not '%s'\n", argv[i + 1]);
            return -1;
        }
    return 0;
}

static nn_qwen2 *load(const char *dir, nn_weight_type type, nn_kv_type kv, double *seconds)
{
    char llm[4200], err[1024];
    snprintf(llm, sizeof llm, "%s/LLM", dir);
    nn_qwen2_options opt = {.weights = type, .int8_block = 64, .kv_cache = kv};
    double t = now();
    nn_qwen2 *m = nn_qwen2_load(llm, &opt, err, sizeof err);
    *seconds = now() - t;
    if (!m)
        fprintf(stderr, "bench_llm: %s\n", err);
    return m;
}

/* The rows the grammar allows in the semantic section: semantic tokens and the end. */
static int32_t *semantic_rows(const char *dir, size_t *n)
{
    char path[4200], err[512];
    snprintf(path, sizeof path, "%s/LLM/added_tokens.json", dir);
    nn_spark_ids ids;
    if (nn_spark_ids_load(path, &ids, err, sizeof err)) {
        fprintf(stderr, "bench_llm: %s\n", err);
        return NULL;
    }
    *n = (size_t)ids.semantic_count + 1;
    int32_t *rows = malloc(*n * sizeof *rows);
    rows[0] = ids.im_end; /* below the semantic range in every Spark vocabulary */
    for (int32_t i = 0; i < ids.semantic_count; i++)
        rows[1 + i] = ids.semantic_first + i;
    return rows;
}

static int speed(const char *dir, nn_weight_type type, int argc, char **argv)
{
    size_t threads[8] = {1, 2}, n_threads = 2, contexts[8] = {300, 2000}, n_ctx = 2;
    size_t prompt_len = 300, steps = 32;
    for (int i = 0; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--threads") == 0)
            n_threads = parse_list(argv[i + 1], threads, 8);
        else if (strcmp(argv[i], "--contexts") == 0)
            n_ctx = parse_list(argv[i + 1], contexts, 8);
        else if (strcmp(argv[i], "--prompt") == 0)
            prompt_len = strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--steps") == 0)
            steps = strtoul(argv[i + 1], NULL, 10);
    }
    if (!steps) {
        fprintf(stderr, "bench_llm: --steps must be at least 1\n");
        return 2;
    }
    double activation;
    nn_kv_type kv;
    if (kv_option(argc, argv, &kv))
        return 2;
    nn_qwen2 *m = load(dir, type, kv, &activation);
    if (!m)
        return 1;
    size_t n_rows;
    int32_t *rows = semantic_rows(dir, &n_rows);
    if (!rows)
        return 1;
    const nn_qwen2_config *c = nn_qwen2_config_of(m);
    printf("weights %s, KV cache %s: %.0f MiB, activation %.2f s, peak RSS after activation "
           "%.0f MiB\n",
           nn_weight_type_name(type), nn_kv_type_name(nn_qwen2_kv_type(m)),
           (double)nn_qwen2_weight_bytes(m) / 1048576.0, activation, peak_rss_mib());
    size_t max_ctx = prompt_len;
    for (size_t i = 0; i < n_ctx; i++)
        max_ctx = contexts[i] > max_ctx ? contexts[i] : max_ctx;
    int32_t *ids = malloc((max_ctx + steps) * sizeof *ids);
    random_ids(ids, max_ctx + steps, 1, 151643 < c->vocab_size ? 151643 : 1000);
    float *logits = malloc(n_rows * sizeof *logits);
    double *step_seconds = malloc((steps ? steps : 1) * sizeof *step_seconds);
    char err[512];
    for (size_t t = 0; t < n_threads; t++) {
        nn_pool *pool = nn_pool_create((int)threads[t], err, sizeof err);
        nn_qwen2_ctx *ctx = nn_qwen2_ctx_new(m);
        if (!pool || !ctx || nn_qwen2_ctx_reserve(ctx, max_ctx + steps, err, sizeof err)) {
            fprintf(stderr, "bench_llm: %s\n", err);
            return 1;
        }
        double bw = read_bandwidth((int)threads[t]);
        double best = 1e30;
        for (int r = 0; r < 2; r++) {
            nn_qwen2_ctx_clear(ctx);
            double t0 = now();
            nn_qwen2_forward(ctx, pool, ids, prompt_len, rows, n_rows, logits, err, sizeof err);
            double dt = now() - t0;
            best = dt < best ? dt : best;
        }
        printf("  %zu thread%s: read bandwidth %.1f GB/s; prefill %zu tokens: %.1f tokens/s\n",
               threads[t], threads[t] > 1 ? "s" : "", bw, prompt_len,
               (double)prompt_len / best);
        for (size_t k = 0; k < n_ctx; k++) {
            nn_qwen2_ctx_clear(ctx);
            nn_qwen2_forward(ctx, pool, ids, contexts[k], NULL, 0, NULL, err, sizeof err);
            double t0 = now();
            for (size_t s = 0; s < steps; s++) {
                double ts = now();
                nn_qwen2_forward(ctx, pool, ids + contexts[k] + s, 1, rows, n_rows, logits, err,
                                 sizeof err);
                step_seconds[s] = now() - ts;
            }
            double tps = (double)steps / (now() - t0);
            /* the median and the fastest step: on a shared machine, other work moves the
             * mean */
            qsort(step_seconds, steps, sizeof *step_seconds, compare_double);
            double median_tps = 1.0 / step_seconds[steps / 2], best_tps = 1.0 / step_seconds[0];
            size_t bytes = nn_qwen2_decode_bytes(m, contexts[k] + steps / 2, n_rows);
            printf("    decode at context %zu (head %zu rows): %.1f tokens/s (median step %.1f, "
                   "fastest %.1f); %.1f MB per token, bandwidth bound %.1f tokens/s (%.0f%%)\n",
                   contexts[k], n_rows, tps, median_tps, best_tps, (double)bytes / 1e6,
                   bw * 1e9 / (double)bytes, 100.0 * tps / (bw * 1e9 / (double)bytes));
        }
        nn_qwen2_ctx_free(ctx);
        nn_pool_destroy(pool);
    }
    printf("  peak RSS %.0f MiB\n", peak_rss_mib());
    free(step_seconds);
    free(logits);
    free(ids);
    free(rows);
    nn_qwen2_free(m);
    return 0;
}

static int agreement(const char *dir, nn_weight_type type, int argc, char **argv)
{
    size_t steps = 500, threads = 2;
    for (int i = 0; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--steps") == 0)
            steps = strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--threads") == 0)
            threads = strtoul(argv[i + 1], NULL, 10);
    }
    double t_ref, t_test;
    nn_kv_type kv;
    if (kv_option(argc, argv, &kv))
        return 2;
    nn_qwen2 *ref = load(dir, NN_WEIGHT_F32, NN_KV_F32, &t_ref);
    nn_qwen2 *test = ref ? load(dir, type, kv, &t_test) : NULL;
    if (!test)
        return 1;
    const size_t vocab = (size_t)nn_qwen2_config_of(ref)->vocab_size;
    char err[512];
    nn_pool *pool = nn_pool_create((int)threads, err, sizeof err);
    nn_qwen2_ctx *cr = nn_qwen2_ctx_new(ref), *ct = nn_qwen2_ctx_new(test);
    float *lr = malloc(vocab * sizeof *lr), *lt = malloc(vocab * sizeof *lt);
    int32_t prompt[64];
    random_ids(prompt, 64, 2, vocab > 151643 ? 151643 : (int32_t)vocab);
    size_t agree = 0;
    double max_err = 0, sum_err = 0, min_cos = 1, sum_cos = 0;
    int32_t next = 0;
    for (size_t s = 0; s < steps; s++) {
        const int32_t *in = s == 0 ? prompt : &next;
        size_t n = s == 0 ? 64 : 1;
        if (nn_qwen2_forward(cr, pool, in, n, NULL, 0, lr, err, sizeof err) ||
            nn_qwen2_forward(ct, pool, in, n, NULL, 0, lt, err, sizeof err)) {
            fprintf(stderr, "bench_llm: %s\n", err);
            return 1;
        }
        ptrdiff_t ar = nn_argmax(lr, vocab, NULL), at = nn_argmax(lt, vocab, NULL);
        agree += ar == at;
        double dot = 0, nr = 0, nt = 0, e_sum = 0;
        for (size_t i = 0; i < vocab; i++) {
            double e = fabs((double)lr[i] - lt[i]);
            max_err = e > max_err ? e : max_err;
            e_sum += e;
            dot += (double)lr[i] * lt[i];
            nr += (double)lr[i] * lr[i];
            nt += (double)lt[i] * lt[i];
        }
        sum_err += e_sum / (double)vocab;
        double cs = dot / sqrt(nr * nt);
        min_cos = cs < min_cos ? cs : min_cos;
        sum_cos += cs;
        next = (int32_t)ar; /* both follow the f32 greedy path */
    }
    printf("%s (KV cache %s) vs f32 (KV cache f32) over %zu greedy steps (teacher-forced on "
           "the f32 tokens): argmax agreement %.1f%% (%zu/%zu), logit error max %.4g mean %.4g, "
           "cosine mean %.6f min %.6f\n",
           nn_weight_type_name(type), nn_kv_type_name(nn_qwen2_kv_type(test)), steps,
           100.0 * (double)agree / (double)steps, agree,
           steps, max_err, sum_err / (double)steps, sum_cos / (double)steps, min_cos);
    free(lr);
    free(lt);
    nn_qwen2_ctx_free(cr);
    nn_qwen2_ctx_free(ct);
    nn_pool_destroy(pool);
    nn_qwen2_free(ref);
    nn_qwen2_free(test);
    return 0;
}

int main(int argc, char **argv)
{
    nn_weight_type type;
    if (argc < 4 || !nn_weight_type_parse(argv[3], &type)) {
        fprintf(stderr, "usage: bench_llm speed|agreement MODEL_DIR f32|bf16|int8 [options]\n"
                        "(see the comment at the top of bench/llm/bench_llm.c)\n");
        return 2;
    }
    if (strcmp(argv[1], "speed") == 0)
        return speed(argv[2], type, argc - 4, argv + 4);
    if (strcmp(argv[1], "agreement") == 0)
        return agreement(argv[2], type, argc - 4, argv + 4);
    fprintf(stderr, "bench_llm: unknown mode '%s'\n", argv[1]);
    return 2;
}
