/* The Spark model's config files: reading them into nn_spark_config (cJSON for JSON, libyaml
 * for YAML), checking that the components fit together, and writing them for synthetic
 * models with the release's keys (spec 2.1, 3.1, 4, 5.1, 5.2). */
#include "spark_internal.h"

#include <spark/nn/spark_model.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reading --------------------------------------------------------------------------- */

typedef struct reader {
    const char *file;   /* as named in problems: "BiCodec/config.yaml" */
    nn_problems *problems;
    bool ok;
} reader;

static const cJSON *member(reader *r, const cJSON *obj, const char *section, const char *key,
                           bool required)
{
    const cJSON *item = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    if (!item && required) {
        nn_problems_add(r->problems, "%s: %s%s%s is missing", r->file, section ? section : "",
                        section ? "." : "", key);
        r->ok = false;
    }
    return item;
}

static void bad_type(reader *r, const char *section, const char *key, const char *want)
{
    nn_problems_add(r->problems, "%s: %s%s%s must be %s", r->file, section ? section : "",
                    section ? "." : "", key, want);
    r->ok = false;
}

static bool is_integer(const cJSON *item)
{
    double d = item->valuedouble;
    return cJSON_IsNumber(item) && d == floor(d) && fabs(d) < 9.007199254740992e15;
}

/* Reads an integer >= 1 (sizes and counts) or, with allow_zero, >= 0. */
static void get_int(reader *r, const cJSON *obj, const char *section, const char *key,
                    bool required, bool allow_zero, int64_t *out)
{
    const cJSON *item = member(r, obj, section, key, required);
    if (!item)
        return;
    if (!is_integer(item) || item->valuedouble < (allow_zero ? 0 : 1)) {
        bad_type(r, section, key, allow_zero ? "an integer >= 0" : "a positive integer");
        return;
    }
    *out = (int64_t)item->valuedouble;
}

static void get_num(reader *r, const cJSON *obj, const char *section, const char *key,
                    bool required, double *out)
{
    const cJSON *item = member(r, obj, section, key, required);
    if (!item)
        return;
    if (!cJSON_IsNumber(item)) {
        bad_type(r, section, key, "a number");
        return;
    }
    *out = item->valuedouble;
}

static void get_bool(reader *r, const cJSON *obj, const char *section, const char *key,
                     bool required, bool *out)
{
    const cJSON *item = member(r, obj, section, key, required);
    if (!item)
        return;
    if (!cJSON_IsBool(item)) {
        bad_type(r, section, key, "true or false");
        return;
    }
    *out = cJSON_IsTrue(item);
}

/* A list of positive integers; returns the count read (0 when absent or invalid). */
static size_t get_list(reader *r, const cJSON *obj, const char *section, const char *key,
                       bool required, int64_t *out)
{
    const cJSON *item = member(r, obj, section, key, required);
    if (!item)
        return 0;
    int n = cJSON_GetArraySize(item);
    if (!cJSON_IsArray(item) || n < 1 || n > NN_SPARK_MAX_LIST) {
        bad_type(r, section, key, "a list of 1 to 8 positive integers");
        return 0;
    }
    for (int i = 0; i < n; i++) {
        const cJSON *v = cJSON_GetArrayItem(item, i);
        if (!is_integer(v) || v->valuedouble < 1) {
            bad_type(r, section, key, "a list of positive integers");
            return 0;
        }
        out[i] = (int64_t)v->valuedouble;
    }
    return (size_t)n;
}

/* A string member equal to one of the accepted values; returns its index or -1. */
static int get_choice(reader *r, const cJSON *obj, const char *key, bool required,
                      const char *const *accepted, size_t n)
{
    const cJSON *item = member(r, obj, NULL, key, required);
    if (!item)
        return -1;
    if (cJSON_IsString(item))
        for (size_t i = 0; i < n; i++)
            if (strcmp(item->valuestring, accepted[i]) == 0)
                return (int)i;
    char want[128] = "";
    for (size_t i = 0; i < n; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s\"%s\"",
                 i == 0 ? "" : i + 1 == n ? " or " : ", ", accepted[i]);
    bad_type(r, NULL, key, want);
    return -1;
}

static cJSON *load_json(reader *r, const char *path)
{
    char *error = NULL;
    char *text = nn_read_file(path, NULL, &error);
    if (!text) {
        nn_problems_add(r->problems, "%s", error);
        free(error);
        r->ok = false;
        return NULL;
    }
    cJSON *json = cJSON_Parse(text);
    if (!json) {
        /* cJSON points at the byte where parsing stopped. */
        const char *at = cJSON_GetErrorPtr();
        size_t line = 1;
        for (const char *p = text; at && p < at && *p; p++)
            line += *p == '\n';
        nn_problems_add(r->problems, "%s:%zu: invalid JSON", r->file, line);
        r->ok = false;
    } else if (!cJSON_IsObject(json)) {
        nn_problems_add(r->problems, "%s: not a JSON object", r->file);
        cJSON_Delete(json);
        json = NULL;
        r->ok = false;
    }
    free(text);
    return json;
}

static cJSON *load_yaml(reader *r, const char *path)
{
    char *error = NULL;
    cJSON *yaml = nn_yaml_load(path, &error);
    if (!yaml) {
        nn_problems_add(r->problems, "%s", error);
        free(error);
        r->ok = false;
        return NULL;
    }
    if (!cJSON_IsObject(yaml)) {
        nn_problems_add(r->problems, "%s: not a YAML mapping", r->file);
        cJSON_Delete(yaml);
        r->ok = false;
        return NULL;
    }
    return yaml;
}

