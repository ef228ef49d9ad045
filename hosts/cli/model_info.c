/* sparkhost model info: what a model directory holds, and where it departs from what the
 * plugins expect (the description in spark/nn/spark_model.h). */
#include "model.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include <spark/nn/spark_model.h>
#include <spark/nn/spark_tokenizer.h>
#include <spark/nn/tensor_file.h>

static const char usage[] =
    "usage: sparkhost model info [--json] DIR\n"
    "\n"
    "Checks a Spark-TTS model directory (as released, fetched or synthesised) and prints\n"
    "what it holds: the files present or missing, the architecture read from the config\n"
    "files, the tokenizer's token families, and per weights file the tensor count, dtypes\n"
    "and size, with every tensor that is missing, unexpected or of the wrong shape or dtype.\n"
    "\n"
    "options:\n"
    "  --json      print the same as JSON, with every tensor's name, dtype, shape and the\n"
    "              CRC-32 of its data (little-endian bytes, row-major)\n"
    "  -h, --help  this help\n"
    "\n"
    "exit codes: 0 complete and consistent, 3 problems found (listed), 2 usage error\n";

/* ---- what was found -------------------------------------------------------------------- */

typedef struct component_info {
    bool present;
    nn_tensor_file *file;
    nn_spark_tensor_list expected;
    bool have_expected;
    uint64_t bytes;
    uint64_t dtype_counts[NN_DTYPE_COUNT];
} component_info;

enum { MAX_FILES = 32 };

typedef struct model_info {
    const char *dir;
    bool file_present[MAX_FILES];
    uint64_t file_bytes[MAX_FILES];
    nn_spark_config config;
    bool config_ok;
    bool tokenizer_checked;
    nn_spark_tokenizer_report tokenizer;
    component_info components[NN_SPARK_COMPONENT_COUNT];
    nn_problems problems; /* make the model incomplete or inconsistent */
    nn_problems notes;    /* worth saying, not wrong */
} model_info;

static char *join_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = malloc(n);
    if (path)
        snprintf(path, n, "%s/%s", dir, name);
    return path;
}

static bool file_is_present(const model_info *m, const char *relative)
{
    for (size_t i = 0; i < nn_spark_file_count; i++)
        if (strcmp(nn_spark_files[i].path, relative) == 0)
            return m->file_present[i];
    return false;
}

static void inspect_files(model_info *m)
{
    for (size_t i = 0; i < nn_spark_file_count && i < MAX_FILES; i++) {
        char *path = join_path(m->dir, nn_spark_files[i].path);
        struct stat st;
        m->file_present[i] = path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
        m->file_bytes[i] = m->file_present[i] ? (uint64_t)st.st_size : 0;
        free(path);
        if (m->file_present[i])
            continue;
        if (nn_spark_files[i].required)
            nn_problems_add(&m->problems, "%s is missing (%s)", nn_spark_files[i].path,
                            nn_spark_files[i].what);
        else
            nn_problems_add(&m->notes, "%s is missing (%s; not needed at inference)",
                            nn_spark_files[i].path, nn_spark_files[i].what);
    }
}

static void inspect_configs(model_info *m)
{
    static const char *const needed[] = {
        "config.yaml", "LLM/config.json", "BiCodec/config.yaml",
        NN_SPARK_WAV2VEC2_DIR "/config.json", NN_SPARK_WAV2VEC2_DIR "/preprocessor_config.json"};
    for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++)
        if (!file_is_present(m, needed[i]))
            return; /* already reported as missing */
    m->config_ok = nn_spark_config_load(m->dir, &m->config, &m->problems) == 0;
    if (m->config_ok)
        m->config_ok = nn_spark_config_check(&m->config, &m->problems) == 0;
}

static void inspect_tokenizer(model_info *m)
{
    if (!m->config_ok || !file_is_present(m, "LLM/tokenizer.json"))
        return;
    char *path = join_path(m->dir, "LLM/tokenizer.json");
    if (!path)
        return;
    nn_spark_tokenizer_check(path, &m->config, &m->tokenizer, &m->problems);
    m->tokenizer_checked = true;
    free(path);
}

