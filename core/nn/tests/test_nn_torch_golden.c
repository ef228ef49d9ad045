/* The torch checkpoint reader and writer against torch itself, through
 * tests/reference/torch_cases.py run with $SPARK_PYTHON:
 *   - checkpoints torch.save wrote (every dtype, scalars, empty tensors, shared storages,
 *     strided views, parameters, module state dicts, pickle protocols 2, 4 and 5) and
 *     rewrites of them (zip64 headers, zip64 throughout, deflated members) are opened here
 *     and compared with the manifest the script made from torch's tensors: order, dtype,
 *     shape, strides, contiguity, shared storage, and every element gathered by strides;
 *   - hostile checkpoints (os.system, eval, subprocess.Popen, exec, getattr, torch.load
 *     through __reduce__; other names from allowed modules; a nested checkpoint) are
 *     refused with a message naming the global;
 *   - files nn_torch_write made (data and fill paths, zip64 forced, a thousand and more
 *     tensors, sizes past 32 bits) are loaded by torch.load(weights_only=True), mapped and
 *     not, and compared with a manifest written here. */
#include "nn_test_support.h"
#include "torch_write.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <spark/nn/tensor_file.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static nn_reference reference;

static bool int_array_equals(const cJSON *array, const int64_t *values, uint32_t n)
{
    if (!cJSON_IsArray(array) || cJSON_GetArraySize(array) != (int)n)
        return false;
    for (uint32_t i = 0; i < n; i++)
        if ((int64_t)cJSON_GetArrayItem(array, (int)i)->valuedouble != values[i])
            return false;
    return true;
}

#define MAX_GROUPS 64

static void check_tensor(const char *file_name, const nn_tensor_view *v, const cJSON *want,
                         const uint8_t **group_bases)
{
    const char *name = cJSON_GetObjectItem(want, "name")->valuestring;
    const char *dtype = cJSON_GetObjectItem(want, "dtype")->valuestring;
    const cJSON *shape = cJSON_GetObjectItem(want, "shape");
    const cJSON *stride = cJSON_GetObjectItem(want, "stride");
    bool contiguous = cJSON_IsTrue(cJSON_GetObjectItem(want, "contiguous"));
    int64_t offset = (int64_t)cJSON_GetObjectItem(want, "storage_offset")->valuedouble;
    int group = cJSON_GetObjectItem(want, "group")->valueint;
    const char *hex = cJSON_GetObjectItem(want, "hex")->valuestring;

    int failures = check_failures;
    CHECK_STR_EQ(v->name, name);
    CHECK_STR_EQ(nn_dtype_name(v->dtype), dtype);
    CHECK(int_array_equals(shape, v->shape, v->ndim));
    CHECK(int_array_equals(stride, v->strides, v->ndim));
    CHECK_INT_EQ(v->contiguous, contiguous);
    char *got = nn_test_gather_hex(v);
    if (!got)
        CHECK(!"every element lies inside the view's span");
    CHECK(got && strcmp(got, hex) == 0);
    free(got);
    /* Tensors torch saved on one storage must view one base here, others different ones. */
    if (group >= 0 && group < MAX_GROUPS) {
        const uint8_t *base = (const uint8_t *)v->data - offset * (int64_t)nn_dtype_size(v->dtype);
        if (!group_bases[group]) {
            for (int g = 0; g < MAX_GROUPS; g++)
                CHECK(group_bases[g] != base);
            group_bases[group] = base;
        }
        CHECK(group_bases[group] == base);
    }
    if (check_failures != failures)
        fprintf(stderr, "  in %s, tensor %s\n", file_name, name);
}

