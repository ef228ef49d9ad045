/* The torch zip checkpoint reader and writer without Python: writer round trips (data and
 * fill, every dtype, zip64 forced), the writer's refusals (nothing left behind), the
 * restricted unpickler on hand-made pickles (globals refused by name, malformed streams,
 * layouts other than a flat state dict), and archives corrupted one field at a time. */
#include "nn_test_support.h"
#include "torch_test_files.h"
#include "torch_write.h"
#include "unpickle.h"

#include <check.h>
#include <spark/nn/tensor_file.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *work_dir;

/* Opening path must fail with a message naming the file and containing needle. */
static void expect_refused_at(int line, const char *path, const char *needle)
{
    char *error = NULL;
    nn_tensor_file *file = nn_tensor_file_open(path, &error);
    if (file || !error || !strstr(error, needle) || !strstr(error, path)) {
        fprintf(stderr, "%s:%d: expected refusal containing \"%s\", got %s\n", __FILE__, line,
                needle, file ? "an open file" : error ? error : "(no message)");
        check_failures++;
    }
    nn_tensor_file_close(file);
    free(error);
}
#define EXPECT_REFUSED(path, needle) expect_refused_at(__LINE__, path, needle)

static char *save_case(const char *name, const void *bytes, size_t size)
{
    char *path = nn_test_join(work_dir, name);
    if (nn_test_write_file(path, bytes, size) != 0)
        abort();
    return path;
}

static void expect_bytes_refused_at(int line, const char *name, const void *bytes, size_t size,
                                    const char *needle)
{
    char *path = save_case(name, bytes, size);
    expect_refused_at(line, path, needle);
    free(path);
}
#define EXPECT_BYTES_REFUSED(name, bytes, size, needle)                                   \
    expect_bytes_refused_at(__LINE__, name, bytes, size, needle)

/* ---- writer round trips ------------------------------------------------------------- */

typedef struct pattern_case {
    const char *name;
    nn_dtype dtype;
    uint32_t ndim;
    int64_t shape[NN_MAX_DIMS];
} pattern_case;

static const pattern_case round_trip_cases[] = {
    {"f64", NN_F64, 2, {2, 3}},     {"f32", NN_F32, 2, {3, 2}},
    {"f16", NN_F16, 1, {5}},        {"bf16", NN_BF16, 3, {2, 2, 2}},
    {"i64", NN_I64, 2, {4, 1}},     {"i32", NN_I32, 1, {7}},
    {"i16", NN_I16, 2, {1, 3}},     {"i8", NN_I8, 1, {9}},
    {"u8", NN_U8, 2, {3, 3}},       {"bool", NN_BOOL, 1, {6}},
    {"u16", NN_U16, 2, {2, 3}},     {"u32", NN_U32, 1, {3}},
    {"u64", NN_U64, 1, {2}},        {"f8_e4m3", NN_F8_E4M3, 2, {3, 2}},
    {"f8_e5m2", NN_F8_E5M2, 1, {5}},
    {"scalar", NN_F32, 0, {0}},     {"empty", NN_F32, 1, {0}},
    {"empty_middle", NN_I64, 3, {2, 0, 3}},
    {"five_d.weight", NN_F16, 5, {1, 2, 1, 3, 2}},
    {"encoder.layers.0.attention.q_proj.weight", NN_F32, 2, {4, 4}},
};
#define ROUND_TRIP_COUNT (sizeof round_trip_cases / sizeof round_trip_cases[0])

static uint64_t case_bytes(const pattern_case *c)
{
    uint64_t n = nn_dtype_size(c->dtype);
    for (uint32_t d = 0; d < c->ndim; d++)
        n *= (uint64_t)c->shape[d];
    return n;
}

/* Deterministic bytes per tensor; bools stay 0 or 1. */
static void fill_pattern(size_t index, nn_dtype dtype, uint8_t *dst, uint64_t nbytes)
{
    for (uint64_t i = 0; i < nbytes; i++)
        dst[i] = dtype == NN_BOOL ? (uint8_t)((i + index) % 2)
                                  : (uint8_t)(i * 37 + index * 11 + 1);
}

typedef struct fill_state {
    size_t calls;
    size_t fail_at; /* index whose fill fails; SIZE_MAX for none */
} fill_state;

static int fill_callback(void *user, size_t index, void *dst, uint64_t nbytes)
{
    fill_state *state = user;
    state->calls++;
    if (index == state->fail_at)
        return -1;
    fill_pattern(index, round_trip_cases[index].dtype, dst, nbytes);
    return 0;
}

static void make_sources(nn_tensor_source *sources, uint8_t **buffers, fill_state *state)
{
    for (size_t i = 0; i < ROUND_TRIP_COUNT; i++) {
        const pattern_case *c = &round_trip_cases[i];
        uint64_t n = case_bytes(c);
        buffers[i] = malloc(n ? n : 1);
        fill_pattern(i, c->dtype, buffers[i], n);
        sources[i] = (nn_tensor_source){.name = c->name, .dtype = c->dtype, .ndim = c->ndim};
        memcpy(sources[i].shape, c->shape, sizeof c->shape);
        /* Every other tensor goes through the fill path. */
        if (i % 2 == 0) {
            sources[i].data = buffers[i];
        } else {
            sources[i].fill = fill_callback;
            sources[i].user = state;
        }
    }
}

static void check_round_trip_file(const char *path)
{
    char *error = NULL;
    nn_tensor_file *file = nn_tensor_file_open(path, &error);
    CHECK(file != NULL);
    if (!file) {
        fprintf(stderr, "  %s\n", error);
        free(error);
        return;
    }
    CHECK_INT_EQ(nn_tensor_file_count(file), ROUND_TRIP_COUNT);
    for (size_t i = 0; i < ROUND_TRIP_COUNT && i < nn_tensor_file_count(file); i++) {
        const pattern_case *c = &round_trip_cases[i];
        const nn_tensor_view *v = nn_tensor_file_at(file, i);
        CHECK_STR_EQ(v->name, c->name);
        CHECK(nn_tensor_file_find(file, c->name) == v);
        CHECK_INT_EQ(v->dtype, c->dtype);
        CHECK_INT_EQ(v->ndim, c->ndim);
        int64_t stride = 1;
        for (uint32_t d = v->ndim; d-- > 0;) {
            CHECK_INT_EQ(v->shape[d], c->shape[d]);
            CHECK_INT_EQ(v->strides[d], stride);
            stride *= c->shape[d] ? c->shape[d] : 1;
        }
        CHECK(v->contiguous);
        uint64_t n = case_bytes(c);
        CHECK_INT_EQ(v->span_bytes, n);
        CHECK_INT_EQ(nn_tensor_elements(v) * nn_dtype_size(v->dtype), n);
        if (n > 0) {
            uint8_t *expected = malloc(n);
            fill_pattern(i, c->dtype, expected, n);
            CHECK(memcmp(v->data, expected, n) == 0);
            free(expected);
            /* Stored in place, 64-byte aligned in the file, so aligned in the mapping. */
            CHECK_INT_EQ((uintptr_t)v->data % 64, 0);
        }
    }
    CHECK(nn_tensor_file_find(file, "absent") == NULL);
    nn_tensor_file_close(file);
}

static bool file_contains(const char *path, const void *needle, size_t len)
{
    size_t size = 0;
    uint8_t *bytes = nn_test_read_file(path, &size);
    bool found = bytes && memmem(bytes, size, needle, len) != NULL;
    free(bytes);
    return found;
}

