/* Engine set-up, error reporting and exit codes shared by the commands. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void log_line(void *user, int level, const char *line)
{
    (void)user;
    static const char *const names[] = {"error", "warning", "info", "debug"};
    fprintf(stderr, "sparkhost: %s: %s\n", names[level < 0 ? 0 : level > 3 ? 3 : level], line);
}

spark_engine *cli_engine(const cli_globals *g, spark_error **error)
{
    spark_engine_options options = {
        .plugin_paths = g->plugin_paths,
        .plugin_path_count = g->plugin_path_count,
        .log_level = g->verbosity < 0   ? SPARK_LOG_LEVEL_ERROR
                     : g->verbosity == 0 ? SPARK_LOG_LEVEL_WARN
                     : g->verbosity == 1 ? SPARK_LOG_LEVEL_INFO
                                         : SPARK_LOG_LEVEL_DEBUG,
        .log = log_line,
    };
    return spark_engine_new(&options, error);
}

int cli_report(spark_error *error)
{
    if (!error) {
        fprintf(stderr, "sparkhost: internal error (no message)\n");
        return EXIT_INTERNAL;
    }
    int code;
    switch (error->error_class) {
    case SPARK_ERROR_USAGE: code = EXIT_USAGE; break;
    case SPARK_ERROR_PIPELINE:
    case SPARK_ERROR_REQUEST: code = EXIT_INVALID; break;
    case SPARK_ERROR_JOB: code = EXIT_JOB; break;
    default: code = EXIT_INTERNAL; break;
    }
    /* Pipeline problems already start with file:line; others get the program name. */
    if (error->error_class == SPARK_ERROR_PIPELINE)
        fprintf(stderr, "%s\n", error->message);
    else
        fprintf(stderr, "sparkhost: %s\n", error->message);
    spark_error_free(error);
    return code;
}

int cli_usage_error(const char *command, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sparkhost%s%s: ", command ? " " : "", command ? command : "");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'sparkhost %s%s--help')\n", command ? command : "", command ? " " : "");
    return EXIT_USAGE;
}

bool cli_is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}
