/* sentence_split.h - sentence boundaries in decoded text. No SDK types. */
#ifndef TEXT_SEGMENTER_SENTENCE_SPLIT_H
#define TEXT_SEGMENTER_SENTENCE_SPLIT_H

#include <stdbool.h>
#include <stddef.h>

#include "text_decode.h"

/* A run of characters [begin, end), trimmed: it starts and ends with a non-space. */
typedef struct text_span {
    size_t begin;
    size_t end;
    bool hard_break; /* a forced break follows: a newline rule, a blank line, or the end */
} text_span;

/* Split chars[0..n) into sentences, in order, whitespace-only stretches dropped.
 *
 * A sentence ends after a run of terminators and any closing quotes/brackets when:
 * - the terminators are Latin (. ! ? ; …) and whitespace or the end follows, or the text
 *   just before them is CJK;
 * - or the run holds a CJK terminator (。！？；．｡), whatever follows;
 * except a lone '.' that is a decimal point (3.14, ３．１４), that follows a single capital
 * initial other than "I" (J. R. R. Tolkien), a title (Mr. Dr. Prof. St. ...), or an
 * abbreviation (etc. e.g. i.e. vs. no. ... or any dotted word like U.S.) with a lower-case
 * letter or a digit next.
 * Line breaks: a blank line (two line breaks with only spaces between) or U+2029 always
 * ends a sentence with a hard break; a single line break does so when split_newlines.
 * Returns 0, or -1 when out of memory. *out is malloc'd (NULL when *count is 0). */
int sentence_split(const text_char *chars, size_t n, bool split_newlines, text_span **out,
                   size_t *count);

#endif
