/* sub_cues.h - timed words into subtitle cues: lines of at most max_chars grapheme clusters,
 * at most max_lines lines per cue, a cue never spans two segments (sentences), cues last at
 * least min_duration (without running into the next cue) and at most max_duration. */
#ifndef SUB_CUES_H
#define SUB_CUES_H

#include <stdbool.h>
#include <stddef.h>

typedef struct sub_word {
    char *text;             /* UTF-8, owned */
    double start, end;      /* seconds */
    size_t segment;         /* which segment (sentence) it belongs to */
    bool space_before;      /* written with a space before it when not first on a line */
    bool line_break_before; /* set by sub_cues_build: first word of a line other than the first */
} sub_word;

typedef struct sub_cue {
    double start, end;
    size_t first, count; /* words[first .. first + count) */
} sub_cue;

typedef struct sub_cue_options {
    unsigned max_chars;   /* per line, >= 1 */
    unsigned max_lines;   /* per cue, >= 1 */
    double min_duration;  /* seconds */
    double max_duration;  /* seconds, > 0 */
} sub_cue_options;

typedef struct sub_cue_list {
    sub_word *words;
    size_t word_count;
    sub_cue *cues;
    size_t cue_count;
} sub_cue_list;

/* Builds cues from words[count] (in time order; the texts are copied, a word longer than
 * a line is cut between grapheme clusters with its time shared out by length). Returns 0,
 * or -1 when out of memory. */
int sub_cues_build(const sub_word *words, size_t count, const sub_cue_options *options,
                   sub_cue_list *out);
void sub_cue_list_free(sub_cue_list *list);

/* How many lines a cue has. */
size_t sub_cue_lines(const sub_cue_list *list, const sub_cue *cue);

#endif
