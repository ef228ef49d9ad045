/* The reference recording's front-end: upstream's volume normalisation (in f64, with its
 * quirks) and the fixed-length clip the speaker path reads. Spec 2.2, 2.3. */
#include "encoder/encoder_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Upstream's two gains, from the input's sorted magnitudes: *quiet_divisor (0: none) when the
 * peak is below 0.1, and *gain (0: none) from the loud samples. The magnitudes are sorted
 * once: the quiet-input gain does not re-sort them (the upstream quirk), so the "loud"
 * samples are those above 0.01 before that gain. */
static int normalization_gains(const float *in, size_t n, double *quiet_divisor, double *gain)
{
    *quiet_divisor = 0.0;
    *gain = 0.0;
    if (n == 0)
        return 0;
    double *sorted = malloc(n * sizeof *sorted);
    if (!sorted)
        return -1;
    for (size_t i = 0; i < n; i++)
        sorted[i] = fabs((double)in[i]);
    qsort(sorted, n, sizeof *sorted, compare_doubles);
    double peak = sorted[n - 1];
    if (peak < 0.1)
        *quiet_divisor = peak > 1e-3 ? peak : 1e-3;
    size_t first_loud = n;
    while (first_loud > 0 && sorted[first_loud - 1] > 0.01)
        first_loud--;
    size_t loud = n - first_loud;
    if (loud > 10) {
        size_t lo = (size_t)(0.9 * (double)loud), hi = (size_t)(0.99 * (double)loud);
        double sum = 0.0;
        for (size_t i = lo; i < hi; i++)
            sum += sorted[first_loud + i];
        double g = 0.2 / (sum / (double)(hi - lo));
        *gain = g < 0.1 ? 0.1 : g > 10.0 ? 10.0 : g;
    }
    free(sorted);
    return 0;
}

/* One sample through the gains, in upstream's operation order. */
static double apply_gains(float sample, double quiet_divisor, double gain)
{
    double x = (double)sample;
    if (quiet_divisor != 0.0)
        x = x / quiet_divisor * 0.1;
    if (gain != 0.0)
        x *= gain;
    return x;
}

int nn_volume_normalize(const float *in, size_t n, float *out, double *total_gain)
{
    double quiet_divisor, gain;
    if (normalization_gains(in, n, &quiet_divisor, &gain) != 0)
        return -1;
    double peak = 0.0;
    for (size_t i = 0; i < n; i++) {
        double m = fabs(apply_gains(in[i], quiet_divisor, gain));
        peak = m > peak ? m : peak;
    }
    /* The final peak limit belongs to the loud-sample branch only. */
    double limit = gain != 0.0 && peak > 1.0 ? peak : 0.0;
    for (size_t i = 0; i < n; i++) {
        double x = apply_gains(in[i], quiet_divisor, gain);
        out[i] = (float)(limit != 0.0 ? x / limit : x);
    }
    if (total_gain) {
        double g = quiet_divisor != 0.0 ? 0.1 / quiet_divisor : 1.0;
        g *= gain != 0.0 ? gain : 1.0;
        *total_gain = limit != 0.0 ? g / limit : g;
    }
    return 0;
}

void nn_reference_clip(const float *wav, size_t n, float *clip, size_t clip_len)
{
    for (size_t done = 0; done < clip_len;) {
        size_t take = clip_len - done < n ? clip_len - done : n;
        memcpy(clip + done, wav, take * sizeof *clip);
        done += take;
    }
}

size_t nn_reference_clip_length(const nn_spark_audio_config *audio)
{
    double samples = floor((double)audio->sample_rate * audio->ref_segment_duration);
    size_t hop = (size_t)audio->latent_hop_length;
    return hop ? (size_t)samples / hop * hop : (size_t)samples;
}
