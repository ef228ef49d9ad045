/* test_gpu_codec.c - the codec layer kernels of spark/nn/conv_cuda.h against the CPU ones of
 * spark/nn/conv.h on random data (f32 within 1e-3 relative): dense, dilated, strided, k=1,
 * grouped and depthwise convolutions (channel- and time-major, plain and accumulating),
 * weight-norm folding, transposed convolutions of the vocoder's four shapes, Snake, LayerNorm,
 * GELU, tanh, transposes and linear layers. With a model preset as argv[1] (when the CPU
 * vocoder is built in) also the whole WaveGenerator against plugins/vocoder-wavegen.
 * Without a GPU it exits 77 (skipped) and says why. */
#include "gpu_test_util.h"

#include <spark/nn/conv.h>
#include <spark/nn/conv_cuda.h>
#include <spark/nn/prng.h>
#include <spark/nn/wavegen_cuda.h>

#ifdef GPU_TEST_HAVE_WAVEGEN
#include "wavegen.h"
#endif

static nn_cuda_stream *stream;
static char err[512];

static float *random_host(size_t n, const char *name)
{
    float *h = malloc((n ? n : 1) * sizeof *h);
    nn_rng rng;
    nn_rng_seed(&rng, 42, name);
    nn_rng_fill_normal(&rng, h, n, 0.f, 0.5f);
    return h;
}

static float *device_zeros(size_t n)
{
    float *z = calloc(n ? n : 1, sizeof *z);
    float *d = nn_cuda_upload_f32(z, n ? n : 1, "test buffer", err, sizeof err);
    free(z);
    if (!d) {
        fprintf(stderr, "FAIL: %s\n", err);
        exit(1);
    }
    return d;
}

static float *download(const float *d, size_t n)
{
    float *h = malloc((n ? n : 1) * sizeof *h);
    if (nn_cuda_to_host(stream, h, d, n, err, sizeof err) ||
        nn_cuda_stream_sync(stream, err, sizeof err)) {
        fprintf(stderr, "FAIL: %s\n", err);
        exit(1);
    }
    return h;
}

static void compare(const char *what, const float *gpu_dev, const float *cpu, size_t n)
{
    float *got = download(gpu_dev, n);
    double e = rel_error(got, cpu, n);
    printf("%-52s max relative error %.3g\n", what, e);
    CHECK(e < 1e-3, "%s: GPU and CPU differ by %.3g relative", what, e);
    free(got);
}

