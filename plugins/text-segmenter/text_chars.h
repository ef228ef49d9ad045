/* text_chars.h - the character classes the segmenter needs, from utf8proc's Unicode data
 * plus a few fixed lists (terminators, clause punctuation). No SDK types. */
#ifndef TEXT_SEGMENTER_CHARS_H
#define TEXT_SEGMENTER_CHARS_H

#include <stdbool.h>
#include <stdint.h>

/* Whitespace for normalisation: separators (Zs, Zl, Zp: space, NBSP, ideographic space,
 * line and paragraph separators), control characters (Cc: tab, newlines, NUL, ... which
 * have no spoken form), and the invisible U+200B ZERO WIDTH SPACE and U+FEFF BOM. */
bool tc_is_space(int32_t cp);

/* A line break: LF, CR, VT, FF, NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR. */
bool tc_is_newline(int32_t cp);

/* U+2029 PARAGRAPH SEPARATOR: splits like a blank line. */
bool tc_is_paragraph_separator(int32_t cp);

/* Ends a sentence in Latin text when whitespace or the end follows: . ! ? ; and U+2026. */
bool tc_is_latin_terminator(int32_t cp);

/* Ends a sentence in CJK text with nothing needed after it: 。！？；… ．｡ */
bool tc_is_cjk_terminator(int32_t cp);

/* Closing quotes and brackets that stay with the sentence they end: Unicode Pe and Pf,
 * and the ASCII quotes " and ' (which close when they follow a terminator). */
bool tc_is_closer(int32_t cp);

/* A good place to break an over-long sentence after: , ， 、 : ： — */
bool tc_is_clause_punctuation(int32_t cp);

/* Scripts written without spaces between words and sentences (Han, kana, Hangul, CJK
 * punctuation and full-width forms). */
bool tc_is_cjk(int32_t cp);

bool tc_is_letter(int32_t cp);    /* L* */
bool tc_is_upper(int32_t cp);     /* Lu, Lt */
bool tc_is_lower(int32_t cp);     /* Ll */
bool tc_is_digit(int32_t cp);     /* Nd */

#endif
