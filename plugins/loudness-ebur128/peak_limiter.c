#include "peak_limiter.h"

#include <stdlib.h>

/* out[n] = min(in[k]) for k in [n - before, n + after], clipped to the signal: the
 * monotonic-queue sliding minimum, linear in frames. */
static int sliding_minimum(const float *in, uint64_t frames, uint64_t before, uint64_t after,
                           float *out)
{
    uint64_t *queue = malloc((size_t)(frames ? frames : 1) * sizeof(*queue));
    if (!queue)
        return -1;
    uint64_t head = 0, tail = 0; /* queue[head..tail): indices with increasing values */
    uint64_t next = 0;           /* next index to enter the window */
    for (uint64_t n = 0; n < frames; n++) {
        const uint64_t last = n + after < frames ? n + after : frames - 1;
        for (; next <= last; next++) {
            while (tail > head && in[queue[tail - 1]] >= in[next])
                tail--;
            queue[tail++] = next;
        }
        const uint64_t first = n >= before ? n - before : 0;
        while (queue[head] < first)
            head++;
        out[n] = in[queue[head]];
    }
    free(queue);
    return 0;
}

int peak_limiter_gains(const float *required, uint64_t frames, const peak_limiter_shape *shape,
                       float *gains)
{
    if (frames == 0)
        return 0;
    const uint64_t lookahead = shape->lookahead > 0 ? shape->lookahead : 1;
    float *floor = malloc((size_t)frames * sizeof(*floor));
    if (!floor)
        return -1;
    /* floor[i] covers every sample that the ramp ending at i + lookahead - 1 reaches. */
    if (sliding_minimum(required, frames, shape->guard, lookahead - 1 + shape->guard,
                        floor) != 0) {
        free(floor);
        return -1;
    }
    /* Release: the floor may only rise toward unity at the release rate. Lowering a value
     * keeps every bound. */
    double held = 1.0;
    for (uint64_t n = 0; n < frames; n++) {
        held = 1.0 - (1.0 - held) * shape->release;
        if (floor[n] < held)
            held = floor[n];
        floor[n] = (float)held;
    }
    /* Attack: the mean of the last `lookahead` floors. Each of them covers sample n, so the
     * mean cannot exceed what n requires; before the start the first floor stands in. */
    double sum = (double)floor[0] * (double)lookahead;
    for (uint64_t n = 0; n < frames; n++) {
        sum += (double)floor[n];
        sum -= n >= lookahead ? (double)floor[n - lookahead] : (double)floor[0];
        double gain = sum / (double)lookahead;
        /* a mean of values <= 1 is <= 1; the clamp only absorbs rounding */
        gains[n] = gain < 1.0 ? (float)gain : 1.0f;
    }
    free(floor);
    return 0;
}
