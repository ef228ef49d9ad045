/* sparkhost model synth | info | fetch */
#include "model.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: sparkhost model synth --preset tiny|full --seed N DIR\n"
    "       sparkhost model info [--json] DIR\n"
    "       sparkhost model fetch [--repo ID] [--revision REV] [--dir DIR] [--only-inference]\n"
    "\n"
    "synth  write a random-weight model in the Spark-TTS-0.5B release layout\n"
    "info   check a model directory and describe what it holds\n"
    "fetch  download a model repository from the Hugging Face hub\n"
    "\n"
    "'sparkhost model SUBCOMMAND --help' tells more.\n";

static const struct {
    const char *name;
    int (*run)(const cli_globals *g, int argc, char **argv);
} subcommands[] = {
    {"synth", model_synth_main},
    {"info", model_info_main},
    {"fetch", model_fetch_main},
};

int cmd_model(const cli_globals *g, int argc, char **argv)
{
    if (argc < 2 || cli_is_help(argv[1])) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        if (strcmp(argv[1], subcommands[i].name) == 0)
            return subcommands[i].run(g, argc - 1, argv + 1);
    return cli_usage_error("model", "unknown subcommand '%s'", argv[1]);
}
