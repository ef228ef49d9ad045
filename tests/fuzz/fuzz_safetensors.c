/* Fuzz target for the safetensors reader (core/nn/src/safetensors_read.c).
 *
 * The input is handed to nn_safetensors_parse as the mapped file, without a copy, so any read
 * past its end is caught by AddressSanitizer. An accepted input must keep the promises of
 * tensor_file.h: every tensor's bytes inside the file, its size its shape times its element
 * size, names unique. It is then written again with nn_safetensors_write and read back, and
 * must come back the same: the reader and the writer agree on names, escapes and layout. */
#include "tensor_file_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *round_trip_dir;

static void remove_round_trip_dir(void)
{
    rmdir(round_trip_dir);
    free(round_trip_dir);
}

/* A directory for the rewritten files, on tmpfs when there is one (the writer fsyncs). */
static const char *scratch_dir(void)
{
    if (round_trip_dir)
        return round_trip_dir;
    const char *bases[] = {"/dev/shm", getenv("TMPDIR"), "/tmp"};
    for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++) {
        if (!bases[i] || access(bases[i], W_OK) != 0)
            continue;
        char *dir = NULL;
        if (asprintf(&dir, "%s/fuzz_safetensors.XXXXXX", bases[i]) < 0)
            abort();
        if (mkdtemp(dir)) {
            round_trip_dir = dir;
            atexit(remove_round_trip_dir);
            return dir;
        }
        free(dir);
    }
    abort();
}

static void check_views(const nn_tensor_file *file, const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < file->count; i++) {
        const nn_tensor_view *v = &file->tensors[i];
        const uint8_t *begin = v->data;
        if (begin < data || begin > data + size ||
            v->span_bytes > (uint64_t)(data + size - begin))
            abort();
        if (v->span_bytes != nn_tensor_elements(v) * nn_dtype_size(v->dtype))
            abort();
        if (v->ndim > NN_MAX_DIMS || !v->contiguous)
            abort();
        /* Names are unique, so finding one gives back this view. */
        if (nn_tensor_file_find(file, v->name) != v)
            abort();
        volatile uint8_t sum = 0;
        for (uint64_t b = 0; b < v->span_bytes; b++)
            sum ^= begin[b];
        (void)sum;
    }
    for (size_t i = 0; i < file->metadata_count; i++)
        if (nn_tensor_file_metadata(file, file->metadata[2 * i]) != file->metadata[2 * i + 1])
            abort();
}

static void round_trip(const nn_tensor_file *file)
{
    nn_tensor_source *sources = calloc(file->count ? file->count : 1, sizeof *sources);
    const char **metadata = calloc(2 * file->metadata_count + 1, sizeof *metadata);
    if (!sources || !metadata)
        abort();
    for (size_t i = 0; i < file->count; i++) {
        const nn_tensor_view *v = &file->tensors[i];
        sources[i] = (nn_tensor_source){.name = v->name, .dtype = v->dtype, .ndim = v->ndim,
                                        .data = v->data};
        memcpy(sources[i].shape, v->shape, sizeof v->shape);
    }
    for (size_t i = 0; i < 2 * file->metadata_count; i++)
        metadata[i] = file->metadata[i];

    char *path = NULL;
    if (asprintf(&path, "%s/rewritten.safetensors", scratch_dir()) < 0)
        abort();
    char *error = NULL;
    if (nn_safetensors_write(path, sources, file->count, metadata, &error) != 0) {
        fprintf(stderr, "an accepted file could not be written again: %s\n", error);
        abort();
    }
    nn_tensor_file *again = nn_tensor_file_open(path, &error);
    if (!again) {
        fprintf(stderr, "a rewritten file was refused: %s\n", error);
        abort();
    }
    if (again->count != file->count || again->metadata_count != file->metadata_count)
        abort();
    for (size_t i = 0; i < file->count; i++) {
        const nn_tensor_view *a = &file->tensors[i], *b = &again->tensors[i];
        if (strcmp(a->name, b->name) != 0 || a->dtype != b->dtype || a->ndim != b->ndim ||
            memcmp(a->shape, b->shape, a->ndim * sizeof a->shape[0]) != 0 ||
            a->span_bytes != b->span_bytes || memcmp(a->data, b->data, a->span_bytes) != 0)
            abort();
        /* The writer's layout aligns every tensor. */
        if ((uintptr_t)b->data % nn_dtype_size(b->dtype) != 0)
            abort();
    }
    for (size_t i = 0; i < file->metadata_count; i++) {
        const char *value = nn_tensor_file_metadata(again, file->metadata[2 * i]);
        if (!value || strcmp(value, file->metadata[2 * i + 1]) != 0)
            abort();
    }
    nn_tensor_file_close(again);
    unlink(path);
    free(path);
    free(metadata);
    free(sources);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nn_tensor_file *file = calloc(1, sizeof *file);
    if (!file)
        return 0;
    file->map = data;
    file->map_size = size;
    char *error = NULL;
    if (nn_safetensors_parse(file, &error) == 0) {
        if (error)
            abort();
        check_views(file, data, size);
        round_trip(file);
    } else if (!error || !*error) {
        abort(); /* a refusal always says why */
    }
    free(error);
    file->map = NULL; /* the input is not a mapping: close must not unmap it */
    nn_tensor_file_close(file);
    return 0;
}
