/* The WaveGenerator forward pass on channel-major activations, all convolutions as GEMMs. */
#define _POSIX_C_SOURCE 200809L
#include "wavegen.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <spark/nn/spark_model.h>

static const size_t residual_dilations[WAVEGEN_RESIDUAL_UNITS] = {1, 3, 9};

typedef struct loader {
    const nn_tensor_file *file;
    char *err;
    size_t err_size;
} loader;

static float *load(const loader *l, const char *name, uint32_t ndim, int64_t d0, int64_t d1,
                   int64_t d2)
{
    int64_t shape[3] = {d0, d1, d2};
    return nn_tensor_load_f32(l->file, name, ndim, shape, l->err, l->err_size);
}

/* A weight-normed Conv1d: PREFIX.weight_g [out,1,1], PREFIX.weight_v [out,in,k], PREFIX.bias. */
static int load_wn_conv(const loader *l, nn_conv1d *conv, const char *prefix, size_t in,
                        size_t out, size_t kernel, size_t dilation)
{
    char name[160];
    snprintf(name, sizeof name, "%s.weight_g", prefix);
    float *g = load(l, name, 3, (int64_t)out, 1, 1);
    snprintf(name, sizeof name, "%s.weight_v", prefix);
    float *v = g ? load(l, name, 3, (int64_t)out, (int64_t)in, (int64_t)kernel) : NULL;
    snprintf(name, sizeof name, "%s.bias", prefix);
    float *b = v ? load(l, name, 1, (int64_t)out, 0, 0) : NULL;
    nn_conv1d_shape shape = {.in_channels = in, .out_channels = out, .kernel = kernel,
                             .dilation = dilation, .padding = (kernel - 1) / 2 * dilation};
    int rc = b ? nn_conv1d_init_weight_norm(conv, &shape, g, v, b, l->err, l->err_size) : -1;
    free(g);
    free(v);
    free(b);
    return rc;
}

static float *load_alpha(const loader *l, const char *name, size_t channels)
{
    return load(l, name, 3, 1, (int64_t)channels, 1);
}

static int load_block(const loader *l, wavegen_block *blk, size_t index, size_t in, size_t out,
                      size_t kernel, size_t stride)
{
    /* sized for any index: no name can be cut short */
    char prefix[48], name[96];
    blk->in_channels = in;
    blk->out_channels = out;
    blk->stride = stride;
    snprintf(prefix, sizeof prefix, "decoder.model.%zu.block", index);
    snprintf(name, sizeof name, "%s.0.alpha", prefix);
    if (!(blk->alpha = load_alpha(l, name, in)))
        return -1;
    snprintf(name, sizeof name, "%s.1.weight_g", prefix);
    float *g = load(l, name, 3, (int64_t)in, 1, 1);
    snprintf(name, sizeof name, "%s.1.weight_v", prefix);
    float *v = g ? load(l, name, 3, (int64_t)in, (int64_t)out, (int64_t)kernel) : NULL;
    snprintf(name, sizeof name, "%s.1.bias", prefix);
    float *b = v ? load(l, name, 1, (int64_t)out, 0, 0) : NULL;
    int rc = b ? nn_conv_transpose1d_init_weight_norm(&blk->up, in, out, kernel, stride,
                                                      (kernel - stride) / 2, 0, g, v, b, l->err,
                                                      l->err_size)
               : -1;
    free(g);
    free(v);
    free(b);
    if (rc)
        return -1;
    for (size_t r = 0; r < WAVEGEN_RESIDUAL_UNITS; r++) {
        wavegen_residual *ru = &blk->units[r];
        char unit[80];
        ru->dilation = residual_dilations[r];
        snprintf(unit, sizeof unit, "%s.%zu.block", prefix, r + 2);
        snprintf(name, sizeof name, "%s.0.alpha", unit);
        if (!(ru->alpha1 = load_alpha(l, name, out)))
            return -1;
        snprintf(name, sizeof name, "%s.1", unit);
        if (load_wn_conv(l, &ru->conv7, name, out, out, NN_SPARK_WAVEGEN_KERNEL, ru->dilation))
            return -1;
        snprintf(name, sizeof name, "%s.2.alpha", unit);
        if (!(ru->alpha2 = load_alpha(l, name, out)))
            return -1;
        snprintf(name, sizeof name, "%s.3", unit);
        if (load_wn_conv(l, &ru->conv1, name, out, out, 1, 1))
            return -1;
    }
    return 0;
}