static void inspect_component(model_info *m, nn_spark_component c)
{
    component_info *ci = &m->components[c];
    const char *relative = nn_spark_component_weights(c);
    ci->present = file_is_present(m, relative);
    if (!ci->present)
        return;
    char *path = join_path(m->dir, relative);
    char *error = NULL;
    ci->file = path ? nn_tensor_file_open(path, &error) : NULL;
    free(path);
    if (!ci->file) {
        nn_problems_add(&m->problems, "%s", error ? error : "out of memory");
        free(error);
        return;
    }
    for (size_t i = 0; i < nn_tensor_file_count(ci->file); i++) {
        const nn_tensor_view *v = nn_tensor_file_at(ci->file, i);
        ci->bytes += nn_tensor_elements(v) * nn_dtype_size(v->dtype);
        if ((unsigned)v->dtype < NN_DTYPE_COUNT)
            ci->dtype_counts[v->dtype]++;
    }
    if (!m->config_ok)
        return;
    if (nn_spark_expected_tensors(&m->config, c, &ci->expected, &error) != 0) {
        nn_problems_add(&m->problems, "%s: %s", relative, error);
        free(error);
        return;
    }
    ci->have_expected = true;
    nn_spark_check_tensors(ci->file, &ci->expected, relative, &m->problems);
}

static void model_info_free(model_info *m)
{
    for (int c = 0; c < NN_SPARK_COMPONENT_COUNT; c++) {
        nn_tensor_file_close(m->components[c].file);
        nn_spark_tensor_list_free(&m->components[c].expected);
    }
    nn_problems_free(&m->problems);
    nn_problems_free(&m->notes);
}

/* ---- values ---------------------------------------------------------------------------- */

/* CRC-32 (zlib's polynomial), eight bytes a step ("slicing-by-8"): the full model's 3.9 GB
 * in a few seconds. */
static uint32_t crc_table[8][256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

static uint32_t crc_update(uint32_t crc, const uint8_t *p, uint64_t n)
{
    for (; n >= 8; n -= 8, p += 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                             (uint32_t)p[3] << 24);
        uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
                      (uint32_t)p[7] << 24;
        crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
              crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
              crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
              crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
    }
    for (; n; n--, p++)
        crc = crc_table[0][(crc ^ *p) & 0xff] ^ (crc >> 8);
    return crc;
}

/* Strided views (torch checkpoints may hold them) are walked in row-major element order. */
static uint32_t crc_strided(uint32_t crc, const nn_tensor_view *v, uint32_t dim,
                            const uint8_t *base)
{
    size_t width = nn_dtype_size(v->dtype);
    for (int64_t i = 0; i < v->shape[dim]; i++) {
        const uint8_t *p = base + (int64_t)width * i * v->strides[dim];
        crc = dim + 1 == v->ndim ? crc_update(crc, p, width) : crc_strided(crc, v, dim + 1, p);
    }
    return crc;
}

/* zlib's CRC-32 of the tensor's bytes in row-major order. */
static uint32_t tensor_crc(const nn_tensor_view *v)
{
    uint32_t crc = 0xFFFFFFFFu;
    if (v->contiguous || v->ndim == 0)
        crc = crc_update(crc, v->data, nn_tensor_elements(v) * nn_dtype_size(v->dtype));
    else if (nn_tensor_elements(v) > 0)
        crc = crc_strided(crc, v, 0, v->data);
    return crc ^ 0xFFFFFFFFu;
}

/* ---- text output ----------------------------------------------------------------------- */

static const char *human_bytes(uint64_t n, char *buf)
{
    if (n < 1000)
        snprintf(buf, 32, "%" PRIu64 " B", n);
    else if (n < 1000000)
        snprintf(buf, 32, "%.1f kB", (double)n / 1e3);
    else if (n < 1000000000)
        snprintf(buf, 32, "%.1f MB", (double)n / 1e6);
    else
        snprintf(buf, 32, "%.2f GB", (double)n / 1e9);
    return buf;
}

static void print_list(const int64_t *v, size_t n, const char *sep)
{
    for (size_t i = 0; i < n; i++)
        printf("%s%lld", i ? sep : "", (long long)v[i]);
}

