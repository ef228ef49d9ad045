/* The safetensors reader and writer against the safetensors library itself, through
 * tests/reference/safetensors_cases.py run with $SPARK_PYTHON:
 *   - files the library wrote are opened here and compared with the manifest the script
 *     made from the library's tensors: names in header order, dtypes, shapes, bytes;
 *   - files nn_safetensors_write made (data and fill paths) are read back by the library
 *     (torch and numpy) and compared with a manifest written here;
 *   - the malformed files that the library refuses are checked to be refused by it, so the
 *     reader is at least as strict as the reference. */
#include "nn_test_support.h"
#include "safetensors_test_files.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <spark/nn/tensor_file.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static nn_reference reference;

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes hex into a malloc'd buffer; NULL when it is not hex. */
static unsigned char *from_hex(const char *hex, size_t *size)
{
    size_t len = strlen(hex);
    if (len % 2)
        return NULL;
    unsigned char *out = malloc(len / 2 + 1);
    for (size_t i = 0; out && i < len / 2; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(out);
            return NULL;
        }
        out[i] = (unsigned char)(hi * 16 + lo);
    }
    *size = len / 2;
    return out;
}

/* ---- files the library wrote -------------------------------------------------------------- */

/* Compares one view with its manifest entry; seen[] collects the dtypes met. */
static void check_view(const char *file, const nn_tensor_view *view, const cJSON *want,
                       bool *seen)
{
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(want, "name"));
    const char *dtype = cJSON_GetStringValue(cJSON_GetObjectItem(want, "dtype"));
    const cJSON *shape = cJSON_GetObjectItem(want, "shape");
    const char *hex = cJSON_GetStringValue(cJSON_GetObjectItem(want, "hex"));
    CHECK(name && dtype && cJSON_IsArray(shape) && hex);
    if (!name || !dtype || !cJSON_IsArray(shape) || !hex)
        return;
    if (!view || strcmp(view->name, name) != 0) {
        fprintf(stderr, "%s: expected tensor '%s' here, found '%s'\n", file, name,
                view ? view->name : "(none)");
        CHECK(!"tensor order follows the header");
        return;
    }
    CHECK_STR_EQ(nn_dtype_name(view->dtype), dtype);
    seen[view->dtype] = true;
    CHECK_INT_EQ(view->ndim, cJSON_GetArraySize(shape));
    int64_t stride = 1;
    for (int d = (int)view->ndim - 1; d >= 0 && d < cJSON_GetArraySize(shape); d--) {
        CHECK_INT_EQ(view->shape[d], cJSON_GetArrayItem(shape, d)->valuedouble);
        CHECK_INT_EQ(view->strides[d], stride);
        stride *= view->shape[d] ? view->shape[d] : 1;
    }
    CHECK(view->contiguous);
    size_t size = 0;
    unsigned char *bytes = from_hex(hex, &size);
    CHECK(bytes != NULL);
    CHECK_INT_EQ(view->span_bytes, size);
    CHECK_INT_EQ(view->span_bytes, nn_tensor_elements(view) * nn_dtype_size(view->dtype));
    if (bytes && view->span_bytes == size && memcmp(view->data, bytes, size) != 0) {
        fprintf(stderr, "%s: tensor '%s' bytes differ\n", file, name);
        CHECK(!"bytes equal");
    }
    /* The library lays tensors out by decreasing element size: all aligned. */
    CHECK_INT_EQ((uintptr_t)view->data % nn_dtype_size(view->dtype), 0);
    free(bytes);
}

