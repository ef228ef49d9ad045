/* The Spark model description, the portable PRNG, the config files and the BPE learner:
 * release counts and shapes for the full preset (spec 3.1, 4.10, 5.3), every structural
 * feature in the tiny one, golden random values computed by an independent Python
 * implementation, and config write/read round trips. */
#include <spark/nn/prng.h>
#include <spark/nn/spark_model.h>
#include <spark/nn/spark_tokenizer.h>

#include "check.h"
#include "spark_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static nn_spark_config preset_config(const char *name)
{
    nn_spark_preset p;
    CHECK(nn_spark_preset_get(name, &p));
    /* synth sets these from the tokenizer; the release's values for the full preset. */
    p.config.llm.vocab_size = p.fixed_vocab_size ? p.fixed_vocab_size : 8000;
    return p.config;
}

static uint64_t elements_with_prefix(const nn_spark_tensor_list *list, const char *prefix)
{
    uint64_t n = 0;
    for (size_t i = 0; i < list->count; i++)
        if (strncmp(list->items[i].name, prefix, strlen(prefix)) == 0)
            n += nn_spark_tensor_elements(&list->items[i]);
    return n;
}

static uint64_t total_elements(const nn_spark_tensor_list *list)
{
    return elements_with_prefix(list, "");
}

/* Checks one tensor's dtype and shape; shape given as up to 4 dims, ndim first. */
static void check_tensor(const nn_spark_tensor_list *list, const char *name, nn_dtype dtype,
                         uint32_t ndim, int64_t d0, int64_t d1, int64_t d2)
{
    ptrdiff_t at = nn_spark_tensor_list_find(list, name);
    if (at < 0) {
        fprintf(stderr, "missing tensor %s\n", name);
        check_failures++;
        return;
    }
    const nn_spark_tensor_spec *t = &list->items[at];
    const int64_t want[3] = {d0, d1, d2};
    bool same = t->dtype == dtype && t->ndim == ndim;
    for (uint32_t d = 0; same && d < ndim; d++)
        same = t->shape[d] == want[d];
    if (!same) {
        char got[128];
        fprintf(stderr, "tensor %s: %s %s, want ndim %u [%lld, %lld, %lld]\n", name,
                nn_dtype_name(t->dtype), nn_spark_format_shape(t->ndim, t->shape, got, sizeof got),
                ndim, (long long)d0, (long long)d1, (long long)d2);
        check_failures++;
    }
}

