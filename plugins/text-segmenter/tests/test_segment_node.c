/* The built text-segmenter plugin (argv[1], loaded with dlopen) through its entry and node
 * ops, with a fake host and job: descriptor, parameters, seq and offsets of the emitted
 * segments, end of stream, empty input, invalid UTF-8, wrong packet kind, cancellation. */
#include "check.h"

#include <spark/ext/alloc.h>
#include <spark/plugin.h>

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "fake_host.h"

static const spark_entry *entry;
static const spark_node_desc *desc;
static const spark_node_ops *ops;
static fake_host host;

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

/* A text packet as upstream would send it. */
static spark_packet *text_packet(const char *text, size_t len, int64_t offset)
{
    const spark_ext_alloc *alloc = host.host.get_extension(&host.host, SPARK_EXT_ALLOC);
    return alloc->text(&host.host, text, len, offset);
}

/* create + configure + activate with the given parameter table. */
static spark_status open_node(const fake_param *table, int count, void **out)
{
    fake_params params;
    fake_params_init(&params, table, count);
    CHECK_INT_EQ(ops->create(&host.host, "segment", out), SPARK_OK);
    spark_status status = ops->configure(*out, &params.params);
    if (status == SPARK_OK)
        status = ops->activate(*out);
    return status;
}

static spark_status feed(void *self, void *state, fake_job *job, const char *text, size_t len,
                         int64_t offset)
{
    spark_packet *in = text_packet(text, len, offset);
    spark_status status = ops->process(self, state, &job->job, 0, in);
    fake_release(in);
    return status;
}

static void expect_packet(const fake_job *job, int i, int64_t seq, int64_t offset,
                          const char *text)
{
    CHECK(i < job->count);
    if (i >= job->count)
        return;
    const spark_packet *p = job->packets[i];
    CHECK_INT_EQ(job->ports[i], 1); /* "out" is ports[1] */
    CHECK_INT_EQ(p->kind, SPARK_KIND_TEXT);
    CHECK_INT_EQ(p->seq, seq);
    CHECK_INT_EQ(p->data.text.offset, offset);
    CHECK_STR_EQ(p->data.text.utf8, text);
    CHECK_INT_EQ(p->data.text.length, strlen(text));
}

static void test_segments(void)
{
    void *self, *state;
    fake_param table[] = {{"max_chars", "300"}, {"min_chars", "0"}, {"split_newlines", "true"}};
    CHECK_INT_EQ(open_node(table, 3, &self), SPARK_OK);
    fake_job job;
    fake_job_init(&job, NULL);
    CHECK_INT_EQ(ops->job_begin(self, &job.job, &state), SPARK_OK);

    /* Offsets are the input packet's offset plus the segment's own. */
    const char *text = "Hello there.  How are\u00a0you today? Fine.";
    CHECK_INT_EQ(feed(self, state, &job, text, strlen(text), 100), SPARK_OK);
    CHECK_INT_EQ(job.count, 3);
    expect_packet(&job, 0, 0, 100, "Hello there.");
    expect_packet(&job, 1, 1, 114, "How are you today?");
    expect_packet(&job, 2, 2, 134, "Fine.");
    fake_job_clear(&job);

    /* seq runs on across packets of one job. */
    const char *more = "\n\nSecond part. Last";
    CHECK_INT_EQ(feed(self, state, &job, more, strlen(more), 139), SPARK_OK);
    CHECK_INT_EQ(job.count, 2);
    expect_packet(&job, 0, 3, 141, "Second part.");
    expect_packet(&job, 1, 4, 154, "Last");
    fake_job_clear(&job);

    /* Empty and whitespace-only input: no segments, no error. */
    host.error_count = 0;
    CHECK_INT_EQ(feed(self, state, &job, "", 0, 0), SPARK_OK);
    CHECK_INT_EQ(feed(self, state, &job, " \n\u3000 ", strlen(" \n\u3000 "), 0), SPARK_OK);
    CHECK_INT_EQ(job.count, 0);
    CHECK_INT_EQ(host.error_count, 0);

    /* End of stream: nothing more to say. */
    CHECK_INT_EQ(ops->process(self, state, &job.job, 0, NULL), SPARK_OK);
    CHECK_INT_EQ(job.count, 0);
    CHECK_INT_EQ(ops->job_end(self, state, &job.job, SPARK_OK), SPARK_OK);

    /* A new job starts at seq 0 again; an unknown (negative) offset stays unknown. */
    CHECK_INT_EQ(ops->job_begin(self, &job.job, &state), SPARK_OK);
    CHECK_INT_EQ(feed(self, state, &job, "One. Two.", 9, -1), SPARK_OK);
    CHECK_INT_EQ(job.count, 2);
    expect_packet(&job, 0, 0, -1, "One.");
    expect_packet(&job, 1, 1, -1, "Two.");
    fake_job_clear(&job);

    /* Invalid UTF-8: INVALID_ARGUMENT naming the byte offset in the job text. */
    host.error_count = 0;
    const char *bad = "Hi. \xC3( there";
    CHECK_INT_EQ(feed(self, state, &job, bad, strlen(bad), 10),
                 SPARK_E_INVALID_ARGUMENT);
    CHECK_INT_EQ(host.error_count, 1);
    CHECK_STR_CONTAINS(host.last_error, "UTF-8");
    CHECK_STR_CONTAINS(host.last_error, "byte offset 14");
    CHECK_INT_EQ(job.count, 0); /* nothing emitted from a bad packet */

    /* A packet of another kind. */
    spark_packet wrong = {sizeof(spark_packet), SPARK_KIND_BLOB, 0, NULL, {{0}}};
    CHECK_INT_EQ(ops->process(self, state, &job.job, 0, &wrong), SPARK_E_FORMAT_MISMATCH);
    CHECK_STR_CONTAINS(host.last_error, "text");

    CHECK_INT_EQ(ops->job_end(self, state, &job.job, SPARK_E_INVALID_ARGUMENT), SPARK_OK);
    ops->destroy(self);
}