static void check_library_files(const char *dir)
{
    char *manifest_path = nn_test_join(dir, "manifest.json");
    cJSON *manifest = nn_test_read_json(manifest_path);
    free(manifest_path);
    CHECK(cJSON_IsArray(manifest));
    bool seen[NN_DTYPE_COUNT] = {false};
    int files = 0, tensors_checked = 0;
    for (const cJSON *spec = manifest ? manifest->child : NULL; spec; spec = spec->next) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(spec, "file"));
        const cJSON *tensors = cJSON_GetObjectItem(spec, "tensors");
        const cJSON *metadata = cJSON_GetObjectItem(spec, "metadata");
        CHECK(name && cJSON_IsArray(tensors));
        if (!name || !cJSON_IsArray(tensors))
            continue;
        char *path = nn_test_join(dir, name);
        char *error = NULL;
        nn_tensor_file *file = nn_tensor_file_open(path, &error);
        free(path);
        if (!file) {
            fprintf(stderr, "library file refused: %s\n", error);
            free(error);
            CHECK(!"library file opens");
            continue;
        }
        files++;
        CHECK_INT_EQ(nn_tensor_file_count(file), cJSON_GetArraySize(tensors));
        size_t index = 0;
        for (const cJSON *want = tensors->child; want; want = want->next, index++) {
            const nn_tensor_view *view = nn_tensor_file_at(file, index);
            check_view(name, view, want, seen);
            if (view)
                CHECK(nn_tensor_file_find(file, view->name) == view);
            tensors_checked++;
        }
        for (const cJSON *item = cJSON_IsObject(metadata) ? metadata->child : NULL; item;
             item = item->next)
            CHECK_STR_EQ(nn_tensor_file_metadata(file, item->string), item->valuestring);
        CHECK(nn_tensor_file_metadata(file, "not a key") == NULL);
        nn_tensor_file_close(file);
    }
    cJSON_Delete(manifest);
    /* The script must have covered what it promises, or this test proves little. */
    CHECK(files >= 9);
    CHECK(tensors_checked >= 300);
    for (int d = 0; d < NN_DTYPE_COUNT; d++)
        if (!seen[d]) {
            fprintf(stderr, "no library file had a %s tensor\n", nn_dtype_name((nn_dtype)d));
            CHECK(!"every dtype covered");
        }
    printf("read %d library files, %d tensors\n", files, tensors_checked);
}

/* ---- files this writer made, read by the library ------------------------------------------ */

/* Deterministic bytes for tensor seed: BOOL gets 0 and 1 only; the rest any bit pattern
 * (NaN payloads included: both sides compare raw bytes). */
static void make_bytes(unsigned seed, nn_dtype dtype, void *dst, uint64_t nbytes)
{
    uint32_t state = seed * 2654435761u + 12345u;
    unsigned char *out = dst;
    for (uint64_t i = 0; i < nbytes; i++) {
        state = state * 1103515245u + 12345u;
        out[i] = dtype == NN_BOOL ? (unsigned char)((state >> 16) & 1)
                                  : (unsigned char)(state >> 16);
    }
}

static uint64_t source_bytes(const nn_tensor_source *t)
{
    uint64_t n = nn_dtype_size(t->dtype);
    for (uint32_t d = 0; d < t->ndim; d++)
        n *= (uint64_t)t->shape[d];
    return n;
}

/* fill: user points at the seed base; the tensor index picks the pattern. */
static int fill_bytes(void *user, size_t index, void *dst, uint64_t nbytes)
{
    const nn_tensor_source *all = user;
    make_bytes((unsigned)index + 1000, all[index].dtype, dst, nbytes);
    return 0;
}

typedef struct written_file {
    const char *file;
    nn_tensor_source *tensors;
    size_t count;
    const char *const *metadata;
} written_file;