/* The entry count of the classic end record: 0xffff when it defers to the zip64 one. */
static unsigned eocd_entries(const char *path)
{
    size_t size = 0;
    uint8_t *bytes = nn_test_read_file(path, &size);
    unsigned n = bytes && size >= 22 ? (unsigned)(bytes[size - 12] | bytes[size - 11] << 8) : 0;
    free(bytes);
    return n;
}

static void test_round_trips(void)
{
    nn_tensor_source sources[ROUND_TRIP_COUNT];
    uint8_t *buffers[ROUND_TRIP_COUNT];
    fill_state state = {.fail_at = SIZE_MAX};
    make_sources(sources, buffers, &state);

    /* Standard: no zip64 records in a small file. */
    char *path = nn_test_join(work_dir, "round_trip.pt");
    char *error = NULL;
    CHECK_INT_EQ(nn_torch_write(path, sources, ROUND_TRIP_COUNT, &error), 0);
    CHECK(error == NULL);
    free(error);
    size_t expected_calls = 0;
    for (size_t i = 1; i < ROUND_TRIP_COUNT; i += 2)
        expected_calls += case_bytes(&round_trip_cases[i]) > 0;
    CHECK_INT_EQ(state.calls, expected_calls);
    check_round_trip_file(path);
    CHECK(file_contains(path, "round_trip/data.pkl", 19));
    CHECK(file_contains(path, "round_trip/byteorder", 20));
    CHECK(file_contains(path, "round_trip/.format_version", 26));
    CHECK(file_contains(path, "round_trip/.storage_alignment", 29));
    CHECK(file_contains(path, "round_trip/.data/serialization_id", 33));
    /* torch's layout: zip64 end records always, the classic one not saturated. */
    CHECK(file_contains(path, "PK\x06\x06", 4));
    CHECK_INT_EQ(eocd_entries(path), ROUND_TRIP_COUNT + 6);
    free(path);

    /* Every size and offset in zip64 form. */
    path = nn_test_join(work_dir, "zip64_all.pt");
    CHECK_INT_EQ(torch_write_with_zip64_threshold(path, sources, ROUND_TRIP_COUNT, 0, &error),
                 0);
    free(error);
    check_round_trip_file(path);
    CHECK(file_contains(path, "PK\x06\x07", 4));
    CHECK_INT_EQ(eocd_entries(path), 0xffff);
    free(path);

    /* Mixed: small members plain, later offsets and the bigger members zip64. */
    path = nn_test_join(work_dir, "zip64_mixed.pt");
    CHECK_INT_EQ(torch_write_with_zip64_threshold(path, sources, ROUND_TRIP_COUNT, 700,
                                                  &error), 0);
    free(error);
    check_round_trip_file(path);
    free(path);

    /* The archive folder is the base name without its extension. */
    path = nn_test_join(work_dir, "my.model.bin");
    CHECK_INT_EQ(nn_torch_write(path, sources, 1, &error), 0);
    free(error);
    CHECK(file_contains(path, "my.model/data.pkl", 17));
    free(path);

    /* An empty state dict. */
    path = nn_test_join(work_dir, "empty_dict.pt");
    CHECK_INT_EQ(nn_torch_write(path, NULL, 0, &error), 0);
    free(error);
    nn_tensor_file *file = nn_tensor_file_open(path, &error);
    CHECK(file && nn_tensor_file_count(file) == 0);
    nn_tensor_file_close(file);
    free(error);
    free(path);

    for (size_t i = 0; i < ROUND_TRIP_COUNT; i++)
        free(buffers[i]);
}

static void expect_write_refused_at(int line, const nn_tensor_source *sources, size_t count,
                                    const char *needle)
{
    char *path = nn_test_join(work_dir, "refused.pt");
    int before = nn_test_count_entries(work_dir);
    char *error = NULL;
    int rc = nn_torch_write(path, sources, count, &error);
    if (rc != -1 || !error || !strstr(error, needle) || !strstr(error, path)) {
        fprintf(stderr, "%s:%d: expected the writer to refuse with \"%s\", got rc %d: %s\n",
                __FILE__, line, needle, rc, error ? error : "(no message)");
        check_failures++;
    }
    /* Nothing left behind: neither the target nor a temporary file. */
    CHECK(access(path, F_OK) != 0);
    CHECK_INT_EQ(nn_test_count_entries(work_dir), before);
    free(error);
    free(path);
}
#define EXPECT_WRITE_REFUSED(sources, count, needle)                                      \
    expect_write_refused_at(__LINE__, sources, count, needle)

static void test_writer_refusals(void)
{
    float values[4] = {1, 2, 3, 4};
    nn_tensor_source ok = {.name = "a", .dtype = NN_F32, .ndim = 1, .shape = {4},
                           .data = values};
    nn_tensor_source bad[2] = {ok, ok};

    bad[1].name = "a";
    EXPECT_WRITE_REFUSED(bad, 2, "two tensors are named a");
    bad[1] = ok;
    bad[1].name = "b";
    bad[1].dtype = (nn_dtype)99;
    EXPECT_WRITE_REFUSED(bad, 2, "unknown dtype (99)");
    bad[1].dtype = NN_F32;
    bad[1].data = NULL;
    EXPECT_WRITE_REFUSED(bad, 2, "neither data nor a fill");
    bad[1].data = values;
    bad[1].shape[0] = -1;
    EXPECT_WRITE_REFUSED(bad, 2, "negative dimension");
    bad[1].shape[0] = 4;
    bad[1].ndim = NN_MAX_DIMS + 1;
    EXPECT_WRITE_REFUSED(bad, 2, "9 dimensions");
    bad[1].ndim = 3;
    bad[1].shape[0] = INT64_C(1) << 40;
    bad[1].shape[1] = INT64_C(1) << 40;
    bad[1].shape[2] = 0;
    EXPECT_WRITE_REFUSED(bad, 2, "too large");
    bad[1] = ok;
    bad[1].name = NULL;
    EXPECT_WRITE_REFUSED(bad, 2, "has no name");

    /* A fill failing midway: the file it would have replaced is untouched. */
    nn_tensor_source sources[ROUND_TRIP_COUNT];
    uint8_t *buffers[ROUND_TRIP_COUNT];
    fill_state state = {.fail_at = 3};
    make_sources(sources, buffers, &state);
    char *path = nn_test_join(work_dir, "keep.pt");
    CHECK_INT_EQ(nn_test_write_file(path, "old", 3), 0);
    int before = nn_test_count_entries(work_dir);
    char *error = NULL;
    CHECK_INT_EQ(nn_torch_write(path, sources, ROUND_TRIP_COUNT, &error), -1);
    CHECK_STR_CONTAINS(error, "producing the data of tensor bf16 failed");
    CHECK_STR_CONTAINS(error, path);
    free(error);
    CHECK_INT_EQ(nn_test_count_entries(work_dir), before);
    size_t size = 0;
    uint8_t *kept = nn_test_read_file(path, &size);
    CHECK(kept && size == 3 && memcmp(kept, "old", 3) == 0);
    free(kept);
    free(path);
    for (size_t i = 0; i < ROUND_TRIP_COUNT; i++)
        free(buffers[i]);

    /* A directory that does not exist. */
    path = nn_test_join(work_dir, "missing/model.pt");
    CHECK_INT_EQ(nn_torch_write(path, &ok, 1, &error), -1);
    CHECK_STR_CONTAINS(error, "cannot write");
    CHECK_STR_CONTAINS(error, "temporary file");
    free(error);
    free(path);
}

