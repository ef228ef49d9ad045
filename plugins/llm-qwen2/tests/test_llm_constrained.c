/* test_llm_constrained.c - constrained decoding on the tiny random-weight model, where
 * unconstrained decoding emits garbage:
 *   - every generated sequence obeys the Spark-TTS output grammar, checked here by an
 *     independent reading of spec 3.5 (not by nn_grammar);
 *   - the logits of the allowed ids (the restricted head) equal those of an unconstrained
 *     forward over the same tokens;
 *   - the unconstrained greedy run on the same prompt breaks the grammar at once;
 *   - forced globals (same_voice) fed in one forward give the ids step-by-step decoding
 *     chose. */
#include "llm_test_util.h"

#include <math.h>

typedef struct shadow {
    nn_qwen2_ctx *ctx;   /* fed the same tokens, unconstrained */
    nn_pool *pool;
    const int32_t *prompt;
    size_t prompt_len;
    float *full;         /* [vocab] */
    int32_t prev;
    double worst;
    size_t steps, rows_total, vocab;
} shadow;

static int compare_step(void *user, size_t step, int32_t id, const float *logits,
                        const int32_t *rows, size_t n_rows)
{
    shadow *s = user;
    char err[256];
    int rc = step == 0 ? nn_qwen2_forward(s->ctx, s->pool, s->prompt, s->prompt_len, NULL, 0,
                                          s->full, err, sizeof err)
                       : nn_qwen2_forward(s->ctx, s->pool, &s->prev, 1, NULL, 0, s->full, err,
                                          sizeof err);
    CHECK(rc == 0, "shadow forward: %s", err);
    CHECK(rows != NULL, "step %zu: a constrained step computed the whole head", step);
    bool allowed = false;
    for (size_t i = 0; rows && i < n_rows; i++) {
        double d = fabs((double)logits[i] - s->full[rows[i]]);
        s->worst = d > s->worst ? d : s->worst;
        allowed = allowed || rows[i] == id;
    }
    CHECK(allowed, "step %zu: id %d is not among the allowed rows", step, id);
    s->prev = id;
    s->steps++;
    s->rows_total += n_rows;
    return 0;
}

typedef enum { EXPECT_CONTROL, EXPECT_CLONE, EXPECT_SEMANTIC_ONLY } expect_shape;

/* Spec 3.5: control = <start_acoustic> pitch_value speed_value <end_acoustic> <start_global>
 * 32 x global <end_global> <start_semantic> semantic+ end; clone = <start_semantic>
 * semantic+ end; a prompt ending in the semantic section continues with semantic+ end.
 * A run cut by max_new_tokens may stop anywhere. Returns the index of the first id that
 * breaks it, or -1. */
static ptrdiff_t grammar_violation(const nn_spark_ids *ids, expect_shape shape,
                                   const int32_t *t, size_t n, int32_t end_id, bool complete)
{
#define IN(id, first, count) ((id) >= (first) && (id) < (first) + (count))
    size_t i = 0;
    if (shape == EXPECT_CONTROL) {
        int32_t fixed[5] = {ids->start_acoustic, -1, -1, ids->end_acoustic, ids->start_global};
        for (; i < 5 && i < n; i++) {
            bool ok = i == 1   ? IN(t[i], ids->pitch_value_first, ids->pitch_value_count)
                      : i == 2 ? IN(t[i], ids->speed_value_first, ids->speed_value_count)
                               : t[i] == fixed[i];
            if (!ok)
                return (ptrdiff_t)i;
        }
        for (; i < 5 + 32 && i < n; i++)
            if (!IN(t[i], ids->global_first, ids->global_count))
                return (ptrdiff_t)i;
        if (i < n && t[i++] != ids->end_global)
            return (ptrdiff_t)i - 1;
    }
    if (shape != EXPECT_SEMANTIC_ONLY && i < n && t[i++] != ids->start_semantic)
        return (ptrdiff_t)i - 1;
    size_t semantic = 0;
    for (; i < n; i++) {
        if (IN(t[i], ids->semantic_first, ids->semantic_count)) {
            semantic++;
            continue;
        }
        if (t[i] == end_id && semantic > 0 && i == n - 1)
            return -1;
        return (ptrdiff_t)i;
    }
    return complete ? (ptrdiff_t)n : -1;
#undef IN
}