static void test_full_inventory(void)
{
    nn_spark_config c = preset_config("full");
    nn_spark_tensor_list llm, bicodec, w2v;
    char *error = NULL;
    CHECK(nn_spark_expected_tensors(&c, NN_SPARK_LLM, &llm, &error) == 0);
    CHECK(nn_spark_expected_tensors(&c, NN_SPARK_BICODEC, &bicodec, &error) == 0);
    CHECK(nn_spark_expected_tensors(&c, NN_SPARK_WAV2VEC2, &w2v, &error) == 0);
    CHECK(error == NULL);

    /* LLM: 290 tensors, 506,634,112 parameters, tied embeddings (spec 3.1). */
    CHECK_INT_EQ(llm.count, 290);
    CHECK_INT_EQ(total_elements(&llm), 506634112);
    CHECK(nn_spark_tensor_list_find(&llm, "lm_head.weight") < 0);
    check_tensor(&llm, "model.embed_tokens.weight", NN_F32, 2, 166000, 896, 0);
    check_tensor(&llm, "model.layers.23.self_attn.k_proj.weight", NN_F32, 2, 128, 896, 0);
    check_tensor(&llm, "model.layers.0.self_attn.q_proj.bias", NN_F32, 1, 896, 0, 0);
    check_tensor(&llm, "model.layers.0.self_attn.v_proj.bias", NN_F32, 1, 128, 0, 0);
    check_tensor(&llm, "model.layers.5.mlp.down_proj.weight", NN_F32, 2, 896, 4864, 0);
    check_tensor(&llm, "model.norm.weight", NN_F32, 1, 896, 0, 0);
    CHECK(nn_spark_tensor_list_find(&llm, "model.layers.0.self_attn.o_proj.bias") < 0);

    /* BiCodec: 840 tensors, 156,354,601 elements; group sizes of spec 4.10. */
    CHECK_INT_EQ(bicodec.count, 840);
    CHECK_INT_EQ(total_elements(&bicodec), 156354601);
    CHECK_INT_EQ(elements_with_prefix(&bicodec, "encoder."), 30489216);
    CHECK_INT_EQ(elements_with_prefix(&bicodec, "prenet."), 39386112);
    CHECK_INT_EQ(elements_with_prefix(&bicodec, "postnet."), 19685376);
    CHECK_NEAR((double)elements_with_prefix(&bicodec, "decoder.") / 1e6, 52.63, 0.005);
    /* Decode-only subset: 96.29 M parameters (spec 4.10). */
    uint64_t decode = elements_with_prefix(&bicodec, "quantizer.codebook.") +
                      elements_with_prefix(&bicodec, "quantizer.out_project.") +
                      elements_with_prefix(&bicodec, "speaker_encoder.quantizer.project_out.") +
                      elements_with_prefix(&bicodec, "speaker_encoder.project.") +
                      elements_with_prefix(&bicodec, "prenet.") +
                      elements_with_prefix(&bicodec, "decoder.");
    CHECK_NEAR((double)decode / 1e6, 96.29, 0.005);
    check_tensor(&bicodec, "quantizer.in_project.weight_g", NN_F32, 3, 8, 1, 1);
    check_tensor(&bicodec, "quantizer.in_project.weight_v", NN_F32, 3, 8, 1024, 1);
    check_tensor(&bicodec, "quantizer.out_project.weight_v", NN_F32, 3, 1024, 8, 1);
    check_tensor(&bicodec, "quantizer.codebook.weight", NN_F32, 2, 8192, 8, 0);
    check_tensor(&bicodec, "quantizer.cluster_size", NN_F32, 1, 8192, 0, 0);
    check_tensor(&bicodec, "decoder.model.0.weight_v", NN_F32, 3, 1536, 1024, 7);
    check_tensor(&bicodec, "decoder.model.1.block.0.alpha", NN_F32, 3, 1, 1536, 1);
    check_tensor(&bicodec, "decoder.model.1.block.1.weight_g", NN_F32, 3, 1536, 1, 1);
    check_tensor(&bicodec, "decoder.model.1.block.1.weight_v", NN_F32, 3, 1536, 768, 16);
    check_tensor(&bicodec, "decoder.model.2.block.1.weight_v", NN_F32, 3, 768, 384, 11);
    check_tensor(&bicodec, "decoder.model.4.block.4.block.3.weight_v", NN_F32, 3, 96, 96, 1);
    check_tensor(&bicodec, "decoder.model.4.block.2.block.1.weight_v", NN_F32, 3, 96, 96, 7);
    check_tensor(&bicodec, "decoder.model.5.alpha", NN_F32, 3, 1, 96, 1);
    check_tensor(&bicodec, "decoder.model.6.weight_g", NN_F32, 3, 1, 1, 1);
    check_tensor(&bicodec, "decoder.model.6.weight_v", NN_F32, 3, 1, 96, 7);
    check_tensor(&bicodec, "speaker_encoder.speaker_encoder.layer1.conv.weight", NN_F32, 3, 512,
                 128, 5);
    check_tensor(&bicodec, "speaker_encoder.speaker_encoder.layer1.bn.num_batches_tracked",
                 NN_I64, 0, 0, 0, 0);
    check_tensor(&bicodec, "speaker_encoder.speaker_encoder.layer3.se_res2block.1.convs.6.weight",
                 NN_F32, 3, 64, 64, 3);
    check_tensor(&bicodec,
                 "speaker_encoder.speaker_encoder.layer4.se_res2block.1.bns.6.running_var",
                 NN_F32, 1, 64, 0, 0);
    check_tensor(&bicodec, "speaker_encoder.speaker_encoder.layer2.se_res2block.3.linear1.weight",
                 NN_F32, 2, 128, 512, 0);
    check_tensor(&bicodec, "speaker_encoder.speaker_encoder.conv.weight", NN_F32, 3, 1536, 1536, 1);
    check_tensor(&bicodec, "speaker_encoder.speaker_encoder.pool.linear1.weight", NN_F32, 3, 128,
                 4608, 1);
    check_tensor(&bicodec, "speaker_encoder.speaker_encoder.pool.linear2.weight", NN_F32, 3, 1536,
                 128, 1);
    check_tensor(&bicodec, "speaker_encoder.speaker_encoder.bn.running_mean", NN_F32, 1, 3072, 0, 0);
    check_tensor(&bicodec, "speaker_encoder.speaker_encoder.linear.weight", NN_F32, 2, 1024, 3072, 0);
    check_tensor(&bicodec, "speaker_encoder.perceiver_sampler.proj_context.weight", NN_F32, 2, 128,
                 1536, 0);
    check_tensor(&bicodec, "speaker_encoder.perceiver_sampler.latents", NN_F32, 2, 32, 128, 0);
    check_tensor(&bicodec, "speaker_encoder.perceiver_sampler.layers.1.0.to_q.weight", NN_F32, 2,
                 512, 128, 0);
    check_tensor(&bicodec, "speaker_encoder.perceiver_sampler.layers.1.0.to_kv.weight", NN_F32, 2,
                 1024, 128, 0);
    check_tensor(&bicodec, "speaker_encoder.perceiver_sampler.layers.0.0.to_out.weight", NN_F32, 2,
                 128, 512, 0);
    check_tensor(&bicodec, "speaker_encoder.perceiver_sampler.layers.0.1.0.weight", NN_F32, 2, 682,
                 128, 0);
    check_tensor(&bicodec, "speaker_encoder.perceiver_sampler.layers.1.1.2.weight", NN_F32, 2, 128,
                 341, 0);
    check_tensor(&bicodec, "speaker_encoder.perceiver_sampler.norm.gamma", NN_F32, 1, 128, 0, 0);
    check_tensor(&bicodec, "speaker_encoder.quantizer.project_in.weight", NN_F32, 2, 6, 128, 0);
    check_tensor(&bicodec, "speaker_encoder.quantizer.project_out.weight", NN_F32, 2, 128, 6, 0);
    check_tensor(&bicodec, "speaker_encoder.project.weight", NN_F32, 2, 1024, 4096, 0);
    check_tensor(&bicodec, "prenet.linear_pre.weight", NN_F32, 2, 384, 1024, 0);
    check_tensor(&bicodec, "prenet.vocos_backbone.norm.scale.weight", NN_F32, 2, 384, 1024, 0);
    check_tensor(&bicodec, "prenet.vocos_backbone.convnext.11.norm.shift.bias", NN_F32, 1, 384, 0, 0);
    check_tensor(&bicodec, "prenet.downsample.1.1.convnext.1.gamma", NN_F32, 1, 384, 0, 0);
    check_tensor(&bicodec, "prenet.downsample.0.1.norm.weight", NN_F32, 1, 384, 0, 0);
    check_tensor(&bicodec, "encoder.encoder.embed.weight", NN_F32, 3, 384, 1024, 7);
    check_tensor(&bicodec, "encoder.encoder.convnext.3.dwconv.weight", NN_F32, 3, 384, 1, 7);
    check_tensor(&bicodec, "encoder.project.weight", NN_F32, 2, 1024, 384, 0);
    check_tensor(&bicodec, "postnet.vocos_backbone.convnext.5.pwconv1.weight", NN_F32, 2, 2048,
                 384, 0);
    CHECK(nn_spark_tensor_list_find(&bicodec, "postnet.vocos_backbone.convnext.6.gamma") < 0);
    size_t i64 = 0;
    for (size_t i = 0; i < bicodec.count; i++)
        i64 += bicodec.items[i].dtype == NN_I64;
    CHECK_INT_EQ(i64, 29); /* one counter per BatchNorm */

    /* wav2vec2: a Wav2Vec2ForPreTraining state dict, 24 layers (spec 5.3). */
    CHECK_INT_EQ(w2v.count, 429);
    CHECK_INT_EQ(total_elements(&w2v), 317390592); /* 1.27 GB in F32 */
    check_tensor(&w2v, "wav2vec2.masked_spec_embed", NN_F32, 1, 1024, 0, 0);
    check_tensor(&w2v, "wav2vec2.feature_extractor.conv_layers.0.conv.weight", NN_F32, 3, 512, 1,
                 10);
    check_tensor(&w2v, "wav2vec2.feature_extractor.conv_layers.6.conv.weight", NN_F32, 3, 512, 512,
                 2);
    check_tensor(&w2v, "wav2vec2.feature_extractor.conv_layers.6.layer_norm.bias", NN_F32, 1, 512,
                 0, 0);
    check_tensor(&w2v, "wav2vec2.feature_projection.projection.weight", NN_F32, 2, 1024, 512, 0);
    check_tensor(&w2v, "wav2vec2.encoder.pos_conv_embed.conv.weight_g", NN_F32, 3, 1, 1, 128);
    check_tensor(&w2v, "wav2vec2.encoder.pos_conv_embed.conv.weight_v", NN_F32, 3, 1024, 64, 128);
    check_tensor(&w2v, "wav2vec2.encoder.layers.23.attention.out_proj.bias", NN_F32, 1, 1024, 0, 0);
    check_tensor(&w2v, "wav2vec2.encoder.layers.16.feed_forward.intermediate_dense.weight", NN_F32,
                 2, 4096, 1024, 0);
    check_tensor(&w2v, "wav2vec2.encoder.layer_norm.weight", NN_F32, 1, 1024, 0, 0);
    check_tensor(&w2v, "quantizer.codevectors", NN_F32, 3, 1, 640, 384);
    check_tensor(&w2v, "quantizer.weight_proj.weight", NN_F32, 2, 640, 512, 0);
    check_tensor(&w2v, "project_hid.weight", NN_F32, 2, 768, 1024, 0);
    check_tensor(&w2v, "project_q.weight", NN_F32, 2, 768, 768, 0);
    /* A module's own parameters precede its children's in a state dict. */
    CHECK_STR_EQ(w2v.items[0].name, "wav2vec2.masked_spec_embed");

    /* weight_g entries point at their weight_v. */
    for (size_t i = 0; i < bicodec.count; i++) {
        const nn_spark_tensor_spec *t = &bicodec.items[i];
        if (t->fill != NN_SPARK_FILL_NORM_OF)
            continue;
        const nn_spark_tensor_spec *v = &bicodec.items[t->norm_source];
        size_t len = strlen(t->name);
        CHECK(strncmp(t->name, v->name, len - 1) == 0 && v->name[len - 1] == 'v');
        CHECK_INT_EQ(v->shape[t->norm_dim], t->shape[t->norm_dim]);
    }
    nn_spark_tensor_list_free(&llm);
    nn_spark_tensor_list_free(&bicodec);
    nn_spark_tensor_list_free(&w2v);
}

