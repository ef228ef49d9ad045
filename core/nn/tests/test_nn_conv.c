/* The layer kernels of spark/nn/conv.h against torch (tests/reference/data/bicodec_decode/
 * layers.safetensors, from tests/reference/bicodec_decode_reference.py, float64 results):
 * convolutions with stride, dilation, padding, groups and depthwise, weight norm, both layouts,
 * the accumulating form; transposed convolutions with weight norm per input channel and
 * output padding; LayerNorm, GELU, Snake; on 1 and 2 threads, with leading dimensions wider
 * than the rows. And the refusals of bad shapes. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spark/nn/conv.h"
#include "spark/nn/pool.h"
#include "spark/nn/tensor_file.h"

static int failures;
static const nn_tensor_file *layers;

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                    \
            printf(__VA_ARGS__);                                                           \
            printf("\n");                                                                  \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

/* A tensor of the dump and its shape; NULL when absent, which fails the test unless the
 * tensor is optional (a bias, a weight_g). */
static const float *find(const char *case_name, const char *what, int64_t *shape, bool optional)
{
    char name[128];
    snprintf(name, sizeof name, "%s.%s", case_name, what);
    const nn_tensor_view *v = nn_tensor_file_find(layers, name);
    if (!v || v->dtype != NN_F32 || (uintptr_t)v->data % sizeof(float)) {
        /* safetensors need not align data; these files are written aligned, say so if not */
        if (!optional || v)
            CHECK(0, "tensor %s missing, not F32 or misaligned", name);
        return NULL;
    }
    for (uint32_t i = 0; shape && i < v->ndim; i++)
        shape[i] = v->shape[i];
    return v->data;
}

static const float *get(const char *case_name, const char *what, int64_t *shape)
{
    return find(case_name, what, shape, false);
}

static const float *get_optional(const char *case_name, const char *what, int64_t *shape)
{
    return find(case_name, what, shape, true);
}

static double range_error(const float *got, size_t ldg, const float *want, size_t rows,
                          size_t cols)
{
    float lo = INFINITY, hi = -INFINITY;
    double worst = 0.0;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            float w = want[r * cols + c];
            lo = w < lo ? w : lo;
            hi = w > hi ? w : hi;
            double d = fabs((double)got[r * ldg + c] - w);
            worst = d > worst || isnan(d) ? (isnan(d) ? INFINITY : d) : worst;
        }
    return worst / ((double)hi - lo);
}

static void expect_close(const char *what, const float *got, size_t ldg, const float *want,
                         size_t rows, size_t cols)
{
    double e = range_error(got, ldg, want, rows, cols);
    bool ok = e <= 1e-5;
    printf("%s %s: %.3g of the range\n", ok ? "ok  " : "FAIL", what, e);
    if (!ok)
        failures++;
}

