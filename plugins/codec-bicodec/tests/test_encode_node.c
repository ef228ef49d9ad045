/* The encode node through its ABI on a fake host: a stereo reference and a 44.1 kHz one, in
 * several packets, give the upstream reference codes (channel 0, resampled to 16 kHz by
 * libsamplerate where upstream uses soxr; globals and, with a transcript, semantic codes);
 * the guards (silent, too short, no audio, bad voice names, a cached voice on a host without
 * storage) fail the job with a message naming the problem; `optional` lets a job without
 * reference or voice name succeed with no codes; the weights load only when a job encodes.
 *
 *   test_encode_node PLUGIN.so DATA_DIR
 */
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "fake_host.h"
#include "spark/nn/spark_model.h"
#include "spark/nn/tensor_file.h"

enum { PORT_AUDIO = 0, PORT_CODES = 1 };

static char model[256];

/* A packet of frames [from, from + frames) of interleaved samples. */
static spark_packet *planar_packet(const float *interleaved, uint32_t channels, size_t from,
                                   size_t frames, uint32_t rate)
{
    spark_packet *p = fake_audio_packet(channels, frames, rate);
    for (size_t i = 0; i < frames; i++)
        for (uint32_t c = 0; c < channels; c++)
            p->data.audio.planes[c][i] = interleaved[channels * (from + i) + c];
    return p;
}

/* Runs one job fed with packets of `chunk` frames; returns the job (caller frees). */
static fake_job *run_job(fake_node *node, const char *const *settings, const float *samples,
                         size_t frames, uint32_t channels, uint32_t rate, size_t chunk,
                         spark_status *status)
{
    fake_job *job = NULL;
    *status = fake_job_begin(node, "job", settings, &job);
    for (size_t at = 0; *status == SPARK_OK && at < frames; at += chunk) {
        size_t n = frames - at < chunk ? frames - at : chunk;
        spark_packet *p = planar_packet(samples, channels, at, n, rate);
        *status = fake_job_process(job, PORT_AUDIO, p);
        fake_release(p);
    }
    if (*status == SPARK_OK)
        *status = fake_job_process(job, PORT_AUDIO, NULL);
    spark_status ended = fake_job_end(job, *status);
    if (*status == SPARK_OK)
        *status = ended;
    return job;
}

/* The codes of a reference clip through the node (its own resampling and channel choice)
 * equal the upstream codes. */
static void check_reference_codes(fake_node *node, const char *data_dir, const char *clip)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/clips/%s.wav", data_dir, clip);
    SF_INFO info = {0};
    SNDFILE *f = sf_open(path, SFM_READ, &info);
    CHECK(f != NULL);
    if (!f)
        return;
    float *samples = malloc((size_t)info.frames * (size_t)info.channels * sizeof *samples);
    sf_count_t frames = sf_readf_float(f, samples, info.frames);
    sf_close(f);

    snprintf(path, sizeof path, "%s/%s.safetensors", data_dir, clip);
    char *error = NULL;
    nn_tensor_file *ref = nn_tensor_file_open(path, &error);
    CHECK(ref != NULL);
    const nn_tensor_view *globals = ref ? nn_tensor_file_find(ref, "global_codes") : NULL;
    const nn_tensor_view *semantic = ref ? nn_tensor_file_find(ref, "semantic_codes") : NULL;
    CHECK(globals && semantic);

    const char *with_transcript[] = {"transcript", "a test sentence", NULL};
    const char *const *settings[] = {NULL, with_transcript};
    for (int mode = 0; mode < 2 && globals && semantic; mode++) {
        spark_status st;
        fake_job *job = run_job(node, settings[mode], samples, (size_t)frames,
                                (uint32_t)info.channels, (uint32_t)info.samplerate, 7000, &st);
        CHECK_INT_EQ(st, SPARK_OK);
        if (st != SPARK_OK)
            fprintf(stderr, "job failed: %s\n", fake_last_error());
        CHECK_INT_EQ(fake_job_output_count(job, PORT_CODES), 1);
        const spark_packet *out = fake_job_output_count(job, PORT_CODES)
                                      ? fake_job_output(job, PORT_CODES, 0) : NULL;
        if (out) {
            const spark_codes_data *codes = &out->data.codes;
            CHECK_STR_EQ(codes->codec, "bicodec");
            CHECK_NEAR(codes->frame_rate, 50.0, 1e-9);
            CHECK_INT_EQ(codes->n_global, nn_tensor_elements(globals));
            const int64_t *want = globals->data;
            for (uint64_t i = 0; i < codes->n_global && i < nn_tensor_elements(globals); i++)
                CHECK_INT_EQ(codes->global[i], want[i]);
            uint64_t want_semantic = mode ? nn_tensor_elements(semantic) : 0;
            CHECK_INT_EQ(codes->n_semantic, want_semantic);
            const int64_t *want_s = semantic->data;
            for (uint64_t i = 0; i < codes->n_semantic && i < want_semantic; i++)
                CHECK_INT_EQ(codes->semantic[i], want_s[i]);
        }
        CHECK_STR_EQ(fake_job_result_text(job, "source"), "encoder");
        const char *voice = fake_job_result_text(job, "voice");
        CHECK_STR_CONTAINS(voice, "\"global_codes\":[");
        CHECK_STR_CONTAINS(voice, mode ? "\"transcript\":\"a test sentence\""
                                       : "\"transcript\":null");
        fake_job_free(job);
    }
    if (ref)
        nn_tensor_file_close(ref);
    free(samples);
}

