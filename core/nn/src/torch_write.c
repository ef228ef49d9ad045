/* Writing a torch.save-compatible checkpoint of a state dict: the records torch.save writes,
 * in its order, with data.pkl a protocol 2 pickle of an OrderedDict whose values are
 * torch._utils._rebuild_tensor_v2 calls on persistent storage references, one storage per
 * tensor (as torch does, dtypes without a legacy storage class use _rebuild_tensor_v3 on an
 * untyped storage). Tensor bytes go to the file one tensor at a time. */
#include "torch_write.h"
#include "nn_error.h"
#include "nn_le.h"
#include "zip_write.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* pickle batches SETITEMS like this; torch.load does not care, but it keeps the stack of
 * any reader small. */
#define SETITEMS_BATCH 1000

/* The legacy typed storage class of a dtype, where torch has one (torch.<name>). */
static const char *const storage_type_names[NN_DTYPE_COUNT] = {
    [NN_F64] = "DoubleStorage", [NN_F32] = "FloatStorage", [NN_F16] = "HalfStorage",
    [NN_BF16] = "BFloat16Storage", [NN_I64] = "LongStorage", [NN_I32] = "IntStorage",
    [NN_I16] = "ShortStorage", [NN_I8] = "CharStorage", [NN_U8] = "ByteStorage",
    [NN_BOOL] = "BoolStorage",
};

/* torch.<name> of each dtype, for _rebuild_tensor_v3. */
static const char *const torch_dtype_names[NN_DTYPE_COUNT] = {
    [NN_F64] = "float64", [NN_F32] = "float32", [NN_F16] = "float16",
    [NN_BF16] = "bfloat16", [NN_I64] = "int64", [NN_I32] = "int32", [NN_I16] = "int16",
    [NN_I8] = "int8", [NN_U64] = "uint64", [NN_U32] = "uint32", [NN_U16] = "uint16",
    [NN_U8] = "uint8", [NN_BOOL] = "bool", [NN_F8_E4M3] = "float8_e4m3fn",
    [NN_F8_E5M2] = "float8_e5m2",
};

typedef struct byte_buffer {
    uint8_t *bytes;
    size_t len, capacity;
    bool failed;
} byte_buffer;

static void emit(byte_buffer *b, const void *data, size_t n)
{
    if (b->failed)
        return;
    if (n > b->capacity - b->len) {
        size_t next = b->capacity ? b->capacity : 4096;
        while (next - b->len < n)
            next *= 2;
        uint8_t *grown = realloc(b->bytes, next);
        if (!grown) {
            b->failed = true;
            return;
        }
        b->bytes = grown;
        b->capacity = next;
    }
    memcpy(b->bytes + b->len, data, n);
    b->len += n;
}

static void emit_byte(byte_buffer *b, uint8_t op)
{
    emit(b, &op, 1);
}

static void emit_le(byte_buffer *b, uint64_t v, size_t n)
{
    uint8_t bytes[8];
    nn_write_le(bytes, v, n);
    emit(b, bytes, n);
}

static void emit_string(byte_buffer *b, const char *s)
{
    size_t len = strlen(s);
    emit_byte(b, 'X');                              /* BINUNICODE */
    emit_le(b, len, 4);
    emit(b, s, len);
}

