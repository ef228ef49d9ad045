/* sparkhost: the command-line host. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: sparkhost [global options] <command> [arguments]\n"
    "\n"
    "Runs speech-synthesis pipelines built from plugins.\n"
    "\n"
    "commands:\n"
    "  run PIPELINE       run one job through a pipeline\n"
    "  validate PIPELINE  check a pipeline file without running it\n"
    "  plugins list       list the installed nodes and storage backends\n"
    "  plugins inspect ID show a plugin's ports, parameters and results\n"
    "  model synth|info|fetch\n"
    "                     make, check or download Spark-TTS model directories\n"
    "  tokenize --model DIR\n"
    "                     text -> token ids (or --decode, or --prompt MODE) as JSON\n"
    "  generate --model DIR --ids JSON\n"
    "                     run the LLM alone on prompt ids; prints the generated ids\n"
    "  codec decode|encode\n"
    "                     BiCodec codes -> WAV, or a reference recording -> voice codes\n"
    "  bench PIPELINE     time a fixed set of texts: real-time factor, first audio, stages\n"
    "\n"
    "global options:\n"
    "  --plugin-path DIR  search DIR for plugins first (repeatable)\n"
    "  -v, --verbose      say more (twice: debug)\n"
    "  -q, --quiet        only errors\n"
    "  --version          print the version\n"
    "  -h, --help         this help; 'sparkhost COMMAND --help' for a command\n"
    "\n"
    "Plugins are also found in SPARK_PLUGIN_PATH (colon-separated), in\n"
    "../lib/sparkhost/plugins beside this program, and in the install prefix.\n"
    "\n"
    "exit codes: 0 success, 2 usage error, 3 invalid pipeline or request,\n"
    "            4 job failed, 5 internal error\n";

int main(int argc, char **argv)
{
    cli_globals g = {0};
    const char **paths = calloc((size_t)argc + 1, sizeof *paths);
    if (!paths)
        return EXIT_INTERNAL;
    g.plugin_paths = paths;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(usage, stdout);
            free(paths);
            return EXIT_OK;
        } else if (strcmp(a, "--version") == 0) {
            printf("sparkhost %s (plugin ABI %u.%u.%u)\n", spark_engine_version(),
                   SPARK_ABI_MAJOR, SPARK_ABI_MINOR, SPARK_ABI_PATCH);
            free(paths);
            return EXIT_OK;
        } else if (strcmp(a, "--plugin-path") == 0 && i + 1 < argc) {
            paths[g.plugin_path_count++] = argv[++i];
        } else if (strncmp(a, "--plugin-path=", 14) == 0) {
            paths[g.plugin_path_count++] = a + 14;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            g.verbosity++;
        } else if (strcmp(a, "-vv") == 0) {
            g.verbosity += 2;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            g.verbosity = -1;
        } else {
            free(paths);
            return cli_usage_error(NULL, "unknown option '%s'", a);
        }
    }
    if (i >= argc) {
        fputs(usage, stderr);
        free(paths);
        return EXIT_USAGE;
    }
    const char *command = argv[i];
    int rc;
    if (strcmp(command, "run") == 0)
        rc = cmd_run(&g, argc - i, argv + i);
    else if (strcmp(command, "validate") == 0)
        rc = cmd_validate(&g, argc - i, argv + i);
    else if (strcmp(command, "plugins") == 0)
        rc = cmd_plugins(&g, argc - i, argv + i);
    else if (strcmp(command, "model") == 0)
        rc = cmd_model(&g, argc - i, argv + i);
    else if (strcmp(command, "tokenize") == 0)
        rc = cmd_tokenize(&g, argc - i, argv + i);
    else if (strcmp(command, "generate") == 0)
        rc = cmd_generate(&g, argc - i, argv + i);
    else if (strcmp(command, "codec") == 0)
        rc = cmd_codec(&g, argc - i, argv + i);
    else if (strcmp(command, "bench") == 0)
        rc = cmd_bench(&g, argc - i, argv + i);
    else if (strcmp(command, "help") == 0) {
        fputs(usage, stdout);
        rc = EXIT_OK;
    } else
        rc = cli_usage_error(NULL, "unknown command '%s'", command);
    free(paths);
    return rc;
}
