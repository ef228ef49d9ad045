/* test_gpu_decode_node.c - the codec-bicodec plugin's decode node with `device: cuda`, through
 * the fake engine (argv[1]: the plugin; argv[2]: the mode):
 *   refusal - without a usable GPU, activation with device cuda fails and says why (what CI
 *             sees); skipped (77) where a GPU is present;
 *   compare - with a GPU, two codes packets decoded by device cuda give the latents of device
 *             cpu (1e-3 relative), with the same shapes and timestamps; skipped (77) without a
 *             GPU. */
#include "gpu_test_util.h"

#include <spark/ext/alloc.h>
#include <spark/plugin.h>

#include "fake_host.h"

enum { PORT_CODES = 0, PORT_LATENT = 1 };

static const spark_node_desc *desc;
static const spark_ext_alloc *alloc;
static const char *model_dir;

static spark_packet *codes_packet(const nn_spark_config *config, size_t n, int64_t seq)
{
    const size_t n_global = (size_t)config->bicodec.speaker_encoder.token_num;
    spark_packet *p = alloc->codes(fake_host(), n, n_global, "bicodec", 50.0);
    if (!p)
        return NULL;
    uint64_t range = 1;
    for (size_t j = 0; j < config->bicodec.speaker_encoder.fsq_level_count; j++)
        range *= (uint64_t)config->bicodec.speaker_encoder.fsq_levels[j];
    const uint64_t codebook = (uint64_t)config->bicodec.quantizer.codebook_size;
    for (size_t i = 0; i < n; i++)
        p->data.codes.semantic[i] = (int32_t)((i * 2654435761u + (uint64_t)seq) % codebook);
    for (size_t i = 0; i < n_global; i++)
        p->data.codes.global[i] = (int32_t)((i * 40503u + 7u) % range);
    p->seq = seq;
    return p;
}

/* The latents of two codes packets, concatenated per packet; returns the float count. */
static size_t decode(const char *device, const nn_spark_config *config, float **out)
{
    fake_node node;
    const char *settings[] = {"model", model_dir, "device", device, NULL};
    fake_log_clear();
    spark_status st = fake_node_open(&node, desc, settings, NULL);
    CHECK(st == SPARK_OK, "device %s: activation: %s", device, fake_last_error());
    size_t total = 0;
    *out = NULL;
    if (st == SPARK_OK) {
        fake_job *job = NULL;
        CHECK(fake_job_begin(&node, device, NULL, &job) == SPARK_OK, "job begin");
        const size_t lens[2] = {23, 41};
        for (int k = 0; k < 2; k++) {
            spark_packet *in = codes_packet(config, lens[k], k);
            CHECK(fake_job_process(job, PORT_CODES, in) == SPARK_OK, "device %s: process: %s",
                  device, fake_last_error());
            fake_release(in);
        }
        const size_t count = fake_job_output_count(job, PORT_LATENT);
        CHECK(count == 2, "device %s: %zu latent packets", device, count);
        for (size_t i = 0; i < count; i++) {
            const spark_audio_data *a = &fake_job_output(job, PORT_LATENT, i)->data.audio;
            CHECK(a->timestamp == (i ? 23 : 0) && a->frames == lens[i],
                  "packet %zu: %llu frames at %lld", i, (unsigned long long)a->frames,
                  (long long)a->timestamp);
            total += a->channels * a->frames;
        }
        *out = malloc((total ? total : 1) * sizeof **out);
        size_t at = 0;
        for (size_t i = 0; i < count; i++) {
            const spark_audio_data *a = &fake_job_output(job, PORT_LATENT, i)->data.audio;
            for (uint32_t c = 0; c < a->channels; c++) {
                memcpy(*out + at, a->planes[c], a->frames * sizeof(float));
                at += a->frames;
            }
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
        fprintf(stderr, "usage: test_gpu_decode_node PLUGIN.so refusal|compare\n");
        return 2;
    }
    const bool refusal = strcmp(argv[2], "refusal") == 0;
    char why[256];
    const bool gpu = nn_cuda_probe(why, sizeof why) > 0;
    if (refusal && gpu) {
        printf("test_gpu_decode_node refusal skipped: a GPU is present\n");
        return GPU_TEST_SKIP;
    }
    if (!refusal && !gpu) {
        printf("test_gpu_decode_node compare skipped: %s\n", why);
        return GPU_TEST_SKIP;
    }
    model_dir = make_synth_model("tiny");
    alloc = spark_host_service(fake_host(), SPARK_EXT_ALLOC,
                               SPARK_SIZE_THROUGH(spark_ext_alloc, release));
    fake_plugin plugin;
    if (!alloc || fake_plugin_load(&plugin, argv[1]) != 0) {
        fprintf(stderr, "FAIL: cannot load %s\n", argv[1]);
        return 1;
    }
    desc = fake_plugin_node(&plugin, "org.sparkhost.codec.bicodec.decode");
    CHECK(desc != NULL, "no org.sparkhost.codec.bicodec.decode node");
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
        nn_spark_config config;
        nn_problems problems = {0};
        CHECK(nn_spark_config_load(model_dir, &config, &problems) == 0, "config");
        nn_problems_free(&problems);
        float *cpu = NULL, *cuda = NULL;
        size_t n_cpu = decode("cpu", &config, &cpu), n_cuda = decode("cuda", &config, &cuda);
        CHECK(n_cpu > 0 && n_cpu == n_cuda, "cpu made %zu values, cuda %zu", n_cpu, n_cuda);
        if (n_cpu > 0 && n_cpu == n_cuda) {
            double e = rel_error(cuda, cpu, n_cpu);
            printf("decode node device cuda vs cpu: %zu latent values, max relative error "
                   "%.3g\n", n_cpu, e);
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
    printf("decode node device checks passed\n");
    return 0;
}
