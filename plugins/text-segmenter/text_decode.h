/* text_decode.h - UTF-8 validation and decoding into an array of characters that know
 * their byte position, their class (space, newline) and whether a grapheme cluster starts
 * at them. No SDK types. */
#ifndef TEXT_SEGMENTER_DECODE_H
#define TEXT_SEGMENTER_DECODE_H

#include <stddef.h>
#include <stdint.h>

#define TEXT_CHAR_SPACE 0x1u          /* tc_is_space */
#define TEXT_CHAR_NEWLINE 0x2u        /* tc_is_newline (also SPACE) */
#define TEXT_CHAR_GRAPHEME_START 0x4u /* a grapheme cluster starts here (a safe cut) */

typedef struct text_char {
    size_t pos;    /* byte offset of the first byte in the decoded text */
    int32_t cp;    /* the code point */
    uint8_t size;  /* bytes, 1..4 */
    uint8_t flags; /* TEXT_CHAR_* */
} text_char;

typedef enum text_decode_status {
    TEXT_DECODE_OK = 0,
    TEXT_DECODE_INVALID_UTF8 = 1,
    TEXT_DECODE_NO_MEMORY = 2
} text_decode_status;

/* Decode text[0..len). *out is malloc'd (NULL when len is 0). On invalid UTF-8 (bad or
 * truncated sequences, overlong forms, surrogates, values above U+10FFFF) *error_offset is
 * the byte offset where the bad sequence starts. */
text_decode_status text_decode(const char *text, size_t len, text_char **out, size_t *count,
                               size_t *error_offset);

#endif
