/* A restricted unpickler for the data.pkl of a torch.save checkpoint: it understands the
 * opcodes torch.save emits and only the globals a state dict of tensors needs (the tensor
 * and parameter rebuild functions, the storage types, collections.OrderedDict). No code is
 * ever run; any other global is refused by name. */
#ifndef SPARK_NN_UNPICKLE_H
#define SPARK_NN_UNPICKLE_H

#include <spark/nn/tensor_file.h>

#include <stddef.h>
#include <stdint.h>

/* A storage named by a persistent id: the zip member <archive>/data/<key>. */
typedef struct pickled_storage {
    char *key;
    nn_dtype dtype;             /* U8 for an untyped storage */
    uint64_t numel;             /* elements of dtype */
} pickled_storage;

/* A tensor as torch._utils._rebuild_tensor_v2/v3 describe it: a strided view of a storage.
 * Sizes, strides and offset are non-negative; whether they fit the storage is the
 * caller's check. */
typedef struct pickled_tensor {
    char *name;                 /* the state dict key */
    size_t storage;             /* index into pickled_state_dict.storages */
    nn_dtype dtype;             /* the storage's, or (v3, untyped storage) its own */
    uint64_t offset;            /* in elements of dtype */
    uint32_t ndim;
    int64_t shape[NN_MAX_DIMS];
    int64_t strides[NN_MAX_DIMS];
} pickled_tensor;

typedef struct pickled_state_dict {
    pickled_tensor *tensors;    /* in dict order */
    size_t count;
    pickled_storage *storages;  /* each distinct key once, in order of first use */
    size_t storage_count;
} pickled_state_dict;

/* Unpickles a flat state dict (a dict or OrderedDict of string keys to tensors). Returns 0,
 * or -1 with *error set to a malloc'd message and *out empty. */
int unpickle_state_dict(const uint8_t *data, size_t size, pickled_state_dict *out,
                        char **error);
void pickled_state_dict_free(pickled_state_dict *state);

#endif
