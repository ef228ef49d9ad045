/* sub_srt.c - SubRip: numbered cues, HH:MM:SS,mmm times, a blank line after each cue.
 * SRT has no escapes; players read <...> as tags (ffmpeg drops everything up to a later >),
 * {\...} as ASS overrides and \N as a line break, so <, {, } and \ become their full-width
 * forms, and the > of an arrow "-->" too, which would otherwise look like a timing line. */
#include "sub_writers.h"

#include <math.h>
#include <string.h>

static const sub_replacement srt_table[] = {
    {"<", "\xEF\xBC\x9C"}, {"{", "\xEF\xBD\x9B"}, {"}", "\xEF\xBD\x9D"},
    {"\\", "\xEF\xBC\xBC"}, {NULL, NULL}};

static void srt_time(sub_buf *out, long long ms)
{
    sub_buf_printf(out, "%02lld:%02lld:%02lld,%03lld", ms / 3600000, ms / 60000 % 60,
                   ms / 1000 % 60, ms % 1000);
}

/* text with every "-->" written as "--＞" */
static void append_without_arrows(sub_buf *out, const char *text, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (text[i] == '>' && i >= 2 && text[i - 1] == '-' && text[i - 2] == '-')
            sub_buf_puts(out, "\xEF\xBC\x9E");
        else
            sub_buf_append(out, text + i, 1);
    }
}

void sub_write_srt(const sub_cue_list *cues, sub_buf *out)
{
    sub_buf_puts(out, "");
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
        srt_time(out, start);
        sub_buf_puts(out, " --> ");
        srt_time(out, end);
        sub_buf_puts(out, "\n");
        sub_buf text = {0};
        sub_append_cue_text(&text, cues, cue, "\n", srt_table);
        if (text.failed)
            out->failed = true;
        else if (text.data)
            append_without_arrows(out, text.data, text.length);
        sub_buf_free(&text);
        sub_buf_puts(out, "\n\n");
    }
}
