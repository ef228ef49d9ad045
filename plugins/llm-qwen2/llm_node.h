/* llm_node.h - the LLM node's operations; port indexes follow the descriptor in plugin.c. */
#ifndef SPARK_LLM_NODE_H
#define SPARK_LLM_NODE_H

#include <spark/plugin.h>

enum { LLM_PORT_PROMPT = 0, LLM_PORT_GENERATED = 1, LLM_PORT_CODES = 2 };

#define LLM_CODEC "bicodec"
#define LLM_FRAME_RATE 50.0 /* semantic codes per second of speech */

extern const spark_node_ops llm_node_ops;

#endif
