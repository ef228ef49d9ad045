/* Oversampled (true) peak detection for the limiter: the value of the band-limited signal
 * between samples, reconstructed with a windowed-sinc polyphase interpolator. libebur128
 * reports only one peak per channel; the limiter needs one per sample. Free of SDK types. */
#ifndef TRUE_PEAK_H
#define TRUE_PEAK_H

#include <stddef.h>
#include <stdint.h>

/* Samples either side of a point that its interpolated value depends on. */
#define TRUE_PEAK_REACH 24

typedef struct true_peak_detector true_peak_detector;

/* A detector for audio at rate Hz. It oversamples to at least 192 kHz (at least 4x), the
 * resolution of ffmpeg's ebur128 true-peak meter, so that a peak it clears is clear there
 * too. NULL when out of memory. */
true_peak_detector *true_peak_new(uint32_t rate);
void true_peak_free(true_peak_detector *detector);
/* The oversampling factor in use. */
uint32_t true_peak_factor(const true_peak_detector *detector);

/* envelope[n] = the largest |value| over every channel at sample n and at the oversampled
 * points between n and n + 1 (planes[channels][frames], silence assumed outside). 0, or -1
 * when out of memory. */
int true_peak_envelope(const true_peak_detector *detector, const float *const *planes,
                        uint32_t channels, uint64_t frames, float *envelope);

/* The largest value of that envelope (linear, 1.0 = 0 dBTP); INFINITY when out of memory,
 * so that a caller comparing it with a ceiling errs on the safe side. */
double true_peak_max(const true_peak_detector *detector, const float *const *planes,
                     uint32_t channels, uint64_t frames);

#endif
