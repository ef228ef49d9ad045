/* segmenter.h - job text -> speakable segments: the pure core of the text-segmenter
 * plugin. No SDK types; the unit tests link it directly. */
#ifndef TEXT_SEGMENTER_SEGMENTER_H
#define TEXT_SEGMENTER_SEGMENTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct seg_options {
    uint32_t max_chars;  /* most code points in a segment's normalised text, >= 1 */
    uint32_t min_chars;  /* a piece shorter than this is merged with the next one */
    bool split_newlines; /* a single line break ends a sentence */
} seg_options;

/* One segment. offset and length locate it in the input: the text there, whitespace
 * normalised (text_normalize), is exactly `text`. */
typedef struct seg_piece {
    size_t offset;      /* byte offset of the segment's first byte in the input */
    size_t length;      /* bytes it spans in the input, up to its last non-space */
    char *text;         /* normalised, NUL-terminated, malloc'd */
    size_t text_length; /* bytes of text */
    size_t chars;       /* code points of text, <= max_chars (bar a lone grapheme longer) */
} seg_piece;

typedef enum seg_status {
    SEG_OK = 0,
    SEG_E_INVALID_UTF8 = 1,   /* *error_offset: byte offset of the bad sequence */
    SEG_E_INVALID_OPTIONS = 2,
    SEG_E_NO_MEMORY = 3
} seg_status;

/* Segment text[0..len):
 * 1. split into sentences (sentence_split.h: terminators, abbreviations, line breaks);
 * 2. split a sentence longer than max_chars into pieces of at most max_chars: after the last
 *    clause punctuation (, ， 、 : ： —) when that keeps at least half of max_chars, else at
 *    the last whitespace, else after any clause punctuation, else at the last grapheme
 *    boundary, else at the last code point boundary;
 * 3. merge a piece shorter than min_chars with the next while the result stays within
 *    max_chars, never across a hard break (blank line; line break with split_newlines).
 * Empty or whitespace-only text gives *count == 0 and SEG_OK. *out is malloc'd; free it with
 * seg_free. */
seg_status seg_segment(const char *text, size_t len, const seg_options *options,
                       seg_piece **out, size_t *count, size_t *error_offset);

void seg_free(seg_piece *pieces, size_t count);

#endif
