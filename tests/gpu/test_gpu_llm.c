/* test_gpu_llm.c - the CUDA LLM against the CPU path on a synthetic model (the preset named
 * by argv[1], "tiny" or "full"):
 *   - prefill logits (a prompt longer than one prefill pass), f32 within 1e-3 relative; bf16
 *     against the CPU's bf16 model, measured and loosely bounded (the GPU's prefill GEMMs
 *     round their inputs to bf16);
 *   - decode one token at a time from a cache of 8 positions that grows to 96 (the decode
 *     graph is replayed across the growth), with and without graphs, every step's logits
 *     within 1e-3 (bf16 against the CPU's bf16 model: both multiply f32 activations);
 *   - the restricted head equals the same rows of the full head;
 *   - generation: greedy, seeded sampling (top-k + top-p on the GPU), top-k off (the host
 *     fallback), the Spark grammar with min_new_tokens, forced global tokens: the same tokens
 *     as nn_generate;
 *   - a batch of 3 and of 6 jobs (GEMV and GEMM decode steps), two threads generating at once
 *     on their own streams, and 6 threads whose steps a batcher runs together give each
 *     job's own tokens (the CPU's);
 *   - running out of device memory is an error message, and the context stays usable.
 * Without a GPU it exits 77 (skipped) and says why. */
#include "gpu_test_util.h"

#include <spark/nn/qwen2.h>
#include <spark/nn/qwen2_cuda.h>

#include <pthread.h>

static nn_qwen2 *cpu_model;
static nn_qwen2 *cpu_bf16; /* the same weights rounded as the GPU's bf16 ones */
static nn_pool *cpu_pool; /* every CPU: the reference side of the full preset is large */
static nn_qwen2_cuda *gpu_f32, *gpu_bf16;
static size_t vocab;

static void fill_prompt(int32_t *ids, size_t n, uint32_t seed)
{
    uint32_t s = seed;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        ids[i] = (int32_t)((s >> 8) % (uint32_t)vocab);
    }
}

static void test_prefill(void)
{
    enum { N = 300 };
    int32_t ids[N];
    fill_prompt(ids, N, 7);
    float *ref = malloc(vocab * sizeof *ref), *got = malloc(vocab * sizeof *got);
    char err[512];
    nn_qwen2 *cpus[2] = {cpu_model, cpu_bf16};
    nn_qwen2_cuda *models[2] = {gpu_f32, gpu_bf16};
    for (int k = 0; k < 2; k++) {
        nn_qwen2_ctx *cctx = nn_qwen2_ctx_new(cpus[k]);
        int rc = nn_qwen2_forward(cctx, cpu_pool, ids, N, NULL, 0, ref, err, sizeof err);
        CHECK(rc == 0, "CPU prefill: %s", err);
        nn_qwen2_ctx_free(cctx);
        nn_qwen2_cuda_ctx *g = nn_qwen2_cuda_ctx_new(models[k], err, sizeof err);
        CHECK(g, "context: %s", err);
        if (!g)
            continue;
        rc = nn_qwen2_cuda_forward(g, ids, N, NULL, 0, got, err, sizeof err);
        CHECK(rc == 0, "GPU prefill: %s", err);
        double e = rel_error(got, ref, vocab);
        printf("prefill %d tokens, %s weights: max relative logit error %.3g\n", N,
               k ? "bf16 (GEMM inputs rounded to bf16 on the GPU only)" : "f32", e);
        /* f32: the acceptance bound; bf16: the GPU's prefill GEMMs also round their inputs
         * to bf16 (the CPU's do not), so only a loose bound holds; the value is reported */
        CHECK(e < (k ? 5e-2 : 1e-3), "%s prefill logits differ by %.3g relative",
              k ? "bf16" : "f32", e);
        CHECK(nn_qwen2_cuda_ctx_length(g) == N, "length %zu", nn_qwen2_cuda_ctx_length(g));
        nn_qwen2_cuda_ctx_free(g);
    }
    free(ref);
    free(got);
}

