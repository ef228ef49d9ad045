#include "loudness_normalize.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peak_limiter.h"
#include "true_peak.h"

/* The limiter aims this far under the ceiling: other meters interpolate peaks with other
 * filters and may read a little higher than this one. */
#define CEILING_MARGIN_DB 0.2
/* Output peaks above ceiling - this (by either meter) send the limiter round again. */
#define CEILING_CHECK_DB 0.1
/* The limiter costs some loudness; passes that miss the target by more than this raise the
 * gain and go again. */
#define TARGET_TOLERANCE_LU 0.05
#define MAX_PASSES 10
/* Making up for the limiter may raise the gain at most this far over target - input:
 * beyond it the limiter would flatten speech and lift breaths and noise. */
#define MAX_MAKEUP_DB 12.0
/* Bounds of the loudness-per-gain slope and of one gain step, for the search above. */
#define MIN_SLOPE 0.1
#define MAX_STEP_DB 12.0

static double db_to_linear(double db)
{
    return pow(10.0, db / 20.0);
}

static double linear_to_db(double linear)
{
    return linear > 0.0 ? 20.0 * log10(linear) : -INFINITY;
}

/* How far libebur128's true peak can read under the real one: its oversampling (4x below
 * 96 kHz, 2x below 192 kHz, none above) can miss a peak by up to -20 log10(cos(pi / 2L)).
 * Infinite where it does not oversample. */
static double ebur128_under_read_db(uint32_t rate)
{
    if (rate < 96000)
        return 0.69;
    if (rate < 192000)
        return 3.02;
    return INFINITY;
}

/* Everything one normalisation needs besides the caller's planes. */
typedef struct normalize_work {
    float *original;  /* [channels * frames], the input */
    float *envelope;  /* [frames] true-peak envelope of the input */
    float *required;  /* [frames] gain each sample allows */
    float *gains;     /* [frames] limiter gain */
    true_peak_detector *detector;
} normalize_work;

static void work_free(normalize_work *work)
{
    free(work->original);
    free(work->envelope);
    free(work->required);
    free(work->gains);
    true_peak_free(work->detector);
}

static int work_init(normalize_work *work, const float *const *planes, uint32_t channels,
                     uint64_t frames, uint32_t rate)
{
    memset(work, 0, sizeof(*work));
    const size_t n = (size_t)(frames ? frames : 1);
    work->original = malloc(n * channels * sizeof(float));
    work->envelope = malloc(n * sizeof(float));
    work->required = malloc(n * sizeof(float));
    work->gains = malloc(n * sizeof(float));
    work->detector = true_peak_new(rate);
    if (!work->original || !work->envelope || !work->required || !work->gains ||
        !work->detector) {
        work_free(work);
        return -1;
    }
    for (uint32_t c = 0; c < channels; c++)
        memcpy(work->original + (size_t)c * frames, planes[c], (size_t)frames * sizeof(float));
    if (true_peak_envelope(work->detector, planes, channels, frames, work->envelope) != 0) {
        work_free(work);
        return -1;
    }
    return 0;
}

/* planes = original x gain, then x the limiter's curve when peaks would pass threshold.
 * Returns 1 when the limiter acted, 0 when it did not, -1 when out of memory. */
static int render(const normalize_work *work, float *const *planes, uint32_t channels,
                  uint64_t frames, uint32_t rate, const loudness_settings *settings,
                  double gain, double threshold, double *deepest)
{
    double input_peak = 0.0;
    for (uint64_t n = 0; n < frames; n++)
        if (work->envelope[n] > input_peak)
            input_peak = work->envelope[n];
    *deepest = 1.0;
    if (input_peak * gain <= threshold) {
        for (uint32_t c = 0; c < channels; c++)
            for (uint64_t n = 0; n < frames; n++)
                planes[c][n] = (float)(work->original[(size_t)c * frames + n] * gain);
        return 0;
    }
    for (uint64_t n = 0; n < frames; n++) {
        const double peak = work->envelope[n] * gain;
        work->required[n] = peak > threshold ? (float)(threshold / peak) : 1.0f;
    }
    peak_limiter_shape shape = {
        .lookahead = (uint32_t)ceil(settings->lookahead_ms * 1e-3 * rate),
        .guard = TRUE_PEAK_REACH,
        .release = exp(-1.0 / (settings->release_ms * 1e-3 * rate)),
    };
    if (peak_limiter_gains(work->required, frames, &shape, work->gains) != 0)
        return -1;
    for (uint64_t n = 0; n < frames; n++)
        if (work->gains[n] < *deepest)
            *deepest = work->gains[n];
    for (uint32_t c = 0; c < channels; c++)
        for (uint64_t n = 0; n < frames; n++)
            planes[c][n] =
                (float)(work->original[(size_t)c * frames + n] * gain * work->gains[n]);
    return 1;
}

