/* Layer weights out of a model file, checked against the shape the layer needs. */
#include "spark/nn/conv.h"

#include <stdlib.h>
#include <string.h>

#include "conv_error.h"
#include "spark/nn/spark_model.h"
#include "spark/nn/tensor_file.h"

float *nn_tensor_load_f32(const struct nn_tensor_file *file, const char *name, uint32_t ndim,
                          const int64_t *shape, char *err, size_t err_size)
{
    const nn_tensor_view *view = nn_tensor_file_find(file, name);
    if (!view) {
        nn_conv_error(err, err_size, "%s: tensor %s is missing", nn_tensor_file_path(file), name);
        return NULL;
    }
    bool same = view->ndim == ndim;
    for (uint32_t i = 0; same && i < ndim; i++)
        same = view->shape[i] == shape[i];
    if (!same || view->dtype != NN_F32 || !view->contiguous) {
        char want[128], have[128];
        nn_spark_format_shape(ndim, shape, want, sizeof want);
        nn_spark_format_shape(view->ndim, view->shape, have, sizeof have);
        nn_conv_error(err, err_size, "%s: tensor %s is %s %s%s, expected F32 %s",
                      nn_tensor_file_path(file), name, nn_dtype_name(view->dtype), have,
                      view->contiguous ? "" : " (not contiguous)", want);
        return NULL;
    }
    uint64_t count = nn_tensor_elements(view);
    float *out = malloc((count ? count : 1) * sizeof(float));
    if (!out) {
        nn_conv_error(err, err_size, "out of memory loading tensor %s", name);
        return NULL;
    }
    /* a copy also settles the alignment: safetensors need not align data */
    memcpy(out, view->data, count * sizeof(float));
    return out;
}
