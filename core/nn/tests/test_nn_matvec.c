/* Weight matrices and the matvec / prefill products, for every weight type on every kernel
 * family this CPU has (scalar, avx2, avx512), against double-precision references computed
 * here from the stored (converted or quantised) weights. The bounds are the rounding-error
 * bounds of the summation, plus, for int8 with NN_INT8_X_Q8 against the unquantised x, the
 * activation rounding of the documented rule (chunks of 32, max-abs / 127, round half to
 * even); against x quantised here by that rule, only the summation bound. */
#define _POSIX_C_SOURCE 200809L /* popen */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "matvec_kernels.h"
#include "spark/nn/matvec.h"
#include "spark/nn/pool.h"

#define U32 (1.0 / 16777216.0) /* f32 unit roundoff, 2^-24 */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static double uniform(void) /* [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 4503599627370496.0 - 1.0;
}

/* Weights with a spread of magnitudes between rows and blocks, a few outliers and zeros. */
static float *random_matrix(size_t rows, size_t cols)
{
    float *m = malloc(rows * cols * sizeof *m);
    for (size_t r = 0; r < rows; r++) {
        double row_scale = pow(10.0, 2.0 * uniform());
        for (size_t c = 0; c < cols; c++) {
            double v = uniform() * row_scale * (c % 97 == 5 ? 20.0 : 1.0);
            m[r * cols + c] = (float)(c % 53 == 7 ? 0.0 : v);
        }
    }
    return m;
}

static float *random_vector(size_t n, double scale)
{
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = (float)(uniform() * scale * (i % 41 == 3 ? 30.0 : 1.0));
    return v;
}

/* The stored value of element (r, c), read straight from the layout matvec.h documents. */
static double stored(const nn_weight *w, size_t r, size_t c)
{
    if (w->type == NN_WEIGHT_F32)
        return ((const float *)w->data)[r * w->stride + c];
    if (w->type == NN_WEIGHT_BF16) {
        uint32_t bits = (uint32_t)((const uint16_t *)w->data)[r * w->stride + c] << 16;
        float f;
        memcpy(&f, &bits, sizeof f);
        return f;
    }
    size_t nblk = (w->cols + w->block - 1) / w->block;
    return (double)((const int8_t *)w->data)[r * w->stride + c] *
           (double)w->scales[r * nblk + c / w->block];
}

/* x as the int8 kernels see it: the test's own statement of the activation rule. */
static void quantised_x(const float *x, size_t n, double *xq, double *half_step)
{
    for (size_t c0 = 0; c0 < n; c0 += 32) {
        size_t c1 = c0 + 32 < n ? c0 + 32 : n;
        float amax = 0.0f;
        for (size_t c = c0; c < c1; c++)
            amax = fmaxf(amax, fabsf(x[c]));
        float inv = amax > 0.0f ? 127.0f / amax : 0.0f, scale = amax / 127.0f;
        for (size_t c = c0; c < c1; c++) {
            xq[c] = (double)nearbyintf(x[c] * inv) * (double)scale;
            half_step[c] = 0.5 * scale * (1.0 + 1e-5);
        }
    }
}

typedef struct reference {
    double y;         /* with x as given */
    double y_xq;      /* with x as the int8 kernels quantise it */
    double magnitude; /* sum |w x| (+ |bias|): scales the summation bound */
    double magnitude_xq; /* the same with x as quantised (bounded by |x| + its half step) */
    double act_bound; /* sum |w| * half a quantisation step of x */
} reference;

static reference reference_row(const nn_weight *w, size_t r, const float *x, const double *xq,
                               const double *half, const float *bias)
{
    reference ref = {0, 0, 0, 0, 0};
    for (size_t c = 0; c < w->cols; c++) {
        double wv = stored(w, r, c);
        ref.y += wv * x[c];
        ref.y_xq += wv * xq[c];
        ref.magnitude += fabs(wv * x[c]);
        ref.magnitude_xq += fabs(wv) * (fabs(x[c]) + half[c]);
        ref.act_bound += fabs(wv) * half[c];
    }
    if (bias) {
        ref.y += bias[r];
        ref.y_xq += bias[r];
        ref.magnitude += fabs(bias[r]);
        ref.magnitude_xq += fabs(bias[r]);
    }
    return ref;
}