static void check_conv(nn_pool *pool, const char *name, size_t stride, size_t dilation,
                       size_t padding, size_t groups)
{
    int64_t ws[3] = {0}, xs[2] = {0}, ys[2] = {0};
    const float *g = get_optional(name, "weight_g", NULL);
    const float *w = g ? get(name, "weight_v", ws) : get(name, "weight", ws);
    const float *b = get_optional(name, "bias", NULL), *x = get(name, "x", xs);
    const float *y = get(name, "y", ys);
    if (!w || !x || !y)
        return;
    nn_conv1d_shape shape = {.in_channels = (size_t)xs[0], .out_channels = (size_t)ws[0],
                             .kernel = (size_t)ws[2], .stride = stride, .dilation = dilation,
                             .padding = padding, .groups = groups};
    nn_conv1d conv;
    char err[256];
    int rc = g ? nn_conv1d_init_weight_norm(&conv, &shape, g, w, b, err, sizeof err)
               : nn_conv1d_init(&conv, &shape, w, b, err, sizeof err);
    CHECK(rc == 0, "%s: %s", name, err);
    if (rc)
        return;
    size_t t_in = (size_t)xs[1], t_out = nn_conv1d_out_len(&conv, t_in), cout = (size_t)ys[0];
    CHECK(t_out == (size_t)ys[1], "%s: out length %zu, torch %lld", name, t_out,
          (long long)ys[1]);
    /* leading dimensions wider than the rows: x and y are views into wider buffers */
    size_t ldx = t_in + 5, ldy = t_out + 3;
    float *xw = calloc(shape.in_channels * ldx, sizeof(float));
    float *yw = calloc(cout * ldy, sizeof(float));
    float *scratch = calloc(nn_conv1d_scratch_floats(&conv, t_in) + 1, sizeof(float));
    for (size_t c = 0; c < shape.in_channels; c++)
        memcpy(xw + c * ldx, x + c * t_in, t_in * sizeof(float));
    nn_conv1d_forward(pool, &conv, xw, ldx, t_in, yw, ldy, scratch);
    char what[128];
    snprintf(what, sizeof what, "%s (channel-major)", name);
    expect_close(what, yw, ldy, y, cout, t_out);
    /* y += conv(x) onto y = 1: the accumulating form */
    for (size_t i = 0; i < cout * ldy; i++)
        yw[i] = 1.0f;
    nn_conv1d_forward_add(pool, &conv, xw, ldx, t_in, yw, ldy, scratch);
    for (size_t i = 0; i < cout * ldy; i++)
        yw[i] -= 1.0f;
    snprintf(what, sizeof what, "%s (accumulating)", name);
    expect_close(what, yw, ldy, y, cout, t_out);
    /* time-major forms: dense stride 1, and depthwise */
    float *xt = calloc(t_in * (shape.in_channels + 2), sizeof(float));
    float *yt = calloc(t_out * (cout + 1), sizeof(float)), *want_t = calloc(t_out * cout, sizeof(float));
    nn_transpose_f32(x, t_in, shape.in_channels, t_in, xt, shape.in_channels + 2);
    nn_transpose_f32(y, t_out, cout, t_out, want_t, cout);
    if (groups <= 1 && stride == 1) {
        CHECK(nn_conv1d_forward_tc(pool, &conv, xt, shape.in_channels + 2, t_in, yt, cout + 1,
                                   scratch) == 0, "%s: forward_tc refused", name);
        snprintf(what, sizeof what, "%s (time-major)", name);
        expect_close(what, yt, cout + 1, want_t, t_out, cout);
    } else {
        CHECK(nn_conv1d_forward_tc(pool, &conv, xt, shape.in_channels, t_in, yt, cout,
                                   scratch) == -1, "%s: forward_tc accepted a strided or "
                                   "grouped layer", name);
    }
    if (groups <= 1 && stride == 1) {
        /* the bf16 form: one layer at bf16 precision (8 significant bits in and out of each
         * product, sums in f32) */
        if (nn_conv1d_use_bf16(&conv, err, sizeof err) == 0) {
            nn_conv1d_forward(pool, &conv, xw, ldx, t_in, yw, ldy, scratch);
            double e = range_error(yw, ldy, y, cout, t_out);
            printf("%s %s (bf16): %.3g of the range (limit 1e-2)\n", e <= 1e-2 ? "ok  " : "FAIL",
                   name, e);
            CHECK(e <= 1e-2, "%s bf16", name);
            CHECK(e > 0, "%s bf16 equals f32: not run in bf16", name);
        } else {
            CHECK(!nn_conv_bf16_supported(), "%s: bf16 refused on a bf16 CPU: %s", name, err);
            printf("bf16 not checked: %s\n", err);
        }
    }
    if (conv.depthwise) {
        CHECK(nn_depthwise_conv1d_tc(pool, &conv, xt, shape.in_channels + 2, t_in, yt, cout + 1)
                  == 0, "%s: depthwise_tc refused", name);
        snprintf(what, sizeof what, "%s (depthwise, time-major)", name);
        expect_close(what, yt, cout + 1, want_t, t_out, cout);
    }
    free(xt);
    free(yt);
    free(want_t);
    free(xw);
    free(yw);
    free(scratch);
    nn_conv1d_free(&conv);
}

static void check_transposed(nn_pool *pool, const char *name, size_t stride, size_t padding,
                             size_t output_padding)
{
    int64_t ws[3] = {0}, xs[2] = {0}, ys[2] = {0};
    const float *g = get(name, "weight_g", NULL), *v = get(name, "weight_v", ws);
    const float *b = get(name, "bias", NULL), *x = get(name, "x", xs), *y = get(name, "y", ys);
    if (!g || !v || !x || !y)
        return;
    nn_conv_transpose1d conv;
    char err[256];
    int rc = nn_conv_transpose1d_init_weight_norm(&conv, (size_t)ws[0], (size_t)ws[1],
                                                  (size_t)ws[2], stride, padding, output_padding,
                                                  g, v, b, err, sizeof err);
    CHECK(rc == 0, "%s: %s", name, err);
    if (rc)
        return;
    size_t t_in = (size_t)xs[1], t_out = nn_conv_transpose1d_out_len(&conv, t_in);
    CHECK(t_out == (size_t)ys[1], "%s: out length %zu, torch %lld", name, t_out,
          (long long)ys[1]);
    size_t ldy = t_out + 2;
    float *yw = calloc((size_t)ys[0] * ldy, sizeof(float));
    float *scratch = calloc(nn_conv_transpose1d_scratch_floats(&conv, t_in), sizeof(float));
    nn_conv_transpose1d_forward(pool, &conv, x, t_in, t_in, yw, ldy, scratch);
    expect_close(name, yw, ldy, y, (size_t)ys[0], t_out);
    free(yw);
    free(scratch);
    nn_conv_transpose1d_free(&conv);
}