/* The path relative to its model directory, for messages: "BiCodec/config.yaml". */
static const char *short_name(const char *path, const char *fallback)
{
    size_t n = strlen(path), fn = strlen(fallback);
    return n >= fn && strcmp(path + n - fn, fallback) == 0 ? path + n - fn : path;
}

int nn_spark_audio_config_load(const char *path, nn_spark_audio_config *out, nn_problems *problems)
{
    memset(out, 0, sizeof *out);
    reader r = {short_name(path, "config.yaml"), problems, true};
    cJSON *y = load_yaml(&r, path);
    if (!y)
        return -1;
    get_int(&r, y, NULL, "sample_rate", true, false, &out->sample_rate);
    get_num(&r, y, NULL, "ref_segment_duration", true, &out->ref_segment_duration);
    get_int(&r, y, NULL, "latent_hop_length", true, false, &out->latent_hop_length);
    get_bool(&r, y, NULL, "volume_normalize", true, &out->volume_normalize);
    get_num(&r, y, NULL, "highpass_cutoff_freq", false, &out->highpass_cutoff_freq);
    get_num(&r, y, NULL, "segment_duration", false, &out->segment_duration);
    get_num(&r, y, NULL, "max_val_duration", false, &out->max_val_duration);
    cJSON_Delete(y);
    return r.ok ? 0 : -1;
}

int nn_qwen2_config_load(const char *path, nn_qwen2_config *out, nn_problems *problems)
{
    memset(out, 0, sizeof *out);
    reader r = {short_name(path, "LLM/config.json"), problems, true};
    cJSON *j = load_json(&r, path);
    if (!j)
        return -1;
    static const char *const qwen2[] = {"qwen2"}, *const silu[] = {"silu"};
    get_choice(&r, j, "model_type", true, qwen2, 1);
    get_choice(&r, j, "hidden_act", true, silu, 1);
    get_int(&r, j, NULL, "vocab_size", true, false, &out->vocab_size);
    get_int(&r, j, NULL, "hidden_size", true, false, &out->hidden_size);
    get_int(&r, j, NULL, "num_hidden_layers", true, false, &out->num_hidden_layers);
    get_int(&r, j, NULL, "num_attention_heads", true, false, &out->num_attention_heads);
    get_int(&r, j, NULL, "num_key_value_heads", true, false, &out->num_key_value_heads);
    get_int(&r, j, NULL, "intermediate_size", true, false, &out->intermediate_size);
    get_int(&r, j, NULL, "max_position_embeddings", true, false, &out->max_position_embeddings);
    get_int(&r, j, NULL, "max_window_layers", false, true, &out->max_window_layers);
    get_int(&r, j, NULL, "sliding_window", false, true, &out->sliding_window);
    get_int(&r, j, NULL, "bos_token_id", false, true, &out->bos_token_id);
    get_int(&r, j, NULL, "eos_token_id", true, true, &out->eos_token_id);
    get_num(&r, j, NULL, "rope_theta", true, &out->rope_theta);
    get_num(&r, j, NULL, "rms_norm_eps", true, &out->rms_norm_eps);
    get_num(&r, j, NULL, "initializer_range", false, &out->initializer_range);
    get_bool(&r, j, NULL, "tie_word_embeddings", true, &out->tie_word_embeddings);
    get_bool(&r, j, NULL, "use_sliding_window", false, &out->use_sliding_window);
    const cJSON *scaling = cJSON_GetObjectItemCaseSensitive(j, "rope_scaling");
    if (scaling && !cJSON_IsNull(scaling)) {
        nn_problems_add(problems, "%s: rope_scaling is not supported (the release has none)",
                        r.file);
        r.ok = false;
    }
    cJSON_Delete(j);
    return r.ok ? 0 : -1;
}

static void load_vocos(reader *r, const cJSON *root, const char *name,
                       nn_bicodec_vocos_config *out)
{
    char section[64];
    snprintf(section, sizeof section, "audio_tokenizer.%s", name);
    const cJSON *s = member(r, root, "audio_tokenizer", name, true);
    if (!s)
        return;
    get_int(r, s, section, "input_channels", true, false, &out->input_channels);
    get_int(r, s, section, "vocos_dim", true, false, &out->vocos_dim);
    get_int(r, s, section, "vocos_intermediate_dim", true, false, &out->vocos_intermediate_dim);
    get_int(r, s, section, "vocos_num_layers", true, false, &out->vocos_num_layers);
    get_int(r, s, section, "out_channels", true, false, &out->out_channels);
    /* Defaults of the upstream constructors: no condition, ratios [1, 1], no tanh. */
    get_int(r, s, section, "condition_dim", false, true, &out->condition_dim);
    out->sample_ratios[0] = out->sample_ratios[1] = 1;
    out->sample_ratio_count = 2;
    if (cJSON_GetObjectItemCaseSensitive(s, "sample_ratios"))
        out->sample_ratio_count = get_list(r, s, section, "sample_ratios", false,
                                           out->sample_ratios);
    get_bool(r, s, section, "use_tanh_at_final", false, &out->use_tanh_at_final);
}