static void conv_case(const char *label, nn_conv1d_shape shape, size_t t_in, bool weight_norm)
{
    size_t groups = shape.groups ? shape.groups : 1;
    size_t wn = shape.out_channels * shape.in_channels / groups * shape.kernel;
    float *w = random_host(wn, "w"), *bias = random_host(shape.out_channels, "b");
    float *g = random_host(shape.out_channels, "g");
    float *x = random_host(shape.in_channels * t_in, "x");
    nn_conv1d cpu;
    nn_cuda_conv1d gpu;
    int rc = weight_norm
                 ? nn_conv1d_init_weight_norm(&cpu, &shape, g, w, bias, err, sizeof err)
                 : nn_conv1d_init(&cpu, &shape, w, bias, err, sizeof err);
    CHECK(rc == 0, "%s: CPU init: %s", label, err);
    rc = weight_norm ? nn_cuda_conv1d_init_weight_norm(&gpu, &shape, g, w, bias, err, sizeof err)
                     : nn_cuda_conv1d_init(&gpu, &shape, w, bias, err, sizeof err);
    CHECK(rc == 0, "%s: GPU init: %s", label, err);
    if (rc)
        return;
    size_t t_out = nn_conv1d_out_len(&cpu, t_in);
    CHECK(t_out == nn_cuda_conv1d_out_len(&gpu, t_in), "%s: output lengths differ", label);
    size_t out_n = shape.out_channels * t_out;
    float *y = random_host(out_n, "y0"), *y_acc = random_host(out_n, "y0");
    float *scratch = malloc((nn_conv1d_scratch_floats(&cpu, t_in) + 1) * sizeof(float));
    nn_conv1d_forward(NULL, &cpu, x, t_in, t_in, y, t_out, scratch);
    nn_conv1d_forward_add(NULL, &cpu, x, t_in, t_in, y_acc, t_out, scratch);
    float *dx = nn_cuda_upload_f32(x, shape.in_channels * t_in, "x", err, sizeof err);
    float *dy = device_zeros(out_n);
    float *y0 = random_host(out_n, "y0");
    float *dy_acc = nn_cuda_upload_f32(y0, out_n, "y", err, sizeof err);
    float *dscr = device_zeros(nn_cuda_conv1d_scratch_floats(&gpu, t_in) + 1);
    rc = nn_cuda_conv1d_forward(stream, &gpu, dx, t_in, t_in, dy, t_out, dscr, false, err,
                                sizeof err);
    rc |= nn_cuda_conv1d_forward(stream, &gpu, dx, t_in, t_in, dy_acc, t_out, dscr, true, err,
                                 sizeof err);
    CHECK(rc == 0, "%s: GPU forward: %s", label, err);
    char what[128];
    snprintf(what, sizeof what, "conv1d %s", label);
    compare(what, dy, y, out_n);
    snprintf(what, sizeof what, "conv1d %s, accumulating", label);
    compare(what, dy_acc, y_acc, out_n);
    /* the time-major forms where the CPU has them */
    float *xt = malloc(shape.in_channels * t_in * sizeof *xt);
    nn_transpose_f32(x, t_in, shape.in_channels, t_in, xt, shape.in_channels);
    float *dxt = nn_cuda_upload_f32(xt, shape.in_channels * t_in, "xt", err, sizeof err);
    float *yt = malloc(out_n * sizeof *yt);
    if (nn_conv1d_forward_tc(NULL, &cpu, xt, shape.in_channels, t_in, yt, shape.out_channels,
                             scratch) == 0) {
        rc = nn_cuda_conv1d_enable_time_major(&gpu, err, sizeof err);
        rc = rc ? rc
                : nn_cuda_conv1d_forward_tc(stream, &gpu, dxt, shape.in_channels, t_in, dy,
                                            shape.out_channels, dscr, err, sizeof err);
        CHECK(rc == 0, "%s: GPU time-major: %s", label, err);
        snprintf(what, sizeof what, "conv1d %s, time-major", label);
        compare(what, dy, yt, out_n);
    }
    if (nn_depthwise_conv1d_tc(NULL, &cpu, xt, shape.in_channels, t_in, yt,
                               shape.out_channels) == 0) {
        rc = nn_cuda_depthwise_conv1d_tc(stream, &gpu, dxt, shape.in_channels, t_in, dy,
                                         shape.out_channels, err, sizeof err);
        CHECK(rc == 0, "%s: GPU depthwise time-major: %s", label, err);
        snprintf(what, sizeof what, "conv1d %s, depthwise time-major", label);
        compare(what, dy, yt, out_n);
    }
    nn_cuda_free(dx);
    nn_cuda_free(dxt);
    nn_cuda_free(dy);
    nn_cuda_free(dy_acc);
    nn_cuda_free(dscr);
    nn_cuda_conv1d_free(&gpu);
    nn_conv1d_free(&cpu);
    free(w);
    free(bias);
    free(g);
    free(x);
    free(xt);
    free(y);
    free(yt);
    free(y0);
    free(y_acc);
    free(scratch);
}

static void transpose_case(size_t in, size_t out, size_t k, size_t s, size_t t_in)
{
    size_t p = (k - s) / 2;
    float *w = random_host(in * out * k, "tw"), *g = random_host(in, "tg");
    float *bias = random_host(out, "tb"), *x = random_host(in * t_in, "tx");
    nn_conv_transpose1d cpu;
    nn_cuda_conv_transpose1d gpu;
    int rc = nn_conv_transpose1d_init_weight_norm(&cpu, in, out, k, s, p, 0, g, w, bias, err,
                                                  sizeof err);
    rc |= nn_cuda_conv_transpose1d_init_weight_norm(&gpu, in, out, k, s, p, 0, g, w, bias, err,
                                                    sizeof err);
    CHECK(rc == 0, "conv_transpose init: %s", err);
    size_t t_out = nn_conv_transpose1d_out_len(&cpu, t_in);
    CHECK(t_out == s * t_in && t_out == nn_cuda_conv_transpose1d_out_len(&gpu, t_in),
          "transposed output length %zu", t_out);
    float *y = malloc(out * t_out * sizeof *y);
    float *scratch = malloc((nn_conv_transpose1d_scratch_floats(&cpu, t_in) + 1) * 4);
    nn_conv_transpose1d_forward(NULL, &cpu, x, t_in, t_in, y, t_out, scratch);
    float *dx = nn_cuda_upload_f32(x, in * t_in, "x", err, sizeof err);
    float *dy = device_zeros(out * t_out);
    float *dscr = device_zeros(nn_cuda_conv_transpose1d_scratch_floats(&gpu, t_in));
    rc = nn_cuda_conv_transpose1d_forward(stream, &gpu, dx, t_in, t_in, dy, t_out, dscr, err,
                                          sizeof err);
    CHECK(rc == 0, "conv_transpose forward: %s", err);
    char what[128];
    snprintf(what, sizeof what, "conv_transpose1d %zu->%zu k%zu s%zu (weight norm)", in, out,
             k, s);
    compare(what, dy, y, out * t_out);
    nn_cuda_free(dx);
    nn_cuda_free(dy);
    nn_cuda_free(dscr);
    nn_cuda_conv_transpose1d_free(&gpu);
    nn_conv_transpose1d_free(&cpu);
    free(w);
    free(g);
    free(bias);
    free(x);
    free(y);
    free(scratch);
}

