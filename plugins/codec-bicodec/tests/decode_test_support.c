/* Tiny model, reference dumps and tolerance checks for the decode-direction tests. */
#define _XOPEN_SOURCE 700
#include "decode_test_support.h"

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <spark/nn/spark_model.h>
#include <spark/nn/tensor_file.h>

const char *const dts_cases[] = {"one_code", "short", "medium", "edge_codes"};
const size_t dts_case_count = sizeof dts_cases / sizeof dts_cases[0];

static char model_dir[256];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_model(void)
{
    if (model_dir[0])
        nftw(model_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *dts_tiny_model(void)
{
    if (model_dir[0])
        return model_dir;
    const char *tmp = getenv("TMPDIR");
    snprintf(model_dir, sizeof model_dir, "%s/bicodec-decode-XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp(model_dir)) {
        perror("mkdtemp");
        model_dir[0] = '\0';
        return NULL;
    }
    atexit(remove_model);
    nn_spark_preset preset;
    char *error = NULL;
    if (!nn_spark_preset_get("tiny", &preset) ||
        nn_spark_synth(model_dir, &preset, 0, NULL, &error) != 0) {
        fprintf(stderr, "cannot write the tiny model: %s\n", error ? error : "no preset");
        free(error);
        return NULL;
    }
    return model_dir;
}

static void *copy_tensor(const nn_tensor_file *f, const char *name, nn_dtype dtype,
                         uint32_t ndim, int64_t *shape)
{
    const nn_tensor_view *v = nn_tensor_file_find(f, name);
    if (!v || v->dtype != dtype || v->ndim != ndim || !v->contiguous) {
        fprintf(stderr, "%s: tensor %s missing or not %s with %u dims\n",
                nn_tensor_file_path(f), name, nn_dtype_name(dtype), ndim);
        return NULL;
    }
    for (uint32_t i = 0; i < ndim; i++)
        shape[i] = v->shape[i];
    size_t bytes = nn_tensor_elements(v) * nn_dtype_size(dtype);
    void *out = malloc(bytes ? bytes : 1);
    if (out)
        memcpy(out, v->data, bytes);
    return out;
}

static int32_t *codes(const nn_tensor_file *f, const char *name, size_t *n)
{
    int64_t shape[1];
    int64_t *wide = copy_tensor(f, name, NN_I64, 1, shape);
    if (!wide)
        return NULL;
    int32_t *out = malloc((size_t)(shape[0] ? shape[0] : 1) * sizeof(int32_t));
    for (int64_t i = 0; out && i < shape[0]; i++)
        out[i] = (int32_t)wide[i];
    free(wide);
    *n = (size_t)shape[0];
    return out;
}

bool dts_case_load(dts_case *c, const char *name)
{
    memset(c, 0, sizeof *c);
    const char *src = getenv("SPARK_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/reference/data/bicodec_decode/%s.safetensors",
             src ? src : ".", name);
    char *error = NULL;
    nn_tensor_file *f = nn_tensor_file_open(path, &error);
    if (!f) {
        fprintf(stderr, "%s\n", error ? error : path);
        free(error);
        return false;
    }
    int64_t s1[1], s2[2], z[2], p[2], v[2], s3[1];
    c->semantic = codes(f, "semantic_codes", &c->n_semantic);
    c->global = codes(f, "global_codes", &c->n_global);
    c->d_vector = copy_tensor(f, "d_vector", NN_F32, 1, s1);
    c->zq = copy_tensor(f, "zq", NN_F32, 2, z);
    c->prenet = copy_tensor(f, "prenet", NN_F32, 2, p);
    c->vocoder_in = copy_tensor(f, "vocoder_in", NN_F32, 2, v);
    c->pre_tanh = copy_tensor(f, "pre_tanh", NN_F32, 1, s3);
    c->waveform = copy_tensor(f, "waveform", NN_F32, 1, s2);
    int64_t q1[2], q2[1], q3[1];
    c->quiet_vocoder_in = copy_tensor(f, "quiet_vocoder_in", NN_F32, 2, q1);
    c->quiet_pre_tanh = copy_tensor(f, "quiet_pre_tanh", NN_F32, 1, q2);
    c->quiet_waveform = copy_tensor(f, "quiet_waveform", NN_F32, 1, q3);
    int64_t q4[1];
    c->bf16_pre_tanh = copy_tensor(f, "bf16_pre_tanh", NN_F32, 1, q4);
    nn_tensor_file_close(f);
    bool ok = c->semantic && c->global && c->d_vector && c->zq && c->prenet && c->vocoder_in &&
              c->pre_tanh && c->waveform && c->quiet_vocoder_in && c->quiet_pre_tanh &&
              c->quiet_waveform && c->bf16_pre_tanh;
    if (ok) {
        c->d_dim = (size_t)s1[0];
        c->channels = (size_t)z[1] == c->n_semantic ? (size_t)z[0] : 0;
        c->samples = (size_t)s2[0];
        ok = c->channels > 0 && (size_t)p[0] == c->channels && (size_t)v[0] == c->channels &&
             (size_t)s3[0] == c->samples && q1[0] == v[0] && q1[1] == v[1] &&
             (size_t)q2[0] == c->samples && (size_t)q3[0] == c->samples &&
             (size_t)q4[0] == c->samples;
        if (!ok)
            fprintf(stderr, "%s: inconsistent shapes\n", path);
    }
    if (!ok)
        dts_case_free(c);
    return ok;
}

void dts_case_free(dts_case *c)
{
    free(c->semantic);
    free(c->global);
    free(c->d_vector);
    free(c->zq);
    free(c->prenet);
    free(c->vocoder_in);
    free(c->pre_tanh);
    free(c->waveform);
    free(c->quiet_vocoder_in);
    free(c->quiet_pre_tanh);
    free(c->quiet_waveform);
    free(c->bf16_pre_tanh);
    memset(c, 0, sizeof *c);
}

static double range_of(const float *x, size_t n)
{
    float lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    return (double)hi - (double)lo;
}

static double max_abs_error(const float *got, const float *want, size_t n)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (!(d <= worst)) /* NaN counts as the worst */
            worst = isnan(d) ? INFINITY : d;
    }
    return worst;
}

double dts_range_error(const float *got, const float *want, size_t n)
{
    double range = range_of(want, n), worst = max_abs_error(got, want, n);
    return range > 0.0 ? worst / range : worst;
}

bool dts_within_range_of(const char *what, const float *got, const float *want, size_t n,
                         const float *range_tensor, double tol)
{
    double range = range_of(range_tensor, n), worst = max_abs_error(got, want, n);
    double e = range > 0.0 ? worst / range : worst;
    bool ok = e <= tol;
    printf("%s %s: max error %.3g = %.3g of the range before the tanh (limit %.0e)\n",
           ok ? "ok  " : "FAIL", what, worst, e, tol);
    return ok;
}

bool dts_within(const char *what, const float *got, const float *want, size_t n, double tol)
{
    double e = dts_range_error(got, want, n);
    bool ok = e <= tol;
    printf("%s %s: error %.3g of the range (limit %.0e)\n", ok ? "ok  " : "FAIL", what, e, tol);
    return ok;
}