/* ---- the unpickler on hand-made streams ----------------------------------------------- */

static void expect_unpickle_refused_at(int line, const void *bytes, size_t size,
                                       const char *needle)
{
    pickled_state_dict state;
    char *error = NULL;
    int rc = unpickle_state_dict(bytes, size, &state, &error);
    if (rc != -1 || !error || !strstr(error, needle)) {
        fprintf(stderr, "%s:%d: expected the unpickler to refuse with \"%s\", got rc %d: %s\n",
                __FILE__, line, needle, rc, error ? error : "(no message)");
        check_failures++;
    }
    if (rc == 0)
        pickled_state_dict_free(&state);
    free(error);
}
#define EXPECT_UNPICKLE_REFUSED(bytes, size, needle)                                      \
    expect_unpickle_refused_at(__LINE__, bytes, size, needle)
#define EXPECT_LITERAL_REFUSED(literal, needle)                                           \
    expect_unpickle_refused_at(__LINE__, literal, sizeof literal - 1, needle)

static void test_unpickler_refuses_globals(void)
{
    /* The classic: os.system("ls") via GLOBAL and REDUCE (pickle protocol 2). */
    EXPECT_LITERAL_REFUSED("\x80\x02" "cos\nsystem\n" "X\x02\x00\x00\x00ls" "\x85R.",
                           "refusing global os.system");
    /* Protocol 4 spelling: STACK_GLOBAL of short strings, in a frame. */
    EXPECT_LITERAL_REFUSED("\x80\x04\x95\x1a\x00\x00\x00\x00\x00\x00\x00"
                           "\x8c\x08" "builtins" "\x94\x8c\x04" "eval" "\x94\x93\x94"
                           "\x8c\x01" "1" "\x85R.", "refusing global builtins.eval");
    EXPECT_LITERAL_REFUSED("\x80\x02" "csubprocess\nPopen\n" "]\x85R.",
                           "refusing global subprocess.Popen");
    EXPECT_LITERAL_REFUSED("\x80\x02" "cposix\nsystem\n" ".", "refusing global posix.system");
    EXPECT_LITERAL_REFUSED("\x80\x02" "cbuiltins\ngetattr\n" ".", "builtins.getattr");
    /* Allowed modules, other names. */
    EXPECT_LITERAL_REFUSED("\x80\x02" "ccollections\ndefaultdict\n" ").",
                           "refusing global collections.defaultdict");
    EXPECT_LITERAL_REFUSED("\x80\x02" "ctorch\nload\n" ".", "refusing global torch.load");
    EXPECT_LITERAL_REFUSED("\x80\x02" "ctorch._utils\n_rebuild_from_type_v2\n" ".",
                           "torch._utils._rebuild_from_type_v2");
    EXPECT_LITERAL_REFUSED("\x80\x02" "ctorch._utils\n_rebuild_device_tensor_from_numpy\n.",
                           "torch._utils._rebuild_device_tensor_from_numpy");
    EXPECT_LITERAL_REFUSED("\x80\x02" "ctorch\nFloatStorageX\n" ".", "torch.FloatStorageX");
    /* Inside a state dict, after an allowed tensor. */
    tt_buffer b = {0};
    tt_pickle_begin_state_dict(&b);
    int64_t shape[1] = {1}, strides[1] = {1};
    tt_pickle_string(&b, "ok");
    tt_pickle_tensor(&b, "FloatStorage", "0", 1, 0, 1, shape, strides);
    tt_pickle_string(&b, "evil");
    tt_pickle_global(&b, "nt", "system");
    tt_pickle_string(&b, "calc");
    tt_pickle_op(&b, 0x85);
    tt_pickle_op(&b, 'R');
    tt_pickle_end_state_dict(&b);
    EXPECT_UNPICKLE_REFUSED(b.bytes, b.len, "refusing global nt.system");
    tt_buffer_free(&b);
    /* Names from the file are printed safely. */
    EXPECT_LITERAL_REFUSED("\x80\x02" "cos\x01\nsys\x7ftem\n" ".", "refusing global os?.sys?tem");
}

static void test_unpickler_refuses_malformed(void)
{
    EXPECT_UNPICKLE_REFUSED("", 0, "ends without STOP");
    EXPECT_LITERAL_REFUSED("\x80\x02}", "ends without STOP");
    EXPECT_LITERAL_REFUSED("\x80\x06}.", "protocol 6");
    EXPECT_LITERAL_REFUSED("\x80\x02X\xff\x00\x00\x00" "ab.", "runs past the end");
    EXPECT_LITERAL_REFUSED("\x80\x02J\x01\x00", "truncated");
    EXPECT_LITERAL_REFUSED("\x80\x02R.", "stack underflow");
    EXPECT_LITERAL_REFUSED("\x80\x02}(s.", "stack underflow");
    EXPECT_LITERAL_REFUSED("\x80\x02h\x05.", "memo entry 5 is used before it is set");
    EXPECT_LITERAL_REFUSED("\x80\x02}r\xff\xff\xff\xff.", "memo index 4294967295");
    EXPECT_LITERAL_REFUSED("\x80\x02I1\n.", "opcode 0x49");
    EXPECT_LITERAL_REFUSED("\x80\x02}t.", "no MARK");
    EXPECT_LITERAL_REFUSED("\x80\x02}(K\x01u.", "odd number");
    EXPECT_LITERAL_REFUSED("\x80\x02}K\x01" "a.", "APPEND on a dict");
    EXPECT_LITERAL_REFUSED("\x80\x02]K\x01K\x02s.", "SETITEM on a list");
    EXPECT_LITERAL_REFUSED("\x80\x02]}b.", "BUILD (setting attributes) on a list");
    EXPECT_LITERAL_REFUSED("\x80\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01.",
                           "does not fit in 64 bits");
    EXPECT_LITERAL_REFUSED("\x80\x02K\x01K\x02\x93.", "STACK_GLOBAL needs two strings");
    EXPECT_LITERAL_REFUSED("\x80\x02" "ccollections\nOrderedDict\n" "]\x85R.",
                           "OrderedDict is only supported without arguments");
    EXPECT_LITERAL_REFUSED("\x80\x02" "ctorch\nFloatStorage\n" ")R.",
                           "FloatStorage cannot be called");
    EXPECT_LITERAL_REFUSED("\x80\x02K\x01)R.", "cannot call a int");
    EXPECT_LITERAL_REFUSED("\x80\x02" "ctorch\nfloat32\n" ")R.", "torch.float32 cannot be called");
    EXPECT_LITERAL_REFUSED("\x80\x02X\x03\x00\x00\x00" "foo\x85Q.", "persistent id other than");
    EXPECT_LITERAL_REFUSED("\x80\x02(X\x07\x00\x00\x00storageX\x01\x00\x00\x00xX\x01\x00\x00"
                           "\x00" "0X\x03\x00\x00\x00" "cpu" "K\x01tQ.", "not a storage type");
    EXPECT_LITERAL_REFUSED("\x80\x02" "c__main__\nEvil\n" ")\x81.", "refusing global __main__");
    EXPECT_LITERAL_REFUSED("\x80\x02K\x01)\x81.", "NEWOBJ is only supported");

    /* Caps: MARKs nested past the limit, a stack past the limit. */
    tt_buffer b = {0};
    tt_pickle_op(&b, 0x80);
    tt_pickle_op(&b, 2);
    for (int i = 0; i < (1 << 16) + 1; i++)
        tt_pickle_op(&b, '(');
    EXPECT_UNPICKLE_REFUSED(b.bytes, b.len, "nested MARKs");
    tt_buffer_free(&b);
    tt_pickle_op(&b, 0x80);
    tt_pickle_op(&b, 2);
    for (int i = 0; i < (1 << 20) + 1; i++)
        tt_pickle_op(&b, 'N');
    EXPECT_UNPICKLE_REFUSED(b.bytes, b.len, "deeper than");
    tt_buffer_free(&b);
}