static void print_architecture(const nn_spark_config *c)
{
    const nn_qwen2_config *l = &c->llm;
    const nn_bicodec_config *b = &c->bicodec;
    const nn_wav2vec2_config *w = &c->wav2vec2;
    printf("architecture:\n");
    printf("  audio     %lld Hz, reference clip %g s, latent hop %lld, volume normalize %s\n",
           (long long)c->audio.sample_rate, c->audio.ref_segment_duration,
           (long long)c->audio.latent_hop_length, c->audio.volume_normalize ? "on" : "off");
    printf("  llm       Qwen2: hidden %lld, %lld layers, %lld heads (%lld kv), head %lld, "
           "mlp %lld, vocab %lld, %s embeddings, rope theta %g\n",
           (long long)l->hidden_size, (long long)l->num_hidden_layers,
           (long long)l->num_attention_heads, (long long)l->num_key_value_heads,
           (long long)(l->num_attention_heads ? l->hidden_size / l->num_attention_heads : 0),
           (long long)l->intermediate_size, (long long)l->vocab_size,
           l->tie_word_embeddings ? "tied" : "untied", l->rope_theta);
    printf("  bicodec   mel %lld bins (n_fft %lld, hop %lld); encoder %lld -> %lld x %lld "
           "layers -> %lld; quantizer %lld x %lld\n",
           (long long)b->mel.num_mels, (long long)b->mel.n_fft, (long long)b->mel.hop_length,
           (long long)b->encoder.input_channels, (long long)b->encoder.vocos_dim,
           (long long)b->encoder.vocos_num_layers, (long long)b->encoder.out_channels,
           (long long)b->quantizer.codebook_size, (long long)b->quantizer.codebook_dim);
    printf("            speaker %lld -> %lld, %lld tokens of levels ",
           (long long)b->speaker_encoder.input_dim, (long long)b->speaker_encoder.out_dim,
           (long long)b->speaker_encoder.token_num);
    print_list(b->speaker_encoder.fsq_levels, b->speaker_encoder.fsq_level_count, "x");
    printf("; prenet %lld x %lld layers (condition %lld); decoder %lld channels, rates ",
           (long long)b->prenet.vocos_dim, (long long)b->prenet.vocos_num_layers,
           (long long)b->prenet.condition_dim, (long long)b->decoder.channels);
    print_list(b->decoder.rates, b->decoder.rate_count, "x");
    printf("\n");
    int64_t stride = 1;
    for (int64_t i = 0; i < w->num_feat_extract_layers && i < NN_SPARK_MAX_LIST; i++)
        stride *= w->conv_stride[i];
    printf("  wav2vec2  hidden %lld, %lld layers, %lld heads, ffn %lld, %lld conv layers "
           "(stride %lld), %s\n",
           (long long)w->hidden_size, (long long)w->num_hidden_layers,
           (long long)w->num_attention_heads, (long long)w->intermediate_size,
           (long long)w->num_feat_extract_layers, (long long)stride,
           w->do_stable_layer_norm ? "pre-LN" : "post-LN");
}

