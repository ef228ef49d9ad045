/* The compute foundation: the thread pool, the OpenBLAS-backed linear layer and CPU feature
 * detection (checked against the kernel's own /proc/cpuinfo flags). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "spark/nn/cpu.h"
#include "spark/nn/gemm.h"
#include "spark/nn/pool.h"

enum { MAX_TASKS = 64 };

typedef struct counts {
    atomic_int hits[MAX_TASKS];
    atomic_int wrong_total;
} counts;

static void count_task(void *ctx, int task, int n_tasks)
{
    counts *c = ctx;
    if (n_tasks > MAX_TASKS || task < 0 || task >= n_tasks)
        atomic_fetch_add(&c->wrong_total, 1);
    else
        atomic_fetch_add(&c->hits[task], 1);
}

static void test_every_task_runs_once(nn_pool *pool)
{
    /* many rounds with a piece count that changes every time: a late worker must never
     * take a piece count from the next dispatch */
    for (int round = 0; round < 30000; round++) {
        int n = 1 + round % MAX_TASKS;
        counts c;
        memset(&c, 0, sizeof c);
        nn_pool_run(pool, count_task, &c, n);
        int bad = atomic_load(&c.wrong_total);
        for (int i = 0; i < MAX_TASKS; i++)
            bad += atomic_load(&c.hits[i]) != (i < n ? 1 : 0);
        CHECK_INT_EQ(bad, 0);
        if (bad)
            return;
    }
}

typedef struct dispatcher_arg {
    nn_pool *pool;
    int failures;
} dispatcher_arg;

static void *dispatcher(void *arg)
{
    dispatcher_arg *d = arg;
    for (int round = 0; round < 500; round++) {
        counts c;
        memset(&c, 0, sizeof c);
        nn_pool_run(d->pool, count_task, &c, 17);
        for (int i = 0; i < 17; i++)
            d->failures += atomic_load(&c.hits[i]) != 1;
    }
    return NULL;
}

/* Two jobs sharing a pool: their dispatches are serialised and each sees all its tasks. */
static void test_concurrent_dispatchers(nn_pool *pool)
{
    pthread_t threads[2];
    dispatcher_arg args[2] = {{pool, 0}, {pool, 0}};
    for (int i = 0; i < 2; i++)
        pthread_create(&threads[i], NULL, dispatcher, &args[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    CHECK_INT_EQ(args[0].failures + args[1].failures, 0);
}

static void test_ranges_cover_exactly(void)
{
    size_t totals[] = {0, 1, 15, 16, 17, 1000, 4864, 151936};
    size_t aligns[] = {1, 16, 64};
    for (size_t t = 0; t < sizeof totals / sizeof *totals; t++)
        for (size_t a = 0; a < 3; a++)
            for (int n = 1; n <= 9; n++) {
                size_t expect_begin = 0;
                for (int i = 0; i < n; i++) {
                    size_t b, e;
                    nn_pool_range(totals[t], aligns[a], i, n, &b, &e);
                    CHECK(b == expect_begin || b == e);
                    CHECK(e >= b && e <= totals[t]);
                    if (e > b)
                        expect_begin = e;
                    if (e < totals[t] && e > b)
                        CHECK(e % aligns[a] == 0);
                }
                CHECK(expect_begin == totals[t]);
            }
}

static uint64_t lcg_state = 12345;
static float random_unit(void)
{
    lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((lcg_state >> 40) / (double)(1 << 24)) * 2.0f - 1.0f;
}

/* The linear layer against a double-precision loop, over shapes that take each split. */
static void test_linear_matches_naive(nn_pool *pool)
{
    size_t shapes[][3] = {{1, 896, 896}, {3, 4864, 896}, {300, 128, 64}, {7, 5, 3}, {64, 33, 17}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        size_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        float *x = malloc(m * k * sizeof *x), *w = malloc(n * k * sizeof *w);
        float *bias = malloc(n * sizeof *bias), *out = malloc(m * n * sizeof *out);
        for (size_t i = 0; i < m * k; i++)
            x[i] = random_unit();
        for (size_t i = 0; i < n * k; i++)
            w[i] = random_unit();
        for (size_t i = 0; i < n; i++)
            bias[i] = random_unit();
        for (int accumulate = 0; accumulate < 2; accumulate++) {
            for (size_t i = 0; i < m * n; i++)
                out[i] = 0.5f;
            nn_linear_f32(pool, m, n, k, x, k, w, k, s % 2 ? bias : NULL, out, n, accumulate);
            double worst = 0;
            for (size_t i = 0; i < m; i++)
                for (size_t j = 0; j < n; j++) {
                    double sum = (accumulate ? 0.5 : 0.0) + (s % 2 ? bias[j] : 0.0);
                    for (size_t q = 0; q < k; q++)
                        sum += (double)x[i * k + q] * w[j * k + q];
                    double d = fabs(sum - out[i * n + j]);
                    worst = d > worst ? d : worst;
                }
            CHECK(worst < 1e-3);
        }
        /* the plain product: w read as [k][n] */
        nn_matmul_f32(pool, m, n, k, x, k, w, n, out, n, false);
        double worst = 0;
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) {
                double sum = 0;
                for (size_t q = 0; q < k; q++)
                    sum += (double)x[i * k + q] * w[q * n + j];
                double d = fabs(sum - out[i * n + j]);
                worst = d > worst ? d : worst;
            }
        CHECK(worst < 1e-3);
        free(x), free(w), free(bias), free(out);
    }
}

static bool cpuinfo_has(const char *flag)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return false;
    char line[8192];
    bool found = false;
    size_t len = strlen(flag);
    while (!found && fgets(line, sizeof line, f)) {
        if (strncmp(line, "flags", 5) != 0)
            continue;
        for (char *p = strstr(line, flag); p && !found; p = strstr(p + 1, flag))
            found = (p[-1] == ' ' || p[-1] == '\t') && (p[len] == ' ' || p[len] == '\n');
        break;
    }
    fclose(f);
    return found;
}

