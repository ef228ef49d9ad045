/* Text the model-file writers build: a growing string, and the UTF-8 rule that names and
 * headers must follow. */
#ifndef SPARK_NN_TEXT_H
#define SPARK_NN_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growing NUL-terminated string; `failed` is set once an allocation fails. */
typedef struct nn_text {
    char *bytes;
    size_t len, cap;
    bool failed;
} nn_text;

void nn_text_append(nn_text *t, const char *s, size_t n);
void nn_text_puts(nn_text *t, const char *s);
void nn_text_printf(nn_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void nn_text_free(nn_text *t);
/* The built string, now the caller's; NULL (and the text freed) when building it failed. */
char *nn_text_finish(nn_text *t);

/* Length of the UTF-8 sequence at p (at most avail bytes), or 0 when it is malformed:
 * truncated, overlong, a surrogate or past U+10FFFF. */
size_t nn_utf8_sequence_length(const uint8_t *p, size_t avail);

#endif
