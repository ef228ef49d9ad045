/* The built text-segmenter plugin (argv[1], loaded with dlopen) through its entry and node
 * ops, with the fake engine of tests/support/fake_host.h: descriptor, parameters, seq and
 * offsets of the emitted segments, end of stream, empty input, invalid UTF-8, wrong packet
 * kind, cancellation. */
#include "check.h"
#include "plugin_checks.h"

#include <spark/plugin.h>

#include <stdlib.h>
#include <string.h>

#include "fake_host.h"

static const spark_entry *entry;
static const spark_node_desc *desc;
static const spark_node_ops *ops;

enum { SEGMENT_PORT_IN = 0, SEGMENT_PORT_OUT = 1 };

static void test_descriptor(void)
{
    CHECK_INT_EQ(entry->abi.major, SPARK_ABI_MAJOR);
    CHECK_STR_EQ(entry->name, "text-segmenter");
    CHECK(entry->get_factory(SPARK_FACTORY_STORAGE) == NULL);
    const spark_node_factory *factory = entry->get_factory(SPARK_FACTORY_NODE);
    CHECK(factory != NULL);
    if (!factory)
        return;
    CHECK_INT_EQ(factory->node_count, 1);
    desc = factory->nodes[0];
    ops = desc->ops;
    CHECK_STR_EQ(desc->id, "org.sparkhost.text.segment");
    CHECK_INT_EQ(desc->port_count, 2);
    CHECK_STR_EQ(desc->ports[0].name, "in");
    CHECK_INT_EQ(desc->ports[0].direction, SPARK_PORT_IN);
    CHECK_INT_EQ(desc->ports[0].kind, SPARK_KIND_TEXT);
    CHECK_STR_EQ(desc->ports[1].name, "out");
    CHECK_INT_EQ(desc->ports[1].direction, SPARK_PORT_OUT);
    CHECK_INT_EQ(desc->ports[1].kind, SPARK_KIND_TEXT);
    CHECK_INT_EQ(desc->param_count, 3);
    CHECK_STR_EQ(desc->params[0].key, "max_chars");
    CHECK_INT_EQ(desc->params[0].type, SPARK_PARAM_INTEGER);
    CHECK_STR_EQ(desc->params[0].default_value, "300");
    CHECK(desc->params[0].flags & SPARK_PARAM_HAS_MIN);
    CHECK(desc->params[0].flags & SPARK_PARAM_HAS_MAX);
    CHECK_NEAR(desc->params[0].min, 16, 0);
    CHECK_NEAR(desc->params[0].max, 4096, 0);
    CHECK_STR_EQ(desc->params[1].key, "min_chars");
    CHECK_STR_EQ(desc->params[1].default_value, "20");
    CHECK_NEAR(desc->params[1].min, 0, 0);
    CHECK_NEAR(desc->params[1].max, 1024, 0);
    CHECK_STR_EQ(desc->params[2].key, "split_newlines");
    CHECK_INT_EQ(desc->params[2].type, SPARK_PARAM_BOOLEAN);
    CHECK_STR_EQ(desc->params[2].default_value, "true");
    CHECK(ops->create && ops->process && ops->destroy);
}

/* fake_node_open with these settings (NULL: the defaults); create must succeed whatever
 * happens after it. */
static spark_status open_node(fake_node *node, const char *const *settings)
{
    spark_status status = fake_node_open(node, desc, settings, NULL);
    CHECK(node->self != NULL); /* create succeeded */
    return status;
}

/* One text packet as upstream would send it, on "in". */
static spark_status feed(fake_job *job, const char *text, size_t len, int64_t offset)
{
    spark_packet *in = fake_text_packet(text, len, offset);
    spark_status status = fake_job_process(job, SEGMENT_PORT_IN, in);
    fake_release(in);
    return status;
}

