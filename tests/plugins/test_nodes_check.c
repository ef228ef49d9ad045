/*
 * Self-check of the test plugins, run against fake_host.c instead of the engine: loads the
 * DSOs the way the engine does (dlopen, local scope, the entry symbol only), drives every
 * node through its lifecycle and checks what it emits, posts and refuses. The engine's own
 * tests use the same plugins; this makes sure a failure there is the engine's.
 *
 * usage: test_nodes_check DIR   (DIR = the test-plugins output directory)
 */
#include "fake_host.h"
#include "test_signal.h"

#include "check.h"

#include <spark/plugin.h>

#include <dlfcn.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *plugin_dir;

/* ---- loading ------------------------------------------------------------------------ */

typedef struct loaded_plugin {
    void *handle;
    const spark_entry *entry;
    const spark_node_factory *nodes;
} loaded_plugin;

static int load_plugin(loaded_plugin *out, const char *file_name)
{
    char path[4096];
    memset(out, 0, sizeof *out);
    snprintf(path, sizeof path, "%s/%s", plugin_dir, file_name);
    out->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!out->handle) {
        fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
        return -1;
    }
    out->entry = (const spark_entry *)dlsym(out->handle, SPARK_ENTRY_SYMBOL);
    if (!out->entry) {
        fprintf(stderr, "%s: no %s\n", path, SPARK_ENTRY_SYMBOL);
        dlclose(out->handle);
        out->handle = NULL;
        return -1;
    }
    out->nodes = (const spark_node_factory *)out->entry->get_factory(SPARK_FACTORY_NODE);
    return 0;
}

static void unload_plugin(loaded_plugin *plugin)
{
    if (plugin->handle)
        dlclose(plugin->handle);
    memset(plugin, 0, sizeof *plugin);
}

static const spark_node_desc *find_node(const loaded_plugin *plugin, const char *id)
{
    if (!plugin->nodes)
        return NULL;
    for (uint32_t i = 0; i < plugin->nodes->node_count; i++)
        if (strcmp(plugin->nodes->nodes[i]->id, id) == 0)
            return plugin->nodes->nodes[i];
    return NULL;
}

/* The plugin exports the entry and nothing else (the version script's job). */
static void check_exports(const loaded_plugin *plugin, const char *const *internal_names)
{
    for (const char *const *name = internal_names; *name; name++) {
        CHECK(dlsym(plugin->handle, *name) == NULL);
        if (dlsym(plugin->handle, *name))
            fprintf(stderr, "  %s is exported\n", *name);
    }
}

/* ---- instances ---------------------------------------------------------------------- */

typedef struct instance {
    const spark_node_desc *desc;
    fake_params *params;
    void *self;
    spark_format formats[8];
    int active;
} instance;

/* settings: NULL-terminated "key", "value" pairs. */
static void apply_settings(fake_params *params, const char *const *settings)
{
    for (; settings && settings[0]; settings += 2)
        CHECK_INT_EQ(fake_params_set(params, settings[0], settings[1]), 0);
}

/* create, configure, negotiate (offering `offer` to every AUDIO input), activate. Returns
 * the first failing status, with the instance still to be closed. */
static spark_status instance_open(instance *in, const loaded_plugin *plugin, const char *id,
                                  const char *const *settings, uint32_t offer_rate)
{
    spark_status status;
    memset(in, 0, sizeof *in);
    in->desc = find_node(plugin, id);
    CHECK(in->desc != NULL);
    if (!in->desc)
        return SPARK_E_NOT_FOUND;
    in->params = fake_params_new(in->desc->params, in->desc->param_count);
    apply_settings(in->params, settings);
    status = in->desc->ops->create(fake_host(), id, &in->self);
    if (status < 0)
        return status;
    if (in->desc->ops->configure) {
        status = in->desc->ops->configure(in->self, fake_params_api(in->params));
        if (status < 0)
            return status;
    }
    for (uint32_t i = 0; i < in->desc->port_count && i < 8; i++) {
        const spark_port_desc *port = &in->desc->ports[i];
        in->formats[i].struct_size = sizeof(spark_format);
        in->formats[i].kind = port->kind;
        if (port->direction == SPARK_PORT_IN && port->kind == SPARK_KIND_AUDIO) {
            in->formats[i].rate = offer_rate;
            in->formats[i].channels = 1;
        }
    }
    if (in->desc->ops->negotiate) {
        status = in->desc->ops->negotiate(in->self, in->formats, in->desc->port_count);
        if (status < 0)
            return status;
    }
    if (in->desc->ops->activate) {
        status = in->desc->ops->activate(in->self);
        if (status < 0)
            return status;
    }
    in->active = 1;
    return SPARK_OK;
}

