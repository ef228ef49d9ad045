/* segmenter.c - sentences -> pieces within max_chars -> short pieces merged -> segments. */
#include "segmenter.h"

#include <stdlib.h>

#include "sentence_split.h"
#include "text_chars.h"
#include "text_decode.h"
#include "text_normalize.h"

/* A piece: a trimmed span and its normalised length in code points. */
typedef struct piece {
    size_t begin, end; /* character indices [begin, end) */
    size_t chars;
    bool hard_break;
} piece;

typedef struct piece_list {
    piece *items;
    size_t count;
    size_t cap;
} piece_list;

static bool is_space(const text_char *c)
{
    return (c->flags & TEXT_CHAR_SPACE) != 0;
}

/* Normalised length of chars[begin..end): non-spaces count 1, each inner whitespace run 1. */
static size_t normalized_length(const text_char *chars, size_t begin, size_t end)
{
    size_t len = 0;
    bool pending = false;
    for (size_t i = begin; i < end; i++) {
        if (is_space(&chars[i])) {
            pending = len > 0;
        } else {
            len += 1 + pending;
            pending = false;
        }
    }
    return len;
}

static int push_piece(piece_list *list, const text_char *chars, size_t begin, size_t end,
                      bool hard_break)
{
    while (begin < end && is_space(&chars[begin]))
        begin++;
    while (end > begin && is_space(&chars[end - 1]))
        end--;
    if (begin == end)
        return 0;
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 16;
        piece *items = realloc(list->items, cap * sizeof *items);
        if (!items)
            return -1;
        list->items = items;
        list->cap = cap;
    }
    list->items[list->count++] =
        (piece){begin, end, normalized_length(chars, begin, end), hard_break};
    return 0;
}

/* Cut the sentence span into pieces of at most max code points (rule 2 of segmenter.h). */
static int split_long(piece_list *list, const text_char *chars, const text_span *span,
                      size_t max)
{
    size_t pos = span->begin;
    while (pos < span->end) {
        while (pos < span->end && is_space(&chars[pos]))
            pos++;
        if (pos == span->end)
            break;

        /* Walk forward while the piece [pos, j) fits, noting the best cut of each kind.
         * len is the normalised length of [pos, j) without trailing whitespace. */
        size_t len = 0, j = pos;
        bool pending_space = false, after_clause = false;
        size_t cut_clause = 0, clause_len = 0, cut_space = 0, cut_grapheme = 0, cut_cp = 0;
        for (; j < span->end; j++) {
            const text_char *c = &chars[j];
            bool safe = (c->flags & TEXT_CHAR_GRAPHEME_START) != 0;
            if (j > pos) {
                cut_cp = j;
                if (safe)
                    cut_grapheme = j;
                if (safe && is_space(c) && !is_space(&chars[j - 1]))
                    cut_space = j;
                if (safe && after_clause) {
                    cut_clause = j;
                    clause_len = len;
                }
            }
            if (is_space(c)) {
                pending_space = len > 0;
                after_clause = false;
                continue;
            }
            size_t next_len = len + 1 + pending_space;
            if (next_len > max)
                break;
            len = next_len;
            pending_space = false;
            /* Closing quotes and brackets after a comma stay with it. */
            after_clause =
                tc_is_clause_punctuation(c->cp) || (after_clause && tc_is_closer(c->cp));
        }
        if (j == span->end)
            return push_piece(list, chars, pos, span->end, span->hard_break);

        size_t cut;
        if (cut_clause && clause_len * 2 >= max)
            cut = cut_clause;
        else if (cut_space)
            cut = cut_space;
        else if (cut_clause)
            cut = cut_clause;
        else if (cut_grapheme)
            cut = cut_grapheme;
        else
            cut = cut_cp;
        if (push_piece(list, chars, pos, cut, false) != 0)
            return -1;
        pos = cut;
    }
    return 0;
}

/* Merge short pieces into the next (rule 3), in place. */
static void merge_short(piece_list *list, size_t min, size_t max)
{
    size_t out = 0;
    for (size_t i = 0; i < list->count; i++) {
        piece cur = list->items[i];
        while (cur.chars < min && !cur.hard_break && i + 1 < list->count) {
            const piece *next = &list->items[i + 1];
            /* Only whitespace lies between two pieces; it becomes one space. */
            size_t merged = cur.chars + (next->begin > cur.end) + next->chars;
            if (merged > max)
                break;
            cur.end = next->end;
            cur.chars = merged;
            cur.hard_break = next->hard_break;
            i++;
        }
        list->items[out++] = cur;
    }
    list->count = out;
}

void seg_free(seg_piece *pieces, size_t count)
{
    if (!pieces)
        return;
    for (size_t i = 0; i < count; i++)
        free(pieces[i].text);
    free(pieces);
}

seg_status seg_segment(const char *text, size_t len, const seg_options *options,
                       seg_piece **out, size_t *count, size_t *error_offset)
{
    *out = NULL;
    *count = 0;
    if (!options || options->max_chars == 0 || (len > 0 && !text))
        return SEG_E_INVALID_OPTIONS;

    text_char *chars = NULL;
    size_t n = 0;
    text_span *spans = NULL;
    size_t span_count = 0;
    piece_list pieces = {0};
    seg_piece *result = NULL;
    seg_status status = SEG_E_NO_MEMORY;

    text_decode_status decoded = text_decode(text, len, &chars, &n, error_offset);
    if (decoded == TEXT_DECODE_INVALID_UTF8)
        return SEG_E_INVALID_UTF8;
    if (decoded != TEXT_DECODE_OK)
        return SEG_E_NO_MEMORY;
    if (sentence_split(chars, n, options->split_newlines, &spans, &span_count) != 0)
        goto done;
    for (size_t i = 0; i < span_count; i++)
        if (split_long(&pieces, chars, &spans[i], options->max_chars) != 0)
            goto done;
    merge_short(&pieces, options->min_chars, options->max_chars);

    if (pieces.count > 0) {
        result = calloc(pieces.count, sizeof *result);
        if (!result)
            goto done;
    }
    for (size_t i = 0; i < pieces.count; i++) {
        const piece *p = &pieces.items[i];
        const text_char *last = &chars[p->end - 1];
        seg_piece *r = &result[i];
        r->offset = chars[p->begin].pos;
        r->length = last->pos + last->size - r->offset;
        r->text = text_normalize(text + r->offset, r->length, &r->text_length, &r->chars);
        if (!r->text) {
            seg_free(result, pieces.count);
            result = NULL;
            goto done;
        }
    }
    *out = result;
    *count = pieces.count;
    status = SEG_OK;

done:
    free(pieces.items);
    free(spans);
    free(chars);
    return status;
}