static void print_text(const model_info *m)
{
    char size[32];
    printf("model: %s\nfiles:\n", m->dir);
    for (size_t i = 0; i < nn_spark_file_count; i++) {
        if (m->file_present[i])
            printf("  %-46s %12s\n", nn_spark_files[i].path, human_bytes(m->file_bytes[i], size));
        else
            printf("  %-46s %12s\n", nn_spark_files[i].path,
                   nn_spark_files[i].required ? "missing" : "missing (optional)");
    }
    if (m->config_ok)
        print_architecture(&m->config);
    if (m->tokenizer_checked) {
        const nn_spark_tokenizer_report *t = &m->tokenizer;
        printf("tokenizer: %lld regular tokens (%lld merges), %lld added; <|endoftext|> %lld, "
               "<|im_end|> %lld\n",
               (long long)t->regular, (long long)t->merges, (long long)t->added,
               (long long)t->endoftext, (long long)t->im_end);
        for (size_t f = 0; f < t->family_count; f++)
            printf("  %-17s %5u tokens from id %lld%s\n", t->families[f].name,
                   t->families[f].expected, (long long)t->families[f].first_id,
                   t->families[f].found == t->families[f].expected ? "" : " (incomplete)");
    }
    printf("weights:\n");
    for (int c = 0; c < NN_SPARK_COMPONENT_COUNT; c++) {
        const component_info *ci = &m->components[c];
        printf("  %-9s %-44s ", nn_spark_component_name((nn_spark_component)c),
               nn_spark_component_weights((nn_spark_component)c));
        if (!ci->file) {
            printf("%s\n", ci->present ? "unreadable" : "missing");
            continue;
        }
        printf("%4zu tensors", nn_tensor_file_count(ci->file));
        if (ci->have_expected)
            printf(" (%zu expected)", ci->expected.count);
        printf(",");
        for (int d = 0; d < NN_DTYPE_COUNT; d++)
            if (ci->dtype_counts[d])
                printf(" %s %" PRIu64, nn_dtype_name((nn_dtype)d), ci->dtype_counts[d]);
        printf(", %s\n", human_bytes(ci->bytes, size));
    }
    for (size_t i = 0; i < m->notes.count; i++)
        printf("note: %s\n", m->notes.items[i]);
    if (m->problems.count) {
        printf("problems (%zu):\n", m->problems.count);
        for (size_t i = 0; i < m->problems.count; i++)
            printf("  %s\n", m->problems.items[i]);
        printf("status: incomplete or inconsistent\n");
    } else {
        printf("status: complete and consistent\n");
    }
}

/* ---- JSON output ----------------------------------------------------------------------- */

static cJSON *json_ints(const int64_t *v, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[i]));
    return a;
}

static cJSON *json_vocos(const nn_bicodec_vocos_config *v)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "input_channels", (double)v->input_channels);
    cJSON_AddNumberToObject(j, "vocos_dim", (double)v->vocos_dim);
    cJSON_AddNumberToObject(j, "vocos_intermediate_dim", (double)v->vocos_intermediate_dim);
    cJSON_AddNumberToObject(j, "vocos_num_layers", (double)v->vocos_num_layers);
    cJSON_AddNumberToObject(j, "out_channels", (double)v->out_channels);
    if (v->condition_dim)
        cJSON_AddNumberToObject(j, "condition_dim", (double)v->condition_dim);
    cJSON_AddItemToObject(j, "sample_ratios", json_ints(v->sample_ratios, v->sample_ratio_count));
    return j;
}