static void check_refused(fake_node *node, const char *const *settings, const float *samples,
                          size_t frames, spark_status want, const char *message)
{
    fake_log_clear();
    spark_status st;
    fake_job *job = run_job(node, settings, samples, frames, 1, 16000, 4000, &st);
    CHECK_INT_EQ(st, want);
    CHECK_STR_CONTAINS(fake_last_error(), message);
    CHECK_INT_EQ(fake_job_output_count(job, PORT_CODES), 0);
    fake_job_free(job);
}

static void check_guards(fake_node *node)
{
    size_t n = 16000;
    float *audio = calloc(n, sizeof *audio);
    check_refused(node, NULL, audio, n, SPARK_E_INVALID_ARGUMENT, "silent");
    for (size_t i = 0; i < n; i++)
        audio[i] = 0.3f * (float)((i * 37) % 101) / 101.0f - 0.15f;
    check_refused(node, NULL, audio, 1500, SPARK_E_INVALID_ARGUMENT, "at least 0.1 s");
    check_refused(node, NULL, audio, 0, SPARK_E_INVALID_ARGUMENT, "no reference audio");
    const char *bad_name[] = {"save_voice", "../etc", NULL};
    check_refused(node, bad_name, audio, n, SPARK_E_INVALID_ARGUMENT, "not a voice name");
    const char *both[] = {"voice", "anna", "transcript", "hello", NULL};
    check_refused(node, both, audio, n, SPARK_E_INVALID_ARGUMENT, "leave transcript");
    /* the fake host has no storage service: a voice cannot be looked up */
    const char *cached[] = {"voice", "anna", NULL};
    check_refused(node, cached, audio, n, SPARK_E_UNSUPPORTED, "storage");
    free(audio);
}

/* optional: true with no reference and no voice name: no codes, success, source "none";
 * with a reference it encodes as usual. */
static void check_optional(fake_node *node)
{
    const char *optional[] = {"optional", "true", NULL};
    spark_status st;
    fake_job *job = run_job(node, optional, NULL, 0, 1, 16000, 4000, &st);
    CHECK_INT_EQ(st, SPARK_OK);
    CHECK_INT_EQ(fake_job_output_count(job, PORT_CODES), 0);
    CHECK_STR_EQ(fake_job_result_text(job, "source"), "none");
    CHECK(fake_job_result(job, "voice") == NULL);
    fake_job_free(job);
    size_t n = 16000;
    float *audio = malloc(n * sizeof *audio);
    for (size_t i = 0; i < n; i++)
        audio[i] = 0.3f * (float)((i * 37) % 101) / 101.0f - 0.15f;
    job = run_job(node, optional, audio, n, 1, 16000, 4000, &st);
    CHECK_INT_EQ(st, SPARK_OK);
    CHECK_INT_EQ(fake_job_output_count(job, PORT_CODES), 1);
    if (fake_job_output_count(job, PORT_CODES))
        CHECK_INT_EQ(fake_job_output(job, PORT_CODES, 0)->data.codes.n_global, 32);
    CHECK_STR_EQ(fake_job_result_text(job, "source"), "encoder");
    fake_job_free(job);
    free(audio);
}

