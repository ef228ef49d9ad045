/* word_aligner.h - places words in a stretch of speech: pauses split it into regions, word
 * groups go to regions by expected length and punctuation, and inside a region each word
 * boundary is chosen between its expected place and the nearby dips in level. */
#ifndef ALIGN_WORD_ALIGNER_H
#define ALIGN_WORD_ALIGNER_H

#include <stddef.h>

#include "speech_activity.h"
#include "word_units.h"

typedef struct word_timing {
    double start;  /* seconds from the first frame of the analysed signal */
    double end;
    double score;  /* 0..1: how well level dips and expected length agree with the place */
} word_timing;

typedef struct aligner_settings {
    double min_pause_seconds; /* a quieter stretch at least this long separates regions */
} aligner_settings;

/* Places words[count] in frames[first, end). out[count] gets ordered, non-overlapping
 * times within the stretch. Returns 0, or -1 when out of memory. */
int align_words(const speech_frames *frames, size_t first, size_t end, const word_unit *words,
                size_t count, const aligner_settings *settings, word_timing *out);

#endif
