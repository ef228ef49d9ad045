/*
 * Self-check of the test plugins, run against the fake engine (tests/support/fake_host.h)
 * instead of the engine: loads the DSOs the way the engine does (dlopen, local scope, the
 * entry symbol only), drives every node through its lifecycle and checks what it emits,
 * posts and refuses. The engine's own tests use the same plugins; this makes sure a failure
 * there is the engine's.
 *
 * usage: test_nodes_check DIR   (DIR = the test-plugins output directory)
 */
#include "fake_host.h"
#include "test_signal.h"

#include "check.h"
#include "plugin_checks.h"

#include <spark/plugin.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *plugin_dir;

/* ---- loading ------------------------------------------------------------------------ */

/* check_load_plugin of a file in the test-plugins directory. */
static const spark_entry *load_plugin(fake_plugin *plugin, const char *file_name,
                                      const char *const *internal_names)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", plugin_dir, file_name);
    return check_load_plugin(plugin, path, internal_names);
}

/* ---- nodes -------------------------------------------------------------------------- */

/* fake_node_open of the node `id`, offering offer_rate Hz mono to its audio inputs. */
static spark_status open_node(fake_node *node, const fake_plugin *plugin, const char *id,
                              const char *const *settings, uint32_t offer_rate)
{
    const spark_format offer = { sizeof(spark_format), SPARK_KIND_AUDIO, offer_rate, 1, 0.0,
                                 NULL };
    const spark_node_desc *desc = fake_plugin_node(plugin, id);
    CHECK(desc != NULL);
    return fake_node_open(node, desc, settings, &offer);
}

/* ---- the checks --------------------------------------------------------------------- */

static void check_descriptors(const fake_plugin *plugin)
{
    static const char *const ids[] = {
        "org.sparkhost.test.source",       "org.sparkhost.test.text_source",
        "org.sparkhost.test.sink",         "org.sparkhost.test.fail_activate",
        "org.sparkhost.test.fail_process", "org.sparkhost.test.slow",
        "org.sparkhost.test.passthrough",
    };
    CHECK_INT_EQ(plugin->entry->struct_size, sizeof(spark_entry));
    CHECK_INT_EQ(plugin->entry->abi.major, SPARK_ABI_MAJOR);
    CHECK_INT_EQ(plugin->entry->abi.minor, SPARK_ABI_MINOR);
    CHECK_STR_EQ(plugin->entry->name, "test-nodes");
    CHECK(plugin->entry->get_factory(SPARK_FACTORY_STORAGE) == NULL);
    CHECK(plugin->entry->get_factory("no.such.factory/1") == NULL);
    CHECK(plugin->nodes != NULL);
    if (!plugin->nodes)
        return;
    CHECK_INT_EQ(plugin->nodes->struct_size, sizeof(spark_node_factory));
    CHECK_INT_EQ(plugin->nodes->node_count, sizeof ids / sizeof ids[0]);
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        const spark_node_desc *desc = fake_plugin_node(plugin, ids[i]);
        CHECK(desc != NULL);
        if (!desc)
            continue;
        CHECK_INT_EQ(desc->struct_size, sizeof(spark_node_desc));
        CHECK_INT_EQ(desc->ops->struct_size, sizeof(spark_node_ops));
        CHECK(desc->ops->create && desc->ops->process && desc->ops->destroy);
        /* Every default parses as its type: what the engine's validator checks too. */
        for (uint32_t p = 0; p < desc->param_count; p++)
            CHECK(desc->params[p].default_value != NULL);
    }
}

static const char *const no_settings[] = { NULL };

