/* align_node.h - the node ops of org.sparkhost.align.words and its port and parameter
 * names, shared with the descriptor in plugin.c. */
#ifndef ALIGN_NODE_H
#define ALIGN_NODE_H

#include <spark/plugin.h>

enum { ALIGN_PORT_TEXT, ALIGN_PORT_AUDIO, ALIGN_PORT_TIMING, ALIGN_PORT_COUNT };

#define ALIGN_PARAM_SPANS "spans"
#define ALIGN_PARAM_MIN_PAUSE "min_pause"
#define ALIGN_PARAM_REPORT "report"
#define ALIGN_RESULT_JSON "word_timings"
#define ALIGN_RESULT_WORDS "words"

extern const spark_node_ops align_node_ops;

#endif