int nn_bicodec_config_load(const char *path, nn_bicodec_config *out, nn_problems *problems)
{
    memset(out, 0, sizeof *out);
    reader r = {short_name(path, "BiCodec/config.yaml"), problems, true};
    cJSON *y = load_yaml(&r, path);
    if (!y)
        return -1;
    const cJSON *root = member(&r, y, NULL, "audio_tokenizer", true);
    if (!root) {
        cJSON_Delete(y);
        return -1;
    }
    const char *sec = "audio_tokenizer.mel_params";
    const cJSON *mel = member(&r, root, "audio_tokenizer", "mel_params", true);
    if (mel) {
        get_int(&r, mel, sec, "sample_rate", true, false, &out->mel.sample_rate);
        get_int(&r, mel, sec, "n_fft", true, false, &out->mel.n_fft);
        get_int(&r, mel, sec, "win_length", true, false, &out->mel.win_length);
        get_int(&r, mel, sec, "hop_length", true, false, &out->mel.hop_length);
        get_int(&r, mel, sec, "num_mels", true, false, &out->mel.num_mels);
        get_num(&r, mel, sec, "mel_fmin", true, &out->mel.mel_fmin);
        const cJSON *fmax = member(&r, mel, sec, "mel_fmax", false);
        if (fmax && !cJSON_IsNull(fmax))
            get_num(&r, mel, sec, "mel_fmax", true, &out->mel.mel_fmax);
    }
    load_vocos(&r, root, "encoder", &out->encoder);
    load_vocos(&r, root, "prenet", &out->prenet);
    load_vocos(&r, root, "postnet", &out->postnet);
    sec = "audio_tokenizer.quantizer";
    const cJSON *q = member(&r, root, "audio_tokenizer", "quantizer", true);
    if (q) {
        get_int(&r, q, sec, "input_dim", true, false, &out->quantizer.input_dim);
        get_int(&r, q, sec, "codebook_size", true, false, &out->quantizer.codebook_size);
        get_int(&r, q, sec, "codebook_dim", true, false, &out->quantizer.codebook_dim);
        get_num(&r, q, sec, "commitment", false, &out->quantizer.commitment);
        get_num(&r, q, sec, "codebook_loss_weight", false, &out->quantizer.codebook_loss_weight);
        get_bool(&r, q, sec, "use_l2_normlize", false, &out->quantizer.use_l2_normlize);
        get_num(&r, q, sec, "threshold_ema_dead_code", false,
                &out->quantizer.threshold_ema_dead_code);
    }
    sec = "audio_tokenizer.speaker_encoder";
    const cJSON *sp = member(&r, root, "audio_tokenizer", "speaker_encoder", true);
    if (sp) {
        get_int(&r, sp, sec, "input_dim", true, false, &out->speaker_encoder.input_dim);
        get_int(&r, sp, sec, "out_dim", true, false, &out->speaker_encoder.out_dim);
        get_int(&r, sp, sec, "latent_dim", true, false, &out->speaker_encoder.latent_dim);
        get_int(&r, sp, sec, "token_num", true, false, &out->speaker_encoder.token_num);
        out->speaker_encoder.fsq_level_count =
            get_list(&r, sp, sec, "fsq_levels", true, out->speaker_encoder.fsq_levels);
        get_int(&r, sp, sec, "fsq_num_quantizers", true, false,
                &out->speaker_encoder.fsq_num_quantizers);
    }
    sec = "audio_tokenizer.decoder";
    const cJSON *d = member(&r, root, "audio_tokenizer", "decoder", true);
    if (d) {
        get_int(&r, d, sec, "input_channel", true, false, &out->decoder.input_channel);
        get_int(&r, d, sec, "channels", true, false, &out->decoder.channels);
        out->decoder.rate_count = get_list(&r, d, sec, "rates", true, out->decoder.rates);
        out->decoder.kernel_size_count =
            get_list(&r, d, sec, "kernel_sizes", true, out->decoder.kernel_sizes);
    }
    cJSON_Delete(y);
    return r.ok ? 0 : -1;
}