/* The i-th packet of the job's "out" port (ports[1]). Callers clear the log first. */
static void expect_packet(const fake_job *job, size_t i, int64_t seq, int64_t offset,
                          const char *text)
{
    CHECK(i < fake_job_output_count(job, SEGMENT_PORT_OUT));
    /* The fake refuses, with an error, an emit on any port but "out": none was refused. */
    CHECK_INT_EQ(fake_error_count(), 0);
    const spark_packet *p = fake_job_output(job, SEGMENT_PORT_OUT, i);
    if (!p)
        return;
    CHECK_INT_EQ(p->kind, SPARK_KIND_TEXT);
    CHECK_INT_EQ(p->seq, seq);
    CHECK_INT_EQ(p->data.text.offset, offset);
    CHECK_STR_EQ(p->data.text.utf8, text);
    CHECK_INT_EQ(p->data.text.length, strlen(text));
}

static size_t segments(const fake_job *job)
{
    return fake_job_output_count(job, SEGMENT_PORT_OUT);
}

static void test_segments(void)
{
    static const char *const settings[] = {
        "max_chars", "300", "min_chars", "0", "split_newlines", "true", NULL,
    };
    fake_node node;
    fake_job *job;
    fake_log_clear();
    CHECK_INT_EQ(open_node(&node, settings), SPARK_OK);
    CHECK_INT_EQ(fake_job_begin(&node, "job-1", NULL, &job), SPARK_OK);

    /* Offsets are the input packet's offset plus the segment's own. */
    const char *text = "Hello there.  How are\u00a0you today? Fine.";
    CHECK_INT_EQ(feed(job, text, strlen(text), 100), SPARK_OK);
    CHECK_INT_EQ(segments(job), 3);
    expect_packet(job, 0, 0, 100, "Hello there.");
    expect_packet(job, 1, 1, 114, "How are you today?");
    expect_packet(job, 2, 2, 134, "Fine.");

    /* seq runs on across packets of one job. */
    const char *more = "\n\nSecond part. Last";
    CHECK_INT_EQ(feed(job, more, strlen(more), 139), SPARK_OK);
    CHECK_INT_EQ(segments(job), 3 + 2); /* two more */
    expect_packet(job, 3, 3, 141, "Second part.");
    expect_packet(job, 4, 4, 154, "Last");

    /* Empty and whitespace-only input: no segments, no error. */
    fake_log_clear();
    CHECK_INT_EQ(feed(job, "", 0, 0), SPARK_OK);
    CHECK_INT_EQ(feed(job, " \n\u3000 ", strlen(" \n\u3000 "), 0), SPARK_OK);
    CHECK_INT_EQ(segments(job), 5); /* none more */
    CHECK_INT_EQ(fake_error_count(), 0);

    /* End of stream: nothing more to say. */
    CHECK_INT_EQ(fake_job_process(job, SEGMENT_PORT_IN, NULL), SPARK_OK);
    CHECK_INT_EQ(segments(job), 5);
    CHECK_INT_EQ(fake_job_end(job, SPARK_OK), SPARK_OK);
    fake_job_free(job);

    /* A new job starts at seq 0 again; an unknown (negative) offset stays unknown. */
    CHECK_INT_EQ(fake_job_begin(&node, "job-2", NULL, &job), SPARK_OK);
    CHECK_INT_EQ(feed(job, "One. Two.", 9, -1), SPARK_OK);
    CHECK_INT_EQ(segments(job), 2);
    expect_packet(job, 0, 0, -1, "One.");
    expect_packet(job, 1, 1, -1, "Two.");

    /* Invalid UTF-8: INVALID_ARGUMENT naming the byte offset in the job text. */
    fake_log_clear();
    const char *bad = "Hi. \xC3( there";
    CHECK_INT_EQ(feed(job, bad, strlen(bad), 10), SPARK_E_INVALID_ARGUMENT);
    CHECK_INT_EQ(fake_error_count(), 1);
    CHECK_STR_CONTAINS(fake_last_error(), "UTF-8");
    CHECK_STR_CONTAINS(fake_last_error(), "byte offset 14");
    CHECK_INT_EQ(segments(job), 2); /* nothing emitted from a bad packet */

    /* A packet of another kind. */
    spark_packet wrong = {sizeof(spark_packet), SPARK_KIND_BLOB, 0, NULL, {{0}}, 0, 0};
    CHECK_INT_EQ(fake_job_process(job, SEGMENT_PORT_IN, &wrong), SPARK_E_FORMAT_MISMATCH);
    CHECK_STR_CONTAINS(fake_last_error(), "text");

    CHECK_INT_EQ(fake_job_end(job, SPARK_E_INVALID_ARGUMENT), SPARK_OK);
    fake_job_free(job);
    fake_node_close(&node);
}

