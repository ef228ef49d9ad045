/* bench_gpu.c - the CUDA backend's speed on one GPU:
 *   - activation: LLM load + upload seconds (bf16 or f32), vocoder load seconds, weight bytes,
 *     device memory after activation;
 *   - LLM decode tokens/s at batch 1 (one job, graphs on and off) and aggregate tokens/s at
 *     4, 16 and 64 concurrent jobs stepped together (one caller), and at 16 jobs on threads of
 *     their own through the batcher (as plugin jobs run);
 *   - BiCodec decode (codes -> latent) + vocoder: seconds for a 1 s chunk (50 codes, the first
 *     streamed chunk) and the real-time factor of a 10 s decode;
 *   - one request: time to the first 50 tokens plus their audio (prefill of a 300-token
 *     prompt, 50 decode steps, one 1 s decode chunk; a cached voice, so no encoder), and the
 *     real-time factor of LLM + decode;
 *   - end to end at concurrency 1, 4 and 16 (jobs on threads of their own, LLM steps through
 *     the batcher, each job then decodes its N tokens as semantic codes (ids folded into the
 *     codebook range) on its own decode and vocoder streams): wall time against the audio
 *     made (x real time), and the median time to first audio (the 50th token plus one 1 s
 *     decode chunk measured alone);
 *   - the encoders (once per voice): the global codes of a 6 s clip (mel, ECAPA, Perceiver)
 *     and wav2vec2 on a 6 s reference (cloning with a transcript);
 *   - device memory of one request (models, a context, a decode job) and the peak held by the
 *     backend over the whole run.
 * Usage: bench_gpu [MODEL_DIR | --synth tiny|full] [--weights bf16|f32] [--tokens N]
 * The LLM is run unconstrained with sampling (temperature 0.8, top-k 50, top-p 0.95) and no
 * stop id, so every job makes exactly N tokens. Prints one "name value unit" line per figure. */
#define _POSIX_C_SOURCE 200809L
#include <spark/nn/bicodec_decode_cuda.h>
#include <spark/nn/cuda.h>
#include <spark/nn/qwen2_cuda.h>
#include <spark/nn/spark_model.h>
#include <spark/nn/speaker_cuda.h>
#include <spark/nn/wav2vec2_cuda.h>
#include <spark/nn/wavegen_cuda.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct thread_job {
    nn_qwen2_cuda_batcher *batcher;
    nn_qwen2_cuda *llm;
    const int32_t *prompt;
    nn_generate_params params;
    int32_t *out;
    nn_generate_result res;
    int rc;
    char err[512];
} thread_job;

static void *thread_main(void *arg)
{
    thread_job *j = arg;
    nn_qwen2_cuda_ctx *ctx = nn_qwen2_cuda_ctx_new(j->llm, j->err, sizeof j->err);
    j->rc = ctx ? nn_qwen2_cuda_batcher_generate(j->batcher, ctx, j->prompt, 300, &j->params,
                                                 j->out, &j->res, j->err, sizeof j->err)
                : -1;
    nn_qwen2_cuda_ctx_free(ctx);
    return NULL;
}

typedef struct e2e_job {
    nn_qwen2_cuda_batcher *batcher;
    nn_qwen2_cuda *llm;
    nn_bicodec_decoder_cuda *dec;
    nn_wavegen_cuda *voc;
    const int32_t *prompt;
    nn_generate_params params;
    size_t tokens;
    int32_t *out;
    double t0, t50;
    int rc;
    char err[512];
} e2e_job;

static double now(void);

static int e2e_on_token(void *user, size_t step, int32_t id, const float *logits,
                        const int32_t *rows, size_t n_rows)
{
    (void)id;
    (void)logits;
    (void)rows;
    (void)n_rows;
    e2e_job *j = user;
    if (step == 49)
        j->t50 = now();
    return 0;
}