static void test_params(void)
{
    void *self, *state;
    /* Defaults: max 300, min 20, split_newlines true. */
    CHECK_INT_EQ(open_node(NULL, 0, &self), SPARK_OK);
    fake_job job;
    fake_job_init(&job, NULL);
    CHECK_INT_EQ(ops->job_begin(self, &job.job, &state), SPARK_OK);
    const char *text = "Hi. Ok.\nA line of text that is long enough.";
    CHECK_INT_EQ(feed(self, state, &job, text, strlen(text), 0), SPARK_OK);
    CHECK_INT_EQ(job.count, 2);
    expect_packet(&job, 0, 0, 0, "Hi. Ok.");
    expect_packet(&job, 1, 1, 8, "A line of text that is long enough.");
    fake_job_clear(&job);
    CHECK_INT_EQ(ops->job_end(self, state, &job.job, SPARK_OK), SPARK_OK);
    ops->destroy(self);

    /* split_newlines false, and a small max_chars. */
    fake_param table[] = {{"max_chars", "16"}, {"min_chars", "0"}, {"split_newlines", "false"}};
    CHECK_INT_EQ(open_node(table, 3, &self), SPARK_OK);
    CHECK_INT_EQ(ops->job_begin(self, &job.job, &state), SPARK_OK);
    const char *lines = "one two\nthree four five six";
    CHECK_INT_EQ(feed(self, state, &job, lines, strlen(lines), 0), SPARK_OK);
    CHECK_INT_EQ(job.count, 2);
    expect_packet(&job, 0, 0, 0, "one two three");
    expect_packet(&job, 1, 1, 14, "four five six");
    fake_job_clear(&job);
    CHECK_INT_EQ(ops->job_end(self, state, &job.job, SPARK_OK), SPARK_OK);
    ops->destroy(self);

    /* Out-of-range values are refused at configure, naming the parameter. */
    fake_param bad_max[] = {{"max_chars", "8"}};
    CHECK_INT_EQ(open_node(bad_max, 1, &self), SPARK_E_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(host.last_error, "max_chars");
    ops->destroy(self);
    fake_param bad_min[] = {{"min_chars", "2000"}};
    CHECK_INT_EQ(open_node(bad_min, 1, &self), SPARK_E_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(host.last_error, "min_chars");
    ops->destroy(self);
}

static void test_cancel(void)
{
    void *self, *state;
    fake_param table[] = {{"min_chars", "0"}};
    CHECK_INT_EQ(open_node(table, 1, &self), SPARK_OK);
    fake_job job;
    fake_job_init(&job, NULL);
    job.cancel_after = 1;
    CHECK_INT_EQ(ops->job_begin(self, &job.job, &state), SPARK_OK);
    const char *text = "One. Two. Three.";
    CHECK_INT_EQ(feed(self, state, &job, text, strlen(text), 0), SPARK_E_CANCELLED);
    CHECK_INT_EQ(job.count, 1);
    fake_job_clear(&job);
    CHECK_INT_EQ(ops->job_end(self, state, &job.job, SPARK_E_CANCELLED), SPARK_OK);
    ops->destroy(self);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH-TO-text-segmenter.so\n", argv[0]);
        return 2;
    }
    void *module = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!module) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    entry = dlsym(module, SPARK_ENTRY_SYMBOL);
    CHECK(entry != NULL);
    CHECK(dlsym(module, "segment_node_ops") == NULL); /* only the entry is exported */
    CHECK(dlsym(module, "seg_segment") == NULL);
    if (!entry)
        return CHECK_DONE();
    fake_host_init(&host);
    test_descriptor();
    if (!ops)
        return CHECK_DONE();
    test_segments();
    test_params();
    test_cancel();
    CHECK_INT_EQ(host.live_packets, 0);
    return CHECK_DONE();
}
