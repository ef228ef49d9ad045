/* sampling.c - transformers' sampling order (TemperatureLogitsWarper, TopKLogitsWarper,
 * TopPLogitsWarper, softmax, multinomial) without sorting the vocabulary: a k-entry min-heap
 * finds the k-th largest value in one pass, and only the survivors are sorted. */
#define _POSIX_C_SOURCE 200809L
#include "spark/nn/qwen2.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct cand {
    float v;
    int32_t id;
} cand;

int nn_sampler_init(nn_sampler *s, size_t capacity)
{
    memset(s, 0, sizeof *s);
    s->ids = malloc(capacity * sizeof *s->ids);
    s->probs = malloc(capacity * sizeof *s->probs);
    s->heap = malloc(capacity * sizeof *s->heap);
    s->work = malloc(capacity * sizeof(cand));
    if (!s->ids || !s->probs || !s->heap || !s->work) {
        nn_sampler_free(s);
        return -1;
    }
    s->capacity = capacity;
    return 0;
}

void nn_sampler_free(nn_sampler *s)
{
    free(s->ids);
    free(s->probs);
    free(s->heap);
    free(s->work);
    memset(s, 0, sizeof *s);
}

ptrdiff_t nn_argmax(const float *logits, size_t n, const bool *banned)
{
    ptrdiff_t best = -1;
    for (size_t i = 0; i < n; i++)
        if (!(banned && banned[i]) && (best < 0 || logits[i] > logits[best]))
            best = (ptrdiff_t)i;
    return best;
}

static void sift_down(float *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && h[l] < h[m])
            m = l;
        if (r < n && h[r] < h[m])
            m = r;
        if (m == i)
            return;
        float t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void sift_up(float *h, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p] <= h[i])
            return;
        float t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

/* ascending value, equal values by ascending id: torch's CPU sort keeps equal values in
 * index order, and which of several tied ids top-p removes depends on it */
static int cand_ascending(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->v != y->v)
        return x->v < y->v ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

size_t nn_sample_filter(nn_sampler *s, const nn_sampler_params *p, const float *logits,
                        const int32_t *ids, size_t n, const bool *banned)
{
    if (p->temperature <= 0) {
        ptrdiff_t best = nn_argmax(logits, n, banned);
        if (best < 0)
            return 0;
        s->ids[0] = ids ? ids[best] : (int32_t)best;
        s->probs[0] = 1;
        return 1;
    }
    const float temperature = p->temperature;
    /* top-k: the k-th largest scaled logit among the allowed candidates */
    size_t allowed = 0;
    for (size_t i = 0; i < n; i++)
        allowed += !(banned && banned[i]);
    if (allowed == 0)
        return 0;
    float threshold = -INFINITY;
    if (p->top_k > 0 && (size_t)p->top_k < allowed) {
        size_t k = (size_t)p->top_k, filled = 0;
        for (size_t i = 0; i < n; i++) {
            if (banned && banned[i])
                continue;
            float v = logits[i] / temperature;
            if (filled < k) {
                s->heap[filled] = v;
                sift_up(s->heap, filled++);
            } else if (v > s->heap[0]) {
                s->heap[0] = v;
                sift_down(s->heap, k, 0);
            }
        }
        threshold = s->heap[0];
    }
    /* survivors of top-k (ties with the k-th value stay), then sorted ascending */
    if (allowed > s->capacity)
        return 0;
    cand *tmp = s->work;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (banned && banned[i])
            continue;
        float v = logits[i] / temperature;
        if (v >= threshold)
            tmp[m++] = (cand){v, ids ? ids[i] : (int32_t)i};
    }
    qsort(tmp, m, sizeof *tmp, cand_ascending);
    float mx = tmp[m - 1].v;
    size_t first = 0;
    if (p->top_p < 1.0f) {
        /* softmax over the survivors (the rest are -inf), cumulative sum as torch does on
         * the CPU (double accumulator, f32 result), compared with 1 - top_p in f32 */
        float sum = 0;
        for (size_t i = 0; i < m; i++)
            sum += expf(tmp[i].v - mx);
        const float limit = (float)(1.0 - (double)p->top_p);
        double cum = 0;
        for (size_t i = 0; i + 1 < m; i++) {
            cum += (double)(expf(tmp[i].v - mx) / sum);
            if ((float)cum <= limit)
                first = i + 1;
            else
                break;
        }
    }
    double total = 0;
    for (size_t i = first; i < m; i++)
        total += exp((double)tmp[i].v - (double)mx);
    size_t count = m - first;
    for (size_t i = 0; i < count; i++) {
        const cand *x = &tmp[m - 1 - i];
        s->ids[i] = x->id;
        s->probs[i] = (float)(exp((double)x->v - (double)mx) / total);
    }
    return count;
}

int32_t nn_sample_draw(const nn_sampler *s, size_t count, nn_rng *rng)
{
    double u = (double)(nn_rng_next(rng) >> 11) * 0x1.0p-53, cum = 0;
    for (size_t i = 0; i < count; i++) {
        cum += s->probs[i];
        if (u < cum)
            return s->ids[i];
    }
    return s->ids[count - 1];
}
