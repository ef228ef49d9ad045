/* tokenizer_nodes.h - the plugin's two nodes: the Spark-TTS prompt builder and the parser of
 * generated ids. Port indexes follow the descriptors in plugin.c. */
#ifndef SPARK_TOKENIZER_NODES_H
#define SPARK_TOKENIZER_NODES_H

#include <spark/plugin.h>

enum { PROMPT_PORT_TEXT = 0, PROMPT_PORT_VOICE = 1, PROMPT_PORT_TOKENS = 2 };
enum { PARSE_PORT_TOKENS = 0, PARSE_PORT_CODES = 1 };

#define TOKENIZER_VOCABULARY "spark-tts-qwen2" /* name carried by TOKENS packets */
#define BICODEC_FRAME_RATE 50.0                /* semantic frames per second */

extern const spark_node_ops prompt_node_ops;
extern const spark_node_ops parse_node_ops;

#endif
