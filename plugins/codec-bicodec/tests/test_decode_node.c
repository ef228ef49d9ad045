/* The built codec-bicodec plugin (argv[1], loaded with dlopen) through its decode node, with
 * the fake engine of tests/support/fake_host.h: the latent format it negotiates, the latent
 * of codes packets (whole sentences, or streamed a few codes at a time) against the upstream
 * reference, when streamed ranges go out, timestamps and piece ends across packets, and the
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

static bool open_node_with(fake_node *node, const char *model, const char *first_chunk,
                           const char *chunk, const char *lookahead)
{
    const char *settings[] = {"model", model, "threads", "2", "first_chunk_frames", first_chunk,
                              "chunk_frames", chunk, "lookahead_frames", lookahead, NULL};
    return fake_node_open(node, desc, settings, NULL) == SPARK_OK;
}

static bool open_node(fake_node *node, const char *model)
{
    const char *settings[] = {"model", model, "threads", "2", NULL};
    return fake_node_open(node, desc, settings, NULL) == SPARK_OK;
}

/* The latent packets of one seq concatenated into latent (channels, n), checking that they
 * follow one another in time from *timestamp on and that only the last is flagged as the
 * piece's end. Returns the frames found. */
static size_t collect_piece(fake_job *job, int64_t seq, size_t channels, size_t n,
                            float *latent, int64_t *timestamp)
{
    size_t frames = 0, count = fake_job_output_count(job, PORT_LATENT), last = count;
    for (size_t k = 0; k < count; k++)
        if (fake_job_output(job, PORT_LATENT, k)->seq == seq)
            last = k;
    for (size_t k = 0; k < count; k++) {
        const spark_packet *out = fake_job_output(job, PORT_LATENT, k);
        if (out->seq != seq)
            continue;
        const spark_audio_data *a = &out->data.audio;
        CHECK_INT_EQ(a->channels, channels);
        CHECK_INT_EQ(a->rate, 50);
        CHECK_INT_EQ(a->timestamp, *timestamp);
        CHECK(((spark_packet_flags(out) & SPARK_PACKET_PIECE_END) != 0) == (k == last));
        for (uint32_t ch = 0; ch < a->channels && frames + a->frames <= n; ch++)
            memcpy(latent + ch * n + frames, a->planes[ch], a->frames * sizeof(float));
        frames += a->frames;
        *timestamp += (int64_t)a->frames;
    }
    return frames;
}

static void check_piece(fake_job *job, int64_t seq, const dts_case *c, int64_t *timestamp,
                        const char *what)
{
    float *latent = calloc(c->channels * c->n_semantic, sizeof(float));
    CHECK_INT_EQ(collect_piece(job, seq, c->channels, c->n_semantic, latent, timestamp),
                 c->n_semantic);
    CHECK(dts_within(what, latent, c->vocoder_in, c->channels * c->n_semantic, DTS_TOLERANCE));
    free(latent);
}

/* Two sentences, each in one packet (the second one's start ends the first): each decodes in
 * ranges to the upstream latent, the timestamps running on across them. */
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
    for (int k = 0; k < 2; k++) {
        spark_packet *in = codes_packet(c.semantic, c.n_semantic, c.global, c.n_global,
                                        "bicodec", k);
        CHECK_INT_EQ(fake_job_process(job, PORT_CODES, in), SPARK_OK);
        fake_release(in);
    }
    CHECK_INT_EQ(fake_job_process(job, PORT_CODES, NULL), SPARK_OK);
    int64_t timestamp = 0;
    check_piece(job, 0, &c, &timestamp, "node latent vs upstream vocoder input (seq 0)");
    check_piece(job, 1, &c, &timestamp, "node latent vs upstream vocoder input (seq 1)");
    CHECK_INT_EQ(fake_job_end(job, SPARK_OK), SPARK_OK);
    fake_job_free(job);
    fake_node_close(&node);
    dts_case_free(&c);
}

/* A sentence streamed a few codes at a time, its last packet flagged: each range goes out as
 * soon as first_chunk (then chunk) frames plus the lookahead have come, and the whole equals
 * the upstream latent when the lookahead is the receptive field (the default). */
