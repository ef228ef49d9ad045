/* The BiCodec decode node (decode_node.c). */
#ifndef BICODEC_DECODE_NODE_H
#define BICODEC_DECODE_NODE_H

#include <spark/plugin.h>

extern const spark_node_desc bicodec_decode_desc;

#endif