static void check_elementwise(nn_pool *pool)
{
    int64_t s[2] = {0};
    const float *x = get("layer_norm", "x", s), *w = get("layer_norm", "weight", NULL);
    const float *b = get("layer_norm", "bias", NULL), *y = get("layer_norm", "y", NULL);
    if (x && w && b && y) {
        size_t rows = (size_t)s[0], dim = (size_t)s[1];
        float *out = calloc(rows * dim, sizeof(float));
        nn_layer_norm_f32(pool, x, dim, rows, dim, w, b, 1e-6f, out, dim);
        expect_close("layer_norm", out, dim, y, rows, dim);
        free(out);
    }
    x = get("gelu", "x", s);
    y = get("gelu", "y", NULL);
    if (x && y) {
        float *out = malloc((size_t)s[0] * sizeof(float));
        memcpy(out, x, (size_t)s[0] * sizeof(float));
        nn_gelu_f32(pool, out, (size_t)s[0]);
        expect_close("gelu", out, (size_t)s[0], y, 1, (size_t)s[0]);
        free(out);
    }
    const float *alpha = get("snake", "alpha", NULL);
    x = get("snake", "x", s);
    y = get("snake", "y", NULL);
    if (alpha && x && y) {
        size_t ch = (size_t)s[0], t = (size_t)s[1];
        float *out = calloc(ch * (t + 4), sizeof(float));
        nn_snake_f32(pool, x, t, ch, t, alpha, out, t + 4);
        expect_close("snake", out, t + 4, y, ch, t);
        free(out);
    }
}

static void check_refusals(void)
{
    char err[256] = "";
    nn_conv1d conv;
    float w[64] = {0};
    nn_conv1d_shape bad = {.in_channels = 6, .out_channels = 4, .kernel = 3, .groups = 4};
    CHECK(nn_conv1d_init(&conv, &bad, w, NULL, err, sizeof err) == -1 &&
              strstr(err, "groups 4 must divide in 6"), "groups refused: %s", err);
    nn_conv1d_shape zero = {.in_channels = 0, .out_channels = 4, .kernel = 3};
    CHECK(nn_conv1d_init(&conv, &zero, w, NULL, err, sizeof err) == -1 &&
              strstr(err, "zero channels"), "zero channels refused: %s", err);
    nn_conv1d_shape ok = {.in_channels = 2, .out_channels = 2, .kernel = 5, .dilation = 2};
    CHECK(nn_conv1d_init(&conv, &ok, w, NULL, err, sizeof err) == 0, "%s", err);
    CHECK(nn_conv1d_out_len(&conv, 8) == 0 && nn_conv1d_out_len(&conv, 9) == 1,
          "a dilated kernel longer than the input gives no frames");
    nn_conv1d_free(&conv);
    nn_conv_transpose1d convt;
    CHECK(nn_conv_transpose1d_init(&convt, 2, 2, 3, 0, 0, 0, w, NULL, err, sizeof err) == -1 &&
              strstr(err, "stride 0"), "zero stride refused: %s", err);
}

int main(void)
{
    const char *src = getenv("SPARK_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/reference/data/bicodec_decode/layers.safetensors",
             src ? src : ".");
    char *error = NULL;
    nn_tensor_file *file = nn_tensor_file_open(path, &error);
    if (!file) {
        printf("FAIL %s\n", error ? error : path);
        free(error);
        return 1;
    }
    layers = file;
    char err[128];
    for (int threads = 1; threads <= 2; threads++) {
        nn_pool *pool = nn_pool_create(threads, err, sizeof err);
        printf("-- %d thread(s)\n", threads);
        check_conv(pool, "conv_dilated", 1, 2, 4, 1);
        check_conv(pool, "conv_strided", 5, 1, 0, 1);
        check_conv(pool, "conv_depthwise", 1, 1, 3, 12);
        check_conv(pool, "conv_grouped", 2, 1, 1, 4);
        check_conv(pool, "conv_weight_norm", 1, 1, 1, 1);
        check_transposed(pool, "convt_wavegen", 5, 3, 0);
        check_transposed(pool, "convt_output_padding", 3, 1, 1);
        check_elementwise(pool);
        nn_pool_destroy(pool);
    }
    check_refusals();
    nn_tensor_file_close(file);
    printf("%s\n", failures ? "FAILED" : "all passed");
    return failures ? 1 : 0;
}
