/* sub_buf.c - the growing buffer. */
#include "sub_buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sub_buf_append(sub_buf *b, const char *bytes, size_t n)
{
    if (b->failed)
        return;
    if (b->length + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->length + n + 1)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) {
            b->failed = true;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->length, bytes, n);
    b->length += n;
    b->data[b->length] = 0;
}

void sub_buf_puts(sub_buf *b, const char *s)
{
    sub_buf_append(b, s, strlen(s));
}

void sub_buf_printf(sub_buf *b, const char *format, ...)
{
    char small[256];
    va_list args;
    va_start(args, format);
    int n = vsnprintf(small, sizeof small, format, args);
    va_end(args);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        sub_buf_append(b, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->failed = true;
        return;
    }
    va_start(args, format);
    vsnprintf(big, (size_t)n + 1, format, args);
    va_end(args);
    sub_buf_append(b, big, (size_t)n);
    free(big);
}

void sub_buf_free(sub_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}