/* |y - reference| within the bound for its type; counts failures, prints the first few. */
static int compare(const char *what, const nn_weight *w, const float *x, const float *bias,
                   const int32_t *rows, size_t n_rows, const float *y)
{
    double *xq = malloc(w->cols * sizeof *xq), *half = malloc(w->cols * sizeof *half);
    quantised_x(x, w->cols, xq, half);
    int bad = 0;
    for (size_t i = 0; i < n_rows; i++) {
        size_t r = rows ? (size_t)rows[i] : i;
        reference ref = reference_row(w, r, x, xq, half, bias);
        bool ok;
        double err, bound;
        if (w->type == NN_WEIGHT_INT8 && w->int8_x == NN_INT8_X_Q8) {
            /* the integer chunk dots are exact: only the f32 sums over chunks and blocks round */
            bound = ((double)w->cols / 32.0 + 16.0) * U32 * ref.magnitude_xq + 1e-30;
            err = fabs(y[i] - ref.y_xq);
            ok = err <= bound &&
                 fabs(y[i] - ref.y) <= ref.act_bound + bound;
        } else {
            bound = ((double)w->cols / 4.0 + 16.0) * U32 * ref.magnitude + 1e-30;
            err = fabs(y[i] - ref.y);
            ok = err <= bound;
        }
        if (!ok && bad++ < 3)
            fprintf(stderr, "%s: row %zu: %.9g vs reference %.9g (x-quantised %.9g), bound %.3g\n",
                    what, r, (double)y[i], ref.y, ref.y_xq, bound);
    }
    free(xq);
    free(half);
    return bad;
}

static nn_pool *pools[5];

static const char *isa_names[] = {"scalar", "avx2", "avx512"};

typedef struct shape {
    size_t rows, cols;
} shape;

/* Every product on one weight: full matvec with and without bias, a row subset (unsorted,
 * repeated rows), for 1-4 threads, on the kernel family currently forced. */
static void check_products(const nn_weight *w, const float *x, const float *bias,
                           const char *isa, int max_threads)
{
    float *y = malloc(w->rows * sizeof *y);
    size_t n_sub = w->rows < 300 ? w->rows + 3 : 300;
    int32_t *sub = malloc(n_sub * sizeof *sub);
    for (size_t i = 0; i < n_sub; i++)
        sub[i] = (int32_t)((i * 7919 + (i % 3) * 11) % w->rows);
    float *ys = malloc(n_sub * sizeof *ys);
    char what[160];
    for (int t = 1; t <= max_threads; t++) {
        snprintf(what, sizeof what, "%s %s%s %zux%zu block %zu threads %d", isa,
                 nn_weight_type_name(w->type),
                 w->type == NN_WEIGHT_INT8 && w->int8_x == NN_INT8_X_Q8 ? " (x q8)" : "",
                 w->rows, w->cols, w->block, t);
        for (size_t i = 0; i < w->rows; i++)
            y[i] = NAN;
        nn_matvec(pools[t], w, x, bias, y);
        CHECK_INT_EQ(compare(what, w, x, bias, NULL, w->rows, y), 0);
        nn_matvec(pools[t], w, x, NULL, y);
        CHECK_INT_EQ(compare(what, w, x, NULL, NULL, w->rows, y), 0);
        for (size_t i = 0; i < n_sub; i++)
            ys[i] = NAN;
        nn_matvec_rows(pools[t], w, sub, n_sub, x, ys);
        CHECK_INT_EQ(compare(what, w, x, NULL, sub, n_sub, ys), 0);
    }
    free(y);
    free(sub);
    free(ys);
}

static void test_matvec_all_paths(void)
{
    static const shape shapes[] = {{1, 1}, {1, 17}, {17, 32}, {17, 100}, {5, 64}, {33, 896},
                                   {151, 1000}, {64, 4864}, {7, 200}};
    static const size_t blocks[] = {0, 32, 64, 96, 128};
    for (int isa = NN_ISA_SCALAR; isa <= NN_ISA_AVX512; isa++) {
        if (!nn_matvec_force_isa((nn_isa)isa)) {
            fprintf(stderr,
                    "note: %s is not available (CPU or SPARK_CPU_ISA): its kernels are untested\n",
                    isa_names[isa]);
            continue;
        }
        CHECK_INT_EQ(nn_matvec_isa(), isa);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            size_t rows = shapes[s].rows, cols = shapes[s].cols;
            float *m = random_matrix(rows, cols), *x = random_vector(cols, 2.0),
                  *bias = random_vector(rows, 1.0);
            for (int type = NN_WEIGHT_F32; type <= NN_WEIGHT_INT8; type++) {
                size_t n_blocks = type == NN_WEIGHT_INT8 ? sizeof blocks / sizeof blocks[0] : 1;
                for (size_t b = 0; b < n_blocks; b++) {
                    nn_weight w;
                    char err[256] = "";
                    int rc = nn_weight_from_f32(&w, m, rows, cols, (nn_weight_type)type,
                                                blocks[b], err, sizeof err);
                    CHECK_INT_EQ(rc, 0);
                    if (rc != 0) {
                        fprintf(stderr, "%s\n", err);
                        continue;
                    }
                    CHECK_INT_EQ(w.int8_x, NN_INT8_X_F32); /* the documented default */
                    check_products(&w, x, bias, isa_names[isa], rows * cols > 100000 ? 2 : 4);
                    if (type == NN_WEIGHT_INT8) {
                        w.int8_x = NN_INT8_X_Q8;
                        check_products(&w, x, bias, isa_names[isa], rows * cols > 100000 ? 2 : 4);
                    }
                    nn_weight_free(&w);
                }
            }
            free(m);
            free(x);
            free(bias);
        }
    }
    nn_matvec_force_isa(nn_cpu_isa());
}

