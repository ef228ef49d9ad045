/* sub_clean.c - the text of cues with characters replaced, shared by the three writers. */
#include "sub_writers.h"

#include <string.h>

void sub_append_clean(sub_buf *out, const char *text, const sub_replacement *table)
{
    for (const char *p = text; *p; p++) {
        unsigned char c = (unsigned char)*p;
        const sub_replacement *r = table;
        while (r && r->from && r->from[0] != *p)
            r++;
        if (r && r->from)
            sub_buf_puts(out, r->to);
        else if (c < 0x20 || c == 0x7F)
            sub_buf_append(out, " ", 1);
        else
            sub_buf_append(out, p, 1);
    }
}

void sub_append_cue_text(sub_buf *out, const sub_cue_list *cues, const sub_cue *cue,
                         const char *line_break, const sub_replacement *table)
{
    for (size_t w = cue->first; w < cue->first + cue->count; w++) {
        const sub_word *word = &cues->words[w];
        if (w > cue->first && word->line_break_before)
            sub_buf_puts(out, line_break);
        else if (w > cue->first && word->space_before)
            sub_buf_append(out, " ", 1);
        sub_append_clean(out, word->text, table);
    }
}
