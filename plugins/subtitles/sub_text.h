/* sub_text.h - counting and cutting UTF-8 text by grapheme clusters (what a viewer sees as
 * one character), for line lengths. */
#ifndef SUB_TEXT_H
#define SUB_TEXT_H

#include <stddef.h>

/* Grapheme clusters in utf8[length]. */
size_t sub_graphemes(const char *utf8, size_t length);
/* Bytes taken by the first count grapheme clusters of utf8[length]. */
size_t sub_grapheme_prefix(const char *utf8, size_t length, size_t count);

#endif