/* Runs the source for one job and returns its packets' count; the job stays open. */
static void check_source_and_sink(const fake_plugin *plugin)
{
    static const char *const source_settings[] = { "rate", "22050", "channels", "2", NULL };
    static const char *const job_settings[] = { "seed", "7", "count", "4", "frames", "100", NULL };
    fake_node source, sink;
    fake_job *source_job, *sink_job;
    char expected[17];

    CHECK_INT_EQ(open_node(&source, plugin, "org.sparkhost.test.source", source_settings, 0),
                 SPARK_OK);
    CHECK_INT_EQ(source.formats[0].kind, SPARK_KIND_AUDIO);
    CHECK_INT_EQ(source.formats[0].rate, 22050);
    CHECK_INT_EQ(source.formats[0].channels, 2);
    CHECK_INT_EQ(open_node(&sink, plugin, "org.sparkhost.test.sink", no_settings, 22050),
                 SPARK_OK);
    CHECK_INT_EQ(sink.formats[0].rate, 22050); /* want_rate 0: the offer stands */

    CHECK_INT_EQ(fake_job_begin(&source, "job-1", job_settings, &source_job), SPARK_OK);
    CHECK_INT_EQ(fake_job_process(source_job, SPARK_PORT_NONE, NULL), SPARK_OK);
    CHECK_INT_EQ(fake_job_output_count(source_job, 0), 4);

    CHECK_INT_EQ(fake_job_begin(&sink, "job-1", no_settings, &sink_job), SPARK_OK);
    for (size_t i = 0; i < fake_job_output_count(source_job, 0); i++) {
        const spark_packet *p = fake_job_output(source_job, 0, i);
        CHECK_INT_EQ(p->kind, SPARK_KIND_AUDIO);
        CHECK_INT_EQ(p->seq, (int64_t)i);
        CHECK_INT_EQ(p->data.audio.timestamp, (int64_t)i * 100);
        CHECK_INT_EQ(p->data.audio.frames, 100);
        CHECK_INT_EQ(p->data.audio.channels, 2);
        CHECK_INT_EQ(p->data.audio.rate, 22050);
        CHECK(p->data.audio.planes[1][99] == test_signal_sample(7, i, 1, 99));
        CHECK(p->data.audio.planes[0][0] >= -0.5f && p->data.audio.planes[0][0] < 0.5f);
        CHECK_INT_EQ(fake_job_process(sink_job, 0, p), SPARK_OK);
    }
    CHECK_INT_EQ(fake_job_process(sink_job, 0, NULL), SPARK_OK);
    CHECK_INT_EQ(fake_job_end(sink_job, SPARK_OK), SPARK_OK);
    CHECK_STR_EQ(fake_job_result_text(sink_job, "packets"), "4");
    CHECK_STR_EQ(fake_job_result_text(sink_job, "frames"), "400");
    CHECK_STR_EQ(fake_job_result_text(sink_job, "rate"), "22050");
    CHECK_STR_EQ(fake_job_result_text(sink_job, "channels"), "2");
    CHECK_STR_EQ(fake_job_result_text(sink_job, "text"), "");
    test_checksum_hex(test_source_checksum(7, 4, 100, 2), expected);
    CHECK_STR_EQ(fake_job_result_text(sink_job, "checksum"), expected);
    CHECK_INT_EQ(fake_job_end(source_job, SPARK_OK), SPARK_OK);
    fake_job_free(sink_job);
    fake_job_free(source_job);

    /* Another seed gives other content; defaults give 3 x 1600 at 16 kHz mono. */
    fake_node_close(&source);
    CHECK_INT_EQ(open_node(&source, plugin, "org.sparkhost.test.source", no_settings, 0),
                 SPARK_OK);
    CHECK_INT_EQ(fake_job_begin(&source, "job-2", no_settings, &source_job), SPARK_OK);
    CHECK_INT_EQ(fake_job_process(source_job, SPARK_PORT_NONE, NULL), SPARK_OK);
    CHECK_INT_EQ(fake_job_output_count(source_job, 0), 3);
    CHECK_INT_EQ(fake_job_begin(&sink, "job-2", no_settings, &sink_job), SPARK_OK);
    for (size_t i = 0; i < 3; i++)
        CHECK_INT_EQ(fake_job_process(sink_job, 0, fake_job_output(source_job, 0, i)),
                     SPARK_OK);
    CHECK_INT_EQ(fake_job_end(sink_job, SPARK_OK), SPARK_OK);
    CHECK_STR_EQ(fake_job_result_text(sink_job, "frames"), "4800");
    CHECK_STR_EQ(fake_job_result_text(sink_job, "rate"), "16000");
    test_checksum_hex(test_source_checksum(0, 3, 1600, 1), expected);
    CHECK_STR_EQ(fake_job_result_text(sink_job, "checksum"), expected);
    CHECK_INT_EQ(fake_job_end(source_job, SPARK_OK), SPARK_OK);
    fake_job_free(sink_job);
    fake_job_free(source_job);

    /* A cancelled job: emit refuses, the source returns the host's status as is. */
    CHECK_INT_EQ(fake_job_begin(&source, "job-3", no_settings, &source_job), SPARK_OK);
    fake_job_stop(source_job, SPARK_E_CANCELLED);
    CHECK_INT_EQ(fake_job_process(source_job, SPARK_PORT_NONE, NULL), SPARK_E_CANCELLED);
    CHECK_INT_EQ(fake_job_end(source_job, SPARK_E_CANCELLED), SPARK_OK);
    fake_job_free(source_job);

    fake_node_close(&sink);
    fake_node_close(&source);
}