static void test_cpu_features_match_kernel(void)
{
    if (getenv("SPARK_CPU_ISA")) {
        fprintf(stderr, "SPARK_CPU_ISA is set: feature check against /proc/cpuinfo not made\n");
        return;
    }
    const nn_cpu_features *f = nn_cpu();
    CHECK(f->avx2 == cpuinfo_has("avx2"));
    CHECK(f->fma == cpuinfo_has("fma"));
    CHECK(f->f16c == cpuinfo_has("f16c"));
    CHECK(f->avx512f == cpuinfo_has("avx512f"));
    CHECK(f->avx512bw == cpuinfo_has("avx512bw"));
    CHECK(f->avx512vl == cpuinfo_has("avx512vl"));
    CHECK(f->avx512vnni == cpuinfo_has("avx512_vnni"));
    CHECK(f->avx512bf16 == cpuinfo_has("avx512_bf16"));
    fprintf(stderr, "cpu: %s\n", nn_cpu_summary());
}

static void test_isa_cap(void)
{
    /* the cap is read once per process, so it is checked in a child */
    char self[4096], command[4200];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(len > 0);
    if (len <= 0)
        return;
    self[len] = 0;
    snprintf(command, sizeof command, "SPARK_CPU_ISA=scalar '%s' --print-isa", self);
    FILE *p = popen(command, "r");
    CHECK(p != NULL);
    if (!p)
        return;
    char buf[64] = "";
    CHECK(fgets(buf, sizeof buf, p) != NULL);
    pclose(p);
    CHECK_STR_EQ(buf, "scalar\n");
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--print-isa") == 0) {
        printf("%s\n", nn_isa_name(nn_cpu_isa()));
        return 0;
    }
    char err[256];
    CHECK(nn_pool_create(-1, err, sizeof err) == NULL);
    CHECK(strstr(err, "threads") != NULL);
    for (int threads = 1; threads <= 4; threads++) {
        nn_pool *pool = nn_pool_create(threads, err, sizeof err);
        CHECK(pool != NULL);
        if (!pool)
            continue;
        CHECK_INT_EQ(nn_pool_threads(pool), threads);
        test_every_task_runs_once(pool);
        test_concurrent_dispatchers(pool);
        test_linear_matches_naive(pool);
        nn_pool_destroy(pool);
    }
    test_linear_matches_naive(NULL);
    test_ranges_cover_exactly();
    test_cpu_features_match_kernel();
    test_isa_cap();
    return check_failures ? 1 : 0;
}
