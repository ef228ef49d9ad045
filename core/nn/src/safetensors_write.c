/* The safetensors writer. The header lists the tensors in the caller's order, metadata first;
 * it is padded with spaces (the format allows trailing whitespace) so the data buffer starts
 * at a multiple of 8 bytes. The data buffer holds the tensors by decreasing element size,
 * as the reference library lays them out: every offset is then a multiple of its tensor's
 * element size, so a reader that maps the file can use every tensor in place.
 *
 * The file is written to a temporary file beside the target, fsync'd and renamed over it, so
 * a reader sees the old file or the whole new one, and a failure (a fill callback included)
 * leaves nothing behind. Tensors given by fill go through one buffer the size of the
 * largest of them: a 2 GB model never needs more than its biggest tensor in memory. */
#include <spark/nn/tensor_file.h>

#include "atomic_file.h"
#include "nn_error.h"
#include "nn_le.h"
#include "nn_text.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    DATA_ALIGNMENT = 8,
    /* Readers (the reference library, safetensors_read.c) refuse longer headers. */
    HEADER_LIMIT = 100000000,
};

static const char METADATA_KEY[] = "__metadata__";

/* A JSON string literal; s is valid UTF-8 (checked before). */
static void text_json_string(nn_text *b, const char *s)
{
    nn_text_append(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            nn_text_append(b, esc, 2);
        } else if (c < 0x20) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", c);
            nn_text_append(b, esc, 6);
        } else {
            nn_text_append(b, p, 1);
        }
    }
    nn_text_append(b, "\"", 1);
}

static bool utf8_valid(const char *s)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t len;
    for (size_t left = strlen(s); left > 0; p += len, left -= len)
        if ((len = nn_utf8_sequence_length(p, left)) == 0)
            return false;
    return true;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first string given twice (sorts a copy of the pointers), "" when none, NULL when out
 * of memory. */
static const char *first_duplicate(const char *const *strings, size_t count, size_t step)
{
    const char **sorted = malloc((count ? count : 1) * sizeof *sorted);
    if (!sorted)
        return NULL;
    for (size_t i = 0; i < count; i++)
        sorted[i] = strings[i * step];
    qsort(sorted, count, sizeof *sorted, compare_strings);
    const char *dup = "";
    for (size_t i = 1; i < count && !*dup; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0)
            dup = sorted[i];
    free(sorted);
    return dup;
}

/* Checks one source and computes its byte size; a message on failure. */
static char *check_source(const nn_tensor_source *t, size_t index, uint64_t *nbytes)
{
    if (!t->name)
        return nn_format_error("tensor %zu has no name", index);
    if (!utf8_valid(t->name))
        return nn_format_error("tensor %zu: name is not valid UTF-8", index);
    if (strcmp(t->name, METADATA_KEY) == 0)
        return nn_format_error("tensor '%s': the name is reserved for the metadata", t->name);
    if ((unsigned)t->dtype >= NN_DTYPE_COUNT)
        return nn_format_error("tensor '%s': unknown dtype %d", t->name, (int)t->dtype);
    if (t->ndim > NN_MAX_DIMS)
        return nn_format_error("tensor '%s': %u dimensions, more than the %d supported",
                               t->name, t->ndim, NN_MAX_DIMS);
    uint64_t elements = 1;
    for (uint32_t d = 0; d < t->ndim; d++) {
        if (t->shape[d] < 0)
            return nn_format_error("tensor '%s': shape[%u] is negative (%lld)", t->name, d,
                                   (long long)t->shape[d]);
        if (__builtin_mul_overflow(elements, (uint64_t)t->shape[d], &elements))
            return nn_format_error("tensor '%s': more elements than 64 bits can count",
                                   t->name);
    }
    if (__builtin_mul_overflow(elements, (uint64_t)nn_dtype_size(t->dtype), nbytes) ||
        *nbytes > SIZE_MAX)
        return nn_format_error("tensor '%s': more bytes than this machine can address",
                               t->name);
    if (*nbytes > 0 && !t->data && !t->fill)
        return nn_format_error("tensor '%s': neither data nor fill is given", t->name);
    return NULL;
}

static char *check_metadata(const char *const *metadata, size_t *pairs)
{
    size_t n = 0;
    for (; metadata && metadata[2 * n]; n++) {
        const char *key = metadata[2 * n], *value = metadata[2 * n + 1];
        if (!value)
            return nn_format_error("metadata key '%s' has no value", key);
        if (!utf8_valid(key) || !utf8_valid(value))
            return nn_format_error("metadata '%s': not valid UTF-8", key);
    }
    const char *dup = first_duplicate(metadata, n, 2);
    if (!dup)
        return nn_format_error("out of memory");
    if (*dup)
        return nn_format_error("metadata key '%s' is given twice", dup);
    *pairs = n;
    return NULL;
}

/* The header, padded with spaces to a multiple of 8 bytes. */
static char *build_header(const nn_tensor_source *tensors, size_t count,
                          const uint64_t *offsets, const uint64_t *sizes,
                          const char *const *metadata, size_t pairs, size_t *len)
{
    nn_text b = {0};
    nn_text_append(&b, "{", 1);
    if (pairs) {
        text_json_string(&b, METADATA_KEY);
        nn_text_append(&b, ":{", 2);
        for (size_t i = 0; i < pairs; i++) {
            if (i)
                nn_text_append(&b, ",", 1);
            text_json_string(&b, metadata[2 * i]);
            nn_text_append(&b, ":", 1);
            text_json_string(&b, metadata[2 * i + 1]);
        }
        nn_text_append(&b, "}", 1);
    }
    for (size_t i = 0; i < count; i++) {
        if (i || pairs)
            nn_text_append(&b, ",", 1);
        text_json_string(&b, tensors[i].name);
        nn_text_printf(&b, ":{\"dtype\":\"%s\",\"shape\":[", nn_dtype_name(tensors[i].dtype));
        for (uint32_t d = 0; d < tensors[i].ndim; d++)
            nn_text_printf(&b, d ? ",%" PRId64 : "%" PRId64, tensors[i].shape[d]);
        nn_text_printf(&b, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", offsets[i],
                       offsets[i] + sizes[i]);
    }
    nn_text_append(&b, "}", 1);
    while (!b.failed && b.len % DATA_ALIGNMENT != 0)
        nn_text_append(&b, " ", 1);
    *len = b.len;
    return nn_text_finish(&b);
}

