/* test_gpu_llm_node.c - the llm-qwen2 plugin's `device: cuda` through its node with the fake
 * engine (argv[1]: the plugin; argv[2]: the mode):
 *   refusal - without a usable GPU, activation with device cuda fails and says why (what CI
 *             sees), and weights int8 with device cuda is refused at configuration; skipped
 *             (77) where a GPU is present;
 *   compare - with a GPU, greedy f32 generation of two prompts (one job each, run at once so
 *             the batcher steps them together) gives the ids of device cpu; skipped (77)
 *             without a GPU. */
#include "gpu_test_util.h"

#include <spark/ext/alloc.h>
#include <spark/plugin.h>

#include <pthread.h>

#include "fake_host.h"

enum { PORT_PROMPT = 0, PORT_GENERATED = 1 };

static const spark_node_desc *desc;
static const spark_ext_alloc *alloc;
static char llm_dir[600];

typedef struct run {
    fake_node *node;
    uint32_t seed;
    int32_t ids[256];
    size_t count;
    spark_status status;
} run;

static void *generate(void *arg)
{
    run *r = arg;
    fake_job *job = NULL;
    r->status = fake_job_begin(r->node, "job", NULL, &job);
    spark_packet *in = alloc->tokens(fake_host(), 24, "spark-tts-qwen2");
    uint32_t s = r->seed;
    for (size_t i = 0; in && i < 24; i++) {
        s = s * 1664525u + 1013904223u;
        in->data.tokens.ids[i] = (int32_t)((s >> 8) % 1000u); /* regular BPE ids */
    }
    if (r->status == SPARK_OK)
        r->status = fake_job_process(job, PORT_PROMPT, in);
    if (r->status == SPARK_OK)
        r->status = fake_job_process(job, PORT_PROMPT, NULL);
    fake_release(in);
    r->count = 0;
    for (size_t i = 0; i < fake_job_output_count(job, PORT_GENERATED); i++) {
        const spark_tokens_data *t = &fake_job_output(job, PORT_GENERATED, i)->data.tokens;
        for (uint64_t k = 0; k < t->count && r->count < 256; k++)
            r->ids[r->count++] = t->ids[k];
    }
    if (r->status == SPARK_OK)
        r->status = fake_job_end(job, SPARK_OK);
    fake_job_free(job);
    return NULL;
}

static bool open_node(fake_node *node, const char *device)
{
    const char *settings[] = {"model_dir", llm_dir, "device", device, "weights", "f32",
                              "temperature", "0", "max_new_tokens", "60", NULL};
    fake_log_clear();
    spark_status st = fake_node_open(node, desc, settings, NULL);
    CHECK(st == SPARK_OK, "device %s: %s", device, fake_last_error());
    return st == SPARK_OK;
}

int main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[2], "refusal") && strcmp(argv[2], "compare"))) {
        fprintf(stderr, "usage: test_gpu_llm_node PLUGIN.so refusal|compare\n");
        return 2;
    }
    const bool refusal = strcmp(argv[2], "refusal") == 0;
    char why[256];
    const bool gpu = nn_cuda_probe(why, sizeof why) > 0;
    if (refusal && gpu) {
        printf("test_gpu_llm_node refusal skipped: a GPU is present\n");
        return GPU_TEST_SKIP;
    }
    if (!refusal && !gpu) {
        printf("test_gpu_llm_node compare skipped: %s\n", why);
        return GPU_TEST_SKIP;
    }
    char *dir = make_synth_model("tiny");
    snprintf(llm_dir, sizeof llm_dir, "%s", dir);
    alloc = spark_host_service(fake_host(), SPARK_EXT_ALLOC,
                               SPARK_SIZE_THROUGH(spark_ext_alloc, release));
    fake_plugin plugin;
    if (!alloc || fake_plugin_load(&plugin, argv[1]) != 0) {
        fprintf(stderr, "FAIL: cannot load %s\n", argv[1]);
        return 1;
    }
    desc = fake_plugin_node(&plugin, "org.sparkhost.llm.qwen2");
    CHECK(desc != NULL, "no org.sparkhost.llm.qwen2 node");
    if (desc && refusal) {
        fake_node node;
        const char *settings[] = {"model_dir", llm_dir, "device", "cuda", NULL};
        fake_log_clear();
        spark_status st = fake_node_open(&node, desc, settings, NULL);
        printf("device cuda without a GPU: %s\n", fake_last_error());
        CHECK(st == SPARK_E_UNSUPPORTED, "activation returned %d", (int)st);
        CHECK(strstr(fake_last_error(), "device cuda") && strstr(fake_last_error(), "CUDA"),
              "the refusal does not say why: %s", fake_last_error());
        fake_node_close(&node);
        const char *int8[] = {"model_dir", llm_dir, "device", "cuda", "weights", "int8", NULL};
        fake_log_clear();
        st = fake_node_open(&node, desc, int8, NULL);
        printf("device cuda with int8 weights: %s\n", fake_last_error());
        CHECK(st == SPARK_E_INVALID_ARGUMENT && strstr(fake_last_error(), "int8"),
              "int8 on cuda: %d, %s", (int)st, fake_last_error());
        fake_node_close(&node);
    } else if (desc) {
        fake_node cpu_node, gpu_node;
        run cpu[2] = {{&cpu_node, 11, {0}, 0, 0}, {&cpu_node, 29, {0}, 0, 0}};
        run cuda[2] = {{&gpu_node, 11, {0}, 0, 0}, {&gpu_node, 29, {0}, 0, 0}};
        if (open_node(&cpu_node, "cpu")) {
            generate(&cpu[0]);
            generate(&cpu[1]);
        }
        fake_node_close(&cpu_node);
        if (open_node(&gpu_node, "cuda")) {
            pthread_t th[2];
            for (int i = 0; i < 2; i++)
                pthread_create(&th[i], NULL, generate, &cuda[i]);
            for (int i = 0; i < 2; i++)
                pthread_join(th[i], NULL);
        }
        fake_node_close(&gpu_node);
        for (int i = 0; i < 2; i++) {
            CHECK(cpu[i].status == SPARK_OK && cuda[i].status == SPARK_OK,
                  "job %d: cpu %d, cuda %d", i, (int)cpu[i].status, (int)cuda[i].status);
            bool same = cpu[i].count > 0 && cpu[i].count == cuda[i].count &&
                        memcmp(cpu[i].ids, cuda[i].ids, cpu[i].count * sizeof(int32_t)) == 0;
            printf("job %d: cpu %zu ids, cuda %zu ids, %s\n", i, cpu[i].count, cuda[i].count,
                   same ? "the same" : "different");
            CHECK(same, "job %d: device cuda generated other ids than device cpu", i);
        }
    }
    CHECK(fake_live_packets() == 0, "%ld packets leaked", fake_live_packets());
    fake_plugin_unload(&plugin);
    remove_synth_model(dir);
    if (test_failures) {
        fprintf(stderr, "%d checks failed\n", test_failures);
        return 1;
    }
    printf("LLM node device checks passed\n");
    return 0;
}