/* The hyperparameters under the config files' own key names. */
static cJSON *json_config(const nn_spark_config *c)
{
    cJSON *j = cJSON_CreateObject();
    cJSON *a = cJSON_AddObjectToObject(j, "audio");
    cJSON_AddNumberToObject(a, "sample_rate", (double)c->audio.sample_rate);
    cJSON_AddNumberToObject(a, "ref_segment_duration", c->audio.ref_segment_duration);
    cJSON_AddNumberToObject(a, "latent_hop_length", (double)c->audio.latent_hop_length);
    cJSON_AddBoolToObject(a, "volume_normalize", c->audio.volume_normalize);

    const nn_qwen2_config *l = &c->llm;
    cJSON *lj = cJSON_AddObjectToObject(j, "llm");
    cJSON_AddNumberToObject(lj, "vocab_size", (double)l->vocab_size);
    cJSON_AddNumberToObject(lj, "hidden_size", (double)l->hidden_size);
    cJSON_AddNumberToObject(lj, "num_hidden_layers", (double)l->num_hidden_layers);
    cJSON_AddNumberToObject(lj, "num_attention_heads", (double)l->num_attention_heads);
    cJSON_AddNumberToObject(lj, "num_key_value_heads", (double)l->num_key_value_heads);
    cJSON_AddNumberToObject(lj, "intermediate_size", (double)l->intermediate_size);
    cJSON_AddNumberToObject(lj, "max_position_embeddings", (double)l->max_position_embeddings);
    cJSON_AddNumberToObject(lj, "rope_theta", l->rope_theta);
    cJSON_AddNumberToObject(lj, "rms_norm_eps", l->rms_norm_eps);
    cJSON_AddBoolToObject(lj, "tie_word_embeddings", l->tie_word_embeddings);
    cJSON_AddNumberToObject(lj, "bos_token_id", (double)l->bos_token_id);
    cJSON_AddNumberToObject(lj, "eos_token_id", (double)l->eos_token_id);

    const nn_bicodec_config *b = &c->bicodec;
    cJSON *bj = cJSON_AddObjectToObject(j, "bicodec");
    cJSON *mel = cJSON_AddObjectToObject(bj, "mel_params");
    cJSON_AddNumberToObject(mel, "sample_rate", (double)b->mel.sample_rate);
    cJSON_AddNumberToObject(mel, "n_fft", (double)b->mel.n_fft);
    cJSON_AddNumberToObject(mel, "win_length", (double)b->mel.win_length);
    cJSON_AddNumberToObject(mel, "hop_length", (double)b->mel.hop_length);
    cJSON_AddNumberToObject(mel, "mel_fmin", b->mel.mel_fmin);
    if (b->mel.mel_fmax > 0)
        cJSON_AddNumberToObject(mel, "mel_fmax", b->mel.mel_fmax);
    else
        cJSON_AddNullToObject(mel, "mel_fmax");
    cJSON_AddNumberToObject(mel, "num_mels", (double)b->mel.num_mels);
    cJSON_AddItemToObject(bj, "encoder", json_vocos(&b->encoder));
    cJSON_AddItemToObject(bj, "prenet", json_vocos(&b->prenet));
    cJSON_AddItemToObject(bj, "postnet", json_vocos(&b->postnet));
    cJSON *q = cJSON_AddObjectToObject(bj, "quantizer");
    cJSON_AddNumberToObject(q, "input_dim", (double)b->quantizer.input_dim);
    cJSON_AddNumberToObject(q, "codebook_size", (double)b->quantizer.codebook_size);
    cJSON_AddNumberToObject(q, "codebook_dim", (double)b->quantizer.codebook_dim);
    cJSON *sp = cJSON_AddObjectToObject(bj, "speaker_encoder");
    cJSON_AddNumberToObject(sp, "input_dim", (double)b->speaker_encoder.input_dim);
    cJSON_AddNumberToObject(sp, "out_dim", (double)b->speaker_encoder.out_dim);
    cJSON_AddNumberToObject(sp, "latent_dim", (double)b->speaker_encoder.latent_dim);
    cJSON_AddNumberToObject(sp, "token_num", (double)b->speaker_encoder.token_num);
    cJSON_AddItemToObject(sp, "fsq_levels",
                          json_ints(b->speaker_encoder.fsq_levels,
                                    b->speaker_encoder.fsq_level_count));
    cJSON_AddNumberToObject(sp, "fsq_num_quantizers",
                            (double)b->speaker_encoder.fsq_num_quantizers);
    cJSON *d = cJSON_AddObjectToObject(bj, "decoder");
    cJSON_AddNumberToObject(d, "input_channel", (double)b->decoder.input_channel);
    cJSON_AddNumberToObject(d, "channels", (double)b->decoder.channels);
    cJSON_AddItemToObject(d, "rates", json_ints(b->decoder.rates, b->decoder.rate_count));
    cJSON_AddItemToObject(d, "kernel_sizes",
                          json_ints(b->decoder.kernel_sizes, b->decoder.kernel_size_count));

    const nn_wav2vec2_config *w = &c->wav2vec2;
    size_t layers = (size_t)w->num_feat_extract_layers;
    cJSON *wj = cJSON_AddObjectToObject(j, "wav2vec2");
    cJSON_AddNumberToObject(wj, "hidden_size", (double)w->hidden_size);
    cJSON_AddNumberToObject(wj, "num_hidden_layers", (double)w->num_hidden_layers);
    cJSON_AddNumberToObject(wj, "num_attention_heads", (double)w->num_attention_heads);
    cJSON_AddNumberToObject(wj, "intermediate_size", (double)w->intermediate_size);
    cJSON_AddItemToObject(wj, "conv_dim", json_ints(w->conv_dim, layers));
    cJSON_AddItemToObject(wj, "conv_kernel", json_ints(w->conv_kernel, layers));
    cJSON_AddItemToObject(wj, "conv_stride", json_ints(w->conv_stride, layers));
    cJSON_AddNumberToObject(wj, "num_conv_pos_embeddings", (double)w->num_conv_pos_embeddings);
    cJSON_AddNumberToObject(wj, "num_conv_pos_embedding_groups",
                            (double)w->num_conv_pos_embedding_groups);
    cJSON_AddNumberToObject(wj, "codevector_dim", (double)w->codevector_dim);
    cJSON_AddNumberToObject(wj, "proj_codevector_dim", (double)w->proj_codevector_dim);
    cJSON_AddNumberToObject(wj, "layer_norm_eps", w->layer_norm_eps);
    cJSON_AddBoolToObject(wj, "do_stable_layer_norm", w->do_stable_layer_norm);
    cJSON_AddStringToObject(wj, "feat_extract_norm", w->feat_extract_norm_layer ? "layer" : "group");
    cJSON_AddNumberToObject(wj, "sampling_rate", (double)w->processor.sampling_rate);
    return j;
}

