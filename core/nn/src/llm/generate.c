/* generate.c - the decode loop shared by the LLM node and `sparkhost generate`: prefill,
 * then one forward per token with the head restricted to what the grammar allows, sampling
 * in transformers' order, stop ids, min/max new tokens. Buffers are made once per job. */
#define _POSIX_C_SOURCE 200809L
#include "qwen2_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct nn_generator {
    const nn_qwen2 *model;
    float *logits; /* [vocab] */
    bool *banned;  /* [vocab], all false between steps */
    nn_sampler sampler;
};

const char *nn_stop_reason_name(nn_stop_reason reason)
{
    switch (reason) {
    case NN_STOP_END: return "end";
    case NN_STOP_MAX_NEW: return "max_new_tokens";
    case NN_STOP_CONTEXT: return "context_full";
    case NN_STOP_CALLER: return "stopped";
    }
    return "unknown";
}

nn_generator *nn_generator_new(const nn_qwen2 *model)
{
    nn_generator *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->model = model;
    g->logits = malloc(model->vocab * sizeof *g->logits);
    g->banned = calloc(model->vocab, sizeof *g->banned);
    if (!g->logits || !g->banned || nn_sampler_init(&g->sampler, model->vocab)) {
        nn_generator_free(g);
        return NULL;
    }
    return g;
}

