/* speech_activity.h - short-time level and zero-crossing rate of a mono signal, which
 * frames are speech, and the speech regions between pauses. */
#ifndef ALIGN_SPEECH_ACTIVITY_H
#define ALIGN_SPEECH_ACTIVITY_H

#include <stddef.h>

#define SPEECH_HOP_SECONDS 0.01

typedef struct speech_frames {
    size_t count;          /* frames of about SPEECH_HOP_SECONDS */
    double hop_seconds;    /* the exact hop: a whole number of samples */
    float *level_db;       /* [count] RMS level of a 25 ms window centred on the frame */
    float *zcr;            /* [count] zero crossings per sample, 0..1 */
    unsigned char *speech; /* [count] 1 where the frame is speech (voiced or fricative) */
    float threshold_db;    /* the level that separates speech from pause */
} speech_frames;

typedef struct speech_region {
    size_t first; /* first frame */
    size_t end;   /* one past the last frame */
} speech_region;

/* Analyses samples[n] at rate Hz. Returns 0, or -1 when out of memory. */
int speech_frames_analyse(const float *samples, size_t n, unsigned rate, speech_frames *out);
void speech_frames_free(speech_frames *frames);

/* The speech regions of frames[first, end): runs of speech separated by pauses of at least
 * min_pause_frames (shorter gaps count as speech). Returns the count and sets *out (free
 * it; NULL when 0), or -1 when out of memory. */
int speech_regions_find(const speech_frames *frames, size_t first, size_t end,
                        size_t min_pause_frames, speech_region **out);

#endif
