/* text_normalize.h - whitespace normalisation of a piece of text. No SDK types. */
#ifndef TEXT_SEGMENTER_NORMALIZE_H
#define TEXT_SEGMENTER_NORMALIZE_H

#include <stddef.h>

/* text[0..len) (valid UTF-8) with every run of whitespace (tc_is_space: Unicode spaces
 * incl. NBSP and ideographic space, line breaks, controls) replaced by one ASCII space and
 * both ends trimmed. Returns a malloc'd NUL-terminated string with its byte length in
 * *out_len and its code points in *out_chars (either may be NULL); NULL when out of memory
 * or when text is not valid UTF-8. */
char *text_normalize(const char *text, size_t len, size_t *out_len, size_t *out_chars);

#endif