/* Token by token from an 8-position cache: the graph keeps serving as the cache moves. */
static void test_decode_growth(const nn_qwen2 *cpu, nn_qwen2_cuda *model, const char *label,
                               double tol)
{
    enum { STEPS = 96 };
    int32_t ids[STEPS];
    fill_prompt(ids, STEPS, 11);
    float *ref = malloc(vocab * sizeof *ref), *got = malloc(vocab * sizeof *got);
    char err[512];
    nn_qwen2_ctx *cctx = nn_qwen2_ctx_new(cpu);
    nn_qwen2_cuda_ctx *g = nn_qwen2_cuda_ctx_new(model, err, sizeof err);
    CHECK(g, "context: %s", err);
    if (!g)
        return;
    CHECK(nn_qwen2_cuda_ctx_reserve(g, 8, err, sizeof err) == 0, "reserve: %s", err);
    double worst = 0;
    size_t grew = 0, cap = nn_qwen2_cuda_ctx_capacity(g);
    for (size_t t = 0; t < STEPS; t++) {
        int rc = nn_qwen2_forward(cctx, cpu_pool, &ids[t], 1, NULL, 0, ref, err, sizeof err);
        rc |= nn_qwen2_cuda_forward(g, &ids[t], 1, NULL, 0, got, err, sizeof err);
        CHECK(rc == 0, "step %zu: %s", t, err);
        double e = rel_error(got, ref, vocab);
        worst = e > worst ? e : worst;
        if (nn_qwen2_cuda_ctx_capacity(g) != cap) {
            grew++;
            cap = nn_qwen2_cuda_ctx_capacity(g);
        }
    }
    printf("decode %d steps (%s), cache grew %zu times: max relative logit error %.3g\n", STEPS,
           label, grew, worst);
    CHECK(grew >= 3, "the cache should have grown from 8 to 96 positions");
    CHECK(worst < tol, "%s decode logits differ by %.3g relative", label, worst);
    nn_qwen2_cuda_ctx_free(g);
    nn_qwen2_ctx_free(cctx);
    free(ref);
    free(got);
}

static void test_restricted_head(void)
{
    int32_t ids[5];
    fill_prompt(ids, 5, 3);
    int32_t rows[64];
    for (int i = 0; i < 64; i++)
        rows[i] = (int32_t)((size_t)i * 7919 % vocab);
    /* rows must be sorted for the grammar, not for the head: keep them unsorted here */
    float *full = malloc(vocab * sizeof *full), some[64];
    char err[512];
    nn_qwen2_cuda_ctx *a = nn_qwen2_cuda_ctx_new(gpu_f32, err, sizeof err);
    nn_qwen2_cuda_ctx *b = nn_qwen2_cuda_ctx_new(gpu_f32, err, sizeof err);
    int rc = nn_qwen2_cuda_forward(a, ids, 5, NULL, 0, full, err, sizeof err);
    rc |= nn_qwen2_cuda_forward(b, ids, 5, rows, 64, some, err, sizeof err);
    CHECK(rc == 0, "forward: %s", err);
    int same = 1;
    for (int i = 0; i < 64; i++)
        same &= some[i] == full[rows[i]];
    CHECK(same, "restricted head rows differ from the full head (prefill)");
    rc = nn_qwen2_cuda_forward(a, &ids[0], 1, NULL, 0, full, err, sizeof err);
    rc |= nn_qwen2_cuda_forward(b, &ids[0], 1, rows, 64, some, err, sizeof err);
    CHECK(rc == 0, "forward: %s", err);
    same = 1;
    for (int i = 0; i < 64; i++)
        same &= some[i] == full[rows[i]];
    CHECK(same, "restricted head rows differ from the full head (decode)");
    int32_t bad = (int32_t)vocab;
    rc = nn_qwen2_cuda_forward(b, &bad, 1, NULL, 0, full, err, sizeof err);
    CHECK(rc != 0 && strstr(err, "outside the vocabulary"), "id %d accepted: %s", bad, err);
    nn_qwen2_cuda_ctx_free(a);
    nn_qwen2_cuda_ctx_free(b);
    free(full);
}

