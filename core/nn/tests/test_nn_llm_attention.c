/* The LLM's KV cache and decode attention (core/nn/src/llm):
 *   - f16 conversions: the portable ones bit for bit against F16C / AVX-512 (every half, and
 *     f32 values at, beside and between the rounding ties), and exact round trips;
 *   - every kernel family the CPU offers against the portable reference, and the reference
 *     against double-precision sums within the f32 error bound of a sum of n terms
 *     (gamma_n = n u / (1 - n u), u = 2^-24), over f32 and f16 caches, group sizes above and
 *     below 8, partial key blocks and head sizes other than the release's 64;
 *   - the model: the release's head size and group (64, 7 query heads per KV head) on a small
 *     synthetic model; prefill + decode equals decode alone; an f16 cache against the f32
 *     one (tolerance below); the cache precision chosen by NN_KV_AUTO.
 * ctest runs it also with SPARK_CPU_ISA=scalar and avx2, so the forward pass uses each
 * family. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spark/nn/cpu.h>
#include <spark/nn/prng.h>
#include <spark/nn/qwen2.h>
#include <spark/nn/spark_model.h>

#include "attention_kernels.h"
#include "check.h"
#include "kv_half.h"
#include "nn_test_support.h"

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float float_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Whether family k takes head size d. */
static bool takes(const qwen2_attention_kernels *k, size_t d)
{
    return k == &qwen2_attention_scalar || (k == &qwen2_attention_avx2 && d % 8 == 0) ||
           (k == &qwen2_attention_avx512 && d % 16 == 0);
}

/* The families this CPU runs (the portable one first). */
static size_t families(const qwen2_attention_kernels **out)
{
    size_t n = 0;
    out[n++] = &qwen2_attention_scalar;
    if (nn_cpu_isa() >= NN_ISA_AVX2)
        out[n++] = &qwen2_attention_avx2;
    if (nn_cpu_isa() >= NN_ISA_AVX512)
        out[n++] = &qwen2_attention_avx512;
    return n;
}

/* ---- f16 conversions ------------------------------------------------------------------- */

static void test_half_conversions(const qwen2_attention_kernels *k)
{
    enum { N = 1 << 16 };
    uint16_t *h = malloc(N * sizeof *h), *h2 = malloc(N * sizeof *h2);
    float *f = malloc(N * sizeof *f), *f2 = malloc(N * sizeof *f2);
    /* every half to f32 */
    for (size_t i = 0; i < N; i++)
        h[i] = (uint16_t)i;
    k->f32_from_f16(h, f, N);
    size_t wrong = 0;
    for (size_t i = 0; i < N; i++)
        wrong += bits_of(f[i]) != bits_of(kv_f16_to_f32(h[i]));
    CHECK_INT_EQ(wrong, 0);
    /* f32 to half: each half's value, the ties halfway to its neighbour and one f32 ulp on
     * either side of them, then a sweep over all f32 bit patterns */
    wrong = 0;
    for (int pass = 0; pass < 5; pass++) {
        for (size_t i = 0; i < N; i++) {
            float a = kv_f16_to_f32((uint16_t)i), b = kv_f16_to_f32((uint16_t)(i + 1));
            float tie = isfinite(a) && isfinite(b) ? (float)(((double)a + b) / 2) : a;
            f[i] = pass == 0   ? a
                   : pass == 1 ? tie
                   : pass == 2 ? nextafterf(tie, -INFINITY)
                   : pass == 3 ? nextafterf(tie, INFINITY)
                               : float_of((uint32_t)i << 16 | 0x1000u); /* f16 ties */
        }
        k->f16_from_f32(f, h, N);
        for (size_t i = 0; i < N; i++)
            wrong += h[i] != kv_f32_to_f16(f[i]);
    }
    for (uint32_t j = 0; j < 16; j++) { /* 2^20 bit patterns spread over all of them */
        for (uint32_t i = 0; i < N; i++)
            f2[i] = float_of((i * 16u + j) * 4093u + 7u);
        k->f16_from_f32(f2, h2, N);
        for (size_t i = 0; i < N; i++)
            wrong += h2[i] != kv_f32_to_f16(f2[i]);
    }
    CHECK_INT_EQ(wrong, 0);
    /* round trips of every non-NaN half, and the overflow edge */
    wrong = 0;
    for (size_t i = 0; i < N; i++) {
        float x = kv_f16_to_f32((uint16_t)i);
        wrong += !isnan(x) && kv_f32_to_f16(x) != (uint16_t)i;
    }
    CHECK_INT_EQ(wrong, 0);
    CHECK_INT_EQ(kv_f32_to_f16(65504.0f), 0x7bff);
    CHECK_INT_EQ(kv_f32_to_f16(65519.99f), 0x7bff);
    CHECK_INT_EQ(kv_f32_to_f16(65520.0f), 0x7c00);
    CHECK_INT_EQ(kv_f32_to_f16(-1e-8f), 0x8000);
    CHECK_INT_EQ(kv_f32_to_f16(float_of(0x33000001u)), 0x0001); /* just above 2^-25 */
    printf("f16 conversions: %s agrees bit for bit with the portable ones\n", k->name);
    free(h);
    free(h2);
    free(f);
    free(f2);
}

