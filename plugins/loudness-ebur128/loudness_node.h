/* org.sparkhost.audio.loudness: names shared by the descriptor (plugin.c) and the node
 * (loudness_node.c). */
#ifndef LOUDNESS_NODE_H
#define LOUDNESS_NODE_H

#include <spark/plugin.h>

#define LOUDNESS_NODE_ID "org.sparkhost.audio.loudness"

enum { LOUDNESS_PORT_IN = 0, LOUDNESS_PORT_OUT = 1, LOUDNESS_PORT_COUNT = 2 };

#define LOUDNESS_PARAM_TARGET "target"
#define LOUDNESS_PARAM_CEILING "ceiling"
#define LOUDNESS_PARAM_DUAL_MONO "dual_mono"
#define LOUDNESS_PARAM_SILENCE_GATE "silence_gate"
#define LOUDNESS_PARAM_LOOKAHEAD "lookahead_ms"
#define LOUDNESS_PARAM_RELEASE "release_ms"
#define LOUDNESS_PARAM_ENABLED "enabled"

#define LOUDNESS_RESULT_INPUT_I "input_integrated"
#define LOUDNESS_RESULT_INPUT_LRA "input_lra"
#define LOUDNESS_RESULT_INPUT_TP "input_true_peak"
#define LOUDNESS_RESULT_OUTPUT_I "output_integrated"
#define LOUDNESS_RESULT_OUTPUT_LRA "output_lra"
#define LOUDNESS_RESULT_OUTPUT_TP "output_true_peak"
#define LOUDNESS_RESULT_GAIN "gain_db"
#define LOUDNESS_RESULT_LIMITED "limited"
#define LOUDNESS_RESULT_REDUCTION "limiter_reduction_db"
#define LOUDNESS_RESULT_NORMALIZED "normalized"

extern const spark_node_ops loudness_node_ops;

#endif
