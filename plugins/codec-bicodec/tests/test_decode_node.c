/* The built codec-bicodec plugin (argv[1], loaded with dlopen) through its decode node, with
 * the fake engine of tests/support/fake_host.h: the latent format it negotiates, the latent
 * of a codes packet against the upstream reference, timestamps across packets, and the
 * guards (no semantic codes, a wrong number of globals, codes out of range, another codec,
 * a missing model), with no packet leaked. */
#include "check.h"
#include "plugin_checks.h"

#include <spark/ext/alloc.h>
#include <spark/plugin.h>

#include <stdlib.h>
#include <string.h>

#include "decode_test_support.h"
#include "fake_host.h"

enum { PORT_CODES = 0, PORT_LATENT = 1, PORT_VOICE = 2 };

static const spark_node_desc *desc;
static const spark_ext_alloc *alloc;
static const char *model_dir;

static spark_packet *codes_packet(const int32_t *semantic, size_t n, const int32_t *global,
                                  size_t n_global, const char *codec, int64_t seq)
{
    spark_packet *p = alloc->codes(fake_host(), n, n_global, codec, 50.0);
    if (!p)
        return NULL;
    if (n)
        memcpy(p->data.codes.semantic, semantic, n * sizeof(int32_t));
    if (n_global)
        memcpy(p->data.codes.global, global, n_global * sizeof(int32_t));
    p->seq = seq;
    return p;
}

static bool open_node(fake_node *node, const char *model)
{
    const char *settings[] = {"model", model, "threads", "2", NULL};
    return fake_node_open(node, desc, settings, NULL) == SPARK_OK;
}

static void test_reference_latent(void)
{
    dts_case c;
    CHECK(dts_case_load(&c, "medium"));
    fake_node node;
    CHECK(open_node(&node, model_dir));
    CHECK_INT_EQ(node.formats[PORT_LATENT].kind, SPARK_KIND_AUDIO);
    CHECK_INT_EQ(node.formats[PORT_LATENT].channels, 64);
    CHECK_INT_EQ(node.formats[PORT_LATENT].rate, 50);
    fake_job *job = NULL;
    CHECK_INT_EQ(fake_job_begin(&node, "job", NULL, &job), SPARK_OK);
    /* the same codes twice: two packets, the second one's timestamp after the first */
    for (int k = 0; k < 2; k++) {
        spark_packet *in = codes_packet(c.semantic, c.n_semantic, c.global, c.n_global,
                                        "bicodec", k);
        CHECK_INT_EQ(fake_job_process(job, PORT_CODES, in), SPARK_OK);
        fake_release(in);
    }
    CHECK_INT_EQ(fake_job_process(job, PORT_CODES, NULL), SPARK_OK);
    CHECK_INT_EQ(fake_job_output_count(job, PORT_LATENT), 2);
    for (size_t k = 0; k < fake_job_output_count(job, PORT_LATENT); k++) {
        const spark_packet *out = fake_job_output(job, PORT_LATENT, k);
        const spark_audio_data *a = &out->data.audio;
        CHECK_INT_EQ(out->seq, (int64_t)k);
        CHECK_INT_EQ(a->channels, c.channels);
        CHECK_INT_EQ(a->frames, c.n_semantic);
        CHECK_INT_EQ(a->rate, 50);
        CHECK_INT_EQ(a->timestamp, (int64_t)(k * c.n_semantic));
        float *latent = malloc(c.channels * c.n_semantic * sizeof(float));
        for (uint32_t ch = 0; ch < a->channels; ch++)
            memcpy(latent + ch * c.n_semantic, a->planes[ch], c.n_semantic * sizeof(float));
        CHECK(dts_within("node latent vs upstream vocoder input", latent, c.vocoder_in,
                         c.channels * c.n_semantic, DTS_TOLERANCE));
        free(latent);
    }
    CHECK_INT_EQ(fake_job_end(job, SPARK_OK), SPARK_OK);
    fake_job_free(job);
    fake_node_close(&node);
    dts_case_free(&c);
}

/* The cloning modes: codes without globals take the voice's from port voice, also when they
 * come first (they wait), and decode to the same latent as codes that carry them. Without a
 * voice the job fails, naming the port. */
