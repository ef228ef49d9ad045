/* sentence_split.c - where sentences end: terminators, closers, abbreviations, line breaks. */
#include "sentence_split.h"

#include <stdlib.h>
#include <string.h>

#include "text_chars.h"

/* Words that come before a name: a period after them never ends a sentence. */
static const char *const titles[] = {
    "mr", "mrs", "ms", "mx", "dr", "prof", "rev", "hon", "st", "gen", "col", "capt",
    "lt", "sgt", "gov", "sen", "rep", "fr", "mt", "messrs", "mme", "mlle",
};

/* Abbreviations that may also end a sentence: a period after them ends it only when what
 * follows does not start with a lower-case letter or a digit. Dotted words (e.g, i.e, a.m,
 * U.S) are handled the same way without being listed. */
static const char *const abbreviations[] = {
    "etc", "vs", "cf", "al", "approx", "ca", "no", "nos", "vol", "vols", "fig", "figs",
    "p", "pp", "ch", "sec", "ed", "eds", "jr", "sr", "inc", "ltd", "co", "corp", "dept",
    "est", "min", "max", "misc", "viz", "resp", "ibid", "jan", "feb", "mar", "apr", "jun",
    "jul", "aug", "sep", "sept", "oct", "nov", "dec",
};

static bool in_list(const char *word, const char *const *list, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(word, list[i]) == 0)
            return true;
    return false;
}

static bool is_space(const text_char *c)
{
    return (c->flags & TEXT_CHAR_SPACE) != 0;
}

/* Does the lone period at chars[dot] (its closers end at after) end a sentence, as far as
 * the word before it is concerned? */
static bool period_ends_sentence(const text_char *chars, size_t n, size_t dot, size_t after)
{
    /* The word before: letters, with inner periods between letters ("e.g", "U.S"). Only
     * short words matter, so the scan stops early: text without spaces (CJK) stays linear. */
    enum { LONGEST_WORD = 15 };
    size_t start = dot;
    bool dotted = false;
    while (start > 0 && dot - start <= LONGEST_WORD) {
        int32_t cp = chars[start - 1].cp;
        if (tc_is_letter(cp)) {
            start--;
        } else if (cp == '.' && start >= 2 && tc_is_letter(chars[start - 2].cp)) {
            start--;
            dotted = true;
        } else {
            break;
        }
    }
    size_t word_len = dot - start;
    if (word_len == 0)
        return true;
    /* A single capital initial: "J. R. R. Tolkien". "I." is far more often the pronoun. */
    if (word_len == 1 && tc_is_upper(chars[start].cp) && chars[start].cp != 'I')
        return false;

    char word[LONGEST_WORD + 1];
    if (word_len > LONGEST_WORD)
        return true;
    for (size_t i = 0; i < word_len; i++) {
        int32_t cp = chars[start + i].cp;
        if (cp >= 0x80)
            return true; /* the lists are ASCII */
        word[i] = (char)((cp >= 'A' && cp <= 'Z') ? cp - 'A' + 'a' : cp);
    }
    word[word_len] = '\0';

    if (in_list(word, titles, sizeof titles / sizeof titles[0]))
        return false;
    if (dotted || in_list(word, abbreviations, sizeof abbreviations / sizeof abbreviations[0])) {
        size_t next = after;
        while (next < n && is_space(&chars[next]))
            next++;
        if (next < n && (tc_is_lower(chars[next].cp) || tc_is_digit(chars[next].cp)))
            return false;
    }
    return true;
}

/* If a sentence ends with the terminator run starting at chars[i], the index just past it
 * (and past its closers); otherwise 0. */
static size_t sentence_end_at(const text_char *chars, size_t n, size_t i)
{
    size_t k = i;
    bool cjk_terminator = false;
    while (k < n && (tc_is_latin_terminator(chars[k].cp) || tc_is_cjk_terminator(chars[k].cp))) {
        /* U+2026 is in both lists; alone it follows the Latin rule. */
        if (tc_is_cjk_terminator(chars[k].cp) && chars[k].cp != 0x2026)
            cjk_terminator = true;
        k++;
    }
    size_t run_end = k;
    while (k < n && tc_is_closer(chars[k].cp))
        k++;

    bool space_or_end = k == n || is_space(&chars[k]);
    bool after_cjk = i > 0 && tc_is_cjk(chars[i - 1].cp);
    if (!space_or_end && !cjk_terminator && !after_cjk)
        return 0;

    int32_t cp = chars[i].cp;
    if (run_end == i + 1 && (cp == '.' || cp == 0xFF0E)) {
        if (i > 0 && tc_is_digit(chars[i - 1].cp) && run_end < n &&
            tc_is_digit(chars[run_end].cp))
            return 0; /* a decimal point */
        if (!period_ends_sentence(chars, n, i, k))
            return 0;
    }
    return k;
}

typedef struct span_list {
    text_span *items;
    size_t count;
    size_t cap;
} span_list;

/* Append [begin, end) trimmed; a whitespace-only span is dropped, but its hard break
 * carries over to the sentence before it. */
static int push_span(span_list *list, const text_char *chars, size_t begin, size_t end,
                     bool hard_break)
{
    while (begin < end && is_space(&chars[begin]))
        begin++;
    while (end > begin && is_space(&chars[end - 1]))
        end--;
    if (begin == end) {
        if (hard_break && list->count > 0)
            list->items[list->count - 1].hard_break = true;
        return 0;
    }
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 16;
        text_span *items = realloc(list->items, cap * sizeof *items);
        if (!items)
            return -1;
        list->items = items;
        list->cap = cap;
    }
    list->items[list->count++] = (text_span){begin, end, hard_break};
    return 0;
}

int sentence_split(const text_char *chars, size_t n, bool split_newlines, text_span **out,
                   size_t *count)
{
    span_list list = {0};
    size_t start = 0, i = 0;
    *out = NULL;
    *count = 0;
    while (i < n) {
        if (is_space(&chars[i])) {
            /* A whitespace run: count its line breaks (CR LF is one). */
            size_t j = i;
            int breaks = 0;
            bool paragraph = false;
            while (j < n && is_space(&chars[j])) {
                if (chars[j].flags & TEXT_CHAR_NEWLINE) {
                    if (chars[j].cp == '\r' && j + 1 < n && chars[j + 1].cp == '\n')
                        j++;
                    breaks++;
                    paragraph = paragraph || tc_is_paragraph_separator(chars[j].cp);
                }
                j++;
            }
            if (breaks >= 2 || paragraph || (breaks == 1 && split_newlines)) {
                if (push_span(&list, chars, start, i, true) != 0)
                    goto oom;
                start = j;
            }
            i = j;
            continue;
        }
        if (tc_is_latin_terminator(chars[i].cp) || tc_is_cjk_terminator(chars[i].cp)) {
            size_t end = sentence_end_at(chars, n, i);
            if (end > 0) {
                if (push_span(&list, chars, start, end, false) != 0)
                    goto oom;
                start = i = end;
                continue;
            }
            /* Not an end: skip the whole run so "..." is judged once. */
            while (i < n &&
                   (tc_is_latin_terminator(chars[i].cp) || tc_is_cjk_terminator(chars[i].cp)))
                i++;
            continue;
        }
        i++;
    }
    if (push_span(&list, chars, start, n, true) != 0)
        goto oom;
    *out = list.items;
    *count = list.count;
    return 0;

oom:
    free(list.items);
    return -1;
}
