/* plugin.c - entry and descriptor of the text-segmenter plugin. The node's work is in
 * segment_node.c and the pure segmenter beside it. */
#include <spark/plugin.h>

#include <string.h>

#include "segment_node.h"

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

static const spark_port_desc segment_ports[] = {
    [SEGMENT_PORT_IN] = {"in", SPARK_PORT_IN, SPARK_KIND_TEXT, 0, 0, 0, 0,
                         "The job's text (UTF-8). Each packet is segmented on its own."},
    [SEGMENT_PORT_OUT] = {"out", SPARK_PORT_OUT, SPARK_KIND_TEXT, 0, 0, 0, 0,
                          "One packet per segment, seq 0, 1, 2, ...: whitespace-normalised "
                          "text, offset = byte offset of its first byte in the job's text."},
};

static const spark_param_desc segment_params[] = {
    {SEGMENT_PARAM_MAX_CHARS, SPARK_PARAM_INTEGER, SPARK_PARAM_HAS_MIN | SPARK_PARAM_HAS_MAX,
     STRINGIFY(SEGMENT_MAX_CHARS_DEFAULT), SEGMENT_MAX_CHARS_MIN, SEGMENT_MAX_CHARS_MAX, 0, 0,
     NULL,
     "Most Unicode code points in one segment. A longer sentence is cut after clause "
     "punctuation, else at whitespace, else between grapheme clusters."},
    {SEGMENT_PARAM_MIN_CHARS, SPARK_PARAM_INTEGER, SPARK_PARAM_HAS_MIN | SPARK_PARAM_HAS_MAX,
     STRINGIFY(SEGMENT_MIN_CHARS_DEFAULT), SEGMENT_MIN_CHARS_MIN, SEGMENT_MIN_CHARS_MAX, 0, 0,
     NULL,
     "A sentence shorter than this (code points) is merged with the next piece while the "
     "result stays within max_chars; never across a hard line break."},
    {SEGMENT_PARAM_SPLIT_NEWLINES, SPARK_PARAM_BOOLEAN, 0, "true", 0, 0, 0, 0, NULL,
     "A single line break ends a segment. A blank line always does."},
};

static const spark_node_desc segment_node = {
    .struct_size = sizeof(spark_node_desc),
    .max_concurrent_jobs = 0,
    .id = "org.sparkhost.text.segment",
    .name = "Text segmenter",
    .version = "1.0.0",
    .description = "Splits the job's text into sentences for synthesis (Latin and CJK "
                   "punctuation, abbreviations, decimals, line breaks), merges short ones, "
                   "cuts over-long ones, and normalises whitespace.",
    .port_count = sizeof segment_ports / sizeof segment_ports[0],
    .param_count = sizeof segment_params / sizeof segment_params[0],
    .ports = segment_ports,
    .params = segment_params,
    .ops = &segment_node_ops,
};

static const spark_node_desc *const segment_nodes[] = {&segment_node};

static const spark_node_factory segment_factory = {
    .struct_size = sizeof(spark_node_factory),
    .node_count = 1,
    .nodes = segment_nodes,
};

static const void *segment_get_factory(const char *factory_id)
{
    if (factory_id && strcmp(factory_id, SPARK_FACTORY_NODE) == 0)
        return &segment_factory;
    return NULL;
}

SPARK_PLUGIN_ENTRY = {
    .struct_size = sizeof(spark_entry),
    .abi = SPARK_ABI_VERSION_INIT,
    .name = "text-segmenter",
    .version = "1.0.0",
    .get_factory = segment_get_factory,
};
