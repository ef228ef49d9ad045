/* text_decode.c - UTF-8 -> text_char[], with utf8proc doing the validation and grapheme
 * cluster boundaries (UAX #29, stateful for emoji and regional-indicator sequences). */
#include "text_decode.h"

#include <stdlib.h>
#include <utf8proc.h>

#include "text_chars.h"

text_decode_status text_decode(const char *text, size_t len, text_char **out, size_t *count,
                               size_t *error_offset)
{
    *out = NULL;
    *count = 0;
    if (len == 0)
        return TEXT_DECODE_OK;
    /* Never more characters than bytes. */
    text_char *chars = malloc(len * sizeof *chars);
    if (!chars)
        return TEXT_DECODE_NO_MEMORY;

    const utf8proc_uint8_t *bytes = (const utf8proc_uint8_t *)text;
    size_t n = 0, pos = 0;
    utf8proc_int32_t prev = -1, state = 0;
    while (pos < len) {
        utf8proc_int32_t cp;
        size_t left = len - pos; /* a sequence is at most 4 bytes */
        utf8proc_ssize_t size =
            utf8proc_iterate(bytes + pos, (utf8proc_ssize_t)(left < 4 ? left : 4), &cp);
        if (size <= 0) {
            free(chars);
            *error_offset = pos;
            return TEXT_DECODE_INVALID_UTF8;
        }
        text_char *c = &chars[n++];
        c->pos = pos;
        c->cp = cp;
        c->size = (uint8_t)size;
        c->flags = 0;
        if (tc_is_space(cp))
            c->flags |= TEXT_CHAR_SPACE;
        if (tc_is_newline(cp))
            c->flags |= TEXT_CHAR_NEWLINE;
        if (prev < 0 || utf8proc_grapheme_break_stateful(prev, cp, &state))
            c->flags |= TEXT_CHAR_GRAPHEME_START;
        prev = cp;
        pos += (size_t)size;
    }
    *out = chars;
    *count = n;
    return TEXT_DECODE_OK;
}
