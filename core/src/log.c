/* Log lines to the host's callback, or to stderr. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>

static const char *level_name(int level)
{
    switch (level) {
    case SPARK_LOG_LEVEL_ERROR: return "error";
    case SPARK_LOG_LEVEL_WARN: return "warning";
    case SPARK_LOG_LEVEL_INFO: return "info";
    default: return "debug";
    }
}

void sp_log(const sp_logger *logger, int level, const char *fmt, ...)
{
    if (!logger || level > logger->level)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *line = sp_vprintf(fmt, ap);
    va_end(ap);
    if (!line)
        return;
    if (logger->fn)
        logger->fn(logger->user, level, line);
    else
        fprintf(stderr, "sparkhost: %s: %s\n", level_name(level), line);
    free(line);
}