/* A state dict whose single entry "t" is a tensor with these arguments. */
static void pickle_one_tensor(tt_buffer *b, const char *type, const char *key, int64_t numel,
                              int64_t offset, uint32_t ndim, const int64_t *shape,
                              const int64_t *strides)
{
    tt_pickle_begin_state_dict(b);
    tt_pickle_string(b, "t");
    tt_pickle_tensor(b, type, key, numel, offset, ndim, shape, strides);
    tt_pickle_end_state_dict(b);
}

static void test_unpickler_refuses_layouts(void)
{
    EXPECT_LITERAL_REFUSED("\x80\x02].", "holds a list, not a state dict");
    EXPECT_LITERAL_REFUSED("\x80\x02N.", "holds a None, not a state dict");
    /* A checkpoint nesting its weights. */
    EXPECT_LITERAL_REFUSED("\x80\x02}X\x05\x00\x00\x00model}s.",
                           "entry 'model' is a dict, not a tensor");
    EXPECT_LITERAL_REFUSED("\x80\x02}X\x05\x00\x00\x00" "epochK\x03s.",
                           "entry 'epoch' is a int, not a tensor");
    EXPECT_LITERAL_REFUSED("\x80\x02}K\x01}s.", "key is a int, not a string");

    int64_t shape[NN_MAX_DIMS + 1] = {2, 2, 1, 1, 1, 1, 1, 1, 1};
    int64_t strides[NN_MAX_DIMS + 1] = {2, 1, 1, 1, 1, 1, 1, 1, 1};
    tt_buffer b = {0};
    pickle_one_tensor(&b, "FloatStorage", "0", 4, 0, NN_MAX_DIMS + 1, shape, strides);
    EXPECT_UNPICKLE_REFUSED(b.bytes, b.len, "9 dimensions; at most 8");
    tt_buffer_free(&b);
    int64_t negative[2] = {2, -1};
    pickle_one_tensor(&b, "FloatStorage", "0", 4, 0, 2, negative, strides);
    EXPECT_UNPICKLE_REFUSED(b.bytes, b.len, "non-negative int");
    tt_buffer_free(&b);
    pickle_one_tensor(&b, "FloatStorage", "0", 4, -1, 2, shape, strides);
    EXPECT_UNPICKLE_REFUSED(b.bytes, b.len, "non-negative storage offset");
    tt_buffer_free(&b);

    /* Sizes and strides of different lengths. */
    tt_pickle_begin_state_dict(&b);
    tt_pickle_string(&b, "t");
    tt_pickle_global(&b, "torch._utils", "_rebuild_tensor_v2");
    tt_pickle_op(&b, '(');
    tt_pickle_op(&b, '(');
    tt_pickle_string(&b, "storage");
    tt_pickle_global(&b, "torch", "FloatStorage");
    tt_pickle_string(&b, "0");
    tt_pickle_string(&b, "cpu");
    tt_pickle_int(&b, 4);
    tt_pickle_op(&b, 't');
    tt_pickle_op(&b, 'Q');
    tt_pickle_int(&b, 0);
    tt_pickle_int_tuple(&b, shape, 2);
    tt_pickle_int_tuple(&b, strides, 1);
    tt_pickle_op(&b, 0x89);
    tt_pickle_op(&b, '}');
    tt_pickle_op(&b, 't');
    tt_pickle_op(&b, 'R');
    tt_pickle_end_state_dict(&b);
    EXPECT_UNPICKLE_REFUSED(b.bytes, b.len, "2 sizes but 1 strides");
    tt_buffer_free(&b);

    /* _rebuild_tensor_v2 with too few arguments. */
    EXPECT_LITERAL_REFUSED("\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n" ")R.",
                           "takes 6 or 7 arguments, not 0");

    /* Two keys alike; one storage key with two dtypes. */
    tt_pickle_begin_state_dict(&b);
    for (int i = 0; i < 2; i++) {
        tt_pickle_string(&b, "same");
        tt_pickle_tensor(&b, "FloatStorage", i ? "1" : "0", 4, 0, 1, shape, strides);
    }
    tt_pickle_end_state_dict(&b);
    EXPECT_UNPICKLE_REFUSED(b.bytes, b.len, "key 'same' appears twice");
    tt_buffer_free(&b);
    tt_pickle_begin_state_dict(&b);
    tt_pickle_string(&b, "a");
    tt_pickle_tensor(&b, "FloatStorage", "0", 4, 0, 1, shape, strides);
    tt_pickle_string(&b, "b");
    tt_pickle_tensor(&b, "IntStorage", "0", 4, 0, 1, shape, strides);
    tt_pickle_end_state_dict(&b);
    EXPECT_UNPICKLE_REFUSED(b.bytes, b.len, "storage 0 is referenced with two different");
    tt_buffer_free(&b);
}

/* What torch.save actually emits, with the memo: BINPUT/BINGET sharing a storage between
 * two tensors, a parameter, the _metadata BUILD on the OrderedDict, protocol 4 framing. */
