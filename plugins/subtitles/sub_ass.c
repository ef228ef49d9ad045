/* sub_ass.c - Advanced SubStation Alpha (v4.00+): Script Info with PlayResX/PlayResY, one
 * style, Dialogue events with H:MM:SS.cc times (exactly two digits: readers multiply them
 * by 10 ms). Lines are joined by \N. In text, { } and \ become full-width, since ASS has no
 * escape that every reader honours. Karaoke: {\kNN} per word in centiseconds, with empty
 * syllables for the gaps, summing to the event's length. */
#include "sub_writers.h"

#include <math.h>

static const sub_replacement ass_table[] = {
    {"{", "\xEF\xBD\x9B"}, {"}", "\xEF\xBD\x9D"}, {"\\", "\xEF\xBC\xBC"}, {NULL, NULL}};

static void ass_time(sub_buf *out, long long cs)
{
    sub_buf_printf(out, "%lld:%02lld:%02lld.%02lld", cs / 360000, cs / 6000 % 60,
                   cs / 100 % 60, cs % 100);
}

static void ass_header(const ass_style *s, sub_buf *out)
{
    sub_buf_printf(out,
                   "[Script Info]\n"
                   "ScriptType: v4.00+\n"
                   "PlayResX: %u\n"
                   "PlayResY: %u\n"
                   "WrapStyle: 0\n"
                   "ScaledBorderAndShadow: yes\n"
                   "YCbCr Matrix: None\n"
                   "\n"
                   "[V4+ Styles]\n"
                   "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, "
                   "OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, "
                   "ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, "
                   "MarginR, MarginV, Encoding\n",
                   s->play_res_x, s->play_res_y);
    sub_buf_printf(out, "Style: Default,%s,%g,%s,%s,%s,%s,%d,%d,0,0,100,100,0,0,%d,%g,%g,%d,"
                   "%d,%d,%d,1\n\n",
                   s->font, s->font_size, s->primary, s->secondary, s->outline_colour,
                   s->back_colour, s->bold ? -1 : 0, s->italic ? -1 : 0, s->border_style,
                   s->outline, s->shadow, s->alignment, s->margin_l, s->margin_r, s->margin_v);
    sub_buf_puts(out, "[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, "
                      "MarginV, Effect, Text\n");
}

static long long clamp_cs(double seconds, long long lo, long long hi)
{
    long long v = llround(seconds * 100);
    return v < lo ? lo : v > hi ? hi : v;
}

static void karaoke_text(const sub_cue_list *cues, const sub_cue *cue, long long start,
                         long long end, sub_buf *out)
{
    long long cursor = start;
    for (size_t w = cue->first; w < cue->first + cue->count; w++) {
        const sub_word *word = &cues->words[w];
        if (w > cue->first)
            sub_buf_puts(out, word->line_break_before ? "\\N" : word->space_before ? " " : "");
        long long ws = clamp_cs(word->start, cursor, end);
        long long we = clamp_cs(word->end, ws, end);
        if (ws > cursor)
            sub_buf_printf(out, "{\\k%lld}", ws - cursor);
        sub_buf_printf(out, "{\\k%lld}", we - ws);
        sub_append_clean(out, word->text, ass_table);
        cursor = we;
    }
    if (end > cursor)
        sub_buf_printf(out, "{\\k%lld}", end - cursor);
}

void sub_write_ass(const sub_cue_list *cues, const ass_style *style, sub_buf *out)
{
    ass_header(style, out);
    long long previous_end = 0;
    for (size_t c = 0; c < cues->cue_count; c++) {
        const sub_cue *cue = &cues->cues[c];
        long long start = llround(cue->start * 100), end = llround(cue->end * 100);
        if (start < previous_end)
            start = previous_end;
        if (end <= start)
            end = start + 1;
        previous_end = end;
        sub_buf_puts(out, "Dialogue: 0,");
        ass_time(out, start);
        sub_buf_puts(out, ",");
        ass_time(out, end);
        sub_buf_puts(out, ",Default,,0,0,0,,");
        if (style->karaoke)
            karaoke_text(cues, cue, start, end, out);
        else
            sub_append_cue_text(out, cues, cue, "\\N", ass_table);
        sub_buf_puts(out, "\n");
    }
}
