/* The safetensors reader and writer without the reference library: every malformed file of
 * safetensors_test_files.c is refused with a message naming the tensor and the rule; crafted
 * valid files are exposed as written; the writer lays out, escapes and aligns as promised
 * and leaves nothing behind when it fails. */
#include "nn_test_support.h"
#include "safetensors_test_files.h"

#include <check.h>
#include <spark/nn/tensor_file.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *work_dir;

/* ---- reading ---------------------------------------------------------------------------- */

static void test_bad_files(void)
{
    for (size_t i = 0; i < st_bad_file_count; i++) {
        const st_bad_file *bad = &st_bad_files[i];
        char *path = NULL;
        CHECK(st_save_bad_file(bad, work_dir, &path) == 0);

        char *error = NULL;
        nn_tensor_file *file = nn_tensor_file_open(path, &error);
        if (file) {
            fprintf(stderr, "bad file %s was accepted\n", bad->label);
            nn_tensor_file_close(file);
        }
        CHECK(file == NULL);
        /* The caller's prefix, then the reader's words. */
        CHECK(error && strncmp(error, path, strlen(path)) == 0);
        for (int k = 0; k < 3 && bad->expect[k]; k++) {
            if (!error || !strstr(error, bad->expect[k]))
                fprintf(stderr, "case %s:\n", bad->label);
            CHECK_STR_CONTAINS(error, bad->expect[k]);
        }
        free(error);
        remove(path);
        free(path);
    }
}

/* Offsets in another order than the header, metadata last, padding after the object: the
 * views follow the header and point where the offsets say. */
static void test_header_order_and_offsets(void)
{
    const char *header =
        "{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]},"
        "\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
        "\"__metadata__\":{\"format\":\"pt\",\"note\":\"x\\\"y\"}}   \n ";
    unsigned char data[12];
    for (int i = 0; i < 12; i++)
        data[i] = (unsigned char)(100 + i);
    char *path = nn_test_join(work_dir, "order.safetensors");
    CHECK(st_write_safetensors(path, header, data, sizeof data) == 0);
    char *error = NULL;
    nn_tensor_file *file = nn_tensor_file_open(path, &error);
    CHECK(file != NULL);
    if (!file) {
        fprintf(stderr, "%s\n", error);
        free(error);
        free(path);
        return;
    }
    CHECK_INT_EQ(nn_tensor_file_count(file), 2);
    const nn_tensor_view *b = nn_tensor_file_at(file, 0), *a = nn_tensor_file_at(file, 1);
    CHECK(nn_tensor_file_at(file, 2) == NULL);
    CHECK_STR_EQ(b->name, "b");
    CHECK_STR_EQ(a->name, "a");
    CHECK(nn_tensor_file_find(file, "a") == a);
    CHECK(nn_tensor_file_find(file, "c") == NULL);
    CHECK_INT_EQ(b->dtype, NN_F32);
    CHECK_INT_EQ(b->ndim, 1);
    CHECK_INT_EQ(b->shape[0], 2);
    CHECK_INT_EQ(b->span_bytes, 8);
    CHECK(b->contiguous);
    CHECK(memcmp(b->data, data + 4, 8) == 0);
    CHECK(memcmp(a->data, data, 4) == 0);
    CHECK((const unsigned char *)b->data == (const unsigned char *)a->data + 4);
    CHECK_STR_EQ(nn_tensor_file_metadata(file, "format"), "pt");
    CHECK_STR_EQ(nn_tensor_file_metadata(file, "note"), "x\"y");
    CHECK(nn_tensor_file_metadata(file, "missing") == NULL);
    CHECK_STR_EQ(nn_tensor_file_path(file), path);
    nn_tensor_file_close(file);
    free(path);
}

/* Scalars, zero-size tensors (also several at one offset), strides, 8 dimensions, and a
 * tensor that the format leaves unaligned. */
