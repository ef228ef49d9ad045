/* See nn_error.h. */
#include "nn_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *nn_vformat(const char *fmt, va_list ap)
{
    char *out = NULL;
    if (vasprintf(&out, fmt, ap) < 0)
        out = NULL; /* its value is unspecified on failure */
    return out;
}

char *nn_format(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *out = nn_vformat(fmt, ap);
    va_end(ap);
    return out;
}

char *nn_vformat_error(const char *fmt, va_list ap)
{
    char *out = nn_vformat(fmt, ap);
    return out ? out : strdup("out of memory");
}

char *nn_format_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *out = nn_vformat_error(fmt, ap);
    va_end(ap);
    return out;
}

size_t nn_format_dims(char *buf, size_t size, size_t used, const int64_t *values,
                      uint32_t count)
{
    if (used < size)
        used += (size_t)snprintf(buf + used, size - used, "[");
    for (uint32_t i = 0; i < count && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? ", " : "",
                                 (long long)values[i]);
    if (used < size)
        used += (size_t)snprintf(buf + used, size - used, "]");
    return used;
}
