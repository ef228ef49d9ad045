/* plugin.c - entry and descriptor of the subtitles plugin. The node is subtitle_node.c;
 * cues are sub_cues.c; the formats are sub_ass.c, sub_srt.c and sub_vtt.c. */
#include <spark/plugin.h>

#include <string.h>

#include "subtitle_node.h"

#define PER_JOB SPARK_PARAM_PER_JOB
#define RANGE (SPARK_PARAM_PER_JOB | SPARK_PARAM_HAS_MIN | SPARK_PARAM_HAS_MAX)

static const spark_port_desc subtitle_ports[] = {
    [SUBTITLE_PORT_TIMING] = {"timing", SPARK_PORT_IN, SPARK_KIND_TIMING, 0, 0, 0, 0,
                              "Segment and word timings (as the aligner sends them); words "
                              "are used, or segments when there are no words."},
    [SUBTITLE_PORT_FILE] = {"file", SPARK_PORT_OUT, SPARK_KIND_BLOB, 0, 0, 0, 0,
                            "The subtitle file, one blob at the end of the job (none when "
                            "format is 'none'): text/x-ssa, application/x-subrip or text/vtt."},
};

static const char *const format_choices[] = {"none", "ass", "srt", "vtt", NULL};

static const spark_param_desc subtitle_params[] = {
    {"format", SPARK_PARAM_ENUM, PER_JOB, "ass", 0, 0, 0, 0, format_choices,
     "ass, srt, vtt, or none (no file; the cue count is still posted)."},
    {"max_chars_per_line", SPARK_PARAM_INTEGER, RANGE, "42", 4, 500, 0, 0, NULL,
     "Most characters (grapheme clusters) on one line; longer words are cut."},
    {"max_lines", SPARK_PARAM_INTEGER, RANGE, "2", 1, 10, 0, 0, NULL, "Most lines in one cue."},
    {"min_duration", SPARK_PARAM_NUMBER, RANGE, "0.8", 0, 30, 0, 0, NULL,
     "Seconds a cue stays at least (never into the next cue)."},
    {"max_duration", SPARK_PARAM_NUMBER, RANGE, "7", 0.1, 60, 0, 0, NULL,
     "Seconds a cue lasts at most; longer speech is split into more cues."},
    {"karaoke", SPARK_PARAM_BOOLEAN, PER_JOB, "false", 0, 0, 0, 0, NULL,
     "ASS: a {\\k} tag per word, so each word turns from secondary_colour to primary_colour "
     "when it is spoken."},
    {"play_res_x", SPARK_PARAM_INTEGER, RANGE, "1920", 16, 16384, 0, 0, NULL,
     "ASS: PlayResX, the width that sizes and margins refer to."},
    {"play_res_y", SPARK_PARAM_INTEGER, RANGE, "1080", 16, 16384, 0, 0, NULL,
     "ASS: PlayResY, the height that sizes and margins refer to."},
    {"font", SPARK_PARAM_STRING, PER_JOB, "DejaVu Sans", 0, 0, 255, 0, NULL,
     "ASS: font family (no commas)."},
    {"font_size", SPARK_PARAM_NUMBER, RANGE, "56", 1, 1000, 0, 0, NULL,
     "ASS: font size in PlayRes pixels."},
    {"primary_colour", SPARK_PARAM_STRING, PER_JOB, "&H00FFFFFF", 0, 0, 16, 0, NULL,
     "ASS: text colour, &HAABBGGRR (alpha 00 = opaque), &HBBGGRR, #RRGGBB or #RRGGBBAA."},
    {"secondary_colour", SPARK_PARAM_STRING, PER_JOB, "&H0000FFFF", 0, 0, 16, 0, NULL,
     "ASS: karaoke colour of words not yet spoken."},
    {"outline_colour", SPARK_PARAM_STRING, PER_JOB, "&H00000000", 0, 0, 16, 0, NULL,
     "ASS: outline colour."},
    {"back_colour", SPARK_PARAM_STRING, PER_JOB, "&H80000000", 0, 0, 16, 0, NULL,
     "ASS: shadow or box colour."},
    {"bold", SPARK_PARAM_BOOLEAN, PER_JOB, "false", 0, 0, 0, 0, NULL, "ASS: bold text."},
    {"italic", SPARK_PARAM_BOOLEAN, PER_JOB, "false", 0, 0, 0, 0, NULL, "ASS: italic text."},
    {"opaque_box", SPARK_PARAM_BOOLEAN, PER_JOB, "false", 0, 0, 0, 0, NULL,
     "ASS: an opaque box in back_colour behind the text instead of outline and shadow."},
    {"outline", SPARK_PARAM_NUMBER, RANGE, "2", 0, 20, 0, 0, NULL, "ASS: outline width."},
    {"shadow", SPARK_PARAM_NUMBER, RANGE, "1", 0, 20, 0, 0, NULL, "ASS: shadow depth."},
    {"alignment", SPARK_PARAM_INTEGER, RANGE, "2", 1, 9, 0, 0, NULL,
     "ASS: position on the numpad layout (1-3 bottom, 4-6 middle, 7-9 top; 2 = bottom centre)."},
    {"margin_l", SPARK_PARAM_INTEGER, RANGE, "60", 0, 10000, 0, 0, NULL, "ASS: left margin."},
    {"margin_r", SPARK_PARAM_INTEGER, RANGE, "60", 0, 10000, 0, 0, NULL, "ASS: right margin."},
    {"margin_v", SPARK_PARAM_INTEGER, RANGE, "50", 0, 10000, 0, 0, NULL,
     "ASS: vertical margin."},
    {"file_name", SPARK_PARAM_STRING, PER_JOB, "subtitles", 0, 0, 100, 0, NULL,
     "Suggested file name without extension (A-Z a-z 0-9 . _ -); the format's extension is "
     "added."},
};

static const spark_result_desc subtitle_results[] = {
    {"cues", SPARK_VALUE_INTEGER, 0, "the number of cues written"},
};

static const spark_node_desc subtitle_node = {
    .struct_size = sizeof(spark_node_desc),
    .max_concurrent_jobs = 0,
    .id = "org.sparkhost.subtitles.write",
    .name = "Subtitle writer",
    .version = "1.0.0",
    .description = "Writes ASS (with optional karaoke), SRT or WebVTT subtitles from word "
                   "timings: lines by length, cues by line count and duration.",
    .port_count = sizeof subtitle_ports / sizeof subtitle_ports[0],
    .param_count = sizeof subtitle_params / sizeof subtitle_params[0],
    .ports = subtitle_ports,
    .params = subtitle_params,
    .result_count = sizeof subtitle_results / sizeof subtitle_results[0],
    .results = subtitle_results,
    .ops = &subtitle_node_ops,
};

static const spark_node_desc *const subtitle_nodes[] = {&subtitle_node};

static const spark_node_factory subtitle_factory = {
    .struct_size = sizeof(spark_node_factory),
    .node_count = 1,
    .nodes = subtitle_nodes,
};

static const void *subtitle_get_factory(const char *factory_id)
{
    if (factory_id && strcmp(factory_id, SPARK_FACTORY_NODE) == 0)
        return &subtitle_factory;
    return NULL;
}

SPARK_PLUGIN_ENTRY = {
    .struct_size = sizeof(spark_entry),
    .abi = SPARK_ABI_VERSION_INIT,
    .name = "subtitles",
    .version = "1.0.0",
    .get_factory = subtitle_get_factory,
};