/* ---- kernels ----------------------------------------------------------------------------- */

typedef struct kv_case {
    size_t group, d, n;
    nn_kv_type type;
    float *q, *v_f32, *k_rows; /* k_rows: keys as rows, the values the cache holds */
    void *k, *v;               /* the cache layout */
} kv_case;

static void make_case(kv_case *c, size_t group, size_t d, size_t n, nn_kv_type type,
                      uint64_t seed)
{
    nn_rng rng;
    nn_rng_seed(&rng, seed, "llm-attention");
    const size_t padded = (n + QWEN2_KV_BLOCK - 1) / QWEN2_KV_BLOCK * QWEN2_KV_BLOCK;
    const size_t elem = type == NN_KV_F16 ? 2 : 4;
    *c = (kv_case){group, d, n, type, malloc(group * d * 4), malloc(n * d * 4),
                   malloc(n * d * 4), calloc(padded * d, elem), calloc(n * d, elem)};
    nn_rng_fill_normal(&rng, c->q, group * d, 0, 1);
    nn_rng_fill_normal(&rng, c->k_rows, n * d, 0, 1);
    nn_rng_fill_normal(&rng, c->v_f32, n * d, 0, 1);
    for (size_t p = 0; p < n; p++)
        for (size_t i = 0; i < d; i++) {
            size_t at = qwen2_key_index(p, i, d), r = p * d + i;
            if (type == NN_KV_F16) {
                uint16_t kh = kv_f32_to_f16(c->k_rows[r]), vh = kv_f32_to_f16(c->v_f32[r]);
                ((uint16_t *)c->k)[at] = kh;
                ((uint16_t *)c->v)[r] = vh;
                c->k_rows[r] = kv_f16_to_f32(kh);
                c->v_f32[r] = kv_f16_to_f32(vh);
            } else {
                ((float *)c->k)[at] = c->k_rows[r];
                ((float *)c->v)[r] = c->v_f32[r];
            }
        }
}

static void free_case(kv_case *c)
{
    free(c->q);
    free(c->v_f32);
    free(c->k_rows);
    free(c->k);
    free(c->v);
}

static double gamma_of(size_t terms)
{
    double u = ldexp(1.0, -24) * (double)terms;
    return u / (1 - u);
}

enum { GUARD = 32 };
static const float SENTINEL = 12345.0f;

/* The family's scores and weighted sum against double sums of the cached values; returns
 * the worst error as a fraction of its bound. Also: nothing written past the outputs. */