/* A vocabulary-sized head: a row subset of 8193 rows out of 151936 (the constrained head). */
static void test_large_head_subset(void)
{
    size_t rows = 151936, cols = 72;
    float *m = random_matrix(rows, cols), *x = random_vector(cols, 1.0);
    int32_t *sub = malloc(8193 * sizeof *sub);
    for (size_t i = 0; i < 8193; i++)
        sub[i] = (int32_t)(151643 + i < rows ? 151643 + i : (i * 104729) % rows);
    float *y = malloc(8193 * sizeof *y);
    for (int isa = NN_ISA_SCALAR; isa <= NN_ISA_AVX512; isa++) {
        if (!nn_matvec_force_isa((nn_isa)isa))
            continue;
        for (int type = NN_WEIGHT_F32; type <= NN_WEIGHT_INT8; type++) {
            nn_weight w;
            char err[256];
            CHECK_INT_EQ(nn_weight_from_f32(&w, m, rows, cols, (nn_weight_type)type, 0, err,
                                            sizeof err), 0);
            nn_matvec_rows(pools[2], &w, sub, 8193, x, y);
            CHECK_INT_EQ(compare("head subset", &w, x, NULL, sub, 8193, y), 0);
            if (type == NN_WEIGHT_INT8) {
                w.int8_x = NN_INT8_X_Q8;
                nn_matvec_rows(pools[2], &w, sub, 8193, x, y);
                CHECK_INT_EQ(compare("head subset (x q8)", &w, x, NULL, sub, 8193, y), 0);
            }
            nn_weight_free(&w);
        }
    }
    nn_matvec_force_isa(nn_cpu_isa());
    free(m);
    free(x);
    free(sub);
    free(y);
}

static void test_matmul_weight_on_isa(void)
{
    static const shape shapes[] = {{1, 7}, {17, 100}, {150, 896}, {300, 129}, {64, 1000}};
    static const size_t ns[] = {1, 3, 37};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        size_t rows = shapes[s].rows, cols = shapes[s].cols;
        float *m = random_matrix(rows, cols), *bias = random_vector(rows, 1.0);
        for (int type = NN_WEIGHT_F32; type <= NN_WEIGHT_INT8; type++) {
            nn_weight w;
            char err[256];
            CHECK_INT_EQ(nn_weight_from_f32(&w, m, rows, cols, (nn_weight_type)type,
                                            type == NN_WEIGHT_INT8 ? 32 : 0, err, sizeof err),
                         0);
            /* prefill never rounds x, whatever the weight's decode setting */
            for (size_t k = 0; k < 2 * sizeof ns / sizeof ns[0]; k++) {
                size_t n = ns[k % 3];
                if (k >= 3 && type != NN_WEIGHT_INT8)
                    break;
                w.int8_x = k >= 3 ? NN_INT8_X_Q8 : NN_INT8_X_F32;
                float *x = random_vector(n * cols, 1.0), *y = malloc(n * rows * sizeof *y);
                for (int t = 1; t <= 3; t += 2) {
                    nn_matmul_weight(pools[t], &w, n, x, k % 3 == 1 ? NULL : bias, y);
                    int bad = 0;
                    for (size_t i = 0; i < n; i++) {
                        for (size_t r = 0; r < rows; r++) {
                            double ref = k % 3 == 1 ? 0.0 : bias[r], mag = fabs(ref);
                            for (size_t c = 0; c < cols; c++) {
                                ref += stored(&w, r, c) * x[i * cols + c];
                                mag += fabs(stored(&w, r, c) * x[i * cols + c]);
                            }
                            double bound = ((double)cols + 16.0) * U32 * mag + 1e-30;
                            if (!(fabs(y[i * rows + r] - ref) <= bound) && bad++ < 3)
                                fprintf(stderr,
                                        "matmul %s %s %zux%zu n %zu: [%zu][%zu] %.9g vs %.9g\n",
                                        nn_isa_name(nn_matvec_isa()),
                                        nn_weight_type_name(w.type), rows, cols, n, i, r,
                                        (double)y[i * rows + r], ref);
                        }
                    }
                    CHECK_INT_EQ(bad, 0);
                }
                free(x);
                free(y);
            }
            nn_weight_free(&w);
        }
        free(m);
        free(bias);
    }
}