static void check_torch_files(const char *dir)
{
    char *manifest_path = nn_test_join(dir, "manifest.json");
    cJSON *manifest = nn_test_read_json(manifest_path);
    free(manifest_path);
    CHECK(manifest != NULL);
    if (!manifest)
        return;
    const cJSON *cases = cJSON_GetObjectItem(manifest, "cases");
    int checked = 0;
    for (const cJSON *c = cases ? cases->child : NULL; c; c = c->next) {
        const char *file_name = cJSON_GetObjectItem(c, "file")->valuestring;
        const cJSON *tensors = cJSON_GetObjectItem(c, "tensors");
        char *path = nn_test_join(dir, file_name);
        char *error = NULL;
        nn_tensor_file *file = nn_tensor_file_open(path, &error);
        if (!file) {
            fprintf(stderr, "FAIL: %s: %s\n", file_name, error ? error : "(no message)");
            CHECK(!"torch.save checkpoints open");
        } else {
            CHECK_INT_EQ(nn_tensor_file_count(file), cJSON_GetArraySize(tensors));
            const uint8_t *group_bases[MAX_GROUPS] = {0};
            size_t i = 0;
            for (const cJSON *t = tensors->child; t && i < nn_tensor_file_count(file);
                 t = t->next, i++)
                check_tensor(file_name, nn_tensor_file_at(file, i), t, group_bases);
            checked++;
        }
        nn_tensor_file_close(file);
        free(error);
        free(path);
    }
    CHECK(checked >= 15);

    const cJSON *refused = cJSON_GetObjectItem(manifest, "refused");
    int refusals = 0;
    for (const cJSON *r = refused ? refused->child : NULL; r; r = r->next) {
        const char *file_name = cJSON_GetObjectItem(r, "file")->valuestring;
        const char *needle = cJSON_GetObjectItem(r, "error")->valuestring;
        char *path = nn_test_join(dir, file_name);
        char *error = NULL;
        nn_tensor_file *file = nn_tensor_file_open(path, &error);
        if (file || !error || !strstr(error, needle)) {
            fprintf(stderr, "FAIL: %s: expected a refusal naming %s, got %s\n", file_name,
                    needle, file ? "an open file" : error ? error : "(no message)");
            check_failures++;
        }
        nn_tensor_file_close(file);
        free(error);
        free(path);
        refusals++;
    }
    CHECK(refusals >= 12);
    cJSON_Delete(manifest);
}

/* ---- the writer, checked by torch --------------------------------------------------- */

typedef struct written_tensor {
    const char *name;
    nn_dtype dtype;
    uint32_t ndim;
    int64_t shape[NN_MAX_DIMS];
} written_tensor;

static const written_tensor written[] = {
    {"f64", NN_F64, 2, {2, 3}},
    {"f32", NN_F32, 2, {3, 4}},
    {"f16", NN_F16, 1, {7}},
    {"bf16", NN_BF16, 3, {2, 1, 3}},
    {"i64", NN_I64, 1, {5}},
    {"i32", NN_I32, 2, {2, 2}},
    {"i16", NN_I16, 1, {3}},
    {"i8", NN_I8, 1, {4}},
    {"u8", NN_U8, 2, {70000, 1}},                   /* a size past BININT2 */
    {"bool", NN_BOOL, 1, {9}},
    {"scalar", NN_F32, 0, {0}},
    {"empty", NN_F32, 1, {0}},
    {"empty_wide", NN_I8, 2, {0, INT64_C(3000000000)}}, /* strides past 32 bits */
    {"eight_dims", NN_F16, 8, {1, 2, 1, 2, 1, 2, 1, 2}},
    {"wav2vec2.encoder.layers.0.attention.k_proj.weight", NN_F32, 2, {8, 8}},
};
#define WRITTEN_COUNT (sizeof written / sizeof written[0])

static uint64_t written_bytes(const written_tensor *w)
{
    uint64_t n = nn_dtype_size(w->dtype);
    for (uint32_t d = 0; d < w->ndim; d++)
        n *= (uint64_t)w->shape[d];
    return n;
}

static void pattern(size_t index, nn_dtype dtype, uint8_t *dst, uint64_t nbytes)
{
    for (uint64_t i = 0; i < nbytes; i++)
        dst[i] = dtype == NN_BOOL ? (uint8_t)((i * 7 + index) % 3 == 0)
                                  : (uint8_t)(i * 131 + index * 17 + 5);
}

static int fill_pattern(void *user, size_t index, void *dst, uint64_t nbytes)
{
    const written_tensor *table = user;
    pattern(index, table[index].dtype, dst, nbytes);
    return 0;
}