static void test_shapes_and_strides(void)
{
    const char *header =
        "{\"byte\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
        "\"odd\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[1,5]},"
        "\"empty\":{\"dtype\":\"I64\",\"shape\":[2,0,3],\"data_offsets\":[5,5]},"
        "\"empty2\":{\"dtype\":\"BF16\",\"shape\":[0],\"data_offsets\":[5,5]},"
        "\"deep\":{\"dtype\":\"I16\",\"shape\":[1,2,1,2,1,1,1,3],\"data_offsets\":[5,29]}}";
    unsigned char data[29];
    for (int i = 0; i < 29; i++)
        data[i] = (unsigned char)i;
    char *path = nn_test_join(work_dir, "shapes.safetensors");
    CHECK(st_write_safetensors(path, header, data, sizeof data) == 0);
    char *error = NULL;
    nn_tensor_file *file = nn_tensor_file_open(path, &error);
    CHECK(file != NULL);
    if (!file) {
        fprintf(stderr, "%s\n", error);
        free(error);
        free(path);
        return;
    }
    const nn_tensor_view *byte = nn_tensor_file_find(file, "byte");
    const nn_tensor_view *odd = nn_tensor_file_find(file, "odd");
    const nn_tensor_view *empty = nn_tensor_file_find(file, "empty");
    const nn_tensor_view *deep = nn_tensor_file_find(file, "deep");
    CHECK(byte && odd && empty && deep);
    if (byte && odd && empty && deep) {
        CHECK_INT_EQ(odd->ndim, 0);
        CHECK_INT_EQ(nn_tensor_elements(odd), 1);
        CHECK_INT_EQ(odd->span_bytes, 4);
        /* Accepted though the format leaves it one byte past the U8. */
        CHECK((const unsigned char *)odd->data == (const unsigned char *)byte->data + 1);
        CHECK_INT_EQ(nn_tensor_elements(empty), 0);
        CHECK_INT_EQ(empty->span_bytes, 0);
        CHECK_INT_EQ(empty->strides[0], 3); /* as torch: zero dimensions count as 1 */
        CHECK_INT_EQ(empty->strides[1], 3);
        CHECK_INT_EQ(empty->strides[2], 1);
        CHECK_INT_EQ(deep->ndim, 8);
        CHECK_INT_EQ(nn_tensor_elements(deep), 12);
        const int64_t want[8] = {12, 6, 6, 3, 3, 3, 3, 1};
        for (int d = 0; d < 8; d++)
            CHECK_INT_EQ(deep->strides[d], want[d]);
        CHECK(memcmp(deep->data, data + 5, 24) == 0);
    }
    nn_tensor_file_close(file);
    free(path);
}

static void test_no_tensors(void)
{
    const char *headers[] = {"{}", "{\"__metadata__\":null}", "{\"__metadata__\":{}}  "};
    for (size_t i = 0; i < 3; i++) {
        char *path = nn_test_join(work_dir, "none.safetensors");
        CHECK(st_write_safetensors(path, headers[i], NULL, 0) == 0);
        char *error = NULL;
        nn_tensor_file *file = nn_tensor_file_open(path, &error);
        CHECK(file != NULL);
        if (file) {
            CHECK_INT_EQ(nn_tensor_file_count(file), 0);
            CHECK(nn_tensor_file_metadata(file, "x") == NULL);
            nn_tensor_file_close(file);
        } else {
            fprintf(stderr, "%s\n", error);
            free(error);
        }
        free(path);
    }
}

/* ---- writing ---------------------------------------------------------------------------- */

typedef struct fill_log {
    size_t calls;
    size_t indices[8];
    uint64_t sizes[8];
    size_t fail_index; /* fill of this index fails; SIZE_MAX for none */
} fill_log;

/* Byte j of tensor i is (i * 31 + j) & 0xff. */
static int fill_pattern(void *user, size_t index, void *dst, uint64_t nbytes)
{
    fill_log *log = user;
    if (log->calls < 8) {
        log->indices[log->calls] = index;
        log->sizes[log->calls] = nbytes;
    }
    log->calls++;
    if (index == log->fail_index)
        return 7;
    for (uint64_t j = 0; j < nbytes; j++)
        ((unsigned char *)dst)[j] = (unsigned char)(index * 31 + j);
    return 0;
}

static bool has_pattern(const void *data, size_t index, uint64_t nbytes)
{
    for (uint64_t j = 0; j < nbytes; j++)
        if (((const unsigned char *)data)[j] != (unsigned char)(index * 31 + j))
            return false;
    return true;
}