static void elementwise_cases(void)
{
    const size_t C = 48, T = 333;
    float *x = random_host(C * T, "ex"), *alpha = random_host(C, "alpha");
    for (size_t c = 0; c < C; c++)
        alpha[c] = fabsf(alpha[c]) + 0.1f;
    float *w = random_host(T, "lw"), *b = random_host(T, "lb");
    float *y = malloc(C * T * sizeof *y);
    float *dx = nn_cuda_upload_f32(x, C * T, "x", err, sizeof err);
    float *da = nn_cuda_upload_f32(alpha, C, "alpha", err, sizeof err);
    float *dw = nn_cuda_upload_f32(w, T, "w", err, sizeof err);
    float *db = nn_cuda_upload_f32(b, T, "b", err, sizeof err);
    float *dy = device_zeros(C * T);

    nn_snake_f32(NULL, x, T, C, T, alpha, y, T);
    nn_cuda_snake(stream, dx, T, C, T, da, dy, T);
    compare("snake", dy, y, C * T);

    nn_layer_norm_f32(NULL, x, T, C, T, w, b, 1e-6f, y, T);
    nn_cuda_layer_norm(stream, dx, T, C, T, dw, db, 1e-6f, dy, T);
    compare("layer norm (affine)", dy, y, C * T);
    nn_layer_norm_f32(NULL, x, T, C, T, NULL, NULL, 1e-5f, y, T);
    nn_cuda_layer_norm(stream, dx, T, C, T, NULL, NULL, 1e-5f, dy, T);
    compare("layer norm (plain)", dy, y, C * T);

    memcpy(y, x, C * T * sizeof *y);
    nn_gelu_f32(NULL, y, C * T);
    nn_cuda_transpose(stream, dx, T, C, T, dy, C); /* reuse: transpose first */
    float *xt = malloc(C * T * sizeof *xt);
    nn_transpose_f32(x, T, C, T, xt, C);
    compare("transpose", dy, xt, C * T);
    float *dg = nn_cuda_upload_f32(x, C * T, "g", err, sizeof err);
    nn_cuda_gelu(stream, dg, C * T);
    compare("gelu (exact)", dg, y, C * T);
    for (size_t i = 0; i < C * T; i++)
        y[i] = tanhf(x[i]);
    nn_cuda_free(dg);
    dg = nn_cuda_upload_f32(x, C * T, "g", err, sizeof err);
    nn_cuda_tanh(stream, dg, C * T);
    compare("tanh", dg, y, C * T);

    /* linear: y (T rows, 40) = xt (T, C) W^T + bias, against a plain double loop */
    const size_t O = 40;
    float *lw = random_host(O * C, "linw"), *lb = random_host(O, "linb");
    float *ly = malloc(T * O * sizeof *ly);
    for (size_t r = 0; r < T; r++)
        for (size_t o = 0; o < O; o++) {
            double acc = lb[o];
            for (size_t i = 0; i < C; i++)
                acc += (double)xt[r * C + i] * lw[o * C + i];
            ly[r * O + o] = (float)acc;
        }
    float *dlw = nn_cuda_upload_f32(lw, O * C, "lw", err, sizeof err);
    float *dlb = nn_cuda_upload_f32(lb, O, "lb", err, sizeof err);
    float *dxt = nn_cuda_upload_f32(xt, C * T, "xt", err, sizeof err);
    float *dly = device_zeros(T * O);
    CHECK(nn_cuda_linear(stream, dlw, dlb, C, O, dxt, C, T, dly, O, false, err, sizeof err) == 0,
          "linear: %s", err);
    compare("linear", dly, ly, T * O);
    float *ptrs[] = {dx, da, dw, db, dy, dg, dlw, dlb, dxt, dly};
    for (size_t i = 0; i < sizeof ptrs / sizeof *ptrs; i++)
        nn_cuda_free(ptrs[i]);
    free(x);
    free(alpha);
    free(w);
    free(b);
    free(y);
    free(xt);
    free(lw);
    free(lb);
    free(ly);
}

