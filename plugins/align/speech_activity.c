/* speech_activity.c - frame levels, zero-crossing rate and the speech/pause decision. The
 * threshold follows the signal: a fixed distance below its loud frames, and above its noise
 * floor, so that both digitally silent pauses and noisy ones are found. */
#include "speech_activity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW_SECONDS 0.025
#define BELOW_LOUD_DB 38.0f   /* pause: this far below the loud (95th percentile) level */
#define ABOVE_FLOOR_DB 9.0f   /* ... and at least this far above the noise floor */
#define FRICATIVE_MARGIN_DB 10.0f
#define FRICATIVE_ZCR 0.25f
#define SILENT_DB -120.0f
#define QUIETEST_SPEECH_DB -70.0f /* quieter than this is never speech */

static int compare_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static float percentile(const float *values, size_t n, double p, float *scratch)
{
    memcpy(scratch, values, n * sizeof *scratch);
    qsort(scratch, n, sizeof *scratch, compare_float);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return scratch[i];
}

int speech_frames_analyse(const float *samples, size_t n, unsigned rate, speech_frames *out)
{
    memset(out, 0, sizeof *out);
    size_t hop = (size_t)lround(SPEECH_HOP_SECONDS * rate);
    size_t half = (size_t)lround(WINDOW_SECONDS * rate / 2);
    if (hop == 0)
        hop = 1;
    size_t count = (n + hop - 1) / hop;
    if (count == 0)
        return 0;
    out->level_db = malloc(count * sizeof(float));
    out->zcr = malloc(count * sizeof(float));
    out->speech = calloc(count, 1);
    float *scratch = malloc(count * sizeof(float));
    if (!out->level_db || !out->zcr || !out->speech || !scratch) {
        free(scratch);
        speech_frames_free(out);
        return -1;
    }
    out->count = count;
    out->hop_seconds = (double)hop / rate;
    for (size_t f = 0; f < count; f++) {
        size_t centre = f * hop + hop / 2;
        size_t a = centre > half ? centre - half : 0;
        size_t b = centre + half < n ? centre + half : n;
        double energy = 0;
        size_t crossings = 0;
        for (size_t i = a; i < b; i++) {
            energy += (double)samples[i] * samples[i];
            if (i > a && (samples[i] >= 0) != (samples[i - 1] >= 0))
                crossings++;
        }
        size_t len = b > a ? b - a : 1;
        double rms = sqrt(energy / (double)len);
        out->level_db[f] = rms > 1e-6 ? (float)(20.0 * log10(rms)) : SILENT_DB;
        out->zcr[f] = (float)crossings / (float)len;
    }
    float loud = percentile(out->level_db, count, 0.95, scratch);
    float floor_db = percentile(out->level_db, count, 0.05, scratch);
    free(scratch);
    float threshold = loud - BELOW_LOUD_DB;
    if (threshold < floor_db + ABOVE_FLOOR_DB)
        threshold = floor_db + ABOVE_FLOOR_DB;
    if (threshold > loud - 10.0f)
        threshold = loud - 10.0f; /* a signal without pauses: its quiet parts are speech */
    if (threshold < QUIETEST_SPEECH_DB)
        threshold = QUIETEST_SPEECH_DB;
    out->threshold_db = threshold;
    for (size_t f = 0; f < count; f++) {
        float level = out->level_db[f];
        out->speech[f] = level >= threshold ||
                         (level >= threshold - FRICATIVE_MARGIN_DB && level >= QUIETEST_SPEECH_DB &&
                          out->zcr[f] > FRICATIVE_ZCR);
    }
    return 0;
}

void speech_frames_free(speech_frames *frames)
{
    free(frames->level_db);
    free(frames->zcr);
    free(frames->speech);
    memset(frames, 0, sizeof *frames);
}

int speech_regions_find(const speech_frames *frames, size_t first, size_t end,
                        size_t min_pause_frames, speech_region **out)
{
    *out = NULL;
    if (end > frames->count)
        end = frames->count;
    size_t cap = 8, count = 0;
    speech_region *regions = NULL;
    size_t f = first;
    while (f < end) {
        while (f < end && !frames->speech[f])
            f++;
        if (f >= end)
            break;
        size_t start = f, last_speech = f;
        /* extend over gaps shorter than a pause */
        while (f < end) {
            if (frames->speech[f]) {
                last_speech = f;
            } else if (f - last_speech >= min_pause_frames) {
                break;
            }
            f++;
        }
        if (!regions || count == cap) {
            cap = regions ? cap * 2 : cap;
            speech_region *grown = realloc(regions, cap * sizeof *grown);
            if (!grown) {
                free(regions);
                return -1;
            }
            regions = grown;
        }
        regions[count++] = (speech_region){start, last_speech + 1};
        f = last_speech + 1;
    }
    *out = regions;
    return (int)count;
}
