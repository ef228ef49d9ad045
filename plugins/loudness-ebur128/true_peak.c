#include "true_peak.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Interpolator taps on each side of the point: a 48-sample Kaiser-windowed sinc passes
 * content up to about 0.9 x Nyquist within 0.05 dB, so clipped, bright material (whose
 * peaks sit near Nyquist) is not under-read. */
#define TRUE_PEAK_HALF_TAPS TRUE_PEAK_REACH
#define TRUE_PEAK_TAPS (2 * TRUE_PEAK_HALF_TAPS)
#define TRUE_PEAK_MIN_FACTOR 4u
#define TRUE_PEAK_MAX_FACTOR 16u
#define TRUE_PEAK_TARGET_RATE 192000u
#define KAISER_BETA 9.0
/* Samples filtered at a time: small enough to stay in the first-level cache. */
#define BLOCK_FRAMES 1024u

struct true_peak_detector {
    uint32_t factor;
    /* weights[(phase - 1) * TAPS + k] multiplies sample n - HALF_TAPS + 1 + k for the point
     * n + phase / factor, phase 1 .. factor - 1 (phase 0 is the sample itself). */
    double *weights;
};

/* Modified Bessel function of the first kind, order 0, by its power series. */
static double bessel_i0(double x)
{
    double sum = 1.0, term = 1.0;
    for (int k = 1; k < 50; k++) {
        term *= (x / (2.0 * k)) * (x / (2.0 * k));
        sum += term;
        if (term < sum * 1e-17)
            break;
    }
    return sum;
}

true_peak_detector *true_peak_new(uint32_t rate)
{
    true_peak_detector *detector = calloc(1, sizeof(*detector));
    if (!detector)
        return NULL;
    uint32_t factor = rate > 0 ? (TRUE_PEAK_TARGET_RATE + rate - 1) / rate : 1;
    if (factor < TRUE_PEAK_MIN_FACTOR)
        factor = TRUE_PEAK_MIN_FACTOR;
    if (factor > TRUE_PEAK_MAX_FACTOR)
        factor = TRUE_PEAK_MAX_FACTOR;
    detector->factor = factor;
    detector->weights = calloc((size_t)(factor - 1) * TRUE_PEAK_TAPS, sizeof(double));
    if (!detector->weights) {
        free(detector);
        return NULL;
    }
    const double pi = 3.14159265358979323846;
    const double window_norm = bessel_i0(KAISER_BETA);
    for (uint32_t phase = 1; phase < factor; phase++) {
        double *w = detector->weights + (size_t)(phase - 1) * TRUE_PEAK_TAPS;
        const double frac = (double)phase / (double)factor;
        double sum = 0.0;
        for (int k = 0; k < TRUE_PEAK_TAPS; k++) {
            /* distance from the point to sample n - HALF_TAPS + 1 + k */
            const double t = frac + (double)(TRUE_PEAK_HALF_TAPS - 1 - k);
            const double sinc = sin(pi * t) / (pi * t);
            const double r = t / (double)TRUE_PEAK_HALF_TAPS;
            const double window = r * r < 1.0 ? bessel_i0(KAISER_BETA * sqrt(1.0 - r * r)) /
                                                     window_norm
                                               : 0.0;
            w[k] = sinc * window;
            sum += w[k];
        }
        for (int k = 0; k < TRUE_PEAK_TAPS; k++)
            w[k] /= sum; /* unity gain at DC */
    }
    return detector;
}

void true_peak_free(true_peak_detector *detector)
{
    if (!detector)
        return;
    free(detector->weights);
    free(detector);
}

uint32_t true_peak_factor(const true_peak_detector *detector)
{
    return detector->factor;
}

/* sum[n] += weight * source[n]: separate buffers, so the compiler may vectorise it. */
static void multiply_add(float *restrict sum, const float *restrict source, float weight,
                         uint64_t frames)
{
    for (uint64_t n = 0; n < frames; n++)
        sum[n] += weight * source[n];
}

int true_peak_envelope(const true_peak_detector *detector, const float *const *planes,
                       uint32_t channels, uint64_t frames, float *envelope)
{
    for (uint64_t n = 0; n < frames; n++)
        envelope[n] = 0.0f;
    if (frames == 0)
        return 0;
    /* One channel with TRUE_PEAK_HALF_TAPS zeros before and after it (silence outside the
     * signal). Each block of samples is filtered phase by phase and tap by tap, so the inner
     * loop is a plain multiply-add over contiguous floats that stay in cache. */
    float *padded = calloc((size_t)frames + 2 * TRUE_PEAK_HALF_TAPS, sizeof(float));
    float weights[TRUE_PEAK_TAPS];
    float values[BLOCK_FRAMES];
    if (!padded)
        return -1;
    const uint32_t factor = detector->factor;
    for (uint32_t c = 0; c < channels; c++) {
        const float *x = planes[c];
        memcpy(padded + TRUE_PEAK_HALF_TAPS, x, (size_t)frames * sizeof(float));
        for (uint64_t n = 0; n < frames; n++) {
            const float magnitude = fabsf(x[n]);
            if (magnitude > envelope[n])
                envelope[n] = magnitude;
        }
        for (uint64_t start = 0; start < frames; start += BLOCK_FRAMES) {
            const uint64_t count = frames - start < BLOCK_FRAMES ? frames - start : BLOCK_FRAMES;
            for (uint32_t phase = 1; phase < factor; phase++) {
                const double *w = detector->weights + (size_t)(phase - 1) * TRUE_PEAK_TAPS;
                for (int k = 0; k < TRUE_PEAK_TAPS; k++)
                    weights[k] = (float)w[k];
                for (uint64_t n = 0; n < count; n++)
                    values[n] = 0.0f;
                /* tap k multiplies sample n - HALF_TAPS + 1 + k, at padded[n + 1 + k] */
                for (int k = 0; k < TRUE_PEAK_TAPS; k++)
                    multiply_add(values, padded + start + 1 + k, weights[k], count);
                for (uint64_t n = 0; n < count; n++) {
                    const float magnitude = fabsf(values[n]);
                    if (magnitude > envelope[start + n])
                        envelope[start + n] = magnitude;
                }
            }
        }
    }
    free(padded);
    return 0;
}

double true_peak_max(const true_peak_detector *detector, const float *const *planes,
                     uint32_t channels, uint64_t frames)
{
    float *envelope = malloc((size_t)(frames ? frames : 1) * sizeof(float));
    if (!envelope || true_peak_envelope(detector, planes, channels, frames, envelope) != 0) {
        free(envelope);
        return INFINITY; /* unknown: callers treat it as over any ceiling */
    }
    double peak = 0.0;
    for (uint64_t n = 0; n < frames; n++)
        if (envelope[n] > peak)
            peak = envelope[n];
    free(envelope);
    return peak;
}
