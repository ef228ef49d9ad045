/* word_units.h - a sentence's text cut into the words the aligner places, each with the
 * duration its letters suggest (relative units) and the pause its punctuation suggests. */
#ifndef ALIGN_WORD_UNITS_H
#define ALIGN_WORD_UNITS_H

#include <stddef.h>

typedef struct word_unit {
    size_t byte_start;   /* in the sentence text */
    size_t byte_length;  /* the word with the punctuation attached to it */
    double weight;       /* expected spoken length, in seconds at an ordinary rate */
    double pause_after;  /* expected pause after it from its punctuation, seconds */
} word_unit;

/* Splits utf8[length] into words: runs between whitespace, every Han, kana and Hangul
 * character on its own, punctuation kept with the word before it (or the next word when
 * nothing comes before). Tokens without letters or digits join a neighbour. Returns the
 * number of words (0 for text without any) and sets *out (free it), or -1 when out of
 * memory or the text is not valid UTF-8. */
int word_units_split(const char *utf8, size_t length, word_unit **out);

#endif