static cJSON *json_tensor(const nn_tensor_view *v, const char *status)
{
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "name", v->name);
    cJSON_AddStringToObject(t, "dtype", nn_dtype_name(v->dtype));
    cJSON_AddItemToObject(t, "shape", json_ints(v->shape, v->ndim));
    cJSON_AddNumberToObject(t, "crc32", (double)tensor_crc(v));
    cJSON_AddStringToObject(t, "status", status);
    return t;
}

static cJSON *json_component(const model_info *m, nn_spark_component c)
{
    const component_info *ci = &m->components[c];
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "name", nn_spark_component_name(c));
    cJSON_AddStringToObject(j, "path", nn_spark_component_weights(c));
    cJSON_AddStringToObject(j, "format",
                            nn_spark_component_is_torch(c) ? "torch" : "safetensors");
    cJSON_AddBoolToObject(j, "present", ci->present);
    cJSON_AddBoolToObject(j, "readable", ci->file != NULL);
    if (!ci->file)
        return j;
    cJSON_AddNumberToObject(j, "tensor_count", (double)nn_tensor_file_count(ci->file));
    if (ci->have_expected)
        cJSON_AddNumberToObject(j, "expected_count", (double)ci->expected.count);
    cJSON_AddNumberToObject(j, "bytes", (double)ci->bytes);
    cJSON *dtypes = cJSON_AddObjectToObject(j, "dtypes");
    for (int d = 0; d < NN_DTYPE_COUNT; d++)
        if (ci->dtype_counts[d])
            cJSON_AddNumberToObject(dtypes, nn_dtype_name((nn_dtype)d), (double)ci->dtype_counts[d]);
    cJSON *tensors = cJSON_AddArrayToObject(j, "tensors");
    for (size_t i = 0; i < nn_tensor_file_count(ci->file); i++) {
        const nn_tensor_view *v = nn_tensor_file_at(ci->file, i);
        const char *status = "unchecked";
        if (ci->have_expected) {
            ptrdiff_t at = nn_spark_tensor_list_find(&ci->expected, v->name);
            if (at < 0) {
                status = "unexpected";
            } else {
                const nn_spark_tensor_spec *s = &ci->expected.items[at];
                bool same = s->ndim == v->ndim && s->dtype == v->dtype;
                for (uint32_t d = 0; same && d < s->ndim; d++)
                    same = s->shape[d] == v->shape[d];
                status = same ? "ok" : s->dtype != v->dtype ? "wrong_dtype" : "wrong_shape";
            }
        }
        cJSON_AddItemToArray(tensors, json_tensor(v, status));
    }
    cJSON *missing = cJSON_AddArrayToObject(j, "missing");
    for (size_t i = 0; ci->have_expected && i < ci->expected.count; i++) {
        const nn_spark_tensor_spec *s = &ci->expected.items[i];
        if (nn_tensor_file_find(ci->file, s->name))
            continue;
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "name", s->name);
        cJSON_AddStringToObject(t, "dtype", nn_dtype_name(s->dtype));
        cJSON_AddItemToObject(t, "shape", json_ints(s->shape, s->ndim));
        cJSON_AddItemToArray(missing, t);
    }
    return j;
}