void nn_generator_free(nn_generator *g)
{
    if (!g)
        return;
    free(g->logits);
    free(g->banned);
    nn_sampler_free(&g->sampler);
    free(g);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static bool is_stop(const nn_generate_params *p, int32_t id)
{
    for (size_t i = 0; i < p->stop_count; i++)
        if (p->stop_ids[i] == id)
            return true;
    return false;
}

/* index of id among the candidates (rows sorted, or every id), or -1 */
static ptrdiff_t candidate_index(const int32_t *rows, size_t n, int32_t id)
{
    if (!rows)
        return id >= 0 && (size_t)id < n ? id : -1;
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (rows[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && rows[lo] == id ? (ptrdiff_t)lo : -1;
}

static void mark_stops(nn_generator *g, const nn_generate_params *p, const int32_t *rows,
                       size_t n, bool value)
{
    for (size_t i = 0; i < p->stop_count; i++) {
        ptrdiff_t k = candidate_index(rows, n, p->stop_ids[i]);
        if (k >= 0)
            g->banned[k] = value;
    }
}

/* How many forced ids can follow the id about to go in, in the same forward: the rest of the
 * forced run, unless a limit (max_new_tokens, the context) or a stop id falls inside it. */
static size_t forced_run(const nn_generate_params *p, size_t forcing, size_t tokens,
                         size_t length, size_t limit)
{
    if (!p->forced || forcing >= p->forced_count)
        return 0;
    size_t run = p->forced_count - forcing;
    if (tokens + run >= p->max_new_tokens || length + 1 + run >= limit)
        return 0;
    for (size_t i = forcing; i < p->forced_count; i++)
        if (is_stop(p, p->forced[i]))
            return 0;
    return run;
}

int nn_generate(nn_generator *g, nn_qwen2_ctx *ctx, nn_pool *pool, const int32_t *prompt,
                size_t n, const nn_generate_params *p, int32_t *out,
                nn_generate_result *result, char *err, size_t err_size)
{
    const nn_qwen2 *m = g->model;
    memset(result, 0, sizeof *result);
    result->prompt_tokens = n;
    if (n == 0 || p->max_new_tokens == 0) {
        snprintf(err, err_size, n ? "max_new_tokens must be at least 1" : "the prompt is empty");
        return -1;
    }
    const size_t limit = (size_t)m->config.max_position_embeddings;
    if (n >= limit) {
        snprintf(err, err_size, "the prompt has %zu tokens; the model's context is %zu", n,
                 limit);
        return -1;
    }
    nn_qwen2_ctx_clear(ctx);
    size_t room = n + p->max_new_tokens < limit ? n + p->max_new_tokens : limit;
    if (nn_qwen2_ctx_reserve(ctx, room, err, err_size))
        return -1;
    nn_grammar *gr = p->grammar;
    if (gr)
        nn_grammar_start(gr, p->grammar_mode, prompt, n);
    nn_rng rng;
    nn_rng_seed(&rng, p->seed, "sampling");

    size_t n_rows = m->vocab;
    const int32_t *rows = gr ? nn_grammar_allowed(gr, &n_rows) : NULL;
    if (!rows)
        n_rows = m->vocab;
    double t0 = now_seconds();
    if (nn_qwen2_forward(ctx, pool, prompt, n, rows, n_rows, g->logits, err, err_size))
        return -1;
    double t1 = now_seconds();
    result->prefill_seconds = t1 - t0;
    size_t forcing = p->forced_count; /* the next forced id; forced_count: none */
    int32_t *batch = NULL;             /* an id and the forced run after it */
    if (p->forced && p->forced_count &&
        !(batch = malloc((p->forced_count + 1) * sizeof *batch))) {
        snprintf(err, err_size, "out of memory for %zu forced ids", p->forced_count);
        return -1;
    }
    int rc = 0;
    for (size_t step = 0;; step++) {
        bool ban = step < p->min_new_tokens;
        if (ban)
            mark_stops(g, p, rows, n_rows, true);
        int32_t id;
        if (p->forced && forcing < p->forced_count) {
            id = p->forced[forcing++];
        } else if (p->sampling.temperature <= 0) {
            ptrdiff_t k = nn_argmax(g->logits, n_rows, g->banned);
            id = k < 0 ? -1 : rows ? rows[k] : (int32_t)k;
        } else {
            size_t count = nn_sample_filter(&g->sampler, &p->sampling, g->logits, rows, n_rows,
                                            g->banned);
            id = count ? nn_sample_draw(&g->sampler, count, &rng) : -1;
        }
        if (ban)
            mark_stops(g, p, rows, n_rows, false);
        if (id < 0) {
            snprintf(err, err_size, "no token is allowed at step %zu", step);
            rc = -1;
            break;
        }
        out[result->tokens++] = id;
        if (p->forced && id == p->forced_after)
            forcing = 0;
        if (p->on_token && p->on_token(p->user, step, id, g->logits, rows, n_rows)) {
            result->stop = NN_STOP_CALLER;
            break;
        }
        if (is_stop(p, id)) {
            result->stop = NN_STOP_END;
            break;
        }
        if (result->tokens == p->max_new_tokens) {
            result->stop = NN_STOP_MAX_NEW;
            break;
        }
        if (nn_qwen2_ctx_length(ctx) >= limit) {
            result->stop = NN_STOP_CONTEXT;
            break;
        }
        if (gr)
            nn_grammar_advance(gr, id);
        /* A forced run right after id is known already: it goes in with id, in one forward
         * (a short prefill reads the weights once for all of them). */
        size_t run = forced_run(p, forcing, result->tokens, nn_qwen2_ctx_length(ctx), limit);
        size_t fed = 1;
        const int32_t *in = &id;
        if (run) {
            batch[0] = id;
            bool stopped = false;
            for (size_t i = 0; i < run && !stopped; i++) {
                int32_t f = p->forced[forcing++];
                batch[fed++] = f;
                out[result->tokens++] = f;
                step++;
                if (gr)
                    nn_grammar_advance(gr, f);
                stopped = p->on_token && p->on_token(p->user, step, f, NULL, NULL, 0);
            }
            if (stopped) {
                result->stop = NN_STOP_CALLER;
                break;
            }
            in = batch;
        }
        if (gr) {
            rows = nn_grammar_allowed(gr, &n_rows);
            if (!rows)
                n_rows = m->vocab;
        }
        if (nn_qwen2_forward(ctx, pool, in, fed, rows, n_rows, g->logits, err, err_size)) {
            rc = -1;
            break;
        }
    }
    free(batch);
    result->decode_seconds = now_seconds() - t1;
    return rc;
}