static double check_family(const qwen2_attention_kernels *k, const kv_case *c)
{
    const size_t group = c->group, d = c->d, n = c->n;
    const float scale = 1.0f / sqrtf((float)d);
    float *s = malloc((group * n + GUARD) * sizeof *s);
    float *out = malloc((group * d + GUARD) * sizeof *out);
    for (size_t i = 0; i < group * n + GUARD; i++)
        s[i] = SENTINEL;
    for (size_t i = 0; i < group * d + GUARD; i++)
        out[i] = SENTINEL;
    double worst = 0;
    k->scores(c->q, group, d, c->k, c->type, n, scale, s);
    for (size_t h = 0; h < group; h++)
        for (size_t p = 0; p < n; p++) {
            double dot = 0, mag = 0;
            for (size_t i = 0; i < d; i++) {
                double t = (double)c->q[h * d + i] * c->k_rows[p * d + i];
                dot += t;
                mag += fabs(t);
            }
            double bound = gamma_of(d + 1) * mag * scale + 1e-30;
            double e = fabs(dot * scale - s[h * n + p]) / bound;
            worst = e > worst ? e : worst;
        }
    for (size_t i = 0; i < GUARD; i++)
        CHECK(s[group * n + i] == SENTINEL);
    /* weights: the softmax of the scores, then signed ones too */
    k->softmax(s, group, n);
    for (size_t h = 0; h < group; h++) {
        double sum = 0;
        for (size_t p = 0; p < n; p++)
            sum += s[h * n + p];
        CHECK(fabs(sum - 1) < 1e-5);
    }
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            for (size_t i = 0; i < group * n; i++)
                s[i] = (float)(i % 7) / 7.0f - 0.3f;
        k->weighted_sum(s, group, n, c->v, c->type, d, d, out);
        for (size_t h = 0; h < group; h++)
            for (size_t i = 0; i < d; i++) {
                double sum = 0, mag = 0;
                for (size_t p = 0; p < n; p++) {
                    double t = (double)s[h * n + p] * c->v_f32[p * d + i];
                    sum += t;
                    mag += fabs(t);
                }
                double e = fabs(sum - out[h * d + i]) / (gamma_of(n + 1) * mag + 1e-30);
                worst = e > worst ? e : worst;
            }
    }
    for (size_t i = 0; i < GUARD; i++)
        CHECK(out[group * d + i] == SENTINEL);
    /* prefill's rows: exactly the cached keys */
    float *rows = malloc(n * d * sizeof *rows);
    k->unpack_keys(c->k, c->type, d, n, rows);
    CHECK(memcmp(rows, c->k_rows, n * d * sizeof *rows) == 0);
    free(rows);
    free(s);
    free(out);
    return worst;
}

/* The family's softmax against the portable one, as a fraction of the bound: the same
 * polynomial (FMAs may move each exp by a few ulps: 8 u allowed) and a sum of n terms in
 * another order (gamma_n). */
static double softmax_difference(const qwen2_attention_kernels *k, size_t group, size_t n)
{
    nn_rng rng;
    nn_rng_seed(&rng, n, "llm-softmax");
    float *a = malloc(group * n * sizeof *a), *b = malloc(group * n * sizeof *b);
    nn_rng_fill_normal(&rng, a, group * n, 0, 4);
    memcpy(b, a, group * n * sizeof *a);
    k->softmax(a, group, n);
    qwen2_attention_scalar.softmax(b, group, n);
    double worst = 0;
    for (size_t i = 0; i < group * n; i++) {
        double e = fabs((double)a[i] - b[i]) / ((double)b[i] + 1e-30) /
                   (8 * ldexp(1.0, -24) + gamma_of(n));
        worst = e > worst ? e : worst;
    }
    free(a);
    free(b);
    return worst;
}

static void test_kernels(void)
{
    static const size_t cases[][3] = {{7, 64, 2000}, {7, 64, 1},  {7, 64, 17},  {7, 64, 300},
                                      {2, 16, 37},   {4, 24, 33}, {9, 128, 77}, {3, 72, 5},
                                      {1, 32, 16}};
    const qwen2_attention_kernels *fam[3];
    size_t n_fam = families(fam);
    for (size_t f = 0; f < n_fam; f++) {
        double worst = 0, worst_softmax = 0;
        size_t run = 0;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            const size_t group = cases[i][0], d = cases[i][1], n = cases[i][2];
            if (!takes(fam[f], d))
                continue;
            for (int t = 0; t < 2; t++) {
                kv_case c;
                make_case(&c, group, d, n, t ? NN_KV_F16 : NN_KV_F32, i * 2 + (size_t)t + 1);
                double e = check_family(fam[f], &c);
                if (!(e <= 1)) {
                    fprintf(stderr, "%s, %s cache, group %zu, head %zu, %zu positions: error "
                            "%.3g of the bound\n", fam[f]->name, t ? "f16" : "f32", group, d,
                            n, e);
                    check_failures++;
                }
                worst = e > worst ? e : worst;
                free_case(&c);
                run++;
            }
            double e = softmax_difference(fam[f], group, n);
            worst_softmax = e > worst_softmax ? e : worst_softmax;
        }
        CHECK(worst_softmax <= 1);
        printf("kernels %-6s: %zu cases, worst error %.3f of the f32 bound, softmax within "
               "%.3f of its bound from the portable one\n",
               fam[f]->name, run, worst, worst_softmax);
    }
}