static void test_voice_port(void)
{
    dts_case c;
    CHECK(dts_case_load(&c, "medium"));
    fake_node node;
    CHECK(open_node(&node, model_dir));
    fake_job *job = NULL;
    CHECK_INT_EQ(fake_job_begin(&node, "voice", NULL, &job), SPARK_OK);
    spark_packet *early = codes_packet(c.semantic, c.n_semantic, NULL, 0, "bicodec", 0);
    CHECK_INT_EQ(fake_job_process(job, PORT_CODES, early), SPARK_OK);
    CHECK_INT_EQ(fake_job_output_count(job, PORT_LATENT), 0);
    spark_packet *voice = codes_packet(NULL, 0, c.global, c.n_global, "bicodec", 0);
    CHECK_INT_EQ(fake_job_process(job, PORT_VOICE, voice), SPARK_OK);
    CHECK_INT_EQ(fake_job_output_count(job, PORT_LATENT), 1);
    CHECK_INT_EQ(fake_job_process(job, PORT_VOICE, NULL), SPARK_OK);
    spark_packet *late = codes_packet(c.semantic, c.n_semantic, NULL, 0, "bicodec", 1);
    CHECK_INT_EQ(fake_job_process(job, PORT_CODES, late), SPARK_OK);
    CHECK_INT_EQ(fake_job_process(job, PORT_CODES, NULL), SPARK_OK);
    CHECK_INT_EQ(fake_job_output_count(job, PORT_LATENT), 2);
    for (size_t k = 0; k < fake_job_output_count(job, PORT_LATENT); k++) {
        const spark_audio_data *a = &fake_job_output(job, PORT_LATENT, k)->data.audio;
        CHECK_INT_EQ(a->frames, c.n_semantic);
        float *latent = malloc(c.channels * c.n_semantic * sizeof(float));
        for (uint32_t ch = 0; ch < a->channels; ch++)
            memcpy(latent + ch * c.n_semantic, a->planes[ch], c.n_semantic * sizeof(float));
        CHECK(dts_within("latent with the voice's globals", latent, c.vocoder_in,
                         c.channels * c.n_semantic, DTS_TOLERANCE));
        free(latent);
    }
    CHECK_INT_EQ(fake_job_end(job, SPARK_OK), SPARK_OK);
    fake_job_free(job);
    fake_release(early);
    fake_release(voice);
    fake_release(late);

    /* codes without globals and a voice port that ends empty */
    CHECK_INT_EQ(fake_job_begin(&node, "no-voice", NULL, &job), SPARK_OK);
    spark_packet *orphan = codes_packet(c.semantic, c.n_semantic, NULL, 0, "bicodec", 0);
    CHECK_INT_EQ(fake_job_process(job, PORT_CODES, orphan), SPARK_OK);
    fake_log_clear();
    CHECK_INT_EQ(fake_job_process(job, PORT_VOICE, NULL), SPARK_E_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(fake_last_error(), "no reference voice came on port voice");
    CHECK_INT_EQ(fake_job_output_count(job, PORT_LATENT), 0);
    fake_job_end(job, SPARK_E_INVALID_ARGUMENT);
    fake_job_free(job);
    fake_release(orphan);
    fake_node_close(&node);
    dts_case_free(&c);
}

/* One packet the node must refuse with status, its message naming the rule. */
static void expect_refusal(fake_node *node, spark_packet *in, spark_status status,
                           const char *needle)
{
    fake_job *job = NULL;
    CHECK_INT_EQ(fake_job_begin(node, "bad", NULL, &job), SPARK_OK);
    fake_log_clear();
    CHECK_INT_EQ(fake_job_process(job, PORT_CODES, in), status);
    CHECK_STR_CONTAINS(fake_last_error(), needle);
    CHECK_INT_EQ(fake_job_output_count(job, PORT_LATENT), 0);
    fake_job_end(job, status);
    fake_job_free(job);
    fake_release(in);
}

static void test_guards(void)
{
    fake_node node;
    CHECK(open_node(&node, model_dir));
    int32_t semantic[8] = {0, 1, 2, 3, 4, 5, 6, 7}, global[40] = {0};
    expect_refusal(&node, codes_packet(semantic, 0, global, 32, "bicodec", 0),
                   SPARK_E_INVALID_ARGUMENT, "no semantic codes");
    expect_refusal(&node, codes_packet(semantic, 8, global, 31, "bicodec", 0),
                   SPARK_E_INVALID_ARGUMENT, "31 global codes given; BiCodec needs exactly 32");
    semantic[3] = 5000;
    expect_refusal(&node, codes_packet(semantic, 8, global, 32, "bicodec", 0),
                   SPARK_E_INVALID_ARGUMENT, "semantic code 3 is 5000, outside 0..1023");
    semantic[3] = 3;
    global[31] = -2;
    expect_refusal(&node, codes_packet(semantic, 8, global, 32, "bicodec", 0),
                   SPARK_E_INVALID_ARGUMENT, "global code 31 is -2");
    global[31] = 0;
    expect_refusal(&node, codes_packet(semantic, 8, global, 32, "encodec", 0),
                   SPARK_E_FORMAT_MISMATCH, "codec 'encodec', not bicodec");
    expect_refusal(&node, fake_text_packet("hello", 5, 0), SPARK_E_FORMAT_MISMATCH,
                   "expects codes");
    fake_node_close(&node);

    /* a model directory without BiCodec: refused at configure, naming the directory */
    fake_log_clear();
    CHECK(!open_node(&node, "/nonexistent-spark-model"));
    CHECK_STR_CONTAINS(fake_last_error(), "/nonexistent-spark-model");
    fake_node_close(&node);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_decode_node PLUGIN.so\n");
        return 2;
    }
    model_dir = dts_tiny_model();
    CHECK(model_dir != NULL);
    if (!model_dir)
        return CHECK_DONE();
    fake_plugin plugin;
    const spark_entry *entry = check_load_plugin(&plugin, argv[1], NULL);
    if (!entry)
        return CHECK_DONE();
    CHECK_STR_EQ(entry->name, "codec-bicodec");
    desc = fake_plugin_node(&plugin, "org.sparkhost.codec.bicodec.decode");
    CHECK(desc != NULL);
    alloc = spark_host_service(fake_host(), SPARK_EXT_ALLOC,
                               SPARK_SIZE_THROUGH(spark_ext_alloc, release));
    CHECK(alloc != NULL);
    if (desc && alloc) {
        CHECK_INT_EQ(desc->port_count, 3);
        CHECK_STR_EQ(desc->ports[PORT_VOICE].name, "voice");
        CHECK_STR_EQ(desc->ports[PORT_CODES].name, "codes");
        CHECK_INT_EQ(desc->ports[PORT_CODES].kind, SPARK_KIND_CODES);
        CHECK_STR_EQ(desc->ports[PORT_LATENT].name, "latent");
        test_reference_latent();
        test_voice_port();
        test_guards();
    }
    CHECK_INT_EQ(fake_live_packets(), 0);
    fake_plugin_unload(&plugin);
    return CHECK_DONE();
}
