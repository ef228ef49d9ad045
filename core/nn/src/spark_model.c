/* The Spark-TTS model description as data: presets, the release's file list, the added-token
 * families and the tensor inventory of each component (spec 3.1, 3.3, 4.10, 5.3).
 *
 * The inventory is built from per-module templates (a Linear, a weight-normed Conv1d, a
 * BatchNorm, a ConvNeXt block...) whose shapes name symbolic sizes; composing them with the
 * module prefixes of the upstream code gives exactly the release's state-dict keys: 290 LLM
 * tensors, 840 BiCodec tensors and 429 wav2vec2 tensors for the full preset. */
#include <spark/nn/spark_model.h>

#include "nn_error.h"

#include <math.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- presets --------------------------------------------------------------------------- */

/* config.yaml is the same in every preset. */
#define RELEASE_AUDIO                                                                          \
    {                                                                                          \
        .sample_rate = 16000, .ref_segment_duration = 6, .latent_hop_length = 320,             \
        .volume_normalize = true, .highpass_cutoff_freq = 40, .segment_duration = 2.4,         \
        .max_val_duration = 12,                                                                \
    }

static const nn_spark_preset presets[] = {
    {
        .name = "full",
        .config = {
            .audio = RELEASE_AUDIO,
            .llm = {
                .hidden_size = 896, .num_hidden_layers = 24, .num_attention_heads = 14,
                .num_key_value_heads = 2, .intermediate_size = 4864,
                .max_position_embeddings = 32768, .max_window_layers = 21,
                .sliding_window = 32768, .rope_theta = 1000000.0, .rms_norm_eps = 1e-6,
                .initializer_range = 0.02, .tie_word_embeddings = true,
                .use_sliding_window = false,
            },
            .bicodec = {
                .mel = {.sample_rate = 16000, .n_fft = 1024, .win_length = 640,
                        .hop_length = 320, .num_mels = 128, .mel_fmin = 10, .mel_fmax = 0},
                .encoder = {.input_channels = 1024, .vocos_dim = 384,
                            .vocos_intermediate_dim = 2048, .vocos_num_layers = 12,
                            .out_channels = 1024, .sample_ratios = {1, 1},
                            .sample_ratio_count = 2},
                .prenet = {.input_channels = 1024, .vocos_dim = 384,
                           .vocos_intermediate_dim = 2048, .vocos_num_layers = 12,
                           .out_channels = 1024, .condition_dim = 1024,
                           .sample_ratios = {1, 1}, .sample_ratio_count = 2},
                .postnet = {.input_channels = 1024, .vocos_dim = 384,
                            .vocos_intermediate_dim = 2048, .vocos_num_layers = 6,
                            .out_channels = 1024, .sample_ratios = {1, 1},
                            .sample_ratio_count = 2},
                .quantizer = {.input_dim = 1024, .codebook_size = 8192, .codebook_dim = 8,
                              .commitment = 0.25, .codebook_loss_weight = 2.0,
                              .use_l2_normlize = true, .threshold_ema_dead_code = 0.2},
                .speaker_encoder = {.input_dim = 128, .out_dim = 1024, .latent_dim = 128,
                                    .token_num = 32, .fsq_levels = {4, 4, 4, 4, 4, 4},
                                    .fsq_level_count = 6, .fsq_num_quantizers = 1},
                .decoder = {.input_channel = 1024, .channels = 1536, .rates = {8, 5, 4, 2},
                            .rate_count = 4, .kernel_sizes = {16, 11, 8, 4},
                            .kernel_size_count = 4},
            },
            .wav2vec2 = {
                .hidden_size = 1024, .num_hidden_layers = 24, .num_attention_heads = 16,
                .intermediate_size = 4096, .num_feat_extract_layers = 7,
                .conv_dim = {512, 512, 512, 512, 512, 512, 512},
                .conv_kernel = {10, 3, 3, 3, 3, 2, 2},
                .conv_stride = {5, 2, 2, 2, 2, 2, 2},
                .num_conv_pos_embeddings = 128, .num_conv_pos_embedding_groups = 16,
                .num_codevector_groups = 2, .num_codevectors_per_group = 320,
                .codevector_dim = 768, .proj_codevector_dim = 768,
                .layer_norm_eps = 1e-5, .mask_time_prob = 0.075, .mask_feature_prob = 0.0,
                .conv_bias = true, .do_stable_layer_norm = true,
                .feat_extract_norm_layer = true,
                .processor = {.do_normalize = true, .return_attention_mask = true,
                              .feature_size = 1, .sampling_rate = 16000,
                              .padding_value = 0.0},
            },
        },
        /* Qwen2.5: 151,643 regular tokens (151,387 merges); rows padded to 166,000. */
        .bpe_vocab_size = 151643,
        .vocab_multiple = 1000,
        .fixed_vocab_size = 166000,
    },
    {
        /* Every structural feature of the release at a fraction of its size: GQA with q/k/v
         * biases and tied embeddings, more wav2vec2 layers than the mix reads, the same hop
         * and upsampling rates, weight norm and batch norm, and the hard-coded ECAPA and
         * Perceiver sizes (which alone make most of its bytes). */
        .name = "tiny",
        .config = {
            .audio = RELEASE_AUDIO,
            .llm = {
                .hidden_size = 64, .num_hidden_layers = 2, .num_attention_heads = 4,
                .num_key_value_heads = 2, .intermediate_size = 128,
                .max_position_embeddings = 32768, .max_window_layers = 2,
                .sliding_window = 32768, .rope_theta = 1000000.0, .rms_norm_eps = 1e-6,
                .initializer_range = 0.02, .tie_word_embeddings = true,
                .use_sliding_window = false,
            },
            .bicodec = {
                .mel = {.sample_rate = 16000, .n_fft = 1024, .win_length = 640,
                        .hop_length = 320, .num_mels = 32, .mel_fmin = 10, .mel_fmax = 0},
                .encoder = {.input_channels = 32, .vocos_dim = 32,
                            .vocos_intermediate_dim = 64, .vocos_num_layers = 2,
                            .out_channels = 64, .sample_ratios = {1, 1},
                            .sample_ratio_count = 2},
                .prenet = {.input_channels = 64, .vocos_dim = 32,
                           .vocos_intermediate_dim = 64, .vocos_num_layers = 2,
                           .out_channels = 64, .condition_dim = 64,
                           .sample_ratios = {1, 1}, .sample_ratio_count = 2},
                .postnet = {.input_channels = 64, .vocos_dim = 32,
                            .vocos_intermediate_dim = 64, .vocos_num_layers = 1,
                            .out_channels = 64, .sample_ratios = {1, 1},
                            .sample_ratio_count = 2},
                .quantizer = {.input_dim = 64, .codebook_size = 1024, .codebook_dim = 8,
                              .commitment = 0.25, .codebook_loss_weight = 2.0,
                              .use_l2_normlize = true, .threshold_ema_dead_code = 0.2},
                .speaker_encoder = {.input_dim = 32, .out_dim = 64, .latent_dim = 32,
                                    .token_num = 32, .fsq_levels = {4, 4, 4, 4, 4, 4},
                                    .fsq_level_count = 6, .fsq_num_quantizers = 1},
                .decoder = {.input_channel = 64, .channels = 64, .rates = {8, 5, 4, 2},
                            .rate_count = 4, .kernel_sizes = {16, 11, 8, 4},
                            .kernel_size_count = 4},
            },
            .wav2vec2 = {
                .hidden_size = 32, .num_hidden_layers = 17, .num_attention_heads = 2,
                .intermediate_size = 64, .num_feat_extract_layers = 7,
                .conv_dim = {32, 32, 32, 32, 32, 32, 32},
                .conv_kernel = {10, 3, 3, 3, 3, 2, 2},
                .conv_stride = {5, 2, 2, 2, 2, 2, 2},
                .num_conv_pos_embeddings = 128, .num_conv_pos_embedding_groups = 16,
                .num_codevector_groups = 2, .num_codevectors_per_group = 8,
                .codevector_dim = 16, .proj_codevector_dim = 16,
                .layer_norm_eps = 1e-5, .mask_time_prob = 0.075, .mask_feature_prob = 0.0,
                .conv_bias = true, .do_stable_layer_norm = true,
                .feat_extract_norm_layer = true,
                .processor = {.do_normalize = true, .return_attention_mask = true,
                              .feature_size = 1, .sampling_rate = 16000,
                              .padding_value = 0.0},
            },
        },
        .bpe_vocab_size = 1024,
        .vocab_multiple = 1000,
        .fixed_vocab_size = 0,
    },
};

