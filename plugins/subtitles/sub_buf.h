/* sub_buf.h - a growing byte buffer for writing subtitle files. Errors stick: after a
 * failed allocation every append does nothing and `failed` stays set. */
#ifndef SUB_BUF_H
#define SUB_BUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct sub_buf {
    char *data; /* NUL-terminated while not failed */
    size_t length, cap;
    bool failed;
} sub_buf;

void sub_buf_append(sub_buf *b, const char *bytes, size_t n);
void sub_buf_puts(sub_buf *b, const char *s);
void sub_buf_printf(sub_buf *b, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
void sub_buf_free(sub_buf *b);

#endif