static int load_config(const char *model_dir, nn_bicodec_config *config, char *weights_path,
                       size_t path_size, char *err, size_t err_size)
{
    char config_path[4096];
    struct stat st;
    snprintf(config_path, sizeof config_path, "%s/BiCodec/config.yaml", model_dir);
    snprintf(weights_path, path_size, "%s/BiCodec/model.safetensors", model_dir);
    if (stat(config_path, &st) != 0) {
        snprintf(config_path, sizeof config_path, "%s/config.yaml", model_dir);
        snprintf(weights_path, path_size, "%s/model.safetensors", model_dir);
        if (stat(config_path, &st) != 0 || stat(weights_path, &st) != 0) {
            snprintf(err, err_size, "%s: no BiCodec/config.yaml (is this a Spark-TTS model "
                     "directory?)", model_dir);
            return -1;
        }
    }
    nn_problems problems = {0};
    int rc = nn_bicodec_config_load(config_path, config, &problems);
    if (rc)
        snprintf(err, err_size, "%s", problems.count ? problems.items[0] : config_path);
    nn_problems_free(&problems);
    return rc;
}

int wavegen_load(wavegen *wg, const char *model_dir, char *err, size_t err_size)
{
    memset(wg, 0, sizeof *wg);
    nn_bicodec_config config;
    char weights_path[4096];
    if (load_config(model_dir, &config, weights_path, sizeof weights_path, err, err_size))
        return -1;
    size_t blocks = config.decoder.rate_count;
    if (blocks == 0 || blocks > WAVEGEN_MAX_BLOCKS || config.decoder.kernel_size_count != blocks) {
        snprintf(err, err_size, "BiCodec/config.yaml: decoder needs 1..%d rates and as many "
                 "kernel_sizes (has %zu and %zu)", WAVEGEN_MAX_BLOCKS, blocks,
                 config.decoder.kernel_size_count);
        return -1;
    }
    wg->in_channels = (size_t)config.decoder.input_channel;
    wg->channels = (size_t)config.decoder.channels;
    if ((wg->channels >> blocks) == 0 || (wg->channels >> blocks) << blocks != wg->channels) {
        snprintf(err, err_size, "BiCodec/config.yaml: decoder.channels %zu cannot be halved %zu "
                 "times", wg->channels, blocks);
        return -1;
    }
    char *error = NULL;
    nn_tensor_file *file = nn_tensor_file_open(weights_path, &error);
    if (!file) {
        snprintf(err, err_size, "%s", error ? error : weights_path);
        free(error);
        return -1;
    }
    loader l = {file, err, err_size};
    wg->hop = 1;
    wg->block_count = blocks;
    int rc = load_wn_conv(&l, &wg->stem, "decoder.model.0", wg->in_channels, wg->channels,
                          NN_SPARK_WAVEGEN_KERNEL, 1);
    size_t ch = wg->channels;
    for (size_t i = 0; rc == 0 && i < blocks; i++) {
        size_t stride = (size_t)config.decoder.rates[i];
        size_t kernel = (size_t)config.decoder.kernel_sizes[i];
        if (stride == 0 || kernel < stride || (kernel - stride) % 2) {
            snprintf(err, err_size, "BiCodec/config.yaml: decoder rate %zu with kernel %zu does "
                     "not upsample exactly", stride, kernel);
            rc = -1;
            break;
        }
        rc = load_block(&l, &wg->blocks[i], i + 1, ch, ch / 2, kernel, stride);
        wg->hop *= stride;
        ch /= 2;
    }
    char name[64];
    snprintf(name, sizeof name, "decoder.model.%zu.alpha", blocks + 1);
    if (rc == 0 && !(wg->final_alpha = load_alpha(&l, name, ch)))
        rc = -1;
    snprintf(name, sizeof name, "decoder.model.%zu", blocks + 2);
    if (rc == 0)
        rc = load_wn_conv(&l, &wg->out_conv, name, ch, 1, NN_SPARK_WAVEGEN_KERNEL, 1);
    nn_tensor_file_close(file);
    if (rc)
        wavegen_free(wg);
    return rc;
}

