/* sub_text.c - grapheme clusters by utf8proc (UAX #29), so that emoji sequences, flags and
 * combining marks count once and are never cut apart. */
#include "sub_text.h"

#include <stdint.h>

#include <utf8proc.h>

/* Walks utf8[length] and returns the bytes of the first count clusters; *clusters gets how
 * many clusters were seen in that prefix. */
static size_t walk(const char *utf8, size_t length, size_t count, size_t *clusters)
{
    const utf8proc_uint8_t *s = (const utf8proc_uint8_t *)utf8;
    utf8proc_int32_t state = 0, previous = -1;
    size_t seen = 0, i = 0;
    while (i < length) {
        utf8proc_int32_t c;
        utf8proc_ssize_t n = utf8proc_iterate(s + i, (utf8proc_ssize_t)(length - i), &c);
        if (n <= 0) {
            c = 0xFFFD; /* invalid bytes count as one character each */
            n = 1;
        }
        if (previous < 0 || utf8proc_grapheme_break_stateful(previous, c, &state)) {
            if (seen == count)
                break;
            seen++;
        }
        previous = c;
        i += (size_t)n;
    }
    *clusters = seen;
    return i;
}

size_t sub_graphemes(const char *utf8, size_t length)
{
    size_t clusters;
    walk(utf8, length, SIZE_MAX, &clusters);
    return clusters;
}

size_t sub_grapheme_prefix(const char *utf8, size_t length, size_t count)
{
    size_t clusters;
    return walk(utf8, length, count, &clusters);
}
