/* Error messages of the model-file code: printf into a malloc'd string, and the "[2, 3]"
 * text of a shape that many of them show. */
#ifndef SPARK_NN_ERROR_H
#define SPARK_NN_ERROR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* The formatted text, malloc'd; NULL when out of memory. */
char *nn_format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *nn_vformat(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* The same for code where a NULL message would read as success: "out of memory" instead
 * when the text cannot be formatted. */
char *nn_format_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *nn_vformat_error(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Writes "[a, b, ...]" at buf + used (buf holds size bytes) and returns the new length, as
 * snprintf counts it: text that does not fit is cut short, and later calls append nothing. */
size_t nn_format_dims(char *buf, size_t size, size_t used, const int64_t *values,
                      uint32_t count);

#endif
