/* word_units.c - words and their expected durations from letters: vowel groups stand for
 * syllables, consonants add a little, digits are read as about one and a half syllables,
 * CJK characters are one syllable each. */
#include "word_units.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

/* Seconds per unit at an ordinary speaking rate: only their ratios matter, since words are
 * scaled to the speech they fall into. */
#define SYLLABLE_SECONDS 0.14
#define CONSONANT_SECONDS 0.045
#define DIGIT_SECONDS 0.22
#define OTHER_LETTER_SECONDS 0.07
#define CJK_SECONDS 0.22
#define WORD_BASE_SECONDS 0.03
#define CLAUSE_PAUSE_SECONDS 0.25
#define SENTENCE_PAUSE_SECONDS 0.45
#define FUNCTION_WORD_FACTOR 0.6   /* unstressed short words are spoken quickly */
#define PHRASE_FINAL_FACTOR 1.25   /* the last word before a pause is drawn out */

/* English words that are usually unstressed. */
static const char *const function_words[] = {
    "a", "an", "the", "of", "to", "in", "on", "at", "for", "and", "or", "but", "is", "are",
    "was", "were", "as", "by", "it", "its", "we", "he", "she", "you", "i", "me", "my", "our",
    "your", "his", "her", "be", "so", "than", "that", "this", "with", "from", "not", "do",
    "can", "will", "have", "has", "had", "if", "up", "us", "them", "they", "there", NULL};

static bool is_cjk_syllable(int32_t c)
{
    return (c >= 0x3040 && c <= 0x30FF) ||   /* hiragana, katakana */
           (c >= 0x3400 && c <= 0x4DBF) ||   /* CJK extension A */
           (c >= 0x4E00 && c <= 0x9FFF) ||   /* CJK unified ideographs */
           (c >= 0xAC00 && c <= 0xD7A3) ||   /* Hangul syllables */
           (c >= 0xF900 && c <= 0xFAFF) ||   /* compatibility ideographs */
           (c >= 0x20000 && c <= 0x3FFFF);   /* CJK extensions B.. */
}

static bool is_space(int32_t c)
{
    utf8proc_category_t cat = utf8proc_category(c);
    return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL ||
           cat == UTF8PROC_CATEGORY_ZP || cat == UTF8PROC_CATEGORY_CC;
}

static bool is_letter_or_digit(int32_t c)
{
    utf8proc_category_t cat = utf8proc_category(c);
    return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
           (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
}

static bool is_latin_vowel(int32_t c)
{
    /* a letter's base form decides: é is e */
    utf8proc_int32_t base[4];
    utf8proc_ssize_t n = utf8proc_decompose_char(c, base, 4, UTF8PROC_DECOMPOSE | UTF8PROC_CASEFOLD
                                                 | UTF8PROC_STRIPMARK, NULL);
    int32_t b = n >= 1 ? base[0] : c;
    return b == 'a' || b == 'e' || b == 'i' || b == 'o' || b == 'u' || b == 'y';
}

static double pause_for(int32_t c)
{
    switch (c) {
    case ',': case ';': case ':': case 0x3001: case 0xFF0C: case 0xFF1B: case 0xFF1A:
    case 0x2014: case 0x2013:
        return CLAUSE_PAUSE_SECONDS;
    case '.': case '!': case '?': case 0x2026: case 0x3002: case 0xFF01: case 0xFF1F:
        return SENTENCE_PAUSE_SECONDS;
    default:
        return 0;
    }
}

/* 1 when text[start, end), without its punctuation and in lower case, is a function word. */
static bool is_function_word(const uint8_t *text, size_t start, size_t end)
{
    char word[8];
    size_t n = 0;
    for (size_t i = start; i < end; i++) {
        uint8_t c = text[i];
        if (c >= 0x80)
            return false;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '\'') {
            if (n + 1 >= sizeof word)
                return false;
            word[n++] = (char)(c | 0x20);
        }
    }
    word[n] = 0;
    for (const char *const *f = function_words; *f; f++)
        if (strcmp(word, *f) == 0)
            return true;
    return false;
}

