/* sub_writers.h - cue lists written as ASS, SRT and WebVTT files. User text never becomes
 * markup: each writer replaces what its format (or the players that convert it to ASS)
 * would read as tags, and control characters become spaces. */
#ifndef SUB_WRITERS_H
#define SUB_WRITERS_H

#include <stdbool.h>

#include "sub_buf.h"
#include "sub_cues.h"

typedef struct ass_style {
    unsigned play_res_x, play_res_y;
    const char *font;          /* no commas */
    double font_size;
    const char *primary;       /* &HAABBGGRR */
    const char *secondary;     /* karaoke: the colour before a word is sung */
    const char *outline_colour;
    const char *back_colour;
    bool bold, italic;
    double outline, shadow;
    int border_style;          /* 1 outline + shadow, 3 opaque box */
    int alignment;             /* numpad 1..9 */
    int margin_l, margin_r, margin_v;
    bool karaoke;              /* {\k} tags per word */
} ass_style;

void sub_write_ass(const sub_cue_list *cues, const ass_style *style, sub_buf *out);
void sub_write_srt(const sub_cue_list *cues, sub_buf *out);
void sub_write_vtt(const sub_cue_list *cues, sub_buf *out);

/* Shared by the writers: word w of a cue's text as it goes on its line (the space before it
 * when it is not first on its line), with code points replaced by the table, control
 * characters made spaces. */
typedef struct sub_replacement {
    const char *from; /* one ASCII character */
    const char *to;
} sub_replacement;

void sub_append_clean(sub_buf *out, const char *text, const sub_replacement *table);
/* The plain text of a cue: lines joined by line_break, words escaped by table. */
void sub_append_cue_text(sub_buf *out, const sub_cue_list *cues, const sub_cue *cue,
                         const char *line_break, const sub_replacement *table);

#endif
