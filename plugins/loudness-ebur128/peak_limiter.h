/* The gain curve of a look-ahead peak limiter, computed over a whole signal at once.
 * Free of SDK types. */
#ifndef PEAK_LIMITER_H
#define PEAK_LIMITER_H

#include <stdint.h>

typedef struct peak_limiter_shape {
    uint32_t lookahead; /* attack: samples over which the gain ramps down before a peak */
    uint32_t guard;     /* samples either side of a sample that its required gain covers
                           (the reach of the true-peak interpolator) */
    double release;     /* per-sample recovery factor toward unity, 0..1 (exp(-1/(T*rate))) */
} peak_limiter_shape;

/* gains[n] <= min(required[k]) over |k - n| <= guard, for every n, so applying gains never
 * leaves a sample over what `required` allows; it ramps down linearly over `lookahead`
 * samples before a reduction and recovers exponentially after it. required[n] is in 0..1.
 * 0 on success, -1 when out of memory. */
int peak_limiter_gains(const float *required, uint64_t frames, const peak_limiter_shape *shape,
                       float *gains);

#endif