static void run_case(const char *name, const nn_qwen2 *model, nn_pool *pool,
                     const nn_spark_ids *ids, const int32_t *prompt, size_t n,
                     expect_shape shape, nn_sampler_params sp, uint64_t seed, size_t max_new)
{
    const size_t vocab = (size_t)nn_qwen2_config_of(model)->vocab_size;
    char err[512];
    int32_t stop = ids->im_end;
    nn_grammar grammar;
    if (nn_grammar_init(&grammar, ids, (int32_t)vocab, &stop, 1, err, sizeof err)) {
        CHECK(0, "grammar: %s", err);
        return;
    }
    shadow s = {.ctx = nn_qwen2_ctx_new(model), .pool = pool, .prompt = prompt,
                .prompt_len = n, .full = malloc(vocab * sizeof(float)), .vocab = vocab};
    nn_qwen2_ctx *ctx = nn_qwen2_ctx_new(model);
    nn_generator *gen = nn_generator_new(model);
    int32_t *out = malloc(max_new * sizeof *out);
    nn_generate_params gp = {
        .sampling = sp, .seed = seed, .max_new_tokens = max_new,
        .stop_ids = &stop, .stop_count = 1,
        .grammar = &grammar, .grammar_mode = NN_GRAMMAR_AUTO,
        .on_token = compare_step, .user = &s,
    };
    nn_generate_result res;
    int rc = nn_generate(gen, ctx, pool, prompt, n, &gp, out, &res, err, sizeof err);
    CHECK(rc == 0, "%s: %s", name, err);
    ptrdiff_t bad = grammar_violation(ids, shape, out, res.tokens, stop,
                                      res.stop == NN_STOP_END);
    CHECK(bad < 0, "%s (seed %llu): id %d at %td breaks the grammar", name,
          (unsigned long long)seed, bad >= 0 && (size_t)bad < res.tokens ? out[bad] : -1, bad);
    CHECK(s.worst <= 1e-5, "%s: allowed logits differ from the unconstrained ones by %.3g", name,
          s.worst);
    printf("%-22s seed %llu: %3zu ids, stop %-14s; allowed-id logits vs unconstrained: max "
           "diff %.3g; head rows per step %.0f of %zu\n",
           name, (unsigned long long)seed, res.tokens, nn_stop_reason_name(res.stop), s.worst,
           s.steps ? (double)s.rows_total / (double)s.steps : 0.0, vocab);
    free(out);
    free(s.full);
    nn_generator_free(gen);
    nn_qwen2_ctx_free(ctx);
    nn_qwen2_ctx_free(s.ctx);
    nn_grammar_free(&grammar);
}

static int count_nulls(void *user, size_t step, int32_t id, const float *logits,
                       const int32_t *rows, size_t n_rows)
{
    (void)step;
    (void)id;
    (void)rows;
    size_t *nulls = user;
    *nulls += logits == NULL && n_rows == 0;
    return 0;
}

/* Forced globals (a job's later segments, same_voice) go in with <|start_global|> in one
 * forward: forcing the very globals a greedy run chose gives that run's ids again, and the
 * forced ids reach on_token without logits. */
static void check_forced_run(const nn_qwen2 *model, nn_pool *pool, const nn_spark_ids *ids,
                             const int32_t *prompt, size_t n)
{
    const size_t vocab = (size_t)nn_qwen2_config_of(model)->vocab_size, max_new = 90;
    char err[512];
    int32_t stop = ids->im_end, a[90], b[90], globals[32];
    nn_grammar grammar;
    if (nn_grammar_init(&grammar, ids, (int32_t)vocab, &stop, 1, err, sizeof err)) {
        CHECK(0, "grammar: %s", err);
        return;
    }
    nn_qwen2_ctx *ctx = nn_qwen2_ctx_new(model);
    nn_generator *gen = nn_generator_new(model);
    size_t nulls = 0;
    nn_generate_params gp = {.sampling = {.temperature = 0}, .max_new_tokens = max_new,
                             .stop_ids = &stop, .stop_count = 1, .grammar = &grammar,
                             .grammar_mode = NN_GRAMMAR_CONTROL, .on_token = count_nulls,
                             .user = &nulls};
    nn_generate_result ra, rb;
    CHECK(nn_generate(gen, ctx, pool, prompt, n, &gp, a, &ra, err, sizeof err) == 0,
          "unforced: %s", err);
    size_t g = 0;
    for (size_t i = 0; i < ra.tokens && g < 32; i++)
        if (a[i] >= ids->global_first && a[i] < ids->global_first + ids->global_count)
            globals[g++] = a[i];
    CHECK(g == 32 && nulls == 0, "the unforced run has %zu globals, %zu steps without logits",
          g, nulls);
    gp.forced_after = ids->start_global;
    gp.forced = globals;
    gp.forced_count = 32;
    CHECK(nn_generate(gen, ctx, pool, prompt, n, &gp, b, &rb, err, sizeof err) == 0,
          "forced: %s", err);
    size_t same = 0;
    while (same < ra.tokens && same < rb.tokens && a[same] == b[same])
        same++;
    CHECK(rb.tokens == ra.tokens && same == ra.tokens,
          "forcing the run's own globals changed its ids at %zu (%zu and %zu ids)", same,
          ra.tokens, rb.tokens);
    CHECK(nulls == 32, "%zu forced ids reached on_token without logits, not 32", nulls);
    printf("forced globals in one forward: %zu ids equal the unforced run's, stop %s\n", same,
           nn_stop_reason_name(rb.stop));
    nn_generator_free(gen);
    nn_qwen2_ctx_free(ctx);
    nn_grammar_free(&grammar);
}

