/* sub_vtt.c - WebVTT: the WEBVTT header, numbered cues, HH:MM:SS.mmm times. Cue text
 * escapes &, < and > as entities (which also breaks up "-->"); braces and backslashes become
 * full-width so that players converting to ASS read no override tags or \N breaks. */
#include "sub_writers.h"

#include <math.h>

static const sub_replacement vtt_table[] = {
    {"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"},
    {"{", "\xEF\xBD\x9B"}, {"}", "\xEF\xBD\x9D"}, {"\\", "\xEF\xBC\xBC"}, {NULL, NULL}};

static void vtt_time(sub_buf *out, long long ms)
{
    sub_buf_printf(out, "%02lld:%02lld:%02lld.%03lld", ms / 3600000, ms / 60000 % 60,
                   ms / 1000 % 60, ms % 1000);
}

void sub_write_vtt(const sub_cue_list *cues, sub_buf *out)
{
    sub_buf_puts(out, "WEBVTT\n\n");
    long long previous_end = 0;
    for (size_t c = 0; c < cues->cue_count; c++) {
        const sub_cue *cue = &cues->cues[c];
        long long start = llround(cue->start * 1000), end = llround(cue->end * 1000);
        if (start < previous_end)
            start = previous_end;
        if (end <= start)
            end = start + 1;
        previous_end = end;
        sub_buf_printf(out, "%zu\n", c + 1);
        vtt_time(out, start);
        sub_buf_puts(out, " --> ");
        vtt_time(out, end);
        sub_buf_puts(out, "\n");
        sub_append_cue_text(out, cues, cue, "\n", vtt_table);
        sub_buf_puts(out, "\n\n");
    }
}
