/* segment_node.h - the node operations of org.sparkhost.text.segment. */
#ifndef TEXT_SEGMENTER_NODE_H
#define TEXT_SEGMENTER_NODE_H

#include <spark/plugin.h>

/* Port indices: positions in the descriptor's ports array (plugin.c). */
enum {
    SEGMENT_PORT_IN = 0,
    SEGMENT_PORT_OUT = 1
};

#define SEGMENT_PARAM_MAX_CHARS "max_chars"
#define SEGMENT_PARAM_MIN_CHARS "min_chars"
#define SEGMENT_PARAM_SPLIT_NEWLINES "split_newlines"

/* Limits and defaults, shared by the descriptor and configure. */
#define SEGMENT_MAX_CHARS_MIN 16
#define SEGMENT_MAX_CHARS_MAX 4096
#define SEGMENT_MAX_CHARS_DEFAULT 300
#define SEGMENT_MIN_CHARS_MIN 0
#define SEGMENT_MIN_CHARS_MAX 1024
#define SEGMENT_MIN_CHARS_DEFAULT 20

extern const spark_node_ops segment_node_ops;

#endif