static void instance_close(instance *in)
{
    if (in->active && in->desc->ops->deactivate)
        in->desc->ops->deactivate(in->self);
    if (in->self)
        in->desc->ops->destroy(in->self);
    fake_params_free(in->params);
    memset(in, 0, sizeof *in);
}

/* One job on one instance: the node's settings plus the job's overrides. */
typedef struct job_run {
    fake_params *params;
    fake_job *job;
    void *state;
    int begun;
} job_run;

static spark_status job_open(job_run *run, instance *in, const char *job_id,
                             const char *const *node_settings, const char *const *job_settings)
{
    memset(run, 0, sizeof *run);
    run->params = fake_params_new(in->desc->params, in->desc->param_count);
    apply_settings(run->params, node_settings);
    apply_settings(run->params, job_settings);
    run->job = fake_job_new(job_id, fake_params_api(run->params), in->desc->port_count);
    if (!in->desc->ops->job_begin) {
        run->begun = 1;
        return SPARK_OK;
    }
    spark_status status = in->desc->ops->job_begin(in->self, fake_job_api(run->job), &run->state);
    run->begun = status >= 0;
    return status;
}

static spark_status job_process(job_run *run, instance *in, uint32_t port,
                                const spark_packet *packet)
{
    return in->desc->ops->process(in->self, run->state, fake_job_api(run->job), port, packet);
}

static spark_status job_finish(job_run *run, instance *in, spark_status outcome)
{
    spark_status status = SPARK_OK;
    if (run->begun && in->desc->ops->job_end)
        status = in->desc->ops->job_end(in->self, run->state, fake_job_api(run->job), outcome);
    run->begun = 0;
    return status;
}

static void job_close(job_run *run)
{
    fake_job_free(run->job);
    fake_params_free(run->params);
    memset(run, 0, sizeof *run);
}

/* ---- the checks --------------------------------------------------------------------- */

