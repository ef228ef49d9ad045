/* Shared pieces of the sparkhost command line. */
#ifndef SPARK_CLI_H
#define SPARK_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include <spark/engine.h>

/* Exit codes, by error class. */
enum {
    EXIT_OK = 0,
    EXIT_USAGE = 2,
    EXIT_INVALID = 3,  /* invalid pipeline or request */
    EXIT_JOB = 4,      /* the job failed, was cancelled or timed out */
    EXIT_INTERNAL = 5
};

typedef struct cli_globals {
    const char **plugin_paths;
    size_t plugin_path_count;
    int verbosity; /* -1 quiet, 0 normal, 1 verbose, 2 debug */
} cli_globals;

spark_engine *cli_engine(const cli_globals *g, spark_error **error);
/* Prints the error on stderr and returns its exit code. Frees it. */
int cli_report(spark_error *error);
int cli_usage_error(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool cli_is_help(const char *arg);

int cmd_run(const cli_globals *g, int argc, char **argv);
int cmd_validate(const cli_globals *g, int argc, char **argv);
int cmd_plugins(const cli_globals *g, int argc, char **argv);
int cmd_model(const cli_globals *g, int argc, char **argv);
int cmd_tokenize(const cli_globals *g, int argc, char **argv);
int cmd_generate(const cli_globals *g, int argc, char **argv);
int cmd_codec(const cli_globals *g, int argc, char **argv);
int cmd_bench(const cli_globals *g, int argc, char **argv);

#endif