const char *const nn_spark_preset_names[] = {"tiny", "full", NULL};

bool nn_spark_preset_get(const char *name, nn_spark_preset *out)
{
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (strcmp(presets[i].name, name) == 0) {
            *out = presets[i];
            return true;
        }
    return false;
}

/* ---- files ----------------------------------------------------------------------------- */

static const char *const component_names[NN_SPARK_COMPONENT_COUNT] = {"llm", "bicodec",
                                                                       "wav2vec2"};
static const char *const component_weights[NN_SPARK_COMPONENT_COUNT] = {
    "LLM/model.safetensors", "BiCodec/model.safetensors",
    NN_SPARK_WAV2VEC2_DIR "/pytorch_model.bin"};

const char *nn_spark_component_name(nn_spark_component component)
{
    return (unsigned)component < NN_SPARK_COMPONENT_COUNT ? component_names[component] : "?";
}

const char *nn_spark_component_weights(nn_spark_component component)
{
    return (unsigned)component < NN_SPARK_COMPONENT_COUNT ? component_weights[component] : "?";
}

bool nn_spark_component_is_torch(nn_spark_component component)
{
    return component == NN_SPARK_WAV2VEC2;
}

const nn_spark_file nn_spark_files[] = {
    {"config.yaml", true, "audio front-end settings"},
    {"LLM/config.json", true, "Qwen2 configuration"},
    {"LLM/model.safetensors", true, "LLM weights"},
    {"LLM/tokenizer.json", true, "tokenizer (byte-level BPE and added tokens)"},
    {"LLM/tokenizer_config.json", false, "tokenizer settings and added-token flags"},
    {"LLM/added_tokens.json", false, "added token ids"},
    {"LLM/vocab.json", false, "BPE vocabulary (slow tokenizer)"},
    {"LLM/merges.txt", false, "BPE merges (slow tokenizer)"},
    {"LLM/special_tokens_map.json", false, "special tokens"},
    {"BiCodec/config.yaml", true, "codec configuration"},
    {"BiCodec/model.safetensors", true, "codec weights"},
    {NN_SPARK_WAV2VEC2_DIR "/config.json", true, "wav2vec2 configuration"},
    {NN_SPARK_WAV2VEC2_DIR "/preprocessor_config.json", true, "wav2vec2 input normalisation"},
    {NN_SPARK_WAV2VEC2_DIR "/pytorch_model.bin", true, "wav2vec2 weights"},
};
const size_t nn_spark_file_count = sizeof nn_spark_files / sizeof nn_spark_files[0];

/* ---- tokens ---------------------------------------------------------------------------- */

/* Qwen2.5's 22 specials (ids 151643-151664 in the release). */
static const char *const qwen_specials[] = {
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>",
    "<|object_ref_end|>", "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>",
    "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
    "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
    "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
};
enum { QWEN_SPECIAL_COUNT = sizeof qwen_specials / sizeof qwen_specials[0],
       QWEN_FIRST_NON_SPECIAL = 14 }; /* from <tool_call> on, "special": false */

/* Task and structure tokens, in the order of expand_tokenizer.py (spec 3.3). */
static const char *const task_tokens[] = {
    "<|task_vc|>", "<|task_tts|>", "<|task_asr|>", "<|task_s2s|>", "<|task_t2s|>",
    "<|task_cap|>", "<|task_understand|>", "<|task_controllable_tts|>", "<|task_prompt_tts|>",
    "<|task_edit|>", "<|start_content|>", "<|start_style_label|>", "<|start_style_prompt|>",
    "<|start_acoustic_token|>", "<|start_global_token|>", "<|start_semantic_token|>",
    "<|end_content|>", "<|end_style_label|>", "<|end_style_prompt|>",
    "<|end_acoustic_token|>", "<|end_global_token|>", "<|end_semantic_token|>",
};

bool nn_spark_qwen_special_is_special(uint32_t i)
{
    return i < QWEN_FIRST_NON_SPECIAL;
}