static void check_descriptors(const loaded_plugin *plugin)
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
        const spark_node_desc *desc = find_node(plugin, ids[i]);
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
static void check_source_and_sink(const loaded_plugin *plugin)
{
    static const char *const source_settings[] = { "rate", "22050", "channels", "2", NULL };
    static const char *const job_settings[] = { "seed", "7", "count", "4", "frames", "100", NULL };
    instance source, sink;
    job_run source_job, sink_job;
    char expected[17];

    CHECK_INT_EQ(instance_open(&source, plugin, "org.sparkhost.test.source", source_settings, 0),
                 SPARK_OK);
    CHECK_INT_EQ(source.formats[0].kind, SPARK_KIND_AUDIO);
    CHECK_INT_EQ(source.formats[0].rate, 22050);
    CHECK_INT_EQ(source.formats[0].channels, 2);
    CHECK_INT_EQ(instance_open(&sink, plugin, "org.sparkhost.test.sink", no_settings, 22050),
                 SPARK_OK);
    CHECK_INT_EQ(sink.formats[0].rate, 22050); /* want_rate 0: the offer stands */

    CHECK_INT_EQ(job_open(&source_job, &source, "job-1", source_settings, job_settings),
                 SPARK_OK);
    CHECK_INT_EQ(job_process(&source_job, &source, SPARK_PORT_NONE, NULL), SPARK_OK);
    CHECK_INT_EQ(fake_job_output_count(source_job.job, 0), 4);

    CHECK_INT_EQ(job_open(&sink_job, &sink, "job-1", no_settings, no_settings), SPARK_OK);
    for (size_t i = 0; i < fake_job_output_count(source_job.job, 0); i++) {
        const spark_packet *p = fake_job_output(source_job.job, 0, i);
        CHECK_INT_EQ(p->kind, SPARK_KIND_AUDIO);
        CHECK_INT_EQ(p->seq, (int64_t)i);
        CHECK_INT_EQ(p->data.audio.timestamp, (int64_t)i * 100);
        CHECK_INT_EQ(p->data.audio.frames, 100);
        CHECK_INT_EQ(p->data.audio.channels, 2);
        CHECK_INT_EQ(p->data.audio.rate, 22050);
        CHECK(p->data.audio.planes[1][99] == test_signal_sample(7, i, 1, 99));
        CHECK(p->data.audio.planes[0][0] >= -0.5f && p->data.audio.planes[0][0] < 0.5f);
        CHECK_INT_EQ(job_process(&sink_job, &sink, 0, p), SPARK_OK);
    }
    CHECK_INT_EQ(job_process(&sink_job, &sink, 0, NULL), SPARK_OK);
    CHECK_INT_EQ(job_finish(&sink_job, &sink, SPARK_OK), SPARK_OK);
    CHECK_STR_EQ(fake_job_result(sink_job.job, "packets"), "4");
    CHECK_STR_EQ(fake_job_result(sink_job.job, "frames"), "400");
    CHECK_STR_EQ(fake_job_result(sink_job.job, "rate"), "22050");
    CHECK_STR_EQ(fake_job_result(sink_job.job, "channels"), "2");
    CHECK_STR_EQ(fake_job_result(sink_job.job, "text"), "");
    test_checksum_hex(test_source_checksum(7, 4, 100, 2), expected);
    CHECK_STR_EQ(fake_job_result(sink_job.job, "checksum"), expected);
    CHECK_INT_EQ(job_finish(&source_job, &source, SPARK_OK), SPARK_OK);
    job_close(&sink_job);
    job_close(&source_job);

    /* Another seed gives other content; defaults give 3 x 1600 at 16 kHz mono. */
    instance_close(&source);
    CHECK_INT_EQ(instance_open(&source, plugin, "org.sparkhost.test.source", no_settings, 0),
                 SPARK_OK);
    CHECK_INT_EQ(job_open(&source_job, &source, "job-2", no_settings, no_settings), SPARK_OK);
    CHECK_INT_EQ(job_process(&source_job, &source, SPARK_PORT_NONE, NULL), SPARK_OK);
    CHECK_INT_EQ(fake_job_output_count(source_job.job, 0), 3);
    CHECK_INT_EQ(job_open(&sink_job, &sink, "job-2", no_settings, no_settings), SPARK_OK);
    for (size_t i = 0; i < 3; i++)
        CHECK_INT_EQ(job_process(&sink_job, &sink, 0, fake_job_output(source_job.job, 0, i)),
                     SPARK_OK);
    CHECK_INT_EQ(job_finish(&sink_job, &sink, SPARK_OK), SPARK_OK);
    CHECK_STR_EQ(fake_job_result(sink_job.job, "frames"), "4800");
    CHECK_STR_EQ(fake_job_result(sink_job.job, "rate"), "16000");
    test_checksum_hex(test_source_checksum(0, 3, 1600, 1), expected);
    CHECK_STR_EQ(fake_job_result(sink_job.job, "checksum"), expected);
    CHECK_INT_EQ(job_finish(&source_job, &source, SPARK_OK), SPARK_OK);
    job_close(&sink_job);
    job_close(&source_job);

    /* A cancelled job: emit refuses, the source returns the host's status as is. */
    CHECK_INT_EQ(job_open(&source_job, &source, "job-3", no_settings, no_settings), SPARK_OK);
    fake_job_stop(source_job.job, SPARK_E_CANCELLED);
    CHECK_INT_EQ(job_process(&source_job, &source, SPARK_PORT_NONE, NULL), SPARK_E_CANCELLED);
    CHECK_INT_EQ(job_finish(&source_job, &source, SPARK_E_CANCELLED), SPARK_OK);
    job_close(&source_job);

    instance_close(&sink);
    instance_close(&source);
}

static void check_sink_formats(const loaded_plugin *plugin)
{
    static const char *const want[] = { "want_rate", "24000", "want_channels", "1", NULL };
    instance sink;
    job_run run;
    spark_packet *good, *bad;

    CHECK_INT_EQ(instance_open(&sink, plugin, "org.sparkhost.test.sink", want, 16000), SPARK_OK);
    CHECK_INT_EQ(sink.formats[0].rate, 24000); /* asks the engine to convert */
    CHECK_INT_EQ(sink.formats[0].channels, 1);
    good = fake_audio_packet(1, 10, 24000);
    bad = fake_audio_packet(1, 10, 16000);
    CHECK_INT_EQ(job_open(&run, &sink, "job-f", want, no_settings), SPARK_OK);
    CHECK_INT_EQ(job_process(&run, &sink, 0, good), SPARK_OK);
    fake_clear_error();
    CHECK_INT_EQ(job_process(&run, &sink, 0, bad), SPARK_E_FORMAT_MISMATCH);
    CHECK_STR_CONTAINS(fake_last_error(), "16000 Hz");
    CHECK_INT_EQ(job_process(&run, &sink, 7, NULL), SPARK_E_INVALID_ARGUMENT);
    CHECK_INT_EQ(job_finish(&run, &sink, SPARK_E_FORMAT_MISMATCH), SPARK_OK);
    CHECK_STR_EQ(fake_job_result(run.job, "packets"), "1");
    job_close(&run);
    fake_release(good);
    fake_release(bad);
    instance_close(&sink);
}

