/* f32 views of the encoder's tensors, and the small helpers its parts share. */
#include "encoder/encoder_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_error.h"

char *enc_strdupf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = nn_vformat_error(fmt, ap);
    va_end(ap);
    return text;
}

void enc_weights_fail(enc_weights *w, const char *fmt, ...)
{
    if (w->error)
        return;
    va_list ap;
    va_start(ap, fmt);
    w->error = nn_vformat_error(fmt, ap);
    va_end(ap);
}

static bool keep_owned(enc_weights *w, void *block)
{
    if (w->owned_count == w->owned_cap) {
        size_t cap = w->owned_cap ? 2 * w->owned_cap : 64;
        void **grown = realloc(w->owned, cap * sizeof *grown);
        if (!grown)
            return false;
        w->owned = grown;
        w->owned_cap = cap;
    }
    w->owned[w->owned_count++] = block;
    return true;
}

const float *enc_tensor(enc_weights *w, const char *name, uint64_t elements)
{
    const nn_tensor_view *view = nn_tensor_file_find(w->file, name);
    if (!view) {
        enc_weights_fail(w, "%s: tensor %s is missing", w->label, name);
        return NULL;
    }
    if (nn_tensor_elements(view) != elements) {
        enc_weights_fail(w, "%s: tensor %s has %llu elements, expected %llu", w->label, name,
                         (unsigned long long)nn_tensor_elements(view),
                         (unsigned long long)elements);
        return NULL;
    }
    if (!view->contiguous || (view->dtype != NN_F32 && view->dtype != NN_BF16)) {
        enc_weights_fail(w, "%s: tensor %s must be dense F32 or BF16, not %s", w->label, name,
                         nn_dtype_name(view->dtype));
        return NULL;
    }
    if (view->dtype == NN_F32 && (uintptr_t)view->data % sizeof(float) == 0)
        return view->data;
    float *copy = malloc((elements ? elements : 1) * sizeof *copy);
    if (!copy || !keep_owned(w, copy)) {
        free(copy);
        enc_weights_fail(w, "%s: out of memory for tensor %s", w->label, name);
        return NULL;
    }
    if (view->dtype == NN_F32) {
        memcpy(copy, view->data, elements * sizeof *copy);
    } else {
        const unsigned char *src = view->data;
        for (uint64_t i = 0; i < elements; i++) {
            uint32_t bits = (uint32_t)(src[2 * i] | (src[2 * i + 1] << 8)) << 16;
            memcpy(&copy[i], &bits, sizeof bits);
        }
    }
    return copy;
}

const float *enc_tensorf(enc_weights *w, uint64_t elements, const char *fmt, ...)
{
    char name[NN_SPARK_NAME_MAX + 32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return enc_tensor(w, name, elements);
}

void enc_weights_release(enc_weights *w)
{
    for (size_t i = 0; i < w->owned_count; i++)
        free(w->owned[i]);
    free(w->owned);
    w->owned = NULL;
    w->owned_count = w->owned_cap = 0;
    if (w->file)
        nn_tensor_file_close(w->file);
    w->file = NULL;
    free(w->error);
    w->error = NULL;
}

void enc_conv_init(enc_weights *w, nn_conv1d *conv, const nn_conv1d_shape *shape,
                   const float *weight, const float *bias)
{
    memset(conv, 0, sizeof *conv);
    if (w->error || !weight)
        return;
    char err[256];
    if (nn_conv1d_init(conv, shape, weight, bias, err, sizeof err) != 0)
        enc_weights_fail(w, "%s: %s", w->label, err);
}

void enc_softmax_rows(float *x, size_t rows, size_t cols, size_t ld)
{
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * ld;
        float top = row[0];
        for (size_t c = 1; c < cols; c++)
            top = row[c] > top ? row[c] : top;
        float sum = 0.0f;
        for (size_t c = 0; c < cols; c++) {
            row[c] = expf(row[c] - top);
            sum += row[c];
        }
        float inv = 1.0f / sum;
        for (size_t c = 0; c < cols; c++)
            row[c] *= inv;
    }
}