size_t nn_spark_token_families(const nn_spark_config *config, nn_spark_token_family *out)
{
    const nn_bicodec_config *b = &config->bicodec;
    uint64_t global_count = 1;
    for (size_t i = 0; i < b->speaker_encoder.fsq_level_count; i++)
        global_count *= (uint64_t)b->speaker_encoder.fsq_levels[i];
    /* Several FSQ quantizers would each emit a code per latent from the same code space. */
    const nn_spark_token_family families[] = {
        {"qwen_special", QWEN_SPECIAL_COUNT, NULL, qwen_specials},
        {"bicodec_global", (uint32_t)global_count, "<|bicodec_global_%u|>", NULL},
        {"bicodec_semantic", (uint32_t)b->quantizer.codebook_size, "<|bicodec_semantic_%u|>",
         NULL},
        {"pitch_value", 1001, "<|pitch_value_%u|>", NULL},
        {"pitch_var_value", 11, "<|pitch_var_value_%u|>", NULL},
        {"pitch_label", 5, "<|pitch_label_%u|>", NULL},
        {"pitch_var_label", 5, "<|pitch_var_label_%u|>", NULL},
        {"speed_value", 11, "<|speed_value_%u|>", NULL},
        {"speed_label", 5, "<|speed_label_%u|>", NULL},
        {"loudness_value", 31, "<|loudness_value_%u|>", NULL},
        {"loudness_label", 5, "<|loudness_label_%u|>", NULL},
        {"age", 5, "<|age_%u|>", NULL},
        {"gender", 3, "<|gender_%u|>", NULL},
        {"emotion", 101, "<|emotion_%u|>", NULL},
        {"task", sizeof task_tokens / sizeof task_tokens[0], NULL, task_tokens},
    };
    size_t n = sizeof families / sizeof families[0];
    memcpy(out, families, sizeof families);
    return n;
}

const char *nn_spark_family_token(const nn_spark_token_family *family, uint32_t i, char *buf)
{
    if (family->list)
        snprintf(buf, NN_SPARK_TOKEN_MAX, "%s", family->list[i]);
    else
        snprintf(buf, NN_SPARK_TOKEN_MAX, family->format, i);
    return buf;
}

/* ---- problems -------------------------------------------------------------------------- */

void nn_problems_add(nn_problems *problems, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *line = nn_vformat(fmt, ap);
    va_end(ap);
    if (!line)
        return;
    if (problems->count == problems->cap) {
        size_t cap = problems->cap ? 2 * problems->cap : 8;
        char **grown = realloc(problems->items, cap * sizeof *grown);
        if (!grown) {
            free(line);
            return;
        }
        problems->items = grown;
        problems->cap = cap;
    }
    problems->items[problems->count++] = line;
}

void nn_problems_free(nn_problems *problems)
{
    for (size_t i = 0; i < problems->count; i++)
        free(problems->items[i]);
    free(problems->items);
    memset(problems, 0, sizeof *problems);
}

/* ---- tensor templates ------------------------------------------------------------------ */

/* Symbolic sizes a template's shape may name (as negative numbers). */
enum sym { S_IN = 1, S_OUT, S_DIM, S_INTER, S_COND, S_K, S_STRIDE, S_LAYERS, S_COUNT };
#define Z(s) (-(int32_t)(s))

/* How a tensor's random values are drawn: the mean and spread that keep activations in a
 * realistic range when every layer is random. */
typedef enum rule {
    R_WEIGHT,       /* N(0, 1/sqrt(fan_in)), fan_in = product of dims after the first */
    R_WEIGHT_T,     /* ConvTranspose1d [in, out, k]: each output sees in * k / stride taps */
    R_BIAS,         /* N(0, 0.02) */
    R_NORM_W,       /* LayerNorm / RMSNorm weight: 1 +- 0.02 */
    R_NORM_B,       /* LayerNorm bias: N(0, 0.02) */
    R_BN_W,         /* BatchNorm weight: 1 +- 0.05 */
    R_BN_B,         /* BatchNorm bias: N(0, 0.05) */
    R_BN_MEAN,      /* running_mean: N(0, 0.1) */
    R_BN_VAR,       /* running_var: 1 +- 0.1 (always positive: the draw is bounded) */
    R_COUNTER,      /* num_batches_tracked, I64 */
    R_NORM_OF_NEXT, /* weight_g over dim 0: the norm of the following weight_v */
    R_NORM_OF_NEXT_DIM2, /* weight_g over dim 2 (wav2vec2 pos_conv) */
    R_ALPHA,        /* Snake alpha: 1 +- 0.1 */
    R_GAMMA,        /* ConvNeXt layer scale: 1/L +- 10% */
    R_ADA_W,        /* AdaLayerNorm projections of the condition: small */
    R_ADA_SCALE_B,  /* AdaLayerNorm scale bias: 1 +- 0.02, so the scale starts near 1 */
    R_EMBED,        /* token embedding: N(0, 1/sqrt(hidden)) */
    R_UNIT,         /* codebooks, latents: N(0, 1), spread */
    R_POSITIVE,     /* cluster_size: 1 +- 0.1 */
    R_UNIFORM01,    /* masked_spec_embed, codevectors: around 0.5, like uniform_() */
} rule;

typedef struct tensor_template {
    const char *suffix;
    uint8_t ndim;
    int32_t dims[4];
    rule rule;
} tensor_template;

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const tensor_template linear_t[] = {
    {"weight", 2, {Z(S_OUT), Z(S_IN)}, R_WEIGHT},
    {"bias", 1, {Z(S_OUT)}, R_BIAS},
};
static const tensor_template linear_no_bias_t[] = {
    {"weight", 2, {Z(S_OUT), Z(S_IN)}, R_WEIGHT},
};
static const tensor_template conv_t[] = {
    {"weight", 3, {Z(S_OUT), Z(S_IN), Z(S_K)}, R_WEIGHT},
    {"bias", 1, {Z(S_OUT)}, R_BIAS},
};
/* Legacy torch.nn.utils.weight_norm: `weight` is replaced by weight_g and weight_v,
 * registered after the bias. */
static const tensor_template wn_conv_t[] = {
    {"bias", 1, {Z(S_OUT)}, R_BIAS},
    {"weight_g", 3, {Z(S_OUT), 1, 1}, R_NORM_OF_NEXT},
    {"weight_v", 3, {Z(S_OUT), Z(S_IN), Z(S_K)}, R_WEIGHT},
};
/* ConvTranspose1d weights are [in, out, k]; weight_norm's dim 0 is then the input channel. */
static const tensor_template wn_conv_transpose_t[] = {
    {"bias", 1, {Z(S_OUT)}, R_BIAS},
    {"weight_g", 3, {Z(S_IN), 1, 1}, R_NORM_OF_NEXT},
    {"weight_v", 3, {Z(S_IN), Z(S_OUT), Z(S_K)}, R_WEIGHT_T},
};
static const tensor_template layer_norm_t[] = {
    {"weight", 1, {Z(S_DIM)}, R_NORM_W},
    {"bias", 1, {Z(S_DIM)}, R_NORM_B},
};
static const tensor_template ada_layer_norm_t[] = {
    {"scale.weight", 2, {Z(S_DIM), Z(S_COND)}, R_ADA_W},
    {"scale.bias", 1, {Z(S_DIM)}, R_ADA_SCALE_B},
    {"shift.weight", 2, {Z(S_DIM), Z(S_COND)}, R_ADA_W},
    {"shift.bias", 1, {Z(S_DIM)}, R_BIAS},
};
static const tensor_template batch_norm_t[] = {
    {"weight", 1, {Z(S_DIM)}, R_BN_W},
    {"bias", 1, {Z(S_DIM)}, R_BN_B},
    {"running_mean", 1, {Z(S_DIM)}, R_BN_MEAN},
    {"running_var", 1, {Z(S_DIM)}, R_BN_VAR},
    {"num_batches_tracked", 0, {0}, R_COUNTER},
};
/* ConvNeXt block: its own gamma first (a module's parameters precede its children's), then
 * the depthwise conv; the norm (plain or adaptive) goes between this and convnext_tail_t. */
