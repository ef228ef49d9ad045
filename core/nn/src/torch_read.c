/* Reading a torch.save zip checkpoint: <archive>/data.pkl (a pickled state dict, read by
 * the restricted unpickler) names storages stored as <archive>/data/<key>; each tensor is
 * a strided view of one of them, checked to stay inside it. */
#include "tensor_file_internal.h"
#include "nn_error.h"
#include "unpickle.h"
#include "zip_read.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A data.pkl is a few hundred bytes per tensor; storages can be as large as the model. */
#define MAX_PICKLE_BYTES (UINT64_C(1) << 30)
#define MAX_INFLATED_STORAGE_BYTES (UINT64_C(1) << 36)
#define MAX_SMALL_RECORD_BYTES 4096

typedef struct torch_reader_data {
    pickled_state_dict state;   /* owns the tensor names */
    uint8_t **buffers;          /* inflated or realigned storages */
    size_t buffer_count;
} torch_reader_data;

static void free_reader_data(void *data)
{
    torch_reader_data *reader = data;
    if (!reader)
        return;
    pickled_state_dict_free(&reader->state);
    for (size_t i = 0; i < reader->buffer_count; i++)
        free(reader->buffers[i]);
    free(reader->buffers);
    free(reader);
}

/* The archive's top folder (any name: torch uses the file's base name or "archive"), taken
 * from the one member named <folder>/data.pkl. */
static int find_pickle(const zip_archive *zip, const zip_member **pickle, char **error)
{
    *pickle = NULL;
    for (size_t i = 0; i < zip->count; i++) {
        const zip_member *m = &zip->members[i];
        const char *slash = strchr(m->name, '/');
        if (!slash || slash == m->name || strcmp(slash + 1, "data.pkl") != 0)
            continue;
        if (*pickle) {
            *error = nn_format("the archive holds two pickles, %s and %s", (*pickle)->name,
                               m->name);
            return -1;
        }
        *pickle = m;
    }
    if (!*pickle) {
        *error = nn_format("a zip archive without <archive>/data.pkl: not a torch.save "
                           "checkpoint");
        return -1;
    }
    return 0;
}

static char *member_path(const char *prefix, size_t prefix_len, const char *rest)
{
    char *path = NULL;
    if (asprintf(&path, "%.*s%s", (int)prefix_len, prefix, rest) < 0)
        return NULL;
    return path;
}

/* Checkpoints from big-endian machines say so in <archive>/byteorder; older ones have no
 * such record and are little-endian. */
static int check_byteorder(const zip_archive *zip, const char *prefix, size_t prefix_len,
                           char **error)
{
    char *path = member_path(prefix, prefix_len, "byteorder");
    if (!path) {
        *error = nn_format("out of memory");
        return -1;
    }
    const zip_member *m = zip_find(zip, path);
    free(path);
    if (!m)
        return 0;
    const uint8_t *bytes;
    uint8_t *owned;
    if (zip_read(zip, m, MAX_SMALL_RECORD_BYTES, &bytes, &owned, error) != 0)
        return -1;
    bool little = m->uncompressed_size == 6 && memcmp(bytes, "little", 6) == 0;
    free(owned);
    if (!little) {
        *error = nn_format("%s says the checkpoint is not little-endian; only "
                           "little-endian checkpoints are supported", m->name);
        return -1;
    }
    return 0;
}

static int keep_buffer(torch_reader_data *reader, uint8_t *buffer, char **error)
{
    uint8_t **grown = realloc(reader->buffers, (reader->buffer_count + 1) * sizeof *grown);
    if (!grown) {
        free(buffer);
        *error = nn_format("out of memory");
        return -1;
    }
    reader->buffers = grown;
    reader->buffers[reader->buffer_count++] = buffer;
    return 0;
}

/* Storages as torch writes them start on 64-byte boundaries; one that is not aligned for
 * any element type (a zip rewritten by another tool) is copied, so that typed access to
 * the views is valid C. */
#define STORAGE_ALIGNMENT 8

/* The bytes of every storage, in the order of state->storages: stored ones stay in the
 * mapping unless misaligned, deflated ones are inflated. */
static int load_storages(const zip_archive *zip, const char *prefix, size_t prefix_len,
                         torch_reader_data *reader, const uint8_t **bases, char **error)
{
    for (size_t i = 0; i < reader->state.storage_count; i++) {
        const pickled_storage *s = &reader->state.storages[i];
        char *path = NULL;
        if (asprintf(&path, "%.*sdata/%s", (int)prefix_len, prefix, s->key) < 0) {
            *error = nn_format("out of memory");
            return -1;
        }
        const zip_member *m = zip_find(zip, path);
        if (!m) {
            *error = nn_format("storage %s: the archive has no member %s", s->key, path);
            free(path);
            return -1;
        }
        free(path);
        size_t item = nn_dtype_size(s->dtype);
        if (s->numel > UINT64_MAX / item || m->uncompressed_size != s->numel * item) {
            *error = nn_format("storage %s: %s holds %llu bytes, but the pickle says %llu "
                               "elements of %s", s->key, m->name,
                               (unsigned long long)m->uncompressed_size,
                               (unsigned long long)s->numel, nn_dtype_name(s->dtype));
            return -1;
        }
        const uint8_t *bytes;
        uint8_t *owned;
        if (zip_read(zip, m, MAX_INFLATED_STORAGE_BYTES, &bytes, &owned, error) != 0)
            return -1;
        if (!owned && (uintptr_t)bytes % STORAGE_ALIGNMENT != 0) {
            owned = malloc(m->uncompressed_size ? (size_t)m->uncompressed_size : 1);
            if (!owned) {
                *error = nn_format("storage %s: out of memory", s->key);
                return -1;
            }
            memcpy(owned, bytes, (size_t)m->uncompressed_size);
            bytes = owned;
        }
        if (owned && keep_buffer(reader, owned, error) != 0)
            return -1;
        bases[i] = bytes;
    }
    return 0;
}

