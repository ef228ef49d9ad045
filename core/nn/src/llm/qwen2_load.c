/* qwen2_load.c - LLM/config.json and LLM/model.safetensors to weights in the precision asked
 * for: q/k/v fused into one matrix (one product per layer instead of three), gate and up
 * fused likewise, the embedding doubling as the output head (tie_word_embeddings). */
#define _DEFAULT_SOURCE /* madvise */
#include "qwen2_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kv_half.h"
#include "spark/nn/tensor_file.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21 /* Linux 5.4 */
#endif

typedef struct loader {
    const nn_tensor_file *file;
    const char *path;
    char *err;
    size_t err_size;
} loader;

static int fail(loader *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(loader *l, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(l->err, l->err_size, "%s: %s", l->path, msg);
    return -1;
}

/* Once a tensor is converted its file pages are not needed: handing them back keeps the
 * peak RSS of activation near the converted weights instead of file + weights. PAGEOUT
 * keeps the data (a page is read again if touched); an old kernel refuses it, harmlessly. */
static void release_pages(const void *data, size_t bytes)
{
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0)
        return;
    uintptr_t lo = ((uintptr_t)data + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    uintptr_t hi = ((uintptr_t)data + bytes) & ~((uintptr_t)page - 1);
    if (hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_PAGEOUT);
}

/* The tensor, checked against the expected shape (rows 0: a vector of cols elements). */
static const nn_tensor_view *find_tensor(loader *l, const char *name, size_t rows, size_t cols)
{
    const nn_tensor_view *v = nn_tensor_file_find(l->file, name);
    if (!v) {
        fail(l, "tensor %s is missing", name);
        return NULL;
    }
    bool shape_ok = rows ? v->ndim == 2 && v->shape[0] == (int64_t)rows &&
                               v->shape[1] == (int64_t)cols
                         : v->ndim == 1 && v->shape[0] == (int64_t)cols;
    if (!shape_ok) {
        char have[128], want[128];
        int64_t w[2] = {(int64_t)(rows ? rows : cols), (int64_t)cols};
        nn_spark_format_shape(v->ndim, v->shape, have, sizeof have);
        nn_spark_format_shape(rows ? 2 : 1, rows ? w : w + 1, want, sizeof want);
        fail(l, "tensor %s has shape %s; config.json gives %s", name, have, want);
        return NULL;
    }
    if (!v->contiguous) {
        fail(l, "tensor %s is not contiguous", name);
        return NULL;
    }
    if (v->dtype != NN_F32 && v->dtype != NN_BF16 && v->dtype != NN_F16) {
        fail(l, "tensor %s is %s; F32, BF16 or F16 is needed", name, nn_dtype_name(v->dtype));
        return NULL;
    }
    return v;
}

/* Copies a tensor of the expected shape into dst as f32 (the file's data need not be
 * aligned). */
static int read_tensor(loader *l, const char *name, size_t rows, size_t cols, float *dst)
{
    const nn_tensor_view *v = find_tensor(l, name, rows, cols);
    if (!v)
        return -1;
    size_t n = (rows ? rows : 1) * cols;
    const unsigned char *src = v->data;
    if (v->dtype == NN_F32) {
        memcpy(dst, src, n * 4);
    } else if (v->dtype == NN_BF16) {
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            uint32_t bits = (uint32_t)h << 16;
            memcpy(dst + i, &bits, 4);
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = kv_f16_to_f32(h);
        }
    }
    release_pages(v->data, n * nn_dtype_size(v->dtype));
    return 0;
}

static float *read_vector(loader *l, const char *name, size_t n)
{
    float *v = malloc(n * sizeof *v);
    if (!v) {
        fail(l, "out of memory for %s", name);
        return NULL;
    }
    if (read_tensor(l, name, 0, n, v)) {
        free(v);
        return NULL;
    }
    return v;
}