void wavegen_free(wavegen *wg)
{
    nn_conv1d_free(&wg->stem);
    for (size_t i = 0; i < WAVEGEN_MAX_BLOCKS; i++) {
        wavegen_block *blk = &wg->blocks[i];
        free(blk->alpha);
        nn_conv_transpose1d_free(&blk->up);
        for (size_t r = 0; r < WAVEGEN_RESIDUAL_UNITS; r++) {
            free(blk->units[r].alpha1);
            free(blk->units[r].alpha2);
            nn_conv1d_free(&blk->units[r].conv7);
            nn_conv1d_free(&blk->units[r].conv1);
        }
    }
    free(wg->final_alpha);
    nn_conv1d_free(&wg->out_conv);
    memset(wg, 0, sizeof *wg);
}

int wavegen_use_bf16(wavegen *wg, char *err, size_t err_size)
{
    if (!nn_conv_bf16_supported()) {
        snprintf(err, err_size, "bf16 weights need a CPU with AVX512-BF16");
        return -1;
    }
    if (nn_conv1d_use_bf16(&wg->stem, err, err_size) ||
        nn_conv1d_use_bf16(&wg->out_conv, err, err_size))
        return -1;
    for (size_t i = 0; i < wg->block_count; i++)
        for (size_t r = 0; r < WAVEGEN_RESIDUAL_UNITS; r++)
            if (nn_conv1d_use_bf16(&wg->blocks[i].units[r].conv7, err, err_size) ||
                nn_conv1d_use_bf16(&wg->blocks[i].units[r].conv1, err, err_size))
                return -1;
    return 0;
}

void wavegen_workspace_free(wavegen_workspace *ws)
{
    free(ws->data);
    ws->data = NULL;
    ws->cap = 0;
}

static size_t max_size(size_t a, size_t b)
{
    return a > b ? a : b;
}

/* The largest activation (channels x length) and conv scratch of a forward over `frames`. */
static void plan(const wavegen *wg, size_t frames, size_t *activation, size_t *scratch)
{
    size_t act = wg->channels * frames;
    size_t scr = nn_conv1d_scratch_floats(&wg->stem, frames);
    size_t t = frames;
    for (size_t i = 0; i < wg->block_count; i++) {
        const wavegen_block *blk = &wg->blocks[i];
        scr = max_size(scr, nn_conv_transpose1d_scratch_floats(&blk->up, t));
        t = nn_conv_transpose1d_out_len(&blk->up, t);
        act = max_size(act, blk->out_channels * t);
        for (size_t r = 0; r < WAVEGEN_RESIDUAL_UNITS; r++)
            scr = max_size(scr, nn_conv1d_scratch_floats(&blk->units[r].conv7, t));
    }
    scr = max_size(scr, nn_conv1d_scratch_floats(&wg->out_conv, t));
    *activation = act;
    *scratch = scr;
}

int wavegen_forward(nn_pool *pool, const wavegen *wg, const float *latent, size_t ldl,
                    size_t frames, wavegen_workspace *ws, float *samples, float *pre_tanh,
                    char *err, size_t err_size)
{
    if (frames == 0)
        return 0;
    size_t act, scr;
    plan(wg, frames, &act, &scr);
    size_t need = 4 * act + scr;
    if (need > ws->cap) {
        float *grown = realloc(ws->data, need * sizeof(float));
        if (!grown) {
            snprintf(err, err_size, "out of memory decoding %zu latent frames", frames);
            return -1;
        }
        ws->data = grown;
        ws->cap = need;
    }
    float *a = ws->data, *b = a + act, *c = b + act, *d = c + act, *scratch = d + act;

    nn_conv1d_forward(pool, &wg->stem, latent, ldl, frames, a, frames, scratch);
    size_t t = frames, ch = wg->channels;
    for (size_t i = 0; i < wg->block_count; i++) {
        const wavegen_block *blk = &wg->blocks[i];
        nn_snake_f32(pool, a, t, ch, t, blk->alpha, a, t);
        size_t t_up = nn_conv_transpose1d_out_len(&blk->up, t);
        nn_conv_transpose1d_forward(pool, &blk->up, a, t, t, b, t_up, scratch);
        t = t_up;
        ch = blk->out_channels;
        for (size_t r = 0; r < WAVEGEN_RESIDUAL_UNITS; r++) {
            const wavegen_residual *ru = &blk->units[r];
            nn_snake_f32(pool, b, t, ch, t, ru->alpha1, c, t);
            nn_conv1d_forward(pool, &ru->conv7, c, t, t, d, t, scratch);
            nn_snake_f32(pool, d, t, ch, t, ru->alpha2, d, t);
            nn_conv1d_forward_add(pool, &ru->conv1, d, t, t, b, t, scratch);
        }
        float *swap = a;
        a = b;
        b = swap;
    }
    nn_snake_f32(pool, a, t, ch, t, wg->final_alpha, a, t);
    float *out = pre_tanh ? pre_tanh : samples;
    nn_conv1d_forward(pool, &wg->out_conv, a, t, t, out, t, scratch);
    for (size_t k = 0; k < t; k++)
        samples[k] = tanhf(out[k]);
    return 0;
}

