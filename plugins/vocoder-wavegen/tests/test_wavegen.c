/* The WaveGenerator against the upstream module (float64 reference dumps on the tiny model):
 * the output before the tanh within 1e-4 of its range, the waveform within 1e-4 of that range
 * (the random model saturates the tanh, so its waveform is only as well conditioned as that),
 * and on the quiet inputs, which stay short of saturation, both within 1e-4 of their own
 * ranges; chunked decoding with context equal to the whole decode for several chunk sizes;
 * the measured receptive field. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spark/nn/pool.h>

#include "decode_test_support.h"
#include "wavegen.h"

static int failures;

/* bf16 rounds weights and activations to 8 significant bits at every convolution. */
#define WAVEGEN_BF16_RMS_TOLERANCE 1e-1

static double rms_relative_error(const float *got, const float *want, size_t n)
{
    double err = 0.0, ref = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - want[i];
        err += d * d;
        ref += (double)want[i] * want[i];
    }
    return ref > 0 ? sqrt(err / ref) : sqrt(err);
}

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                    \
            printf(__VA_ARGS__);                                                           \
            printf("\n");                                                                  \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

static void check_reference(nn_pool *pool, const wavegen *wg, wavegen_workspace *ws,
                            const dts_case *c, const char *name)
{
    size_t n = c->n_semantic;
    CHECK(c->samples == n * wg->hop && wg->hop == 320, "%s: %zu samples for %zu codes", name,
          c->samples, n);
    float *samples = calloc(c->samples, sizeof(float)), *pre = calloc(c->samples, sizeof(float));
    char err[512], what[128];
    int rc = wavegen_forward(pool, wg, c->vocoder_in, n, n, ws, samples, pre, err, sizeof err);
    CHECK(rc == 0, "%s: %s", name, err);
    snprintf(what, sizeof what, "%s vocoder before tanh", name);
    CHECK(dts_within(what, pre, c->pre_tanh, c->samples, DTS_TOLERANCE), "%s", what);
    snprintf(what, sizeof what, "%s waveform", name);
    CHECK(dts_within_range_of(what, samples, c->waveform, c->samples, c->pre_tanh,
                              DTS_TOLERANCE), "%s", what);
    rc = wavegen_forward(pool, wg, c->quiet_vocoder_in, n, n, ws, samples, pre, err, sizeof err);
    CHECK(rc == 0, "%s: %s", name, err);
    snprintf(what, sizeof what, "%s quiet vocoder before tanh", name);
    CHECK(dts_within(what, pre, c->quiet_pre_tanh, c->samples, DTS_TOLERANCE), "%s", what);
    snprintf(what, sizeof what, "%s quiet waveform", name);
    CHECK(dts_within(what, samples, c->quiet_waveform, c->samples, DTS_TOLERANCE), "%s", what);
    free(samples);
    free(pre);
}

/* Chunks of `chunk` frames with `context` frames each side, against the whole decode: the
 * values before the tanh, and the waveform of the quiet input. */
static void check_chunks(nn_pool *pool, const wavegen *wg, wavegen_workspace *ws,
                         const dts_case *c, size_t chunk, size_t context)
{
    size_t n = c->n_semantic;
    float *whole = calloc(c->samples, sizeof(float)), *pre = calloc(c->samples, sizeof(float));
    float *chunked = calloc(c->samples, sizeof(float));
    float *chunked_pre = calloc(c->samples, sizeof(float));
    char err[512] = "", what[128];
    for (int quiet = 0; quiet <= 1; quiet++) {
        const float *latent = quiet ? c->quiet_vocoder_in : c->vocoder_in;
        CHECK(wavegen_forward(pool, wg, latent, n, n, ws, whole, pre, err, sizeof err) == 0,
              "%s", err);
        bool ok = true;
        for (size_t b = 0; b < n && ok; b += chunk) {
            size_t e = b + chunk < n ? b + chunk : n;
            ok = wavegen_forward_range(pool, wg, latent, n, n, b, e, context, ws,
                                       chunked + b * wg->hop, chunked_pre + b * wg->hop, err,
                                       sizeof err) == 0;
        }
        CHECK(ok, "chunked decode failed: %s", err);
        if (quiet) {
            snprintf(what, sizeof what, "quiet waveform, chunks of %zu, context %zu, vs whole",
                     chunk, context);
            CHECK(dts_within(what, chunked, whole, c->samples, DTS_TOLERANCE), "%s", what);
        } else {
            snprintf(what, sizeof what, "before tanh, chunks of %zu, context %zu, vs whole",
                     chunk, context);
            CHECK(dts_within(what, chunked_pre, pre, c->samples, DTS_TOLERANCE), "%s", what);
        }
    }
    free(whole);
    free(pre);
    free(chunked);
    free(chunked_pre);
}