/* "offset 0, shape [2, 3], strides [3, 1]" */
static void describe_view(char *out, size_t capacity, const pickled_tensor *t)
{
    size_t n = (size_t)snprintf(out, capacity, "offset %llu, shape ",
                                (unsigned long long)t->offset);
    n = nn_format_dims(out, capacity, n, t->shape, t->ndim);
    if (n < capacity)
        n += (size_t)snprintf(out + n, capacity - n, ", strides ");
    nn_format_dims(out, capacity, n, t->strides, t->ndim);
}

/* Fills a view of one tensor after checking that every element it can address lies in its
 * storage (whose dtype may differ: _rebuild_tensor_v3 views untyped bytes). */
static int make_view(const pickled_tensor *t, const pickled_storage *s, const uint8_t *base,
                     nn_tensor_view *view, char **error)
{
    size_t item = nn_dtype_size(t->dtype);
    /* load_storages checked that the storage's byte size does not overflow. */
    uint64_t capacity = s->numel * nn_dtype_size(s->dtype) / item;
    uint64_t elements = 1, last = t->offset;
    bool overflow = false;
    for (uint32_t d = 0; d < t->ndim; d++) {
        uint64_t size = (uint64_t)t->shape[d], stride = (uint64_t)t->strides[d];
        if (size != 0 && elements > UINT64_MAX / size)
            overflow = true;
        elements *= size;
        if (size > 1) {
            if (stride != 0 && size - 1 > (UINT64_MAX - last) / stride)
                overflow = true;
            else
                last += (size - 1) * stride;
        }
    }
    if (overflow || (elements > 0 && last >= capacity)) {
        char shown[256];
        describe_view(shown, sizeof shown, t);
        *error = nn_format("tensor %s (%s) reaches past the end of storage %s (%llu "
                           "elements of %s)", t->name, shown, s->key,
                           (unsigned long long)capacity, nn_dtype_name(t->dtype));
        return -1;
    }
    view->name = t->name;
    view->dtype = t->dtype;
    view->ndim = t->ndim;
    memcpy(view->shape, t->shape, sizeof view->shape);
    memcpy(view->strides, t->strides, sizeof view->strides);
    if (elements == 0) {
        /* An empty view addresses nothing; torch lets its offset be anything. */
        view->data = base + (t->offset <= capacity ? t->offset : 0) * item;
        view->span_bytes = 0;
    } else {
        view->data = base + t->offset * item;
        view->span_bytes = (last - t->offset + 1) * item;
    }
    /* Row-major dense; as in torch, the stride of a dimension of size 1 is irrelevant. */
    bool contiguous = true;
    uint64_t expected = 1;
    for (uint32_t d = t->ndim; d-- > 0;) {
        if (t->shape[d] != 1 && (uint64_t)t->strides[d] != expected)
            contiguous = false;
        expected *= (uint64_t)t->shape[d];
    }
    view->contiguous = contiguous || elements == 0;
    return 0;
}

static int parse_archive(nn_tensor_file *file, const zip_archive *zip,
                         torch_reader_data *reader, char **error)
{
    const zip_member *pickle;
    if (find_pickle(zip, &pickle, error) != 0)
        return -1;
    size_t prefix_len = (size_t)(strchr(pickle->name, '/') - pickle->name) + 1;
    const char *prefix = pickle->name;
    if (check_byteorder(zip, prefix, prefix_len, error) != 0)
        return -1;

    const uint8_t *pickle_bytes;
    uint8_t *pickle_owned;
    if (zip_read(zip, pickle, MAX_PICKLE_BYTES, &pickle_bytes, &pickle_owned, error) != 0)
        return -1;
    int rc = unpickle_state_dict(pickle_bytes, (size_t)pickle->uncompressed_size,
                                 &reader->state, error);
    free(pickle_owned);
    if (rc != 0)
        return -1;

    size_t storages = reader->state.storage_count, count = reader->state.count;
    const uint8_t **bases = calloc(storages ? storages : 1, sizeof *bases);
    file->tensors = calloc(count ? count : 1, sizeof *file->tensors);
    if (!bases || !file->tensors) {
        free(bases);
        *error = nn_format("out of memory");
        return -1;
    }
    rc = load_storages(zip, prefix, prefix_len, reader, bases, error);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        const pickled_tensor *t = &reader->state.tensors[i];
        rc = make_view(t, &reader->state.storages[t->storage], bases[t->storage],
                       &file->tensors[i], error);
    }
    free(bases);
    if (rc != 0)
        return -1;
    file->count = count;
    return 0;
}

int nn_torch_parse(nn_tensor_file *file, char **error)
{
    *error = NULL;
    torch_reader_data *reader = calloc(1, sizeof *reader);
    if (!reader) {
        *error = nn_format("out of memory");
        return -1;
    }
    zip_archive zip;
    int rc = zip_open(&zip, file->map, file->map_size, error);
    if (rc == 0) {
        rc = parse_archive(file, &zip, reader, error);
        zip_close(&zip);
    }
    if (rc != 0) {
        free_reader_data(reader);
        free(file->tensors);
        file->tensors = NULL;
        file->count = 0;
        if (!*error)
            *error = nn_format("out of memory");
        return -1;
    }
    file->reader_data = reader;
    file->free_reader_data = free_reader_data;
    return 0;
}