static int make_weight(loader *l, const nn_qwen2_options *o, nn_weight *w, const float *src,
                       size_t rows, size_t cols, const char *what)
{
    size_t block = o->weights == NN_WEIGHT_INT8 && o->int8_block && cols % o->int8_block == 0
                       ? o->int8_block
                       : 0;
    char err[256];
    if (nn_weight_from_f32(w, src, rows, cols, o->weights, block, err, sizeof err))
        return fail(l, "%s: %s", what, err);
    return 0;
}

/* Reads the named tensors (stacked by rows, same width) and builds one weight of them. A
 * single aligned F32 tensor is converted straight from the file, without a copy. */
static int load_stacked(loader *l, const nn_qwen2_options *o, nn_weight *w,
                        const char *const *names, const size_t *rows, size_t count,
                        size_t cols)
{
    size_t total = 0;
    for (size_t i = 0; i < count; i++)
        total += rows[i];
    if (count == 1) {
        const nn_tensor_view *v = find_tensor(l, names[0], rows[0], cols);
        if (!v)
            return -1;
        if (v->dtype == NN_F32 && (uintptr_t)v->data % sizeof(float) == 0) {
            int rc = make_weight(l, o, w, v->data, total, cols, names[0]);
            release_pages(v->data, total * cols * sizeof(float));
            return rc;
        }
    }
    float *scratch = malloc(total * cols * sizeof *scratch);
    if (!scratch)
        return fail(l, "out of memory for %s", names[0]);
    int rc = 0;
    for (size_t i = 0, at = 0; i < count && !rc; at += rows[i], i++)
        rc = read_tensor(l, names[i], rows[i], cols, scratch + at * cols);
    if (!rc)
        rc = make_weight(l, o, w, scratch, total, cols, names[0]);
    free(scratch);
    return rc;
}

static int check_config(loader *l, const nn_qwen2_config *c)
{
    if (c->hidden_size <= 0 || c->num_attention_heads <= 0 || c->num_key_value_heads <= 0 ||
        c->num_hidden_layers <= 0 || c->intermediate_size <= 0 || c->vocab_size <= 0)
        return fail(l, "sizes in config.json must be positive");
    if (c->hidden_size % c->num_attention_heads)
        return fail(l, "hidden_size %lld is not a multiple of num_attention_heads %lld",
                    (long long)c->hidden_size, (long long)c->num_attention_heads);
    if (c->num_attention_heads % c->num_key_value_heads)
        return fail(l, "num_attention_heads %lld is not a multiple of num_key_value_heads %lld",
                    (long long)c->num_attention_heads, (long long)c->num_key_value_heads);
    if ((c->hidden_size / c->num_attention_heads) % 2)
        return fail(l, "the head size must be even for the rotary embedding");
    if (!c->tie_word_embeddings)
        return fail(l, "tie_word_embeddings must be true (the output head is the embedding)");
    if (c->use_sliding_window)
        return fail(l, "use_sliding_window is not supported (the release has false)");
    if (!(c->rope_theta > 0) || !(c->rms_norm_eps > 0))
        return fail(l, "rope_theta and rms_norm_eps must be positive");
    return 0;
}

