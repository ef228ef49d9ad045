/* What the safetensors and torch readers share: the open file object they fill. */
#ifndef SPARK_NN_TENSOR_FILE_INTERNAL_H
#define SPARK_NN_TENSOR_FILE_INTERNAL_H

#include <spark/nn/tensor_file.h>

struct nn_tensor_file {
    char *path;
    const uint8_t *map;          /* the whole file, mapped read-only */
    size_t map_size;
    nn_tensor_view *tensors;
    size_t count;
    char **metadata;             /* key, value, key, value, ... */
    size_t metadata_count;       /* pairs */
    void *reader_data;           /* the reader's own allocations */
    void (*free_reader_data)(void *reader_data);
};

/* Each reader takes an already mapped file and fills file->tensors (names owned by the
 * reader's data) or returns -1 with *error set (a message without the path; the caller
 * prefixes it). */
int nn_safetensors_parse(nn_tensor_file *file, char **error);
int nn_torch_parse(nn_tensor_file *file, char **error);

#endif