/* Where the data buffer puts each tensor: by decreasing element size (a stable order among
 * equal sizes), so each offset is a multiple of its element size. */
static void layout_data(const nn_tensor_source *tensors, size_t count, const uint64_t *sizes,
                        uint64_t *offsets, size_t *order)
{
    uint64_t cursor = 0;
    size_t k = 0;
    for (size_t width = 8; width >= 1; width /= 2)
        for (size_t i = 0; i < count; i++)
            if (nn_dtype_size(tensors[i].dtype) == width) {
                order[k++] = i;
                offsets[i] = cursor;
                cursor += sizes[i];
            }
}

int nn_safetensors_write(const char *path, const nn_tensor_source *tensors, size_t count,
                         const char *const *metadata, char **error)
{
    *error = NULL;
    uint64_t *sizes = calloc(count ? count : 1, sizeof *sizes);
    uint64_t *offsets = calloc(count ? count : 1, sizeof *offsets);
    size_t *order = calloc(count ? count : 1, sizeof *order);
    const char **names = calloc(count ? count : 1, sizeof *names);
    char *why = NULL, *header = NULL;
    void *buffer = NULL;
    atomic_file *file = NULL;
    if (!sizes || !offsets || !order || !names) {
        why = nn_format_error("out of memory");
        goto done;
    }
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
        why = nn_format_error("not a file name");
        goto done;
    }

    uint64_t fill_max = 0, total = 0;
    for (size_t i = 0; i < count && !why; i++) {
        why = check_source(&tensors[i], i, &sizes[i]);
        if (!why && __builtin_add_overflow(total, sizes[i], &total))
            why = nn_format_error("the tensors are more bytes than 64 bits can count");
        if (!why && !tensors[i].data && sizes[i] > fill_max)
            fill_max = sizes[i];
        names[i] = tensors[i].name;
    }
    if (!why) {
        const char *dup = first_duplicate(names, count, 1);
        if (!dup)
            why = nn_format_error("out of memory");
        else if (*dup)
            why = nn_format_error("tensor '%s' is given twice", dup);
    }
    size_t pairs = 0;
    if (!why)
        why = check_metadata(metadata, &pairs);
    if (why)
        goto done;

    layout_data(tensors, count, sizes, offsets, order);
    size_t header_len = 0;
    header = build_header(tensors, count, offsets, sizes, metadata, pairs, &header_len);
    if (fill_max)
        buffer = malloc((size_t)fill_max);
    if (!header || (fill_max && !buffer)) {
        why = nn_format_error("out of memory");
        goto done;
    }
    if (header_len > HEADER_LIMIT) {
        why = nn_format_error("the header would be %zu bytes, more than the %d that readers "
                              "accept", header_len, HEADER_LIMIT);
        goto done;
    }

    atomic_file_step failed;
    file = atomic_file_begin(path, atomic_file_creation_mode(0666), &failed);
    if (!file) {
        why = failed == ATOMIC_FILE_MODE
                  ? nn_format_error("cannot set the file mode: %s", strerror(errno))
                  : nn_format_error("cannot create a temporary file beside it: %s",
                                    strerror(errno));
        goto done;
    }
    uint8_t length_field[8];
    nn_write_le(length_field, header_len, sizeof length_field);
    if (atomic_file_write(file, length_field, sizeof length_field) != 0 ||
        atomic_file_write(file, header, header_len) != 0) {
        why = nn_format_error("cannot write: %s", strerror(errno));
        goto done;
    }
    for (size_t k = 0; k < count; k++) {
        size_t i = order[k];
        const nn_tensor_source *t = &tensors[i];
        if (sizes[i] == 0)
            continue;
        const void *bytes = t->data;
        if (!bytes) {
            int rc = t->fill(t->user, i, buffer, sizes[i]);
            if (rc != 0) {
                why = nn_format_error("tensor '%s': fill failed (%d)", t->name, rc);
                goto done;
            }
            bytes = buffer;
        }
        if (atomic_file_write(file, bytes, sizes[i]) != 0) {
            why = nn_format_error("cannot write tensor '%s': %s", t->name, strerror(errno));
            goto done;
        }
    }
    bool dir_synced;
    failed = atomic_file_commit(file, &dir_synced);
    if (failed == ATOMIC_FILE_OK) {
        file = NULL;
        if (!dir_synced)
            why = nn_format_error("was written, but its directory could not be synced: %s",
                                  strerror(errno));
    } else if (failed == ATOMIC_FILE_SYNC) {
        why = nn_format_error("cannot fsync: %s", strerror(errno));
    } else if (failed == ATOMIC_FILE_CLOSE) {
        why = nn_format_error("cannot close: %s", strerror(errno));
    } else {
        why = nn_format_error("cannot rename %s into place: %s", atomic_file_temp_path(file),
                              strerror(errno));
    }

done:
    atomic_file_abort(file);
    free(buffer);
    free(header);
    free(names);
    free(order);
    free(offsets);
    free(sizes);
    if (!why)
        return 0;
    *error = nn_format_error("%s: %s", path, why);
    free(why);
    return -1;
}
