/* word_aligner.c - the two dynamic programmes of the aligner: word groups to speech regions,
 * then word boundaries to frames inside each region. Both trade how far a duration is from
 * its expectation (squared log ratio) against evidence in the audio (a pause, a level dip). */
#include "word_aligner.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DURATION_WEIGHT 5.0    /* cost of a duration twice or half its expectation: 5·ln²2 */
#define GROUP_WEIGHT 2.0       /* the same for a word group against its region */
#define PUNCTUATION_BONUS 1.0  /* a region break after a word with clause punctuation */
#define BARE_BREAK_COST 0.3    /* a region break after a word without punctuation */
#define DIP_WEIGHT 0.8         /* a word boundary at a deep level dip */
#define DIP_SPAN_FRAMES 10     /* a dip is measured against the loudest frame this near */
#define DIP_FULL_DB 25.0       /* a dip this deep counts fully */
#define MIN_WORD_FRAMES 3
#define MAX_DP_CELLS (8u << 20) /* beyond this (minutes of speech without a pause) words are
                                   placed proportionally, to bound memory and time */

static double sq(double x) { return x * x; }

/* 0..1: how deep the level at the frames just before b lies below its surroundings. */
static double dip_at(const speech_frames *fr, size_t lo, size_t hi, size_t b)
{
    size_t a = b > lo ? b - 1 : b;
    float low = fr->level_db[a] < fr->level_db[b] ? fr->level_db[a] : fr->level_db[b];
    size_t from = b > lo + DIP_SPAN_FRAMES ? b - DIP_SPAN_FRAMES : lo;
    size_t to = b + DIP_SPAN_FRAMES < hi ? b + DIP_SPAN_FRAMES : hi - 1;
    float peak = low;
    for (size_t f = from; f <= to; f++)
        if (fr->level_db[f] > peak)
            peak = fr->level_db[f];
    double d = (peak - low) / DIP_FULL_DB;
    return d > 1 ? 1 : d;
}

/* Word boundaries inside frames [lo, hi) for words[0..k) whose expected lengths are
 * expect[0..k) (in frames, summing to hi - lo). Writes start frames to starts[0..k). */
static int place_in_region(const speech_frames *fr, size_t lo, size_t hi, const double *expect,
                           size_t k, size_t *starts, double *scores)
{
    size_t len = hi - lo;
    if (k == 1 || len < k * MIN_WORD_FRAMES || (double)k * (double)(len + 1) > MAX_DP_CELLS) {
        /* no room to choose: proportional places */
        double at = 0;
        for (size_t i = 0; i < k; i++) {
            starts[i] = lo + (size_t)at;
            at += expect[i];
            scores[i] = k == 1 ? 0.9 : 0.3;
        }
        for (size_t i = 1; i < k; i++)
            if (starts[i] < starts[i - 1])
                starts[i] = starts[i - 1];
        return 0;
    }
    /* cost[i][e]: words 0..i placed, word i ends at lo + e (exclusive) */
    size_t width = len + 1;
    double *cost = malloc(k * width * sizeof *cost);
    size_t *from = malloc(k * width * sizeof *from);
    double *dip = malloc(width * sizeof *dip);
    if (!cost || !from || !dip) {
        free(cost);
        free(from);
        free(dip);
        return -1;
    }
    for (size_t e = 0; e < width; e++)
        dip[e] = e > 0 && e < len ? dip_at(fr, lo, hi, lo + e) : 0;
    for (size_t i = 0; i < k * width; i++)
        cost[i] = DBL_MAX;
    for (size_t i = 0; i < k; i++) {
        double want = expect[i] > 1 ? expect[i] : 1;
        size_t dmax = (size_t)(want * 3.0) + MIN_WORD_FRAMES;
        for (size_t e = MIN_WORD_FRAMES * (i + 1); e + MIN_WORD_FRAMES * (k - 1 - i) <= len; e++) {
            if (i == k - 1 && e != len)
                continue;
            double best = DBL_MAX;
            size_t best_from = 0;
            for (size_t d = MIN_WORD_FRAMES; d <= dmax && d <= e; d++) {
                size_t s = e - d;
                double before;
                if (i == 0) {
                    if (s != 0)
                        continue;
                    before = 0;
                } else {
                    before = cost[(i - 1) * width + s];
                    if (before == DBL_MAX)
                        continue;
                    before -= DIP_WEIGHT * dip[s];
                }
                double c = before + DURATION_WEIGHT * sq(log((double)d / want));
                if (c < best) {
                    best = c;
                    best_from = s;
                }
            }
            cost[i * width + e] = best;
            from[i * width + e] = best_from;
        }
    }
    if (cost[(k - 1) * width + len] == DBL_MAX) {
        free(cost);
        free(from);
        free(dip);
        double at = 0;
        for (size_t i = 0; i < k; i++) {
            starts[i] = lo + (size_t)at;
            at += expect[i];
            scores[i] = 0.2;
        }
        return 0;
    }
    size_t e = len;
    for (size_t i = k; i-- > 0;) {
        size_t s = from[i * width + e];
        starts[i] = lo + s;
        double want = expect[i] > 1 ? expect[i] : 1;
        double fit = exp(-sq(log((double)(e - s) / want)));
        double evidence = i == 0 ? 1.0 : dip[s];
        scores[i] = fit * (0.5 + 0.5 * evidence);
        e = s;
    }
    free(cost);
    free(from);
    free(dip);
    return 0;
}