static void *e2e_main(void *arg)
{
    e2e_job *j = arg;
    nn_generate_result res;
    nn_qwen2_cuda_ctx *ctx = nn_qwen2_cuda_ctx_new(j->llm, j->err, sizeof j->err);
    nn_bicodec_decode_cuda_job *dj =
        ctx ? nn_bicodec_decode_cuda_job_new(j->dec, j->tokens, j->err, sizeof j->err) : NULL;
    nn_wavegen_cuda_job *vj =
        dj ? nn_wavegen_cuda_job_new(j->voc, j->tokens, j->err, sizeof j->err) : NULL;
    float *audio = malloc(j->tokens * nn_wavegen_cuda_hop(j->voc) * sizeof *audio);
    j->rc = -1;
    if (vj && audio) {
        j->params.on_token = e2e_on_token;
        j->params.user = j;
        j->rc = nn_qwen2_cuda_batcher_generate(j->batcher, ctx, j->prompt, 300, &j->params,
                                               j->out, &res, j->err, sizeof j->err);
    }
    if (j->rc == 0) {
        const size_t range = nn_bicodec_decoder_cuda_semantic_range(j->dec);
        int32_t global[32];
        for (size_t i = 0; i < res.tokens; i++)
            j->out[i] = (int32_t)((uint32_t)j->out[i] % range);
        for (size_t i = 0; i < 32; i++)
            global[i] = (int32_t)(i % nn_bicodec_decoder_cuda_global_range(j->dec));
        const float *latent = NULL;
        j->rc = nn_bicodec_decode_cuda_device(dj, j->out, res.tokens, global, 32, &latent,
                                              j->err, sizeof j->err);
        if (j->rc == 0)
            j->rc = nn_wavegen_cuda_forward_device(vj, latent, res.tokens, res.tokens, audio,
                                                   NULL, j->err, sizeof j->err);
    }
    free(audio);
    nn_wavegen_cuda_job_free(vj);
    nn_bicodec_decode_cuda_job_free(dj);
    nn_qwen2_cuda_ctx_free(ctx);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void die(const char *what, const char *err)
{
    fprintf(stderr, "bench_gpu: %s: %s\n", what, err);
    exit(1);
}

int main(int argc, char **argv)
{
    const char *model_dir = NULL, *synth = "full";
    nn_weight_type weights = NN_WEIGHT_BF16;
    size_t tokens = 256;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--synth") == 0 && i + 1 < argc)
            synth = argv[++i];
        else if (strcmp(argv[i], "--weights") == 0 && i + 1 < argc) {
            if (!nn_weight_type_parse(argv[++i], &weights) || weights == NN_WEIGHT_INT8)
                die("--weights", "bf16 or f32");
        } else if (strcmp(argv[i], "--tokens") == 0 && i + 1 < argc)
            tokens = (size_t)strtoul(argv[++i], NULL, 10);
        else if (argv[i][0] != '-')
            model_dir = argv[i];
        else
            die(argv[i], "usage: bench_gpu [MODEL_DIR | --synth tiny|full] [--weights bf16|f32] "
                         "[--tokens N]");
    }
    if (tokens < 50)
        tokens = 50;
    char why[256], err[512];
    if (nn_cuda_probe(why, sizeof why) == 0) {
        printf("bench_gpu: %s; nothing measured\n", why);
        return 0;
    }
    nn_cuda_device_info info;
    if (nn_cuda_device_info_get(0, &info, err, sizeof err) == 0)
        printf("device %s sm_%d%d %d SMs %.1f GiB\n", info.name, info.compute_major,
               info.compute_minor, info.multiprocessors, info.total_bytes / 1073741824.0);
    char synth_dir[256] = "";
    if (!model_dir) {
        snprintf(synth_dir, sizeof synth_dir, "/tmp/spark-bench-gpu-XXXXXX");
        if (!mkdtemp(synth_dir))
            die("mkdtemp", synth_dir);
        strcat(synth_dir, "/model");
        nn_spark_preset preset;
        char *error = NULL;
        if (!nn_spark_preset_get(synth, &preset) ||
            nn_spark_synth(synth_dir, &preset, 0, NULL, &error))
            die("synth", error ? error : synth);
        model_dir = synth_dir;
        printf("model synthetic %s\n", synth);
    }
    char llm_dir[4200];
    snprintf(llm_dir, sizeof llm_dir, "%s/LLM", model_dir);

    /* activation */
    double t0 = now();
    nn_qwen2_cuda_options opt = {.weights = weights};
    nn_qwen2_cuda *llm = nn_qwen2_cuda_load(llm_dir, &opt, err, sizeof err);
    if (!llm)
        die("LLM", err);
    double t1 = now();
    nn_wavegen_cuda *voc = nn_wavegen_cuda_load(model_dir, 0, err, sizeof err);
    if (!voc)
        die("vocoder", err);
    double t2 = now();
    printf("activation_llm %.3f s (%s, %.1f MB)\n", t1 - t0, nn_weight_type_name(weights),
           nn_qwen2_cuda_weight_bytes(llm) / 1e6);
    printf("activation_vocoder %.3f s (%.1f MB)\n", t2 - t1,
           nn_wavegen_cuda_weight_bytes(voc) / 1e6);
    char line[512];
    if (nn_cuda_memory_report(line, sizeof line, err, sizeof err) == 0)
        printf("memory_after_activation %s\n", line);

    const size_t vocab = (size_t)nn_qwen2_cuda_config_of(llm)->vocab_size;
    int32_t prompt[300];
    for (size_t i = 0; i < 300; i++)
        prompt[i] = (int32_t)((i * 7919u + 13u) % vocab);
    nn_generate_params gp = {.sampling = {0.8f, 50, 0.95f}, .seed = 1, .max_new_tokens = tokens};
    int32_t *out = malloc(64 * tokens * sizeof *out);

    /* batch 1 */
    nn_qwen2_cuda_ctx *ctx = nn_qwen2_cuda_ctx_new(llm, err, sizeof err);
    if (!ctx)
        die("context", err);
    nn_generate_result res;
    if (nn_qwen2_cuda_generate(ctx, prompt, 300, &gp, out, &res, err, sizeof err)) /* warm-up */
        die("generate", err);
    if (nn_qwen2_cuda_generate(ctx, prompt, 300, &gp, out, &res, err, sizeof err))
        die("generate", err);
    printf("llm_prefill_300 %.2f ms\n", res.prefill_seconds * 1e3);
    printf("llm_decode_batch1 %.0f tokens/s\n", (res.tokens - 1) / res.decode_seconds);
    const double decode_per_token = res.decode_seconds / (double)(res.tokens - 1);
    const double prefill_s = res.prefill_seconds;
    nn_qwen2_cuda_options nograph = opt;
    nograph.no_graphs = true;
    nn_qwen2_cuda *llm_ng = nn_qwen2_cuda_load(llm_dir, &nograph, err, sizeof err);
    if (llm_ng) {
        nn_qwen2_cuda_ctx *c2 = nn_qwen2_cuda_ctx_new(llm_ng, err, sizeof err);
        if (c2 && nn_qwen2_cuda_generate(c2, prompt, 300, &gp, out, &res, err, sizeof err) == 0)
            printf("llm_decode_batch1_no_graphs %.0f tokens/s\n",
                   (res.tokens - 1) / res.decode_seconds);
        nn_qwen2_cuda_ctx_free(c2);
        nn_qwen2_cuda_free(llm_ng);
    }

    /* concurrent jobs in one step */
    const size_t widths[3] = {4, 16, 64};
    for (int w = 0; w < 3; w++) {
        size_t jobs = widths[w];
        nn_qwen2_cuda_batch *batch = nn_qwen2_cuda_batch_new(llm, jobs, err, sizeof err);
        if (!batch)
            die("batch", err);
        nn_qwen2_cuda_ctx *ctxs[64];
        const int32_t *prompts[64];
        size_t lens[64];
        int32_t *outs[64];
        nn_generate_params params[64];
        nn_generate_result results[64];
        for (size_t i = 0; i < jobs; i++) {
            if (!(ctxs[i] = nn_qwen2_cuda_ctx_new(llm, err, sizeof err)))
                die("context", err);
            prompts[i] = prompt;
            lens[i] = 300;
            outs[i] = out + i * tokens;
            params[i] = gp;
            params[i].seed = 100 + i;
        }
        double b0 = now();
        if (nn_qwen2_cuda_generate_batch(batch, ctxs, jobs, prompts, lens, params, outs, results,
                                         err, sizeof err))
            die("batch generate", err);
        double b1 = now();
        double decode = 0;
        size_t made = 0;
        for (size_t i = 0; i < jobs; i++) {
            made += results[i].tokens;
            decode = results[i].decode_seconds > decode ? results[i].decode_seconds : decode;
        }
        printf("llm_decode_concurrent%zu %.0f tokens/s aggregate (%.0f per job; %.2f s wall "
               "with prefills)\n",
               jobs, (made - jobs) / decode, (made - jobs) / decode / jobs, b1 - b0);
        for (size_t i = 0; i < jobs; i++)
            nn_qwen2_cuda_ctx_free(ctxs[i]);
        nn_qwen2_cuda_batch_free(batch);
    }

    /* 16 jobs on their own threads through the batcher */
    {
        nn_qwen2_cuda_batcher *batcher = nn_qwen2_cuda_batcher_new(llm, 16, err, sizeof err);
        if (!batcher)
            die("batcher", err);
        thread_job jobs[16];
        pthread_t th[16];
        for (int i = 0; i < 16; i++) {
            jobs[i] = (thread_job){batcher, llm, prompt, gp, out + (size_t)i * tokens, {0}, 0,
                                   ""};
            jobs[i].params.seed = 200 + (uint64_t)i;
            pthread_create(&th[i], NULL, thread_main, &jobs[i]);
        }
        double decode = 0;
        size_t made = 0;
        for (int i = 0; i < 16; i++) {
            pthread_join(th[i], NULL);
            if (jobs[i].rc)
                die("batcher job", jobs[i].err);
            made += jobs[i].res.tokens - 1;
            decode = jobs[i].res.decode_seconds > decode ? jobs[i].res.decode_seconds : decode;
        }
        printf("llm_decode_threads16_batcher %.0f tokens/s aggregate\n", made / decode);
        nn_qwen2_cuda_batcher_free(batcher);
    }

    /* BiCodec decode + vocoder */
    t0 = now();
    nn_bicodec_decoder_cuda *dec = nn_bicodec_decoder_cuda_load(model_dir, 0, err, sizeof err);
    if (!dec)
        die("BiCodec decoder", err);
    printf("activation_bicodec_decoder %.3f s\n", now() - t0);
    const size_t hop = nn_wavegen_cuda_hop(voc);
    nn_bicodec_decode_cuda_job *djob = nn_bicodec_decode_cuda_job_new(dec, 500, err, sizeof err);
    nn_wavegen_cuda_job *vjob = nn_wavegen_cuda_job_new(voc, 500, err, sizeof err);
    if (!djob || !vjob)
        die("decode job", err);
    int32_t semantic[500], global[32];
    const size_t sem_range = nn_bicodec_decoder_cuda_semantic_range(dec);
    const size_t glob_range = nn_bicodec_decoder_cuda_global_range(dec);
    for (size_t i = 0; i < 500; i++)
        semantic[i] = (int32_t)((i * 2654435761u) % sem_range);
    for (size_t i = 0; i < 32; i++)
        global[i] = (int32_t)((i * 40503u) % glob_range);
    float *audio = malloc(500 * hop * sizeof *audio);
    const float *latent_dev = NULL;
    double chunk = 0, ten = 0;
    for (int rep = 0; rep < 21; rep++) { /* the first run is a warm-up */
        double c0 = now();
        if (nn_bicodec_decode_cuda_device(djob, semantic, 50, global, 32, &latent_dev, err,
                                          sizeof err) ||
            nn_wavegen_cuda_forward_device(vjob, latent_dev, 50, 50, audio, NULL, err,
                                           sizeof err))
            die("decode", err);
        if (rep)
            chunk += (now() - c0) / 20;
    }
    double c0 = now();
    if (nn_bicodec_decode_cuda_device(djob, semantic, 500, global, 32, &latent_dev, err,
                                      sizeof err) ||
        nn_wavegen_cuda_forward_device(vjob, latent_dev, 500, 500, audio, NULL, err, sizeof err))
        die("decode", err);
    ten = now() - c0;
    printf("decode_chunk_1s %.2f ms (codes -> latent -> audio)\n", chunk * 1e3);
    printf("decode_rtf_10s %.4f\n", ten / 10.0);

    /* one request's memory: models, one LLM context, one decode and one vocoder job */
    size_t free_b = 0, total_b = 0;
    nn_cuda_memory(&free_b, &total_b, err, sizeof err);
    printf("device_memory_one_request %.1f MB held by the backend, %.1f MB used on the device "
           "(CUDA context and library workspaces included)\n",
           nn_cuda_allocated_bytes() / 1e6, (total_b - free_b) / 1e6);

    /* one request, cached voice: 50 tokens/s of audio */
    printf("first_audio %.1f ms (prefill 300 + 50 tokens + one 1 s decode chunk)\n",
           (prefill_s + 50 * decode_per_token + chunk) * 1e3);
    printf("rtf_end_to_end %.4f (LLM + BiCodec decode + vocoder)\n",
           50 * decode_per_token + ten / 10.0);

    /* end to end at concurrency 1, 4, 16 */
    const size_t levels[3] = {1, 4, 16};
    for (int w = 0; w < 3; w++) {
        const size_t jobs = levels[w];
        nn_qwen2_cuda_batcher *batcher = nn_qwen2_cuda_batcher_new(llm, jobs, err, sizeof err);
        if (!batcher)
            die("batcher", err);
        e2e_job ej[16];
        pthread_t th[16];
        double start = now();
        for (size_t i = 0; i < jobs; i++) {
            ej[i] = (e2e_job){batcher, llm, dec,   voc, prompt, gp, tokens,
                              out + i * tokens, start, start, 0, ""};
            ej[i].params.seed = 300 + i;
            pthread_create(&th[i], NULL, e2e_main, &ej[i]);
        }
        double ttfa[16];
        for (size_t i = 0; i < jobs; i++) {
            pthread_join(th[i], NULL);
            if (ej[i].rc)
                die("end-to-end job", ej[i].err);
            ttfa[i] = ej[i].t50 - ej[i].t0 + chunk;
        }
        double wall = now() - start, audio_s = (double)(jobs * tokens) / 50.0;
        qsort(ttfa, jobs, sizeof *ttfa, cmp_double);
        printf("e2e_concurrency%zu %.1fx real time (rtf %.4f per job), first audio median "
               "%.1f ms\n", jobs, audio_s / wall, wall / ((double)tokens / 50.0),
               ttfa[jobs / 2] * 1e3);
        nn_qwen2_cuda_batcher_free(batcher);
    }

    /* the global codes of a 6 s clip */
    nn_speaker_encoder_cuda *spk = nn_speaker_encoder_cuda_load(model_dir, 0, err, sizeof err);
    if (spk) {
        const size_t n = 96000;
        nn_speaker_cuda_job *sjob = nn_speaker_cuda_job_new(spk, n, err, sizeof err);
        float *clip = malloc(n * sizeof *clip);
        int32_t codes[64];
        for (size_t i = 0; i < n; i++)
            clip[i] = (float)((i * 2654435761u) % 2000u) / 4000.0f - 0.25f;
        if (sjob && nn_speaker_encode_cuda(sjob, clip, n, codes, NULL, err, sizeof err) == 0) {
            double s0 = now();
            if (nn_speaker_encode_cuda(sjob, clip, n, codes, NULL, err, sizeof err) == 0)
                printf("speaker_globals_6s %.2f ms\n", (now() - s0) * 1e3);
        }
        nn_speaker_cuda_job_free(sjob);
        nn_speaker_encoder_cuda_free(spk);
        free(clip);
    } else {
        printf("speaker encoder: %s\n", err);
    }

    /* wav2vec2 on a 6 s reference */
    nn_wav2vec2_cuda *w2v = nn_wav2vec2_cuda_load(model_dir, 0, err, sizeof err);
    if (w2v) {
        const size_t n = 96000;
        nn_wav2vec2_cuda_job *wjob = nn_wav2vec2_cuda_job_new(w2v, n, err, sizeof err);
        float *wav = malloc(n * sizeof *wav);
        float *mix = malloc(nn_wav2vec2_cuda_frames(w2v, n) * nn_wav2vec2_cuda_hidden(w2v) *
                            sizeof *mix);
        for (size_t i = 0; i < n; i++)
            wav[i] = (float)((i * 2654435761u) % 2000u) / 1000.0f - 1.0f;
        if (wjob && nn_wav2vec2_cuda_mix(wjob, wav, n, mix, err, sizeof err) == 0) {
            double w0 = now();
            if (nn_wav2vec2_cuda_mix(wjob, wav, n, mix, err, sizeof err) == 0)
                printf("wav2vec2_6s %.2f ms\n", (now() - w0) * 1e3);
        }
        nn_wav2vec2_cuda_job_free(wjob);
        nn_wav2vec2_cuda_free(w2v);
        free(wav);
        free(mix);
    } else {
        printf("wav2vec2: %s\n", err);
    }
    printf("peak_device_memory %.1f MB\n", nn_cuda_peak_bytes() / 1e6);

    nn_bicodec_decode_cuda_job_free(djob);
    nn_bicodec_decoder_cuda_free(dec);
    nn_wavegen_cuda_job_free(vjob);
    nn_wavegen_cuda_free(voc);
    nn_qwen2_cuda_ctx_free(ctx);
    nn_qwen2_cuda_free(llm);
    free(out);
    free(audio);
    if (synth_dir[0]) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%.*s'", (int)(strlen(synth_dir) - 6), synth_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_gpu: could not remove %s\n", synth_dir);
    }
    return 0;
}
