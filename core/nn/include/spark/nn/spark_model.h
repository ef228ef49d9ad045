/*
 * spark/nn/spark_model.h - what a Spark-TTS-0.5B model directory holds, as data: its files,
 * its hyperparameters (read from and written to the release's config files), the tokens its
 * tokenizer must define, and every tensor each component must have for given hyperparameters.
 *
 * One description serves three users: the model plugins check what they load against it,
 * `sparkhost model info` reports where a directory departs from it, and `sparkhost model synth`
 * writes random-weight models from it. Names, shapes and sizes hard-coded upstream (ECAPA
 * channels, Perceiver depth and heads...) are the NN_SPARK_* constants below; everything else
 * follows from the config files. Spec: shared/spec/spark-tts-model.md sections 1-5.
 */
#ifndef SPARK_NN_SPARK_MODEL_H
#define SPARK_NN_SPARK_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <spark/nn/tensor_file.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- sizes fixed in the upstream code, not in any config file (spec 4.3, 4.6) ----------- */

enum {
    NN_SPARK_ECAPA_CHANNELS = 512,      /* ECAPA_TDNN_GLOB_c512 */
    NN_SPARK_ECAPA_RES2_SCALE = 8,      /* SE-Res2Block: 8 groups, 7 convolutions */
    NN_SPARK_ECAPA_SE_BOTTLENECK = 128, /* SE_Connect linear1 width */
    NN_SPARK_ECAPA_POOL_BOTTLENECK = 128, /* ASTP linear1 width */
    NN_SPARK_PERCEIVER_DEPTH = 2,
    NN_SPARK_PERCEIVER_HEADS = 8,
    NN_SPARK_PERCEIVER_DIM_HEAD = 64,
    NN_SPARK_PERCEIVER_FF_MULT = 4,
    NN_SPARK_PERCEIVER_CONTEXT = 3 * NN_SPARK_ECAPA_CHANNELS, /* 1536 */
    NN_SPARK_VOCOS_KERNEL = 7,          /* ConvNeXt depthwise and stem kernel */
    NN_SPARK_SAMPLING_LAYERS = 2,       /* Vocos layers after each SamplingBlock */
    NN_SPARK_WAVEGEN_KERNEL = 7,        /* WaveGenerator stem, residual and output convs */
    NN_SPARK_W2V_MIX_LAYER = 16,        /* deepest wav2vec2 layer the semantic mix reads */
};

#define NN_SPARK_MAX_LIST 8

/* ---- hyperparameters, one struct per config file --------------------------------------- */

/* config.yaml (spec 2.1) */
typedef struct nn_spark_audio_config {
    int64_t sample_rate;
    double ref_segment_duration; /* seconds */
    int64_t latent_hop_length;
    bool volume_normalize;
    double highpass_cutoff_freq; /* training only */
    double segment_duration;     /* training only */
    double max_val_duration;     /* training only */
} nn_spark_audio_config;

/* LLM/config.json (spec 3.1) */
typedef struct nn_qwen2_config {
    int64_t vocab_size, hidden_size, num_hidden_layers, num_attention_heads,
        num_key_value_heads, intermediate_size, max_position_embeddings, max_window_layers,
        sliding_window, bos_token_id, eos_token_id;
    double rope_theta, rms_norm_eps, initializer_range;
    bool tie_word_embeddings, use_sliding_window;
} nn_qwen2_config;

/* A VocosBackbone-based block of BiCodec/config.yaml: encoder, prenet, postnet (spec 4.3). */
typedef struct nn_bicodec_vocos_config {
    int64_t input_channels, vocos_dim, vocos_intermediate_dim, vocos_num_layers, out_channels;
    int64_t condition_dim; /* 0: none (plain LayerNorm instead of AdaLayerNorm) */
    int64_t sample_ratios[NN_SPARK_MAX_LIST];
    size_t sample_ratio_count;
    bool use_tanh_at_final;
} nn_bicodec_vocos_config;

/* BiCodec/config.yaml, under `audio_tokenizer` (spec 4) */
typedef struct nn_bicodec_config {
    struct {
        int64_t sample_rate, n_fft, win_length, hop_length, num_mels;
        double mel_fmin, mel_fmax; /* mel_fmax 0: null, i.e. sample_rate / 2 */
    } mel;
    nn_bicodec_vocos_config encoder, prenet, postnet;
    struct {
        int64_t input_dim, codebook_size, codebook_dim;
        double commitment, codebook_loss_weight, threshold_ema_dead_code;
        bool use_l2_normlize;
    } quantizer;
    struct {
        int64_t input_dim, out_dim, latent_dim, token_num, fsq_num_quantizers;
        int64_t fsq_levels[NN_SPARK_MAX_LIST];
        size_t fsq_level_count;
    } speaker_encoder;
    struct {
        int64_t input_channel, channels;
        int64_t rates[NN_SPARK_MAX_LIST], kernel_sizes[NN_SPARK_MAX_LIST];
        size_t rate_count, kernel_size_count;
    } decoder;
} nn_bicodec_config;