/* The higher of libebur128's true peak and the limiter's own finer reading, in dBTP. */
static double output_peak_db(const normalize_work *work, float *const *planes,
                             uint32_t channels, uint64_t frames,
                             const loudness_measurement *measured)
{
    double own = linear_to_db(
        true_peak_max(work->detector, (const float *const *)planes, channels, frames));
    return own > measured->true_peak_dbtp ? own : measured->true_peak_dbtp;
}

int loudness_normalize(float *const *planes, uint32_t channels, uint64_t frames, uint32_t rate,
                       const loudness_settings *settings, const loudness_measurement *input,
                       loudness_keep_going keep_going, void *context, loudness_report *report,
                       char *reason, size_t cap)
{
    memset(report, 0, sizeof(*report));
    report->input = *input;
    report->output = *input;
    if (!isfinite(input->integrated_lufs) ||
        input->integrated_lufs < settings->silence_gate_lufs)
        return 0; /* silence: amplifying it would only make noise */

    double gain_db = settings->target_lufs - input->integrated_lufs;
    double threshold_db = settings->ceiling_dbtp - CEILING_MARGIN_DB;
    loudness_measurement measured = *input;
    /* Far enough under the ceiling, libebur128's own true peak settles it: one gain, no
     * per-sample peak analysis. */
    if (input->true_peak_dbtp + gain_db + ebur128_under_read_db(rate) <= threshold_db) {
        const double gain = db_to_linear(gain_db);
        for (uint32_t c = 0; c < channels; c++)
            for (uint64_t n = 0; n < frames; n++)
                planes[c][n] = (float)(planes[c][n] * gain);
        if (loudness_measure((const float *const *)planes, channels, frames, rate,
                             settings->dual_mono, &measured, reason, cap) != 0)
            return -1;
        report->normalized = 1;
        report->output = measured;
        report->gain_db = gain_db;
        return 0;
    }

    normalize_work work;
    if (work_init(&work, (const float *const *)planes, channels, frames, rate) != 0) {
        snprintf(reason, cap, "out of memory normalising %llu frames",
                 (unsigned long long)frames);
        return -1;
    }
    const double max_gain_db = gain_db + MAX_MAKEUP_DB;
    double deepest = 1.0;
    int limited = 0, result = 0;
    /* the previous limited pass, to find how much loudness a dB of gain still buys */
    double previous_gain_db = NAN, previous_lufs = NAN;
    double over = 0.0; /* dB by which the last pass came too close to the ceiling */
    for (int pass = 0; pass < MAX_PASSES; pass++) {
        if (keep_going && !keep_going(context)) {
            result = 1;
            goto done;
        }
        limited = render(&work, planes, channels, frames, rate, settings,
                         db_to_linear(gain_db), db_to_linear(threshold_db), &deepest);
        if (limited < 0) {
            snprintf(reason, cap, "out of memory in the limiter");
            result = -1;
            goto done;
        }
        if (loudness_measure((const float *const *)planes, channels, frames, rate,
                             settings->dual_mono, &measured, reason, cap) != 0) {
            result = -1;
            goto done;
        }
        over = output_peak_db(&work, planes, channels, frames, &measured) -
               (settings->ceiling_dbtp - CEILING_CHECK_DB);
        if (over > 0.0) {
            threshold_db -= over + 0.05;
            continue;
        }
        const double short_by = settings->target_lufs - measured.integrated_lufs;
        if (limited && fabs(short_by) > TARGET_TOLERANCE_LU && pass + 1 < MAX_PASSES) {
            /* The harder the limiter works, the less loudness each dB of gain adds: step
             * by the secant slope of the last two passes (1 at first). */
            double slope = 1.0;
            if (isfinite(previous_gain_db) && gain_db != previous_gain_db)
                slope = (measured.integrated_lufs - previous_lufs) / (gain_db - previous_gain_db);
            if (!(slope >= MIN_SLOPE))
                slope = MIN_SLOPE;
            if (slope > 1.0)
                slope = 1.0;
            previous_gain_db = gain_db;
            previous_lufs = measured.integrated_lufs;
            double step = short_by / slope;
            if (step > MAX_STEP_DB)
                step = MAX_STEP_DB;
            if (gain_db + step > max_gain_db)
                step = max_gain_db - gain_db;
            if (fabs(step) > 0.01) {
                gain_db += step;
                continue;
            }
        }
        break;
    }
    /* Still too close to the ceiling after every pass: scale down, which moves every peak
     * by exactly as much. */
    if (over > 0.0) {
        const double scale = db_to_linear(-over);
        for (uint32_t c = 0; c < channels; c++)
            for (uint64_t n = 0; n < frames; n++)
                planes[c][n] = (float)(planes[c][n] * scale);
        gain_db -= over;
        if (loudness_measure((const float *const *)planes, channels, frames, rate,
                             settings->dual_mono, &measured, reason, cap) != 0) {
            result = -1;
            goto done;
        }
    }
    report->normalized = 1;
    report->output = measured;
    report->gain_db = gain_db;
    report->limited = limited > 0;
    report->limiter_reduction_db = limited > 0 ? linear_to_db(deepest) : 0.0;
done:
    work_free(&work);
    return result;
}