/* Prefill products (f32 by OpenBLAS directly, bf16 and int8 through tiles widened by the
 * kernels of each family), for 1 and 3 threads, with and without bias. */
static void test_matmul_weight(void)
{
    for (int isa = NN_ISA_SCALAR; isa <= NN_ISA_AVX512; isa++)
        if (nn_matvec_force_isa((nn_isa)isa))
            test_matmul_weight_on_isa();
    nn_matvec_force_isa(nn_cpu_isa());
}

/* Layout: 64-byte aligned data, rows padded to 64 bytes with zeros, the byte count. */
static void test_layout(void)
{
    float *m = random_matrix(3, 70);
    static const size_t sizes[] = {4, 2, 1};
    for (int type = NN_WEIGHT_F32; type <= NN_WEIGHT_INT8; type++) {
        nn_weight w;
        char err[256];
        CHECK_INT_EQ(nn_weight_from_f32(&w, m, 3, 70, (nn_weight_type)type, 0, err, sizeof err), 0);
        size_t es = sizes[type];
        CHECK_INT_EQ((uintptr_t)w.data % 64, 0);
        CHECK_INT_EQ(w.stride * es % 64, 0);
        CHECK(w.stride >= 70 && w.stride * es < 70 * es + 64);
        const unsigned char *bytes = w.data;
        int nonzero_pad = 0;
        for (size_t r = 0; r < 3; r++)
            for (size_t b = 70 * es; b < w.stride * es; b++)
                nonzero_pad += bytes[r * w.stride * es + b] != 0;
        CHECK_INT_EQ(nonzero_pad, 0);
        CHECK_INT_EQ(nn_weight_bytes(&w), 3 * w.stride * es + (type == NN_WEIGHT_INT8 ? 12 : 0));
        float row[70];
        nn_weight_row_f32(&w, 1, row);
        int wrong = 0;
        for (size_t c = 0; c < 70; c++)
            wrong += row[c] != (float)stored(&w, 1, c);
        CHECK_INT_EQ(wrong, 0);
        nn_weight_free(&w);
    }
    free(m);
}

/* int8: scale = max|w| / 127 per block, the largest element maps to +-127, and every element
 * comes back within half a step: |w - q * scale| <= scale / 2 (up to f32 rounding). */
static void test_int8_error_bound(void)
{
    size_t rows = 40, cols = 300;
    float *m = random_matrix(rows, cols);
    static const size_t blocks[] = {0, 32, 64, 128};
    for (size_t b = 0; b < 4; b++) {
        nn_weight w;
        char err[256];
        CHECK_INT_EQ(nn_weight_from_f32(&w, m, rows, cols, NN_WEIGHT_INT8, blocks[b], err,
                                        sizeof err), 0);
        size_t block = blocks[b] ? blocks[b] : cols, nblk = (cols + block - 1) / block;
        CHECK_INT_EQ(w.block, block);
        CHECK_INT_EQ(nn_weight_blocks_per_row(&w), nblk);
        int bad = 0;
        double worst = 0.0;
        for (size_t r = 0; r < rows; r++) {
            for (size_t k = 0; k < nblk; k++) {
                size_t c0 = k * block, c1 = c0 + block < cols ? c0 + block : cols;
                double amax = 0.0;
                int qmax = 0;
                for (size_t c = c0; c < c1; c++) {
                    amax = fmax(amax, fabs(m[r * cols + c]));
                    int q = ((const int8_t *)w.data)[r * w.stride + c];
                    qmax = abs(q) > qmax ? abs(q) : qmax;
                }
                double scale = w.scales[r * nblk + k];
                bad += fabs(scale - amax / 127.0) > 1e-6 * amax / 127.0;
                bad += qmax != 127;
                for (size_t c = c0; c < c1; c++) {
                    double e = fabs(m[r * cols + c] - stored(&w, r, c));
                    worst = fmax(worst, e / scale);
                    bad += e > scale * (0.5 + 1e-5);
                }
            }
        }
        CHECK_INT_EQ(bad, 0);
        fprintf(stderr, "int8 block %zu: worst |w - q*scale| = %.6f scale\n", block, worst);
        nn_weight_free(&w);
    }
    /* round half to even: 0.5 and 1.5 steps go to 0 and 2 */
    float halves[4] = {127.0f, 0.5f, 1.5f, -2.5f};
    int8_t q[4];
    CHECK(nn_int8_quantize(halves, 4, q) == 1.0f);
    CHECK_INT_EQ(q[0], 127);
    CHECK_INT_EQ(q[1], 0);
    CHECK_INT_EQ(q[2], 2);
    CHECK_INT_EQ(q[3], -2);
    float zeros[3] = {0, 0, 0};
    CHECK(nn_int8_quantize(zeros, 3, q) == 0.0f);
    CHECK_INT_EQ(q[0] | q[1] | q[2], 0);
    free(m);
}