static void test_tiny_structure(void)
{
    nn_spark_config c = preset_config("tiny");
    nn_problems problems = {0};
    c.llm.eos_token_id = 1026;
    CHECK_INT_EQ(nn_spark_config_check(&c, &problems), 0);
    for (size_t i = 0; i < problems.count; i++)
        fprintf(stderr, "tiny: %s\n", problems.items[i]);
    nn_problems_free(&problems);
    /* Grouped-query attention and more wav2vec2 layers than the semantic mix reads. */
    CHECK(c.llm.num_key_value_heads < c.llm.num_attention_heads);
    CHECK(c.llm.num_key_value_heads > 1);
    CHECK(c.llm.tie_word_embeddings);
    CHECK(c.wav2vec2.num_hidden_layers > NN_SPARK_W2V_MIX_LAYER);
    CHECK(c.bicodec.quantizer.codebook_dim != c.bicodec.quantizer.input_dim);

    nn_spark_tensor_list llm, bicodec, w2v;
    char *error = NULL;
    CHECK(nn_spark_expected_tensors(&c, NN_SPARK_LLM, &llm, &error) == 0);
    CHECK(nn_spark_expected_tensors(&c, NN_SPARK_BICODEC, &bicodec, &error) == 0);
    CHECK(nn_spark_expected_tensors(&c, NN_SPARK_WAV2VEC2, &w2v, &error) == 0);
    check_tensor(&llm, "model.layers.1.self_attn.k_proj.bias", NN_F32, 1, 32, 0, 0);
    check_tensor(&llm, "model.layers.1.self_attn.q_proj.bias", NN_F32, 1, 64, 0, 0);
    CHECK(nn_spark_tensor_list_find(&llm, "lm_head.weight") < 0);
    /* The upstream code's fixed sizes survive the small config. */
    check_tensor(&bicodec, "speaker_encoder.speaker_encoder.layer1.conv.weight", NN_F32, 3, 512,
                 32, 5);
    check_tensor(&bicodec, "speaker_encoder.speaker_encoder.layer2.se_res2block.1.convs.0.weight",
                 NN_F32, 3, 64, 64, 3);
    check_tensor(&bicodec, "speaker_encoder.speaker_encoder.pool.linear1.weight", NN_F32, 3, 128,
                 4608, 1);
    check_tensor(&bicodec, "speaker_encoder.perceiver_sampler.proj_context.weight", NN_F32, 2, 32,
                 1536, 0);
    check_tensor(&bicodec, "speaker_encoder.perceiver_sampler.layers.1.0.to_kv.weight", NN_F32, 2,
                 1024, 32, 0);
    check_tensor(&bicodec, "speaker_encoder.perceiver_sampler.layers.1.1.0.weight", NN_F32, 2, 170,
                 32, 0);
    check_tensor(&bicodec, "prenet.downsample.1.1.convnext.1.gamma", NN_F32, 1, 32, 0, 0);
    check_tensor(&bicodec, "decoder.model.4.block.1.weight_g", NN_F32, 3, 8, 1, 1);
    check_tensor(&bicodec, "decoder.model.6.weight_v", NN_F32, 3, 1, 4, 7);
    check_tensor(&bicodec, "speaker_encoder.speaker_encoder.bn.num_batches_tracked", NN_I64, 0, 0,
                 0, 0);
    check_tensor(&w2v, "wav2vec2.encoder.pos_conv_embed.conv.weight_v", NN_F32, 3, 32, 2, 128);
    check_tensor(&w2v, "wav2vec2.encoder.layers.16.final_layer_norm.weight", NN_F32, 1, 32, 0, 0);
    uint64_t bytes = (total_elements(&llm) + total_elements(&bicodec) + total_elements(&w2v)) * 4;
    CHECK(bytes < 40u * 1000 * 1000);
    nn_spark_tensor_list_free(&llm);
    nn_spark_tensor_list_free(&bicodec);
    nn_spark_tensor_list_free(&w2v);
}