int nn_wav2vec2_config_load(const char *config_path, const char *processor_path,
                            nn_wav2vec2_config *out, nn_problems *problems)
{
    memset(out, 0, sizeof *out);
    reader r = {short_name(config_path, NN_SPARK_WAV2VEC2_DIR "/config.json"), problems, true};
    cJSON *j = load_json(&r, config_path);
    if (j) {
        static const char *const gelu[] = {"gelu"}, *const norms[] = {"layer", "group"};
        get_choice(&r, j, "hidden_act", true, gelu, 1);
        get_choice(&r, j, "feat_extract_activation", false, gelu, 1);
        int norm = get_choice(&r, j, "feat_extract_norm", true, norms, 2);
        out->feat_extract_norm_layer = norm == 0;
        get_int(&r, j, NULL, "hidden_size", true, false, &out->hidden_size);
        get_int(&r, j, NULL, "num_hidden_layers", true, false, &out->num_hidden_layers);
        get_int(&r, j, NULL, "num_attention_heads", true, false, &out->num_attention_heads);
        get_int(&r, j, NULL, "intermediate_size", true, false, &out->intermediate_size);
        size_t nd = get_list(&r, j, NULL, "conv_dim", true, out->conv_dim);
        size_t nk = get_list(&r, j, NULL, "conv_kernel", true, out->conv_kernel);
        size_t ns = get_list(&r, j, NULL, "conv_stride", true, out->conv_stride);
        out->num_feat_extract_layers = (int64_t)nd;
        get_int(&r, j, NULL, "num_feat_extract_layers", false, false,
                &out->num_feat_extract_layers);
        if (nd && (nk != nd || ns != nd || out->num_feat_extract_layers != (int64_t)nd)) {
            nn_problems_add(problems, "%s: conv_dim, conv_kernel, conv_stride and "
                            "num_feat_extract_layers disagree on the layer count", r.file);
            r.ok = false;
        }
        get_int(&r, j, NULL, "num_conv_pos_embeddings", true, false,
                &out->num_conv_pos_embeddings);
        get_int(&r, j, NULL, "num_conv_pos_embedding_groups", true, false,
                &out->num_conv_pos_embedding_groups);
        /* transformers' defaults for what older configs may leave out. */
        out->num_codevector_groups = 2;
        out->num_codevectors_per_group = 320;
        out->codevector_dim = 256;
        out->proj_codevector_dim = 256;
        out->mask_time_prob = 0.05;
        get_int(&r, j, NULL, "num_codevector_groups", false, false, &out->num_codevector_groups);
        get_int(&r, j, NULL, "num_codevectors_per_group", false, false,
                &out->num_codevectors_per_group);
        get_int(&r, j, NULL, "codevector_dim", false, false, &out->codevector_dim);
        get_int(&r, j, NULL, "proj_codevector_dim", false, false, &out->proj_codevector_dim);
        get_num(&r, j, NULL, "layer_norm_eps", true, &out->layer_norm_eps);
        get_num(&r, j, NULL, "mask_time_prob", false, &out->mask_time_prob);
        get_num(&r, j, NULL, "mask_feature_prob", false, &out->mask_feature_prob);
        get_bool(&r, j, NULL, "conv_bias", true, &out->conv_bias);
        get_bool(&r, j, NULL, "do_stable_layer_norm", true, &out->do_stable_layer_norm);
        cJSON_Delete(j);
    }
    reader p = {short_name(processor_path, NN_SPARK_WAV2VEC2_DIR "/preprocessor_config.json"),
                problems, true};
    cJSON *pj = load_json(&p, processor_path);
    if (pj) {
        get_bool(&p, pj, NULL, "do_normalize", true, &out->processor.do_normalize);
        get_int(&p, pj, NULL, "sampling_rate", true, false, &out->processor.sampling_rate);
        out->processor.feature_size = 1;
        get_int(&p, pj, NULL, "feature_size", false, false, &out->processor.feature_size);
        get_num(&p, pj, NULL, "padding_value", false, &out->processor.padding_value);
        get_bool(&p, pj, NULL, "return_attention_mask", false,
                 &out->processor.return_attention_mask);
        cJSON_Delete(pj);
    }
    return r.ok && p.ok ? 0 : -1;
}

int nn_spark_config_load(const char *dir, nn_spark_config *out, nn_problems *problems)
{
    memset(out, 0, sizeof *out);
    char *paths[5] = {
        nn_format("%s/config.yaml", dir),
        nn_format("%s/LLM/config.json", dir),
        nn_format("%s/BiCodec/config.yaml", dir),
        nn_format("%s/%s/config.json", dir, NN_SPARK_WAV2VEC2_DIR),
        nn_format("%s/%s/preprocessor_config.json", dir, NN_SPARK_WAV2VEC2_DIR),
    };
    int rc = -1;
    if (paths[0] && paths[1] && paths[2] && paths[3] && paths[4]) {
        int a = nn_spark_audio_config_load(paths[0], &out->audio, problems);
        int l = nn_qwen2_config_load(paths[1], &out->llm, problems);
        int b = nn_bicodec_config_load(paths[2], &out->bicodec, problems);
        int w = nn_wav2vec2_config_load(paths[3], paths[4], &out->wav2vec2, problems);
        rc = a || l || b || w ? -1 : 0;
    } else {
        nn_problems_add(problems, "out of memory");
    }
    for (int i = 0; i < 5; i++)
        free(paths[i]);
    return rc;
}

/* ---- consistency ----------------------------------------------------------------------- */

#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            nn_problems_add(problems, __VA_ARGS__);                                            \
            found++;                                                                           \
        }                                                                                      \
    } while (0)

static size_t check_vocos(const char *name, const nn_bicodec_vocos_config *c,
                          nn_problems *problems)
{
    size_t found = 0;
    for (size_t i = 0; i < c->sample_ratio_count; i++)
        CHECK(c->sample_ratios[i] == 1,
              "BiCodec %s: sample ratio %lld is not supported (only 1, as in the release)",
              name, (long long)c->sample_ratios[i]);
    CHECK(!c->use_tanh_at_final || strcmp(name, "postnet") == 0,
          "BiCodec %s: use_tanh_at_final is not supported (false in the release)", name);
    return found;
}