/* Merges the two regions with the shortest pause between them. */
static void merge_shortest_pause(speech_region *regions, size_t *count)
{
    size_t best = 0;
    size_t best_gap = (size_t)-1;
    for (size_t r = 0; r + 1 < *count; r++) {
        size_t gap = regions[r + 1].first - regions[r].end;
        if (gap < best_gap) {
            best_gap = gap;
            best = r;
        }
    }
    regions[best].end = regions[best + 1].end;
    memmove(regions + best + 1, regions + best + 2, (*count - best - 2) * sizeof *regions);
    (*count)--;
}

/* Chooses which words go to which region: group_start[r] is the first word of region r. */
static int assign_groups(const speech_region *regions, size_t nr, const word_unit *words,
                         size_t nw, size_t *group_start)
{
    double total_frames = 0, total_weight = 0;
    for (size_t r = 0; r < nr; r++)
        total_frames += (double)(regions[r].end - regions[r].first);
    for (size_t w = 0; w < nw; w++)
        total_weight += words[w].weight;
    double frames_per_unit = total_frames / (total_weight > 0 ? total_weight : 1);
    double *prefix = malloc((nw + 1) * sizeof *prefix);
    /* cost[r][w]: regions 0..r hold words 0..w-1 */
    double *cost = malloc((nr + 1) * (nw + 1) * sizeof *cost);
    size_t *from = malloc((nr + 1) * (nw + 1) * sizeof *from);
    if (!prefix || !cost || !from) {
        free(prefix);
        free(cost);
        free(from);
        return -1;
    }
    prefix[0] = 0;
    for (size_t w = 0; w < nw; w++)
        prefix[w + 1] = prefix[w] + words[w].weight;
    size_t W = nw + 1;
    for (size_t i = 0; i < (nr + 1) * W; i++)
        cost[i] = DBL_MAX;
    cost[0] = 0;
    for (size_t r = 1; r <= nr; r++) {
        double frames = (double)(regions[r - 1].end - regions[r - 1].first);
        for (size_t w = r; w + (nr - r) <= nw; w++) {
            if (r == nr && w != nw)
                continue;
            for (size_t s = r - 1; s < w; s++) {
                double before = cost[(r - 1) * W + s];
                if (before == DBL_MAX)
                    continue;
                double expect = (prefix[w] - prefix[s]) * frames_per_unit;
                double c = before + GROUP_WEIGHT * sq(log(frames / (expect > 1 ? expect : 1)));
                if (r < nr) /* a break follows word w - 1 */
                    c += words[w - 1].pause_after > 0 ? -PUNCTUATION_BONUS : BARE_BREAK_COST;
                if (c < cost[r * W + w]) {
                    cost[r * W + w] = c;
                    from[r * W + w] = s;
                }
            }
        }
    }
    size_t w = nw;
    for (size_t r = nr; r > 0; r--) {
        size_t s = from[r * W + w];
        group_start[r - 1] = s;
        w = s;
    }
    free(prefix);
    free(cost);
    free(from);
    return 0;
}

static void spread_evenly(double t0, double t1, size_t count, word_timing *out)
{
    double step = (t1 - t0) / (double)count;
    for (size_t i = 0; i < count; i++)
        out[i] = (word_timing){t0 + step * (double)i, t0 + step * (double)(i + 1), 0};
}

int align_words(const speech_frames *frames, size_t first, size_t end, const word_unit *words,
                size_t count, const aligner_settings *settings, word_timing *out)
{
    if (count == 0)
        return 0;
    if (end > frames->count)
        end = frames->count;
    double hop = frames->hop_seconds;
    size_t min_pause = (size_t)lround(settings->min_pause_seconds / hop);
    if (min_pause < 1)
        min_pause = 1;
    speech_region *regions = NULL;
    int found = speech_regions_find(frames, first, end, min_pause, &regions);
    if (found < 0)
        return -1;
    if (found == 0) {
        spread_evenly((double)first * hop, (double)end * hop, count, out);
        return 0;
    }
    size_t nr = (size_t)found;
    while (nr > count)
        merge_shortest_pause(regions, &nr);
    size_t *group_start = malloc(nr * sizeof *group_start);
    size_t *starts = malloc(count * sizeof *starts);
    double *expect = malloc(count * sizeof *expect);
    double *scores = malloc(count * sizeof *scores);
    int rc = -1;
    if (!group_start || !starts || !expect || !scores || assign_groups(regions, nr, words, count,
                                                                       group_start) < 0)
        goto done;
    for (size_t r = 0; r < nr; r++) {
        size_t g0 = group_start[r], g1 = r + 1 < nr ? group_start[r + 1] : count;
        size_t lo = regions[r].first, hi = regions[r].end;
        double sum = 0;
        for (size_t w = g0; w < g1; w++) {
            /* a pause inside the region belongs to the word before it */
            expect[w] = words[w].weight + (w + 1 < g1 ? words[w].pause_after : 0);
            sum += expect[w];
        }
        for (size_t w = g0; w < g1; w++)
            expect[w] *= (double)(hi - lo) / (sum > 0 ? sum : 1);
        if (place_in_region(frames, lo, hi, expect + g0, g1 - g0, starts + g0, scores + g0) < 0)
            goto done;
        for (size_t w = g0; w < g1; w++) {
            size_t stop = w + 1 < g1 ? starts[w + 1] : hi;
            out[w].start = (double)starts[w] * hop;
            out[w].end = (double)stop * hop;
            double s = scores[w];
            out[w].score = s < 0 ? 0 : s > 1 ? 1 : s;
        }
    }
    rc = 0;
done:
    free(regions);
    free(group_start);
    free(starts);
    free(expect);
    free(scores);
    return rc;
}