static void test_write_round_trip(void)
{
    static const uint8_t small[3] = {1, 2, 3};
    static const double scalar = -2.5;
    fill_log log = {.fail_index = SIZE_MAX};
    const nn_tensor_source tensors[] = {
        {.name = "small", .dtype = NN_U8, .ndim = 1, .shape = {3}, .data = small},
        {.name = "matrix", .dtype = NN_F32, .ndim = 2, .shape = {2, 3}, .fill = fill_pattern,
         .user = &log},
        {.name = "scalar", .dtype = NN_F64, .ndim = 0, .data = &scalar},
        {.name = "empty", .dtype = NN_BF16, .ndim = 2, .shape = {0, 4}},
        {.name = "half", .dtype = NN_F16, .ndim = 1, .shape = {3}, .fill = fill_pattern,
         .user = &log},
        {.name = "q\"uo\\te\n\x01 ü", .dtype = NN_I8, .ndim = 1, .shape = {2},
         .fill = fill_pattern, .user = &log},
    };
    const char *metadata[] = {"format", "pt", "tricky \"key\"", "line\nbreak", NULL};
    char *path = nn_test_join(work_dir, "written.safetensors");
    char *error = NULL;
    int rc = nn_safetensors_write(path, tensors, 6, metadata, &error);
    CHECK_INT_EQ(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "%s\n", error);
        free(error);
        free(path);
        return;
    }
    CHECK(error == NULL);
    CHECK_INT_EQ(nn_test_count_entries(work_dir), 1); /* no temporary file left */
    /* fill was called for its tensors only, in data order: 4 bytes before 2 before 1. */
    CHECK_INT_EQ(log.calls, 3);
    CHECK_INT_EQ(log.indices[0], 1);
    CHECK_INT_EQ(log.sizes[0], 24);
    CHECK_INT_EQ(log.indices[1], 4);
    CHECK_INT_EQ(log.sizes[1], 6);
    CHECK_INT_EQ(log.indices[2], 5);
    CHECK_INT_EQ(log.sizes[2], 2);

    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) != 0600); /* not mkstemp's mode */

    size_t size = 0;
    unsigned char *bytes = nn_test_read_file(path, &size);
    CHECK(bytes && size >= 8);
    if (bytes && size >= 8) {
        uint64_t header_len = 0;
        for (int i = 7; i >= 0; i--)
            header_len = (header_len << 8) | bytes[i];
        CHECK_INT_EQ((8 + header_len) % 8, 0);
        CHECK(8 + header_len <= size && bytes[8] == '{');
        /* Padded with spaces after the object. */
        size_t end = header_len < size - 8 ? header_len : size - 8;
        while (end > 0 && bytes[8 + end - 1] == ' ')
            end--;
        CHECK(end > 0 && bytes[8 + end - 1] == '}');
        /* Metadata first, then the tensors in the given order. */
        const char *h = (const char *)bytes + 8;
        CHECK(strncmp(h, "{\"__metadata__\":{\"format\":\"pt\",", 31) == 0);
        const char *p_small = strstr(h, "\"small\""), *p_matrix = strstr(h, "\"matrix\"");
        const char *p_scalar = strstr(h, "\"scalar\""), *p_empty = strstr(h, "\"empty\"");
        CHECK(p_small && p_matrix && p_scalar && p_empty && p_small < p_matrix &&
              p_matrix < p_scalar && p_scalar < p_empty);
        CHECK(strstr(h, "\"q\\\"uo\\\\te\\u000a\\u0001 ü\"") != NULL);
    }
    free(bytes);

    nn_tensor_file *file = nn_tensor_file_open(path, &error);
    CHECK(file != NULL);
    if (file) {
        CHECK_INT_EQ(nn_tensor_file_count(file), 6);
        for (size_t i = 0; i < 6; i++) {
            const nn_tensor_view *v = nn_tensor_file_at(file, i);
            CHECK_STR_EQ(v->name, tensors[i].name);
            CHECK_INT_EQ(v->dtype, tensors[i].dtype);
            CHECK_INT_EQ(v->ndim, tensors[i].ndim);
            for (uint32_t d = 0; d < v->ndim; d++)
                CHECK_INT_EQ(v->shape[d], tensors[i].shape[d]);
            /* Every tensor lands on a multiple of its element size. */
            CHECK_INT_EQ((uintptr_t)v->data % nn_dtype_size(v->dtype), 0);
            if (tensors[i].data)
                CHECK(memcmp(v->data, tensors[i].data, v->span_bytes) == 0);
            else
                CHECK(has_pattern(v->data, i, v->span_bytes));
        }
        CHECK_INT_EQ(nn_tensor_file_at(file, 0)->span_bytes, 3);
        CHECK_INT_EQ(nn_tensor_file_at(file, 3)->span_bytes, 0);
        CHECK_STR_EQ(nn_tensor_file_metadata(file, "format"), "pt");
        CHECK_STR_EQ(nn_tensor_file_metadata(file, "tricky \"key\""), "line\nbreak");
        nn_tensor_file_close(file);
    } else {
        fprintf(stderr, "%s\n", error);
        free(error);
    }
    remove(path);
    free(path);
}

