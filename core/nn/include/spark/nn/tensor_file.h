/*
 * spark/nn/tensor_file.h - named tensors read from model files as released: safetensors
 * (memory-mapped, zero-copy) and PyTorch zip checkpoints (torch.save; a restricted
 * unpickler, storages mapped from the zip where they are stored uncompressed). And the
 * writers `sparkhost model synth` uses to make files in the same formats.
 *
 * Part of core/nn, the kernel library the model plugins link; not part of the plugin ABI.
 */
#ifndef SPARK_NN_TENSOR_FILE_H
#define SPARK_NN_TENSOR_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nn_dtype {
    NN_F64, NN_F32, NN_F16, NN_BF16,
    NN_I64, NN_I32, NN_I16, NN_I8,
    NN_U64, NN_U32, NN_U16, NN_U8,
    NN_BOOL, NN_F8_E4M3, NN_F8_E5M2,
    NN_DTYPE_COUNT
} nn_dtype;

/* Bytes per element. */
size_t nn_dtype_size(nn_dtype dtype);
/* The safetensors spelling: "F32", "BF16", "I64", "BOOL", "F8_E4M3"... */
const char *nn_dtype_name(nn_dtype dtype);
/* Parses a safetensors dtype name; false when unknown. */
bool nn_dtype_from_name(const char *name, nn_dtype *out);

#define NN_MAX_DIMS 8

/* One tensor of an open file. Valid until the file is closed. */
typedef struct nn_tensor_view {
    const char *name;
    nn_dtype dtype;
    uint32_t ndim;
    int64_t shape[NN_MAX_DIMS];
    int64_t strides[NN_MAX_DIMS]; /* in elements; row-major contiguous unless stated */
    const void *data;             /* the first element: in the file's mapping, or (deflated or
                                     misaligned torch storage) in a buffer the file frees.
                                     safetensors files need not align data: check
                                     (uintptr_t)data % nn_dtype_size(dtype) before typed
                                     access in place */
    uint64_t span_bytes;          /* bytes from data that cover every element */
    bool contiguous;              /* row-major and dense */
} nn_tensor_view;

/* Elements in a view (the product of its shape; 1 for a scalar). */
uint64_t nn_tensor_elements(const nn_tensor_view *view);

typedef struct nn_tensor_file nn_tensor_file;

/* Opens a safetensors file or a torch zip checkpoint (told apart by content). Every offset,
 * size, dtype and shape is checked against the file before any tensor is exposed. On failure
 * returns NULL and sets *error to a malloc'd message naming the file and what is wrong. */
nn_tensor_file *nn_tensor_file_open(const char *path, char **error);
void nn_tensor_file_close(nn_tensor_file *file);

const char *nn_tensor_file_path(const nn_tensor_file *file);
size_t nn_tensor_file_count(const nn_tensor_file *file);
/* In file order (safetensors: header order; torch: state dict order). */
const nn_tensor_view *nn_tensor_file_at(const nn_tensor_file *file, size_t index);
/* By exact name; NULL when absent. */
const nn_tensor_view *nn_tensor_file_find(const nn_tensor_file *file, const char *name);
/* safetensors "__metadata__" entries; NULL when absent. */
const char *nn_tensor_file_metadata(const nn_tensor_file *file, const char *key);

/* ---- writing -------------------------------------------------------------------------- */

/* A tensor to write. Its bytes come from data, or when data is NULL from fill, which must
 * write exactly nbytes (row-major, little-endian) into dst; index is the tensor's position
 * in the caller's array. fill is not called for empty tensors, and is called in the order
 * the writer lays data out (safetensors: by decreasing element size), one tensor at a time. */
typedef struct nn_tensor_source {
    const char *name;
    nn_dtype dtype;
    uint32_t ndim;
    int64_t shape[NN_MAX_DIMS];
    const void *data;
    int (*fill)(void *user, size_t index, void *dst, uint64_t nbytes);
    void *user;
} nn_tensor_source;

/* Writes a safetensors file atomically (temporary file, then rename). metadata is a
 * NULL-terminated list of key, value pairs, or NULL. Returns 0, or -1 with *error set. */
int nn_safetensors_write(const char *path, const nn_tensor_source *tensors, size_t count,
                         const char *const *metadata, char **error);

/* Writes a torch.save-compatible zip checkpoint of a state dict (an OrderedDict of the
 * tensors, in order) atomically. Returns 0, or -1 with *error set. */
int nn_torch_write(const char *path, const nn_tensor_source *tensors, size_t count,
                   char **error);

#ifdef __cplusplus
}
#endif

#endif