static void test_unpickler_accepts_torch_forms(void)
{
    tt_buffer b = {0};
    tt_pickle_op(&b, 0x80);
    tt_pickle_op(&b, 4);
    tt_pickle_op(&b, 0x95);
    tt_put_u64(&b, 0); /* a frame header; its length is not relied upon */
    tt_pickle_global(&b, "collections", "OrderedDict");
    tt_pickle_op(&b, 0x94); /* MEMOIZE -> 0 */
    tt_pickle_op(&b, ')');
    tt_pickle_op(&b, 'R');
    tt_pickle_op(&b, 'q');
    tt_pickle_op(&b, 1);
    tt_pickle_op(&b, '(');
    /* "w": FloatStorage "7" of 10 elements, offset 2, shape (2, 3), strides (3, 1) */
    tt_pickle_op(&b, 0x8c);
    tt_pickle_op(&b, 1);
    tt_pickle_op(&b, 'w');
    tt_pickle_global(&b, "torch._utils", "_rebuild_tensor_v2");
    tt_pickle_op(&b, 'q');
    tt_pickle_op(&b, 2);
    tt_pickle_op(&b, '(');
    tt_pickle_op(&b, '(');
    tt_pickle_string(&b, "storage");
    tt_pickle_global(&b, "torch", "FloatStorage");
    tt_pickle_string(&b, "7");
    tt_pickle_string(&b, "cuda:0");
    tt_pickle_op(&b, 'K');
    tt_pickle_op(&b, 10);
    tt_pickle_op(&b, 't');
    tt_pickle_op(&b, 'Q');
    tt_pickle_op(&b, 'r');
    tt_put_u32(&b, 3); /* LONG_BINPUT 3: the storage */
    tt_pickle_op(&b, 'M');
    tt_put_u16(&b, 2); /* BININT2 offset */
    tt_pickle_op(&b, 'K');
    tt_pickle_op(&b, 2);
    tt_pickle_op(&b, 'K');
    tt_pickle_op(&b, 3);
    tt_pickle_op(&b, 0x86);
    tt_pickle_op(&b, 'K');
    tt_pickle_op(&b, 3);
    tt_pickle_op(&b, 'K');
    tt_pickle_op(&b, 1);
    tt_pickle_op(&b, 0x86);
    tt_pickle_op(&b, 0x88); /* requires_grad True */
    tt_pickle_op(&b, 'h');
    tt_pickle_op(&b, 0); /* BINGET 0: OrderedDict */
    tt_pickle_op(&b, ')');
    tt_pickle_op(&b, 'R');
    tt_pickle_op(&b, 't');
    tt_pickle_op(&b, 'R');
    /* "p": Parameter(_rebuild_tensor_v2(same storage, offset 0, (10,), (1,))) */
    tt_pickle_op(&b, 0x8d);
    tt_put_u64(&b, 1);
    tt_pickle_op(&b, 'p');
    tt_pickle_global(&b, "torch._utils", "_rebuild_parameter");
    tt_pickle_op(&b, 'h');
    tt_pickle_op(&b, 2); /* _rebuild_tensor_v2 */
    tt_pickle_op(&b, '(');
    tt_pickle_op(&b, 'j');
    tt_put_u32(&b, 3); /* LONG_BINGET 3: the storage again */
    tt_pickle_op(&b, 'K');
    tt_pickle_op(&b, 0);
    tt_pickle_op(&b, 'K');
    tt_pickle_op(&b, 10);
    tt_pickle_op(&b, 0x85);
    tt_pickle_op(&b, 'K');
    tt_pickle_op(&b, 1);
    tt_pickle_op(&b, 0x85);
    tt_pickle_op(&b, 0x89);
    tt_pickle_op(&b, '}');
    tt_pickle_op(&b, 'G');
    tt_put(&b, "\x3f\xf0\x00\x00\x00\x00\x00\x00", 8); /* metadata 1.0, ignored */
    tt_pickle_op(&b, 't');
    tt_pickle_op(&b, 'R');
    tt_pickle_op(&b, 0x88);
    tt_pickle_op(&b, '}');
    tt_pickle_op(&b, 0x87);
    tt_pickle_op(&b, 'R');
    /* "s": _rebuild_parameter_with_state on a LongStorage scalar with a LONG1 size */
    tt_pickle_string(&b, "s");
    tt_pickle_global(&b, "torch._utils", "_rebuild_parameter_with_state");
    tt_pickle_op(&b, '(');
    tt_pickle_tensor(&b, "LongStorage", "big", INT64_C(5000000000), 0, 0, NULL, NULL);
    tt_pickle_op(&b, 0x89);
    tt_pickle_op(&b, '}');
    tt_pickle_op(&b, 'N');
    tt_pickle_op(&b, 't');
    tt_pickle_op(&b, 'R');
    tt_pickle_op(&b, 'u');
    /* state_dict()._metadata = {"": {"version": 1}} */
    tt_pickle_op(&b, '}');
    tt_pickle_string(&b, "_metadata");
    tt_pickle_global(&b, "collections", "OrderedDict");
    tt_pickle_op(&b, ')');
    tt_pickle_op(&b, 'R');
    tt_pickle_string(&b, "");
    tt_pickle_op(&b, '}');
    tt_pickle_string(&b, "version");
    tt_pickle_op(&b, 'K');
    tt_pickle_op(&b, 1);
    tt_pickle_op(&b, 's');
    tt_pickle_op(&b, 's');
    tt_pickle_op(&b, 's');
    tt_pickle_op(&b, 'b');
    tt_pickle_op(&b, '.');

    pickled_state_dict state;
    char *error = NULL;
    CHECK_INT_EQ(unpickle_state_dict(b.bytes, b.len, &state, &error), 0);
    if (error)
        fprintf(stderr, "  %s\n", error);
    free(error);
    tt_buffer_free(&b);
    CHECK_INT_EQ(state.count, 3);
    CHECK_INT_EQ(state.storage_count, 2);
    if (state.count == 3 && state.storage_count == 2) {
        const pickled_tensor *w = &state.tensors[0], *p = &state.tensors[1],
                             *s = &state.tensors[2];
        CHECK_STR_EQ(w->name, "w");
        CHECK_STR_EQ(p->name, "p");
        CHECK_STR_EQ(s->name, "s");
        CHECK_INT_EQ(w->storage, 0);
        CHECK_INT_EQ(p->storage, 0);
        CHECK_INT_EQ(s->storage, 1);
        CHECK_INT_EQ(w->offset, 2);
        CHECK_INT_EQ(w->ndim, 2);
        CHECK_INT_EQ(w->shape[0], 2);
        CHECK_INT_EQ(w->shape[1], 3);
        CHECK_INT_EQ(w->strides[0], 3);
        CHECK_INT_EQ(w->strides[1], 1);
        CHECK_INT_EQ(p->ndim, 1);
        CHECK_INT_EQ(p->shape[0], 10);
        CHECK_INT_EQ(s->ndim, 0);
        CHECK_STR_EQ(state.storages[0].key, "7");
        CHECK_INT_EQ(state.storages[0].dtype, NN_F32);
        CHECK_INT_EQ(state.storages[0].numel, 10);
        CHECK_STR_EQ(state.storages[1].key, "big");
        CHECK_INT_EQ(state.storages[1].dtype, NN_I64);
        CHECK_INT_EQ(state.storages[1].numel, INT64_C(5000000000));
    }
    pickled_state_dict_free(&state);

    /* A plain dict root and negative LONG1 and BININT values inside ignored metadata. */
    static const char plain[] = "\x80\x02}X\x01\x00\x00\x00m}X\x01\x00\x00\x00vJ\xff\xff\xff"
                                "\xff\x8a\x02\x00\x80\x86ss.";
    CHECK_INT_EQ(unpickle_state_dict((const uint8_t *)plain, sizeof plain - 1, &state, &error),
                 -1);
    CHECK_STR_CONTAINS(error, "entry 'm' is a dict");
    free(error);
}