/* Appends {"file", "tensors": [{name, dtype, shape, hex}]} for tensors made by pattern. */
static void describe_file(cJSON *files, const char *file_name, const written_tensor *table,
                          size_t count)
{
    cJSON *entry = cJSON_CreateObject();
    cJSON_AddStringToObject(entry, "file", file_name);
    cJSON *tensors = cJSON_AddArrayToObject(entry, "tensors");
    for (size_t i = 0; i < count; i++) {
        const written_tensor *w = &table[i];
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "name", w->name);
        cJSON_AddStringToObject(t, "dtype", nn_dtype_name(w->dtype));
        cJSON *shape = cJSON_AddArrayToObject(t, "shape");
        for (uint32_t d = 0; d < w->ndim; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)w->shape[d]));
        uint64_t n = written_bytes(w);
        uint8_t *bytes = malloc(n ? n : 1);
        pattern(i, w->dtype, bytes, n);
        char *hex = nn_test_to_hex(bytes, n);
        cJSON_AddStringToObject(t, "hex", hex);
        free(hex);
        free(bytes);
        cJSON_AddItemToArray(tensors, t);
    }
    cJSON_AddItemToArray(files, entry);
}

static void make_sources(const written_tensor *table, size_t count, bool use_fill,
                         nn_tensor_source *sources, uint8_t **buffers)
{
    for (size_t i = 0; i < count; i++) {
        const written_tensor *w = &table[i];
        sources[i] = (nn_tensor_source){.name = w->name, .dtype = w->dtype, .ndim = w->ndim};
        memcpy(sources[i].shape, w->shape, sizeof w->shape);
        buffers[i] = NULL;
        if (use_fill) {
            sources[i].fill = fill_pattern;
            sources[i].user = (void *)table;
        } else {
            uint64_t n = written_bytes(w);
            buffers[i] = malloc(n ? n : 1);
            pattern(i, w->dtype, buffers[i], n);
            sources[i].data = buffers[i];
        }
    }
}

static void write_case(const char *dir, cJSON *files, const char *file_name,
                       const written_tensor *table, size_t count, bool use_fill,
                       uint64_t zip64_threshold)
{
    nn_tensor_source *sources = calloc(count, sizeof *sources);
    uint8_t **buffers = calloc(count, sizeof *buffers);
    make_sources(table, count, use_fill, sources, buffers);
    char *path = nn_test_join(dir, file_name);
    char *error = NULL;
    int rc = torch_write_with_zip64_threshold(path, sources, count, zip64_threshold, &error);
    if (rc != 0)
        fprintf(stderr, "FAIL: writing %s: %s\n", file_name, error ? error : "?");
    CHECK_INT_EQ(rc, 0);
    free(error);
    free(path);
    for (size_t i = 0; i < count; i++)
        free(buffers[i]);
    free(buffers);
    free(sources);
    describe_file(files, file_name, table, count);
}

static void check_written_files(const char *dir)
{
    char *out = nn_test_join(dir, "written");
    CHECK(mkdir(out, 0755) == 0);
    cJSON *manifest = cJSON_CreateObject();
    cJSON *files = cJSON_AddArrayToObject(manifest, "files");
    write_case(out, files, "c_data.pt", written, WRITTEN_COUNT, false, UINT32_MAX);
    write_case(out, files, "c_fill.bin", written, WRITTEN_COUNT, true, UINT32_MAX);
    write_case(out, files, "c_zip64.pt", written, WRITTEN_COUNT, false, 0);

    /* More tensors than one SETITEMS batch. */
    enum { MANY = 1500 };
    written_tensor *many = calloc(MANY, sizeof *many);
    char (*names)[32] = calloc(MANY, sizeof *names);
    for (size_t i = 0; i < MANY; i++) {
        snprintf(names[i], sizeof names[i], "layer.%zu.bias", i);
        many[i] = (written_tensor){names[i], (nn_dtype)(i % 3 == 0 ? NN_F32 : NN_I16), 1,
                                   {(int64_t)(i % 5)}};
    }
    write_case(out, files, "c_many.pt", many, MANY, true, UINT32_MAX);

    char *manifest_path = nn_test_join(out, "manifest.json");
    CHECK(nn_test_write_json(manifest_path, manifest) == 0);
    cJSON_Delete(manifest);
    CHECK_INT_EQ(nn_reference_run(&reference, "check", manifest_path), 0);
    free(manifest_path);
    free(names);
    free(many);
    free(out);
}

int main(void)
{
    if (!nn_reference_find(&reference, "torch_cases.py"))
        return 1;
    char *dir = nn_test_make_temp_dir("test_nn_torch_golden");
    if (!dir) {
        nn_reference_free(&reference);
        return 1;
    }
    if (nn_reference_write(&reference, dir))
        check_torch_files(dir);
    else
        CHECK(!"the reference script writes its files");
    check_written_files(dir);
    nn_test_remove_tree(dir);
    free(dir);
    nn_reference_free(&reference);
    return CHECK_DONE();
}
