/* The built vocoder-wavegen plugin (argv[1], loaded with dlopen) through its node, with the
 * fake engine of tests/support/fake_host.h: the output format, a latent decoded in chunks of
 * chunk_frames with context_frames of overlap against the upstream reference waveform, packet
 * timestamps, refusals of latents of the wrong shape or rate, and a job stopped between
 * chunks. */
#include "check.h"
#include "plugin_checks.h"

#include <spark/plugin.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <spark/nn/conv.h>

#include "decode_test_support.h"
#include "fake_host.h"

enum { PORT_LATENT = 0, PORT_AUDIO = 1 };

static const spark_node_desc *desc;
static const char *model_dir;

static spark_packet *latent_packet(const float *latent, size_t channels, size_t frames,
                                   uint32_t rate)
{
    spark_packet *p = fake_audio_packet((uint32_t)channels, frames, rate);
    for (size_t c = 0; p && c < channels; c++)
        memcpy(p->data.audio.planes[c], latent + c * frames, frames * sizeof(float));
    return p;
}

static bool open_node(fake_node *node, const char *chunk, const char *context)
{
    const char *first = strcmp(chunk, "0") ? chunk : "1"; /* every range chunk frames long */
    const char *settings[] = {"model", model_dir, "threads", "2", "chunk_frames", chunk,
                              "first_chunk_frames", first, "context_frames", context, NULL};
    return fake_node_open(node, desc, settings, NULL) == SPARK_OK;
}

static void test_chunked_reference(const char *chunk_text, size_t chunk)
{
    dts_case c;
    CHECK(dts_case_load(&c, "medium"));
    fake_node node;
    CHECK(open_node(&node, chunk_text, "12"));
    CHECK_INT_EQ(node.formats[PORT_AUDIO].rate, 16000);
    CHECK_INT_EQ(node.formats[PORT_AUDIO].channels, 1);
    fake_job *job = NULL;
    CHECK_INT_EQ(fake_job_begin(&node, "job", NULL, &job), SPARK_OK);
    spark_packet *in = latent_packet(c.quiet_vocoder_in, c.channels, c.n_semantic, 50);
    CHECK_INT_EQ(fake_job_process(job, PORT_LATENT, in), SPARK_OK);
    fake_release(in);
    CHECK_INT_EQ(fake_job_process(job, PORT_LATENT, NULL), SPARK_OK);
    size_t packets = fake_job_output_count(job, PORT_AUDIO);
    size_t expected = chunk ? (c.n_semantic + chunk - 1) / chunk : 1;
    CHECK_INT_EQ(packets, expected);
    float *samples = calloc(c.samples, sizeof(float));
    size_t at = 0;
    for (size_t k = 0; k < packets; k++) {
        const spark_audio_data *a = &fake_job_output(job, PORT_AUDIO, k)->data.audio;
        CHECK_INT_EQ(a->timestamp, (int64_t)at);
        CHECK_INT_EQ(a->rate, 16000);
        if (at + a->frames > c.samples)
            break;
        memcpy(samples + at, a->planes[0], a->frames * sizeof(float));
        at += a->frames;
    }
    CHECK_INT_EQ(at, c.samples);
    char what[96];
    snprintf(what, sizeof what, "node waveform, chunk_frames %s, vs upstream", chunk_text);
    CHECK(dts_within(what, samples, c.quiet_waveform, c.samples, DTS_TOLERANCE));
    free(samples);
    fake_job_end(job, SPARK_OK);
    fake_job_free(job);
    fake_node_close(&node);
    dts_case_free(&c);
}

/* The latent streamed in packets of `step` frames with one seq, the last flagged: the first
 * samples go out once first_chunk_frames plus context_frames frames are in, the flagged packet
 * finishes the sentence, and the samples equal upstream's whole decode. */
