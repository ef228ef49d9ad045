/* text_chars.c - character classes from utf8proc categories and fixed lists. */
#include "text_chars.h"

#include <utf8proc.h>

bool tc_is_space(int32_t cp)
{
    if (cp == 0x20)
        return true;
    if (cp < 0x80)
        return cp < 0x20 || cp == 0x7F;
    if (cp == 0x200B || cp == 0xFEFF)
        return true;
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_CC:
        return true;
    default:
        return false;
    }
}

bool tc_is_newline(int32_t cp)
{
    return (cp >= 0x0A && cp <= 0x0D) || cp == 0x85 || cp == 0x2028 || cp == 0x2029;
}

bool tc_is_paragraph_separator(int32_t cp)
{
    return cp == 0x2029;
}

bool tc_is_latin_terminator(int32_t cp)
{
    return cp == '.' || cp == '!' || cp == '?' || cp == ';' || cp == 0x2026;
}

bool tc_is_cjk_terminator(int32_t cp)
{
    switch (cp) {
    case 0x3002: /* 。 */
    case 0xFF01: /* ！ */
    case 0xFF1F: /* ？ */
    case 0xFF1B: /* ； */
    case 0x2026: /* … */
    case 0xFF0E: /* ． */
    case 0xFF61: /* ｡ halfwidth ideographic full stop */
        return true;
    default:
        return false;
    }
}

bool tc_is_closer(int32_t cp)
{
    if (cp == '"' || cp == '\'')
        return true;
    utf8proc_category_t category = utf8proc_category(cp);
    return category == UTF8PROC_CATEGORY_PE || category == UTF8PROC_CATEGORY_PF;
}

bool tc_is_clause_punctuation(int32_t cp)
{
    switch (cp) {
    case ',':
    case 0xFF0C: /* ， */
    case 0x3001: /* 、 */
    case ':':
    case 0xFF1A: /* ： */
    case 0x2014: /* — */
        return true;
    default:
        return false;
    }
}

bool tc_is_cjk(int32_t cp)
{
    return (cp >= 0x1100 && cp <= 0x11FF) ||   /* Hangul Jamo */
           (cp >= 0x2E80 && cp <= 0x2FDF) ||   /* CJK radicals, Kangxi */
           (cp >= 0x3000 && cp <= 0x30FF) ||   /* CJK punctuation, Hiragana, Katakana */
           (cp >= 0x3100 && cp <= 0x31FF) ||   /* Bopomofo, Hangul compatibility, ... */
           (cp >= 0x3200 && cp <= 0x4DBF) ||   /* enclosed CJK, CJK ext. A */
           (cp >= 0x4E00 && cp <= 0x9FFF) ||   /* CJK unified ideographs */
           (cp >= 0xA960 && cp <= 0xA97F) ||   /* Hangul Jamo ext. A */
           (cp >= 0xAC00 && cp <= 0xD7FF) ||   /* Hangul syllables, Jamo ext. B */
           (cp >= 0xF900 && cp <= 0xFAFF) ||   /* CJK compatibility ideographs */
           (cp >= 0xFE30 && cp <= 0xFE4F) ||   /* CJK compatibility forms */
           (cp >= 0xFF00 && cp <= 0xFFEF) ||   /* half- and full-width forms */
           (cp >= 0x20000 && cp <= 0x3FFFF);   /* CJK ext. B and later */
}

bool tc_is_letter(int32_t cp)
{
    utf8proc_category_t c = utf8proc_category(cp);
    return c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO;
}

bool tc_is_upper(int32_t cp)
{
    utf8proc_category_t c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LT;
}

bool tc_is_lower(int32_t cp)
{
    return utf8proc_category(cp) == UTF8PROC_CATEGORY_LL;
}

bool tc_is_digit(int32_t cp)
{
    return utf8proc_category(cp) == UTF8PROC_CATEGORY_ND;
}