size_t nn_spark_config_check(const nn_spark_config *config, nn_problems *problems)
{
    size_t found = 0;
    const nn_qwen2_config *l = &config->llm;
    const nn_bicodec_config *b = &config->bicodec;
    const nn_wav2vec2_config *w = &config->wav2vec2;
    const nn_spark_audio_config *a = &config->audio;

    /* LLM: grouped-query attention with rotary halves. */
    CHECK(l->num_attention_heads > 0 && l->hidden_size % l->num_attention_heads == 0,
          "LLM: hidden_size %lld is not a multiple of num_attention_heads %lld",
          (long long)l->hidden_size, (long long)l->num_attention_heads);
    CHECK(l->num_key_value_heads > 0 && l->num_attention_heads % l->num_key_value_heads == 0,
          "LLM: num_attention_heads %lld is not a multiple of num_key_value_heads %lld",
          (long long)l->num_attention_heads, (long long)l->num_key_value_heads);
    if (l->num_attention_heads > 0 && l->hidden_size % l->num_attention_heads == 0)
        CHECK((l->hidden_size / l->num_attention_heads) % 2 == 0,
              "LLM: head size %lld is odd (rotary embeddings pair dimensions)",
              (long long)(l->hidden_size / l->num_attention_heads));
    CHECK(l->eos_token_id < l->vocab_size, "LLM: eos_token_id %lld is outside the vocabulary",
          (long long)l->eos_token_id);

    /* Rates: every stage runs at 16 kHz with one latent frame per hop. */
    CHECK(b->mel.sample_rate == a->sample_rate && w->processor.sampling_rate == a->sample_rate,
          "sample rates disagree: config.yaml %lld, BiCodec mel %lld, wav2vec2 %lld",
          (long long)a->sample_rate, (long long)b->mel.sample_rate,
          (long long)w->processor.sampling_rate);
    int64_t upsampling = 1, w2v_stride = 1;
    for (size_t i = 0; i < b->decoder.rate_count; i++)
        upsampling *= b->decoder.rates[i];
    for (int64_t i = 0; i < w->num_feat_extract_layers && i < NN_SPARK_MAX_LIST; i++)
        w2v_stride *= w->conv_stride[i];
    CHECK(b->mel.hop_length == a->latent_hop_length && upsampling == a->latent_hop_length &&
              w2v_stride == a->latent_hop_length,
          "hop lengths disagree: latent_hop_length %lld, mel hop %lld, decoder upsampling "
          "%lld, wav2vec2 stride %lld",
          (long long)a->latent_hop_length, (long long)b->mel.hop_length, (long long)upsampling,
          (long long)w2v_stride);

    /* Widths where one stage feeds the next (spec 4.4-4.7). */
    CHECK(b->encoder.input_channels == w->hidden_size,
          "BiCodec encoder.input_channels %lld differs from the wav2vec2 hidden_size %lld",
          (long long)b->encoder.input_channels, (long long)w->hidden_size);
    CHECK(b->encoder.out_channels == b->quantizer.input_dim,
          "BiCodec encoder.out_channels %lld differs from quantizer.input_dim %lld",
          (long long)b->encoder.out_channels, (long long)b->quantizer.input_dim);
    CHECK(b->prenet.input_channels == b->quantizer.input_dim,
          "BiCodec prenet.input_channels %lld differs from quantizer.input_dim %lld",
          (long long)b->prenet.input_channels, (long long)b->quantizer.input_dim);
    CHECK(b->prenet.condition_dim == b->speaker_encoder.out_dim,
          "BiCodec prenet.condition_dim %lld differs from speaker_encoder.out_dim %lld",
          (long long)b->prenet.condition_dim, (long long)b->speaker_encoder.out_dim);
    CHECK(b->prenet.out_channels == b->speaker_encoder.out_dim,
          "BiCodec prenet.out_channels %lld differs from speaker_encoder.out_dim %lld (the "
          "d-vector is added to the prenet output)",
          (long long)b->prenet.out_channels, (long long)b->speaker_encoder.out_dim);
    CHECK(b->decoder.input_channel == b->prenet.out_channels,
          "BiCodec decoder.input_channel %lld differs from prenet.out_channels %lld",
          (long long)b->decoder.input_channel, (long long)b->prenet.out_channels);
    CHECK(b->speaker_encoder.input_dim == b->mel.num_mels,
          "BiCodec speaker_encoder.input_dim %lld differs from mel_params.num_mels %lld",
          (long long)b->speaker_encoder.input_dim, (long long)b->mel.num_mels);
    found += check_vocos("encoder", &b->encoder, problems);
    found += check_vocos("prenet", &b->prenet, problems);
    found += check_vocos("postnet", &b->postnet, problems);
    CHECK(b->speaker_encoder.fsq_num_quantizers == 1,
          "BiCodec speaker_encoder.fsq_num_quantizers %lld: only 1 is supported",
          (long long)b->speaker_encoder.fsq_num_quantizers);
    CHECK(b->decoder.rate_count == b->decoder.kernel_size_count,
          "BiCodec decoder: %zu rates but %zu kernel sizes", b->decoder.rate_count,
          b->decoder.kernel_size_count);
    for (size_t i = 0; i < b->decoder.rate_count && i < b->decoder.kernel_size_count; i++)
        CHECK((b->decoder.kernel_sizes[i] - b->decoder.rates[i]) % 2 == 0 &&
                  b->decoder.kernel_sizes[i] >= b->decoder.rates[i],
              "BiCodec decoder stage %zu: kernel %lld and rate %lld do not upsample exactly",
              i + 1, (long long)b->decoder.kernel_sizes[i], (long long)b->decoder.rates[i]);
    CHECK(b->decoder.rate_count < 32 &&
              b->decoder.channels % ((int64_t)1 << b->decoder.rate_count) == 0,
          "BiCodec decoder.channels %lld cannot be halved %zu times",
          (long long)b->decoder.channels, b->decoder.rate_count);

    /* wav2vec2: the variant and the layers the semantic mix reads (spec 4.2, 5.2). */
    CHECK(w->num_hidden_layers >= NN_SPARK_W2V_MIX_LAYER,
          "wav2vec2: %lld layers, the semantic mix reads layer %d",
          (long long)w->num_hidden_layers, NN_SPARK_W2V_MIX_LAYER);
    CHECK(w->do_stable_layer_norm, "wav2vec2: do_stable_layer_norm must be true (pre-LN)");
    CHECK(w->feat_extract_norm_layer, "wav2vec2: feat_extract_norm must be \"layer\"");
    CHECK(w->conv_bias, "wav2vec2: conv_bias must be true");
    CHECK(w->num_attention_heads > 0 && w->hidden_size % w->num_attention_heads == 0,
          "wav2vec2: hidden_size %lld is not a multiple of num_attention_heads %lld",
          (long long)w->hidden_size, (long long)w->num_attention_heads);
    CHECK(w->num_conv_pos_embedding_groups > 0 &&
              w->hidden_size % w->num_conv_pos_embedding_groups == 0,
          "wav2vec2: hidden_size %lld is not a multiple of num_conv_pos_embedding_groups %lld",
          (long long)w->hidden_size, (long long)w->num_conv_pos_embedding_groups);
    CHECK(w->processor.do_normalize, "wav2vec2: the processor must normalise (do_normalize)");
    return found;
}

