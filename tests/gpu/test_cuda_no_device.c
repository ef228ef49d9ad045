/* test_cuda_no_device.c - on a machine without a usable GPU (CI, the development boxes) every
 * entry point of the CUDA backend answers with an error that says so, and nothing crashes:
 * the probe, device facts, memory, streams, pinned memory, and loading each model (from a
 * real synthetic model directory, so only the missing GPU can be the reason). On a machine
 * with a GPU this path cannot be reached: the test exits 77 (skipped) and says so. */
#include "gpu_test_util.h"

#include <spark/nn/bicodec_decode_cuda.h>
#include <spark/nn/qwen2_cuda.h>
#include <spark/nn/semantic_cuda.h>
#include <spark/nn/speaker_cuda.h>
#include <spark/nn/wav2vec2_cuda.h>
#include <spark/nn/wavegen_cuda.h>

static void expect_no_device(const char *what, bool failed, const char *err)
{
    printf("%-28s %s\n", what, err);
    CHECK(failed, "%s succeeded without a GPU", what);
    CHECK(strstr(err, "CUDA") != NULL || strstr(err, "GPU") != NULL,
          "%s: the message does not say the GPU is the problem: %s", what, err);
}

int main(void)
{
    char why[256];
    if (nn_cuda_probe(why, sizeof why) > 0) {
        printf("test_cuda_no_device skipped: a GPU is present, so the no-device path cannot "
               "be checked here\n");
        return GPU_TEST_SKIP;
    }
    CHECK(strncmp(why, "no CUDA device: ", 16) == 0, "probe reason: %s", why);
    printf("probe: %s\n", why);
    char err[512];
    nn_cuda_device_info info;
    err[0] = 0;
    expect_no_device("device info", nn_cuda_device_info_get(0, &info, err, sizeof err) != 0, err);
    size_t free_b = 0, total_b = 0;
    err[0] = 0;
    expect_no_device("memory", nn_cuda_memory(&free_b, &total_b, err, sizeof err) != 0, err);
    char line[256];
    err[0] = 0;
    expect_no_device("memory report", nn_cuda_memory_report(line, sizeof line, err, sizeof err) != 0,
                     err);
    err[0] = 0;
    void *d = nn_cuda_alloc(1024, "a test buffer", err, sizeof err);
    expect_no_device("device allocation", d == NULL, err);
    err[0] = 0;
    void *h = nn_cuda_host_alloc(1024, "a test buffer", err, sizeof err);
    expect_no_device("pinned allocation", h == NULL, err);
    err[0] = 0;
    nn_cuda_stream *s = nn_cuda_stream_new(err, sizeof err);
    expect_no_device("stream", s == NULL, err);
    nn_cuda_stream_free(s);
    CHECK(nn_cuda_allocated_bytes() == 0, "%zu bytes counted as held", nn_cuda_allocated_bytes());

    char *dir = make_synth_model("tiny");
    char llm[512];
    snprintf(llm, sizeof llm, "%s/LLM", dir);
    nn_qwen2_cuda_options opt = {.weights = NN_WEIGHT_BF16};
    err[0] = 0;
    nn_qwen2_cuda *q = nn_qwen2_cuda_load(llm, &opt, err, sizeof err);
    expect_no_device("LLM", q == NULL, err);
    nn_qwen2_cuda_free(q);
    err[0] = 0;
    nn_wavegen_cuda *v = nn_wavegen_cuda_load(dir, 0, err, sizeof err);
    expect_no_device("vocoder", v == NULL, err);
    nn_wavegen_cuda_free(v);
    err[0] = 0;
    nn_bicodec_decoder_cuda *b = nn_bicodec_decoder_cuda_load(dir, 0, err, sizeof err);
    expect_no_device("BiCodec decoder", b == NULL, err);
    nn_bicodec_decoder_cuda_free(b);
    err[0] = 0;
    nn_speaker_encoder_cuda *sp = nn_speaker_encoder_cuda_load(dir, 0, err, sizeof err);
    expect_no_device("speaker encoder", sp == NULL, err);
    nn_speaker_encoder_cuda_free(sp);
    err[0] = 0;
    nn_wav2vec2_cuda *w = nn_wav2vec2_cuda_load(dir, 0, err, sizeof err);
    expect_no_device("wav2vec2", w == NULL, err);
    nn_wav2vec2_cuda_free(w);
    err[0] = 0;
    nn_semantic_encoder_cuda *se = nn_semantic_encoder_cuda_load(dir, 0, err, sizeof err);
    expect_no_device("semantic encoder", se == NULL, err);
    nn_semantic_encoder_cuda_free(se);
    remove_synth_model(dir);
    if (test_failures) {
        fprintf(stderr, "%d checks failed\n", test_failures);
        return 1;
    }
    printf("every entry point reports the missing GPU\n");
    return 0;
}
