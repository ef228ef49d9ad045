/*
 * Runs the sdk/template plugin (org.example.gain) against fake_host.c: descriptor, unity
 * gain passing the same packet on, scaling, per-job gain on one instance, cancellation and
 * refusals, and no packet left behind.
 *
 * usage: template_gain_check PATH/example-gain.so
 */
#include "fake_host.h"

#include "check.h"

#include <spark/plugin.h>

#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const spark_node_desc *gain;
static void *instance;

/* One job with gain_db = text over `in`; returns process's status for the last packet. */
static spark_status run_job(const char *gain_db, spark_packet *in, fake_job **out_job,
                            fake_params **out_params)
{
    fake_params *params = fake_params_new(gain->params, gain->param_count);
    fake_job *job;
    void *state = NULL;
    spark_status status;
    CHECK_INT_EQ(fake_params_set(params, "gain_db", gain_db), 0);
    job = fake_job_new("job", fake_params_api(params), gain->port_count);
    CHECK_INT_EQ(gain->ops->job_begin(instance, fake_job_api(job), &state), SPARK_OK);
    status = gain->ops->process(instance, state, fake_job_api(job), 0, in);
    if (status >= 0)
        CHECK_INT_EQ(gain->ops->process(instance, state, fake_job_api(job), 0, NULL), SPARK_OK);
    CHECK_INT_EQ(gain->ops->job_end(instance, state, fake_job_api(job), status), SPARK_OK);
    *out_job = job;
    *out_params = params;
    return status;
}

int main(int argc, char **argv)
{
    void *handle;
    const spark_entry *entry;
    const spark_node_factory *factory;
    spark_packet *in;
    fake_job *job;
    fake_params *params;

    if (argc != 2) {
        fprintf(stderr, "usage: %s PLUGIN.so\n", argv[0]);
        return 2;
    }
    handle = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    entry = (const spark_entry *)dlsym(handle, SPARK_ENTRY_SYMBOL);
    CHECK(entry != NULL);
    if (!entry)
        return CHECK_DONE();
    CHECK_INT_EQ(entry->abi.major, SPARK_ABI_MAJOR);
    CHECK(entry->abi.minor <= SPARK_ABI_MINOR);
    CHECK_STR_EQ(entry->name, "example-gain");
    CHECK(dlsym(handle, "gain_desc") == NULL); /* only the entry is exported */
    factory = (const spark_node_factory *)entry->get_factory(SPARK_FACTORY_NODE);
    CHECK(factory && factory->node_count == 1);
    if (!factory || factory->node_count != 1)
        return CHECK_DONE();
    gain = factory->nodes[0];
    CHECK_STR_EQ(gain->id, "org.example.gain");
    CHECK_INT_EQ(gain->port_count, 2);
    CHECK_INT_EQ(gain->param_count, 1);
    CHECK_STR_EQ(gain->params[0].key, "gain_db");
    CHECK_INT_EQ(gain->params[0].type, SPARK_PARAM_NUMBER);
    CHECK_STR_EQ(gain->params[0].default_value, "0");
    CHECK(gain->params[0].flags & SPARK_PARAM_PER_JOB);
    CHECK(gain->params[0].min == -60.0 && gain->params[0].max == 24.0);

    CHECK_INT_EQ(gain->ops->create(fake_host(), "gain", &instance), SPARK_OK);

    in = fake_audio_packet(2, 64, 48000);
    in->seq = 5;
    in->data.audio.timestamp = 320;
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < 64; i++)
            in->data.audio.planes[c][i] = (float)(i - 32) / 64.0f * (c ? -1.0f : 1.0f);

    /* 0 dB: the very packet goes on. */
    CHECK_INT_EQ(run_job("0", in, &job, &params), SPARK_OK);
    CHECK_INT_EQ(fake_job_output_count(job, 1), 1);
    CHECK(fake_job_output(job, 1, 0) == in);
    fake_job_free(job);
    fake_params_free(params);

    /* +6.02 dB doubles, -60 dB divides by 1000; format, seq and timestamp carried over. */
    static const struct { const char *db; double factor; } cases[] = {
        { "6.020599913279624", 2.0 }, { "-60", 0.001 }, { "24", 15.848931924611133 },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        CHECK_INT_EQ(run_job(cases[k].db, in, &job, &params), SPARK_OK);
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
        fake_params_free(params);
    }

    /* Not audio: refused with a posted reason. */
    spark_packet *text = fake_text_packet("not audio");
    fake_clear_error();
    CHECK_INT_EQ(run_job("3", text, &job, &params), SPARK_E_FORMAT_MISMATCH);
    CHECK_STR_CONTAINS(fake_last_error(), "expects audio");
    fake_job_free(job);
    fake_params_free(params);
    fake_release(text);

    gain->ops->destroy(instance);
    fake_release(in);
    CHECK_INT_EQ(fake_live_packets(), 0);
    dlclose(handle);
    return CHECK_DONE();
}
