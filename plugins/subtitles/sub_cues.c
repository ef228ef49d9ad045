/* sub_cues.c - greedy line filling: a word goes on the current line when it fits, else on a
 * new line when the cue has room for one, else it starts the next cue. */
#include "sub_cues.h"

#include <stdlib.h>
#include <string.h>

#include "sub_text.h"

#define MIN_CUE_SECONDS 0.01 /* a cue always lasts this long, however short its words */

static char *copy_bytes(const char *s, size_t n)
{
    char *c = malloc(n + 1);
    if (c) {
        memcpy(c, s, n);
        c[n] = 0;
    }
    return c;
}

/* Copies words, cutting those longer than max_chars into line-sized pieces. */
static int expand_words(const sub_word *words, size_t count, unsigned max_chars,
                        sub_word **out, size_t *out_count)
{
    size_t total = 0;
    for (size_t w = 0; w < count; w++) {
        size_t g = sub_graphemes(words[w].text, strlen(words[w].text));
        total += g > max_chars ? (g + max_chars - 1) / max_chars : 1;
    }
    sub_word *list = calloc(total ? total : 1, sizeof *list);
    if (!list)
        return -1;
    size_t k = 0;
    for (size_t w = 0; w < count; w++) {
        const char *t = words[w].text;
        size_t bytes = strlen(t), g = sub_graphemes(t, bytes);
        size_t pieces = g > max_chars ? (g + max_chars - 1) / max_chars : 1;
        double span = words[w].end - words[w].start;
        size_t done = 0;
        for (size_t p = 0; p < pieces; p++) {
            size_t take = sub_grapheme_prefix(t, bytes, max_chars);
            size_t piece_g = g - done < max_chars ? g - done : max_chars;
            sub_word *o = &list[k++];
            *o = words[w];
            o->line_break_before = false;
            o->text = copy_bytes(t, pieces == 1 ? bytes : take);
            if (!o->text) {
                for (size_t i = 0; i + 1 < k; i++)
                    free(list[i].text);
                free(list);
                return -1;
            }
            o->start = words[w].start + span * (double)done / (double)g;
            o->end = words[w].start + span * (double)(done + piece_g) / (double)g;
            if (p > 0)
                o->space_before = false;
            done += piece_g;
            t += take;
            bytes -= take;
        }
    }
    *out = list;
    *out_count = k;
    return 0;
}

int sub_cues_build(const sub_word *words, size_t count, const sub_cue_options *options,
                   sub_cue_list *out)
{
    memset(out, 0, sizeof *out);
    unsigned max_chars = options->max_chars ? options->max_chars : 1;
    unsigned max_lines = options->max_lines ? options->max_lines : 1;
    if (expand_words(words, count, max_chars, &out->words, &out->word_count) < 0)
        return -1;
    out->cues = calloc(out->word_count ? out->word_count : 1, sizeof *out->cues);
    if (!out->cues) {
        sub_cue_list_free(out);
        return -1;
    }
    sub_cue *cue = NULL;
    size_t line_chars = 0, lines = 0;
    for (size_t w = 0; w < out->word_count; w++) {
        sub_word *word = &out->words[w];
        size_t g = sub_graphemes(word->text, strlen(word->text));
        bool new_cue = !cue || word->segment != out->words[w - 1].segment ||
                       word->end - cue->start > options->max_duration;
        if (!new_cue) {
            size_t with_space = line_chars + (word->space_before ? 1 : 0) + g;
            if (with_space <= max_chars) {
                line_chars = with_space;
            } else if (lines < max_lines) {
                word->line_break_before = true;
                lines++;
                line_chars = g;
            } else {
                new_cue = true;
            }
        }
        if (new_cue) {
            cue = &out->cues[out->cue_count++];
            *cue = (sub_cue){word->start, word->end, w, 0};
            lines = 1;
            line_chars = g;
        }
        cue->count++;
        if (word->end > cue->end)
            cue->end = word->end;
    }
    /* durations: at least min (not into the next cue), at most max, never empty */
    for (size_t c = 0; c < out->cue_count; c++) {
        sub_cue *q = &out->cues[c];
        if (c > 0 && q->start < out->cues[c - 1].end)
            q->start = out->cues[c - 1].end;
        double next = c + 1 < out->cue_count ? out->cues[c + 1].start : -1;
        if (q->end - q->start < options->min_duration) {
            q->end = q->start + options->min_duration;
            if (next >= 0 && q->end > next)
                q->end = next > q->start ? next : q->start;
        }
        if (q->end - q->start > options->max_duration)
            q->end = q->start + options->max_duration;
        if (q->end - q->start < MIN_CUE_SECONDS)
            q->end = q->start + MIN_CUE_SECONDS;
    }
    return 0;
}

size_t sub_cue_lines(const sub_cue_list *list, const sub_cue *cue)
{
    size_t lines = cue->count ? 1 : 0;
    for (size_t w = cue->first + 1; w < cue->first + cue->count; w++)
        lines += list->words[w].line_break_before;
    return lines;
}

void sub_cue_list_free(sub_cue_list *list)
{
    for (size_t w = 0; w < list->word_count; w++)
        free(list->words[w].text);
    free(list->words);
    free(list->cues);
    memset(list, 0, sizeof *list);
}
