/* sparkhost model synth: a random-weight model in the Spark-TTS-0.5B release layout. */
#include "model.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <spark/nn/spark_model.h>

static const char usage[] =
    "usage: sparkhost model synth --preset tiny|full [--seed N] DIR\n"
    "\n"
    "Writes a model directory in the Spark-TTS-0.5B release layout (config.yaml, LLM/,\n"
    "BiCodec/, wav2vec2-large-xlsr-53/) with random weights drawn from the seed: the same\n"
    "seed gives byte-identical files on every machine. The tokenizer is a working byte-level\n"
    "BPE learned from a built-in text, with the Spark control and audio tokens added.\n"
    "\n"
    "options:\n"
    "  --preset tiny   every structural feature of the release at small dimensions (31 MB,\n"
    "                  most of it the ECAPA speaker encoder, whose sizes are fixed upstream)\n"
    "  --preset full   the release's shapes and dtypes exactly (3.9 GB), for benchmarks\n"
    "  --seed N        the random seed, an unsigned 64-bit integer (default 0)\n"
    "  -h, --help      this help\n"
    "\n"
    "exit codes: 0 written, 2 usage error, 4 the directory could not be written\n";

static bool parse_seed(const char *text, uint64_t *out)
{
    if (!text[0] || text[0] == '-' || text[0] == '+')
        return false;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || *end)
        return false;
    *out = (uint64_t)v;
    return true;
}

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

int model_synth_main(const cli_globals *g, int argc, char **argv)
{
    const char *preset_name = NULL, *dir = NULL;
    uint64_t seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(usage, stdout);
            return EXIT_OK;
        } else if (strcmp(a, "--preset") == 0 || strcmp(a, "--seed") == 0) {
            if (i + 1 >= argc)
                return cli_usage_error("model synth", "%s needs a value", a);
            const char *value = argv[++i];
            if (a[2] == 'p')
                preset_name = value;
            else if (!parse_seed(value, &seed))
                return cli_usage_error("model synth", "--seed takes an unsigned integer, not '%s'",
                                       value);
        } else if (strncmp(a, "--preset=", 9) == 0) {
            preset_name = a + 9;
        } else if (strncmp(a, "--seed=", 7) == 0) {
            if (!parse_seed(a + 7, &seed))
                return cli_usage_error("model synth", "--seed takes an unsigned integer, not '%s'",
                                       a + 7);
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("model synth", "unknown option '%s'", a);
        } else if (!dir) {
            dir = a;
        } else {
            return cli_usage_error("model synth", "more than one directory ('%s', '%s')", dir, a);
        }
    }
    if (!preset_name)
        return cli_usage_error("model synth", "--preset is required (tiny or full)");
    if (!dir)
        return cli_usage_error("model synth", "no output directory given");
    nn_spark_preset preset;
    if (!nn_spark_preset_get(preset_name, &preset))
        return cli_usage_error("model synth", "unknown preset '%s' (tiny or full)", preset_name);

    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    nn_spark_synth_report report;
    char *error = NULL;
    if (nn_spark_synth(dir, &preset, seed, &report, &error) != 0) {
        fprintf(stderr, "sparkhost: model synth: %s\n", error ? error : "failed");
        free(error);
        return EXIT_JOB;
    }
    if (g->verbosity >= 0) {
        printf("wrote %s (preset %s, seed %" PRIu64 ") in %.1f s\n", dir, preset.name, seed,
               seconds_since(&start));
        for (int c = 0; c < NN_SPARK_COMPONENT_COUNT; c++)
            printf("  %-9s %5" PRIu64 " tensors %10.1f MB  %s\n",
                   nn_spark_component_name((nn_spark_component)c), report.tensor_count[c],
                   (double)report.tensor_bytes[c] / 1e6,
                   nn_spark_component_weights((nn_spark_component)c));
        printf("  tokenizer %lld regular + %lld added tokens\n",
               (long long)report.regular_tokens, (long long)report.added_tokens);
    }
    return EXIT_OK;
}
