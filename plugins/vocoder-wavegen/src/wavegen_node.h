/* The WaveGenerator vocoder node (wavegen_node.c). */
#ifndef WAVEGEN_NODE_H
#define WAVEGEN_NODE_H

#include <spark/plugin.h>

extern const spark_node_desc wavegen_node_desc;

#endif