static void check_sink_formats(const fake_plugin *plugin)
{
    static const char *const want[] = { "want_rate", "24000", "want_channels", "1", NULL };
    fake_node sink;
    fake_job *run;
    spark_packet *good, *bad;

    CHECK_INT_EQ(open_node(&sink, plugin, "org.sparkhost.test.sink", want, 16000), SPARK_OK);
    CHECK_INT_EQ(sink.formats[0].rate, 24000); /* asks the engine to convert */
    CHECK_INT_EQ(sink.formats[0].channels, 1);
    good = fake_audio_packet(1, 10, 24000);
    bad = fake_audio_packet(1, 10, 16000);
    CHECK_INT_EQ(fake_job_begin(&sink, "job-f", no_settings, &run), SPARK_OK);
    CHECK_INT_EQ(fake_job_process(run, 0, good), SPARK_OK);
    fake_log_clear();
    CHECK_INT_EQ(fake_job_process(run, 0, bad), SPARK_E_FORMAT_MISMATCH);
    CHECK_STR_CONTAINS(fake_last_error(), "16000 Hz");
    CHECK_INT_EQ(fake_job_process(run, 7, NULL), SPARK_E_INVALID_ARGUMENT);
    CHECK_INT_EQ(fake_job_end(run, SPARK_E_FORMAT_MISMATCH), SPARK_OK);
    CHECK_STR_EQ(fake_job_result_text(run, "packets"), "1");
    fake_job_free(run);
    fake_release(good);
    fake_release(bad);
    fake_node_close(&sink);
}

static void check_text(const fake_plugin *plugin)
{
    static const char *const job_settings[] = { "text", "Grüße, world.", NULL };
    fake_node source, sink;
    fake_job *source_job, *sink_job;

    CHECK_INT_EQ(open_node(&source, plugin, "org.sparkhost.test.text_source", no_settings, 0),
                 SPARK_OK);
    CHECK_INT_EQ(source.formats[0].kind, SPARK_KIND_TEXT);
    CHECK_INT_EQ(open_node(&sink, plugin, "org.sparkhost.test.sink", no_settings, 16000),
                 SPARK_OK);
    CHECK_INT_EQ(fake_job_begin(&source, "job-t", job_settings, &source_job), SPARK_OK);
    CHECK_INT_EQ(fake_job_process(source_job, SPARK_PORT_NONE, NULL), SPARK_OK);
    CHECK_INT_EQ(fake_job_output_count(source_job, 0), 1);
    CHECK_INT_EQ(fake_job_begin(&sink, "job-t", no_settings, &sink_job), SPARK_OK);
    const spark_packet *text = fake_job_output(source_job, 0, 0);
    CHECK(text && text->kind == SPARK_KIND_TEXT && text->seq == 0);
    CHECK_INT_EQ(fake_job_process(sink_job, 1, text), SPARK_OK);
    CHECK_INT_EQ(fake_job_process(sink_job, 1, text), SPARK_OK);
    CHECK_INT_EQ(fake_job_process(sink_job, 1, NULL), SPARK_OK);
    CHECK_INT_EQ(fake_job_process(sink_job, 0, NULL), SPARK_OK);
    CHECK_INT_EQ(fake_job_end(sink_job, SPARK_OK), SPARK_OK);
    CHECK_STR_EQ(fake_job_result_text(sink_job, "text"), "Grüße, world.Grüße, world.");
    CHECK_STR_EQ(fake_job_result_text(sink_job, "packets"), "0");
    CHECK_STR_EQ(fake_job_result_text(sink_job, "rate"), "0");
    CHECK_INT_EQ(fake_job_end(source_job, SPARK_OK), SPARK_OK);
    fake_job_free(sink_job);
    fake_job_free(source_job);
    fake_node_close(&sink);
    fake_node_close(&source);
}