static cJSON *describe_written(const written_file *w)
{
    cJSON *spec = cJSON_CreateObject();
    cJSON_AddStringToObject(spec, "file", w->file);
    cJSON *metadata = w->metadata && w->metadata[0] ? cJSON_AddObjectToObject(spec, "metadata")
                                                    : cJSON_AddNullToObject(spec, "metadata");
    for (size_t i = 0; w->metadata && w->metadata[2 * i]; i++)
        cJSON_AddStringToObject(metadata, w->metadata[2 * i], w->metadata[2 * i + 1]);
    cJSON *tensors = cJSON_AddArrayToObject(spec, "tensors");
    for (size_t i = 0; i < w->count; i++) {
        const nn_tensor_source *t = &w->tensors[i];
        cJSON *entry = cJSON_CreateObject();
        cJSON_AddStringToObject(entry, "name", t->name);
        cJSON_AddStringToObject(entry, "dtype", nn_dtype_name(t->dtype));
        cJSON *shape = cJSON_AddArrayToObject(entry, "shape");
        for (uint32_t d = 0; d < t->ndim; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
        uint64_t n = source_bytes(t);
        void *bytes = malloc(n ? n : 1);
        if (t->data)
            memcpy(bytes, t->data, n);
        else if (n)
            t->fill(t->user, i, bytes, n);
        char *hex = nn_test_to_hex(bytes, n);
        cJSON_AddStringToObject(entry, "hex", hex);
        free(hex);
        free(bytes);
        cJSON_AddItemToArray(tensors, entry);
    }
    return spec;
}

/* Writes the file, and reads it back here too. */
static void write_and_reread(const char *dir, const written_file *w)
{
    char *path = nn_test_join(dir, w->file);
    char *error = NULL;
    int rc = nn_safetensors_write(path, w->tensors, w->count, w->metadata, &error);
    if (rc != 0)
        fprintf(stderr, "%s\n", error);
    CHECK_INT_EQ(rc, 0);
    free(error);
    error = NULL;
    nn_tensor_file *file = nn_tensor_file_open(path, &error);
    CHECK(file != NULL);
    if (file) {
        CHECK_INT_EQ(nn_tensor_file_count(file), w->count);
        for (size_t i = 0; i < w->count && i < nn_tensor_file_count(file); i++) {
            const nn_tensor_view *v = nn_tensor_file_at(file, i);
            CHECK_STR_EQ(v->name, w->tensors[i].name);
            CHECK_INT_EQ(v->span_bytes, source_bytes(&w->tensors[i]));
        }
        nn_tensor_file_close(file);
    } else {
        fprintf(stderr, "%s\n", error);
        free(error);
    }
    free(path);
}

static void check_written_files(const char *dir)
{
    enum { MANY = 300 };
    static const char *const meta[] = {"writer", "sparkhost", "ü \"quoted\"", "a\\b\nc",
                                       "empty", "", NULL};
    static const char *const only_meta[] = {"note", "no tensors", NULL};
    /* Small element sizes first, so the data layout has to reorder them. */
    static const nn_dtype order[NN_DTYPE_COUNT] = {
        NN_BOOL, NN_U8, NN_I8, NN_F8_E4M3, NN_F8_E5M2, NN_F16, NN_BF16, NN_I16,
        NN_U16, NN_F32, NN_I32, NN_U32, NN_F64, NN_I64, NN_U64};
    nn_tensor_source by_data[NN_DTYPE_COUNT], by_fill[NN_DTYPE_COUNT + 3];
    nn_tensor_source names[5], many[MANY];
    void *buffers[NN_DTYPE_COUNT] = {NULL};
    char name_text[2 * NN_DTYPE_COUNT + 3 + MANY][48];
    size_t text_used = 0;

    for (int i = 0; i < NN_DTYPE_COUNT; i++) {
        nn_dtype dt = order[i];
        nn_tensor_source *t = &by_data[i];
        snprintf(name_text[text_used], 48, "data.%s", nn_dtype_name(dt));
        *t = (nn_tensor_source){.name = name_text[text_used++], .dtype = dt, .ndim = 2,
                                .shape = {2, 3}};
        buffers[i] = malloc(source_bytes(t));
        make_bytes((unsigned)i, dt, buffers[i], source_bytes(t));
        t->data = buffers[i];
    }
    for (int i = 0; i < NN_DTYPE_COUNT + 3; i++) {
        nn_tensor_source *t = &by_fill[i];
        nn_dtype dt = order[(i * 7) % NN_DTYPE_COUNT];
        snprintf(name_text[text_used], 48, "fill.%d.%s", i, nn_dtype_name(dt));
        *t = (nn_tensor_source){.name = name_text[text_used++], .dtype = dt, .ndim = 3,
                                .shape = {1 + i % 3, 2, 1 + i % 4}, .fill = fill_bytes,
                                .user = by_fill};
    }
    by_fill[NN_DTYPE_COUNT].ndim = 0; /* a scalar */
    by_fill[NN_DTYPE_COUNT + 1].shape[1] = 0; /* zero-size */
    by_fill[NN_DTYPE_COUNT + 2].ndim = 8;     /* 8 dimensions */
    for (int d = 3; d < 8; d++)
        by_fill[NN_DTYPE_COUNT + 2].shape[d] = 1 + d % 2;

    static const char *const tricky[5] = {"with \"quotes\"", "back\\slash", "ünï.权重",
                                          "ctrl\x01\x1f", ""};
    for (int i = 0; i < 5; i++)
        names[i] = (nn_tensor_source){.name = tricky[i], .dtype = i % 2 ? NN_I16 : NN_F32,
                                      .ndim = 1, .shape = {i + 1}, .fill = fill_bytes,
                                      .user = names};
    for (int i = 0; i < MANY; i++) {
        snprintf(name_text[text_used], 48, "model.layers.%d.block%d.weight", i % 24, i);
        many[i] = (nn_tensor_source){.name = name_text[text_used++],
                                     .dtype = order[(i * 5) % NN_DTYPE_COUNT], .ndim = 2,
                                     .shape = {1 + i % 4, 1 + (i * 7) % 5}, .fill = fill_bytes,
                                     .user = many};
    }
    const written_file files[] = {
        {"c_data.safetensors", by_data, NN_DTYPE_COUNT, meta},
        {"c_fill.safetensors", by_fill, NN_DTYPE_COUNT + 3, NULL},
        {"c_names.safetensors", names, 5, NULL},
        {"c_many.safetensors", many, MANY, only_meta},
        {"c_metadata_only.safetensors", NULL, 0, only_meta},
        {"c_nothing.safetensors", NULL, 0, NULL},
    };
    char *c_dir = nn_test_join(dir, "c");
    CHECK(mkdir(c_dir, 0755) == 0);
    cJSON *manifest = cJSON_CreateArray();
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        write_and_reread(c_dir, &files[i]);
        cJSON_AddItemToArray(manifest, describe_written(&files[i]));
    }
    char *manifest_path = nn_test_join(c_dir, "manifest.json");
    CHECK(nn_test_write_json(manifest_path, manifest) == 0);
    cJSON_Delete(manifest);
    int rc = nn_reference_run(&reference, "verify", manifest_path);
    if (rc != 0)
        fprintf(stderr, "the safetensors library disagrees with files this writer made\n");
    CHECK_INT_EQ(rc, 0);
    free(manifest_path);
    free(c_dir);
    for (int i = 0; i < NN_DTYPE_COUNT; i++)
        free(buffers[i]);
}