/* ---- the model --------------------------------------------------------------------------- */

/* The tiny preset with the release's attention shape: 14 query heads of 64 over 2 KV heads. */
static char *make_model(char **root)
{
    *root = nn_test_make_temp_dir("llm-attention");
    if (!*root)
        exit(1);
    char *dir = nn_test_join(*root, "model");
    nn_spark_preset preset;
    char *error = NULL;
    if (!nn_spark_preset_get("tiny", &preset)) {
        fprintf(stderr, "no tiny preset\n");
        exit(1);
    }
    preset.config.llm.hidden_size = 896;
    preset.config.llm.num_attention_heads = 14;
    preset.config.llm.num_key_value_heads = 2;
    preset.config.llm.intermediate_size = 256;
    if (nn_spark_synth(dir, &preset, 3, NULL, &error)) {
        fprintf(stderr, "cannot make the model: %s\n", error ? error : "?");
        exit(1);
    }
    return dir;
}

static nn_qwen2 *load(const char *dir, nn_weight_type weights, nn_kv_type kv)
{
    char *llm = nn_test_join(dir, "LLM"), err[512];
    nn_qwen2_options o = {.weights = weights, .int8_block = 64, .kv_cache = kv};
    nn_qwen2 *m = nn_qwen2_load(llm, &o, err, sizeof err);
    if (!m) {
        fprintf(stderr, "load: %s\n", err);
        exit(1);
    }
    free(llm);
    return m;
}

enum { PROMPT = 300, STEPS = 40 }; /* the prompt spans two prefill chunks */

/* Logits of the last prompt position and of every decode step ([STEPS + 1][vocab]); the
 * prompt fed at once (prefill) or one token at a time. */
static float *run(const nn_qwen2 *m, nn_pool *pool, const int32_t *ids, bool prefill)
{
    const size_t vocab = (size_t)nn_qwen2_config_of(m)->vocab_size;
    float *logits = malloc((STEPS + 1) * vocab * sizeof *logits);
    nn_qwen2_ctx *ctx = nn_qwen2_ctx_new(m);
    char err[256];
    int rc = 0;
    if (prefill)
        rc = nn_qwen2_forward(ctx, pool, ids, PROMPT, NULL, 0, logits, err, sizeof err);
    else
        for (size_t t = 0; t < PROMPT && !rc; t++)
            rc = nn_qwen2_forward(ctx, pool, ids + t, 1, NULL, 0, logits, err, sizeof err);
    for (size_t s = 0; s < STEPS && !rc; s++)
        rc = nn_qwen2_forward(ctx, pool, ids + PROMPT + s, 1, NULL, 0, logits + (s + 1) * vocab,
                              err, sizeof err);
    if (rc) {
        fprintf(stderr, "forward: %s\n", err);
        exit(1);
    }
    nn_qwen2_ctx_free(ctx);
    return logits;
}

/* max |a - b| over the steps, as a fraction of each step's logit range in b */
static double relative_difference(const float *a, const float *b, size_t vocab)
{
    double worst = 0;
    for (size_t s = 0; s <= STEPS; s++) {
        const float *x = a + s * vocab, *y = b + s * vocab;
        float lo = y[0], hi = y[0];
        double diff = 0;
        for (size_t i = 0; i < vocab; i++) {
            lo = y[i] < lo ? y[i] : lo;
            hi = y[i] > hi ? y[i] : hi;
            double e = fabs((double)x[i] - y[i]);
            diff = e > diff ? e : diff;
        }
        double rel = diff / (hi - lo);
        worst = rel > worst ? rel : worst;
    }
    return worst;
}

