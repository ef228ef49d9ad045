/* The true-peak interpolator against analytic sine peaks, and the limiter's gain curve
 * against its contract: never above what any sample within reach requires, ramps no
 * steeper than the look-ahead allows, and recovers at the release rate. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "peak_limiter.h"
#include "true_peak.h"

static const double pi = 3.14159265358979323846;

/* A sine's true peak is its amplitude whatever the phase and the sampling (sample peaks
 * fall short of it by up to 3 dB at fs/4): the detector reads it within 0.05 dB, less what
 * its oversampling grid can miss. */
static void test_true_peak_of_sines(void)
{
    const unsigned rates[] = { 16000, 22050, 24000, 44100, 48000 };
    for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
        true_peak_detector *detector = true_peak_new(rates[r]);
        CHECK(detector != NULL);
        if (!detector)
            continue;
        /* at least 4x, and at least 192 kHz after oversampling */
        CHECK(true_peak_factor(detector) >= 4);
        CHECK(true_peak_factor(detector) * rates[r] >= 192000);
        const double fractions[] = { 0.05, 0.25, 1.0 / 6.0, 0.4 }; /* of the rate */
        for (size_t f = 0; f < sizeof(fractions) / sizeof(fractions[0]); f++) {
            for (int p = 0; p < 4; p++) {
                const double phase = p * pi / 7.0 + 0.3;
                const unsigned frames = rates[r] / 4;
                float *x = malloc(frames * sizeof(float));
                for (unsigned n = 0; n < frames; n++)
                    x[n] = (float)(0.5 * sin(2.0 * pi * fractions[f] * n + phase));
                /* the envelope away from the ends, where the tone starts abruptly */
                const float *planes[1] = { x };
                float *envelope = malloc(frames * sizeof(float));
                CHECK_INT_EQ(true_peak_envelope(detector, planes, 1, frames, envelope), 0);
                double peak = 0.0;
                for (unsigned n = 200; n < frames - 200; n++)
                    peak = envelope[n] > peak ? envelope[n] : peak;
                free(envelope);
                const double error_db = 20.0 * log10(peak / 0.5);
                /* Between two oversampled points a crest can hide by up to half a step
                 * of phase: that much under-reading is the oversampling's, not an error. */
                const double step = pi * fractions[f] / true_peak_factor(detector);
                const double grid_db = -20.0 * log10(cos(step));
                if (error_db > 0.05 || error_db < -grid_db - 0.05)
                    fprintf(stderr, "rate %u, %.3f fs, phase %.2f: %.3f dB (grid %.3f dB)\n",
                            rates[r], fractions[f], phase, error_db, grid_db);
                CHECK(error_db <= 0.05);
                CHECK(error_db >= -grid_db - 0.05);
                free(x);
            }
        }
        true_peak_free(detector);
    }
}

static void test_limiter_contract(void)
{
    const uint64_t frames = 20000;
    float *required = malloc(frames * sizeof(float));
    float *gains = malloc(frames * sizeof(float));
    uint32_t state = 7;
    for (uint64_t n = 0; n < frames; n++) {
        state = state * 1664525u + 1013904223u;
        /* mostly unity, with dips of random depth and length */
        required[n] = 1.0f;
        if ((state >> 24) < 3)
            required[n] = (float)((state >> 8) % 1000) / 1000.0f + 0.001f;
    }
    const peak_limiter_shape shape = { .lookahead = 120, .guard = 24,
                                       .release = exp(-1.0 / 2400.0) };
    CHECK_INT_EQ(peak_limiter_gains(required, frames, &shape, gains), 0);
    int over = 0, steep = 0;
    for (uint64_t n = 0; n < frames; n++) {
        float allowed = 1.0f;
        for (uint64_t k = n >= shape.guard ? n - shape.guard : 0;
             k <= n + shape.guard && k < frames; k++)
            allowed = required[k] < allowed ? required[k] : allowed;
        if (gains[n] > allowed * (1.0f + 1e-6f))
            over++;
        if (!(gains[n] > 0.0f && gains[n] <= 1.0f))
            over++;
        /* the downward ramp spreads any drop over the look-ahead */
        if (n > 0 && gains[n - 1] - gains[n] > 1.0f / shape.lookahead + 1e-6f)
            steep++;
    }
    CHECK_INT_EQ(over, 0);
    CHECK_INT_EQ(steep, 0);

    /* one dip to 0.1: the gain is back above 0.9 within about 2.3 release constants plus
     * the look-ahead, and not much sooner */
    for (uint64_t n = 0; n < frames; n++)
        required[n] = 1.0f;
    required[1000] = 0.1f;
    CHECK_INT_EQ(peak_limiter_gains(required, frames, &shape, gains), 0);
    CHECK(gains[1000] <= 0.1f + 1e-6f);
    CHECK(gains[1000 - shape.guard - shape.lookahead - 1] > 0.999f); /* untouched before */
    uint64_t back = 1000;
    while (back < frames && gains[back] < 0.9f)
        back++;
    const double recovery = (double)(back - 1000) / 2400.0; /* in release constants */
    fprintf(stderr, "recovery to 0.9 after a dip to 0.1: %.2f release constants\n", recovery);
    CHECK(recovery > 1.8 && recovery < 2.6);
    free(required);
    free(gains);
}

int main(void)
{
    test_true_peak_of_sines();
    test_limiter_contract();
    return CHECK_DONE();
}