typedef struct gen_case {
    const char *name;
    nn_generate_params params;
    bool grammar;
} gen_case;

static nn_spark_ids spark_ids;
static int32_t stop_ids[2];

/* The CPU's tokens for a case, into out; returns the count. */
static size_t cpu_generate(const gen_case *c, const int32_t *prompt, size_t n, int32_t *out,
                           nn_grammar *gr)
{
    char err[512];
    nn_qwen2_ctx *ctx = nn_qwen2_ctx_new(cpu_model);
    nn_generator *gen = nn_generator_new(cpu_model);
    nn_generate_params p = c->params;
    p.grammar = c->grammar ? gr : NULL;
    nn_generate_result res;
    int rc = nn_generate(gen, ctx, cpu_pool, prompt, n, &p, out, &res, err, sizeof err);
    CHECK(rc == 0, "%s: CPU generate: %s", c->name, err);
    nn_generator_free(gen);
    nn_qwen2_ctx_free(ctx);
    return rc ? 0 : res.tokens;
}

static void make_grammar(nn_grammar *gr)
{
    char err[512];
    int rc = nn_grammar_init(gr, &spark_ids, (int32_t)vocab, stop_ids, 2, err, sizeof err);
    if (rc) {
        fprintf(stderr, "grammar: %s\n", err);
        exit(1);
    }
}

static gen_case cases[5];
static int32_t forced_globals[NN_GRAMMAR_GLOBALS];

static void setup_cases(void)
{
    cases[0] = (gen_case){"greedy", {.max_new_tokens = 64}, false};
    cases[1] = (gen_case){"sampled",
                          {.sampling = {0.8f, 50, 0.95f}, .seed = 1234, .max_new_tokens = 64},
                          false};
    cases[2] = (gen_case){"top-k off (host fallback)",
                          {.sampling = {1.0f, 0, 0.9f}, .seed = 99, .max_new_tokens = 16},
                          false};
    cases[3] = (gen_case){"grammar",
                          {.sampling = {0.9f, 40, 0.9f},
                           .seed = 5,
                           .max_new_tokens = 80,
                           .min_new_tokens = 50,
                           .stop_ids = stop_ids,
                           .stop_count = 2,
                           .grammar_mode = NN_GRAMMAR_CONTROL},
                          true};
    /* a later segment's voice: the 32 globals after <|start_global_token|> are forced */
    for (int i = 0; i < NN_GRAMMAR_GLOBALS; i++)
        forced_globals[i] = spark_ids.global_first + (i * 7) % spark_ids.global_count;
    cases[4] = cases[3];
    cases[4].name = "grammar, forced globals";
    cases[4].params.seed = 6;
    cases[4].params.forced_after = spark_ids.start_global;
    cases[4].params.forced = forced_globals;
    cases[4].params.forced_count = NN_GRAMMAR_GLOBALS;
}

static void test_generate(void)
{
    int32_t prompt[40];
    fill_prompt(prompt, 40, 21);
    char err[512];
    nn_qwen2_cuda_ctx *g = nn_qwen2_cuda_ctx_new(gpu_f32, err, sizeof err);
    CHECK(g, "context: %s", err);
    if (!g)
        return;
    for (int k = 0; k < 5; k++) {
        const gen_case *c = &cases[k];
        nn_grammar gc, gg;
        if (c->grammar) {
            make_grammar(&gc);
            make_grammar(&gg);
        }
        int32_t want[128], got[128];
        size_t nw = cpu_generate(c, prompt, 40, want, &gc);
        nn_generate_params p = c->params;
        p.grammar = c->grammar ? &gg : NULL;
        nn_generate_result res;
        int rc = nn_qwen2_cuda_generate(g, prompt, 40, &p, got, &res, err, sizeof err);
        CHECK(rc == 0, "%s: GPU generate: %s", c->name, err);
        size_t same = 0;
        while (rc == 0 && same < nw && same < res.tokens && want[same] == got[same])
            same++;
        printf("generate %-26s CPU %zu tokens, GPU %zu, first %zu equal\n", c->name, nw,
               rc ? 0 : res.tokens, same);
        CHECK(rc == 0 && res.tokens == nw && same == nw, "%s: the GPU tokens differ", c->name);
        if (c->grammar) {
            nn_grammar_free(&gc);
            nn_grammar_free(&gg);
        }
    }
    nn_qwen2_cuda_ctx_free(g);
}

