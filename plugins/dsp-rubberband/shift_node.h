/* org.sparkhost.audio.shift: names shared by the descriptor (plugin.c) and the node
 * (shift_node.c). */
#ifndef SHIFT_NODE_H
#define SHIFT_NODE_H

#include <spark/plugin.h>

#define SHIFT_NODE_ID "org.sparkhost.audio.shift"

enum { SHIFT_PORT_IN = 0, SHIFT_PORT_OUT = 1, SHIFT_PORT_COUNT = 2 };

#define SHIFT_PARAM_PITCH "pitch_shift"
#define SHIFT_PARAM_SPEED "speed_shift"
#define SHIFT_PARAM_FORMANTS "preserve_formants"

#define SHIFT_RESULT_INPUT_SECONDS "input_seconds"
#define SHIFT_RESULT_OUTPUT_SECONDS "output_seconds"

extern const spark_node_ops shift_node_ops;

#endif