/* The encoder's weights load when a job first encodes a recording: with wav2vec2's weights
 * broken, activation and jobs that encode nothing still work, every job that encodes fails
 * naming the weights, and preload fails at activation instead. */
static void check_lazy_load(const spark_node_desc *desc, const char *dir)
{
    char broken[512], cmd[2048];
    snprintf(broken, sizeof broken, "%s/broken", dir);
    snprintf(cmd, sizeof cmd, "cp -r %s %s && truncate -s 100 %s/%s", model, broken, broken,
             nn_spark_component_weights(NN_SPARK_WAV2VEC2));
    CHECK(system(cmd) == 0);
    fake_node node = {0};
    const char *lazy[] = {"model", broken, "threads", "1", NULL};
    CHECK_INT_EQ(fake_node_open(&node, desc, lazy, NULL), SPARK_OK);
    const char *optional[] = {"optional", "true", NULL};
    size_t n = 16000;
    float *audio = malloc(n * sizeof *audio);
    for (size_t i = 0; i < n; i++)
        audio[i] = 0.3f * (float)((i * 37) % 101) / 101.0f - 0.15f;
    for (int attempt = 0; attempt < 2; attempt++) {
        spark_status st;
        fake_job *job = run_job(&node, optional, NULL, 0, 1, 16000, 4000, &st);
        CHECK_INT_EQ(st, SPARK_OK);
        fake_job_free(job);
        fake_log_clear();
        job = run_job(&node, NULL, audio, n, 1, 16000, 4000, &st);
        CHECK_INT_EQ(st, SPARK_E_INVALID_MODEL);
        CHECK_STR_CONTAINS(fake_last_error(), "pytorch_model.bin");
        fake_job_free(job);
    }
    free(audio);
    fake_node_close(&node);
    const char *preload[] = {"model", broken, "threads", "1", "preload", "true", NULL};
    fake_log_clear();
    CHECK(fake_node_open(&node, desc, preload, NULL) != SPARK_OK);
    CHECK_STR_CONTAINS(fake_last_error(), "pytorch_model.bin");
    fake_node_close(&node);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s PLUGIN.so DATA_DIR\n", argv[0]);
        return 2;
    }
    char dir[] = "/tmp/spark-encode-node-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    snprintf(model, sizeof model, "%s/model", dir);
    nn_spark_preset preset;
    CHECK(nn_spark_preset_get("tiny", &preset));
    char *error = NULL;
    if (nn_spark_synth(model, &preset, 0, NULL, &error) != 0) {
        fprintf(stderr, "synth: %s\n", error);
        free(error);
        return 1;
    }
    fake_plugin plugin;
    if (fake_plugin_load(&plugin, argv[1]) != 0)
        return 1;
    const spark_node_desc *desc = fake_plugin_node(&plugin, "org.sparkhost.codec.bicodec.encode");
    CHECK(desc != NULL);
    fake_node node = {0};
    const char *settings[] = {"model", model, "threads", "2", NULL};
    spark_status st = fake_node_open(&node, desc, settings, NULL);
    CHECK_INT_EQ(st, SPARK_OK);
    if (st != SPARK_OK)
        fprintf(stderr, "open: %s\n", fake_last_error());
    if (st == SPARK_OK) {
        CHECK_INT_EQ(node.formats[PORT_CODES].kind, SPARK_KIND_CODES);
        check_reference_codes(&node, argv[2], "stereo");  /* channel 0 of two */
        check_reference_codes(&node, argv[2], "rate44k"); /* resampled from 44.1 kHz */
        check_guards(&node);
        check_optional(&node);
    }
    fake_node_close(&node);

    check_lazy_load(desc, dir);

    /* a model directory that is not there fails configure, naming it */
    fake_node missing = {0};
    const char *nowhere[] = {"model", "/nonexistent/model", NULL};
    fake_log_clear();
    CHECK(fake_node_open(&missing, desc, nowhere, NULL) != SPARK_OK);
    CHECK_STR_CONTAINS(fake_last_error(), "/nonexistent/model");
    fake_node_close(&missing);

    CHECK_INT_EQ(fake_live_packets(), 0);
    fake_plugin_unload(&plugin);
    char cmd[sizeof dir + 16];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return CHECK_DONE();
}