nn_qwen2 *nn_qwen2_load(const char *llm_dir, const nn_qwen2_options *options, char *err,
                        size_t err_size)
{
    char config_path[4096], weights_path[4096];
    snprintf(config_path, sizeof config_path, "%s/config.json", llm_dir);
    snprintf(weights_path, sizeof weights_path, "%s/model.safetensors", llm_dir);
    nn_qwen2 *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    nn_problems problems = {0};
    if (nn_qwen2_config_load(config_path, &m->config, &problems)) {
        snprintf(err, err_size, "%s", problems.count ? problems.items[0] : config_path);
        nn_problems_free(&problems);
        free(m);
        return NULL;
    }
    nn_problems_free(&problems);
    loader l = {NULL, config_path, err, err_size};
    if (check_config(&l, &m->config)) {
        free(m);
        return NULL;
    }
    const nn_qwen2_config *c = &m->config;
    m->hidden = (size_t)c->hidden_size;
    m->heads = (size_t)c->num_attention_heads;
    m->kv_heads = (size_t)c->num_key_value_heads;
    m->head_dim = m->hidden / m->heads;
    m->q_dim = m->heads * m->head_dim;
    m->kv_dim = m->kv_heads * m->head_dim;
    m->inter = (size_t)c->intermediate_size;
    m->vocab = (size_t)c->vocab_size;
    m->layer_count = (size_t)c->num_hidden_layers;
    m->eps = (float)c->rms_norm_eps;
    if (options->kv_cache != NN_KV_AUTO && options->kv_cache != NN_KV_F32 &&
        options->kv_cache != NN_KV_F16) {
        snprintf(err, err_size, "unknown KV cache precision %d", (int)options->kv_cache);
        nn_qwen2_free(m);
        return NULL;
    }
    m->kv_type = options->kv_cache != NN_KV_AUTO ? options->kv_cache
                 : options->weights == NN_WEIGHT_F32 ? NN_KV_F32
                                                     : NN_KV_F16;

    /* transformers: inv_freq = 1 / theta ** (arange(0, d, 2) / d), all in float32 */
    m->inv_freq = malloc(m->head_dim / 2 * sizeof *m->inv_freq);
    m->layers = calloc(m->layer_count, sizeof *m->layers);
    if (!m->inv_freq || !m->layers) {
        snprintf(err, err_size, "out of memory");
        nn_qwen2_free(m);
        return NULL;
    }
    for (size_t j = 0; j < m->head_dim / 2; j++)
        m->inv_freq[j] = 1.0f / powf((float)c->rope_theta, (float)(2 * j) / (float)m->head_dim);

    char *open_err = NULL;
    nn_tensor_file *file = nn_tensor_file_open(weights_path, &open_err);
    if (!file) {
        snprintf(err, err_size, "%s", open_err ? open_err : weights_path);
        free(open_err);
        nn_qwen2_free(m);
        return NULL;
    }
    l = (loader){file, weights_path, err, err_size};
    int rc;
    {
        const char *name = "model.embed_tokens.weight";
        size_t rows = m->vocab;
        rc = load_stacked(&l, options, &m->embed, &name, &rows, 1, m->hidden);
    }
    if (!rc)
        m->norm_final = read_vector(&l, "model.norm.weight", m->hidden);
    rc = rc || !m->norm_final;
    for (size_t i = 0; i < m->layer_count && !rc; i++) {
        qwen2_layer *L = &m->layers[i];
        char n[6][96];
        snprintf(n[0], sizeof n[0], "model.layers.%zu.self_attn.q_proj.weight", i);
        snprintf(n[1], sizeof n[1], "model.layers.%zu.self_attn.k_proj.weight", i);
        snprintf(n[2], sizeof n[2], "model.layers.%zu.self_attn.v_proj.weight", i);
        const char *qkv_names[3] = {n[0], n[1], n[2]};
        size_t qkv_rows[3] = {m->q_dim, m->kv_dim, m->kv_dim};
        if ((rc = load_stacked(&l, options, &L->qkv, qkv_names, qkv_rows, 3,
                               m->hidden)))
            break;
        L->qkv_bias = malloc((m->q_dim + 2 * m->kv_dim) * sizeof *L->qkv_bias);
        if (!L->qkv_bias) {
            rc = fail(&l, "out of memory");
            break;
        }
        static const char *const bias_parts[3] = {"q_proj", "k_proj", "v_proj"};
        for (size_t b = 0, off = 0; b < 3 && !rc; off += qkv_rows[b], b++) {
            snprintf(n[3], sizeof n[3], "model.layers.%zu.self_attn.%s.bias", i, bias_parts[b]);
            rc = read_tensor(&l, n[3], 0, qkv_rows[b], L->qkv_bias + off);
        }
        if (rc)
            break;
        snprintf(n[0], sizeof n[0], "model.layers.%zu.self_attn.o_proj.weight", i);
        const char *o_name = n[0];
        size_t o_rows = m->hidden;
        if ((rc = load_stacked(&l, options, &L->o, &o_name, &o_rows, 1, m->q_dim)))
            break;
        snprintf(n[1], sizeof n[1], "model.layers.%zu.mlp.gate_proj.weight", i);
        snprintf(n[2], sizeof n[2], "model.layers.%zu.mlp.up_proj.weight", i);
        const char *gu_names[2] = {n[1], n[2]};
        size_t gu_rows[2] = {m->inter, m->inter};
        if ((rc = load_stacked(&l, options, &L->gate_up, gu_names, gu_rows, 2,
                               m->hidden)))
            break;
        snprintf(n[3], sizeof n[3], "model.layers.%zu.mlp.down_proj.weight", i);
        const char *d_name = n[3];
        size_t d_rows = m->hidden;
        if ((rc = load_stacked(&l, options, &L->down, &d_name, &d_rows, 1, m->inter)))
            break;
        snprintf(n[4], sizeof n[4], "model.layers.%zu.input_layernorm.weight", i);
        snprintf(n[5], sizeof n[5], "model.layers.%zu.post_attention_layernorm.weight", i);
        L->norm_in = read_vector(&l, n[4], m->hidden);
        L->norm_post = L->norm_in ? read_vector(&l, n[5], m->hidden) : NULL;
        rc = !L->norm_post;
    }
    nn_tensor_file_close(file);
    if (rc) {
        nn_qwen2_free(m);
        return NULL;
    }
    return m;
}

