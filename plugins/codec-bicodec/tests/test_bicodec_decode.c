/* BiCodec decode against the upstream modules (reference dumps on the tiny model): the
 * d-vector, the FVQ latent, the prenet output and the vocoder input, within 1e-4 of each
 * tensor's range; and the guards on the codes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spark/nn/pool.h>

#include "bicodec_decoder.h"
#include "decode_test_support.h"

static int failures;

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                    \
            printf(__VA_ARGS__);                                                           \
            printf("\n");                                                                  \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

static void check_case(nn_pool *pool, const bicodec_decoder *dec, bicodec_workspace *ws,
                       const char *name)
{
    dts_case c;
    if (!dts_case_load(&c, name)) {
        CHECK(0, "case %s cannot be loaded", name);
        return;
    }
    CHECK(c.channels == dec->out_channels && c.d_dim == dec->d_dim,
          "%s: reference shapes differ from the model", name);
    size_t n = c.n_semantic;
    float *latent = calloc(dec->out_channels * n, sizeof(float));
    float *zq = calloc(dec->vq_channels * n, sizeof(float));
    float *prenet = calloc(dec->out_channels * n, sizeof(float));
    float *d_vector = calloc(dec->d_dim, sizeof(float));
    bicodec_trace trace = {d_vector, zq, prenet};
    char err[512];
    int rc = bicodec_decode(pool, dec, c.semantic, n, c.global, c.n_global, ws, latent, n,
                            &trace, err, sizeof err);
    CHECK(rc == 0, "%s: decode failed: %s", name, err);
    if (rc == 0) {
        char what[128];
        snprintf(what, sizeof what, "%s d_vector", name);
        CHECK(dts_within(what, d_vector, c.d_vector, c.d_dim, DTS_TOLERANCE), "%s", what);
        snprintf(what, sizeof what, "%s zq (FVQ detokenize)", name);
        CHECK(dts_within(what, zq, c.zq, dec->vq_channels * n, DTS_TOLERANCE), "%s", what);
        snprintf(what, sizeof what, "%s prenet", name);
        CHECK(dts_within(what, prenet, c.prenet, dec->out_channels * n, DTS_TOLERANCE), "%s",
              what);
        snprintf(what, sizeof what, "%s vocoder input (prenet + d_vector)", name);
        CHECK(dts_within(what, latent, c.vocoder_in, dec->out_channels * n, DTS_TOLERANCE),
              "%s", what);
    }
    free(latent);
    free(zq);
    free(prenet);
    free(d_vector);
    dts_case_free(&c);
}

/* A refusal whose message names the rule broken. */
static void expect_refusal(const bicodec_decoder *dec, const int32_t *semantic, size_t n,
                           const int32_t *global, size_t n_global, const char *needle)
{
    char err[512] = "";
    int rc = bicodec_check_codes(dec, semantic, n, global, n_global, err, sizeof err);
    CHECK(rc == -1, "codes accepted; expected a refusal mentioning '%s'", needle);
    CHECK(strstr(err, needle) != NULL, "message '%s' lacks '%s'", err, needle);
    if (rc == -1)
        printf("ok   refused: %s\n", err);
}

static void check_guards(nn_pool *pool, const bicodec_decoder *dec, bicodec_workspace *ws)
{
    int32_t semantic[4] = {0, 1, 2, 3};
    int32_t global[40] = {0};
    char err[512];
    expect_refusal(dec, semantic, 0, global, 32, "no semantic codes");
    expect_refusal(dec, semantic, 4, global, 31, "31 global codes given; BiCodec needs exactly 32");
    expect_refusal(dec, semantic, 4, global, 33, "33 global codes");
    semantic[2] = (int32_t)dec->codebook_size;
    expect_refusal(dec, semantic, 4, global, 32, "semantic code 2 is 1024, outside 0..1023");
    semantic[2] = -1;
    expect_refusal(dec, semantic, 4, global, 32, "semantic code 2 is -1");
    semantic[2] = 2;
    global[5] = 4096;
    expect_refusal(dec, semantic, 4, global, 32, "global code 5 is 4096, outside 0..4095");
    global[5] = 4095;
    CHECK(bicodec_check_codes(dec, semantic, 4, global, 32, err, sizeof err) == 0,
          "valid edge codes refused: %s", err);
    /* decode itself applies the guards before touching the output */
    float latent[64 * 4];
    for (size_t i = 0; i < sizeof latent / sizeof latent[0]; i++)
        latent[i] = 7.0f;
    CHECK(bicodec_decode(pool, dec, semantic, 4, global, 31, ws, latent, 4, NULL, err, sizeof err)
              == -1, "decode accepted 31 globals");
    CHECK(latent[0] == 7.0f, "a refused decode wrote output");
}

int main(void)
{
    const char *model_dir = dts_tiny_model();
    if (!model_dir)
        return 1;
    char err[512];
    bicodec_model model;
    if (bicodec_model_open(&model, model_dir, err, sizeof err)) {
        printf("FAIL open: %s\n", err);
        return 1;
    }
    bicodec_decoder dec;
    if (bicodec_decoder_load(&dec, &model, err, sizeof err)) {
        printf("FAIL load: %s\n", err);
        bicodec_model_close(&model);
        return 1;
    }
    bicodec_model_close(&model);

    for (int threads = 1; threads <= 2; threads++) {
        nn_pool *pool = nn_pool_create(threads, err, sizeof err);
        CHECK(pool != NULL, "pool: %s", err);
        printf("-- %d thread(s)\n", threads);
        bicodec_workspace ws = {0};
        /* one workspace for all cases: it grows and shrinking inputs reuse it */
        for (size_t i = 0; i < dts_case_count; i++)
            check_case(pool, &dec, &ws, dts_cases[i]);
        check_guards(pool, &dec, &ws);
        bicodec_workspace_free(&ws);
        nn_pool_destroy(pool);
    }

    /* A model directory without BiCodec is refused by name. */
    CHECK(bicodec_model_open(&model, "/nonexistent-model", err, sizeof err) == -1 &&
              strstr(err, "/nonexistent-model") != NULL,
          "missing model not reported: %s", err);
    bicodec_decoder_free(&dec);
    printf("%s\n", failures ? "FAILED" : "all passed");
    return failures ? 1 : 0;
}