static void test_token_families(void)
{
    /* With Qwen2.5's 151,643 regular tokens the family order gives the release ids (3.3). */
    nn_spark_config c = preset_config("full");
    nn_spark_token_family f[NN_SPARK_MAX_FAMILIES];
    size_t n = nn_spark_token_families(&c, f);
    int64_t id = 151643, total = 0;
    char token[NN_SPARK_TOKEN_MAX];
    for (size_t i = 0; i < n; i++) {
        if (strcmp(f[i].name, "bicodec_global") == 0)
            CHECK_INT_EQ(id, 151665);
        if (strcmp(f[i].name, "bicodec_semantic") == 0)
            CHECK_INT_EQ(id, 155761);
        if (strcmp(f[i].name, "emotion") == 0) {
            CHECK_INT_EQ(id, 165035);
            CHECK_STR_EQ(nn_spark_family_token(&f[i], 100, token), "<|emotion_100|>");
        }
        if (strcmp(f[i].name, "task") == 0) {
            CHECK_INT_EQ(id, 165136);
            CHECK_STR_EQ(nn_spark_family_token(&f[i], 1, token), "<|task_tts|>");
            CHECK_STR_EQ(nn_spark_family_token(&f[i], 21, token), "<|end_semantic_token|>");
        }
        id += f[i].count;
        total += f[i].count;
    }
    CHECK_INT_EQ(id, 165158);
    CHECK_INT_EQ(total - 22, 13493);
    CHECK_STR_EQ(nn_spark_family_token(&f[0], 2, token), "<|im_end|>");
}