static void test_write_empty_file(void)
{
    char *path = nn_test_join(work_dir, "nothing.safetensors");
    char *error = NULL;
    CHECK_INT_EQ(nn_safetensors_write(path, NULL, 0, NULL, &error), 0);
    size_t size = 0;
    unsigned char *bytes = nn_test_read_file(path, &size);
    CHECK(bytes && size == 16 && memcmp(bytes + 8, "{}      ", 8) == 0);
    free(bytes);
    nn_tensor_file *file = nn_tensor_file_open(path, &error);
    CHECK(file && nn_tensor_file_count(file) == 0);
    nn_tensor_file_close(file);
    free(error);
    remove(path);
    free(path);
}

/* A fill that fails: -1 naming the tensor, the old file untouched, no temporary left. */
static void test_write_failing_fill(void)
{
    char *path = nn_test_join(work_dir, "keep.safetensors");
    CHECK(nn_test_write_file(path, "old", 3) == 0);
    fill_log log = {.fail_index = 1};
    const nn_tensor_source tensors[] = {
        {.name = "first", .dtype = NN_F32, .ndim = 1, .shape = {4}, .fill = fill_pattern,
         .user = &log},
        {.name = "second", .dtype = NN_F32, .ndim = 1, .shape = {2}, .fill = fill_pattern,
         .user = &log},
    };
    char *error = NULL;
    CHECK_INT_EQ(nn_safetensors_write(path, tensors, 2, NULL, &error), -1);
    CHECK_STR_CONTAINS(error, path);
    CHECK_STR_CONTAINS(error, "tensor 'second': fill failed (7)");
    free(error);
    size_t size = 0;
    unsigned char *bytes = nn_test_read_file(path, &size);
    CHECK(bytes && size == 3 && memcmp(bytes, "old", 3) == 0);
    free(bytes);
    CHECK_INT_EQ(nn_test_count_entries(work_dir), 1);
    remove(path);

    /* And with no file there before: nothing at all. */
    log.calls = 0;
    error = NULL;
    CHECK_INT_EQ(nn_safetensors_write(path, tensors, 2, NULL, &error), -1);
    free(error);
    CHECK_INT_EQ(nn_test_count_entries(work_dir), 0);
    free(path);
}

