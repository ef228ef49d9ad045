/* test_gpu_vocoder_node.c - the vocoder-wavegen plugin's `device: cuda` through its node with
 * the fake engine (argv[1]: the plugin; argv[2]: the mode):
 *   refusal - without a usable GPU, activation with device cuda fails and says why (this is
 *             what CI sees); skipped (77) where a GPU is present;
 *   compare - with a GPU, a latent decoded in chunks with context by device cuda gives the
 *             samples of device cpu (1e-3 of the signal's range), with the same packets and
 *             timestamps; skipped (77) without a GPU. */
#include "gpu_test_util.h"

#include <spark/plugin.h>

#include "fake_host.h"

enum { PORT_LATENT = 0, PORT_AUDIO = 1 };

static const spark_node_desc *desc;
static const char *model_dir;

static spark_packet *random_latent(size_t channels, size_t frames)
{
    spark_packet *p = fake_audio_packet((uint32_t)channels, frames, 50);
    uint32_t s = 12345;
    for (size_t c = 0; p && c < channels; c++)
        for (size_t t = 0; t < frames; t++) {
            s = s * 1664525u + 1013904223u;
            p->data.audio.planes[c][t] = (float)((s >> 8) % 2000u) / 2000.0f - 0.5f;
        }
    return p;
}

/* The node's chunks for one latent, concatenated: returns the sample count, 0 on failure. */
static size_t decode(const char *device, size_t channels, size_t frames, float **samples,
                     size_t *packets)
{
    fake_node node;
    const char *settings[] = {"model", model_dir, "device", device, "chunk_frames", "7",
                              "context_frames", "12", NULL};
    fake_log_clear();
    spark_status st = fake_node_open(&node, desc, settings, NULL);
    CHECK(st == SPARK_OK, "device %s: activation: %s", device, fake_last_error());
    size_t total = 0;
    if (st == SPARK_OK) {
        fake_job *job = NULL;
        CHECK(fake_job_begin(&node, device, NULL, &job) == SPARK_OK, "job begin");
        spark_packet *in = random_latent(channels, frames);
        st = fake_job_process(job, PORT_LATENT, in);
        CHECK(st == SPARK_OK, "device %s: process: %s", device, fake_last_error());
        fake_release(in);
        *packets = fake_job_output_count(job, PORT_AUDIO);
        for (size_t i = 0; i < *packets; i++)
            total += fake_job_output(job, PORT_AUDIO, i)->data.audio.frames;
        *samples = malloc((total ? total : 1) * sizeof **samples);
        size_t at = 0;
        for (size_t i = 0; i < *packets; i++) {
            const spark_audio_data *a = &fake_job_output(job, PORT_AUDIO, i)->data.audio;
            CHECK(a->timestamp == (int64_t)at, "packet %zu at %lld, expected %zu", i,
                  (long long)a->timestamp, at);
            memcpy(*samples + at, a->planes[0], a->frames * sizeof(float));
            at += a->frames;
        }
        fake_job_end(job, SPARK_OK);
        fake_job_free(job);
    }
    fake_node_close(&node);
    return total;
}

int main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[2], "refusal") && strcmp(argv[2], "compare"))) {
        fprintf(stderr, "usage: test_gpu_vocoder_node PLUGIN.so refusal|compare\n");
        return 2;
    }
    const bool refusal = strcmp(argv[2], "refusal") == 0;
    char why[256];
    const bool gpu = nn_cuda_probe(why, sizeof why) > 0;
    if (refusal && gpu) {
        printf("test_gpu_vocoder_node refusal skipped: a GPU is present\n");
        return GPU_TEST_SKIP;
    }
    if (!refusal && !gpu) {
        printf("test_gpu_vocoder_node compare skipped: %s\n", why);
        return GPU_TEST_SKIP;
    }
    model_dir = make_synth_model("tiny");
    fake_plugin plugin;
    if (fake_plugin_load(&plugin, argv[1]) != 0) {
        fprintf(stderr, "FAIL: cannot load %s\n", argv[1]);
        return 1;
    }
    desc = fake_plugin_node(&plugin, "org.sparkhost.vocoder.wavegen");
    CHECK(desc != NULL, "no org.sparkhost.vocoder.wavegen node");
    if (desc && refusal) {
        fake_node node;
        const char *settings[] = {"model", model_dir, "device", "cuda", NULL};
        fake_log_clear();
        spark_status st = fake_node_open(&node, desc, settings, NULL);
        printf("device cuda without a GPU: %s\n", fake_last_error());
        CHECK(st == SPARK_E_UNSUPPORTED, "activation returned %d", (int)st);
        CHECK(strstr(fake_last_error(), "device cuda") && strstr(fake_last_error(), "CUDA"),
              "the refusal does not say why: %s", fake_last_error());
        fake_node_close(&node);
    } else if (desc) {
        /* the tiny model's latent width, from its config */
        nn_spark_config config;
        nn_problems problems = {0};
        CHECK(nn_spark_config_load(model_dir, &config, &problems) == 0, "config");
        nn_problems_free(&problems);
        const size_t channels = (size_t)config.bicodec.decoder.input_channel;
        float *cpu = NULL, *cuda = NULL;
        size_t cpu_packets = 0, cuda_packets = 0;
        size_t n_cpu = decode("cpu", channels, 40, &cpu, &cpu_packets);
        size_t n_cuda = decode("cuda", channels, 40, &cuda, &cuda_packets);
        CHECK(n_cpu > 0 && n_cpu == n_cuda && cpu_packets == cuda_packets,
              "cpu made %zu samples in %zu packets, cuda %zu in %zu", n_cpu, cpu_packets, n_cuda,
              cuda_packets);
        if (n_cpu > 0 && n_cpu == n_cuda) {
            double e = rel_error(cuda, cpu, n_cpu);
            printf("node device cuda vs cpu: %zu samples in %zu packets, max relative error "
                   "%.3g\n", n_cpu, cpu_packets, e);
            CHECK(e < 1e-3, "device cuda differs from cpu by %.3g", e);
        }
        free(cpu);
        free(cuda);
    }
    CHECK(fake_live_packets() == 0, "%ld packets leaked", fake_live_packets());
    fake_plugin_unload(&plugin);
    remove_synth_model(model_dir);
    if (test_failures) {
        fprintf(stderr, "%d checks failed\n", test_failures);
        return 1;
    }
    printf("vocoder node device checks passed\n");
    return 0;
}