/* wav2vec2-large-xlsr-53/config.json and preprocessor_config.json (spec 5) */
typedef struct nn_wav2vec2_config {
    int64_t hidden_size, num_hidden_layers, num_attention_heads, intermediate_size;
    int64_t num_feat_extract_layers;
    int64_t conv_dim[NN_SPARK_MAX_LIST], conv_kernel[NN_SPARK_MAX_LIST],
        conv_stride[NN_SPARK_MAX_LIST];
    int64_t num_conv_pos_embeddings, num_conv_pos_embedding_groups;
    int64_t num_codevector_groups, num_codevectors_per_group, codevector_dim,
        proj_codevector_dim;
    double layer_norm_eps, mask_time_prob, mask_feature_prob;
    bool conv_bias, do_stable_layer_norm;
    bool feat_extract_norm_layer; /* "layer" (true) or "group" */
    struct {
        bool do_normalize, return_attention_mask;
        int64_t feature_size, sampling_rate;
        double padding_value;
    } processor;
} nn_wav2vec2_config;

typedef struct nn_spark_config {
    nn_spark_audio_config audio;
    nn_qwen2_config llm;
    nn_bicodec_config bicodec;
    nn_wav2vec2_config wav2vec2;
} nn_spark_config;

/* ---- presets for synthetic models ------------------------------------------------------ */

typedef struct nn_spark_preset {
    const char *name;
    nn_spark_config config;  /* llm.vocab_size, bos and eos are set from the tokenizer */
    int64_t bpe_vocab_size;  /* regular (BPE) tokens: 256 bytes + merges */
    int64_t vocab_multiple;  /* the LLM's embedding rows: tokens rounded up to this */
    int64_t fixed_vocab_size; /* > 0: exactly this many rows (the release's 166000) */
} nn_spark_preset;

/* "tiny" or "full"; false for another name. */
bool nn_spark_preset_get(const char *name, nn_spark_preset *out);
/* The preset names, NULL-terminated. */
extern const char *const nn_spark_preset_names[];

/* ---- files ----------------------------------------------------------------------------- */

typedef enum nn_spark_component {
    NN_SPARK_LLM,
    NN_SPARK_BICODEC,
    NN_SPARK_WAV2VEC2,
    NN_SPARK_COMPONENT_COUNT
} nn_spark_component;

/* "llm", "bicodec", "wav2vec2" */
const char *nn_spark_component_name(nn_spark_component component);
/* The weights file, relative to the model directory: "LLM/model.safetensors"... */
const char *nn_spark_component_weights(nn_spark_component component);
/* true for the torch zip checkpoint (wav2vec2), false for safetensors. */
bool nn_spark_component_is_torch(nn_spark_component component);

typedef struct nn_spark_file {
    const char *path;  /* relative to the model directory */
    bool required;     /* needed at inference; the others complete the release layout */
    const char *what;
} nn_spark_file;

extern const nn_spark_file nn_spark_files[];
extern const size_t nn_spark_file_count;

#define NN_SPARK_WAV2VEC2_DIR "wav2vec2-large-xlsr-53"

/* ---- tokens ---------------------------------------------------------------------------- */

/* A run of added tokens with consecutive ids (spec 3.3): "<|bicodec_semantic_{i}|>"... */
typedef struct nn_spark_token_family {
    const char *name;    /* "qwen_special", "bicodec_global", "task"... */
    uint32_t count;
    const char *format;  /* "<|bicodec_semantic_%u|>", or NULL when list names each token */
    const char *const *list;
} nn_spark_token_family;

#define NN_SPARK_TOKEN_MAX 64
#define NN_SPARK_MAX_FAMILIES 24

/* The added token families in tokenizer order, with counts for these hyperparameters
 * (global tokens: the FSQ code count; semantic tokens: the codebook size). Returns how many
 * families were written to out (at most NN_SPARK_MAX_FAMILIES). */
size_t nn_spark_token_families(const nn_spark_config *config, nn_spark_token_family *out);
/* The i-th token of a family, written to buf (NN_SPARK_TOKEN_MAX bytes). */
const char *nn_spark_family_token(const nn_spark_token_family *family, uint32_t i, char *buf);
/* Whether the Qwen special at index i of its family is a special token (spec 3.2). */
bool nn_spark_qwen_special_is_special(uint32_t i);

/* ---- tensors --------------------------------------------------------------------------- */

