/* Malformed safetensors files, one per rule of the reader, and a writer of raw files. */
#include "safetensors_test_files.h"

#include "nn_test_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A one-tensor header "w": {dtype, shape, offsets}. */
#define ONE(dtype, shape, offsets)                                                         \
    "{\"w\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":" offsets "}}"

const st_bad_file st_bad_files[] = {
    /* the length field and the file around the header */
    {.label = "empty_file", .header = "{}", .truncate = true, .file_size = 0,
     .expect = {"file is 0 bytes", "too short for the 8-byte header length"},
     .library_rejects = true},
    {.label = "short_file", .header = "{}", .truncate = true, .file_size = 5,
     .expect = {"file is 5 bytes", "too short"}, .library_rejects = true},
    {.label = "length_past_eof", .header = "{}", .set_length = true, .length = 64,
     .expect = {"header length 64 runs past the end of the file"}, .library_rejects = true},
    {.label = "length_over_limit", .header = "{}", .set_length = true, .length = 100000001,
     .expect = {"header length 100000001", "100000000-byte limit"}, .library_rejects = true},
    /* the header text */
    {.label = "empty_header", .header = "",
     .expect = {"header does not begin with '{'"}, .library_rejects = true},
    {.label = "not_an_object", .header = "[1, 2]",
     .expect = {"header does not begin with '{'"}, .library_rejects = true},
    {.label = "bad_json", .header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],", .data_size = 4,
     .expect = {"header is not valid JSON"}, .library_rejects = true},
    {.label = "text_after_object", .header = "{} {}",
     .expect = {"header has text after the JSON object (at byte 3)"}, .library_rejects = true},
    {.label = "invalid_utf8",
     .header = "{\"w\xff\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
     .data_size = 4, .expect = {"header is not valid UTF-8 (at byte 3)"},
     .library_rejects = true},
    {.label = "overlong_utf8",
     .header = "{\"w\xc0\xaf\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
     .data_size = 4, .expect = {"not valid UTF-8"}, .library_rejects = true},
    {.label = "control_character",
     .header = "{\"w\x01\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
     .data_size = 4, .expect = {"control character (0x01)"}, .library_rejects = true},
    {.label = "newline_in_string",
     .header = "{\"w\n\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
     .data_size = 4, .expect = {"control character (0x0a) inside a string"},
     .library_rejects = true},
    {.label = "nul_escape",
     .header = "{\"w\\u0000x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
     .data_size = 4, .expect = {"\\u0000 escape", "cannot hold NUL"}},
    /* a tensor entry's fields */
    {.label = "entry_not_object", .header = "{\"w\":[1,2]}",
     .expect = {"tensor 'w'", "entry is not an object"}, .library_rejects = true},
    {.label = "missing_dtype", .header = "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}",
     .data_size = 4, .expect = {"tensor 'w'", "missing \"dtype\""}, .library_rejects = true},
    {.label = "dtype_not_string",
     .header = "{\"w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", .data_size = 4,
     .expect = {"tensor 'w'", "\"dtype\" is not a string"}, .library_rejects = true},
    {.label = "unknown_dtype", .header = ONE("F128", "[1]", "[0,16]"), .data_size = 16,
     .expect = {"tensor 'w'", "unknown dtype \"F128\""}, .library_rejects = true},
    {.label = "missing_shape", .header = "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}",
     .data_size = 4, .expect = {"tensor 'w'", "missing \"shape\""}, .library_rejects = true},
    {.label = "shape_not_array", .header = ONE("F32", "4", "[0,16]"), .data_size = 16,
     .expect = {"tensor 'w'", "\"shape\" is not an array"}, .library_rejects = true},
    {.label = "shape_negative", .header = ONE("F32", "[2,-1]", "[0,0]"),
     .expect = {"tensor 'w'", "shape[1] is not a non-negative integer"},
     .library_rejects = true},
    {.label = "shape_fraction", .header = ONE("F32", "[1.5]", "[0,4]"), .data_size = 4,
     .expect = {"tensor 'w'", "shape[0] is not a non-negative integer"},
     .library_rejects = true},
    {.label = "shape_string", .header = ONE("F32", "[\"2\"]", "[0,8]"), .data_size = 8,
     .expect = {"tensor 'w'", "shape[0] is not a non-negative integer"},
     .library_rejects = true},
    {.label = "too_many_dims", .header = ONE("F32", "[1,1,1,1,1,1,1,1,1]", "[0,4]"),
     .data_size = 4, .expect = {"tensor 'w'", "shape has 9 dimensions, more than the 8"}},
    {.label = "missing_offsets", .header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}",
     .expect = {"tensor 'w'", "missing \"data_offsets\""}, .library_rejects = true},
    {.label = "offsets_one_element", .header = ONE("F32", "[1]", "[4]"), .data_size = 4,
     .expect = {"tensor 'w'", "\"data_offsets\" is not an array of two integers"},
     .library_rejects = true},
    {.label = "offsets_negative", .header = ONE("U8", "[0]", "[-4,-4]"),
     .expect = {"tensor 'w'", "data_offsets[0] is not a non-negative integer"},
     .library_rejects = true},
    {.label = "offset_too_large", .header = ONE("U8", "[0]", "[0,1e300]"),
     .expect = {"tensor 'w'", "data_offsets[1] is not a non-negative integer"},
     .library_rejects = true},
    {.label = "offsets_reversed", .header = ONE("U8", "[0]", "[4,0]"), .data_size = 4,
     .expect = {"tensor 'w'", "data_offsets [4, 0] begin after they end"},
     .library_rejects = true},
    /* sizes and layout */
    {.label = "offsets_past_end", .header = ONE("F32", "[2]", "[0,8]"), .data_size = 4,
     .expect = {"tensor 'w'", "data_offsets [0, 8] run past the end of the data (4 bytes)"},
     .library_rejects = true},
    {.label = "size_mismatch", .header = ONE("F32", "[2,3]", "[0,20]"), .data_size = 20,
     .expect = {"tensor 'w'", "hold 20 bytes, but shape [2, 3] of F32 needs 24"},
     .library_rejects = true},
    {.label = "shape_overflow", .header = ONE("F32", "[4294967296,4294967296]", "[0,4]"),
     .data_size = 4,
     .expect = {"tensor 'w'", "shape [4294967296, 4294967296] has more elements than 64 bits"},
     .library_rejects = true},
    {.label = "bytes_overflow", .header = ONE("F64", "[2147483648,2147483648]", "[0,8]"),
     .data_size = 8,
     .expect = {"tensor 'w'", "of F64 is more bytes than 64 bits can count"},
     .library_rejects = true},
    {.label = "overlap",
     .header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
     .data_size = 8, .expect = {"tensor 'b'", "[4, 8] overlap tensor 'a' [0, 8]"},
     .library_rejects = true},
    {.label = "zero_size_inside",
     .header = "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
               "\"z\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[2,2]}}",
     .data_size = 4, .expect = {"tensor 'z'", "overlap tensor 'a'"}, .library_rejects = true},
    {.label = "hole",
     .header = "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
               "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[4,6]}}",
     .data_size = 6, .expect = {"data bytes [2, 4) before tensor 'b' belong to no tensor"},
     .library_rejects = true},
    {.label = "trailing_data", .header = ONE("U8", "[2]", "[0,2]"), .data_size = 5,
     .expect = {"data bytes [2, 5) after the last tensor belong to no tensor"},
     .library_rejects = true},
    /* duplicates and unknown keys */
    {.label = "duplicate_name",
     .header = "{\"w\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
               "\"w\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]}}",
     .data_size = 4, .expect = {"tensor 'w' appears twice"}, .library_rejects = true},
    {.label = "duplicate_field",
     .header = "{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],"
               "\"data_offsets\":[0,4]}}",
     .data_size = 4, .expect = {"tensor 'w'", "field \"dtype\" appears twice"},
     .library_rejects = true},
    {.label = "unknown_field",
     .header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}",
     .data_size = 4, .expect = {"tensor 'w'", "unknown field \"x\""}},
    /* metadata */
    {.label = "metadata_not_object", .header = "{\"__metadata__\":[\"a\"]}",
     .expect = {"\"__metadata__\" is not an object"}, .library_rejects = true},
    {.label = "metadata_value_number", .header = "{\"__metadata__\":{\"k\":1}}",
     .expect = {"metadata 'k': value is not a string"}, .library_rejects = true},
    {.label = "metadata_value_object", .header = "{\"__metadata__\":{\"k\":{}}}",
     .expect = {"metadata 'k': value is not a string"}, .library_rejects = true},
    {.label = "metadata_duplicate_key", .header = "{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}",
     .expect = {"metadata key 'k' appears twice"}},
    {.label = "metadata_twice", .header = "{\"__metadata__\":{},\"__metadata__\":{}}",
     .expect = {"key \"__metadata__\" appears twice"}, .library_rejects = true},
};
const size_t st_bad_file_count = sizeof st_bad_files / sizeof st_bad_files[0];

