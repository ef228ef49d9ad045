/* timings_json.h - word timings as the JSON document WhisperX returns:
 * {"segments":[{"start","end","text","words":[{"word","start","end","score"}]}],
 *  "word_segments":[{"word","start","end","score"}]}, times in seconds (3 decimals). */
#ifndef ALIGN_TIMINGS_JSON_H
#define ALIGN_TIMINGS_JSON_H

#include <stddef.h>

typedef struct timed_word {
    const char *text; /* UTF-8, NUL-terminated */
    double start, end, score;
} timed_word;

typedef struct timed_segment {
    const char *text;
    double start, end;
    const timed_word *words;
    size_t word_count;
} timed_segment;

/* The document (free it with free), or NULL when out of memory. */
char *timings_json(const timed_segment *segments, size_t count);

#endif