/* ---- writing --------------------------------------------------------------------------- */

static void yaml_list(nn_text *t, const int64_t *values, size_t n)
{
    nn_text_puts(t, "[");
    for (size_t i = 0; i < n; i++)
        nn_text_printf(t, "%s%lld", i ? ", " : "", (long long)values[i]);
    nn_text_puts(t, "]");
}

static void yaml_vocos(nn_text *t, const char *name, const nn_bicodec_vocos_config *c,
                       bool decoder_side)
{
    nn_text_printf(t, "\n  %s:\n", name);
    nn_text_printf(t, "    input_channels: %lld\n", (long long)c->input_channels);
    nn_text_printf(t, "    vocos_dim: %lld\n", (long long)c->vocos_dim);
    nn_text_printf(t, "    vocos_intermediate_dim: %lld\n", (long long)c->vocos_intermediate_dim);
    nn_text_printf(t, "    vocos_num_layers: %lld\n", (long long)c->vocos_num_layers);
    nn_text_printf(t, "    out_channels: %lld\n", (long long)c->out_channels);
    if (c->condition_dim)
        nn_text_printf(t, "    condition_dim: %lld\n", (long long)c->condition_dim);
    nn_text_puts(t, "    sample_ratios: ");
    yaml_list(t, c->sample_ratios, c->sample_ratio_count);
    nn_text_puts(t, "\n");
    if (decoder_side)
        nn_text_printf(t, "    use_tanh_at_final: %s\n", c->use_tanh_at_final ? "true" : "false");
}

static char *bicodec_yaml(const nn_bicodec_config *b)
{
    nn_text t = {0};
    char n1[32], n2[32], n3[32];
    nn_text_puts(&t, "audio_tokenizer:\n  mel_params:\n");
    nn_text_printf(&t, "    sample_rate: %lld\n", (long long)b->mel.sample_rate);
    nn_text_printf(&t, "    n_fft: %lld\n", (long long)b->mel.n_fft);
    nn_text_printf(&t, "    win_length: %lld\n", (long long)b->mel.win_length);
    nn_text_printf(&t, "    hop_length: %lld\n", (long long)b->mel.hop_length);
    nn_text_printf(&t, "    mel_fmin: %s\n", nn_format_number(b->mel.mel_fmin, n1));
    nn_text_printf(&t, "    mel_fmax: %s\n",
                   b->mel.mel_fmax > 0 ? nn_format_number(b->mel.mel_fmax, n1) : "null");
    nn_text_printf(&t, "    num_mels: %lld\n", (long long)b->mel.num_mels);
    yaml_vocos(&t, "encoder", &b->encoder, false);
    nn_text_puts(&t, "\n  decoder:\n");
    nn_text_printf(&t, "    input_channel: %lld\n", (long long)b->decoder.input_channel);
    nn_text_printf(&t, "    channels: %lld\n", (long long)b->decoder.channels);
    nn_text_puts(&t, "    rates: ");
    yaml_list(&t, b->decoder.rates, b->decoder.rate_count);
    nn_text_puts(&t, "\n    kernel_sizes: ");
    yaml_list(&t, b->decoder.kernel_sizes, b->decoder.kernel_size_count);
    nn_text_puts(&t, "\n\n  quantizer:\n");
    nn_text_printf(&t, "    input_dim: %lld\n", (long long)b->quantizer.input_dim);
    nn_text_printf(&t, "    codebook_size: %lld\n", (long long)b->quantizer.codebook_size);
    nn_text_printf(&t, "    codebook_dim: %lld\n", (long long)b->quantizer.codebook_dim);
    nn_text_printf(&t, "    commitment: %s\n", nn_format_number(b->quantizer.commitment, n1));
    nn_text_printf(&t, "    codebook_loss_weight: %s\n",
                   nn_format_number(b->quantizer.codebook_loss_weight, n2));
    nn_text_printf(&t, "    use_l2_normlize: %s\n",
                   b->quantizer.use_l2_normlize ? "true" : "false");
    nn_text_printf(&t, "    threshold_ema_dead_code: %s\n",
                   nn_format_number(b->quantizer.threshold_ema_dead_code, n3));
    nn_text_puts(&t, "\n  speaker_encoder:\n");
    nn_text_printf(&t, "    input_dim: %lld\n", (long long)b->speaker_encoder.input_dim);
    nn_text_printf(&t, "    out_dim: %lld\n", (long long)b->speaker_encoder.out_dim);
    nn_text_printf(&t, "    latent_dim: %lld\n", (long long)b->speaker_encoder.latent_dim);
    nn_text_printf(&t, "    token_num: %lld\n", (long long)b->speaker_encoder.token_num);
    nn_text_puts(&t, "    fsq_levels: ");
    yaml_list(&t, b->speaker_encoder.fsq_levels, b->speaker_encoder.fsq_level_count);
    nn_text_printf(&t, "\n    fsq_num_quantizers: %lld\n",
                   (long long)b->speaker_encoder.fsq_num_quantizers);
    yaml_vocos(&t, "prenet", &b->prenet, true);
    yaml_vocos(&t, "postnet", &b->postnet, true);
    return nn_text_finish(&t);
}