int wavegen_forward_range(nn_pool *pool, const wavegen *wg, const float *latent, size_t ldl,
                          size_t frames, size_t begin, size_t end, size_t context,
                          wavegen_workspace *ws, float *samples, float *pre_tanh, char *err,
                          size_t err_size)
{
    if (begin >= end || end > frames) {
        snprintf(err, err_size, "frame range [%zu, %zu) is not inside the %zu-frame latent",
                 begin, end, frames);
        return -1;
    }
    size_t w0 = begin > context ? begin - context : 0;
    size_t w1 = end + context < frames ? end + context : frames;
    size_t window = w1 - w0;
    /* the window's samples go after the forward's own workspace: plan it first */
    size_t act, scr;
    plan(wg, window, &act, &scr);
    size_t own = 4 * act + scr, out = window * wg->hop;
    size_t need = own + (pre_tanh ? 2 : 1) * out;
    if (need > ws->cap) {
        float *grown = realloc(ws->data, need * sizeof(float));
        if (!grown) {
            snprintf(err, err_size, "out of memory decoding %zu latent frames", window);
            return -1;
        }
        ws->data = grown;
        ws->cap = need;
    }
    /* after the forward's own region, which it does not grow (own is what it needs) */
    float *window_samples = ws->data + own;
    float *window_pre = pre_tanh ? window_samples + out : NULL;
    if (wavegen_forward(pool, wg, latent + w0, ldl, window, ws, window_samples, window_pre, err,
                        err_size))
        return -1;
    size_t skip = (begin - w0) * wg->hop, count = (end - begin) * wg->hop;
    memcpy(samples, window_samples + skip, count * sizeof(float));
    if (pre_tanh)
        memcpy(pre_tanh, window_pre + skip, count * sizeof(float));
    return 0;
}

int wavegen_receptive_field(nn_pool *pool, const wavegen *wg, size_t probe, size_t *before,
                            size_t *after, char *err, size_t err_size)
{
    size_t frames = 2 * probe + 1, n = frames * wg->hop;
    float *latent = malloc(wg->in_channels * frames * sizeof(float));
    float *base = malloc(n * sizeof(float)), *moved = malloc(n * sizeof(float));
    float *pre_base = malloc(n * sizeof(float)), *pre_moved = malloc(n * sizeof(float));
    wavegen_workspace ws = {0};
    int rc = -1;
    if (!latent || !base || !moved || !pre_base || !pre_moved) {
        snprintf(err, err_size, "out of memory measuring the receptive field");
        goto done;
    }
    uint64_t state = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < wg->in_channels * frames; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        latent[i] = (float)((double)(state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
    if (wavegen_forward(pool, wg, latent, frames, frames, &ws, base, pre_base, err, err_size))
        goto done;
    for (size_t c = 0; c < wg->in_channels; c++)
        latent[c * frames + probe] += 0.5f;
    if (wavegen_forward(pool, wg, latent, frames, frames, &ws, moved, pre_moved, err, err_size))
        goto done;
    /* before the tanh: a saturated tanh could hide a change */
    size_t first = n, last = 0;
    for (size_t k = 0; k < n; k++)
        if (pre_base[k] != pre_moved[k]) {
            if (first == n)
                first = k;
            last = k;
        }
    if (first == n) {
        snprintf(err, err_size, "changing a latent frame changed no sample");
        goto done;
    }
    *before = probe - first / wg->hop;
    *after = last / wg->hop - probe;
    rc = 0;
done:
    free(latent);
    free(base);
    free(moved);
    free(pre_base);
    free(pre_moved);
    wavegen_workspace_free(&ws);
    return rc;
}