static void emit_int(byte_buffer *b, int64_t v)
{
    if (v >= 0 && v <= 0xff) {
        emit_byte(b, 'K');                          /* BININT1 */
        emit_le(b, (uint64_t)v, 1);
    } else if (v >= 0 && v <= 0xffff) {
        emit_byte(b, 'M');                          /* BININT2 */
        emit_le(b, (uint64_t)v, 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        emit_byte(b, 'J');                          /* BININT */
        emit_le(b, (uint64_t)v, 4);
    } else {
        /* LONG1: the shortest little-endian two's complement that keeps the sign. */
        size_t n = 8;
        while (n > 1 && (uint8_t)((uint64_t)v >> (8 * (n - 1))) == (v < 0 ? 0xff : 0) &&
               (((uint64_t)v >> (8 * (n - 1) - 1)) & 1) == (v < 0))
            n--;
        emit_byte(b, 0x8a);
        emit_byte(b, (uint8_t)n);
        emit_le(b, (uint64_t)v, n);
    }
}

static void emit_global(byte_buffer *b, const char *module, const char *name)
{
    emit_byte(b, 'c');                              /* GLOBAL */
    emit(b, module, strlen(module));
    emit_byte(b, '\n');
    emit(b, name, strlen(name));
    emit_byte(b, '\n');
}

static void emit_int_tuple(byte_buffer *b, const int64_t *values, uint32_t n)
{
    if (n == 0) {
        emit_byte(b, ')');                          /* EMPTY_TUPLE */
        return;
    }
    if (n > 3)
        emit_byte(b, '(');                          /* MARK */
    for (uint32_t i = 0; i < n; i++)
        emit_int(b, values[i]);
    emit_byte(b, n > 3 ? 't' : (uint8_t)(0x84 + n)); /* TUPLE or TUPLE1..3 */
}

static void emit_empty_ordered_dict(byte_buffer *b)
{
    emit_global(b, "collections", "OrderedDict");
    emit_byte(b, ')');
    emit_byte(b, 'R');                              /* REDUCE */
}

/* value = _rebuild_tensor_v2(storage, 0, shape, contiguous strides, False, OrderedDict()),
 * or _rebuild_tensor_v3(untyped storage, ..., torch.<dtype>) */
static void emit_tensor(byte_buffer *b, const nn_tensor_source *t, size_t index,
                        uint64_t elements)
{
    bool typed = storage_type_names[t->dtype] != NULL;
    char key[32];
    snprintf(key, sizeof key, "%zu", index);
    int64_t strides[NN_MAX_DIMS];
    int64_t step = 1;
    for (uint32_t d = t->ndim; d-- > 0;) {
        strides[d] = step;
        step *= t->shape[d] ? t->shape[d] : 1;
    }
    emit_string(b, t->name);
    emit_global(b, "torch._utils", typed ? "_rebuild_tensor_v2" : "_rebuild_tensor_v3");
    emit_byte(b, '(');
    emit_byte(b, '(');
    emit_string(b, "storage");
    if (typed)
        emit_global(b, "torch", storage_type_names[t->dtype]);
    else
        emit_global(b, "torch.storage", "UntypedStorage");
    emit_string(b, key);
    emit_string(b, "cpu");
    /* A typed storage counts elements, an untyped one bytes. */
    emit_int(b, (int64_t)(typed ? elements : elements * nn_dtype_size(t->dtype)));
    emit_byte(b, 't');
    emit_byte(b, 'Q');                              /* BINPERSID */
    emit_int(b, 0);
    emit_int_tuple(b, t->shape, t->ndim);
    emit_int_tuple(b, strides, t->ndim);
    emit_byte(b, 0x89);                             /* NEWFALSE: requires_grad */
    emit_empty_ordered_dict(b);                     /* backward hooks */
    if (!typed)
        emit_global(b, "torch", torch_dtype_names[t->dtype]);
    emit_byte(b, 't');
    emit_byte(b, 'R');
}

static int build_pickle(const nn_tensor_source *tensors, size_t count,
                        const uint64_t *elements, byte_buffer *b)
{
    emit_byte(b, 0x80);                             /* PROTO 2 */
    emit_byte(b, 2);
    emit_empty_ordered_dict(b);
    for (size_t i = 0; i < count; i++) {
        if (i % SETITEMS_BATCH == 0)
            emit_byte(b, '(');
        emit_tensor(b, &tensors[i], i, elements[i]);
        if (i % SETITEMS_BATCH == SETITEMS_BATCH - 1 || i == count - 1)
            emit_byte(b, 'u');                      /* SETITEMS */
    }
    emit_byte(b, '.');                              /* STOP */
    return b->failed ? -1 : 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp((*(const nn_tensor_source *const *)a)->name,
                  (*(const nn_tensor_source *const *)b)->name);
}

/* Checks every source before anything is written and computes its element count. */
static int check_sources(const char *path, const nn_tensor_source *tensors, size_t count,
                         uint64_t *elements, char **error)
{
    for (size_t i = 0; i < count; i++) {
        const nn_tensor_source *t = &tensors[i];
        if (!t->name) {
            *error = nn_format("cannot write %s: tensor %zu has no name", path, i);
            return -1;
        }
        if ((unsigned)t->dtype >= NN_DTYPE_COUNT || !torch_dtype_names[t->dtype]) {
            *error = nn_format("cannot write %s: tensor %s has an unknown dtype (%d)",
                               path, t->name, (int)t->dtype);
            return -1;
        }
        if (t->ndim > NN_MAX_DIMS) {
            *error = nn_format("cannot write %s: tensor %s has %u dimensions (at "
                               "most %d)", path, t->name, t->ndim, NN_MAX_DIMS);
            return -1;
        }
        /* n is the element count; span, the product of the sizes with zeros read as ones,
         * is the largest contiguous stride, which must fit the pickle's integers too. */
        uint64_t n = 1, span = 1;
        bool overflow = false;
        for (uint32_t d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0) {
                *error = nn_format("cannot write %s: tensor %s has a negative "
                                   "dimension", path, t->name);
                return -1;
            }
            uint64_t size = (uint64_t)t->shape[d];
            uint64_t nonzero = size ? size : 1;
            if (span > (uint64_t)INT64_MAX / nonzero)
                overflow = true;
            span *= nonzero;
            n *= size;
        }
        if (overflow || n > SIZE_MAX / nn_dtype_size(t->dtype)) {
            *error = nn_format("cannot write %s: tensor %s is too large", path,
                               t->name);
            return -1;
        }
        if (!t->data && !t->fill && n > 0) {
            *error = nn_format("cannot write %s: tensor %s has neither data nor a "
                               "fill function", path, t->name);
            return -1;
        }
        elements[i] = n;
    }
    const nn_tensor_source **sorted = malloc((count ? count : 1) * sizeof *sorted);
    if (!sorted) {
        *error = nn_format("cannot write %s: out of memory", path);
        return -1;
    }
    for (size_t i = 0; i < count; i++)
        sorted[i] = &tensors[i];
    qsort(sorted, count, sizeof *sorted, compare_names);
    for (size_t i = 1; i < count; i++)
        if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0) {
            *error = nn_format("cannot write %s: two tensors are named %s", path,
                               sorted[i]->name);
            free(sorted);
            return -1;
        }
    free(sorted);
    return 0;
}