static void test_streamed_latent(size_t step)
{
    dts_case c;
    CHECK(dts_case_load(&c, "medium"));
    CHECK(c.n_semantic > 24);
    fake_node node;
    const char *settings[] = {"model", model_dir, "threads", "2", "chunk_frames", "9",
                              "first_chunk_frames", "5", "context_frames", "12", NULL};
    CHECK_INT_EQ(fake_node_open(&node, desc, settings, NULL), SPARK_OK);
    fake_job *job = NULL;
    CHECK_INT_EQ(fake_job_begin(&node, "stream", NULL, &job), SPARK_OK);
    float *part = malloc(c.channels * step * sizeof(float));
    size_t first_out_at = 0;
    for (size_t at = 0; at < c.n_semantic; at += step) {
        size_t n = at + step < c.n_semantic ? step : c.n_semantic - at;
        for (size_t ch = 0; ch < c.channels; ch++)
            memcpy(part + ch * n, c.quiet_vocoder_in + ch * c.n_semantic + at,
                   n * sizeof(float));
        spark_packet *in = latent_packet(part, c.channels, n, 50);
        in->seq = 2;
        if (at + n == c.n_semantic)
            spark_packet_set_flags(in, SPARK_PACKET_PIECE_END);
        CHECK_INT_EQ(fake_job_process(job, PORT_LATENT, in), SPARK_OK);
        fake_release(in);
        if (!first_out_at && fake_job_output_count(job, PORT_AUDIO))
            first_out_at = at + n;
    }
    free(part);
    size_t packets = fake_job_output_count(job, PORT_AUDIO);
    CHECK_INT_EQ(first_out_at, (5 + 12 + step - 1) / step * step);
    CHECK_INT_EQ(fake_job_process(job, PORT_LATENT, NULL), SPARK_OK);
    CHECK_INT_EQ(fake_job_output_count(job, PORT_AUDIO), packets);
    float *samples = calloc(c.samples, sizeof(float));
    size_t at = 0;
    for (size_t k = 0; k < packets; k++) {
        const spark_packet *out = fake_job_output(job, PORT_AUDIO, k);
        const spark_audio_data *a = &out->data.audio;
        CHECK_INT_EQ(out->seq, 2);
        CHECK(((spark_packet_flags(out) & SPARK_PACKET_PIECE_END) != 0) == (k + 1 == packets));
        CHECK_INT_EQ(a->timestamp, (int64_t)at);
        /* the job's first range, then as many frames as are out, at most chunk_frames; the
         * rest last */
        size_t out_frames = at / 320, want = k == 0 ? 5 : out_frames > 5 ? out_frames : 5;
        if (k + 1 < packets)
            CHECK_INT_EQ(a->frames, (want < 9 ? want : 9) * 320);
        else
            CHECK(a->frames > 0 && a->frames <= 9 * 320);
        if (at + a->frames > c.samples)
            break;
        memcpy(samples + at, a->planes[0], a->frames * sizeof(float));
        at += a->frames;
    }
    CHECK_INT_EQ(at, c.samples);
    char what[96];
    snprintf(what, sizeof what, "node waveform streamed %zu frames at a time, vs upstream",
             step);
    CHECK(dts_within(what, samples, c.quiet_waveform, c.samples, DTS_TOLERANCE));
    free(samples);
    fake_job_end(job, SPARK_OK);
    fake_job_free(job);
    fake_node_close(&node);
    dts_case_free(&c);
}

static void expect_refusal(fake_node *node, spark_packet *in, const char *needle)
{
    fake_job *job = NULL;
    CHECK_INT_EQ(fake_job_begin(node, "bad", NULL, &job), SPARK_OK);
    fake_log_clear();
    CHECK_INT_EQ(fake_job_process(job, PORT_LATENT, in), SPARK_E_FORMAT_MISMATCH);
    CHECK_STR_CONTAINS(fake_last_error(), needle);
    CHECK_INT_EQ(fake_job_output_count(job, PORT_AUDIO), 0);
    fake_job_end(job, SPARK_E_FORMAT_MISMATCH);
    fake_job_free(job);
    fake_release(in);
}

