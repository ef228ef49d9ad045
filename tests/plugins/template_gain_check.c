/*
 * Runs the sdk/template plugin (org.example.gain) against the fake engine
 * (tests/support/fake_host.h): descriptor, unity gain passing the same packet on, scaling,
 * per-job gain on one instance, cancellation and refusals, and no packet left behind.
 *
 * usage: template_gain_check PATH/example-gain.so
 */
#include "fake_host.h"

#include "check.h"
#include "plugin_checks.h"

#include <spark/plugin.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

static fake_node gain;

/* One job with gain_db = text over `in`; returns process's status for the packet. */
static spark_status run_job(const char *gain_db, spark_packet *in, fake_job **out_job)
{
    const char *const settings[] = { "gain_db", gain_db, NULL };
    spark_status status;
    CHECK_INT_EQ(fake_job_begin(&gain, "job", settings, out_job), SPARK_OK);
    status = fake_job_process(*out_job, 0, in);
    if (status >= 0)
        CHECK_INT_EQ(fake_job_process(*out_job, 0, NULL), SPARK_OK);
    CHECK_INT_EQ(fake_job_end(*out_job, status), SPARK_OK);
    return status;
}

int main(int argc, char **argv)
{
    static const char *const internal[] = { "gain_desc", NULL };
    fake_plugin plugin;
    const spark_entry *entry;
    const spark_node_factory *factory;
    const spark_node_desc *desc;
    spark_packet *in;
    fake_job *job;

    if (argc != 2) {
        fprintf(stderr, "usage: %s PLUGIN.so\n", argv[0]);
        return 2;
    }
    entry = check_load_plugin(&plugin, argv[1], internal); /* only the entry is exported */
    if (!entry)
        return CHECK_DONE();
    CHECK_INT_EQ(entry->abi.major, SPARK_ABI_MAJOR);
    CHECK(entry->abi.minor <= SPARK_ABI_MINOR);
    CHECK_STR_EQ(entry->name, "example-gain");
    factory = plugin.nodes;
    CHECK(factory && factory->node_count == 1);
    if (!factory || factory->node_count != 1)
        return CHECK_DONE();
    desc = factory->nodes[0];
    CHECK_STR_EQ(desc->id, "org.example.gain");
    CHECK_INT_EQ(desc->port_count, 2);
    CHECK_INT_EQ(desc->param_count, 1);
    CHECK_STR_EQ(desc->params[0].key, "gain_db");
    CHECK_INT_EQ(desc->params[0].type, SPARK_PARAM_NUMBER);
    CHECK_STR_EQ(desc->params[0].default_value, "0");
    CHECK(desc->params[0].flags & SPARK_PARAM_PER_JOB);
    CHECK(desc->params[0].min == -60.0 && desc->params[0].max == 24.0);

    CHECK_INT_EQ(fake_node_open(&gain, desc, NULL, NULL), SPARK_OK);

    in = fake_audio_packet(2, 64, 48000);
    in->seq = 5;
    in->data.audio.timestamp = 320;
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < 64; i++)
            in->data.audio.planes[c][i] = (float)(i - 32) / 64.0f * (c ? -1.0f : 1.0f);

    /* 0 dB: the very packet goes on. */
    CHECK_INT_EQ(run_job("0", in, &job), SPARK_OK);
    CHECK_INT_EQ(fake_job_output_count(job, 1), 1);
    CHECK(fake_job_output(job, 1, 0) == in);
    fake_job_free(job);

    /* +6.02 dB doubles, -60 dB divides by 1000; format, seq and timestamp carried over. */
    static const struct { const char *db; double factor; } cases[] = {
        { "6.020599913279624", 2.0 }, { "-60", 0.001 }, { "24", 15.848931924611133 },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        CHECK_INT_EQ(run_job(cases[k].db, in, &job), SPARK_OK);
        const spark_packet *out = fake_job_output(job, 1, 0);
        CHECK(out != NULL && out != in);
        if (out) {
            CHECK_INT_EQ(out->data.audio.channels, 2);
            CHECK_INT_EQ(out->data.audio.frames, 64);
            CHECK_INT_EQ(out->data.audio.rate, 48000);
            CHECK_INT_EQ(out->seq, 5);
            CHECK_INT_EQ(out->data.audio.timestamp, 320);
            for (int c = 0; c < 2; c++)
                for (int i = 0; i < 64; i += 7)
                    CHECK_NEAR(out->data.audio.planes[c][i],
                               in->data.audio.planes[c][i] * cases[k].factor, 1e-5);
        }
        fake_job_free(job);
    }

    /* Not audio: refused with a posted reason. */
    spark_packet *text = fake_text_packet("not audio", strlen("not audio"), 0);
    fake_log_clear();
    CHECK_INT_EQ(run_job("3", text, &job), SPARK_E_FORMAT_MISMATCH);
    CHECK_STR_CONTAINS(fake_last_error(), "expects audio");
    fake_job_free(job);
    fake_release(text);

    fake_node_close(&gain);
    fake_release(in);
    CHECK_INT_EQ(fake_live_packets(), 0);
    fake_plugin_unload(&plugin);
    return CHECK_DONE();
}
