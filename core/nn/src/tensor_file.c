/* Opening a model file: map it, tell safetensors from a torch zip by content, hand it to the
 * reader, and look tensors up. */
#include "tensor_file_internal.h"

#include "nn_error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *name;
    size_t size;
} dtype_table[NN_DTYPE_COUNT] = {
    [NN_F64] = {"F64", 8},   [NN_F32] = {"F32", 4},   [NN_F16] = {"F16", 2},
    [NN_BF16] = {"BF16", 2}, [NN_I64] = {"I64", 8},   [NN_I32] = {"I32", 4},
    [NN_I16] = {"I16", 2},   [NN_I8] = {"I8", 1},     [NN_U64] = {"U64", 8},
    [NN_U32] = {"U32", 4},   [NN_U16] = {"U16", 2},   [NN_U8] = {"U8", 1},
    [NN_BOOL] = {"BOOL", 1}, [NN_F8_E4M3] = {"F8_E4M3", 1}, [NN_F8_E5M2] = {"F8_E5M2", 1},
};

size_t nn_dtype_size(nn_dtype dtype)
{
    return (unsigned)dtype < NN_DTYPE_COUNT ? dtype_table[dtype].size : 0;
}

const char *nn_dtype_name(nn_dtype dtype)
{
    return (unsigned)dtype < NN_DTYPE_COUNT ? dtype_table[dtype].name : "?";
}

bool nn_dtype_from_name(const char *name, nn_dtype *out)
{
    for (int i = 0; i < NN_DTYPE_COUNT; i++)
        if (strcmp(dtype_table[i].name, name) == 0) {
            *out = (nn_dtype)i;
            return true;
        }
    return false;
}

uint64_t nn_tensor_elements(const nn_tensor_view *view)
{
    uint64_t n = 1;
    for (uint32_t i = 0; i < view->ndim; i++)
        n *= (uint64_t)view->shape[i];
    return n;
}

nn_tensor_file *nn_tensor_file_open(const char *path, char **error)
{
    *error = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *error = nn_format("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        *error = nn_format("%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    nn_tensor_file *file = calloc(1, sizeof *file);
    if (!file || !(file->path = strdup(path))) {
        free(file);
        close(fd);
        *error = nn_format("%s: out of memory", path);
        return NULL;
    }
    file->map_size = (size_t)st.st_size;
    if (file->map_size) {
        void *map = mmap(NULL, file->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            *error = nn_format("%s: cannot map: %s", path, strerror(errno));
            close(fd);
            nn_tensor_file_close(file);
            return NULL;
        }
        file->map = map;
    }
    close(fd);
    /* A zip begins with a local file header "PK\3\4"; safetensors with a little-endian
     * header length. */
    char *why = NULL;
    bool is_zip = file->map_size >= 4 && memcmp(file->map, "PK\x03\x04", 4) == 0;
    int rc = is_zip ? nn_torch_parse(file, &why) : nn_safetensors_parse(file, &why);
    if (rc != 0) {
        *error = nn_format("%s: %s", path, why ? why : "unreadable");
        free(why);
        nn_tensor_file_close(file);
        return NULL;
    }
    return file;
}

void nn_tensor_file_close(nn_tensor_file *file)
{
    if (!file)
        return;
    if (file->free_reader_data)
        file->free_reader_data(file->reader_data);
    if (file->map)
        munmap((void *)file->map, file->map_size);
    free(file->tensors);
    free(file->path);
    free(file);
}

const char *nn_tensor_file_path(const nn_tensor_file *file)
{
    return file->path;
}

size_t nn_tensor_file_count(const nn_tensor_file *file)
{
    return file->count;
}

const nn_tensor_view *nn_tensor_file_at(const nn_tensor_file *file, size_t index)
{
    return index < file->count ? &file->tensors[index] : NULL;
}

const nn_tensor_view *nn_tensor_file_find(const nn_tensor_file *file, const char *name)
{
    for (size_t i = 0; i < file->count; i++)
        if (strcmp(file->tensors[i].name, name) == 0)
            return &file->tensors[i];
    return NULL;
}

const char *nn_tensor_file_metadata(const nn_tensor_file *file, const char *key)
{
    for (size_t i = 0; i < file->metadata_count; i++)
        if (strcmp(file->metadata[2 * i], key) == 0)
            return file->metadata[2 * i + 1];
    return NULL;
}
