/* The built subtitles plugin (argv[1], dlopen) with the fake engine: descriptor, one blob
 * per job with the format's media type, extension and content (packets taken in seq order,
 * CJK words joined without spaces, segments never sharing a cue), per-job style values,
 * format none, segment-only timings, and refusals naming the parameter or item at fault. */
#include "check.h"
#include "plugin_checks.h"

#include "fake_host.h"

#include <spark/ext/alloc.h>
#include <spark/plugin.h>

#include <stdlib.h>
#include <string.h>

enum { PORT_TIMING, PORT_FILE };

static const spark_node_desc *desc;
static const spark_ext_alloc *alloc;

static void test_descriptor(const spark_entry *entry)
{
    CHECK_STR_EQ(entry->name, "subtitles");
    const spark_node_factory *factory = entry->get_factory(SPARK_FACTORY_NODE);
    CHECK(factory && factory->node_count == 1);
    if (!factory)
        return;
    desc = factory->nodes[0];
    CHECK_STR_EQ(desc->id, "org.sparkhost.subtitles.write");
    CHECK_STR_EQ(desc->ports[PORT_TIMING].name, "timing");
    CHECK_INT_EQ(desc->ports[PORT_TIMING].kind, SPARK_KIND_TIMING);
    CHECK_STR_EQ(desc->ports[PORT_FILE].name, "file");
    CHECK_INT_EQ(desc->ports[PORT_FILE].kind, SPARK_KIND_BLOB);
    CHECK_STR_EQ(desc->params[0].key, "format");
    CHECK_STR_EQ(desc->params[0].default_value, "ass");
    for (uint32_t i = 0; i < desc->param_count; i++)
        CHECK(desc->params[i].flags & SPARK_PARAM_PER_JOB);
}

#define SEG(s, e, off, t) {SPARK_TIMING_SEGMENT, 0, (s), (e), -1, (off), (t)}
#define WORD(s, e, off, t) {SPARK_TIMING_WORD, 0, (s), (e), 0.9, (off), (t)}

/* job text: "Hello there. 你好。" */
static const spark_timing_item first[] = {
    SEG(0.5, 1.4, 0, "Hello there."), WORD(0.5, 0.9, 0, "Hello"), WORD(0.95, 1.4, 6, "there.")};
static const spark_timing_item second[] = {
    SEG(2.0, 2.6, 13, "你好。"), WORD(2.0, 2.3, 13, "你"), WORD(2.3, 2.6, 16, "好。")};

static void send(fake_job *job, const spark_timing_item *items, size_t n, int64_t seq)
{
    spark_packet *p = alloc->timing(fake_host(), items, n);
    p->seq = seq;
    CHECK_INT_EQ(fake_job_process(job, PORT_TIMING, p), SPARK_OK);
    alloc->release(p);
}

/* Runs a job with the two packets (second first: seq decides) and returns its blob. */
static const spark_packet *run(fake_node *node, const char *const *settings, fake_job **job)
{
    CHECK_INT_EQ(fake_job_begin(node, "j", settings, job), SPARK_OK);
    send(*job, second, 3, 1);
    send(*job, first, 3, 0);
    CHECK_INT_EQ(fake_job_process(*job, PORT_TIMING, NULL), SPARK_OK);
    CHECK_INT_EQ(fake_job_end(*job, SPARK_OK), SPARK_OK);
    return fake_job_output_count(*job, PORT_FILE) == 1 ? fake_job_output(*job, PORT_FILE, 0)
                                                       : NULL;
}

static char *blob_text(const spark_packet *p)
{
    char *t = calloc(1, p ? p->data.blob.size + 1 : 1);
    if (p)
        memcpy(t, p->data.blob.bytes, p->data.blob.size);
    return t;
}

