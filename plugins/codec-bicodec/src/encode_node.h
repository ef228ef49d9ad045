/* The BiCodec encode node (encode_node.c). */
#ifndef BICODEC_ENCODE_NODE_H
#define BICODEC_ENCODE_NODE_H

#include <spark/plugin.h>

extern const spark_node_desc bicodec_encode_desc;

#endif