static char *audio_yaml(const nn_spark_audio_config *a)
{
    nn_text t = {0};
    char n[4][32];
    nn_text_printf(&t, "highpass_cutoff_freq: %s\n", nn_format_number(a->highpass_cutoff_freq, n[0]));
    nn_text_printf(&t, "sample_rate: %lld\n", (long long)a->sample_rate);
    nn_text_printf(&t, "segment_duration: %s # (s)\n", nn_format_number(a->segment_duration, n[1]));
    nn_text_printf(&t, "max_val_duration: %s # (s)\n", nn_format_number(a->max_val_duration, n[2]));
    nn_text_printf(&t, "latent_hop_length: %lld\n", (long long)a->latent_hop_length);
    nn_text_printf(&t, "ref_segment_duration: %s\n", nn_format_number(a->ref_segment_duration, n[3]));
    nn_text_printf(&t, "volume_normalize: %s\n", a->volume_normalize ? "true" : "false");
    return nn_text_finish(&t);
}

static cJSON *int_array(const int64_t *values, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber((double)values[i]));
    return a;
}

/* Keys in alphabetical order, as transformers' to_json_string writes them. */
static cJSON *qwen2_json(const nn_qwen2_config *l)
{
    cJSON *j = cJSON_CreateObject();
    cJSON *arch = cJSON_AddArrayToObject(j, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("Qwen2ForCausalLM"));
    cJSON_AddNumberToObject(j, "attention_dropout", 0.0);
    cJSON_AddNumberToObject(j, "bos_token_id", (double)l->bos_token_id);
    cJSON_AddNumberToObject(j, "eos_token_id", (double)l->eos_token_id);
    cJSON_AddStringToObject(j, "hidden_act", "silu");
    cJSON_AddNumberToObject(j, "hidden_size", (double)l->hidden_size);
    cJSON_AddNumberToObject(j, "initializer_range", l->initializer_range);
    cJSON_AddNumberToObject(j, "intermediate_size", (double)l->intermediate_size);
    cJSON_AddNumberToObject(j, "max_position_embeddings", (double)l->max_position_embeddings);
    cJSON_AddNumberToObject(j, "max_window_layers", (double)l->max_window_layers);
    cJSON_AddStringToObject(j, "model_type", "qwen2");
    cJSON_AddNumberToObject(j, "num_attention_heads", (double)l->num_attention_heads);
    cJSON_AddNumberToObject(j, "num_hidden_layers", (double)l->num_hidden_layers);
    cJSON_AddNumberToObject(j, "num_key_value_heads", (double)l->num_key_value_heads);
    cJSON_AddNumberToObject(j, "rms_norm_eps", l->rms_norm_eps);
    cJSON_AddNumberToObject(j, "rope_theta", l->rope_theta);
    cJSON_AddNumberToObject(j, "sliding_window", (double)l->sliding_window);
    cJSON_AddBoolToObject(j, "tie_word_embeddings", l->tie_word_embeddings);
    /* The release declares bfloat16 although its weights are F32 (spec 1); keep the quirk so
     * loaders are tested against it. */
    cJSON_AddStringToObject(j, "torch_dtype", "bfloat16");
    cJSON_AddStringToObject(j, "transformers_version", "4.43.1");
    cJSON_AddBoolToObject(j, "use_cache", true);
    cJSON_AddBoolToObject(j, "use_sliding_window", l->use_sliding_window);
    cJSON_AddNumberToObject(j, "vocab_size", (double)l->vocab_size);
    return j;
}

