/* text_normalize.c - collapse whitespace runs to one ASCII space, trim the ends. */
#include "text_normalize.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "text_chars.h"

char *text_normalize(const char *text, size_t len, size_t *out_len, size_t *out_chars)
{
    /* Normalising never makes text longer: a run of >= 1 whitespace bytes becomes 1 byte. */
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    const utf8proc_uint8_t *bytes = (const utf8proc_uint8_t *)text;
    size_t pos = 0, out_pos = 0, chars = 0;
    bool pending_space = false;
    while (pos < len) {
        utf8proc_int32_t cp;
        size_t left = len - pos; /* a sequence is at most 4 bytes */
        utf8proc_ssize_t size =
            utf8proc_iterate(bytes + pos, (utf8proc_ssize_t)(left < 4 ? left : 4), &cp);
        if (size <= 0) {
            free(out);
            return NULL;
        }
        if (tc_is_space(cp)) {
            pending_space = out_pos > 0; /* leading whitespace is dropped */
        } else {
            if (pending_space) {
                out[out_pos++] = ' ';
                chars++;
                pending_space = false;
            }
            memcpy(out + out_pos, text + pos, (size_t)size);
            out_pos += (size_t)size;
            chars++;
        }
        pos += (size_t)size;
    }
    out[out_pos] = '\0';
    if (out_len)
        *out_len = out_pos;
    if (out_chars)
        *out_chars = chars;
    return out;
}