static void test_refusals_and_stop(void)
{
    fake_node node;
    CHECK(open_node(&node, "4", "12"));
    float *zeros = calloc(65 * 20, sizeof(float));
    expect_refusal(&node, latent_packet(zeros, 65, 20, 50), "has 65 channels; the vocoder "
                                                            "takes 64");
    expect_refusal(&node, latent_packet(zeros, 64, 20, 16000), "is at 16000 Hz; the vocoder "
                                                               "takes 50 Hz");
    /* stopped after the first chunk: the node returns the host's status, emits no more */
    fake_job *job = NULL;
    CHECK_INT_EQ(fake_job_begin(&node, "stop", NULL, &job), SPARK_OK);
    fake_job_cancel_after_emits(job, 1);
    spark_packet *in = latent_packet(zeros, 64, 20, 50);
    spark_packet_set_flags(in, SPARK_PACKET_PIECE_END);
    CHECK_INT_EQ(fake_job_process(job, PORT_LATENT, in), SPARK_E_CANCELLED);
    CHECK_INT_EQ(fake_job_output_count(job, PORT_AUDIO), 1);
    fake_release(in);
    fake_job_end(job, SPARK_E_CANCELLED);
    fake_job_free(job);
    free(zeros);
    fake_node_close(&node);

    fake_log_clear();
    const char *bad[] = {"model", "/nonexistent-spark-model", NULL};
    CHECK(fake_node_open(&node, desc, bad, NULL) != SPARK_OK);
    CHECK_STR_CONTAINS(fake_last_error(), "/nonexistent-spark-model");
    fake_node_close(&node);
}

/* precision bf16: on a bf16 CPU the node matches torch's bf16 computation on one code (see
 * test_wavegen.c); elsewhere activation refuses, saying why. */
static void test_bf16(void)
{
    dts_case c;
    CHECK(dts_case_load(&c, "one_code"));
    fake_node node;
    const char *settings[] = {"model", model_dir, "precision", "bf16", NULL};
    fake_log_clear();
    spark_status st = fake_node_open(&node, desc, settings, NULL);
    if (!nn_conv_bf16_supported()) {
        CHECK_INT_EQ(st, SPARK_E_UNSUPPORTED);
        CHECK_STR_CONTAINS(fake_last_error(), "AVX512-BF16");
    } else {
        CHECK_INT_EQ(st, SPARK_OK);
        fake_job *job = NULL;
        CHECK_INT_EQ(fake_job_begin(&node, "bf16", NULL, &job), SPARK_OK);
        spark_packet *in = latent_packet(c.vocoder_in, c.channels, c.n_semantic, 50);
        spark_packet_set_flags(in, SPARK_PACKET_PIECE_END);
        CHECK_INT_EQ(fake_job_process(job, PORT_LATENT, in), SPARK_OK);
        fake_release(in);
        CHECK_INT_EQ(fake_job_output_count(job, PORT_AUDIO), 1);
        if (fake_job_output_count(job, PORT_AUDIO) == 1) {
            const spark_audio_data *a = &fake_job_output(job, PORT_AUDIO, 0)->data.audio;
            float *want = malloc(c.samples * sizeof(float));
            for (size_t i = 0; i < c.samples; i++)
                want[i] = tanhf(c.bf16_pre_tanh[i]);
            CHECK_INT_EQ(a->frames, c.samples);
            if (a->frames == c.samples)
                CHECK(dts_within_range_of("node bf16 waveform vs torch bf16", a->planes[0], want,
                                          c.samples, c.bf16_pre_tanh, DTS_TOLERANCE));
            free(want);
        }
        fake_job_end(job, SPARK_OK);
        fake_job_free(job);
    }
    fake_node_close(&node);
    dts_case_free(&c);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_wavegen_node PLUGIN.so\n");
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
    CHECK_STR_EQ(entry->name, "vocoder-wavegen");
    desc = fake_plugin_node(&plugin, "org.sparkhost.vocoder.wavegen");
    CHECK(desc != NULL);
    if (desc) {
        test_chunked_reference("0", 0);
        test_chunked_reference("7", 7);
        test_chunked_reference("25", 25);
        test_streamed_latent(1);
        test_streamed_latent(4);
        test_refusals_and_stop();
        test_bf16();
    }
    CHECK_INT_EQ(fake_live_packets(), 0);
    fake_plugin_unload(&plugin);
    return CHECK_DONE();
}
