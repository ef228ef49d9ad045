/* s3_buf.c - growable string buffer. */
#include "s3_buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void s3_buf_init(s3_buf *buf)
{
    memset(buf, 0, sizeof *buf);
}

void s3_buf_free(s3_buf *buf)
{
    free(buf->data);
    s3_buf_init(buf);
}

void s3_buf_reset(s3_buf *buf)
{
    buf->len = 0;
    if (buf->data)
        buf->data[0] = '\0';
}

bool s3_buf_ok(const s3_buf *buf)
{
    return !buf->failed;
}

bool s3_buf_reserve(s3_buf *buf, size_t extra)
{
    if (buf->failed)
        return false;
    if (extra > SIZE_MAX - buf->len - 1) {
        buf->failed = true;
        return false;
    }
    size_t need = buf->len + extra + 1;
    if (need <= buf->cap)
        return true;
    size_t cap = buf->cap ? buf->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *data = realloc(buf->data, cap);
    if (!data) {
        buf->failed = true;
        return false;
    }
    buf->data = data;
    buf->cap = cap;
    return true;
}

void s3_buf_append(s3_buf *buf, const void *bytes, size_t len)
{
    if (!s3_buf_reserve(buf, len))
        return;
    if (len)
        memcpy(buf->data + buf->len, bytes, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
}

void s3_buf_puts(s3_buf *buf, const char *text)
{
    s3_buf_append(buf, text, strlen(text));
}

void s3_buf_putc(s3_buf *buf, char c)
{
    s3_buf_append(buf, &c, 1);
}

void s3_buf_printf(s3_buf *buf, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    va_list copy;
    va_copy(copy, args);
    int needed = vsnprintf(NULL, 0, format, copy);
    va_end(copy);
    if (needed < 0) {
        buf->failed = true;
    } else if (s3_buf_reserve(buf, (size_t)needed)) {
        vsnprintf(buf->data + buf->len, (size_t)needed + 1, format, args);
        buf->len += (size_t)needed;
    }
    va_end(args);
}

const char *s3_buf_str(const s3_buf *buf)
{
    return buf->data && !buf->failed ? buf->data : "";
}

char *s3_buf_take(s3_buf *buf)
{
    char *data = NULL;
    if (!buf->failed) {
        if (!buf->data)
            s3_buf_reserve(buf, 0);
        if (buf->data)
            buf->data[buf->len] = '\0';
        data = buf->failed ? NULL : buf->data;
        buf->data = NULL;
    }
    s3_buf_free(buf);
    return data;
}
