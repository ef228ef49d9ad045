/* grammar.c - the Spark-TTS output grammar for constrained decoding (spec 3.5, 3.6): in the
 * controllable mode an acoustic section, exactly 32 global tokens, then semantic tokens and
 * an end; in the cloning modes semantic tokens and an end. Each state allows a fixed sorted
 * id list, so the output head multiplies only those rows. This deviates from the reference
 * distribution (which allows every id) on purpose: it rules out the malformed outputs of
 * spec section 8. */
#define _POSIX_C_SOURCE 200809L
#include "spark/nn/qwen2.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    G_START_ACOUSTIC,
    G_PITCH,
    G_SPEED,
    G_END_ACOUSTIC,
    G_START_GLOBAL,
    G_GLOBALS,
    G_END_GLOBAL,
    G_START_SEMANTIC,
    G_FIRST_SEMANTIC, /* semantic tokens only: a run never ends without speech */
    G_SEMANTIC,       /* semantic tokens or an end id */
    G_DONE,
};

bool nn_grammar_mode_parse(const char *name, nn_grammar_mode *out)
{
    static const char *const names[] = {"off", "control", "clone", "auto"};
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, names[i]) == 0) {
            *out = (nn_grammar_mode)i;
            return true;
        }
    return false;
}

static int cmp_id(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int set_range(nn_grammar *g, int list, int32_t first, int32_t count)
{
    g->lists[list] = malloc((size_t)(count > 0 ? count : 1) * sizeof(int32_t));
    if (!g->lists[list])
        return -1;
    for (int32_t i = 0; i < count; i++)
        g->lists[list][i] = first + i;
    g->list_len[list] = (size_t)count;
    return 0;
}

int nn_grammar_init(nn_grammar *g, const nn_spark_ids *ids, int32_t vocab_size,
                    const int32_t *stop_ids, size_t stop_count, char *err, size_t err_size)
{
    memset(g, 0, sizeof *g);
    if (stop_count == 0 || stop_count > sizeof g->stop_ids / sizeof g->stop_ids[0]) {
        snprintf(err, err_size, "between 1 and 4 stop ids are needed, not %zu", stop_count);
        return -1;
    }
    for (size_t i = 0; i < stop_count; i++) {
        int32_t s = stop_ids[i];
        bool in_codes = (s >= ids->semantic_first && s < ids->semantic_first + ids->semantic_count) ||
                        (s >= ids->global_first && s < ids->global_first + ids->global_count);
        if (s < 0 || s >= vocab_size || in_codes) {
            snprintf(err, err_size, "stop id %d is outside the vocabulary or a code token", s);
            return -1;
        }
        g->stop_ids[i] = s;
    }
    g->stop_count = stop_count;
    int32_t hi = ids->semantic_first + ids->semantic_count;
    if (ids->semantic_count <= 0 || ids->global_count < NN_GRAMMAR_GLOBALS || hi > vocab_size ||
        ids->global_first + ids->global_count > vocab_size) {
        snprintf(err, err_size, "the code token ranges do not fit a vocabulary of %d", vocab_size);
        return -1;
    }
    int rc = set_range(g, G_START_ACOUSTIC, ids->start_acoustic, 1) ||
             set_range(g, G_PITCH, ids->pitch_value_first, ids->pitch_value_count) ||
             set_range(g, G_SPEED, ids->speed_value_first, ids->speed_value_count) ||
             set_range(g, G_END_ACOUSTIC, ids->end_acoustic, 1) ||
             set_range(g, G_START_GLOBAL, ids->start_global, 1) ||
             set_range(g, G_GLOBALS, ids->global_first, ids->global_count) ||
             set_range(g, G_END_GLOBAL, ids->end_global, 1) ||
             set_range(g, G_START_SEMANTIC, ids->start_semantic, 1) ||
             set_range(g, G_FIRST_SEMANTIC, ids->semantic_first, ids->semantic_count);
    if (!rc) {
        g->lists[G_SEMANTIC] = malloc(((size_t)ids->semantic_count + stop_count) * sizeof(int32_t));
        rc = !g->lists[G_SEMANTIC];
    }
    if (rc) {
        nn_grammar_free(g);
        snprintf(err, err_size, "out of memory for the grammar");
        return -1;
    }
    int32_t *sem = g->lists[G_SEMANTIC];
    memcpy(sem, g->lists[G_FIRST_SEMANTIC], (size_t)ids->semantic_count * sizeof *sem);
    size_t n = (size_t)ids->semantic_count;
    for (size_t i = 0; i < stop_count; i++) {
        bool dup = false;
        for (size_t j = 0; j < i; j++)
            dup = dup || stop_ids[j] == stop_ids[i];
        if (!dup)
            sem[n++] = stop_ids[i];
    }
    qsort(sem, n, sizeof *sem, cmp_id);
    g->list_len[G_SEMANTIC] = n;
    g->token_ids = *ids;
    return 0;
}

void nn_grammar_free(nn_grammar *g)
{
    for (size_t i = 0; i < sizeof g->lists / sizeof g->lists[0]; i++) {
        free(g->lists[i]);
        g->lists[i] = NULL;
        g->list_len[i] = 0;
    }
}

static bool is_semantic(const nn_spark_ids *ids, int32_t id)
{
    return id >= ids->semantic_first && id < ids->semantic_first + ids->semantic_count;
}

void nn_grammar_start(nn_grammar *g, nn_grammar_mode mode, const int32_t *prompt, size_t n)
{
    if (mode == NN_GRAMMAR_AUTO) {
        mode = NN_GRAMMAR_CLONE;
        for (size_t i = 0; i < n; i++)
            if (prompt[i] == g->token_ids.task_controllable)
                mode = NN_GRAMMAR_CONTROL;
    }
    g->mode = mode;
    g->globals_seen = 0;
    g->semantics_seen = 0;
    if (mode == NN_GRAMMAR_CONTROL)
        g->state = G_START_ACOUSTIC;
    else if (mode == NN_GRAMMAR_CLONE)
        /* clone with transcript: the prompt already ends inside the semantic section */
        g->state = n && (prompt[n - 1] == g->token_ids.start_semantic ||
                         is_semantic(&g->token_ids, prompt[n - 1]))
                       ? G_FIRST_SEMANTIC
                       : G_START_SEMANTIC;
    else
        g->state = G_DONE;
}

const int32_t *nn_grammar_allowed(const nn_grammar *g, size_t *count)
{
    if (g->mode == NN_GRAMMAR_OFF || g->state >= G_DONE) {
        *count = 0;
        return NULL;
    }
    *count = g->list_len[g->state];
    return g->lists[g->state];
}

void nn_grammar_advance(nn_grammar *g, int32_t id)
{
    if (g->mode == NN_GRAMMAR_OFF)
        return;
    switch (g->state) {
    case G_GLOBALS:
        if (++g->globals_seen == NN_GRAMMAR_GLOBALS)
            g->state = G_END_GLOBAL;
        break;
    case G_FIRST_SEMANTIC:
    case G_SEMANTIC:
        if (is_semantic(&g->token_ids, id)) {
            g->semantics_seen++;
            g->state = G_SEMANTIC;
        } else {
            g->state = G_DONE;
        }
        break;
    case G_DONE:
        break;
    default:
        g->state++;
        break;
    }
}