#ifdef GPU_TEST_HAVE_WAVEGEN
static void vocoder_case(const char *preset)
{
    char *dir = make_synth_model(preset);
    wavegen cpu;
    if (wavegen_load(&cpu, dir, err, sizeof err)) {
        CHECK(0, "CPU vocoder: %s", err);
        return;
    }
    nn_wavegen_cuda *gpu = nn_wavegen_cuda_load(dir, 0, err, sizeof err);
    CHECK(gpu, "GPU vocoder: %s", err);
    if (!gpu) {
        wavegen_free(&cpu);
        return;
    }
    CHECK(nn_wavegen_cuda_hop(gpu) == cpu.hop &&
              nn_wavegen_cuda_in_channels(gpu) == cpu.in_channels,
          "hop or channels differ");
    const size_t frames = 37, n = frames * cpu.hop;
    float *latent = random_host(cpu.in_channels * frames, "latent");
    float *want = malloc(n * sizeof *want), *want_pre = malloc(n * sizeof *want_pre);
    float *got = malloc(n * sizeof *got), *got_pre = malloc(n * sizeof *got_pre);
    wavegen_workspace ws = {0};
    int rc = wavegen_forward(NULL, &cpu, latent, frames, frames, &ws, want, want_pre, err,
                             sizeof err);
    CHECK(rc == 0, "CPU vocoder forward: %s", err);
    nn_wavegen_cuda_job *job = nn_wavegen_cuda_job_new(gpu, 64, err, sizeof err);
    CHECK(job, "vocoder job: %s", err);
    rc = job ? nn_wavegen_cuda_forward(job, latent, frames, frames, got, got_pre, err,
                                       sizeof err)
             : -1;
    CHECK(rc == 0, "GPU vocoder forward: %s", err);
    double e_pre = rel_error(got_pre, want_pre, n), e = rel_error(got, want, n);
    printf("vocoder (%s, %zu frames): before tanh %.3g, samples %.3g max relative error\n",
           preset, frames, e_pre, e);
    CHECK(e_pre < 1e-3 && e < 1e-3, "the GPU vocoder differs from the CPU one");
    rc = job ? nn_wavegen_cuda_forward(job, latent, frames, 65, got, NULL, err, sizeof err) : 0;
    CHECK(rc != 0 && strstr(err, "made for 64"), "a chunk over the job's size: %s", err);
    nn_wavegen_cuda_job_free(job);
    nn_wavegen_cuda_free(gpu);
    wavegen_workspace_free(&ws);
    wavegen_free(&cpu);
    free(latent);
    free(want);
    free(want_pre);
    free(got);
    free(got_pre);
    remove_synth_model(dir);
}
#endif

int main(int argc, char **argv)
{
    skip_without_gpu("test_gpu_codec");
    if (nn_cuda_use_device(0, err, sizeof err) || !(stream = nn_cuda_stream_new(err, sizeof err))) {
        fprintf(stderr, "FAIL: %s\n", err);
        return 1;
    }
    conv_case("dense k7 dil3", (nn_conv1d_shape){64, 48, 7, 1, 3, 9, 1}, 200, false);
    conv_case("dense k7 (weight norm)", (nn_conv1d_shape){96, 32, 7, 1, 1, 3, 1}, 150, true);
    conv_case("k1", (nn_conv1d_shape){80, 64, 1, 1, 1, 0, 1}, 120, true);
    conv_case("strided k10 s5", (nn_conv1d_shape){1, 32, 10, 5, 1, 0, 1}, 1600, false);
    conv_case("grouped k128 g16", (nn_conv1d_shape){64, 64, 128, 1, 1, 64, 16}, 90, false);
    conv_case("depthwise k7", (nn_conv1d_shape){96, 96, 7, 1, 1, 3, 96}, 131, false);
    transpose_case(64, 32, 16, 8, 21);
    transpose_case(32, 16, 11, 5, 33);
    transpose_case(16, 8, 8, 4, 40);
    transpose_case(8, 4, 4, 2, 55);
    elementwise_cases();
#ifdef GPU_TEST_HAVE_WAVEGEN
    vocoder_case(argc > 1 ? argv[1] : "tiny");
#else
    (void)argc;
    (void)argv;
    printf("the CPU vocoder (wavegen_core) is not built: the whole-vocoder check is left out\n");
#endif
    nn_cuda_stream_free(stream);
    if (test_failures) {
        fprintf(stderr, "%d checks failed\n", test_failures);
        return 1;
    }
    printf("all GPU codec checks passed\n");
    return 0;
}