/* torch names the archive's top folder after the file: its base name without extension. */
static char *archive_name(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t len = dot ? (size_t)(dot - base) : strlen(base);
    if (len == 0 || len > 1024)
        return strdup("archive");
    return strndup(base, len);
}

static int add_record(zip_writer *w, const char *path, const char *archive, const char *name,
                      const void *data, uint64_t size, uint64_t *id_hash, char **error)
{
    char *full = NULL;
    if (asprintf(&full, "%s/%s", archive, name) < 0) {
        *error = nn_format("cannot write %s: out of memory", path);
        return -1;
    }
    uint32_t crc;
    int rc = zip_writer_add(w, full, data, size, &crc, error);
    free(full);
    /* FNV-1a over the names and CRCs: torch's serialization id only identifies a file. */
    for (const char *p = name; *p; p++)
        *id_hash = (*id_hash ^ (uint8_t)*p) * UINT64_C(0x100000001b3);
    for (int i = 0; i < 4; i++)
        *id_hash = (*id_hash ^ ((crc >> (8 * i)) & 0xff)) * UINT64_C(0x100000001b3);
    return rc;
}

static int write_records(zip_writer *w, const char *path, const char *archive,
                         const nn_tensor_source *tensors, size_t count,
                         const uint64_t *elements, const byte_buffer *pickle, char **error)
{
    uint64_t id_hash = UINT64_C(0xcbf29ce484222325);
    /* .format_version 1: storages numbered in order; .storage_alignment: data offsets. */
    if (add_record(w, path, archive, "data.pkl", pickle->bytes, pickle->len, &id_hash,
                   error) != 0 ||
        add_record(w, path, archive, ".format_version", "1", 1, &id_hash, error) != 0 ||
        add_record(w, path, archive, ".storage_alignment", "64", 2, &id_hash, error) != 0 ||
        add_record(w, path, archive, "byteorder", "little", 6, &id_hash, error) != 0)
        return -1;
    void *buffer = NULL;
    size_t buffer_size = 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < count; i++) {
        const nn_tensor_source *t = &tensors[i];
        uint64_t nbytes = elements[i] * nn_dtype_size(t->dtype);
        const void *bytes = t->data;
        if (!bytes && nbytes > 0) {
            /* One tensor at a time: the buffer is reused, grown to the largest so far. */
            if (nbytes > buffer_size) {
                void *grown = realloc(buffer, (size_t)nbytes);
                if (!grown) {
                    *error = nn_format("cannot write %s: out of memory for tensor %s "
                                       "(%" PRIu64 " bytes)", path, t->name, nbytes);
                    rc = -1;
                    break;
                }
                buffer = grown;
                buffer_size = (size_t)nbytes;
            }
            if (t->fill(t->user, i, buffer, nbytes) != 0) {
                *error = nn_format("cannot write %s: producing the data of tensor %s "
                                   "failed", path, t->name);
                rc = -1;
                break;
            }
            bytes = buffer;
        }
        char name[48];
        snprintf(name, sizeof name, "data/%zu", i);
        rc = add_record(w, path, archive, name, bytes, nbytes, &id_hash, error);
    }
    free(buffer);
    if (rc != 0 || add_record(w, path, archive, "version", "3\n", 2, &id_hash, error) != 0)
        return -1;
    char id[48];
    snprintf(id, sizeof id, "%020" PRIu64 "%020" PRIu64, id_hash, (uint64_t)count);
    return add_record(w, path, archive, ".data/serialization_id", id, strlen(id), &id_hash, error);
}

int torch_write_with_zip64_threshold(const char *path, const nn_tensor_source *tensors,
                                     size_t count, uint64_t zip64_threshold, char **error)
{
    *error = NULL;
    uint64_t *elements = calloc(count ? count : 1, sizeof *elements);
    char *archive = archive_name(path);
    byte_buffer pickle = {0};
    int rc = -1;
    if (!elements || !archive) {
        *error = nn_format("cannot write %s: out of memory", path);
        goto done;
    }
    if (check_sources(path, tensors, count, elements, error) != 0)
        goto done;
    if (build_pickle(tensors, count, elements, &pickle) != 0) {
        *error = nn_format("cannot write %s: out of memory", path);
        goto done;
    }
    zip_writer *w = zip_writer_create(path, zip64_threshold, error);
    if (!w)
        goto done;
    if (write_records(w, path, archive, tensors, count, elements, &pickle, error) != 0) {
        zip_writer_abort(w);
        goto done;
    }
    rc = zip_writer_commit(w, error);
done:
    free(pickle.bytes);
    free(archive);
    free(elements);
    return rc;
}

int nn_torch_write(const char *path, const nn_tensor_source *tensors, size_t count,
                   char **error)
{
    return torch_write_with_zip64_threshold(path, tensors, count, UINT32_MAX, error);
}