static void test_model(void)
{
    char *root, *dir = make_model(&root);
    nn_qwen2 *f32 = load(dir, NN_WEIGHT_F32, NN_KV_AUTO);
    nn_qwen2 *f16 = load(dir, NN_WEIGHT_F32, NN_KV_F16);
    CHECK_INT_EQ(nn_qwen2_kv_type(f32), NN_KV_F32);
    CHECK_INT_EQ(nn_qwen2_kv_type(f16), NN_KV_F16);
    for (int w = 0; w < 2; w++) { /* bf16 and int8 weights get an f16 cache by default */
        nn_qwen2 *m = load(dir, w ? NN_WEIGHT_INT8 : NN_WEIGHT_BF16, NN_KV_AUTO);
        CHECK_INT_EQ(nn_qwen2_kv_type(m), NN_KV_F16);
        nn_qwen2_free(m);
    }
    const size_t vocab = (size_t)nn_qwen2_config_of(f32)->vocab_size;
    const size_t decode_bytes_diff = nn_qwen2_decode_bytes(f32, 1000, 0) -
                                     nn_qwen2_decode_bytes(f16, 1000, 0);
    /* 2 layers, keys and values of 2 KV heads of 64: 2 bytes less each */
    CHECK_INT_EQ(decode_bytes_diff, 2 * 2 * 128 * 2 * 1000);
    char err[256];
    nn_pool *pool = nn_pool_create(2, err, sizeof err);
    int32_t ids[PROMPT + STEPS];
    nn_rng rng;
    nn_rng_seed(&rng, 9, "llm-attention-ids");
    for (size_t i = 0; i < PROMPT + STEPS; i++)
        ids[i] = (int32_t)nn_rng_below(&rng, (uint64_t)vocab);
    float *a = run(f32, pool, ids, true), *b = run(f32, pool, ids, false);
    float *c = run(f16, pool, ids, true), *e = run(f16, pool, ids, false);
    /* prefill and decode differ only in f32 summation order (and, with an f16 cache, in the
     * rare key or value whose f32 differences move its rounding, by 2^-11 of it) */
    double prefill_f32 = relative_difference(a, b, vocab);
    double prefill_f16 = relative_difference(c, e, vocab);
    CHECK(prefill_f32 < 1e-4);
    CHECK(prefill_f16 < 5e-4);
    /* An f16 cache rounds every key and value by at most 2^-11 (4.9e-4) of itself. In each
     * of the 2 layers that moves scores by about 2^-11 of |q||k| and the attention output by
     * about 2^-11 of the values, then the residual stream carries it to the logits: about
     * 2^-11 of the logit range is expected (0.7 x 2^-11 is measured); 2e-3 (4 x 2^-11)
     * allows for other weights and inputs, while a key or value in the wrong place, or
     * misread, changes logits by a sizeable part of their range. */
    double cache = relative_difference(c, a, vocab);
    double cache_decode = relative_difference(e, b, vocab);
    CHECK(cache < 2e-3);
    CHECK(cache_decode < 2e-3);
    CHECK(cache > 0); /* the f16 cache really rounds */
    size_t agree = 0;
    for (size_t s = 0; s <= STEPS; s++)
        agree += nn_argmax(a + s * vocab, vocab, NULL) == nn_argmax(c + s * vocab, vocab, NULL);
    printf("model (%s kernels): prefill vs decode %.3g (f32 cache), %.3g (f16 cache); f16 vs "
           "f32 cache %.3g (prefill), %.3g (decode) of the logit range; argmax agrees at "
           "%zu/%d steps\n",
           qwen2_attention_for(nn_cpu_isa(), 64)->name, prefill_f32, prefill_f16, cache,
           cache_decode, agree, STEPS + 1);
    free(a);
    free(b);
    free(c);
    free(e);
    nn_pool_destroy(pool);
    nn_qwen2_free(f32);
    nn_qwen2_free(f16);
    nn_test_remove_tree(root);
    free(root);
    free(dir);
}

int main(void)
{
    nn_kv_type t;
    CHECK(nn_kv_type_parse("f16", &t) && t == NN_KV_F16);
    CHECK(nn_kv_type_parse("f32", &t) && t == NN_KV_F32);
    CHECK(nn_kv_type_parse("auto", &t) && t == NN_KV_AUTO);
    CHECK(!nn_kv_type_parse("bf16", &t) && !nn_kv_type_parse(NULL, &t));
    CHECK_STR_EQ(nn_kv_type_name(NN_KV_F16), "f16");
    printf("CPU: %s\n", nn_cpu_summary());
    const qwen2_attention_kernels *fam[3];
    size_t n_fam = families(fam);
    for (size_t f = 1; f < n_fam; f++)
        test_half_conversions(fam[f]);
    if (n_fam == 1 && !getenv("SPARK_CPU_ISA")) {
        fprintf(stderr, "FAIL: this CPU has no AVX2; the vector kernels cannot be checked\n");
        check_failures++;
    }
    test_kernels();
    test_model();
    return CHECK_DONE();
}