/* Dtypes without a legacy storage class: _rebuild_tensor_v3 over an untyped storage. */
static void test_unpickler_untyped_storages(void)
{
    tt_buffer b = {0};
    int64_t shape[2] = {2, 3}, strides[2] = {3, 1}, flat[1] = {4}, unit[1] = {1};
    tt_pickle_begin_state_dict(&b);
    tt_pickle_string(&b, "u16");
    tt_pickle_tensor_v3(&b, "0", 12, 0, 2, shape, strides, "uint16");
    tt_pickle_string(&b, "f8");
    tt_pickle_tensor_v3(&b, "0", 12, 8, 1, flat, unit, "float8_e5m2");
    tt_pickle_end_state_dict(&b);
    pickled_state_dict state;
    char *error = NULL;
    CHECK_INT_EQ(unpickle_state_dict(b.bytes, b.len, &state, &error), 0);
    free(error);
    CHECK_INT_EQ(state.count, 2);
    CHECK_INT_EQ(state.storage_count, 1);
    if (state.count == 2 && state.storage_count == 1) {
        CHECK_INT_EQ(state.tensors[0].dtype, NN_U16);
        CHECK_INT_EQ(state.tensors[1].dtype, NN_F8_E5M2);
        CHECK_INT_EQ(state.tensors[1].offset, 8);
        CHECK_INT_EQ(state.storages[0].dtype, NN_U8);
        CHECK_INT_EQ(state.storages[0].numel, 12);
    }
    pickled_state_dict_free(&state);

    /* Read from an archive: the views are bounded by the storage's bytes. */
    uint8_t storage[12];
    for (int i = 0; i < 12; i++)
        storage[i] = (uint8_t)(i + 1);
    tt_member members[] = {{"a/data.pkl", b.bytes, b.len, false},
                           {"a/data/0", storage, sizeof storage, false}};
    tt_zip zip;
    tt_build_zip(&zip, members, 2);
    char *path = save_case("untyped.pt", zip.out.bytes, zip.out.len);
    nn_tensor_file *file = nn_tensor_file_open(path, &error);
    CHECK(file != NULL);
    if (file) {
        const nn_tensor_view *u16 = nn_tensor_file_find(file, "u16");
        const nn_tensor_view *f8 = nn_tensor_file_find(file, "f8");
        CHECK(u16 && u16->dtype == NN_U16 && u16->span_bytes == 12 && u16->contiguous);
        CHECK(f8 && f8->dtype == NN_F8_E5M2 && f8->span_bytes == 4);
        if (u16 && f8) {
            uint16_t last;
            memcpy(&last, (const uint8_t *)u16->data + 10, 2);
            CHECK_INT_EQ(last, 11 | 12 << 8);
            CHECK(f8->data == (const uint8_t *)u16->data + 8);
        }
    }
    nn_tensor_file_close(file);
    free(error);
    free(path);
    tt_buffer_free(&zip.out);
    tt_buffer_free(&b);

    int64_t too_long[1] = {7};
    tt_pickle_begin_state_dict(&b);
    tt_pickle_string(&b, "u16");
    tt_pickle_tensor_v3(&b, "0", 12, 0, 1, too_long, unit, "uint16");
    tt_pickle_end_state_dict(&b);
    members[0] = (tt_member){"a/data.pkl", b.bytes, b.len, false};
    tt_build_zip(&zip, members, 2);
    EXPECT_BYTES_REFUSED("untyped_past_end.pt", zip.out.bytes, zip.out.len,
                         "reaches past the end of storage 0 (6 elements of U16)");
    tt_buffer_free(&zip.out);
    tt_buffer_free(&b);

    /* v3 needs a dtype in its seventh argument. */
    tt_pickle_begin_state_dict(&b);
    tt_pickle_string(&b, "t");
    tt_pickle_global(&b, "torch._utils", "_rebuild_tensor_v3");
    tt_pickle_op(&b, '(');
    tt_pickle_op(&b, '(');
    tt_pickle_string(&b, "storage");
    tt_pickle_global(&b, "torch.storage", "UntypedStorage");
    tt_pickle_string(&b, "0");
    tt_pickle_string(&b, "cpu");
    tt_pickle_int(&b, 4);
    tt_pickle_op(&b, 't');
    tt_pickle_op(&b, 'Q');
    tt_pickle_int(&b, 0);
    tt_pickle_int_tuple(&b, flat, 1);
    tt_pickle_int_tuple(&b, unit, 1);
    tt_pickle_op(&b, 0x89);
    tt_pickle_op(&b, '}');
    tt_pickle_string(&b, "uint8");
    tt_pickle_op(&b, 't');
    tt_pickle_op(&b, 'R');
    tt_pickle_end_state_dict(&b);
    EXPECT_UNPICKLE_REFUSED(b.bytes, b.len, "_rebuild_tensor_v3 got a str where a dtype belongs");
    tt_buffer_free(&b);
}

/* ---- whole archives ------------------------------------------------------------------- */

static const float storage_values[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};

/* arch/data.pkl naming storage "0" (12 floats) through several views, arch/byteorder,
 * arch/data/0; deflate chooses the member method. */
static void build_views_archive(tt_zip *zip, bool deflate, const char *byteorder)
{
    tt_buffer b = {0};
    tt_pickle_begin_state_dict(&b);
    const struct {
        const char *name;
        int64_t offset;
        uint32_t ndim;
        int64_t shape[2], strides[2];
    } views[] = {
        {"whole", 0, 2, {3, 4}, {4, 1}},
        {"transposed", 0, 2, {4, 3}, {1, 4}},
        {"stepped", 2, 1, {5}, {2}},
        {"row", 4, 2, {1, 4}, {99, 1}},
        {"tail", 11, 0, {0}, {0}},
        {"empty", 12, 1, {0}, {1}},
        {"broadcast", 3, 2, {2, 3}, {0, 1}},
    };
    for (size_t i = 0; i < sizeof views / sizeof views[0]; i++) {
        tt_pickle_string(&b, views[i].name);
        tt_pickle_tensor(&b, "FloatStorage", "0", 12, views[i].offset, views[i].ndim,
                         views[i].shape, views[i].strides);
    }
    tt_pickle_end_state_dict(&b);
    tt_member members[] = {
        {"arch/data.pkl", b.bytes, b.len, deflate},
        {"arch/byteorder", byteorder, strlen(byteorder), false},
        {"arch/data/0", storage_values, sizeof storage_values, deflate},
    };
    tt_build_zip(zip, members, 3);
    tt_buffer_free(&b);
}

static float element_at(const nn_tensor_view *v, int64_t i, int64_t j)
{
    float x;
    memcpy(&x, (const uint8_t *)v->data + 4 * (i * v->strides[0] + j * v->strides[1]), 4);
    return x;
}

static void check_views_file(const char *path)
{
    char *error = NULL;
    nn_tensor_file *file = nn_tensor_file_open(path, &error);
    CHECK(file != NULL);
    if (!file) {
        fprintf(stderr, "  %s\n", error);
        free(error);
        return;
    }
    CHECK_INT_EQ(nn_tensor_file_count(file), 7);
    const nn_tensor_view *whole = nn_tensor_file_find(file, "whole"),
                         *transposed = nn_tensor_file_find(file, "transposed"),
                         *stepped = nn_tensor_file_find(file, "stepped"),
                         *row = nn_tensor_file_find(file, "row"),
                         *tail = nn_tensor_file_find(file, "tail"),
                         *empty = nn_tensor_file_find(file, "empty"),
                         *broadcast = nn_tensor_file_find(file, "broadcast");
    CHECK(whole && transposed && stepped && row && tail && empty && broadcast);
    if (whole && transposed && stepped && row && tail && empty && broadcast) {
        CHECK(whole->contiguous);
        CHECK_INT_EQ(whole->span_bytes, 48);
        CHECK(!transposed->contiguous);
        CHECK_INT_EQ(transposed->span_bytes, 48);
        CHECK(transposed->data == whole->data);
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 3; j++)
                CHECK(element_at(transposed, i, j) == element_at(whole, j, i));
        CHECK(!stepped->contiguous);
        CHECK(stepped->data == (const uint8_t *)whole->data + 8);
        CHECK_INT_EQ(stepped->span_bytes, 36);
        for (int i = 0; i < 5; i++) {
            float x;
            memcpy(&x, (const uint8_t *)stepped->data + 4 * i * stepped->strides[0], 4);
            CHECK(x == (float)(2 + 2 * i));
        }
        CHECK(row->contiguous); /* a size-1 dimension's stride does not matter */
        CHECK(element_at(row, 0, 3) == 7.0f);
        CHECK_INT_EQ(tail->ndim, 0);
        CHECK(tail->contiguous);
        CHECK_INT_EQ(tail->span_bytes, 4);
        CHECK(*(const float *)tail->data == 11.0f);
        CHECK_INT_EQ(nn_tensor_elements(empty), 0);
        CHECK_INT_EQ(empty->span_bytes, 0);
        CHECK(empty->contiguous);
        CHECK(!broadcast->contiguous);
        CHECK_INT_EQ(broadcast->span_bytes, 12);
        CHECK(element_at(broadcast, 1, 2) == 5.0f);
    }
    nn_tensor_file_close(file);
}