static void check_failing(const fake_plugin *plugin)
{
    static const char *const job_settings[] = { "fail_at", "2", NULL };
    fake_node node;
    fake_job *run;

    fake_log_clear();
    CHECK_INT_EQ(open_node(&node, plugin, "org.sparkhost.test.fail_activate", no_settings,
                           16000),
                 SPARK_E_INVALID_MODEL);
    CHECK_STR_EQ(fake_last_error(), "activation refused by test plugin");
    fake_node_close(&node); /* destroy is legal after any failure */

    CHECK_INT_EQ(open_node(&node, plugin, "org.sparkhost.test.fail_process", no_settings, 16000),
                 SPARK_OK);
    CHECK_INT_EQ(fake_job_begin(&node, "job-p", job_settings, &run), SPARK_OK);
    for (int64_t seq = 0; seq < 4; seq++) {
        spark_packet *p = fake_audio_packet(1, 8, 16000);
        p->seq = seq;
        fake_log_clear();
        spark_status status = fake_job_process(run, 0, p);
        fake_release(p);
        if (seq == 2) {
            CHECK_INT_EQ(status, SPARK_E_INTERNAL);
            CHECK_STR_EQ(fake_last_error(), "process failed on purpose at packet 2");
            break;
        }
        CHECK_INT_EQ(status, SPARK_OK);
    }
    CHECK_INT_EQ(fake_job_output_count(run, 1), 2);
    CHECK_INT_EQ(fake_job_end(run, SPARK_E_INTERNAL), SPARK_OK);
    fake_job_free(run);

    /* Default fail_at is 1. */
    CHECK_INT_EQ(fake_job_begin(&node, "job-q", no_settings, &run), SPARK_OK);
    spark_packet *p = fake_audio_packet(1, 8, 16000);
    p->seq = 1;
    CHECK_INT_EQ(fake_job_process(run, 0, p), SPARK_E_INTERNAL);
    CHECK_STR_EQ(fake_last_error(), "process failed on purpose at packet 1");
    fake_release(p);
    CHECK_INT_EQ(fake_job_end(run, SPARK_E_INTERNAL), SPARK_OK);
    fake_job_free(run);
    fake_node_close(&node);
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

typedef struct stopper {
    fake_job *job;
    int after_ms;
} stopper;

static void *stop_later(void *user)
{
    stopper *s = user;
    struct timespec delay = { 0, (long)s->after_ms * 1000000L };
    nanosleep(&delay, NULL);
    fake_job_stop(s->job, SPARK_E_CANCELLED);
    return NULL;
}

static void check_slow(const fake_plugin *plugin)
{
    static const char *const short_delay[] = { "delay_ms", "35", NULL };
    static const char *const long_delay[] = { "delay_ms", "5000", NULL };
    fake_node node;
    fake_job *run;
    spark_packet *p = fake_audio_packet(1, 8, 16000);
    double start, took;

    CHECK_INT_EQ(open_node(&node, plugin, "org.sparkhost.test.slow", no_settings, 16000),
                 SPARK_OK);

    /* Delays, then passes the very packet on. */
    CHECK_INT_EQ(fake_job_begin(&node, "job-s", short_delay, &run), SPARK_OK);
    start = now_ms();
    CHECK_INT_EQ(fake_job_process(run, 0, p), SPARK_OK);
    took = now_ms() - start;
    CHECK(took >= 34.0);
    CHECK_INT_EQ(fake_job_output_count(run, 1), 1);
    CHECK(fake_job_output(run, 1, 0) == p);
    CHECK_INT_EQ(fake_job_process(run, 0, NULL), SPARK_OK);
    CHECK_INT_EQ(fake_job_end(run, SPARK_OK), SPARK_OK);
    fake_job_free(run);

    /* A deadline already passed: returns SPARK_E_TIMEOUT before sleeping. */
    CHECK_INT_EQ(fake_job_begin(&node, "job-t", long_delay, &run), SPARK_OK);
    fake_job_set_deadline_ms(run, 0);
    CHECK_INT_EQ(fake_job_process(run, 0, p), SPARK_E_TIMEOUT);
    CHECK_INT_EQ(fake_job_output_count(run, 1), 0);
    CHECK_INT_EQ(fake_job_end(run, SPARK_E_TIMEOUT), SPARK_OK);
    fake_job_free(run);

    /* Cancelled from another thread while sleeping: back within a step or two. */
    CHECK_INT_EQ(fake_job_begin(&node, "job-c", long_delay, &run), SPARK_OK);
    stopper s = { run, 50 };
    pthread_t thread;
    CHECK_INT_EQ(pthread_create(&thread, NULL, stop_later, &s), 0);
    start = now_ms();
    CHECK_INT_EQ(fake_job_process(run, 0, p), SPARK_E_CANCELLED);
    took = now_ms() - start;
    pthread_join(thread, NULL);
    CHECK(took < 1000.0);
    CHECK_INT_EQ(fake_job_end(run, SPARK_E_CANCELLED), SPARK_OK);
    fake_job_free(run);

    fake_release(p);
    fake_node_close(&node);
}

typedef struct concurrent_job {
    fake_node *node;
    pthread_barrier_t *all_begun;
    char id[16];
    char peak[32];
    char packets[32];
    int failures;
} concurrent_job;

/* One job thread: begin, wait until every job has begun, push packets, end. */
static void *run_concurrent_job(void *user)
{
    concurrent_job *cj = user;
    static const char *const hold[] = { "hold", "3", NULL };
    fake_job *run;
    if (fake_job_begin(cj->node, cj->id, hold, &run) != SPARK_OK)
        cj->failures++;
    pthread_barrier_wait(cj->all_begun);
    for (int64_t seq = 0; seq < 40; seq++) {
        spark_packet *p = fake_audio_packet(1, 4, 16000);
        p->seq = seq;
        if (fake_job_process(run, 0, p) != SPARK_OK)
            cj->failures++;
        fake_release(p);
    }
    if (fake_job_process(run, 0, NULL) != SPARK_OK)
        cj->failures++;
    for (size_t i = 0; i < fake_job_output_count(run, 1); i++)
        if (fake_job_output(run, 1, i)->seq != (int64_t)i)
            cj->failures++;
    pthread_barrier_wait(cj->all_begun); /* every job still in flight at each job_end */
    if (fake_job_end(run, SPARK_OK) != SPARK_OK)
        cj->failures++;
    snprintf(cj->peak, sizeof cj->peak, "%s", fake_job_result_text(run, "peak_jobs"));
    snprintf(cj->packets, sizeof cj->packets, "%s", fake_job_result_text(run, "packets"));
    fake_job_free(run);
    return NULL;
}

static void check_passthrough(const fake_plugin *plugin)
{
    static const char *const hold[] = { "hold", "2", NULL };
    enum { JOBS = 4 };
    fake_node node;
    fake_job *run;
    spark_packet *in[5];

    CHECK_INT_EQ(open_node(&node, plugin, "org.sparkhost.test.passthrough", no_settings, 16000),
                 SPARK_OK);

    /* hold 2: the first two packets wait, then each packet releases the oldest. */
    CHECK_INT_EQ(fake_job_begin(&node, "job-h", hold, &run), SPARK_OK);
    for (int i = 0; i < 5; i++) {
        in[i] = fake_audio_packet(1, 4, 16000);
        in[i]->seq = i;
        CHECK_INT_EQ(fake_job_process(run, 0, in[i]), SPARK_OK);
        CHECK_INT_EQ(fake_job_output_count(run, 1), i < 2 ? 0 : (size_t)i - 1);
        fake_release(in[i]); /* the node retained what it keeps */
    }
    CHECK_INT_EQ(fake_job_process(run, 0, NULL), SPARK_OK);
    CHECK_INT_EQ(fake_job_output_count(run, 1), 5);
    for (int i = 0; i < 5; i++)
        CHECK(fake_job_output(run, 1, (size_t)i) == in[i]);
    CHECK_INT_EQ(fake_job_end(run, SPARK_OK), SPARK_OK);
    CHECK_STR_EQ(fake_job_result_text(run, "packets"), "5");
    CHECK_STR_EQ(fake_job_result_text(run, "peak_jobs"), "1");
    fake_job_free(run);
    CHECK_INT_EQ(fake_live_packets(), 0);

    /* A job that fails with packets held: job_end drops them. */
    CHECK_INT_EQ(fake_job_begin(&node, "job-x", hold, &run), SPARK_OK);
    in[0] = fake_audio_packet(1, 4, 16000);
    CHECK_INT_EQ(fake_job_process(run, 0, in[0]), SPARK_OK);
    fake_release(in[0]);
    CHECK_INT_EQ(fake_live_packets(), 1);
    CHECK_INT_EQ(fake_job_end(run, SPARK_E_CANCELLED), SPARK_OK);
    CHECK_INT_EQ(fake_live_packets(), 0);
    fake_job_free(run);

    /* Several jobs at once on the one instance, each with its own state. */
    pthread_barrier_t all_begun;
    pthread_t threads[JOBS];
    concurrent_job jobs[JOBS];
    pthread_barrier_init(&all_begun, NULL, JOBS);
    for (int i = 0; i < JOBS; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].node = &node;
        jobs[i].all_begun = &all_begun;
        snprintf(jobs[i].id, sizeof jobs[i].id, "job-%d", i);
        CHECK_INT_EQ(pthread_create(&threads[i], NULL, run_concurrent_job, &jobs[i]), 0);
    }
    for (int i = 0; i < JOBS; i++) {
        pthread_join(threads[i], NULL);
        CHECK_INT_EQ(jobs[i].failures, 0);
        CHECK_STR_EQ(jobs[i].packets, "40");
        CHECK_STR_EQ(jobs[i].peak, "4");
    }
    pthread_barrier_destroy(&all_begun);
    fake_node_close(&node);
}