static cJSON *wav2vec2_json(const nn_wav2vec2_config *w)
{
    size_t n = (size_t)w->num_feat_extract_layers;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "activation_dropout", 0.0);
    cJSON_AddBoolToObject(j, "apply_spec_augment", true);
    cJSON *arch = cJSON_AddArrayToObject(j, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("Wav2Vec2ForPreTraining"));
    cJSON_AddNumberToObject(j, "attention_dropout", 0.1);
    cJSON_AddNumberToObject(j, "bos_token_id", 1);
    cJSON_AddNumberToObject(j, "codevector_dim", (double)w->codevector_dim);
    cJSON_AddNumberToObject(j, "contrastive_logits_temperature", 0.1);
    cJSON_AddBoolToObject(j, "conv_bias", w->conv_bias);
    cJSON_AddItemToObject(j, "conv_dim", int_array(w->conv_dim, n));
    cJSON_AddItemToObject(j, "conv_kernel", int_array(w->conv_kernel, n));
    cJSON_AddItemToObject(j, "conv_stride", int_array(w->conv_stride, n));
    cJSON_AddStringToObject(j, "ctc_loss_reduction", "sum");
    cJSON_AddBoolToObject(j, "ctc_zero_infinity", false);
    cJSON_AddNumberToObject(j, "diversity_loss_weight", 0.1);
    cJSON_AddBoolToObject(j, "do_stable_layer_norm", w->do_stable_layer_norm);
    cJSON_AddNumberToObject(j, "eos_token_id", 2);
    cJSON_AddStringToObject(j, "feat_extract_activation", "gelu");
    cJSON_AddNumberToObject(j, "feat_extract_dropout", 0.0);
    cJSON_AddStringToObject(j, "feat_extract_norm", w->feat_extract_norm_layer ? "layer" : "group");
    cJSON_AddNumberToObject(j, "feat_proj_dropout", 0.1);
    cJSON_AddNumberToObject(j, "feat_quantizer_dropout", 0.0);
    cJSON_AddNumberToObject(j, "final_dropout", 0.0);
    cJSON_AddBoolToObject(j, "gradient_checkpointing", false);
    cJSON_AddStringToObject(j, "hidden_act", "gelu");
    cJSON_AddNumberToObject(j, "hidden_dropout", 0.1);
    cJSON_AddNumberToObject(j, "hidden_size", (double)w->hidden_size);
    cJSON_AddNumberToObject(j, "initializer_range", 0.02);
    cJSON_AddNumberToObject(j, "intermediate_size", (double)w->intermediate_size);
    cJSON_AddNumberToObject(j, "layer_norm_eps", w->layer_norm_eps);
    cJSON_AddNumberToObject(j, "layerdrop", 0.1);
    cJSON_AddNumberToObject(j, "mask_feature_length", 10);
    cJSON_AddNumberToObject(j, "mask_feature_prob", w->mask_feature_prob);
    cJSON_AddNumberToObject(j, "mask_time_length", 10);
    cJSON_AddNumberToObject(j, "mask_time_prob", w->mask_time_prob);
    cJSON_AddStringToObject(j, "model_type", "wav2vec2");
    cJSON_AddNumberToObject(j, "num_attention_heads", (double)w->num_attention_heads);
    cJSON_AddNumberToObject(j, "num_codevector_groups", (double)w->num_codevector_groups);
    cJSON_AddNumberToObject(j, "num_codevectors_per_group", (double)w->num_codevectors_per_group);
    cJSON_AddNumberToObject(j, "num_conv_pos_embedding_groups",
                            (double)w->num_conv_pos_embedding_groups);
    cJSON_AddNumberToObject(j, "num_conv_pos_embeddings", (double)w->num_conv_pos_embeddings);
    cJSON_AddNumberToObject(j, "num_feat_extract_layers", (double)w->num_feat_extract_layers);
    cJSON_AddNumberToObject(j, "num_hidden_layers", (double)w->num_hidden_layers);
    cJSON_AddNumberToObject(j, "num_negatives", 100);
    cJSON_AddNumberToObject(j, "pad_token_id", 0);
    cJSON_AddNumberToObject(j, "proj_codevector_dim", (double)w->proj_codevector_dim);
    cJSON_AddStringToObject(j, "transformers_version", "4.7.0.dev0");
    cJSON_AddNumberToObject(j, "vocab_size", 32);
    return j;
}

static cJSON *processor_json(const nn_wav2vec2_config *w)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddBoolToObject(j, "do_normalize", w->processor.do_normalize);
    cJSON_AddStringToObject(j, "feature_extractor_type", "Wav2Vec2FeatureExtractor");
    cJSON_AddNumberToObject(j, "feature_size", (double)w->processor.feature_size);
    cJSON_AddStringToObject(j, "padding_side", "right");
    cJSON_AddNumberToObject(j, "padding_value", w->processor.padding_value);
    cJSON_AddBoolToObject(j, "return_attention_mask", w->processor.return_attention_mask);
    cJSON_AddNumberToObject(j, "sampling_rate", (double)w->processor.sampling_rate);
    return j;
}

int nn_spark_config_write(const char *dir, const nn_spark_config *config, char **error)
{
    *error = NULL;
    if (nn_write_text_in(dir, "config.yaml", audio_yaml(&config->audio), error) ||
        nn_write_text_in(dir, "BiCodec/config.yaml", bicodec_yaml(&config->bicodec), error) ||
        nn_write_json_in(dir, "LLM/config.json", qwen2_json(&config->llm), error) ||
        nn_write_json_in(dir, NN_SPARK_WAV2VEC2_DIR "/config.json",
                         wav2vec2_json(&config->wav2vec2), error) ||
        nn_write_json_in(dir, NN_SPARK_WAV2VEC2_DIR "/preprocessor_config.json",
                         processor_json(&config->wav2vec2), error))
        return -1;
    return 0;
}