static const tensor_template convnext_head_t[] = {
    {"gamma", 1, {Z(S_DIM)}, R_GAMMA},
    {"dwconv.weight", 3, {Z(S_DIM), 1, NN_SPARK_VOCOS_KERNEL}, R_WEIGHT},
    {"dwconv.bias", 1, {Z(S_DIM)}, R_BIAS},
};
static const tensor_template convnext_tail_t[] = {
    {"pwconv1.weight", 2, {Z(S_INTER), Z(S_DIM)}, R_WEIGHT},
    {"pwconv1.bias", 1, {Z(S_INTER)}, R_BIAS},
    {"pwconv2.weight", 2, {Z(S_DIM), Z(S_INTER)}, R_WEIGHT},
    {"pwconv2.bias", 1, {Z(S_DIM)}, R_BIAS},
};
static const tensor_template snake_t[] = {
    {"alpha", 3, {1, Z(S_DIM), 1}, R_ALPHA},
};
static const tensor_template vector_t[] = {
    {"", 1, {Z(S_DIM)}, R_NORM_W},
};

/* ---- building a list ------------------------------------------------------------------- */

typedef struct builder {
    nn_spark_tensor_list *list;
    int64_t syms[S_COUNT];
    bool failed;
    char *error;
} builder;

static void fail(builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(builder *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    b->failed = true;
    va_list ap;
    va_start(ap, fmt);
    b->error = nn_vformat(fmt, ap);
    va_end(ap);
}

static void set_syms(builder *b, int64_t in, int64_t out, int64_t k)
{
    b->syms[S_IN] = in;
    b->syms[S_OUT] = out;
    b->syms[S_K] = k;
}

static float inv_sqrt(double x)
{
    /* sqrt is correctly rounded (IEEE 754), so this is the same on every libm. */
    return (float)(1.0 / sqrt(x));
}

static void rule_values(builder *b, nn_spark_tensor_spec *t, rule r)
{
    t->fill = NN_SPARK_FILL_NORMAL;
    t->mean = 0;
    t->std = 0.02f;
    uint64_t fan = 1;
    for (uint32_t d = 1; d < t->ndim; d++)
        fan *= (uint64_t)t->shape[d];
    switch (r) {
    case R_WEIGHT: t->std = inv_sqrt((double)fan); break;
    case R_WEIGHT_T: {
        double taps = (double)t->shape[0] * (double)t->shape[2] / (double)b->syms[S_STRIDE];
        t->std = inv_sqrt(taps < 1 ? 1 : taps);
        break;
    }
    case R_BIAS: case R_NORM_B: break;
    case R_NORM_W: t->mean = 1; break;
    case R_BN_W: t->mean = 1; t->std = 0.05f; break;
    case R_BN_B: t->std = 0.05f; break;
    case R_BN_MEAN: t->std = 0.1f; break;
    case R_BN_VAR: t->mean = 1; t->std = 0.1f; break;
    case R_COUNTER: t->fill = NN_SPARK_FILL_COUNTER; t->std = 0; break;
    case R_NORM_OF_NEXT:
    case R_NORM_OF_NEXT_DIM2:
        t->fill = NN_SPARK_FILL_NORM_OF;
        t->std = 0;
        t->norm_source = (uint32_t)b->list->count + 1; /* the weight_v right after */
        t->norm_dim = r == R_NORM_OF_NEXT ? 0 : 2;
        break;
    case R_ALPHA: t->mean = 1; t->std = 0.1f; break;
    case R_GAMMA:
        t->mean = (float)(1.0 / (double)b->syms[S_LAYERS]);
        t->std = t->mean * 0.1f;
        break;
    case R_ADA_W: t->std = 0.1f * inv_sqrt((double)fan); break;
    case R_ADA_SCALE_B: t->mean = 1; break;
    case R_EMBED: t->std = inv_sqrt((double)t->shape[1]); break;
    case R_UNIT: t->std = 1; break;
    case R_POSITIVE: t->mean = 1; t->std = 0.1f; break;
    case R_UNIFORM01: t->mean = 0.5f; t->std = 0.25f; break;
    }
}

static void add(builder *b, const char *prefix, const tensor_template *templates, size_t n)
{
    for (size_t i = 0; i < n && !b->failed; i++) {
        const tensor_template *tt = &templates[i];
        nn_spark_tensor_list *list = b->list;
        if (list->count == list->cap) {
            size_t cap = list->cap ? 2 * list->cap : 256;
            nn_spark_tensor_spec *grown = realloc(list->items, cap * sizeof *grown);
            if (!grown) {
                fail(b, "out of memory");
                return;
            }
            list->items = grown;
            list->cap = cap;
        }
        nn_spark_tensor_spec *t = &list->items[list->count];
        memset(t, 0, sizeof *t);
        int len = snprintf(t->name, sizeof t->name, "%s%s", prefix, tt->suffix);
        if (len < 0 || (size_t)len >= sizeof t->name) {
            fail(b, "tensor name too long: %s%s", prefix, tt->suffix);
            return;
        }
        t->dtype = tt->rule == R_COUNTER ? NN_I64 : NN_F32;
        t->ndim = tt->ndim;
        for (uint32_t d = 0; d < tt->ndim; d++) {
            int64_t v = tt->dims[d] < 0 ? b->syms[-tt->dims[d]] : tt->dims[d];
            if (v <= 0) {
                fail(b, "%s: dimension %u is %lld", t->name, d, (long long)v);
                return;
            }
            t->shape[d] = v;
        }
        rule_values(b, t, tt->rule);
        list->count++;
    }
}

/* A parameter with an explicit shape and rule. */
static void add_param(builder *b, const char *name, uint8_t ndim, const int64_t *shape, rule r)
{
    tensor_template t = {"", ndim, {0}, r};
    for (uint8_t d = 0; d < ndim; d++) {
        if (shape[d] <= 0 || shape[d] > INT32_MAX) {
            fail(b, "%s: dimension %u is %lld", name, d, (long long)shape[d]);
            return;
        }
        t.dims[d] = (int32_t)shape[d];
    }
    /* Names are given whole; add() appends the empty suffix. */
    add(b, name, &t, 1);
}

/* Formats a module prefix; a truncated one would name the wrong tensor, so it fails. */
static void pfx(builder *b, char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void pfx(builder *b, char *out, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, size, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= size)
        fail(b, "tensor name prefix too long: %s...", out);
}

#define PREFIX_MAX 96

static void add_linear(builder *b, const char *prefix, int64_t in, int64_t out, bool bias)
{
    set_syms(b, in, out, 0);
    if (bias)
        add(b, prefix, linear_t, COUNT(linear_t));
    else
        add(b, prefix, linear_no_bias_t, COUNT(linear_no_bias_t));
}

static void add_conv(builder *b, const char *prefix, int64_t in, int64_t out, int64_t k)
{
    set_syms(b, in, out, k);
    add(b, prefix, conv_t, COUNT(conv_t));
}

static void add_wn_conv(builder *b, const char *prefix, int64_t in, int64_t out, int64_t k)
{
    set_syms(b, in, out, k);
    add(b, prefix, wn_conv_t, COUNT(wn_conv_t));
}

static void add_dim(builder *b, const char *prefix, const tensor_template *t, size_t n,
                    int64_t dim)
{
    b->syms[S_DIM] = dim;
    add(b, prefix, t, n);
}

/* ---- BiCodec (spec 4.3-4.10) ----------------------------------------------------------- */

static void add_vocos(builder *b, const char *prefix, int64_t in, int64_t dim, int64_t inter,
                      int64_t layers, int64_t cond)
{
    char p[PREFIX_MAX];
    pfx(b, p, sizeof p, "%sembed.", prefix);
    add_conv(b, p, in, dim, NN_SPARK_VOCOS_KERNEL);
    b->syms[S_DIM] = dim;
    b->syms[S_INTER] = inter;
    b->syms[S_COND] = cond;
    b->syms[S_LAYERS] = layers;
    pfx(b, p, sizeof p, "%snorm.", prefix);
    if (cond)
        add(b, p, ada_layer_norm_t, COUNT(ada_layer_norm_t));
    else
        add(b, p, layer_norm_t, COUNT(layer_norm_t));
    for (int64_t j = 0; j < layers; j++) {
        pfx(b, p, sizeof p, "%sconvnext.%lld.", prefix, (long long)j);
        add(b, p, convnext_head_t, COUNT(convnext_head_t));
        pfx(b, p, sizeof p, "%sconvnext.%lld.norm.", prefix, (long long)j);
        if (cond)
            add(b, p, ada_layer_norm_t, COUNT(ada_layer_norm_t));
        else
            add(b, p, layer_norm_t, COUNT(layer_norm_t));
        pfx(b, p, sizeof p, "%sconvnext.%lld.", prefix, (long long)j);
        add(b, p, convnext_tail_t, COUNT(convnext_tail_t));
    }
    pfx(b, p, sizeof p, "%sfinal_layer_norm.", prefix);
    add(b, p, layer_norm_t, COUNT(layer_norm_t));
}

/* SamplingBlock with ratio 1 has no parameters; its VocosBackbone follows at index 1. */
static void add_sampling_stack(builder *b, const char *prefix, const nn_bicodec_vocos_config *c)
{
    char p[PREFIX_MAX];
    for (size_t i = 0; i < c->sample_ratio_count; i++) {
        if (c->sample_ratios[i] != 1) {
            fail(b, "%s: sample ratio %lld: only ratio 1 (no resampling) is described",
                 prefix, (long long)c->sample_ratios[i]);
            return;
        }
        pfx(b, p, sizeof p, "%sdownsample.%zu.1.", prefix, i);
        add_vocos(b, p, c->vocos_dim, c->vocos_dim, c->vocos_intermediate_dim,
                  NN_SPARK_SAMPLING_LAYERS, 0);
    }
}

/* feat_encoder.Encoder */
static void add_feat_encoder(builder *b, const nn_bicodec_vocos_config *c)
{
    add_vocos(b, "encoder.encoder.", c->input_channels, c->vocos_dim, c->vocos_intermediate_dim,
              c->vocos_num_layers, 0);
    add_sampling_stack(b, "encoder.", c);
    add_linear(b, "encoder.project.", c->vocos_dim, c->out_channels, true);
}

/* feat_decoder.Decoder: the prenet and the postnet */
static void add_feat_decoder(builder *b, const char *name, const nn_bicodec_vocos_config *c)
{
    char p[PREFIX_MAX];
    pfx(b, p, sizeof p, "%s.linear_pre.", name);
    add_linear(b, p, c->input_channels, c->vocos_dim, true);
    pfx(b, p, sizeof p, "%s.", name);
    add_sampling_stack(b, p, c);
    pfx(b, p, sizeof p, "%s.vocos_backbone.", name);
    add_vocos(b, p, c->vocos_dim, c->vocos_dim, c->vocos_intermediate_dim, c->vocos_num_layers,
              c->condition_dim);
    pfx(b, p, sizeof p, "%s.linear.", name);
    add_linear(b, p, c->vocos_dim, c->out_channels, true);
}

/* WaveGenerator (spec 4.8) */
static void add_wave_generator(builder *b, const nn_bicodec_config *cfg)
{
    const int64_t k = NN_SPARK_WAVEGEN_KERNEL;
    char p[PREFIX_MAX];
    add_wn_conv(b, "decoder.model.0.", cfg->decoder.input_channel, cfg->decoder.channels, k);
    int64_t out = cfg->decoder.channels;
    size_t n = cfg->decoder.rate_count;
    if (cfg->decoder.kernel_size_count != n) {
        fail(b, "decoder: %zu rates but %zu kernel sizes", n, cfg->decoder.kernel_size_count);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t in = cfg->decoder.channels >> i;
        out = cfg->decoder.channels >> (i + 1);
        pfx(b, p, sizeof p, "decoder.model.%zu.block.0.", i + 1);
        add_dim(b, p, snake_t, COUNT(snake_t), in);
        pfx(b, p, sizeof p, "decoder.model.%zu.block.1.", i + 1);
        set_syms(b, in, out, cfg->decoder.kernel_sizes[i]);
        b->syms[S_STRIDE] = cfg->decoder.rates[i];
        add(b, p, wn_conv_transpose_t, COUNT(wn_conv_transpose_t));
        for (int r = 2; r <= 4; r++) { /* ResidualUnits with dilation 1, 3, 9 */
            pfx(b, p, sizeof p, "decoder.model.%zu.block.%d.block.0.", i + 1, r);
            add_dim(b, p, snake_t, COUNT(snake_t), out);
            pfx(b, p, sizeof p, "decoder.model.%zu.block.%d.block.1.", i + 1, r);
            add_wn_conv(b, p, out, out, k);
            pfx(b, p, sizeof p, "decoder.model.%zu.block.%d.block.2.", i + 1, r);
            add_dim(b, p, snake_t, COUNT(snake_t), out);
            pfx(b, p, sizeof p, "decoder.model.%zu.block.%d.block.3.", i + 1, r);
            add_wn_conv(b, p, out, out, 1);
        }
    }
    pfx(b, p, sizeof p, "decoder.model.%zu.", n + 1);
    add_dim(b, p, snake_t, COUNT(snake_t), out);
    pfx(b, p, sizeof p, "decoder.model.%zu.", n + 2);
    add_wn_conv(b, p, out, 1, k);
}

/* FactorizedVectorQuantize (spec 4.5) */
static void add_factorized_vq(builder *b, const nn_bicodec_config *cfg)
{
    const int64_t in = cfg->quantizer.input_dim, dim = cfg->quantizer.codebook_dim;
    const int64_t size = cfg->quantizer.codebook_size;
    add_param(b, "quantizer.cluster_size", 1, (int64_t[]){size}, R_POSITIVE);
    if (in != dim) {
        add_wn_conv(b, "quantizer.in_project.", in, dim, 1);
        add_wn_conv(b, "quantizer.out_project.", dim, in, 1);
    }
    add_param(b, "quantizer.codebook.weight", 2, (int64_t[]){size, dim}, R_UNIT);
}

static void add_conv_relu_bn(builder *b, const char *prefix, int64_t in, int64_t out, int64_t k)
{
    char p[PREFIX_MAX];
    pfx(b, p, sizeof p, "%sconv.", prefix);
    add_conv(b, p, in, out, k);
    pfx(b, p, sizeof p, "%sbn.", prefix);
    add_dim(b, p, batch_norm_t, COUNT(batch_norm_t), out);
}

/* ECAPA_TDNN_GLOB_c512 (spec 4.6), x-vector head included: it is in the checkpoint. */
static void add_ecapa(builder *b, const nn_bicodec_config *cfg)
{
    const int64_t c = NN_SPARK_ECAPA_CHANNELS;
    const int64_t width = c / NN_SPARK_ECAPA_RES2_SCALE;
    const char *base = "speaker_encoder.speaker_encoder.";
    char p[PREFIX_MAX];
    pfx(b, p, sizeof p, "%slayer1.", base);
    add_conv_relu_bn(b, p, cfg->speaker_encoder.input_dim, c, 5);
    for (int layer = 2; layer <= 4; layer++) {
        pfx(b, p, sizeof p, "%slayer%d.se_res2block.0.", base, layer);
        add_conv_relu_bn(b, p, c, c, 1);
        for (int i = 0; i < NN_SPARK_ECAPA_RES2_SCALE - 1; i++) {
            pfx(b, p, sizeof p, "%slayer%d.se_res2block.1.convs.%d.", base, layer, i);
            add_conv(b, p, width, width, 3);
        }
        for (int i = 0; i < NN_SPARK_ECAPA_RES2_SCALE - 1; i++) {
            pfx(b, p, sizeof p, "%slayer%d.se_res2block.1.bns.%d.", base, layer, i);
            add_dim(b, p, batch_norm_t, COUNT(batch_norm_t), width);
        }
        pfx(b, p, sizeof p, "%slayer%d.se_res2block.2.", base, layer);
        add_conv_relu_bn(b, p, c, c, 1);
        pfx(b, p, sizeof p, "%slayer%d.se_res2block.3.linear1.", base, layer);
        add_linear(b, p, c, NN_SPARK_ECAPA_SE_BOTTLENECK, true);
        pfx(b, p, sizeof p, "%slayer%d.se_res2block.3.linear2.", base, layer);
        add_linear(b, p, NN_SPARK_ECAPA_SE_BOTTLENECK, c, true);
    }
    const int64_t cat = 3 * c;
    pfx(b, p, sizeof p, "%sconv.", base);
    add_conv(b, p, cat, cat, 1);
    /* ASTP with global context: statistics concatenated three times. */
    pfx(b, p, sizeof p, "%spool.linear1.", base);
    add_conv(b, p, 3 * cat, NN_SPARK_ECAPA_POOL_BOTTLENECK, 1);
    pfx(b, p, sizeof p, "%spool.linear2.", base);
    add_conv(b, p, NN_SPARK_ECAPA_POOL_BOTTLENECK, cat, 1);
    pfx(b, p, sizeof p, "%sbn.", base);
    add_dim(b, p, batch_norm_t, COUNT(batch_norm_t), 2 * cat);
    pfx(b, p, sizeof p, "%slinear.", base);
    add_linear(b, p, 2 * cat, cfg->speaker_encoder.out_dim, true);
}

/* PerceiverResampler (spec 4.6) */
static void add_perceiver(builder *b, const nn_bicodec_config *cfg)
{
    const int64_t dim = cfg->speaker_encoder.latent_dim;
    const int64_t inner = NN_SPARK_PERCEIVER_HEADS * NN_SPARK_PERCEIVER_DIM_HEAD;
    /* FeedForward: int(dim * mult * 2 / 3) per GEGLU half. */
    const int64_t ff = dim * NN_SPARK_PERCEIVER_FF_MULT * 2 / 3;
    const char *base = "speaker_encoder.perceiver_sampler.";
    char p[PREFIX_MAX];
    pfx(b, p, sizeof p, "%slatents", base);
    add_param(b, p, 2, (int64_t[]){cfg->speaker_encoder.token_num, dim}, R_UNIT);
    if (dim != NN_SPARK_PERCEIVER_CONTEXT) { /* else nn.Identity */
        pfx(b, p, sizeof p, "%sproj_context.", base);
        add_linear(b, p, NN_SPARK_PERCEIVER_CONTEXT, dim, true);
    }
    for (int l = 0; l < NN_SPARK_PERCEIVER_DEPTH; l++) {
        pfx(b, p, sizeof p, "%slayers.%d.0.to_q.", base, l);
        add_linear(b, p, dim, inner, false);
        pfx(b, p, sizeof p, "%slayers.%d.0.to_kv.", base, l);
        add_linear(b, p, dim, 2 * inner, false);
        pfx(b, p, sizeof p, "%slayers.%d.0.to_out.", base, l);
        add_linear(b, p, inner, dim, false);
        pfx(b, p, sizeof p, "%slayers.%d.1.0.", base, l);
        add_linear(b, p, dim, 2 * ff, true);
        pfx(b, p, sizeof p, "%slayers.%d.1.2.", base, l);
        add_linear(b, p, ff, dim, true);
    }
    pfx(b, p, sizeof p, "%snorm.gamma", base);
    add_dim(b, p, vector_t, COUNT(vector_t), dim);
}

static void add_speaker_encoder(builder *b, const nn_bicodec_config *cfg)
{
    add_ecapa(b, cfg);
    add_perceiver(b, cfg);
    const int64_t latent = cfg->speaker_encoder.latent_dim;
    const int64_t codes = (int64_t)cfg->speaker_encoder.fsq_level_count;
    if (codes != latent) { /* ResidualFSQ projects only when the widths differ */
        add_linear(b, "speaker_encoder.quantizer.project_in.", latent, codes, true);
        add_linear(b, "speaker_encoder.quantizer.project_out.", codes, latent, true);
    }
    add_linear(b, "speaker_encoder.project.", latent * cfg->speaker_encoder.token_num,
               cfg->speaker_encoder.out_dim, true);
}

static void add_bicodec(builder *b, const nn_bicodec_config *cfg)
{
    /* BiCodec.__init__ order: encoder, decoder, quantizer, speaker_encoder, prenet, postnet. */
    add_feat_encoder(b, &cfg->encoder);
    add_wave_generator(b, cfg);
    add_factorized_vq(b, cfg);
    add_speaker_encoder(b, cfg);
    add_feat_decoder(b, "prenet", &cfg->prenet);
    add_feat_decoder(b, "postnet", &cfg->postnet);
}

/* ---- Qwen2 (spec 3.1) ------------------------------------------------------------------ */

static void add_qwen2(builder *b, const nn_qwen2_config *c)
{
    if (c->num_attention_heads <= 0 || c->hidden_size % c->num_attention_heads) {
        fail(b, "LLM: hidden_size %lld is not a multiple of num_attention_heads %lld",
             (long long)c->hidden_size, (long long)c->num_attention_heads);
        return;
    }
    const int64_t h = c->hidden_size, head_dim = h / c->num_attention_heads;
    const int64_t kv = c->num_key_value_heads * head_dim;
    char p[PREFIX_MAX];
    add_param(b, "model.embed_tokens.weight", 2, (int64_t[]){c->vocab_size, h}, R_EMBED);
    for (int64_t i = 0; i < c->num_hidden_layers; i++) {
        pfx(b, p, sizeof p, "model.layers.%lld.self_attn.q_proj.", (long long)i);
        add_linear(b, p, h, c->num_attention_heads * head_dim, true);
        pfx(b, p, sizeof p, "model.layers.%lld.self_attn.k_proj.", (long long)i);
        add_linear(b, p, h, kv, true);
        pfx(b, p, sizeof p, "model.layers.%lld.self_attn.v_proj.", (long long)i);
        add_linear(b, p, h, kv, true);
        pfx(b, p, sizeof p, "model.layers.%lld.self_attn.o_proj.", (long long)i);
        add_linear(b, p, c->num_attention_heads * head_dim, h, false);
        pfx(b, p, sizeof p, "model.layers.%lld.mlp.gate_proj.", (long long)i);
        add_linear(b, p, h, c->intermediate_size, false);
        pfx(b, p, sizeof p, "model.layers.%lld.mlp.up_proj.", (long long)i);
        add_linear(b, p, h, c->intermediate_size, false);
        pfx(b, p, sizeof p, "model.layers.%lld.mlp.down_proj.", (long long)i);
        add_linear(b, p, c->intermediate_size, h, false);
        pfx(b, p, sizeof p, "model.layers.%lld.input_layernorm.weight", (long long)i);
        add_dim(b, p, vector_t, COUNT(vector_t), h);
        pfx(b, p, sizeof p, "model.layers.%lld.post_attention_layernorm.weight", (long long)i);
        add_dim(b, p, vector_t, COUNT(vector_t), h);
    }
    add_dim(b, "model.norm.weight", vector_t, COUNT(vector_t), h);
    if (!c->tie_word_embeddings)
        add_param(b, "lm_head.weight", 2, (int64_t[]){c->vocab_size, h}, R_EMBED);
}

/* ---- wav2vec2 (spec 5; transformers' Wav2Vec2ForPreTraining) ---------------------------- */

static void add_wav2vec2(builder *b, const nn_wav2vec2_config *c)
{
    const int64_t h = c->hidden_size;
    char p[PREFIX_MAX];
    if (c->num_feat_extract_layers <= 0 || c->num_feat_extract_layers > NN_SPARK_MAX_LIST) {
        fail(b, "wav2vec2: %lld feature-extractor layers", (long long)c->num_feat_extract_layers);
        return;
    }
    /* Wav2Vec2Model keeps a masking vector only when some masking is configured. */
    if (c->mask_time_prob > 0 || c->mask_feature_prob > 0)
        add_param(b, "wav2vec2.masked_spec_embed", 1, (int64_t[]){h}, R_UNIFORM01);
    for (int64_t i = 0; i < c->num_feat_extract_layers; i++) {
        int64_t in = i ? c->conv_dim[i - 1] : 1;
        pfx(b, p, sizeof p, "wav2vec2.feature_extractor.conv_layers.%lld.conv.", (long long)i);
        if (c->conv_bias)
            add_conv(b, p, in, c->conv_dim[i], c->conv_kernel[i]);
        else {
            set_syms(b, in, c->conv_dim[i], c->conv_kernel[i]);
            add(b, p, conv_t, 1);
        }
        /* "layer": a LayerNorm after every conv; "group": a GroupNorm after the first. */
        if (c->feat_extract_norm_layer || i == 0) {
            pfx(b, p, sizeof p, "wav2vec2.feature_extractor.conv_layers.%lld.layer_norm.",
                (long long)i);
            add_dim(b, p, layer_norm_t, COUNT(layer_norm_t), c->conv_dim[i]);
        }
    }
    const int64_t last = c->conv_dim[c->num_feat_extract_layers - 1];
    add_dim(b, "wav2vec2.feature_projection.layer_norm.", layer_norm_t, COUNT(layer_norm_t),
            last);
    add_linear(b, "wav2vec2.feature_projection.projection.", last, h, true);
    /* Positional conv: weight norm over dim 2, so weight_g is [1, 1, K]. */
    if (c->num_conv_pos_embedding_groups <= 0 || h % c->num_conv_pos_embedding_groups) {
        fail(b, "wav2vec2: hidden_size %lld is not a multiple of %lld conv groups",
             (long long)h, (long long)c->num_conv_pos_embedding_groups);
        return;
    }
    const int64_t k = c->num_conv_pos_embeddings;
    add_param(b, "wav2vec2.encoder.pos_conv_embed.conv.bias", 1, (int64_t[]){h}, R_BIAS);
    add_param(b, "wav2vec2.encoder.pos_conv_embed.conv.weight_g", 3, (int64_t[]){1, 1, k},
              R_NORM_OF_NEXT_DIM2);
    add_param(b, "wav2vec2.encoder.pos_conv_embed.conv.weight_v", 3,
              (int64_t[]){h, h / c->num_conv_pos_embedding_groups, k}, R_WEIGHT);
    add_dim(b, "wav2vec2.encoder.layer_norm.", layer_norm_t, COUNT(layer_norm_t), h);
    static const char *const projections[] = {"k_proj", "v_proj", "q_proj", "out_proj"};
    for (int64_t n = 0; n < c->num_hidden_layers; n++) {
        for (size_t j = 0; j < COUNT(projections); j++) {
            pfx(b, p, sizeof p, "wav2vec2.encoder.layers.%lld.attention.%s.", (long long)n,
                projections[j]);
            add_linear(b, p, h, h, true);
        }
        pfx(b, p, sizeof p, "wav2vec2.encoder.layers.%lld.layer_norm.", (long long)n);
        add_dim(b, p, layer_norm_t, COUNT(layer_norm_t), h);
        pfx(b, p, sizeof p, "wav2vec2.encoder.layers.%lld.feed_forward.intermediate_dense.",
            (long long)n);
        add_linear(b, p, h, c->intermediate_size, true);
        pfx(b, p, sizeof p, "wav2vec2.encoder.layers.%lld.feed_forward.output_dense.",
            (long long)n);
        add_linear(b, p, c->intermediate_size, h, true);
        pfx(b, p, sizeof p, "wav2vec2.encoder.layers.%lld.final_layer_norm.", (long long)n);
        add_dim(b, p, layer_norm_t, COUNT(layer_norm_t), h);
    }
    /* The pretraining heads: in the checkpoint, unused by Spark. */
    const int64_t groups = c->num_codevector_groups, vars = c->num_codevectors_per_group;
    if (groups <= 0 || c->codevector_dim % groups) {
        fail(b, "wav2vec2: codevector_dim %lld is not a multiple of %lld groups",
             (long long)c->codevector_dim, (long long)groups);
        return;
    }
    add_param(b, "quantizer.codevectors", 3,
              (int64_t[]){1, groups * vars, c->codevector_dim / groups}, R_UNIFORM01);
    add_linear(b, "quantizer.weight_proj.", last, groups * vars, true);
    add_linear(b, "project_hid.", h, c->proj_codevector_dim, true);
    add_linear(b, "project_q.", c->codevector_dim, c->proj_codevector_dim, true);
}

/* ---- the public entry points ----------------------------------------------------------- */

int nn_spark_expected_tensors(const nn_spark_config *config, nn_spark_component component,
                              nn_spark_tensor_list *out, char **error)
{
    memset(out, 0, sizeof *out);
    *error = NULL;
    builder b = {.list = out};
    switch (component) {
    case NN_SPARK_LLM: add_qwen2(&b, &config->llm); break;
    case NN_SPARK_BICODEC: add_bicodec(&b, &config->bicodec); break;
    case NN_SPARK_WAV2VEC2: add_wav2vec2(&b, &config->wav2vec2); break;
    default: fail(&b, "unknown component %d", (int)component); break;
    }
    if (b.failed) {
        nn_spark_tensor_list_free(out);
        *error = b.error ? b.error : strdup("out of memory");
        return -1;
    }
    return 0;
}

void nn_spark_tensor_list_free(nn_spark_tensor_list *list)
{
    free(list->items);
    memset(list, 0, sizeof *list);
}

ptrdiff_t nn_spark_tensor_list_find(const nn_spark_tensor_list *list, const char *name)
{
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->items[i].name, name) == 0)
            return (ptrdiff_t)i;
    return -1;
}

