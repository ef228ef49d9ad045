/* test_gpu_decode.c - BiCodec decode on the GPU against the CPU decoder of
 * plugins/codec-bicodec and the vocoder of plugins/vocoder-wavegen, on a synthetic model
 * (preset argv[1]): the latent of random codes (f32 within 1e-3 relative), the waveform of the
 * whole chain codes -> latent (left on the device) -> audio, the code checks' messages, and
 * two jobs decoding on their own streams at once. Without a GPU it exits 77 (skipped). */
#include "gpu_test_util.h"

#include <spark/nn/bicodec_decode_cuda.h>
#include <spark/nn/prng.h>
#include <spark/nn/wavegen_cuda.h>

#include <pthread.h>

#include "bicodec_decoder.h"
#include "bicodec_model.h"
#include "wavegen.h"

static char err[512];

static void random_codes(int32_t *codes, size_t n, uint64_t range, const char *stream)
{
    nn_rng rng;
    nn_rng_seed(&rng, 7, stream);
    for (size_t i = 0; i < n; i++)
        codes[i] = (int32_t)nn_rng_below(&rng, range);
}

typedef struct decode_thread {
    nn_bicodec_decoder_cuda *dec;
    const int32_t *semantic, *global;
    size_t n, channels;
    float *latent;
    int rc;
    char err[512];
} decode_thread;

