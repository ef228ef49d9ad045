/* The three nodes' operation tables and parameter keys, shared by their implementations
 * (decode.c, resample.c, encode.c) and the descriptors in plugin.c. */
#ifndef AUDIO_IO_NODES_H
#define AUDIO_IO_NODES_H

#include <spark/plugin.h>

#define AUDIO_DECODE_NODE_ID "org.sparkhost.audio.decode"
#define AUDIO_RESAMPLE_NODE_ID "org.sparkhost.audio.resample"
#define AUDIO_ENCODE_NODE_ID "org.sparkhost.audio.encode"

#define DECODE_PARAM_CHANNELS "channels"
#define DECODE_PARAM_CHUNK_SECONDS "chunk_seconds"

#define RESAMPLE_PARAM_RATE "rate"
#define RESAMPLE_PARAM_CHANNELS "channels"
#define RESAMPLE_PARAM_QUALITY "quality"
#define RESAMPLE_PARAM_PIECES "pieces"
#define RESAMPLE_DEFAULT_RATE 16000
#define RESAMPLE_MIN_RATE 1000
#define RESAMPLE_MAX_RATE 384000
#define RESAMPLE_MAX_CHANNELS 8

#define ENCODE_PARAM_FORMAT "format"
#define ENCODE_PARAM_SAMPLE_FORMAT "sample_format"
#define ENCODE_PARAM_QUALITY "quality"
#define ENCODE_PARAM_STREAM "stream"
#define ENCODE_DEFAULT_QUALITY 0.6

#define ENCODE_RESULT_DURATION "duration"
#define ENCODE_RESULT_SAMPLE_RATE "sample_rate"
#define ENCODE_RESULT_CHANNELS "channels"
#define ENCODE_RESULT_FORMAT "format"
#define ENCODE_RESULT_BYTES "bytes"

extern const spark_node_ops audio_decode_node_ops;
extern const spark_node_ops audio_resample_node_ops;
extern const spark_node_ops audio_encode_node_ops;

#endif