uint64_t nn_spark_tensor_elements(const nn_spark_tensor_spec *spec)
{
    uint64_t n = 1;
    for (uint32_t d = 0; d < spec->ndim; d++)
        n *= (uint64_t)spec->shape[d];
    return n;
}

/* ---- checking a file ------------------------------------------------------------------- */

const char *nn_spark_format_shape(uint32_t ndim, const int64_t *shape, char *buf, size_t size)
{
    nn_format_dims(buf, size, 0, shape, ndim);
    return buf;
}

static bool same_shape(const nn_tensor_view *view, const nn_spark_tensor_spec *spec)
{
    if (view->ndim != spec->ndim)
        return false;
    for (uint32_t d = 0; d < spec->ndim; d++)
        if (view->shape[d] != spec->shape[d])
            return false;
    return true;
}

size_t nn_spark_check_tensors(const nn_tensor_file *file, const nn_spark_tensor_list *expected,
                              const char *label, nn_problems *problems)
{
    size_t found = 0;
    char want[128], got[128];
    for (size_t i = 0; i < expected->count; i++) {
        const nn_spark_tensor_spec *spec = &expected->items[i];
        const nn_tensor_view *view = nn_tensor_file_find(file, spec->name);
        if (!view) {
            nn_problems_add(problems, "%s: missing tensor %s %s %s", label, spec->name,
                            nn_dtype_name(spec->dtype),
                            nn_spark_format_shape(spec->ndim, spec->shape, want, sizeof want));
            found++;
        } else if (!same_shape(view, spec) || view->dtype != spec->dtype) {
            nn_problems_add(problems, "%s: tensor %s is %s %s, expected %s %s", label,
                            spec->name, nn_dtype_name(view->dtype),
                            nn_spark_format_shape(view->ndim, view->shape, got, sizeof got),
                            nn_dtype_name(spec->dtype),
                            nn_spark_format_shape(spec->ndim, spec->shape, want, sizeof want));
            found++;
        }
    }
    for (size_t i = 0; i < nn_tensor_file_count(file); i++) {
        const nn_tensor_view *view = nn_tensor_file_at(file, i);
        if (nn_spark_tensor_list_find(expected, view->name) < 0) {
            nn_problems_add(problems, "%s: unexpected tensor %s %s %s", label, view->name,
                            nn_dtype_name(view->dtype),
                            nn_spark_format_shape(view->ndim, view->shape, got, sizeof got));
            found++;
        }
    }
    return found;
}