static void test_archives(void)
{
    tt_zip zip;
    build_views_archive(&zip, false, "little");
    char *path = save_case("views.pt", zip.out.bytes, zip.out.len);
    check_views_file(path);
    free(path);
    tt_buffer_free(&zip.out);

    build_views_archive(&zip, true, "little");
    path = save_case("views_deflated.pt", zip.out.bytes, zip.out.len);
    check_views_file(path);
    free(path);
    tt_buffer_free(&zip.out);

    build_views_archive(&zip, false, "big");
    EXPECT_BYTES_REFUSED("big_endian.pt", zip.out.bytes, zip.out.len, "not little-endian");
    tt_buffer_free(&zip.out);

    /* The archive folder may have any name; byteorder may be absent. */
    tt_buffer b = {0};
    int64_t shape[2] = {3, 4}, strides[2] = {4, 1};
    pickle_one_tensor(&b, "FloatStorage", "0", 12, 0, 2, shape, strides);
    tt_member members[] = {
        {"any name/data.pkl", b.bytes, b.len, false},
        {"any name/data/0", storage_values, sizeof storage_values, false},
    };
    tt_build_zip(&zip, members, 2);
    path = save_case("any_name.pt", zip.out.bytes, zip.out.len);
    char *error = NULL;
    nn_tensor_file *file = nn_tensor_file_open(path, &error);
    CHECK(file && nn_tensor_file_count(file) == 1);
    nn_tensor_file_close(file);
    free(error);
    free(path);
    tt_buffer_free(&zip.out);

    /* The storage member is missing, or sized unlike the pickle says. */
    members[1].name = "any name/data/1";
    tt_build_zip(&zip, members, 2);
    EXPECT_BYTES_REFUSED("no_storage.pt", zip.out.bytes, zip.out.len,
                         "storage 0: the archive has no member any name/data/0");
    tt_buffer_free(&zip.out);
    members[1].name = "any name/data/0";
    members[1].size = 40;
    tt_build_zip(&zip, members, 2);
    EXPECT_BYTES_REFUSED("short_storage.pt", zip.out.bytes, zip.out.len,
                         "holds 40 bytes, but the pickle says 12 elements of F32");
    tt_buffer_free(&zip.out);
    members[1].size = sizeof storage_values;
    tt_buffer_free(&b);

    /* Views reaching past their storage. */
    int64_t over_shape[1] = {13}, over_strides[1] = {1};
    pickle_one_tensor(&b, "FloatStorage", "0", 12, 0, 1, over_shape, over_strides);
    members[0] = (tt_member){"any name/data.pkl", b.bytes, b.len, false};
    tt_build_zip(&zip, members, 2);
    EXPECT_BYTES_REFUSED("past_end.pt", zip.out.bytes, zip.out.len,
                         "tensor t (offset 0, shape [13], strides [1]) reaches past the end "
                         "of storage 0 (12 elements of F32)");
    tt_buffer_free(&zip.out);
    tt_buffer_free(&b);
    int64_t huge_shape[2] = {2, 2}, huge_strides[2] = {INT64_MAX, 1};
    pickle_one_tensor(&b, "FloatStorage", "0", 12, 0, 2, huge_shape, huge_strides);
    members[0] = (tt_member){"any name/data.pkl", b.bytes, b.len, false};
    tt_build_zip(&zip, members, 2);
    EXPECT_BYTES_REFUSED("huge_stride.pt", zip.out.bytes, zip.out.len, "reaches past the end");
    tt_buffer_free(&zip.out);
    tt_buffer_free(&b);
    int64_t offset_shape[1] = {1};
    pickle_one_tensor(&b, "FloatStorage", "0", 12, 12, 1, offset_shape, over_strides);
    members[0] = (tt_member){"any name/data.pkl", b.bytes, b.len, false};
    tt_build_zip(&zip, members, 2);
    EXPECT_BYTES_REFUSED("past_offset.pt", zip.out.bytes, zip.out.len, "reaches past the end");
    tt_buffer_free(&zip.out);
    tt_buffer_free(&b);

    /* No pickle; two pickles; a hostile pickle in a real archive. */
    tt_member no_pickle[] = {{"arch/data/0", storage_values, sizeof storage_values, false}};
    tt_build_zip(&zip, no_pickle, 1);
    EXPECT_BYTES_REFUSED("no_pickle.pt", zip.out.bytes, zip.out.len,
                         "without <archive>/data.pkl");
    tt_buffer_free(&zip.out);
    static const char evil[] = "\x80\x02" "cos\nsystem\n" "X\x02\x00\x00\x00ls" "\x85R.";
    tt_member two[] = {{"a/data.pkl", evil, sizeof evil - 1, false},
                       {"b/data.pkl", evil, sizeof evil - 1, false}};
    tt_build_zip(&zip, two, 2);
    EXPECT_BYTES_REFUSED("two_pickles.pt", zip.out.bytes, zip.out.len, "two pickles");
    tt_buffer_free(&zip.out);
    tt_build_zip(&zip, two, 1);
    EXPECT_BYTES_REFUSED("evil.pt", zip.out.bytes, zip.out.len, "refusing global os.system");
    tt_buffer_free(&zip.out);
}

/* ---- corrupted containers ------------------------------------------------------------- */

/* Copies the valid views archive, lets patch damage it, and expects the refusal. */
static void expect_damage_refused_at(int line, const char *label, bool deflate,
                                     void (*patch)(tt_zip *), const char *needle)
{
    tt_zip zip;
    build_views_archive(&zip, deflate, "little");
    patch(&zip);
    char name[96];
    snprintf(name, sizeof name, "damaged_%s.pt", label);
    char *path = save_case(name, zip.out.bytes, zip.out.len);
    expect_refused_at(line, path, needle);
    free(path);
    tt_buffer_free(&zip.out);
}
#define EXPECT_DAMAGE_REFUSED(label, deflate, patch, needle)                              \
    expect_damage_refused_at(__LINE__, label, deflate, patch, needle)

/* Member 0 is arch/data.pkl, 1 arch/byteorder, 2 arch/data/0 (the storage, whose size the
 * pickle also states, so size damage to it is caught before the zip layer sees it). */