static void test_batch(size_t jobs)
{
    char err[512];
    nn_qwen2_cuda_batch *b = nn_qwen2_cuda_batch_new(gpu_f32, jobs, err, sizeof err);
    CHECK(b, "batch: %s", err);
    if (!b)
        return;
    nn_qwen2_cuda_ctx *ctxs[8];
    int32_t prompts[8][24], *pp[8], outs[8][128], *op[8], want[128];
    size_t lens[8];
    nn_generate_params params[8];
    nn_generate_result results[8];
    for (size_t i = 0; i < jobs; i++) {
        ctxs[i] = nn_qwen2_cuda_ctx_new(gpu_f32, err, sizeof err);
        fill_prompt(prompts[i], 24, (uint32_t)(100 + i));
        pp[i] = prompts[i];
        lens[i] = 12 + 2 * i; /* different lengths, so jobs sit at different positions */
        op[i] = outs[i];
        /* alternate greedy and sampled jobs, different lengths, so the batch shrinks */
        params[i] = i % 2 ? cases[1].params : cases[0].params;
        params[i].seed = 40 + i;
        params[i].max_new_tokens = 20 + 7 * i;
    }
    int rc = nn_qwen2_cuda_generate_batch(b, ctxs, jobs, (const int32_t *const *)pp, lens,
                                          params, op, results, err, sizeof err);
    CHECK(rc == 0, "batch of %zu: %s", jobs, err);
    size_t equal_jobs = 0;
    for (size_t i = 0; rc == 0 && i < jobs; i++) {
        gen_case c = {"batch job", params[i], false};
        size_t nw = cpu_generate(&c, prompts[i], lens[i], want, NULL);
        bool same = nw == results[i].tokens && memcmp(want, outs[i], nw * sizeof *want) == 0;
        equal_jobs += same;
        CHECK(same, "batch of %zu, job %zu: tokens differ from the CPU's", jobs, i);
    }
    printf("batch of %zu jobs: %zu give the CPU's tokens\n", jobs, equal_jobs);
    for (size_t i = 0; i < jobs; i++)
        nn_qwen2_cuda_ctx_free(ctxs[i]);
    nn_qwen2_cuda_batch_free(b);
}

typedef struct thread_job {
    int32_t prompt[30];
    int32_t out[128];
    nn_generate_result res;
    int rc;
    char err[512];
} thread_job;

static void *thread_main(void *arg)
{
    thread_job *j = arg;
    nn_qwen2_cuda_ctx *g = nn_qwen2_cuda_ctx_new(gpu_bf16, j->err, sizeof j->err);
    if (!g) {
        j->rc = -1;
        return NULL;
    }
    for (int rep = 0; rep < 3 && j->rc == 0; rep++)
        j->rc = nn_qwen2_cuda_generate(g, j->prompt, 30, &cases[1].params, j->out, &j->res,
                                       j->err, sizeof j->err);
    nn_qwen2_cuda_ctx_free(g);
    return NULL;
}

static void test_concurrent(void)
{
    thread_job solo[2], both[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        memset(&solo[i], 0, sizeof solo[i]);
        fill_prompt(solo[i].prompt, 30, (uint32_t)(500 + i));
        both[i] = solo[i];
        thread_main(&solo[i]);
        CHECK(solo[i].rc == 0, "solo job %d: %s", i, solo[i].err);
    }
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, thread_main, &both[i]);
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        CHECK(both[i].rc == 0, "concurrent job %d: %s", i, both[i].err);
        CHECK(both[i].res.tokens == solo[i].res.tokens &&
                  memcmp(both[i].out, solo[i].out, solo[i].res.tokens * sizeof(int32_t)) == 0,
              "concurrent job %d gave other tokens than alone", i);
    }
    printf("two threads on their own streams: the tokens they make alone\n");
}

