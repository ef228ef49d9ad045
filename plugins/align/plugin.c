/* plugin.c - entry and descriptor of the align plugin. The node is align_node.c; the
 * aligner itself is word_units.c, speech_activity.c and word_aligner.c. */
#include <spark/plugin.h>

#include <string.h>

#include "align_node.h"

static const spark_port_desc align_ports[] = {
    [ALIGN_PORT_TEXT] = {"text", SPARK_PORT_IN, SPARK_KIND_TEXT, 0, 0, 0, 0,
                         "The sentences, one packet each, seq 0, 1, 2, ... (as the text "
                         "segmenter sends them)."},
    [ALIGN_PORT_AUDIO] = {"audio", SPARK_PORT_IN, SPARK_KIND_AUDIO, 0, 0, 0, 0,
                          "Their speech: one packet per sentence with its place in the job's "
                          "stream as timestamp (as the join node sends it), or any pieces of "
                          "one stream."},
    [ALIGN_PORT_TIMING] = {"timing", SPARK_PORT_OUT, SPARK_KIND_TIMING, 0, 0, 0, 0,
                           "One packet per sentence: its segment item, then one item per "
                           "word (start, end in seconds of the job's audio, score 0..1)."},
};

static const char *const spans_choices[] = {"auto", "packets", "whole", NULL};

static const spark_param_desc align_params[] = {
    {ALIGN_PARAM_SPANS, SPARK_PARAM_ENUM, SPARK_PARAM_PER_JOB, "auto", 0, 0, 0, 0,
     spans_choices,
     "Where sentences lie in the audio: 'packets' = audio packet i holds sentence i (seq "
     "order); 'whole' = the audio is one stream and sentences are found in it with their "
     "words; 'auto' = 'packets' when the counts match, else 'whole'."},
    {ALIGN_PARAM_MIN_PAUSE, SPARK_PARAM_NUMBER,
     SPARK_PARAM_PER_JOB | SPARK_PARAM_HAS_MIN | SPARK_PARAM_HAS_MAX, "0.1", 0.02, 2, 0, 0,
     NULL,
     "Seconds of quiet that separate two stretches of speech; shorter quiet stays inside a "
     "stretch and only attracts word boundaries."},
    {ALIGN_PARAM_REPORT, SPARK_PARAM_BOOLEAN, SPARK_PARAM_PER_JOB, "true", 0, 0, 0, 0, NULL,
     "Put the word_timings result in the job's result; false: only the timing packets (for "
     "subtitles) are made."},
};

static const spark_result_desc align_results[] = {
    {ALIGN_RESULT_JSON, SPARK_VALUE_JSON, 0,
     "Word timings in the shape WhisperX returns: {\"segments\":[{\"start\",\"end\",\"text\","
     "\"words\":[{\"word\",\"start\",\"end\",\"score\"}]}],\"word_segments\":[...]}"},
    {ALIGN_RESULT_WORDS, SPARK_VALUE_INTEGER, 0, "the number of words placed"},
};

static const spark_node_desc align_node = {
    .struct_size = sizeof(spark_node_desc),
    .max_concurrent_jobs = 0,
    .id = "org.sparkhost.align.words",
    .name = "Word aligner",
    .version = "1.0.0",
    .description = "Word timings for synthesised speech without a model: words are placed "
                   "between pauses by their expected length (syllables, punctuation) and "
                   "their boundaries drawn to dips in level.",
    .port_count = sizeof align_ports / sizeof align_ports[0],
    .param_count = sizeof align_params / sizeof align_params[0],
    .ports = align_ports,
    .params = align_params,
    .result_count = sizeof align_results / sizeof align_results[0],
    .results = align_results,
    .ops = &align_node_ops,
};

static const spark_node_desc *const align_nodes[] = {&align_node};

static const spark_node_factory align_factory = {
    .struct_size = sizeof(spark_node_factory),
    .node_count = 1,
    .nodes = align_nodes,
};

static const void *align_get_factory(const char *factory_id)
{
    if (factory_id && strcmp(factory_id, SPARK_FACTORY_NODE) == 0)
        return &align_factory;
    return NULL;
}

SPARK_PLUGIN_ENTRY = {
    .struct_size = sizeof(spark_entry),
    .abi = SPARK_ABI_VERSION_INIT,
    .name = "align",
    .version = "1.0.0",
    .get_factory = align_get_factory,
};