static void test_formats(void)
{
    fake_node node;
    CHECK_INT_EQ(fake_node_open(&node, desc, NULL, NULL), SPARK_OK);
    fake_job *job = NULL;
    const char *const srt[] = {"format", "srt", "min_duration", "0", NULL};
    const spark_packet *blob = run(&node, srt, &job);
    CHECK(blob != NULL);
    if (blob) {
        CHECK_STR_EQ(blob->data.blob.media_type, "application/x-subrip");
        CHECK_STR_EQ(blob->data.blob.file_name, "subtitles.srt");
        char *t = blob_text(blob);
        CHECK_STR_EQ(t, "1\n00:00:00,500 --> 00:00:01,400\nHello there.\n\n"
                        "2\n00:00:02,000 --> 00:00:02,600\n你好。\n\n");
        free(t);
    }
    CHECK(fake_job_result(job, "cues") && fake_job_result(job, "cues")->number == 2);
    fake_job_free(job);

    const char *const vtt[] = {"format", "vtt", "file_name", "talk-1", NULL};
    blob = run(&node, vtt, &job);
    if (blob) {
        CHECK_STR_EQ(blob->data.blob.media_type, "text/vtt");
        CHECK_STR_EQ(blob->data.blob.file_name, "talk-1.vtt");
        char *t = blob_text(blob);
        /* min_duration 0.8 s by default: the first cue is stretched to 1.3 s */
        CHECK_STR_EQ(t, "WEBVTT\n\n1\n00:00:00.500 --> 00:00:01.400\nHello there.\n\n"
                        "2\n00:00:02.000 --> 00:00:02.800\n你好。\n\n");
        free(t);
    }
    CHECK(blob != NULL);
    fake_job_free(job);

    const char *const ass[] = {"karaoke", "true", "primary_colour", "#FF0000", "font",
                               "Noto Sans", "play_res_x", "1280", "play_res_y", "720", NULL};
    blob = run(&node, ass, &job);
    CHECK(blob != NULL);
    if (blob) {
        CHECK_STR_EQ(blob->data.blob.media_type, "text/x-ssa");
        CHECK_STR_EQ(blob->data.blob.file_name, "subtitles.ass");
        char *t = blob_text(blob);
        CHECK_STR_CONTAINS(t, "PlayResX: 1280\nPlayResY: 720\n");
        CHECK_STR_CONTAINS(t, "Style: Default,Noto Sans,56,&H000000FF,&H0000FFFF,");
        CHECK_STR_CONTAINS(t, "Dialogue: 0,0:00:00.50,0:00:01.40,Default,,0,0,0,,"
                              "{\\k40}Hello {\\k5}{\\k45}there.\n");
        CHECK_STR_CONTAINS(t, "Dialogue: 0,0:00:02.00,0:00:02.80,Default,,0,0,0,,"
                              "{\\k30}你{\\k30}好。{\\k20}\n");
        free(t);
    }
    fake_job_free(job);

    const char *const none[] = {"format", "none", NULL};
    blob = run(&node, none, &job);
    CHECK(blob == NULL);
    CHECK(fake_job_result(job, "cues") && fake_job_result(job, "cues")->number == 2);
    fake_job_free(job);

    /* no timings at all: a valid file without cues */
    CHECK_INT_EQ(fake_job_begin(&node, "e", vtt, &job), SPARK_OK);
    CHECK_INT_EQ(fake_job_process(job, PORT_TIMING, NULL), SPARK_OK);
    CHECK_INT_EQ(fake_job_output_count(job, PORT_FILE), 1);
    char *empty = blob_text(fake_job_output_count(job, PORT_FILE)
                                ? fake_job_output(job, PORT_FILE, 0) : NULL);
    CHECK_STR_EQ(empty, "WEBVTT\n\n");
    free(empty);
    CHECK(fake_job_result(job, "cues") && fake_job_result(job, "cues")->number == 0);
    fake_job_free(job);

    /* timings without words: one cue per segment */
    const char *const srt_plain[] = {"format", "srt", NULL};
    CHECK_INT_EQ(fake_job_begin(&node, "s", srt_plain, &job), SPARK_OK);
    const spark_timing_item segments[] = {SEG(0, 1.5, 0, "First line."),
                                          SEG(1.5, 3, 12, "Second {one}.")};
    send(job, segments, 2, 0);
    CHECK_INT_EQ(fake_job_process(job, PORT_TIMING, NULL), SPARK_OK);
    char *t = blob_text(fake_job_output_count(job, PORT_FILE) ? fake_job_output(job, PORT_FILE, 0)
                                                              : NULL);
    CHECK_STR_EQ(t, "1\n00:00:00,000 --> 00:00:01,500\nFirst line.\n\n"
                    "2\n00:00:01,500 --> 00:00:03,000\nSecond \xEF\xBD\x9Bone\xEF\xBD\x9D.\n\n");
    free(t);
    fake_job_free(job);
    fake_node_close(&node);
}

static void expect_refusal(fake_node *node, const char *const *settings, const char *message)
{
    fake_job *job = NULL;
    fake_log_clear();
    CHECK_INT_EQ(fake_job_begin(node, "bad", settings, &job), SPARK_E_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(fake_last_error(), message);
    fake_job_free(job);
}

static void test_refusals(void)
{
    fake_node node;
    CHECK_INT_EQ(fake_node_open(&node, desc, NULL, NULL), SPARK_OK);
    const char *const colour[] = {"secondary_colour", "yellow", NULL};
    expect_refusal(&node, colour, "secondary_colour 'yellow' is not a colour");
    const char *const font[] = {"font", "Arial,Bold", NULL};
    expect_refusal(&node, font, "font 'Arial,Bold' cannot go into an ASS style");
    const char *const name[] = {"file_name", "../escape", NULL};
    expect_refusal(&node, name, "file_name '../escape'");
    const char *const durations[] = {"min_duration", "5", "max_duration", "2", NULL};
    expect_refusal(&node, durations, "min_duration (5 s) is longer than max_duration (2 s)");

    fake_job *job = NULL;
    CHECK_INT_EQ(fake_job_begin(&node, "t", NULL, &job), SPARK_OK);
    const spark_timing_item backwards[] = {WORD(2.0, 1.0, 0, "oops")};
    send(job, backwards, 1, 7);
    fake_log_clear();
    CHECK_INT_EQ(fake_job_process(job, PORT_TIMING, NULL), SPARK_E_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(fake_last_error(), "timing packet 7, item 0");
    CHECK_INT_EQ(fake_job_output_count(job, PORT_FILE), 0);
    fake_job_free(job);

    CHECK_INT_EQ(fake_job_begin(&node, "k", NULL, &job), SPARK_OK);
    spark_packet *text = fake_text_packet("x", 1, 0);
    CHECK_INT_EQ(fake_job_process(job, PORT_TIMING, text), SPARK_E_FORMAT_MISMATCH);
    fake_release(text);
    fake_job_free(job);
    fake_node_close(&node);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_subtitle_node PLUGIN.so\n");
        return 2;
    }
    fake_plugin plugin;
    const char *const internal[] = {"sub_cues_build", "sub_write_ass", "sub_write_srt", NULL};
    const spark_entry *entry = check_load_plugin(&plugin, argv[1], internal);
    if (!entry)
        return 1;
    alloc = spark_host_service(fake_host(), SPARK_EXT_ALLOC,
                               SPARK_SIZE_THROUGH(spark_ext_alloc, release));
    CHECK(alloc != NULL);
    test_descriptor(entry);
    if (desc && alloc) {
        test_formats();
        test_refusals();
    }
    CHECK_INT_EQ(fake_live_packets(), 0);
    fake_plugin_unload(&plugin);
    return check_failures ? 1 : 0;
}