static void check_text(const loaded_plugin *plugin)
{
    static const char *const job_settings[] = { "text", "Grüße, world.", NULL };
    instance source, sink;
    job_run source_job, sink_job;

    CHECK_INT_EQ(instance_open(&source, plugin, "org.sparkhost.test.text_source", no_settings, 0),
                 SPARK_OK);
    CHECK_INT_EQ(source.formats[0].kind, SPARK_KIND_TEXT);
    CHECK_INT_EQ(instance_open(&sink, plugin, "org.sparkhost.test.sink", no_settings, 16000),
                 SPARK_OK);
    CHECK_INT_EQ(job_open(&source_job, &source, "job-t", no_settings, job_settings), SPARK_OK);
    CHECK_INT_EQ(job_process(&source_job, &source, SPARK_PORT_NONE, NULL), SPARK_OK);
    CHECK_INT_EQ(fake_job_output_count(source_job.job, 0), 1);
    CHECK_INT_EQ(job_open(&sink_job, &sink, "job-t", no_settings, no_settings), SPARK_OK);
    const spark_packet *text = fake_job_output(source_job.job, 0, 0);
    CHECK(text && text->kind == SPARK_KIND_TEXT && text->seq == 0);
    CHECK_INT_EQ(job_process(&sink_job, &sink, 1, text), SPARK_OK);
    CHECK_INT_EQ(job_process(&sink_job, &sink, 1, text), SPARK_OK);
    CHECK_INT_EQ(job_process(&sink_job, &sink, 1, NULL), SPARK_OK);
    CHECK_INT_EQ(job_process(&sink_job, &sink, 0, NULL), SPARK_OK);
    CHECK_INT_EQ(job_finish(&sink_job, &sink, SPARK_OK), SPARK_OK);
    CHECK_STR_EQ(fake_job_result(sink_job.job, "text"), "Grüße, world.Grüße, world.");
    CHECK_STR_EQ(fake_job_result(sink_job.job, "packets"), "0");
    CHECK_STR_EQ(fake_job_result(sink_job.job, "rate"), "0");
    CHECK_INT_EQ(job_finish(&source_job, &source, SPARK_OK), SPARK_OK);
    job_close(&sink_job);
    job_close(&source_job);
    instance_close(&sink);
    instance_close(&source);
}

