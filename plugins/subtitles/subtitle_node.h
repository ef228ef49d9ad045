/* subtitle_node.h - the node ops of org.sparkhost.subtitles.write and its parameter
 * names, shared with the descriptor in plugin.c. */
#ifndef SUBTITLE_NODE_H
#define SUBTITLE_NODE_H

#include <spark/plugin.h>

enum { SUBTITLE_PORT_TIMING, SUBTITLE_PORT_FILE };

extern const spark_node_ops subtitle_node_ops;

#endif