static void test_params(void)
{
    fake_node node;
    fake_job *job;
    fake_log_clear();
    /* Defaults: max 300, min 20, split_newlines true. */
    CHECK_INT_EQ(open_node(&node, NULL), SPARK_OK);
    CHECK_INT_EQ(fake_job_begin(&node, "job-1", NULL, &job), SPARK_OK);
    const char *text = "Hi. Ok.\nA line of text that is long enough.";
    CHECK_INT_EQ(feed(job, text, strlen(text), 0), SPARK_OK);
    CHECK_INT_EQ(segments(job), 2);
    expect_packet(job, 0, 0, 0, "Hi. Ok.");
    expect_packet(job, 1, 1, 8, "A line of text that is long enough.");
    CHECK_INT_EQ(fake_job_end(job, SPARK_OK), SPARK_OK);
    fake_job_free(job);
    fake_node_close(&node);

    /* split_newlines false, and a small max_chars. */
    static const char *const small[] = {
        "max_chars", "16", "min_chars", "0", "split_newlines", "false", NULL,
    };
    CHECK_INT_EQ(open_node(&node, small), SPARK_OK);
    CHECK_INT_EQ(fake_job_begin(&node, "job-2", NULL, &job), SPARK_OK);
    const char *lines = "one two\nthree four five six";
    CHECK_INT_EQ(feed(job, lines, strlen(lines), 0), SPARK_OK);
    CHECK_INT_EQ(segments(job), 2);
    expect_packet(job, 0, 0, 0, "one two three");
    expect_packet(job, 1, 1, 14, "four five six");
    CHECK_INT_EQ(fake_job_end(job, SPARK_OK), SPARK_OK);
    fake_job_free(job);
    fake_node_close(&node);

    /* Out-of-range values are refused at configure, naming the parameter (the fake host
     * passes them on unchecked, so the plugin's own check is what answers). */
    static const char *const bad_max[] = { "max_chars", "8", NULL };
    CHECK_INT_EQ(open_node(&node, bad_max), SPARK_E_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(fake_last_error(), "max_chars");
    fake_node_close(&node);
    static const char *const bad_min[] = { "min_chars", "2000", NULL };
    CHECK_INT_EQ(open_node(&node, bad_min), SPARK_E_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(fake_last_error(), "min_chars");
    fake_node_close(&node);
}

static void test_cancel(void)
{
    static const char *const settings[] = { "min_chars", "0", NULL };
    fake_node node;
    fake_job *job;
    CHECK_INT_EQ(open_node(&node, settings), SPARK_OK);
    CHECK_INT_EQ(fake_job_begin(&node, "job-1", NULL, &job), SPARK_OK);
    fake_job_cancel_after_emits(job, 1);
    const char *text = "One. Two. Three.";
    CHECK_INT_EQ(feed(job, text, strlen(text), 0), SPARK_E_CANCELLED);
    CHECK_INT_EQ(segments(job), 1);
    CHECK_INT_EQ(fake_job_end(job, SPARK_E_CANCELLED), SPARK_OK);
    fake_job_free(job);
    fake_node_close(&node);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH-TO-text-segmenter.so\n", argv[0]);
        return 2;
    }
    static const char *const internal[] = { "segment_node_ops", "seg_segment", NULL };
    fake_plugin plugin;
    entry = check_load_plugin(&plugin, argv[1], internal);
    if (!entry)
        return CHECK_DONE();
    test_descriptor();
    if (!ops)
        return CHECK_DONE();
    test_segments();
    test_params();
    test_cancel();
    CHECK_INT_EQ(fake_live_packets(), 0);
    fake_plugin_unload(&plugin);
    return CHECK_DONE();
}