/* ---- malformed files --------------------------------------------------------------------- */

static void check_library_refuses(const char *dir)
{
    char *bad_dir = nn_test_join(dir, "bad");
    CHECK(mkdir(bad_dir, 0755) == 0);
    cJSON *list = cJSON_CreateArray();
    int listed = 0;
    for (size_t i = 0; i < st_bad_file_count; i++) {
        const st_bad_file *bad = &st_bad_files[i];
        if (!bad->library_rejects)
            continue;
        char *path = NULL;
        CHECK(st_save_bad_file(bad, bad_dir, &path) == 0);
        char *error = NULL;
        nn_tensor_file *file = nn_tensor_file_open(path, &error);
        CHECK(file == NULL);
        nn_tensor_file_close(file);
        free(error);
        cJSON_AddItemToArray(list, cJSON_CreateString(strrchr(path, '/') + 1));
        free(path);
        listed++;
    }
    char *manifest_path = nn_test_join(bad_dir, "manifest.json");
    CHECK(nn_test_write_json(manifest_path, list) == 0);
    cJSON_Delete(list);
    CHECK(listed >= 30);
    CHECK_INT_EQ(nn_reference_run(&reference, "reject", manifest_path), 0);
    free(manifest_path);
    free(bad_dir);
}

int main(void)
{
    if (!nn_reference_find(&reference, "safetensors_cases.py"))
        return 1;
    char *dir = nn_test_make_temp_dir("test_nn_safetensors_golden");
    if (!dir) {
        nn_reference_free(&reference);
        return 1;
    }
    /* The script writing its files is also the check that the venv is complete: without
     * it the other two directions would only repeat the same import error. */
    if (!nn_reference_write(&reference, dir)) {
        CHECK(!"the reference script writes its files");
    } else {
        check_library_files(dir);
        check_written_files(dir);
        check_library_refuses(dir);
    }
    nn_test_remove_tree(dir);
    free(dir);
    nn_reference_free(&reference);
    return CHECK_DONE();
}
