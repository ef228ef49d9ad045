/* Fuzz target: a torch zip checkpoint through the whole reader (zip container, restricted
 * unpickler, storage and view checks), from memory as if it were the file's mapping. Every
 * view that comes back is read at both ends of its span and checked against its strides,
 * so a bounds check that lets a view escape its storage shows up under AddressSanitizer. */
#include "tensor_file_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The bytes a view may address, from its shape and strides: must not exceed its span. */
static uint64_t addressed_bytes(const nn_tensor_view *v)
{
    uint64_t last = 0;
    for (uint32_t d = 0; d < v->ndim; d++) {
        if (v->shape[d] == 0)
            return 0;
        last += (uint64_t)(v->shape[d] - 1) * (uint64_t)v->strides[d];
    }
    return (last + 1) * nn_dtype_size(v->dtype);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nn_tensor_file file;
    memset(&file, 0, sizeof file);
    file.map = data;
    file.map_size = size;
    char *error = NULL;
    if (nn_torch_parse(&file, &error) != 0) {
        if (!error)
            abort(); /* a refusal always says why */
        free(error);
        return 0;
    }
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < file.count; i++) {
        const nn_tensor_view *v = &file.tensors[i];
        sink ^= (uint8_t)strlen(v->name);
        if (v->span_bytes == 0)
            continue;
        if (addressed_bytes(v) > v->span_bytes)
            abort();
        const uint8_t *bytes = v->data;
        sink ^= bytes[0] ^ bytes[v->span_bytes - 1];
    }
    (void)sink;
    if (file.free_reader_data)
        file.free_reader_data(file.reader_data);
    free(file.tensors);
    return 0;
}