static void *decode_main(void *arg)
{
    decode_thread *d = arg;
    nn_bicodec_decode_cuda_job *job = nn_bicodec_decode_cuda_job_new(d->dec, d->n, d->err,
                                                                     sizeof d->err);
    d->rc = -1;
    for (int rep = 0; job && rep < 5; rep++)
        d->rc = nn_bicodec_decode_cuda(job, d->semantic, d->n, d->global, 32, d->latent, d->n,
                                       d->err, sizeof d->err);
    nn_bicodec_decode_cuda_job_free(job);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *preset = argc > 1 ? argv[1] : "tiny";
    skip_without_gpu("test_gpu_decode");
    char *dir = make_synth_model(preset);
    bicodec_model model;
    bicodec_decoder cpu;
    wavegen cpu_voc;
    if (bicodec_model_open(&model, dir, err, sizeof err) ||
        bicodec_decoder_load(&cpu, &model, err, sizeof err) ||
        wavegen_load(&cpu_voc, dir, err, sizeof err)) {
        fprintf(stderr, "FAIL: CPU decoder: %s\n", err);
        return 1;
    }
    nn_bicodec_decoder_cuda *gpu = nn_bicodec_decoder_cuda_load(dir, 0, err, sizeof err);
    nn_wavegen_cuda *gpu_voc = gpu ? nn_wavegen_cuda_load(dir, 0, err, sizeof err) : NULL;
    if (!gpu_voc) {
        fprintf(stderr, "FAIL: GPU decoder: %s\n", err);
        return 1;
    }
    const size_t n = 61, ch = cpu.out_channels, hop = cpu_voc.hop;
    CHECK(nn_bicodec_decoder_cuda_channels(gpu) == ch &&
              nn_bicodec_decoder_cuda_global_count(gpu) == cpu.global_count,
          "channels or global count differ");
    int32_t semantic[61], global[32];
    random_codes(semantic, n, cpu.codebook_size, "semantic");
    random_codes(global, 32, (uint64_t)cpu.global_code_count, "global");

    float *want = malloc(ch * n * sizeof *want), *got = malloc(ch * n * sizeof *got);
    bicodec_workspace ws = {0};
    int rc = bicodec_decode(NULL, &cpu, semantic, n, global, 32, &ws, want, n, NULL, err,
                            sizeof err);
    CHECK(rc == 0, "CPU decode: %s", err);
    nn_bicodec_decode_cuda_job *job = nn_bicodec_decode_cuda_job_new(gpu, 128, err, sizeof err);
    CHECK(job, "decode job: %s", err);
    rc = job ? nn_bicodec_decode_cuda(job, semantic, n, global, 32, got, n, err, sizeof err) : -1;
    CHECK(rc == 0, "GPU decode: %s", err);
    double e = rel_error(got, want, ch * n);
    printf("BiCodec latent (%s, %zu codes): max relative error %.3g\n", preset, n, e);
    CHECK(e < 1e-3, "the GPU latent differs by %.3g relative", e);

    /* the chain with the latent left on the device */
    float *audio_want = malloc(n * hop * sizeof *audio_want);
    float *audio_got = malloc(n * hop * sizeof *audio_got);
    wavegen_workspace vws = {0};
    rc = wavegen_forward(NULL, &cpu_voc, want, n, n, &vws, audio_want, NULL, err, sizeof err);
    CHECK(rc == 0, "CPU vocoder: %s", err);
    nn_wavegen_cuda_job *vjob = nn_wavegen_cuda_job_new(gpu_voc, 128, err, sizeof err);
    const float *latent_dev = NULL;
    rc = vjob && job ? nn_bicodec_decode_cuda_device(job, semantic, n, global, 32, &latent_dev,
                                                     err, sizeof err)
                     : -1;
    rc = rc ? rc
            : nn_wavegen_cuda_forward_device(vjob, latent_dev, n, n, audio_got, NULL, err,
                                             sizeof err);
    CHECK(rc == 0, "GPU chain: %s", err);
    e = rel_error(audio_got, audio_want, n * hop);
    printf("codes -> audio (%zu samples): max relative error %.3g\n", n * hop, e);
    CHECK(e < 1e-3, "the GPU audio differs by %.3g relative", e);

    /* the CPU decoder's rules, with its messages */
    int32_t bad[61];
    memcpy(bad, semantic, sizeof bad);
    bad[5] = (int32_t)cpu.codebook_size;
    rc = job ? nn_bicodec_decode_cuda(job, bad, n, global, 32, got, n, err, sizeof err) : 0;
    CHECK(rc != 0 && strstr(err, "semantic code 5"), "a code out of range: %s", err);
    rc = job ? nn_bicodec_decode_cuda(job, semantic, n, global, 31, got, n, err, sizeof err) : 0;
    CHECK(rc != 0 && strstr(err, "needs exactly"), "31 globals: %s", err);
    rc = job ? nn_bicodec_decode_cuda(job, semantic, 0, global, 32, got, n, err, sizeof err) : 0;
    CHECK(rc != 0 && strstr(err, "no semantic codes"), "no codes: %s", err);

    /* two jobs at once on their own streams */
    decode_thread threads[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        threads[i] = (decode_thread){gpu, semantic, global, n, ch,
                                     malloc(ch * n * sizeof(float)), 0, ""};
        pthread_create(&th[i], NULL, decode_main, &threads[i]);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        CHECK(threads[i].rc == 0, "thread %d: %s", i, threads[i].err);
        e = rel_error(threads[i].latent, want, ch * n);
        CHECK(e < 1e-3, "thread %d: latent differs by %.3g", i, e);
        free(threads[i].latent);
    }
    printf("two decode jobs at once: both give the CPU's latent\n");

    nn_wavegen_cuda_job_free(vjob);
    nn_bicodec_decode_cuda_job_free(job);
    nn_wavegen_cuda_free(gpu_voc);
    nn_bicodec_decoder_cuda_free(gpu);
    wavegen_workspace_free(&vws);
    bicodec_workspace_free(&ws);
    wavegen_free(&cpu_voc);
    bicodec_decoder_free(&cpu);
    bicodec_model_close(&model);
    free(want);
    free(got);
    free(audio_want);
    free(audio_got);
    remove_synth_model(dir);
    if (test_failures) {
        fprintf(stderr, "%d checks failed\n", test_failures);
        return 1;
    }
    printf("all GPU decode checks passed\n");
    return 0;
}