static uint32_t bits_of(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

/* bf16: the nearest bf16, ties to even, NaN kept, overflow to infinity. */
static void test_bf16_rounding(void)
{
    int bad = 0;
    for (int i = 0; i < 200000; i++) {
        float f = (float)(uniform() * pow(2.0, 40.0 * uniform()));
        uint16_t h = nn_bf16_from_f32(f);
        double d = fabs((double)f - nn_bf16_to_f32(h));
        double dn = fabs((double)f - nn_bf16_to_f32((uint16_t)(h + 1)));
        double dp = fabs((double)f - nn_bf16_to_f32((uint16_t)(h - 1)));
        bad += d > dn || d > dp || (d == dn && (h & 1)) || (d == dp && (h & 1));
    }
    CHECK_INT_EQ(bad, 0);
    /* 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: to even (1); 1 + 3 * 2^-8 goes up */
    CHECK_INT_EQ(nn_bf16_from_f32(1.0f + 1.0f / 256.0f), 0x3f80);
    CHECK_INT_EQ(nn_bf16_from_f32(1.0f + 3.0f / 256.0f), 0x3f82);
    CHECK_INT_EQ(nn_bf16_from_f32(-2.0f), 0xc000);
    CHECK(isnan(nn_bf16_to_f32(nn_bf16_from_f32(NAN))));
    uint32_t low_nan = 0x7f800001u; /* a NaN whose payload sits only in the low 16 bits */
    float ln;
    memcpy(&ln, &low_nan, sizeof ln);
    CHECK(isnan(nn_bf16_to_f32(nn_bf16_from_f32(ln))));
    CHECK(isinf(nn_bf16_to_f32(nn_bf16_from_f32(INFINITY))));
    CHECK(nn_bf16_to_f32(nn_bf16_from_f32(3.4028235e38f)) == INFINITY);
    CHECK_INT_EQ(bits_of(nn_bf16_to_f32(nn_bf16_from_f32(-0.0f))), 0x80000000u);
}

/* nn_weight_alloc + the caller filling data and scales (a cached conversion read back) gives
 * the same products as the conversion itself. */
static void test_alloc_and_fill(void)
{
    size_t rows = 37, cols = 300;
    float *m = random_matrix(rows, cols), *x = random_vector(cols, 1.0);
    float y1[37], y2[37];
    static const size_t sizes[] = {4, 2, 1};
    for (int type = NN_WEIGHT_F32; type <= NN_WEIGHT_INT8; type++) {
        nn_weight a, b;
        char err[256];
        CHECK_INT_EQ(nn_weight_from_f32(&a, m, rows, cols, (nn_weight_type)type, 64, err,
                                        sizeof err), 0);
        CHECK_INT_EQ(nn_weight_alloc(&b, rows, cols, (nn_weight_type)type, 64, err, sizeof err), 0);
        CHECK_INT_EQ(b.stride, a.stride);
        CHECK_INT_EQ(b.block, a.block);
        CHECK_INT_EQ(nn_weight_bytes(&b), nn_weight_bytes(&a));
        size_t data_bytes = rows * b.stride * sizes[type];
        int nonzero = 0;
        for (size_t i = 0; i < data_bytes; i++)
            nonzero += ((const unsigned char *)b.data)[i] != 0;
        CHECK_INT_EQ(nonzero, 0);
        memcpy(b.data, a.data, data_bytes);
        if (type == NN_WEIGHT_INT8)
            memcpy(b.scales, a.scales, rows * nn_weight_blocks_per_row(&a) * sizeof(float));
        nn_matvec(pools[2], &a, x, NULL, y1);
        nn_matvec(pools[2], &b, x, NULL, y2);
        CHECK(memcmp(y1, y2, sizeof y1) == 0);
        /* y may overlap x: the result written over x itself is the same */
        float *xy = malloc(cols * sizeof *xy);
        memcpy(xy, x, cols * sizeof *xy);
        nn_matvec(pools[2], &a, xy, NULL, xy);
        CHECK(memcmp(xy, y1, sizeof y1) == 0);
        free(xy);
        nn_weight_free(&a);
        nn_weight_free(&b);
    }
    nn_weight w;
    char err[256] = "";
    CHECK_INT_EQ(nn_weight_alloc(&w, 4, 64, NN_WEIGHT_INT8, 40, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "block");
    CHECK(w.data == NULL);
    free(m);
    free(x);
}

static void test_refusals(void)
{
    float m[64] = {0};
    nn_weight w;
    char err[256] = "";
    CHECK_INT_EQ(nn_weight_from_f32(&w, m, 2, 32, NN_WEIGHT_INT8, 48, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "block");
    CHECK_STR_CONTAINS(err, "48");
    CHECK(w.data == NULL);
    m[37] = NAN;
    CHECK_INT_EQ(nn_weight_from_f32(&w, m, 2, 32, NN_WEIGHT_INT8, 0, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "[1][5]");
    CHECK_STR_CONTAINS(err, "NaN");
    CHECK_INT_EQ(nn_weight_from_f32(&w, m, 0, 32, NN_WEIGHT_F32, 0, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "0x32");
    CHECK_INT_EQ(nn_weight_from_f32(&w, m, 2, 32, (nn_weight_type)7, 0, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "type");
    /* f32 and bf16 keep non-finite values as they are */
    CHECK_INT_EQ(nn_weight_from_f32(&w, m, 2, 32, NN_WEIGHT_BF16, 0, err, sizeof err), 0);
    float row[32];
    nn_weight_row_f32(&w, 1, row);
    CHECK(isnan(row[5]));
    nn_weight_free(&w);

    nn_weight_type t;
    CHECK(nn_weight_type_parse("bf16", &t) && t == NN_WEIGHT_BF16);
    CHECK(nn_weight_type_parse("int8", &t) && t == NN_WEIGHT_INT8);
    CHECK(nn_weight_type_parse("f32", &t) && t == NN_WEIGHT_F32);
    CHECK(!nn_weight_type_parse("fp16", &t));
    CHECK(!nn_weight_type_parse(NULL, &t));
}

/* SPARK_CPU_ISA caps the kernels the products pick (checked in a child process, because the
 * choice is made once per process). */
static void test_isa_cap_in_child(const char *self)
{
    static const char *caps[] = {"scalar", "avx2", "avx512"};
    for (int isa = NN_ISA_SCALAR; isa <= (int)nn_cpu_isa(); isa++) {
        char cmd[1024], out[64] = "";
        snprintf(cmd, sizeof cmd, "SPARK_CPU_ISA=%s '%s' --print-isa", caps[isa], self);
        FILE *child = popen(cmd, "r");
        CHECK(child != NULL);
        if (!child)
            return;
        if (!fgets(out, sizeof out, child))
            out[0] = 0;
        CHECK_INT_EQ(pclose(child), 0);
        out[strcspn(out, "\n")] = 0;
        CHECK_STR_EQ(out, caps[isa]);
    }
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--print-isa") == 0) {
        printf("%s\n", nn_isa_name(nn_matvec_isa()));
        return 0;
    }
    char err[256];
    for (int t = 1; t <= 4; t++) {
        pools[t] = nn_pool_create(t, err, sizeof err);
        CHECK(pools[t] != NULL);
        if (!pools[t])
            return 1;
    }
    fprintf(stderr, "cpu: %s\n", nn_cpu_summary());
    test_layout();
    test_refusals();
    test_alloc_and_fill();
    test_bf16_rounding();
    test_int8_error_bound();
    test_matvec_all_paths();
    test_large_head_subset();
    test_matmul_weight();
    test_isa_cap_in_child(argv[0]);
    for (int t = 1; t <= 4; t++)
        nn_pool_destroy(pools[t]);
    return check_failures ? 1 : 0;
}