/* The file's bytes (malloc'd). */
static unsigned char *bad_file_bytes(const st_bad_file *bad, size_t *size)
{
    size_t header_len = strlen(bad->header);
    size_t full = 8 + header_len + (size_t)bad->data_size;
    unsigned char *bytes = malloc(full ? full : 1);
    if (!bytes)
        return NULL;
    uint64_t length = bad->set_length ? bad->length : header_len;
    for (int i = 0; i < 8; i++)
        bytes[i] = (unsigned char)(length >> (8 * i));
    memcpy(bytes + 8, bad->header, header_len);
    for (size_t i = 0; i < bad->data_size; i++)
        bytes[8 + header_len + i] = (unsigned char)(i * 37 + 11);
    *size = bad->truncate && bad->file_size < full ? bad->file_size : full;
    return bytes;
}

int st_save_bad_file(const st_bad_file *bad, const char *dir, char **path)
{
    char name[128];
    snprintf(name, sizeof name, "%s.safetensors", bad->label);
    *path = nn_test_join(dir, name);
    size_t size = 0;
    unsigned char *bytes = bad_file_bytes(bad, &size);
    int rc = bytes ? nn_test_write_file(*path, bytes, size) : -1;
    free(bytes);
    return rc;
}

int st_write_safetensors(const char *path, const char *header, const void *data,
                         size_t data_size)
{
    size_t header_len = strlen(header);
    size_t size = 8 + header_len + data_size;
    unsigned char *bytes = malloc(size);
    if (!bytes)
        return -1;
    for (int i = 0; i < 8; i++)
        bytes[i] = (unsigned char)((uint64_t)header_len >> (8 * i));
    memcpy(bytes + 8, header, header_len);
    if (data_size)
        memcpy(bytes + 8 + header_len, data, data_size);
    int rc = nn_test_write_file(path, bytes, size);
    free(bytes);
    return rc;
}