static void cut_tail(tt_zip *z) { z->out.len -= 5; }
static void cut_half(tt_zip *z) { z->out.len /= 2; }
static void directory_outside(tt_zip *z) { tt_patch_u32(&z->out, z->eocd + 16, 1u << 30); }
static void directory_too_long(tt_zip *z) { tt_patch_u32(&z->out, z->eocd + 12, 1u << 20); }
static void too_many_entries(tt_zip *z)
{
    tt_patch_u16(&z->out, z->eocd + 8, 1000);
    tt_patch_u16(&z->out, z->eocd + 10, 1000);
}
static void multi_disk(tt_zip *z) { tt_patch_u16(&z->out, z->eocd + 4, 1); }
static void flip_data(tt_zip *z) { z->out.bytes[z->data[2] + 5] ^= 0x40; }
static void bad_local_offset(tt_zip *z) { tt_patch_u32(&z->out, z->central[2] + 42, 3); }
static void local_offset_outside(tt_zip *z)
{
    tt_patch_u32(&z->out, z->central[2] + 42, 0x7ffffff0);
}
static void data_outside(tt_zip *z)
{
    tt_patch_u32(&z->out, z->central[0] + 20, 0x7ffffff0);
    tt_patch_u32(&z->out, z->central[0] + 24, 0x7ffffff0);
}
static void sizes_differ(tt_zip *z) { tt_patch_u32(&z->out, z->central[2] + 20, 47); }
static void nul_in_name(tt_zip *z) { z->out.bytes[z->central[2] + 46 + 3] = 0; }
static void duplicate_name(tt_zip *z)
{
    /* Member 1's 14-byte name "arch/byteorder" becomes "arch/data/0" and a 3-byte
     * comment. */
    memcpy(z->out.bytes + z->central[1] + 46, "arch/data/0", 11);
    tt_patch_u16(&z->out, z->central[1] + 28, 11);
    tt_patch_u16(&z->out, z->central[1] + 32, 3);
}
static void method_unknown(tt_zip *z)
{
    tt_patch_u16(&z->out, z->local[2] + 8, 12);
    tt_patch_u16(&z->out, z->central[2] + 10, 12);
}
static void method_disagrees(tt_zip *z) { tt_patch_u16(&z->out, z->local[2] + 8, 8); }
static void encrypted(tt_zip *z) { tt_patch_u16(&z->out, z->central[2] + 8, 1); }
static void local_name_differs(tt_zip *z) { z->out.bytes[z->local[2] + 30 + 10] = '1'; }
static void local_signature(tt_zip *z) { z->out.bytes[z->local[2]] = 'X'; }
static void inflate_limit(tt_zip *z) { tt_patch_u32(&z->out, z->central[0] + 24, 0x7ffffff0); }
static void inflate_bomb(tt_zip *z) { tt_patch_u32(&z->out, z->central[0] + 24, 0x3ffffff0); }
static void inflate_short(tt_zip *z)
{
    const uint8_t *p = z->out.bytes + z->central[0] + 24;
    tt_patch_u32(&z->out, z->central[0] + 24, (uint32_t)(p[0] | p[1] << 8) - 1);
}
static void inflate_long(tt_zip *z)
{
    const uint8_t *p = z->out.bytes + z->central[0] + 24;
    tt_patch_u32(&z->out, z->central[0] + 24, (uint32_t)(p[0] | p[1] << 8) + 1);
}
static void inflate_garbage(tt_zip *z) { memset(z->out.bytes + z->data[0], 0xff, 4); }

static void test_damaged_containers(void)
{
    EXPECT_DAMAGE_REFUSED("cut_tail", false, cut_tail, "no end of central directory record");
    EXPECT_DAMAGE_REFUSED("cut_half", false, cut_half, "no end of central directory record");
    EXPECT_DAMAGE_REFUSED("directory_outside", false, directory_outside,
                          "the central directory (offset 1073741824");
    EXPECT_DAMAGE_REFUSED("directory_too_long", false, directory_too_long,
                          "lies outside the file");
    EXPECT_DAMAGE_REFUSED("too_many_entries", false, too_many_entries,
                          "claims 1000 entries");
    EXPECT_DAMAGE_REFUSED("multi_disk", false, multi_disk, "multi-disk");
    EXPECT_DAMAGE_REFUSED("bad_crc", false, flip_data, "arch/data/0: CRC-32 mismatch");
    EXPECT_DAMAGE_REFUSED("bad_crc_deflated", true, flip_data, "arch/data/0");
    EXPECT_DAMAGE_REFUSED("bad_local_offset", false, bad_local_offset,
                          "no local header at offset 3");
    EXPECT_DAMAGE_REFUSED("local_offset_outside", false, local_offset_outside,
                          "no local header at offset 2147483632");
    EXPECT_DAMAGE_REFUSED("data_outside", false, data_outside, "lies outside the file");
    EXPECT_DAMAGE_REFUSED("sizes_differ", false, sizes_differ, "stored but its sizes differ");
    EXPECT_DAMAGE_REFUSED("nul_in_name", false, nul_in_name, "contains a NUL byte");
    EXPECT_DAMAGE_REFUSED("duplicate_name", false, duplicate_name,
                          "member arch/data/0 appears more than once");
    EXPECT_DAMAGE_REFUSED("method_unknown", false, method_unknown, "compression method 12");
    EXPECT_DAMAGE_REFUSED("method_disagrees", false, method_disagrees,
                          "disagree on the compression method");
    EXPECT_DAMAGE_REFUSED("encrypted", false, encrypted, "arch/data/0 is encrypted");
    EXPECT_DAMAGE_REFUSED("local_name", false, local_name_differs, "names a different member");
    EXPECT_DAMAGE_REFUSED("local_signature", false, local_signature, "no local header");
    EXPECT_DAMAGE_REFUSED("inflate_limit", true, inflate_limit, "more than the 1073741824 allowed");
    EXPECT_DAMAGE_REFUSED("inflate_bomb", true, inflate_bomb, "more than deflate can");
    EXPECT_DAMAGE_REFUSED("inflate_short", true, inflate_short, "inflates to more than");
    EXPECT_DAMAGE_REFUSED("inflate_long", true, inflate_long, "inflates to fewer bytes");
    EXPECT_DAMAGE_REFUSED("inflate_garbage", true, inflate_garbage, "corrupt deflate data");

    EXPECT_BYTES_REFUSED("magic_only.pt", "PK\x03\x04", 4, "no end of central directory");

    /* zip64 records damaged: the locator pointing nowhere, an extra field cut short. */
    nn_tensor_source source = {.name = "w", .dtype = NN_F32, .ndim = 1, .shape = {12},
                               .data = storage_values};
    char *path = nn_test_join(work_dir, "zip64_source.pt");
    char *error = NULL;
    CHECK_INT_EQ(torch_write_with_zip64_threshold(path, &source, 1, 0, &error), 0);
    free(error);
    size_t size = 0;
    uint8_t *bytes = nn_test_read_file(path, &size);
    free(path);
    CHECK(bytes && size > 98);
    if (!bytes || size <= 98) {
        free(bytes);
        return;
    }
    uint8_t *copy = malloc(size);
    memcpy(copy, bytes, size);
    size_t locator = size - 22 - 20;
    CHECK(memcmp(copy + locator, "PK\x06\x07", 4) == 0);
    copy[locator + 8] ^= 0x10;
    EXPECT_BYTES_REFUSED("zip64_locator.pt", copy, size, "no zip64 record");
    memcpy(copy, bytes, size);
    /* The first central entry: its zip64 field holds 24 bytes; claim 8. */
    uint8_t *central = memmem(copy, size, "PK\x01\x02", 4);
    CHECK(central != NULL);
    if (central) {
        size_t name_len = central[28] | central[29] << 8;
        uint8_t *extra = central + 46 + name_len;
        CHECK(extra[0] == 1 && extra[1] == 0 && extra[2] == 24);
        extra[2] = 8;
        EXPECT_BYTES_REFUSED("zip64_extra.pt", copy, size, "extra field");
    }
    free(copy);
    free(bytes);
}

int main(void)
{
    work_dir = nn_test_make_temp_dir("test_nn_torch");
    if (!work_dir)
        return 1;
    test_round_trips();
    test_writer_refusals();
    test_unpickler_refuses_globals();
    test_unpickler_refuses_malformed();
    test_unpickler_refuses_layouts();
    test_unpickler_accepts_torch_forms();
    test_unpickler_untyped_storages();
    test_archives();
    test_damaged_containers();
    nn_test_remove_tree(work_dir);
    free(work_dir);
    return CHECK_DONE();
}
