/* Weight matrices for the matvec kernels: conversion from f32 (bf16 rounding, int8
 * quantisation), padded 64-byte-aligned rows, and reading a row back. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spark/nn/matvec.h"

#define ROW_ALIGN 64

const char *nn_weight_type_name(nn_weight_type type)
{
    switch (type) {
    case NN_WEIGHT_F32: return "f32";
    case NN_WEIGHT_BF16: return "bf16";
    case NN_WEIGHT_INT8: return "int8";
    }
    return "?";
}

bool nn_weight_type_parse(const char *name, nn_weight_type *out)
{
    static const nn_weight_type all[] = {NN_WEIGHT_F32, NN_WEIGHT_BF16, NN_WEIGHT_INT8};
    for (size_t i = 0; name && i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(name, nn_weight_type_name(all[i])) == 0) {
            *out = all[i];
            return true;
        }
    }
    return false;
}

static size_t element_size(nn_weight_type type)
{
    return type == NN_WEIGHT_F32 ? 4 : type == NN_WEIGHT_BF16 ? 2 : 1;
}

static size_t round_up(size_t n, size_t to)
{
    return (n + to - 1) / to * to;
}

size_t nn_weight_blocks_per_row(const nn_weight *w)
{
    return w->type == NN_WEIGHT_INT8 ? (w->cols + w->block - 1) / w->block : 0;
}

uint16_t nn_bf16_from_f32(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    if ((bits & 0x7fffffffu) > 0x7f800000u) /* NaN: keep it a (quiet) NaN with its sign */
        return (uint16_t)((bits >> 16) | 0x0040u);
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return (uint16_t)(bits >> 16);
}

float nn_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

float nn_int8_quantize(const float *src, size_t n, int8_t *q)
{
    float amax = 0.0f;
    for (size_t i = 0; i < n; i++)
        amax = fmaxf(amax, fabsf(src[i]));
    float scale = amax / 127.0f;
    for (size_t i = 0; i < n; i++) {
        /* |src / scale| <= 127 up to rounding; nearbyintf rounds half to even */
        float v = scale > 0.0f ? nearbyintf(src[i] / scale) : 0.0f;
        q[i] = (int8_t)(v > 127.0f ? 127 : v < -127.0f ? -127 : v);
    }
    return scale;
}

int nn_weight_alloc(nn_weight *out, size_t rows, size_t cols, nn_weight_type type, size_t block,
                    char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    if (type != NN_WEIGHT_F32 && type != NN_WEIGHT_BF16 && type != NN_WEIGHT_INT8) {
        snprintf(err, err_size, "weight type: %d is not f32, bf16 or int8", (int)type);
        return -1;
    }
    if (rows == 0 || cols == 0) {
        snprintf(err, err_size, "weight shape: %zux%zu has no elements", rows, cols);
        return -1;
    }
    if (type == NN_WEIGHT_INT8 && block % 32 != 0) {
        snprintf(err, err_size, "int8 block: %zu columns is not a multiple of 32 (0 = per row)",
                 block);
        return -1;
    }
    size_t es = element_size(type);
    size_t stride = round_up(cols, ROW_ALIGN / es);
    if (stride > (SIZE_MAX / es) / rows) {
        snprintf(err, err_size, "weight shape: %zux%zu is too large", rows, cols);
        return -1;
    }
    out->type = type;
    out->rows = rows;
    out->cols = cols;
    out->stride = stride;
    out->block = type == NN_WEIGHT_INT8 ? (block == 0 || block > cols ? cols : block) : 0;
    size_t data_bytes = round_up(rows * stride * es, ROW_ALIGN);
    size_t scale_bytes = round_up(rows * nn_weight_blocks_per_row(out) * sizeof(float), ROW_ALIGN);
    out->data = aligned_alloc(ROW_ALIGN, data_bytes);
    if (type == NN_WEIGHT_INT8)
        out->scales = aligned_alloc(ROW_ALIGN, scale_bytes);
    if (!out->data || (type == NN_WEIGHT_INT8 && !out->scales)) {
        snprintf(err, err_size, "weight %zux%zu %s: out of memory", rows, cols,
                 nn_weight_type_name(type));
        nn_weight_free(out);
        return -1;
    }
    memset(out->data, 0, data_bytes);
    if (out->scales)
        memset(out->scales, 0, scale_bytes);
    return 0;
}

int nn_weight_from_f32(nn_weight *out, const float *src, size_t rows, size_t cols,
                       nn_weight_type type, size_t block, char *err, size_t err_size)
{
    if (nn_weight_alloc(out, rows, cols, type, block, err, err_size) != 0)
        return -1;
    size_t stride = out->stride, nblk = nn_weight_blocks_per_row(out);
    for (size_t r = 0; r < rows; r++) { /* the row padding stays as allocated: zero */
        const float *s = src + r * cols;
        if (type == NN_WEIGHT_F32) {
            float *d = (float *)out->data + r * stride;
            memcpy(d, s, cols * sizeof *d);
        } else if (type == NN_WEIGHT_BF16) {
            uint16_t *d = (uint16_t *)out->data + r * stride;
            for (size_t c = 0; c < cols; c++)
                d[c] = nn_bf16_from_f32(s[c]);
        } else {
            for (size_t c = 0; c < cols; c++) {
                if (!isfinite(s[c])) {
                    snprintf(err, err_size,
                             "int8 quantisation: element [%zu][%zu] is %s (weights must be "
                             "finite)", r, c, isnan(s[c]) ? "NaN" : "infinite");
                    nn_weight_free(out);
                    return -1;
                }
            }
            int8_t *d = (int8_t *)out->data + r * stride;
            for (size_t b = 0; b < nblk; b++) {
                size_t c0 = b * out->block, n = cols - c0 < out->block ? cols - c0 : out->block;
                out->scales[r * nblk + b] = nn_int8_quantize(s + c0, n, d + c0);
            }
        }
    }
    return 0;
}

void nn_weight_free(nn_weight *w)
{
    if (!w)
        return;
    free(w->data);
    free(w->scales);
    memset(w, 0, sizeof *w);
}

size_t nn_weight_bytes(const nn_weight *w)
{
    return w->rows * w->stride * element_size(w->type) +
           w->rows * nn_weight_blocks_per_row(w) * sizeof(float);
}

void nn_weight_row_f32(const nn_weight *w, size_t r, float *out)
{
    if (w->type == NN_WEIGHT_F32) {
        memcpy(out, (const float *)w->data + r * w->stride, w->cols * sizeof *out);
    } else if (w->type == NN_WEIGHT_BF16) {
        const uint16_t *s = (const uint16_t *)w->data + r * w->stride;
        for (size_t c = 0; c < w->cols; c++)
            out[c] = nn_bf16_to_f32(s[c]);
    } else {
        const int8_t *s = (const int8_t *)w->data + r * w->stride;
        size_t nblk = nn_weight_blocks_per_row(w);
        for (size_t b = 0; b < nblk; b++) { /* block by block: a loop the compiler vectorises */
            size_t c0 = b * w->block, c1 = c0 + w->block < w->cols ? c0 + w->block : w->cols;
            float scale = w->scales[r * nblk + b];
            for (size_t c = c0; c < c1; c++)
                out[c] = (float)s[c] * scale;
        }
    }
}