static void test_prng(void)
{
    /* Golden values from an independent Python implementation of the same arithmetic. */
    nn_rng r;
    nn_rng_seed(&r, 42, "test");
    CHECK(nn_rng_next(&r) == 0x215643ee0c503877u);
    CHECK(nn_rng_next(&r) == 0xe966e2f45e73e7efu);
    CHECK(nn_rng_next(&r) == 0x1f8263640158e97u);
    nn_rng_seed(&r, 0, NULL);
    CHECK(nn_rng_next(&r) == 0x99ec5f36cb75f2b4u);
    float v[4];
    nn_rng_seed(&r, 42, "test");
    nn_rng_fill_normal(&r, v, 4, 0.5f, 0.02f);
    static const uint32_t want[4] = {0x3ee84f1fu, 0x3f098471u, 0x3eeda16au, 0x3ef5c9b6u};
    for (int i = 0; i < 4; i++) {
        uint32_t bits;
        memcpy(&bits, &v[i], 4);
        CHECK(bits == want[i]);
    }
    /* The draw is bell-shaped with the asked mean and spread, and bounded. */
    enum { N = 1 << 20 };
    float *x = malloc(N * sizeof *x);
    CHECK(x != NULL);
    if (!x)
        return;
    nn_rng_seed(&r, 7, "stats");
    nn_rng_fill_normal(&r, x, N, 1.0f, 0.5f);
    double sum = 0, sq = 0, lo = 1e9, hi = -1e9;
    for (int i = 0; i < N; i++) {
        sum += x[i];
        sq += (x[i] - 1.0) * (x[i] - 1.0);
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    CHECK_NEAR(sum / N, 1.0, 0.002);
    CHECK_NEAR(sqrt(sq / N), 0.5, 0.002);
    CHECK(lo >= 1.0 - 0.5 * 3.4642 && hi <= 1.0 + 0.5 * 3.4642);
    free(x);
    for (int i = 0; i < 1000; i++)
        CHECK(nn_rng_below(&r, 7) < 7);
}

/* weight_g is the norm of its weight_v, computed the way the file is filled. */
static void test_weight_norm_fill(void)
{
    nn_spark_config c = preset_config("tiny");
    nn_spark_tensor_list list;
    char *error = NULL;
    CHECK(nn_spark_expected_tensors(&c, NN_SPARK_BICODEC, &list, &error) == 0);
    ptrdiff_t g = nn_spark_tensor_list_find(&list, "decoder.model.1.block.1.weight_g");
    CHECK(g >= 0);
    if (g < 0)
        return;
    const nn_spark_tensor_spec *gs = &list.items[g], *vs = &list.items[gs->norm_source];
    uint64_t gn = nn_spark_tensor_elements(gs), vn = nn_spark_tensor_elements(vs);
    float *gv = malloc(gn * 4), *vv = malloc(vn * 4);
    CHECK(nn_spark_fill_tensor(&list, (size_t)g, 5, gv, gn * 4) == 0);
    CHECK(nn_spark_fill_tensor(&list, gs->norm_source, 5, vv, vn * 4) == 0);
    CHECK(nn_spark_fill_tensor(&list, (size_t)g, 5, gv, gn * 4 + 4) != 0); /* wrong size */
    uint64_t row = vn / gn;
    for (uint64_t i = 0; i < gn; i++) {
        double s = 0;
        for (uint64_t j = 0; j < row; j++)
            s += (double)vv[i * row + j] * vv[i * row + j];
        CHECK_NEAR(gv[i], sqrt(s), 1e-5 * sqrt(s));
    }
    /* wav2vec2's positional conv keeps dim 2. */
    nn_spark_tensor_list w;
    CHECK(nn_spark_expected_tensors(&c, NN_SPARK_WAV2VEC2, &w, &error) == 0);
    ptrdiff_t pg = nn_spark_tensor_list_find(&w, "wav2vec2.encoder.pos_conv_embed.conv.weight_g");
    CHECK(pg >= 0 && w.items[pg].norm_dim == 2);
    if (pg >= 0) {
        const nn_spark_tensor_spec *ps = &w.items[pg], *pv = &w.items[ps->norm_source];
        uint64_t k = (uint64_t)pv->shape[2], n = nn_spark_tensor_elements(pv);
        float *pgv = malloc(k * 4), *pvv = malloc(n * 4);
        CHECK(nn_spark_fill_tensor(&w, (size_t)pg, 5, pgv, k * 4) == 0);
        CHECK(nn_spark_fill_tensor(&w, ps->norm_source, 5, pvv, n * 4) == 0);
        double s = 0;
        for (uint64_t e = 3; e < n; e += k) /* every element at kernel position 3 */
            s += (double)pvv[e] * pvv[e];
        CHECK_NEAR(pgv[3], sqrt(s), 1e-5 * sqrt(s));
        free(pgv);
        free(pvv);
    }
    free(gv);
    free(vv);
    nn_spark_tensor_list_free(&list);
    nn_spark_tensor_list_free(&w);
}

static char *slurp(const char *path)
{
    char *error = NULL;
    char *text = nn_read_file(path, NULL, &error);
    if (!text) {
        fprintf(stderr, "%s\n", error);
        free(error);
    }
    return text;
}

/* Writing, reading back and writing again gives the same bytes; the values survive. */
static void test_config_round_trip(void)
{
    char dir[] = "/tmp/spark-config-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char *error = NULL;
    char path[256];
    for (int round = 0; round < 2; round++) {
        char sub[300];
        snprintf(sub, sizeof sub, "%s/r%d/LLM", dir, round);
        CHECK(nn_make_dirs(sub, &error) == 0);
        snprintf(sub, sizeof sub, "%s/r%d/BiCodec", dir, round);
        CHECK(nn_make_dirs(sub, &error) == 0);
        snprintf(sub, sizeof sub, "%s/r%d/%s", dir, round, NN_SPARK_WAV2VEC2_DIR);
        CHECK(nn_make_dirs(sub, &error) == 0);
    }
    nn_spark_config full = preset_config("full");
    full.llm.bos_token_id = 151643;
    full.llm.eos_token_id = 151645;
    snprintf(path, sizeof path, "%s/r0", dir);
    CHECK(nn_spark_config_write(path, &full, &error) == 0);
    nn_spark_config loaded;
    nn_problems problems = {0};
    CHECK(nn_spark_config_load(path, &loaded, &problems) == 0);
    for (size_t i = 0; i < problems.count; i++)
        fprintf(stderr, "load: %s\n", problems.items[i]);
    CHECK_INT_EQ(problems.count, 0);
    CHECK_INT_EQ(nn_spark_config_check(&loaded, &problems), 0);
    CHECK_INT_EQ(loaded.llm.vocab_size, 166000);
    CHECK_INT_EQ(loaded.llm.num_key_value_heads, 2);
    CHECK_NEAR(loaded.llm.rms_norm_eps, 1e-6, 0);
    CHECK_NEAR(loaded.llm.rope_theta, 1e6, 0);
    CHECK_INT_EQ(loaded.bicodec.decoder.kernel_sizes[1], 11);
    CHECK_INT_EQ(loaded.bicodec.prenet.condition_dim, 1024);
    CHECK_INT_EQ(loaded.bicodec.postnet.vocos_num_layers, 6);
    CHECK_INT_EQ(loaded.bicodec.speaker_encoder.fsq_level_count, 6);
    CHECK_NEAR(loaded.bicodec.mel.mel_fmax, 0, 0);
    CHECK_NEAR(loaded.wav2vec2.mask_time_prob, 0.075, 0);
    CHECK_INT_EQ(loaded.wav2vec2.conv_kernel[0], 10);
    CHECK(loaded.wav2vec2.do_stable_layer_norm && loaded.wav2vec2.feat_extract_norm_layer);
    CHECK_NEAR(loaded.audio.segment_duration, 2.4, 0);
    snprintf(path, sizeof path, "%s/r1", dir);
    CHECK(nn_spark_config_write(path, &loaded, &error) == 0);
    static const char *const files[] = {"config.yaml", "LLM/config.json", "BiCodec/config.yaml",
                                        NN_SPARK_WAV2VEC2_DIR "/config.json",
                                        NN_SPARK_WAV2VEC2_DIR "/preprocessor_config.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char a[300], b[300];
        snprintf(a, sizeof a, "%s/r0/%s", dir, files[i]);
        snprintf(b, sizeof b, "%s/r1/%s", dir, files[i]);
        char *ta = slurp(a), *tb = slurp(b);
        CHECK(ta && tb && strcmp(ta, tb) == 0);
        free(ta);
        free(tb);
    }
    /* A broken file names the key. */
    snprintf(path, sizeof path, "%s/r1/LLM/config.json", dir);
    CHECK(nn_write_file_atomic(path, "{\"hidden_size\": -3}", 19, &error) == 0);
    nn_qwen2_config q;
    CHECK(nn_qwen2_config_load(path, &q, &problems) != 0);
    bool named = false;
    for (size_t i = 0; i < problems.count; i++)
        named |= strstr(problems.items[i], "hidden_size must be a positive integer") != NULL;
    CHECK(named);
    nn_problems_free(&problems);
    char command[400];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    CHECK(system(command) == 0);
}

static void test_formatting(void)
{
    char buf[32];
    CHECK_STR_EQ(nn_format_number(2.4, buf), "2.4");
    CHECK_STR_EQ(nn_format_number(1e-6, buf), "1e-06");
    CHECK_STR_EQ(nn_format_number(0.075, buf), "0.075");
    CHECK_STR_EQ(nn_format_number(40, buf), "40");
    CHECK_STR_EQ(nn_format_number(0.1 + 0.2, buf), "0.30000000000000004");
}

static void test_bpe(void)
{
    char *error = NULL;
    nn_bpe *bpe = nn_bpe_learn(1024, &error);
    CHECK(bpe != NULL);
    if (!bpe)
        return;
    CHECK_INT_EQ(nn_bpe_token_count(bpe), 1024);
    CHECK_INT_EQ(nn_bpe_merge_count(bpe), 768);
    CHECK(nn_bpe_learned_merges(bpe) > 300); /* the text, not filler, gives most of them */
    /* GPT-2 byte order, as in Qwen2's vocabulary. */
    CHECK_STR_EQ(nn_bpe_token(bpe, 0), "!");
    CHECK_STR_EQ(nn_bpe_token(bpe, 220), "\xc4\xa0"); /* U+0120 for the space byte */
    CHECK_STR_EQ(nn_bpe_token(bpe, 198), "\xc4\x8a"); /* U+010A for '\n' */
    /* Every merge joins existing tokens into its own new id. */
    for (size_t r = 0; r < nn_bpe_merge_count(bpe); r++) {
        size_t a, b;
        nn_bpe_merge(bpe, r, &a, &b);
        CHECK(a < 256 + r && b < 256 + r);
        char joined[512];
        snprintf(joined, sizeof joined, "%s%s", nn_bpe_token(bpe, a), nn_bpe_token(bpe, b));
        CHECK_STR_EQ(nn_bpe_token(bpe, 256 + r), joined);
    }
    /* Same input, same vocabulary. */
    nn_bpe *again = nn_bpe_learn(1024, &error);
    CHECK(again != NULL);
    for (size_t i = 0; again && i < 1024; i++)
        CHECK(strcmp(nn_bpe_token(bpe, i), nn_bpe_token(again, i)) == 0);
    nn_bpe_free(again);
    nn_bpe_free(bpe);
    CHECK(nn_bpe_learn(100, &error) == NULL && error != NULL);
    free(error);
}

int main(void)
{
    test_full_inventory();
    test_tiny_structure();
    test_token_families();
    test_prng();
    test_weight_norm_fill();
    test_config_round_trip();
    test_formatting();
    test_bpe();
    return CHECK_DONE();
}
