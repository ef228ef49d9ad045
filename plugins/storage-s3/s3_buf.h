/* s3_buf.h - a growable NUL-terminated byte string. Out of memory is sticky: once an append
 * fails every later one does nothing and s3_buf_ok() says so, so builders check once. */
#ifndef S3_BUF_H
#define S3_BUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct s3_buf {
    char *data; /* NUL-terminated when len > 0 or after any append; may be NULL */
    size_t len;
    size_t cap;
    bool failed; /* an allocation failed */
} s3_buf;

void s3_buf_init(s3_buf *buf);
void s3_buf_free(s3_buf *buf);
void s3_buf_reset(s3_buf *buf); /* length 0, storage kept */
bool s3_buf_ok(const s3_buf *buf);
bool s3_buf_reserve(s3_buf *buf, size_t extra);
void s3_buf_append(s3_buf *buf, const void *bytes, size_t len);
void s3_buf_puts(s3_buf *buf, const char *text);
void s3_buf_putc(s3_buf *buf, char c);
void s3_buf_printf(s3_buf *buf, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
/* The text, "" when empty (never NULL). */
const char *s3_buf_str(const s3_buf *buf);
/* Hands the storage to the caller (NULL on failure); the buffer is empty afterwards. */
char *s3_buf_take(s3_buf *buf);

#endif