/* Without enough context the chunk edges must differ: the check above can fail. */
static void check_short_context_differs(nn_pool *pool, const wavegen *wg, wavegen_workspace *ws,
                                        const dts_case *c)
{
    size_t n = c->n_semantic;
    size_t samples = 20 * wg->hop;
    float *whole = calloc(c->samples, sizeof(float)), *part = calloc(samples, sizeof(float));
    float *pre = calloc(c->samples, sizeof(float)), *part_pre = calloc(c->samples, sizeof(float));
    char err[512];
    wavegen_forward(pool, wg, c->vocoder_in, n, n, ws, whole, pre, err, sizeof err);
    /* frames 20..40 with no context, before the tanh (compare the range pre-tanh) */
    float *latent = malloc(wg->in_channels * 20 * sizeof(float));
    for (size_t ch = 0; ch < wg->in_channels; ch++)
        memcpy(latent + ch * 20, c->vocoder_in + ch * n + 20, 20 * sizeof(float));
    wavegen_forward(pool, wg, latent, 20, 20, ws, part, part_pre, err, sizeof err);
    double e = dts_range_error(part_pre, pre + 20 * wg->hop, samples);
    printf("%s chunk without context differs from the whole decode by %.3g of the range\n",
           e > DTS_TOLERANCE ? "ok  " : "FAIL", e);
    CHECK(e > DTS_TOLERANCE, "no-context chunk equals the whole decode: the chunk test is blind");
    free(latent);
    free(whole);
    free(part);
    free(pre);
    free(part_pre);
}

int main(void)
{
    const char *model_dir = dts_tiny_model();
    if (!model_dir)
        return 1;
    char err[512];
    wavegen wg;
    if (wavegen_load(&wg, model_dir, err, sizeof err)) {
        printf("FAIL load: %s\n", err);
        return 1;
    }
    nn_pool *pool = nn_pool_create(2, err, sizeof err);
    wavegen_workspace ws = {0};
    for (size_t i = 0; i < dts_case_count; i++) {
        dts_case c;
        if (!dts_case_load(&c, dts_cases[i])) {
            CHECK(0, "case %s", dts_cases[i]);
            continue;
        }
        check_reference(pool, &wg, &ws, &c, dts_cases[i]);
        dts_case_free(&c);
    }

    size_t before = 0, after = 0;
    CHECK(wavegen_receptive_field(pool, &wg, 40, &before, &after, err, sizeof err) == 0, "%s",
          err);
    size_t field = before > after ? before : after;
    printf("receptive field: a latent frame reaches %zu frames back and %zu forward\n", before,
           after);
    CHECK(field > 0 && field < 40, "receptive field %zu out of the probed span", field);

    dts_case medium;
    if (dts_case_load(&medium, "medium")) {
        static const size_t chunks[] = {1, 7, 16, 25, 59};
        for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++)
            check_chunks(pool, &wg, &ws, &medium, chunks[i], field);
        check_chunks(pool, &wg, &ws, &medium, 10, field + 5);
        check_short_context_differs(pool, &wg, &ws, &medium);
        dts_case_free(&medium);
    } else {
        CHECK(0, "case medium");
    }
    /* bf16 convolutions: the same model at bf16 precision */
    if (wavegen_use_bf16(&wg, err, sizeof err) == 0) {
        for (size_t i = 0; i < dts_case_count; i++) {
            dts_case c;
            if (!dts_case_load(&c, dts_cases[i]))
                continue;
            size_t n = c.n_semantic;
            float *samples = calloc(c.samples, sizeof(float));
            float *pre = calloc(c.samples, sizeof(float));
            char what[128];
            CHECK(wavegen_forward(pool, &wg, c.vocoder_in, n, n, &ws, samples, pre, err,
                                  sizeof err) == 0, "%s", err);
            /* Against the same computation in torch (bf16-rounded Conv1d weights and inputs):
             * where an activation sits on a bf16 rounding boundary, f32 and float64 sums may
             * round it apart, and the random model amplifies every such flip (to 1-3 % RMS on
             * the longer cases). One code is short enough for none to occur, so it is held to
             * 1e-4: that checks the kernels; the others are held to what bf16 costs against
             * the exact result (5-7 % RMS on this model), which a broken kernel far exceeds. */
            double rms = rms_relative_error(pre, c.pre_tanh, c.samples);
            double vs_torch = dts_range_error(pre, c.bf16_pre_tanh, c.samples);
            bool one = strcmp(dts_cases[i], "one_code") == 0;
            bool ok = rms <= WAVEGEN_BF16_RMS_TOLERANCE && (!one || vs_torch <= DTS_TOLERANCE);
            printf("%s %s bf16 before tanh: RMS error %.3g of the RMS vs float64 (limit %.0e), "
                   "max %.3g of the range vs torch bf16%s\n", ok ? "ok  " : "FAIL",
                   dts_cases[i], rms, WAVEGEN_BF16_RMS_TOLERANCE, vs_torch,
                   one ? " (limit 1e-04)" : "");
            CHECK(ok, "%s bf16", dts_cases[i]);
            (void)what;
            free(samples);
            free(pre);
            dts_case_free(&c);
        }
    } else {
        printf("bf16 not checked: %s\n", err);
    }
    char missing[512] = "";
    wavegen none;
    CHECK(wavegen_load(&none, "/nonexistent-model", missing, sizeof missing) == -1 &&
              strstr(missing, "/nonexistent-model"), "missing model not reported: %s", missing);
    wavegen_workspace_free(&ws);
    nn_pool_destroy(pool);
    wavegen_free(&wg);
    printf("%s\n", failures ? "FAILED" : "all passed");
    return failures ? 1 : 0;
}