int main(void)
{
    char *dir = make_tiny_model();
    char llm[512], path[600], err[512];
    snprintf(llm, sizeof llm, "%s/LLM", dir);
    snprintf(path, sizeof path, "%s/added_tokens.json", llm);
    nn_spark_ids ids;
    if (nn_spark_ids_load(path, &ids, err, sizeof err)) {
        fprintf(stderr, "FAIL: %s\n", err);
        return 1;
    }
    nn_qwen2_options opt = {.weights = NN_WEIGHT_F32};
    nn_qwen2 *model = nn_qwen2_load(llm, &opt, err, sizeof err);
    nn_pool *pool = nn_pool_create(2, err, sizeof err);
    if (!model || !pool) {
        fprintf(stderr, "FAIL: %s\n", err);
        return 1;
    }
    /* prompts as the prompt builder makes them (spec 3.5), text ids from the BPE range */
    const int32_t text[] = {300, 41, 512, 77, 8, 620};
    int32_t control[32], clone[64], transcript[80];
    size_t nc = 0, nk = 0, nt = 0;
    control[nc++] = ids.task_controllable;
    control[nc++] = ids.start_acoustic - 3; /* <|start_content|>: 165146 = 165149 - 3 */
    for (size_t i = 0; i < 6; i++)
        control[nc++] = text[i];
    control[nc++] = ids.end_acoustic - 3; /* <|end_content|>: 165152 = 165155 - 3 */
    clone[nk++] = ids.task_controllable - 6; /* <|task_tts|>: 165137 = 165143 - 6 */
    for (size_t i = 0; i < 6; i++)
        clone[nk++] = text[i];
    clone[nk++] = ids.start_global;
    for (int g = 0; g < 32; g++)
        clone[nk++] = ids.global_first + (g * 97) % ids.global_count;
    clone[nk++] = ids.end_global;
    memcpy(transcript, clone, nk * sizeof *clone);
    nt = nk;
    transcript[nt++] = ids.start_semantic;
    for (int i = 0; i < 20; i++)
        transcript[nt++] = ids.semantic_first + (i * 31) % ids.semantic_count;

    nn_sampler_params full = {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f};
    nn_sampler_params upstream = {.temperature = 0.8f, .top_k = 50, .top_p = 0.95f};
    nn_sampler_params greedy = {.temperature = 0};
    for (uint64_t seed = 1; seed <= 3; seed++)
        run_case("control, full dist.", model, pool, &ids, control, nc, EXPECT_CONTROL, full,
                 seed, 400);
    run_case("control, upstream", model, pool, &ids, control, nc, EXPECT_CONTROL, upstream, 9,
             400);
    run_case("control, greedy", model, pool, &ids, control, nc, EXPECT_CONTROL, greedy, 0, 120);
    check_forced_run(model, pool, &ids, control, nc);
    run_case("clone, full dist.", model, pool, &ids, clone, nk, EXPECT_CLONE, full, 4, 300);
    run_case("clone+transcript", model, pool, &ids, transcript, nt, EXPECT_SEMANTIC_ONLY, full,
             5, 300);

    /* the same control prompt without the grammar: garbage from the first id on */
    nn_qwen2_ctx *ctx = nn_qwen2_ctx_new(model);
    nn_generator *gen = nn_generator_new(model);
    int32_t out[64];
    int32_t stop = ids.im_end;
    nn_generate_params gp = {.sampling = greedy, .max_new_tokens = 64, .stop_ids = &stop,
                             .stop_count = 1};
    nn_generate_result res;
    CHECK(nn_generate(gen, ctx, pool, control, nc, &gp, out, &res, err, sizeof err) == 0,
          "unconstrained: %s", err);
    ptrdiff_t bad = grammar_violation(&ids, EXPECT_CONTROL, out, res.tokens, stop, false);
    CHECK(bad >= 0, "the unconstrained run happened to follow the grammar");
    printf("unconstrained greedy: breaks the grammar at id %td (%d)\n", bad,
           bad >= 0 ? out[bad] : -1);
    nn_generator_free(gen);
    nn_qwen2_ctx_free(ctx);

    nn_pool_destroy(pool);
    nn_qwen2_free(model);
    remove_tree(dir);
    if (test_failures) {
        fprintf(stderr, "%d checks failed\n", test_failures);
        return 1;
    }
    printf("all constrained-decoding checks passed\n");
    return 0;
}