/* How `model synth` fills a tensor. */
typedef enum nn_spark_fill {
    NN_SPARK_FILL_NORMAL,  /* mean + std * z */
    NN_SPARK_FILL_NORM_OF, /* weight_g: the L2 norm of norm_source over every dim but norm_dim */
    NN_SPARK_FILL_COUNTER  /* I64 scalar: a batch count */
} nn_spark_fill;

#define NN_SPARK_NAME_MAX 96

typedef struct nn_spark_tensor_spec {
    char name[NN_SPARK_NAME_MAX];
    nn_dtype dtype;
    uint32_t ndim;
    int64_t shape[4];
    nn_spark_fill fill;
    float mean, std;
    uint32_t norm_source; /* NN_SPARK_FILL_NORM_OF: index of the weight_v in the same list */
    uint32_t norm_dim;    /* the dim weight_norm keeps: 0, or 2 for wav2vec2's pos_conv */
} nn_spark_tensor_spec;

typedef struct nn_spark_tensor_list {
    nn_spark_tensor_spec *items;
    size_t count, cap;
} nn_spark_tensor_list;

/* Every tensor the component's weights file must hold, in state-dict order. Returns 0, or -1
 * with *error set when the hyperparameters cannot describe a model (a zero size...). */
int nn_spark_expected_tensors(const nn_spark_config *config, nn_spark_component component,
                              nn_spark_tensor_list *out, char **error);
void nn_spark_tensor_list_free(nn_spark_tensor_list *list);
/* Index of a name, or -1. */
ptrdiff_t nn_spark_tensor_list_find(const nn_spark_tensor_list *list, const char *name);
/* Elements of a spec (1 for a scalar). */
uint64_t nn_spark_tensor_elements(const nn_spark_tensor_spec *spec);

/* ---- problems -------------------------------------------------------------------------- */

/* A list of human-readable problems (malloc'd lines). */
typedef struct nn_problems {
    char **items;
    size_t count, cap;
} nn_problems;

void nn_problems_add(nn_problems *problems, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void nn_problems_free(nn_problems *problems);

/* Compares an open weights file with what it must hold: one problem per missing tensor,
 * unexpected tensor, or tensor of another shape or dtype, each prefixed with label (the
 * file's name). Returns the number of problems added. */
size_t nn_spark_check_tensors(const nn_tensor_file *file, const nn_spark_tensor_list *expected,
                              const char *label, nn_problems *problems);
/* "[896, 4864]" into buf (at least 128 bytes). */
const char *nn_spark_format_shape(uint32_t ndim, const int64_t *shape, char *buf, size_t size);

/* ---- config files ---------------------------------------------------------------------- */

/* Each reads one file; a missing or ill-typed key is added to problems (prefixed with the
 * file name). Return 0 when the file was read and every key was valid, -1 otherwise. */
int nn_spark_audio_config_load(const char *path, nn_spark_audio_config *out, nn_problems *problems);
int nn_qwen2_config_load(const char *path, nn_qwen2_config *out, nn_problems *problems);
int nn_bicodec_config_load(const char *path, nn_bicodec_config *out, nn_problems *problems);
int nn_wav2vec2_config_load(const char *config_path, const char *processor_path,
                            nn_wav2vec2_config *out, nn_problems *problems);
/* All four from a model directory. */
int nn_spark_config_load(const char *dir, nn_spark_config *out, nn_problems *problems);

/* Checks that the components fit together the way the pipeline joins them (widths, rates,
 * hop lengths) and that the structure is the one the plugins implement; adds a problem per
 * departure. Returns the number of problems added. */
size_t nn_spark_config_check(const nn_spark_config *config, nn_problems *problems);

/* Writes config.yaml, LLM/config.json, BiCodec/config.yaml and the wav2vec2 config.json and
 * preprocessor_config.json under dir (whose subdirectories must exist). Same input, same
 * bytes. Returns 0, or -1 with *error set. */
int nn_spark_config_write(const char *dir, const nn_spark_config *config, char **error);

/* ---- synthetic models ------------------------------------------------------------------ */

typedef struct nn_spark_synth_report {
    uint64_t tensor_count[NN_SPARK_COMPONENT_COUNT];
    uint64_t tensor_bytes[NN_SPARK_COMPONENT_COUNT];
    int64_t regular_tokens, added_tokens;
} nn_spark_synth_report;

/* Writes a complete random-weight model directory for the preset and seed (creating dir and
 * its subdirectories). Every file is written atomically. Returns 0, or -1 with *error set. */
int nn_spark_synth(const char *dir, const nn_spark_preset *preset, uint64_t seed,
                   nn_spark_synth_report *report, char **error);

/* Fills the bytes of spec (an entry of list) for a seed, as synth writes them. */
int nn_spark_fill_tensor(const nn_spark_tensor_list *list, size_t index, uint64_t seed,
                         void *dst, uint64_t nbytes);

#ifdef __cplusplus
}
#endif

#endif