static void check_refused_plugins(void)
{
    static const char *const internal[] = { "single_desc", "single_factory", "test_fail", NULL };
    fake_plugin plugin;
    char path[256];

    if (load_plugin(&plugin, "bad-abi/test-bad-abi.so", internal)) {
        CHECK_INT_EQ(plugin.entry->abi.major, SPARK_ABI_MAJOR + 1);
        CHECK(fake_plugin_node(&plugin, "org.sparkhost.test.bad_abi") != NULL);
        fake_plugin_unload(&plugin);
    }
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "duplicate/test-duplicate-%c.so", i ? 'b' : 'a');
        if (!load_plugin(&plugin, path, internal))
            continue;
        CHECK_INT_EQ(plugin.entry->abi.major, SPARK_ABI_MAJOR);
        CHECK_STR_EQ(plugin.entry->name, i ? "test-duplicate-b" : "test-duplicate-a");
        CHECK(fake_plugin_node(&plugin, "org.sparkhost.test.duplicate") != NULL);
        fake_plugin_unload(&plugin);
    }
}

int main(int argc, char **argv)
{
    static const char *const internal[] = {
        "test_source_desc", "test_sink_desc", "test_passthrough_desc", "test_node_factory",
        "test_fail", "source_process", NULL,
    };
    fake_plugin plugin;

    if (argc != 2) {
        fprintf(stderr, "usage: %s TEST_PLUGIN_DIR\n", argv[0]);
        return 2;
    }
    plugin_dir = argv[1];
    if (!load_plugin(&plugin, "test-nodes.so", internal))
        return CHECK_DONE();
    check_descriptors(&plugin);
    check_source_and_sink(&plugin);
    check_sink_formats(&plugin);
    check_text(&plugin);
    check_failing(&plugin);
    check_slow(&plugin);
    check_passthrough(&plugin);
    fake_plugin_unload(&plugin);
    check_refused_plugins();
    CHECK_INT_EQ(fake_live_packets(), 0);
    return CHECK_DONE();
}
