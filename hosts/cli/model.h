/* The `sparkhost model` subcommands, one file each. */
#ifndef SPARK_CLI_MODEL_H
#define SPARK_CLI_MODEL_H

#include "cli.h"

/* Each takes argv[0] = the subcommand name and returns an exit code. */
int model_synth_main(const cli_globals *g, int argc, char **argv);
int model_info_main(const cli_globals *g, int argc, char **argv);
int model_fetch_main(const cli_globals *g, int argc, char **argv);

#endif