/* The expected length of the letters in text[start, end). */
static double letters_weight(const uint8_t *text, size_t start, size_t end)
{
    double w = 0;
    bool in_vowels = false;
    size_t i = start, latin_letters = 0;
    int32_t last = 0, before_last = 0;
    while (i < end) {
        int32_t c;
        utf8proc_ssize_t n = utf8proc_iterate(text + i, (utf8proc_ssize_t)(end - i), &c);
        if (n <= 0)
            break;
        i += (size_t)n;
        if (is_cjk_syllable(c)) {
            w += CJK_SECONDS;
            in_vowels = false;
        } else if (c < 0x250 && is_letter_or_digit(c)) {
            if (c >= '0' && c <= '9') {
                w += DIGIT_SECONDS;
                in_vowels = false;
            } else if (is_latin_vowel(c)) {
                if (!in_vowels)
                    w += SYLLABLE_SECONDS;
                in_vowels = true;
                latin_letters++;
            } else {
                latin_letters++;
                w += CONSONANT_SECONDS;
                in_vowels = false;
            }
        } else if (is_letter_or_digit(c)) {
            w += OTHER_LETTER_SECONDS;
            in_vowels = false;
        }
        if (is_letter_or_digit(c)) {
            before_last = last;
            last = c;
        }
    }
    /* a final silent e (make, closes is not final) is no syllable of its own */
    if (latin_letters > 3 && (last == 'e' || last == 'E') && before_last < 0x80 &&
        !is_latin_vowel(before_last) && before_last != 'l' && before_last != 'L')
        w -= SYLLABLE_SECONDS - CONSONANT_SECONDS;
    return w;
}

typedef struct token {
    size_t start, end;
    bool has_content; /* letters or digits */
} token;

int word_units_split(const char *utf8, size_t length, word_unit **out)
{
    *out = NULL;
    const uint8_t *text = (const uint8_t *)utf8;
    token *tokens = malloc((length + 1) * sizeof *tokens);
    if (!tokens)
        return -1;
    size_t count = 0;
    bool open = false;
    for (size_t i = 0; i < length;) {
        int32_t c;
        utf8proc_ssize_t n = utf8proc_iterate(text + i, (utf8proc_ssize_t)(length - i), &c);
        if (n <= 0) {
            free(tokens);
            return -1;
        }
        if (is_space(c)) {
            open = false;
        } else if (is_cjk_syllable(c)) {
            tokens[count++] = (token){i, i + (size_t)n, true};
            open = false; /* what follows (punctuation) starts a token that joins this one */
        } else {
            if (!open)
                tokens[count++] = (token){i, i, false};
            tokens[count - 1].end = i + (size_t)n;
            if (is_letter_or_digit(c))
                tokens[count - 1].has_content = true;
            open = true;
        }
        i += (size_t)n;
    }
    /* tokens without letters or digits join the word before them (or the one after; alone,
     * they are no word) */
    size_t words = 0;
    for (size_t t = 0; t < count; t++) {
        if (!tokens[t].has_content && words > 0) {
            tokens[words - 1].end = tokens[t].end;
        } else if (!tokens[t].has_content && t + 1 < count) {
            tokens[t + 1].start = tokens[t].start;
        } else if (tokens[t].has_content) {
            tokens[words++] = tokens[t];
        }
    }
    if (words == 0) {
        free(tokens);
        return 0;
    }
    word_unit *units = calloc(words, sizeof *units);
    if (!units) {
        free(tokens);
        return -1;
    }
    for (size_t w = 0; w < words; w++) {
        units[w].byte_start = tokens[w].start;
        units[w].byte_length = tokens[w].end - tokens[w].start;
        units[w].weight = WORD_BASE_SECONDS + letters_weight(text, tokens[w].start, tokens[w].end);
        if (is_function_word(text, tokens[w].start, tokens[w].end))
            units[w].weight *= FUNCTION_WORD_FACTOR;
        /* the strongest punctuation at the end of the word sets the pause */
        double pause = 0;
        for (size_t i = tokens[w].start; i < tokens[w].end;) {
            int32_t c;
            utf8proc_ssize_t n = utf8proc_iterate(text + i, (utf8proc_ssize_t)(tokens[w].end - i), &c);
            if (n <= 0)
                break;
            i += (size_t)n;
            if (is_letter_or_digit(c))
                pause = 0; /* inner punctuation (3.14, don't) makes no pause */
            else if (pause_for(c) > pause)
                pause = pause_for(c);
        }
        units[w].pause_after = pause;
        if (pause > 0 || w + 1 == words)
            units[w].weight *= PHRASE_FINAL_FACTOR;
    }
    free(tokens);
    *out = units;
    return (int)words;
}