void nn_qwen2_free(nn_qwen2 *m)
{
    if (!m)
        return;
    for (size_t i = 0; m->layers && i < m->layer_count; i++) {
        qwen2_layer *L = &m->layers[i];
        nn_weight_free(&L->qkv);
        nn_weight_free(&L->o);
        nn_weight_free(&L->gate_up);
        nn_weight_free(&L->down);
        free(L->qkv_bias);
        free(L->norm_in);
        free(L->norm_post);
    }
    free(m->layers);
    nn_weight_free(&m->embed);
    free(m->norm_final);
    free(m->inv_freq);
    free(m);
}

const nn_qwen2_config *nn_qwen2_config_of(const nn_qwen2 *m)
{
    return &m->config;
}

size_t nn_qwen2_weight_bytes(const nn_qwen2 *m)
{
    size_t bytes = nn_weight_bytes(&m->embed);
    for (size_t i = 0; i < m->layer_count; i++) {
        const qwen2_layer *L = &m->layers[i];
        bytes += nn_weight_bytes(&L->qkv) + nn_weight_bytes(&L->o) +
                 nn_weight_bytes(&L->gate_up) + nn_weight_bytes(&L->down);
    }
    return bytes;
}

nn_kv_type nn_qwen2_kv_type(const nn_qwen2 *m)
{
    return m->kv_type;
}

const char *nn_kv_type_name(nn_kv_type type)
{
    switch (type) {
    case NN_KV_AUTO: return "auto";
    case NN_KV_F32: return "f32";
    case NN_KV_F16: return "f16";
    }
    return "?";
}

bool nn_kv_type_parse(const char *name, nn_kv_type *out)
{
    static const nn_kv_type all[] = {NN_KV_AUTO, NN_KV_F32, NN_KV_F16};
    for (size_t i = 0; name && i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(name, nn_kv_type_name(all[i])) == 0) {
            *out = all[i];
            return true;
        }
    }
    return false;
}

size_t nn_qwen2_decode_bytes(const nn_qwen2 *m, size_t context, size_t head_rows)
{
    size_t layers = nn_qwen2_weight_bytes(m) - nn_weight_bytes(&m->embed);
    double per_row = (double)nn_weight_bytes(&m->embed) / (double)m->vocab;
    size_t elem = m->kv_type == NN_KV_F16 ? sizeof(uint16_t) : sizeof(float);
    size_t kv = m->layer_count * 2 * m->kv_dim * elem * context;
    return layers + (size_t)(per_row * (double)head_rows) + kv;
}