typedef struct batcher_job {
    nn_qwen2_cuda_batcher *batcher;
    int32_t prompt[20];
    size_t n;
    nn_generate_params params;
    int32_t out[128];
    nn_generate_result res;
    int rc;
    char err[512];
} batcher_job;

static void *batcher_thread(void *arg)
{
    batcher_job *j = arg;
    nn_qwen2_cuda_ctx *g = nn_qwen2_cuda_ctx_new(gpu_f32, j->err, sizeof j->err);
    j->rc = g ? nn_qwen2_cuda_batcher_generate(j->batcher, g, j->prompt, j->n, &j->params,
                                               j->out, &j->res, j->err, sizeof j->err)
              : -1;
    nn_qwen2_cuda_ctx_free(g);
    return NULL;
}

static void test_batcher(void)
{
    enum { JOBS = 6 };
    char err[512];
    nn_qwen2_cuda_batcher *b = nn_qwen2_cuda_batcher_new(gpu_f32, 8, err, sizeof err);
    CHECK(b, "batcher: %s", err);
    if (!b)
        return;
    batcher_job jobs[JOBS];
    pthread_t th[JOBS];
    for (int i = 0; i < JOBS; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].batcher = b;
        fill_prompt(jobs[i].prompt, 20, (uint32_t)(900 + i));
        jobs[i].n = 10 + (size_t)i;
        jobs[i].params = i % 2 ? cases[1].params : cases[0].params;
        jobs[i].params.seed = 70 + (uint64_t)i;
        jobs[i].params.max_new_tokens = 15 + 6 * (size_t)i;
        pthread_create(&th[i], NULL, batcher_thread, &jobs[i]);
    }
    size_t equal = 0;
    for (int i = 0; i < JOBS; i++) {
        pthread_join(th[i], NULL);
        CHECK(jobs[i].rc == 0, "batcher job %d: %s", i, jobs[i].err);
        int32_t want[128];
        gen_case c = {"batcher job", jobs[i].params, false};
        size_t nw = cpu_generate(&c, jobs[i].prompt, jobs[i].n, want, NULL);
        bool same = jobs[i].rc == 0 && nw == jobs[i].res.tokens &&
                    memcmp(want, jobs[i].out, nw * sizeof *want) == 0;
        equal += same;
        CHECK(same, "batcher job %d: tokens differ from the CPU's", i);
    }
    printf("6 threads through the batcher: %zu give the CPU's tokens\n", equal);
    nn_qwen2_cuda_batcher_free(b);
}

static void test_out_of_memory(void)
{
    char err[512] = "";
    nn_qwen2_cuda_ctx *g = nn_qwen2_cuda_ctx_new(gpu_f32, err, sizeof err);
    CHECK(g, "context: %s", err);
    if (!g)
        return;
    int32_t ids[4];
    fill_prompt(ids, 4, 1);
    CHECK(nn_qwen2_cuda_forward(g, ids, 4, NULL, 0, NULL, err, sizeof err) == 0, "%s", err);
    nn_cuda_set_memory_limit(nn_cuda_allocated_bytes() + (1u << 20));
    int rc = nn_qwen2_cuda_ctx_reserve(g, 32768, err, sizeof err);
    printf("KV cache past the cap: %s\n", err);
    CHECK(rc != 0 && strstr(err, "out of GPU memory") && strstr(err, "KV cache"),
          "a reservation past the cap should fail with a clear message: %s", err);
    nn_cuda_set_memory_limit(0);
    void *huge = nn_cuda_alloc((size_t)1 << 50, "a 1 PiB test buffer", err, sizeof err);
    printf("1 PiB allocation: %s\n", err);
    CHECK(!huge && strstr(err, "out of GPU memory") && strstr(err, "1 PiB test buffer"),
          "an impossible allocation should fail with a clear message: %s", err);
    nn_cuda_free(huge);
    /* the context is intact */
    CHECK(nn_qwen2_cuda_forward(g, ids, 1, NULL, 0, NULL, err, sizeof err) == 0,
          "the context failed after the refused reservation: %s", err);
    CHECK(nn_qwen2_cuda_ctx_length(g) == 5, "length %zu", nn_qwen2_cuda_ctx_length(g));
    nn_qwen2_cuda_ctx_free(g);
}

