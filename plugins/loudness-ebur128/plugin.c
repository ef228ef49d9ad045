/* loudness-ebur128 plugin: the entry and the descriptor of its node (loudness_node.c). */
#include <string.h>

#include <spark/plugin.h>

#include "loudness_node.h"

#define LOUDNESS_PLUGIN_VERSION "1.0.0"

static const spark_port_desc loudness_ports[LOUDNESS_PORT_COUNT] = {
    [LOUDNESS_PORT_IN] = { .name = "in", .direction = SPARK_PORT_IN, .kind = SPARK_KIND_AUDIO,
                           .doc = "float32 planar audio, mono to 5.1; one rate and channel "
                                  "count per job" },
    [LOUDNESS_PORT_OUT] = { .name = "out", .direction = SPARK_PORT_OUT,
                            .kind = SPARK_KIND_AUDIO,
                            .doc = "the same audio normalised, in the same packets, emitted "
                                   "once the whole job's audio has been measured" },
};

#define PER_JOB_RANGE (SPARK_PARAM_PER_JOB | SPARK_PARAM_HAS_MIN | SPARK_PARAM_HAS_MAX)

static const spark_param_desc loudness_params[] = {
    { .key = LOUDNESS_PARAM_ENABLED, .type = SPARK_PARAM_BOOLEAN,
      .flags = SPARK_PARAM_PER_JOB, .default_value = "true",
      .doc = "false: every packet passes through at once, unchanged and unmeasured (for "
             "streamed jobs, whose first audio would otherwise wait for the whole job)" },
    { .key = LOUDNESS_PARAM_TARGET, .type = SPARK_PARAM_NUMBER, .flags = PER_JOB_RANGE,
      .default_value = "-16", .min = -50.0, .max = -5.0,
      .doc = "integrated loudness to reach, LUFS: -16 speech and podcasts, -23 broadcast "
             "(EBU R 128), -14 music streaming" },
    { .key = LOUDNESS_PARAM_CEILING, .type = SPARK_PARAM_NUMBER, .flags = PER_JOB_RANGE,
      .default_value = "-1", .min = -20.0, .max = 0.0,
      .doc = "highest true peak allowed, dBTP; a look-ahead limiter holds peaks under it "
             "where the gain would push them over" },
    { .key = LOUDNESS_PARAM_DUAL_MONO, .type = SPARK_PARAM_BOOLEAN,
      .flags = SPARK_PARAM_PER_JOB, .default_value = "false",
      .doc = "measure mono audio as dual-mono (played on two loudspeakers, +3 dB), as "
             "ffmpeg's ebur128 dualmono=1 does" },
    { .key = LOUDNESS_PARAM_SILENCE_GATE, .type = SPARK_PARAM_NUMBER, .flags = PER_JOB_RANGE,
      .default_value = "-70", .min = -70.0, .max = -20.0,
      .doc = "audio whose integrated loudness is below this (LUFS), or all silence, passes "
             "through unchanged with a warning instead of being amplified into noise" },
    { .key = LOUDNESS_PARAM_LOOKAHEAD, .type = SPARK_PARAM_NUMBER, .flags = PER_JOB_RANGE,
      .default_value = "5", .min = 0.5, .max = 50.0,
      .doc = "limiter look-ahead, ms: the gain ramps down over this time before a peak" },
    { .key = LOUDNESS_PARAM_RELEASE, .type = SPARK_PARAM_NUMBER, .flags = PER_JOB_RANGE,
      .default_value = "100", .min = 1.0, .max = 2000.0,
      .doc = "limiter release time constant, ms" },
};

static const spark_result_desc loudness_results[] = {
    { .name = LOUDNESS_RESULT_INPUT_I, .type = SPARK_VALUE_NUMBER,
      .doc = "integrated loudness of the input, LUFS (-inf, null in JSON, when all of it is "
             "below the -70 LUFS gate)" },
    { .name = LOUDNESS_RESULT_INPUT_LRA, .type = SPARK_VALUE_NUMBER,
      .doc = "loudness range of the input, LU" },
    { .name = LOUDNESS_RESULT_INPUT_TP, .type = SPARK_VALUE_NUMBER,
      .doc = "true peak of the input, dBTP (libebur128, 4x oversampled below 96 kHz)" },
    { .name = LOUDNESS_RESULT_OUTPUT_I, .type = SPARK_VALUE_NUMBER,
      .doc = "integrated loudness of the output, LUFS" },
    { .name = LOUDNESS_RESULT_OUTPUT_LRA, .type = SPARK_VALUE_NUMBER,
      .doc = "loudness range of the output, LU" },
    { .name = LOUDNESS_RESULT_OUTPUT_TP, .type = SPARK_VALUE_NUMBER,
      .doc = "true peak of the output, dBTP" },
    { .name = LOUDNESS_RESULT_GAIN, .type = SPARK_VALUE_NUMBER,
      .doc = "static gain applied, dB (0 when passed through)" },
    { .name = LOUDNESS_RESULT_LIMITED, .type = SPARK_VALUE_BOOLEAN,
      .doc = "the limiter reduced some peaks" },
    { .name = LOUDNESS_RESULT_REDUCTION, .type = SPARK_VALUE_NUMBER,
      .doc = "the limiter's deepest gain reduction, dB (0 when it did not act)" },
    { .name = LOUDNESS_RESULT_NORMALIZED, .type = SPARK_VALUE_BOOLEAN,
      .doc = "false when the audio was below the silence gate and passed unchanged" },
};

static const spark_node_desc loudness_node = {
    .struct_size = sizeof(spark_node_desc),
    .max_concurrent_jobs = 0,
    .id = LOUDNESS_NODE_ID,
    .name = "loudness normalise",
    .version = LOUDNESS_PLUGIN_VERSION,
    .description = "Measures a job's whole audio (ITU-R BS.1770 / EBU R 128 integrated "
                   "loudness, loudness range, true peak; libebur128) and normalises it to a "
                   "target loudness under a true-peak ceiling, with a look-ahead limiter on "
                   "oversampled peaks where the gain alone would exceed the ceiling.",
    .features = NULL,
    .port_count = LOUDNESS_PORT_COUNT,
    .param_count = sizeof(loudness_params) / sizeof(loudness_params[0]),
    .ports = loudness_ports,
    .params = loudness_params,
    .result_count = sizeof(loudness_results) / sizeof(loudness_results[0]),
    .results = loudness_results,
    .ops = &loudness_node_ops,
};

static const spark_node_desc *const loudness_nodes[] = { &loudness_node };

static const spark_node_factory loudness_node_factory = {
    .struct_size = sizeof(spark_node_factory),
    .node_count = 1,
    .nodes = loudness_nodes,
};

static const void *loudness_get_factory(const char *factory_id)
{
    if (factory_id && strcmp(factory_id, SPARK_FACTORY_NODE) == 0)
        return &loudness_node_factory;
    return NULL;
}

SPARK_PLUGIN_ENTRY = {
    .struct_size = sizeof(spark_entry),
    .reserved = 0,
    .abi = SPARK_ABI_VERSION_INIT,
    .reserved2 = 0,
    .name = "loudness-ebur128",
    .version = LOUDNESS_PLUGIN_VERSION,
    .init = NULL,
    .deinit = NULL,
    .get_factory = loudness_get_factory,
};