static void test_write_refusals(void)
{
    static const float four[4] = {0};
    char *path = nn_test_join(work_dir, "refused.safetensors");
    static const struct {
        nn_tensor_source tensors[2];
        size_t count;
        const char *metadata[5];
        const char *expect;
    } cases[] = {
        {{{.name = NULL, .dtype = NN_F32, .ndim = 1, .shape = {1}, .data = four}}, 1, {NULL},
         "tensor 0 has no name"},
        {{{.name = "w", .dtype = NN_F32, .ndim = 1, .shape = {1}, .data = four},
          {.name = "w", .dtype = NN_F32, .ndim = 1, .shape = {1}, .data = four}}, 2, {NULL},
         "tensor 'w' is given twice"},
        {{{.name = "__metadata__", .dtype = NN_F32, .ndim = 1, .shape = {1}, .data = four}}, 1,
         {NULL}, "tensor '__metadata__': the name is reserved"},
        {{{.name = "bad\xff", .dtype = NN_F32, .ndim = 1, .shape = {1}, .data = four}}, 1,
         {NULL}, "tensor 0: name is not valid UTF-8"},
        {{{.name = "w", .dtype = NN_DTYPE_COUNT, .ndim = 1, .shape = {1}, .data = four}}, 1,
         {NULL}, "tensor 'w': unknown dtype"},
        {{{.name = "w", .dtype = NN_F32, .ndim = 9, .data = four}}, 1, {NULL},
         "tensor 'w': 9 dimensions, more than the 8 supported"},
        {{{.name = "w", .dtype = NN_F32, .ndim = 2, .shape = {2, -1}, .data = four}}, 1,
         {NULL}, "tensor 'w': shape[1] is negative (-1)"},
        {{{.name = "w", .dtype = NN_F32, .ndim = 3,
           .shape = {INT64_MAX, INT64_MAX, 2}, .data = four}}, 1, {NULL},
         "tensor 'w': more elements than 64 bits can count"},
        {{{.name = "w", .dtype = NN_F64, .ndim = 1, .shape = {INT64_MAX}, .data = four}}, 1,
         {NULL}, "tensor 'w': more bytes than this machine can address"},
        {{{.name = "w", .dtype = NN_F32, .ndim = 1, .shape = {1}}}, 1, {NULL},
         "tensor 'w': neither data nor fill is given"},
        {{{.name = "w", .dtype = NN_F32, .ndim = 1, .shape = {1}, .data = four}}, 1,
         {"k", "a", "k", "b", NULL}, "metadata key 'k' is given twice"},
        {{{.name = "w", .dtype = NN_F32, .ndim = 1, .shape = {1}, .data = four}}, 1,
         {"k", NULL}, "metadata key 'k' has no value"},
        {{{.name = "w", .dtype = NN_F32, .ndim = 1, .shape = {1}, .data = four}}, 1,
         {"k", "\xc3", NULL}, "metadata 'k': not valid UTF-8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *error = NULL;
        const char *const *metadata = cases[i].metadata[0] ? cases[i].metadata : NULL;
        int rc = nn_safetensors_write(path, cases[i].tensors, cases[i].count, metadata, &error);
        if (rc != -1)
            fprintf(stderr, "write case %zu was accepted\n", i);
        CHECK_INT_EQ(rc, -1);
        CHECK_STR_CONTAINS(error, path);
        CHECK_STR_CONTAINS(error, cases[i].expect);
        free(error);
        CHECK_INT_EQ(nn_test_count_entries(work_dir), 0);
    }

    /* A header past the readers' 100 MB limit (here through one long metadata value). */
    size_t long_len = 100000001;
    char *long_value = malloc(long_len + 1);
    CHECK(long_value != NULL);
    if (long_value) {
        memset(long_value, 'a', long_len);
        long_value[long_len] = '\0';
        const char *long_metadata[] = {"k", long_value, NULL};
        char *error = NULL;
        CHECK_INT_EQ(nn_safetensors_write(path, NULL, 0, long_metadata, &error), -1);
        CHECK_STR_CONTAINS(error, "more than the 100000000 that readers accept");
        free(error);
        free(long_value);
        CHECK_INT_EQ(nn_test_count_entries(work_dir), 0);
    }
    free(path);

    /* A missing directory, and a target that is a directory: refused, nothing left. */
    static const nn_tensor_source one = {.name = "w", .dtype = NN_F32, .ndim = 1, .shape = {1},
                                         .data = four};
    char *missing = nn_test_join(work_dir, "no/such/dir/x.safetensors");
    char *error = NULL;
    CHECK_INT_EQ(nn_safetensors_write(missing, &one, 1, NULL, &error), -1);
    CHECK_STR_CONTAINS(error, "cannot create a temporary file beside it");
    free(error);
    free(missing);
    char *dir = nn_test_join(work_dir, "a_directory");
    CHECK(mkdir(dir, 0755) == 0);
    error = NULL;
    CHECK_INT_EQ(nn_safetensors_write(dir, &one, 1, NULL, &error), -1);
    CHECK_STR_CONTAINS(error, "cannot rename");
    free(error);
    CHECK_INT_EQ(nn_test_count_entries(work_dir), 1);
    CHECK_INT_EQ(nn_test_count_entries(dir), 0);
    rmdir(dir);
    free(dir);
    error = NULL;
    char *trailing = nn_test_join(work_dir, "");
    CHECK_INT_EQ(nn_safetensors_write(trailing, &one, 1, NULL, &error), -1);
    CHECK_STR_CONTAINS(error, "not a file name");
    free(error);
    free(trailing);
}

int main(void)
{
    work_dir = nn_test_make_temp_dir("test_nn_safetensors");
    if (!work_dir)
        return 1;
    test_bad_files();
    test_header_order_and_offsets();
    test_shapes_and_strides();
    test_no_tensors();
    /* The writer tests count what is in the directory: start from an empty one. */
    nn_test_remove_tree(work_dir);
    CHECK(mkdir(work_dir, 0700) == 0);
    test_write_round_trip();
    test_write_empty_file();
    test_write_failing_fill();
    test_write_refusals();
    nn_test_remove_tree(work_dir);
    free(work_dir);
    return CHECK_DONE();
}