int main(int argc, char **argv)
{
    const char *preset = argc > 1 ? argv[1] : "tiny";
    skip_without_gpu("test_gpu_llm");
    char *dir = make_synth_model(preset);
    char llm[512], path[600], err[512];
    snprintf(llm, sizeof llm, "%s/LLM", dir);
    snprintf(path, sizeof path, "%s/added_tokens.json", llm);
    if (nn_spark_ids_load(path, &spark_ids, err, sizeof err)) {
        fprintf(stderr, "FAIL: %s\n", err);
        return 1;
    }
    stop_ids[0] = spark_ids.end_semantic;
    stop_ids[1] = spark_ids.im_end;
    nn_qwen2_options opt = {.weights = NN_WEIGHT_F32};
    cpu_model = nn_qwen2_load(llm, &opt, err, sizeof err);
    if (!cpu_model) {
        fprintf(stderr, "FAIL: load: %s\n", err);
        return 1;
    }
    nn_qwen2_options opt_bf16 = {.weights = NN_WEIGHT_BF16};
    cpu_bf16 = nn_qwen2_load(llm, &opt_bf16, err, sizeof err);
    if (!cpu_bf16) {
        fprintf(stderr, "FAIL: load bf16: %s\n", err);
        return 1;
    }
    vocab = (size_t)nn_qwen2_config_of(cpu_model)->vocab_size;
    cpu_pool = nn_pool_create(0, err, sizeof err);
    if (!cpu_pool) {
        fprintf(stderr, "FAIL: pool: %s\n", err);
        return 1;
    }
    nn_qwen2_cuda_options f32 = {.weights = NN_WEIGHT_F32};
    nn_qwen2_cuda_options bf16 = {.weights = NN_WEIGHT_BF16};
    nn_qwen2_cuda_options f32_nograph = {.weights = NN_WEIGHT_F32, .no_graphs = true};
    gpu_f32 = nn_qwen2_cuda_upload(cpu_model, &f32, err, sizeof err);
    gpu_bf16 = gpu_f32 ? nn_qwen2_cuda_upload(cpu_model, &bf16, err, sizeof err) : NULL;
    nn_qwen2_cuda *gpu_nograph =
        gpu_bf16 ? nn_qwen2_cuda_upload(cpu_model, &f32_nograph, err, sizeof err) : NULL;
    if (!gpu_nograph) {
        fprintf(stderr, "FAIL: upload: %s\n", err);
        return 1;
    }
    char line[512];
    if (nn_cuda_memory_report(line, sizeof line, err, sizeof err) == 0)
        printf("after upload: %s\n", line);
    setup_cases();
    test_prefill();
    /* decode multiplies f32 activations on both sides: bf16 against the CPU's bf16 too */
    test_decode_growth(cpu_model, gpu_f32, "f32, graphs", 1e-3);
    test_decode_growth(cpu_model, gpu_nograph, "f32, no graphs", 1e-3);
    test_decode_growth(cpu_bf16, gpu_bf16, "bf16 against the CPU's bf16, graphs", 1e-3);
    test_restricted_head();
    test_generate();
    test_batch(3);
    test_batch(6);
    test_concurrent();
    test_batcher();
    test_out_of_memory();
    nn_qwen2_cuda_free(gpu_nograph);
    nn_qwen2_cuda_free(gpu_bf16);
    nn_qwen2_cuda_free(gpu_f32);
    nn_qwen2_free(cpu_model);
    nn_qwen2_free(cpu_bf16);
    nn_pool_destroy(cpu_pool);
    remove_synth_model(dir);
    CHECK(nn_cuda_allocated_bytes() == 0, "%zu device bytes still held after freeing all",
          nn_cuda_allocated_bytes());
    if (test_failures) {
        fprintf(stderr, "%d checks failed\n", test_failures);
        return 1;
    }
    printf("all GPU LLM checks passed\n");
    return 0;
}
