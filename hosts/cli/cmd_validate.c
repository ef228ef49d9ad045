/* sparkhost validate PIPELINE */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: sparkhost validate PIPELINE\n"
    "\n"
    "Checks a pipeline file against the installed plugins without loading any model:\n"
    "plugin ids, parameter names, types and ranges, links, port kinds, cycles, inputs\n"
    "and outputs. Every problem is printed as FILE:LINE: message.\n";

int cmd_validate(const cli_globals *g, int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(usage, stdout);
            return EXIT_OK;
        }
        if (argv[i][0] == '-' && argv[i][1])
            return cli_usage_error("validate", "unknown option '%s'", argv[i]);
        if (path)
            return cli_usage_error("validate", "takes one pipeline file");
        path = argv[i];
    }
    if (!path)
        return cli_usage_error("validate", "needs a pipeline file");
    spark_error *error = NULL;
    spark_engine *engine = cli_engine(g, &error);
    if (!engine)
        return cli_report(error);
    spark_pipeline *p = spark_pipeline_load(engine, path, NULL, &error);
    int rc = EXIT_OK;
    if (!p) {
        rc = cli_report(error);
    } else {
        if (g->verbosity >= 0)
            printf("%s: ok (%zu nodes, %zu links)\n", path, spark_pipeline_node_count(p),
                   spark_pipeline_link_count(p));
        spark_pipeline_free(p);
    }
    spark_engine_free(engine);
    return rc;
}
