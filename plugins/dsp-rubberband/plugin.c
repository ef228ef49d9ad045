/* dsp-rubberband plugin: the entry and the descriptor of its node (shift_node.c). */
#include <string.h>

#include <spark/plugin.h>

#include "shift_node.h"

#define SHIFT_PLUGIN_VERSION "1.0.0"

static const spark_port_desc shift_ports[SHIFT_PORT_COUNT] = {
    [SHIFT_PORT_IN] = { .name = "in", .direction = SPARK_PORT_IN, .kind = SPARK_KIND_AUDIO,
                        .doc = "float32 planar audio, 1 to 8 channels; one rate and channel "
                               "count per job" },
    [SHIFT_PORT_OUT] = { .name = "out", .direction = SPARK_PORT_OUT, .kind = SPARK_KIND_AUDIO,
                         .doc = "the audio shifted, in the input's pieces (their boundaries "
                                "scaled by 1 / speed_shift); with no shift, the input packets "
                                "themselves as they arrive" },
};

#define PER_JOB_RANGE (SPARK_PARAM_PER_JOB | SPARK_PARAM_HAS_MIN | SPARK_PARAM_HAS_MAX)

static const spark_param_desc shift_params[] = {
    { .key = SHIFT_PARAM_PITCH, .type = SPARK_PARAM_NUMBER, .flags = PER_JOB_RANGE,
      .default_value = "0", .min = -12.0, .max = 12.0,
      .doc = "pitch change in semitones (frequencies x 2^(n/12)); the duration is kept" },
    { .key = SHIFT_PARAM_SPEED, .type = SPARK_PARAM_NUMBER, .flags = PER_JOB_RANGE,
      .default_value = "1", .min = 0.5, .max = 2.0,
      .doc = "tempo factor: the output lasts input / speed_shift; the pitch is kept" },
    { .key = SHIFT_PARAM_FORMANTS, .type = SPARK_PARAM_BOOLEAN, .flags = SPARK_PARAM_PER_JOB,
      .default_value = "false",
      .doc = "keep the spectral envelope while shifting pitch, so a voice keeps its timbre" },
};

static const spark_result_desc shift_results[] = {
    { .name = SHIFT_RESULT_INPUT_SECONDS, .type = SPARK_VALUE_NUMBER,
      .doc = "seconds of audio received" },
    { .name = SHIFT_RESULT_OUTPUT_SECONDS, .type = SPARK_VALUE_NUMBER,
      .doc = "seconds of audio emitted (input / speed_shift)" },
};

static const spark_node_desc shift_node = {
    .struct_size = sizeof(spark_node_desc),
    .max_concurrent_jobs = 0,
    .id = SHIFT_NODE_ID,
    .name = "pitch and speed shift",
    .version = SHIFT_PLUGIN_VERSION,
    .description = "Shifts pitch (semitones) and tempo (factor) independently with the "
                   "Rubber Band library (R3 engine, offline mode), optionally preserving "
                   "formants; "
                   "with no shift the audio passes through bit for bit.",
    .features = NULL,
    .port_count = SHIFT_PORT_COUNT,
    .param_count = sizeof(shift_params) / sizeof(shift_params[0]),
    .ports = shift_ports,
    .params = shift_params,
    .result_count = sizeof(shift_results) / sizeof(shift_results[0]),
    .results = shift_results,
    .ops = &shift_node_ops,
};

static const spark_node_desc *const shift_nodes[] = { &shift_node };

static const spark_node_factory shift_node_factory = {
    .struct_size = sizeof(spark_node_factory),
    .node_count = 1,
    .nodes = shift_nodes,
};

static const void *shift_get_factory(const char *factory_id)
{
    if (factory_id && strcmp(factory_id, SPARK_FACTORY_NODE) == 0)
        return &shift_node_factory;
    return NULL;
}

SPARK_PLUGIN_ENTRY = {
    .struct_size = sizeof(spark_entry),
    .reserved = 0,
    .abi = SPARK_ABI_VERSION_INIT,
    .reserved2 = 0,
    .name = "dsp-rubberband",
    .version = SHIFT_PLUGIN_VERSION,
    .init = NULL,
    .deinit = NULL,
    .get_factory = shift_get_factory,
};