static cJSON *json_lines(const nn_problems *lines)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < lines->count; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(lines->items[i]));
    return a;
}

static int print_json(const model_info *m)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "dir", m->dir);
    cJSON_AddBoolToObject(j, "ok", m->problems.count == 0);
    cJSON_AddItemToObject(j, "problems", json_lines(&m->problems));
    cJSON_AddItemToObject(j, "notes", json_lines(&m->notes));
    cJSON *files = cJSON_AddArrayToObject(j, "files");
    for (size_t i = 0; i < nn_spark_file_count; i++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "path", nn_spark_files[i].path);
        cJSON_AddBoolToObject(f, "required", nn_spark_files[i].required);
        cJSON_AddBoolToObject(f, "present", m->file_present[i]);
        cJSON_AddNumberToObject(f, "bytes", (double)m->file_bytes[i]);
        cJSON_AddItemToArray(files, f);
    }
    if (m->config_ok)
        cJSON_AddItemToObject(j, "config", json_config(&m->config));
    if (m->tokenizer_checked) {
        const nn_spark_tokenizer_report *t = &m->tokenizer;
        cJSON *tj = cJSON_AddObjectToObject(j, "tokenizer");
        cJSON_AddNumberToObject(tj, "regular", (double)t->regular);
        cJSON_AddNumberToObject(tj, "merges", (double)t->merges);
        cJSON_AddNumberToObject(tj, "added", (double)t->added);
        cJSON_AddNumberToObject(tj, "endoftext", (double)t->endoftext);
        cJSON_AddNumberToObject(tj, "im_end", (double)t->im_end);
        cJSON *families = cJSON_AddArrayToObject(tj, "families");
        for (size_t f = 0; f < t->family_count; f++) {
            cJSON *fj = cJSON_CreateObject();
            cJSON_AddStringToObject(fj, "name", t->families[f].name);
            cJSON_AddNumberToObject(fj, "count", t->families[f].expected);
            cJSON_AddNumberToObject(fj, "found", t->families[f].found);
            cJSON_AddNumberToObject(fj, "first_id", (double)t->families[f].first_id);
            cJSON_AddItemToArray(families, fj);
        }
    }
    cJSON *components = cJSON_AddArrayToObject(j, "components");
    for (int c = 0; c < NN_SPARK_COMPONENT_COUNT; c++)
        cJSON_AddItemToArray(components, json_component(m, (nn_spark_component)c));
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    if (!text) {
        fprintf(stderr, "sparkhost: model info: out of memory\n");
        return -1;
    }
    fputs(text, stdout);
    fputc('\n', stdout);
    cJSON_free(text);
    return 0;
}

/* ---- entry ----------------------------------------------------------------------------- */

int model_info_main(const cli_globals *g, int argc, char **argv)
{
    (void)g;
    bool json = false;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(usage, stdout);
            return EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("model info", "unknown option '%s'", a);
        } else if (!dir) {
            dir = a;
        } else {
            return cli_usage_error("model info", "more than one directory ('%s', '%s')", dir, a);
        }
    }
    if (!dir)
        return cli_usage_error("model info", "no model directory given");
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "sparkhost: model info: %s is not a directory\n", dir);
        return EXIT_INVALID;
    }
    crc_init();
    model_info m = {.dir = dir};
    inspect_files(&m);
    inspect_configs(&m);
    inspect_tokenizer(&m);
    for (int c = 0; c < NN_SPARK_COMPONENT_COUNT; c++)
        inspect_component(&m, (nn_spark_component)c);
    int rc = m.problems.count ? EXIT_INVALID : EXIT_OK;
    if (json) {
        if (print_json(&m) != 0)
            rc = EXIT_INTERNAL;
    } else {
        print_text(&m);
    }
    model_info_free(&m);
    return rc;
}