static void check_failing(const loaded_plugin *plugin)
{
    static const char *const job_settings[] = { "fail_at", "2", NULL };
    instance node;
    job_run run;

    fake_clear_error();
    CHECK_INT_EQ(instance_open(&node, plugin, "org.sparkhost.test.fail_activate", no_settings,
                               16000),
                 SPARK_E_INVALID_MODEL);
    CHECK_STR_EQ(fake_last_error(), "activation refused by test plugin");
    instance_close(&node); /* destroy is legal after any failure */

    CHECK_INT_EQ(instance_open(&node, plugin, "org.sparkhost.test.fail_process", no_settings,
                               16000),
                 SPARK_OK);
    CHECK_INT_EQ(job_open(&run, &node, "job-p", no_settings, job_settings), SPARK_OK);
    for (int64_t seq = 0; seq < 4; seq++) {
        spark_packet *p = fake_audio_packet(1, 8, 16000);
        p->seq = seq;
        fake_clear_error();
        spark_status status = job_process(&run, &node, 0, p);
        fake_release(p);
        if (seq == 2) {
            CHECK_INT_EQ(status, SPARK_E_INTERNAL);
            CHECK_STR_EQ(fake_last_error(), "process failed on purpose at packet 2");
            break;
        }
        CHECK_INT_EQ(status, SPARK_OK);
    }
    CHECK_INT_EQ(fake_job_output_count(run.job, 1), 2);
    CHECK_INT_EQ(job_finish(&run, &node, SPARK_E_INTERNAL), SPARK_OK);
    job_close(&run);

    /* Default fail_at is 1. */
    CHECK_INT_EQ(job_open(&run, &node, "job-q", no_settings, no_settings), SPARK_OK);
    spark_packet *p = fake_audio_packet(1, 8, 16000);
    p->seq = 1;
    CHECK_INT_EQ(job_process(&run, &node, 0, p), SPARK_E_INTERNAL);
    CHECK_STR_EQ(fake_last_error(), "process failed on purpose at packet 1");
    fake_release(p);
    CHECK_INT_EQ(job_finish(&run, &node, SPARK_E_INTERNAL), SPARK_OK);
    job_close(&run);
    instance_close(&node);
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

static void check_slow(const loaded_plugin *plugin)
{
    static const char *const short_delay[] = { "delay_ms", "35", NULL };
    static const char *const long_delay[] = { "delay_ms", "5000", NULL };
    instance node;
    job_run run;
    spark_packet *p = fake_audio_packet(1, 8, 16000);
    double start, took;

    CHECK_INT_EQ(instance_open(&node, plugin, "org.sparkhost.test.slow", no_settings, 16000),
                 SPARK_OK);

    /* Delays, then passes the very packet on. */
    CHECK_INT_EQ(job_open(&run, &node, "job-s", no_settings, short_delay), SPARK_OK);
    start = now_ms();
    CHECK_INT_EQ(job_process(&run, &node, 0, p), SPARK_OK);
    took = now_ms() - start;
    CHECK(took >= 34.0);
    CHECK_INT_EQ(fake_job_output_count(run.job, 1), 1);
    CHECK(fake_job_output(run.job, 1, 0) == p);
    CHECK_INT_EQ(job_process(&run, &node, 0, NULL), SPARK_OK);
    CHECK_INT_EQ(job_finish(&run, &node, SPARK_OK), SPARK_OK);
    job_close(&run);

    /* A deadline already passed: returns SPARK_E_TIMEOUT before sleeping. */
    CHECK_INT_EQ(job_open(&run, &node, "job-t", no_settings, long_delay), SPARK_OK);
    fake_job_stop(run.job, SPARK_E_TIMEOUT);
    CHECK_INT_EQ(job_process(&run, &node, 0, p), SPARK_E_TIMEOUT);
    CHECK_INT_EQ(fake_job_output_count(run.job, 1), 0);
    CHECK_INT_EQ(job_finish(&run, &node, SPARK_E_TIMEOUT), SPARK_OK);
    job_close(&run);

    /* Cancelled from another thread while sleeping: back within a step or two. */
    CHECK_INT_EQ(job_open(&run, &node, "job-c", no_settings, long_delay), SPARK_OK);
    stopper s = { run.job, 50 };
    pthread_t thread;
    CHECK_INT_EQ(pthread_create(&thread, NULL, stop_later, &s), 0);
    start = now_ms();
    CHECK_INT_EQ(job_process(&run, &node, 0, p), SPARK_E_CANCELLED);
    took = now_ms() - start;
    pthread_join(thread, NULL);
    CHECK(took < 1000.0);
    CHECK_INT_EQ(job_finish(&run, &node, SPARK_E_CANCELLED), SPARK_OK);
    job_close(&run);

    fake_release(p);
    instance_close(&node);
}

typedef struct concurrent_job {
    instance *node;
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
    job_run run;
    if (job_open(&run, cj->node, cj->id, no_settings, hold) != SPARK_OK)
        cj->failures++;
    pthread_barrier_wait(cj->all_begun);
    for (int64_t seq = 0; seq < 40; seq++) {
        spark_packet *p = fake_audio_packet(1, 4, 16000);
        p->seq = seq;
        if (job_process(&run, cj->node, 0, p) != SPARK_OK)
            cj->failures++;
        fake_release(p);
    }
    if (job_process(&run, cj->node, 0, NULL) != SPARK_OK)
        cj->failures++;
    for (size_t i = 0; i < fake_job_output_count(run.job, 1); i++)
        if (fake_job_output(run.job, 1, i)->seq != (int64_t)i)
            cj->failures++;
    pthread_barrier_wait(cj->all_begun); /* every job still in flight at each job_end */
    if (job_finish(&run, cj->node, SPARK_OK) != SPARK_OK)
        cj->failures++;
    snprintf(cj->peak, sizeof cj->peak, "%s", fake_job_result(run.job, "peak_jobs"));
    snprintf(cj->packets, sizeof cj->packets, "%s", fake_job_result(run.job, "packets"));
    job_close(&run);
    return NULL;
}

static void check_passthrough(const loaded_plugin *plugin)
{
    static const char *const hold[] = { "hold", "2", NULL };
    enum { JOBS = 4 };
    instance node;
    job_run run;
    spark_packet *in[5];

    CHECK_INT_EQ(instance_open(&node, plugin, "org.sparkhost.test.passthrough", no_settings,
                               16000),
                 SPARK_OK);

    /* hold 2: the first two packets wait, then each packet releases the oldest. */
    CHECK_INT_EQ(job_open(&run, &node, "job-h", no_settings, hold), SPARK_OK);
    for (int i = 0; i < 5; i++) {
        in[i] = fake_audio_packet(1, 4, 16000);
        in[i]->seq = i;
        CHECK_INT_EQ(job_process(&run, &node, 0, in[i]), SPARK_OK);
        CHECK_INT_EQ(fake_job_output_count(run.job, 1), i < 2 ? 0 : (size_t)i - 1);
        fake_release(in[i]); /* the node retained what it keeps */
    }
    CHECK_INT_EQ(job_process(&run, &node, 0, NULL), SPARK_OK);
    CHECK_INT_EQ(fake_job_output_count(run.job, 1), 5);
    for (int i = 0; i < 5; i++)
        CHECK(fake_job_output(run.job, 1, (size_t)i) == in[i]);
    CHECK_INT_EQ(job_finish(&run, &node, SPARK_OK), SPARK_OK);
    CHECK_STR_EQ(fake_job_result(run.job, "packets"), "5");
    CHECK_STR_EQ(fake_job_result(run.job, "peak_jobs"), "1");
    job_close(&run);
    CHECK_INT_EQ(fake_live_packets(), 0);

    /* A job that fails with packets held: job_end drops them. */
    CHECK_INT_EQ(job_open(&run, &node, "job-x", no_settings, hold), SPARK_OK);
    in[0] = fake_audio_packet(1, 4, 16000);
    CHECK_INT_EQ(job_process(&run, &node, 0, in[0]), SPARK_OK);
    fake_release(in[0]);
    CHECK_INT_EQ(fake_live_packets(), 1);
    CHECK_INT_EQ(job_finish(&run, &node, SPARK_E_CANCELLED), SPARK_OK);
    CHECK_INT_EQ(fake_live_packets(), 0);
    job_close(&run);

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
    instance_close(&node);
}

static void check_refused_plugins(void)
{
    static const char *const internal[] = { "single_desc", "single_factory", "test_fail", NULL };
    loaded_plugin plugin;
    char path[256];

    CHECK_INT_EQ(load_plugin(&plugin, "bad-abi/test-bad-abi.so"), 0);
    if (plugin.handle) {
        CHECK_INT_EQ(plugin.entry->abi.major, SPARK_ABI_MAJOR + 1);
        CHECK(find_node(&plugin, "org.sparkhost.test.bad_abi") != NULL);
        check_exports(&plugin, internal);
        unload_plugin(&plugin);
    }
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "duplicate/test-duplicate-%c.so", i ? 'b' : 'a');
        CHECK_INT_EQ(load_plugin(&plugin, path), 0);
        if (!plugin.handle)
            continue;
        CHECK_INT_EQ(plugin.entry->abi.major, SPARK_ABI_MAJOR);
        CHECK_STR_EQ(plugin.entry->name, i ? "test-duplicate-b" : "test-duplicate-a");
        CHECK(find_node(&plugin, "org.sparkhost.test.duplicate") != NULL);
        check_exports(&plugin, internal);
        unload_plugin(&plugin);
    }
}

int main(int argc, char **argv)
{
    static const char *const internal[] = {
        "test_source_desc", "test_sink_desc", "test_passthrough_desc", "test_node_factory",
        "test_fail", "source_process", NULL,
    };
    loaded_plugin plugin;

    if (argc != 2) {
        fprintf(stderr, "usage: %s TEST_PLUGIN_DIR\n", argv[0]);
        return 2;
    }
    plugin_dir = argv[1];
    if (load_plugin(&plugin, "test-nodes.so") != 0)
        return 1;
    check_exports(&plugin, internal);
    check_descriptors(&plugin);
    check_source_and_sink(&plugin);
    check_sink_formats(&plugin);
    check_text(&plugin);
    check_failing(&plugin);
    check_slow(&plugin);
    check_passthrough(&plugin);
    unload_plugin(&plugin);
    check_refused_plugins();
    CHECK_INT_EQ(fake_live_packets(), 0);
    return CHECK_DONE();
}