static void test_streamed_codes(void)
{
    dts_case c;
    CHECK(dts_case_load(&c, "medium"));
    CHECK(c.n_semantic >= 40);
    static const size_t steps[] = {1, 3, 7};
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        fake_node node;
        /* explicit lookahead 6: the first range [0, 4) is due when 10 codes are in */
        bool explicit_lookahead = s == 0;
        CHECK(open_node_with(&node, model_dir, "4", "9", explicit_lookahead ? "6" : "-1"));
        fake_job *job = NULL;
        CHECK_INT_EQ(fake_job_begin(&node, "stream", NULL, &job), SPARK_OK);
        size_t first_out_at = 0;
        for (size_t at = 0; at < c.n_semantic; at += steps[s]) {
            size_t n = at + steps[s] < c.n_semantic ? steps[s] : c.n_semantic - at;
            spark_packet *in = codes_packet(c.semantic + at, n, at ? NULL : c.global,
                                            at ? 0 : c.n_global, "bicodec", 5);
            if (at + n == c.n_semantic)
                spark_packet_set_flags(in, SPARK_PACKET_PIECE_END);
            CHECK_INT_EQ(fake_job_process(job, PORT_CODES, in), SPARK_OK);
            fake_release(in);
            if (!first_out_at && fake_job_output_count(job, PORT_LATENT))
                first_out_at = at + n;
        }
        if (explicit_lookahead) {
            CHECK_INT_EQ(first_out_at, 10);
            const spark_packet *first = fake_job_output(job, PORT_LATENT, 0);
            CHECK_INT_EQ(first->data.audio.frames, 4);
        } else {
            CHECK(first_out_at > 4 && first_out_at < c.n_semantic);
        }
        /* the flagged packet finished the sentence: nothing more comes at the end */
        size_t before_end = fake_job_output_count(job, PORT_LATENT);
        CHECK_INT_EQ(fake_job_process(job, PORT_CODES, NULL), SPARK_OK);
        CHECK_INT_EQ(fake_job_output_count(job, PORT_LATENT), before_end);
        int64_t timestamp = 0;
        if (explicit_lookahead) {
            float *latent = calloc(c.channels * c.n_semantic, sizeof(float));
            CHECK_INT_EQ(collect_piece(job, 5, c.channels, c.n_semantic, latent, &timestamp),
                         c.n_semantic);
            free(latent);
        } else {
            check_piece(job, 5, &c, &timestamp, "latent streamed in small packets");
        }
        CHECK_INT_EQ(fake_job_end(job, SPARK_OK), SPARK_OK);
        fake_job_free(job);
        fake_node_close(&node);
    }
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
    spark_packet_set_flags(early, SPARK_PACKET_PIECE_END);
    CHECK_INT_EQ(fake_job_process(job, PORT_CODES, early), SPARK_OK);
    CHECK_INT_EQ(fake_job_output_count(job, PORT_LATENT), 0);
    spark_packet *voice = codes_packet(NULL, 0, c.global, c.n_global, "bicodec", 0);
    CHECK_INT_EQ(fake_job_process(job, PORT_VOICE, voice), SPARK_OK);
    CHECK(fake_job_output_count(job, PORT_LATENT) > 0);
    CHECK_INT_EQ(fake_job_process(job, PORT_VOICE, NULL), SPARK_OK);
    spark_packet *late = codes_packet(c.semantic, c.n_semantic, NULL, 0, "bicodec", 1);
    CHECK_INT_EQ(fake_job_process(job, PORT_CODES, late), SPARK_OK);
    CHECK_INT_EQ(fake_job_process(job, PORT_CODES, NULL), SPARK_OK);
    int64_t timestamp = 0;
    check_piece(job, 0, &c, &timestamp, "latent with the voice's globals (codes first)");
    check_piece(job, 1, &c, &timestamp, "latent with the voice's globals (voice first)");
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
    spark_packet *empty = codes_packet(semantic, 0, global, 32, "bicodec", 0);
    spark_packet_set_flags(empty, SPARK_PACKET_PIECE_END); /* a sentence with no codes at all */
    expect_refusal(&node, empty, SPARK_E_INVALID_ARGUMENT, "no semantic codes");
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
        test_streamed_codes();
        test_voice_port();
        test_guards();
    }
    CHECK_INT_EQ(fake_live_packets(), 0);
    fake_plugin_unload(&plugin);
    return CHECK_DONE();
}
