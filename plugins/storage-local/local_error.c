/* local_error.c - building the messages of the local storage helpers. */
#include "local_error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

local_status local_fail(local_error *err, local_status status, const char *format, ...)
{
    if (err) {
        va_list args;
        va_start(args, format);
        vsnprintf(err->message, sizeof err->message, format, args);
        va_end(args);
        err->status = status;
    }
    return status;
}

const char *local_strerror(int errnum, char *buf, size_t cap)
{
    /* _GNU_SOURCE selects the GNU strerror_r, which may return a static string instead of
     * filling buf; both are safe to use from several threads. */
    return strerror_r(errnum, buf, cap);
}

local_status local_status_from_errno(int errnum)
{
    return (errnum == ENOENT || errnum == ENOTDIR) ? LOCAL_E_NOT_FOUND : LOCAL_E_IO;
}
